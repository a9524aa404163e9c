//! Start-up order between services, beyond swarm: compose's `depends_on`
//! is dropped by the docker CLI's `stack deploy` (swarm has no such
//! field), so a service names what it waits for in a label of its own,
//! `berth.depends-on: "db:healthy,cache"`, which compose files carry in
//! `deploy.labels`. The scheduler leaves a service's new tasks pending
//! until every service it names is ready; tasks already placed are never
//! stopped for it (an order of start-up, as compose's, not a supervision).

use std::collections::HashMap;

use cluster::model::{ModeKind, Service, Task, TaskState};

pub const DEPENDS_ON_LABEL: &str = "berth.depends-on";
/// The stack a service belongs to (set by `docker stack deploy`): names in
/// its dependencies are the stack's short names first.
const STACK_NAMESPACE_LABEL: &str = "com.docker.stack.namespace";

/// compose's conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// `service_started`: its tasks' containers started.
    Started,
    /// `service_healthy`: its tasks running, which a task with a health
    /// check only reaches once healthy.
    Healthy,
    /// `service_completed_successfully`: a job whose tasks all completed.
    Completed,
}

impl Condition {
    fn words(self) -> &'static str {
        match self {
            Condition::Started => "started",
            Condition::Healthy => "healthy",
            Condition::Completed => "completed successfully",
        }
    }
}

/// The label's entries: `NAME[:started|healthy|completed]`, comma-separated
/// (compose's long names `service_started`… are accepted too; a bare name
/// is `started`, as compose's short form).
pub fn parse(value: &str) -> Result<Vec<(String, Condition)>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| {
            let (name, cond) = e.split_once(':').unwrap_or((e, "started"));
            let cond = match cond.trim() {
                "started" | "service_started" => Condition::Started,
                "healthy" | "service_healthy" => Condition::Healthy,
                "completed" | "completed_successfully" | "service_completed_successfully" => {
                    Condition::Completed
                }
                other => {
                    return Err(format!(
                        "{DEPENDS_ON_LABEL}: unknown condition {other:?} for {name} (started, healthy or completed)"
                    ));
                }
            };
            Ok((name.trim().to_string(), cond))
        })
        .collect()
}

/// Checks a spec's label at create and update.
pub fn validate(labels: &std::collections::BTreeMap<String, String>) -> Result<(), String> {
    match labels.get(DEPENDS_ON_LABEL) {
        Some(v) => parse(v).map(|_| ()),
        None => Ok(()),
    }
}

/// Why each waiting service's new tasks must wait (service id → message).
pub fn waiting<'a>(
    services: impl Iterator<Item = &'a Service> + Clone,
    tasks: &HashMap<String, Task>,
) -> HashMap<String, String> {
    let mut by_service: HashMap<&str, Vec<&Task>> = HashMap::new();
    for t in tasks.values() {
        by_service.entry(t.service_id.as_str()).or_default().push(t);
    }
    let by_name: HashMap<&str, &Service> = services
        .clone()
        .map(|s| (s.spec.annotations.name.as_str(), s))
        .collect();
    let entries_of = |s: &Service| -> Vec<(Option<&Service>, Condition, String)> {
        let Some(Ok(entries)) = s
            .spec
            .annotations
            .labels
            .get(DEPENDS_ON_LABEL)
            .map(|v| parse(v))
        else {
            return Vec::new();
        };
        let ns = s.spec.annotations.labels.get(STACK_NAMESPACE_LABEL);
        entries
            .into_iter()
            .map(|(name, cond)| {
                let dep = ns
                    .and_then(|ns| by_name.get(format!("{ns}_{name}").as_str()))
                    .or_else(|| by_name.get(name.as_str()))
                    .copied();
                (dep, cond, name)
            })
            .collect()
    };
    let deps_of = |s: &'a Service| -> Vec<(&'a Service, Condition, String)> {
        entries_of(s)
            .into_iter()
            .filter_map(|(d, c, n)| Some((d?, c, n)))
            .collect()
    };
    let mut out = HashMap::new();
    for s in services.clone() {
        let mut missing = Vec::new();
        for (dep, cond, name) in entries_of(s) {
            // `stack deploy` makes its services one by one: a name not
            // there yet is waited for (`service ps` shows which).
            let Some(dep) = dep else {
                missing.push(format!("service {name} to exist"));
                continue;
            };
            // A cycle would keep both sides waiting for ever: compose
            // refuses it; here the order is dropped for its members.
            if reaches(dep, &s.id, &deps_of, 0) {
                continue;
            }
            let mine = by_service
                .get(dep.id.as_str())
                .map_or(&[][..], Vec::as_slice);
            if !ready(dep, mine, cond) {
                missing.push(format!("{name} to be {}", cond.words()));
            }
        }
        if !missing.is_empty() {
            out.insert(
                s.id.clone(),
                format!("waiting for {} ({DEPENDS_ON_LABEL})", missing.join(", ")),
            );
        }
    }
    out
}

fn reaches<'a>(
    from: &'a Service,
    target: &str,
    deps_of: &dyn Fn(&'a Service) -> Vec<(&'a Service, Condition, String)>,
    depth: usize,
) -> bool {
    if from.id == target {
        return true;
    }
    depth < 32
        && deps_of(from)
            .into_iter()
            .any(|(d, _, _)| reaches(d, target, deps_of, depth + 1))
}

/// Whether `dep` (with its tasks) meets `cond`.
fn ready(dep: &Service, tasks: &[&Task], cond: Condition) -> bool {
    let current: Vec<&&Task> = tasks
        .iter()
        .filter(|t| t.desired_state <= TaskState::Complete)
        .collect();
    let count = |min: TaskState, max: TaskState| {
        current
            .iter()
            .filter(|t| (min..=max).contains(&t.status.state))
            .count() as u64
    };
    match cond {
        Condition::Completed => {
            let wanted = match dep.spec.mode.kind() {
                ModeKind::ReplicatedJob {
                    total_completions, ..
                } => total_completions,
                _ => current.len().max(1) as u64,
            };
            let done = tasks
                .iter()
                .filter(|t| t.status.state == TaskState::Complete)
                .count() as u64;
            done >= wanted
        }
        Condition::Started | Condition::Healthy => {
            let wanted = match dep.spec.mode.kind() {
                ModeKind::Replicated { replicas } => replicas,
                // One task per eligible node: all of those it has now.
                _ => current.len().max(1) as u64,
            };
            let min = if cond == Condition::Started {
                TaskState::Starting
            } else {
                TaskState::Running
            };
            count(min, TaskState::Running) >= wanted
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cluster::model::ReplicatedService;

    fn service(id: &str, replicas: u64, depends: Option<&str>) -> Service {
        let mut s = Service {
            id: id.into(),
            ..Default::default()
        };
        s.spec.annotations.name = format!("st_{id}");
        s.spec
            .annotations
            .labels
            .insert(STACK_NAMESPACE_LABEL.into(), "st".into());
        if let Some(d) = depends {
            s.spec
                .annotations
                .labels
                .insert(DEPENDS_ON_LABEL.into(), d.into());
        }
        s.spec.mode.replicated = Some(ReplicatedService {
            replicas: Some(replicas),
        });
        s
    }

    fn task(id: &str, service: &str, state: TaskState) -> (String, Task) {
        let mut t = Task {
            id: id.into(),
            service_id: service.into(),
            desired_state: TaskState::Running,
            ..Default::default()
        };
        t.status.state = state;
        (id.into(), t)
    }

    #[test]
    fn the_label_reads_like_compose_depends_on() {
        assert_eq!(
            parse("db:healthy, cache ,job:service_completed_successfully").unwrap(),
            [
                ("db".to_string(), Condition::Healthy),
                ("cache".to_string(), Condition::Started),
                ("job".to_string(), Condition::Completed),
            ]
        );
        let e = parse("db:soon").unwrap_err();
        assert!(e.contains("unknown condition \"soon\" for db"), "{e}");
    }

    #[test]
    fn a_service_waits_until_what_it_names_is_ready() {
        let services = [
            service("db", 2, None),
            service("web", 1, Some("db:healthy")),
            service("cache", 1, None),
            service("api", 1, Some("cache")),
        ];
        let mut tasks: HashMap<String, Task> = [
            task("d1", "db", TaskState::Running),
            task("d2", "db", TaskState::Starting),
            task("c1", "cache", TaskState::Starting),
        ]
        .into_iter()
        .collect();
        let w = waiting(services.iter(), &tasks);
        assert_eq!(
            w.get("web").map(String::as_str),
            Some("waiting for db to be healthy (berth.depends-on)")
        );
        assert!(!w.contains_key("api"), "cache started: {w:?}");
        tasks.insert("d2".into(), task("d2", "db", TaskState::Running).1);
        assert!(waiting(services.iter(), &tasks).is_empty());
    }

    #[test]
    fn cycles_do_not_wait_and_missing_services_are_waited_for() {
        let services = [
            service("a", 1, Some("b")),
            service("b", 1, Some("a")),
            service("c", 1, Some("later")),
        ];
        let w = waiting(services.iter(), &HashMap::new());
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(
            w["c"],
            "waiting for service later to exist (berth.depends-on)"
        );
    }
}
