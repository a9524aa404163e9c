//! Role changes (`node promote`/`demote`, carried out by the node itself
//! when its session says its spec asks for another role) and a worker's
//! following of the managers list.

use super::*;

impl Swarm {
    /// Watches the standing the node's assignments carry: a role that
    /// differs from the one it runs starts the change (as a task of its own,
    /// since the change replaces this watcher); a worker follows the
    /// managers list so that it can fail over to any of them.
    pub(super) fn follow_standing(
        &self,
        agent: &Agent,
        manager: bool,
        remote: Option<Arc<RemoteDispatcher>>,
    ) -> AbortOnDrop {
        let mut rx = agent.standing();
        let me = self.me.clone();
        AbortOnDrop(tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let Standing { role, managers } = rx.borrow_and_update().clone();
                let wants_manager = match role.as_str() {
                    "manager" => true,
                    "worker" => false,
                    _ => continue,
                };
                let Some(swarm) = me.upgrade() else {
                    return;
                };
                if wants_manager != manager {
                    tokio::spawn(async move { swarm.change_role(wants_manager).await });
                    return;
                }
                if let Some(remote) = &remote {
                    swarm.follow_managers(remote, &managers).await;
                }
            }
        }))
    }

    /// A worker keeps the managers' addresses the cluster reports, in
    /// memory and on disk (a restart starts from the last list).
    pub(super) async fn follow_managers(&self, remote: &RemoteDispatcher, managers: &[String]) {
        let addrs: Vec<SocketAddr> = managers.iter().filter_map(|m| m.parse().ok()).collect();
        if addrs.is_empty() || addrs == remote.managers() {
            return;
        }
        if let Err(e) = remote.set_managers(&addrs) {
            tracing::warn!("swarm: the managers list: {e}");
            return;
        }
        let mut guard = self.active.lock().await;
        if let Some(active) = guard.as_mut() {
            active.membership.remote_managers = managers.to_vec();
            if let Err(e) = self.local.save_membership(&active.membership) {
                tracing::warn!("swarm: saving the managers list: {e}");
            }
        }
    }

    /// Runs the role the node's spec asks for; a failure leaves the node
    /// as it was, and the next standing it receives tries again.
    pub(super) async fn change_role(&self, to_manager: bool) {
        let result = if to_manager {
            self.promote_self().await
        } else {
            self.demote_self().await
        };
        if let Err(e) = result {
            self.retry_later();
            tracing::error!(
                "swarm: becoming a {}: {e}",
                if to_manager { "manager" } else { "worker" }
            );
        }
    }

    /// A worker whose node record says `manager`: a manager certificate
    /// and an etcd member of its own, then the control plane. Its task
    /// containers stay; the new agent adopts them.
    pub(super) async fn promote_self(&self) -> Result<()> {
        let mut guard = self.active.lock().await;
        let Some(active) = guard.as_ref() else {
            return Ok(());
        };
        if active.membership.manager {
            return Ok(());
        }
        let managers = active
            .remote
            .as_ref()
            .map(|r| r.managers())
            .unwrap_or_default();
        let membership = active.membership.clone();
        let old_creds = self.local.load_worker()?;
        let (answer, creds) = crate::remote::promote(&managers, &old_creds).await?;
        let setup = answer
            .manager_setup
            .ok_or_else(|| SwarmError::internal("a promotion without the manager's setup"))?;
        tracing::info!("swarm: this node is promoted to a manager");
        // The worker's agent goes before the manager's starts: one agent
        // per node converges its containers.
        *guard = None;
        let mut managed = membership.clone();
        managed.manager = true;
        match self.become_manager(managed, creds, setup).await {
            Ok(a) => {
                *guard = Some(a);
                Ok(())
            }
            Err(e) => {
                *guard = Some(self.run_worker(membership, &old_creds)?);
                Err(e)
            }
        }
    }

    /// A manager whose node record says `worker`: out of the etcd cluster,
    /// its control plane and cluster keys gone, back as a worker with a
    /// worker's certificate, talking to the remaining managers.
    pub(super) async fn demote_self(&self) -> Result<()> {
        let mut guard = self.active.lock().await;
        let Some(active) = guard.as_ref() else {
            return Ok(());
        };
        let (Some(store), Some(manager)) = (active.store.clone(), active.manager.clone()) else {
            return Ok(());
        };
        let node_id = active.membership.node_id.clone();
        let rec = store
            .get::<SwarmRecord>(Kind::Swarm, "cluster")
            .await?
            .value;
        let ca_key = rec.ca_key(manager.data_key())?;
        let ca = ClusterCa::from_pem(&rec.swarm.cluster.tls_info.trust_root, &ca_key)?;
        let creds = issue(&ca, &node_id, Role::Worker, &active.membership.cluster_id)?;
        let (nodes, _) = store.list::<Node>(Kind::Node).await?;
        let managers: Vec<String> = nodes
            .iter()
            .filter(|n| n.value.id != node_id)
            .filter_map(|n| n.value.manager_status.as_ref().map(|m| m.addr.clone()))
            .collect();
        if managers.is_empty() {
            return Err(SwarmError::invalid(
                "attempting to demote the last manager of the swarm",
            ));
        }
        // The node record first: from here on nobody counts it a manager.
        loop {
            let mut node = store.get::<Node>(Kind::Node, &node_id).await?;
            node.value.manager_status = None;
            node.value.meta.updated_at = crate::now();
            match store
                .update(Kind::Node, &node_id, node.version, None, &node.value)
                .await
            {
                Ok(_) => break,
                Err(crate::store::StoreError::OutOfSequence) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        // Removed from its cluster, the member ends: that is no crash.
        if let Some(member) = &active.member {
            member.pause();
        }
        if let Some(etcd) = &active.etcd {
            let members = etcd
                .member_list()
                .await
                .map_err(|e| SwarmError::new(ErrorKind::Unavailable, e.to_string()))?;
            if let Some(m) = members.iter().find(|m| m.name == node_id) {
                etcd.member_remove(m.id)
                    .await
                    .map_err(|e| SwarmError::new(ErrorKind::Unavailable, e.to_string()))?;
            }
        }
        tracing::info!("swarm: this node is demoted to a worker");
        let Some(active) = guard.take() else {
            return Ok(());
        };
        let (mut membership, member) = active.wind_down();
        if let Some(member) = member
            && let Err(e) = member.stop().await
        {
            tracing::warn!("swarm demote: stopping the etcd member: {e}");
        }
        let _ = std::fs::remove_dir_all(self.local.etcd_dir());
        let _ = std::fs::remove_dir_all(self.local.etcd_tls_dir());
        let _ = std::fs::remove_file(self.local.dir().join("etcd.pid"));
        membership.manager = false;
        membership.store = None;
        membership.remote_managers = managers;
        // A worker's files are never wrapped: workers are not locked.
        self.local
            .save(&membership, &creds, None)
            .map_err(|e| SwarmError::internal(format!("saving the swarm membership: {e}")))?;
        self.local
            .forget_manager_keys()
            .map_err(|e| SwarmError::internal(format!("removing the cluster keys: {e}")))?;
        *guard = Some(self.run_worker(membership, &creds)?);
        Ok(())
    }

    /// After a failed change the node runs as before; the watcher of the
    /// restored state sees the standing again and retries, after a pause.
    pub(super) fn retry_later(&self) {
        let me = self.me.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let Some(swarm) = me.upgrade() else {
                return;
            };
            let mut guard = swarm.active.lock().await;
            if let Some(active) = guard.as_mut()
                && let Some(agent) = &active.agent
            {
                let remote = active.remote.clone();
                active.standing =
                    Some(swarm.follow_standing(agent, active.membership.manager, remote));
            }
        });
    }
}
