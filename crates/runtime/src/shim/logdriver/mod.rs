//! Where the container's output goes: the shim cuts it into lines and hands
//! each to the container's log drivers (a local file, a remote server, or
//! both for Docker's dual logging). Drivers live in the shim so that a
//! daemon restart loses no line the shim has read.

mod fluentd;
mod gelf;
mod jsonfile;
pub mod local;
mod queue;
mod syslog;
mod tls;

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::StdStream;

pub use fluentd::FluentdSpec;
pub use gelf::{GelfCompression, GelfSpec};
pub use jsonfile::{JsonFile, LogRotation, compressed_path, rotated_path};
pub use queue::{DeliveryMode, LogStats, read_log_stats};
pub use syslog::{SyslogFormat, SyslogSpec, SyslogTransport, probe as probe_syslog};
pub use tls::TlsFiles;

/// Docker cuts lines longer than its 16 KiB read buffer into partial entries.
pub const MAX_LINE: usize = 16 * 1024;

/// Where a line cut at [`MAX_LINE`] stands in the whole line, as Docker's
/// `PartialLogMetaData`: the pieces share `id`, count up from 1, and the
/// last one says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partial {
    pub id: String,
    pub ordinal: u32,
    pub last: bool,
}

/// One line (or piece of one) of the container's output.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    pub stream: StdStream,
    pub time: DateTime<Utc>,
    /// With its newline when it has one.
    pub line: &'a [u8],
    pub partial: Option<Partial>,
}

impl Message<'_> {
    /// The line without its newline, as remote drivers send it.
    pub fn text(&self) -> &[u8] {
        self.line.strip_suffix(b"\n").unwrap_or(self.line)
    }
}

/// A destination for log lines. Never blocks on the network: remote
/// drivers queue and deliver from their own thread.
pub trait LogDriver {
    fn log(&mut self, msg: &Message<'_>) -> std::io::Result<()>;
    /// The end of one read of the container's output: buffered lines go out.
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    /// Called once output is over: delivers what is queued, as far as it can.
    fn close(&mut self) {}
}

/// The shim's log as the daemon asks for it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogSpec {
    /// The json-file log (json-file itself, or the local copy that keeps
    /// `docker logs` working beside a remote driver); none: no local copy.
    #[serde(default)]
    pub file: Option<FileSpec>,
    #[serde(default)]
    pub remote: Option<RemoteSpec>,
    /// How lines reach the remote driver.
    #[serde(default)]
    pub mode: DeliveryMode,
}

impl LogSpec {
    /// json-file alone, as before drivers.
    pub fn json_file(rotation: Option<LogRotation>) -> Self {
        Self {
            file: Some(FileSpec {
                rotation,
                compress: false,
                attrs: Default::default(),
                format: FileFormat::JsonFile,
            }),
            ..Self::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileSpec {
    #[serde(default)]
    pub rotation: Option<LogRotation>,
    /// gzip rotated files (`<log>.1.gz` …).
    #[serde(default)]
    pub compress: bool,
    /// `labels`/`env` attributes written on every entry (json-file only:
    /// Docker's local format has no place for them).
    #[serde(default)]
    pub attrs: std::collections::BTreeMap<String, String>,
    /// Absent in the specs of shims started before the local format.
    #[serde(default)]
    pub format: FileFormat,
}

/// How the log file's entries are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileFormat {
    #[default]
    JsonFile,
    /// Docker's `local` driver's: length-framed protobuf entries.
    Local,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "driver")]
pub enum RemoteSpec {
    Syslog(SyslogSpec),
    Gelf(GelfSpec),
    Fluentd(FluentdSpec),
}

/// Splits output into lines per stream and hands them to every driver.
pub struct Logger {
    drivers: Vec<Box<dyn LogDriver>>,
    /// Unterminated tail of each stream, kept apart so stdout and stderr never mix.
    partial: [Vec<u8>; 2],
    /// The id and count of the line being cut into pieces, per stream.
    cut: [Option<(String, u32)>; 2],
}

impl Logger {
    pub fn new(drivers: Vec<Box<dyn LogDriver>>) -> Self {
        Self {
            drivers,
            partial: [Vec::new(), Vec::new()],
            cut: [None, None],
        }
    }

    /// The drivers `spec` asks for; a remote one starts delivering on its
    /// first line (its thread must not exist before the container does).
    pub fn open(spec: &LogSpec, log_path: &Path, state_dir: &Path) -> std::io::Result<Self> {
        let mut drivers: Vec<Box<dyn LogDriver>> = Vec::new();
        if let Some(file) = &spec.file {
            drivers.push(Box::new(JsonFile::open(log_path, file.clone())?));
        }
        if let Some(remote) = &spec.remote {
            let (encoder, deliver) = match remote {
                RemoteSpec::Syslog(s) => syslog::Syslog::split(s.clone()),
                RemoteSpec::Gelf(g) => gelf::Gelf::split(g.clone()),
                RemoteSpec::Fluentd(f) => fluentd::Fluentd::split(f.clone()),
            };
            drivers.push(Box::new(queue::Queued::new(
                encoder,
                deliver,
                spec.mode,
                state_dir.to_path_buf(),
            )));
        }
        Ok(Self::new(drivers))
    }

    /// The old shims' params: json-file at `log_path`, with rotation.
    pub fn legacy(log_path: &Path, rotation: Option<LogRotation>) -> std::io::Result<Self> {
        let spec = FileSpec {
            rotation,
            compress: false,
            attrs: Default::default(),
            format: FileFormat::JsonFile,
        };
        Ok(Self::new(vec![Box::new(JsonFile::open(log_path, spec)?)]))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let mut first = Ok(());
        for d in &mut self.drivers {
            if let Err(e) = d.flush()
                && first.is_ok()
            {
                first = Err(e);
            }
        }
        first
    }

    fn emit(&mut self, msg: &Message<'_>) -> std::io::Result<()> {
        let mut first = Ok(());
        for d in &mut self.drivers {
            if let Err(e) = d.log(msg)
                && first.is_ok()
            {
                first = Err(e);
            }
        }
        first
    }

    fn piece(
        &mut self,
        stream: StdStream,
        line: &[u8],
        time: DateTime<Utc>,
        last: bool,
    ) -> std::io::Result<()> {
        let idx = stream as usize;
        let partial = match (&mut self.cut[idx], last) {
            (None, true) => None,
            (cut, _) => {
                let (id, n) = cut.get_or_insert_with(|| (new_partial_id(), 0));
                *n += 1;
                let p = Partial {
                    id: id.clone(),
                    ordinal: *n,
                    last,
                };
                if last {
                    *cut = None;
                }
                Some(p)
            }
        };
        self.emit(&Message {
            stream,
            time,
            line,
            partial,
        })
    }

    /// Logs the complete lines `data` finishes; keeps the rest for later.
    pub fn write(&mut self, stream: StdStream, data: &[u8]) -> std::io::Result<()> {
        let idx = stream as usize;
        let time = Utc::now();
        let mut buf = std::mem::take(&mut self.partial[idx]);
        buf.extend_from_slice(data);
        let mut start = 0;
        let mut result = Ok(());
        loop {
            let rest = &buf[start..];
            let (len, last) = match rest.iter().take(MAX_LINE).position(|&b| b == b'\n') {
                Some(pos) => (pos + 1, true),
                None if rest.len() >= MAX_LINE => (MAX_LINE, false),
                None => break,
            };
            if let Err(e) = self.piece(stream, &buf[start..start + len], time, last) {
                result = Err(e);
            }
            start += len;
        }
        buf.drain(..start);
        self.partial[idx] = buf;
        let flushed = self.flush();
        result.and(flushed)
    }

    /// Logs what is left of `stream` after its end of file.
    pub fn flush_partial(&mut self, stream: StdStream) -> std::io::Result<()> {
        let idx = stream as usize;
        if self.partial[idx].is_empty() {
            return Ok(());
        }
        let rest = std::mem::take(&mut self.partial[idx]);
        let r = self.piece(stream, &rest, Utc::now(), true);
        r.and(self.flush())
    }

    /// Output is over: remote drivers deliver what they hold.
    pub fn close(&mut self) {
        for d in &mut self.drivers {
            d.close();
        }
    }
}

fn new_partial_id() -> String {
    use std::hash::BuildHasher;
    // Unique within the log, not secret: std's randomly keyed hasher will do.
    let state = std::collections::hash_map::RandomState::new();
    let t = Utc::now().timestamp_nanos_opt().unwrap_or_default();
    format!(
        "{:016x}{:016x}",
        state.hash_one(t),
        state.hash_one(std::process::id())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    type Seen = Rc<RefCell<Vec<(StdStream, Vec<u8>, Option<Partial>)>>>;

    struct Fake(Seen);

    impl LogDriver for Fake {
        fn log(&mut self, msg: &Message<'_>) -> std::io::Result<()> {
            self.0
                .borrow_mut()
                .push((msg.stream, msg.line.to_vec(), msg.partial.clone()));
            Ok(())
        }
    }

    #[test]
    fn long_lines_are_cut_into_pieces_that_say_where_they_stand() {
        let seen: Seen = Default::default();
        let mut l = Logger::new(vec![Box::new(Fake(seen.clone()))]);
        let mut long = vec![b'a'; MAX_LINE * 2 + 5];
        long.push(b'\n');
        l.write(StdStream::Stdout, &long).unwrap();
        l.write(StdStream::Stderr, b"short\n").unwrap();
        let seen = seen.borrow();
        assert_eq!(seen.len(), 4);
        let parts: Vec<_> = seen[..3].iter().map(|s| s.2.clone().unwrap()).collect();
        assert!(
            parts
                .iter()
                .all(|p| p.id == parts[0].id && p.id.len() == 32)
        );
        assert_eq!(
            parts
                .iter()
                .map(|p| (p.ordinal, p.last))
                .collect::<Vec<_>>(),
            vec![(1, false), (2, false), (3, true)]
        );
        assert_eq!(seen[0].1.len(), MAX_LINE);
        assert_eq!(seen[2].1, b"aaaaa\n");
        assert_eq!(seen[3], (StdStream::Stderr, b"short\n".to_vec(), None));
    }

    #[test]
    fn old_params_without_a_spec_still_parse_and_specs_round_trip() {
        let spec = LogSpec {
            file: None,
            remote: Some(RemoteSpec::Syslog(SyslogSpec {
                address: "udp://127.0.0.1:514".into(),
                facility: 3,
                format: SyslogFormat::Rfc5424,
                tag: "t".into(),
                hostname: "h".into(),
                tls: TlsFiles::default(),
            })),
            mode: DeliveryMode::NonBlocking { max_buffer: 1000 },
        };
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<LogSpec>(&json).unwrap(), spec);
        assert_eq!(
            serde_json::from_str::<LogSpec>("{}").unwrap(),
            LogSpec::default()
        );
    }
}
