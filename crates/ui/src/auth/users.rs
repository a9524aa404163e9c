//! The dashboard's accounts: `<data-root>/ui/users.json` (mode 0600),
//! replaced whole and atomically (temp file, fsync, rename, fsync of the
//! directory) so a crash leaves either the old file or the new one.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::password;
use crate::error::UiError;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct User {
    pub name: String,
    /// argon2id PHC string.
    pub hash: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct UsersFile {
    users: Vec<User>,
}

pub struct UserStore {
    dir: PathBuf,
    users: Mutex<Vec<User>>,
}

impl UserStore {
    /// Opens (creating the directory, mode 0700) the store in `dir`.
    pub fn open(dir: &Path) -> Result<UserStore, UiError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| UiError::io(format!("creating {}", dir.display()), e))?;
        let path = dir.join("users.json");
        let users = match std::fs::read(&path) {
            Ok(b) => {
                serde_json::from_slice::<UsersFile>(&b)
                    .map_err(|e| UiError::Internal(format!("{}: {e}", path.display())))?
                    .users
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(UiError::io(format!("reading {}", path.display()), e)),
        };
        Ok(UserStore {
            dir: dir.to_path_buf(),
            users: Mutex::new(users),
        })
    }

    /// True until the first account exists: the setup page is open only then.
    pub fn needs_setup(&self) -> bool {
        self.users.lock().is_empty()
    }

    /// Creates the first (admin) account; refused once any account exists, so
    /// the setup page cannot be replayed to take over a configured dashboard.
    pub fn create_admin(&self, name: &str, password: &str) -> Result<(), UiError> {
        let name = valid_name(name)?;
        let hash = password::hash(password)?;
        let mut users = self.users.lock();
        if !users.is_empty() {
            return Err(UiError::Conflict("the admin account already exists".into()));
        }
        let next = vec![User { name, hash }];
        self.write(&next)?;
        *users = next;
        Ok(())
    }

    /// Sets `name`'s password, creating the account if missing (the
    /// `--ui-admin-password-file` flag: the file is the source of truth).
    pub fn set_password(&self, name: &str, password: &str) -> Result<(), UiError> {
        let name = valid_name(name)?;
        let hash = password::hash(password)?;
        let mut users = self.users.lock();
        let mut next = users.clone();
        match next.iter_mut().find(|u| u.name == name) {
            Some(u) => u.hash = hash,
            None => next.push(User { name, hash }),
        }
        self.write(&next)?;
        *users = next;
        Ok(())
    }

    /// The account's name when `password` is right. An unknown user costs a
    /// hash too, so timing does not tell which names exist.
    pub fn check(&self, name: &str, password: &str) -> Option<String> {
        let user = self.users.lock().iter().find(|u| u.name == name).cloned();
        match user {
            Some(u) => password::verify(password, &u.hash).then_some(u.name),
            None => {
                let _ = password::verify(password, DUMMY_HASH);
                None
            }
        }
    }

    fn write(&self, users: &[User]) -> Result<(), UiError> {
        let path = self.dir.join("users.json");
        let file = UsersFile {
            users: users.to_vec(),
        };
        cas::atomic::write_json_atomic(&path, &file)
            .map_err(|e| UiError::io(format!("writing {}", path.display()), e))
    }
}

/// A real argon2id hash of a random string, verified against for unknown
/// names so that a miss takes as long as a wrong password.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3KmWmGZ8b0b0m9tE5S0D1Sg7rX1bX2mYb1Yk0m2n3yQ";

fn valid_name(name: &str) -> Result<String, UiError> {
    let name = name.trim();
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(UiError::BadInput(
            "the user name must be 1 to 64 letters, digits, '.', '_' or '-'".into(),
        ));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_once_then_persisted_with_private_modes() {
        let dir = tempfile::tempdir().unwrap();
        let ui = dir.path().join("ui");
        let store = UserStore::open(&ui).unwrap();
        assert!(store.needs_setup());
        store.create_admin("admin", "a long password").unwrap();
        assert!(!store.needs_setup());
        let again = store.create_admin("other", "another password").unwrap_err();
        assert!(matches!(again, UiError::Conflict(_)), "{again}");

        let reopened = UserStore::open(&ui).unwrap();
        assert_eq!(
            reopened.check("admin", "a long password").as_deref(),
            Some("admin")
        );
        assert_eq!(reopened.check("admin", "wrong password"), None);
        assert_eq!(reopened.check("nobody", "a long password"), None);
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&ui.join("users.json")), 0o600);
        assert_eq!(mode(&ui), 0o700);
        let names: Vec<_> = std::fs::read_dir(&ui)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["users.json"], "no temp file left");
        let text = std::fs::read_to_string(ui.join("users.json")).unwrap();
        assert!(!text.contains("a long password"), "{text}");
    }

    #[test]
    fn the_timing_decoy_is_a_real_hash() {
        assert!(argon2::password_hash::PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[test]
    fn set_password_replaces_or_creates() {
        let dir = tempfile::tempdir().unwrap();
        let store = UserStore::open(dir.path()).unwrap();
        store.set_password("admin", "first password").unwrap();
        store.set_password("admin", "second password").unwrap();
        assert_eq!(store.check("admin", "first password"), None);
        assert!(store.check("admin", "second password").is_some());
        assert!(store.set_password("bad name!", "second password").is_err());
        assert!(store.set_password("admin", "short").is_err());
        assert!(store.check("admin", "second password").is_some());
    }
}
