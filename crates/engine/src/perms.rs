//! Who may read what under the data root and the exec root.
//!
//! Other users get nothing: both roots are `0700` (Docker keeps
//! `/var/lib/docker` `0710` and `/run/docker` `0700`; without user namespace
//! remapping no other uid needs to traverse them, so berth is tighter), every
//! directory below is `0700` and every file `0600`. The exceptions are what
//! containers themselves see, whose modes are the image's or Docker's:
//! layer and writable-layer trees (`fs`), volume data (`_data`), build cache
//! mounts, the `hostname`/`hosts`/`resolv.conf` files bind-mounted into
//! containers (`0644`), and anything mounted below the roots (overlay
//! rootfs, shm tmpfs, the tmpfs of a swarm task's secrets and configs,
//! pinned network namespaces). Those are reachable only
//! through the private directories above them, so the traversal of other
//! users stops at the roots. Containers never walk these paths: their
//! mounts are made by root before the container's user takes over.
//!
//! Files are created with explicit modes ([`create_dir_private`],
//! [`PRIVATE_FILE`]) rather than a daemon-wide umask: the shim and the
//! containers it starts inherit the umask, and containers must keep
//! Docker's `0022`. [`secure_roots`] tightens what an older berth (or a
//! hand-made root) left looser.

use std::fs::DirBuilder;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Directories under the roots.
pub const PRIVATE_DIR: u32 = 0o700;
/// Metadata, logs, sockets.
pub const PRIVATE_FILE: u32 = 0o600;
/// Files bind-mounted into containers, readable by any container user.
pub const CONTAINER_FILE: u32 = 0o644;
/// Directories whose root a container sees (volume `_data`, cache mounts).
pub const CONTAINER_DIR: u32 = 0o755;
/// The exec root when the API socket lives in it: the socket's group may
/// traverse it to reach the socket (`0660`), nobody else.
pub const SHARED_EXEC_ROOT: u32 = 0o710;

/// `mkdir -p` whose new directories are `0700` (existing ones are left alone).
pub fn create_dir_private(path: &Path) -> io::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR)
        .create(path)
}

/// What [`classify`] decides for an entry below a root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Only root: no group or other permission bits.
    Private,
    /// Seen by containers; keep its mode and do not look inside.
    Container,
}

/// Which root a relative path is under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    Data,
    Exec,
}

/// Classifies `rel` (a path relative to `root`, no leading `/`).
pub fn classify(root: Root, rel: &Path) -> Visibility {
    let parts: Vec<&str> = rel
        .components()
        .filter_map(|c| c.as_os_str().to_str())
        .collect();
    let container = match (root, parts.as_slice()) {
        // snapshots/<chain>/fs: an unpacked layer; snapshots/rw/<id>/{fs,merged}:
        // a container's upper dir and its mounted rootfs (overlay takes the
        // root directory's mode from `fs`).
        (Root::Data, ["snapshots", "rw", _, "fs" | "merged", ..]) => true,
        (Root::Data, ["snapshots", chain, "fs", ..]) => *chain != "rw",
        // overlay's own work dir (its `work/work` is 0000 and kernel-owned).
        (Root::Data, ["snapshots", "rw", _, "work", _, ..]) => true,
        (Root::Data, ["volumes", _, "_data", ..]) => true,
        (Root::Data, ["build", "mounts", _, ..]) => true,
        (Root::Data, ["containers", _, "hostname" | "hosts" | "resolv.conf"]) => true,
        (Root::Exec, ["containers", _, "shm", ..]) => true,
        // The tmpfs of a swarm task's secrets and configs: each file has
        // the owner and mode the service gave it.
        (Root::Exec, ["containers", _, "files", ..]) => true,
        (Root::Exec, ["netns", _, ..]) => true,
        // User-namespace remapping: the idmapped view of `snapshots`, pinned
        // namespaces, and remapped containers' rootfs bound for the runtime.
        (Root::Exec, ["remap-view", ..] | ["userns", ..]) => true,
        (Root::Data, ["remap", _, ..]) => true,
        _ => false,
    };
    if container {
        Visibility::Container
    } else {
        Visibility::Private
    }
}

/// Paths whose modes [`secure_roots`] changed.
#[derive(Debug, Default)]
pub struct Tightened {
    pub paths: Vec<PathBuf>,
}

/// Creates the roots if needed and takes away from other users whatever an
/// existing tree still gives them. `exec_root_group`: the group of an API
/// socket that lives directly in the exec root (then the exec root is
/// `0710` root:group so that group reaches the socket).
/// `remapped`: the data root keeps [`crate::remap::REMAPPED_DATA_ROOT`]
/// (others may traverse it) for user-namespace remapping.
pub fn secure_roots(
    data_root: &Path,
    exec_root: &Path,
    exec_root_group: Option<u32>,
    remapped: bool,
) -> io::Result<Tightened> {
    let mut out = Tightened::default();
    for (root, kind) in [(data_root, Root::Data), (exec_root, Root::Exec)] {
        create_dir_private(root)?;
        let want = match (kind, exec_root_group) {
            (Root::Exec, Some(gid)) => {
                let meta = std::fs::metadata(root)?;
                if meta.gid() != gid {
                    std::os::unix::fs::chown(root, None, Some(gid))?;
                }
                SHARED_EXEC_ROOT
            }
            (Root::Data, _) if remapped => crate::remap::REMAPPED_DATA_ROOT,
            _ => PRIVATE_DIR,
        };
        set_mode(root, want, &mut out)?;
        let dev = std::fs::metadata(root)?.dev();
        walk(root, Path::new(""), kind, dev, &mut out)?;
    }
    Ok(out)
}

fn set_mode(path: &Path, want: u32, out: &mut Tightened) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.mode() & 0o7777 != want {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(want))?;
        out.paths.push(path.to_path_buf());
    }
    Ok(())
}

fn walk(root: &Path, rel: &Path, kind: Root, dev: u64, out: &mut Tightened) -> io::Result<()> {
    let dir = root.join(rel);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        // Removed meanwhile (a crash leftover cleaned by another store).
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let rel = rel.join(entry.file_name());
        if classify(kind, &rel) == Visibility::Container {
            continue;
        }
        let path = root.join(&rel);
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        // A link's mode means nothing (chmod would follow it); a mount is
        // someone else's filesystem (a container's rootfs, a namespace).
        if meta.file_type().is_symlink() || meta.dev() != dev {
            continue;
        }
        let mode = meta.mode() & 0o7777;
        if mode & 0o077 != 0 {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & !0o077))?;
            out.paths.push(path.clone());
        }
        if meta.is_dir() {
            walk(root, &rel, kind, dev, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_visible_paths_are_recognised() {
        let c = |r, p: &str| classify(r, Path::new(p));
        assert_eq!(c(Root::Data, "snapshots/abc/fs"), Visibility::Container);
        assert_eq!(
            c(Root::Data, "snapshots/abc/fs/etc/x"),
            Visibility::Container
        );
        assert_eq!(c(Root::Data, "snapshots/abc"), Visibility::Private);
        assert_eq!(
            c(Root::Data, "snapshots/abc/meta.json"),
            Visibility::Private
        );
        assert_eq!(c(Root::Data, "snapshots/rw/id/fs/a"), Visibility::Container);
        assert_eq!(
            c(Root::Data, "snapshots/rw/id/merged"),
            Visibility::Container
        );
        assert_eq!(c(Root::Data, "snapshots/rw/id/work"), Visibility::Private);
        assert_eq!(
            c(Root::Data, "snapshots/rw/id/work/work"),
            Visibility::Container
        );
        assert_eq!(
            c(Root::Data, "snapshots/rw/id/layer.json"),
            Visibility::Private
        );
        assert_eq!(c(Root::Data, "volumes/v/_data/f"), Visibility::Container);
        assert_eq!(c(Root::Data, "volumes/v"), Visibility::Private);
        assert_eq!(c(Root::Data, "containers/id/hosts"), Visibility::Container);
        assert_eq!(
            c(Root::Data, "containers/id/config.json"),
            Visibility::Private
        );
        assert_eq!(
            c(Root::Data, "containers/id/id-json.log"),
            Visibility::Private
        );
        assert_eq!(c(Root::Exec, "containers/id/shm"), Visibility::Container);
        assert_eq!(
            c(Root::Exec, "containers/id/files/0"),
            Visibility::Container
        );
        assert_eq!(
            c(Root::Exec, "containers/id/exit.json"),
            Visibility::Private
        );
        assert_eq!(c(Root::Exec, "runtime/id/state.json"), Visibility::Private);
    }

    #[test]
    fn loose_trees_are_tightened_and_container_content_is_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let exec = tmp.path().join("exec");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o7777;
        let chmod = |p: &Path, m: u32| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
        };
        let ctr = data.join("containers/c1");
        std::fs::create_dir_all(&ctr).unwrap();
        std::fs::create_dir_all(data.join("volumes/v/_data")).unwrap();
        std::fs::create_dir_all(exec.join("containers/c1")).unwrap();
        std::fs::write(ctr.join("config.json"), "{}").unwrap();
        std::fs::write(ctr.join("hosts"), "127.0.0.1 localhost\n").unwrap();
        std::fs::write(data.join("volumes/v/_data/f"), "x").unwrap();
        std::fs::write(exec.join("containers/c1/exit.json"), "{}").unwrap();
        for p in [&data, &exec, &ctr, &data.join("volumes/v/_data")] {
            chmod(p, 0o755);
        }
        for p in [
            ctr.join("config.json"),
            ctr.join("hosts"),
            data.join("volumes/v/_data/f"),
            exec.join("containers/c1/exit.json"),
        ] {
            chmod(&p, 0o644);
        }

        let t = secure_roots(&data, &exec, None, false).unwrap();
        assert!(!t.paths.is_empty());
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&exec), 0o700);
        assert_eq!(mode(&ctr), 0o700);
        assert_eq!(mode(&ctr.join("config.json")), 0o600);
        assert_eq!(mode(&exec.join("containers/c1/exit.json")), 0o600);
        assert_eq!(mode(&data.join("volumes/v")) & 0o077, 0);
        // What containers see keeps its mode.
        assert_eq!(mode(&ctr.join("hosts")), 0o644);
        assert_eq!(mode(&data.join("volumes/v/_data")), 0o755);
        assert_eq!(mode(&data.join("volumes/v/_data/f")), 0o644);

        // A second pass has nothing left to do.
        assert!(
            secure_roots(&data, &exec, None, false)
                .unwrap()
                .paths
                .is_empty()
        );
    }

    #[test]
    fn exec_root_holding_the_socket_is_shared_with_its_group() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let exec = tmp.path().join("exec");
        // Our own primary group: chown to it needs no privilege.
        let gid = nix::unistd::getegid().as_raw();
        secure_roots(&data, &exec, Some(gid), false).unwrap();
        let meta = std::fs::metadata(&exec).unwrap();
        assert_eq!(meta.mode() & 0o7777, SHARED_EXEC_ROOT);
        assert_eq!(meta.gid(), gid);
        assert_eq!(std::fs::metadata(&data).unwrap().mode() & 0o7777, 0o700);
    }
}
