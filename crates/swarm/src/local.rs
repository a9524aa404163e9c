//! What a node keeps on its own disk about its cluster membership, under
//! `<data-root>/swarm/`: `state.json` (who it is, its role, where the
//! managers are, how its etcd member was started) and `certs/` (the root it
//! trusts, its certificate and key, and on managers the cluster's data
//! key, which seals secrets and so must never be in etcd), and on managers
//! `etcd-tls/` (the etcd member's certificate and key). The private keys
//! are wrapped with the cluster's unlock key while autolock is on
//! (`autolock.rs`). Cluster-wide state never lives here: that is etcd's.
//! Everything is written atomically and readable by root only.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use zeroize::Zeroizing;

use crate::autolock::{self, LockError, UnlockKey};
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

/// A manager's private material as it is in memory once read (unlocked).
#[derive(Clone)]
pub struct ManagerKeys {
    /// The node's TLS key (PEM).
    pub node_key: Zeroizing<String>,
    pub data_key: DataKey,
    /// The etcd member's TLS key (PEM).
    pub member_key: Zeroizing<String>,
}

impl std::fmt::Debug for ManagerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ManagerKeys(<redacted>)")
    }
}

/// The files that hold private keys: wrapped with the unlock key while
/// autolock is on, plain otherwise. Each is read on its own (plain or
/// wrapped), so a change of key that a crash cut short still reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Private {
    NodeKey,
    DataKey,
    MemberKey,
}

impl Private {
    const ALL: [Private; 3] = [Private::NodeKey, Private::DataKey, Private::MemberKey];

    fn rel(self) -> &'static str {
        match self {
            Private::NodeKey => "certs/node-key.pem",
            Private::DataKey => "certs/data.key",
            Private::MemberKey => "etcd-tls/member-key.pem",
        }
    }

    /// The wrapped file's associated data.
    fn label(self) -> &'static str {
        match self {
            Private::NodeKey => "node-key",
            Private::DataKey => "data-key",
            Private::MemberKey => "etcd-member-key",
        }
    }
}

/// While the files go from one unlock key to the next, each key wrapped by
/// the other: whichever of the two the user gives, a crash midway leaves
/// files that open.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rotation {
    /// The old key, wrapped by the new one.
    previous: String,
    /// The new key, wrapped by the old one.
    next: String,
}

const ROTATION_PREVIOUS: &str = "rotation-previous";
const ROTATION_NEXT: &str = "rotation-next";

/// A private file as read.
struct Opened {
    plain: Zeroizing<String>,
    /// Which of the keys tried opened it; `None`: it was plain.
    by: Option<usize>,
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

    /// The etcd member's CA and certificate (its key is [`Private::MemberKey`]).
    pub fn etcd_tls_dir(&self) -> PathBuf {
        self.dir.join("etcd-tls")
    }

    fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    fn certs(&self) -> PathBuf {
        self.dir.join("certs")
    }

    fn rotation_path(&self) -> PathBuf {
        self.certs().join("unlock-rotation.json")
    }

    fn path_of(&self, which: Private) -> PathBuf {
        self.dir.join(which.rel())
    }

    /// The membership, or `None` for a node that is in no swarm.
    pub fn load_membership(&self) -> io::Result<Option<Membership>> {
        match cas::read_json(&self.state_path()) {
            Ok(m) => Ok(Some(m)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The root this node trusts and its certificate, with its key as `key_pem`.
    pub fn credentials(&self, key_pem: &str) -> io::Result<NodeCredentials> {
        let read = |name: &str| std::fs::read_to_string(self.certs().join(name));
        Ok(NodeCredentials {
            ca_pem: read("ca.pem")?,
            cert_pem: read("node.pem")?,
            key_pem: key_pem.to_string(),
        })
    }

    /// A worker's credentials (a worker's key is never wrapped).
    pub fn load_worker(&self) -> Result<NodeCredentials, LockError> {
        let key = self
            .read_private(Private::NodeKey, &[])?
            .ok_or_else(|| missing(&self.path_of(Private::NodeKey)))?;
        let dir = self.certs();
        self.credentials(&key.plain).map_err(|e| io_error(&dir, e))
    }

    /// Whether a key is needed to read this node's private files.
    pub fn is_locked(&self) -> Result<bool, LockError> {
        for which in Private::ALL {
            let path = self.path_of(which);
            match std::fs::read_to_string(&path) {
                Ok(text) if autolock::is_wrapped(&text) => return Ok(true),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error(&path, e)),
            }
        }
        Ok(false)
    }

    /// One private file's plain text and which of `keys` opened it;
    /// `Ok(None)` if there is no such file.
    fn read_private(
        &self,
        which: Private,
        keys: &[UnlockKey],
    ) -> Result<Option<Opened>, LockError> {
        let path = self.path_of(which);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => Zeroizing::new(t),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(&path, e)),
        };
        if !autolock::is_wrapped(&text) {
            return Ok(Some(Opened {
                plain: text,
                by: None,
            }));
        }
        if keys.is_empty() {
            return Err(LockError::Locked);
        }
        for (i, key) in keys.iter().enumerate() {
            match autolock::unwrap(key, which.label(), &text) {
                Ok(plain) => {
                    let plain = String::from_utf8(plain.to_vec())
                        .map_err(|_| LockError::Corrupt(path.display().to_string()))?;
                    return Ok(Some(Opened {
                        plain: Zeroizing::new(plain),
                        by: Some(i),
                    }));
                }
                Err(LockError::WrongKey) => continue,
                Err(LockError::Corrupt(_)) => {
                    return Err(LockError::Corrupt(path.display().to_string()));
                }
                Err(e) => return Err(e),
            }
        }
        Err(LockError::WrongKey)
    }

    /// Writes one private file, wrapped when `key` is given.
    pub fn write_private(
        &self,
        which: Private,
        plain: &str,
        key: Option<&UnlockKey>,
    ) -> Result<(), LockError> {
        let path = self.path_of(which);
        if let Some(dir) = path.parent() {
            create_private_dir(&self.dir)
                .and_then(|()| create_private_dir(dir))
                .map_err(|e| io_error(dir, e))?;
        }
        let data = match key {
            Some(k) => Zeroizing::new(autolock::wrap(k, which.label(), plain.as_bytes())?),
            None => Zeroizing::new(plain.to_string()),
        };
        cas::write_atomic(&path, data.as_bytes()).map_err(|e| io_error(&path, e))
    }

    /// A manager's private files, opened with `key` (`None`: they must be
    /// plain). A change of key that a crash cut short is finished here,
    /// to `key`.
    pub fn open_manager_keys(&self, key: Option<&UnlockKey>) -> Result<ManagerKeys, LockError> {
        let mut keys: Vec<UnlockKey> = key.into_iter().cloned().collect();
        let rotating = match key {
            Some(k) => self.rotation_partner(k)?,
            None => None,
        };
        let interrupted = rotating.is_some();
        keys.extend(rotating);
        let mut mixed = false;
        let mut read = |which: Private| -> Result<Zeroizing<String>, LockError> {
            let opened = self
                .read_private(which, &keys)?
                .ok_or_else(|| missing(&self.path_of(which)))?;
            // Plain, or under the other key: rewritten below.
            mixed |= key.is_some() && opened.by != Some(0);
            Ok(opened.plain)
        };
        let node_key = read(Private::NodeKey)?;
        let data_text = read(Private::DataKey)?;
        // A manager of a cluster in an external etcd has no member key.
        let member_key = if self.path_of(Private::MemberKey).exists() {
            read(Private::MemberKey)?
        } else {
            Zeroizing::new(String::new())
        };
        let data_key = DataKey::from_file(&data_text).map_err(|_| {
            LockError::Corrupt(self.path_of(Private::DataKey).display().to_string())
        })?;
        let out = ManagerKeys {
            node_key,
            data_key,
            member_key,
        };
        if let Some(k) = key
            && (mixed || interrupted)
        {
            self.rewrap(&out, None, Some(k))?;
        }
        Ok(out)
    }

    /// The other key of an interrupted change from or to `key`.
    fn rotation_partner(&self, key: &UnlockKey) -> Result<Option<UnlockKey>, LockError> {
        let path = self.rotation_path();
        let rotation: Rotation = match cas::read_json(&path) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(&path, e)),
        };
        let other = |label: &str, text: &str| match autolock::unwrap(key, label, text) {
            Ok(bytes) => {
                let human = String::from_utf8(bytes.to_vec()).ok().map(Zeroizing::new);
                human.and_then(|h| UnlockKey::parse(&h).ok())
            }
            Err(_) => None,
        };
        Ok(other(ROTATION_NEXT, &rotation.next)
            .or_else(|| other(ROTATION_PREVIOUS, &rotation.previous)))
    }

    /// Rewrites every private file for `to` (`None`: plain), from files
    /// that `from` wraps now.
    pub fn rewrap(
        &self,
        keys: &ManagerKeys,
        from: Option<&UnlockKey>,
        to: Option<&UnlockKey>,
    ) -> Result<(), LockError> {
        let rotation = self.rotation_path();
        if let (Some(old), Some(new)) = (from, to)
            && old != new
        {
            let record = Rotation {
                previous: autolock::wrap(new, ROTATION_PREVIOUS, old.to_human().as_bytes())?,
                next: autolock::wrap(old, ROTATION_NEXT, new.to_human().as_bytes())?,
            };
            cas::write_json_atomic(&rotation, &record).map_err(|e| io_error(&rotation, e))?;
        }
        self.write_private(Private::NodeKey, &keys.node_key, to)?;
        self.write_private(Private::DataKey, &keys.data_key.to_file(), to)?;
        if !keys.member_key.is_empty() {
            self.write_private(Private::MemberKey, &keys.member_key, to)?;
        }
        match std::fs::remove_file(&rotation) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error(&rotation, e)),
        }
    }

    /// Certificates first, state last: a crash in between leaves a node
    /// that is in no swarm (state.json is what says it joined), never one
    /// whose state points at certificates that are not there.
    pub fn save(
        &self,
        membership: &Membership,
        creds: &NodeCredentials,
        key: Option<&UnlockKey>,
    ) -> Result<(), LockError> {
        let certs = self.certs();
        create_private_dir(&self.dir)
            .and_then(|()| create_private_dir(&certs))
            .map_err(|e| io_error(&certs, e))?;
        for (name, pem) in [("ca.pem", &creds.ca_pem), ("node.pem", &creds.cert_pem)] {
            let path = certs.join(name);
            cas::write_atomic(&path, pem.as_bytes()).map_err(|e| io_error(&path, e))?;
        }
        self.write_private(Private::NodeKey, &creds.key_pem, key)?;
        self.save_membership(membership)
            .map_err(|e| io_error(&self.state_path(), e))
    }

    /// Keeps the cluster's data key (managers only). Written before the
    /// state file at init, so a manager with a state always has its key.
    pub fn save_data_key(
        &self,
        key: &DataKey,
        unlock: Option<&UnlockKey>,
    ) -> Result<(), LockError> {
        self.write_private(Private::DataKey, &key.to_file(), unlock)
    }

    /// A demoted manager keeps no cluster key and no etcd member key.
    pub fn forget_manager_keys(&self) -> io::Result<()> {
        for p in [Private::DataKey, Private::MemberKey] {
            match std::fs::remove_file(self.dir.join(p.rel())) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
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

fn io_error(path: &Path, source: io::Error) -> LockError {
    LockError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn missing(path: &Path) -> LockError {
    io_error(path, io::Error::from(io::ErrorKind::NotFound))
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

    fn keys() -> ManagerKeys {
        ManagerKeys {
            node_key: Zeroizing::new("node key".into()),
            data_key: DataKey::generate().unwrap(),
            member_key: Zeroizing::new("member key".into()),
        }
    }

    /// A manager's files as init writes them.
    fn manager(local: &LocalState, k: &ManagerKeys, unlock: Option<&UnlockKey>) {
        let mut c = creds();
        c.key_pem = k.node_key.to_string();
        local.save_data_key(&k.data_key, unlock).unwrap();
        local
            .write_private(Private::MemberKey, &k.member_key, unlock)
            .unwrap();
        local.save(&membership(), &c, unlock).unwrap();
    }

    fn same(a: &ManagerKeys, b: &ManagerKeys) {
        assert_eq!(*a.node_key, *b.node_key);
        assert_eq!(*a.member_key, *b.member_key);
        assert_eq!(*a.data_key.to_file(), *b.data_key.to_file());
    }

    fn file(local: &LocalState, which: Private) -> String {
        std::fs::read_to_string(local.dir().join(which.rel())).unwrap()
    }

    #[test]
    fn a_node_in_no_swarm_has_no_state() {
        let root = tempfile::tempdir().unwrap();
        assert!(
            LocalState::new(root.path())
                .load_membership()
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn membership_and_certificates_round_trip_privately() {
        let root = tempfile::tempdir().unwrap();
        let local = LocalState::new(root.path());
        local.save(&membership(), &creds(), None).unwrap();
        assert_eq!(local.load_membership().unwrap().unwrap(), membership());
        let c = local.load_worker().unwrap();
        assert_eq!(c.key_pem, "key");
        assert_eq!(c.cert_pem, "cert");
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
        let k = keys();
        manager(&local, &k, None);
        let path = local.dir().join("certs/data.key");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let back = local.open_manager_keys(None).unwrap();
        same(&back, &k);
        std::fs::write(&path, b"junk").unwrap();
        let err = local.open_manager_keys(None).unwrap_err();
        assert!(err.to_string().contains("data.key"), "{err}");
    }

    #[test]
    fn wrapped_files_open_only_with_their_key() {
        let root = tempfile::tempdir().unwrap();
        let local = LocalState::new(root.path());
        let k = keys();
        let unlock = UnlockKey::generate().unwrap();
        manager(&local, &k, Some(&unlock));
        assert!(local.is_locked().unwrap());
        for which in Private::ALL {
            let text = file(&local, which);
            assert!(autolock::is_wrapped(&text), "{which:?}");
            assert!(!text.contains("key\n") && !text.contains("node key"));
            let mode = std::fs::metadata(local.dir().join(which.rel()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{which:?}");
        }
        // Without a key: locked; with another: dockerd's wrong-key error.
        assert!(matches!(
            local.open_manager_keys(None),
            Err(LockError::Locked)
        ));
        assert!(matches!(local.load_worker(), Err(LockError::Locked)));
        let other = UnlockKey::generate().unwrap();
        assert!(matches!(
            local.open_manager_keys(Some(&other)),
            Err(LockError::WrongKey)
        ));
        same(&local.open_manager_keys(Some(&unlock)).unwrap(), &k);
        // A wrapped file copied over another does not open.
        std::fs::copy(
            local.dir().join(Private::NodeKey.rel()),
            local.dir().join(Private::MemberKey.rel()),
        )
        .unwrap();
        assert!(matches!(
            local.open_manager_keys(Some(&unlock)),
            Err(LockError::WrongKey)
        ));
    }

    #[test]
    fn rotation_rewraps_and_turning_off_writes_plain_files() {
        let root = tempfile::tempdir().unwrap();
        let local = LocalState::new(root.path());
        let k = keys();
        manager(&local, &k, None);
        assert!(!local.is_locked().unwrap());
        let a = UnlockKey::generate().unwrap();
        local.rewrap(&k, None, Some(&a)).unwrap();
        assert!(local.is_locked().unwrap());
        same(&local.open_manager_keys(Some(&a)).unwrap(), &k);

        let b = UnlockKey::generate().unwrap();
        local.rewrap(&k, Some(&a), Some(&b)).unwrap();
        assert!(!local.rotation_path().exists());
        assert!(matches!(
            local.open_manager_keys(Some(&a)),
            Err(LockError::WrongKey)
        ));
        same(&local.open_manager_keys(Some(&b)).unwrap(), &k);

        local.rewrap(&k, Some(&b), None).unwrap();
        assert!(!local.is_locked().unwrap());
        assert_eq!(file(&local, Private::NodeKey), "node key");
        assert_eq!(file(&local, Private::MemberKey), "member key");
        assert_eq!(file(&local, Private::DataKey), *k.data_key.to_file());
        same(&local.open_manager_keys(None).unwrap(), &k);
    }

    #[test]
    fn a_rotation_cut_short_opens_with_either_key_and_is_finished() {
        let root = tempfile::tempdir().unwrap();
        let local = LocalState::new(root.path());
        let k = keys();
        let a = UnlockKey::generate().unwrap();
        let b = UnlockKey::generate().unwrap();
        for (given, other) in [(&a, &b), (&b, &a)] {
            manager(&local, &k, Some(&a));
            // As a crash after the rotation record and the first file.
            let record = Rotation {
                previous: autolock::wrap(&b, ROTATION_PREVIOUS, a.to_human().as_bytes()).unwrap(),
                next: autolock::wrap(&a, ROTATION_NEXT, b.to_human().as_bytes()).unwrap(),
            };
            cas::write_json_atomic(&local.rotation_path(), &record).unwrap();
            local
                .write_private(Private::NodeKey, &k.node_key, Some(&b))
                .unwrap();
            same(&local.open_manager_keys(Some(given)).unwrap(), &k);
            // Finished to the key given: the other one opens nothing now.
            assert!(!local.rotation_path().exists());
            assert!(matches!(
                local.open_manager_keys(Some(other)),
                Err(LockError::WrongKey)
            ));
            same(&local.open_manager_keys(Some(given)).unwrap(), &k);
        }
        // A third key opens nothing, rotation record or not.
        manager(&local, &k, Some(&a));
        let c = UnlockKey::generate().unwrap();
        assert!(matches!(
            local.open_manager_keys(Some(&c)),
            Err(LockError::WrongKey)
        ));
    }

    #[test]
    fn leaving_removes_everything_and_is_idempotent() {
        let root = tempfile::tempdir().unwrap();
        let local = LocalState::new(root.path());
        local.save(&membership(), &creds(), None).unwrap();
        local.clear().unwrap();
        assert!(local.load_membership().unwrap().is_none());
        assert!(!local.dir().exists());
        local.clear().unwrap();
    }

    #[test]
    fn a_corrupt_state_file_is_an_error_naming_it() {
        let root = tempfile::tempdir().unwrap();
        let local = LocalState::new(root.path());
        local.save(&membership(), &creds(), None).unwrap();
        std::fs::write(local.dir().join("state.json"), b"{not json").unwrap();
        let err = local.load_membership().unwrap_err();
        assert!(err.to_string().contains("state.json"), "{err}");
    }
}
