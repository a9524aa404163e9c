//! [`SupervisedMember`]: a managed etcd member that comes back when its
//! process dies (killed, out of memory, a crash), as a manager's store must:
//! its daemon's client and cluster port depend on it, and the rest of the
//! cluster counts it in the quorum. Restarts reuse the member's data
//! directory, so it rejoins its cluster as the member it was.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::member::{EtcdMember, MemberConfig, MemberError};

/// How often the process is checked; a dead member is back within about
/// this plus its start time.
const CHECK_EVERY: Duration = Duration::from_millis(500);

struct Shared {
    member: tokio::sync::Mutex<Option<EtcdMember>>,
    config: MemberConfig,
    /// No restarts: the member is leaving its cluster (or stopping).
    paused: AtomicBool,
    pidfile: Option<PathBuf>,
}

/// A running member and the task that restarts it; stop it with
/// [`stop`](Self::stop) (dropping it stops the member too).
pub struct SupervisedMember {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl SupervisedMember {
    /// Watches `member`; its pid is written to `pidfile` at every start, so
    /// a daemon killed before it stopped the member can find it.
    pub fn new(member: EtcdMember, pidfile: Option<PathBuf>) -> SupervisedMember {
        let mut config = member.config().clone();
        // A restart rejoins the cluster the data dir records.
        config.force_new_cluster = false;
        write_pid(pidfile.as_ref(), member.pid());
        let shared = Arc::new(Shared {
            member: tokio::sync::Mutex::new(Some(member)),
            config,
            paused: AtomicBool::new(false),
            pidfile,
        });
        let task = tokio::spawn(watch(shared.clone()));
        SupervisedMember { shared, task }
    }

    /// No more restarts (before the member is removed from its cluster,
    /// which ends its process).
    pub fn pause(&self) {
        self.shared.paused.store(true, Ordering::SeqCst);
    }

    pub async fn pid(&self) -> Option<u32> {
        self.shared
            .member
            .lock()
            .await
            .as_ref()
            .and_then(EtcdMember::pid)
    }

    /// Stops supervising, then the member (SIGTERM, then SIGKILL).
    pub async fn stop(self) -> Result<(), MemberError> {
        self.pause();
        self.task.abort();
        let member = self.shared.member.lock().await.take();
        match member {
            Some(m) => m.stop().await,
            None => Ok(()),
        }
    }
}

impl Drop for SupervisedMember {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn write_pid(pidfile: Option<&PathBuf>, pid: Option<u32>) {
    if let (Some(path), Some(pid)) = (pidfile, pid) {
        let tmp = path.with_extension("tmp");
        if std::fs::write(&tmp, pid.to_string())
            .and_then(|()| std::fs::rename(&tmp, path))
            .is_err()
        {
            tracing::warn!("etcd member: writing {}", path.display());
        }
    }
}

async fn watch(shared: Arc<Shared>) {
    loop {
        tokio::time::sleep(CHECK_EVERY).await;
        if shared.paused.load(Ordering::SeqCst) {
            continue;
        }
        let mut guard = shared.member.lock().await;
        let status = match guard.as_mut() {
            Some(m) => match m.exited() {
                Some(status) => status,
                None => continue,
            },
            None => "not running".into(),
        };
        tracing::warn!(
            "etcd member {} ended ({status}): starting it again",
            shared.config.name
        );
        *guard = None;
        match EtcdMember::start(shared.config.clone()).await {
            Ok(m) => {
                write_pid(shared.pidfile.as_ref(), m.pid());
                tracing::info!("etcd member {} is back", shared.config.name);
                *guard = Some(m);
            }
            Err(e) => tracing::error!("etcd member {}: {e}", shared.config.name),
        }
    }
}
