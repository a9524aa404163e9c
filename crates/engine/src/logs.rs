//! Reading the json-file log the shim writes: tail, since/until, follow.

use std::io::{BufRead, BufReader};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use runtime::shim::StdStream;
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::container::Container;
use crate::{Engine, Result};

#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub stdout: bool,
    pub stderr: bool,
    pub follow: bool,
    /// Last N lines; None = all.
    pub tail: Option<usize>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct LogLine {
    pub stream: StdStream,
    pub time: DateTime<Utc>,
    pub data: Bytes,
}

#[derive(Deserialize)]
struct JsonLine {
    log: String,
    stream: String,
    time: DateTime<Utc>,
}

fn parse_line(line: &str) -> Option<LogLine> {
    let parsed: JsonLine = serde_json::from_str(line).ok()?;
    let stream = match parsed.stream.as_str() {
        "stderr" => StdStream::Stderr,
        _ => StdStream::Stdout,
    };
    Some(LogLine {
        stream,
        time: parsed.time,
        data: Bytes::from(parsed.log),
    })
}

impl LogOptions {
    fn wants(&self, line: &LogLine) -> bool {
        let stream_ok = match line.stream {
            StdStream::Stdout => self.stdout,
            StdStream::Stderr => self.stderr,
        };
        stream_ok
            && self.since.is_none_or(|s| line.time >= s)
            && self.until.is_none_or(|u| line.time <= u)
    }
}

/// Parses Docker's `since`/`until` query values: unix seconds with optional
/// fraction ("1700000000.123456789").
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, "0"));
    let secs: i64 = secs.parse().ok()?;
    let mut frac = frac.to_string();
    frac.truncate(9);
    while frac.len() < 9 {
        frac.push('0');
    }
    DateTime::from_timestamp(secs, frac.parse().ok()?)
}

impl Engine {
    /// Streams the container's log lines; the channel closes at the end (or, with
    /// follow, when the container has stopped and every line was sent).
    pub fn logs(
        self: &Arc<Self>,
        name_or_id: &str,
        opts: LogOptions,
    ) -> Result<mpsc::Receiver<LogLine>> {
        let c = self.container(name_or_id)?;
        let (tx, rx) = mpsc::channel(256);
        tokio::task::spawn(async move {
            if let Err(err) = stream_logs(c, opts, tx).await {
                tracing::debug!("log stream ended: {err}");
            }
        });
        Ok(rx)
    }
}

async fn stream_logs(
    c: Arc<Container>,
    opts: LogOptions,
    tx: mpsc::Sender<LogLine>,
) -> std::io::Result<()> {
    let path = c.lock().record.log_path.clone();
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut reader = BufReader::new(file);
    let mut backlog: std::collections::VecDeque<LogLine> = Default::default();
    let mut partial = String::new();
    read_available(&mut reader, &mut partial, |line| {
        if opts.wants(&line) {
            backlog.push_back(line);
            if let Some(n) = opts.tail {
                while backlog.len() > n {
                    backlog.pop_front();
                }
            }
        }
    })?;
    for line in backlog {
        if tx.send(line).await.is_err() {
            return Ok(());
        }
    }
    if !opts.follow {
        return Ok(());
    }
    let watch = c.watch();
    loop {
        // Read the running flag before reading the file: once it is false the shim
        // has written everything, so the read after it is the last one needed.
        let running = watch.borrow().running;
        let mut batch = Vec::new();
        read_available(&mut reader, &mut partial, |line| {
            if opts.wants(&line) {
                batch.push(line);
            }
        })?;
        for line in batch {
            if tx.send(line).await.is_err() {
                return Ok(());
            }
        }
        if !running || watch.borrow().removed || opts.until.is_some_and(|u| Utc::now() > u) {
            return Ok(());
        }
        if tx.is_closed() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads complete lines from the current position; a trailing partial line is kept
/// in `partial` until its newline arrives.
fn read_available(
    reader: &mut BufReader<std::fs::File>,
    partial: &mut String,
    mut each: impl FnMut(LogLine),
) -> std::io::Result<()> {
    loop {
        let mut buf = String::new();
        let n = reader.read_line(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        partial.push_str(&buf);
        if !partial.ends_with('\n') {
            // The writer is mid-line; the rest arrives with a later read.
            return Ok(());
        }
        if let Some(line) = parse_line(partial.trim_end()) {
            each(line);
        }
        partial.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse() {
        assert_eq!(parse_timestamp(""), None);
        assert_eq!(parse_timestamp("0").unwrap().timestamp(), 0);
        let t = parse_timestamp("1700000000.5").unwrap();
        assert_eq!(t.timestamp(), 1_700_000_000);
        assert_eq!(t.timestamp_subsec_nanos(), 500_000_000);
        assert_eq!(
            parse_timestamp("1700000000").unwrap().timestamp(),
            1_700_000_000
        );
        assert!(parse_timestamp("abc").is_none());
    }

    #[test]
    fn json_lines_parse() {
        let l = parse_line(
            r#"{"log":"hi\n","stream":"stderr","time":"2026-01-01T00:00:00.123456789Z"}"#,
        )
        .unwrap();
        assert_eq!(l.stream, StdStream::Stderr);
        assert_eq!(&l.data[..], b"hi\n");
        assert_eq!(l.time.timestamp_subsec_nanos(), 123_456_789);
        assert!(parse_line("garbage").is_none());
    }
}
