//! `GET /distribution/{name}/json`: what a registry holds for a reference
//! now (its manifest's descriptor and platforms), without pulling it. The
//! docker CLI and the dashboard's "update available" marker ask it.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use image::distribution::RegistryClient;
use serde_json::{Value, json};

use crate::{ApiError, ApiResult, AppState};

pub fn routes() -> Router<AppState> {
    // Names hold slashes (`host:5000/team/app:tag`): the path is split here.
    Router::new().route("/distribution/{*rest}", get(inspect))
}

async fn inspect(
    State(engine): State<AppState>,
    Path(rest): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let Some(name) = rest.strip_suffix("/json") else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "page not found"));
    };
    let reference = image::reference::parse(name)?;
    let insecure = engine.insecure_registry(reference.domain());
    let credentials = crate::distribution::credentials(&headers);
    let doc = tokio::task::spawn_blocking(move || {
        let client = RegistryClient::connect(&reference, credentials, insecure, false)?;
        let wanted = reference
            .digest()
            .or(reference.tag())
            .unwrap_or("latest")
            .to_string();
        let (body, media_type, digest) = client.get_manifest(&wanted)?;
        let digest = digest.unwrap_or_else(|| cas::sha256_digest(&body));
        let manifest: Value = serde_json::from_slice(&body).unwrap_or_default();
        let platforms = platforms(&client, &manifest);
        Ok::<_, image::ImageError>(json!({
            "Descriptor": { "mediaType": media_type, "digest": digest, "size": body.len() },
            "Platforms": platforms,
        }))
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(Json(doc))
}

/// An index lists its platforms; a single manifest's is in its config blob.
fn platforms(client: &RegistryClient, manifest: &Value) -> Vec<Value> {
    if let Some(list) = manifest["manifests"].as_array() {
        return list
            .iter()
            .filter_map(|m| m.get("platform").cloned())
            .collect();
    }
    let Some(config) = manifest["config"]["digest"].as_str() else {
        return Vec::new();
    };
    let Some(cfg) = client
        .get_blob(config)
        .ok()
        .and_then(|r| r.bytes().ok())
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    else {
        return Vec::new();
    };
    let mut p = json!({ "architecture": cfg["architecture"], "os": cfg["os"] });
    if let Some(v) = cfg["variant"].as_str() {
        p["variant"] = json!(v);
    }
    vec![p]
}
