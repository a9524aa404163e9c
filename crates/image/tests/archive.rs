//! `docker save` / `docker load` through real stores.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::io::Read;

use common::{DataRoot, busybox_tar, file, raw_entry, symlink, tiny_tar};
use image::{ImageError, ImageStore, ImportOptions, archive, reference};
use serde_json::json;
use sha2::{Digest, Sha256};

fn import(store: &ImageStore, tar: Vec<u8>, name: &str) -> String {
    store
        .import(
            &tar[..],
            ImportOptions {
                reference: Some(reference::parse(name).unwrap()),
                ..Default::default()
            },
        )
        .unwrap()
}

/// Entry names and contents of a tar.
fn entries(data: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut a = tar::Archive::new(data);
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut buf = Vec::new();
            e.read_to_end(&mut buf).unwrap();
            (name, buf)
        })
        .collect()
}

fn rebuild_without(data: &[u8], skip: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, content) in entries(data) {
        if name == skip {
            continue;
        }
        if name.ends_with('/') {
            common::dir(&mut b, &name, 0o755);
        } else {
            file(&mut b, &name, 0o644, &content);
        }
    }
    b.into_inner().unwrap()
}

#[test]
fn save_load_round_trip_of_two_images() {
    let src_root = DataRoot::new();
    let src = ImageStore::open(&src_root.path()).unwrap();
    let one = import(&src, busybox_tar(), "one:1");
    src.tag("one:1", &reference::parse("one:extra").unwrap())
        .unwrap();
    let two = import(&src, tiny_tar("two"), "two");
    let mut out = Vec::new();
    archive::save(
        &src,
        &["one:1".into(), "two".into(), "one:extra".into()],
        &mut out,
    )
    .unwrap();

    let names: BTreeSet<String> = entries(&out).into_iter().map(|(n, _)| n).collect();
    for want in ["manifest.json", "index.json", "oci-layout", "repositories"] {
        assert!(names.contains(want), "{want} missing: {names:?}");
    }
    let manifest: serde_json::Value = serde_json::from_slice(
        &entries(&out)
            .into_iter()
            .find(|(n, _)| n == "manifest.json")
            .unwrap()
            .1,
    )
    .unwrap();
    assert_eq!(manifest[0]["RepoTags"], json!(["one:1", "one:extra"]));
    assert_eq!(
        manifest[0]["Config"],
        json!(format!(
            "blobs/sha256/{}",
            one.trim_start_matches("sha256:")
        ))
    );

    let dst_root = DataRoot::new();
    let dst = ImageStore::open(&dst_root.path()).unwrap();
    let lines = std::sync::Mutex::new(Vec::new());
    let loaded = archive::load(
        &dst,
        &out[..],
        Some(&|p: image::distribution::Progress| lines.lock().unwrap().push(p.status)),
    )
    .unwrap();
    assert_eq!(loaded, vec!["one:1", "one:extra", "two:latest"]);
    assert_eq!(lines.lock().unwrap()[0], "Loaded image: one:1");
    for (name, id) in [("one:1", &one), ("one:extra", &one), ("two", &two)] {
        let got = dst.get(name).unwrap();
        assert_eq!(&got.id, id);
        assert_eq!(got.manifest_digest, src.get(name).unwrap().manifest_digest);
    }
    let img = dst.get("one:1").unwrap();
    assert_eq!(
        fs::read(dst.layer_path(&img.chain_ids[0]).join("bin/busybox")).unwrap(),
        fs::read("/bin/busybox").unwrap()
    );

    // The OCI view alone carries the same images and names.
    let oci_only = rebuild_without(&out, "manifest.json");
    let oci_root = DataRoot::new();
    let oci = ImageStore::open(&oci_root.path()).unwrap();
    let loaded = archive::load(&oci, &oci_only[..], None).unwrap();
    assert_eq!(loaded, vec!["one:1", "one:extra", "two:latest"]);
    assert_eq!(oci.get("two").unwrap().id, two);
    assert_eq!(
        oci.get("one:1").unwrap().manifest_digest,
        src.get("one:1").unwrap().manifest_digest
    );
}

#[test]
fn loads_legacy_docker_archive() {
    let layer = tiny_tar("legacy");
    let diff_id = format!("sha256:{}", hex::encode(Sha256::digest(&layer)));
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]}
    }))
    .unwrap();
    let id_hex = hex::encode(Sha256::digest(&config));
    let mut b = tar::Builder::new(Vec::new());
    file(&mut b, &format!("{id_hex}.json"), 0o644, &config);
    common::dir(&mut b, "abc/", 0o755);
    file(&mut b, "abc/layer.tar", 0o644, &layer);
    let manifest = json!([{"Config": format!("{id_hex}.json"), "RepoTags": ["old:v1"], "Layers": ["abc/layer.tar"]}]);
    file(
        &mut b,
        "manifest.json",
        0o644,
        manifest.to_string().as_bytes(),
    );
    let data = b.into_inner().unwrap();

    let root = DataRoot::new();
    let store = ImageStore::open(&root.path()).unwrap();
    assert_eq!(
        archive::load(&store, &data[..], None).unwrap(),
        vec!["old:v1"]
    );
    let img = store.get("old:v1").unwrap();
    assert_eq!(img.id, format!("sha256:{id_hex}"));
    assert_eq!(img.config.config.cmd, Some(vec!["/bin/true".to_string()]));
}

fn assert_refused(data: Vec<u8>) {
    let root = DataRoot::new();
    let store = ImageStore::open(&root.path()).unwrap();
    let before = root.inventory();
    let err = archive::load(&store, &data[..], None).unwrap_err();
    assert!(matches!(err, ImageError::InvalidArchive(_)), "{err}");
    assert_eq!(root.inventory(), before);
    assert!(store.list().unwrap().is_empty());
    // The temporary extraction is gone too.
    let leftovers: Vec<_> = fs::read_dir(root.path().join("images"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn hostile_archives_are_refused() {
    let parent = tempfile::tempdir().unwrap();
    // A path climbing out of the extraction directory.
    let mut b = tar::Builder::new(Vec::new());
    raw_entry(
        &mut b,
        "../../../../../../escaped",
        tar::EntryType::Regular,
        "",
        0o644,
        b"x",
    );
    assert_refused(b.into_inner().unwrap());
    assert!(!parent.path().join("escaped").exists());

    // An absolute path.
    let mut b = tar::Builder::new(Vec::new());
    raw_entry(
        &mut b,
        "/tmp/berth-escape-test",
        tar::EntryType::Regular,
        "",
        0o644,
        b"x",
    );
    assert_refused(b.into_inner().unwrap());
    assert!(!std::path::Path::new("/tmp/berth-escape-test").exists());

    // manifest.json naming a file outside the archive.
    let mut b = tar::Builder::new(Vec::new());
    let m = json!([{"Config": "../../../../etc/hostname", "RepoTags": ["x:1"], "Layers": []}]);
    file(&mut b, "manifest.json", 0o644, m.to_string().as_bytes());
    assert_refused(b.into_inner().unwrap());

    // A symlink in the archive pointing at a host file.
    let mut b = tar::Builder::new(Vec::new());
    symlink(&mut b, "cfg.json", "/etc/hostname");
    let m = json!([{"Config": "cfg.json", "RepoTags": ["x:1"], "Layers": []}]);
    file(&mut b, "manifest.json", 0o644, m.to_string().as_bytes());
    assert_refused(b.into_inner().unwrap());

    // A layer whose own entries climb out goes through the safe unpacker.
    let mut layer = tar::Builder::new(Vec::new());
    raw_entry(
        &mut layer,
        "../evil",
        tar::EntryType::Regular,
        "",
        0o644,
        b"x",
    );
    let layer = layer.into_inner().unwrap();
    let diff_id = format!("sha256:{}", hex::encode(Sha256::digest(&layer)));
    let config = json!({"architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id]}})
    .to_string();
    let mut b = tar::Builder::new(Vec::new());
    file(&mut b, "c.json", 0o644, config.as_bytes());
    file(&mut b, "l/layer.tar", 0o644, &layer);
    let m = json!([{"Config": "c.json", "RepoTags": ["x:1"], "Layers": ["l/layer.tar"]}]);
    file(&mut b, "manifest.json", 0o644, m.to_string().as_bytes());
    assert_refused(b.into_inner().unwrap());
}
