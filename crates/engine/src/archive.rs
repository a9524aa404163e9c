//! `docker cp`: stat, read and write paths inside a container's filesystem.
//!
//! A running container is reached through `/proc/<pid>/root`, which shows its
//! volumes and tmpfs mounts too; a stopped one through its overlay and the
//! host sources of its binds and volumes. Paths resolve inside that root.

use std::ffi::OsString;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::model::Status;
use crate::mounts::MountKind;
use crate::{Engine, EngineError, Result};

/// What `X-Docker-Container-Path-Stat` carries (mode in Go's FileMode bits).
#[derive(Debug, Clone, Serialize)]
pub struct PathStat {
    pub name: String,
    pub size: u64,
    pub mode: u32,
    pub mtime: String,
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

const GO_MODE_DIR: u32 = 1 << 31;
const GO_MODE_SYMLINK: u32 = 1 << 27;

/// A container path resolved to the host: the root it lives under and the
/// host path of its parent directory (the last component is not followed).
pub struct ResolvedPath {
    pub root: PathBuf,
    /// `/proc/self/fd/N` of the parent directory, opened inside the root
    /// (see [`runtime::exe::open_dir_in_root`]); valid while `_parent_fd` lives.
    pub parent: PathBuf,
    _parent_fd: std::os::fd::OwnedFd,
    pub name: String,
    /// The path ended in "/." (`docker cp c:/dir/. x`): the archive's top
    /// entry is named "." so the client copies the contents.
    pub contents: bool,
    /// A remapped container's maps: its files are archived with the owners
    /// it sees.
    maps: Option<runtime::userns::IdMappings>,
}

impl ResolvedPath {
    pub fn host_path(&self) -> PathBuf {
        if self.name.is_empty() {
            // The parent is a /proc/self/fd magic link; "/." makes it a
            // directory for lstat and O_NOFOLLOW opens.
            self.parent.join(".")
        } else {
            self.parent.join(&self.name)
        }
    }
}

/// A remapped container's ids as the host's; ids it has no mapping for go
/// to its root.
fn to_host(m: &runtime::userns::IdMappings, uid: u32, gid: u32) -> (u32, u32) {
    let (root_uid, root_gid) = m.root().unwrap_or((uid, gid));
    (
        m.uid_to_host(uid).unwrap_or(root_uid),
        m.gid_to_host(gid).unwrap_or(root_gid),
    )
}

fn no_such_path(path: &str) -> EngineError {
    EngineError::NotFound(format!("Could not find the file {path} in container"))
}

impl Engine {
    /// The root to reach `path` through, and `path` relative to it.
    fn container_root(&self, name_or_id: &str, path: &str) -> Result<(PathBuf, String)> {
        let c = self.container(name_or_id)?;
        let (status, pid, record) = {
            let inner = c.lock();
            (inner.state.status, inner.state.pid, inner.record.clone())
        };
        if !path.starts_with('/') {
            return Err(EngineError::InvalidParameter(format!(
                "path must be absolute: {path}"
            )));
        }
        if status == Status::Running && pid > 0 {
            return Ok((PathBuf::from(format!("/proc/{pid}/root")), path.to_string()));
        }
        // Stopped: the deepest bind or volume holding the path, else the overlay.
        let mount = record
            .mounts
            .iter()
            .filter(|m| m.kind != MountKind::Tmpfs)
            .filter(|m| Path::new(path).starts_with(&m.destination))
            .max_by_key(|m| m.destination.len());
        if let Some(m) = mount {
            let rest = Path::new(path)
                .strip_prefix(&m.destination)
                .unwrap_or(Path::new(""));
            return Ok((m.source.clone(), format!("/{}", rest.display())));
        }
        let rootfs = self.images.mount_rw_layer(&c.id, &record.image_id)?;
        Ok((rootfs, path.to_string()))
    }

    pub fn resolve_container_path(&self, name_or_id: &str, path: &str) -> Result<ResolvedPath> {
        let (root, inner) = self.container_root(name_or_id, path)?;
        let p = Path::new(&inner);
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parent_in = p.parent().unwrap_or(Path::new("/"));
        let parent_fd =
            runtime::exe::open_dir_in_root(&root, parent_in).map_err(|_| no_such_path(path))?;
        let parent = PathBuf::from(format!("/proc/self/fd/{}", parent_fd.as_raw_fd()));
        let contents = inner.ends_with("/.") && inner != "/.";
        Ok(ResolvedPath {
            root,
            parent,
            _parent_fd: parent_fd,
            name,
            contents,
            maps: self.remap_maps(name_or_id),
        })
    }

    pub fn stat_container_path(
        &self,
        name_or_id: &str,
        path: &str,
    ) -> Result<(ResolvedPath, PathStat)> {
        use std::os::unix::fs::MetadataExt;
        let r = self.resolve_container_path(name_or_id, path)?;
        let host = r.host_path();
        let meta = host.symlink_metadata().map_err(|_| no_such_path(path))?;
        let mut mode = meta.mode() & 0o777;
        let mut link_target = String::new();
        if meta.file_type().is_symlink() {
            mode |= GO_MODE_SYMLINK;
            link_target = std::fs::read_link(&host)
                .map(|t| t.display().to_string())
                .unwrap_or_default();
        } else if meta.is_dir() {
            mode |= GO_MODE_DIR;
        }
        let mtime = chrono::DateTime::from_timestamp(meta.mtime(), meta.mtime_nsec() as u32)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        let name = if r.name.is_empty() {
            "/".to_string()
        } else {
            r.name.clone()
        };
        let stat = PathStat {
            name,
            size: meta.len(),
            mode,
            mtime,
            link_target,
        };
        Ok((r, stat))
    }

    /// Writes a tar of the path (itself, not following a final symlink) to
    /// `out`, walking the tree below it by descriptors (see [`crate::fdtree`]).
    pub fn archive_container_path(&self, r: &ResolvedPath, out: impl std::io::Write) -> Result<()> {
        let mut builder = tar::Builder::new(out);
        let name = if r.name.is_empty() || r.contents {
            "."
        } else {
            r.name.as_str()
        };
        let parent = r._parent_fd.as_fd();
        let own = std::ffi::OsStr::new(&r.name);
        let to_container = |uid, gid| match &r.maps {
            Some(m) => m.owner_to_container(uid, gid),
            None => (uid, gid),
        };
        let owners: crate::fdtree::Owners<'_> = &to_container;
        let res = if r.contents && !r.name.is_empty() {
            // "dir/.": the directory's contents, its entries named "./…";
            // anything but a directory is itself, named ".".
            match crate::fdtree::open_dir(parent, own) {
                Ok(dir) => crate::fdtree::append(
                    &mut builder,
                    dir.as_fd(),
                    std::ffi::OsStr::new(""),
                    name,
                    owners,
                ),
                Err(_) => crate::fdtree::append(&mut builder, parent, own, name, owners),
            }
        } else {
            crate::fdtree::append(&mut builder, parent, own, name, owners)
        };
        res.and_then(|()| builder.finish())
            .map_err(|e| EngineError::internal(format!("archiving {}", r.host_path().display()), e))
    }

    /// The uid/gid of the container's configured user, if it has one.
    fn container_user_ids(&self, name_or_id: &str, root: &Path) -> Option<(u32, u32)> {
        let user = self
            .container(name_or_id)
            .ok()?
            .lock()
            .record
            .config
            .user
            .clone();
        if user.is_empty() {
            return None;
        }
        image::passwd::resolve_user(root, &user)
            .ok()
            .map(|u| (u.uid, u.gid))
    }

    /// Extracts a tar into a directory of the container, all or nothing: it
    /// is unpacked beside its destination and moved into place once all of it
    /// has been read and found sound ([`image::merge::unpack_over`]), so a
    /// hostile or corrupt upload leaves nothing in the container.
    pub fn extract_into_container(
        &self,
        name_or_id: &str,
        path: &str,
        body: impl Read,
        copy_uid_gid: bool,
        no_overwrite_dir_non_dir: bool,
    ) -> Result<()> {
        let (root, inner) = self.container_root(name_or_id, path)?;
        let dest = runtime::exe::open_dir_in_root(&root, Path::new(&inner)).map_err(|e| match e
            .raw_os_error()
        {
            Some(libc::ENOTDIR) => EngineError::InvalidParameter(format!(
                "extraction point is not a directory: {path}"
            )),
            Some(libc::ENOENT | libc::ELOOP) => no_such_path(path),
            _ => EngineError::internal(format!("opening {path} in the container"), e),
        })?;
        let opts = image::unpack::UnpackOptions {
            allow_devices: true,
            whiteouts: image::unpack::WhiteoutMode::Skip,
        };
        // As dockerd: files keep the archive's owners, except that `cp -a` into a
        // container with a configured user gives them to that user. A
        // remapped container's files are kept under host ids: the archive's
        // owners (and a configured user's) are the container's.
        let owner = copy_uid_gid
            .then(|| self.container_user_ids(name_or_id, &root))
            .flatten();
        let maps = self.remap_maps(name_or_id);
        let owner = match (&maps, owner) {
            (Some(m), Some((uid, gid))) => Some(to_host(m, uid, gid)),
            (_, o) => o,
        };
        // Owners are set on the staged tree, before it moves in: only what
        // the upload brought is touched, and nothing shows with the wrong ones.
        let set_owners = |stage: BorrowedFd<'_>, tops: &[OsString]| {
            for top in tops {
                let res = match (owner, &maps) {
                    (Some((uid, gid)), _) => crate::fdtree::chown(stage, top, uid, gid),
                    (None, Some(m)) => {
                        crate::fdtree::map_owners(stage, top, &|uid, gid| to_host(m, uid, gid))
                    }
                    (None, None) => Ok(()),
                };
                if let Err(e) = res {
                    tracing::warn!("cp: chown {} in {path}: {e}", top.to_string_lossy());
                }
            }
        };
        let mut body = std::io::BufReader::with_capacity(256 << 10, body);
        let kinds = image::merge::Kinds {
            keep: no_overwrite_dir_non_dir,
            dest: path,
        };
        image::merge::unpack_over(&mut body, &dest, &opts, &kinds, set_owners).map_err(
            |e| match e {
                // dockerd's words, as a refusal rather than a failure of ours.
                image::ImageError::Io { source, .. }
                    if source.raw_os_error() == Some(libc::EROFS) =>
                {
                    // On the root's own filesystem, or on something mounted into it.
                    let on_root = match (
                        nix::sys::stat::fstat(dest.as_raw_fd()),
                        std::fs::metadata(&root),
                    ) {
                        (Ok(d), Ok(r)) => d.st_dev == std::os::unix::fs::MetadataExt::dev(&r),
                        _ => true,
                    };
                    EngineError::Forbidden(if on_root {
                        format!("container rootfs is marked read-only: cannot copy into {path}")
                    } else {
                        format!("mounted volume is marked read-only: cannot copy into {path}")
                    })
                }
                e => e.into(),
            },
        )?;
        // What follows the tar's end marker is the client's too.
        std::io::copy(&mut body, &mut std::io::sink())
            .map_err(|e| EngineError::InvalidParameter(format!("reading the archive: {e}")))?;
        Ok(())
    }
}
