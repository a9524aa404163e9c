//! Apps (Dokku's workflow): a name, its domains, a bare git repository whose
//! pre-receive hook builds and deploys what is pushed, and its releases.
//! The store keeps `<data-root>/apps/<name>/app.json`; the router routes an
//! app's domains to the containers of its current release only, so a deploy
//! switches traffic by recording a release.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::labels;

/// Labels of an app's containers.
pub const APP: &str = "berth.app";
pub const RELEASE: &str = "berth.app.release";
pub const PROCESS: &str = "berth.app.process";

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("invalid app name {0:?}: lowercase letters, digits and '-', starting with a letter")]
    BadName(String),
    #[error("invalid domain {0:?}")]
    BadDomain(String),
    #[error("app {0} already exists")]
    Exists(String),
    #[error("no such app: {0}")]
    NotFound(String),
    #[error("domain {domain} is already claimed by app {app}")]
    Claimed { domain: String, app: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("git init: {0}")]
    Git(String),
    #[error("release v{0} is not the next one (another deploy of the app ran meanwhile)")]
    Raced(u32),
    #[error("invalid {0}")]
    Invalid(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> AppError {
    let what = what.into();
    move |source| AppError::Io { what, source }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub version: u32,
    pub image: String,
    /// The pushed commit, abbreviated.
    pub rev: String,
    pub created: String,
    /// Process types and their commands (none: the image's own command),
    /// and the CHECKS text: what a rollback or a restart runs again.
    #[serde(default)]
    pub processes: Vec<(String, Option<String>)>,
    #[serde(default)]
    pub checks: Option<String>,
    /// The environment it was started with, which a rollback to it runs
    /// again. None in records from before releases kept theirs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<BTreeMap<String, String>>,
    /// What made it (`Deploy abc1234`, `Set A`, `Rollback to v2`), as
    /// Heroku's releases tell them apart; none in older records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl Release {
    /// The `berth.app.release` label of its containers.
    pub fn label(&self) -> String {
        format!("v{}", self.version)
    }
}

/// What a deploy asks to record once its containers passed their checks.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NewRelease {
    pub version: u32,
    pub image: String,
    pub rev: String,
    #[serde(default)]
    pub processes: Vec<(String, Option<String>)>,
    #[serde(default)]
    pub checks: Option<String>,
    /// The environment its processes were started with; none (a client
    /// from before releases sent it): the app's config.
    #[serde(default)]
    pub config: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub description: Option<String>,
}

/// The file, beside an app's record, of its registry credentials.
const REGISTRY_AUTH: &str = "registry-auth";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct App {
    pub name: String,
    pub domains: Vec<String>,
    /// The branch whose pushes deploy.
    pub branch: String,
    /// The port `web` containers listen on.
    pub port: u16,
    pub releases: Vec<Release>,
    /// The release being served (its label, `v3`).
    pub current: Option<String>,
    /// Environment of its processes (`config:set`).
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Containers per process type (`ps:scale`; a type not named runs one).
    #[serde(default)]
    pub scale: BTreeMap<String, u32>,
    /// Where its images are pushed for the nodes of a swarm to pull
    /// (`registry:set`; `HOST[:PORT][/PATH]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// Whom the pushes to `registry` log in as (`registry:set --username`);
    /// the credentials themselves are kept beside the record, never in it
    /// (see [`AppStore::registry_auth`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_user: Option<String>,
}

impl App {
    /// The port web containers listen on: the app's `PORT` setting (as
    /// Dokku and Heroku pass it), else `port` (80).
    pub fn web_port(&self) -> u16 {
        self.config
            .get("PORT")
            .and_then(|p| p.parse().ok())
            .filter(|p| *p > 0)
            .unwrap_or(self.port)
    }
}

/// Every app, in memory and on disk.
#[derive(Debug)]
pub struct AppStore {
    root: PathBuf,
    /// How the hooks reach the daemon (`unix:///…`) and the berth binary they run.
    api_host: String,
    exe: PathBuf,
    apps: RwLock<BTreeMap<String, App>>,
    changed: tokio::sync::Notify,
}

fn valid_name(n: &str) -> bool {
    n.len() <= 48
        && n.starts_with(|c: char| c.is_ascii_lowercase())
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A directory only root reads (made if missing, tightened if not).
fn private_dir(dir: &Path) -> Result<(), AppError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)))
        .map_err(io(format!("creating {}", dir.display())))
}

impl AppStore {
    /// Loads `root/*/app.json` (a damaged one is skipped with a warning).
    pub fn open(root: &Path, api_host: &str, exe: &Path) -> Result<AppStore, AppError> {
        private_dir(root)?;
        let mut apps = BTreeMap::new();
        let rd = std::fs::read_dir(root).map_err(io(format!("reading {}", root.display())))?;
        for e in rd.filter_map(Result::ok) {
            let file = e.path().join("app.json");
            match std::fs::read(&file).map(|b| serde_json::from_slice::<App>(&b)) {
                Ok(Ok(app)) => {
                    apps.insert(app.name.clone(), app);
                }
                Ok(Err(err)) => tracing::warn!("apps: {}: {err}", file.display()),
                Err(_) => {}
            }
        }
        let store = AppStore {
            root: root.to_path_buf(),
            api_host: api_host.to_string(),
            exe: exe.to_path_buf(),
            apps: RwLock::new(apps),
            changed: tokio::sync::Notify::new(),
        };
        // The socket or the binary may have moved since the hooks were
        // written (another -H, an upgrade): they call this daemon back.
        for name in store.apps.read().keys() {
            if let Err(e) = store.write_hook(name) {
                tracing::warn!("apps: {name}: {e}");
            }
        }
        Ok(store)
    }

    pub fn repo(&self, name: &str) -> PathBuf {
        self.root.join(name).join("repo.git")
    }

    fn save(&self, app: &App) -> Result<(), AppError> {
        let file = self.root.join(&app.name).join("app.json");
        cas::atomic::write_json_atomic(&file, app)
            .map_err(io(format!("writing {}", file.display())))?;
        self.changed.notify_waiters();
        Ok(())
    }

    /// Resolves when an app changed (a release, a removal).
    pub async fn changed(&self) {
        self.changed.notified().await
    }

    pub fn list(&self) -> Vec<App> {
        self.apps.read().values().cloned().collect()
    }

    pub fn get(&self, name: &str) -> Result<App, AppError> {
        self.apps
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| AppError::NotFound(name.to_string()))
    }

    /// A new app: its directory, a bare repository with the deploy hook.
    pub fn create(&self, name: &str, domains: Vec<String>) -> Result<App, AppError> {
        if !valid_name(name) {
            return Err(AppError::BadName(name.to_string()));
        }
        let domains: Vec<String> = if domains.is_empty() {
            vec![format!("{name}.localhost")]
        } else {
            domains.iter().map(|d| d.to_ascii_lowercase()).collect()
        };
        for d in &domains {
            if !labels::valid_host(d) {
                return Err(AppError::BadDomain(d.clone()));
            }
        }
        let mut apps = self.apps.write();
        if apps.contains_key(name) {
            return Err(AppError::Exists(name.to_string()));
        }
        for other in apps.values() {
            if let Some(d) = domains.iter().find(|d| other.domains.contains(d)) {
                return Err(AppError::Claimed {
                    domain: d.clone(),
                    app: other.name.clone(),
                });
            }
        }
        let dir = self.root.join(name);
        private_dir(&dir)?;
        if let Err(e) = self.init_repo(name) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        let app = App {
            name: name.to_string(),
            domains,
            branch: "main".into(),
            port: 80,
            releases: Vec::new(),
            current: None,
            config: BTreeMap::new(),
            scale: BTreeMap::new(),
            registry: None,
            registry_user: None,
        };
        self.save(&app)?;
        apps.insert(name.to_string(), app.clone());
        Ok(app)
    }

    fn init_repo(&self, name: &str) -> Result<(), AppError> {
        let repo = self.repo(name);
        let out = Command::new("git")
            // Root's alone, as everything under the data root: git keeps
            // the repository's files 0600 and its directories 0700.
            .args([
                "init",
                "--bare",
                "--quiet",
                "--initial-branch=main",
                "--shared=0600",
            ])
            .arg(&repo)
            .output()
            .map_err(io("running git"))?;
        if !out.status.success() {
            return Err(AppError::Git(
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            ));
        }
        self.write_hook(name)
    }

    fn write_hook(&self, name: &str) -> Result<(), AppError> {
        let hook = self.repo(name).join("hooks").join("pre-receive");
        let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
        let script = format!(
            "#!/bin/sh\n# berth: builds and deploys what is pushed to the deploy branch.\nBERTH_HOST={} exec {} app-receive {}\n",
            quote(&self.api_host),
            quote(&self.exe.to_string_lossy()),
            quote(name)
        );
        std::fs::write(&hook, script).map_err(io(format!("writing {}", hook.display())))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o700))
            .map_err(io("chmod pre-receive"))?;
        Ok(())
    }

    /// Forgets the app and its repository (its containers are the caller's).
    pub fn remove(&self, name: &str) -> Result<App, AppError> {
        let app = self
            .apps
            .write()
            .remove(name)
            .ok_or_else(|| AppError::NotFound(name.to_string()))?;
        let dir = self.root.join(name);
        std::fs::remove_dir_all(&dir).map_err(io(format!("removing {}", dir.display())))?;
        self.changed.notify_waiters();
        Ok(app)
    }

    /// Records a release and makes it current: the router switches the
    /// app's domains to its containers, and the app's config becomes the
    /// one they run with (a rollback's is an older release's), so `app
    /// config` shows what runs.
    pub fn release(&self, name: &str, new: NewRelease) -> Result<Release, AppError> {
        self.update(name, |app| {
            let next = app.releases.last().map_or(1, |r| r.version + 1);
            if new.version != next {
                return Err(AppError::Raced(new.version));
            }
            let config = new.config.clone().unwrap_or_else(|| app.config.clone());
            let release = Release {
                version: next,
                image: new.image.clone(),
                rev: new.rev.clone(),
                created: chrono_now(),
                processes: new.processes.clone(),
                checks: new.checks.clone(),
                config: Some(config.clone()),
                description: new.description.clone(),
            };
            app.config = config;
            app.current = Some(release.label());
            app.releases.push(release.clone());
            Ok(release)
        })
    }

    /// Changes an app under the lock and saves it; nothing changes when `f`
    /// fails.
    fn update<T>(
        &self,
        name: &str,
        f: impl FnOnce(&mut App) -> Result<T, AppError>,
    ) -> Result<T, AppError> {
        let mut apps = self.apps.write();
        let app = apps
            .get(name)
            .ok_or_else(|| AppError::NotFound(name.to_string()))?;
        let mut next = app.clone();
        let out = f(&mut next)?;
        self.save(&next)?;
        apps.insert(name.to_string(), next);
        Ok(out)
    }

    /// `config:set` / `config:unset`: the environment of the next release
    /// (the caller rolls one out, as Dokku does).
    pub fn set_config(
        &self,
        name: &str,
        set: BTreeMap<String, String>,
        unset: &[String],
    ) -> Result<App, AppError> {
        for k in set.keys().chain(unset) {
            if k.is_empty() || k.contains(['=', '\0']) {
                return Err(AppError::Invalid(format!("config key {k:?}")));
            }
        }
        self.update(name, |app| {
            app.config.extend(set);
            for k in unset {
                app.config.remove(k);
            }
            Ok(app.clone())
        })
    }

    /// `domains:add` / `domains:remove`: applied by the router at once.
    pub fn set_domains(
        &self,
        name: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<App, AppError> {
        let add: Vec<String> = add.iter().map(|d| d.to_ascii_lowercase()).collect();
        if let Some(d) = add.iter().find(|d| !labels::valid_host(d)) {
            return Err(AppError::BadDomain(d.clone()));
        }
        let others: Vec<(String, Vec<String>)> = self
            .apps
            .read()
            .values()
            .filter(|a| a.name != name)
            .map(|a| (a.name.clone(), a.domains.clone()))
            .collect();
        for (other, domains) in &others {
            if let Some(d) = add.iter().find(|d| domains.contains(d)) {
                return Err(AppError::Claimed {
                    domain: d.clone(),
                    app: other.clone(),
                });
            }
        }
        self.update(name, |app| {
            for d in add {
                if !app.domains.contains(&d) {
                    app.domains.push(d);
                }
            }
            app.domains
                .retain(|d| !remove.iter().any(|r| r.eq_ignore_ascii_case(d)));
            Ok(app.clone())
        })
    }

    /// `ps:scale`: containers per process type from the next release on.
    pub fn set_scale(&self, name: &str, scale: BTreeMap<String, u32>) -> Result<App, AppError> {
        if let Some((k, n)) = scale.iter().find(|(_, n)| **n > 20) {
            return Err(AppError::Invalid(format!(
                "scale {k}={n}: at most 20 per process type"
            )));
        }
        self.update(name, |app| {
            app.scale.extend(scale);
            Ok(app.clone())
        })
    }

    /// `registry:set`: where the next releases' images are pushed when the
    /// app runs as swarm services (empty: none), and the credentials its
    /// pushes and its services' nodes use there (`login`: the user name
    /// and Docker's encoded auth config, as `X-Registry-Auth` carries it;
    /// None: the registry takes anonymous pushes).
    pub fn set_registry(
        &self,
        name: &str,
        registry: &str,
        login: Option<(&str, &str)>,
    ) -> Result<App, AppError> {
        let registry = registry.trim().trim_end_matches('/');
        let valid = registry.split('/').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-_:".contains(c))
        });
        if !registry.is_empty() && !valid {
            return Err(AppError::Invalid(format!(
                "registry {registry:?}: HOST[:PORT][/PATH]"
            )));
        }
        if registry.is_empty() && login.is_some() {
            return Err(AppError::Invalid(
                "credentials need a registry: registry:set NAME HOST[:PORT] --username USER".into(),
            ));
        }
        let file = self.root.join(name).join(REGISTRY_AUTH);
        self.update(name, |app| {
            match login {
                Some((_, auth)) => cas::atomic::write_atomic(&file, auth.as_bytes()),
                None => match std::fs::remove_file(&file) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                    _ => Ok(()),
                },
            }
            .map_err(io(format!("writing {}", file.display())))?;
            app.registry = (!registry.is_empty()).then(|| registry.to_ascii_lowercase());
            app.registry_user = login.map(|(user, _)| user.to_string());
            Ok(app.clone())
        })
    }

    /// The encoded credentials of the app's registry (`registry:set
    /// --username`), for its pushes and its services' pulls; kept in a file
    /// of their own (0600, as every store file), so the app's record, which
    /// `app info` and the dashboard show, never holds them.
    pub fn registry_auth(&self, name: &str) -> Result<Option<String>, AppError> {
        if !self.apps.read().contains_key(name) {
            return Err(AppError::NotFound(name.to_string()));
        }
        let file = self.root.join(name).join(REGISTRY_AUTH);
        match std::fs::read_to_string(&file) {
            Ok(auth) => Ok(Some(auth)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(format!("reading {}", file.display()))(e)),
        }
    }

    /// The app whose domain `host` is.
    pub fn owner_of(&self, host: &str) -> Option<String> {
        self.apps
            .read()
            .values()
            .find(|a| a.domains.iter().any(|d| d == host))
            .map(|a| a.name.clone())
    }

    /// The route labels of an app container of the current release; none
    /// for other releases (started, being checked, or draining).
    pub fn route_labels(&self, labels: &BTreeMap<String, String>) -> Option<Vec<(String, String)>> {
        let app = self.apps.read().get(labels.get(APP)?)?.clone();
        let release = labels.get(RELEASE)?;
        if app.current.as_ref() != Some(release)
            || labels.get(PROCESS).map(String::as_str) != Some("web")
        {
            return None;
        }
        Some(vec![
            (labels::HOST.to_string(), app.domains.join(",")),
            (labels::PORT.to_string(), app.web_port().to_string()),
        ])
    }
}

fn chrono_now() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{}", d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &Path) -> AppStore {
        AppStore::open(dir, "unix:///run/berth.sock", Path::new("/usr/bin/berth")).unwrap()
    }

    #[test]
    fn create_release_route_and_remove() {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(tmp.path());
        let app = s.create("demo", vec!["Demo.test".into()]).unwrap();
        assert_eq!(app.domains, ["demo.test"]);
        let hook = std::fs::read_to_string(s.repo("demo").join("hooks/pre-receive")).unwrap();
        assert!(
            hook.contains(
                "BERTH_HOST='unix:///run/berth.sock' exec '/usr/bin/berth' app-receive 'demo'"
            ),
            "{hook}"
        );
        let labels: BTreeMap<String, String> =
            [(APP, "demo"), (RELEASE, "abc1234"), (PROCESS, "web")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        assert_eq!(s.route_labels(&labels), None, "no release yet");
        let labels: BTreeMap<String, String> = [(APP, "demo"), (RELEASE, "v1"), (PROCESS, "web")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let new = |version| NewRelease {
            version,
            image: "demo:abc1234".into(),
            rev: "abc1234".into(),
            processes: vec![],
            checks: None,
            config: None,
            description: None,
        };
        assert!(matches!(s.release("demo", new(2)), Err(AppError::Raced(2))));
        let r = s.release("demo", new(1)).unwrap();
        assert_eq!(r.version, 1);
        let routed = s.route_labels(&labels).unwrap();
        assert!(routed.contains(&("berth.http.host".into(), "demo.test".into())));
        // Reloaded from disk as it was left.
        assert_eq!(
            store(tmp.path()).get("demo").unwrap().current.as_deref(),
            Some("v1")
        );
        let set: BTreeMap<String, String> = [("A".to_string(), "1".to_string())].into();
        s.set_config("demo", set, &[]).unwrap();
        assert_eq!(s.release("demo", new(2)).unwrap().config.unwrap()["A"], "1");
        let app = s
            .set_domains("demo", &["www.demo.test".into()], &["demo.test".into()])
            .unwrap();
        assert_eq!(app.domains, ["www.demo.test"]);
        assert!(
            s.set_scale("demo", [("web".to_string(), 99)].into())
                .is_err()
        );
        let app = s.set_registry("demo", "Reg.test:5000/apps/", None).unwrap();
        assert_eq!(app.registry.as_deref(), Some("reg.test:5000/apps"));
        assert_eq!(s.registry_auth("demo").unwrap(), None);
        assert!(s.set_registry("demo", "reg test", None).is_err());
        // Credentials live beside the record, never in it.
        let app = s
            .set_registry("demo", "reg.test:5000", Some(("alice", "e30=")))
            .unwrap();
        assert_eq!(app.registry_user.as_deref(), Some("alice"));
        assert_eq!(s.registry_auth("demo").unwrap().as_deref(), Some("e30="));
        let record = std::fs::read_to_string(tmp.path().join("demo/app.json")).unwrap();
        assert!(!record.contains("e30="), "{record}");
        assert!(s.set_registry("demo", "", Some(("alice", "e30="))).is_err());
        assert_eq!(s.registry_auth("demo").unwrap().as_deref(), Some("e30="));
        let app = s.set_registry("demo", "", None).unwrap();
        assert_eq!((app.registry, app.registry_user), (None, None));
        assert_eq!(s.registry_auth("demo").unwrap(), None);
        assert!(s.registry_auth("nope").is_err());
        s.remove("demo").unwrap();
        assert!(!tmp.path().join("demo").exists());
        assert!(matches!(s.get("demo"), Err(AppError::NotFound(_))));
    }

    #[test]
    fn a_release_records_its_config_which_becomes_the_apps() {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(tmp.path());
        s.create("demo", vec![]).unwrap();
        let config = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        s.set_config("demo", config(&[("A", "1")]), &[]).unwrap();
        let new = |version, config: Option<BTreeMap<String, String>>, what: &str| NewRelease {
            version,
            image: "demo:abc1234".into(),
            rev: "abc1234".into(),
            processes: vec![],
            checks: None,
            config,
            description: Some(what.into()),
        };
        // A client that sends no config records the app's.
        let v1 = s.release("demo", new(1, None, "Deploy abc1234")).unwrap();
        assert_eq!(v1.config, Some(config(&[("A", "1")])));
        s.set_config("demo", config(&[("A", "2"), ("B", "x")]), &[])
            .unwrap();
        s.release(
            "demo",
            new(2, Some(config(&[("A", "2"), ("B", "x")])), "Set A, B"),
        )
        .unwrap();
        // A rollback to v1 records v1's config, and the app's is it again.
        let v3 = s
            .release(
                "demo",
                new(3, Some(config(&[("A", "1")])), "Rollback to v1"),
            )
            .unwrap();
        assert_eq!(v3.description.as_deref(), Some("Rollback to v1"));
        let app = store(tmp.path()).get("demo").unwrap();
        assert_eq!(app.config, config(&[("A", "1")]));
        assert_eq!(app.current.as_deref(), Some("v3"));
        assert_eq!(
            app.releases[1].config,
            Some(config(&[("A", "2"), ("B", "x")]))
        );

        // A record from before releases kept their config reads as none.
        let old: Release = serde_json::from_str(
            r#"{"version":1,"image":"demo:abc1234","rev":"abc1234","created":"1"}"#,
        )
        .unwrap();
        assert_eq!((old.config, old.description), (None, None));
    }

    #[test]
    fn hooks_follow_the_daemon_that_opens_the_store() {
        let tmp = tempfile::tempdir().unwrap();
        store(tmp.path()).create("moved", vec![]).unwrap();
        let s = AppStore::open(
            tmp.path(),
            "unix:///srv/other.sock",
            Path::new("/opt/berth"),
        )
        .unwrap();
        let hook = std::fs::read_to_string(s.repo("moved").join("hooks/pre-receive")).unwrap();
        assert!(
            hook.contains("BERTH_HOST='unix:///srv/other.sock' exec '/opt/berth'"),
            "{hook}"
        );
    }

    #[test]
    fn bad_names_duplicates_and_claimed_domains_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(tmp.path());
        assert!(matches!(
            s.create("Bad_Name", vec![]),
            Err(AppError::BadName(_))
        ));
        assert!(matches!(
            s.create("x", vec!["not a host".into()]),
            Err(AppError::BadDomain(_))
        ));
        s.create("one", vec!["shared.test".into()]).unwrap();
        assert!(matches!(s.create("one", vec![]), Err(AppError::Exists(_))));
        let e = s.create("two", vec!["shared.test".into()]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "domain shared.test is already claimed by app one"
        );
        assert!(!tmp.path().join("two").exists(), "nothing made half-way");
    }
}
