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

/// A legacy archive of `layers` (name → tar) listed in that order, the
/// manifest first or last (producers differ), and what it should load as.
fn legacy_archive(layers: &[(&str, &[u8])], manifest_first: bool) -> (Vec<u8>, String) {
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|(_, l)| {
            let mut plain = Vec::new();
            image::compression::decompress(*l)
                .unwrap()
                .read_to_end(&mut plain)
                .unwrap();
            format!("sha256:{}", hex::encode(Sha256::digest(&plain)))
        })
        .collect();
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids}
    }))
    .unwrap();
    let id_hex = hex::encode(Sha256::digest(&config));
    let names: Vec<&str> = layers.iter().map(|(n, _)| *n).collect();
    let manifest =
        json!([{"Config": format!("{id_hex}.json"), "RepoTags": ["one:pass"], "Layers": names}])
            .to_string();
    let mut b = tar::Builder::new(Vec::new());
    if manifest_first {
        file(&mut b, "manifest.json", 0o644, manifest.as_bytes());
    }
    file(&mut b, &format!("{id_hex}.json"), 0o644, &config);
    for (name, layer) in layers {
        file(&mut b, name, 0o644, layer);
    }
    if !manifest_first {
        file(&mut b, "manifest.json", 0o644, manifest.as_bytes());
    }
    (b.into_inner().unwrap(), format!("sha256:{id_hex}"))
}

/// Layers are unpacked while the archive streams, before the manifest says
/// what they are: a whiteout still drops in a bottom layer and hides in an
/// upper one, and a later entry for a layer's path replaces it.
#[test]
fn layers_unpacked_while_streaming_keep_their_positions_meaning() {
    use std::os::unix::fs::FileTypeExt;
    let mut l = tar::Builder::new(Vec::new());
    file(&mut l, "kept", 0o644, b"kept");
    raw_entry(&mut l, ".wh.gone", tar::EntryType::Regular, "", 0o644, b"");
    let with_whiteout = l.into_inner().unwrap();
    let other = tiny_tar("other");
    for manifest_first in [true, false] {
        // Bottom: the whiteout is dropped; upper: a char 0/0 device.
        let (data, id) = legacy_archive(
            &[
                ("a/layer.tar", &with_whiteout),
                ("b/layer.tar", &with_whiteout),
            ],
            manifest_first,
        );
        let root = DataRoot::new();
        let store = ImageStore::open(&root.path()).unwrap();
        assert_eq!(
            archive::load(&store, &data[..], None).unwrap(),
            ["one:pass"]
        );
        let img = store.get("one:pass").unwrap();
        assert_eq!(img.id, id);
        let bottom = store.layer_path(&img.chain_ids[0]);
        assert_eq!(fs::read(bottom.join("kept")).unwrap(), b"kept");
        assert!(fs::symlink_metadata(bottom.join("gone")).is_err());
        let upper = store.layer_path(&img.chain_ids[1]);
        let gone = fs::symlink_metadata(upper.join("gone")).unwrap();
        assert!(gone.file_type().is_char_device(), "{manifest_first}");

        // The same layer path twice: the last entry is the layer.
        let (replaced, id) = legacy_archive(&[("a/layer.tar", &with_whiteout)], manifest_first);
        let mut b = tar::Builder::new(Vec::new());
        for (name, content) in entries(&replaced) {
            if name == "a/layer.tar" {
                file(&mut b, &name, 0o644, &other);
            }
            file(&mut b, &name, 0o644, &content);
        }
        let data = b.into_inner().unwrap();
        let root = DataRoot::new();
        let store = ImageStore::open(&root.path()).unwrap();
        archive::load(&store, &data[..], None).unwrap();
        let img = store.get("one:pass").unwrap();
        assert_eq!(img.id, id);
        assert!(store.layer_path(&img.chain_ids[0]).join("kept").exists());
    }
}

/// A hardlink or symlink to a layer file finds it staged; a layer both
/// images share is unpacked for each.
#[test]
fn linked_and_shared_layers_load() {
    let layer = common::gzip(&tiny_tar("shared"));
    let (data, id) = legacy_archive(&[("a/layer.tar", &layer)], false);
    let mut b = tar::Builder::new(Vec::new());
    for (name, content) in entries(&data) {
        if name == "manifest.json" {
            continue;
        }
        file(&mut b, &name, 0o644, &content);
    }
    common::hardlink(&mut b, "b/layer.tar", "a/layer.tar");
    symlink(&mut b, "c/layer.tar", "../a/layer.tar");
    let m = json!([
        {"Config": format!("{}.json", id.trim_start_matches("sha256:")), "RepoTags": ["h:1"], "Layers": ["b/layer.tar"]},
        {"Config": format!("{}.json", id.trim_start_matches("sha256:")), "RepoTags": ["s:1"], "Layers": ["c/layer.tar"]},
        {"Config": format!("{}.json", id.trim_start_matches("sha256:")), "RepoTags": ["a:1"], "Layers": ["a/layer.tar"]}
    ]);
    file(&mut b, "manifest.json", 0o644, m.to_string().as_bytes());
    let data = b.into_inner().unwrap();
    let root = DataRoot::new();
    let store = ImageStore::open(&root.path()).unwrap();
    assert_eq!(
        archive::load(&store, &data[..], None).unwrap(),
        ["h:1", "s:1", "a:1"]
    );
    for name in ["h:1", "s:1", "a:1"] {
        let img = store.get(name).unwrap();
        assert_eq!(img.id, id);
        assert!(
            store
                .layer_path(&img.chain_ids[0])
                .join("hello.txt")
                .exists()
        );
    }
}

/// Broken archives found while a layer streams leave nothing behind: the
/// outer archive cut inside a layer, a layer whose digest the config does
/// not list, a layer with a hostile entry staged before the manifest.
#[test]
fn archives_broken_inside_a_streaming_layer_are_refused() {
    let big = {
        let mut l = tar::Builder::new(Vec::new());
        file(&mut l, "big", 0o644, &vec![5u8; 64 << 10]);
        l.into_inner().unwrap()
    };
    let (mut cut, _) = legacy_archive(&[("a/layer.tar", &big)], true);
    cut.truncate(4096 + 8192);
    assert_refused(cut);

    let (data, _) = legacy_archive(&[("a/layer.tar", &big)], true);
    let tampered: Vec<u8> = entries(&data)
        .into_iter()
        .fold(
            tar::Builder::new(Vec::new()),
            |mut b, (name, mut content)| {
                if name == "a/layer.tar" {
                    content[600] ^= 1;
                }
                file(&mut b, &name, 0o644, &content);
                b
            },
        )
        .into_inner()
        .unwrap();
    let root = DataRoot::new();
    let store = ImageStore::open(&root.path()).unwrap();
    let before = root.inventory();
    assert!(archive::load(&store, &tampered[..], None).is_err());
    assert_eq!(root.inventory(), before);
    assert!(store.list().unwrap().is_empty());

    let mut evil = tar::Builder::new(Vec::new());
    file(&mut evil, "fine", 0o644, &[1u8; 2048]);
    raw_entry(
        &mut evil,
        "../evil",
        tar::EntryType::Regular,
        "",
        0o644,
        b"x",
    );
    let evil = evil.into_inner().unwrap();
    let (data, _) = legacy_archive(&[("a/layer.tar", &evil)], true);
    assert_refused(data);
}
