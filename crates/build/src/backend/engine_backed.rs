//! The real backend: the daemon's engine, for step containers and for
//! images (layers, derived images, pulls, tags; the engine sends dockerd's
//! events).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use engine::model::CreateRequest;
use engine::{Engine, OutputChunk, WaitCondition};
use image::Reference;
use image::derive::DeriveOptions;
use tokio::sync::mpsc;

use super::{Backend, ImageInfo};
use crate::error::{BuildError, Result};

pub(crate) struct EngineBackend {
    engine: Arc<Engine>,
}

impl EngineBackend {
    pub(crate) fn new(engine: Arc<Engine>) -> Self {
        EngineBackend { engine }
    }
}

fn joined<T>(r: std::result::Result<T, tokio::task::JoinError>) -> Result<T> {
    r.map_err(|e| BuildError::new(e.to_string()))
}

impl Backend for EngineBackend {
    fn data_root(&self) -> &Path {
        &self.engine.config().data_root
    }

    fn image(&self, name: &str) -> Result<ImageInfo> {
        let img = self.engine.image(name)?;
        Ok(ImageInfo {
            id: img.id,
            parent: Some(img.parent).filter(|p| !p.is_empty()),
            config: img.config.config,
        })
    }

    async fn pull(&self, reference: &Reference, platform: Option<String>) -> Result<String> {
        let engine = self.engine.clone();
        let full = reference.full();
        let pulled = joined(
            tokio::task::spawn_blocking(move || engine.pull_image(&full, platform, None, None))
                .await,
        )??;
        Ok(pulled.id)
    }

    async fn commit(&self, parent: Option<String>, opts: DeriveOptions) -> Result<String> {
        let engine = self.engine.clone();
        joined(
            tokio::task::spawn_blocking(move || engine.derive_image(parent.as_deref(), opts)).await,
        )?
        .map_err(BuildError::from)
    }

    fn tag(&self, id: &str, reference: &Reference) -> Result<()> {
        Ok(self.engine.tag_image(id, reference)?)
    }

    fn mount_layer(&self, id: &str, image: &str) -> Result<PathBuf> {
        Ok(self.engine.mount_build_layer(id, image)?)
    }

    fn unmount_layer(&self, id: &str) -> Result<()> {
        Ok(self.engine.unmount_build_layer(id)?)
    }

    fn remove_layer(&self, id: &str) -> Result<()> {
        Ok(self.engine.remove_build_layer(id)?)
    }

    async fn create_container(&self, req: CreateRequest) -> Result<String> {
        Ok(self.engine.create_container(None, req).await?.id)
    }

    async fn start_attached(&self, id: &str) -> Result<mpsc::Receiver<OutputChunk>> {
        let (_c, rx) = self.engine.attach(id, true, true)?;
        self.engine.start(id).await?;
        Ok(rx)
    }

    async fn kill(&self, id: &str) {
        let _ = self.engine.kill(id, None).await;
    }

    async fn wait(&self, id: &str) -> Result<i32> {
        Ok(self.engine.wait(id, WaitCondition::NotRunning).await?)
    }

    async fn remove_container(&self, id: &str) -> Result<()> {
        Ok(self.engine.remove(id, true, true).await?)
    }
}
