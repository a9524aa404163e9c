//! The compose file as the docker CLI's schema (3.x) accepts it for
//! `docker stack deploy`: every mapping refuses keys it does not know, so a
//! typo is named instead of ignored.

use std::collections::BTreeMap;

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_yaml::Value;

/// A part of the file by its YAML shape (a mapping is the long syntax): a
/// mistake inside it is then named (`unknown field`), where serde's
/// untagged enums would only say that nothing matched.
fn part<T: DeserializeOwned, E: serde::de::Error>(v: Value) -> Result<T, E> {
    serde_yaml::from_value(v).map_err(E::custom)
}

macro_rules! by_shape {
    ($ty:ident, $what:literal, $($pat:pat => $variant:expr),+ $(,)?) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let v = Value::deserialize(d)?;
                match v {
                    $($pat => part(v).map($variant),)+
                    _ => Err(D::Error::custom(concat!("must be ", $what))),
                }
            }
        }
    };
}

by_shape!(StrOrList, "a string or a list of strings",
    Value::String(_) => StrOrList::Str, Value::Sequence(_) => StrOrList::List);
by_shape!(MapOrList, "a mapping or a list",
    Value::Mapping(_) => MapOrList::Map, Value::Sequence(_) => MapOrList::List);
by_shape!(Port, "a port (\"8080:80\") or a mapping",
    Value::Mapping(_) => Port::Long, Value::String(_) | Value::Number(_) => Port::Short);
by_shape!(ServiceNetworks, "a list or a mapping of networks",
    Value::Sequence(_) => ServiceNetworks::List, Value::Mapping(_) => ServiceNetworks::Map);
by_shape!(ServiceVolume, "a string (\"data:/data\") or a mapping",
    Value::String(_) => ServiceVolume::Short, Value::Mapping(_) => ServiceVolume::Long);
by_shape!(External, "true, false or a mapping",
    Value::Bool(_) => External::Flag, Value::Mapping(_) => External::Named);
by_shape!(FileRef, "a name or a mapping",
    Value::String(_) => FileRef::Short, Value::Mapping(_) => FileRef::Long);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// "3.8" or 3.8: read, not enforced (the CLI warns on old ones only).
    #[serde(default, rename = "version")]
    pub _version: Option<Value>,
    #[serde(default)]
    pub services: BTreeMap<String, Service>,
    #[serde(default)]
    pub networks: BTreeMap<String, Option<Network>>,
    #[serde(default)]
    pub volumes: BTreeMap<String, Option<Volume>>,
    #[serde(default)]
    pub secrets: BTreeMap<String, FileObject>,
    #[serde(default)]
    pub configs: BTreeMap<String, FileObject>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub command: Option<StrOrList>,
    #[serde(default)]
    pub entrypoint: Option<StrOrList>,
    #[serde(default)]
    pub environment: Option<MapOrList>,
    #[serde(default)]
    pub labels: Option<MapOrList>,
    #[serde(default)]
    pub ports: Vec<Port>,
    #[serde(default)]
    pub networks: Option<ServiceNetworks>,
    #[serde(default)]
    pub deploy: Option<Deploy>,
    #[serde(default)]
    pub healthcheck: Option<Healthcheck>,
    #[serde(default)]
    pub volumes: Vec<ServiceVolume>,
    #[serde(default)]
    pub secrets: Vec<FileRef>,
    #[serde(default)]
    pub configs: Vec<FileRef>,
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub working_dir: Option<String>,
    #[serde(default)]
    pub stop_signal: Option<String>,
    #[serde(default)]
    pub stop_grace_period: Option<String>,
    #[serde(default)]
    pub tty: Option<bool>,
    #[serde(default)]
    pub stdin_open: Option<bool>,
    #[serde(default)]
    pub init: Option<bool>,
    #[serde(default)]
    pub read_only: Option<bool>,
    #[serde(default)]
    pub extra_hosts: Option<MapOrList>,
    /// A file beside the compose file: a browser has none.
    #[serde(default)]
    pub env_file: Option<Value>,
    // What `docker stack deploy` ignores, with a warning.
    #[serde(default)]
    pub build: Option<Value>,
    #[serde(default)]
    pub container_name: Option<Value>,
    #[serde(default)]
    pub depends_on: Option<Value>,
    #[serde(default)]
    pub restart: Option<Value>,
    #[serde(default)]
    pub links: Option<Value>,
    #[serde(default)]
    pub privileged: Option<Value>,
    #[serde(default)]
    pub devices: Option<Value>,
    #[serde(default)]
    pub network_mode: Option<Value>,
}

impl Service {
    /// The keys set that stacks do not use (the CLI's "Ignoring
    /// unsupported options").
    pub fn ignored(&self) -> Vec<&'static str> {
        [
            ("build", self.build.is_some()),
            ("container_name", self.container_name.is_some()),
            ("depends_on", self.depends_on.is_some()),
            ("devices", self.devices.is_some()),
            ("links", self.links.is_some()),
            ("network_mode", self.network_mode.is_some()),
            ("privileged", self.privileged.is_some()),
            ("restart", self.restart.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, set)| set.then_some(k))
        .collect()
    }
}

#[derive(Debug)]
pub enum StrOrList {
    Str(String),
    List(Vec<String>),
}

/// `KEY: value` pairs or `KEY=value` strings (environment, labels, hosts).
#[derive(Debug)]
pub enum MapOrList {
    Map(BTreeMap<String, Value>),
    List(Vec<String>),
}

#[derive(Debug)]
pub enum Port {
    Short(Scalar),
    Long(LongPort),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Num(u64),
    Str(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LongPort {
    pub target: u16,
    #[serde(default)]
    pub published: Option<Scalar>,
    #[serde(default)]
    pub protocol: Option<String>,
    #[serde(default)]
    pub mode: Option<String>,
}

#[derive(Debug)]
pub enum ServiceNetworks {
    List(Vec<String>),
    Map(BTreeMap<String, Option<ServiceNetwork>>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceNetwork {
    #[serde(default)]
    pub aliases: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deploy {
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub replicas: Option<u64>,
    #[serde(default)]
    pub labels: Option<MapOrList>,
    #[serde(default)]
    pub placement: Option<Placement>,
    #[serde(default)]
    pub resources: Option<Resources>,
    #[serde(default)]
    pub update_config: Option<UpdateConfig>,
    #[serde(default)]
    pub rollback_config: Option<UpdateConfig>,
    #[serde(default)]
    pub restart_policy: Option<RestartPolicy>,
    #[serde(default)]
    pub endpoint_mode: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    #[serde(default)]
    pub constraints: Vec<String>,
    #[serde(default)]
    pub preferences: Vec<Preference>,
    #[serde(default)]
    pub max_replicas_per_node: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preference {
    pub spread: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    #[serde(default)]
    pub limits: Option<Resource>,
    #[serde(default)]
    pub reservations: Option<Resource>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    /// "0.5" or 0.5.
    #[serde(default)]
    pub cpus: Option<Value>,
    /// "512M" or a number of bytes.
    #[serde(default)]
    pub memory: Option<Value>,
    #[serde(default)]
    pub pids: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateConfig {
    #[serde(default)]
    pub parallelism: Option<u64>,
    #[serde(default)]
    pub delay: Option<String>,
    #[serde(default)]
    pub failure_action: Option<String>,
    #[serde(default)]
    pub monitor: Option<String>,
    #[serde(default)]
    pub max_failure_ratio: Option<f64>,
    #[serde(default)]
    pub order: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestartPolicy {
    #[serde(default)]
    pub condition: Option<String>,
    #[serde(default)]
    pub delay: Option<String>,
    #[serde(default)]
    pub max_attempts: Option<u64>,
    #[serde(default)]
    pub window: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Healthcheck {
    #[serde(default)]
    pub test: Option<StrOrList>,
    #[serde(default)]
    pub interval: Option<String>,
    #[serde(default)]
    pub timeout: Option<String>,
    #[serde(default)]
    pub retries: Option<u64>,
    #[serde(default)]
    pub start_period: Option<String>,
    #[serde(default)]
    pub start_interval: Option<String>,
    #[serde(default)]
    pub disable: Option<bool>,
}

#[derive(Debug)]
pub enum ServiceVolume {
    Short(String),
    Long(LongVolume),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LongVolume {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub source: Option<String>,
    pub target: String,
    #[serde(default)]
    pub read_only: Option<bool>,
    #[serde(default)]
    pub volume: Option<VolumeOpts>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeOpts {
    #[serde(default)]
    pub nocopy: Option<bool>,
}

/// `external: true` or `external: {name: x}` (the older form).
#[derive(Debug)]
pub enum External {
    Flag(bool),
    Named(ExternalName),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalName {
    #[serde(default)]
    pub name: Option<String>,
}

impl External {
    pub fn is_external(&self) -> bool {
        !matches!(self, External::Flag(false))
    }
    pub fn name(&self) -> Option<&str> {
        match self {
            External::Named(n) => n.name.as_deref(),
            External::Flag(_) => None,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    #[serde(default)]
    pub driver: Option<String>,
    #[serde(default)]
    pub driver_opts: BTreeMap<String, String>,
    #[serde(default)]
    pub attachable: Option<bool>,
    #[serde(default)]
    pub internal: Option<bool>,
    #[serde(default)]
    pub external: Option<External>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub labels: Option<MapOrList>,
    #[serde(default)]
    pub ipam: Option<Ipam>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ipam {
    #[serde(default)]
    pub driver: Option<String>,
    #[serde(default)]
    pub config: Vec<IpamConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpamConfig {
    pub subnet: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    #[serde(default)]
    pub driver: Option<String>,
    #[serde(default)]
    pub driver_opts: BTreeMap<String, String>,
    #[serde(default)]
    pub external: Option<External>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub labels: Option<MapOrList>,
}

/// A top-level secret or config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileObject {
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub external: Option<External>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub labels: Option<MapOrList>,
}

/// A service's use of a secret or config: its name, or the long form.
#[derive(Debug)]
pub enum FileRef {
    Short(String),
    Long(LongFileRef),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LongFileRef {
    pub source: String,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub uid: Option<String>,
    #[serde(default)]
    pub gid: Option<String>,
    /// 0440 (YAML 1.1's octal, as the CLI reads it) or a number.
    #[serde(default)]
    pub mode: Option<Scalar>,
}
