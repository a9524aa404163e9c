//! berth's built-in runtime: youki's libcontainer in the calling process.
//! It forks and changes the cwd, so it must run single-threaded.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::{Container, ContainerStatus};
use libcontainer::syscall::syscall::SyscallType;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxResources, Spec};

use super::{Backend, Io};
use crate::error::{RuntimeError, chain_text};
use crate::executor::DockerExecutor;

pub(crate) struct Builtin {
    id: String,
    /// libcontainer's state root; the container's state is `<root>/<id>`.
    root: PathBuf,
    /// The container libcontainer saved, when there is one: `berth runtime`
    /// and exec helpers act on a container another process created.
    container: Option<Container>,
}

impl Builtin {
    pub fn new(id: &str, root: &Path, _state_dir: &Path) -> Self {
        Self {
            id: id.to_string(),
            root: root.to_path_buf(),
            container: Container::load(root.join(id)).ok(),
        }
    }

    fn container(&mut self) -> Result<&mut Container, RuntimeError> {
        if self.container.is_none() {
            let loaded =
                Container::load(self.root.join(&self.id)).map_err(|_| RuntimeError::NotRunning)?;
            self.container = Some(loaded);
        }
        Ok(self.container.as_mut().expect("loaded above"))
    }

    fn builder(&self, executor: DockerExecutor, io: Io) -> Result<ContainerBuilder, RuntimeError> {
        let mut builder = ContainerBuilder::new(self.id.clone(), SyscallType::default())
            .with_executor(executor)
            .with_root_path(&self.root)
            .map_err(lc_err)?;
        // With a console socket libcontainer puts the pty slave on all three
        // and ignores any stdio we would give it.
        if let Some(socket) = io.console_socket {
            return Ok(builder.with_console_socket(Some(socket)));
        }
        if let Some(fd) = io.stdin {
            builder = builder.with_stdin(fd);
        }
        if let Some(fd) = io.stdout {
            builder = builder.with_stdout(fd);
        }
        if let Some(fd) = io.stderr {
            builder = builder.with_stderr(fd);
        }
        Ok(builder)
    }
}

/// Compiled seccomp programs, in the runtime's root beside the containers'
/// state (a name no container id can have).
const SECCOMP_CACHE: &str = ".seccomp-cache";

impl Backend for Builtin {
    fn create(&mut self, bundle: &Path, io: Io) -> Result<Pid, RuntimeError> {
        crate::private::create_dir_all(&self.root)
            .map_err(|e| RuntimeError::io("create runtime root", e))?;
        // libcontainer reads the bundle's spec again itself; ours is for
        // the seccomp program and the OOM setting it leaves unapplied.
        let spec = Spec::load(bundle.join("config.json")).ok();
        if let Some(spec) = &spec {
            crate::seccomp_cache::prepare(
                spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()),
                &self.root.join(SECCOMP_CACHE),
            );
        }
        let container = self
            .builder(DockerExecutor::default(), io)?
            .validate_id()
            .map_err(lc_err)?
            .as_init(bundle)
            .with_systemd(false)
            .with_detach(true)
            .build()
            .map_err(lc_err)?;
        crate::private::restrict_dir(&self.root.join(&self.id));
        let pid = container.pid();
        self.container = Some(container);
        let Some(pid) = pid else {
            let _ = self.delete();
            return Err(RuntimeError::Libcontainer(
                "container has no init pid".into(),
            ));
        };
        // libcontainer 0.7 leaves this part of the spec unapplied (runc applies it).
        if spec.as_ref().is_some_and(oom_killer_disabled)
            && let Err(e) = crate::cgroup::disable_oom_killer(&self.cgroup_path(), &self.id)
        {
            let _ = self.delete();
            return Err(RuntimeError::Libcontainer(format!(
                "disable OOM killer: {e}"
            )));
        }
        Ok(pid)
    }

    fn start(&mut self) -> Result<(), RuntimeError> {
        self.container()?.start().map_err(lc_err)
    }

    fn pause(&mut self) -> Result<(), RuntimeError> {
        self.container()?
            .pause()
            .map_err(|e| RuntimeError::Libcontainer(format!("pause: {}", chain_text(&e))))
    }

    fn resume(&mut self) -> Result<(), RuntimeError> {
        self.container()?
            .resume()
            .map_err(|e| RuntimeError::Libcontainer(format!("resume: {}", chain_text(&e))))
    }

    fn paused(&self) -> bool {
        self.container
            .as_ref()
            .is_some_and(|c| c.status() == ContainerStatus::Paused)
    }

    fn update(&mut self, resources: &LinuxResources) -> Result<(), RuntimeError> {
        crate::cgroup::apply(&self.cgroup_path(), &self.id, resources, false)
    }

    fn pids(&self) -> Result<Vec<u32>, RuntimeError> {
        crate::cgroup::pids(&self.cgroup_path(), &self.id)
    }

    fn cgroup_path(&self) -> PathBuf {
        self.container
            .as_ref()
            .and_then(|c| c.spec().ok())
            .map(|s| s.cgroup_path)
            .unwrap_or_default()
    }

    fn delete(&mut self) -> Result<(), RuntimeError> {
        self.container()?.delete(true).map_err(lc_err)
    }

    fn exec(&mut self, process: &Path, io: Io) -> Result<Pid, RuntimeError> {
        let bundle = self.container()?.bundle().to_path_buf();
        let spec = Spec::load(bundle.join("config.json"))
            .map_err(|e| RuntimeError::Libcontainer(e.to_string()))?;
        let id = self.id.clone();
        join_user_namespace(self.container()?, &spec, &id)?;
        // libcontainer 0.7's tenant builder drops the container's seccomp
        // profile; our executor loads it just before execve.
        let executor = DockerExecutor {
            exec_seccomp: spec.linux().as_ref().and_then(|l| l.seccomp().clone()),
        };
        crate::seccomp_cache::prepare(
            executor.exec_seccomp.as_ref(),
            &self.root.join(SECCOMP_CACHE),
        );
        let console = io.console_socket.clone();
        let built = self
            .builder(executor, io)?
            .as_tenant()
            .with_process(Some(process))
            .with_detach(true)
            .build();
        let container_root = self.root.join(&self.id);
        // libcontainer leaves its tenant notify socket behind, made with our umask.
        crate::private::restrict_dir(&container_root);
        if let Some(socket) = &console {
            remove_tenant_links(&container_root, socket);
        }
        built.map_err(lc_err)
    }
}

/// libcontainer 0.7's tenant builder joins every namespace of the container
/// but its user namespace, so an exec in a remapped container would run as
/// real root. This helper (single-threaded here) joins it first. It moves
/// into the container's cgroup before, while it still may: its children
/// inherit the cgroup, and libcontainer, finding itself in a user
/// namespace, then tolerates not being allowed to write it.
fn join_user_namespace(container: &Container, spec: &Spec, id: &str) -> Result<(), RuntimeError> {
    use oci_spec::runtime::LinuxNamespaceType;
    let linux = spec.linux().as_ref();
    let has_userns = linux
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::User));
    if !has_userns {
        return Ok(());
    }
    let pid = container
        .pid()
        .ok_or_else(|| RuntimeError::Libcontainer("container has no init pid".into()))?;
    if let Some(cg) = linux.and_then(|l| l.cgroups_path().as_ref()) {
        crate::cgroup::join(cg, id, Pid::this())?;
    }
    let path = format!("/proc/{pid}/ns/user");
    let ns = std::fs::File::open(&path).map_err(|e| RuntimeError::io(format!("open {path}"), e))?;
    nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWUSER)
        .map_err(|e| RuntimeError::io(format!("join the user namespace {path}"), e.into()))
}

/// `linux.resources.memory.disableOOMKiller` of the bundle's spec.
fn oom_killer_disabled(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| *r.memory())
        .and_then(|m| m.disable_oom_killer())
        .unwrap_or(false)
}

/// The tenant builder links our console socket into the container's state
/// dir under a random name and leaves the link behind.
fn remove_tenant_links(container_root: &Path, socket: &Path) {
    let Ok(entries) = std::fs::read_dir(container_root) else {
        return;
    };
    for entry in entries.flatten() {
        let is_ours = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with("tenant-tty-"))
            && std::fs::read_link(entry.path()).is_ok_and(|target| target == socket);
        if is_ours {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Starts the created container `id` of the runtime root `root`, as
/// `berth runtime start` does, in the calling process: the shim calls it
/// rather than running the runtime for it. The libcontainer code it faults in
/// is given back with the shim's other start-up pages.
pub(crate) fn start(root: &Path, id: &str) -> Result<(), RuntimeError> {
    Builtin::new(id, root, Path::new("")).start()
}

/// Creates the container `id` of the runtime root `root` from `bundle`, as
/// `berth-runtime create` does, in a forked child of the calling process.
/// Forking spares the exec: a new image mapped, linked and relocated, and
/// glibc's start-up, ~1 ms of CPU per container on this kind of machine.
/// The child's pages, libcontainer's work among them, go with it, so the
/// long-lived caller carries none of it. The caller must be single-threaded
/// (the shim is, until its container exists). Returns the init's pid; once
/// the child has exited, the init is the caller's child (a subreaper's).
pub(crate) fn create_forked(
    root: &Path,
    id: &str,
    bundle: &Path,
    io: Io,
) -> Result<Pid, RuntimeError> {
    use nix::sys::wait::{WaitStatus, waitpid};
    use nix::unistd::ForkResult;
    use std::io::Read;

    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|e| RuntimeError::io("become a subreaper", e.into()))?;
    // Non-blocking: the answer is read once the child has exited, and the
    // init holds a copy of the write end until it execs (the container's
    // start), so no end of file comes. The answer fits in the pipe at once.
    let (answer_r, answer_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
            .map_err(|e| RuntimeError::io("pipe for the runtime's answer", e.into()))?;
    // SAFETY: the caller is single-threaded (this function's contract), so
    // the child may go on running ordinary code.
    match unsafe { nix::unistd::fork() } {
        Err(e) => Err(RuntimeError::io("fork the runtime", e.into())),
        Ok(ForkResult::Child) => {
            drop(answer_r);
            create_in_child(root, id, bundle, io, answer_w)
        }
        Ok(ForkResult::Parent { child }) => {
            drop(answer_w);
            // Our copies of the init's stdio: the child's are the ones it gets.
            drop(io);
            let status = waitpid(child, None)
                .map_err(|e| RuntimeError::io("wait for the runtime", e.into()))?;
            let mut answer = Vec::new();
            // WouldBlock ends what the child wrote.
            let _ = std::fs::File::from(answer_r).read_to_end(&mut answer);
            let answer = String::from_utf8_lossy(&answer);
            match status {
                WaitStatus::Exited(_, 0) => answer
                    .trim()
                    .parse::<i32>()
                    .map(Pid::from_raw)
                    .map_err(|_| {
                        RuntimeError::Libcontainer(format!(
                            "the runtime answered {answer:?} instead of a pid"
                        ))
                    }),
                _ if !answer.is_empty() => Err(RuntimeError::Libcontainer(answer.into_owned())),
                other => Err(RuntimeError::Libcontainer(format!(
                    "berth runtime create: {other:?}"
                ))),
            }
        }
    }
}

/// The longest answer of a forked create: one atomic pipe write.
const ANSWER_MAX: usize = libc::PIPE_BUF;

/// The forked child of [`create_forked`]: creates, writes the init's pid
/// (or the runtime's words for the failure) to `answer`, and exits without
/// returning into its parent's code.
fn create_in_child(root: &Path, id: &str, bundle: &Path, io: Io, answer: OwnedFd) -> ! {
    use std::io::Write;

    let created = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // As a runtime CLI's: nothing of the caller's own stdio (the
        // daemon's readiness pipe) may reach the container.
        null_stdio()?;
        Builtin::new(id, root, root).create(bundle, io)
    }))
    .unwrap_or_else(|_| Err(RuntimeError::Libcontainer("the runtime panicked".into())));
    let (code, mut text) = match created {
        Ok(pid) => (0, pid.as_raw().to_string()),
        Err(e) => (1, e.into_runtime_words()),
    };
    // The parent reads only once we have exited: all of it must fit in the
    // pipe at once.
    if text.len() > ANSWER_MAX {
        let mut end = ANSWER_MAX;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    let _ = std::fs::File::from(answer).write_all(text.as_bytes());
    // SAFETY: ends the child at once: none of the parent's atexit handlers
    // or buffered output may run twice.
    unsafe { libc::_exit(code) }
}

/// Points fds 0-2 at /dev/null.
fn null_stdio() -> Result<(), RuntimeError> {
    let null = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| RuntimeError::io("open /dev/null", e))?;
    for fd in 0..=2 {
        // SAFETY: dup2 onto the standard descriptors, which this process
        // owns; no Rust object holds them.
        if unsafe { libc::dup2(null.as_raw_fd(), fd) } < 0 {
            return Err(RuntimeError::io(
                "point stdio at /dev/null",
                std::io::Error::last_os_error(),
            ));
        }
    }
    Ok(())
}

/// libcontainer's text, with our executor's typed errors recovered from it.
fn lc_err(e: libcontainer::error::LibcontainerError) -> RuntimeError {
    let text = chain_text(&e);
    crate::exe::classify(&text).unwrap_or(RuntimeError::Libcontainer(text))
}
