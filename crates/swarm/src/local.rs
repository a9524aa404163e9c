//! What a node keeps on its own disk about its cluster membership, under
//! `<data-root>/swarm/`: `state.json` (who it is, its role, where the
//! managers are, how its etcd member was started) and `certs/` (the root it
//! trusts, its certificate and key, and on managers the cluster's data
//! key, which seals secrets and so must never be in etcd). Cluster-wide
//! state never lives here: that is etcd's. Everything is written atomically
//! and readable by root only.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::seal::DataKey;
use crate::tls::NodeCredentials;

/// A node's membership, as `swarm init` or `swarm join` left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Membership {
    pub node_id: String,
    pub cluster_id: String,
    pub manager: bool,
    /// The address other nodes reach this one at (host:port of the cluster port).
    pub advertise_addr: String,
    /// Where this node listens for the cluster port (managers only serve it).
    pub listen_addr: String,
    /// The data-path address overlay traffic uses (the advertise host by default).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub data_path_addr: String,
    /// Manager addresses known at the last contact, tried in order.
    pub remote_managers: Vec<String>,
    /// How to reach the cluster store (managers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<StoreSettings>,
}

/// The cluster store a manager uses: a member it runs itself, or etcd
/// endpoints it was given (`--cluster-store`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreSettings {
    pub endpoints: Vec<String>,
    /// Set when this daemon runs the member: its name and URLs, so a restart
    /// starts it again with the same identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<MemberSettings>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberSettings {
    pub name: String,
    pub client_url: String,
    pub peer_url: String,
}

/// The files of one node's swarm directory.
#[derive(Debug, Clone)]
pub struct LocalState {
    dir: PathBuf,
}

impl LocalState {
    pub fn new(data_root: &Path) -> LocalState {
        LocalState {
            dir: data_root.join("swarm"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where a managed etcd member keeps its data.
    pub fn etcd_dir(&self) -> PathBuf {
        self.dir.join("etcd")
    }

    fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    fn certs(&self) -> PathBuf {
        self.dir.join("certs")
    }

    /// The membership, or `None` for a node that is in no swarm.
    pub fn load(&self) -> io::Result<Option<(Membership, NodeCredentials)>> {
        let membership: Membership = match cas::read_json(&self.state_path()) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let read = |name: &str| std::fs::read_to_string(self.certs().join(name));
        let creds = NodeCredentials {
            ca_pem: read("ca.pem")?,
            cert_pem: read("node.pem")?,
            key_pem: read("node-key.pem")?,
        };
        Ok(Some((membership, creds)))
    }

    /// Certificates first, state last: a crash in between leaves a node
    /// that is in no swarm (state.json is what says it joined), never one
    /// whose state points at certificates that are not there.
    pub fn save(&self, membership: &Membership, creds: &NodeCredentials) -> io::Result<()> {
        let certs = self.certs();
        create_private_dir(&self.dir)?;
        create_private_dir(&certs)?;
        cas::write_atomic(&certs.join("ca.pem"), creds.ca_pem.as_bytes())?;
        cas::write_atomic(&certs.join("node.pem"), creds.cert_pem.as_bytes())?;
        cas::write_atomic(&certs.join("node-key.pem"), creds.key_pem.as_bytes())?;
        cas::write_json_atomic(&self.state_path(), membership)
    }

    fn data_key_path(&self) -> PathBuf {
        self.certs().join("data.key")
    }

    /// Keeps the cluster's data key (managers only). Written before the
    /// state file at init, so a manager with a state always has its key.
    pub fn save_data_key(&self, key: &DataKey) -> io::Result<()> {
        create_private_dir(&self.dir)?;
        create_private_dir(&self.certs())?;
        cas::write_atomic(&self.data_key_path(), key.to_file().as_bytes())
    }

    pub fn load_data_key(&self) -> io::Result<DataKey> {
        let path = self.data_key_path();
        let text = zeroize::Zeroizing::new(std::fs::read_to_string(&path)?);
        DataKey::from_file(&text).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })
    }

    /// A demoted manager keeps no cluster key.
    pub fn forget_data_key(&self) -> io::Result<()> {
        match std::fs::remove_file(self.data_key_path()) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Updates the membership only (role changes, new manager list).
    pub fn save_membership(&self, membership: &Membership) -> io::Result<()> {
        cas::write_json_atomic(&self.state_path(), membership)
    }

    /// Leaves: the state file goes first, so a crash midway leaves a node
    /// in no swarm with stale files that the next init or join replaces.
    pub fn clear(&self) -> io::Result<()> {
        match std::fs::remove_file(self.state_path()) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    // An existing directory keeps whatever mode it had otherwise.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn membership() -> Membership {
        Membership {
            node_id: "n1".into(),
            cluster_id: "c1".into(),
            manager: true,
            advertise_addr: "10.0.0.1:2377".into(),
            listen_addr: "0.0.0.0:2377".into(),
            data_path_addr: String::new(),
            remote_managers: vec!["10.0.0.1:2377".into()],
            store: Some(StoreSettings {
                endpoints: vec!["https://10.0.0.1:2379".into()],
                member: Some(MemberSettings {
                    name: "n1".into(),
                    client_url: "https://10.0.0.1:2379".into(),
                    peer_url: "https://10.0.0.1:2380".into(),
                }),
            }),
        }
    }

    fn creds() -> NodeCredentials {
        NodeCredentials {
            ca_pem: "ca".into(),
            cert_pem: "cert".into(),
            key_pem: "key".into(),
        }
    }

    #[test]
    fn a_node_in_no_swarm_has_no_state() {
        let root = tempfile::tempdir().unwrap();
        assert!(LocalState::new(root.path()).load().unwrap().is_none());
    }

    #[test]
    fn membership_and_certificates_round_trip_privately() {
        let root = tempfile::tempdir().unwrap();
        let local = LocalState::new(root.path());
        local.save(&membership(), &creds()).unwrap();
        let (m, c) = local.load().unwrap().unwrap();
        assert_eq!(m, membership());
        assert_eq!(c.key_pem, "key");
        for p in [local.dir().to_path_buf(), local.dir().join("certs")] {
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", p.display());
        }
        let key = local.dir().join("certs/node-key.pem");
        assert_eq!(
            std::fs::metadata(key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn the_data_key_is_kept_privately_beside_the_certificates() {
        let root = tempfile::tempdir().unwrap();
        let local = LocalState::new(root.path());
        let key = DataKey::generate().unwrap();
        local.save_data_key(&key).unwrap();
        let path = local.dir().join("certs/data.key");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let back = local.load_data_key().unwrap();
        let sealed = key.seal("s", b"x").unwrap();
        assert_eq!(back.open("s", &sealed).unwrap().as_slice(), b"x");
        std::fs::write(&path, b"junk").unwrap();
        let err = local.load_data_key().unwrap_err();
        assert!(err.to_string().contains("data.key"), "{err}");
    }

    #[test]
    fn leaving_removes_everything_and_is_idempotent() {
        let root = tempfile::tempdir().unwrap();
        let local = LocalState::new(root.path());
        local.save(&membership(), &creds()).unwrap();
        local.clear().unwrap();
        assert!(local.load().unwrap().is_none());
        assert!(!local.dir().exists());
        local.clear().unwrap();
    }

    #[test]
    fn a_corrupt_state_file_is_an_error_naming_it() {
        let root = tempfile::tempdir().unwrap();
        let local = LocalState::new(root.path());
        local.save(&membership(), &creds()).unwrap();
        std::fs::write(local.dir().join("state.json"), b"{not json").unwrap();
        let err = local.load().unwrap_err();
        assert!(err.to_string().contains("state.json"), "{err}");
    }
}
