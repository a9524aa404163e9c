//! Listener, optional TLS, and the server's lifetime (root lock included).

use crate::auth::Htpasswd;
use crate::error::RegistryError;
use crate::http::{AppState, router};
use crate::store::Store;
use crate::token::{TokenAuth, TokenConfig};
use crate::uploads::Progresses;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

pub const DEFAULT_MAX_MANIFEST_SIZE: u64 = 4 * 1024 * 1024;
/// How long an upload chunk may go without a byte before it is given up.
pub const DEFAULT_UPLOAD_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// `HOST:PORT`; port 0 picks a free one (see [`Server::local_addr`]).
    pub addr: String,
    pub root: PathBuf,
    pub htpasswd: Option<PathBuf>,
    pub tls: Option<TlsFiles>,
    pub read_only: bool,
    pub max_manifest_size: u64,
    /// Bearer-token auth instead of htpasswd.
    pub token: Option<TokenConfig>,
    /// A chunk whose body stalls this long is rolled back and refused.
    pub upload_idle_timeout: std::time::Duration,
    /// Scan pushed manifests against `<root>/scan/db` and serve the results.
    pub scan: bool,
}

impl Config {
    pub fn new(addr: impl Into<String>, root: impl Into<PathBuf>) -> Self {
        Config {
            addr: addr.into(),
            root: root.into(),
            htpasswd: None,
            tls: None,
            read_only: false,
            max_manifest_size: DEFAULT_MAX_MANIFEST_SIZE,
            token: None,
            upload_idle_timeout: DEFAULT_UPLOAD_IDLE_TIMEOUT,
            scan: false,
        }
    }
}

/// A running server. Dropping it without [`Server::shutdown`] leaves the
/// accept loop running until the runtime ends.
pub struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Server {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections and releases the root lock.
    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Runs until the accept loop ends (it only ends on shutdown).
    pub async fn wait(mut self) {
        let _ = (&mut self.task).await;
    }
}

fn tls_acceptor(files: &TlsFiles) -> Result<TlsAcceptor, RegistryError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| RegistryError::Tls(format!("{}: {e}", files.cert.display())))?;
    if certs.is_empty() {
        return Err(RegistryError::Tls(format!(
            "{}: no certificates",
            files.cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| RegistryError::Tls(format!("{}: {e}", files.key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| RegistryError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| RegistryError::Tls(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Opens the store, takes its lock, binds and starts serving in the
/// background of the current tokio runtime.
pub async fn start(config: Config) -> Result<Server, RegistryError> {
    let store = Store::open(&config.root)?;
    let lock = store.lock()?;
    if config.htpasswd.is_some() && config.token.is_some() {
        return Err(RegistryError::TwoAuthModes);
    }
    let auth = config.htpasswd.as_deref().map(Htpasswd::load).transpose()?;
    let token = config.token.as_ref().map(TokenAuth::load).transpose()?;
    let tls = config.tls.as_ref().map(tls_acceptor).transpose()?;
    let listener = TcpListener::bind(&config.addr)
        .await
        .map_err(|source| RegistryError::Bind {
            addr: config.addr.clone(),
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|source| RegistryError::Bind {
            addr: config.addr.clone(),
            source,
        })?;
    let app = router(Arc::new(AppState {
        store,
        uploads: Progresses::default(),
        auth,
        token,
        read_only: config.read_only,
        max_manifest_size: config.max_manifest_size,
        upload_idle_timeout: config.upload_idle_timeout,
        scanning: config
            .scan
            .then(|| Arc::new(crate::scanning::Scanning::new(&config.root))),
    }));
    let (stop, mut stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _lock = lock;
        loop {
            let (tcp, _) = tokio::select! {
                _ = &mut stopped => break,
                r = listener.accept() => match r {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!("registry accept: {e}");
                        continue;
                    }
                },
            };
            let app = app.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    None => serve_conn(tcp, app).await,
                    // Bounded so a silent client cannot hold a task forever.
                    Some(acceptor) => match tokio::time::timeout(
                        std::time::Duration::from_secs(10),
                        acceptor.accept(tcp),
                    )
                    .await
                    {
                        Ok(Ok(stream)) => serve_conn(stream, app).await,
                        Ok(Err(e)) => tracing::debug!("registry tls handshake: {e}"),
                        Err(_) => tracing::debug!("registry tls handshake timed out"),
                    },
                }
            });
        }
    });
    Ok(Server {
        addr,
        stop: Some(stop),
        task,
    })
}

async fn serve_conn<S>(io: S, app: axum::Router)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = TowerToHyperService::new(app);
    if let Err(e) = auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(io), svc)
        .await
    {
        tracing::debug!("registry connection: {e}");
    }
}
