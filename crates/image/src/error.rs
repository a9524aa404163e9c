use std::io;

/// Errors of the image layer. The engine maps them to HTTP statuses:
/// `NotFound` → 404, `Conflict` → 409, `Invalid*`/`Ambiguous` → 400.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("No such image: {0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The message already starts with "invalid reference format" as Docker prints it.
    #[error("{0}")]
    InvalidReference(String),
    #[error("invalid archive: {0}")]
    InvalidArchive(String),
    #[error("invalid change: {0}")]
    InvalidChange(String),
    #[error("{0}")]
    InvalidUser(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("not implemented: {0}")]
    NotImplemented(String),
    #[error("ambiguous image id prefix {0}: it matches several images")]
    Ambiguous(String),
    #[error("corrupt image store: {0}")]
    Corrupt(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    /// The registry refused the credentials (or none were given).
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// Content did not hash to the digest that named it; nothing was stored.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: String, actual: String },
    /// An error response or a transport failure talking to a registry.
    #[error("registry: {0}")]
    Registry(String),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// oci-spec refused a value berth built itself (a digest it computed, a
    /// manifest from its builder): a bug, never the user's input.
    #[error("oci: {0}")]
    Oci(#[from] oci_spec::OciSpecError),
}

impl ImageError {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        ImageError::Io {
            context: context.into(),
            source,
        }
    }
}

impl From<io::Error> for ImageError {
    fn from(source: io::Error) -> Self {
        ImageError::Io {
            context: "i/o".into(),
            source,
        }
    }
}

/// Adds a context string to io results (usually the path involved).
pub(crate) trait IoContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, ImageError>;
}

impl<T> IoContext<T> for Result<T, io::Error> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, ImageError> {
        self.map_err(|e| ImageError::io(context(), e))
    }
}

impl<T> IoContext<T> for Result<T, nix::Error> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, ImageError> {
        self.map_err(|e| ImageError::io(context(), io::Error::from(e)))
    }
}

impl From<cas::CasError> for ImageError {
    fn from(e: cas::CasError) -> Self {
        match e {
            cas::CasError::Io { op, path, source } => ImageError::Io {
                context: format!("{op} {}", path.display()),
                source,
            },
            cas::CasError::InvalidDigest(d) => {
                ImageError::InvalidReference(format!("invalid digest {d:?}"))
            }
            cas::CasError::DigestMismatch { expected, actual } => {
                ImageError::DigestMismatch { expected, actual }
            }
            // The store's own indexes named it: a missing blob is damage.
            cas::CasError::NotFound(d) => ImageError::Corrupt(format!("blob {d} is missing")),
        }
    }
}
