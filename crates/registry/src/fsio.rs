//! Crash-safe file writes: a reader (or a restart) sees either the old file or
//! the complete new one, never a torn write.

use crate::error::RegistryError;
use std::fs::{self, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// Directories of the store: only root (the registry's user) reaches them.
pub const PRIVATE_DIR: u32 = 0o700;
/// Blobs, manifests, links, uploads.
pub const PRIVATE_FILE: u32 = 0o600;

/// `mkdir -p`, new directories 0700.
pub fn create_dir_all(dir: &Path) -> Result<(), RegistryError> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE_DIR)
        .create(dir)
        .map_err(|e| RegistryError::io(dir, e))
}

/// Opens `path` for writing, creating it 0600.
pub fn private_options() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.write(true).mode(PRIVATE_FILE);
    o
}

/// Warns when a secret the registry reads (htpasswd, token key) is readable
/// by other users; the registry still starts, as distribution does.
pub fn warn_if_exposed(path: &Path, what: &str) {
    use std::os::unix::fs::MetadataExt;
    if let Ok(meta) = fs::metadata(path)
        && meta.mode() & 0o077 != 0
    {
        tracing::warn!(
            "{what} {} is readable by other users (mode {:o}); chmod 600 it",
            path.display(),
            meta.mode() & 0o7777
        );
    }
}

/// Replaces `path` atomically (see [`cas::write_atomic`]), creating its
/// directory first.
pub fn atomic_write(path: &Path, data: &[u8]) -> Result<(), RegistryError> {
    let dir = path.parent().expect("store paths have a parent");
    create_dir_all(dir)?;
    cas::write_atomic(path, data).map_err(|e| RegistryError::io(path, e))
}

pub fn remove_file_if_exists(path: &Path) -> Result<bool, RegistryError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(RegistryError::io(path, e)),
    }
}

pub fn read_to_string_opt(path: &Path) -> Result<Option<String>, RegistryError> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(RegistryError::io(path, e)),
    }
}

/// Names of the entries of `dir`, empty when it does not exist; temp files
/// (dot names) are skipped.
pub fn list_dir(dir: &Path) -> Result<Vec<String>, RegistryError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(RegistryError::io(dir, e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| RegistryError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}
