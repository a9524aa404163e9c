//! Apps (Dokku's workflow): a name, its domains, a bare git repository whose
//! pre-receive hook builds and deploys what is pushed, and its releases.
//! The store keeps `<data-root>/apps/<name>/app.json`; the router routes an
//! app's domains to the containers of its current release only, so a deploy
//! switches traffic by recording a release.
//!
//! On a swarm manager the records are the cluster's ([`SharedApps`]): every
//! change is made on the cluster's copy, all or nothing, and each manager's
//! files follow it ([`AppStore::adopt`]), with a repository of its own for
//! the pushes it receives (git sends what a remote lacks, so a push to any
//! manager deploys the same tree).

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Command;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use crate::labels;

#[cfg(any(test, feature = "suite"))]
pub mod suite;

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
    /// The cluster's copy of the records could not be read or written.
    #[error("the cluster's app records: {0}")]
    Shared(String),
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

/// Every app by name.
pub type Apps = BTreeMap<String, App>;

/// Registry credentials to write with a change: the app, and its encoded
/// auth config (None: forget them).
pub type Auths = Vec<(String, Option<String>)>;

/// A change of the records: edits the apps and names the credentials to
/// write with them. It may run more than once (again on a fresh read
/// when another manager wrote first), so it only looks at its arguments.
pub type Change<'a> = dyn Fn(&mut Apps, &mut Auths) -> Result<(), AppError> + Send + Sync + 'a;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where the records live when they are a cluster's (a swarm's store).
pub trait SharedApps: Send + Sync {
    /// Every app as the cluster holds it.
    fn load(&self) -> BoxFuture<'_, Result<Apps, AppError>>;

    /// Runs `change` on the records as they are now and writes what it
    /// changed and the credentials it named, all or nothing (an app's
    /// credentials go with its record); the records after it.
    fn modify<'a>(&'a self, change: &'a Change<'a>) -> BoxFuture<'a, Result<Apps, AppError>>;

    /// The app's registry credentials.
    fn auth<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<String>, AppError>>;
}

/// The file, in the store's directory, naming the cluster whose records the
/// files mirror: present, they hold nothing of their own (a manager that
/// restarts takes the cluster's copy as it is, and an app another manager
/// removed meanwhile stays removed); a change made out of swarm mode removes
/// it, and such apps join the cluster's records the next time.
const MIRRORS: &str = ".cluster";

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
            .map_err(io(format!("writing {}", file.display())))
    }

    /// An app's directory and repository, made if missing (an app another
    /// manager created gets its repository here when its record arrives).
    fn make_home(&self, name: &str) -> Result<(), AppError> {
        let dir = self.root.join(name);
        let fresh = !dir.exists();
        private_dir(&dir)?;
        let made = if self.repo(name).join("HEAD").exists() {
            self.write_hook(name)
        } else {
            self.init_repo(name)
        };
        if made.is_err() && fresh {
            let _ = std::fs::remove_dir_all(&dir);
        }
        made
    }

    /// Writes the files of what changed from `old` to `new`: records,
    /// homes of new apps, and no directory of a removed one.
    fn persist(&self, old: &Apps, new: &Apps) -> Result<(), AppError> {
        for (name, app) in new {
            if old.get(name) == Some(app) {
                continue;
            }
            if !old.contains_key(name) {
                self.make_home(name)?;
            }
            self.save(app)?;
        }
        for name in old.keys().filter(|n| !new.contains_key(*n)) {
            let dir = self.root.join(name);
            std::fs::remove_dir_all(&dir).map_err(io(format!("removing {}", dir.display())))?;
        }
        Ok(())
    }

    fn write_auth(&self, name: &str, auth: Option<&str>) -> Result<(), AppError> {
        let file = self.root.join(name).join(REGISTRY_AUTH);
        match auth {
            Some(auth) => cas::atomic::write_atomic(&file, auth.as_bytes()),
            None => match std::fs::remove_file(&file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            },
        }
        .map_err(io(format!("writing {}", file.display())))
    }

    /// Applies a change: on the cluster's records when `shared`, then here;
    /// else to the files here. Nothing changes when it fails.
    async fn change<T: Send>(
        &self,
        shared: Option<&dyn SharedApps>,
        f: impl Fn(&mut Apps, &mut Auths) -> Result<T, AppError> + Send + Sync,
    ) -> Result<T, AppError> {
        let Some(shared) = shared else {
            return self.change_here(f);
        };
        let out = parking_lot::Mutex::new(None);
        let run = |apps: &mut Apps, auths: &mut Auths| {
            *out.lock() = Some(f(apps, auths)?);
            Ok(())
        };
        let apps = shared.modify(&run).await?;
        self.adopt(apps)?;
        out.into_inner()
            .ok_or_else(|| AppError::Shared("the change was not applied".into()))
    }

    fn change_here<T>(
        &self,
        f: impl Fn(&mut Apps, &mut Auths) -> Result<T, AppError>,
    ) -> Result<T, AppError> {
        let mut apps = self.apps.write();
        let mut next = apps.clone();
        let mut auths = Auths::new();
        let out = f(&mut next, &mut auths)?;
        if *apps == next && auths.is_empty() {
            return Ok(out);
        }
        // The files now hold something of their own: the next time this
        // node is a manager they join the cluster's records.
        let mirrors = self.root.join(MIRRORS);
        match std::fs::remove_file(&mirrors) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io(format!("removing {}", mirrors.display()))(e));
            }
            _ => {}
        }
        for (name, auth) in &auths {
            self.write_auth(name, auth.as_deref())?;
        }
        self.persist(&apps, &next)?;
        *apps = next;
        self.changed.notify_waiters();
        Ok(out)
    }

    /// Makes the files follow the cluster's records (`apps`): an app
    /// another manager created gets its directory and repository, one it
    /// removed loses them.
    pub fn adopt(&self, next: Apps) -> Result<(), AppError> {
        let mut apps = self.apps.write();
        if *apps == next {
            return Ok(());
        }
        self.persist(&apps, &next)?;
        *apps = next;
        self.changed.notify_waiters();
        Ok(())
    }

    /// Starts following the records of cluster `cluster` (on a node that
    /// became one of its managers, or restarted as one). Apps made out of
    /// swarm mode join the cluster's records, with their credentials; one
    /// the cluster refuses (its name or a domain is another app's there)
    /// is moved aside with its repository, to `.orphaned/`, and logged.
    /// Then the files follow the cluster's copy.
    pub async fn share(&self, shared: &dyn SharedApps, cluster: &str) -> Result<(), AppError> {
        let mirrors = self.root.join(MIRRORS);
        let mirrored = std::fs::read_to_string(&mirrors).ok();
        let own: Vec<App> = if mirrored.as_deref().map(str::trim) == Some(cluster) {
            Vec::new()
        } else {
            self.list()
        };
        let mut own_auths = Auths::new();
        for app in &own {
            if let Some(auth) = self.local_auth(&app.name)? {
                own_auths.push((app.name.clone(), Some(auth)));
            }
        }
        let joined = parking_lot::Mutex::new(Vec::new());
        let join = |apps: &mut Apps, auths: &mut Auths| {
            let mut names = Vec::new();
            for app in &own {
                if apps.contains_key(&app.name) || claimed(apps, &app.name, &app.domains).is_err() {
                    continue;
                }
                apps.insert(app.name.clone(), app.clone());
                auths.extend(own_auths.iter().filter(|(n, _)| *n == app.name).cloned());
                names.push(app.name.clone());
            }
            *joined.lock() = names;
            Ok(())
        };
        let apps = if own.is_empty() {
            shared.load().await?
        } else {
            shared.modify(&join).await?
        };
        let joined = joined.into_inner();
        for app in own.iter().filter(|a| !joined.contains(&a.name)) {
            let ours = apps.get(&app.name);
            if ours.is_some_and(|theirs| theirs.releases.first() == app.releases.first()) {
                // The cluster's copy of the same app (a manager that left
                // and came back): it takes the cluster's record.
                continue;
            }
            self.set_aside(&app.name)?;
        }
        self.adopt(apps)?;
        cas::atomic::write_atomic(&mirrors, cluster.as_bytes())
            .map_err(io(format!("writing {}", mirrors.display())))
    }

    /// Moves an app the cluster refused out of the way, kept whole.
    fn set_aside(&self, name: &str) -> Result<(), AppError> {
        let aside = self.root.join(".orphaned");
        private_dir(&aside)?;
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let to = aside.join(format!("{name}-{secs}"));
        std::fs::rename(self.root.join(name), &to).map_err(io(format!("moving {name} aside")))?;
        self.apps.write().remove(name);
        tracing::error!(
            "apps: {name} conflicts with the cluster's apps (its name or a domain is another app's there); it is kept, out of service, in {}",
            to.display()
        );
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
    pub async fn create(
        &self,
        shared: Option<&dyn SharedApps>,
        name: &str,
        domains: Vec<String>,
    ) -> Result<App, AppError> {
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
        self.change(shared, |apps, _| {
            if apps.contains_key(name) {
                return Err(AppError::Exists(name.to_string()));
            }
            claimed(apps, name, &app.domains)?;
            apps.insert(name.to_string(), app.clone());
            Ok(app.clone())
        })
        .await
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
    pub async fn remove(
        &self,
        shared: Option<&dyn SharedApps>,
        name: &str,
    ) -> Result<App, AppError> {
        self.change(shared, |apps, _| {
            apps.remove(name)
                .ok_or_else(|| AppError::NotFound(name.to_string()))
        })
        .await
    }

    /// Records a release and makes it current: the router switches the
    /// app's domains to its containers, and the app's config becomes the
    /// one they run with (a rollback's is an older release's), so `app
    /// config` shows what runs.
    pub async fn release(
        &self,
        shared: Option<&dyn SharedApps>,
        name: &str,
        new: NewRelease,
    ) -> Result<Release, AppError> {
        self.update(shared, name, |app, _| {
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
        .await
    }

    /// Changes one app; nothing changes when `f` fails.
    async fn update<T: Send>(
        &self,
        shared: Option<&dyn SharedApps>,
        name: &str,
        f: impl Fn(&mut App, &mut Auths) -> Result<T, AppError> + Send + Sync,
    ) -> Result<T, AppError> {
        self.change(shared, |apps, auths| {
            let app = apps
                .get_mut(name)
                .ok_or_else(|| AppError::NotFound(name.to_string()))?;
            f(app, auths)
        })
        .await
    }

    /// `config:set` / `config:unset`: the environment of the next release
    /// (the caller rolls one out, as Dokku does).
    pub async fn set_config(
        &self,
        shared: Option<&dyn SharedApps>,
        name: &str,
        set: BTreeMap<String, String>,
        unset: &[String],
    ) -> Result<App, AppError> {
        for k in set.keys().chain(unset) {
            if k.is_empty() || k.contains(['=', '\0']) {
                return Err(AppError::Invalid(format!("config key {k:?}")));
            }
        }
        self.update(shared, name, |app, _| {
            app.config.extend(set.clone());
            for k in unset {
                app.config.remove(k);
            }
            Ok(app.clone())
        })
        .await
    }

    /// `domains:add` / `domains:remove`: applied by the router at once.
    pub async fn set_domains(
        &self,
        shared: Option<&dyn SharedApps>,
        name: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<App, AppError> {
        let add: Vec<String> = add.iter().map(|d| d.to_ascii_lowercase()).collect();
        if let Some(d) = add.iter().find(|d| !labels::valid_host(d)) {
            return Err(AppError::BadDomain(d.clone()));
        }
        self.change(shared, |apps, _| {
            claimed(apps, name, &add)?;
            let app = apps
                .get_mut(name)
                .ok_or_else(|| AppError::NotFound(name.to_string()))?;
            for d in &add {
                if !app.domains.contains(d) {
                    app.domains.push(d.clone());
                }
            }
            app.domains
                .retain(|d| !remove.iter().any(|r| r.eq_ignore_ascii_case(d)));
            Ok(app.clone())
        })
        .await
    }

    /// `ps:scale`: containers per process type from the next release on.
    pub async fn set_scale(
        &self,
        shared: Option<&dyn SharedApps>,
        name: &str,
        scale: BTreeMap<String, u32>,
    ) -> Result<App, AppError> {
        if let Some((k, n)) = scale.iter().find(|(_, n)| **n > 20) {
            return Err(AppError::Invalid(format!(
                "scale {k}={n}: at most 20 per process type"
            )));
        }
        self.update(shared, name, |app, _| {
            app.scale.extend(scale.clone());
            Ok(app.clone())
        })
        .await
    }

    /// `registry:set`: where the next releases' images are pushed when the
    /// app runs as swarm services (empty: none), and the credentials its
    /// pushes and its services' nodes use there (`login`: the user name
    /// and Docker's encoded auth config, as `X-Registry-Auth` carries it;
    /// None: the registry takes anonymous pushes).
    pub async fn set_registry(
        &self,
        shared: Option<&dyn SharedApps>,
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
        self.update(shared, name, |app, auths| {
            auths.push((name.to_string(), login.map(|(_, auth)| auth.to_string())));
            app.registry = (!registry.is_empty()).then(|| registry.to_ascii_lowercase());
            app.registry_user = login.map(|(user, _)| user.to_string());
            Ok(app.clone())
        })
        .await
    }

    /// The encoded credentials of the app's registry (`registry:set
    /// --username`), for its pushes and its services' pulls; kept in a file
    /// of their own (0600, as every store file), so the app's record, which
    /// `app info` and the dashboard show, never holds them.
    pub async fn registry_auth(
        &self,
        shared: Option<&dyn SharedApps>,
        name: &str,
    ) -> Result<Option<String>, AppError> {
        if !self.apps.read().contains_key(name) {
            return Err(AppError::NotFound(name.to_string()));
        }
        match shared {
            Some(shared) => shared.auth(name).await,
            None => self.local_auth(name),
        }
    }

    fn local_auth(&self, name: &str) -> Result<Option<String>, AppError> {
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

/// Fails when one of `domains` is an app's other than `name`.
fn claimed(apps: &Apps, name: &str, domains: &[String]) -> Result<(), AppError> {
    for other in apps.values().filter(|a| a.name != name) {
        if let Some(d) = domains.iter().find(|d| other.domains.contains(d)) {
            return Err(AppError::Claimed {
                domain: d.clone(),
                app: other.name.clone(),
            });
        }
    }
    Ok(())
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

    #[tokio::test]
    async fn create_release_route_and_remove() {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(tmp.path());
        let app = s
            .create(None, "demo", vec!["Demo.test".into()])
            .await
            .unwrap();
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
        let new = suite::release;
        assert!(matches!(
            s.release(None, "demo", new(2)).await,
            Err(AppError::Raced(2))
        ));
        let r = s.release(None, "demo", new(1)).await.unwrap();
        assert_eq!(r.version, 1);
        let routed = s.route_labels(&labels).unwrap();
        assert!(routed.contains(&("berth.http.host".into(), "demo.test".into())));
        // Reloaded from disk as it was left.
        assert_eq!(
            store(tmp.path()).get("demo").unwrap().current.as_deref(),
            Some("v1")
        );
        let set: BTreeMap<String, String> = [("A".to_string(), "1".to_string())].into();
        s.set_config(None, "demo", set, &[]).await.unwrap();
        assert_eq!(
            s.release(None, "demo", new(2))
                .await
                .unwrap()
                .config
                .unwrap()["A"],
            "1"
        );
        let app = s
            .set_domains(
                None,
                "demo",
                &["www.demo.test".into()],
                &["demo.test".into()],
            )
            .await
            .unwrap();
        assert_eq!(app.domains, ["www.demo.test"]);
        assert!(
            s.set_scale(None, "demo", [("web".to_string(), 99)].into())
                .await
                .is_err()
        );
        let app = s
            .set_registry(None, "demo", "Reg.test:5000/apps/", None)
            .await
            .unwrap();
        assert_eq!(app.registry.as_deref(), Some("reg.test:5000/apps"));
        assert_eq!(s.registry_auth(None, "demo").await.unwrap(), None);
        assert!(
            s.set_registry(None, "demo", "reg test", None)
                .await
                .is_err()
        );
        // Credentials live beside the record, never in it.
        let app = s
            .set_registry(None, "demo", "reg.test:5000", Some(("alice", "e30=")))
            .await
            .unwrap();
        assert_eq!(app.registry_user.as_deref(), Some("alice"));
        assert_eq!(
            s.registry_auth(None, "demo").await.unwrap().as_deref(),
            Some("e30=")
        );
        let record = std::fs::read_to_string(tmp.path().join("demo/app.json")).unwrap();
        assert!(!record.contains("e30="), "{record}");
        assert!(
            s.set_registry(None, "demo", "", Some(("alice", "e30=")))
                .await
                .is_err()
        );
        assert_eq!(
            s.registry_auth(None, "demo").await.unwrap().as_deref(),
            Some("e30=")
        );
        let app = s.set_registry(None, "demo", "", None).await.unwrap();
        assert_eq!((app.registry, app.registry_user), (None, None));
        assert_eq!(s.registry_auth(None, "demo").await.unwrap(), None);
        assert!(s.registry_auth(None, "nope").await.is_err());
        s.remove(None, "demo").await.unwrap();
        assert!(!tmp.path().join("demo").exists());
        assert!(matches!(s.get("demo"), Err(AppError::NotFound(_))));
    }

    #[tokio::test]
    async fn a_release_records_its_config_which_becomes_the_apps() {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(tmp.path());
        s.create(None, "demo", vec![]).await.unwrap();
        let config = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        s.set_config(None, "demo", config(&[("A", "1")]), &[])
            .await
            .unwrap();
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
        let v1 = s
            .release(None, "demo", new(1, None, "Deploy abc1234"))
            .await
            .unwrap();
        assert_eq!(v1.config, Some(config(&[("A", "1")])));
        s.set_config(None, "demo", config(&[("A", "2"), ("B", "x")]), &[])
            .await
            .unwrap();
        s.release(
            None,
            "demo",
            new(2, Some(config(&[("A", "2"), ("B", "x")])), "Set A, B"),
        )
        .await
        .unwrap();
        // A rollback to v1 records v1's config, and the app's is it again.
        let v3 = s
            .release(
                None,
                "demo",
                new(3, Some(config(&[("A", "1")])), "Rollback to v1"),
            )
            .await
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

    #[tokio::test]
    async fn hooks_follow_the_daemon_that_opens_the_store() {
        let tmp = tempfile::tempdir().unwrap();
        store(tmp.path())
            .create(None, "moved", vec![])
            .await
            .unwrap();
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

    #[tokio::test]
    async fn bad_names_duplicates_and_claimed_domains_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let s = store(tmp.path());
        assert!(matches!(
            s.create(None, "Bad_Name", vec![]).await,
            Err(AppError::BadName(_))
        ));
        assert!(matches!(
            s.create(None, "x", vec!["not a host".into()]).await,
            Err(AppError::BadDomain(_))
        ));
        s.create(None, "one", vec!["shared.test".into()])
            .await
            .unwrap();
        assert!(matches!(
            s.create(None, "one", vec![]).await,
            Err(AppError::Exists(_))
        ));
        let e = s
            .create(None, "two", vec!["shared.test".into()])
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "domain shared.test is already claimed by app one"
        );
        assert!(!tmp.path().join("two").exists(), "nothing made half-way");
    }
}
