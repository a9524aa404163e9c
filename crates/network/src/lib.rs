pub mod config;
pub mod error;
pub mod ipam;
mod netlink;
pub mod network;
mod sysctl;

pub use config::*;
pub use error::{NetError, Result};
pub use ipam::{AddressPool, Ipam, allocate_subnet, check_overlap, default_pools};
pub use network::{CleanupReport, Endpoint, Network, cleanup_stale};
pub mod firewall;
pub use firewall::{
    Firewall, IptablesFirewall, NftablesFirewall, NoFirewall, detect_firewall, firewall_by_name,
};
