//! Real bridges and veths between namespaces the tests create (root only).

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use std::net::Ipv4Addr;

use common::{Netns, sh};
use network::{BridgeOwnership, Ipam, Network, NetworkConfig, cleanup_stale, mac_from_ip};

fn config(id: &str, bridge: &str, subnet: &str) -> NetworkConfig {
    let mut c = NetworkConfig::bridge(id, id, subnet.parse().unwrap());
    c.bridge_name = bridge.to_string();
    c
}

fn links(ns: &Netns) -> Vec<String> {
    ns.links()
}

#[test]
fn containers_on_one_bridge_reach_each_other_and_the_gateway() {
    let host = Netns::new("berth-nt-a-host");
    host.block_on(|| async {
        let c1 = Netns::new("berth-nt-a-c1");
        let c2 = Netns::new("berth-nt-a-c2");
        let state = tempfile::tempdir().unwrap();
        let cfg = config("nta", "bnta0", "10.199.1.0/24");
        let mut ipam = Ipam::open(state.path(), &cfg).unwrap();
        let net = Network::new(cfg.clone()).unwrap();
        net.ensure_bridge().await.unwrap();
        // Idempotent: a restarted daemon calls it again.
        net.ensure_bridge().await.unwrap();
        let br = host.ip(&["-4", "-o", "addr", "show", "dev", "bnta0"]);
        assert!(br.contains("10.199.1.1/24"), "{br}");
        assert_eq!(
            std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward")
                .unwrap()
                .trim(),
            "1"
        );

        let bridge_mac = || host.ip(&["-o", "link", "show", "dev", "bnta0"]);
        let mac_before = bridge_mac();
        let ip1 = ipam.allocate(None).unwrap();
        let ip2 = ipam.allocate(None).unwrap();
        let ep1 = net
            .attach(&c1.path(), "eth0", ip1, mac_from_ip(ip1))
            .await
            .unwrap();
        let ep2 = net
            .attach(&c2.path(), "eth0", ip2, mac_from_ip(ip2))
            .await
            .unwrap();
        assert_eq!(ep1.mac, "02:42:0a:c7:01:02");
        assert_eq!(ep1.gateway, Some(cfg.gateway));
        assert!(ep1.host_ifname.starts_with("veth") && ep1.host_ifname.len() <= 15);

        let eth0 = c1.ip(&["-o", "addr", "show", "dev", "eth0"]);
        assert!(eth0.contains("10.199.1.2/24"), "{eth0}");
        let link = c1.ip(&["link", "show", "dev", "eth0"]);
        assert!(
            link.contains("02:42:0a:c7:01:02") && link.contains("UP"),
            "{link}"
        );
        assert!(c1.ip(&["link", "show", "dev", "lo"]).contains("UP"));
        let routes = c1.ip(&["route"]);
        assert!(
            routes.contains("default via 10.199.1.1 dev eth0"),
            "{routes}"
        );
        let host_side = host.ip(&["link", "show", "dev", &ep1.host_ifname]);
        assert!(host_side.contains("master bnta0"), "{host_side}");

        assert_eq!(
            mac_before.split("link/ether ").nth(1).map(|m| &m[..17]),
            bridge_mac().split("link/ether ").nth(1).map(|m| &m[..17]),
            "bridge MAC changed when ports were added"
        );
        assert!(c1.ping(ip2), "c1 -> c2");
        assert!(c2.ping(ip1), "c2 -> c1");
        assert!(c1.ping(cfg.gateway), "c1 -> gateway");

        net.detach(&ep1).await.unwrap();
        net.detach(&ep2).await.unwrap();
        // Detaching twice is fine.
        net.detach(&ep2).await.unwrap();
        assert!(!c1.ip(&["-o", "link"]).contains("eth0"));
        net.remove_bridge().await.unwrap();
        net.remove_bridge().await.unwrap();
        assert_eq!(links(&host), vec!["lo".to_string()]);
    });
}

#[test]
fn internal_network_has_no_default_route() {
    let host = Netns::new("berth-nt-b-host");
    host.block_on(|| async {
        let c = Netns::new("berth-nt-b-c1");
        let mut cfg = config("ntb", "bntb0", "10.199.2.0/24");
        cfg.internal = true;
        cfg.options.insert(network::OPT_MTU.into(), "1400".into());
        let net = Network::new(cfg.clone()).unwrap();
        net.ensure_bridge().await.unwrap();
        let ip: Ipv4Addr = "10.199.2.7".parse().unwrap();
        let ep = net
            .attach(&c.path(), "eth0", ip, mac_from_ip(ip))
            .await
            .unwrap();
        assert_eq!(ep.gateway, None);
        assert!(c.ip(&["link", "show", "dev", "eth0"]).contains("mtu 1400"));
        assert!(
            host.ip(&["link", "show", "dev", &ep.host_ifname])
                .contains("mtu 1400")
        );
        let routes = c.ip(&["route"]);
        assert!(!routes.contains("default"), "{routes}");
        assert!(routes.contains("10.199.2.0/24 dev eth0"), "{routes}");
        // The bridge itself is still reachable on the link.
        assert!(c.ping(cfg.gateway));
        net.detach(&ep).await.unwrap();
        net.remove_bridge().await.unwrap();
        assert_eq!(links(&host), vec!["lo".to_string()]);
    });
}

#[test]
fn attach_failure_leaves_no_veth_behind() {
    let host = Netns::new("berth-nt-c-host");
    host.block_on(|| async {
        let net = Network::new(config("ntc", "bntc0", "10.199.3.0/24")).unwrap();
        net.ensure_bridge().await.unwrap();
        let ip: Ipv4Addr = "10.199.3.2".parse().unwrap();
        let missing = std::path::Path::new("/run/netns/berth-nt-c-does-not-exist");
        assert!(
            net.attach(missing, "eth0", ip, mac_from_ip(ip))
                .await
                .is_err()
        );
        // An address outside the subnet is refused before touching the kernel.
        let c = Netns::new("berth-nt-c-c1");
        let outside: Ipv4Addr = "10.199.4.2".parse().unwrap();
        let err = net
            .attach(&c.path(), "eth0", outside, mac_from_ip(outside))
            .await;
        assert!(matches!(err, Err(network::NetError::OutOfSubnet { .. })));
        assert_eq!(links(&host), vec!["lo".to_string(), "bntc0".to_string()]);
    });
}

#[test]
fn cleanup_stale_removes_leftover_bridges_and_veths() {
    let host = Netns::new("berth-nt-d-host");
    host.block_on(|| async {
        let c = Netns::new("berth-nt-d-c1");
        let keep = Network::new(config("ntd1", "bntdkeep", "10.199.5.0/24")).unwrap();
        let stale = Network::new(config("ntd2", "bntdold", "10.199.6.0/24")).unwrap();
        keep.ensure_bridge().await.unwrap();
        stale.ensure_bridge().await.unwrap();
        let ip: Ipv4Addr = "10.199.6.2".parse().unwrap();
        let ep = stale
            .attach(&c.path(), "eth0", ip, mac_from_ip(ip))
            .await
            .unwrap();
        // A half-finished attach: the pending peer never left the host.
        let dead = network::pending_peer_name("bntdkeep", 0xdead);
        sh(
            "ip",
            &[
                "-n", &host.name, "link", "add", "vethdead", "type", "veth", "peer", "name", &dead,
            ],
        );
        // Another daemon's attach in progress on this host: not ours to touch.
        let foreign = network::pending_peer_name("bother0", 0xbeef);
        sh(
            "ip",
            &[
                "-n", &host.name, "link", "add", "vethlive", "type", "veth", "peer", "name",
                &foreign,
            ],
        );

        let report = cleanup_stale("bntd", &["bntdkeep"]).await.unwrap();
        assert_eq!(report.bridges, vec!["bntdold".to_string()]);
        assert!(report.veths.contains(&ep.host_ifname), "{report:?}");
        assert!(report.veths.contains(&dead), "{report:?}");
        let mut left = links(&host);
        left.sort();
        let mut want = vec![
            "bntdkeep".to_string(),
            foreign.clone(),
            "lo".to_string(),
            "vethlive".to_string(),
        ];
        want.sort();
        assert_eq!(left, want);
        // The container lost its interface with the pair.
        assert!(!c.ip(&["-o", "link"]).contains("eth0"));
    });
}

/// A daemon owns what it made: the bridge it created goes whole, the
/// address it gave a bridge it found goes alone, and a bridge and address
/// it found stay.
#[test]
fn release_takes_away_only_what_ensure_bridge_added() {
    let host = Netns::new("berth-nt-e-host");
    host.block_on(|| async {
        let addrs = |name: &str| -> Vec<String> {
            host.ip(&["-4", "-o", "addr", "show", "dev", name])
                .lines()
                .filter_map(|l| l.split_whitespace().nth(3).map(String::from))
                .collect()
        };
        // Made here: the device and its address.
        let made = Network::new(config("nte1", "bnte0", "10.199.7.0/24")).unwrap();
        let owned = made.ensure_bridge().await.unwrap();
        assert_eq!(owned, BridgeOwnership::ALL);
        // A restart finds both and adds nothing.
        assert!(made.ensure_bridge().await.unwrap().is_empty());
        assert_eq!(
            network::link_ipv4_addresses("bnte0").await.unwrap(),
            Some(vec![("10.199.7.1".parse().unwrap(), 24)])
        );
        made.release(owned).await.unwrap();
        assert!(!links(&host).contains(&"bnte0".to_string()));
        assert_eq!(network::link_ipv4_addresses("bnte0").await.unwrap(), None);

        // Found bare: only the address is ours.
        sh(
            "ip",
            &["-n", &host.name, "link", "add", "bnte1", "type", "bridge"],
        );
        sh(
            "ip",
            &[
                "-n",
                &host.name,
                "addr",
                "add",
                "10.199.8.1/24",
                "dev",
                "bnte1",
            ],
        );
        let found = Network::new(config("nte2", "bnte1", "10.199.9.0/24")).unwrap();
        let owned = found.ensure_bridge().await.unwrap();
        assert_eq!(
            owned,
            BridgeOwnership {
                link: false,
                address: true
            }
        );
        assert_eq!(addrs("bnte1"), ["10.199.8.1/24", "10.199.9.1/24"]);
        found.release(owned).await.unwrap();
        assert_eq!(addrs("bnte1"), ["10.199.8.1/24"]);

        // Found with its address: nothing is ours, nothing goes.
        let adopted = Network::new(config("nte3", "bnte1", "10.199.8.0/24")).unwrap();
        let owned = adopted.ensure_bridge().await.unwrap();
        assert!(owned.is_empty());
        adopted.release(owned).await.unwrap();
        assert_eq!(addrs("bnte1"), ["10.199.8.1/24"]);
        assert!(links(&host).contains(&"bnte1".to_string()));
    });
}
