//! `--metrics-addr`: a real Prometheus scrapes the daemon; PromQL finds a
//! busy container's CPU and a container's known memory under cAdvisor's
//! names, dockerd's engine metrics beside them, and the figures agree with
//! `docker stats`.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::prometheus::{Prometheus, free_port, get};
use common::{Daemon, wait_for};

const MIB: f64 = 1024.0 * 1024.0;

fn scrape(addr: &str) -> String {
    let (status, body) = get(&format!("http://{addr}/metrics")).expect("scrape answers");
    assert_eq!(status, 200, "{body}");
    body
}

/// The value of the one line of `text` that starts with `name{` and holds
/// every one of `with`.
fn series(text: &str, name: &str, with: &[&str]) -> Option<f64> {
    let hits: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| with.iter().all(|w| l.contains(w)))
        .collect();
    match hits.as_slice() {
        [one] => one.rsplit(' ').next()?.parse().ok(),
        _ => None,
    }
}

/// `12.5MiB` / `1.2GiB` / `800KiB` / `10B` in bytes (docker's binary units).
fn bytes(s: &str) -> f64 {
    let s = s.trim();
    for (unit, f) in [
        ("GiB", MIB * 1024.0),
        ("MiB", MIB),
        ("KiB", 1024.0),
        ("kB", 1000.0),
        ("B", 1.0),
    ] {
        if let Some(n) = s.strip_suffix(unit) {
            return n.parse::<f64>().unwrap() * f;
        }
    }
    panic!("not a size: {s}")
}

#[test]
fn prometheus_finds_cpu_and_memory_that_agree_with_docker_stats() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let d = Daemon::start_networked_with(&["--metrics-addr", &addr]);
    if !d.is_berth() {
        // dockerd serves its engine metrics only; the container series are berth's.
        assert!(scrape(&addr).contains("engine_daemon_engine_info"));
        return;
    }
    let busy = d.name("busy");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &busy,
        "--cpus",
        "0.5",
        "--label",
        "com.example.team=metrics",
        "busybox",
        "sh",
        "-c",
        "while :; do :; done",
    ]);
    // 64 MiB in a tmpfs is charged to the container and is no inactive file
    // cache: it counts in the working set.
    let mem = d.name("mem");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &mem,
        "--shm-size",
        "128m",
        "--memory",
        "256m",
        "--label",
        "com.example.team=metrics",
        "busybox",
        "sh",
        "-c",
        "dd if=/dev/zero of=/dev/shm/fill bs=1M count=64 2>/dev/null && echo filled && exec sleep 1000",
    ]);
    let filled = wait_for(Duration::from_secs(20), || {
        d.docker_ok(&["logs", &mem])
            .contains("filled")
            .then_some(())
    });
    assert!(filled.is_some(), "the memory holder did not fill its tmpfs");

    // The exposition itself: Prometheus' own linter accepts it.
    let text = scrape(&addr);
    let lint = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(text.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(
        lint.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );

    let tmp = d.tmp().join(d.name("prometheus"));
    let prom = Prometheus::start(tmp, &addr);
    let up = prom.wait_value("up{job=\"berth\"}", |v| v == 1.0);
    assert_eq!(up, Some(1.0), "{}", prom.log());

    // Memory: the 64 MiB are found, by name and by a Docker label.
    let ws = prom
        .wait_value(
            &format!("container_memory_working_set_bytes{{name=\"{mem}\"}}"),
            |v| v >= 64.0 * MIB,
        )
        .unwrap_or(0.0);
    assert!(
        (64.0 * MIB..96.0 * MIB).contains(&ws),
        "working set {ws} for 64 MiB held"
    );
    let labelled = prom
        .query("count(container_memory_usage_bytes{container_label_com_example_team=\"metrics\"})");
    assert_eq!(labelled.first().map(|r| r.1), Some(2.0), "{labelled:?}");
    let limit = prom.query(&format!(
        "container_spec_memory_limit_bytes{{name=\"{mem}\"}}"
    ));
    assert_eq!(limit.first().map(|r| r.1), Some(256.0 * MIB));

    // CPU: the busy loop, capped at half a CPU, uses about half a CPU and
    // is throttled.
    let rate =
        format!("rate(container_cpu_usage_seconds_total{{name=\"{busy}\",cpu=\"total\"}}[5s])");
    let cpu = prom.wait_value(&rate, |v| v > 0.3).unwrap_or(0.0);
    assert!(
        (0.3..0.65).contains(&cpu),
        "busy loop at --cpus 0.5: {cpu} CPUs"
    );
    let quota = prom.query(&format!("container_spec_cpu_quota{{name=\"{busy}\"}}"));
    assert_eq!(quota.first().map(|r| r.1), Some(50000.0));
    let throttled = prom.wait_value(
        &format!("container_cpu_cfs_throttled_periods_total{{name=\"{busy}\"}}"),
        |v| v > 0.0,
    );
    assert!(throttled.is_some_and(|v| v > 0.0), "{throttled:?}");
    let rx = prom.query(&format!(
        "container_network_receive_bytes_total{{name=\"{busy}\",interface=\"eth0\"}}"
    ));
    assert_eq!(rx.len(), 1, "the container's eth0: {rx:?}");

    // dockerd's engine metrics.
    let running = prom.query("engine_daemon_container_states_containers{state=\"running\"}");
    assert_eq!(running.first().map(|r| r.1), Some(2.0));
    let starts = prom.query("engine_daemon_container_actions_seconds_count{action=\"start\"}");
    assert!(starts.first().is_some_and(|r| r.1 >= 2.0), "{starts:?}");
    let info = prom.query("engine_daemon_engine_info");
    assert_eq!(
        info.first().map(|r| r.0["os_type"].clone()),
        Some("linux".into())
    );

    // The same figures as `docker stats` (its MEM USAGE is the working set;
    // its CPU % is the same CPU time over the host's).
    let stats = d.docker_ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.CPUPerc}} {{.MemUsage}}",
        &busy,
        &mem,
    ]);
    let now = scrape(&addr);
    for line in stats.lines() {
        let mut f = line.split_whitespace();
        let (name, cpu_perc, usage) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
        let scraped = series(
            &now,
            "container_memory_working_set_bytes",
            &[&format!("name=\"{name}\"")],
        )
        .unwrap();
        let shown = bytes(usage);
        assert!(
            (scraped - shown).abs() <= 2.0 * MIB,
            "{name}: docker stats {shown}, metrics {scraped}"
        );
        if name == busy {
            // Both over the last seconds, now that the loop has run a while.
            let cpu = prom.query(&rate).first().map(|r| r.1).unwrap_or(0.0);
            let perc: f64 = cpu_perc.trim_end_matches('%').parse().unwrap();
            assert!(
                (perc - cpu * 100.0).abs() < 20.0,
                "docker stats {perc}% vs Prometheus {}%",
                cpu * 100.0
            );
        }
    }
}

#[test]
fn health_checks_are_counted_and_other_paths_are_not_found() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let d = Daemon::start_with(
        common::Kind::from_env(),
        vec!["--metrics-addr".into(), addr.clone()],
    );
    let name = d.name("probed");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "--health-cmd",
        "true",
        "--health-interval",
        "200ms",
        "busybox",
        "sleep",
        "100",
    ]);
    let checks = wait_for(Duration::from_secs(20), || {
        series(&scrape(&addr), "engine_daemon_health_checks_total", &[]).filter(|n| *n >= 2.0)
    });
    assert!(checks.is_some(), "{}", scrape(&addr));
    assert_eq!(
        series(
            &scrape(&addr),
            "engine_daemon_health_checks_failed_total",
            &[]
        ),
        Some(0.0)
    );
    let (status, _) = get(&format!("http://{addr}/v1.47/containers/json")).unwrap();
    assert_eq!(
        status, 404,
        "the Docker API is not served on the metrics port"
    );
}
