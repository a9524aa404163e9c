//! Finding args[0] inside a root filesystem the way the container will, so a
//! missing or unusable binary fails with the messages (and the docker CLI exit
//! codes 127/126) users know from runc.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use crate::error::RuntimeError;
use crate::spec::DEFAULT_PATH;

/// Enough for any sane chain, small enough to stop symlink loops.
const MAX_SYMLINKS: usize = 255;

/// Checks that `args0` names an executable regular file inside `rootfs`,
/// looking bare names up in the PATH of `env` (the default PATH when unset).
/// Symlinks are resolved relative to `rootfs` and can never leave it.
pub fn check_executable(rootfs: &Path, args0: &str, env: &[String]) -> Result<(), RuntimeError> {
    resolve_executable(rootfs, args0, env).map(|_| ())
}

/// Like [`check_executable`], returning the host path of the binary.
pub fn resolve_executable(
    rootfs: &Path,
    args0: &str,
    env: &[String],
) -> Result<PathBuf, RuntimeError> {
    if args0.is_empty() {
        return Err(RuntimeError::ExecutableNotFound(String::new()));
    }
    if args0.contains('/') {
        let host = resolve_in_root(rootfs, Path::new(args0))
            .filter(|p| p.symlink_metadata().is_ok())
            .ok_or_else(|| RuntimeError::NoSuchFile(args0.to_string()))?;
        return if is_executable_file(&host) {
            Ok(host)
        } else {
            Err(RuntimeError::PermissionDenied(args0.to_string()))
        };
    }
    let path_var = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    // Like Go's exec.LookPath: entries that exist but cannot be run are skipped.
    path_var
        .split(':')
        .filter(|dir| !dir.is_empty())
        .filter_map(|dir| resolve_in_root(rootfs, &Path::new(dir).join(args0)))
        .find(|p| is_executable_file(p))
        .ok_or_else(|| RuntimeError::ExecutableNotFound(args0.to_string()))
}

fn is_executable_file(host: &Path) -> bool {
    std::fs::metadata(host)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Opens the directory `path` of the container whose root is `rootfs`, with
/// the kernel keeping every step of the walk inside that root (openat2 with
/// RESOLVE_IN_ROOT): symlinks, absolute or climbing, resolve as the container
/// sees them, and a process in a running container that swaps a directory for
/// a link while we walk cannot send us outside.
pub fn open_dir_in_root(rootfs: &Path, path: &Path) -> std::io::Result<std::os::fd::OwnedFd> {
    use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let flags = OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    let root = std::fs::File::open(rootfs)?;
    let rel = path.strip_prefix("/").unwrap_or(path);
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let how = OpenHow::new()
        .flags(flags)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    // EAGAIN: a mount or rename anywhere on the host raced the walk's ".."
    // steps (a link like ../../tmp), and the kernel asks the caller to try
    // again; under a busy host that is not rare.
    let mut tries = 0;
    let fd = loop {
        match openat2(root.as_raw_fd(), rel, how) {
            Err(nix::errno::Errno::EAGAIN) if tries < 100 => tries += 1,
            r => break r?,
        }
    };
    // SAFETY: openat2 just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Resolves `path` (taken as absolute inside the container) to a host path
/// under `rootfs`, following symlinks as the container would see them.
/// Returns `None` when a directory component is missing or not a directory;
/// a missing last component is still returned so callers can stat it.
pub fn resolve_in_root(rootfs: &Path, path: &Path) -> Option<PathBuf> {
    let mut resolved: Vec<OsString> = Vec::new();
    let mut pending: Vec<OsString> = components(path);
    pending.reverse();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        match part.as_bytes() {
            b"." => continue,
            b".." => {
                resolved.pop();
                continue;
            }
            _ => {}
        }
        let candidate = join(rootfs, &resolved).join(&part);
        match candidate.symlink_metadata() {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return None;
                }
                let target = std::fs::read_link(&candidate).ok()?;
                if target.is_absolute() {
                    resolved.clear();
                }
                pending.extend(components(&target).into_iter().rev());
            }
            Ok(meta) => {
                if !pending.is_empty() && !meta.is_dir() {
                    return None;
                }
                resolved.push(part);
            }
            Err(_) if pending.is_empty() => {
                resolved.push(part);
            }
            Err(_) => return None,
        }
    }
    Some(join(rootfs, &resolved))
}

fn components(path: &Path) -> Vec<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect()
}

fn join(root: &Path, parts: &[OsString]) -> PathBuf {
    let mut p = root.to_path_buf();
    p.extend(parts);
    p
}

/// Recovers the typed error from text that went through libcontainer (our
/// executor's message, wrapped in several layers of context).
pub fn classify(text: &str) -> Option<RuntimeError> {
    let start = text.find("exec: \"")? + "exec: \"".len();
    let rest = &text[start..];
    let end = rest.find("\": ")?;
    let name = rest[..end].to_string();
    let tail = &rest[end + 3..];
    if tail.starts_with("executable file not found in $PATH") {
        Some(RuntimeError::ExecutableNotFound(name))
    } else if tail.starts_with("permission denied") {
        Some(RuntimeError::PermissionDenied(name))
    } else if tail.starts_with("stat ") {
        Some(RuntimeError::NoSuchFile(name))
    } else {
        None
    }
}

#[cfg(test)]
mod tests;
