//! `docker exec`: exec instances and their processes.

use parking_lot::Mutex;
use std::sync::Arc;

use bytes::Bytes;
use runtime::exec::{ExecConfig, ExecLaunch};
use runtime::shim::StdStream;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use crate::container::OutputChunk;
use crate::model::{ExecCreateRequest, Status};
use crate::{Engine, EngineError, Result, names};

pub struct ExecInstance {
    pub id: String,
    pub container_id: String,
    pub config: ExecCreateRequest,
    state: Mutex<ExecState>,
}

#[derive(Clone, Default)]
struct ExecState {
    started: bool,
    running: bool,
    exit_code: Option<i32>,
    pid: u32,
    /// Present for tty execs while they run.
    resizer: Option<crate::rt::Resizer>,
}

/// What `GET /exec/{id}/json` reports.
#[derive(Debug, Clone)]
pub struct ExecView {
    pub id: String,
    pub container_id: String,
    pub config: ExecCreateRequest,
    pub running: bool,
    pub exit_code: Option<i32>,
    pub pid: u32,
}

pub struct ExecStreams {
    /// Closes after the exit code is recorded, so a client that inspects on EOF sees it.
    pub output: mpsc::Receiver<OutputChunk>,
    pub stdin: Option<crate::rt::ExecStdin>,
}

/// dockerd's conflicts for exec: the container must run, and not be paused.
fn exec_allowed(c: &crate::container::Container) -> Result<()> {
    match c.status() {
        Status::Running => Ok(()),
        Status::Paused => Err(EngineError::Conflict(format!(
            "Container {} is paused, unpause the container before exec",
            c.id
        ))),
        _ => Err(EngineError::Conflict(format!(
            "Container {} is not running",
            c.id
        ))),
    }
}

impl Engine {
    pub fn exec_create(&self, name_or_id: &str, req: ExecCreateRequest) -> Result<String> {
        let c = self.container(name_or_id)?;
        exec_allowed(&c)?;
        if req.cmd.as_ref().is_none_or(|c| c.is_empty()) {
            return Err(EngineError::InvalidParameter(
                "No exec command specified".into(),
            ));
        }
        if req.privileged {
            return Err(EngineError::NotImplemented("privileged exec".into()));
        }
        let id = names::new_id();
        let instance = Arc::new(ExecInstance {
            id: id.clone(),
            container_id: c.id.clone(),
            config: req,
            state: Mutex::new(ExecState::default()),
        });
        self.execs.lock().insert(id.clone(), instance.clone());
        let cmd = instance.config.cmd.clone().unwrap_or_default().join(" ");
        self.container_event(
            &c,
            &format!("exec_create: {cmd}"),
            &[("execID", id.clone())],
        );
        Ok(id)
    }

    fn exec_instance(&self, id: &str) -> Result<Arc<ExecInstance>> {
        self.execs
            .lock()
            .get(id)
            .cloned()
            .ok_or_else(|| EngineError::NotFound(format!("No such exec instance: {id}")))
    }

    /// Drops a finished exec's record (health probes would pile them up).
    pub(crate) fn exec_forget(&self, id: &str) {
        self.execs.lock().remove(id);
    }

    pub fn exec_inspect(&self, id: &str) -> Result<ExecView> {
        let e = self.exec_instance(id)?;
        let st = e.state.lock().clone();
        Ok(ExecView {
            id: e.id.clone(),
            container_id: e.container_id.clone(),
            config: e.config.clone(),
            running: st.running,
            exit_code: st.exit_code,
            pid: st.pid,
        })
    }

    /// `POST /exec/{id}/resize`.
    pub fn exec_resize(&self, id: &str, height: u16, width: u16) -> Result<()> {
        let e = self.exec_instance(id)?;
        let resizer = e.state.lock().resizer.clone();
        match resizer {
            Some(r) => Ok(r(height, width)?),
            None if !e.config.tty => Err(EngineError::InvalidParameter(format!(
                "exec {id} has no terminal to resize"
            ))),
            None => Err(EngineError::Conflict(format!("exec {id} is not running"))),
        }
    }

    pub async fn exec_start(
        self: &Arc<Self>,
        id: &str,
        console_size: Option<(u16, u16)>,
    ) -> Result<ExecStreams> {
        let e = self.exec_instance(id)?;
        {
            let mut st = e.state.lock();
            if st.started {
                return Err(EngineError::Conflict(format!(
                    "Exec {id} has already started"
                )));
            }
            st.started = true;
        }
        let c = self.container(&e.container_id)?;
        exec_allowed(&c)?;
        let record = c.lock().record.clone();
        let rootfs = self.images.mount_rw_layer(&c.id, &record.image_id)?;
        let user_spec = if e.config.user.is_empty() {
            record.config.user.clone()
        } else {
            e.config.user.clone()
        };
        let user = if user_spec.is_empty() {
            None
        } else {
            let u = image::passwd::resolve_user(&rootfs, &user_spec)
                .map_err(|err| EngineError::InvalidParameter(err.to_string()))?;
            Some(crate::lifecycle::runtime_user(
                u.uid,
                u.gid,
                u.additional_gids,
            ))
        };
        let mut env = record.config.env.clone().unwrap_or_default();
        env.insert(0, format!("HOSTNAME={}", record.config.hostname));
        crate::oci::with_tty_term(&mut env, e.config.tty);
        for kv in e.config.env.clone().unwrap_or_default() {
            let key = kv.split('=').next().unwrap_or_default().to_string();
            env.retain(|x| x.split('=').next() != Some(key.as_str()));
            env.push(kv);
        }
        let cwd = Some(e.config.working_dir.clone())
            .filter(|w| !w.is_empty())
            .or_else(|| Some(record.config.working_dir.clone()).filter(|w| !w.is_empty()));
        let launch = ExecLaunch {
            exe: self.cfg.exe.clone(),
            args_prefix: vec!["shim-exec".into()],
            state_dir: c.state_dir.clone(),
        };
        let cfg = ExecConfig {
            container_id: c.id.clone(),
            args: e.config.cmd.clone().unwrap_or_default(),
            env,
            cwd,
            user,
            tty: e.config.tty,
            open_stdin: e.config.attach_stdin,
        };
        let mut process = self.runtime.exec(&launch, &cfg, console_size).await?;
        {
            let mut st = e.state.lock();
            st.running = true;
            st.pid = process.pid;
            st.resizer = process.resizer.clone();
        }
        let cmd = e.config.cmd.clone().unwrap_or_default().join(" ");
        self.container_event(
            &c,
            &format!("exec_start: {cmd}"),
            &[("execID", e.id.clone())],
        );

        let (tx, rx) = mpsc::channel(256);
        let stdin = if e.config.attach_stdin {
            process.stdin.take()
        } else {
            None
        };
        let ended = pump(process, &tx);
        let engine = self.clone();
        tokio::spawn(async move {
            let code = ended.await;
            {
                let mut st = e.state.lock();
                st.running = false;
                st.exit_code = Some(code);
                st.resizer = None;
            }
            engine.container_event(
                &c,
                "exec_die",
                &[("execID", e.id.clone()), ("exitCode", code.to_string())],
            );
            drop(tx);
        });
        Ok(ExecStreams { output: rx, stdin })
    }
}

/// Copies the process's output into `tx` from now on; resolves to its exit
/// code once both pipes are drained. `tx` stays the caller's, so the stream
/// ends only when the caller drops it, after it recorded the code.
pub(crate) fn pump(
    process: crate::rt::ExecProcess,
    tx: &mpsc::Sender<OutputChunk>,
) -> impl std::future::Future<Output = i32> + Send + 'static {
    let out = tokio::spawn(copy_stream(process.stdout, StdStream::Stdout, tx.clone()));
    let err = tokio::spawn(copy_stream(process.stderr, StdStream::Stderr, tx.clone()));
    let exit = process.exit;
    async move {
        let _ = out.await;
        let _ = err.await;
        exit.await.unwrap_or(126)
    }
}

async fn copy_stream(
    mut reader: impl tokio::io::AsyncRead + Unpin,
    stream: StdStream,
    tx: mpsc::Sender<OutputChunk>,
) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                // A detached or gone client still needs the pipe drained.
                let _ = tx
                    .send(OutputChunk {
                        stream,
                        data: Bytes::copy_from_slice(&buf[..n]),
                    })
                    .await;
            }
        }
    }
}
