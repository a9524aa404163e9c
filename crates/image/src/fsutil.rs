//! Durable file operations: atomic replace, directory fsync, unique temp names.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Directories of the store (0700): only root reaches images, layers and blobs.
pub(crate) const PRIVATE_DIR: u32 = 0o700;
/// The root of a layer or writable layer when the layer itself does not say
/// (overlay shows the upper dir's mode as the container's `/`).
pub(crate) const LAYER_ROOT: u32 = 0o755;

/// `mkdir -p` whose new directories are 0700.
pub(crate) fn create_dir_private(path: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR)
        .create(path)
}

/// `mkdir` (one level) with `mode`.
pub(crate) fn create_dir_mode(path: &Path, mode: u32) -> io::Result<()> {
    fs::DirBuilder::new().mode(mode).create(path)
}

/// Prefix of every temporary entry we create; `open()` removes what a crash left.
pub(crate) const TMP_PREFIX: &str = ".tmp-";

/// A name that does not collide within this process and is unlikely to collide
/// with one from an earlier run (creation uses O_EXCL / mkdir anyway).
pub(crate) fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{TMP_PREFIX}{}-{nanos:x}-{n}", std::process::id())
}

pub(crate) use cas::fsync_dir;

pub(crate) use cas::write_atomic;

/// Removes a file or a whole tree; a missing path is not an error.
pub(crate) fn remove_all(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Removes a directory tree so that a crash midway leaves a temp-named
/// leftover (cleaned at open) instead of a half-deleted live entry.
pub(crate) fn remove_tree_atomic(path: &Path) -> io::Result<()> {
    let Some(dir) = path.parent() else {
        return remove_all(path);
    };
    let tmp = dir.join(unique_name());
    match fs::rename(path, &tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    fsync_dir(dir)?;
    remove_all(&tmp)
}

pub(crate) use cas::sha256_digest;

/// The hex part of `sha256:<hex>` (or the input when it has no algorithm).
pub(crate) fn digest_hex(d: &str) -> &str {
    d.split_once(':').map(|(_, h)| h).unwrap_or(d)
}

pub use cas::short_id;

/// Flushes everything written to the filesystem holding `path` (one syscall
/// instead of an fsync per unpacked file).
pub(crate) fn syncfs(path: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let f = File::open(path)?;
    Ok(nix::unistd::syncfs(f.as_raw_fd())?)
}
