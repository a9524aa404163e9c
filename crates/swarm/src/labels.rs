//! The `com.docker.swarm.*` labels a task's container carries, by which
//! the agent finds its containers and log lines name their task, and the
//! names of task containers (which resolvers answer across the cluster).

use serde_json::{Map, Value};

/// The label the agent finds its containers by.
pub const TASK_ID_LABEL: &str = "com.docker.swarm.task.id";
/// What a task's log lines are told apart by, with the task id.
pub const SERVICE_ID_LABEL: &str = "com.docker.swarm.service.id";
pub const NODE_ID_LABEL: &str = "com.docker.swarm.node.id";

/// Who the container is: the labels and name dockerd gives a task's container.
pub struct TaskIdentity<'a> {
    pub task_id: &'a str,
    pub service_id: &'a str,
    pub service_name: &'a str,
    pub node_id: &'a str,
    /// 0 for global services (the node id names them instead).
    pub slot: u64,
}

impl TaskIdentity<'_> {
    /// `<service>.<slot>.<task>`, or `<service>.<node>.<task>` for a global task.
    pub fn container_name(&self) -> String {
        if self.slot == 0 {
            format!("{}.{}.{}", self.service_name, self.node_id, self.task_id)
        } else {
            format!("{}.{}.{}", self.service_name, self.slot, self.task_id)
        }
    }

    pub(crate) fn labels(&self) -> Map<String, Value> {
        let mut labels = Map::new();
        for (k, v) in [
            (NODE_ID_LABEL, self.node_id.to_string()),
            (SERVICE_ID_LABEL, self.service_id.to_string()),
            (
                "com.docker.swarm.service.name",
                self.service_name.to_string(),
            ),
            ("com.docker.swarm.task", String::new()),
            (TASK_ID_LABEL, self.task_id.to_string()),
            ("com.docker.swarm.task.name", self.container_name()),
        ] {
            labels.insert(k.into(), Value::String(v));
        }
        labels
    }
}
