use std::path::PathBuf;

/// What the stores fail with; callers map `InvalidDigest`/`DigestMismatch`
/// to a 400 and `NotFound` to a 404 of their own shape.
#[derive(Debug, thiserror::Error)]
pub enum CasError {
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid digest {0:?}")]
    InvalidDigest(String),
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch { expected: String, actual: String },
    #[error("blob {0} not found")]
    NotFound(String),
}

impl CasError {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> CasError {
        let path = path.into();
        move |source| CasError::Io { op, path, source }
    }
}
