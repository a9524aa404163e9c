//! The defaults dockerd shows. `normalize_mode` fills in what dockerd's
//! conversion stores for the mode (the CLI dereferences `Replicas` and
//! `TotalCompletions` when it lists services, so they must be there);
//! everything else a client omitted stays omitted. `insert_defaults` is
//! swarmkit's `InterpolateService`, for `GET /services/{id}?insertDefaults=true`.

use super::container::DnsConfig;
use super::service::{ReplicatedService, ServiceSpec, UpdateConfig};
use super::task::{Placement, ResourceRequirements, RestartPolicy};

const STOP_GRACE_PERIOD: i64 = 10_000_000_000;
const RESTART_DELAY: i64 = 5_000_000_000;
const MONITOR: i64 = 5_000_000_000;

/// One replica; a job runs one task at a time and completes as many as
/// it runs at once.
pub fn normalize_mode(spec: &mut ServiceSpec) {
    let m = &mut spec.mode;
    if m.members_set() == 0 {
        m.replicated = Some(ReplicatedService { replicas: Some(1) });
    }
    if let Some(r) = m.replicated.as_mut() {
        r.replicas.get_or_insert(1);
    }
    if let Some(j) = m.replicated_job.as_mut() {
        let max = *j.max_concurrent.get_or_insert(1);
        j.total_completions.get_or_insert(max);
    }
}

fn default_update() -> UpdateConfig {
    UpdateConfig {
        parallelism: 1,
        delay: 0,
        failure_action: "pause".into(),
        monitor: MONITOR,
        max_failure_ratio: 0.0,
        order: "stop-first".into(),
    }
}

fn fill_update(config: &mut Option<UpdateConfig>) {
    match config {
        None => *config = Some(default_update()),
        Some(c) if c.monitor == 0 => c.monitor = MONITOR,
        Some(_) => {}
    }
}

/// The spec with swarmkit's defaults for what is unset.
pub fn insert_defaults(spec: &ServiceSpec) -> ServiceSpec {
    let mut s = spec.clone();
    let t = &mut s.task_template;
    if let Some(c) = t.container_spec.as_mut() {
        c.stop_grace_period.get_or_insert(STOP_GRACE_PERIOD);
        c.dns_config.get_or_insert_with(DnsConfig::default);
    }
    t.resources
        .get_or_insert_with(ResourceRequirements::default);
    match t.restart_policy.as_mut() {
        None => {
            t.restart_policy = Some(RestartPolicy {
                condition: "any".into(),
                delay: Some(RESTART_DELAY),
                max_attempts: Some(0),
                window: None,
            })
        }
        Some(r) => {
            r.delay.get_or_insert(RESTART_DELAY);
        }
    }
    t.placement.get_or_insert_with(Placement::default);
    fill_update(&mut s.update_config);
    fill_update(&mut s.rollback_config);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ModeKind, ReplicatedJob};

    #[test]
    fn modes() {
        let mut s = ServiceSpec::default();
        normalize_mode(&mut s);
        assert_eq!(
            s.mode.replicated,
            Some(ReplicatedService { replicas: Some(1) })
        );
        let mut s = ServiceSpec::default();
        s.mode.replicated_job = Some(ReplicatedJob {
            max_concurrent: Some(3),
            total_completions: None,
        });
        normalize_mode(&mut s);
        assert_eq!(
            s.mode.replicated_job,
            Some(ReplicatedJob {
                max_concurrent: Some(3),
                total_completions: Some(3)
            })
        );
        let mut s = ServiceSpec::default();
        s.mode.global = Some(Default::default());
        normalize_mode(&mut s);
        assert_eq!(s.mode.kind(), ModeKind::Global);
        assert!(s.mode.replicated.is_none());
    }

    #[test]
    fn interpolation() {
        let json = r#"{"Name":"web","Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"nginx"},"ForceUpdate":0},
            "Mode":{"Replicated":{"Replicas":1}},"UpdateConfig":{"Parallelism":2,"MaxFailureRatio":0,"Order":""}}"#;
        let s: ServiceSpec = serde_json::from_str(json).unwrap();
        let d = insert_defaults(&s);
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(
            v["TaskTemplate"],
            serde_json::json!({"ContainerSpec":{"Image":"nginx","StopGracePeriod":10000000000u64,"DNSConfig":{}},
                "Resources":{},"RestartPolicy":{"Condition":"any","Delay":5000000000u64,"MaxAttempts":0},
                "Placement":{},"ForceUpdate":0})
        );
        assert_eq!(
            v["UpdateConfig"],
            serde_json::json!({"Parallelism":2,"Monitor":5000000000u64,"MaxFailureRatio":0,"Order":""})
        );
        assert_eq!(
            v["RollbackConfig"],
            serde_json::json!({"Parallelism":1,"FailureAction":"pause","Monitor":5000000000u64,"MaxFailureRatio":0,"Order":"stop-first"})
        );
        // Set values are kept.
        let mut s2 = s.clone();
        s2.task_template.restart_policy = Some(RestartPolicy {
            condition: "none".into(),
            ..Default::default()
        });
        let d2 = insert_defaults(&s2);
        let r = d2.task_template.restart_policy.unwrap();
        assert_eq!(
            (r.condition.as_str(), r.delay, r.max_attempts),
            ("none", Some(RESTART_DELAY), None)
        );
    }
}
