//! Connection to the daemon: host selection, API version negotiation and
//! HTTP/1.1 requests (plain, streaming and hijacked) over a unix or TCP socket.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};

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
    #[error("invalid host {0:?}: expected unix://PATH or tcp://HOST:PORT")]
    BadHost(String),
}

pub type Result<T> = std::result::Result<T, ClientError>;

/// Any byte stream a request can travel over.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

#[derive(Clone, Debug)]
enum Endpoint {
    Unix(String),
    Tcp(String),
}

#[derive(Clone, Debug)]
pub struct Client {
    host: String,
    endpoint: Endpoint,
    version: String,
}

/// `-H` wins, then `$BERTH_HOST`, then `$DOCKER_HOST`, then the default socket.
pub fn resolve_host(flag: Option<&str>) -> String {
    if let Some(h) = flag.filter(|h| !h.is_empty()) {
        return h.to_string();
    }
    for var in ["BERTH_HOST", "DOCKER_HOST"] {
        if let Ok(v) = std::env::var(var)
            && !v.is_empty()
        {
            return v;
        }
    }
    DEFAULT_HOST.to_string()
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
    pub fn new(host: &str) -> Result<Client> {
        let endpoint = if let Some(p) = host.strip_prefix("unix://") {
            Endpoint::Unix(p.to_string())
        } else if let Some(a) = host.strip_prefix("tcp://") {
            Endpoint::Tcp(a.trim_end_matches('/').to_string())
        } else if host.starts_with('/') {
            Endpoint::Unix(host.to_string())
        } else {
            return Err(ClientError::BadHost(host.to_string()));
        };
        Ok(Client {
            host: host.to_string(),
            endpoint,
            version: CLIENT_API_VERSION.to_string(),
        })
    }

    pub fn api_version(&self) -> &str {
        &self.version
    }

    async fn dial(&self) -> Result<Box<dyn Io>> {
        let err = |_| ClientError::Connect {
            host: self.host.clone(),
        };
        Ok(match &self.endpoint {
            Endpoint::Unix(p) => Box::new(UnixStream::connect(p).await.map_err(err)?),
            Endpoint::Tcp(a) => Box::new(TcpStream::connect(a).await.map_err(err)?),
        })
    }

    /// Like the docker CLI: ask `/_ping` for the daemon's version and speak the
    /// lower of the two, so old daemons keep working.
    pub async fn negotiate(&mut self) -> Result<()> {
        let resp = self.raw(Method::GET, "/_ping", empty(), None).await?;
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
    /// its headers arrived; the body is still streaming.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Body,
        content_type: Option<&str>,
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
        let resp = self.raw(method, path, body, content_type).await?;
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

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Bytes> {
        let (b, ct) = match body {
            Some(v) => (json_body(v), Some("application/json")),
            None => (empty(), None),
        };
        let resp = self.request(method, path, b, ct).await?;
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

/// Percent-encodes a query value.
pub fn q(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Waits for a response's headers at most `d`; the daemon may legitimately
/// hold them (a long-poll), and then the caller must go on regardless.
pub async fn with_timeout<T>(d: Duration, f: impl std::future::Future<Output = T>) -> Option<T> {
    tokio::time::timeout(d, f).await.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

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
