//! The daemon's metrics settings (`--metrics-addr`, daemon.json's
//! `metrics-addr`) and the binding of their listener.

use std::net::{SocketAddr, TcpListener};

/// What the daemon's Prometheus endpoint serves on; a daemon.json loader
/// fills the same struct from `metrics-addr`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsOptions {
    /// `HOST:PORT` of the `/metrics` listener; none: no endpoint.
    pub addr: Option<SocketAddr>,
}

impl MetricsOptions {
    /// From dockerd's `--metrics-addr` value (`127.0.0.1:9323`, `[::1]:9323`,
    /// `localhost:9323`); an empty value is no endpoint, as dockerd.
    pub fn parse(addr: Option<&str>) -> anyhow::Result<MetricsOptions> {
        Ok(MetricsOptions {
            addr: super::listen_addr::parse("--metrics-addr", addr)?,
        })
    }

    /// Binds the listener now, so a taken port stops the daemon at start
    /// rather than failing in the background.
    pub fn bind(&self) -> anyhow::Result<Option<TcpListener>> {
        let Some(addr) = self.addr else {
            return Ok(None);
        };
        let listener = super::listen_addr::bind("--metrics-addr", addr)?;
        if !addr.ip().is_loopback() {
            tracing::warn!(
                "metrics on {addr}: anyone who reaches it sees every container's name, image and labels"
            );
        }
        Ok(Some(listener))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_addr_forms() {
        assert_eq!(MetricsOptions::parse(None).unwrap().addr, None);
        assert_eq!(MetricsOptions::parse(Some("")).unwrap().addr, None);
        assert_eq!(
            MetricsOptions::parse(Some("127.0.0.1:9323"))
                .unwrap()
                .addr
                .unwrap()
                .to_string(),
            "127.0.0.1:9323"
        );
        assert_eq!(
            MetricsOptions::parse(Some("[::1]:9323"))
                .unwrap()
                .addr
                .unwrap()
                .port(),
            9323
        );
        assert!(
            MetricsOptions::parse(Some("localhost:9323"))
                .unwrap()
                .addr
                .unwrap()
                .ip()
                .is_loopback()
        );
        let e = MetricsOptions::parse(Some("9323")).unwrap_err();
        assert!(e.to_string().contains("expected HOST:PORT"), "{e}");
    }

    #[test]
    fn bind_takes_the_port_or_says_which() {
        let o = MetricsOptions::parse(Some("127.0.0.1:0")).unwrap();
        let l = o.bind().unwrap().unwrap();
        let taken = MetricsOptions {
            addr: Some(l.local_addr().unwrap()),
        };
        let e = taken.bind().unwrap_err();
        assert!(format!("{e:#}").contains("--metrics-addr"), "{e:#}");
        assert!(MetricsOptions::default().bind().unwrap().is_none());
    }
}
