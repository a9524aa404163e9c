//! [`KeyKeeper`]: keeps one manager's private files wrapped with the
//! cluster's current unlock key, following the cluster record.

use std::time::Duration;

use crate::autolock::UnlockKey;
use crate::error::{ErrorKind, SwarmError};
use crate::local::{LocalState, ManagerKeys};
use crate::manager::SwarmRecord;
use crate::store::{ClusterStore, Kind};

/// Keeps one manager's private files wrapped with the cluster's current
/// unlock key (plain when autolock is off): every manager runs one, so a
/// key turned on, rotated or off on any manager reaches all of them.
pub struct KeyKeeper {
    local: LocalState,
    store: ClusterStore,
    held: tokio::sync::Mutex<Held>,
}

struct Held {
    keys: ManagerKeys,
    /// What the files are wrapped with now.
    unlock: Option<UnlockKey>,
}

impl KeyKeeper {
    pub fn new(
        local: LocalState,
        store: ClusterStore,
        keys: ManagerKeys,
        unlock: Option<UnlockKey>,
    ) -> KeyKeeper {
        KeyKeeper {
            local,
            store,
            held: tokio::sync::Mutex::new(Held { keys, unlock }),
        }
    }

    /// The keys held and the unlock key the files are wrapped with (a
    /// manager restarting its store, as `--force-new-cluster` does).
    pub async fn held(&self) -> (ManagerKeys, Option<UnlockKey>) {
        let held = self.held.lock().await;
        (held.keys.clone(), held.unlock.clone())
    }

    /// Re-wraps the files if the cluster's key is not the one they have.
    /// The record is read under the lock, so of two syncs the last one
    /// always leaves the newest key.
    pub async fn sync(&self) -> Result<(), SwarmError> {
        let mut held = self.held.lock().await;
        let record = self
            .store
            .get::<SwarmRecord>(Kind::Swarm, "cluster")
            .await?
            .value;
        let want = record.unlock_key(&held.keys.data_key)?;
        if want != held.unlock {
            self.local
                .rewrap(&held.keys, held.unlock.as_ref(), want.as_ref())?;
            tracing::info!(
                "swarm: this manager's keys are now {}",
                if want.is_some() {
                    "wrapped with the cluster's unlock key"
                } else {
                    "unencrypted (autolock is off)"
                }
            );
            held.unlock = want;
        }
        Ok(())
    }

    /// Follows the cluster record until the returned task is aborted. The
    /// watch is in place before the first sync, so no change falls between.
    pub fn spawn(self: std::sync::Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let key = self.store.key(Kind::Swarm, "cluster");
            loop {
                let mut watch = match self.store.kv().watch(&key, 0).await {
                    Ok(w) => w,
                    Err(e) => {
                        tracing::debug!("swarm autolock watch: {e}");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                loop {
                    if let Err(e) = self.sync().await {
                        // Tried again after a pause: a lost quorum ends too.
                        if e.kind == ErrorKind::Unavailable {
                            tracing::debug!("swarm: keeping this manager's keys wrapped: {e}");
                        } else {
                            tracing::warn!("swarm: keeping this manager's keys wrapped: {e}");
                        }
                        break;
                    }
                    if watch.next().await.is_err() {
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    }
}
