//! The HTTP router of every node routes to swarm services by their labels:
//! three daemons in their own network namespaces on a test LAN (one
//! manager, two workers), each with `--router-addr`. A service labelled
//! `berth.http.host` whose tasks run on the workers is reached by host
//! name through the manager's router (which runs no task), balanced over
//! every task and merged with a local container of the same labels; a
//! service with only a mesh port is reached over ingress; scale down and
//! up show in the route within a second, a rolling update and a worker
//! killed fail no request, an unhealthy task leaves, a restarted daemon
//! routes again; `service rm` leaves 404 and no leg (veth, address,
//! route) on any node; bad labels are refused by name.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::cluster::Cluster;
use common::{assert_success, berth_ok, wait_for};

const ROUTER_PORT: u16 = 8088;

/// (status, body) of `GET http://web.test/` through host `i`'s router.
fn get(c: &Cluster, i: usize, host: &str) -> (u16, String) {
    c.router_get(i, ROUTER_PORT, host)
}

/// The distinct answers of `n` requests through host `i`'s router, and
/// how many were not 200.
fn spread(c: &Cluster, i: usize, n: usize) -> (BTreeSet<String>, usize) {
    let mut answers = BTreeSet::new();
    let mut failed = 0;
    for _ in 0..n {
        match get(c, i, "web.test") {
            (200, body) => {
                answers.insert(body);
            }
            other => {
                eprintln!("router of host {i}: {other:?}");
                failed += 1;
            }
        }
    }
    (answers, failed)
}

/// The backends (container names) host `i`'s router has for `host`.
fn backends_of(c: &Cluster, i: usize, host: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(&berth_ok(
        &c.hosts[i].d,
        &["router", "ls", "--format", "json"],
    ))
    .unwrap();
    v["routes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["host"] == host)
        .flat_map(|r| r["backends"].as_array().cloned().unwrap_or_default())
        .map(|b| b["container"].as_str().unwrap_or("").to_string())
        .collect()
}

/// How many backends host `i`'s router has for web.test.
fn backends(c: &Cluster, i: usize) -> usize {
    backends_of(c, i, "web.test").len()
}

/// The node's legs on overlays besides ingress, and routes through them.
fn legs(c: &Cluster, i: usize) -> (Vec<String>, Vec<String>) {
    let links = c.hosts[i]
        .ns
        .links()
        .into_iter()
        .filter(|l| l.starts_with("brt"))
        .collect();
    let routes = c.hosts[i]
        .ns
        .ip(&["-4", "route", "show"])
        .lines()
        .filter(|l| l.contains("brt"))
        .map(str::to_string)
        .collect();
    (links, routes)
}

const HTTPD: &str = "mkdir /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www";

#[test]
fn services_are_routed_by_every_nodes_router_across_the_cluster() {
    let c = Cluster::with_daemon_args(3, &["--router-addr", &format!("0.0.0.0:{ROUTER_PORT}")]);
    let token = c.init();
    for i in 1..3 {
        assert_success(&c.join(i, &token), "swarm join");
    }
    let m = &c.hosts[0].d;
    m.docker_ok(&["network", "create", "-d", "overlay", "webnet"]);
    let subnet = m.docker_ok(&[
        "network",
        "inspect",
        "--format",
        "{{range .IPAM.Config}}{{.Subnet}}{{end}}",
        "webnet",
    ]);

    // Three tasks on the workers, none on the manager.
    let created = Instant::now();
    m.docker_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        "web",
        "--replicas",
        "3",
        "--constraint",
        "node.role==worker",
        "--network",
        "webnet",
        "--label",
        "berth.http.host=web.test",
        "--label",
        "berth.http.port=80",
        "busybox:latest",
        "sh",
        "-c",
        HTTPD,
    ]);
    // Bad values: the service runs, its route is refused by name; a
    // service without an overlay network has no way to its tasks.
    m.docker_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        "badport",
        "--network",
        "webnet",
        "--label",
        "berth.http.host=bad.test",
        "--label",
        "berth.http.port=http",
        "busybox:latest",
        "sh",
        "-c",
        HTTPD,
    ]);
    m.docker_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        "nonet",
        "--label",
        "berth.http.host=nonet.test",
        "busybox:latest",
        "sh",
        "-c",
        HTTPD,
    ]);
    let up = wait_for(Duration::from_secs(120), || {
        (c.running_tasks("web") == 3
            && c.running_tasks("badport") == 1
            && c.running_tasks("nonet") == 1)
            .then_some(())
    });
    assert!(
        up.is_some(),
        "{}",
        m.docker_ok(&["service", "ps", "--no-trunc", "web"])
    );
    let routed = wait_for(Duration::from_secs(20), || {
        (get(&c, 0, "web.test").0 == 200).then(|| created.elapsed())
    });
    assert!(
        routed.is_some(),
        "no answer through the manager's router: {:?}\n{}\n{}",
        get(&c, 0, "web.test"),
        berth_ok(m, &["router", "ls"]),
        m.log_tail()
    );
    eprintln!("service routed {:?} after service create", routed.unwrap());

    // Balanced over every task, through a node without any and through a
    // worker (its own task and the other worker's).
    for i in [0, 1] {
        let (answers, failed) = spread(&c, i, 24);
        assert_eq!(failed, 0, "router of host {i}");
        assert_eq!(answers.len(), 3, "router of host {i}: {answers:?}");
    }
    // A service without a network of its own that publishes through the
    // routing mesh is reached on the ingress network (every node's mesh
    // leg), its port the published target port.
    m.docker_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        "meshed",
        "--replicas",
        "2",
        "--constraint",
        "node.role==worker",
        "--replicas-max-per-node",
        "1",
        "-p",
        "8081:80",
        "--label",
        "berth.http.host=mesh.test",
        "busybox:latest",
        "sh",
        "-c",
        HTTPD,
    ]);
    let meshed = wait_for(Duration::from_secs(60), || {
        (backends_of(&c, 0, "mesh.test").len() == 2).then_some(())
    });
    assert!(meshed.is_some(), "{}", berth_ok(m, &["router", "ls"]));
    let mut answers = BTreeSet::new();
    for _ in 0..12 {
        let (code, body) = get(&c, 0, "mesh.test");
        assert_eq!(code, 200, "{body}");
        answers.insert(body);
    }
    assert_eq!(answers.len(), 2, "{answers:?}");
    m.docker_ok(&["service", "rm", "meshed"]);

    // A container of the manager with the same labels is one more
    // backend of the same route (the test daemons have no default bridge).
    m.docker_ok(&["network", "create", "localnet"]);
    let local = m.docker_ok(&[
        "run",
        "-d",
        "--network",
        "localnet",
        "--label",
        "berth.http.host=web.test",
        "--label",
        "berth.http.port=80",
        "busybox:latest",
        "sh",
        "-c",
        HTTPD,
    ]);
    let merged = wait_for(Duration::from_secs(10), || {
        (backends(&c, 0) == 4).then_some(())
    });
    assert!(merged.is_some(), "{}", berth_ok(m, &["router", "ls"]));
    let (answers, failed) = spread(&c, 0, 24);
    assert_eq!((answers.len(), failed), (4, 0), "{answers:?}");
    m.docker_ok(&["rm", "-f", &local]);

    // The manager holds a leg on the service's network: a veth with an
    // address of its subnet, and the subnet's route through it.
    let (links, routes) = legs(&c, 0);
    assert_eq!(links.len(), 1, "{links:?}");
    assert!(
        routes.iter().any(|r| r.starts_with(&subnet)),
        "{routes:?} ({subnet})"
    );

    // Refusals, by service name, with the reason.
    let table = berth_ok(m, &["router", "ls"]);
    assert!(
        table.contains("REFUSED service badport: label berth.http.port=\"http\""),
        "{table}"
    );
    assert!(
        table.contains("REFUSED service nonet: label berth.http.host=\"nonet.test\"")
            && table.contains("--network"),
        "{table}"
    );
    assert_eq!(get(&c, 0, "bad.test").0, 404);
    // Logged once on each node, not once a second.
    let log = std::fs::read_to_string(m.tmp().join("daemon.log")).unwrap();
    let warned = log
        .matches("router: service badport gets no route: label berth.http.port")
        .count();
    assert_eq!(warned, 1, "{}", m.log_tail());

    // Scale down: the route follows at once, and no request fails (the
    // tasks leaving are drained, a connection refused is retried).
    let t0 = Instant::now();
    m.docker_ok(&["service", "scale", "-d", "web=1"]);
    let mut failed = 0;
    let down = wait_for(Duration::from_secs(10), || {
        failed += spread(&c, 0, 2).1;
        (backends(&c, 0) == 1).then(|| t0.elapsed())
    });
    assert!(down.is_some(), "{}", berth_ok(m, &["router", "ls"]));
    eprintln!("scale 3 → 1: one backend after {:?}", down.unwrap());
    assert!(down.unwrap() < Duration::from_secs(3), "{down:?}");
    let (answers, more) = spread(&c, 0, 10);
    assert_eq!((answers.len(), failed + more), (1, 0), "{answers:?}");

    // Scale up: each new task joins once it runs.
    let t0 = Instant::now();
    m.docker_ok(&["service", "scale", "-d", "web=3"]);
    let up = wait_for(Duration::from_secs(60), || {
        (backends(&c, 0) == 3).then(|| t0.elapsed())
    });
    assert!(up.is_some(), "{}", berth_ok(m, &["router", "ls"]));
    eprintln!("scale 1 → 3: three backends after {:?}", up.unwrap());
    let (answers, failed) = spread(&c, 0, 24);
    assert_eq!((answers.len(), failed), (3, 0), "{answers:?}");

    // A rolling update (stop-first, one task at a time) under requests:
    // each old task leaves the route before it stops, each new one joins
    // once it runs; no request fails.
    m.docker_ok(&["service", "update", "-d", "--env-add", "V=2", "web"]);
    let mut failed = 0;
    let updated = wait_for(Duration::from_secs(90), || {
        failed += spread(&c, 0, 4).1;
        let state = m.docker_ok(&[
            "service",
            "inspect",
            "--format",
            "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}",
            "web",
        ]);
        (state == "completed" && backends(&c, 0) == 3).then_some(())
    });
    assert!(
        updated.is_some(),
        "{}",
        m.docker_ok(&["service", "ps", "web"])
    );
    eprintln!("rolling update: {failed} failed requests");
    assert_eq!(failed, 0);
    let (answers, failed) = spread(&c, 0, 24);
    assert_eq!((answers.len(), failed), (3, 0), "{answers:?}");

    // A task whose health check fails leaves the route at once: its agent
    // reports it unhealthy before the stop, which takes the whole grace
    // period here (busybox httpd, pid 1, ignores SIGTERM), and fails the
    // task after it, as dockerd's agent does.
    m.docker_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        "hc",
        "--replicas",
        "2",
        "--constraint",
        "node.role==worker",
        "--network",
        "webnet",
        "--label",
        "berth.http.host=hc.test",
        "--label",
        "berth.http.port=80",
        "--health-cmd",
        "test -f /www/index.html",
        "--health-interval",
        "500ms",
        "--health-retries",
        "1",
        "--stop-grace-period",
        "10s",
        "busybox:latest",
        "sh",
        "-c",
        HTTPD,
    ]);
    let both = wait_for(Duration::from_secs(60), || {
        (backends_of(&c, 0, "hc.test").len() == 2).then_some(())
    });
    assert!(both.is_some(), "{}", berth_ok(m, &["router", "ls"]));
    let sick = c.hosts[1]
        .d
        .docker_ok(&[
            "ps",
            "-q",
            "--filter",
            "label=com.docker.swarm.service.name=hc",
        ])
        .lines()
        .next()
        .unwrap()
        .to_string();
    let sick_name = c.hosts[1]
        .d
        .docker_ok(&["inspect", "--format", "{{.Name}}", &sick])
        .trim_start_matches('/')
        .to_string();
    assert!(backends_of(&c, 0, "hc.test").contains(&sick_name));
    let t0 = Instant::now();
    c.hosts[1]
        .d
        .docker_ok(&["exec", &sick, "busybox", "rm", "/www/index.html"]);
    let left = wait_for(Duration::from_secs(15), || {
        (!backends_of(&c, 0, "hc.test").contains(&sick_name)).then(|| t0.elapsed())
    });
    assert!(left.is_some(), "{}", berth_ok(m, &["router", "ls"]));
    eprintln!(
        "unhealthy task left the route {:?} after its check began failing",
        left.unwrap()
    );
    // Left while its container still runs (its stop's grace period).
    let running = c.hosts[1]
        .d
        .docker_ok(&["inspect", "--format", "{{.State.Running}}", &sick]);
    assert_eq!(running.trim(), "true", "the route waited for the stop");
    let (answers, failed) = (0..6).fold((BTreeSet::new(), 0), |(mut a, f), _| {
        match get(&c, 0, "hc.test") {
            (200, body) => {
                a.insert(body);
                (a, f)
            }
            _ => (a, f + 1),
        }
    });
    assert_eq!((answers.len(), failed), (1, 0), "{answers:?}");

    // A worker running tasks dies: requests through the manager keep being
    // answered (retries past the dead tasks, then they leave the route
    // once the node is down).
    let on_two = c.hosts[2]
        .d
        .docker_ok(&[
            "ps",
            "-q",
            "--filter",
            "label=com.docker.swarm.service.name=web",
        ])
        .lines()
        .count();
    assert!(on_two > 0, "no task on host 2");
    let t0 = Instant::now();
    c.hosts[2].d.kill9();
    c.link_down(2);
    let mut failures = 0;
    let mut streak = 0;
    let steady = wait_for(Duration::from_secs(60), || {
        let started = Instant::now();
        let ok = get(&c, 0, "web.test").0 == 200;
        if !ok {
            failures += 1;
        }
        if ok && started.elapsed() < Duration::from_millis(500) {
            streak += 1;
        } else {
            streak = 0;
        }
        (streak >= 10).then(|| t0.elapsed())
    });
    assert!(steady.is_some(), "{}", berth_ok(m, &["router", "ls"]));
    eprintln!(
        "node killed: answering steadily (10 fast answers in a row) {:?} after, {failures} failed requests",
        steady.unwrap()
    );
    assert_eq!(failures, 0);

    // The surviving worker's daemon killed and started again: its router
    // routes to every task again (its leg kept or made again, its routes
    // from the resumed session).
    let t0 = Instant::now();
    c.hosts[1].d.kill9();
    c.hosts[1].d.restart();
    let back = wait_for(Duration::from_secs(90), || {
        let (answers, failed) = spread(&c, 1, 6);
        (answers.len() == 3 && failed == 0 && c.running_tasks("web") == 3).then(|| t0.elapsed())
    });
    assert!(
        back.is_some(),
        "{}\n{}",
        berth_ok(&c.hosts[1].d, &["router", "ls"]),
        c.hosts[1].d.log_tail()
    );
    eprintln!(
        "worker daemon restarted: routing to all three tasks {:?} after",
        back.unwrap()
    );
    let (links, _) = legs(&c, 1);
    assert_eq!(links.len(), 1, "{links:?}");

    // service rm: 404 at once, and no leg left on the live nodes.
    let t0 = Instant::now();
    m.docker_ok(&["service", "rm", "web", "badport", "nonet", "hc"]);
    let gone = wait_for(Duration::from_secs(10), || {
        (get(&c, 0, "web.test").0 == 404).then(|| t0.elapsed())
    });
    assert!(gone.is_some(), "{:?}", get(&c, 0, "web.test"));
    eprintln!("service rm: 404 after {:?}", gone.unwrap());
    // The nodes' legs hold no network back.
    m.docker_ok(&["network", "rm", "webnet"]);
    for i in [0, 1] {
        let clean = wait_for(Duration::from_secs(20), || {
            let (links, routes) = legs(&c, i);
            (links.is_empty() && routes.is_empty()).then_some(())
        });
        assert!(clean.is_some(), "host {i}: {:?}", legs(&c, i));
        let addrs = c.hosts[i].ns.ip(&["-4", "-o", "addr", "show"]);
        let prefix = subnet.rsplit_once('.').map_or("", |p| p.0);
        assert!(!addrs.contains(&format!("{prefix}.")), "host {i}: {addrs}");
    }
}
