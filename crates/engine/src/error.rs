use image::ImageError;
use runtime::RuntimeError;

/// Engine errors carry the HTTP-relevant kind so the API layer stays a thin translator.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    InvalidParameter(String),
    /// The request asks for nothing to change (Docker answers 304).
    #[error("{0}")]
    NotModified(String),
    #[error("not implemented: {0}")]
    NotImplemented(String),
    /// Docker's own 501 for what a setting rules out ("configured logging
    /// driver does not support reading"), not a gap of berth's.
    #[error("{0}")]
    NotSupported(String),
    #[error("{0}")]
    Internal(String),
    /// The request is understood but refused (Docker's 403: pre-defined
    /// networks, networks with active endpoints, overlapping pools).
    #[error("{0}")]
    Forbidden(String),
    /// A registry refused our credentials.
    #[error("{0}")]
    Unauthorized(String),
}

pub type Result<T> = std::result::Result<T, EngineError>;

impl EngineError {
    pub fn internal(context: impl std::fmt::Display, err: impl std::fmt::Display) -> Self {
        EngineError::Internal(format!("{context}: {err}"))
    }

    pub fn no_such_container(name: &str) -> Self {
        EngineError::NotFound(format!("No such container: {name}"))
    }
}

impl From<ImageError> for EngineError {
    fn from(err: ImageError) -> Self {
        let msg = err.to_string();
        match err {
            ImageError::NotFound(_) => EngineError::NotFound(msg),
            ImageError::Conflict(_) => EngineError::Conflict(msg),
            ImageError::Unauthorized(_) => EngineError::Unauthorized(msg),
            ImageError::InvalidReference(_)
            | ImageError::InvalidArchive(_)
            | ImageError::InvalidChange(_)
            | ImageError::InvalidUser(_)
            | ImageError::InvalidArgument(_)
            | ImageError::DigestMismatch { .. }
            | ImageError::Ambiguous(_) => EngineError::InvalidParameter(msg),
            // The variant holds what is missing; both layers add the prefix.
            ImageError::NotImplemented(what) => EngineError::NotImplemented(what),
            _ => EngineError::Internal(msg),
        }
    }
}

impl From<RuntimeError> for EngineError {
    fn from(err: RuntimeError) -> Self {
        let msg = err.to_string();
        match err {
            // The docker CLI maps these messages to exit codes 126/127, so keep them verbatim.
            RuntimeError::ExecutableNotFound(_)
            | RuntimeError::NoSuchFile(_)
            | RuntimeError::PermissionDenied(_) => {
                EngineError::InvalidParameter(format!("failed to create task for container: {msg}"))
            }
            RuntimeError::InvalidConfig(_) | RuntimeError::InvalidSetting(_) => {
                EngineError::InvalidParameter(msg)
            }
            RuntimeError::NotImplemented(what) => EngineError::NotImplemented(what.to_string()),
            RuntimeError::NotRunning => EngineError::Conflict(msg),
            // dockerd's translateContainerdStartErr: what the user's command
            // or mounts got wrong is theirs (400), the rest the daemon's.
            RuntimeError::Oci(_) if is_users_fault(&msg) => EngineError::InvalidParameter(msg),
            _ => EngineError::Internal(msg),
        }
    }
}

fn is_users_fault(runtime_error: &str) -> bool {
    let lower = runtime_error.to_lowercase();
    [
        "executable file not found",
        "no such file or directory",
        "permission denied",
        "not a directory",
    ]
    .iter()
    .any(|s| lower.contains(s))
}

impl From<network::NetError> for EngineError {
    fn from(err: network::NetError) -> Self {
        use network::NetError;
        let msg = err.to_string();
        match err {
            NetError::InvalidConfig(_)
            | NetError::Refused(_)
            | NetError::OutOfSubnet { .. }
            | NetError::AddressReserved(_) => EngineError::InvalidParameter(msg),
            NetError::AddressInUse(ip) => {
                EngineError::Conflict(format!("Address already in use: {ip}"))
            }
            NetError::Overlap { .. } => EngineError::Forbidden(format!(
                "Pool overlaps with other one on this address space ({msg})"
            )),
            NetError::PoolExhausted => EngineError::Forbidden(
                "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network".into(),
            ),
            NetError::NoFirewall(_) => EngineError::NotImplemented(msg),
            _ => EngineError::Internal(msg),
        }
    }
}

impl From<std::io::Error> for EngineError {
    fn from(err: std::io::Error) -> Self {
        EngineError::Internal(err.to_string())
    }
}
