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

/// One answered request of a route.
pub struct Outcome<'a> {
    pub route: &'a str,
    pub code: u16,
    pub seconds: f64,
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

    pub fn observe(&self, o: Outcome<'_>) {
        self.requests
            .get_or_create(&vec![
                ("route", o.route.to_string()),
                ("code", o.code.to_string()),
            ])
            .inc();
        self.latency
            .get_or_create(&vec![("route", o.route.to_string())])
            .observe(o.seconds);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_latencies_appear_in_the_scrape() {
        let on = metrics::Metrics::new();
        let m = ProxyMetrics::register(&on);
        m.observe(Outcome {
            route: "a.test/",
            code: 200,
            seconds: 0.003,
        });
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
}
