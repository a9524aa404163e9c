//! Placement constraints (`node.labels.zone==a`) parsed and matched with
//! swarmkit's rules: `==` is tried before `!=`, keys and values are checked
//! against its character sets, keys and values compare case-insensitively
//! (label names after the prefix do not), and an unknown key never matches.

use std::net::IpAddr;

use crate::error::ClusterError;
use crate::model::Node;

pub const NODE_LABEL_PREFIX: &str = "node.labels.";
pub const ENGINE_LABEL_PREFIX: &str = "engine.labels.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Eq,
    NotEq,
}

/// What a constraint looks at, resolved once so matching many nodes does
/// not re-examine the key text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Key {
    Id,
    Hostname,
    Ip,
    Role,
    PlatformOs,
    PlatformArch,
    NodeLabel(String),
    EngineLabel(String),
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    pub key: String,
    pub operator: Operator,
    pub value: String,
    resolved: Key,
}

/// Parses constraint expressions; the first bad one fails with swarmkit's
/// message (`constraint expected one operator from ==, !=`, `key '…' is
/// invalid`, `value '…' is invalid`).
pub fn parse(exprs: &[String]) -> Result<Vec<Constraint>, ClusterError> {
    exprs.iter().map(|e| parse_one(e)).collect()
}

fn parse_one(expr: &str) -> Result<Constraint, ClusterError> {
    for (op_text, operator) in [("==", Operator::Eq), ("!=", Operator::NotEq)] {
        let Some((left, right)) = expr.split_once(op_text) else {
            continue;
        };
        let key = left.trim();
        if !valid_key(key) {
            return Err(ClusterError::invalid(format!("key '{key}' is invalid")));
        }
        let value = right.trim();
        if !valid_value(value) {
            return Err(ClusterError::invalid(format!("value '{value}' is invalid")));
        }
        return Ok(Constraint {
            key: key.to_string(),
            operator,
            value: value.to_string(),
            resolved: resolve(key),
        });
    }
    Err(ClusterError::invalid(
        "constraint expected one operator from ==, !=",
    ))
}

/// `^(?i)[a-z_][a-z0-9\-_.]+$`
fn valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let rest = chars.as_str();
    (first.is_ascii_alphabetic() || first == '_')
        && !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// `^(?i)[a-z0-9:\-_\s\.\*\(\)\?\+\[\]\\\^\$\|\/]+$` (Go's `\s` is ASCII
/// whitespace without the vertical tab).
fn valid_value(value: &str) -> bool {
    !value.is_empty()
        && value.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(
                    c,
                    ':' | '-'
                        | '_'
                        | '.'
                        | '*'
                        | '('
                        | ')'
                        | '?'
                        | '+'
                        | '['
                        | ']'
                        | '\\'
                        | '^'
                        | '$'
                        | '|'
                        | '/'
                        | ' '
                        | '\t'
                        | '\n'
                        | '\r'
                        | '\x0c'
                )
        })
}

fn strip_prefix_fold<'a>(key: &'a str, prefix: &str) -> Option<&'a str> {
    if key.len() > prefix.len()
        && key.is_char_boundary(prefix.len())
        && key[..prefix.len()].eq_ignore_ascii_case(prefix)
    {
        Some(&key[prefix.len()..])
    } else {
        None
    }
}

fn resolve(key: &str) -> Key {
    let is = |k: &str| key.eq_ignore_ascii_case(k);
    if is("node.id") {
        Key::Id
    } else if is("node.hostname") {
        Key::Hostname
    } else if is("node.ip") {
        Key::Ip
    } else if is("node.role") {
        Key::Role
    } else if is("node.platform.os") {
        Key::PlatformOs
    } else if is("node.platform.arch") {
        Key::PlatformArch
    } else if let Some(label) = strip_prefix_fold(key, NODE_LABEL_PREFIX) {
        Key::NodeLabel(label.to_string())
    } else if let Some(label) = strip_prefix_fold(key, ENGINE_LABEL_PREFIX) {
        Key::EngineLabel(label.to_string())
    } else {
        Key::Unknown
    }
}

/// Go's `strings.EqualFold` for the values seen here: Unicode simple
/// folding is approximated by lowercase comparison.
fn equal_fold(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b) || (!a.is_ascii() && a.to_lowercase() == b.to_lowercase())
}

impl Constraint {
    fn matches_value(&self, what: &str) -> bool {
        let equal = equal_fold(&self.value, what);
        match self.operator {
            Operator::Eq => equal,
            Operator::NotEq => !equal,
        }
    }

    /// Whether this node satisfies the constraint.
    pub fn matches(&self, node: &Node) -> bool {
        let d = &node.description;
        match &self.resolved {
            Key::Id => self.matches_value(&node.id),
            Key::Hostname => self.matches_value(&d.hostname),
            Key::Ip => self.matches_ip(&node.status.addr),
            Key::Role => self.matches_value(if node.spec.role.is_empty() {
                "worker"
            } else {
                &node.spec.role
            }),
            Key::PlatformOs => self.matches_value(&d.platform.os),
            Key::PlatformArch => self.matches_value(&d.platform.architecture),
            Key::NodeLabel(l) => self.matches_value(
                node.spec
                    .annotations
                    .labels
                    .get(l)
                    .map_or("", String::as_str),
            ),
            Key::EngineLabel(l) => {
                self.matches_value(d.engine.labels.get(l).map_or("", String::as_str))
            }
            Key::Unknown => false,
        }
    }

    /// `node.ip` takes an address or a CIDR; anything else matches no
    /// node whatever the operator.
    fn matches_ip(&self, node_addr: &str) -> bool {
        let node_ip = parse_ip(node_addr);
        let inside = if let Some(ip) = parse_ip(&self.value) {
            node_ip == Some(ip)
        } else if let Some((net, bits)) = parse_cidr(&self.value) {
            node_ip.is_some_and(|n| cidr_contains(net, bits, n))
        } else {
            return false;
        };
        inside == (self.operator == Operator::Eq)
    }
}

/// Whether the node satisfies every constraint.
pub fn node_matches(constraints: &[Constraint], node: &Node) -> bool {
    constraints.iter().all(|c| c.matches(node))
}

/// IPv4-mapped IPv6 addresses compare equal to their IPv4 form, as Go's
/// `net.IP.Equal` does.
fn parse_ip(s: &str) -> Option<IpAddr> {
    let ip: IpAddr = s.parse().ok()?;
    Some(match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    })
}

fn parse_cidr(s: &str) -> Option<(IpAddr, u32)> {
    let (addr, bits) = s.split_once('/')?;
    let ip: IpAddr = addr.parse().ok()?;
    let bits: u32 = bits.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some((ip, bits))
}

fn cidr_contains(net: IpAddr, bits: u32, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests;
