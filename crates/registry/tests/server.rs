//! Server-level behaviour: basic auth, read-only mode, TLS, the root lock,
//! and garbage collection.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use hyper::StatusCode;
use registry::{Config, RegistryError, TlsFiles};

#[tokio::test]
async fn basic_auth() {
    let mut reg = start_with(|c, dir| {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let path = dir.join("htpasswd");
        std::fs::write(&path, format!("# users\nalice:{hash}\n")).unwrap();
        c.htpasswd = Some(path);
    })
    .await;
    let r = reg.get("/v2/").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.header("WWW-Authenticate").as_deref(),
        Some("Basic realm=\"berth\"")
    );
    assert_eq!(r.code(), "UNAUTHORIZED");
    let r = reg.req("POST", "/v2/x/blobs/uploads/", &[], vec![]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    reg.auth = Some(format!("Basic {}", b64("alice:wrong")));
    assert_eq!(reg.get("/v2/").await.status, StatusCode::UNAUTHORIZED);
    reg.auth = Some(format!("Basic {}", b64("bob:s3cret")));
    assert_eq!(reg.get("/v2/").await.status, StatusCode::UNAUTHORIZED);
    reg.auth = Some(format!("Basic {}", b64("alice:s3cret")));
    assert_eq!(reg.get("/v2/").await.status, StatusCode::OK);
    let d = reg.push_blob("x", b"authed").await;
    assert_eq!(reg.get(&format!("/v2/x/blobs/{d}")).await.body, b"authed");
    reg.stop().await;
}

#[tokio::test]
async fn bad_htpasswd_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("htpasswd");
    std::fs::write(&path, "alice:{SHA}plain\n").unwrap();
    let mut c = Config::new("127.0.0.1:0", dir.path().join("root"));
    c.htpasswd = Some(path);
    let err = registry::start(c).await.err().expect("must fail");
    assert!(matches!(err, RegistryError::Htpasswd { .. }), "{err}");
}

#[tokio::test]
async fn read_only_refuses_writes() {
    // Fill a root first, then serve it read-only.
    let reg = start().await;
    let (bytes, _, layers) = reg.push_image("ro", "v1", OCI_MANIFEST, "ro").await;
    let dir = reg.stop().await;
    let reg = start_with(|c, _| {
        c.root = dir.path().join("root");
        c.read_only = true;
    })
    .await;
    assert_eq!(reg.get("/v2/ro/manifests/v1").await.body, bytes);
    assert_eq!(
        reg.get(&format!("/v2/ro/blobs/{}", layers[1])).await.status,
        StatusCode::OK
    );
    for (m, p) in [
        ("POST", "/v2/ro/blobs/uploads/".to_string()),
        ("PUT", "/v2/ro/manifests/v2".to_string()),
        ("DELETE", "/v2/ro/manifests/v1".to_string()),
        ("DELETE", format!("/v2/ro/blobs/{}", layers[1])),
    ] {
        let r = reg
            .req(m, &p, &[("Content-Type", OCI_MANIFEST)], bytes.clone())
            .await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{m} {p}");
        assert_eq!(r.code(), "UNSUPPORTED");
    }
    assert_eq!(reg.get("/v2/ro/manifests/v1").await.status, StatusCode::OK);
    reg.stop().await;
    drop(dir);
}

#[tokio::test]
async fn one_server_per_root_and_gc_refuses_while_serving() {
    let reg = start().await;
    let err = registry::start(Config::new("127.0.0.1:0", reg.root()))
        .await
        .err()
        .expect("second server must fail");
    assert!(matches!(err, RegistryError::Locked(_)), "{err}");
    let err = registry::gc(&reg.root(), false).expect_err("gc must refuse");
    assert!(matches!(err, RegistryError::Locked(_)), "{err}");
    assert!(err.to_string().contains("running server"), "{err}");
    reg.stop().await;
}

#[tokio::test]
async fn gc_removes_only_unreferenced_blobs() {
    let reg = start().await;
    let (_, keep_m, keep_blobs) = reg.push_image("keep", "v1", OCI_MANIFEST, "keep").await;
    // Shared layer content under another repo whose manifest goes away.
    let (_, gone_m, gone_blobs) = reg.push_image("gone", "v1", OCI_MANIFEST, "gone").await;
    let shared = reg
        .push_blob(
            "gone",
            format!("layer-bytes-{}", "keep").repeat(100).as_bytes(),
        )
        .await;
    assert_eq!(shared, keep_blobs[1]);
    let orphan = reg
        .push_blob("keep", b"uploaded but never referenced")
        .await;
    // An untagged manifest stays (pullable by digest).
    let (_, untagged_m, untagged_blobs) = reg
        .push_image("keep", "tmp", OCI_MANIFEST, "untagged")
        .await;
    reg.req("DELETE", "/v2/keep/manifests/tmp", &[], vec![])
        .await;
    let r = reg
        .req(
            "DELETE",
            &format!("/v2/gone/manifests/{gone_m}"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let dir = reg.stop().await;
    let root = dir.path().join("root");

    let dry = registry::gc(&root, true).unwrap();
    let mut expected = vec![
        gone_m.clone(),
        gone_blobs[0].clone(),
        gone_blobs[1].clone(),
        orphan.clone(),
    ];
    expected.sort();
    let mut deleted = dry.deleted.clone();
    deleted.sort();
    assert_eq!(deleted, expected);
    assert!(
        root.join("blobs/sha256").join(&orphan[7..]).exists(),
        "dry run deletes nothing"
    );

    let report = registry::gc(&root, false).unwrap();
    assert_eq!(report.deleted.len(), 4);
    assert!(report.bytes_freed > 0);
    for d in &expected {
        assert!(
            !root.join("blobs/sha256").join(&d[7..]).exists(),
            "{d} should be gone"
        );
    }
    for d in keep_blobs
        .iter()
        .chain(&untagged_blobs)
        .chain([&keep_m, &untagged_m])
    {
        assert!(
            root.join("blobs/sha256").join(&d[7..]).exists(),
            "{d} must stay"
        );
    }

    // The registry still serves what was kept, and the dropped links are gone.
    let reg = start_with(|c, _| c.root = root.clone()).await;
    assert_eq!(
        reg.get("/v2/keep/manifests/v1").await.status,
        StatusCode::OK
    );
    assert_eq!(
        reg.get(&format!("/v2/keep/manifests/{untagged_m}"))
            .await
            .status,
        StatusCode::OK
    );
    for d in &keep_blobs {
        assert_eq!(
            reg.get(&format!("/v2/keep/blobs/{d}")).await.status,
            StatusCode::OK
        );
    }
    assert_eq!(
        reg.get(&format!("/v2/keep/blobs/{orphan}")).await.code(),
        "BLOB_UNKNOWN"
    );
    assert_eq!(
        reg.get(&format!("/v2/gone/blobs/{}", gone_blobs[1]))
            .await
            .code(),
        "BLOB_UNKNOWN"
    );
    // The shared layer is still linked from "gone" and still present.
    assert_eq!(
        reg.get(&format!("/v2/gone/blobs/{shared}")).await.status,
        StatusCode::OK
    );
    reg.stop().await;
    drop(dir);
}

#[tokio::test]
async fn tls() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let ok = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output();
    match ok {
        Ok(o) if o.status.success() => {}
        other => {
            eprintln!("skipping: openssl could not make a certificate: {other:?}");
            return;
        }
    }
    let reg = start_with(|c, _| {
        c.tls = Some(TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        })
    })
    .await;
    let url = format!("https://127.0.0.1:{}/v2/", reg.addr().port());
    let out = tokio::process::Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&cert)
        .args(["-D", "-", &url])
        .output()
        .await;
    match out {
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stdout);
            assert!(
                o.status.success(),
                "curl: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            assert!(text.starts_with("HTTP/"), "{text}");
            assert!(text.contains(" 200"), "{text}");
            assert!(
                text.to_lowercase()
                    .contains("docker-distribution-api-version: registry/2.0"),
                "{text}"
            );
        }
        Err(e) => eprintln!("skipping the HTTPS request: curl unavailable: {e}"),
    }
    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = reg
        .raw(
            b"GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            false,
        )
        .await;
    assert!(!plain.contains("registry/2.0"));
    reg.stop().await;

    let mut c = Config::new("127.0.0.1:0", dir.path().join("root2"));
    c.tls = Some(TlsFiles {
        cert: key.clone(),
        key: cert.clone(),
    });
    let err = registry::start(c)
        .await
        .err()
        .expect("swapped pem files must fail");
    assert!(matches!(err, RegistryError::Tls(_)), "{err}");
}

#[tokio::test]
async fn gc_drops_only_stale_upload_sessions() {
    let reg = start().await;
    let fresh = reg.req("POST", "/v2/u/blobs/uploads/", &[], vec![]).await;
    let stale = reg.req("POST", "/v2/u/blobs/uploads/", &[], vec![]).await;
    reg.req(
        "PATCH",
        &stale.header("Location").unwrap(),
        &[],
        b"old".to_vec(),
    )
    .await;
    let dir = reg.stop().await;
    let root = dir.path().join("root");
    let stale_id = stale.header("Docker-Upload-UUID").unwrap();
    let fresh_id = fresh.header("Docker-Upload-UUID").unwrap();
    let old =
        std::time::SystemTime::now() - registry::STALE_UPLOAD - std::time::Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(root.join("uploads").join(&stale_id).join("data"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let report = registry::gc(&root, false).unwrap();
    assert_eq!(report.uploads_removed, 1);
    assert!(!root.join("uploads").join(&stale_id).exists());
    assert!(root.join("uploads").join(&fresh_id).exists());
}
