//! This daemon's part in a swarm: whether it is in one, and the pieces it
//! runs while it is — for a manager its etcd member (a child process under
//! `<data-root>/swarm/etcd`, peer and client TLS from the cluster CA), the
//! control API and a campaign for leadership; for every node the agent.
//! `swarm init`, `join`, `leave`, `unlock` and a daemon restart go through
//! here; `member` runs the store, `roles` promotions and demotions,
//! `addr` reads the addresses.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::Duration;

use cluster::model::{
    ClusterInfo, JoinTokens, ManagerStatus, Node, NodeDescription, NodeState, Reachability,
    Swarm as SwarmObject, SwarmSpec,
};
use engine::Engine;
use kvstore::{ClusterState, EtcdMember, EtcdStore, KvStore, MemberConfig, SupervisedMember};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::watch;
use zeroize::Zeroizing;

use crate::agent::engine_executor::EngineExecutor;
use crate::agent::{Agent, Standing};
use crate::autolock::UnlockKey;
use crate::dispatcher::LocalDispatcher;
use crate::error::{ErrorKind, Result, SwarmError};
use crate::keeper::KeyKeeper;
use crate::leader::LeaderLoop;
use crate::local::{LocalState, ManagerKeys, MemberSettings, Membership, Private, StoreSettings};
use crate::log_broker::LogBroker;
use crate::manager::{Manager, Rotation, SwarmRecord};
use crate::mirror::Mirror;
use crate::pki::{ClusterCa, JoinToken, NodeKey, Role};
use crate::remote::RemoteDispatcher;
use crate::seal::DataKey;
use crate::server::ClusterServer;
use crate::store::{ClusterStore, Kind};
use crate::tls::NodeCredentials;

mod addr;
mod member;
mod roles;

use addr::{advertise_addr, listen_addr, parse_host_port, system_addr};
use member::{MemberStart, MemoryFile, StoreParts, stop_stale_member};

pub use crate::{CLUSTER_PORT, ETCD_CLIENT_PORT, ETCD_PEER_PORT};
/// Certificate files of an etcd client (`--cluster-store-*`).
pub use kvstore::TlsFiles;

/// How the daemon runs swarm mode.
#[derive(Debug, Clone)]
pub struct SwarmOptions {
    pub data_root: PathBuf,
    /// The engine's version, as nodes describe themselves.
    pub engine_version: String,
    /// The etcd binary; `None`: `etcd` on PATH.
    pub etcd_binary: Option<PathBuf>,
    /// An etcd cluster the operator runs (`--cluster-store`): managers keep
    /// the swarm's state there instead of each running a member.
    pub cluster_store: Option<ExternalStore>,
}

/// `--cluster-store https://h1:2379,…` with its client certificate.
#[derive(Debug, Clone)]
pub struct ExternalStore {
    pub endpoints: Vec<String>,
    pub tls: Option<TlsFiles>,
}

/// `POST /swarm/init`'s body, as the docker CLI sends it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct InitRequest {
    pub listen_addr: String,
    pub advertise_addr: String,
    pub data_path_addr: String,
    pub data_path_port: u32,
    pub default_addr_pool: Option<Vec<String>>,
    pub subnet_size: u32,
    pub force_new_cluster: bool,
    pub spec: Option<SwarmSpec>,
    pub auto_lock_managers: bool,
    pub availability: String,
}

/// `POST /swarm/join`'s body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct JoinRequestBody {
    pub listen_addr: String,
    pub advertise_addr: String,
    pub data_path_addr: String,
    pub remote_addrs: Vec<String>,
    pub join_token: String,
    pub availability: String,
}

/// What runs while this node is in a swarm.
struct Active {
    membership: Membership,
    /// A manager whose keys are wrapped and no unlock key was given since
    /// the daemon started: nothing else runs, as for dockerd.
    locked: bool,
    manager: Option<Manager>,
    /// Dropped before the member: they talk to it.
    agent: Option<Agent>,
    leader: Option<LeaderLoop>,
    /// The cluster port, on managers.
    server: Option<ClusterServer>,
    /// Keeps the private files wrapped with the cluster's unlock key.
    keeper: Option<Arc<KeyKeeper>>,
    keeper_task: Option<AbortOnDrop>,
    member: Option<SupervisedMember>,
    /// The etcd member's key as the member and this daemon read it: held
    /// open while the member runs, so its `/proc/self/fd` path never names
    /// another file here.
    _member_key: Option<MemoryFile>,
    /// The cluster store (managers): a demotion reads and writes through it.
    store: Option<ClusterStore>,
    etcd: Option<EtcdStore>,
    /// A worker's session client, whose managers list follows the cluster.
    remote: Option<Arc<RemoteDispatcher>>,
    /// Follows the node's standing (role, managers) from its assignments.
    standing: Option<AbortOnDrop>,
    /// Hands the routed services of the agent's assignments on to
    /// [`Swarm::routes`].
    routes: Option<AbortOnDrop>,
}

impl Active {
    fn locked(membership: Membership) -> Active {
        Active {
            membership,
            locked: true,
            manager: None,
            agent: None,
            leader: None,
            server: None,
            keeper: None,
            keeper_task: None,
            member: None,
            _member_key: None,
            store: None,
            etcd: None,
            remote: None,
            standing: None,
            routes: None,
        }
    }

    /// Stops everything but the etcd member, in order (the agent and the
    /// leader talk to the store, so they go first); the member is the
    /// caller's to stop, or to keep.
    fn wind_down(self) -> (Membership, Option<SupervisedMember>) {
        let Active {
            membership,
            agent,
            leader,
            server,
            keeper_task,
            member,
            standing,
            routes,
            ..
        } = self;
        drop(routes);
        drop(standing);
        drop(agent);
        drop(leader);
        drop(server);
        drop(keeper_task);
        (membership, member)
    }
}

/// A task that ends with its owner.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub struct Swarm {
    engine: Arc<Engine>,
    /// The logs requests this daemon serves as a manager.
    logs: Arc<LogBroker>,
    local: LocalState,
    opts: SwarmOptions,
    active: tokio::sync::Mutex<Option<Active>>,
    /// The cluster's routed services as this node's agent last applied
    /// them (its legs on their networks set up): the HTTP router's source.
    routes: watch::Sender<Vec<crate::routes::RoutedService>>,
    /// Role changes run as tasks of their own that need the swarm.
    me: Weak<Swarm>,
}

impl Swarm {
    /// Resumes the membership a previous run left (its etcd member, the
    /// leader campaign, the agent), or starts inactive.
    pub async fn open(engine: Arc<Engine>, opts: SwarmOptions) -> Arc<Swarm> {
        let swarm = Arc::new_cyclic(|me| Swarm {
            engine,
            logs: LogBroker::new(),
            local: LocalState::new(&opts.data_root),
            opts,
            active: tokio::sync::Mutex::new(None),
            routes: watch::channel(Vec::new()).0,
            me: me.clone(),
        });
        match swarm.local.load_membership() {
            Ok(None) => {}
            Ok(Some(membership)) => match swarm.resume(membership).await {
                Ok(active) => *swarm.active.lock().await = Some(active),
                Err(e) => tracing::error!("swarm: resuming this node's membership: {e}"),
            },
            Err(e) => tracing::error!("swarm: reading this node's membership: {e}"),
        }
        swarm
    }

    /// The cluster's services routed by HTTP host name (see
    /// [`crate::routes`]); empty out of swarm mode.
    pub fn routes(&self) -> watch::Receiver<Vec<crate::routes::RoutedService>> {
        self.routes.subscribe()
    }

    /// Hands `agent`'s applied routes on to [`Self::routes`].
    fn follow_routes(&self, agent: &Agent) -> AbortOnDrop {
        let mut rx = agent.assignments();
        let tx = self.routes.clone();
        AbortOnDrop(tokio::spawn(async move {
            loop {
                let routes = rx.borrow_and_update().routes.clone();
                tx.send_if_modified(|r| {
                    let changed = *r != routes;
                    *r = routes;
                    changed
                });
                if rx.changed().await.is_err() {
                    return;
                }
            }
        }))
    }

    /// The control API, on a manager.
    pub async fn manager(&self) -> Result<Manager> {
        match &*self.active.lock().await {
            None => Err(SwarmError::no_manager()),
            Some(a) if a.locked => Err(SwarmError::locked()),
            Some(Active {
                manager: Some(m), ..
            }) => Ok(m.clone()),
            Some(_) => Err(SwarmError::not_a_manager()),
        }
    }

    /// `POST /swarm/update`. This manager's files follow the new unlock key
    /// before the answer, so a restart right after needs the key just
    /// shown; the other managers follow through their [`KeyKeeper`].
    pub async fn update_swarm(
        &self,
        version: i64,
        spec: SwarmSpec,
        rotate: Rotation,
    ) -> Result<()> {
        let (manager, keeper) = {
            let guard = self.active.lock().await;
            let keeper = guard.as_ref().and_then(|a| a.keeper.clone());
            drop(guard);
            (self.manager().await?, keeper)
        };
        manager.update_swarm(version, spec, rotate).await?;
        if let Some(keeper) = keeper {
            keeper.sync().await?;
        }
        Ok(())
    }

    /// `POST /swarm/unlock`: opens this manager's files with `key` and starts
    /// what a locked manager does not run. A wrong key leaves it locked.
    pub async fn unlock(&self, key: &str) -> Result<()> {
        let mut guard = self.active.lock().await;
        let membership = match guard.as_ref() {
            None => return Err(SwarmError::no_manager()),
            Some(a) if a.locked => a.membership.clone(),
            Some(a) if a.manager.is_some() => return Err(SwarmError::not_locked()),
            Some(_) => return Err(SwarmError::not_a_manager()),
        };
        let key = UnlockKey::parse(key)?;
        let keys = self.local.open_manager_keys(Some(&key))?;
        let active = self
            .resume_manager(membership, keys, Some(key))
            .await
            .map_err(|e| {
                SwarmError::new(
                    e.kind,
                    format!("swarm component could not be started: {}", e.message),
                )
            })?;
        *guard = Some(active);
        Ok(())
    }

    /// The log lines of the selected tasks' containers on every node
    /// (see [`crate::log_broker`]); on a manager.
    pub async fn task_logs(
        &self,
        selector: crate::logs::Selector,
        opts: engine::LogOptions,
    ) -> Result<tokio::sync::mpsc::Receiver<crate::logs::TaskLine>> {
        let (store, node_id, addr) = match &*self.active.lock().await {
            None => return Err(SwarmError::no_manager()),
            Some(a) if a.locked => return Err(SwarmError::locked()),
            Some(Active {
                manager: Some(m),
                membership,
                ..
            }) => (
                m.store().clone(),
                membership.node_id.clone(),
                membership.advertise_addr.clone(),
            ),
            Some(_) => return Err(SwarmError::not_a_manager()),
        };
        let local = crate::logs::stream(self.engine.clone(), selector.clone(), opts.clone());
        let req = crate::log_broker::Request {
            store,
            broker: self.logs.clone(),
            node_id,
            addr,
            local,
        };
        Ok(crate::log_broker::serve(req, selector, opts).await?)
    }

    /// `POST /swarm/init`: a new cluster with this node as its manager.
    pub async fn init(&self, req: InitRequest) -> Result<String> {
        let mut active = self.active.lock().await;
        // As dockerd: on a node in no swarm the flag changes nothing.
        if req.force_new_cluster && active.is_some() {
            return self.force_new_cluster(&mut active, &req).await;
        }
        if active.is_some() {
            return Err(SwarmError::already_in_swarm());
        }
        let listen = listen_addr(&req.listen_addr)?;
        let advertise = advertise_addr(&req.advertise_addr, listen).await?;
        // The CLI sets both; docker-py only the spec's.
        let autolock = req.auto_lock_managers
            || req
                .spec
                .as_ref()
                .is_some_and(|s| s.encryption_config.auto_lock_managers);
        let unlock = if autolock {
            Some(UnlockKey::generate()?)
        } else {
            None
        };
        let ca = ClusterCa::generate()?;
        let data_key = DataKey::generate()?;
        let cluster_id = crate::pki::new_id();
        let node_id = crate::pki::new_id();
        let creds = issue(&ca, &node_id, Role::Manager, &cluster_id)?;
        let member = MemberSettings {
            name: node_id.clone(),
            client_url: format!(
                "https://{}",
                SocketAddr::new(advertise.ip(), ETCD_CLIENT_PORT)
            ),
            peer_url: format!(
                "https://{}",
                SocketAddr::new(advertise.ip(), ETCD_PEER_PORT)
            ),
        };
        let store_settings = match &self.opts.cluster_store {
            Some(external) => StoreSettings {
                endpoints: external.endpoints.clone(),
                member: None,
            },
            None => StoreSettings {
                endpoints: vec![member.client_url.clone()],
                member: Some(member),
            },
        };
        let membership = Membership {
            node_id: node_id.clone(),
            cluster_id: cluster_id.clone(),
            manager: true,
            advertise_addr: advertise.to_string(),
            listen_addr: listen.to_string(),
            data_path_addr: req.data_path_addr.clone(),
            remote_managers: vec![advertise.to_string()],
            store: Some(store_settings),
        };
        let member_key = if self.opts.cluster_store.is_some() {
            Zeroizing::new(String::new())
        } else {
            // A data dir from an earlier cluster would make etcd rejoin it.
            let _ = std::fs::remove_dir_all(self.local.etcd_dir());
            self.issue_member_cert(&membership, &ca, unlock.as_ref())?
        };
        let parts = self
            .start_store(&membership, &member_key, MemberStart::Own)
            .await?;
        let kv: Arc<dyn KvStore> = Arc::new(parts.client.clone());
        let store = ClusterStore::new(kv, &cluster_id);
        let now = crate::now();
        let mut spec = SwarmSpec::with_defaults();
        if let Some(given) = &req.spec {
            merge_spec(&mut spec, given);
        }
        spec.encryption_config.auto_lock_managers = autolock;
        let tls = ca.tls_info()?;
        let mut cluster = ClusterInfo {
            id: cluster_id.clone(),
            spec,
            root_rotation_in_progress: false,
            // dockerd's default pool for overlay subnets.
            default_addr_pool: req
                .default_addr_pool
                .clone()
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| vec!["10.0.0.0/8".into()]),
            subnet_size: if req.subnet_size == 0 {
                24
            } else {
                req.subnet_size
            },
            data_path_port: if req.data_path_port == 0 {
                4789
            } else {
                req.data_path_port
            },
            ..Default::default()
        };
        cluster.tls_info.trust_root = tls.trust_root;
        cluster.tls_info.cert_issuer_subject = b64(&tls.cert_issuer_subject);
        cluster.tls_info.cert_issuer_public_key = b64(&tls.cert_issuer_public_key);
        cluster.meta.created_at = now;
        cluster.meta.updated_at = now;
        let mut record = SwarmRecord::new(
            SwarmObject {
                cluster,
                join_tokens: JoinTokens {
                    worker: JoinToken::generate(ca.cert_pem()).to_string(),
                    manager: JoinToken::generate(ca.cert_pem()).to_string(),
                },
            },
            ca.key_pem(),
            &data_key,
        )?;
        record.set_unlock_key(unlock.as_ref(), &data_key)?;
        store.create(Kind::Swarm, "cluster", None, &record).await?;
        let mut node = self.describe(&node_id, &advertise, &req.availability);
        node.meta.created_at = now;
        node.meta.updated_at = now;
        let ingress = crate::manager::default_ingress(
            &record.swarm.cluster.default_addr_pool,
            record.swarm.cluster.subnet_size,
        )?;
        // The first node's leg on ingress comes with it: the leader's first
        // pass would otherwise rewrite the node a moment after `swarm init`
        // returned, and an update made with the version init showed fails.
        if let Some(legs) = crate::leader::first_node_attachments(&ingress, &node) {
            node.attachments = legs;
        }
        store.create(Kind::Node, &node_id, None, &node).await?;
        store
            .create(
                Kind::Network,
                &ingress.id.clone(),
                Some("ingress"),
                &ingress,
            )
            .await?;
        self.local
            .save_data_key(&data_key, unlock.as_ref())
            .and_then(|()| self.local.save(&membership, &creds, unlock.as_ref()))
            .map_err(|e| SwarmError::internal(format!("saving the swarm membership: {e}")))?;
        let keys = ManagerKeys {
            node_key: Zeroizing::new(creds.key_pem.clone()),
            data_key,
            member_key,
        };
        *active = Some(
            self.run(membership, creds, store, keys, unlock, parts)
                .await,
        );
        Ok(node_id)
    }

    /// `swarm init --force-new-cluster` on a manager of a cluster that lost
    /// its quorum: its etcd member starts again alone (etcd's own
    /// `--force-new-cluster`), keeping every object; the other managers are
    /// out of the store and shown as workers (their daemons must leave and
    /// join again, as with dockerd).
    async fn force_new_cluster(
        &self,
        guard: &mut Option<Active>,
        req: &InitRequest,
    ) -> Result<String> {
        let Some(active) = guard.as_ref() else {
            return Err(SwarmError::not_in_swarm());
        };
        if active.locked {
            return Err(SwarmError::locked());
        }
        let Some(keeper) = active.keeper.clone().filter(|_| active.membership.manager) else {
            return Err(SwarmError::new(
                ErrorKind::InvalidArgument,
                "--force-new-cluster recovers a cluster from one of its managers; this node is a worker",
            ));
        };
        if active.member.is_none() {
            return Err(SwarmError::invalid(
                "--force-new-cluster restarts the etcd member this manager runs; this cluster keeps its state in an external etcd: recover its quorum with etcd's own tools",
            ));
        }
        let (keys, unlock) = keeper.held().await;
        let creds = self
            .local
            .credentials(&keys.node_key)
            .map_err(|e| SwarmError::internal(format!("reading this node's certificates: {e}")))?;
        self.engine.set_network_attacher(None);
        let Some(active) = guard.take() else {
            return Err(SwarmError::not_in_swarm());
        };
        let (mut membership, member) = active.wind_down();
        if let Some(member) = member
            && let Err(e) = member.stop().await
        {
            tracing::warn!("swarm: stopping the etcd member: {e}");
        }
        if !req.advertise_addr.is_empty() {
            let listen: SocketAddr = membership
                .listen_addr
                .parse()
                .map_err(|e| SwarmError::internal(format!("listen address: {e}")))?;
            let advertise = advertise_addr(&req.advertise_addr, listen).await?;
            if advertise.to_string() != membership.advertise_addr {
                return Err(SwarmError::invalid(format!(
                    "--force-new-cluster keeps this manager's address {}: the cluster store's members are named by it",
                    membership.advertise_addr
                )));
            }
        }
        if let Some(store) = membership.store.as_mut()
            && let Some(own) = store.member.as_ref()
        {
            store.endpoints = vec![own.client_url.clone()];
        }
        membership.remote_managers = vec![membership.advertise_addr.clone()];
        self.local
            .save_membership(&membership)
            .map_err(|e| SwarmError::internal(format!("saving the swarm membership: {e}")))?;
        let parts = self
            .start_store(&membership, &keys.member_key, MemberStart::ForceNew)
            .await?;
        let kv: Arc<dyn KvStore> = Arc::new(parts.client.clone());
        let store = ClusterStore::new(kv, &membership.cluster_id);
        let node_id = membership.node_id.clone();
        // The other managers are no members any more: their records say so.
        let (nodes, _) = store.list::<Node>(Kind::Node).await?;
        for n in nodes {
            if n.value.id == node_id || n.value.manager_status.is_none() {
                continue;
            }
            let mut node = n.value;
            node.manager_status = None;
            node.spec.role = "worker".into();
            node.meta.updated_at = crate::now();
            store
                .update(Kind::Node, &node.id.clone(), n.version, None, &node)
                .await?;
        }
        tracing::warn!("swarm: a new cluster from this manager's state (--force-new-cluster)");
        *guard = Some(
            self.run(membership, creds, store, keys, unlock, parts)
                .await,
        );
        Ok(node_id)
    }

    /// `POST /swarm/leave`.
    pub async fn leave(&self, force: bool) -> Result<()> {
        let mut guard = self.active.lock().await;
        let Some(active) = guard.as_ref() else {
            return Err(SwarmError::not_in_swarm());
        };
        if active.locked && !force {
            return Err(SwarmError::new(
                ErrorKind::Unavailable,
                "Swarm is encrypted and locked. Please unlock it first or use `--force` to ignore this message.",
            ));
        }
        if active.membership.manager && !force {
            return Err(SwarmError::new(
                ErrorKind::Unavailable,
                "You are attempting to leave the swarm on a node that is participating as a manager. Removing the last manager erases all current state of the swarm. Use `--force` to ignore this message.",
            ));
        }
        let Some(active) = guard.take() else {
            return Err(SwarmError::not_in_swarm());
        };
        let locked = active.locked;
        let (_, member) = active.wind_down();
        self.routes.send_replace(Vec::new());
        // As dockerd: the node's task containers go with the swarm (not
        // known while locked: dockerd has no node id then).
        for c in self.engine.containers().into_iter().filter(|_| !locked) {
            let is_task = c
                .record
                .config
                .labels
                .as_ref()
                .is_some_and(|l| l.contains_key(crate::labels::TASK_ID_LABEL));
            if is_task && let Err(e) = self.engine.remove(&c.record.id, true, false).await {
                tracing::warn!("swarm leave: removing task container {}: {e}", c.record.id);
            }
        }
        if let Some(member) = member
            && let Err(e) = member.stop().await
        {
            tracing::warn!("swarm leave: stopping the etcd member: {e}");
        }
        self.local
            .clear()
            .map_err(|e| SwarmError::internal(format!("removing the swarm state: {e}")))?;
        Ok(())
    }

    /// The `Swarm` header of `/_ping`: `inactive`, `active/manager` or `active/worker`.
    pub async fn ping_status(&self) -> &'static str {
        match &*self.active.lock().await {
            None => "inactive",
            Some(a) if a.locked => "locked",
            Some(a) if a.manager.is_some() => "active/manager",
            Some(_) => "active/worker",
        }
    }

    /// `/info`'s `Swarm` block, as dockerd fills it.
    pub async fn info(&self) -> Value {
        let guard = self.active.lock().await;
        let Some(active) = guard.as_ref() else {
            return json!({
                "NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive",
                "ControlAvailable": false, "Error": "", "RemoteManagers": null
            });
        };
        let m = &active.membership;
        let host = m
            .advertise_addr
            .parse::<SocketAddr>()
            .map(|a| a.ip().to_string())
            .unwrap_or_default();
        if active.locked {
            // As dockerd: no node runs, so no id and no managers known.
            return json!({
                "NodeID": "", "NodeAddr": host, "LocalNodeState": "locked",
                "ControlAvailable": false, "Error": SwarmError::locked().message,
                "RemoteManagers": null
            });
        }
        let mut info = json!({
            "NodeID": m.node_id,
            "NodeAddr": host,
            "LocalNodeState": "active",
            "ControlAvailable": m.manager,
            "Error": "",
            "RemoteManagers": m.remote_managers.iter().map(|a| json!({"NodeID": m.node_id, "Addr": a})).collect::<Vec<_>>(),
        });
        if let Some(manager) = &active.manager {
            let nodes = manager.nodes(&Default::default()).await.unwrap_or_default();
            info["Nodes"] = json!(nodes.len());
            info["Managers"] = json!(nodes.iter().filter(|n| n.manager_status.is_some()).count());
            if let Ok(s) = manager.swarm().await {
                info["Cluster"] = serde_json::to_value(&s.cluster).unwrap_or(Value::Null);
            }
        }
        info
    }

    async fn resume(&self, membership: Membership) -> Result<Active> {
        if !membership.manager {
            let creds = self.local.load_worker()?;
            return self.run_worker(membership, &creds);
        }
        if self.local.is_locked()? {
            // A member that a killed daemon left running goes now: it
            // would serve the store while this manager is locked.
            stop_stale_member(&self.local.dir().join("etcd.pid"), &self.local.etcd_dir());
            tracing::info!("swarm: this manager is locked: `docker swarm unlock` starts it");
            return Ok(Active::locked(membership));
        }
        let keys = self.local.open_manager_keys(None)?;
        self.resume_manager(membership, keys, None).await
    }

    /// A manager's etcd member, then its control plane, from its keys.
    async fn resume_manager(
        &self,
        membership: Membership,
        keys: ManagerKeys,
        unlock: Option<UnlockKey>,
    ) -> Result<Active> {
        let creds = self
            .local
            .credentials(&keys.node_key)
            .map_err(|e| SwarmError::internal(format!("reading this node's certificates: {e}")))?;
        let parts = self
            .start_store(&membership, &keys.member_key, MemberStart::Own)
            .await?;
        let kv: Arc<dyn KvStore> = Arc::new(parts.client.clone());
        let store = ClusterStore::new(kv, &membership.cluster_id);
        Ok(self
            .run(membership, creds, store, keys, unlock, parts)
            .await)
    }

    async fn run(
        &self,
        membership: Membership,
        creds: NodeCredentials,
        store: ClusterStore,
        keys: ManagerKeys,
        unlock: Option<UnlockKey>,
        parts: StoreParts,
    ) -> Active {
        // This node beats before anyone can judge it down.
        if let Err(e) = crate::dispatcher::heartbeat(&store, &membership.node_id).await {
            tracing::warn!("swarm: first heartbeat: {e}");
        }
        let data_key = keys.data_key.clone();
        let manager = Manager::new(store.clone(), membership.node_id.clone(), data_key.clone());
        // One copy of the cluster for the leader loop and every session here.
        let mirror = Mirror::spawn(store.clone());
        let leader = LeaderLoop::spawn(store.clone(), mirror.clone(), membership.node_id.clone());
        // The membership API is for members this cluster runs itself.
        let etcd = parts.member.is_some().then_some(parts.client);
        let server = match self
            .start_server(
                &membership,
                &creds,
                &store,
                etcd.clone(),
                &data_key,
                mirror.clone(),
            )
            .await
        {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!("swarm: the cluster port {}: {e}", membership.listen_addr);
                None
            }
        };
        // Its first sync catches up with a key changed while this manager was away.
        let keeper = Arc::new(KeyKeeper::new(
            self.local.clone(),
            store.clone(),
            keys,
            unlock,
        ));
        let keeper_task = AbortOnDrop(keeper.clone().spawn());
        let log_client = crate::remote::LogClient::new(&creds)
            .inspect_err(|e| tracing::warn!("swarm: a client for sending logs: {e}"))
            .ok();
        let dispatcher = LocalDispatcher::new(store.clone(), data_key, log_client, mirror);
        let agent = Agent::start(
            membership.node_id.clone(),
            self.node_info(),
            dispatcher.clone(),
            Arc::new(EngineExecutor::new(self.engine.clone())),
        );
        self.open_attachments(&membership.node_id, dispatcher, &agent);
        let standing = self.follow_standing(&agent, true, None);
        let routes = self.follow_routes(&agent);
        Active {
            membership,
            locked: false,
            manager: Some(manager),
            agent: Some(agent),
            leader: Some(leader),
            server,
            keeper: Some(keeper),
            keeper_task: Some(keeper_task),
            member: parts.member,
            _member_key: parts.key,
            store: Some(store),
            etcd,
            remote: None,
            standing: Some(standing),
            routes: Some(routes),
        }
    }

    async fn start_server(
        &self,
        membership: &Membership,
        creds: &NodeCredentials,
        store: &ClusterStore,
        etcd: Option<EtcdStore>,
        data_key: &DataKey,
        mirror: Arc<Mirror>,
    ) -> std::io::Result<ClusterServer> {
        let listen: SocketAddr = membership
            .listen_addr
            .parse()
            .map_err(std::io::Error::other)?;
        ClusterServer::start(
            listen,
            membership.advertise_addr.clone(),
            creds,
            crate::server::ServerParts {
                store: store.clone(),
                etcd,
                data_key: data_key.clone(),
                cluster_id: membership.cluster_id.clone(),
                logs: self.logs.clone(),
                mirror,
            },
        )
        .await
    }

    /// A worker: only the agent, talking to the managers over the cluster port.
    fn run_worker(&self, membership: Membership, creds: &NodeCredentials) -> Result<Active> {
        let managers: Vec<SocketAddr> = membership
            .remote_managers
            .iter()
            .filter_map(|m| m.parse().ok())
            .collect();
        let dispatcher = Arc::new(RemoteDispatcher::new(&managers, creds)?);
        let agent = Agent::start(
            membership.node_id.clone(),
            self.node_info(),
            dispatcher.clone(),
            Arc::new(EngineExecutor::new(self.engine.clone())),
        );
        self.open_attachments(&membership.node_id, dispatcher.clone(), &agent);
        let standing = self.follow_standing(&agent, false, Some(dispatcher.clone()));
        let routes = self.follow_routes(&agent);
        Ok(Active {
            agent: Some(agent),
            locked: false,
            remote: Some(dispatcher),
            standing: Some(standing),
            routes: Some(routes),
            ..Active::locked(membership)
        })
    }

    /// `POST /swarm/join`: joins the swarm a manager at one of
    /// `remote_addrs` runs, with the role the token grants.
    pub async fn join(&self, req: JoinRequestBody) -> Result<()> {
        let mut active = self.active.lock().await;
        if active.is_some() {
            return Err(SwarmError::already_in_swarm());
        }
        let listen = listen_addr(&req.listen_addr)?;
        let remote = req
            .remote_addrs
            .first()
            .and_then(|r| parse_host_port(r))
            .ok_or_else(|| {
                SwarmError::invalid("invalid remote address: a manager's host:port is needed")
            })?;
        let advertise = if req.advertise_addr.is_empty() {
            String::new()
        } else {
            advertise_addr(&req.advertise_addr, listen)
                .await?
                .to_string()
        };
        let (answer, creds) = crate::remote::join(
            remote,
            &req.join_token,
            describe_host(&self.opts.engine_version),
            &advertise,
            &req.availability,
        )
        .await?;
        let mut membership = Membership {
            node_id: answer.node_id.clone(),
            cluster_id: answer.cluster_id.clone(),
            manager: answer.manager,
            advertise_addr: advertise,
            listen_addr: listen.to_string(),
            data_path_addr: req.data_path_addr.clone(),
            remote_managers: answer.managers.clone(),
            store: None,
        };
        let Some(setup) = answer.manager_setup else {
            self.local
                .save(&membership, &creds, None)
                .map_err(|e| SwarmError::internal(format!("saving the swarm membership: {e}")))?;
            *active = Some(self.run_worker(membership, &creds)?);
            return Ok(());
        };
        membership.manager = true;
        *active = Some(self.become_manager(membership, creds, setup).await?);
        Ok(())
    }

    /// A node that joined as a manager or was promoted: its own etcd member
    /// first, then the control plane.
    async fn become_manager(
        &self,
        mut membership: Membership,
        creds: NodeCredentials,
        setup: crate::server::ManagerSetup,
    ) -> Result<Active> {
        let listen: SocketAddr = membership
            .listen_addr
            .parse()
            .map_err(|e| SwarmError::internal(format!("listen address: {e}")))?;
        if membership.advertise_addr.is_empty() {
            // The address the manager saw it at, which its etcd URLs carry.
            let host = if setup.external {
                system_addr().await.map_err(SwarmError::invalid)?
            } else {
                setup
                    .client_url
                    .trim_start_matches("https://")
                    .parse::<SocketAddr>()
                    .map(|a| a.ip())
                    .map_err(|e| SwarmError::internal(format!("etcd address: {e}")))?
            };
            membership.advertise_addr = SocketAddr::new(host, listen.port()).to_string();
        }
        membership.store = Some(if setup.external {
            let Some(external) = &self.opts.cluster_store else {
                return Err(SwarmError::new(
                    ErrorKind::InvalidArgument,
                    "this cluster keeps its state in an external etcd: start this daemon with --cluster-store (the same endpoints as the managers') to join it as a manager",
                ));
            };
            StoreSettings {
                endpoints: external.endpoints.clone(),
                member: None,
            }
        } else {
            let mut endpoints = vec![setup.client_url.clone()];
            endpoints.extend(setup.endpoints.iter().cloned());
            StoreSettings {
                endpoints,
                member: Some(MemberSettings {
                    name: membership.node_id.clone(),
                    client_url: setup.client_url.clone(),
                    peer_url: setup.peer_url.clone(),
                }),
            }
        });
        let ca = ClusterCa::from_pem(&creds.ca_pem, &setup.ca_key)?;
        let data_key = DataKey::from_file(&setup.data_key)
            .map_err(|e| SwarmError::internal(format!("the cluster's data key: {e}")))?;
        let unlock = setup
            .unlock_key
            .as_deref()
            .map(UnlockKey::parse)
            .transpose()
            .map_err(|e| SwarmError::internal(format!("the cluster's unlock key: {e}")))?;
        if !setup.external {
            let _ = std::fs::remove_dir_all(self.local.etcd_dir());
        }
        self.local
            .save_data_key(&data_key, unlock.as_ref())
            .and_then(|()| self.local.save(&membership, &creds, unlock.as_ref()))
            .map_err(|e| SwarmError::internal(format!("saving the swarm membership: {e}")))?;
        let member_key = if setup.external {
            Zeroizing::new(String::new())
        } else {
            self.issue_member_cert(&membership, &ca, unlock.as_ref())?
        };
        let parts = self
            .start_store(
                &membership,
                &member_key,
                MemberStart::Join(&setup.initial_cluster),
            )
            .await?;
        let kv: Arc<dyn KvStore> = Arc::new(parts.client.clone());
        let store = ClusterStore::new(kv, &membership.cluster_id);
        // A membership change can cost etcd its leader for a moment: the
        // join is done when the cluster answers a quorum read again, so
        // the commands that follow it work on every manager.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while let Err(e) = store.get::<SwarmRecord>(Kind::Swarm, "cluster").await {
            if tokio::time::Instant::now() > deadline {
                return Err(SwarmError::new(
                    ErrorKind::Unavailable,
                    format!("the cluster store did not settle after this manager joined: {e}"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let keys = ManagerKeys {
            node_key: Zeroizing::new(creds.key_pem.clone()),
            data_key,
            member_key,
        };
        Ok(self
            .run(membership, creds, store, keys, unlock, parts)
            .await)
    }

    /// This host as its tasks' templates see it: what its node object says.
    fn node_info(&self) -> crate::agent::NodeInfo {
        let d = describe_host(&self.opts.engine_version);
        crate::agent::NodeInfo {
            hostname: d.hostname,
            os: d.platform.os,
            architecture: d.platform.architecture,
        }
    }

    /// Lets the engine attach containers to the cluster's attachable
    /// networks through this node's agent and managers.
    fn open_attachments(
        &self,
        node_id: &str,
        dispatcher: Arc<dyn crate::agent::Dispatcher>,
        agent: &Agent,
    ) {
        let attacher = crate::attacher::Attacher::new(
            node_id.to_string(),
            dispatcher,
            agent.assignments(),
            &self.engine,
        );
        self.engine.set_network_attacher(Some(Arc::new(attacher)));
    }

    /// The node object of this host.
    fn describe(&self, node_id: &str, advertise: &SocketAddr, availability: &str) -> Node {
        let mut node = Node {
            id: node_id.to_string(),
            ..Default::default()
        };
        node.spec.role = "manager".into();
        node.spec.availability = if availability.is_empty() {
            "active".into()
        } else {
            availability.to_string()
        };
        node.description = describe_host(&self.opts.engine_version);
        node.status.state = NodeState::Ready;
        node.status.addr = advertise.ip().to_string();
        node.manager_status = Some(ManagerStatus {
            leader: true,
            reachability: Reachability::Reachable,
            addr: advertise.to_string(),
        });
        node
    }
}

fn b64(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .unwrap_or_default()
}

fn issue(ca: &ClusterCa, node_id: &str, role: Role, cluster_id: &str) -> Result<NodeCredentials> {
    let key = NodeKey::generate()?;
    let cert = ca.issue(
        &key.csr_pem,
        node_id,
        role,
        cluster_id,
        Duration::from_secs(90 * 24 * 3600),
    )?;
    Ok(NodeCredentials {
        ca_pem: ca.cert_pem().to_string(),
        cert_pem: cert,
        key_pem: key.key_pem,
    })
}

/// Fields the CLI set in `swarm init`'s spec override the defaults.
fn merge_spec(spec: &mut SwarmSpec, given: &SwarmSpec) {
    if !given.annotations.name.is_empty() {
        spec.annotations.name = given.annotations.name.clone();
    }
    spec.annotations.labels = given.annotations.labels.clone();
    if given.orchestration.task_history_retention_limit.is_some() {
        spec.orchestration = given.orchestration.clone();
    }
    if given.dispatcher.heartbeat_period > 0 {
        spec.dispatcher.heartbeat_period = given.dispatcher.heartbeat_period;
    }
    let raft = &given.raft;
    if raft.snapshot_interval > 0 {
        spec.raft.snapshot_interval = raft.snapshot_interval;
    }
    if raft.keep_old_snapshots.is_some() {
        spec.raft.keep_old_snapshots = raft.keep_old_snapshots;
    }
    if raft.log_entries_for_slow_followers > 0 {
        spec.raft.log_entries_for_slow_followers = raft.log_entries_for_slow_followers;
    }
    if raft.election_tick > 0 {
        spec.raft.election_tick = raft.election_tick;
    }
    if raft.heartbeat_tick > 0 {
        spec.raft.heartbeat_tick = raft.heartbeat_tick;
    }
    if given.ca_config.node_cert_expiry > 0 {
        spec.ca_config.node_cert_expiry = given.ca_config.node_cert_expiry;
    }
    spec.ca_config.force_rotate = given.ca_config.force_rotate;
    spec.ca_config.external_cas = given.ca_config.external_cas.clone();
    spec.task_defaults = given.task_defaults.clone();
}

/// Hostname, platform, CPUs and memory, and the engine, as dockerd reports.
fn describe_host(engine_version: &str) -> NodeDescription {
    let mut d = NodeDescription {
        hostname: nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default(),
        ..Default::default()
    };
    d.platform.os = "linux".into();
    d.platform.architecture = nix::sys::utsname::uname()
        .map(|u| u.machine().to_string_lossy().into_owned())
        .unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    d.resources.nano_cpus = cpus as i64 * 1_000_000_000;
    d.resources.memory_bytes = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        })
        .map_or(0, |kb| kb * 1024);
    d.engine.engine_version = engine_version.to_string();
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_spec_overrides_only_what_it_sets() {
        let mut spec = SwarmSpec::with_defaults();
        let mut given = SwarmSpec::default();
        given.orchestration.task_history_retention_limit = Some(2);
        given.dispatcher.heartbeat_period = 1_000_000_000;
        merge_spec(&mut spec, &given);
        assert_eq!(spec.task_history_retention_limit(), 2);
        assert_eq!(spec.dispatcher.heartbeat_period, 1_000_000_000);
        assert_eq!(spec.annotations.name, "default");
        assert_eq!(spec.raft.snapshot_interval, 10_000);
    }

    #[test]
    fn the_host_describes_itself() {
        let d = describe_host("1.2.3");
        assert_eq!(d.platform.os, "linux");
        assert!(!d.platform.architecture.is_empty());
        assert!(d.resources.nano_cpus >= 1_000_000_000);
        assert!(d.resources.memory_bytes > 0);
        assert_eq!(d.engine.engine_version, "1.2.3");
    }
}
