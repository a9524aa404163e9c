//! The engine's own metrics under dockerd's names: action timers, health
//! check counters, the host's size. The engine owns one [`Metrics`] and
//! updates it where things happen; the daemon encodes it on each scrape.

use std::time::Instant;

use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Go's `prometheus.DefBuckets`, which dockerd's timers use.
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

type ActionLabels = [(&'static str, &'static str); 1];
type Timers = Family<ActionLabels, Histogram, fn() -> Histogram>;

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// Metrics the engine updates as it works.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    container_actions: Timers,
    network_actions: Timers,
    build_actions: Timers,
    health_checks: Counter,
    health_checks_failed: Counter,
    builds_triggered: Counter,
    builds_failed: Family<[(&'static str, &'static str); 1], Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let container_actions = Timers::new_with_constructor(histogram as fn() -> Histogram);
        registry.register(
            "engine_daemon_container_actions_seconds",
            "The number of seconds it takes to process each container action",
            container_actions.clone(),
        );
        // dockerd shows these before any happened, so dashboards find them.
        for action in ["start", "changes", "commit", "create", "delete"] {
            drop(container_actions.get_or_create(&[("action", action)]));
        }
        let network_actions = Timers::new_with_constructor(histogram as fn() -> Histogram);
        registry.register(
            "engine_daemon_network_actions_seconds",
            "The number of seconds it takes to process each network action",
            network_actions.clone(),
        );
        let build_actions = Timers::new_with_constructor(histogram as fn() -> Histogram);
        registry.register(
            "engine_daemon_build_actions_seconds",
            "The number of seconds it takes to process each build action",
            build_actions.clone(),
        );
        let health_checks = Counter::default();
        registry.register(
            "engine_daemon_health_checks",
            "The total number of health checks",
            health_checks.clone(),
        );
        let health_checks_failed = Counter::default();
        registry.register(
            "engine_daemon_health_checks_failed",
            "The total number of failed health checks",
            health_checks_failed.clone(),
        );
        let builds_triggered = Counter::default();
        registry.register(
            "builder_builds_triggered",
            "Number of triggered image builds",
            builds_triggered.clone(),
        );
        let builds_failed = Family::default();
        registry.register(
            "builder_builds_failed",
            "Number of failed image builds",
            builds_failed.clone(),
        );
        let cpus = Gauge::<i64>::default();
        cpus.set(i64::from(runtime::cgstats::online_cpus()));
        registry.register(
            "engine_daemon_engine_cpus_cpus",
            "The number of cpus that the host system of the engine has",
            cpus,
        );
        let memory = Gauge::<i64>::default();
        memory.set(i64::try_from(runtime::cgstats::machine_memory()).unwrap_or(i64::MAX));
        registry.register(
            "engine_daemon_engine_memory_bytes",
            "The number of bytes of memory that the host system of the engine has",
            memory,
        );
        Metrics {
            registry: Mutex::new(registry),
            container_actions,
            network_actions,
            build_actions,
            health_checks,
            health_checks_failed,
            builds_triggered,
            builds_failed,
        }
    }

    /// Registers a counter and hands it back: `name` without `_total`, which
    /// the encoding adds (e.g. `engine_daemon_logs_dropped` is scraped as
    /// `engine_daemon_logs_dropped_total`).
    pub fn counter(&self, name: &str, help: &str) -> Counter {
        let c = Counter::default();
        self.registry.lock().register(name, help, c.clone());
        c
    }

    /// Registers a metric another crate owns and updates (the router's
    /// request counters and latencies), scraped with the engine's.
    pub fn register(
        &self,
        name: &str,
        help: &str,
        metric: impl prometheus_client::registry::Metric,
    ) {
        self.registry.lock().register(name, help, metric);
    }

    /// Times one container action (`create`, `start`, `delete`, ...).
    pub fn container_action(&self, action: &'static str) -> Timer {
        Timer::start(&self.container_actions, action)
    }

    /// Times one network action (`create`, `connect`, `disconnect`, `delete`).
    pub fn network_action(&self, action: &'static str) -> Timer {
        Timer::start(&self.network_actions, action)
    }

    /// Times one build action (`build`: a whole build, from its first step).
    pub fn build_action(&self, action: &'static str) -> Timer {
        Timer::start(&self.build_actions, action)
    }

    /// One health probe ran; `failed` when it could not be run at all (a
    /// probe that ran and said "unhealthy" is not a failed check, as dockerd).
    pub fn health_check(&self, failed: bool) {
        self.health_checks.inc();
        if failed {
            self.health_checks_failed.inc();
        }
    }

    /// A build began; [`Metrics::build_failed`] when it did not finish.
    pub fn build_triggered(&self) {
        self.builds_triggered.inc();
    }

    /// dockerd's reasons: `build_canceled`, `dockerfile_syntax_error`,
    /// `command_not_supported_error`, `build_target_not_reachable_error`,
    /// `missing_onbuild_arguments_error`, `unknown_instruction_error`,
    /// `dockerfile_empty_error`, `error_processing_commands_error`, `unknown`.
    pub fn build_failed(&self, reason: &'static str) {
        self.builds_failed
            .get_or_create(&[("reason", reason)])
            .inc();
    }

    /// Appends the text exposition of every registered metric.
    pub fn encode(&self, out: &mut String) -> std::fmt::Result {
        prometheus_client::encoding::prometheus_text::encode(out, &self.registry.lock())
    }
}

/// Measures an action from its creation; only [`Timer::observe`] records,
/// so failed actions are not counted (as dockerd, which times successes).
#[must_use = "a timer records nothing until observe()"]
#[derive(Debug)]
pub struct Timer {
    histogram: Histogram,
    begun: Instant,
}

impl Timer {
    fn start(family: &Timers, action: &'static str) -> Timer {
        Timer {
            histogram: family.get_or_create(&[("action", action)]).clone(),
            begun: Instant::now(),
        }
    }

    /// Records the elapsed time when `result` is a success; hands it back.
    pub fn observe<T, E>(self, result: Result<T, E>) -> Result<T, E> {
        if result.is_ok() {
            self.histogram.observe(self.begun.elapsed().as_secs_f64());
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(m: &Metrics) -> String {
        let mut s = String::new();
        m.encode(&mut s).unwrap();
        s
    }

    fn value<'a>(text: &'a str, series: &str) -> &'a str {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    }

    #[test]
    fn timers_record_successes_only_under_dockerds_names() {
        let m = Metrics::new();
        let before = text(&m);
        assert_eq!(
            value(
                &before,
                "engine_daemon_container_actions_seconds_count{action=\"start\"}"
            ),
            "0"
        );
        let ok: Result<(), ()> = m.container_action("start").observe(Ok(()));
        assert!(ok.is_ok());
        let _ = m.container_action("start").observe(Err::<(), _>("refused"));
        let _ = m.network_action("connect").observe(Ok::<_, ()>(1));
        let after = text(&m);
        assert_eq!(
            value(
                &after,
                "engine_daemon_container_actions_seconds_count{action=\"start\"}"
            ),
            "1"
        );
        assert_eq!(
            value(
                &after,
                "engine_daemon_container_actions_seconds_bucket{action=\"start\",le=\"10\"}"
            ),
            "1"
        );
        assert_eq!(
            value(
                &after,
                "engine_daemon_network_actions_seconds_count{action=\"connect\"}"
            ),
            "1"
        );
        assert!(after.contains("# TYPE engine_daemon_container_actions_seconds histogram"));
    }

    #[test]
    fn counters_and_host_gauges() {
        let m = Metrics::new();
        m.health_check(false);
        m.health_check(true);
        m.build_triggered();
        m.build_failed("dockerfile_syntax_error");
        let dropped = m.counter("engine_daemon_logs_dropped", "Log lines dropped");
        dropped.inc_by(3);
        let t = text(&m);
        assert_eq!(value(&t, "engine_daemon_health_checks_total"), "2");
        assert_eq!(value(&t, "engine_daemon_health_checks_failed_total"), "1");
        assert_eq!(value(&t, "builder_builds_triggered_total"), "1");
        assert_eq!(
            value(
                &t,
                "builder_builds_failed_total{reason=\"dockerfile_syntax_error\"}"
            ),
            "1"
        );
        assert_eq!(value(&t, "engine_daemon_logs_dropped_total"), "3");
        assert!(
            value(&t, "engine_daemon_engine_cpus_cpus")
                .parse::<u32>()
                .unwrap()
                >= 1
        );
        assert!(
            value(&t, "engine_daemon_engine_memory_bytes")
                .parse::<u64>()
                .unwrap()
                > 0
        );
    }
}
