//! The memory store passes the suite, and keeps its own promises: lease
//! expiry on a paused clock, watches that end when the store goes away.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use kvstore::{Election, KvError, KvStore, MemoryStore, Op, WatchEvent};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_store_passes_the_suite() {
    kvstore::suite::conformance(Arc::new(MemoryStore::new()), "/suite/").await;
}

#[tokio::test(start_paused = true)]
async fn leases_expire_on_the_tokio_clock() {
    let store = MemoryStore::new();
    let lease = store.grant(Duration::from_secs(10)).await.unwrap();
    store
        .txn(
            vec![],
            vec![Op::put_with_lease("/n/1", "up", lease)],
            vec![],
        )
        .await
        .unwrap();
    let mut w = store.watch("/n/", 0).await.unwrap();
    tokio::time::advance(Duration::from_secs(9)).await;
    assert!(store.get("/n/1").await.unwrap().is_some());
    assert_eq!(
        store.keep_alive(lease).await.unwrap(),
        Duration::from_secs(10)
    );
    tokio::time::advance(Duration::from_secs(9)).await;
    assert!(store.get("/n/1").await.unwrap().is_some(), "refreshed");
    tokio::time::advance(Duration::from_secs(2)).await;
    let ev = w.next().await.unwrap();
    assert!(matches!(&ev[..], [WatchEvent::Delete { key, .. }] if key == "/n/1"));
    assert_eq!(store.get("/n/1").await.unwrap(), None);
    assert_eq!(
        store.keep_alive(lease).await,
        Err(KvError::LeaseNotFound(lease))
    );
}

#[tokio::test]
async fn watches_end_with_an_error_when_the_store_goes_away() {
    let store = MemoryStore::new();
    let mut w = store.watch("/", 0).await.unwrap();
    store.put("/a", b"1".to_vec()).await.unwrap();
    assert_eq!(w.next().await.unwrap().len(), 1);
    drop(store);
    assert!(matches!(w.next().await, Err(KvError::Unavailable(_))));

    let store = MemoryStore::new();
    let mut w = store.watch("/", 0).await.unwrap();
    store.close();
    assert!(matches!(w.next().await, Err(KvError::Unavailable(_))));
    assert!(matches!(
        store.get("/a").await,
        Err(KvError::Unavailable(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn a_leader_that_cannot_refresh_steps_down_after_its_ttl() {
    let store = MemoryStore::new();
    let shared: Arc<dyn KvStore> = Arc::new(store.clone());
    let leader = Election::campaign(shared, "/leader", "me", Duration::from_secs(6))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(leader.is_leader(), "refreshed while the store answers");
    store.close();
    let started = tokio::time::Instant::now();
    let reason = leader.lost().await;
    assert!(reason.contains("not refreshed"), "{reason}");
    // A TTL after the last refresh, which was at most a third of it ago.
    assert!(started.elapsed() >= Duration::from_secs(4));
    assert!(started.elapsed() <= Duration::from_secs(8));
}

#[tokio::test]
async fn history_is_kept_until_compacted() {
    let store = MemoryStore::new();
    let r1 = store.put("/k", b"1".to_vec()).await.unwrap();
    for i in 2..=5 {
        store.put("/k", vec![i]).await.unwrap();
    }
    let mut w = store.watch("/", r1).await.unwrap();
    assert_eq!(w.next().await.unwrap()[0].revision(), r1);
    store.compact(r1 + 3).await.unwrap();
    let mut w = store.watch("/", r1 + 2).await.unwrap();
    assert_eq!(
        w.next().await,
        Err(KvError::Compacted {
            compact_revision: r1 + 3
        })
    );
}
