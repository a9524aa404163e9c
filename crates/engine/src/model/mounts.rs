//! One mount as the container record keeps it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    Bind,
    Volume,
    Tmpfs,
}

impl MountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MountKind::Bind => "bind",
            MountKind::Volume => "volume",
            MountKind::Tmpfs => "tmpfs",
        }
    }
}

/// One mount as the container record keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MountPoint {
    pub kind: MountKind,
    /// Host path of a bind; a volume's `_data` once resolved; empty for tmpfs.
    pub source: PathBuf,
    pub destination: String,
    /// Volume name.
    #[serde(default)]
    pub name: Option<String>,
    pub rw: bool,
    /// The mode string as given (`ro`, `z`, …), echoed by inspect.
    #[serde(default)]
    pub mode: String,
    #[serde(default)]
    pub propagation: String,
    /// tmpfs options (`size=64m`, `mode=1777`, …).
    #[serde(default)]
    pub options: Vec<String>,
    /// Seed an empty volume with the image's content at `destination`.
    #[serde(default)]
    pub copy_up: bool,
    /// `--mount type=bind` refuses a missing source; `-v` creates it.
    #[serde(skip)]
    pub create_source: bool,
    /// Labels for a volume this mount creates.
    #[serde(skip)]
    pub labels: BTreeMap<String, String>,
}
