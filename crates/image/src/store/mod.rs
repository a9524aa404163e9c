//! The image store: ties content, snapshots and the image index together
//! and implements the operations the engine calls. This file opens the store
//! and keeps its on-disk state; each operation lives in its own module.

mod gc;
mod import;
mod index;
mod record;
mod remove;
mod rw_layer;

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::{ImageConfigFile, ImageManifest};
use crate::error::{ImageError, IoContext};
use crate::fsutil::{self, TMP_PREFIX, write_atomic};
use crate::snapshots::{SnapshotStore, chain_ids};
use cas::{ContentStore as _, FsStore};
use index::{ImageEntry, Loaded, State};

pub use import::ImportOptions;
pub use index::{Image, ImageId, ImageSummary};
pub(crate) use record::NewImage;
pub use remove::{DeleteItem, ImageUse};

const REFERENCES: &str = "references.json";
const IMAGES: &str = "images.json";

#[derive(Debug)]
pub struct ImageStore {
    images_dir: PathBuf,
    content: FsStore,
    snapshots: SnapshotStore,
    /// Writers (import commit, tag, remove, GC) take it exclusively, so a
    /// garbage collection never sees a snapshot that is committed but not yet
    /// recorded.
    state: RwLock<State>,
}

/// A temporary directory inside the data root (same filesystem as the
/// snapshots, removed on drop, and by `open` after a crash).
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fsutil::remove_all(&self.0);
    }
}

fn read_json_map<T: for<'de> Deserialize<'de>>(
    path: &Path,
) -> Result<BTreeMap<String, T>, ImageError> {
    match fs::read(path) {
        Ok(d) => Ok(serde_json::from_slice(&d)?),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(ImageError::io(format!("read {}", path.display()), e)),
    }
}

impl ImageStore {
    /// Opens (creating) the store under `data_root` and repairs what a crash
    /// left: partial ingests, temp snapshots, unrecorded snapshots and blobs.
    pub fn open(data_root: &Path) -> Result<Self, ImageError> {
        fsutil::create_dir_private(data_root).ctx(|| format!("create {}", data_root.display()))?;
        let root =
            fs::canonicalize(data_root).ctx(|| format!("resolve {}", data_root.display()))?;
        let images_dir = root.join("images");
        fsutil::create_dir_private(&images_dir)
            .ctx(|| format!("create {}", images_dir.display()))?;
        for e in fs::read_dir(&images_dir).ctx(|| "read images dir".into())? {
            let e = e?;
            if e.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
                fsutil::remove_all(&e.path()).ctx(|| format!("remove {}", e.path().display()))?;
            }
        }
        let content = FsStore::open(&root.join("content"))?;
        let snapshots = SnapshotStore::open(&root.join("snapshots"))?;
        let store = ImageStore {
            images_dir,
            content,
            snapshots,
            state: RwLock::new(State::default()),
        };
        store.load()?;
        Ok(store)
    }

    fn read_state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read()
    }

    fn write_state(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write()
    }

    fn load(&self) -> Result<(), ImageError> {
        let mut st = self.write_state();
        st.refs = read_json_map(&self.images_dir.join(REFERENCES))?;
        st.images = read_json_map(&self.images_dir.join(IMAGES))?;
        // images.json is written before references.json, but be lenient.
        let from_refs: Vec<(String, String)> = st
            .refs
            .values()
            .map(|r| (r.image.clone(), r.manifest.clone()))
            .collect();
        for (id, manifest) in from_refs {
            st.images.entry(id).or_insert(ImageEntry {
                manifest,
                parent: None,
            });
        }
        let mut broken = Vec::new();
        let entries: Vec<(String, ImageEntry)> = st
            .images
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (id, e) in entries {
            match self.load_image(&id, &e.manifest) {
                Ok(l) => {
                    st.loaded.insert(id, l);
                }
                Err(_) => broken.push(id),
            }
        }
        if !broken.is_empty() {
            // Blobs or snapshots are gone: the record cannot be used.
            for id in &broken {
                st.images.remove(id);
            }
            st.refs.retain(|_, r| !broken.contains(&r.image));
            self.save_images(&st)?;
            self.save_refs(&st)?;
        }
        // A repair pass: what it cannot judge it leaves, and the store opens.
        if let Err(e) = self.gc_snapshots(&st) {
            tracing::warn!("start-up clean-up of unused layers skipped: {e}");
        }
        if let Err(e) = self.gc_blobs(&st) {
            tracing::warn!("start-up clean-up of unused blobs skipped: {e}");
        }
        Ok(())
    }

    fn load_image(&self, id: &str, manifest_digest: &str) -> Result<Loaded, ImageError> {
        let manifest: ImageManifest = serde_json::from_slice(&self.content.read(manifest_digest)?)?;
        let config: ImageConfigFile = serde_json::from_slice(&self.content.read(id)?)?;
        let chain = chain_ids(&config.rootfs.diff_ids);
        let mut size = 0;
        for c in &chain {
            size += self.snapshots.meta(c)?.size;
        }
        Ok(Loaded {
            manifest_digest: manifest_digest.to_string(),
            manifest,
            config,
            chain_ids: chain,
            size,
        })
    }

    fn save_refs(&self, st: &State) -> Result<(), ImageError> {
        let p = self.images_dir.join(REFERENCES);
        write_atomic(&p, &serde_json::to_vec_pretty(&st.refs)?)
            .ctx(|| format!("write {}", p.display()))
    }

    fn save_images(&self, st: &State) -> Result<(), ImageError> {
        let p = self.images_dir.join(IMAGES);
        write_atomic(&p, &serde_json::to_vec_pretty(&st.images)?)
            .ctx(|| format!("write {}", p.display()))
    }
}

impl ImageStore {
    pub fn content(&self) -> &FsStore {
        &self.content
    }

    pub(crate) fn snapshot_store(&self) -> &SnapshotStore {
        &self.snapshots
    }

    pub(crate) fn temp_dir(&self) -> Result<TempDir, ImageError> {
        let p = self.images_dir.join(fsutil::unique_name());
        fsutil::create_dir_mode(&p, fsutil::PRIVATE_DIR)
            .ctx(|| format!("create {}", p.display()))?;
        Ok(TempDir(p))
    }

    /// The raw bytes of an image's manifest (as pulled, imported or built).
    pub fn manifest_bytes(&self, name_or_id: &str) -> Result<Vec<u8>, ImageError> {
        let digest = self.get(name_or_id)?.manifest_digest;
        Ok(self.content.read(&digest)?)
    }

    /// Path of a stored blob, if present.
    pub fn blob_path(&self, digest: &str) -> Option<PathBuf> {
        self.content
            .contains(digest)
            .then(|| self.content.path(digest))
            .flatten()
    }
}

#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<ImageStore>();
}
