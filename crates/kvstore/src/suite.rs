//! The conformance suite of [`KvStore`] (feature `suite`): every
//! implementation runs [`conformance`] and must pass all of it, so code
//! tested on the [`MemoryStore`](crate::MemoryStore) behaves the same on
//! etcd. Checks are relative to the store's revision and each uses its own
//! prefix, so a store that is not empty works too. Also here: helpers that
//! start a throwaway etcd member on loopback for tests of other crates.

// A test suite compiled into the library for other crates' tests: an unwrap
// or a panic is an assertion here.
#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Barrier;

use crate::election::Election;
use crate::member::{EtcdMember, MemberConfig, MemberError};
use crate::store::{
    CmpOp, Compare, CompareTarget, KvError, KvStore, LeaseId, Op, OpResponse, Watch, WatchEvent,
};

/// The TTL of the suite's leases: etcd's minimum with its default timing
/// (1.5 s election timeout, rounded up to whole seconds).
pub const LEASE_TTL: Duration = Duration::from_secs(2);

/// Every check, in order (compaction last: it drops the history before it).
/// `base` prefixes every key the suite writes, e.g. `"/suite/"`.
pub async fn conformance(store: Arc<dyn KvStore>, base: &str) {
    let checks: Vec<(&str, CheckFn)> = vec![
        ("revisions", |s, p| Box::pin(revisions(s, p))),
        ("transactions", |s, p| Box::pin(transactions(s, p))),
        ("compare_and_swap_race", |s, p| {
            Box::pin(compare_and_swap_race(s, p))
        }),
        ("prefix_ranges", |s, p| Box::pin(prefix_ranges(s, p))),
        ("watch_from_past_revision", |s, p| {
            Box::pin(watch_from_past_revision(s, p))
        }),
        ("watch_delivery_order", |s, p| {
            Box::pin(watch_delivery_order(s, p))
        }),
        ("lease_expiry_deletes_keys", |s, p| {
            Box::pin(lease_expiry_deletes_keys(s, p))
        }),
        ("lease_revoke", |s, p| Box::pin(lease_revoke(s, p))),
        ("election", |s, p| Box::pin(election(s, p))),
        ("json_values", |s, p| Box::pin(json_values(s, p))),
        ("compaction", |s, p| Box::pin(compaction(s, p))),
    ];
    for (name, check) in checks {
        eprintln!("kvstore suite: {name}");
        check(store.clone(), format!("{base}{name}/")).await;
    }
}

type CheckFn = fn(Arc<dyn KvStore>, String) -> crate::BoxFuture<'static, ()>;

/// Awaits `fut`, failing the check when it takes longer than `secs`.
pub async fn within<T>(secs: u64, what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(secs), fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: not within {secs} s"),
    }
}

/// Reads batches until `n` events arrived (failing after 15 s).
pub async fn next_events(w: &mut Watch, n: usize) -> Vec<WatchEvent> {
    within(15, &format!("{n} watch events"), async {
        let mut all = Vec::new();
        while all.len() < n {
            let batch = w.next().await.unwrap();
            assert!(!batch.is_empty(), "a watch batch is never empty");
            all.extend(batch);
        }
        assert_eq!(all.len(), n, "more events than expected: {all:?}");
        all
    })
    .await
}

fn put_rev(e: &WatchEvent) -> (&str, Option<&[u8]>, i64) {
    match e {
        WatchEvent::Put(kv) => (&kv.key, Some(&kv.value), kv.mod_revision),
        WatchEvent::Delete {
            key, mod_revision, ..
        } => (key, None, *mod_revision),
    }
}

async fn revisions(store: Arc<dyn KvStore>, p: String) {
    let a = format!("{p}a");
    let b = format!("{p}b");
    let start = store.revision().await.unwrap();
    assert!(start >= 1, "etcd's revisions start at 1");
    assert_eq!(store.get(&a).await.unwrap(), None);

    let r1 = store.put(&a, b"1".to_vec()).await.unwrap();
    assert_eq!(r1, start + 1, "a write bumps the revision by one");
    let kv = store.get(&a).await.unwrap().unwrap();
    assert_eq!(
        (
            kv.key.as_str(),
            kv.value.as_slice(),
            kv.create_revision,
            kv.mod_revision,
            kv.version,
            kv.lease
        ),
        (a.as_str(), &b"1"[..], r1, r1, 1, None)
    );

    let r2 = store.put(&a, b"2".to_vec()).await.unwrap();
    assert_eq!(r2, r1 + 1);
    let kv = store.get(&a).await.unwrap().unwrap();
    assert_eq!(
        (kv.create_revision, kv.mod_revision, kv.version),
        (r1, r2, 2)
    );

    // One transaction, two keys: one revision for both.
    let t = store
        .txn(vec![], vec![Op::put(&a, "3"), Op::put(&b, "x")], vec![])
        .await
        .unwrap();
    assert!(t.succeeded);
    assert_eq!(t.revision, r2 + 1);
    assert_eq!(t.responses, vec![OpResponse::Put, OpResponse::Put]);
    let kb = store.get(&b).await.unwrap().unwrap();
    assert_eq!(
        (kb.create_revision, kb.mod_revision, kb.version),
        (t.revision, t.revision, 1)
    );
    assert_eq!(store.revision().await.unwrap(), t.revision);

    // Deleting ends the incarnation: a new put starts at version 1 again.
    assert!(store.delete(&a).await.unwrap());
    let rd = store.revision().await.unwrap();
    assert_eq!(rd, t.revision + 1);
    assert_eq!(store.get(&a).await.unwrap(), None);
    // Deleting what is not there writes nothing.
    assert!(!store.delete(&a).await.unwrap());
    assert_eq!(store.revision().await.unwrap(), rd);
    let r3 = store.put(&a, b"again".to_vec()).await.unwrap();
    let kv = store.get(&a).await.unwrap().unwrap();
    assert_eq!(
        (kv.create_revision, kv.mod_revision, kv.version),
        (r3, r3, 1)
    );

    // Empty keys are refused.
    assert!(matches!(
        store.put("", b"x".to_vec()).await,
        Err(KvError::InvalidArgument(_))
    ));
    assert!(matches!(
        store.get("").await,
        Err(KvError::InvalidArgument(_))
    ));
    store
        .txn(vec![], vec![Op::delete_prefix(&p)], vec![])
        .await
        .unwrap();
}

async fn transactions(store: Arc<dyn KvStore>, p: String) {
    // etcd's default limit on operations per transaction, both ways.
    let puts = |n: usize| -> Vec<Op> {
        (0..n)
            .map(|i| Op::put(format!("{p}many/{i}"), "v"))
            .collect()
    };
    assert!(
        store
            .txn(vec![], puts(crate::store::MAX_TXN_OPS), vec![])
            .await
            .unwrap()
            .succeeded
    );
    match store
        .txn(vec![], puts(crate::store::MAX_TXN_OPS + 1), vec![])
        .await
    {
        Err(KvError::InvalidArgument(m)) => assert!(m.contains("too many operations"), "{m}"),
        other => panic!(
            "{} operations in one transaction: {other:?}",
            crate::store::MAX_TXN_OPS + 1
        ),
    }
    let k = format!("{p}obj");
    let name = format!("{p}names/web");
    let missing = format!("{p}missing");

    // Name uniqueness: create-if-absent succeeds once.
    let first = store
        .txn(
            vec![Compare::absent(&name)],
            vec![Op::put(&name, "id1")],
            vec![Op::get(&name)],
        )
        .await
        .unwrap();
    assert!(first.succeeded);
    let second = store
        .txn(
            vec![Compare::absent(&name)],
            vec![Op::put(&name, "id2")],
            vec![Op::get(&name)],
        )
        .await
        .unwrap();
    assert!(!second.succeeded);
    assert_eq!(
        second.revision, first.revision,
        "a failed compare writes nothing"
    );
    let held = second.reads().next().flatten().unwrap();
    assert_eq!(held.value, b"id1");
    assert!(
        store
            .txn(vec![Compare::exists(&name)], vec![], vec![])
            .await
            .unwrap()
            .succeeded
    );

    // Version.Index: update only at the revision read.
    let r = store.put(&k, b"v1".to_vec()).await.unwrap();
    let ok = store
        .txn(
            vec![Compare::mod_revision(&k, r)],
            vec![Op::put(&k, "v2")],
            vec![],
        )
        .await
        .unwrap();
    assert!(ok.succeeded);
    let stale = store
        .txn(
            vec![Compare::mod_revision(&k, r)],
            vec![Op::put(&k, "v3")],
            vec![Op::get(&k)],
        )
        .await
        .unwrap();
    assert!(!stale.succeeded, "update out of sequence");
    assert_eq!(stale.reads().next().flatten().unwrap().value, b"v2");
    assert_eq!(store.get(&k).await.unwrap().unwrap().value, b"v2");

    // The other fields and operators.
    let kv = store.get(&k).await.unwrap().unwrap();
    let holds = |c: Compare| {
        let store = store.clone();
        async move { store.txn(vec![c], vec![], vec![]).await.unwrap().succeeded }
    };
    assert!(holds(Compare::create_revision(&k, kv.create_revision)).await);
    assert!(holds(Compare::version(&k, 2)).await);
    assert!(!holds(Compare::version(&k, 1)).await);
    assert!(holds(Compare::value(&k, "v2")).await);
    assert!(!holds(Compare::value(&k, "v1")).await);
    assert!(
        holds(Compare::new(
            &k,
            CmpOp::NotEqual,
            CompareTarget::Value(b"v1".to_vec())
        ))
        .await
    );
    assert!(
        holds(Compare::new(
            &k,
            CmpOp::Greater,
            CompareTarget::Value(b"v1".to_vec())
        ))
        .await
    );
    assert!(
        holds(Compare::new(
            &k,
            CmpOp::Less,
            CompareTarget::ModRevision(kv.mod_revision + 1)
        ))
        .await
    );
    assert!(holds(Compare::new(&k, CmpOp::Greater, CompareTarget::Version(1))).await);
    assert!(!holds(Compare::new(&k, CmpOp::NotEqual, CompareTarget::Version(2))).await);
    // A missing key has zero revisions and version, and no value at all.
    assert!(holds(Compare::mod_revision(&missing, 0)).await);
    assert!(holds(Compare::version(&missing, 0)).await);
    assert!(!holds(Compare::value(&missing, "")).await);
    assert!(
        !holds(Compare::new(
            &missing,
            CmpOp::NotEqual,
            CompareTarget::Value(b"x".to_vec())
        ))
        .await
    );
    // Every compare must hold.
    assert!(
        !store
            .txn(
                vec![Compare::value(&k, "v2"), Compare::exists(&missing)],
                vec![],
                vec![]
            )
            .await
            .unwrap()
            .succeeded
    );

    // Ops run in order and see each other; deletes count.
    let a = format!("{p}d/a");
    let b = format!("{p}d/b");
    let t = store
        .txn(
            vec![],
            vec![
                Op::put(&a, "1"),
                Op::put(&b, "2"),
                Op::get(&a),
                Op::get(&missing),
            ],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(t.responses.len(), 4);
    assert_eq!(t.reads().next().flatten().unwrap().value, b"1");
    assert_eq!(t.reads().nth(1), Some(None));
    let t = store
        .txn(
            vec![],
            vec![Op::delete_prefix(format!("{p}d/")), Op::delete(&missing)],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        t.responses,
        vec![
            OpResponse::Delete { deleted: 2 },
            OpResponse::Delete { deleted: 0 }
        ]
    );

    // A branch may not write one key twice; nothing of it applies.
    let before = store.revision().await.unwrap();
    assert!(matches!(
        store
            .txn(vec![], vec![Op::put(&a, "1"), Op::put(&a, "2")], vec![])
            .await,
        Err(KvError::InvalidArgument(_))
    ));
    assert!(matches!(
        store
            .txn(
                vec![],
                vec![Op::delete_prefix(&p), Op::put(&a, "2")],
                vec![]
            )
            .await,
        Err(KvError::InvalidArgument(_))
    ));
    // A put with a lease that does not exist fails the whole transaction.
    assert!(matches!(
        store
            .txn(
                vec![],
                vec![
                    Op::put(&b, "x"),
                    Op::put_with_lease(&a, "1", LeaseId(0x7eadbeef))
                ],
                vec![]
            )
            .await,
        Err(KvError::LeaseNotFound(LeaseId(0x7eadbeef)))
    ));
    assert_eq!(store.revision().await.unwrap(), before);
    assert_eq!(store.get(&b).await.unwrap(), None);
    store
        .txn(vec![], vec![Op::delete_prefix(&p)], vec![])
        .await
        .unwrap();
}

/// N writers read the key's revision together and race to replace it: in
/// every round exactly one wins.
async fn compare_and_swap_race(store: Arc<dyn KvStore>, p: String) {
    const WRITERS: usize = 6;
    const ROUNDS: usize = 5;
    let key = format!("{p}counter");
    store.put(&key, b"0".to_vec()).await.unwrap();
    let barrier = Arc::new(Barrier::new(WRITERS));
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let (store, key, barrier) = (store.clone(), key.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let mut wins = Vec::new();
            for round in 0..ROUNDS {
                barrier.wait().await;
                let seen = store.get(&key).await.unwrap().unwrap().mod_revision;
                // Everyone has read before anyone writes.
                barrier.wait().await;
                let r = store
                    .txn(
                        vec![Compare::mod_revision(&key, seen)],
                        vec![Op::put(&key, format!("{w}:{round}"))],
                        vec![],
                    )
                    .await
                    .unwrap();
                if r.succeeded {
                    wins.push(round);
                }
            }
            wins
        }));
    }
    let mut per_round = [0usize; ROUNDS];
    for t in tasks {
        for round in within(60, "racing writers", t).await.unwrap() {
            per_round[round] += 1;
        }
    }
    assert_eq!(per_round, [1; ROUNDS], "exactly one winner per round");
    assert_eq!(
        store.get(&key).await.unwrap().unwrap().version,
        ROUNDS as i64 + 1
    );
    store
        .txn(vec![], vec![Op::delete_prefix(&p)], vec![])
        .await
        .unwrap();
}

async fn prefix_ranges(store: Arc<dyn KvStore>, p: String) {
    let dir = format!("{p}dir/");
    for k in ["c", "a", "b/x", "b/y"] {
        store
            .put(&format!("{dir}{k}"), k.as_bytes().to_vec())
            .await
            .unwrap();
    }
    // Next to the prefix but not under it.
    let sibling = format!("{p}dir-sibling");
    let last = store.put(&sibling, b"s".to_vec()).await.unwrap();

    let l = store.range(&dir).await.unwrap();
    let keys: Vec<&str> = l.kvs.iter().map(|kv| kv.key.as_str()).collect();
    let want: Vec<String> = ["a", "b/x", "b/y", "c"]
        .iter()
        .map(|k| format!("{dir}{k}"))
        .collect();
    assert_eq!(keys, want, "sorted by key, only under the prefix");
    assert_eq!(
        l.revision, last,
        "a listing tells the revision it was read at"
    );
    assert_eq!(store.range(&format!("{dir}b/")).await.unwrap().kvs.len(), 2);
    let none = store.range(&format!("{p}nothing/")).await.unwrap();
    assert!(none.kvs.is_empty());
    assert_eq!(none.revision, last);
    // "" is every key.
    let all = store.range("").await.unwrap();
    assert!(all.kvs.iter().any(|kv| kv.key == sibling));
    assert!(all.kvs.windows(2).all(|w| w[0].key < w[1].key));
    store
        .txn(vec![], vec![Op::delete_prefix(&p)], vec![])
        .await
        .unwrap();
}

async fn watch_from_past_revision(store: Arc<dyn KvStore>, p: String) {
    let dir = format!("{p}w/");
    let a = format!("{dir}a");
    let r1 = store.put(&a, b"1".to_vec()).await.unwrap();
    let r2 = store.put(&a, b"2".to_vec()).await.unwrap();
    store
        .put(&format!("{p}elsewhere"), b"x".to_vec())
        .await
        .unwrap();
    assert!(store.delete(&a).await.unwrap());
    let r3 = store.revision().await.unwrap();

    // From a past revision: the history, then what comes.
    let mut w = store.watch(&dir, r1).await.unwrap();
    let ev = next_events(&mut w, 3).await;
    assert_eq!(put_rev(&ev[0]), (a.as_str(), Some(&b"1"[..]), r1));
    assert_eq!(put_rev(&ev[1]), (a.as_str(), Some(&b"2"[..]), r2));
    match &ev[2] {
        WatchEvent::Delete {
            key,
            mod_revision,
            prev,
        } => {
            assert_eq!((key.as_str(), *mod_revision), (a.as_str(), r3));
            let prev = prev.as_ref().expect("a delete tells the value before it");
            assert_eq!((prev.value.as_slice(), prev.mod_revision), (&b"2"[..], r2));
        }
        other => panic!("expected the delete, got {other:?}"),
    }
    // Watching from the middle starts there.
    let mut mid = store.watch(&dir, r2).await.unwrap();
    assert_eq!(next_events(&mut mid, 2).await[0].revision(), r2);

    // From now (0): only what comes after the watch is in place.
    let mut now = store.watch(&dir, 0).await.unwrap();
    let r4 = store.put(&a, b"3".to_vec()).await.unwrap();
    for w in [&mut w, &mut now, &mut mid] {
        let ev = next_events(w, 1).await;
        assert_eq!(put_rev(&ev[0]), (a.as_str(), Some(&b"3"[..]), r4));
        // Create revision and version of the new incarnation.
        match &ev[0] {
            WatchEvent::Put(kv) => assert_eq!((kv.create_revision, kv.version), (r4, 1)),
            other => panic!("{other:?}"),
        }
    }
    store
        .txn(vec![], vec![Op::delete_prefix(&p)], vec![])
        .await
        .unwrap();
}

async fn watch_delivery_order(store: Arc<dyn KvStore>, p: String) {
    const WRITES: usize = 40;
    let dir = format!("{p}o/");
    let mut w = store.watch(&dir, 0).await.unwrap();
    let writer = {
        let (store, dir) = (store.clone(), dir.clone());
        tokio::spawn(async move {
            let mut revs = Vec::new();
            for i in 0..WRITES {
                let k = format!("{dir}k{}", i % 4);
                revs.push(store.put(&k, i.to_string().into_bytes()).await.unwrap());
            }
            // Three keys in one transaction: one revision, one batch.
            let t = store
                .txn(
                    vec![],
                    vec![
                        Op::put(format!("{dir}t1"), "a"),
                        Op::put(format!("{dir}t2"), "b"),
                        Op::delete(format!("{dir}k0")),
                    ],
                    vec![],
                )
                .await
                .unwrap();
            (revs, t.revision)
        })
    };
    let mut seen = Vec::new();
    let mut txn_batch = None;
    within(30, "ordered events", async {
        while seen.len() < WRITES + 3 {
            let batch = w.next().await.unwrap();
            if batch.iter().any(|e| e.key().ends_with("t1")) {
                txn_batch = Some(
                    batch
                        .iter()
                        .filter(|e| e.revision() == batch.last().unwrap().revision())
                        .count(),
                );
            }
            seen.extend(batch);
        }
    })
    .await;
    let (revs, txn_rev) = writer.await.unwrap();
    let got: Vec<i64> = seen[..WRITES].iter().map(WatchEvent::revision).collect();
    assert_eq!(got, revs, "every write, in revision order");
    for (i, e) in seen[..WRITES].iter().enumerate() {
        assert_eq!(put_rev(e).1, Some(i.to_string().as_bytes()));
    }
    let tail: Vec<(&str, i64)> = seen[WRITES..]
        .iter()
        .map(|e| (e.key(), e.revision()))
        .collect();
    let want = [format!("{dir}t1"), format!("{dir}t2"), format!("{dir}k0")];
    assert_eq!(
        tail,
        want.iter()
            .map(|k| (k.as_str(), txn_rev))
            .collect::<Vec<_>>(),
        "a transaction's events in op order at one revision"
    );
    assert_eq!(txn_batch, Some(3), "a batch never splits a revision");
    store
        .txn(vec![], vec![Op::delete_prefix(&p)], vec![])
        .await
        .unwrap();
}

async fn lease_expiry_deletes_keys(store: Arc<dyn KvStore>, p: String) {
    let (a, b, kept) = (format!("{p}a"), format!("{p}b"), format!("{p}kept"));
    let lease = store.grant(LEASE_TTL).await.unwrap();
    // Twice as long, so a refresh delayed on a busy machine cannot end it.
    let alive = store.grant(LEASE_TTL * 2).await.unwrap();
    let mut w = store.watch(&p, 0).await.unwrap();
    let t = store
        .txn(
            vec![],
            vec![
                Op::put_with_lease(&a, "1", lease),
                Op::put_with_lease(&b, "2", lease),
                Op::put_with_lease(&kept, "3", alive),
            ],
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(store.get(&a).await.unwrap().unwrap().lease, Some(lease));
    assert!(store.keep_alive(lease).await.unwrap() > Duration::ZERO);
    assert_eq!(next_events(&mut w, 3).await.len(), 3);

    // Refresh one lease, let the other run out.
    let keeper = {
        let store = store.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(LEASE_TTL / 4).await;
                store.keep_alive(alive).await.unwrap();
            }
        })
    };
    let ev = next_events(&mut w, 2).await;
    keeper.abort();
    let mut keys: Vec<&str> = ev.iter().map(WatchEvent::key).collect();
    keys.sort_unstable();
    assert_eq!(keys, [a.as_str(), b.as_str()]);
    assert!(ev.iter().all(|e| matches!(e, WatchEvent::Delete { .. })));
    assert_eq!(
        ev[0].revision(),
        ev[1].revision(),
        "a lease's keys go in one revision"
    );
    assert!(ev[0].revision() > t.revision);
    assert_eq!(store.get(&a).await.unwrap(), None);
    assert!(matches!(
        store.keep_alive(lease).await,
        Err(KvError::LeaseNotFound(l)) if l == lease
    ));
    assert!(
        store.get(&kept).await.unwrap().is_some(),
        "a refreshed lease keeps its keys"
    );
    // Putting the key without a lease detaches it: the revoke leaves it.
    store.put(&kept, b"free".to_vec()).await.unwrap();
    assert_eq!(store.get(&kept).await.unwrap().unwrap().lease, None);
    store.revoke(alive).await.unwrap();
    assert!(store.get(&kept).await.unwrap().is_some());
    store
        .txn(vec![], vec![Op::delete_prefix(&p)], vec![])
        .await
        .unwrap();
}

async fn lease_revoke(store: Arc<dyn KvStore>, p: String) {
    let k = format!("{p}k");
    let lease = store.grant(Duration::from_secs(60)).await.unwrap();
    store
        .txn(vec![], vec![Op::put_with_lease(&k, "v", lease)], vec![])
        .await
        .unwrap();
    let mut w = store.watch(&p, 0).await.unwrap();
    store.revoke(lease).await.unwrap();
    let ev = next_events(&mut w, 1).await;
    assert!(matches!(&ev[0], WatchEvent::Delete { key, .. } if *key == k));
    assert_eq!(store.get(&k).await.unwrap(), None);
    assert!(matches!(store.revoke(lease).await, Err(KvError::LeaseNotFound(l)) if l == lease));
    assert!(matches!(
        store.keep_alive(lease).await,
        Err(KvError::LeaseNotFound(_))
    ));
    assert!(matches!(
        store
            .txn(vec![], vec![Op::put_with_lease(&k, "v", lease)], vec![])
            .await,
        Err(KvError::LeaseNotFound(_))
    ));
    assert!(matches!(
        store.grant(Duration::ZERO).await,
        Err(KvError::InvalidArgument(_))
    ));
}

/// Three campaigners: one leads; when its lease ends another does; when that
/// one resigns the last does.
async fn election(store: Arc<dyn KvStore>, p: String) {
    let name = format!("{p}leader");
    let campaign = |who: &'static str| {
        let (store, name) = (store.clone(), name.clone());
        tokio::spawn(async move {
            Election::campaign(store, &name, who, LEASE_TTL)
                .await
                .unwrap()
        })
    };
    let mut pending = vec![
        ("m1", campaign("m1")),
        ("m2", campaign("m2")),
        ("m3", campaign("m3")),
    ];

    // Waits for the one campaign that finishes and checks the others wait.
    async fn winner(
        store: &Arc<dyn KvStore>,
        name: &str,
        pending: &mut Vec<(&'static str, tokio::task::JoinHandle<crate::Leadership>)>,
    ) -> (&'static str, crate::Leadership) {
        let leader = within(20, "a leader", async {
            loop {
                if let Some(i) = pending.iter().position(|(_, t)| t.is_finished()) {
                    let (who, t) = pending.remove(i);
                    return (who, t.await.unwrap());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            pending.iter().all(|(_, t)| !t.is_finished()),
            "only one campaigner leads"
        );
        let shown = Election::leader(store.as_ref(), name)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            shown.value,
            leader.0.as_bytes(),
            "observers see the leader's value"
        );
        assert_eq!(shown.create_revision, leader.1.revision());
        assert_eq!(shown.lease, Some(leader.1.lease()));
        assert!(leader.1.is_leader());
        leader
    }

    let (_, first) = winner(&store, &name, &mut pending).await;
    // The first leader's lease ends (as when it stops refreshing).
    store.revoke(first.lease()).await.unwrap();
    let reason = within(10, "the leader notices", first.lost()).await;
    assert!(!first.is_leader(), "{reason}");
    let (_, second) = winner(&store, &name, &mut pending).await;
    assert!(
        second.revision() > first.revision(),
        "leaderships are ordered"
    );
    drop(first);
    second.resign().await.unwrap();
    let (_, third) = winner(&store, &name, &mut pending).await;
    assert!(pending.is_empty());
    // Dropping the handle resigns too.
    drop(third);
    within(10, "the key goes with the last leader", async {
        while Election::leader(store.as_ref(), &name)
            .await
            .unwrap()
            .is_some()
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

async fn json_values(store: Arc<dyn KvStore>, p: String) {
    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Service {
        name: String,
        replicas: u32,
    }
    let k = format!("{p}services/s1");
    let svc = Service {
        name: "web".into(),
        replicas: 2,
    };
    let r = crate::json::create(store.as_ref(), &k, &svc)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        crate::json::create(store.as_ref(), &k, &svc).await.unwrap(),
        None
    );
    let got = crate::json::get::<Service, _>(store.as_ref(), &k)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((got.value, got.mod_revision), (svc, r));
    let scaled = Service {
        name: "web".into(),
        replicas: 3,
    };
    let r2 = crate::json::update(store.as_ref(), &k, &scaled, r)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        crate::json::update(store.as_ref(), &k, &scaled, r)
            .await
            .unwrap(),
        None
    );
    let (all, rev) = crate::json::list::<Service, _>(store.as_ref(), &format!("{p}services/"))
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(
        (all[0].value.replicas, all[0].mod_revision, rev),
        (3, r2, r2)
    );
    store
        .put(&format!("{p}services/bad"), b"{".to_vec())
        .await
        .unwrap();
    assert!(matches!(
        crate::json::list::<Service, _>(store.as_ref(), &format!("{p}services/")).await,
        Err(KvError::Json { .. })
    ));
    store
        .txn(vec![], vec![Op::delete_prefix(&p)], vec![])
        .await
        .unwrap();
}

async fn compaction(store: Arc<dyn KvStore>, p: String) {
    let (x, y) = (format!("{p}x"), format!("{p}y"));
    let r1 = store.put(&x, b"1".to_vec()).await.unwrap();
    let r2 = store.put(&x, b"2".to_vec()).await.unwrap();
    let r3 = store.put(&y, b"3".to_vec()).await.unwrap();
    store.compact(r2).await.unwrap();

    let mut old = store.watch(&p, r1).await.unwrap();
    match within(10, "the compaction error", old.next()).await {
        Err(KvError::Compacted { compact_revision }) => assert_eq!(compact_revision, r2),
        other => panic!("a watch from before the compaction: {other:?}"),
    }
    assert!(old.next().await.is_err(), "the watch stays ended");

    // From the compaction point on, history is still there.
    let mut w = store.watch(&p, r2).await.unwrap();
    let ev = next_events(&mut w, 2).await;
    assert_eq!(put_rev(&ev[1]), (y.as_str(), Some(&b"3"[..]), r3));
    // Values are untouched.
    assert_eq!(store.get(&x).await.unwrap().unwrap().value, b"2");

    assert!(matches!(
        store.compact(r2).await,
        Err(KvError::Compacted { .. })
    ));
    assert!(matches!(
        store.compact(r1).await,
        Err(KvError::Compacted { .. })
    ));
    assert!(matches!(
        store.compact(r3 + 1000).await,
        Err(KvError::FutureRevision { .. })
    ));
    store
        .txn(vec![], vec![Op::delete_prefix(&p)], vec![])
        .await
        .unwrap();
}

/// A loopback address with a port that was free a moment ago.
pub fn free_loopback_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// A member alone in a new cluster under `dir`, on free loopback ports,
/// killed with the test thread. Retried on fresh ports when a port was
/// taken in between.
pub fn member_config(dir: &Path, name: &str) -> MemberConfig {
    let mut c = MemberConfig::new(
        name,
        dir.join(name),
        free_loopback_addr(),
        free_loopback_addr(),
    );
    c.die_with_parent = true;
    c
}

/// Starts `config`, retrying twice on new ports if the member exits at
/// start (a port taken since it was picked).
pub async fn start_member(mut config: MemberConfig) -> Result<EtcdMember, MemberError> {
    let mut tries = 0;
    loop {
        match EtcdMember::start(config.clone()).await {
            Err(MemberError::Exited { log_tail, .. })
                if tries < 2 && log_tail.contains("address already in use") =>
            {
                tries += 1;
                let _ = std::fs::remove_dir_all(&config.data_dir);
                config.client_addr = free_loopback_addr();
                config.peer_addr = free_loopback_addr();
                if config.initial_cluster.is_none() {
                    continue;
                }
                return Err(MemberError::Exited {
                    name: config.name,
                    status: "port taken".into(),
                    log_tail,
                });
            }
            other => return other,
        }
    }
}

/// A throwaway single-member etcd in a temp dir; dropping it stops the
/// member, then removes the directory.
pub struct TestEtcd {
    pub member: EtcdMember,
    pub dir: tempfile::TempDir,
}

impl TestEtcd {
    pub async fn start() -> TestEtcd {
        let dir = tempfile::tempdir().unwrap();
        let member = start_member(member_config(dir.path(), "suite"))
            .await
            .unwrap();
        TestEtcd { member, dir }
    }

    pub async fn store(&self) -> crate::EtcdStore {
        self.member.connect().await.unwrap()
    }
}
