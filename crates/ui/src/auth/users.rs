//! The dashboard's accounts: `<data-root>/ui/users.json` (mode 0600),
//! replaced whole and atomically (temp file, fsync, rename, fsync of the
//! directory) so a crash leaves either the old file or the new one.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::password;
use crate::error::UiError;

/// What an account may do: everything, or look without changing anything.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    Admin,
    Viewer,
}

impl Role {
    pub fn parse(s: &str) -> Result<Role, UiError> {
        match s {
            "admin" => Ok(Role::Admin),
            "viewer" => Ok(Role::Viewer),
            _ => Err(UiError::BadInput(format!(
                "invalid role {s:?}: admin or viewer"
            ))),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct User {
    pub name: String,
    /// argon2id PHC string.
    pub hash: String,
    /// Accounts written before roles existed were admins.
    #[serde(default)]
    pub role: Role,
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
        let next = vec![User {
            name,
            hash,
            role: Role::Admin,
        }];
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
            None => next.push(User {
                name,
                hash,
                role: Role::Admin,
            }),
        }
        self.write(&next)?;
        *users = next;
        Ok(())
    }

    /// Changes `name`'s password when `current` is right.
    pub fn change_password(&self, name: &str, current: &str, new: &str) -> Result<(), UiError> {
        if self.check(name, current).is_none() {
            return Err(UiError::Forbidden("the current password is wrong".into()));
        }
        let hash = password::hash(new)?;
        let mut users = self.users.lock();
        let mut next = users.clone();
        let Some(u) = next.iter_mut().find(|u| u.name == name) else {
            return Err(UiError::NotFound(format!("no such user: {name}")));
        };
        u.hash = hash;
        self.write(&next)?;
        *users = next;
        Ok(())
    }

    /// A new account; an existing name is refused.
    pub fn add(&self, name: &str, password: &str, role: Role) -> Result<(), UiError> {
        let name = valid_name(name)?;
        let hash = password::hash(password)?;
        let mut users = self.users.lock();
        if users.iter().any(|u| u.name == name) {
            return Err(UiError::Conflict(format!("the user {name} already exists")));
        }
        let mut next = users.clone();
        next.push(User { name, hash, role });
        self.write(&next)?;
        *users = next;
        Ok(())
    }

    /// Removes an account; the last admin stays, or nobody could manage the rest.
    pub fn remove(&self, name: &str) -> Result<(), UiError> {
        let mut users = self.users.lock();
        let Some(user) = users.iter().find(|u| u.name == name) else {
            return Err(UiError::NotFound(format!("no such user: {name}")));
        };
        let admins = users.iter().filter(|u| u.role == Role::Admin).count();
        if user.role == Role::Admin && admins == 1 {
            return Err(UiError::Conflict("the last admin cannot be removed".into()));
        }
        let next: Vec<User> = users.iter().filter(|u| u.name != name).cloned().collect();
        self.write(&next)?;
        *users = next;
        Ok(())
    }

    /// Names and roles, in the order they were made.
    pub fn list(&self) -> Vec<(String, Role)> {
        self.users
            .lock()
            .iter()
            .map(|u| (u.name.clone(), u.role))
            .collect()
    }

    /// The account's name and role when `password` is right. An unknown
    /// user costs a hash too, so timing does not tell which names exist.
    pub fn check(&self, name: &str, password: &str) -> Option<(String, Role)> {
        let user = self.users.lock().iter().find(|u| u.name == name).cloned();
        match user {
            Some(u) => password::verify(password, &u.hash).then_some((u.name, u.role)),
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
            reopened.check("admin", "a long password"),
            Some(("admin".to_string(), Role::Admin))
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
    fn viewers_are_added_and_the_last_admin_stays() {
        let dir = tempfile::tempdir().unwrap();
        let store = UserStore::open(dir.path()).unwrap();
        store.create_admin("admin", "a long password").unwrap();
        store.add("eve", "viewer password", Role::Viewer).unwrap();
        assert!(matches!(
            store.add("eve", "viewer password", Role::Viewer),
            Err(UiError::Conflict(_))
        ));
        assert_eq!(
            store.check("eve", "viewer password"),
            Some(("eve".into(), Role::Viewer))
        );
        let e = store.remove("admin").unwrap_err();
        assert!(e.to_string().contains("last admin"), "{e}");
        let e = store
            .change_password("eve", "wrong one", "another password")
            .unwrap_err();
        assert!(e.to_string().contains("current password"), "{e}");
        assert!(
            store
                .change_password("eve", "viewer password", "short")
                .is_err()
        );
        store
            .change_password("eve", "viewer password", "another password")
            .unwrap();
        assert!(store.check("eve", "another password").is_some());
        store.remove("eve").unwrap();
        assert!(matches!(store.remove("eve"), Err(UiError::NotFound(_))));
        assert_eq!(
            UserStore::open(dir.path()).unwrap().list(),
            [("admin".to_string(), Role::Admin)]
        );
        assert!(Role::parse("root").is_err());
        // A file from before roles: its accounts are admins.
        let old = r#"{"users":[{"name":"a","hash":"x"}]}"#;
        let f: UsersFile = serde_json::from_str(old).unwrap();
        assert_eq!(f.users[0].role, Role::Admin);
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
