//! Where the API is served: unix sockets, TCP ports with or without TLS,
//! and the sockets systemd passes (`fd://`). Every kind yields the same
//! byte streams, so one hyper loop (with upgrades for attach and exec)
//! serves them all.

use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixListener};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;

/// A connection's byte stream, whatever carries it.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

/// A connection ready to serve.
pub struct Accepted {
    pub io: Box<dyn Io>,
    /// The socket of a unix connection, whose kernel can tell how much of
    /// what we wrote the peer has not read yet (see `streams::hijack`).
    /// Valid as long as `io` lives.
    pub unix_fd: Option<RawFd>,
}

impl Accepted {
    fn new(io: Box<dyn Io>) -> Accepted {
        Accepted { io, unix_fd: None }
    }
}

/// A connection accepted but not yet usable: a TLS handshake may still be
/// due. It runs in the connection's own task, so a slow or hostile peer
/// never holds up the accept loop.
pub type Connecting = Pin<Box<dyn Future<Output = Result<Accepted, ConnError>> + Send>>;

type AcceptFuture<'a> = Pin<Box<dyn Future<Output = io::Result<Connecting>> + Send + 'a>>;

/// A source of API connections.
pub trait Listener: Send + 'static {
    fn accept(&mut self) -> AcceptFuture<'_>;
    /// `unix:///path`, `tcp://addr` or `tls://addr`, for the logs.
    fn describe(&self) -> String;
    /// What `/info` should warn about this listener, as dockerd warns.
    fn warning(&self) -> Option<String> {
        None
    }
}

/// The listeners' warnings, for `/info`.
#[derive(Clone, Debug, Default)]
pub struct Warnings(pub Vec<String>);

/// Why an accepted connection was dropped before anything was served.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    #[error("TLS handshake with {peer} failed: {source}")]
    Handshake { peer: String, source: io::Error },
    #[error("TLS handshake with {peer} timed out")]
    HandshakeTimeout { peer: String },
    #[error("{peer} sent plain HTTP to the TLS port; answered 400")]
    PlainHttp { peer: String },
    /// Closed before sending a byte: a port probe or a health check.
    #[error("{peer} closed the connection before any handshake")]
    ClosedEarly { peer: String },
}

impl ConnError {
    /// Worth the operator's attention (a client without its certificate,
    /// or an attack), unlike a bare port probe.
    pub fn notable(&self) -> bool {
        !matches!(self, ConnError::ClosedEarly { .. })
    }
}

/// Server certificate files that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// The daemon's `--tlscert`/`--tlskey`, and `--tlscacert`: the CA client
/// certificates must chain to, required of every client with `--tlsverify`
/// (`require_client_cert`), else checked only when a client offers one (as
/// dockerd does with `--tls --tlscacert`).
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
    pub require_client_cert: bool,
}

fn file_err(path: &Path, e: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| file_err(path, e))?;
    if certs.is_empty() {
        return Err(file_err(path, "no PEM certificate in it"));
    }
    Ok(certs)
}

/// A rustls acceptor for the daemon's TCP ports. With a client CA, a peer
/// without a certificate chaining to it (or with an expired one) fails the
/// handshake itself: no request of it ever reaches the router.
pub fn tls_acceptor(files: &TlsFiles) -> Result<TlsAcceptor, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = certs(&files.cert)?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| file_err(&files.key, e))?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match &files.client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in certs(ca)? {
                roots.add(cert).map_err(|e| file_err(ca, e))?;
            }
            let mut verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            if !files.require_client_cert {
                verifier = verifier.allow_unauthenticated();
            }
            let verifier = verifier.build().map_err(|e| file_err(ca, e))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| file_err(&files.cert, e))?;
    // The API is HTTP/1.1 with upgrades (attach, exec); clients that offer
    // h2 must not be led onto it.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// How long a peer may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What Go's TLS servers (dockerd's among them) answer a plain HTTP request.
const PLAIN_HTTP_ANSWER: &[u8] =
    b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

impl Listener for UnixListener {
    fn accept(&mut self) -> AcceptFuture<'_> {
        Box::pin(async move {
            let (stream, _) = UnixListener::accept(self).await?;
            let unix_fd = Some(stream.as_raw_fd());
            let ready: Connecting = Box::pin(async move {
                Ok(Accepted {
                    io: Box::new(stream),
                    unix_fd,
                })
            });
            Ok(ready)
        })
    }

    fn describe(&self) -> String {
        match self
            .local_addr()
            .ok()
            .and_then(|a| a.as_pathname().map(Path::to_path_buf))
        {
            Some(p) => format!("unix://{}", p.display()),
            None => "unix socket".into(),
        }
    }
}

/// A TCP port, with TLS unless the operator opted out.
pub struct Tcp {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
}

impl Tcp {
    pub fn new(listener: TcpListener, tls: Option<TlsAcceptor>) -> Tcp {
        Tcp { listener, tls }
    }
}

impl Listener for Tcp {
    fn accept(&mut self) -> AcceptFuture<'_> {
        Box::pin(async move {
            let (stream, peer) = self.listener.accept().await?;
            // Attach and exec carry keystrokes: no batching delay.
            let _ = stream.set_nodelay(true);
            let ready: Connecting = match self.tls.clone() {
                None => Box::pin(async move { Ok(Accepted::new(Box::new(stream))) }),
                Some(acceptor) => Box::pin(handshake(acceptor, stream, peer.to_string())),
            };
            Ok(ready)
        })
    }

    fn describe(&self) -> String {
        let addr = self
            .listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| "?".into());
        match self.tls {
            Some(_) => format!("tcp://{addr} (TLS)"),
            None => format!("tcp://{addr} (plain, unauthenticated)"),
        }
    }

    fn warning(&self) -> Option<String> {
        if self.tls.is_some() {
            return None;
        }
        let addr = self.listener.local_addr().ok()?;
        // dockerd's words, which the docker CLI prints under `docker info`.
        Some(format!(
            "API is accessible on http://{addr} without encryption.\n         Access to the remote API is equivalent to root access on the host. Refer\n         to the 'Docker daemon attack surface' section in the documentation for\n         more information: https://docs.docker.com/go/attack-surface/"
        ))
    }
}

async fn handshake(
    acceptor: TlsAcceptor,
    mut stream: TcpStream,
    peer: String,
) -> Result<Accepted, ConnError> {
    let work = async {
        // A TLS client opens with a handshake record (0x16); letters mean
        // an HTTP request line, which gets Go's answer instead of silence.
        let mut first = [0u8; 1];
        let peeked = stream.peek(&mut first).await;
        if let Ok(0) = peeked {
            return Err(ConnError::ClosedEarly { peer: peer.clone() });
        }
        if let Ok(1) = peeked
            && first[0].is_ascii_uppercase()
        {
            let _ = stream.write_all(PLAIN_HTTP_ANSWER).await;
            let _ = stream.shutdown().await;
            return Err(ConnError::PlainHttp { peer: peer.clone() });
        }
        acceptor
            .accept(stream)
            .await
            .map(|s| Accepted::new(Box::new(s)))
            .map_err(|source| ConnError::Handshake {
                peer: peer.clone(),
                source,
            })
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, work).await {
        Ok(r) => r,
        Err(_) => Err(ConnError::HandshakeTimeout { peer }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_files_are_named() {
        let files = TlsFiles {
            cert: "/nonexistent/cert.pem".into(),
            key: "/nonexistent/key.pem".into(),
            client_ca: None,
            require_client_cert: false,
        };
        let Err(e) = tls_acceptor(&files) else {
            panic!("a missing certificate file was accepted");
        };
        assert!(e.to_string().starts_with("/nonexistent/cert.pem: "), "{e}");
    }
}
