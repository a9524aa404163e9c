//! Ping, blob fetch/HEAD/range/delete, and every upload path including the
//! failures that must leave nothing stored.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use hyper::StatusCode;

#[tokio::test]
async fn ping() {
    let reg = start().await;
    let r = reg.get("/v2/").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), serde_json::json!({}));
    assert_eq!(
        r.header("Docker-Distribution-API-Version").as_deref(),
        Some("registry/2.0")
    );
    reg.stop().await;
}

#[tokio::test]
async fn monolithic_upload_fetch_range_head_delete() {
    let reg = start().await;
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let d = reg.push_blob("lib/a", &data).await;
    assert_eq!(reg.blob_files(), vec![d.clone()]);

    let r = reg.get(&format!("/v2/lib/a/blobs/{d}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, data);
    assert_eq!(r.header("Docker-Content-Digest"), Some(d.clone()));
    assert_eq!(
        r.header("Content-Type").as_deref(),
        Some("application/octet-stream")
    );
    assert_eq!(r.header("Content-Length"), Some(data.len().to_string()));

    let r = reg
        .req("HEAD", &format!("/v2/lib/a/blobs/{d}"), &[], vec![])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.is_empty());
    assert_eq!(r.header("Content-Length"), Some(data.len().to_string()));
    assert_eq!(r.header("Docker-Content-Digest"), Some(d.clone()));

    let r = reg
        .req(
            "GET",
            &format!("/v2/lib/a/blobs/{d}"),
            &[("Range", "bytes=10-19")],
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.body, &data[10..20]);
    assert_eq!(
        r.header("Content-Range").as_deref(),
        Some("bytes 10-19/100000")
    );
    let r = reg
        .req(
            "GET",
            &format!("/v2/lib/a/blobs/{d}"),
            &[("Range", "bytes=200000-")],
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);

    // Not visible from another repository until mounted there.
    let r = reg.get(&format!("/v2/other/blobs/{d}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.code(), "BLOB_UNKNOWN");

    let r = reg
        .req("DELETE", &format!("/v2/lib/a/blobs/{d}"), &[], vec![])
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = reg
        .req("HEAD", &format!("/v2/lib/a/blobs/{d}"), &[], vec![])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = reg
        .req("DELETE", &format!("/v2/lib/a/blobs/{d}"), &[], vec![])
        .await;
    assert_eq!(r.code(), "BLOB_UNKNOWN");
    reg.stop().await;
}

#[tokio::test]
async fn chunked_upload_status_and_out_of_order() {
    let reg = start().await;
    let r = reg.req("POST", "/v2/x/blobs/uploads/", &[], vec![]).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let loc = r.header("Location").unwrap();
    let uuid = r.header("Docker-Upload-UUID").unwrap();
    assert!(loc.ends_with(&uuid));
    assert_eq!(r.header("Range").as_deref(), Some("0-0"));

    let r = reg
        .req(
            "PATCH",
            &loc,
            &[
                ("Content-Range", "0-4"),
                ("Content-Type", "application/octet-stream"),
            ],
            b"hello".to_vec(),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::ACCEPTED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.header("Range").as_deref(), Some("0-4"));
    let loc = r.header("Location").unwrap();

    // A chunk that does not start at the current end is refused.
    let r = reg
        .req(
            "PATCH",
            &loc,
            &[("Content-Range", "9-13")],
            b"world".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    // Content-Range and Content-Length that disagree are refused.
    let r = reg
        .req(
            "PATCH",
            &loc,
            &[("Content-Range", "5-20")],
            b" wor".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);

    // Streamed chunk without Content-Range.
    let r = reg.req("PATCH", &loc, &[], b" wor".to_vec()).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(r.header("Range").as_deref(), Some("0-8"));

    let r = reg.get(&loc).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.header("Range").as_deref(), Some("0-8"));
    assert_eq!(r.header("Docker-Upload-UUID"), Some(uuid.clone()));

    // Final chunk with the PUT.
    let d = digest(b"hello world");
    let r = reg
        .req(
            "PUT",
            &format!("{loc}?digest={d}"),
            &[("Content-Range", "9-10")],
            b"ld".to_vec(),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.header("Location"), Some(format!("/v2/x/blobs/{d}")));
    assert_eq!(r.header("Docker-Content-Digest"), Some(d.clone()));
    assert_eq!(
        reg.get(&format!("/v2/x/blobs/{d}")).await.body,
        b"hello world"
    );

    // The session is gone.
    let r = reg.get(&loc).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.code(), "BLOB_UPLOAD_UNKNOWN");
    assert!(
        std::fs::read_dir(reg.root().join("uploads"))
            .unwrap()
            .next()
            .is_none()
    );
    reg.stop().await;
}

#[tokio::test]
async fn digest_mismatch_stores_nothing() {
    let reg = start().await;
    let wrong = digest(b"something else");
    let r = reg
        .req(
            "POST",
            &format!("/v2/x/blobs/uploads/?digest={wrong}"),
            &[],
            b"payload".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "DIGEST_INVALID");
    assert!(reg.blob_files().is_empty());

    let r = reg.req("POST", "/v2/x/blobs/uploads/", &[], vec![]).await;
    let loc = r.header("Location").unwrap();
    reg.req("PATCH", &loc, &[], b"payload".to_vec()).await;
    let r = reg
        .req("PUT", &format!("{loc}?digest={wrong}"), &[], vec![])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "DIGEST_INVALID");
    assert_eq!(
        r.json()["errors"][0]["detail"]["actual"],
        digest(b"payload")
    );
    assert!(reg.blob_files().is_empty());
    assert!(
        std::fs::read_dir(reg.root().join("uploads"))
            .unwrap()
            .next()
            .is_none()
    );

    let r = reg
        .req(
            "POST",
            "/v2/x/blobs/uploads/?digest=md5:abc",
            &[],
            b"p".to_vec(),
        )
        .await;
    assert_eq!(r.code(), "DIGEST_INVALID");
    let r = reg.get("/v2/x/blobs/sha256:xyz").await;
    assert_eq!(r.code(), "DIGEST_INVALID");
    // Still serving.
    assert_eq!(reg.get("/v2/").await.status, StatusCode::OK);
    reg.stop().await;
}

#[tokio::test]
async fn truncated_chunk_is_rolled_back() {
    let reg = start().await;
    let r = reg.req("POST", "/v2/x/blobs/uploads/", &[], vec![]).await;
    let loc = r.header("Location").unwrap();
    reg.req("PATCH", &loc, &[], b"abc".to_vec()).await;

    // Declares 100 bytes, sends 10, then closes its side.
    let req = format!(
        "PATCH {loc} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: 100\r\n\r\n0123456789"
    );
    reg.raw(req.as_bytes(), true).await;
    // Wait until the server has noticed the truncated body (generous: the suite
    // runs other upload tests beside this one).
    let mut size = String::new();
    for _ in 0..200 {
        size = reg.get(&loc).await.header("Range").unwrap();
        if size == "0-2" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(size, "0-2", "partial chunk must not stay in the upload");

    let d = digest(b"abcdef");
    let r = reg
        .req("PUT", &format!("{loc}?digest={d}"), &[], b"def".to_vec())
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(reg.blob_files(), vec![d]);
    reg.stop().await;
}

#[tokio::test]
async fn stalled_chunk_times_out_and_is_rolled_back() {
    let reg = start_with(|c, _| c.upload_idle_timeout = std::time::Duration::from_secs(1)).await;
    let r = reg.req("POST", "/v2/x/blobs/uploads/", &[], vec![]).await;
    let loc = r.header("Location").unwrap();
    reg.req("PATCH", &loc, &[], b"abc".to_vec()).await;
    // Declares 100 bytes, sends 10 and then nothing, keeping the connection.
    let req = format!("PATCH {loc} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789");
    let started = std::time::Instant::now();
    let answer = reg.raw(req.as_bytes(), false).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("BLOB_UPLOAD_INVALID"), "{answer}");
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
    assert_eq!(reg.get(&loc).await.header("Range").unwrap(), "0-2");
    reg.stop().await;
}

#[tokio::test]
async fn cancel_unknown_and_mount() {
    let reg = start().await;
    let r = reg.req("POST", "/v2/x/blobs/uploads/", &[], vec![]).await;
    let loc = r.header("Location").unwrap();
    let r = reg.req("DELETE", &loc, &[], vec![]).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = reg.req("PATCH", &loc, &[], b"x".to_vec()).await;
    assert_eq!(r.code(), "BLOB_UPLOAD_UNKNOWN");
    let r = reg
        .get("/v2/x/blobs/uploads/00000000-0000-0000-0000-000000000000")
        .await;
    assert_eq!(r.code(), "BLOB_UPLOAD_UNKNOWN");
    // A session belongs to its repository.
    let r = reg.req("POST", "/v2/x/blobs/uploads/", &[], vec![]).await;
    let uuid = r.header("Docker-Upload-UUID").unwrap();
    let r = reg.get(&format!("/v2/y/blobs/uploads/{uuid}")).await;
    assert_eq!(r.code(), "BLOB_UPLOAD_UNKNOWN");

    let d = reg.push_blob("src/repo", b"shared layer").await;
    let r = reg
        .req(
            "POST",
            &format!("/v2/dst/blobs/uploads/?mount={d}&from=src/repo"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.header("Location"), Some(format!("/v2/dst/blobs/{d}")));
    assert_eq!(
        reg.get(&format!("/v2/dst/blobs/{d}")).await.body,
        b"shared layer"
    );
    // Mount of something the source lacks falls back to an upload session.
    let missing = digest(b"nope");
    let r = reg
        .req(
            "POST",
            &format!("/v2/dst/blobs/uploads/?mount={missing}&from=src/repo"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);

    // Same content pushed to another repo is stored once.
    reg.push_blob("third", b"shared layer").await;
    assert_eq!(reg.blob_files(), vec![d]);
    reg.stop().await;
}

#[tokio::test]
async fn invalid_names_are_rejected() {
    let reg = start().await;
    for path in [
        "/v2/UPPER/blobs/uploads/",
        "/v2/a/../b/blobs/uploads/",
        "/v2/../../etc/blobs/uploads/",
        "/v2/a%2f..%2fb/blobs/uploads/",
        "/v2/a//b/blobs/uploads/",
        "/v2/-a/blobs/uploads/",
    ] {
        let r = reg.req("POST", path, &[], vec![]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(r.code(), "NAME_INVALID", "{path}");
    }
    // Raw, in case a client library would normalise the path.
    let out = reg
        .raw(
            b"GET /v2/../secret/tags/list HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            false,
        )
        .await;
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    assert!(out.contains("NAME_INVALID"), "{out}");
    let out = reg
        .raw(
            b"GET /v2/x/blobs/uploads/..%2f..%2fx HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            false,
        )
        .await;
    assert!(out.contains("BLOB_UPLOAD_UNKNOWN"), "{out}");
    assert!(
        std::fs::read_dir(reg.root().join("repositories"))
            .unwrap()
            .next()
            .is_none()
    );
    assert_eq!(reg.get("/v2/").await.status, StatusCode::OK);
    reg.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uploads() {
    let reg = std::sync::Arc::new(start().await);
    let mut tasks = Vec::new();
    for i in 0..16u32 {
        let reg = reg.clone();
        tasks.push(tokio::spawn(async move {
            let data: Vec<u8> = format!("blob number {i} ").repeat(1000).into_bytes();
            let r = reg
                .req(
                    "POST",
                    &format!("/v2/c{}/blobs/uploads/", i % 3),
                    &[],
                    vec![],
                )
                .await;
            let mut loc = r.header("Location").unwrap();
            for (n, chunk) in data.chunks(4096).enumerate() {
                let range = format!("{}-{}", n * 4096, n * 4096 + chunk.len() - 1);
                let r = reg
                    .req("PATCH", &loc, &[("Content-Range", &range)], chunk.to_vec())
                    .await;
                assert_eq!(r.status, StatusCode::ACCEPTED);
                loc = r.header("Location").unwrap();
            }
            let d = digest(&data);
            let r = reg
                .req("PUT", &format!("{loc}?digest={d}"), &[], vec![])
                .await;
            assert_eq!(r.status, StatusCode::CREATED);
            assert_eq!(
                reg.get(&format!("/v2/c{}/blobs/{d}", i % 3)).await.body,
                data
            );
            d
        }));
    }
    let mut digests = Vec::new();
    for t in tasks {
        digests.push(t.await.unwrap());
    }
    digests.sort();
    assert_eq!(reg.blob_files(), digests);
}

/// The registry keeps its blobs in the content store the image store uses:
/// it passes the same conformance suite.
#[test]
fn the_registry_blob_store_passes_the_shared_suite() {
    let root = tempfile::tempdir().unwrap();
    let store = registry::store::Store::open(root.path()).unwrap();
    cas::suite::conformance(store.blobs());
}
