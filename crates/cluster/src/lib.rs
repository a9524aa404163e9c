//! Swarm mode's model and control logic, with no I/O: Docker's swarm API
//! types, spec validation, placement constraints, the scheduler, the
//! orchestrators (replicated, global, jobs, restarts, history) and the
//! rolling updater. Time and ids are passed in, so every decision is a pure
//! function of its inputs and the leader loop only reads, calls and writes:
//!
//! - API writes: `validate::*` then `updater::{create_service,
//!   apply_service_update, rollback_service}` build the object to store.
//! - Per service, on any change to it, its tasks or the nodes, or at
//!   `Changes::wake_at`: `orchestrator::reconcile_service(snapshot, now,
//!   ids)` returns tasks to create, update and delete and the service when
//!   its update status moved.
//! - Pending tasks: `scheduler::schedule(nodes, assigned, pending)` then
//!   `Decisions::apply` gives the tasks to write back.

pub mod constraint;
pub mod error;
pub mod ids;
pub mod model;
pub mod orchestrator;
pub mod scheduler;
pub mod updater;
pub mod validate;

#[cfg(test)]
pub(crate) mod testutil;

pub use error::{ClusterError, ErrorKind};
pub use ids::{IdSource, RandomIds, SequentialIds};
