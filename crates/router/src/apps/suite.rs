//! One suite for every [`SharedApps`]: the in-memory fake here and the
//! swarm store's (`api::apps_cluster`). Two managers' stores share the
//! records; a third joins with apps of its own.

// A test suite: a failed step is a failed test.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::Path;

use parking_lot::Mutex;

use super::{AppError, AppStore, Apps, BoxFuture, Change, NewRelease, SharedApps};

/// Records in memory, written all or nothing as the cluster's are.
#[derive(Default)]
pub struct MemoryApps {
    state: Mutex<(Apps, BTreeMap<String, String>)>,
}

impl SharedApps for MemoryApps {
    fn load(&self) -> BoxFuture<'_, Result<Apps, AppError>> {
        Box::pin(async move { Ok(self.state.lock().0.clone()) })
    }

    fn modify<'a>(&'a self, change: &'a Change<'a>) -> BoxFuture<'a, Result<Apps, AppError>> {
        Box::pin(async move {
            let mut state = self.state.lock();
            let mut apps = state.0.clone();
            let mut auths = Vec::new();
            change(&mut apps, &mut auths)?;
            for (name, auth) in auths {
                match auth {
                    Some(auth) => state.1.insert(name, auth),
                    None => state.1.remove(&name),
                };
            }
            state.1.retain(|name, _| apps.contains_key(name));
            state.0 = apps.clone();
            Ok(apps)
        })
    }

    fn auth<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<String>, AppError>> {
        Box::pin(async move { Ok(self.state.lock().1.get(name).cloned()) })
    }
}

/// Release `version` of `demo:abc1234`.
pub fn release(version: u32) -> NewRelease {
    NewRelease {
        version,
        image: "demo:abc1234".into(),
        rev: "abc1234".into(),
        processes: vec![],
        checks: None,
        config: None,
        description: None,
    }
}

/// Runs the suite on `shared`, whose records must be empty, with the
/// stores' files under `root`.
pub async fn conformance(shared: &dyn SharedApps, root: &Path) {
    let open = |name: &str| {
        AppStore::open(
            &root.join(name),
            "unix:///run/berth.sock",
            Path::new("/usr/bin/berth"),
        )
        .unwrap()
    };
    let on = Some(shared);
    let (a, b) = (open("a"), open("b"));
    a.share(shared, "c1").await.unwrap();
    b.share(shared, "c1").await.unwrap();

    // B's files do not know A's app yet; the cluster's records, which every
    // change is checked on, do.
    a.create(on, "demo", vec!["demo.test".into()])
        .await
        .unwrap();
    let e = b
        .create(on, "other", vec!["demo.test".into()])
        .await
        .unwrap_err();
    assert!(matches!(e, AppError::Claimed { .. }), "{e}");
    let e = b.create(on, "demo", vec![]).await.unwrap_err();
    assert!(matches!(e, AppError::Exists(_)), "{e}");
    assert!(shared.load().await.unwrap().len() == 1, "nothing of B's");

    // A change on B brings B's files up to date, a repository for the app
    // included (pushes to B deploy it too).
    let set: BTreeMap<String, String> = [("A".to_string(), "1".to_string())].into();
    let app = b.set_config(on, "demo", set, &[]).await.unwrap();
    assert_eq!(app.config["A"], "1");
    assert!(b.repo("demo").join("hooks/pre-receive").exists());
    assert_eq!(b.get("demo").unwrap().domains, ["demo.test"]);
    // A follows the cluster's copy (its mirror adopts it on every change).
    a.adopt(shared.load().await.unwrap()).unwrap();
    assert_eq!(a.get("demo").unwrap().config["A"], "1");

    // Release versions are checked on the cluster's copy: a deploy that
    // recorded one on the other manager meanwhile is a race.
    a.release(on, "demo", release(1)).await.unwrap();
    let e = b.release(on, "demo", release(1)).await.unwrap_err();
    assert!(matches!(e, AppError::Raced(1)), "{e}");
    let records = shared.load().await.unwrap();
    assert_eq!(records["demo"].releases.len(), 1);
    assert_eq!(records["demo"].current.as_deref(), Some("v1"));

    // Credentials set on one manager are read on the other; no record and
    // no file holds them.
    a.set_registry(on, "demo", "reg.test:5000", Some(("alice", "e30=")))
        .await
        .unwrap();
    assert_eq!(
        b.registry_auth(on, "demo").await.unwrap().as_deref(),
        Some("e30=")
    );
    let records = serde_json::to_string(&shared.load().await.unwrap()).unwrap();
    assert!(!records.contains("e30="), "{records}");
    assert!(!root.join("a/demo/registry-auth").exists());

    // A removal on B: A's files follow, and the credentials went with the
    // record (a new app of that name has none).
    b.remove(on, "demo").await.unwrap();
    assert!(!root.join("b/demo").exists());
    a.adopt(shared.load().await.unwrap()).unwrap();
    assert!(!root.join("a/demo").exists());
    assert!(matches!(
        a.registry_auth(on, "demo").await,
        Err(AppError::NotFound(_))
    ));
    a.create(on, "demo", vec![]).await.unwrap();
    assert_eq!(a.registry_auth(on, "demo").await.unwrap(), None);
    a.remove(on, "demo").await.unwrap();

    // A node with apps of its own becomes a manager: they join the
    // cluster's records with their credentials; one whose domain the
    // cluster gives another app is set aside, whole.
    let c = open("c");
    c.create(None, "solo", vec!["solo.test".into()])
        .await
        .unwrap();
    c.set_registry(None, "solo", "reg.test", Some(("bob", "e31=")))
        .await
        .unwrap();
    a.create(on, "taken", vec!["taken.test".into()])
        .await
        .unwrap();
    c.create(None, "clash", vec!["taken.test".into()])
        .await
        .unwrap();
    c.share(shared, "c1").await.unwrap();
    let all = shared.load().await.unwrap();
    assert!(
        all.contains_key("solo") && !all.contains_key("clash"),
        "{all:?}"
    );
    assert_eq!(shared.auth("solo").await.unwrap().as_deref(), Some("e31="));
    assert!(c.get("clash").is_err() && c.get("taken").is_ok());
    let aside: Vec<String> = std::fs::read_dir(root.join("c/.orphaned"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        aside.len() == 1 && aside[0].starts_with("clash-"),
        "{aside:?}"
    );

    // A manager that restarts takes the cluster's copy as it is: an app
    // removed meanwhile stays removed.
    a.remove(on, "solo").await.unwrap();
    drop(c);
    let c = open("c");
    assert!(c.get("solo").is_ok(), "its files still hold it");
    c.share(shared, "c1").await.unwrap();
    assert!(c.get("solo").is_err());
    assert!(!shared.load().await.unwrap().contains_key("solo"));
    // Out of swarm mode its changes are its own again: another cluster
    // gets them.
    c.create(None, "later", vec![]).await.unwrap();
    c.share(shared, "c1").await.unwrap();
    assert!(shared.load().await.unwrap().contains_key("later"));
}

#[cfg(test)]
#[tokio::test]
async fn the_fake_passes_the_suite() {
    let tmp = tempfile::tempdir().unwrap();
    conformance(&MemoryApps::default(), tmp.path()).await;
}
