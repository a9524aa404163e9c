//! Networking through the docker CLI: the default bridge, published ports,
//! user-defined networks with DNS, connect/disconnect, the host/none/container
//! modes, name resolution files, bad input, and live restore.
//!
//! All traffic stays on loopback, the daemon's bridges and the network
//! namespaces of the containers the tests start.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use std::net::{Ipv4Addr, TcpListener};

use common::web::{http_get, web};
use common::{Daemon, assert_failure, stderr};

fn d() -> std::sync::Arc<Daemon> {
    Daemon::shared_networked()
}

/// wget from inside a throwaway container, retried while httpd starts.
/// (`timeout` rather than wget's own -T, which crashes Debian's static busybox.)
fn wget_from(d: &Daemon, net_args: &[&str], url: &str) -> std::process::Output {
    let script = format!(
        "for i in $(seq 30); do timeout 3 wget -qO- {url} && exit 0; sleep 0.2; done; exit 1"
    );
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(net_args);
    args.extend_from_slice(&["busybox", "sh", "-c", &script]);
    d.docker(&args)
}

fn inspect(d: &Daemon, what: &str, format: &str) -> String {
    d.docker_ok(&["inspect", "-f", format, what])
}

#[test]
fn default_bridge_gives_an_address_a_route_and_inspect_data() {
    let d = d();
    let name = d.name("bridged");
    d.docker_ok(&["run", "-d", "--name", &name, "busybox", "sleep", "300"]);
    let ip: Ipv4Addr = inspect(&d, &name, "{{.NetworkSettings.IPAddress}}")
        .parse()
        .expect("an IPv4 address in inspect");
    let gw = inspect(&d, &name, "{{.NetworkSettings.Gateway}}");
    let subnet = d.docker_ok(&[
        "network",
        "inspect",
        "-f",
        "{{(index .IPAM.Config 0).Subnet}}",
        "bridge",
    ]);
    let subnet: ipnet::Ipv4Net = subnet.parse().expect("bridge subnet");
    assert!(subnet.contains(&ip), "{ip} not in {subnet}");
    let mac = inspect(&d, &name, "{{.NetworkSettings.MacAddress}}");
    assert_eq!(mac.len(), 17, "{mac}");
    let per_net = inspect(&d, &name, "{{.NetworkSettings.Networks.bridge.IPAddress}}");
    assert_eq!(per_net, ip.to_string());
    let addr = d.docker_ok(&["exec", &name, "ip", "-4", "addr", "show", "eth0"]);
    assert!(addr.contains(&format!("inet {ip}/")), "{addr}");
    let route = d.docker_ok(&["exec", &name, "ip", "route"]);
    assert!(route.contains(&format!("default via {gw}")), "{route}");
    d.docker_ok(&["exec", &name, "ping", "-c", "1", "-W", "3", &gw]);
    let net_io = d.docker_ok(&["stats", "--no-stream", "--format", "{{.NetIO}}", &name]);
    assert!(
        !net_io.is_empty() && net_io != "0B / 0B",
        "stats show the ping's traffic: {net_io:?}"
    );
    let hosts = d.docker_ok(&["exec", &name, "cat", "/etc/hosts"]);
    assert!(hosts.contains(&ip.to_string()), "{hosts}");
    let listed = d.docker_ok(&[
        "network",
        "inspect",
        "-f",
        "{{range $id, $c := .Containers}}{{$c.Name}} {{end}}",
        "bridge",
    ]);
    assert!(listed.contains(&name), "{listed}");
    d.docker_ok(&["rm", "-f", &name]);
}

/// The IPv4 addresses (`a.b.c.d/len`) of a host interface.
fn link_addresses(link: &str) -> Vec<String> {
    let out = std::process::Command::new("ip")
        .args(["-4", "-o", "addr", "show", "dev", link])
        .output()
        .expect("run ip");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            words.find(|w| *w == "inet")?;
            words.next().map(String::from)
        })
        .collect()
}

/// dockerd adopts the address docker0 already has; a daemon started again
/// and again on fresh data roots must not pile subnets onto its bridge (it
/// would run out of pools after a few dozen starts).
#[test]
fn fresh_data_roots_adopt_the_default_bridges_address() {
    // A daemon of its own: its data root is wiped between starts.
    let d = Daemon::start_networked();
    let bridge = d.default_bridge();
    let first = link_addresses(&bridge);
    assert_eq!(first.len(), 1, "{bridge} after the first start: {first:?}");
    let ipam = |d: &Daemon| {
        d.docker_ok(&[
            "network",
            "inspect",
            "-f",
            "{{range .IPAM.Config}}{{.Subnet}}{{end}}",
            "bridge",
        ])
    };
    let address: ipnet::Ipv4Net = first[0].parse().unwrap();
    let expected = address.trunc().to_string();
    assert_eq!(ipam(&d), expected);
    for round in 1..=20 {
        d.stop();
        for dir in [d.data_root(), d.tmp().join("exec")] {
            common::unmount_below(&dir);
            std::fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("wipe {dir:?}: {e}"));
        }
        d.restart();
        let now = link_addresses(&bridge);
        assert_eq!(
            now, first,
            "{bridge} after start {round} on a fresh data root"
        );
        assert_eq!(ipam(&d), expected, "start {round}\n{}", d.log_tail());
    }
}

#[test]
fn published_ports_reach_the_container_from_the_host_and_from_containers() {
    let d = d();
    let name = d.name("pub");
    web(&d, &name, &["-p", "80", "-p", "127.0.0.1::80"]);
    let ports = d.docker_ok(&["port", &name, "80/tcp"]);
    let mut any_port = None;
    let mut lo_port = None;
    for line in ports.lines() {
        let (ip, port) = line.rsplit_once(':').expect("ip:port");
        match ip {
            "0.0.0.0" => any_port = Some(port.to_string()),
            "127.0.0.1" => lo_port = Some(port.to_string()),
            _ => {}
        }
    }
    let any_port = any_port.unwrap_or_else(|| panic!("no 0.0.0.0 binding in {ports}"));
    let lo_port = lo_port.unwrap_or_else(|| panic!("no 127.0.0.1 binding in {ports}"));
    let expected = format!("hello-from-{name}");
    let body = http_get(&format!("127.0.0.1:{any_port}")).expect("0.0.0.0 port answers");
    assert!(body.contains(&expected), "{body}");
    let body = http_get(&format!("127.0.0.1:{lo_port}")).expect("loopback port answers");
    assert!(body.contains(&expected), "{body}");
    // Hairpin: another container reaches the port through the host.
    let gw = inspect(&d, &name, "{{.NetworkSettings.Gateway}}");
    let out = wget_from(&d, &[], &format!("http://{gw}:{any_port}/"));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&expected),
        "{}",
        stderr(&out)
    );
    let ps = d.docker_ok(&[
        "ps",
        "--filter",
        &format!("name={name}"),
        "--format",
        "{{.Ports}}",
    ]);
    assert!(ps.contains(&format!("0.0.0.0:{any_port}->80/tcp")), "{ps}");
    d.docker_ok(&["rm", "-f", &name]);
    assert!(
        http_get(&format!("127.0.0.1:{any_port}")).is_none(),
        "port still answers after rm"
    );
}

#[test]
fn publish_all_maps_every_exposed_port() {
    let d = d();
    let name = d.name("pall");
    web(&d, &name, &["-P", "--expose", "80", "--expose", "8443/udp"]);
    let ports = d.docker_ok(&["port", &name]);
    assert!(ports.contains("80/tcp -> 0.0.0.0:"), "{ports}");
    assert!(ports.contains("8443/udp -> 0.0.0.0:"), "{ports}");
    let port = d.docker_ok(&["port", &name, "80"]);
    let port = port
        .lines()
        .next()
        .unwrap()
        .rsplit_once(':')
        .unwrap()
        .1
        .to_string();
    assert!(http_get(&format!("127.0.0.1:{port}")).is_some());
    d.docker_ok(&["rm", "-f", &name]);
}

#[test]
fn a_port_in_use_fails_the_start_and_leaves_nothing() {
    let d = d();
    let held = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let name = d.name("busy");
    let out = d.docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "-p",
        &format!("{port}:80"),
        "busybox",
        "sleep",
        "300",
    ]);
    assert_failure(&out, "run with a port in use");
    let err = stderr(&out);
    assert!(err.contains(&port.to_string()), "{err}");
    assert_eq!(inspect(&d, &name, "{{.State.Running}}"), "false");
    assert_eq!(inspect(&d, &name, "{{.NetworkSettings.IPAddress}}"), "");
    let attached = d.docker_ok(&[
        "network",
        "inspect",
        "-f",
        "{{range $id, $c := .Containers}}{{$c.Name}} {{end}}",
        "bridge",
    ]);
    assert!(!attached.contains(&name), "{attached}");
    // The port stays the other program's; freeing it lets the start succeed.
    drop(held);
    d.docker_ok(&["start", &name]);
    d.docker_ok(&["rm", "-f", &name]);
}

#[test]
fn user_networks_resolve_names_aliases_and_short_ids() {
    let d = d();
    let net = d.name("dnsnet");
    d.docker_ok(&["network", "create", &net]);
    let name = d.name("websvc");
    web(&d, &name, &["--network", &net, "--network-alias", "front"]);
    let id = d.docker_ok(&["inspect", "-f", "{{.Id}}", &name]);
    let expected = format!("hello-from-{name}");
    for host in [name.as_str(), "front", &id[..12]] {
        let out = wget_from(&d, &["--network", &net], &format!("http://{host}/"));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(&expected),
            "{host}: {}",
            stderr(&out)
        );
    }
    let names = inspect(
        &d,
        &name,
        &format!("{{{{json (index .NetworkSettings.Networks \"{net}\").DNSNames}}}}"),
    );
    // DNSNames arrived with API 1.44; dockerd 20.10 shows null.
    if d.is_berth() {
        assert!(names.contains(&name) && names.contains("front"), "{names}");
    }
    // As Docker: the resolver is 127.0.0.11 inside the container, asked directly too.
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        &net,
        "busybox",
        "sh",
        "-c",
        "grep ^nameserver /etc/resolv.conf; nslookup front 127.0.0.11 >/dev/null && echo resolved",
    ]);
    assert_eq!(out, "nameserver 127.0.0.11\nresolved");
    // Not visible from the default bridge.
    let out = d.docker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        &format!("timeout 3 wget -qO- http://{name}/; exit $?"),
    ]);
    assert_failure(&out, "name lookup from another network");
    d.docker_ok(&["rm", "-f", &name]);
    d.docker_ok(&["network", "rm", &net]);
}

#[test]
fn networks_are_isolated_from_each_other() {
    let d = d();
    let (a, b) = (d.name("isoa"), d.name("isob"));
    d.docker_ok(&["network", "create", &a]);
    d.docker_ok(&["network", "create", &b]);
    let target = d.name("isotarget");
    web(&d, &target, &["--network", &b]);
    let ip = inspect(
        &d,
        &target,
        &format!("{{{{(index .NetworkSettings.Networks \"{b}\").IPAddress}}}}"),
    );
    let same = wget_from(&d, &["--network", &b], &format!("http://{ip}/"));
    assert!(same.status.success(), "same network: {}", stderr(&same));
    let other = d.docker(&[
        "run",
        "--rm",
        "--network",
        &a,
        "busybox",
        "sh",
        "-c",
        // Not as PID 1: busybox timeout execs wget, and PID 1 ignores SIGTERM
        // (a lone command in `sh -c` would be exec'd too, hence the exit).
        &format!("timeout 3 wget -qO- http://{ip}/; exit $?"),
    ]);
    assert_failure(&other, "reaching a container on another network");
    d.docker_ok(&["rm", "-f", &target]);
    d.docker_ok(&["network", "rm", &a, &b]);
}

#[test]
fn without_icc_containers_of_a_bridge_reach_the_host_but_not_each_other() {
    let d = d();
    let net = d.name("noicc");
    d.docker_ok(&[
        "network",
        "create",
        "-o",
        "com.docker.network.bridge.enable_icc=false",
        &net,
    ]);
    let target = d.name("noicctarget");
    web(&d, &target, &["--network", &net]);
    let ip = inspect(
        &d,
        &target,
        &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
    );
    let gateway = inspect(
        &d,
        &target,
        &format!("{{{{(index .NetworkSettings.Networks \"{net}\").Gateway}}}}"),
    );
    let peer = d.docker(&[
        "run",
        "--rm",
        "--network",
        &net,
        "busybox",
        "sh",
        "-c",
        &format!("timeout 3 wget -qO- http://{ip}/; exit $?"),
    ]);
    assert_failure(&peer, "reaching a neighbour with icc off");
    // The bridge itself (the host side) still answers: the way out.
    d.docker_ok(&[
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
        &gateway,
    ]);
    // With icc on (the default), the same neighbour answers.
    let open = d.name("icc");
    d.docker_ok(&["network", "create", &open]);
    d.docker_ok(&["network", "connect", &open, &target]);
    let ip2 = inspect(
        &d,
        &target,
        &format!("{{{{(index .NetworkSettings.Networks \"{open}\").IPAddress}}}}"),
    );
    let ok = wget_from(&d, &["--network", &open], &format!("http://{ip2}/"));
    assert!(ok.status.success(), "icc on: {}", stderr(&ok));
    d.docker_ok(&["rm", "-f", &target]);
    d.docker_ok(&["network", "rm", &net, &open]);
}

#[test]
fn network_create_with_options_inspect_ls_rm_and_prune() {
    let d = d();
    let net = d.name("optnet");
    d.docker_ok(&[
        "network",
        "create",
        "--subnet",
        "10.251.7.0/24",
        "--gateway",
        "10.251.7.254",
        "--ip-range",
        "10.251.7.128/25",
        "--label",
        "purpose=e2e-net",
        "--internal",
        &net,
    ]);
    let fmt = "{{.Driver}} {{.Internal}} {{(index .IPAM.Config 0).Subnet}} {{(index .IPAM.Config 0).Gateway}} {{(index .IPAM.Config 0).IPRange}} {{.Labels.purpose}}";
    assert_eq!(
        d.docker_ok(&["network", "inspect", "-f", fmt, &net]),
        "bridge true 10.251.7.0/24 10.251.7.254 10.251.7.128/25 e2e-net"
    );
    let name = d.name("inrange");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        &net,
        "busybox",
        "sleep",
        "300",
    ]);
    let ip: Ipv4Addr = inspect(
        &d,
        &name,
        &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
    )
    .parse()
    .unwrap();
    assert!(ip.octets()[3] >= 128, "{ip} outside the ip-range");
    // Internal: nothing beyond the network is reachable.
    let outside = d.name("outside");
    web(&d, &outside, &[]);
    let outside_ip = inspect(&d, &outside, "{{.NetworkSettings.IPAddress}}");
    let out = d.docker(&[
        "exec",
        &name,
        "sh",
        "-c",
        &format!("timeout 3 wget -qO- http://{outside_ip}/; exit $?"),
    ]);
    assert_failure(&out, "leaving an internal network");
    d.docker_ok(&["rm", "-f", &outside]);
    let listed = d.docker_ok(&["network", "ls", "-q", "--filter", "label=purpose=e2e-net"]);
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(
        d.docker_ok(&["network", "ls", "--format", "{{.Name}}"])
            .lines()
            .any(|l| l == net)
    );
    d.docker_ok(&["rm", "-f", &name]);
    let spare = d.docker_ok(&[
        "network",
        "create",
        "--label",
        "purpose=e2e-prune",
        &d.name("prunenet"),
    ]);
    let pruned = d.docker_ok(&[
        "network",
        "prune",
        "-f",
        "--filter",
        "label=purpose=e2e-prune",
    ]);
    assert!(!pruned.is_empty(), "prune output");
    let gone = d.docker(&["network", "inspect", &spare]);
    assert_failure(&gone, "inspect of a pruned network");
    d.docker_ok(&["network", "rm", &net]);
    let gone = d.docker(&["network", "inspect", &net]);
    assert_failure(&gone, "inspect of a removed network");
}

#[test]
fn bad_network_requests_get_docker_errors_and_leave_nothing() {
    let d = d();
    let net = d.name("badnet");
    d.docker_ok(&["network", "create", "--subnet", "10.252.9.0/24", &net]);
    let clash = d.name("clash");
    let out = d.docker(&["network", "create", "--subnet", "10.252.9.128/25", &clash]);
    assert_failure(&out, "overlapping subnet");
    assert!(
        stderr(&out).to_lowercase().contains("overlap"),
        "{}",
        stderr(&out)
    );
    let out = d.docker(&["network", "inspect", &clash]);
    assert_failure(&out, "the refused network must not exist");
    let out = d.docker(&["network", "create", &net]);
    assert_failure(&out, "duplicate name");
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    let user = d.name("user");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &user,
        "--network",
        &net,
        "busybox",
        "sleep",
        "300",
    ]);
    let out = d.docker(&["network", "rm", &net]);
    assert_failure(&out, "removing a network in use");
    assert!(
        stderr(&out).contains("active endpoints"),
        "{}",
        stderr(&out)
    );
    let out = d.docker(&["network", "rm", "bridge"]);
    assert_failure(&out, "removing a predefined network");
    assert!(stderr(&out).contains("pre-defined"), "{}", stderr(&out));
    let missing = d.name("missing");
    // As dockerd: create accepts the name, start looks it up (404). Through
    // the API, because on any 404 from create the docker CLI tries to pull
    // the image, which cannot work offline and hides the daemon's message.
    let body = format!(r#"{{"Image":"busybox","HostConfig":{{"NetworkMode":"{missing}"}}}}"#);
    let resp = d.request(
        "POST",
        "/containers/create",
        Some(("application/json", body.as_bytes())),
    );
    assert_eq!(resp.status, 201, "{}", resp.text());
    let id = resp.json()["Id"].as_str().unwrap().to_string();
    let out = d.docker(&["start", &id]);
    assert_failure(&out, "start on an unknown network");
    assert!(
        stderr(&out).contains(&format!("network {missing} not found")),
        "{}",
        stderr(&out)
    );
    assert_eq!(inspect(&d, &id, "{{.State.Running}}"), "false");
    d.docker_ok(&["rm", &id]);
    let out = d.docker(&["network", "connect", &missing, &user]);
    assert_failure(&out, "connect to an unknown network");
    let out = d.docker(&[
        "run",
        "--rm",
        "--ip",
        "10.99.0.5",
        "--network",
        &net,
        "busybox",
        "true",
    ]);
    assert_failure(&out, "an address outside the subnet");
    d.docker_ok(&["rm", "-f", &user]);
    d.docker_ok(&["network", "rm", &net]);
}

#[test]
fn connect_and_disconnect_a_running_container() {
    let d = d();
    let net = d.name("joinnet");
    d.docker_ok(&["network", "create", "--subnet", "10.253.4.0/24", &net]);
    let name = d.name("joiner");
    web(&d, &name, &[]);
    d.docker_ok(&[
        "network",
        "connect",
        "--alias",
        "joined",
        "--ip",
        "10.253.4.77",
        &net,
        &name,
    ]);
    let addrs = d.docker_ok(&["exec", &name, "ip", "-4", "addr"]);
    assert!(addrs.contains("inet 10.253.4.77/24"), "{addrs}");
    let out = wget_from(&d, &["--network", &net], "http://joined/");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("hello-from-{name}")),
        "{}",
        stderr(&out)
    );
    let nets = inspect(
        &d,
        &name,
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
    );
    assert!(nets.contains("bridge") && nets.contains(&net), "{nets}");
    d.docker_ok(&["network", "disconnect", &net, &name]);
    let addrs = d.docker_ok(&["exec", &name, "ip", "-4", "addr"]);
    assert!(!addrs.contains("10.253.4.77"), "{addrs}");
    let nets = inspect(
        &d,
        &name,
        "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
    );
    assert!(!nets.contains(&net), "{nets}");
    d.docker_ok(&["rm", "-f", &name]);
    d.docker_ok(&["network", "rm", &net]);
}

#[test]
fn host_none_and_container_modes() {
    let d = d();
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let out = d.docker_ok(&["run", "--rm", "--network", "host", "busybox", "hostname"]);
    assert_eq!(out, host_name.trim());
    let bridge = d.default_bridge();
    let links = d.docker_ok(&["run", "--rm", "--network", "host", "busybox", "ip", "link"]);
    assert!(
        links.contains(&bridge),
        "host mode sees the host's links: {links}"
    );
    let links = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "ip",
        "-o",
        "link",
    ]);
    assert_eq!(links.lines().count(), 1, "{links}");
    assert!(links.contains("lo"), "{links}");
    let owner = d.name("nsowner");
    web(&d, &owner, &[]);
    let ip = inspect(&d, &owner, "{{.NetworkSettings.IPAddress}}");
    let shared = d.docker_ok(&[
        "run",
        "--rm",
        "--network",
        &format!("container:{owner}"),
        "busybox",
        "ip",
        "-4",
        "addr",
    ]);
    assert!(shared.contains(&ip), "{shared}");
    let out = wget_from(
        &d,
        &["--network", &format!("container:{owner}")],
        "http://127.0.0.1/",
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("hello-from-{owner}")));
    d.docker_ok(&["rm", "-f", &owner]);
}

#[test]
fn name_resolution_files_follow_the_flags() {
    let d = d();
    let name = d.name("resolv");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--hostname",
        "box",
        "--domainname",
        "example.test",
        "--dns",
        "192.0.2.53",
        "--dns-search",
        "corp.test",
        "--dns-option",
        "ndots:3",
        "--add-host",
        "db.test:192.0.2.10",
        "--add-host",
        "gw.test:host-gateway",
        "busybox",
        "sleep",
        "300",
    ]);
    let resolv = d.docker_ok(&["exec", &name, "cat", "/etc/resolv.conf"]);
    assert!(resolv.contains("nameserver 192.0.2.53"), "{resolv}");
    assert!(resolv.contains("search corp.test"), "{resolv}");
    assert!(resolv.contains("options ndots:3"), "{resolv}");
    let hosts = d.docker_ok(&["exec", &name, "cat", "/etc/hosts"]);
    let ip = inspect(&d, &name, "{{.NetworkSettings.IPAddress}}");
    let gw = inspect(&d, &name, "{{.NetworkSettings.Gateway}}");
    assert!(hosts.contains("192.0.2.10\tdb.test"), "{hosts}");
    assert!(hosts.contains(&format!("{gw}\tgw.test")), "{hosts}");
    assert!(
        hosts
            .lines()
            .any(|l| l.starts_with(&ip) && l.contains("box")),
        "{hosts}"
    );
    assert_eq!(d.docker_ok(&["exec", &name, "hostname"]), "box");
    d.docker_ok(&["rm", "-f", &name]);
}

#[test]
fn live_restore_keeps_addresses_ports_and_names_then_cleans_up() {
    let d = Daemon::start_networked();
    let net = d.name("lrnet");
    d.docker_ok(&["network", "create", &net]);
    let name = d.name("lrweb");
    web(&d, &name, &["--network", &net, "-p", "80"]);
    let ip = inspect(
        &d,
        &name,
        &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
    );
    let port = d.docker_ok(&["port", &name, "80"]);
    let port = port
        .lines()
        .next()
        .unwrap()
        .rsplit_once(':')
        .unwrap()
        .1
        .to_string();
    let expected = format!("hello-from-{name}");
    assert!(http_get(&format!("127.0.0.1:{port}")).is_some_and(|b| b.contains(&expected)));
    if d.is_berth() {
        d.kill9();
    } else {
        d.stop();
    }
    d.restart();
    let running = inspect(&d, &name, "{{.State.Running}}");
    if running == "true" {
        assert_eq!(
            inspect(
                &d,
                &name,
                &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}")
            ),
            ip
        );
        let body = http_get(&format!("127.0.0.1:{port}")).expect("port after restart");
        assert!(body.contains(&expected), "{body}");
        let out = wget_from(&d, &["--network", &net], &format!("http://{name}/"));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(&expected),
            "{}",
            stderr(&out)
        );
    } else {
        assert!(!d.is_berth(), "berth keeps containers across restarts");
    }
    assert!(
        d.docker_ok(&["network", "ls", "--format", "{{.Name}}"])
            .lines()
            .any(|l| l == net),
        "network survives the restart"
    );
    d.docker_ok(&["rm", "-f", &name]);
    d.docker_ok(&["network", "rm", &net]);
    assert!(http_get(&format!("127.0.0.1:{port}")).is_none());
    if d.is_berth() {
        // Nothing of the container is left: no veth on the bridge, no
        // namespace, no port rule.
        let links = std::process::Command::new("ip")
            .args(["-o", "link", "show", "master", &d.default_bridge()])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&links.stdout).trim(), "");
        let netns = std::fs::read_dir(d.tmp().join("exec/netns"))
            .unwrap()
            .count();
        assert_eq!(netns, 0);
        let rules = std::process::Command::new("nft")
            .args(["list", "table", "ip", &format!("berth_{}", d.net_tag())])
            .output()
            .unwrap();
        let rules = String::from_utf8_lossy(&rules.stdout);
        assert!(!rules.contains("berth-port"), "{rules}");
    }
}

#[test]
fn docker_compose_brings_up_two_services_that_find_each_other() {
    let d = d();
    if std::process::Command::new("docker-compose")
        .arg("version")
        .output()
        .is_err()
    {
        panic!("docker-compose missing: scripts/deps.sh installs Debian's docker-compose");
    }
    let project = d.name("proj").replace('-', "");
    let dir = d.tmp().join(&project);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("docker-compose.yml");
    std::fs::write(
        &file,
        "version: \"3.7\"\n\
         services:\n\
         \x20 web:\n\
         \x20   image: busybox\n\
         \x20   command: [\"sh\", \"-c\", \"mkdir -p /www && echo hello-compose > /www/index.html && exec httpd -f -p 80 -h /www\"]\n\
         \x20   networks: [appnet]\n\
         \x20 client:\n\
         \x20   image: busybox\n\
         \x20   command: [\"sleep\", \"300\"]\n\
         \x20   networks: [appnet]\n\
         networks:\n\
         \x20 appnet: {}\n",
    )
    .unwrap();
    let compose = |args: &[&str]| {
        let mut cmd = std::process::Command::new("docker-compose");
        cmd.arg("-p")
            .arg(&project)
            .arg("-f")
            .arg(&file)
            .args(args)
            .env("DOCKER_HOST", d.host())
            .env("DOCKER_CONFIG", d.tmp().join("config"))
            .env("COMPOSE_INTERACTIVE_NO_CLI", "1");
        common::run_with_timeout(
            cmd,
            None,
            common::CLI_TIMEOUT,
            &format!("docker-compose {args:?}"),
        )
    };
    let up = compose(&["up", "-d"]);
    common::assert_success(&up, "docker-compose up -d");
    let client = d.docker_ok(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
        "--filter",
        "label=com.docker.compose.service=client",
    ]);
    assert!(!client.is_empty(), "client container of the project");
    let script =
        "for i in $(seq 30); do timeout 3 wget -qO- http://web/ && exit 0; sleep 0.2; done; exit 1";
    let body = d.docker_ok(&["exec", &client, "sh", "-c", script]);
    assert_eq!(body, "hello-compose");
    let down = compose(&["down"]);
    common::assert_success(&down, "docker-compose down");
    let left = d.docker_ok(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=com.docker.compose.project={project}"),
    ]);
    assert_eq!(left, "");
    let nets = d.docker_ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!nets.contains(&project), "{nets}");
}

#[test]
fn without_a_firewall_a_userland_proxy_publishes_ports() {
    let d = Daemon::start_networked_with(&["--iptables=false"]);
    let name = d.name("proxied");
    web(&d, &name, &["-p", "80"]);
    let port = d.docker_ok(&["port", &name, "80"]);
    let port = port
        .lines()
        .next()
        .unwrap()
        .rsplit_once(':')
        .unwrap()
        .1
        .to_string();
    let body = http_get(&format!("127.0.0.1:{port}")).expect("the proxy answers");
    assert!(body.contains(&format!("hello-from-{name}")), "{body}");
    d.docker_ok(&["rm", "-f", &name]);
    assert!(http_get(&format!("127.0.0.1:{port}")).is_none());
}

#[test]
fn renamed_containers_answer_to_their_new_name() {
    let d = d();
    let net = d.name("rennet");
    d.docker_ok(&["network", "create", &net]);
    let old = d.name("oldname");
    let new = d.name("newname");
    web(&d, &old, &["--network", &net]);
    d.docker_ok(&["rename", &old, &new]);
    let out = wget_from(&d, &["--network", &net], &format!("http://{new}/"));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("hello-from-{old}")),
        "{}",
        stderr(&out)
    );
    d.docker_ok(&["rm", "-f", &new]);
    d.docker_ok(&["network", "rm", &net]);
}

#[test]
fn a_container_on_two_networks_resolves_names_of_both() {
    let d = d();
    let (front, back) = (d.name("front"), d.name("back"));
    d.docker_ok(&["network", "create", &front]);
    d.docker_ok(&["network", "create", &back]);
    let db = d.name("db");
    web(&d, &db, &["--network", &back]);
    let api = d.name("api");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &api,
        "--network",
        &front,
        "busybox",
        "sleep",
        "300",
    ]);
    d.docker_ok(&["network", "connect", &back, &api]);
    let script = format!(
        "for i in $(seq 30); do timeout 3 wget -qO- http://{db}/ && exit 0; sleep 0.2; done; exit 1"
    );
    let body = d.docker_ok(&["exec", &api, "sh", "-c", &script]);
    assert_eq!(body, format!("hello-from-{db}"));
    // Only on the front network: the back network's names stay unknown.
    let out = d.docker(&[
        "run",
        "--rm",
        "--network",
        &front,
        "busybox",
        "sh",
        "-c",
        &format!("timeout 3 wget -qO- http://{db}/; exit $?"),
    ]);
    assert_failure(
        &out,
        "resolving a name of a network the container is not on",
    );
    d.docker_ok(&["rm", "-f", &api, &db]);
    d.docker_ok(&["network", "rm", &front, &back]);
}

/// Legacy links on the default bridge: the alias in /etc/hosts and the
/// linked container's name, ports and environment as variables.
#[test]
fn links_give_hosts_entries_and_variables() {
    let d = d();
    let child = d.name("link-child");
    d.docker_ok(&[
        "run", "-d", "--name", &child, "-e", "FOO=1", "--expose", "80", "busybox", "sleep", "100",
    ]);
    let ip = inspect(&d, &child, "{{.NetworkSettings.IPAddress}}");
    let me = d.name("link-parent");
    let out = d.docker_ok(&[
        "run", "--name", &me, "--link", &format!("{child}:my-db"), "busybox", "sh", "-c",
        "env | grep ^MY_DB_ | sort; grep -w my-db /etc/hosts; ping -c 1 -W 2 my-db >/dev/null && echo reached",
    ]);
    let want = [
        "MY_DB_ENV_FOO=1".to_string(),
        format!("MY_DB_NAME=/{me}/my-db"),
        format!("MY_DB_PORT=tcp://{ip}:80"),
        format!("MY_DB_PORT_80_TCP=tcp://{ip}:80"),
        format!("MY_DB_PORT_80_TCP_ADDR={ip}"),
        "MY_DB_PORT_80_TCP_PORT=80".to_string(),
        "MY_DB_PORT_80_TCP_PROTO=tcp".to_string(),
    ];
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..want.len()],
        want.iter().map(String::as_str).collect::<Vec<_>>()[..],
        "{out}"
    );
    assert!(
        lines[want.len()].starts_with(&format!("{ip}\tmy-db ")),
        "{out}"
    );
    assert_eq!(lines.last(), Some(&"reached"), "{out}");
    assert_eq!(
        inspect(&d, &me, "{{json .HostConfig.Links}}"),
        format!("[\"/{child}:/{me}/my-db\"]")
    );
    // `docker rm --link` drops it.
    d.docker_ok(&["rm", "--link", &format!("{me}/my-db")]);
    assert_eq!(inspect(&d, &me, "{{json .HostConfig.Links}}"), "[]");
    // A stopped child cannot be linked to; a missing one is refused at create.
    let me2 = d.name("link-parent2");
    d.docker_ok(&[
        "create",
        "--name",
        &me2,
        "--link",
        &format!("{child}:my-db"),
        "busybox",
        "true",
    ]);
    d.docker_ok(&["stop", "-t", "0", &child]);
    let out = d.docker(&["start", &me2]);
    assert_failure(&out, "start with a stopped link");
    assert!(
        stderr(&out).contains("Cannot link to a non running container"),
        "{}",
        stderr(&out)
    );
    let out = d.docker(&["create", "--link", "no-such-child:x", "busybox"]);
    assert_failure(&out, "link to a missing container");
    d.docker_ok(&["rm", "-f", &me, &me2, &child]);
}

#[test]
fn mac_addresses_and_endpoint_links() {
    let d = d();
    let mac = "02:42:ac:11:ee:01";
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--mac-address",
        mac,
        "busybox",
        "cat",
        "/sys/class/net/eth0/address",
    ]);
    assert_eq!(out, mac);
    let net = d.name("macnet");
    d.docker_ok(&["network", "create", &net]);
    let child = d.name("eplink-child");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &child,
        "--network",
        &net,
        "busybox",
        "sleep",
        "100",
    ]);
    let me = d.name("eplink-me");
    let mac2 = "02:42:ac:11:ee:02";
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &me,
        "--network",
        &net,
        "--mac-address",
        mac2,
        "busybox",
        "sleep",
        "100",
    ]);
    assert_eq!(
        d.docker_ok(&["exec", &me, "cat", "/sys/class/net/eth0/address"]),
        mac2
    );
    assert_eq!(
        inspect(
            &d,
            &me,
            &format!("{{{{(index .NetworkSettings.Networks \"{net}\").MacAddress}}}}")
        ),
        mac2
    );
    // A link on a user network: the alias resolves in this container only.
    let other = d.name("eplink-other");
    d.docker_ok(&["run", "-d", "--name", &other, "busybox", "sleep", "100"]);
    d.docker_ok(&[
        "network",
        "connect",
        "--link",
        &format!("{child}:upstream"),
        &net,
        &other,
    ]);
    let hosts = d.docker_ok(&["exec", &other, "cat", "/etc/hosts"]);
    assert!(
        hosts
            .lines()
            .any(|l| l.split_whitespace().nth(1) == Some("upstream")),
        "{hosts}"
    );
    // ... and through its resolver, as Docker answers link aliases.
    let child_ip = inspect(
        &d,
        &child,
        &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
    );
    let out = d.docker_ok(&["exec", &other, "nslookup", "upstream"]);
    assert!(out.contains(&child_ip), "{out}");
    // An endpoint link may name a container that starts later: the alias is
    // looked up when asked (as docker-py's network tests expect).
    let early = d.name("eplink-early");
    let late = d.name("eplink-late");
    let body = serde_json::json!({
        "Image": "busybox", "Cmd": ["sleep", "100"],
        "HostConfig": {"NetworkMode": net},
        "NetworkingConfig": {"EndpointsConfig": {net.clone(): {"Links": [format!("{late}:later")]}}},
    })
    .to_string();
    let r = d.request(
        "POST",
        &format!("/v1.41/containers/create?name={early}"),
        Some(("application/json", body.as_bytes())),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    d.docker_ok(&["start", &early]);
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &late,
        "--network",
        &net,
        "busybox",
        "sleep",
        "100",
    ]);
    let late_ip = inspect(
        &d,
        &late,
        &format!("{{{{(index .NetworkSettings.Networks \"{net}\").IPAddress}}}}"),
    );
    let out = d.docker_ok(&["exec", &early, "nslookup", "later"]);
    assert!(out.contains(&late_ip), "{out}");
    d.docker_ok(&["rm", "-f", &early, &late]);
    assert_eq!(
        inspect(
            &d,
            &other,
            &format!("{{{{json (index .NetworkSettings.Networks \"{net}\").Links}}}}")
        ),
        format!("[\"{child}:upstream\"]")
    );
    // --link-local-ip: an extra 169.254/16 address on the interface.
    let ll = d.name("linklocal");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &ll,
        "--network",
        &net,
        "--link-local-ip",
        "169.254.8.8",
        "busybox",
        "sleep",
        "100",
    ]);
    let addrs = d.docker_ok(&["exec", &ll, "ip", "-o", "addr", "show", "eth0"]);
    assert!(addrs.contains("169.254.8.8/16"), "{addrs}");
    assert_eq!(
        inspect(
            &d,
            &ll,
            &format!(
                "{{{{json (index .NetworkSettings.Networks \"{net}\").IPAMConfig.LinkLocalIPs}}}}"
            )
        ),
        "[\"169.254.8.8\"]"
    );
    d.docker_ok(&["rm", "-f", &me, &child, &other, &ll]);
    d.docker_ok(&["network", "rm", &net]);
    assert_failure(
        &d.docker(&[
            "run",
            "--rm",
            "--mac-address",
            "01:00:00:00:00:01",
            "busybox",
            "true",
        ]),
        "multicast MAC",
    );
}
