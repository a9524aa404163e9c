//! Image operations as the API and the builder ask for them. The engine owns
//! the image store and the events: every operation that changes what images
//! exist or are called emits its event here, so no caller can forget it.
//! Those that move whole images (pull, push, save, load, import, derive)
//! block: callers run them on a blocking thread.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use image::derive::DeriveOptions;
use image::distribution::{
    Credentials, ProgressFn, PullOptions, PullResult, PushOptions, PushResult,
};
use image::{Image, ImageId, ImageSummary, ImportOptions, Reference};

use crate::{Engine, EngineError, Result};

/// A container's root filesystem, mounted for `docker export`: made before
/// the answer starts so that a missing container or image is still an
/// error status, written out once the body streams.
pub struct ContainerExport {
    rootfs: PathBuf,
    owners: image::commit::OwnerMap,
}

impl ContainerExport {
    /// The tree as a tar (blocking).
    pub fn write_tar(&self, writer: impl Write) -> Result<()> {
        Ok(image::commit::export_rootfs(
            &self.rootfs,
            writer,
            &self.owners,
        )?)
    }
}

/// Registries the daemon's settings name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registries {
    /// Reached over plain HTTP.
    pub insecure: Vec<String>,
    /// Docker Hub mirrors (`http(s)://host[:port]`), tried in order.
    pub mirrors: Vec<String>,
}

impl Engine {
    pub(crate) fn image_event(&self, action: &str, id: &str, name: Option<&str>) {
        let mut attrs = HashMap::new();
        if let Some(name) = name {
            attrs.insert("name".to_string(), name.to_string());
        }
        self.events.publish("image", action, id, attrs);
    }

    /// A local image by name, reference or (prefix of its) id.
    pub fn image(&self, name_or_id: &str) -> Result<Image> {
        Ok(self.images.get(name_or_id)?)
    }

    /// An image's id and its layer blobs (digest, path), bottom first: what
    /// a scan reads instead of running the image.
    pub fn image_layer_blobs(&self, name_or_id: &str) -> Result<(ImageId, Vec<(String, PathBuf)>)> {
        let img = self.images.get(name_or_id)?;
        let manifest: image::config::ImageManifest =
            serde_json::from_slice(&self.images.manifest_bytes(&img.id)?)
                .map_err(|e| EngineError::Internal(format!("image {}: manifest: {e}", img.id)))?;
        let mut blobs = Vec::new();
        for l in manifest.layers() {
            let digest = l.digest().to_string();
            let path = self.images.blob_path(&digest).ok_or_else(|| {
                EngineError::Internal(format!("image {}: layer {digest} is missing", img.id))
            })?;
            blobs.push((digest, path));
        }
        Ok((img.id, blobs))
    }

    pub fn list_images(&self) -> Result<Vec<ImageSummary>> {
        Ok(self.images.list()?)
    }

    /// `docker tag`: one more name for the image.
    pub fn tag_image(&self, name_or_id: &str, reference: &Reference) -> Result<()> {
        let img = self.images.get(name_or_id)?;
        self.images.tag(&img.id, reference)?;
        self.image_event("tag", &img.id, Some(&reference.familiar()));
        Ok(())
    }

    /// `docker import`: a root filesystem tar as a one-layer image (blocking).
    pub fn import_image(&self, reader: impl Read, opts: ImportOptions) -> Result<ImageId> {
        let name = opts.reference.as_ref().map(Reference::familiar);
        let id = self.images.import(reader, opts)?;
        self.image_event("import", &id, name.as_deref());
        Ok(id)
    }

    /// Whether a registry is spoken to over plain HTTP: loopback ones (as
    /// dockerd allows by default) and those named with `--insecure-registry`.
    pub fn insecure_registry(&self, domain: &str) -> bool {
        let host = domain.rsplit_once(':').map(|(h, _)| h).unwrap_or(domain);
        host == "localhost"
            || host.starts_with("127.")
            || host == "[::1]"
            || self
                .registries
                .read()
                .insecure
                .iter()
                .any(|r| r == domain || r == host)
    }

    /// The insecure registries and Docker Hub mirrors in force.
    pub fn registries(&self) -> Registries {
        self.registries.read().clone()
    }

    /// Replaces them (the daemon's configuration reload); pulls already
    /// under way finish with the old ones.
    pub fn set_registries(&self, registries: Registries) {
        *self.registries.write() = registries;
    }

    fn insecure_reference(&self, reference: &str) -> bool {
        let domain = image::reference::parse(reference)
            .map(|r| r.domain().to_string())
            .unwrap_or_default();
        self.insecure_registry(&domain)
    }

    /// `docker pull` (blocking); `platform` is `os/arch[/variant]`, this
    /// machine's when `None`.
    pub fn pull_image(
        &self,
        reference: &str,
        platform: Option<String>,
        auth: Option<Credentials>,
        progress: Option<ProgressFn>,
    ) -> Result<PullResult> {
        let opts = PullOptions {
            platform,
            auth,
            insecure: self.insecure_reference(reference),
            mirrors: self.registries.read().mirrors.clone(),
            progress,
        };
        let pulled = image::distribution::pull(&self.images, reference, &opts)?;
        self.image_event("pull", &pulled.id, Some(&pulled.reference));
        Ok(pulled)
    }

    /// `docker push` of a local name to the registry it names (blocking).
    pub fn push_image(
        &self,
        name: &str,
        auth: Option<Credentials>,
        progress: Option<ProgressFn>,
    ) -> Result<PushResult> {
        let opts = PushOptions {
            auth,
            insecure: self.insecure_reference(name),
            progress,
        };
        let pushed = image::distribution::push(&self.images, name, name, &opts)?;
        self.image_event("push", &pushed.digest, Some(name));
        Ok(pushed)
    }

    /// `docker save`: the images as one tar (blocking).
    pub fn save_images(&self, names: &[String], writer: impl Write) -> Result<()> {
        Ok(image::archive::save(&self.images, names, writer)?)
    }

    /// `docker load` (blocking): what was loaded as Docker prints it
    /// (`name:tag`, or the id of an untagged image).
    pub fn load_images(&self, reader: impl Read) -> Result<Vec<String>> {
        let loaded = image::archive::load(&self.images, reader, None)?;
        for name in &loaded {
            self.image_event("load", name, Some(name));
        }
        Ok(loaded)
    }

    /// `docker commit`: the container's writable layer on top of its image, with
    /// the container's configuration unless the request brings one.
    pub async fn commit(
        self: &Arc<Self>,
        name_or_id: &str,
        opts: image::commit::CommitOptions,
    ) -> Result<String> {
        let timer = self.metrics.container_action("commit");
        timer.observe(self.commit_untimed(name_or_id, opts).await)
    }

    async fn commit_untimed(
        self: &Arc<Self>,
        name_or_id: &str,
        mut opts: image::commit::CommitOptions,
    ) -> Result<String> {
        let c = self.container(name_or_id)?;
        let record = c.lock().record.clone();
        if opts.config.is_none() {
            let cfg = &record.config;
            opts.config = Some(image::ContainerConfigSpec {
                user: cfg.user.clone(),
                env: cfg.env.clone(),
                entrypoint: cfg.entrypoint.clone(),
                cmd: cfg.cmd.clone(),
                working_dir: cfg.working_dir.clone(),
                labels: cfg.labels.clone(),
                stop_signal: cfg.stop_signal.clone(),
                exposed_ports: cfg
                    .exposed_ports
                    .as_ref()
                    .map(|p| p.keys().map(|k| (k.clone(), Default::default())).collect()),
                volumes: cfg
                    .volumes
                    .as_ref()
                    .map(|v| v.keys().map(|k| (k.clone(), Default::default())).collect()),
                ..Default::default()
            });
        }
        let engine = self.clone();
        let (id, image_id) = (c.id.clone(), record.image_id.clone());
        let mut opts = opts;
        opts.owners = self.owner_map(&c.id);
        let new_id = tokio::task::spawn_blocking(move || {
            image::commit::commit(&engine.images, &id, &image_id, opts)
        })
        .await
        .map_err(|e| EngineError::internal("commit", e))??;
        // As dockerd: the committed image's Parent is the container's image.
        if new_id != record.image_id {
            self.images.set_parent(&new_id, &record.image_id)?;
        }
        self.container_event(&c, "commit", &[]);
        Ok(new_id)
    }

    /// `docker export`: mounts the container's root filesystem.
    pub fn export_container(&self, name_or_id: &str) -> Result<ContainerExport> {
        let c = self.container(name_or_id)?;
        let image_id = c.view().record.image_id;
        let rootfs = self.images.mount_rw_layer(&c.id, &image_id)?;
        Ok(ContainerExport {
            rootfs,
            owners: self.owner_map(&c.id),
        })
    }

    /// A build step's image: `parent` (none for `FROM scratch`) changed as
    /// `opts` says (blocking).
    pub fn derive_image(&self, parent: Option<&str>, opts: DeriveOptions) -> Result<ImageId> {
        Ok(image::derive::derive(&self.images, parent, opts)?)
    }

    /// A build's scratch writable layer `id` on `image`, mounted (created
    /// first if needed); where its tree is.
    pub fn mount_build_layer(&self, id: &str, image: &str) -> Result<PathBuf> {
        Ok(self.images.mount_rw_layer(id, image)?)
    }

    /// Unmounts a build layer; its changes stay for [`Engine::derive_image`].
    pub fn unmount_build_layer(&self, id: &str) -> Result<()> {
        Ok(self.images.unmount_rw_layer(id)?)
    }

    pub fn remove_build_layer(&self, id: &str) -> Result<()> {
        Ok(self.images.remove_rw_layer(id)?)
    }

    /// A container using the image (a running one first) and whether it runs.
    pub(crate) fn image_in_use(&self, image_id: &str) -> Option<(String, bool)> {
        let users: Vec<(String, bool)> = self
            .registry()
            .by_id
            .values()
            .filter_map(|c| {
                let inner = c.lock();
                let running = matches!(
                    inner.state.status,
                    crate::model::Status::Running | crate::model::Status::Paused
                );
                (inner.record.image_id == image_id).then(|| (c.id.clone(), running))
            })
            .collect();
        users
            .iter()
            .find(|(_, running)| *running)
            .or(users.first())
            .cloned()
    }

    /// [`Engine::image_in_use`] in the terms of the image store's delete rules.
    pub(crate) fn image_use(&self, image_id: &str) -> image::ImageUse {
        match self.image_in_use(image_id) {
            None => image::ImageUse::Unused,
            Some((_, true)) => image::ImageUse::Running,
            Some((_, false)) => image::ImageUse::Stopped,
        }
    }
}
