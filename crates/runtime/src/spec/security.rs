//! Sysctl checks and device access: `--sysctl`, `--device`, and the host
//! devices of a privileged container.

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    LinuxDevice, LinuxDeviceBuilder, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType,
};

use super::spec_err;
use crate::config::NetworkMode;
use crate::error::RuntimeError;
use crate::security::Device;

/// IPC sysctls the kernel keeps per IPC namespace (every container has its own).
const IPC_SYSCTLS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// Only sysctls the container's own namespaces scope may be set: anything
/// else would change the host. The messages are runc's, which Docker relays.
pub fn check_sysctls(
    sysctls: &BTreeMap<String, String>,
    network: &NetworkMode,
) -> Result<(), RuntimeError> {
    for key in sysctls.keys() {
        if IPC_SYSCTLS.contains(&key.as_str()) || key.starts_with("fs.mqueue.") {
            continue;
        }
        if key.starts_with("net.") {
            if matches!(network, NetworkMode::Host) {
                return Err(RuntimeError::InvalidSetting(format!(
                    "sysctl {key:?} not allowed in host network namespace"
                )));
            }
            continue;
        }
        return Err(RuntimeError::InvalidSetting(format!(
            "sysctl {key:?} is not in a separate kernel namespace"
        )));
    }
    Ok(())
}

/// One device node as found on the host.
struct HostNode {
    typ: LinuxDeviceType,
    major: i64,
    minor: i64,
    mode: u32,
    uid: u32,
    gid: u32,
}

fn host_node(path: &Path) -> Result<Option<HostNode>, RuntimeError> {
    let meta = std::fs::metadata(path).map_err(|e| {
        RuntimeError::InvalidSetting(format!(
            "error gathering device information while adding custom device {:?}: {e}",
            path.display().to_string()
        ))
    })?;
    let ft = meta.file_type();
    let typ = if ft.is_char_device() {
        LinuxDeviceType::C
    } else if ft.is_block_device() {
        LinuxDeviceType::B
    } else {
        return Ok(None);
    };
    let rdev = meta.rdev();
    Ok(Some(HostNode {
        typ,
        major: libc::major(rdev) as i64,
        minor: libc::minor(rdev) as i64,
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
    }))
}

fn linux_device(dest: &Path, n: &HostNode) -> Result<LinuxDevice, RuntimeError> {
    LinuxDeviceBuilder::default()
        .path(dest)
        .typ(n.typ)
        .major(n.major)
        .minor(n.minor)
        .file_mode(n.mode)
        .uid(n.uid)
        .gid(n.gid)
        .build()
        .map_err(spec_err)
}

fn allow_rule(n: &HostNode, access: &str) -> Result<LinuxDeviceCgroup, RuntimeError> {
    LinuxDeviceCgroupBuilder::default()
        .allow(true)
        .typ(n.typ)
        .major(n.major)
        .minor(n.minor)
        .access(access)
        .build()
        .map_err(spec_err)
}

/// One `--device-cgroup-rule` ("c 1:3 rwm", "b *:* m", "a"), as Docker
/// parses it: type a|b|c, then MAJOR:MINOR (`*` for any) and access rwm.
pub fn parse_device_cgroup_rule(rule: &str) -> Result<LinuxDeviceCgroup, RuntimeError> {
    let bad = || RuntimeError::InvalidSetting(format!("invalid device cgroup format '{rule}'"));
    let fields: Vec<&str> = rule.split_whitespace().collect();
    let typ = match fields.first().copied() {
        Some("a") => LinuxDeviceType::A,
        Some("b") => LinuxDeviceType::B,
        Some("c") => LinuxDeviceType::C,
        _ => return Err(bad()),
    };
    let number = |s: &str| -> Result<Option<i64>, RuntimeError> {
        match s {
            "*" => Ok(None),
            n => n.parse::<i64>().map(Some).map_err(|_| bad()),
        }
    };
    let (major, minor, access) = match fields[1..] {
        [] if typ == LinuxDeviceType::A => (None, None, "rwm"),
        [numbers, access] => {
            let (major, minor) = numbers.split_once(':').ok_or_else(bad)?;
            (number(major)?, number(minor)?, access)
        }
        _ => return Err(bad()),
    };
    if access.is_empty() || !access.chars().all(|c| "rwm".contains(c)) {
        return Err(bad());
    }
    let mut b = LinuxDeviceCgroupBuilder::default()
        .allow(true)
        .typ(typ)
        .access(access);
    if let Some(m) = major {
        b = b.major(m);
    }
    if let Some(m) = minor {
        b = b.minor(m);
    }
    b.build().map_err(spec_err)
}

/// `--device`: the node in the container plus a cgroup rule allowing it. A
/// directory on the host brings every device below it, as in Docker.
pub fn user_devices(
    devices: &[Device],
) -> Result<(Vec<LinuxDevice>, Vec<LinuxDeviceCgroup>), RuntimeError> {
    let (mut nodes, mut rules) = (Vec::new(), Vec::new());
    for d in devices {
        let access = if d.permissions.is_empty() {
            "rwm"
        } else {
            d.permissions.as_str()
        };
        if access.is_empty() || !access.chars().all(|c| "rwm".contains(c)) {
            return Err(RuntimeError::InvalidSetting(format!(
                "invalid device mode: {}",
                d.permissions
            )));
        }
        let dest = if d.path_in_container.is_empty() {
            d.path_on_host.clone()
        } else {
            PathBuf::from(&d.path_in_container)
        };
        if !dest.starts_with("/dev") {
            return Err(RuntimeError::InvalidSetting(format!(
                "{} is not an absolute path under /dev",
                dest.display()
            )));
        }
        for (host, inside) in expand(&d.path_on_host, &dest)? {
            if let Some(n) = host_node(&host)? {
                nodes.push(linux_device(&inside, &n)?);
                rules.push(allow_rule(&n, access)?);
            }
        }
    }
    Ok((nodes, rules))
}

/// (host path, container path) of `host` itself or of every file below it.
fn expand(host: &Path, dest: &Path) -> Result<Vec<(PathBuf, PathBuf)>, RuntimeError> {
    let meta = std::fs::metadata(host).map_err(|e| {
        RuntimeError::InvalidSetting(format!(
            "error gathering device information while adding custom device {:?}: {e}",
            host.display().to_string()
        ))
    })?;
    if !meta.is_dir() {
        return Ok(vec![(host.to_path_buf(), dest.to_path_buf())]);
    }
    let mut out = Vec::new();
    let mut stack = vec![host.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(host) {
                out.push((p.clone(), dest.join(rel)));
            }
        }
    }
    Ok(out)
}

/// Directories of /dev whose nodes belong to the container's own mounts or
/// to the host's bookkeeping, never copied into a privileged container.
const SKIPPED_DEV_DIRS: &[&str] = &["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"];

/// Every device node of the host, for a privileged container.
pub fn host_devices() -> Result<Vec<LinuxDevice>, RuntimeError> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::from("/dev")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                let name = e.file_name();
                if !(dir == Path::new("/dev")
                    && SKIPPED_DEV_DIRS.contains(&name.to_string_lossy().as_ref()))
                {
                    stack.push(p);
                }
                continue;
            }
            // The runtime makes its own console and ptmx (the pts instance's).
            if p == Path::new("/dev/console") || p == Path::new("/dev/ptmx") {
                continue;
            }
            if !(ft.is_char_device() || ft.is_block_device()) {
                continue;
            }
            if let Ok(Some(n)) = host_node(&p) {
                out.push(linux_device(&p, &n)?);
            }
        }
    }
    out.sort_by(|a, b| a.path().cmp(b.path()));
    Ok(out)
}

/// Device cgroup rule of a privileged container: everything.
pub fn allow_all_devices() -> Result<Vec<LinuxDeviceCgroup>, RuntimeError> {
    Ok(vec![
        LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(LinuxDeviceType::A)
            .access("rwm")
            .build()
            .map_err(spec_err)?,
    ])
}
