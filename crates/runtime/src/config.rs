//! What the engine asks the runtime to run, before it becomes an OCI spec.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::limits::Limits;
use crate::security::SecurityOptions;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetworkMode {
    /// A new network namespace with only loopback.
    #[default]
    Private,
    /// The host's network namespace.
    Host,
    /// An existing network namespace, by path (e.g. /run/netns/x or /proc/<pid>/ns/net).
    Join(PathBuf),
}

/// Where a container's PID, IPC or UTS namespace comes from (`--pid`,
/// `--ipc`, `--uts`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum NamespaceMode {
    /// Its own.
    #[default]
    Private,
    /// The host's.
    Host,
    /// Another container's, by path (/proc/<pid>/ns/<kind>).
    Join(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    pub source: PathBuf,
    pub destination: String,
    /// "bind" or "tmpfs".
    pub kind: String,
    pub options: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerConfig {
    pub id: String,
    /// The mounted overlay directory.
    pub rootfs: PathBuf,
    pub readonly_rootfs: bool,
    /// Entrypoint + cmd; args[0] may be a bare name looked up in the env's PATH.
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub user: User,
    pub hostname: String,
    pub domainname: String,
    pub tty: bool,
    pub open_stdin: bool,
    pub network: NetworkMode,
    /// Extra mounts after the defaults (e.g. /etc/hosts, volumes).
    pub mounts: Vec<Mount>,
    /// e.g. "/berth/<id>".
    pub cgroup_path: String,
    pub annotations: HashMap<String, String>,
    /// Capabilities added to / dropped from Docker's default set ("NET_ADMIN" or
    /// "CAP_NET_ADMIN"; "ALL" is accepted in both).
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub limits: Limits,
    pub security: SecurityOptions,
    /// `--oom-score-adj`, -1000..=1000.
    #[serde(default)]
    pub oom_score_adj: i32,
    #[serde(default)]
    pub pid_ns: NamespaceMode,
    #[serde(default)]
    pub ipc_ns: NamespaceMode,
    /// Host: the host's name too, so the spec sets none.
    #[serde(default)]
    pub uts_ns: NamespaceMode,
    /// `--ipc none`: no /dev/shm at all.
    #[serde(default)]
    pub no_shm: bool,
    /// A remapped container joins this pinned user namespace (made by the
    /// daemon, see [`crate::userns`]); `None` runs it in the host's.
    #[serde(default)]
    pub userns: Option<Userns>,
}

/// The user namespace a remapped container joins, and its maps (written
/// into the spec too, for OCI runtimes that want them beside the path).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Userns {
    pub path: PathBuf,
    pub maps: crate::userns::IdMappings,
}
