//! [`EtcdMember`]: one etcd member run as a child process, as a manager runs
//! its own under `<data-root>/cluster/etcd`: the `etcd` binary on given
//! addresses, with peer and client TLS (client certificates required) when
//! certificate files are given, its log in `<data-dir>/etcd.log`. `start`
//! waits until the member answers; `stop` and drop end it (SIGTERM, then
//! SIGKILL), so a test that panics leaves no etcd behind.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::etcd::{EtcdOptions, EtcdStore, TlsFiles};
use crate::store::KvError;

/// What starting or stopping a member fails with.
#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    #[error("etcd not found: install the etcd-server package (apt-get install etcd-server)")]
    NotFound,
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("etcd member {name} exited while starting ({status}); its log ends with:\n{log_tail}")]
    Exited {
        name: String,
        status: String,
        log_tail: String,
    },
    #[error(
        "etcd member {name} did not answer on {url} within {timeout:?} ({last_error}); \
         its log ends with:\n{log_tail}"
    )]
    StartTimeout {
        name: String,
        url: String,
        timeout: Duration,
        last_error: String,
        log_tail: String,
    },
    #[error(transparent)]
    Kv(#[from] KvError),
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> MemberError + use<> {
    let path = path.to_path_buf();
    move |source| MemberError::Io { op, path, source }
}

/// `--initial-cluster-state`: `New` bootstraps a cluster (every member of
/// `initial_cluster` starts with `New`), `Existing` joins one after
/// [`EtcdStore::member_add`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterState {
    New,
    Existing,
}

/// How to run one member.
#[derive(Debug, Clone)]
pub struct MemberConfig {
    pub name: String,
    /// etcd's data directory (created 0700); the log goes in it too.
    pub data_dir: PathBuf,
    /// Where clients and peers connect: concrete addresses, since they are
    /// advertised as they are.
    pub client_addr: SocketAddr,
    pub peer_addr: SocketAddr,
    /// `--initial-cluster` (`name=peer-url,…`); `None`: this member alone.
    pub initial_cluster: Option<String>,
    pub cluster_state: ClusterState,
    pub cluster_token: String,
    /// Client listener TLS, client certificates required. The member's own
    /// certificate is also what [`EtcdMember::connect`] and the start-up
    /// health check present, so it needs the client-auth usage too.
    pub client_tls: Option<TlsFiles>,
    /// Peer listener TLS, peer certificates required.
    pub peer_tls: Option<TlsFiles>,
    /// The binary; `None`: `etcd` on `PATH`.
    pub binary: Option<PathBuf>,
    /// How long `start` waits for the member to answer.
    pub start_timeout: Duration,
    /// Sends the member SIGKILL when the thread that started it ends (Linux
    /// `PR_SET_PDEATHSIG`), so not even a killed test process leaves it
    /// running. Only for a starting thread that lives as long as the member:
    /// a pool thread that retires would take the member with it.
    pub die_with_parent: bool,
    /// Descriptors of this process the member keeps across exec, at the
    /// same numbers (their close-on-exec flag is cleared in the child
    /// only): a file it reads as `/proc/self/fd/N`, such as a key kept in
    /// memory, then names the same file in this process and in the member.
    /// The caller keeps them open until the member has started.
    pub inherit_fds: Vec<RawFd>,
    /// `--force-new-cluster`: start as the only member of a new cluster
    /// that keeps the data (recovery after the quorum was lost). Once: the
    /// member must not be started with it again.
    pub force_new_cluster: bool,
    /// More flags, appended as given (e.g. `--heartbeat-interval=50`).
    pub extra_args: Vec<String>,
}

impl MemberConfig {
    /// A member alone in a new cluster, without TLS.
    pub fn new(
        name: impl Into<String>,
        data_dir: impl Into<PathBuf>,
        client_addr: SocketAddr,
        peer_addr: SocketAddr,
    ) -> Self {
        MemberConfig {
            name: name.into(),
            data_dir: data_dir.into(),
            client_addr,
            peer_addr,
            initial_cluster: None,
            cluster_state: ClusterState::New,
            cluster_token: "berth".into(),
            client_tls: None,
            peer_tls: None,
            binary: None,
            start_timeout: Duration::from_secs(30),
            die_with_parent: false,
            inherit_fds: Vec::new(),
            force_new_cluster: false,
            extra_args: Vec::new(),
        }
    }

    pub fn client_url(&self) -> String {
        url(self.client_tls.is_some(), self.client_addr)
    }

    pub fn peer_url(&self) -> String {
        url(self.peer_tls.is_some(), self.peer_addr)
    }

    fn args(&self) -> Vec<OsString> {
        let client = self.client_url();
        let peer = self.peer_url();
        let initial = self
            .initial_cluster
            .clone()
            .unwrap_or_else(|| format!("{}={peer}", self.name));
        let state = match self.cluster_state {
            ClusterState::New => "new",
            ClusterState::Existing => "existing",
        };
        let mut args: Vec<OsString> = vec![
            format!("--name={}", self.name).into(),
            flag_path("--data-dir", &self.data_dir),
            format!("--listen-client-urls={client}").into(),
            format!("--advertise-client-urls={client}").into(),
            format!("--listen-peer-urls={peer}").into(),
            format!("--initial-advertise-peer-urls={peer}").into(),
            format!("--initial-cluster={initial}").into(),
            format!("--initial-cluster-state={state}").into(),
            format!("--initial-cluster-token={}", self.cluster_token).into(),
            // zap (3.4's default is the deprecated capnslog) on stderr, which
            // goes to the log file.
            "--logger=zap".into(),
            "--log-outputs=stderr".into(),
        ];
        if let Some(t) = &self.client_tls {
            args.push(flag_path("--cert-file", &t.cert));
            args.push(flag_path("--key-file", &t.key));
            args.push(flag_path("--trusted-ca-file", &t.ca));
            args.push("--client-cert-auth".into());
        }
        if let Some(t) = &self.peer_tls {
            args.push(flag_path("--peer-cert-file", &t.cert));
            args.push(flag_path("--peer-key-file", &t.key));
            args.push(flag_path("--peer-trusted-ca-file", &t.ca));
            args.push("--peer-client-cert-auth".into());
        }
        if self.force_new_cluster {
            args.push("--force-new-cluster".into());
        }
        args.extend(self.extra_args.iter().map(OsString::from));
        args
    }
}

fn url(tls: bool, addr: SocketAddr) -> String {
    format!("{}://{addr}", if tls { "https" } else { "http" })
}

fn flag_path(flag: &str, path: &Path) -> OsString {
    let mut s = OsString::from(format!("{flag}="));
    s.push(path.as_os_str());
    s
}

fn find_binary(config: &MemberConfig) -> Result<PathBuf, MemberError> {
    if let Some(b) = &config.binary {
        return if b.is_file() {
            Ok(b.clone())
        } else {
            Err(MemberError::NotFound)
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("etcd"))
        .find(|p| p.is_file())
        .ok_or(MemberError::NotFound)
}

/// The end of a log for errors a person reads: its last lines, preceded
/// by the lines that say what went wrong when those scrolled out (etcd
/// prints its usage after a bad flag, after the line that names it).
fn log_tail(path: &Path) -> String {
    const MAX: u64 = 16 * 1024;
    const LINES: usize = 15;
    let Ok(mut f) = File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(MAX)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    let cut = lines.len().saturating_sub(LINES);
    let errors: Vec<&str> = lines[..cut]
        .iter()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            ["error", "fatal", "panic", "not defined", "invalid"]
                .iter()
                .any(|w| l.contains(w))
        })
        .take(5)
        .copied()
        .collect();
    let mut out = errors.join("\n");
    if !errors.is_empty() {
        out.push_str("\n…\n");
    }
    out.push_str(&lines[cut..].join("\n"));
    out
}

/// A running etcd member; stopped (SIGTERM, then SIGKILL) on
/// [`stop`](Self::stop) or drop.
#[derive(Debug)]
pub struct EtcdMember {
    config: MemberConfig,
    child: Option<Child>,
    log: PathBuf,
}

impl EtcdMember {
    /// Spawns the member and waits until it answers a read (so it has
    /// joined a cluster with a leader). Fails with the tail of its log when
    /// it exits or does not answer within `start_timeout`.
    pub async fn start(config: MemberConfig) -> Result<Self, MemberError> {
        let binary = find_binary(&config)?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&config.data_dir)
            .map_err(io("create", &config.data_dir))?;
        let log = config.data_dir.join("etcd.log");
        // Root's only, as the data dir: the log names members and addresses.
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&log)
            .map_err(io("open", &log))?;
        let err = out.try_clone().map_err(io("open", &log))?;
        let mut cmd = Command::new(&binary);
        cmd.args(config.args())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        // etcd reads ETCD_* variables as flags: only the config given counts.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("ETCD_") {
                cmd.env_remove(k);
            }
        }
        if config.die_with_parent {
            // SAFETY: the closure runs in the child between fork and exec and
            // only calls prctl(2), which is async-signal-safe and touches no
            // memory of the parent.
            unsafe {
                cmd.pre_exec(|| {
                    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)
                });
            }
        }
        if !config.inherit_fds.is_empty() {
            let fds = config.inherit_fds.clone();
            // SAFETY: the closure runs in the child between fork and exec and
            // only calls fcntl(2) on descriptors the parent keeps open, which
            // is async-signal-safe and allocates nothing.
            unsafe {
                cmd.pre_exec(move || {
                    for &fd in &fds {
                        nix::fcntl::fcntl(
                            fd,
                            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
                        )
                        .map_err(std::io::Error::from)?;
                    }
                    Ok(())
                });
            }
        }
        let child = cmd.spawn().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => MemberError::NotFound,
            _ => MemberError::Io {
                op: "spawn",
                path: binary.clone(),
                source: e,
            },
        })?;
        let mut member = EtcdMember {
            config,
            child: Some(child),
            log,
        };
        member.wait_healthy().await?;
        Ok(member)
    }

    async fn wait_healthy(&mut self) -> Result<(), MemberError> {
        let url = self.config.client_url();
        let started = Instant::now();
        let opts = EtcdOptions {
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(2),
            ..EtcdOptions::default()
        };
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(MemberError::Exited {
                    name: self.config.name.clone(),
                    status: status.to_string(),
                    log_tail: log_tail(&self.log),
                });
            }
            match EtcdStore::connect_with(
                std::slice::from_ref(&url),
                self.config.client_tls.as_ref(),
                opts.clone(),
            )
            .await
            {
                Ok(_) => return Ok(()),
                Err(e) if started.elapsed() >= self.config.start_timeout => {
                    return Err(MemberError::StartTimeout {
                        name: self.config.name.clone(),
                        url,
                        timeout: self.config.start_timeout,
                        last_error: e.to_string(),
                        log_tail: log_tail(&self.log),
                    });
                }
                Err(_) => {}
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn config(&self) -> &MemberConfig {
        &self.config
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn client_url(&self) -> String {
        self.config.client_url()
    }

    pub fn peer_url(&self) -> String {
        self.config.peer_url()
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// How the member ended, once it has (reaped here); `None` while it runs.
    pub fn exited(&mut self) -> Option<String> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => {
                self.child = None;
                Some(status.to_string())
            }
            _ => None,
        }
    }

    /// A client of this member alone, presenting the member's own client
    /// certificate.
    pub async fn connect(&self) -> Result<EtcdStore, KvError> {
        EtcdStore::connect(&[self.client_url()], self.config.client_tls.as_ref()).await
    }

    /// SIGKILL now, as a crash (tests of failover).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then SIGKILL when it has not exited within 10 s.
    pub async fn stop(mut self) -> Result<(), MemberError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match child.try_wait() {
                Ok(Some(_)) => return Ok(()),
                Ok(None) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                _ => {
                    let _ = child.kill();
                    child.wait().map_err(io("wait for", &self.log))?;
                    return Ok(());
                }
            }
        }
    }
}

impl Drop for EtcdMember {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // Blocking, briefly: drop cannot await, and the process must be gone
        // before the data directory (often a temp dir dropped next) goes.
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_files_turn_on_tls_with_client_certificates() {
        let mut c = MemberConfig::new(
            "m1",
            "/var/lib/berth/cluster/etcd",
            "10.0.0.1:2379".parse().unwrap(),
            "10.0.0.1:2380".parse().unwrap(),
        );
        let plain: Vec<String> = c
            .args()
            .iter()
            .map(|a| a.to_string_lossy().into())
            .collect();
        assert!(plain.contains(&"--initial-cluster=m1=http://10.0.0.1:2380".to_string()));
        assert!(plain.contains(&"--initial-cluster-state=new".to_string()));
        assert!(!plain.iter().any(|a| a.contains("cert")));
        let files = TlsFiles {
            ca: "/pki/ca.pem".into(),
            cert: "/pki/m1.crt".into(),
            key: "/pki/m1.key".into(),
        };
        c.client_tls = Some(files.clone());
        c.peer_tls = Some(files);
        c.cluster_state = ClusterState::Existing;
        c.initial_cluster = Some("m0=https://10.0.0.2:2380,m1=https://10.0.0.1:2380".into());
        let tls: Vec<String> = c
            .args()
            .iter()
            .map(|a| a.to_string_lossy().into())
            .collect();
        for want in [
            "--listen-client-urls=https://10.0.0.1:2379",
            "--advertise-client-urls=https://10.0.0.1:2379",
            "--initial-advertise-peer-urls=https://10.0.0.1:2380",
            "--initial-cluster-state=existing",
            "--initial-cluster=m0=https://10.0.0.2:2380,m1=https://10.0.0.1:2380",
            "--trusted-ca-file=/pki/ca.pem",
            "--client-cert-auth",
            "--peer-cert-file=/pki/m1.crt",
            "--peer-key-file=/pki/m1.key",
            "--peer-client-cert-auth",
        ] {
            assert!(tls.contains(&want.to_string()), "{want} in {tls:?}");
        }
    }

    #[test]
    fn a_log_tail_keeps_the_error_that_scrolled_out() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("etcd.log");
        let mut text = String::from("flag provided but not defined: -x\n");
        for i in 0..40 {
            text.push_str(&format!("usage line {i}\n"));
        }
        fs::write(&log, text).unwrap();
        let tail = log_tail(&log);
        assert!(tail.starts_with("flag provided but not defined"), "{tail}");
        assert!(tail.ends_with("usage line 39"));
        assert!(!tail.contains("usage line 20\n"));
        assert!(log_tail(&dir.path().join("none")).contains("no log"));
    }
}
