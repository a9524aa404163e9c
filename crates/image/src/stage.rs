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
        // The file's bytes are written and hashed by a second thread while
        // this one unpacks them: the two halves of a load cost about the same,
        // and a machine has at least two cores.
        let (layer, drained, written) = std::thread::scope(|scope| {
            let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(POOL);
            let (empty_tx, empty_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(POOL);
            for _ in 0..POOL {
                let _ = empty_tx.send(Vec::with_capacity(CHUNK));
            }
            let out: &mut File = file;
            let writer = scope.spawn(move || write_and_hash(out, full_rx, empty_tx));
            let mut tee = Tee {
                inner: data,
                cur: Vec::with_capacity(CHUNK),
                full: Some(full_tx),
                empty: empty_rx,
                failed: None,
            };
            let layer = if size >= MIN_LAYER {
                ingest::unpack_layer(self.store, &mut tee, WhiteoutMode::Overlay).ok()
            } else {
                None
            };
            // The rest of the entry is the file's (and the blob digest's) too.
            let drained = io::copy(&mut tee, &mut io::sink()).map(|_| ());
            let drained = drained.and_then(|()| tee.finish());
            let failed = tee.failed.take();
            drop(tee);
            let written = writer
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the layer writer panicked")));
            // Staging may have swallowed the archive's or the disk's error.
            let drained = match failed {
                Some(e) => Err(e),
                None => drained,
            };
            (layer, drained, written)
        });
        // The disk's error is the one to tell; the reader only saw the writer go.
        let (hasher, n) = written?;
        drained?;
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

/// Bytes handed to the writer at a time, and how many such buffers go round.
const CHUNK: usize = 256 << 10;
const POOL: usize = 4;

/// The writer's half: every chunk into the file and the digest, each buffer
/// back to the reader. An error ends it; the reader then finds it gone.
fn write_and_hash(
    out: &mut File,
    full: std::sync::mpsc::Receiver<Vec<u8>>,
    empty: std::sync::mpsc::SyncSender<Vec<u8>>,
) -> io::Result<(Sha256, u64)> {
    let mut hasher = Sha256::new();
    let mut n = 0u64;
    for mut chunk in full {
        out.write_all(&chunk)?;
        hasher.update(&chunk);
        n += chunk.len() as u64;
        chunk.clear();
        let _ = empty.send(chunk);
    }
    Ok((hasher, n))
}

/// Passes what is read through it on to the writer thread in chunks,
/// remembering the first error (of the archive, or the writer's going away)
/// for whoever reads past it.
struct Tee<'a> {
    inner: &'a mut dyn Read,
    cur: Vec<u8>,
    full: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    empty: std::sync::mpsc::Receiver<Vec<u8>>,
    failed: Option<io::Error>,
}

impl Tee<'_> {
    fn hand_over(&mut self) -> io::Result<()> {
        let gone = || io::Error::other("the layer file could not be written");
        let next = self.empty.recv().map_err(|_| gone())?;
        let chunk = std::mem::replace(&mut self.cur, next);
        let tx = self.full.as_ref().ok_or_else(gone)?;
        tx.send(chunk).map_err(|_| gone())
    }

    /// Hands over what is left and lets the writer finish.
    fn finish(&mut self) -> io::Result<()> {
        if !self.cur.is_empty() {
            self.hand_over()?;
        }
        self.full = None;
        Ok(())
    }
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = &self.failed {
            return Err(io::Error::new(e.kind(), e.to_string()));
        }
        let res = self.inner.read(buf).and_then(|n| {
            if self.cur.len() + n > CHUNK {
                self.hand_over()?;
            }
            self.cur.extend_from_slice(&buf[..n]);
            Ok(n)
        });
        match res {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let shown = io::Error::new(e.kind(), e.to_string());
                self.failed = Some(e);
                Err(shown)
            }
        }
    }
}
