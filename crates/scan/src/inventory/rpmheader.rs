//! rpm's package header, as the `Packages` table of rpmdb.sqlite holds it:
//! the header without its 8-byte magic, i.e. two big-endian u32s (index
//! entry count `il`, data size `dl`), `il` entries of 16 bytes (tag, type,
//! offset, count) and `dl` bytes of data that the offsets point into.
//! Every offset and length is checked: the blob is image content, so it may
//! be damaged or hostile.

use std::collections::HashMap;

const TAG_NAME: u32 = 1000;
const TAG_VERSION: u32 = 1001;
const TAG_RELEASE: u32 = 1002;
const TAG_EPOCH: u32 = 1003;

const TYPE_INT32: u32 = 4;
const TYPE_STRING: u32 = 6;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18NSTRING: u32 = 9;

/// rpm's own bounds (headerImport): more than this is not a header.
const MAX_ENTRIES: usize = 0xffff;
const MAX_DATA: usize = 256 << 20;

#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub name: String,
    /// `None` when the package has no epoch tag (epoch 0 for comparison).
    pub epoch: Option<u32>,
    pub version: String,
    pub release: String,
}

impl Header {
    /// `[epoch:]version-release`, as rpm-based OSV records write versions.
    pub fn evr(&self) -> String {
        match self.epoch {
            Some(e) if e > 0 => format!("{e}:{}-{}", self.version, self.release),
            _ => format!("{}-{}", self.version, self.release),
        }
    }
}

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum HeaderError {
    #[error("header too short")]
    Short,
    #[error("header claims {0} entries and {1} data bytes")]
    Bounds(usize, usize),
    #[error("tag {0} points outside the header's data")]
    Offset(u32),
    #[error("tag {0} has type {1}, not the one rpm writes")]
    Type(u32, u32),
    #[error("no {0} tag")]
    Missing(&'static str),
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

pub fn parse(blob: &[u8]) -> Result<Header, HeaderError> {
    let il = be32(blob, 0).ok_or(HeaderError::Short)? as usize;
    let dl = be32(blob, 4).ok_or(HeaderError::Short)? as usize;
    if il > MAX_ENTRIES || dl > MAX_DATA {
        return Err(HeaderError::Bounds(il, dl));
    }
    let data_at = 8 + il * 16;
    let data = blob
        .get(data_at..data_at + dl)
        .ok_or(HeaderError::Bounds(il, dl))?;
    let mut entries: HashMap<u32, (u32, usize)> = HashMap::new();
    for i in 0..il {
        let at = 8 + i * 16;
        let (Some(tag), Some(kind), Some(offset)) =
            (be32(blob, at), be32(blob, at + 4), be32(blob, at + 8))
        else {
            return Err(HeaderError::Short);
        };
        entries.entry(tag).or_insert((kind, offset as usize));
    }
    let string = |tag: u32| -> Result<Option<String>, HeaderError> {
        let Some(&(kind, offset)) = entries.get(&tag) else {
            return Ok(None);
        };
        if !matches!(kind, TYPE_STRING | TYPE_STRING_ARRAY | TYPE_I18NSTRING) {
            return Err(HeaderError::Type(tag, kind));
        }
        let tail = data.get(offset..).ok_or(HeaderError::Offset(tag))?;
        let end = memchr::memchr(0, tail).ok_or(HeaderError::Offset(tag))?;
        Ok(Some(String::from_utf8_lossy(&tail[..end]).into_owned()))
    };
    let epoch = match entries.get(&TAG_EPOCH) {
        None => None,
        Some(&(TYPE_INT32, offset)) => {
            // rpm aligns INT32 data; an unaligned offset is a damaged header.
            if offset % 4 != 0 {
                return Err(HeaderError::Offset(TAG_EPOCH));
            }
            Some(be32(data, offset).ok_or(HeaderError::Offset(TAG_EPOCH))?)
        }
        Some(&(kind, _)) => return Err(HeaderError::Type(TAG_EPOCH, kind)),
    };
    Ok(Header {
        name: string(TAG_NAME)?.ok_or(HeaderError::Missing("NAME"))?,
        epoch,
        version: string(TAG_VERSION)?.ok_or(HeaderError::Missing("VERSION"))?,
        release: string(TAG_RELEASE)?.ok_or(HeaderError::Missing("RELEASE"))?,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A header as rpm lays it out: strings NUL-terminated, INT32 aligned.
    pub(crate) fn header(strings: &[(u32, &str)], epoch: Option<u32>) -> Vec<u8> {
        let mut index = Vec::new();
        let mut data = Vec::new();
        if let Some(e) = epoch {
            index.push((TAG_EPOCH, TYPE_INT32, data.len() as u32));
            data.extend_from_slice(&e.to_be_bytes());
        }
        for (tag, s) in strings {
            index.push((*tag, TYPE_STRING, data.len() as u32));
            data.extend_from_slice(s.as_bytes());
            data.push(0);
        }
        let mut b = Vec::new();
        b.extend_from_slice(&(index.len() as u32).to_be_bytes());
        b.extend_from_slice(&(data.len() as u32).to_be_bytes());
        for (tag, kind, off) in index {
            for v in [tag, kind, off, 1] {
                b.extend_from_slice(&v.to_be_bytes());
            }
        }
        b.extend_from_slice(&data);
        b
    }

    fn full(epoch: Option<u32>) -> Vec<u8> {
        header(
            &[
                (TAG_NAME, "openssl-libs"),
                (TAG_VERSION, "3.0.7"),
                (TAG_RELEASE, "27.el9"),
            ],
            epoch,
        )
    }

    #[test]
    fn reads_name_epoch_version_release_and_source() {
        let h = parse(&full(Some(1))).unwrap();
        assert_eq!(h.name, "openssl-libs");
        assert_eq!(h.evr(), "1:3.0.7-27.el9");
        let h = parse(&full(None)).unwrap();
        assert_eq!(h.evr(), "3.0.7-27.el9");
        let h = parse(&full(Some(0))).unwrap();
        assert_eq!(h.evr(), "3.0.7-27.el9", "epoch 0 is not written");
    }

    #[test]
    fn damaged_headers_are_errors_not_panics() {
        let good = full(Some(1));
        for cut in [0, 3, 8, 20, good.len() - 1] {
            assert!(parse(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut huge = good.clone();
        huge[0..4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(parse(&huge), Err(HeaderError::Bounds(..))));
        // The NAME entry pointing past the data.
        let mut wild = good.clone();
        let name_entry = 8 + 16; // after the EPOCH entry
        wild[name_entry + 8..name_entry + 12].copy_from_slice(&9999u32.to_be_bytes());
        assert_eq!(parse(&wild), Err(HeaderError::Offset(TAG_NAME)));
        let no_name = header(&[(TAG_VERSION, "1"), (TAG_RELEASE, "1")], None);
        assert_eq!(parse(&no_name), Err(HeaderError::Missing("NAME")));
    }
}
