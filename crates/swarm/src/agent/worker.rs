//! One task's worker: drives its container from nothing to running, then
//! to its end (complete, failed, shutdown), reporting each step with
//! dockerd's messages. States only move forward; a desired state of
//! `shutdown` (or beyond) stops the container wherever the task is.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use super::spec::{TaskIdentity, attach_networks, create_body};
use super::{Assignment, ExecError, Executor, NodeInfo, StatusUpdate, TaskFile};
use crate::template;

pub use cluster::model::TaskState;

/// A state's name as the API writes it; an unknown one reads as orphaned.
pub fn parse_state(s: &str) -> TaskState {
    serde_json::from_value(Value::String(s.to_string())).unwrap_or(TaskState::Orphaned)
}

/// A `TaskStatus` as JSON, stamped now.
pub fn status(
    state: TaskState,
    message: &str,
    err: Option<&str>,
    container: Option<(&str, u32, i64)>,
) -> Value {
    let mut s = json!({
        "Timestamp": crate::now_rfc3339(),
        "State": state.as_str(),
        "Message": message,
        "PortStatus": {},
    });
    if let Some(err) = err {
        s["Err"] = Value::String(err.to_string());
    }
    if let Some((id, pid, code)) = container {
        s["ContainerStatus"] = json!({ "ContainerID": id, "PID": pid, "ExitCode": code });
    }
    s
}

pub(super) struct Handle {
    desired: watch::Sender<Assignment>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Handle {
    pub(super) fn spawn(
        node: Arc<(String, NodeInfo)>,
        assignment: Assignment,
        files: TaskData,
        container: Option<String>,
        executor: Arc<dyn Executor>,
        report: mpsc::UnboundedSender<StatusUpdate>,
    ) -> Handle {
        let (tx, rx) = watch::channel(assignment);
        let w = Worker {
            node,
            files,
            executor,
            report,
            reported: None,
        };
        Handle {
            desired: tx,
            task: tokio::spawn(w.run(rx, container)),
        }
    }

    pub(super) fn update(&self, assignment: Assignment) {
        self.desired.send_if_modified(|cur| {
            if *cur != assignment {
                *cur = assignment;
                true
            } else {
                false
            }
        });
    }
}

/// The secret and config data a task's assignment carried: id → data, and
/// id → template driver for the templated ones.
#[derive(Default)]
pub(super) struct TaskData {
    pub files: HashMap<String, Vec<u8>>,
    pub templated: HashMap<String, String>,
}

/// How often a task's container health is read (its own checks run at
/// their interval; this only bounds how late the task follows them).
const HEALTH_POLL: Duration = Duration::from_millis(250);

enum Health {
    /// `checked`: it has a health check, which the task keeps watching.
    Healthy { checked: bool },
    /// The task ended (exit, shutdown, unhealthy): already reported.
    Ended,
}

struct Worker {
    /// This node's id and description.
    node: Arc<(String, NodeInfo)>,
    files: TaskData,
    executor: Arc<dyn Executor>,
    report: mpsc::UnboundedSender<StatusUpdate>,
    /// The last state this worker reported (it only reports forward).
    reported: Option<TaskState>,
}

impl Worker {
    fn send(&mut self, task_id: &str, state: TaskState, status: Value) {
        if self.reported.is_some_and(|r| r >= state) {
            return;
        }
        self.reported = Some(state);
        let _ = self.report.send(StatusUpdate {
            task_id: task_id.to_string(),
            status,
        });
    }

    async fn run(mut self, mut rx: watch::Receiver<Assignment>, mut container: Option<String>) {
        let first = rx.borrow_and_update().clone();
        let task_id = first.task_id().to_string();
        let known = first
            .task
            .pointer("/Status/State")
            .and_then(Value::as_str)
            .map(parse_state);
        // A task the managers already saw end needs nothing but, if its
        // desired state is shutdown, a stopped container.
        if let Some(state) = known.filter(|s| s.is_terminal()) {
            self.reported = Some(state);
            if let Some(id) = &container {
                let _ = self.executor.stop(id, grace(&first)).await;
            }
            return;
        }
        if first.desired() > TaskState::Running {
            if let Some(id) = &container {
                let _ = self.executor.stop(id, grace(&first)).await;
            }
            self.send(
                &task_id,
                TaskState::Shutdown,
                status(TaskState::Shutdown, "shutdown", None, None),
            );
            return;
        }
        let (id, adopted) = match container.take() {
            // Adopted after a daemon restart: what is it doing now?
            Some(id) => (id, true),
            None => match self.prepare(&task_id, &first).await {
                Ok(id) => (id, false),
                Err((state, e)) => {
                    let message = if state == TaskState::Rejected {
                        "preparing"
                    } else {
                        "starting"
                    };
                    self.send(&task_id, state, status(state, message, Some(&e.0), None));
                    return;
                }
            },
        };
        if !adopted && !self.wait_until_runnable(&task_id, &id, &mut rx).await {
            return;
        }
        let started = if adopted {
            match self.executor.state(&id).await {
                Ok(s) if s.running => Ok(s.pid),
                Ok(s) => {
                    self.ended(&task_id, &id, s.exit_code, &rx);
                    return;
                }
                Err(e) => Err(e),
            }
        } else {
            self.executor.start(&id).await
        };
        let watch_health;
        match started {
            // As swarmkit: a container with a health check is `starting`
            // until it is healthy (names, VIPs and dependants wait for it).
            Ok(pid) => match self.until_healthy(&task_id, &id, &mut rx).await {
                Health::Healthy { checked } => {
                    watch_health = checked;
                    self.send(
                        &task_id,
                        TaskState::Running,
                        status(TaskState::Running, "started", None, Some((&id, pid, 0))),
                    )
                }
                Health::Ended => return,
            },
            Err(e) => {
                self.send(
                    &task_id,
                    TaskState::Failed,
                    status(TaskState::Failed, "starting", Some(&e.0), Some((&id, 0, 0))),
                );
                return;
            }
        }
        let mut probe = tokio::time::interval(HEALTH_POLL);
        loop {
            tokio::select! {
                exit = self.executor.wait(&id) => {
                    self.ended(&task_id, &id, exit.unwrap_or(-1), &rx);
                    return;
                }
                // Containers without a health check are never probed.
                _ = probe.tick(), if watch_health => {
                    if self.unhealthy(&id).await {
                        self.report_unhealthy(&task_id, &id).await;
                        self.fail_unhealthy(&task_id, &id, &rx).await;
                        return;
                    }
                }
                changed = rx.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let current = rx.borrow_and_update().clone();
                    if current.desired() > TaskState::Running {
                        let _ = self.executor.stop(&id, grace(&current)).await;
                        let code = self.executor.wait(&id).await.unwrap_or(-1);
                        self.send(
                            &task_id,
                            TaskState::Shutdown,
                            status(TaskState::Shutdown, "shutdown", None, Some((&id, 0, code))),
                        );
                        return;
                    }
                }
            }
        }
    }

    /// Waits for a container with a health check to be healthy; one without
    /// is at once. An unhealthy one is stopped and its task failed, one
    /// that exits or is asked to stop ends the task as usual.
    async fn until_healthy(
        &mut self,
        task_id: &str,
        id: &str,
        rx: &mut watch::Receiver<Assignment>,
    ) -> Health {
        let mut probe = tokio::time::interval(HEALTH_POLL);
        loop {
            tokio::select! {
                exit = self.executor.wait(id) => {
                    self.ended(task_id, id, exit.unwrap_or(-1), rx);
                    return Health::Ended;
                }
                _ = probe.tick() => {
                    let health = match self.executor.state(id).await {
                        Ok(s) => s.health,
                        Err(_) => None,
                    };
                    match health.as_deref() {
                        None => return Health::Healthy { checked: false },
                        Some("healthy") => return Health::Healthy { checked: true },
                        Some("unhealthy") => {
                            self.fail_unhealthy(task_id, id, rx).await;
                            return Health::Ended;
                        }
                        Some(_) => {}
                    }
                }
                changed = rx.changed() => {
                    if changed.is_err() {
                        return Health::Ended;
                    }
                    let current = rx.borrow_and_update().clone();
                    if current.desired() > TaskState::Running {
                        let _ = self.executor.stop(id, grace(&current)).await;
                        let code = self.executor.wait(id).await.unwrap_or(-1);
                        self.send(
                            task_id,
                            TaskState::Shutdown,
                            status(TaskState::Shutdown, "shutdown", None, Some((id, 0, code))),
                        );
                        return Health::Ended;
                    }
                }
            }
        }
    }

    async fn unhealthy(&self, id: &str) -> bool {
        matches!(self.executor.state(id).await, Ok(s) if s.health.as_deref() == Some("unhealthy"))
    }

    /// Tells the managers at once that the running task turned unhealthy
    /// (still running: its stop takes the grace period), so that no route,
    /// VIP or DNS answer sends it work meanwhile.
    async fn report_unhealthy(&mut self, task_id: &str, id: &str) {
        let pid = self.executor.state(id).await.map_or(0, |s| s.pid);
        let _ = self.report.send(StatusUpdate {
            task_id: task_id.to_string(),
            status: status(
                TaskState::Running,
                cluster::model::UNHEALTHY,
                None,
                Some((id, pid, 0)),
            ),
        });
    }

    /// swarmkit's answer to an unhealthy container: stopped, and its task
    /// failed with `dockerexec: unhealthy container` (the orchestrator's
    /// restart policy then replaces it).
    async fn fail_unhealthy(&mut self, task_id: &str, id: &str, rx: &watch::Receiver<Assignment>) {
        let grace_period = grace(&rx.borrow().clone());
        let _ = self.executor.stop(id, grace_period).await;
        let code = self.executor.wait(id).await.unwrap_or(-1);
        let err = format!("task: non-zero exit ({code}): dockerexec: unhealthy container");
        self.send(
            task_id,
            TaskState::Failed,
            status(TaskState::Failed, "failed", Some(&err), Some((id, 0, code))),
        );
    }

    /// The container exited: complete, failed, or shut down if asked to.
    fn ended(&mut self, task_id: &str, id: &str, code: i64, rx: &watch::Receiver<Assignment>) {
        let shutting_down = rx.borrow().desired() > TaskState::Running;
        let (state, message, err) = if shutting_down {
            (TaskState::Shutdown, "shutdown", None)
        } else if code == 0 {
            (TaskState::Complete, "finished", None)
        } else {
            (
                TaskState::Failed,
                "failed",
                Some(format!("task: non-zero exit ({code})")),
            )
        };
        self.send(
            task_id,
            state,
            status(state, message, err.as_deref(), Some((id, 0, code))),
        );
    }

    /// Image, container: the steps before start. A failure says which
    /// state the task ends in (`rejected` when it could never run here).
    async fn prepare(
        &mut self,
        task_id: &str,
        a: &Assignment,
    ) -> Result<String, (TaskState, ExecError)> {
        self.send(
            task_id,
            TaskState::Preparing,
            status(TaskState::Preparing, "preparing", None, None),
        );
        let spec = a.task.get("Spec").cloned().unwrap_or(Value::Null);
        let image = spec
            .pointer("/ContainerSpec/Image")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let registry_auth = spec
            .pointer("/ContainerSpec/PullOptions/RegistryAuth")
            .and_then(Value::as_str);
        self.executor
            .ensure_image(&image, registry_auth)
            .await
            .map_err(|e| (TaskState::Rejected, e))?;
        let slot = a.task.get("Slot").and_then(Value::as_u64).unwrap_or(0);
        let service_id = a
            .task
            .get("ServiceID")
            .and_then(Value::as_str)
            .unwrap_or("");
        let ident = TaskIdentity {
            task_id,
            service_id,
            service_name: &a.service_name,
            node_id: &self.node.0,
            slot,
        };
        let mut body = create_body(&spec, &a.ports, &ident);
        attach_networks(&mut body, &a.task);
        let resolved =
            resolve_files(&spec, &self.files.files).map_err(|e| (TaskState::Rejected, e))?;
        // dockerd expands templates when it writes the files, as the
        // container starts: a template that fails, fails the start.
        let files = expand_files(a, &spec, &ident, &self.node.1, &self.files, resolved)
            .map_err(|e| (TaskState::Failed, e))?;
        let id = self
            .executor
            .create(&ident.container_name(), body, files)
            .await
            .map_err(|e| (TaskState::Rejected, e))?;
        self.send(
            task_id,
            TaskState::Ready,
            status(TaskState::Ready, "prepared", None, None),
        );
        Ok(id)
    }

    /// A replacement task is desired `ready` until the task it replaces
    /// stopped and its delay passed: prepared, it waits here. False when it
    /// was shut down instead.
    async fn wait_until_runnable(
        &mut self,
        task_id: &str,
        id: &str,
        rx: &mut watch::Receiver<Assignment>,
    ) -> bool {
        loop {
            let desired = rx.borrow_and_update().desired();
            if desired > TaskState::Running {
                self.send(
                    task_id,
                    TaskState::Shutdown,
                    status(TaskState::Shutdown, "shutdown", None, Some((id, 0, 0))),
                );
                return false;
            }
            if desired >= TaskState::Running {
                self.send(
                    task_id,
                    TaskState::Starting,
                    status(TaskState::Starting, "starting", None, None),
                );
                return true;
            }
            if rx.changed().await.is_err() {
                return false;
            }
        }
    }
}

/// `StopGracePeriod` (nanoseconds), 10 s when unset as in dockerd.
fn grace(a: &Assignment) -> Duration {
    a.task
        .pointer("/Spec/ContainerSpec/StopGracePeriod")
        .and_then(Value::as_i64)
        .filter(|n| *n >= 0)
        .map(|n| Duration::from_nanos(n as u64))
        .unwrap_or(Duration::from_secs(10))
}

/// One secret or config file of a task, before any template is expanded.
struct Resolved {
    file: TaskFile,
    /// "secret" or "config".
    kind: &'static str,
    id: String,
    /// `File.Name` as the service gave it: what `secret`/`config` look up.
    name: String,
}

/// The secret and config files of a task, from the data its assignment
/// carried: secrets default to `/run/secrets/<name>`, configs to `/<name>`.
fn resolve_files(
    spec: &Value,
    data: &HashMap<String, Vec<u8>>,
) -> Result<Vec<Resolved>, ExecError> {
    let mut out = Vec::new();
    for (list, id_key, default_dir, kind) in [
        ("Secrets", "SecretID", "/run/secrets/", "secret"),
        ("Configs", "ConfigID", "/", "config"),
    ] {
        let refs = spec
            .pointer(&format!("/ContainerSpec/{list}"))
            .and_then(Value::as_array);
        for r in refs.into_iter().flatten() {
            let Some(file) = r.get("File").filter(|f| f.is_object()) else {
                continue;
            };
            let id = r.get(id_key).and_then(Value::as_str).unwrap_or("");
            let name = file.get("Name").and_then(Value::as_str).unwrap_or("");
            let bytes = data
                .get(id)
                .ok_or_else(|| ExecError(format!("{kind} {id} is not available to this node")))?;
            let target = if name.starts_with('/') {
                name.to_string()
            } else {
                format!("{default_dir}{name}")
            };
            let num = |k: &str, default: u32| {
                file.get(k)
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(default)
            };
            out.push(Resolved {
                file: TaskFile {
                    target,
                    data: bytes.clone(),
                    uid: num("UID", 0),
                    gid: num("GID", 0),
                    mode: file
                        .get("Mode")
                        .and_then(Value::as_u64)
                        .map(|m| m as u32)
                        .unwrap_or(0o444),
                },
                kind,
                id: id.to_string(),
                name: name.to_string(),
            });
        }
    }
    Ok(out)
}

/// The task's files with their templates expanded for this task on this
/// node; the error is dockerd's for a file it could not write.
fn expand_files(
    a: &Assignment,
    spec: &Value,
    ident: &TaskIdentity<'_>,
    node: &NodeInfo,
    data: &TaskData,
    resolved: Vec<Resolved>,
) -> Result<Vec<TaskFile>, ExecError> {
    if !resolved.iter().any(|r| data.templated.contains_key(&r.id)) {
        return Ok(resolved.into_iter().map(|r| r.file).collect());
    }
    let ctx = template_context(a, spec, ident, node, &resolved);
    resolved
        .into_iter()
        .map(|mut r| {
            if let Some(driver) = data.templated.get(&r.id) {
                r.file.data = template::expand(driver, &r.file.data, &ctx).map_err(|e| {
                    ExecError(format!(
                        "starting container failed: unable to get {kind} from {kind} store: \
                         failed to expand templated {kind} {id}: {e}",
                        kind = r.kind,
                        id = r.id
                    ))
                })?;
            }
            Ok(r.file)
        })
        .collect()
}

/// swarmkit's `template.NewPayloadContextFromTask`.
fn template_context(
    a: &Assignment,
    spec: &Value,
    ident: &TaskIdentity<'_>,
    node: &NodeInfo,
    resolved: &[Resolved],
) -> template::Context {
    let task_name = a
        .task
        .get("Name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| ident.container_name());
    let env = spec
        .pointer("/ContainerSpec/Env")
        .and_then(Value::as_array)
        .map(|e| {
            e.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let mut ctx = template::Context {
        service_id: ident.service_id.to_string(),
        service_name: ident.service_name.to_string(),
        service_labels: a.service_labels.clone(),
        node_id: ident.node_id.to_string(),
        node_hostname: node.hostname.clone(),
        node_os: node.os.clone(),
        node_architecture: node.architecture.clone(),
        task_id: ident.task_id.to_string(),
        task_name,
        task_slot: if ident.slot == 0 {
            ident.node_id.to_string()
        } else {
            ident.slot.to_string()
        },
        env,
        ..Default::default()
    };
    for r in resolved {
        let by_target = if r.kind == "secret" {
            &mut ctx.secrets
        } else {
            &mut ctx.configs
        };
        // The first reference with the target wins, as in swarmkit's getters.
        by_target
            .entry(r.name.clone())
            .or_insert_with(|| r.file.data.clone());
    }
    ctx
}

#[cfg(test)]
pub(super) fn task_files_for_test(
    spec: &Value,
    data: &HashMap<String, Vec<u8>>,
) -> Result<Vec<TaskFile>, ExecError> {
    Ok(resolve_files(spec, data)?
        .into_iter()
        .map(|r| r.file)
        .collect())
}
