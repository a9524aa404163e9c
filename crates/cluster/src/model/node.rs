//! Nodes: the spec an operator edits (role, availability, labels), what the
//! node reports about itself, and the status the managers observe.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::common::{Annotations, Meta, TlsInfo, is_false};
use super::task::{Platform, Resources};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Node {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(flatten)]
    pub meta: Meta,
    pub spec: NodeSpec,
    pub description: NodeDescription,
    pub status: NodeStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manager_status: Option<ManagerStatus>,
    /// The node's own addresses on networks (swarmkit's node attachments):
    /// its leg in the ingress network, where the routing mesh sends
    /// published ports from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<super::network::NetworkAttachment>,
}

impl Node {
    /// Up and accepting new tasks: what the scheduler's first filter asks.
    pub fn accepts_tasks(&self) -> bool {
        self.status.state == NodeState::Ready && self.spec.availability_or_default() == "active"
    }

    /// Down or drained: its tasks must move (swarmkit's `InvalidNode`).
    pub fn is_invalid_for_tasks(&self) -> bool {
        self.status.state == NodeState::Down || self.spec.availability == "drain"
    }
}

/// Role is `worker` or `manager`; availability `active`, `pause` or
/// `drain`. Kept as text so validation can quote what the client sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeSpec {
    #[serde(flatten)]
    pub annotations: Annotations,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub role: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub availability: String,
}

impl NodeSpec {
    pub fn availability_or_default(&self) -> &str {
        if self.availability.is_empty() {
            "active"
        } else {
            &self.availability
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeDescription {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    pub platform: Platform,
    pub resources: Resources,
    pub engine: EngineDescription,
    #[serde(rename = "TLSInfo")]
    pub tls_info: TlsInfo,
    #[serde(rename = "CSIInfo", skip_serializing_if = "Vec::is_empty")]
    pub csi_info: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EngineDescription {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub engine_version: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<PluginDescription>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PluginDescription {
    #[serde(rename = "Type", skip_serializing_if = "String::is_empty")]
    pub type_: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    #[default]
    Unknown,
    Down,
    Ready,
    Disconnected,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeStatus {
    pub state: NodeState,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub addr: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reachability {
    #[default]
    Unknown,
    Unreachable,
    Reachable,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ManagerStatus {
    #[serde(skip_serializing_if = "is_false")]
    pub leader: bool,
    pub reachability: Reachability,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub addr: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_inspect_shape_round_trips() {
        let json = r#"{"ID":"x4c0ihx2ni0yd6bz6nq0vn3vc","Version":{"Index":9},"CreatedAt":"2026-12-03T22:49:00.1Z",
        "UpdatedAt":"2026-12-03T22:49:01.123Z","Spec":{"Labels":{"zone":"a"},"Role":"manager","Availability":"active"},
        "Description":{"Hostname":"node-1","Platform":{"Architecture":"x86_64","OS":"linux"},
        "Resources":{"NanoCPUs":2000000000,"MemoryBytes":8346984448},"Engine":{"EngineVersion":"28.0.0",
        "Plugins":[{"Type":"Log","Name":"json-file"},{"Type":"Network","Name":"overlay"}]},
        "TLSInfo":{"TrustRoot":"-----BEGIN CERTIFICATE-----\n","CertIssuerSubject":"MBMxETAPBgNVBAMTCHN3YXJtLWNh",
        "CertIssuerPublicKey":"MFkwEwYHKoZIzj0CAQ=="}},"Status":{"State":"ready","Addr":"192.0.2.10"},
        "ManagerStatus":{"Leader":true,"Reachability":"reachable","Addr":"192.0.2.10:2377"}}"#;
        let n: Node = serde_json::from_str(json).unwrap();
        assert!(n.accepts_tasks());
        assert_eq!(n.description.resources.nano_cpus, 2_000_000_000);
        let orig: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_value(&n).unwrap(), orig);
    }

    #[test]
    fn availability_rules() {
        let mut n = Node::default();
        n.status.state = NodeState::Ready;
        assert!(n.accepts_tasks());
        n.spec.availability = "pause".into();
        assert!(!n.accepts_tasks() && !n.is_invalid_for_tasks());
        n.spec.availability = "drain".into();
        assert!(n.is_invalid_for_tasks());
        n.spec.availability = "active".into();
        n.status.state = NodeState::Down;
        assert!(n.is_invalid_for_tasks() && !n.accepts_tasks());
    }
}
