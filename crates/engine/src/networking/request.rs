//! `POST /networks/create` as the API carries it, and the checks that
//! need nothing but the request (and the other networks' subnets).

use std::collections::BTreeMap;

use ipnet::Ipv6Net;
use serde::{Deserialize, Serialize};

use super::NetworkRecord;
use crate::{EngineError, Result};

/// `POST /networks/create`, already decoded.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateNetwork {
    pub name: String,
    #[serde(default, deserialize_with = "crate::model::null_as_default")]
    pub driver: String,
    #[serde(default, deserialize_with = "crate::model::null_as_default")]
    pub internal: bool,
    #[serde(default, deserialize_with = "crate::model::null_as_default")]
    pub attachable: bool,
    #[serde(default, rename = "EnableIPv6")]
    pub enable_ipv6: Option<bool>,
    #[serde(default, rename = "IPAM")]
    pub ipam: Option<IpamRequest>,
    #[serde(default)]
    pub options: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "crate::model::null_as_default")]
    pub scope: String,
    #[serde(default, deserialize_with = "crate::model::null_as_default")]
    pub config_only: bool,
    #[serde(default)]
    pub config_from: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "crate::model::null_as_default")]
    pub ingress: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpamRequest {
    #[serde(default, deserialize_with = "crate::model::null_as_default")]
    pub driver: String,
    #[serde(default)]
    pub config: Option<Vec<IpamPool>>,
    #[serde(default)]
    pub options: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpamPool {
    #[serde(
        default,
        deserialize_with = "crate::model::null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub subnet: String,
    #[serde(
        default,
        rename = "IPRange",
        deserialize_with = "crate::model::null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub ip_range: String,
    #[serde(
        default,
        deserialize_with = "crate::model::null_as_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub gateway: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aux_address: Option<BTreeMap<String, String>>,
}

/// The IPv6 side of a new network from its IPv6 pool: subnet, gateway
/// (default `::1`) and range, refused when the subnet overlaps another
/// network's.
pub(super) fn ipv6_config(
    pool: &IpamPool,
    records: &[NetworkRecord],
) -> Result<network::Ipv6Config> {
    let subnet: Ipv6Net = pool
        .subnet
        .parse()
        .map_err(|_| EngineError::InvalidParameter(format!("invalid subnet {}", pool.subnet)))?;
    network::check_overlap(
        subnet.trunc(),
        records.iter().filter_map(|r| {
            let v6 = r.bridge.as_ref()?.ipv6.as_ref()?;
            Some((r.name.as_str(), v6.subnet))
        }),
    )?;
    let mut cfg = network::Ipv6Config::new(subnet);
    if !pool.gateway.is_empty() {
        cfg.gateway = pool.gateway.parse().map_err(|_| {
            EngineError::InvalidParameter(format!("invalid gateway address {}", pool.gateway))
        })?;
    }
    if !pool.ip_range.is_empty() {
        let r: Ipv6Net = pool.ip_range.parse().map_err(|_| {
            EngineError::InvalidParameter(format!("invalid ip-range {}", pool.ip_range))
        })?;
        cfg.ip_range = Some(r.trunc());
    }
    Ok(cfg)
}

pub(super) fn is_macvlan_driver(driver: &str) -> bool {
    matches!(driver, network::DRIVER_MACVLAN | network::DRIVER_IPVLAN)
}

pub(super) fn validate_create(req: &CreateNetwork) -> Result<()> {
    if req.name.is_empty() {
        return Err(EngineError::InvalidParameter(
            "network name must not be empty".into(),
        ));
    }
    // dockerd takes any name ("my net" too): names are only looked up, never
    // used as paths or interface names here.
    if matches!(req.name.as_str(), "bridge" | "host" | "none") {
        return Err(EngineError::Forbidden(format!(
            "{} is a pre-defined network and cannot be created",
            req.name
        )));
    }
    match req.driver.as_str() {
        "" | "bridge" | network::DRIVER_MACVLAN | network::DRIVER_IPVLAN => {}
        "overlay" => {
            return Err(EngineError::NotImplemented(format!(
                "the {} network driver",
                req.driver
            )));
        }
        "host" | "null" => {
            return Err(EngineError::Forbidden(format!(
                "only one instance of \"{}\" network is allowed",
                req.driver
            )));
        }
        other => {
            return Err(EngineError::NotFound(format!(
                "plugin \"{other}\" not found"
            )));
        }
    }
    if req.config_only || req.config_from.as_ref().is_some_and(crate::model::is_set) || req.ingress
    {
        return Err(EngineError::NotImplemented(
            "config-only, config-from and ingress networks".into(),
        ));
    }
    if let Some(ipam) = &req.ipam {
        if !matches!(ipam.driver.as_str(), "" | "default") {
            return Err(EngineError::NotImplemented(format!(
                "IPAM driver {:?}",
                ipam.driver
            )));
        }
        let pools = ipam.config.as_deref().unwrap_or_default();
        let v6 = pools.iter().filter(|p| p.subnet.contains(':')).count();
        if v6 > 1 || pools.len() - v6 > 1 {
            return Err(EngineError::Forbidden(
                "bridge driver doesn't support multiple subnets".into(),
            ));
        }
        for p in pools {
            if p.subnet.is_empty() && (!p.gateway.is_empty() || !p.ip_range.is_empty()) {
                return Err(EngineError::InvalidParameter(
                    "gateway and ip-range need a subnet (--subnet)".into(),
                ));
            }
            if p.aux_address.as_ref().is_some_and(|a| !a.is_empty()) {
                return Err(EngineError::NotImplemented("--aux-address".into()));
            }
        }
    }
    Ok(())
}
