use std::time::Duration;

use chrono::TimeZone;
use kvstore::MemoryStore;

use super::*;
use crate::seal::DataKey;

fn store() -> ClusterStore {
    ClusterStore::new(Arc::new(MemoryStore::new()), "c1")
}

async fn add_task(store: &ClusterStore, id: &str, service: &str, node: &str) {
    let t = Task {
        id: id.into(),
        service_id: service.into(),
        node_id: node.into(),
        ..Default::default()
    };
    store.create(Kind::Task, id, None, &t).await.unwrap();
}

fn line(node: &str, task: &str, secs: i64, text: &str) -> TaskLine {
    TaskLine {
        context: Arc::new(TaskContext {
            node_id: node.into(),
            service_id: "s1".into(),
            task_id: task.into(),
        }),
        line: LogLine {
            stream: StdStream::Stdout,
            time: Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap(),
            data: Bytes::from(text.to_string()),
        },
    }
}

fn local(
    lines: Vec<TaskLine>,
    keep_open: bool,
) -> (mpsc::Receiver<TaskLine>, mpsc::Sender<TaskLine>) {
    let (tx, rx) = mpsc::channel(16);
    for l in lines {
        tx.try_send(l).unwrap();
    }
    if keep_open {
        (rx, tx)
    } else {
        let (other, _) = mpsc::channel(1);
        (rx, other)
    }
}

fn request(
    store: &ClusterStore,
    broker: &Arc<LogBroker>,
    local: mpsc::Receiver<TaskLine>,
) -> Request {
    Request {
        store: store.clone(),
        broker: broker.clone(),
        node_id: "m1".into(),
        addr: "10.0.0.1:2377".into(),
        local,
    }
}

fn opts(follow: bool) -> LogOptions {
    LogOptions {
        stdout: true,
        stderr: true,
        follow,
        tail: Some(5),
        ..Default::default()
    }
}

/// The subscription once it is in the store.
async fn published(store: &ClusterStore) -> LogSubscription {
    for _ in 0..400 {
        if let Some(s) = subscriptions(store).await.unwrap().into_iter().next() {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("no subscription in the store");
}

async fn gone(store: &ClusterStore) {
    for _ in 0..400 {
        if subscriptions(store).await.unwrap().is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the subscription stayed");
}

#[tokio::test]
async fn every_nodes_lines_merge_by_time_without_follow() {
    let store = store();
    add_task(&store, "t1", "s1", "m1").await;
    add_task(&store, "t2", "s1", "n2").await;
    // A node that is down is not waited for.
    add_task(&store, "t3", "s1", "n3").await;
    crate::dispatcher::heartbeat(&store, "n2").await.unwrap();
    let broker = LogBroker::new();
    let (local_rx, _keep) = local(
        vec![line("m1", "t1", 1, "a"), line("m1", "t1", 3, "c")],
        false,
    );

    let node = {
        let store = store.clone();
        let broker = broker.clone();
        tokio::spawn(async move {
            let sub = published(&store).await;
            assert_eq!(sub.manager_node, "m1");
            assert_eq!(sub.manager_addr, "10.0.0.1:2377");
            assert_eq!(sub.selector, Selector::Service("s1".into()));
            assert_eq!(sub.options.tail, Some(5));
            assert!(!sub.options.follow);
            let out = broker.attach(&sub.id, "n2").await.unwrap();
            for l in [line("x", "t2", 2, "b"), line("x", "t2", 4, "d")] {
                out.send(l).await.unwrap();
            }
        })
    };
    let mut rx = serve(
        request(&store, &broker, local_rx),
        Selector::Service("s1".into()),
        opts(false),
    )
    .await
    .unwrap();
    let mut got = Vec::new();
    while let Some(l) = rx.recv().await {
        got.push(format!(
            "{}@{}",
            String::from_utf8_lossy(&l.line.data),
            l.context.node_id
        ));
    }
    node.await.unwrap();
    assert_eq!(got, ["a@m1", "b@x", "c@m1", "d@x"]);
    // Withdrawn with the stream's end.
    gone(&store).await;
}

#[tokio::test]
async fn a_follower_gets_nodes_that_attach_later_until_it_goes_away() {
    let store = store();
    let broker = LogBroker::new();
    let (local_rx, local_tx) = local(vec![line("m1", "t1", 1, "a")], true);
    let mut rx = serve(
        request(&store, &broker, local_rx),
        Selector::Task("t9".into()),
        opts(true),
    )
    .await
    .unwrap();
    assert_eq!(rx.recv().await.unwrap().line.data, "a");
    let sub = published(&store).await;
    assert!(sub.options.follow);
    let out = broker.attach(&sub.id, "n2").await.unwrap();
    out.send(line("n2", "t9", 2, "b")).await.unwrap();
    assert_eq!(rx.recv().await.unwrap().line.data, "b");
    local_tx.send(line("m1", "t1", 3, "c")).await.unwrap();
    assert_eq!(rx.recv().await.unwrap().line.data, "c");
    // The request ends: the subscription goes from the store and the broker.
    drop(rx);
    gone(&store).await;
    assert!(broker.attach(&sub.id, "n3").await.is_none());
}

#[tokio::test]
async fn nodes_learn_only_the_subscriptions_of_their_tasks() {
    let store = store();
    add_task(&store, "t1", "s1", "m1").await;
    add_task(&store, "t2", "s1", "n2").await;
    add_task(&store, "t4", "s2", "n4").await;
    let broker = LogBroker::new();
    let (local_rx, _keep) = local(vec![], true);
    let _rx = serve(
        request(&store, &broker, local_rx),
        Selector::Service("s1".into()),
        opts(true),
    )
    .await
    .unwrap();
    let key = DataKey::generate().unwrap();
    let of = |node: &'static str| {
        let store = store.clone();
        let key = key.clone();
        async move {
            crate::dispatcher::assignments_of(&store, &key, node)
                .await
                .unwrap()
                .0
                .log_subscriptions
        }
    };
    let n2 = of("n2").await;
    assert_eq!(n2.len(), 1);
    assert_eq!(n2[0].manager_addr, "10.0.0.1:2377");
    assert!(of("n4").await.is_empty(), "no task of s1 there");
    // The serving manager reads its own node's lines itself.
    assert!(of("m1").await.is_empty());
}

#[test]
fn lines_travel_with_their_bytes_and_take_the_sender_s_node() {
    let mut l = line("n2", "t2", 7, "");
    l.line.data = Bytes::from_static(b"\xff\x00bin\n");
    l.line.stream = StdStream::Stderr;
    let wire: WireLine =
        serde_json::from_str(&serde_json::to_string(&WireLine::from_line(&l)).unwrap()).unwrap();
    // Whatever a node claims, its lines are the node's its certificate names.
    let back = wire.into_line("n7").unwrap();
    assert_eq!(back.context.node_id, "n7");
    assert_eq!(back.context.task_id, "t2");
    assert_eq!(back.line.data, l.line.data);
    assert_eq!(back.line.stream, StdStream::Stderr);
    assert_eq!(back.line.time, l.line.time);
}
