//! The CIS Docker Benchmark items that a daemon's API can show, as pure
//! functions of `GET /info` and each running container's inspect: the same
//! checks docker-bench-security runs, applied to berth or any Docker
//! daemon. Each finding names its item, the object and the fix.

use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Pass,
    Warn,
    Info,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The CIS Docker Benchmark item (v1.6 numbering).
    pub id: &'static str,
    pub level: Level,
    pub title: &'static str,
    /// `daemon`, or a container's name.
    pub object: String,
    /// What was seen, when it is more than the title.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub fix: &'static str,
}

/// One check over every container: what it finds wrong in one, if anything.
struct ContainerCheck {
    id: &'static str,
    title: &'static str,
    /// WARN, or INFO for advice rather than a risk.
    level: Level,
    fix: &'static str,
    failed: fn(&Value) -> Option<String>,
}

/// Host paths whose mounting gives a container the host (CIS 5.5).
const SENSITIVE: &[&str] = &[
    "/", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/sys", "/usr", "/var/lib",
];
const SOCKETS: &[&str] = &["docker.sock", "berth.sock", "containerd.sock"];

fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    v.pointer(path).unwrap_or(&Value::Null)
}

fn text<'a>(v: &'a Value, path: &str) -> &'a str {
    at(v, path).as_str().unwrap_or("")
}

fn strings(v: &Value, path: &str) -> Vec<String> {
    at(v, path)
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn bind_sources(c: &Value) -> Vec<String> {
    at(c, "/Mounts")
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|m| text(m, "/Type") == "bind")
                .map(|m| text(m, "/Source").trim_end_matches('/').to_string())
                .map(|s| if s.is_empty() { "/".to_string() } else { s })
                .collect()
        })
        .unwrap_or_default()
}

const CONTAINER_CHECKS: &[ContainerCheck] = &[
    ContainerCheck {
        id: "4.1",
        title: "Container runs as root",
        level: Level::Warn,
        fix: "run as an unprivileged user (USER in the image, or --user UID)",
        failed: |c| {
            let user = text(c, "/Config/User");
            let name = user.split(':').next().unwrap_or("");
            matches!(name, "" | "root" | "0").then(String::new)
        },
    },
    ContainerCheck {
        id: "4.6",
        title: "Container has no health check",
        level: Level::Warn,
        fix: "add a HEALTHCHECK to the image or --health-cmd",
        failed: |c| {
            let test = strings(c, "/Config/Healthcheck/Test");
            (test.is_empty() || test[0] == "NONE").then(String::new)
        },
    },
    ContainerCheck {
        id: "5.3",
        title: "Container adds Linux capabilities",
        level: Level::Warn,
        fix: "drop --cap-add, or --cap-drop ALL and add back only what it needs",
        failed: |c| {
            let caps = strings(c, "/HostConfig/CapAdd");
            (!caps.is_empty()).then(|| caps.join(", "))
        },
    },
    ContainerCheck {
        id: "5.4",
        title: "Container runs privileged",
        level: Level::Warn,
        fix: "run without --privileged; grant the capabilities or devices it needs instead",
        failed: |c| (at(c, "/HostConfig/Privileged") == &Value::Bool(true)).then(String::new),
    },
    ContainerCheck {
        id: "5.5",
        title: "Sensitive host directories are mounted",
        level: Level::Warn,
        fix: "mount only the directories it needs, never the host's system directories",
        failed: |c| {
            let hits: Vec<String> = bind_sources(c)
                .into_iter()
                .filter(|s| SENSITIVE.contains(&s.as_str()))
                .collect();
            (!hits.is_empty()).then(|| hits.join(", "))
        },
    },
    ContainerCheck {
        id: "5.7",
        title: "Privileged host ports are mapped",
        level: Level::Warn,
        fix: "publish on a host port of 1024 or above",
        failed: |c| {
            let mut low: Vec<String> = at(c, "/NetworkSettings/Ports")
                .as_object()
                .map(|ports| {
                    ports
                        .values()
                        .filter_map(Value::as_array)
                        .flatten()
                        .filter_map(|b| text(b, "/HostPort").parse::<u32>().ok())
                        .filter(|p| *p < 1024)
                        .map(|p| p.to_string())
                        .collect()
                })
                .unwrap_or_default();
            low.sort();
            low.dedup();
            (!low.is_empty()).then(|| low.join(", "))
        },
    },
    ContainerCheck {
        id: "5.9",
        title: "Container shares the host's network namespace",
        level: Level::Warn,
        fix: "use a bridge network (drop --network host)",
        failed: |c| (text(c, "/HostConfig/NetworkMode") == "host").then(String::new),
    },
    ContainerCheck {
        id: "5.10",
        title: "Container has no memory limit",
        level: Level::Warn,
        fix: "set --memory",
        failed: |c| (at(c, "/HostConfig/Memory").as_i64().unwrap_or(0) <= 0).then(String::new),
    },
    ContainerCheck {
        id: "5.11",
        title: "Container has no CPU shares set",
        level: Level::Info,
        fix: "set --cpu-shares (or --cpus) to weigh it against the others",
        failed: |c| {
            let shares = at(c, "/HostConfig/CpuShares").as_i64().unwrap_or(0);
            let cpus = at(c, "/HostConfig/NanoCpus").as_i64().unwrap_or(0);
            (shares <= 0 && cpus <= 0).then(String::new)
        },
    },
    ContainerCheck {
        id: "5.12",
        title: "Container's root filesystem is writable",
        level: Level::Warn,
        fix: "run with --read-only (and --tmpfs for the paths it writes)",
        failed: |c| (at(c, "/HostConfig/ReadonlyRootfs") != &Value::Bool(true)).then(String::new),
    },
    ContainerCheck {
        id: "5.15",
        title: "Container shares the host's process namespace",
        level: Level::Warn,
        fix: "drop --pid host",
        failed: |c| (text(c, "/HostConfig/PidMode") == "host").then(String::new),
    },
    ContainerCheck {
        id: "5.16",
        title: "Container shares the host's IPC namespace",
        level: Level::Warn,
        fix: "drop --ipc host",
        failed: |c| (text(c, "/HostConfig/IpcMode") == "host").then(String::new),
    },
    ContainerCheck {
        id: "5.17",
        title: "Host devices are given to the container",
        level: Level::Info,
        fix: "give only the devices it needs, read-only where it can (--device X:Y:r)",
        failed: |c| {
            let devs: Vec<String> = at(c, "/HostConfig/Devices")
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|d| text(d, "/PathOnHost").to_string())
                        .collect()
                })
                .unwrap_or_default();
            (!devs.is_empty()).then(|| devs.join(", "))
        },
    },
    ContainerCheck {
        id: "5.20",
        title: "Container shares the host's UTS namespace",
        level: Level::Warn,
        fix: "drop --uts host",
        failed: |c| (text(c, "/HostConfig/UTSMode") == "host").then(String::new),
    },
    ContainerCheck {
        id: "5.21",
        title: "Container runs without the default seccomp profile",
        level: Level::Warn,
        fix: "drop --security-opt seccomp=unconfined, or give a profile of its own",
        failed: |c| {
            strings(c, "/HostConfig/SecurityOpt")
                .iter()
                .any(|o| o == "seccomp=unconfined" || o == "seccomp:unconfined")
                .then(String::new)
        },
    },
    ContainerCheck {
        id: "5.25",
        title: "Container may acquire new privileges",
        level: Level::Warn,
        fix: "run with --security-opt no-new-privileges",
        failed: |c| {
            let set = strings(c, "/HostConfig/SecurityOpt").iter().any(|o| {
                matches!(
                    o.as_str(),
                    "no-new-privileges" | "no-new-privileges:true" | "no-new-privileges=true"
                )
            });
            (!set).then(String::new)
        },
    },
    ContainerCheck {
        id: "5.28",
        title: "Container has no PIDs limit",
        level: Level::Warn,
        fix: "set --pids-limit",
        failed: |c| (at(c, "/HostConfig/PidsLimit").as_i64().unwrap_or(0) <= 0).then(String::new),
    },
    ContainerCheck {
        id: "5.30",
        title: "Container shares the host's user namespace",
        level: Level::Warn,
        fix: "drop --userns host",
        failed: |c| (text(c, "/HostConfig/UsernsMode") == "host").then(String::new),
    },
    ContainerCheck {
        id: "5.31",
        title: "The engine's API socket is mounted into the container",
        level: Level::Warn,
        fix: "do not mount the daemon's socket: whoever reaches it is root on the host",
        failed: |c| {
            let hits: Vec<String> = bind_sources(c)
                .into_iter()
                .filter(|s| SOCKETS.iter().any(|n| s.ends_with(n)))
                .collect();
            (!hits.is_empty()).then(|| hits.join(", "))
        },
    },
];

/// Every finding for a daemon (`info`) and its running containers
/// (`containers`: inspect answers), in the benchmark's order.
pub fn audit(info: &Value, containers: &[Value]) -> Vec<Finding> {
    let mut out = daemon_findings(info);
    for check in CONTAINER_CHECKS {
        let before = out.len();
        for c in containers {
            if let Some(detail) = (check.failed)(c) {
                out.push(Finding {
                    id: check.id,
                    level: check.level,
                    title: check.title,
                    object: text(c, "/Name").trim_start_matches('/').to_string(),
                    detail,
                    fix: check.fix,
                });
            }
        }
        if out.len() == before {
            out.push(Finding {
                id: check.id,
                level: Level::Pass,
                title: check.title,
                object: if containers.is_empty() {
                    "no running container".into()
                } else {
                    "every running container".into()
                },
                detail: String::new(),
                fix: "",
            });
        }
    }
    out
}

fn daemon_findings(info: &Value) -> Vec<Finding> {
    let finding = |id, level, title, detail: String, fix| Finding {
        id,
        level,
        title,
        object: "daemon".into(),
        detail,
        fix,
    };
    let mut out = Vec::new();
    let insecure: Vec<String> = at(info, "/RegistryConfig/IndexConfigs")
        .as_object()
        .map(|m| {
            m.values()
                .filter(|c| at(c, "/Secure") == &Value::Bool(false))
                .map(|c| text(c, "/Name").to_string())
                .collect()
        })
        .unwrap_or_default();
    out.push(if insecure.is_empty() {
        finding(
            "2.5",
            Level::Pass,
            "No insecure registries",
            String::new(),
            "",
        )
    } else {
        finding(
            "2.5",
            Level::Warn,
            "Insecure registries are used",
            insecure.join(", "),
            "serve those registries over TLS and drop --insecure-registry",
        )
    });
    let userns = strings(info, "/SecurityOptions")
        .iter()
        .any(|o| o.contains("name=userns"));
    out.push(if userns {
        finding(
            "2.10",
            Level::Pass,
            "User namespace remapping is on",
            String::new(),
            "",
        )
    } else {
        finding(
            "2.10",
            Level::Warn,
            "User namespace remapping is off",
            String::new(),
            "start the daemon with --userns-remap default",
        )
    });
    let seccomp = strings(info, "/SecurityOptions")
        .iter()
        .any(|o| o.contains("name=seccomp"));
    out.push(if seccomp {
        finding(
            "2.16",
            Level::Pass,
            "Seccomp is available to containers",
            String::new(),
            "",
        )
    } else {
        finding(
            "2.16",
            Level::Warn,
            "The daemon applies no seccomp profile",
            String::new(),
            "run on a kernel with seccomp and keep the default profile",
        )
    });
    let live = at(info, "/LiveRestoreEnabled") == &Value::Bool(true);
    out.push(if live {
        finding(
            "2.15",
            Level::Pass,
            "Containers outlive the daemon (live restore)",
            String::new(),
            "",
        )
    } else {
        finding(
            "2.15",
            Level::Info,
            "Containers stop with the daemon (no live restore)",
            String::new(),
            "enable live restore",
        )
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hardened() -> Value {
        json!({
            "Name": "/safe",
            "Config": {"User": "1000", "Healthcheck": {"Test": ["CMD", "true"]}},
            "HostConfig": {
                "Privileged": false, "ReadonlyRootfs": true, "Memory": 67108864,
                "PidsLimit": 64, "CpuShares": 512, "NetworkMode": "bridge",
                "PidMode": "", "IpcMode": "private", "UTSMode": "", "UsernsMode": "",
                "SecurityOpt": ["no-new-privileges"], "CapAdd": null, "Devices": []
            },
            "Mounts": [{"Type": "volume", "Source": "/var/lib/berth/volumes/x/_data"}],
            "NetworkSettings": {"Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}}
        })
    }

    fn risky() -> Value {
        json!({
            "Name": "/risky",
            "Config": {"User": "", "Healthcheck": null},
            "HostConfig": {
                "Privileged": true, "ReadonlyRootfs": false, "Memory": 0, "PidsLimit": null,
                "NetworkMode": "host", "PidMode": "host", "IpcMode": "host", "UTSMode": "host",
                "UsernsMode": "host", "SecurityOpt": ["seccomp=unconfined"],
                "CapAdd": ["NET_ADMIN", "SYS_ADMIN"], "Devices": [{"PathOnHost": "/dev/fuse"}]
            },
            "Mounts": [
                {"Type": "bind", "Source": "/etc/"},
                {"Type": "bind", "Source": "/run/berth/berth.sock"},
                {"Type": "bind", "Source": "/srv/data"}
            ],
            "NetworkSettings": {"Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "80"},
                                                     {"HostIp": "::", "HostPort": "80"}]}}
        })
    }

    fn warned(findings: &[Finding], object: &str) -> Vec<&'static str> {
        findings
            .iter()
            .filter(|f| f.object == object && f.level != Level::Pass)
            .map(|f| f.id)
            .collect()
    }

    #[test]
    fn a_hardened_container_passes_every_item() {
        let f = audit(&json!({}), &[hardened()]);
        assert!(warned(&f, "safe").is_empty(), "{f:#?}");
        assert_eq!(
            f.iter()
                .filter(|x| x.object == "every running container")
                .count(),
            CONTAINER_CHECKS.len()
        );
    }

    #[test]
    fn a_risky_container_is_warned_of_each_risk_with_what_was_seen() {
        let f = audit(&json!({}), &[risky(), hardened()]);
        assert_eq!(
            warned(&f, "risky"),
            [
                "4.1", "4.6", "5.3", "5.4", "5.5", "5.7", "5.9", "5.10", "5.11", "5.12", "5.15",
                "5.16", "5.17", "5.20", "5.21", "5.25", "5.28", "5.30", "5.31"
            ]
        );
        let detail = |id| {
            f.iter()
                .find(|x| x.id == id && x.object == "risky")
                .unwrap()
        };
        assert_eq!(detail("5.3").detail, "NET_ADMIN, SYS_ADMIN");
        assert_eq!(detail("5.5").detail, "/etc");
        assert_eq!(detail("5.7").detail, "80");
        assert_eq!(detail("5.31").detail, "/run/berth/berth.sock");
        assert_eq!(detail("5.11").level, Level::Info);
        assert!(!detail("5.4").fix.is_empty());
        assert!(warned(&f, "safe").is_empty());
    }

    #[test]
    fn the_daemon_is_checked_from_its_info() {
        let info = json!({
            "RegistryConfig": {"IndexConfigs": {
                "docker.io": {"Name": "docker.io", "Secure": true},
                "reg.example:5000": {"Name": "reg.example:5000", "Secure": false}
            }},
            "SecurityOptions": ["name=seccomp,profile=builtin"],
            "LiveRestoreEnabled": true
        });
        let f = audit(&info, &[]);
        let of = |id| f.iter().find(|x| x.id == id).unwrap();
        assert_eq!(
            (of("2.5").level, of("2.5").detail.as_str()),
            (Level::Warn, "reg.example:5000")
        );
        assert_eq!(of("2.10").level, Level::Warn);
        assert_eq!(of("2.16").level, Level::Pass);
        assert_eq!(of("2.15").level, Level::Pass);
        assert_eq!(of("5.4").object, "no running container");
    }
}
