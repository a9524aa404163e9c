//! /networks endpoints (bridge driver; host and null are predefined).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use engine::networking::{CreateNetwork, IpamPool, LiveNet};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::query::{Params, parse_json};
use crate::swarm::SwarmState;
use crate::swarm::networks as cluster_nets;
use crate::{ApiError, ApiResult, AppState, format};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/networks", get(list))
        .route("/networks/create", post(create))
        .route("/networks/prune", post(prune))
        .route("/networks/{id}", get(inspect).delete(remove))
        .route("/networks/{id}/connect", post(connect))
        .route("/networks/{id}/disconnect", post(disconnect))
}

fn network_json(net: &LiveNet, with_containers: bool) -> Value {
    let r = &net.record;
    let ipam_config: Vec<Value> = match &r.bridge {
        Some(b) => {
            let mut pools = vec![IpamPool {
                subnet: b.subnet.to_string(),
                ip_range: b.ip_range.map(|r| r.to_string()).unwrap_or_default(),
                gateway: b.gateway.to_string(),
                aux_address: None,
            }];
            if let Some(v6) = &b.ipv6 {
                pools.push(IpamPool {
                    subnet: v6.subnet.to_string(),
                    ip_range: v6.ip_range.map(|r| r.to_string()).unwrap_or_default(),
                    gateway: v6.gateway.to_string(),
                    aux_address: None,
                });
            }
            pools
                .into_iter()
                .map(|p| serde_json::to_value(p).unwrap_or_default())
                .collect()
        }
        None => Vec::new(),
    };
    let containers: serde_json::Map<String, Value> = if with_containers {
        net.endpoints()
            .into_iter()
            .map(|(id, name, ep)| {
                (
                    id,
                    json!({
                        "Name": name,
                        "EndpointID": ep.endpoint_id,
                        "MacAddress": ep.mac,
                        "IPv4Address": format!("{}/{}", ep.ip, ep.prefix_len),
                        "IPv6Address": ep.ip6.map(|ip| format!("{ip}/{}", ep.prefix_len6)).unwrap_or_default(),
                    }),
                )
            })
            .collect()
    } else {
        serde_json::Map::new()
    };
    let scope = if r.driver == engine::networking::DRIVER_OVERLAY {
        "swarm"
    } else {
        "local"
    };
    json!({
        "Name": r.name,
        "Id": r.id,
        "Created": format::time(Some(r.created)),
        "Scope": scope,
        "Driver": r.driver,
        "EnableIPv4": true,
        "EnableIPv6": r.bridge.as_ref().is_some_and(|b| b.ipv6.is_some()),
        "IPAM": { "Driver": "default", "Options": {}, "Config": ipam_config },
        "Internal": r.internal(),
        "Attachable": r.attachable,
        "Ingress": r.ingress,
        "ConfigFrom": { "Network": "" },
        "ConfigOnly": false,
        "Containers": containers,
        "Options": r.options,
        "Labels": r.labels,
    })
}

async fn list(
    State(engine): State<AppState>,
    Extension(swarm): Extension<SwarmState>,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let params = Params::parse(uri.query());
    let filters = params.filters()?;
    filters.check_keys(&["name", "id", "driver", "label", "type", "dangling", "scope"])?;
    let dangling_filter = filters.bool("dangling")?;
    for t in filters.values("type") {
        if t != "custom" && t != "builtin" {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("invalid filter: 'type'='{t}'"),
            ));
        }
    }
    let out: Vec<Value> = engine
        .list_networks()
        .iter()
        .filter(|n| {
            let r = &n.record;
            let builtin = r.is_predefined();
            let dangling = !builtin && engine.network_users(n).is_empty();
            filters.any("name", |v| r.name.contains(v))
                && filters.any("id", |v| r.id.starts_with(v))
                && filters.any("driver", |v| v == r.driver)
                && filters.any("scope", |v| {
                    v == if r.driver == engine::networking::DRIVER_OVERLAY {
                        "swarm"
                    } else {
                        "local"
                    }
                })
                && filters.any("type", |v| (v == "builtin") == builtin)
                && dangling_filter.is_none_or(|d| d == dangling)
                && filters.labels_match("label", &r.labels)
        })
        .map(|n| network_json(n, false))
        .collect();
    let mut out = out;
    // The cluster's networks this node has no copy of (on a manager).
    let local: Vec<String> = engine
        .list_networks()
        .iter()
        .map(|n| n.record.id.clone())
        .collect();
    for n in cluster_nets::list(&swarm).await {
        let spec = &n.spec;
        if local.contains(&n.id)
            || !(filters.any("name", |v| spec.annotations.name.contains(v))
                && filters.any("id", |v| n.id.starts_with(v))
                && filters.any("driver", |v| v == n.driver_state.name)
                && filters.any("scope", |v| v == "swarm")
                && filters.any("type", |v| v == "custom")
                && dangling_filter.is_none_or(|d| !d)
                && filters.labels_match("label", &spec.annotations.labels))
        {
            continue;
        }
        out.push(cluster_nets::network_json(&n));
    }
    Ok(Json(Value::Array(out)))
}

async fn inspect(
    State(engine): State<AppState>,
    Extension(swarm): Extension<SwarmState>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    // `?scope=`: only a network of that scope answers (dockerd's 404 else).
    let params = Params::parse(uri.query());
    let wanted = params
        .get("scope")
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let in_scope = |v: Value| -> ApiResult<Json<Value>> {
        match &wanted {
            Some(w) if v["Scope"].as_str() != Some(w.as_str()) => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("network {id} not found"),
            )),
            _ => Ok(Json(v)),
        }
    };
    match engine.network(&id) {
        Ok(net) => in_scope(network_json(&net, true)),
        Err(engine::EngineError::NotFound(_)) => match cluster_nets::inspect(&swarm, &id).await {
            Ok(n) => in_scope(cluster_nets::network_json(&n)),
            // dockerd's words whether or not the node is in a swarm.
            Err(_) => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("network {id} not found"),
            )),
        },
        Err(e) => Err(e.into()),
    }
}

async fn create(
    State(engine): State<AppState>,
    Extension(swarm): Extension<SwarmState>,
    body: Bytes,
) -> ApiResult<Response> {
    let req: CreateNetwork = parse_json(&body)?;
    if cluster_nets::is_swarm_request(&req) {
        if let Ok(other) = engine.network(&req.name)
            && other.record.name == req.name
        {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("network with name {} already exists", req.name),
            ));
        }
        let id = cluster_nets::create(&swarm, req).await?;
        return Ok((
            StatusCode::CREATED,
            Json(json!({ "Id": id, "Warning": "" })),
        )
            .into_response());
    }
    let id = engine.network_create(req).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "Id": id, "Warning": "" })),
    )
        .into_response())
}

async fn remove(
    State(engine): State<AppState>,
    Extension(swarm): Extension<SwarmState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let local = match engine.network(&id) {
        Ok(net) => Some(net),
        Err(engine::EngineError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    match local {
        // A node's copy of an overlay goes with the cluster's network.
        Some(net) if net.record.driver != engine::networking::DRIVER_OVERLAY => {
            engine.network_remove(&id).await?;
        }
        Some(net) => cluster_nets::remove(&swarm, &net.record.id).await?,
        None => match cluster_nets::remove(&swarm, &id).await {
            Err(e) if e.status == StatusCode::SERVICE_UNAVAILABLE => {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("network {id} not found"),
                ));
            }
            other => other?,
        },
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ConnectRequest {
    container: String,
    #[serde(default)]
    endpoint_config: Option<Value>,
}

async fn connect(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let req: ConnectRequest = parse_json(&body)?;
    engine
        .network_connect(&id, &req.container, req.endpoint_config.as_ref())
        .await?;
    Ok(StatusCode::OK)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DisconnectRequest {
    container: String,
    #[serde(default)]
    force: bool,
}

async fn disconnect(
    State(engine): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let req: DisconnectRequest = parse_json(&body)?;
    engine
        .network_disconnect(&id, &req.container, req.force)
        .await?;
    Ok(StatusCode::OK)
}

/// Removes user-defined networks no container is configured to use.
async fn prune(State(engine): State<AppState>, uri: Uri) -> ApiResult<Json<Value>> {
    let params = Params::parse(uri.query());
    let filters = params.filters()?;
    filters.check_keys(&["label", "until"])?;
    let until = filters
        .values("until")
        .first()
        .map(|u| {
            engine::parse_timestamp(u).ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("invalid filter 'until={u}'"),
                )
            })
        })
        .transpose()?;
    let mut deleted = Vec::new();
    for net in engine.list_networks() {
        let r = &net.record;
        if r.is_predefined()
            || !filters.labels_match("label", &r.labels)
            || until.is_some_and(|t| r.created > t)
            || !engine.network_users(&net).is_empty()
        {
            continue;
        }
        if engine.network_remove(&r.id).await.is_ok() {
            deleted.push(r.name.clone());
        }
    }
    Ok(Json(json!({ "NetworksDeleted": deleted })))
}
