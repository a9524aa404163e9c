//! macvlan and ipvlan networks through the docker CLI. Each test makes a
//! "host" network namespace holding the daemon and a veth `mv0` as the
//! parent interface, whose peer sits in a "lan" namespace holding the
//! gateway address, as a router on the parent's LAN would. Nothing touches
//! the real host's interfaces; dropping the namespaces removes every link.
//!
//! This kernel has macvlan but neither ipvlan, 802.1q VLANs nor dummy
//! links: the tests for those ask the kernel first, and assert either the
//! working path or the error that names what is missing.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;

use common::netns::TestNetns;
use common::{Daemon, assert_fails_with, assert_success, stdout};

/// The LAN: 192.168.50.0/24, this address on the router side.
const GATEWAY: &str = "192.168.50.1";

/// A daemon in its own namespace with parent `mv0` on a LAN. Fields drop in
/// order: the daemon (and its containers) before the namespaces.
struct World {
    d: Daemon,
    host: TestNetns,
    _lan: TestNetns,
}

impl World {
    fn new() -> World {
        let host = TestNetns::new();
        let lan = TestNetns::new();
        host.veth_to("mv0", "lan0", &lan);
        lan.ip(&["addr", "add", &format!("{GATEWAY}/24"), "dev", "lan0"]);
        let d = Daemon::start_in_netns(&host.path());
        World { d, host, _lan: lan }
    }

    /// `network create <args, split at spaces> <name>`; the id.
    fn create(&self, name: &str, args: &str) -> String {
        let out = self.try_create(name, args);
        assert_success(&out, &format!("network create {args} {name}"));
        stdout(&out).trim().to_string()
    }

    fn try_create(&self, name: &str, args: &str) -> std::process::Output {
        let mut a = vec!["network", "create"];
        a.extend(args.split_whitespace());
        a.push(name);
        self.d.docker(&a)
    }

    /// `network inspect -f <format> <name>`.
    fn net_field(&self, name: &str, format: &str) -> String {
        self.d
            .docker_ok(&["network", "inspect", "-f", format, name])
    }

    fn networks(&self) -> Vec<String> {
        let out = self
            .d
            .docker_ok(&["network", "ls", "--format", "{{.Name}}"]);
        let mut v: Vec<String> = out.lines().map(String::from).collect();
        v.sort();
        v
    }

    /// `sleep` in the background on `net`, with extra run arguments.
    fn run(&self, name: &str, net: &str, extra: &[&str]) {
        let mut a = vec!["run", "-d", "--name", name, "--network", net];
        a.extend_from_slice(extra);
        a.extend_from_slice(&["busybox", "sleep", "300"]);
        self.d.docker_ok(&a);
    }

    fn inspect(&self, what: &str, format: &str) -> String {
        self.d.docker_ok(&["inspect", "-f", format, what])
    }

    /// The host's `ip` inside a container's namespace (busybox's has no -d).
    fn ip_in(&self, container: &str, args: &[&str]) -> String {
        let pid = self.inspect(container, "{{.State.Pid}}");
        let out = Command::new("nsenter")
            .arg(format!("--net=/proc/{pid}/ns/net"))
            .arg("ip")
            .args(args)
            .output()
            .expect("run nsenter");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Links of one kind in the daemon's namespace.
    fn host_links_of(&self, kind: &str) -> String {
        self.host.ip(&["-o", "link", "show", "type", kind])
    }
}

#[test]
fn macvlan_containers_get_lan_addresses_and_find_each_other_by_name() {
    let w = World::new();
    let d = &w.d;
    let id = w.create(
        "lan",
        "-d macvlan --subnet 192.168.50.0/24 --gateway 192.168.50.1 -o parent=mv0",
    );
    assert_eq!(
        w.net_field("lan", "{{.Driver}} {{json .Options}} {{.Internal}}"),
        r#"macvlan {"parent":"mv0"} false"#
    );
    assert!(
        d.docker_ok(&["network", "ls", "--filter", "driver=macvlan", "-q"])
            .starts_with(&id[..12])
    );
    w.run("ca", "lan", &[]);
    let mut b_args = vec!["--ip", "192.168.50.77"];
    if d.is_berth() {
        // dockerd 20.10's API (1.41) is too old for the CLI's --mac-address.
        b_args.extend_from_slice(&["--mac-address", "02:42:c0:a8:32:99"]);
    }
    w.run("cb", "lan", &b_args);

    let fields = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{.IPPrefixLen}} {{.Gateway}} {{.MacAddress}}{{end}}";
    assert_eq!(
        w.inspect("ca", fields),
        "192.168.50.2 24 192.168.50.1 02:42:c0:a8:32:02"
    );
    let b = w.inspect("cb", fields);
    assert!(
        b.starts_with("192.168.50.77 24 192.168.50.1 02:42:c0:a8:32:"),
        "{b}"
    );
    if d.is_berth() {
        assert!(b.ends_with("02:42:c0:a8:32:99"), "{b}");
    }
    let link = w.ip_in("ca", &["-d", "link", "show", "eth0"]);
    assert!(link.contains("macvlan mode bridge"), "{link}");
    assert!(link.contains("02:42:c0:a8:32:02"), "{link}");
    let addr = d.docker_ok(&["exec", "ca", "ip", "-4", "addr", "show", "eth0"]);
    assert!(addr.contains("inet 192.168.50.2/24"), "{addr}");
    let routes = d.docker_ok(&["exec", "ca", "ip", "route"]);
    assert!(
        routes.contains("default via 192.168.50.1 dev eth0"),
        "{routes}"
    );

    // Names through the container's resolver, traffic through the parent.
    let resolv = d.docker_ok(&["exec", "ca", "cat", "/etc/resolv.conf"]);
    assert!(resolv.contains("nameserver 127.0.0.11"), "{resolv}");
    let found = d.docker_ok(&["exec", "ca", "nslookup", "cb"]);
    assert!(found.contains("192.168.50.77"), "{found}");
    d.docker_ok(&["exec", "ca", "ping", "-c", "1", "-W", "3", "cb"]);
    d.docker_ok(&["exec", "cb", "ping", "-c", "1", "-W", "3", "ca"]);
    d.docker_ok(&["exec", "ca", "ping", "-c", "1", "-W", "3", GATEWAY]);
    // No bridge, no veth: the host namespace holds only the parent.
    assert_eq!(w.host_links_of("macvlan"), "");
    assert_eq!(w.host_links_of("bridge"), "");
    let listed = w.net_field(
        "lan",
        "{{range .Containers}}{{.Name}}={{.IPv4Address}} {{end}}",
    );
    assert!(listed.contains("b=192.168.50.77/24"), "{listed}");

    let busy = d.docker(&["network", "rm", "lan"]);
    assert_fails_with(&busy, "has active endpoints");
    d.docker_ok(&["rm", "-f", "ca", "cb"]);
    d.docker_ok(&["network", "rm", "lan"]);
    assert!(!w.networks().contains(&"lan".to_string()));
    assert!(
        w.host.links().contains(&"mv0".to_string()),
        "the parent stays"
    );
}

#[test]
fn macvlan_ignores_published_ports_and_connects_and_disconnects() {
    let w = World::new();
    let d = &w.d;
    w.create("lan", "-d macvlan --subnet 192.168.50.0/24 -o parent=mv0");
    w.create("br", "--subnet 10.231.7.0/24");
    w.run("pub", "lan", &["-p", "8080:80"]);
    assert_eq!(d.docker_ok(&["port", "pub"]), "");
    assert_eq!(w.inspect("pub", "{{json .NetworkSettings.Ports}}"), "{}");
    let ps = d.docker_ok(&["ps", "--filter", "name=pub", "--format", "{{.Ports}}"]);
    assert_eq!(ps, "");

    w.run("cc", "br", &[]);
    d.docker_ok(&["network", "connect", "lan", "cc"]);
    let eth1 = w.ip_in("cc", &["-d", "link", "show", "eth1"]);
    assert!(eth1.contains("macvlan mode bridge"), "{eth1}");
    let ip = w.inspect("cc", "{{.NetworkSettings.Networks.lan.IPAddress}}");
    assert!(ip.starts_with("192.168.50."), "{ip}");
    d.docker_ok(&["exec", "cc", "ping", "-c", "1", "-W", "3", "pub"]);
    d.docker_ok(&["exec", "pub", "ping", "-c", "1", "-W", "3", "cc"]);
    let stats = d.docker_ok(&["stats", "--no-stream", "--format", "{{.NetIO}}", "pub"]);
    assert!(
        !stats.starts_with("0B /"),
        "the macvlan port's counters: {stats}"
    );

    d.docker_ok(&["network", "disconnect", "lan", "cc"]);
    assert_eq!(w.ip_in("cc", &["link", "show", "eth1"]), "", "eth1 is gone");
    let routes = d.docker_ok(&["exec", "cc", "ip", "route"]);
    assert!(!routes.contains("192.168.50."), "{routes}");
    d.docker_ok(&["rm", "-f", "cc", "pub"]);
    d.docker_ok(&["network", "rm", "lan", "br"]);
}

#[test]
fn bad_parents_and_modes_get_dockerds_messages_and_store_nothing() {
    let w = World::new();
    let d = &w.d;
    let first = w.create("first", "-d macvlan --subnet 192.168.50.0/24 -o parent=mv0");
    let before = w.networks();
    let links_before = w.host.links();
    let in_use = format!(
        "network dm-{} is already using parent interface mv0",
        &first[..12]
    );
    // `network create` arguments (with --subnet 192.168.61.0/24 unless
    // given) => dockerd's message.
    let cases = [
        "-d macvlan --subnet 192.168.60.0/24 -o parent=mv0 => IN_USE",
        "-d macvlan --subnet 192.168.50.0/25 -o parent=mv0 => Pool overlaps with other one on this address space",
        "-d macvlan -o parent=nosuch => invalid subinterface vlan name nosuch, example formatting is eth0.10",
        "-d macvlan -o parent=nosuch.100 => -o parent interface does was not found on the host: nosuch",
        "-d macvlan -o parent=mv0.5000 => vlan id must be between 1-4094, received: 5000",
        "-d macvlan -o parent=mv0.x => unable to parse a valid vlan id from: x (ex. eth0.10 for vlan 10)",
        "-d macvlan -o parent=lo => loopback interface is not a valid macvlan parent link",
        "-d macvlan -o parent=mv0 -o macvlan_mode=foo => requested macvlan mode 'foo' is not valid, 'bridge' mode is the macvlan driver default",
        "-d ipvlan -o parent=mv0 -o ipvlan_mode=l4 => requested ipvlan mode 'l4' is not valid, 'l2' mode is the ipvlan driver default",
    ];
    for case in cases {
        let (args, message) = case.split_once(" => ").expect("a case");
        let message = message.replace("IN_USE", &in_use);
        let mut args: Vec<&str> = args.split(' ').collect();
        if !args.contains(&"--subnet") {
            args.extend_from_slice(&["--subnet", "192.168.61.0/24"]);
        }
        let mut a = vec!["network", "create"];
        a.extend_from_slice(&args);
        a.push("bad");
        assert_fails_with(&d.docker(&a), &message);
        if d.is_berth() {
            let resp = d.request(
                "POST",
                "/networks/create",
                Some(("application/json", create_body(&args).as_bytes())),
            );
            let expected = if message.starts_with("Pool overlaps") {
                403
            } else {
                400
            };
            assert_eq!(resp.status, expected, "{args:?}: {}", resp.text());
        }
        assert_eq!(w.networks(), before, "after {args:?}");
        assert_eq!(w.host.links(), links_before, "after {args:?}");
    }
}

/// The API body `docker network create <args> bad` sends (for status codes).
fn create_body(args: &[&str]) -> String {
    let mut driver = "";
    let mut subnet = "";
    let mut opts = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let v = it.next().copied().unwrap_or_default();
        match *a {
            "-d" => driver = v,
            "--subnet" => subnet = v,
            "-o" => {
                let (k, val) = v.split_once('=').unwrap_or((v, ""));
                opts.push(format!("{k:?}:{val:?}"));
            }
            _ => {}
        }
    }
    format!(
        r#"{{"Name":"bad","Driver":"{driver}","Options":{{{}}},"IPAM":{{"Config":[{{"Subnet":"{subnet}"}}]}}}}"#,
        opts.join(",")
    )
}

#[test]
fn private_mode_keeps_containers_apart_but_not_from_the_lan() {
    let w = World::new();
    let d = &w.d;
    w.create(
        "priv",
        "-d macvlan --subnet 192.168.50.0/24 -o parent=mv0 -o macvlan_mode=private",
    );
    w.run("p1", "priv", &[]);
    w.run("p2", "priv", &["--ip", "192.168.50.20"]);
    let link = w.ip_in("p1", &["-d", "link", "show", "eth0"]);
    assert!(link.contains("macvlan mode private"), "{link}");
    d.docker_ok(&["exec", "p1", "ping", "-c", "1", "-W", "3", GATEWAY]);
    let apart = d.docker(&["exec", "p1", "ping", "-c", "1", "-W", "2", "192.168.50.20"]);
    assert!(
        !apart.status.success(),
        "private ports must not reach each other: {}",
        stdout(&apart)
    );
}

#[test]
fn vlan_parents_come_and_go_with_the_network_or_the_missing_support_is_named() {
    let w = World::new();
    let d = &w.d;
    let args = "-d macvlan --subnet 192.168.50.0/24 -o parent=mv0.100";
    if !w.host.kernel_has("vlan") {
        let before = w.host.links();
        let out = w.try_create("tagged", args);
        assert_fails_with(&out, "failed to create mv0.100 vlan link: ");
        if d.is_berth() {
            assert_fails_with(&out, "the kernel has no 802.1q VLAN support");
        }
        assert!(!w.networks().contains(&"tagged".to_string()));
        assert_eq!(w.host.links(), before);
        return;
    }
    w.create("tagged", args);
    let vlan = w.host.ip(&["-d", "link", "show", "mv0.100"]);
    assert!(vlan.contains("vlan protocol 802.1Q id 100"), "{vlan}");
    w.run("ct", "tagged", &[]);
    assert!(
        w.ip_in("ct", &["-d", "link", "show", "eth0"])
            .contains("macvlan")
    );
    d.docker_ok(&["rm", "-f", "ct"]);
    d.docker_ok(&["network", "rm", "tagged"]);
    assert!(
        !w.host.links().contains(&"mv0.100".to_string()),
        "made with the network, removed with it"
    );
    // One that was there before stays.
    w.host.ip(&[
        "link", "add", "link", "mv0", "name", "mv0.200", "type", "vlan", "id", "200",
    ]);
    w.create(
        "mine",
        "-d macvlan --subnet 192.168.50.0/24 -o parent=mv0.200",
    );
    d.docker_ok(&["network", "rm", "mine"]);
    assert!(w.host.links().contains(&"mv0.200".to_string()));
}

#[test]
fn ipvlan_runs_containers_or_names_the_missing_kernel_support() {
    let w = World::new();
    let d = &w.d;
    let args = "-d ipvlan --subnet 192.168.50.0/24 -o parent=mv0 -o ipvlan_mode=l2";
    if !w.host.kernel_has("ipvlan") {
        let before = w.host.links();
        let create = w.try_create("ipv", args);
        if d.is_berth() {
            // Refused at create, so no network is left that no container
            // could ever join.
            assert_fails_with(
                &create,
                "failed to create the ipvlan port: the kernel has no ipvlan support (operation not supported)",
            );
            assert!(!w.networks().contains(&"ipv".to_string()));
        } else {
            // dockerd takes the network and fails each start.
            assert!(create.status.success());
            let run = d.docker(&["run", "--rm", "--network", "ipv", "busybox", "true"]);
            assert_fails_with(
                &run,
                "failed to create the ipvlan port: operation not supported",
            );
        }
        assert_eq!(w.host.links(), before);
        return;
    }
    w.create("ipv", args);
    w.run("i1", "ipv", &[]);
    w.run("i2", "ipv", &[]);
    let link = w.ip_in("i1", &["-d", "link", "show", "eth0"]);
    assert!(
        link.contains("ipvlan  mode l2") || link.contains("ipvlan mode l2"),
        "{link}"
    );
    d.docker_ok(&["exec", "i1", "ping", "-c", "1", "-W", "3", "i2"]);
    d.docker_ok(&["exec", "i1", "ping", "-c", "1", "-W", "3", GATEWAY]);
    let mac = d.docker(&[
        "run",
        "--rm",
        "--network",
        "ipv",
        "--mac-address",
        "02:42:00:00:00:01",
        "busybox",
        "true",
    ]);
    assert_fails_with(
        &mac,
        "ipvlan interfaces do not support custom mac address assignment",
    );
    d.docker_ok(&["rm", "-f", "i1", "i2"]);
    d.docker_ok(&["network", "rm", "ipv"]);
    // l3: no gateway, the default route is the interface itself.
    w.create(
        "ipv3",
        "-d ipvlan --subnet 192.168.50.0/24 -o parent=mv0 -o ipvlan_mode=l3",
    );
    w.run("i3", "ipv3", &[]);
    let routes = d.docker_ok(&["exec", "i3", "ip", "route"]);
    assert!(routes.contains("default dev eth0"), "{routes}");
    assert_eq!(
        w.inspect("i3", "{{.NetworkSettings.Networks.ipv3.Gateway}}"),
        ""
    );
}

#[test]
fn networks_without_a_parent_get_a_dummy_or_say_how_to_do_without() {
    let w = World::new();
    let d = &w.d;
    let args = "-d macvlan --subnet 192.168.50.0/24";
    if !w.host.kernel_has("dummy") {
        let before = w.host.links();
        let out = w.try_create("iso", args);
        if d.is_berth() {
            assert_fails_with(&out, "the kernel has no dummy link support");
            assert_fails_with(&out, "-o parent=IFACE");
        } else {
            assert_fails_with(&out, "operation not supported");
        }
        assert!(!w.networks().contains(&"iso".to_string()));
        assert_eq!(w.host.links(), before);
        return;
    }
    let id = w.create("iso", args);
    assert_eq!(w.net_field("iso", "{{.Internal}}"), "true");
    let dummy = format!("dm-{}", &id[..12]);
    assert!(w.host.links().contains(&dummy), "{dummy}");
    w.run("cx", "iso", &[]);
    let routes = d.docker_ok(&["exec", "cx", "ip", "route"]);
    assert!(!routes.contains("default"), "{routes}");
    d.docker_ok(&["rm", "-f", "cx"]);
    d.docker_ok(&["network", "rm", "iso"]);
    assert!(!w.host.links().contains(&dummy));
}

#[test]
fn internal_macvlan_keeps_its_parent_and_loses_the_way_out() {
    let w = World::new();
    let d = &w.d;
    w.create(
        "inner",
        "-d macvlan --internal --subnet 192.168.50.0/24 -o parent=mv0",
    );
    assert_eq!(
        w.net_field("inner", "{{.Internal}} {{json .Options}}"),
        r#"true {"parent":"mv0"}"#
    );
    w.run("in1", "inner", &[]);
    w.run("in2", "inner", &[]);
    let routes = d.docker_ok(&["exec", "in1", "ip", "route"]);
    assert!(!routes.contains("default"), "{routes}");
    assert_eq!(
        w.inspect("in1", "{{.NetworkSettings.Networks.inner.Gateway}}"),
        ""
    );
    assert!(
        w.ip_in("in1", &["-d", "link", "show", "eth0"])
            .contains("macvlan")
    );
    d.docker_ok(&["exec", "in1", "ping", "-c", "1", "-W", "3", "in2"]);
}

#[test]
fn a_restarted_daemon_keeps_macvlan_containers_and_their_names() {
    let w = World::new();
    let d = &w.d;
    if !d.is_berth() {
        return; // dockerd keeps containers across restarts only with --live-restore
    }
    w.create("lan", "-d macvlan --subnet 192.168.50.0/24 -o parent=mv0");
    w.run("r1", "lan", &[]);
    w.run("r2", "lan", &[]);
    d.kill9();
    d.restart();
    let found = d.docker_ok(&["exec", "r1", "nslookup", "r2"]);
    assert!(found.contains("192.168.50.3"), "{found}");
    d.docker_ok(&["exec", "r1", "ping", "-c", "1", "-W", "3", GATEWAY]);
    w.run("r3", "lan", &[]);
    assert_eq!(
        w.inspect("r3", "{{.NetworkSettings.Networks.lan.IPAddress}}"),
        "192.168.50.4"
    );
    d.docker_ok(&["exec", "r3", "ping", "-c", "1", "-W", "3", "r1"]);
    d.docker_ok(&["rm", "-f", "r1", "r2", "r3"]);
    d.docker_ok(&["network", "rm", "lan"]);
    assert_eq!(w.host_links_of("macvlan"), "");
}
