//! Unix socket addresses hold at most 108 bytes, and a state dir under a long
//! exec root with a 64-hex container id exceeds that. Such paths are reached
//! through `/proc/self/fd/<dirfd>/<name>`, which the kernel resolves to the
//! directory the fd holds, so the address stays short whatever the real path.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// sun_path is 108 bytes including the terminating NUL.
const SUN_PATH_MAX: usize = 107;

pub struct SocketPath {
    /// Keeps the directory fd open while `path` is in use.
    _dir: Option<File>,
    pub path: PathBuf,
}

pub fn socket_path(dir: &Path, name: &str) -> std::io::Result<SocketPath> {
    let full = dir.join(name);
    if full.as_os_str().len() <= SUN_PATH_MAX {
        return Ok(SocketPath {
            _dir: None,
            path: full,
        });
    }
    let dir_fd = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)?;
    let path = PathBuf::from(format!("/proc/self/fd/{}/{name}", dir_fd.as_raw_fd()));
    Ok(SocketPath {
        _dir: Some(dir_fd),
        path,
    })
}

/// Like [`socket_path`], for another process to connect to (a runtime CLI
/// given `--console-socket`): the short form names our pid instead of
/// `self`, which root may follow while we keep the directory open.
pub fn socket_path_for_others(dir: &Path, name: &str) -> std::io::Result<SocketPath> {
    let mut sp = socket_path(dir, name)?;
    if let Ok(rest) = sp.path.strip_prefix("/proc/self") {
        sp.path = Path::new("/proc")
            .join(std::process::id().to_string())
            .join(rest);
    }
    Ok(sp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_dirs_get_short_addresses() {
        let base = tempfile::tempdir().unwrap();
        let long = base.path().join("x".repeat(120));
        std::fs::create_dir(&long).unwrap();
        let sp = socket_path(&long, "shim.sock").unwrap();
        assert!(sp.path.as_os_str().len() <= SUN_PATH_MAX);
        let listener = std::os::unix::net::UnixListener::bind(&sp.path).unwrap();
        assert!(
            long.join("shim.sock").exists(),
            "socket lands in the real dir"
        );
        let client =
            std::os::unix::net::UnixStream::connect(&socket_path(&long, "shim.sock").unwrap().path);
        assert!(client.is_ok());
        drop(listener);
    }

    #[test]
    fn short_dirs_are_used_as_is() {
        let sp = socket_path(Path::new("/run/x"), "s.sock").unwrap();
        assert_eq!(sp.path, Path::new("/run/x/s.sock"));
    }
}
