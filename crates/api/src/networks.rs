//! /networks endpoints (bridge driver; host and null are predefined).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use engine::networking::{CreateNetwork, IpamPool, LiveNet};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::query::{Params, parse_json};
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
    let scope = "local";
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
        "Ingress": false,
        "ConfigFrom": { "Network": "" },
        "ConfigOnly": false,
        "Containers": containers,
        "Options": r.options,
        "Labels": r.labels,
    })
}

async fn list(State(engine): State<AppState>, uri: Uri) -> ApiResult<Json<Value>> {
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
                && filters.any("scope", |v| v == "local")
                && filters.any("type", |v| (v == "builtin") == builtin)
                && dangling_filter.is_none_or(|d| d == dangling)
                && filters.labels_match("label", &r.labels)
        })
        .map(|n| network_json(n, false))
        .collect();
    Ok(Json(Value::Array(out)))
}

async fn inspect(State(engine): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let net = engine.network(&id)?;
    Ok(Json(network_json(&net, true)))
}

async fn create(State(engine): State<AppState>, body: Bytes) -> ApiResult<Response> {
    let req: CreateNetwork = parse_json(&body)?;
    let id = engine.network_create(req).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "Id": id, "Warning": "" })),
    )
        .into_response())
}

async fn remove(State(engine): State<AppState>, Path(id): Path<String>) -> ApiResult<StatusCode> {
    engine.network_remove(&id).await?;
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
