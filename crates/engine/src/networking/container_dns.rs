//! Docker's resolver address inside each container: a server on
//! 127.0.0.11:53 in the container's own network namespace (nginx configs and
//! many images hard-code `resolver 127.0.0.11`). Its sockets live in there;
//! answering and forwarding happen in the daemon, as for the per-network
//! servers, with the names of every user network the container is on.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use network::dns::{DnsServer, NameSource};

use super::dns_scope::DnsDirectory;
use super::{NetworkState, Networking, lock};

/// The address containers find in their resolv.conf.
pub const RESOLVER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);

/// Answers as the container whose address is `client` (queries reach the
/// server from 127.0.0.1, whoever asks).
#[derive(Debug)]
struct ContainerNames {
    directory: Arc<DnsDirectory>,
    client: IpAddr,
    /// This container's link aliases (alias, linked container's name), which
    /// only it resolves; looked up when asked, so a link to a container that
    /// starts later (or moves) answers with its address of the moment.
    links: Vec<(String, String)>,
}

impl ContainerNames {
    fn tables_lookup(&self, name: &str) -> Option<Vec<IpAddr>> {
        self.directory
            .tables(self.client)
            .iter()
            .find_map(|t| t.lookup(name))
    }
}

impl NameSource for ContainerNames {
    fn lookup(&self, _asker: IpAddr, name: &str) -> Option<Vec<IpAddr>> {
        let wanted = name.trim_end_matches('.');
        let target = self
            .links
            .iter()
            .find(|(alias, _)| alias.eq_ignore_ascii_case(wanted))
            .map(|(_, child)| child.as_str());
        match target {
            Some(child) => self.tables_lookup(child),
            None => self.tables_lookup(name),
        }
    }

    fn lookup_ptr(&self, _asker: IpAddr, ip: IpAddr) -> Option<String> {
        self.directory
            .tables(self.client)
            .iter()
            .find_map(|t| t.lookup_ptr(ip))
    }
}

impl Networking {
    /// Starts (or restarts, after a connect or disconnect) the resolver of a
    /// container on at least one user network; stops it when it has none.
    /// Returns whether the container has one.
    pub(crate) async fn refresh_container_dns(
        &self,
        container_id: &str,
        state: &NetworkState,
        dns: &[String],
        links: &[(String, String)],
    ) -> bool {
        let old = lock(&self.container_dns).remove(container_id);
        if let Some(old) = old {
            old.stop().await;
        }
        let Some(sandbox) = &state.sandbox else {
            return false;
        };
        let client = state.endpoints.values().find(|ep| {
            self.nets()
                .get(&ep.network_id)
                .is_some_and(|n| n.dns_records.is_some())
        });
        let Some(client) = client else {
            return false;
        };
        let source = Arc::new(ContainerNames {
            directory: self.dns_directory.clone(),
            client: IpAddr::V4(client.ip),
            links: links.to_vec(),
        });
        // `--dns` servers, else the host's (loopback ones are unreachable
        // from a container but reachable from here, where forwarding runs).
        let mut upstreams: Vec<SocketAddr> = dns
            .iter()
            .filter_map(|s| s.parse::<IpAddr>().ok())
            .map(|ip| SocketAddr::new(ip, 53))
            .collect();
        if upstreams.is_empty() {
            let host_conf = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
            upstreams = network::dns::upstream_resolvers(&host_conf);
        }
        match start(sandbox, source, upstreams).await {
            Ok(server) => {
                lock(&self.container_dns).insert(container_id.to_string(), server);
                true
            }
            Err(err) => {
                tracing::warn!(container = %container_id, "no resolver at {RESOLVER}: {err}");
                false
            }
        }
    }

    pub(crate) async fn stop_container_dns(&self, container_id: &str) {
        let old = lock(&self.container_dns).remove(container_id);
        if let Some(old) = old {
            old.stop().await;
        }
    }

    pub(crate) fn has_container_dns(&self, container_id: &str) -> bool {
        lock(&self.container_dns).contains_key(container_id)
    }
}

async fn start(
    sandbox: &Path,
    source: Arc<ContainerNames>,
    upstreams: Vec<SocketAddr>,
) -> network::Result<DnsServer> {
    let listen = SocketAddr::from((RESOLVER, 53));
    DnsServer::start_in_netns(sandbox, listen, source, upstreams).await
}
