//! berth's built-in runtime: youki's libcontainer in the calling process.
//! It forks and changes the cwd, so it must run single-threaded.

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

/// The init pid of the container `id` that `berth-runtime create` made in
/// the runtime root `root`, from the state libcontainer saved.
pub(crate) fn init_pid(root: &Path, id: &str) -> Result<Pid, RuntimeError> {
    Container::load(root.join(id))
        .map_err(lc_err)?
        .pid()
        .ok_or_else(|| RuntimeError::Libcontainer("container has no init pid".into()))
}

/// libcontainer's text, with our executor's typed errors recovered from it.
fn lc_err(e: libcontainer::error::LibcontainerError) -> RuntimeError {
    let text = chain_text(&e);
    crate::exe::classify(&text).unwrap_or(RuntimeError::Libcontainer(text))
}
