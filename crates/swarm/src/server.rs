//! The cluster port (2377) every manager serves over mutual TLS: the root
//! CA for nodes about to join (anonymous), the join itself (anonymous, the
//! token is the credential), and for joined nodes — identified by their
//! certificate, never by what they claim — the session that streams their
//! assignments, status reports and heartbeats, and the log lines they send
//! for the logs requests this manager serves.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use cluster::model::{Node, NodeState};
use futures_util::StreamExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::agent::{Dispatcher, StatusUpdate};
use crate::dispatcher::LocalDispatcher;
use crate::log_broker::{LogBroker, WireLine};
use crate::manager::SwarmRecord;
use crate::pki::{ClusterCa, Identity, JoinToken, Role};
use crate::store::{ClusterStore, Kind};
use crate::tls::NodeCredentials;
pub use crate::wire::{JoinRequest, JoinResponse, ManagerSetup, PromoteRequest};
use kvstore::EtcdStore;

#[derive(Clone)]
struct ServerState {
    store: ClusterStore,
    /// The etcd cluster's membership API (managers join as members).
    etcd: Option<EtcdStore>,
    data_key: crate::seal::DataKey,
    cluster_id: String,
    dispatcher: Arc<LocalDispatcher>,
    /// This manager's cluster address, for the managers list.
    advertise: String,
    /// The logs requests this manager serves, which nodes send lines for.
    logs: Arc<LogBroker>,
}

/// The connection's peer as its certificate says, if it showed one.
#[derive(Clone)]
struct Peer {
    identity: Option<Identity>,
    addr: SocketAddr,
}

/// A running cluster-port server; dropping it stops accepting.
pub struct ClusterServer {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ClusterServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The manager's parts the cluster port serves.
pub struct ServerParts {
    pub store: ClusterStore,
    /// The etcd cluster's membership API, where managers run the store.
    pub etcd: Option<EtcdStore>,
    pub data_key: crate::seal::DataKey,
    pub cluster_id: String,
    /// The logs requests this manager serves.
    pub logs: Arc<LogBroker>,
    /// The manager's copy of the cluster, which sessions read.
    pub mirror: Arc<crate::mirror::Mirror>,
}

impl ClusterServer {
    pub async fn start(
        listen: SocketAddr,
        advertise: String,
        creds: &NodeCredentials,
        parts: ServerParts,
    ) -> std::io::Result<ClusterServer> {
        let ServerParts {
            store,
            etcd,
            data_key,
            cluster_id,
            logs,
            mirror,
        } = parts;
        let config = crate::tls::server_config(creds).map_err(std::io::Error::other)?;
        let listener = TcpListener::bind(listen).await?;
        let state = ServerState {
            dispatcher: LocalDispatcher::new(store.clone(), data_key.clone(), None, mirror),
            data_key,
            store,
            etcd,
            cluster_id,
            advertise,
            logs,
        };
        let router = Router::new()
            .route("/v1/ca", get(ca))
            .route("/v1/join", post(join))
            .route("/v1/promote", post(promote))
            .route("/v1/session", get(session))
            .route("/v1/status", post(status))
            .route("/v1/heartbeat", post(heartbeat))
            .route("/v1/attach", post(attach))
            .route("/v1/detach", post(detach))
            .route("/v1/logs/{subscription}", post(node_logs))
            .with_state(state);
        let acceptor = TlsAcceptor::from(config);
        let task = tokio::spawn(async move {
            loop {
                let (tcp, addr) = match listener.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!("cluster port accept: {e}");
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let router = router.clone();
                tokio::spawn(async move {
                    // Bounded so a silent peer cannot hold a task forever.
                    let tls =
                        match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp))
                            .await
                        {
                            Ok(Ok(tls)) => tls,
                            Ok(Err(e)) => {
                                tracing::debug!("cluster port handshake from {addr}: {e}");
                                return;
                            }
                            Err(_) => return,
                        };
                    let identity = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .and_then(|c| crate::pki::identity(c).ok());
                    let app = router.layer(Extension(Peer { identity, addr }));
                    let svc = TowerToHyperService::new(app);
                    if let Err(e) = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tls), svc)
                        .await
                    {
                        tracing::debug!("cluster port connection from {addr}: {e}");
                    }
                });
            }
        });
        Ok(ClusterServer { task })
    }
}

fn refuse(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "message": msg.into() }))).into_response()
}

/// The node this request comes from, if its certificate is of this cluster.
fn node_of(peer: &Peer, state: &ServerState) -> Result<String, (StatusCode, &'static str)> {
    match &peer.identity {
        Some(id) if id.cluster_id == state.cluster_id => Ok(id.node_id.clone()),
        Some(_) => Err((StatusCode::FORBIDDEN, "a certificate of another cluster")),
        None => Err((StatusCode::UNAUTHORIZED, "a node certificate is required")),
    }
}

async fn ca(State(state): State<ServerState>) -> Response {
    match state.store.get::<SwarmRecord>(Kind::Swarm, "cluster").await {
        Ok(rec) => rec.value.swarm.cluster.tls_info.trust_root.into_response(),
        Err(e) => refuse(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

async fn join(
    State(state): State<ServerState>,
    Extension(peer): Extension<Peer>,
    Json(req): Json<JoinRequest>,
) -> Response {
    match admit(&state, &peer, req).await {
        Ok(resp) => Json(resp).into_response(),
        Err((status, msg)) => refuse(status, msg),
    }
}

fn unavailable(e: crate::store::StoreError) -> (StatusCode, String) {
    (StatusCode::SERVICE_UNAVAILABLE, e.to_string())
}

async fn swarm_record(state: &ServerState) -> Result<SwarmRecord, (StatusCode, String)> {
    Ok(state
        .store
        .get::<SwarmRecord>(Kind::Swarm, "cluster")
        .await
        .map_err(unavailable)?
        .value)
}

/// Checks the token against the cluster's, records the node and signs its
/// certificate with the role the token grants.
async fn admit(
    state: &ServerState,
    peer: &Peer,
    req: JoinRequest,
) -> Result<JoinResponse, (StatusCode, String)> {
    let rec = swarm_record(state).await?;
    // swarmkit's words for any token that grants nothing here.
    let invalid = || {
        (
            StatusCode::BAD_REQUEST,
            "rpc error: code = InvalidArgument desc = A valid join token is necessary to join this cluster".to_string(),
        )
    };
    let token = JoinToken::parse(&req.token).map_err(|_| invalid())?;
    let grants = |t: &str| JoinToken::parse(t).is_ok_and(|t| t.same_secret(&token));
    let role = if grants(&rec.swarm.join_tokens.manager) {
        Role::Manager
    } else if grants(&rec.swarm.join_tokens.worker) {
        Role::Worker
    } else {
        return Err(invalid());
    };
    let ca_pem = &rec.swarm.cluster.tls_info.trust_root;
    let internal = |e: crate::error::SwarmError| (StatusCode::INTERNAL_SERVER_ERROR, e.message);
    let ca_key = rec.ca_key(&state.data_key).map_err(internal)?;
    let ca = ClusterCa::from_pem(ca_pem, &ca_key)
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let node_id = crate::pki::new_id();
    let cert = sign(&ca, &rec, &req.csr, &node_id, role, &state.cluster_id)?;
    let host = if req.advertise_addr.is_empty() {
        peer.addr.ip().to_string()
    } else {
        req.advertise_addr
            .parse::<SocketAddr>()
            .map(|a| a.ip().to_string())
            .unwrap_or(req.advertise_addr.clone())
    };
    let now = crate::now();
    let mut node = Node {
        id: node_id.clone(),
        description: req.description,
        ..Default::default()
    };
    node.spec.role = if role == Role::Manager {
        "manager"
    } else {
        "worker"
    }
    .into();
    if role == Role::Manager {
        node.manager_status = Some(cluster::model::ManagerStatus {
            leader: false,
            reachability: cluster::model::Reachability::Reachable,
            addr: format!("{host}:{}", crate::CLUSTER_PORT),
        });
    }
    node.spec.availability = if req.availability.is_empty() {
        "active".into()
    } else {
        req.availability
    };
    node.status.state = NodeState::Ready;
    node.status.addr = host.clone();
    node.meta.created_at = now;
    node.meta.updated_at = now;
    state
        .store
        .create(Kind::Node, &node_id, None, &node)
        .await
        .map_err(unavailable)?;
    // It counts as alive from now: its agent beats within a second.
    let _ = crate::dispatcher::heartbeat(&state.store, &node_id).await;
    // Last: from the member's addition until it starts, a cluster of two
    // has no quorum and writes wait.
    let manager_setup = if role == Role::Manager {
        let unlock_key = rec
            .unlock_key(&state.data_key)
            .map_err(internal)?
            .map(|k| k.to_human().to_string());
        Some(add_member(state, &node_id, &host, &ca_key, unlock_key).await?)
    } else {
        None
    };
    Ok(JoinResponse {
        node_id,
        cluster_id: state.cluster_id.clone(),
        manager: manager_setup.is_some(),
        cert,
        ca: ca_pem.clone(),
        managers: vec![state.advertise.clone()],
        manager_setup,
    })
}

async fn promote(
    State(state): State<ServerState>,
    Extension(peer): Extension<Peer>,
    Json(req): Json<PromoteRequest>,
) -> Response {
    let node_id = match node_of(&peer, &state) {
        Ok(n) => n,
        Err((status, msg)) => return refuse(status, msg),
    };
    match elevate(&state, &node_id, &req.csr).await {
        Ok(resp) => Json(resp).into_response(),
        Err((status, msg)) => refuse(status, msg),
    }
}

async fn elevate(
    state: &ServerState,
    node_id: &str,
    csr: &str,
) -> Result<JoinResponse, (StatusCode, String)> {
    let rec = swarm_record(state).await?;
    let mut node = state
        .store
        .get::<Node>(Kind::Node, node_id)
        .await
        .map_err(|e| (StatusCode::NOT_FOUND, e.to_string()))?;
    if node.value.spec.role != "manager" {
        return Err((
            StatusCode::FORBIDDEN,
            format!("node {node_id} is not to be a manager"),
        ));
    }
    let host = node.value.status.addr.clone();
    let ca_pem = &rec.swarm.cluster.tls_info.trust_root;
    let internal = |e: crate::error::SwarmError| (StatusCode::INTERNAL_SERVER_ERROR, e.message);
    let ca_key = rec.ca_key(&state.data_key).map_err(internal)?;
    let ca = ClusterCa::from_pem(ca_pem, &ca_key)
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let cert = sign(&ca, &rec, csr, node_id, Role::Manager, &state.cluster_id)?;
    // An earlier attempt that failed after adding the member left it
    // unstarted: it goes, or the new one could never reach a quorum.
    if let Some(etcd) = &state.etcd
        && let Ok(members) = etcd.member_list().await
    {
        for m in members
            .iter()
            .filter(|m| m.name.is_empty() || m.name == node_id)
        {
            let ours = m.name == node_id
                || m.peer_urls
                    .iter()
                    .any(|u| u.contains(&format!("//{host}:")));
            if ours {
                let _ = etcd.member_remove(m.id).await;
            }
        }
    }
    loop {
        node.value.manager_status = Some(cluster::model::ManagerStatus {
            leader: false,
            reachability: cluster::model::Reachability::Reachable,
            addr: format!("{host}:{}", crate::CLUSTER_PORT),
        });
        node.value.meta.updated_at = crate::now();
        match state
            .store
            .update(Kind::Node, node_id, node.version, None, &node.value)
            .await
        {
            Ok(_) => break,
            Err(crate::store::StoreError::OutOfSequence) => {
                node = state
                    .store
                    .get::<Node>(Kind::Node, node_id)
                    .await
                    .map_err(unavailable)?;
            }
            Err(e) => return Err(unavailable(e)),
        }
    }
    let unlock_key = rec
        .unlock_key(&state.data_key)
        .map_err(internal)?
        .map(|k| k.to_human().to_string());
    let setup = add_member(state, node_id, &host, &ca_key, unlock_key).await?;
    Ok(JoinResponse {
        node_id: node_id.to_string(),
        cluster_id: state.cluster_id.clone(),
        manager: true,
        cert,
        ca: ca_pem.clone(),
        managers: vec![state.advertise.clone()],
        manager_setup: Some(setup),
    })
}

/// A node certificate for `csr`, valid as long as the cluster's CA
/// configuration says (an hour at least).
fn sign(
    ca: &ClusterCa,
    rec: &SwarmRecord,
    csr: &str,
    node_id: &str,
    role: Role,
    cluster_id: &str,
) -> Result<String, (StatusCode, String)> {
    let expiry = rec
        .swarm
        .cluster
        .spec
        .ca_config
        .node_cert_expiry
        .max(3_600_000_000_000) as u64;
    ca.issue(csr, node_id, role, cluster_id, Duration::from_nanos(expiry))
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("certificate request: {e}")))
}

/// Adds the joining manager to the etcd cluster (before it starts its
/// member, as etcd requires) and tells it how to start.
async fn add_member(
    state: &ServerState,
    node_id: &str,
    host: &str,
    ca_key: &str,
    unlock_key: Option<String>,
) -> Result<ManagerSetup, (StatusCode, String)> {
    let Some(etcd) = &state.etcd else {
        return Ok(ManagerSetup {
            ca_key: ca_key.to_string(),
            data_key: state.data_key.to_file().to_string(),
            unlock_key,
            initial_cluster: String::new(),
            endpoints: Vec::new(),
            peer_url: String::new(),
            client_url: String::new(),
            external: true,
        });
    };
    let ip: std::net::IpAddr = host.parse().map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            format!("manager address {host}: {e}"),
        )
    })?;
    let peer_url = format!("https://{}", SocketAddr::new(ip, crate::ETCD_PEER_PORT));
    let client_url = format!("https://{}", SocketAddr::new(ip, crate::ETCD_CLIENT_PORT));
    let added = etcd
        .member_add(node_id, std::slice::from_ref(&peer_url))
        .await
        .map_err(|e| {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("adding the etcd member: {e}"),
            )
        })?;
    let endpoints = added
        .members
        .iter()
        .flat_map(|m| m.client_urls.iter().cloned())
        .collect();
    Ok(ManagerSetup {
        ca_key: ca_key.to_string(),
        data_key: state.data_key.to_file().to_string(),
        unlock_key,
        initial_cluster: added.initial_cluster,
        endpoints,
        peer_url,
        client_url,
        external: false,
    })
}

/// The node's assignments as JSON lines, a new line on every change.
async fn session(State(state): State<ServerState>, Extension(peer): Extension<Peer>) -> Response {
    let node = match node_of(&peer, &state) {
        Ok(n) => n,
        Err((status, msg)) => return refuse(status, msg),
    };
    let rx = match state.dispatcher.assignments(&node).await {
        Ok(rx) => rx,
        Err(e) => return refuse(StatusCode::SERVICE_UNAVAILABLE, e.0),
    };
    let stream = tokio_stream::wrappers::WatchStream::new(rx).map(|a| {
        let mut line = serde_json::to_vec(&a).unwrap_or_default();
        line.push(b'\n');
        Ok::<_, std::io::Error>(line)
    });
    Response::builder()
        .header("content-type", "application/x-ndjson")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|e| refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

async fn status(
    State(state): State<ServerState>,
    Extension(peer): Extension<Peer>,
    Json(updates): Json<Vec<StatusUpdate>>,
) -> Response {
    let node = match node_of(&peer, &state) {
        Ok(n) => n,
        Err((status, msg)) => return refuse(status, msg),
    };
    match state.dispatcher.report(&node, updates).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => refuse(StatusCode::SERVICE_UNAVAILABLE, e.0),
    }
}

/// A node's container asks for an address on an attachable network: the
/// attachment task's id (the node is the one its certificate names).
async fn attach(
    State(state): State<ServerState>,
    Extension(peer): Extension<Peer>,
    Json(req): Json<crate::agent::AttachRequest>,
) -> Response {
    let node = match node_of(&peer, &state) {
        Ok(n) => n,
        Err((status, msg)) => return refuse(status, msg),
    };
    match state.dispatcher.attach_network(&node, &req).await {
        Ok(Some(id)) => Json(id).into_response(),
        Ok(None) => refuse(
            StatusCode::NOT_FOUND,
            format!("network {} not found", req.network),
        ),
        Err(e) => refuse(StatusCode::FORBIDDEN, e.0),
    }
}

async fn detach(
    State(state): State<ServerState>,
    Extension(peer): Extension<Peer>,
    Json(tasks): Json<Vec<String>>,
) -> Response {
    let node = match node_of(&peer, &state) {
        Ok(n) => n,
        Err((status, msg)) => return refuse(status, msg),
    };
    match state.dispatcher.detach_network(&node, &tasks).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => refuse(StatusCode::FORBIDDEN, e.0),
    }
}

async fn heartbeat(State(state): State<ServerState>, Extension(peer): Extension<Peer>) -> Response {
    let node = match node_of(&peer, &state) {
        Ok(n) => n,
        Err((status, msg)) => return refuse(status, msg),
    };
    match state.dispatcher.heartbeat(&node).await {
        Ok(next) => {
            Json(serde_json::json!({ "nextMillis": next.as_millis() as u64 })).into_response()
        }
        Err(e) => refuse(StatusCode::SERVICE_UNAVAILABLE, e.0),
    }
}

/// A node's lines for a logs request this manager serves: JSON lines, as
/// long as the node sends them and the request is open. The lines are the
/// node's whatever they claim: its certificate names it.
async fn node_logs(
    State(state): State<ServerState>,
    Extension(peer): Extension<Peer>,
    Path(subscription): Path<String>,
    body: Body,
) -> Response {
    let node = match node_of(&peer, &state) {
        Ok(n) => n,
        Err((status, msg)) => return refuse(status, msg),
    };
    let Some(out) = state.logs.attach(&subscription, &node).await else {
        return refuse(
            StatusCode::NOT_FOUND,
            format!("no logs subscription {subscription}"),
        );
    };
    let mut chunks = body.into_data_stream();
    let mut buf: Vec<u8> = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let Ok(chunk) = chunk else {
            break;
        };
        buf.extend_from_slice(&chunk);
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            let Some(l) = serde_json::from_slice::<WireLine>(&line)
                .ok()
                .and_then(|w| w.into_line(&node))
            else {
                return refuse(StatusCode::BAD_REQUEST, "a malformed log line");
            };
            // The request ended: the node stops when its upload fails.
            if out.send(l).await.is_err() {
                return refuse(StatusCode::GONE, "the logs request ended");
            }
        }
    }
    StatusCode::NO_CONTENT.into_response()
}
