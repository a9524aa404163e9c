//! Endpoint and network types as services and tasks carry them: published
//! ports, resolution mode, virtual IPs and network attachments.

use serde::{Deserialize, Serialize};

use super::common::{Annotations, Driver, Meta, is_false, is_zero_u32};

/// How a service is published and resolved.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointSpec {
    /// `vip` or `dnsrr`; empty means vip.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mode: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortConfig>,
}

/// One published port. `Protocol` is `tcp`, `udp` or `sctp`;
/// `PublishMode` is `ingress` (routing mesh) or `host`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortConfig {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub protocol: String,
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub target_port: u32,
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub published_port: u32,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub publish_mode: String,
}

impl PortConfig {
    /// The protocol with Docker's default applied.
    pub fn protocol_or_default(&self) -> &str {
        if self.protocol.is_empty() {
            "tcp"
        } else {
            &self.protocol
        }
    }

    /// A port that occupies the published port on the node itself: two
    /// such tasks cannot share a node.
    pub fn is_host_published(&self) -> bool {
        self.publish_mode == "host" && self.published_port != 0
    }
}

/// A service's endpoint as the allocator filled it in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Endpoint {
    pub spec: EndpointSpec,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortConfig>,
    #[serde(rename = "VirtualIPs", skip_serializing_if = "Vec::is_empty")]
    pub virtual_ips: Vec<EndpointVirtualIp>,
}

/// A service's address on one network (`Addr` is CIDR notation).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointVirtualIp {
    #[serde(rename = "NetworkID", skip_serializing_if = "String::is_empty")]
    pub network_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub addr: String,
}

/// A network a task attaches to, with its aliases.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkAttachmentConfig {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub target: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub driver_opts: std::collections::BTreeMap<String, String>,
}

/// A task's attachment: the network object and the task's addresses on it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkAttachment {
    pub network: Network,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
}

/// A swarm-scoped network as tasks embed it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Network {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(flatten)]
    pub meta: Meta,
    pub spec: NetworkSpec,
    pub driver_state: Driver,
    #[serde(rename = "IPAMOptions", skip_serializing_if = "Option::is_none")]
    pub ipam_options: Option<IpamOptions>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkSpec {
    #[serde(flatten)]
    pub annotations: Annotations,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_configuration: Option<Driver>,
    #[serde(rename = "IPv6Enabled", skip_serializing_if = "is_false")]
    pub ipv6_enabled: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub internal: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub attachable: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub ingress: bool,
    #[serde(rename = "IPAMOptions", skip_serializing_if = "Option::is_none")]
    pub ipam_options: Option<IpamOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_from: Option<ConfigReference>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
}

/// A network created from a config-only network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ConfigReference {
    pub network: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IpamOptions {
    pub driver: Driver,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub configs: Vec<IpamConfig>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IpamConfig {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subnet: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub range: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub gateway: String,
}
