//! The etcd store against real etcd members started for each test (loopback,
//! free ports, temp dirs; each member is stopped when its handle drops, so a
//! failing test leaves none behind): the suite, a three-member cluster that
//! loses a member, mutual TLS, and the member's own errors.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kvstore::suite::{TestEtcd, member_config, start_member, within};
use kvstore::{
    ClusterState, EtcdMember, EtcdOptions, EtcdStore, KvError, KvStore, MemberConfig, MemberError,
    TlsFiles, WatchEvent,
};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_etcd_store_passes_the_suite() {
    let etcd = TestEtcd::start().await;
    let store = etcd.store().await;
    kvstore::suite::conformance(Arc::new(store), "/suite/").await;
}

/// Retries a write while the cluster elects a new leader.
async fn put_eventually(store: &EtcdStore, key: &str) -> i64 {
    within(30, "a write after the kill", async {
        loop {
            match store.put(key, b"x".to_vec()).await {
                Ok(r) => return r,
                Err(e) if e.is_unavailable() => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_member_cluster_keeps_answering_when_one_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let m1 = start_member(member_config(dir.path(), "m1")).await.unwrap();
    let first = m1.connect().await.unwrap();
    let mut members = vec![m1];
    for name in ["m2", "m3"] {
        let mut c = member_config(dir.path(), name);
        let added = first.member_add(name, &[c.peer_url()]).await.unwrap();
        assert!(
            added
                .initial_cluster
                .contains(&format!("{name}={}", c.peer_url())),
            "{}",
            added.initial_cluster
        );
        c.initial_cluster = Some(added.initial_cluster);
        c.cluster_state = ClusterState::Existing;
        members.push(EtcdMember::start(c).await.unwrap());
    }
    let list = first.member_list().await.unwrap();
    let mut names: Vec<&str> = list.iter().map(|m| m.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["m1", "m2", "m3"]);
    assert!(
        list.iter()
            .all(|m| m.client_urls.len() == 1 && !m.is_learner)
    );

    let endpoints: Vec<String> = members.iter().map(EtcdMember::client_url).collect();
    let store = EtcdStore::connect(&endpoints, None).await.unwrap();
    let mut w = store.watch("/c/", 0).await.unwrap();
    let before = store.put("/c/before", b"1".to_vec()).await.unwrap();
    assert_eq!(w.next().await.unwrap()[0].revision(), before);

    // The member that bootstrapped the cluster (most likely its leader) dies.
    let dead = list.iter().find(|m| m.name == "m1").unwrap().id;
    members[0].kill();
    let after = put_eventually(&store, "/c/after").await;
    assert!(store.get("/c/before").await.unwrap().is_some());
    // The watch resumed on a live member without losing or repeating events.
    let ev = within(30, "the watch resumes", w.next()).await.unwrap();
    assert_eq!((ev[0].key(), ev[0].revision()), ("/c/after", after));

    // The dead member leaves the cluster; the others go on.
    store.member_remove(dead).await.unwrap();
    assert_eq!(store.member_list().await.unwrap().len(), 2);
    put_eventually(&store, "/c/removed").await;
}

struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
    path: PathBuf,
}

fn ca(dir: &Path, name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = p.self_signed(&key).unwrap();
    let path = dir.join(format!("{name}.pem"));
    std::fs::write(&path, cert.pem()).unwrap();
    Ca { cert, key, path }
}

/// A certificate for 127.0.0.1, good for serving and for connecting (etcd
/// members are both, to clients and to each other).
fn issue(dir: &Path, ca: &Ca, name: &str) -> TlsFiles {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".into()]).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let cert = p.signed_by(&key, &ca.cert, &ca.key).unwrap();
    let files = TlsFiles {
        ca: ca.path.clone(),
        cert: dir.join(format!("{name}.crt")),
        key: dir.join(format!("{name}.key")),
    };
    std::fs::write(&files.cert, cert.pem()).unwrap();
    std::fs::write(&files.key, key.serialize_pem()).unwrap();
    files
}

fn tls_member(dir: &Path, ca: &Ca, name: &str) -> MemberConfig {
    let files = issue(dir, ca, name);
    let mut c = member_config(dir, name);
    c.client_tls = Some(files.clone());
    c.peer_tls = Some(files);
    c
}

fn quick() -> EtcdOptions {
    EtcdOptions {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(2),
        watch_resume: Duration::from_secs(2),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_between_members_and_with_clients() {
    let dir = tempfile::tempdir().unwrap();
    let cluster_ca = ca(dir.path(), "cluster-ca");
    let m1 = start_member(tls_member(dir.path(), &cluster_ca, "t1"))
        .await
        .unwrap();
    assert!(m1.client_url().starts_with("https://127.0.0.1:"));

    // A second member joins over peer TLS (peer certificates required).
    let admin = m1.connect().await.unwrap();
    let mut c2 = tls_member(dir.path(), &cluster_ca, "t2");
    let added = admin.member_add("t2", &[c2.peer_url()]).await.unwrap();
    assert!(added.initial_cluster.contains("https://"));
    c2.initial_cluster = Some(added.initial_cluster);
    c2.cluster_state = ClusterState::Existing;
    let m2 = EtcdMember::start(c2).await.unwrap();

    // A client with a certificate of the cluster CA works, on both members.
    let client = issue(dir.path(), &cluster_ca, "client");
    let endpoints = [m1.client_url(), m2.client_url()];
    let store = EtcdStore::connect(&endpoints, Some(&client)).await.unwrap();
    kvstore::suite::conformance(Arc::new(store), "/tls/").await;

    // Refused: a certificate of another CA, no certificate, plain HTTP.
    let other_ca = ca(dir.path(), "other-ca");
    let stranger = issue(dir.path(), &other_ca, "stranger");
    let stranger = TlsFiles {
        ca: cluster_ca.path.clone(),
        ..stranger
    };
    let refused = EtcdStore::connect_with(&endpoints, Some(&stranger), quick()).await;
    assert!(
        matches!(refused, Err(KvError::Unavailable(_))),
        "{refused:?}"
    );

    let ca_only = etcd_client::TlsOptions::new().ca_certificate(
        etcd_client::Certificate::from_pem(std::fs::read(&cluster_ca.path).unwrap()),
    );
    let opts = etcd_client::ConnectOptions::new()
        .with_tls(ca_only)
        .with_connect_timeout(Duration::from_secs(2))
        .with_timeout(Duration::from_secs(2));
    let mut anonymous = etcd_client::Client::connect([m1.client_url()], Some(opts))
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), anonymous.get("k", None)).await;
    assert!(
        !matches!(got, Ok(Ok(_))),
        "a client without certificate got an answer"
    );

    let plain = format!("http://{}", m1.config().client_addr);
    let refused = EtcdStore::connect_with(&[plain], None, quick()).await;
    assert!(
        matches!(refused, Err(KvError::Unavailable(_))),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_ends_with_an_error_when_etcd_goes_away() {
    let etcd = TestEtcd::start().await;
    let store = EtcdStore::connect_with(&[etcd.member.client_url()], None, quick())
        .await
        .unwrap();
    let mut w = store.watch("/w/", 0).await.unwrap();
    let r = store.put("/w/a", b"1".to_vec()).await.unwrap();
    assert!(matches!(&w.next().await.unwrap()[..], [WatchEvent::Put(kv)] if kv.mod_revision == r));
    let TestEtcd { member, dir } = etcd;
    let pid = member.pid().unwrap();
    member.stop().await.unwrap();
    // SIGTERM ended it and it was reaped.
    assert!(!Path::new(&format!("/proc/{pid}")).exists());
    let err = within(20, "the watch error", w.next()).await;
    assert!(matches!(err, Err(KvError::Unavailable(_))), "{err:?}");
    assert!(matches!(
        store.get("/w/a").await,
        Err(KvError::Unavailable(_))
    ));
    drop(dir);
}

#[tokio::test]
async fn a_missing_binary_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = member_config(dir.path(), "x");
    c.binary = Some("/nonexistent/etcd".into());
    let err = EtcdMember::start(c).await.unwrap_err();
    assert!(matches!(err, MemberError::NotFound));
    assert_eq!(
        err.to_string(),
        "etcd not found: install the etcd-server package (apt-get install etcd-server)"
    );
}

#[tokio::test]
async fn a_member_that_fails_to_start_quotes_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = member_config(dir.path(), "bad");
    c.extra_args = vec!["--no-such-flag".into()];
    let err = EtcdMember::start(c).await.unwrap_err();
    assert!(matches!(err, MemberError::Exited { .. }), "{err}");
    assert!(err.to_string().contains("no-such-flag"), "{err}");

    // A member that cannot reach quorum (its peers never start) times out.
    let mut c = member_config(dir.path(), "lonely");
    c.initial_cluster = Some(format!("lonely={},ghost=http://127.0.0.1:9", c.peer_url()));
    c.start_timeout = Duration::from_secs(3);
    let err = EtcdMember::start(c).await.unwrap_err();
    assert!(matches!(err, MemberError::StartTimeout { .. }), "{err}");
    assert!(err.to_string().contains("its log ends with"), "{err}");
}

/// A watch catching up on a long history (etcd sends it in responses of
/// many revisions, headed with the store's current revision) loses its
/// member half-way and resumes after the last event it delivered: every
/// revision arrives once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_resumes_where_it_broke_when_its_member_restarts() {
    const WRITES: usize = 1200;
    let etcd = TestEtcd::start().await;
    let opts = EtcdOptions {
        watch_resume: Duration::from_secs(30),
        ..EtcdOptions::default()
    };
    let store = EtcdStore::connect_with(&[etcd.member.client_url()], None, opts)
        .await
        .unwrap();
    let first = store.revision().await.unwrap() + 1;
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..WRITES / 8 {
                    store
                        .put(&format!("/h/{w}/{}", i % 10), vec![0; 512])
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let mut w = store.watch("/h/", first).await.unwrap();
    let mut revs: Vec<i64> = Vec::new();
    while revs.len() < 100 {
        revs.extend(w.next().await.unwrap().iter().map(WatchEvent::revision));
    }

    // The member goes down mid-catch-up and comes back on the same ports.
    let TestEtcd { member, dir } = etcd;
    let config = member.config().clone();
    member.stop().await.unwrap();
    let member = EtcdMember::start(config).await.unwrap();
    let more = put_eventually(&store, "/h/after").await;

    within(60, "the rest of the history", async {
        while revs.last() != Some(&more) {
            revs.extend(w.next().await.unwrap().iter().map(WatchEvent::revision));
        }
    })
    .await;
    let want: Vec<i64> = (first..=more).collect();
    assert_eq!(revs.len(), want.len(), "no revision lost or repeated");
    assert_eq!(revs, want);
    drop(member);
    drop(dir);
}

/// A supervised member killed (-9) is started again on its data: the same
/// ports, the data written before it died, a new pid in its pid file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervised_member_comes_back_after_it_is_killed() {
    let TestEtcd { member, dir } = TestEtcd::start().await;
    let url = member.client_url();
    let store = member.connect().await.unwrap();
    let rev = put_eventually(&store, "/kept").await;
    let pidfile = dir.path().join("etcd.pid");
    let supervised = kvstore::SupervisedMember::new(member, Some(pidfile.clone()));
    let first = supervised.pid().await.unwrap();
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap(),
        first.to_string()
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let again = within(30, "the member started again", async {
        loop {
            if let Some(pid) = supervised.pid().await
                && pid != first
            {
                return pid;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert_eq!(
        std::fs::read_to_string(&pidfile).unwrap(),
        again.to_string()
    );
    let client = EtcdStore::connect(&[url], None).await.unwrap();
    let kv = client
        .get("/kept")
        .await
        .unwrap()
        .expect("the data survived");
    assert_eq!(kv.mod_revision, rev);
    // Paused, it stays down; stop ends it.
    supervised.pause();
    supervised.stop().await.unwrap();
    assert!(
        !Path::new(&format!("/proc/{again}")).exists()
            || std::fs::read_to_string(format!("/proc/{again}/stat"))
                .map(|s| s.contains(") Z "))
                .unwrap_or(true),
        "the member is gone"
    );
    drop(dir);
}

/// Listings and watch batches bigger than gRPC's default 4 MiB answer
/// (a big cluster's tasks): 600 values of 10 KiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_over_four_mebibytes_are_taken() {
    let etcd = TestEtcd::start().await;
    let store = etcd.store().await;
    let first = store.revision().await.unwrap() + 1;
    for chunk in (0..600).collect::<Vec<_>>().chunks(100) {
        let ops = chunk
            .iter()
            .map(|i| kvstore::Op::put(format!("/big/{i:04}"), vec![b'x'; 10 * 1024]))
            .collect();
        assert!(store.txn(vec![], ops, vec![]).await.unwrap().succeeded);
    }
    let listing = store.range("/big/").await.unwrap();
    assert_eq!(listing.kvs.len(), 600);
    let mut w = store.watch("/big/", first).await.unwrap();
    let mut seen = 0;
    while seen < 600 {
        seen += within(30, "the watch's history", w.next())
            .await
            .unwrap()
            .len();
    }
    assert_eq!(seen, 600);
}
