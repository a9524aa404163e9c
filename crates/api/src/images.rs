//! /images/* endpoints.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{Request, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use dockerfile::ignore::glob_match;
use futures_util::TryStreamExt;
use image::ImportOptions;
use serde_json::json;

use crate::query::Params;
use crate::{ApiError, ApiResult, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/images/json", get(list))
        .route("/images/create", post(create))
        .route(
            "/images/{*rest}",
            get(get_image).post(post_image).delete(delete_image),
        )
}

async fn list(State(engine): State<AppState>, uri: Uri) -> ApiResult<Json<serde_json::Value>> {
    let params = Params::parse(uri.query());
    let filters = params.filters()?;
    filters.check_keys(&["dangling", "label", "reference", "before", "since"])?;
    let dangling_filter = filters.bool("dangling")?;
    let images = engine.list_images()?;
    // As dockerd: untagged images with children (a build's intermediate
    // steps) are listed only with all=1.
    let parents: std::collections::HashSet<String> =
        images.iter().map(|i| i.parent.clone()).collect();
    let all = params.bool("all", false);
    let out: Vec<_> = images
        .into_iter()
        .filter(|i| all || !i.repo_tags.is_empty() || !parents.contains(&i.id))
        .filter(|i| dangling_filter.is_none_or(|d| d == i.repo_tags.is_empty()))
        .filter(|i| filters.labels_match("label", &i.labels))
        .filter_map(|mut i| {
            // As dockerd: with a reference filter, only the matching tags are listed.
            let refs = filters.values("reference");
            if !refs.is_empty() {
                i.repo_tags
                    .retain(|t| refs.iter().any(|r| reference_matches(r, t)));
                if i.repo_tags.is_empty() {
                    return None;
                }
            }
            Some(i)
        })
        .map(|i| {
            json!({
                "Id": i.id,
                "ParentId": i.parent,
                "RepoTags": i.repo_tags,
                "RepoDigests": i.repo_digests,
                "Created": i.created,
                "Size": i.size,
                "SharedSize": -1,
                "VirtualSize": i.size,
                "Labels": i.labels,
                "Containers": -1,
            })
        })
        .collect();
    Ok(Json(serde_json::Value::Array(out)))
}

/// `reference` filter: "name" matches any tag of that repository, "name:tag" exactly.
/// dockerd's reference filter: Go's `path.Match` of the pattern against the
/// familiar "name:tag", else against the name alone.
fn reference_matches(filter: &str, tag: &str) -> bool {
    let name = tag.rsplit_once(':').map_or(tag, |(repo, _)| repo);
    // The builder's Go-style matcher (it also takes `**`, which a name never needs).
    glob_match(filter, tag) || glob_match(filter, name)
}

/// `docker import` (fromSrc=-); pulling (fromImage) arrives with the registry work.
async fn create(State(engine): State<AppState>, req: Request<Body>) -> ApiResult<Response> {
    let params = Params::parse(req.uri().query());
    if params.get("fromImage").is_some_and(|f| !f.is_empty()) {
        let headers = req.headers().clone();
        return crate::distribution::pull(engine, &params, &headers);
    }
    match params.get("fromSrc") {
        Some("-") => {}
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::NOT_IMPLEMENTED,
                format!(
                    "not implemented: import from a URL ({other}); pipe the archive to 'docker import -'"
                ),
            ));
        }
        None => return Err(ApiError::bad_request("fromSrc or fromImage is required")),
    }
    let reference = match (
        params.get("repo").unwrap_or(""),
        params.get("tag").unwrap_or(""),
    ) {
        ("", _) => None,
        (repo, "") => Some(image::reference::parse(repo)?),
        (repo, tag) => Some(image::reference::parse(&format!("{repo}:{tag}"))?),
    };
    let opts = ImportOptions {
        reference,
        comment: params
            .get("message")
            .filter(|m| !m.is_empty())
            .map(String::from),
        changes: params
            .all("changes")
            .into_iter()
            .filter(|c| !c.trim().is_empty())
            .collect(),
        ..Default::default()
    };
    let stream = req
        .into_body()
        .into_data_stream()
        .map_err(std::io::Error::other);
    let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream));
    let id = tokio::task::spawn_blocking(move || engine.import_image(reader, opts))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(format!("{}\n", json!({ "status": id }))))
        .unwrap_or_else(crate::error::response_error))
}

/// Image names contain '/', so the routes are matched by suffix by hand.
async fn get_image(
    State(engine): State<AppState>,
    Path(rest): Path<String>,
) -> ApiResult<Response> {
    if let Some(name) = rest.strip_suffix("/json") {
        return inspect(&engine, name).map(IntoResponse::into_response);
    }
    if let Some(name) = rest.strip_suffix("/get") {
        return crate::distribution::save_names(engine, vec![name.to_string()]);
    }
    if let Some(name) = rest.strip_suffix("/history") {
        return history(&engine, name).map(IntoResponse::into_response);
    }
    Err(ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        format!("not implemented: GET /images/{rest}"),
    ))
}

/// `docker history`: newest step first; only the top entry carries the image id.
fn history(engine: &AppState, name: &str) -> ApiResult<Json<serde_json::Value>> {
    let img = engine.image(name)?;
    let entries = &img.config.history;
    let mut out = Vec::with_capacity(entries.len());
    // Layer sizes are only known per image today; the top layer step shows it.
    let mut layer_seen = false;
    for (i, h) in entries.iter().enumerate().rev() {
        let top = i + 1 == entries.len();
        let empty = h.empty_layer.unwrap_or(false);
        let size = if !empty && !layer_seen { img.size } else { 0 };
        layer_seen |= !empty;
        let created = h
            .created
            .as_deref()
            .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
            .map(|t| t.timestamp())
            .unwrap_or(0);
        out.push(json!({
            "Id": if top { img.id.clone() } else { "<missing>".to_string() },
            "Created": created,
            "CreatedBy": h.created_by.clone().unwrap_or_default(),
            "Tags": if top { img.repo_tags.clone() } else { Vec::new() },
            "Size": size,
            "Comment": h.comment.clone().unwrap_or_default(),
        }));
    }
    Ok(Json(serde_json::Value::Array(out)))
}

fn inspect(engine: &AppState, name: &str) -> ApiResult<Json<serde_json::Value>> {
    let img = engine.image(name)?;
    let cfg = &img.config;
    Ok(Json(json!({
        "Id": img.id,
        "RepoTags": img.repo_tags,
        "RepoDigests": img.repo_digests,
        "Parent": img.parent,
        "Comment": cfg.history.last().and_then(|h| h.comment.clone()).unwrap_or_default(),
        "Created": cfg.created.clone().unwrap_or_default(),
        "DockerVersion": "",
        "Author": cfg.author.clone().unwrap_or_default(),
        "Config": cfg.config,
        "Architecture": cfg.architecture,
        "Os": cfg.os,
        "Size": img.size,
        "GraphDriver": { "Name": "overlay2", "Data": null },
        "RootFS": { "Type": "layers", "Layers": img.diff_ids },
        "Metadata": { "LastTagTime": "0001-01-01T00:00:00Z" },
    })))
}

async fn post_image(
    State(engine): State<AppState>,
    Path(rest): Path<String>,
    uri: Uri,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    if let Some(name) = rest.strip_suffix("/push") {
        return crate::distribution::push(engine, name, &Params::parse(uri.query()), &headers);
    }
    let Some(name) = rest.strip_suffix("/tag") else {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            format!("not implemented: POST /images/{rest}"),
        ));
    };
    let params = Params::parse(uri.query());
    let repo = params.get("repo").unwrap_or("");
    if repo.is_empty() {
        return Err(ApiError::bad_request(
            "repository name must have at least one component",
        ));
    }
    let target = match params.get("tag").unwrap_or("") {
        "" => image::reference::parse(repo)?,
        tag => image::reference::parse(&format!("{repo}:{tag}"))?,
    };
    engine.tag_image(name, &target)?;
    Ok(StatusCode::CREATED.into_response())
}

async fn delete_image(
    State(engine): State<AppState>,
    Path(name): Path<String>,
    uri: Uri,
) -> ApiResult<Json<serde_json::Value>> {
    let force = Params::parse(uri.query()).bool("force", false);
    let items = engine.remove_image(&name, force).await?;
    let out = crate::format::delete_items(items);
    Ok(Json(serde_json::Value::Array(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_filters_match_like_dockerd() {
        assert!(reference_matches("busybox", "busybox:latest"));
        assert!(reference_matches("busybox:latest", "busybox:latest"));
        assert!(!reference_matches("busybox:1", "busybox:latest"));
        assert!(reference_matches("busy*", "busybox:latest"));
        assert!(reference_matches("*:latest", "busybox:latest"));
        assert!(reference_matches("b?sybox", "busybox:x"));
        assert!(reference_matches("[ab]usybox", "busybox:x"));
        assert!(!reference_matches("[^b]usybox", "busybox:x"));
        assert!(!reference_matches("*", "library/busybox:x"));
        assert!(reference_matches("*/*", "library/busybox:x"));
        assert!(!reference_matches("bus", "busybox:latest"));
    }
}
