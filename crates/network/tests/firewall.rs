//! Firewall backends against real traffic between test namespaces: NAT from
//! the (namespaced) host's loopback, hairpin, isolation, and full removal.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr};

use common::{Listener, Netns, UdpEcho, fetch, have, ruleset, sh, udp_ask};
use network::{
    Firewall, IptablesFirewall, NetError, Network, NetworkConfig, NftablesFirewall, NoFirewall,
    PortMapping, Protocol, mac_from_ip,
};

fn config(id: &str, bridge: &str, subnet: &str, internal: bool) -> NetworkConfig {
    let mut c = NetworkConfig::bridge(id, id, subnet.parse().unwrap());
    c.bridge_name = bridge.to_string();
    c.internal = internal;
    c
}

fn links(ns: &Netns) -> Vec<String> {
    ns.ip(&["-o", "link", "show"])
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap().to_string())
        .collect()
}

/// The whole life of two networks and a published port; `tag` makes
/// namespace and bridge names unique, `n` the subnets.
fn roundtrip(tag: &str, n: u8, fw: Box<dyn Firewall>, listing: &[&[&str]]) {
    let host = Netns::new(&format!("berth-fw-{tag}-host"));
    host.block_on(|| async {
        sh("ip", &["-n", &host.name, "link", "set", "lo", "up"]);
        let c1 = Netns::new(&format!("berth-fw-{tag}-c1"));
        let c2 = Netns::new(&format!("berth-fw-{tag}-c2"));
        let c3 = Netns::new(&format!("berth-fw-{tag}-c3"));
        let c4 = Netns::new(&format!("berth-fw-{tag}-c4"));
        // Stands in for the outside world: a peer reached through a routed
        // link of the host, never a real outside address.
        let ext = Netns::new(&format!("berth-fw-{tag}-ext"));
        let (uplink, ext_ip) = (format!("bf{tag}up"), Ipv4Addr::new(10, 199, n + 3, 2));
        let uplink_ip = Ipv4Addr::new(10, 199, n + 3, 1);
        host.ip(&[
            "link", "add", &uplink, "type", "veth", "peer", "name", "eth0", "netns", &ext.name,
        ]);
        host.ip(&["addr", "add", &format!("{uplink_ip}/24"), "dev", &uplink]);
        host.ip(&["link", "set", &uplink, "up"]);
        ext.ip(&["addr", "add", &format!("{ext_ip}/24"), "dev", "eth0"]);
        ext.ip(&["link", "set", "eth0", "up"]);
        let _ext_server = Listener::start_with(&ext, 9090, |peer| peer.ip().to_string());
        let a = config(
            &format!("fw{tag}a"),
            &format!("bf{tag}a"),
            &format!("10.199.{n}.0/24"),
            false,
        );
        let b = config(
            &format!("fw{tag}b"),
            &format!("bf{tag}b"),
            &format!("10.199.{}.0/24", n + 1),
            true,
        );
        let c = config(
            &format!("fw{tag}c"),
            &format!("bf{tag}c"),
            &format!("10.199.{}.0/24", n + 2),
            false,
        );
        let net_a = Network::new(a.clone()).unwrap();
        let net_b = Network::new(b.clone()).unwrap();
        let net_c = Network::new(c.clone()).unwrap();
        for net in [&net_a, &net_b, &net_c] {
            net.ensure_bridge().await.unwrap();
            fw.setup_network(net.config()).unwrap();
        }
        // Replaying setup (daemon restart) must not duplicate rules.
        let before = ruleset(listing);
        fw.setup_network(&a).unwrap();
        assert_eq!(
            before.matches("10.199.").count(),
            ruleset(listing).matches("10.199.").count()
        );

        let ip = |last: u8, net: u8| Ipv4Addr::new(10, 199, net, last);
        let (ip1, ip2, ip3, ip4) = (ip(2, n), ip(3, n), ip(2, n + 1), ip(2, n + 2));
        let ep1 = net_a
            .attach(&c1.path(), "eth0", ip1, mac_from_ip(ip1))
            .await
            .unwrap();
        let ep2 = net_a
            .attach(&c2.path(), "eth0", ip2, mac_from_ip(ip2))
            .await
            .unwrap();
        let ep3 = net_b
            .attach(&c3.path(), "eth0", ip3, mac_from_ip(ip3))
            .await
            .unwrap();
        let ep4 = net_c
            .attach(&c4.path(), "eth0", ip4, mac_from_ip(ip4))
            .await
            .unwrap();
        let _server = Listener::start(&c1, 8080, "hello from c1");

        let loopback = PortMapping {
            proto: Protocol::Tcp,
            host_ip: Some(Ipv4Addr::LOCALHOST),
            host_port: 18080,
            container_ip: ip1,
            container_port: 8080,
        };
        let any = PortMapping {
            host_ip: None,
            host_port: 18081,
            ..loopback.clone()
        };
        let local = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        fw.add_port_mapping(&a, &loopback).unwrap();
        fw.add_port_mapping(&a, &loopback).unwrap();
        fw.add_port_mapping(&a, &any).unwrap();
        let _udp = UdpEcho::start(&c1, 8082);
        let udp = PortMapping {
            proto: Protocol::Udp,
            host_port: 18082,
            container_port: 8082,
            ..loopback.clone()
        };
        fw.add_port_mapping(&a, &udp).unwrap();
        assert_eq!(udp_ask(local(18082), "ping").as_deref(), Some("echo:ping"));
        fw.remove_port_mapping(&a, &udp).unwrap();
        assert_eq!(udp_ask(local(18082), "again"), None);

        // From the host's loopback to the container.
        assert_eq!(fetch(local(18080)).unwrap(), "hello from c1");
        // The all-addresses mapping also covers loopback...
        assert_eq!(fetch(local(18081)).unwrap(), "hello from c1");
        // ...and hairpin: a container on the same bridge via the gateway.
        let via_gw = SocketAddr::from((a.gateway, 18081));
        assert_eq!(c2.run(|| fetch(via_gw)).unwrap(), "hello from c1");
        // The loopback-only mapping is not reachable on the gateway address.
        assert!(
            c2.run(|| fetch(SocketAddr::from((a.gateway, 18080))))
                .is_err()
        );

        // Egress is masqueraded behind the host's uplink address.
        let ext_addr = SocketAddr::from((ext_ip, 9090));
        assert_eq!(c1.run(|| fetch(ext_addr)).unwrap(), uplink_ip.to_string());
        // Published ports answer clients from outside too.
        let published = SocketAddr::from((uplink_ip, 18081));
        assert_eq!(ext.run(|| fetch(published)).unwrap(), "hello from c1");

        // Isolation: two ordinary networks cannot talk through the host;
        // the internal one has no route out, and even with a route added by
        // hand its traffic is not forwarded.
        assert!(c1.ping(ip2));
        assert!(c4.ping(c.gateway));
        assert!(!c1.ping(ip4), "c1 reached another network");
        assert!(!c4.ping(ip1), "c4 reached another network");
        assert!(!c3.ip(&["route"]).contains("default"));
        assert!(c3.ping(b.gateway));
        c3.ip(&["route", "add", "default", "via", &b.gateway.to_string()]);
        assert!(!c3.ping(ip1), "internal network forwarded traffic out");
        assert!(
            c3.run(|| fetch(ext_addr)).is_err(),
            "internal network reached outside"
        );
        assert!(!c1.ping(ip3), "c1 reached the internal network");

        fw.remove_port_mapping(&a, &loopback).unwrap();
        let err = fetch(local(18080)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
        assert_eq!(fetch(local(18081)).unwrap(), "hello from c1");
        fw.remove_port_mapping(&a, &any).unwrap();
        assert_eq!(
            fetch(local(18081)).unwrap_err().kind(),
            ErrorKind::ConnectionRefused
        );

        for net in [&net_a, &net_b, &net_c] {
            fw.teardown_network(net.config()).unwrap();
        }
        let after = ruleset(listing);
        assert!(
            !after.contains("10.199."),
            "rules left after teardown:\n{after}"
        );
        // Control: it was the firewall that kept the networks apart.
        assert!(c1.ping(ip4), "networks still isolated after teardown");
        assert!(
            c3.ping(ip1),
            "internal network still blocked after teardown"
        );
        for (net, ep) in [
            (&net_a, &ep1),
            (&net_a, &ep2),
            (&net_b, &ep3),
            (&net_c, &ep4),
        ] {
            net.detach(ep).await.unwrap();
        }
        for net in [&net_a, &net_b, &net_c] {
            net.remove_bridge().await.unwrap();
        }
        fw.cleanup_all().unwrap();
        fw.cleanup_all().unwrap();
        let after = ruleset(listing);
        assert!(
            !after.contains("berth") && !after.contains("BERTH"),
            "left after cleanup_all:\n{after}"
        );
        host.ip(&["link", "del", &uplink]);
        assert_eq!(links(&host), vec!["lo".to_string()]);
    });
}

#[test]
fn nftables_backend() {
    assert!(
        NftablesFirewall::available(),
        "nft is installed on the test machine"
    );
    roundtrip(
        "n",
        20,
        Box::new(NftablesFirewall::new()),
        &[&["nft", "list", "ruleset"]],
    );
}

#[test]
fn iptables_backend() {
    let listing: &[&[&str]] = &[
        &["iptables", "-w", "-t", "nat", "-S"],
        &["iptables", "-w", "-t", "filter", "-S"],
    ];
    roundtrip(
        "i",
        30,
        Box::new(IptablesFirewall::new("iptables")),
        listing,
    );
}

#[test]
fn iptables_legacy_backend() {
    if !have("iptables-legacy") {
        eprintln!("iptables-legacy not installed, skipping");
        return;
    }
    let listing: &[&[&str]] = &[
        &["iptables-legacy", "-w", "-t", "nat", "-S"],
        &["iptables-legacy", "-w", "-t", "filter", "-S"],
    ];
    roundtrip(
        "l",
        40,
        Box::new(IptablesFirewall::new("iptables-legacy")),
        listing,
    );
}

#[test]
fn no_firewall_refuses_port_mappings_clearly() {
    let cfg = config("nofw", "bnofw", "10.199.50.0/24", false);
    let fw = NoFirewall;
    fw.setup_network(&cfg).unwrap();
    let m = PortMapping {
        proto: Protocol::Udp,
        host_ip: None,
        host_port: 5353,
        container_ip: "10.199.50.2".parse().unwrap(),
        container_port: 53,
    };
    let err = fw.add_port_mapping(&cfg, &m).unwrap_err();
    assert!(matches!(err, NetError::NoFirewall(_)));
    assert!(err.to_string().contains("publishing ports"), "{err}");
}

#[test]
fn detect_prefers_nftables() {
    let host = Netns::new("berth-fw-detect");
    let name = host.run(|| network::detect_firewall().name());
    assert_eq!(name, "nftables");
}
