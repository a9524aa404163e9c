//! Docker's json-file log format: one JSON object per line of output,
//! `{"log":"hello\n","stream":"stdout","time":"…Z"}`.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::StdStream;
use super::exit::now_rfc3339;

/// Docker cuts lines longer than its 16 KiB read buffer into partial entries.
const MAX_LINE: usize = 16 * 1024;

#[derive(Serialize)]
struct Entry<'a> {
    log: &'a str,
    stream: &'a str,
    time: &'a str,
}

pub struct LogWriter {
    file: File,
    /// Unterminated tail of each stream, kept apart so stdout and stderr never mix.
    partial: [Vec<u8>; 2],
}

impl LogWriter {
    pub fn open(path: &Path) -> std::io::Result<Self> {
        if let Some(parent) = path.parent() {
            crate::private::create_dir_all(parent)?;
        }
        // 0600 (Docker: 0640 root:root): the log is the container's output.
        let file = crate::private::open_append(path)?;
        Ok(Self {
            file,
            partial: [Vec::new(), Vec::new()],
        })
    }

    /// Appends the complete lines `data` finishes; keeps the rest for later.
    pub fn write(&mut self, stream: StdStream, data: &[u8]) -> std::io::Result<()> {
        let idx = stream as usize;
        let mut out = Vec::new();
        let time = now_rfc3339();
        let buf = &mut self.partial[idx];
        buf.extend_from_slice(data);
        let mut start = 0;
        while let Some(pos) = buf[start..].iter().position(|&b| b == b'\n') {
            let end = start + pos + 1;
            encode(&mut out, &buf[start..end], stream, &time)?;
            start = end;
        }
        while buf.len() - start >= MAX_LINE {
            encode(&mut out, &buf[start..start + MAX_LINE], stream, &time)?;
            start += MAX_LINE;
        }
        buf.drain(..start);
        self.file.write_all(&out)
    }

    /// Writes what is left of `stream` after its end of file.
    pub fn flush_partial(&mut self, stream: StdStream) -> std::io::Result<()> {
        let idx = stream as usize;
        if self.partial[idx].is_empty() {
            return Ok(());
        }
        let rest = std::mem::take(&mut self.partial[idx]);
        let mut out = Vec::new();
        encode(&mut out, &rest, stream, &now_rfc3339())?;
        self.file.write_all(&out)
    }
}

fn encode(out: &mut Vec<u8>, line: &[u8], stream: StdStream, time: &str) -> std::io::Result<()> {
    let text = String::from_utf8_lossy(line);
    serde_json::to_writer(
        &mut *out,
        &Entry {
            log: &text,
            stream: stream.name(),
            time,
        },
    )
    .map_err(std::io::Error::other)?;
    out.push(b'\n');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(path: &Path) -> Vec<(String, String)> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                assert!(v["time"].as_str().unwrap().ends_with('Z'));
                (
                    v["log"].as_str().unwrap().to_string(),
                    v["stream"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn splits_lines_keeps_streams_apart_and_flushes_partial() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut w = LogWriter::open(&path).unwrap();
        w.write(StdStream::Stdout, b"hel").unwrap();
        w.write(StdStream::Stderr, b"oops\nhalf").unwrap();
        w.write(StdStream::Stdout, b"lo\nworld\n\"q\"").unwrap();
        w.flush_partial(StdStream::Stdout).unwrap();
        w.flush_partial(StdStream::Stderr).unwrap();
        assert_eq!(
            entries(&path),
            vec![
                ("oops\n".into(), "stderr".into()),
                ("hello\n".into(), "stdout".into()),
                ("world\n".into(), "stdout".into()),
                ("\"q\"".into(), "stdout".into()),
                ("half".into(), "stderr".into()),
            ]
        );
    }

    #[test]
    fn time_has_nanoseconds() {
        let t = now_rfc3339();
        let frac = t.split('.').nth(1).unwrap();
        assert_eq!(frac.len(), "123456789Z".len(), "{t}");
    }

    #[test]
    fn long_lines_are_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.log");
        let mut w = LogWriter::open(&path).unwrap();
        w.write(StdStream::Stdout, &vec![b'a'; MAX_LINE + 10])
            .unwrap();
        w.flush_partial(StdStream::Stdout).unwrap();
        let e = entries(&path);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].0.len(), MAX_LINE);
        assert_eq!(e[1].0.len(), 10);
    }
}
