//! The agent's rules on a fake engine and a fake dispatcher.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::sync::{oneshot, watch};

use super::*;
use crate::log_broker::WireOptions;

#[derive(Default)]
struct FakeState {
    images: Vec<String>,
    /// The registry auth of every image asked for, in order.
    pull_auths: Vec<Option<String>>,
    /// container id → (task id, name, running, exit sender)
    containers: HashMap<String, (String, String, bool)>,
    exits: HashMap<String, Vec<oneshot::Sender<i64>>>,
    calls: Vec<String>,
    /// The open ends of followed logs.
    log_followers: Vec<tokio::sync::mpsc::Sender<TaskLine>>,
    /// target → data of every file given to a create.
    files: HashMap<String, Vec<u8>>,
    next: u32,
    fail_start: bool,
    /// What every container's health check says (`None`: it has none).
    health: Option<String>,
    /// The exit codes of containers that exited.
    codes: HashMap<String, i64>,
    /// How many network set-ups fail before they succeed.
    failing_networks: u32,
}

#[derive(Default, Clone)]
struct FakeExecutor(Arc<Mutex<FakeState>>);

impl FakeExecutor {
    fn exit(&self, id: &str, code: i64) {
        let mut s = self.0.lock();
        if let Some(c) = s.containers.get_mut(id) {
            c.2 = false;
        }
        s.codes.insert(id.to_string(), code);
        for tx in s.exits.remove(id).unwrap_or_default() {
            let _ = tx.send(code);
        }
    }

    fn calls(&self) -> Vec<String> {
        self.0.lock().calls.clone()
    }

    fn container_of(&self, task: &str) -> Option<String> {
        let s = self.0.lock();
        s.containers
            .iter()
            .find(|(_, (t, _, _))| t == task)
            .map(|(id, _)| id.clone())
    }
}

impl Executor for FakeExecutor {
    fn apply_networks<'a>(
        &'a self,
        views: &'a [crate::netview::NetworkView],
    ) -> BoxFuture<'a, Result<(), ExecError>> {
        Box::pin(async move {
            let mut s = self.0.lock();
            if s.failing_networks > 0 {
                s.failing_networks -= 1;
                s.calls.push("network failed".into());
                return Err(ExecError("segment id in use".into()));
            }
            for v in views {
                s.calls.push(format!("network {}", v.network.id));
            }
            Ok(())
        })
    }

    fn release_networks<'a>(&'a self, _keep: &'a [String]) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    fn task_containers(&self) -> HashMap<String, String> {
        let s = self.0.lock();
        s.containers
            .iter()
            .map(|(id, (task, _, _))| (task.clone(), id.clone()))
            .collect()
    }

    fn ensure_image<'a>(
        &'a self,
        image: &'a str,
        registry_auth: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), ExecError>> {
        Box::pin(async move {
            let mut s = self.0.lock();
            s.pull_auths.push(registry_auth.map(str::to_string));
            if s.images.iter().any(|i| i == image) {
                Ok(())
            } else {
                Err(ExecError(format!("No such image: {image}")))
            }
        })
    }

    fn create<'a>(
        &'a self,
        name: &'a str,
        body: Value,
        files: Vec<TaskFile>,
    ) -> BoxFuture<'a, Result<String, ExecError>> {
        Box::pin(async move {
            let mut s = self.0.lock();
            s.next += 1;
            let id = format!("c{}", s.next);
            let task = body["Labels"][spec::TASK_ID_LABEL]
                .as_str()
                .unwrap_or("")
                .to_string();
            s.calls.push(format!("create {name} files={}", files.len()));
            for f in &files {
                s.files.insert(f.target.clone(), f.data.clone());
            }
            s.containers
                .insert(id.clone(), (task, name.to_string(), false));
            Ok(id)
        })
    }

    fn start<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<u32, ExecError>> {
        Box::pin(async move {
            let mut s = self.0.lock();
            s.calls.push(format!("start {id}"));
            if s.fail_start {
                return Err(ExecError("port is already allocated".into()));
            }
            if let Some(c) = s.containers.get_mut(id) {
                c.2 = true;
            }
            Ok(42)
        })
    }

    fn state<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<ContainerState, ExecError>> {
        Box::pin(async move {
            let s = self.0.lock();
            let c = s
                .containers
                .get(id)
                .ok_or_else(|| ExecError(format!("No such container: {id}")))?;
            Ok(ContainerState {
                health: s.health.clone(),
                running: c.2,
                pid: if c.2 { 42 } else { 0 },
                exit_code: 0,
            })
        })
    }

    fn wait<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<i64, ExecError>> {
        let rx = {
            let mut s = self.0.lock();
            let (tx, rx) = oneshot::channel();
            if s.containers.get(id).is_some_and(|c| c.2) {
                s.exits.entry(id.to_string()).or_default().push(tx);
            } else {
                let _ = tx.send(s.codes.get(id).copied().unwrap_or(0));
            }
            rx
        };
        Box::pin(async move { rx.await.map_err(|_| ExecError("gone".into())) })
    }

    fn stop<'a>(&'a self, id: &'a str, _grace: Duration) -> BoxFuture<'a, Result<(), ExecError>> {
        Box::pin(async move {
            self.0.lock().calls.push(format!("stop {id}"));
            self.exit(id, 143);
            Ok(())
        })
    }

    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), ExecError>> {
        Box::pin(async move {
            let mut s = self.0.lock();
            s.calls.push(format!("remove {id}"));
            s.containers.remove(id);
            Ok(())
        })
    }

    /// One line per call, naming the selection; with `follow` the channel
    /// stays open.
    fn task_logs(
        &self,
        selector: &Selector,
        opts: engine::LogOptions,
    ) -> tokio::sync::mpsc::Receiver<TaskLine> {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let text = format!("{selector:?}");
        let _ = tx.try_send(TaskLine {
            context: Arc::new(crate::logs::TaskContext {
                node_id: "n1".into(),
                service_id: "s1".into(),
                task_id: "t1".into(),
            }),
            line: engine::LogLine {
                stream: engine::StdStream::Stdout,
                time: chrono::Utc::now(),
                data: text.into(),
            },
        });
        if opts.follow {
            self.0.lock().log_followers.push(tx);
        }
        rx
    }
}

struct FakeDispatcher {
    tx: watch::Sender<Assignments>,
    reports: Mutex<Vec<StatusUpdate>>,
    /// (subscription, line) for every line published; subscriptions whose
    /// publishing ended.
    published: Mutex<Vec<(String, String)>>,
    ended: Mutex<Vec<String>>,
}

impl Dispatcher for FakeDispatcher {
    fn assignments<'a>(
        &'a self,
        _node: &'a str,
    ) -> BoxFuture<'a, Result<watch::Receiver<Assignments>, ExecError>> {
        Box::pin(async move { Ok(self.tx.subscribe()) })
    }

    fn report<'a>(
        &'a self,
        _node: &'a str,
        updates: Vec<StatusUpdate>,
    ) -> BoxFuture<'a, Result<(), ExecError>> {
        Box::pin(async move {
            self.reports.lock().extend(updates);
            Ok(())
        })
    }

    fn heartbeat<'a>(&'a self, _node: &'a str) -> BoxFuture<'a, Result<Duration, ExecError>> {
        Box::pin(async move { Ok(Duration::from_secs(1)) })
    }

    fn attach_network<'a>(
        &'a self,
        _node: &'a str,
        _req: &'a AttachRequest,
    ) -> BoxFuture<'a, Result<Option<String>, ExecError>> {
        Box::pin(async move { Ok(None) })
    }

    fn detach_network<'a>(
        &'a self,
        _node: &'a str,
        _tasks: &'a [String],
    ) -> BoxFuture<'a, Result<(), ExecError>> {
        Box::pin(async move { Ok(()) })
    }

    fn publish_logs<'a>(
        &'a self,
        sub: &'a LogSubscription,
        mut lines: tokio::sync::mpsc::Receiver<TaskLine>,
    ) -> BoxFuture<'a, Result<(), ExecError>> {
        Box::pin(async move {
            while let Some(l) = lines.recv().await {
                let text = String::from_utf8_lossy(&l.line.data).into_owned();
                self.published.lock().push((sub.id.clone(), text));
            }
            self.ended.lock().push(sub.id.clone());
            Ok(())
        })
    }
}

impl FakeDispatcher {
    fn states(&self, task: &str) -> Vec<String> {
        self.reports
            .lock()
            .iter()
            .filter(|u| u.task_id == task)
            .map(|u| u.status["State"].as_str().unwrap_or("").to_string())
            .collect()
    }

    fn last(&self, task: &str) -> Option<Value> {
        self.reports
            .lock()
            .iter()
            .rev()
            .find(|u| u.task_id == task)
            .map(|u| u.status.clone())
    }
}

fn task(id: &str, image: &str, desired: &str) -> Assignment {
    Assignment {
        task: json!({
            "ID": id,
            "ServiceID": "s1",
            "Slot": 1,
            "DesiredState": desired,
            "Spec": { "ContainerSpec": { "Image": image } },
            "Status": { "State": "assigned" }
        }),
        service_name: "web".into(),
        ports: vec![],
        service_labels: Default::default(),
    }
}

fn node_info() -> NodeInfo {
    NodeInfo {
        hostname: "host-1".into(),
        os: "linux".into(),
        architecture: "x86_64".into(),
    }
}

fn setup() -> (FakeExecutor, Arc<FakeDispatcher>, Agent) {
    let exec = FakeExecutor::default();
    exec.0.lock().images.push("bb".into());
    let (tx, _) = watch::channel(Assignments::default());
    let disp = Arc::new(FakeDispatcher {
        tx,
        reports: Mutex::new(Vec::new()),
        published: Mutex::new(Vec::new()),
        ended: Mutex::new(Vec::new()),
    });
    let agent = Agent::start(
        "n1".into(),
        node_info(),
        disp.clone(),
        Arc::new(exec.clone()),
    );
    (exec, disp, agent)
}

async fn until(mut cond: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("condition not reached");
}

#[tokio::test]
async fn a_task_runs_and_its_exit_completes_it() {
    let (exec, disp, _agent) = setup();
    disp.tx.send_replace(Assignments {
        tasks: vec![task("t1", "bb", "running")],
        ..Default::default()
    });
    until(|| disp.states("t1").last().map(String::as_str) == Some("running")).await;
    assert_eq!(
        disp.states("t1"),
        ["preparing", "ready", "starting", "running"],
        "every step once, in order"
    );
    assert_eq!(exec.calls()[0], "create web.1.t1 files=0");
    let c = exec.container_of("t1").unwrap();
    assert_eq!(
        disp.last("t1").unwrap()["ContainerStatus"]["ContainerID"],
        c.as_str()
    );
    exec.exit(&c, 0);
    until(|| disp.states("t1").last().map(String::as_str) == Some("complete")).await;
    assert_eq!(disp.last("t1").unwrap()["Message"], "finished");
}

#[tokio::test]
async fn a_task_with_a_health_check_runs_once_healthy_and_fails_when_unhealthy() {
    let (exec, disp, _agent) = setup();
    exec.0.lock().health = Some("starting".into());
    disp.tx.send_replace(Assignments {
        tasks: vec![task("t1", "bb", "running")],
        ..Default::default()
    });
    until(|| disp.states("t1").contains(&"starting".to_string())).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        disp.states("t1").last().map(String::as_str),
        Some("starting")
    );
    exec.0.lock().health = Some("healthy".into());
    until(|| disp.states("t1").last().map(String::as_str) == Some("running")).await;
    exec.0.lock().health = Some("unhealthy".into());
    until(|| disp.states("t1").last().map(String::as_str) == Some("failed")).await;
    let c = exec.container_of("t1").unwrap();
    assert!(exec.calls().contains(&format!("stop {c}")));
    // Said while still running, before the stop: the task leaves routes,
    // VIPs and DNS at once rather than after the stop's grace period.
    let reports: Vec<(String, String)> = disp
        .reports
        .lock()
        .iter()
        .filter(|u| u.task_id == "t1")
        .map(|u| {
            let s = |k: &str| u.status[k].as_str().unwrap_or("").to_string();
            (s("State"), s("Message"))
        })
        .collect();
    let n = reports.len();
    assert!(n >= 2, "{reports:?}");
    assert_eq!(
        reports[n - 2],
        ("running".to_string(), "unhealthy".to_string()),
        "{reports:?}"
    );
    assert_eq!(
        disp.last("t1").unwrap()["Err"],
        "task: non-zero exit (143): dockerexec: unhealthy container"
    );
}

#[tokio::test]
async fn a_non_zero_exit_fails_the_task_with_dockerds_error() {
    let (exec, disp, _agent) = setup();
    disp.tx.send_replace(Assignments {
        tasks: vec![task("t1", "bb", "running")],
        ..Default::default()
    });
    until(|| disp.states("t1").contains(&"running".to_string())).await;
    exec.exit(&exec.container_of("t1").unwrap(), 3);
    until(|| disp.states("t1").contains(&"failed".to_string())).await;
    let last = disp.last("t1").unwrap();
    assert_eq!(last["Err"], "task: non-zero exit (3)");
    assert_eq!(last["ContainerStatus"]["ExitCode"], 3);
}

#[tokio::test]
async fn a_missing_image_rejects_the_task_without_a_container() {
    let (exec, disp, _agent) = setup();
    disp.tx.send_replace(Assignments {
        tasks: vec![task("t1", "nope:1", "running")],
        ..Default::default()
    });
    until(|| disp.states("t1").contains(&"rejected".to_string())).await;
    assert_eq!(disp.last("t1").unwrap()["Err"], "No such image: nope:1");
    assert!(exec.calls().is_empty(), "{:?}", exec.calls());
}

#[tokio::test]
async fn the_image_is_pulled_with_the_services_registry_auth() {
    let (exec, disp, _agent) = setup();
    let mut with_auth = task("t1", "bb", "running");
    with_auth.task["Spec"]["ContainerSpec"]["PullOptions"] = json!({"RegistryAuth": "e30="});
    disp.tx.send_replace(Assignments {
        tasks: vec![with_auth, task("t2", "bb", "running")],
        ..Default::default()
    });
    until(|| {
        ["t1", "t2"]
            .iter()
            .all(|t| disp.states(t).contains(&"running".to_string()))
    })
    .await;
    let mut auths = exec.0.lock().pull_auths.clone();
    auths.sort();
    assert_eq!(auths, [None, Some("e30=".to_string())]);
}

#[tokio::test]
async fn a_start_failure_fails_the_task() {
    let (exec, disp, _agent) = setup();
    exec.0.lock().fail_start = true;
    disp.tx.send_replace(Assignments {
        tasks: vec![task("t1", "bb", "running")],
        ..Default::default()
    });
    until(|| disp.states("t1").contains(&"failed".to_string())).await;
    assert_eq!(disp.last("t1").unwrap()["Err"], "port is already allocated");
}

#[tokio::test]
async fn desired_shutdown_stops_and_unassigning_removes() {
    let (exec, disp, _agent) = setup();
    disp.tx.send_replace(Assignments {
        tasks: vec![task("t1", "bb", "running")],
        ..Default::default()
    });
    until(|| disp.states("t1").contains(&"running".to_string())).await;
    let c = exec.container_of("t1").unwrap();
    disp.tx.send_replace(Assignments {
        tasks: vec![task("t1", "bb", "shutdown")],
        ..Default::default()
    });
    until(|| disp.states("t1").contains(&"shutdown".to_string())).await;
    assert!(exec.calls().contains(&format!("stop {c}")));
    assert!(exec.container_of("t1").is_some(), "kept until unassigned");
    disp.tx.send_replace(Assignments::default());
    until(|| exec.container_of("t1").is_none()).await;
    assert_eq!(
        disp.states("t1"),
        ["preparing", "ready", "starting", "running", "shutdown"]
    );
}

#[tokio::test]
async fn secrets_travel_with_the_assignment() {
    let (exec, disp, _agent) = setup();
    let mut a = task("t1", "bb", "running");
    a.task["Spec"]["ContainerSpec"]["Secrets"] = json!([
        {"SecretID": "sec1", "SecretName": "pw", "File": {"Name": "pw", "UID": "0", "GID": "0", "Mode": 292}}
    ]);
    let mut files = HashMap::new();
    files.insert("sec1".to_string(), b"hunter2".to_vec());
    disp.tx.send_replace(Assignments {
        tasks: vec![a.clone()],
        files,
        ..Default::default()
    });
    until(|| disp.states("t1").contains(&"running".to_string())).await;
    assert_eq!(exec.calls()[0], "create web.1.t1 files=1");
    // Without the secret's data the task cannot run here.
    disp.tx.send_replace(Assignments {
        tasks: vec![{
            let mut b = a;
            b.task["ID"] = json!("t2");
            b
        }],
        ..Default::default()
    });
    until(|| disp.states("t2").contains(&"rejected".to_string())).await;
}

#[tokio::test]
async fn templated_files_are_expanded_for_the_task_on_this_node() {
    let (exec, disp, _agent) = setup();
    let mut a = task("t1", "bb", "running");
    a.service_labels.insert("tier".into(), "front".into());
    a.task["Spec"]["ContainerSpec"]["Env"] = json!(["COLOR=blue"]);
    a.task["Spec"]["ContainerSpec"]["Secrets"] = json!([
        {"SecretID": "sec1", "File": {"Name": "pw", "UID": "0", "GID": "0", "Mode": 292}}
    ]);
    a.task["Spec"]["ContainerSpec"]["Configs"] = json!([
        {"ConfigID": "cfg1", "File": {"Name": "/app.conf", "UID": "0", "GID": "0", "Mode": 292}},
        {"ConfigID": "cfg2", "File": {"Name": "plain", "UID": "0", "GID": "0", "Mode": 292}}
    ]);
    let mut files = HashMap::new();
    files.insert("sec1".to_string(), b"hunter2".to_vec());
    files.insert(
        "cfg1".to_string(),
        b"{{.Service.Name}} {{.Task.Name}} {{.Task.Slot}} {{.Node.ID}} {{.Node.Hostname}} \
          {{.Node.Platform.OS}} {{index .Service.Labels \"tier\"}} {{env \"COLOR\"}} \
          {{secret \"pw\"}} {{config \"plain\"}}"
            .to_vec(),
    );
    files.insert("cfg2".to_string(), b"{{.Task.ID}}".to_vec());
    let mut templated = HashMap::new();
    templated.insert("cfg1".to_string(), "golang".to_string());
    disp.tx.send_replace(Assignments {
        tasks: vec![a.clone()],
        files,
        templated,
        ..Default::default()
    });
    until(|| disp.states("t1").contains(&"running".to_string())).await;
    let written = exec.0.lock().files.clone();
    assert_eq!(
        String::from_utf8_lossy(&written["/app.conf"]),
        "web web.1.t1 1 n1 host-1 linux front blue hunter2 {{.Task.ID}}"
    );
    // Only the templated one is expanded.
    assert_eq!(written["/plain"], b"{{.Task.ID}}");
}

#[tokio::test]
async fn a_template_that_fails_fails_the_task_with_dockerds_error() {
    let (exec, disp, _agent) = setup();
    let mut a = task("t1", "bb", "running");
    a.task["Spec"]["ContainerSpec"]["Configs"] = json!([
        {"ConfigID": "cfg1", "File": {"Name": "c", "UID": "0", "GID": "0", "Mode": 292}}
    ]);
    let mut files = HashMap::new();
    files.insert("cfg1".to_string(), b"{{secret \"nope\"}}".to_vec());
    let mut templated = HashMap::new();
    templated.insert("cfg1".to_string(), "golang".to_string());
    disp.tx.send_replace(Assignments {
        tasks: vec![a.clone()],
        files: files.clone(),
        templated: templated.clone(),
        ..Default::default()
    });
    until(|| disp.states("t1").contains(&"failed".to_string())).await;
    let last = disp.last("t1").unwrap();
    assert_eq!(last["Message"], "starting");
    let err = last["Err"].as_str().unwrap();
    assert!(
        err.starts_with(
            "starting container failed: unable to get config from config store: \
             failed to expand templated config cfg1: template: expansion:1:"
        ),
        "{err}"
    );
    assert!(err.ends_with("secret target nope not found"), "{err}");
    assert!(exec.calls().is_empty(), "{:?}", exec.calls());
    // An unknown driver: swarmkit's word for it.
    templated.insert("cfg1".to_string(), "jinja".to_string());
    a.task["ID"] = json!("t2");
    disp.tx.send_replace(Assignments {
        tasks: vec![a],
        files,
        templated,
        ..Default::default()
    });
    until(|| disp.states("t2").contains(&"failed".to_string())).await;
    assert!(
        disp.last("t2").unwrap()["Err"]
            .as_str()
            .unwrap()
            .ends_with("failed to expand templated config cfg1: unrecognized template type")
    );
}

#[test]
fn task_files_resolve_targets_and_modes() {
    let spec = json!({"ContainerSpec": {
        "Secrets": [{"SecretID": "a", "File": {"Name": "pw", "UID": "1000", "GID": "10", "Mode": 256}}],
        "Configs": [{"ConfigID": "b", "File": {"Name": "/etc/app.conf", "UID": "0", "GID": "0", "Mode": 292}},
                    {"ConfigID": "c", "Runtime": {}}]
    }});
    let mut data = HashMap::new();
    data.insert("a".to_string(), b"s".to_vec());
    data.insert("b".to_string(), b"c".to_vec());
    let files = worker_files(&spec, &data);
    assert_eq!(files.len(), 2);
    assert_eq!(files[0].target, "/run/secrets/pw");
    assert_eq!(
        (files[0].uid, files[0].gid, files[0].mode),
        (1000, 10, 0o400)
    );
    assert_eq!(files[1].target, "/etc/app.conf");
}

fn worker_files(spec: &Value, data: &HashMap<String, Vec<u8>>) -> Vec<TaskFile> {
    super::worker::task_files_for_test(spec, data).unwrap()
}

#[tokio::test]
async fn a_running_container_is_adopted_not_started_again() {
    let exec = FakeExecutor::default();
    exec.0.lock().images.push("bb".into());
    exec.0
        .lock()
        .containers
        .insert("c9".into(), ("t1".into(), "web.1.t1".into(), true));
    let (tx, _) = watch::channel(Assignments {
        tasks: vec![task("t1", "bb", "running")],
        ..Default::default()
    });
    let disp = Arc::new(FakeDispatcher {
        tx,
        reports: Mutex::new(Vec::new()),
        published: Mutex::new(Vec::new()),
        ended: Mutex::new(Vec::new()),
    });
    let _agent = Agent::start(
        "n1".into(),
        node_info(),
        disp.clone(),
        Arc::new(exec.clone()),
    );
    until(|| disp.states("t1").contains(&"running".to_string())).await;
    assert_eq!(
        disp.last("t1").unwrap()["ContainerStatus"]["ContainerID"],
        "c9"
    );
    assert!(
        !exec
            .calls()
            .iter()
            .any(|c| c.starts_with("start") || c.starts_with("create")),
        "{:?}",
        exec.calls()
    );
    // It still ends like any other.
    exec.exit("c9", 0);
    until(|| disp.states("t1").contains(&"complete".to_string())).await;
}

#[tokio::test]
async fn a_task_desired_ready_is_prepared_and_waits_to_start() {
    let (exec, disp, _agent) = setup();
    disp.tx.send_replace(Assignments {
        tasks: vec![task("t1", "bb", "ready")],
        ..Default::default()
    });
    until(|| disp.states("t1").contains(&"ready".to_string())).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !exec.calls().iter().any(|c| c.starts_with("start")),
        "{:?}",
        exec.calls()
    );
    disp.tx.send_replace(Assignments {
        tasks: vec![task("t1", "bb", "running")],
        ..Default::default()
    });
    until(|| disp.states("t1").contains(&"running".to_string())).await;
}

#[test]
fn assignments_travel_as_json_with_base64_files() {
    let mut files = HashMap::new();
    files.insert("s1".to_string(), vec![0u8, 255, 7]);
    let mut templated = HashMap::new();
    templated.insert("s1".to_string(), "golang".to_string());
    let a = Assignments {
        tasks: vec![task("t1", "bb", "running")],
        files,
        templated,
        log_subscriptions: vec![subscription("sub1", false)],
        ..Default::default()
    };
    let text = serde_json::to_string(&a).unwrap();
    assert!(text.contains("\"s1\":\"AP8H\""), "{text}");
    let back: Assignments = serde_json::from_str(&text).unwrap();
    assert_eq!(back, a);
}

#[tokio::test]
async fn the_agent_publishes_the_standing_its_session_gives() {
    let (_exec, disp, agent) = setup();
    let mut standing = agent.standing();
    assert_eq!(standing.borrow().role, "");
    disp.tx.send_replace(Assignments {
        standing: crate::agent::Standing {
            role: "manager".into(),
            managers: vec!["10.0.0.1:2377".into()],
        },
        ..Default::default()
    });
    tokio::time::timeout(Duration::from_secs(5), standing.changed())
        .await
        .expect("a change within 5 s")
        .unwrap();
    let s = standing.borrow_and_update().clone();
    assert_eq!(s.role, "manager");
    assert_eq!(s.managers, ["10.0.0.1:2377"]);
}

fn subscription(id: &str, follow: bool) -> LogSubscription {
    LogSubscription {
        id: id.into(),
        selector: Selector::Service("s1".into()),
        options: WireOptions {
            stdout: true,
            stderr: true,
            follow,
            ..Default::default()
        },
        manager_node: "m2".into(),
        manager_addr: "10.0.0.2:2377".into(),
    }
}

#[tokio::test]
async fn log_subscriptions_are_published_once_and_stopped_when_gone() {
    let (exec, disp, _agent) = setup();
    let with = |subs: Vec<LogSubscription>| Assignments {
        tasks: vec![task("t1", "bb", "running")],
        log_subscriptions: subs,
        ..Default::default()
    };
    disp.tx.send_replace(with(vec![
        subscription("a", false),
        subscription("f", true),
    ]));
    until(|| disp.ended.lock().contains(&"a".to_string())).await;
    until(|| disp.published.lock().iter().any(|(s, _)| s == "f")).await;
    assert!(
        disp.published
            .lock()
            .contains(&("a".to_string(), "Service(\"s1\")".to_string())),
        "{:?}",
        disp.published.lock()
    );
    // New assignments with the same subscriptions start nothing again.
    disp.tx.send_replace(with(vec![
        subscription("a", false),
        subscription("f", true),
    ]));
    until(|| disp.states("t1").contains(&"running".to_string())).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        disp.published.lock().len(),
        2,
        "{:?}",
        disp.published.lock()
    );
    // The followed one goes: its publisher stops, so its reader is dropped.
    disp.tx.send_replace(with(vec![subscription("a", false)]));
    until(|| exec.0.lock().log_followers.iter().all(|t| t.is_closed())).await;
    assert!(!disp.ended.lock().contains(&"f".to_string()));
}

fn attachment(id: &str, container: &str) -> Assignment {
    Assignment {
        task: json!({
            "ID": id,
            "DesiredState": "running",
            "Spec": {
                "NetworkAttachmentSpec": { "ContainerID": container },
                "Networks": [{ "Target": "ovl" }]
            },
            "Status": { "State": "new" }
        }),
        service_name: String::new(),
        ports: vec![],
        service_labels: Default::default(),
    }
}

/// An attachment is reported running once its network is set up, also when
/// that takes the sweep's retry (the copy of a network that just went may
/// hold its segment id a moment longer): a container's start waits for it.
#[tokio::test]
async fn an_attachment_runs_once_its_network_is_set_up_on_a_retry() {
    let (exec, disp, _agent) = setup();
    exec.0.lock().failing_networks = 1;
    disp.tx.send_replace(Assignments {
        tasks: vec![attachment("a1", "c9")],
        ..Default::default()
    });
    until(|| disp.states("a1") == ["running"]).await;
    assert_eq!(exec.calls()[0], "network failed");
}
