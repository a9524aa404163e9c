//! The text exposition of a scrape, line by line.

use super::*;

fn container() -> ContainerSample {
    let mut stats = runtime::Stats {
        cpu_usage_ns: 2_500_000_000,
        cpu_user_ns: 2_000_000_000,
        cpu_kernel_ns: 500_000_000,
        cpu_periods: 10,
        cpu_throttled_periods: 4,
        cpu_throttled_ns: 1_500_000_000,
        memory_usage: 10_000_000,
        memory_max_usage: 12_000_000,
        memory_cache: 3_000_000,
        memory_rss: 6_000_000,
        memory_failcnt: 2,
        pids_current: 3,
        blkio_read_bytes: 4096,
        blkio_write_bytes: 8192,
        ..Default::default()
    };
    stats
        .memory_stat
        .insert("total_inactive_file".into(), 1_000_000);
    ContainerSample {
        cgroup: "/berth/abc".into(),
        name: "web".into(),
        image: "busybox:latest".into(),
        labels: vec![
            ("com.docker.swarm.service.name".into(), "svc".into()),
            ("note".into(), "say \"hi\"\\now".into()),
        ],
        started_at: 1_700_000_000.5,
        stats,
        spec: runtime::cgstats::CgroupSpec {
            memory_limit: 9223372036854771712,
            cpu_shares: 1024,
            cpu_quota: 50000,
            cpu_period: 100000,
        },
        processes: 2,
        log_lines_sent: 40,
        log_lines_dropped: 2,
        networks: vec![(
            "eth0".into(),
            InterfaceCounters {
                rx_bytes: 100,
                tx_bytes: 200,
                rx_packets: 1,
                tx_packets: 2,
                ..Default::default()
            },
        )],
    }
}

fn scrape(containers: Vec<ContainerSample>) -> String {
    let m = Metrics::new();
    render(
        &m,
        Scrape {
            info: EngineInfo {
                version: "0.1.0".into(),
                os_type: "linux".into(),
                ..Default::default()
            },
            running: containers.len() as u64,
            paused: 0,
            stopped: 5,
            machine_cpu_cores: 2,
            machine_memory_bytes: 1 << 30,
            containers,
        },
    )
    .unwrap()
}

/// The value of the one series whose line starts with `name{` and carries
/// every label of `with`.
fn value(text: &str, name: &str, with: &[&str]) -> f64 {
    let hits: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| with.iter().all(|w| l.contains(w)))
        .collect();
    assert_eq!(hits.len(), 1, "{name} {with:?}: {hits:?}\n{text}");
    hits[0].rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn container_series_carry_cadvisors_names_and_labels() {
    let t = scrape(vec![container()]);
    let web = [
        "name=\"web\"",
        "id=\"/berth/abc\"",
        "image=\"busybox:latest\"",
    ];
    let cpu = value(&t, "container_cpu_usage_seconds_total", &web);
    assert_eq!(cpu, 2.5);
    assert_eq!(
        value(&t, "container_cpu_usage_seconds_total", &["cpu=\"total\""]),
        2.5
    );
    assert_eq!(value(&t, "container_cpu_user_seconds_total", &web), 2.0);
    assert_eq!(value(&t, "container_cpu_system_seconds_total", &web), 0.5);
    assert_eq!(value(&t, "container_cpu_cfs_periods_total", &web), 10.0);
    assert_eq!(
        value(&t, "container_cpu_cfs_throttled_periods_total", &web),
        4.0
    );
    assert_eq!(
        value(&t, "container_cpu_cfs_throttled_seconds_total", &web),
        1.5
    );
    assert_eq!(value(&t, "container_memory_usage_bytes", &web), 1e7);
    assert_eq!(value(&t, "container_memory_working_set_bytes", &web), 9e6);
    assert_eq!(value(&t, "container_memory_rss", &web), 6e6);
    assert_eq!(value(&t, "container_memory_cache", &web), 3e6);
    assert_eq!(value(&t, "container_memory_failcnt", &web), 2.0);
    assert_eq!(value(&t, "container_fs_reads_bytes_total", &web), 4096.0);
    assert_eq!(value(&t, "container_fs_writes_bytes_total", &web), 8192.0);
    assert_eq!(
        value(&t, "container_spec_memory_limit_bytes", &web),
        0.0,
        "unlimited reads as 0, as cAdvisor"
    );
    assert_eq!(value(&t, "container_spec_cpu_quota", &web), 50000.0);
    assert_eq!(value(&t, "container_spec_cpu_period", &web), 100000.0);
    assert_eq!(value(&t, "container_spec_cpu_shares", &web), 1024.0);
    assert_eq!(
        value(&t, "container_start_time_seconds", &web),
        1.7000000005e9
    );
    assert_eq!(value(&t, "container_processes", &web), 2.0);
    assert_eq!(value(&t, "container_log_lines_sent_total", &web), 40.0);
    assert_eq!(value(&t, "container_log_lines_dropped_total", &web), 2.0);
    let eth0 = ["interface=\"eth0\"", "name=\"web\""];
    assert_eq!(
        value(&t, "container_network_receive_bytes_total", &eth0),
        100.0
    );
    assert_eq!(
        value(&t, "container_network_transmit_bytes_total", &eth0),
        200.0
    );
    assert_eq!(
        value(&t, "container_network_transmit_packets_total", &eth0),
        2.0
    );
    assert_eq!(
        value(&t, "container_network_receive_packets_dropped_total", &eth0),
        0.0
    );
    // Docker label keys become label names; their values are escaped.
    assert_eq!(
        value(
            &t,
            "container_memory_usage_bytes",
            &[
                "container_label_com_docker_swarm_service_name=\"svc\"",
                r#"container_label_note="say \"hi\"\\now""#
            ]
        ),
        1e7
    );
    assert!(t.contains("# TYPE container_cpu_usage_seconds_total counter\n"));
    assert!(t.contains("# TYPE container_memory_working_set_bytes gauge\n"));
}

#[test]
fn engine_and_machine_series() {
    let t = scrape(vec![container(), {
        let mut c = container();
        c.name = "db".into();
        c.cgroup = "/berth/def".into();
        c.spec.cpu_quota = 0;
        c.labels.clear();
        c
    }]);
    assert_eq!(
        value(
            &t,
            "engine_daemon_container_states_containers",
            &["state=\"running\""]
        ),
        2.0
    );
    assert_eq!(
        value(
            &t,
            "engine_daemon_container_states_containers",
            &["state=\"stopped\""]
        ),
        5.0
    );
    assert_eq!(
        value(&t, "engine_daemon_engine_info", &["version=\"0.1.0\""]),
        1.0
    );
    assert_eq!(value(&t, "machine_cpu_cores", &[]), 2.0);
    assert_eq!(value(&t, "machine_memory_bytes", &[]), 1073741824.0);
    // One HELP/TYPE per family, whatever the number of containers.
    assert_eq!(
        t.matches("# TYPE container_memory_usage_bytes gauge")
            .count(),
        1
    );
    assert_eq!(
        t.lines()
            .filter(|l| l.starts_with("container_memory_usage_bytes{"))
            .count(),
        2
    );
    // An unset quota is left out, as cAdvisor does.
    assert_eq!(
        t.lines()
            .filter(|l| l.starts_with("container_spec_cpu_quota{"))
            .count(),
        1
    );
}

#[test]
fn no_containers_no_container_families() {
    let t = scrape(Vec::new());
    assert!(!t.contains("container_cpu_usage_seconds_total"), "{t}");
    assert_eq!(value(&t, "machine_cpu_cores", &[]), 2.0);
}

#[test]
fn label_names_are_sanitised_as_cadvisor() {
    assert_eq!(
        label_name("com.docker.compose.project-name"),
        "container_label_com_docker_compose_project_name"
    );
    assert_eq!(label_name("a/b:c"), "container_label_a_b_c");
}
