//! IPv6 through the docker CLI: dual-stack user networks (addresses, routes,
//! names, /etc/hosts, `--ip6`, link-local addresses), published ports over
//! IPv6, NAT66 egress, the default bridge's `--ipv6 --fixed-cidr-v6` across
//! a daemon restart, and bad input.
//!
//! Traffic stays on loopback, the daemons' bridges, the containers' network
//! namespaces and one "outside" namespace a test makes itself.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use std::net::Ipv6Addr;
use std::process::Command;
use std::sync::Arc;

use common::web::{http_get, web};
use common::{Daemon, assert_failure, stderr};

fn d() -> Arc<Daemon> {
    Daemon::shared_networked()
}

/// The first three groups of a /64 of fd00::/8 (its fourth group is 0)
/// that belongs to this daemon alone (its tag), so parallel daemons never
/// route the same prefix. Written as Rust prints addresses, so `{p}::2`
/// compares equal to what inspect shows.
fn prefix(d: &Daemon, n: u16) -> String {
    let tag = u32::from_str_radix(&d.net_tag(), 16).expect("a hex tag");
    format!("fd0{:x}:{:x}:{n:x}", tag >> 16, tag & 0xffff)
}

/// `docker run -d --name <name> <args> busybox sleep 300`.
fn sleeper(d: &Daemon, name: &str, args: &[&str]) {
    let mut run = vec!["run", "-d", "--name", name];
    run.extend_from_slice(args);
    run.extend(["busybox", "sleep", "300"]);
    d.docker_ok(&run);
}

/// `network create --ipv6 --subnet <p>::/64 <name>`.
fn create_v6(d: &Daemon, p: &str, name: &str) {
    d.docker_ok(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        &format!("{p}::/64"),
        name,
    ]);
}

fn inspect(d: &Daemon, what: &str, format: &str) -> String {
    d.docker_ok(&["inspect", "-f", format, what])
}

fn on_net(net: &str, field: &str) -> String {
    format!("{{{{(index .NetworkSettings.Networks \"{net}\").{field}}}}}")
}

/// The host port of `container`'s `port` bound on `host_ip` (as `docker
/// port` prints it, e.g. "[::]").
fn host_port(d: &Daemon, container: &str, port: &str, host_ip: &str) -> u16 {
    let out = d.docker_ok(&["port", container, port]);
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{host_ip}:")))
        .unwrap_or_else(|| panic!("no {host_ip} binding in:\n{out}"))
        .parse()
        .expect("a port number")
}

#[test]
fn dual_stack_networks_give_addresses_routes_names_and_hosts_entries() {
    let d = d();
    let p = prefix(&d, 1);
    let net = d.name("six");
    create_v6(&d, &p, &net);
    assert_eq!(
        d.docker_ok(&["network", "inspect", "-f", "{{.EnableIPv6}}", &net]),
        "true"
    );
    let pools = d.docker_ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}};{{end}}",
        &net,
    ]);
    assert!(pools.contains(&format!("{p}::/64 {p}::1;")), "{pools}");
    assert_eq!(pools.matches(';').count(), 2, "an IPv4 pool too: {pools}");

    let a = d.name("six-a");
    let b = d.name("six-b");
    sleeper(&d, &a, &["--network", &net]);
    let fixed = format!("{p}::99");
    sleeper(&d, &b, &["--network", &net, "--ip6", &fixed]);
    let a6: Ipv6Addr = inspect(&d, &a, &on_net(&net, "GlobalIPv6Address"))
        .parse()
        .expect("an IPv6 address in inspect");
    assert!(a6.to_string().starts_with(&format!("{p}::")), "{a6}");
    assert_eq!(inspect(&d, &a, &on_net(&net, "GlobalIPv6PrefixLen")), "64");
    assert_eq!(
        inspect(&d, &a, &on_net(&net, "IPv6Gateway")),
        format!("{p}::1")
    );
    assert_eq!(inspect(&d, &b, &on_net(&net, "GlobalIPv6Address")), fixed);
    assert_eq!(
        inspect(&d, &b, &on_net(&net, "IPAMConfig.IPv6Address")),
        fixed
    );

    // Inside: the address without duplicate address detection pending, and
    // the default route via the bridge.
    let addrs = d.docker_ok(&["exec", &a, "ip", "-6", "addr", "show", "eth0"]);
    assert!(addrs.contains(&format!("{a6}/64")), "{addrs}");
    let global = addrs
        .lines()
        .find(|l| l.contains(&a6.to_string()))
        .unwrap_or_default();
    assert!(!global.contains("tentative"), "{addrs}");
    let routes = d.docker_ok(&["exec", &a, "ip", "-6", "route"]);
    assert!(routes.contains(&format!("default via {p}::1")), "{routes}");

    // Over the wire, by name (AAAA), and in /etc/hosts.
    let ping = d.docker(&["exec", &b, "ping", "-c", "1", "-W", "3", &a6.to_string()]);
    assert!(ping.status.success(), "ping {a6}: {}", stderr(&ping));
    let aaaa = d.docker_ok(&["exec", &b, "nslookup", "-type=aaaa", &a]);
    assert!(aaaa.contains(&a6.to_string()), "{aaaa}");
    let hosts = d.docker_ok(&["exec", &a, "cat", "/etc/hosts"]);
    assert!(
        hosts.lines().any(|l| l.starts_with(&format!("{a6}\t"))),
        "{hosts}"
    );
    let members = d.docker_ok(&[
        "network",
        "inspect",
        "-f",
        "{{range .Containers}}{{.IPv6Address}} {{end}}",
        &net,
    ]);
    assert!(members.contains(&format!("{fixed}/64")), "{members}");

    // Addresses go back to the pool with the container.
    d.docker_ok(&["rm", "-f", &b]);
    sleeper(&d, &b, &["--network", &net, "--ip6", &fixed]);
    d.docker_ok(&["rm", "-f", &a, &b]);
    d.docker_ok(&["network", "rm", &net]);
}

#[test]
fn link_local_ipv6_addresses_and_network_connect_with_ip6() {
    let d = d();
    let p = prefix(&d, 2);
    let net = d.name("six-ll");
    create_v6(&d, &p, &net);
    let c = d.name("six-ll-c");
    sleeper(
        &d,
        &c,
        &["--network", &net, "--link-local-ip", "fe80::1234"],
    );
    let addrs = d.docker_ok(&["exec", &c, "ip", "-6", "addr", "show", "eth0"]);
    assert!(addrs.contains("fe80::1234/64"), "{addrs}");
    let ll = inspect(&d, &c, &on_net(&net, "IPAMConfig.LinkLocalIPs"));
    assert!(ll.contains("fe80::1234"), "{ll}");

    // disconnect, then connect again with a chosen address.
    let other = format!("{p}::abcd");
    d.docker_ok(&["network", "disconnect", &net, &c]);
    d.docker_ok(&["network", "connect", "--ip6", &other, &net, &c]);
    assert_eq!(inspect(&d, &c, &on_net(&net, "GlobalIPv6Address")), other);
    let addrs = d.docker_ok(&["exec", &c, "ip", "-6", "addr"]);
    assert!(addrs.contains(&format!("{other}/64")), "{addrs}");
    d.docker_ok(&["rm", "-f", &c]);
    d.docker_ok(&["network", "rm", &net]);
}

#[test]
fn published_ports_answer_over_ipv6_for_dual_stack_and_ipv4_only_containers() {
    let d = d();
    let p = prefix(&d, 3);
    let net = d.name("six-pub");
    create_v6(&d, &p, &net);
    let dual = d.name("six-web");
    web(
        &d,
        &dual,
        &["--network", &net, "-p", "80", "-p", "[::1]::80"],
    );
    let any4 = host_port(&d, &dual, "80", "0.0.0.0");
    let any6 = host_port(&d, &dual, "80", "[::]");
    assert_eq!(any4, any6, "0.0.0.0 and [::] share the port, as in dockerd");
    let lo6 = host_port(&d, &dual, "80", "[::1]");
    let hello = format!("hello-from-{dual}");
    for addr in [
        format!("127.0.0.1:{any4}"),
        format!("[::1]:{any6}"),
        format!("[::1]:{lo6}"),
    ] {
        let body = http_get(&addr).unwrap_or_else(|| panic!("nothing answers on {addr}"));
        assert!(body.contains(&hello), "{addr}: {body}");
    }
    let bound = d.docker_ok(&["inspect", "-f", "{{json .NetworkSettings.Ports}}", &dual]);
    assert!(bound.contains(r#"{"HostIp":"::","HostPort""#), "{bound}");

    // A container without IPv6 is reached over IPv6 too (on its IPv4 address).
    let v4 = d.name("six-web4");
    web(&d, &v4, &["-p", "80"]);
    let port = host_port(&d, &v4, "80", "[::]");
    let body = http_get(&format!("[::1]:{port}")).expect("[::1] answers for an IPv4 container");
    assert!(body.contains(&format!("hello-from-{v4}")), "{body}");

    d.docker_ok(&["rm", "-f", &dual, &v4]);
    for addr in [format!("[::1]:{any6}"), format!("[::1]:{lo6}")] {
        assert!(http_get(&addr).is_none(), "{addr} still answers after rm");
    }
    d.docker_ok(&["network", "rm", &net]);
}

/// A namespace outside every daemon, reached from the host over a veth:
/// it has no route back to container subnets, so only masqueraded
/// (NAT66) traffic gets answers.
struct Outside {
    ns: String,
    host_if: String,
}

impl Outside {
    fn new(tag: &str, p: &str) -> Outside {
        let o = Outside {
            ns: format!("b6o{tag}"),
            host_if: format!("b6h{tag}"),
        };
        o.drop_leftovers();
        let ip = |args: &[&str]| {
            let out = Command::new("ip").args(args).output().expect("run ip");
            assert!(out.status.success(), "ip {args:?}: {}", stderr(&out));
        };
        ip(&["netns", "add", &o.ns]);
        ip(&[
            "link", "add", &o.host_if, "type", "veth", "peer", "name", "b6peer", "netns", &o.ns,
        ]);
        ip(&[
            "addr",
            "add",
            &format!("{p}::1/64"),
            "dev",
            &o.host_if,
            "nodad",
        ]);
        ip(&["link", "set", &o.host_if, "up"]);
        ip(&[
            "-n",
            &o.ns,
            "addr",
            "add",
            &format!("{p}::2/64"),
            "dev",
            "b6peer",
            "nodad",
        ]);
        ip(&["-n", &o.ns, "link", "set", "b6peer", "up"]);
        ip(&["-n", &o.ns, "link", "set", "lo", "up"]);
        o
    }

    fn routes(&self) -> String {
        let out = Command::new("ip")
            .args(["-n", &self.ns, "-6", "route"])
            .output()
            .expect("ip route");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn drop_leftovers(&self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .output();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        self.drop_leftovers();
    }
}

#[test]
fn containers_reach_outside_ipv6_networks_masqueraded_unless_internal() {
    let d = d();
    let p = prefix(&d, 4);
    let outside_p = prefix(&d, 0xf4);
    let outside = Outside::new(&d.net_tag(), &outside_p);
    let net = d.name("six-out");
    create_v6(&d, &p, &net);
    let routes = outside.routes();
    assert!(
        !routes.contains(&p),
        "the outside knows no way back: {routes}"
    );
    let target = format!("{outside_p}::2");
    let ping = d.docker(&[
        "run",
        "--rm",
        "--network",
        &net,
        "busybox",
        "ping",
        "-c",
        "1",
        "-W",
        "3",
        &target,
    ]);
    assert!(
        ping.status.success(),
        "ping {target} from {net}: {}\n{}",
        stderr(&ping),
        d.log_tail()
    );

    let internal = d.name("six-int");
    let ip = prefix(&d, 5);
    d.docker_ok(&[
        "network",
        "create",
        "--internal",
        "--ipv6",
        "--subnet",
        &format!("{ip}::/64"),
        &internal,
    ]);
    let ping = d.docker(&[
        "run",
        "--rm",
        "--network",
        &internal,
        "busybox",
        "ping",
        "-c",
        "1",
        "-W",
        "2",
        &target,
    ]);
    assert_failure(&ping, "ping out of an internal network");
    d.docker_ok(&["network", "rm", &net, &internal]);
}

#[test]
fn bad_ipv6_requests_get_docker_errors_and_leave_nothing() {
    let d = d();
    let p = prefix(&d, 6);
    let no_pool = d.name("six-nopool");
    let out = d.docker(&["network", "create", "--ipv6", &no_pool]);
    assert_failure(&out, "--ipv6 without an IPv6 subnet");
    assert!(
        stderr(&out).contains("could not find an available, non-overlapping IPv6 address pool"),
        "{}",
        stderr(&out)
    );
    let two = d.name("six-two");
    let out = d.docker(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        &format!("{p}::/64"),
        "--subnet",
        &format!("{}::/64", prefix(&d, 7)),
        &two,
    ]);
    assert_failure(&out, "two IPv6 subnets");
    assert!(
        stderr(&out).contains("doesn't support multiple subnets"),
        "{}",
        stderr(&out)
    );

    let net = d.name("six-bad");
    create_v6(&d, &p, &net);
    let overlap = d.name("six-ovl");
    let out = d.docker(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        &format!("{p}::/80"),
        &overlap,
    ]);
    assert_failure(&out, "an overlapping IPv6 subnet");
    assert!(stderr(&out).contains("overlaps"), "{}", stderr(&out));

    let v4 = d.name("six-v4only");
    d.docker_ok(&["network", "create", &v4]);
    let c = d.name("six-badc");
    for (args, needle) in [
        (
            vec!["--network", v4.as_str(), "--ip6", "fd00::5"],
            "user specified IP address is supported only when connecting to networks with user configured subnets",
        ),
        (
            vec!["--network", net.as_str(), "--ip6", "fd00:ffff::5"],
            "It does not belong to any of this network's subnets",
        ),
        (
            vec!["--network", net.as_str(), "--link-local-ip", "2001:db8::1"],
            "invalid link local IP address: 2001:db8::1",
        ),
        (
            vec!["--network", net.as_str(), "--ip6", &format!("{p}::1")],
            "reserved",
        ),
    ] {
        let mut run = vec!["run", "-d", "--name", &c];
        run.extend(args.iter().copied());
        run.extend(["busybox", "sleep", "300"]);
        let out = d.docker(&run);
        assert_failure(&out, &format!("run {args:?}"));
        assert!(stderr(&out).contains(needle), "{args:?}: {}", stderr(&out));
        let _ = d.docker(&["rm", "-f", &c]);
    }
    let nets = d.docker_ok(&["network", "ls", "--format", "{{.Name}}"]);
    for gone in [&no_pool, &two, &overlap] {
        assert!(
            !nets.lines().any(|n| n == gone.as_str()),
            "{gone} stored:\n{nets}"
        );
    }
    // Nothing was left holding addresses: the whole range is still free.
    let first = d.name("six-first");
    sleeper(&d, &first, &["--network", &net]);
    assert_eq!(
        inspect(&d, &first, &on_net(&net, "GlobalIPv6Address")),
        format!("{p}::2")
    );
    d.docker_ok(&["rm", "-f", &first]);
    d.docker_ok(&["network", "rm", &net, &v4]);
}

#[test]
fn the_default_bridge_is_dual_stack_with_fixed_cidr_v6_and_survives_a_restart() {
    // Unique per test process; the daemon's own tag is known only once it runs.
    let p = format!("fd0e:{:x}:1", std::process::id() & 0xffff);
    let d = Daemon::start_networked_with(&["--ipv6", "--fixed-cidr-v6", &format!("{p}::/64")]);
    let c = d.name("six-def");
    web(&d, &c, &["-p", "80"]);
    let c6 = inspect(&d, &c, "{{.NetworkSettings.GlobalIPv6Address}}");
    assert!(c6.starts_with(&format!("{p}::")), "{c6}");
    assert_eq!(
        inspect(&d, &c, "{{.NetworkSettings.IPv6Gateway}}"),
        format!("{p}::1")
    );
    assert_eq!(
        d.docker_ok(&["network", "inspect", "-f", "{{.EnableIPv6}}", "bridge"]),
        "true"
    );
    let port = host_port(&d, &c, "80", "[::]");
    let hello = format!("hello-from-{c}");

    // Live restore: address, route and the IPv6 port proxy come back.
    d.restart();
    assert_eq!(inspect(&d, &c, "{{.State.Running}}"), "true");
    assert_eq!(
        inspect(&d, &c, "{{.NetworkSettings.GlobalIPv6Address}}"),
        c6
    );
    let body = http_get(&format!("[::1]:{port}")).expect("[::1] answers after a restart");
    assert!(body.contains(&hello), "{body}");
    let ping = d.docker(&["run", "--rm", "busybox", "ping", "-c", "1", "-W", "3", &c6]);
    assert!(ping.status.success(), "ping {c6}: {}", stderr(&ping));
    d.docker_ok(&["rm", "-f", &c]);
}
