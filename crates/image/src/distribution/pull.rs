//! `docker pull`: manifest (via an index when there is one), config, then up
//! to three layers at once, each verified while it streams into its snapshot.
//! Nothing is committed until every piece is verified.

use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::client::{MEDIA_TYPE_DOCKER_LIST, RegistryClient};
use super::platform::{self, Platform};
use super::progress::Progress;
use super::{PullOptions, sha256_of};
use crate::config::{ImageConfigFile, ImageIndex, ImageManifest, MediaType};
use crate::error::ImageError;
use crate::fsutil::short_id;
use crate::ingest::{PreparedLayer, ingest_layer};
use crate::reference::{self, Reference};
use crate::snapshots::chain_ids;
use crate::store::{ImageId, ImageStore, NewImage};
use crate::unpack::WhiteoutMode;

const CONCURRENT_LAYERS: usize = 3;
/// Bytes between two "Downloading" events of one layer.
const PROGRESS_STEP: u64 = 512 << 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullResult {
    pub id: ImageId,
    /// Digest the reference resolved to (the index's for multi-platform images).
    pub digest: String,
    /// `name:tag` or `name@digest` as Docker prints it.
    pub reference: String,
}

fn is_index(media_type: &str, body: &[u8]) -> bool {
    if media_type.starts_with(MediaType::ImageIndex.as_ref())
        || media_type.starts_with(MEDIA_TYPE_DOCKER_LIST)
    {
        return true;
    }
    // Some registries send a generic content type; the body tells.
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .is_some_and(|v| v.get("manifests").is_some() && v.get("layers").is_none())
}

fn verify(expected: &str, bytes: &[u8]) -> Result<(), ImageError> {
    let actual = sha256_of(bytes);
    if actual != expected {
        return Err(ImageError::DigestMismatch {
            expected: expected.to_string(),
            actual,
        });
    }
    Ok(())
}

pub fn pull(
    store: &ImageStore,
    reference: &str,
    opts: &PullOptions,
) -> Result<PullResult, ImageError> {
    let r = reference::parse(reference)?;
    // Docker Hub names go to its mirrors first, in order, then to Docker
    // Hub; the mirror's failure is only worth a line (it is a cache).
    if r.domain() == reference::DEFAULT_DOMAIN {
        for mirror in &opts.mirrors {
            match pull_from(store, &r, opts, Some(mirror)) {
                Ok(pulled) => return Ok(pulled),
                Err(e) => {
                    if let Some(f) = &opts.progress {
                        f(Progress::status(format!(
                            "mirror {mirror} failed ({e}); trying the next source"
                        )));
                    }
                }
            }
        }
    }
    pull_from(store, &r, opts, None)
}

/// Pulls `r` from its registry, or from `mirror` (`scheme://host[:port]`,
/// credentials for Docker Hub not sent there).
fn pull_from(
    store: &ImageStore,
    r: &Reference,
    opts: &PullOptions,
    mirror: Option<&str>,
) -> Result<PullResult, ImageError> {
    let emit = |p: Progress| {
        if let Some(f) = &opts.progress {
            f(p)
        }
    };
    let want = match &opts.platform {
        Some(p) => Platform::parse(p)?,
        None => Platform::host(),
    };
    let client = match mirror {
        Some(base) => RegistryClient::connect_to(base.trim_end_matches('/'), r, None, false)?,
        None => RegistryClient::connect(r, opts.auth.clone(), opts.insecure, false)?,
    };
    let by = r
        .digest()
        .or(r.tag())
        .unwrap_or(reference::DEFAULT_TAG)
        .to_string();
    emit(Progress::with_id(
        format!("Pulling from {}", r.path()),
        by.clone(),
    ));

    let (top, media_type, sent_digest) = client.get_manifest(&by)?;
    let top_digest = match r.digest() {
        Some(d) => {
            verify(d, &top)?;
            d.to_string()
        }
        None => {
            let d = sha256_of(&top);
            if let Some(sent) = sent_digest.filter(|s| s.starts_with("sha256:")) {
                verify(&sent, &top)?;
            }
            d
        }
    };
    let manifest_bytes = if is_index(&media_type, &top) {
        let index: ImageIndex = serde_json::from_slice(&top)?;
        let entry = platform::choose(&index, &want).ok_or_else(|| {
            ImageError::NotFound(format!(
                "{}: no matching manifest for {want} in the manifest list entries",
                r.familiar()
            ))
        })?;
        let (bytes, _, _) = client.get_manifest(entry.digest().as_ref())?;
        verify(entry.digest().as_ref(), &bytes)?;
        bytes
    } else {
        top
    };
    let manifest: ImageManifest = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| ImageError::Registry(format!("unsupported manifest (schema 1?): {e}")))?;

    let config_digest = manifest.config().digest().as_ref();
    let config_bytes = {
        let mut resp = client.get_blob(config_digest)?;
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut resp, &mut buf)
            .map_err(|e| ImageError::Registry(format!("read config: {e}")))?;
        buf
    };
    verify(config_digest, &config_bytes)?;
    let config: ImageConfigFile = serde_json::from_slice(&config_bytes)?;
    let diff_ids = &config.rootfs.diff_ids;
    if diff_ids.len() != manifest.layers().len() {
        return Err(ImageError::Registry(format!(
            "manifest lists {} layers, config {}",
            manifest.layers().len(),
            diff_ids.len()
        )));
    }
    let chain = chain_ids(diff_ids);
    let previous = store.get(&r.full()).ok().map(|i| i.id);

    let snaps = store.snapshot_store();
    let todo: Vec<usize> = (0..chain.len())
        .filter(|i| !snaps.exists(&chain[*i]))
        .collect();
    for (i, l) in manifest.layers().iter().enumerate() {
        let id = short_id(l.digest().as_ref());
        if todo.contains(&i) {
            emit(Progress::layer("Pulling fs layer", &id));
        } else {
            emit(Progress::layer("Already exists", &id));
        }
    }

    let slots: Vec<Mutex<Option<PreparedLayer>>> =
        (0..chain.len()).map(|_| Mutex::new(None)).collect();
    let first_error: Mutex<Option<ImageError>> = Mutex::new(None);
    let failed = AtomicBool::new(false);
    let next = AtomicUsize::new(0);
    let emit = &emit;
    let worker = || {
        loop {
            if failed.load(Ordering::SeqCst) {
                return;
            }
            let k = next.fetch_add(1, Ordering::SeqCst);
            let Some(&i) = todo.get(k) else { return };
            let desc = &manifest.layers()[i];
            let digest = desc.digest().as_ref();
            let id = short_id(digest);
            let result = client.get_blob(digest).and_then(|resp| {
                let total = resp.content_length().unwrap_or(desc.size());
                let mut last = 0u64;
                let mut on_read = |n: u64| {
                    if n >= last + PROGRESS_STEP || n == total {
                        last = n;
                        emit(Progress::layer_bytes("Downloading", &id, n, total));
                    }
                };
                let mode = if i == 0 {
                    WhiteoutMode::Skip
                } else {
                    WhiteoutMode::Overlay
                };
                let p = ingest_layer(store, resp, Some(digest), mode, &mut on_read)?;
                emit(Progress::layer("Verifying Checksum", &id));
                if p.diff_id != diff_ids[i] {
                    return Err(ImageError::DigestMismatch {
                        expected: diff_ids[i].clone(),
                        actual: p.diff_id,
                    });
                }
                emit(Progress::layer("Download complete", &id));
                emit(Progress::layer_bytes(
                    "Extracting",
                    &id,
                    p.blob_size,
                    p.blob_size,
                ));
                emit(Progress::layer("Pull complete", &id));
                Ok(p)
            });
            match result {
                Ok(p) => *slots[i].lock() = Some(p),
                Err(e) => {
                    failed.store(true, Ordering::SeqCst);
                    first_error.lock().get_or_insert(e);
                    return;
                }
            }
        }
    };
    std::thread::scope(|s| {
        for _ in 0..CONCURRENT_LAYERS.min(todo.len()) {
            s.spawn(worker);
        }
    });
    if let Some(e) = first_error.into_inner() {
        return Err(e);
    }

    let mut refs: Vec<Reference> = Vec::new();
    if r.digest().is_none() {
        refs.push(r.clone());
    }
    refs.push(r.with_digest(&top_digest)?);
    let (id, _) = store.record(NewImage {
        config: config_bytes,
        manifest: manifest_bytes,
        layers: slots.into_iter().map(|m| m.into_inner()).collect(),
        references: refs,
    })?;

    let shown = match r.digest() {
        Some(d) => format!("{}@{d}", r.familiar_name()),
        None => r.familiar(),
    };
    emit(Progress::status(format!("Digest: {top_digest}")));
    if previous.as_deref() == Some(id.as_str()) && todo.is_empty() {
        emit(Progress::status(format!(
            "Status: Image is up to date for {shown}"
        )));
    } else {
        emit(Progress::status(format!(
            "Status: Downloaded newer image for {shown}"
        )));
    }
    Ok(PullResult {
        id,
        digest: top_digest,
        reference: shown,
    })
}
