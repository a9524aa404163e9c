//! Recording a new image: its prepared layers committed and its blobs, index
//! entry and names written under one write lock, for pull, load, import,
//! commit and build alike.

use super::ImageStore;
use super::index::{ImageEntry, ImageId, Loaded, RefEntry};
use crate::config::{ImageConfigFile, ImageManifest};
use crate::error::ImageError;
use crate::ingest::PreparedLayer;
use crate::reference::Reference;
use crate::snapshots::{SnapshotMeta, chain_ids};
use cas::ContentStore as _;

/// An image whose blobs and layers are ready to be recorded in one step.
pub(crate) struct NewImage {
    pub config: Vec<u8>,
    pub manifest: Vec<u8>,
    /// One per diff id, bottom first; `None` for a layer whose snapshot exists.
    pub layers: Vec<Option<PreparedLayer>>,
    /// Names to point at the image (`name:tag` and `name@digest`).
    pub references: Vec<Reference>,
}

impl ImageStore {
    /// Commits prepared layers and blobs and records the image under one
    /// write lock, so nothing half-recorded is ever visible (or collected).
    /// Returns (image id, manifest digest).
    pub(crate) fn record(&self, new: NewImage) -> Result<(ImageId, String), ImageError> {
        let config: ImageConfigFile = serde_json::from_slice(&new.config)?;
        let manifest: ImageManifest = serde_json::from_slice(&new.manifest)?;
        let diff_ids = &config.rootfs.diff_ids;
        if new.layers.len() != diff_ids.len() {
            return Err(ImageError::InvalidArchive(format!(
                "image has {} layers but its config lists {} diff ids",
                new.layers.len(),
                diff_ids.len()
            )));
        }
        let chain = chain_ids(diff_ids);
        let mut st = self.write_state();
        let mut size = 0;
        for (i, layer) in new.layers.into_iter().enumerate() {
            match layer {
                Some(p) => {
                    if p.diff_id != diff_ids[i] {
                        return Err(ImageError::DigestMismatch {
                            expected: diff_ids[i].clone(),
                            actual: p.diff_id,
                        });
                    }
                    match p.blob {
                        crate::ingest::LayerBlob::Written(w) => {
                            self.content.commit(w, None)?;
                        }
                        // Two images of one archive may share the file.
                        crate::ingest::LayerBlob::File(path)
                            if !self.content.contains(&p.blob_digest) =>
                        {
                            self.content.adopt(&path, &p.blob_digest)?;
                        }
                        crate::ingest::LayerBlob::File(_) => {}
                    }
                    let meta = SnapshotMeta {
                        chain_id: chain[i].clone(),
                        diff_id: p.diff_id.clone(),
                        parent: i.checked_sub(1).map(|j| chain[j].clone()),
                        size: p.size,
                    };
                    self.snapshots.commit(p.tmp, &meta)?;
                }
                None if self.snapshots.exists(&chain[i]) => {}
                None => {
                    return Err(ImageError::Corrupt(format!(
                        "layer snapshot {} vanished",
                        chain[i]
                    )));
                }
            }
            size += self.snapshots.meta(&chain[i])?.size;
        }
        let (id, _) = self.content.write(&new.config)?;
        let (manifest_digest, _) = self.content.write(&new.manifest)?;
        st.images.insert(
            id.clone(),
            ImageEntry {
                manifest: manifest_digest.clone(),
                parent: None,
            },
        );
        st.loaded.insert(
            id.clone(),
            Loaded {
                manifest_digest: manifest_digest.clone(),
                manifest,
                config,
                chain_ids: chain,
                size,
            },
        );
        self.save_images(&st)?;
        if !new.references.is_empty() {
            for r in &new.references {
                st.refs.insert(
                    r.full(),
                    RefEntry {
                        manifest: manifest_digest.clone(),
                        image: id.clone(),
                    },
                );
            }
            self.save_refs(&st)?;
        }
        Ok((id, manifest_digest))
    }
}
