//! Several daemons as the hosts of one test cluster: each in a network
//! namespace of its own, wired by a veth to a bridge in a "switch"
//! namespace (10.77.0.0/24, the same in every test since the namespaces
//! are the tests' own), with its own roots, cgroup parent and firewall
//! table. A link taken down stands for a host that fell off the network.

use super::Daemon;
use super::netns::TestNetns;

pub struct Host {
    pub d: Daemon,
    pub ns: TestNetns,
    /// This host's address on the test LAN.
    pub ip: String,
    /// The switch-side end of its cable.
    port: String,
}

pub struct Cluster {
    pub hosts: Vec<Host>,
    switch: TestNetns,
}

impl Cluster {
    /// (status, body) of `GET /` with `Host: host` through the router that
    /// host `i` serves on loopback `port`, from inside that host.
    pub fn router_get(&self, i: usize, port: u16, host: &str) -> (u16, String) {
        let out = std::process::Command::new("nsenter")
            .arg(format!("--net={}", self.hosts[i].ns.path().display()))
            .args(["curl", "-s", "-m", "20", "-H"])
            .arg(format!("Host: {host}"))
            .args(["-w", "\n%{http_code}"])
            .arg(format!("http://127.0.0.1:{port}/"))
            .output()
            .expect("curl");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        (code.trim().parse().unwrap_or(0), body.trim().to_string())
    }

    pub fn new(n: usize) -> Cluster {
        Cluster::with_daemon_args(n, &[])
    }

    /// [`Cluster::new`] with extra arguments for every daemon.
    pub fn with_daemon_args(n: usize, extra: &[&str]) -> Cluster {
        let switch = TestNetns::new();
        switch.ip(&["link", "add", "br0", "type", "bridge"]);
        switch.ip(&["link", "set", "br0", "up"]);
        let hosts = (1..=n)
            .map(|i| {
                let ns = TestNetns::new();
                let port = format!("p{i}");
                ns.veth_to("eth0", &port, &switch);
                switch.ip(&["link", "set", &port, "master", "br0"]);
                let ip = format!("10.77.0.{i}");
                ns.ip(&["addr", "add", &format!("{ip}/24"), "dev", "eth0"]);
                let d = Daemon::start_in_netns_with(
                    &ns.path(),
                    extra.iter().map(|a| a.to_string()).collect(),
                );
                Host { d, ns, ip, port }
            })
            .collect();
        Cluster { hosts, switch }
    }

    /// Every key of the cluster store, read with `etcdctl` from the first
    /// host (a manager running its own member, with its member's TLS files).
    #[allow(dead_code)]
    pub fn store_keys(&self) -> Vec<String> {
        let first = &self.hosts[0];
        let tls = first.d.data_root().join("swarm/etcd-tls");
        let out = std::process::Command::new("nsenter")
            .arg(format!("--net={}", first.ns.path().display()))
            .arg("etcdctl")
            .arg(format!("--endpoints=https://{}:2379", first.ip))
            .arg(format!("--cacert={}", tls.join("ca.pem").display()))
            .arg(format!("--cert={}", tls.join("member.pem").display()))
            .arg(format!("--key={}", tls.join("member-key.pem").display()))
            .args(["get", "--prefix", "--keys-only", "/"])
            .env("ETCDCTL_API", "3")
            .output()
            .expect("etcdctl (Debian's etcd-client)");
        assert!(
            out.status.success(),
            "etcdctl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// `swarm init` on the first host; the worker join token.
    pub fn init(&self) -> String {
        let first = &self.hosts[0];
        first
            .d
            .docker_ok(&["swarm", "init", "--advertise-addr", &first.ip]);
        first.d.docker_ok(&["swarm", "join-token", "-q", "worker"])
    }

    /// `swarm join` of host `i` with `token`.
    pub fn join(&self, i: usize, token: &str) -> std::process::Output {
        let h = &self.hosts[i];
        h.d.docker(&[
            "swarm",
            "join",
            "--advertise-addr",
            &h.ip,
            "--token",
            token,
            &format!("{}:2377", self.hosts[0].ip),
        ])
    }

    /// How many of `service`'s tasks run, as the first host (a manager) lists them.
    pub fn running_tasks(&self, service: &str) -> usize {
        self.hosts[0]
            .d
            .docker_ok(&[
                "service",
                "ps",
                "--filter",
                "desired-state=running",
                "--format",
                "{{.CurrentState}}",
                service,
            ])
            .lines()
            .filter(|l| l.starts_with("Running"))
            .count()
    }

    /// The overlay segments (network id prefixes) each host holds a copy
    /// of, besides the ingress network's that every node keeps.
    pub fn segments_besides_ingress(&self) -> Vec<Vec<String>> {
        let ingress = self.hosts[0]
            .d
            .docker_ok(&["network", "inspect", "--format", "{{.Id}}", "ingress"]);
        let ingress: String = ingress.chars().take(12).collect();
        self.hosts
            .iter()
            .map(|h| {
                std::fs::read_dir(h.d.tmp().join("exec").join("overlay"))
                    .map(|d| {
                        d.flatten()
                            .map(|e| e.file_name().to_string_lossy().into_owned())
                            .filter(|n| *n != ingress)
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .collect()
    }

    /// Cuts host `i` off the LAN.
    pub fn link_down(&self, i: usize) {
        self.switch
            .ip(&["link", "set", &self.hosts[i].port, "down"]);
    }
}
