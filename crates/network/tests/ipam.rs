// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

use std::net::{Ipv4Addr, Ipv6Addr};

use network::{
    AddressPool, Ipam, Ipv6Config, NetError, NetworkConfig, allocate_subnet, check_overlap,
    default_pools,
};

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn net(subnet: &str) -> NetworkConfig {
    NetworkConfig::bridge("0123456789abcdef", "n1", subnet.parse().unwrap())
}

#[test]
fn allocates_in_order_skipping_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let mut ipam = Ipam::open(dir.path(), &net("10.199.0.0/24")).unwrap();
    assert_eq!(ipam.allocate(None).unwrap(), ip("10.199.0.2"));
    assert_eq!(ipam.allocate(None).unwrap(), ip("10.199.0.3"));
    assert_eq!(ipam.allocated(), vec![ip("10.199.0.2"), ip("10.199.0.3")]);
}

#[test]
fn exhaustion_never_hands_out_reserved_addresses() {
    let dir = tempfile::tempdir().unwrap();
    // /29: .0 network, .1 gateway, .7 broadcast -> .2 to .6 usable.
    let mut ipam = Ipam::open(dir.path(), &net("10.199.0.0/29")).unwrap();
    let got: Vec<_> = (0..5).map(|_| ipam.allocate(None).unwrap()).collect();
    assert_eq!(
        got,
        [
            "10.199.0.2",
            "10.199.0.3",
            "10.199.0.4",
            "10.199.0.5",
            "10.199.0.6"
        ]
        .map(ip)
    );
    assert!(matches!(ipam.allocate(None), Err(NetError::Exhausted(_))));
    for reserved in ["10.199.0.0", "10.199.0.1", "10.199.0.7"] {
        assert!(matches!(
            ipam.allocate(Some(ip(reserved))),
            Err(NetError::AddressReserved(_))
        ));
    }
}

#[test]
fn released_addresses_are_reused_after_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let mut ipam = Ipam::open(dir.path(), &net("10.199.0.0/29")).unwrap();
    for _ in 0..3 {
        ipam.allocate(None).unwrap(); // .2 .3 .4
    }
    ipam.release(ip("10.199.0.3")).unwrap();
    // Not reused at once: the allocator moves on first.
    assert_eq!(ipam.allocate(None).unwrap(), ip("10.199.0.5"));
    assert_eq!(ipam.allocate(None).unwrap(), ip("10.199.0.6"));
    // Wraps around to the freed one.
    assert_eq!(ipam.allocate(None).unwrap(), ip("10.199.0.3"));
    // Releasing an unknown address is a no-op.
    ipam.release(ip("10.199.0.200")).unwrap();
}

#[test]
fn preferred_address_and_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let mut ipam = Ipam::open(dir.path(), &net("10.199.0.0/24")).unwrap();
    assert_eq!(
        ipam.allocate(Some(ip("10.199.0.50"))).unwrap(),
        ip("10.199.0.50")
    );
    assert!(matches!(
        ipam.allocate(Some(ip("10.199.0.50"))),
        Err(NetError::AddressInUse(_))
    ));
    assert!(matches!(
        ipam.allocate(Some(ip("10.198.0.5"))),
        Err(NetError::OutOfSubnet { .. })
    ));
    // A preferred address does not move the sequential cursor.
    assert_eq!(ipam.allocate(None).unwrap(), ip("10.199.0.2"));
}

#[test]
fn ip_range_limits_dynamic_allocation() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = net("10.199.0.0/24");
    cfg.ip_range = Some("10.199.0.128/30".parse().unwrap());
    let mut ipam = Ipam::open(dir.path(), &cfg).unwrap();
    let got: Vec<_> = (0..4).map(|_| ipam.allocate(None).unwrap()).collect();
    assert_eq!(
        got,
        [
            "10.199.0.128",
            "10.199.0.129",
            "10.199.0.130",
            "10.199.0.131"
        ]
        .map(ip)
    );
    assert!(matches!(ipam.allocate(None), Err(NetError::Exhausted(_))));
}

#[test]
fn state_survives_reload_and_destroy_removes_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = net("10.199.0.0/24");
    {
        let mut ipam = Ipam::open(dir.path(), &cfg).unwrap();
        ipam.allocate(None).unwrap();
        ipam.allocate(None).unwrap();
        ipam.release(ip("10.199.0.2")).unwrap();
    }
    let mut ipam = Ipam::open(dir.path(), &cfg).unwrap();
    assert_eq!(ipam.allocated(), vec![ip("10.199.0.3")]);
    // The cursor was persisted too.
    assert_eq!(ipam.allocate(None).unwrap(), ip("10.199.0.4"));
    let file = dir.path().join(format!("{}.json", cfg.id));
    assert!(file.exists());
    // No temp file left behind by the atomic writes.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    ipam.destroy().unwrap();
    assert!(!file.exists());
}

#[test]
fn corrupt_state_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = net("10.199.0.0/24");
    std::fs::write(
        dir.path().join(format!("{}.json", cfg.id)),
        b"{\"subnet\": 12",
    )
    .unwrap();
    let err = Ipam::open(dir.path(), &cfg).unwrap_err();
    assert!(matches!(err, NetError::CorruptState { .. }), "{err}");
    assert!(err.to_string().contains("corrupt IPAM state file"), "{err}");

    // A state file of another subnet is refused rather than misused.
    let other = dir.path().join("other");
    let mut ipam = Ipam::open(&other, &cfg).unwrap();
    ipam.allocate(None).unwrap();
    let moved = net("10.199.1.0/24");
    let err = Ipam::open(&other, &moved).unwrap_err();
    assert!(matches!(err, NetError::CorruptState { .. }), "{err}");
}

#[test]
fn overlap_detection() {
    let a: ipnet::Ipv4Net = "10.199.0.0/16".parse().unwrap();
    let b = "10.199.5.0/24".parse().unwrap();
    let c = "10.200.0.0/24".parse().unwrap();
    let err = check_overlap(b, [("big", a)]).unwrap_err();
    assert!(matches!(&err, NetError::Overlap { other, .. } if other == "big"));
    assert!(check_overlap(a, [("small", b)]).is_err());
    check_overlap(c, [("big", a), ("small", b)]).unwrap();
}

#[test]
fn default_pool_allocation() {
    let pools = default_pools();
    let first = allocate_subnet(&pools, &[]).unwrap();
    assert_eq!(first, "172.17.0.0/16".parse().unwrap());
    let second = allocate_subnet(&pools, &[first]).unwrap();
    assert_eq!(second, "172.18.0.0/16".parse().unwrap());
    // A user subnet inside 172.19/16 makes the pool skip it.
    let third =
        allocate_subnet(&pools, &[first, second, "172.19.3.0/24".parse().unwrap()]).unwrap();
    assert_eq!(third, "172.20.0.0/16".parse().unwrap());

    let tiny = [AddressPool {
        base: "10.199.0.0/23".parse().unwrap(),
        size: 24,
    }];
    let a = allocate_subnet(&tiny, &[]).unwrap();
    let b = allocate_subnet(&tiny, &[a]).unwrap();
    assert_eq!(b, "10.199.1.0/24".parse().unwrap());
    assert!(matches!(
        allocate_subnet(&tiny, &[a, b]),
        Err(NetError::PoolExhausted)
    ));
}

fn ip6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

#[test]
fn ipv6_pools_hand_out_addresses_after_the_gateway_and_persist() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Ipv6Config::new("fd00:42::/64".parse().unwrap());
    assert_eq!(cfg.gateway, ip6("fd00:42::1"));
    let mut ipam = Ipam::open_v6(dir.path(), "net6", &cfg).unwrap();
    assert_eq!(ipam.allocate(None).unwrap(), ip6("fd00:42::2"));
    assert_eq!(ipam.allocate(None).unwrap(), ip6("fd00:42::3"));
    assert_eq!(
        ipam.allocate(Some(ip6("fd00:42::f00d"))).unwrap(),
        ip6("fd00:42::f00d")
    );
    for reserved in ["fd00:42::", "fd00:42::1"] {
        assert!(matches!(
            ipam.allocate(Some(ip6(reserved))),
            Err(NetError::AddressReserved(_))
        ));
    }
    assert!(matches!(
        ipam.allocate(Some(ip6("fd00:43::2"))),
        Err(NetError::OutOfSubnet { .. })
    ));
    // IPv6 has no broadcast: the last address of the subnet is a host's.
    let last = ip6("fd00:42::ffff:ffff:ffff:ffff");
    assert_eq!(ipam.allocate(Some(last)).unwrap(), last);
    drop(ipam);
    let mut again = Ipam::open_v6(dir.path(), "net6", &cfg).unwrap();
    assert_eq!(
        again.allocated(),
        vec![
            ip6("fd00:42::2"),
            ip6("fd00:42::3"),
            ip6("fd00:42::f00d"),
            last
        ]
    );
    assert!(matches!(
        again.allocate(Some(ip6("fd00:42::3"))),
        Err(NetError::AddressInUse(_))
    ));
    assert_eq!(again.allocate(None).unwrap(), ip6("fd00:42::4"));
    // The IPv4 pool of the same network lives in a file of its own.
    let v4 = Ipam::open(
        dir.path(),
        &NetworkConfig::bridge("net6", "n", "10.9.0.0/24".parse().unwrap()),
    )
    .unwrap();
    assert!(v4.allocated().is_empty());
}

#[test]
fn ipv6_ranges_wrap_and_exhaust_like_ipv4_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Ipv6Config::new("fd00:42::/120".parse().unwrap());
    // A /126 range: ::0 (subnet-router anycast) and ::1 (gateway) are
    // reserved, ::2 and ::3 are the only ones left.
    cfg.ip_range = Some("fd00:42::/126".parse().unwrap());
    let mut ipam = Ipam::open_v6(dir.path(), "r6", &cfg).unwrap();
    assert_eq!(ipam.allocate(None).unwrap(), ip6("fd00:42::2"));
    assert_eq!(ipam.allocate(None).unwrap(), ip6("fd00:42::3"));
    assert!(matches!(ipam.allocate(None), Err(NetError::Exhausted(_))));
    ipam.release(ip6("fd00:42::2")).unwrap();
    assert_eq!(ipam.allocate(None).unwrap(), ip6("fd00:42::2"));
}

#[test]
fn a_huge_ipv6_range_allocates_without_scanning_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Ipv6Config::new("fd00::/8".parse().unwrap());
    let mut ipam = Ipam::open_v6(dir.path(), "big", &cfg).unwrap();
    let got: Vec<Ipv6Addr> = (0..100).map(|_| ipam.allocate(None).unwrap()).collect();
    assert_eq!(got[0], ip6("fd00::2"));
    assert_eq!(got[99], ip6("fd00::65"));
}

#[test]
fn ipv6_subnets_overlap_only_with_ipv6_ones() {
    let a: ipnet::IpNet = "fd00:1::/64".parse().unwrap();
    let b: ipnet::IpNet = "fd00:1::/48".parse().unwrap();
    let v4: ipnet::IpNet = "10.0.0.0/8".parse().unwrap();
    assert!(matches!(
        check_overlap(a, [("other", b)]),
        Err(NetError::Overlap { .. })
    ));
    assert!(check_overlap(a, [("v4", v4)]).is_ok());
}
