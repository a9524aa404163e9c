//! `docker stack deploy` across hosts: a three-service app (web → api →
//! a key-value store) from a compose file, on the stack's default overlay
//! network, whose web page reads through the api from the store; a
//! redeploy changes only what changed; `stack rm` leaves no service,
//! network, segment or key in the cluster store behind. A service waits
//! for what its `berth.depends-on` label names.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::cluster::Cluster;
use common::{assert_success, wait_for};

/// The CGI of api and web: what the upstream's page says, prefixed with
/// this service's name (from /relay.conf: `who upstream path`). Names
/// resolve through nslookup: the static busybox's wget cannot use glibc's
/// resolver.
const RELAY: &str = r#"#!/bin/sh
read who upstream path < /relay.conf
echo Content-Type: text/plain
echo
ip=$(nslookup "$upstream" | awk '/^Address: /{a=$2} END{print a}')
echo "$who:$(wget -qO- "http://$ip$path")"
"#;

/// A busybox httpd serving the relay CGI.
fn relay(who: &str, upstream: &str, path: &str) -> String {
    format!(
        "echo {who} {upstream} {path} > /relay.conf && mkdir -p /www/cgi-bin && \
         cp /relay /www/cgi-bin/get && chmod +x /www/cgi-bin/get && exec httpd -f -p 80 -h /www"
    )
}

fn compose(store_value: &str) -> String {
    format!(
        r#"version: "3.8"
configs:
  relay:
    file: ./relay.sh
services:
  store:
    image: busybox:latest
    command: ["sh", "-c", "mkdir /www && echo {store_value} > /www/value && exec httpd -f -p 80 -h /www"]
  api:
    image: busybox:latest
    command: ["sh", "-c", "{api}"]
    configs: [{{source: relay, target: /relay}}]
    deploy:
      replicas: 2
  web:
    image: busybox:latest
    command: ["sh", "-c", "{web}"]
    configs: [{{source: relay, target: /relay}}]
    deploy:
      placement:
        constraints: ["node.role == worker"]
"#,
        api = relay("api", "store", "/value"),
        web = relay("web", "api", "/cgi-bin/get"),
    )
}

fn services(c: &Cluster) -> Vec<String> {
    c.hosts[0]
        .d
        .docker_ok(&[
            "stack",
            "services",
            "--format",
            "{{.Name}} {{.Replicas}}",
            "app",
        ])
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_stack_of_three_services_works_across_hosts_and_goes_away_whole() {
    let c = Cluster::new(3);
    let token = c.init();
    for i in 1..3 {
        assert_success(&c.join(i, &token), "swarm join");
    }
    let m = &c.hosts[0].d;
    std::fs::write(m.tmp().join("relay.sh"), RELAY).unwrap();
    let file = m.tmp().join("app.yml");
    std::fs::write(&file, compose("first")).unwrap();
    m.docker_ok(&["stack", "deploy", "-c", file.to_str().unwrap(), "app"]);
    let up = wait_for(Duration::from_secs(120), || {
        let s = services(&c);
        (s == ["app_api 2/2", "app_store 1/1", "app_web 1/1"]).then_some(())
    });
    assert!(up.is_some(), "{:?}", services(&c));
    assert_eq!(
        m.docker_ok(&["stack", "ls", "--format", "{{.Name}} {{.Services}}"]),
        "app 3"
    );
    let net = m.docker_ok(&[
        "network",
        "inspect",
        "--format",
        "{{.Driver}} {{.Scope}}",
        "app_default",
    ]);
    assert_eq!(net, "overlay swarm");

    // The page of web (on a worker) reads through api from store.
    let web_host = (1..3)
        .find(|&i| {
            !c.hosts[i]
                .d
                .docker_ok(&[
                    "ps",
                    "-q",
                    "--filter",
                    "label=com.docker.swarm.service.name=app_web",
                ])
                .is_empty()
        })
        .expect("web runs on a worker");
    let web = c.hosts[web_host].d.docker_ok(&[
        "ps",
        "-q",
        "--filter",
        "label=com.docker.swarm.service.name=app_web",
    ]);
    // A request caught by the store's replacement may time out: asked again.
    let page = || {
        let out = c.hosts[web_host].d.docker(&[
            "exec",
            &web,
            "timeout",
            "5",
            "wget",
            "-qO-",
            "http://127.0.0.1/cgi-bin/get",
        ]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let got = wait_for(Duration::from_secs(20), || {
        let p = page();
        (p == "web:api:first").then_some(p)
    });
    assert_eq!(got.as_deref(), Some("web:api:first"), "{}", page());

    // A redeploy with a new store value replaces the store's task alone
    // (the CLI sends every service again; unchanged specs keep their tasks).
    let tasks = |name: &str| {
        m.docker_ok(&[
            "service",
            "ps",
            "-q",
            "--filter",
            "desired-state=running",
            name,
        ])
    };
    let (api_v, web_v, store_v) = (tasks("app_api"), tasks("app_web"), tasks("app_store"));
    std::fs::write(&file, compose("second")).unwrap();
    m.docker_ok(&["stack", "deploy", "-c", file.to_str().unwrap(), "app"]);
    let got = wait_for(Duration::from_secs(60), || {
        let p = page();
        (p == "web:api:second").then_some(p)
    });
    assert_eq!(got.as_deref(), Some("web:api:second"), "{}", page());
    assert_eq!(tasks("app_api"), api_v, "api unchanged");
    assert_eq!(tasks("app_web"), web_v, "web unchanged");
    assert_ne!(tasks("app_store"), store_v, "store replaced");

    // stack rm: no service, no network, no segment on any host, no key
    // of its objects in the cluster store.
    let mut ids: Vec<String> = ["app_api", "app_web", "app_store"]
        .iter()
        .flat_map(|s| {
            let mut v = vec![m.docker_ok(&["service", "inspect", "--format", "{{.ID}}", s])];
            v.extend(
                m.docker_ok(&["service", "ps", "-q", "--no-trunc", s])
                    .lines()
                    .map(str::to_string),
            );
            v
        })
        .collect();
    ids.push(m.docker_ok(&["network", "inspect", "--format", "{{.ID}}", "app_default"]));
    ids.push(m.docker_ok(&["config", "inspect", "--format", "{{.ID}}", "app_relay"]));
    let keys = c.store_keys();
    assert!(
        ids.iter()
            .all(|id| keys.iter().any(|k| k.contains(id.as_str()))),
        "the store names every object before: {ids:?} in {keys:?}"
    );
    m.docker_ok(&["stack", "rm", "app"]);
    let gone = wait_for(Duration::from_secs(60), || {
        let nets = m.docker_ok(&["network", "ls", "-q", "--filter", "name=app_default"]);
        let segments = c.segments_besides_ingress().iter().all(Vec::is_empty);
        (nets.is_empty() && segments && m.docker_ok(&["service", "ls", "-q"]).is_empty())
            .then_some(())
    });
    assert!(gone.is_some(), "stack rm left something behind");
    let clean = wait_for(Duration::from_secs(30), || {
        let keys = c.store_keys();
        (!keys
            .iter()
            .any(|k| ids.iter().any(|id| k.contains(id.as_str()))))
        .then_some(())
    });
    assert!(clean.is_some(), "keys left in the store: {:?}", {
        let keys = c.store_keys();
        keys.into_iter()
            .filter(|k| ids.iter().any(|id| k.contains(id.as_str())))
            .collect::<Vec<_>>()
    });
}

/// compose's `depends_on` is dropped by the docker CLI (swarm has no such
/// field); the `berth.depends-on` label in `deploy.labels` carries it.
const ORDERED: &str = r#"version: "3.8"
services:
  db:
    image: busybox:latest
    command: ["sh", "-c", "sleep 4 && touch /tmp/ready && exec sleep 1d"]
    healthcheck:
      test: ["CMD", "sh", "-c", "[ -f /tmp/ready ]"]
      interval: 1s
      retries: 60
  web:
    image: busybox:latest
    command: ["sleep", "1d"]
    depends_on: [db]
    deploy:
      labels:
        berth.depends-on: "db:healthy"
"#;

#[test]
fn a_service_starts_only_once_what_it_depends_on_is_healthy() {
    let c = Cluster::new(1);
    c.init();
    let m = &c.hosts[0].d;
    let file = m.tmp().join("ordered.yml");
    std::fs::write(&file, ORDERED).unwrap();
    m.docker_ok(&["stack", "deploy", "-c", file.to_str().unwrap(), "ord"]);
    let task_of = |service: &str| {
        m.docker_ok(&["service", "ps", "-q", "--no-trunc", service])
            .lines()
            .next()
            .map(str::to_string)
    };
    let inspect = |id: &str, format: &str| m.docker_ok(&["inspect", "--format", format, id]);
    // While db is not healthy yet, web's task waits, saying for what.
    let waiting = wait_for(Duration::from_secs(30), || {
        let t = task_of("ord_web")?;
        let msg = inspect(&t, "{{.Status.State}} {{.Status.Message}}");
        msg.contains("waiting for db to be healthy").then_some(msg)
    });
    assert!(
        waiting.is_some(),
        "{:?}",
        task_of("ord_web").map(|t| inspect(&t, "{{json .Status}}"))
    );
    assert!(waiting.unwrap().starts_with("pending"));
    // Then it runs, its container started after db turned healthy.
    let started = wait_for(Duration::from_secs(60), || {
        let t = task_of("ord_web")?;
        (inspect(&t, "{{.Status.State}}") == "running").then_some(t)
    });
    let web_task = started.expect("web never ran");
    let db_task = task_of("ord_db").unwrap();
    let container = |t: &str| inspect(t, "{{.Status.ContainerStatus.ContainerID}}");
    let healthy_at = m.docker_ok(&[
        "inspect",
        "--format",
        "{{range .State.Health.Log}}{{if eq .ExitCode 0}}{{json .End}}|{{end}}{{end}}",
        &container(&db_task),
    ]);
    let health = || {
        m.docker_ok(&[
            "inspect",
            "--format",
            "{{json .State.Health}}",
            &container(&db_task),
        ])
    };
    assert!(healthy_at.contains('|'), "db never healthy: {}", health());
    let healthy_at = healthy_at
        .split('|')
        .next()
        .unwrap()
        .trim_matches('"')
        .to_string();
    let web_started = m.docker_ok(&[
        "inspect",
        "--format",
        "{{.State.StartedAt}}",
        &container(&web_task),
    ]);
    let t = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s.trim()).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    };
    assert!(
        t(&web_started) >= t(&healthy_at),
        "web started {web_started}, db healthy {healthy_at}"
    );
    // A bad condition is refused at create, with swarm's shape of error.
    let bad = m.docker(&[
        "service",
        "create",
        "--label",
        "berth.depends-on=db:soon",
        "busybox:latest",
        "top",
    ]);
    common::assert_fails_with(&bad, "unknown condition \"soon\" for db");
    m.docker_ok(&["stack", "rm", "ord"]);
}
