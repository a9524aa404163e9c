//! Property tests (a seeded random loop; `FUZZ_SEED`/`FUZZ_CASES` to vary)
//! for the parsers fed by users and registries: references, platforms,
//! manifests and indexes. None may panic; bad input must come back as the
//! parser's typed error, and what parses must be self-consistent.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

use image::ImageError;
use image::config::{ImageIndex, ImageManifest};
use image::distribution::Platform;
use image::distribution::platform;
use image::reference;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn rng() -> (StdRng, usize) {
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_b47e_u64);
    let cases = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    (StdRng::seed_from_u64(seed), cases)
}

const VALID_REFS: &[&str] = &[
    "busybox",
    "busybox:1.36",
    "library/busybox:latest",
    "127.0.0.1:5000/a/b:v1",
    "localhost/x_y.z-w:tag",
    "ghcr.io/o/r@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    "[::1]:5000/img:v2",
];

/// Characters that matter to reference grammar, plus some that never do.
const ALPHABET: &[char] = &[
    'a', 'b', 'z', '0', '9', 'A', ':', '/', '@', '.', '-', '_', '[', ']', ' ', '%', '\0', 'é',
    '\u{202e}', '#', '?',
];

/// A random edit of `s`: insert, delete, replace or duplicate characters.
fn mutate(rng: &mut StdRng, s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    for _ in 0..rng.random_range(1..4) {
        let at = rng.random_range(0..=chars.len());
        match rng.random_range(0..4) {
            0 => chars.insert(at, ALPHABET[rng.random_range(0..ALPHABET.len())]),
            1 if at < chars.len() => {
                chars.remove(at);
            }
            2 if at < chars.len() => chars[at] = ALPHABET[rng.random_range(0..ALPHABET.len())],
            _ => {
                let dup: Vec<char> = chars[at..].iter().take(200).copied().collect();
                chars.splice(at..at, dup);
            }
        }
    }
    chars.into_iter().collect()
}

fn random_string(rng: &mut StdRng) -> String {
    let n = rng.random_range(0..80);
    (0..n)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())])
        .collect()
}

#[test]
fn references_parse_or_fail_typed_and_round_trip() {
    let (mut rng, cases) = rng();
    let mut accepted = 0;
    for i in 0..cases {
        let input = if i % 3 == 0 {
            random_string(&mut rng)
        } else {
            let base = VALID_REFS[rng.random_range(0..VALID_REFS.len())];
            mutate(&mut rng, base)
        };
        match reference::parse(&input) {
            Ok(r) => {
                accepted += 1;
                // The normal form parses to the same reference.
                let again = reference::parse(&r.full())
                    .unwrap_or_else(|e| panic!("{input:?} → {} does not re-parse: {e}", r.full()));
                assert_eq!(again, r, "{input:?}");
                assert!(!r.path().is_empty() && !r.domain().is_empty(), "{input:?}");
                assert!(r.tag().is_some() || r.digest().is_some(), "{input:?}");
            }
            Err(ImageError::InvalidReference(_)) => {}
            Err(e) => panic!("{input:?}: untyped error {e:?}"),
        }
    }
    // The mutations must exercise both outcomes to mean anything.
    assert!(accepted > cases / 20, "only {accepted} accepted");
    assert!(accepted < cases, "nothing rejected");
}

#[test]
fn platforms_parse_or_fail_typed() {
    let (mut rng, cases) = rng();
    let bases = [
        "linux/amd64",
        "linux/arm64/v8",
        "linux/arm/v7",
        "windows/amd64",
    ];
    for _ in 0..cases / 4 {
        let base = bases[rng.random_range(0..bases.len())];
        let input = mutate(&mut rng, base);
        if let Ok(p) = Platform::parse(&input) {
            // Whatever parses prints back as something that parses the same.
            assert_eq!(Platform::parse(&p.to_string()).unwrap(), p, "{input:?}");
        }
    }
}

const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","size":7023},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","size":32654}]}"#;
const INDEX: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:2123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","size":7143,"platform":{"architecture":"amd64","os":"linux"}},{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:3123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","size":7682,"platform":{"architecture":"arm","os":"linux","variant":"v7"}}]}"#;

/// Byte-level damage: flips, truncation, splices of JSON punctuation.
fn damage(rng: &mut StdRng, s: &str) -> Vec<u8> {
    let mut b = s.as_bytes().to_vec();
    for _ in 0..rng.random_range(1..5) {
        let at = rng.random_range(0..=b.len());
        match rng.random_range(0..4) {
            0 => b.truncate(at),
            1 if at < b.len() => b[at] ^= 1 << rng.random_range(0..8),
            2 => {
                let junk = [
                    b"{" as &[u8],
                    b"}",
                    b"[",
                    b"]",
                    b",",
                    b"\"",
                    b"null",
                    b"-1",
                    b"1e999",
                ];
                let j = junk[rng.random_range(0..junk.len())];
                b.splice(at..at, j.iter().copied());
            }
            _ if at < b.len() => {
                b.remove(at);
            }
            _ => {}
        }
    }
    b
}

#[test]
fn manifests_and_indexes_parse_or_fail_typed() {
    let (mut rng, cases) = rng();
    let want = Platform::parse("linux/amd64").unwrap();
    let (mut manifests, mut indexes) = (0, 0);
    for _ in 0..cases / 2 {
        let bytes = damage(&mut rng, MANIFEST);
        if let Ok(m) = serde_json::from_slice::<ImageManifest>(&bytes) {
            manifests += 1;
            // A parsed manifest serialises and parses back to the same.
            let again: ImageManifest =
                serde_json::from_slice(&serde_json::to_vec(&m).unwrap()).unwrap();
            assert_eq!(again, m);
        }
        let bytes = damage(&mut rng, INDEX);
        if let Ok(i) = serde_json::from_slice::<ImageIndex>(&bytes) {
            indexes += 1;
            // Whatever is chosen is an entry of the index for the platform.
            if let Some(e) = platform::choose(&i, &want) {
                assert!(i.manifests().iter().any(|m| std::ptr::eq(m, e)));
            }
        }
    }
    assert!(manifests > 0 && indexes > 0, "{manifests} {indexes}");
}
