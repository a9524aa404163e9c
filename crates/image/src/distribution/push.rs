//! `docker push`: layer and config blobs (skipping what the registry has),
//! then the manifest exactly as stored, so digests survive a round trip.

use std::fs::File;
use std::io::{self, Read};
use std::sync::Arc;

use super::client::RegistryClient;
use super::progress::{Progress, ProgressFn};
use super::{PushOptions, sha256_of};
use crate::config::{ImageManifest, MediaType};
use crate::error::ImageError;
use crate::fsutil::short_id;
use crate::reference::{self, Reference};
use crate::store::ImageStore;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushResult {
    pub digest: String,
    pub size: u64,
    /// The tag pushed.
    pub tag: String,
}

/// Counts bytes as the HTTP client reads the body.
struct Counting {
    inner: File,
    read: u64,
    total: u64,
    last: u64,
    id: String,
    progress: Option<ProgressFn>,
}

impl Read for Counting {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if let Some(f) = &self.progress
            && (self.read >= self.last + (512 << 10) || self.read == self.total)
        {
            self.last = self.read;
            f(Progress::layer_bytes(
                "Pushing", &self.id, self.read, self.total,
            ));
        }
        Ok(n)
    }
}

fn upload_file(
    client: &RegistryClient,
    store: &ImageStore,
    digest: &str,
    id: Option<&str>,
    progress: &Option<ProgressFn>,
) -> Result<(), ImageError> {
    let path = store.blob_path(digest).ok_or_else(|| {
        ImageError::NotFound(format!(
            "blob {digest} is not stored locally (its layer was reused from another image)"
        ))
    })?;
    client.upload_blob(digest, || {
        let f =
            File::open(&path).map_err(|e| ImageError::io(format!("open {}", path.display()), e))?;
        let total = f.metadata()?.len();
        let counting = Counting {
            inner: f,
            read: 0,
            total,
            last: 0,
            id: id.unwrap_or_default().to_string(),
            progress: if id.is_some() { progress.clone() } else { None },
        };
        Ok(reqwest::blocking::Body::sized(counting, total))
    })
}

/// Pushes `local` (name or id) as `target`.
pub fn push(
    store: &ImageStore,
    local: &str,
    target: &str,
    opts: &PushOptions,
) -> Result<PushResult, ImageError> {
    let image = store.get(local)?;
    let r: Reference = reference::parse(target)?;
    let Some(tag) = r.tag().map(str::to_string) else {
        return Err(ImageError::InvalidReference(
            "invalid reference format: cannot push a digest reference".into(),
        ));
    };
    let emit = |p: Progress| {
        if let Some(f) = &opts.progress {
            f(p)
        }
    };
    let client = RegistryClient::connect(&r, opts.auth.clone(), opts.insecure, true)?;
    emit(Progress::status(format!(
        "The push refers to repository [{}]",
        r.name()
    )));
    let manifest_bytes = store.manifest_bytes(&image.id)?;
    let manifest: ImageManifest = serde_json::from_slice(&manifest_bytes)?;

    // Docker lists layers top first.
    let layers: Vec<&str> = manifest
        .layers()
        .iter()
        .rev()
        .map(|l| l.digest().as_ref())
        .collect();
    for l in &layers {
        emit(Progress::layer("Preparing", &short_id(l)));
    }
    let progress: Option<ProgressFn> = opts.progress.clone().map(|f| f as Arc<_>);
    for l in &layers {
        let id = short_id(l);
        if client.blob_exists(l)? {
            emit(Progress::layer("Layer already exists", &id));
            continue;
        }
        upload_file(&client, store, l, Some(&id), &progress)?;
        emit(Progress::layer("Pushed", &id));
    }
    let config_digest = manifest.config().digest().as_ref();
    if !client.blob_exists(config_digest)? {
        upload_file(&client, store, config_digest, None, &None)?;
    }

    // Docker's media types parse as `MediaType::Other` and print back as sent.
    let media_type = manifest
        .media_type()
        .as_ref()
        .unwrap_or(&MediaType::ImageManifest)
        .to_string();
    let digest = sha256_of(&manifest_bytes);
    if let Some(sent) = client.put_manifest(&tag, &media_type, &manifest_bytes)?
        && sent != digest
    {
        return Err(ImageError::DigestMismatch {
            expected: digest,
            actual: sent,
        });
    }
    let size = manifest_bytes.len() as u64;
    emit(Progress::status(format!(
        "{tag}: digest: {digest} size: {size}"
    )));
    store.add_reference(&image.id, &r.with_digest(&digest)?)?;
    Ok(PushResult { digest, size, tag })
}
