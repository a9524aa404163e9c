//! A request body read by blocking code (a tar unpacked as it arrives).
//! `SyncIoBridge` over the body polled hyper from the blocking thread, one
//! chunk at a time: the socket was read only while the unpacker waited, and
//! each 32 KiB chunk cost a round of wake-ups (a third of a `docker cp`'s
//! CPU samples were task switches). Here a task keeps reading the socket
//! into a short queue while the blocking side unpacks.

use std::io::{self, Read};

use axum::body::Body;
use bytes::{Buf, Bytes};
use futures_util::StreamExt;

/// Chunks in flight: hyper's are at most ~400 KiB (the Docker CLI writes
/// 32 KiB), so a stalled reader holds a few MB at worst.
const QUEUE: usize = 32;

pub(crate) struct BodyReader {
    rx: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
    cur: Bytes,
}

/// Starts reading `body`; must be called inside the runtime, and the reader
/// used outside it (it blocks). Dropping the reader stops the reading.
pub(crate) fn body_reader(body: Body) -> BodyReader {
    let (tx, rx) = tokio::sync::mpsc::channel(QUEUE);
    tokio::spawn(async move {
        let mut stream = body.into_data_stream();
        while let Some(item) = stream.next().await {
            let item = item.map_err(io::Error::other);
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                break;
            }
        }
    });
    BodyReader {
        rx,
        cur: Bytes::new(),
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.cur = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur[..n]);
        self.cur.advance(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_every_chunk_then_the_end_or_the_error() {
        let chunks: Vec<Result<Bytes, io::Error>> =
            (0..100u8).map(|i| Ok(Bytes::from(vec![i; 1000]))).collect();
        let body = Body::from_stream(futures_util::stream::iter(chunks));
        let mut r = body_reader(body);
        let got = tokio::task::spawn_blocking(move || {
            let mut all = Vec::new();
            let mut small = [0u8; 7];
            // Small reads first: a chunk is handed out across reads.
            let n = r.read(&mut small).unwrap();
            all.extend_from_slice(&small[..n]);
            r.read_to_end(&mut all).unwrap();
            all
        })
        .await
        .unwrap();
        let want: Vec<u8> = (0..100u8).flat_map(|i| vec![i; 1000]).collect();
        assert_eq!(got, want);

        let chunks: Vec<Result<Bytes, io::Error>> =
            vec![Ok(Bytes::from_static(b"abc")), Err(io::Error::other("cut"))];
        let mut r = body_reader(Body::from_stream(futures_util::stream::iter(chunks)));
        let err = tokio::task::spawn_blocking(move || {
            let mut all = Vec::new();
            r.read_to_end(&mut all).unwrap_err()
        })
        .await
        .unwrap();
        assert!(err.to_string().contains("cut"), "{err}");
    }
}
