//! `docker load` in one pass over the archive: every file big enough to be
//! a layer is unpacked into a staging snapshot and hashed while the outer
//! archive writes it out, before the manifest (first or last, by producer)
//! says which files are layers. The manifest then binds the staged layers;
//! what it does not name is dropped. A file that did not stage (not a tar,
//! a hostile layer, a bottom layer with whiteouts) is read again the old
//! way, which refuses it with the same error as before.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::ImageError;
use crate::ingest::{self, LayerBlob, PreparedLayer};
use crate::snapshots::TempSnapshot;
use crate::store::ImageStore;
use crate::unpack::{FileSink, UnpackStats, WhiteoutMode};

/// The smallest layer: an empty tar is its two zero blocks.
const MIN_LAYER: u64 = 1024;

struct Staged {
    tmp: TempSnapshot,
    stats: UnpackStats,
    blob_digest: String,
    blob_size: u64,
    diff_id: Option<String>,
}

/// Stages the files of an archive being unpacked, keyed by inode: a later
/// entry for the same path makes a new file (and re-keys a reused inode),
/// and a hardlink or symlink to a staged file still finds it.
pub(crate) struct Stager<'a> {
    store: &'a ImageStore,
    staged: HashMap<(u64, u64), Staged>,
}

impl<'a> Stager<'a> {
    pub(crate) fn new(store: &'a ImageStore) -> Self {
        Stager {
            store,
            staged: HashMap::new(),
        }
    }

    /// The layer in file `path` (resolved inside the archive), if it was
    /// staged and fits position `bottom`: a bottom layer drops whiteouts,
    /// which staging (for an upper layer) took.
    pub(crate) fn take(
        &mut self,
        path: &Path,
        bottom: bool,
    ) -> Result<Option<PreparedLayer>, ImageError> {
        let meta = std::fs::metadata(path)
            .map_err(|e| ImageError::io(format!("stat {}", path.display()), e))?;
        let key = (meta.dev(), meta.ino());
        let fits = self
            .staged
            .get(&key)
            .is_some_and(|s| !(bottom && s.stats.whiteouts > 0) && s.blob_size == meta.len());
        if !fits {
            return Ok(None);
        }
        let Some(s) = self.staged.remove(&key) else {
            return Ok(None);
        };
        ingest::adopt_file(path)?;
        let diff_id = s.diff_id.unwrap_or_else(|| s.blob_digest.clone());
        let compressed = s.blob_digest != diff_id;
        Ok(Some(PreparedLayer {
            tmp: s.tmp,
            blob: LayerBlob::File(path.to_path_buf()),
            blob_digest: s.blob_digest,
            blob_size: s.blob_size,
            diff_id,
            size: s.stats.size,
            compressed,
        }))
    }
}

impl FileSink for Stager<'_> {
    fn fill(&mut self, data: &mut dyn Read, size: u64, file: &mut File) -> io::Result<u64> {
        let meta = file.metadata()?;
        let key = (meta.dev(), meta.ino());
        // A reused inode: what was staged for it went with the old file.
        self.staged.remove(&key);
        let mut tee = Tee {
            inner: data,
            out: file,
            hasher: Sha256::new(),
            n: 0,
            failed: None,
        };
        let layer = if size >= MIN_LAYER {
            ingest::unpack_layer(self.store, &mut tee, WhiteoutMode::Overlay).ok()
        } else {
            None
        };
        // The rest of the entry is the file's (and the blob digest's) too.
        let drained = io::copy(&mut tee, &mut io::sink());
        if let Some(e) = tee.failed.take() {
            // Staging may have swallowed the archive's or the disk's error.
            return Err(e);
        }
        drained?;
        let Tee { n, hasher, .. } = tee;
        if let Some((tmp, stats, diff_id)) = layer {
            ingest::start_writeback(file);
            self.staged.insert(
                key,
                Staged {
                    tmp,
                    stats,
                    blob_digest: format!("sha256:{}", hex::encode(hasher.finalize())),
                    blob_size: n,
                    diff_id,
                },
            );
        }
        Ok(n)
    }
}

/// Writes and hashes what is read through it, remembering the first error
/// (of the archive or of the write) for whoever reads past it.
struct Tee<'a> {
    inner: &'a mut dyn Read,
    out: &'a mut File,
    hasher: Sha256,
    n: u64,
    failed: Option<io::Error>,
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = &self.failed {
            return Err(io::Error::new(e.kind(), e.to_string()));
        }
        let res = self.inner.read(buf).and_then(|n| {
            self.out.write_all(&buf[..n])?;
            Ok(n)
        });
        match res {
            Ok(n) => {
                self.hasher.update(&buf[..n]);
                self.n += n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let shown = io::Error::new(e.kind(), e.to_string());
                self.failed = Some(e);
                Err(shown)
            }
        }
    }
}
