//! The one error type of the crate: a kind that maps to an HTTP status the
//! way dockerd maps swarmkit's gRPC codes, and dockerd's exact text.

use thiserror::Error;

/// gRPC-style categories, as swarmkit's control API answers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    InvalidArgument,
    NotFound,
    AlreadyExists,
    FailedPrecondition,
    Unimplemented,
    Internal,
}

impl ErrorKind {
    /// dockerd's `statusCodeFromGRPCError`.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::InvalidArgument | ErrorKind::FailedPrecondition => 400,
            ErrorKind::NotFound => 404,
            ErrorKind::AlreadyExists => 409,
            ErrorKind::Unimplemented => 501,
            ErrorKind::Internal => 500,
        }
    }

    /// The code's name in a gRPC status text.
    pub fn grpc_name(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "InvalidArgument",
            ErrorKind::NotFound => "NotFound",
            ErrorKind::AlreadyExists => "AlreadyExists",
            ErrorKind::FailedPrecondition => "FailedPrecondition",
            ErrorKind::Unimplemented => "Unimplemented",
            ErrorKind::Internal => "Internal",
        }
    }
}

/// Where dockerd produces an error decides how the CLI prints it: checks
/// made by swarmkit's control API reach the client wrapped as
/// `rpc error: code = … desc = …`, dockerd's own conversion errors do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Swarmkit,
    Dockerd,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct ClusterError {
    pub kind: ErrorKind,
    pub origin: Origin,
    pub message: String,
}

impl ClusterError {
    /// An error swarmkit's control API would return.
    pub fn swarmkit(kind: ErrorKind, message: impl Into<String>) -> Self {
        ClusterError {
            kind,
            origin: Origin::Swarmkit,
            message: message.into(),
        }
    }

    /// An error dockerd returns before reaching swarmkit.
    pub fn dockerd(kind: ErrorKind, message: impl Into<String>) -> Self {
        ClusterError {
            kind,
            origin: Origin::Dockerd,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::swarmkit(ErrorKind::InvalidArgument, message)
    }

    pub fn http_status(&self) -> u16 {
        self.kind.http_status()
    }

    /// The text the API puts in `{"message": …}`, as dockerd words it.
    pub fn api_message(&self) -> String {
        match self.origin {
            Origin::Swarmkit => format!(
                "rpc error: code = {} desc = {}",
                self.kind.grpc_name(),
                self.message
            ),
            Origin::Dockerd => self.message.clone(),
        }
    }
}

pub type Result<T, E = ClusterError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(ErrorKind::InvalidArgument.http_status(), 400);
        assert_eq!(ErrorKind::FailedPrecondition.http_status(), 400);
        assert_eq!(ErrorKind::NotFound.http_status(), 404);
        assert_eq!(ErrorKind::AlreadyExists.http_status(), 409);
        assert_eq!(ErrorKind::Unimplemented.http_status(), 501);
        assert_eq!(ErrorKind::Internal.http_status(), 500);
    }

    #[test]
    fn messages() {
        let e = ClusterError::invalid("ContainerSpec: image reference must be provided");
        assert_eq!(
            e.to_string(),
            "ContainerSpec: image reference must be provided"
        );
        assert_eq!(
            e.api_message(),
            "rpc error: code = InvalidArgument desc = ContainerSpec: image reference must be provided"
        );
        let d = ClusterError::dockerd(
            ErrorKind::InvalidArgument,
            "invalid RestartCondition: \"sometimes\"",
        );
        assert_eq!(d.api_message(), "invalid RestartCondition: \"sometimes\"");
        assert_eq!(d.http_status(), 400);
    }
}
