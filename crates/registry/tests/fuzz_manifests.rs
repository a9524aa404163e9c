//! Property test (a seeded random loop; `FUZZ_SEED`/`FUZZ_CASES` to vary) of
//! manifest validation over HTTP: structurally mutated and byte-damaged
//! manifests, under valid and odd repository names and references. The
//! server must answer 201 or a 4xx with a spec error code, never 5xx; what it
//! refuses is not stored, what it accepts comes back byte for byte.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use hyper::StatusCode;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::HashSet;

const CODES: &[&str] = &[
    "BLOB_UNKNOWN",
    "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN",
    "MANIFEST_INVALID",
    "MANIFEST_UNKNOWN",
    "NAME_INVALID",
    "NAME_UNKNOWN",
    "SIZE_INVALID",
    "UNSUPPORTED",
];

fn random_value(rng: &mut StdRng, good_digest: &str) -> Value {
    match rng.random_range(0..10) {
        0 => Value::Null,
        1 => json!(-1),
        2 => json!(u64::MAX),
        3 => json!(1.5),
        4 => json!(""),
        5 => json!([]),
        6 => json!({}),
        7 => json!("sha256:../../etc/passwd"),
        8 => json!(good_digest.replacen('0', "g", 1)),
        _ => json!({"digest": good_digest, "size": 1, "mediaType": 7}),
    }
}

/// Replaces or deletes one randomly chosen node of the document.
fn mutate(rng: &mut StdRng, v: &mut Value, good_digest: &str, depth: usize) {
    let descend = depth < 4 && rng.random_bool(0.6);
    match v {
        Value::Object(map) if !map.is_empty() => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let k = &keys[rng.random_range(0..keys.len())];
            if descend {
                mutate(rng, map.get_mut(k).unwrap(), good_digest, depth + 1);
            } else if rng.random_bool(0.3) {
                map.remove(k);
            } else {
                map.insert(k.clone(), random_value(rng, good_digest));
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let i = rng.random_range(0..items.len());
            if descend {
                mutate(rng, &mut items[i], good_digest, depth + 1);
            } else if rng.random_bool(0.5) {
                items.remove(i);
            } else {
                let dup = items[i].clone();
                items.push(dup);
            }
        }
        other => *other = random_value(rng, good_digest),
    }
}

fn damage(rng: &mut StdRng, b: &mut Vec<u8>) {
    let at = rng.random_range(0..=b.len());
    match rng.random_range(0..3) {
        0 => b.truncate(at),
        1 if at < b.len() => b[at] ^= 1 << rng.random_range(0..8),
        _ => b.splice(at..at, b"{\"a\":[".iter().copied()).for_each(drop),
    }
}

#[tokio::test]
async fn mutated_manifests_are_refused_with_spec_errors_and_never_stored() {
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_u64);
    let cases: usize = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(400);
    let mut rng = StdRng::seed_from_u64(seed);
    let reg = start().await;
    let (good, good_digest, blobs) = reg.push_image("fz/img", "base", OCI_MANIFEST, "fz").await;
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": good_digest, "size": good.len(),
                       "platform": {"os": "linux", "architecture": "amd64"}}],
    });
    let bases = [
        (
            OCI_MANIFEST,
            serde_json::from_slice::<Value>(&good).unwrap(),
        ),
        (OCI_INDEX, index),
    ];
    let names = [
        "fz/img",
        "fz/img",
        "fz/../img",
        "FZ/img",
        "fz//img",
        "fz/img.",
        "-fz",
    ];
    let media_types = [
        OCI_MANIFEST,
        OCI_INDEX,
        DOCKER_MANIFEST,
        DOCKER_LIST,
        "text/plain",
        "",
    ];
    // The base manifest is stored already; refusing it again stores nothing new.
    let mut accepted: HashSet<String> = HashSet::from([good_digest.clone()]);
    let (mut ok, mut refused) = (0, 0);
    for case in 0..cases {
        let (base_type, base) = &bases[rng.random_range(0..bases.len())];
        let mut doc = base.clone();
        for _ in 0..rng.random_range(0..3) {
            mutate(&mut rng, &mut doc, &blobs[0], 0);
        }
        let mut body = serde_json::to_vec(&doc).unwrap();
        if rng.random_bool(0.2) {
            damage(&mut rng, &mut body);
        }
        let media_type = if rng.random_bool(0.7) {
            base_type
        } else {
            media_types[rng.random_range(0..media_types.len())]
        };
        let name = names[rng.random_range(0..names.len())];
        let body_digest = digest(&body);
        let reference = match rng.random_range(0..4) {
            0 => body_digest.clone(),
            1 => good_digest.clone(),
            2 => "bad:tag".to_string(),
            _ => format!("t{case}"),
        };
        let r = reg.put_manifest(name, &reference, media_type, &body).await;
        let what = format!(
            "case {case}: PUT {name} {reference} {media_type} {}",
            String::from_utf8_lossy(&body)
        );
        assert!(!r.status.is_server_error(), "{what}: {}", r.status);
        if r.status == StatusCode::CREATED {
            ok += 1;
            let d = r.header("Docker-Content-Digest").unwrap();
            assert_eq!(d, body_digest, "{what}");
            let back = reg.get(&format!("/v2/{name}/manifests/{d}")).await;
            assert_eq!(back.body, body, "{what}");
            accepted.insert(d);
        } else {
            refused += 1;
            assert!(r.status.is_client_error(), "{what}: {}", r.status);
            let code = r.code();
            assert!(CODES.contains(&code.as_str()), "{what}: code {code}");
            if !accepted.contains(&body_digest) && name == "fz/img" {
                let back = reg
                    .get(&format!("/v2/{name}/manifests/{body_digest}"))
                    .await;
                assert_eq!(back.status, StatusCode::NOT_FOUND, "{what}: stored anyway");
            }
        }
    }
    assert!(
        ok > 0 && refused > cases / 2,
        "accepted {ok}, refused {refused}"
    );
    // Still serving, and the original untouched.
    assert_eq!(reg.get("/v2/").await.status, StatusCode::OK);
    assert_eq!(reg.get("/v2/fz/img/manifests/base").await.body, good);
}
