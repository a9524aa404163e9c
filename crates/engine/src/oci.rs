//! A container record turned into the runtime's `ContainerConfig`. Pure:
//! the engine first resolves everything that needs the filesystem or other
//! containers (the user from the image's passwd, link variables, the name
//! files, namespaces, the init binary, security options) into [`Resolved`],
//! and this module only combines, so every rule here is unit-tested.

use std::path::{Path, PathBuf};

use runtime::SecurityOptions;
use runtime::config::{ContainerConfig, Mount, NetworkMode, User};

use crate::model::{ContainerRecord, MountKind, MountPoint};
use crate::namespaces;

/// Where `--init` mounts its init, as dockerd does.
pub(crate) const INIT_PATH: &str = "/sbin/docker-init";

/// What the engine looked up for one start.
pub(crate) struct Resolved {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    /// /etc/resolv.conf, /etc/hostname, /etc/hosts to bind in (another
    /// container's with `--network container:x`).
    pub etc_files: [PathBuf; 3],
    pub namespaces: namespaces::Resolved,
    /// The static init for `--init`.
    pub init: Option<PathBuf>,
    /// The tmpfs holding the record's injected files (secrets, configs).
    pub injected_dir: PathBuf,
    pub security: SecurityOptions,
    pub network: NetworkMode,
    pub cgroup_path: String,
}

/// The process environment: the record's, then `HOSTNAME`, the links'
/// variables the container does not set itself, and `HOME` from the user.
pub(crate) fn env(record: &ContainerRecord, link_env: &[String], home: &str) -> Vec<String> {
    let cfg = &record.config;
    let mut env = cfg.env.clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("HOSTNAME=")) {
        env.insert(0, format!("HOSTNAME={}", cfg.hostname));
    }
    with_tty_term(&mut env, cfg.tty);
    let key = |v: &str| v.split('=').next().unwrap_or_default().to_string();
    for var in link_env {
        if !env.iter().any(|e| key(e) == key(var)) {
            env.push(var.clone());
        }
    }
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={home}"));
    }
    env
}

/// A process on a terminal gets `TERM=xterm` unless its environment sets
/// one, as dockerd gives it (readline, ncurses and apt's progress need it).
pub(crate) fn with_tty_term(env: &mut Vec<String>, tty: bool) {
    if tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        let at = env
            .iter()
            .position(|e| e.starts_with("HOSTNAME="))
            .map_or(0, |i| i + 1);
        env.insert(at, "TERM=xterm".to_string());
    }
}

/// The working directory, `/` when the config names none.
pub(crate) fn cwd(record: &ContainerRecord) -> String {
    match record.config.working_dir.as_str() {
        "" => "/".to_string(),
        dir => dir.to_string(),
    }
}

/// The kernel's supplementary groups include the primary one, as runc sets them.
pub(crate) fn runtime_user(uid: u32, gid: u32, extra: Vec<u32>) -> User {
    let mut additional_gids = vec![gid];
    additional_gids.extend(extra.into_iter().filter(|g| *g != gid));
    User {
        uid,
        gid,
        additional_gids,
    }
}

fn bind(source: PathBuf, destination: &str, options: &[&str]) -> Mount {
    Mount {
        source,
        destination: destination.to_string(),
        kind: "bind".into(),
        options: options.iter().map(|o| o.to_string()).collect(),
    }
}

/// The name files first, then the user's mounts and the injected files
/// (secrets, configs; read-only from `injected_dir`) parents before
/// children (so a mount under another lands inside it), then a shared
/// /dev/shm and the init.
pub(crate) fn mounts(
    record: &ContainerRecord,
    etc_files: &[PathBuf; 3],
    injected_dir: &Path,
    shm: Option<&Path>,
    init: Option<&Path>,
) -> Vec<Mount> {
    let mut mounts: Vec<Mount> = ["/etc/resolv.conf", "/etc/hostname", "/etc/hosts"]
        .iter()
        .zip(etc_files)
        .map(|(dest, src)| bind(src.clone(), dest, &["rbind", "rprivate"]))
        .collect();
    let mut nested: Vec<Mount> = record.mounts.iter().map(user_mount).collect();
    nested.extend(record.injected_files.iter().map(|f| {
        bind(
            injected_dir.join(&f.file),
            &f.target,
            &["rbind", "ro", "nosuid", "nodev", "rprivate"],
        )
    }));
    nested.sort_by_key(|m| m.destination.trim_end_matches('/').matches('/').count());
    mounts.extend(nested);
    if let Some(shm) = shm {
        mounts.push(bind(
            shm.to_path_buf(),
            "/dev/shm",
            &["rbind", "rw", "rprivate"],
        ));
    }
    if let Some(init) = init {
        mounts.push(bind(init.to_path_buf(), INIT_PATH, &["bind", "ro"]));
    }
    mounts
}

fn user_mount(m: &MountPoint) -> Mount {
    let rw = if m.rw { "rw" } else { "ro" };
    match m.kind {
        MountKind::Tmpfs => Mount {
            source: PathBuf::from("tmpfs"),
            destination: m.destination.clone(),
            kind: "tmpfs".into(),
            options: crate::mounts::tmpfs_options(&m.options),
        },
        MountKind::Bind | MountKind::Volume => {
            let propagation = if m.propagation.is_empty() {
                "rprivate"
            } else {
                &m.propagation
            };
            bind(
                m.source.clone(),
                &m.destination,
                &["rbind", rw, propagation],
            )
        }
    }
}

/// The whole runtime config of `record` on the mounted `rootfs`.
pub(crate) fn container_config(
    id: &str,
    record: &ContainerRecord,
    rootfs: PathBuf,
    env: Vec<String>,
    r: Resolved,
) -> ContainerConfig {
    let cfg = &record.config;
    let hc = &record.host_config;
    let mut args: Vec<String> = std::iter::once(record.path.clone())
        .chain(record.args.iter().cloned())
        .collect();
    if r.init.is_some() {
        args.splice(0..0, [INIT_PATH.to_string(), "--".to_string()]);
    }
    let mounts = mounts(
        record,
        &r.etc_files,
        &r.injected_dir,
        r.namespaces.shm_source.as_deref(),
        r.init.as_deref(),
    );
    ContainerConfig {
        id: id.to_string(),
        rootfs,
        readonly_rootfs: hc.readonly_rootfs,
        args,
        env,
        cwd: cwd(record),
        user: runtime_user(r.uid, r.gid, r.additional_gids),
        hostname: cfg.hostname.clone(),
        domainname: cfg.domainname.clone(),
        tty: cfg.tty,
        open_stdin: cfg.open_stdin,
        network: r.network,
        mounts,
        cap_add: hc.cap_add.clone().unwrap_or_default(),
        cap_drop: hc.cap_drop.clone().unwrap_or_default(),
        cgroup_path: r.cgroup_path,
        annotations: Default::default(),
        limits: crate::settings::limits(hc),
        security: r.security,
        oom_score_adj: hc.oom_score_adj as i32,
        pid_ns: r.namespaces.pid,
        ipc_ns: r.namespaces.ipc,
        uts_ns: r.namespaces.uts,
        no_shm: r.namespaces.no_shm,
        userns: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runtime::config::NamespaceMode;

    fn record(json: serde_json::Value) -> ContainerRecord {
        let mut base = serde_json::json!({
            "id": "c1", "name": "c1", "created": "2026-01-01T00:00:00Z",
            "image_name": "busybox", "image_id": "sha256:x",
            "path": "sh", "args": ["-c", "true"],
            "config": {"Hostname": "h1"}, "host_config": {},
            "log_path": "/l", "hostname_path": "/hn", "hosts_path": "/hs",
            "resolv_conf_path": "/rc",
        });
        for (k, v) in json.as_object().unwrap() {
            base[k] = v.clone();
        }
        serde_json::from_value(base).unwrap()
    }

    fn resolved() -> Resolved {
        Resolved {
            uid: 1000,
            gid: 100,
            additional_gids: vec![100, 20],
            etc_files: ["/rc".into(), "/hn".into(), "/hs".into()],
            namespaces: namespaces::Resolved {
                pid: NamespaceMode::Private,
                ipc: NamespaceMode::Private,
                uts: NamespaceMode::Private,
                shm_source: None,
                no_shm: false,
            },
            init: None,
            injected_dir: "/exec/containers/c1/files".into(),
            security: SecurityOptions::default(),
            network: NetworkMode::Private,
            cgroup_path: "/berth/c1".into(),
        }
    }

    #[test]
    fn env_has_hostname_links_below_own_and_home() {
        let r = record(
            serde_json::json!({"config": {"Hostname": "h1", "Env": ["A=1", "DB_PORT=own"]}}),
        );
        let links = vec![
            "DB_PORT=tcp://10.0.0.2:5432".to_string(),
            "DB_NAME=/c1/db".to_string(),
        ];
        assert_eq!(
            env(&r, &links, "/home/u"),
            [
                "HOSTNAME=h1",
                "A=1",
                "DB_PORT=own",
                "DB_NAME=/c1/db",
                "HOME=/home/u"
            ]
        );
        let r = record(serde_json::json!({"config": {"Env": ["HOSTNAME=mine", "HOME=/x"]}}));
        assert_eq!(env(&r, &[], "/root"), ["HOSTNAME=mine", "HOME=/x"]);
    }

    #[test]
    fn a_terminal_gets_term_xterm_unless_set() {
        let r =
            record(serde_json::json!({"config": {"Hostname": "h", "Tty": true, "Env": ["A=1"]}}));
        assert_eq!(
            env(&r, &[], "/root"),
            ["HOSTNAME=h", "TERM=xterm", "A=1", "HOME=/root"]
        );
        let r = record(serde_json::json!({"config": {"Tty": true, "Env": ["TERM=vt100"]}}));
        assert!(!env(&r, &[], "/").contains(&"TERM=xterm".to_string()));
        let r = record(serde_json::json!({"config": {"Env": []}}));
        assert!(!env(&r, &[], "/").iter().any(|e| e.starts_with("TERM=")));
    }

    #[test]
    fn cwd_defaults_to_the_root() {
        assert_eq!(cwd(&record(serde_json::json!({}))), "/");
        let r = record(serde_json::json!({"config": {"WorkingDir": "/app"}}));
        assert_eq!(cwd(&r), "/app");
    }

    #[test]
    fn the_primary_group_leads_the_supplementary_ones() {
        let u = runtime_user(1000, 100, vec![100, 20]);
        assert_eq!(u.additional_gids, vec![100, 20]);
    }

    #[test]
    fn mounts_put_name_files_first_and_parents_before_children() {
        let r = record(serde_json::json!({"mounts": [
            {"kind": "bind", "source": "/h/deep", "destination": "/data/sub", "rw": false, "mode": "ro"},
            {"kind": "tmpfs", "source": "", "destination": "/run", "rw": true, "options": ["size=1m"]},
            {"kind": "volume", "source": "/v/_data", "destination": "/data", "rw": true, "propagation": "rshared"},
        ]}));
        let shm = PathBuf::from("/shm");
        let init = PathBuf::from("/usr/bin/tini");
        let ms = mounts(
            &r,
            &resolved().etc_files,
            &resolved().injected_dir,
            Some(&shm),
            Some(&init),
        );
        let dests: Vec<&str> = ms.iter().map(|m| m.destination.as_str()).collect();
        assert_eq!(
            dests,
            [
                "/etc/resolv.conf",
                "/etc/hostname",
                "/etc/hosts",
                "/run",
                "/data",
                "/data/sub",
                "/dev/shm",
                INIT_PATH
            ]
        );
        assert_eq!(ms[4].options, ["rbind", "rw", "rshared"]);
        assert_eq!(ms[5].options, ["rbind", "ro", "rprivate"]);
        assert_eq!(ms[3].kind, "tmpfs");
        assert_eq!(ms[7].options, ["bind", "ro"]);
    }

    #[test]
    fn injected_files_are_read_only_binds_from_the_tmpfs_in_depth_order() {
        let r = record(serde_json::json!({
            "mounts": [
                {"kind": "tmpfs", "source": "", "destination": "/run", "rw": true, "options": []},
                {"kind": "bind", "source": "/h/app", "destination": "/etc/app/conf.d/x", "rw": true},
            ],
            "injected_files": [
                {"target": "/etc/app/conf.d/app.yaml", "file": "1", "uid": 0, "gid": 0, "mode": 292},
                {"target": "/run/secrets/s1", "file": "0", "uid": 1000, "gid": 1000, "mode": 256},
            ],
        }));
        let res = resolved();
        let ms = mounts(&r, &res.etc_files, &res.injected_dir, None, None);
        let dests: Vec<&str> = ms.iter().map(|m| m.destination.as_str()).collect();
        assert_eq!(
            dests,
            [
                "/etc/resolv.conf",
                "/etc/hostname",
                "/etc/hosts",
                "/run",
                "/run/secrets/s1",
                "/etc/app/conf.d/x",
                "/etc/app/conf.d/app.yaml",
            ]
        );
        let secret = &ms[4];
        assert_eq!(secret.kind, "bind");
        assert_eq!(secret.source, PathBuf::from("/exec/containers/c1/files/0"));
        assert_eq!(
            secret.options,
            ["rbind", "ro", "nosuid", "nodev", "rprivate"]
        );
        assert_eq!(ms[6].source, PathBuf::from("/exec/containers/c1/files/1"));
        // Records from before injected files load without any.
        assert!(record(serde_json::json!({})).injected_files.is_empty());
    }

    #[test]
    fn init_runs_the_command_behind_docker_init() {
        let r = record(serde_json::json!({"host_config": {"Init": true, "ReadonlyRootfs": true}}));
        let mut res = resolved();
        res.init = Some("/usr/bin/tini".into());
        let c = container_config("c1", &r, "/rootfs".into(), vec![], res);
        assert_eq!(c.args, [INIT_PATH, "--", "sh", "-c", "true"]);
        assert!(c.readonly_rootfs);
        assert_eq!(c.cgroup_path, "/berth/c1");
        assert_eq!(c.user.uid, 1000);
        assert_eq!(c.hostname, "h1");
    }
}
