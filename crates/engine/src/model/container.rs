//! Docker-shaped container configuration as the Engine API carries it, and
//! the container's persisted definition.
//!
//! Fields the engine acts on are typed (so a wrong type is a 400); everything else
//! is kept verbatim in `extra` and echoed back by inspect, as dockerd does.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::json::{is_none_or_empty, null_as_default, str_slice};
use super::mounts::MountPoint;
use super::network::EndpointConfig;

/// `Config` of `POST /containers/create` and of inspect, fields in the order
/// dockerd writes them (clients that echo the JSON show that order).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    #[serde(default, deserialize_with = "null_as_default")]
    pub hostname: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub domainname: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub user: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub attach_stdin: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub attach_stdout: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub attach_stderr: bool,
    #[serde(default, skip_serializing_if = "is_none_or_empty")]
    pub exposed_ports: Option<BTreeMap<String, Value>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub tty: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub open_stdin: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub stdin_once: bool,
    #[serde(default)]
    pub env: Option<Vec<String>>,
    #[serde(default, deserialize_with = "str_slice")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<image::HealthConfig>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub image: String,
    #[serde(default)]
    pub volumes: Option<BTreeMap<String, Value>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub working_dir: String,
    #[serde(default, deserialize_with = "str_slice")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default)]
    pub on_build: Option<Vec<String>>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct RestartPolicy {
    #[serde(default, deserialize_with = "null_as_default")]
    pub name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub maximum_retry_count: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogConfig {
    #[serde(default, deserialize_with = "null_as_default")]
    pub r#type: String,
    #[serde(default)]
    pub config: Option<HashMap<String, String>>,
}

/// `HostConfig` of `POST /containers/create` and of inspect.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostConfig {
    #[serde(default)]
    pub binds: Option<Vec<String>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub network_mode: String,
    #[serde(default)]
    pub port_bindings: Option<BTreeMap<String, Value>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub restart_policy: RestartPolicy,
    #[serde(default, deserialize_with = "null_as_default")]
    pub auto_remove: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub log_config: LogConfig,
    #[serde(default)]
    pub cap_add: Option<Vec<String>>,
    #[serde(default)]
    pub cap_drop: Option<Vec<String>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub privileged: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub readonly_rootfs: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub publish_all_ports: bool,
    #[serde(default)]
    pub mounts: Option<Vec<Value>>,
    #[serde(default)]
    pub tmpfs: Option<HashMap<String, String>>,
    #[serde(default)]
    pub dns: Option<Vec<String>>,
    #[serde(default)]
    pub dns_search: Option<Vec<String>>,
    #[serde(default)]
    pub dns_options: Option<Vec<String>>,
    #[serde(default)]
    pub extra_hosts: Option<Vec<String>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub memory: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub nano_cpus: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub cpu_shares: i64,
    #[serde(default)]
    pub pids_limit: Option<i64>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub memory_swap: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub memory_reservation: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub cpu_quota: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub cpu_period: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub cpuset_cpus: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub cpuset_mems: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub blkio_weight: u16,
    #[serde(default)]
    pub ulimits: Option<Vec<UlimitSpec>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub shm_size: i64,
    #[serde(default)]
    pub oom_kill_disable: Option<bool>,
    #[serde(default)]
    pub security_opt: Option<Vec<String>>,
    #[serde(default)]
    pub sysctls: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub devices: Option<Vec<DeviceMapping>>,
    #[serde(default)]
    pub group_add: Option<Vec<String>>,
    #[serde(default)]
    pub init: Option<bool>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub oom_score_adj: i64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub pid_mode: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub ipc_mode: String,
    #[serde(default, rename = "UTSMode", deserialize_with = "null_as_default")]
    pub uts_mode: String,
    /// "" (remapped when the daemon remaps) or "host" (`--userns=host`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub userns_mode: String,
    /// -1 (the docker CLI's "unset") or 0..=100.
    #[serde(default)]
    pub memory_swappiness: Option<i64>,
    #[serde(default)]
    pub device_cgroup_rules: Option<Vec<String>>,
    /// `--volume-driver`: "local" (or empty) is the only one.
    #[serde(default, deserialize_with = "null_as_default")]
    pub volume_driver: String,
    /// `--link`s, stored as dockerd shows them ("/child:/me/alias").
    #[serde(default)]
    pub links: Option<Vec<String>>,
    /// `--volumes-from CONTAINER[:ro|:rw]`.
    #[serde(default)]
    pub volumes_from: Option<Vec<String>>,
    /// `--runtime`: a name the daemon knows; create fills in the default, as
    /// dockerd does. Empty in records from before runtimes: the built-in one.
    #[serde(default, deserialize_with = "null_as_default")]
    pub runtime: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct UlimitSpec {
    pub name: String,
    // Docker's field order (Name, Hard, Soft): inspect output is compared verbatim.
    pub hard: i64,
    pub soft: i64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct DeviceMapping {
    pub path_on_host: String,
    #[serde(default)]
    pub path_in_container: String,
    #[serde(default)]
    pub cgroup_permissions: String,
}

/// The body of `POST /containers/create`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CreateRequest {
    #[serde(flatten)]
    pub config: Config,
    #[serde(rename = "HostConfig", default, deserialize_with = "null_as_default")]
    pub host_config: HostConfig,
    #[serde(rename = "NetworkingConfig", default, skip_serializing)]
    pub networking_config: Option<Value>,
}

/// The body of `POST /containers/{id}/exec`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExecCreateRequest {
    #[serde(default, deserialize_with = "null_as_default")]
    pub attach_stdin: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub attach_stdout: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub attach_stderr: bool,
    #[serde(default, deserialize_with = "null_as_default")]
    pub tty: bool,
    #[serde(default)]
    pub env: Option<Vec<String>>,
    #[serde(default, deserialize_with = "str_slice")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub working_dir: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub user: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub privileged: bool,
    /// Go decodes JSON keys without regard to case; docker-py sends `detachKeys`.
    #[serde(default, alias = "detachKeys", skip_serializing_if = "Option::is_none")]
    pub detach_keys: Option<String>,
}

/// Persisted definition of a container (`containers/<id>/config.json`): what create
/// received, merged with the image's defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    /// Without the leading '/'.
    pub name: String,
    pub created: chrono::DateTime<chrono::Utc>,
    /// The image as the user named it.
    pub image_name: String,
    pub image_id: String,
    /// Entrypoint + Cmd split as Docker reports them.
    pub path: String,
    pub args: Vec<String>,
    pub config: Config,
    pub host_config: HostConfig,
    pub log_path: std::path::PathBuf,
    #[serde(default)]
    pub mounts: Vec<MountPoint>,
    pub hostname_path: std::path::PathBuf,
    pub hosts_path: std::path::PathBuf,
    pub resolv_conf_path: std::path::PathBuf,
    /// The networks the container joins when it starts, by network name.
    #[serde(default)]
    pub networks: std::collections::BTreeMap<String, EndpointConfig>,
    /// Secrets and configs of a swarm task, bind-mounted read-only at start.
    /// Where they are and whose they are; their data is never persisted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub injected_files: Vec<InjectedFileRecord>,
}

/// One secret or config file of a container: the file `file` of the
/// container's files tmpfs (see `Engine::create_container_with_files`),
/// seen at `target` with this owner and mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InjectedFileRecord {
    /// Absolute path in the container.
    pub target: String,
    /// The file's name in the tmpfs: chosen by the engine, never derived
    /// from `target`, so that no target can lead outside it.
    pub file: String,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_detach_keys_in_either_case() {
        for body in [
            r#"{"Cmd":["cat"],"DetachKeys":"ctrl-p"}"#,
            r#"{"Cmd":["cat"],"detachKeys":"ctrl-p"}"#,
        ] {
            let req: ExecCreateRequest = serde_json::from_str(body).unwrap();
            assert_eq!(req.detach_keys.as_deref(), Some("ctrl-p"), "{body}");
        }
    }
}
