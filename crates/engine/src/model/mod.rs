//! The engine's data model: the Docker-shaped configuration the API
//! carries and the container's persisted definition and state. A leaf:
//! every other module of the engine depends on it, and it on nothing of the
//! engine (only on serde and the `network` crate's value types).

mod container;
mod json;
mod mounts;
mod network;
mod state;

pub use container::*;
pub(crate) use json::null_as_default;
pub use json::{is_set, str_slice};
pub use mounts::{MountKind, MountPoint};
pub use network::{
    EndpointConfig, EndpointState, ModeKind, NetworkState, PublishedPort, mode_kind,
};
pub use state::{Health, HealthLog, State, Status};
