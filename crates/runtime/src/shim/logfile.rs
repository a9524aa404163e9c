//! Docker's json-file log format: one JSON object per line of output,
//! `{"log":"hello\n","stream":"stdout","time":"…Z"}`, rotated as json-file's
//! `max-size`/`max-file` options ask.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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

/// json-file's `max-size` and `max-file`: before a write would take the
/// log past `max_size` bytes it is rotated, keeping `max_files - 1` older
/// files (`<log>.1` the newest of them), as dockerd names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRotation {
    pub max_size: u64,
    pub max_files: u32,
}

/// The rotated file `n` of the log at `path` (`<path>.<n>`).
pub fn rotated_path(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

pub struct LogWriter {
    file: File,
    path: PathBuf,
    /// Bytes in the current file.
    written: u64,
    rotation: Option<LogRotation>,
    /// Unterminated tail of each stream, kept apart so stdout and stderr never mix.
    partial: [Vec<u8>; 2],
}

impl LogWriter {
    pub fn open(path: &Path, rotation: Option<LogRotation>) -> std::io::Result<Self> {
        if let Some(parent) = path.parent() {
            crate::private::create_dir_all(parent)?;
        }
        // 0600 (Docker: 0640 root:root): the log is the container's output.
        let file = crate::private::open_append(path)?;
        let written = file.metadata()?.len();
        Ok(Self {
            file,
            path: path.to_path_buf(),
            written,
            rotation,
            partial: [Vec::new(), Vec::new()],
        })
    }

    /// Appends whole entries (each ends with the only newline in it: JSON
    /// escapes the rest), rotating whenever the next one would not fit, so
    /// no file passes `max_size` unless one entry alone does.
    fn append(&mut self, out: &[u8]) -> std::io::Result<()> {
        let Some(r) = self.rotation else {
            return self.file.write_all(out);
        };
        let mut start = 0;
        while start < out.len() {
            if !out[start..].contains(&b'\n') {
                // Not an entry (never produced here): written as it is.
                self.written += (out.len() - start) as u64;
                return self.file.write_all(&out[start..]);
            }
            let mut end = start;
            for (i, _) in out[start..]
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
            {
                let next = start + i + 1;
                let fits = self.written + (next - start) as u64 <= r.max_size;
                if !fits && (end > start || self.written > 0) {
                    break;
                }
                end = next;
            }
            if end == start {
                self.rotate(r)?;
                continue;
            }
            self.file.write_all(&out[start..end])?;
            self.written += (end - start) as u64;
            start = end;
        }
        Ok(())
    }

    fn rotate(&mut self, r: LogRotation) -> std::io::Result<()> {
        if r.max_files <= 1 {
            // Nothing older is kept: the one file starts over.
            self.file.set_len(0)?;
        } else {
            for n in (1..r.max_files - 1).rev() {
                match std::fs::rename(rotated_path(&self.path, n), rotated_path(&self.path, n + 1))
                {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            std::fs::rename(&self.path, rotated_path(&self.path, 1))?;
            self.file = crate::private::open_append(&self.path)?;
        }
        self.written = 0;
        Ok(())
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
        self.append(&out)
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
        self.append(&out)
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
        let mut w = LogWriter::open(&path, None).unwrap();
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
        let mut w = LogWriter::open(&path, None).unwrap();
        w.write(StdStream::Stdout, &vec![b'a'; MAX_LINE + 10])
            .unwrap();
        w.flush_partial(StdStream::Stdout).unwrap();
        let e = entries(&path);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].0.len(), MAX_LINE);
        assert_eq!(e[1].0.len(), 10);
    }

    #[test]
    fn rotation_keeps_max_files_and_never_splits_an_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.log");
        let rotation = LogRotation {
            max_size: 200,
            max_files: 3,
        };
        let mut w = LogWriter::open(&path, Some(rotation)).unwrap();
        for i in 0..10 {
            w.write(StdStream::Stdout, format!("line {i:02}\n").as_bytes())
                .unwrap();
        }
        // Many lines in one read of the container's output rotate entry by entry.
        let burst: String = (10..20).map(|i| format!("line {i:02}\n")).collect();
        w.write(StdStream::Stdout, burst.as_bytes()).unwrap();
        let all: Vec<String> = [rotated_path(&path, 2), rotated_path(&path, 1), path.clone()]
            .iter()
            .flat_map(|p| {
                assert!(
                    std::fs::metadata(p).unwrap().len() <= 200,
                    "{}",
                    p.display()
                );
                entries(p).into_iter().map(|(l, _)| l)
            })
            .collect();
        assert!(!rotated_path(&path, 3).exists(), "more than max-file files");
        // The newest lines, in order, with nothing cut: the oldest went.
        let last = all.last().unwrap().clone();
        assert_eq!(last, "line 19\n");
        let first: usize = all[0][5..7].parse().unwrap();
        let expected: Vec<String> = (first..20).map(|i| format!("line {i:02}\n")).collect();
        assert_eq!(all, expected);
        assert!(first > 0);

        // One file only: it starts over instead.
        let one = dir.path().join("one.log");
        let mut w = LogWriter::open(
            &one,
            Some(LogRotation {
                max_size: 100,
                max_files: 1,
            }),
        )
        .unwrap();
        for i in 0..10 {
            w.write(StdStream::Stderr, format!("e{i}\n").as_bytes())
                .unwrap();
        }
        assert!(std::fs::metadata(&one).unwrap().len() <= 100);
        assert!(!rotated_path(&one, 1).exists());
        assert_eq!(entries(&one).last().unwrap().0, "e9\n");
    }
}
