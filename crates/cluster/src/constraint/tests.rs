//! Parsing and matching cases taken from swarmkit's behaviour.

use super::*;
use crate::model::{Node, NodeState};

fn exprs(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn err(list: &[&str]) -> String {
    parse(&exprs(list)).unwrap_err().to_string()
}

fn node() -> Node {
    let mut n = Node {
        id: "nodeid123".into(),
        ..Default::default()
    };
    n.description.hostname = "Host-1".into();
    n.description.platform.os = "linux".into();
    n.description.platform.architecture = "x86_64".into();
    n.spec.role = "manager".into();
    n.spec
        .annotations
        .labels
        .insert("zone".into(), "East".into());
    n.spec
        .annotations
        .labels
        .insert("Disk".into(), "ssd".into());
    n.description
        .engine
        .labels
        .insert("gpu".into(), "yes".into());
    n.status.state = NodeState::Ready;
    n.status.addr = "192.168.1.20".into();
    n
}

fn matches(expr: &str) -> bool {
    let c = parse(&exprs(&[expr])).unwrap();
    node_matches(&c, &node())
}

#[test]
fn parse_ok() {
    let c = parse(&exprs(&["node.role == manager", "node.labels.zone!=west"])).unwrap();
    assert_eq!(c[0].key, "node.role");
    assert_eq!(c[0].operator, Operator::Eq);
    assert_eq!(c[0].value, "manager");
    assert_eq!(c[1].operator, Operator::NotEq);
    assert_eq!(c[1].value, "west");
    assert!(parse(&[]).unwrap().is_empty());
}

#[test]
fn parse_errors_use_swarmkit_text() {
    assert_eq!(
        err(&["node.role=manager"]),
        "constraint expected one operator from ==, !="
    );
    assert_eq!(
        err(&["node.role"]),
        "constraint expected one operator from ==, !="
    );
    assert_eq!(err(&[""]), "constraint expected one operator from ==, !=");
    assert_eq!(err(&["==manager"]), "key '' is invalid");
    assert_eq!(err(&["1node==manager"]), "key '1node' is invalid");
    assert_eq!(err(&["n==manager"]), "key 'n' is invalid");
    assert_eq!(err(&["node role==manager"]), "key 'node role' is invalid");
    assert_eq!(err(&["node.role=="]), "value '' is invalid");
    assert_eq!(err(&["node.role==a,b"]), "value 'a,b' is invalid");
    assert_eq!(err(&["node.role==a!=b"]), "value 'a!=b' is invalid");
    assert_eq!(err(&["node.labels.x==é"]), "value 'é' is invalid");
    // The first bad expression wins.
    assert_eq!(
        err(&["node.role==manager", "bad"]),
        "constraint expected one operator from ==, !="
    );
}

#[test]
fn value_character_set() {
    for v in [
        "a:b", "a-b", "a_b", "a b", "a.b", "a*", "(a)", "a?", "a+", "[a]", "a\\b", "^a$", "a|b",
        "a/b",
    ] {
        assert!(
            parse(&exprs(&[&format!("node.labels.x=={v}")])).is_ok(),
            "{v}"
        );
    }
    for v in [
        "a,b", "a=b", "a;b", "a'b", "a\"b", "a{b}", "a@b", "a#b", "a%b", "a&b", "a!b", "a<b", "a~b",
    ] {
        assert!(
            parse(&exprs(&[&format!("node.labels.x=={v}")])).is_err(),
            "{v}"
        );
    }
}

#[test]
fn key_character_set() {
    for k in ["_x", "a1", "node.labels.a-b_c.d", "Node.Labels.X"] {
        assert!(parse(&exprs(&[&format!("{k}==v")])).is_ok(), "{k}");
    }
    for k in ["x", "-x", ".x", "a$", "a/b"] {
        assert!(parse(&exprs(&[&format!("{k}==v")])).is_err(), "{k}");
    }
}

#[test]
fn id_hostname_role() {
    assert!(matches("node.id==nodeid123"));
    assert!(matches("node.id==NODEID123"));
    assert!(!matches("node.id==other"));
    assert!(matches("node.id!=other"));
    assert!(matches("node.hostname==host-1"));
    assert!(!matches("node.hostname!=HOST-1"));
    assert!(matches("node.role==manager"));
    assert!(matches("node.role==MANAGER"));
    assert!(!matches("node.role==worker"));
    assert!(matches("node.role!=worker"));
    assert!(matches("NODE.ROLE==manager"), "keys fold case");
}

#[test]
fn role_defaults_to_worker() {
    let mut n = node();
    n.spec.role.clear();
    let c = parse(&exprs(&["node.role==worker"])).unwrap();
    assert!(node_matches(&c, &n));
}

#[test]
fn platform() {
    assert!(matches("node.platform.os==linux"));
    assert!(matches("node.platform.os==Linux"));
    assert!(matches("node.platform.arch==x86_64"));
    assert!(
        !matches("node.platform.arch==amd64"),
        "constraints compare the raw text"
    );
    assert!(matches("node.platform.os!=windows"));
}

#[test]
fn labels() {
    assert!(matches("node.labels.zone==east"), "values fold case");
    assert!(!matches("node.labels.Zone==east"), "label names do not");
    assert!(matches("node.labels.Zone!=east"));
    assert!(matches("node.labels.Disk==ssd"));
    assert!(matches("NODE.LABELS.zone==east"), "the prefix folds case");
    assert!(!matches("node.labels.missing==x"));
    assert!(matches("node.labels.missing!=x"));
    assert!(matches("engine.labels.gpu==yes"));
    assert!(!matches("engine.labels.gpu==no"));
    assert!(matches("engine.labels.cpu!=yes"));
    assert!(
        !matches("engine.labels.zone==east"),
        "engine and node labels are distinct"
    );
}

#[test]
fn unknown_keys_never_match() {
    assert!(!matches("node.name==x"));
    assert!(!matches("node.name!=x"));
    assert!(!matches("node.labels==x"), "a bare prefix is no label");
    assert!(!matches("foo==bar"));
}

#[test]
fn node_ip() {
    assert!(matches("node.ip==192.168.1.20"));
    assert!(!matches("node.ip!=192.168.1.20"));
    assert!(matches("node.ip!=192.168.1.21"));
    assert!(matches("node.ip==192.168.1.0/24"));
    assert!(matches("node.ip==192.168.0.0/16"));
    assert!(!matches("node.ip==10.0.0.0/8"));
    assert!(matches("node.ip!=10.0.0.0/8"));
    assert!(!matches("node.ip!=192.168.1.0/24"));
    assert!(matches("node.ip==0.0.0.0/0"));
    assert!(
        matches("node.ip==::ffff:192.168.1.20"),
        "v4-mapped equals v4"
    );
    assert!(!matches("node.ip==fe80::/10"));
    assert!(
        !matches("node.ip==notanip"),
        "unparsable value matches nothing"
    );
    assert!(!matches("node.ip!=notanip"), "whatever the operator");
    assert!(!matches("node.ip==192.168.1.0/33"));
}

#[test]
fn node_ip_v6_and_missing() {
    let mut n = node();
    n.status.addr = "2001:db8::5".into();
    let c = parse(&exprs(&["node.ip==2001:db8::/32"])).unwrap();
    assert!(node_matches(&c, &n));
    let c = parse(&exprs(&["node.ip==2001:db8::5"])).unwrap();
    assert!(node_matches(&c, &n));
    n.status.addr.clear();
    let c = parse(&exprs(&["node.ip==10.0.0.0/8"])).unwrap();
    assert!(!node_matches(&c, &n));
    let c = parse(&exprs(&["node.ip!=10.0.0.0/8"])).unwrap();
    assert!(
        node_matches(&c, &n),
        "an unknown address is outside every subnet"
    );
}

#[test]
fn all_must_match() {
    let c = parse(&exprs(&["node.role==manager", "node.labels.zone==east"])).unwrap();
    assert!(node_matches(&c, &node()));
    let c = parse(&exprs(&["node.role==manager", "node.labels.zone==west"])).unwrap();
    assert!(!node_matches(&c, &node()));
}

#[test]
fn whitespace_is_trimmed() {
    assert!(matches("  node.role   ==   manager  "));
    assert!(matches("node.labels.zone ==\teast"));
}
