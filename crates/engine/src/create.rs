//! `POST /containers/create`: validate, merge with the image, reserve the name,
//! write the container's files. Nothing runs yet.

use std::sync::Arc;

use crate::container::Container;
use crate::fsutil::write_json_atomic;
use crate::injected::{self, InjectedFile};
use crate::model::{ContainerRecord, CreateRequest, HostConfig, State, is_set};
use crate::mounts::{self, MountKind, MountPoint};
use crate::{Engine, EngineError, Result, etcfiles, names, volumes};

#[derive(Debug)]
pub struct Created {
    pub id: String,
    pub warnings: Vec<String>,
}

impl Engine {
    pub async fn create_container(
        self: &Arc<Self>,
        name: Option<&str>,
        req: CreateRequest,
    ) -> Result<Created> {
        let timer = self.metrics.container_action("create");
        timer.observe(self.create_inner(name, req, Vec::new()).await)
    }

    /// Creates a container that sees `files` (a swarm task's secrets and
    /// configs) read-only at their targets, as [`InjectedFile`] says. Their
    /// data goes to a tmpfs of the container's only (see `injected`), never
    /// to disk; an invalid target fails before anything is created.
    pub async fn create_container_with_files(
        self: &Arc<Self>,
        name: Option<&str>,
        req: CreateRequest,
        files: Vec<InjectedFile>,
    ) -> Result<Created> {
        let timer = self.metrics.container_action("create");
        injected::validate(&files)?;
        timer.observe(self.create_inner(name, req, files).await)
    }

    async fn create_inner(
        self: &Arc<Self>,
        name: Option<&str>,
        mut req: CreateRequest,
        files: Vec<InjectedFile>,
    ) -> Result<Created> {
        // Before any check: what inspect shows (and the checks see) is the
        // driver the container gets, the daemon's default filled in.
        crate::logconfig::apply_defaults(&mut req.host_config.log_config, &self.cfg.log_defaults);
        reject_unsupported(&req.host_config, &req)?;
        validate_exposed_ports(&req.config)?;
        if req.config.image.is_empty() {
            return Err(EngineError::InvalidParameter(
                "config.Image: image name must not be empty".into(),
            ));
        }
        // Held until the container is registered: rmi and prune then see it.
        let _image_guard = self.image_guard.read().await;
        let image = self.images.get(&req.config.image)?;
        let image_cfg = image.config.config.clone();

        let mut config = req.config.clone();
        let mut host_config = req.host_config.clone();
        // docker-py's `runtime=` goes next to Config, not into HostConfig;
        // dockerd ignores it there (and passes docker-py's test only because
        // its default is named runc). The user asked for that runtime: use it.
        if let Some(serde_json::Value::String(r)) = config.extra.remove("Runtime")
            && host_config.runtime.is_empty()
        {
            host_config.runtime = r;
        }
        host_config.runtime = self.cfg.runtimes.resolve(&host_config.runtime)?;
        if host_config.network_mode.is_empty() {
            host_config.network_mode = "default".into();
        }
        crate::namespaces::validate(&mut host_config)?;
        crate::remap::validate(&host_config, self.cfg.userns_remap.as_ref())?;
        if host_config.uts_mode == "host" && !config.hostname.is_empty() {
            return Err(EngineError::InvalidParameter(
                "Conflicting options: hostname and the UTS mode".into(),
            ));
        }
        merge_image_config(&mut config, &image_cfg);
        let argv: Vec<String> = config
            .entrypoint
            .clone()
            .unwrap_or_default()
            .into_iter()
            .chain(config.cmd.clone().unwrap_or_default())
            .collect();
        if argv.is_empty() {
            return Err(EngineError::InvalidParameter("No command specified".into()));
        }

        let mut networks = self.plan_networks(&host_config, req.networking_config.as_ref())?;
        // Config.MacAddress (before API 1.44) is the primary network's.
        if let Some(mac) = req
            .config
            .extra
            .get("MacAddress")
            .and_then(|m| m.as_str())
            .filter(|m| !m.is_empty())
        {
            crate::networking::parse_mac(mac)?;
            use crate::networking::containers::{ModeKind, mode_kind};
            // plan_networks keyed the primary endpoint by the network's name.
            let primary = match mode_kind(&host_config.network_mode) {
                ModeKind::Default => Some("bridge".to_string()),
                ModeKind::Named(n) => self.networking.get(&n).ok().map(|l| l.record.name.clone()),
                _ => None,
            };
            if let Some(ep) = primary.and_then(|p| networks.get_mut(&p))
                && ep.mac_address.is_none()
            {
                ep.mac_address = Some(mac.to_string());
            }
        }
        let mut warnings = Vec::new();
        let ports = crate::networking::ports::requested(&config, &host_config)?;
        match crate::networking::containers::mode_kind(&host_config.network_mode) {
            crate::networking::containers::ModeKind::Host if !ports.is_empty() => {
                warnings.push("Published ports are discarded when using host network mode".into());
            }
            crate::networking::containers::ModeKind::Container(_)
            | crate::networking::containers::ModeKind::None
                if !ports.is_empty() =>
            {
                return Err(EngineError::InvalidParameter(
                    "conflicting options: port publishing and the container type network mode"
                        .into(),
                ));
            }
            _ => {}
        }
        let mut mounts = mounts::collect(&config, &host_config)?;
        self.add_volumes_from(&host_config, &mut mounts)?;
        let id = names::new_id();
        if config.hostname.is_empty() {
            config.hostname =
                if host_config.network_mode == "host" || host_config.uts_mode == "host" {
                    nix::unistd::gethostname()
                        .ok()
                        .and_then(|h| h.into_string().ok())
                        .unwrap_or_else(|| id[..12].to_string())
                } else {
                    id[..12].to_string()
                };
        }
        let name = self.reserve_name(name, &id)?;
        if let Some(links) = host_config.links.take().filter(|l| !l.is_empty()) {
            match self.check_links(&name, &host_config.network_mode, &links) {
                Ok(stored) => host_config.links = Some(stored),
                Err(err) => {
                    self.registry_mut().by_name.remove(&name);
                    return Err(err);
                }
            }
        }
        let created_volumes = match self.resolve_mounts(&mut mounts, &host_config.volume_driver) {
            Ok(v) => v,
            Err(err) => {
                self.registry_mut().by_name.remove(&name);
                return Err(err);
            }
        };

        let dir = self.cfg.data_root.join("containers").join(&id);
        let state_dir = self.cfg.exec_root.join("containers").join(&id);
        let record = ContainerRecord {
            id: id.clone(),
            name: name.clone(),
            created: chrono::Utc::now(),
            image_name: req.config.image.clone(),
            image_id: image.id.clone(),
            path: argv[0].clone(),
            args: argv[1..].to_vec(),
            log_path: dir.join(crate::logconfig::log_file(&host_config.log_config, &id)),
            hostname_path: dir.join("hostname"),
            hosts_path: dir.join("hosts"),
            resolv_conf_path: dir.join("resolv.conf"),
            config,
            host_config,
            mounts,
            networks,
            injected_files: injected::plan(&files),
        };
        let mut record = record;
        if crate::logconfig::local_files(&record.host_config.log_config, &record.log_path).is_none()
        {
            // As dockerd (none, or a remote driver with cache-disabled): no
            // log file, and `docker logs` says it cannot read.
            record.log_path = std::path::PathBuf::new();
        }
        // The files before the config: a crash in between leaves an
        // unfinished create, whose tmpfs start-up removes.
        let result = injected::write(&state_dir, &files, &record.injected_files)
            .and_then(|()| self.write_new_container(&record, &dir));
        drop(files);
        if let Err(err) = result {
            if !record.injected_files.is_empty() {
                injected::remove(&state_dir);
                let _ = std::fs::remove_dir_all(&state_dir);
            }
            let _ = std::fs::remove_dir_all(&dir);
            let _ = self.images.remove_rw_layer(&id);
            for v in created_volumes {
                let _ = self.volumes.remove(&v);
            }
            self.registry_mut().by_name.remove(&name);
            return Err(err);
        }
        let container = Arc::new(Container::new(record, State::default(), dir, state_dir));
        self.registry_mut()
            .by_id
            .insert(id.clone(), container.clone());
        self.container_event(&container, "create", &[]);
        Ok(Created { id, warnings })
    }

    /// `--volumes-from`: the binds and volumes of other containers, at the same
    /// places, read-only or not as they are there unless `:ro`/`:rw` says.
    /// This container's own mounts win; an image VOLUME at the same place
    /// takes the other container's volume instead of a new anonymous one.
    fn add_volumes_from(&self, hc: &HostConfig, mounts: &mut Vec<MountPoint>) -> Result<()> {
        for spec in hc.volumes_from.iter().flatten() {
            let (name, mode) = match spec.rsplit_once(':') {
                Some((n, m @ ("ro" | "rw"))) => (n, Some(m == "rw")),
                Some((_, m)) => {
                    return Err(EngineError::InvalidParameter(format!("invalid mode: {m}")));
                }
                None => (spec.as_str(), None),
            };
            let donor = self.container(name)?.lock().record.mounts.clone();
            for mut m in donor.into_iter().filter(|m| m.kind != MountKind::Tmpfs) {
                if let Some(rw) = mode {
                    m.rw = rw;
                    m.mode = if rw { "rw".into() } else { "ro".into() };
                }
                m.copy_up = false;
                match mounts.iter().position(|o| o.destination == m.destination) {
                    Some(i) if is_image_volume(&mounts[i]) => mounts[i] = m,
                    Some(_) => {}
                    None => mounts.push(m),
                }
            }
        }
        Ok(())
    }

    /// Gives every bind a checked source and every volume mount a volume,
    /// creating anonymous and missing named volumes. Returns the volumes it
    /// created, for the caller to undo on a later failure.
    fn resolve_mounts(&self, mounts: &mut [MountPoint], driver: &str) -> Result<Vec<String>> {
        let mut created = Vec::new();
        let result = (|| {
            for m in mounts.iter_mut() {
                match m.kind {
                    MountKind::Bind if !m.source.exists() => {
                        if !m.create_source {
                            return Err(EngineError::InvalidParameter(format!(
                                "invalid mount config for type \"bind\": bind source path does not exist: {}",
                                m.source.display()
                            )));
                        }
                        // As dockerd does for -v: a missing host directory is created.
                        std::fs::create_dir_all(&m.source).map_err(|e| {
                            EngineError::internal(
                                format!("creating bind source {}", m.source.display()),
                                e,
                            )
                        })?;
                    }
                    MountKind::Volume => {
                        // As dockerd: `--volume-driver` only matters for a
                        // volume that has to be made, and only "local" exists.
                        let exists = m
                            .name
                            .as_deref()
                            .is_some_and(|n| self.volumes.get(n).is_ok());
                        if !exists && !matches!(driver, "" | "local") {
                            return Err(EngineError::NotFound(format!(
                                "error looking up volume plugin {driver}: plugin \"{driver}\" not found"
                            )));
                        }
                        let mut labels = m.labels.clone();
                        if m.name.is_none() {
                            labels.insert(volumes::ANONYMOUS_LABEL.to_string(), String::new());
                        }
                        let (v, made) = self.ensure_volume(
                            m.name.as_deref(),
                            None,
                            labels,
                            Default::default(),
                        )?;
                        if made {
                            created.push(v.name.clone());
                        }
                        m.source = v.mountpoint.clone();
                        m.name = Some(v.name);
                    }
                    _ => {}
                }
            }
            Ok(())
        })();
        match result {
            Ok(()) => Ok(created),
            Err(err) => {
                for v in created {
                    let _ = self.volumes.remove(&v);
                }
                Err(err)
            }
        }
    }

    /// Reserves `name` (or a generated one) for `id`; 409 when taken.
    fn reserve_name(&self, name: Option<&str>, id: &str) -> Result<String> {
        let mut reg = self.registry_mut();
        let name = match name.filter(|n| !n.is_empty()) {
            Some(n) => {
                let n = n.strip_prefix('/').unwrap_or(n);
                if !names::valid_name(n) {
                    return Err(EngineError::InvalidParameter(format!(
                        "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                    )));
                }
                if let Some(owner) = reg.by_name.get(n) {
                    return Err(EngineError::Conflict(format!(
                        "Conflict. The container name \"/{n}\" is already in use by container \"{owner}\". You have to remove (or rename) that container to be able to reuse that name."
                    )));
                }
                n.to_string()
            }
            None => names::generate_name(id, |n| reg.by_name.contains_key(n)),
        };
        reg.by_name.insert(name.clone(), id.to_string());
        Ok(name)
    }

    fn write_new_container(&self, record: &ContainerRecord, dir: &std::path::Path) -> Result<()> {
        crate::perms::create_dir_private(dir)?;
        let remapped_root =
            crate::remap::new_root(&record.host_config, self.cfg.userns_remap.as_ref())?;
        self.images
            .create_rw_layer(&record.id, &record.image_id, remapped_root)?;
        etcfiles::write_all(record)?;
        if !record.log_path.as_os_str().is_empty() {
            // 0600 (Docker: 0640 root:root): logs carry whatever the container prints.
            use std::os::unix::fs::OpenOptionsExt;
            if let Some(parent) = record.log_path.parent() {
                crate::perms::create_dir_private(parent)?;
            }
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(crate::perms::PRIVATE_FILE)
                .open(&record.log_path)?;
        }
        // No state.json yet: a container without one has the default state
        // (Container::load), so the config is the one write a create makes,
        // and the last: a dir without config.json is an unfinished create,
        // which start-up removes.
        write_json_atomic(&Container::config_path(dir), record)?;
        Ok(())
    }
}

/// Docker's create-time merge of the image config into the container config.
fn merge_image_config(config: &mut crate::model::Config, image: &image::ContainerConfigSpec) {
    if config.user.is_empty() {
        config.user = image.user.clone();
    }
    // Env: image first, container values override by key.
    let mut env: Vec<String> = image.env.clone().unwrap_or_default();
    for kv in config.env.clone().unwrap_or_default() {
        let key = kv.split('=').next().unwrap_or_default().to_string();
        env.retain(|e| e.split('=').next() != Some(key.as_str()));
        env.push(kv);
    }
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(
            0,
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        );
    }
    config.env = Some(env);
    // `--entrypoint ""` arrives as [""]: it clears the image's entrypoint.
    let entrypoint_set = config.entrypoint.is_some();
    match &config.entrypoint {
        Some(ep) if ep.len() == 1 && ep[0].is_empty() => config.entrypoint = None,
        Some(_) => {}
        None => config.entrypoint = image.entrypoint.clone(),
    }
    if config.cmd.as_ref().is_none_or(|c| c.is_empty()) && !entrypoint_set {
        config.cmd = image.cmd.clone();
    }
    if config.working_dir.is_empty() {
        config.working_dir = image.working_dir.clone();
    }
    let mut labels = image.labels.clone().unwrap_or_default();
    labels.extend(config.labels.clone().unwrap_or_default());
    config.labels = Some(labels);
    if config.stop_signal.is_none() {
        config.stop_signal = image.stop_signal.clone();
    }
    if config.healthcheck.is_none() {
        config.healthcheck = image.healthcheck.clone();
    }
    if config.exposed_ports.is_none() {
        config.exposed_ports = image
            .exposed_ports
            .clone()
            .map(|p| p.into_keys().map(|k| (k, serde_json::json!({}))).collect());
    }
    if config.volumes.is_none() {
        config.volumes = image
            .volumes
            .clone()
            .map(|v| v.into_keys().map(|k| (k, serde_json::json!({}))).collect());
    }
}

/// Settings later issues implement are refused loudly rather than ignored.
fn reject_unsupported(hc: &HostConfig, req: &CreateRequest) -> Result<()> {
    let ni = |what: &str| Err(EngineError::NotImplemented(what.to_string()));
    crate::restart::validate(&hc.restart_policy, hc.auto_remove)?;
    // Docker validates limits and security options at create (400, CLI exit 125).
    // dockerd only finds out at start, with a 500 from the kernel's EINVAL.
    if hc.cpu_shares < 0 {
        return Err(EngineError::InvalidParameter(format!(
            "invalid CPU shares ({}): the value must be 0 (the default) or a positive integer",
            hc.cpu_shares
        )));
    }
    runtime::spec::validate_limits(&crate::settings::limits(hc))?;
    // Docker's ranges and messages.
    if !(-1000..=1000).contains(&hc.oom_score_adj) {
        return Err(EngineError::InvalidParameter(format!(
            "Invalid value {}, range for oom score adj is [-1000, 1000]",
            hc.oom_score_adj
        )));
    }
    if let Some(s) = hc
        .memory_swappiness
        .filter(|s| *s != -1 && !(0..=100).contains(s))
    {
        return Err(EngineError::InvalidParameter(format!(
            "Invalid value: {s}, valid memory swappiness range is 0-100"
        )));
    }
    for rule in hc.device_cgroup_rules.iter().flatten() {
        runtime::spec::parse_device_cgroup_rule(rule)?;
    }
    crate::settings::check_security_opts(hc)?;
    crate::logconfig::validate(&hc.log_config)?;

    // Fields this daemon does not know are ignored, as dockerd ignores them:
    // clients newer than the daemon send fields of later API versions. Only
    // known options that are set to something berth cannot do are refused.
    for (key, value) in &hc.extra {
        if UNSUPPORTED_HOST_CONFIG.contains(&key.as_str()) && is_set(value) {
            return ni(&format!(
                "HostConfig.{key} (the matching docker run option)"
            ));
        }
    }
    for (key, value) in &req.config.extra {
        if UNSUPPORTED_CONFIG.contains(&key.as_str()) && is_set(value) {
            return ni(&format!("Config.{key}"));
        }
    }
    Ok(())
}

/// An anonymous volume that only stands for a VOLUME of the image or `-v /path`.
fn is_image_volume(m: &MountPoint) -> bool {
    m.kind == MountKind::Volume && m.name.is_none() && m.copy_up
}

/// `ExposedPorts` keys are "PORT[/PROTO]"; dockerd takes any string and the
/// container starts with nonsense in its config, so refuse it at the door.
fn validate_exposed_ports(config: &crate::model::Config) -> Result<()> {
    for key in config.exposed_ports.iter().flatten().map(|(k, _)| k) {
        let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
        if !matches!(proto, "tcp" | "udp" | "sctp") {
            return Err(EngineError::InvalidParameter(format!(
                "invalid ExposedPorts {key:?}: invalid proto: {proto}"
            )));
        }
        if !port.parse::<u16>().is_ok_and(|p| p > 0) {
            return Err(EngineError::InvalidParameter(format!(
                "invalid ExposedPorts {key:?}: invalid port specification: {port:?}"
            )));
        }
    }
    Ok(())
}

/// Docker's HostConfig options that berth knows and cannot honour yet.
/// (Sizes of a terminal we never open, Windows isolation, the cgroup namespace
/// we choose per host and the CLI-side ContainerIDFile have no effect to refuse.)
const UNSUPPORTED_HOST_CONFIG: &[&str] = &[
    "Cgroup",
    "DeviceRequests",
    "BlkioWeightDevice",
    "BlkioDeviceReadBps",
    "BlkioDeviceWriteBps",
    "BlkioDeviceReadIOps",
    "BlkioDeviceWriteIOps",
    "CpuRealtimePeriod",
    "CpuRealtimeRuntime",
    "CpuCount",
    "CpuPercent",
    "IOMaximumIOps",
    "IOMaximumBandwidth",
    "KernelMemoryTCP",
    "StorageOpt",
    "MaskedPaths",
    "ReadonlyPaths",
    "CgroupParent",
];
/// Config options berth knows and cannot honour yet.
const UNSUPPORTED_CONFIG: &[&str] = &[];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(body: serde_json::Value) -> CreateRequest {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn zero_values_pass() {
        let req = request(json!({
            "Image": "busybox",
            "HostConfig": {"ConsoleSize": [0, 0], "ShmSize": 0, "OomKillDisable": false, "MemorySwappiness": -1,
                           "Ulimits": null, "DeviceRequests": [], "LogConfig": {"Type": "", "Config": {}}}
        }));
        assert!(reject_unsupported(&req.host_config, &req).is_ok());
    }

    #[test]
    fn exposed_ports_are_validated() {
        for bad in ["99999/tcp", "abc/tcp", "80/xyz", "-1/tcp", "0/udp"] {
            let req = request(json!({"Image": "busybox", "ExposedPorts": {bad: {}}}));
            let err = validate_exposed_ports(&req.config).unwrap_err();
            assert!(
                matches!(err, EngineError::InvalidParameter(_)),
                "{bad}: {err}"
            );
        }
        let req = request(
            json!({"Image": "b", "ExposedPorts": {"80/tcp": {}, "53/udp": {}, "9": {}, "7/sctp": {}}}),
        );
        assert!(validate_exposed_ports(&req.config).is_ok());
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let req = request(json!({
            "Image": "busybox", "Nope": 1,
            "HostConfig": {"Nope": {"a": 1}, "FutureOption": true}
        }));
        assert!(reject_unsupported(&req.host_config, &req).is_ok());
    }

    #[test]
    fn unsupported_settings_are_refused_by_name() {
        let req = request(
            json!({"Image": "busybox", "HostConfig": {"BlkioDeviceReadBps": [{"Path": "/dev/sda", "Rate": 1}]}}),
        );
        let err = reject_unsupported(&req.host_config, &req)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("not implemented: HostConfig.BlkioDeviceReadBps"),
            "{err}"
        );
        let req = request(json!({"Image": "busybox", "HostConfig": {"OomScoreAdj": 1001}}));
        assert!(matches!(
            reject_unsupported(&req.host_config, &req),
            Err(EngineError::InvalidParameter(_))
        ));
        let req =
            request(json!({"Image": "b", "HostConfig": {"DeviceCgroupRules": ["x 1:3 rwm"]}}));
        assert!(reject_unsupported(&req.host_config, &req).is_err());
        let req = request(
            json!({"Image": "busybox", "HostConfig": {"LogConfig": {"Type": "json-file", "Config": {"max-size": "1m"}}}}),
        );
        assert!(reject_unsupported(&req.host_config, &req).is_ok());
        let req = request(
            json!({"Image": "busybox", "HostConfig": {"LogConfig": {"Type": "splunk", "Config": {}}}}),
        );
        assert!(matches!(
            reject_unsupported(&req.host_config, &req),
            Err(EngineError::NotImplemented(_))
        ));
    }
}
