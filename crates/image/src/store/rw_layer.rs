//! Containers' writable layers: an overlay of the image's snapshots with an
//! upper dir of the container's own.

use std::path::PathBuf;

use super::ImageStore;
use super::index::resolve;
use crate::error::ImageError;

impl ImageStore {
    /// Creates the container's upper/work dirs on top of the image's layers;
    /// `remapped_root` as [`crate::snapshots::SnapshotStore::create_rw`].
    pub fn create_rw_layer(
        &self,
        container_id: &str,
        image_id: &str,
        remapped_root: Option<(u32, u32)>,
    ) -> Result<(), ImageError> {
        let st = self.read_state();
        let id = resolve(&st, image_id)?;
        let chain = st.loaded[&id].chain_ids.clone();
        self.snapshots
            .create_rw(container_id, &id, &chain, remapped_root)
    }

    /// Where remapped containers' lower layers come from; see
    /// [`crate::snapshots::SnapshotStore::enable_remap_view`].
    pub fn enable_remap_view(
        &self,
        view: &std::path::Path,
        userns: std::os::fd::BorrowedFd<'_>,
    ) -> Result<(), ImageError> {
        self.snapshots.enable_remap_view(view, userns)
    }

    /// The host owner of the container's root when its layer is remapped.
    pub fn rw_remapped_root(&self, container_id: &str) -> Result<Option<(u32, u32)>, ImageError> {
        Ok(self.snapshots.rw_meta(container_id)?.remapped_root)
    }

    /// Mounts the container's overlay (creating its layer if needed) and
    /// returns the rootfs path; already mounted is fine.
    pub fn mount_rw_layer(
        &self,
        container_id: &str,
        image_id: &str,
    ) -> Result<PathBuf, ImageError> {
        if self.snapshots.rw_meta(container_id).is_err() {
            self.create_rw_layer(container_id, image_id, None)?;
        }
        // Holding the lock keeps a concurrent GC away from the lower layers.
        let _st = self.read_state();
        self.snapshots.mount_rw(container_id)
    }

    pub fn unmount_rw_layer(&self, container_id: &str) -> Result<(), ImageError> {
        self.snapshots.unmount_rw(container_id)
    }

    /// Unmounts and deletes the container's layer, then the snapshots of a
    /// force-removed image that only this container still used.
    pub fn remove_rw_layer(&self, container_id: &str) -> Result<(), ImageError> {
        let st = self.write_state();
        self.snapshots.remove_rw(container_id)?;
        self.gc_snapshots(&st)?;
        Ok(())
    }

    /// Path of the unpacked layer (for diff/export later).
    pub fn layer_path(&self, chain_id: &str) -> PathBuf {
        self.snapshots.fs_path(chain_id)
    }

    /// Path of the container's overlay mount point (mounted or not).
    pub fn rw_mount_path(&self, container_id: &str) -> Result<PathBuf, ImageError> {
        self.snapshots.merged_path(container_id)
    }

    /// The container's overlay upper dir.
    pub fn rw_upper_path(&self, container_id: &str) -> Result<PathBuf, ImageError> {
        self.snapshots.upper_path(container_id)
    }
}
