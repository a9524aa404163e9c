//! Swarm mode's model and control logic, with no I/O: Docker's swarm API
//! types, spec validation, placement constraints, the scheduler, the
//! orchestrators (replicated, global, jobs, restarts, history) and the
//! rolling updater. Time and ids are passed in, so every decision is a pure
//! function of its inputs and the leader loop only reads, calls and writes.

pub mod constraint;
pub mod error;
pub mod ids;
pub mod model;

pub use error::{ClusterError, ErrorKind};
pub use ids::{IdSource, RandomIds, SequentialIds};
pub mod orchestrator;
pub mod scheduler;
#[cfg(test)]
pub(crate) mod testutil;
pub mod updater;
pub mod validate;
