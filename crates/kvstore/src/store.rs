//! The [`KvStore`] trait and its types, with etcd v3's semantics: one
//! store-wide revision that every write transaction bumps by one, per-key
//! create/mod revisions and versions, all-or-nothing transactions guarded by
//! compares, watches from a past revision until compaction, and leases that
//! delete their keys when they end. Every implementation ([`crate::MemoryStore`],
//! [`crate::EtcdStore`]) passes the one suite ([`crate::suite`]).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures_util::{Stream, StreamExt};

/// Boxed so the trait stays object-safe: the cluster holds `Arc<dyn KvStore>`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
pub type KvResult<T> = Result<T, KvError>;

/// What the stores fail with. Reconcilers treat every error of a watch as
/// "re-list"; the API maps `Unavailable` to a 503 and a failed compare (not
/// an error: [`TxnResult::succeeded`]) to "update out of sequence".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    /// The store cannot be reached or has no quorum (etcd: no leader, timeouts,
    /// transport errors; memory: closed). Writes may or may not have applied.
    #[error("key-value store unavailable: {0}")]
    Unavailable(String),
    /// The revision asked for is older than the compaction point. From a watch
    /// the point is exact; from [`KvStore::compact`] on etcd it is the revision
    /// asked for (etcd does not say its point).
    #[error("revision has been compacted (compaction point {compact_revision})")]
    Compacted { compact_revision: i64 },
    #[error("revision {revision} is a future revision")]
    FutureRevision { revision: i64 },
    #[error("lease {0} not found")]
    LeaseNotFound(LeaseId),
    /// A request the store refuses as malformed: empty key, a key written
    /// twice in one transaction, a TTL out of range.
    #[error("invalid request: {0}")]
    InvalidArgument(String),
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// Refused by the server for another reason (etcd's message).
    #[error("key-value store refused the request: {0}")]
    Rejected(String),
    /// Bad client configuration: endpoints, certificate files.
    #[error("key-value store configuration: {0}")]
    Config(String),
    #[error("value of {key} as JSON: {message}")]
    Json { key: String, message: String },
}

impl KvError {
    /// Whether retrying the same request later may succeed.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, KvError::Unavailable(_))
    }
}

/// A lease's id (etcd's int64, shown in hex as etcdctl shows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeaseId(pub i64);

impl fmt::Display for LeaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}", self.0)
    }
}

/// One key as stored. `create_revision` is the revision of the write that
/// created this incarnation of the key, `mod_revision` of the last write,
/// `version` counts writes since creation (1 after the create).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Vec<u8>,
    pub create_revision: i64,
    pub mod_revision: i64,
    pub version: i64,
    pub lease: Option<LeaseId>,
}

/// A prefix's keys (sorted by key) as of `revision`, the store's revision
/// when they were read: watch from `revision + 1` to miss nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Listing {
    pub kvs: Vec<KeyValue>,
    pub revision: i64,
}

/// How a compare relates the key's field to the given operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Equal,
    NotEqual,
    Less,
    Greater,
}

impl CmpOp {
    pub(crate) fn holds<T: Ord + ?Sized>(self, actual: &T, operand: &T) -> bool {
        match self {
            CmpOp::Equal => actual == operand,
            CmpOp::NotEqual => actual != operand,
            CmpOp::Less => actual < operand,
            CmpOp::Greater => actual > operand,
        }
    }
}

/// The field a compare looks at, with its operand. A missing key has
/// revisions and version 0; a `Value` compare on a missing key is false
/// whatever the operator (etcd's rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompareTarget {
    ModRevision(i64),
    CreateRevision(i64),
    Version(i64),
    Value(Vec<u8>),
}

/// One guard of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compare {
    pub key: String,
    pub op: CmpOp,
    pub target: CompareTarget,
}

impl Compare {
    pub fn new(key: impl Into<String>, op: CmpOp, target: CompareTarget) -> Self {
        Compare {
            key: key.into(),
            op,
            target,
        }
    }

    /// The key does not exist (creates: name uniqueness, elections).
    pub fn absent(key: impl Into<String>) -> Self {
        Compare::new(key, CmpOp::Equal, CompareTarget::CreateRevision(0))
    }

    /// The key exists.
    pub fn exists(key: impl Into<String>) -> Self {
        Compare::new(key, CmpOp::Greater, CompareTarget::CreateRevision(0))
    }

    /// The key was last written at `revision` (Docker's `Version.Index`).
    pub fn mod_revision(key: impl Into<String>, revision: i64) -> Self {
        Compare::new(key, CmpOp::Equal, CompareTarget::ModRevision(revision))
    }

    /// This incarnation of the key was created at `revision`.
    pub fn create_revision(key: impl Into<String>, revision: i64) -> Self {
        Compare::new(key, CmpOp::Equal, CompareTarget::CreateRevision(revision))
    }

    pub fn version(key: impl Into<String>, version: i64) -> Self {
        Compare::new(key, CmpOp::Equal, CompareTarget::Version(version))
    }

    pub fn value(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Compare::new(key, CmpOp::Equal, CompareTarget::Value(value.into()))
    }
}

/// One operation of a transaction branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Put {
        key: String,
        value: Vec<u8>,
        lease: Option<LeaseId>,
    },
    Delete {
        key: String,
    },
    /// Every key starting with `prefix` ("" is every key).
    DeletePrefix {
        prefix: String,
    },
    /// Reads the key as the transaction sees it (after the branch's earlier ops).
    Get {
        key: String,
    },
}

/// etcd's default `--max-txn-ops`: per branch, and for the compares.
/// The in-memory store refuses bigger transactions as etcd does, so code
/// that writes in batches is tested against the limit it meets in production.
pub const MAX_TXN_OPS: usize = 128;

impl Op {
    /// Bytes the op puts on the wire (key and value), for sizing batches.
    pub fn size(&self) -> usize {
        match self {
            Op::Put { key, value, .. } => key.len() + value.len(),
            Op::Delete { key } | Op::Get { key } => key.len(),
            Op::DeletePrefix { prefix } => prefix.len(),
        }
    }

    pub fn put(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Op::Put {
            key: key.into(),
            value: value.into(),
            lease: None,
        }
    }

    pub fn put_with_lease(
        key: impl Into<String>,
        value: impl Into<Vec<u8>>,
        lease: LeaseId,
    ) -> Self {
        Op::Put {
            key: key.into(),
            value: value.into(),
            lease: Some(lease),
        }
    }

    pub fn delete(key: impl Into<String>) -> Self {
        Op::Delete { key: key.into() }
    }

    pub fn delete_prefix(prefix: impl Into<String>) -> Self {
        Op::DeletePrefix {
            prefix: prefix.into(),
        }
    }

    pub fn get(key: impl Into<String>) -> Self {
        Op::Get { key: key.into() }
    }
}

/// What one op of the branch taken did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResponse {
    Put,
    /// How many keys the `Delete`/`DeletePrefix` removed.
    Delete {
        deleted: i64,
    },
    Get(Option<KeyValue>),
}

/// The outcome of [`KvStore::txn`]: which branch ran, the store's revision
/// after it (the writes' revision when it wrote; a transaction that changed
/// nothing does not bump it), and one response per op of that branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnResult {
    pub succeeded: bool,
    pub revision: i64,
    pub responses: Vec<OpResponse>,
}

impl TxnResult {
    /// The values the branch's `Get` ops read, in order.
    pub fn reads(&self) -> impl Iterator<Item = Option<&KeyValue>> {
        self.responses.iter().filter_map(|r| match r {
            OpResponse::Get(kv) => Some(kv.as_ref()),
            _ => None,
        })
    }
}

/// One change a watch reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    Put(KeyValue),
    /// `mod_revision` is the revision of the delete; `prev` the value before
    /// it (etcd leaves it out when that value was compacted already).
    Delete {
        key: String,
        mod_revision: i64,
        prev: Option<KeyValue>,
    },
}

impl WatchEvent {
    pub fn key(&self) -> &str {
        match self {
            WatchEvent::Put(kv) => &kv.key,
            WatchEvent::Delete { key, .. } => key,
        }
    }

    /// The revision of the write that caused this event.
    pub fn revision(&self) -> i64 {
        match self {
            WatchEvent::Put(kv) => kv.mod_revision,
            WatchEvent::Delete { mod_revision, .. } => *mod_revision,
        }
    }
}

pub(crate) type WatchItem = KvResult<Vec<WatchEvent>>;

/// The changes under a prefix, as batches of events in revision order; a
/// batch never splits a revision. Every error ends the watch (compaction,
/// the store gone, …): the watcher re-lists and watches again. Dropping it
/// cancels the watch.
pub struct Watch {
    stream: Pin<Box<dyn Stream<Item = WatchItem> + Send>>,
    ended: bool,
}

impl Watch {
    pub(crate) fn new(stream: impl Stream<Item = WatchItem> + Send + 'static) -> Self {
        Watch {
            stream: Box::pin(stream),
            ended: false,
        }
    }

    /// The next batch (never empty). After an error every call fails.
    pub async fn next(&mut self) -> KvResult<Vec<WatchEvent>> {
        if self.ended {
            return Err(KvError::Unavailable("the watch has ended".into()));
        }
        let item = self
            .stream
            .next()
            .await
            .unwrap_or_else(|| Err(KvError::Unavailable("the store closed the watch".into())));
        if item.is_err() {
            self.ended = true;
        }
        item
    }
}

impl fmt::Debug for Watch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watch").field("ended", &self.ended).finish()
    }
}

/// A consistent key-value store with etcd v3 semantics.
pub trait KvStore: Send + Sync {
    /// The key's current value.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, KvResult<Option<KeyValue>>>;

    /// Every key starting with `prefix` ("" is every key), sorted by key.
    fn range<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, KvResult<Listing>>;

    /// If every compare holds, runs `on_success`, else `on_failure`; all or
    /// nothing, at one new revision when anything changed. A branch may not
    /// write a key twice (`InvalidArgument`); a put with a lease that does
    /// not exist fails the whole transaction with `LeaseNotFound`.
    fn txn(
        &self,
        compares: Vec<Compare>,
        on_success: Vec<Op>,
        on_failure: Vec<Op>,
    ) -> BoxFuture<'_, KvResult<TxnResult>>;

    /// Every change under `prefix` with revision ≥ `start_revision` (0: from
    /// the next write on). The watch is in place when this resolves. A start
    /// older than the compaction point yields `Compacted` as the first item.
    fn watch<'a>(&'a self, prefix: &'a str, start_revision: i64) -> BoxFuture<'a, KvResult<Watch>>;

    /// A lease that ends `ttl` after its last refresh (etcd: rounded up to
    /// whole seconds, at least its minimum TTL).
    fn grant(&self, ttl: Duration) -> BoxFuture<'_, KvResult<LeaseId>>;

    /// One refresh; the TTL it runs for from now. `LeaseNotFound` once ended.
    fn keep_alive(&self, lease: LeaseId) -> BoxFuture<'_, KvResult<Duration>>;

    /// Ends the lease now, deleting its keys (one revision, with events).
    fn revoke(&self, lease: LeaseId) -> BoxFuture<'_, KvResult<()>>;

    /// Forgets the history before `revision`: watches from older revisions
    /// fail with `Compacted`. A revision after the current one is
    /// `FutureRevision`, one at or before the last compaction `Compacted`.
    fn compact(&self, revision: i64) -> BoxFuture<'_, KvResult<()>>;

    /// Unconditional put; the revision it was written at.
    fn put<'a>(&'a self, key: &'a str, value: Vec<u8>) -> BoxFuture<'a, KvResult<i64>> {
        Box::pin(async move {
            let r = self.txn(vec![], vec![Op::put(key, value)], vec![]).await?;
            Ok(r.revision)
        })
    }

    /// Unconditional delete; whether the key existed.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, KvResult<bool>> {
        Box::pin(async move {
            let r = self.txn(vec![], vec![Op::delete(key)], vec![]).await?;
            Ok(matches!(r.responses.first(), Some(OpResponse::Delete { deleted }) if *deleted > 0))
        })
    }

    /// The store's current revision.
    fn revision(&self) -> BoxFuture<'_, KvResult<i64>> {
        Box::pin(async move {
            // A range of a key nobody writes: etcd answers every read with
            // the revision in its header.
            Ok(self.range("\u{0}berth-revision-probe").await?.revision)
        })
    }
}

/// How the checks of a branch see keys: etcd refuses a branch that writes
/// one key twice, or puts a key a delete range of the same branch covers.
pub(crate) fn check_branch(ops: &[Op]) -> KvResult<()> {
    if ops.len() > MAX_TXN_OPS {
        return Err(KvError::InvalidArgument(
            "too many operations in txn request".into(),
        ));
    }
    let mut puts: Vec<&str> = Vec::new();
    let mut deletes: Vec<(&str, bool)> = Vec::new();
    for op in ops {
        match op {
            Op::Put { key, .. } => {
                if key.is_empty() {
                    return Err(KvError::InvalidArgument("key is not provided".into()));
                }
                if puts.contains(&key.as_str()) {
                    return Err(KvError::InvalidArgument(format!(
                        "duplicate key given in txn request: {key}"
                    )));
                }
                puts.push(key);
            }
            Op::Delete { key } | Op::Get { key } if key.is_empty() => {
                return Err(KvError::InvalidArgument("key is not provided".into()));
            }
            Op::Delete { key } => deletes.push((key, false)),
            Op::DeletePrefix { prefix } => deletes.push((prefix, true)),
            Op::Get { .. } => {}
        }
    }
    for put in &puts {
        let covered = deletes.iter().any(|(d, prefix)| {
            if *prefix {
                put.starts_with(d)
            } else {
                put == d
            }
        });
        if covered {
            return Err(KvError::InvalidArgument(format!(
                "duplicate key given in txn request: {put}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_branch_may_not_write_a_key_twice() {
        assert!(check_branch(&[Op::put("a", "1"), Op::put("b", "2"), Op::get("a")]).is_ok());
        assert!(check_branch(&[Op::put("a", "1"), Op::put("a", "2")]).is_err());
        assert!(check_branch(&[Op::delete("a"), Op::put("a", "2")]).is_err());
        assert!(check_branch(&[Op::put("p/a", "1"), Op::delete_prefix("p/")]).is_err());
        assert!(check_branch(&[Op::put("pa", "1"), Op::delete_prefix("p/")]).is_ok());
        // Deletes may overlap each other (etcd allows it).
        assert!(check_branch(&[Op::delete("p/a"), Op::delete_prefix("p/")]).is_ok());
        assert!(check_branch(&[Op::get("")]).is_err());
    }

    #[test]
    fn operators_compare_actual_to_operand() {
        assert!(CmpOp::Less.holds(&1, &2));
        assert!(!CmpOp::Greater.holds(&1, &2));
        assert!(CmpOp::NotEqual.holds(b"a".as_slice(), b"b".as_slice()));
        assert_eq!(LeaseId(255).to_string(), "ff");
    }
}
