//! The cluster port (2377) every manager serves over mutual TLS: the root
//! CA for nodes about to join (anonymous), the join itself (anonymous, the
//! token is the credential), and for joined nodes — identified by their
//! certificate, never by what they claim — the session that streams their
//! assignments, status reports and heartbeats.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use cluster::model::{Node, NodeDescription, NodeState};
use futures_util::StreamExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::agent::{Dispatcher, StatusUpdate};
use crate::dispatcher::LocalDispatcher;
use crate::manager::SwarmRecord;
use crate::pki::{ClusterCa, Identity, JoinToken, Role};
use crate::store::{ClusterStore, Kind};
use crate::tls::NodeCredentials;
use kvstore::EtcdStore;

/// `POST /v1/join`: what a joining node sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinRequest {
    pub token: String,
    pub csr: String,
    pub description: NodeDescription,
    /// Where the node is reachable; empty: the address it connected from.
    pub advertise_addr: String,
    pub availability: String,
}

/// The manager's answer: who the node is now and whom to talk to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JoinResponse {
    pub node_id: String,
    pub cluster_id: String,
    pub manager: bool,
    pub cert: String,
    pub ca: String,
    pub managers: Vec<String>,
    /// For a manager: what it needs to run the control plane.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager_setup: Option<ManagerSetup>,
}

/// A new manager gets the CA key (it signs node certificates too) and its
/// place in the etcd cluster (added as a member before it starts).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagerSetup {
    pub ca_key: String,
    /// The key that seals secrets at rest (managers unseal them for agents).
    pub data_key: String,
    /// With autolock, the unlock key (`SWMKEY-1-…`): the new manager's
    /// files are wrapped from their first write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unlock_key: Option<String>,
    pub initial_cluster: String,
    /// The client URLs of the members already there.
    pub endpoints: Vec<String>,
    pub peer_url: String,
    pub client_url: String,
}

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

impl ClusterServer {
    pub async fn start(
        listen: SocketAddr,
        advertise: String,
        creds: &NodeCredentials,
        store: ClusterStore,
        etcd: Option<EtcdStore>,
        data_key: crate::seal::DataKey,
        cluster_id: String,
    ) -> std::io::Result<ClusterServer> {
        let config = crate::tls::server_config(creds).map_err(std::io::Error::other)?;
        let listener = TcpListener::bind(listen).await?;
        let state = ServerState {
            dispatcher: LocalDispatcher::new(store.clone(), data_key.clone()),
            data_key,
            store,
            etcd,
            cluster_id,
            advertise,
        };
        let router = Router::new()
            .route("/v1/ca", get(ca))
            .route("/v1/join", post(join))
            .route("/v1/session", get(session))
            .route("/v1/status", post(status))
            .route("/v1/heartbeat", post(heartbeat))
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

/// Checks the token against the cluster's, records the node and signs its
/// certificate with the role the token grants.
async fn admit(
    state: &ServerState,
    peer: &Peer,
    req: JoinRequest,
) -> Result<JoinResponse, (StatusCode, String)> {
    let unavailable =
        |e: crate::store::StoreError| (StatusCode::SERVICE_UNAVAILABLE, e.to_string());
    let rec = state
        .store
        .get::<SwarmRecord>(Kind::Swarm, "cluster")
        .await
        .map_err(unavailable)?
        .value;
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
    let cert = ca
        .issue(
            &req.csr,
            &node_id,
            role,
            &state.cluster_id,
            Duration::from_nanos(
                rec.swarm
                    .cluster
                    .spec
                    .ca_config
                    .node_cert_expiry
                    .max(3_600_000_000_000) as u64,
            ),
        )
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("certificate request: {e}")))?;
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
        return Err((
            StatusCode::NOT_IMPLEMENTED,
            "not implemented: joining as a manager of a cluster whose store is not run by its managers".into(),
        ));
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
