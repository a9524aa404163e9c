//! Blob fetch (whole or one byte range), existence and delete.

use crate::error::{ApiError, Code};
use crate::http::{AppState, empty, header_str, put_headers};
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use std::io::{Read, Seek};

fn unknown(digest: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        Code::BlobUnknown,
        "blob unknown to registry",
    )
    .detail(serde_json::json!({ "digest": digest }))
}

/// `bytes=a-b`, `bytes=a-` or `bytes=-n` against a blob of `size` bytes, as
/// an inclusive range; `Err` when it cannot be satisfied.
pub fn parse_range(spec: &str, size: u64) -> Result<(u64, u64), ()> {
    let spec = spec.trim().strip_prefix("bytes=").ok_or(())?;
    if spec.contains(',') {
        return Err(());
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().map_err(|_| ())?;
            if n == 0 {
                return Err(());
            }
            (size.saturating_sub(n), size.checked_sub(1).ok_or(())?)
        }
        (a, "") => (a.parse().map_err(|_| ())?, size.checked_sub(1).ok_or(())?),
        (a, b) => {
            let a: u64 = a.parse().map_err(|_| ())?;
            let b: u64 = b.parse().map_err(|_| ())?;
            (a, b.min(size.saturating_sub(1)))
        }
    };
    if start > end || start >= size {
        return Err(());
    }
    Ok((start, end))
}

pub async fn get(
    state: &AppState,
    name: &str,
    digest: &str,
    headers: &HeaderMap,
    with_body: bool,
) -> Result<Response, ApiError> {
    let size = state
        .store
        .repo_blob_size(name, digest)
        .ok_or_else(|| unknown(digest))?;
    let mut h = vec![
        ("Docker-Content-Digest", digest.to_string()),
        ("Content-Type", "application/octet-stream".to_string()),
        ("Accept-Ranges", "bytes".to_string()),
        ("ETag", format!("\"{digest}\"")),
    ];
    let range = match header_str(headers, header::RANGE) {
        None => None,
        Some(spec) => match parse_range(spec, size) {
            Ok(r) => Some(r),
            Err(()) => {
                return Err(ApiError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    Code::RangeInvalid,
                    "requested range not satisfiable",
                )
                .header(header::CONTENT_RANGE, &format!("bytes */{size}")));
            }
        },
    };
    let (status, start, len) = match range {
        Some((a, b)) => {
            h.push(("Content-Range", format!("bytes {a}-{b}/{size}")));
            (StatusCode::PARTIAL_CONTENT, a, b - a + 1)
        }
        None => (StatusCode::OK, 0, size),
    };
    h.push(("Content-Length", len.to_string()));
    if !with_body {
        return Ok(empty(status, &h));
    }
    let path = state.store.blob_path(digest);
    let mut file = std::fs::File::open(&path).map_err(|_| unknown(digest))?;
    if start > 0 {
        file.seek(std::io::SeekFrom::Start(start))?;
    }
    let mut rx = stream_file(file, len);
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    let mut resp = Response::new(Body::from_stream(stream));
    *resp.status_mut() = status;
    put_headers(resp.headers_mut(), &h);
    Ok(resp)
}

/// Blob bodies are read by one blocking thread in large chunks: an async
/// file reads each chunk on the blocking pool, and that hand-off per 64 KiB
/// was the cost of serving big layers.
const READ_CHUNK: usize = 1 << 20;

fn stream_file(
    mut file: std::fs::File,
    len: u64,
) -> tokio::sync::mpsc::Receiver<std::io::Result<Bytes>> {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let mut left = len;
        while left > 0 {
            let n = left.min(READ_CHUNK as u64) as usize;
            let mut buf = vec![0u8; n];
            let chunk = file.read_exact(&mut buf).map(|()| Bytes::from(buf));
            let failed = chunk.is_err();
            // A client that went away closes the channel: stop reading.
            if tx.blocking_send(chunk).is_err() || failed {
                return;
            }
            left -= n as u64;
        }
    });
    rx
}

/// Removes the blob from this repository only; the shared copy goes at the
/// next gc if nothing else references it.
pub fn delete(state: &AppState, name: &str, digest: &str) -> Result<Response, ApiError> {
    if !state.store.unlink_layer(name, digest)? {
        return Err(unknown(digest));
    }
    Ok(empty(
        StatusCode::ACCEPTED,
        &[("Docker-Content-Digest", digest.to_string())],
    ))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Ok((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Ok((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Ok((90, 99)));
        assert_eq!(parse_range("bytes=95-200", 100), Ok((95, 99)));
        assert!(parse_range("bytes=100-", 100).is_err());
        assert!(parse_range("bytes=5-1", 100).is_err());
        assert!(parse_range("items=0-1", 100).is_err());
        assert!(parse_range("bytes=0-1,3-4", 100).is_err());
    }
}
