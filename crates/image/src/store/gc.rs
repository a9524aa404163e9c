//! Garbage collection: blobs and snapshots that no image, name or container
//! layer uses any more, after a delete and at start-up (what a crash left).

use std::collections::BTreeSet;

use super::ImageStore;
use super::index::State;
use super::remove::DeleteItem;
use crate::error::ImageError;
use cas::ContentStore as _;

impl ImageStore {
    /// Drops the image record, then its blobs and snapshots that nothing else uses.
    pub(super) fn delete_image(
        &self,
        st: &mut State,
        id: &str,
        records: &mut Vec<DeleteItem>,
    ) -> Result<(), ImageError> {
        let Some(gone) = st.loaded.remove(id) else {
            return Ok(());
        };
        st.images.remove(id);
        self.save_images(st)?;
        records.push(DeleteItem::Deleted(id.to_string()));

        let live_chains = self.live_chains(st)?;
        for c in gone.chain_ids.iter().rev() {
            if !live_chains.contains(c) && self.snapshots.exists(c) {
                self.snapshots.remove(c)?;
                records.push(DeleteItem::Deleted(c.clone()));
            }
        }
        let live_blobs = live_blob_set(st);
        let mut blobs = vec![gone.manifest_digest.clone(), id.to_string()];
        blobs.extend(
            gone.manifest
                .layers()
                .iter()
                .map(|l| l.digest().to_string()),
        );
        for b in blobs {
            if !live_blobs.contains(&b) {
                self.content.delete(&b)?;
            }
        }
        Ok(())
    }

    /// Removes snapshots used by no image and no container layer.
    pub(super) fn gc_snapshots(&self, st: &State) -> Result<Vec<String>, ImageError> {
        let live = self.live_chains(st)?;
        let mut removed = Vec::new();
        for c in self.snapshots.list()? {
            if !live.contains(&c) {
                self.snapshots.remove(&c)?;
                removed.push(c);
            }
        }
        Ok(removed)
    }

    /// Removes blobs no image or name refers to.
    pub(super) fn gc_blobs(&self, st: &State) -> Result<(), ImageError> {
        let live = live_blob_set(st);
        for b in self.content.list()? {
            if !live.contains(&b) {
                self.content.delete(&b)?;
            }
        }
        Ok(())
    }

    /// Snapshots an image or a container's writable layer stands on.
    fn live_chains(&self, st: &State) -> Result<BTreeSet<String>, ImageError> {
        let mut live: BTreeSet<String> = st
            .loaded
            .values()
            .flat_map(|l| l.chain_ids.clone())
            .collect();
        live.extend(
            self.snapshots
                .list_rw()?
                .into_iter()
                .flat_map(|r| r.chain_ids),
        );
        Ok(live)
    }
}

/// Blobs an image or a name refers to.
fn live_blob_set(st: &State) -> BTreeSet<String> {
    let mut live = BTreeSet::new();
    for (id, l) in &st.loaded {
        live.insert(id.clone());
        live.insert(l.manifest_digest.clone());
        live.insert(l.manifest.config().digest().to_string());
        live.extend(l.manifest.layers().iter().map(|d| d.digest().to_string()));
    }
    live.extend(st.refs.values().map(|r| r.manifest.clone()));
    live
}
