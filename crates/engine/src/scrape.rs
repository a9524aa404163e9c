//! One Prometheus scrape's view of the engine: container states and every
//! running container's usage, read from the cgroup files by the daemon
//! itself (no round trip to each shim) with the reader `docker stats` uses.

use std::sync::{Arc, OnceLock};

use metrics::{ContainerSample, EngineInfo, Scrape};
use runtime::cgstats::{Layout, Reader};

use crate::Engine;
use crate::container::Container;
use crate::model::Status;

impl Engine {
    /// The engine's metrics registry (action timers, health-check counters);
    /// other parts of the daemon register their counters here too.
    pub fn metrics(&self) -> &Arc<metrics::Metrics> {
        &self.metrics
    }

    /// Everything a scrape reports at this instant. Blocking: it reads a
    /// dozen small files per running container.
    pub fn scrape(&self) -> Scrape {
        let containers: Vec<Arc<Container>> = self.registry().by_id.values().cloned().collect();
        let mut reader = Reader::new(Layout::detect());
        let mut scrape = Scrape {
            info: engine_info().clone(),
            machine_cpu_cores: u64::from(runtime::cgstats::online_cpus()),
            machine_memory_bytes: runtime::cgstats::machine_memory(),
            ..Scrape::default()
        };
        for c in &containers {
            let status = c.status();
            // As dockerd's state gauge: everything not running or paused is stopped.
            match status {
                Status::Running | Status::Restarting => scrape.running += 1,
                Status::Paused => scrape.paused += 1,
                _ => scrape.stopped += 1,
            }
            if matches!(status, Status::Running | Status::Paused)
                && let Some(sample) = self.sample(c, &mut reader)
            {
                scrape.containers.push(sample);
            }
        }
        scrape
    }

    /// A running container's series; `None` when it exited meanwhile.
    fn sample(&self, c: &Container, reader: &mut Reader) -> Option<ContainerSample> {
        let cgroup = format!("{}/{}", self.cfg.cgroup_parent.trim_end_matches('/'), c.id);
        let path = std::path::Path::new(&cgroup);
        let stats = reader.stats(path, false).ok()?;
        let spec = reader.spec(path, &stats).unwrap_or_default();
        let processes = reader.processes(path).unwrap_or(0);
        let (name, image, labels, started_at, remote_log) = {
            let inner = c.lock();
            let r = &inner.record;
            (
                r.name.clone(),
                r.image_name.clone(),
                r.config.labels.clone().unwrap_or_default(),
                inner.state.started_at,
                crate::logconfig::is_remote(&r.host_config.log_config.r#type),
            )
        };
        let networks = self.network_stats(c).into_iter().collect();
        // Only remote drivers count deliveries: no file to open for the others.
        let log = if remote_log {
            runtime::shim::read_log_stats(&c.state_dir)
        } else {
            runtime::shim::LogStats::default()
        };
        Some(ContainerSample {
            cgroup,
            name,
            image,
            labels: labels.into_iter().collect(),
            started_at: started_at
                .and_then(|t| t.timestamp_nanos_opt())
                .map(|ns| ns as f64 / 1e9)
                .unwrap_or(0.0),
            stats,
            spec,
            processes,
            networks,
            log_lines_sent: log.sent,
            log_lines_dropped: log.dropped,
        })
    }
}

/// dockerd's engine-info labels; none of them changes while the daemon runs.
fn engine_info() -> &'static EngineInfo {
    static INFO: OnceLock<EngineInfo> = OnceLock::new();
    INFO.get_or_init(|| {
        let uname = nix::sys::utsname::uname().ok();
        let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        let field = |key: &str| {
            os_release
                .lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
                .map(|v| v.trim_matches('"').to_string())
                .unwrap_or_default()
        };
        EngineInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            commit: String::new(),
            architecture: uname
                .as_ref()
                .map(|u| u.machine().to_string_lossy().into_owned())
                .unwrap_or_default(),
            daemon_id: String::new(),
            graphdriver: "overlay2".into(),
            kernel: uname
                .as_ref()
                .map(|u| u.release().to_string_lossy().into_owned())
                .unwrap_or_default(),
            os: field("PRETTY_NAME"),
            os_type: "linux".into(),
            os_version: field("VERSION_ID"),
        }
    })
}
