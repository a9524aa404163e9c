//! Container writable layers on overlayfs, and whiteouts in upper layers.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use std::ffi::CString;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use common::*;
use image::unpack::{self, UnpackOptions, WhiteoutMode};
use image::{ImageError, ImageStore, ImportOptions, mount, passwd, reference};
use tar::EntryType;

fn import_busybox(store: &ImageStore, tag: &str) -> String {
    store
        .import(
            &busybox_tar()[..],
            ImportOptions {
                reference: Some(reference::parse(tag).unwrap()),
                ..Default::default()
            },
        )
        .unwrap()
}

#[test]
fn rw_layer_mount_write_unmount_remove() {
    let root = DataRoot::new();
    let store = ImageStore::open(&root.path()).unwrap();
    let id = import_busybox(&store, "busybox");
    let img = store.get("busybox").unwrap();
    let lower = store.layer_path(&img.chain_ids[0]);

    store.create_rw_layer("c1", &id, None).unwrap();
    let merged = store.mount_rw_layer("c1", &id).unwrap();
    assert!(mount::is_mounted(&merged).unwrap());
    assert_eq!(merged, root.path().join("snapshots/rw/c1/merged"));
    assert!(merged.join("bin/busybox").is_file());
    assert_eq!(
        fs::read_to_string(merged.join("etc/passwd")).unwrap(),
        PASSWD
    );
    // Idempotent: the second call does not stack another mount.
    assert_eq!(store.mount_rw_layer("c1", &id).unwrap(), merged);
    assert_eq!(count_mounts(&merged), 1);

    // The user lookup works on the mounted rootfs.
    let u = passwd::resolve_user(&merged, "user").unwrap();
    assert_eq!(
        (u.uid, u.gid, u.additional_gids.clone()),
        (1000, 1000, vec![50])
    );

    // Writes land in the container's upper dir, never in the image layer.
    fs::write(merged.join("tmp/new.txt"), b"hello").unwrap();
    fs::write(merged.join("etc/passwd"), b"changed").unwrap();
    let upper = root.path().join("snapshots/rw/c1/fs");
    assert_eq!(fs::read(upper.join("tmp/new.txt")).unwrap(), b"hello");
    assert_eq!(fs::read(upper.join("etc/passwd")).unwrap(), b"changed");
    assert!(!lower.join("tmp/new.txt").exists());
    assert_eq!(
        fs::read_to_string(lower.join("etc/passwd")).unwrap(),
        PASSWD
    );
    fs::remove_file(merged.join("bin/cat")).unwrap();
    assert!(fs::symlink_metadata(lower.join("bin/cat")).is_ok());

    store.unmount_rw_layer("c1").unwrap();
    assert!(!mount::is_mounted(&merged).unwrap());
    assert!(!merged.join("bin/busybox").exists());
    store.unmount_rw_layer("c1").unwrap();

    // Remount keeps the container's changes.
    let merged = store.mount_rw_layer("c1", &id).unwrap();
    assert_eq!(fs::read(merged.join("tmp/new.txt")).unwrap(), b"hello");
    assert!(fs::symlink_metadata(merged.join("bin/cat")).is_err());

    // remove unmounts and deletes.
    store.remove_rw_layer("c1").unwrap();
    assert!(!mount::is_mounted(&merged).unwrap());
    assert!(!root.path().join("snapshots/rw/c1").exists());
    store.remove_rw_layer("c1").unwrap();
    assert!(lower.join("bin/busybox").exists());

    assert!(matches!(
        store.create_rw_layer("../x", &id, None),
        Err(ImageError::InvalidArgument(_))
    ));
    assert!(matches!(
        store.create_rw_layer("c2", "nothere", None),
        Err(ImageError::NotFound(_))
    ));
}

#[test]
fn force_removed_image_keeps_layers_for_its_containers() {
    let root = DataRoot::new();
    let store = ImageStore::open(&root.path()).unwrap();
    let id = import_busybox(&store, "busybox");
    let chain = store.get(&id).unwrap().chain_ids[0].clone();
    let merged = store.mount_rw_layer("c1", &id).unwrap();
    let rec = store
        .remove("busybox", true, &|_| image::ImageUse::Stopped)
        .unwrap();
    assert!(rec.contains(&image::DeleteItem::Deleted(id.clone())));
    assert!(!rec.contains(&image::DeleteItem::Deleted(chain.clone())));
    assert!(store.layer_path(&chain).join("bin/busybox").exists());
    assert!(merged.join("bin/busybox").exists());
    // Reopening does not collect a snapshot a container still uses.
    drop(store);
    let store = ImageStore::open(&root.path()).unwrap();
    assert!(store.layer_path(&chain).exists());
    store.unmount_rw_layer("c1").unwrap();
    let merged = store.mount_rw_layer("c1", &id).unwrap();
    assert!(merged.join("bin/sh").exists());
    // The last user gone, the layer goes too.
    store.remove_rw_layer("c1").unwrap();
    assert!(!store.layer_path(&chain).exists());
}

fn getxattr(path: &std::path::Path, name: &str) -> Option<Vec<u8>> {
    let p = CString::new(path.to_str().unwrap()).unwrap();
    let n = CString::new(name).unwrap();
    let mut buf = vec![0u8; 64];
    // SAFETY: valid C strings and a buffer of the given length.
    let rc = unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (rc >= 0).then(|| {
        buf.truncate(rc as usize);
        buf
    })
}

#[test]
fn whiteouts_hide_lower_files_through_overlay() {
    let tmp = DataRoot::new();
    let base = tmp.path();
    let (lower, upper, rw, work, merged) = (
        base.join("lower"),
        base.join("upper"),
        base.join("rw"),
        base.join("work"),
        base.join("merged"),
    );
    for d in [&lower, &upper, &rw, &work, &merged] {
        fs::create_dir(d).unwrap();
    }
    let mut b = tar::Builder::new(Vec::new());
    file(&mut b, "gone.txt", 0o644, b"x");
    file(&mut b, "kept.txt", 0o644, b"k");
    dir(&mut b, "opaque/", 0o755);
    file(&mut b, "opaque/old.txt", 0o644, b"old");
    // Whiteouts in a bottom layer hide nothing and are dropped.
    file(&mut b, ".wh.nothing", 0o644, b"");
    let bottom = UnpackOptions {
        allow_devices: true,
        whiteouts: WhiteoutMode::Skip,
    };
    unpack::unpack(&b.into_inner().unwrap()[..], &lower, &bottom).unwrap();
    assert!(!lower.join(".wh.nothing").exists() && !lower.join("nothing").exists());

    let mut b = tar::Builder::new(Vec::new());
    file(&mut b, ".wh.gone.txt", 0o644, b"");
    dir(&mut b, "opaque/", 0o755);
    file(&mut b, "opaque/.wh..wh..opq", 0o644, b"");
    file(&mut b, "opaque/new.txt", 0o644, b"new");
    raw_entry(&mut b, "null", EntryType::Char, "", 0o666, b"");
    let layer = UnpackOptions {
        allow_devices: true,
        whiteouts: WhiteoutMode::Overlay,
    };
    let stats = unpack::unpack(&b.into_inner().unwrap()[..], &upper, &layer).unwrap();
    assert_eq!(stats.size, 3);
    let wh = fs::symlink_metadata(upper.join("gone.txt")).unwrap();
    assert!(wh.file_type().is_char_device());
    assert_eq!(wh.rdev(), 0);
    assert_eq!(
        getxattr(&upper.join("opaque"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert!(!upper.join("opaque/.wh..wh..opq").exists());

    mount::mount_overlay(&[upper.clone(), lower.clone()], &rw, &work, &merged).unwrap();
    let seen = (
        merged.join("gone.txt").exists(),
        merged.join("kept.txt").exists(),
        merged.join("opaque/old.txt").exists(),
        merged.join("opaque/new.txt").exists(),
    );
    mount::unmount(&merged).unwrap();
    assert_eq!(seen, (false, true, false, true));
}

/// An image of more layers than mount(2)'s page of options can list (60
/// layers at ~120-byte paths: ~7,300 bytes) still mounts, every layer in
/// its place: the top one wins, each one's own file shows through.
#[test]
fn more_layers_than_one_page_of_options_mount() {
    let dir = tempfile::tempdir().unwrap();
    let long = dir.path().join("l".repeat(100));
    let lowers: Vec<std::path::PathBuf> = (0..60).map(|i| long.join(format!("{i:03}"))).collect();
    for (i, l) in lowers.iter().enumerate() {
        fs::create_dir_all(l).unwrap();
        fs::write(l.join(format!("layer-{i}")), "").unwrap();
        fs::write(l.join("who"), format!("{i}")).unwrap();
    }
    let (upper, work, merged) = (
        dir.path().join("fs"),
        dir.path().join("work"),
        dir.path().join("merged"),
    );
    for d in [&upper, &work, &merged] {
        fs::create_dir(d).unwrap();
    }
    let options: usize = lowers.iter().map(|l| l.as_os_str().len() + 1).sum();
    assert!(options > 4096, "{options} bytes fit in a page");
    match mount::mount_overlay(&lowers, &upper, &work, &merged) {
        Err(ImageError::NotImplemented(m)) => {
            eprintln!("skipped: {m}");
            return;
        }
        r => r.unwrap(),
    }
    let seen = (
        fs::read_to_string(merged.join("who")),
        (0..60).all(|i| merged.join(format!("layer-{i}")).exists()),
    );
    mount::unmount(&merged).unwrap();
    assert_eq!(seen.0.unwrap(), "0");
    assert!(seen.1, "a layer is missing");
    // A refusal names the layer.
    let mut missing = lowers.clone();
    missing[30] = long.join("gone");
    let err = mount::mount_overlay(&missing, &upper, &work, &merged).unwrap_err();
    assert!(!mount::is_mounted(&merged).unwrap());
    let text = err.to_string();
    assert!(
        text.contains(&format!("overlay layer {}:", missing[30].display()))
            && text.contains("No such file"),
        "{text}"
    );
}
