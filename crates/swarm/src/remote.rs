//! A node's side of the cluster port: the join handshake (fetch the root,
//! pin it with the token's digest, send the token and a certificate
//! request over TLS that trusts only that root) and, once joined, the
//! [`Dispatcher`] its agent uses — a session streaming its assignments,
//! status reports and heartbeats, over mutual TLS to whichever manager
//! answers.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};

use crate::BoxFuture;
use crate::HEARTBEAT_EVERY;
use crate::agent::{Assignments, AttachRequest, Dispatcher, ExecError, StatusUpdate};
use crate::error::{ErrorKind, Result, SwarmError};
use crate::log_broker::{LogSubscription, WireLine};
use crate::logs::TaskLine;
use crate::pki::{JoinToken, NodeKey};
use crate::tls::NodeCredentials;
use crate::wire::{JoinRequest, JoinResponse, PromoteRequest};

/// Every manager certificate answers to this name; the address comes
/// from the managers list, not from DNS.
const MANAGER_HOST: &str = crate::pki::MANAGER_SERVER_NAME;

fn client(
    config: tokio_rustls::rustls::ClientConfig,
    manager: SocketAddr,
    timeout: Option<Duration>,
) -> std::result::Result<reqwest::Client, reqwest::Error> {
    let mut b = reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .resolve(MANAGER_HOST, manager)
        .connect_timeout(Duration::from_secs(3));
    if let Some(t) = timeout {
        b = b.timeout(t);
    }
    b.build()
}

fn url(manager: SocketAddr, path: &str) -> String {
    format!("https://{MANAGER_HOST}:{}{path}", manager.port())
}

fn unreachable(manager: SocketAddr, e: impl std::fmt::Display) -> SwarmError {
    SwarmError::new(
        ErrorKind::Unavailable,
        format!("could not reach the manager at {manager}: {e}"),
    )
}

/// `docker swarm join`: the credentials and answer of a joined node.
pub async fn join(
    manager: SocketAddr,
    token: &str,
    description: cluster::model::NodeDescription,
    advertise_addr: &str,
    availability: &str,
) -> Result<(JoinResponse, NodeCredentials)> {
    let token_parsed = JoinToken::parse(token)?;
    let tls = |e: crate::tls::TlsError| SwarmError::internal(e.to_string());
    // The root, from whoever answers: trusted only if the token pins it.
    let bootstrap = client(
        crate::tls::bootstrap_config().map_err(tls)?,
        manager,
        Some(Duration::from_secs(10)),
    )
    .map_err(|e| SwarmError::internal(e.to_string()))?;
    let ca_pem = bootstrap
        .get(url(manager, "/v1/ca"))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| unreachable(manager, e))?
        .text()
        .await
        .map_err(|e| unreachable(manager, e))?;
    if !token_parsed.pins(&ca_pem) {
        return Err(SwarmError::invalid(
            "remote CA does not match fingerprint in the join token",
        ));
    }
    let key = NodeKey::generate()?;
    let pinned = client(
        crate::tls::join_config(&ca_pem).map_err(tls)?,
        manager,
        Some(Duration::from_secs(30)),
    )
    .map_err(|e| SwarmError::internal(e.to_string()))?;
    let resp = pinned
        .post(url(manager, "/v1/join"))
        .json(&JoinRequest {
            token: token.to_string(),
            csr: key.csr_pem.clone(),
            description,
            advertise_addr: advertise_addr.to_string(),
            availability: availability.to_string(),
        })
        .send()
        .await
        .map_err(|e| unreachable(manager, e))?;
    let status = resp.status();
    if !status.is_success() {
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        let msg = body["message"]
            .as_str()
            .unwrap_or("join refused")
            .to_string();
        let kind = match status.as_u16() {
            400 => ErrorKind::InvalidArgument,
            501 => ErrorKind::NotImplemented,
            _ => ErrorKind::Unavailable,
        };
        return Err(SwarmError::new(kind, msg));
    }
    let answer: JoinResponse = resp.json().await.map_err(|e| unreachable(manager, e))?;
    let creds = NodeCredentials {
        ca_pem: answer.ca.clone(),
        cert_pem: answer.cert.clone(),
        key_pem: key.key_pem,
    };
    Ok((answer, creds))
}

/// A worker promoted in its node record asks a manager for a manager's
/// certificate and its place in the cluster store.
pub async fn promote(
    managers: &[SocketAddr],
    creds: &NodeCredentials,
) -> Result<(JoinResponse, NodeCredentials)> {
    let key = NodeKey::generate()?;
    let mut last = SwarmError::new(ErrorKind::Unavailable, "no manager to reach");
    for m in managers {
        let config =
            crate::tls::client_config(creds).map_err(|e| SwarmError::internal(e.to_string()))?;
        let c = client(config, *m, Some(Duration::from_secs(60)))
            .map_err(|e| SwarmError::internal(e.to_string()))?;
        let resp = match c
            .post(url(*m, "/v1/promote"))
            .json(&PromoteRequest {
                csr: key.csr_pem.clone(),
            })
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => {
                last = unreachable(*m, e);
                continue;
            }
        };
        if !resp.status().is_success() {
            let status = resp.status();
            let body: serde_json::Value = resp.json().await.unwrap_or_default();
            last = SwarmError::new(
                ErrorKind::Unavailable,
                format!(
                    "promotion refused by {m} ({status}): {}",
                    body["message"].as_str().unwrap_or("")
                ),
            );
            continue;
        }
        let answer: JoinResponse = resp.json().await.map_err(|e| unreachable(*m, e))?;
        let creds = NodeCredentials {
            ca_pem: answer.ca.clone(),
            cert_pem: answer.cert.clone(),
            key_pem: key.key_pem,
        };
        return Ok((answer, creds));
    }
    Err(last)
}

/// Sends a node's log lines to the manager that asked for them, over
/// mutual TLS with the node's certificate (which tells the manager whose
/// lines they are).
#[derive(Clone)]
pub struct LogClient {
    config: tokio_rustls::rustls::ClientConfig,
}

impl LogClient {
    pub fn new(creds: &NodeCredentials) -> Result<LogClient> {
        let config =
            crate::tls::client_config(creds).map_err(|e| SwarmError::internal(e.to_string()))?;
        Ok(LogClient { config })
    }

    /// `POST /v1/logs/{id}` to `sub`'s manager: the lines as JSON lines,
    /// streamed as they come, until they end or the manager hangs up.
    pub async fn publish(
        &self,
        sub: &LogSubscription,
        lines: mpsc::Receiver<TaskLine>,
    ) -> std::result::Result<(), ExecError> {
        let addr: SocketAddr = sub
            .manager_addr
            .parse()
            .or_else(|_| format!("{}:{}", sub.manager_addr, crate::CLUSTER_PORT).parse())
            .map_err(|e| exec_err(format!("manager address {}: {e}", sub.manager_addr)))?;
        let c = client(self.config.clone(), addr, None).map_err(exec_err)?;
        let body = tokio_stream::wrappers::ReceiverStream::new(lines).map(|l| {
            let mut line = serde_json::to_vec(&WireLine::from_line(&l)).unwrap_or_default();
            line.push(b'\n');
            Ok::<_, std::io::Error>(line)
        });
        c.post(url(addr, &format!("/v1/logs/{}", sub.id)))
            .header("content-type", "application/x-ndjson")
            .body(reqwest::Body::wrap_stream(body))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| exec_err(format!("logs to {addr}: {e}")))?;
        Ok(())
    }
}

/// The agent's dispatcher on a node that is not a manager: one client
/// (one kept-alive TLS connection) per manager, tried in order; the list
/// follows the managers the session reports.
pub struct RemoteDispatcher {
    creds: NodeCredentials,
    clients: std::sync::RwLock<Vec<(SocketAddr, reqwest::Client)>>,
    logs: LogClient,
}

impl RemoteDispatcher {
    pub fn new(managers: &[SocketAddr], creds: &NodeCredentials) -> Result<RemoteDispatcher> {
        let d = RemoteDispatcher {
            creds: creds.clone(),
            clients: std::sync::RwLock::new(Vec::new()),
            logs: LogClient::new(creds)?,
        };
        d.set_managers(managers)?;
        Ok(d)
    }

    /// Replaces the managers tried, keeping the connections of those that stay.
    pub fn set_managers(&self, managers: &[SocketAddr]) -> Result<()> {
        let old = self.clients(None);
        let mut clients = Vec::with_capacity(managers.len());
        for m in managers {
            if let Some((_, c)) = old.iter().find(|(a, _)| a == m) {
                clients.push((*m, c.clone()));
                continue;
            }
            let config = crate::tls::client_config(&self.creds)
                .map_err(|e| SwarmError::internal(e.to_string()))?;
            let c = client(config, *m, None).map_err(|e| SwarmError::internal(e.to_string()))?;
            clients.push((*m, c));
        }
        *self.clients.write().unwrap_or_else(|p| p.into_inner()) = clients;
        Ok(())
    }

    pub fn managers(&self) -> Vec<SocketAddr> {
        self.clients(None).into_iter().map(|(m, _)| m).collect()
    }

    fn clients(&self, _timeout: Option<Duration>) -> Vec<(SocketAddr, reqwest::Client)> {
        self.clients
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

fn exec_err(e: impl std::fmt::Display) -> ExecError {
    ExecError(e.to_string())
}

impl Dispatcher for RemoteDispatcher {
    fn assignments<'a>(
        &'a self,
        _node_id: &'a str,
    ) -> BoxFuture<'a, std::result::Result<watch::Receiver<Assignments>, ExecError>> {
        Box::pin(async move {
            let mut last = ExecError("no manager to reach".into());
            for (m, c) in self.clients(None) {
                let resp = match c
                    .get(url(m, "/v1/session"))
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                {
                    Ok(r) => r,
                    Err(e) => {
                        last = exec_err(format!("session with {m}: {e}"));
                        continue;
                    }
                };
                let mut lines = resp.bytes_stream();
                let mut buf: Vec<u8> = Vec::new();
                // The first assignment set arrives at once.
                let first = loop {
                    if let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = buf.drain(..=pos).collect();
                        break serde_json::from_slice::<Assignments>(&line).map_err(exec_err)?;
                    }
                    match lines.next().await {
                        Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
                        Some(Err(e)) => return Err(exec_err(e)),
                        None => return Err(exec_err(format!("session with {m} ended"))),
                    }
                };
                let (tx, rx) = watch::channel(first);
                tokio::spawn(async move {
                    loop {
                        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                            let line: Vec<u8> = buf.drain(..=pos).collect();
                            match serde_json::from_slice::<Assignments>(&line) {
                                Ok(a) => {
                                    tx.send_replace(a);
                                }
                                Err(e) => {
                                    tracing::warn!("session with {m}: {e}");
                                    return;
                                }
                            }
                        }
                        tokio::select! {
                            _ = tx.closed() => return,
                            chunk = lines.next() => match chunk {
                                Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
                                // The sender drops: the agent opens a new session.
                                _ => return,
                            },
                        }
                    }
                });
                return Ok(rx);
            }
            Err(last)
        })
    }

    fn report<'a>(
        &'a self,
        _node_id: &'a str,
        updates: Vec<StatusUpdate>,
    ) -> BoxFuture<'a, std::result::Result<(), ExecError>> {
        Box::pin(async move {
            let mut last = ExecError("no manager to reach".into());
            for (m, c) in self.clients(Some(Duration::from_secs(10))) {
                match c
                    .post(url(m, "/v1/status"))
                    .timeout(Duration::from_secs(10))
                    .json(&updates)
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                {
                    Ok(_) => return Ok(()),
                    Err(e) => last = exec_err(format!("status to {m}: {e}")),
                }
            }
            Err(last)
        })
    }

    fn heartbeat<'a>(
        &'a self,
        _node_id: &'a str,
    ) -> BoxFuture<'a, std::result::Result<Duration, ExecError>> {
        Box::pin(async move {
            let mut last = ExecError("no manager to reach".into());
            for (m, c) in self.clients(Some(Duration::from_secs(2))) {
                match c
                    .post(url(m, "/v1/heartbeat"))
                    .timeout(Duration::from_secs(2))
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                {
                    Ok(_) => return Ok(HEARTBEAT_EVERY),
                    Err(e) => last = exec_err(format!("heartbeat to {m}: {e}")),
                }
            }
            Err(last)
        })
    }

    fn attach_network<'a>(
        &'a self,
        _node_id: &'a str,
        req: &'a AttachRequest,
    ) -> BoxFuture<'a, std::result::Result<Option<String>, ExecError>> {
        Box::pin(async move {
            let mut last = ExecError("no manager to reach".into());
            for (m, c) in self.clients(Some(Duration::from_secs(10))) {
                let sent = c
                    .post(url(m, "/v1/attach"))
                    .timeout(Duration::from_secs(10))
                    .json(req)
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => return Ok(None),
                    Ok(r) if r.status().is_success() => {
                        let id: String = r.json().await.map_err(exec_err)?;
                        return Ok(Some(id));
                    }
                    // The manager's own answer (not attachable, …).
                    Ok(r) if r.status().is_client_error() => {
                        let body: serde_json::Value = r.json().await.unwrap_or_default();
                        let msg = body["message"].as_str().unwrap_or("refused by the manager");
                        return Err(ExecError(msg.to_string()));
                    }
                    Ok(r) => last = exec_err(format!("attach to {m}: {}", r.status())),
                    Err(e) => last = exec_err(format!("attach to {m}: {e}")),
                }
            }
            Err(last)
        })
    }

    fn detach_network<'a>(
        &'a self,
        _node_id: &'a str,
        task_ids: &'a [String],
    ) -> BoxFuture<'a, std::result::Result<(), ExecError>> {
        Box::pin(async move {
            let mut last = ExecError("no manager to reach".into());
            for (m, c) in self.clients(Some(Duration::from_secs(10))) {
                match c
                    .post(url(m, "/v1/detach"))
                    .timeout(Duration::from_secs(10))
                    .json(&task_ids)
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                {
                    Ok(_) => return Ok(()),
                    Err(e) => last = exec_err(format!("detach to {m}: {e}")),
                }
            }
            Err(last)
        })
    }

    fn publish_logs<'a>(
        &'a self,
        sub: &'a LogSubscription,
        lines: mpsc::Receiver<TaskLine>,
    ) -> BoxFuture<'a, std::result::Result<(), ExecError>> {
        Box::pin(self.logs.publish(sub, lines))
    }
}
