//! The values `docker run` uses when the user asks for nothing special.

use oci_spec::runtime::{
    Capability, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType, Mount, MountBuilder,
};

use super::spec_err;
use crate::error::RuntimeError;

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub const NOFILE_LIMIT: u64 = 1_048_576;

/// CAP_SYS_RESOURCE, needed to raise a hard rlimit.
const CAP_SYS_RESOURCE_BIT: u64 = 1 << 24;

/// Docker's 1048576, unless we could not grant it: raising a hard limit
/// needs CAP_SYS_RESOURCE, which sandboxed hosts may withhold; asking anyway
/// would make every container fail with EPERM.
pub fn nofile_limit() -> u64 {
    if has_effective_cap(CAP_SYS_RESOURCE_BIT) {
        return NOFILE_LIMIT;
    }
    match nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE) {
        Ok((_, hard)) => hard.min(NOFILE_LIMIT),
        Err(_) => NOFILE_LIMIT,
    }
}

fn has_effective_cap(bit: u64) -> bool {
    own_caps("CapEff:").is_some_and(|caps| caps & bit != 0)
}

/// Docker's default capability set (bounding, effective and permitted; never ambient).
pub const CAPABILITIES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

const ALL_CAPABILITIES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// Every capability this kernel knows and our bounding set still holds:
/// asking for one beyond `cap_last_cap`, or one a sandboxed host withheld
/// from us, would make capset(2) fail and no container could start.
pub fn all_capabilities() -> Vec<Capability> {
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(ALL_CAPABILITIES.len() - 1);
    let bounding = own_caps("CapBnd:").unwrap_or(u64::MAX);
    ALL_CAPABILITIES
        .iter()
        .enumerate()
        .take(last + 1)
        .filter(|(bit, _)| bounding & (1 << bit) != 0)
        .filter_map(|(_, n)| super::parse_cap(n).ok())
        .collect()
}

/// A capability mask of /proc/self/status ("CapEff:", "CapBnd:").
fn own_caps(field: &str) -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
}

pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// (destination, type, source, options) of the mounts every container gets.
const MOUNTS: &[(&str, &str, &str, &[&str])] = &[
    ("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
    (
        "/dev",
        "tmpfs",
        "tmpfs",
        &["nosuid", "strictatime", "mode=755", "size=65536k"],
    ),
    (
        "/dev/pts",
        "devpts",
        "devpts",
        &[
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
            "gid=5",
        ],
    ),
    (
        "/sys",
        "sysfs",
        "sysfs",
        &["nosuid", "noexec", "nodev", "ro"],
    ),
    (
        "/sys/fs/cgroup",
        "cgroup",
        "cgroup",
        &["ro", "nosuid", "noexec", "nodev"],
    ),
    (
        "/dev/mqueue",
        "mqueue",
        "mqueue",
        &["nosuid", "noexec", "nodev"],
    ),
    (
        "/dev/shm",
        "tmpfs",
        "shm",
        &["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"],
    ),
];

pub fn mounts() -> Result<Vec<Mount>, RuntimeError> {
    MOUNTS
        .iter()
        .map(|(dest, typ, src, opts)| {
            MountBuilder::default()
                .destination(*dest)
                .typ(*typ)
                .source(*src)
                .options(opts.iter().map(|o| o.to_string()).collect::<Vec<_>>())
                .build()
                .map_err(spec_err)
        })
        .collect()
}

/// Device cgroup rules: deny everything, then allow mknod of any node and
/// access to the nodes a container gets by default (null, zero, full, tty,
/// random, urandom, ptys, ptmx, console, tun).
const DEVICE_RULES: &[(LinuxDeviceType, Option<i64>, Option<i64>, &str)] = &[
    (LinuxDeviceType::C, None, None, "m"),
    (LinuxDeviceType::B, None, None, "m"),
    (LinuxDeviceType::C, Some(1), Some(3), "rwm"),
    (LinuxDeviceType::C, Some(1), Some(5), "rwm"),
    (LinuxDeviceType::C, Some(1), Some(7), "rwm"),
    (LinuxDeviceType::C, Some(5), Some(0), "rwm"),
    (LinuxDeviceType::C, Some(1), Some(8), "rwm"),
    (LinuxDeviceType::C, Some(1), Some(9), "rwm"),
    (LinuxDeviceType::C, Some(136), None, "rwm"),
    (LinuxDeviceType::C, Some(5), Some(2), "rwm"),
    (LinuxDeviceType::C, Some(5), Some(1), "rwm"),
    (LinuxDeviceType::C, Some(10), Some(200), "rwm"),
];

pub fn device_cgroup_rules() -> Result<Vec<LinuxDeviceCgroup>, RuntimeError> {
    let deny_all = LinuxDeviceCgroupBuilder::default()
        .allow(false)
        .access("rwm")
        .build()
        .map_err(spec_err)?;
    let mut rules = vec![deny_all];
    for (typ, major, minor, access) in DEVICE_RULES {
        let mut b = LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(*typ)
            .access(*access);
        if let Some(m) = major {
            b = b.major(*m);
        }
        if let Some(m) = minor {
            b = b.minor(*m);
        }
        rules.push(b.build().map_err(spec_err)?);
    }
    Ok(rules)
}
