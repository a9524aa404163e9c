//! Moving images in and out: pull, push, save (`/images/get`), load, commit
//! and container export. The image layer does the work on blocking threads;
//! these handlers stream Docker's JSON progress messages.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use image::distribution::{Credentials, Progress, ProgressFn};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::query::Params;
use crate::streams::channel_body;
use crate::{ApiError, ApiResult, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/images/get", get(save))
        .route("/images/load", post(load))
        .route("/commit", post(commit))
        .route("/containers/{id}/export", get(export))
        .route("/auth", post(auth))
}

/// `X-Registry-Auth`: base64url JSON of {username, password} or {identitytoken}.
pub(crate) fn credentials(headers: &HeaderMap) -> Option<Credentials> {
    Credentials::decode(headers.get("X-Registry-Auth")?.to_str().ok()?)
}

#[derive(serde::Deserialize)]
struct AuthConfig {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    serveraddress: String,
    #[serde(default)]
    identitytoken: String,
}

/// `POST /auth` (`docker login`): checks the credentials against the
/// registry itself; nothing is stored here, the CLI keeps them.
async fn auth(State(engine): State<AppState>, body: Bytes) -> ApiResult<Json<Value>> {
    let cfg: AuthConfig = crate::query::parse_json(&body)?;
    let domain = image::distribution::registry_domain(&cfg.serveraddress);
    let credentials = if cfg.identitytoken.is_empty() {
        Credentials::Basic {
            username: cfg.username,
            password: cfg.password,
        }
    } else {
        Credentials::Token(cfg.identitytoken)
    };
    let insecure = engine.insecure_registry(&domain);
    let result = tokio::task::spawn_blocking(move || {
        image::distribution::login(&domain, &credentials, insecure)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    match result {
        Ok(()) => Ok(Json(json!({
            "Status": "Login Succeeded",
            "IdentityToken": "",
        }))),
        Err(image::ImageError::Unauthorized(message)) => {
            Err(ApiError::new(StatusCode::UNAUTHORIZED, message))
        }
        Err(e) => Err(e.into()),
    }
}

/// Streams progress messages from a blocking job, then its final messages or error.
fn progress_stream<F>(job: F) -> Response
where
    F: FnOnce(ProgressFn) -> engine::Result<Vec<Value>> + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let progress_tx = tx.clone();
    let progress: ProgressFn = Arc::new(move |p: Progress| {
        let _ = progress_tx.blocking_send(Bytes::from(format!("{}\r\n", p.to_json())));
    });
    tokio::task::spawn_blocking(move || {
        let tail = match job(progress) {
            Ok(messages) => messages,
            Err(err) => {
                let message = err.to_string();
                vec![json!({ "errorDetail": { "message": message }, "error": message })]
            }
        };
        for m in tail {
            let _ = tx.blocking_send(Bytes::from(format!("{m}\r\n")));
        }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(channel_body(rx))
        .unwrap_or_else(crate::error::response_error)
}

/// `POST /images/create?fromImage=` (called by images.rs).
pub fn pull(engine: AppState, params: &Params, headers: &HeaderMap) -> ApiResult<Response> {
    let from = params.get("fromImage").unwrap_or_default();
    let tag = params.get("tag").unwrap_or_default();
    let reference = if tag.is_empty() {
        from.to_string()
    } else if tag.starts_with("sha256:") {
        format!("{from}@{tag}")
    } else {
        format!("{from}:{tag}")
    };
    image::reference::parse(&reference)?;
    let platform = params
        .get("platform")
        .filter(|p| !p.is_empty())
        .map(String::from);
    let auth = credentials(headers);
    Ok(progress_stream(move |progress| {
        engine.pull_image(&reference, platform, auth, Some(progress))?;
        Ok(Vec::new())
    }))
}

/// `POST /images/{name}/push` (called by images.rs).
pub fn push(
    engine: AppState,
    name: &str,
    params: &Params,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let tag = params.get("tag").unwrap_or_default();
    let local = if tag.is_empty() {
        name.to_string()
    } else {
        format!("{name}:{tag}")
    };
    engine.image(&local)?;
    let auth = credentials(headers);
    Ok(progress_stream(move |progress| {
        let r = engine.push_image(&local, auth, Some(progress))?;
        Ok(vec![
            json!({ "progressDetail": {}, "aux": { "Tag": r.tag, "Digest": r.digest, "Size": r.size } }),
        ])
    }))
}

/// A tar produced on a blocking thread, streamed as the response body.
fn tar_response<F>(produce: F) -> Response
where
    F: FnOnce(tokio_util::io::SyncIoBridge<tokio::io::DuplexStream>) -> engine::Result<()>
        + Send
        + 'static,
{
    let (reader, writer) = tokio::io::duplex(64 * 1024);
    tokio::task::spawn_blocking(move || {
        if let Err(err) = produce(tokio_util::io::SyncIoBridge::new(writer)) {
            tracing::warn!("archive stream: {err}");
        }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/x-tar")
        .body(Body::from_stream(tokio_util::io::ReaderStream::new(reader)))
        .unwrap_or_else(crate::error::response_error)
}

/// `docker save`: `GET /images/get?names=..` and `GET /images/{name}/get`.
pub fn save_names(engine: AppState, names: Vec<String>) -> ApiResult<Response> {
    if names.is_empty() {
        return Err(ApiError::bad_request("no image names given"));
    }
    for n in &names {
        engine.image(n)?;
    }
    Ok(tar_response(move |w| engine.save_images(&names, w)))
}

async fn save(State(engine): State<AppState>, uri: Uri) -> ApiResult<Response> {
    save_names(engine, Params::parse(uri.query()).all("names"))
}

async fn load(State(engine): State<AppState>, req: axum::extract::Request) -> ApiResult<Response> {
    let reader = crate::body_reader::body_reader(req.into_body());
    let loaded = tokio::task::spawn_blocking(move || engine.load_images(reader))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let json_response = |body: String| {
        Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .unwrap_or_else(crate::error::response_error)
    };
    let loaded = match loaded {
        Ok(loaded) => loaded,
        // As dockerd: the answer is a 200 stream whose message is the error
        // (clients raise it from there), and nothing is stored.
        Err(err) => {
            let msg = err.to_string();
            let line = json!({ "errorDetail": { "message": msg }, "error": msg });
            return Ok(json_response(format!("{line}\r\n")));
        }
    };
    let mut body = String::new();
    for name in loaded {
        let what = if name.starts_with("sha256:") {
            "Loaded image ID"
        } else {
            "Loaded image"
        };
        body.push_str(&format!(
            "{}\r\n",
            json!({ "stream": format!("{what}: {name}\n") })
        ));
    }
    Ok(json_response(body))
}

async fn commit(
    State(engine): State<AppState>,
    uri: Uri,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let params = Params::parse(uri.query());
    let container = params
        .get("container")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::bad_request("container is required"))?;
    let reference = match (
        params.get("repo").unwrap_or(""),
        params.get("tag").unwrap_or(""),
    ) {
        ("", _) => None,
        (repo, "") => Some(image::reference::parse(repo)?),
        (repo, tag) => Some(image::reference::parse(&format!("{repo}:{tag}"))?),
    };
    let config: Option<image::ContainerConfigSpec> = if body.is_empty() || &body[..] == b"null" {
        None
    } else {
        Some(crate::query::parse_json(&body)?)
    };
    let opts = image::commit::CommitOptions {
        reference,
        author: params
            .get("author")
            .filter(|a| !a.is_empty())
            .map(String::from),
        comment: params
            .get("comment")
            .filter(|c| !c.is_empty())
            .map(String::from),
        changes: params
            .all("changes")
            .into_iter()
            .filter(|c| !c.trim().is_empty())
            .collect(),
        config,
        // The engine fills in the owners of the container it commits.
        owners: Default::default(),
    };
    let id = engine.commit(container, opts).await?;
    Ok((StatusCode::CREATED, Json(json!({ "Id": id }))))
}

async fn export(State(engine): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let export = engine.export_container(&id)?;
    Ok(tar_response(move |w| export.write_tar(w)))
}
