//! rename, prune, `docker diff` and disk usage: operations over stored state.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::model::Status;
use crate::{Engine, EngineError, Result, names};

/// One entry of `docker diff`: Kind 0 = changed, 1 = added, 2 = deleted.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Change {
    #[serde(rename = "Path")]
    pub path: String,
    #[serde(rename = "Kind")]
    pub kind: u8,
}

/// Total size of the regular files below `path` (not following symlinks).
pub fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.path().symlink_metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) if m.is_file() => m.len(),
            _ => 0,
        })
        .sum()
}

impl Engine {
    /// The container's writable (upper) directory.
    pub fn upper_dir(&self, container_id: &str) -> PathBuf {
        self.cfg
            .data_root
            .join("snapshots/rw")
            .join(container_id)
            .join("fs")
    }

    pub fn rename(&self, name_or_id: &str, new_name: &str) -> Result<()> {
        let c = self.container(name_or_id)?;
        let new_name = new_name.strip_prefix('/').unwrap_or(new_name);
        if !names::valid_name(new_name) {
            return Err(EngineError::InvalidParameter(format!(
                "Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        let old = c.name();
        if old == new_name {
            return Err(EngineError::InvalidParameter(format!(
                "Renaming a container with the same name as its current name: {new_name}"
            )));
        }
        {
            let mut reg = self.registry_mut();
            if let Some(owner) = reg.by_name.get(new_name) {
                return Err(EngineError::Conflict(format!(
                    "Conflict. The container name \"/{new_name}\" is already in use by container \"{owner}\". You have to remove (or rename) that container to be able to reuse that name."
                )));
            }
            reg.by_name.remove(&old);
            reg.by_name.insert(new_name.to_string(), c.id.clone());
        }
        let renamed = c.update_record(|r| r.name = new_name.to_string());
        if let Err(err) = renamed {
            let mut reg = self.registry_mut();
            reg.by_name.remove(new_name);
            reg.by_name.insert(old, c.id.clone());
            return Err(EngineError::internal("saving the new name", err));
        }
        let net_state = c.lock().state.network.clone();
        self.networking.rename(&c.id, &old, new_name, &net_state);
        self.container_event(&c, "rename", &[("oldName", format!("/{old}"))]);
        Ok(())
    }

    /// `docker container prune`: removes stopped containers the filter keeps.
    pub async fn prune_containers(
        self: &Arc<Self>,
        keep: impl Fn(&crate::ContainerView) -> bool,
    ) -> Result<(Vec<String>, u64)> {
        let mut deleted = Vec::new();
        let mut reclaimed = 0;
        for v in self.containers() {
            let stopped = matches!(
                v.state.status,
                Status::Exited | Status::Created | Status::Dead
            );
            if !stopped || !keep(&v) {
                continue;
            }
            let size = dir_size(&self.upper_dir(&v.record.id));
            if self.remove(&v.record.id, false, false).await.is_ok() {
                reclaimed += size;
                deleted.push(v.record.id);
            }
        }
        Ok((deleted, reclaimed))
    }

    /// `docker diff`: what the container's writable layer changed, added, deleted.
    pub fn changes(&self, name_or_id: &str) -> Result<Vec<Change>> {
        let timer = self.metrics.container_action("changes");
        timer.observe(self.changes_untimed(name_or_id))
    }

    fn changes_untimed(&self, name_or_id: &str) -> Result<Vec<Change>> {
        let c = self.container(name_or_id)?;
        let record = c.lock().record.clone();
        let image = self.images.get(&record.image_id)?;
        let lowers: Vec<PathBuf> = image
            .chain_ids
            .iter()
            .rev()
            .map(|id| self.images.layer_path(id))
            .collect();
        let upper = self.upper_dir(&c.id);
        let mut out = Vec::new();
        // A container whose layer is not there yet has no changes.
        if let Ok(top) = std::fs::File::open(&upper) {
            use std::os::fd::AsFd;
            walk_changes(top.as_fd(), Path::new("/"), &lowers, &mut out).map_err(|e| {
                EngineError::internal(format!("reading the changes of {}", c.id), e)
            })?;
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        let mut mountpoints: Vec<String> =
            RUNTIME_MOUNTPOINTS.iter().map(|s| s.to_string()).collect();
        mountpoints.extend(record.mounts.iter().map(|m| m.destination.clone()));
        Ok(without_mountpoints(out, &mountpoints))
    }
}

/// What the runtime mounts over the container's filesystem; the files and
/// directories made to hold them are not the container's changes (dockerd
/// keeps them in an init layer below the writable one).
const RUNTIME_MOUNTPOINTS: &[&str] = &[
    "/proc",
    "/sys",
    "/dev",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/.dockerenv",
    crate::lifecycle::INIT_PATH,
];

/// Drops the mountpoints, what lies below them, and the directories that
/// changed only because a mountpoint was made inside them.
fn without_mountpoints(changes: Vec<Change>, mountpoints: &[String]) -> Vec<Change> {
    let under = |path: &str, m: &str| {
        path == m
            || path
                .strip_prefix(m)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    let mut kept: Vec<Change> = changes
        .into_iter()
        .filter(|c| !mountpoints.iter().any(|m| under(&c.path, m)))
        .collect();
    // Deepest first, so a parent sees whether its children stayed.
    let mut order: Vec<usize> = (0..kept.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(kept[i].path.matches('/').count()));
    let mut dropped = vec![false; kept.len()];
    for i in order {
        let path = &kept[i].path;
        let holds_mountpoint =
            kept[i].kind != 2 && mountpoints.iter().any(|m| m != path && under(m, path));
        let has_changes = kept
            .iter()
            .enumerate()
            .any(|(j, c)| !dropped[j] && j != i && under(&c.path, path));
        if holds_mountpoint && !has_changes {
            dropped[i] = true;
        }
    }
    let mut i = 0;
    kept.retain(|_| {
        i += 1;
        !dropped[i - 1]
    });
    kept
}

/// Walks the upper dir by descriptors, never through a link: a running
/// container may swap any directory of it for a symlink to the host.
fn walk_changes(
    dir: std::os::fd::BorrowedFd<'_>,
    rel: &Path,
    lowers: &[PathBuf],
    out: &mut Vec<Change>,
) -> std::io::Result<()> {
    use nix::sys::stat::SFlag;
    use std::os::fd::AsFd;
    for name in crate::fdtree::entries(dir)? {
        // Gone meanwhile: not a change to report.
        let Ok(st) = crate::fdtree::stat_at(dir, &name) else {
            continue;
        };
        let path = rel.join(&name);
        let inside = path.strip_prefix("/").unwrap_or(&path);
        let in_lower = lowers
            .iter()
            .any(|l| l.join(inside).symlink_metadata().is_ok());
        let kind = crate::fdtree::kind(&st);
        // overlayfs records a deletion as a 0/0 character device.
        if kind == SFlag::S_IFCHR && st.st_rdev == 0 {
            out.push(Change {
                path: path.to_string_lossy().into_owned(),
                kind: 2,
            });
            continue;
        }
        out.push(Change {
            path: path.to_string_lossy().into_owned(),
            kind: if in_lower { 0 } else { 1 },
        });
        if kind == SFlag::S_IFDIR
            && let Ok(sub) = crate::fdtree::open_dir(dir, &name)
        {
            walk_changes(sub.as_fd(), &path, lowers, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountpoints_are_not_changes() {
        let c = |path: &str, kind: u8| Change {
            path: path.into(),
            kind,
        };
        let changes = vec![
            c("/data", 1),
            c("/data/x", 1),
            c("/dev", 0),
            c("/dev/console", 1),
            c("/etc", 0),
            c("/etc/hostname", 1),
            c("/etc/hosts", 0),
            c("/test", 1),
            c("/vol", 1),
            c("/tmp", 0),
            c("/tmp/gone", 2),
        ];
        let mounts = ["/dev", "/etc/hostname", "/etc/hosts", "/vol/inner"].map(String::from);
        let kept = without_mountpoints(changes, &mounts);
        let paths: Vec<&str> = kept.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["/data", "/data/x", "/test", "/tmp", "/tmp/gone"]);
    }

    #[test]
    fn changes_against_lower_layers() {
        let upper = tempfile::tempdir().unwrap();
        let lower = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(lower.path().join("etc")).unwrap();
        std::fs::write(lower.path().join("etc/passwd"), "x").unwrap();
        std::fs::write(lower.path().join("gone"), "x").unwrap();
        std::fs::create_dir_all(upper.path().join("etc")).unwrap();
        std::fs::write(upper.path().join("etc/passwd"), "y").unwrap();
        std::fs::write(upper.path().join("new"), "n").unwrap();
        nix::sys::stat::mknod(
            &upper.path().join("gone"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o000),
            0,
        )
        .unwrap();
        let mut out = Vec::new();
        let top = std::fs::File::open(upper.path()).unwrap();
        walk_changes(
            std::os::fd::AsFd::as_fd(&top),
            Path::new("/"),
            &[lower.path().to_path_buf()],
            &mut out,
        )
        .unwrap();
        out.sort_by(|a, b| a.path.cmp(&b.path));
        let got: Vec<(String, u8)> = out.into_iter().map(|c| (c.path, c.kind)).collect();
        assert_eq!(
            got,
            vec![
                ("/etc".into(), 0),
                ("/etc/passwd".into(), 0),
                ("/gone".into(), 2),
                ("/new".into(), 1)
            ]
        );
    }

    #[test]
    fn sizes_count_files_only() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub/a"), vec![0u8; 100]).unwrap();
        std::fs::write(d.path().join("b"), vec![0u8; 20]).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("l")).unwrap();
        assert_eq!(dir_size(d.path()), 120);
    }
}
