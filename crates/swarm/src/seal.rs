//! Secret data at rest: etcd keeps its values on disk (its WAL and
//! snapshots), so a secret's data is sealed before it is stored, with
//! XChaCha20-Poly1305 under the cluster's data key and a random nonce per
//! secret. The key never goes to etcd: `swarm init` makes it and each
//! manager keeps it in its own state (`<data-root>/swarm/certs/`, root
//! only), so a copy of the store alone reveals no secret. The secret's id
//! is the associated data: a sealed value moved to another secret's key
//! does not open.
//!
//! Joining managers receive the key over the cluster port's mutual TLS;
//! with autolock each manager keeps it wrapped by the unlock key
//! (`autolock.rs`).

use std::fmt;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;

/// What the key file starts with, so a key of another format or version
/// is refused rather than misused.
const FILE_TAG: &str = "berth-swarm-data-key-v1 ";

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("the system's random source: {0}")]
    Random(String),
    #[error("the cluster data key file is malformed")]
    MalformedKey,
    #[error("sealed data of {0} is malformed")]
    Malformed(String),
    /// A wrong key, or data that was changed or moved.
    #[error("sealed data of {0} does not open with this cluster's data key")]
    Open(String),
    #[error("sealing {0} failed")]
    Seal(String),
}

/// The cluster's data key. Wiped from memory when dropped; `Debug` never
/// shows it.
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; KEY_LEN]>);

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

pub(crate) fn random<const N: usize>() -> Result<Zeroizing<[u8; N]>, SealError> {
    use rand::TryRngCore;
    let mut buf = Zeroizing::new([0u8; N]);
    rand::rngs::OsRng
        .try_fill_bytes(buf.as_mut())
        .map_err(|e| SealError::Random(e.to_string()))?;
    Ok(buf)
}

impl DataKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> Result<DataKey, SealError> {
        Ok(DataKey(random::<KEY_LEN>()?))
    }

    /// A key derived elsewhere (autolock's wrapping key).
    pub(crate) fn from_bytes(bytes: Zeroizing<[u8; KEY_LEN]>) -> DataKey {
        DataKey(bytes)
    }

    /// The key as its file holds it (one line of text).
    pub fn to_file(&self) -> Zeroizing<String> {
        let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(*self.0));
        Zeroizing::new(format!("{FILE_TAG}{}\n", *b64))
    }

    pub fn from_file(text: &str) -> Result<DataKey, SealError> {
        let b64 = text
            .trim_end()
            .strip_prefix(FILE_TAG)
            .ok_or(SealError::MalformedKey)?;
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| SealError::MalformedKey)?,
        );
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        if bytes.len() != KEY_LEN {
            return Err(SealError::MalformedKey);
        }
        key.copy_from_slice(&bytes);
        Ok(DataKey(key))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&Key::from(*self.0))
    }

    /// `data` sealed for the object `id`: base64 of nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, id: &str, data: &[u8]) -> Result<String, SealError> {
        let nonce = random::<NONCE_LEN>()?;
        let sealed = self
            .cipher()
            .encrypt(
                &XNonce::from(*nonce),
                Payload {
                    msg: data,
                    aad: id.as_bytes(),
                },
            )
            .map_err(|_| SealError::Seal(id.to_string()))?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(nonce.as_ref());
        out.extend_from_slice(&sealed);
        Ok(base64::engine::general_purpose::STANDARD.encode(out))
    }

    /// The data `seal` sealed for `id`.
    pub fn open(&self, id: &str, sealed: &str) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .map_err(|_| SealError::Malformed(id.to_string()))?;
        if raw.len() < NONCE_LEN {
            return Err(SealError::Malformed(id.to_string()));
        }
        let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
        let mut n = [0u8; NONCE_LEN];
        n.copy_from_slice(nonce);
        self.cipher()
            .decrypt(
                &XNonce::from(n),
                Payload {
                    msg: ciphertext,
                    aad: id.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| SealError::Open(id.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_data_opens_only_with_its_key_and_id() {
        let key = DataKey::generate().unwrap();
        let sealed = key.seal("s1", b"hunter2").unwrap();
        assert!(!sealed.contains("hunter2"));
        assert_eq!(key.open("s1", &sealed).unwrap().as_slice(), b"hunter2");
        // Moved to another secret's key: refused.
        assert!(matches!(key.open("s2", &sealed), Err(SealError::Open(_))));
        let other = DataKey::generate().unwrap();
        assert!(matches!(other.open("s1", &sealed), Err(SealError::Open(_))));
        // A flipped bit anywhere is caught.
        let mut raw = base64::engine::general_purpose::STANDARD
            .decode(&sealed)
            .unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        let tampered = base64::engine::general_purpose::STANDARD.encode(raw);
        assert!(key.open("s1", &tampered).is_err());
        assert!(matches!(
            key.open("s1", "AAAA"),
            Err(SealError::Malformed(_))
        ));
    }

    #[test]
    fn every_seal_has_its_own_nonce() {
        let key = DataKey::generate().unwrap();
        assert_ne!(key.seal("s", b"x").unwrap(), key.seal("s", b"x").unwrap());
    }

    #[test]
    fn the_key_round_trips_through_its_file_and_never_prints() {
        let key = DataKey::generate().unwrap();
        let file = key.to_file();
        let back = DataKey::from_file(&file).unwrap();
        let sealed = key.seal("s1", b"data").unwrap();
        assert_eq!(back.open("s1", &sealed).unwrap().as_slice(), b"data");
        assert_eq!(format!("{key:?}"), "DataKey(<redacted>)");
        assert!(DataKey::from_file("garbage").is_err());
        assert!(DataKey::from_file(&format!("{FILE_TAG}AAAA")).is_err());
    }
}
