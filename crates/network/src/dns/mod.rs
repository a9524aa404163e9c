//! The embedded DNS server of user-defined networks, in the way of Docker's
//! and aardvark-dns: containers on a network resolve each other by name,
//! alias and short ID; every other name goes to the host's resolvers.
//!
//! One [`DnsServer`] per network listens on the network's gateway address,
//! port 53, UDP and TCP, in the host network namespace (the bridge carries
//! the gateway address, so the containers reach it through their default
//! route and the server reaches the host's resolvers, loopback ones
//! included). Containers get `nameserver <gateway>` in their resolv.conf.
//!
//! ```no_run
//! # async fn demo() -> network::Result<()> {
//! use std::sync::Arc;
//! use network::dns::{DnsRecords, DnsServer, upstream_resolvers};
//!
//! let records = Arc::new(DnsRecords::with_domain("mynet"));
//! let host_conf = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
//! let listen = "172.18.0.1:53".parse().unwrap();
//! let server = DnsServer::start(listen, records.clone(), upstream_resolvers(&host_conf)).await?;
//!
//! // Container connected / disconnected.
//! let ip = "172.18.0.2".parse().unwrap();
//! records.add_container("web", "0123456789abcdef...", &["front".into()], ip);
//! records.remove_ip(ip);
//!
//! server.stop().await;
//! # Ok(()) }
//! ```
//!
//! Answers: A/AAAA (and ANY) for known names with TTL [`TTL`]; a known name
//! without an address of the asked family gets an empty NOERROR; PTR for
//! addresses with a container name. Unknown names are never NXDOMAIN here:
//! they are forwarded, and SERVFAIL comes back only when no upstream
//! answers within [`UPSTREAM_TIMEOUT`].

mod forward;
mod records;
mod resolv_conf;
mod server;

pub use forward::UPSTREAM_TIMEOUT;
pub use records::{DnsRecords, SHORT_ID_LEN};
pub use resolv_conf::{container_resolvers, upstream_resolvers};
pub use server::{DnsServer, NameSource, TTL};
