//! Manifest push, fetch and delete for OCI image manifests and indexes and
//! their Docker schema 2 counterparts.
//!
//! Validation walks the document as a JSON value instead of parsing it into
//! `oci_spec::image` types: the registry stores what it accepts byte for
//! byte and must accept what those types refuse (a descriptor without
//! `mediaType`), and each failure keeps its own spec error code, where
//! oci-spec's digest check would turn a well-formed reference to a blob the
//! registry cannot hold (`sha256:abc`: MANIFEST_BLOB_UNKNOWN) into a parse
//! error (MANIFEST_INVALID).

use crate::error::{ApiError, Code};
use crate::http::{AppState, empty, header_str, put_headers, valid_digest};
use crate::names;
use crate::store::{RevisionMeta, sha256_digest};
use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::Response;
use futures_util::StreamExt;
use serde_json::Value;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

enum Kind {
    Image,
    Index,
}

fn kind_of(media_type: &str) -> Option<Kind> {
    match media_type {
        OCI_MANIFEST | DOCKER_MANIFEST => Some(Kind::Image),
        OCI_INDEX | DOCKER_LIST => Some(Kind::Index),
        _ => None,
    }
}

fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, Code::ManifestInvalid, msg)
}

fn unknown(reference: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        Code::ManifestUnknown,
        "manifest unknown",
    )
    .detail(serde_json::json!({ "reference": reference }))
}

enum Ref {
    Tag(String),
    Digest(String),
}

fn parse_ref(reference: &str) -> Result<Ref, ApiError> {
    if names::looks_like_digest(reference) {
        valid_digest(reference).map(Ref::Digest)
    } else if names::valid_tag(reference) {
        Ok(Ref::Tag(reference.to_string()))
    } else {
        Err(
            ApiError::new(StatusCode::BAD_REQUEST, Code::TagInvalid, "invalid tag")
                .detail(serde_json::json!({ "tag": reference })),
        )
    }
}

fn resolve(
    state: &AppState,
    name: &str,
    reference: &str,
) -> Result<(String, RevisionMeta), ApiError> {
    let digest = match parse_ref(reference)? {
        Ref::Digest(d) => d,
        Ref::Tag(t) => state
            .store
            .tag(name, &t)?
            .ok_or_else(|| unknown(reference))?,
    };
    let meta = state
        .store
        .revision(name, &digest)?
        .ok_or_else(|| unknown(reference))?;
    Ok((digest, meta))
}

pub async fn get(
    state: &AppState,
    name: &str,
    reference: &str,
    with_body: bool,
) -> Result<Response, ApiError> {
    let (digest, meta) = resolve(state, name, reference)?;
    let headers = [
        ("Content-Type", meta.media_type.clone()),
        ("Docker-Content-Digest", digest.clone()),
        ("Content-Length", meta.size.to_string()),
        ("ETag", format!("\"{digest}\"")),
    ];
    if !with_body {
        return Ok(empty(StatusCode::OK, &headers));
    }
    let bytes = tokio::fs::read(state.store.blob_path(&digest))
        .await
        .map_err(|_| unknown(reference))?;
    let mut resp = Response::new(Body::from(bytes));
    put_headers(resp.headers_mut(), &headers);
    Ok(resp)
}

pub fn delete(state: &AppState, name: &str, reference: &str) -> Result<Response, ApiError> {
    let found = match parse_ref(reference)? {
        Ref::Tag(t) => state.store.delete_tag(name, &t)?,
        Ref::Digest(d) => state.store.delete_revision(name, &d)?,
    };
    if !found {
        return Err(unknown(reference));
    }
    Ok(empty(
        StatusCode::ACCEPTED,
        &[("Content-Length", "0".into())],
    ))
}

async fn read_limited(req: Request, limit: u64) -> Result<Vec<u8>, ApiError> {
    let too_big = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            Code::SizeInvalid,
            format!("manifest larger than {limit} bytes"),
        )
    };
    if let Some(len) =
        header_str(req.headers(), header::CONTENT_LENGTH).and_then(|v| v.trim().parse::<u64>().ok())
        && len > limit
    {
        return Err(too_big());
    }
    let mut out = Vec::new();
    let mut stream = req.into_body().into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| invalid(format!("reading body: {e}")))?;
        if out.len() as u64 + chunk.len() as u64 > limit {
            return Err(too_big());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// A descriptor's digest and size, checked for shape.
fn descriptor(v: &Value, what: &str) -> Result<(String, u64), ApiError> {
    let obj = v
        .as_object()
        .ok_or_else(|| invalid(format!("{what}: descriptor must be an object")))?;
    let digest = obj
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{what}: descriptor has no digest")))?;
    let size = obj
        .get("size")
        .and_then(Value::as_u64)
        .ok_or_else(|| invalid(format!("{what}: descriptor has no valid size")))?;
    if !obj.get("mediaType").is_none_or(Value::is_string) {
        return Err(invalid(format!("{what}: mediaType must be a string")));
    }
    if !digest.contains(':') {
        return Err(invalid(format!("{what}: malformed digest {digest:?}")));
    }
    Ok((digest.to_string(), size))
}

fn blob_unknown(digest: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        Code::ManifestBlobUnknown,
        "manifest references a blob unknown to the repository",
    )
    .detail(serde_json::json!({ "digest": digest }))
}

/// Checks structure and that everything referenced is in this repository.
/// Returns the artifact type a referrers listing reports for it.
fn validate(
    state: &AppState,
    name: &str,
    doc: &Value,
    kind: &Kind,
) -> Result<Option<String>, ApiError> {
    if doc.get("schemaVersion").and_then(Value::as_u64) != Some(2) {
        return Err(invalid("schemaVersion must be 2"));
    }
    let artifact_type = doc.get("artifactType");
    if !artifact_type.is_none_or(Value::is_string) {
        return Err(invalid("artifactType must be a string"));
    }
    let mut artifact_type = artifact_type.and_then(Value::as_str).map(str::to_string);
    match kind {
        Kind::Image => {
            let config = doc.get("config").ok_or_else(|| invalid("no config"))?;
            let (cd, _) = descriptor(config, "config")?;
            if names::digest_hex(&cd).is_none() || !state.store.has_layer(name, &cd) {
                return Err(blob_unknown(&cd));
            }
            if artifact_type.is_none() {
                artifact_type = config
                    .get("mediaType")
                    .and_then(Value::as_str)
                    .map(str::to_string);
            }
            let layers = doc
                .get("layers")
                .and_then(Value::as_array)
                .ok_or_else(|| invalid("layers must be an array"))?;
            for layer in layers {
                let (d, _) = descriptor(layer, "layer")?;
                // Foreign layers (with urls) live elsewhere by design.
                let foreign = layer
                    .get("urls")
                    .and_then(Value::as_array)
                    .is_some_and(|u| !u.is_empty());
                if foreign {
                    continue;
                }
                if names::digest_hex(&d).is_none() || !state.store.has_layer(name, &d) {
                    return Err(blob_unknown(&d));
                }
            }
        }
        Kind::Index => {
            let manifests = doc
                .get("manifests")
                .and_then(Value::as_array)
                .ok_or_else(|| invalid("manifests must be an array"))?;
            for m in manifests {
                let (d, _) = descriptor(m, "manifest")?;
                if names::digest_hex(&d).is_none() || state.store.revision(name, &d)?.is_none() {
                    return Err(blob_unknown(&d));
                }
            }
        }
    }
    Ok(artifact_type)
}

pub async fn put(
    state: &AppState,
    name: &str,
    reference: &str,
    req: Request,
) -> Result<Response, ApiError> {
    let target = parse_ref(reference)?;
    let header_type = header_str(req.headers(), header::CONTENT_TYPE)
        .map(|v| v.split(';').next().unwrap_or("").trim().to_string())
        .filter(|v| !v.is_empty());
    let body = read_limited(req, state.max_manifest_size).await?;
    let doc: Value =
        serde_json::from_slice(&body).map_err(|e| invalid(format!("invalid JSON: {e}")))?;
    if !doc.is_object() {
        return Err(invalid("manifest must be a JSON object"));
    }
    let field_type = match doc.get("mediaType") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(invalid("mediaType must be a string")),
    };
    let media_type = match (header_type, field_type) {
        (Some(h), Some(f)) if h != f => {
            return Err(invalid(format!(
                "Content-Type {h} does not match the manifest's mediaType {f}"
            )));
        }
        (Some(h), _) => h,
        (None, Some(f)) => f,
        (None, None) => return Err(invalid("no media type (Content-Type or mediaType)")),
    };
    let kind = kind_of(&media_type)
        .ok_or_else(|| invalid(format!("unsupported manifest media type {media_type}")))?;
    let artifact_type = validate(state, name, &doc, &kind)?;
    let subject = match doc.get("subject") {
        None => None,
        Some(s) => {
            let (d, _) = descriptor(s, "subject")?;
            Some(valid_digest(&d)?)
        }
    };

    let digest = sha256_digest(&body);
    if let Ref::Digest(d) = &target
        && *d != digest
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            Code::DigestInvalid,
            "manifest digest does not match the reference",
        )
        .detail(serde_json::json!({ "expected": d, "actual": digest })));
    }
    state.store.put_blob_bytes(&body)?;
    let meta = RevisionMeta {
        media_type,
        size: body.len() as u64,
        artifact_type,
        subject: subject.clone(),
        annotations: doc.get("annotations").filter(|a| a.is_object()).cloned(),
    };
    state.store.put_revision(name, &digest, &meta)?;
    if let Ref::Tag(t) = &target {
        state.store.set_tag(name, t, &digest)?;
    }
    let mut headers = vec![
        ("Location", format!("/v2/{name}/manifests/{digest}")),
        ("Docker-Content-Digest", digest),
        ("Content-Length", "0".to_string()),
    ];
    if let Some(s) = subject {
        headers.push(("OCI-Subject", s));
    }
    Ok(empty(StatusCode::CREATED, &headers))
}
