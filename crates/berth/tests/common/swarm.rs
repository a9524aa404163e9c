//! A swarm node for the e2e tests: a daemon in its own network namespace
//! (the etcd ports and the cluster port are per namespace), with the
//! `service ps` and container look-ups the swarm tests wait on.

use std::time::Duration;

use super::netns::TestNetns;
use super::{Daemon, wait_for};

pub struct Node {
    pub d: Daemon,
    _ns: TestNetns,
}

impl Node {
    pub fn new() -> Node {
        let ns = TestNetns::new();
        let d = Daemon::start_in_netns(&ns.path());
        Node { d, _ns: ns }
    }

    pub fn init(&self) -> String {
        let out = self
            .d
            .docker_ok(&["swarm", "init", "--advertise-addr", "127.0.0.1"]);
        assert!(out.contains("Swarm initialized"), "{out}");
        self.d.docker_ok(&["info", "--format", "{{.Swarm.NodeID}}"])
    }

    /// `service ps` rows as "name desired current error".
    pub fn ps(&self, service: &str) -> Vec<String> {
        self.d
            .docker_ok(&[
                "service",
                "ps",
                "--no-trunc",
                "--format",
                "{{.Name}}|{{.DesiredState}}|{{.CurrentState}}|{{.Error}}",
                service,
            ])
            .lines()
            .map(|l| l.trim().to_string())
            .collect()
    }

    pub fn running(&self, service: &str) -> usize {
        self.ps(service)
            .iter()
            .filter(|r| r.contains("|Running|Running"))
            .count()
    }

    /// Waits until `cond` holds for the rows of `service ps`.
    pub fn until(
        &self,
        service: &str,
        what: &str,
        cond: impl Fn(&[String]) -> bool,
    ) -> Vec<String> {
        wait_for(Duration::from_secs(60), || {
            let rows = self.ps(service);
            cond(&rows).then_some(rows)
        })
        .unwrap_or_else(|| {
            panic!(
                "{what}: service ps {service}:\n{}\ntasks: {}\n{}",
                self.ps(service).join("\n"),
                self.d.request("GET", "/v1.41/tasks", None).text(),
                self.d.log_tail()
            )
        })
    }

    pub fn containers(&self, filter: &str) -> Vec<String> {
        self.d
            .docker_ok(&["ps", "-a", "--filter", filter, "--format", "{{.Names}}"])
            .lines()
            .map(str::to_string)
            .collect()
    }
}
