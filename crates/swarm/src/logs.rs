//! The logs of swarm tasks, as `GET /services/{id}/logs` and
//! `/tasks/{id}/logs` serve them: the lines of the selected tasks'
//! containers, each with the node, service and task it came from (the
//! details the docker CLI prefixes lines with), read through the engine's
//! own log reader.
//!
//! This reads this node's containers; [`crate::log_broker`] joins the
//! other nodes' lines (which their agents read with this same code) into
//! one stream.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use engine::{Engine, LogLine, LogOptions};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// Whose logs.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Selector {
    /// Every task of the service (by id), past and present, and with
    /// `follow` the tasks that start while the stream is open.
    Service(String),
    /// One task (by id).
    Task(String),
}

/// Where a line came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TaskContext {
    pub node_id: String,
    pub service_id: String,
    pub task_id: String,
}

#[derive(Debug, Clone)]
pub struct TaskLine {
    pub context: Arc<TaskContext>,
    pub line: LogLine,
}

/// How often a followed service is looked at for new tasks' containers.
const NEW_TASKS_EVERY: Duration = Duration::from_millis(500);

/// Streams the selected tasks' lines; the channel closes at the end (never,
/// with `follow`, until the receiver goes away). Without `follow` the
/// lines of all tasks come in time order; `tail` counts per task, as in
/// dockerd.
pub fn stream(
    engine: Arc<Engine>,
    selector: Selector,
    opts: LogOptions,
) -> mpsc::Receiver<TaskLine> {
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(async move {
        if opts.follow {
            follow(&engine, &selector, &opts, &tx).await;
        } else {
            merged(&engine, &selector, &opts, &tx).await;
        }
    });
    rx
}

/// The containers of the selected tasks on this node that have started,
/// with their context (read from the labels the agent gave them). One only
/// created has no log yet: a follower that opened it then would get a
/// stream that ends at once and never look at the container again; it is
/// picked up once started (or exited: then its lines are read whole).
fn task_containers(engine: &Engine, selector: &Selector) -> Vec<(String, Arc<TaskContext>)> {
    use crate::labels::{NODE_ID_LABEL, SERVICE_ID_LABEL, TASK_ID_LABEL};
    engine
        .containers()
        .into_iter()
        .filter(|c| c.state.status != engine::model::Status::Created)
        .filter_map(|c| {
            let labels = c.record.config.labels.as_ref()?;
            let label = |k: &str| labels.get(k).cloned().unwrap_or_default();
            let context = TaskContext {
                node_id: label(NODE_ID_LABEL),
                service_id: label(SERVICE_ID_LABEL),
                task_id: label(TASK_ID_LABEL),
            };
            let wanted = match selector {
                Selector::Service(id) => context.service_id == *id,
                Selector::Task(id) => context.task_id == *id,
            };
            (wanted && !context.task_id.is_empty()).then(|| (c.record.id, Arc::new(context)))
        })
        .collect()
}

fn open(
    engine: &Arc<Engine>,
    container: &str,
    opts: &LogOptions,
) -> Option<mpsc::Receiver<LogLine>> {
    match engine.logs(container, opts.clone()) {
        Ok(rx) => Some(rx),
        // Removed meanwhile, or a log driver that cannot be read back.
        Err(e) => {
            tracing::debug!("swarm logs: container {container}: {e}");
            None
        }
    }
}

/// Every task's lines so far, merged by time: each container's log is in
/// time order, so the earliest head line is always the next one.
async fn merged(
    engine: &Arc<Engine>,
    selector: &Selector,
    opts: &LogOptions,
    tx: &mpsc::Sender<TaskLine>,
) {
    let mut sources = Vec::new();
    for (container, context) in task_containers(engine, selector) {
        if let Some(mut rx) = open(engine, &container, opts) {
            let (line_tx, line_rx) = mpsc::channel(64);
            tokio::spawn(async move {
                while let Some(line) = rx.recv().await {
                    let line = TaskLine {
                        context: context.clone(),
                        line,
                    };
                    if line_tx.send(line).await.is_err() {
                        return;
                    }
                }
            });
            sources.push(line_rx);
        }
    }
    merge_by_time(sources, tx).await;
}

/// Merges sources each in time order into one in time order: the
/// earliest head line is always the next one.
pub async fn merge_by_time(sources: Vec<mpsc::Receiver<TaskLine>>, tx: &mpsc::Sender<TaskLine>) {
    let mut heads = Vec::new();
    for mut rx in sources {
        if let Some(first) = rx.recv().await {
            heads.push((first, rx));
        }
    }
    loop {
        let Some(i) = (0..heads.len()).min_by_key(|i| heads[*i].0.line.time) else {
            return;
        };
        let (next, mut rx) = heads.swap_remove(i);
        if tx.send(next).await.is_err() {
            return;
        }
        if let Some(more) = rx.recv().await {
            heads.push((more, rx));
        }
    }
}

/// Every task's lines as they come, tasks that start later included,
/// until the receiver goes away (which also ends the readers).
async fn follow(
    engine: &Arc<Engine>,
    selector: &Selector,
    opts: &LogOptions,
    tx: &mpsc::Sender<TaskLine>,
) {
    let (lines_tx, mut lines) = mpsc::channel::<TaskLine>(256);
    let mut readers = JoinSet::new();
    let mut seen = HashSet::new();
    let mut tick = tokio::time::interval(NEW_TASKS_EVERY);
    loop {
        tokio::select! {
            () = tx.closed() => return,
            Some(line) = lines.recv() => {
                if tx.send(line).await.is_err() {
                    return;
                }
            }
            _ = tick.tick() => {
                for (container, context) in task_containers(engine, selector) {
                    if !seen.insert(container.clone()) {
                        continue;
                    }
                    let Some(mut rx) = open(engine, &container, opts) else {
                        continue;
                    };
                    let out = lines_tx.clone();
                    readers.spawn(async move {
                        while let Some(line) = rx.recv().await {
                            let line = TaskLine { context: context.clone(), line };
                            if out.send(line).await.is_err() {
                                return;
                            }
                        }
                    });
                }
                // Finished readers are reaped so the set stays small.
                while readers.try_join_next().is_some() {}
            }
        }
    }
}
