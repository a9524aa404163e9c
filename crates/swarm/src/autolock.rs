//! Autolock (`EncryptionConfig.AutoLockManagers`): a manager keeps its
//! private files — its TLS key, the cluster's data key, its etcd member's
//! key — on disk wrapped with a key derived from the cluster's unlock key,
//! which no node writes to disk. After a restart the manager is locked until
//! `swarm unlock` hands the key back, so a copy of its disk opens nothing.
//!
//! The unlock key is 32 random bytes written as swarmkit writes it
//! (`SWMKEY-1-` and unpadded base64). The cluster store keeps it sealed with
//! the data key: that is how every manager learns of a new key and re-wraps
//! its files ([`crate::keeper::KeyKeeper`]), and why it is never in etcd in
//! the clear.

use std::fmt;

use base64::Engine as _;
use zeroize::Zeroizing;

use crate::error::{ErrorKind, SwarmError};
use crate::seal::{DataKey, SealError};

/// What swarmkit's human-readable keys start with.
pub const KEY_PREFIX: &str = "SWMKEY-1-";
const KEY_LEN: usize = 32;

/// What a wrapped file starts with; anything else is a plain file.
const FILE_TAG: &str = "berth-swarm-locked-v1 ";

/// HKDF's `info`: the wrapping key is used for nothing else.
const KEK_INFO: &[u8] = b"berth swarm autolock: the key that wraps a manager's private files";

/// The associated data of the unlock key sealed in the cluster store.
const SEALED_LABEL: &str = "swarm/unlock-key";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// swarmkit's words for a key that is not `SWMKEY-1-` and base64.
    #[error("invalid key string")]
    MalformedKey,
    /// dockerd's words for a key that does not open the files.
    #[error("swarm could not be unlocked: invalid key provided")]
    WrongKey,
    /// A wrapped file was to be read without a key.
    #[error("{}", crate::error::LOCKED)]
    Locked,
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}: the file is malformed")]
    Corrupt(String),
    #[error(transparent)]
    Seal(#[from] SealError),
}

impl From<LockError> for SwarmError {
    fn from(e: LockError) -> Self {
        let kind = match e {
            LockError::MalformedKey => ErrorKind::InvalidArgument,
            LockError::WrongKey => ErrorKind::Unauthorized,
            LockError::Locked => ErrorKind::Unavailable,
            LockError::Io { .. } | LockError::Corrupt(_) | LockError::Seal(_) => {
                ErrorKind::Internal
            }
        };
        SwarmError::new(kind, e.to_string())
    }
}

/// A cluster's unlock key. Wiped from memory when dropped; `Debug` never
/// shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct UnlockKey(Zeroizing<[u8; KEY_LEN]>);

impl fmt::Debug for UnlockKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UnlockKey(<redacted>)")
    }
}

impl UnlockKey {
    pub fn generate() -> Result<UnlockKey, SealError> {
        Ok(UnlockKey(crate::seal::random::<KEY_LEN>()?))
    }

    /// A key as users see it. A well-formed key of another length is a
    /// wrong key, as for dockerd (it decodes, then opens nothing).
    pub fn parse(text: &str) -> Result<UnlockKey, LockError> {
        let b64 = text
            .strip_prefix(KEY_PREFIX)
            .ok_or(LockError::MalformedKey)?;
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(b64)
                .map_err(|_| LockError::MalformedKey)?,
        );
        Self::from_bytes(&bytes).ok_or(LockError::WrongKey)
    }

    fn from_bytes(bytes: &[u8]) -> Option<UnlockKey> {
        if bytes.len() != KEY_LEN {
            return None;
        }
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        key.copy_from_slice(bytes);
        Some(UnlockKey(key))
    }

    /// `SWMKEY-1-…`, what `swarm unlock-key` prints.
    pub fn to_human(&self) -> Zeroizing<String> {
        let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD_NO_PAD.encode(*self.0));
        Zeroizing::new(format!("{KEY_PREFIX}{}", *b64))
    }

    /// The key that wraps files: the unlock key is uniformly random, so
    /// HKDF's expand step alone is a sound KDF; it keeps the wrapping key
    /// apart from any other use of the unlock key.
    fn kek(&self) -> Result<DataKey, SealError> {
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(None, self.0.as_ref());
        let mut okm = Zeroizing::new([0u8; KEY_LEN]);
        // Only an output over 255 × 32 bytes fails; 32 never does.
        hk.expand(KEK_INFO, okm.as_mut())
            .map_err(|_| SealError::Seal("the key that wraps this manager's files".into()))?;
        Ok(DataKey::from_bytes(okm))
    }

    /// The key sealed with the cluster's data key, as the store keeps it.
    pub fn seal(&self, data_key: &DataKey) -> Result<String, SealError> {
        data_key.seal(SEALED_LABEL, self.0.as_ref())
    }

    pub fn open_sealed(data_key: &DataKey, sealed: &str) -> Result<UnlockKey, SealError> {
        let bytes = data_key.open(SEALED_LABEL, sealed)?;
        Self::from_bytes(&bytes).ok_or_else(|| SealError::Malformed(SEALED_LABEL.into()))
    }
}

/// `plain` wrapped for the file `label` names (the label is the associated
/// data: a wrapped file copied over another does not open).
pub fn wrap(key: &UnlockKey, label: &str, plain: &[u8]) -> Result<String, SealError> {
    Ok(format!("{FILE_TAG}{}\n", key.kek()?.seal(label, plain)?))
}

pub fn is_wrapped(text: &str) -> bool {
    text.starts_with(FILE_TAG)
}

/// What [`wrap`] wrapped; `WrongKey` if `key` is not the one it was wrapped with.
pub fn unwrap(key: &UnlockKey, label: &str, text: &str) -> Result<Zeroizing<Vec<u8>>, LockError> {
    let sealed = text
        .strip_prefix(FILE_TAG)
        .ok_or_else(|| LockError::Corrupt(label.to_string()))?
        .trim_end();
    key.kek()?.open(label, sealed).map_err(|e| match e {
        SealError::Open(_) => LockError::WrongKey,
        other => LockError::Seal(other),
    })
}

#[cfg(test)]
mod tests;
