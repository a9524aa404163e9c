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

/// Removes the container's cgroup in every hierarchy (its processes gone),
/// as libcgroups' managers do: what is left is killed (`cgroup.kill` on v2),
/// then the directory goes, with a short backoff while the kernel lets go
/// of the dead. Not through a manager: making a v1 one reads
/// /proc/self/mountinfo and /proc/self/cgroup once per controller (12 of
/// each, every one through a new checked procfs handle: 2% of a whole
/// lifecycle's CPU), where removal needs the hierarchies once.
pub(crate) fn remove(cgroup_path: &Path) -> Result<(), RuntimeError> {
    let rel = cgroup_path.strip_prefix("/").unwrap_or(cgroup_path);
    if rel
        .components()
        .any(|c| !matches!(c, std::path::Component::Normal(_)))
        || rel.as_os_str().is_empty()
    {
        return Err(RuntimeError::InvalidSetting(format!(
            "cgroup path {} is not below the cgroup root",
            cgroup_path.display()
        )));
    }
    for root in hierarchies()? {
        let dir = root.join(rel);
        if dir.is_dir() {
            kill_members(&dir);
            remove_dir_with_retry(&dir)?;
        }
    }
    Ok(())
}

/// The roots a container's cgroup lives under: the unified hierarchy, or
/// every v1 one (one read of the mount table).
fn hierarchies() -> Result<Vec<PathBuf>, RuntimeError> {
    Ok(match crate::cgstats::Layout::detect() {
        crate::cgstats::Layout::V2(root) => vec![root],
        crate::cgstats::Layout::V1(_) => {
            libcgroups::v1::util::list_subsystem_mount_points().map_err(cg_err)?
        }
    })
}

fn kill_members(dir: &Path) {
    if std::fs::write(dir.join("cgroup.kill"), "1").is_ok() {
        return;
    }
    let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) else {
        return;
    };
    for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
    }
}

/// rmdir fails with EBUSY until the killed are reaped; libcgroups' backoff
/// (10, 20, 60, 100 ms).
fn remove_dir_with_retry(dir: &Path) -> Result<(), RuntimeError> {
    let mut delay = std::time::Duration::from_millis(10);
    let mut attempt = 1;
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if attempt == 4 => {
                return Err(RuntimeError::io(
                    format!("remove cgroup {}", dir.display()),
                    e,
                ));
            }
            Err(_) => {}
        }
        std::thread::sleep(delay);
        attempt += 1;
        delay = (delay * attempt).min(std::time::Duration::from_millis(100));
    }
}

/// Moves process `pid` into the container's cgroup (every hierarchy).
pub(crate) fn join(
    cgroup_path: &Path,
    id: &str,
    pid: nix::unistd::Pid,
) -> Result<(), RuntimeError> {
    manager(cgroup_path, id)?.add_task(pid).map_err(cg_err)
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

/// `docker stats`' sample: the cgroup's usage through the reader the
/// daemon's metrics share, plus the host's CPU time and CPU count. The limit
/// of a container without one is the host's memory, as dockerd reports it.
pub fn stats(cgroup_path: &Path) -> Result<Stats, RuntimeError> {
    let mut s =
        crate::cgstats::Reader::new(crate::cgstats::Layout::detect()).stats(cgroup_path, true)?;
    s.system_cpu_ns = crate::cgstats::host_cpu_ns().unwrap_or(0);
    s.online_cpus = crate::spec::resources::online_cpus();
    let machine = crate::cgstats::machine_memory();
    if machine > 0 && s.memory_limit > machine {
        s.memory_limit = machine;
    }
    Ok(s)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A cgroup in every hierarchy with a live process in it: remove kills
    /// the process and leaves no directory in any hierarchy.
    #[test]
    fn remove_kills_and_removes_everywhere() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let rel = PathBuf::from(format!("berth-test-cgroup-remove-{}", std::process::id()));
        let dirs: Vec<PathBuf> = hierarchies()
            .unwrap()
            .iter()
            .map(|h| h.join(&rel))
            .collect();
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        for d in &dirs {
            std::fs::create_dir(d).unwrap();
        }
        let joined = dirs
            .iter()
            .filter(|d| std::fs::write(d.join("cgroup.procs"), child.id().to_string()).is_ok())
            .count();
        assert!(joined > 0, "the process joined no hierarchy");

        let result = remove(&Path::new("/").join(&rel));
        let status = child.wait().unwrap();
        let left: Vec<&PathBuf> = dirs.iter().filter(|d| d.exists()).collect();
        // Cleaned up before asserting, so a failure leaves nothing behind.
        for d in &left {
            let _ = std::fs::remove_dir(d);
        }
        result.unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGKILL));
        assert!(left.is_empty(), "left behind: {left:?}");
        // Gone already: nothing to do, no error.
        remove(&Path::new("/").join(&rel)).unwrap();
    }

    #[test]
    fn remove_refuses_paths_outside_the_hierarchies() {
        for p in ["/", "", "/a/../..", "../x"] {
            assert!(remove(Path::new(p)).is_err(), "{p:?} was accepted");
        }
    }
}
