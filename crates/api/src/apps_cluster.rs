//! The apps' records on a swarm manager are the cluster's, kept in its store
//! beside swarm's objects (CLUSTER.md, "State in etcd"):
//! `/berth/<cluster>/apps/records/<name>`, one JSON document per app;
//! `apps/auth/<name>`, its registry credentials sealed with the cluster's
//! data key as secrets are (so a copy of the store reveals none); and
//! `apps/marker`, which every change moves and checks unchanged since its
//! read. Changes thus apply one after the other cluster-wide: two managers
//! cannot claim one domain, or record one release version, twice.
//!
//! [`follow`] keeps each manager's files (and its git repositories) on the
//! cluster's copy; a change made through a manager's API is written to the
//! cluster first and adopted there at once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kvstore::{Compare, KvStore, Op};
use router::apps::{AppError, AppStore, Apps, BoxFuture, Change, SharedApps};
use swarm::seal::DataKey;

use crate::swarm::SwarmState;

/// How often a change is tried again on a fresh read when other managers'
/// changes keep landing first.
const TRIES: usize = 16;

pub struct ClusterApps {
    kv: Arc<dyn KvStore>,
    /// `/berth/<cluster>/apps/`
    prefix: String,
    key: DataKey,
}

fn shared(e: impl std::fmt::Display) -> AppError {
    AppError::Shared(e.to_string())
}

impl ClusterApps {
    pub fn new(m: &swarm::manager::Manager) -> ClusterApps {
        ClusterApps::with(
            m.store().kv().clone(),
            m.store().prefix(),
            m.data_key().clone(),
        )
    }

    /// The records of the cluster whose keys start with `cluster_prefix`.
    pub fn with(kv: Arc<dyn KvStore>, cluster_prefix: &str, key: DataKey) -> ClusterApps {
        ClusterApps {
            kv,
            prefix: format!("{cluster_prefix}apps/"),
            key,
        }
    }

    /// Names the cluster (its keys' prefix), for the files that mirror it.
    pub fn cluster(&self) -> &str {
        &self.prefix
    }

    fn records(&self) -> String {
        format!("{}records/", self.prefix)
    }

    fn record_key(&self, name: &str) -> String {
        format!("{}records/{name}", self.prefix)
    }

    fn auth_key(&self, name: &str) -> String {
        format!("{}auth/{name}", self.prefix)
    }

    fn marker_key(&self) -> String {
        format!("{}marker", self.prefix)
    }

    /// The records, the marker's revision before they were read, and the
    /// store's revision they were read at (watch from the next).
    async fn read(&self) -> Result<(Apps, i64, i64), AppError> {
        let marker = self
            .kv
            .get(&self.marker_key())
            .await
            .map_err(shared)?
            .map_or(0, |kv| kv.mod_revision);
        let prefix = self.records();
        let listing = self.kv.range(&prefix).await.map_err(shared)?;
        let mut apps = BTreeMap::new();
        for kv in listing.kvs {
            match serde_json::from_slice::<router::apps::App>(&kv.value) {
                Ok(app) if kv.key.strip_prefix(&prefix) == Some(&app.name) => {
                    apps.insert(app.name.clone(), app);
                }
                // Left as it is: no change writes it, none reads it.
                Ok(_) => tracing::warn!("apps: {} names another app", kv.key),
                Err(e) => tracing::warn!("apps: {}: {e}", kv.key),
            }
        }
        Ok((apps, marker, listing.revision))
    }

    fn seal_id(name: &str) -> String {
        format!("app-registry-auth/{name}")
    }
}

impl SharedApps for ClusterApps {
    fn load(&self) -> BoxFuture<'_, Result<Apps, AppError>> {
        Box::pin(async move { Ok(self.read().await?.0) })
    }

    fn modify<'a>(&'a self, change: &'a Change<'a>) -> BoxFuture<'a, Result<Apps, AppError>> {
        Box::pin(async move {
            for _ in 0..TRIES {
                let (before, marker, _) = self.read().await?;
                let mut after = before.clone();
                let mut auths = Vec::new();
                change(&mut after, &mut auths)?;
                if after == before && auths.is_empty() {
                    return Ok(after);
                }
                let mut ops = Vec::new();
                for (name, app) in &after {
                    if before.get(name) != Some(app) {
                        let value = serde_json::to_vec(app).map_err(shared)?;
                        ops.push(Op::put(self.record_key(name), value));
                    }
                }
                for name in before.keys().filter(|n| !after.contains_key(*n)) {
                    ops.push(Op::delete(self.record_key(name)));
                    ops.push(Op::delete(self.auth_key(name)));
                }
                // The last word per app, for apps that stay.
                let auths: BTreeMap<String, Option<String>> = auths.into_iter().collect();
                for (name, auth) in auths.iter().filter(|(n, _)| after.contains_key(*n)) {
                    ops.push(match auth {
                        Some(auth) => {
                            let sealed = self
                                .key
                                .seal(&Self::seal_id(name), auth.as_bytes())
                                .map_err(shared)?;
                            Op::put(self.auth_key(name), sealed.into_bytes())
                        }
                        None => Op::delete(self.auth_key(name)),
                    });
                }
                ops.push(Op::put(self.marker_key(), Vec::new()));
                let done = self
                    .kv
                    .txn(
                        vec![Compare::mod_revision(self.marker_key(), marker)],
                        ops,
                        Vec::new(),
                    )
                    .await
                    .map_err(shared)?;
                if done.succeeded {
                    return Ok(after);
                }
            }
            Err(AppError::Shared(
                "other managers' changes kept landing first; try again".into(),
            ))
        })
    }

    fn auth<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<String>, AppError>> {
        Box::pin(async move {
            let Some(kv) = self.kv.get(&self.auth_key(name)).await.map_err(shared)? else {
                return Ok(None);
            };
            let sealed = String::from_utf8(kv.value).map_err(shared)?;
            let auth = self
                .key
                .open(&Self::seal_id(name), &sealed)
                .map_err(shared)?;
            Ok(Some(String::from_utf8_lossy(&auth).into_owned()))
        })
    }
}

/// The cluster's records when this daemon is a manager; None out of swarm
/// mode and on a worker (their apps are their own). A manager whose keys are
/// still locked refuses: its changes would not reach the cluster.
pub async fn on_manager(swarm: &SwarmState) -> Result<Option<ClusterApps>, crate::ApiError> {
    match swarm.manager().await {
        Ok(m) => Ok(Some(ClusterApps::new(&m))),
        Err(e) if e.message == swarm::error::LOCKED => Err(e.into()),
        Err(_) => Ok(None),
    }
}

/// Keeps `apps`' files on the cluster's records while this daemon is a
/// manager: from when it becomes one (or restarts as one), its own apps
/// join the records; then every change another manager makes lands here
/// within the watch's delay.
pub async fn follow(swarm: SwarmState, apps: Arc<AppStore>) {
    // Doubled after each failure in a row (a store out of reach is retried
    // without a warning a second), back to a second once following worked.
    let mut pause = Duration::from_secs(1);
    loop {
        if let Ok(m) = swarm.manager().await {
            let shared = ClusterApps::new(&m);
            let began = std::time::Instant::now();
            let followed = follow_while_manager(&swarm, &apps, &shared).await;
            if began.elapsed() > Duration::from_secs(30) {
                // It worked a while: a new failure is a first one.
                pause = Duration::from_secs(1);
            }
            match followed {
                Ok(()) => pause = Duration::from_secs(1),
                Err(e) => {
                    tracing::warn!(
                        "apps: following the cluster's records: {e}; again in {pause:?}"
                    );
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(30));
                    continue;
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn follow_while_manager(
    swarm: &SwarmState,
    apps: &AppStore,
    shared: &ClusterApps,
) -> Result<(), AppError> {
    apps.share(shared, shared.cluster()).await?;
    let (now, _, revision) = shared.read().await?;
    apps.adopt(now)?;
    let mut watch = shared
        .kv
        .watch(&shared.records(), revision + 1)
        .await
        .map_err(shared_err)?;
    let mut check = tokio::time::interval(Duration::from_secs(2));
    loop {
        tokio::select! {
            batch = watch.next() => {
                batch.map_err(shared_err)?;
                apps.adopt(shared.read().await?.0)?;
            }
            _ = check.tick() => {
                // Left the swarm, demoted, or in another cluster now.
                let same = swarm
                    .manager()
                    .await
                    .is_ok_and(|m| ClusterApps::new(&m).prefix == shared.prefix);
                if !same {
                    return Ok(());
                }
            }
        }
    }
}

fn shared_err(e: kvstore::KvError) -> AppError {
    shared(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_swarm_store_passes_the_apps_suite() {
        let tmp = tempfile::tempdir().unwrap();
        let kv: Arc<dyn KvStore> = Arc::new(kvstore::MemoryStore::new());
        let key = DataKey::generate().unwrap();
        let apps = ClusterApps::with(kv.clone(), "/berth/c1/", key);
        router::apps::suite::conformance(&apps, tmp.path()).await;
        // Credentials are sealed in the store.
        apps.modify(&|a: &mut Apps, auths: &mut router::apps::Auths| {
            a.insert(
                "x".into(),
                serde_json::from_str(
                    r#"{"name":"x","domains":[],"branch":"main","port":80,"releases":[],"current":null}"#,
                )
                .unwrap(),
            );
            auths.push(("x".into(), Some("c2VjcmV0".into())));
            Ok(())
        })
        .await
        .unwrap();
        let stored = kv.get("/berth/c1/apps/auth/x").await.unwrap().unwrap();
        assert!(!String::from_utf8_lossy(&stored.value).contains("c2VjcmV0"));
        assert_eq!(apps.auth("x").await.unwrap().as_deref(), Some("c2VjcmV0"));
    }

    #[tokio::test]
    async fn concurrent_claims_of_one_domain_make_one_app() {
        let kv: Arc<dyn KvStore> = Arc::new(kvstore::MemoryStore::new());
        let key = DataKey::generate().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let mut tasks = Vec::new();
        for i in 0..4 {
            let apps = ClusterApps::with(kv.clone(), "/berth/c1/", key.clone());
            let store = AppStore::open(
                &tmp.path().join(format!("m{i}")),
                "unix:///x.sock",
                std::path::Path::new("/bin/true"),
            )
            .unwrap();
            tasks.push(tokio::spawn(async move {
                store
                    .create(Some(&apps), &format!("app{i}"), vec!["one.test".into()])
                    .await
                    .is_ok()
            }));
        }
        let mut made = 0;
        for t in tasks {
            made += usize::from(t.await.unwrap());
        }
        assert_eq!(made, 1);
        let apps = ClusterApps::with(kv, "/berth/c1/", key);
        assert_eq!(apps.load().await.unwrap().len(), 1);
    }
}
