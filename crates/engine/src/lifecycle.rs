//! start / stop / kill / wait / restart / remove, and the exit monitor.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use runtime::RuntimeKind;
use runtime::config::{ContainerConfig, NetworkMode};

use crate::oci;
use runtime::shim::{ExitStatus, ShimLaunch};

use crate::container::Container;
use crate::model::Status;
use crate::mounts::MountKind;
use crate::rt::Task;
use crate::{Engine, EngineError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitCondition {
    NotRunning,
    NextExit,
    Removed,
}

impl WaitCondition {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "" | "not-running" => Ok(WaitCondition::NotRunning),
            "next-exit" => Ok(WaitCondition::NextExit),
            "removed" => Ok(WaitCondition::Removed),
            other => Err(EngineError::InvalidParameter(format!(
                "invalid condition: \"{other}\""
            ))),
        }
    }
}

/// Parses "SIGTERM", "TERM", "15".
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>()
        && n > 0
        && n < 65
    {
        return Ok(n);
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .map(|sig| sig as i32)
        .map_err(|_| EngineError::InvalidParameter(format!("Invalid signal: {s}")))
}

impl Engine {
    /// What the runtime needs to run `record` on the mounted `rootfs`: the
    /// lookups happen here, the combining in [`crate::oci`].
    fn runtime_config(
        &self,
        c: &Container,
        record: &crate::model::ContainerRecord,
        rootfs: PathBuf,
        network: NetworkMode,
        userns: Option<&crate::remap::UsernsSource>,
    ) -> Result<ContainerConfig> {
        let remapped_root = self.remapped_root(&c.id);
        let cfg = &record.config;
        let user = if cfg.user.is_empty() {
            image::passwd::ResolvedUser {
                uid: 0,
                gid: 0,
                additional_gids: Vec::new(),
                home: "/root".into(),
            }
        } else {
            image::passwd::resolve_user(&rootfs, &cfg.user)
                .map_err(|e| EngineError::InvalidParameter(e.to_string()))?
        };
        let link_env = self.link_env(record)?;
        let env = oci::env(record, &link_env, &user.home);
        // An OCI runtime reports a missing binary itself, in its own words,
        // as dockerd shows them.
        if record.host_config.runtime.is_empty()
            || record.host_config.runtime == crate::runtimes::BUILTIN
        {
            runtime::exe::check_executable(&rootfs, &record.path, &env)?;
        }
        crate::rootfs::mkdir_all_in_root(&rootfs, &oci::cwd(record), remapped_root)?;
        for f in &record.injected_files {
            let parent = std::path::Path::new(&f.target)
                .parent()
                .and_then(|p| p.to_str())
                .unwrap_or("/");
            crate::rootfs::mkdir_all_in_root(&rootfs, parent, remapped_root).map_err(|e| {
                EngineError::InvalidParameter(format!("secret or config file {}: {e}", f.target))
            })?;
        }
        // `--network container:x` shares x's name files along with its namespace.
        let etc_files =
            match crate::networking::containers::mode_kind(&record.host_config.network_mode) {
                crate::networking::containers::ModeKind::Container(t) => {
                    let t = self.container(&t)?.lock().record.clone();
                    [t.resolv_conf_path, t.hostname_path, t.hosts_path]
                }
                _ => [
                    record.resolv_conf_path.clone(),
                    record.hostname_path.clone(),
                    record.hosts_path.clone(),
                ],
            };
        let namespaces = self.resolve_namespaces(&c.state_dir, &record.host_config)?;
        let init = match record.host_config.init {
            Some(true) => Some(self.init_binary()?),
            _ => None,
        };
        let resolved = oci::Resolved {
            uid: user.uid,
            gid: user.gid,
            additional_gids: user.additional_gids,
            etc_files,
            namespaces,
            init,
            injected_dir: crate::injected::files_dir(&c.state_dir),
            security: crate::settings::security(&record.host_config, &rootfs)?,
            network,
            cgroup_path: format!("{}/{}", self.cfg.cgroup_parent.trim_end_matches('/'), c.id),
        };
        let mut config = oci::container_config(&c.id, record, rootfs, env, resolved);
        if let (Some(u), Some(remap)) = (userns, &self.cfg.userns_remap) {
            config.userns = Some(runtime::Userns {
                path: u.path().to_path_buf(),
                maps: remap.maps.clone(),
            });
        }
        Ok(config)
    }

    /// `berth-shim` beside the berth binary, where it was installed with it;
    /// otherwise `berth shim`, the same code at a larger memory cost.
    fn shim_monitor(&self) -> Option<PathBuf> {
        let monitor = self.cfg.exe.with_file_name(runtime::shim::MONITOR_BINARY);
        monitor.is_file().then_some(monitor)
    }

    /// `berth-runtime` beside the berth binary, where it was installed with
    /// it; otherwise `berth runtime`, the same code at a larger start cost.
    fn runtime_cli(&self) -> Option<PathBuf> {
        let cli = self.cfg.exe.with_file_name(runtime::shim::RUNTIME_BINARY);
        cli.is_file().then_some(cli)
    }

    fn shim_launch(
        &self,
        c: &Container,
        record: &crate::model::ContainerRecord,
        log_path: PathBuf,
    ) -> Result<ShimLaunch> {
        let runtime = record.host_config.runtime.as_str();
        let kind = self.cfg.runtimes.kind(runtime)?;
        // Each runtime CLI keeps its own state, as dockerd's runtime-NAME dirs.
        let runtime_root = match &kind {
            RuntimeKind::Builtin => self.cfg.exec_root.join("runtime"),
            RuntimeKind::Oci { name, .. } => self.cfg.exec_root.join("runtimes").join(name),
        };
        Ok(ShimLaunch {
            exe: self.cfg.exe.clone(),
            args_prefix: vec!["shim".into()],
            monitor: self.shim_monitor(),
            runtime_cli: self.runtime_cli(),
            state_dir: c.state_dir.clone(),
            runtime_root,
            runtime: kind,
            log: crate::logconfig::shim_spec(record)?,
            log_path,
        })
    }

    pub async fn start(self: &Arc<Self>, name_or_id: &str) -> Result<()> {
        let timer = self.metrics.container_action("start");
        timer.observe(self.start_untimed(name_or_id).await)
    }

    async fn start_untimed(self: &Arc<Self>, name_or_id: &str) -> Result<()> {
        let c = self.container(name_or_id)?;
        let op = c.op.lock().await;
        match c.status() {
            Status::Running | Status::Paused => {
                return Err(EngineError::NotModified("container already started".into()));
            }
            Status::Removing | Status::Dead => {
                return Err(EngineError::Conflict(format!(
                    "container {} is marked for removal and cannot be started",
                    c.id
                )));
            }
            _ => {}
        }
        let result = self.start_locked(&c).await;
        drop(op);
        let Err(err) = result else { return Ok(()) };
        self.unmount_rootfs(&c.id);
        crate::namespaces::unmount_shm(&c.state_dir);
        self.release_volumes(&c).await;
        let msg = err.to_string();
        let _ = c.update_state(|s| {
            s.error = msg;
            if s.status != Status::Created {
                s.status = Status::Exited;
                s.exit_code = 128;
            }
        });
        c.drop_subscribers();
        // As dockerd: a --rm container that cannot start is removed, which the
        // docker CLI waits for before it reports the error.
        let auto_remove = c.lock().record.host_config.auto_remove;
        if auto_remove && let Err(rm_err) = self.remove(&c.id, true, true).await {
            tracing::warn!(container = %c.id, "auto-remove after failed start: {rm_err}");
        }
        Err(err)
    }

    async fn start_locked(self: &Arc<Self>, c: &Arc<Container>) -> Result<()> {
        let record = c.lock().record.clone();
        crate::injected::check_present(&c.id, &c.state_dir, &record.injected_files)?;
        crate::logconfig::probe(&record).await?;
        let userns = self.userns_source(&c.id, &record)?;
        let result = async {
            let (network, net_state) = self.setup_network(c, &record, userns.as_ref()).await?;
            let result = self
                .start_with_network(c, &record, network, net_state.clone(), userns.as_ref())
                .await;
            if result.is_err() {
                self.networking.teardown(&c.id, &net_state).await;
            }
            result
        }
        .await;
        // The container's processes hold the namespace now (or it failed).
        if let Some(u) = &userns {
            u.release();
        }
        result
    }

    async fn start_with_network(
        self: &Arc<Self>,
        c: &Arc<Container>,
        record: &crate::model::ContainerRecord,
        network: NetworkMode,
        net_state: crate::networking::NetworkState,
        userns: Option<&crate::remap::UsernsSource>,
    ) -> Result<()> {
        self.acquire_volumes(c, record).await?;
        let rootfs = self.images.mount_rw_layer(&c.id, &record.image_id)?;
        seed_volumes(c, record, &rootfs)?;
        if let Some(root) = self.remapped_root(&c.id) {
            self.chown_for_remap(record, root)?;
        }
        let config = self.runtime_config(c, record, rootfs, network, userns)?;
        let config = self.stage_for_remap(&c.id, config)?;
        if record.injected_files.is_empty() {
            let _ = std::fs::remove_dir_all(&c.state_dir);
        } else {
            crate::injected::clear_state_dir(&c.state_dir);
        }
        crate::perms::create_dir_private(&c.state_dir)?;
        let log_path = if record.log_path.as_os_str().is_empty() {
            PathBuf::from("/dev/null") // the "none" log driver
        } else {
            record.log_path.clone()
        };
        let launch = self.shim_launch(c, record, log_path)?;
        tracing::debug!(container = %c.id, "rootfs mounted, spec ready");
        let info = self.runtime.create(&launch, &config).await?;
        tracing::debug!(
            container = %c.id,
            "shim created the container (runtime create {:.1} ms)",
            info.runtime_create.as_secs_f64() * 1000.0
        );
        let client = self.runtime.connect(&c.state_dir).await?;
        let attached = client.attach(record.config.open_stdin).await?;
        if record.config.tty
            && let Some((h, w)) = console_size(&record.host_config)
        {
            // Between create and start, so the first program sees its size.
            client.resize(h, w).await?;
        }
        let pump = tokio::spawn(c.clone().pump(attached.output));
        {
            let mut inner = c.lock();
            inner.shim = Some(client.clone());
            inner.stdin = attached.stdin;
        }
        if let Err(err) = client.start().await {
            let _ = client.kill(libc::SIGKILL).await;
            c.lock().shim = None;
            return Err(err.into());
        }
        c.lock().backoff.started(tokio::time::Instant::now());
        c.update_state(|s| {
            s.status = Status::Running;
            s.pid = info.init_pid;
            s.exit_code = 0;
            s.error.clear();
            s.oom_killed = false;
            s.started_at = Some(chrono::Utc::now());
            s.stopped_by_user = false;
            s.network = net_state;
        })?;
        c.lifecycle.send_modify(|l| l.running = true);
        tracing::debug!(container = %c.id, "started");
        self.container_event(c, "start", &[]);
        self.start_health_monitor(c);
        tokio::spawn(self.clone().monitor(c.clone(), client, Some(pump)));
        Ok(())
    }

    /// Waits for the container's exit and records it.
    pub(crate) async fn monitor(
        self: Arc<Self>,
        c: Arc<Container>,
        client: Arc<dyn Task>,
        pump: Option<tokio::task::JoinHandle<()>>,
    ) {
        let status = crate::exit::wait(self.runtime.as_ref(), client.as_ref(), &c.state_dir).await;
        tracing::debug!(container = %c.id, "exited with {}", status.exit_code);
        if let Some(pump) = pump {
            let _ = pump.await;
        }
        tracing::debug!(container = %c.id, "output drained");
        self.handle_exit(&c, status).await;
    }

    pub(crate) async fn handle_exit(self: &Arc<Self>, c: &Arc<Container>, status: ExitStatus) {
        {
            let mut inner = c.lock();
            inner.shim = None;
            inner.stdin = None;
        }
        // One write records both the exit and the freed network; a daemon
        // that stops before it finds the container running and records the
        // exit again at start.
        crate::exit::apply(&mut c.lock().state, &status);
        self.release_network(c).await;
        let persisted = c.update_state_replaceable(|_| {});
        if let Err(err) = persisted {
            tracing::error!(container = %c.id, "persisting exit: {err}");
        }
        self.unmount_rootfs(&c.id);
        crate::namespaces::unmount_shm(&c.state_dir);
        self.release_volumes(c).await;
        tracing::debug!(container = %c.id, "exit recorded, rootfs unmounted");
        c.lifecycle.send_modify(|l| {
            l.running = false;
            l.exits += 1;
            l.exit_code = status.exit_code;
        });
        self.container_event(c, "die", &[("exitCode", status.exit_code.to_string())]);
        let (auto_remove, policy) = {
            let inner = c.lock();
            (
                inner.record.host_config.auto_remove,
                inner.record.host_config.restart_policy.clone(),
            )
        };
        if auto_remove {
            if let Err(err) = self.remove(&c.id, true, true).await {
                tracing::warn!(container = %c.id, "auto-remove: {err}");
            }
        } else {
            let restart = crate::restart::after_exit(&policy, &c.lock().state);
            if restart {
                self.schedule_restart(c);
            }
        }
    }

    /// Mounts the volumes with mount options this container is the first
    /// to use (local driver `type`/`device`/`o`), before its rootfs.
    async fn acquire_volumes(
        self: &Arc<Self>,
        c: &Arc<Container>,
        record: &crate::model::ContainerRecord,
    ) -> Result<()> {
        let names: Vec<String> = record
            .mounts
            .iter()
            .filter(|m| m.kind == MountKind::Volume)
            .filter_map(|m| m.name.clone())
            .collect();
        if names.is_empty() {
            return Ok(());
        }
        let engine = self.clone();
        let id = c.id.clone();
        tokio::task::spawn_blocking(move || {
            for name in &names {
                if let Err(e) = engine.volumes.acquire(name, &id) {
                    engine.volumes.release_container(&id);
                    return Err(e);
                }
            }
            Ok(())
        })
        .await
        .map_err(|e| EngineError::internal("mounting volumes", e))?
    }

    /// The container stopped: volumes it was the last user of are unmounted.
    async fn release_volumes(self: &Arc<Self>, c: &Arc<Container>) {
        let engine = self.clone();
        let id = c.id.clone();
        let _ = tokio::task::spawn_blocking(move || engine.volumes.release_container(&id)).await;
    }

    pub async fn kill(self: &Arc<Self>, name_or_id: &str, signal: Option<&str>) -> Result<()> {
        let timer = self.metrics.container_action("kill");
        timer.observe(self.kill_untimed(name_or_id, signal).await)
    }

    async fn kill_untimed(self: &Arc<Self>, name_or_id: &str, signal: Option<&str>) -> Result<()> {
        let c = self.container(name_or_id)?;
        let sig = match signal.filter(|s| !s.is_empty()) {
            Some(s) => parse_signal(s)?,
            None => libc::SIGKILL,
        };
        let Some(shim) = c
            .shim()
            .filter(|_| matches!(c.status(), Status::Running | Status::Paused))
        else {
            return Err(EngineError::Conflict(format!(
                "Cannot kill container: {name_or_id}: container {} is not running",
                c.id
            )));
        };
        c.update_state(|s| s.stopped_by_user = true)?;
        let mut watch = c.watch();
        if sig == libc::SIGKILL && c.status() == Status::Paused {
            // A frozen process only dies once thawed.
            shim.resume().await?;
            c.update_state(|s| s.status = Status::Running)?;
        }
        shim.kill(sig).await?;
        self.container_event(&c, "kill", &[("signal", sig.to_string())]);
        if sig == libc::SIGKILL {
            // As dockerd: SIGKILL answers once the exit is recorded, so an
            // inspect right after `docker kill` shows the container exited.
            if !crate::stop::exited_within(&mut watch, crate::stop::AFTER_KILL).await {
                return Err(EngineError::Internal(format!(
                    "container {} did not exit 10s after SIGKILL",
                    c.id
                )));
            }
        }
        Ok(())
    }

    pub async fn stop(
        self: &Arc<Self>,
        name_or_id: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<()> {
        let timer = self.metrics.container_action("stop");
        timer.observe(self.stop_untimed(name_or_id, timeout, signal).await)
    }

    async fn stop_untimed(
        self: &Arc<Self>,
        name_or_id: &str,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<()> {
        let c = self.container(name_or_id)?;
        let _op = c.op.lock().await;
        self.stop_locked(&c, timeout, signal).await?;
        self.container_event(&c, "stop", &[]);
        Ok(())
    }

    async fn stop_locked(
        self: &Arc<Self>,
        c: &Arc<Container>,
        timeout: Option<i64>,
        signal: Option<&str>,
    ) -> Result<()> {
        if c.status() == Status::Restarting {
            // Between two runs: cancelling the pending restart is the stop.
            c.update_state(|s| {
                s.status = Status::Exited;
                s.stopped_by_user = true;
            })?;
            return Ok(());
        }
        let Some(shim) = c
            .shim()
            .filter(|_| matches!(c.status(), Status::Running | Status::Paused))
        else {
            return Err(EngineError::NotModified("container already stopped".into()));
        };
        if c.status() == Status::Paused {
            // A frozen process cannot act on its stop signal: thaw it first, as dockerd does.
            shim.resume().await?;
            c.update_state(|s| s.status = Status::Running)?;
        }
        let (cfg_signal, cfg_timeout) = {
            let inner = c.lock();
            (
                inner.record.config.stop_signal.clone(),
                inner.record.config.stop_timeout,
            )
        };
        let sig = match signal.or(cfg_signal.as_deref()).filter(|s| !s.is_empty()) {
            Some(s) => parse_signal(s)?,
            None => libc::SIGTERM,
        };
        let timeout = timeout.or(cfg_timeout).unwrap_or(10);
        c.update_state(|s| s.stopped_by_user = true)?;
        let mut watch = c.watch();
        let on_signal = |s: i32| self.container_event(c, "kill", &[("signal", s.to_string())]);
        if !crate::stop::signal_then_kill(shim.as_ref(), &mut watch, sig, timeout, on_signal).await
        {
            return Err(EngineError::Internal(format!(
                "container {} did not exit 30s after SIGKILL",
                c.id
            )));
        }
        Ok(())
    }

    pub async fn restart(self: &Arc<Self>, name_or_id: &str, timeout: Option<i64>) -> Result<()> {
        let timer = self.metrics.container_action("restart");
        timer.observe(self.restart_untimed(name_or_id, timeout).await)
    }

    async fn restart_untimed(
        self: &Arc<Self>,
        name_or_id: &str,
        timeout: Option<i64>,
    ) -> Result<()> {
        let c = self.container(name_or_id)?;
        {
            let _op = c.op.lock().await;
            match self.stop_locked(&c, timeout, None).await {
                Ok(()) | Err(EngineError::NotModified(_)) => {}
                Err(err) => return Err(err),
            }
        }
        self.start(&c.id).await?;
        self.container_event(&c, "restart", &[]);
        Ok(())
    }

    /// Resolves to the exit code once `condition` holds.
    pub async fn wait(self: &Arc<Self>, name_or_id: &str, condition: WaitCondition) -> Result<i32> {
        let c = self.container(name_or_id)?;
        let mut watch = c.watch();
        let start = watch.borrow().clone();
        let done = watch
            .wait_for(|l| match condition {
                WaitCondition::NotRunning => !l.running || l.removed,
                WaitCondition::NextExit => l.exits > start.exits || l.removed,
                WaitCondition::Removed => l.removed,
            })
            .await;
        // The sender lives as long as the container object; Err means it went away with it.
        let code = done.map(|l| l.exit_code).ok();
        Ok(code.unwrap_or_else(|| watch.borrow().exit_code))
    }

    pub async fn remove(
        self: &Arc<Self>,
        name_or_id: &str,
        force: bool,
        remove_volumes: bool,
    ) -> Result<()> {
        let timer = self.metrics.container_action("delete");
        timer.observe(self.remove_untimed(name_or_id, force, remove_volumes).await)
    }

    async fn remove_untimed(
        self: &Arc<Self>,
        name_or_id: &str,
        force: bool,
        remove_volumes: bool,
    ) -> Result<()> {
        let c = self.container(name_or_id)?;
        let _op = c.op.lock().await;
        if c.status() == Status::Restarting && !force {
            return Err(EngineError::Conflict(format!(
                "You cannot remove a restarting container {}. Stop the container before attempting removal or force remove",
                c.id
            )));
        }
        if c.status() == Status::Running || c.status() == Status::Paused {
            if !force {
                return Err(EngineError::Conflict(format!(
                    "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                    c.name()
                )));
            }
            match self.stop_locked(&c, Some(0), Some("SIGKILL")).await {
                Ok(()) | Err(EngineError::NotModified(_)) => {}
                Err(err) => return Err(err),
            }
        }
        if c.lifecycle.borrow().removed {
            return Ok(());
        }
        // The retirement of its directory below is the durable step.
        c.update_state_replaceable(|s| s.status = Status::Removing)?;
        self.unmount_rootfs(&c.id);
        self.images.remove_rw_layer(&c.id)?;
        tracing::debug!(container = %c.id, "rw layer removed");
        crate::injected::remove(&c.state_dir);
        retire_dir(&c.dir)?;
        let _ = std::fs::remove_dir_all(&c.state_dir);
        {
            let mut reg = self.registry_mut();
            reg.by_id.remove(&c.id);
            let name = c.name();
            if reg.by_name.get(&name) == Some(&c.id) {
                reg.by_name.remove(&name);
            }
        }
        self.container_event(&c, "destroy", &[]);
        c.lifecycle.send_modify(|l| l.removed = true);
        if remove_volumes {
            self.remove_anonymous_volumes(&c);
        }
        tracing::debug!(container = %c.id, "removed");
        Ok(())
    }

    /// `rm -v` and `--rm`: anonymous volumes go with their container unless another uses them.
    fn remove_anonymous_volumes(&self, c: &Container) {
        let mounts = c.lock().record.mounts.clone();
        for name in mounts.iter().filter_map(|m| m.name.as_deref()) {
            let anonymous = self.volumes.get(name).is_ok_and(|v| v.anonymous());
            if anonymous && let Err(err) = self.remove_volume(name, false) {
                tracing::warn!(volume = name, "keeping anonymous volume: {err}");
            }
        }
    }

    /// `POST /containers/{id}/resize`: the terminal of a running tty container.
    pub async fn resize(&self, name_or_id: &str, height: u16, width: u16) -> Result<()> {
        let c = self.container(name_or_id)?;
        if !c.lock().record.config.tty {
            return Err(EngineError::InvalidParameter(format!(
                "container {} has no terminal to resize",
                c.id
            )));
        }
        let Some(shim) = c.shim().filter(|_| c.status() == Status::Running) else {
            return Err(EngineError::Conflict(format!(
                "cannot resize a container that is not running: {}",
                c.id
            )));
        };
        Ok(shim.resize(height, width).await?)
    }

    /// Writes to the container's stdin, waiting for it to start if needed.
    pub async fn write_stdin(&self, c: &Arc<Container>, data: Bytes) -> Result<()> {
        let tx = self.stdin_sender(c).await?;
        tx.send(data)
            .await
            .map_err(|_| EngineError::Conflict("container stdin is closed".into()))
    }

    /// Closes the container's stdin (docker's StdinOnce), once it has started.
    pub async fn close_stdin(&self, c: &Arc<Container>) {
        if self.stdin_sender(c).await.is_ok() {
            c.lock().stdin = None;
        }
    }

    async fn stdin_sender(&self, c: &Arc<Container>) -> Result<tokio::sync::mpsc::Sender<Bytes>> {
        let mut watch = c.watch();
        let start = watch.borrow().clone();
        let ready = watch
            .wait_for(|l| l.running || l.removed || l.exits > start.exits)
            .await
            .map(|l| l.running)
            .unwrap_or(false);
        if !ready {
            return Err(EngineError::Conflict(format!(
                "container {} is not running",
                c.id
            )));
        }
        c.lock()
            .stdin
            .clone()
            .ok_or_else(|| EngineError::Conflict("container stdin is closed".into()))
    }
}

/// Seeds new (empty) volumes with the image's content at their mount point,
/// once, as dockerd does; the record then forgets the request.
fn seed_volumes(
    c: &Container,
    record: &crate::model::ContainerRecord,
    rootfs: &std::path::Path,
) -> Result<()> {
    let mut seeded = false;
    for m in record
        .mounts
        .iter()
        .filter(|m| m.kind == MountKind::Volume && m.copy_up)
    {
        let empty = std::fs::read_dir(&m.source)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        let image_dir = runtime::exe::resolve_in_root(rootfs, std::path::Path::new(&m.destination));
        if let Some(src) = image_dir.filter(|p| p.is_dir())
            && empty
        {
            crate::volumes::copy_tree(&src, &m.source)
                .and_then(|()| crate::volumes::copy_owner_and_mode(&src, &m.source))
                .map_err(|e| {
                    EngineError::internal(format!("copying {} into its volume", m.destination), e)
                })?;
        }
        seeded = true;
    }
    if seeded {
        c.update_record(|r| r.mounts.iter_mut().for_each(|m| m.copy_up = false))?;
    }
    Ok(())
}

/// `HostConfig.ConsoleSize` ([height, width]) when the client sent a real size.
fn console_size(hc: &crate::model::HostConfig) -> Option<(u16, u16)> {
    let size = hc.extra.get("ConsoleSize")?.as_array()?;
    let h = u16::try_from(size.first()?.as_u64()?).ok()?;
    let w = u16::try_from(size.get(1)?.as_u64()?).ok()?;
    (h > 0 && w > 0).then_some((h, w))
}

pub(crate) use crate::oci::{INIT_PATH, runtime_user};

/// Names a container's directory takes once removed, until the reaper is
/// done with it (restore cleans any a stop left behind).
pub(crate) const RETIRED_PREFIX: &str = ".removed-";

/// Takes a removed container's directory out of `containers/` at once (a
/// rename, made durable) and frees it in the background: its log alone can
/// be large, and unlinking waits for the disk on some filesystems.
fn retire_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
        return cas::reaper::remove_tree(dir);
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let retired = parent.join(format!(
        "{RETIRED_PREFIX}{}-{nanos:x}",
        name.to_string_lossy()
    ));
    match std::fs::rename(dir, &retired) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    }
    cas::fsync_dir(parent)?;
    cas::reaper::remove_later(retired);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_like_docker() {
        assert_eq!(parse_signal("SIGTERM").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("term").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("9").unwrap(), libc::SIGKILL);
        assert_eq!(parse_signal("HUP").unwrap(), libc::SIGHUP);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("0").is_err());
    }

    #[test]
    fn wait_conditions() {
        assert_eq!(WaitCondition::parse("").unwrap(), WaitCondition::NotRunning);
        assert_eq!(
            WaitCondition::parse("removed").unwrap(),
            WaitCondition::Removed
        );
        assert!(WaitCondition::parse("later").is_err());
    }
}
