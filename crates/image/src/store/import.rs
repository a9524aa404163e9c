//! `docker import`: one rootfs tar (plain or compressed) becomes a one-layer
//! image, through the same layer ingest and image record as pull and load.

use std::io::{self, Read};

use chrono::{DateTime, SecondsFormat, Utc};

use super::{ImageId, ImageStore, NewImage};
use crate::changes;
use crate::compression;
use crate::config::{
    self, ContainerConfigSpec, History, ImageConfigFile, MediaType, RootFs, host_architecture,
};
use crate::error::ImageError;
use crate::ingest::ingest_layer;
use crate::reference::{self, Reference};
use crate::unpack::WhiteoutMode;

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Tag for the new image (`docker import - repo:tag`).
    pub reference: Option<Reference>,
    /// Base runtime config; `changes` are applied on top.
    pub config: ContainerConfigSpec,
    /// `--change` instructions (CMD, ENV, ...).
    pub changes: Vec<String>,
    /// History comment (`--message`); defaults to "Imported from -".
    pub comment: Option<String>,
    pub author: Option<String>,
    /// Defaults to now.
    pub created: Option<DateTime<Utc>>,
    /// Defaults to the host's (GOARCH naming).
    pub architecture: Option<String>,
    pub os: Option<String>,
}

impl ImageStore {
    /// `docker import`: one rootfs tar (plain or gzip) becomes a one-layer image.
    pub fn import(&self, reader: impl Read, opts: ImportOptions) -> Result<ImageId, ImageError> {
        let mut runtime = opts.config.clone();
        changes::apply(&mut runtime, &opts.changes)?;
        let reference = match &opts.reference {
            Some(r) if r.digest().is_some() => {
                return Err(ImageError::InvalidReference(
                    "invalid reference format: cannot import with a digest reference".into(),
                ));
            }
            Some(r) if r.tag().is_none() => Some(r.with_tag(reference::DEFAULT_TAG)?),
            other => other.clone(),
        };

        // Docker keeps an imported layer uncompressed, and the ingest stores
        // bytes as it reads them: decode first, so the blob is the tar itself.
        // tar reads 512-byte headers; keep that from becoming a syscall each.
        let decoded = compression::decompress(io::BufReader::with_capacity(256 << 10, reader))?;
        let layer = ingest_layer(self, decoded, None, WhiteoutMode::Skip, &mut |_| {})?;

        let created = opts.created.unwrap_or_else(Utc::now);
        let created_s = created.to_rfc3339_opts(SecondsFormat::Nanos, true);
        let author = opts.author.filter(|a| !a.is_empty());
        let config = ImageConfigFile {
            architecture: opts
                .architecture
                .unwrap_or_else(|| host_architecture().to_string()),
            os: opts.os.unwrap_or_else(|| "linux".to_string()),
            variant: None,
            created: Some(created_s.clone()),
            author: author.clone(),
            config: runtime,
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: vec![layer.diff_id.clone()],
            },
            history: vec![History {
                created: Some(created_s),
                created_by: Some("import".into()),
                author,
                comment: Some(
                    opts.comment
                        .filter(|c| !c.is_empty())
                        .unwrap_or_else(|| "Imported from -".into()),
                ),
                empty_layer: None,
            }],
        };
        let config_bytes = serde_json::to_vec(&config)?;
        let manifest = config::manifest_for_config(
            &config_bytes,
            vec![config::descriptor(
                MediaType::ImageLayer,
                &layer.blob_digest,
                layer.blob_size,
            )?],
        )?;
        let (id, _) = self.record(NewImage {
            config: config_bytes,
            manifest: serde_json::to_vec(&manifest)?,
            layers: vec![Some(layer)],
            references: reference.into_iter().collect(),
        })?;
        Ok(id)
    }
}
