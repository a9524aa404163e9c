//! Docker's swarm API types as moby's `api/types/swarm` marshals them
//! (PascalCase names, `omitempty` as `skip_serializing_if`, durations as
//! integer nanoseconds, times as RFC 3339 with trimmed nanoseconds), so a
//! spec a client sends comes back exactly as sent.

pub mod common;
pub mod container;
pub mod defaults;
pub mod network;
pub mod node;
pub mod secret;
pub mod service;
pub mod swarm;
pub mod task;

#[cfg(test)]
mod roundtrip_tests;

pub use common::{Annotations, Driver, Meta, Timestamp, TlsInfo, Version};
pub use container::{
    ConfigReference, ContainerSpec, DnsConfig, FileTarget, HealthConfig, Mount, Privileges,
    PullOptions, SecretReference, Ulimit,
};
pub use network::{
    Endpoint, EndpointSpec, EndpointVirtualIp, IpamConfig, IpamOptions, Network, NetworkAttachment,
    NetworkAttachmentConfig, NetworkSpec, PortConfig,
};
pub use node::{
    EngineDescription, ManagerStatus, Node, NodeDescription, NodeSpec, NodeState, NodeStatus,
    Reachability,
};
pub use secret::{Config, ConfigSpec, Secret, SecretSpec};
pub use service::{
    GlobalJob, GlobalService, JobStatus, ModeKind, ReplicatedJob, ReplicatedService, Service,
    ServiceMode, ServiceSpec, ServiceStatus, UpdateConfig, UpdateState, UpdateStatus,
};
pub use swarm::{ClusterInfo, JoinTokens, Swarm, SwarmSpec};
pub use task::{
    ContainerStatus, DiscreteGenericResource, GenericResource, Limit, NamedGenericResource,
    NetworkAttachmentSpec, Placement, PlacementPreference, Platform, ResourceRequirements,
    Resources, RestartPolicy, SpreadOver, Task, TaskSpec, TaskState, TaskStatus, UNHEALTHY,
};
