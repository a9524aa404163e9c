//! `ContainerConfig` -> OCI runtime spec, with the defaults `docker run` gives a
//! container (capabilities, seccomp, masked paths, mounts, devices, rlimits).

mod defaults;
mod docker_seccomp;
pub(crate) mod resources;

pub use resources::validate as validate_limits;
mod seccomp;
mod security;
pub use security::parse_device_cgroup_rule;

use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Capabilities, Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxNamespaceBuilder,
    LinuxNamespaceType, LinuxSeccomp, Mount as OciMount, MountBuilder, ProcessBuilder, RootBuilder,
    Spec, SpecBuilder, UserBuilder,
};

use crate::config::{ContainerConfig, Mount, NamespaceMode, NetworkMode};
use crate::error::RuntimeError;
use crate::security::{Seccomp, SecurityOptions};

pub use defaults::DEFAULT_PATH;

/// The umask of container processes (runc's default, so Docker's).
pub const CONTAINER_UMASK: u32 = 0o022;

/// Builds the OCI spec for `cfg`.
pub fn generate(cfg: &ContainerConfig) -> Result<Spec, RuntimeError> {
    if cfg.args.is_empty() {
        return Err(RuntimeError::InvalidConfig("no command specified".into()));
    }
    let sec = &cfg.security;
    resources::validate(&cfg.limits)?;
    security::check_sysctls(&sec.sysctls, &cfg.network)?;
    // Docker ignores --cap-add/--cap-drop for privileged containers.
    let caps: Capabilities = if sec.privileged {
        defaults::all_capabilities().into_iter().collect()
    } else {
        capabilities(&cfg.cap_add, &cfg.cap_drop)?
    };
    let mut gids = cfg.user.additional_gids.clone();
    for g in &sec.group_add {
        if !gids.contains(g) {
            gids.push(*g);
        }
    }
    let mut process = ProcessBuilder::default()
        .terminal(cfg.tty)
        .user(
            UserBuilder::default()
                .uid(cfg.user.uid)
                .gid(cfg.user.gid)
                .additional_gids(gids)
                .umask(CONTAINER_UMASK)
                .build()
                .map_err(spec_err)?,
        )
        .args(cfg.args.clone())
        .env(env_with_path(&cfg.env))
        .cwd(if cfg.cwd.is_empty() { "/" } else { &cfg.cwd })
        .capabilities(
            LinuxCapabilitiesBuilder::default()
                .bounding(caps.clone())
                .effective(caps.clone())
                .permitted(caps.clone())
                .inheritable(Capabilities::new())
                .ambient(Capabilities::new())
                .build()
                .map_err(spec_err)?,
        )
        .rlimits(resources::rlimits(&cfg.limits, defaults::nofile_limit())?)
        .build()
        .map_err(spec_err)?;
    // Unset, not false: libcontainer then loads seccomp while still privileged,
    // which is what lets non-root users run under the filter without NNP.
    process.set_no_new_privileges(sec.no_new_privileges.then_some(true));
    if cfg.oom_score_adj != 0 {
        process.set_oom_score_adj(Some(cfg.oom_score_adj));
    }

    let (paths, ro_paths): (&[&str], Vec<String>) = if sec.privileged {
        (&[], Vec::new())
    } else {
        let mut ro: Vec<String> = defaults::READONLY_PATHS
            .iter()
            .map(|s| s.to_string())
            .collect();
        ro.extend(cgroup_v1_read_only_paths().iter().cloned());
        (defaults::MASKED_PATHS, ro)
    };
    let mut res = resources::linux_resources(&cfg.limits, true)?;
    if cfg.limits.oom_kill_disable {
        // libcontainer 0.7 does not apply this; the shim does, from the spec.
        let mut mem = res.memory().unwrap_or_default();
        mem.set_disable_oom_killer(Some(true));
        res.set_memory(Some(mem));
    }
    let (user_nodes, mut user_rules) = security::user_devices(&sec.devices)?;
    for rule in &sec.device_cgroup_rules {
        user_rules.push(security::parse_device_cgroup_rule(rule)?);
    }
    let mut rules = if sec.privileged {
        security::allow_all_devices()?
    } else {
        defaults::device_cgroup_rules()?
    };
    rules.extend(user_rules);
    res.set_devices(Some(rules));
    let mut nodes = if sec.privileged {
        security::host_devices()?
    } else {
        Vec::new()
    };
    nodes.retain(|n| !user_nodes.iter().any(|u| u.path() == n.path()));
    nodes.extend(user_nodes);

    let mut linux = LinuxBuilder::default()
        .namespaces(namespaces(cfg, cgroup_v2_only())?)
        .masked_paths(paths.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .readonly_paths(ro_paths)
        .resources(res);
    if !nodes.is_empty() {
        linux = linux.devices(nodes);
    }
    if !sec.sysctls.is_empty() {
        linux = linux.sysctl(
            sec.sysctls
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<std::collections::HashMap<_, _>>(),
        );
    }
    if !cfg.cgroup_path.is_empty() {
        linux = linux.cgroups_path(PathBuf::from(&cfg.cgroup_path));
    }
    if let Some(u) = &cfg.userns {
        linux = linux
            .uid_mappings(id_mappings(&u.maps.uids)?)
            .gid_mappings(id_mappings(&u.maps.gids)?);
    }
    let mut linux = linux.build().map_err(spec_err)?;
    linux.set_seccomp(seccomp_for(sec, &caps)?);

    let mut spec = SpecBuilder::default()
        .version("1.0.2")
        .root(
            RootBuilder::default()
                .path(cfg.rootfs.clone())
                .readonly(cfg.readonly_rootfs)
                .build()
                .map_err(spec_err)?,
        )
        .process(process)
        .mounts(mounts(cfg, sec.privileged)?)
        .linux(linux)
        .annotations(cfg.annotations.clone())
        .build()
        .map_err(spec_err)?;
    // The builder starts from oci-spec's defaults, whose hostname is "youki".
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    // A shared UTS namespace keeps its owner's names: setting one here would
    // rename the host (or the other container).
    if cfg.uts_ns == NamespaceMode::Private {
        spec.set_hostname(non_empty(&cfg.hostname));
        spec.set_domainname(non_empty(&cfg.domainname));
    } else {
        spec.set_hostname(None);
        spec.set_domainname(None);
    }
    Ok(spec)
}

/// `None` runs the container without a filter.
fn seccomp_for(
    sec: &SecurityOptions,
    caps: &Capabilities,
) -> Result<Option<LinuxSeccomp>, RuntimeError> {
    if sec.privileged {
        return Ok(None);
    }
    match &sec.seccomp {
        Seccomp::Default => seccomp::profile(caps).map(Some),
        Seccomp::Unconfined => Ok(None),
        Seccomp::Profile(json) => {
            docker_seccomp::convert(json, caps, &docker_seccomp::Host::current()).map(Some)
        }
    }
}

pub(crate) fn spec_err(e: oci_spec::OciSpecError) -> RuntimeError {
    RuntimeError::InvalidConfig(e.to_string())
}

/// Images without PATH still need one for the lookup of args[0], as in Docker.
fn env_with_path(env: &[String]) -> Vec<String> {
    let mut env = env.to_vec();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, format!("PATH={DEFAULT_PATH}"));
    }
    env
}

fn parse_cap(name: &str) -> Result<Capability, RuntimeError> {
    serde_json::from_value(serde_json::Value::String(name.to_string()))
        .map_err(|_| RuntimeError::InvalidConfig(format!("unknown capability: {name:?}")))
}

fn is_all(name: &str) -> bool {
    name.eq_ignore_ascii_case("ALL") || name.eq_ignore_ascii_case("CAP_ALL")
}

/// Docker's rule: start from the default set, drop (ALL empties it), then add
/// (ALL adds every capability the kernel knows).
fn capabilities(add: &[String], drop: &[String]) -> Result<Capabilities, RuntimeError> {
    let mut caps: Capabilities = defaults::CAPABILITIES
        .iter()
        .map(|c| parse_cap(c))
        .collect::<Result<_, _>>()?;
    for name in drop {
        if is_all(name) {
            caps.clear();
        } else {
            caps.remove(&parse_cap(name)?);
        }
    }
    for name in add {
        if is_all(name) {
            caps.extend(defaults::all_capabilities());
        } else {
            caps.insert(parse_cap(name)?);
        }
    }
    Ok(caps)
}

fn id_mappings(
    ranges: &[crate::userns::IdRange],
) -> Result<Vec<oci_spec::runtime::LinuxIdMapping>, RuntimeError> {
    ranges
        .iter()
        .map(|r| {
            oci_spec::runtime::LinuxIdMappingBuilder::default()
                .container_id(r.container_id)
                .host_id(r.host_id)
                .size(r.size)
                .build()
                .map_err(spec_err)
        })
        .collect()
}

fn namespaces(
    cfg: &ContainerConfig,
    cgroup_ns: bool,
) -> Result<Vec<oci_spec::runtime::LinuxNamespace>, RuntimeError> {
    let mut out = Vec::new();
    let mut add = |typ, path: Option<PathBuf>| -> Result<(), RuntimeError> {
        let mut b = LinuxNamespaceBuilder::default().typ(typ);
        if let Some(p) = path {
            b = b.path(p);
        }
        out.push(b.build().map_err(spec_err)?);
        Ok(())
    };
    for (typ, mode) in [
        (LinuxNamespaceType::Pid, &cfg.pid_ns),
        (LinuxNamespaceType::Ipc, &cfg.ipc_ns),
        (LinuxNamespaceType::Uts, &cfg.uts_ns),
    ] {
        match mode {
            NamespaceMode::Private => add(typ, None)?,
            NamespaceMode::Host => {}
            NamespaceMode::Join(path) => add(typ, Some(path.clone()))?,
        }
    }
    if let Some(u) = &cfg.userns {
        add(LinuxNamespaceType::User, Some(u.path.clone()))?;
    }
    add(LinuxNamespaceType::Mount, None)?;
    match &cfg.network {
        NetworkMode::Private => add(LinuxNamespaceType::Network, None)?,
        NetworkMode::Host => {}
        NetworkMode::Join(path) => add(LinuxNamespaceType::Network, Some(path.clone()))?,
    }
    // Docker's default cgroupns mode is "private" on cgroup v2 hosts and "host" otherwise.
    if cgroup_ns {
        add(LinuxNamespaceType::Cgroup, None)?;
    }
    Ok(out)
}

/// True when /sys/fs/cgroup is itself a cgroup2 mount (no v1 hierarchies).
pub fn cgroup_v2_only() -> bool {
    nix::sys::statfs::statfs("/sys/fs/cgroup")
        .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        .unwrap_or(false)
}

/// libcontainer 0.7 mounts v1 hierarchies as read-write binds whatever the
/// cgroup mount's options say, so a container could raise its own limits.
/// Listing the tmpfs and every hierarchy as read-only paths makes the init
/// remount each of them read-only after the mounts, as Docker has them.
/// (On a v2-only host the cgroup2 mount honours "ro" itself.)
fn cgroup_v1_read_only_paths() -> &'static [String] {
    static PATHS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    PATHS.get_or_init(|| {
        if cgroup_v2_only() {
            return Vec::new();
        }
        let root = Path::new("/sys/fs/cgroup");
        // The same list libcontainer mounts from, so the names match.
        let hierarchies = libcgroups::v1::util::list_subsystem_mount_points().unwrap_or_default();
        let mut names: Vec<String> = hierarchies
            .iter()
            .filter(|p| p.starts_with(root))
            .filter_map(|p| {
                p.file_name()?
                    .to_str()
                    .map(|n| format!("/sys/fs/cgroup/{n}"))
            })
            .collect();
        names.sort();
        names.dedup();
        std::iter::once("/sys/fs/cgroup".to_string())
            .chain(names)
            .collect()
    })
}

fn mounts(cfg: &ContainerConfig, privileged: bool) -> Result<Vec<OciMount>, RuntimeError> {
    let (extra, shm_size) = (&cfg.mounts, cfg.limits.shm_size);
    let mut out: Vec<OciMount> = defaults::mounts()?
        .into_iter()
        .filter(|m| !(cfg.no_shm && m.destination() == Path::new("/dev/shm")))
        .map(|m| adjust_default_mount(m, shm_size, privileged))
        .filter(|d| {
            !extra
                .iter()
                .any(|m| d.destination() == &PathBuf::from(&m.destination))
        })
        .collect();
    for m in extra {
        out.push(user_mount(m)?);
    }
    // Parents must be mounted before their children, whatever order they came in.
    out.sort_by_key(|m| m.destination().components().count());
    Ok(out)
}

/// `--shm-size`, and the writable /sys and cgroup tree of privileged containers.
fn adjust_default_mount(mut m: OciMount, shm_size: i64, privileged: bool) -> OciMount {
    let dest = m.destination().to_string_lossy().into_owned();
    let Some(opts) = m.options().clone() else {
        return m;
    };
    let opts: Vec<String> = opts
        .into_iter()
        .map(|o| match (dest.as_str(), o.as_str()) {
            ("/dev/shm", o) if shm_size > 0 && o.starts_with("size=") => format!("size={shm_size}"),
            ("/sys" | "/sys/fs/cgroup", "ro") if privileged => "rw".into(),
            _ => o,
        })
        .collect();
    m.set_options(Some(opts));
    m
}

fn user_mount(m: &Mount) -> Result<OciMount, RuntimeError> {
    if !m.destination.starts_with('/') {
        return Err(RuntimeError::InvalidConfig(format!(
            "mount destination {:?} is not absolute",
            m.destination
        )));
    }
    let mut options = m.options.clone();
    let (typ, source) = match m.kind.as_str() {
        "bind" => {
            if !options.iter().any(|o| o == "bind" || o == "rbind") {
                options.push("rbind".into());
            }
            ("bind", m.source.clone())
        }
        "tmpfs" => ("tmpfs", PathBuf::from("tmpfs")),
        other => {
            return Err(RuntimeError::InvalidConfig(format!(
                "unsupported mount type {other:?}"
            )));
        }
    };
    MountBuilder::default()
        .destination(&m.destination)
        .typ(typ)
        .source(source)
        .options(options)
        .build()
        .map_err(spec_err)
}

#[cfg(test)]
mod limits_tests;
#[cfg(test)]
mod tests;
