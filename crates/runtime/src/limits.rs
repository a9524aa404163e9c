//! Resource limits with Docker's `HostConfig` semantics: zero means "not set",
//! so a `Limits` can describe both a new container and a partial live update.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Hard memory limit in bytes.
    pub memory: i64,
    /// Memory + swap in bytes; -1 is unlimited swap. Unset with `memory`
    /// set gives twice `memory`, as Docker does.
    pub memory_swap: i64,
    /// Soft limit in bytes.
    pub memory_reservation: i64,
    /// `None`: not set; zero or negative: unlimited.
    pub pids_limit: Option<i64>,
    /// Relative CPU weight (cgroup v1 shares; converted to a v2 weight).
    pub cpu_shares: u64,
    /// `--cpus` in billionths of a CPU; excludes `cpu_quota`/`cpu_period`.
    pub nano_cpus: i64,
    /// CFS quota in microseconds per `cpu_period`.
    pub cpu_quota: i64,
    /// CFS period in microseconds.
    pub cpu_period: u64,
    /// e.g. "0-1" or "0,2".
    pub cpuset_cpus: String,
    pub cpuset_mems: String,
    /// 10..=1000; dropped on kernels without a proportional block I/O scheduler.
    pub blkio_weight: u16,
    /// Process rlimits; `nofile` replaces the default.
    pub ulimits: Vec<Ulimit>,
    /// Size of the /dev/shm tmpfs in bytes (Docker's default is 64 MiB).
    pub shm_size: i64,
    pub oom_kill_disable: bool,
    /// `--memory-swappiness` 0..=100; `None` leaves the kernel's (or, in an
    /// update, the current) value.
    #[serde(default)]
    pub memory_swappiness: Option<u64>,
}

/// One rlimit by its Docker name ("nofile", "nproc", "core", …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

/// Usage of a container's cgroup at one instant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Total CPU time of the cgroup, in nanoseconds.
    pub cpu_usage_ns: u64,
    pub cpu_user_ns: u64,
    pub cpu_kernel_ns: u64,
    /// Per-CPU usage in nanoseconds (v1 only; empty on v2).
    pub percpu_usage_ns: Vec<u64>,
    /// Total CPU time of the host from /proc/stat, in nanoseconds.
    pub system_cpu_ns: u64,
    pub online_cpus: u32,
    pub memory_usage: u64,
    pub memory_max_usage: u64,
    pub memory_limit: u64,
    /// Page cache of the cgroup (v1 `total_cache`, v2 `file`).
    pub memory_cache: u64,
    /// memory.stat as the kernel names it (the docker CLI subtracts
    /// `total_inactive_file` / `inactive_file` from the usage).
    pub memory_stat: std::collections::BTreeMap<String, u64>,
    pub pids_current: u64,
    /// 0 when unlimited.
    pub pids_limit: u64,
    pub blkio_read_bytes: u64,
    pub blkio_write_bytes: u64,
    /// Times the memory limit was hit (v1 memory.failcnt, v2 `max` events).
    #[serde(default)]
    pub memory_failcnt: u64,
    /// Anonymous memory (v1 `total_rss`, v2 `anon`).
    #[serde(default)]
    pub memory_rss: u64,
    /// CFS enforcement periods, those throttled, and the time throttled (ns).
    #[serde(default)]
    pub cpu_periods: u64,
    #[serde(default)]
    pub cpu_throttled_periods: u64,
    #[serde(default)]
    pub cpu_throttled_ns: u64,
}
