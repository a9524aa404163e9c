//! `docker export` (a tar of a container's merged rootfs) and `docker commit`
//! (the container's overlay upper dir as a new layer on its image).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::fcntl::{AtFlags, OFlag, openat, readlinkat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, fstatat};

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

/// Walks a tree into a tar, sorted for reproducible layers. The walk goes
/// by directory descriptors and never follows a symlink: the tree may be a
/// running container's, whose processes can swap any path component for a
/// link to the host between a check and a use.
struct TreeWriter<W: Write> {
    out: tar::Builder<W>,
    /// Overlay upper dir: char 0/0 and the opaque xattr become OCI whiteouts.
    upper: bool,
    dev: u64,
    links: HashMap<(u64, u64), String>,
    owners: OwnerMap,
}

fn kind_of(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits())
}

fn header_for(st: &FileStat, kind: tar::EntryType, owners: &OwnerMap) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(st.st_mode & 0o7777);
    let (uid, gid) = owners.apply(st.st_uid, st.st_gid);
    h.set_uid(uid as u64);
    h.set_gid(gid as u64);
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(0);
    h
}

/// Whether the open directory `dir` carries overlayfs' opaque mark.
fn is_opaque(dir: BorrowedFd<'_>) -> bool {
    let name = std::ffi::CString::new(OPAQUE_XATTR).expect("no NUL");
    let mut buf = [0u8; 4];
    // SAFETY: an open descriptor, a NUL-terminated name and a buffer of the
    // given length.
    let n = unsafe {
        libc::fgetxattr(
            dir.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    n == 1 && buf[0] == b'y'
}

fn open_at(dir: BorrowedFd<'_>, name: &OsStr, flags: OFlag) -> nix::Result<OwnedFd> {
    let fd = openat(
        Some(dir.as_raw_fd()),
        name,
        flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    // SAFETY: openat returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
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

    fn dir(&mut self, dir: BorrowedFd<'_>, rel: &str) -> Result<(), ImageError> {
        let listing = open_at(dir, OsStr::new("."), OFlag::O_RDONLY | OFlag::O_DIRECTORY)
            .ctx(|| format!("open {rel}/"))?;
        let mut names: Vec<std::ffi::OsString> = Vec::new();
        use std::os::fd::IntoRawFd;
        let mut listing =
            nix::dir::Dir::from_fd(listing.into_raw_fd()).ctx(|| format!("read {rel}/"))?;
        for e in listing.iter() {
            let e = e.ctx(|| format!("read {rel}/"))?;
            let n = e.file_name().to_bytes();
            if n != b"." && n != b".." {
                names.push(OsStr::from_bytes(n).to_os_string());
            }
        }
        names.sort();
        for name in names {
            let shown = name.to_string_lossy().into_owned();
            let child = if rel.is_empty() {
                shown.clone()
            } else {
                format!("{rel}/{shown}")
            };
            self.entry(dir, &name, &child, &shown, rel)?;
        }
        Ok(())
    }

    fn entry(
        &mut self,
        dir: BorrowedFd<'_>,
        os_name: &OsStr,
        rel: &str,
        name: &str,
        parent: &str,
    ) -> Result<(), ImageError> {
        let ctx = || format!("write {rel}");
        let st = fstatat(Some(dir.as_raw_fd()), os_name, AtFlags::AT_SYMLINK_NOFOLLOW)
            .ctx(|| format!("stat {rel}"))?;
        let k = kind_of(&st);
        if k == SFlag::S_IFDIR {
            let sub = open_at(dir, os_name, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
                .ctx(|| format!("open {rel}/"))?;
            // What was opened, not what the name was a moment before.
            let st = fstat(sub.as_raw_fd()).ctx(|| format!("stat {rel}"))?;
            let mut h = header_for(&st, tar::EntryType::Directory, &self.owners);
            self.out
                .append_data(&mut h, format!("{rel}/"), io::empty())
                .ctx(ctx)?;
            if self.upper && is_opaque(sub.as_fd()) {
                self.empty_file(&format!("{rel}/.wh..wh..opq"))?;
            }
            // Other filesystems mounted below (proc, volumes) are not ours.
            if st.st_dev as u64 == self.dev {
                self.dir(sub.as_fd(), rel)?;
            }
        } else if k == SFlag::S_IFCHR && self.upper && st.st_rdev == 0 {
            let wh = if parent.is_empty() {
                format!(".wh.{name}")
            } else {
                format!("{parent}/.wh.{name}")
            };
            self.empty_file(&wh)?;
        } else if k == SFlag::S_IFREG {
            let file = File::from(
                open_at(dir, os_name, OFlag::O_RDONLY | OFlag::O_NONBLOCK)
                    .ctx(|| format!("open {rel}"))?,
            );
            let st = fstat(file.as_raw_fd()).ctx(|| format!("stat {rel}"))?;
            if kind_of(&st) != SFlag::S_IFREG {
                return Err(ImageError::io(
                    format!("{rel} changed while it was archived"),
                    io::Error::from(io::ErrorKind::InvalidData),
                ));
            }
            let key = (st.st_dev as u64, st.st_ino as u64);
            if st.st_nlink > 1 {
                if let Some(first) = self.links.get(&key).cloned() {
                    let mut h = header_for(&st, tar::EntryType::Link, &self.owners);
                    return self.out.append_link(&mut h, rel, first).ctx(ctx);
                }
                self.links.insert(key, rel.to_string());
            }
            let mut h = header_for(&st, tar::EntryType::Regular, &self.owners);
            h.set_size(st.st_size as u64);
            // The header's size is what is sent: a file growing meanwhile
            // is cut there, one shrinking is refused by tar.
            self.out
                .append_data(&mut h, rel, io::Read::take(file, st.st_size as u64))
                .ctx(ctx)?;
        } else if k == SFlag::S_IFLNK {
            let target =
                readlinkat(Some(dir.as_raw_fd()), os_name).ctx(|| format!("readlink {rel}"))?;
            let mut h = header_for(&st, tar::EntryType::Symlink, &self.owners);
            self.out.append_link(&mut h, rel, target).ctx(ctx)?;
        } else if k == SFlag::S_IFCHR || k == SFlag::S_IFBLK || k == SFlag::S_IFIFO {
            let kind = if k == SFlag::S_IFCHR {
                tar::EntryType::Char
            } else if k == SFlag::S_IFBLK {
                tar::EntryType::Block
            } else {
                tar::EntryType::Fifo
            };
            let mut h = header_for(&st, kind, &self.owners);
            let rdev = st.st_rdev;
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
    let top = File::open(root).ctx(|| format!("open {}", root.display()))?;
    let dev = fstat(top.as_raw_fd())
        .ctx(|| format!("stat {}", root.display()))?
        .st_dev as u64;
    let mut out = tar::Builder::new(writer);
    out.follow_symlinks(false);
    let mut w = TreeWriter {
        out,
        upper,
        dev,
        links: HashMap::new(),
        owners: owners.clone(),
    };
    w.dir(top.as_fd(), "")?;
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
