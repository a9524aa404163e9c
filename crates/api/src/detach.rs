//! Detach keys: a byte sequence on an attach's stdin that ends the session and
//! leaves the container running (default ctrl-p ctrl-q, as Docker).

use crate::{ApiError, ApiResult};

pub const DEFAULT: &str = "ctrl-p,ctrl-q";

/// Parses Docker's `detachKeys` syntax: comma-separated `ctrl-<x>` or single chars.
pub fn parse(spec: &str) -> ApiResult<Vec<u8>> {
    spec.split(',')
        .map(|key| {
            let key = key.trim();
            if let Some(c) = key.strip_prefix("ctrl-") {
                let b = match c.as_bytes() {
                    [b] if b.is_ascii_lowercase() => b - b'a' + 1,
                    [b'@'] => 0,
                    [b'['] => 27,
                    [b'\\'] => 28,
                    [b']'] => 29,
                    [b'^'] => 30,
                    [b'_'] => 31,
                    _ => {
                        return Err(ApiError::bad_request(format!(
                            "Invalid detach keys ({spec}) provided"
                        )));
                    }
                };
                Ok(b)
            } else if key.len() == 1 {
                Ok(key.as_bytes()[0])
            } else {
                Err(ApiError::bad_request(format!(
                    "Invalid detach keys ({spec}) provided"
                )))
            }
        })
        .collect()
}

/// Streaming matcher: feeds stdin bytes through, holding back a partial match.
pub struct Detector {
    keys: Vec<u8>,
    matched: usize,
}

pub enum Feed {
    /// Pass these bytes on.
    Data(Vec<u8>),
    /// The sequence was typed: pass these bytes on, then detach.
    Detach(Vec<u8>),
}

impl Detector {
    pub fn new(keys: Vec<u8>) -> Self {
        Detector { keys, matched: 0 }
    }

    pub fn feed(&mut self, input: &[u8]) -> Feed {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if self.keys.is_empty() {
                out.push(b);
                continue;
            }
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return Feed::Detach(out);
                }
            } else {
                // A broken partial match was real input after all.
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
                if b == self.keys[0] {
                    self.matched = 1;
                } else {
                    out.push(b);
                }
            }
        }
        Feed::Data(out)
    }
}

/// A client's stdin as chunks to pass on, with the detach keys taken out.
pub struct StdinReader<R> {
    rd: R,
    detector: Detector,
    buf: Vec<u8>,
    detached: bool,
}

impl<R: tokio::io::AsyncRead + Unpin> StdinReader<R> {
    /// `keys` empty: nothing detaches.
    pub fn new(rd: R, keys: Vec<u8>) -> Self {
        StdinReader {
            rd,
            detector: Detector::new(keys),
            buf: vec![0u8; 32 * 1024],
            detached: false,
        }
    }

    /// The next bytes for the process; `None` at the client's EOF or once
    /// it detached (then [`StdinReader::detached`] says so).
    pub async fn next(&mut self) -> Option<Vec<u8>> {
        use tokio::io::AsyncReadExt;
        if self.detached {
            return None;
        }
        let n = match self.rd.read(&mut self.buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => n,
        };
        match self.detector.feed(&self.buf[..n]) {
            Feed::Data(d) => Some(d),
            Feed::Detach(d) => {
                self.detached = true;
                Some(d)
            }
        }
    }

    pub fn detached(&self) -> bool {
        self.detached
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_syntax() {
        assert_eq!(parse(DEFAULT).unwrap(), vec![16, 17]);
        assert_eq!(parse("a,ctrl-x").unwrap(), vec![b'a', 24]);
        assert!(parse("ctrl-").is_err());
        assert!(parse("ab").is_err());
    }

    #[test]
    fn detects_across_chunks_and_releases_false_starts() {
        let mut d = Detector::new(vec![16, 17]);
        assert!(matches!(d.feed(b"ab\x10"), Feed::Data(v) if v == b"ab"));
        assert!(matches!(d.feed(b"x"), Feed::Data(v) if v == b"\x10x"));
        assert!(matches!(d.feed(b"y\x10"), Feed::Data(v) if v == b"y"));
        assert!(matches!(d.feed(b"\x11tail"), Feed::Detach(v) if v.is_empty()));
    }
}
