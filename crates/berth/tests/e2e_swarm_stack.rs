//! `docker stack deploy` across hosts: a three-service app (web → api →
//! a key-value store) from a compose file, on the stack's default overlay
//! network, whose web page reads through the api from the store; a
//! redeploy changes only what changed; `stack rm` leaves no service,
//! network or segment behind.

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

    // stack rm: no service, no network, no segment on any host.
    m.docker_ok(&["stack", "rm", "app"]);
    let gone = wait_for(Duration::from_secs(60), || {
        let nets = m.docker_ok(&["network", "ls", "-q", "--filter", "name=app_default"]);
        let segments = c.segments_besides_ingress().iter().all(Vec::is_empty);
        (nets.is_empty() && segments && m.docker_ok(&["service", "ls", "-q"]).is_empty())
            .then_some(())
    });
    assert!(gone.is_some(), "stack rm left something behind");
}
