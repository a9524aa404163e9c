//! [`MemoryStore`]: the whole store in one process, with etcd's semantics, for
//! the unit tests of everything built on a [`KvStore`] (orchestrators,
//! scheduler, API): fast and deterministic. History is kept for watches from
//! past revisions until compacted; leases end on `tokio::time`, so a test
//! with `tokio::time::pause()` drives expiry with `advance`.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::store::{
    BoxFuture, Compare, CompareTarget, KeyValue, KvError, KvResult, KvStore, LeaseId, Listing, Op,
    OpResponse, TxnResult, Watch, WatchEvent, WatchItem, check_branch,
};

/// The in-memory store. Clones share one store; when the last clone is
/// dropped every watch ends with `Unavailable`, as it does on [`close`](Self::close).
#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Mutex<State>>,
}

struct State {
    revision: i64,
    compacted: i64,
    kvs: BTreeMap<String, KeyValue>,
    /// The events of every revision since the compaction point, oldest first.
    history: VecDeque<(i64, Vec<WatchEvent>)>,
    watchers: Vec<Watcher>,
    leases: HashMap<i64, Lease>,
    last_lease: i64,
    closed: bool,
}

impl Default for State {
    fn default() -> Self {
        State {
            // etcd starts at revision 1 too: its first write is revision 2.
            revision: 1,
            compacted: 0,
            kvs: BTreeMap::new(),
            history: VecDeque::new(),
            watchers: Vec::new(),
            leases: HashMap::new(),
            last_lease: 0,
            closed: false,
        }
    }
}

struct Watcher {
    prefix: String,
    tx: mpsc::UnboundedSender<WatchItem>,
}

struct Lease {
    ttl: Duration,
    deadline: Instant,
    keys: BTreeSet<String>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the store unreachable, as a lost etcd: every request fails with
    /// `Unavailable` and every watch ends with it.
    pub fn close(&self) {
        let mut st = self.inner.lock();
        st.closed = true;
        for w in st.watchers.drain(..) {
            let _ =
                w.tx.send(Err(KvError::Unavailable("the store was closed".into())));
        }
    }

    /// Expires leases whose deadline passed; the timer task does the same,
    /// this closes the gap between a deadline and the task's next poll so
    /// expiry is exact under a paused clock too.
    fn expire_due(st: &mut State) {
        let now = Instant::now();
        let mut due: Vec<i64> = st
            .leases
            .iter()
            .filter(|(_, l)| l.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        due.sort_unstable();
        for id in due {
            st.revoke(id);
        }
    }

    fn locked<T>(&self, f: impl FnOnce(&mut State) -> KvResult<T>) -> KvResult<T> {
        let mut st = self.inner.lock();
        if st.closed {
            return Err(KvError::Unavailable("the store was closed".into()));
        }
        Self::expire_due(&mut st);
        f(&mut st)
    }

    /// The lease's timer: sleeps until its deadline, which refreshes move,
    /// and ends it there. Holds the store weakly so a dropped store ends it.
    fn spawn_timer(store: Weak<Mutex<State>>, id: i64, first: Instant) {
        tokio::spawn(async move {
            let mut deadline = first;
            loop {
                tokio::time::sleep_until(deadline).await;
                let Some(inner) = store.upgrade() else { return };
                let mut st = inner.lock();
                match st.leases.get(&id) {
                    None => return,
                    Some(l) if l.deadline > Instant::now() => deadline = l.deadline,
                    Some(_) => {
                        if !st.closed {
                            st.revoke(id);
                        }
                        return;
                    }
                }
            }
        });
    }
}

impl State {
    fn compare(&self, c: &Compare) -> bool {
        let kv = self.kvs.get(&c.key);
        match &c.target {
            CompareTarget::Value(v) => kv.is_some_and(|kv| c.op.holds(&kv.value, v)),
            CompareTarget::ModRevision(n) => c.op.holds(&kv.map_or(0, |kv| kv.mod_revision), n),
            CompareTarget::CreateRevision(n) => {
                c.op.holds(&kv.map_or(0, |kv| kv.create_revision), n)
            }
            CompareTarget::Version(n) => c.op.holds(&kv.map_or(0, |kv| kv.version), n),
        }
    }

    fn put(&mut self, rev: i64, key: &str, value: &[u8], lease: Option<LeaseId>) -> WatchEvent {
        let (create_revision, version, old_lease) = match self.kvs.get(key) {
            Some(old) => (old.create_revision, old.version + 1, old.lease),
            None => (rev, 1, None),
        };
        if old_lease != lease {
            if let Some(l) = old_lease.and_then(|l| self.leases.get_mut(&l.0)) {
                l.keys.remove(key);
            }
            if let Some(l) = lease.and_then(|l| self.leases.get_mut(&l.0)) {
                l.keys.insert(key.to_string());
            }
        }
        let kv = KeyValue {
            key: key.to_string(),
            value: value.to_vec(),
            create_revision,
            mod_revision: rev,
            version,
            lease,
        };
        self.kvs.insert(key.to_string(), kv.clone());
        WatchEvent::Put(kv)
    }

    fn delete(&mut self, rev: i64, key: &str) -> Option<WatchEvent> {
        let prev = self.kvs.remove(key)?;
        if let Some(l) = prev.lease.and_then(|l| self.leases.get_mut(&l.0)) {
            l.keys.remove(key);
        }
        Some(WatchEvent::Delete {
            key: key.to_string(),
            mod_revision: rev,
            prev: Some(prev),
        })
    }

    /// Records one revision's events and hands each watcher its part.
    fn commit(&mut self, rev: i64, events: Vec<WatchEvent>) {
        if events.is_empty() {
            return;
        }
        self.revision = rev;
        self.watchers.retain(|w| {
            let mine: Vec<WatchEvent> = events
                .iter()
                .filter(|e| e.key().starts_with(&w.prefix))
                .cloned()
                .collect();
            // A watcher whose receiver is gone is dropped here.
            mine.is_empty() || w.tx.send(Ok(mine)).is_ok()
        });
        self.history.push_back((rev, events));
    }

    fn revoke(&mut self, id: i64) -> bool {
        let Some(lease) = self.leases.remove(&id) else {
            return false;
        };
        let rev = self.revision + 1;
        // etcd deletes a lease's keys in one transaction, in key order.
        let events = lease
            .keys
            .iter()
            .filter_map(|k| self.delete(rev, k))
            .collect();
        self.commit(rev, events);
        true
    }

    fn txn(&mut self, compares: &[Compare], success: &[Op], failure: &[Op]) -> KvResult<TxnResult> {
        check_branch(success)?;
        check_branch(failure)?;
        if compares.len() > crate::store::MAX_TXN_OPS {
            return Err(KvError::InvalidArgument(
                "too many operations in txn request".into(),
            ));
        }
        let succeeded = compares.iter().all(|c| self.compare(c));
        let ops = if succeeded { success } else { failure };
        for op in ops {
            if let Op::Put {
                lease: Some(lease), ..
            } = op
                && !self.leases.contains_key(&lease.0)
            {
                return Err(KvError::LeaseNotFound(*lease));
            }
        }
        let rev = self.revision + 1;
        let mut events = Vec::new();
        let mut responses = Vec::with_capacity(ops.len());
        for op in ops {
            match op {
                Op::Put { key, value, lease } => {
                    events.push(self.put(rev, key, value, *lease));
                    responses.push(OpResponse::Put);
                }
                Op::Delete { key } => {
                    let ev = self.delete(rev, key);
                    responses.push(OpResponse::Delete {
                        deleted: i64::from(ev.is_some()),
                    });
                    events.extend(ev);
                }
                Op::DeletePrefix { prefix } => {
                    let keys: Vec<String> = self
                        .kvs
                        .range(prefix.clone()..)
                        .take_while(|(k, _)| k.starts_with(prefix.as_str()))
                        .map(|(k, _)| k.clone())
                        .collect();
                    let before = events.len();
                    events.extend(keys.iter().filter_map(|k| self.delete(rev, k)));
                    responses.push(OpResponse::Delete {
                        deleted: (events.len() - before) as i64,
                    });
                }
                Op::Get { key } => responses.push(OpResponse::Get(self.kvs.get(key).cloned())),
            }
        }
        self.commit(rev, events);
        Ok(TxnResult {
            succeeded,
            revision: self.revision,
            responses,
        })
    }
}

fn ttl_of(ttl: Duration) -> KvResult<Duration> {
    if ttl.is_zero() {
        return Err(KvError::InvalidArgument(
            "a lease needs a TTL above zero".into(),
        ));
    }
    Ok(ttl)
}

impl KvStore for MemoryStore {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, KvResult<Option<KeyValue>>> {
        let r = self.locked(|st| {
            if key.is_empty() {
                return Err(KvError::InvalidArgument("key is not provided".into()));
            }
            Ok(st.kvs.get(key).cloned())
        });
        Box::pin(async move { r })
    }

    fn range<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, KvResult<Listing>> {
        let r = self.locked(|st| {
            let kvs = st
                .kvs
                .range(prefix.to_string()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(_, kv)| kv.clone())
                .collect();
            Ok(Listing {
                kvs,
                revision: st.revision,
            })
        });
        Box::pin(async move { r })
    }

    fn txn(
        &self,
        compares: Vec<Compare>,
        on_success: Vec<Op>,
        on_failure: Vec<Op>,
    ) -> BoxFuture<'_, KvResult<TxnResult>> {
        let r = self.locked(|st| st.txn(&compares, &on_success, &on_failure));
        Box::pin(async move { r })
    }

    fn watch<'a>(&'a self, prefix: &'a str, start_revision: i64) -> BoxFuture<'a, KvResult<Watch>> {
        let r = self.locked(|st| {
            let (tx, rx) = mpsc::unbounded_channel();
            if start_revision > 0 && start_revision < st.compacted {
                let _ = tx.send(Err(KvError::Compacted {
                    compact_revision: st.compacted,
                }));
            } else {
                if start_revision > 0 {
                    // Replays history under the lock, so nothing written
                    // between the replay and the registration is missed.
                    for (rev, events) in &st.history {
                        if *rev < start_revision {
                            continue;
                        }
                        let mine: Vec<WatchEvent> = events
                            .iter()
                            .filter(|e| e.key().starts_with(prefix))
                            .cloned()
                            .collect();
                        if !mine.is_empty() {
                            let _ = tx.send(Ok(mine));
                        }
                    }
                }
                st.watchers.push(Watcher {
                    prefix: prefix.to_string(),
                    tx,
                });
            }
            Ok(Watch::new(UnboundedReceiverStream::new(rx)))
        });
        Box::pin(async move { r })
    }

    fn grant(&self, ttl: Duration) -> BoxFuture<'_, KvResult<LeaseId>> {
        Box::pin(async move {
            let ttl = ttl_of(ttl)?;
            let (id, deadline) = self.locked(|st| {
                st.last_lease += 1;
                let id = st.last_lease;
                let deadline = Instant::now() + ttl;
                st.leases.insert(
                    id,
                    Lease {
                        ttl,
                        deadline,
                        keys: BTreeSet::new(),
                    },
                );
                Ok((id, deadline))
            })?;
            Self::spawn_timer(Arc::downgrade(&self.inner), id, deadline);
            Ok(LeaseId(id))
        })
    }

    fn keep_alive(&self, lease: LeaseId) -> BoxFuture<'_, KvResult<Duration>> {
        let r = self.locked(|st| match st.leases.get_mut(&lease.0) {
            Some(l) => {
                l.deadline = Instant::now() + l.ttl;
                Ok(l.ttl)
            }
            None => Err(KvError::LeaseNotFound(lease)),
        });
        Box::pin(async move { r })
    }

    fn revoke(&self, lease: LeaseId) -> BoxFuture<'_, KvResult<()>> {
        let r = self.locked(|st| {
            if st.revoke(lease.0) {
                Ok(())
            } else {
                Err(KvError::LeaseNotFound(lease))
            }
        });
        Box::pin(async move { r })
    }

    fn compact(&self, revision: i64) -> BoxFuture<'_, KvResult<()>> {
        let r = self.locked(|st| {
            if revision <= st.compacted {
                return Err(KvError::Compacted {
                    compact_revision: st.compacted,
                });
            }
            if revision > st.revision {
                return Err(KvError::FutureRevision { revision });
            }
            st.compacted = revision;
            while st.history.front().is_some_and(|(rev, _)| *rev < revision) {
                st.history.pop_front();
            }
            Ok(())
        });
        Box::pin(async move { r })
    }

    fn revision(&self) -> BoxFuture<'_, KvResult<i64>> {
        let r = self.locked(|st| Ok(st.revision));
        Box::pin(async move { r })
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.inner.lock();
        f.debug_struct("MemoryStore")
            .field("revision", &st.revision)
            .field("keys", &st.kvs.len())
            .finish()
    }
}
