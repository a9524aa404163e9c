//! The real backend: the daemon's engine (step containers) and image store
//! (layers, derived images, pulls, tags), with the events dockerd sends.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use engine::model::CreateRequest;
use engine::{Engine, OutputChunk, WaitCondition};
use image::Reference;
use image::derive::{DeriveOptions, derive};
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

    /// Loopback registries and `--insecure-registry` ones are spoken to over HTTP.
    fn insecure(&self, reference: &Reference) -> bool {
        let domain = reference.domain().to_string();
        let host = domain
            .rsplit_once(':')
            .map(|(h, _)| h.to_string())
            .unwrap_or(domain.clone());
        host == "localhost"
            || host.starts_with("127.")
            || self
                .engine
                .cfg
                .insecure_registries
                .iter()
                .any(|r| *r == domain || *r == host)
    }
}

fn joined<T>(r: std::result::Result<T, tokio::task::JoinError>) -> Result<T> {
    r.map_err(|e| BuildError::new(e.to_string()))
}

impl Backend for EngineBackend {
    fn data_root(&self) -> &Path {
        &self.engine.cfg.data_root
    }

    fn image(&self, name: &str) -> Result<ImageInfo> {
        let img = self.engine.images.get(name)?;
        Ok(ImageInfo {
            id: img.id,
            parent: Some(img.parent).filter(|p| !p.is_empty()),
            config: img.config.config,
        })
    }

    async fn pull(&self, reference: &Reference, platform: Option<String>) -> Result<String> {
        let engine = self.engine.clone();
        let full = reference.full();
        let insecure = self.insecure(reference);
        let pulled = joined(
            tokio::task::spawn_blocking(move || {
                let opts = image::distribution::PullOptions {
                    platform,
                    auth: None,
                    insecure,
                    progress: None,
                };
                image::distribution::pull(&engine.images, &full, &opts)
            })
            .await,
        )?
        .map_err(|e| BuildError::new(e.to_string()))?;
        self.engine
            .image_event("pull", &pulled.id, Some(&pulled.reference));
        Ok(pulled.id)
    }

    async fn commit(&self, parent: Option<String>, opts: DeriveOptions) -> Result<String> {
        let engine = self.engine.clone();
        joined(
            tokio::task::spawn_blocking(move || derive(&engine.images, parent.as_deref(), opts))
                .await,
        )?
        .map_err(BuildError::from)
    }

    fn tag(&self, id: &str, reference: &Reference) -> Result<()> {
        self.engine.images.tag(id, reference)?;
        self.engine.image_event("tag", id, Some(&reference.full()));
        Ok(())
    }

    fn mount_layer(&self, id: &str, image: &str) -> Result<PathBuf> {
        Ok(self.engine.images.mount_rw_layer(id, image)?)
    }

    fn unmount_layer(&self, id: &str) -> Result<()> {
        Ok(self.engine.images.unmount_rw_layer(id)?)
    }

    fn remove_layer(&self, id: &str) -> Result<()> {
        Ok(self.engine.images.remove_rw_layer(id)?)
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
