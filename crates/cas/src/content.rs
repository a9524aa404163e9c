//! The content-addressed blob store: bytes named by their sha256 digest,
//! written through a temp entry and put in place only once complete, so a
//! blob that exists is always whole and matches its name.

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest as _, Sha256};

use crate::CasError;
use crate::atomic::{PRIVATE_FILE, fsync_dir};
use crate::digest::{hex_of, validate_digest};

/// A blob being written: its digest and size follow the bytes written so
/// far; dropped without [`ContentStore::commit`] it leaves nothing behind.
pub trait BlobWriter: Write {
    /// (`sha256:<hex>`, size) of what was written so far.
    fn digest(&self) -> (String, u64);
}

/// What every blob store offers. Digests are `sha256:<hex>` strings; an
/// invalid one is an error ([`CasError::InvalidDigest`]) or absent, never a
/// path outside the store.
pub trait ContentStore {
    type Writer: BlobWriter;

    fn contains(&self, digest: &str) -> bool;
    /// Size of a stored blob.
    fn size(&self, digest: &str) -> Option<u64>;
    fn read(&self, digest: &str) -> Result<Vec<u8>, CasError>;
    /// Starts a blob whose digest is known when it ends.
    fn writer(&self) -> Result<Self::Writer, CasError>;
    /// Puts the written blob in place; with `expected`, a different digest
    /// is [`CasError::DigestMismatch`] and nothing is stored. A blob that
    /// is already there stays as it is (same digest, same bytes).
    fn commit(
        &self,
        writer: Self::Writer,
        expected: Option<&str>,
    ) -> Result<(String, u64), CasError>;
    /// Whether the blob was there.
    fn delete(&self, digest: &str) -> Result<bool, CasError>;
    /// Every stored digest, sorted.
    fn list(&self) -> Result<Vec<String>, CasError>;

    /// Stores small content at once; returns (digest, size).
    fn write(&self, data: &[u8]) -> Result<(String, u64), CasError> {
        let mut w = self.writer()?;
        w.write_all(data)
            .map_err(CasError::io("write blob", PathBuf::new()))?;
        self.commit(w, None)
    }
}

fn hex_or_invalid(digest: &str) -> Result<&str, CasError> {
    validate_digest(digest)?;
    hex_of(digest).ok_or_else(|| CasError::InvalidDigest(digest.to_string()))
}

/// Blobs in `<root>/blobs/sha256/<hex>` (0600), written through
/// `<root>/ingest/`, which is emptied at open: half-written blobs of a
/// crashed process are not resumed.
#[derive(Debug, Clone)]
pub struct FsStore {
    blobs: PathBuf,
    ingest: PathBuf,
}

impl FsStore {
    pub fn open(root: &Path) -> Result<Self, CasError> {
        let blobs = root.join("blobs/sha256");
        let ingest = root.join("ingest");
        for d in [&blobs, &ingest] {
            std::os::unix::fs::DirBuilderExt::mode(fs::DirBuilder::new().recursive(true), 0o700)
                .create(d)
                .map_err(CasError::io("create", d))?;
        }
        for entry in fs::read_dir(&ingest).map_err(CasError::io("read", &ingest))? {
            let p = entry.map_err(CasError::io("read", &ingest))?.path();
            fs::remove_file(&p).map_err(CasError::io("remove", &p))?;
        }
        Ok(FsStore { blobs, ingest })
    }

    /// Where a blob lives (or would live); `None` for anything that is not a
    /// valid sha256 digest.
    pub fn path(&self, digest: &str) -> Option<PathBuf> {
        hex_of(digest).map(|h| self.blobs.join(h))
    }

    /// Adopts a complete file whose digest the caller verified (an upload
    /// session's data): fsynced and renamed into place, or dropped when the
    /// blob is already there. `file` must be on the store's filesystem.
    pub fn adopt(&self, file: &Path, digest: &str) -> Result<(), CasError> {
        let dest = self.blobs.join(hex_or_invalid(digest)?);
        if dest.exists() {
            return fs::remove_file(file).map_err(CasError::io("remove", file));
        }
        File::open(file)
            .and_then(|f| f.sync_all())
            .map_err(CasError::io("fsync", file))?;
        crate::atomic::rename_durable(file, &dest).map_err(CasError::io("commit", &dest))
    }
}

/// [`FsStore`]'s writer: a buffered temp file in `ingest/`, hashed as it
/// is written.
pub struct FsWriter {
    file: Option<BufWriter<File>>,
    path: PathBuf,
    hasher: Sha256,
    size: u64,
}

impl BlobWriter for FsWriter {
    fn digest(&self) -> (String, u64) {
        let hex = hex::encode(self.hasher.clone().finalize());
        (format!("sha256:{hex}"), self.size)
    }
}

impl Write for FsWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let f = self.file.as_mut().ok_or_else(committed)?;
        let n = f.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().ok_or_else(committed)?.flush()
    }
}

fn committed() -> io::Error {
    io::Error::other("blob already committed")
}

impl Drop for FsWriter {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl ContentStore for FsStore {
    type Writer = FsWriter;

    fn contains(&self, digest: &str) -> bool {
        self.path(digest).is_some_and(|p| p.is_file())
    }

    fn size(&self, digest: &str) -> Option<u64> {
        fs::metadata(self.path(digest)?).ok().map(|m| m.len())
    }

    fn read(&self, digest: &str) -> Result<Vec<u8>, CasError> {
        let p = self.blobs.join(hex_or_invalid(digest)?);
        fs::read(&p).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => CasError::NotFound(digest.to_string()),
            _ => CasError::io("read", &p)(e),
        })
    }

    fn writer(&self) -> Result<FsWriter, CasError> {
        let (file, path) = tempfile::Builder::new()
            .prefix(".tmp-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(PRIVATE_FILE))
            .tempfile_in(&self.ingest)
            .map_err(CasError::io("create", &self.ingest))?
            .keep()
            .map_err(|e| CasError::io("create", &self.ingest)(e.error))?;
        Ok(FsWriter {
            file: Some(BufWriter::new(file)),
            path,
            hasher: Sha256::new(),
            size: 0,
        })
    }

    fn commit(
        &self,
        mut writer: FsWriter,
        expected: Option<&str>,
    ) -> Result<(String, u64), CasError> {
        let (digest, size) = writer.digest();
        crate::digest::verify(expected, &digest)?;
        let file = writer
            .file
            .take()
            .ok_or_else(|| CasError::io("commit", &writer.path)(committed()))?;
        let path = std::mem::take(&mut writer.path);
        let result = (|| {
            let file = file
                .into_inner()
                .map_err(|e| CasError::io("flush", &path)(e.into_error()))?;
            file.sync_all().map_err(CasError::io("fsync", &path))?;
            drop(file);
            let dest = self.blobs.join(hex_or_invalid(&digest)?);
            if dest.exists() {
                fs::remove_file(&path).map_err(CasError::io("remove", &path))
            } else {
                fs::rename(&path, &dest).map_err(CasError::io("commit", &dest))?;
                fsync_dir(&self.blobs).map_err(CasError::io("fsync", &self.blobs))
            }
        })();
        if result.is_err() {
            let _ = fs::remove_file(&path);
        }
        result.map(|()| (digest, size))
    }

    fn delete(&self, digest: &str) -> Result<bool, CasError> {
        let p = self.blobs.join(hex_or_invalid(digest)?);
        match fs::remove_file(&p) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(CasError::io("remove", &p)(e)),
        }
    }

    fn list(&self) -> Result<Vec<String>, CasError> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.blobs).map_err(CasError::io("read", &self.blobs))? {
            let entry = entry.map_err(CasError::io("read", &self.blobs))?;
            let digest = format!("sha256:{}", entry.file_name().to_string_lossy());
            // Foreign files (an editor's backup, a stray temp) are not blobs.
            if hex_of(&digest).is_some() {
                out.push(digest);
            }
        }
        out.sort();
        Ok(out)
    }
}

/// Blobs in memory, for unit tests of code above a store.
#[derive(Debug, Clone, Default)]
pub struct MemStore {
    blobs: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
}

/// [`MemStore`]'s writer.
#[derive(Debug, Default)]
pub struct MemWriter {
    buf: Vec<u8>,
}

impl Write for MemWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl BlobWriter for MemWriter {
    fn digest(&self) -> (String, u64) {
        (crate::sha256_digest(&self.buf), self.buf.len() as u64)
    }
}

impl MemStore {
    fn blobs(&self) -> parking_lot::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.blobs.lock()
    }
}

impl ContentStore for MemStore {
    type Writer = MemWriter;

    fn contains(&self, digest: &str) -> bool {
        self.blobs().contains_key(digest)
    }

    fn size(&self, digest: &str) -> Option<u64> {
        self.blobs().get(digest).map(|b| b.len() as u64)
    }

    fn read(&self, digest: &str) -> Result<Vec<u8>, CasError> {
        hex_or_invalid(digest)?;
        self.blobs()
            .get(digest)
            .cloned()
            .ok_or_else(|| CasError::NotFound(digest.to_string()))
    }

    fn writer(&self) -> Result<MemWriter, CasError> {
        Ok(MemWriter::default())
    }

    fn commit(&self, writer: MemWriter, expected: Option<&str>) -> Result<(String, u64), CasError> {
        let (digest, size) = writer.digest();
        crate::digest::verify(expected, &digest)?;
        self.blobs().entry(digest.clone()).or_insert(writer.buf);
        Ok((digest, size))
    }

    fn delete(&self, digest: &str) -> Result<bool, CasError> {
        hex_or_invalid(digest)?;
        Ok(self.blobs().remove(digest).is_some())
    }

    fn list(&self) -> Result<Vec<String>, CasError> {
        Ok(self.blobs().keys().cloned().collect())
    }
}
