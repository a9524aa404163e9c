//! One layer stream → its blob (stored as received) plus an unpacked,
//! not yet committed snapshot. Shared by pull, load and commit so that every
//! layer goes through the same safe unpacker and the same digest checks.

use std::io::{self, BufReader, Read, Write};

use sha2::{Digest, Sha256};

use crate::compression;
use crate::error::ImageError;
use crate::snapshots::TempSnapshot;
use crate::store::ImageStore;
use crate::unpack::{self, UnpackOptions, WhiteoutMode, archive_err};
use cas::{BlobWriter as _, ContentStore as _, FsWriter};

/// A verified layer waiting for `ImageStore::record`; dropping it discards
/// both the blob and the unpacked tree.
pub(crate) struct PreparedLayer {
    pub tmp: TempSnapshot,
    pub blob: LayerBlob,
    pub blob_digest: String,
    pub blob_size: u64,
    pub diff_id: String,
    /// Bytes of file content (Docker's layer size).
    pub size: u64,
    pub compressed: bool,
}

/// Where a prepared layer's blob is until it is recorded.
pub(crate) enum LayerBlob {
    /// Written into the content store's ingest area as it was read.
    Written(FsWriter),
    /// A complete file on the data root's filesystem (a `docker load`'s
    /// unpacked archive), renamed into the store at record time instead of
    /// copied.
    File(std::path::PathBuf),
}

/// Stores the raw bytes as they are read and reports the running count.
struct RawTee<'a, R> {
    inner: R,
    out: &'a mut FsWriter,
    read: u64,
    on_read: &'a mut dyn FnMut(u64),
}

impl<R: Read> Read for RawTee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.out
            .write_all(&buf[..n])
            .map_err(|e| io::Error::new(io::ErrorKind::WriteZero, e))?;
        self.read += n as u64;
        (self.on_read)(self.read);
        Ok(n)
    }
}

/// Hashes what is read through it (when it has a hasher).
struct DiffHasher<R> {
    inner: R,
    hasher: Option<Sha256>,
}

impl<R: Read> Read for DiffHasher<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = &mut self.hasher {
            h.update(&buf[..n]);
        }
        Ok(n)
    }
}

fn check(expected: Option<&str>, actual: &str) -> Result<(), ImageError> {
    Ok(cas::digest::verify(expected, actual)?)
}

/// Reads one layer (plain or gzip) from `reader`. `expected` is the blob
/// digest that named it, when one did; a mismatch is reported even when the
/// tampered bytes also broke the tar, since that is the real cause.
pub(crate) fn ingest_layer(
    store: &ImageStore,
    reader: impl Read,
    expected: Option<&str>,
    whiteouts: WhiteoutMode,
    on_read: &mut dyn FnMut(u64),
) -> Result<PreparedLayer, ImageError> {
    let mut blob = store.content().writer()?;
    let tmp = store.snapshot_store().prepare()?;
    let mut raw = RawTee {
        inner: reader,
        out: &mut blob,
        read: 0,
        on_read,
    };
    let result = unpack_stream(&mut raw, &tmp, whiteouts);
    // Whatever the decoder left unread still belongs to the blob's digest.
    let drained = io::copy(&mut raw, &mut io::sink());
    let (blob_digest, blob_size) = blob.digest();
    check(expected, &blob_digest)?;
    let (stats, diff_id) = result?;
    drained.map_err(archive_err)?;
    let diff_id = diff_id.unwrap_or_else(|| blob_digest.clone());
    let compressed = blob_digest != diff_id;
    Ok(PreparedLayer {
        tmp,
        blob: LayerBlob::Written(blob),
        blob_digest,
        blob_size,
        diff_id,
        size: stats.size,
        compressed,
    })
}

/// Decompresses (when needed) and unpacks one layer stream into `tmp`;
/// returns what was unpacked and the uncompressed stream's digest, the
/// layer's diff id, or `None` for a stream that was not compressed: its
/// diff id is the digest of the raw bytes, which the caller hashes anyway
/// (hashing the same bytes twice was a tenth of a `docker load`).
fn unpack_stream(
    raw: impl Read,
    tmp: &TempSnapshot,
    whiteouts: WhiteoutMode,
) -> Result<(unpack::UnpackStats, Option<String>), ImageError> {
    let buffered = BufReader::with_capacity(256 << 10, raw);
    let (compression, decoded) = compression::decompress_detected(buffered)?;
    let hashed = compression != compression::Compression::None;
    let mut diff = DiffHasher {
        inner: decoded,
        hasher: hashed.then(Sha256::new),
    };
    let opts = UnpackOptions {
        allow_devices: true,
        whiteouts,
    };
    let stats = unpack::unpack_durable(&mut diff, &tmp.fs(), &opts)?;
    // Padding after the tar end marker is part of the layer.
    io::copy(&mut diff, &mut io::sink()).map_err(archive_err)?;
    let diff_id = diff
        .hasher
        .map(|h| format!("sha256:{}", hex::encode(h.finalize())));
    Ok((stats, diff_id))
}

/// [`ingest_layer`] for a layer that already is a file on the data root's
/// filesystem: read once (hashed and unpacked), and adopted as the blob
/// when recorded, never copied.
pub(crate) fn ingest_layer_file(
    store: &ImageStore,
    path: &std::path::Path,
    whiteouts: WhiteoutMode,
) -> Result<PreparedLayer, ImageError> {
    let (file, blob_size) = adopt_file(path)?;
    start_writeback(&file);
    let tmp = store.snapshot_store().prepare()?;
    let mut raw = DiffHasher {
        inner: file,
        hasher: Some(Sha256::new()),
    };
    let result = unpack_stream(&mut raw, &tmp, whiteouts);
    // The rest of the file belongs to the blob's digest too.
    io::copy(&mut raw, &mut io::sink()).map_err(archive_err)?;
    let hasher = raw.hasher.unwrap_or_default();
    let blob_digest = format!("sha256:{}", hex::encode(hasher.finalize()));
    let (stats, diff_id) = result?;
    let diff_id = diff_id.unwrap_or_else(|| blob_digest.clone());
    let compressed = blob_digest != diff_id;
    Ok(PreparedLayer {
        tmp,
        blob: LayerBlob::File(path.to_path_buf()),
        blob_digest,
        blob_size,
        diff_id,
        size: stats.size,
        compressed,
    })
}

/// Opens a file that becomes a blob and makes it root's and private, as
/// the store's own files; returns it with its size.
pub(crate) fn adopt_file(path: &std::path::Path) -> Result<(std::fs::File, u64), ImageError> {
    let file = std::fs::File::open(path)
        .map_err(|e| ImageError::io(format!("open {}", path.display()), e))?;
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .and_then(|()| std::os::unix::fs::fchown(&file, Some(0), Some(0)))
        .map_err(|e| ImageError::io(format!("secure {}", path.display()), e))?;
    let size = file
        .metadata()
        .map_err(|e| ImageError::io(format!("stat {}", path.display()), e))?
        .len();
    Ok((file, size))
}

/// A layer unpacked from a stream that is hashed elsewhere (see
/// `crate::stage`): its snapshot, what was unpacked and its diff id when
/// the stream was compressed.
pub(crate) fn unpack_layer(
    store: &ImageStore,
    raw: impl Read,
    whiteouts: WhiteoutMode,
) -> Result<(TempSnapshot, unpack::UnpackStats, Option<String>), ImageError> {
    let tmp = store.snapshot_store().prepare()?;
    let (stats, diff_id) = unpack_stream(raw, &tmp, whiteouts)?;
    Ok((tmp, stats, diff_id))
}

/// The file becomes a blob, fsynced when it is recorded: the disk starts
/// writing it out now, while it is read and unpacked, so that the fsync
/// finds little left to wait for (it was a fifth of a `docker load`).
pub(crate) fn start_writeback(file: &std::fs::File) {
    use std::os::fd::AsRawFd;
    // SAFETY: a plain syscall on a descriptor `file` keeps open; it only
    // schedules writeback and touches no memory of ours. Failure is harmless.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
    }
}
