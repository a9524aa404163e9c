//! Live operations on a container's cgroup through libcgroups' managers
//! (v1 and v2 alike): limit updates, usage statistics, the process list and
//! the OOM verdict. Runs in the shim, which knows the cgroup path.

use std::path::{Path, PathBuf};

use libcgroups::common::{AnyCgroupManager, CgroupConfig, CgroupManager, ControllerOpt};
use oci_spec::runtime::{LinuxMemoryBuilder, LinuxResources};

use crate::error::RuntimeError;
use crate::limits::{Limits, Stats};

fn cg_err(e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::Libcontainer(format!("cgroup: {e}"))
}

fn manager(cgroup_path: &Path, id: &str) -> Result<AnyCgroupManager, RuntimeError> {
    libcgroups::common::create_cgroup_manager(CgroupConfig {
        cgroup_path: cgroup_path.to_path_buf(),
        systemd_cgroup: false,
        container_name: id.to_string(),
    })
    .map_err(cg_err)
}

pub(crate) fn apply(
    cgroup_path: &Path,
    id: &str,
    resources: &LinuxResources,
    disable_oom_killer: bool,
) -> Result<(), RuntimeError> {
    manager(cgroup_path, id)?
        .apply(&ControllerOpt {
            resources,
            disable_oom_killer,
            oom_score_adj: None,
            freezer_state: None,
        })
        .map_err(cg_err)
}

/// Sets memory.oom_control (v1; cgroup v2 cannot disable the OOM killer).
/// libcontainer 0.7 leaves this part of the spec unapplied.
pub fn disable_oom_killer(cgroup_path: &Path, id: &str) -> Result<(), RuntimeError> {
    let mut res = LinuxResources::default();
    res.set_memory(Some(LinuxMemoryBuilder::default().build().map_err(cg_err)?));
    apply(cgroup_path, id, &res, true)
}

/// The cgroup settings that change the set (non-zero) fields of `l` on the
/// running container, after dockerd's checks. Memory above the current
/// memory+swap limit needs a new swap limit too, or the kernel would refuse
/// it half-way.
pub fn update_resources(
    cgroup_path: &Path,
    id: &str,
    l: &Limits,
) -> Result<LinuxResources, RuntimeError> {
    crate::spec::resources::validate(l)?;
    if l.memory > 0 && l.memory_swap == 0 {
        let current = manager(cgroup_path, id)?.stats().map_err(cg_err)?;
        let swap_limit = current.memory.memswap.limit;
        // Unlimited reads as a huge page-aligned number on v1, 0 where unsupported.
        if swap_limit > 0 && swap_limit < (i64::MAX as u64 / 2) && (l.memory as u64) > swap_limit {
            return Err(RuntimeError::InvalidSetting(
                "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time".into(),
            ));
        }
    }
    crate::spec::resources::linux_resources(l, false)
}

pub fn pids(cgroup_path: &Path, id: &str) -> Result<Vec<u32>, RuntimeError> {
    let mut pids: Vec<u32> = manager(cgroup_path, id)?
        .get_all_pids()
        .map_err(cg_err)?
        .into_iter()
        .map(|p| p.as_raw() as u32)
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

pub fn stats(cgroup_path: &Path, id: &str) -> Result<Stats, RuntimeError> {
    let s = manager(cgroup_path, id)?.stats().map_err(cg_err)?;
    let bytes = |op: &str| {
        s.blkio
            .service_bytes
            .iter()
            .filter(|d| {
                d.op_type
                    .as_deref()
                    .is_some_and(|t| t.eq_ignore_ascii_case(op))
            })
            .map(|d| d.value)
            .sum()
    };
    Ok(Stats {
        cpu_usage_ns: s.cpu.usage.usage_total,
        cpu_user_ns: s.cpu.usage.usage_user,
        cpu_kernel_ns: s.cpu.usage.usage_kernel,
        percpu_usage_ns: s.cpu.usage.per_core_usage_total.clone(),
        system_cpu_ns: system_cpu_ns().unwrap_or(0),
        online_cpus: crate::spec::resources::online_cpus(),
        memory_usage: s.memory.memory.usage,
        memory_max_usage: s.memory.memory.max_usage,
        memory_limit: s.memory.memory.limit,
        memory_cache: s.memory.cache,
        memory_stat: s
            .memory
            .stats
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect(),
        pids_current: s.pids.current,
        pids_limit: s.pids.limit,
        blkio_read_bytes: bytes("read"),
        blkio_write_bytes: bytes("write"),
    })
}

/// The host's total CPU time (the first line of /proc/stat), as Docker
/// reports `system_cpu_usage`: the denominator of `docker stats`' CPU %.
fn system_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    // user nice system idle iowait irq softirq: steal and guests excluded, as Docker.
    let ticks: u64 = line
        .split_whitespace()
        .skip(1)
        .take(7)
        .filter_map(|v| v.parse::<u64>().ok())
        .sum();
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK);
    let hz = hz
        .ok()
        .flatten()
        .and_then(|h| u64::try_from(h).ok())
        .filter(|h| *h > 0)
        .unwrap_or(100);
    Some(ticks * (1_000_000_000 / hz))
}

/// Whether the kernel's OOM killer struck inside the cgroup: the `oom_kill`
/// counter of memory.oom_control (v1) or memory.events (v2).
pub fn oom_killed(cgroup_path: &Path) -> bool {
    oom_files(cgroup_path).iter().any(|file| {
        std::fs::read_to_string(file).is_ok_and(|text| {
            text.lines().any(|l| {
                l.strip_prefix("oom_kill ")
                    .and_then(|n| n.trim().parse::<u64>().ok())
                    .is_some_and(|n| n > 0)
            })
        })
    })
}

fn oom_files(cgroup_path: &Path) -> [PathBuf; 2] {
    let rel = cgroup_path.strip_prefix("/").unwrap_or(cgroup_path);
    [
        Path::new("/sys/fs/cgroup/memory")
            .join(rel)
            .join("memory.oom_control"),
        Path::new("/sys/fs/cgroup").join(rel).join("memory.events"),
    ]
}
