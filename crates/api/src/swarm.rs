//! Swarm mode's endpoints (`/swarm`, `/nodes`, `/services`, `/tasks`,
//! `/secrets`, `/configs`):
//! HTTP in, `swarm::Swarm`/`swarm::manager::Manager` calls, dockerd's
//! status codes and shapes out.

mod logs;
pub(crate) mod networks;

use std::sync::Arc;

use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use bytes::Bytes;
use serde_json::{Value, json};
use swarm::error::{ErrorKind, SwarmError};
use swarm::manager::{Filters, Manager, Rotation, ServiceView};
use swarm::node::{InitRequest, Swarm};

use crate::query::Params;
use crate::{ApiError, ApiResult, AppState};

pub type SwarmState = Arc<Swarm>;

/// A swarm body as Go decodes it: `null` is the zero value, as if the
/// field were absent (docker-py sends `"Args": null`, `"Labels": null`, …).
fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    let mut v: Value = crate::query::parse_json(body)?;
    drop_nulls(&mut v);
    serde_json::from_value(v).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.retain(|_, x| !x.is_null());
            for (key, x) in map.iter_mut() {
                canonical_keys(key, x);
                drop_nulls(x);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// Go matches JSON field names without regard to case, and docker-py
/// relies on it (`"Mode": {"replicated": …}`, `"Templating": {"name": …}`).
/// Only struct keys are renamed, inside the objects known to get them, so
/// user maps (labels, options) keep their keys.
fn canonical_keys(parent: &str, v: &mut Value) {
    let fields: &[&str] = match parent {
        "Mode" => &["Replicated", "Global", "ReplicatedJob", "GlobalJob"],
        "Templating" | "Driver" | "LogDriver" | "DriverConfig" => &["Name", "Options"],
        "UpdateConfig" | "RollbackConfig" => &[
            "Parallelism",
            "Delay",
            "FailureAction",
            "Monitor",
            "MaxFailureRatio",
            "Order",
        ],
        _ => return,
    };
    let Value::Object(map) = v else {
        return;
    };
    let keys: Vec<String> = map.keys().cloned().collect();
    for k in keys {
        if let Some(canon) = fields
            .iter()
            .find(|f| f.eq_ignore_ascii_case(&k) && **f != k)
            && !map.contains_key(*canon)
            && let Some(x) = map.remove(&k)
        {
            map.insert((*canon).to_string(), x);
        }
    }
}

impl From<SwarmError> for ApiError {
    fn from(e: SwarmError) -> Self {
        let status = match e.kind {
            ErrorKind::InvalidArgument => StatusCode::BAD_REQUEST,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.message)
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/swarm", get(inspect_swarm))
        .route("/swarm/init", post(init))
        .route("/swarm/join", post(join))
        .route("/swarm/leave", post(leave))
        .route("/swarm/update", post(update_swarm))
        .route("/swarm/unlockkey", get(unlock_key))
        .route("/swarm/unlock", post(unlock))
        .route("/nodes", get(list_nodes))
        .route("/nodes/{id}", get(inspect_node).delete(remove_node))
        .route("/nodes/{id}/update", post(update_node))
        .route("/services", get(list_services))
        .route("/services/create", post(create_service))
        .route(
            "/services/{id}",
            get(inspect_service).delete(remove_service),
        )
        .route("/services/{id}/update", post(update_service))
        .route("/services/{id}/logs", get(logs::service_logs))
        .route("/tasks", get(list_tasks))
        .route("/tasks/{id}", get(inspect_task))
        .route("/tasks/{id}/logs", get(logs::task_logs))
        .route("/secrets", get(list_secrets))
        .route("/secrets/create", post(create_secret))
        .route("/secrets/{id}", get(inspect_secret).delete(remove_secret))
        .route("/secrets/{id}/update", post(update_secret))
        .route("/configs", get(list_configs))
        .route("/configs/create", post(create_config))
        .route("/configs/{id}", get(inspect_config).delete(remove_config))
        .route("/configs/{id}/update", post(update_config))
}

pub(crate) async fn manager(swarm: &Swarm) -> ApiResult<Manager> {
    Ok(swarm.manager().await?)
}

fn filters(uri: &Uri) -> ApiResult<Filters> {
    Ok(Filters(Params::parse(uri.query()).filters()?.0))
}

/// `?version=N`, required on updates.
fn version(params: &Params) -> ApiResult<i64> {
    params
        .int("version")?
        .ok_or_else(|| ApiError::bad_request("invalid swarm version: missing version"))
}

fn json_value<T: serde::Serialize>(v: &T) -> ApiResult<Json<Value>> {
    serde_json::to_value(v)
        .map(Json)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

async fn inspect_swarm(Extension(s): Extension<SwarmState>) -> ApiResult<Json<Value>> {
    json_value(&manager(&s).await?.swarm().await?)
}

async fn init(Extension(s): Extension<SwarmState>, body: Bytes) -> ApiResult<Json<Value>> {
    let req: InitRequest = parse_json(&body)?;
    let node_id = s.init(req).await?;
    Ok(Json(Value::String(node_id)))
}

async fn join(Extension(s): Extension<SwarmState>, body: Bytes) -> ApiResult<StatusCode> {
    let req: swarm::node::JoinRequestBody = parse_json(&body)?;
    s.join(req).await?;
    Ok(StatusCode::OK)
}

async fn leave(Extension(s): Extension<SwarmState>, uri: Uri) -> ApiResult<StatusCode> {
    let force = Params::parse(uri.query()).bool("force", false);
    s.leave(force).await?;
    Ok(StatusCode::OK)
}

async fn update_swarm(
    Extension(s): Extension<SwarmState>,
    uri: Uri,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let params = Params::parse(uri.query());
    let spec = parse_json(&body)?;
    let version = version(&params)?;
    let rotate = Rotation {
        worker_token: params.bool("rotateWorkerToken", false),
        manager_token: params.bool("rotateManagerToken", false),
        unlock_key: params.bool("rotateManagerUnlockKey", false),
    };
    s.update_swarm(version, spec, rotate).await?;
    Ok(StatusCode::OK)
}

/// Without autolock there is no key: dockerd answers an empty one and the
/// CLI says "no unlock key is set".
async fn unlock_key(Extension(s): Extension<SwarmState>) -> ApiResult<Json<Value>> {
    let key = manager(&s).await?.unlock_key().await?;
    Ok(Json(json!({ "UnlockKey": *key })))
}

/// `POST /swarm/unlock`'s body.
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct UnlockRequest {
    unlock_key: String,
}

async fn unlock(Extension(s): Extension<SwarmState>, body: Bytes) -> ApiResult<StatusCode> {
    let req: UnlockRequest = parse_json(&body)?;
    s.unlock(&req.unlock_key).await?;
    Ok(StatusCode::OK)
}

async fn list_nodes(Extension(s): Extension<SwarmState>, uri: Uri) -> ApiResult<Json<Value>> {
    json_value(&manager(&s).await?.nodes(&filters(&uri)?).await?)
}

async fn inspect_node(
    Extension(s): Extension<SwarmState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    json_value(&manager(&s).await?.node(&id).await?)
}

async fn update_node(
    Extension(s): Extension<SwarmState>,
    Path(id): Path<String>,
    uri: Uri,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let params = Params::parse(uri.query());
    let spec = parse_json(&body)?;
    manager(&s)
        .await?
        .update_node(&id, version(&params)?, spec)
        .await?;
    Ok(StatusCode::OK)
}

async fn remove_node(
    Extension(s): Extension<SwarmState>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<StatusCode> {
    let force = Params::parse(uri.query()).bool("force", false);
    manager(&s).await?.remove_node(&id, force).await?;
    Ok(StatusCode::OK)
}

async fn list_services(Extension(s): Extension<SwarmState>, uri: Uri) -> ApiResult<Json<Value>> {
    let status = Params::parse(uri.query()).bool("status", false);
    let services = manager(&s)
        .await?
        .services(&filters(&uri)?, ServiceView { status })
        .await?;
    json_value(
        &services
            .into_iter()
            .map(|s| s.redacted())
            .collect::<Vec<_>>(),
    )
}

async fn inspect_service(
    Extension(s): Extension<SwarmState>,
    Path(id): Path<String>,
    uri: Uri,
) -> ApiResult<Json<Value>> {
    let mut service = manager(&s).await?.service(&id).await?;
    // `?insertDefaults=true`: swarmkit's defaults for what the spec omits.
    if Params::parse(uri.query()).bool("insertDefaults", false) {
        service.spec = cluster::model::defaults::insert_defaults(&service.spec);
        if let Some(prev) = service.previous_spec.as_mut() {
            *prev = cluster::model::defaults::insert_defaults(prev);
        }
    }
    json_value(&service.redacted())
}

/// The `X-Registry-Auth` a client sends with `--with-registry-auth`.
fn registry_auth(headers: &HeaderMap) -> Option<cluster::model::PullOptions> {
    let raw = headers.get("X-Registry-Auth")?.to_str().ok()?.trim();
    (!raw.is_empty()).then(|| cluster::model::PullOptions {
        registry_auth: raw.to_string(),
    })
}

/// Sets the credentials the nodes pull the spec's image with: only the
/// header gives them, never the body (whose spec the API shows redacted).
fn set_pull_options(
    spec: &mut cluster::model::ServiceSpec,
    pull: Option<cluster::model::PullOptions>,
) {
    if let Some(c) = spec.task_template.container_spec.as_mut() {
        c.pull_options = pull;
    }
}

fn pull_options_of(
    spec: Option<&cluster::model::ServiceSpec>,
) -> Option<cluster::model::PullOptions> {
    spec?
        .task_template
        .container_spec
        .as_ref()?
        .pull_options
        .clone()
}

async fn create_service(
    Extension(s): Extension<SwarmState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut spec = parse_json(&body)?;
    set_pull_options(&mut spec, registry_auth(&headers));
    let id = manager(&s).await?.create_service(spec).await?;
    Ok((StatusCode::CREATED, Json(json!({ "ID": id }))))
}

async fn update_service(
    Extension(s): Extension<SwarmState>,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let params = Params::parse(uri.query());
    let rollback = params.get("rollback") == Some("previous");
    let mut spec = parse_json(&body)?;
    let m = manager(&s).await?;
    // Without the header, the credentials stay those of the spec the
    // client names (`registryAuthFrom`: `spec`, the default, or
    // `previous-spec`), as dockerd keeps them.
    let pull = match registry_auth(&headers) {
        Some(given) => Some(given),
        None => {
            let current = m.service(&id).await?;
            match params.get("registryAuthFrom") {
                None | Some("" | "spec") => pull_options_of(Some(&current.spec)),
                Some("previous-spec") => pull_options_of(current.previous_spec.as_ref()),
                Some(other) => {
                    return Err(ApiError::bad_request(format!(
                        "unsupported registryAuthFrom '{other}'"
                    )));
                }
            }
        }
    };
    set_pull_options(&mut spec, pull);
    m.update_service(&id, version(&params)?, spec, rollback)
        .await?;
    Ok(Json(json!({ "Warnings": null })))
}

async fn remove_service(
    Extension(s): Extension<SwarmState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    manager(&s).await?.remove_service(&id).await?;
    Ok(StatusCode::OK)
}

async fn list_tasks(Extension(s): Extension<SwarmState>, uri: Uri) -> ApiResult<Json<Value>> {
    let tasks = manager(&s).await?.tasks(&filters(&uri)?).await?;
    json_value(&tasks.into_iter().map(|t| t.redacted()).collect::<Vec<_>>())
}

async fn inspect_task(
    Extension(s): Extension<SwarmState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    json_value(&manager(&s).await?.task(&id).await?.redacted())
}

/// `?version=N` of a secret or config update, with dockerd's message when
/// it is missing or not a number.
fn blob_version(uri: &Uri, noun: &str) -> ApiResult<i64> {
    Params::parse(uri.query())
        .get("version")
        .and_then(|v| v.parse::<u64>().ok())
        .map(|v| v as i64)
        .ok_or_else(|| ApiError::bad_request(format!("invalid {noun} version")))
}

fn created(id: String) -> (StatusCode, Json<Value>) {
    (StatusCode::CREATED, Json(json!({ "ID": id })))
}

async fn list_secrets(Extension(s): Extension<SwarmState>, uri: Uri) -> ApiResult<Json<Value>> {
    json_value(&manager(&s).await?.secrets(&filters(&uri)?).await?)
}

async fn inspect_secret(
    Extension(s): Extension<SwarmState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    json_value(&manager(&s).await?.secret(&id).await?)
}

async fn create_secret(
    Extension(s): Extension<SwarmState>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let spec = parse_json(&body)?;
    Ok(created(manager(&s).await?.create_secret(spec).await?))
}

async fn update_secret(
    Extension(s): Extension<SwarmState>,
    Path(id): Path<String>,
    uri: Uri,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let version = blob_version(&uri, "secret")?;
    let spec = parse_json(&body)?;
    manager(&s).await?.update_secret(&id, version, spec).await?;
    Ok(StatusCode::OK)
}

async fn remove_secret(
    Extension(s): Extension<SwarmState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    manager(&s).await?.remove_secret(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_configs(Extension(s): Extension<SwarmState>, uri: Uri) -> ApiResult<Json<Value>> {
    json_value(&manager(&s).await?.configs(&filters(&uri)?).await?)
}

async fn inspect_config(
    Extension(s): Extension<SwarmState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    json_value(&manager(&s).await?.config(&id).await?)
}

async fn create_config(
    Extension(s): Extension<SwarmState>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let spec = parse_json(&body)?;
    Ok(created(manager(&s).await?.create_config(spec).await?))
}

async fn update_config(
    Extension(s): Extension<SwarmState>,
    Path(id): Path<String>,
    uri: Uri,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let version = blob_version(&uri, "config")?;
    let spec = parse_json(&body)?;
    manager(&s).await?.update_config(&id, version, spec).await?;
    Ok(StatusCode::OK)
}

async fn remove_config(
    Extension(s): Extension<SwarmState>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    manager(&s).await?.remove_config(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nulls_read_as_absent() {
        let spec: cluster::model::ServiceSpec = parse_json(
            br#"{"Name":"web","Labels":null,"TaskTemplate":{"ContainerSpec":{"Image":"bb","Args":null,"Env":null}},"Mode":null}"#,
        )
        .unwrap();
        assert_eq!(spec.annotations.name, "web");
        assert!(spec.task_template.container_spec.unwrap().args.is_empty());
        assert!(parse_json::<cluster::model::ServiceSpec>(b"{nope").is_err());
        // docker-py's lowercase struct keys, and user keys left alone.
        let spec: cluster::model::ServiceSpec = parse_json(
            br#"{"Name":"g","Labels":{"name":"x"},"Mode":{"replicated":{"Replicas":5}},"TaskTemplate":{"ContainerSpec":{"Image":"bb"},"LogDriver":{"name":"json-file","options":{"max-size":"1m"}}}}"#,
        )
        .unwrap();
        assert_eq!(spec.mode.replicated.unwrap().replicas, Some(5));
        assert_eq!(spec.annotations.labels["name"], "x");
        let driver = spec.task_template.log_driver.unwrap();
        assert_eq!(driver.name, "json-file");
        assert_eq!(driver.options["max-size"], "1m");
    }
}
