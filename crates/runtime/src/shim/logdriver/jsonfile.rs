//! The container's log file, in Docker's json-file format (one JSON object
//! per line of output, `{"log":"hello\n","stream":"stdout","time":"…Z"}`)
//! or its `local` one (see [`super::local`]), rotated as the `max-size`/
//! `max-file` options ask, the rotated files gzip'd with `compress`
//! (`<log>.1.gz` …, as dockerd names them).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{FileFormat, FileSpec, LogDriver, Message, local};

#[derive(Serialize)]
struct Entry<'a> {
    log: &'a str,
    stream: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    attrs: Option<&'a BTreeMap<String, String>>,
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

/// The compressed rotated file `n` (`<path>.<n>.gz`).
pub fn compressed_path(path: &Path, n: u32) -> PathBuf {
    let mut name = rotated_path(path, n).into_os_string();
    name.push(".gz");
    PathBuf::from(name)
}

pub struct JsonFile {
    file: File,
    path: PathBuf,
    /// Bytes in the current file.
    written: u64,
    rotation: Option<LogRotation>,
    compress: bool,
    attrs: BTreeMap<String, String>,
    format: FileFormat,
    local: local::Encoder,
    /// Entries of one read of the container's output, appended at once
    /// (counted in `written` already).
    pending: Vec<u8>,
    entry: Vec<u8>,
}

impl JsonFile {
    pub fn open(path: &Path, spec: FileSpec) -> std::io::Result<Self> {
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
            rotation: spec.rotation,
            compress: spec.compress,
            attrs: spec.attrs,
            format: spec.format,
            local: local::Encoder::default(),
            pending: Vec::new(),
            entry: Vec::new(),
        })
    }

    /// Queues a whole entry, rotating first when it would not fit, so no file
    /// passes `max_size` unless one entry alone does.
    fn append(&mut self, entry: &[u8]) -> std::io::Result<()> {
        if let Some(r) = self.rotation
            && self.written > 0
            && self.written + entry.len() as u64 > r.max_size
        {
            self.write_pending()?;
            self.rotate(r)?;
        }
        self.pending.extend_from_slice(entry);
        self.written += entry.len() as u64;
        Ok(())
    }

    fn write_pending(&mut self) -> std::io::Result<()> {
        let r = self.file.write_all(&self.pending);
        self.pending.clear();
        r
    }

    fn rotate(&mut self, r: LogRotation) -> std::io::Result<()> {
        if r.max_files <= 1 {
            // Nothing older is kept: the one file starts over.
            self.file.set_len(0)?;
            self.written = 0;
            return Ok(());
        }
        let name = |n| match self.compress {
            true => compressed_path(&self.path, n),
            false => rotated_path(&self.path, n),
        };
        for n in (1..r.max_files - 1).rev() {
            match std::fs::rename(name(n), name(n + 1)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        if self.compress {
            // Written beside and renamed, so a reader never meets half a gzip.
            let tmp = rotated_path(&self.path, 1);
            std::fs::rename(&self.path, &tmp)?;
            self.file = crate::private::open_append(&self.path)?;
            gzip(&tmp, &compressed_path(&self.path, 1))?;
            std::fs::remove_file(&tmp)?;
        } else {
            std::fs::rename(&self.path, rotated_path(&self.path, 1))?;
            self.file = crate::private::open_append(&self.path)?;
        }
        self.written = 0;
        Ok(())
    }
}

/// Fast compression: it runs in the copy loop, and logs compress well anyway.
fn gzip(from: &Path, to: &Path) -> std::io::Result<()> {
    let mut partial = to.as_os_str().to_os_string();
    partial.push(".tmp");
    let partial = PathBuf::from(partial);
    let mut input = File::open(from)?;
    let out = crate::private::open_truncate(&partial)?;
    let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
    std::io::copy(&mut input, &mut enc)?;
    enc.finish()?;
    std::fs::rename(&partial, to)
}

impl LogDriver for JsonFile {
    fn log(&mut self, msg: &Message<'_>) -> std::io::Result<()> {
        let mut entry = std::mem::take(&mut self.entry);
        entry.clear();
        if self.format == FileFormat::Local {
            self.local.encode(msg, &mut entry);
            let r = self.append(&entry);
            self.entry = entry;
            return r;
        }
        let text = String::from_utf8_lossy(msg.line);
        let time = msg.time.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        serde_json::to_writer(
            &mut entry,
            &Entry {
                log: &text,
                stream: msg.stream.name(),
                attrs: (!self.attrs.is_empty()).then_some(&self.attrs),
                time: &time,
            },
        )
        .map_err(std::io::Error::other)?;
        entry.push(b'\n');
        let r = self.append(&entry);
        self.entry = entry;
        r
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.write_pending()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Logger, MAX_LINE};
    use super::*;
    use crate::shim::StdStream;
    use crate::shim::exit::now_rfc3339;

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
        let mut w = Logger::legacy(&path, None).unwrap();
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
        let mut w = Logger::legacy(&path, None).unwrap();
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
        let mut w = Logger::legacy(&path, Some(rotation)).unwrap();
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
        let mut w = Logger::legacy(
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

    #[test]
    fn compress_gzips_rotated_files_under_dockerd_names() {
        use std::io::Read;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z.log");
        let spec = FileSpec {
            rotation: Some(LogRotation {
                max_size: 300,
                max_files: 3,
            }),
            compress: true,
            attrs: [("tag".to_string(), "web".to_string())].into(),
            format: FileFormat::JsonFile,
        };
        let mut w = Logger::new(vec![Box::new(JsonFile::open(&path, spec).unwrap())]);
        for i in 0..40 {
            w.write(StdStream::Stdout, format!("line {i:02}\n").as_bytes())
                .unwrap();
        }
        assert!(!rotated_path(&path, 1).exists());
        assert!(!compressed_path(&path, 3).exists());
        let mut all = Vec::new();
        for n in [2, 1] {
            let mut text = String::new();
            flate2::read::GzDecoder::new(File::open(compressed_path(&path, n)).unwrap())
                .read_to_string(&mut text)
                .unwrap();
            all.extend(text.lines().map(str::to_string));
        }
        all.extend(
            std::fs::read_to_string(&path)
                .unwrap()
                .lines()
                .map(str::to_string),
        );
        let logs: Vec<String> = all
            .iter()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                assert_eq!(v["attrs"]["tag"], "web");
                v["log"].as_str().unwrap().to_string()
            })
            .collect();
        assert_eq!(logs.last().unwrap(), "line 39\n");
        let first: usize = logs[0][5..7].parse().unwrap();
        let expected: Vec<String> = (first..40).map(|i| format!("line {i:02}\n")).collect();
        assert_eq!(logs, expected);
    }
}
