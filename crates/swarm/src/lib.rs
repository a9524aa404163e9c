//! berth's swarm mode. This crate holds what sits between the pure cluster
//! model (`cluster`), the store it lives in (`kvstore`, etcd) and the engine
//! that runs containers: the PKI and join tokens, the managers' control API,
//! the leader's reconcile loop, and the agent every node runs.

pub mod local;
pub mod pki;
pub mod tls;
