//! Leader election on any [`KvStore`]: the leader is whoever created the
//! election's key, bound to a lease it keeps alive (a transaction with
//! `create_revision == 0`, as etcd's own election). Campaigners wait for the
//! key's deletion and try again; the key's value tells observers who leads.
//! Leadership ends when the lease ends (not refreshed in time, revoked), when
//! the key is deleted or replaced, or on resign/drop, which revokes the lease.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::store::{Compare, KeyValue, KvError, KvResult, KvStore, LeaseId, Op, WatchEvent};

/// Entry points of an election named by its key.
pub struct Election;

impl Election {
    /// Waits until this campaigner leads the election `name` (its key),
    /// publishing `value` there. The lease (`ttl`) is kept alive from the
    /// start, so waiting does not expire it; dropping the future withdraws.
    pub async fn campaign(
        store: Arc<dyn KvStore>,
        name: &str,
        value: impl Into<Vec<u8>>,
        ttl: Duration,
    ) -> KvResult<Leadership> {
        let value = value.into();
        let lease = store.grant(ttl).await?;
        let (lost_tx, lost_rx) = watch::channel(None);
        let lost_tx = Arc::new(lost_tx);
        let mut guard = LeaseGuard {
            store: store.clone(),
            lease,
            tasks: vec![tokio::spawn(keep_lease(
                store.clone(),
                lease,
                ttl,
                lost_tx.clone(),
            ))],
            armed: true,
        };
        let revision = loop {
            if let Some(reason) = lost_rx.borrow().clone() {
                return Err(KvError::Unavailable(format!(
                    "campaign for {name}: {reason}"
                )));
            }
            let r = store
                .txn(
                    vec![Compare::absent(name)],
                    vec![Op::put_with_lease(name, value.clone(), lease)],
                    vec![Op::get(name)],
                )
                .await?;
            if r.succeeded {
                break r.revision;
            }
            if r.reads().next().flatten().is_none() {
                continue; // deleted since the compare
            }
            wait_deleted(store.as_ref(), name, r.revision + 1, lost_rx.clone()).await?;
        };
        let period = refresh_period(ttl);
        guard.tasks.push(tokio::spawn(monitor(
            store.clone(),
            name.to_string(),
            revision,
            period,
            lost_tx,
        )));
        guard.armed = false;
        Ok(Leadership {
            store,
            key: name.to_string(),
            lease,
            revision,
            lost: lost_rx,
            tasks: std::mem::take(&mut guard.tasks),
            resigned: false,
        })
    }

    /// The current leader's key (its value is what the leader published),
    /// for observers; `None` while nobody leads.
    pub async fn leader(store: &dyn KvStore, name: &str) -> KvResult<Option<KeyValue>> {
        store.get(name).await
    }
}

/// Refresh three times per TTL, as etcd's clients do.
fn refresh_period(ttl: Duration) -> Duration {
    (ttl / 3).max(Duration::from_millis(50))
}

async fn wait_deleted(
    store: &dyn KvStore,
    key: &str,
    from: i64,
    mut lost: watch::Receiver<Option<String>>,
) -> KvResult<()> {
    let mut w = store.watch(key, from).await?;
    loop {
        tokio::select! {
            batch = w.next() => match batch {
                Ok(batch) => {
                    let gone = batch
                        .iter()
                        .any(|e| matches!(e, WatchEvent::Delete { key: k, .. } if k == key));
                    if gone {
                        return Ok(());
                    }
                }
                // Compacted and the like: try the create again, which
                // either wins or finds the holder and watches anew.
                Err(e) if !e.is_unavailable() => return Ok(()),
                Err(e) => return Err(e),
            },
            _ = lost.changed() => {
                let reason = lost.borrow().clone().unwrap_or_default();
                return Err(KvError::Unavailable(format!("campaign for {key}: {reason}")));
            }
        }
    }
}

/// Refreshes the lease until it is gone, or unrefreshed for a whole TTL
/// (then another campaigner may lead already: this one must stop).
async fn keep_lease(
    store: Arc<dyn KvStore>,
    lease: LeaseId,
    ttl: Duration,
    lost: Arc<watch::Sender<Option<String>>>,
) {
    let period = refresh_period(ttl);
    let mut last_ok = Instant::now();
    loop {
        tokio::time::sleep(period).await;
        match store.keep_alive(lease).await {
            Ok(_) => last_ok = Instant::now(),
            Err(KvError::LeaseNotFound(_)) => {
                lost.send_replace(Some(format!("lease {lease} ended")));
                return;
            }
            Err(e) if last_ok.elapsed() >= ttl => {
                lost.send_replace(Some(format!(
                    "lease {lease} not refreshed for {ttl:?}: {e}"
                )));
                return;
            }
            Err(_) => {}
        }
    }
}

/// Ends leadership when anyone touches the leader's key: a delete (lease
/// ended, revoked, removed by hand) or a put over it.
async fn monitor(
    store: Arc<dyn KvStore>,
    key: String,
    revision: i64,
    period: Duration,
    lost: Arc<watch::Sender<Option<String>>>,
) {
    let mut from = revision + 1;
    loop {
        if let Ok(mut w) = store.watch(&key, from).await {
            loop {
                match w.next().await {
                    Ok(batch) if batch.iter().any(|e| e.key() == key) => {
                        lost.send_replace(Some(format!(
                            "leader key {key} was deleted or replaced"
                        )));
                        return;
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        }
        // The watch ended (store unreachable, compacted): look at the key
        // itself, then watch again from there. The lease keeper decides when
        // unreachability has lasted too long.
        tokio::time::sleep(period).await;
        if let Ok(listing) = store.range(&key).await {
            let mine = listing
                .kvs
                .iter()
                .any(|kv| kv.key == key && kv.create_revision == revision);
            if !mine {
                lost.send_replace(Some(format!("leader key {key} was deleted or replaced")));
                return;
            }
            from = listing.revision + 1;
        }
    }
}

/// Revokes a campaign's lease when the campaign is abandoned.
struct LeaseGuard {
    store: Arc<dyn KvStore>,
    lease: LeaseId,
    tasks: Vec<JoinHandle<()>>,
    armed: bool,
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        if self.armed {
            revoke_later(self.store.clone(), self.lease);
        }
    }
}

/// Revokes in the background (drop cannot await); without a runtime the
/// lease simply runs out.
fn revoke_later(store: Arc<dyn KvStore>, lease: LeaseId) {
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(async move {
            let _ = store.revoke(lease).await;
        });
    }
}

/// Held by the leader. Dropping it resigns (in the background).
pub struct Leadership {
    store: Arc<dyn KvStore>,
    key: String,
    lease: LeaseId,
    revision: i64,
    lost: watch::Receiver<Option<String>>,
    tasks: Vec<JoinHandle<()>>,
    resigned: bool,
}

impl Leadership {
    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn lease(&self) -> LeaseId {
        self.lease
    }

    /// The leader key's create revision: grows with every new leadership, so
    /// it fences writes of a stale leader (compare it in their transactions).
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// Whether leadership is (as far as known) still held.
    pub fn is_leader(&self) -> bool {
        self.lost.borrow().is_none()
    }

    /// Resolves when leadership is lost, with the reason.
    pub async fn lost(&self) -> String {
        let mut rx = self.lost.clone();
        loop {
            if let Some(reason) = rx.borrow_and_update().clone() {
                return reason;
            }
            if rx.changed().await.is_err() {
                return "leadership monitor stopped".into();
            }
        }
    }

    /// Steps down now: revokes the lease, which deletes the key.
    pub async fn resign(mut self) -> KvResult<()> {
        self.resigned = true;
        for t in &self.tasks {
            t.abort();
        }
        match self.store.revoke(self.lease).await {
            Ok(()) | Err(KvError::LeaseNotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        if !self.resigned {
            revoke_later(self.store.clone(), self.lease);
        }
    }
}

impl std::fmt::Debug for Leadership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leadership")
            .field("key", &self.key)
            .field("lease", &self.lease)
            .field("revision", &self.revision)
            .field("is_leader", &self.is_leader())
            .finish()
    }
}
