//! Images derived from a parent by a build step: a new runtime config and
//! history entry, plus (for RUN/COPY steps) the writable layer's changes as
//! one more layer. `FROM scratch` has no parent.

use chrono::{SecondsFormat, Utc};

use crate::commit::ingest_upper;
use crate::config::{
    self, ContainerConfigSpec, History, ImageConfigFile, ImageManifest, MediaType, RootFs,
    host_architecture,
};
use crate::error::ImageError;
use crate::store::{ImageId, ImageStore, NewImage};

#[derive(Debug, Clone, Default)]
pub struct DeriveOptions {
    pub config: ContainerConfigSpec,
    /// History `created_by` (`/bin/sh -c #(nop)  ENV A=1`).
    pub created_by: String,
    pub author: Option<String>,
    /// Writable layer (by its container id) whose upper dir becomes a new
    /// layer; `None` records an empty-layer step.
    pub layer_from: Option<String>,
}

/// Records the image `parent` (or nothing, for scratch) changed as `opts` says.
pub fn derive(
    store: &ImageStore,
    parent: Option<&str>,
    opts: DeriveOptions,
) -> Result<ImageId, ImageError> {
    let (mut config, mut layers, mut new_layers) = match parent {
        Some(p) => {
            let base = store.get(p)?;
            let manifest: ImageManifest = serde_json::from_slice(&store.manifest_bytes(&base.id)?)?;
            let keep: Vec<_> = base.diff_ids.iter().map(|_| None).collect();
            (base.config, manifest.layers().clone(), keep)
        }
        None => (
            ImageConfigFile {
                architecture: host_architecture().into(),
                os: "linux".into(),
                rootfs: RootFs {
                    kind: "layers".into(),
                    diff_ids: Vec::new(),
                },
                ..Default::default()
            },
            Vec::new(),
            Vec::new(),
        ),
    };
    let created = Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true);
    let author = opts.author.filter(|a| !a.is_empty());
    // Keeps the temp dir (and the layer tar in it) alive until the record.
    let mut _tmp = None;
    if let Some(id) = &opts.layer_from {
        let upper = store.rw_upper_path(id)?;
        let (tmp, prepared) = ingest_upper(
            store,
            &upper,
            !config.rootfs.diff_ids.is_empty(),
            &crate::commit::OwnerMap::default(),
        )?;
        config.rootfs.diff_ids.push(prepared.diff_id.clone());
        layers.push(config::descriptor(
            MediaType::ImageLayer,
            &prepared.blob_digest,
            prepared.blob_size,
        )?);
        new_layers.push(Some(prepared));
        _tmp = Some(tmp);
    }
    config.created = Some(created.clone());
    if author.is_some() {
        config.author = author.clone();
    }
    config.config = opts.config;
    // An empty `created_by` records no history entry (the empty base a
    // `FROM scratch` stage needs before its first layer).
    if !opts.created_by.is_empty() {
        config.history.push(History {
            created: Some(created),
            created_by: Some(opts.created_by),
            author,
            comment: None,
            empty_layer: opts.layer_from.is_none().then_some(true),
        });
    }
    let config_bytes = serde_json::to_vec(&config)?;
    let manifest = config::manifest_for_config(&config_bytes, layers)?;
    let (id, _) = store.record(NewImage {
        config: config_bytes,
        manifest: serde_json::to_vec(&manifest)?,
        layers: new_layers,
        references: Vec::new(),
    })?;
    if let Some(p) = parent {
        store.set_parent(&id, p)?;
    }
    Ok(id)
}
