//! `docker logs` (tail, since/until, timestamps, follow) and `docker events`.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{Daemon, assert_success, stderr, stdout, unix_now, wait_for};

fn logs(d: &Daemon, args: &[&str]) -> (String, String) {
    let mut all = vec!["logs"];
    all.extend_from_slice(args);
    let out = d.docker(&all);
    assert_success(&out, &format!("docker {}", all.join(" ")));
    (stdout(&out), stderr(&out))
}

/// Runs a container to completion and returns its name.
fn finished(d: &Daemon, prefix: &str, script: &str) -> String {
    let name = d.name(prefix);
    let out = d.docker(&["run", "--name", &name, "busybox", "sh", "-c", script]);
    assert_success(&out, "docker run");
    name
}

#[test]
fn logs_keep_stdout_and_stderr_apart() {
    let d = Daemon::shared();
    let name = finished(
        &d,
        "logs-streams",
        "echo o1; echo e1 >&2; echo o2; echo e2 >&2",
    );
    let (out, err) = logs(&d, &[&name]);
    assert_eq!(out, "o1\no2\n");
    assert_eq!(err, "e1\ne2\n");
    d.docker_ok(&["rm", &name]);
}

#[test]
fn logs_tail() {
    let d = Daemon::shared();
    let name = finished(
        &d,
        "logs-tail",
        "for i in 1 2 3 4 5 6 7 8 9 10; do echo $i; done",
    );
    assert_eq!(logs(&d, &["--tail", "3", &name]).0, "8\n9\n10\n");
    assert_eq!(logs(&d, &["-n", "1", &name]).0, "10\n");
    assert_eq!(logs(&d, &["--tail", "0", &name]).0, "");
    assert_eq!(logs(&d, &["--tail", "all", &name]).0.lines().count(), 10);
    assert_eq!(logs(&d, &["--tail", "100", &name]).0.lines().count(), 10);
    d.docker_ok(&["rm", &name]);
}

fn is_rfc3339_nano(ts: &str) -> bool {
    // e.g. 2026-11-22T00:30:51.726806689Z
    let b = ts.as_bytes();
    ts.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && ts.ends_with('Z')
        && ts[..4].chars().all(|c| c.is_ascii_digit())
}

#[test]
fn logs_timestamps_prefix_every_line() {
    let d = Daemon::shared();
    let name = finished(&d, "logs-ts", "echo first; echo second");
    let (out, _) = logs(&d, &["--timestamps", &name]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let mut stamps = Vec::new();
    for (line, text) in lines.iter().zip(["first", "second"]) {
        let (ts, rest) = line.split_once(' ').expect("timestamp then text");
        assert!(is_rfc3339_nano(ts), "bad timestamp {ts:?}");
        assert_eq!(rest, text);
        stamps.push(ts.to_string());
    }
    // Same width (nanosecond precision) so lexical order is time order.
    assert!(stamps[0] <= stamps[1], "{stamps:?}");
    d.docker_ok(&["rm", &name]);
}

#[test]
fn logs_since_and_until() {
    let d = Daemon::shared();
    let name = d.name("logs-window");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "echo early; sleep 3; echo late",
    ]);
    let seen = wait_for(Duration::from_secs(10), || {
        logs(&d, &[&name]).0.contains("early").then_some(())
    });
    assert!(seen.is_some(), "first line never logged");
    thread::sleep(Duration::from_millis(500));
    let mid = unix_now();
    assert_eq!(d.docker_ok(&["wait", &name]), "0");

    assert_eq!(logs(&d, &["--since", &mid, &name]).0, "late\n");
    assert_eq!(logs(&d, &["--until", &mid, &name]).0, "early\n");
    assert_eq!(logs(&d, &["--since", "0", &name]).0, "early\nlate\n");
    // Relative durations are accepted too.
    assert_eq!(logs(&d, &["--since", "10m", &name]).0, "early\nlate\n");
    d.docker_ok(&["rm", &name]);
}

#[test]
fn logs_follow_streams_until_the_container_exits() {
    let d = Daemon::shared();
    let name = d.name("logs-follow");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "echo a; sleep 1; echo b >&2; sleep 1; echo c",
    ]);
    let t = Instant::now();
    let out = d.docker(&["logs", "-f", &name]);
    let took = t.elapsed();
    assert_success(&out, "logs -f");
    assert_eq!(stdout(&out), "a\nc\n");
    assert_eq!(stderr(&out), "b\n");
    assert!(
        took >= Duration::from_millis(1200),
        "logs -f returned after {took:?}"
    );
    // Following an exited container prints everything and returns.
    let again = d.docker(&["logs", "-f", "--tail", "1", &name]);
    assert_eq!(stdout(&again), "c\n");
    d.docker_ok(&["rm", &name]);
}

fn actions(d: &Daemon, since: &str, until: &str, name: &str) -> Vec<String> {
    let filter = format!("container={name}");
    d.docker_ok(&[
        "events",
        "--since",
        since,
        "--until",
        until,
        "--filter",
        &filter,
        "--format",
        "{{.Type}} {{.Action}}",
    ])
    .lines()
    .map(String::from)
    .collect()
}

/// True when `want` appears in `got` in order (other events may interleave).
fn in_order(got: &[String], want: &[&str]) -> bool {
    let mut it = got.iter();
    want.iter().all(|w| it.any(|g| g == w))
}

#[test]
fn events_since_until_list_the_lifecycle() {
    let d = Daemon::shared();
    let name = d.name("events");
    let since = unix_now();
    d.docker_ok(&[
        "create",
        "--name",
        &name,
        "-l",
        "purpose=events",
        "busybox",
        "sh",
        "-c",
        "exit 2",
    ]);
    d.docker_ok(&["start", &name]);
    assert_eq!(d.docker_ok(&["wait", &name]), "2");
    d.docker_ok(&["rm", &name]);
    thread::sleep(Duration::from_millis(100));
    let until = unix_now();

    let got = actions(&d, &since, &until, &name);
    let want = [
        "container create",
        "container start",
        "container die",
        "container destroy",
    ];
    assert!(
        in_order(&got, &want),
        "events {got:?} lack {want:?} in order"
    );

    let filter = format!("container={name}");
    let die = d.docker_ok(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        &filter,
        "--filter",
        "event=die",
        "--format",
        "{{json .}}",
    ]);
    let lines: Vec<&str> = die.lines().collect();
    assert_eq!(lines.len(), 1, "{die}");
    let ev: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(ev["Type"], "container");
    assert_eq!(ev["Action"], "die");
    assert_eq!(ev["Actor"]["Attributes"]["name"], name.as_str());
    assert_eq!(ev["Actor"]["Attributes"]["exitCode"], "2");
    assert_eq!(ev["Actor"]["Attributes"]["image"], "busybox");
    assert_eq!(ev["Actor"]["Attributes"]["purpose"], "events");
    assert_eq!(ev["Actor"]["ID"].as_str().unwrap().len(), 64);
    assert!(ev["time"].as_i64().unwrap() > 1_600_000_000);
    assert!(ev["timeNano"].as_i64().unwrap() > 1_600_000_000_000_000_000);

    // A window that ends before the container existed is empty.
    assert!(actions(&d, "0", &since, &name).is_empty());
}

#[test]
fn events_stream_live() {
    let d = Daemon::shared();
    let name = d.name("events-live");
    let filter = format!("container={name}");
    let mut child = d
        .docker_command(&["events", "--filter", &filter, "--format", "{{.Action}}"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn docker events");
    let (tx, rx) = mpsc::channel();
    let pipe = child.stdout.take().unwrap();
    let reader = thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Let the subscription reach the daemon before anything happens.
    thread::sleep(Duration::from_secs(1));
    d.docker_ok(&["run", "--name", &name, "busybox", "true"]);
    d.docker_ok(&["rm", &name]);

    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !got.iter().any(|a| a == "destroy") && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            got.push(line);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    assert!(
        in_order(&got, &["create", "start", "die", "destroy"]),
        "live events: {got:?}"
    );
}

fn status_kb(pid: &str, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap_or_else(|| panic!("no {field} in status"))
}

/// `docker logs` of a large log streams it: the daemon's peak memory while
/// serving 150 MB of log (whole, and its tail) stays far below the log's size.
#[test]
fn logs_stream_large_files_in_bounded_memory() {
    let d = Daemon::start();
    if !d.is_berth() {
        return; // the log is planted in berth's data root layout
    }
    let id = d.docker_ok(&["create", "busybox", "true"]);
    let log = d
        .data_root()
        .join("containers")
        .join(&id)
        .join(format!("{id}-json.log"));
    {
        use std::io::Write;
        let mut w = std::io::BufWriter::new(std::fs::File::create(&log).unwrap());
        let payload = "x".repeat(100);
        for i in 0..1_000_000u32 {
            writeln!(
                w,
                r#"{{"log":"{i:07} {payload}\n","stream":"stdout","time":"2026-01-01T00:00:00.000000001Z"}}"#
            )
            .unwrap();
        }
        w.flush().unwrap();
    }
    assert!(std::fs::metadata(&log).unwrap().len() > 150 << 20);
    let pid = std::fs::read_to_string(d.tmp().join("pid"))
        .unwrap()
        .trim()
        .to_string();
    let before = status_kb(&pid, "VmRSS:");
    // Resets the peak (VmHWM) to the current RSS.
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();
    let out = d
        .docker_command(&["logs", &id])
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert_success(&out, "docker logs");
    assert_eq!(out.stdout.len(), 1_000_000 * 109);
    assert!(
        out.stdout
            .ends_with(format!("0999999 {}\n", "x".repeat(100)).as_bytes())
    );
    let tail = d.docker_ok(&["logs", "--tail", "2", &id]);
    assert!(
        tail.starts_with("0999998 ") && tail.lines().count() == 2,
        "{tail}"
    );
    let peak = status_kb(&pid, "VmHWM:");
    assert!(
        peak < before + 40 * 1024,
        "daemon peak RSS grew from {before} kB to {peak} kB while serving the log"
    );
    d.docker_ok(&["rm", &id]);
}

/// `attach` with logs=1 replays the output so far; with stream=0 it ends there.
#[test]
fn attach_with_logs_replays_the_history() {
    let d = Daemon::shared();
    let name = finished(&d, "attach-logs", "echo hello; echo oops >&2");
    let r = common::http::hijack(
        d.socket(),
        &format!("/v1.41/containers/{name}/attach?logs=1&stream=0&stdout=1&stderr=1"),
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 101, "{}", r.text());
    let frames = common::http::demux(&r.body);
    assert_eq!(
        frames,
        vec![(1, "hello\n".to_string()), (2, "oops\n".to_string())]
    );
    d.docker_ok(&["rm", &name]);
}

/// docker-py parses the 101 head with a buffered reader, then reads the raw
/// socket: whatever came in the same read as the head is lost to it
/// (`attach(stream=False, logs=True)` returned b''). The stream's first byte
/// must wait until the client has read the head: a client that is slow to
/// read gets the head alone in its first read, and the history after.
#[test]
fn attach_stream_waits_until_the_head_is_read() {
    use std::io::{Read, Write};
    let d = Daemon::shared();
    let name = finished(&d, "attach-head", "echo hello");
    let mut s = std::os::unix::net::UnixStream::connect(d.socket()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "POST /v1.41/containers/{name}/attach?logs=1&stream=0&stdout=1&stderr=1 HTTP/1.1\r\n\
         Host: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    // Long enough for the daemon to have written everything it would.
    thread::sleep(Duration::from_millis(30));
    let mut first = vec![0u8; 8192];
    let n = s.read(&mut first).unwrap();
    let head = String::from_utf8_lossy(&first[..n]).into_owned();
    assert!(head.starts_with("HTTP/1.1 101"), "{head:?}");
    assert!(
        head.ends_with("\r\n\r\n"),
        "the stream came with the head: {head:?}"
    );
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert_eq!(common::http::demux(&rest), vec![(1, "hello\n".to_string())]);
    d.docker_ok(&["rm", &name]);
}

#[test]
fn log_driver_none_and_unknown_drivers() {
    let d = Daemon::shared();
    let name = d.name("nolog");
    d.docker_ok(&[
        "run",
        "--name",
        &name,
        "--log-driver",
        "none",
        "busybox",
        "echo",
        "hidden",
    ]);
    assert_eq!(
        d.docker_ok(&[
            "inspect",
            "-f",
            "{{.HostConfig.LogConfig.Type}}|{{.LogPath}}",
            &name
        ]),
        "none|"
    );
    let out = d.docker(&["logs", &name]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("configured logging driver does not support reading"),
        "{}",
        stderr(&out)
    );
    d.docker_ok(&["rm", &name]);
    let out = d.docker(&["create", "--log-driver", "asdf", "busybox"]);
    assert!(
        stderr(&out).contains("no log driver named 'asdf' is registered"),
        "{}",
        stderr(&out)
    );
}

/// json-file's `max-size`/`max-file`: the log rotates into `<log>.N` files,
/// never more than max-file of them, and `logs` reads across them in order.
#[test]
fn json_file_logs_rotate_and_read_across_files() {
    let d = Daemon::shared();
    let name = d.name("rotate");
    d.docker_ok(&[
        "run",
        "--name",
        &name,
        "--log-opt",
        "max-size=2k",
        "--log-opt",
        "max-file=3",
        "busybox",
        "sh",
        "-c",
        "for i in $(seq 1000 1300); do echo line-$i; done",
    ]);
    let log = std::path::PathBuf::from(d.docker_ok(&["inspect", "-f", "{{.LogPath}}", &name]));
    let rotated = |n: u32| std::path::PathBuf::from(format!("{}.{n}", log.display()));
    assert!(
        rotated(1).exists() && rotated(2).exists(),
        "no rotation beside {}",
        log.display()
    );
    assert!(!rotated(3).exists(), "more files than max-file=3");
    for p in [log.clone(), rotated(1), rotated(2)] {
        let size = std::fs::metadata(&p).unwrap().len();
        assert!(size <= 2048, "{} has {size} bytes", p.display());
    }
    // What is kept is the newest lines, whole and in order.
    let out = d.docker_ok(&["logs", &name]);
    let lines: Vec<u32> = out
        .lines()
        .map(|l| l["line-".len()..].parse().unwrap())
        .collect();
    assert_eq!(*lines.last().unwrap(), 1300);
    assert!(lines[0] > 1000, "nothing was rotated away: {}", lines[0]);
    assert!(lines.windows(2).all(|w| w[1] == w[0] + 1), "{lines:?}");
    // --tail reaches back into the rotated files.
    let count = lines.len();
    let tail = d.docker_ok(&["logs", "--tail", &(count - 2).to_string(), &name]);
    assert_eq!(tail.lines().count(), count - 2);
    assert_eq!(tail.lines().next().unwrap(), format!("line-{}", lines[2]));
    let inspect = d.docker_ok(&["inspect", "-f", "{{json .HostConfig.LogConfig}}", &name]);
    assert!(
        inspect.contains(r#""max-file":"3""#) && inspect.contains(r#""Type":"json-file""#),
        "{inspect}"
    );
    d.docker_ok(&["rm", &name]);
}

/// Following a log that rotates under the reader loses nothing it kept.
#[test]
fn following_a_rotating_log_sees_every_line() {
    let d = Daemon::shared();
    let name = d.name("rotfollow");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--log-opt",
        "max-size=1k",
        "--log-opt",
        "max-file=100",
        "busybox",
        "sh",
        "-c",
        "sleep 1; for i in $(seq 100 399); do echo l$i; done",
    ]);
    let out = d.docker_ok(&["logs", "-f", &name]);
    let got: Vec<&str> = out.lines().collect();
    let want: Vec<String> = (100..400).map(|i| format!("l{i}")).collect();
    assert_eq!(got, want);
    d.docker_ok(&["rm", &name]);
}

#[test]
fn log_options_are_checked_as_dockerd_checks_them() {
    let d = Daemon::shared();
    for (opt, needle) in [
        ("max-file=0", "max-file cannot be less than 1"),
        (
            "bogus=1",
            "unknown log opt 'bogus' for json-file log driver",
        ),
        ("max-size=12x", "invalid size: '12x'"),
        ("compress=maybe", "strconv.ParseBool"),
        // Implemented now; a bad expression is refused at create (dockerd: at start).
        ("labels-regex=(", "error parsing regexp"),
    ] {
        let name = d.name("logopt");
        let out = d.docker(&[
            "create",
            "--name",
            &name,
            "--log-opt",
            opt,
            "busybox",
            "true",
        ]);
        assert!(!out.status.success(), "{opt} accepted");
        assert!(stderr(&out).contains(needle), "{opt}: {}", stderr(&out));
        assert!(
            !d.docker(&["inspect", &name]).status.success(),
            "{opt}: {name} stored"
        );
    }
    // max-file alone is accepted (and rotates nothing), as in dockerd.
    let name = d.name("logopt-ok");
    d.docker_ok(&[
        "create",
        "--name",
        &name,
        "--log-opt",
        "max-file=100",
        "busybox",
        "true",
    ]);
    d.docker_ok(&["rm", &name]);
}
