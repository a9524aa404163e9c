use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("no vulnerability database: import one with `berth scan db import PATH`")]
    NoDatabase,
    #[error("vulnerability database is damaged: {0}")]
    DamagedDatabase(String),
    #[error("{}: not a directory of OSV .json files or a .zip of them", .0.display())]
    BadSource(PathBuf),
    #[error("read {}: {}", .0.display(), .1)]
    Zip(PathBuf, String),
    #[error("not implemented: {0}")]
    NotImplemented(String),
    #[error("{0}")]
    InvalidArgument(String),
}

impl ScanError {
    pub fn io(what: impl Into<String>, source: io::Error) -> Self {
        ScanError::Io {
            what: what.into(),
            source,
        }
    }
}

/// `.ctx(|| "what")` on io results, naming the operation that failed.
pub(crate) trait IoContext<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T, ScanError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T, ScanError> {
        self.map_err(|e| ScanError::io(what(), e))
    }
}
