//! Backend on the `nft` binary: one table `ip berth` (and `ip6 berth` for
//! dual-stack networks) that nothing else writes, so removing berth's rules
//! never disturbs the host's own.
//! Rules carry a comment naming their owner (network or port mapping) and
//! are deleted by the handles `nft -j` reports for that comment.

use parking_lot::Mutex;
use serde_json::Value;

use super::{Firewall, NFT_TABLE, net_tag, run};
use crate::config::{NetworkConfig, PortMapping};
use crate::error::{NetError, Result};

const NFT: &str = "nft";

#[derive(Debug)]
pub struct NftablesFirewall {
    /// Each daemon owns one table, so several daemons (tests run many)
    /// never touch each other's rules.
    table: String,
    // Serialises list-then-modify sequences within this process.
    lock: Mutex<()>,
}

impl Default for NftablesFirewall {
    fn default() -> Self {
        Self::with_table(NFT_TABLE)
    }
}

/// The nftables family of a table: `ip` holds every IPv4 rule, `ip6` the
/// forwarding, isolation and NAT66 of dual-stack networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Ip,
    Ip6,
}

impl Family {
    const ALL: [Family; 2] = [Family::Ip, Family::Ip6];

    fn as_str(self) -> &'static str {
        match self {
            Family::Ip => "ip",
            Family::Ip6 => "ip6",
        }
    }
}

struct Rule {
    chain: String,
    handle: u64,
    comment: Option<String>,
}

impl NftablesFirewall {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_table(table: impl Into<String>) -> Self {
        NftablesFirewall {
            table: table.into(),
            lock: Mutex::new(()),
        }
    }

    /// Whether `nft` exists and the kernel accepts nftables requests.
    pub fn available() -> bool {
        run(NFT, &["list", "tables"], None).is_ok()
    }

    fn table_exists(&self, family: Family) -> Result<bool> {
        let out = run(NFT, &["-j", "list", "tables", family.as_str()], None)?;
        let json: Value = serde_json::from_str(&out).map_err(|e| parse_err(e.to_string()))?;
        Ok(items(&json)
            .filter_map(|o| o.get("table"))
            .any(|t| t["name"] == self.table.as_str()))
    }

    /// Creates the table and its fixed chains once; `isolation` is jumped to
    /// first from `forward` so cross-network drops win over the accepts.
    fn ensure_table(&self, family: Family) -> Result<()> {
        if self.table_exists(family)? {
            return Ok(());
        }
        let t = &self.table;
        let f = family.as_str();
        let mut script = format!(
            "add table {f} {t}\n\
             add chain {f} {t} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}\n\
             add chain {f} {t} forward {{ type filter hook forward priority filter; policy accept; }}\n\
             add chain {f} {t} isolation\n\
             add chain {f} {t} isolation2\n\
             add rule {f} {t} forward jump isolation\n"
        );
        // Published ports are DNATed over IPv4 only (IPv6 clients reach
        // them through the daemon's proxy, which also serves ::1).
        if family == Family::Ip {
            script.push_str(&format!(
                "add chain {f} {t} prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}\n\
                 add chain {f} {t} output {{ type nat hook output priority -100; policy accept; }}\n\
                 add chain {f} {t} input {{ type filter hook input priority filter; policy accept; }}\n"
            ));
        }
        run(NFT, &["-f", "-"], Some(&script))?;
        Ok(())
    }

    fn rules(&self, family: Family) -> Result<Vec<Rule>> {
        if !self.table_exists(family)? {
            return Ok(Vec::new());
        }
        let out = run(
            NFT,
            &["-j", "list", "table", family.as_str(), &self.table],
            None,
        )?;
        let json: Value = serde_json::from_str(&out).map_err(|e| parse_err(e.to_string()))?;
        Ok(items(&json)
            .filter_map(|o| o.get("rule"))
            .filter_map(|r| {
                Some(Rule {
                    chain: r["chain"].as_str()?.to_string(),
                    handle: r["handle"].as_u64()?,
                    comment: r["comment"].as_str().map(str::to_string),
                })
            })
            .collect())
    }

    fn delete_tagged(&self, family: Family, tag: &str) -> Result<()> {
        let script: String = self
            .rules(family)?
            .iter()
            .filter(|r| r.comment.as_deref() == Some(tag))
            .map(|r| {
                format!(
                    "delete rule {} {} {} handle {}\n",
                    family.as_str(),
                    self.table,
                    r.chain,
                    r.handle
                )
            })
            .collect();
        if !script.is_empty() {
            run(NFT, &["-f", "-"], Some(&script))?;
        }
        Ok(())
    }

    fn add_tagged(&self, family: Family, tag: &str, rules: &[(&str, String)]) -> Result<()> {
        let script: String = rules
            .iter()
            .map(|(chain, rule)| {
                format!(
                    "add rule {} {} {chain} {rule} comment \"{tag}\"\n",
                    family.as_str(),
                    self.table
                )
            })
            .collect();
        run(NFT, &["-f", "-"], Some(&script))?;
        Ok(())
    }
}

fn items(json: &Value) -> impl Iterator<Item = &Value> {
    json["nftables"].as_array().into_iter().flatten()
}

fn parse_err(reason: String) -> NetError {
    NetError::Firewall {
        command: "nft -j".into(),
        stderr: format!("unparsable output: {reason}"),
    }
}

/// What every bridge gets in each family's table: traffic within the
/// bridge, isolation from the other berth bridges, and unless internal,
/// egress with the subnet (`saddr`, e.g. `ip saddr 10.1.0.0/24`) masqueraded.
fn bridge_rules(br: &str, internal: bool, saddr: &str) -> Vec<(&'static str, String)> {
    let mut rules = vec![
        ("isolation2", format!("oifname {br} drop")),
        ("forward", format!("iifname {br} oifname {br} accept")),
    ];
    if internal {
        rules.extend([
            ("isolation", format!("iifname {br} oifname != {br} drop")),
            ("isolation", format!("oifname {br} iifname != {br} drop")),
        ]);
    } else {
        rules.extend([
            (
                "isolation",
                format!("iifname {br} oifname != {br} jump isolation2"),
            ),
            ("forward", format!("iifname {br} accept")),
            (
                "forward",
                format!("oifname {br} ct state established,related accept"),
            ),
            ("postrouting", format!("{saddr} oifname != {br} masquerade")),
        ]);
    }
    rules
}

fn network_rules(net: &NetworkConfig) -> Vec<(&'static str, String)> {
    let br = format!("\"{}\"", net.bridge_name);
    let subnet = net.subnet;
    let mut rules = bridge_rules(&br, net.internal, &format!("ip saddr {subnet}"));
    rules.extend([
        // route_localnet lets loopback-sourced DNAT traffic out through the
        // bridge; only replies to such DNATed connections may come back to
        // 127/8, so containers cannot reach host services bound to loopback.
        (
            "input",
            format!("iifname {br} ip daddr 127.0.0.0/8 ct status dnat accept"),
        ),
        ("input", format!("iifname {br} ip daddr 127.0.0.0/8 drop")),
    ]);
    if !net.internal {
        rules.extend([
            ("forward", format!("oifname {br} ct status dnat accept")),
            // Hairpin and host-loopback clients of published ports: the
            // container must answer through the host, so hide the source.
            (
                "postrouting",
                format!("oifname {br} ip saddr 127.0.0.0/8 masquerade"),
            ),
            (
                "postrouting",
                format!("oifname {br} ip saddr {subnet} ct status dnat masquerade"),
            ),
        ]);
    }
    rules
}

/// Forwarding, isolation and NAT66 of a dual-stack network's IPv6 subnet,
/// as for its IPv4 one (Docker's `ip6tables` mode).
fn network_rules_v6(net: &NetworkConfig) -> Vec<(&'static str, String)> {
    let Some(v6) = &net.ipv6 else {
        return Vec::new();
    };
    let br = format!("\"{}\"", net.bridge_name);
    bridge_rules(&br, net.internal, &format!("ip6 saddr {}", v6.subnet))
}

fn port_rules(m: &PortMapping) -> Vec<(&'static str, String)> {
    let daddr = m
        .host_ip
        .map(|ip| format!("ip daddr {ip} "))
        .unwrap_or_default();
    let rule = format!(
        "{daddr}fib daddr type local {proto} dport {hp} dnat to {cip}:{cp}",
        proto = m.proto,
        hp = m.host_port,
        cip = m.container_ip,
        cp = m.container_port
    );
    vec![("prerouting", rule.clone()), ("output", rule)]
}

impl Firewall for NftablesFirewall {
    fn name(&self) -> &'static str {
        "nftables"
    }

    fn setup_network(&self, net: &NetworkConfig) -> Result<()> {
        let _g = self.lock.lock();
        let tag = net_tag(net);
        self.ensure_table(Family::Ip)?;
        self.delete_tagged(Family::Ip, &tag)?;
        self.add_tagged(Family::Ip, &tag, &network_rules(net))?;
        if net.ipv6.is_some() {
            self.ensure_table(Family::Ip6)?;
            self.delete_tagged(Family::Ip6, &tag)?;
            self.add_tagged(Family::Ip6, &tag, &network_rules_v6(net))?;
        }
        Ok(())
    }

    fn teardown_network(&self, net: &NetworkConfig) -> Result<()> {
        let _g = self.lock.lock();
        for family in Family::ALL {
            self.delete_tagged(family, &net_tag(net))?;
        }
        Ok(())
    }

    fn add_port_mapping(&self, _net: &NetworkConfig, mapping: &PortMapping) -> Result<()> {
        let _g = self.lock.lock();
        self.ensure_table(Family::Ip)?;
        let tag = mapping.tag();
        self.delete_tagged(Family::Ip, &tag)?;
        self.add_tagged(Family::Ip, &tag, &port_rules(mapping))
    }

    fn remove_port_mapping(&self, _net: &NetworkConfig, mapping: &PortMapping) -> Result<()> {
        let _g = self.lock.lock();
        self.delete_tagged(Family::Ip, &mapping.tag())
    }

    fn cleanup_all(&self) -> Result<()> {
        let _g = self.lock.lock();
        for family in Family::ALL {
            if self.table_exists(family)? {
                run(
                    NFT,
                    &["delete", "table", family.as_str(), &self.table],
                    None,
                )?;
            }
        }
        Ok(())
    }
}
