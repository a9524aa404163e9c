//! The Docker API called from the dashboard's own Rust code (an app's
//! rollout, a stack's deploy), in-process as the page's calls are: the
//! API's own [`api::InProcess`].

pub use api::InProcess;
pub use router::q;
