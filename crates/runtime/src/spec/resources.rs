//! `Limits` -> OCI `linux.resources`, process rlimits and the /dev/shm size,
//! with the checks dockerd makes before it creates a container.

use oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources,
    LinuxResourcesBuilder, PosixRlimit, PosixRlimitBuilder, PosixRlimitType,
};

use super::spec_err;
use crate::error::RuntimeError;
use crate::limits::{Limits, Ulimit};

/// Docker's floor for memory limits and reservations.
const MIN_MEMORY: i64 = 6 * 1024 * 1024;
/// The CFS period `--cpus` is expressed in, in microseconds.
pub const DEFAULT_CPU_PERIOD: u64 = 100_000;
const NANOS_PER_CPU: i64 = 1_000_000_000;

fn invalid(msg: impl Into<String>) -> RuntimeError {
    RuntimeError::InvalidSetting(msg.into())
}

/// The checks of `docker run` that do not depend on the container's state.
pub fn validate(l: &Limits) -> Result<(), RuntimeError> {
    if l.memory != 0 && l.memory < MIN_MEMORY {
        return Err(invalid("Minimum memory limit allowed is 6MB"));
    }
    if l.memory_swap > 0 && l.memory == 0 {
        return Err(invalid(
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ));
    }
    if l.memory_swap > 0 && l.memory_swap < l.memory {
        return Err(invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    if l.memory_reservation != 0 && l.memory_reservation < MIN_MEMORY {
        return Err(invalid("Minimum memory reservation allowed is 6MB"));
    }
    if l.memory > 0 && l.memory_reservation > 0 && l.memory < l.memory_reservation {
        return Err(invalid(
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ));
    }
    validate_cpu(l)?;
    if l.blkio_weight != 0 && !(10..=1000).contains(&l.blkio_weight) {
        return Err(invalid("Range of blkio weight is from 10 to 1000"));
    }
    if l.shm_size < 0 {
        return Err(invalid("SHM size can not be less than 0"));
    }
    for u in &l.ulimits {
        rlimit(u)?;
    }
    Ok(())
}

fn validate_cpu(l: &Limits) -> Result<(), RuntimeError> {
    if l.nano_cpus != 0 && l.cpu_period != 0 {
        return Err(invalid(
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ));
    }
    if l.nano_cpus != 0 && l.cpu_quota != 0 {
        return Err(invalid(
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
        ));
    }
    let ncpu = online_cpus() as i64;
    if l.nano_cpus < 0 || l.nano_cpus > ncpu * NANOS_PER_CPU {
        return Err(invalid(format!(
            "Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
        )));
    }
    if l.cpu_period != 0 && !(1000..=1_000_000).contains(&l.cpu_period) {
        return Err(invalid(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ));
    }
    if l.cpu_quota > 0 && l.cpu_quota < 1000 {
        return Err(invalid(
            "CPU cfs quota can not be less than 1ms (i.e. 1000)",
        ));
    }
    check_cpuset("cpus", &l.cpuset_cpus, &available_cpuset("cpus"))?;
    check_cpuset("mems", &l.cpuset_mems, &available_cpuset("mems"))?;
    Ok(())
}

/// Number of CPUs the host has online.
pub fn online_cpus() -> u32 {
    let n = nix::unistd::sysconf(nix::unistd::SysconfVar::_NPROCESSORS_ONLN);
    n.ok()
        .flatten()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n > 0)
        .unwrap_or(1)
}

/// The CPUs (or memory nodes) a container may be pinned to.
fn available_cpuset(which: &str) -> String {
    let candidates = [
        format!("/sys/fs/cgroup/cpuset/cpuset.{which}"),
        format!("/sys/fs/cgroup/cpuset.{which}.effective"),
    ];
    candidates
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| match which {
            "cpus" => format!("0-{}", online_cpus() - 1),
            _ => "0".into(),
        })
}

fn check_cpuset(which: &str, requested: &str, available: &str) -> Result<(), RuntimeError> {
    if requested.is_empty() {
        return Ok(());
    }
    let what = if which == "cpus" {
        "cpuset cpus"
    } else {
        "cpuset mems"
    };
    let want = parse_list(requested)
        .ok_or_else(|| invalid(format!("Invalid value {requested} for {what}")))?;
    let have = parse_list(available).unwrap_or_default();
    if want.iter().all(|n| have.contains(n)) {
        return Ok(());
    }
    let noun = if which == "cpus" {
        "CPUs"
    } else {
        "memory nodes"
    };
    Err(invalid(format!(
        "Requested {noun} are not available - requested {requested}, available: {available}"
    )))
}

/// "0-2,4" -> [0, 1, 2, 4]; `None` when malformed.
pub fn parse_list(s: &str) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in s.trim().split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?);
                if a > b || b - a > 4096 {
                    return None;
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

/// Whether the kernel accounts swap, so that a memory+swap limit can be set.
pub fn swap_accounting() -> bool {
    if super::cgroup_v2_only() {
        return std::fs::read_to_string("/sys/fs/cgroup/cgroup.controllers")
            .is_ok_and(|c| c.split_whitespace().any(|c| c == "memory"));
    }
    std::path::Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists()
}

/// Proportional block I/O weight needs a scheduler that supports it (cfq, bfq).
fn blkio_weight_supported() -> bool {
    [
        "/sys/fs/cgroup/blkio/blkio.weight",
        "/sys/fs/cgroup/blkio/blkio.bfq.weight",
        "/sys/fs/cgroup/io.weight",
        "/sys/fs/cgroup/io.bfq.weight",
    ]
    .iter()
    .any(|p| std::path::Path::new(p).exists())
}

/// CFS (quota, period) for the limits: from `nano_cpus` when set.
fn cfs(l: &Limits) -> (i64, u64) {
    if l.nano_cpus > 0 {
        let quota = l.nano_cpus * DEFAULT_CPU_PERIOD as i64 / NANOS_PER_CPU;
        return (quota, DEFAULT_CPU_PERIOD);
    }
    (l.cpu_quota, l.cpu_period)
}

/// The cgroup settings of `l`; unset fields stay unset, so the same
/// conversion serves creation and live updates.
pub fn linux_resources(l: &Limits, for_create: bool) -> Result<LinuxResources, RuntimeError> {
    let mut res = LinuxResourcesBuilder::default().build().map_err(spec_err)?;
    if l.memory != 0
        || l.memory_swap != 0
        || l.memory_reservation != 0
        || l.memory_swappiness.is_some()
    {
        let mut mem = LinuxMemoryBuilder::default();
        if l.memory > 0 {
            mem = mem.limit(l.memory);
        }
        let swap = match l.memory_swap {
            0 if for_create && l.memory > 0 && swap_accounting() => l.memory * 2,
            s => s,
        };
        if swap != 0 && (swap_accounting() || swap == -1) && l.memory > 0 {
            mem = mem.swap(swap);
        }
        if l.memory_reservation > 0 {
            mem = mem.reservation(l.memory_reservation);
        }
        if let Some(swappiness) = l.memory_swappiness {
            mem = mem.swappiness(swappiness);
        }
        res.set_memory(Some(mem.build().map_err(spec_err)?));
    }
    let (quota, period) = cfs(l);
    if l.cpu_shares != 0
        || quota != 0
        || period != 0
        || !l.cpuset_cpus.is_empty()
        || !l.cpuset_mems.is_empty()
    {
        let mut cpu = LinuxCpuBuilder::default();
        if l.cpu_shares != 0 {
            cpu = cpu.shares(l.cpu_shares);
        }
        if quota != 0 {
            cpu = cpu.quota(quota);
        }
        if period != 0 {
            cpu = cpu.period(period);
        }
        if !l.cpuset_cpus.is_empty() {
            cpu = cpu.cpus(l.cpuset_cpus.clone());
        }
        if !l.cpuset_mems.is_empty() {
            cpu = cpu.mems(l.cpuset_mems.clone());
        }
        res.set_cpu(Some(cpu.build().map_err(spec_err)?));
    }
    // A new cgroup starts unlimited: at create, "unlimited" is no setting at
    // all (crun writes -1 into a v1 pids.max, which the kernel refuses). An
    // update needs -1, which the runtimes turn into "max".
    if let Some(limit) = l.pids_limit.filter(|p| *p > 0 || !for_create) {
        let limit = if limit > 0 { limit } else { -1 };
        res.set_pids(Some(
            LinuxPidsBuilder::default()
                .limit(limit)
                .build()
                .map_err(spec_err)?,
        ));
    }
    // Docker discards the weight with a warning where the kernel cannot honour it.
    if l.blkio_weight != 0 && blkio_weight_supported() {
        res.set_block_io(Some(
            LinuxBlockIoBuilder::default()
                .weight(l.blkio_weight)
                .build()
                .map_err(spec_err)?,
        ));
    }
    Ok(res)
}

/// RLIM_INFINITY for Docker's -1.
fn rlim(v: i64) -> u64 {
    if v < 0 { u64::MAX } else { v as u64 }
}

fn rlimit(u: &Ulimit) -> Result<PosixRlimit, RuntimeError> {
    let name = format!("RLIMIT_{}", u.name.to_ascii_uppercase());
    let typ: PosixRlimitType = serde_json::from_value(serde_json::Value::String(name))
        .map_err(|_| invalid(format!("invalid ulimit type: {}", u.name)))?;
    if rlim(u.soft) > rlim(u.hard) {
        return Err(invalid(format!(
            "ulimit soft limit must be less than or equal to hard limit: {} > {}",
            u.soft, u.hard
        )));
    }
    PosixRlimitBuilder::default()
        .typ(typ)
        .soft(rlim(u.soft))
        .hard(rlim(u.hard))
        .build()
        .map_err(spec_err)
}

/// The default nofile limit, replaced or joined by the user's ulimits.
pub fn rlimits(l: &Limits, default_nofile: u64) -> Result<Vec<PosixRlimit>, RuntimeError> {
    let mut out: Vec<PosixRlimit> = l.ulimits.iter().map(rlimit).collect::<Result<_, _>>()?;
    if !out.iter().any(|r| r.typ() == PosixRlimitType::RlimitNofile) {
        out.insert(
            0,
            PosixRlimitBuilder::default()
                .typ(PosixRlimitType::RlimitNofile)
                .soft(default_nofile)
                .hard(default_nofile)
                .build()
                .map_err(spec_err)?,
        );
    }
    Ok(out)
}
