//! NAT, forwarding policy and published ports. Three backends share one
//! trait and the daemon picks one at start-up with [`detect_firewall`].

mod iptables;
mod nftables;
mod none;

use std::io::Write;
use std::process::{Command, Stdio};

pub use iptables::IptablesFirewall;
pub use nftables::NftablesFirewall;
pub use none::NoFirewall;

use crate::config::{NetworkConfig, PortMapping};
use crate::error::{NetError, Result};

/// Name of the nftables table holding every berth rule.
pub const NFT_TABLE: &str = "berth";
/// Prefix of every iptables chain berth creates.
pub const IPTABLES_CHAIN_PREFIX: &str = "BERTH-";

/// Firewall operations the engine needs. Calls are blocking (they run the
/// `nft`/`iptables` binaries); async callers should use `spawn_blocking`.
/// Every operation is idempotent so a restarted daemon can replay them.
pub trait Firewall: Send + Sync {
    /// "nftables", "iptables" or "none".
    fn name(&self) -> &'static str;
    /// Masquerade the subnet towards other interfaces, allow forwarding
    /// from/to the bridge, isolate it from other berth bridges; internal
    /// networks get isolation and no egress instead.
    fn setup_network(&self, net: &NetworkConfig) -> Result<()>;
    fn teardown_network(&self, net: &NetworkConfig) -> Result<()>;
    /// DNAT `host_ip:host_port` (every local address, loopback included,
    /// when `host_ip` is `None`) to the container, from outside, from the
    /// host itself and from containers (hairpin).
    fn add_port_mapping(&self, net: &NetworkConfig, mapping: &PortMapping) -> Result<()>;
    fn remove_port_mapping(&self, net: &NetworkConfig, mapping: &PortMapping) -> Result<()>;
    /// Removes every rule, chain and table berth owns.
    fn cleanup_all(&self) -> Result<()>;
}

/// nftables if `nft` can talk to the kernel, else iptables, else a backend
/// that refuses port mappings with a clear error.
pub fn detect_firewall() -> Box<dyn Firewall> {
    detect_firewall_in(NFT_TABLE)
}

/// [`detect_firewall`] with nftables rules in `nft_table`. The iptables
/// backend always uses the shared `BERTH-*` chains.
pub fn detect_firewall_in(nft_table: &str) -> Box<dyn Firewall> {
    if NftablesFirewall::available() {
        return Box::new(NftablesFirewall::with_table(nft_table));
    }
    let ipt = IptablesFirewall::new("iptables");
    if ipt.available() {
        return Box::new(ipt);
    }
    tracing::warn!("neither nft nor iptables works: published ports and NAT are disabled");
    Box::new(NoFirewall)
}

/// The backend named by a daemon option: "nftables", "iptables" or "none".
pub fn firewall_by_name(name: &str) -> Option<Box<dyn Firewall>> {
    firewall_by_name_in(name, NFT_TABLE)
}

/// [`firewall_by_name`] with nftables rules in `nft_table`.
pub fn firewall_by_name_in(name: &str, nft_table: &str) -> Option<Box<dyn Firewall>> {
    match name {
        "nftables" => Some(Box::new(NftablesFirewall::with_table(nft_table))),
        "iptables" => Some(Box::new(IptablesFirewall::new("iptables"))),
        "none" => Some(Box::new(NoFirewall)),
        _ => None,
    }
}

/// Runs `program args`, feeding `stdin` if given, and returns stdout.
pub(crate) fn run(program: &str, args: &[&str], stdin: Option<&str>) -> Result<String> {
    let command = format!("{program} {}", args.join(" "));
    let fail = |stderr: String| NetError::Firewall {
        command: command.clone(),
        stderr,
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        pipe.write_all(input.as_bytes())
            .map_err(|e| fail(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        let mut stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if let Some(input) = stdin {
            stderr.push_str(&format!("\ninput:\n{input}"));
        }
        return Err(fail(stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub(crate) fn net_tag(net: &NetworkConfig) -> String {
    format!("berth-net:{}", net.bridge_name)
}
