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

    /// Starts the router: its table follows `engine`, `apps` and the
    /// swarm's routed services, its listeners serve.
    pub fn serve(
        self,
        engine: &Arc<engine::Engine>,
        apps: &Arc<router::apps::AppStore>,
        swarm: &swarm::node::Swarm,
    ) -> anyhow::Result<Arc<router::Router>> {
        let router = router::Router::new(Some(engine.metrics()));
        tokio::spawn(router::source::follow(
            engine.clone(),
            router.clone(),
            apps.clone(),
            Some(service_entries(swarm.routes())),
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

/// The router's entries of the swarm's routed services, kept current.
fn service_entries(
    mut routes: tokio::sync::watch::Receiver<Vec<swarm::routes::RoutedService>>,
) -> router::source::External {
    let (tx, rx) = tokio::sync::watch::channel(Vec::new());
    tokio::spawn(async move {
        loop {
            let entries = routes
                .borrow_and_update()
                .iter()
                .flat_map(entries_of)
                .collect();
            tx.send_replace(entries);
            if routes.changed().await.is_err() {
                return;
            }
        }
    });
    rx
}

/// A routed service's entries: one per task, its backends; a service
/// without tasks yet is one entry without an address (its route answers
/// 503, as one whose tasks are all unready), and one whose route is
/// refused is one entry too (refused once, not per task).
fn entries_of(s: &swarm::routes::RoutedService) -> Vec<router::table::Entry> {
    let service = router::table::Entry {
        kind: router::table::Kind::Service,
        id: s.id.clone(),
        name: s.name.clone(),
        created: s.created,
        labels: s.labels.clone(),
        exposed: s.ports.clone(),
        addr: None,
        ready: false,
        refused: s.refused.clone().map(|reason| router::labels::LabelError {
            label: router::labels::HOST.into(),
            value: s
                .labels
                .get(router::labels::HOST)
                .cloned()
                .unwrap_or_default(),
            reason,
        }),
    };
    let labels_ok = matches!(router::labels::parse(&s.labels), Some(Ok(_)));
    if service.refused.is_some() || !labels_ok || s.tasks.is_empty() {
        return vec![service];
    }
    s.tasks
        .iter()
        .map(|t| router::table::Entry {
            id: t.id.clone(),
            name: t.name.clone(),
            addr: t.addr.parse().ok(),
            ready: t.serving,
            ..service.clone()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routed(labels: &[(&str, &str)], tasks: usize) -> swarm::routes::RoutedService {
        swarm::routes::RoutedService {
            id: "s1".into(),
            name: "web".into(),
            created: 1,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ports: vec![80],
            refused: None,
            tasks: (0..tasks)
                .map(|i| swarm::routes::RoutedTask {
                    id: format!("t{i}"),
                    name: format!("web.{i}.t{i}"),
                    addr: format!("10.0.1.{}", i + 3),
                    serving: i != 1,
                })
                .collect(),
        }
    }

    #[test]
    fn a_service_is_an_entry_per_task_or_one_refused_or_empty_entry() {
        let ok = entries_of(&routed(&[("berth.http.host", "web.test")], 3));
        let shown: Vec<(String, String, bool)> = ok
            .iter()
            .map(|e| (e.name.clone(), format!("{:?}", e.addr), e.ready))
            .collect();
        assert_eq!(
            shown,
            vec![
                ("web.0.t0".into(), "Some(10.0.1.3)".into(), true),
                ("web.1.t1".into(), "Some(10.0.1.4)".into(), false),
                ("web.2.t2".into(), "Some(10.0.1.5)".into(), true),
            ]
        );
        assert!(ok.iter().all(|e| e.kind == router::table::Kind::Service));
        assert_eq!(ok[0].exposed, vec![80]);

        let bad = entries_of(&routed(
            &[("berth.http.host", "web.test"), ("berth.http.port", "http")],
            3,
        ));
        assert_eq!(bad.len(), 1, "refused once, not per task");
        assert_eq!((bad[0].name.as_str(), bad[0].addr), ("web", None));

        let mut cut_off = routed(&[("berth.http.host", "web.test")], 2);
        cut_off.refused = Some("needs a network".into());
        let e = entries_of(&cut_off);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].refused.as_ref().unwrap().reason, "needs a network");

        let empty = entries_of(&routed(&[("berth.http.host", "web.test")], 0));
        assert_eq!((empty.len(), empty[0].ready), (1, false));
    }

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
