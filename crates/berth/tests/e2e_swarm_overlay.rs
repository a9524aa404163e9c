//! Overlay networks across hosts: three daemons in their own network
//! namespaces on a test LAN (one manager, two workers); an overlay made on
//! the manager carries a service whose tasks run on the workers, and a
//! client task on the manager reaches it by VIP (balanced over the tasks),
//! by `tasks.<service>` and in dnsrr mode, over VXLAN between the hosts.
//! Names follow scale-up; removing everything leaves no segment behind.
//! A plain container joins an attachable overlay on a worker by name.
//! Published ports answer on every node through the routing mesh, and
//! keep answering when a node running a task dies; a service can ask the
//! mesh to keep its clients' addresses.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::cluster::Cluster;
use common::{assert_fails_with, assert_success, wait_for};

/// The id of the running container of `service`'s task on host `i`.
fn task_container(c: &Cluster, i: usize, service: &str) -> Option<String> {
    let out = c.hosts[i].d.docker_ok(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=com.docker.swarm.service.name={service}"),
    ]);
    out.lines().next().map(str::to_string)
}

/// Addresses `name` resolves to inside `container` (busybox nslookup,
/// the answers after the server's own lines).
fn resolve(c: &Cluster, i: usize, container: &str, name: &str) -> BTreeSet<String> {
    let out = c.hosts[i].d.docker(&["exec", container, "nslookup", name]);
    let text = String::from_utf8_lossy(&out.stdout);
    text.split(&format!("Name:\t{name}"))
        .skip(1)
        .flat_map(|block| block.lines())
        .filter_map(|l| l.strip_prefix("Address: "))
        .map(|a| a.trim().to_string())
        .collect()
}

/// The page at `http://addr/`, fetched from `container` on the manager.
/// (By address: the static busybox's wget cannot use glibc's resolver;
/// its own `-T` crashes, hence `timeout`.)
fn fetch(c: &Cluster, container: &str, addr: &str) -> String {
    c.hosts[0].d.docker_ok(&[
        "exec",
        container,
        "timeout",
        "5",
        "wget",
        "-qO-",
        &format!("http://{addr}/"),
    ])
}

/// [`fetch`], or None when it fails.
fn try_fetch(c: &Cluster, container: &str, addr: &str) -> Option<String> {
    let out = c.hosts[0].d.docker(&[
        "exec",
        container,
        "timeout",
        "5",
        "wget",
        "-qO-",
        &format!("http://{addr}/"),
    ]);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn services_on_an_overlay_reach_each_other_across_hosts() {
    let c = Cluster::new(3);
    let token = c.init();
    for i in 1..3 {
        assert_success(&c.join(i, &token), "swarm join");
    }
    let m = &c.hosts[0].d;

    // The network is the cluster's: a subnet of the default pool after the
    // ingress one, a VXLAN id, swarm scope.
    m.docker_ok(&["network", "create", "-d", "overlay", "--attachable", "ovl"]);
    let shown = m.docker_ok(&[
        "network",
        "inspect",
        "--format",
        "{{.Scope}} {{.Driver}} {{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}} {{index .Options \"com.docker.network.driver.overlay.vxlanid_list\"}}",
        "ovl",
    ]);
    assert_eq!(shown, "swarm overlay 10.0.1.0/24 10.0.1.1 4097");
    let listed = m.docker_ok(&[
        "network",
        "ls",
        "--filter",
        "scope=swarm",
        "--format",
        "{{.Name}}",
    ]);
    assert_eq!(listed, "ingress\novl");
    // `?scope=` finds a network only in its own scope (docker-py's test).
    let status = |q: &str| {
        let out = std::process::Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--unix-socket",
            ])
            .arg(m.socket())
            .arg(format!("http://d/networks/ovl{q}"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert_eq!(status("?scope=swarm"), "200");
    assert_eq!(status("?scope=local"), "404");
    // Bad input: an overlapping subnet, encryption, an unknown network.
    assert_fails_with(
        &m.docker(&[
            "network",
            "create",
            "-d",
            "overlay",
            "--subnet",
            "10.0.1.128/25",
            "x",
        ]),
        "Pool overlaps with other one on this address space",
    );
    assert_fails_with(
        &m.docker(&[
            "network",
            "create",
            "-d",
            "overlay",
            "--opt",
            "encrypted",
            "x",
        ]),
        "not implemented: encrypted overlay networks",
    );
    assert_fails_with(
        &m.docker(&["network", "create", "-d", "overlay", "ovl"]),
        "network with name ovl already exists",
    );
    assert_fails_with(
        &m.docker(&[
            "service",
            "create",
            "--network",
            "nope",
            "busybox:latest",
            "top",
        ]),
        "network nope not found",
    );

    // Two web tasks on the workers, each answering with its own hostname;
    // a client task on the manager.
    m.docker_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        "web",
        "--network",
        "ovl",
        "--replicas",
        "2",
        "--replicas-max-per-node",
        "1",
        "--constraint",
        "node.role==worker",
        "busybox:latest",
        "sh",
        "-c",
        "mkdir /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www",
    ]);
    m.docker_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        "rr",
        "--network",
        "ovl",
        "--endpoint-mode",
        "dnsrr",
        "--replicas",
        "2",
        "--constraint",
        "node.role==worker",
        "busybox:latest",
        "sleep",
        "3600",
    ]);
    m.docker_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        "client",
        "--network",
        "ovl",
        "--constraint",
        "node.role==manager",
        "busybox:latest",
        "sleep",
        "3600",
    ]);
    let up = wait_for(Duration::from_secs(90), || {
        (c.running_tasks("web") == 2
            && c.running_tasks("rr") == 2
            && c.running_tasks("client") == 1)
            .then_some(())
    });
    assert!(
        up.is_some(),
        "{}",
        m.docker_ok(&["service", "ps", "--no-trunc", "web", "rr", "client"])
    );
    let client = task_container(&c, 0, "client").unwrap();

    // The web service's name is its VIP on the overlay.
    let vip = m.docker_ok(&[
        "service",
        "inspect",
        "--format",
        "{{range .Endpoint.VirtualIPs}}{{.Addr}}{{end}}",
        "web",
    ]);
    assert!(vip.starts_with("10.0.1.") && vip.ends_with("/24"), "{vip}");
    let vip = vip.trim_end_matches("/24").to_string();
    let names = wait_for(Duration::from_secs(10), || {
        let got = resolve(&c, 0, &client, "web");
        (got.len() == 1).then_some(got)
    });
    assert_eq!(names, Some(BTreeSet::from([vip.clone()])));
    // tasks.web: the two tasks' own addresses, none of them the VIP.
    let tasks = wait_for(Duration::from_secs(10), || {
        let got = resolve(&c, 0, &client, "tasks.web");
        (got.len() == 2).then_some(got)
    })
    .unwrap_or_else(|| panic!("{:?}", resolve(&c, 0, &client, "tasks.web")));
    assert!(!tasks.contains(&vip), "{tasks:?}");

    // Connections to the VIP cross to the other hosts and are balanced
    // over both tasks (nslookup above asked the names).
    let mut answers = BTreeSet::new();
    for _ in 0..6 {
        let body = fetch(&c, &client, &vip);
        answers.insert(body);
    }
    assert_eq!(answers.len(), 2, "{answers:?}");
    // A worker's daemon killed and started again: its task keeps running
    // and stays reachable over the overlay (live restore of the segment,
    // its entries and the task's endpoint).
    let before = task_container(&c, 1, "web");
    c.hosts[1].d.kill9();
    c.hosts[1].d.restart();
    let both = wait_for(Duration::from_secs(30), || {
        let got: Option<BTreeSet<String>> = (0..6).map(|_| try_fetch(&c, &client, &vip)).collect();
        (got.as_ref() == Some(&answers)).then_some(())
    });
    assert!(both.is_some(), "the restarted worker's task left the VIP");
    assert_eq!(
        task_container(&c, 1, "web"),
        before,
        "the task was adopted, not replaced"
    );

    // Each task answers straight on its own address too.
    for addr in &tasks {
        fetch(&c, &client, addr);
    }
    // dnsrr: the name itself is the tasks' addresses.
    let rr = wait_for(Duration::from_secs(10), || {
        let got = resolve(&c, 0, &client, "rr");
        (got.len() == 2).then_some(got)
    });
    assert!(rr.is_some(), "{:?}", resolve(&c, 0, &client, "rr"));
    for addr in rr.unwrap() {
        c.hosts[0]
            .d
            .docker_ok(&["exec", &client, "ping", "-c", "1", "-W", "3", &addr]);
    }

    // A plain container on a worker joins the attachable overlay by name:
    // it reaches the services, and the client finds it by its name.
    let w = &c.hosts[2].d;
    w.docker_ok(&[
        "run",
        "-d",
        "--name",
        "att",
        "--network",
        "ovl",
        "busybox:latest",
        "sleep",
        "3600",
    ]);
    let att_ip = w.docker_ok(&[
        "inspect",
        "--format",
        "{{(index .NetworkSettings.Networks \"ovl\").IPAddress}}",
        "att",
    ]);
    assert!(att_ip.starts_with("10.0.1."), "{att_ip}");
    let found = wait_for(Duration::from_secs(10), || {
        let got = resolve(&c, 0, &client, "att");
        (got == BTreeSet::from([att_ip.clone()])).then_some(())
    });
    assert!(found.is_some(), "{:?}", resolve(&c, 0, &client, "att"));
    c.hosts[0]
        .d
        .docker_ok(&["exec", &client, "ping", "-c", "1", "-W", "3", &att_ip]);
    let page = w.docker_ok(&[
        "exec",
        "att",
        "timeout",
        "5",
        "wget",
        "-qO-",
        &format!("http://{vip}/"),
    ]);
    assert!(answers.contains(&page), "{page} not one of {answers:?}");
    w.docker_ok(&["rm", "-f", "att"]);
    let forgotten = wait_for(Duration::from_secs(10), || {
        resolve(&c, 0, &client, "att").is_empty().then_some(())
    });
    assert!(forgotten.is_some(), "att still resolves after rm");
    // `network connect` of a running container works the same way.
    w.docker_ok(&[
        "run",
        "-d",
        "--name",
        "late",
        "busybox:latest",
        "sleep",
        "3600",
    ]);
    w.docker_ok(&["network", "connect", "ovl", "late"]);
    let late_ip = w.docker_ok(&[
        "inspect",
        "--format",
        "{{(index .NetworkSettings.Networks \"ovl\").IPAddress}}",
        "late",
    ]);
    assert!(late_ip.starts_with("10.0.1."), "{late_ip}");
    let found = wait_for(Duration::from_secs(10), || {
        (resolve(&c, 0, &client, "late") == BTreeSet::from([late_ip.clone()])).then_some(())
    });
    assert!(found.is_some(), "{:?}", resolve(&c, 0, &client, "late"));
    let has_address = |a: &str| {
        w.docker_ok(&["exec", "late", "ip", "-4", "-o", "addr"])
            .contains(&format!("inet {a}/"))
    };
    assert!(has_address(&late_ip));
    // Disconnected, it is no longer a member: its name goes, and so does its
    // interface (a port of the VXLAN device in its own namespace).
    w.docker_ok(&["network", "disconnect", "ovl", "late"]);
    let gone = wait_for(Duration::from_secs(10), || {
        resolve(&c, 0, &client, "late").is_empty().then_some(())
    });
    assert!(gone.is_some(), "late still resolves after disconnect");
    assert!(!has_address(&late_ip), "late keeps its overlay interface");
    w.docker_ok(&["rm", "-f", "late"]);
    // A stopped container records the network; starting it attaches it.
    w.docker_ok(&[
        "create",
        "--name",
        "later",
        "busybox:latest",
        "sleep",
        "3600",
    ]);
    w.docker_ok(&["network", "connect", "--alias", "behind", "ovl", "later"]);
    w.docker_ok(&["start", "later"]);
    let later_ip = w.docker_ok(&[
        "inspect",
        "--format",
        "{{(index .NetworkSettings.Networks \"ovl\").IPAddress}}",
        "later",
    ]);
    assert!(later_ip.starts_with("10.0.1."), "{later_ip}");
    let found = wait_for(Duration::from_secs(10), || {
        (resolve(&c, 0, &client, "behind") == BTreeSet::from([later_ip.clone()])).then_some(())
    });
    assert!(found.is_some(), "{:?}", resolve(&c, 0, &client, "behind"));
    w.docker_ok(&["rm", "-f", "later"]);
    // A network made without --attachable takes no plain containers.
    m.docker_ok(&["network", "create", "-d", "overlay", "closed"]);
    assert_fails_with(
        &w.docker(&[
            "run",
            "--rm",
            "--network",
            "closed",
            "busybox:latest",
            "true",
        ]),
        "not manually attachable",
    );
    m.docker_ok(&["network", "rm", "closed"]);

    // The way out is the node's docker_gwbridge (here: another host's
    // address on the test LAN).
    c.hosts[0].d.docker_ok(&[
        "exec",
        &client,
        "ping",
        "-c",
        "1",
        "-W",
        "3",
        &c.hosts[1].ip,
    ]);
    let gw = m.docker_ok(&[
        "network",
        "inspect",
        "--format",
        "{{.Scope}} {{index .Options \"com.docker.network.bridge.enable_icc\"}}",
        "docker_gwbridge",
    ]);
    assert_eq!(gw, "local false");

    // Scaling up: the new task is named within moments of running.
    m.docker_ok(&[
        "service",
        "update",
        "-d",
        "--replicas-max-per-node",
        "2",
        "--replicas",
        "3",
        "web",
    ]);
    let three = wait_for(Duration::from_secs(30), || {
        let got = resolve(&c, 0, &client, "tasks.web");
        (got.len() == 3).then_some(got)
    });
    assert!(
        three.is_some(),
        "{:?}",
        resolve(&c, 0, &client, "tasks.web")
    );

    // Removing the services and the network leaves no segment on any host.
    m.docker_ok(&["service", "rm", "web", "rr", "client"]);
    m.docker_ok(&["network", "rm", "ovl"]);
    let gone = wait_for(Duration::from_secs(30), || {
        c.segments_besides_ingress()
            .iter()
            .all(Vec::is_empty)
            .then_some(())
    });
    assert!(gone.is_some(), "{:?}", c.segments_besides_ingress());
    let listed = m.docker_ok(&[
        "network",
        "ls",
        "--filter",
        "scope=swarm",
        "--format",
        "{{.Name}}",
    ]);
    assert_eq!(listed, "ingress");
}

/// The page at `http://addr:port/` fetched from host `from`'s own network
/// namespace (a client on the LAN), or None.
fn fetch_from_host(c: &Cluster, from: usize, addr: &str, port: u16) -> Option<String> {
    let out = std::process::Command::new("nsenter")
        .arg(format!("--net={}", c.hosts[from].ns.path().display()))
        .args(["timeout", "5", "busybox", "wget", "-qO-"])
        .arg(format!("http://{addr}:{port}/"))
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn published_ports_answer_on_every_node_through_the_routing_mesh() {
    let c = Cluster::new(3);
    let token = c.init();
    for i in 1..3 {
        assert_success(&c.join(i, &token), "swarm join");
    }
    let m = &c.hosts[0].d;
    // swarm init made the ingress network, as dockerd's.
    let ingress = m.docker_ok(&[
        "network",
        "inspect",
        "--format",
        "{{.Ingress}} {{.Scope}} {{range .IPAM.Config}}{{.Subnet}}{{end}}",
        "ingress",
    ]);
    assert_eq!(
        ingress,
        "true swarm 10.0.0.0/24",
        "{}",
        m.docker_ok(&["network", "inspect", "ingress"])
    );

    // Two tasks on the workers, none on the manager; port 8080 everywhere.
    m.docker_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        "mesh",
        "--replicas",
        "2",
        "--replicas-max-per-node",
        "1",
        "--constraint",
        "node.role==worker",
        "-p",
        "8080:80",
        "busybox:latest",
        "sh",
        "-c",
        "mkdir /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www",
    ]);
    let up = wait_for(Duration::from_secs(90), || {
        (c.running_tasks("mesh") == 2).then_some(())
    });
    assert!(
        up.is_some(),
        "{}",
        m.docker_ok(&["service", "ps", "--no-trunc", "mesh"])
    );
    let ports = m.docker_ok(&[
        "service",
        "inspect",
        "--format",
        "{{range .Endpoint.Ports}}{{.PublishedPort}}:{{.TargetPort}}/{{.Protocol}} {{.PublishMode}}{{end}}",
        "mesh",
    ]);
    assert_eq!(ports, "8080:80/tcp ingress");
    // Every node answers, the manager (no task) included, and a client of
    // one node is balanced over both tasks.
    for target in &c.hosts {
        let got = wait_for(Duration::from_secs(15), || {
            fetch_from_host(&c, 1, &target.ip, 8080)
        });
        assert!(got.is_some(), "no answer on {}:8080", target.ip);
    }
    let mut answers = BTreeSet::new();
    for _ in 0..8 {
        if let Some(a) = fetch_from_host(&c, 2, &c.hosts[0].ip, 8080) {
            answers.insert(a);
        }
    }
    assert_eq!(answers.len(), 2, "{answers:?}");

    // A worker running one of the tasks dies (daemon killed, cable
    // pulled): once the managers see it down, its task leaves the mesh and
    // every request is answered by the other.
    let t0 = std::time::Instant::now();
    c.hosts[2].d.kill9();
    c.link_down(2);
    let mut streak = 0;
    let recovered = wait_for(Duration::from_secs(60), || {
        match fetch_from_host(&c, 1, &c.hosts[0].ip, 8080) {
            Some(_) => streak += 1,
            None => streak = 0,
        }
        (streak >= 10).then(|| t0.elapsed())
    });
    assert!(
        recovered.is_some(),
        "the mesh kept sending to the dead node's task"
    );
    eprintln!(
        "routing mesh: answering steadily {:?} after the node died",
        recovered.unwrap()
    );

    // A port published without a number gets one of dockerd's range.
    m.docker_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        "auto",
        "-p",
        "80",
        "busybox:latest",
        "top",
    ]);
    let auto = m.docker_ok(&[
        "service",
        "inspect",
        "--format",
        "{{range .Endpoint.Ports}}{{.PublishedPort}}{{end}}",
        "auto",
    ]);
    let auto: u32 = wait_for(Duration::from_secs(10), || {
        let p = m.docker_ok(&[
            "service",
            "inspect",
            "--format",
            "{{range .Endpoint.Ports}}{{.PublishedPort}}{{end}}",
            "auto",
        ]);
        p.parse().ok().filter(|p| *p != 0)
    })
    .unwrap_or_else(|| panic!("no published port: {auto:?}"));
    assert!((30000..=32767).contains(&auto), "{auto}");

    // The ingress network goes only once no service needs it, and can be
    // made again with --ingress.
    assert_fails_with(
        // The CLI asks before removing ingress: "y" on its input.
        &m.docker_stdin(&["network", "rm", "ingress"], b"y\n"),
        "ingress network cannot be removed because service",
    );
    m.docker_ok(&["service", "rm", "mesh", "auto"]);
    assert_success(
        &m.docker_stdin(&["network", "rm", "ingress"], b"y\n"),
        "network rm ingress",
    );
    // The nodes drop their copies once their last task's container went.
    let gone = wait_for(Duration::from_secs(20), || {
        m.docker_ok(&["network", "ls", "-q", "--filter", "name=ingress"])
            .is_empty()
            .then_some(())
    });
    assert!(gone.is_some(), "{}", m.docker_ok(&["network", "ls"]));
    assert_fails_with(
        &m.docker(&[
            "service",
            "create",
            "-p",
            "8081:80",
            "busybox:latest",
            "top",
        ]),
        "service needs ingress network, but no ingress network is present",
    );
    m.docker_ok(&[
        "network",
        "create",
        "-d",
        "overlay",
        "--ingress",
        "mesh-ingress",
    ]);
    assert_fails_with(
        &m.docker(&["network", "create", "-d", "overlay", "--ingress", "another"]),
        "is already present",
    );
    m.docker_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        "again",
        "-p",
        "8082:80",
        "busybox:latest",
        "sh",
        "-c",
        "mkdir /www && echo again > /www/index.html && exec httpd -f -p 80 -h /www",
    ]);
    let again = wait_for(Duration::from_secs(60), || {
        fetch_from_host(&c, 1, &c.hosts[0].ip, 8082)
    });
    assert_eq!(again.as_deref(), Some("again"));
    m.docker_ok(&["service", "rm", "again"]);
    // With the port gone, nothing answers it.
    let closed = wait_for(Duration::from_secs(20), || {
        fetch_from_host(&c, 1, &c.hosts[0].ip, 8082)
            .is_none()
            .then_some(())
    });
    assert!(closed.is_some(), "port 8082 still answers after service rm");
}

/// A CGI page that answers with the client address the task sees.
const REMOTE_ADDR_SERVER: &str = "mkdir -p /www/cgi-bin && \
    printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho $REMOTE_ADDR\\n' > /www/cgi-bin/ip && \
    chmod +x /www/cgi-bin/ip && exec httpd -f -p 80 -h /www";

fn remote_addr_seen(c: &Cluster, from: usize, addr: &str, port: u16) -> Option<String> {
    let out = std::process::Command::new("nsenter")
        .arg(format!("--net={}", c.hosts[from].ns.path().display()))
        .args(["timeout", "5", "busybox", "wget", "-qO-"])
        .arg(format!("http://{addr}:{port}/cgi-bin/ip"))
        .output()
        .ok()?;
    // httpd listens on IPv6 too: IPv4 clients show as `[::ffff:a.b.c.d]`.
    out.status.success().then(|| {
        let s = String::from_utf8_lossy(&out.stdout);
        let s = s.trim().trim_start_matches('[').trim_end_matches(']');
        s.trim_start_matches("::ffff:").to_string()
    })
}

#[test]
fn the_routing_mesh_keeps_client_addresses_for_services_that_ask() {
    let c = Cluster::new(2);
    let token = c.init();
    assert_success(&c.join(1, &token), "swarm join");
    let m = &c.hosts[0].d;
    let (manager_ip, worker_ip) = (c.hosts[0].ip.clone(), c.hosts[1].ip.clone());
    for (name, port, label) in [
        (
            "keep",
            "8080:80",
            Some("berth.ingress.preserve-source=true"),
        ),
        ("swarmlike", "8081:80", None),
    ] {
        let mut args = vec![
            "service",
            "create",
            "-d",
            "--name",
            name,
            "--constraint",
            "node.role==worker",
            "-p",
            port,
        ];
        if let Some(l) = label {
            args.extend(["--label", l]);
        }
        args.extend(["busybox:latest", "sh", "-c", REMOTE_ADDR_SERVER]);
        m.docker_ok(&args);
    }
    let up = wait_for(Duration::from_secs(90), || {
        (c.running_tasks("keep") == 1 && c.running_tasks("swarmlike") == 1).then_some(())
    });
    assert!(
        up.is_some(),
        "{}",
        m.docker_ok(&["service", "ps", "keep", "swarmlike"])
    );
    let in_ingress = |a: &str| a.starts_with("10.0.0.");

    // The node running the task hands the manager's connection over with
    // the manager's own address, and its own local one with its own.
    let seen = wait_for(Duration::from_secs(20), || {
        remote_addr_seen(&c, 0, &worker_ip, 8080)
    });
    assert_eq!(seen.as_deref(), Some(manager_ip.as_str()));
    assert_eq!(
        remote_addr_seen(&c, 1, &worker_ip, 8080).as_deref(),
        Some(worker_ip.as_str())
    );
    // The manager runs no task of it: it still answers, masquerading.
    let via_manager = wait_for(Duration::from_secs(20), || {
        remote_addr_seen(&c, 1, &manager_ip, 8080)
    })
    .expect("no answer through the manager");
    assert!(in_ingress(&via_manager), "{via_manager}");
    // Without the label: swarm's behaviour, the node's address on ingress.
    let swarmlike = wait_for(Duration::from_secs(20), || {
        remote_addr_seen(&c, 0, &worker_ip, 8081)
    })
    .expect("no answer on 8081");
    assert!(in_ingress(&swarmlike), "{swarmlike}");
    // The task still reaches out through docker_gwbridge, not the ingress.
    let task = task_container(&c, 1, "keep").expect("no task container on the worker");
    let routes = c.hosts[1]
        .d
        .docker_ok(&["exec", &task, "ip", "route", "get", "192.0.2.1"]);
    assert!(!routes.contains("10.0.0."), "{routes}");
    m.docker_ok(&["service", "rm", "keep", "swarmlike"]);
}
