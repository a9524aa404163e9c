//! `docker export` (a tar of a container's merged rootfs) and `docker commit`
//! (the container's overlay upper dir as a new layer on its image).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use chrono::{SecondsFormat, Utc};

use crate::changes;
use crate::config::{
    self, ContainerConfigSpec, History, ImageConfigFile, ImageManifest, MediaType,
};
use crate::error::{ImageError, IoContext};
use crate::ingest::{PreparedLayer, ingest_layer};
use crate::reference::{self, Reference};
use crate::store::{ImageId, ImageStore, NewImage, TempDir};
use crate::unpack::WhiteoutMode;

const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// How owners on disk are recorded in an archive: as they are, or (for a
/// remapped container, whose own files hold host ids) as the container sees
/// them.
#[derive(Clone, Default)]
pub struct OwnerMap(Option<std::sync::Arc<OwnerFn>>);

type OwnerFn = dyn Fn(u32, u32) -> (u32, u32) + Send + Sync;

impl OwnerMap {
    pub fn new(f: impl Fn(u32, u32) -> (u32, u32) + Send + Sync + 'static) -> Self {
        OwnerMap(Some(std::sync::Arc::new(f)))
    }

    fn apply(&self, uid: u32, gid: u32) -> (u32, u32) {
        match &self.0 {
            Some(f) => f(uid, gid),
            None => (uid, gid),
        }
    }
}

impl std::fmt::Debug for OwnerMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "OwnerMap(mapped)"
        } else {
            "OwnerMap(same)"
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// `repo[:tag]` for the new image.
    pub reference: Option<Reference>,
    pub author: Option<String>,
    /// History comment (`--message`).
    pub comment: Option<String>,
    /// `--change` instructions applied on top of `config`.
    pub changes: Vec<String>,
    /// Runtime config of the new image; defaults to the parent's.
    pub config: Option<ContainerConfigSpec>,
    /// Owners of the container's files as its image records them.
    pub owners: OwnerMap,
}

/// Walks a tree into a tar, sorted for reproducible layers.
struct TreeWriter<W: Write> {
    out: tar::Builder<W>,
    /// Overlay upper dir: char 0/0 and the opaque xattr become OCI whiteouts.
    upper: bool,
    dev: u64,
    links: HashMap<(u64, u64), String>,
    owners: OwnerMap,
}

fn header_for(meta: &fs::Metadata, kind: tar::EntryType, owners: &OwnerMap) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(meta.mode() & 0o7777);
    let (uid, gid) = owners.apply(meta.uid(), meta.gid());
    h.set_uid(uid as u64);
    h.set_gid(gid as u64);
    h.set_mtime(meta.mtime().max(0) as u64);
    h.set_size(0);
    h
}

fn is_opaque(path: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    let name = std::ffi::CString::new(OPAQUE_XATTR).expect("no NUL");
    let mut buf = [0u8; 4];
    // SAFETY: valid NUL-terminated strings and a buffer of the given length.
    let n = unsafe {
        libc::lgetxattr(
            c.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    n == 1 && buf[0] == b'y'
}

impl<W: Write> TreeWriter<W> {
    fn empty_file(&mut self, name: &str) -> Result<(), ImageError> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(0);
        self.out
            .append_data(&mut h, name, io::empty())
            .ctx(|| format!("write {name}"))
    }

    fn dir(&mut self, abs: &Path, rel: &str) -> Result<(), ImageError> {
        let mut names: Vec<_> = fs::read_dir(abs)
            .ctx(|| format!("read {}", abs.display()))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .ctx(|| format!("read {}", abs.display()))?;
        names.sort();
        for name in names {
            let path = abs.join(&name);
            let name = name.to_string_lossy().into_owned();
            let child = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            self.entry(&path, &child, &name, rel)?;
        }
        Ok(())
    }

    fn entry(
        &mut self,
        path: &Path,
        rel: &str,
        name: &str,
        parent: &str,
    ) -> Result<(), ImageError> {
        let meta = fs::symlink_metadata(path).ctx(|| format!("stat {}", path.display()))?;
        let ft = meta.file_type();
        let ctx = || format!("write {rel}");
        if ft.is_dir() {
            let mut h = header_for(&meta, tar::EntryType::Directory, &self.owners);
            self.out
                .append_data(&mut h, format!("{rel}/"), io::empty())
                .ctx(ctx)?;
            if self.upper && is_opaque(path) {
                self.empty_file(&format!("{rel}/.wh..wh..opq"))?;
            }
            // Other filesystems mounted below (proc, volumes) are not ours.
            if meta.dev() == self.dev {
                self.dir(path, rel)?;
            }
        } else if ft.is_char_device() && self.upper && meta.rdev() == 0 {
            let wh = if parent.is_empty() {
                format!(".wh.{name}")
            } else {
                format!("{parent}/.wh.{name}")
            };
            self.empty_file(&wh)?;
        } else if ft.is_file() {
            let key = (meta.dev(), meta.ino());
            if meta.nlink() > 1 {
                if let Some(first) = self.links.get(&key).cloned() {
                    let mut h = header_for(&meta, tar::EntryType::Link, &self.owners);
                    return self.out.append_link(&mut h, rel, first).ctx(ctx);
                }
                self.links.insert(key, rel.to_string());
            }
            let mut h = header_for(&meta, tar::EntryType::Regular, &self.owners);
            h.set_size(meta.len());
            let f = File::open(path).ctx(|| format!("open {}", path.display()))?;
            self.out.append_data(&mut h, rel, f).ctx(ctx)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(path).ctx(|| format!("readlink {}", path.display()))?;
            let mut h = header_for(&meta, tar::EntryType::Symlink, &self.owners);
            self.out.append_link(&mut h, rel, target).ctx(ctx)?;
        } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() {
            let kind = if ft.is_char_device() {
                tar::EntryType::Char
            } else if ft.is_block_device() {
                tar::EntryType::Block
            } else {
                tar::EntryType::Fifo
            };
            let mut h = header_for(&meta, kind, &self.owners);
            let rdev = meta.rdev();
            h.set_device_major(libc::major(rdev)).ctx(ctx)?;
            h.set_device_minor(libc::minor(rdev)).ctx(ctx)?;
            self.out.append_data(&mut h, rel, io::empty()).ctx(ctx)?;
        }
        // Sockets do not survive a tar round trip; Docker skips them too.
        Ok(())
    }
}

pub(crate) fn write_tree<W: Write>(
    root: &Path,
    writer: W,
    upper: bool,
    owners: &OwnerMap,
) -> Result<W, ImageError> {
    let dev = fs::metadata(root)
        .ctx(|| format!("stat {}", root.display()))?
        .dev();
    let mut out = tar::Builder::new(writer);
    out.follow_symlinks(false);
    let mut w = TreeWriter {
        out,
        upper,
        dev,
        links: HashMap::new(),
        owners: owners.clone(),
    };
    w.dir(root, "")?;
    w.out.into_inner().ctx(|| "finish tar".into())
}

/// `docker export`: the container's merged rootfs (mounted at `mount_path`) as a tar.
pub fn export_rootfs(
    mount_path: &Path,
    writer: impl Write,
    owners: &OwnerMap,
) -> Result<(), ImageError> {
    let mut w = write_tree(mount_path, writer, false, owners)?;
    w.flush().ctx(|| "flush export".into())
}

/// A writable layer's changes as a prepared layer: written to a tar in a temp
/// dir first (returned too, to live until the record), then ingested as any
/// other layer. With layers below it (`on_base`), its whiteouts hide their
/// files; on nothing, they are dropped.
pub(crate) fn ingest_upper(
    store: &ImageStore,
    upper: &Path,
    on_base: bool,
    owners: &OwnerMap,
) -> Result<(TempDir, PreparedLayer), ImageError> {
    let tmp = store.temp_dir()?;
    let layer_path = tmp.path().join("layer.tar");
    let f = File::create(&layer_path).ctx(|| format!("create {}", layer_path.display()))?;
    write_tree(upper, io::BufWriter::new(f), true, owners)?
        .into_inner()
        .map_err(|e| ImageError::io("flush layer", e.into_error()))?
        .sync_all()
        .ctx(|| "sync layer".into())?;
    let mode = if on_base {
        WhiteoutMode::Overlay
    } else {
        WhiteoutMode::Skip
    };
    let layer = File::open(&layer_path).ctx(|| format!("open {}", layer_path.display()))?;
    let prepared = ingest_layer(store, io::BufReader::new(layer), None, mode, &mut |_| {})?;
    Ok((tmp, prepared))
}

/// `docker commit`: the container's changes as a layer on top of `parent`.
pub fn commit(
    store: &ImageStore,
    container_id: &str,
    parent: &str,
    opts: CommitOptions,
) -> Result<ImageId, ImageError> {
    let base = store.get(parent)?;
    let upper = store.rw_upper_path(container_id)?;
    if !upper.is_dir() {
        return Err(ImageError::NotFound(format!(
            "writable layer of container {container_id}"
        )));
    }
    let reference = match opts.reference {
        Some(r) if r.digest().is_some() => {
            return Err(ImageError::InvalidReference(
                "invalid reference format: cannot commit to a digest reference".into(),
            ));
        }
        Some(r) if r.tag().is_none() => Some(r.with_tag(reference::DEFAULT_TAG)?),
        other => other,
    };
    let mut runtime = opts.config.unwrap_or_else(|| base.config.config.clone());
    changes::apply(&mut runtime, &opts.changes)?;

    let (_tmp, prepared) = ingest_upper(store, &upper, !base.diff_ids.is_empty(), &opts.owners)?;

    let created = Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true);
    let author = opts.author.filter(|a| !a.is_empty());
    let mut config: ImageConfigFile = base.config.clone();
    config.created = Some(created.clone());
    config.author = author.clone();
    config.config = runtime;
    config.rootfs.diff_ids.push(prepared.diff_id.clone());
    config.history.push(History {
        created: Some(created),
        created_by: None,
        author,
        comment: opts.comment.filter(|c| !c.is_empty()),
        empty_layer: None,
    });
    let config_bytes = serde_json::to_vec(&config)?;

    let parent_manifest: ImageManifest = serde_json::from_slice(&store.manifest_bytes(&base.id)?)?;
    let mut layers = parent_manifest.layers().clone();
    layers.push(config::descriptor(
        MediaType::ImageLayer,
        &prepared.blob_digest,
        prepared.blob_size,
    )?);
    let manifest = config::manifest_for_config(&config_bytes, layers)?;
    let mut new_layers: Vec<_> = base.diff_ids.iter().map(|_| None).collect();
    new_layers.push(Some(prepared));
    let (id, _) = store.record(NewImage {
        config: config_bytes,
        manifest: serde_json::to_vec(&manifest)?,
        layers: new_layers,
        references: reference.into_iter().collect(),
    })?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use nix::sys::stat::{Mode, SFlag, mknod};

    use super::*;

    fn entries(tar: &[u8]) -> Vec<String> {
        let mut a = tar::Archive::new(tar);
        let mut out: Vec<String> = a
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                format!(
                    "{} {:?} {}:{}",
                    e.path().unwrap().display(),
                    h.entry_type(),
                    h.device_major().ok().flatten().unwrap_or(0),
                    h.device_minor().ok().flatten().unwrap_or(0)
                )
            })
            .collect();
        out.sort();
        out
    }

    /// An upper dir's char 0/0 is overlay's whiteout (the kernel makes one for
    /// every deletion, and no container can create a char 0/0 through the
    /// overlay mount), so it becomes `.wh.<name>`, as moby's overlay differ
    /// does; every other device number and fifo is a node of the image.
    #[test]
    fn upper_dir_nodes_become_device_entries_and_whiteouts() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: mknod of devices needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        let rw = Mode::from_bits_truncate(0o644);
        mknod(&p.join("gone"), SFlag::S_IFCHR, Mode::empty(), 0).unwrap();
        mknod(&p.join("null"), SFlag::S_IFCHR, rw, libc::makedev(1, 3)).unwrap();
        mknod(&p.join("sda"), SFlag::S_IFBLK, rw, libc::makedev(8, 0)).unwrap();
        mknod(&p.join("pipe"), SFlag::S_IFIFO, rw, 0).unwrap();
        let upper = write_tree(p, Vec::new(), true, &OwnerMap::default()).unwrap();
        assert_eq!(
            entries(&upper),
            [
                ".wh.gone Regular 0:0",
                "null Char 1:3",
                "pipe Fifo 0:0",
                "sda Block 8:0"
            ]
        );
        // Outside an upper dir (export of a merged root) nothing is a whiteout.
        let merged = write_tree(p, Vec::new(), false, &OwnerMap::default()).unwrap();
        assert!(entries(&merged).contains(&"gone Char 0:0".to_string()));
    }
}
