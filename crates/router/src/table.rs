//! The route table: host name → path prefixes → backends, rebuilt whole from
//! the containers each time one changes (a few hundred at most: cheaper and
//! simpler than patching), keeping each backend's learned state.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde::Serialize;

use crate::backend::Backend;
use crate::labels::{self, Balance, LabelError, RouteOptions, RouteSpec};

/// What a route's backend is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A container of this daemon, by its labels.
    #[default]
    Container,
    /// A task of a swarm service, by the service's labels (anywhere in
    /// the cluster: the node's legs reach it).
    Service,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Container => "container",
            Kind::Service => "service",
        })
    }
}

/// One container (or service task) as the router sees it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub kind: Kind,
    pub id: String,
    pub name: String,
    pub created: i64,
    pub labels: BTreeMap<String, String>,
    /// Exposed TCP ports (image and `--expose`).
    pub exposed: Vec<u16>,
    /// Its address on a network the daemon reaches; none when stopped.
    pub addr: Option<IpAddr>,
    /// Running, and healthy when it has a health check.
    pub ready: bool,
    /// Why its labels are refused beyond their own checks (a host that
    /// belongs to an app).
    pub refused: Option<LabelError>,
}

#[derive(Debug)]
pub struct Route {
    pub host: String,
    pub path: String,
    pub options: RouteOptions,
    pub backends: Vec<Arc<Backend>>,
    /// Round robin's position, kept across rebuilds (a reset on every
    /// rebuild would favour the first backends).
    next: Arc<AtomicUsize>,
    /// Its request metrics, found on its first request.
    pub(crate) series: std::sync::OnceLock<crate::metrics::RouteSeries>,
}

/// A container (or service) whose labels were refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteError {
    pub kind: Kind,
    /// Its name (a service's, for a service).
    pub container: String,
    pub id: String,
    #[serde(flatten)]
    pub error: LabelError,
}

#[derive(Debug, Default)]
pub struct RouteTable {
    /// Per host, longest path first.
    by_host: HashMap<String, Vec<Arc<Route>>>,
    pub errors: Vec<RouteError>,
}

/// A route being gathered: the first container's options, every backend.
type Pending = (RouteOptions, Vec<Arc<Backend>>);

pub enum Lookup<'a> {
    UnknownHost,
    NoPath,
    Found(&'a Arc<Route>),
}

impl RouteTable {
    /// The table for `entries`; backends already in `previous` are reused.
    pub fn build(entries: &[Entry], previous: &RouteTable) -> RouteTable {
        let positions: HashMap<(&str, &str), &Arc<AtomicUsize>> = previous
            .by_host
            .values()
            .flatten()
            .map(|r| ((r.host.as_str(), r.path.as_str()), &r.next))
            .collect();
        let known: HashMap<(&str, SocketAddr), &Arc<Backend>> = previous
            .by_host
            .values()
            .flatten()
            .flat_map(|r| r.backends.iter())
            .map(|b| ((b.container_id.as_str(), b.addr), b))
            .collect();
        let mut sorted: Vec<&Entry> = entries.iter().collect();
        sorted.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        let mut routes: BTreeMap<(String, String), Pending> = BTreeMap::new();
        let mut errors = Vec::new();
        for e in sorted {
            if let Some(error) = &e.refused {
                errors.push(RouteError {
                    kind: e.kind,
                    container: e.name.clone(),
                    id: e.id.clone(),
                    error: error.clone(),
                });
                continue;
            }
            let spec = match labels::parse(&e.labels) {
                None => continue,
                Some(Ok(spec)) => spec,
                Some(Err(error)) => {
                    errors.push(RouteError {
                        kind: e.kind,
                        container: e.name.clone(),
                        id: e.id.clone(),
                        error,
                    });
                    continue;
                }
            };
            let port = match backend_port(&spec, e) {
                Ok(p) => p,
                Err(error) => {
                    errors.push(RouteError {
                        kind: e.kind,
                        container: e.name.clone(),
                        id: e.id.clone(),
                        error,
                    });
                    continue;
                }
            };
            let backend = e.addr.filter(|_| e.ready).map(|ip| {
                let addr = SocketAddr::new(ip, port);
                known
                    .get(&(e.id.as_str(), addr))
                    .map(|b| (*b).clone())
                    .unwrap_or_else(|| Arc::new(Backend::new(&e.id, &e.name, addr)))
            });
            for host in &spec.hosts {
                let (_, backends) = routes
                    .entry((host.clone(), spec.path.clone()))
                    .or_insert_with(|| (spec.options.clone(), Vec::new()));
                backends.extend(backend.clone());
            }
        }
        let mut by_host: HashMap<String, Vec<Arc<Route>>> = HashMap::new();
        for ((host, path), (options, backends)) in routes {
            let next = positions
                .get(&(host.as_str(), path.as_str()))
                .map(|n| (*n).clone())
                .unwrap_or_default();
            by_host
                .entry(host.clone())
                .or_default()
                .push(Arc::new(Route {
                    host,
                    path,
                    options,
                    backends,
                    next,
                    series: std::sync::OnceLock::new(),
                }));
        }
        for list in by_host.values_mut() {
            list.sort_by_key(|r| std::cmp::Reverse(r.path.len()));
        }
        RouteTable { by_host, errors }
    }

    /// The route of `host` (lowercase, no port) whose prefix is the longest
    /// to match `path` at a segment boundary.
    pub fn lookup(&self, host: &str, path: &str) -> Lookup<'_> {
        let Some(routes) = self.by_host.get(host) else {
            return Lookup::UnknownHost;
        };
        routes
            .iter()
            .find(|r| prefix_matches(&r.path, path))
            .map_or(Lookup::NoPath, Lookup::Found)
    }

    pub fn routes(&self) -> impl Iterator<Item = &Arc<Route>> {
        self.by_host.values().flatten()
    }
}

/// `/api` matches `/api`, `/api/` and `/api/v1`, not `/apix`.
fn prefix_matches(prefix: &str, path: &str) -> bool {
    prefix == "/"
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

fn backend_port(spec: &RouteSpec, e: &Entry) -> Result<u16, LabelError> {
    if let Some(p) = spec.port {
        return Ok(p);
    }
    // A service's tasks may run images this node never pulled: its
    // endpoint's target ports stand for a container's exposed ones.
    let has = match e.kind {
        Kind::Container => "the container exposes",
        Kind::Service => "the service publishes",
    };
    match e.exposed.as_slice() {
        [one] => Ok(*one),
        [] => Err(LabelError {
            label: labels::PORT.into(),
            value: String::new(),
            reason: format!("{has} no port: set berth.http.port"),
        }),
        several => Err(LabelError {
            label: labels::PORT.into(),
            value: String::new(),
            reason: format!("{has} {several:?}: set berth.http.port to one"),
        }),
    }
}

impl Route {
    /// A backend for the next request, skipping `tried` ones and, while
    /// others remain, ejected ones (all ejected: every one is a candidate,
    /// as a guess beats a certain 503).
    pub fn pick(&self, tried: &[SocketAddr], now: Instant) -> Option<Arc<Backend>> {
        let untried: Vec<&Arc<Backend>> = self
            .backends
            .iter()
            .filter(|b| !tried.contains(&b.addr))
            .collect();
        let healthy: Vec<&Arc<Backend>> = untried
            .iter()
            .copied()
            .filter(|b| !b.is_ejected(now))
            .collect();
        let candidates = if healthy.is_empty() { untried } else { healthy };
        if candidates.is_empty() {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed) % candidates.len();
        let chosen = match self.options.balance {
            Balance::RoundRobin => candidates[start],
            // Rotating the scan's start spreads ties instead of piling on the first.
            Balance::LeastRequests => (0..candidates.len())
                .map(|i| candidates[(start + i) % candidates.len()])
                .min_by_key(|b| b.in_flight())
                .unwrap_or(candidates[start]),
        };
        Some(chosen.clone())
    }
}

#[cfg(test)]
impl Entry {
    /// A ready container `c-ID` with these labels and no address.
    pub(crate) fn with_labels(id: &str, labels: &[(&str, &str)]) -> Entry {
        Entry {
            kind: Kind::Container,
            id: id.into(),
            name: format!("c-{id}"),
            created: 0,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            exposed: vec![],
            addr: None,
            ready: true,
            refused: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, labels: &[(&str, &str)], ip: &str, ready: bool) -> Entry {
        Entry {
            addr: Some(ip.parse().unwrap()),
            ready,
            ..Entry::with_labels(id, labels)
        }
    }

    fn found<'a>(t: &'a RouteTable, host: &str, path: &str) -> &'a Arc<Route> {
        match t.lookup(host, path) {
            Lookup::Found(r) => r,
            _ => panic!("no route for {host}{path}"),
        }
    }

    #[test]
    fn longest_prefix_wins_at_segment_boundaries() {
        let t = RouteTable::build(
            &[
                entry(
                    "a",
                    &[("berth.http.host", "x.test"), ("berth.http.port", "80")],
                    "10.0.0.2",
                    true,
                ),
                entry(
                    "b",
                    &[
                        ("berth.http.host", "x.test"),
                        ("berth.http.path", "/api"),
                        ("berth.http.port", "80"),
                    ],
                    "10.0.0.3",
                    true,
                ),
            ],
            &RouteTable::default(),
        );
        assert_eq!(found(&t, "x.test", "/api/v1").path, "/api");
        assert_eq!(found(&t, "x.test", "/api").path, "/api");
        assert_eq!(found(&t, "x.test", "/apix").path, "/");
        assert_eq!(
            found(&t, "x.test", "/").backends[0].addr.to_string(),
            "10.0.0.2:80"
        );
        assert!(matches!(t.lookup("y.test", "/"), Lookup::UnknownHost));
    }

    #[test]
    fn unready_containers_keep_the_route_without_backends_and_bad_labels_are_listed() {
        let t = RouteTable::build(
            &[
                entry(
                    "a",
                    &[("berth.http.host", "x.test"), ("berth.http.port", "80")],
                    "10.0.0.2",
                    false,
                ),
                entry(
                    "b",
                    &[("berth.http.host", "x.test"), ("berth.http.port", "web")],
                    "10.0.0.3",
                    true,
                ),
                entry("c", &[("berth.http.host", "z.test")], "10.0.0.4", true),
            ],
            &RouteTable::default(),
        );
        assert!(found(&t, "x.test", "/").backends.is_empty());
        assert_eq!(t.errors.len(), 2);
        assert_eq!(t.errors[0].container, "c-b");
        assert_eq!(t.errors[0].error.label, "berth.http.port");
        assert!(
            t.errors[1].error.reason.contains("exposes no port"),
            "{:?}",
            t.errors[1]
        );
    }

    #[test]
    fn backends_keep_their_state_across_rebuilds() {
        let entries = [entry(
            "a",
            &[("berth.http.host", "x.test"), ("berth.http.port", "80")],
            "10.0.0.2",
            true,
        )];
        let t1 = RouteTable::build(&entries, &RouteTable::default());
        let b1 = found(&t1, "x.test", "/").backends[0].clone();
        let t2 = RouteTable::build(&entries, &t1);
        assert!(Arc::ptr_eq(&b1, &found(&t2, "x.test", "/").backends[0]));
    }

    fn three(balance: &str) -> RouteTable {
        let l = |_: ()| {
            vec![
                ("berth.http.host", "x.test"),
                ("berth.http.port", "80"),
                ("berth.http.balance", balance),
            ]
        };
        RouteTable::build(
            &[
                entry("a", &l(()), "10.0.0.2", true),
                entry("b", &l(()), "10.0.0.3", true),
                entry("c", &l(()), "10.0.0.4", true),
            ],
            &RouteTable::default(),
        )
    }

    #[test]
    fn round_robin_spreads_and_skips_ejected_and_tried() {
        let t = three("round_robin");
        let r = found(&t, "x.test", "/");
        let now = Instant::now();
        let mut counts: HashMap<SocketAddr, usize> = HashMap::new();
        for _ in 0..30 {
            *counts.entry(r.pick(&[], now).unwrap().addr).or_default() += 1;
        }
        assert!(counts.values().all(|&n| n == 10), "{counts:?}");
        let ejected = r.backends[0].clone();
        assert!(ejected.failed(now, 1, std::time::Duration::from_secs(5)));
        for _ in 0..10 {
            assert_ne!(r.pick(&[], now).unwrap().addr, ejected.addr);
        }
        let tried = [r.backends[1].addr, r.backends[2].addr];
        assert_eq!(
            r.pick(&tried, now).unwrap().addr,
            ejected.addr,
            "an ejected backend is better than none"
        );
        let all: Vec<SocketAddr> = r.backends.iter().map(|b| b.addr).collect();
        assert!(r.pick(&all, now).is_none());
    }

    #[test]
    fn round_robin_goes_on_across_rebuilds() {
        let mut t = three("round_robin");
        let mut counts: HashMap<SocketAddr, usize> = HashMap::new();
        let entries: Vec<Entry> = ["a", "b", "c"]
            .iter()
            .zip(["10.0.0.2", "10.0.0.3", "10.0.0.4"])
            .map(|(id, ip)| {
                entry(
                    id,
                    &[("berth.http.host", "x.test"), ("berth.http.port", "80")],
                    ip,
                    true,
                )
            })
            .collect();
        for _ in 0..10 {
            // A rebuild between every request, as events on a busy host cause.
            let addr = found(&t, "x.test", "/")
                .pick(&[], Instant::now())
                .unwrap()
                .addr;
            *counts.entry(addr).or_default() += 1;
            t = RouteTable::build(&entries, &t);
        }
        let mut n: Vec<usize> = counts.values().copied().collect();
        n.sort();
        assert_eq!(n, [3, 3, 4], "{counts:?}");
    }

    #[test]
    fn least_requests_picks_the_idlest() {
        let t = three("least_requests");
        let r = found(&t, "x.test", "/");
        let now = Instant::now();
        let _busy = [
            r.backends[0].begin(),
            r.backends[0].begin(),
            r.backends[1].begin(),
        ];
        for _ in 0..5 {
            assert_eq!(r.pick(&[], now).unwrap().addr, r.backends[2].addr);
        }
    }
}
