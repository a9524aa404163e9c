//! `daemon.json`: dockerd's configuration file, read as the flags it stands
//! for. Each key berth knows becomes the command-line arguments of its flag,
//! placed before the real ones, so one parser (clap's) checks values and
//! fills defaults whichever way a setting came. As dockerd: a key given both
//! as a flag and in the file is an error, unknown keys are an error naming
//! them, and a missing file is fine only when it is the default one.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use clap::parser::{ArgMatches, ValueSource};
use serde_json::{Map, Value};

/// Where dockerd's file is `/etc/docker/daemon.json`; berth keeps its own.
pub const DEFAULT_PATH: &str = "/etc/berth/daemon.json";

/// How a key's value turns into arguments.
#[derive(Clone, Copy)]
enum Kind {
    /// A string: `--flag=VALUE`.
    Str,
    /// A boolean for a flag that takes one: `--flag=true|false`.
    Bool,
    /// A boolean for a flag that is only present or absent.
    Switch,
    /// A list of strings: the flag once per element.
    List,
    /// `default-address-pools`: `[{"base": CIDR, "size": N}]`.
    Pools,
    /// `runtimes`: `{"NAME": {"path": PATH}}`.
    Runtimes,
    /// `log-opts`: `{"k": "v"}` as `--flag=k=v` each.
    Opts,
    /// `debug`: `true` is `--log-level=debug`.
    Debug,
    /// `live-restore`: berth's containers always outlive the daemon.
    LiveRestore,
    /// `storage-driver`: overlayfs is berth's only one.
    StorageDriver,
}

/// (key, clap argument id, long flag, kind). The argument ids are the
/// field names of `DaemonArgs`.
const KEYS: &[(&str, &str, &str, Kind)] = &[
    ("hosts", "hosts", "--host", Kind::List),
    ("tls", "tls", "--tls", Kind::Bool),
    ("tlsverify", "tlsverify", "--tlsverify", Kind::Bool),
    ("tlscacert", "tlscacert", "--tlscacert", Kind::Str),
    ("tlscert", "tlscert", "--tlscert", Kind::Str),
    ("tlskey", "tlskey", "--tlskey", Kind::Str),
    ("data-root", "data_root", "--data-root", Kind::Str),
    ("exec-root", "exec_root", "--exec-root", Kind::Str),
    ("group", "group", "--group", Kind::Str),
    ("pidfile", "pidfile", "--pidfile", Kind::Str),
    ("log-level", "log_level", "--log-level", Kind::Str),
    ("debug", "log_level", "--log-level", Kind::Debug),
    (
        "cgroup-parent",
        "cgroup_parent",
        "--cgroup-parent",
        Kind::Str,
    ),
    ("init-path", "init_path", "--init-path", Kind::Str),
    (
        "insecure-registries",
        "insecure_registries",
        "--insecure-registry",
        Kind::List,
    ),
    (
        "registry-mirrors",
        "registry_mirrors",
        "--registry-mirror",
        Kind::List,
    ),
    ("bridge", "bridge", "--bridge", Kind::Str),
    ("bip", "bip", "--bip", Kind::Str),
    ("ipv6", "ipv6", "--ipv6", Kind::Switch),
    (
        "fixed-cidr-v6",
        "fixed_cidr_v6",
        "--fixed-cidr-v6",
        Kind::Str,
    ),
    (
        "default-address-pools",
        "default_address_pools",
        "--default-address-pool",
        Kind::Pools,
    ),
    ("iptables", "iptables", "--iptables", Kind::Bool),
    (
        "firewall-backend",
        "firewall_backend",
        "--firewall-backend",
        Kind::Str,
    ),
    ("runtimes", "add_runtimes", "--add-runtime", Kind::Runtimes),
    (
        "default-runtime",
        "default_runtime",
        "--default-runtime",
        Kind::Str,
    ),
    (
        "cluster-store",
        "cluster_store",
        "--cluster-store",
        Kind::Str,
    ),
    (
        "cluster-store-cacert",
        "cluster_store_cacert",
        "--cluster-store-cacert",
        Kind::Str,
    ),
    (
        "cluster-store-cert",
        "cluster_store_cert",
        "--cluster-store-cert",
        Kind::Str,
    ),
    (
        "cluster-store-key",
        "cluster_store_key",
        "--cluster-store-key",
        Kind::Str,
    ),
    ("log-driver", "log_driver", "--log-driver", Kind::Str),
    ("log-opts", "log_opts", "--log-opt", Kind::Opts),
    ("metrics-addr", "metrics_addr", "--metrics-addr", Kind::Str),
    ("router-addr", "router_addr", "--router-addr", Kind::Str),
    (
        "router-tls-addr",
        "router_tls_addr",
        "--router-tls-addr",
        Kind::Str,
    ),
    (
        "router-cert-dir",
        "router_cert_dir",
        "--router-cert-dir",
        Kind::Str,
    ),
    ("ui-addr", "ui_addr", "--ui-addr", Kind::Str),
    ("ui-tls-cert", "ui_tls_cert", "--ui-tls-cert", Kind::Str),
    ("ui-tls-key", "ui_tls_key", "--ui-tls-key", Kind::Str),
    (
        "ui-admin-password-file",
        "ui_admin_password_file",
        "--ui-admin-password-file",
        Kind::Str,
    ),
    ("userns-remap", "userns_remap", "--userns-remap", Kind::Str),
    ("live-restore", "", "", Kind::LiveRestore),
    ("storage-driver", "", "", Kind::StorageDriver),
];

/// dockerd's keys that berth does not honour yet: refused by name rather
/// than as unknown, since they are valid Docker configuration.
const NOT_YET: &[&str] = &[
    "storage-opts",
    "mtu",
    "dns",
    "dns-opts",
    "dns-search",
    "labels",
    "userland-proxy",
    "userland-proxy-path",
    "default-ulimits",
    "max-concurrent-downloads",
    "max-concurrent-uploads",
    "max-download-attempts",
    "experimental",
    "features",
    "shutdown-timeout",
    "ip",
    "ip-forward",
    "ip-masq",
    "icc",
    "ip6tables",
    "fixed-cidr",
    "default-gateway",
    "default-gateway-v6",
    "default-shm-size",
    "default-ipc-mode",
    "default-cgroupns-mode",
    "selinux-enabled",
    "no-new-privileges",
    "seccomp-profile",
    "init",
    "oom-score-adjust",
    "exec-opts",
    "containerd",
    "swarm-default-advertise-addr",
    "allow-nondistributable-artifacts",
    "authorization-plugins",
    "node-generic-resources",
    "cpu-rt-period",
    "cpu-rt-runtime",
    "raw-logs",
    "log-format",
];

/// The keys a SIGHUP applies to a running daemon (as dockerd reloads them).
pub const RELOADABLE: &[&str] = &[
    "debug",
    "log-level",
    "insecure-registries",
    "registry-mirrors",
];

/// The file's settings, or `None` when the default file does not exist.
pub fn read(path: &Path, explicit: bool) -> anyhow::Result<Option<Map<String, Value>>> {
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let value: Value = serde_json::from_slice(&data)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    match value {
        Value::Object(m) => Ok(Some(m)),
        _ => bail!("{}: a JSON object of settings is expected", path.display()),
    }
}

/// The command-line arguments the file's settings stand for, after
/// checking them against the flags actually given (`cli`).
pub fn to_args(file: &Map<String, Value>, cli: &ArgMatches) -> anyhow::Result<Vec<String>> {
    let unknown: Vec<&str> = file
        .keys()
        .map(String::as_str)
        .filter(|k| !KEYS.iter().any(|(key, ..)| key == k) && !NOT_YET.contains(k))
        .collect();
    if !unknown.is_empty() {
        bail!(
            "the following directives don't match any configuration option: {}",
            unknown.join(", ")
        );
    }
    if let Some(k) = file.keys().find(|k| NOT_YET.contains(&k.as_str())) {
        bail!("not implemented: daemon.json key {k:?} (berth does not honour it yet)");
    }
    let mut conflicts = Vec::new();
    let mut args = Vec::new();
    for (key, value) in file {
        let Some(&(_, id, flag, kind)) = KEYS.iter().find(|(k, ..)| k == key) else {
            continue;
        };
        if !id.is_empty() && cli.value_source(id) == Some(ValueSource::CommandLine) {
            let given: Vec<String> = cli
                .get_raw(id)
                .map(|v| v.map(|s| s.to_string_lossy().into_owned()).collect())
                .unwrap_or_default();
            conflicts.push(format!(
                "{key}: (from flag: {}, from file: {value})",
                given.join(" ")
            ));
            continue;
        }
        args.extend(arguments(key, flag, kind, value)?);
    }
    if !conflicts.is_empty() {
        bail!(
            "the following directives are specified both as a flag and in the configuration file: {}",
            conflicts.join(", ")
        );
    }
    Ok(args)
}

fn arguments(key: &str, flag: &str, kind: Kind, value: &Value) -> anyhow::Result<Vec<String>> {
    let wrong = |what: &str| anyhow::anyhow!("daemon.json {key:?}: {what} expected, got {value}");
    let string = |v: &Value| {
        v.as_str()
            .map(str::to_string)
            .ok_or_else(|| wrong("a string"))
    };
    Ok(match kind {
        Kind::Str => vec![format!("{flag}={}", string(value)?)],
        Kind::Bool => vec![format!(
            "{flag}={}",
            value.as_bool().ok_or_else(|| wrong("true or false"))?
        )],
        Kind::Switch => match value.as_bool().ok_or_else(|| wrong("true or false"))? {
            true => vec![flag.to_string()],
            false => Vec::new(),
        },
        Kind::Debug => match value.as_bool().ok_or_else(|| wrong("true or false"))? {
            true => vec![format!("{flag}=debug")],
            false => Vec::new(),
        },
        Kind::List => value
            .as_array()
            .ok_or_else(|| wrong("a list of strings"))?
            .iter()
            .map(|v| Ok(format!("{flag}={}", string(v)?)))
            .collect::<anyhow::Result<_>>()?,
        Kind::Pools => value
            .as_array()
            .ok_or_else(|| wrong("a list of {\"base\": CIDR, \"size\": N}"))?
            .iter()
            .map(|p| {
                let base = p.get("base").and_then(Value::as_str);
                let size = p.get("size").and_then(Value::as_u64);
                match (base, size) {
                    (Some(b), Some(s)) => Ok(format!("{flag}=base={b},size={s}")),
                    _ => Err(wrong("a list of {\"base\": CIDR, \"size\": N}")),
                }
            })
            .collect::<anyhow::Result<_>>()?,
        Kind::Runtimes => {
            let runtimes: BTreeMap<String, Value> =
                serde_json::from_value(value.clone()).map_err(|_| wrong("an object"))?;
            let mut out = Vec::new();
            for (name, r) in runtimes {
                let path = r
                    .get("path")
                    .and_then(Value::as_str)
                    .ok_or_else(|| wrong("{\"NAME\": {\"path\": PATH}}"))?;
                if r.get("runtimeArgs")
                    .and_then(Value::as_array)
                    .is_some_and(|a| !a.is_empty())
                {
                    bail!("not implemented: daemon.json runtimes.{name}.runtimeArgs");
                }
                out.push(format!("{flag}={name}={path}"));
            }
            out
        }
        Kind::Opts => {
            let opts: BTreeMap<String, String> =
                serde_json::from_value(value.clone()).map_err(|_| wrong("an object of strings"))?;
            opts.iter()
                .map(|(k, v)| format!("{flag}={k}={v}"))
                .collect()
        }
        Kind::LiveRestore => match value.as_bool().ok_or_else(|| wrong("true or false"))? {
            true => Vec::new(),
            false => bail!(
                "not implemented: \"live-restore\": false (berth's containers always keep running when the daemon stops)"
            ),
        },
        Kind::StorageDriver => match string(value)?.as_str() {
            "overlay2" | "overlay" | "overlayfs" => Vec::new(),
            other => bail!("not implemented: storage driver {other:?} (berth uses overlayfs)"),
        },
    })
}

/// The settings a SIGHUP can change, as read from the file now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reloadable {
    pub log_level: Option<String>,
    pub insecure_registries: Vec<String>,
    pub registry_mirrors: Vec<String>,
}

/// [`Reloadable`] from the file, and the keys it changed that only a
/// restart applies (compared with `before`).
pub fn reloadable(
    file: &Map<String, Value>,
    before: &Map<String, Value>,
) -> anyhow::Result<(Reloadable, Vec<String>)> {
    let list = |key: &str| -> anyhow::Result<Vec<String>> {
        match file.get(key) {
            None => Ok(Vec::new()),
            Some(v) => serde_json::from_value(v.clone())
                .with_context(|| format!("daemon.json {key:?}: a list of strings expected")),
        }
    };
    let mut log_level = file
        .get("log-level")
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .context("daemon.json \"log-level\": a string expected")
        })
        .transpose()?;
    if file.get("debug").and_then(Value::as_bool) == Some(true) {
        log_level = Some("debug".into());
    }
    let r = Reloadable {
        log_level,
        insecure_registries: list("insecure-registries")?,
        registry_mirrors: list("registry-mirrors")?,
    };
    let mut keys: Vec<&String> = file.keys().chain(before.keys()).collect();
    keys.sort();
    keys.dedup();
    let needs_restart = keys
        .into_iter()
        .filter(|k| !RELOADABLE.contains(&k.as_str()) && file.get(*k) != before.get(*k))
        .cloned()
        .collect();
    Ok((r, needs_restart))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn cli(args: &[&str]) -> ArgMatches {
        super::super::DaemonArgs::command()
            .try_get_matches_from(std::iter::once("t").chain(args.iter().copied()))
            .unwrap()
    }

    #[test]
    fn every_key_names_a_flag_of_the_daemon() {
        let cmd = super::super::DaemonArgs::command();
        for (key, id, flag, _) in KEYS.iter().filter(|k| !k.1.is_empty()) {
            let arg = cmd.get_arguments().find(|a| a.get_id() == *id);
            let arg = arg.unwrap_or_else(|| panic!("{key}: no argument {id}"));
            assert_eq!(
                arg.get_long().map(|l| format!("--{l}")).as_deref(),
                Some(*flag),
                "{key}"
            );
        }
    }

    fn file(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn keys_become_the_flags_they_stand_for() {
        let f = file(serde_json::json!({
            "hosts": ["unix:///a.sock", "tcp://127.0.0.1:2376"],
            "iptables": false,
            "ipv6": true,
            "default-address-pools": [{"base": "10.10.0.0/16", "size": 24}],
            "runtimes": {"crun": {"path": "/usr/bin/crun"}},
            "registry-mirrors": ["http://127.0.0.1:5000"],
            "live-restore": true,
            "storage-driver": "overlay2",
            "log-driver": "json-file",
            "log-opts": {"max-size": "10m", "max-file": "3"},
        }));
        let args = to_args(&f, &cli(&[])).unwrap();
        assert_eq!(
            args,
            [
                "--host=unix:///a.sock",
                "--host=tcp://127.0.0.1:2376",
                "--iptables=false",
                "--ipv6",
                "--default-address-pool=base=10.10.0.0/16,size=24",
                "--add-runtime=crun=/usr/bin/crun",
                "--registry-mirror=http://127.0.0.1:5000",
                "--log-driver=json-file",
                "--log-opt=max-file=3",
                "--log-opt=max-size=10m",
            ]
        );
        // A default is not a flag given: the file may set it.
        let args = to_args(&file(serde_json::json!({"debug": true})), &cli(&[])).unwrap();
        assert_eq!(args, ["--log-level=debug"]);
    }

    #[test]
    fn unknown_keys_and_flags_given_twice_are_refused_by_name() {
        let e = to_args(
            &file(serde_json::json!({"hots": [], "bip": "x"})),
            &cli(&[]),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "the following directives don't match any configuration option: hots"
        );
        let e = to_args(
            &file(serde_json::json!({"bip": "10.1.0.1/16"})),
            &cli(&["--bip", "10.2.0.1/16"]),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "the following directives are specified both as a flag and in the configuration file: bip: (from flag: 10.2.0.1/16, from file: \"10.1.0.1/16\")"
        );
        let e = to_args(&file(serde_json::json!({"mtu": 1400})), &cli(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("not implemented: daemon.json key \"mtu\""),
            "{e}"
        );
        let e = to_args(&file(serde_json::json!({"live-restore": false})), &cli(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("not implemented"), "{e}");
        let e = to_args(&file(serde_json::json!({"hosts": "unix:///a"})), &cli(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("a list of strings expected"), "{e}");
    }

    #[test]
    fn a_reload_applies_its_keys_and_names_those_that_need_a_restart() {
        let before = file(serde_json::json!({"bip": "10.1.0.1/16", "debug": false}));
        let now = file(serde_json::json!({
            "bip": "10.9.0.1/16",
            "debug": true,
            "insecure-registries": ["reg.example:5000"],
        }));
        let (r, restart) = reloadable(&now, &before).unwrap();
        assert_eq!(r.log_level.as_deref(), Some("debug"));
        assert_eq!(r.insecure_registries, ["reg.example:5000"]);
        assert!(r.registry_mirrors.is_empty());
        assert_eq!(restart, ["bip"]);
    }

    #[test]
    fn only_an_explicit_file_must_exist() {
        let missing = Path::new("/nonexistent/daemon.json");
        assert!(read(missing, false).unwrap().is_none());
        assert!(read(missing, true).is_err());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("daemon.json");
        std::fs::write(&p, "[1]").unwrap();
        assert!(
            read(&p, true)
                .unwrap_err()
                .to_string()
                .contains("JSON object")
        );
        std::fs::write(&p, "{").unwrap();
        assert!(
            read(&p, true)
                .unwrap_err()
                .to_string()
                .contains("not valid JSON")
        );
    }
}
