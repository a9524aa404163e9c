//! Service virtual IPs balanced in the kernel. This kernel family has
//! nftables with `numgen` and maps everywhere, IPVS not always: a client
//! container's own namespace gets a NAT chain on its output hook that sends
//! each new connection to a VIP to the next of its backends (round robin,
//! per client), as kube-proxy's nftables mode does. Conntrack keeps a
//! connection on its backend and rewrites the answers back to the VIP.
//!
//! One table per (container, network), replaced whole on every change: a
//! backend list is always exactly the running tasks of the moment, and a
//! VIP without backends refuses connections at once instead of hanging.

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::error::{NetError, Result};

/// A service address and where its connections go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualService {
    pub vip: Ipv4Addr,
    pub backends: Vec<Ipv4Addr>,
}

/// The nftables table name for one network's VIPs (`berth-lb-<tag>`).
pub fn table_name(tag: &str) -> String {
    format!("berth-lb-{tag}")
}

/// The `nft -f` script that makes `table` hold exactly `services`.
pub fn ruleset(table: &str, services: &[VirtualService]) -> String {
    // Declaring the table first makes the delete valid whether or not it
    // existed; the file is applied in one transaction.
    let mut s = format!("table ip {table} {{}}\ndelete table ip {table}\n");
    if services.is_empty() {
        return s;
    }
    s.push_str(&format!("table ip {table} {{\n"));
    s.push_str("  chain out {\n    type nat hook output priority -100; policy accept;\n");
    for svc in services.iter().filter(|v| !v.backends.is_empty()) {
        let map: Vec<String> = svc
            .backends
            .iter()
            .enumerate()
            .map(|(i, b)| format!("{i} : {b}"))
            .collect();
        s.push_str(&format!(
            "    ip daddr {} dnat to numgen inc mod {} map {{ {} }}\n",
            svc.vip,
            svc.backends.len(),
            map.join(", ")
        ));
    }
    s.push_str("  }\n");
    let empty: Vec<String> = services
        .iter()
        .filter(|v| v.backends.is_empty())
        .map(|v| v.vip.to_string())
        .collect();
    if !empty.is_empty() {
        // After NAT: only connections to a VIP nothing serves still head
        // for the VIP itself.
        s.push_str("  chain refuse {\n    type filter hook output priority 0; policy accept;\n");
        s.push_str(&format!(
            "    ip daddr {{ {} }} meta l4proto tcp reject with tcp reset\n",
            empty.join(", ")
        ));
        s.push_str(&format!("    ip daddr {{ {} }} reject\n", empty.join(", ")));
        s.push_str("  }\n");
    }
    s.push_str("}\n");
    s
}

/// Applies [`ruleset`] inside the network namespace at `netns`.
pub fn apply_in(netns: &Path, table: &str, services: &[VirtualService]) -> Result<()> {
    run_nft_in(netns, &ruleset(table, services))
}

fn run_nft_in(netns: &Path, script: &str) -> Result<()> {
    let fail = |stderr: String| NetError::Firewall {
        command: format!("nsenter --net={} nft -f -", netns.display()),
        stderr,
    };
    let mut child = Command::new("nsenter")
        .arg(format!("--net={}", netns.display()))
        .args(["nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| fail(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        return Err(fail(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn each_vip_maps_round_robin_over_its_backends() {
        let s = ruleset(
            "berth-lb-x",
            &[VirtualService {
                vip: ip("10.0.1.2"),
                backends: vec![ip("10.0.1.3"), ip("10.0.1.4")],
            }],
        );
        assert!(s.starts_with("table ip berth-lb-x {}\ndelete table ip berth-lb-x\n"));
        assert!(s.contains(
            "ip daddr 10.0.1.2 dnat to numgen inc mod 2 map { 0 : 10.0.1.3, 1 : 10.0.1.4 }"
        ));
        assert!(!s.contains("reject"));
    }

    #[test]
    fn a_vip_without_backends_refuses_and_no_services_drop_the_table() {
        let s = ruleset(
            "t",
            &[VirtualService {
                vip: ip("10.0.1.9"),
                backends: vec![],
            }],
        );
        assert!(s.contains("ip daddr { 10.0.1.9 } meta l4proto tcp reject with tcp reset"));
        assert!(!s.contains("dnat"));
        assert_eq!(ruleset("t", &[]), "table ip t {}\ndelete table ip t\n");
    }
}
