//! Prometheus metrics of a berth daemon: the engine's own (dockerd's names)
//! and, at each scrape, every running container's (cAdvisor's names), in
//! the Prometheus text format.

mod containers;
mod registry;

pub use containers::{ContainerSample, EngineInfo, InterfaceCounters, Scrape, label_name};
pub use prometheus_client::metrics::counter::Counter;
pub use registry::{Metrics, Timer};

use prometheus_client::encoding::prometheus_text;

/// The `Content-Type` of a scrape's answer (text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// One scrape's text: the engine's registered metrics, then `scrape`.
pub fn render(metrics: &Metrics, scrape: Scrape) -> Result<String, std::fmt::Error> {
    let mut out = String::with_capacity(16 * 1024 + scrape.containers.len() * 8 * 1024);
    metrics.encode(&mut out)?;
    let mut per_scrape = prometheus_client::registry::Registry::default();
    per_scrape.register_collector(Box::new(scrape));
    prometheus_text::encode(&mut out, &per_scrape)?;
    Ok(out)
}

#[cfg(test)]
mod tests;
