//! The `filters` of `GET /nodes`, `/services` and `/tasks`, with dockerd's
//! meanings: ids and names match by prefix, labels by key or `key=value`,
//! and each key's values are alternatives (OR) while keys combine (AND).

use std::collections::{BTreeMap, HashMap};

use cluster::model::{Annotations, Node, Service, Task, TaskState};

use crate::error::{Result, SwarmError};

#[derive(Debug, Clone, Default)]
pub struct Filters(pub HashMap<String, Vec<String>>);

impl Filters {
    fn values(&self, key: &str) -> Option<&[String]> {
        self.0.get(key).map(Vec::as_slice).filter(|v| !v.is_empty())
    }

    /// Every value of `key` is an alternative; an absent key matches all.
    fn any(&self, key: &str, pred: impl Fn(&str) -> bool) -> bool {
        self.values(key)
            .is_none_or(|vals| vals.iter().any(|v| pred(v)))
    }

    pub(super) fn needs_services(&self) -> bool {
        // A task's name and labels are its service's.
        ["service", "_up-to-date", "label", "name"]
            .iter()
            .any(|k| self.0.contains_key(*k))
    }

    pub(super) fn node(&self, n: &Node) -> bool {
        let role = if n.spec.role.is_empty() {
            "worker"
        } else {
            n.spec.role.as_str()
        };
        self.any("id", |v| n.id.starts_with(v))
            && self.any("name", |v| n.description.hostname.starts_with(v))
            && self.any("role", |v| v == role)
            && self.any("membership", |v| v == "accepted")
            && self.any("node.label", |v| {
                labels_match(&n.spec.annotations.labels, v)
            })
            && self.any("label", |v| labels_match(&n.description.engine.labels, v))
    }

    pub(super) fn service(&self, s: &Service) -> bool {
        self.any("id", |v| s.id.starts_with(v))
            && self.any("name", |v| s.spec.annotations.name.starts_with(v))
            && self.any("label", |v| labels_match(&s.spec.annotations.labels, v))
            && self.any("mode", |v| v == s.spec.mode.kind().name())
    }

    pub(super) fn task(&self, t: &Task, services: &BTreeMap<String, Service>) -> bool {
        let service = services.get(&t.service_id);
        let service_name = service.map(|s| s.spec.annotations.name.as_str());
        let name = task_name(t, service_name.unwrap_or(""));
        self.any("id", |v| t.id.starts_with(v))
            && self.any("name", |v| name.starts_with(v))
            && self.any("service", |v| {
                t.service_id.starts_with(v) || service_name == Some(v)
            })
            && self.any("node", |v| t.node_id == v || t.node_id.starts_with(v))
            // swarmkit matches a task's labels filter on its service's
            // labels (`ServiceAnnotations`): `docker stack ps` finds a
            // stack's tasks by the namespace label its services carry.
            && self.any("label", |v| {
                labels_match(&t.annotations.labels, v)
                    || service.is_some_and(|s| labels_match(&s.spec.annotations.labels, v))
            })
            && self.any("desired-state", |v| desired_matches(t.desired_state, v))
            && self.any("_up-to-date", |v| {
                v != "true" || service.is_some_and(|s| t.spec == s.spec.task_template)
            })
    }
}

impl Filters {
    /// `GET /secrets` and `/configs` take only these keys (dockerd's
    /// message otherwise).
    pub(super) fn check_blob_keys(&self) -> Result<()> {
        match self
            .0
            .keys()
            .find(|k| !["id", "name", "names", "label"].contains(&k.as_str()))
        {
            Some(k) => Err(SwarmError::invalid(format!("Invalid filter '{k}'"))),
            None => Ok(()),
        }
    }

    /// swarmkit's secret and config filters: `names` (exact), `name` (a
    /// prefix) and `id` (a prefix) are all alternatives to one another,
    /// names in any case; every `label` (`key` or `key=value`) must hold.
    pub(super) fn blob(&self, id: &str, annotations: &Annotations) -> bool {
        let name = annotations.name.to_lowercase();
        let mut selectors = ["names", "name", "id"]
            .iter()
            .flat_map(|k| {
                self.values(k)
                    .unwrap_or_default()
                    .iter()
                    .map(move |v| (*k, v))
            })
            .peekable();
        let selected = selectors.peek().is_none()
            || selectors.any(|(k, v)| {
                let v = v.to_lowercase();
                match k {
                    "names" => name == v,
                    "name" => name.starts_with(&v),
                    _ => id.starts_with(&v),
                }
            });
        selected
            && self.values("label").unwrap_or_default().iter().all(|l| {
                match l.split_once('=') {
                    // `key=` asks for the key, whatever its value (swarmkit).
                    Some((k, v)) if !v.is_empty() => {
                        annotations.labels.get(k) == Some(&v.to_string())
                    }
                    Some((k, _)) => annotations.labels.contains_key(k),
                    None => annotations.labels.contains_key(l.as_str()),
                }
            })
    }
}

/// What `docker service ps` calls a task: `<service>.<slot>` or, for
/// global tasks, `<service>.<node>`.
pub fn task_name(t: &Task, service_name: &str) -> String {
    if t.slot > 0 {
        format!("{service_name}.{}", t.slot)
    } else {
        format!("{service_name}.{}", t.node_id)
    }
}

/// dockerd accepts `running`, `shutdown` and `accepted` here; `running`
/// also covers tasks desired to run that have not started yet.
fn desired_matches(desired: TaskState, wanted: &str) -> bool {
    match wanted {
        "running" => desired == TaskState::Running,
        "shutdown" => desired == TaskState::Shutdown,
        "accepted" => desired == TaskState::Accepted,
        other => desired.as_str() == other,
    }
}

fn labels_match(labels: &BTreeMap<String, String>, filter: &str) -> bool {
    match filter.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
        None => labels.contains_key(filter),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cluster::model::ServiceSpec;

    fn filters(pairs: &[(&str, &str)]) -> Filters {
        let mut f = Filters::default();
        for (k, v) in pairs {
            f.0.entry(k.to_string()).or_default().push(v.to_string());
        }
        f
    }

    fn service(id: &str, name: &str, labels: &[(&str, &str)]) -> Service {
        let mut spec = ServiceSpec::default();
        spec.annotations.name = name.into();
        for (k, v) in labels {
            spec.annotations.labels.insert(k.to_string(), v.to_string());
        }
        Service {
            id: id.into(),
            spec,
            ..Default::default()
        }
    }

    #[test]
    fn services_by_id_prefix_name_prefix_label_and_mode() {
        let s = service("abc", "web", &[("tier", "front")]);
        assert!(filters(&[]).service(&s));
        assert!(filters(&[("id", "ab")]).service(&s));
        assert!(!filters(&[("id", "b")]).service(&s));
        assert!(filters(&[("name", "we")]).service(&s));
        assert!(
            filters(&[("name", "x"), ("name", "web")]).service(&s),
            "values are OR"
        );
        assert!(
            !filters(&[("name", "web"), ("id", "zz")]).service(&s),
            "keys are AND"
        );
        assert!(filters(&[("label", "tier")]).service(&s));
        assert!(filters(&[("label", "tier=front")]).service(&s));
        assert!(!filters(&[("label", "tier=back")]).service(&s));
        assert!(filters(&[("mode", "replicated")]).service(&s));
        assert!(!filters(&[("mode", "global")]).service(&s));
    }

    #[test]
    fn secrets_and_configs_filter_as_swarmkit() {
        let mut a = Annotations {
            name: "db_Pass".into(),
            ..Default::default()
        };
        a.labels.insert("env".into(), "prod".into());
        a.labels.insert("team".into(), "x".into());
        assert!(filters(&[]).blob("abc", &a));
        assert!(filters(&[("names", "DB_pass")]).blob("abc", &a));
        assert!(!filters(&[("names", "db")]).blob("abc", &a));
        assert!(filters(&[("name", "db")]).blob("abc", &a));
        assert!(filters(&[("id", "ab")]).blob("abc", &a));
        // Names and ids are alternatives, not all required.
        assert!(filters(&[("name", "zz"), ("id", "ab")]).blob("abc", &a));
        assert!(!filters(&[("name", "zz"), ("id", "zz")]).blob("abc", &a));
        // Labels must all hold.
        assert!(filters(&[("label", "env=prod"), ("label", "team")]).blob("abc", &a));
        assert!(!filters(&[("label", "env=prod"), ("label", "nope")]).blob("abc", &a));
        assert!(filters(&[("label", "env=")]).blob("abc", &a));
        assert!(!filters(&[("label", "env=dev")]).blob("abc", &a));
        assert_eq!(
            filters(&[("foo", "x")])
                .check_blob_keys()
                .unwrap_err()
                .message,
            "Invalid filter 'foo'"
        );
        assert!(
            filters(&[("names", "x"), ("label", "y")])
                .check_blob_keys()
                .is_ok()
        );
    }

    #[test]
    fn tasks_by_service_name_desired_state_and_up_to_date() {
        let s = service("svc1", "web", &[("com.docker.stack.namespace", "app")]);
        let mut services = BTreeMap::new();
        services.insert(s.id.clone(), s.clone());
        let t = Task {
            id: "t1".into(),
            service_id: "svc1".into(),
            slot: 2,
            node_id: "n1".into(),
            desired_state: TaskState::Running,
            spec: s.spec.task_template.clone(),
            ..Default::default()
        };
        assert!(filters(&[("service", "web")]).task(&t, &services));
        assert!(filters(&[("service", "svc")]).task(&t, &services));
        assert!(!filters(&[("service", "api")]).task(&t, &services));
        assert!(filters(&[("name", "web.2")]).task(&t, &services));
        assert!(filters(&[("desired-state", "running")]).task(&t, &services));
        assert!(!filters(&[("desired-state", "shutdown")]).task(&t, &services));
        assert!(filters(&[("node", "n1")]).task(&t, &services));
        assert!(filters(&[("_up-to-date", "true")]).task(&t, &services));
        let mut old = t.clone();
        old.spec.force_update = 1;
        assert!(!filters(&[("_up-to-date", "true")]).task(&old, &services));
        assert_eq!(task_name(&t, "web"), "web.2");
        // By its service's labels, as `docker stack ps` asks.
        assert!(filters(&[("label", "com.docker.stack.namespace=app")]).task(&t, &services));
        assert!(!filters(&[("label", "com.docker.stack.namespace=other")]).task(&t, &services));
    }
}
