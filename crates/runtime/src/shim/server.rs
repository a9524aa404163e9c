//! Process side of the shim: `berth shim <state-dir>`.
//!
//! Single-threaded by construction: libcontainer forks and changes the cwd,
//! so the container is created before the (current-thread) tokio runtime
//! starts, and the runtime never spawns worker threads.

use std::cell::RefCell;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::unix::pipe;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::exit::{ExitStatus, now_rfc3339, write_exit_status};
use super::logdriver::Logger;
use super::protocol::{self, Request, Response};
use super::{BUNDLE_DIR, ReadyReport, SOCKET_FILE, ShimParams, StdStream};
use crate::backend::{Backend, Io};
use crate::error::RuntimeError;
use crate::pty::{ConsoleSocket, Pty};

const OUTPUT_QUEUE: usize = 64;
/// After init exits, processes it left behind in other namespaces may still
/// hold the pipes; we stop waiting for them after this long.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the last words to attached clients may take.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
const READ_CHUNK: usize = 32 * 1024;
const CONSOLE_SOCKET: &str = "console.sock";
/// The terminal is sent before libcontainer's builder returns; this only
/// bounds a libcontainer that never sends it.
const CONSOLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Control requests (wait, attach, stats, exec's pid…) run code that an idle
/// container never needs again; after this long without one, its pages are
/// given back (see `pages`).
const QUIET: Duration = Duration::from_secs(1);
/// At most once per this long, so that a client polling every second
/// (`docker stats`) does not make the shim fault its code in over and over.
const RELEASE_INTERVAL: Duration = Duration::from_secs(30);

pub(crate) fn main(args: &[String]) -> i32 {
    let Some(state_dir) = args.first().map(PathBuf::from) else {
        eprintln!("usage: berth shim <state-dir>");
        return 2;
    };
    match detach() {
        Ok(true) => {}
        Ok(false) => return 0,
        Err(e) => {
            report(&ReadyReport::Failed {
                message: format!("detach shim: {e}"),
                runtime: false,
            });
            return 1;
        }
    }
    match run(&state_dir) {
        Ok(code) => code,
        Err(CreateError(failure)) => {
            if let ReadyReport::Failed { message, .. } = &failure {
                eprintln!("berth shim: {message}");
            }
            report(&failure);
            1
        }
    }
}

/// setsid, fork: the shim ends up in a session of its own (of which it is
/// not the leader, so no terminal can become its controlling one),
/// re-parented to init, so it neither dies with the daemon nor becomes its
/// zombie. The daemon's child is no process group leader, so it starts the
/// session itself; one started by hand from a shell is, and forks first.
/// Returns true in the process that goes on as the shim.
fn detach() -> nix::Result<bool> {
    let own_session = nix::unistd::setsid().is_ok();
    if !own_session {
        // SAFETY: `berth shim` dispatches before any thread exists, so fork is sound.
        match unsafe { nix::unistd::fork() }? {
            ForkResult::Parent { child } => {
                let _ = waitpid(child, None);
                return Ok(false);
            }
            ForkResult::Child => {}
        }
        nix::unistd::setsid()?;
    }
    // SAFETY: still single-threaded.
    match unsafe { nix::unistd::fork() }? {
        ForkResult::Parent { .. } if own_session => Ok(false),
        // SAFETY: _exit ends this intermediate child at once, without running
        // the parent's atexit handlers or flushing its buffers a second time.
        ForkResult::Parent { .. } => unsafe { libc::_exit(0) },
        ForkResult::Child => Ok(true),
    }
}

/// The readiness line goes to our stdout, the pipe the daemon reads.
fn report(r: &ReadyReport) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer(&mut out, r);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

/// The init's stdio as the shim holds it.
enum Stdio {
    Pipes {
        stdout: OwnedFd,
        stderr: OwnedFd,
        stdin: Option<OwnedFd>,
    },
    /// The pty master: output and input of the container's terminal.
    Tty { master: OwnedFd, stdin: bool },
}

fn run(state_dir: &Path) -> Result<i32, CreateError> {
    // Docker's (runc's) umask, whatever the daemon runs with: the runtime
    // creates mountpoints in the container's rootfs with it, and the
    // container inherits it. Our own files get explicit modes.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    let state_dir = std::path::absolute(state_dir).map_err(|e| e.to_string())?;
    let params = super::read_params(&state_dir).map_err(|e| e.to_string())?;
    // The container's init becomes our child even when a runtime CLI forks
    // it and exits: we reap it and learn its exit code.
    nix::sys::prctl::set_child_subreaper(true).map_err(|e| format!("subreaper: {e}"))?;
    let log = match &params.log {
        Some(spec) => Logger::open(spec, &params.log_path, &state_dir),
        None => Logger::legacy(&params.log_path, params.log_rotation),
    }
    .map_err(|e| format!("open log: {e}"))?;

    let mut backend = crate::backend::open_cli(
        &params.runtime,
        &params.runtime_cli,
        params.runtime_cli_dedicated,
        &params.id,
        &params.runtime_root,
        &state_dir,
    );
    let creating = std::time::Instant::now();
    let (init_pid, stdio) = create_container(backend.as_mut(), &state_dir, &params)?;
    let runtime_create_us = creating.elapsed().as_micros() as u64;
    let cgroup_path = backend.cgroup_path();

    let socket = state_dir.join(SOCKET_FILE);
    let _ = std::fs::remove_file(&socket);
    let address = super::sockpath::socket_path(&state_dir, SOCKET_FILE)
        .map_err(|e| format!("socket address for {}: {e}", socket.display()))?;
    let listener = std::os::unix::net::UnixListener::bind(&address.path)
        .map_err(|e| format!("bind {}: {e}", socket.display()))?;
    // Only the daemon (root) connects; the state dir above is 0700 anyway.
    crate::private::restrict(&address.path)
        .map_err(|e| format!("chmod {}: {e}", socket.display()))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("listener: {e}"))?;

    report(&ReadyReport::Ready {
        shim_pid: std::process::id(),
        init_pid: init_pid.as_raw() as u32,
        runtime_create_us,
    });
    // Let the daemon see EOF on its pipe; nothing else of ours goes to stdout.
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2(null.as_raw_fd(), 1);
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let local = tokio::task::LocalSet::new();
    let shim = Rc::new(Shim {
        backend: RefCell::new(backend),
        init_pid,
        state_dir: state_dir.clone(),
        socket,
        reaped: RefCell::new(false),
        exit: RefCell::new(None),
        waiters: RefCell::new(Vec::new()),
        attachers: RefCell::new(Some(Vec::new())),
        writers: RefCell::new(Vec::new()),
        stdin: RefCell::new(None),
        pty: RefCell::new(None),
        tty: params.tty,
        log: RefCell::new(log),
        activity: tokio::sync::Notify::new(),
        id: params.id.clone(),
        cgroup_path,
    });
    Ok(local.block_on(&rt, serve(shim, listener, stdio))?)
}

/// Creates the container with its stdio: pipes, or a pty whose master the
/// runtime sends to our console socket.
fn create_container(
    backend: &mut dyn Backend,
    state_dir: &Path,
    params: &ShimParams,
) -> Result<(Pid, Stdio), CreateError> {
    let cloexec = nix::fcntl::OFlag::O_CLOEXEC;
    let pipe = || nix::unistd::pipe2(cloexec).map_err(|e| format!("pipe: {e}"));
    let bundle = state_dir.join(BUNDLE_DIR);
    if params.tty {
        let socket = ConsoleSocket::bind(state_dir, CONSOLE_SOCKET)
            .map_err(|e| format!("console socket: {e}"))?;
        let io = Io {
            console_socket: Some(socket.path().to_path_buf()),
            ..Io::default()
        };
        let pid = backend.create(&bundle, io)?;
        let master = socket.receive_master(CONSOLE_TIMEOUT).map_err(|e| {
            // Its init would wait forever for a start that will not come.
            let _ = backend.delete();
            format!("receive terminal: {e}")
        })?;
        let stdio = Stdio::Tty {
            master,
            stdin: params.open_stdin,
        };
        return Ok((pid, stdio));
    }
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (stdin_r, stdin_w) = match params.open_stdin {
        true => pipe().map(|(r, w)| (Some(r), Some(w)))?,
        // The runtime gives the init /dev/null (or our stdin, which the daemon made /dev/null).
        false => (None, None),
    };
    let io = Io {
        stdin: stdin_r,
        stdout: Some(out_w),
        stderr: Some(err_w),
        console_socket: None,
    };
    let pid = backend.create(&bundle, io)?;
    let stdio = Stdio::Pipes {
        stdout: out_r,
        stderr: err_r,
        stdin: stdin_w,
    };
    Ok((pid, stdio))
}

/// Why the container could not be made, for the readiness report.
struct CreateError(ReadyReport);

impl From<String> for CreateError {
    fn from(message: String) -> Self {
        CreateError(ReadyReport::Failed {
            message,
            runtime: false,
        })
    }
}

impl From<RuntimeError> for CreateError {
    fn from(e: RuntimeError) -> Self {
        CreateError(match e {
            RuntimeError::Oci(message) => ReadyReport::Failed {
                message,
                runtime: true,
            },
            RuntimeError::Libcontainer(message) => ReadyReport::Failed {
                message,
                runtime: false,
            },
            other => ReadyReport::Failed {
                message: other.to_string(),
                runtime: false,
            },
        })
    }
}

/// One attached client's queue of (frame kind, data).
type OutputTx = mpsc::Sender<(u8, Bytes)>;

enum StdinMsg {
    Data(Bytes),
    Close,
}

struct Shim {
    backend: RefCell<Box<dyn Backend>>,
    init_pid: Pid,
    state_dir: PathBuf,
    socket: PathBuf,
    /// Init has been reaped: signals and start no longer apply.
    reaped: RefCell<bool>,
    /// Set once everything is final (drained, recorded, cleaned up).
    exit: RefCell<Option<ExitStatus>>,
    waiters: RefCell<Vec<UnixStream>>,
    /// `None` once output is over: later attaches get an immediate end.
    attachers: RefCell<Option<Vec<OutputTx>>>,
    writers: RefCell<Vec<JoinHandle<()>>>,
    stdin: RefCell<Option<mpsc::UnboundedSender<StdinMsg>>>,
    /// The terminal of a tty container, for resizes.
    pty: RefCell<Option<Arc<Pty>>>,
    /// A terminal has no end of input: closing stdin leaves it open.
    tty: bool,
    log: RefCell<Logger>,
    /// Told of every control request, for `release_pages_when_quiet`.
    activity: tokio::sync::Notify,
    id: String,
    /// Relative to each hierarchy's root.
    cgroup_path: PathBuf,
}

async fn serve(
    shim: Rc<Shim>,
    listener: std::os::unix::net::UnixListener,
    stdio: Stdio,
) -> Result<i32, RuntimeError> {
    // Registered before anything can exit, so no SIGCHLD is lost.
    let mut sigchld = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child())
        .map_err(|e| RuntimeError::io("SIGCHLD handler", e))?;
    let listener = UnixListener::from_std(listener).map_err(|e| RuntimeError::io("listener", e))?;

    let mut pumps = Vec::new();
    match stdio {
        Stdio::Pipes {
            stdout,
            stderr,
            stdin,
        } => {
            if let Some(fd) = stdin {
                let writer = pipe::Sender::from_owned_fd(fd)
                    .map_err(|e| RuntimeError::io("stdin pipe", e))?;
                start_stdin(&shim, writer);
            }
            for (fd, stream) in [(stdout, StdStream::Stdout), (stderr, StdStream::Stderr)] {
                let reader = pipe::Receiver::from_owned_fd(fd)
                    .map_err(|e| RuntimeError::io("output pipe", e))?;
                pumps.push(tokio::task::spawn_local(pump(shim.clone(), reader, stream)));
            }
        }
        Stdio::Tty { master, stdin } => {
            let pty = Pty::new(master).map_err(|e| RuntimeError::io("terminal", e))?;
            *shim.pty.borrow_mut() = Some(pty.clone());
            if stdin {
                start_stdin(&shim, pty.writer());
            }
            // As Docker: a terminal's output is all "stdout".
            pumps.push(tokio::task::spawn_local(pump(
                shim.clone(),
                pty.reader(),
                StdStream::Stdout,
            )));
        }
    }
    let acceptor = tokio::task::spawn_local(accept_loop(shim.clone(), listener));
    let releaser = tokio::task::spawn_local(release_pages_when_quiet(shim.clone()));

    let raw = reap_init(&mut sigchld, shim.init_pid).await;
    *shim.reaped.borrow_mut() = true;
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, async {
        for p in pumps {
            let _ = p.await;
        }
    })
    .await;
    // Before the exit is recorded: a remote server has the last lines by
    // the time `docker wait` returns (bounded, a dead server cannot hold us).
    shim.log.borrow_mut().close();

    let status = ExitStatus {
        exit_code: raw,
        finished_at: now_rfc3339(),
        oom_killed: crate::cgroup::oom_killed(&shim.cgroup_path),
    };
    // Removes the cgroup and the runtime's state, so the id can be reused at once.
    if let Err(e) = shim.backend.borrow_mut().delete_exited() {
        eprintln!("berth shim: delete container: {e}");
    }
    if let Err(e) = write_exit_status(&shim.state_dir, &status) {
        eprintln!("berth shim: write exit status: {e}");
    }
    // From here on clients read exit.json; a new shim may bind the same path.
    let _ = std::fs::remove_file(&shim.socket);
    acceptor.abort();
    releaser.abort();
    *shim.exit.borrow_mut() = Some(status.clone());
    shim.stdin.borrow_mut().take();
    shim.pty.borrow_mut().take();

    let waiters = std::mem::take(&mut *shim.waiters.borrow_mut());
    let attachers = shim.attachers.borrow_mut().take();
    drop(attachers);
    let writers = std::mem::take(&mut *shim.writers.borrow_mut());
    let _ = tokio::time::timeout(FLUSH_TIMEOUT, async {
        for mut w in waiters {
            let _ = protocol::write_json(
                &mut w,
                protocol::RESPONSE,
                &Response::Exited(status.clone()),
            )
            .await;
        }
        for w in writers {
            let _ = w.await;
        }
    })
    .await;
    Ok(0)
}

/// Exit code of init in Docker's convention (128 + signal when killed).
async fn reap_init(sigchld: &mut tokio::signal::unix::Signal, init: Pid) -> i32 {
    loop {
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == init => return code,
                Ok(WaitStatus::Signaled(pid, sig, _)) if pid == init => return 128 + sig as i32,
                Ok(WaitStatus::StillAlive) => break,
                Ok(_) => continue,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    // Not our child any more: nothing will tell us how it ended.
                    eprintln!("berth shim: waitpid: {e}");
                    return 255;
                }
            }
        }
        sigchld.recv().await;
    }
}

async fn pump<R: AsyncRead + Unpin>(shim: Rc<Shim>, mut reader: R, stream: StdStream) {
    let kind = match stream {
        StdStream::Stdout => protocol::STDOUT,
        StdStream::Stderr => protocol::STDERR,
    };
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("berth shim: read {}: {e}", stream.name());
                break;
            }
        };
        if let Err(e) = shim.log.borrow_mut().write(stream, &buf[..n]) {
            eprintln!("berth shim: write log: {e}");
        }
        let data = Bytes::copy_from_slice(&buf[..n]);
        let targets: Vec<_> = shim.attachers.borrow().iter().flatten().cloned().collect();
        for tx in targets {
            // A slow client slows the container down, as with Docker's attach.
            let _ = tx.send((kind, data.clone())).await;
        }
        if let Some(list) = shim.attachers.borrow_mut().as_mut() {
            list.retain(|tx| !tx.is_closed());
        }
    }
    if let Err(e) = shim.log.borrow_mut().flush_partial(stream) {
        eprintln!("berth shim: write log: {e}");
    }
}

fn start_stdin<W: AsyncWrite + Unpin + 'static>(shim: &Rc<Shim>, writer: W) {
    let (tx, rx) = mpsc::unbounded_channel();
    *shim.stdin.borrow_mut() = Some(tx);
    tokio::task::spawn_local(forward_stdin(writer, rx, !shim.tty));
}

/// `close_on_end`: a pipe is closed when the attach ends (the program sees
/// end of file); a terminal stays open, as in Docker.
async fn forward_stdin<W: AsyncWrite + Unpin>(
    mut writer: W,
    mut rx: mpsc::UnboundedReceiver<StdinMsg>,
    close_on_end: bool,
) {
    use tokio::io::AsyncWriteExt;
    while let Some(msg) = rx.recv().await {
        match msg {
            StdinMsg::Data(data) => {
                if writer.write_all(&data).await.is_err() {
                    // The container closed its end; later data has nowhere to go.
                    return;
                }
            }
            StdinMsg::Close if close_on_end => return,
            StdinMsg::Close => {}
        }
    }
}

async fn accept_loop(shim: Rc<Shim>, listener: UnixListener) {
    loop {
        match listener.accept().await {
            Ok((conn, _)) => {
                tokio::task::spawn_local(handle(shim.clone(), conn));
            }
            Err(e) => {
                eprintln!("berth shim: accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Gives back the file pages that control requests faulted in, once none
/// has come for `QUIET`: what a running container's monitor keeps resident
/// is then what copying its output and waiting for it need.
async fn release_pages_when_quiet(shim: Rc<Shim>) {
    loop {
        shim.activity.notified().await;
        while tokio::time::timeout(QUIET, shim.activity.notified())
            .await
            .is_ok()
        {}
        // The file pages last: what the first call runs is dropped too.
        crate::pages::release_idle_stack();
        crate::pages::release_file_pages();
        tokio::time::sleep(RELEASE_INTERVAL).await;
    }
}

async fn handle(shim: Rc<Shim>, mut conn: UnixStream) {
    shim.activity.notify_one();
    let req: Request = match protocol::read_json(&mut conn, protocol::REQUEST).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("berth shim: bad request: {e}");
            return;
        }
    };
    let resp = match req {
        Request::Attach { stdin } => return attach(&shim, conn, stdin),
        Request::Wait => {
            let exit = shim.exit.borrow().clone();
            match exit {
                Some(status) => Response::Exited(status),
                None => {
                    shim.waiters.borrow_mut().push(conn);
                    return;
                }
            }
        }
        Request::Pid => Response::Pid(shim.init_pid.as_raw() as u32),
        Request::Start if *shim.reaped.borrow() => Response::NotRunning,
        Request::Start => {
            // The start-up pages go with the control requests' once the
            // shim is quiet for a second (`release_pages_when_quiet`): a
            // container that ends sooner never pays for giving them back.
            answer(shim.backend.borrow_mut().start(), |()| Response::Ok)
        }
        Request::Resize { .. } if *shim.reaped.borrow() => Response::NotRunning,
        Request::Resize { height, width } => match shim.pty.borrow().as_ref() {
            Some(pty) => match pty.resize(height, width) {
                Ok(()) => Response::Ok,
                Err(e) => Response::Error(format!("resize terminal: {e}")),
            },
            None => Response::Error("the container has no terminal".into()),
        },
        Request::Kill { .. } if *shim.reaped.borrow() => Response::NotRunning,
        // Signalling our own unreaped child cannot hit a recycled pid.
        Request::Kill { signal } => match Signal::try_from(signal) {
            Ok(sig) => match nix::sys::signal::kill(shim.init_pid, sig) {
                Ok(()) => {
                    // A frozen process only dies once thawed.
                    if sig == Signal::SIGKILL {
                        let mut backend = shim.backend.borrow_mut();
                        if backend.paused() {
                            let _ = backend.resume();
                        }
                    }
                    Response::Ok
                }
                Err(e) => Response::Error(format!("kill: {e}")),
            },
            Err(_) => Response::Error(format!("invalid signal {signal}")),
        },
        Request::Pause
        | Request::Resume
        | Request::Update { .. }
        | Request::Stats
        | Request::Pids
            if *shim.reaped.borrow() =>
        {
            Response::NotRunning
        }
        Request::Pause => answer(shim.backend.borrow_mut().pause(), |()| Response::Ok),
        Request::Resume => answer(shim.backend.borrow_mut().resume(), |()| Response::Ok),
        Request::Update { limits } => answer(
            crate::cgroup::update_resources(&shim.cgroup_path, &shim.id, &limits)
                .and_then(|res| shim.backend.borrow_mut().update(&res)),
            |()| Response::Ok,
        ),
        Request::Stats => answer(crate::cgroup::stats(&shim.cgroup_path), Response::Stats),
        Request::Pids => answer(shim.backend.borrow().pids(), Response::Pids),
    };
    let _ = protocol::write_json(&mut conn, protocol::RESPONSE, &resp).await;
}

fn answer<T>(r: Result<T, RuntimeError>, ok: impl FnOnce(T) -> Response) -> Response {
    match r {
        Ok(v) => ok(v),
        Err(RuntimeError::InvalidSetting(msg)) => Response::Invalid(msg),
        Err(RuntimeError::Oci(msg)) => Response::RuntimeFailed(msg),
        // The client wraps it again.
        Err(RuntimeError::Libcontainer(msg)) => Response::Error(msg),
        Err(e) => Response::Error(e.to_string()),
    }
}

fn attach(shim: &Rc<Shim>, conn: UnixStream, stdin: bool) {
    let (rd, wr) = conn.into_split();
    let (tx, rx) = mpsc::channel(OUTPUT_QUEUE);
    // Registered before the answer goes out: the client sees all output after it.
    if let Some(list) = shim.attachers.borrow_mut().as_mut() {
        list.push(tx);
    }
    let writer = tokio::task::spawn_local(write_output(wr, rx));
    shim.writers.borrow_mut().push(writer);
    let stdin_tx = if stdin {
        shim.stdin.borrow().clone()
    } else {
        None
    };
    if let Some(stdin_tx) = stdin_tx {
        tokio::task::spawn_local(read_stdin(rd, stdin_tx));
    }
}

async fn write_output(mut wr: OwnedWriteHalf, mut rx: mpsc::Receiver<(u8, Bytes)>) {
    if protocol::write_json(&mut wr, protocol::RESPONSE, &Response::Ok)
        .await
        .is_err()
    {
        return;
    }
    while let Some((kind, data)) = rx.recv().await {
        if protocol::write_frame(&mut wr, kind, &data).await.is_err() {
            return;
        }
    }
    let _ = protocol::write_frame(&mut wr, protocol::END, &[]).await;
}

/// A stdin attach that ends (explicit close or the client going away) closes
/// the container's stdin, like `docker run -i` with its default StdinOnce.
async fn read_stdin(mut rd: OwnedReadHalf, tx: mpsc::UnboundedSender<StdinMsg>) {
    loop {
        match protocol::read_frame(&mut rd).await {
            Ok(Some(f)) if f.kind == protocol::STDIN => {
                if tx.send(StdinMsg::Data(Bytes::from(f.payload))).is_err() {
                    return;
                }
            }
            Ok(Some(f)) if f.kind != protocol::STDIN_CLOSE => continue,
            _ => {
                let _ = tx.send(StdinMsg::Close);
                return;
            }
        }
    }
}
