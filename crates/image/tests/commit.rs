//! `docker commit` and `docker export` on real overlay mounts.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::io::Read;

use common::{DataRoot, busybox_tar, count_mounts};
use image::commit::{self, CommitOptions};
use image::{ImageStore, ImportOptions, reference};

#[test]
fn commit_keeps_changes_and_deletions() {
    let root = DataRoot::new();
    let store = ImageStore::open(&root.path()).unwrap();
    let base = store
        .import(
            &busybox_tar()[..],
            ImportOptions {
                reference: Some(reference::parse("base").unwrap()),
                ..Default::default()
            },
        )
        .unwrap();

    // The "container": write, delete, and replace a directory wholesale.
    let merged = store.mount_rw_layer("c1", &base).unwrap();
    fs::write(merged.join("etc/new.conf"), "hello").unwrap();
    fs::remove_file(merged.join("etc/group")).unwrap();
    fs::remove_dir_all(merged.join("home")).unwrap();
    fs::create_dir(merged.join("home")).unwrap();
    fs::write(merged.join("home/fresh"), "x").unwrap();
    store.unmount_rw_layer("c1").unwrap();

    let id = commit::commit(
        &store,
        "c1",
        &base,
        CommitOptions {
            reference: Some(reference::parse("committed:v1").unwrap()),
            author: Some("tester".into()),
            comment: Some("my change".into()),
            changes: vec!["ENV A=b".into()],
            config: None,
            owners: Default::default(),
        },
    )
    .unwrap();
    let img = store.get("committed:v1").unwrap();
    assert_eq!(img.id, id);
    assert_eq!(img.diff_ids.len(), 2);
    assert_eq!(img.diff_ids[0], store.get(&base).unwrap().diff_ids[0]);
    assert_eq!(img.config.history.len(), 2);
    assert_eq!(img.config.history[1].comment.as_deref(), Some("my change"));
    assert_eq!(img.config.author.as_deref(), Some("tester"));
    assert_eq!(img.config.config.env, Some(vec!["A=b".to_string()]));

    // A new container on the committed image sees exactly the changes.
    let m2 = store.mount_rw_layer("c2", &id).unwrap();
    assert_eq!(count_mounts(&m2), 1);
    assert_eq!(
        fs::read_to_string(m2.join("etc/new.conf")).unwrap(),
        "hello"
    );
    assert!(!m2.join("etc/group").exists(), "deleted file came back");
    assert!(m2.join("etc/passwd").exists());
    let home: BTreeSet<String> = fs::read_dir(m2.join("home"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(home, BTreeSet::from(["fresh".to_string()]));
    assert!(m2.join("bin/busybox").is_file());

    // Export of that rootfs shows the same view, with no whiteouts.
    let mut tar_bytes = Vec::new();
    commit::export_rootfs(&m2, &mut tar_bytes, &commit::OwnerMap::default()).unwrap();
    let mut names = BTreeSet::new();
    let mut a = tar::Archive::new(&tar_bytes[..]);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        if name == "etc/new.conf" {
            let mut s = String::new();
            e.read_to_string(&mut s).unwrap();
            assert_eq!(s, "hello");
        }
        names.insert(name);
    }
    assert!(names.contains("etc/new.conf"));
    assert!(names.contains("bin/busybox"));
    assert!(names.contains("home/fresh"));
    assert!(!names.contains("etc/group"));
    assert!(!names.contains("home/user/owned.txt"));
    assert!(!names.iter().any(|n| n.contains(".wh.")), "{names:?}");

    store.remove_rw_layer("c2").unwrap();
    store.remove_rw_layer("c1").unwrap();
}
