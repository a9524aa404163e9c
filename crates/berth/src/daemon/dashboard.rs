//! The dashboard's settings (`--ui-addr`, `--ui-tls-cert`/`--ui-tls-key`,
//! `--ui-admin-password-file`, and their daemon.json keys): checked and bound
//! at start, served once the engine is open.

use std::net::TcpListener;
use std::path::PathBuf;

use anyhow::{Context, bail};

/// A bound dashboard listener and what it serves with.
pub struct UiListener {
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    admin_password: Option<String>,
}

/// Checks the flags and binds the port; `None` when `--ui-addr` is unset.
pub fn bind(
    addr: Option<&str>,
    cert: Option<&PathBuf>,
    key: Option<&PathBuf>,
    password_file: Option<&PathBuf>,
) -> anyhow::Result<Option<UiListener>> {
    let Some(addr) = super::listen_addr::parse("--ui-addr", addr)? else {
        if cert.is_some() || key.is_some() || password_file.is_some() {
            bail!("--ui-tls-cert, --ui-tls-key and --ui-admin-password-file need --ui-addr");
        }
        return Ok(None);
    };
    let tls = match (cert, key) {
        (Some(cert), Some(key)) => Some(
            api::listen::tls_acceptor(&api::listen::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: None,
                require_client_cert: false,
            })
            .context("--ui-tls-cert/--ui-tls-key")?,
        ),
        (None, None) => None,
        _ => bail!("--ui-tls-cert and --ui-tls-key go together"),
    };
    let admin_password = password_file
        .map(|p| {
            std::fs::read_to_string(p)
                .with_context(|| format!("--ui-admin-password-file {}", p.display()))
        })
        .transpose()?;
    let listener = super::listen_addr::bind("--ui-addr", addr)?;
    if tls.is_none() && !addr.ip().is_loopback() {
        tracing::warn!(
            "dashboard on {addr} without TLS: passwords and session cookies cross the network in clear (--ui-tls-cert/--ui-tls-key)"
        );
    }
    Ok(Some(UiListener {
        listener,
        tls,
        admin_password,
    }))
}

impl UiListener {
    /// Starts serving in the background.
    pub fn spawn(
        self,
        engine: std::sync::Arc<engine::Engine>,
        swarm: std::sync::Arc<swarm::node::Swarm>,
        berth: api::routes::Berth,
        data_root: PathBuf,
    ) -> anyhow::Result<()> {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let router = ui::router(
            engine,
            swarm,
            berth,
            ui::UiOptions {
                data_root,
                admin_password: self.admin_password,
                tls: self.tls.is_some(),
            },
        )
        .context("starting the dashboard")?;
        let listener = tokio::net::TcpListener::from_std(self.listener)?;
        tracing::info!("dashboard on {scheme}://{}/", listener.local_addr()?);
        tokio::spawn(ui::serve(listener, self.tls, router));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_need_an_address_and_pair_up() {
        assert!(bind(None, None, None, None).unwrap().is_none());
        let p = PathBuf::from("/nonexistent");
        let e = bind(None, None, None, Some(&p)).err().unwrap();
        assert!(e.to_string().contains("need --ui-addr"), "{e}");
        let e = bind(Some("127.0.0.1:0"), Some(&p), None, None)
            .err()
            .unwrap();
        assert!(e.to_string().contains("go together"), "{e}");
        let e = bind(Some("9000"), None, None, None).err().unwrap();
        assert!(e.to_string().contains("--ui-addr"), "{e}");
        let e = bind(Some("127.0.0.1:0"), None, None, Some(&p))
            .err()
            .unwrap();
        assert!(
            format!("{e:#}").contains("--ui-admin-password-file"),
            "{e:#}"
        );
        assert!(
            bind(Some("127.0.0.1:0"), None, None, None)
                .unwrap()
                .is_some()
        );
    }
}
