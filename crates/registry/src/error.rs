//! Errors: `RegistryError` for the library's own failures, `ApiError` for
//! what a client sees (the distribution-spec error JSON).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "registry root {0} is in use by a running server (its lock file is held); stop the server first"
    )]
    Locked(PathBuf),
    #[error("bind {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("htpasswd {path}: {message}")]
    Htpasswd { path: PathBuf, message: String },
    #[error("token key {path}: {message}")]
    TokenKey { path: PathBuf, message: String },
    #[error("--htpasswd and token auth cannot be combined")]
    TwoAuthModes,
    #[error("tls: {0}")]
    Tls(String),
    #[error("corrupt store: {0}")]
    Corrupt(String),
}

impl From<cas::CasError> for RegistryError {
    fn from(e: cas::CasError) -> Self {
        match e {
            cas::CasError::Io { path, source, .. } => RegistryError::Io { path, source },
            // Digests are checked at the HTTP edge; one failing here means the
            // store's own links or revisions name something bad.
            other => RegistryError::Corrupt(other.to_string()),
        }
    }
}

impl RegistryError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        RegistryError::Io {
            path: path.into(),
            source,
        }
    }
}

/// The error codes of the OCI distribution spec (plus the ones clients know
/// from the Docker registry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    BlobUnknown,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestInvalid,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    SizeInvalid,
    RangeInvalid,
    Unauthorized,
    Denied,
    Unsupported,
    TagInvalid,
    Internal,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::BlobUnknown => "BLOB_UNKNOWN",
            Code::BlobUploadInvalid => "BLOB_UPLOAD_INVALID",
            Code::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            Code::DigestInvalid => "DIGEST_INVALID",
            Code::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            Code::ManifestInvalid => "MANIFEST_INVALID",
            Code::ManifestUnknown => "MANIFEST_UNKNOWN",
            Code::NameInvalid => "NAME_INVALID",
            Code::NameUnknown => "NAME_UNKNOWN",
            Code::SizeInvalid => "SIZE_INVALID",
            Code::RangeInvalid => "RANGE_INVALID",
            Code::Unauthorized => "UNAUTHORIZED",
            Code::Denied => "DENIED",
            Code::Unsupported => "UNSUPPORTED",
            Code::TagInvalid => "TAG_INVALID",
            Code::Internal => "UNKNOWN",
        }
    }
}

/// Boxed: it is the error type of every handler, and mostly travels the
/// cold path.
#[derive(Debug)]
pub struct ApiError(Box<ApiErrorInner>);

#[derive(Debug)]
pub struct ApiErrorInner {
    pub status: StatusCode,
    pub code: Code,
    pub message: String,
    pub detail: Option<serde_json::Value>,
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: Code, message: impl Into<String>) -> Self {
        ApiError(Box::new(ApiErrorInner {
            status,
            code,
            message: message.into(),
            detail: None,
            headers: Vec::new(),
        }))
    }

    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.0.detail = Some(detail);
        self
    }

    pub fn header(mut self, name: header::HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.0.headers.push((name, v));
        }
        self
    }

    pub fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!("registry internal error: {err}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            Code::Internal,
            err.to_string(),
        )
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        ApiError::internal(e)
    }
}

impl From<std::io::Error> for ApiError {
    fn from(e: std::io::Error) -> Self {
        ApiError::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = *self.0;
        let mut entry = serde_json::json!({"code": e.code.as_str(), "message": e.message});
        if let Some(d) = e.detail {
            entry["detail"] = d;
        }
        let body = serde_json::json!({ "errors": [entry] }).to_string();
        let mut resp =
            (e.status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
        for (k, v) in e.headers {
            resp.headers_mut().insert(k, v);
        }
        resp
    }
}
