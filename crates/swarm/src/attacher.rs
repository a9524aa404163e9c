//! The engine's door to the cluster's attachable networks: a container
//! started with `--network NAME` where NAME is an attachable overlay of the
//! swarm asks the managers for an attachment (a task the leader gives the
//! container's address on the network), waits until this node's agent has
//! brought its copy of the network up, and gets the address; when the
//! container stops, its attachments are dropped.

use std::net::Ipv4Addr;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use engine::Engine;
use engine::networking::{AttachFuture, NetworkAttacher};
use serde_json::Value;
use tokio::sync::watch;

use crate::agent::{Assignments, AttachRequest, Dispatcher};

/// How long a container's start waits for its attachment.
const ATTACH_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Attacher {
    node_id: String,
    dispatcher: Arc<dyn Dispatcher>,
    /// What the agent applied last.
    assignments: watch::Receiver<Assignments>,
    /// The engine holds this attacher: a weak link back, no cycle.
    engine: Weak<Engine>,
}

impl Attacher {
    pub fn new(
        node_id: String,
        dispatcher: Arc<dyn Dispatcher>,
        assignments: watch::Receiver<Assignments>,
        engine: &Arc<Engine>,
    ) -> Attacher {
        Attacher {
            node_id,
            dispatcher,
            assignments,
            engine: Arc::downgrade(engine),
        }
    }

    /// The attachment's address once the node has a copy of its network.
    fn ready(&self, task_id: &str) -> Option<Ipv4Addr> {
        let current = self.assignments.borrow();
        let task = &current.tasks.iter().find(|a| a.task_id() == task_id)?.task;
        let network = task
            .pointer("/NetworksAttachments/0/Network/ID")
            .and_then(Value::as_str)?;
        let addr = task
            .pointer("/NetworksAttachments/0/Addresses/0")
            .and_then(Value::as_str)?;
        let running = task.pointer("/Status/State").and_then(Value::as_str) == Some("running");
        let engine = self.engine.upgrade()?;
        (running && engine.network(network).is_ok())
            .then(|| addr.split('/').next()?.parse().ok())
            .flatten()
    }
}

impl NetworkAttacher for Attacher {
    fn attach<'a>(
        &'a self,
        network: &'a str,
        container_id: &'a str,
        container_name: &'a str,
        aliases: &'a [String],
    ) -> AttachFuture<'a, Result<Option<Ipv4Addr>, String>> {
        Box::pin(async move {
            let req = AttachRequest {
                network: network.to_string(),
                container_id: container_id.to_string(),
                container_name: container_name.to_string(),
                aliases: aliases.to_vec(),
            };
            let Some(task_id) = self
                .dispatcher
                .attach_network(&self.node_id, &req)
                .await
                .map_err(|e| e.0)?
            else {
                return Ok(None);
            };
            let deadline = Instant::now() + ATTACH_TIMEOUT;
            let mut rx = self.assignments.clone();
            loop {
                if let Some(ip) = self.ready(&task_id) {
                    return Ok(Some(ip));
                }
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    let _ = self
                        .dispatcher
                        .detach_network(&self.node_id, std::slice::from_ref(&task_id))
                        .await;
                    return Err(format!(
                        "attaching to network {network} timed out: the node did not get its copy of the network"
                    ));
                }
                // The agent applies the network after the assignments come:
                // look again on every change and now and then.
                tokio::select! {
                    changed = rx.changed() => {
                        if changed.is_err() {
                            return Err("this node left the swarm".into());
                        }
                    }
                    () = tokio::time::sleep(left.min(Duration::from_millis(100))) => {}
                }
            }
        })
    }

    fn detach<'a>(
        &'a self,
        container_id: &'a str,
        network: Option<&'a str>,
    ) -> AttachFuture<'a, ()> {
        Box::pin(async move {
            let ids: Vec<String> = self
                .assignments
                .borrow()
                .tasks
                .iter()
                .filter(|a| {
                    a.is_attachment()
                        && a.task
                            .pointer("/Spec/NetworkAttachmentSpec/ContainerID")
                            .and_then(Value::as_str)
                            == Some(container_id)
                        && network.is_none_or(|n| {
                            a.task
                                .pointer("/Spec/Networks/0/Target")
                                .and_then(Value::as_str)
                                == Some(n)
                        })
                })
                .map(|a| a.task_id().to_string())
                .collect();
            if ids.is_empty() {
                return;
            }
            if let Err(e) = self.dispatcher.detach_network(&self.node_id, &ids).await {
                tracing::warn!(container = %container_id, "dropping its network attachments: {e}");
            }
        })
    }
}
