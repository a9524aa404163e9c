//! Delivery to a log server without stalling the container: lines are
//! encoded in the copy loop and queued; a thread (started with the first
//! line, after the container exists) sends them. `mode=non-blocking` drops
//! what does not fit in `max-buffer-size` and counts it; blocking mode
//! waits for room, as Docker's. A server that is down costs lines (counted),
//! not a stuck copy loop: after a failed send the thread drops lines until
//! a backoff passes instead of trying each.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{LogDriver, Message};

/// What a blocking queue holds before the copy loop waits: a few fast
/// round trips' worth, so one slow send does not stop the container.
const BLOCKING_QUEUE: usize = 1 << 20;
const STATS_FILE: &str = "log-stats.json";
const STATS_EVERY: Duration = Duration::from_secs(1);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long the shim's end waits for queued lines to go out.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Docker's `mode` and `max-buffer-size` log options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "mode")]
pub enum DeliveryMode {
    #[default]
    Blocking,
    NonBlocking {
        /// Bytes of encoded lines queued before new ones are dropped.
        max_buffer: u64,
    },
}

/// Turns a line into the bytes of one message (in the copy loop).
pub trait Encode {
    fn encode(&mut self, msg: &Message<'_>, out: &mut Vec<u8>);
}

/// Sends one message, connecting first when needed (in the delivery thread).
pub trait Deliver: Send {
    fn deliver(&mut self, data: &[u8]) -> std::io::Result<()>;
    /// Forgets the connection: the next delivery dials again.
    fn disconnect(&mut self);
}

/// What the shim tells the daemon about remote delivery, in
/// `<state_dir>/log-stats.json` (the metrics endpoint exports it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogStats {
    pub sent: u64,
    pub dropped: u64,
}

/// The stats of the shim of `state_dir`; zero before any delivery.
pub fn read_log_stats(state_dir: &std::path::Path) -> LogStats {
    std::fs::read(state_dir.join(STATS_FILE))
        .ok()
        .and_then(|d| serde_json::from_slice(&d).ok())
        .unwrap_or_default()
}

#[derive(Default)]
struct State {
    queue: VecDeque<Vec<u8>>,
    bytes: usize,
    closed: bool,
    /// The thread is sending one it took off the queue.
    busy: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when a line is queued or the queue closes.
    ready: Condvar,
    /// Signalled when room is made or the thread goes idle.
    room: Condvar,
    sent: AtomicU64,
    dropped: AtomicU64,
}

pub struct Queued {
    encoder: Box<dyn Encode>,
    /// Taken by the thread when it starts.
    deliver: Option<Box<dyn Deliver>>,
    mode: DeliveryMode,
    shared: Arc<Shared>,
    state_dir: PathBuf,
    buf: Vec<u8>,
}

impl Queued {
    pub fn new(
        encoder: Box<dyn Encode>,
        deliver: Box<dyn Deliver>,
        mode: DeliveryMode,
        state_dir: PathBuf,
    ) -> Self {
        Self {
            encoder,
            deliver: Some(deliver),
            mode,
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                ready: Condvar::new(),
                room: Condvar::new(),
                sent: AtomicU64::new(0),
                dropped: AtomicU64::new(0),
            }),
            state_dir,
            buf: Vec::new(),
        }
    }

    fn start(&mut self) -> std::io::Result<()> {
        let Some(deliver) = self.deliver.take() else {
            return Ok(());
        };
        let shared = self.shared.clone();
        let state_dir = self.state_dir.clone();
        std::thread::Builder::new()
            .name("log-delivery".into())
            .spawn(move || run(deliver, shared, state_dir))?;
        Ok(())
    }

    /// Counts as sent/dropped so far (for tests and the final stats).
    #[cfg(test)]
    fn stats(&self) -> LogStats {
        LogStats {
            sent: self.shared.sent.load(Ordering::Relaxed),
            dropped: self.shared.dropped.load(Ordering::Relaxed),
        }
    }
}

impl LogDriver for Queued {
    fn log(&mut self, msg: &Message<'_>) -> std::io::Result<()> {
        self.start()?;
        self.buf.clear();
        self.encoder.encode(msg, &mut self.buf);
        let data = self.buf.clone();
        let mut st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        match self.mode {
            DeliveryMode::NonBlocking { max_buffer } => {
                if (st.bytes + data.len()) as u64 > max_buffer {
                    self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
            }
            DeliveryMode::Blocking => {
                while st.bytes > 0 && st.bytes + data.len() > BLOCKING_QUEUE {
                    st = self.shared.room.wait(st).unwrap_or_else(|e| e.into_inner());
                }
            }
        }
        st.bytes += data.len();
        let was_empty = st.queue.is_empty();
        st.queue.push_back(data);
        drop(st);
        // The thread waits only on an empty queue: one wake-up per batch.
        if was_empty {
            self.shared.ready.notify_one();
        }
        Ok(())
    }

    fn close(&mut self) {
        if self.deliver.is_some() {
            return; // never started: nothing was logged
        }
        let deadline = Instant::now() + CLOSE_TIMEOUT;
        let mut st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        st.closed = true;
        self.shared.ready.notify_one();
        while (!st.queue.is_empty() || st.busy) && Instant::now() < deadline {
            let wait = deadline.saturating_duration_since(Instant::now());
            st = self
                .shared
                .room
                .wait_timeout(st, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        // What could not go out in time is lost with the shim: say so.
        let left = st.queue.len() as u64 + u64::from(st.busy);
        self.shared.dropped.fetch_add(left, Ordering::Relaxed);
        drop(st);
        write_stats(&self.shared, &self.state_dir);
    }
}

fn write_stats(shared: &Shared, state_dir: &std::path::Path) {
    let stats = LogStats {
        sent: shared.sent.load(Ordering::Relaxed),
        dropped: shared.dropped.load(Ordering::Relaxed),
    };
    let tmp = state_dir.join(format!(".{STATS_FILE}.tmp"));
    if let Ok(data) = serde_json::to_vec(&stats)
        && crate::private::write(&tmp, &data).is_ok()
    {
        let _ = std::fs::rename(&tmp, state_dir.join(STATS_FILE));
    }
}

enum Next {
    /// All that was queued, taken at once (its bytes still counted).
    Lines(VecDeque<Vec<u8>>),
    /// Nothing came for a while: a moment to write the stats.
    Idle,
    /// Closed and empty.
    Done,
}

fn next(shared: &Shared, sent_bytes: usize) -> Next {
    let mut st = shared.state.lock().unwrap_or_else(|e| e.into_inner());
    // The batch before is out: its room is free now.
    st.bytes -= sent_bytes;
    st.busy = false;
    shared.room.notify_all();
    loop {
        if !st.queue.is_empty() {
            st.busy = true;
            return Next::Lines(std::mem::take(&mut st.queue));
        }
        if st.closed {
            return Next::Done;
        }
        let (guard, waited) = shared
            .ready
            .wait_timeout(st, STATS_EVERY)
            .unwrap_or_else(|e| e.into_inner());
        st = guard;
        if waited.timed_out() && st.queue.is_empty() && !st.closed {
            return Next::Idle;
        }
    }
}

fn run(mut deliver: Box<dyn Deliver>, shared: Arc<Shared>, state_dir: PathBuf) {
    let mut backoff = FIRST_BACKOFF;
    let mut failing_until: Option<Instant> = None;
    let mut last_stats = (Instant::now(), LogStats::default());
    let mut sent_bytes = 0;
    loop {
        let batch = match next(&shared, sent_bytes) {
            Next::Done => return,
            Next::Idle => VecDeque::new(),
            Next::Lines(batch) => batch,
        };
        sent_bytes = batch.iter().map(Vec::len).sum();
        for data in batch {
            if failing_until.is_some_and(|t| Instant::now() < t) {
                shared.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let r = deliver.deliver(&data).or_else(|_| {
                // A connection the server closed: one fresh dial.
                deliver.disconnect();
                deliver.deliver(&data)
            });
            match r {
                Ok(()) => {
                    shared.sent.fetch_add(1, Ordering::Relaxed);
                    failing_until = None;
                    backoff = FIRST_BACKOFF;
                }
                Err(e) => {
                    deliver.disconnect();
                    shared.dropped.fetch_add(1, Ordering::Relaxed);
                    if failing_until.is_none() {
                        eprintln!("berth shim: log delivery: {e}");
                    }
                    failing_until = Some(Instant::now() + backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        let now = LogStats {
            sent: shared.sent.load(Ordering::Relaxed),
            dropped: shared.dropped.load(Ordering::Relaxed),
        };
        if now != last_stats.1 && last_stats.0.elapsed() >= STATS_EVERY {
            write_stats(&shared, &state_dir);
            last_stats = (Instant::now(), now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shim::StdStream;
    use std::sync::mpsc;

    struct Plain;
    impl Encode for Plain {
        fn encode(&mut self, msg: &Message<'_>, out: &mut Vec<u8>) {
            out.extend_from_slice(msg.text());
        }
    }

    /// Delivers into a channel, each delivery first waiting for a permit.
    struct Gate {
        permits: mpsc::Receiver<()>,
        out: mpsc::Sender<Vec<u8>>,
    }
    impl Deliver for Gate {
        fn deliver(&mut self, data: &[u8]) -> std::io::Result<()> {
            self.permits
                .recv()
                .map_err(|_| std::io::Error::other("closed"))?;
            self.out.send(data.to_vec()).map_err(std::io::Error::other)
        }
        fn disconnect(&mut self) {}
    }

    fn msg(line: &[u8]) -> Message<'_> {
        Message {
            stream: StdStream::Stdout,
            time: chrono::Utc::now(),
            line,
            partial: None,
        }
    }

    #[test]
    fn a_stuck_server_costs_lines_in_non_blocking_mode_never_the_copy_loop() {
        let dir = tempfile::tempdir().unwrap();
        let (permit, permits) = mpsc::channel();
        let (out, got) = mpsc::channel();
        let mut q = Queued::new(
            Box::new(Plain),
            Box::new(Gate { permits, out }),
            DeliveryMode::NonBlocking { max_buffer: 50 },
            dir.path().to_path_buf(),
        );
        let start = Instant::now();
        // The server takes nothing: the queue fills at 50 bytes (10 lines),
        // one more is held by the thread, the rest are dropped at once.
        for i in 0..1000 {
            q.log(&msg(format!("l{i:04}\n").as_bytes())).unwrap();
        }
        assert!(start.elapsed() < Duration::from_secs(2));
        for _ in 0..20 {
            permit.send(()).unwrap();
        }
        q.close();
        let delivered: Vec<Vec<u8>> = got.try_iter().collect();
        assert!((10..=11).contains(&delivered.len()), "{}", delivered.len());
        assert_eq!(delivered[0], b"l0000");
        let stats = q.stats();
        assert_eq!(stats.sent as usize, delivered.len());
        assert_eq!(stats.sent + stats.dropped, 1000);
        assert_eq!(read_log_stats(dir.path()), stats);
    }

    #[test]
    fn blocking_mode_delivers_every_line_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (permit, permits) = mpsc::channel();
        let (out, got) = mpsc::channel();
        for _ in 0..500 {
            permit.send(()).unwrap();
        }
        let mut q = Queued::new(
            Box::new(Plain),
            Box::new(Gate { permits, out }),
            DeliveryMode::Blocking,
            dir.path().to_path_buf(),
        );
        for i in 0..500 {
            q.log(&msg(format!("{i}\n").as_bytes())).unwrap();
        }
        q.close();
        let delivered: Vec<String> = got
            .try_iter()
            .map(|d| String::from_utf8(d).unwrap())
            .collect();
        let want: Vec<String> = (0..500).map(|i| i.to_string()).collect();
        assert_eq!(delivered, want);
        assert_eq!(
            q.stats(),
            LogStats {
                sent: 500,
                dropped: 0
            }
        );
    }
}
