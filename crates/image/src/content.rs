//! Content-addressed blob store: `content/blobs/sha256/<hex>`, written through
//! `content/ingest/<tmp>` and renamed into place once the digest is known.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{ImageError, IoContext};
use crate::fsutil::{self, digest_hex, fsync_dir, unique_name};
use crate::reference::is_full_hex_id;

#[derive(Debug)]
pub struct ContentStore {
    blobs: PathBuf,
    ingest: PathBuf,
}

impl ContentStore {
    pub fn open(root: &Path) -> Result<Self, ImageError> {
        let blobs = root.join("blobs/sha256");
        let ingest = root.join("ingest");
        for d in [&blobs, &ingest] {
            crate::fsutil::create_dir_private(d).ctx(|| format!("create {}", d.display()))?;
        }
        let store = ContentStore { blobs, ingest };
        store.clean_ingest()?;
        Ok(store)
    }

    /// Half-written blobs of a crashed process are useless: they are not resumed.
    fn clean_ingest(&self) -> Result<(), ImageError> {
        for e in fs::read_dir(&self.ingest).ctx(|| format!("read {}", self.ingest.display()))? {
            let p = e?.path();
            fsutil::remove_all(&p).ctx(|| format!("remove {}", p.display()))?;
        }
        Ok(())
    }

    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.blobs.join(digest_hex(digest))
    }

    pub fn contains(&self, digest: &str) -> bool {
        self.blob_path(digest).is_file()
    }

    pub fn read(&self, digest: &str) -> Result<Vec<u8>, ImageError> {
        let p = self.blob_path(digest);
        fs::read(&p).ctx(|| format!("read blob {}", p.display()))
    }

    pub fn write(&self, data: &[u8]) -> Result<(String, u64), ImageError> {
        let mut w = self.writer()?;
        w.write_all(data).ctx(|| "write blob".into())?;
        w.commit()
    }

    pub fn writer(&self) -> Result<IngestWriter, ImageError> {
        let path = self.ingest.join(unique_name());
        // 0600, kept when renamed into blobs/.
        let file =
            crate::fsutil::create_private(&path).ctx(|| format!("create {}", path.display()))?;
        Ok(IngestWriter {
            file: Some(BufWriter::new(file)),
            path,
            blobs: self.blobs.clone(),
            hasher: Sha256::new(),
            size: 0,
        })
    }

    pub fn delete(&self, digest: &str) -> Result<(), ImageError> {
        let p = self.blob_path(digest);
        match fs::remove_file(&p) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(ImageError::io(format!("remove {}", p.display()), e))
            }
            _ => Ok(()),
        }
    }

    /// Digests of all stored blobs (ignores foreign files).
    pub fn list(&self) -> Result<Vec<String>, ImageError> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.blobs).ctx(|| format!("read {}", self.blobs.display()))? {
            let name = e?.file_name();
            if let Some(n) = name.to_str().filter(|n| is_full_hex_id(n)) {
                out.push(format!("sha256:{n}"));
            }
        }
        Ok(out)
    }
}

/// A blob being written; dropped without `commit` it leaves nothing behind.
pub struct IngestWriter {
    file: Option<BufWriter<File>>,
    path: PathBuf,
    blobs: PathBuf,
    hasher: Sha256,
    size: u64,
}

impl IngestWriter {
    /// Digest and size of what was written so far.
    pub fn digest(&self) -> (String, u64) {
        let hex = hex::encode(self.hasher.clone().finalize());
        (format!("sha256:{hex}"), self.size)
    }

    /// Makes the blob durable under its digest; returns (digest, size).
    pub fn commit(mut self) -> Result<(String, u64), ImageError> {
        let file = self.file.take().expect("commit once");
        let file = file
            .into_inner()
            .map_err(|e| ImageError::io("flush blob", e.into_error()))?;
        file.sync_all().ctx(|| "fsync blob".into())?;
        drop(file);
        let hex = hex::encode(self.hasher.clone().finalize());
        let dest = self.blobs.join(&hex);
        if dest.exists() {
            // Same digest, same bytes: keep the existing blob.
            fs::remove_file(&self.path).ctx(|| format!("remove {}", self.path.display()))?;
        } else {
            fs::rename(&self.path, &dest).ctx(|| format!("commit {}", dest.display()))?;
            fsync_dir(&self.blobs).ctx(|| format!("fsync {}", self.blobs.display()))?;
        }
        self.path.clear();
        Ok((format!("sha256:{hex}"), self.size))
    }
}

impl Write for IngestWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let f = self.file.as_mut().expect("not committed");
        let n = f.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().expect("not committed").flush()
    }
}

impl Drop for IngestWriter {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            self.file.take();
            let _ = fs::remove_file(&self.path);
        }
    }
}
