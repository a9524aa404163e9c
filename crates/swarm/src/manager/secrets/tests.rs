use std::sync::Arc;

use cluster::model::{
    ConfigReference, ConfigSpec, ContainerSpec, FileTarget, SecretReference, SecretSpec,
    ServiceSpec, Task,
};
use kvstore::MemoryStore;

use super::*;
use crate::seal::DataKey;
use crate::store::ClusterStore;

fn manager() -> Manager {
    let store = ClusterStore::new(Arc::new(MemoryStore::new()), "c1");
    Manager::new(store, "n1".into(), DataKey::generate().unwrap())
}

fn secret_spec(name: &str, data: &[u8]) -> SecretSpec {
    let mut s = SecretSpec {
        data: data.to_vec(),
        ..Default::default()
    };
    s.annotations.name = name.into();
    s
}

fn config_spec(name: &str, data: &[u8]) -> ConfigSpec {
    let mut c = ConfigSpec {
        data: data.to_vec(),
        ..Default::default()
    };
    c.annotations.name = name.into();
    c
}

fn file(name: &str) -> Option<FileTarget> {
    Some(FileTarget {
        name: name.into(),
        uid: "0".into(),
        gid: "0".into(),
        mode: 0o444,
    })
}

fn service_using(name: &str, secrets: &[(&str, &str)], configs: &[(&str, &str)]) -> ServiceSpec {
    let mut spec = ServiceSpec::default();
    spec.annotations.name = name.into();
    spec.task_template.container_spec = Some(ContainerSpec {
        image: "busybox".into(),
        secrets: secrets
            .iter()
            .map(|(id, n)| SecretReference {
                file: file(n),
                secret_id: id.to_string(),
                secret_name: n.to_string(),
            })
            .collect(),
        configs: configs
            .iter()
            .map(|(id, n)| ConfigReference {
                file: file(&format!("/etc/{n}")),
                config_id: id.to_string(),
                config_name: n.to_string(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    });
    spec
}

/// Every value in the store, as raw bytes.
async fn raw_store(m: &Manager) -> Vec<u8> {
    let listing = m.store().kv().range("/").await.unwrap();
    listing.kvs.iter().flat_map(|kv| kv.value.clone()).collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn secret_data_is_sealed_in_the_store_and_never_returned() {
    let m = manager();
    let plain = b"correct-horse-battery-staple";
    let id = m
        .create_secret(secret_spec("db_pass", plain))
        .await
        .unwrap();
    let raw = raw_store(&m).await;
    assert!(!contains(&raw, plain), "plaintext in the store");
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(plain);
    assert!(
        !contains(&raw, b64.as_bytes()),
        "base64 plaintext in the store"
    );

    let got = m.secret("db_pass").await.unwrap();
    assert_eq!(got.id, id);
    assert!(got.spec.data.is_empty());
    assert!(got.meta.version.index > 0);
    let json = serde_json::to_value(&got).unwrap();
    assert!(json["Spec"].get("Data").is_none(), "{json}");
    assert!(json.get("berthSealedData").is_none(), "{json}");
    assert_eq!(json["Spec"]["Labels"], serde_json::json!({}));
    assert!(
        m.secrets(&Filters::default()).await.unwrap()[0]
            .spec
            .data
            .is_empty()
    );
    // Found by name in any case, and by id prefix.
    assert_eq!(m.secret("DB_PASS").await.unwrap().id, id);
    assert_eq!(m.secret(&id[..6]).await.unwrap().id, id);
    assert_eq!(
        m.secret("nope").await.unwrap_err().message,
        "secret nope not found"
    );
}

#[tokio::test]
async fn configs_keep_and_show_their_data() {
    let m = manager();
    let id = m
        .create_config(config_spec("app.conf", b"server {}"))
        .await
        .unwrap();
    let got = m.config("app.conf").await.unwrap();
    assert_eq!(got.id, id);
    assert_eq!(got.spec.data, b"server {}");
    assert_eq!(
        m.create_config(config_spec("big", &vec![b'a'; 1_024_000]))
            .await
            .unwrap_err()
            .message,
        "rpc error: code = InvalidArgument desc = config data must be larger than 0 and less than 1024000 bytes"
    );
}

#[tokio::test]
async fn creates_are_checked_as_dockerd_does() {
    let m = manager();
    m.create_secret(secret_spec("s1", b"x")).await.unwrap();
    let dup = m.create_secret(secret_spec("S1", b"y")).await.unwrap_err();
    assert_eq!(dup.kind, ErrorKind::Conflict);
    assert_eq!(
        dup.message,
        "rpc error: code = AlreadyExists desc = secret S1 already exists"
    );
    let bad = m
        .create_secret(secret_spec("bad name", b"x"))
        .await
        .unwrap_err();
    assert_eq!(bad.kind, ErrorKind::InvalidArgument);
    let empty = m.create_secret(secret_spec("e", b"")).await.unwrap_err();
    assert!(
        empty.message.contains("less than 512000 bytes"),
        "{}",
        empty.message
    );
    let big = m
        .create_secret(secret_spec("big", &vec![b'a'; 512_000]))
        .await
        .unwrap_err();
    assert!(big.message.contains("less than 512000 bytes"));
    assert!(
        m.create_secret(secret_spec("fits", &vec![b'a'; 511_999]))
            .await
            .is_ok()
    );
    let mut with_driver = secret_spec("d", b"");
    with_driver.driver = Some(cluster::model::Driver {
        name: "vault".into(),
        ..Default::default()
    });
    assert_eq!(
        m.create_secret(with_driver).await.unwrap_err().message,
        "rpc error: code = Unknown desc = plugin \"vault\" not found"
    );
    let templated = |name: &str, driver: &str, data: &[u8]| {
        let mut c = config_spec(name, data);
        c.templating = Some(cluster::model::Driver {
            name: driver.into(),
            ..Default::default()
        });
        c
    };
    m.create_config(templated("t", "golang", b"{{.Service.Name}}"))
        .await
        .unwrap();
    let t = m.config("t").await.unwrap();
    assert_eq!(t.spec.templating.unwrap().name, "golang");
    // What berth cannot expand is refused, by name, before any task uses it.
    let e = m
        .create_config(templated(
            "t2",
            "golang",
            b"{{range .Service.Labels}}x{{end}}",
        ))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotImplemented);
    assert!(e.message.contains("{{range}}"), "{}", e.message);
    let mut secret = secret_spec("ts", b"{{if 1}}{{end}}");
    secret.templating = Some(cluster::model::Driver {
        name: "golang".into(),
        ..Default::default()
    });
    assert!(
        m.create_secret(secret)
            .await
            .unwrap_err()
            .message
            .contains("{{if}}")
    );
    // dockerd takes what Go rejects, and an unknown driver, at create time:
    // the task that uses them fails.
    m.create_config(templated("t3", "golang", b"{{nosuchfunc}}"))
        .await
        .unwrap();
    m.create_config(templated("t4", "jinja", b"{% x %}"))
        .await
        .unwrap();
}

#[tokio::test]
async fn only_labels_change() {
    let m = manager();
    m.create_secret(secret_spec("s1", b"same")).await.unwrap();
    let v = m.secret("s1").await.unwrap().meta.version.index as i64;
    let only = "rpc error: code = InvalidArgument desc = only updates to Labels are allowed";
    let renamed = m
        .update_secret("s1", v, secret_spec("s2", b""))
        .await
        .unwrap_err();
    assert_eq!(renamed.message, only);
    let changed = m
        .update_secret("s1", v, secret_spec("s1", b"other"))
        .await
        .unwrap_err();
    assert_eq!(changed.message, only);
    let mut labelled = secret_spec("s1", b"same");
    labelled.annotations.labels.insert("a".into(), "b".into());
    m.update_secret("s1", v, labelled.clone()).await.unwrap();
    let after = m.secret("s1").await.unwrap();
    assert_eq!(after.spec.annotations.labels["a"], "b");
    assert!(after.meta.version.index as i64 > v);
    let stale = m.update_secret("s1", v, labelled).await.unwrap_err();
    assert_eq!(
        stale.message,
        "rpc error: code = Unknown desc = update out of sequence"
    );
    // The data is unchanged by a labels update.
    let (a, _) = crate::dispatcher::assignments_of(m.store(), &m.key, "n1")
        .await
        .unwrap();
    assert!(a.files.is_empty());

    m.create_config(config_spec("c1", b"cfg")).await.unwrap();
    let v = m.config("c1").await.unwrap().meta.version.index as i64;
    assert_eq!(
        m.update_config("c1", v, config_spec("c1", b"new"))
            .await
            .unwrap_err()
            .message,
        only
    );
    m.update_config("c1", v, config_spec("c1", b"cfg"))
        .await
        .unwrap();
}

#[tokio::test]
async fn filters_select_secrets_as_swarmkit() {
    let m = manager();
    for (name, label) in [("s1", "a"), ("s2", "b"), ("other", "a")] {
        let mut spec = secret_spec(name, b"x");
        spec.annotations.labels.insert(label.into(), "1".into());
        m.create_secret(spec).await.unwrap();
    }
    let names = |f: &[(&str, &str)]| {
        let mut filters = Filters::default();
        for (k, v) in f {
            filters
                .0
                .entry(k.to_string())
                .or_default()
                .push(v.to_string());
        }
        let m = m.clone();
        async move {
            m.secrets(&filters).await.map(|l| {
                l.into_iter()
                    .map(|s| s.spec.annotations.name)
                    .collect::<Vec<_>>()
            })
        }
    };
    assert_eq!(names(&[("name", "s")]).await.unwrap(), ["s1", "s2"]);
    assert_eq!(names(&[("names", "s1")]).await.unwrap(), ["s1"]);
    assert_eq!(names(&[("label", "a")]).await.unwrap(), ["other", "s1"]);
    assert_eq!(
        names(&[("name", "s"), ("label", "a=1")]).await.unwrap(),
        ["s1"]
    );
    assert_eq!(
        names(&[("foo", "x")]).await.unwrap_err().message,
        "Invalid filter 'foo'"
    );
}

#[tokio::test]
async fn services_need_their_secrets_and_keep_them() {
    let m = manager();
    let sid = m.create_secret(secret_spec("s1", b"x")).await.unwrap();
    let cid = m.create_config(config_spec("c1", b"y")).await.unwrap();
    let missing = m
        .create_service(service_using("web", &[("nope", "ghost")], &[]))
        .await
        .unwrap_err();
    assert_eq!(missing.kind, ErrorKind::InvalidArgument);
    assert_eq!(
        missing.message,
        "rpc error: code = InvalidArgument desc = secret not found: ghost"
    );
    let two = m
        .create_service(service_using("web", &[("a", "x"), ("b", "y")], &[]))
        .await
        .unwrap_err();
    assert!(
        two.message.ends_with("secrets not found: x, y"),
        "{}",
        two.message
    );
    // The id must be the named secret's.
    let wrong = m
        .create_service(service_using("web", &[(&sid, "s2")], &[]))
        .await
        .unwrap_err();
    assert!(wrong.message.ends_with("secret not found: s2"));
    let no_config = m
        .create_service(service_using("web", &[(&sid, "s1")], &[("zz", "c9")]))
        .await
        .unwrap_err();
    assert!(no_config.message.ends_with("config not found: c9"));

    m.create_service(service_using("web", &[(&sid, "s1")], &[(&cid, "c1")]))
        .await
        .unwrap();
    m.create_service(service_using("api", &[(&sid, "s1")], &[]))
        .await
        .unwrap();
    let in_use = m.remove_secret("s1").await.unwrap_err();
    assert_eq!(in_use.kind, ErrorKind::InvalidArgument);
    assert_eq!(
        in_use.message,
        "rpc error: code = InvalidArgument desc = secret 's1' is in use by the following services: api, web"
    );
    m.remove_service("api").await.unwrap();
    assert_eq!(
        m.remove_secret("s1").await.unwrap_err().message,
        "rpc error: code = InvalidArgument desc = secret 's1' is in use by the following service: web"
    );
    assert_eq!(
        m.remove_config("c1").await.unwrap_err().message,
        "rpc error: code = InvalidArgument desc = config 'c1' is in use by the following service: web"
    );
    // Updating the service to drop them frees them.
    let v = m.service("web").await.unwrap().meta.version.index as i64;
    m.update_service("web", v, service_using("web", &[], &[]), false)
        .await
        .unwrap();
    m.remove_secret("s1").await.unwrap();
    m.remove_config(&cid).await.unwrap();
    assert_eq!(
        m.remove_secret("s1").await.unwrap_err().message,
        "secret s1 not found"
    );
    assert!(m.secrets(&Filters::default()).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_dispatcher_opens_only_the_secrets_a_nodes_tasks_use() {
    let m = manager();
    let s1 = m.create_secret(secret_spec("s1", b"mine")).await.unwrap();
    let s2 = m.create_secret(secret_spec("s2", b"theirs")).await.unwrap();
    let c1 = m.create_config(config_spec("c1", b"conf")).await.unwrap();
    let spec = service_using("web", &[(&s1, "s1")], &[(&c1, "c1")]);
    let mut task = Task {
        id: "t1".into(),
        node_id: "n1".into(),
        spec: spec.task_template.clone(),
        ..Default::default()
    };
    m.store()
        .create(Kind::Task, "t1", None, &task)
        .await
        .unwrap();
    task.id = "t2".into();
    task.node_id = "n2".into();
    task.spec = service_using("other", &[(&s2, "s2")], &[]).task_template;
    m.store()
        .create(Kind::Task, "t2", None, &task)
        .await
        .unwrap();

    let (a, _) = crate::dispatcher::assignments_of(m.store(), &m.key, "n1")
        .await
        .unwrap();
    assert_eq!(a.files.len(), 2);
    assert_eq!(a.files[&s1], b"mine");
    assert_eq!(a.files[&c1], b"conf");
    assert!(!a.files.contains_key(&s2), "another node's secret");
    assert!(a.templated.is_empty());

    // Under another cluster's key the secret does not open, and is left out.
    let (a, _) = crate::dispatcher::assignments_of(m.store(), &DataKey::generate().unwrap(), "n1")
        .await
        .unwrap();
    assert!(!a.files.contains_key(&s1));
    assert!(a.files.contains_key(&c1));
}
