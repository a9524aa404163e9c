//! What `network create` persists: `network/networks/<id>.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fsutil::{read_json, write_json_atomic};

/// Docker's driver names; "null" is the driver of the `none` network.
pub const DRIVER_BRIDGE: &str = "bridge";
pub const DRIVER_HOST: &str = "host";
pub const DRIVER_NULL: &str = "null";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NetworkRecord {
    pub id: String,
    pub name: String,
    pub driver: String,
    pub created: chrono::DateTime<chrono::Utc>,
    #[serde(default)]
    pub attachable: bool,
    /// The swarm's ingress network (a node's copy of it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ingress: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Whether the user gave the subnet (inspect then echoes only what was given).
    #[serde(default)]
    pub user_ipam: bool,
    /// Addressing and bridge of a bridge network; `None` for host and null.
    #[serde(default)]
    pub bridge: Option<network::NetworkConfig>,
    /// What this daemon made of the bridge (see [`NetworkRecord::ownership`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owned: Option<network::BridgeOwnership>,
}

impl NetworkRecord {
    /// What the daemon owns of the bridge and removes with the network.
    /// Records written before ownership was kept: user networks owned their
    /// bridges (they were deleted on rm), the default network nothing.
    pub fn ownership(&self) -> network::BridgeOwnership {
        self.owned.unwrap_or(if self.name == "bridge" {
            network::BridgeOwnership::default()
        } else {
            network::BridgeOwnership::ALL
        })
    }

    /// The predefined networks `docker network rm` refuses to remove.
    pub fn is_predefined(&self) -> bool {
        matches!(self.name.as_str(), "bridge" | "host" | "none")
    }

    pub fn internal(&self) -> bool {
        self.bridge.as_ref().is_some_and(|b| b.internal)
    }
}

pub struct NetworkFiles {
    dir: PathBuf,
}

impl NetworkFiles {
    pub fn open(root: &Path) -> std::io::Result<Self> {
        let dir = root.join("networks");
        crate::perms::create_dir_private(&dir)?;
        Ok(NetworkFiles { dir })
    }

    pub fn load_all(&self) -> Vec<NetworkRecord> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            match read_json::<NetworkRecord>(&path) {
                Ok(r) => out.push(r),
                Err(err) => tracing::error!("skipping network file: {err}"),
            }
        }
        out
    }

    pub fn save(&self, record: &NetworkRecord) -> std::io::Result<()> {
        write_json_atomic(&self.dir.join(format!("{}.json", record.id)), record)
    }

    pub fn remove(&self, id: &str) -> std::io::Result<()> {
        match std::fs::remove_file(self.dir.join(format!("{id}.json"))) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}
