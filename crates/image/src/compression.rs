//! Detects the compression of a layer stream by its magic bytes.

use std::io::{self, Cursor, Read};

use flate2::read::MultiGzDecoder;

use crate::error::ImageError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

pub fn detect(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(b"BZh") {
        Compression::Bzip2
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Compression::Xz
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// Wraps `reader` in the decoder its first bytes call for.
pub fn decompress<'a, R: Read + 'a>(reader: R) -> Result<Box<dyn Read + 'a>, ImageError> {
    decompress_detected(reader).map(|(_, r)| r)
}

/// [`decompress`], also telling which compression the stream had: with
/// [`Compression::None`] the result yields exactly the bytes of `reader`.
pub fn decompress_detected<'a, R: Read + 'a>(
    mut reader: R,
) -> Result<(Compression, Box<dyn Read + 'a>), ImageError> {
    let mut head = [0u8; 6];
    let mut n = 0;
    // Short reads are legal, so fill the magic window explicitly.
    while n < head.len() {
        match reader.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ImageError::io("read archive", e)),
        }
    }
    let whole = Cursor::new(head[..n].to_vec()).chain(reader);
    match detect(&head[..n]) {
        Compression::None => Ok((Compression::None, Box::new(whole))),
        Compression::Gzip => Ok((Compression::Gzip, Box::new(MultiGzDecoder::new(whole)))),
        other => Err(ImageError::NotImplemented(format!(
            "{} compression",
            format!("{other:?}").to_lowercase()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic() {
        assert_eq!(detect(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(detect(b"BZh91AY"), Compression::Bzip2);
        assert_eq!(detect(&[0xfd, b'7', b'z', b'X', b'Z', 0]), Compression::Xz);
        assert_eq!(detect(&[0x28, 0xb5, 0x2f, 0xfd]), Compression::Zstd);
        assert_eq!(detect(b"bin/"), Compression::None);
        assert_eq!(detect(b""), Compression::None);
    }

    #[test]
    fn unsupported_is_named() {
        let e = decompress(&b"BZh91AY&SY"[..]).err().unwrap().to_string();
        assert_eq!(e, "not implemented: bzip2 compression");
    }
}
