//! `generate` with resource limits and security options.

use std::path::PathBuf;

use oci_spec::runtime::{LinuxDeviceType, PosixRlimitType, Spec};

use super::*;
use crate::limits::{Limits, Ulimit};
use crate::security::{Device, Seccomp};

fn config() -> ContainerConfig {
    ContainerConfig {
        id: "c1".into(),
        rootfs: PathBuf::from("/tmp/rootfs"),
        args: vec!["sh".into()],
        cgroup_path: "/berth/c1".into(),
        ..Default::default()
    }
}

fn with_limits(l: Limits) -> ContainerConfig {
    ContainerConfig {
        limits: l,
        ..config()
    }
}

fn resources(spec: &Spec) -> oci_spec::runtime::LinuxResources {
    spec.linux().clone().unwrap().resources().clone().unwrap()
}

fn err_text(cfg: &ContainerConfig) -> String {
    match generate(cfg) {
        Err(RuntimeError::InvalidSetting(m)) => m,
        other => panic!("expected InvalidSetting, got {other:?}"),
    }
}

const MIB: i64 = 1024 * 1024;

#[test]
fn memory_limits_map_to_linux_memory() {
    let spec = generate(&with_limits(Limits {
        memory: 64 * MIB,
        memory_swap: 100 * MIB,
        memory_reservation: 32 * MIB,
        oom_kill_disable: true,
        ..Default::default()
    }))
    .unwrap();
    let mem = resources(&spec).memory().unwrap();
    assert_eq!(mem.limit(), Some(64 * MIB));
    assert_eq!(mem.reservation(), Some(32 * MIB));
    if resources::swap_accounting() {
        assert_eq!(mem.swap(), Some(100 * MIB));
    }
    assert_eq!(mem.disable_oom_killer(), Some(true));
}

#[test]
fn unset_swap_is_twice_the_memory_like_docker() {
    let spec = generate(&with_limits(Limits {
        memory: 64 * MIB,
        ..Default::default()
    }))
    .unwrap();
    let mem = resources(&spec).memory().unwrap();
    let want = resources::swap_accounting().then_some(128 * MIB);
    assert_eq!(mem.swap(), want);
}

#[test]
fn no_limits_leave_resources_unset() {
    let spec = generate(&config()).unwrap();
    let r = resources(&spec);
    assert!(r.memory().is_none() && r.cpu().is_none() && r.pids().is_none());
}

#[test]
fn cpus_become_quota_and_period() {
    let spec = generate(&with_limits(Limits {
        nano_cpus: 1_500_000_000,
        cpu_shares: 512,
        cpuset_cpus: "0".into(),
        ..Default::default()
    }))
    .unwrap();
    let cpu = resources(&spec).cpu().clone().unwrap();
    assert_eq!(cpu.quota(), Some(150_000));
    assert_eq!(cpu.period(), Some(100_000));
    assert_eq!(cpu.shares(), Some(512));
    assert_eq!(cpu.cpus().as_deref(), Some("0"));
}

#[test]
fn pids_limit_zero_or_negative_is_unlimited() {
    for (given, want) in [(Some(10), Some(10)), (Some(0), None), (Some(-1), None)] {
        let spec = generate(&with_limits(Limits {
            pids_limit: given,
            ..Default::default()
        }))
        .unwrap();
        assert_eq!(resources(&spec).pids().map(|p| p.limit()), want);
        let update = Limits {
            pids_limit: given,
            ..Default::default()
        };
        let res = resources::linux_resources(&update, false).unwrap();
        assert_eq!(res.pids().unwrap().limit(), want.unwrap_or(-1));
    }
}

#[test]
fn dockers_validation_messages() {
    let ncpu = resources::online_cpus();
    let cases = [
        (
            Limits {
                memory: 4 * MIB,
                ..Default::default()
            },
            "Minimum memory limit allowed is 6MB".to_string(),
        ),
        (
            Limits {
                memory: 64 * MIB,
                memory_swap: 32 * MIB,
                ..Default::default()
            },
            "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
        ),
        (
            Limits {
                memory_swap: 32 * MIB,
                ..Default::default()
            },
            "You should always set the Memory limit when using Memoryswap limit, see usage".into(),
        ),
        (
            Limits {
                nano_cpus: (ncpu as i64 + 1) * 1_000_000_000,
                ..Default::default()
            },
            format!(
                "Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
            ),
        ),
        (
            Limits {
                nano_cpus: 1_000_000_000,
                cpu_quota: 50_000,
                ..Default::default()
            },
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set".into(),
        ),
        (
            Limits {
                cpu_period: 500,
                ..Default::default()
            },
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"
                .into(),
        ),
        (
            Limits {
                cpuset_cpus: "0-4095".into(),
                ..Default::default()
            },
            "Requested CPUs are not available - requested 0-4095".into(),
        ),
        (
            Limits {
                blkio_weight: 5,
                ..Default::default()
            },
            "Range of blkio weight is from 10 to 1000".into(),
        ),
        (
            Limits {
                ulimits: vec![Ulimit {
                    name: "bogus".into(),
                    soft: 1,
                    hard: 1,
                }],
                ..Default::default()
            },
            "invalid ulimit type: bogus".into(),
        ),
    ];
    for (limits, want) in cases {
        let got = err_text(&with_limits(limits));
        assert!(got.starts_with(&want), "{got:?} should start with {want:?}");
    }
}

#[test]
fn ulimits_replace_the_default_nofile() {
    let spec = generate(&with_limits(Limits {
        ulimits: vec![
            Ulimit {
                name: "nofile".into(),
                soft: 1024,
                hard: 2048,
            },
            Ulimit {
                name: "nproc".into(),
                soft: -1,
                hard: -1,
            },
        ],
        ..Default::default()
    }))
    .unwrap();
    let rl = spec.process().clone().unwrap().rlimits().clone().unwrap();
    assert_eq!(rl.len(), 2);
    assert_eq!(rl[0].typ(), PosixRlimitType::RlimitNofile);
    assert_eq!((rl[0].soft(), rl[0].hard()), (1024, 2048));
    assert_eq!(rl[1].typ(), PosixRlimitType::RlimitNproc);
    assert_eq!(rl[1].hard(), u64::MAX);
}

fn mount_options(spec: &Spec, dest: &str) -> Vec<String> {
    spec.mounts()
        .clone()
        .unwrap()
        .into_iter()
        .find(|m| m.destination() == &PathBuf::from(dest))
        .unwrap()
        .options()
        .clone()
        .unwrap()
}

#[test]
fn shm_size_sets_the_tmpfs_size() {
    let spec = generate(&with_limits(Limits {
        shm_size: 128 * MIB,
        ..Default::default()
    }))
    .unwrap();
    assert!(mount_options(&spec, "/dev/shm").contains(&format!("size={}", 128 * MIB)));
}

#[test]
fn privileged_lifts_the_confinement() {
    let mut cfg = config();
    cfg.security.privileged = true;
    cfg.cap_drop = vec!["ALL".into()];
    let spec = generate(&cfg).unwrap();
    let linux = spec.linux().clone().unwrap();
    assert!(linux.seccomp().is_none());
    assert_eq!(linux.masked_paths().clone().unwrap_or_default().len(), 0);
    assert_eq!(linux.readonly_paths().clone().unwrap_or_default().len(), 0);
    let caps = spec
        .process()
        .clone()
        .unwrap()
        .capabilities()
        .clone()
        .unwrap();
    assert!(
        caps.effective()
            .clone()
            .unwrap()
            .contains(&oci_spec::runtime::Capability::SysAdmin)
    );
    let rules = resources(&spec).devices().clone().unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].typ(), Some(LinuxDeviceType::A));
    assert!(mount_options(&spec, "/sys").contains(&"rw".to_string()));
    let devices = linux.devices().clone().unwrap_or_default();
    assert!(
        devices
            .iter()
            .any(|d| d.path() == &PathBuf::from("/dev/null"))
    );
}

#[test]
fn seccomp_choices() {
    let mut cfg = config();
    cfg.security.seccomp = Seccomp::Unconfined;
    assert!(
        generate(&cfg)
            .unwrap()
            .linux()
            .clone()
            .unwrap()
            .seccomp()
            .is_none()
    );
    cfg.security.seccomp = Seccomp::Profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#.into(),
    );
    let s = generate(&cfg)
        .unwrap()
        .linux()
        .clone()
        .unwrap()
        .seccomp()
        .clone()
        .unwrap();
    assert_eq!(
        s.syscalls().clone().unwrap()[0].names(),
        &vec!["mkdir".to_string()]
    );
    cfg.security.seccomp = Seccomp::Profile("not json".into());
    assert!(err_text(&cfg).starts_with("decoding seccomp profile failed"));
}

#[test]
fn sysctls_must_be_namespaced() {
    let mut cfg = config();
    cfg.security
        .sysctls
        .insert("net.ipv4.ip_forward".into(), "1".into());
    cfg.security
        .sysctls
        .insert("kernel.shmmax".into(), "1000".into());
    let spec = generate(&cfg).unwrap();
    let sysctl = spec.linux().clone().unwrap().sysctl().clone().unwrap();
    assert_eq!(sysctl["net.ipv4.ip_forward"], "1");

    cfg.network = NetworkMode::Host;
    assert_eq!(
        err_text(&cfg),
        "sysctl \"net.ipv4.ip_forward\" not allowed in host network namespace"
    );
    let mut cfg = config();
    cfg.security
        .sysctls
        .insert("vm.swappiness".into(), "1".into());
    assert_eq!(
        err_text(&cfg),
        "sysctl \"vm.swappiness\" is not in a separate kernel namespace"
    );
}

#[test]
fn devices_and_groups() {
    let mut cfg = config();
    cfg.user.additional_gids = vec![10];
    cfg.security.group_add = vec![10, 4242];
    cfg.security.no_new_privileges = true;
    cfg.security.devices = vec![Device {
        path_on_host: "/dev/null".into(),
        path_in_container: "/dev/mynull".into(),
        permissions: "rw".into(),
    }];
    let spec = generate(&cfg).unwrap();
    let process = spec.process().clone().unwrap();
    assert_eq!(
        process.user().additional_gids().clone().unwrap(),
        vec![10, 4242]
    );
    assert_eq!(process.no_new_privileges(), Some(true));
    let devices = spec.linux().clone().unwrap().devices().clone().unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].path(), &PathBuf::from("/dev/mynull"));
    assert_eq!((devices[0].major(), devices[0].minor()), (1, 3));
    let rules = resources(&spec).devices().clone().unwrap();
    let last = rules.last().unwrap();
    assert!(last.allow() && last.major() == Some(1) && last.minor() == Some(3));
    assert_eq!(last.access().as_deref(), Some("rw"));

    cfg.security.devices[0].permissions = "x".into();
    assert_eq!(err_text(&cfg), "invalid device mode: x");
}

#[test]
fn cpu_lists_parse() {
    assert_eq!(resources::parse_list("0-2,4"), Some(vec![0, 1, 2, 4]));
    assert_eq!(resources::parse_list("2-1"), None);
    assert_eq!(resources::parse_list("a"), None);
}
