//! Making tasks and naming them as dockerd does: ids, the spec snapshot,
//! the container name `<service>.<slot>.<task id>` (the node id for global
//! services) and the `com.docker.swarm.*` labels.

use std::collections::BTreeMap;

use crate::constraint;
use crate::model::{Node, Service, Task, TaskState, TaskStatus, Timestamp, Version};

/// A new task for `slot` (0 for global services, which name the node
/// instead), desired running, in state `new` with swarmkit's "created".
pub fn new_task(service: &Service, id: String, slot: u64, node_id: &str, now: Timestamp) -> Task {
    let mut t = Task {
        id,
        spec: service.spec.task_template.clone(),
        service_id: service.id.clone(),
        slot,
        node_id: node_id.to_string(),
        status: TaskStatus {
            timestamp: now,
            state: TaskState::New,
            message: "created".into(),
            ..Default::default()
        },
        desired_state: TaskState::Running,
        ..Default::default()
    };
    t.meta.created_at = now;
    t.meta.updated_at = now;
    if service.spec.mode.kind().is_job() {
        let index = service
            .job_status
            .as_ref()
            .map_or(0, |j| j.job_iteration.index);
        t.job_iteration = Some(Version { index });
        t.desired_state = TaskState::Complete;
    }
    t
}

/// The task's name (and its container's): its own name if it has one,
/// else `<service>.<slot>.<id>`, with the node id for slot 0.
pub fn task_name(service_name: &str, task: &Task) -> String {
    if !task.annotations.name.is_empty() {
        return task.annotations.name.clone();
    }
    if task.slot == 0 {
        format!("{service_name}.{}.{}", task.node_id, task.id)
    } else {
        format!("{service_name}.{}.{}", task.slot, task.id)
    }
}

/// The labels dockerd's executor puts on a task's container, on top of the
/// container spec's own.
pub fn container_labels(service: &Service, task: &Task) -> BTreeMap<String, String> {
    let mut labels = task
        .spec
        .container_spec
        .as_ref()
        .map(|c| c.labels.clone())
        .unwrap_or_default();
    let name = &service.spec.annotations.name;
    labels.insert("com.docker.swarm.node.id".into(), task.node_id.clone());
    labels.insert(
        "com.docker.swarm.service.id".into(),
        task.service_id.clone(),
    );
    labels.insert("com.docker.swarm.service.name".into(), name.clone());
    labels.insert("com.docker.swarm.task".into(), String::new());
    labels.insert("com.docker.swarm.task.id".into(), task.id.clone());
    labels.insert("com.docker.swarm.task.name".into(), task_name(name, task));
    labels
}

/// Whether the task no longer matches the service: its spec differs —
/// except when only the placement changed and the task's node still
/// satisfies the new constraints (swarmkit keeps such tasks).
pub fn is_task_dirty(service: &Service, task: &Task, node: Option<&Node>) -> bool {
    let want = &service.spec.task_template;
    if *want == task.spec {
        return false;
    }
    if want.placement != task.spec.placement {
        let mut same_but_placement = want.clone();
        same_but_placement.placement = task.spec.placement.clone();
        if same_but_placement == task.spec
            && let Some(n) = node
        {
            let constraints = constraint::parse(want.constraints()).unwrap_or_default();
            if constraint::node_matches(&constraints, n) {
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ContainerSpec, Placement, TaskSpec};

    fn service() -> Service {
        let mut s = Service {
            id: "svc1".into(),
            ..Default::default()
        };
        s.spec.annotations.name = "web".into();
        s.spec.task_template = TaskSpec {
            container_spec: Some(ContainerSpec {
                image: "nginx".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        s
    }

    #[test]
    fn new_replicated_task() {
        let now = Timestamp::from_unix(10, 0);
        let t = new_task(&service(), "t1".into(), 3, "", now);
        assert_eq!(t.slot, 3);
        assert_eq!(t.desired_state, TaskState::Running);
        assert_eq!(t.status.state, TaskState::New);
        assert_eq!(t.status.message, "created");
        assert_eq!(t.meta.created_at, now);
        assert_eq!(t.spec, service().spec.task_template);
        assert!(t.job_iteration.is_none());
        assert_eq!(task_name("web", &t), "web.3.t1");
    }

    #[test]
    fn new_global_and_job_tasks() {
        let now = Timestamp::from_unix(10, 0);
        let t = new_task(&service(), "t2".into(), 0, "node9", now);
        assert_eq!(task_name("web", &t), "web.node9.t2");
        let mut job = service();
        job.spec.mode.global_job = Some(Default::default());
        job.job_status = Some(crate::model::JobStatus {
            job_iteration: Version { index: 7 },
            ..Default::default()
        });
        let t = new_task(&job, "t3".into(), 0, "n", now);
        assert_eq!(t.job_iteration, Some(Version { index: 7 }));
        assert_eq!(t.desired_state, TaskState::Complete);
    }

    #[test]
    fn names_and_labels() {
        let mut t = new_task(&service(), "abc".into(), 1, "n1", Timestamp::zero());
        let l = container_labels(&service(), &t);
        assert_eq!(l["com.docker.swarm.task.name"], "web.1.abc");
        assert_eq!(l["com.docker.swarm.service.name"], "web");
        assert_eq!(l["com.docker.swarm.service.id"], "svc1");
        assert_eq!(l["com.docker.swarm.node.id"], "n1");
        assert_eq!(l["com.docker.swarm.task.id"], "abc");
        assert_eq!(l["com.docker.swarm.task"], "");
        t.annotations.name = "custom".into();
        assert_eq!(task_name("web", &t), "custom");
    }

    #[test]
    fn dirtiness() {
        let s = service();
        let t = new_task(&s, "a".into(), 1, "n", Timestamp::zero());
        assert!(!is_task_dirty(&s, &t, None));
        let mut s2 = s.clone();
        s2.spec.task_template.force_update = 1;
        assert!(is_task_dirty(&s2, &t, None));
        // Placement-only change: clean while the node still matches.
        let mut s3 = s.clone();
        s3.spec.task_template.placement = Some(Placement {
            constraints: vec!["node.labels.zone==a".into()],
            ..Default::default()
        });
        let mut node = Node {
            id: "n".into(),
            ..Default::default()
        };
        assert!(is_task_dirty(&s3, &t, Some(&node)));
        node.spec
            .annotations
            .labels
            .insert("zone".into(), "a".into());
        assert!(!is_task_dirty(&s3, &t, Some(&node)));
        assert!(is_task_dirty(&s3, &t, None));
    }
}
