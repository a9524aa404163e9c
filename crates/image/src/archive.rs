//! `docker save` / `docker load`: the docker-archive format as Docker 25+
//! writes it (an OCI layout whose blobs `manifest.json` and `repositories`
//! also point at), and loading of that, of older docker-archives
//! (`<id>.json`, `<dir>/layer.tar`) and of plain OCI layouts.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use oci_spec::image::OciLayoutBuilder;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::compression;
use crate::config::{
    self, Descriptor, ImageConfigFile, ImageIndex, ImageManifest, MediaType, manifest_for_config,
};
use crate::distribution::Progress;
use crate::distribution::platform::{self, Platform};
use crate::error::{ImageError, IoContext};
use cas::ContentStore as _;

use crate::fsutil::{digest_hex, sha256_digest};
use crate::ingest::PreparedLayer;
use crate::reference::{self, Reference};
use crate::stage::Stager;
use crate::store::{ImageStore, NewImage};
use crate::unpack::{self, UnpackOptions, WhiteoutMode};

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ArchiveEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    layers: Vec<String>,
}

fn blob_name(digest: &str) -> String {
    format!("blobs/sha256/{}", digest_hex(digest))
}

fn header(path: &str, size: u64, kind: tar::EntryType) -> Result<tar::Header, ImageError> {
    let mut h = tar::Header::new_gnu();
    h.set_path(path).ctx(|| format!("tar path {path}"))?;
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(if kind == tar::EntryType::Directory {
        0o755
    } else {
        0o644
    });
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_cksum();
    Ok(h)
}

fn add_bytes<W: Write>(b: &mut tar::Builder<W>, path: &str, data: &[u8]) -> Result<(), ImageError> {
    let h = header(path, data.len() as u64, tar::EntryType::Regular)?;
    b.append(&h, data).ctx(|| format!("write {path}"))
}

/// Writes `names` (names or ids) as one docker-archive to `writer`. Layers
/// are written uncompressed, as Docker does, whatever the stored blob is.
pub fn save(store: &ImageStore, names: &[String], writer: impl Write) -> Result<(), ImageError> {
    // Several names may be one image: one entry, all its requested tags.
    let mut order: Vec<String> = Vec::new();
    let mut tags: BTreeMap<String, Vec<Reference>> = BTreeMap::new();
    for n in names {
        let img = store.get(n)?;
        if !order.contains(&img.id) {
            order.push(img.id.clone());
        }
        let t = tags.entry(img.id.clone()).or_default();
        if let Ok(r) = reference::parse(n)
            && r.digest().is_none()
            && img.repo_tags.contains(&r.familiar())
            && !t.contains(&r)
        {
            t.push(r);
        }
    }

    let tmp = store.temp_dir()?;
    let mut b = tar::Builder::new(writer);
    for d in ["blobs/", "blobs/sha256/"] {
        b.append(&header(d, 0, tar::EntryType::Directory)?, io::empty())
            .ctx(|| "write tar".into())?;
    }
    let mut written: BTreeSet<String> = BTreeSet::new();
    let mut sizes: BTreeMap<String, u64> = BTreeMap::new();
    let mut manifest_json = Vec::new();
    let mut index = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for id in &order {
        let img = store.get(id)?;
        let stored: ImageManifest = serde_json::from_slice(&store.manifest_bytes(id)?)?;
        let mut layers = Vec::new();
        for (i, diff_id) in img.diff_ids.iter().enumerate() {
            let name = blob_name(diff_id);
            if !sizes.contains_key(diff_id) {
                let blob = stored
                    .layers()
                    .get(i)
                    .and_then(|l| store.blob_path(l.digest().as_ref()))
                    .ok_or_else(|| {
                        ImageError::NotFound(format!("layer {diff_id} of {id} is not stored"))
                    })?;
                let path = uncompressed(&blob, diff_id, tmp.path())?;
                let size = fs::metadata(&path).ctx(|| "stat layer".into())?.len();
                let f = File::open(&path).ctx(|| format!("open {}", path.display()))?;
                b.append(&header(&name, size, tar::EntryType::Regular)?, f)
                    .ctx(|| format!("write {name}"))?;
                if path != blob {
                    let _ = fs::remove_file(&path);
                }
                sizes.insert(diff_id.clone(), size);
            }
            layers.push(name);
        }
        let config = store.content().read(id)?;
        let config_name = blob_name(id);
        if written.insert(config_name.clone()) {
            add_bytes(&mut b, &config_name, &config)?;
        }
        // The OCI view: a manifest of uncompressed layers (the same bytes as
        // the stored manifest for imported images, so digests hold).
        let oci_layers = img
            .diff_ids
            .iter()
            .map(|d| config::descriptor(MediaType::ImageLayer, d, sizes[d]))
            .collect::<Result<_, _>>()?;
        let oci = manifest_for_config(&config, oci_layers)?;
        let oci_bytes = serde_json::to_vec(&oci)?;
        let oci_digest = sha256_digest(&oci_bytes);
        if written.insert(blob_name(&oci_digest)) {
            add_bytes(&mut b, &blob_name(&oci_digest), &oci_bytes)?;
        }
        let refs = &tags[id];
        // index.json is written as JSON values, not an `ImageIndex`: oci-spec
        // keeps annotations in a `HashMap`, so their order (and the saved
        // archive's bytes) would change from one save to the next.
        let desc = |annotations: Option<serde_json::Value>| {
            let mut d = json!({
                "mediaType": MediaType::ImageManifest,
                "digest": oci_digest,
                "size": oci_bytes.len(),
            });
            if let Some(a) = annotations {
                d["annotations"] = a;
            }
            d
        };
        if refs.is_empty() {
            index.push(desc(None));
        }
        for r in refs {
            index.push(desc(Some(json!({
                "io.containerd.image.name": r.full(),
                "org.opencontainers.image.ref.name": r.tag().unwrap_or_default(),
            }))));
            if let Some(top) = img.diff_ids.last() {
                repositories
                    .entry(r.familiar_name())
                    .or_default()
                    .insert(r.tag().unwrap_or_default().into(), digest_hex(top).into());
            }
        }
        manifest_json.push(ArchiveEntry {
            config: config_name,
            repo_tags: Some(refs.iter().map(|r| r.familiar()).collect()),
            layers,
        });
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": MediaType::ImageIndex,
        "manifests": index,
    });
    add_bytes(&mut b, "index.json", &serde_json::to_vec(&index)?)?;
    add_bytes(
        &mut b,
        "manifest.json",
        &serde_json::to_vec(&manifest_json)?,
    )?;
    let layout = OciLayoutBuilder::default()
        .image_layout_version("1.0.0")
        .build()?;
    add_bytes(&mut b, "oci-layout", &serde_json::to_vec(&layout)?)?;
    if !repositories.is_empty() {
        add_bytes(&mut b, "repositories", &serde_json::to_vec(&repositories)?)?;
    }
    b.into_inner()
        .ctx(|| "finish archive".into())?
        .flush()
        .ctx(|| "flush archive".into())
}

/// `blob` itself when it is the uncompressed layer, else a decompressed copy in `tmp`.
fn uncompressed(blob: &Path, diff_id: &str, tmp: &Path) -> Result<PathBuf, ImageError> {
    if blob.file_name().and_then(|n| n.to_str()) == Some(digest_hex(diff_id)) {
        return Ok(blob.to_path_buf());
    }
    let out = tmp.join(digest_hex(diff_id));
    let mut d = compression::decompress(File::open(blob).ctx(|| "open blob".into())?)?;
    let mut f = File::create(&out).ctx(|| format!("create {}", out.display()))?;
    io::copy(&mut d, &mut f).ctx(|| "decompress layer".into())?;
    Ok(out)
}

/// Resolves an archive-relative path inside the extracted tree; anything
/// that leaves it (by `..`, absolute paths or symlinks) is refused.
fn inside(root: &Path, rel: &str) -> Result<PathBuf, ImageError> {
    let p = Path::new(rel);
    if p.components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(ImageError::InvalidArchive(format!(
            "{rel}: path leaves the archive"
        )));
    }
    let full = fs::canonicalize(root.join(p))
        .map_err(|_| ImageError::InvalidArchive(format!("{rel}: missing from the archive")))?;
    if !full.starts_with(root) || !full.is_file() {
        return Err(ImageError::InvalidArchive(format!(
            "{rel}: not a file inside the archive"
        )));
    }
    Ok(full)
}

fn read_inside(root: &Path, rel: &str) -> Result<Vec<u8>, ImageError> {
    let p = inside(root, rel)?;
    fs::read(&p).ctx(|| format!("read {rel}"))
}

/// Unpacks every layer file; bottom layers drop whiteouts, upper ones keep
/// them for overlayfs. Snapshots that exist are redone and discarded at
/// commit, which keeps the layer's blob stored for later pushes.
fn ingest_files(
    store: &ImageStore,
    stager: &mut Stager<'_>,
    files: &[(PathBuf, Option<String>)],
) -> Result<Vec<PreparedLayer>, ImageError> {
    let mut out = Vec::new();
    for (i, (path, expected)) in files.iter().enumerate() {
        let mode = if i == 0 {
            WhiteoutMode::Skip
        } else {
            WhiteoutMode::Overlay
        };
        let layer = match stager.take(path, i == 0)? {
            Some(layer) => layer,
            None => crate::ingest::ingest_layer_file(store, path, mode)?,
        };
        cas::digest::verify(expected.as_deref(), &layer.blob_digest)?;
        out.push(layer);
    }
    Ok(out)
}

fn layer_descriptors(layers: &[PreparedLayer]) -> Result<Vec<Descriptor>, ImageError> {
    layers
        .iter()
        .map(|p| {
            let media_type = if p.compressed {
                MediaType::ImageLayerGzip
            } else {
                MediaType::ImageLayer
            };
            config::descriptor(media_type, &p.blob_digest, p.blob_size)
        })
        .collect()
}

/// `docker load`: returns what was loaded as Docker prints it
/// (`x:tag`, or the image id for an untagged image).
pub fn load(
    store: &ImageStore,
    reader: impl Read,
    progress: Option<&dyn Fn(Progress)>,
) -> Result<Vec<String>, ImageError> {
    let tmp = store.temp_dir()?;
    let root = tmp.path().join("archive");
    fs::create_dir(&root).ctx(|| "create archive dir".into())?;
    let root = fs::canonicalize(&root).ctx(|| "resolve archive dir".into())?;
    let decoded = compression::decompress(io::BufReader::with_capacity(256 << 10, reader))?;
    // Layers are unpacked as they pass; staged ones the manifest does not
    // bind are dropped with the stager.
    let mut stager = Stager::new(store);
    unpack::unpack_with(
        decoded,
        &root,
        &UnpackOptions {
            allow_devices: false,
            whiteouts: WhiteoutMode::Skip,
        },
        &mut stager,
    )?;

    // Everything is verified and unpacked before the first record, so a
    // broken second image does not leave the first one half-loaded.
    let mut pending: Vec<(NewImage, Vec<String>, String)> = Vec::new();
    if root.join("manifest.json").exists() {
        let entries: Vec<ArchiveEntry> =
            serde_json::from_slice(&read_inside(&root, "manifest.json")?)?;
        for e in entries {
            let config = read_inside(&root, &e.config)?;
            let id = sha256_digest(&config);
            let parsed: ImageConfigFile = serde_json::from_slice(&config)?;
            if parsed.rootfs.diff_ids.len() != e.layers.len() {
                return Err(ImageError::InvalidArchive(format!(
                    "{}: {} layers listed, config has {}",
                    e.config,
                    e.layers.len(),
                    parsed.rootfs.diff_ids.len()
                )));
            }
            let files = e
                .layers
                .iter()
                .map(|l| Ok((inside(&root, l)?, None)))
                .collect::<Result<Vec<_>, ImageError>>()?;
            let layers = ingest_files(store, &mut stager, &files)?;
            let manifest = manifest_for_config(&config, layer_descriptors(&layers)?)?;
            let mut refs = Vec::new();
            let mut shown = Vec::new();
            for t in e.repo_tags.unwrap_or_default() {
                let r = reference::parse(&t)?;
                shown.push(r.familiar());
                refs.push(r);
            }
            pending.push((
                NewImage {
                    config,
                    manifest: serde_json::to_vec(&manifest)?,
                    layers: layers.into_iter().map(Some).collect(),
                    references: refs,
                },
                shown,
                id,
            ));
        }
    } else if root.join("index.json").exists() {
        pending = load_oci(store, &mut stager, &root)?;
    } else {
        return Err(ImageError::InvalidArchive(
            "neither manifest.json nor index.json found".into(),
        ));
    }

    let mut loaded = Vec::new();
    for (new, shown, id) in pending {
        store.record(new)?;
        let lines = if shown.is_empty() {
            vec![(format!("Loaded image ID: {id}"), id)]
        } else {
            shown
                .into_iter()
                .map(|s| (format!("Loaded image: {s}"), s))
                .collect()
        };
        for (line, name) in lines {
            if let Some(f) = progress {
                f(Progress::status(line));
            }
            loaded.push(name);
        }
    }
    Ok(loaded)
}

fn blob_file(root: &Path, digest: &str) -> Result<PathBuf, ImageError> {
    reference::validate_digest(digest)
        .map_err(|_| ImageError::InvalidArchive(format!("bad digest {digest:?}")))?;
    inside(root, &format!("blobs/{}", digest.replacen(':', "/", 1)))
}

fn read_blob(root: &Path, digest: &str) -> Result<Vec<u8>, ImageError> {
    let data = fs::read(blob_file(root, digest)?).ctx(|| format!("read blob {digest}"))?;
    let actual = sha256_digest(&data);
    if actual != digest {
        return Err(ImageError::DigestMismatch {
            expected: digest.into(),
            actual,
        });
    }
    Ok(data)
}

/// An OCI layout: manifests keep their bytes, so digests survive.
fn load_oci(
    store: &ImageStore,
    stager: &mut Stager<'_>,
    root: &Path,
) -> Result<Vec<(NewImage, Vec<String>, String)>, ImageError> {
    let index: serde_json::Value = serde_json::from_slice(&read_inside(root, "index.json")?)?;
    // Not JSON is a JSON error as before; JSON that is no index is the
    // archive's fault (a descriptor without a digest was one already).
    let index: ImageIndex = serde_json::from_value(index)
        .map_err(|e| ImageError::InvalidArchive(format!("index.json: {e}")))?;
    let mut out = Vec::new();
    for entry in index.manifests() {
        let digest = entry.digest().as_ref();
        let mut bytes = read_blob(root, digest)?;
        let v: serde_json::Value = serde_json::from_slice(&bytes)?;
        if v.get("manifests").is_some() {
            let nested: ImageIndex = serde_json::from_value(v)?;
            let e = platform::choose(&nested, &Platform::host()).ok_or_else(|| {
                ImageError::InvalidArchive(format!("{digest}: no manifest for this platform"))
            })?;
            bytes = read_blob(root, e.digest().as_ref())?;
        }
        let manifest: ImageManifest = serde_json::from_slice(&bytes)?;
        let config = read_blob(root, manifest.config().digest().as_ref())?;
        let files = manifest
            .layers()
            .iter()
            .map(|l| {
                let d = l.digest().as_ref();
                Ok((blob_file(root, d)?, Some(d.to_string())))
            })
            .collect::<Result<Vec<_>, ImageError>>()?;
        let layers = ingest_files(store, stager, &files)?;
        let ann = |key: &str| {
            entry
                .annotations()
                .as_ref()
                .and_then(|a| a.get(key))
                .map(String::as_str)
        };
        let name = ann("io.containerd.image.name")
            .or(ann("org.opencontainers.image.ref.name")
                .filter(|n| n.contains(':') || n.contains('/')));
        let mut refs = Vec::new();
        let mut shown = Vec::new();
        if let Some(n) = name {
            let r = reference::parse(n)?;
            if r.digest().is_none() {
                shown.push(r.familiar());
                refs.push(r);
            }
        }
        out.push((
            NewImage {
                config,
                manifest: bytes,
                layers: layers.into_iter().map(Some).collect(),
                references: refs,
            },
            shown,
            manifest.config().digest().to_string(),
        ));
    }
    Ok(out)
}
