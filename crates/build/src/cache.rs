//! The build cache index: step key → image id, in `<data-root>/build/cache.json`
//! (not in image labels, so users never see it). A key hashes the parent
//! image, the expanded instruction and, for COPY/ADD, the sources' content.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Serialises read-modify-write of the index across concurrent builds.
static LOCK: Mutex<()> = Mutex::new(());

pub struct CacheIndex {
    path: PathBuf,
    /// Read once per build: a cached rebuild looks up every step.
    snapshot: Mutex<BTreeMap<String, String>>,
}

pub fn key(parent: Option<&str>, created_by: &str, extra: &str) -> String {
    let mut h = Sha256::new();
    h.update(parent.unwrap_or("scratch").as_bytes());
    h.update([0]);
    h.update(created_by.as_bytes());
    h.update([0]);
    h.update(extra.as_bytes());
    hex::encode(h.finalize())
}

impl CacheIndex {
    pub fn new(data_root: &Path) -> Self {
        let mut index = CacheIndex {
            path: data_root.join("build").join("cache.json"),
            snapshot: Mutex::new(BTreeMap::new()),
        };
        let _g = LOCK.lock();
        index.snapshot = Mutex::new(index.load());
        index
    }

    fn load(&self) -> BTreeMap<String, String> {
        fs::read(&self.path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    pub fn get(&self, key: &str) -> Option<String> {
        self.snapshot.lock().get(key).cloned()
    }

    /// Adds an entry; re-reads the file first so concurrent builds' entries survive.
    pub fn put(&self, key: &str, image: &str) -> std::io::Result<()> {
        self.snapshot
            .lock()
            .insert(key.to_string(), image.to_string());
        let _g = LOCK.lock();
        let mut map = self.load();
        map.insert(key.to_string(), image.to_string());
        self.save(&map)
    }

    /// The images of every cached step (an image may serve several).
    pub fn images(&self) -> std::collections::BTreeSet<String> {
        let _g = LOCK.lock();
        self.load().into_values().collect()
    }

    /// Forgets every cached step (`POST /build/prune`): later builds run
    /// each step again. Answers how many entries went.
    pub fn clear(&self) -> std::io::Result<usize> {
        self.snapshot.lock().clear();
        let _g = LOCK.lock();
        let n = self.load().len();
        if n > 0 {
            self.save(&BTreeMap::new())?;
        }
        Ok(n)
    }

    fn save(&self, map: &BTreeMap<String, String>) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            engine::perms::create_dir_private(dir)?;
        }
        // A crash leaves the old or the new index, and concurrent builds
        // each write a temp file of their own.
        cas::write_atomic(&self.path, &serde_json::to_vec(map)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_persist_and_concurrent_builds_merge() {
        let root = tempfile::tempdir().unwrap();
        let a = CacheIndex::new(root.path());
        let b = CacheIndex::new(root.path());
        let k1 = key(Some("sha256:p"), "RUN x", "");
        let k2 = key(None, "RUN x", "");
        assert_ne!(k1, k2, "the parent is part of the key");
        a.put(&k1, "sha256:one").unwrap();
        b.put(&k2, "sha256:two").unwrap();
        assert_eq!(a.get(&k1).as_deref(), Some("sha256:one"));
        let fresh = CacheIndex::new(root.path());
        assert_eq!(fresh.get(&k1).as_deref(), Some("sha256:one"));
        assert_eq!(fresh.get(&k2).as_deref(), Some("sha256:two"));
    }
}
