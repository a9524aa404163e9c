//! Both stores of this crate pass the one suite; the filesystem store also
//! keeps its on-disk promises (modes, no temp files left, crash leftovers
//! cleared at open, adoption of verified files).

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

use std::fs;
use std::io::Write;
use std::os::unix::fs::MetadataExt;

use cas::{ContentStore, FsStore, MemStore, sha256_digest};

#[test]
fn the_memory_store_passes_the_suite() {
    cas::suite::conformance(&MemStore::default());
}

#[test]
fn the_filesystem_store_passes_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsStore::open(dir.path()).unwrap();
    cas::suite::conformance(&store);
    assert_eq!(fs::read_dir(dir.path().join("ingest")).unwrap().count(), 0);
}

#[test]
fn blobs_are_private_files_named_by_hex() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsStore::open(dir.path()).unwrap();
    let (d, _) = store.write(b"secret layer").unwrap();
    let path = store.path(&d).unwrap();
    assert_eq!(path, dir.path().join("blobs/sha256").join(&d[7..]));
    assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
    assert_eq!(store.path("sha256:../x"), None);
}

#[test]
fn open_clears_what_a_crash_left_in_ingest_and_ignores_foreign_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsStore::open(dir.path()).unwrap();
    let mut w = store.writer().unwrap();
    w.write_all(b"half").unwrap();
    w.flush().unwrap();
    std::mem::forget(w); // as if the process died here
    assert_eq!(fs::read_dir(dir.path().join("ingest")).unwrap().count(), 1);
    fs::write(dir.path().join("blobs/sha256/README"), b"not a blob").unwrap();
    let store = FsStore::open(dir.path()).unwrap();
    assert_eq!(fs::read_dir(dir.path().join("ingest")).unwrap().count(), 0);
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn adopt_moves_a_verified_file_in_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsStore::open(dir.path()).unwrap();
    let upload = dir.path().join("upload-data");
    fs::write(&upload, b"pushed layer").unwrap();
    let d = sha256_digest(b"pushed layer");
    store.adopt(&upload, &d).unwrap();
    assert!(!upload.exists());
    assert_eq!(store.read(&d).unwrap(), b"pushed layer");
    // The same blob again: the new copy is dropped, the old one stays.
    fs::write(&upload, b"pushed layer").unwrap();
    store.adopt(&upload, &d).unwrap();
    assert!(!upload.exists());
    assert_eq!(store.list().unwrap(), vec![d.clone()]);
    assert!(store.adopt(&upload, "sha256:../../x").is_err());
}
