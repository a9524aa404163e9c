//! `--pid`, `--ipc` and `--uts`: which namespaces a container shares, checked
//! at create and resolved to the runtime's terms at start.

use std::path::{Path, PathBuf};

use runtime::NamespaceMode;

use crate::model::{HostConfig, Status};
use crate::{Engine, EngineError, Result};

/// A parsed `PidMode`/`IpcMode`/`UTSMode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Mode {
    Private,
    /// IPC only: private, and other containers may join it.
    Shareable,
    /// IPC only: private, without /dev/shm.
    None,
    Host,
    Container(String),
}

fn parse(kind: &str, value: &str) -> Result<Mode> {
    let target = value.strip_prefix("container:").filter(|t| !t.is_empty());
    Ok(match (kind, value) {
        (_, "") | ("PID" | "IPC", "private") => Mode::Private,
        (_, "host") => Mode::Host,
        ("IPC", "shareable") => Mode::Shareable,
        ("IPC", "none") => Mode::None,
        ("PID" | "IPC", _) if target.is_some() => {
            Mode::Container(target.unwrap_or_default().into())
        }
        _ => {
            return Err(EngineError::InvalidParameter(format!(
                "invalid {kind} mode: {value}"
            )));
        }
    })
}

/// Create-time checks, with Docker's messages; fills dockerd's default
/// IPC mode ("private") so inspect shows it.
pub(crate) fn validate(hc: &mut HostConfig) -> Result<()> {
    parse("PID", &hc.pid_mode)?;
    parse("IPC", &hc.ipc_mode)?;
    parse("UTS", &hc.uts_mode)?;
    if hc.ipc_mode.is_empty() {
        hc.ipc_mode = "private".into();
    }
    Ok(())
}

/// What the runtime gets for one container's PID, IPC and UTS namespaces.
pub(crate) struct Resolved {
    pub pid: NamespaceMode,
    pub ipc: NamespaceMode,
    pub uts: NamespaceMode,
    /// For IPC shared with the host or a container, or offered to others:
    /// the /dev/shm to bind in.
    pub shm_source: Option<PathBuf>,
    pub no_shm: bool,
}

impl Engine {
    /// The init pid of the running container `target` whose `kind` namespace
    /// is to be joined.
    fn donor_pid(&self, kind: &str, target: &str) -> Result<(u32, HostConfig)> {
        let donor = self.container(target)?;
        let (status, pid, hc) = {
            let inner = donor.lock();
            (
                inner.state.status,
                inner.state.pid,
                inner.record.host_config.clone(),
            )
        };
        if !matches!(status, Status::Running | Status::Paused) || pid == 0 {
            return Err(EngineError::Conflict(format!(
                "cannot join {kind} of a non running container: {target}"
            )));
        }
        Ok((pid, hc))
    }

    /// The host-side /dev/shm of a shareable container: a tmpfs of its own
    /// under its state dir, so that joiners bind the same one (a path through
    /// /proc/PID/root would be resolved to the host's /dev/shm by the runtime).
    pub(crate) fn shareable_shm(state_dir: &Path) -> PathBuf {
        state_dir.join("shm")
    }

    pub(crate) fn resolve_namespaces(&self, state_dir: &Path, hc: &HostConfig) -> Result<Resolved> {
        let ns = |pid: u32, name: &str| PathBuf::from(format!("/proc/{pid}/ns/{name}"));
        let pid = match parse("PID", &hc.pid_mode)? {
            Mode::Host => NamespaceMode::Host,
            Mode::Container(t) => NamespaceMode::Join(ns(self.donor_pid("PID", &t)?.0, "pid")),
            _ => NamespaceMode::Private,
        };
        let (mut ipc, mut shm_source, mut no_shm) = (NamespaceMode::Private, None, false);
        match parse("IPC", &hc.ipc_mode)? {
            Mode::Host => {
                ipc = NamespaceMode::Host;
                shm_source = Some(PathBuf::from("/dev/shm"));
            }
            Mode::Container(t) => {
                let (donor, donor_hc) = self.donor_pid("IPC", &t)?;
                let donor_state = self.container(&t)?.state_dir.clone();
                if !matches!(donor_hc.ipc_mode.as_str(), "shareable" | "host") {
                    return Err(EngineError::Conflict(
                        "non-shareable IPC (hint: use IpcMode:shareable for the donor container)"
                            .into(),
                    ));
                }
                ipc = if donor_hc.ipc_mode == "host" {
                    NamespaceMode::Host
                } else {
                    NamespaceMode::Join(ns(donor, "ipc"))
                };
                shm_source = Some(if donor_hc.ipc_mode == "host" {
                    PathBuf::from("/dev/shm")
                } else {
                    Self::shareable_shm(&donor_state)
                });
            }
            Mode::None => no_shm = true,
            Mode::Shareable => {
                let dir = Self::shareable_shm(state_dir);
                mount_shm(&dir, hc.shm_size)?;
                shm_source = Some(dir);
            }
            Mode::Private => {}
        }
        let uts = match parse("UTS", &hc.uts_mode)? {
            Mode::Host => NamespaceMode::Host,
            _ => NamespaceMode::Private,
        };
        Ok(Resolved {
            pid,
            ipc,
            uts,
            shm_source,
            no_shm,
        })
    }
}

/// Mounts a fresh tmpfs for /dev/shm at `dir` (replacing one left from a
/// previous run), with Docker's options and `--shm-size`.
fn mount_shm(dir: &Path, size: i64) -> Result<()> {
    use nix::mount::{MntFlags, MsFlags, mount, umount2};
    std::fs::create_dir_all(dir).map_err(|e| EngineError::internal("creating the shm dir", e))?;
    let _ = umount2(dir, MntFlags::MNT_DETACH);
    let size = if size > 0 { size } else { 64 << 20 };
    mount(
        Some("shm"),
        dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some(format!("mode=1777,size={size}").as_str()),
    )
    .map_err(|e| EngineError::internal("mounting the shareable /dev/shm", std::io::Error::from(e)))
}

/// Undoes [`mount_shm`] when the container stops; containers that joined
/// keep their own view of it.
pub(crate) fn unmount_shm(state_dir: &Path) {
    let dir = Engine::shareable_shm(state_dir);
    if dir.exists() {
        let _ = nix::mount::umount2(&dir, nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_as_docker_takes_them() {
        assert_eq!(parse("PID", "").unwrap(), Mode::Private);
        assert_eq!(parse("PID", "host").unwrap(), Mode::Host);
        assert_eq!(
            parse("PID", "container:web").unwrap(),
            Mode::Container("web".into())
        );
        assert_eq!(parse("IPC", "shareable").unwrap(), Mode::Shareable);
        assert_eq!(parse("IPC", "none").unwrap(), Mode::None);
        assert_eq!(parse("IPC", "private").unwrap(), Mode::Private);
        assert_eq!(parse("UTS", "host").unwrap(), Mode::Host);
        for (kind, bad) in [
            ("PID", "bogus"),
            ("PID", "container:"),
            ("PID", "none"),
            ("IPC", "weird"),
            ("UTS", "container:x"),
            ("UTS", "private"),
        ] {
            assert!(parse(kind, bad).is_err(), "{kind} {bad}");
        }
        let mut hc = HostConfig::default();
        validate(&mut hc).unwrap();
        assert_eq!(hc.ipc_mode, "private");
    }
}
