//! The container engine: container objects, their on-disk state and lifecycle.
//!
//! The engine owns the data root's `containers/` tree and talks to one shim per
//! running container (see `runtime::shim`). It never runs a container runtime itself.

mod archive;
mod backoff;
mod container;
pub mod control;
mod create;
mod error;
mod etcfiles;
mod events;
mod exec;
mod exit;
mod fdtree;
mod fsutil;
mod health;
mod housekeeping;
mod image_rules;
mod images;
mod injected;
mod lifecycle;
mod links;
pub mod logconfig;
mod logs;
pub mod model;
pub mod mounts;
mod names;
mod namespaces;
pub mod networking;
mod oci;
pub mod perms;
mod remap;
mod restart;
mod restore;
mod rootfs;
mod rt;
pub mod runtimes;
mod scrape;
mod settings;
mod stop;
#[cfg(test)]
mod testutil;
pub mod top;
pub mod volumes;

pub use remap::Remap;

use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

pub use archive::{PathStat, ResolvedPath};
pub use container::{Container, ContainerView, Lifecycle, OutputChunk};
pub use create::Created;
pub use error::{EngineError, Result};
use events::EventBus;
pub use events::{Actor, Event};
pub use exec::{ExecInstance, ExecStreams, ExecView};
pub use health::{Health, HealthLog};
pub use housekeeping::{Change, dir_size};
use image::ImageStore;
pub use images::{ContainerExport, Registries};
pub use injected::InjectedFile;
pub use lifecycle::WaitCondition;
pub use logs::{LogLine, LogOptions, parse_timestamp};
pub use rt::ExecStdin;
pub use runtime::shim::StdStream;

#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    /// Parent of every container's cgroup, e.g. "/berth".
    pub cgroup_parent: String,
    /// The berth binary, re-executed as `berth shim` / `berth shim-exec`.
    pub exe: PathBuf,
    /// A static init for `--init` (tini); found on PATH when unset.
    pub init_path: Option<PathBuf>,
    /// Registries reached over plain HTTP (loopback ones always are).
    pub insecure_registries: Vec<String>,
    /// Where pulls of Docker Hub names go first (`http(s)://host[:port]`,
    /// tried in order; Docker Hub itself after them).
    pub registry_mirrors: Vec<String>,
    pub network: networking::NetOptions,
    /// Group of an API socket placed directly in the exec root: the exec
    /// root becomes `0710` root:group so members reach it (see [`perms`]).
    pub exec_root_group: Option<u32>,
    /// OCI runtimes beside the built-in one, and the default.
    pub runtimes: runtimes::Runtimes,
    /// The log driver of containers that name none.
    pub log_defaults: logconfig::LogDefaults,
    /// `--userns-remap`: new containers run in a user namespace with these maps.
    pub userns_remap: Option<remap::Remap>,
}

#[derive(Default)]
struct Registry {
    by_id: HashMap<String, Arc<Container>>,
    /// name (without '/') -> id; also holds names reserved by an in-flight create.
    by_name: HashMap<String, String>,
}

/// The engine. Its stores are reached only through its operations, which
/// keep the rules (events, in-use checks, locking) in one place.
pub struct Engine {
    cfg: EngineConfig,
    images: ImageStore,
    volumes: volumes::VolumeStore,
    events: EventBus,
    networking: networking::Networking,
    /// Shims and execs; a fake in unit tests.
    runtime: Arc<dyn rt::ContainerRuntime>,
    registry: RwLock<Registry>,
    execs: Mutex<HashMap<String, Arc<ExecInstance>>>,
    /// Read by a create from choosing its image until the container is
    /// registered; written by image removal and prune (see `image_rules`).
    image_guard: tokio::sync::RwLock<()>,
    /// Where networks this node has no copy of come from (swarm mode's
    /// attachable overlays); none outside a swarm.
    attacher: RwLock<Option<Arc<dyn networking::NetworkAttacher>>>,
    /// Insecure registries and mirrors: the daemon's configuration reload
    /// changes them while pulls go on.
    registries: RwLock<images::Registries>,
    /// Served on `--metrics-addr`; action timers and counters update it.
    metrics: Arc<metrics::Metrics>,
}

impl Engine {
    /// Opens the roots, repairs what a crash left and reconnects to running shims.
    pub async fn open(cfg: EngineConfig) -> Result<Arc<Self>> {
        let tightened = perms::secure_roots(
            &cfg.data_root,
            &cfg.exec_root,
            cfg.exec_root_group,
            cfg.userns_remap.is_some(),
        )
        .map_err(|e| EngineError::internal("securing the data and exec roots", e))?;
        if let Some(first) = tightened.paths.first() {
            tracing::warn!(
                "tightened the permissions of {} path(s) other users could reach under {} and {} (first: {})",
                tightened.paths.len(),
                cfg.data_root.display(),
                cfg.exec_root.display(),
                first.display()
            );
        }
        for dir in [
            cfg.data_root.join("containers"),
            cfg.exec_root.join("containers"),
            cfg.exec_root.join("runtime"),
        ] {
            perms::create_dir_private(&dir)
                .map_err(|e| EngineError::internal(format!("creating {}", dir.display()), e))?;
            // Each container's tree in a block group of its own: see cas::spread.
            if let Err(e) = cas::spread::spread_subdirs(&dir) {
                tracing::debug!("{}: cannot set the spread hint: {e}", dir.display());
            }
        }
        let data_root = cfg.data_root.clone();
        let images = tokio::task::spawn_blocking(move || ImageStore::open(&data_root))
            .await
            .map_err(|e| EngineError::internal("opening image store", e))??;
        let volumes = volumes::VolumeStore::open(&cfg.data_root)
            .map_err(|e| EngineError::internal("opening the volume store", e))?;
        let networking =
            networking::Networking::open(cfg.network.clone(), &cfg.data_root, &cfg.exec_root)
                .await?;
        let registries = RwLock::new(images::Registries {
            insecure: cfg.insecure_registries.clone(),
            mirrors: cfg.registry_mirrors.clone(),
        });
        let engine = Arc::new(Engine {
            registries,
            cfg,
            images,
            volumes,
            events: EventBus::default(),
            networking,
            runtime: Arc::new(rt::shim::ShimRuntime),
            registry: RwLock::new(Registry::default()),
            execs: Mutex::new(HashMap::new()),
            image_guard: tokio::sync::RwLock::new(()),
            attacher: RwLock::new(None),
            metrics: Arc::new(metrics::Metrics::new()),
        });
        engine.open_remap()?;
        engine.restore().await;
        Ok(engine)
    }

    /// The settings the engine was opened with.
    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// `GET /events`: the events kept so far (oldest first) and a receiver
    /// of every later one, with no gap or duplicate between the two.
    pub fn subscribe_events(&self) -> (Vec<Event>, tokio::sync::broadcast::Receiver<Event>) {
        self.events.subscribe()
    }

    fn registry(&self) -> parking_lot::RwLockReadGuard<'_, Registry> {
        self.registry.read()
    }

    fn registry_mut(&self) -> parking_lot::RwLockWriteGuard<'_, Registry> {
        self.registry.write()
    }

    /// Finds a container by full id, name (with or without '/'), or unique id prefix.
    pub fn container(&self, name_or_id: &str) -> Result<Arc<Container>> {
        let reg = self.registry();
        if let Some(c) = reg.by_id.get(name_or_id) {
            return Ok(c.clone());
        }
        let name = name_or_id.strip_prefix('/').unwrap_or(name_or_id);
        if let Some(c) = reg.by_name.get(name).and_then(|id| reg.by_id.get(id)) {
            return Ok(c.clone());
        }
        if !name_or_id.is_empty() && name_or_id.chars().all(|c| c.is_ascii_hexdigit()) {
            let mut found = reg
                .by_id
                .iter()
                .filter(|(id, _)| id.starts_with(name_or_id));
            if let Some((_, c)) = found.next() {
                if found.next().is_some() {
                    return Err(EngineError::NotFound(format!(
                        "Multiple IDs found with provided prefix: {name_or_id}"
                    )));
                }
                return Ok(c.clone());
            }
        }
        Err(EngineError::no_such_container(name_or_id))
    }

    /// Every container, newest first.
    pub fn containers(&self) -> Vec<ContainerView> {
        let mut all: Vec<ContainerView> =
            self.registry().by_id.values().map(|c| c.view()).collect();
        all.sort_by_key(|c| std::cmp::Reverse(c.record.created));
        all
    }

    fn container_event(&self, c: &Container, action: &str, extra: &[(&str, String)]) {
        let (name, image, labels) = {
            let inner = c.lock();
            (
                inner.record.name.clone(),
                inner.record.image_name.clone(),
                inner.record.config.labels.clone().unwrap_or_default(),
            )
        };
        let mut attrs: HashMap<String, String> = labels.into_iter().collect();
        attrs.insert("name".into(), name);
        attrs.insert("image".into(), image);
        for (k, v) in extra {
            attrs.insert((*k).to_string(), v.clone());
        }
        self.events.publish("container", action, &c.id, attrs);
    }

    /// Subscribes to a container's output: what it writes from now on (from its start,
    /// when attached before start) until it exits.
    pub fn attach(
        &self,
        name_or_id: &str,
        stdout: bool,
        stderr: bool,
    ) -> Result<(Arc<Container>, tokio::sync::mpsc::Receiver<OutputChunk>)> {
        let c = self.container(name_or_id)?;
        let rx = c.subscribe(stdout, stderr);
        self.container_event(&c, "attach", &[]);
        Ok((c, rx))
    }

    /// The static init `--init` mounts into containers.
    pub(crate) fn init_binary(&self) -> Result<PathBuf> {
        if let Some(p) = &self.cfg.init_path {
            return Ok(p.clone());
        }
        let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into());
        ["docker-init", "tini-static"]
            .iter()
            .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                EngineError::InvalidParameter(
                    "--init needs a static init: install tini (tini-static) or pass --init-path to the daemon".into(),
                )
            })
    }
}
