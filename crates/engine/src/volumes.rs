//! Named volumes of the `local` driver: `volumes/<name>/_data` under the data
//! root, with their metadata in `volumes/<name>/volume.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::fsutil::{read_json, write_json_atomic};
use crate::{EngineError, Result, names};

/// Docker's label marking volumes created for `-v /path` and image VOLUMEs.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Volume {
    pub name: String,
    pub driver: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    #[serde(skip)]
    pub mountpoint: PathBuf,
}

impl Volume {
    pub fn anonymous(&self) -> bool {
        self.labels.contains_key(ANONYMOUS_LABEL)
    }
}

pub struct VolumeStore {
    root: PathBuf,
    /// Serialises create/remove so a name is never half-made by two callers.
    lock: Mutex<()>,
}

const META: &str = "volume.json";

impl VolumeStore {
    pub fn open(data_root: &Path) -> std::io::Result<Self> {
        let root = data_root.join("volumes");
        crate::perms::create_dir_private(&root)?;
        // A create that crashed before its metadata landed left a bare directory.
        for entry in std::fs::read_dir(&root)?.flatten() {
            if entry.path().is_dir() && !entry.path().join(META).exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        Ok(VolumeStore {
            root,
            lock: Mutex::new(()),
        })
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// Creates a volume, or returns the existing one of that name (as dockerd does).
    /// The bool tells whether it was created now.
    pub fn create(
        &self,
        name: Option<&str>,
        driver: Option<&str>,
        labels: BTreeMap<String, String>,
        options: BTreeMap<String, String>,
    ) -> Result<(Volume, bool)> {
        match driver.filter(|d| !d.is_empty()) {
            None | Some("local") => {}
            Some(other) => {
                return Err(EngineError::NotFound(format!(
                    "error looking up volume plugin {other}: plugin \"{other}\" not found"
                )));
            }
        }
        if !options.is_empty() {
            return Err(EngineError::NotImplemented(
                "options of the local volume driver (type, device, o)".into(),
            ));
        }
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => {
                if !names::valid_name(n) {
                    return Err(EngineError::InvalidParameter(format!(
                        "create {n}: \"{n}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
                    )));
                }
                // A longer name cannot be a directory name.
                if n.len() > 255 {
                    return Err(EngineError::InvalidParameter(format!(
                        "create {n}: volume name is too long ({} characters, at most 255)",
                        n.len()
                    )));
                }
                if let Ok(v) = self.load(n) {
                    return Ok((v, false));
                }
                n.to_string()
            }
            None => names::new_id(),
        };
        let dir = self.dir(&name);
        let volume = Volume {
            name: name.clone(),
            driver: "local".into(),
            created_at: chrono::Utc::now(),
            labels,
            options,
            mountpoint: dir.join("_data"),
        };
        // volumes/<name> 0700 (Docker: volumes/ 0701, the rest 0755); `_data`
        // 0755 as Docker makes it, since containers see its mode.
        let made = crate::perms::create_dir_private(&dir)
            .and_then(|()| {
                use std::os::unix::fs::DirBuilderExt;
                std::fs::DirBuilder::new()
                    .mode(crate::perms::CONTAINER_DIR)
                    .create(&volume.mountpoint)
            })
            .and_then(|()| write_json_atomic(&dir.join(META), &volume));
        if let Err(err) = made {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(EngineError::internal(
                format!("creating volume {name}"),
                err,
            ));
        }
        Ok((volume, true))
    }

    fn load(&self, name: &str) -> Result<Volume> {
        if !names::valid_name(name) {
            return Err(no_such_volume(name));
        }
        let dir = self.dir(name);
        let mut v: Volume = read_json(&dir.join(META)).map_err(|_| no_such_volume(name))?;
        v.mountpoint = dir.join("_data");
        Ok(v)
    }

    pub fn get(&self, name: &str) -> Result<Volume> {
        self.load(name)
    }

    pub fn list(&self) -> Vec<Volume> {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        let mut out: Vec<Volume> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|n| self.load(n).ok()))
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Deletes the volume and its data; callers check that no container uses it.
    pub fn remove(&self, name: &str) -> Result<()> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.load(name)?;
        let dir = self.dir(name);
        // Metadata first: a crash mid-way leaves a bare dir that open() collects.
        std::fs::remove_file(dir.join(META))
            .map_err(|e| EngineError::internal(format!("removing volume {name}"), e))?;
        std::fs::remove_dir_all(&dir)
            .map_err(|e| EngineError::internal(format!("removing volume {name}"), e))
    }
}

pub fn no_such_volume(name: &str) -> EngineError {
    EngineError::NotFound(format!("get {name}: no such volume"))
}

/// Copies a directory tree without following symlinks, keeping modes and owners:
/// Docker seeds a new volume with what the image has at the mount point.
pub fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    for entry in std::fs::read_dir(src)? {
        let entry = entry?;
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let meta = std::fs::symlink_metadata(&from)?;
        let ft = meta.file_type();
        if ft.is_dir() {
            std::fs::create_dir_all(&to)?;
            copy_tree(&from, &to)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)?;
        } else if ft.is_file() {
            std::fs::copy(&from, &to)?;
        } else {
            // Devices, fifos and sockets are not seeded.
            continue;
        }
        std::os::unix::fs::lchown(&to, Some(meta.uid()), Some(meta.gid()))?;
        if !ft.is_symlink() {
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_get_list_remove() {
        let root = tempfile::tempdir().unwrap();
        let store = VolumeStore::open(root.path()).unwrap();
        let mut labels = BTreeMap::new();
        labels.insert("a".to_string(), "b".to_string());
        let (v, created) = store
            .create(Some("data"), None, labels, BTreeMap::new())
            .unwrap();
        assert!(created && v.mountpoint.is_dir());
        let (again, created) = store
            .create(
                Some("data"),
                Some("local"),
                BTreeMap::new(),
                BTreeMap::new(),
            )
            .unwrap();
        assert!(!created);
        assert_eq!(again.labels.get("a").map(String::as_str), Some("b"));
        let (anon, _) = store
            .create(None, None, BTreeMap::new(), BTreeMap::new())
            .unwrap();
        assert_eq!(anon.name.len(), 64);
        assert_eq!(store.list().len(), 2);
        store.remove("data").unwrap();
        assert!(matches!(store.get("data"), Err(EngineError::NotFound(_))));
        assert!(!root.path().join("volumes/data").exists());
    }

    #[test]
    fn bad_names_and_drivers() {
        let root = tempfile::tempdir().unwrap();
        let store = VolumeStore::open(root.path()).unwrap();
        assert!(
            store
                .create(Some("../x"), None, BTreeMap::new(), BTreeMap::new())
                .is_err()
        );
        assert!(
            store
                .create(Some("x"), Some("nfs"), BTreeMap::new(), BTreeMap::new())
                .is_err()
        );
        assert!(matches!(
            store.get("../../etc"),
            Err(EngineError::NotFound(_))
        ));
    }

    #[test]
    fn half_created_volumes_are_collected() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("volumes/crashed/_data")).unwrap();
        let store = VolumeStore::open(root.path()).unwrap();
        assert!(store.list().is_empty());
        assert!(!root.path().join("volumes/crashed").exists());
    }

    #[test]
    fn copy_keeps_links_modes_and_does_not_follow() {
        use std::os::unix::fs::PermissionsExt;
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        std::fs::create_dir(src.path().join("d")).unwrap();
        std::fs::write(src.path().join("d/f"), b"hi").unwrap();
        std::fs::set_permissions(
            src.path().join("d/f"),
            std::fs::Permissions::from_mode(0o640),
        )
        .unwrap();
        std::os::unix::fs::symlink("/etc", src.path().join("link")).unwrap();
        copy_tree(src.path(), dst.path()).unwrap();
        assert_eq!(std::fs::read(dst.path().join("d/f")).unwrap(), b"hi");
        let mode = std::fs::metadata(dst.path().join("d/f"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o640);
        assert_eq!(
            std::fs::read_link(dst.path().join("link")).unwrap(),
            Path::new("/etc")
        );
    }
}
