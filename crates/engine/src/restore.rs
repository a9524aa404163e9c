//! Start-up: load containers from the data root and reconnect to live shims
//! (live restore); record exits that happened while the daemon was down.

use std::sync::Arc;

use crate::Engine;
use crate::container::Container;
use crate::model::Status;

impl Engine {
    pub(crate) async fn restore(self: &Arc<Self>) {
        let dir = self.cfg.data_root.join("containers");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        // Restarts wait until the network leftovers below are cleaned.
        let mut to_start = Vec::new();
        let mut to_schedule = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(id) = path
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_string)
            else {
                continue;
            };
            if id.starts_with(crate::lifecycle::RETIRED_PREFIX) {
                // Removed before the daemon stopped; its files were still going.
                cas::reaper::remove_later(path);
                continue;
            }
            if !Container::config_path(&path).exists() {
                // A create that crashed before its config landed.
                tracing::info!(container = %id, "removing unfinished container");
                let _ = self.images.remove_rw_layer(&id);
                let _ = std::fs::remove_dir_all(&path);
                self.remove_orphan_state_dir(&id);
                continue;
            }
            let state_dir = self.cfg.exec_root.join("containers").join(&id);
            let container = match Container::load(&path, state_dir) {
                Ok(c) => Arc::new(c),
                Err(err) => {
                    tracing::error!(container = %id, "cannot load container: {err}");
                    continue;
                }
            };
            {
                let mut reg = self.registry_mut();
                reg.by_name.insert(container.name(), id.clone());
                reg.by_id.insert(id.clone(), container.clone());
            }
            match container.status() {
                Status::Running | Status::Paused => {
                    self.reconnect(container).await;
                }
                Status::Restarting => to_schedule.push(container.clone()),
                Status::Exited if restarts_with_daemon(&container) => to_start.push(id.clone()),
                Status::Removing => {
                    if let Err(err) = self.remove(&id, true, false).await {
                        tracing::warn!(container = %id, "finishing removal: {err}");
                    }
                }
                _ => {}
            }
        }
        self.remove_orphan_state_dirs();
        // Leftovers of containers that are not running any more.
        let mut keep = Vec::new();
        let all: Vec<_> = self.registry().by_id.values().cloned().collect();
        for c in all {
            if matches!(c.status(), Status::Running | Status::Paused) {
                keep.push(c.id.clone());
            } else {
                self.teardown_network(&c).await;
            }
        }
        let volume_users: Vec<(String, String)> = keep
            .iter()
            .filter_map(|id| self.registry().by_id.get(id).cloned())
            .flat_map(|c| {
                let mounts = c.lock().record.mounts.clone();
                mounts
                    .into_iter()
                    .filter_map(|m| m.name)
                    .map(|v| (v, c.id.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        self.volumes.restore_users(&volume_users);
        self.networking.remove_stale_sandboxes(&keep);
        self.networking.release_unused_addresses();
        for c in to_schedule {
            self.schedule_restart(&c);
        }
        for id in to_start {
            let engine = self.clone();
            tokio::spawn(async move {
                if let Err(err) = engine.start(&id).await {
                    tracing::warn!(container = %id, "restart at daemon start: {err}");
                }
            });
        }
    }

    /// State dirs whose container is gone: a removal that crashed after it
    /// removed the container's dir, or a create that crashed before it
    /// made it, with the tmpfs of secrets it may have mounted.
    fn remove_orphan_state_dirs(&self) {
        let Ok(entries) = std::fs::read_dir(self.cfg.exec_root.join("containers")) else {
            return;
        };
        let containers = self.cfg.data_root.join("containers");
        for entry in entries.flatten() {
            let Some(id) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if !containers.join(&id).exists() {
                tracing::info!(container = %id, "removing the state of a removed container");
                self.remove_orphan_state_dir(&id);
            }
        }
    }

    fn remove_orphan_state_dir(&self, id: &str) {
        let state_dir = self.cfg.exec_root.join("containers").join(id);
        crate::injected::remove(&state_dir);
        let _ = std::fs::remove_dir_all(&state_dir);
    }

    async fn reconnect(self: &Arc<Self>, c: Arc<Container>) {
        let attach = async {
            let client = self.runtime.connect(&c.state_dir).await?;
            let open_stdin = c.lock().record.config.open_stdin;
            let attached = client.attach(open_stdin).await?;
            Ok::<_, runtime::RuntimeError>((client, attached))
        };
        match attach.await {
            Ok((client, attached)) => {
                tracing::info!(container = %c.id, "reconnected to running container");
                let pump = tokio::spawn(c.clone().pump(attached.output));
                {
                    let mut inner = c.lock();
                    inner.shim = Some(client.clone());
                    inner.stdin = attached.stdin;
                }
                self.adopt_network(&c).await;
                tokio::spawn(self.clone().monitor(c.clone(), client, Some(pump)));
                self.start_health_monitor(&c);
            }
            Err(err) => {
                tracing::info!(container = %c.id, "container ended while the daemon was away ({err})");
                let status = crate::exit::after_lost_shim(self.runtime.as_ref(), &c.state_dir);
                self.handle_exit(&c, status).await;
            }
        }
    }
}

fn restarts_with_daemon(c: &Container) -> bool {
    let inner = c.lock();
    crate::restart::on_daemon_start(&inner.record.host_config.restart_policy, &inner.state)
}
