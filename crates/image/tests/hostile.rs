//! Every hostile archive is refused with InvalidArchive, stores nothing and
//! writes nothing outside the data root.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::Path;

use common::*;
use image::{ImageError, ImageStore, ImportOptions, reference};
use tar::EntryType;

type Build = Box<dyn Fn(&mut tar::Builder<Vec<u8>>, &Path)>;

fn cases() -> Vec<(&'static str, Build)> {
    vec![
        (
            "dotdot file",
            Box::new(|b, _| file(b, "../escape", 0o644, b"x")),
        ),
        (
            "nested dotdot",
            Box::new(|b, _| {
                dir(b, "a/", 0o755);
                file(b, "a/../../escape", 0o644, b"x");
            }),
        ),
        (
            "absolute path",
            Box::new(|b, out| {
                let p = out.join("abs");
                file(b, p.to_str().unwrap(), 0o644, b"x");
            }),
        ),
        (
            "write through absolute symlink",
            Box::new(|b, out| {
                symlink(b, "link", out.to_str().unwrap());
                file(b, "link/passwd", 0o644, b"owned");
            }),
        ),
        (
            "write through relative symlink",
            Box::new(|b, _| {
                dir(b, "d/", 0o755);
                symlink(b, "dirlink", "d");
                file(b, "dirlink/x", 0o644, b"x");
            }),
        ),
        (
            "mkdir through symlink",
            Box::new(|b, out| {
                symlink(b, "link", out.to_str().unwrap());
                dir(b, "link/sub/", 0o755);
            }),
        ),
        (
            "write through a climbing symlink",
            Box::new(|b, _| {
                dir(b, "a/", 0o755);
                symlink(b, "a/up", "../../../../../../../../tmp");
                file(b, "a/up/escape", 0o644, b"x");
            }),
        ),
        (
            "hardlink outside",
            Box::new(|b, _| hardlink(b, "h", "../outside/secret")),
        ),
        (
            "hardlink absolute",
            Box::new(|b, out| {
                let p = out.join("secret");
                hardlink(b, "h", p.to_str().unwrap());
            }),
        ),
        (
            "hardlink through symlink",
            Box::new(|b, out| {
                symlink(b, "link", out.to_str().unwrap());
                hardlink(b, "h", "link/secret");
            }),
        ),
        (
            "hardlink to missing",
            Box::new(|b, _| hardlink(b, "h", "nothere")),
        ),
    ]
}

/// Each case must fail for its own reason, not an incidental one.
fn expected_reason(case: &str) -> &'static str {
    match case {
        "dotdot file" | "nested dotdot" | "hardlink outside" => "climbs out of the root",
        "absolute path" | "hardlink absolute" => "absolute path",
        "hardlink to missing" => "not in archive",
        _ => "passes through a symlink",
    }
}

#[test]
fn hostile_archives_are_refused_and_leave_nothing() {
    let outside = tempfile::tempdir().unwrap();
    let out = fs::canonicalize(outside.path()).unwrap();
    fs::write(out.join("secret"), b"host secret").unwrap();
    let root = DataRoot::new();
    let store = ImageStore::open(&root.path()).unwrap();
    // A good image first, so "nothing new" is measured against real content.
    store
        .import(
            &tiny_tar("good")[..],
            ImportOptions {
                reference: Some(reference::parse("good").unwrap()),
                ..Default::default()
            },
        )
        .unwrap();
    let before = root.inventory();

    for (name, build) in cases() {
        let mut b = tar::Builder::new(Vec::new());
        file(&mut b, "before.txt", 0o644, b"content before the bad entry");
        build(&mut b, &out);
        file(&mut b, "after.txt", 0o644, b"after");
        let tar = b.into_inner().unwrap();
        for (label, body) in [("plain", tar.clone()), ("gzip", gzip(&tar))] {
            let r = store.import(
                &body[..],
                ImportOptions {
                    reference: Some(reference::parse("evil:latest").unwrap()),
                    ..Default::default()
                },
            );
            match r {
                Err(ImageError::InvalidArchive(msg)) => {
                    assert!(msg.contains(expected_reason(name)), "{name}: {msg}");
                }
                other => panic!("{name} ({label}): expected InvalidArchive, got {other:?}"),
            }
            assert_eq!(
                root.inventory(),
                before,
                "{name} ({label}) left something stored"
            );
            assert_eq!(
                fs::read_dir(root.path().join("content/ingest"))
                    .unwrap()
                    .count(),
                0,
                "{name}: ingest leftover"
            );
            let snaps: Vec<_> = fs::read_dir(root.path().join("snapshots"))
                .unwrap()
                .collect();
            assert_eq!(snaps.len(), 2, "{name}: temp snapshot left behind");
        }
        let mut names: Vec<_> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, vec!["secret"], "{name} wrote outside the root");
        assert_eq!(fs::read(out.join("secret")).unwrap(), b"host secret");
        assert!(!root.path().parent().unwrap().join("escape").exists());
    }
    assert!(matches!(store.get("evil"), Err(ImageError::NotFound(_))));
}

#[test]
fn garbage_is_an_invalid_archive() {
    let root = DataRoot::new();
    let store = ImageStore::open(&root.path()).unwrap();
    let junk = vec![0x42u8; 2048];
    assert!(matches!(
        store.import(&junk[..], ImportOptions::default()),
        Err(ImageError::InvalidArchive(_))
    ));
    let mut gz = gzip(&busybox_tar());
    gz.truncate(gz.len() / 2);
    assert!(matches!(
        store.import(&gz[..], ImportOptions::default()),
        Err(ImageError::InvalidArchive(_))
    ));
    let (blobs, snaps, refs) = root.inventory();
    assert!(blobs.is_empty() && snaps.is_empty() && refs.is_empty());
}

#[test]
fn benign_tricks_are_accepted() {
    // Entries that look odd but stay inside: "./x", "a/../b", replacing a
    // file by a symlink, a symlink to an absolute path, a hardlink to a symlink.
    let root = DataRoot::new();
    let store = ImageStore::open(&root.path()).unwrap();
    let mut b = tar::Builder::new(Vec::new());
    file(&mut b, "./x", 0o644, b"x");
    dir(&mut b, "a/", 0o755);
    file(&mut b, "a/../b", 0o644, b"b");
    file(&mut b, "y", 0o644, b"first");
    symlink(&mut b, "y", "/etc/shadow");
    symlink(&mut b, "abs", "/bin/busybox");
    hardlink(&mut b, "y2", "y");
    dir(&mut b, "x2/", 0o755);
    file(&mut b, "x2/inner", 0o644, b"i");
    file(&mut b, "x2", 0o600, b"dir replaced by file");
    let id = store
        .import(&b.into_inner().unwrap()[..], ImportOptions::default())
        .unwrap();
    let img = store.get(&id).unwrap();
    let fs_root = store.layer_path(&img.chain_ids[0]);
    assert_eq!(fs::read(fs_root.join("b")).unwrap(), b"b");
    assert_eq!(
        fs::read_link(fs_root.join("y")).unwrap().to_str(),
        Some("/etc/shadow")
    );
    assert_eq!(
        fs::read_link(fs_root.join("y2")).unwrap().to_str(),
        Some("/etc/shadow")
    );
    assert_eq!(
        fs::read(fs_root.join("x2")).unwrap(),
        b"dir replaced by file"
    );
    assert!(img.repo_tags.is_empty());
}

/// Links and device nodes are data, kept as Docker keeps them: a relative link
/// that climbs above the root is stored verbatim (it resolves inside the
/// container at run time), and devices and fifos are recreated.
#[test]
fn climbing_symlinks_and_device_nodes_are_stored() {
    let root = DataRoot::new();
    let store = ImageStore::open(&root.path()).unwrap();
    let mut b = tar::Builder::new(Vec::new());
    dir(&mut b, "a/", 0o755);
    symlink(&mut b, "escape", "../../../etc/passwd");
    symlink(&mut b, "a/up", "../../../../etc");
    raw_entry(&mut b, "dev/null", EntryType::Char, "", 0o666, b"");
    raw_entry(&mut b, "sda", EntryType::Block, "", 0o660, b"");
    raw_entry(&mut b, "pipe", EntryType::Fifo, "", 0o644, b"");
    let tar = b.into_inner().unwrap();
    let id = store
        .import(&tar[..], ImportOptions::default())
        .unwrap_or_else(|e| panic!("refused: {e}"));
    let img = store.get(&id).unwrap();
    let fs_root = store.layer_path(&img.chain_ids[0]);
    assert_eq!(
        fs::read_link(fs_root.join("escape")).unwrap().to_str(),
        Some("../../../etc/passwd")
    );
    assert_eq!(
        fs::read_link(fs_root.join("a/up")).unwrap().to_str(),
        Some("../../../../etc")
    );
    use std::os::unix::fs::FileTypeExt;
    assert!(
        fs::symlink_metadata(fs_root.join("dev/null"))
            .unwrap()
            .file_type()
            .is_char_device()
    );
    assert!(
        fs::symlink_metadata(fs_root.join("sda"))
            .unwrap()
            .file_type()
            .is_block_device()
    );
    assert!(
        fs::symlink_metadata(fs_root.join("pipe"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
}

/// `unpack::check` (what `docker cp` runs over an upload before writing
/// into a container) refuses every hostile case for the same reason a real
/// unpack does, accepts the benign tricks, and names the top entries.
#[test]
fn the_check_pass_judges_as_unpack_does() {
    use image::unpack::{UnpackOptions, WhiteoutMode, check};
    let opts = UnpackOptions {
        allow_devices: true,
        whiteouts: WhiteoutMode::Skip,
    };
    let outside = tempfile::tempdir().unwrap();
    for (name, build) in cases() {
        let mut b = tar::Builder::new(Vec::new());
        file(&mut b, "before.txt", 0o644, b"content before the bad entry");
        build(&mut b, outside.path());
        let tar = b.into_inner().unwrap();
        match check(&tar[..], &opts) {
            Err(ImageError::InvalidArchive(msg)) => {
                assert!(msg.contains(expected_reason(name)), "{name}: {msg}");
            }
            other => panic!("{name}: expected InvalidArchive, got {other:?}"),
        }
    }
    let mut truncated = busybox_tar();
    truncated.truncate(truncated.len() / 2);
    assert!(matches!(
        check(&truncated[..], &opts),
        Err(ImageError::InvalidArchive(_))
    ));
    let mut b = tar::Builder::new(Vec::new());
    file(&mut b, "./x", 0o644, b"x");
    dir(&mut b, "a/", 0o755);
    file(&mut b, "a/../b", 0o644, b"b");
    file(&mut b, "y", 0o644, b"first");
    symlink(&mut b, "y", "/etc/shadow");
    hardlink(&mut b, "y2", "y");
    dir(&mut b, "x2/", 0o755);
    file(&mut b, "x2/inner", 0o644, b"i");
    file(&mut b, "x2", 0o600, b"dir replaced by file");
    file(&mut b, "deep/er/file", 0o644, b"parents made on the way");
    let tops = check(&b.into_inner().unwrap()[..], &opts).unwrap();
    let tops: Vec<String> = tops.into_iter().map(|t| t.into_string().unwrap()).collect();
    assert_eq!(tops, ["a", "b", "deep", "x", "x2", "y", "y2"]);
    let mut b = tar::Builder::new(Vec::new());
    raw_entry(&mut b, "dev/null", EntryType::Char, "", 0o666, b"");
    let devices = b.into_inner().unwrap();
    let strict = UnpackOptions {
        allow_devices: false,
        ..opts
    };
    assert!(check(&devices[..], &opts).is_ok());
    assert!(matches!(
        check(&devices[..], &strict),
        Err(ImageError::InvalidArchive(_))
    ));
}
