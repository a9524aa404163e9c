//! Security settings of a container beyond Docker's defaults.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityOptions {
    /// All capabilities, no seccomp, no masked or read-only paths, every host
    /// device, writable /sys and cgroup mounts.
    pub privileged: bool,
    pub no_new_privileges: bool,
    pub seccomp: Seccomp,
    /// Namespaced sysctls only (net.*, kernel.shm*/msg*/sem, fs.mqueue.*).
    pub sysctls: BTreeMap<String, String>,
    pub devices: Vec<Device>,
    /// Extra supplementary groups, already resolved to numbers.
    pub group_add: Vec<u32>,
    /// `--device-cgroup-rule`s ("c 1:3 rwm"), validated by
    /// [`crate::spec::parse_device_cgroup_rule`].
    #[serde(default)]
    pub device_cgroup_rules: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Seccomp {
    /// berth's built-in profile, modelled on Docker's.
    #[default]
    Default,
    Unconfined,
    /// A profile in Docker's JSON format (`--security-opt seccomp=file.json`).
    Profile(String),
}

/// A host device made available in the container (`--device`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub path_on_host: PathBuf,
    /// Empty: same as on the host.
    pub path_in_container: String,
    /// Any of "r", "w", "m"; empty means "rwm".
    pub permissions: String,
}
