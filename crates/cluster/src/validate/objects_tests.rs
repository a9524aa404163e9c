//! Node, swarm, secret and config validation.

use serde_json::json;

use super::*;
use crate::error::Origin;
use crate::model::{ConfigSpec, NodeSpec, SecretSpec, SwarmSpec};

fn node(role: &str, availability: &str) -> NodeSpec {
    serde_json::from_value(json!({"Labels":{},"Role":role,"Availability":availability})).unwrap()
}

#[test]
fn node_specs() {
    for (r, a) in [
        ("worker", "active"),
        ("manager", "drain"),
        ("Worker", "PAUSE"),
    ] {
        validate_node_spec(&node(r, a)).unwrap();
    }
    let e = validate_node_spec(&node("boss", "active")).unwrap_err();
    assert_eq!(e.to_string(), "invalid Role: \"boss\"");
    assert_eq!(e.origin, Origin::Dockerd);
    assert_eq!(e.http_status(), 400);
    assert_eq!(
        validate_node_spec(&node("", "active"))
            .unwrap_err()
            .to_string(),
        "invalid Role: \"\""
    );
    assert_eq!(
        validate_node_spec(&node("worker", "off"))
            .unwrap_err()
            .to_string(),
        "invalid Availability: \"off\""
    );
    assert_eq!(
        validate_node_spec(&node("worker", ""))
            .unwrap_err()
            .to_string(),
        "invalid Availability: \"\""
    );
}

#[test]
fn swarm_specs() {
    validate_swarm_spec(&SwarmSpec::with_defaults()).unwrap();
    let mut s = SwarmSpec::with_defaults();
    s.ca_config.node_cert_expiry = 59 * 60 * 1_000_000_000;
    assert_eq!(
        validate_swarm_spec(&s).unwrap_err().to_string(),
        "minimum certificate expiry time is: 1h0m0s"
    );
    let mut s = SwarmSpec::with_defaults();
    s.dispatcher.heartbeat_period = -1;
    assert_eq!(
        validate_swarm_spec(&s).unwrap_err().to_string(),
        "heartbeat time period cannot be a negative duration"
    );
    let mut s = SwarmSpec::with_defaults();
    s.annotations.name = "mine".into();
    assert_eq!(
        validate_swarm_spec(&s).unwrap_err().to_string(),
        "modification of cluster name is not allowed"
    );
    let mut s = SwarmSpec::with_defaults();
    s.ca_config.external_cas = vec![crate::model::swarm::ExternalCa {
        protocol: "acme".into(),
        ..Default::default()
    }];
    assert_eq!(
        validate_swarm_spec(&s).unwrap_err().to_string(),
        "invalid protocol: \"acme\""
    );
}

fn secret(name: &str, data: &[u8]) -> SecretSpec {
    let mut s = SecretSpec::default();
    s.annotations.name = name.into();
    s.data = data.to_vec();
    s
}

#[test]
fn secret_names() {
    validate_secret_spec(&secret("db_pass", b"x")).unwrap();
    validate_secret_spec(&secret("a.b-c_d", b"x")).unwrap();
    validate_secret_spec(&secret("A", b"x")).unwrap();
    assert_eq!(
        validate_secret_spec(&secret("", b"x"))
            .unwrap_err()
            .to_string(),
        "name must be provided"
    );
    let bad = "invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end character must be [a-zA-Z0-9]";
    for n in [".a", "a.", "a b", "a/b", "-a", "é"] {
        assert_eq!(
            validate_secret_spec(&secret(n, b"x"))
                .unwrap_err()
                .to_string(),
            bad,
            "{n}"
        );
    }
    assert_eq!(
        validate_secret_spec(&secret(&"a".repeat(65), b"x"))
            .unwrap_err()
            .to_string(),
        bad
    );
    validate_secret_spec(&secret(&"a".repeat(64), b"x")).unwrap();
}

#[test]
fn secret_sizes() {
    let msg = "secret data must be larger than 0 and less than 512000 bytes";
    assert_eq!(
        validate_secret_spec(&secret("s", b""))
            .unwrap_err()
            .to_string(),
        msg
    );
    assert_eq!(
        validate_secret_spec(&secret("s", &vec![0; 500 * 1024]))
            .unwrap_err()
            .to_string(),
        msg
    );
    validate_secret_spec(&secret("s", &vec![0; 500 * 1024 - 1])).unwrap();
    let mut driven = secret("s", b"");
    driven.driver = Some(crate::model::Driver {
        name: "vault".into(),
        ..Default::default()
    });
    validate_secret_spec(&driven).unwrap();
    driven.driver = Some(crate::model::Driver::default());
    assert_eq!(
        validate_secret_spec(&driven).unwrap_err().to_string(),
        "secret driver must have a name"
    );
}

#[test]
fn config_specs() {
    let mut c = ConfigSpec::default();
    c.annotations.name = "app.conf".into();
    c.data = b"x".to_vec();
    validate_config_spec(&c).unwrap();
    c.data = vec![1; 1000 * 1024];
    assert_eq!(
        validate_config_spec(&c).unwrap_err().to_string(),
        "config data must be larger than 0 and less than 1024000 bytes"
    );
    c.data.clear();
    assert!(validate_config_spec(&c).is_err());
}

#[test]
fn only_labels_change() {
    let cur = secret("s", b"data");
    let mut upd = cur.clone();
    upd.annotations.labels.insert("a".into(), "b".into());
    validate_secret_update(&cur, &upd).unwrap();
    upd.data.clear();
    validate_secret_update(&cur, &upd).unwrap();
    upd.data = b"other".to_vec();
    assert_eq!(
        validate_secret_update(&cur, &upd).unwrap_err().to_string(),
        "only updates to Labels are allowed"
    );
    let mut renamed = cur.clone();
    renamed.annotations.name = "t".into();
    assert!(validate_secret_update(&cur, &renamed).is_err());
    let mut c = ConfigSpec::default();
    c.annotations.name = "c".into();
    c.data = b"1".to_vec();
    let mut d = c.clone();
    d.data = b"2".to_vec();
    assert!(validate_config_update(&c, &d).is_err());
    d.data = b"1".to_vec();
    validate_config_update(&c, &d).unwrap();
}
