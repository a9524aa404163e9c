use std::collections::HashSet;
use std::path::PathBuf;

use oci_spec::runtime::{
    Capability, LinuxNamespaceType, LinuxSeccompAction, PosixRlimitType, Spec,
};

use super::*;
use crate::config::User;

fn config() -> ContainerConfig {
    ContainerConfig {
        id: "c1".into(),
        rootfs: PathBuf::from("/tmp/rootfs"),
        args: vec!["sh".into(), "-c".into(), "true".into()],
        env: vec!["FOO=bar".into()],
        cwd: "/work".into(),
        user: User {
            uid: 1000,
            gid: 1001,
            additional_gids: vec![10, 20],
        },
        hostname: "box".into(),
        cgroup_path: "/berth/c1".into(),
        ..Default::default()
    }
}

fn caps(spec: &Spec) -> [HashSet<Capability>; 5] {
    let c = spec
        .process()
        .as_ref()
        .unwrap()
        .capabilities()
        .clone()
        .unwrap();
    [
        c.bounding().clone().unwrap(),
        c.effective().clone().unwrap(),
        c.permitted().clone().unwrap(),
        c.inheritable().clone().unwrap(),
        c.ambient().clone().unwrap(),
    ]
}

fn namespace_types(spec: &Spec) -> Vec<(LinuxNamespaceType, Option<PathBuf>)> {
    spec.linux()
        .as_ref()
        .unwrap()
        .namespaces()
        .clone()
        .unwrap()
        .iter()
        .map(|n| (n.typ(), n.path().clone()))
        .collect()
}

#[test]
fn default_capabilities_are_dockers() {
    let spec = generate(&config()).unwrap();
    let [bounding, effective, permitted, inheritable, ambient] = caps(&spec);
    let want: HashSet<Capability> = [
        Capability::Chown,
        Capability::DacOverride,
        Capability::Fsetid,
        Capability::Fowner,
        Capability::Mknod,
        Capability::NetRaw,
        Capability::Setgid,
        Capability::Setuid,
        Capability::Setfcap,
        Capability::Setpcap,
        Capability::NetBindService,
        Capability::SysChroot,
        Capability::Kill,
        Capability::AuditWrite,
    ]
    .into_iter()
    .collect();
    assert_eq!(bounding, want);
    assert_eq!(effective, want);
    assert_eq!(permitted, want);
    assert!(inheritable.is_empty());
    assert!(ambient.is_empty());
}

#[test]
fn cap_add_and_drop() {
    let mut cfg = config();
    cfg.cap_add = vec!["NET_ADMIN".into(), "CAP_SYS_ADMIN".into()];
    cfg.cap_drop = vec!["mknod".into()];
    let [bounding, ..] = caps(&generate(&cfg).unwrap());
    assert!(bounding.contains(&Capability::NetAdmin));
    assert!(bounding.contains(&Capability::SysAdmin));
    assert!(!bounding.contains(&Capability::Mknod));

    cfg.cap_add = vec!["CHOWN".into()];
    cfg.cap_drop = vec!["ALL".into()];
    let [bounding, ..] = caps(&generate(&cfg).unwrap());
    assert_eq!(bounding, [Capability::Chown].into_iter().collect());

    cfg.cap_add = vec!["NOT_A_CAP".into()];
    assert!(matches!(
        generate(&cfg),
        Err(RuntimeError::InvalidConfig(_))
    ));
}

#[test]
fn masked_and_readonly_paths() {
    let spec = generate(&config()).unwrap();
    let linux = spec.linux().as_ref().unwrap();
    let masked = linux.masked_paths().clone().unwrap();
    for p in [
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
    ] {
        assert!(masked.contains(&p.to_string()), "{p} not masked");
    }
    let ro = linux.readonly_paths().clone().unwrap();
    assert_eq!(
        ro[..5],
        [
            "/proc/bus",
            "/proc/fs",
            "/proc/irq",
            "/proc/sys",
            "/proc/sysrq-trigger"
        ]
    );
    // On a host with v1 hierarchies each one is remounted read-only too.
    let v1 = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.contains(" - cgroup "));
    if v1 && !cgroup_v2_only() {
        assert_eq!(ro[5], "/sys/fs/cgroup");
        assert!(ro.iter().any(|p| p == "/sys/fs/cgroup/memory"), "{ro:?}");
    } else {
        assert_eq!(ro.len(), 5);
    }
}

#[test]
fn namespaces_follow_network_mode() {
    let mut cfg = config();
    let base = [
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
    ];
    let cgroupns = cgroup_v2_only();
    let check = |cfg: &ContainerConfig, net: Option<Option<PathBuf>>| {
        let got = namespace_types(&generate(cfg).unwrap());
        let mut want: Vec<_> = base.iter().map(|t| (*t, None)).collect();
        if let Some(path) = net {
            want.push((LinuxNamespaceType::Network, path));
        }
        if cgroupns {
            want.push((LinuxNamespaceType::Cgroup, None));
        }
        assert_eq!(got, want);
    };
    check(&cfg, Some(None));
    cfg.network = NetworkMode::Host;
    check(&cfg, None);
    cfg.network = NetworkMode::Join(PathBuf::from("/run/netns/x"));
    check(&cfg, Some(Some(PathBuf::from("/run/netns/x"))));
}

#[test]
fn process_user_env_cwd_rlimits() {
    let spec = generate(&config()).unwrap();
    let p = spec.process().as_ref().unwrap();
    assert_eq!(p.user().uid(), 1000);
    assert_eq!(p.user().gid(), 1001);
    assert_eq!(p.user().additional_gids().clone().unwrap(), vec![10, 20]);
    assert_eq!(p.cwd(), &PathBuf::from("/work"));
    assert_eq!(p.args().clone().unwrap(), vec!["sh", "-c", "true"]);
    let env = p.env().clone().unwrap();
    assert!(env.contains(&"FOO=bar".to_string()));
    assert!(env.contains(&format!("PATH={DEFAULT_PATH}")));
    let nofile = p
        .rlimits()
        .clone()
        .unwrap()
        .into_iter()
        .find(|r| r.typ() == PosixRlimitType::RlimitNofile)
        .unwrap();
    let want = defaults::nofile_limit();
    assert_eq!((nofile.soft(), nofile.hard()), (want, want));
    assert_eq!(p.no_new_privileges(), None);
    assert_eq!(spec.hostname().as_deref(), Some("box"));
    assert_eq!(
        spec.linux().as_ref().unwrap().cgroups_path().clone(),
        Some(PathBuf::from("/berth/c1"))
    );
}

#[test]
fn image_path_is_kept() {
    let mut cfg = config();
    cfg.env = vec!["PATH=/opt/bin".into()];
    let spec = generate(&cfg).unwrap();
    let env = spec.process().as_ref().unwrap().env().clone().unwrap();
    assert_eq!(env, vec!["PATH=/opt/bin".to_string()]);
}

#[test]
fn default_and_extra_mounts() {
    let mut cfg = config();
    cfg.mounts = vec![
        Mount {
            source: PathBuf::from("/var/lib/berth/c1/hosts"),
            destination: "/etc/hosts".into(),
            kind: "bind".into(),
            options: vec!["ro".into()],
        },
        Mount {
            source: PathBuf::new(),
            destination: "/dev/shm".into(),
            kind: "tmpfs".into(),
            options: vec!["size=1m".into()],
        },
    ];
    let spec = generate(&cfg).unwrap();
    let mounts = spec.mounts().clone().unwrap();
    let find = |d: &str| {
        mounts
            .iter()
            .filter(|m| m.destination() == &PathBuf::from(d))
            .collect::<Vec<_>>()
    };
    for d in [
        "/proc",
        "/dev",
        "/dev/pts",
        "/dev/mqueue",
        "/sys",
        "/sys/fs/cgroup",
    ] {
        assert_eq!(find(d).len(), 1, "{d}");
    }
    assert!(
        find("/sys")[0]
            .options()
            .clone()
            .unwrap()
            .contains(&"ro".to_string())
    );
    assert!(
        find("/sys/fs/cgroup")[0]
            .options()
            .clone()
            .unwrap()
            .contains(&"ro".to_string())
    );
    let hosts = find("/etc/hosts");
    assert_eq!(hosts[0].typ().as_deref(), Some("bind"));
    assert_eq!(
        hosts[0].options().clone().unwrap(),
        vec!["ro".to_string(), "rbind".to_string()]
    );
    // The user's /dev/shm replaces the default 64m one.
    let shm = find("/dev/shm");
    assert_eq!(shm.len(), 1);
    assert_eq!(
        shm[0].options().clone().unwrap(),
        vec!["size=1m".to_string()]
    );
    // /dev comes before everything under it.
    let pos = |d: &str| {
        mounts
            .iter()
            .position(|m| m.destination() == &PathBuf::from(d))
            .unwrap()
    };
    assert!(pos("/dev") < pos("/dev/pts"));
    assert!(pos("/dev") < pos("/dev/shm"));
    assert!(pos("/sys") < pos("/sys/fs/cgroup"));
}

#[test]
fn default_shm_is_64m() {
    let spec = generate(&config()).unwrap();
    let shm = spec
        .mounts()
        .clone()
        .unwrap()
        .into_iter()
        .find(|m| m.destination() == &PathBuf::from("/dev/shm"))
        .unwrap();
    assert!(
        shm.options()
            .clone()
            .unwrap()
            .contains(&"size=67108864".to_string())
    );
}

#[test]
fn bad_mounts_are_rejected() {
    let mut cfg = config();
    cfg.mounts = vec![Mount {
        source: PathBuf::from("/x"),
        destination: "relative".into(),
        kind: "bind".into(),
        options: vec![],
    }];
    assert!(generate(&cfg).is_err());
    cfg.mounts[0].destination = "/ok".into();
    cfg.mounts[0].kind = "nfs".into();
    assert!(generate(&cfg).is_err());
}

#[test]
fn seccomp_denies_by_default_and_gates_by_capability() {
    let names = |spec: &Spec| -> HashSet<String> {
        spec.linux()
            .as_ref()
            .unwrap()
            .seccomp()
            .as_ref()
            .unwrap()
            .syscalls()
            .clone()
            .unwrap()
            .into_iter()
            .filter(|s| s.action() == LinuxSeccompAction::ScmpActAllow && s.args().is_none())
            .flat_map(|s| s.names().clone())
            .collect()
    };
    let spec = generate(&config()).unwrap();
    let seccomp = spec.linux().as_ref().unwrap().seccomp().clone().unwrap();
    assert_eq!(seccomp.default_action(), LinuxSeccompAction::ScmpActErrno);
    assert_eq!(seccomp.default_errno_ret(), Some(libc::EPERM as u32));
    let allowed = names(&spec);
    for s in ["read", "write", "execve", "openat", "chroot", "wait4"] {
        assert!(allowed.contains(s), "{s} should be allowed");
    }
    for s in [
        "mount",
        "unshare",
        "init_module",
        "reboot",
        "kexec_load",
        "clone",
    ] {
        assert!(
            !allowed.contains(s),
            "{s} should not be allowed unconditionally"
        );
    }
    let mut cfg = config();
    cfg.cap_add = vec!["SYS_ADMIN".into()];
    let allowed = names(&generate(&cfg).unwrap());
    assert!(allowed.contains("mount") && allowed.contains("clone"));
}

#[test]
fn empty_args_are_rejected() {
    let mut cfg = config();
    cfg.args.clear();
    assert!(matches!(
        generate(&cfg),
        Err(RuntimeError::InvalidConfig(_))
    ));
}

#[test]
fn readonly_rootfs_and_annotations() {
    let mut cfg = config();
    cfg.readonly_rootfs = true;
    cfg.annotations.insert("k".into(), "v".into());
    let spec = generate(&cfg).unwrap();
    assert_eq!(spec.root().as_ref().unwrap().readonly(), Some(true));
    assert_eq!(spec.annotations().clone().unwrap()["k"], "v");
}

#[test]
fn empty_hostname_is_left_to_the_runtime() {
    let mut cfg = config();
    cfg.hostname.clear();
    let spec = generate(&cfg).unwrap();
    assert_eq!(spec.hostname(), &None);
    assert_eq!(spec.domainname(), &None);
}
