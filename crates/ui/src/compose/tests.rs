use serde_json::json;

use super::{IMAGE, NAMESPACE, convert};

const GOOD: &str = r#"
version: "3.8"
x-common: &common
  image: busybox:latest
services:
  web:
    image: nginx:alpine
    command: sh -c "echo 'hi there' && sleep 1d"
    entrypoint: ["/docker-entrypoint.sh"]
    environment:
      B: "2"
      A: 1
      FLAG: true
    labels: [tier=front]
    ports:
      - "8080:80"
      - 53/udp
      - target: 443
        published: 8443
        mode: host
    networks:
      front:
        aliases: [www]
      back:
    volumes:
      - data:/var/lib/data:ro
      - type: bind
        source: /srv/static
        target: /static
      - /tmp/anon
    healthcheck:
      test: wget -q -O- http://localhost/
      interval: 10s
      timeout: 2s
      retries: 3
      start_period: 1m30s
    secrets: [token]
    configs:
      - source: site
        target: /etc/site.conf
        mode: 0440
    stop_grace_period: 20s
    deploy:
      mode: replicated
      replicas: 3
      labels:
        com.example.team: web
      placement:
        constraints: ["node.role == worker"]
        preferences: [{spread: node.labels.zone}]
        max_replicas_per_node: 2
      resources:
        limits: {cpus: "0.5", memory: 256M, pids: 100}
        reservations: {cpus: 0.25, memory: 64M}
      update_config: {parallelism: 2, delay: 10s, failure_action: rollback, order: start-first}
      rollback_config: {parallelism: 1, monitor: 5s}
      restart_policy: {condition: on-failure, delay: 5s, max_attempts: 3, window: 2m}
      endpoint_mode: vip
  worker:
    <<: *common
    environment: ["MODE=work", "PRICE=$$5"]
    deploy:
      mode: global
    build: .
    restart: always
networks:
  front:
    driver_opts: {encrypted: ""}
    attachable: true
  back:
  outside:
    external: true
volumes:
  data:
    driver_opts: {type: tmpfs}
secrets:
  token:
    content: s3cret
configs:
  site:
    external: true
    name: site-v1
"#;

#[test]
fn a_full_file_becomes_the_api_objects_the_cli_sends() {
    let s = convert("app", GOOD).unwrap();
    assert_eq!(s.services.len(), 2);
    let web = &s.services[0];
    assert_eq!(web["Name"], "app_web");
    assert_eq!(web["Labels"][NAMESPACE], "app");
    assert_eq!(web["Labels"][IMAGE], "nginx:alpine");
    assert_eq!(web["Labels"]["com.example.team"], "web");
    let c = &web["TaskTemplate"]["ContainerSpec"];
    assert_eq!(c["Image"], "nginx:alpine");
    assert_eq!(
        c["Args"],
        json!(["sh", "-c", "echo 'hi there' && sleep 1d"])
    );
    assert_eq!(c["Command"], json!(["/docker-entrypoint.sh"]));
    assert_eq!(c["Env"], json!(["A=1", "B=2", "FLAG=true"]));
    assert_eq!(c["Labels"]["tier"], "front");
    assert_eq!(c["Labels"][NAMESPACE], "app");
    assert_eq!(c["StopGracePeriod"], 20_000_000_000i64);
    assert_eq!(
        c["Healthcheck"],
        json!({"Test": ["CMD-SHELL", "wget -q -O- http://localhost/"], "Interval": 10_000_000_000i64,
               "Timeout": 2_000_000_000i64, "StartPeriod": 90_000_000_000i64, "Retries": 3})
    );
    assert_eq!(
        c["Mounts"],
        json!([
            {"Type": "volume", "Source": "app_data", "Target": "/var/lib/data", "ReadOnly": true,
             "VolumeOptions": {"Labels": {NAMESPACE: "app"}, "DriverConfig": {"Name": "local", "Options": {"type": "tmpfs"}}}},
            {"Type": "bind", "Source": "/srv/static", "Target": "/static", "ReadOnly": false},
            {"Type": "volume", "Target": "/tmp/anon", "ReadOnly": false},
        ])
    );
    assert_eq!(c["Secrets"][0]["SecretName"], "app_token");
    assert_eq!(c["Secrets"][0]["File"]["Name"], "/run/secrets/token");
    assert_eq!(c["Configs"][0]["ConfigName"], "site-v1");
    assert_eq!(c["Configs"][0]["File"]["Name"], "/etc/site.conf");
    assert_eq!(c["Configs"][0]["File"]["Mode"], 0o440);
    assert_eq!(
        web["TaskTemplate"]["Networks"],
        json!([{"Target": "app_back", "Aliases": ["web"]}, {"Target": "app_front", "Aliases": ["web", "www"]}])
    );
    assert_eq!(web["Mode"], json!({"Replicated": {"Replicas": 3}}));
    let t = &web["TaskTemplate"];
    assert_eq!(
        t["Placement"]["Constraints"],
        json!(["node.role == worker"])
    );
    assert_eq!(
        t["Placement"]["Preferences"],
        json!([{"Spread": {"SpreadDescriptor": "node.labels.zone"}}])
    );
    assert_eq!(t["Placement"]["MaxReplicas"], 2);
    assert_eq!(
        t["Resources"],
        json!({"Limits": {"NanoCPUs": 500_000_000, "MemoryBytes": 268_435_456, "Pids": 100},
               "Reservations": {"NanoCPUs": 250_000_000, "MemoryBytes": 67_108_864}})
    );
    assert_eq!(
        t["RestartPolicy"],
        json!({"Condition": "on-failure", "Delay": 5_000_000_000i64, "MaxAttempts": 3, "Window": 120_000_000_000i64})
    );
    assert_eq!(
        web["UpdateConfig"],
        json!({"Parallelism": 2, "Delay": 10_000_000_000i64, "FailureAction": "rollback", "Order": "start-first"})
    );
    assert_eq!(
        web["RollbackConfig"],
        json!({"Parallelism": 1, "Monitor": 5_000_000_000i64})
    );
    assert_eq!(
        web["EndpointSpec"],
        json!({"Mode": "vip", "Ports": [
            {"TargetPort": 80, "PublishedPort": 8080, "Protocol": "tcp", "PublishMode": "ingress"},
            {"TargetPort": 53, "Protocol": "udp", "PublishMode": "ingress"},
            {"TargetPort": 443, "PublishedPort": 8443, "Protocol": "tcp", "PublishMode": "host"},
        ]})
    );

    // The anchor's keys merged in, a global service on the default network,
    // $$ a literal $, and what stacks ignore warned of.
    let worker = &s.services[1];
    assert_eq!(worker["Name"], "app_worker");
    assert_eq!(worker["Mode"], json!({"Global": {}}));
    assert_eq!(
        worker["TaskTemplate"]["ContainerSpec"]["Image"],
        "busybox:latest"
    );
    assert_eq!(
        worker["TaskTemplate"]["ContainerSpec"]["Env"],
        json!(["MODE=work", "PRICE=$5"])
    );
    assert_eq!(
        worker["TaskTemplate"]["Networks"],
        json!([{"Target": "app_default", "Aliases": ["worker"]}])
    );
    assert_eq!(
        s.warnings,
        ["services.worker: ignoring unsupported options: build, restart"]
    );

    // Networks: the used ones and the declared ones, overlay, labelled;
    // the external one only referred to.
    let names: Vec<&str> = s
        .networks
        .iter()
        .map(|n| n["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["app_back", "app_default", "app_front"]);
    let front = &s.networks[2];
    assert_eq!(front["Driver"], "overlay");
    assert_eq!(front["Attachable"], true);
    assert_eq!(front["Options"], json!({"encrypted": ""}));
    assert_eq!(front["Labels"], json!({NAMESPACE: "app"}));
    assert_eq!(s.external_networks, ["outside"]);
    assert_eq!(s.secrets.len(), 1);
    assert_eq!(s.secrets[0]["Name"], "app_token");
    assert_eq!(s.secrets[0]["Data"], "czNjcmV0");
    assert_eq!(s.external_configs, ["site-v1"]);
}

#[test]
fn a_minimal_file_gets_one_replica_on_the_default_network() {
    let s = convert("min", "services:\n  a:\n    image: busybox\n").unwrap();
    assert_eq!(
        s.services[0]["Mode"],
        json!({"Replicated": {"Replicas": 1}})
    );
    assert_eq!(s.networks.len(), 1);
    assert_eq!(s.networks[0]["Name"], "min_default");
    assert!(s.services[0].get("EndpointSpec").is_none());
}

fn refused(text: &str) -> String {
    convert("app", text).unwrap_err().to_string()
}

#[test]
fn unknown_keys_are_named_as_the_cli_names_them() {
    let m = refused("services:\n  web:\n    image: busybox\n    foo: 1\n");
    assert_eq!(m, "services.web Additional property foo is not allowed");
    let m = refused("services:\n  web:\n    image: busybox\n    deploy:\n      replica: 2\n");
    assert_eq!(
        m,
        "services.web.deploy Additional property replica is not allowed"
    );
    let m = refused("services:\n  web:\n    image: busybox\nvolume:\n  x:\n");
    assert_eq!(m, "(root) Additional property volume is not allowed");
    let m = refused(
        "services:\n  web:\n    image: busybox\n    ports:\n      - target: 80\n        publish: 8080\n",
    );
    assert!(
        m.contains("services.web.ports[0]") && m.contains("Additional property publish"),
        "{m}"
    );
}

#[test]
fn bad_values_are_refused_with_their_key() {
    let cases = [
        (
            "services:\n  web:\n    image: busybox\n    deploy:\n      replicas: two\n",
            "services.web.deploy.replicas",
        ),
        (
            "services:\n  web:\n    image: busybox\n    deploy:\n      mode: everywhere\n",
            "services.web.deploy.mode: unknown mode",
        ),
        (
            "services:\n  web:\n    image: busybox\n    healthcheck:\n      interval: soon\n",
            "services.web.healthcheck.interval: time: invalid duration",
        ),
        (
            "services:\n  web:\n    image: busybox\n    deploy:\n      resources:\n        limits:\n          memory: lots\n",
            "services.web.deploy.resources.limits.memory",
        ),
        (
            "services:\n  web:\n    image: busybox\n    deploy:\n      resources:\n        limits:\n          cpus: many\n",
            "services.web.deploy.resources.limits.cpus",
        ),
        (
            "services:\n  web:\n    image: busybox\n    ports: [\"80x\"]\n",
            "services.web.ports[0]",
        ),
        (
            "services:\n  web:\n    image: busybox\n    ports: [\"127.0.0.1:80:80\"]\n",
            "host IP is not supported",
        ),
        (
            "services:\n  web:\n    image: busybox\n    deploy:\n      restart_policy:\n        condition: sometimes\n",
            "services.web.deploy.restart_policy.condition",
        ),
        (
            "services:\n  web:\n    image: busybox\n    environment: [\"HOME\"]\n",
            "services.web.environment.HOME: a value is needed",
        ),
        (
            "services:\n  web:\n    command: sleep 1\n",
            "services.web.image is required",
        ),
        (
            "services:\n  web:\n    image: busybox\n    networks: [nowhere]\n",
            "undefined network nowhere",
        ),
        (
            "services:\n  web:\n    image: busybox\n    volumes: [\"data:/data\"]\n",
            "services.web.volumes[0]: undefined volume \"data\"",
        ),
        (
            "services:\n  web:\n    image: busybox\n    volumes: [\"./site:/site\"]\n",
            "cannot be resolved from a browser",
        ),
        (
            "services:\n  web:\n    image: busybox\n    secrets: [missing]\n",
            "undefined secret \"missing\"",
        ),
        (
            "services:\n  web:\n    image: \"${IMAGE}\"\n",
            "services.web.image: variable substitution",
        ),
        (
            "services:\n  web:\n    image: busybox\n    environment: 3\n",
            "services.web.environment",
        ),
        ("services: {}\n", "at least one service"),
        ("", "empty"),
        ("services: [\n", "not YAML"),
    ];
    for (text, expected) in cases {
        let m = refused(text);
        assert!(m.contains(expected), "{text:?}: {m:?} lacks {expected:?}");
    }
}

#[test]
fn files_cannot_come_from_a_browser() {
    let m = refused(
        "services:\n  web:\n    image: busybox\n    secrets: [s]\nsecrets:\n  s:\n    file: ./s.txt\n",
    );
    assert!(
        m.starts_with("secrets.s.file (\"./s.txt\"): files cannot be read from a browser"),
        "{m}"
    );
    let m = refused("services:\n  web:\n    image: busybox\n    env_file: .env\n");
    assert!(m.starts_with("services.web.env_file: files cannot"), "{m}");
    let m = refused("services:\n  web:\n    image: busybox\nconfigs:\n  c:\n    environment: C\n");
    assert!(m.contains("not implemented"), "{m}");
}

#[test]
fn stack_names_are_checked() {
    assert!(
        convert("bad name", "services:\n  a:\n    image: busybox\n")
            .unwrap_err()
            .to_string()
            .contains("invalid stack name")
    );
    assert!(convert("", "services:\n  a:\n    image: busybox\n").is_err());
}
