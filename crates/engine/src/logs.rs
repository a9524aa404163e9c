//! Reading the log file the shim writes (json-file's format, or the local
//! driver's and the dual-logging cache's length-framed protobuf): tail,
//! since/until, follow, across the files rotation keeps (`<log>.N` oldest
//! … `<log>.1`, `<log>`).

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use runtime::shim::{FileFormat, StdStream, local_log};
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

fn parse_line(line: &[u8]) -> Option<LogLine> {
    let parsed: JsonLine = serde_json::from_slice(line).ok()?;
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

/// One whole frame of the local format as a line; `None` when it is not
/// one (a damaged entry is passed over, as a json line that does not parse).
fn parse_entry(frame: &[u8]) -> Option<LogLine> {
    let entry = local_log::decode_frame(frame).ok()?;
    let stream = match entry.source.as_str() {
        "stderr" => StdStream::Stderr,
        _ => StdStream::Stdout,
    };
    Some(LogLine {
        stream,
        time: DateTime::from_timestamp_nanos(entry.time_nano),
        data: Bytes::from(entry.into_line()),
    })
}

/// What was read of an entry not yet whole (the writer is mid-entry), and
/// how the file frames its entries.
struct Partial {
    buf: Vec<u8>,
    format: FileFormat,
}

impl Partial {
    fn new(format: FileFormat) -> Self {
        Self {
            buf: Vec::new(),
            format,
        }
    }

    fn clear(&mut self) {
        self.buf.clear();
    }

    /// Reads on until `buf` holds one whole entry (true) or the reader has
    /// no more for now (false: the rest is kept for the next call).
    fn fill(&mut self, reader: &mut impl BufRead) -> std::io::Result<bool> {
        match self.format {
            FileFormat::JsonFile => {
                reader.read_until(b'\n', &mut self.buf)?;
                Ok(self.buf.ends_with(b"\n"))
            }
            FileFormat::Local => loop {
                let need = match self.buf.len() {
                    n if n < local_log::LEN_BYTES => local_log::LEN_BYTES,
                    _ => {
                        let len = local_log::entry_len(&self.buf);
                        if len > local_log::MAX_ENTRY {
                            return Err(std::io::Error::new(
                                std::io::ErrorKind::InvalidData,
                                format!("log message is too large ({len})"),
                            ));
                        }
                        len + 2 * local_log::LEN_BYTES
                    }
                };
                if self.buf.len() >= need {
                    return Ok(true);
                }
                let want = (need - self.buf.len()) as u64;
                if reader.by_ref().take(want).read_to_end(&mut self.buf)? == 0 {
                    return Ok(false);
                }
            },
        }
    }

    fn parse(&self) -> Option<LogLine> {
        match self.format {
            FileFormat::JsonFile => parse_line(&self.buf),
            FileFormat::Local => parse_entry(&self.buf),
        }
    }
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
    /// Lines the container's remote log driver sent and dropped (non-blocking
    /// mode's full buffer, a server that is down), as its shim last wrote
    /// them; zero for local drivers. For the metrics endpoint.
    pub fn log_delivery_stats(&self, name_or_id: &str) -> Result<runtime::shim::LogStats> {
        let c = self.container(name_or_id)?;
        Ok(runtime::shim::read_log_stats(&c.state_dir))
    }

    /// Streams the container's log lines; the channel closes at the end (or, with
    /// follow, when the container has stopped and every line was sent).
    pub fn logs(
        self: &Arc<Self>,
        name_or_id: &str,
        opts: LogOptions,
    ) -> Result<mpsc::Receiver<LogLine>> {
        let c = self.container(name_or_id)?;
        if c.lock().record.log_path.as_os_str().is_empty() {
            return Err(crate::EngineError::NotSupported(
                "configured logging driver does not support reading".into(),
            ));
        }
        let (tx, rx) = mpsc::channel(256);
        tokio::task::spawn(async move {
            if let Err(err) = stream_logs(c, opts, tx).await {
                tracing::debug!("log stream ended: {err}");
            }
        });
        Ok(rx)
    }
}

/// Lines read and sent per step: memory stays bounded by this, the channel
/// and one partial line, whatever the size of the log.
const BATCH: usize = 256;

type Reader = Box<dyn BufRead + Send>;

/// One file of the log: the live one or a rotated one, maybe gzip'd.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LogFile {
    path: PathBuf,
    ino: u64,
    gz: bool,
}

/// Where reading a file starts: a byte offset (plain files), or a number of
/// lines to skip (gzip'd ones cannot seek).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Offset(u64),
    Skip(usize),
}

fn open_log(f: &LogFile, start: Start, format: FileFormat) -> std::io::Result<(Reader, u64)> {
    let mut file = std::fs::File::open(&f.path)?;
    let inode = file.metadata()?.ino();
    let mut reader: Reader = if f.gz {
        Box::new(BufReader::with_capacity(
            64 << 10,
            flate2::read::GzDecoder::new(file),
        ))
    } else {
        if let Start::Offset(at) = start {
            file.seek(SeekFrom::Start(at))?;
        }
        Box::new(BufReader::with_capacity(64 << 10, file))
    };
    if let Start::Skip(n) = start {
        let mut entry = Partial::new(format);
        for _ in 0..n {
            entry.clear();
            if !entry.fill(&mut reader)? {
                break;
            }
        }
    }
    Ok((reader, inode))
}

/// The last line read, to find the place again in files that were
/// rotated (and compressed: new inodes) under a follower: lines of one
/// read of the container's output share a time, so how many of that time
/// were read counts too.
#[derive(Debug, Default, Clone, Copy)]
struct Place {
    time: Option<DateTime<Utc>>,
    same: usize,
}

impl Place {
    fn read(&mut self, t: DateTime<Utc>) {
        if self.time == Some(t) {
            self.same += 1;
        } else {
            self.time = Some(t);
            self.same = 1;
        }
    }

    /// Whether a line of time `t`, met again from the oldest file on, was read already.
    fn was_read(&self, t: DateTime<Utc>, again: &mut usize) -> bool {
        match self.time {
            Some(last) if t < last => true,
            Some(last) if t == last && *again < self.same => {
                *again += 1;
                true
            }
            _ => false,
        }
    }
}

/// Lines met again that were read already, up to the first new one.
struct Skip {
    place: Place,
    again: usize,
}

async fn stream_logs(
    c: Arc<Container>,
    opts: LogOptions,
    tx: mpsc::Sender<LogLine>,
) -> std::io::Result<()> {
    let (path, log_config) = {
        let inner = c.lock();
        (
            inner.record.log_path.clone(),
            inner.record.host_config.log_config.clone(),
        )
    };
    // How many rotated files the shim keeps beside the live one, and their format.
    let crate::logconfig::LocalFiles {
        rotated,
        gz,
        format,
    } = crate::logconfig::local_files(&log_config, &path).unwrap_or(crate::logconfig::LocalFiles {
        rotated: 0,
        gz: false,
        format: FileFormat::JsonFile,
    });
    // Oldest first; the live file last.
    let files = log_files(&path, rotated, gz);
    let Some(last) = files.len().checked_sub(1) else {
        return Ok(());
    };
    // As dockerd: the last N lines of the log, then the filters.
    let (first, start) = match opts.tail {
        Some(n) => tail_start(&files, n, format)?,
        None => (0, Start::Offset(0)),
    };
    let mut place = Place::default();
    let mut partial = Partial::new(format);
    // Rotated files are complete: read them through.
    for (i, file) in files.iter().enumerate().take(last).skip(first) {
        let at = if i == first { start } else { Start::Offset(0) };
        let (mut reader, _) = open_log(file, at, format)?;
        if !drain(&mut reader, &mut partial, &opts, &tx, &mut place, &mut None).await? {
            return Ok(());
        }
    }
    let live = LogFile {
        path: path.clone(),
        ino: 0,
        gz: false,
    };
    let (mut reader, mut inode) = match open_log(
        &live,
        if first == last {
            start
        } else {
            Start::Offset(0)
        },
        format,
    ) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let watch = opts.follow.then(|| c.watch());
    loop {
        // Read the running flag before reading the file: once it is false the shim
        // has written everything, so the read after it is the last one needed.
        let running = watch.as_ref().is_some_and(|w| w.borrow().running);
        if !drain(&mut reader, &mut partial, &opts, &tx, &mut place, &mut None).await? {
            return Ok(());
        }
        let Some(watch) = &watch else {
            return Ok(());
        };
        // The shim rotated: what we read is now `<log>.N`. It may have taken
        // a last entry after our read and before the rename, so it is read
        // to its end once more; then each newer file, by inode (names shift
        // while rotations go on), up to the live one.
        if std::fs::metadata(&path).is_ok_and(|m| m.ino() != inode) {
            if !drain(&mut reader, &mut partial, &opts, &tx, &mut place, &mut None).await? {
                return Ok(());
            }
            // Names shift while rotations go on and a compressed file is a
            // new one (whose inode may be the number of one just removed), so
            // gzip'd logs, and plain ones whose file went (rotated past
            // max-file), are read again from the oldest, past what was read.
            loop {
                let files = settled_log_files(&path, rotated, gz).await;
                let next = match gz {
                    true => None,
                    false => files.iter().position(|f| f.ino == inode).map(|i| i + 1),
                };
                let Some(next) = next else {
                    let mut skip = Some(Skip { place, again: 0 });
                    let mut whole = true;
                    for file in &files {
                        match open_log(file, Start::Offset(0), format) {
                            Ok(opened) if opened.1 == file.ino => (reader, inode) = opened,
                            _ => {
                                whole = false; // gone or renamed under us: look again
                                break;
                            }
                        }
                        partial.clear();
                        if !drain(&mut reader, &mut partial, &opts, &tx, &mut place, &mut skip)
                            .await?
                        {
                            return Ok(());
                        }
                    }
                    if whole {
                        break;
                    }
                    continue;
                };
                let Some(file) = files.get(next) else {
                    break;
                };
                let Ok(opened) = open_log(file, Start::Offset(0), format) else {
                    continue;
                };
                if opened.1 != file.ino {
                    continue; // renamed under us: look again
                }
                (reader, inode) = opened;
                partial.clear();
                if next == files.len() - 1 {
                    break; // the live file: followed by the outer loop
                }
                if !drain(&mut reader, &mut partial, &opts, &tx, &mut place, &mut None).await? {
                    return Ok(());
                }
            }
            continue;
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

/// Sends every complete line `reader` has now, a batch at a time; false
/// when the receiver is gone. With `skip`, lines before that place (read
/// already) are passed over.
async fn drain(
    reader: &mut Reader,
    partial: &mut Partial,
    opts: &LogOptions,
    tx: &mpsc::Sender<LogLine>,
    place: &mut Place,
    skip: &mut Option<Skip>,
) -> std::io::Result<bool> {
    loop {
        let mut batch = Vec::with_capacity(BATCH);
        let full = read_available(reader, partial, BATCH, |line| {
            if let Some(s) = skip {
                if s.place.was_read(line.time, &mut s.again) {
                    return;
                }
                *skip = None;
            }
            place.read(line.time);
            if opts.wants(&line) {
                batch.push(line);
            }
        })?;
        for line in batch {
            if tx.send(line).await.is_err() {
                return Ok(false);
            }
        }
        if !full {
            return Ok(true);
        }
    }
}

/// The log's files, oldest first: the rotated ones (`<log>.N[.gz]` …
/// `<log>.1[.gz]`, up to `rotated` of them) that exist, then the live one
/// if it does. Every index is looked at: mid-rotation one is briefly
/// missing (or not yet compressed).
fn log_files(path: &std::path::Path, rotated: u32, gz: bool) -> Vec<LogFile> {
    let found = |p: PathBuf, gz: bool| {
        let ino = std::fs::metadata(&p).ok()?.ino();
        Some(LogFile { path: p, ino, gz })
    };
    (1..=rotated)
        .rev()
        .filter_map(|n| {
            gz.then(|| found(runtime::shim::compressed_path(path, n), true))
                .flatten()
                .or_else(|| found(runtime::shim::rotated_path(path, n), false))
        })
        .chain(found(path.to_path_buf(), false))
        .collect()
}

/// [`log_files`] taken again until two looks agree, so a rotation going on
/// (each moves every name by one) is not seen half done.
async fn settled_log_files(path: &std::path::Path, rotated: u32, gz: bool) -> Vec<LogFile> {
    let mut last = log_files(path, rotated, gz);
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let now = log_files(path, rotated, gz);
        if now == last {
            break;
        }
        last = now;
    }
    last
}

/// Where the last `n` complete lines of `files` (oldest first) begin: the
/// file's index and the place in it.
fn tail_start(files: &[LogFile], n: usize, format: FileFormat) -> std::io::Result<(usize, Start)> {
    let mut wanted = n;
    for (i, file) in files.iter().enumerate().rev() {
        let (start, found) = if file.gz {
            let total = count_entries(&file.path, format)?;
            (Start::Skip(total.saturating_sub(wanted)), total.min(wanted))
        } else {
            let mut f = std::fs::File::open(&file.path)?;
            let (offset, found) = match format {
                FileFormat::JsonFile => tail_offset(&mut f, wanted)?,
                FileFormat::Local => tail_offset_local(&mut f, wanted)?,
            };
            (Start::Offset(offset), found)
        };
        if found >= wanted || i == 0 {
            return Ok((i, start));
        }
        wanted -= found;
    }
    Ok((0, Start::Offset(0)))
}

/// Entries in a gzip'd log file.
fn count_entries(path: &std::path::Path, format: FileFormat) -> std::io::Result<usize> {
    let gz = flate2::read::GzDecoder::new(std::fs::File::open(path)?);
    if format == FileFormat::Local {
        let mut r = BufReader::with_capacity(64 << 10, gz);
        let mut len = [0u8; local_log::LEN_BYTES];
        let mut entries = 0;
        loop {
            match r.read_exact(&mut len) {
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(entries),
                other => other?,
            }
            let skip = (local_log::entry_len(&len) + local_log::LEN_BYTES) as u64;
            if std::io::copy(&mut r.by_ref().take(skip), &mut std::io::sink())? < skip {
                return Ok(entries);
            }
            entries += 1;
        }
    }
    let mut r = gz;
    let mut buf = vec![0u8; 64 << 10];
    let mut lines = 0;
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(lines);
        }
        lines += buf[..n].iter().filter(|b| **b == b'\n').count();
    }
}

/// Where the last `n` complete lines of the file begin, found by reading
/// backwards from the end (a trailing partial line is not counted), and how
/// many complete lines that is (fewer than `n` when the file has fewer).
fn tail_offset(file: &mut std::fs::File, n: usize) -> std::io::Result<(u64, usize)> {
    const CHUNK: u64 = 64 << 10;
    let len = file.seek(SeekFrom::End(0))?;
    let mut end = len;
    // The newline ending the last complete line is the first one found; the
    // line before the wanted ones ends at newline n+1.
    let mut seen = 0usize;
    let mut buf = vec![0u8; CHUNK as usize];
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        let chunk = &mut buf[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        for (i, b) in chunk.iter().enumerate().rev() {
            if *b == b'\n' {
                seen += 1;
                if seen == n + 1 {
                    return Ok((start + i as u64 + 1, n));
                }
            }
        }
        end = start;
    }
    Ok((0, seen))
}

/// Where the last `n` whole entries of a local-format file begin, found by
/// walking back from its end on the lengths after each entry, and how many
/// that is. An end that does not add up (the writer is mid-entry) is left
/// to a walk forward on the lengths before each entry.
fn tail_offset_local(file: &mut std::fs::File, n: usize) -> std::io::Result<(u64, usize)> {
    const LEN: u64 = local_log::LEN_BYTES as u64;
    fn read_len(f: &mut std::fs::File, at: u64) -> std::io::Result<u64> {
        let mut len = [0u8; local_log::LEN_BYTES];
        f.seek(SeekFrom::Start(at))?;
        f.read_exact(&mut len)?;
        Ok(local_log::entry_len(&len) as u64)
    }
    let size = file.seek(SeekFrom::End(0))?;
    let mut end = size;
    let mut found = 0;
    // The last entry is checked even for n = 0, to know `end` is one's end.
    while end > 0 && (found < n || end == size) {
        if end < 2 * LEN {
            return tail_offset_forward(file, n);
        }
        let l = read_len(file, end - LEN)?;
        if l + 2 * LEN > end || read_len(file, end - 2 * LEN - l)? != l {
            return tail_offset_forward(file, n);
        }
        if found == n {
            break;
        }
        end -= l + 2 * LEN;
        found += 1;
    }
    Ok((end, found))
}

/// [`tail_offset_local`] from the start of the file: the whole entries'
/// starts, the last `n` of them kept.
fn tail_offset_forward(file: &mut std::fs::File, n: usize) -> std::io::Result<(u64, usize)> {
    file.seek(SeekFrom::Start(0))?;
    let mut r = BufReader::with_capacity(64 << 10, &mut *file);
    let mut starts = std::collections::VecDeque::with_capacity(n + 1);
    let mut at = 0u64;
    let mut len = [0u8; local_log::LEN_BYTES];
    while r.read_exact(&mut len).is_ok() {
        let skip = (local_log::entry_len(&len) + local_log::LEN_BYTES) as u64;
        if std::io::copy(&mut r.by_ref().take(skip), &mut std::io::sink())? < skip {
            break;
        }
        starts.push_back(at);
        if starts.len() > n {
            starts.pop_front();
        }
        at += skip + local_log::LEN_BYTES as u64;
    }
    let found = starts.len();
    Ok((starts.front().copied().unwrap_or(at), found))
}

/// Reads up to `max` complete entries from the current position; a
/// trailing partial one is kept in `partial` until the rest arrives.
/// Returns true when it stopped at `max` (more may be there).
fn read_available(
    reader: &mut impl BufRead,
    partial: &mut Partial,
    max: usize,
    mut each: impl FnMut(LogLine),
) -> std::io::Result<bool> {
    let mut lines = 0;
    while lines < max {
        if !partial.fill(reader)? {
            // The end, or the writer is mid-entry: the rest arrives with a later read.
            return Ok(false);
        }
        if let Some(line) = partial.parse() {
            each(line);
        }
        partial.clear();
        lines += 1;
    }
    Ok(true)
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
            br#"{"log":"hi\n","stream":"stderr","time":"2026-01-01T00:00:00.123456789Z"}"#,
        )
        .unwrap();
        assert_eq!(l.stream, StdStream::Stderr);
        assert_eq!(&l.data[..], b"hi\n");
        assert_eq!(l.time.timestamp_subsec_nanos(), 123_456_789);
        assert!(parse_line(b"garbage").is_none());
    }

    fn file_with(content: &str) -> std::fs::File {
        let mut f = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut f, content.as_bytes()).unwrap();
        f.rewind().unwrap();
        f
    }

    #[test]
    fn tail_offset_finds_the_last_complete_lines() {
        let text = "a\nbb\nccc\n";
        let mut f = file_with(text);
        assert_eq!(tail_offset(&mut f, 0).unwrap(), (text.len() as u64, 0));
        assert_eq!(tail_offset(&mut f, 1).unwrap(), (5, 1));
        assert_eq!(tail_offset(&mut f, 2).unwrap(), (2, 2));
        assert_eq!(tail_offset(&mut f, 3).unwrap(), (0, 3));
        assert_eq!(tail_offset(&mut f, 10).unwrap(), (0, 3));
        // A line being written is not a line yet.
        let mut f = file_with("a\nbb\ncc");
        assert_eq!(tail_offset(&mut f, 1).unwrap(), (2, 1));
        // Across chunk boundaries.
        let long: String = (0..50_000).map(|i| format!("{i}\n")).collect();
        let mut f = file_with(&long);
        let at = tail_offset(&mut f, 3).unwrap().0 as usize;
        assert_eq!(&long[at..], "49997\n49998\n49999\n");
        assert_eq!(
            tail_offset(&mut tempfile::tempfile().unwrap(), 5).unwrap(),
            (0, 0)
        );
    }

    fn frames(lines: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            local_log::LogEntry {
                source: "stdout".into(),
                time_nano: i as i64,
                line: l.as_bytes().to_vec(),
                partial: false,
                partial_log_metadata: None,
            }
            .frame(&mut out);
        }
        out
    }

    #[test]
    fn local_tail_walks_back_on_the_lengths_and_forward_past_a_torn_end() {
        let data = frames(&["a", "bb", "ccc"]);
        let mut f = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut f, &data).unwrap();
        let read_from = |f: &mut std::fs::File, at: u64| {
            f.seek(SeekFrom::Start(at)).unwrap();
            let mut r = BufReader::new(&mut *f);
            let mut p = Partial::new(FileFormat::Local);
            let mut got = Vec::new();
            read_available(&mut r, &mut p, 100, |l| got.push(l.data)).unwrap();
            got
        };
        let (at, found) = tail_offset_local(&mut f, 2).unwrap();
        assert_eq!(found, 2);
        assert_eq!(
            read_from(&mut f, at),
            vec![Bytes::from("bb\n"), Bytes::from("ccc\n")]
        );
        assert_eq!(
            tail_offset_local(&mut f, 0).unwrap(),
            (data.len() as u64, 0)
        );
        assert_eq!(tail_offset_local(&mut f, 9).unwrap(), (0, 3));
        // A writer mid-entry: the torn end is not an entry.
        let more = frames(&["dddd"]);
        std::io::Write::write_all(&mut f, &more[..5]).unwrap();
        let (at, found) = tail_offset_local(&mut f, 1).unwrap();
        assert_eq!(found, 1);
        assert_eq!(read_from(&mut f, at), vec![Bytes::from("ccc\n")]);
        assert_eq!(
            tail_offset_local(&mut f, 0).unwrap(),
            (data.len() as u64, 0)
        );
    }

    #[test]
    fn reads_stop_at_the_batch_and_keep_partial_lines() {
        let line = |s: &str| {
            format!(r#"{{"log":"{s}\n","stream":"stdout","time":"2026-01-01T00:00:00Z"}}"#)
        };
        let text = format!(
            "{}\n{}\n{}\n{}",
            line("1"),
            line("2"),
            line("3"),
            &line("4")[..10]
        );
        let mut reader = BufReader::new(file_with(&text));
        let mut partial = Partial::new(FileFormat::JsonFile);
        let mut got = Vec::new();
        let full = read_available(&mut reader, &mut partial, 2, |l| got.push(l.data)).unwrap();
        assert!(full);
        assert_eq!(got, vec![Bytes::from("1\n"), Bytes::from("2\n")]);
        let full = read_available(&mut reader, &mut partial, 2, |l| got.push(l.data)).unwrap();
        assert!(!full);
        assert_eq!(got.len(), 3);
        assert_eq!(partial.buf, &line("4").as_bytes()[..10]);
    }
}
