//! Connection to the daemon: API version negotiation and HTTP/1.1 requests
//! (plain, streaming and hijacked) over a unix socket, TCP (with TLS or
//! without) or an ssh session running `docker system dial-stdio`.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use super::endpoint::{Endpoint, Tls};

pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";
/// Highest API version this client speaks; lower daemons are met at theirs.
pub const CLIENT_API_VERSION: &str = "1.50";

pub type Body = BoxBody<Bytes, std::io::Error>;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("Cannot connect to the berth daemon at {host}. Is the daemon running?")]
    Connect { host: String },
    #[error("Error response from daemon: {message}")]
    Daemon { status: u16, message: String },
    #[error("error during connect: {0}")]
    Http(String),
    #[error(
        "invalid host {0:?}: expected unix://PATH, tcp://HOST:PORT or ssh://[USER@]HOST[:PORT]"
    )]
    BadHost(String),
    #[error("{0}")]
    Config(String),
    #[error("error during connect: {host}: TLS: {message}")]
    Tls { host: String, message: String },
}

pub type Result<T> = std::result::Result<T, ClientError>;

/// Any byte stream a request can travel over.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

#[derive(Clone)]
enum Transport {
    Unix(String),
    Tcp(String),
    Tls {
        addr: String,
        name: ServerName<'static>,
        config: Arc<rustls::ClientConfig>,
    },
    Ssh(SshTarget),
}

/// `ssh://[user@]host[:port]`: the docker CLI's connection helper runs
/// `docker system dial-stdio` there and speaks HTTP over the session.
#[derive(Clone, Debug, PartialEq, Eq)]
struct SshTarget {
    user: Option<String>,
    host: String,
    port: Option<u16>,
}

impl SshTarget {
    fn parse(rest: &str) -> Option<SshTarget> {
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') {
            return None;
        }
        let (user, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u.to_string()), h),
            None => (None, rest),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => {
                (h.to_string(), Some(p.parse().ok()?))
            }
            _ => (hostport.to_string(), None),
        };
        (!host.is_empty()).then_some(SshTarget { user, host, port })
    }
}

#[derive(Clone)]
pub struct Client {
    host: String,
    transport: Transport,
    version: String,
}

/// The rustls side of `--tlsverify`: the daemon must chain to the CA; the
/// client certificate goes along when there is one.
fn tls_config(host: &str, tls: &Tls) -> Result<rustls::ClientConfig> {
    let config_err = |m: String| ClientError::Config(m);
    let file_err = |p: &std::path::Path, e: &dyn std::fmt::Display| {
        config_err(format!("could not read {}: {e}", p.display()))
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| config_err(e.to_string()))?;
    let builder = if tls.verify {
        let Some(ca) = &tls.ca else {
            return Err(config_err(format!(
                "{host}: --tlsverify needs the daemon's CA: --tlscacert FILE, or ca.pem in $DOCKER_CERT_PATH"
            )));
        };
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca).map_err(|e| file_err(ca, &e))? {
            roots
                .add(cert.map_err(|e| file_err(ca, &e))?)
                .map_err(|e| file_err(ca, &e))?;
        }
        builder.with_root_certificates(roots)
    } else {
        // `--tls` alone, or a context's SkipTLSVerify: encrypted, but the
        // daemon's certificate is taken as it comes, as the docker CLI does.
        builder
            .dangerous()
            .with_custom_certificate_verifier(swarm::tls::accept_any_server())
    };
    let mut config = match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
                .map_err(|e| file_err(cert, &e))?;
            let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| file_err(key, &e))?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| file_err(cert, &e))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(config_err(
                "--tlscert and --tlskey go together (cert.pem and key.pem in $DOCKER_CERT_PATH)"
                    .into(),
            ));
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

pub fn empty() -> Body {
    full(Bytes::new())
}

pub fn json_body(v: &serde_json::Value) -> Body {
    full(serde_json::to_vec(v).expect("json values always serialize"))
}

/// A request body read from any async reader in chunks (used by `import`).
pub fn reader_body<R: AsyncRead + Unpin + Send + Sync + 'static>(reader: R) -> Body {
    use tokio::io::AsyncReadExt;
    let stream = futures_util::stream::unfold(reader, |mut r| async move {
        let mut buf = vec![0u8; 64 * 1024];
        match r.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Frame::data(Bytes::from(buf))), r))
            }
            Err(e) => Some((Err(e), r)),
        }
    });
    StreamBody::new(stream).boxed()
}

/// The response, or its error status as `ClientError::Daemon` with the
/// daemon's message.
async fn checked(resp: Response<Incoming>) -> Result<Response<Incoming>> {
    if resp.status().is_client_error() || resp.status().is_server_error() {
        let status = resp.status().as_u16();
        let body = read_all(resp).await.unwrap_or_default();
        return Err(ClientError::Daemon {
            status,
            message: error_message(&body),
        });
    }
    Ok(resp)
}

/// Extracts docker's `{"message": ...}` error text, or the raw body.
fn error_message(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body)
        && let Some(m) = v.get("message").and_then(|m| m.as_str())
    {
        return m.to_string();
    }
    String::from_utf8_lossy(body).trim().to_string()
}

impl Client {
    #[cfg(test)]
    pub fn new(host: &str) -> Result<Client> {
        Self::from_endpoint(&Endpoint {
            host: host.to_string(),
            tls: None,
        })
    }

    pub fn from_endpoint(endpoint: &Endpoint) -> Result<Client> {
        let host = endpoint.host.as_str();
        let bad = || ClientError::BadHost(host.to_string());
        let transport = if let Some(p) = host.strip_prefix("unix://") {
            Transport::Unix(p.to_string())
        } else if let Some(a) = host.strip_prefix("tcp://") {
            let addr = a.trim_end_matches('/').to_string();
            match &endpoint.tls {
                None => Transport::Tcp(addr),
                Some(tls) => {
                    let name_part = match addr.rsplit_once(':') {
                        Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']'),
                        None => addr.as_str(),
                    };
                    let name = ServerName::try_from(name_part.to_string()).map_err(|_| bad())?;
                    Transport::Tls {
                        config: Arc::new(tls_config(host, tls)?),
                        addr,
                        name,
                    }
                }
            }
        } else if let Some(rest) = host.strip_prefix("ssh://") {
            Transport::Ssh(SshTarget::parse(rest).ok_or_else(bad)?)
        } else if host.starts_with('/') {
            Transport::Unix(host.to_string())
        } else {
            return Err(bad());
        };
        Ok(Client {
            host: host.to_string(),
            transport,
            version: CLIENT_API_VERSION.to_string(),
        })
    }

    /// The daemon's unix socket, when it is reached through one (a daemon
    /// on this host).
    pub fn unix_socket(&self) -> Option<&str> {
        match &self.transport {
            Transport::Unix(p) => Some(p),
            _ => None,
        }
    }

    pub fn api_version(&self) -> &str {
        &self.version
    }

    /// A fresh connection to the daemon, before any HTTP is spoken on it.
    pub async fn dial(&self) -> Result<Box<dyn Io>> {
        let err = |_| ClientError::Connect {
            host: self.host.clone(),
        };
        Ok(match &self.transport {
            Transport::Unix(p) => Box::new(UnixStream::connect(p).await.map_err(err)?),
            Transport::Tcp(a) => {
                let s = TcpStream::connect(a).await.map_err(err)?;
                let _ = s.set_nodelay(true);
                Box::new(s)
            }
            Transport::Tls { addr, name, config } => {
                let s = TcpStream::connect(addr).await.map_err(err)?;
                let _ = s.set_nodelay(true);
                let connector = tokio_rustls::TlsConnector::from(config.clone());
                let tls =
                    connector
                        .connect(name.clone(), s)
                        .await
                        .map_err(|e| ClientError::Tls {
                            host: self.host.clone(),
                            message: e.to_string(),
                        })?;
                Box::new(tls)
            }
            Transport::Ssh(target) => Box::new(
                ssh_dial(target)
                    .map_err(|e| ClientError::Http(format!("{}: starting ssh: {e}", self.host)))?,
            ),
        })
    }

    /// Like the docker CLI: ask `/_ping` for the daemon's version and speak the
    /// lower of the two, so old daemons keep working.
    pub async fn negotiate(&mut self) -> Result<()> {
        let resp = self.raw(Method::GET, "/_ping", empty(), None, None).await?;
        if let Some(v) = resp
            .headers()
            .get("api-version")
            .and_then(|v| v.to_str().ok())
            && version_lt(v, CLIENT_API_VERSION)
        {
            self.version = v.to_string();
        }
        Ok(())
    }

    /// Sends one request on a fresh connection and returns the response once
    /// its headers arrived; the body is still streaming. `registry_auth`:
    /// Docker's encoded registry credentials (`X-Registry-Auth`).
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Body,
        content_type: Option<&str>,
        registry_auth: Option<&str>,
    ) -> Result<Response<Incoming>> {
        let io = self.dial().await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.with_upgrades().await;
        });
        let uri = if path == "/_ping" {
            path.to_string()
        } else {
            format!("/v{}{}", self.version, path)
        };
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header("Host", "api.moby.localhost")
            .header("User-Agent", concat!("berth/", env!("CARGO_PKG_VERSION")));
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        if let Some(auth) = registry_auth {
            req = req.header("X-Registry-Auth", auth);
        }
        let req = req
            .body(body)
            .map_err(|e| ClientError::Http(e.to_string()))?;
        sender
            .send_request(req)
            .await
            .map_err(|e| ClientError::Http(e.to_string()))
    }

    /// A request whose error statuses become `ClientError::Daemon`.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Body,
        content_type: Option<&str>,
    ) -> Result<Response<Incoming>> {
        checked(self.raw(method, path, body, content_type, None).await?).await
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Bytes> {
        self.call_as(method, path, body, None).await
    }

    /// [`Client::call`] with `registry_auth` as `X-Registry-Auth`.
    pub async fn call_as(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
        registry_auth: Option<&str>,
    ) -> Result<Bytes> {
        let (b, ct) = match body {
            Some(v) => (json_body(v), Some("application/json")),
            None => (empty(), None),
        };
        let resp = checked(self.raw(method, path, b, ct, registry_auth).await?).await?;
        read_all(resp).await
    }

    pub async fn get_json(&self, path: &str) -> Result<serde_json::Value> {
        let b = self.call(Method::GET, path, None).await?;
        serde_json::from_slice(&b)
            .map_err(|e| ClientError::Http(format!("bad JSON from daemon: {e}")))
    }

    pub async fn post_json(
        &self,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value> {
        let b = self.call(Method::POST, path, body).await?;
        if b.iter().all(u8::is_ascii_whitespace) {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_slice(&b)
            .map_err(|e| ClientError::Http(format!("bad JSON from daemon: {e}")))
    }

    /// Docker's hijacked connection: `Upgrade: tcp`, then the socket carries
    /// the raw (or multiplexed) stream both ways.
    pub async fn hijack(
        &self,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Box<dyn Io>> {
        let io = self.dial().await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.with_upgrades().await;
        });
        let (b, ct) = match body {
            Some(v) => (json_body(v), "application/json"),
            None => (empty(), "text/plain"),
        };
        let req = Request::builder()
            .method(Method::POST)
            .uri(format!("/v{}{}", self.version, path))
            .header("Host", "api.moby.localhost")
            .header("Content-Type", ct)
            .header("Connection", "Upgrade")
            .header("Upgrade", "tcp")
            .body(b)
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let status = resp.status();
        if status.is_client_error() || status.is_server_error() {
            let body = read_all(resp).await.unwrap_or_default();
            return Err(ClientError::Daemon {
                status: status.as_u16(),
                message: error_message(&body),
            });
        }
        if status != StatusCode::SWITCHING_PROTOCOLS {
            return Err(ClientError::Http(format!(
                "daemon did not upgrade the connection (status {status})"
            )));
        }
        let upgraded = hyper::upgrade::on(resp)
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?;
        Ok(Box::new(TokioIo::new(upgraded)))
    }
}

/// An ssh session whose remote command bridges to the daemon's socket.
struct SshStream {
    io: tokio::io::Join<tokio::process::ChildStdout, tokio::process::ChildStdin>,
    // Killed with the connection.
    _child: tokio::process::Child,
}

fn ssh_dial(t: &SshTarget) -> std::io::Result<SshStream> {
    let mut cmd = tokio::process::Command::new("ssh");
    // -T: no terminal, the session carries bytes only.
    cmd.arg("-T");
    if let Some(u) = &t.user {
        cmd.args(["-l", u]);
    }
    if let Some(p) = t.port {
        cmd.args(["-p", &p.to_string()]);
    }
    cmd.arg("--")
        .arg(&t.host)
        .args(["docker", "system", "dial-stdio"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn()?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(std::io::Error::other("ssh without pipes"));
    };
    Ok(SshStream {
        io: tokio::io::join(stdout, stdin),
        _child: child,
    })
}

impl AsyncRead for SshStream {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for SshStream {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

pub async fn read_all(resp: Response<Incoming>) -> Result<Bytes> {
    resp.into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| ClientError::Http(e.to_string()))
}

/// Next chunk of a streaming body, `None` at its end.
pub async fn next_chunk(body: &mut Incoming) -> Result<Option<Bytes>> {
    loop {
        match body.frame().await {
            None => return Ok(None),
            Some(Err(e)) => return Err(ClientError::Http(e.to_string())),
            Some(Ok(f)) => {
                if let Ok(d) = f.into_data() {
                    return Ok(Some(d));
                }
            }
        }
    }
}

/// Compares dotted API versions numerically ("1.9" < "1.41").
pub fn version_lt(a: &str, b: &str) -> bool {
    let parse = |s: &str| -> Vec<u64> { s.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    parse(a) < parse(b)
}

pub use router::q;

/// Waits for a response's headers at most `d`; the daemon may legitimately
/// hold them (a long-poll), and then the caller must go on regardless.
pub async fn with_timeout<T>(d: Duration, f: impl std::future::Future<Output = T>) -> Option<T> {
    tokio::time::timeout(d, f).await.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_hosts_parse() {
        assert_eq!(
            SshTarget::parse("root@10.0.0.2:2222"),
            Some(SshTarget {
                user: Some("root".into()),
                host: "10.0.0.2".into(),
                port: Some(2222)
            })
        );
        assert_eq!(
            SshTarget::parse("box"),
            Some(SshTarget {
                user: None,
                host: "box".into(),
                port: None
            })
        );
        assert_eq!(SshTarget::parse("box/path"), None);
        assert!(Client::new("ssh://").is_err());
    }

    #[test]
    fn tls_without_a_ca_names_the_flag() {
        let e = Client::from_endpoint(&Endpoint {
            host: "tcp://127.0.0.1:2376".into(),
            tls: Some(Tls {
                verify: true,
                ca: None,
                cert: None,
                key: None,
            }),
        })
        .err()
        .unwrap();
        assert!(e.to_string().contains("--tlscacert"), "{e}");
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(version_lt("1.41", "1.50"));
        assert!(version_lt("1.9", "1.41"));
        assert!(!version_lt("1.50", "1.50"));
    }

    #[test]
    fn query_values_are_escaped() {
        assert_eq!(q("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }

    #[test]
    fn error_message_prefers_json_message() {
        assert_eq!(
            error_message(br#"{"message":"No such container: x"}"#),
            "No such container: x"
        );
        assert_eq!(error_message(b"plain\n"), "plain");
    }
}
