//! A request body that can be sent again. Each attempt streams the client's
//! body to its backend as it arrives (a gRPC stream or a slow upload is
//! never held back), and what was read is kept, up to a limit, so that a
//! retry on another backend replays it and then goes on reading the client.
//! Past the limit, or once a backend answered, the copy is dropped: memory
//! stays bounded by the limit per request.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::HeaderMap;
use hyper::body::{Frame, SizeHint};
use parking_lot::Mutex;

use crate::proxy::{Body, BoxError};

pub struct Tape(Arc<Mutex<State>>);

struct State {
    source: Body,
    /// Data frames read from the client and still kept; the first is
    /// frame number `base` of the body.
    kept: VecDeque<Bytes>,
    base: usize,
    /// Data frames read from the client so far.
    read: usize,
    bytes: u64,
    limit: u64,
    /// Keeping what is read (false past the limit or once settled).
    recording: bool,
    trailers: Option<HeaderMap>,
    ended: bool,
    /// The client's body failed (gone, or over the route's max_body): no
    /// attempt can have the rest.
    failed: bool,
    /// The current attempt and the frame it sends next; an older attempt
    /// still polled by a connection being torn down gets an error, so two
    /// attempts never share the client's stream.
    attempt: u64,
    pos: usize,
    /// The client's size hint, for each attempt's.
    hint: SizeHint,
}

impl Tape {
    pub fn new(source: Body, limit: u64) -> Tape {
        let hint = hyper::body::Body::size_hint(&source);
        Tape(Arc::new(Mutex::new(State {
            source,
            kept: VecDeque::new(),
            base: 0,
            read: 0,
            bytes: 0,
            limit,
            // A body declared longer than the limit cannot be replayed once
            // any of it is read: keeping its start would be for nothing.
            recording: hint.lower() <= limit,
            trailers: None,
            ended: false,
            failed: false,
            attempt: 0,
            pos: 0,
            hint,
        })))
    }

    /// The body of the next attempt, from the start; earlier attempts' bodies
    /// stop working.
    pub fn attempt(&self) -> Body {
        let mut s = self.0.lock();
        s.attempt += 1;
        s.pos = 0;
        Attempt {
            tape: self.0.clone(),
            id: s.attempt,
            sent: 0,
            trailers_sent: false,
        }
        .boxed()
    }

    /// Whether a new attempt would send the whole body: nothing was read yet,
    /// or all that was read is kept, and the client's body has not failed.
    pub fn replayable(&self) -> bool {
        let s = self.0.lock();
        !s.failed && s.base == 0 && (s.recording || s.read == 0)
    }

    /// No more attempts (a backend answered): what the current one already
    /// sent is dropped now, the rest as it goes.
    pub fn settle(&self) {
        let mut s = self.0.lock();
        s.recording = false;
        let sent = s.pos.saturating_sub(s.base).min(s.kept.len());
        s.kept.drain(..sent);
        s.base += sent;
    }
}

struct Attempt {
    tape: Arc<Mutex<State>>,
    id: u64,
    /// Bytes this attempt sent, for its size hint.
    sent: u64,
    trailers_sent: bool,
}

fn error(why: &str) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
    Poll::Ready(Some(Err(BoxError::from(format!("request body: {why}")))))
}

impl hyper::body::Body for Attempt {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        let mut s = this.tape.lock();
        if s.attempt != this.id {
            return error("superseded by a retry");
        }
        if s.pos < s.read {
            // A replay of what an earlier attempt read.
            if s.pos < s.base {
                return error("no longer kept for a retry");
            }
            let data = if s.recording {
                let i = s.pos - s.base;
                s.kept[i].clone()
            } else {
                s.base += 1;
                s.kept.pop_front().unwrap_or_default()
            };
            s.pos += 1;
            this.sent += data.len() as u64;
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if s.ended {
            if !this.trailers_sent
                && let Some(t) = s.trailers.clone()
            {
                this.trailers_sent = true;
                return Poll::Ready(Some(Ok(Frame::trailers(t))));
            }
            return Poll::Ready(None);
        }
        if s.failed {
            return error("the client's body failed");
        }
        let frame = match Pin::new(&mut s.source).poll_frame(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(None) => {
                s.ended = true;
                return Poll::Ready(None);
            }
            Poll::Ready(Some(Err(e))) => {
                s.failed = true;
                return Poll::Ready(Some(Err(e)));
            }
            Poll::Ready(Some(Ok(f))) => f,
        };
        let frame = match frame.into_data() {
            Ok(data) => {
                s.read += 1;
                s.pos += 1;
                s.bytes += data.len() as u64;
                this.sent += data.len() as u64;
                if s.recording && s.bytes > s.limit {
                    s.recording = false;
                    s.kept = VecDeque::new();
                }
                if s.recording {
                    s.kept.push_back(data.clone());
                } else {
                    s.base = s.read;
                }
                return Poll::Ready(Some(Ok(Frame::data(data))));
            }
            Err(frame) => frame,
        };
        if let Some(t) = frame.trailers_ref() {
            s.trailers = Some(t.clone());
            s.ended = true;
            this.trailers_sent = true;
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        let s = self.tape.lock();
        s.attempt == self.id
            && s.ended
            && s.pos == s.read
            && (self.trailers_sent || s.trailers.is_none())
    }

    fn size_hint(&self) -> SizeHint {
        let hint = &self.tape.lock().hint;
        let mut left = SizeHint::new();
        left.set_lower(hint.lower().saturating_sub(self.sent));
        if let Some(upper) = hint.upper() {
            left.set_upper(upper.saturating_sub(self.sent));
        }
        left
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{Full, StreamBody};

    fn chunks(parts: &[&'static str], trailer: bool) -> Body {
        let mut frames: Vec<Result<Frame<Bytes>, BoxError>> = parts
            .iter()
            .map(|p| Ok(Frame::data(Bytes::from_static(p.as_bytes()))))
            .collect();
        if trailer {
            let mut t = HeaderMap::new();
            t.insert("grpc-status", "0".parse().unwrap());
            frames.push(Ok(Frame::trailers(t)));
        }
        StreamBody::new(futures_util::stream::iter(frames)).boxed()
    }

    /// Reads `n` frames of `body` (all when none), data concatenated and
    /// whether trailers came.
    async fn read(body: &mut Body, n: Option<usize>) -> (String, bool) {
        let (mut data, mut trailers) = (String::new(), false);
        let mut left = n.unwrap_or(usize::MAX);
        while left > 0 {
            let Some(f) = body.frame().await else { break };
            let f = f.unwrap();
            if let Some(d) = f.data_ref() {
                data.push_str(std::str::from_utf8(d).unwrap());
            }
            trailers |= f.is_trailers();
            left -= 1;
        }
        (data, trailers)
    }

    #[tokio::test]
    async fn a_retry_replays_what_was_read_then_reads_on() {
        let tape = Tape::new(chunks(&["ab", "cd", "ef"], true), 1024);
        let mut first = tape.attempt();
        assert_eq!(read(&mut first, Some(2)).await, ("abcd".into(), false));
        assert!(tape.replayable());
        let mut second = tape.attempt();
        assert!(first.frame().await.unwrap().is_err(), "superseded");
        assert_eq!(read(&mut second, None).await, ("abcdef".into(), true));
        let mut third = tape.attempt();
        assert_eq!(read(&mut third, None).await, ("abcdef".into(), true));
    }

    #[tokio::test]
    async fn past_the_limit_nothing_is_kept_and_no_replay_is_possible() {
        let tape = Tape::new(chunks(&["abcd", "efgh", "ijkl"], false), 6);
        let mut first = tape.attempt();
        assert_eq!(read(&mut first, Some(1)).await.0, "abcd");
        assert!(tape.replayable(), "4 bytes of 6 kept");
        assert_eq!(read(&mut first, Some(1)).await.0, "efgh");
        assert!(!tape.replayable(), "8 bytes: over the limit");
        assert_eq!(tape.0.lock().kept.len(), 0);
        assert_eq!(read(&mut first, None).await.0, "ijkl", "the body goes on");
    }

    #[tokio::test]
    async fn a_body_declared_over_the_limit_is_replayable_only_until_read() {
        let tape = Tape::new(
            Full::new(Bytes::from_static(b"0123456789"))
                .map_err(|e| match e {})
                .boxed(),
            4,
        );
        assert!(tape.replayable(), "nothing read yet");
        let mut first = tape.attempt();
        assert_eq!(hyper::body::Body::size_hint(&first).exact(), Some(10));
        assert_eq!(read(&mut first, None).await.0, "0123456789");
        assert!(!tape.replayable());
    }

    #[tokio::test]
    async fn settling_drops_the_copy() {
        let tape = Tape::new(chunks(&["ab", "cd", "ef"], false), 1024);
        let mut first = tape.attempt();
        read(&mut first, Some(2)).await;
        let mut second = tape.attempt();
        read(&mut second, Some(1)).await;
        tape.settle();
        assert_eq!(tape.0.lock().kept.len(), 1, "the frame sent is dropped");
        assert_eq!(read(&mut second, None).await.0, "cdef");
        assert_eq!(tape.0.lock().kept.len(), 0);
        assert!(!tape.replayable());
    }
}
