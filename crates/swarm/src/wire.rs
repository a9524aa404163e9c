//! The messages of the cluster port (2377) that the node's side
//! (`remote`) and the manager's side (`server`) exchange as JSON.

use cluster::model::NodeDescription;
use serde::{Deserialize, Serialize};

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
    /// The cluster keeps its state in an etcd the operator runs
    /// (`--cluster-store`): no member to start, the new manager connects to
    /// the store its own daemon is configured with.
    #[serde(default)]
    pub external: bool,
}

/// `POST /v1/promote`: a worker whose spec now says `manager` asks for
/// what a manager needs. Its certificate says who it is; the node record,
/// not the request, says whether it may.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromoteRequest {
    pub csr: String,
}
