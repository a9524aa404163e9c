//! Import, resolution, tagging, removal and crash repair on real data roots.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use common::*;
use image::{DeleteItem, ImageError, ImageStore, ImageUse, ImportOptions, reference};

fn opts(r: &str) -> ImportOptions {
    ImportOptions {
        reference: Some(reference::parse(r).unwrap()),
        ..Default::default()
    }
}

const NOT_USED: &dyn Fn(&str) -> ImageUse = &|_| ImageUse::Unused;

#[test]
fn import_plain_then_gzip_reuses_the_snapshot() {
    let root = DataRoot::new();
    let store = ImageStore::open(&root.path()).unwrap();
    let tar = busybox_tar();
    let mut o = opts("busybox");
    o.changes = vec!["CMD [\"sh\"]".into(), "ENV A=1".into()];
    o.comment = Some("from a test".into());
    let id = store.import(&tar[..], o).unwrap();

    let img = store.get("busybox").unwrap();
    assert_eq!(img.id, id);
    assert_eq!(img.repo_tags, vec!["busybox:latest"]);
    assert!(img.repo_digests.is_empty());
    assert_eq!(img.config.os, "linux");
    assert_eq!(img.config.architecture, "amd64");
    assert_eq!(img.config.rootfs.kind, "layers");
    assert_eq!(
        img.config.config.cmd.as_deref(),
        Some(&["sh".to_string()][..])
    );
    assert_eq!(
        img.config.config.env.as_deref(),
        Some(&["A=1".to_string()][..])
    );
    assert_eq!(img.config.history[0].created_by.as_deref(), Some("import"));
    assert_eq!(
        img.config.history[0].comment.as_deref(),
        Some("from a test")
    );
    assert!(img.created > 1_700_000_000);
    let busybox_len = fs::metadata("/bin/busybox").unwrap().len();
    assert_eq!(
        img.size,
        busybox_len + 5 + (PASSWD.len() + GROUP.len()) as u64
    );

    // The image id is the digest of the stored config blob; the layer blob's
    // digest is the diff id (sha256 of the uncompressed tar).
    let r = root.path();
    let hex = |d: &str| d.trim_start_matches("sha256:").to_string();
    let config_blob = fs::read(r.join("content/blobs/sha256").join(hex(&id))).unwrap();
    assert_eq!(
        format!("sha256:{}", sha_hex(&config_blob)),
        id,
        "id = sha256(config)"
    );
    assert_eq!(img.diff_ids, vec![format!("sha256:{}", sha_hex(&tar))]);
    let json: serde_json::Value = serde_json::from_slice(&config_blob).unwrap();
    assert_eq!(json["rootfs"]["diff_ids"][0], img.diff_ids[0].as_str());
    assert_eq!(json["config"]["Cmd"][0], "sh");
    let refs: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(r.join("images/references.json")).unwrap())
            .unwrap();
    assert_eq!(
        refs["docker.io/library/busybox:latest"]["image"],
        id.as_str()
    );

    // The unpacked layer keeps content, modes, owners, links and mtimes.
    let fs_root = store.layer_path(&img.chain_ids[0]);
    let bb = fs::symlink_metadata(fs_root.join("bin/busybox")).unwrap();
    assert_eq!(bb.len(), busybox_len);
    assert_eq!(bb.permissions().mode() & 0o7777, 0o755);
    assert_eq!(bb.mtime(), MTIME as i64);
    assert_eq!(
        fs::read_link(fs_root.join("bin/sh")).unwrap().to_str(),
        Some("busybox")
    );
    let hard = fs::metadata(fs_root.join("bin/busybox.hard")).unwrap();
    assert_eq!(hard.ino(), bb.ino());
    let owned = fs::metadata(fs_root.join("home/user/owned.txt")).unwrap();
    assert_eq!(
        (owned.uid(), owned.gid(), owned.mode() & 0o7777),
        (1000, 1000, 0o640)
    );
    let tmp = fs::metadata(fs_root.join("tmp")).unwrap();
    assert_eq!(tmp.mode() & 0o7777, 0o1777);
    assert_eq!(
        tmp.mtime(),
        MTIME as i64,
        "directory mtimes are set after their children"
    );
    assert_eq!(
        fs::read_to_string(fs_root.join("etc/passwd")).unwrap(),
        PASSWD
    );

    // Same layer gzipped: new image, same diff id, same snapshot directory.
    let snap_ino = fs::metadata(&fs_root).unwrap().ino();
    let (_, snaps_before, _) = root.inventory();
    let id2 = store
        .import(&gzip(&tar)[..], opts("localhost:5000/bb:gz"))
        .unwrap();
    let img2 = store.get("localhost:5000/bb:gz").unwrap();
    assert_eq!(img2.id, id2);
    assert_eq!(img2.repo_tags, vec!["localhost:5000/bb:gz"]);
    assert_eq!(img2.diff_ids, img.diff_ids);
    let (_, snaps_after, _) = root.inventory();
    assert_eq!(snaps_before, snaps_after);
    assert_eq!(snaps_after.len(), 1);
    assert_eq!(
        fs::metadata(store.layer_path(&img2.chain_ids[0]))
            .unwrap()
            .ino(),
        snap_ino
    );

    let list = store.list().unwrap();
    assert_eq!(list.len(), if id == id2 { 1 } else { 2 });
    assert!(
        list.iter()
            .any(|s| s.repo_tags.contains(&"busybox:latest".to_string()))
    );

    // Everything survives a reopen.
    drop(store);
    let store = ImageStore::open(&root.path()).unwrap();
    assert_eq!(store.get("busybox:latest").unwrap().id, id);
    assert_eq!(
        store.get("localhost:5000/bb:gz").unwrap().config,
        img2.config
    );
}

fn sha_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

#[test]
fn resolves_names_ids_and_prefixes() {
    let root = DataRoot::new();
    let store = ImageStore::open(&root.path()).unwrap();
    // Import until two ids share their first hex digit (pigeonhole: ≤ 17).
    let mut ids: Vec<String> = Vec::new();
    let clash = loop {
        let n = ids.len();
        let id = store
            .import(&tiny_tar(&format!("v{n}"))[..], opts(&format!("app:v{n}")))
            .unwrap();
        let first = id.as_bytes()[7];
        if let Some(other) = ids.iter().find(|o| o.as_bytes()[7] == first) {
            break (other.clone(), id);
        }
        ids.push(id);
    };
    let id = &clash.1;
    let hex = &id[7..];
    assert_eq!(store.get(id).unwrap().id, *id);
    assert_eq!(store.get(hex).unwrap().id, *id);
    let common_len = clash
        .0
        .bytes()
        .zip(clash.1.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    let unique = &id[7..common_len + 1];
    assert_eq!(store.get(unique).unwrap().id, *id);
    assert_eq!(store.get(&format!("sha256:{unique}")).unwrap().id, *id);
    let shared = &id[7..8];
    assert!(matches!(store.get(shared), Err(ImageError::Ambiguous(_))));

    let e = store.get("nothere").unwrap_err();
    assert!(matches!(e, ImageError::NotFound(_)));
    assert_eq!(e.to_string(), "No such image: nothere:latest");
    assert!(matches!(
        store.get("app:nope"),
        Err(ImageError::NotFound(_))
    ));
    assert!(matches!(
        store.get("sha256:zz"),
        Err(ImageError::NotFound(_))
    ));
    assert_eq!(
        store.get("docker.io/library/app:v0").unwrap().repo_tags,
        vec!["app:v0"]
    );
}

#[test]
fn tag_and_remove_follow_docker() {
    let root = DataRoot::new();
    let store = ImageStore::open(&root.path()).unwrap();
    let id = store.import(&tiny_tar("a")[..], opts("a:1")).unwrap();
    let short = &id[7..19];
    store.tag("a:1", &reference::parse("b:2").unwrap()).unwrap();
    store
        .tag(short, &reference::parse("localhost:5000/c").unwrap())
        .unwrap();
    let mut tags = store.get(&id).unwrap().repo_tags;
    tags.sort();
    assert_eq!(tags, vec!["a:1", "b:2", "localhost:5000/c:latest"]);
    assert!(
        store
            .tag(&id, &reference::parse(&format!("x@{id}")).unwrap())
            .is_err()
    );

    // By id with several tags: needs force.
    let e = store.remove(short, false, NOT_USED).unwrap_err();
    assert!(matches!(e, ImageError::Conflict(_)));
    assert_eq!(
        e.to_string(),
        format!(
            "conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories"
        )
    );
    // By name: untag only; with other names left, even an image in use.
    let used: &dyn Fn(&str) -> ImageUse = &|i| {
        if i == id {
            ImageUse::Stopped
        } else {
            ImageUse::Unused
        }
    };
    assert_eq!(
        store.remove("a:1", false, used).unwrap(),
        vec![DeleteItem::Untagged("a:1".into())]
    );
    assert_eq!(
        store.remove("localhost:5000/c", false, NOT_USED).unwrap(),
        vec![DeleteItem::Untagged("localhost:5000/c:latest".into())]
    );
    // A container uses it: removing its last name needs force.
    assert!(matches!(
        store.remove("b:2", false, used),
        Err(ImageError::Conflict(_))
    ));
    // The last tag goes with the image, its blobs and its snapshot.
    let (blobs, snaps, _) = root.inventory();
    assert_eq!((blobs.len(), snaps.len()), (3, 1));
    let chain = store.get(&id).unwrap().chain_ids[0].clone();
    let rec = store.remove("b:2", false, NOT_USED).unwrap();
    assert_eq!(
        rec,
        vec![
            DeleteItem::Untagged("b:2".into()),
            DeleteItem::Deleted(id.clone()),
            DeleteItem::Deleted(chain.clone()),
        ]
    );
    assert!(matches!(store.get(&id), Err(ImageError::NotFound(_))));
    let (blobs, snaps, refs) = root.inventory();
    assert!(blobs.is_empty() && snaps.is_empty(), "{blobs:?} {snaps:?}");
    assert_eq!(refs.trim(), "{}");

    // By id with one tag: untag + delete; in use needs force.
    let id = store.import(&tiny_tar("b")[..], opts("one:tag")).unwrap();
    let e = store.remove(&id, false, used_by(&id)).unwrap_err();
    assert!(
        e.to_string().contains("image is being used by a container"),
        "{e}"
    );
    // A running container's image: not even forced by id; by name, only untagged.
    let running: &dyn Fn(&str) -> ImageUse = &|_| ImageUse::Running;
    assert!(matches!(
        store.remove(&id, true, running),
        Err(ImageError::Conflict(_))
    ));
    let rec = store.remove(&id, true, used_by(&id)).unwrap();
    assert_eq!(rec[0], DeleteItem::Untagged("one:tag".into()));
    assert_eq!(rec[1], DeleteItem::Deleted(id.clone()));

    // Force by id removes every tag.
    let id = store.import(&tiny_tar("c")[..], opts("m:1")).unwrap();
    store.tag(&id, &reference::parse("n:1").unwrap()).unwrap();
    let rec = store.remove(&id, true, NOT_USED).unwrap();
    assert_eq!(
        rec.iter()
            .filter(|r| matches!(r, DeleteItem::Untagged(_)))
            .count(),
        2
    );
    assert!(rec.contains(&DeleteItem::Deleted(id.clone())));
    assert!(store.list().unwrap().is_empty());

    // Two images sharing a layer: deleting one keeps the snapshot.
    let a = store.import(&tiny_tar("shared")[..], opts("s:a")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2));
    let b = store.import(&tiny_tar("shared")[..], opts("s:b")).unwrap();
    assert_ne!(a, b);
    let rec = store.remove("s:a", false, NOT_USED).unwrap();
    assert_eq!(
        rec,
        vec![
            DeleteItem::Untagged("s:a".into()),
            DeleteItem::Deleted(a.clone())
        ]
    );
    let img_b = store.get("s:b").unwrap();
    assert!(
        store
            .layer_path(&img_b.chain_ids[0])
            .join("hello.txt")
            .exists()
    );

    // Re-tagging moves the tag; the old image stays, dangling.
    let c = store.import(&tiny_tar("new")[..], opts("s:b")).unwrap();
    assert_eq!(store.get("s:b").unwrap().id, c);
    assert!(store.get(&b).unwrap().repo_tags.is_empty());
    assert!(matches!(
        store.remove("nothere", false, NOT_USED),
        Err(ImageError::NotFound(_))
    ));
}

/// Used by a stopped container.
fn used_by(id: &str) -> &dyn Fn(&str) -> ImageUse {
    let id = id.to_string();
    Box::leak(Box::new(move |i: &str| {
        if i == id {
            ImageUse::Stopped
        } else {
            ImageUse::Unused
        }
    }))
}

#[test]
fn open_repairs_crash_leftovers() {
    let root = DataRoot::new();
    let id = {
        let store = ImageStore::open(&root.path()).unwrap();
        store.import(&busybox_tar()[..], opts("keep:me")).unwrap()
    };
    let r = root.path();
    // What a crash can leave: a partial ingest, a half-unpacked snapshot, a
    // temp metadata file, a committed snapshot and blob never recorded.
    fs::write(r.join("content/ingest/.tmp-1-abc-0"), b"partial").unwrap();
    fs::create_dir_all(r.join("snapshots/.tmp-1-abc-1/fs/bin")).unwrap();
    fs::write(r.join("snapshots/.tmp-1-abc-1/fs/bin/x"), b"x").unwrap();
    fs::write(r.join("images/.tmp-1-abc-2"), b"{").unwrap();
    let orphan = "f".repeat(64);
    fs::create_dir_all(r.join("snapshots").join(&orphan).join("fs")).unwrap();
    fs::write(r.join("content/blobs/sha256").join(&orphan), b"orphan").unwrap();
    fs::create_dir_all(r.join("snapshots/rw/.tmp-1-abc-3/fs")).unwrap();

    let store = ImageStore::open(&r).unwrap();
    // Leftover trees are freed in the background.
    cas::reaper::flush();
    assert_eq!(fs::read_dir(r.join("content/ingest")).unwrap().count(), 0);
    assert!(!r.join("snapshots/.tmp-1-abc-1").exists());
    assert!(!r.join("images/.tmp-1-abc-2").exists());
    assert!(!r.join("snapshots").join(&orphan).exists());
    assert!(!r.join("content/blobs/sha256").join(&orphan).exists());
    assert!(!r.join("snapshots/rw/.tmp-1-abc-3").exists());
    let img = store.get("keep:me").unwrap();
    assert_eq!(img.id, id);
    assert!(
        store
            .layer_path(&img.chain_ids[0])
            .join("bin/busybox")
            .exists()
    );
    let (blobs, snaps, _) = root.inventory();
    assert_eq!((blobs.len(), snaps.len()), (3, 1));
}

#[test]
fn unsupported_compression_is_clear() {
    let root = DataRoot::new();
    let store = ImageStore::open(&root.path()).unwrap();
    let e = store
        .import(
            &[0x28u8, 0xb5, 0x2f, 0xfd, 0, 0][..],
            ImportOptions::default(),
        )
        .unwrap_err();
    assert_eq!(e.to_string(), "not implemented: zstd compression");
    let (blobs, snaps, refs) = root.inventory();
    assert!(blobs.is_empty() && snaps.is_empty() && refs.is_empty());
}

#[test]
fn import_without_tag_gets_latest() {
    let root = DataRoot::new();
    let store = ImageStore::open(&root.path()).unwrap();
    let o = ImportOptions {
        reference: Some(reference::parse_named("untagged").unwrap()),
        ..Default::default()
    };
    let id = store.import(&tiny_tar("u")[..], o).unwrap();
    assert_eq!(store.get("untagged:latest").unwrap().id, id);
    let digest_ref = ImportOptions {
        reference: Some(reference::parse(&format!("x@{id}")).unwrap()),
        ..Default::default()
    };
    assert!(matches!(
        store.import(&tiny_tar("v")[..], digest_ref),
        Err(ImageError::InvalidReference(_))
    ));
}

/// The image store's blobs are the shared content-addressed store: it
/// passes the conformance suite every `ContentStore` must pass.
#[test]
fn the_image_content_store_passes_the_shared_suite() {
    let root = DataRoot::new();
    let store = ImageStore::open(&root.path()).unwrap();
    cas::suite::conformance(store.content());
}
