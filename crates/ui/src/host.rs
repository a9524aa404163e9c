//! The host's CPU, memory and disk for the overview page (the kernel's
//! /proc figures and the data root's filesystem, not the engine's files).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::error::UiError;
use crate::state::Ui;

pub struct HostSampler {
    data_root: PathBuf,
    /// The last (busy, total) jiffies read, for a CPU figure between calls.
    prev: Mutex<Option<(u64, u64)>>,
}

impl HostSampler {
    pub fn new(data_root: PathBuf) -> HostSampler {
        HostSampler {
            data_root,
            prev: Mutex::new(None),
        }
    }
}

pub async fn snapshot(State(ui): State<Arc<Ui>>) -> Result<Json<Value>, UiError> {
    let h = &ui.host;
    let now = read_cpu()?;
    let prev = *h.prev.lock();
    let before = match prev {
        Some(p) => p,
        None => {
            // First call: a short interval of our own.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let first = now;
            let second = read_cpu()?;
            *h.prev.lock() = Some(second);
            return Ok(Json(figures(h, cpu_between(first, second))?));
        }
    };
    *h.prev.lock() = Some(now);
    Ok(Json(figures(h, cpu_between(before, now))?))
}

fn figures(h: &HostSampler, cpu: f64) -> Result<Value, UiError> {
    let meminfo = std::fs::read_to_string("/proc/meminfo")
        .map_err(|e| UiError::io("reading /proc/meminfo", e))?;
    let kib = |key: &str| meminfo_kib(&meminfo, key).unwrap_or(0) * 1024;
    let fs = nix::sys::statvfs::statvfs(&h.data_root)
        .map_err(|e| UiError::io(format!("statvfs {}", h.data_root.display()), e.into()))?;
    let block = fs.fragment_size();
    Ok(json!({
        "cpu_percent": cpu,
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "mem_total": kib("MemTotal"),
        "mem_used": kib("MemTotal").saturating_sub(kib("MemAvailable")),
        "disk_total": fs.blocks() * block,
        "disk_used": (fs.blocks() - fs.blocks_free()) * block,
        "disk_path": h.data_root,
    }))
}

fn read_cpu() -> Result<(u64, u64), UiError> {
    let stat =
        std::fs::read_to_string("/proc/stat").map_err(|e| UiError::io("reading /proc/stat", e))?;
    parse_cpu(&stat).ok_or_else(|| UiError::Internal("/proc/stat: no cpu line".into()))
}

/// (busy, total) jiffies of the aggregate `cpu` line; idle and iowait are not busy.
fn parse_cpu(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

fn cpu_between(a: (u64, u64), b: (u64, u64)) -> f64 {
    let total = b.1.saturating_sub(a.1);
    if total == 0 {
        return 0.0;
    }
    b.0.saturating_sub(a.0) as f64 / total as f64 * 100.0
}

fn meminfo_kib(meminfo: &str, key: &str) -> Option<u64> {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_parsing() {
        let stat = "cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3 4\n";
        assert_eq!(parse_cpu(stat), Some((200, 1000)));
        assert_eq!(cpu_between((200, 1000), (300, 1200)), 50.0);
        assert_eq!(cpu_between((1, 1), (1, 1)), 0.0);
        let mem = "MemTotal:       16000 kB\nMemFree: 1 kB\nMemAvailable:   4000 kB\n";
        assert_eq!(meminfo_kib(mem, "MemTotal"), Some(16000));
        assert_eq!(meminfo_kib(mem, "MemAvailable"), Some(4000));
        assert_eq!(meminfo_kib(mem, "Mem"), None);
    }
}
