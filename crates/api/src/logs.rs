//! What the container and swarm logs endpoints share: reading the query's
//! options, and how each line goes out (timestamp and details first, then
//! framed unless the container has a terminal).

use axum::http::header;
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use engine::{LogLine, LogOptions, parse_timestamp};
use tokio::sync::mpsc;

use crate::query::Params;
use crate::streams::{MULTIPLEXED, RAW, channel_body, encode};
use crate::{ApiError, ApiResult, format};

/// dockerd's words when neither stream was asked for.
pub const NO_STREAM: &str = "Bad parameters: you must choose at least one stream";

/// `stdout`, `stderr`, `follow`, `tail`, `since` and `until`.
pub fn options(params: &Params) -> ApiResult<LogOptions> {
    let ts = |key: &str| -> ApiResult<Option<chrono::DateTime<chrono::Utc>>> {
        match params.get(key).filter(|v| !v.is_empty() && *v != "0") {
            None => Ok(None),
            Some(v) => parse_timestamp(v)
                .map(Some)
                .ok_or_else(|| ApiError::bad_request(format!("invalid value for {key}: {v}"))),
        }
    };
    let tail = match params.get("tail").unwrap_or("all") {
        "all" | "" => None,
        n => Some(
            n.parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("invalid tail: {n}")))?,
        )
        .filter(|n| *n >= 0)
        .map(|n| n as usize),
    };
    Ok(LogOptions {
        stdout: params.bool("stdout", false),
        stderr: params.bool("stderr", false),
        follow: params.bool("follow", false),
        tail,
        since: ts("since")?,
        until: ts("until")?,
    })
}

/// One line as the client reads it: `[timestamp ][details ]line`, framed
/// as its stream unless `raw` (a terminal).
pub fn line_chunk(raw: bool, line: &LogLine, timestamps: bool, details: Option<&str>) -> Bytes {
    if !timestamps && details.is_none() {
        return encode(raw, line.stream, &line.data);
    }
    let mut data = Vec::with_capacity(line.data.len() + 64);
    if timestamps {
        data.extend_from_slice(format::time(Some(line.time)).as_bytes());
        data.push(b' ');
    }
    if let Some(details) = details {
        data.extend_from_slice(details.as_bytes());
        data.push(b' ');
    }
    data.extend_from_slice(&line.data);
    encode(raw, line.stream, &data)
}

/// How many bytes of waiting lines one body chunk gathers.
const BATCH: usize = 64 * 1024;

/// The response that streams `lines`, each turned into its bytes by
/// `chunk`, until they end or the client goes away: a client that leaves
/// a quiet followed log drops `lines` at once, which stops its readers.
pub fn respond<T: Send + 'static>(
    raw: bool,
    mut lines: mpsc::Receiver<T>,
    chunk: impl Fn(T) -> Bytes + Send + 'static,
) -> Response {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let line = tokio::select! {
                () = tx.closed() => return,
                line = lines.recv() => line,
            };
            let Some(line) = line else { return };
            // Lines already waiting go out together: one write (and over TLS
            // one record) for many short lines, while a followed log's single
            // new line still leaves at once.
            let first = chunk(line);
            let mut batch: Option<BytesMut> = None;
            while batch.as_ref().map_or(first.len(), BytesMut::len) < BATCH {
                let Ok(more) = lines.try_recv() else { break };
                batch
                    .get_or_insert_with(|| BytesMut::from(&first[..]))
                    .extend_from_slice(&chunk(more));
            }
            let out = batch.map_or(first, BytesMut::freeze);
            if tx.send(out).await.is_err() {
                return;
            }
        }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, if raw { RAW } else { MULTIPLEXED })
        .body(channel_body(rx))
        .unwrap_or_else(crate::error::response_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::StdStream;

    fn line() -> LogLine {
        LogLine {
            stream: StdStream::Stdout,
            time: chrono::DateTime::from_timestamp(1_700_000_000, 5).unwrap(),
            data: Bytes::from_static(b"hello\n"),
        }
    }

    #[test]
    fn timestamp_then_details_then_the_line() {
        let raw = line_chunk(true, &line(), true, Some("a=b"));
        assert_eq!(
            &raw[..],
            b"2023-11-14T22:13:20.000000005Z a=b hello\n".as_slice()
        );
        let framed = line_chunk(false, &line(), false, Some("a=b"));
        assert_eq!(&framed[..8], &[1, 0, 0, 0, 0, 0, 0, 10]);
        assert_eq!(&framed[8..], b"a=b hello\n");
        assert_eq!(&line_chunk(true, &line(), false, None)[..], b"hello\n");
    }

    #[test]
    fn options_from_the_query() {
        let o = options(&Params::parse(Some(
            "stdout=1&tail=2&since=1700000000.5&follow=1",
        )))
        .unwrap();
        assert!(o.stdout && !o.stderr && o.follow);
        assert_eq!(o.tail, Some(2));
        assert!(o.since.is_some());
        assert_eq!(
            options(&Params::parse(Some("tail=all"))).unwrap().tail,
            None
        );
        assert!(options(&Params::parse(Some("tail=x"))).is_err());
        assert!(options(&Params::parse(Some("since=abc"))).is_err());
    }
}
