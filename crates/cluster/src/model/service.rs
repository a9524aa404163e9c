//! Services: the spec a client gives (`ServiceSpec`), its mode, its
//! update/rollback policy, and the status fields the manager maintains.

use serde::{Deserialize, Serialize};

use super::common::{Annotations, Meta, Timestamp, Version};
use super::network::{Endpoint, EndpointSpec, NetworkAttachmentConfig};
use super::task::TaskSpec;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Service {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(flatten)]
    pub meta: Meta,
    pub spec: ServiceSpec,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_spec: Option<ServiceSpec>,
    pub endpoint: Endpoint,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_status: Option<UpdateStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_status: Option<ServiceStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_status: Option<JobStatus>,
}

impl Service {
    /// The service as the API shows it: without the registry credentials
    /// its specs keep for the nodes.
    pub fn redacted(mut self) -> Service {
        self.spec.task_template.redact();
        if let Some(prev) = self.previous_spec.as_mut() {
            prev.task_template.redact();
        }
        self
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ServiceSpec {
    #[serde(flatten)]
    pub annotations: Annotations,
    pub task_template: TaskSpec,
    pub mode: ServiceMode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_config: Option<UpdateConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_config: Option<UpdateConfig>,
    /// Deprecated since API 1.44 in favour of `TaskTemplate.Networks`, but
    /// API 1.41 clients still send it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<NetworkAttachmentConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_spec: Option<EndpointSpec>,
}

/// Exactly one member is set in a valid spec; more than one is rejected by
/// validation, none means replicated with one replica.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ServiceMode {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicated: Option<ReplicatedService>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global: Option<GlobalService>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicated_job: Option<ReplicatedJob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global_job: Option<GlobalJob>,
}

/// The mode as one value, for `match`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeKind {
    Replicated {
        replicas: u64,
    },
    Global,
    ReplicatedJob {
        max_concurrent: u64,
        total_completions: u64,
    },
    GlobalJob,
}

impl ModeKind {
    pub fn is_job(self) -> bool {
        matches!(self, ModeKind::ReplicatedJob { .. } | ModeKind::GlobalJob)
    }

    pub fn is_global(self) -> bool {
        matches!(self, ModeKind::Global | ModeKind::GlobalJob)
    }

    /// The name `docker service ls` shows and `mode=` filters on.
    pub fn name(self) -> &'static str {
        match self {
            ModeKind::Replicated { .. } => "replicated",
            ModeKind::Global => "global",
            ModeKind::ReplicatedJob { .. } => "replicated-job",
            ModeKind::GlobalJob => "global-job",
        }
    }
}

impl ServiceMode {
    /// The effective mode with dockerd's defaults: one replica; a job runs
    /// one task at a time and completes `MaxConcurrent` tasks.
    pub fn kind(&self) -> ModeKind {
        if self.global.is_some() {
            ModeKind::Global
        } else if let Some(job) = &self.replicated_job {
            let max_concurrent = job.max_concurrent.unwrap_or(1);
            ModeKind::ReplicatedJob {
                max_concurrent,
                total_completions: job.total_completions.unwrap_or(max_concurrent),
            }
        } else if self.global_job.is_some() {
            ModeKind::GlobalJob
        } else {
            let replicas = self
                .replicated
                .as_ref()
                .and_then(|r| r.replicas)
                .unwrap_or(1);
            ModeKind::Replicated { replicas }
        }
    }

    /// The mode as dockerd stores it: its defaults written out (a
    /// replicated service without `Replicas` has one; no mode at all is
    /// that), since the docker CLI needs them to follow a service's
    /// convergence.
    pub fn with_defaults(&self) -> ServiceMode {
        match self.kind() {
            ModeKind::Replicated { replicas } => ServiceMode {
                replicated: Some(ReplicatedService {
                    replicas: Some(replicas),
                }),
                ..Default::default()
            },
            ModeKind::ReplicatedJob {
                max_concurrent,
                total_completions,
            } => ServiceMode {
                replicated_job: Some(ReplicatedJob {
                    max_concurrent: Some(max_concurrent),
                    total_completions: Some(total_completions),
                }),
                ..Default::default()
            },
            ModeKind::Global | ModeKind::GlobalJob => self.clone(),
        }
    }

    /// How many members are set (valid specs have at most one).
    pub fn members_set(&self) -> usize {
        usize::from(self.replicated.is_some())
            + usize::from(self.global.is_some())
            + usize::from(self.replicated_job.is_some())
            + usize::from(self.global_job.is_some())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ReplicatedService {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GlobalService {}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ReplicatedJob {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_completions: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GlobalJob {}

/// How a rolling update (or rollback) proceeds. Go marshals `Parallelism`,
/// `MaxFailureRatio` and `Order` without `omitempty`. Durations are
/// nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UpdateConfig {
    pub parallelism: u64,
    #[serde(skip_serializing_if = "super::common::is_zero_i64")]
    pub delay: i64,
    /// `pause`, `continue` or `rollback`; empty means pause.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub failure_action: String,
    #[serde(skip_serializing_if = "super::common::is_zero_i64")]
    pub monitor: i64,
    #[serde(with = "go_float")]
    pub max_failure_ratio: f32,
    /// `stop-first` or `start-first`; empty means stop-first.
    pub order: String,
}

/// Where a service's rolling update stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateState {
    Updating,
    Paused,
    Completed,
    RollbackStarted,
    RollbackPaused,
    RollbackCompleted,
}

impl UpdateState {
    pub fn is_rollback(self) -> bool {
        matches!(
            self,
            UpdateState::RollbackStarted
                | UpdateState::RollbackPaused
                | UpdateState::RollbackCompleted
        )
    }

    pub fn is_paused(self) -> bool {
        matches!(self, UpdateState::Paused | UpdateState::RollbackPaused)
    }

    pub fn in_progress(self) -> bool {
        matches!(self, UpdateState::Updating | UpdateState::RollbackStarted)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateStatus {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub state: Option<UpdateState>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub started_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub completed_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ServiceStatus {
    pub running_tasks: u64,
    pub desired_tasks: u64,
    pub completed_tasks: u64,
}

/// A job's execution counter: bumped on every spec update, stamped on the
/// tasks of that execution.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobStatus {
    pub job_iteration: Version,
    pub last_execution: Timestamp,
}

/// Go prints an integral float without a fraction (`0`, `1`), serde_json
/// as `0.0`; the CLI compares specs textually in places, so match Go.
mod go_float {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f32, s: S) -> Result<S::Ok, S::Error> {
        if v.fract() == 0.0 && v.abs() < 1e15 {
            // Integral and far inside i64: the cast is exact.
            s.serialize_i64(*v as i64)
        } else {
            // Through its shortest decimal form: Go writes a float32 0.4 as
            // 0.4, and a widening cast would make it 0.4000000059604645
            // wherever the value passes through an f64 (serde_json::Value).
            let shortest: f64 = v.to_string().parse().unwrap_or(f64::from(*v));
            s.serialize_f64(shortest)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
        f32::deserialize(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(json: &str) -> ModeKind {
        serde_json::from_str::<ServiceMode>(json).unwrap().kind()
    }

    #[test]
    fn mode_defaults() {
        assert_eq!(mode("{}"), ModeKind::Replicated { replicas: 1 });
        assert_eq!(
            mode(r#"{"Replicated":{}}"#),
            ModeKind::Replicated { replicas: 1 }
        );
        assert_eq!(
            mode(r#"{"Replicated":{"Replicas":0}}"#),
            ModeKind::Replicated { replicas: 0 }
        );
        assert_eq!(mode(r#"{"Global":{}}"#), ModeKind::Global);
        assert_eq!(mode(r#"{"GlobalJob":{}}"#), ModeKind::GlobalJob);
        assert_eq!(
            mode(r#"{"ReplicatedJob":{}}"#),
            ModeKind::ReplicatedJob {
                max_concurrent: 1,
                total_completions: 1
            }
        );
        assert_eq!(
            mode(r#"{"ReplicatedJob":{"MaxConcurrent":3}}"#),
            ModeKind::ReplicatedJob {
                max_concurrent: 3,
                total_completions: 3
            }
        );
        assert_eq!(
            mode(r#"{"ReplicatedJob":{"MaxConcurrent":2,"TotalCompletions":9}}"#),
            ModeKind::ReplicatedJob {
                max_concurrent: 2,
                total_completions: 9
            }
        );
        assert!(ModeKind::GlobalJob.is_job() && ModeKind::GlobalJob.is_global());
        assert_eq!(ModeKind::Global.name(), "global");
    }

    #[test]
    fn defaults_are_written_out_as_dockerd_stores_them() {
        let out = |json: &str| {
            let m: ServiceMode = serde_json::from_str(json).unwrap();
            serde_json::to_string(&m.with_defaults()).unwrap()
        };
        assert_eq!(out("{}"), r#"{"Replicated":{"Replicas":1}}"#);
        assert_eq!(
            out(r#"{"Replicated":{}}"#),
            r#"{"Replicated":{"Replicas":1}}"#
        );
        assert_eq!(
            out(r#"{"Replicated":{"Replicas":0}}"#),
            r#"{"Replicated":{"Replicas":0}}"#
        );
        assert_eq!(
            out(r#"{"ReplicatedJob":{"MaxConcurrent":2}}"#),
            r#"{"ReplicatedJob":{"MaxConcurrent":2,"TotalCompletions":2}}"#
        );
        assert_eq!(out(r#"{"Global":{}}"#), r#"{"Global":{}}"#);
    }

    #[test]
    fn update_status_shape() {
        let s = UpdateStatus {
            state: Some(UpdateState::RollbackStarted),
            started_at: Some(Timestamp::from_unix(0, 5)),
            completed_at: None,
            message: "manually requested rollback".into(),
        };
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"State":"rollback_started","StartedAt":"1970-01-01T00:00:00.000000005Z","Message":"manually requested rollback"}"#
        );
        assert!(
            UpdateState::RollbackPaused.is_paused() && UpdateState::RollbackPaused.is_rollback()
        );
        assert!(UpdateState::Updating.in_progress() && !UpdateState::Completed.in_progress());
    }

    #[test]
    fn update_config_keeps_go_fields() {
        let u = UpdateConfig::default();
        assert_eq!(
            serde_json::to_string(&u).unwrap(),
            r#"{"Parallelism":0,"MaxFailureRatio":0,"Order":""}"#
        );
        let u = UpdateConfig {
            max_failure_ratio: 0.2,
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&u).unwrap(),
            r#"{"Parallelism":0,"MaxFailureRatio":0.2,"Order":""}"#
        );
    }

    #[test]
    fn service_status_fields() {
        let s = Service {
            service_status: Some(ServiceStatus {
                running_tasks: 2,
                desired_tasks: 3,
                completed_tasks: 0,
            }),
            ..Default::default()
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(
            v["ServiceStatus"],
            serde_json::json!({"RunningTasks":2,"DesiredTasks":3,"CompletedTasks":0})
        );
        assert_eq!(v["Endpoint"], serde_json::json!({"Spec":{}}));
        assert!(v.get("UpdateStatus").is_none() && v.get("PreviousSpec").is_none());
    }
}
