//! One container: its persisted record and state, its live shim handle, and the
//! attach subscribers fed from the shim's output.

use parking_lot::{Mutex, MutexGuard};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use runtime::shim::StdStream;
use tokio::sync::{mpsc, watch};

use crate::fsutil::{read_json, replace_json_atomic, write_json_atomic};
use crate::model::{ContainerRecord, State, Status};
use crate::rt::Task;

/// What waiters observe; `exits` counts exits so "next-exit" can tell a new one.
#[derive(Debug, Clone, Default)]
pub struct Lifecycle {
    pub running: bool,
    pub exits: u64,
    pub exit_code: i32,
    pub removed: bool,
}

/// One chunk of container output as attach clients receive it.
#[derive(Debug, Clone)]
pub struct OutputChunk {
    pub stream: StdStream,
    pub data: Bytes,
}

pub(crate) struct Subscriber {
    pub stdout: bool,
    pub stderr: bool,
    pub tx: mpsc::Sender<OutputChunk>,
}

pub(crate) struct Inner {
    pub record: ContainerRecord,
    pub state: State,
    pub shim: Option<Arc<dyn Task>>,
    pub stdin: Option<mpsc::Sender<Bytes>>,
    pub subscribers: Vec<Subscriber>,
    pub backoff: crate::backoff::Backoff,
}

pub struct Container {
    pub id: String,
    /// data-root/containers/<id>: config.json, state.json, the log, etc files.
    pub dir: PathBuf,
    /// exec-root/containers/<id>: the shim's socket, bundle and exit file.
    pub state_dir: PathBuf,
    pub(crate) inner: Mutex<Inner>,
    /// Orders state.json writes as their changes were made, so a slower
    /// writer never puts back an older state.
    persist: Mutex<()>,
    /// Serialises lifecycle operations (start, stop, kill, remove) on this container.
    pub(crate) op: tokio::sync::Mutex<()>,
    pub(crate) lifecycle: watch::Sender<Lifecycle>,
}

/// A consistent copy of a container for readers (inspect, ps).
#[derive(Debug, Clone)]
pub struct ContainerView {
    pub record: ContainerRecord,
    pub state: State,
}

impl Container {
    pub(crate) fn new(
        record: ContainerRecord,
        state: State,
        dir: PathBuf,
        state_dir: PathBuf,
    ) -> Self {
        let lifecycle = Lifecycle {
            running: state.status == Status::Running || state.status == Status::Paused,
            exits: 0,
            exit_code: state.exit_code,
            removed: false,
        };
        Container {
            id: record.id.clone(),
            dir,
            state_dir,
            inner: Mutex::new(Inner {
                record,
                state,
                shim: None,
                stdin: None,
                subscribers: Vec::new(),
                backoff: crate::backoff::Backoff::default(),
            }),
            persist: Mutex::new(()),
            op: tokio::sync::Mutex::new(()),
            lifecycle: watch::channel(lifecycle).0,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock()
    }

    pub fn view(&self) -> ContainerView {
        let inner = self.lock();
        ContainerView {
            record: inner.record.clone(),
            state: inner.state.clone(),
        }
    }

    pub fn name(&self) -> String {
        self.lock().record.name.clone()
    }

    pub fn status(&self) -> Status {
        self.lock().state.status
    }

    pub(crate) fn shim(&self) -> Option<Arc<dyn Task>> {
        self.lock().shim.clone()
    }

    pub fn watch(&self) -> watch::Receiver<Lifecycle> {
        self.lifecycle.subscribe()
    }

    pub(crate) fn config_path(dir: &Path) -> PathBuf {
        dir.join("config.json")
    }

    pub(crate) fn state_path(dir: &Path) -> PathBuf {
        dir.join("state.json")
    }

    /// Mutates the record under the lock, then persists it.
    pub(crate) fn update_record(
        &self,
        f: impl FnOnce(&mut ContainerRecord),
    ) -> std::io::Result<()> {
        let record = {
            let mut inner = self.lock();
            f(&mut inner.record);
            inner.record.clone()
        };
        write_json_atomic(&Self::config_path(&self.dir), &record)
    }

    /// Mutates the state under the lock, then persists it durably.
    pub(crate) fn update_state(&self, f: impl FnOnce(&mut State)) -> std::io::Result<State> {
        self.persist_state(f, write_json_atomic)
    }

    /// [`Container::update_state`] for an exit or a removal's first step:
    /// whole after a power cut, but possibly the state before it
    /// ([`cas::replace_atomic`]). No container survives a power cut, and the
    /// daemon's start-up records the exit of every container it finds
    /// running without a shim and finishes every removal it finds begun.
    pub(crate) fn update_state_replaceable(
        &self,
        f: impl FnOnce(&mut State),
    ) -> std::io::Result<State> {
        self.persist_state(f, replace_json_atomic)
    }

    fn persist_state(
        &self,
        f: impl FnOnce(&mut State),
        write: fn(&Path, &State) -> std::io::Result<()>,
    ) -> std::io::Result<State> {
        let _order = self.persist.lock();
        let state = {
            let mut inner = self.lock();
            f(&mut inner.state);
            inner.state.clone()
        };
        write(&Self::state_path(&self.dir), &state)?;
        Ok(state)
    }

    pub(crate) fn load(dir: &Path, state_dir: PathBuf) -> std::io::Result<Self> {
        let record: ContainerRecord = read_json(&Self::config_path(dir))?;
        let state: State = read_json(&Self::state_path(dir)).unwrap_or_default();
        Ok(Container::new(record, state, dir.to_path_buf(), state_dir))
    }

    /// Ends every attach stream (their receivers see the channel close).
    pub(crate) fn drop_subscribers(&self) {
        self.lock().subscribers.clear();
    }

    pub(crate) fn subscribe(&self, stdout: bool, stderr: bool) -> mpsc::Receiver<OutputChunk> {
        let (tx, rx) = mpsc::channel(256);
        self.lock()
            .subscribers
            .push(Subscriber { stdout, stderr, tx });
        rx
    }

    /// Forwards shim output to the current subscribers until the shim's stream ends.
    pub(crate) async fn pump(self: Arc<Self>, mut output: mpsc::Receiver<runtime::shim::Output>) {
        while let Some(out) = output.recv().await {
            let chunk = OutputChunk {
                stream: out.stream,
                data: out.data,
            };
            let targets: Vec<mpsc::Sender<OutputChunk>> = {
                let mut inner = self.lock();
                inner.subscribers.retain(|s| !s.tx.is_closed());
                inner
                    .subscribers
                    .iter()
                    .filter(|s| match chunk.stream {
                        StdStream::Stdout => s.stdout,
                        StdStream::Stderr => s.stderr,
                    })
                    .map(|s| s.tx.clone())
                    .collect()
            };
            for tx in targets {
                let _ = tx.send(chunk.clone()).await;
            }
        }
        self.drop_subscribers();
    }
}
