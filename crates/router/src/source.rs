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
        id: c.record.id.clone(),
        name: c.record.name.clone(),
        created: c.record.created.timestamp_nanos_opt().unwrap_or_default(),
        labels: cfg.labels.clone().unwrap_or_default(),
        exposed,
        addr,
        ready: c.state.status == Status::Running && healthy,
    })
}

/// An app container of its app's current release gets the app's route.
fn with_app_route(mut e: Entry, apps: &AppStore) -> Entry {
    if let Some(labels) = apps.route_labels(&e.labels) {
        e.labels.extend(labels);
    }
    e
}

/// Follows the engine (and the apps' releases) until the daemon stops.
pub async fn follow(engine: Arc<Engine>, router: Arc<Router>, apps: Arc<AppStore>) {
    let (_, mut events) = engine.subscribe_events();
    let mut warned = HashSet::new();
    let mut sweep = tokio::time::interval(SWEEP);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Ok(e) if e.kind != "container" && e.kind != "network" => continue,
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            },
            _ = sweep.tick() => {}
            _ = apps.changed() => {}
        }
        let entries: Vec<Entry> = engine
            .containers()
            .iter()
            .filter_map(entry)
            .map(|e| with_app_route(e, &apps))
            .collect();
        let errors = router.update(&entries);
        // Once per container and problem, not once a second.
        let now: HashSet<(String, String)> = errors
            .iter()
            .map(|e| (e.id.clone(), e.error.to_string()))
            .collect();
        for e in &errors {
            if !warned.contains(&(e.id.clone(), e.error.to_string())) {
                tracing::warn!(
                    "router: container {} gets no route: {}",
                    e.container,
                    e.error
                );
            }
        }
        warned = now;
    }
}
