//! Where a scan reads layers from: the daemon's content store or a
//! registry's blob store, either way compressed or plain tar blobs.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::PathBuf;

use flate2::read::MultiGzDecoder;

use crate::error::{IoContext, ScanError};

/// An image's layers, bottom first, as tar streams.
pub trait LayerSource {
    fn count(&self) -> usize;
    /// For warnings: the layer's digest.
    fn name(&self, i: usize) -> String;
    fn open(&self, i: usize) -> Result<Box<dyn Read + '_>, ScanError>;
}

/// Layer blobs on disk (gzip'd or plain tar).
#[derive(Debug)]
pub struct BlobFiles(pub Vec<(String, PathBuf)>);

impl LayerSource for BlobFiles {
    fn count(&self) -> usize {
        self.0.len()
    }

    fn name(&self, i: usize) -> String {
        self.0.get(i).map(|(d, _)| d.clone()).unwrap_or_default()
    }

    fn open(&self, i: usize) -> Result<Box<dyn Read + '_>, ScanError> {
        let (digest, path) = self
            .0
            .get(i)
            .ok_or_else(|| ScanError::InvalidArgument(format!("no layer {i}")))?;
        let f = File::open(path).ctx(|| format!("open layer {digest}"))?;
        decompress(BufReader::with_capacity(1 << 20, f)).ctx(|| format!("read layer {digest}"))
    }
}

/// gzip or plain tar, told apart by the magic bytes.
pub fn decompress<'a, R: io::BufRead + 'a>(mut r: R) -> io::Result<Box<dyn Read + 'a>> {
    let head = r.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(MultiGzDecoder::new(r)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Err(io::Error::other("not implemented: zstd-compressed layers"))
    } else {
        Ok(Box::new(r))
    }
}
