//! Content digests as the OCI image spec writes them: `algorithm:encoded`.
//! Only sha256 content is stored; other algorithms are valid syntax (a
//! client may name them) but never address a blob.

use sha2::{Digest as _, Sha256};

use crate::CasError;

/// `sha256:<64 lowercase hex>` of `data`.
pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Checks the OCI digest grammar (`[a-z0-9]+([+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+`);
/// sha256 needs exactly 64 lowercase hex digits, and the registered
/// sha512 exactly 128.
pub fn validate_digest(d: &str) -> Result<(), CasError> {
    let bad = || CasError::InvalidDigest(d.to_string());
    let (alg, encoded) = d.split_once(':').ok_or_else(bad)?;
    let alg_ok = !alg.is_empty()
        && alg.split(['+', '.', '_', '-']).all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    let encoded_ok = !encoded.is_empty()
        && encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'));
    if !alg_ok || !encoded_ok {
        return Err(bad());
    }
    match alg {
        "sha256" if encoded.len() != 64 || !is_lower_hex(encoded) => Err(bad()),
        "sha512" if encoded.len() != 128 || !is_lower_hex(encoded) => Err(bad()),
        _ => Ok(()),
    }
}

/// The hex part of a valid sha256 digest: the only digests that name a
/// blob, and safe as a path component.
pub fn hex_of(digest: &str) -> Option<&str> {
    digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && is_lower_hex(h))
}

/// Fails with [`CasError::DigestMismatch`] when content that hashed to
/// `actual` was named `expected`.
pub fn verify(expected: Option<&str>, actual: &str) -> Result<(), CasError> {
    match expected {
        Some(e) if e != actual => Err(CasError::DigestMismatch {
            expected: e.to_string(),
            actual: actual.to_string(),
        }),
        _ => Ok(()),
    }
}

/// Docker's 12-character short id of `sha256:<hex>` or a bare hex id.
pub fn short_id(id: &str) -> String {
    let hex = id.split_once(':').map_or(id, |(_, h)| h);
    hex.chars().take(12).collect()
}

/// 64 lowercase hex digits: a full image or layer id without algorithm.
pub fn is_full_hex_id(s: &str) -> bool {
    s.len() == 64 && is_lower_hex(s)
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn grammar_and_strict_sha256() {
        let hex = "a".repeat(64);
        for ok in [
            format!("sha256:{hex}"),
            format!("sha512:{}", "b".repeat(128)),
            "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8".into(),
            "sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564".into(),
        ] {
            validate_digest(&ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            String::new(),
            hex.clone(),
            format!("sha256:{}", "A".repeat(64)),
            format!("sha256:{}", "a".repeat(63)),
            format!("SHA256:{hex}"),
            format!(":{hex}"),
            "sha256:".into(),
            format!("sha256:../{}", "a".repeat(61)),
            format!("sha512:{hex}"),
            format!("sha-:{hex}"),
        ] {
            assert!(validate_digest(&bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(hex_of(&format!("sha256:{hex}")), Some(hex.as_str()));
        assert_eq!(hex_of(&format!("sha512:{}", "b".repeat(128))), None);
        assert_eq!(hex_of("sha256:../../etc"), None);
        assert_eq!(short_id(&format!("sha256:{hex}")), "a".repeat(12));
        assert!(is_full_hex_id(&hex));
    }
}
