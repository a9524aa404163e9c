//! What swarm operations fail with, and the HTTP status dockerd answers
//! each with (the API layer only translates).

use crate::store::StoreError;

/// dockerd's words for a manager whose keys are wrapped and not yet unlocked.
pub const LOCKED: &str = "Swarm is encrypted and needs to be unlocked before it can be used. Please use \"docker swarm unlock\" to unlock it.";

/// The class of a failure, as the API maps it to a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 400
    InvalidArgument,
    /// 401: a wrong unlock key.
    Unauthorized,
    /// 404
    NotFound,
    /// 409
    Conflict,
    /// 503: not in a swarm, not a manager, no quorum.
    Unavailable,
    /// 501
    NotImplemented,
    /// 500
    Internal,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct SwarmError {
    pub kind: ErrorKind,
    pub message: String,
}

pub type Result<T> = std::result::Result<T, SwarmError>;

impl SwarmError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        SwarmError {
            kind,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(ErrorKind::NotFound, format!("{what} {id} not found"))
    }

    /// dockerd's words for a node in no swarm.
    pub fn not_in_swarm() -> Self {
        Self::new(ErrorKind::Unavailable, "This node is not part of a swarm")
    }

    /// dockerd's answer to a manager-only request on a node in no swarm.
    pub fn no_manager() -> Self {
        Self::new(
            ErrorKind::Unavailable,
            "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.",
        )
    }

    pub fn not_a_manager() -> Self {
        Self::new(
            ErrorKind::Unavailable,
            "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager.",
        )
    }

    pub fn already_in_swarm() -> Self {
        Self::new(
            ErrorKind::Unavailable,
            "This node is already part of a swarm. Use \"docker swarm leave\" to leave this swarm and join another one.",
        )
    }

    /// dockerd's answer on a manager whose keys are still wrapped.
    pub fn locked() -> Self {
        Self::new(ErrorKind::Unavailable, LOCKED)
    }

    /// `swarm unlock` on a manager that runs.
    pub fn not_locked() -> Self {
        Self::new(ErrorKind::Conflict, "swarm is not locked")
    }

    pub fn not_implemented(what: &str) -> Self {
        Self::new(
            ErrorKind::NotImplemented,
            format!("not implemented: {what}"),
        )
    }
}

impl From<StoreError> for SwarmError {
    fn from(e: StoreError) -> Self {
        let kind = match &e {
            StoreError::NotFound { .. } => ErrorKind::NotFound,
            StoreError::NameConflict { .. } | StoreError::Exists { .. } => ErrorKind::Conflict,
            // dockerd answers a stale version with a 500 (swarmkit's Unknown code).
            StoreError::OutOfSequence => ErrorKind::Internal,
            StoreError::Kv(kv) if kv.is_unavailable() => ErrorKind::Unavailable,
            StoreError::Kv(_) | StoreError::Corrupt { .. } | StoreError::Raced { .. } => {
                ErrorKind::Internal
            }
        };
        SwarmError::new(kind, e.to_string())
    }
}

impl From<cluster::error::ClusterError> for SwarmError {
    fn from(e: cluster::error::ClusterError) -> Self {
        use cluster::error::ErrorKind as K;
        let kind = match e.kind {
            K::InvalidArgument | K::FailedPrecondition => ErrorKind::InvalidArgument,
            K::NotFound => ErrorKind::NotFound,
            K::AlreadyExists => ErrorKind::Conflict,
            K::Unimplemented => ErrorKind::NotImplemented,
            K::Internal => ErrorKind::Internal,
        };
        SwarmError::new(kind, e.api_message())
    }
}

impl From<kvstore::KvError> for SwarmError {
    fn from(e: kvstore::KvError) -> Self {
        StoreError::from(e).into()
    }
}

impl From<crate::seal::SealError> for SwarmError {
    fn from(e: crate::seal::SealError) -> Self {
        SwarmError::internal(e.to_string())
    }
}

impl From<crate::pki::PkiError> for SwarmError {
    fn from(e: crate::pki::PkiError) -> Self {
        match e {
            crate::pki::PkiError::InvalidToken => SwarmError::invalid(e.to_string()),
            _ => SwarmError::internal(e.to_string()),
        }
    }
}
