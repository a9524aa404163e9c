//! [`Executor`] over this host's engine: the agent's containers are
//! ordinary containers (the docker CLI lists and inspects them) that carry
//! the swarm labels.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use engine::Engine;
use serde_json::Value;

use super::spec::{GATEWAY_BRIDGE, TASK_ID_LABEL};
use super::{ContainerState, ExecError, Executor, TaskFile};
use crate::BoxFuture;

pub struct EngineExecutor {
    engine: Arc<Engine>,
}

impl EngineExecutor {
    pub fn new(engine: Arc<Engine>) -> EngineExecutor {
        EngineExecutor { engine }
    }
}

impl EngineExecutor {
    /// Makes the node's [`GATEWAY_BRIDGE`] unless it is there.
    async fn ensure_gateway_bridge(&self) -> Result<(), engine::EngineError> {
        if self.engine.network(GATEWAY_BRIDGE).is_ok() {
            return Ok(());
        }
        let req: engine::networking::CreateNetwork = serde_json::from_value(serde_json::json!({
            "Name": GATEWAY_BRIDGE,
            "Driver": "bridge",
            "Options": {
                network::OPT_ICC: "false",
                "com.docker.network.bridge.enable_ip_masquerade": "true",
            },
        }))
        .map_err(|e| engine::EngineError::Internal(e.to_string()))?;
        match self.engine.network_create(req).await {
            Ok(_) => Ok(()),
            // Made by a concurrent pass.
            Err(_) if self.engine.network(GATEWAY_BRIDGE).is_ok() => Ok(()),
            Err(e) => Err(e),
        }
    }
}

fn err(e: impl std::fmt::Display) -> ExecError {
    ExecError(e.to_string())
}

impl Executor for EngineExecutor {
    fn task_containers(&self) -> HashMap<String, String> {
        self.engine
            .containers()
            .into_iter()
            .filter_map(|c| {
                let task = c.record.config.labels.as_ref()?.get(TASK_ID_LABEL)?.clone();
                Some((task, c.record.id))
            })
            .collect()
    }

    fn ensure_image<'a>(
        &'a self,
        image: &'a str,
        registry_auth: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), ExecError>> {
        Box::pin(async move {
            if self.engine.image(image).is_ok() {
                return Ok(());
            }
            let engine = self.engine.clone();
            let reference = image.to_string();
            let auth = registry_auth.and_then(image::distribution::Credentials::decode);
            let pulled = tokio::task::spawn_blocking(move || {
                engine.pull_image(&reference, None, auth, None)
            })
            .await
            .map_err(err)?;
            // dockerd's words when the image is neither here nor pullable;
            // why it could not be pulled goes to the log.
            pulled.map(|_| ()).map_err(|e| {
                tracing::warn!("swarm: pulling {image}: {e}");
                ExecError(format!("No such image: {image}"))
            })
        })
    }

    fn create<'a>(
        &'a self,
        name: &'a str,
        body: Value,
        files: Vec<TaskFile>,
    ) -> BoxFuture<'a, Result<String, ExecError>> {
        Box::pin(async move {
            let req: engine::model::CreateRequest = serde_json::from_value(body).map_err(err)?;
            let files = files
                .into_iter()
                .map(|f| engine::InjectedFile {
                    target: f.target,
                    data: f.data,
                    uid: f.uid,
                    gid: f.gid,
                    mode: f.mode,
                })
                .collect();
            let created = self
                .engine
                .create_container_with_files(Some(name), req, files)
                .await
                .map_err(err)?;
            Ok(created.id)
        })
    }

    fn start<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<u32, ExecError>> {
        Box::pin(async move {
            self.engine.start(id).await.map_err(err)?;
            let pid = self
                .engine
                .container(id)
                .map(|c| c.view().state.pid)
                .unwrap_or(0);
            Ok(pid)
        })
    }

    fn state<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<ContainerState, ExecError>> {
        Box::pin(async move {
            let view = self.engine.container(id).map_err(err)?.view();
            Ok(ContainerState {
                running: matches!(
                    view.state.status,
                    engine::model::Status::Running | engine::model::Status::Paused
                ),
                pid: view.state.pid,
                exit_code: i64::from(view.state.exit_code),
                health: view.state.health.as_ref().map(|h| h.status.clone()),
            })
        })
    }

    fn wait<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<i64, ExecError>> {
        Box::pin(async move {
            let code = self
                .engine
                .wait(id, engine::WaitCondition::NotRunning)
                .await
                .map_err(err)?;
            Ok(i64::from(code))
        })
    }

    fn stop<'a>(&'a self, id: &'a str, grace: Duration) -> BoxFuture<'a, Result<(), ExecError>> {
        Box::pin(async move {
            let secs = i64::try_from(grace.as_secs()).unwrap_or(i64::MAX);
            self.engine.stop(id, Some(secs), None).await.map_err(err)
        })
    }

    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), ExecError>> {
        Box::pin(async move { self.engine.remove(id, true, false).await.map_err(err) })
    }

    fn apply_networks<'a>(
        &'a self,
        views: &'a [crate::netview::NetworkView],
    ) -> BoxFuture<'a, Result<(), ExecError>> {
        Box::pin(async move {
            let mut failed = Vec::new();
            if views.iter().any(|v| !v.network.spec.internal)
                && let Err(e) = self.ensure_gateway_bridge().await
            {
                failed.push(format!("{GATEWAY_BRIDGE}: {e}"));
            }
            for view in views {
                let name = &view.network.spec.annotations.name;
                let Some(spec) = crate::netview::overlay_spec(view) else {
                    failed.push(format!(
                        "{name}: incomplete definition (no subnet, VXLAN id or data-path address)"
                    ));
                    continue;
                };
                let done = async {
                    self.engine.ensure_overlay(&spec).await?;
                    self.engine
                        .program_overlay(&spec.id, crate::netview::members(view))
                        .await?;
                    if let Some((leg, ports)) = crate::netview::mesh(view) {
                        self.engine.program_mesh(&spec.id, leg, ports).await?;
                    } else if !spec.ingress {
                        self.engine
                            .program_leg(&spec.id, crate::netview::leg(view))
                            .await?;
                    }
                    Ok::<(), engine::EngineError>(())
                }
                .await;
                if let Err(e) = done {
                    failed.push(format!("{name}: {e}"));
                }
            }
            if failed.is_empty() {
                Ok(())
            } else {
                Err(ExecError(failed.join("; ")))
            }
        })
    }

    fn release_networks<'a>(&'a self, keep: &'a [String]) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            for id in self.engine.overlay_ids() {
                if keep.contains(&id) {
                    continue;
                }
                if let Err(e) = self.engine.release_overlay(&id).await {
                    tracing::warn!("agent: dropping overlay network {id}: {e}");
                }
            }
        })
    }

    fn task_logs(
        &self,
        selector: &crate::logs::Selector,
        opts: engine::LogOptions,
    ) -> tokio::sync::mpsc::Receiver<crate::logs::TaskLine> {
        crate::logs::stream(self.engine.clone(), selector.clone(), opts)
    }
}
