//! Unpacked layers (`snapshots/<chainid-hex>/fs`, one per chain id so a layer
//! shared by many images is unpacked once) and container writable layers
//! (`snapshots/rw/<container-id>/{fs,work,merged}`).

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{ImageError, IoContext};
use crate::fsutil::{
    self, TMP_PREFIX, digest_hex, fsync_dir, sha256_digest, unique_name, write_atomic,
};
use crate::mount;
use crate::reference::is_full_hex_id;

const META: &str = "meta.json";
const RW: &str = "rw";
const RW_META: &str = "layer.json";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SnapshotMeta {
    pub chain_id: String,
    pub diff_id: String,
    pub parent: Option<String>,
    /// Bytes of file content in this layer alone.
    pub size: u64,
}

/// What a container's writable layer sits on; recorded at creation so that
/// the layer keeps working (and keeps its snapshots alive) after a forced
/// `rmi` of its image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RwMeta {
    pub container_id: String,
    pub image_id: String,
    /// Bottom layer first.
    pub chain_ids: Vec<String>,
    /// Host uid and gid of the container's root when it runs remapped
    /// (`--userns-remap`): the upper dir holds host ids, and the lowers are
    /// mounted through the store's idmapped view.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remapped_root: Option<(u32, u32)>,
}

/// OCI chain ids: `chain[0] = diff[0]`, `chain[n] = sha256(chain[n-1] + " " + diff[n])`.
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(prev) => sha256_digest(format!("{prev} {d}").as_bytes()),
        };
        out.push(next);
    }
    out
}

#[derive(Debug)]
pub struct SnapshotStore {
    root: PathBuf,
    /// An idmapped bind of `root` for remapped containers' lower layers.
    remap_view: std::sync::RwLock<Option<PathBuf>>,
}

/// A snapshot being unpacked; removed on drop unless committed.
pub struct TempSnapshot {
    dir: PathBuf,
    committed: bool,
}

impl TempSnapshot {
    pub fn fs(&self) -> PathBuf {
        self.dir.join("fs")
    }
}

impl Drop for TempSnapshot {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fsutil::remove_all(&self.dir);
        }
    }
}

fn valid_container_id(id: &str) -> Result<(), ImageError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ImageError::InvalidArgument(format!(
            "invalid container id {id:?}"
        )))
    }
}

impl SnapshotStore {
    pub fn open(root: &Path) -> Result<Self, ImageError> {
        let s = SnapshotStore {
            root: root.to_path_buf(),
            remap_view: std::sync::RwLock::new(None),
        };
        fsutil::create_dir_private(&s.root.join(RW))
            .ctx(|| format!("create {}", root.display()))?;
        for dir in [s.root.clone(), s.root.join(RW)] {
            // Layers and writable layers come and go as trees of their own
            // (see cas::spread); a filesystem without the hint is fine.
            let _ = cas::spread::spread_subdirs(&dir);
            for e in fs::read_dir(&dir).ctx(|| format!("read {}", dir.display()))? {
                let e = e?;
                if e.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
                    // Leftover of an unpack or removal cut short by a crash
                    // (or by a stop before the reaper was done).
                    cas::reaper::remove_later(e.path());
                }
            }
        }
        Ok(s)
    }

    pub fn prepare(&self) -> Result<TempSnapshot, ImageError> {
        let dir = self.root.join(unique_name());
        fsutil::create_dir_mode(&dir, fsutil::PRIVATE_DIR)
            .ctx(|| format!("create {}", dir.display()))?;
        let t = TempSnapshot {
            dir,
            committed: false,
        };
        // The layer's own root entry (if any) sets its final mode.
        fsutil::create_dir_mode(&t.fs(), fsutil::LAYER_ROOT).ctx(|| "create snapshot fs".into())?;
        Ok(t)
    }

    fn dir(&self, chain_id: &str) -> PathBuf {
        self.root.join(digest_hex(chain_id))
    }

    pub fn fs_path(&self, chain_id: &str) -> PathBuf {
        self.dir(chain_id).join("fs")
    }

    pub fn exists(&self, chain_id: &str) -> bool {
        self.dir(chain_id).join(META).is_file()
    }

    /// Moves the unpacked tree into place. Returns false when the snapshot
    /// already existed (the new copy is discarded: same chain id, same content).
    pub fn commit(&self, mut tmp: TempSnapshot, meta: &SnapshotMeta) -> Result<bool, ImageError> {
        let dest = self.dir(&meta.chain_id);
        if dest.exists() {
            return Ok(false);
        }
        write_atomic(&tmp.dir.join(META), &serde_json::to_vec_pretty(meta)?)
            .ctx(|| "write snapshot meta".into())?;
        // The rename publishes the snapshot; its files must be on disk first.
        fsutil::sync_tree(&tmp.dir).ctx(|| format!("sync {}", tmp.dir.display()))?;
        fs::rename(&tmp.dir, &dest).ctx(|| format!("commit snapshot {}", dest.display()))?;
        tmp.committed = true;
        fsync_dir(&self.root).ctx(|| "fsync snapshots".into())?;
        Ok(true)
    }

    pub fn meta(&self, chain_id: &str) -> Result<SnapshotMeta, ImageError> {
        let p = self.dir(chain_id).join(META);
        let data = fs::read(&p).ctx(|| format!("read {}", p.display()))?;
        Ok(serde_json::from_slice(&data)?)
    }

    /// Chain ids of all committed snapshots.
    pub fn list(&self) -> Result<Vec<String>, ImageError> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.root).ctx(|| format!("read {}", self.root.display()))? {
            let name = e?.file_name();
            if let Some(n) = name.to_str().filter(|n| is_full_hex_id(n)) {
                out.push(format!("sha256:{n}"));
            }
        }
        Ok(out)
    }

    pub fn remove(&self, chain_id: &str) -> Result<(), ImageError> {
        let d = self.dir(chain_id);
        fsutil::remove_tree_atomic(&d).ctx(|| format!("remove {}", d.display()))
    }

    fn rw_dir(&self, container_id: &str) -> Result<PathBuf, ImageError> {
        valid_container_id(container_id)?;
        Ok(self.root.join(RW).join(container_id))
    }

    /// Creates `fs` (upper), `work` and `merged`; idempotent for the same image.
    /// Makes `view` an idmapped bind of the store (ids shifted by `userns`)
    /// through which remapped containers' lower layers are mounted. A view
    /// left by an earlier daemon is replaced: overlays mounted through it
    /// keep their own references.
    pub fn enable_remap_view(
        &self,
        view: &Path,
        userns: std::os::fd::BorrowedFd<'_>,
    ) -> Result<(), ImageError> {
        mount::unmount(view)?;
        fsutil::create_dir_private(view).ctx(|| format!("create {}", view.display()))?;
        mount::bind_idmapped(&self.root, view, userns)?;
        *self.remap_view.write().unwrap_or_else(|e| e.into_inner()) = Some(view.to_path_buf());
        Ok(())
    }

    /// `remapped_root`: the host owner of a remapped container's root (its
    /// upper dir's top is chowned to it); `None` for a container that runs
    /// in the host's user namespace.
    pub fn create_rw(
        &self,
        container_id: &str,
        image_id: &str,
        chain_ids: &[String],
        remapped_root: Option<(u32, u32)>,
    ) -> Result<(), ImageError> {
        let dir = self.rw_dir(container_id)?;
        if dir.exists() {
            let existing = self.rw_meta(container_id)?;
            if existing.image_id == image_id {
                return Ok(());
            }
            return Err(ImageError::Conflict(format!(
                "writable layer of container {container_id} already exists for another image"
            )));
        }
        for c in chain_ids {
            if !self.exists(c) {
                return Err(ImageError::Corrupt(format!("missing layer snapshot {c}")));
            }
        }
        let tmp = self.root.join(RW).join(unique_name());
        let build = || -> Result<(), ImageError> {
            // fs is the container's `/` (overlay shows the upper dir's mode);
            // work and merged (a mountpoint) are ours.
            fsutil::create_dir_mode(&tmp, fsutil::PRIVATE_DIR)
                .ctx(|| format!("create {}", tmp.display()))?;
            for (sub, mode) in [
                ("fs", fsutil::LAYER_ROOT),
                ("work", fsutil::PRIVATE_DIR),
                ("merged", fsutil::PRIVATE_DIR),
            ] {
                fsutil::create_dir_mode(&tmp.join(sub), mode)
                    .ctx(|| format!("create {}", tmp.display()))?;
            }
            let meta = RwMeta {
                container_id: container_id.to_string(),
                image_id: image_id.to_string(),
                chain_ids: chain_ids.to_vec(),
                remapped_root,
            };
            if let Some((uid, gid)) = remapped_root {
                std::os::unix::fs::lchown(tmp.join("fs"), Some(uid), Some(gid))
                    .ctx(|| format!("chown {}", tmp.display()))?;
            }
            write_atomic(&tmp.join(RW_META), &serde_json::to_vec_pretty(&meta)?)
                .ctx(|| "write layer meta".into())?;
            fs::rename(&tmp, &dir).ctx(|| format!("create {}", dir.display()))?;
            fsync_dir(&self.root.join(RW)).ctx(|| "fsync rw".into())
        };
        let r = build();
        if r.is_err() {
            let _ = fsutil::remove_all(&tmp);
        }
        r
    }

    pub fn rw_meta(&self, container_id: &str) -> Result<RwMeta, ImageError> {
        let p = self.rw_dir(container_id)?.join(RW_META);
        match fs::read(&p) {
            Ok(d) => Ok(serde_json::from_slice(&d)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ImageError::NotFound(
                format!("writable layer of container {container_id}"),
            )),
            Err(e) => Err(ImageError::io(format!("read {}", p.display()), e)),
        }
    }

    pub fn list_rw(&self) -> Result<Vec<RwMeta>, ImageError> {
        let dir = self.root.join(RW);
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).ctx(|| format!("read {}", dir.display()))? {
            let name = e?.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(TMP_PREFIX) {
                continue;
            }
            out.push(self.rw_meta(&name)?);
        }
        Ok(out)
    }

    /// The container's overlay upper dir (what `commit` turns into a layer).
    pub fn upper_path(&self, container_id: &str) -> Result<PathBuf, ImageError> {
        Ok(self.rw_dir(container_id)?.join("fs"))
    }

    pub fn merged_path(&self, container_id: &str) -> Result<PathBuf, ImageError> {
        Ok(self.rw_dir(container_id)?.join("merged"))
    }

    pub fn mount_rw(&self, container_id: &str) -> Result<PathBuf, ImageError> {
        let meta = self.rw_meta(container_id)?;
        let dir = self.rw_dir(container_id)?;
        let merged = dir.join("merged");
        if mount::is_mounted(&merged)? {
            return Ok(merged);
        }
        let base = match meta.remapped_root {
            None => self.root.clone(),
            Some(_) => self
                .remap_view
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
                .ok_or_else(|| {
                    ImageError::Conflict(format!(
                        "container {container_id} was created with --userns-remap; start the daemon with it to use this container"
                    ))
                })?,
        };
        let lowers: Vec<PathBuf> = meta
            .chain_ids
            .iter()
            .rev()
            .map(|c| base.join(digest_hex(c)).join("fs"))
            .collect();
        if lowers.is_empty() {
            // overlayfs needs a lower layer; an image without layers gets an empty one.
            let empty = dir.join("empty");
            fsutil::create_dir_private(&empty).ctx(|| format!("create {}", empty.display()))?;
            mount::mount_overlay(&[empty], &dir.join("fs"), &dir.join("work"), &merged)?;
        } else {
            mount::mount_overlay(&lowers, &dir.join("fs"), &dir.join("work"), &merged)?;
        }
        Ok(merged)
    }

    pub fn unmount_rw(&self, container_id: &str) -> Result<(), ImageError> {
        mount::unmount(&self.merged_path(container_id)?)
    }

    pub fn remove_rw(&self, container_id: &str) -> Result<(), ImageError> {
        let dir = self.rw_dir(container_id)?;
        if !dir.exists() {
            return Ok(());
        }
        mount::unmount(&dir.join("merged"))?;
        fsutil::remove_tree_atomic(&dir).ctx(|| format!("remove {}", dir.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_id_rule() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        let c = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(c[0], a);
        assert_eq!(c[1], sha256_digest(format!("{a} {b}").as_bytes()));
        assert!(chain_ids(&[]).is_empty());
    }

    #[test]
    fn container_ids() {
        assert!(valid_container_id("abc123").is_ok());
        for bad in ["", "..", ".x", "a/b", "a b"] {
            assert!(valid_container_id(bad).is_err(), "{bad}");
        }
    }
}
