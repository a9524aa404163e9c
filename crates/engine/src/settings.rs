//! HostConfig's resource and security settings as the runtime takes them.

use std::path::Path;

use runtime::{Device, Limits, Seccomp, SecurityOptions, Ulimit};

use crate::model::HostConfig;
use crate::{EngineError, Result};

pub fn limits(hc: &HostConfig) -> Limits {
    Limits {
        memory: hc.memory,
        memory_swap: hc.memory_swap,
        memory_reservation: hc.memory_reservation,
        pids_limit: hc.pids_limit,
        cpu_shares: hc.cpu_shares.max(0) as u64,
        memory_swappiness: hc.memory_swappiness.filter(|s| *s >= 0).map(|s| s as u64),
        nano_cpus: hc.nano_cpus,
        cpu_quota: hc.cpu_quota,
        cpu_period: hc.cpu_period.max(0) as u64,
        cpuset_cpus: hc.cpuset_cpus.clone(),
        cpuset_mems: hc.cpuset_mems.clone(),
        blkio_weight: hc.blkio_weight,
        ulimits: hc
            .ulimits
            .iter()
            .flatten()
            .map(|u| Ulimit {
                name: u.name.clone(),
                soft: u.soft,
                hard: u.hard,
            })
            .collect(),
        shm_size: hc.shm_size,
        oom_kill_disable: hc.oom_kill_disable.unwrap_or(false),
    }
}

/// `--security-opt` values: no-new-privileges, seccomp, and the label/apparmor
/// settings that mean "nothing" on a host without SELinux/AppArmor confinement.
fn parse_security_opts(hc: &HostConfig) -> Result<(bool, Seccomp)> {
    let mut no_new_privileges = false;
    let mut seccomp = Seccomp::Default;
    for opt in hc.security_opt.iter().flatten() {
        let (key, value) = opt
            .split_once('=')
            .or_else(|| opt.split_once(':'))
            .unwrap_or((opt.as_str(), ""));
        match (key, value) {
            ("no-new-privileges", "" | "true") => no_new_privileges = true,
            ("no-new-privileges", "false") => no_new_privileges = false,
            ("seccomp", "unconfined") => seccomp = Seccomp::Unconfined,
            ("seccomp", "builtin" | "") => seccomp = Seccomp::Default,
            // The docker CLI sends the profile file's contents.
            ("seccomp", profile) => seccomp = Seccomp::Profile(profile.to_string()),
            ("apparmor", "unconfined") | ("label", "disable") => {}
            ("apparmor" | "label", _) => {
                return Err(EngineError::NotImplemented(format!(
                    "--security-opt {opt}: this host applies no AppArmor or SELinux profiles"
                )));
            }
            _ => {
                return Err(EngineError::InvalidParameter(format!(
                    "Invalid --security-opt: {opt:?}"
                )));
            }
        }
    }
    Ok((no_new_privileges, seccomp))
}

pub fn check_security_opts(hc: &HostConfig) -> Result<()> {
    parse_security_opts(hc).map(|_| ())
}

/// Resolves `--group-add` names against the image's /etc/group.
fn group_ids(rootfs: &Path, groups: &[String]) -> Result<Vec<u32>> {
    // Only names need the image's group file; most containers ask for nothing.
    if groups.iter().all(|g| g.parse::<u32>().is_ok()) {
        return Ok(groups.iter().filter_map(|g| g.parse().ok()).collect());
    }
    let group_file = runtime::exe::resolve_in_root(rootfs, Path::new("/etc/group"))
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    groups
        .iter()
        .map(|g| {
            if let Ok(n) = g.parse::<u32>() {
                return Ok(n);
            }
            group_file
                .lines()
                .find_map(|l| {
                    let mut f = l.split(':');
                    (f.next() == Some(g.as_str()))
                        .then(|| f.nth(1).and_then(|gid| gid.parse().ok()))?
                })
                .ok_or_else(|| {
                    EngineError::InvalidParameter(format!(
                        "Unable to find group {g}: no matching entries in group file"
                    ))
                })
        })
        .collect()
}

pub fn security(hc: &HostConfig, rootfs: &Path) -> Result<SecurityOptions> {
    let (no_new_privileges, seccomp) = parse_security_opts(hc)?;
    Ok(SecurityOptions {
        privileged: hc.privileged,
        no_new_privileges,
        seccomp,
        sysctls: hc.sysctls.clone().unwrap_or_default(),
        devices: hc
            .devices
            .iter()
            .flatten()
            .map(|d| Device {
                path_on_host: d.path_on_host.clone().into(),
                path_in_container: if d.path_in_container.is_empty() {
                    d.path_on_host.clone()
                } else {
                    d.path_in_container.clone()
                },
                permissions: if d.cgroup_permissions.is_empty() {
                    "rwm".into()
                } else {
                    d.cgroup_permissions.clone()
                },
            })
            .collect(),
        group_add: group_ids(rootfs, hc.group_add.as_deref().unwrap_or(&[]))?,
        device_cgroup_rules: hc.device_cgroup_rules.clone().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_opts_parse_like_docker() {
        let hc = HostConfig {
            security_opt: Some(vec![
                "no-new-privileges".into(),
                "seccomp=unconfined".into(),
                "label=disable".into(),
            ]),
            ..Default::default()
        };
        let (nnp, seccomp) = parse_security_opts(&hc).unwrap();
        assert!(nnp);
        assert!(matches!(seccomp, Seccomp::Unconfined));
        let bad = HostConfig {
            security_opt: Some(vec!["bogus=1".into()]),
            ..Default::default()
        };
        assert!(matches!(
            parse_security_opts(&bad),
            Err(EngineError::InvalidParameter(_))
        ));
        let aa = HostConfig {
            security_opt: Some(vec!["apparmor=docker-default".into()]),
            ..Default::default()
        };
        assert!(matches!(
            parse_security_opts(&aa),
            Err(EngineError::NotImplemented(_))
        ));
    }

    #[test]
    fn group_names_resolve_in_the_image() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        std::fs::write(
            root.path().join("etc/group"),
            "root:x:0:\nextra:x:2000:app\n",
        )
        .unwrap();
        assert_eq!(
            group_ids(root.path(), &["extra".into(), "7".into()]).unwrap(),
            vec![2000, 7]
        );
        assert!(group_ids(root.path(), &["nope".into()]).is_err());
    }
}
