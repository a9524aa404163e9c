//! Interop: skopeo pushes an OCI layout to `berth registry serve` and pulls
//! it back, byte for byte. Skips (with the reason printed) without skopeo.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

fn sha(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn put_blob(layout: &Path, data: &[u8]) -> String {
    let d = sha(data);
    std::fs::write(layout.join("blobs/sha256").join(&d[7..]), data).unwrap();
    d
}

/// A one-layer image in OCI layout form; returns (manifest digest, config
/// digest, layer digest).
fn make_layout(layout: &Path) -> (String, String, String) {
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let mut tar = tar::Builder::new(Vec::new());
    let content = b"hello from a berth registry test\n";
    let mut h = tar::Header::new_gnu();
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_cksum();
    tar.append_data(&mut h, "hello.txt", &content[..]).unwrap();
    let layer = tar.into_inner().unwrap();
    let ld = put_blob(layout, &layer);
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [ld]},
    })
    .to_string();
    let cd = put_blob(layout, config.as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": layer.len()}],
    })
    .to_string();
    let md = put_blob(layout, manifest.as_bytes());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md,
                       "size": manifest.len(), "annotations": {"org.opencontainers.image.ref.name": "t"}}],
    });
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    (md, cd, ld)
}

/// Kills the server even when an assertion fails.
struct ServerGuard(Child);

impl Drop for ServerGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `berth registry serve` on a free loopback port; returns the
/// guard and `HOST:PORT` as the server reported it.
fn serve(dir: &Path, extra: &[&str]) -> (ServerGuard, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["registry", "serve", "--addr", "127.0.0.1:0", "--root"])
        .arg(dir.join("root"))
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()
        .expect("start berth registry");
    let stderr = child.stderr.take().unwrap();
    let guard = ServerGuard(child);
    let mut line = String::new();
    BufReader::new(stderr).read_line(&mut line).unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    (guard, addr)
}

fn have_skopeo() -> bool {
    if Command::new("skopeo").arg("--version").output().is_ok() {
        return true;
    }
    eprintln!("skipping: skopeo is not installed (apt-get install -y skopeo)");
    false
}

fn skopeo(args: &[&str]) -> std::process::Output {
    let out = Command::new("skopeo")
        .args(args)
        .output()
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn skopeo_push_and_pull_round_trip() {
    if !have_skopeo() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (md, cd, ld) = make_layout(&dir.path().join("src"));

    let (guard, addr) = serve(dir.path(), &[]);

    let src = format!("oci:{}:t", dir.path().join("src").display());
    let remote = format!("docker://{addr}/berth/x:t");
    // --preserve-digests: without it skopeo gzips the uncompressed layer and
    // rewrites the manifest, and the round trip could not be compared.
    skopeo(&[
        "copy",
        "--preserve-digests",
        "--dest-tls-verify=false",
        &src,
        &remote,
    ]);

    let tags = skopeo(&[
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{addr}/berth/x"),
    ]);
    let tags: serde_json::Value = serde_json::from_slice(&tags.stdout).unwrap();
    assert_eq!(tags["Tags"], serde_json::json!(["t"]));

    let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &remote]);
    assert_eq!(sha(&raw.stdout), md, "the manifest is stored unchanged");

    let back = dir.path().join("back");
    skopeo(&[
        "copy",
        "--preserve-digests",
        "--dest-oci-accept-uncompressed-layers",
        "--src-tls-verify=false",
        &remote,
        &format!("oci:{}:t", back.display()),
    ]);
    for d in [&md, &cd, &ld] {
        let a = std::fs::read(dir.path().join("src/blobs/sha256").join(&d[7..])).unwrap();
        let b = std::fs::read(back.join("blobs/sha256").join(&d[7..]))
            .unwrap_or_else(|e| panic!("{d} missing after pull: {e}"));
        assert_eq!(a, b, "{d}");
    }
    drop(guard);
}

#[test]
fn skopeo_push_with_basic_auth() {
    if !have_skopeo() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    make_layout(&dir.path().join("src"));
    let htpasswd = dir.path().join("htpasswd");
    let hash = bcrypt::hash("pw", 4).unwrap();
    std::fs::write(&htpasswd, format!("alice:{hash}\n")).unwrap();
    let (guard, addr) = serve(dir.path(), &["--htpasswd", htpasswd.to_str().unwrap()]);
    let src = format!("oci:{}:t", dir.path().join("src").display());
    let remote = format!("docker://{addr}/private:t");

    let denied = Command::new("skopeo")
        .args([
            "copy",
            "--preserve-digests",
            "--dest-tls-verify=false",
            "--dest-no-creds",
        ])
        .args([&src, &remote])
        .output()
        .unwrap();
    assert!(
        !denied.status.success(),
        "push without credentials must fail"
    );
    let why = String::from_utf8_lossy(&denied.stderr).to_lowercase();
    assert!(
        why.contains("unauthorized") || why.contains("401") || why.contains("authentication"),
        "{why}"
    );
    skopeo(&[
        "copy",
        "--preserve-digests",
        "--dest-tls-verify=false",
        "--dest-creds",
        "alice:pw",
        &src,
        &remote,
    ]);
    let tags = skopeo(&[
        "list-tags",
        "--tls-verify=false",
        "--creds",
        "alice:pw",
        &format!("docker://{addr}/private"),
    ]);
    let tags: serde_json::Value = serde_json::from_slice(&tags.stdout).unwrap();
    assert_eq!(tags["Tags"], serde_json::json!(["t"]));
    drop(guard);
}
