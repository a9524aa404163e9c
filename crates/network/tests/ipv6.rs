//! Dual-stack bridges against real traffic between test namespaces: the
//! IPv6 gateway on the bridge, containers' IPv6 addresses and default
//! routes, NAT66 egress behind the host's uplink address, isolation of
//! internal networks, and removal of every IPv6 rule, on each backend.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Netns, fetch, ruleset};
use network::{
    EndpointAddrs, Firewall, IptablesFirewall, Ipv6Config, Network, NetworkConfig,
    NftablesFirewall, mac_from_ip,
};

fn dual_stack(id: &str, v4: &str, v6: &str, internal: bool) -> NetworkConfig {
    let mut c = NetworkConfig::bridge(id, id, v4.parse().unwrap());
    c.bridge_name = id.to_string();
    c.internal = internal;
    c.ipv6 = Some(Ipv6Config::new(v6.parse().unwrap()));
    c
}

/// A TCP server on `[::]:port` in `ns` that answers each client with its
/// address; stopped on drop.
struct PeerEcho(Arc<AtomicBool>, Option<std::thread::JoinHandle<()>>);

impl PeerEcho {
    fn start(ns: &Netns, port: u16) -> PeerEcho {
        let nsfile = std::fs::File::open(ns.path()).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let (ready, wait) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            nix::sched::setns(&nsfile, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let l = TcpListener::bind((Ipv6Addr::UNSPECIFIED, port)).unwrap();
            l.set_nonblocking(true).unwrap();
            ready.send(()).unwrap();
            while !stop2.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((mut s, peer)) => {
                        let _ = s.write_all(peer.ip().to_string().as_bytes());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        wait.recv().unwrap();
        PeerEcho(stop, Some(t))
    }
}

impl Drop for PeerEcho {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
        if let Some(t) = self.1.take() {
            let _ = t.join();
        }
    }
}

fn roundtrip(tag: &str, n: u16, fw: Box<dyn Firewall>, listing: &[&[&str]]) {
    let host = Netns::new(&format!("berth-v6-{tag}-host"));
    host.block_on(|| async {
        host.ip(&["link", "set", "lo", "up"]);
        let c1 = Netns::new(&format!("berth-v6-{tag}-c1"));
        let c3 = Netns::new(&format!("berth-v6-{tag}-c3"));
        let ext = Netns::new(&format!("berth-v6-{tag}-ext"));
        let uplink = format!("b6{tag}up");
        let (uplink_ip, ext_ip) = (
            format!("fd77:{n:x}:ff::1").parse::<Ipv6Addr>().unwrap(),
            format!("fd77:{n:x}:ff::2").parse::<Ipv6Addr>().unwrap(),
        );
        host.ip(&[
            "link", "add", &uplink, "type", "veth", "peer", "name", "eth0", "netns", &ext.name,
        ]);
        host.ip(&[
            "addr",
            "add",
            &format!("{uplink_ip}/64"),
            "dev",
            &uplink,
            "nodad",
        ]);
        host.ip(&["link", "set", &uplink, "up"]);
        ext.ip(&[
            "addr",
            "add",
            &format!("{ext_ip}/64"),
            "dev",
            "eth0",
            "nodad",
        ]);
        ext.ip(&["link", "set", "eth0", "up"]);
        let _echo = PeerEcho::start(&ext, 9090);

        let a = dual_stack(
            &format!("b6{tag}a"),
            &format!("10.198.{n}.0/24"),
            &format!("fd77:{n:x}:a::/64"),
            false,
        );
        let b = dual_stack(
            &format!("b6{tag}b"),
            &format!("10.198.{}.0/24", n + 1),
            &format!("fd77:{n:x}:b::/64"),
            true,
        );
        let net_a = Network::new(a.clone()).unwrap();
        let net_b = Network::new(b.clone()).unwrap();
        for net in [&net_a, &net_b] {
            net.ensure_bridge().await.unwrap();
            fw.setup_network(net.config()).unwrap();
        }
        let bridge = host.ip(&["-6", "addr", "show", "dev", &a.bridge_name]);
        assert!(bridge.contains(&format!("fd77:{n:x}:a::1/64")), "{bridge}");
        let forwarding = host.exec(&["cat", "/proc/sys/net/ipv6/conf/all/forwarding"]);
        assert_eq!(String::from_utf8_lossy(&forwarding.stdout).trim(), "1");

        let addrs = |v4: Ipv4Addr, v6: &str| EndpointAddrs {
            ip6: Some(v6.parse().unwrap()),
            mac: mac_from_ip(v4),
            ..EndpointAddrs::v4(v4)
        };
        let ip1 = Ipv4Addr::new(10, 198, n as u8, 2);
        let ip3 = Ipv4Addr::new(10, 198, n as u8 + 1, 2);
        let ep1 = net_a
            .attach_with(&c1.path(), "eth0", &addrs(ip1, &format!("fd77:{n:x}:a::2")))
            .await
            .unwrap();
        let ep3 = net_b
            .attach_with(&c3.path(), "eth0", &addrs(ip3, &format!("fd77:{n:x}:b::2")))
            .await
            .unwrap();
        assert_eq!(ep1.ip6, Some(format!("fd77:{n:x}:a::2").parse().unwrap()));
        assert_eq!(ep1.prefix_len6, 64);
        assert_eq!(ep1.gateway6, Some(a.ipv6.as_ref().unwrap().gateway));
        assert_eq!(
            ep3.gateway6, None,
            "internal networks have no default route"
        );
        let inside = c1.ip(&["-6", "addr", "show", "eth0"]);
        assert!(inside.contains(&format!("fd77:{n:x}:a::2/64")), "{inside}");
        let global = inside.lines().find(|l| l.contains("fd77:")).unwrap();
        assert!(!global.contains("tentative"), "no DAD wait: {inside}");
        let routes = c1.ip(&["-6", "route"]);
        assert!(
            routes.contains(&format!("default via fd77:{n:x}:a::1")),
            "{routes}"
        );

        // Egress is masqueraded behind the host's uplink address: the
        // outside namespace has no route back to fd77:n:a::/64.
        let ext_addr = SocketAddr::from((ext_ip, 9090));
        assert_eq!(c1.run(|| fetch(ext_addr)).unwrap(), uplink_ip.to_string());
        // The internal network goes nowhere, even with a route by hand.
        c3.ip(&[
            "-6",
            "route",
            "add",
            "default",
            "via",
            &format!("fd77:{n:x}:b::1"),
        ]);
        assert!(
            c3.run(|| fetch(ext_addr)).is_err(),
            "internal network reached outside"
        );

        for net in [&net_a, &net_b] {
            fw.teardown_network(net.config()).unwrap();
        }
        let after = ruleset(listing);
        assert!(
            !after.contains("fd77:"),
            "rules left after teardown:\n{after}"
        );
        net_a.detach(&ep1).await.unwrap();
        net_b.detach(&ep3).await.unwrap();
        for net in [&net_a, &net_b] {
            net.remove_bridge().await.unwrap();
        }
        fw.cleanup_all().unwrap();
        let after = ruleset(listing);
        assert!(
            !after.contains("berth") && !after.contains("BERTH"),
            "left after cleanup_all:\n{after}"
        );
    });
}

#[test]
fn nftables_backend_dual_stack() {
    roundtrip(
        "n",
        20,
        Box::new(NftablesFirewall::new()),
        &[&["nft", "list", "ruleset"]],
    );
}

#[test]
fn iptables_backend_dual_stack() {
    roundtrip(
        "i",
        30,
        Box::new(IptablesFirewall::new("iptables")),
        &[
            &["ip6tables", "-w", "-t", "nat", "-S"],
            &["ip6tables", "-w", "-t", "filter", "-S"],
            &["iptables", "-w", "-t", "nat", "-S"],
        ],
    );
}
