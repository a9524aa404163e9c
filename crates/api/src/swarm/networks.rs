//! The swarm side of `/networks`: overlay networks are the cluster's, so
//! their create, rm, list and inspect go to a manager; a node's local copy
//! of one (while its tasks use it) is shown by `/networks` like any other.

use std::collections::BTreeMap;

use cluster::model::{Annotations, Driver, IpamConfig, IpamOptions, Network, NetworkSpec};
use engine::networking::CreateNetwork;
use serde_json::{Value, json};
use swarm::node::Swarm;

use super::manager;
use crate::{ApiError, ApiResult, format};

fn not_implemented(what: &str) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_IMPLEMENTED,
        format!("not implemented: {what}"),
    )
}

/// Whether a create request is for the cluster (driver overlay, or
/// `--scope swarm`).
pub(crate) fn is_swarm_request(req: &CreateNetwork) -> bool {
    req.driver == "overlay" || req.scope == "swarm"
}

/// `POST /networks/create` of an overlay network: its id.
pub(crate) async fn create(swarm: &Swarm, req: CreateNetwork) -> ApiResult<String> {
    if req.config_only || req.config_from.as_ref().is_some_and(|v| !v.is_null()) {
        return Err(not_implemented(
            "config-only networks and --config-from in swarm scope",
        ));
    }
    let configs = req
        .ipam
        .as_ref()
        .and_then(|i| i.config.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|p| IpamConfig {
            subnet: p.subnet,
            range: p.ip_range,
            gateway: p.gateway,
        })
        .collect();
    let ipam_driver = req
        .ipam
        .as_ref()
        .map(|i| i.driver.clone())
        .filter(|d| !d.is_empty() && d != "default");
    if let Some(d) = ipam_driver {
        return Err(not_implemented(&format!(
            "IPAM driver {d} on overlay networks"
        )));
    }
    let spec = NetworkSpec {
        annotations: Annotations {
            name: req.name.clone(),
            labels: req.labels.clone().unwrap_or_default(),
        },
        driver_configuration: Some(Driver {
            name: if req.driver.is_empty() {
                "overlay".into()
            } else {
                req.driver.clone()
            },
            options: req.options.clone().unwrap_or_default(),
        }),
        ipv6_enabled: req.enable_ipv6.unwrap_or(false),
        internal: req.internal,
        attachable: req.attachable,
        ingress: req.ingress,
        ipam_options: Some(IpamOptions {
            driver: Driver {
                name: "default".into(),
                options: BTreeMap::new(),
            },
            configs,
        }),
        config_from: None,
        scope: "swarm".into(),
    };
    Ok(manager(swarm).await?.create_network(spec).await?)
}

/// The cluster's networks, when this node is a manager (none otherwise).
pub(crate) async fn list(swarm: &Swarm) -> Vec<Network> {
    match swarm.manager().await {
        Ok(m) => m.networks().await.unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

pub(crate) async fn inspect(swarm: &Swarm, id: &str) -> ApiResult<Network> {
    Ok(manager(swarm).await?.network(id).await?)
}

pub(crate) async fn remove(swarm: &Swarm, id: &str) -> ApiResult<()> {
    Ok(manager(swarm).await?.remove_network(id).await?)
}

/// A cluster network as `/networks` shows it (no local copy here).
pub(crate) fn network_json(n: &Network) -> Value {
    let config: Vec<Value> = n
        .ipam_options
        .iter()
        .flat_map(|o| &o.configs)
        .map(|c| {
            let mut v = json!({ "Subnet": c.subnet, "Gateway": c.gateway });
            if !c.range.is_empty() {
                v["IPRange"] = json!(c.range);
            }
            v
        })
        .collect();
    let mut options = n
        .spec
        .driver_configuration
        .as_ref()
        .map(|d| d.options.clone())
        .unwrap_or_default();
    options.extend(n.driver_state.options.clone());
    json!({
        "Name": n.spec.annotations.name,
        "Id": n.id,
        "Created": format::time(Some(n.meta.created_at.0)),
        "Scope": "swarm",
        "Driver": n.driver_state.name,
        "EnableIPv4": true,
        "EnableIPv6": n.spec.ipv6_enabled,
        "IPAM": { "Driver": "default", "Options": null, "Config": config },
        "Internal": n.spec.internal,
        "Attachable": n.spec.attachable,
        "Ingress": n.spec.ingress,
        "ConfigFrom": { "Network": "" },
        "ConfigOnly": false,
        "Containers": null,
        "Options": options,
        "Labels": n.spec.annotations.labels,
    })
}
