//! Swarm mode across hosts: three daemons in their own network namespaces
//! on a test LAN, one manager and two workers joined with the token over
//! the cluster port's mutual TLS; services spread over them; a worker
//! killed (-9) and cut off the LAN has its tasks run elsewhere; wrong
//! tokens and CA digests are refused; a worker cannot manage the cluster;
//! `service logs` on the manager merges the lines of every node's tasks;
//! workers are promoted and managers demoted.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::cluster::Cluster;
use common::{assert_fails_with, assert_success, wait_for};

/// `service ps` rows as "node|desired|current".
fn ps(c: &Cluster, service: &str) -> Vec<String> {
    c.hosts[0]
        .d
        .docker_ok(&[
            "service",
            "ps",
            "--format",
            "{{.Node}}|{{.DesiredState}}|{{.CurrentState}}",
            service,
        ])
        .lines()
        .map(str::to_string)
        .collect()
}

fn node_ids(c: &Cluster) -> Vec<String> {
    c.hosts
        .iter()
        .map(|h| h.d.docker_ok(&["info", "--format", "{{.Swarm.NodeID}}"]))
        .collect()
}

/// Running tasks of `service` per host (by the containers each engine runs).
fn running_per_host(c: &Cluster, service: &str) -> Vec<usize> {
    c.hosts
        .iter()
        .map(|h| {
            h.d.docker(&[
                "ps",
                "--filter",
                &format!("label=com.docker.swarm.service.name={service}"),
                "--format",
                "{{.Names}}",
            ])
        })
        .map(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| !l.is_empty())
                .count()
        })
        .collect()
}

#[test]
fn workers_join_run_tasks_and_a_dead_worker_s_tasks_move() {
    let c = Cluster::new(3);
    let token = c.init();
    assert!(token.starts_with("SWMTKN-1-"), "{token}");
    for i in 1..3 {
        let out = c.join(i, &token);
        assert_success(&out, "swarm join");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("This node joined a swarm as a worker"),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let ids = node_ids(&c);
    let manager = &c.hosts[0].d;
    let nodes = manager.docker_ok(&[
        "node",
        "ls",
        "--format",
        "{{.ID}} {{.Status}} {{.ManagerStatus}}",
    ]);
    for (i, id) in ids.iter().enumerate() {
        let line = nodes
            .lines()
            .find(|l| l.starts_with(id.as_str()))
            .unwrap_or_else(|| panic!("{id} in {nodes}"));
        let fields: Vec<&str> = line.split_whitespace().collect();
        let expect: &[&str] = if i == 0 {
            &["Ready", "Leader"]
        } else {
            &["Ready"]
        };
        assert_eq!(&fields[1..], expect, "{line}");
    }
    // A worker's address is the one it advertised on the LAN.
    let addr = manager.docker_ok(&["node", "inspect", "--format", "{{.Status.Addr}}", &ids[1]]);
    assert_eq!(addr, "10.77.0.2");
    // Workers do not manage the cluster.
    assert_fails_with(
        &c.hosts[1].d.docker(&["node", "ls"]),
        "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state",
    );

    // Six replicas spread two per host; each worker runs its tasks itself.
    manager.docker_ok(&[
        "service",
        "create",
        "--name",
        "web",
        "--replicas",
        "6",
        "busybox:latest",
        "top",
    ]);
    let spread = wait_for(Duration::from_secs(60), || {
        let r = running_per_host(&c, "web");
        (r == [2, 2, 2]).then_some(r)
    });
    assert!(
        spread.is_some(),
        "{:?} {:?}",
        running_per_host(&c, "web"),
        ps(&c, "web")
    );

    // Host 3 dies: daemon killed, cable pulled. Its tasks run elsewhere.
    let t0 = Instant::now();
    c.hosts[2].d.kill9();
    c.link_down(2);
    let moved = wait_for(Duration::from_secs(60), || {
        let r = running_per_host(&c, "web");
        (r[0] + r[1] == 6).then_some(r)
    });
    let took = t0.elapsed();
    assert!(
        moved.is_some(),
        "{:?} {:?}",
        running_per_host(&c, "web"),
        ps(&c, "web")
    );
    eprintln!("failover: tasks of the dead host running elsewhere after {took:?}");
    let down = manager.docker_ok(&["node", "inspect", "--format", "{{.Status.State}}", &ids[2]]);
    assert_eq!(down, "down");
}

#[test]
fn bad_tokens_and_roots_are_refused() {
    let c = Cluster::new(2);
    let token = c.init();
    // A well-formed token whose secret is wrong.
    let mut forged = token.clone();
    forged.replace_range(token.len() - 5.., "00000");
    assert_fails_with(
        &c.join(1, &forged),
        "A valid join token is necessary to join this cluster",
    );
    // A token made for another cluster's CA.
    let other = format!("SWMTKN-1-{}-{}", "1".repeat(50), &token[token.len() - 25..]);
    assert_fails_with(&c.join(1, &other), "remote CA does not match fingerprint");
    assert_fails_with(&c.join(1, "SWMTKN-1-nope"), "invalid join token");
    // Nothing was recorded for the refused joins.
    let nodes = c.hosts[0].d.docker_ok(&["node", "ls", "-q"]);
    assert_eq!(nodes.lines().count(), 1, "{nodes}");
    assert_eq!(
        c.hosts[1]
            .d
            .docker_ok(&["info", "--format", "{{.Swarm.LocalNodeState}}"]),
        "inactive"
    );
    // The right token works after all that.
    assert_success(&c.join(1, &token), "swarm join");
    // A worker leaves without --force, and the manager sees it go down.
    c.hosts[1].d.docker_ok(&["swarm", "leave"]);
    let id = c.hosts[0]
        .d
        .docker_ok(&["node", "ls", "--filter", "role=worker", "-q"]);
    let state = wait_for(Duration::from_secs(30), || {
        let s = c.hosts[0]
            .d
            .docker_ok(&["node", "inspect", "--format", "{{.Status.State}}", &id]);
        (s == "down").then_some(s)
    });
    assert!(state.is_some());
}

/// Three managers, each with its etcd member: the leader's death elects
/// another and loses nothing; one etcd member stopping does not stop the
/// cluster.
#[test]
fn three_managers_survive_the_leader_and_an_etcd_member() {
    let c = Cluster::new(3);
    c.init();
    let token = c.hosts[0]
        .d
        .docker_ok(&["swarm", "join-token", "-q", "manager"]);
    for i in 1..3 {
        let out = c.join(i, &token);
        assert_success(&out, "swarm join as manager");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("This node joined a swarm as a manager"),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let ids = node_ids(&c);
    // etcd's reconfiguration can keep a manager's member from answering
    // for a few seconds after the last join: every manager answers soon.
    for h in &c.hosts {
        let settled = wait_for(Duration::from_secs(30), || {
            h.d.docker(&["node", "ls", "-q"])
                .status
                .success()
                .then_some(())
        });
        assert!(settled.is_some(), "{} never answered node ls", h.ip);
    }
    // Asked while etcd may be electing: a failed answer is an empty one.
    let statuses = |h: usize| {
        let out = c.hosts[h].d.docker(&[
            "node",
            "ls",
            "--format",
            "{{.ID}} {{.Status}} {{.ManagerStatus}}",
        ]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let ls = statuses(1);
    assert_eq!(ls.lines().count(), 3, "{ls}");
    assert!(ls.contains(&format!("{} Ready Leader", ids[0])), "{ls}");
    for id in &ids[1..] {
        assert!(ls.contains(&format!("{id} Ready Reachable")), "{ls}");
    }
    // Any manager serves the control API; the service lands everywhere.
    c.hosts[2].d.docker_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        "ha",
        "--replicas",
        "3",
        "busybox:latest",
        "top",
    ]);
    let spread = wait_for(Duration::from_secs(60), || {
        let r = running_per_host(&c, "ha");
        (r == [1, 1, 1]).then_some(r)
    });
    assert!(spread.is_some(), "{:?}", running_per_host(&c, "ha"));
    // Logs asked of a manager that does not lead: the other managers' own
    // agents send it their nodes' lines.
    c.hosts[0].d.docker_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        "hi",
        "--mode",
        "global",
        "busybox:latest",
        "sh",
        "-c",
        "echo hi; exec sleep 1000",
    ]);
    let from_all = wait_for(Duration::from_secs(60), || {
        let out = c.hosts[1]
            .d
            .docker(&["service", "logs", "--no-resolve", "--no-trunc", "hi"]);
        let rows = log_rows(&String::from_utf8_lossy(&out.stdout));
        ids.iter()
            .all(|id| rows.contains(&(id.clone(), "hi".to_string())))
            .then_some(())
    });
    assert!(
        from_all.is_some(),
        "{}",
        c.hosts[1]
            .d
            .docker_ok(&["service", "logs", "--no-resolve", "hi"])
    );
    c.hosts[0].d.docker_ok(&["service", "rm", "hi"]);

    // The leader dies (its daemon killed, its host cut off, its etcd member
    // with it): another manager leads, the service is intact and its task
    // runs on the survivors.
    c.hosts[0].d.kill9();
    c.link_down(0);
    let new_leader = wait_for(Duration::from_secs(60), || {
        let ls = statuses(1);
        ls.lines()
            .find(|l| l.ends_with("Leader") && !l.starts_with(ids[0].as_str()))
            .map(str::to_string)
    });
    assert!(new_leader.is_some(), "{}", statuses(1));
    let moved = wait_for(Duration::from_secs(60), || {
        let r = running_per_host(&c, "ha");
        (r[1] + r[2] == 3).then_some(r)
    });
    assert!(moved.is_some(), "{:?}", running_per_host(&c, "ha"));
    let down = wait_for(Duration::from_secs(30), || {
        let ls = statuses(2);
        ls.contains(&format!("{} Down Unreachable", ids[0]))
            .then_some(ls)
    });
    assert!(down.is_some(), "{}", statuses(2));
    assert_eq!(
        c.hosts[1]
            .d
            .docker_ok(&["service", "ls", "--format", "{{.Name}} {{.Replicas}}"]),
        "ha 3/3"
    );
}

/// `service logs --no-resolve --no-trunc` rows as (task's node from the
/// prefix, the line's text).
fn log_rows(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let (prefix, line) = l.split_once('|')?;
            let node = prefix.trim().rsplit_once('@')?.1.to_string();
            Some((node, line.trim().to_string()))
        })
        .collect()
}

/// The highest `tick N` a node's task logged in `rows`.
fn last_tick(rows: &[(String, String)], node: &str) -> u64 {
    rows.iter()
        .filter(|(n, _)| n == node)
        .filter_map(|(_, l)| l.strip_prefix("tick ")?.parse().ok())
        .max()
        .unwrap_or(0)
}

#[test]
fn service_logs_merge_the_tasks_of_every_node() {
    let c = Cluster::new(3);
    let token = c.init();
    for i in 1..3 {
        assert_success(&c.join(i, &token), "swarm join");
    }
    let ids = node_ids(&c);
    let manager = &c.hosts[0].d;
    // Each task says which node it runs on (a template expanded there).
    let out = manager.docker_stdin(
        &[
            "config",
            "create",
            "--template-driver",
            "golang",
            "whoami",
            "-",
        ],
        b"on {{.Node.ID}}\n",
    );
    assert_success(&out, "config create");
    manager.docker_ok(&[
        "service",
        "create",
        "--name",
        "talk",
        "--mode",
        "global",
        "--config",
        "src=whoami,target=/whoami",
        "busybox:latest",
        "sh",
        "-c",
        "cat /whoami; i=0; while :; do i=$((i+1)); echo tick $i; sleep 1; done",
    ]);
    let logs = |args: &[&str]| {
        let mut full = vec!["service", "logs", "--no-resolve", "--no-trunc"];
        full.extend_from_slice(args);
        full.push("talk");
        let out = manager.docker(&full);
        assert_success(&out, "service logs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Every node's task, each line under the node it came from.
    let text = wait_for(Duration::from_secs(60), || {
        let text = logs(&[]);
        let rows = log_rows(&text);
        ids.iter()
            .all(|id| rows.contains(&(id.clone(), format!("on {id}"))))
            .then_some(text)
    })
    .unwrap_or_else(|| {
        panic!(
            "lines of all three nodes: {}\n{:?}",
            logs(&[]),
            ps(&c, "talk")
        )
    });
    let rows = log_rows(&text);
    for (node, line) in &rows {
        assert!(ids.contains(node), "{node}: {text}");
        assert!(
            line == &format!("on {node}") || line.starts_with("tick "),
            "{text}"
        );
    }
    // The CLI's prefix, unresolved: service-id.slot.task-id@node-id, from
    // the details of each line.
    let tasks = manager.docker_ok(&["service", "ps", "-q", "--no-trunc", "talk"]);
    let service = manager.docker_ok(&["service", "inspect", "--format", "{{.ID}}", "talk"]);
    for l in text.lines() {
        let prefix = l.split('|').next().unwrap().trim();
        let (name, _) = prefix.rsplit_once('@').unwrap();
        let parts: Vec<&str> = name.split('.').collect();
        assert_eq!(parts.len(), 3, "{l}");
        assert_eq!(parts[0], service, "{l}");
        assert!(tasks.lines().any(|t| t == parts[2]), "{l}: {tasks}");
    }
    // --tail counts per task, on every node.
    let tail = log_rows(&logs(&["--tail", "1"]));
    assert_eq!(tail.len(), 3, "{tail:?}");
    let mut nodes: Vec<&String> = tail.iter().map(|(n, _)| n).collect();
    nodes.sort();
    let mut expected: Vec<&String> = ids.iter().collect();
    expected.sort();
    assert_eq!(nodes, expected);
    // --timestamps and --since reach the workers too.
    let stamped = logs(&["--timestamps", "--tail", "1"]);
    for l in stamped.lines() {
        let (ts, _) = l.split_once(' ').unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{l}");
    }
    let since = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    std::thread::sleep(Duration::from_secs(3));
    let recent = log_rows(&logs(&["--since", &since]));
    assert!(
        recent.iter().all(|(_, l)| l.starts_with("tick ")),
        "nothing from before --since: {recent:?}"
    );
    assert!(recent.iter().any(|(n, _)| n == &ids[2]), "{recent:?}");

    // Following: a worker's new lines keep coming.
    let rows = log_rows(&logs(&[]));
    let before = [last_tick(&rows, &ids[1]), last_tick(&rows, &ids[2])];
    let out_path = manager.tmp().join("follow.out");
    let mut follow = manager
        .docker_command(&[
            "service",
            "logs",
            "-f",
            "--no-resolve",
            "--no-trunc",
            "talk",
        ])
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let streamed = wait_for(Duration::from_secs(30), || {
        let text = std::fs::read_to_string(&out_path).unwrap_or_default();
        let rows = log_rows(&text);
        (last_tick(&rows, &ids[1]) >= before[0] + 3 && last_tick(&rows, &ids[2]) >= before[1] + 3)
            .then_some(())
    });
    let _ = follow.kill();
    let _ = follow.wait();
    assert!(
        streamed.is_some(),
        "new lines from the workers after ticks {before:?}: {}",
        std::fs::read_to_string(&out_path).unwrap_or_default()
    );
}

/// The container ids of `service`'s tasks on each host.
fn task_containers(c: &Cluster, service: &str) -> Vec<String> {
    c.hosts
        .iter()
        .map(|h| {
            h.d.docker_ok(&[
                "ps",
                "-q",
                "--no-trunc",
                "--filter",
                &format!("label=com.docker.swarm.service.name={service}"),
            ])
        })
        .collect()
}

/// `node promote` makes workers managers (their own etcd members, the
/// control API on them), `node demote` makes a manager a worker again,
/// the last manager cannot be demoted, task containers live through both,
/// and a worker follows the managers list: after the manager it joined
/// through is demoted and dies, it still reaches the cluster.
#[test]
fn workers_are_promoted_and_managers_demoted() {
    let c = Cluster::new(3);
    let token = c.init();
    for i in 1..3 {
        assert_success(&c.join(i, &token), "swarm join");
    }
    let ids = node_ids(&c);
    let first = &c.hosts[0].d;
    assert_fails_with(
        &first.docker(&["node", "demote", &ids[0]]),
        "attempting to demote the last manager of the swarm",
    );
    first.docker_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        "g",
        "--mode",
        "global",
        "busybox:latest",
        "top",
    ]);
    let everywhere = wait_for(Duration::from_secs(60), || {
        let r = running_per_host(&c, "g");
        (r == [1, 1, 1]).then_some(r)
    });
    assert!(everywhere.is_some(), "{:?}", running_per_host(&c, "g"));
    let containers = task_containers(&c, "g");

    let out = first.docker_ok(&["node", "promote", &ids[1], &ids[2]]);
    assert!(
        out.contains(&format!(
            "Node {} promoted to a manager in the swarm.",
            ids[1]
        )),
        "{out}"
    );
    let statuses = |h: usize| {
        let out = c.hosts[h]
            .d
            .docker(&["node", "ls", "--format", "{{.ID}} {{.ManagerStatus}}"]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let promoted = wait_for(Duration::from_secs(90), || {
        let ls = statuses(2);
        (ls.contains(&format!("{} Reachable", ids[1]))
            && ls.contains(&format!("{} Reachable", ids[2]))
            && ls.contains(&format!("{} Leader", ids[0])))
        .then_some(ls)
    });
    assert!(
        promoted.is_some(),
        "{} / {}\n{}\n{}",
        statuses(0),
        statuses(2),
        c.hosts[1].d.log_tail(),
        c.hosts[2].d.log_tail()
    );
    assert_eq!(
        c.hosts[1].d.docker_ok(&[
            "info",
            "--format",
            "{{.Swarm.ControlAvailable}} {{.Swarm.Managers}}"
        ]),
        "true 3"
    );
    assert_eq!(
        task_containers(&c, "g"),
        containers,
        "tasks kept their containers"
    );

    // Host 3 goes back to being a worker; its task container stays.
    c.hosts[1].d.docker_ok(&["node", "demote", &ids[2]]);
    let demoted = wait_for(Duration::from_secs(60), || {
        let out = c.hosts[2].d.docker(&["node", "ls"]);
        String::from_utf8_lossy(&out.stderr)
            .contains("This node is not a swarm manager")
            .then_some(())
    });
    assert!(
        demoted.is_some(),
        "{}\n{}",
        statuses(2),
        c.hosts[2].d.log_tail()
    );
    let ls = statuses(0);
    assert!(
        ls.lines().any(|l| l.trim() == ids[2]),
        "a demoted node has no manager status: {ls}"
    );
    assert_eq!(
        c.hosts[2]
            .d
            .docker_ok(&["info", "--format", "{{.Swarm.ControlAvailable}}"]),
        "false"
    );

    // The first manager (the leader, the one the workers joined through)
    // is demoted too, then dies: host 2 leads alone and host 3, which
    // learnt of it from its session, runs what it is given.
    c.hosts[1].d.docker_ok(&["node", "demote", &ids[0]]);
    let alone = wait_for(Duration::from_secs(60), || {
        let ls = statuses(1);
        (ls.contains(&format!("{} Leader", ids[1]))
            && !ls.contains(&format!("{} Reachable", ids[0])))
        .then_some(ls)
    });
    assert!(alone.is_some(), "{}", statuses(1));
    assert_eq!(
        task_containers(&c, "g"),
        containers,
        "tasks kept their containers"
    );
    c.hosts[0].d.kill9();
    c.link_down(0);
    c.hosts[1].d.docker_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        "late",
        "--constraint",
        &format!("node.id=={}", ids[2]),
        "busybox:latest",
        "top",
    ]);
    let ran = wait_for(Duration::from_secs(60), || {
        let r = running_per_host(&c, "late");
        (r[2] == 1).then_some(r)
    });
    assert!(
        ran.is_some(),
        "{:?} {}",
        running_per_host(&c, "late"),
        c.hosts[1].d.docker_ok(&["service", "ps", "late"])
    );
}

/// The pid in a manager's etcd pid file.
fn etcd_pid(h: &common::cluster::Host) -> Option<i32> {
    std::fs::read_to_string(h.d.data_root().join("swarm/etcd.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Three managers: one's etcd member killed alone is started again by its
/// daemon; then two managers die (killed, cut off) and the survivor, with
/// no quorum, answers nothing until `swarm init --force-new-cluster` makes
/// it a cluster of one that kept every service, the lost managers shown as
/// down workers.
#[test]
fn a_lost_quorum_is_recovered_with_force_new_cluster() {
    let c = Cluster::new(3);
    c.init();
    let token = c.hosts[0]
        .d
        .docker_ok(&["swarm", "join-token", "-q", "manager"]);
    for i in 1..3 {
        assert_success(&c.join(i, &token), "swarm join as manager");
    }
    let ids = node_ids(&c);
    let first = &c.hosts[0];
    let answers = |h: &common::cluster::Host| h.d.docker(&["node", "ls", "-q"]).status.success();
    for h in &c.hosts {
        let settled = wait_for(Duration::from_secs(30), || answers(h).then_some(()));
        assert!(settled.is_some(), "{} never answered node ls", h.ip);
    }

    // The first manager's etcd member dies alone: its daemon restarts it.
    let pid = etcd_pid(first).expect("an etcd pid file");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let back = wait_for(Duration::from_secs(30), || {
        etcd_pid(first)
            .filter(|p| *p != pid && std::path::Path::new(&format!("/proc/{p}")).exists())
    });
    assert!(back.is_some(), "{}", first.d.log_tail());
    let answering = wait_for(Duration::from_secs(30), || answers(first).then_some(()));
    assert!(answering.is_some(), "{}", first.d.log_tail());

    first.d.docker_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        "keep",
        "--replicas",
        "3",
        "busybox:latest",
        "top",
    ]);
    let running = wait_for(Duration::from_secs(60), || {
        let r = running_per_host(&c, "keep");
        (r.iter().sum::<usize>() == 3).then_some(r)
    });
    assert!(running.is_some(), "{:?}", running_per_host(&c, "keep"));

    // Two of three managers gone: no quorum, no answers.
    for i in 1..3 {
        c.hosts[i].d.kill9();
        c.link_down(i);
    }
    let stuck = wait_for(Duration::from_secs(60), || (!answers(first)).then_some(()));
    assert!(stuck.is_some(), "a manager without quorum still answered");

    let out = first.d.docker(&[
        "swarm",
        "init",
        "--force-new-cluster",
        "--advertise-addr",
        &first.ip,
    ]);
    assert_success(&out, "swarm init --force-new-cluster");
    let ls = |h: &common::cluster::Host| {
        h.d.docker_ok(&[
            "node",
            "ls",
            "--format",
            "{{.ID}} {{.Status}} {{.ManagerStatus}}",
        ])
    };
    let recovered = wait_for(Duration::from_secs(60), || {
        let ls = ls(first);
        (ls.contains(&format!("{} Ready Leader", ids[0]))
            && ids[1..]
                .iter()
                .all(|id| ls.lines().any(|l| l.trim() == format!("{id} Down"))))
        .then_some(ls)
    });
    assert!(recovered.is_some(), "{}\n{}", ls(first), first.d.log_tail());
    assert_eq!(
        first
            .d
            .docker_ok(&["service", "ls", "--format", "{{.Name}}"]),
        "keep"
    );
    let healed = wait_for(Duration::from_secs(60), || {
        let r = running_per_host(&c, "keep");
        (r[0] == 3).then_some(r)
    });
    assert!(
        healed.is_some(),
        "{:?} {}",
        running_per_host(&c, "keep"),
        first.d.docker_ok(&["service", "ps", "keep"])
    );
}
