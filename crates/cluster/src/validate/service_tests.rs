//! Service spec validation: each case starts from a valid CLI-shaped spec
//! and breaks one thing. Update rules and cross-object checks are in
//! `update`.

mod update;

use serde_json::{Value, json};

use super::*;
use crate::error::{ErrorKind, Origin};
use crate::model::{Service, ServiceSpec};

fn base() -> Value {
    json!({"Name":"web","Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"nginx:latest","Init":false,"DNSConfig":{}},
        "Resources":{"Limits":{},"Reservations":{}},"Placement":{},"ForceUpdate":0},"Mode":{"Replicated":{"Replicas":3}},
        "EndpointSpec":{"Mode":"vip"}})
}

fn spec(v: Value) -> ServiceSpec {
    serde_json::from_value(v).unwrap()
}

fn with(path: &[&str], value: Value) -> ServiceSpec {
    let mut v = base();
    let mut cur = &mut v;
    for p in &path[..path.len() - 1] {
        cur = cur
            .as_object_mut()
            .unwrap()
            .entry(p.to_string())
            .or_insert(json!({}));
    }
    cur[path[path.len() - 1]] = value;
    spec(v)
}

fn err(s: &ServiceSpec) -> crate::ClusterError {
    validate_service_spec(s).unwrap_err()
}

fn msg(s: &ServiceSpec) -> String {
    err(s).to_string()
}

#[test]
fn base_is_valid() {
    validate_service_spec(&spec(base())).unwrap();
}

#[test]
fn names() {
    assert_eq!(
        msg(&with(&["Name"], json!(""))),
        "meta: name must be provided"
    );
    for bad in ["-web", "web-", "we b", "web.1", "wéb", "_x"] {
        assert_eq!(
            msg(&with(&["Name"], json!(bad))),
            "name must be valid as a DNS name component",
            "{bad}"
        );
    }
    for good in ["w", "web-1", "Web_2", "a--b__c", "1a"] {
        validate_service_spec(&with(&["Name"], json!(good))).unwrap();
    }
    assert_eq!(
        msg(&with(&["Name"], json!("a".repeat(64)))),
        "name must be 63 characters or fewer"
    );
    validate_service_spec(&with(&["Name"], json!("a".repeat(63)))).unwrap();
    let e = err(&with(&["Name"], json!("")));
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert_eq!(e.http_status(), 400);
    assert_eq!(
        e.api_message(),
        "rpc error: code = InvalidArgument desc = meta: name must be provided"
    );
}

#[test]
fn replicas() {
    let huge = json!(u64::MAX);
    assert_eq!(
        msg(&with(&["Mode"], json!({"Replicated":{"Replicas":huge}}))),
        "Number of replicas must be non-negative"
    );
    validate_service_spec(&with(&["Mode"], json!({"Replicated":{"Replicas":0}}))).unwrap();
    validate_service_spec(&with(
        &["Mode"],
        json!({"Replicated":{"Replicas":(i64::MAX as u64)}}),
    ))
    .unwrap();
    assert_eq!(
        msg(&with(
            &["Mode"],
            json!({"ReplicatedJob":{"MaxConcurrent":u64::MAX}})
        )),
        "Maximum concurrent jobs must not be negative"
    );
    assert_eq!(
        msg(&with(
            &["Mode"],
            json!({"ReplicatedJob":{"TotalCompletions":u64::MAX}})
        )),
        "Total completed jobs must not be negative"
    );
}

#[test]
fn one_mode_only() {
    let e = err(&with(&["Mode"], json!({"Replicated":{},"Global":{}})));
    assert_eq!(e.to_string(), "must specify only one service mode");
    assert_eq!(e.origin, Origin::Dockerd);
    assert_eq!(e.api_message(), "must specify only one service mode");
}

#[test]
fn jobs_take_no_update_config() {
    let mut v = base();
    v["Mode"] = json!({"ReplicatedJob":{"MaxConcurrent":2}});
    v["UpdateConfig"] = json!({"Parallelism":1,"MaxFailureRatio":0,"Order":"stop-first"});
    assert_eq!(msg(&spec(v.clone())), "Jobs may not have an update config");
    v["Mode"] = json!({"GlobalJob":{}});
    assert_eq!(msg(&spec(v.clone())), "Jobs may not have an update config");
    v.as_object_mut().unwrap().remove("UpdateConfig");
    validate_service_spec(&spec(v)).unwrap();
}

#[test]
fn update_config() {
    let u = |x: Value| with(&["UpdateConfig"], x);
    assert_eq!(
        msg(&u(
            json!({"Parallelism":1,"Delay":-1,"MaxFailureRatio":0,"Order":""})
        )),
        "TaskSpec: update-delay cannot be negative"
    );
    assert_eq!(
        msg(&u(
            json!({"Parallelism":1,"Monitor":-1,"MaxFailureRatio":0,"Order":""})
        )),
        "TaskSpec: update-monitor cannot be negative"
    );
    assert_eq!(
        msg(&u(
            json!({"Parallelism":1,"MaxFailureRatio":1.5,"Order":""})
        )),
        "TaskSpec: update-maxfailureratio cannot be less than 0 or bigger than 1"
    );
    assert_eq!(
        msg(&u(
            json!({"Parallelism":1,"MaxFailureRatio":-0.1,"Order":""})
        )),
        "TaskSpec: update-maxfailureratio cannot be less than 0 or bigger than 1"
    );
    assert_eq!(
        msg(&u(
            json!({"Parallelism":1,"FailureAction":"explode","MaxFailureRatio":0,"Order":""})
        )),
        "unrecognized update failure action explode"
    );
    assert_eq!(
        msg(&u(
            json!({"Parallelism":1,"MaxFailureRatio":0,"Order":"random"})
        )),
        "unrecognized update order random"
    );
    assert_eq!(
        msg(&with(
            &["RollbackConfig"],
            json!({"Parallelism":1,"MaxFailureRatio":0,"Order":"sideways"})
        )),
        "unrecognized update order sideways"
    );
    validate_service_spec(&u(json!({"Parallelism":0,"Delay":5,"FailureAction":"rollback","Monitor":1,"MaxFailureRatio":1,"Order":"start-first"})))
        .unwrap();
}

#[test]
fn restart_policy() {
    let r = |x: Value| with(&["TaskTemplate", "RestartPolicy"], x);
    assert_eq!(
        msg(&r(json!({"Condition":"sometimes"}))),
        "invalid RestartCondition: \"sometimes\""
    );
    assert_eq!(
        msg(&r(json!({"Condition":"any","Delay":-5}))),
        "TaskSpec: restart-delay cannot be negative"
    );
    assert_eq!(
        msg(&r(json!({"Condition":"any","Window":-5}))),
        "TaskSpec: restart-window cannot be negative"
    );
    for c in ["", "none", "on-failure", "any"] {
        validate_service_spec(&r(json!({"Condition":c,"Delay":0,"MaxAttempts":3}))).unwrap();
    }
}

#[test]
fn constraints() {
    let p = |c: Value| with(&["TaskTemplate", "Placement"], json!({"Constraints": c}));
    assert_eq!(
        msg(&p(json!(["node.role=manager"]))),
        "constraint expected one operator from ==, !="
    );
    assert_eq!(
        msg(&p(json!(["node.role==manager", "x==y"]))),
        "key 'x' is invalid"
    );
    assert_eq!(
        msg(&p(json!(["node.labels.a==b,c"]))),
        "value 'b,c' is invalid"
    );
    validate_service_spec(&p(json!(["node.role==manager", "node.labels.zone!=a"]))).unwrap();
}

#[test]
fn resources() {
    let r = |x: Value| with(&["TaskTemplate", "Resources"], x);
    assert_eq!(
        msg(&r(json!({"Limits":{"NanoCPUs":500}}))),
        "invalid cpu value 5e-07: Must be at least 0.001"
    );
    assert_eq!(
        msg(&r(json!({"Reservations":{"NanoCPUs":500000}}))),
        "invalid cpu value 0.0005: Must be at least 0.001"
    );
    assert_eq!(
        msg(&r(json!({"Limits":{"MemoryBytes":1024}}))),
        "invalid memory value 1024: Must be at least 4MiB"
    );
    assert_eq!(
        msg(&r(json!({"Reservations":{"MemoryBytes":4194303}}))),
        "invalid memory value 4194303: Must be at least 4MiB"
    );
    assert_eq!(
        msg(&r(json!({"Limits":{},"SwapBytes":100}))),
        "memory swap provided, but no memory-limit was set"
    );
    validate_service_spec(&r(
        json!({"Limits":{"MemoryBytes":4194304},"SwapBytes":100}),
    ))
    .unwrap();
    validate_service_spec(&r(
        json!({"Limits":{"NanoCPUs":1000000},"Reservations":{"NanoCPUs":1000000000}}),
    ))
    .unwrap();
}

#[test]
fn images() {
    let i = |x: &str| with(&["TaskTemplate", "ContainerSpec", "Image"], json!(x));
    assert_eq!(
        msg(&i("")),
        "ContainerSpec: image reference must be provided"
    );
    assert_eq!(
        msg(&i("Nginx")),
        "ContainerSpec: \"Nginx\" is not a valid repository/tag"
    );
    assert_eq!(
        msg(&i("a b")),
        "ContainerSpec: \"a b\" is not a valid repository/tag"
    );
    validate_service_spec(&i("registry:5000/team/app:1@sha256:9ae97d36d26566ff84e8893c64a6dc4fe8ca6d1144bf5b87b2b85a32def253c7"))
        .unwrap();
    let mut v = base();
    v["TaskTemplate"]
        .as_object_mut()
        .unwrap()
        .remove("ContainerSpec");
    assert_eq!(msg(&spec(v)), "TaskSpec: missing runtime");
}

#[test]
fn runtimes() {
    let mut v = base();
    v["TaskTemplate"]["Runtime"] = json!("plugin");
    assert_eq!(msg(&spec(v.clone())), "plugin spec must be set");
    v["TaskTemplate"]["PluginSpec"] = json!({"name":"p"});
    validate_service_spec(&spec(v.clone())).unwrap();
    v["TaskTemplate"]["Runtime"] = json!("weird");
    assert_eq!(msg(&spec(v)), "unsupported runtime type: \"weird\"");
}

#[test]
fn mounts() {
    let m = |x: Value| with(&["TaskTemplate", "ContainerSpec", "Mounts"], x);
    assert_eq!(
        msg(&m(
            json!([{"Type":"volume","Source":"a","Target":"/d"},{"Type":"bind","Source":"/b","Target":"/d"}])
        )),
        "ContainerSpec: duplicate mount point: /d"
    );
    assert_eq!(
        msg(&m(json!([{"Type":"disk","Target":"/d"}]))),
        "invalid MountType: \"disk\""
    );
    assert_eq!(msg(&m(json!([{"Target":"/d"}]))), "invalid MountType: \"\"");
    assert_eq!(
        msg(&m(
            json!([{"Type":"bind","Source":"/a","Target":"/d","BindOptions":{"Propagation":"sideways"}}])
        )),
        "invalid MountPropagation: \"sideways\""
    );
    validate_service_spec(&m(
        json!([{"Type":"tmpfs","Target":"/t"},{"Type":"volume","Target":"/v"}]),
    ))
    .unwrap();
}

#[test]
fn health() {
    let h = |x: Value| with(&["TaskTemplate", "ContainerSpec", "Healthcheck"], x);
    for f in ["Interval", "Timeout", "StartPeriod", "StartInterval"] {
        assert_eq!(
            msg(&h(json!({"Test":["CMD","true"], f: 999_999}))),
            format!("ContainerSpec: {f} in HealthConfig cannot be less than 1ms")
        );
        validate_service_spec(&h(json!({"Test":["CMD","true"], f: 1_000_000}))).unwrap();
    }
    assert_eq!(
        msg(&h(json!({"Retries":-1}))),
        "ContainerSpec: Retries in HealthConfig cannot be negative"
    );
}

#[test]
fn secret_references() {
    let s = |x: Value| with(&["TaskTemplate", "ContainerSpec", "Secrets"], x);
    let file = |n: &str| json!({"Name":n,"UID":"0","GID":"0","Mode":292});
    assert_eq!(
        msg(&s(
            json!([{"File":file("a"),"SecretID":"","SecretName":"a"}])
        )),
        "malformed secret reference"
    );
    assert_eq!(
        msg(&s(json!([{"File":null,"SecretID":"i","SecretName":"a"}]))),
        "malformed secret reference, no target provided"
    );
    assert_eq!(
        msg(&s(
            json!([{"File":file(""),"SecretID":"i","SecretName":"a"}])
        )),
        "malformed file secret reference, invalid target file name provided"
    );
    assert_eq!(
        msg(&s(
            json!([{"File":file("t"),"SecretID":"i","SecretName":"a"},{"File":file("t"),"SecretID":"j","SecretName":"b"}])
        )),
        "secret references 'a' and 'b' have a conflicting target: 't'"
    );
    validate_service_spec(&s(json!([{"File":file("t"),"SecretID":"i","SecretName":"a"},{"File":file("u"),"SecretID":"i","SecretName":"a"}])))
        .unwrap();
}

#[test]
fn config_references() {
    let c = |x: Value| with(&["TaskTemplate", "ContainerSpec", "Configs"], x);
    let file = |n: &str| json!({"Name":n,"UID":"0","GID":"0","Mode":292});
    assert_eq!(
        msg(&c(
            json!([{"File":file("a"),"ConfigID":"i","ConfigName":""}])
        )),
        "malformed config reference"
    );
    assert_eq!(
        msg(&c(json!([{"ConfigID":"i","ConfigName":"a"}]))),
        "either File or Runtime should be set"
    );
    assert_eq!(
        msg(&c(
            json!([{"File":file("a"),"Runtime":{},"ConfigID":"i","ConfigName":"a"}])
        )),
        "cannot specify both File and Runtime"
    );
    assert_eq!(
        msg(&c(
            json!([{"File":file(""),"ConfigID":"i","ConfigName":"a"}])
        )),
        "malformed file config reference, invalid target file name provided"
    );
    assert_eq!(
        msg(&c(
            json!([{"File":file("t"),"ConfigID":"i","ConfigName":"a"},{"File":file("t"),"ConfigID":"j","ConfigName":"b"}])
        )),
        "config references 'a' and 'b' have a conflicting target: 't'"
    );
    let mut v = base();
    v["TaskTemplate"]["ContainerSpec"]["Privileges"] = json!({"CredentialSpec":{"Config":"cs1","File":"","Registry":""},"SELinuxContext":null,"NoNewPrivileges":false});
    assert_eq!(
        msg(&spec(v.clone())),
        "CredentialSpec references config 'cs1', but that config isn't in config references with RuntimeTarget"
    );
    v["TaskTemplate"]["ContainerSpec"]["Configs"] =
        json!([{"Runtime":{},"ConfigID":"cs1","ConfigName":"cred"}]);
    validate_service_spec(&spec(v)).unwrap();
}

#[test]
fn endpoints() {
    let e = |x: Value| with(&["EndpointSpec"], x);
    assert_eq!(
        msg(&e(json!({"Mode":"round-robin"}))),
        "invalid resolution mode: \"round-robin\""
    );
    assert_eq!(
        msg(&e(
            json!({"Mode":"dnsrr","Ports":[{"Protocol":"tcp","TargetPort":80,"PublishedPort":80,"PublishMode":"ingress"}]})
        )),
        "EndpointSpec: port published with ingress mode can't be used with dnsrr mode"
    );
    validate_service_spec(&e(json!({"Mode":"dnsrr","Ports":[{"Protocol":"tcp","TargetPort":80,"PublishedPort":80,"PublishMode":"host"}]})))
        .unwrap();
    assert_eq!(
        msg(&e(
            json!({"Mode":"vip","Ports":[{"Protocol":"tcp","TargetPort":80,"PublishedPort":8080},{"Protocol":"tcp","TargetPort":81,"PublishedPort":8080}]})
        )),
        "EndpointSpec: duplicate published ports provided"
    );
    assert_eq!(
        msg(&e(
            json!({"Ports":[{"TargetPort":80,"PublishedPort":8080},{"Protocol":"tcp","TargetPort":81,"PublishedPort":8080,"PublishMode":"host"}]})
        )),
        "EndpointSpec: duplicate published ports provided",
        "an empty protocol is tcp, and the mode does not matter"
    );
    validate_service_spec(&e(json!({"Ports":[{"Protocol":"tcp","TargetPort":80,"PublishedPort":8080},{"Protocol":"udp","TargetPort":80,"PublishedPort":8080}]})))
        .unwrap();
    validate_service_spec(&e(
        json!({"Ports":[{"Protocol":"tcp","TargetPort":80},{"Protocol":"tcp","TargetPort":81}]}),
    ))
    .unwrap();
}
