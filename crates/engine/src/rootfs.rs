//! Changes the engine makes inside a container's root filesystem from the host.
//! Every path is resolved inside the rootfs, so an image's symlinks can never
//! lead a host-side write outside it.

use std::path::{Component, Path, PathBuf};

use crate::{EngineError, Result};

/// `mkdir -p` of a container path (Docker creates a missing working directory).
/// `owner`: host ids given to every directory this makes (a remapped
/// container's root, so that it owns its WORKDIR as in Docker).
pub fn mkdir_all_in_root(rootfs: &Path, path: &str, owner: Option<(u32, u32)>) -> Result<()> {
    let mut inside = PathBuf::from("/");
    for component in Path::new(path).components() {
        let Component::Normal(name) = component else {
            continue;
        };
        inside.push(name);
        // The last component comes back even when missing; a dangling symlink
        // comes back as its target, so the new directory lands where it points.
        let host = runtime::exe::resolve_in_root(rootfs, &inside).ok_or_else(|| {
            EngineError::InvalidParameter(format!(
                "cannot create working directory {path}: a parent is not a directory"
            ))
        })?;
        match std::fs::metadata(&host) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(EngineError::InvalidParameter(format!(
                    "cannot create working directory {path}: {} is not a directory",
                    inside.display()
                )));
            }
            // 0755 as Docker makes a missing WORKDIR, whatever the daemon's umask.
            Err(_) => {
                let made = std::os::unix::fs::DirBuilderExt::mode(
                    &mut std::fs::DirBuilder::new(),
                    crate::perms::CONTAINER_DIR,
                )
                .create(&host);
                match made {
                    Ok(()) => {
                        if let Some((uid, gid)) = owner {
                            std::os::unix::fs::lchown(&host, Some(uid), Some(gid))?;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_nested_dirs_inside_the_root() {
        let root = tempfile::tempdir().unwrap();
        mkdir_all_in_root(root.path(), "/a/b/c", None).unwrap();
        assert!(root.path().join("a/b/c").is_dir());
        mkdir_all_in_root(root.path(), "/a/b/c", None).unwrap();
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        // An absolute target names a path inside the rootfs, never the host's.
        std::os::unix::fs::symlink(outside.path(), root.path().join("abs")).unwrap();
        std::fs::create_dir_all(root.path().join(outside.path().strip_prefix("/").unwrap()))
            .unwrap();
        mkdir_all_in_root(root.path(), "/abs/made", None).unwrap();
        assert!(
            !outside.path().join("made").exists(),
            "wrote outside the rootfs"
        );
        assert!(
            root.path()
                .join(outside.path().strip_prefix("/").unwrap())
                .join("made")
                .is_dir()
        );
        // A relative target cannot climb out either.
        std::os::unix::fs::symlink("../../../../..", root.path().join("up")).unwrap();
        mkdir_all_in_root(root.path(), "/up/top", None).unwrap();
        assert!(root.path().join("top").is_dir());
    }

    #[test]
    fn a_file_in_the_way_is_an_error() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("f"), b"x").unwrap();
        assert!(mkdir_all_in_root(root.path(), "/f/sub", None).is_err());
    }
}
