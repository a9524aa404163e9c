//! End-to-end tests of the `berth` client against a live daemon.
//!
//! `BERTH_TEST_HOST` names a daemon socket to test against (e.g. a dockerd, to
//! prove the tests); without it the tests start their own berth daemon.
//! Where the docker CLI is installed, berth's output is compared with
//! docker's on the same daemon.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

const IMAGE: &str = "berth-cli-test:latest";

mod common;

#[path = "cli_verbs/mod.rs"]
mod verbs;

fn host() -> Option<String> {
    match std::env::var("BERTH_TEST_HOST") {
        Ok(h) if !h.is_empty() => Some(h),
        _ => Some(common::Daemon::shared().host()),
    }
}

fn berth_cmd(host: &str, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
    c.args(args)
        .env("BERTH_HOST", host)
        .env_remove("DOCKER_HOST")
        .stdin(Stdio::null());
    c
}

fn berth(host: &str, args: &[&str]) -> Output {
    berth_cmd(host, args).output().expect("run berth")
}

fn berth_stdin(host: &str, args: &[&str], input: &[u8]) -> Output {
    let mut child = berth_cmd(host, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn berth");
    // Feed stdin from a thread: a large input would otherwise deadlock
    // against the child's full stdout pipe.
    let mut pipe = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait berth");
    writer.join().unwrap();
    out
}

/// The docker CLI on the same daemon, when it is installed.
/// The real docker CLI against `host`. Missing, it fails the test: these
/// comparisons are the point, and scripts/deps.sh installs it.
fn docker(host: &str, args: &[&str]) -> Output {
    let bin = ["/usr/local/bin/docker", "/usr/bin/docker"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("the docker CLI is missing: run scripts/deps.sh (it installs docker.io)");
    Command::new(bin)
        .args(args)
        .env("DOCKER_HOST", host)
        .stdin(Stdio::null())
        .output()
        .expect("run docker")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "command failed: {:?}\nstdout: {}\nstderr: {}",
        o.status,
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// A unique container name, removed (with `rm -f`) when the test ends,
/// whether it passed or not.
struct Names {
    host: String,
    names: Vec<String>,
}

impl Names {
    fn new(host: &str) -> Names {
        Names {
            host: host.to_string(),
            names: Vec::new(),
        }
    }

    fn fresh(&mut self, tag: &str) -> String {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = format!(
            "berth-cli-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        self.names.push(n.clone());
        n
    }
}

impl Drop for Names {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = berth(&self.host, &["rm", "-f", n]);
        }
    }
}

/// Imports a busybox image through `berth import` once per test run: a
/// rootfs with the static /bin/busybox and its applet links.
fn image(host: &str) -> &'static str {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("rootfs");
        for d in ["bin", "etc", "tmp", "proc", "sys", "dev"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", root.join("bin/busybox"))
            .expect("static busybox at /bin/busybox");
        for app in [
            "sh", "echo", "cat", "ls", "sleep", "id", "env", "pwd", "hostname", "true", "false",
            "printf",
        ] {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(app)).unwrap();
        }
        std::fs::write(
            root.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
        let tar = dir.path().join("rootfs.tar");
        let st = Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap();
        assert!(st.success());
        // Replacing an earlier run's copy would leave it dangling; drop it first.
        let _ = berth(host, &["rmi", "-f", IMAGE]);
        let out = berth(
            host,
            &[
                "import",
                "--change",
                "CMD [\"sh\"]",
                tar.to_str().unwrap(),
                IMAGE,
            ],
        );
        let text = ok(&out);
        assert!(
            text.trim().starts_with("sha256:"),
            "import prints the image ID: {text}"
        );
    });
    IMAGE
}

#[test]
fn run_exit_codes_match_docker() {
    let Some(h) = host() else { return };
    let img = image(&h);
    let mut names = Names::new(&h);
    let cases: [(&[&str], i32); 4] = [
        (&["sh", "-c", "exit 3"], 3),
        (&["true"], 0),
        (&["/no/such/binary"], 127),
        (&["/etc/passwd"], 126),
    ];
    for (cmd, want) in cases {
        let n = names.fresh("exit");
        let mut args = vec!["run", "--name", &n, img];
        args.extend_from_slice(cmd);
        let o = berth(&h, &args);
        assert_eq!(
            o.status.code(),
            Some(want),
            "berth run {cmd:?}: {}",
            stderr(&o)
        );
        let n2 = names.fresh("exit-docker");
        let mut dargs = vec!["run", "--name", &n2, img];
        dargs.extend_from_slice(cmd);
        let d = docker(&h, &dargs);
        {
            assert_eq!(o.status.code(), d.status.code(), "docker agrees on {cmd:?}");
        }
    }
    let o = berth(&h, &["run", "--rm", "berth-cli-no-such-image:v0"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("Unable to find image 'berth-cli-no-such-image:v0' locally"),
        "{}",
        stderr(&o)
    );
    let o = berth(&h, &["run", "--bogus-flag", img]);
    assert_eq!(o.status.code(), Some(125), "flag errors exit 125");
    assert!(
        stderr(&o).starts_with("unknown flag: --bogus-flag\n"),
        "{}",
        stderr(&o)
    );
    let o = berth(&h, &["ps", "--bogus-flag"]);
    assert_eq!(o.status.code(), Some(125));
    let d = docker(&h, &["ps", "--bogus-flag"]);
    {
        let first = |s: String| s.lines().next().unwrap_or("").to_string();
        assert_eq!(first(stderr(&o)), first(stderr(&d)));
    }
}

#[test]
fn run_separates_stdout_and_stderr() {
    let Some(h) = host() else { return };
    let img = image(&h);
    let o = berth(
        &h,
        &[
            "run",
            "--rm",
            img,
            "sh",
            "-c",
            "echo out1; echo err1 >&2; echo out2",
        ],
    );
    assert_eq!(ok(&o), "out1\nout2\n");
    assert_eq!(stderr(&o), "err1\n");
}

#[test]
fn run_interactive_copies_stdin() {
    let Some(h) = host() else { return };
    let img = image(&h);
    let o = berth_stdin(
        &h,
        &["run", "-i", "--rm", img, "cat"],
        b"line one\nline two\n",
    );
    assert_eq!(ok(&o), "line one\nline two\n");
    // Without -i the container sees no input.
    let o = berth_stdin(&h, &["run", "--rm", img, "cat"], b"ignored\n");
    assert_eq!(ok(&o), "");
}

#[test]
fn run_options_reach_the_container() {
    let Some(h) = host() else { return };
    let img = image(&h);
    let mut names = Names::new(&h);
    let n = names.fresh("opts");
    let dir = tempfile::tempdir().unwrap();
    let envf = dir.path().join("env");
    std::fs::write(&envf, "FROM_FILE=1\n# comment\n\nPASSED_THROUGH\n").unwrap();
    let o = berth_cmd(
        &h,
        &[
            "run", "--name", &n, "-e", "A=x y", "--env", "B=2", "--env-file", envf.to_str().unwrap(),
            "-w", "/tmp", "-u", "65534", "--hostname", "berthhost", "-l", "k1=v1", "--label", "k2=v2",
            "--network", "none", img, "sh", "-c",
            "echo \"$A|$B|$FROM_FILE|$PASSED_THROUGH|$(pwd)|$(id -u)|$(hostname)\"; ls /sys/class/net",
        ],
    )
    .env("PASSED_THROUGH", "host-value")
    .output()
    .unwrap();
    assert_eq!(ok(&o), "x y|2|1|host-value|/tmp|65534|berthhost\nlo\n");
    let f = berth(
        &h,
        &[
            "inspect",
            "-f",
            "{{.Config.Hostname}} {{index .Config.Labels \"k1\"}} {{.HostConfig.NetworkMode}} {{.State.ExitCode}}",
            &n,
        ],
    );
    assert_eq!(ok(&f), "berthhost v1 none 0\n");
    let o = berth(
        &h,
        &[
            "run",
            "--rm",
            "--entrypoint",
            "echo",
            img,
            "from",
            "entrypoint",
        ],
    );
    assert_eq!(ok(&o), "from entrypoint\n");
    // Arguments after the image belong to the command, flags included.
    let o = berth(&h, &["run", "--rm", img, "ls", "-d", "/tmp"]);
    assert_eq!(ok(&o), "/tmp\n");
}

#[test]
fn detached_run_ps_and_inspect_match_docker() {
    let Some(h) = host() else { return };
    let img = image(&h);
    let mut names = Names::new(&h);
    let n = names.fresh("ps");
    let id = ok(&berth(
        &h,
        &[
            "run",
            "-d",
            "--name",
            &n,
            "-l",
            "role=test",
            img,
            "sleep",
            "30",
        ],
    ));
    let id = id.trim();
    assert_eq!(id.len(), 64, "detached run prints the full ID: {id}");
    let filter = format!("name={n}");
    let q = ok(&berth(&h, &["ps", "-q", "--filter", &filter]));
    assert_eq!(q.trim(), &id[..12]);
    let q = ok(&berth(&h, &["ps", "-q", "--no-trunc", "--filter", &filter]));
    assert_eq!(q.trim(), id);
    let fmt =
        "{{.Names}}|{{.ID}}|{{.Image}}|{{.Command}}|{{.State}}|{{.Label \"role\"}}|{{.Labels}}";
    let b = ok(&berth(&h, &["ps", "--filter", &filter, "--format", fmt]));
    assert_eq!(
        b,
        format!(
            "{n}|{}|{img}|\"sleep 30\"|running|test|role=test\n",
            &id[..12]
        )
    );
    let d = docker(&h, &["ps", "--filter", &filter, "--format", fmt]);
    {
        assert_eq!(b, stdout(&d));
    }
    let table = "table {{.Names}}\t{{.Image}}\t{{.Command}}";
    let b = ok(&berth(
        &h,
        &["ps", "-a", "--filter", &filter, "--format", table],
    ));
    assert!(b.starts_with("NAMES"), "{b}");
    let d = docker(&h, &["ps", "-a", "--filter", &filter, "--format", table]);
    {
        assert_eq!(b, stdout(&d));
    }
    // Default table: same header and columns as docker (times may differ by a second).
    let b = ok(&berth(&h, &["ps", "--filter", &filter]));
    let mut lines = b.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("CONTAINER ID   IMAGE"), "{header}");
    assert!(header.ends_with("NAMES"));
    assert!(lines.next().unwrap().ends_with(&n));
    // {{json .}}: same keys and values except the clock-dependent ones.
    let b = ok(&berth(
        &h,
        &["ps", "--filter", &filter, "--format", "{{json .}}"],
    ));
    let mut bj: serde_json::Value = serde_json::from_str(&b).unwrap();
    let d = docker(&h, &["ps", "--filter", &filter, "--format", "{{json .}}"]);
    {
        let mut dj: serde_json::Value = serde_json::from_str(&stdout(&d)).unwrap();
        for k in ["RunningFor", "Status"] {
            bj.as_object_mut().unwrap().remove(k);
            dj.as_object_mut().unwrap().remove(k);
        }
        assert_eq!(bj, dj);
    }
    ok(&berth(&h, &["kill", &n]));
    ok(&berth(&h, &["wait", &n]));
    let templates = [
        "{{.State.ExitCode}}",
        "{{.Config.Hostname}}",
        "{{json .Config}}",
        "{{.Name}} {{.Id}}",
        "{{.Config.Labels}}",
        "{{range .Config.Cmd}}[{{.}}]{{end}}",
        "{{json .Config.Cmd}} {{.State.Status}}",
    ];
    for t in templates {
        let b = ok(&berth(&h, &["inspect", "-f", t, &n]));
        assert!(!b.trim().is_empty(), "{t}");
        let d = docker(&h, &["inspect", "-f", t, &n]);
        {
            assert_eq!(b, stdout(&d), "inspect -f {t}");
        }
    }
    assert_eq!(
        ok(&berth(&h, &["inspect", "-f", "{{.State.ExitCode}}", &n])),
        "137\n"
    );
    let b = ok(&berth(&h, &["inspect", &n]));
    let parsed: serde_json::Value = serde_json::from_str(&b).unwrap();
    assert_eq!(parsed[0]["Id"], id);
    let d = docker(&h, &["inspect", &n]);
    {
        assert_eq!(
            b,
            stdout(&d),
            "plain inspect is the daemon's JSON, indented like docker"
        );
    }
    let b = ok(&berth(&h, &["container", "inspect", "-f", "{{.Name}}", &n]));
    assert_eq!(b, format!("/{n}\n"));
}

#[test]
fn image_commands_match_docker() {
    let Some(h) = host() else { return };
    let img = image(&h);
    let tag = format!("berth-cli-tag-{}:v1", std::process::id());
    ok(&berth(&h, &["tag", img, &tag]));
    struct Untag(String, String);
    impl Drop for Untag {
        fn drop(&mut self) {
            let _ = berth(&self.0, &["rmi", &self.1]);
        }
    }
    let _g = Untag(h.clone(), tag.clone());
    let repo = tag.trim_end_matches(":v1");
    let fmt = "{{.Repository}}|{{.Tag}}|{{.ID}}|{{.Size}}";
    let b = ok(&berth(&h, &["images", repo, "--format", fmt]));
    assert!(b.starts_with(&format!("{repo}|v1|")), "{b}");
    let d = docker(&h, &["images", repo, "--format", fmt]);
    {
        assert_eq!(b, stdout(&d));
    }
    let b = ok(&berth(&h, &["image", "ls", "-q", repo]));
    assert_eq!(b.trim().len(), 12);
    // The CREATED column is relative ("Less than a second ago"): the two
    // clients agree on it unless a second ticks between their calls, so a
    // disagreement is asked again once.
    let table = |h: &str| {
        (
            ok(&berth(h, &["images", repo])),
            stdout(&docker(h, &["images", repo])),
        )
    };
    let (mut b, mut d) = table(&h);
    if b != d {
        (b, d) = table(&h);
    }
    assert!(b.starts_with("REPOSITORY"), "{b}");
    assert_eq!(b, d);
    let b = ok(&berth(
        &h,
        &["image", "inspect", "-f", "{{json .Config.Cmd}}", &tag],
    ));
    assert_eq!(b, "[\"sh\"]\n");
    let d = docker(&h, &["image", "inspect", &tag]);
    {
        assert_eq!(ok(&berth(&h, &["image", "inspect", &tag])), stdout(&d));
    }
    let b = ok(&berth(&h, &["rmi", &tag]));
    assert_eq!(b, format!("Untagged: {tag}\n"));
    let o = berth(&h, &["rmi", &tag]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("Error response from daemon: "),
        "{}",
        stderr(&o)
    );
}

#[test]
fn import_from_stdin_with_changes() {
    let Some(h) = host() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), "hi\n").unwrap();
    let tar = Command::new("tar")
        .arg("-C")
        .arg(dir.path())
        .arg("-cf")
        .arg("-")
        .arg("hello.txt")
        .output()
        .unwrap();
    assert!(tar.status.success());
    let tag = format!("berth-cli-import-{}:v1", std::process::id());
    let o = berth_stdin(
        &h,
        &["import", "-c", "ENV FOO=bar", "-m", "from stdin", "-", &tag],
        &tar.stdout,
    );
    let id = ok(&o);
    assert!(id.starts_with("sha256:"), "{id}");
    let f = ok(&berth(
        &h,
        &[
            "image",
            "inspect",
            "-f",
            "{{.Config.Env}}|{{.Comment}}",
            &tag,
        ],
    ));
    assert_eq!(f, "[FOO=bar]|from stdin\n");
    ok(&berth(&h, &["image", "rm", &tag]));
}

#[test]
fn logs_keep_streams_apart() {
    let Some(h) = host() else { return };
    let img = image(&h);
    let mut names = Names::new(&h);
    let n = names.fresh("logs");
    ok(&berth(
        &h,
        &[
            "run",
            "--name",
            &n,
            img,
            "sh",
            "-c",
            "echo o1; echo e1 >&2; echo o2; echo e2 >&2",
        ],
    ));
    let o = berth(&h, &["logs", &n]);
    assert_eq!(ok(&o), "o1\no2\n");
    assert_eq!(stderr(&o), "e1\ne2\n");
    let o = berth(&h, &["logs", "--tail", "1", &n]);
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert_eq!(all.lines().count(), 1, "{all}");
    let b = berth(&h, &["logs", "-t", &n]);
    assert!(
        stdout(&b)
            .lines()
            .all(|l| l.contains("T") && l.ends_with(['1', '2']))
    );
    let d = docker(&h, &["logs", "-t", &n]);
    {
        assert_eq!(stdout(&b), stdout(&d));
        assert_eq!(stderr(&b), stderr(&d));
    }
    let o = berth(&h, &["logs", "--until", "1970-01-02T00:00:00Z", &n]);
    assert_eq!(
        ok(&o),
        "",
        "--until before the container existed shows nothing"
    );
    let o = berth(&h, &["logs", "--since", "10m", "-f", &n]);
    assert_eq!(ok(&o), "o1\no2\n", "follow ends with a stopped container");
}

#[test]
fn exec_runs_in_the_container_and_propagates_status() {
    let Some(h) = host() else { return };
    let img = image(&h);
    let mut names = Names::new(&h);
    let n = names.fresh("exec");
    ok(&berth(&h, &["run", "-d", "--name", &n, img, "sleep", "60"]));
    let o = berth(
        &h,
        &["exec", &n, "sh", "-c", "echo out; echo err >&2; exit 4"],
    );
    assert_eq!(o.status.code(), Some(4));
    assert_eq!(stdout(&o), "out\n");
    assert_eq!(stderr(&o), "err\n");
    let o = berth(
        &h,
        &[
            "exec",
            "-e",
            "V=1",
            "-w",
            "/tmp",
            "-u",
            "65534",
            &n,
            "sh",
            "-c",
            "echo $V $(pwd) $(id -u)",
        ],
    );
    assert_eq!(ok(&o), "1 /tmp 65534\n");
    let o = berth_stdin(&h, &["exec", "-i", &n, "cat"], b"piped\n");
    assert_eq!(ok(&o), "piped\n");
    let o = berth(&h, &["exec", &n, "/no/such/binary"]);
    let code = o.status.code();
    assert!(matches!(code, Some(126) | Some(127)), "{code:?}");
    let d = docker(&h, &["exec", &n, "/no/such/binary"]);
    {
        assert_eq!(code, d.status.code());
    }
    ok(&berth(
        &h,
        &["exec", "-d", &n, "sh", "-c", "echo detached > /tmp/mark"],
    ));
    let mut seen = String::new();
    for _ in 0..50 {
        seen = stdout(&berth(&h, &["exec", &n, "cat", "/tmp/mark"]));
        if !seen.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(seen, "detached\n");
    let o = berth(&h, &["exec", "berth-cli-no-such-container", "true"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("No such container"), "{}", stderr(&o));
}

#[test]
fn lifecycle_commands_print_names_and_change_state() {
    let Some(h) = host() else { return };
    let img = image(&h);
    let mut names = Names::new(&h);
    let n = names.fresh("life");
    let id = ok(&berth(&h, &["create", "--name", &n, img, "sleep", "60"]));
    assert_eq!(id.trim().len(), 64);
    let state = |h: &str| {
        ok(&berth(h, &["inspect", "-f", "{{.State.Status}}", &n]))
            .trim()
            .to_string()
    };
    assert_eq!(state(&h), "created");
    assert_eq!(ok(&berth(&h, &["start", &n])), format!("{n}\n"));
    assert_eq!(state(&h), "running");
    assert_eq!(
        ok(&berth(&h, &["kill", "-s", "KILL", &n])),
        format!("{n}\n")
    );
    assert_eq!(ok(&berth(&h, &["wait", &n])), "137\n");
    assert_eq!(
        ok(&berth(&h, &["restart", "-t", "1", &n])),
        format!("{n}\n")
    );
    assert_eq!(state(&h), "running");
    assert_eq!(
        ok(&berth(&h, &["stop", "--time", "1", &n])),
        format!("{n}\n")
    );
    assert_eq!(state(&h), "exited");
    assert_eq!(ok(&berth(&h, &["container", "rm", &n])), format!("{n}\n"));
    let o = berth(&h, &["rm", &n]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!("Error response from daemon: No such container: {n}\n")
    );
    let o = berth(&h, &["inspect", &n]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "[]\n");
    assert_eq!(stderr(&o), format!("Error: No such object: {n}\n"));
    // rm -f removes a running container.
    let n2 = names.fresh("life-f");
    ok(&berth(
        &h,
        &["run", "-d", "--name", &n2, img, "sleep", "60"],
    ));
    assert_eq!(ok(&berth(&h, &["rm", "-f", &n2])), format!("{n2}\n"));
}

#[test]
fn start_attach_returns_the_exit_status() {
    let Some(h) = host() else { return };
    let img = image(&h);
    let mut names = Names::new(&h);
    let n = names.fresh("attach");
    ok(&berth(
        &h,
        &[
            "create",
            "-i",
            "--name",
            &n,
            img,
            "sh",
            "-c",
            "read x; echo got $x; echo bye >&2; exit 5",
        ],
    ));
    let o = berth_stdin(&h, &["start", "-a", "-i", &n], b"hello\n");
    assert_eq!(o.status.code(), Some(5));
    assert_eq!(stdout(&o), "got hello\n");
    assert_eq!(stderr(&o), "bye\n");
}

#[test]
fn rm_flag_removes_the_container() {
    let Some(h) = host() else { return };
    let img = image(&h);
    let mut names = Names::new(&h);
    let n = names.fresh("rm");
    let o = berth(
        &h,
        &["run", "--rm", "--name", &n, img, "sh", "-c", "exit 2"],
    );
    assert_eq!(o.status.code(), Some(2));
    let o = berth(&h, &["ps", "-a", "-q", "--filter", &format!("name={n}")]);
    assert_eq!(ok(&o), "");
}

#[test]
fn events_report_a_container_lifecycle() {
    let Some(h) = host() else { return };
    let img = image(&h);
    let mut names = Names::new(&h);
    let n = names.fresh("events");
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    ok(&berth(&h, &["run", "--name", &n, img, "true"]));
    // `--until` a moment in the past makes the stream end by itself.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let filter = format!("container={n}");
    let b = ok(&berth(
        &h,
        &[
            "events",
            "--since",
            &since,
            "--until",
            &now,
            "--filter",
            &filter,
            "--format",
            "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
        ],
    ));
    let actions: Vec<&str> = b
        .lines()
        .map(|l| l.split(' ').nth(1).unwrap_or(""))
        .collect();
    for want in ["create", "start", "die"] {
        assert!(actions.contains(&want), "missing {want} in {b}");
    }
    assert!(
        b.lines()
            .all(|l| l.starts_with("container ") && l.ends_with(&n)),
        "{b}"
    );
    let plain = ok(&berth(
        &h,
        &[
            "events", "--since", &since, "--until", &now, "--filter", &filter,
        ],
    ));
    assert!(plain.contains(&format!("name={n})")), "{plain}");
    let d = docker(
        &h,
        &[
            "events", "--since", &since, "--until", &now, "--filter", &filter,
        ],
    );
    {
        assert_eq!(plain, stdout(&d));
    }
    let d = docker(
        &h,
        &[
            "events",
            "--since",
            &since,
            "--until",
            &now,
            "--filter",
            &filter,
            "--format",
            "{{json .}}",
        ],
    );
    {
        let b = ok(&berth(
            &h,
            &[
                "events",
                "--since",
                &since,
                "--until",
                &now,
                "--filter",
                &filter,
                "--format",
                "{{json .}}",
            ],
        ));
        assert_eq!(b, stdout(&d));
    }
}

#[test]
fn version_and_info_reach_the_daemon() {
    let Some(h) = host() else { return };
    let v = ok(&berth(&h, &["version"]));
    assert!(v.starts_with("Client:\n") && v.contains("\nServer:"), "{v}");
    let api = ok(&berth(
        &h,
        &["version", "--format", "{{.Server.ApiVersion}}"],
    ));
    assert!(api.trim().starts_with("1."), "{api}");
    let i = ok(&berth(
        &h,
        &["info", "--format", "{{.Containers}} {{.Images}}"],
    ));
    assert_eq!(i.split_whitespace().count(), 2, "{i}");
    let o = berth_cmd(&h, &["ps"])
        .env("BERTH_HOST", "unix:///nonexistent/berth.sock")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("Cannot connect"), "{}", stderr(&o));
    let o = berth_cmd(
        "unix:///nonexistent/x.sock",
        &["-H", &h, "info", "--format", "{{.ID}}"],
    )
    .output()
    .unwrap();
    assert!(
        o.status.success(),
        "-H overrides the environment: {}",
        stderr(&o)
    );
}

#[test]
fn tty_sessions_use_a_pty() {
    let Some(h) = host() else { return };
    let img = image(&h);
    // -t alone: the container's output is the raw pty stream (CRLF).
    let o = berth(&h, &["run", "--rm", "-t", img, "sh", "-c", "tty; exit 3"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stdout(&o).starts_with("/dev/pts/") && stdout(&o).ends_with("\r\n"),
        "{:?}",
        stdout(&o)
    );
    // -it needs a terminal on our side, as with docker.
    let o = berth(&h, &["run", "--rm", "-it", img, "true"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "the input device is not a TTY\n");
    // With a real terminal (util-linux `script`), input flows through the pty.
    if !Path::new("/usr/bin/script").exists() {
        return;
    }
    let cmd = format!(
        "BERTH_HOST={h} {} run --rm -it {img} sh -c 'read x; echo got-$x; exit 4'",
        env!("CARGO_BIN_EXE_berth")
    );
    let mut child = Command::new("/usr/bin/script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(b"abc\r").unwrap();
    let out = child.wait_with_output().unwrap();
    drop(input);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("got-abc"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn large_streams_survive_the_round_trip() {
    let Some(h) = host() else { return };
    let img = image(&h);
    // Pseudo-random bytes (xorshift): framing must not alter binary data.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let data: Vec<u8> = (0..3_000_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let o = berth_stdin(&h, &["run", "-i", "--rm", img, "cat"], &data);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        o.stdout == data,
        "stdout differs: {} bytes back of {}",
        o.stdout.len(),
        data.len()
    );
    // The container ending first must not hang on our still-open stdin.
    let o = berth_stdin(
        &h,
        &["run", "-i", "--rm", img, "sh", "-c", "exit 0"],
        &data[..1000],
    );
    assert!(o.status.success());
}
