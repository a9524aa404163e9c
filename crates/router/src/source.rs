//! Keeps the route table live from the engine: every container event (and
//! a one-second sweep, for changes no event announces) rebuilds it from
//! the containers as they are now.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use engine::model::Status;
use engine::{ContainerView, Engine};
use tokio::sync::broadcast::error::RecvError;

use crate::Router;
use crate::apps::AppStore;
use crate::table::Entry;

const SWEEP: Duration = Duration::from_secs(1);

/// What the router needs of one container; none for a stopped one: it
/// leaves its route (a route left without containers is gone: 404), while
/// one that runs but is not healthy (or paused, or between restarts) keeps
/// the route without a backend (503).
pub fn entry(c: &ContainerView) -> Option<Entry> {
    if !matches!(
        c.state.status,
        Status::Running | Status::Paused | Status::Restarting
    ) {
        return None;
    }
    let cfg = &c.record.config;
    let exposed = cfg
        .exposed_ports
        .iter()
        .flatten()
        .filter_map(|(spec, _)| {
            let (port, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
            (proto == "tcp").then(|| port.parse().ok()).flatten()
        })
        .collect();
    let endpoints = &c.state.network.endpoints;
    // The daemon holds an address on each bridge; other drivers (macvlan)
    // may not be reachable from the host.
    let addr = endpoints
        .values()
        .find(|e| e.driver == "bridge")
        .or_else(|| endpoints.values().next())
        .map(|e| IpAddr::V4(e.ip));
    let healthy = c
        .state
        .health
        .as_ref()
        .is_none_or(|h| h.status == "healthy");
    Some(Entry {
        kind: crate::table::Kind::Container,
        id: c.record.id.clone(),
        name: c.record.name.clone(),
        created: c.record.created.timestamp_nanos_opt().unwrap_or_default(),
        labels: cfg.labels.clone().unwrap_or_default(),
        exposed,
        addr,
        ready: c.state.status == Status::Running && healthy,
        refused: None,
    })
}

/// An app container of its app's current release gets the app's route;
/// another container may not take an app's domain with its labels. An
/// app's service (an app on a swarm manager) keeps the route labels its
/// rollout gave it: they travel with the service to every node's router,
/// most of which have no record of the app, and swarm's rolling update,
/// not a release switch, decides which tasks serve.
fn with_app_route(mut e: Entry, apps: &AppStore) -> Entry {
    if e.kind == crate::table::Kind::Service && e.labels.contains_key(crate::apps::APP) {
        return e;
    }
    if e.labels.contains_key(crate::apps::APP) {
        let routed = apps.route_labels(&e.labels);
        // Only the release switch routes an app's containers: route labels
        // its image may carry would bypass it.
        e.labels.retain(|k, _| !k.starts_with("berth.http."));
        e.labels.extend(routed.into_iter().flatten());
        return e;
    }
    let claimed = e.labels.get(crate::labels::HOST).and_then(|hosts| {
        hosts.split(',').find_map(|h| {
            let h = h.trim().to_ascii_lowercase();
            apps.owner_of(&h).map(|app| (hosts.clone(), h, app))
        })
    });
    if let Some((hosts, host, app)) = claimed {
        e.refused = Some(crate::labels::LabelError {
            label: crate::labels::HOST.to_string(),
            value: hosts,
            reason: format!("{host} is a domain of app {app}"),
        });
    }
    e
}

/// Signals that stop a process (`docker stop` sends one, then SIGKILL): a
/// container sent one is draining and gets no new request, though it still
/// runs. Others (`docker kill -s HUP` to reload) change nothing.
const STOPPING: [&str; 4] = ["2", "3", "9", "15"];

/// Containers told to stop and not started since, from the events.
#[derive(Default)]
struct Draining(HashSet<String>);

impl Draining {
    fn observe(&mut self, e: &engine::Event) {
        if e.kind != "container" {
            return;
        }
        let id = &e.actor.id;
        match e.action.as_str() {
            "kill"
                if e.actor
                    .attributes
                    .get("signal")
                    .is_some_and(|s| STOPPING.contains(&s.as_str())) =>
            {
                self.0.insert(id.clone());
            }
            "start" | "destroy" => {
                self.0.remove(id);
            }
            _ => {}
        }
    }

    fn apply(&self, mut e: Entry) -> Entry {
        if self.0.contains(&e.id) {
            e.ready = false;
        }
        e
    }
}

/// Routes from elsewhere than the engine's containers: swarm services'
/// tasks across the cluster (the daemon feeds them from its swarm node),
/// replaced whole on every change.
pub type External = tokio::sync::watch::Receiver<Vec<Entry>>;

/// Follows the engine (and the apps' releases, and `external`) until the
/// daemon stops.
pub async fn follow(
    engine: Arc<Engine>,
    router: Arc<Router>,
    apps: Arc<AppStore>,
    mut external: Option<External>,
) {
    let (_, mut events) = engine.subscribe_events();
    let mut warned = HashSet::new();
    let mut draining = Draining::default();
    let mut sweep = tokio::time::interval(SWEEP);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Ok(e) if e.kind != "container" && e.kind != "network" => continue,
                Ok(e) => draining.observe(&e),
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            },
            _ = sweep.tick() => {}
            _ = apps.changed() => {}
            changed = async { external.as_mut()?.changed().await.ok() }, if external.is_some() => {
                // The source went (the swarm closed): its routes with it.
                if changed.is_none() {
                    external = None;
                }
            }
        }
        // A burst of events (a compose project starting) makes one rebuild.
        while let Ok(e) = events.try_recv() {
            draining.observe(&e);
        }
        let mut entries: Vec<Entry> = engine
            .containers()
            .iter()
            .filter_map(entry)
            .map(|e| draining.apply(with_app_route(e, &apps)))
            .collect();
        if let Some(ext) = &external {
            let cluster = ext.borrow().clone();
            entries.extend(cluster.into_iter().map(|e| with_app_route(e, &apps)));
        }
        let errors = router.update(&entries);
        // Once per container (or service) and problem, not once a second.
        let now: HashSet<(String, String)> = errors
            .iter()
            .map(|e| (e.id.clone(), e.error.to_string()))
            .collect();
        for e in &errors {
            if !warned.contains(&(e.id.clone(), e.error.to_string())) {
                tracing::warn!(
                    "router: {} {} gets no route: {}",
                    e.kind,
                    e.container,
                    e.error
                );
            }
        }
        warned = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: &str, signal: Option<&str>) -> engine::Event {
        let mut attributes = std::collections::BTreeMap::new();
        if let Some(s) = signal {
            attributes.insert("signal".to_string(), s.to_string());
        }
        engine::Event {
            status: None,
            id: None,
            from: None,
            kind: "container".into(),
            action: action.into(),
            actor: engine::Actor {
                id: "c1".into(),
                attributes,
            },
            scope: "local".into(),
            time: 0,
            time_nano: 0,
        }
    }

    fn ready(d: &Draining) -> bool {
        d.apply(Entry::with_labels("c1", &[])).ready
    }

    #[test]
    fn stop_signals_drain_until_the_next_start_and_reloads_do_not() {
        let mut d = Draining::default();
        d.observe(&event("kill", Some("1")));
        assert!(ready(&d), "SIGHUP is a reload");
        d.observe(&event("kill", Some("15")));
        assert!(!ready(&d), "SIGTERM: draining");
        d.observe(&event("die", None));
        assert!(!ready(&d));
        d.observe(&event("start", None));
        assert!(ready(&d), "started again");
    }

    #[tokio::test]
    async fn app_domains_belong_to_their_app_and_its_current_release() {
        let tmp = tempfile::tempdir().unwrap();
        let apps = AppStore::open(
            tmp.path(),
            "unix:///x.sock",
            std::path::Path::new("/bin/true"),
        )
        .unwrap();
        apps.create(None, "demo", vec!["demo.test".into()])
            .await
            .unwrap();
        let with = |labels: &[(&str, &str)]| Entry::with_labels("c", labels);
        let hijack = with_app_route(with(&[("berth.http.host", "other.test,Demo.test")]), &apps);
        let why = hijack.refused.unwrap();
        assert_eq!(why.reason, "demo.test is a domain of app demo");
        let free = with_app_route(with(&[("berth.http.host", "other.test")]), &apps);
        assert!(free.refused.is_none());
        let stale = with_app_route(
            with(&[
                ("berth.app", "demo"),
                ("berth.app.release", "v9"),
                ("berth.app.process", "web"),
                ("berth.http.host", "sneaky.test"),
            ]),
            &apps,
        );
        assert!(
            !stale.labels.contains_key("berth.http.host"),
            "{:?}",
            stale.labels
        );
        // The app's web service: its own route labels, whatever the
        // release this node recorded.
        let mut service = with(&[
            ("berth.app", "demo"),
            ("berth.app.release", "v9"),
            ("berth.app.process", "web"),
            ("berth.http.host", "demo.test"),
        ]);
        service.kind = crate::table::Kind::Service;
        let routed = with_app_route(service, &apps);
        assert!(routed.refused.is_none());
        assert_eq!(routed.labels["berth.http.host"], "demo.test");
    }
}
