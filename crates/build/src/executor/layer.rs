//! A throwaway writable layer on an image (COPY's target, a `--from`
//! source, a `RUN --mount` source), removed when dropped.

use std::path::PathBuf;
use std::sync::Arc;

use crate::backend::Backend;
use crate::context::new_id;
use crate::error::Result;

pub(super) struct LayerGuard<B: Backend> {
    backend: Arc<B>,
    pub(super) id: String,
    pub(super) merged: PathBuf,
}

impl<B: Backend> LayerGuard<B> {
    pub(super) fn mount(backend: &Arc<B>, image: &str) -> Result<Self> {
        let id = format!("build-{}", &new_id()[..32]);
        let merged = backend.mount_layer(&id, image)?;
        Ok(LayerGuard {
            backend: backend.clone(),
            id,
            merged,
        })
    }
}

impl<B: Backend> Drop for LayerGuard<B> {
    fn drop(&mut self) {
        if let Err(e) = self.backend.remove_layer(&self.id) {
            tracing::warn!(layer = %self.id, "removing build layer: {e}");
        }
    }
}
