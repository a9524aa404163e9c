//! The one error type of the runtime layer.

use std::io;

/// Errors of the runtime layer. The Display of the executable errors is the
/// text runc/Docker print, because the docker CLI derives exit codes 126/127
/// from it.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// `args[0]` is a bare name not found in `$PATH`.
    #[error("exec: \"{0}\": executable file not found in $PATH")]
    ExecutableNotFound(String),
    /// `args[0]` is a path that does not exist.
    #[error("exec: \"{0}\": stat {0}: no such file or directory")]
    NoSuchFile(String),
    /// `args[0]` exists but is a directory or lacks execute permission.
    #[error("exec: \"{0}\": permission denied")]
    PermissionDenied(String),
    #[error("container is not running")]
    NotRunning,
    #[error("not implemented: {0}")]
    NotImplemented(&'static str),
    /// A setting Docker would refuse, with Docker's words (shown verbatim by the CLI).
    #[error("{0}")]
    InvalidSetting(String),
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("libcontainer: {0}")]
    Libcontainer(String),
    /// An OCI runtime CLI (runc, crun) failed; the text is dockerd's
    /// wording around the runtime's own error.
    #[error("{0}")]
    Oci(String),
    #[error("shim protocol: {0}")]
    Protocol(String),
}

impl RuntimeError {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    /// The built-in runtime's words for this error, as its CLI logs them and
    /// the forked create hands them back: libcontainer's own text bare, the
    /// daemon classifies it again (see [`crate::exe::classify`]).
    pub(crate) fn into_runtime_words(self) -> String {
        match self {
            Self::Libcontainer(m) => m,
            other => other.to_string(),
        }
    }

    /// Exit code Docker uses when this error prevents a process from starting.
    pub fn exit_code(&self) -> Option<i32> {
        match self {
            Self::ExecutableNotFound(_) | Self::NoSuchFile(_) => Some(127),
            Self::PermissionDenied(_) => Some(126),
            _ => None,
        }
    }
}

/// Renders an error with its whole `source()` chain: libcontainer hides the
/// interesting part (our executor's message) several levels deep.
pub(crate) fn chain_text(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        cur = e.source();
    }
    text
}
