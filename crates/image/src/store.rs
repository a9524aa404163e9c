//! The image store: ties content, snapshots and references together and
//! implements the operations the engine calls.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::changes;
use crate::compression;
use crate::config::{
    ContainerConfigSpec, Descriptor, History, ImageConfigFile, MEDIA_TYPE_CONFIG,
    MEDIA_TYPE_LAYER_TAR, MEDIA_TYPE_MANIFEST, Manifest, RootFs, host_architecture,
};
use crate::error::{ImageError, IoContext};
use crate::fsutil::{self, TMP_PREFIX, digest_hex, short_id, write_atomic};
use crate::ingest::PreparedLayer;
use crate::reference::{self, Reference, is_lower_hex};
use crate::snapshots::{SnapshotMeta, SnapshotStore, chain_ids};
use crate::unpack::{self, UnpackOptions, WhiteoutMode, archive_err};
use cas::{ContentStore as _, FsStore, FsWriter};

/// `sha256:<hex>` of the image config.
pub type ImageId = String;

const REFERENCES: &str = "references.json";
const IMAGES: &str = "images.json";

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSummary {
    pub id: ImageId,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    /// Unix seconds.
    pub created: i64,
    pub size: u64,
    pub labels: BTreeMap<String, String>,
    /// The build parent's id, or empty.
    pub parent: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub id: ImageId,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub config: ImageConfigFile,
    pub manifest_digest: String,
    pub size: u64,
    /// Unix seconds.
    pub created: i64,
    /// Layer diff ids, bottom first (same as `config.rootfs.diff_ids`).
    pub diff_ids: Vec<String>,
    /// Layer chain ids, bottom first.
    pub chain_ids: Vec<String>,
    /// The image a build step or commit derived this one from, or empty.
    pub parent: String,
}

/// How containers use an image, for Docker's delete rules: a stopped
/// container's image can be removed with force, a running one's never.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageUse {
    Unused,
    Stopped,
    Running,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteItem {
    Untagged(String),
    Deleted(String),
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct RefEntry {
    manifest: String,
    image: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct ImageEntry {
    manifest: String,
    /// The image a build step derived this one from (Docker's `Parent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    parent: Option<String>,
}

/// An image's parsed blobs, kept in memory for list/get.
#[derive(Debug, Clone)]
struct Loaded {
    manifest_digest: String,
    manifest: Manifest,
    config: ImageConfigFile,
    chain_ids: Vec<String>,
    size: u64,
}

#[derive(Debug, Default)]
struct State {
    refs: BTreeMap<String, RefEntry>,
    images: BTreeMap<String, ImageEntry>,
    loaded: HashMap<String, Loaded>,
}

#[derive(Debug)]
pub struct ImageStore {
    images_dir: PathBuf,
    content: FsStore,
    snapshots: SnapshotStore,
    /// Writers (import commit, tag, remove, GC) take it exclusively, so a
    /// garbage collection never sees a snapshot that is committed but not yet
    /// recorded.
    state: RwLock<State>,
}

/// Writes uncompressed bytes to the blob being ingested as they are read.
struct Tee<'a, R> {
    inner: R,
    out: &'a mut FsWriter,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out
            .write_all(&buf[..n])
            // Not a format error: keep it apart from archive errors.
            .map_err(|e| io::Error::new(io::ErrorKind::WriteZero, e))?;
        Ok(n)
    }
}

fn read_json_map<T: for<'de> Deserialize<'de>>(
    path: &Path,
) -> Result<BTreeMap<String, T>, ImageError> {
    match fs::read(path) {
        Ok(d) => Ok(serde_json::from_slice(&d)?),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(ImageError::io(format!("read {}", path.display()), e)),
    }
}

fn parse_created(s: Option<&str>) -> i64 {
    s.and_then(|c| DateTime::parse_from_rfc3339(c).ok())
        .map(|d| d.timestamp())
        .unwrap_or(0)
}

fn is_id_prefix(id: &str, s: &str) -> bool {
    !s.is_empty() && (id.starts_with(s) || digest_hex(id).starts_with(s))
}

impl ImageStore {
    /// Opens (creating) the store under `data_root` and repairs what a crash
    /// left: partial ingests, temp snapshots, unrecorded snapshots and blobs.
    pub fn open(data_root: &Path) -> Result<Self, ImageError> {
        fsutil::create_dir_private(data_root).ctx(|| format!("create {}", data_root.display()))?;
        let root =
            fs::canonicalize(data_root).ctx(|| format!("resolve {}", data_root.display()))?;
        let images_dir = root.join("images");
        fsutil::create_dir_private(&images_dir)
            .ctx(|| format!("create {}", images_dir.display()))?;
        for e in fs::read_dir(&images_dir).ctx(|| "read images dir".into())? {
            let e = e?;
            if e.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
                fsutil::remove_all(&e.path()).ctx(|| format!("remove {}", e.path().display()))?;
            }
        }
        let content = FsStore::open(&root.join("content"))?;
        let snapshots = SnapshotStore::open(&root.join("snapshots"))?;
        let store = ImageStore {
            images_dir,
            content,
            snapshots,
            state: RwLock::new(State::default()),
        };
        store.load()?;
        Ok(store)
    }

    fn read_state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write_state(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    fn load(&self) -> Result<(), ImageError> {
        let mut st = self.write_state();
        st.refs = read_json_map(&self.images_dir.join(REFERENCES))?;
        st.images = read_json_map(&self.images_dir.join(IMAGES))?;
        // images.json is written before references.json, but be lenient.
        let from_refs: Vec<(String, String)> = st
            .refs
            .values()
            .map(|r| (r.image.clone(), r.manifest.clone()))
            .collect();
        for (id, manifest) in from_refs {
            st.images.entry(id).or_insert(ImageEntry {
                manifest,
                parent: None,
            });
        }
        let mut broken = Vec::new();
        let entries: Vec<(String, ImageEntry)> = st
            .images
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (id, e) in entries {
            match self.load_image(&id, &e.manifest) {
                Ok(l) => {
                    st.loaded.insert(id, l);
                }
                Err(_) => broken.push(id),
            }
        }
        if !broken.is_empty() {
            // Blobs or snapshots are gone: the record cannot be used.
            for id in &broken {
                st.images.remove(id);
            }
            st.refs.retain(|_, r| !broken.contains(&r.image));
            self.save_images(&st)?;
            self.save_refs(&st)?;
        }
        self.gc_snapshots(&st)?;
        self.gc_blobs(&st)?;
        Ok(())
    }

    fn load_image(&self, id: &str, manifest_digest: &str) -> Result<Loaded, ImageError> {
        let manifest: Manifest = serde_json::from_slice(&self.content.read(manifest_digest)?)?;
        let config: ImageConfigFile = serde_json::from_slice(&self.content.read(id)?)?;
        let chain = chain_ids(&config.rootfs.diff_ids);
        let mut size = 0;
        for c in &chain {
            size += self.snapshots.meta(c)?.size;
        }
        Ok(Loaded {
            manifest_digest: manifest_digest.to_string(),
            manifest,
            config,
            chain_ids: chain,
            size,
        })
    }

    fn save_refs(&self, st: &State) -> Result<(), ImageError> {
        let p = self.images_dir.join(REFERENCES);
        write_atomic(&p, &serde_json::to_vec_pretty(&st.refs)?)
            .ctx(|| format!("write {}", p.display()))
    }

    fn save_images(&self, st: &State) -> Result<(), ImageError> {
        let p = self.images_dir.join(IMAGES);
        write_atomic(&p, &serde_json::to_vec_pretty(&st.images)?)
            .ctx(|| format!("write {}", p.display()))
    }

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

        // tar reads 512-byte headers; keep that from becoming a syscall each.
        let decoded = compression::decompress(io::BufReader::with_capacity(256 << 10, reader))?;
        let mut blob = self.content.writer()?;
        let tmp = self.snapshots.prepare()?;
        let stats = {
            let mut tee = Tee {
                inner: decoded,
                out: &mut blob,
            };
            let opts = UnpackOptions {
                allow_devices: true,
                whiteouts: WhiteoutMode::Skip,
            };
            let stats = unpack::unpack(&mut tee, &tmp.fs(), &opts)?;
            // The tar end marker may be followed by padding: it belongs to the blob.
            io::copy(&mut tee, &mut io::sink()).map_err(archive_err)?;
            stats
        };

        let created = opts.created.unwrap_or_else(Utc::now);
        let created_s = created.to_rfc3339_opts(SecondsFormat::Nanos, true);

        let mut st = self.write_state();
        let (diff_id, blob_size) = self.content.commit(blob, None)?;
        let chain = chain_ids(std::slice::from_ref(&diff_id));
        let meta = SnapshotMeta {
            chain_id: chain[0].clone(),
            diff_id: diff_id.clone(),
            parent: None,
            size: stats.size,
        };
        self.snapshots.commit(tmp, &meta)?;
        let layer_size = self.snapshots.meta(&chain[0])?.size;

        let config = ImageConfigFile {
            architecture: opts
                .architecture
                .unwrap_or_else(|| host_architecture().to_string()),
            os: opts.os.unwrap_or_else(|| "linux".to_string()),
            variant: None,
            created: Some(created_s.clone()),
            author: opts.author.clone().filter(|a| !a.is_empty()),
            config: runtime,
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: vec![diff_id.clone()],
            },
            history: vec![History {
                created: Some(created_s),
                created_by: Some("import".into()),
                author: opts.author.filter(|a| !a.is_empty()),
                comment: Some(
                    opts.comment
                        .filter(|c| !c.is_empty())
                        .unwrap_or_else(|| "Imported from -".into()),
                ),
                empty_layer: None,
            }],
        };
        let config_bytes = serde_json::to_vec(&config)?;
        let (id, config_size) = self.content.write(&config_bytes)?;
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(MEDIA_TYPE_MANIFEST.into()),
            config: Descriptor {
                media_type: MEDIA_TYPE_CONFIG.into(),
                digest: id.clone(),
                size: config_size,
            },
            layers: vec![Descriptor {
                media_type: MEDIA_TYPE_LAYER_TAR.into(),
                digest: diff_id,
                size: blob_size,
            }],
        };
        let (manifest_digest, _) = self.content.write(&serde_json::to_vec(&manifest)?)?;

        st.images.insert(
            id.clone(),
            ImageEntry {
                manifest: manifest_digest.clone(),
                parent: None,
            },
        );
        st.loaded.insert(
            id.clone(),
            Loaded {
                manifest_digest: manifest_digest.clone(),
                manifest,
                config,
                chain_ids: chain,
                size: layer_size,
            },
        );
        self.save_images(&st)?;
        if let Some(r) = &reference {
            st.refs.insert(
                r.full(),
                RefEntry {
                    manifest: manifest_digest,
                    image: id.clone(),
                },
            );
            self.save_refs(&st)?;
        }
        Ok(id)
    }

    pub fn list(&self) -> Result<Vec<ImageSummary>, ImageError> {
        let st = self.read_state();
        let mut out: Vec<ImageSummary> = st
            .loaded
            .iter()
            .map(|(id, l)| {
                let (repo_tags, repo_digests) = names_of(&st, id);
                ImageSummary {
                    id: id.clone(),
                    repo_tags,
                    repo_digests,
                    created: parse_created(l.config.created.as_deref()),
                    size: l.size,
                    labels: l.config.config.labels.clone().unwrap_or_default(),
                    parent: st
                        .images
                        .get(id)
                        .and_then(|e| e.parent.clone())
                        .unwrap_or_default(),
                }
            })
            .collect();
        out.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Records that a build step derived `id` from `parent`.
    pub fn set_parent(&self, id: &str, parent: &str) -> Result<(), ImageError> {
        let mut st = self.write_state();
        let id = resolve(&st, id)?;
        let parent = resolve(&st, parent)?;
        if let Some(e) = st.images.get_mut(&id) {
            e.parent = Some(parent);
        }
        self.save_images(&st)
    }

    pub fn get(&self, name_or_id: &str) -> Result<Image, ImageError> {
        let st = self.read_state();
        let id = resolve(&st, name_or_id)?;
        Ok(image_of(&st, &id))
    }

    /// Points `target` at the image (moving it if it named another image).
    pub fn tag(&self, name_or_id: &str, target: &Reference) -> Result<(), ImageError> {
        if target.digest().is_some() {
            return Err(ImageError::InvalidReference(
                "refusing to create a tag with a digest reference".into(),
            ));
        }
        let target = match target.tag() {
            Some(_) => target.clone(),
            None => target.with_tag(reference::DEFAULT_TAG)?,
        };
        let mut st = self.write_state();
        let id = resolve(&st, name_or_id)?;
        let manifest = st.images[&id].manifest.clone();
        st.refs.insert(
            target.full(),
            RefEntry {
                manifest,
                image: id,
            },
        );
        self.save_refs(&st)
    }

    /// `docker rmi` with Docker's untag/delete/conflict rules.
    pub fn remove(
        &self,
        name_or_id: &str,
        force: bool,
        in_use: &dyn Fn(&str) -> ImageUse,
    ) -> Result<Vec<DeleteItem>, ImageError> {
        let mut st = self.write_state();
        let id = resolve(&st, name_or_id)?;
        let short = short_id(&id);
        let usage = in_use(&id);
        let used = usage != ImageUse::Unused;
        let mut records = Vec::new();

        let quiet = if !is_id_prefix(&id, name_or_id) {
            // A name was given: untag it first. Only the last name of an image a
            // container uses needs force (it would leave the image dangling).
            if used && !force && refs_of(&st, &id).len() <= 1 {
                return Err(ImageError::Conflict(format!(
                    "conflict: unable to remove repository reference \"{name_or_id}\" (must force) - \
                     a container is using its referenced image {short}"
                )));
            }
            let r = reference::parse(name_or_id)?;
            st.refs.remove(&r.full());
            records.push(DeleteItem::Untagged(r.familiar()));
            if r.digest().is_none() {
                // Digest references of a repository go with its last tag.
                let name = r.name();
                let keep_digests = refs_of(&st, &id)
                    .iter()
                    .any(|k| k.digest().is_none() && k.name() == name);
                if !keep_digests {
                    for k in refs_of(&st, &id) {
                        if k.digest().is_some() && k.name() == name {
                            st.refs.remove(&k.full());
                            records.push(DeleteItem::Untagged(k.familiar()));
                        }
                    }
                }
            }
            if !refs_of(&st, &id).is_empty() {
                self.save_refs(&st)?;
                return Ok(records);
            }
            true
        } else {
            // Checked before anything changes: the state is edited in place.
            if usage == ImageUse::Running {
                return Err(ImageError::Conflict(format!(
                    "conflict: unable to delete {short} (cannot be forced) - image is being used by a running container"
                )));
            }
            let refs = refs_of(&st, &id);
            let tags = refs.iter().filter(|r| r.digest().is_none()).count();
            let single_repo = refs.windows(2).all(|w| w[0].name() == w[1].name());
            if tags <= 1 && single_repo {
                if used && !force {
                    return Err(ImageError::Conflict(format!(
                        "conflict: unable to delete {short} (must be forced) - image is being used by a container"
                    )));
                }
                for r in refs {
                    st.refs.remove(&r.full());
                    records.push(DeleteItem::Untagged(r.familiar()));
                }
            }
            false
        };

        if usage == ImageUse::Running {
            // Asked by name, even forced: a running container keeps its
            // image, and the untag was all there was to do (as dockerd).
            self.save_refs(&st)?;
            return Ok(records);
        }
        if !force {
            let conflict = if used {
                Some(format!(
                    "conflict: unable to delete {short} (must be forced) - image is being used by a container"
                ))
            } else if !refs_of(&st, &id).is_empty() {
                Some(format!(
                    "conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories"
                ))
            } else {
                None
            };
            if let Some(msg) = conflict {
                if quiet {
                    // The untag was the request; the image just stays (dangling).
                    self.save_refs(&st)?;
                    return Ok(records);
                }
                return Err(ImageError::Conflict(msg));
            }
        }
        for r in refs_of(&st, &id) {
            st.refs.remove(&r.full());
            records.push(DeleteItem::Untagged(r.familiar()));
        }
        self.save_refs(&st)?;
        self.delete_image(&mut st, &id, &mut records)?;
        Ok(records)
    }

    /// Drops the image record, then its blobs and snapshots that nothing else uses.
    fn delete_image(
        &self,
        st: &mut State,
        id: &str,
        records: &mut Vec<DeleteItem>,
    ) -> Result<(), ImageError> {
        let Some(gone) = st.loaded.remove(id) else {
            return Ok(());
        };
        st.images.remove(id);
        self.save_images(st)?;
        records.push(DeleteItem::Deleted(id.to_string()));

        let mut live_chains: BTreeSet<String> = st
            .loaded
            .values()
            .flat_map(|l| l.chain_ids.clone())
            .collect();
        live_chains.extend(
            self.snapshots
                .list_rw()?
                .into_iter()
                .flat_map(|r| r.chain_ids),
        );
        for c in gone.chain_ids.iter().rev() {
            if !live_chains.contains(c) && self.snapshots.exists(c) {
                self.snapshots.remove(c)?;
                records.push(DeleteItem::Deleted(c.clone()));
            }
        }
        let live_blobs = live_blob_set(st);
        let mut blobs = vec![gone.manifest_digest.clone(), id.to_string()];
        blobs.extend(gone.manifest.layers.iter().map(|l| l.digest.clone()));
        for b in blobs {
            if !live_blobs.contains(&b) {
                self.content.delete(&b)?;
            }
        }
        Ok(())
    }

    /// Removes snapshots used by no image and no container layer.
    fn gc_snapshots(&self, st: &State) -> Result<Vec<String>, ImageError> {
        let mut live: BTreeSet<String> = st
            .loaded
            .values()
            .flat_map(|l| l.chain_ids.clone())
            .collect();
        live.extend(
            self.snapshots
                .list_rw()?
                .into_iter()
                .flat_map(|r| r.chain_ids),
        );
        let mut removed = Vec::new();
        for c in self.snapshots.list()? {
            if !live.contains(&c) {
                self.snapshots.remove(&c)?;
                removed.push(c);
            }
        }
        Ok(removed)
    }

    fn gc_blobs(&self, st: &State) -> Result<(), ImageError> {
        let live = live_blob_set(st);
        for b in self.content.list()? {
            if !live.contains(&b) {
                self.content.delete(&b)?;
            }
        }
        Ok(())
    }

    /// Creates the container's upper/work dirs on top of the image's layers.
    pub fn create_rw_layer(&self, container_id: &str, image_id: &str) -> Result<(), ImageError> {
        let st = self.read_state();
        let id = resolve(&st, image_id)?;
        let chain = st.loaded[&id].chain_ids.clone();
        self.snapshots.create_rw(container_id, &id, &chain)
    }

    /// Mounts the container's overlay (creating its layer if needed) and
    /// returns the rootfs path; already mounted is fine.
    pub fn mount_rw_layer(
        &self,
        container_id: &str,
        image_id: &str,
    ) -> Result<PathBuf, ImageError> {
        if self.snapshots.rw_meta(container_id).is_err() {
            self.create_rw_layer(container_id, image_id)?;
        }
        // Holding the lock keeps a concurrent GC away from the lower layers.
        let _st = self.read_state();
        self.snapshots.mount_rw(container_id)
    }

    pub fn unmount_rw_layer(&self, container_id: &str) -> Result<(), ImageError> {
        self.snapshots.unmount_rw(container_id)
    }

    /// Unmounts and deletes the container's layer, then the snapshots of a
    /// force-removed image that only this container still used.
    pub fn remove_rw_layer(&self, container_id: &str) -> Result<(), ImageError> {
        let st = self.write_state();
        self.snapshots.remove_rw(container_id)?;
        self.gc_snapshots(&st)?;
        Ok(())
    }

    /// Path of the unpacked layer (for diff/export later).
    pub fn layer_path(&self, chain_id: &str) -> PathBuf {
        self.snapshots.fs_path(chain_id)
    }

    /// Path of the container's overlay mount point (mounted or not).
    pub fn rw_mount_path(&self, container_id: &str) -> Result<PathBuf, ImageError> {
        self.snapshots.merged_path(container_id)
    }
}

/// An image whose blobs and layers are ready to be recorded in one step.
pub(crate) struct NewImage {
    pub config: Vec<u8>,
    pub manifest: Vec<u8>,
    /// One per diff id, bottom first; `None` for a layer whose snapshot exists.
    pub layers: Vec<Option<PreparedLayer>>,
    /// Names to point at the image (`name:tag` and `name@digest`).
    pub references: Vec<Reference>,
}

/// A temporary directory inside the data root (same filesystem as the
/// snapshots, removed on drop, and by `open` after a crash).
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fsutil::remove_all(&self.0);
    }
}

impl ImageStore {
    pub fn content(&self) -> &FsStore {
        &self.content
    }

    pub(crate) fn snapshot_store(&self) -> &SnapshotStore {
        &self.snapshots
    }

    pub(crate) fn temp_dir(&self) -> Result<TempDir, ImageError> {
        let p = self.images_dir.join(fsutil::unique_name());
        fsutil::create_dir_mode(&p, fsutil::PRIVATE_DIR)
            .ctx(|| format!("create {}", p.display()))?;
        Ok(TempDir(p))
    }

    /// The raw bytes of an image's manifest (as pulled, imported or built).
    pub fn manifest_bytes(&self, name_or_id: &str) -> Result<Vec<u8>, ImageError> {
        let digest = self.get(name_or_id)?.manifest_digest;
        Ok(self.content.read(&digest)?)
    }

    /// Path of a stored blob, if present.
    pub fn blob_path(&self, digest: &str) -> Option<PathBuf> {
        self.content
            .contains(digest)
            .then(|| self.content.path(digest))
            .flatten()
    }

    /// The container's overlay upper dir.
    pub fn rw_upper_path(&self, container_id: &str) -> Result<PathBuf, ImageError> {
        self.snapshots.upper_path(container_id)
    }

    /// Points `reference` (a tag or a digest reference) at an existing image.
    pub(crate) fn add_reference(&self, id: &str, reference: &Reference) -> Result<(), ImageError> {
        let mut st = self.write_state();
        let id = resolve(&st, id)?;
        let manifest = st.images[&id].manifest.clone();
        st.refs.insert(
            reference.full(),
            RefEntry {
                manifest,
                image: id,
            },
        );
        self.save_refs(&st)
    }

    /// Commits prepared layers and blobs and records the image under one
    /// write lock, so nothing half-recorded is ever visible (or collected).
    /// Returns (image id, manifest digest).
    pub(crate) fn record(&self, new: NewImage) -> Result<(ImageId, String), ImageError> {
        let config: ImageConfigFile = serde_json::from_slice(&new.config)?;
        let manifest: Manifest = serde_json::from_slice(&new.manifest)?;
        let diff_ids = &config.rootfs.diff_ids;
        if new.layers.len() != diff_ids.len() {
            return Err(ImageError::InvalidArchive(format!(
                "image has {} layers but its config lists {} diff ids",
                new.layers.len(),
                diff_ids.len()
            )));
        }
        let chain = chain_ids(diff_ids);
        let mut st = self.write_state();
        let mut size = 0;
        for (i, layer) in new.layers.into_iter().enumerate() {
            match layer {
                Some(p) => {
                    if p.diff_id != diff_ids[i] {
                        return Err(ImageError::DigestMismatch {
                            expected: diff_ids[i].clone(),
                            actual: p.diff_id,
                        });
                    }
                    self.content.commit(p.blob, None)?;
                    let meta = SnapshotMeta {
                        chain_id: chain[i].clone(),
                        diff_id: p.diff_id.clone(),
                        parent: i.checked_sub(1).map(|j| chain[j].clone()),
                        size: p.size,
                    };
                    self.snapshots.commit(p.tmp, &meta)?;
                }
                None if self.snapshots.exists(&chain[i]) => {}
                None => {
                    return Err(ImageError::Corrupt(format!(
                        "layer snapshot {} vanished",
                        chain[i]
                    )));
                }
            }
            size += self.snapshots.meta(&chain[i])?.size;
        }
        let (id, _) = self.content.write(&new.config)?;
        let (manifest_digest, _) = self.content.write(&new.manifest)?;
        st.images.insert(
            id.clone(),
            ImageEntry {
                manifest: manifest_digest.clone(),
                parent: None,
            },
        );
        st.loaded.insert(
            id.clone(),
            Loaded {
                manifest_digest: manifest_digest.clone(),
                manifest,
                config,
                chain_ids: chain,
                size,
            },
        );
        self.save_images(&st)?;
        if !new.references.is_empty() {
            for r in &new.references {
                st.refs.insert(
                    r.full(),
                    RefEntry {
                        manifest: manifest_digest.clone(),
                        image: id.clone(),
                    },
                );
            }
            self.save_refs(&st)?;
        }
        Ok((id, manifest_digest))
    }
}

#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<ImageStore>();
}

fn live_blob_set(st: &State) -> BTreeSet<String> {
    let mut live = BTreeSet::new();
    for (id, l) in &st.loaded {
        live.insert(id.clone());
        live.insert(l.manifest_digest.clone());
        live.insert(l.manifest.config.digest.clone());
        live.extend(l.manifest.layers.iter().map(|d| d.digest.clone()));
    }
    live.extend(st.refs.values().map(|r| r.manifest.clone()));
    live
}

/// References naming the image, parsed.
fn refs_of(st: &State, id: &str) -> Vec<Reference> {
    st.refs
        .iter()
        .filter(|(_, e)| e.image == id)
        .filter_map(|(k, _)| reference::parse_named(k).ok())
        .collect()
}

fn names_of(st: &State, id: &str) -> (Vec<String>, Vec<String>) {
    let mut tags = Vec::new();
    let mut digests = Vec::new();
    for r in refs_of(st, id) {
        match r.digest() {
            Some(d) => digests.push(format!("{}@{d}", r.familiar_name())),
            None => tags.push(r.familiar()),
        }
    }
    (tags, digests)
}

fn image_of(st: &State, id: &str) -> Image {
    let l = &st.loaded[id];
    let (repo_tags, repo_digests) = names_of(st, id);
    Image {
        id: id.to_string(),
        repo_tags,
        repo_digests,
        config: l.config.clone(),
        manifest_digest: l.manifest_digest.clone(),
        size: l.size,
        created: parse_created(l.config.created.as_deref()),
        diff_ids: l.config.rootfs.diff_ids.clone(),
        chain_ids: l.chain_ids.clone(),
        parent: st
            .images
            .get(id)
            .and_then(|e| e.parent.clone())
            .unwrap_or_default(),
    }
}

/// Name, `sha256:` id, full hex id or unique id prefix → image id. Names win
/// over id prefixes, as in Docker.
fn resolve(st: &State, s: &str) -> Result<String, ImageError> {
    if let Some(hex) = s.strip_prefix("sha256:") {
        if !hex.is_empty() && hex.len() <= 64 && is_lower_hex(hex) {
            return by_prefix(st, hex, s);
        }
        return Err(ImageError::NotFound(s.to_string()));
    }
    let parsed = reference::parse(s);
    if let Ok(r) = &parsed
        && let Some(e) = st.refs.get(&r.full())
        && st.loaded.contains_key(&e.image)
    {
        return Ok(e.image.clone());
    }
    if !s.is_empty() && s.len() <= 64 && is_lower_hex(s) {
        match by_prefix(st, s, s) {
            Err(ImageError::NotFound(_)) => {}
            other => return other,
        }
    }
    Err(ImageError::NotFound(match parsed {
        Ok(r) => r.familiar(),
        Err(_) => s.to_string(),
    }))
}

fn by_prefix(st: &State, hex: &str, shown: &str) -> Result<String, ImageError> {
    let mut hits = st
        .loaded
        .keys()
        .filter(|id| digest_hex(id).starts_with(hex));
    match (hits.next(), hits.next()) {
        (Some(id), None) => Ok(id.clone()),
        (Some(_), Some(_)) => Err(ImageError::Ambiguous(shown.to_string())),
        (None, _) => Err(ImageError::NotFound(shown.to_string())),
    }
}
