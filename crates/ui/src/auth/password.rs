//! Password hashing: argon2id with a random salt per password, stored as a
//! PHC string (algorithm, parameters and salt travel with the hash).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::error::UiError;

/// The shortest password the setup page and the flag accept.
pub const MIN_LEN: usize = 8;

/// Hashes `password` for storage.
pub fn hash(password: &str) -> Result<String, UiError> {
    if password.chars().count() < MIN_LEN {
        return Err(UiError::BadInput(format!(
            "the password must be at least {MIN_LEN} characters"
        )));
    }
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| UiError::Internal(format!("hashing a password: {e}")))
}

/// Whether `password` matches a stored PHC string; a malformed one matches nothing.
pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify("correct horse", &h));
        assert!(!verify("correct horsf", &h));
        assert!(!verify("", &h));
    }

    #[test]
    fn salts_differ_and_garbage_never_matches() {
        let a = hash("same password").unwrap();
        let b = hash("same password").unwrap();
        assert_ne!(a, b, "a random salt per hash");
        assert!(!verify("same password", "not a phc string"));
        assert!(!verify("same password", ""));
    }

    #[test]
    fn short_passwords_are_refused() {
        let e = hash("short").unwrap_err();
        assert!(e.to_string().contains("at least 8"), "{e}");
    }
}
