//! Reconcile scenarios run through the simulator in `testutil`.

mod global;
mod jobs;
mod replicated;
mod restarts;
mod status;
