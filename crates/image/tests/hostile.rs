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

/// Everything below `dir`, with type, mode, owner, size and link target:
/// what "left as it was" compares.
fn tree(dir: &Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let mut entries: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap()).collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let m = fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(base).unwrap().display().to_string();
            let link = fs::read_link(&p)
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            out.push(format!(
                "{rel} {:o} {}:{} {} {link}",
                m.mode(),
                m.uid(),
                m.gid(),
                m.len()
            ));
            if m.is_dir() {
                walk(base, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out
}

/// Entries may replace entries of the other kind (the API's default).
const LOOSE: image::merge::Kinds<'static> = image::merge::Kinds {
    keep: false,
    dest: "/",
};

fn open_dir(p: &Path) -> std::os::fd::OwnedFd {
    fs::File::open(p).unwrap().into()
}

/// `merge::unpack_over` (`docker cp` into a container) is all or nothing:
/// every hostile or truncated upload is refused for the unpack's reason and
/// leaves the destination exactly as it was, with no stage left behind.
#[test]
fn unpack_over_refuses_hostile_uploads_leaving_the_destination_as_it_was() {
    use image::merge::unpack_over;
    use image::unpack::{UnpackOptions, WhiteoutMode};
    let opts = UnpackOptions {
        allow_devices: true,
        whiteouts: WhiteoutMode::Skip,
    };
    let outside = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    fs::create_dir(dest.path().join("d")).unwrap();
    fs::write(dest.path().join("d/old"), b"old").unwrap();
    fs::write(dest.path().join("before.txt"), b"existing").unwrap();
    let before = tree(dest.path());
    for (name, build) in cases() {
        let mut b = tar::Builder::new(Vec::new());
        file(&mut b, "before.txt", 0o644, b"content before the bad entry");
        file(&mut b, "d/new", 0o644, b"new");
        build(&mut b, outside.path());
        let tar = b.into_inner().unwrap();
        match unpack_over(&tar[..], &open_dir(dest.path()), &opts, &LOOSE, |_, _| {}) {
            Err(ImageError::InvalidArchive(msg)) => {
                assert!(msg.contains(expected_reason(name)), "{name}: {msg}");
            }
            other => panic!("{name}: expected InvalidArchive, got {other:?}"),
        }
        assert_eq!(tree(dest.path()), before, "{name} changed the destination");
    }
    let mut truncated = busybox_tar();
    truncated.truncate(truncated.len() / 2);
    assert!(matches!(
        unpack_over(
            &truncated[..],
            &open_dir(dest.path()),
            &opts,
            &LOOSE,
            |_, _| {}
        ),
        Err(ImageError::InvalidArchive(_))
    ));
    assert_eq!(tree(dest.path()), before, "a truncated upload changed it");
    let mut b = tar::Builder::new(Vec::new());
    raw_entry(&mut b, "dev/null", EntryType::Char, "", 0o666, b"");
    let devices = b.into_inner().unwrap();
    let strict = UnpackOptions {
        allow_devices: false,
        ..opts
    };
    assert!(matches!(
        unpack_over(
            &devices[..],
            &open_dir(dest.path()),
            &strict,
            &LOOSE,
            |_, _| {}
        ),
        Err(ImageError::InvalidArchive(_))
    ));
    assert_eq!(tree(dest.path()), before);
    assert!(fs::read_dir(outside.path()).unwrap().next().is_none());
}

/// A sound upload lands as an unpack straight over the destination would:
/// directories merge (one the archive names takes its mode and owner, a
/// parent made on the way leaves the existing one alone), a later entry
/// replaces a file, a symlink or a whole directory, and a path that only
/// passes through an existing symlink is refused before anything moves.
#[test]
fn unpack_over_merges_as_a_direct_unpack_would() {
    use image::merge::unpack_over;
    use image::unpack::{UnpackOptions, WhiteoutMode};
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let opts = UnpackOptions {
        allow_devices: true,
        whiteouts: WhiteoutMode::Skip,
    };
    let elsewhere = tempfile::tempdir().unwrap();
    let dest = tempfile::tempdir().unwrap();
    let d = dest.path();
    for sub in ["named", "implicit", "tree/deep"] {
        fs::create_dir_all(d.join(sub)).unwrap();
    }
    fs::set_permissions(d.join("named"), fs::Permissions::from_mode(0o700)).unwrap();
    fs::set_permissions(d.join("implicit"), fs::Permissions::from_mode(0o711)).unwrap();
    fs::write(d.join("named/kept"), b"kept").unwrap();
    fs::write(d.join("implicit/kept"), b"kept").unwrap();
    fs::write(d.join("tree/deep/gone"), b"gone").unwrap();
    fs::write(d.join("file"), b"old").unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), d.join("link")).unwrap();

    let mut b = tar::Builder::new(Vec::new());
    dir(&mut b, "named/", 0o750);
    file(&mut b, "named/new", 0o644, b"new");
    file(&mut b, "implicit/new", 0o600, b"new");
    file(&mut b, "tree", 0o644, b"a file where a tree was");
    file(&mut b, "file", 0o640, b"replaced");
    dir(&mut b, "link/", 0o755);
    file(
        &mut b,
        "link/inside",
        0o644,
        b"in a directory, not through the link",
    );
    file(&mut b, "fresh/er/file", 0o644, b"parents made on the way");
    let mut seen = Vec::new();
    let merged = unpack_over(
        &b.into_inner().unwrap()[..],
        &open_dir(d),
        &opts,
        &LOOSE,
        |_, tops| seen = tops.to_vec(),
    )
    .unwrap();
    let tops: Vec<String> = merged
        .tops
        .iter()
        .map(|t| t.to_string_lossy().into_owned())
        .collect();
    assert_eq!(tops, ["file", "fresh", "implicit", "link", "named", "tree"]);
    assert_eq!(seen, merged.tops, "prepare saw the staged tops");
    let mode = |p: &str| fs::symlink_metadata(d.join(p)).unwrap().mode() & 0o7777;
    assert_eq!(fs::read(d.join("named/kept")).unwrap(), b"kept");
    assert_eq!(fs::read(d.join("named/new")).unwrap(), b"new");
    assert_eq!(
        mode("named"),
        0o750,
        "a named directory takes the archive's mode"
    );
    assert_eq!(fs::read(d.join("implicit/kept")).unwrap(), b"kept");
    assert_eq!(
        mode("implicit"),
        0o711,
        "a parent made on the way changes nothing"
    );
    assert_eq!(mode("implicit/new"), 0o600);
    assert_eq!(
        fs::read(d.join("tree")).unwrap(),
        b"a file where a tree was"
    );
    assert_eq!(fs::read(d.join("file")).unwrap(), b"replaced");
    assert_eq!(mode("file"), 0o640);
    assert!(fs::symlink_metadata(d.join("link")).unwrap().is_dir());
    assert!(d.join("link/inside").is_file());
    assert!(d.join("fresh/er/file").is_file());
    assert!(fs::read_dir(elsewhere.path()).unwrap().next().is_none());
    let names: Vec<_> = fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with(".berth-cp")),
        "{names:?}"
    );

    // Only passing through a symlink: refused, nothing moved.
    std::os::unix::fs::symlink(elsewhere.path(), d.join("through")).unwrap();
    let before = tree(d);
    let mut b = tar::Builder::new(Vec::new());
    file(&mut b, "first", 0o644, b"would land first");
    file(&mut b, "through/x", 0o644, b"x");
    match unpack_over(
        &b.into_inner().unwrap()[..],
        &open_dir(d),
        &opts,
        &LOOSE,
        |_, _| {},
    ) {
        Err(ImageError::InvalidArchive(msg)) => {
            assert!(msg.contains("passes through a symlink"), "{msg}")
        }
        other => panic!("expected InvalidArchive, got {other:?}"),
    }
    assert_eq!(tree(d), before);
    assert!(fs::read_dir(elsewhere.path()).unwrap().next().is_none());
}

/// With `noOverwriteDirNonDir` (the docker CLI's default), an entry that
/// would replace one of the other kind is refused in dockerd's words before
/// anything moves; entries of the same kind still replace and merge.
#[test]
fn unpack_over_keeps_kinds_when_asked() {
    use image::merge::{Kinds, unpack_over};
    use image::unpack::{UnpackOptions, WhiteoutMode};
    let opts = UnpackOptions {
        allow_devices: true,
        whiteouts: WhiteoutMode::Skip,
    };
    let keep = Kinds {
        keep: true,
        dest: "/tmp",
    };
    let dest = tempfile::tempdir().unwrap();
    let d = dest.path();
    fs::create_dir_all(d.join("dir/inner")).unwrap();
    fs::write(d.join("file"), b"old").unwrap();
    let before = tree(d);
    for (entry, expected) in [
        (
            "dir",
            "cannot overwrite directory \"/tmp/dir\" with non-directory \"/tmp\"",
        ),
        (
            "file/",
            "cannot overwrite non-directory \"/tmp/file\" with directory \"/tmp\"",
        ),
    ] {
        let mut b = tar::Builder::new(Vec::new());
        file(&mut b, "first", 0o644, b"would land first");
        if entry.ends_with('/') {
            dir(&mut b, entry, 0o755);
        } else {
            file(&mut b, entry, 0o644, b"a file");
        }
        match unpack_over(
            &b.into_inner().unwrap()[..],
            &open_dir(d),
            &opts,
            &keep,
            |_, _| {},
        ) {
            Err(ImageError::Conflict(msg)) => assert_eq!(msg, expected),
            other => panic!("{entry}: expected Conflict, got {other:?}"),
        }
        assert_eq!(tree(d), before, "{entry} changed the destination");
    }
    let mut b = tar::Builder::new(Vec::new());
    file(&mut b, "file", 0o644, b"new");
    dir(&mut b, "dir/", 0o755);
    file(&mut b, "dir/more", 0o644, b"more");
    unpack_over(
        &b.into_inner().unwrap()[..],
        &open_dir(d),
        &opts,
        &keep,
        |_, _| {},
    )
    .unwrap();
    assert_eq!(fs::read(d.join("file")).unwrap(), b"new");
    assert!(d.join("dir/inner").is_dir() && d.join("dir/more").is_file());
}
