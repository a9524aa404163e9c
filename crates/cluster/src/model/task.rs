//! Tasks and their template: `TaskSpec` (what a service asks of each task),
//! `Task` (one scheduled instance), and `TaskState` with swarmkit's order,
//! which every piece of control logic compares against.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::common::{Annotations, Driver, Meta, Timestamp, Version, is_zero_i64, is_zero_u64};
use super::container::ContainerSpec;
use super::network::{NetworkAttachment, NetworkAttachmentConfig, PortConfig};

/// What every task of a service is made from.
impl TaskSpec {
    /// Drops the registry credentials (`--with-registry-auth`), which only
    /// the nodes see.
    pub fn redact(&mut self) {
        if let Some(c) = self.container_spec.as_mut() {
            c.pull_options = None;
        }
    }
}

impl Task {
    /// The task as the API shows it (see [`TaskSpec::redact`]).
    pub fn redacted(mut self) -> Task {
        self.spec.redact();
        self
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_spec: Option<ContainerSpec>,
    /// Plugin tasks are passed through untouched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin_spec: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_attachment_spec: Option<NetworkAttachmentSpec>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<NetworkAttachmentConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_driver: Option<Driver>,
    /// A counter: changing it alone re-creates every task.
    pub force_update: u64,
    /// `container`, `plugin` or `attachment`; empty means container.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub runtime: String,
}

impl TaskSpec {
    /// The reservations the scheduler must find room for.
    pub fn reservations(&self) -> Option<&Resources> {
        self.resources
            .as_ref()
            .and_then(|r| r.reservations.as_ref())
    }

    pub fn constraints(&self) -> &[String] {
        self.placement
            .as_ref()
            .map_or(&[], |p| p.constraints.as_slice())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkAttachmentSpec {
    #[serde(rename = "ContainerID")]
    pub container_id: String,
}

/// Reservations (and node capacity): CPUs in billionths, memory in bytes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Resources {
    #[serde(rename = "NanoCPUs", skip_serializing_if = "is_zero_i64")]
    pub nano_cpus: i64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub memory_bytes: i64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub generic_resources: Vec<GenericResource>,
}

/// Limits; `Pids` exists only here, not in reservations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Limit {
    #[serde(rename = "NanoCPUs", skip_serializing_if = "is_zero_i64")]
    pub nano_cpus: i64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub memory_bytes: i64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub pids: i64,
}

/// A user-defined resource (GPUs, …): either a named item or a count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GenericResource {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub named_resource_spec: Option<NamedGenericResource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discrete_resource_spec: Option<DiscreteGenericResource>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NamedGenericResource {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub value: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DiscreteGenericResource {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub value: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ResourceRequirements {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reservations: Option<Resources>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swap_bytes: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_swappiness: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Placement {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub preferences: Vec<PlacementPreference>,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub max_replicas: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<Platform>,
}

/// Go has no `omitempty` on `Spread`: an unset one is `null`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PlacementPreference {
    pub spread: Option<SpreadOver>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SpreadOver {
    pub spread_descriptor: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Platform {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub architecture: String,
    #[serde(rename = "OS", skip_serializing_if = "String::is_empty")]
    pub os: String,
}

/// When and how often a stopped task is replaced. Durations in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    /// `none`, `on-failure` or `any`; empty means any.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub condition: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<i64>,
}

/// A task's lifecycle, in swarmkit's order: comparisons such as "desired
/// state at most running" or "observed state past running" drive every
/// reconciler, so the derive order is the contract.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    #[default]
    New,
    Pending,
    Allocated,
    Assigned,
    Accepted,
    Preparing,
    Ready,
    Starting,
    Running,
    Complete,
    Shutdown,
    Failed,
    Rejected,
    Remove,
    Orphaned,
}

impl TaskState {
    /// Stopped for good: the task will never run (again).
    pub fn is_terminal(self) -> bool {
        self > TaskState::Running
    }

    /// Placed on a node and not yet stopped.
    pub fn is_on_node(self) -> bool {
        (TaskState::Assigned..=TaskState::Running).contains(&self)
    }

    /// A terminal state the task reached by itself rather than by request:
    /// these count as failures for restart and update monitoring.
    pub fn is_failure(self) -> bool {
        matches!(self, TaskState::Failed | TaskState::Rejected)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::New => "new",
            TaskState::Pending => "pending",
            TaskState::Allocated => "allocated",
            TaskState::Assigned => "assigned",
            TaskState::Accepted => "accepted",
            TaskState::Preparing => "preparing",
            TaskState::Ready => "ready",
            TaskState::Starting => "starting",
            TaskState::Running => "running",
            TaskState::Complete => "complete",
            TaskState::Shutdown => "shutdown",
            TaskState::Failed => "failed",
            TaskState::Rejected => "rejected",
            TaskState::Remove => "remove",
            TaskState::Orphaned => "orphaned",
        }
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the agent (or the scheduler) last reported.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskStatus {
    pub timestamp: Timestamp,
    pub state: TaskState,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub err: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_status: Option<ContainerStatus>,
    pub port_status: PortStatus,
}

/// The message of a running task whose container's health check failed.
/// Its agent reports it at once, before it stops the container (which takes
/// the stop grace period, 10 s by default) and fails the task as dockerd's
/// does, so that routes, VIPs and DNS stop sending the task work within a
/// second instead of at its end.
pub const UNHEALTHY: &str = "unhealthy";

impl TaskStatus {
    /// Running, and not reported unhealthy: a task to send work to.
    pub fn serving(&self) -> bool {
        self.state == TaskState::Running && self.message != UNHEALTHY
    }

    /// Whether this status, reported for a task whose status is `stored`,
    /// is news: a later state, or a running task turning unhealthy.
    pub fn advances(&self, stored: &TaskStatus) -> bool {
        self.state > stored.state
            || (self.state == TaskState::Running
                && stored.state == TaskState::Running
                && self.message == UNHEALTHY
                && stored.message != UNHEALTHY)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerStatus {
    #[serde(rename = "ContainerID")]
    pub container_id: String,
    #[serde(rename = "PID")]
    pub pid: i64,
    pub exit_code: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortStatus {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortConfig>,
}

/// One instance of a service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Task {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(flatten)]
    pub meta: Meta,
    #[serde(flatten)]
    pub annotations: Annotations,
    pub spec: TaskSpec,
    #[serde(rename = "ServiceID", skip_serializing_if = "String::is_empty")]
    pub service_id: String,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub slot: u64,
    #[serde(rename = "NodeID", skip_serializing_if = "String::is_empty")]
    pub node_id: String,
    pub status: TaskStatus,
    pub desired_state: TaskState,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub networks_attachments: Vec<NetworkAttachment>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub generic_resources: Vec<GenericResource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_iteration: Option<Version>,
}

impl Task {
    /// Desired to run (or to run to completion): it holds its place on a
    /// node and in its slot.
    pub fn is_desired_active(&self) -> bool {
        self.desired_state <= TaskState::Complete
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_order_is_swarmkits() {
        use TaskState::*;
        let order = [
            New, Pending, Allocated, Assigned, Accepted, Preparing, Ready, Starting, Running,
            Complete, Shutdown, Failed, Rejected, Remove, Orphaned,
        ];
        for w in order.windows(2) {
            assert!(w[0] < w[1], "{} < {}", w[0], w[1]);
        }
        for s in order {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert_eq!(serde_json::from_str::<TaskState>(&json).unwrap(), s);
        }
    }

    #[test]
    fn state_helpers() {
        use TaskState::*;
        assert!(!Running.is_terminal());
        assert!(
            Complete.is_terminal()
                && Shutdown.is_terminal()
                && Failed.is_terminal()
                && Orphaned.is_terminal()
        );
        assert!(Assigned.is_on_node() && Running.is_on_node() && Starting.is_on_node());
        assert!(!Pending.is_on_node() && !Complete.is_on_node());
        assert!(
            Failed.is_failure()
                && Rejected.is_failure()
                && !Complete.is_failure()
                && !Shutdown.is_failure()
        );
    }

    #[test]
    fn task_json_shape() {
        let t = Task {
            id: "abc".into(),
            service_id: "svc".into(),
            slot: 2,
            desired_state: TaskState::Running,
            status: TaskStatus {
                state: TaskState::New,
                message: "created".into(),
                ..Default::default()
            },
            ..Default::default()
        };
        let v: serde_json::Value = serde_json::to_value(&t).unwrap();
        assert_eq!(v["ID"], "abc");
        assert_eq!(v["Version"], serde_json::json!({}));
        assert_eq!(v["Labels"], serde_json::json!({}));
        assert_eq!(v["Spec"], serde_json::json!({"ForceUpdate": 0}));
        assert_eq!(v["Slot"], 2);
        assert!(v.get("NodeID").is_none());
        assert_eq!(v["Status"]["State"], "new");
        assert_eq!(v["Status"]["PortStatus"], serde_json::json!({}));
        assert_eq!(v["DesiredState"], "running");
        let back: Task = serde_json::from_value(v).unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn global_task_has_no_slot() {
        let t = Task {
            node_id: "n1".into(),
            ..Default::default()
        };
        let v = serde_json::to_value(&t).unwrap();
        assert!(v.get("Slot").is_none());
        assert_eq!(v["NodeID"], "n1");
    }

    #[test]
    fn a_real_task_parses() {
        let json = r#"{"ID":"0ebxaxqxg3t7pwgvbm5sbxnqe","Version":{"Index":21},"CreatedAt":"2026-12-03T22:50:11.123456789Z",
        "UpdatedAt":"2026-12-03T22:50:13.5Z","Labels":{},"Spec":{"ContainerSpec":{"Image":"nginx:latest","Init":false},
        "Resources":{"Limits":{},"Reservations":{}},"RestartPolicy":{"Condition":"any","Delay":5000000000,"MaxAttempts":0},
        "Placement":{},"ForceUpdate":0},"ServiceID":"kz1t4q9y0ykq7m3n0m2bh6t1r","Slot":1,"NodeID":"x4c0ihx2ni0yd6bz6nq0vn3vc",
        "Status":{"Timestamp":"2026-12-03T22:50:13.4Z","State":"running","Message":"started",
        "ContainerStatus":{"ContainerID":"4f1b","PID":1234,"ExitCode":0},"PortStatus":{}},
        "DesiredState":"running","NetworksAttachments":[{"Network":{"ID":"ing","Version":{"Index":6},
        "CreatedAt":"2026-12-03T22:49:00Z","UpdatedAt":"2026-12-03T22:49:00Z","Spec":{"Name":"ingress","Labels":{},
        "DriverConfiguration":{},"Ingress":true,"IPAMOptions":{"Driver":{},"Configs":[{"Subnet":"10.0.0.0/24","Gateway":"10.0.0.1"}]},
        "Scope":"swarm"},"DriverState":{"Name":"overlay","Options":{"com.docker.network.driver.overlay.vxlanid_list":"4096"}},
        "IPAMOptions":{"Driver":{"Name":"default"},"Configs":[{"Subnet":"10.0.0.0/24","Gateway":"10.0.0.1"}]}},
        "Addresses":["10.0.0.7/24"]}]}"#;
        let t: Task = serde_json::from_str(json).unwrap();
        assert_eq!(t.status.state, TaskState::Running);
        assert_eq!(t.meta.version.index, 21);
        assert_eq!(
            t.networks_attachments[0].addresses,
            vec!["10.0.0.7/24".to_string()]
        );
        let again: Task = serde_json::from_value(serde_json::to_value(&t).unwrap()).unwrap();
        assert_eq!(again, t);
        let orig: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_value(&t).unwrap(), orig);
    }
}
