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

use ipnet::Ipv4Net;

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

/// A port of the routing mesh on this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshPort {
    /// `tcp` or `udp`.
    pub protocol: String,
    pub port: u16,
    pub target: u16,
    pub backends: Vec<Ipv4Addr>,
    /// Hand connections over with the client's own address as their
    /// source (the backends must then all be this node's tasks, whose
    /// answers come back through this node's leg: see
    /// [`crate::OverlayLink::reply_gateway`]).
    pub keep_source: bool,
}

/// The conntrack mark of mesh connections that keep their client's
/// source: the postrouting chain leaves them unmasqueraded.
pub const KEEP_SOURCE_MARK: u32 = 0x6265_7274;

/// The `nft -f` script of the routing mesh in the node's own namespace:
/// connections to a published port on any local address (but loopback,
/// which cannot be routed out) go round robin to the tasks' addresses on
/// the ingress network, leaving through `leg` (the node's interface on
/// it) with the node's address there as their source, so that the answers
/// come back through this node whichever node runs the task. Ports that
/// keep the client's source are marked instead of masqueraded: their
/// backends run here and answer through this node's leg by their own
/// routing.
pub fn mesh_ruleset(table: &str, leg: &str, ports: &[MeshPort]) -> String {
    let mut s = format!("table ip {table} {{}}\ndelete table ip {table}\n");
    let served: Vec<&MeshPort> = ports.iter().filter(|p| !p.backends.is_empty()).collect();
    if served.is_empty() {
        return s;
    }
    let mut rules = String::new();
    for p in &served {
        let map: Vec<String> = p
            .backends
            .iter()
            .enumerate()
            .map(|(i, b)| format!("{i} : {b}"))
            .collect();
        let mark = if p.keep_source {
            format!("ct mark set {KEEP_SOURCE_MARK:#x} ")
        } else {
            String::new()
        };
        rules.push_str(&format!(
            "    fib daddr type local {} dport {} {mark}dnat to numgen inc mod {} map {{ {} }} : {}\n",
            p.protocol,
            p.port,
            p.backends.len(),
            map.join(", "),
            p.target
        ));
    }
    s.push_str(&format!("table ip {table} {{\n"));
    s.push_str("  chain pre {\n    type nat hook prerouting priority -100; policy accept;\n");
    s.push_str(&rules);
    s.push_str("  }\n  chain out {\n    type nat hook output priority -100; policy accept;\n");
    s.push_str("    ip daddr 127.0.0.0/8 return\n");
    s.push_str(&rules);
    s.push_str("  }\n  chain post {\n    type nat hook postrouting priority 100; policy accept;\n");
    s.push_str(&format!(
        "    oifname \"{leg}\" ct mark != {KEEP_SOURCE_MARK:#x} masquerade\n  }}\n}}\n"
    ));
    s
}

/// Applies [`mesh_ruleset`] in the caller's namespace (the node's).
pub fn apply_mesh(table: &str, leg: &str, ports: &[MeshPort]) -> Result<()> {
    run_nft(None, &mesh_ruleset(table, leg, ports))
}

/// Applies [`ruleset`] inside the network namespace at `netns`.
pub fn apply_in(netns: &Path, table: &str, services: &[VirtualService]) -> Result<()> {
    run_nft(Some(netns), &ruleset(table, services))
}

/// How the service VIPs of one network are balanced in a client
/// container's namespace: the daemon's `--service-lb` picks one.
pub trait VipBalancer: Send + Sync {
    /// Makes the VIPs of the network with `subnet` in the namespace at
    /// `netns` exactly `services`; `table` names this network's rules
    /// there ([`table_name`]).
    fn apply(
        &self,
        netns: &Path,
        table: &str,
        subnet: Ipv4Net,
        services: &[VirtualService],
    ) -> Result<()>;
}

/// nftables' NAT with `numgen` (the default: this kernel family's
/// nftables has it everywhere).
pub struct NftVips;

impl VipBalancer for NftVips {
    fn apply(
        &self,
        netns: &Path,
        table: &str,
        _: Ipv4Net,
        services: &[VirtualService],
    ) -> Result<()> {
        apply_in(netns, table, services)
    }
}

/// IPVS, as dockerd balances VIPs: packets to a VIP get a firewall mark
/// (iptables' mangle table), IPVS schedules each new connection of a mark
/// round robin over the VIP's backends and NATs it; a VIP without backends
/// is refused in the filter table. The mark of a VIP is its address, so
/// marks are stable across changes and the services of one network are the
/// marks in its subnet ([`crate::ipvs::sync`] leaves other networks' alone).
pub struct IpvsVips {
    /// The iptables program (`iptables`, or `iptables-legacy` where the
    /// kernel has no nftables for IPv4).
    pub iptables: String,
}

impl IpvsVips {
    /// An `iptables-restore --noflush` script that makes the chain `chain`
    /// of the mangle and filter tables mark and refuse as `services` ask.
    pub fn rules(chain: &str, services: &[VirtualService]) -> String {
        let mut s = format!("*mangle\n:{chain} - [0:0]\n");
        for svc in services.iter().filter(|v| !v.backends.is_empty()) {
            s.push_str(&format!(
                "-A {chain} -d {}/32 -j MARK --set-xmark {:#x}/0xffffffff\n",
                svc.vip,
                u32::from(svc.vip)
            ));
        }
        s.push_str(&format!("COMMIT\n*filter\n:{chain} - [0:0]\n"));
        for svc in services.iter().filter(|v| v.backends.is_empty()) {
            s.push_str(&format!(
                "-A {chain} -d {}/32 -p tcp -j REJECT --reject-with tcp-reset\n",
                svc.vip
            ));
            s.push_str(&format!(
                "-A {chain} -d {}/32 -j REJECT --reject-with icmp-port-unreachable\n",
                svc.vip
            ));
        }
        s.push_str("COMMIT\n");
        s
    }

    /// Runs iptables (or, with `stdin`, iptables-restore) in `netns`:
    /// whether it succeeded, and its error output.
    fn iptables(&self, netns: &Path, args: &[&str], stdin: Option<&str>) -> Result<(bool, String)> {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net={}", netns.display()));
        let program = if stdin.is_some() {
            format!("{}-restore", self.iptables)
        } else {
            self.iptables.clone()
        };
        cmd.arg(&program).args(args);
        let command = format!("{program} {}", args.join(" "));
        let out =
            run_with_stdin(&mut cmd, stdin.unwrap_or("")).map_err(|e| NetError::Firewall {
                command: command.clone(),
                stderr: e.to_string(),
            })?;
        Ok((
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }

    /// Makes `OUTPUT` of `table` jump to `chain` once (`present`), or not at all.
    fn jump(&self, netns: &Path, table: &str, chain: &str, present: bool) -> Result<()> {
        let (exists, _) = self.iptables(
            netns,
            &["-w", "-t", table, "-C", "OUTPUT", "-j", chain],
            None,
        )?;
        let change = match (exists, present) {
            (false, true) => "-I",
            (true, false) => "-D",
            _ => return Ok(()),
        };
        match self.iptables(
            netns,
            &["-w", "-t", table, change, "OUTPUT", "-j", chain],
            None,
        )? {
            (true, _) => Ok(()),
            (false, stderr) => Err(NetError::Firewall {
                command: format!("{} -t {table} {change} OUTPUT -j {chain}", self.iptables),
                stderr,
            }),
        }
    }
}

impl VipBalancer for IpvsVips {
    fn apply(
        &self,
        netns: &Path,
        table: &str,
        subnet: Ipv4Net,
        services: &[VirtualService],
    ) -> Result<()> {
        use std::collections::BTreeMap;
        let chain = table.to_uppercase();
        let wanted: BTreeMap<u32, Vec<crate::ipvs::Dest>> = services
            .iter()
            .filter(|v| !v.backends.is_empty())
            .map(|v| {
                let mut dests: Vec<_> = v
                    .backends
                    .iter()
                    .map(|b| crate::ipvs::Dest { addr: *b, port: 0 })
                    .collect();
                dests.sort_unstable();
                dests.dedup();
                (u32::from(v.vip), dests)
            })
            .collect();
        let range = u32::from(subnet.network())..u32::from(subnet.broadcast()).saturating_add(1);
        // New marks get their service before a rule sets them, and old
        // services go only once no rule sets their mark.
        in_netns(netns, {
            let (range, wanted) = (range.clone(), wanted.clone());
            move || {
                let mut ipvs = crate::ipvs::Ipvs::open()?;
                // Connections to a backend that went are dropped at once (the
                // client retries and gets a live one), and conntrack sees
                // IPVS's connections, as dockerd sets both.
                crate::sysctl::ensure("net.ipv4.vs.expire_nodest_conn", "1")?;
                crate::sysctl::ensure("net.ipv4.vs.conntrack", "1")?;
                crate::ipvs::add_and_update(&mut ipvs, range, &wanted)
            }
        })?;
        if services.is_empty() {
            for t in ["mangle", "filter"] {
                self.jump(netns, t, &chain, false)?;
                for op in ["-F", "-X"] {
                    self.iptables(netns, &["-w", "-t", t, op, &chain], None)?;
                }
            }
        } else {
            let script = Self::rules(&chain, services);
            if let (false, stderr) = self.iptables(netns, &["-w", "--noflush"], Some(&script))? {
                return Err(NetError::Firewall {
                    command: format!("{}-restore --noflush", self.iptables),
                    stderr,
                });
            }
            for t in ["mangle", "filter"] {
                self.jump(netns, t, &chain, true)?;
            }
        }
        in_netns(netns, move || {
            let mut ipvs = crate::ipvs::Ipvs::open()?;
            crate::ipvs::sync(&mut ipvs, range, &wanted)
        })
    }
}

/// Runs `f` on a thread of its own in the network namespace at `netns`:
/// setns() moves only the calling thread, and that thread ends with `f`.
/// The blocking sibling of `netlink::in_netns`, for callers already on a
/// blocking thread that need no netlink route handle.
fn in_netns<T: Send + 'static>(
    netns: &Path,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let ns = std::fs::File::open(netns).map_err(crate::error::io_err(format!(
        "open network namespace {}",
        netns.display()
    )))?;
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
                    NetError::Io {
                        op: "enter the network namespace".into(),
                        source: e.into(),
                    }
                })?;
                f()
            })
            .join()
            .unwrap_or_else(|_| {
                Err(NetError::Io {
                    op: "network namespace thread".into(),
                    source: std::io::Error::other("panicked"),
                })
            })
    })
}

/// Runs `cmd` with `stdin` written to it, its output discarded and its
/// errors kept.
fn run_with_stdin(cmd: &mut Command, stdin: &str) -> std::io::Result<std::process::Output> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut pipe) = child.stdin.take() {
        pipe.write_all(stdin.as_bytes())?;
    }
    child.wait_with_output()
}

/// Runs `nft -f -` with `script`, inside `netns` if given.
fn run_nft(netns: Option<&Path>, script: &str) -> Result<()> {
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("nsenter");
            c.arg(format!("--net={}", ns.display())).arg("nft");
            c
        }
        None => Command::new("nft"),
    };
    let fail = |stderr: String| NetError::Firewall {
        command: match netns {
            Some(ns) => format!("nsenter --net={} nft -f -", ns.display()),
            None => "nft -f -".into(),
        },
        stderr,
    };
    cmd.args(["-f", "-"]);
    let out = run_with_stdin(&mut cmd, script).map_err(|e| fail(e.to_string()))?;
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
    fn the_mesh_sends_local_ports_to_the_tasks_and_masquerades_on_the_leg() {
        let s = mesh_ruleset(
            "m",
            "bing1000",
            &[
                MeshPort {
                    protocol: "tcp".into(),
                    port: 8080,
                    target: 80,
                    backends: vec![ip("10.0.0.5"), ip("10.0.0.6")],
                    keep_source: false,
                },
                MeshPort {
                    protocol: "udp".into(),
                    port: 53,
                    target: 53,
                    backends: vec![],
                    keep_source: false,
                },
                MeshPort {
                    protocol: "tcp".into(),
                    port: 8443,
                    target: 443,
                    backends: vec![ip("10.0.0.7")],
                    keep_source: true,
                },
            ],
        );
        let rule = "fib daddr type local tcp dport 8080 dnat to numgen inc mod 2 map { 0 : 10.0.0.5, 1 : 10.0.0.6 } : 80";
        assert_eq!(s.matches(rule).count(), 2, "prerouting and output: {s}");
        assert!(s.contains("oifname \"bing1000\" ct mark != 0x62657274 masquerade"));
        let keep = "tcp dport 8443 ct mark set 0x62657274 dnat to numgen inc mod 1 map { 0 : 10.0.0.7 } : 443";
        assert_eq!(s.matches(keep).count(), 2, "{s}");
        assert!(!s.contains("udp"), "a port nothing serves is not forwarded");
        assert_eq!(
            mesh_ruleset("m", "x", &[]),
            "table ip m {}\ndelete table ip m\n"
        );
    }

    #[test]
    fn ipvs_marks_a_served_vip_with_its_address_and_refuses_an_empty_one() {
        let s = IpvsVips::rules(
            "BERTH-LB-X",
            &[
                VirtualService {
                    vip: ip("10.0.1.2"),
                    backends: vec![ip("10.0.1.3")],
                },
                VirtualService {
                    vip: ip("10.0.1.9"),
                    backends: vec![],
                },
            ],
        );
        assert_eq!(
            s,
            "*mangle\n:BERTH-LB-X - [0:0]\n\
             -A BERTH-LB-X -d 10.0.1.2/32 -j MARK --set-xmark 0xa000102/0xffffffff\n\
             COMMIT\n*filter\n:BERTH-LB-X - [0:0]\n\
             -A BERTH-LB-X -d 10.0.1.9/32 -p tcp -j REJECT --reject-with tcp-reset\n\
             -A BERTH-LB-X -d 10.0.1.9/32 -j REJECT --reject-with icmp-port-unreachable\n\
             COMMIT\n"
        );
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
