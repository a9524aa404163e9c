//! The CIS items about the host a local daemon runs on (1.1.x: its own
//! partition and audit rules; 3.x: the socket's and daemon.json's owners and
//! modes), read through a [`HostView`] so that the rules stay pure and are
//! tested on a fake. Only for a daemon reached over a unix socket on this
//! host: a remote one's files are not ours to read.

use std::path::{Path, PathBuf};

use super::rules::{Finding, Level};

/// What a path is on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileInfo {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The host as the checks see it.
pub trait HostView {
    fn stat(&self, path: &Path) -> Option<FileInfo>;
    /// The mount point of the filesystem holding `path`.
    fn mount_point(&self, path: &Path) -> Option<PathBuf>;
    /// `auditctl -l`'s rules; `None` when there is no auditd to ask.
    fn audit_rules(&self) -> Option<String>;
    fn group_id(&self, name: &str) -> Option<u32>;
}

/// The real host.
pub struct Local;

impl HostView for Local {
    fn stat(&self, path: &Path) -> Option<FileInfo> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(FileInfo {
            mode: m.mode() & 0o7777,
            uid: m.uid(),
            gid: m.gid(),
        })
    }

    fn mount_point(&self, path: &Path) -> Option<PathBuf> {
        let path = std::fs::canonicalize(path).ok()?;
        let table = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        table
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .map(|m| PathBuf::from(m.replace("\\040", " ")))
            .filter(|m| path.starts_with(m))
            .max_by_key(|m| m.as_os_str().len())
    }

    fn audit_rules(&self) -> Option<String> {
        let out = std::process::Command::new("auditctl")
            .arg("-l")
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn group_id(&self, name: &str) -> Option<u32> {
        nix::unistd::Group::from_name(name)
            .ok()
            .flatten()
            .map(|g| g.gid.as_raw())
    }
}

/// Where the checked things are.
pub struct Paths {
    pub data_root: PathBuf,
    pub socket: PathBuf,
    /// The daemon's configuration directory (`/etc/berth`, or dockerd's
    /// `/etc/docker`).
    pub config_dir: PathBuf,
}

pub fn check(view: &dyn HostView, p: &Paths) -> Vec<Finding> {
    let mut out = Vec::new();
    let finding = |id, level, title, object: &Path, detail: String, fix| Finding {
        id,
        level,
        title,
        object: object.display().to_string(),
        detail,
        fix,
    };
    match view.mount_point(&p.data_root) {
        Some(m) if m != Path::new("/") => out.push(finding(
            "1.1.1",
            Level::Pass,
            "The data root has a filesystem of its own",
            &p.data_root,
            format!("mounted at {}", m.display()),
            "",
        )),
        Some(_) => out.push(finding(
            "1.1.1",
            Level::Warn,
            "The data root is on the root filesystem",
            &p.data_root,
            String::new(),
            "give the data root a partition of its own, so containers cannot fill the host's /",
        )),
        None => {}
    }
    let watched = [
        ("1.1.5", &p.data_root, "The data root is audited"),
        (
            "1.1.6",
            &p.config_dir,
            "The configuration directory is audited",
        ),
        ("1.1.9", &p.socket, "The API socket is audited"),
    ];
    match view.audit_rules() {
        None => out.push(finding(
            "1.1.3",
            Level::Info,
            "No auditd to record changes to the daemon's files",
            Path::new("host"),
            "auditctl is missing or refused".into(),
            "install auditd and add -w rules for the data root, configuration and socket",
        )),
        Some(rules) => {
            for (id, path, title) in watched {
                let needle = format!("-w {}", path.display());
                out.push(
                    if rules.lines().any(|l| l.trim_start().starts_with(&needle)) {
                        finding(id, Level::Pass, title, path, String::new(), "")
                    } else {
                        finding(
                            id,
                            Level::Warn,
                            title,
                            path,
                            "no audit rule watches it".into(),
                            "add an auditd rule: -w PATH -p wa -k docker",
                        )
                    },
                );
            }
        }
    }
    if let Some(s) = view.stat(&p.socket) {
        let group = view.group_id("docker").unwrap_or(0);
        out.push(if s.uid == 0 && s.gid == group {
            finding(
                "3.15",
                Level::Pass,
                "The API socket belongs to root and the docker group",
                &p.socket,
                String::new(),
                "",
            )
        } else {
            finding(
                "3.15",
                Level::Warn,
                "The API socket's owner is not root:docker",
                &p.socket,
                format!("{}:{}", s.uid, s.gid),
                "chown root:docker the socket (berth daemon -G docker)",
            )
        });
        out.push(if s.mode & 0o117 == 0 {
            finding(
                "3.16",
                Level::Pass,
                "The API socket's mode is 660 or stricter",
                &p.socket,
                format!("{:o}", s.mode),
                "",
            )
        } else {
            finding(
                "3.16",
                Level::Warn,
                "The API socket is open to more than its group",
                &p.socket,
                format!("{:o}", s.mode),
                "chmod 660 the socket",
            )
        });
    }
    let config = p.config_dir.join("daemon.json");
    if let Some(c) = view.stat(&config) {
        out.push(if c.uid == 0 && c.gid == 0 {
            finding(
                "3.17",
                Level::Pass,
                "daemon.json belongs to root:root",
                &config,
                String::new(),
                "",
            )
        } else {
            finding(
                "3.17",
                Level::Warn,
                "daemon.json's owner is not root:root",
                &config,
                format!("{}:{}", c.uid, c.gid),
                "chown root:root daemon.json",
            )
        });
        out.push(if c.mode & 0o133 == 0 {
            finding(
                "3.18",
                Level::Pass,
                "daemon.json's mode is 644 or stricter",
                &config,
                format!("{:o}", c.mode),
                "",
            )
        } else {
            finding(
                "3.18",
                Level::Warn,
                "daemon.json is writable by others than root",
                &config,
                format!("{:o}", c.mode),
                "chmod 644 daemon.json",
            )
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Default)]
    struct Fake {
        files: HashMap<PathBuf, FileInfo>,
        mounts: Vec<PathBuf>,
        rules: Option<String>,
        docker_gid: Option<u32>,
    }

    impl HostView for Fake {
        fn stat(&self, path: &Path) -> Option<FileInfo> {
            self.files.get(path).copied()
        }
        fn mount_point(&self, path: &Path) -> Option<PathBuf> {
            self.mounts
                .iter()
                .filter(|m| path.starts_with(m))
                .max_by_key(|m| m.as_os_str().len())
                .cloned()
        }
        fn audit_rules(&self) -> Option<String> {
            self.rules.clone()
        }
        fn group_id(&self, name: &str) -> Option<u32> {
            (name == "docker").then_some(self.docker_gid).flatten()
        }
    }

    fn paths() -> Paths {
        Paths {
            data_root: "/var/lib/berth".into(),
            socket: "/run/berth/berth.sock".into(),
            config_dir: "/etc/berth".into(),
        }
    }

    fn levels(f: &[Finding]) -> Vec<(&'static str, Level)> {
        f.iter().map(|f| (f.id, f.level)).collect()
    }

    #[test]
    fn a_hardened_host_passes() {
        let file = |mode, gid| FileInfo { mode, uid: 0, gid };
        let fake = Fake {
            files: [
                ("/run/berth/berth.sock".into(), file(0o660, 999)),
                ("/etc/berth/daemon.json".into(), file(0o644, 0)),
            ]
            .into(),
            mounts: vec!["/".into(), "/var/lib/berth".into()],
            rules: Some(
                "-w /var/lib/berth -p wa -k docker\n-w /etc/berth -p wa -k docker\n-w /run/berth/berth.sock -p wa -k docker\n".into(),
            ),
            docker_gid: Some(999),
        };
        let f = check(&fake, &paths());
        assert!(f.iter().all(|f| f.level == Level::Pass), "{f:?}");
        assert_eq!(
            levels(&f).iter().map(|l| l.0).collect::<Vec<_>>(),
            [
                "1.1.1", "1.1.5", "1.1.6", "1.1.9", "3.15", "3.16", "3.17", "3.18"
            ]
        );
    }

    #[test]
    fn each_risk_warns_with_what_was_seen() {
        let fake = Fake {
            files: [
                (
                    "/run/berth/berth.sock".into(),
                    FileInfo {
                        mode: 0o666,
                        uid: 0,
                        gid: 0,
                    },
                ),
                (
                    "/etc/berth/daemon.json".into(),
                    FileInfo {
                        mode: 0o664,
                        uid: 1000,
                        gid: 0,
                    },
                ),
            ]
            .into(),
            mounts: vec!["/".into()],
            rules: Some("-w /var/lib/berth -p wa\n".into()),
            docker_gid: Some(999),
        };
        let f = check(&fake, &paths());
        assert_eq!(
            levels(&f),
            [
                ("1.1.1", Level::Warn),
                ("1.1.5", Level::Pass),
                ("1.1.6", Level::Warn),
                ("1.1.9", Level::Warn),
                ("3.15", Level::Warn),
                ("3.16", Level::Warn),
                ("3.17", Level::Warn),
                ("3.18", Level::Warn),
            ]
        );
        let socket = f.iter().find(|f| f.id == "3.16").unwrap();
        assert_eq!(socket.detail, "666");
        assert_eq!(socket.object, "/run/berth/berth.sock");
        assert_eq!(f.iter().find(|f| f.id == "3.15").unwrap().detail, "0:0");
    }

    #[test]
    fn no_auditd_is_one_info_and_missing_files_are_skipped() {
        let fake = Fake {
            mounts: vec!["/".into()],
            ..Default::default()
        };
        let f = check(&fake, &paths());
        assert_eq!(levels(&f), [("1.1.1", Level::Warn), ("1.1.3", Level::Info)]);
    }
}
