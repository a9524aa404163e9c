use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;

/// Everything the network layer can fail with; callers match on the variant
/// to turn it into an API status (e.g. `AddressInUse` -> 409).
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("invalid network configuration: {0}")]
    InvalidConfig(String),
    #[error("address {ip} is not inside subnet {subnet}")]
    OutOfSubnet { ip: IpAddr, subnet: IpNet },
    #[error("address {0} is already in use")]
    AddressInUse(IpAddr),
    #[error("address {0} is reserved (network, broadcast or gateway)")]
    AddressReserved(IpAddr),
    #[error("no free address left in {0}")]
    Exhausted(IpNet),
    #[error("subnet {subnet} overlaps with network {other} ({other_subnet})")]
    Overlap {
        subnet: IpNet,
        other: String,
        other_subnet: IpNet,
    },
    #[error("no free subnet left in the address pools")]
    PoolExhausted,
    #[error("corrupt IPAM state file {path}: {reason}")]
    CorruptState { path: PathBuf, reason: String },
    #[error("{op}: {source}")]
    Io {
        op: String,
        #[source]
        source: std::io::Error,
    },
    #[error("netlink {op}: {source}")]
    Netlink {
        op: String,
        #[source]
        source: rtnetlink::Error,
    },
    #[error("link {0} not found")]
    LinkNotFound(String),
    #[error("link {name} exists but is not a {expected}")]
    WrongLinkKind {
        name: String,
        expected: &'static str,
    },
    #[error("firewall command `{command}` failed: {stderr}")]
    Firewall { command: String, stderr: String },
    /// A driver option or parent link refused with dockerd's own wording.
    #[error("{0}")]
    Refused(String),
    /// The running kernel lacks a link type (no module, none built in).
    #[error("{what}: the kernel has no {feature} support ({reason}){hint}")]
    KernelLacks {
        what: String,
        feature: &'static str,
        reason: String,
        /// How to do without it, with a leading "; ", or empty.
        hint: String,
    },
    #[error("no firewall backend available (neither nft nor iptables works); {0} is impossible")]
    NoFirewall(&'static str),
}

pub type Result<T, E = NetError> = std::result::Result<T, E>;

pub(crate) fn io_err(op: impl Into<String>) -> impl FnOnce(std::io::Error) -> NetError {
    let op = op.into();
    move |source| NetError::Io { op, source }
}

pub(crate) fn nl_err(op: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> NetError {
    let op = op.into();
    move |source| NetError::Netlink { op, source }
}

/// The kernel's errno inside a netlink NACK, so callers can treat
/// "already exists" / "no such device" as success where idempotence wants it.
pub(crate) fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(msg) => Some(-msg.raw_code()),
        _ => None,
    }
}
