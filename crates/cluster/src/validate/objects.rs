//! Node, swarm, secret and config specs.

use super::{go_quote, is_valid_config_or_secret_name};
use crate::error::{ClusterError, ErrorKind, Result};
use crate::model::{ConfigSpec, NodeSpec, SecretSpec, SwarmSpec};

/// swarmkit's `MaxSecretSize`: data must be shorter than this.
pub const MAX_SECRET_SIZE: usize = 500 * 1024;
/// swarmkit's `MaxConfigSize`.
pub const MAX_CONFIG_SIZE: usize = 1000 * 1024;
/// swarmkit's `ca.MinNodeCertExpiration`: one hour.
const MIN_NODE_CERT_EXPIRY: i64 = 3600 * 1_000_000_000;

fn invalid(message: impl Into<String>) -> ClusterError {
    ClusterError::invalid(message)
}

/// dockerd converts role and availability case-insensitively and has no
/// default for either: an empty value is an error too.
pub fn validate_node_spec(spec: &NodeSpec) -> Result<()> {
    if !matches!(
        spec.role.to_ascii_lowercase().as_str(),
        "worker" | "manager"
    ) {
        return Err(ClusterError::dockerd(
            ErrorKind::InvalidArgument,
            format!("invalid Role: {}", go_quote(&spec.role)),
        ));
    }
    if !matches!(
        spec.availability.to_ascii_lowercase().as_str(),
        "active" | "pause" | "drain"
    ) {
        return Err(ClusterError::dockerd(
            ErrorKind::InvalidArgument,
            format!("invalid Availability: {}", go_quote(&spec.availability)),
        ));
    }
    Ok(())
}

pub fn validate_swarm_spec(spec: &SwarmSpec) -> Result<()> {
    for ca in &spec.ca_config.external_cas {
        if !ca.protocol.eq_ignore_ascii_case("cfssl") {
            return Err(ClusterError::dockerd(
                ErrorKind::InvalidArgument,
                format!("invalid protocol: {}", go_quote(&ca.protocol)),
            ));
        }
    }
    if spec.ca_config.node_cert_expiry != 0
        && spec.ca_config.node_cert_expiry < MIN_NODE_CERT_EXPIRY
    {
        return Err(invalid("minimum certificate expiry time is: 1h0m0s"));
    }
    if spec.dispatcher.heartbeat_period < 0 {
        return Err(invalid(
            "heartbeat time period cannot be a negative duration",
        ));
    }
    if spec.annotations.name != "default" {
        return Err(invalid("modification of cluster name is not allowed"));
    }
    Ok(())
}

fn validate_object_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(invalid("name must be provided"));
    }
    if name.len() > 64 || !is_valid_config_or_secret_name(name) {
        return Err(invalid(
            "invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end character must be [a-zA-Z0-9]",
        ));
    }
    Ok(())
}

/// A secret from an external driver carries no data; any other must have
/// some, under 500 KiB.
pub fn validate_secret_spec(spec: &SecretSpec) -> Result<()> {
    validate_object_name(&spec.annotations.name)?;
    if let Some(driver) = &spec.driver {
        if driver.name.is_empty() {
            return Err(invalid("secret driver must have a name"));
        }
        return Ok(());
    }
    if spec.data.is_empty() || spec.data.len() >= MAX_SECRET_SIZE {
        return Err(invalid(format!(
            "secret data must be larger than 0 and less than {MAX_SECRET_SIZE} bytes"
        )));
    }
    Ok(())
}

pub fn validate_config_spec(spec: &ConfigSpec) -> Result<()> {
    validate_object_name(&spec.annotations.name)?;
    if spec.data.is_empty() || spec.data.len() >= MAX_CONFIG_SIZE {
        return Err(invalid(format!(
            "config data must be larger than 0 and less than {MAX_CONFIG_SIZE} bytes"
        )));
    }
    Ok(())
}

/// Only labels may change. dockerd sends the stored data back with an
/// update, and clients omit it: both are fine, other data is not.
pub fn validate_secret_update(current: &SecretSpec, update: &SecretSpec) -> Result<()> {
    let same_data = update.data.is_empty() || update.data == current.data;
    if update.annotations.name != current.annotations.name || !same_data {
        return Err(invalid("only updates to Labels are allowed"));
    }
    Ok(())
}

pub fn validate_config_update(current: &ConfigSpec, update: &ConfigSpec) -> Result<()> {
    let same_data = update.data.is_empty() || update.data == current.data;
    if update.annotations.name != current.annotations.name || !same_data {
        return Err(invalid("only updates to Labels are allowed"));
    }
    Ok(())
}
