//! Pull and push against a real `registry` server running in-process.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use common::{DataRoot, busybox_tar, file, gzip, raw_entry, tiny_tar};
use image::distribution::{self, Credentials, Progress, PullOptions, PushOptions, RegistryClient};
use image::reference;
use image::{ImageError, ImageStore, ImportOptions};
use serde_json::json;
use sha2::{Digest, Sha256};

/// A registry on 127.0.0.1:0 with its own root; shut down on drop.
struct Registry {
    rt: tokio::runtime::Runtime,
    server: Option<registry::Server>,
    root: tempfile::TempDir,
    host: String,
}

impl Registry {
    fn start(htpasswd: Option<PathBuf>) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let root = tempfile::tempdir().unwrap();
        let mut cfg = registry::Config::new("127.0.0.1:0", root.path());
        cfg.htpasswd = htpasswd;
        let server = rt.block_on(registry::start(cfg)).expect("registry starts");
        let host = server.local_addr().to_string();
        Registry {
            rt,
            server: Some(server),
            root,
            host,
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            self.rt.block_on(s.shutdown());
        }
    }
}

fn sha(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn import(store: &ImageStore, tar: Vec<u8>, name: &str, arch: Option<&str>) -> String {
    store
        .import(
            &tar[..],
            ImportOptions {
                reference: Some(reference::parse(name).unwrap()),
                architecture: arch.map(str::to_string),
                ..Default::default()
            },
        )
        .unwrap()
}

/// Collects progress events for later assertions.
fn recorder() -> (Arc<Mutex<Vec<Progress>>>, distribution::ProgressFn) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let e = events.clone();
    (events, Arc::new(move |p| e.lock().unwrap().push(p)))
}

fn statuses(events: &Mutex<Vec<Progress>>) -> Vec<String> {
    events
        .lock()
        .unwrap()
        .iter()
        .map(|p| p.status.clone())
        .collect()
}

fn insecure_pull() -> PullOptions {
    PullOptions {
        insecure: true,
        ..Default::default()
    }
}

fn insecure_push() -> PushOptions {
    PushOptions {
        insecure: true,
        ..Default::default()
    }
}

#[test]
fn push_remove_pull_round_trip() {
    let reg = Registry::start(None);
    let root = DataRoot::new();
    let store = ImageStore::open(&root.path()).unwrap();
    let id = import(&store, busybox_tar(), "bb:1", None);
    let target = format!("{}/test/bb:1", reg.host);

    let (events, f) = recorder();
    let pushed = distribution::push(
        &store,
        "bb:1",
        &target,
        &PushOptions {
            progress: Some(f),
            ..insecure_push()
        },
    )
    .unwrap();
    let st = statuses(&events);
    assert!(st.contains(&"Preparing".to_string()), "{st:?}");
    assert!(st.contains(&"Pushed".to_string()), "{st:?}");
    assert_eq!(
        st.last().unwrap(),
        &format!("1: digest: {} size: {}", pushed.digest, pushed.size)
    );
    assert_eq!(pushed.digest, store.get("bb:1").unwrap().manifest_digest);

    // A second push finds the layer there already.
    let (events, f) = recorder();
    distribution::push(
        &store,
        "bb:1",
        &target,
        &PushOptions {
            progress: Some(f),
            ..insecure_push()
        },
    )
    .unwrap();
    assert!(statuses(&events).contains(&"Layer already exists".to_string()));

    store
        .remove(&id, true, &|_| image::ImageUse::Unused)
        .unwrap();
    assert!(store.get(&id).is_err());
    let (blobs, snaps, _) = root.inventory();
    assert!(blobs.is_empty() && snaps.is_empty(), "{blobs:?} {snaps:?}");

    let (events, f) = recorder();
    let pulled = distribution::pull(
        &store,
        &target,
        &PullOptions {
            progress: Some(f),
            ..insecure_pull()
        },
    )
    .unwrap();
    assert_eq!(pulled.id, id);
    assert_eq!(pulled.digest, pushed.digest);
    let img = store.get(&target).unwrap();
    assert_eq!(img.id, id);
    assert_eq!(img.manifest_digest, pushed.digest);
    assert!(
        img.repo_digests
            .contains(&format!("{}/test/bb@{}", reg.host, pushed.digest)),
        "{:?}",
        img.repo_digests
    );
    let json: Vec<serde_json::Value> = events.lock().unwrap().iter().map(|p| p.to_json()).collect();
    assert_eq!(
        json[0],
        json!({"status": "Pulling from test/bb", "id": "1"})
    );
    assert!(json.iter().any(|j| j["status"] == "Pull complete"));
    assert_eq!(
        json[json.len() - 2],
        json!({"status": format!("Digest: {}", pushed.digest)})
    );
    assert_eq!(
        json[json.len() - 1],
        json!({"status": format!("Status: Downloaded newer image for {target}")})
    );
    let layer = store.layer_path(&img.chain_ids[0]);
    assert_eq!(
        fs::read(layer.join("bin/busybox")).unwrap(),
        fs::read("/bin/busybox").unwrap()
    );

    // Pulling again downloads nothing.
    let (events, f) = recorder();
    distribution::pull(
        &store,
        &target,
        &PullOptions {
            progress: Some(f),
            ..insecure_pull()
        },
    )
    .unwrap();
    let st = statuses(&events);
    assert!(st.contains(&"Already exists".to_string()), "{st:?}");
    assert!(!st.contains(&"Downloading".to_string()), "{st:?}");
    assert_eq!(
        st.last().unwrap(),
        &format!("Status: Image is up to date for {target}")
    );
}

/// Uploads a gzip-layered image straight through the client; returns
/// (config digest = image id, manifest digest, manifest size).
fn upload_raw_image(
    client: &RegistryClient,
    tars: &[Vec<u8>],
    arch: &str,
) -> (String, String, u64) {
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    for t in tars {
        let gz = gzip(t);
        let d = sha(&gz);
        client
            .upload_blob(&d, || Ok(reqwest::blocking::Body::from(gz.clone())))
            .unwrap();
        layers.push(json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": d, "size": gz.len()
        }));
        diff_ids.push(sha(t));
    }
    let config = serde_json::to_vec(&json!({
        "architecture": arch, "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids}
    }))
    .unwrap();
    let cd = sha(&config);
    client
        .upload_blob(&cd, || Ok(reqwest::blocking::Body::from(config.clone())))
        .unwrap();
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
        "layers": layers
    }))
    .unwrap();
    let md = sha(&manifest);
    client
        .put_manifest(&md, "application/vnd.oci.image.manifest.v1+json", &manifest)
        .unwrap();
    (cd, md, manifest.len() as u64)
}

#[test]
fn index_pull_picks_platform() {
    let reg = Registry::start(None);
    let root = DataRoot::new();
    let store = ImageStore::open(&root.path()).unwrap();
    let name = format!("{}/multi", reg.host);
    let client =
        RegistryClient::connect(&reference::parse(&name).unwrap(), None, true, true).unwrap();

    // The arm64 image deletes the lower layer's file with a whiteout.
    let mut upper = tar::Builder::new(Vec::new());
    raw_entry(
        &mut upper,
        ".wh.hello.txt",
        tar::EntryType::Regular,
        "",
        0o644,
        b"",
    );
    file(&mut upper, "arm.txt", 0o644, b"arm64");
    let upper = upper.into_inner().unwrap();
    let (amd_id, amd_md, amd_size) = upload_raw_image(&client, &[tiny_tar("amd64")], "amd64");
    let (arm_id, arm_md, arm_size) =
        upload_raw_image(&client, &[tiny_tar("arm64 base"), upper], "arm64");
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": amd_md, "size": amd_size,
             "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": arm_md, "size": arm_size,
             "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}}
        ]
    }))
    .unwrap();
    client
        .put_manifest("v1", "application/vnd.oci.image.index.v1+json", &index)
        .unwrap();
    let target = format!("{name}:v1");

    let arm = distribution::pull(
        &store,
        &target,
        &PullOptions {
            platform: Some("linux/arm64".into()),
            ..insecure_pull()
        },
    )
    .unwrap();
    assert_eq!(arm.id, arm_id);
    assert_eq!(arm.digest, sha(&index));
    let img = store.get(&arm.id).unwrap();
    assert_eq!(img.manifest_digest, arm_md);
    assert_eq!(img.config.architecture, "arm64");
    // The upper layer holds an overlay whiteout for the lower file.
    let top = store.layer_path(&img.chain_ids[1]);
    let meta = fs::symlink_metadata(top.join("hello.txt")).unwrap();
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    assert!(meta.file_type().is_char_device() && meta.rdev() == 0);
    assert_eq!(fs::read(top.join("arm.txt")).unwrap(), b"arm64");

    let amd = distribution::pull(&store, &target, &insecure_pull()).unwrap();
    assert_eq!(amd.id, amd_id);
    assert_eq!(store.get(&target).unwrap().id, amd_id);
    assert_eq!(
        fs::read(
            store
                .layer_path(&store.get(&amd_id).unwrap().chain_ids[0])
                .join("hello.txt")
        )
        .unwrap(),
        b"amd64"
    );

    let none = distribution::pull(
        &store,
        &target,
        &PullOptions {
            platform: Some("linux/s390x".into()),
            ..insecure_pull()
        },
    );
    assert!(matches!(none, Err(ImageError::NotFound(_))), "{none:?}");
}

#[test]
fn tampered_blob_is_refused_and_nothing_stored() {
    let reg = Registry::start(None);
    let root = DataRoot::new();
    let store = ImageStore::open(&root.path()).unwrap();
    let id = import(&store, busybox_tar(), "bb:1", None);
    let target = format!("{}/t/bb:1", reg.host);
    distribution::push(&store, "bb:1", &target, &insecure_push()).unwrap();
    let layer_digest = store.get(&id).unwrap().diff_ids[0].clone();
    store
        .remove(&id, true, &|_| image::ImageUse::Unused)
        .unwrap();
    let before = root.inventory();

    // Flip one byte inside the busybox binary: still a valid tar.
    let blob = reg
        .root
        .path()
        .join("blobs/sha256")
        .join(layer_digest.trim_start_matches("sha256:"));
    let mut data = fs::read(&blob).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0xff;
    fs::write(&blob, &data).unwrap();

    let err = distribution::pull(&store, &target, &insecure_pull()).unwrap_err();
    assert!(
        matches!(&err, ImageError::DigestMismatch { expected, .. } if *expected == layer_digest),
        "{err}"
    );
    assert_eq!(root.inventory(), before);
    assert!(store.get(&target).is_err());
    let ingest = fs::read_dir(root.path().join("content/ingest"))
        .unwrap()
        .count();
    assert_eq!(ingest, 0);
}

#[test]
fn basic_auth_registry() {
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = dir.path().join("htpasswd");
    let hash = bcrypt::hash("s3cret", 4).unwrap();
    fs::write(&htpasswd, format!("alice:{hash}\n")).unwrap();
    let reg = Registry::start(Some(htpasswd));
    let root = DataRoot::new();
    let store = ImageStore::open(&root.path()).unwrap();
    import(&store, tiny_tar("auth"), "a:1", None);
    let target = format!("{}/auth/a:1", reg.host);
    let good = Some(Credentials::Basic {
        username: "alice".into(),
        password: "s3cret".into(),
    });

    let anon = distribution::push(&store, "a:1", &target, &insecure_push());
    assert!(matches!(anon, Err(ImageError::Unauthorized(_))), "{anon:?}");
    distribution::push(
        &store,
        "a:1",
        &target,
        &PushOptions {
            auth: good.clone(),
            ..insecure_push()
        },
    )
    .unwrap();

    let other = DataRoot::new();
    let fresh = ImageStore::open(&other.path()).unwrap();
    let anon = distribution::pull(&fresh, &target, &insecure_pull());
    assert!(matches!(anon, Err(ImageError::Unauthorized(_))), "{anon:?}");
    let wrong = distribution::pull(
        &fresh,
        &target,
        &PullOptions {
            auth: Some(Credentials::Basic {
                username: "alice".into(),
                password: "nope".into(),
            }),
            ..insecure_pull()
        },
    );
    assert!(
        matches!(wrong, Err(ImageError::Unauthorized(_))),
        "{wrong:?}"
    );
    let ok = distribution::pull(
        &fresh,
        &target,
        &PullOptions {
            auth: good,
            ..insecure_pull()
        },
    )
    .unwrap();
    assert_eq!(ok.id, store.get("a:1").unwrap().id);
}
