//! Real macvlan/ipvlan ports on a veth parent, between namespaces the tests
//! create (root only). The parent's peer sits in a "lan" namespace holding
//! the gateway address, as a router on the parent's LAN would.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use common::Netns;
use network::macvlan::ParentOrigin;
use network::{EndpointAddrs, MacvlanConfig, MacvlanNetwork, NetError, NetworkConfig};

/// A host namespace with parent `p0`, whose peer is `lan0` (up, with
/// `gateway`/24) in its own namespace.
fn lan(tag: &str, gateway: &str) -> (Netns, Netns) {
    let host = Netns::new(&format!("berth-mv-{tag}-host"));
    let lan = Netns::new(&format!("berth-mv-{tag}-lan"));
    host.ip(&["link", "add", "p0", "type", "veth", "peer", "name", "lan0"]);
    host.ip(&["link", "set", "lan0", "netns", &lan.name]);
    host.ip(&["link", "set", "p0", "up"]);
    lan.ip(&["link", "set", "lan0", "up"]);
    lan.ip(&["addr", "add", &format!("{gateway}/24"), "dev", "lan0"]);
    (host, lan)
}

fn config(driver: &str, id: &str, subnet: &str, opts: &[(&str, &str)]) -> NetworkConfig {
    let options: BTreeMap<String, String> = opts
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let (link, internal) = MacvlanConfig::from_options(driver, id, &options, false).unwrap();
    let mut c = NetworkConfig::macvlan(id, id, subnet.parse().unwrap(), link);
    c.internal = internal;
    c.options = options;
    c
}

/// Whether this kernel makes links of `kind` (tried in a scratch namespace).
fn kernel_has(kind: &str, tag: &str) -> bool {
    let ns = Netns::new(&format!("berth-mv-{tag}-probe"));
    ns.ip(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
    let args: Vec<&str> = match kind {
        "vlan" => vec![
            "link", "add", "link", "v0", "name", "v0.9", "type", "vlan", "id", "9",
        ],
        "dummy" => vec!["link", "add", "d0", "type", "dummy"],
        other => vec!["link", "add", "link", "v0", "name", "x0", "type", other],
    };
    ns.exec(&[&["ip"][..], &args].concat()).status.success()
}

#[test]
fn macvlan_ports_get_address_route_and_mode_and_reach_the_lan() {
    let (host, lan) = lan("a", "10.199.50.1");
    host.block_on(|| async {
        let c1 = Netns::new("berth-mv-a-c1");
        let c2 = Netns::new("berth-mv-a-c2");
        let mut cfg = config(
            "macvlan",
            "mva0123456789",
            "10.199.50.0/24",
            &[("parent", "p0")],
        );
        let mut link = cfg.macvlan.clone().unwrap();
        link.create_parent().await.unwrap();
        assert_eq!(link.origin, ParentOrigin::Existing);
        cfg.macvlan = Some(link.clone());
        let net = MacvlanNetwork::new(cfg.clone()).unwrap();
        let ip1: Ipv4Addr = "10.199.50.2".parse().unwrap();
        let ip2: Ipv4Addr = "10.199.50.3".parse().unwrap();
        let ep1 = net
            .attach(&c1.path(), "eth0", &EndpointAddrs::v4(ip1))
            .await
            .unwrap();
        net.attach(&c2.path(), "eth1", &EndpointAddrs::v4(ip2))
            .await
            .unwrap();
        assert_eq!(ep1.mac, "02:42:0a:c7:32:02");
        assert_eq!(ep1.gateway, Some("10.199.50.1".parse().unwrap()));
        assert_eq!(ep1.host_ifname, "");
        let details = c1.ip(&["-d", "link", "show", "dev", "eth0"]);
        assert!(details.contains("macvlan mode bridge"), "{details}");
        assert!(details.contains("02:42:0a:c7:32:02"), "{details}");
        assert!(
            c1.ip(&["-o", "addr", "show", "dev", "eth0"])
                .contains("10.199.50.2/24")
        );
        assert!(
            c1.ip(&["route"])
                .contains("default via 10.199.50.1 dev eth0")
        );
        assert!(
            c2.ip(&["-d", "link", "show", "dev", "eth1"])
                .contains("macvlan")
        );
        assert!(c1.ping(ip2), "container to container through the parent");
        assert!(
            c1.ping("10.199.50.1".parse().unwrap()),
            "container to the LAN's router"
        );
        // Nothing of the ports (nor of the create-time probe) on the host.
        assert_eq!(host.links(), ["lo", "p0"]);

        net.detach(&c1.path(), "eth0").await.unwrap();
        net.detach(&c1.path(), "eth0").await.unwrap();
        assert!(!c1.links().contains(&"eth0".to_string()));
        link.release_parent().await.unwrap();
        assert_eq!(host.links(), ["lo", "p0"], "an existing parent stays");
    });
    drop(lan);
}

#[test]
fn private_mode_keeps_ports_apart_but_not_from_the_lan() {
    let (host, lan) = lan("b", "10.199.51.1");
    host.block_on(|| async {
        let c1 = Netns::new("berth-mv-b-c1");
        let c2 = Netns::new("berth-mv-b-c2");
        let cfg = config(
            "macvlan",
            "mvb0123456789",
            "10.199.51.0/24",
            &[("parent", "p0"), ("macvlan_mode", "private")],
        );
        let net = MacvlanNetwork::new(cfg).unwrap();
        let ip1: Ipv4Addr = "10.199.51.2".parse().unwrap();
        let ip2: Ipv4Addr = "10.199.51.3".parse().unwrap();
        net.attach(&c1.path(), "eth0", &EndpointAddrs::v4(ip1))
            .await
            .unwrap();
        net.attach(&c2.path(), "eth0", &EndpointAddrs::v4(ip2))
            .await
            .unwrap();
        assert!(
            c1.ip(&["-d", "link", "show", "dev", "eth0"])
                .contains("macvlan mode private")
        );
        assert!(c1.ping("10.199.51.1".parse().unwrap()));
        assert!(!c1.ping(ip2), "private ports do not see each other");
    });
    drop(lan);
}

#[test]
fn vlan_parents_are_made_and_removed_or_the_missing_support_is_named() {
    let has_vlan = kernel_has("vlan", "c");
    let (host, lan) = lan("c", "10.199.52.1");
    host.block_on(|| async {
        let cfg = config("macvlan", "mvc0123456789", "10.199.52.0/24", &[("parent", "p0.100")]);
        let mut link = cfg.macvlan.clone().unwrap();
        let made = link.create_parent().await;
        if has_vlan {
            made.unwrap();
            assert_eq!(link.origin, ParentOrigin::Vlan);
            let vlan = host.ip(&["-d", "link", "show", "dev", "p0.100"]);
            assert!(vlan.contains("vlan protocol 802.1Q id 100"), "{vlan}");
            link.release_parent().await.unwrap();
        } else {
            let err = made.unwrap_err();
            assert!(matches!(err, NetError::KernelLacks { .. }), "{err:?}");
            assert_eq!(
                err.to_string(),
                "failed to create p0.100 vlan link: the kernel has no 802.1q VLAN support (operation not supported); create p0.100 yourself or give an existing interface as -o parent"
            );
        }
        assert_eq!(host.links(), ["lo", "p0"]);
        let mut missing = config("macvlan", "mvc1", "10.199.53.0/24", &[("parent", "nosuch.7")]);
        let err = missing.macvlan.as_mut().unwrap().create_parent().await.unwrap_err();
        assert_eq!(err.to_string(), "-o parent interface does was not found on the host: nosuch");
        assert_eq!(host.links(), ["lo", "p0"]);
    });
    drop(lan);
}

#[test]
fn networks_without_a_parent_get_a_dummy_or_say_how_to_do_without() {
    let has_dummy = kernel_has("dummy", "d");
    let host = Netns::new("berth-mv-d-host");
    host.block_on(|| async {
        let cfg = config("macvlan", "mvd0123456789", "10.199.54.0/24", &[]);
        assert!(cfg.internal);
        let mut link = cfg.macvlan.clone().unwrap();
        let made = link.create_parent().await;
        if has_dummy {
            made.unwrap();
            assert!(host.links().contains(&"dm-mvd012345678".to_string()));
            link.release_parent().await.unwrap();
        } else {
            let msg = made.unwrap_err().to_string();
            assert!(msg.starts_with("failed to create the dummy parent link dm-mvd012345678: the kernel has no dummy link support"), "{msg}");
            assert!(msg.contains("-o parent=IFACE"), "{msg}");
        }
        assert_eq!(host.links(), ["lo"]);
    });
}

#[test]
fn ipvlan_ports_work_or_the_missing_kernel_support_is_named() {
    let has_ipvlan = kernel_has("ipvlan", "e");
    let (host, lan) = lan("e", "10.199.55.1");
    host.block_on(|| async {
        let cfg = config(
            "ipvlan",
            "mve0123456789",
            "10.199.55.0/24",
            &[("parent", "p0"), ("ipvlan_mode", "l3")],
        );
        let mut link = cfg.macvlan.clone().unwrap();
        let made = link.create_parent().await;
        if !has_ipvlan {
            let err = made.unwrap_err();
            assert_eq!(
                err.to_string(),
                "failed to create the ipvlan port: the kernel has no ipvlan support (operation not supported)"
            );
            assert_eq!(host.links(), ["lo", "p0"]);
            return;
        }
        made.unwrap();
        let c1 = Netns::new("berth-mv-e-c1");
        let net = MacvlanNetwork::new(cfg).unwrap();
        let ip1: Ipv4Addr = "10.199.55.2".parse().unwrap();
        let ep = net
            .attach(&c1.path(), "eth0", &EndpointAddrs::v4(ip1))
            .await
            .unwrap();
        assert_eq!((ep.gateway, ep.mac.as_str()), (None, ""));
        assert!(c1.ip(&["-d", "link", "show", "dev", "eth0"]).contains("ipvlan"));
        assert!(c1.ip(&["route"]).contains("default dev eth0"));
        assert_eq!(host.links(), ["lo", "p0"]);
    });
    drop(lan);
}
