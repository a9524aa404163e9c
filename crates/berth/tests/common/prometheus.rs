//! A real Prometheus (Debian's `prometheus`) on loopback with its own config
//! and data dir, scraping one target; PromQL through its HTTP API.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// A free loopback port (bound, then released for the caller to use).
pub fn free_port() -> u16 {
    bound_port().local_addr().expect("a bound address").port()
}

/// `N` free loopback ports, all different: each is held until all are
/// picked (two `free_port` calls in a row can return the same port, and a
/// daemon given it twice fails to start).
#[allow(dead_code)]
pub fn free_ports<const N: usize>() -> [u16; N] {
    let held: Vec<std::net::TcpListener> = (0..N).map(|_| bound_port()).collect();
    std::array::from_fn(|i| held[i].local_addr().expect("a bound address").port())
}

/// A listener on a loopback port below the kernel's ephemeral range. A port
/// the kernel hands out for `:0` comes from that range, as does the source
/// port of every outgoing connection, so once released it could be taken
/// by any connection of the parallel tests before the daemon binds it.
fn bound_port() -> std::net::TcpListener {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let ephemeral = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(32768);
    const LOW: u64 = 10_000;
    let span = ephemeral.saturating_sub(LOW).max(1);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ (u64::from(std::process::id()) << 20);
    for _ in 0..1000 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = LOW + seed.wrapping_add(n.wrapping_mul(7919)) % span;
        if let Ok(l) = std::net::TcpListener::bind(("127.0.0.1", port as u16)) {
            return l;
        }
    }
    std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port")
}

/// Plain HTTP GET on loopback; the status and body.
pub fn get(url: &str) -> Option<(u16, String)> {
    let out = Command::new("curl")
        .args(["-s", "-m", "10", "-w", "\n%{http_code}", url])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n')?;
    Some((status.trim().parse().ok()?, body.to_string()))
}

/// A Prometheus server that dies, and whose files go, with this value.
pub struct Prometheus {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Prometheus {
    /// Scrapes `target` (`HOST:PORT`) every second as job `berth`.
    pub fn start(dir: PathBuf, target: &str) -> Prometheus {
        fs::create_dir_all(dir.join("data")).expect("prometheus dir");
        let config = dir.join("prometheus.yml");
        fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: berth\n    static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .expect("write prometheus.yml");
        let port = free_port();
        let log = fs::File::create(dir.join("prometheus.log")).expect("prometheus log");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("spawn prometheus (scripts/deps.sh installs it)");
        let p = Prometheus { child, dir, port };
        let ready = super::wait_for(Duration::from_secs(30), || {
            get(&format!("http://127.0.0.1:{port}/-/ready")).filter(|(s, _)| *s == 200)
        });
        assert!(ready.is_some(), "prometheus not ready:\n{}", p.log());
        p
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    /// An instant PromQL query: each series' labels and value.
    pub fn query(&self, promql: &str) -> Vec<(Value, f64)> {
        let out = Command::new("curl")
            .args(["-s", "-m", "10", "--get", "--data-urlencode"])
            .arg(format!("query={promql}"))
            .arg(format!("http://127.0.0.1:{}/api/v1/query", self.port))
            .output()
            .expect("run curl");
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        assert_eq!(
            doc["status"],
            "success",
            "query {promql}: {doc}\n{}",
            self.log()
        );
        doc["data"]["result"]
            .as_array()
            .map(|rs| {
                rs.iter()
                    .map(|r| {
                        let v = r["value"][1].as_str().and_then(|v| v.parse().ok());
                        (r["metric"].clone(), v.unwrap_or(f64::NAN))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Polls `promql` until it has exactly one series and `ok` holds for
    /// its value; the last value seen either way.
    pub fn wait_value(&self, promql: &str, ok: impl Fn(f64) -> bool) -> Option<f64> {
        let mut last = None;
        let found = super::wait_for(Duration::from_secs(30), || {
            let r = self.query(promql);
            last = r.first().map(|(_, v)| *v);
            (r.len() == 1 && ok(r[0].1)).then(|| r[0].1)
        });
        found.or(last)
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}
