//! What a scrape collects at that instant: per-container series under
//! cAdvisor's names and labels (so existing Grafana dashboards work
//! unchanged), the machine's size, and dockerd's container-state and
//! engine-info gauges.

use std::borrow::Cow;
use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabel, EncodeLabelSet, LabelSetEncoder, NoLabelSet,
};
use prometheus_client::metrics::MetricType;
use runtime::Stats;
use runtime::cgstats::{CgroupSpec, working_set};

/// One interface's counters as the container sees them (also the
/// `networks` of `docker stats`, hence serializable).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct InterfaceCounters {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

/// One running container at the instant of the scrape.
#[derive(Debug, Clone, Default)]
pub struct ContainerSample {
    /// cAdvisor's `id` label: the container's cgroup, e.g. `/berth/<id>`.
    pub cgroup: String,
    pub name: String,
    /// The image as the container was created from it (`Config.Image`).
    pub image: String,
    /// The container's labels, exported as `container_label_<key>`.
    pub labels: Vec<(String, String)>,
    /// When it started, in seconds since the epoch.
    pub started_at: f64,
    pub stats: Stats,
    pub spec: CgroupSpec,
    pub processes: u64,
    /// By interface name inside the container.
    pub networks: Vec<(String, InterfaceCounters)>,
    /// Lines its remote log driver delivered and dropped (zero for local
    /// drivers): a non-blocking driver drops lines rather than stall it.
    pub log_lines_sent: u64,
    pub log_lines_dropped: u64,
}

/// dockerd's `engine_daemon_engine_info` labels.
#[derive(Debug, Clone, Default)]
pub struct EngineInfo {
    pub version: String,
    pub commit: String,
    pub architecture: String,
    pub daemon_id: String,
    pub graphdriver: String,
    pub kernel: String,
    pub os: String,
    pub os_type: String,
    pub os_version: String,
}

/// Everything a scrape reports besides the engine's registered metrics.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    pub info: EngineInfo,
    pub running: u64,
    pub paused: u64,
    pub stopped: u64,
    pub machine_cpu_cores: u64,
    pub machine_memory_bytes: u64,
    pub containers: Vec<ContainerSample>,
}

/// cAdvisor reads a memory limit above 2^62 as "no limit": 0.
const UNLIMITED_MEMORY: u64 = 1 << 62;

/// Prometheus label names allow `[a-zA-Z0-9_]` only; cAdvisor maps the rest
/// of a Docker label key (dots, dashes) to `_`.
pub fn label_name(key: &str) -> String {
    let mut name = String::with_capacity(16 + key.len());
    name.push_str("container_label_");
    name.extend(
        key.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
    );
    name
}

/// A container's labels with one family-specific label in front.
struct Labels<'a> {
    extra: Option<(&'static str, &'a str)>,
    base: &'a [(Cow<'a, str>, &'a str)],
}

impl EncodeLabelSet for Labels<'_> {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> fmt::Result {
        if let Some(pair) = self.extra {
            pair.encode(encoder.encode_label())?;
        }
        for (k, v) in self.base {
            (k.as_ref(), *v).encode(encoder.encode_label())?;
        }
        Ok(())
    }
}

/// A container with its label set built once for all its series.
struct Prepared<'a> {
    c: &'a ContainerSample,
    labels: Vec<(Cow<'a, str>, &'a str)>,
}

fn prepare(c: &ContainerSample) -> Prepared<'_> {
    let mut labels: Vec<(Cow<'_, str>, &str)> = c
        .labels
        .iter()
        .map(|(k, v)| (Cow::Owned(label_name(k)), v.as_str()))
        .collect();
    labels.push((Cow::Borrowed("id"), c.cgroup.as_str()));
    labels.push((Cow::Borrowed("image"), c.image.as_str()));
    labels.push((Cow::Borrowed("name"), c.name.as_str()));
    Prepared { c, labels }
}

type Value = fn(&ContainerSample) -> Option<f64>;

const NS: f64 = 1e9;

/// Per-container series with one value each: (name as scraped, help, type, value).
/// Counter names carry no `_total`: the encoding appends it.
const SERIES: &[(&str, &str, MetricType, Value)] = &[
    (
        "container_cpu_user_seconds",
        "Cumulative user cpu time consumed in seconds.",
        MetricType::Counter,
        |c| Some(c.stats.cpu_user_ns as f64 / NS),
    ),
    (
        "container_cpu_system_seconds",
        "Cumulative system cpu time consumed in seconds.",
        MetricType::Counter,
        |c| Some(c.stats.cpu_kernel_ns as f64 / NS),
    ),
    (
        "container_cpu_cfs_periods",
        "Number of elapsed enforcement period intervals.",
        MetricType::Counter,
        |c| Some(c.stats.cpu_periods as f64),
    ),
    (
        "container_cpu_cfs_throttled_periods",
        "Number of throttled period intervals.",
        MetricType::Counter,
        |c| Some(c.stats.cpu_throttled_periods as f64),
    ),
    (
        "container_cpu_cfs_throttled_seconds",
        "Total time duration the container has been throttled.",
        MetricType::Counter,
        |c| Some(c.stats.cpu_throttled_ns as f64 / NS),
    ),
    (
        "container_memory_usage_bytes",
        "Current memory usage in bytes, including all memory regardless of when it was accessed",
        MetricType::Gauge,
        |c| Some(c.stats.memory_usage as f64),
    ),
    (
        "container_memory_working_set_bytes",
        "Current working set in bytes.",
        MetricType::Gauge,
        |c| Some(working_set(c.stats.memory_usage, &c.stats.memory_stat) as f64),
    ),
    (
        "container_memory_rss",
        "Size of RSS in bytes.",
        MetricType::Gauge,
        |c| Some(c.stats.memory_rss as f64),
    ),
    (
        "container_memory_cache",
        "Number of bytes of page cache memory.",
        MetricType::Gauge,
        |c| Some(c.stats.memory_cache as f64),
    ),
    // A counter in cAdvisor, but without the `_total` a counter gets here.
    (
        "container_memory_failcnt",
        "Number of memory usage hits limits",
        MetricType::Gauge,
        |c| Some(c.stats.memory_failcnt as f64),
    ),
    (
        "container_fs_reads_bytes",
        "Cumulative count of bytes read",
        MetricType::Counter,
        |c| Some(c.stats.blkio_read_bytes as f64),
    ),
    (
        "container_fs_writes_bytes",
        "Cumulative count of bytes written",
        MetricType::Counter,
        |c| Some(c.stats.blkio_write_bytes as f64),
    ),
    (
        "container_spec_memory_limit_bytes",
        "Memory limit for the container.",
        MetricType::Gauge,
        |c| {
            let l = c.spec.memory_limit;
            Some(if l > UNLIMITED_MEMORY { 0.0 } else { l as f64 })
        },
    ),
    (
        "container_spec_cpu_shares",
        "CPU share of the container.",
        MetricType::Gauge,
        |c| Some(c.spec.cpu_shares as f64),
    ),
    // cAdvisor leaves out a quota or period that is not set.
    (
        "container_spec_cpu_quota",
        "CPU quota of the container.",
        MetricType::Gauge,
        |c| (c.spec.cpu_quota > 0).then_some(c.spec.cpu_quota as f64),
    ),
    (
        "container_spec_cpu_period",
        "CPU period of the container.",
        MetricType::Gauge,
        |c| (c.spec.cpu_period > 0).then_some(c.spec.cpu_period as f64),
    ),
    (
        "container_start_time_seconds",
        "Start time of the container since unix epoch in seconds.",
        MetricType::Gauge,
        |c| Some(c.started_at),
    ),
    (
        "container_processes",
        "Number of processes running inside the container.",
        MetricType::Gauge,
        |c| Some(c.processes as f64),
    ),
    (
        "container_threads",
        "Number of threads running inside the container",
        MetricType::Gauge,
        |c| Some(c.stats.pids_current as f64),
    ),
    (
        "container_log_lines_sent",
        "Lines the container's remote log driver delivered (berth).",
        MetricType::Counter,
        |c| Some(c.log_lines_sent as f64),
    ),
    (
        "container_log_lines_dropped",
        "Lines the container's remote log driver dropped: non-blocking mode's full buffer, a log server that is down (berth).",
        MetricType::Counter,
        |c| Some(c.log_lines_dropped as f64),
    ),
];

type NetValue = fn(&InterfaceCounters) -> u64;

/// Per-interface counters, `_total` added by the encoding.
const NETWORK: &[(&str, &str, NetValue)] = &[
    (
        "container_network_receive_bytes",
        "Cumulative count of bytes received",
        |n| n.rx_bytes,
    ),
    (
        "container_network_receive_packets",
        "Cumulative count of packets received",
        |n| n.rx_packets,
    ),
    (
        "container_network_receive_errors",
        "Cumulative count of errors encountered while receiving",
        |n| n.rx_errors,
    ),
    (
        "container_network_receive_packets_dropped",
        "Cumulative count of packets dropped while receiving",
        |n| n.rx_dropped,
    ),
    (
        "container_network_transmit_bytes",
        "Cumulative count of bytes transmitted",
        |n| n.tx_bytes,
    ),
    (
        "container_network_transmit_packets",
        "Cumulative count of packets transmitted",
        |n| n.tx_packets,
    ),
    (
        "container_network_transmit_errors",
        "Cumulative count of errors encountered while transmitting",
        |n| n.tx_errors,
    ),
    (
        "container_network_transmit_packets_dropped",
        "Cumulative count of packets dropped while transmitting",
        |n| n.tx_dropped,
    ),
];

fn sample(
    fam: &mut prometheus_client::encoding::MetricEncoder<'_>,
    kind: MetricType,
    labels: &Labels<'_>,
    v: f64,
) -> fmt::Result {
    let mut m = fam.encode_family(labels)?;
    match kind {
        MetricType::Counter => m.encode_counter::<NoLabelSet, _, f64>(&v, None),
        _ => m.encode_gauge(&v),
    }
}

impl Collector for Scrape {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let prepared: Vec<Prepared<'_>> = self.containers.iter().map(prepare).collect();

        let mut fam = enc.encode_descriptor(
            "engine_daemon_container_states_containers",
            "The count of containers in various states",
            None,
            MetricType::Gauge,
        )?;
        for (state, n) in [
            ("paused", self.paused),
            ("running", self.running),
            ("stopped", self.stopped),
        ] {
            fam.encode_family(&[("state", state)])?
                .encode_gauge(&(n as i64))?;
        }
        let i = &self.info;
        let mut fam = enc.encode_descriptor(
            "engine_daemon_engine_info",
            "The information related to the engine and the OS it is running on",
            None,
            MetricType::Gauge,
        )?;
        fam.encode_family(&[
            ("architecture", i.architecture.as_str()),
            ("commit", &i.commit),
            ("daemon_id", &i.daemon_id),
            ("graphdriver", &i.graphdriver),
            ("kernel", &i.kernel),
            ("os", &i.os),
            ("os_type", &i.os_type),
            ("os_version", &i.os_version),
            ("version", &i.version),
        ])?
        .encode_gauge(&1i64)?;
        for (name, help, v) in [
            (
                "machine_cpu_cores",
                "Number of logical CPU cores.",
                self.machine_cpu_cores,
            ),
            (
                "machine_memory_bytes",
                "Amount of memory installed on the machine.",
                self.machine_memory_bytes,
            ),
        ] {
            enc.encode_descriptor(name, help, None, MetricType::Gauge)?
                .encode_gauge(&(v as f64))?;
        }
        if prepared.is_empty() {
            return Ok(());
        }

        let mut fam = enc.encode_descriptor(
            "container_cpu_usage_seconds",
            "Cumulative cpu time consumed in seconds.",
            None,
            MetricType::Counter,
        )?;
        for p in &prepared {
            let labels = Labels {
                extra: Some(("cpu", "total")),
                base: &p.labels,
            };
            sample(
                &mut fam,
                MetricType::Counter,
                &labels,
                p.c.stats.cpu_usage_ns as f64 / NS,
            )?;
        }
        for (name, help, kind, value) in SERIES {
            let values: Vec<(&Prepared<'_>, f64)> = prepared
                .iter()
                .filter_map(|p| value(p.c).map(|v| (p, v)))
                .collect();
            if values.is_empty() {
                continue;
            }
            let mut fam = enc.encode_descriptor(name, help, None, *kind)?;
            for (p, v) in values {
                let labels = Labels {
                    extra: None,
                    base: &p.labels,
                };
                sample(&mut fam, *kind, &labels, v)?;
            }
        }
        if prepared.iter().all(|p| p.c.networks.is_empty()) {
            return Ok(());
        }
        for (name, help, value) in NETWORK {
            let mut fam = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
            for p in &prepared {
                for (ifname, counters) in &p.c.networks {
                    let labels = Labels {
                        extra: Some(("interface", ifname.as_str())),
                        base: &p.labels,
                    };
                    sample(
                        &mut fam,
                        MetricType::Counter,
                        &labels,
                        value(counters) as f64,
                    )?;
                }
            }
        }
        Ok(())
    }
}
