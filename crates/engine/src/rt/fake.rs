//! An in-memory runtime for unit tests: it records every call and plays
//! scripted containers and execs on tokio's clock, so paused time drives them.

use parking_lot::{Mutex, MutexGuard};
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use runtime::config::ContainerConfig;
use runtime::exec::{ExecConfig, ExecLaunch};
use runtime::shim::{Attached, ExitStatus, Output, ShimInfo, ShimLaunch, StdStream};
use runtime::{Limits, RuntimeError, Stats};
use tokio::sync::{mpsc, watch};

use super::{BoxFuture, ContainerRuntime, ExecProcess, RtResult, Task};

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Call {
    Create(PathBuf),
    Connect(PathBuf),
    Attach(bool),
    Start,
    Kill(i32),
    Wait,
    Resize(u16, u16),
    Pause,
    Resume,
    Update(Limits),
    Stats,
    Pids,
    Exec(Vec<String>),
    SignalExec(u32, i32),
}

/// What a created container does once started.
#[derive(Debug, Clone, Default)]
pub(crate) struct Behaviour {
    /// Exits by itself with this code after this long; `None`: runs until killed.
    pub exits: Option<(Duration, i32)>,
    /// Its own exit is an OOM kill.
    pub oom: bool,
    /// Signals it survives (e.g. SIGTERM for a process that ignores it).
    pub ignores: Vec<i32>,
    /// Written to its output right after start.
    pub output: Vec<(StdStream, &'static str)>,
}

impl Behaviour {
    pub fn exits_with(code: i32, after: Duration) -> Self {
        Behaviour {
            exits: Some((after, code)),
            ..Behaviour::default()
        }
    }

    pub fn runs_until_killed() -> Self {
        Behaviour::default()
    }

    pub fn ignoring(mut self, signal: i32) -> Self {
        self.ignores.push(signal);
        self
    }
}

/// What the next exec does.
#[derive(Debug, Clone, Default)]
pub(crate) struct ExecScript {
    /// Exits with this code after this long; `None`: runs until signalled.
    pub exits: Option<(Duration, i32)>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    Created,
    Running,
    Exited(ExitStatus),
    /// The shim disappeared: calls fail, waiters get an error.
    Gone,
}

type Log = Arc<Mutex<Vec<Call>>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock()
}

fn status(code: i32, oom: bool) -> ExitStatus {
    ExitStatus {
        exit_code: code,
        finished_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        oom_killed: oom,
    }
}

fn live(p: &Phase) -> bool {
    matches!(p, Phase::Created | Phase::Running)
}

/// Ends the container with `code` unless it already ended.
fn end(phase: &watch::Sender<Phase>, code: i32, oom: bool) {
    phase.send_if_modified(|p| {
        let alive = live(p);
        if alive {
            *p = Phase::Exited(status(code, oom));
        }
        alive
    });
}

fn gone() -> RuntimeError {
    RuntimeError::Protocol("fake shim is gone".into())
}

#[derive(Default)]
pub(crate) struct FakeRuntime {
    calls: Log,
    next: Mutex<VecDeque<Behaviour>>,
    tasks: Mutex<HashMap<PathBuf, Arc<FakeTask>>>,
    records: Mutex<HashMap<PathBuf, ExitStatus>>,
    execs: Mutex<VecDeque<ExecScript>>,
    running_execs: Mutex<HashMap<u32, watch::Sender<Option<i32>>>>,
    stats: Mutex<Stats>,
    next_pid: Mutex<u32>,
}

impl FakeRuntime {
    pub fn new() -> Arc<Self> {
        Arc::new(FakeRuntime::default())
    }

    pub fn calls(&self) -> Vec<Call> {
        lock(&self.calls).clone()
    }

    /// The next created container behaves so (default: runs until killed).
    pub fn script(&self, b: Behaviour) {
        lock(&self.next).push_back(b);
    }

    pub fn script_exec(&self, e: ExecScript) {
        lock(&self.execs).push_back(e);
    }

    pub fn set_stats(&self, s: Stats) {
        *lock(&self.stats) = s;
    }

    /// The shim of `state_dir` vanishes, leaving `record` as its exit file.
    pub fn disappear(&self, state_dir: &Path, record: Option<ExitStatus>) {
        if let Some(r) = record {
            lock(&self.records).insert(state_dir.to_path_buf(), r);
        }
        if let Some(t) = lock(&self.tasks).remove(state_dir) {
            t.phase.send_replace(Phase::Gone);
        }
    }

    fn pid(&self) -> u32 {
        let mut p = lock(&self.next_pid);
        *p += 1;
        1000 + *p
    }
}

impl ContainerRuntime for FakeRuntime {
    fn create<'a>(
        &'a self,
        launch: &'a ShimLaunch,
        _config: &'a ContainerConfig,
    ) -> BoxFuture<'a, RtResult<ShimInfo>> {
        Box::pin(async move {
            lock(&self.calls).push(Call::Create(launch.state_dir.clone()));
            let behaviour = lock(&self.next).pop_front().unwrap_or_default();
            let task = Arc::new(FakeTask {
                calls: self.calls.clone(),
                behaviour,
                phase: watch::channel(Phase::Created).0,
                stats: lock(&self.stats).clone(),
            });
            lock(&self.tasks).insert(launch.state_dir.clone(), task);
            Ok(ShimInfo {
                shim_pid: self.pid(),
                init_pid: self.pid(),
                runtime_create: std::time::Duration::ZERO,
            })
        })
    }

    fn connect<'a>(&'a self, state_dir: &'a Path) -> BoxFuture<'a, RtResult<Arc<dyn Task>>> {
        Box::pin(async move {
            lock(&self.calls).push(Call::Connect(state_dir.to_path_buf()));
            let task = lock(&self.tasks).get(state_dir).cloned().ok_or_else(gone)?;
            Ok(task as Arc<dyn Task>)
        })
    }

    fn exit_record(&self, state_dir: &Path) -> Option<ExitStatus> {
        lock(&self.records).get(state_dir).cloned()
    }

    fn exec<'a>(
        &'a self,
        _launch: &'a ExecLaunch,
        config: &'a ExecConfig,
        _console_size: Option<(u16, u16)>,
    ) -> BoxFuture<'a, RtResult<ExecProcess>> {
        Box::pin(async move {
            lock(&self.calls).push(Call::Exec(config.args.clone()));
            let script = lock(&self.execs).pop_front().unwrap_or(ExecScript {
                exits: Some((Duration::ZERO, 0)),
                ..ExecScript::default()
            });
            let pid = self.pid();
            let (tx, mut rx) = watch::channel(None);
            if let Some((after, code)) = script.exits {
                let tx = tx.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    tx.send_if_modified(|c| c.is_none() && c.replace(code).is_none());
                });
            }
            lock(&self.running_execs).insert(pid, tx);
            Ok(ExecProcess {
                pid,
                stdin: Some(Box::new(tokio::io::sink())),
                stdout: Box::new(std::io::Cursor::new(script.stdout)),
                stderr: Box::new(std::io::Cursor::new(script.stderr)),
                exit: Box::pin(async move {
                    let code = rx
                        .wait_for(Option::is_some)
                        .await
                        .map_err(|_| gone())?
                        .unwrap_or(255);
                    Ok(code)
                }),
                resizer: None,
            })
        })
    }

    fn signal_exec(&self, pid: u32, signal: i32) {
        lock(&self.calls).push(Call::SignalExec(pid, signal));
        if let Some(tx) = lock(&self.running_execs).get(&pid) {
            tx.send_if_modified(|c| c.is_none() && c.replace(128 + signal).is_none());
        }
    }
}

pub(crate) struct FakeTask {
    calls: Log,
    behaviour: Behaviour,
    phase: watch::Sender<Phase>,
    stats: Stats,
}

impl FakeTask {
    fn record(&self, call: Call) -> RtResult<()> {
        lock(&self.calls).push(call);
        match *self.phase.borrow() {
            Phase::Gone => Err(gone()),
            _ => Ok(()),
        }
    }

    fn running(&self) -> RtResult<()> {
        match *self.phase.borrow() {
            Phase::Created | Phase::Running => Ok(()),
            Phase::Exited(_) => Err(RuntimeError::NotRunning),
            Phase::Gone => Err(gone()),
        }
    }
}

impl Task for FakeTask {
    fn attach(&self, stdin: bool) -> BoxFuture<'_, RtResult<Attached>> {
        Box::pin(async move {
            self.record(Call::Attach(stdin))?;
            let (tx, output) = mpsc::channel(64);
            let mut phase = self.phase.subscribe();
            let script = self.behaviour.output.clone();
            // As the shim's: the output comes after start and ends with the exit.
            tokio::spawn(async move {
                if phase.wait_for(|p| *p != Phase::Created).await.is_err() {
                    return;
                }
                if *phase.borrow() == Phase::Running {
                    for (stream, text) in script {
                        let data = Bytes::from_static(text.as_bytes());
                        let _ = tx.send(Output { stream, data }).await;
                    }
                }
                let _ = phase.wait_for(|p| !live(p)).await;
            });
            let stdin = stdin.then(|| mpsc::channel(16).0);
            Ok(Attached { output, stdin })
        })
    }

    fn start(&self) -> BoxFuture<'_, RtResult<()>> {
        Box::pin(async move {
            self.record(Call::Start)?;
            self.phase.send_replace(Phase::Running);
            if let Some((after, code)) = self.behaviour.exits {
                let phase = self.phase.clone();
                let oom = self.behaviour.oom;
                tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    end(&phase, code, oom);
                });
            }
            Ok(())
        })
    }

    fn kill(&self, signal: i32) -> BoxFuture<'_, RtResult<()>> {
        Box::pin(async move {
            self.record(Call::Kill(signal))?;
            self.running()?;
            if !self.behaviour.ignores.contains(&signal) {
                end(&self.phase, 128 + signal, false);
            }
            Ok(())
        })
    }

    fn wait(&self) -> BoxFuture<'_, RtResult<ExitStatus>> {
        Box::pin(async move {
            self.record(Call::Wait)?;
            let mut phase = self.phase.subscribe();
            let done = phase
                .wait_for(|p| !live(p))
                .await
                .map_err(|_| gone())?
                .clone();
            match done {
                Phase::Exited(s) => Ok(s),
                _ => Err(gone()),
            }
        })
    }

    fn resize(&self, height: u16, width: u16) -> BoxFuture<'_, RtResult<()>> {
        Box::pin(async move { self.record(Call::Resize(height, width)) })
    }

    fn pause(&self) -> BoxFuture<'_, RtResult<()>> {
        Box::pin(async move {
            self.record(Call::Pause)?;
            self.running()
        })
    }

    fn resume(&self) -> BoxFuture<'_, RtResult<()>> {
        Box::pin(async move {
            self.record(Call::Resume)?;
            self.running()
        })
    }

    fn update<'a>(&'a self, limits: &'a Limits) -> BoxFuture<'a, RtResult<()>> {
        Box::pin(async move {
            self.record(Call::Update(limits.clone()))?;
            self.running()
        })
    }

    fn stats(&self) -> BoxFuture<'_, RtResult<Stats>> {
        Box::pin(async move {
            self.record(Call::Stats)?;
            self.running()?;
            Ok(self.stats.clone())
        })
    }

    fn pids(&self) -> BoxFuture<'_, RtResult<Vec<u32>>> {
        Box::pin(async move {
            self.record(Call::Pids)?;
            self.running()?;
            Ok(vec![1])
        })
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;
    use crate::testutil::{created, exec_config, exec_launch};

    #[tokio::test(start_paused = true)]
    async fn stats_are_the_scripted_values_while_running() {
        let rt = FakeRuntime::new();
        rt.set_stats(Stats {
            memory_usage: 4096,
            pids_current: 2,
            ..Stats::default()
        });
        let (task, _) = created(&rt, "s").await;
        task.start().await.unwrap();
        let s = task.stats().await.unwrap();
        assert_eq!((s.memory_usage, s.pids_current), (4096, 2));
        task.kill(libc::SIGKILL).await.unwrap();
        assert!(matches!(task.stats().await, Err(RuntimeError::NotRunning)));
    }

    #[tokio::test(start_paused = true)]
    async fn execs_play_their_script() {
        let rt = FakeRuntime::new();
        rt.script_exec(ExecScript {
            exits: Some((Duration::from_secs(1), 4)),
            stdout: b"out".to_vec(),
            stderr: b"err".to_vec(),
        });
        rt.script_exec(ExecScript::default());
        let mut done = rt
            .exec(&exec_launch(), &exec_config(&["ls"]), None)
            .await
            .unwrap();
        let mut out = String::new();
        done.stdout.read_to_string(&mut out).await.unwrap();
        assert_eq!(out, "out");
        assert_eq!(done.exit.await.unwrap(), 4);

        let forever = rt
            .exec(&exec_launch(), &exec_config(&["sleep"]), None)
            .await
            .unwrap();
        rt.signal_exec(forever.pid, libc::SIGKILL);
        assert_eq!(forever.exit.await.unwrap(), 137);
        let calls = rt.calls();
        assert_eq!(calls[0], Call::Exec(vec!["ls".into()]));
        assert_eq!(calls[2], Call::SignalExec(forever.pid, libc::SIGKILL));
    }
}
