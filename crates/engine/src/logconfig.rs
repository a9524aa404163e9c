//! A container's `LogConfig`: the daemon's default filled in at create (as
//! dockerd's `mergeAndVerifyLogConfig`), each driver's options checked with
//! dockerd's words, and the drivers the shim runs built from them at start.

use std::collections::{BTreeMap, HashMap};

use runtime::shim::{
    DeliveryMode, FileFormat, FileSpec, FluentdSpec, GelfCompression, GelfSpec, LogRotation,
    LogSpec, RemoteSpec, SyslogFormat, SyslogSpec, SyslogTransport, TlsFiles,
};
use serde::{Deserialize, Serialize};

use crate::model::{ContainerRecord, LogConfig};
use crate::{EngineError, Result};

/// Docker's non-blocking buffer when `max-buffer-size` is not given.
const DEFAULT_MAX_BUFFER: u64 = 1 << 20;
/// What `{{.DaemonName}}` says: tools parsing dockerd's tags expect it.
const DAEMON_NAME: &str = "docker";
/// Options every driver takes (dockerd's built-in and dual-logging ones).
const COMMON_OPTS: &[&str] = &[
    "mode",
    "max-buffer-size",
    "cache-disabled",
    "cache-max-size",
    "cache-max-file",
    "cache-compress",
];
/// The drivers that keep no copy `docker logs` can read, so get the cache.
const REMOTE: &[&str] = &["syslog", "gelf", "fluentd"];
/// Where dockerd keeps a container's log, in its directory, per driver.
const LOCAL_LOG: &str = "local-logs/container.log";
const CACHE_LOG: &str = "container-cached.log";
/// The local driver's defaults, which are also the cache's.
const LOCAL_MAX_SIZE: i64 = 20 << 20;
const LOCAL_MAX_FILES: u32 = 5;

/// The container's log file in its directory, as dockerd lays it out:
/// `<id>-json.log`, `local-logs/container.log`, or the cache beside a
/// remote driver, `container-cached.log`.
pub fn log_file(cfg: &LogConfig, id: &str) -> std::path::PathBuf {
    match cfg.r#type.as_str() {
        "" | "json-file" => format!("{id}-json.log").into(),
        "local" => LOCAL_LOG.into(),
        _ => CACHE_LOG.into(),
    }
}

/// Caches of containers created before the cache took the local format
/// are json-file ones at `<id>-json.log`: they stay so, for the shim that
/// writes them and for `docker logs`, until the container is recreated.
fn is_legacy_cache(log_path: &std::path::Path) -> bool {
    log_path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with("-json.log"))
}

/// Whether `driver` ships lines elsewhere (and counts what it sent and
/// dropped); local ones write the container's log file only.
pub fn is_remote(driver: &str) -> bool {
    REMOTE.contains(&driver)
}

/// The daemon's default log driver: `--log-driver`/`--log-opt`, or
/// daemon.json's `log-driver`/`log-opts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogDefaults {
    #[serde(rename = "log-driver", default = "default_driver")]
    pub driver: String,
    #[serde(rename = "log-opts", default)]
    pub opts: HashMap<String, String>,
}

fn default_driver() -> String {
    "json-file".into()
}

impl Default for LogDefaults {
    fn default() -> Self {
        Self {
            driver: default_driver(),
            opts: HashMap::new(),
        }
    }
}

impl LogDefaults {
    /// What dockerd checks of its own default at start-up.
    pub fn validate(&self) -> Result<()> {
        validate(&LogConfig {
            r#type: self.driver.clone(),
            config: Some(self.opts.clone()),
        })
    }
}

/// As dockerd: no type takes the default driver; the default's options fill
/// in what a container of the default driver did not set.
pub fn apply_defaults(cfg: &mut LogConfig, defaults: &LogDefaults) {
    if cfg.r#type.is_empty() {
        cfg.r#type = defaults.driver.clone();
    }
    let opts = cfg.config.get_or_insert_with(HashMap::new);
    if cfg.r#type == defaults.driver {
        for (k, v) in &defaults.opts {
            opts.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
}

fn invalid(msg: impl Into<String>) -> EngineError {
    EngineError::InvalidParameter(msg.into())
}

fn not_implemented(what: impl Into<String>) -> EngineError {
    EngineError::NotImplemented(what.into())
}

fn parse_bool(key: &str, v: &str) -> Result<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(invalid(format!(
            "error reading {key} log option: strconv.ParseBool: parsing {v:?}: invalid syntax"
        ))),
    }
}

fn size(key: &str, v: &str) -> Result<i64> {
    gounits::ram_in_bytes(v).map_err(|e| invalid(format!("invalid {key} {v:?}: {e}")))
}

/// Checks a driver and its options as dockerd does at create.
pub fn validate(cfg: &LogConfig) -> Result<()> {
    // Only before the defaults are filled in; they say json-file.
    let driver = match cfg.r#type.as_str() {
        "" => "json-file",
        d => d,
    };
    let empty = HashMap::new();
    let opts = cfg.config.as_ref().unwrap_or(&empty);
    if driver == "none" {
        return match opts.keys().next() {
            Some(key) => Err(invalid(format!(
                "unknown log opt '{key}' for none log driver"
            ))),
            None => Ok(()),
        };
    }
    delivery_mode(opts)?;
    cache(driver, opts)?;
    if let Some(tag) = opts.get("tag") {
        // Rendered at start, with the container's name then; its fields are
        // checked now, so a bad one is refused before anything is stored.
        let probe = TagInfo {
            id: "",
            name: "",
            image_name: "",
            image_id: "",
        };
        render_tag(tag, &probe)?;
    }
    if !DOCKER_LOG_DRIVERS.contains(&driver) {
        return Err(invalid(format!(
            "logger: no log driver named '{driver}' is registered"
        )));
    }
    let own: HashMap<&str, &str> = opts
        .iter()
        .filter(|(k, _)| !COMMON_OPTS.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if driver != "local" {
        // Compiled now so a bad one is refused before anything is stored
        // (dockerd finds out only when the container starts).
        for key in ["labels-regex", "env-regex"] {
            if let Some(re) = opts.get(key) {
                attr_regex(key, re)?;
            }
        }
    }
    match driver {
        "json-file" => json_file(&own).map(drop),
        "local" => local(&own).map(drop),
        "syslog" => syslog(&own).map(drop),
        "gelf" => gelf(&own).map(drop),
        "fluentd" => fluentd(&own).map(drop),
        other => Err(not_implemented(format!("the {other} log driver"))),
    }
}

/// `mode` and `max-buffer-size`, with dockerd's words.
fn delivery_mode(opts: &HashMap<String, String>) -> Result<DeliveryMode> {
    let mode = opts.get("mode").map_or("", String::as_str);
    if !matches!(mode, "" | "blocking" | "non-blocking") {
        return Err(invalid(format!(
            "logger: logger log mode not supported: {mode}"
        )));
    }
    let max_buffer = match opts.get("max-buffer-size") {
        Some(_) if mode != "non-blocking" => {
            return Err(invalid(
                "logger: max-buffer-size option is only supported with 'mode=non-blocking'",
            ));
        }
        Some(v) => u64::try_from(
            gounits::ram_in_bytes(v)
                .map_err(|e| invalid(format!("error parsing option max-buffer-size: {e}")))?,
        )
        .unwrap_or(0),
        None => DEFAULT_MAX_BUFFER,
    };
    Ok(match mode {
        "non-blocking" => DeliveryMode::NonBlocking { max_buffer },
        _ => DeliveryMode::Blocking,
    })
}

/// The dual-logging cache of a remote driver: `None` when there is none.
fn cache(driver: &str, opts: &HashMap<String, String>) -> Result<Option<FileSpec>> {
    let get = |k: &str| opts.get(k).map(String::as_str);
    let disabled = match get("cache-disabled") {
        Some(v) => parse_bool("cache-disabled", v).map_err(|_| {
            invalid(format!(
                "invalid value for option cache-disabled: strconv.ParseBool: parsing {v:?}: invalid syntax"
            ))
        })?,
        None => false,
    };
    // Docker's cache defaults are the local driver's: 20m x 5, compressed.
    let max_size = match get("cache-max-size") {
        Some(v) => size("cache-max-size", v)?,
        None => LOCAL_MAX_SIZE,
    };
    let max_files = match get("cache-max-file") {
        Some(v) => max_file(v)?,
        None => LOCAL_MAX_FILES,
    };
    let compress = match get("cache-compress") {
        Some(v) => parse_bool("cache-compress", v)?,
        None => true,
    };
    if disabled || !REMOTE.contains(&driver) {
        return Ok(None);
    }
    Ok(Some(FileSpec {
        rotation: (max_size > 0).then_some(LogRotation {
            max_size: max_size as u64,
            max_files,
        }),
        compress,
        attrs: BTreeMap::new(),
        format: FileFormat::Local,
    }))
}

fn max_file(v: &str) -> Result<u32> {
    let n: i64 = v
        .parse()
        .map_err(|_| invalid(format!("strconv.Atoi: parsing {v:?}: invalid syntax")))?;
    if n < 1 {
        return Err(invalid("max-file cannot be less than 1"));
    }
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// json-file's options (without the common ones): its file spec, less the
/// attributes, which need the container.
fn json_file(opts: &HashMap<&str, &str>) -> Result<FileSpec> {
    let mut max_size: i64 = -1;
    let mut max_files: u32 = 1;
    let mut compress = false;
    for (key, value) in opts {
        match *key {
            "max-size" => max_size = size("max-size", value)?,
            "max-file" => max_files = max_file(value)?,
            "compress" => compress = parse_bool("compress", value)?,
            "labels" | "env" | "tag" | "labels-regex" | "env-regex" => {}
            other => {
                return Err(invalid(format!(
                    "unknown log opt '{other}' for json-file log driver"
                )));
            }
        }
    }
    // As dockerd: without max-size the log is never rotated, whatever max-file says.
    Ok(FileSpec {
        rotation: (max_size > 0).then_some(LogRotation {
            max_size: max_size as u64,
            max_files,
        }),
        compress,
        attrs: BTreeMap::new(),
        format: FileFormat::JsonFile,
    })
}

/// The local driver's options, with its defaults (20 MB files, 5 of them,
/// rotated ones compressed) and dockerd's words for bad values.
fn local(opts: &HashMap<&str, &str>) -> Result<FileSpec> {
    let mut max_size = LOCAL_MAX_SIZE;
    let mut max_files: i64 = i64::from(LOCAL_MAX_FILES);
    let mut compress = true;
    for (key, value) in opts {
        match *key {
            "max-size" => {
                max_size = gounits::from_human_size(value)
                    .map_err(|e| invalid(format!("invalid value for max-size: {value}: {e}")))?
            }
            "max-file" => {
                max_files = value.parse().map_err(|_| {
                    invalid(format!(
                        "invalid value for max-file: {value}: strconv.Atoi: parsing {value:?}: invalid syntax"
                    ))
                })?
            }
            "compress" => {
                compress = parse_bool("compress", value).map_err(|_| {
                    invalid(format!(
                        "invalid boolean value for compress: strconv.ParseBool: parsing {value:?}: invalid syntax"
                    ))
                })?
            }
            other => {
                return Err(invalid(format!(
                    "unknown log opt '{other}' for log driver local"
                )));
            }
        }
    }
    if max_size < 0 {
        return Err(invalid("max-size must not be negative"));
    }
    if max_files < 0 {
        return Err(invalid("max-file must not be negative"));
    }
    if compress && max_files <= 1 {
        return Err(invalid(
            "compression cannot be enabled when max file count is 1",
        ));
    }
    Ok(FileSpec {
        rotation: (max_size > 0).then_some(LogRotation {
            max_size: max_size as u64,
            max_files: u32::try_from(max_files.max(1)).unwrap_or(u32::MAX),
        }),
        compress,
        attrs: BTreeMap::new(),
        format: FileFormat::Local,
    })
}

/// A `labels-regex`/`env-regex` value, in Go's RE2 syntax (which the
/// regex crate follows).
fn attr_regex(key: &str, re: &str) -> Result<regex::Regex> {
    regex::Regex::new(re)
        .map_err(|e| invalid(format!("error parsing regexp for {key} log option: {e}")))
}

const FACILITIES: &[&str] = &[
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
    "ftp", "", "", "", "", "local0", "local1", "local2", "local3", "local4", "local5", "local6",
    "local7",
];

/// syslog's options: address, facility and format, the tag still a template.
fn syslog(opts: &HashMap<&str, &str>) -> Result<SyslogSpec> {
    for key in opts.keys() {
        match *key {
            "syslog-address"
            | "syslog-facility"
            | "syslog-format"
            | "tag"
            | "labels"
            | "env"
            | "syslog-tls-ca-cert"
            | "syslog-tls-cert"
            | "syslog-tls-key"
            | "syslog-tls-skip-verify"
            | "labels-regex"
            | "env-regex" => {}
            other => {
                return Err(invalid(format!(
                    "unknown log opt '{other}' for syslog log driver"
                )));
            }
        }
    }
    let address = opts.get("syslog-address").copied().unwrap_or("");
    if let Some(("unix" | "unixgram", rest)) = address.split_once("://")
        && let Err(e) = std::fs::metadata(rest)
    {
        return Err(invalid(format!("stat {rest}: {}", go_io_error(&e))));
    }
    if SyslogTransport::parse(address).is_none() {
        let scheme = address.split_once("://").map_or("", |(s, _)| s);
        return Err(invalid(format!("unsupported scheme: '{scheme}'")));
    }
    let facility = match opts.get("syslog-facility").copied().unwrap_or("") {
        "" => 3, // daemon
        name => FACILITIES
            .iter()
            .position(|f| !f.is_empty() && *f == name)
            .or_else(|| name.parse::<usize>().ok().filter(|n| *n <= 23))
            .ok_or_else(|| invalid("invalid syslog facility"))? as u8,
    };
    let format = match opts.get("syslog-format").copied().unwrap_or("") {
        "" => SyslogFormat::Unix,
        "rfc3164" => SyslogFormat::Rfc3164,
        "rfc5424" => SyslogFormat::Rfc5424,
        "rfc5424micro" => SyslogFormat::Rfc5424Micro,
        _ => return Err(invalid("Invalid syslog format")),
    };
    // dockerd takes skip-verify's mere presence as yes; a value is read
    // here, so that `=false` does not turn verification off.
    let skip_verify = match opts.get("syslog-tls-skip-verify") {
        Some(v) => parse_bool("syslog-tls-skip-verify", v)?,
        None => false,
    };
    let file = |k: &str| opts.get(k).filter(|v| !v.is_empty()).map(|v| v.into());
    Ok(SyslogSpec {
        address: address.to_string(),
        facility,
        format,
        tag: opts.get("tag").copied().unwrap_or("{{.ID}}").to_string(),
        hostname: String::new(),
        tls: TlsFiles {
            ca_cert: file("syslog-tls-ca-cert"),
            cert: file("syslog-tls-cert"),
            key: file("syslog-tls-key"),
            skip_verify,
        },
    })
}

/// gelf's options: address and compression; the extras need the container.
fn gelf(opts: &HashMap<&str, &str>) -> Result<GelfSpec> {
    for key in opts.keys() {
        match *key {
            "gelf-address"
            | "gelf-compression-type"
            | "gelf-compression-level"
            | "gelf-tcp-max-reconnect"
            | "gelf-tcp-reconnect-delay"
            | "tag"
            | "labels"
            | "env"
            | "labels-regex"
            | "env-regex" => {}
            other => {
                return Err(invalid(format!(
                    "unknown log opt '{other}' for gelf log driver"
                )));
            }
        }
    }
    let address = opts.get("gelf-address").copied().unwrap_or("");
    if address.is_empty() {
        return Err(invalid("gelf-address is a required parameter"));
    }
    let (scheme, hostport) = address.split_once("://").unwrap_or(("", address));
    if !matches!(scheme, "udp" | "tcp") {
        return Err(invalid("gelf: endpoint needs to be TCP or UDP"));
    }
    let hostport = hostport.trim_end_matches('/');
    let has_port = match hostport.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok(),
        None => false,
    };
    if !has_port {
        return Err(invalid(
            "gelf: please provide gelf-address as proto://host:port",
        ));
    }
    let unknown = |key: &str, v: &str| {
        invalid(format!(
            "unknown value {v:?} for log opt {key:?} for gelf log driver"
        ))
    };
    let compression = match opts.get("gelf-compression-type").copied() {
        None | Some("gzip") => GelfCompression::Gzip,
        Some("zlib") => GelfCompression::Zlib,
        Some("none") => GelfCompression::None,
        Some(v) => return Err(unknown("gelf-compression-type", v)),
    };
    let level = match opts.get("gelf-compression-level").copied() {
        None => -1,
        Some(v) => v
            .parse::<i32>()
            .ok()
            .filter(|l| (-1..=9).contains(l))
            .ok_or_else(|| unknown("gelf-compression-level", v))?,
    };
    for key in ["gelf-tcp-max-reconnect", "gelf-tcp-reconnect-delay"] {
        if let Some(v) = opts.get(key) {
            if scheme != "tcp" {
                return Err(invalid(format!("{key} is only supported for TCP")));
            }
            if !v.parse::<i64>().is_ok_and(|n| n >= 0) {
                return Err(invalid(format!("{key} must be a positive integer")));
            }
        }
    }
    Ok(GelfSpec {
        address: address.to_string(),
        compression,
        level,
        hostname: String::new(),
        extra: BTreeMap::new(),
    })
}

/// fluentd's options: where, the tag still a template, and whether the
/// buffer is asynchronous (then its limit bounds the queue, lines beyond it
/// dropped, as fluent-logger's "buffer full").
fn fluentd(opts: &HashMap<&str, &str>) -> Result<(FluentdSpec, Option<u64>)> {
    for key in opts.keys() {
        match *key {
            "fluentd-address"
            | "fluentd-buffer-limit"
            | "fluentd-retry-wait"
            | "fluentd-max-retries"
            | "fluentd-sub-second-precision"
            | "fluentd-async"
            | "fluentd-async-connect"
            | "fluentd-write-timeout"
            | "tag"
            | "labels"
            | "env"
            | "labels-regex"
            | "env-regex" => {}
            "fluentd-request-ack" => {
                return Err(not_implemented(format!("the fluentd log option {key}")));
            }
            other => {
                return Err(invalid(format!(
                    "unknown log opt '{other}' for fluentd log driver"
                )));
            }
        }
    }
    let address = opts.get("fluentd-address").copied().unwrap_or("");
    let with_scheme = match address {
        "" => "tcp://localhost:24224".to_string(),
        a if a.contains("://") => a.to_string(),
        a => format!("tcp://{a}"),
    };
    let (scheme, rest) = with_scheme.split_once("://").unwrap_or(("", ""));
    let (address, unix) = match scheme {
        "unix" => {
            if rest.trim_start_matches('/').is_empty() {
                return Err(invalid("path is empty"));
            }
            (rest.to_string(), true)
        }
        "tcp" => {
            if rest.contains('/') {
                return Err(invalid("should not contain a path element"));
            }
            let (host, port) = match rest.rsplit_once(':') {
                Some((h, p)) if !h.ends_with(']') || rest.starts_with('[') => (h, p),
                _ => (rest, ""),
            };
            let host = if host.is_empty() { "localhost" } else { host };
            let port = match port {
                "" => 24224,
                p => p.parse::<u16>().map_err(|_| {
                    invalid(format!(
                        "invalid port: strconv.ParseUint: parsing {p:?}: invalid syntax"
                    ))
                })?,
            };
            (format!("{host}:{port}"), false)
        }
        "tls" => return Err(not_implemented("fluentd over tls")),
        other => return Err(invalid(format!("unsupported scheme: '{other}'"))),
    };
    let flag = |k: &str| -> Result<bool> { opts.get(k).map_or(Ok(false), |v| parse_bool(k, v)) };
    let sub_second = flag("fluentd-sub-second-precision")?;
    let is_async = flag("fluentd-async")? || flag("fluentd-async-connect")?;
    let limit = match opts.get("fluentd-buffer-limit") {
        Some(v) => u64::try_from(size("fluentd-buffer-limit", v)?).unwrap_or(0),
        None => DEFAULT_MAX_BUFFER,
    };
    for key in ["fluentd-max-retries"] {
        if let Some(v) = opts.get(key)
            && v.parse::<u64>().is_err()
        {
            return Err(invalid(format!(
                "strconv.ParseUint: parsing {v:?}: invalid syntax"
            )));
        }
    }
    Ok((
        FluentdSpec {
            address,
            unix,
            tag: opts.get("tag").copied().unwrap_or("{{.ID}}").to_string(),
            sub_second,
            record: BTreeMap::new(),
        },
        is_async.then_some(limit),
    ))
}

/// Go's words for the usual stat failures.
fn go_io_error(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// What a container's log tag and attributes are made of.
pub struct TagInfo<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub image_name: &'a str,
    pub image_id: &'a str,
}

impl<'a> TagInfo<'a> {
    pub fn of(record: &'a ContainerRecord) -> Self {
        Self {
            id: &record.id,
            name: record.name.trim_start_matches('/'),
            image_name: &record.image_name,
            image_id: &record.image_id,
        }
    }
}

/// Renders a `tag` template as dockerd's `ParseLogTag`: the fields of its
/// `logger.Info` that make sense here; anything else is refused by name.
pub fn render_tag(template: &str, info: &TagInfo<'_>) -> Result<String> {
    let short = |id: &str| {
        let id = id.strip_prefix("sha256:").unwrap_or(id);
        id.chars().take(12).collect::<String>()
    };
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let close = after.find("}}").ok_or_else(|| {
            invalid(format!(
                "template: log-tag:1: unclosed action in {template:?}"
            ))
        })?;
        let field = after[..close].trim();
        let value = match field {
            ".ID" | ".ContainerID" => short(info.id),
            ".FullID" => info.id.to_string(),
            ".Name" | ".ContainerName" => info.name.to_string(),
            ".ImageName" | ".ContainerImageName" => info.image_name.to_string(),
            ".ImageID" => short(info.image_id),
            ".ImageFullID" | ".ContainerImageID" => info.image_id.to_string(),
            ".DaemonName" => DAEMON_NAME.to_string(),
            ".Hostname" => hostname(),
            other => {
                return Err(invalid(format!(
                    "template: log-tag: can't evaluate {other:?} (berth knows .ID, .FullID, .Name, .ImageName, .ImageID, .ImageFullID, .DaemonName, .Hostname)"
                )));
            }
        };
        out.push_str(&value);
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default()
}

/// json-file's `labels`/`env` (the named ones the container has), those
/// `labels-regex`/`env-regex` match (anywhere in the name, as Go's
/// MatchString) and the rendered `tag`, written on every line as dockerd's
/// `attrs`.
fn attrs(
    opts: &HashMap<String, String>,
    record: &ContainerRecord,
    info: &TagInfo<'_>,
) -> Result<BTreeMap<String, String>> {
    let mut attrs = BTreeMap::new();
    let list = |k: &str| {
        opts.get(k)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    let labels = record.config.labels.clone().unwrap_or_default();
    for key in list("labels") {
        if let Some(v) = labels.get(key) {
            attrs.insert(key.to_string(), v.clone());
        }
    }
    if let Some(re) = opts.get("labels-regex").filter(|r| !r.is_empty()) {
        let re = attr_regex("labels-regex", re)?;
        for (k, v) in labels.iter().filter(|(k, _)| re.is_match(k)) {
            attrs.insert(k.clone(), v.clone());
        }
    }
    let env = record.config.env.clone().unwrap_or_default();
    for key in list("env") {
        if let Some(v) = env
            .iter()
            .find_map(|e| e.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        {
            attrs.insert(key.to_string(), v.to_string());
        }
    }
    if let Some(re) = opts.get("env-regex").filter(|r| !r.is_empty()) {
        let re = attr_regex("env-regex", re)?;
        // As dockerd's: variables without '=' are not attributes.
        for (k, v) in env.iter().filter_map(|e| e.split_once('=')) {
            if re.is_match(k) {
                attrs.insert(k.to_string(), v.to_string());
            }
        }
    }
    if let Some(tag) = opts.get("tag") {
        attrs.insert("tag".into(), render_tag(tag, info)?);
    }
    Ok(attrs)
}

/// gelf's `_` fields: the container's, as dockerd sends them, then the
/// `labels`/`env` attributes.
fn gelf_extra(
    opts: &HashMap<String, String>,
    record: &ContainerRecord,
    info: &TagInfo<'_>,
) -> Result<BTreeMap<String, String>> {
    let tag = render_tag(opts.get("tag").map_or("{{.ID}}", String::as_str), info)?;
    let mut without_tag = opts.clone();
    without_tag.remove("tag");
    let mut extra: BTreeMap<String, String> = attrs(&without_tag, record, info)?
        .into_iter()
        .map(|(k, v)| match k.starts_with('_') {
            true => (k, v),
            false => (format!("_{k}"), v),
        })
        .collect();
    let command = std::iter::once(record.path.as_str())
        .chain(record.args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    for (k, v) in [
        ("_container_id", record.id.clone()),
        ("_container_name", info.name.to_string()),
        ("_image_id", record.image_id.clone()),
        ("_image_name", record.image_name.clone()),
        ("_command", command),
        ("_tag", tag),
        (
            "_created",
            record
                .created
                .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        ),
    ] {
        extra.insert(k.to_string(), v);
    }
    Ok(extra)
}

/// The drivers the shim runs for `record` (its LogConfig was checked at create).
pub fn shim_spec(record: &ContainerRecord) -> Result<LogSpec> {
    let cfg = &record.host_config.log_config;
    let empty = HashMap::new();
    let opts = cfg.config.as_ref().unwrap_or(&empty);
    let own: HashMap<&str, &str> = opts
        .iter()
        .filter(|(k, _)| !COMMON_OPTS.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let info = TagInfo::of(record);
    let mode = delivery_mode(opts)?;
    let legacy = is_legacy_cache(&record.log_path);
    let cache = |driver: &str| -> Result<Option<FileSpec>> {
        Ok(cache(driver, opts)?.map(|mut f| {
            if legacy {
                f.format = FileFormat::JsonFile;
            }
            f
        }))
    };
    Ok(match cfg.r#type.as_str() {
        "none" => LogSpec::default(),
        "" | "json-file" => {
            let mut file = json_file(&own)?;
            file.attrs = attrs(opts, record, &info)?;
            LogSpec {
                file: Some(file),
                remote: None,
                mode,
            }
        }
        "local" => LogSpec {
            file: Some(local(&own)?),
            remote: None,
            mode,
        },
        "syslog" => {
            let mut s = syslog(&own)?;
            s.tag = render_tag(&s.tag, &info)?;
            s.hostname = hostname();
            LogSpec {
                file: cache("syslog")?,
                remote: Some(RemoteSpec::Syslog(s)),
                mode,
            }
        }
        "gelf" => {
            let mut g = gelf(&own)?;
            g.extra = gelf_extra(opts, record, &info)?;
            g.hostname = hostname();
            LogSpec {
                file: cache("gelf")?,
                remote: Some(RemoteSpec::Gelf(g)),
                mode,
            }
        }
        "fluentd" => {
            let (mut f, async_limit) = fluentd(&own)?;
            f.tag = render_tag(&f.tag, &info)?;
            let mut without_tag = opts.clone();
            without_tag.remove("tag");
            f.record = attrs(&without_tag, record, &info)?;
            f.record.insert("container_id".into(), record.id.clone());
            // dockerd's ContainerName: with its leading slash.
            f.record
                .insert("container_name".into(), format!("/{}", info.name));
            let mode = match (async_limit, opts.contains_key("mode")) {
                (Some(max_buffer), false) => DeliveryMode::NonBlocking { max_buffer },
                _ => mode,
            };
            LogSpec {
                file: cache("fluentd")?,
                remote: Some(RemoteSpec::Fluentd(f)),
                mode,
            }
        }
        other => return Err(not_implemented(format!("the {other} log driver"))),
    })
}

/// What dockerd finds when it opens the container's log driver at start
/// and berth's shim would find only at its first line: for syslog over
/// tcp+tls, a server that cannot be reached or whose certificate is not
/// trusted (or that refuses ours) fails the start, in dockerd's words.
pub async fn probe(record: &ContainerRecord) -> Result<()> {
    let Some(RemoteSpec::Syslog(spec)) = shim_spec(record)?.remote else {
        return Ok(());
    };
    if !spec.address.starts_with("tcp+tls://") {
        return Ok(());
    }
    tokio::task::spawn_blocking(move || runtime::shim::probe_syslog(&spec))
        .await
        .map_err(|e| EngineError::Internal(e.to_string()))?
        .map_err(|e| EngineError::Internal(format!("failed to initialize logging driver: {e}")))
}

/// The files `docker logs` reads for a container of `cfg` whose log is at
/// `log_path`; `None` when nothing local is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalFiles {
    /// How many rotated files there may be beside the live one.
    pub rotated: u32,
    /// Whether the rotated ones are gzip'd.
    pub gz: bool,
    pub format: FileFormat,
}

pub fn local_files(cfg: &LogConfig, log_path: &std::path::Path) -> Option<LocalFiles> {
    let empty = HashMap::new();
    let opts = cfg.config.as_ref().unwrap_or(&empty);
    let file = match cfg.r#type.as_str() {
        "" | "json-file" => {
            let own: HashMap<&str, &str> = opts
                .iter()
                .filter(|(k, _)| !COMMON_OPTS.contains(&k.as_str()))
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            json_file(&own).ok()?
        }
        "local" => {
            let own: HashMap<&str, &str> = opts
                .iter()
                .filter(|(k, _)| !COMMON_OPTS.contains(&k.as_str()))
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            local(&own).ok()?
        }
        driver => {
            let mut f = cache(driver, opts).ok()??;
            if is_legacy_cache(log_path) {
                f.format = FileFormat::JsonFile;
            }
            f
        }
    };
    Some(LocalFiles {
        rotated: file.rotation.map_or(0, |r| r.max_files.saturating_sub(1)),
        gz: file.compress,
        format: file.format,
    })
}

/// The drivers dockerd knows by name (an unknown one is a client error).
const DOCKER_LOG_DRIVERS: &[&str] = &[
    "json-file",
    "none",
    "local",
    "syslog",
    "journald",
    "gelf",
    "fluentd",
    "awslogs",
    "splunk",
    "etwlogs",
    "gcplogs",
    "logentries",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(driver: &str, opts: &[(&str, &str)]) -> LogConfig {
        LogConfig {
            r#type: driver.into(),
            config: Some(
                opts.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
        }
    }

    fn err(c: LogConfig) -> String {
        validate(&c).unwrap_err().to_string()
    }

    #[test]
    fn defaults_fill_in_as_dockerd_does() {
        let defaults = LogDefaults {
            driver: "syslog".into(),
            opts: [("tag".to_string(), "x".to_string())].into(),
        };
        let mut c = cfg("", &[]);
        apply_defaults(&mut c, &defaults);
        assert_eq!(c.r#type, "syslog");
        assert_eq!(c.config.as_ref().unwrap()["tag"], "x");
        // Another driver keeps only its own options.
        let mut c = cfg("json-file", &[("max-size", "1m")]);
        apply_defaults(&mut c, &defaults);
        assert_eq!(c.config.as_ref().unwrap().len(), 1);
        // The container's own option wins over the default's.
        let mut c = cfg("syslog", &[("tag", "mine")]);
        apply_defaults(&mut c, &defaults);
        assert_eq!(c.config.as_ref().unwrap()["tag"], "mine");
        let parsed: LogDefaults =
            serde_json::from_str(r#"{"log-driver":"none","log-opts":{}}"#).unwrap();
        assert_eq!(parsed.driver, "none");
    }

    #[test]
    fn options_are_refused_with_dockerds_words() {
        assert!(err(cfg("asdf", &[])).contains("no log driver named 'asdf' is registered"));
        assert!(
            err(cfg("syslog", &[("bogus", "1")]))
                .contains("unknown log opt 'bogus' for syslog log driver")
        );
        assert!(
            err(cfg("syslog", &[("syslog-address", "http://x")]))
                .contains("unsupported scheme: 'http'")
        );
        assert!(
            err(cfg(
                "syslog",
                &[("syslog-address", "unix:///nonexistent/s")]
            ))
            .contains("stat /nonexistent/s: no such file or directory")
        );
        assert!(
            err(cfg("syslog", &[("syslog-facility", "nope")])).contains("invalid syslog facility")
        );
        assert!(err(cfg("syslog", &[("syslog-format", "x")])).contains("Invalid syslog format"));
        assert!(
            err(cfg("json-file", &[("mode", "fast")]))
                .contains("logger log mode not supported: fast")
        );
        assert!(
            err(cfg("json-file", &[("max-buffer-size", "1m")]))
                .contains("only supported with 'mode=non-blocking'")
        );
        assert!(err(cfg("json-file", &[("compress", "maybe")])).contains("ParseBool"));
        assert!(
            err(cfg("none", &[("max-size", "1m")]))
                .contains("unknown log opt 'max-size' for none log driver")
        );
        assert!(err(cfg("splunk", &[])).contains("not implemented"));
        assert_eq!(
            err(cfg("local", &[("tag", "x")])),
            "unknown log opt 'tag' for log driver local"
        );
        assert!(
            err(cfg("local", &[("max-file", "1")]))
                .contains("compression cannot be enabled when max file count is 1")
        );
        assert!(err(cfg("local", &[("max-size", "lots")])).contains("invalid value for max-size"));
        validate(&cfg(
            "local",
            &[("max-file", "1"), ("compress", "false"), ("max-size", "1k")],
        ))
        .unwrap();
        assert!(err(cfg("json-file", &[("labels-regex", "(")])).contains("error parsing regexp"));
        validate(&cfg(
            "gelf",
            &[("gelf-address", "udp://a:1"), ("env-regex", "^A")],
        ))
        .unwrap();
        assert!(
            err(cfg(
                "syslog",
                &[
                    ("syslog-address", "tcp+tls://127.0.0.1:6514"),
                    ("syslog-tls-skip-verify", "maybe")
                ]
            ))
            .contains("ParseBool")
        );
        assert!(
            err(cfg("fluentd", &[("fluentd-address", "udp://x:1")]))
                .contains("unsupported scheme: 'udp'")
        );
        assert!(
            err(cfg("fluentd", &[("fluentd-bogus", "1")]))
                .contains("unknown log opt 'fluentd-bogus' for fluentd log driver")
        );
        validate(&cfg("fluentd", &[("fluentd-address", "127.0.0.1:24224")])).unwrap();
        assert!(err(cfg("gelf", &[])).contains("gelf-address is a required parameter"));
        assert!(
            err(cfg("gelf", &[("gelf-address", "http://a:1")]))
                .contains("endpoint needs to be TCP or UDP")
        );
        assert!(
            err(cfg("gelf", &[("gelf-address", "udp://a")]))
                .contains("please provide gelf-address as proto://host:port")
        );
        assert!(
            err(cfg(
                "gelf",
                &[
                    ("gelf-address", "udp://a:1"),
                    ("gelf-compression-type", "lz4")
                ]
            ))
            .contains("gelf-compression-type")
        );
        for ok in [
            cfg(
                "syslog",
                &[
                    ("syslog-facility", "local3"),
                    ("syslog-format", "rfc5424micro"),
                ],
            ),
            cfg(
                "syslog",
                &[
                    ("syslog-address", "udp://127.0.0.1"),
                    ("cache-disabled", "true"),
                ],
            ),
            cfg(
                "json-file",
                &[
                    ("compress", "true"),
                    ("max-size", "1k"),
                    ("tag", "{{.Name}}"),
                ],
            ),
            cfg(
                "json-file",
                &[("mode", "non-blocking"), ("max-buffer-size", "4m")],
            ),
        ] {
            validate(&ok).unwrap();
        }
    }

    fn record(driver: &str, opts: serde_json::Value, log_path: &str) -> ContainerRecord {
        serde_json::from_value(serde_json::json!({
            "id": "0123456789abcdef", "name": "web", "created": "2026-01-01T00:00:00Z",
            "config": {"Image": "x", "Env": ["APP_A=1", "APP_B=2", "OTHER=3", "NOEQ"],
                       "Labels": {"com.x.a": "1", "com.y": "2"}},
            "host_config": {"LogConfig": {"Type": driver, "Config": opts}},
            "image_name": "x", "image_id": "x", "path": "x", "args": [],
            "log_path": log_path, "hostname_path": "/x", "hosts_path": "/x", "resolv_conf_path": "/x"
        }))
        .unwrap()
    }

    #[test]
    fn caches_are_local_format_but_older_json_ones_stay_json() {
        let opts = serde_json::json!({"syslog-address": "udp://127.0.0.1:514"});
        let dir = "/d/containers/0123456789abcdef";
        let new = record(
            "syslog",
            opts.clone(),
            &format!("{dir}/container-cached.log"),
        );
        assert_eq!(
            log_file(&new.host_config.log_config, &new.id),
            std::path::PathBuf::from("container-cached.log")
        );
        let spec = shim_spec(&new).unwrap();
        assert_eq!(spec.file.unwrap().format, FileFormat::Local);
        let files = local_files(&new.host_config.log_config, &new.log_path).unwrap();
        assert_eq!(
            (files.rotated, files.gz, files.format),
            (4, true, FileFormat::Local)
        );
        // Created before the local cache: its json cache is written and read as before.
        let old = record("syslog", opts, &format!("{dir}/0123456789abcdef-json.log"));
        assert_eq!(
            shim_spec(&old).unwrap().file.unwrap().format,
            FileFormat::JsonFile
        );
        let files = local_files(&old.host_config.log_config, &old.log_path).unwrap();
        assert_eq!(files.format, FileFormat::JsonFile);
        // The local driver's own file and defaults.
        let local = record(
            "local",
            serde_json::json!({}),
            &format!("{dir}/local-logs/container.log"),
        );
        assert_eq!(
            log_file(&local.host_config.log_config, &local.id),
            std::path::PathBuf::from("local-logs/container.log")
        );
        let file = shim_spec(&local).unwrap().file.unwrap();
        assert_eq!(file.format, FileFormat::Local);
        assert!(file.compress);
        assert_eq!(
            file.rotation,
            Some(LogRotation {
                max_size: 20 << 20,
                max_files: 5
            })
        );
    }

    #[test]
    fn regex_options_add_the_labels_and_env_they_match() {
        let r = record(
            "json-file",
            serde_json::json!({"labels-regex": "^com\\.x\\.", "env-regex": "APP_", "env": "OTHER"}),
            "/x/0123456789abcdef-json.log",
        );
        let attrs = shim_spec(&r).unwrap().file.unwrap().attrs;
        let want: BTreeMap<String, String> = [
            ("com.x.a", "1"),
            ("APP_A", "1"),
            ("APP_B", "2"),
            ("OTHER", "3"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(attrs, want);
    }

    #[test]
    fn tags_render_dockerds_fields() {
        let info = TagInfo {
            id: "0123456789abcdef0123",
            name: "web",
            image_name: "busybox:latest",
            image_id: "sha256:fedcba9876543210",
        };
        assert_eq!(
            render_tag(
                "{{.DaemonName}}/{{.Name}}/{{ .ID }}/{{.ImageName}}/{{.ImageID}}",
                &info
            )
            .unwrap(),
            "docker/web/0123456789ab/busybox:latest/fedcba987654"
        );
        assert_eq!(render_tag("{{.FullID}}", &info).unwrap(), info.id);
        assert!(render_tag("{{.Nope}}", &info).is_err());
        assert!(render_tag("{{.ID", &info).is_err());
    }
}
