//! What the builder asks of the engine and the image store, as one small
//! trait: the engine-backed implementation ([`EngineBackend`]) runs real
//! containers and writes real images; the recording fake (tests only) lets
//! the builder's dispatch logic be checked without root.

mod engine_backed;
#[cfg(test)]
pub(crate) mod fake;

use std::future::Future;
use std::path::{Path, PathBuf};

use engine::OutputChunk;
use engine::model::CreateRequest;
use image::derive::DeriveOptions;
use image::{ContainerConfigSpec, Reference};
use tokio::sync::mpsc;

use crate::error::Result;

pub(crate) use engine_backed::EngineBackend;

/// An image as the builder sees it.
#[derive(Debug, Clone, Default)]
pub(crate) struct ImageInfo {
    pub id: String,
    /// The image a build step derived this one from.
    pub parent: Option<String>,
    pub config: ContainerConfigSpec,
}

/// The engine and image store operations a build uses.
pub(crate) trait Backend: Send + Sync + 'static {
    /// The daemon's data root: the cache index, cache mounts and downloads
    /// live under its `build/`.
    fn data_root(&self) -> &Path;

    /// A local image by name or id (the store's error when there is none).
    fn image(&self, name: &str) -> Result<ImageInfo>;

    /// Pulls an image from its registry; its id.
    fn pull(
        &self,
        reference: &Reference,
        platform: Option<String>,
    ) -> impl Future<Output = Result<String>> + Send;

    /// A new image on `parent` with the config and history entry of
    /// `opts`, and the layer of the container or layer `opts.layer_from`.
    fn commit(
        &self,
        parent: Option<String>,
        opts: DeriveOptions,
    ) -> impl Future<Output = Result<String>> + Send;

    fn tag(&self, id: &str, reference: &Reference) -> Result<()>;

    /// A writable layer `id` on `image`, mounted; where its tree is.
    fn mount_layer(&self, id: &str, image: &str) -> Result<PathBuf>;

    /// Unmounts a layer, keeping its changes for [`Backend::commit`].
    fn unmount_layer(&self, id: &str) -> Result<()>;

    fn remove_layer(&self, id: &str) -> Result<()>;

    /// Creates a step container; its id.
    fn create_container(&self, req: CreateRequest) -> impl Future<Output = Result<String>> + Send;

    /// Starts a created container with its stdout and stderr attached from
    /// the first byte; the channel closes when it exits.
    fn start_attached(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<mpsc::Receiver<OutputChunk>>> + Send;

    /// SIGKILL, best effort (the build is being cancelled).
    fn kill(&self, id: &str) -> impl Future<Output = ()> + Send;

    /// Waits for the container to stop; its exit code.
    fn wait(&self, id: &str) -> impl Future<Output = Result<i32>> + Send;

    /// Removes a container, by force, with its anonymous volumes.
    fn remove_container(&self, id: &str) -> impl Future<Output = Result<()>> + Send;
}
