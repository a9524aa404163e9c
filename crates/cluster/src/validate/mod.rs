//! Validation of what clients send, in dockerd's order and words: first the
//! checks dockerd makes while converting the API types (plain messages),
//! then swarmkit's control API checks (reported as gRPC errors). Checks
//! that need other objects (ports in use, referenced secrets) take them as
//! arguments.

mod objects;
mod reference;
mod service;

#[cfg(test)]
mod objects_tests;
#[cfg(test)]
mod service_tests;

pub use objects::{
    validate_config_spec, validate_config_update, validate_node_spec, validate_secret_spec,
    validate_secret_update, validate_swarm_spec,
};
pub use reference::valid_image_reference;
pub use service::{
    check_config_references, check_port_conflicts, check_secret_references, validate_service_spec,
    validate_service_update,
};

/// Go's `%q` for the strings that appear in messages.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// swarmkit's `isValidDNSName`: `^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$`,
/// i.e. alphanumerics with inner runs of `-`/`_`, ending alphanumeric.
pub(crate) fn is_valid_dns_name(name: &str) -> bool {
    let b = name.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            f.is_ascii_alphanumeric()
                && l.is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
        }
        _ => false,
    }
}

/// `^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$` for secret and config
/// names.
pub(crate) fn is_valid_config_or_secret_name(name: &str) -> bool {
    let b = name.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            f.is_ascii_alphanumeric()
                && l.is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}
