//! Backend on the `iptables` binary (legacy or nft flavour): berth's rules
//! live in its own `BERTH-*` chains, entered by one jump from each built-in
//! chain. Rule specs are rebuilt from the config to delete them, so no
//! parsing of `iptables -S` output is needed.

use super::{Firewall, net_tag, run};
use crate::config::{NetworkConfig, PortMapping};
use crate::error::Result;
use parking_lot::Mutex;

const PREROUTING: &str = "BERTH-PREROUTING";
const OUTPUT: &str = "BERTH-OUTPUT";
const POSTROUTING: &str = "BERTH-POSTROUTING";
const FORWARD: &str = "BERTH-FORWARD";
const INPUT: &str = "BERTH-INPUT";
const ISOLATION: &str = "BERTH-ISOLATION";
const ISOLATION2: &str = "BERTH-ISOLATION2";

/// (table, chain) pairs in creation order.
const CHAINS: &[(&str, &str)] = &[
    ("nat", PREROUTING),
    ("nat", OUTPUT),
    ("nat", POSTROUTING),
    ("filter", ISOLATION),
    ("filter", ISOLATION2),
    ("filter", FORWARD),
    ("filter", INPUT),
];

/// A rule: table, chain, match/target arguments.
type Spec = (&'static str, &'static str, Vec<String>);

fn jumps() -> Vec<Spec> {
    let local = |target: &str| args(&["-m", "addrtype", "--dst-type", "LOCAL", "-j", target]);
    vec![
        ("nat", "PREROUTING", local(PREROUTING)),
        ("nat", "OUTPUT", local(OUTPUT)),
        ("nat", "POSTROUTING", args(&["-j", POSTROUTING])),
        ("filter", "FORWARD", args(&["-j", FORWARD])),
        ("filter", "INPUT", args(&["-j", INPUT])),
        ("filter", FORWARD, args(&["-j", ISOLATION])),
    ]
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// Chains of the IPv6 side (dual-stack networks): no DNAT (IPv6 clients
/// of published ports go through the daemon's proxy), so no input rules.
const CHAINS6: &[(&str, &str)] = &[
    ("nat", POSTROUTING),
    ("filter", ISOLATION),
    ("filter", ISOLATION2),
    ("filter", FORWARD),
];

fn jumps6() -> Vec<Spec> {
    vec![
        ("nat", "POSTROUTING", args(&["-j", POSTROUTING])),
        ("filter", "FORWARD", args(&["-j", FORWARD])),
        ("filter", FORWARD, args(&["-j", ISOLATION])),
    ]
}

#[derive(Debug)]
pub struct IptablesFirewall {
    binary: String,
    /// The ip6tables of the same flavour, for dual-stack networks.
    binary6: String,
    lock: Mutex<()>,
}

impl IptablesFirewall {
    /// `binary` is e.g. "iptables", "iptables-legacy" or "iptables-nft".
    pub fn new(binary: impl Into<String>) -> Self {
        let binary = binary.into();
        let binary6 = binary.replacen("iptables", "ip6tables", 1);
        IptablesFirewall {
            binary,
            binary6,
            lock: Mutex::new(()),
        }
    }

    pub fn available(&self) -> bool {
        self.ipt("nat", &["-S", "POSTROUTING"]).is_ok()
    }

    fn ipt(&self, table: &str, rest: &[&str]) -> Result<String> {
        let mut a = vec!["-w", "-t", table];
        a.extend_from_slice(rest);
        run(&self.binary, &a, None)
    }

    /// The same backend on ip6tables.
    fn v6(&self) -> IptablesFirewall {
        IptablesFirewall {
            binary: self.binary6.clone(),
            binary6: self.binary6.clone(),
            lock: Mutex::new(()),
        }
    }

    fn chain_exists(&self, table: &str, chain: &str) -> bool {
        self.ipt(table, &["-S", chain]).is_ok()
    }

    fn exists(&self, spec: &Spec) -> bool {
        let mut a = vec!["-C", spec.1];
        a.extend(spec.2.iter().map(String::as_str));
        self.ipt(spec.0, &a).is_ok()
    }

    fn append(&self, spec: &Spec) -> Result<()> {
        if self.exists(spec) {
            return Ok(());
        }
        let mut a = vec!["-A", spec.1];
        a.extend(spec.2.iter().map(String::as_str));
        self.ipt(spec.0, &a).map(drop)
    }

    fn insert_first(&self, spec: &Spec) -> Result<()> {
        if self.exists(spec) {
            return Ok(());
        }
        let mut a = vec!["-I", spec.1, "1"];
        a.extend(spec.2.iter().map(String::as_str));
        self.ipt(spec.0, &a).map(drop)
    }

    /// Deletes every copy of the rule; an absent rule or chain is fine.
    fn delete(&self, spec: &Spec) -> Result<()> {
        while self.exists(spec) {
            let mut a = vec!["-D", spec.1];
            a.extend(spec.2.iter().map(String::as_str));
            self.ipt(spec.0, &a)?;
        }
        Ok(())
    }

    /// Chains and jumps; jumps go first in the built-in chains so a DROP
    /// policy or an earlier REJECT there cannot shadow berth's accepts.
    fn ensure_chains(&self) -> Result<()> {
        self.ensure(CHAINS, &jumps())
    }

    fn ensure(&self, chains: &[(&str, &str)], jumps: &[Spec]) -> Result<()> {
        for (table, chain) in chains {
            if !self.chain_exists(table, chain) {
                self.ipt(table, &["-N", chain])?;
            }
        }
        for spec in jumps {
            self.insert_first(spec)?;
        }
        Ok(())
    }

    fn remove_all(&self, chains: &[(&str, &str)], jumps: &[Spec]) -> Result<()> {
        for spec in jumps {
            if self.chain_exists(spec.0, spec.1) {
                self.delete(spec)?;
            }
        }
        for (table, chain) in chains {
            if self.chain_exists(table, chain) {
                self.ipt(table, &["-F", chain])?;
            }
        }
        for (table, chain) in chains {
            if self.chain_exists(table, chain) {
                self.ipt(table, &["-X", chain])?;
            }
        }
        Ok(())
    }
}

fn tagged(table: &'static str, chain: &'static str, rule: &[&str], tag: &str) -> Spec {
    let mut a = args(rule);
    a.extend(args(&["-m", "comment", "--comment", tag]));
    (table, chain, a)
}

/// What every bridge gets on each family's side: traffic within the bridge,
/// isolation from the other berth bridges, and unless internal, egress with
/// `subnet` masqueraded.
fn bridge_rules(tag: &str, br: &str, internal: bool, subnet: &str) -> Vec<Spec> {
    let t = |table, chain, rule: &[&str]| tagged(table, chain, rule, tag);
    let mut rules = vec![
        t("filter", ISOLATION2, &["-o", br, "-j", "DROP"]),
        t("filter", FORWARD, &["-i", br, "-o", br, "-j", "ACCEPT"]),
    ];
    if internal {
        rules.extend([
            t(
                "filter",
                ISOLATION,
                &["-i", br, "!", "-o", br, "-j", "DROP"],
            ),
            t(
                "filter",
                ISOLATION,
                &["!", "-i", br, "-o", br, "-j", "DROP"],
            ),
        ]);
    } else {
        rules.extend([
            t(
                "filter",
                ISOLATION,
                &["-i", br, "!", "-o", br, "-j", ISOLATION2],
            ),
            t("filter", FORWARD, &["-i", br, "-j", "ACCEPT"]),
            t(
                "filter",
                FORWARD,
                &[
                    "-o",
                    br,
                    "-m",
                    "conntrack",
                    "--ctstate",
                    "RELATED,ESTABLISHED",
                    "-j",
                    "ACCEPT",
                ],
            ),
            t(
                "nat",
                POSTROUTING,
                &["-s", subnet, "!", "-o", br, "-j", "MASQUERADE"],
            ),
        ]);
    }
    rules
}

fn network_rules(net: &NetworkConfig) -> Vec<Spec> {
    let tag = net_tag(net);
    let br = net.bridge_name.as_str();
    let subnet = net.subnet.to_string();
    let t = |table, chain, rule: &[&str]| tagged(table, chain, rule, &tag);
    let mut rules = bridge_rules(&tag, br, net.internal, &subnet);
    rules.extend([
        t(
            "filter",
            INPUT,
            &[
                "-i",
                br,
                "-d",
                "127.0.0.0/8",
                "-m",
                "conntrack",
                "--ctstate",
                "DNAT",
                "-j",
                "ACCEPT",
            ],
        ),
        t(
            "filter",
            INPUT,
            &["-i", br, "-d", "127.0.0.0/8", "-j", "DROP"],
        ),
    ]);
    if !net.internal {
        rules.extend([
            t(
                "filter",
                FORWARD,
                &[
                    "-o",
                    br,
                    "-m",
                    "conntrack",
                    "--ctstate",
                    "DNAT",
                    "-j",
                    "ACCEPT",
                ],
            ),
            t(
                "nat",
                POSTROUTING,
                &["-s", "127.0.0.0/8", "-o", br, "-j", "MASQUERADE"],
            ),
            t(
                "nat",
                POSTROUTING,
                &[
                    "-s",
                    &subnet,
                    "-o",
                    br,
                    "-m",
                    "conntrack",
                    "--ctstate",
                    "DNAT",
                    "-j",
                    "MASQUERADE",
                ],
            ),
        ]);
    }
    rules
}

/// The IPv6 side of a dual-stack network, on ip6tables.
fn network_rules_v6(net: &NetworkConfig) -> Vec<Spec> {
    match &net.ipv6 {
        Some(v6) => bridge_rules(
            &net_tag(net),
            &net.bridge_name,
            net.internal,
            &v6.subnet.to_string(),
        ),
        None => Vec::new(),
    }
}

fn port_rules(m: &PortMapping) -> Vec<Spec> {
    let tag = m.tag();
    let proto = m.proto.to_string();
    let hp = m.host_port.to_string();
    let dest = format!("{}:{}", m.container_ip, m.container_port);
    let host = m.host_ip.map(|ip| ip.to_string());
    let mut rule: Vec<&str> = Vec::new();
    if let Some(h) = &host {
        rule.extend(["-d", h]);
    }
    rule.extend([
        "-p",
        &proto,
        "-m",
        &proto,
        "--dport",
        &hp,
        "-j",
        "DNAT",
        "--to-destination",
        &dest,
    ]);
    vec![
        tagged("nat", PREROUTING, &rule, &tag),
        tagged("nat", OUTPUT, &rule, &tag),
    ]
}

impl Firewall for IptablesFirewall {
    fn name(&self) -> &'static str {
        "iptables"
    }

    fn setup_network(&self, net: &NetworkConfig) -> Result<()> {
        let _g = self.lock.lock();
        self.ensure_chains()?;
        for spec in network_rules(net) {
            self.append(&spec)?;
        }
        if net.ipv6.is_some() {
            let v6 = self.v6();
            v6.ensure(CHAINS6, &jumps6())?;
            for spec in network_rules_v6(net) {
                v6.append(&spec)?;
            }
        }
        Ok(())
    }

    fn teardown_network(&self, net: &NetworkConfig) -> Result<()> {
        let _g = self.lock.lock();
        for spec in network_rules(net) {
            self.delete(&spec)?;
        }
        let v6 = self.v6();
        for spec in network_rules_v6(net) {
            v6.delete(&spec)?;
        }
        Ok(())
    }

    fn add_port_mapping(&self, _net: &NetworkConfig, mapping: &PortMapping) -> Result<()> {
        let _g = self.lock.lock();
        self.ensure_chains()?;
        for spec in port_rules(mapping) {
            self.append(&spec)?;
        }
        Ok(())
    }

    fn remove_port_mapping(&self, _net: &NetworkConfig, mapping: &PortMapping) -> Result<()> {
        let _g = self.lock.lock();
        for spec in port_rules(mapping) {
            self.delete(&spec)?;
        }
        Ok(())
    }

    fn cleanup_all(&self) -> Result<()> {
        let _g = self.lock.lock();
        self.remove_all(CHAINS, &jumps())?;
        let v6 = self.v6();
        if v6.available() {
            v6.remove_all(CHAINS6, &jumps6())?;
        }
        Ok(())
    }
}
