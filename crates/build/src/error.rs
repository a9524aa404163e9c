use thiserror::Error;

/// Why a build stopped. `message` is what Docker prints; `code` is the
/// failing RUN's exit code (Docker's `errorDetail.code`).
#[derive(Debug, Clone, Error)]
#[error("{message}")]
pub struct BuildError {
    pub message: String,
    pub code: Option<i32>,
    /// The request itself is wrong (bad Dockerfile, missing Dockerfile, bad
    /// tag): Docker answers these before streaming, with status 400.
    pub bad_request: bool,
}

impl BuildError {
    pub fn new(message: impl Into<String>) -> Self {
        BuildError {
            message: message.into(),
            code: None,
            bad_request: false,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        BuildError {
            bad_request: true,
            ..Self::new(message)
        }
    }
}

impl From<engine::EngineError> for BuildError {
    fn from(e: engine::EngineError) -> Self {
        BuildError::new(e.to_string())
    }
}

impl From<image::ImageError> for BuildError {
    fn from(e: image::ImageError) -> Self {
        BuildError::new(e.to_string())
    }
}

impl From<dockerfile::ExpandError> for BuildError {
    fn from(e: dockerfile::ExpandError) -> Self {
        BuildError::new(e.to_string())
    }
}

impl From<std::io::Error> for BuildError {
    fn from(e: std::io::Error) -> Self {
        BuildError::new(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, BuildError>;
