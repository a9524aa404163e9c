//! Secrets and configs a swarm task carries into its container.
//!
//! As dockerd does, the files live on a small tmpfs of the container's own
//! under its state dir in the exec root (`<exec-root>/containers/<id>/files`),
//! one flat, engine-named file each, and every file is bind-mounted
//! read-only at its target when the container starts. Secret data is thus
//! never written to disk: the container record keeps only where each file
//! goes and whose it is. The tmpfs lives as long as the container (across
//! its restarts, not across the host's) and goes when it is removed.

use std::fmt;
use std::fs::{OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use zeroize::Zeroize;

use crate::model::InjectedFileRecord;
use crate::{EngineError, Result};

/// The tmpfs's directory under the container's state dir.
const DIR: &str = "files";

/// One file for [`crate::Engine::create_container_with_files`]. Its data is
/// wiped from memory when it is dropped, and never shown by `Debug`.
pub struct InjectedFile {
    /// Absolute path in the container.
    pub target: String,
    pub data: Vec<u8>,
    pub uid: u32,
    pub gid: u32,
    /// Permission bits (at most `0o7777`).
    pub mode: u32,
}

impl Drop for InjectedFile {
    fn drop(&mut self) {
        self.data.zeroize();
    }
}

impl fmt::Debug for InjectedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InjectedFile")
            .field("target", &self.target)
            .field("data", &format_args!("<{} bytes>", self.data.len()))
            .field("uid", &self.uid)
            .field("gid", &self.gid)
            .field("mode", &format_args!("{:#o}", self.mode))
            .finish()
    }
}

/// The tmpfs of the container whose state dir is `state_dir`.
pub(crate) fn files_dir(state_dir: &Path) -> PathBuf {
    state_dir.join(DIR)
}

/// Refuses what could not be mounted where the caller means it: a target
/// that is not an absolute file path, climbs with `..`, or comes twice,
/// and modes beyond the permission bits.
pub(crate) fn validate(files: &[InjectedFile]) -> Result<()> {
    for (i, f) in files.iter().enumerate() {
        check_target(&f.target)?;
        if f.mode & !0o7777 != 0 {
            return Err(EngineError::InvalidParameter(format!(
                "invalid mode {:#o} of the secret or config file {:?}: only permission bits (0o7777) are allowed",
                f.mode, f.target
            )));
        }
        if files[..i]
            .iter()
            .any(|o| Path::new(&o.target) == Path::new(&f.target))
        {
            return Err(EngineError::InvalidParameter(format!(
                "two secret or config files have the target {:?}",
                f.target
            )));
        }
    }
    Ok(())
}

fn check_target(target: &str) -> Result<()> {
    let path = Path::new(target);
    let names_a_file = path.is_absolute()
        && !target.ends_with('/')
        && !target.contains('\0')
        && path.components().any(|c| matches!(c, Component::Normal(_)))
        && !path.components().any(|c| c == Component::ParentDir);
    if names_a_file {
        Ok(())
    } else {
        Err(EngineError::InvalidParameter(format!(
            "invalid target {target:?} of a secret or config file: it must be an absolute file path without \"..\""
        )))
    }
}

/// What the record keeps of `files`: everything but the data, with each
/// file's name in the tmpfs (its index).
pub(crate) fn plan(files: &[InjectedFile]) -> Vec<InjectedFileRecord> {
    files
        .iter()
        .enumerate()
        .map(|(i, f)| InjectedFileRecord {
            target: f.target.clone(),
            file: i.to_string(),
            uid: f.uid,
            gid: f.gid,
            mode: f.mode,
        })
        .collect()
}

/// Mounts the container's tmpfs and writes `files` into it as `records`
/// name them. Nothing at all without files. On error the caller undoes it
/// with [`remove`].
pub(crate) fn write(
    state_dir: &Path,
    files: &[InjectedFile],
    records: &[InjectedFileRecord],
) -> Result<()> {
    if files.is_empty() {
        return Ok(());
    }
    let dir = files_dir(state_dir);
    crate::perms::create_dir_private(&dir)
        .map_err(|e| EngineError::internal(format!("creating {}", dir.display()), e))?;
    mount_tmpfs(&dir, files)?;
    write_into(&dir, files, records)
        .map_err(|e| EngineError::internal("writing the secret and config files", e))
}

/// A tmpfs no larger than the files need: the host's memory is not the
/// container's to fill, and nothing on it may run or be a device.
fn mount_tmpfs(dir: &Path, files: &[InjectedFile]) -> Result<()> {
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|p| u64::try_from(p).ok())
        .unwrap_or(4096);
    let pages: u64 = files
        .iter()
        .map(|f| (f.data.len() as u64).div_ceil(page).max(1))
        .sum();
    // Some slack: the kernel rounds, and an empty tmpfs is never refused.
    let size = (pages + 4) * page;
    nix::mount::mount(
        Some("tmpfs"),
        dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some(format!("mode=0700,size={size}").as_str()),
    )
    .map_err(|e| {
        EngineError::internal(
            format!(
                "mounting the tmpfs for secrets and configs at {}",
                dir.display()
            ),
            io::Error::from(e),
        )
    })
}

/// Writes each file, new and not through a link, then gives it its owner
/// and mode (after chown, which would clear set-id bits).
fn write_into(
    dir: &Path,
    files: &[InjectedFile],
    records: &[InjectedFileRecord],
) -> io::Result<()> {
    for (f, r) in files.iter().zip(records) {
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(crate::perms::PRIVATE_FILE)
            .custom_flags(libc::O_NOFOLLOW)
            .open(dir.join(&r.file))?;
        out.write_all(&f.data)?;
        std::os::unix::fs::fchown(&out, Some(r.uid), Some(r.gid))?;
        out.set_permissions(Permissions::from_mode(r.mode))?;
    }
    Ok(())
}

/// Start refuses a container whose files are not there any more: the
/// tmpfs went with the host (or its exec root), and only the swarm agent
/// has the data to make it again.
pub(crate) fn check_present(
    id: &str,
    state_dir: &Path,
    records: &[InjectedFileRecord],
) -> Result<()> {
    let dir = files_dir(state_dir);
    let present = records.iter().all(|r| {
        std::fs::symlink_metadata(dir.join(&r.file)).is_ok_and(|m| m.file_type().is_file())
    });
    if present {
        Ok(())
    } else {
        Err(EngineError::Conflict(format!(
            "the secret and config files of container {id} are gone (the host restarted?): remove it and create it again"
        )))
    }
}

/// Unmounts the container's tmpfs and removes its directory. Never fails:
/// whatever stays behind must not keep a container from being removed.
pub(crate) fn remove(state_dir: &Path) {
    let dir = files_dir(state_dir);
    // Lazily, so a process still holding a file cannot block it; in a loop,
    // for a mount stacked on another by a create retried after a crash.
    for _ in 0..8 {
        match nix::mount::umount2(&dir, MntFlags::MNT_DETACH) {
            Ok(()) => {}
            Err(Errno::EINVAL | Errno::ENOENT) => break,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), "unmounting the secrets tmpfs: {e}");
                break;
            }
        }
    }
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(dir = %dir.display(), "removing the secrets dir: {e}"),
    }
}

/// Empties a state dir for a new start but keeps the files tmpfs: the
/// previous run's socket, exit record and bundle go, the secrets stay.
pub(crate) fn clear_state_dir(state_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(state_dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name() == DIR {
            continue;
        }
        let path = entry.path();
        let _ = match entry.file_type() {
            Ok(t) if t.is_dir() => std::fs::remove_dir_all(&path),
            _ => std::fs::remove_file(&path),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn file(target: &str, data: &[u8]) -> InjectedFile {
        InjectedFile {
            target: target.into(),
            data: data.to_vec(),
            uid: 0,
            gid: 0,
            mode: 0o444,
        }
    }

    #[test]
    fn targets_must_be_absolute_file_paths_without_dotdot() {
        for good in ["/run/secrets/s1", "/etc/app/config.yaml", "/a..b", "/x/./y"] {
            assert!(validate(&[file(good, b"x")]).is_ok(), "{good}");
        }
        for bad in [
            "",
            "s1",
            "run/secrets/s1",
            "/",
            "//",
            "/run/secrets/",
            "/run/../etc/shadow",
            "/..",
            "/a/\0b",
        ] {
            let err = validate(&[file(bad, b"x")]).unwrap_err();
            assert!(matches!(err, EngineError::InvalidParameter(_)), "{bad:?}");
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    #[test]
    fn duplicate_targets_and_odd_modes_are_refused() {
        let err =
            validate(&[file("/run/secrets/a", b"1"), file("/run/secrets//a", b"2")]).unwrap_err();
        assert!(
            err.to_string().contains("two secret or config files"),
            "{err}"
        );
        let mut f = file("/run/secrets/a", b"1");
        f.mode = 0o100444;
        assert!(matches!(
            validate(&[f]),
            Err(EngineError::InvalidParameter(_))
        ));
    }

    #[test]
    fn the_plan_names_files_by_index_and_keeps_no_data() {
        let files = [file("/run/secrets/../../x", b"hunter2"), file("/b", b"")];
        let records = plan(&files);
        assert_eq!(records[0].file, "0");
        assert_eq!(records[1].file, "1");
        assert_eq!(records[0].target, "/run/secrets/../../x");
        let json = serde_json::to_string(&records).unwrap();
        assert!(!json.contains("hunter2"), "{json}");
    }

    #[test]
    fn debug_shows_no_data() {
        let shown = format!("{:?}", file("/run/secrets/a", b"hunter2"));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<7 bytes>"), "{shown}");
    }

    #[test]
    fn files_get_their_data_owner_and_mode() {
        let tmp = tempfile::tempdir().unwrap();
        let (uid, gid) = (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        );
        let mut files = vec![file("/run/secrets/a", b"one"), file("/etc/b", b"two")];
        for f in &mut files {
            (f.uid, f.gid) = (uid, gid);
        }
        files[1].mode = 0o640;
        let records = plan(&files);
        write_into(tmp.path(), &files, &records).unwrap();
        assert_eq!(std::fs::read(tmp.path().join("0")).unwrap(), b"one");
        let meta = std::fs::metadata(tmp.path().join("1")).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o640);
        assert_eq!((meta.uid(), meta.gid()), (uid, gid));
        check_present("c1", tmp.path().parent().unwrap(), &[]).unwrap();
    }

    #[test]
    fn a_new_start_keeps_the_files_and_nothing_else() {
        let tmp = tempfile::tempdir().unwrap();
        let state = tmp.path();
        std::fs::create_dir_all(files_dir(state)).unwrap();
        std::fs::write(files_dir(state).join("0"), b"s").unwrap();
        std::fs::create_dir_all(state.join("bundle/rootfs")).unwrap();
        std::fs::write(state.join("exit.json"), b"{}").unwrap();
        let records = vec![InjectedFileRecord {
            target: "/run/secrets/s".into(),
            file: "0".into(),
            uid: 0,
            gid: 0,
            mode: 0o400,
        }];
        clear_state_dir(state);
        let left: Vec<_> = std::fs::read_dir(state)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, [DIR]);
        check_present("c1", state, &records).unwrap();

        remove(state);
        assert!(!files_dir(state).exists());
        let err = check_present("c1", state, &records)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "the secret and config files of container c1 are gone (the host restarted?): remove it and create it again"
        );
    }
}
