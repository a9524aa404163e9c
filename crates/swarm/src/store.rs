//! The cluster's objects in the key-value store (CLUSTER.md, "State in
//! etcd"): one JSON document per object under `/berth/<cluster>/<kind>/<id>`,
//! a `names/<kind>/<name>` key per named object written in the same
//! transaction (so two managers cannot both create "web"), and Docker's
//! `Version.Index` taken from the key's `mod_revision`, so an update that
//! carries a stale version fails its compare instead of overwriting.
//! Names are unique regardless of case, as in swarmkit ("Web" and "web"
//! conflict).

use std::sync::Arc;

use futures_util::StreamExt;
use kvstore::{Compare, KeyValue, KvError, KvStore, Op, OpResponse, TxnResult};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The kinds of cluster objects, each under its own prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Swarm,
    Node,
    Service,
    Task,
    Secret,
    Config,
    Network,
}

impl Kind {
    fn dir(self) -> &'static str {
        match self {
            Kind::Swarm => "swarm",
            Kind::Node => "nodes",
            Kind::Service => "services",
            Kind::Task => "tasks",
            Kind::Secret => "secrets",
            Kind::Config => "configs",
            Kind::Network => "networks",
        }
    }

    /// The word dockerd's messages use for the kind.
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Swarm => "swarm",
            Kind::Node => "node",
            Kind::Service => "service",
            Kind::Task => "task",
            Kind::Secret => "secret",
            Kind::Config => "config",
            Kind::Network => "network",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{} {id} not found", kind.noun())]
    NotFound { kind: Kind, id: String },
    /// dockerd's text, which the CLI and docker-py show as is.
    #[error("rpc error: code = AlreadyExists desc = name conflicts with an existing object: {} {name} already exists", kind.noun())]
    NameConflict { kind: Kind, name: String },
    #[error("rpc error: code = Unknown desc = update out of sequence")]
    OutOfSequence,
    #[error("{} {id} already exists", kind.noun())]
    Exists { kind: Kind, id: String },
    /// A guard of the write failed (see [`Guards`]): the caller re-reads,
    /// checks again and retries.
    #[error("a {} changed while it was written; try again", kind.noun())]
    Raced { kind: Kind },
    #[error(transparent)]
    Kv(#[from] KvError),
    #[error("cluster object {key}: {message}")]
    Corrupt { key: String, message: String },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Keys no object lives at, whose revision tells when something of
/// interest last changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// A service's spec was written: its references to secrets and
    /// configs may have changed. Removing a secret checks that this did
    /// not move since it found no service using the secret.
    ServiceReferences,
}

/// What else a write's transaction checks, and does, beside its object:
/// checks made on one read and written on another stay true between them.
#[derive(Debug, Clone, Default)]
pub struct Guards {
    compares: Vec<Compare>,
    ops: Vec<Op>,
}

impl Guards {
    /// The object must exist (a service's secrets and configs).
    pub fn exists(mut self, store: &ClusterStore, kind: Kind, id: &str) -> Self {
        self.compares.push(Compare::exists(store.key(kind, id)));
        self
    }

    /// The marker must be at `revision` (as [`ClusterStore::marker`] read it).
    pub fn unchanged(mut self, store: &ClusterStore, marker: Marker, revision: i64) -> Self {
        self.compares
            .push(Compare::mod_revision(store.marker_key(marker), revision));
        self
    }

    /// The write moves the marker.
    pub fn bump(mut self, store: &ClusterStore, marker: Marker) -> Self {
        self.ops.push(Op::put(store.marker_key(marker), Vec::new()));
        self
    }
}

/// An object as read, with the revisions the caller needs to write it back.
#[derive(Debug, Clone)]
pub struct Stored<T> {
    pub value: T,
    /// `Version.Index`: the revision of the object's last write.
    pub version: i64,
}

/// One write of a batch (the scheduler and orchestrators write many tasks
/// in one transaction).
#[derive(Debug, Clone)]
pub enum Write {
    /// Creates the object; fails the batch if it exists.
    Create {
        kind: Kind,
        id: String,
        value: Value,
    },
    /// Replaces the object if it is still at `version`.
    Update {
        kind: Kind,
        id: String,
        version: i64,
        value: Value,
    },
    /// Removes the object if it exists (and its name key).
    Delete {
        kind: Kind,
        id: String,
        name: Option<String>,
    },
}

/// The objects of one cluster in a key-value store.
#[derive(Clone)]
pub struct ClusterStore {
    kv: Arc<dyn KvStore>,
    prefix: String,
}

impl ClusterStore {
    pub fn new(kv: Arc<dyn KvStore>, cluster_id: &str) -> ClusterStore {
        ClusterStore {
            kv,
            prefix: format!("/berth/{cluster_id}/"),
        }
    }

    pub fn kv(&self) -> &Arc<dyn KvStore> {
        &self.kv
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn key(&self, kind: Kind, id: &str) -> String {
        format!("{}{}/{id}", self.prefix, kind.dir())
    }

    pub fn kind_prefix(&self, kind: Kind) -> String {
        format!("{}{}/", self.prefix, kind.dir())
    }

    fn name_key(&self, kind: Kind, name: &str) -> String {
        format!(
            "{}names/{}/{}",
            self.prefix,
            kind.dir(),
            name.to_lowercase()
        )
    }

    fn marker_key(&self, marker: Marker) -> String {
        let name = match marker {
            Marker::ServiceReferences => "service-references",
        };
        format!("{}markers/{name}", self.prefix)
    }

    /// The marker's revision now (0 before its first bump).
    pub async fn marker(&self, marker: Marker) -> Result<i64> {
        Ok(self
            .kv
            .get(&self.marker_key(marker))
            .await?
            .map_or(0, |kv| kv.mod_revision))
    }

    /// The key of a node's liveness lease (see the dispatcher).
    pub fn heartbeat_key(&self, node_id: &str) -> String {
        format!("{}leases/nodes/{node_id}", self.prefix)
    }

    pub fn leader_key(&self) -> String {
        format!("{}leader", self.prefix)
    }

    pub async fn get<T: DeserializeOwned>(&self, kind: Kind, id: &str) -> Result<Stored<T>> {
        let key = self.key(kind, id);
        match read_retrying(|| self.kv.get(&key)).await? {
            Some(kv) => decode(&kv),
            None => Err(StoreError::NotFound {
                kind,
                id: id.to_string(),
            }),
        }
    }

    /// Several objects by id, in as few reads as etcd allows (transactions
    /// of gets); `None` for those that do not exist.
    pub async fn get_many<T: DeserializeOwned>(
        &self,
        kind: Kind,
        ids: &[&str],
    ) -> Result<Vec<Option<Stored<T>>>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(TXN_MAX_OPS) {
            let ops: Vec<Op> = chunk.iter().map(|id| Op::get(self.key(kind, id))).collect();
            let r = read_retrying(|| self.kv.txn(vec![], ops.clone(), vec![])).await?;
            for resp in r.responses {
                out.push(match resp {
                    OpResponse::Get(Some(kv)) => Some(decode(&kv)?),
                    _ => None,
                });
            }
        }
        Ok(out)
    }

    /// The id a name maps to.
    pub async fn id_by_name(&self, kind: Kind, name: &str) -> Result<Option<String>> {
        Ok(self
            .kv
            .get(&self.name_key(kind, name))
            .await?
            .map(|kv| String::from_utf8_lossy(&kv.value).into_owned()))
    }

    /// Every object of a kind, and the revision they were read at (watch
    /// from the next one to miss nothing).
    pub async fn list<T: DeserializeOwned>(&self, kind: Kind) -> Result<(Vec<Stored<T>>, i64)> {
        let prefix = self.kind_prefix(kind);
        let listing = read_retrying(|| self.kv.range(&prefix)).await?;
        let objects = listing.kvs.iter().map(decode).collect::<Result<Vec<_>>>()?;
        Ok((objects, listing.revision))
    }

    /// Creates an object, and its name key when it has a name; the revision
    /// it was written at is its first version.
    pub async fn create<T: Serialize>(
        &self,
        kind: Kind,
        id: &str,
        name: Option<&str>,
        value: &T,
    ) -> Result<i64> {
        self.create_guarded(kind, id, name, value, Guards::default())
            .await
    }

    /// [`Self::create`] with `guards` in the same transaction.
    pub async fn create_guarded<T: Serialize>(
        &self,
        kind: Kind,
        id: &str,
        name: Option<&str>,
        value: &T,
        guards: Guards,
    ) -> Result<i64> {
        let key = self.key(kind, id);
        let mut compares = vec![Compare::absent(&key)];
        let mut ops = vec![Op::put(&key, encode(value)?)];
        if let Some(name) = name {
            let nk = self.name_key(kind, name);
            compares.push(Compare::absent(&nk));
            ops.push(Op::put(nk, id.as_bytes().to_vec()));
        }
        compares.extend(guards.compares);
        ops.extend(guards.ops);
        let r = self.kv.txn(compares, ops, vec![]).await?;
        if r.succeeded {
            return Ok(r.revision);
        }
        if self.kv.get(&key).await?.is_some() {
            return Err(StoreError::Exists {
                kind,
                id: id.to_string(),
            });
        }
        if let Some(name) = name
            && self.kv.get(&self.name_key(kind, name)).await?.is_some()
        {
            return Err(StoreError::NameConflict {
                kind,
                name: name.to_string(),
            });
        }
        Err(StoreError::Raced { kind })
    }

    /// Replaces an object that is still at `version`; a rename moves its
    /// name key in the same transaction.
    pub async fn update<T: Serialize>(
        &self,
        kind: Kind,
        id: &str,
        version: i64,
        rename: Option<(&str, &str)>,
        value: &T,
    ) -> Result<i64> {
        self.update_guarded(kind, id, version, rename, value, Guards::default())
            .await
    }

    /// [`Self::update`] with `guards` in the same transaction.
    pub async fn update_guarded<T: Serialize>(
        &self,
        kind: Kind,
        id: &str,
        version: i64,
        rename: Option<(&str, &str)>,
        value: &T,
        guards: Guards,
    ) -> Result<i64> {
        let key = self.key(kind, id);
        let mut compares = vec![Compare::mod_revision(&key, version)];
        let mut ops = vec![Op::put(&key, encode(value)?)];
        let rename = rename.filter(|(o, n)| o.to_lowercase() != n.to_lowercase());
        if let Some((old, new)) = rename {
            let nk = self.name_key(kind, new);
            compares.push(Compare::absent(&nk));
            ops.push(Op::delete(self.name_key(kind, old)));
            ops.push(Op::put(nk, id.as_bytes().to_vec()));
        }
        compares.extend(guards.compares);
        ops.extend(guards.ops);
        let r = self.kv.txn(compares, ops, vec![]).await?;
        if r.succeeded {
            return Ok(r.revision);
        }
        match self.kv.get(&key).await? {
            None => Err(StoreError::NotFound {
                kind,
                id: id.to_string(),
            }),
            Some(kv) if kv.mod_revision != version => Err(StoreError::OutOfSequence),
            Some(_) => match rename {
                Some((_, new)) if self.kv.get(&self.name_key(kind, new)).await?.is_some() => {
                    Err(StoreError::NameConflict {
                        kind,
                        name: new.to_string(),
                    })
                }
                _ => Err(StoreError::Raced { kind }),
            },
        }
    }

    /// Removes an object and its name key; `NotFound` if it was not there.
    pub async fn delete(&self, kind: Kind, id: &str, name: Option<&str>) -> Result<()> {
        self.delete_guarded(kind, id, name, Guards::default()).await
    }

    /// [`Self::delete`] with `guards` in the same transaction.
    pub async fn delete_guarded(
        &self,
        kind: Kind,
        id: &str,
        name: Option<&str>,
        guards: Guards,
    ) -> Result<()> {
        let key = self.key(kind, id);
        let mut compares = vec![Compare::exists(&key)];
        let mut ops = vec![Op::delete(&key)];
        if let Some(name) = name {
            ops.push(Op::delete(self.name_key(kind, name)));
        }
        compares.extend(guards.compares);
        ops.extend(guards.ops);
        let r = self.kv.txn(compares, ops, vec![]).await?;
        if r.succeeded {
            return Ok(());
        }
        if self.kv.get(&key).await?.is_some() {
            return Err(StoreError::Raced { kind });
        }
        Err(StoreError::NotFound {
            kind,
            id: id.to_string(),
        })
    }

    /// Applies the writes in transactions of at most [`TXN_MAX_OPS`]
    /// operations and about [`TXN_MAX_BYTES`] (etcd refuses bigger ones:
    /// `--max-txn-ops` is 128 by default, requests 1.5 MiB), each all or
    /// nothing, up to [`TXN_IN_FLIGHT`] at once (etcd commits concurrent
    /// proposals with one disk sync, so a big pass is not a sync per batch).
    /// `Ok(false)`: some object changed since it was read (or exists
    /// already); the other batches stay applied, which the leader's
    /// level-triggered passes are built for — the next pass re-reads and
    /// decides the rest again.
    pub async fn apply(&self, writes: &[Write]) -> Result<bool> {
        let mut batches = Vec::new();
        let mut batch = TxnBatch::default();
        for w in writes {
            let (compare, ops) = match w {
                Write::Create { kind, id, value } => {
                    let key = self.key(*kind, id);
                    (
                        Some(Compare::absent(&key)),
                        vec![Op::put(key, value_bytes(value)?)],
                    )
                }
                Write::Update {
                    kind,
                    id,
                    version,
                    value,
                } => {
                    let key = self.key(*kind, id);
                    (
                        Some(Compare::mod_revision(&key, *version)),
                        vec![Op::put(key, value_bytes(value)?)],
                    )
                }
                Write::Delete { kind, id, name } => {
                    let mut ops = vec![Op::delete(self.key(*kind, id))];
                    if let Some(name) = name {
                        ops.push(Op::delete(self.name_key(*kind, name)));
                    }
                    (None, ops)
                }
            };
            if !batch.fits(&ops) {
                batches.push(std::mem::take(&mut batch));
            }
            batch.add(compare, ops);
        }
        if !batch.ops.is_empty() {
            batches.push(batch);
        }
        let mut results = futures_util::stream::iter(batches)
            .map(|b| self.commit(b))
            .buffer_unordered(TXN_IN_FLIGHT);
        let mut all = true;
        while let Some(r) = results.next().await {
            all &= r?;
        }
        Ok(all)
    }

    async fn commit(&self, batch: TxnBatch) -> Result<bool> {
        let TxnBatch { compares, ops, .. } = batch;
        if ops.is_empty() {
            return Ok(true);
        }
        let r: TxnResult = self.kv.txn(compares, ops, vec![]).await?;
        Ok(r.succeeded)
    }
}

/// Transactions of one [`ClusterStore::apply`] in flight at once.
pub const TXN_IN_FLIGHT: usize = 8;

pub use kvstore::MAX_TXN_OPS as TXN_MAX_OPS;
/// Well under etcd's default `--max-request-bytes` (1.5 MiB).
pub const TXN_MAX_BYTES: usize = 1024 * 1024;

/// The writes of one transaction being gathered.
#[derive(Default)]
struct TxnBatch {
    compares: Vec<Compare>,
    ops: Vec<Op>,
    bytes: usize,
}

impl TxnBatch {
    fn fits(&self, ops: &[Op]) -> bool {
        let bytes: usize = ops.iter().map(Op::size).sum();
        self.ops.is_empty()
            || (self.ops.len() + ops.len() <= TXN_MAX_OPS
                && self.compares.len() < TXN_MAX_OPS
                && self.bytes + bytes <= TXN_MAX_BYTES)
    }

    fn add(&mut self, compare: Option<Compare>, ops: Vec<Op>) {
        self.bytes += ops.iter().map(Op::size).sum::<usize>();
        self.compares.extend(compare);
        self.ops.extend(ops);
    }
}

/// Reads are idempotent: an etcd election in progress ("leader changed",
/// no leader yet) is waited out for a few seconds instead of failing the
/// request that happened to land in it.
async fn read_retrying<'a, T, F>(mut read: impl FnMut() -> F) -> std::result::Result<T, KvError>
where
    F: std::future::Future<Output = std::result::Result<T, KvError>> + 'a,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match read().await {
            Err(e) if e.is_unavailable() && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            other => return other,
        }
    }
}

/// Stored without `Version` (the key's revision is the version), which is
/// put back on every read.
fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    let v = serde_json::to_value(value).map_err(|e| StoreError::Corrupt {
        key: String::new(),
        message: e.to_string(),
    })?;
    value_bytes(&v)
}

fn value_bytes(value: &Value) -> Result<Vec<u8>> {
    let mut v = value.clone();
    if let Some(map) = v.as_object_mut() {
        map.remove("Version");
    }
    serde_json::to_vec(&v).map_err(|e| StoreError::Corrupt {
        key: String::new(),
        message: e.to_string(),
    })
}

pub(crate) fn decode<T: DeserializeOwned>(kv: &KeyValue) -> Result<Stored<T>> {
    let corrupt = |e: serde_json::Error| StoreError::Corrupt {
        key: kv.key.clone(),
        message: e.to_string(),
    };
    let mut v: Value = serde_json::from_slice(&kv.value).map_err(corrupt)?;
    if let Some(map) = v.as_object_mut() {
        map.insert(
            "Version".into(),
            serde_json::json!({ "Index": kv.mod_revision }),
        );
    }
    Ok(Stored {
        value: serde_json::from_value(v).map_err(corrupt)?,
        version: kv.mod_revision,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvstore::MemoryStore;
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Obj {
        #[serde(rename = "ID")]
        id: String,
        #[serde(default)]
        version: Option<Value>,
        name: String,
    }

    fn store() -> ClusterStore {
        ClusterStore::new(Arc::new(MemoryStore::new()), "c1")
    }

    /// A pass that creates more objects than etcd takes in one
    /// transaction lands in several; a raced batch writes nothing of its own.
    #[tokio::test]
    async fn big_passes_are_written_in_batches_etcd_accepts() {
        let s = store();
        let writes: Vec<Write> = (0..300)
            .map(|i| Write::Create {
                kind: Kind::Task,
                id: format!("t{i}"),
                value: serde_json::to_value(obj(&format!("t{i}"), "x")).unwrap(),
            })
            .collect();
        assert!(s.apply(&writes).await.unwrap());
        assert_eq!(s.list::<Obj>(Kind::Task).await.unwrap().0.len(), 300);
        // Creating them again races in every batch: the new one, in a
        // batch with old ones, is not written either.
        let mut again = writes.clone();
        again.push(Write::Create {
            kind: Kind::Task,
            id: "fresh".into(),
            value: serde_json::to_value(obj("fresh", "x")).unwrap(),
        });
        assert!(!s.apply(&again).await.unwrap());
        assert_eq!(s.list::<Obj>(Kind::Task).await.unwrap().0.len(), 300);
    }

    fn obj(id: &str, name: &str) -> Obj {
        Obj {
            id: id.into(),
            version: None,
            name: name.into(),
        }
    }

    #[tokio::test]
    async fn versions_are_revisions_and_guard_updates() {
        let s = store();
        let v1 = s
            .create(Kind::Service, "a", Some("web"), &obj("a", "web"))
            .await
            .unwrap();
        let got: Stored<Obj> = s.get(Kind::Service, "a").await.unwrap();
        assert_eq!(got.version, v1);
        assert_eq!(got.value.version, Some(serde_json::json!({ "Index": v1 })));
        let v2 = s
            .update(Kind::Service, "a", v1, None, &obj("a", "web"))
            .await
            .unwrap();
        assert!(v2 > v1);
        let stale = s
            .update(Kind::Service, "a", v1, None, &obj("a", "web"))
            .await
            .unwrap_err();
        assert!(matches!(stale, StoreError::OutOfSequence), "{stale}");
        assert_eq!(
            stale.to_string(),
            "rpc error: code = Unknown desc = update out of sequence"
        );
    }

    #[tokio::test]
    async fn guards_hold_across_a_read_and_a_write() {
        let s = store();
        s.create(Kind::Secret, "sec", Some("pw"), &obj("sec", "pw"))
            .await
            .unwrap();
        // A remover saw no service using the secret at this marker...
        let seen = s.marker(Marker::ServiceReferences).await.unwrap();
        assert_eq!(seen, 0);
        // ...then a service that uses it is written, needing it to exist.
        let needs = Guards::default()
            .exists(&s, Kind::Secret, "sec")
            .bump(&s, Marker::ServiceReferences);
        s.create_guarded(Kind::Service, "svc", Some("web"), &obj("svc", "web"), needs)
            .await
            .unwrap();
        let moved = s.marker(Marker::ServiceReferences).await.unwrap();
        assert!(moved > seen);
        // The remove built on the stale look is refused, the secret stays.
        let stale = Guards::default().unchanged(&s, Marker::ServiceReferences, seen);
        let err = s
            .delete_guarded(Kind::Secret, "sec", Some("pw"), stale)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Raced { .. }), "{err}");
        assert!(s.get::<Obj>(Kind::Secret, "sec").await.is_ok());
        // And a write needing a secret that is gone fails as a race, not
        // as a name conflict.
        let needs = Guards::default().exists(&s, Kind::Secret, "gone");
        let err = s
            .create_guarded(
                Kind::Service,
                "svc2",
                Some("api"),
                &obj("svc2", "api"),
                needs,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Raced { .. }), "{err}");
        let fresh = Guards::default().unchanged(&s, Marker::ServiceReferences, moved);
        s.delete_guarded(Kind::Secret, "sec", Some("pw"), fresh)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn names_are_unique_and_move_with_renames() {
        let s = store();
        s.create(Kind::Service, "a", Some("web"), &obj("a", "web"))
            .await
            .unwrap();
        // Unique regardless of case, as in swarmkit.
        let dup = s
            .create(Kind::Service, "b", Some("WEB"), &obj("b", "WEB"))
            .await
            .unwrap_err();
        assert!(matches!(dup, StoreError::NameConflict { .. }), "{dup}");
        assert!(dup.to_string().ends_with("service WEB already exists"));
        // The failed create left nothing behind.
        assert!(matches!(
            s.get::<Obj>(Kind::Service, "b").await,
            Err(StoreError::NotFound { .. })
        ));
        let v = s.get::<Obj>(Kind::Service, "a").await.unwrap().version;
        s.update(
            Kind::Service,
            "a",
            v,
            Some(("web", "api")),
            &obj("a", "api"),
        )
        .await
        .unwrap();
        assert_eq!(
            s.id_by_name(Kind::Service, "api").await.unwrap().as_deref(),
            Some("a")
        );
        assert_eq!(s.id_by_name(Kind::Service, "web").await.unwrap(), None);
        assert_eq!(
            s.id_by_name(Kind::Service, "API").await.unwrap().as_deref(),
            Some("a")
        );
        s.create(Kind::Service, "b", Some("web"), &obj("b", "web"))
            .await
            .unwrap();
        s.delete(Kind::Service, "a", Some("api")).await.unwrap();
        assert_eq!(s.id_by_name(Kind::Service, "api").await.unwrap(), None);
        assert!(matches!(
            s.delete(Kind::Service, "a", Some("api")).await,
            Err(StoreError::NotFound { .. })
        ));
    }

    #[tokio::test]
    async fn a_batch_applies_whole_or_not_at_all() {
        let s = store();
        let v = s
            .create(Kind::Task, "t1", None, &obj("t1", ""))
            .await
            .unwrap();
        let value = serde_json::to_value(obj("x", "")).unwrap();
        let ok = s
            .apply(&[
                Write::Update {
                    kind: Kind::Task,
                    id: "t1".into(),
                    version: v,
                    value: value.clone(),
                },
                Write::Create {
                    kind: Kind::Task,
                    id: "t2".into(),
                    value: value.clone(),
                },
            ])
            .await
            .unwrap();
        assert!(ok);
        // t1 moved on: a batch built on the old version changes nothing.
        let stale = s
            .apply(&[
                Write::Create {
                    kind: Kind::Task,
                    id: "t3".into(),
                    value: value.clone(),
                },
                Write::Update {
                    kind: Kind::Task,
                    id: "t1".into(),
                    version: v,
                    value,
                },
            ])
            .await
            .unwrap();
        assert!(!stale);
        let (tasks, _) = s.list::<Obj>(Kind::Task).await.unwrap();
        assert_eq!(tasks.len(), 2);
    }

    #[tokio::test]
    async fn a_corrupt_object_is_an_error_naming_its_key() {
        let s = store();
        s.kv()
            .put(&s.key(Kind::Node, "n1"), b"{oops".to_vec())
            .await
            .unwrap();
        let err = s.get::<Obj>(Kind::Node, "n1").await.unwrap_err();
        assert!(err.to_string().contains("/berth/c1/nodes/n1"), "{err}");
    }
}
