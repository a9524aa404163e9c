//! The consistent key-value store the cluster keeps its state in, with
//! etcd v3's semantics behind one object-safe trait:
//!
//! - [`store`]: the [`KvStore`] trait and its types (revisions, compares and
//!   ops of transactions, watches, leases, compaction) and [`KvError`].
//! - [`memory`]: [`MemoryStore`], in process, for unit tests of everything
//!   built on the store (lease expiry on `tokio::time`).
//! - [`etcd`]: [`EtcdStore`] over etcd's gRPC API, TLS with client
//!   certificates, member management.
//! - [`member`]: [`EtcdMember`], an etcd member run as a child process;
//!   [`supervise`]: [`SupervisedMember`], one started again when it dies.
//! - [`election`]: leader election on any store; [`json`]: serde values.
//! - [`suite`] (feature `suite`): the conformance suite every store passes,
//!   and helpers that start a throwaway etcd for tests.

pub mod election;
pub mod etcd;
pub mod json;
pub mod member;
pub mod memory;
pub mod store;
#[cfg(any(test, feature = "suite"))]
pub mod suite;
pub mod supervise;

pub use election::{Election, Leadership};
pub use etcd::{EtcdOptions, EtcdStore, MemberAdded, MemberInfo, TlsFiles};
pub use member::{ClusterState, EtcdMember, MemberConfig, MemberError};
pub use memory::MemoryStore;
pub use store::{
    BoxFuture, CmpOp, Compare, CompareTarget, KeyValue, KvError, KvResult, KvStore, LeaseId,
    Listing, MAX_TXN_OPS, Op, OpResponse, TxnResult, Watch, WatchEvent,
};
pub use supervise::SupervisedMember;
