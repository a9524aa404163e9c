//! Swarm secrets, configs and service logs, driven by the real docker CLI:
//! `secret`/`config` create, ls, inspect and rm with dockerd's rules and
//! messages; services that mount them (files with their modes and owners,
//! readable with `docker exec`) and keep them from being removed; secret
//! data that is never on disk unsealed; a daemon restart that keeps the
//! cluster's data key; and `docker service logs` with its options.
//! Every test runs its own daemon in its own network namespace. With
//! `BERTH_E2E_DAEMON=dockerd` they run against dockerd to check that they
//! encode its behaviour.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::swarm::Node;
use common::{assert_fails_with, code, stderr, stdout, unique_suffix, wait_for};

/// Creates a secret or config from `data` on stdin; its id.
fn create(n: &Node, kind: &str, args: &[&str], data: &[u8]) -> String {
    let mut full = vec![kind, "create"];
    full.extend_from_slice(args);
    full.push("-");
    let out = n.d.docker_stdin(&full, data);
    assert!(out.status.success(), "{kind} create: {}", stderr(&out));
    stdout(&out).trim().to_string()
}

/// The running container of `service`'s task in `slot` once it runs with
/// the current spec.
fn task_container(n: &Node, service: &str) -> String {
    wait_for(Duration::from_secs(60), || {
        let ids = n.d.docker_ok(&[
            "ps",
            "-q",
            "--filter",
            &format!("label=com.docker.swarm.service.name={service}"),
            "--filter",
            "status=running",
        ]);
        ids.lines().next().map(str::to_string)
    })
    .unwrap_or_else(|| panic!("no running task of {service}\n{}", n.d.log_tail()))
}

/// The daemon's files on disk that hold `needle`: those under its
/// directory on the disk's own filesystem (`-xdev`: not the tmpfs mounts
/// that carry secrets to containers, which are memory) and outside its
/// exec root (where berth mounts those tmpfs).
fn files_holding(n: &Node, needle: &str) -> Vec<String> {
    let script =
        r#"find "$1" -xdev -type f -not -path "$1/exec/*" -print0 | xargs -0 -r grep -laF -- "$2""#;
    let out = Command::new("sh")
        .args(["-c", script, "sh"])
        .arg(n.d.tmp())
        .arg(needle)
        .output()
        .unwrap();
    // xargs says 123 when any grep found nothing in its share of files.
    assert!(matches!(code(&out), 0 | 1 | 123), "grep: {}", stderr(&out));
    stdout(&out).lines().map(str::to_string).collect()
}

#[test]
fn secrets_and_configs_reach_tasks_and_stay_sealed_on_disk() {
    let n = Node::new();
    n.init();
    let plain = format!("s3cr3t-{}", unique_suffix());
    let sid = create(
        &n,
        "secret",
        &["--label", "env=prod", "db_pass"],
        plain.as_bytes(),
    );
    assert_eq!(sid.len(), 25);
    // Names are unique in any case, with dockerd's message.
    let dup =
        n.d.docker_stdin(&["secret", "create", "DB_PASS", "-"], b"x");
    assert_fails_with(
        &dup,
        "rpc error: code = AlreadyExists desc = secret DB_PASS already exists",
    );
    create(&n, "secret", &["api_key"], b"key-data");
    let ls = n.d.docker_ok(&["secret", "ls", "--format", "{{.Name}}"]);
    assert_eq!(ls, "api_key\ndb_pass");
    let prod =
        n.d.docker_ok(&["secret", "ls", "-q", "--filter", "label=env=prod"]);
    assert_eq!(prod, sid);
    // A secret's data is never shown; a config's is.
    let spec =
        n.d.docker_ok(&["secret", "inspect", "--format", "{{json .Spec}}", "db_pass"]);
    assert_eq!(spec, r#"{"Name":"db_pass","Labels":{"env":"prod"}}"#);
    assert_fails_with(
        &n.d.docker(&["secret", "inspect", "nope"]),
        "secret nope not found",
    );
    create(&n, "config", &["app.conf"], b"listen 8080\n");
    let data = n.d.docker_ok(&[
        "config",
        "inspect",
        "--format",
        "{{printf \"%s\" .Spec.Data}}",
        "app.conf",
    ]);
    assert_eq!(data, "listen 8080");

    // The CLI resolves names to ids; an unknown one is refused.
    assert_fails_with(
        &n.d.docker(&[
            "service",
            "create",
            "-d",
            "--name",
            "x",
            "--secret",
            "nope",
            "busybox:latest",
            "top",
        ]),
        "secret not found: nope",
    );
    n.d.docker_ok(&[
        "service",
        "create",
        "--name",
        "web",
        "--secret",
        "db_pass",
        // Another secret: dockerd keeps one file per secret, so two
        // targets of one secret share the last one's owner and mode.
        "--secret",
        "source=api_key,target=other,uid=1000,gid=100,mode=0400",
        "--config",
        "src=app.conf,target=/etc/x.conf,mode=0440",
        "busybox:latest",
        "top",
    ]);
    let c = task_container(&n, "web");
    assert_eq!(
        n.d.docker_ok(&["exec", &c, "cat", "/run/secrets/db_pass"]),
        plain
    );
    let stat = |path: &str| {
        n.d.docker_ok(&["exec", &c, "busybox", "stat", "-c", "%a %u %g", path])
    };
    assert_eq!(stat("/run/secrets/db_pass"), "444 0 0");
    assert_eq!(stat("/run/secrets/other"), "400 1000 100");
    assert_eq!(
        n.d.docker_ok(&["exec", &c, "cat", "/etc/x.conf"]),
        "listen 8080"
    );
    assert_eq!(stat("/etc/x.conf"), "440 0 0");

    // In use: not removable, as dockerd says.
    assert_fails_with(
        &n.d.docker(&["secret", "rm", "db_pass"]),
        "rpc error: code = InvalidArgument desc = secret 'db_pass' is in use by the following service: web",
    );
    assert_fails_with(
        &n.d.docker(&["config", "rm", "app.conf"]),
        "config 'app.conf' is in use by the following service: web",
    );

    // The data is on no file of the daemon's, the cluster store's
    // included, while berth's store (etcd) does hold the secret's name in
    // the clear, so it was searched. (dockerd's raft log is encrypted whole.)
    assert_eq!(files_holding(&n, &plain), Vec::<String>::new());
    if n.d.is_berth() {
        let named = files_holding(&n, "db_pass");
        assert!(
            named.iter().any(|f| f.contains("/swarm/etcd/")),
            "the store's files were searched: {named:?}"
        );
    }

    // Swapping secrets replaces the task; the old one is then free.
    n.d.docker_ok(&[
        "service",
        "update",
        "--secret-rm",
        "db_pass",
        "--secret-rm",
        "api_key",
        "--secret-add",
        "source=api_key,target=added",
        "web",
    ]);
    let swapped = wait_for(Duration::from_secs(60), || {
        let c = task_container(&n, "web");
        let out = n.d.docker(&["exec", &c, "ls", "/run/secrets"]);
        (stdout(&out).trim() == "added").then_some(c)
    });
    let c = swapped.unwrap_or_else(|| panic!("secrets not swapped\n{}", n.d.log_tail()));
    assert_eq!(
        n.d.docker_ok(&["exec", &c, "cat", "/run/secrets/added"]),
        "key-data"
    );
    n.d.docker_ok(&["secret", "rm", "db_pass"]);
    assert_fails_with(
        &n.d.docker(&["secret", "rm", "api_key"]),
        "is in use by the following service: web",
    );
    n.d.docker_ok(&["service", "rm", "web"]);
    n.d.docker_ok(&["secret", "rm", "api_key"]);
    n.d.docker_ok(&["config", "rm", "app.conf"]);
    assert_eq!(n.d.docker_ok(&["secret", "ls", "-q"]), "");
    assert_eq!(n.d.docker_ok(&["config", "ls", "-q"]), "");
}

#[test]
fn a_restarted_manager_still_opens_its_secrets() {
    let n = Node::new();
    n.init();
    create(&n, "secret", &["token"], b"kept-across-restarts");
    n.d.kill9();
    n.d.restart();
    n.d.docker_ok(&[
        "service",
        "create",
        "--name",
        "later",
        "--secret",
        "token",
        "busybox:latest",
        "top",
    ]);
    let c = task_container(&n, "later");
    assert_eq!(
        n.d.docker_ok(&["exec", &c, "cat", "/run/secrets/token"]),
        "kept-across-restarts"
    );
}

#[test]
fn secret_and_config_api_answers_as_dockerd() {
    let n = Node::new();
    n.init();
    let post = |path: &str, body: &str| {
        n.d.request(
            "POST",
            &format!("/v1.41{path}"),
            Some(("application/json", body.as_bytes())),
        )
    };
    let r = post("/secrets/create", r#"{"Name":"s1","Data":"c2VjcmV0"}"#);
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.text();
    assert!(id.contains(r#""ID":"#), "{id}");
    let desc = |m: &str| format!("rpc error: code = InvalidArgument desc = {m}");
    for (body, status, message) in [
        (
            r#"{"Name":"S1","Data":"eA=="}"#,
            409,
            "rpc error: code = AlreadyExists desc = secret S1 already exists".to_string(),
        ),
        (r#"{"Data":"eA=="}"#, 400, desc("name must be provided")),
        (
            r#"{"Name":"-x","Data":"eA=="}"#,
            400,
            desc(
                "invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end character must be [a-zA-Z0-9]",
            ),
        ),
        (
            r#"{"Name":"e"}"#,
            400,
            desc("secret data must be larger than 0 and less than 512000 bytes"),
        ),
        (
            r#"{"Name":"d","Driver":{"Name":"vault"}}"#,
            500,
            r#"rpc error: code = Unknown desc = plugin "vault" not found"#.to_string(),
        ),
    ] {
        let r = post("/secrets/create", body);
        assert_eq!(r.status, status, "{body}: {}", r.text());
        let got: serde_json::Value = serde_json::from_str(&r.text()).unwrap();
        assert_eq!(got["message"], message.as_str(), "{body}");
    }
    let big = format!(
        r#"{{"Name":"big","Data":"{}"}}"#,
        "YWFh".repeat(512_000 / 3 + 1)
    );
    let r = post("/secrets/create", &big);
    assert_eq!(r.status, 400, "{}", r.text());

    let get = |path: &str| n.d.request("GET", &format!("/v1.41{path}"), None);
    let r = get("/secrets/s1");
    assert_eq!(r.status, 200);
    assert!(!r.text().contains("Data"), "{}", r.text());
    let version: serde_json::Value = serde_json::from_str(&r.text()).unwrap();
    let v = version["Version"]["Index"].as_u64().unwrap();
    let r = get("/secrets?filters=%7B%22foo%22%3A%7B%22x%22%3Atrue%7D%7D");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("Invalid filter 'foo'"), "{}", r.text());
    let r = get("/secrets?filters=%7B%22names%22%3A%7B%22s1%22%3Atrue%7D%7D");
    assert!(r.text().contains(r#""Name":"s1""#), "{}", r.text());

    // Updates: a version is required, only labels change.
    let r = post("/secrets/s1/update", r#"{"Name":"s1"}"#);
    assert_eq!(r.status, 400);
    assert!(r.text().contains("invalid secret version"), "{}", r.text());
    for body in [r#"{"Name":"s2"}"#, r#"{"Name":"s1","Data":"b3RoZXI="}"#] {
        let r = post(&format!("/secrets/s1/update?version={v}"), body);
        assert_eq!(r.status, 400, "{body}");
        assert!(
            r.text()
                .contains(&desc("only updates to Labels are allowed")),
            "{}",
            r.text()
        );
    }
    let r = post(
        &format!("/secrets/s1/update?version={v}"),
        r#"{"Name":"s1","Data":"c2VjcmV0","Labels":{"a":"b"}}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = post(
        &format!("/secrets/s1/update?version={v}"),
        r#"{"Name":"s1","Labels":{"c":"d"}}"#,
    );
    assert_eq!(r.status, 500);
    assert!(r.text().contains("update out of sequence"), "{}", r.text());
    assert!(get("/secrets/s1").text().contains(r#""Labels":{"a":"b"}"#));

    // Configs: their own limit, data shown.
    let r = post("/configs/create", r#"{"Name":"c1","Data":"Y29uZg=="}"#);
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(get("/configs/c1").text().contains(r#""Data":"Y29uZg==""#));
    let r = post("/configs/c1/update", r#"{"Name":"c1"}"#);
    assert!(r.text().contains("invalid config version"), "{}", r.text());

    for path in ["/secrets/nope", "/configs/nope"] {
        let r = get(path);
        assert_eq!(r.status, 404, "{path}");
        let r = n.d.request("DELETE", &format!("/v1.41{path}"), None);
        assert_eq!(r.status, 404, "{path}");
        assert!(r.text().contains(" nope not found"), "{}", r.text());
    }
    // A service naming a secret id that is not there.
    let r = post(
        "/services/create",
        r#"{"Name":"api","TaskTemplate":{"ContainerSpec":{"Image":"busybox:latest","Secrets":[{"File":{"Name":"x","UID":"0","GID":"0","Mode":292},"SecretID":"bogus","SecretName":"x"}]}}}"#,
    );
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains(&desc("secret not found: x")),
        "{}",
        r.text()
    );
    for path in ["/secrets/s1", "/configs/c1"] {
        let r = n.d.request("DELETE", &format!("/v1.41{path}"), None);
        assert_eq!(r.status, 204, "{path}: {}", r.text());
    }
}

/// `docker service logs` rows without the line's own text.
fn prefixes(text: &str) -> Vec<String> {
    let mut rows: Vec<String> = text
        .lines()
        .map(|l| l.split('|').next().unwrap_or("").trim().to_string())
        .collect();
    rows.sort();
    rows
}

#[test]
fn service_logs_as_the_cli_shows_them() {
    let n = Node::new();
    n.init();
    let host = n.d.docker_ok(&[
        "node",
        "inspect",
        "self",
        "--format",
        "{{.Description.Hostname}}",
    ]);
    n.d.docker_ok(&[
        "service",
        "create",
        "--name",
        "chatty",
        "--replicas",
        "2",
        "busybox:latest",
        "sh",
        "-c",
        // The pause keeps stderr's line last: dockerd copies the two
        // streams apart, so lines written together may be logged in
        // either order.
        "echo one; echo two; sleep 0.3; echo oops >&2; exec sleep 1000",
    ]);
    let tasks: Vec<String> =
        n.d.docker_ok(&["service", "ps", "-q", "--no-trunc", "chatty"])
            .lines()
            .map(str::to_string)
            .collect();
    assert_eq!(tasks.len(), 2);
    let logs = |args: &[&str]| {
        let mut full = vec!["service", "logs"];
        full.extend_from_slice(args);
        let out = n.d.docker(&full);
        assert!(out.status.success(), "{full:?}: {}", stderr(&out));
        (stdout(&out), stderr(&out))
    };
    // Every task's lines wait for the task to have written them.
    let (out, err) = wait_for(Duration::from_secs(30), || {
        let (o, e) = logs(&["chatty"]);
        (o.lines().count() == 4 && e.lines().count() == 2).then_some((o, e))
    })
    .unwrap_or_else(|| panic!("logs of both tasks: {:?}", logs(&["chatty"])));
    let slot_of = |t: &str| {
        n.d.docker_ok(&["inspect", "--type", "task", "--format", "{{.Slot}}", t])
    };
    let mut expected = Vec::new();
    for t in &tasks {
        let p = format!("chatty.{}.{}@{host}", slot_of(t), &t[..12]);
        expected.push(p.clone());
        expected.push(p);
    }
    expected.sort();
    assert_eq!(prefixes(&out), expected, "{out}");
    assert!(
        out.lines()
            .all(|l| l.ends_with("| one") || l.ends_with("| two")),
        "{out}"
    );
    // Standard error stays standard error.
    assert!(err.lines().all(|l| l.ends_with("    | oops")), "{err}");

    let (out, err) = logs(&["--tail", "1", "chatty"]);
    assert_eq!(out, "", "the last line of each task is on stderr");
    assert_eq!(err.lines().count(), 2, "{err}");
    let (out, _) = logs(&["--tail", "2", "--raw", "chatty"]);
    assert_eq!(out, "two\ntwo\n");
    let (out, _) = logs(&["--no-task-ids", "chatty"]);
    assert!(
        out.lines()
            .all(|l| l.starts_with("chatty.1@") || l.starts_with("chatty.2@")),
        "{out}"
    );
    let (out, _) = logs(&["--timestamps", "--tail", "2", "chatty"]);
    for l in out.lines() {
        let (ts, rest) = l.split_once(' ').unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{l}");
        assert!(rest.starts_with("chatty."), "{l}");
    }
    // One task's logs, by its id.
    let (out, _) = logs(&[&tasks[0]]);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.contains(&tasks[0][..12]), "{out}");
    assert_fails_with(
        &n.d.docker(&["service", "logs", "nope"]),
        "no such task or service: nope",
    );

    // Following: a task that starts later shows up in the stream.
    let out_path = n.d.tmp().join("follow.out");
    let mut follow =
        n.d.docker_command(&["service", "logs", "-f", "--no-task-ids", "chatty"])
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
    let seen = |what: &str| {
        wait_for(Duration::from_secs(60), || {
            let text = std::fs::read_to_string(&out_path).unwrap_or_default();
            text.contains(what).then_some(())
        })
        .is_some()
    };
    assert!(seen("chatty.2@"), "the tasks' lines so far");
    n.d.docker_ok(&["service", "scale", "-d", "chatty=3"]);
    let new_line = seen("chatty.3@");
    let _ = follow.kill();
    let _ = follow.wait();
    assert!(
        new_line,
        "a new task's lines: {}",
        std::fs::read_to_string(&out_path).unwrap_or_default()
    );
}

#[test]
fn templated_configs_and_secrets_expand_for_each_task() {
    let n = Node::new();
    let node_id = n.init();
    let host = n.d.docker_ok(&[
        "node",
        "inspect",
        "self",
        "--format",
        "{{.Description.Hostname}}",
    ]);
    create(&n, "secret", &["pw"], b"hunter2");
    let tsec = create(
        &n,
        "secret",
        &["--template-driver", "golang", "tsec"],
        b"pw={{secret \"pw\"}} for {{.Service.Name}}\n",
    );
    create(
        &n,
        "config",
        &["--template-driver", "golang", "tcfg"],
        b"service={{.Service.Name}} id={{.Service.ID}}\n\
          task={{.Task.Name}} slot={{.Task.Slot}}\n\
          node={{.Node.ID}} host={{.Node.Hostname}}\n\
          tier={{index .Service.Labels \"tier\"}} color={{env \"COLOR\"}}\n\
          {{- /* trimmed */ -}}\n",
    );
    let templating = n.d.docker_ok(&[
        "secret",
        "inspect",
        "--format",
        "{{.Spec.Templating.Name}}",
        &tsec,
    ]);
    assert_eq!(templating, "golang");
    // What berth does not expand is refused when created, by name.
    let bad = n.d.docker_stdin(
        &[
            "config",
            "create",
            "--template-driver",
            "golang",
            "bad",
            "-",
        ],
        b"{{range .Service.Labels}}x{{end}}",
    );
    if n.d.is_berth() {
        assert_fails_with(&bad, "{{range}} is not supported");
    }

    n.d.docker_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        "tmpl",
        "--label",
        "tier=front",
        "--env",
        "COLOR=blue",
        "--secret",
        "pw",
        "--secret",
        "tsec",
        "--config",
        "src=tcfg,target=/etc/t.conf",
        "busybox:latest",
        "sh",
        "-c",
        "cat /etc/t.conf /run/secrets/tsec; exec sleep 1000",
    ]);
    let raw = wait_for(Duration::from_secs(60), || {
        let out = n.d.docker(&["service", "logs", "--raw", "tmpl"]);
        let text = stdout(&out);
        text.contains("pw=").then_some(text)
    })
    .unwrap_or_else(|| panic!("the task's output: {:?}", n.ps("tmpl")));
    let service_id =
        n.d.docker_ok(&["service", "inspect", "--format", "{{.ID}}", "tmpl"]);
    let task_id =
        n.d.docker_ok(&["service", "ps", "-q", "--no-trunc", "tmpl"]);
    // dockerd gives payload templates no node description: its
    // `.Node.Hostname` is empty (berth's is the node's).
    let shown_host = if n.d.is_berth() { host.as_str() } else { "" };
    assert_eq!(
        raw,
        format!(
            "service=tmpl id={service_id}\n\
             task=tmpl.1.{task_id} slot=1\n\
             node={node_id} host={shown_host}\n\
             tier=front color=blue\
             pw=hunter2 for tmpl\n"
        )
    );

    // A template that fails on the node fails its task, saying why.
    create(
        &n,
        "config",
        &["--template-driver", "golang", "broken"],
        b"{{secret \"nope\"}}",
    );
    n.d.docker_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        "broken",
        "--restart-condition",
        "none",
        "--config",
        "broken",
        "busybox:latest",
        "top",
    ]);
    let rows = n.until("broken", "the task fails", |rows| {
        rows.iter().any(|r| r.contains("|Failed"))
    });
    assert!(
        rows[0].contains("failed to expand templated config")
            && rows[0].contains("secret target nope not found"),
        "{rows:?}"
    );
}
