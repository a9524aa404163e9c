//! The router's request counts and latencies, registered on the daemon's
//! metrics (scraped on `/metrics` when `--metrics-addr` is set).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;

type Labels = Vec<(&'static str, String)>;

/// Latencies from 1 ms to 10 s: a proxy's answers are mostly fast.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

#[derive(Debug, Clone)]
pub struct ProxyMetrics {
    requests: Family<Labels, Counter>,
    latency: Family<Labels, Histogram, fn() -> Histogram>,
}

/// One route's series, looked up once per route rather than per request:
/// a family lookup builds its label set (four strings) and hashes it, which
/// cost more than the counting itself. The series are the family's own
/// (shared counters), so a route rebuilt with the table finds them again.
#[derive(Debug)]
pub struct RouteSeries {
    route: String,
    latency: Histogram,
    codes: parking_lot::RwLock<Vec<(u16, Counter)>>,
}

impl ProxyMetrics {
    pub fn register(on: &metrics::Metrics) -> ProxyMetrics {
        let m = ProxyMetrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(histogram as fn() -> Histogram),
        };
        on.register(
            "berth_router_requests",
            "Requests the HTTP router answered, by route and status code",
            m.requests.clone(),
        );
        on.register(
            "berth_router_request_duration_seconds",
            "Time from a request's arrival to its response head, by route",
            m.latency.clone(),
        );
        m
    }

    /// The series of `route` (`host/path`).
    pub fn route(&self, route: &str) -> RouteSeries {
        RouteSeries {
            route: route.to_string(),
            latency: self
                .latency
                .get_or_create(&vec![("route", route.to_string())])
                .clone(),
            codes: parking_lot::RwLock::new(Vec::new()),
        }
    }

    /// Counts a request of `series`' route.
    pub fn observe_in(&self, series: &RouteSeries, code: u16, seconds: f64) {
        let counted = series
            .codes
            .read()
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, counter)| counter.inc())
            .is_some();
        if !counted {
            let counter = self
                .requests
                .get_or_create(&vec![
                    ("route", series.route.clone()),
                    ("code", code.to_string()),
                ])
                .clone();
            counter.inc();
            let mut codes = series.codes.write();
            if !codes.iter().any(|(c, _)| *c == code) {
                codes.push((code, counter));
            }
        }
        series.latency.observe(seconds);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_latencies_appear_in_the_scrape() {
        let on = metrics::Metrics::new();
        let m = ProxyMetrics::register(&on);
        m.observe_in(&m.route("a.test/"), 200, 0.003);
        let mut text = String::new();
        on.encode(&mut text).unwrap();
        assert!(
            text.contains("berth_router_requests_total{route=\"a.test/\",code=\"200\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "berth_router_request_duration_seconds_bucket{le=\"0.005\",route=\"a.test/\"} 1"
            ) || text.contains(
                "berth_router_request_duration_seconds_bucket{route=\"a.test/\",le=\"0.005\"} 1"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_routes_series_are_the_familys() {
        let on = metrics::Metrics::new();
        let m = ProxyMetrics::register(&on);
        let series = m.route("a.test/");
        m.observe_in(&series, 200, 0.003);
        m.observe_in(&series, 200, 0.003);
        m.observe_in(&series, 502, 0.2);
        // A route rebuilt with the table counts on in the same series.
        m.observe_in(&m.route("a.test/"), 200, 0.003);
        m.observe_in(&m.route("a.test/"), 200, 0.003);
        let mut text = String::new();
        on.encode(&mut text).unwrap();
        for line in [
            "berth_router_requests_total{route=\"a.test/\",code=\"200\"} 4",
            "berth_router_requests_total{route=\"a.test/\",code=\"502\"} 1",
            "berth_router_request_duration_seconds_count{route=\"a.test/\"} 5",
        ] {
            assert!(text.contains(line), "no {line} in {text}");
        }
    }
}
