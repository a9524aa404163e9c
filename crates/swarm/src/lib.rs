//! berth's swarm mode. This crate holds what sits between the pure cluster
//! model (`cluster`), the store it lives in (`kvstore`, etcd) and the engine
//! that runs containers: the PKI and join tokens, the managers' control API,
//! the leader's reconcile loop, and the agent every node runs.

pub mod agent;
pub mod attacher;
pub mod autolock;
pub mod dispatcher;
pub mod error;
pub mod keeper;
pub mod labels;
pub mod leader;
pub mod local;
pub mod log_broker;
pub mod logs;
pub mod manager;
pub mod mirror;
pub mod netview;
pub mod node;
pub mod pki;
pub mod remote;
pub mod routes;
pub mod seal;
pub mod server;
pub mod store;
pub mod template;
pub mod tls;
pub mod validate;
pub mod wire;

use std::future::Future;
use std::pin::Pin;

/// Boxed so the agent's and dispatcher's traits stay object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The cluster port, etcd's client and peer ports.
pub const CLUSTER_PORT: u16 = 2377;
pub const ETCD_CLIENT_PORT: u16 = 2379;
pub const ETCD_PEER_PORT: u16 = 2380;

/// How often agents beat, and how long a node lives without a beat: a
/// node is down within `NODE_TTL` of its last heartbeat (the failover
/// figure of the issue: tasks elsewhere within 5 s).
pub const HEARTBEAT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
pub const NODE_TTL: std::time::Duration = std::time::Duration::from_secs(3);

/// Now, as the cluster's objects record times.
pub fn now() -> cluster::model::Timestamp {
    cluster::model::Timestamp(chrono::Utc::now())
}

/// Now as Docker's API writes times: RFC 3339 with nanoseconds, in UTC.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}
