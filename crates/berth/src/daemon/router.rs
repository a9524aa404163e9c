//! The daemon's HTTP router settings (`--router-addr`, `--router-tls-addr`,
//! `--router-cert-dir` and their daemon.json keys): checked and bound before
//! the engine opens, then served beside the API.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};

/// The apps' store; its hooks reach the daemon at `api_host`.
pub fn open_apps(
    data_root: &std::path::Path,
    api_host: &str,
) -> anyhow::Result<Arc<router::apps::AppStore>> {
    let exe = std::env::current_exe().context("locating the berth binary")?;
    let store = router::apps::AppStore::open(&data_root.join("apps"), api_host, &exe)
        .context("opening the apps")?;
    Ok(Arc::new(store))
}

use super::listen_addr::{bind as bind_listen_addr, parse as parse_listen_addr};

/// The router's listeners, bound; none when no router address is set.
pub struct RouterListeners {
    plain: Option<TcpListener>,
    tls: Option<(TcpListener, Arc<router::tls::CertDir>)>,
}

impl RouterListeners {
    /// Binds what the flags ask for; a TLS address needs a certificate
    /// directory (and a directory without a TLS address is a mistake).
    pub fn bind(
        addr: Option<&str>,
        tls_addr: Option<&str>,
        cert_dir: Option<&PathBuf>,
    ) -> anyhow::Result<Option<RouterListeners>> {
        let plain = parse_listen_addr("--router-addr", addr)?;
        let tls = parse_listen_addr("--router-tls-addr", tls_addr)?;
        let tls = match (tls, cert_dir) {
            (Some(a), Some(dir)) => {
                let certs = router::tls::CertDir::open(dir).context("--router-cert-dir")?;
                Some((bind_listen_addr("--router-tls-addr", a)?, certs))
            }
            (Some(_), None) => {
                bail!(
                    "--router-tls-addr needs --router-cert-dir (DIR/<host>.crt and DIR/<host>.key)"
                )
            }
            (None, Some(_)) => bail!("--router-cert-dir is only used with --router-tls-addr"),
            (None, None) => None,
        };
        let plain = plain
            .map(|a| bind_listen_addr("--router-addr", a))
            .transpose()?;
        if plain.is_none() && tls.is_none() {
            return Ok(None);
        }
        Ok(Some(RouterListeners { plain, tls }))
    }

    /// Starts the router: its table follows `engine` and `apps`, its listeners serve.
    pub fn serve(
        self,
        engine: &Arc<engine::Engine>,
        apps: &Arc<router::apps::AppStore>,
    ) -> anyhow::Result<Arc<router::Router>> {
        let router = router::Router::new(Some(engine.metrics()));
        tokio::spawn(router::source::follow(
            engine.clone(),
            router.clone(),
            apps.clone(),
        ));
        if let Some(l) = self.plain {
            let l = tokio::net::TcpListener::from_std(l)?;
            tracing::info!("HTTP router on http://{}", l.local_addr()?);
            tokio::spawn(router.clone().serve(l));
        }
        if let Some((l, certs)) = self.tls {
            let l = tokio::net::TcpListener::from_std(l)?;
            let acceptor = router::tls::acceptor(certs.clone())?;
            tracing::info!("HTTPS router on https://{}", l.local_addr()?);
            tokio::spawn(certs.watch());
            tokio::spawn(router.clone().serve_tls(l, acceptor));
        }
        Ok(router)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_address_and_cert_dir_go_together() {
        assert!(RouterListeners::bind(None, None, None).unwrap().is_none());
        let dir = PathBuf::from("/tmp");
        let e = RouterListeners::bind(None, Some("127.0.0.1:0"), None)
            .err()
            .unwrap();
        assert!(e.to_string().contains("needs --router-cert-dir"), "{e}");
        let e = RouterListeners::bind(Some("127.0.0.1:0"), None, Some(&dir))
            .err()
            .unwrap();
        assert!(e.to_string().contains("only used with"), "{e}");
        let e = RouterListeners::bind(Some("8080"), None, None)
            .err()
            .unwrap();
        assert!(e.to_string().contains("--router-addr"), "{e}");
        let l = RouterListeners::bind(Some("127.0.0.1:0"), Some("127.0.0.1:0"), Some(&dir))
            .unwrap()
            .unwrap();
        assert!(l.plain.is_some() && l.tls.is_some());
    }
}
