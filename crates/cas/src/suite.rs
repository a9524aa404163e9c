//! The conformance suite of [`ContentStore`] (containerd's content test
//! suite is the model): every implementation, and every crate's use of one,
//! runs [`conformance`] on an empty store and must pass all of it.

// A test suite compiled into the library (feature `suite`) for other crates' tests:
// an unwrap is an assertion here.
#![allow(clippy::unwrap_used)]

use std::io::Write;

use crate::{BlobWriter, CasError, ContentStore, sha256_digest};

/// Every check, in order, on `store`, which must start empty and is empty
/// again afterwards. Panics with the failed expectation.
pub fn conformance<S: ContentStore + Sync>(store: &S) {
    starts_empty(store);
    writes_read_back_by_digest(store);
    streams_hash_as_they_write(store);
    a_wrong_expected_digest_stores_nothing(store);
    a_dropped_writer_stores_nothing(store);
    invalid_digests_never_reach_a_blob(store);
    concurrent_writers_of_one_blob_store_it_once(store);
    deletes_are_idempotent(store);
    assert!(
        store.list().unwrap().is_empty(),
        "the suite leaves the store empty"
    );
}

fn missing() -> String {
    sha256_digest(b"never written by the suite")
}

fn starts_empty<S: ContentStore>(store: &S) {
    assert!(
        store.list().unwrap().is_empty(),
        "the store must start empty"
    );
    let d = missing();
    assert!(!store.contains(&d));
    assert_eq!(store.size(&d), None);
    assert!(matches!(store.read(&d), Err(CasError::NotFound(x)) if x == d));
}

fn writes_read_back_by_digest<S: ContentStore>(store: &S) {
    let data = b"hello, blobs";
    let (d, size) = store.write(data).unwrap();
    assert_eq!(d, sha256_digest(data));
    assert_eq!(size, data.len() as u64);
    assert!(store.contains(&d));
    assert_eq!(store.size(&d), Some(size));
    assert_eq!(store.read(&d).unwrap(), data);
    // Writing the same bytes again is the same blob, stored once.
    assert_eq!(store.write(data).unwrap(), (d.clone(), size));
    assert_eq!(store.list().unwrap(), vec![d.clone()]);
    // An empty blob is a blob too (empty layers, empty configs).
    let (e, esize) = store.write(b"").unwrap();
    assert_eq!((e.as_str(), esize), (sha256_digest(b"").as_str(), 0));
    assert_eq!(store.read(&e).unwrap(), b"");
    let mut all = vec![d.clone(), e.clone()];
    all.sort();
    assert_eq!(store.list().unwrap(), all);
    assert!(store.delete(&d).unwrap());
    assert!(store.delete(&e).unwrap());
}

fn streams_hash_as_they_write<S: ContentStore>(store: &S) {
    let big: Vec<u8> = (0..(1u32 << 20)).map(|i| (i % 251) as u8).collect();
    let mut w = store.writer().unwrap();
    w.write_all(&big[..1000]).unwrap();
    assert_eq!(w.digest(), (sha256_digest(&big[..1000]), 1000));
    for chunk in big[1000..].chunks(64 * 1024 + 7) {
        w.write_all(chunk).unwrap();
    }
    let expected = sha256_digest(&big);
    assert_eq!(w.digest(), (expected.clone(), big.len() as u64));
    let (d, size) = store.commit(w, Some(&expected)).unwrap();
    assert_eq!((d.as_str(), size), (expected.as_str(), big.len() as u64));
    assert_eq!(store.read(&d).unwrap(), big);
    assert!(store.delete(&d).unwrap());
}

fn a_wrong_expected_digest_stores_nothing<S: ContentStore>(store: &S) {
    let mut w = store.writer().unwrap();
    w.write_all(b"tampered").unwrap();
    let claimed = sha256_digest(b"what the manifest said");
    match store.commit(w, Some(&claimed)) {
        Err(CasError::DigestMismatch { expected, actual }) => {
            assert_eq!(expected, claimed);
            assert_eq!(actual, sha256_digest(b"tampered"));
        }
        other => panic!("expected a digest mismatch, got {other:?}"),
    }
    assert!(
        store.list().unwrap().is_empty(),
        "a mismatched blob was stored"
    );
    assert!(!store.contains(&sha256_digest(b"tampered")));
}

fn a_dropped_writer_stores_nothing<S: ContentStore>(store: &S) {
    let mut w = store.writer().unwrap();
    w.write_all(b"abandoned half-way").unwrap();
    drop(w);
    assert!(store.list().unwrap().is_empty());
}

fn invalid_digests_never_reach_a_blob<S: ContentStore>(store: &S) {
    let (d, _) = store.write(b"guarded").unwrap();
    let hex = d.trim_start_matches("sha256:");
    for bad in [
        "sha256:../../../etc/passwd".to_string(),
        format!("sha256:{}", hex.to_uppercase()),
        hex.to_string(),
        format!("sha512:{hex}{hex}"),
        format!("sha256:{hex}/.."),
        String::new(),
    ] {
        assert!(!store.contains(&bad), "{bad:?}");
        assert_eq!(store.size(&bad), None, "{bad:?}");
        assert!(store.read(&bad).is_err(), "{bad:?} read");
        assert!(
            matches!(store.delete(&bad), Err(CasError::InvalidDigest(_))),
            "{bad:?} delete"
        );
    }
    assert_eq!(store.read(&d).unwrap(), b"guarded");
    assert!(store.delete(&d).unwrap());
}

fn concurrent_writers_of_one_blob_store_it_once<S: ContentStore + Sync>(store: &S) {
    let data = vec![7u8; 256 * 1024];
    let digests: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let mut w = store.writer().unwrap();
                    for chunk in data.chunks(4096) {
                        w.write_all(chunk).unwrap();
                    }
                    store.commit(w, None).unwrap().0
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let d = sha256_digest(&data);
    assert!(digests.iter().all(|x| *x == d), "{digests:?}");
    assert_eq!(store.list().unwrap(), vec![d.clone()]);
    assert_eq!(store.read(&d).unwrap(), data);
    assert!(store.delete(&d).unwrap());
}

fn deletes_are_idempotent<S: ContentStore>(store: &S) {
    let (d, _) = store.write(b"short-lived").unwrap();
    assert!(store.delete(&d).unwrap());
    assert!(!store.delete(&d).unwrap());
    assert!(matches!(store.read(&d), Err(CasError::NotFound(_))));
    assert!(!store.contains(&d));
}
