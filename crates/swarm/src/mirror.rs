//! A manager's copy of the objects its leader loop and its dispatcher
//! sessions read (services, tasks by id and by node, nodes, live
//! heartbeats), listed once and kept current from a watch on the cluster
//! prefix: a pass or a node's assignments then read decoded objects under
//! a lock instead of listing and parsing every task of the cluster on every
//! change (which at 50,000 tasks is ~24 MB each time). Writes still compare
//! versions, so a copy a moment behind etcd only costs a lost race and
//! another try.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use cluster::model::{Network, Node, Service, Task};
use kvstore::{KeyValue, WatchEvent};
use parking_lot::RwLock;
use tokio::sync::watch;

use crate::store::{ClusterStore, Kind, StoreError, Stored, decode};

/// Objects of one kind in a vector (what a pass takes as a slice), with
/// each id's place in it.
pub struct Table<T> {
    rows: Vec<Stored<T>>,
    /// The id of each row, at the same places.
    ids: Vec<String>,
    at: HashMap<String, usize>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table {
            rows: Vec::new(),
            ids: Vec::new(),
            at: HashMap::new(),
        }
    }
}

impl<T> Table<T> {
    pub fn rows(&self) -> &[Stored<T>] {
        &self.rows
    }

    pub fn get(&self, id: &str) -> Option<&Stored<T>> {
        self.at.get(id).map(|&i| &self.rows[i])
    }

    /// The row it replaced, if any.
    fn put(&mut self, id: &str, row: Stored<T>) -> Option<Stored<T>> {
        match self.at.get(id) {
            Some(&i) => Some(std::mem::replace(&mut self.rows[i], row)),
            None => {
                self.at.insert(id.to_string(), self.rows.len());
                self.rows.push(row);
                self.ids.push(id.to_string());
                None
            }
        }
    }

    fn remove(&mut self, id: &str) -> Option<Stored<T>> {
        let i = self.at.remove(id)?;
        let row = self.rows.swap_remove(i);
        self.ids.swap_remove(i);
        // The last row moved into the hole: its place follows.
        if let Some(moved) = self.ids.get(i) {
            self.at.insert(moved.clone(), i);
        }
        Some(row)
    }
}

/// The objects as of `revision`.
#[derive(Default)]
pub struct View {
    pub revision: i64,
    pub services: Table<Service>,
    pub tasks: Table<Task>,
    pub nodes: Table<Node>,
    /// Overlay networks.
    pub networks: Table<Network>,
    /// Nodes whose heartbeat lease is alive.
    pub beating: HashSet<String>,
    /// The swarm's VXLAN port (`DataPathPort`).
    pub data_path_port: u32,
    /// The ids of each node's tasks.
    by_node: HashMap<String, HashSet<String>>,
    /// The ids of the tasks with an address on each overlay network.
    by_network: HashMap<String, HashSet<String>>,
}

impl View {
    /// The tasks assigned to `node`.
    pub fn tasks_of(&self, node: &str) -> impl Iterator<Item = &Stored<Task>> {
        self.by_node
            .get(node)
            .into_iter()
            .flatten()
            .filter_map(|id| self.tasks.get(id))
    }

    /// The tasks with an address on overlay network `network`.
    pub fn tasks_on(&self, network: &str) -> impl Iterator<Item = &Stored<Task>> {
        self.by_network
            .get(network)
            .into_iter()
            .flatten()
            .filter_map(|id| self.tasks.get(id))
    }

    fn put_task(&mut self, id: &str, t: Stored<Task>) {
        let node = t.value.node_id.clone();
        let networks: Vec<String> = attached(&t.value).collect();
        if let Some(old) = self.tasks.put(id, t) {
            self.unindex(&old.value, id);
        }
        if !node.is_empty() {
            self.by_node.entry(node).or_default().insert(id.to_string());
        }
        for n in networks {
            self.by_network.entry(n).or_default().insert(id.to_string());
        }
    }

    fn remove_task(&mut self, id: &str) {
        if let Some(old) = self.tasks.remove(id) {
            self.unindex(&old.value, id);
        }
    }

    fn unindex(&mut self, old: &Task, id: &str) {
        drop_from(&mut self.by_node, &old.node_id, id);
        for n in attached(old) {
            drop_from(&mut self.by_network, &n, id);
        }
    }
}

fn attached(t: &Task) -> impl Iterator<Item = String> + '_ {
    t.networks_attachments.iter().map(|a| a.network.id.clone())
}

fn drop_from(index: &mut HashMap<String, HashSet<String>>, key: &str, id: &str) {
    if let Some(ids) = index.get_mut(key) {
        ids.remove(id);
        if ids.is_empty() {
            index.remove(key);
        }
    }
}

/// A running mirror; dropping it stops following. Its revision is 0
/// until the first listing is in.
pub struct Mirror {
    view: Arc<RwLock<View>>,
    revision: watch::Receiver<i64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Mirror {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Mirror {
    /// Lists the cluster (trying again until the store answers) and
    /// follows it, in the background: [`Mirror::past`]`(0)` waits for the
    /// first listing.
    pub fn spawn(store: ClusterStore) -> Arc<Mirror> {
        let view = Arc::new(RwLock::new(View::default()));
        let (tx, revision) = watch::channel(0);
        let task = tokio::spawn({
            let view = view.clone();
            async move {
                let first = loop {
                    match load(&store, &view).await {
                        Ok(r) => break r,
                        Err(e) => {
                            tracing::debug!("swarm mirror: listing: {e}");
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                    }
                };
                tx.send_replace(first);
                follow(store, view, tx, first).await;
            }
        });
        Arc::new(Mirror {
            view,
            revision,
            task,
        })
    }

    /// Reads the view (no awaiting while it is held).
    pub fn read(&self) -> parking_lot::RwLockReadGuard<'_, View> {
        self.view.read()
    }

    /// Resolves once the view is past `revision`.
    pub async fn past(&self, revision: i64) {
        let mut rx = self.revision.clone();
        let _ = rx.wait_for(|r| *r > revision).await;
    }
}

/// One consistent listing of the whole cluster prefix into the view.
async fn load(store: &ClusterStore, view: &RwLock<View>) -> Result<i64, StoreError> {
    let listing = store.kv().range(store.prefix()).await?;
    let mut fresh = View {
        revision: listing.revision,
        ..View::default()
    };
    for kv in &listing.kvs {
        apply_put(store, &mut fresh, kv)?;
    }
    *view.write() = fresh;
    Ok(listing.revision)
}

fn apply_put(store: &ClusterStore, v: &mut View, kv: &KeyValue) -> Result<(), StoreError> {
    let key = kv.key.as_str();
    if let Some(id) = key.strip_prefix(&store.kind_prefix(Kind::Task)) {
        v.put_task(id, decode(kv)?);
    } else if let Some(id) = key.strip_prefix(&store.kind_prefix(Kind::Service)) {
        v.services.put(id, decode(kv)?);
    } else if let Some(id) = key.strip_prefix(&store.kind_prefix(Kind::Node)) {
        v.nodes.put(id, decode(kv)?);
    } else if let Some(id) = key.strip_prefix(&store.kind_prefix(Kind::Network)) {
        v.networks.put(id, decode(kv)?);
    } else if key == store.key(Kind::Swarm, "cluster") {
        let rec: Stored<crate::manager::SwarmRecord> = decode(kv)?;
        v.data_path_port = rec.value.swarm.cluster.data_path_port;
    } else if let Some(id) = key.strip_prefix(&store.heartbeat_key("")) {
        v.beating.insert(id.to_string());
    }
    Ok(())
}

fn apply_delete(store: &ClusterStore, v: &mut View, key: &str) {
    if let Some(id) = key.strip_prefix(&store.kind_prefix(Kind::Task)) {
        v.remove_task(id);
    } else if let Some(id) = key.strip_prefix(&store.kind_prefix(Kind::Service)) {
        v.services.remove(id);
    } else if let Some(id) = key.strip_prefix(&store.kind_prefix(Kind::Node)) {
        v.nodes.remove(id);
    } else if let Some(id) = key.strip_prefix(&store.kind_prefix(Kind::Network)) {
        v.networks.remove(id);
    } else if let Some(id) = key.strip_prefix(&store.heartbeat_key("")) {
        v.beating.remove(id);
    }
}

/// Applies the watch's events; a broken watch (compaction, etcd gone for
/// a while) lists again.
async fn follow(
    store: ClusterStore,
    view: Arc<RwLock<View>>,
    tx: watch::Sender<i64>,
    mut revision: i64,
) {
    loop {
        let mut w = match store.kv().watch(store.prefix(), revision + 1).await {
            Ok(w) => w,
            Err(e) => {
                tracing::debug!("swarm mirror: watch: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
                match load(&store, &view).await {
                    Ok(r) => {
                        revision = r;
                        tx.send_replace(r);
                    }
                    Err(e) => tracing::debug!("swarm mirror: listing: {e}"),
                }
                continue;
            }
        };
        loop {
            let events = match w.next().await {
                Ok(ev) => ev,
                Err(e) => {
                    tracing::debug!("swarm mirror: watch ended: {e}");
                    break;
                }
            };
            let mut v = view.write();
            let mut bad = false;
            for ev in &events {
                revision = revision.max(ev.revision());
                match ev {
                    WatchEvent::Put(kv) => {
                        if let Err(e) = apply_put(&store, &mut v, kv) {
                            tracing::warn!("swarm mirror: {e}");
                            bad = true;
                        }
                    }
                    WatchEvent::Delete { key, .. } => apply_delete(&store, &mut v, key),
                }
            }
            v.revision = revision;
            drop(v);
            if bad {
                break;
            }
            tx.send_replace(revision);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvstore::MemoryStore;

    #[test]
    fn a_table_keeps_ids_and_places_through_removals() {
        let mut t: Table<u32> = Table::default();
        for (i, id) in ["a", "b", "c", "d"].iter().enumerate() {
            t.put(
                id,
                Stored {
                    value: i as u32,
                    version: 1,
                },
            );
        }
        t.remove("b");
        t.put(
            "d",
            Stored {
                value: 40,
                version: 2,
            },
        );
        t.remove("a");
        let mut vals: Vec<u32> = t.rows().iter().map(|r| r.value).collect();
        vals.sort();
        assert_eq!(vals, [2, 40]);
        assert_eq!(t.at.len(), 2);
        for (id, &i) in &t.at {
            let want = if id == "c" { 2 } else { 40 };
            assert_eq!(t.rows[i].value, want, "{id}");
        }
    }

    #[tokio::test]
    async fn the_mirror_follows_the_store() {
        let store = ClusterStore::new(Arc::new(MemoryStore::new()), "c1");
        let mut t = Task {
            id: "t1".into(),
            ..Default::default()
        };
        store.create(Kind::Task, "t1", None, &t).await.unwrap();
        let m = Mirror::spawn(store.clone());
        m.past(0).await;
        assert_eq!(m.read().tasks.rows().len(), 1);
        let rev = m.read().revision;
        t.node_id = "n1".into();
        let v = store.get::<Task>(Kind::Task, "t1").await.unwrap().version;
        store.update(Kind::Task, "t1", v, None, &t).await.unwrap();
        store
            .create(
                Kind::Task,
                "t2",
                None,
                &Task {
                    id: "t2".into(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        store.delete(Kind::Task, "t1", None).await.unwrap();
        crate::dispatcher::heartbeat(&store, "n1").await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                m.past(rev).await;
                {
                    let view = m.read();
                    if view.tasks.rows().len() == 1
                        && view.tasks.rows()[0].value.id == "t2"
                        && view.beating.contains("n1")
                        && view.tasks_of("n1").count() == 0
                    {
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the mirror caught up");
    }
}
