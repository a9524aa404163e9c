//! The `com.docker.swarm.*` labels a task's container carries, by which
//! the agent finds its containers and log lines name their task.

/// The label the agent finds its containers by.
pub const TASK_ID_LABEL: &str = "com.docker.swarm.task.id";
/// What a task's log lines are told apart by, with the task id.
pub const SERVICE_ID_LABEL: &str = "com.docker.swarm.service.id";
pub const NODE_ID_LABEL: &str = "com.docker.swarm.node.id";
