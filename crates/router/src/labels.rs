//! A container's `berth.http.*` labels, checked: the route it asks for, or
//! which label is wrong and why (the container runs; its route is refused).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

pub const HOST: &str = "berth.http.host";
pub const PATH: &str = "berth.http.path";
pub const PORT: &str = "berth.http.port";
pub const BALANCE: &str = "berth.http.balance";
pub const TIMEOUT: &str = "berth.http.timeout";
pub const MAX_BODY: &str = "berth.http.max_body";
pub const RETRIES: &str = "berth.http.retries";
pub const MAX_FAILS: &str = "berth.http.max_fails";
pub const FAIL_TIMEOUT: &str = "berth.http.fail_timeout";
pub const SCHEME: &str = "berth.http.scheme";
pub const RETRY_BODY_LIMIT: &str = "berth.http.retry_body_limit";

/// How the router speaks to a route's backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    /// HTTP/1.1.
    Http,
    /// HTTP/2 with prior knowledge (cleartext): gRPC servers and the like.
    H2c,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Balance {
    RoundRobin,
    LeastRequests,
}

/// How a route treats its requests; the first container of a route (oldest)
/// decides when several disagree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteOptions {
    pub balance: Balance,
    /// Until the backend's response head arrives.
    #[serde(with = "millis")]
    pub timeout: Duration,
    /// Request bodies above it are answered 413; none: unlimited.
    pub max_body: Option<u64>,
    /// Other backends tried when a request got no response head (see
    /// `proxy::Outgoing::may_retry` for which ones).
    pub retries: u32,
    /// Consecutive failures that eject a backend.
    pub max_fails: u32,
    /// How long an ejected backend is skipped.
    #[serde(with = "millis")]
    pub fail_timeout: Duration,
    pub scheme: Scheme,
    /// How much of a request body is kept to send it again on another
    /// backend; a longer body is not retried once a backend read any of it.
    pub retry_body_limit: u64,
}

impl Default for RouteOptions {
    fn default() -> Self {
        RouteOptions {
            balance: Balance::RoundRobin,
            timeout: Duration::from_secs(60),
            max_body: None,
            retries: 2,
            max_fails: 3,
            fail_timeout: Duration::from_secs(10),
            scheme: Scheme::Http,
            retry_body_limit: 64 << 10,
        }
    }
}

mod millis {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

/// What one container's labels ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// Lowercase host names.
    pub hosts: Vec<String>,
    /// A path prefix starting with `/`, without a trailing `/` (except `/`).
    pub path: String,
    /// The container port; none: its single exposed port.
    pub port: Option<u16>,
    pub options: RouteOptions,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("label {label}={value:?}: {reason}")]
pub struct LabelError {
    pub label: String,
    pub value: String,
    pub reason: String,
}

fn bad(label: &str, value: &str, reason: impl Into<String>) -> LabelError {
    LabelError {
        label: label.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// `None` when the container asks for no route (no `berth.http.host`).
pub fn parse(labels: &BTreeMap<String, String>) -> Option<Result<RouteSpec, LabelError>> {
    let hosts = labels.get(HOST)?;
    Some(parse_present(hosts, labels))
}

fn parse_present(hosts: &str, labels: &BTreeMap<String, String>) -> Result<RouteSpec, LabelError> {
    let mut names = Vec::new();
    for h in hosts.split(',').map(str::trim) {
        if !valid_host(h) {
            return Err(bad(
                HOST,
                hosts,
                format!("{h:?} is not a host name (letters, digits, '-' and '.' labels)"),
            ));
        }
        names.push(h.to_ascii_lowercase());
    }
    let path = match labels.get(PATH) {
        None => "/".to_string(),
        Some(p) if p.starts_with('/') && !p.contains(['?', '#', ' ']) => {
            let trimmed = p.trim_end_matches('/');
            if trimmed.is_empty() { "/" } else { trimmed }.to_string()
        }
        Some(p) => return Err(bad(PATH, p, "a path prefix starts with '/' (no query)")),
    };
    let port = match labels.get(PORT) {
        None => None,
        Some(p) => match p.trim().parse::<u16>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err(bad(PORT, p, "a port number 1-65535")),
        },
    };
    let mut options = RouteOptions::default();
    if let Some(b) = labels.get(BALANCE) {
        options.balance = match b.trim() {
            "round_robin" => Balance::RoundRobin,
            "least_requests" => Balance::LeastRequests,
            _ => return Err(bad(BALANCE, b, "round_robin or least_requests")),
        };
    }
    if let Some(t) = labels.get(TIMEOUT) {
        options.timeout =
            duration(t).ok_or_else(|| bad(TIMEOUT, t, "a duration: 30s, 500ms, 2m"))?;
    }
    if let Some(t) = labels.get(FAIL_TIMEOUT) {
        options.fail_timeout =
            duration(t).ok_or_else(|| bad(FAIL_TIMEOUT, t, "a duration: 10s, 500ms, 1m"))?;
    }
    if let Some(s) = labels.get(MAX_BODY) {
        options.max_body =
            Some(size(s).ok_or_else(|| bad(MAX_BODY, s, "a size: 1048576, 64k, 10m, 1g"))?);
    }
    if let Some(n) = labels.get(RETRIES) {
        options.retries = n.trim().parse().map_err(|_| bad(RETRIES, n, "a count"))?;
    }
    if let Some(n) = labels.get(MAX_FAILS) {
        options.max_fails = match n.trim().parse() {
            Ok(v) if v > 0 => v,
            _ => return Err(bad(MAX_FAILS, n, "a count of at least 1")),
        };
    }
    if let Some(v) = labels.get(SCHEME) {
        options.scheme = match v.trim() {
            "http" => Scheme::Http,
            "h2c" => Scheme::H2c,
            _ => {
                return Err(bad(
                    SCHEME,
                    v,
                    "http (HTTP/1.1) or h2c (HTTP/2 with prior knowledge)",
                ));
            }
        };
    }
    if let Some(s) = labels.get(RETRY_BODY_LIMIT) {
        options.retry_body_limit = size(s)
            .ok_or_else(|| bad(RETRY_BODY_LIMIT, s, "a size: 65536, 64k, 1m (0: none kept)"))?;
    }
    Ok(RouteSpec {
        hosts: names,
        path,
        port,
        options,
    })
}

/// RFC 1123 names (a `localhost`-style single label too).
pub fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// `500ms`, `30s`, `2m`, `1h`; a bare number is seconds.
pub fn duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60)?),
        "h" => Duration::from_secs(n.checked_mul(3600)?),
        _ => return None,
    };
    (!d.is_zero()).then_some(d)
}

/// Bytes, or with a `k`, `m` or `g` suffix (binary multiples).
pub fn size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let (n, mult) = match s.strip_suffix(['k', 'm', 'g']) {
        Some(n) if s.ends_with('k') => (n, 1 << 10),
        Some(n) if s.ends_with('m') => (n, 1 << 20),
        Some(n) => (n, 1 << 30),
        None => (s.as_str(), 1),
    };
    n.parse::<u64>().ok()?.checked_mul(mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn no_host_label_no_route() {
        assert!(parse(&labels(&[(PORT, "80")])).is_none());
    }

    #[test]
    fn hosts_path_port_and_options() {
        let spec = parse(&labels(&[
            (HOST, "A.example.test, b.example.test"),
            (PATH, "/api/"),
            (PORT, "8080"),
            (BALANCE, "least_requests"),
            (TIMEOUT, "500ms"),
            (MAX_BODY, "64k"),
            (SCHEME, "h2c"),
            (RETRY_BODY_LIMIT, "1m"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(spec.hosts, ["a.example.test", "b.example.test"]);
        assert_eq!(spec.path, "/api");
        assert_eq!(spec.port, Some(8080));
        assert_eq!(spec.options.balance, Balance::LeastRequests);
        assert_eq!(spec.options.timeout, Duration::from_millis(500));
        assert_eq!(spec.options.max_body, Some(65536));
        assert_eq!(spec.options.scheme, Scheme::H2c);
        assert_eq!(spec.options.retry_body_limit, 1 << 20);
        let root = parse(&labels(&[(HOST, "x.test"), (PATH, "/")]))
            .unwrap()
            .unwrap();
        assert_eq!(root.path, "/");
        assert_eq!(root.port, None);
        assert_eq!(root.options.scheme, Scheme::Http, "HTTP/1.1 unless asked");
        assert_eq!(root.options.retry_body_limit, 64 << 10);
    }

    #[test]
    fn bad_values_name_the_label() {
        for (pairs, label) in [
            (vec![(HOST, "bad_host!")], HOST),
            (vec![(HOST, "a.test,")], HOST),
            (vec![(HOST, "a.test"), (PATH, "api")], PATH),
            (vec![(HOST, "a.test"), (PORT, "http")], PORT),
            (vec![(HOST, "a.test"), (PORT, "0")], PORT),
            (vec![(HOST, "a.test"), (BALANCE, "random")], BALANCE),
            (vec![(HOST, "a.test"), (TIMEOUT, "soon")], TIMEOUT),
            (vec![(HOST, "a.test"), (MAX_BODY, "lots")], MAX_BODY),
            (vec![(HOST, "a.test"), (MAX_FAILS, "0")], MAX_FAILS),
            (vec![(HOST, "a.test"), (SCHEME, "h2")], SCHEME),
            (vec![(HOST, "a.test"), (SCHEME, "https")], SCHEME),
            (
                vec![(HOST, "a.test"), (RETRY_BODY_LIMIT, "big")],
                RETRY_BODY_LIMIT,
            ),
        ] {
            let e = parse(&labels(&pairs)).unwrap().unwrap_err();
            assert_eq!(e.label, label, "{pairs:?}: {e}");
            assert!(e.to_string().contains(label), "{e}");
        }
    }

    #[test]
    fn durations_and_sizes() {
        assert_eq!(duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(duration("15"), Some(Duration::from_secs(15)));
        assert_eq!(duration("0s"), None);
        assert_eq!(duration("1d"), None);
        assert_eq!(size("10m"), Some(10 << 20));
        assert_eq!(size("1G"), Some(1 << 30));
        assert_eq!(size("100"), Some(100));
        assert_eq!(size("k"), None);
    }
}
