//! Network namespaces a test creates (`ip netns add be2e-<pid>-…`) to hold
//! a daemon and the links it may use, such as the parent of a macvlan
//! network: nothing of the host's interfaces is touched, and deleting the
//! namespace takes every link inside with it.

use std::path::PathBuf;
use std::process::{Command, Output};

/// A named network namespace with loopback up, deleted on drop.
pub struct TestNetns {
    pub name: String,
}

impl TestNetns {
    pub fn new() -> TestNetns {
        let name = format!("be2e-{}", super::unique_suffix());
        ip(&["netns", "add", &name]);
        let ns = TestNetns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// `ip -n <ns> <args>`, asserting success; stdout.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut a = vec!["-n", self.name.as_str()];
        a.extend_from_slice(args);
        ip(&a)
    }

    /// `ip -n <ns> <args>` whatever its outcome.
    pub fn try_ip(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["-n", &self.name])
            .args(args)
            .output()
            .expect("run ip")
    }

    /// Interface names in the namespace.
    pub fn links(&self) -> Vec<String> {
        self.ip(&["-o", "link", "show"])
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap_or(n).to_string())
            .collect()
    }

    /// A veth pair, both ends up: `name` here, `peer` in `peer_ns`.
    pub fn veth_to(&self, name: &str, peer: &str, peer_ns: &TestNetns) {
        self.ip(&["link", "add", name, "type", "veth", "peer", "name", peer]);
        self.ip(&["link", "set", peer, "netns", &peer_ns.name]);
        self.ip(&["link", "set", name, "up"]);
        peer_ns.ip(&["link", "set", peer, "up"]);
    }

    /// Whether the kernel makes links of `kind` ("ipvlan", "vlan",
    /// "dummy"), tried on a scratch veth in this namespace.
    pub fn kernel_has(&self, kind: &str) -> bool {
        self.ip(&[
            "link", "add", "kprobe0", "type", "veth", "peer", "name", "kprobe1",
        ]);
        let args: Vec<&str> = match kind {
            "vlan" => vec![
                "link",
                "add",
                "link",
                "kprobe0",
                "name",
                "kprobe0.9",
                "type",
                "vlan",
                "id",
                "9",
            ],
            "dummy" => vec!["link", "add", "kprobe2", "type", "dummy"],
            other => vec![
                "link", "add", "link", "kprobe0", "name", "kprobe2", "type", other,
            ],
        };
        let ok = self.try_ip(&args).status.success();
        let _ = self.try_ip(&["link", "del", "kprobe2"]);
        let _ = self.try_ip(&["link", "del", "kprobe0"]);
        ok
    }
}

impl Drop for TestNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Deletes namespaces of test processes that died without their guards.
pub(super) fn sweep_stale() {
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("be2e-")
            .and_then(|u| u.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip").args(["netns", "del", &name]).output();
        }
    }
}
