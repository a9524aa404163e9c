//! Apps in a cluster (issue 18): on a swarm manager an app's processes are
//! services. Two daemons in their own network namespaces on a test LAN
//! (a manager and a worker, each with `--router-addr`) and a registry on
//! the manager's address: a real `git push` builds the app, pushes its
//! image and creates its `web` service, read by host name through both
//! nodes' routers; `ps:scale web=2` puts a task on each node; a second
//! push under a bounded load through the router fails no request (a
//! start-first rolling update after the new release's CHECKS passed on a
//! check service); a push whose CHECKS fail is rejected with the services
//! untouched; `rollback` serves version one again, with its release's
//! config; `app rm` leaves no
//! service, task container or route. Beside them, services made with
//! `--with-registry-auth` pull from a registry that wants a password on
//! every node, and the API never shows those credentials.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::cluster::Cluster;
use common::git::{commit_version, git_ok};
use common::{assert_success, berth, berth_ok, wait_for};

const ROUTER_PORT: u16 = 8089;
const HOST: &str = "demo.apps.test";
const REGISTRY: &str = "10.77.0.1:5000";

/// (status, body) of `GET http://HOST/` through host `i`'s router.
fn get(c: &Cluster, i: usize) -> (u16, String) {
    get_host(c, i, HOST)
}

/// (status, body) of `GET http://host/` through host `i`'s router.
fn get_host(c: &Cluster, i: usize, host: &str) -> (u16, String) {
    c.router_get(i, ROUTER_PORT, host)
}

/// Waits until both nodes' routers answer `want` for the app's host.
fn served_everywhere(c: &Cluster, want: &str, within: Duration) {
    for i in 0..c.hosts.len() {
        let ok = wait_for(within, || {
            (get(c, i) == (200, want.to_string())).then_some(())
        });
        assert!(
            ok.is_some(),
            "host {i} answers {:?}, not {want}\n{}",
            get(c, i),
            berth_ok(&c.hosts[i].d, &["router", "ls"])
        );
    }
}

/// `git push` to the app's repository on the manager, from the manager's
/// network namespace (as a push on the manager's host: the hook's CHECKS
/// reach the tasks through the host's leg on the apps' network).
fn push(c: &Cluster, src: &Path) -> (bool, String) {
    push_to(c, 0, "demo", src)
}

/// `git push` of `src`'s main to `app`'s repository on host `i`.
fn push_to(c: &Cluster, i: usize, app: &str, src: &Path) -> (bool, String) {
    let remote = c.hosts[i]
        .d
        .data_root()
        .join(format!("apps/{app}/repo.git"));
    let out = Command::new("nsenter")
        .arg(format!("--net={}", c.hosts[i].ns.path().display()))
        .args([
            "git",
            "-c",
            "user.name=berth test",
            "-c",
            "user.email=test@berth.test",
            "push",
        ])
        .arg(&remote)
        .arg("main")
        .current_dir(src)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `berth registry serve` on the manager's LAN address, stopped on drop.
struct Registry(Child);

impl Registry {
    fn start(c: &Cluster, root: &Path, extra: &[&str]) -> Registry {
        let child = Command::new("nsenter")
            .arg(format!("--net={}", c.hosts[0].ns.path().display()))
            .arg(env!("CARGO_BIN_EXE_berth"))
            .args(["registry", "serve", "--addr", REGISTRY, "--root"])
            .arg(root)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let up = wait_for(Duration::from_secs(20), || {
            let out = Command::new("nsenter")
                .arg(format!("--net={}", c.hosts[1].ns.path().display()))
                .args(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}"])
                .arg(format!("http://{REGISTRY}/v2/"))
                .output()
                .ok()?;
            // 401: one that wants a password answers too.
            matches!(&*String::from_utf8_lossy(&out.stdout), "200" | "401").then_some(())
        });
        assert!(up.is_some(), "the registry did not answer on {REGISTRY}");
        Registry(child)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Requests through the manager's router from a shell loop in its
/// namespace (curl, one connection each) until `stop` exists or 4000 were
/// sent: (body, status) of each.
fn start_load(c: &Cluster, stop: &Path) -> Child {
    let script = format!(
        "i=0; while [ ! -e {stop} ] && [ $i -lt 4000 ]; do \
         curl -s -m 10 -H 'Host: {HOST}' -w '|%{{http_code}}\\n' http://127.0.0.1:{ROUTER_PORT}/; \
         i=$((i+1)); done",
        stop = stop.display()
    );
    Command::new("nsenter")
        .arg(format!("--net={}", c.hosts[0].ns.path().display()))
        .args(["sh", "-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The load's answers: (status, body) per request.
fn load_results(child: Child) -> Vec<(u16, String)> {
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut results = Vec::new();
    let mut body = String::new();
    for line in text.lines() {
        match line.split_once('|') {
            Some((before, code)) if code.chars().all(|c| c.is_ascii_digit()) => {
                body.push_str(before);
                results.push((code.parse().unwrap_or(0), body.trim().to_string()));
                body.clear();
            }
            _ => body.push_str(line),
        }
    }
    results
}

/// How many of `service`'s tasks run on each host (its containers there).
fn tasks_per_host(c: &Cluster, service: &str) -> Vec<usize> {
    c.hosts
        .iter()
        .map(|h| {
            h.d.docker_ok(&[
                "ps",
                "-q",
                "--filter",
                &format!("label=com.docker.swarm.service.name={service}"),
            ])
            .lines()
            .count()
        })
        .collect()
}

fn service_image(c: &Cluster, service: &str) -> String {
    c.hosts[0].d.docker_ok(&[
        "service",
        "inspect",
        "--format",
        "{{.Spec.TaskTemplate.ContainerSpec.Image}}",
        service,
    ])
}

#[test]
fn apps_run_as_swarm_services_across_the_cluster() {
    let c = Cluster::with_daemon_args(
        2,
        &[
            "--router-addr",
            &format!("0.0.0.0:{ROUTER_PORT}"),
            "--insecure-registry",
            REGISTRY,
        ],
    );
    if !c.hosts[0].d.is_berth() {
        return;
    }
    let token = c.init();
    assert_success(&c.join(1, &token), "swarm join");
    let m = &c.hosts[0].d;
    // A registry that takes pushes and pulls only with a password.
    let htpasswd = common::registry::write_htpasswd(m.tmp(), "deployer", "s3cret");
    let registry_root = m.tmp().join("registry");
    let _registry = Registry::start(
        &c,
        &registry_root,
        &["--htpasswd", htpasswd.to_str().unwrap()],
    );

    berth_ok(m, &["app", "create", "demo", "--domain", HOST]);
    // Without a registry the worker could not pull the image: refused
    // before anything runs.
    let src = common::host_dir(m, "src");
    git_ok(&src, &["init", "-q", "-b", "main"]);
    commit_version(&src, "version-one", &[]);
    let (ok, out) = push(&c, &src);
    assert!(!ok, "{out}");
    assert!(out.contains("berth app registry:set demo"), "{out}");
    let login = |password: &[u8]| {
        common::berth_stdin(
            m,
            &[
                "app",
                "registry:set",
                "demo",
                REGISTRY,
                "--username",
                "deployer",
                "--password-stdin",
            ],
            password,
        )
    };
    // Checked against the registry at once, as docker login: nothing set.
    let refused = login(b"wrong\n");
    assert!(!refused.status.success());
    assert!(
        common::stderr(&refused).contains("401"),
        "{}",
        common::stderr(&refused)
    );
    assert!(!berth_ok(m, &["app", "info", "demo"]).contains("Registry:"));
    let set = login(b"s3cret\n");
    assert_success(&set, "registry:set");
    let set = common::stdout(&set);
    assert!(
        set.contains(REGISTRY) && set.contains("logged in as deployer"),
        "{set}"
    );
    let info = berth_ok(m, &["app", "info", "demo"]);
    assert!(
        info.contains(&format!("Registry: {REGISTRY} (as deployer)")),
        "{info}"
    );
    // The password is the nodes' alone: not in the app's record, nor in
    // what the API shows of its services.
    let record = std::fs::read_to_string(m.data_root().join("apps/demo/app.json")).unwrap();
    assert!(
        !record.contains("s3cret") && !record.contains("RegistryAuth"),
        "{record}"
    );

    // The first push: built on the manager, pushed, a web service.
    let begun = Instant::now();
    let (ok, out) = push(&c, &src);
    assert!(ok, "{out}\n{}", m.log_tail());
    assert!(
        out.contains("remote: -----> Pushing 10.77.0.1:5000/demo:"),
        "{out}"
    );
    assert!(
        out.contains("remote: -----> Creating service demo-web"),
        "{out}"
    );
    assert!(out.contains("remote: =====> demo v1"), "{out}");
    eprintln!("first push to deployed: {:?}", begun.elapsed());
    served_everywhere(&c, "version-one", Duration::from_secs(20));
    let services = m.docker_ok(&["service", "ls", "--format", "{{.Name}} {{.Replicas}}"]);
    assert!(services.contains("demo-web 1/1"), "{services}");
    assert!(!services.contains("check"), "{services}");
    assert!(
        service_image(&c, "demo-web").starts_with("10.77.0.1:5000/demo:"),
        "{}",
        service_image(&c, "demo-web")
    );
    let labels = m.docker_ok(&[
        "service",
        "inspect",
        "--format",
        "{{json .Spec.Labels}}",
        "demo-web",
    ]);
    for l in [
        r#""berth.app":"demo""#,
        r#""berth.app.process":"web""#,
        r#""berth.app.release":"v1""#,
        r#""berth.http.host":"demo.apps.test""#,
    ] {
        assert!(labels.contains(l), "{labels}");
    }
    // No local app container: the daemon supervises none.
    assert_eq!(
        m.docker_ok(&["ps", "-aq", "--filter", "label=berth.app=demo"]),
        ""
    );

    // ps:scale: one more task, placed by swarm's spread on the other node.
    let scaled = berth_ok(m, &["app", "ps:scale", "demo", "web=2"]);
    assert!(
        scaled.contains("Updating service demo-web: 2 replica(s)"),
        "{scaled}"
    );
    assert_eq!(tasks_per_host(&c, "demo-web"), [1, 1]);
    let info = berth_ok(m, &["app", "info", "demo"]);
    assert!(info.contains("demo-web (service, 2/2 running)"), "{info}");

    // config:set: the services' environment (a rolling update).
    berth_ok(m, &["app", "config:set", "demo", "GREETING=hello"]);
    let env = m.docker_ok(&[
        "service",
        "inspect",
        "--format",
        "{{json .Spec.TaskTemplate.ContainerSpec.Env}}",
        "demo-web",
    ]);
    assert!(env.contains("GREETING=hello"), "{env}");
    // Every running task has it, wherever swarm placed it.
    let task_envs = |c: &Cluster| -> Vec<String> {
        c.hosts
            .iter()
            .flat_map(|h| {
                let ids = h.d.docker_ok(&[
                    "ps",
                    "-q",
                    "--filter",
                    "label=com.docker.swarm.service.name=demo-web",
                ]);
                ids.lines()
                    .map(|id| {
                        h.d.docker_ok(&["inspect", "--format", "{{json .Config.Env}}", id])
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let task_env = wait_for(Duration::from_secs(20), || {
        let envs = task_envs(&c);
        (envs.len() == 2 && envs.iter().all(|e| e.contains("GREETING=hello"))).then_some(())
    });
    assert!(task_env.is_some(), "{:?}", task_envs(&c));
    // domains:add: the web service's route on every node, at once.
    berth_ok(m, &["app", "domains:add", "demo", "www.demo.apps.test"]);
    for i in 0..2 {
        let routed = wait_for(Duration::from_secs(10), || {
            (get_host(&c, i, "www.demo.apps.test") == (200, "version-one".into())).then_some(())
        });
        assert!(
            routed.is_some(),
            "host {i}: {:?}",
            get_host(&c, i, "www.demo.apps.test")
        );
    }
    assert!(berth(m, &["app", "logs", "demo"]).status.success());

    // A second push, with CHECKS, under a bounded load through the
    // manager's router: every request answered, the new version at the end.
    commit_version(
        &src,
        "version-two",
        &[("CHECKS", "WAIT=1\n/ version-two\n")],
    );
    let stop = m.tmp().join("stop-load");
    let load = start_load(&c, &stop);
    std::thread::sleep(Duration::from_millis(500));
    let begun = Instant::now();
    let (ok, out) = push(&c, &src);
    let took = begun.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(&stop, "").unwrap();
    let results = load_results(load);
    assert!(ok, "{out}\n{}", m.log_tail());
    assert!(out.contains("Running CHECKS"), "{out}");
    assert!(out.contains("/: ok"), "{out}");
    let failed: Vec<&(u16, String)> = results.iter().filter(|(s, _)| *s != 200).collect();
    let bodies: BTreeSet<&str> = results.iter().map(|(_, b)| b.as_str()).collect();
    eprintln!(
        "second push took {took:?}: {} requests, {} failed, answers {bodies:?}",
        results.len(),
        failed.len()
    );
    assert!(results.len() > 20, "{}", results.len());
    assert!(failed.is_empty(), "{failed:?}");
    assert!(
        bodies
            .iter()
            .all(|b| *b == "version-one" || *b == "version-two"),
        "{bodies:?}"
    );
    assert_eq!(results.last().map(|r| r.1.as_str()), Some("version-two"));
    served_everywhere(&c, "version-two", Duration::from_secs(10));
    // Two tasks of the new spec, wherever swarm placed them (start-first:
    // each new one is placed while the task it replaces still runs).
    let two = wait_for(Duration::from_secs(20), || {
        (tasks_per_host(&c, "demo-web").iter().sum::<usize>() == 2).then_some(())
    });
    assert!(two.is_some(), "{:?}", tasks_per_host(&c, "demo-web"));
    let v2_image = service_image(&c, "demo-web");

    // CHECKS that fail: the push is rejected, the services untouched.
    commit_version(
        &src,
        "version-three",
        &[("CHECKS", "WAIT=1\nATTEMPTS=2\n/ not-there\n")],
    );
    let (ok, out) = push(&c, &src);
    assert!(!ok, "{out}");
    assert!(out.contains("check / failed"), "{out}");
    assert!(out.contains("the running release is unchanged"), "{out}");
    assert_eq!(service_image(&c, "demo-web"), v2_image);
    served_everywhere(&c, "version-two", Duration::from_secs(1));
    let services = m.docker_ok(&["service", "ls", "--format", "{{.Name}}"]);
    assert_eq!(services, "demo-web", "the check service went");

    // Rollback to v2 (the scale, before config:set): version one's image
    // again, no build, and v2's config (no GREETING), the app's again.
    let back = berth_ok(m, &["app", "rollback", "demo", "v2"]);
    assert!(!back.contains("Building"), "{back}");
    assert!(
        back.contains("With the config v2 ran with (none)"),
        "{back}"
    );
    served_everywhere(&c, "version-one", Duration::from_secs(10));
    let releases = berth_ok(m, &["app", "releases", "demo"]);
    let current = releases
        .lines()
        .find(|l| l.starts_with('*'))
        .unwrap_or_default();
    assert!(current.contains(" v5 "), "{releases}");
    assert!(current.ends_with("Rollback to v2"), "{releases}");
    assert_eq!(berth_ok(m, &["app", "config", "demo"]).trim(), "");
    let env = m.docker_ok(&[
        "service",
        "inspect",
        "--format",
        "{{json .Spec.TaskTemplate.ContainerSpec.Env}}",
        "demo-web",
    ]);
    assert!(!env.contains("GREETING"), "{env}");
    let task_env = wait_for(Duration::from_secs(20), || {
        let envs = task_envs(&c);
        (envs.len() == 2 && envs.iter().all(|e| !e.contains("GREETING"))).then_some(())
    });
    assert!(task_env.is_some(), "{:?}", task_envs(&c));

    // restart: every task replaced (a forced update), the same image.
    let image = service_image(&c, "demo-web");
    let ids = |c: &Cluster| -> BTreeSet<String> {
        c.hosts
            .iter()
            .flat_map(|h| {
                h.d.docker_ok(&[
                    "ps",
                    "-q",
                    "--filter",
                    "label=com.docker.swarm.service.name=demo-web",
                ])
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
            })
            .collect()
    };
    let old_ids = ids(&c);
    berth_ok(m, &["app", "restart", "demo"]);
    let forced = m.docker_ok(&[
        "service",
        "inspect",
        "--format",
        "{{.Spec.TaskTemplate.ForceUpdate}}",
        "demo-web",
    ]);
    assert_eq!(forced, "1");
    assert_eq!(service_image(&c, "demo-web"), image);
    let replaced = wait_for(Duration::from_secs(20), || {
        let now = ids(&c);
        (now.len() == 2 && now.is_disjoint(&old_ids)).then_some(())
    });
    assert!(replaced.is_some(), "{old_ids:?} {:?}", ids(&c));
    served_everywhere(&c, "version-one", Duration::from_secs(5));

    // A release whose HEALTHCHECK fails: swarm rolls the update back, the
    // push is rejected, version one keeps serving.
    std::fs::write(
        src.join("Dockerfile"),
        "FROM busybox\nRUN mkdir -p /www && echo version-sick > /www/index.html\n\
         HEALTHCHECK --interval=1s --timeout=1s --retries=1 CMD false\n\
         CMD [\"httpd\", \"-f\", \"-p\", \"80\", \"-h\", \"/www\"]\n",
    )
    .unwrap();
    std::fs::remove_file(src.join("CHECKS")).unwrap();
    git_ok(&src, &["add", "-A"]);
    git_ok(&src, &["commit", "-q", "-m", "sick"]);
    let begun = Instant::now();
    let (ok, out) = push(&c, &src);
    assert!(!ok, "{out}");
    assert!(
        out.contains("failed to update and was rolled back"),
        "{out}"
    );
    eprintln!("unhealthy release rejected after {:?}", begun.elapsed());
    assert_eq!(service_image(&c, "demo-web"), image);
    served_everywhere(&c, "version-one", Duration::from_secs(10));

    // app rm: no service, task container or route left.
    berth_ok(m, &["app", "rm", "demo"]);
    assert_eq!(m.docker_ok(&["service", "ls", "-q"]), "");
    for (i, h) in c.hosts.iter().enumerate() {
        let gone = wait_for(Duration::from_secs(30), || {
            let left = h.d.docker_ok(&["ps", "-aq", "--filter", "name=demo-"]);
            (left.is_empty() && get(&c, i).0 == 404).then_some(())
        });
        assert!(
            gone.is_some(),
            "host {i}: {} {:?}",
            h.d.docker_ok(&["ps", "-a"]),
            get(&c, i)
        );
    }
    let info = berth(m, &["app", "info", "demo"]);
    assert!(!info.status.success());
}

/// The error and state of each task of `service`, newest first.
fn task_states(c: &Cluster, service: &str) -> String {
    c.hosts[0].d.docker_ok(&[
        "service",
        "ps",
        "--no-trunc",
        "--format",
        "{{.CurrentState}} {{.Error}}",
        service,
    ])
}

#[test]
fn services_pull_with_the_registry_credentials_they_were_given() {
    let c = Cluster::with_daemon_args(2, &["--insecure-registry", REGISTRY]);
    if !c.hosts[0].d.is_berth() {
        return;
    }
    let token = c.init();
    assert_success(&c.join(1, &token), "swarm join");
    let (m, w) = (&c.hosts[0].d, &c.hosts[1].d);
    let htpasswd = common::registry::write_htpasswd(m.tmp(), "alice", "s3cret");
    let _registry = Registry::start(
        &c,
        &m.tmp().join("registry"),
        &["--htpasswd", htpasswd.to_str().unwrap()],
    );
    let login = m.docker_stdin(
        &["login", "--username", "alice", "--password-stdin", REGISTRY],
        b"s3cret",
    );
    assert_success(&login, "docker login");
    let image = format!("{REGISTRY}/private/bb:v1");
    m.docker_ok(&["tag", "busybox", &image]);
    m.docker_ok(&["push", &image]);

    // Without --with-registry-auth the worker cannot pull it.
    let create = |name: &str, auth: bool| {
        let mut args = vec!["service", "create", "-d", "--name", name];
        if auth {
            args.push("--with-registry-auth");
        }
        args.extend(["--constraint", "node.role==worker", &image, "sleep", "1000"]);
        m.docker_ok(&args);
    };
    create("anonymous", false);
    let refused = wait_for(Duration::from_secs(30), || {
        let states = task_states(&c, "anonymous");
        states.contains("No such image").then_some(states)
    });
    assert!(refused.is_some(), "{}", task_states(&c, "anonymous"));
    assert!(
        !task_states(&c, "anonymous").contains("Running"),
        "{}",
        task_states(&c, "anonymous")
    );

    m.docker_ok(&["service", "rm", "anonymous"]);

    create("private", true);
    let running = wait_for(Duration::from_secs(30), || {
        task_states(&c, "private")
            .starts_with("Running")
            .then_some(())
    });
    assert!(
        running.is_some(),
        "{}\n{}",
        task_states(&c, "private"),
        w.log_tail()
    );
    assert!(
        w.docker_ok(&["ps", "--format", "{{.Image}}"])
            .contains(&image)
    );
    // The credentials are the nodes' alone.
    for out in [
        m.docker_ok(&["service", "inspect", "private"]),
        m.docker_ok(&["service", "ls", "--format", "{{json .}}"]),
        m.docker_ok(&["inspect", "--type", "task", &task_id(&c, "private")]),
    ] {
        assert!(
            !out.contains("PullOptions") && !out.contains("RegistryAuth"),
            "{out}"
        );
    }

    // An update without the flag keeps them: with the worker's copy of the
    // image untagged (its tag and the digest the service pins), the new
    // task pulls again.
    let pinned = service_image(&c, "private");
    let digest = pinned.trim().rsplit_once('@').unwrap().1.to_string();
    w.docker_ok(&[
        "rmi",
        "-f",
        &image,
        &format!("{REGISTRY}/private/bb@{digest}"),
    ]);
    assert!(w.docker(&["image", "inspect", pinned.trim()]).status.code() != Some(0));
    m.docker_ok(&["service", "update", "-d", "--env-add", "V=2", "private"]);
    let updated = wait_for(Duration::from_secs(30), || {
        let states = task_states(&c, "private");
        (states.starts_with("Running") && states.lines().count() == 2).then_some(())
    });
    assert!(updated.is_some(), "{}", task_states(&c, "private"));
    let env = w.docker_ok(&[
        "ps",
        "--filter",
        "label=com.docker.swarm.service.name=private",
        "--format",
        "{{.ID}}",
    ]);
    let id = env.lines().next().unwrap_or_default();
    assert!(
        w.docker_ok(&["inspect", "-f", "{{.Config.Env}}", id])
            .contains("V=2"),
        "{env}"
    );
    m.docker_ok(&["service", "rm", "private"]);
}

/// The id of `service`'s newest task.
fn task_id(c: &Cluster, service: &str) -> String {
    let out = c.hosts[0]
        .d
        .docker_ok(&["service", "ps", "-q", "--no-trunc", service]);
    out.lines().next().unwrap_or_default().to_string()
}

/// An app's record is the cluster's: one made before `swarm init` joins the
/// cluster's records, one made on a manager is seen and changed on the
/// other (which gets a repository of its own to push to), a domain one
/// manager's app holds is refused on the other, and a removal anywhere
/// leaves no record, directory or store key on any manager.
#[test]
fn an_apps_record_is_the_clusters_on_every_manager() {
    let c = Cluster::new(2);
    if !c.hosts[0].d.is_berth() {
        return;
    }
    let (a, b) = (&c.hosts[0].d, &c.hosts[1].d);
    berth_ok(a, &["app", "create", "solo", "--domain", "solo.test"]);
    c.init();
    let token = a.docker_ok(&["swarm", "join-token", "-q", "manager"]);
    assert_success(&c.join(1, &token), "swarm join as a manager");

    // Made before the swarm, on A: it joins the records as A's daemon
    // notices it is a manager (within a second or two), and B lists it.
    let seen = wait_for(Duration::from_secs(10), || {
        berth_ok(b, &["app", "ls"]).contains("solo").then_some(())
    });
    assert!(seen.is_some(), "{}", berth_ok(b, &["app", "ls"]));
    // Made on A now: B lists it, and its files follow (a repository whose
    // hook calls B's own daemon).
    berth_ok(a, &["app", "create", "shop", "--domain", "shop.test"]);
    let ls = berth_ok(b, &["app", "ls"]);
    assert!(ls.contains("shop"), "{ls}");
    let hook = b.data_root().join("apps/shop/repo.git/hooks/pre-receive");
    let made = wait_for(Duration::from_secs(10), || hook.exists().then_some(()));
    assert!(
        made.is_some(),
        "no repository for shop on B\n{}",
        b.log_tail()
    );
    // A push to B's repository runs the deploy against B's daemon, which
    // knows the app: on two nodes without a registry it is refused, naming
    // the command that sets one (nothing deployed).
    let src = common::host_dir(b, "shop-src");
    git_ok(&src, &["init", "-q", "-b", "main"]);
    commit_version(&src, "shop-one", &[]);
    let (ok, out) = push_to(&c, 1, "shop", &src);
    assert!(!ok, "{out}");
    assert!(out.contains("berth app registry:set shop"), "{out}");

    // Changed on B: A's record is the same.
    berth_ok(b, &["app", "domains:add", "shop", "www.shop.test"]);
    let info = berth_ok(a, &["app", "info", "shop"]);
    assert!(info.contains("www.shop.test"), "{info}");
    // A domain A's app holds is refused on B, and nothing is made there.
    let out = berth(b, &["app", "create", "other", "--domain", "www.shop.test"]);
    assert!(!out.status.success());
    let err = common::stderr(&out);
    assert!(
        err.contains("domain www.shop.test is already claimed by app shop"),
        "{err}"
    );
    assert!(!b.data_root().join("apps/other").exists());
    let keys = c.store_keys();
    let records: Vec<&String> = keys
        .iter()
        .filter(|k| k.contains("/apps/records/"))
        .collect();
    assert_eq!(records.len(), 2, "{keys:?}");

    // Removed on B: gone from A's list, A's files and the store.
    berth_ok(b, &["app", "rm", "shop"]);
    let ls = berth_ok(a, &["app", "ls"]);
    assert!(!ls.contains("shop") && ls.contains("solo"), "{ls}");
    let gone = wait_for(Duration::from_secs(10), || {
        (!a.data_root().join("apps/shop").exists()).then_some(())
    });
    assert!(gone.is_some(), "A keeps shop's directory\n{}", a.log_tail());
    let keys = c.store_keys();
    assert!(
        !keys.iter().any(|k| k.ends_with("/apps/records/shop")),
        "{keys:?}"
    );
}
