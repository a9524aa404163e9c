//! A manager's store: its own etcd member (started, supervised, given its
//! certificate, its key held in memory) or the external etcd of
//! `--cluster-store`.

use super::*;

/// How a manager's etcd member starts.
#[derive(Clone, Copy)]
pub(super) enum MemberStart<'a> {
    /// A new cluster (init), or the cluster its data dir records (restart).
    Own,
    /// Added to a running cluster, with this `--initial-cluster`.
    Join(&'a str),
    /// Alone in a new cluster that keeps the data (`--force-new-cluster`).
    ForceNew,
}

/// What a manager's etcd member runs with once started.
pub(super) struct StoreParts {
    /// `None` with an external store.
    pub(super) member: Option<SupervisedMember>,
    pub(super) client: EtcdStore,
    pub(super) key: Option<MemoryFile>,
}

impl Swarm {
    /// Starts this manager's etcd member and connects to the store.
    pub(super) async fn start_store(
        &self,
        membership: &Membership,
        member_key: &str,
        start: MemberStart<'_>,
    ) -> Result<StoreParts> {
        let managed = membership
            .store
            .as_ref()
            .is_some_and(|s| s.member.is_some());
        if !managed {
            return self.connect_external(membership).await;
        }
        let key = MemoryFile::new(member_key.as_bytes()).map_err(|e| {
            SwarmError::internal(format!("holding the cluster store's key in memory: {e}"))
        })?;
        let dir = self.local.etcd_tls_dir();
        let tls = TlsFiles {
            ca: dir.join("ca.pem"),
            cert: dir.join("member.pem"),
            key: key.path(),
        };
        let member = self.start_member(membership, &tls, &key, start).await?;
        let member = SupervisedMember::new(member, Some(self.local.dir().join("etcd.pid")));
        let client = self.connect(membership, &tls).await?;
        Ok(StoreParts {
            member: Some(member),
            client,
            key: Some(key),
        })
    }

    /// A manager of a cluster kept in an etcd the operator runs: the
    /// endpoints and client certificate of this daemon's `--cluster-store`.
    pub(super) async fn connect_external(&self, membership: &Membership) -> Result<StoreParts> {
        let Some(external) = &self.opts.cluster_store else {
            return Err(SwarmError::new(
                ErrorKind::Unavailable,
                format!(
                    "this manager's cluster keeps its state in an external etcd ({}): start the daemon with --cluster-store",
                    membership
                        .store
                        .as_ref()
                        .map(|s| s.endpoints.join(","))
                        .unwrap_or_default()
                ),
            ));
        };
        let client = EtcdStore::connect(&external.endpoints, external.tls.as_ref())
            .await
            .map_err(|e| {
                SwarmError::new(
                    ErrorKind::Unavailable,
                    format!("the cluster store {}: {e}", external.endpoints.join(",")),
                )
            })?;
        Ok(StoreParts {
            member: None,
            client,
            key: None,
        })
    }

    /// Starts (or restarts) this manager's etcd member with TLS from the CA.
    pub(super) async fn start_member(
        &self,
        membership: &Membership,
        tls: &TlsFiles,
        key: &MemoryFile,
        start: MemberStart<'_>,
    ) -> Result<EtcdMember> {
        let settings = membership
            .store
            .as_ref()
            .and_then(|s| s.member.as_ref())
            .ok_or_else(|| SwarmError::internal("this manager's etcd member is not recorded"))?;
        let addr = |url: &str| -> Result<SocketAddr> {
            url.trim_start_matches("https://")
                .parse()
                .map_err(|e| SwarmError::internal(format!("etcd address {url}: {e}")))
        };
        let mut config = MemberConfig::new(
            settings.name.clone(),
            self.local.etcd_dir(),
            addr(&settings.client_url)?,
            addr(&settings.peer_url)?,
        );
        config.client_tls = Some(tls.clone());
        config.peer_tls = Some(tls.clone());
        config.inherit_fds = vec![key.raw()];
        // A member added to a running cluster starts `existing` with the
        // membership it was given; a restart reads it from its data dir.
        match start {
            MemberStart::Join(initial) => {
                config.cluster_state = ClusterState::Existing;
                config.initial_cluster = Some(initial.to_string());
            }
            MemberStart::Own => config.cluster_state = ClusterState::New,
            MemberStart::ForceNew => config.force_new_cluster = true,
        }
        config.cluster_token = membership.cluster_id.clone();
        config.binary = self.opts.etcd_binary.clone();
        // A member a killed daemon left running holds the ports and the
        // data dir: it goes first (a graceful stop took it down already).
        let pidfile = self.local.dir().join("etcd.pid");
        stop_stale_member(&pidfile, &self.local.etcd_dir());
        EtcdMember::start(config)
            .await
            .map_err(|e| SwarmError::internal(format!("starting the cluster store: {e}")))
    }

    pub(super) async fn connect(
        &self,
        membership: &Membership,
        tls: &TlsFiles,
    ) -> Result<EtcdStore> {
        let endpoints = membership
            .store
            .as_ref()
            .map(|s| s.endpoints.clone())
            .unwrap_or_default();
        EtcdStore::connect(&endpoints, Some(tls))
            .await
            .map_err(|e| SwarmError::new(ErrorKind::Unavailable, format!("the cluster store: {e}")))
    }

    /// The member's certificate (server and client auth, for its own
    /// address and loopback) and the CA, as files etcd reads; its key goes
    /// with the other private files (wrapped under autolock) and is
    /// returned for the member to read from memory.
    pub(super) fn issue_member_cert(
        &self,
        membership: &Membership,
        ca: &ClusterCa,
        unlock: Option<&UnlockKey>,
    ) -> Result<Zeroizing<String>> {
        let dir = self.local.etcd_tls_dir();
        let host = membership
            .advertise_addr
            .parse::<SocketAddr>()
            .map(|a| a.ip().to_string())
            .map_err(|e| SwarmError::internal(format!("advertise address: {e}")))?;
        let (cert, key) = ca.issue_server(&[host, "127.0.0.1".into(), "localhost".into()])?;
        let key = Zeroizing::new(key);
        let write = |p: &std::path::Path, data: &str| {
            std::os::unix::fs::DirBuilderExt::mode(
                std::fs::DirBuilder::new().recursive(true),
                0o700,
            )
            .create(&dir)
            .and_then(|()| cas::write_atomic(p, data.as_bytes()))
            .map_err(|e| SwarmError::internal(format!("{}: {e}", p.display())))
        };
        write(&dir.join("ca.pem"), ca.cert_pem())?;
        write(&dir.join("member.pem"), &cert)?;
        self.local.write_private(Private::MemberKey, &key, unlock)?;
        Ok(key)
    }
}

/// A file in memory only (a memfd): the etcd member's plain key. etcd
/// reads its key file again at every TLS handshake, so the key must stay a
/// readable file while the member runs, yet under autolock it must never be
/// on disk. Its `/proc/self/fd/N` path names it in this process and, the
/// descriptor being handed down at the same number, in the member; other
/// children never get it (close-on-exec).
pub(super) struct MemoryFile(std::os::fd::OwnedFd);

impl MemoryFile {
    pub(super) fn new(data: &[u8]) -> std::io::Result<MemoryFile> {
        use std::io::Write as _;
        let fd = nix::sys::memfd::memfd_create(
            c"berth-etcd-member-key",
            nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC,
        )?;
        let mut file = std::fs::File::from(fd);
        file.write_all(data)?;
        Ok(MemoryFile(file.into()))
    }

    pub(super) fn raw(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.0)
    }

    pub(super) fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.raw()))
    }
}

/// Kills the etcd recorded in `pidfile` if it still runs on `data_dir`
/// (the pid may have been reused by anything else: the command line says).
pub(super) fn stop_stale_member(pidfile: &std::path::Path, data_dir: &std::path::Path) {
    let Some(pid) = std::fs::read_to_string(pidfile)
        .ok()
        .and_then(|p| p.trim().parse::<i32>().ok())
    else {
        return;
    };
    let ours = |pid: i32| {
        std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|c| {
                let c = String::from_utf8_lossy(&c).replace('\0', " ");
                c.contains("etcd") && c.contains(&*data_dir.to_string_lossy())
            })
            .unwrap_or(false)
    };
    if !ours(pid) {
        return;
    }
    tracing::warn!("swarm: stopping the etcd member (pid {pid}) an earlier run left behind");
    let pid = nix::unistd::Pid::from_raw(pid);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    for _ in 0..100 {
        if !ours(pid.as_raw()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
