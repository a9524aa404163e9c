//! HTTP basic auth against an htpasswd file of bcrypt hashes.

use crate::error::RegistryError;
use base64::Engine;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::path::Path;

pub struct Htpasswd {
    users: HashMap<String, String>,
    // bcrypt is deliberately slow; remember credentials that already passed
    // (by a hash of user and password, never the password itself) so every
    // request of a push does not pay for it again.
    verified: Mutex<HashSet<[u8; 32]>>,
}

impl Htpasswd {
    pub fn load(path: &Path) -> Result<Self, RegistryError> {
        crate::fsio::warn_if_exposed(path, "htpasswd file");
        let text = std::fs::read_to_string(path).map_err(|e| RegistryError::io(path, e))?;
        let mut users = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((user, hash)) = line.split_once(':') else {
                return Err(RegistryError::Htpasswd {
                    path: path.to_path_buf(),
                    message: format!("line {}: expected user:hash", n + 1),
                });
            };
            if !hash.starts_with("$2") {
                return Err(RegistryError::Htpasswd {
                    path: path.to_path_buf(),
                    message: format!("line {}: only bcrypt hashes ($2y$) are supported", n + 1),
                });
            }
            users.insert(user.to_string(), hash.to_string());
        }
        Ok(Htpasswd {
            users,
            verified: Mutex::new(HashSet::new()),
        })
    }

    /// Checks an `Authorization` header value.
    pub fn check(&self, authorization: Option<&str>) -> bool {
        let Some(encoded) = authorization.and_then(|a| {
            let (scheme, rest) = a.split_once(' ')?;
            scheme.eq_ignore_ascii_case("basic").then_some(rest.trim())
        }) else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded) else {
            return false;
        };
        let Ok(decoded) = String::from_utf8(decoded) else {
            return false;
        };
        let Some((user, password)) = decoded.split_once(':') else {
            return false;
        };
        let Some(hash) = self.users.get(user) else {
            return false;
        };
        let key: [u8; 32] = Sha256::new()
            .chain_update(hash.as_bytes())
            .chain_update([0])
            .chain_update(password.as_bytes())
            .finalize()
            .into();
        if self.verified.lock().contains(&key) {
            return true;
        }
        let ok = bcrypt::verify(password, hash).unwrap_or(false);
        if ok {
            self.verified.lock().insert(key);
        }
        ok
    }
}
