//! Update-only rules and checks against other services, secrets, configs.

use serde_json::{Value, json};

use super::*;

fn service(id: &str, spec_json: Value) -> Service {
    Service {
        id: id.into(),
        spec: spec(spec_json),
        ..Default::default()
    }
}

#[test]
fn updates() {
    let current = service("s1", base());
    validate_service_update(&current, &spec(base())).unwrap();
    let mut v = base();
    v["Mode"] = json!({"Global":{}});
    let e = validate_service_update(&current, &spec(v)).unwrap_err();
    assert_eq!(e.to_string(), "service mode change is not allowed");
    assert_eq!(e.kind, ErrorKind::Unimplemented);
    assert_eq!(e.http_status(), 501);
    let mut v = base();
    v["Mode"] = json!({"Replicated":{"Replicas":7}});
    validate_service_update(&current, &spec(v)).unwrap();
    let mut v = base();
    v["Name"] = json!("other");
    assert_eq!(
        validate_service_update(&current, &spec(v))
            .unwrap_err()
            .to_string(),
        "renaming services is not supported"
    );
    let mut v = base();
    v["Networks"] = json!([{"Target":"n1"}]);
    assert_eq!(
        validate_service_update(&current, &spec(v.clone()))
            .unwrap_err()
            .to_string(),
        "networks must be migrated to TaskSpec before being changed"
    );
    v["TaskTemplate"]["Networks"] = json!([{"Target":"n1"}]);
    validate_service_update(&current, &spec(v)).unwrap();
    // The new spec is validated first.
    let mut v = base();
    v["Mode"] = json!({"Global":{}});
    v["TaskTemplate"]["ContainerSpec"]["Image"] = json!("");
    assert_eq!(
        validate_service_update(&current, &spec(v))
            .unwrap_err()
            .to_string(),
        "ContainerSpec: image reference must be provided"
    );
}

#[test]
fn job_mode_changes() {
    let mut v = base();
    v["Mode"] = json!({"ReplicatedJob":{"MaxConcurrent":1}});
    let current = service("j", v.clone());
    v["Mode"] = json!({"ReplicatedJob":{"MaxConcurrent":5,"TotalCompletions":10}});
    validate_service_update(&current, &spec(v.clone())).unwrap();
    v["Mode"] = json!({"GlobalJob":{}});
    assert_eq!(
        validate_service_update(&current, &spec(v))
            .unwrap_err()
            .to_string(),
        "service mode change is not allowed"
    );
}

fn ports(list: Value) -> ServiceSpec {
    with(&["EndpointSpec"], json!({"Mode":"vip","Ports":list}))
}

#[test]
fn port_conflicts() {
    let others = [
        service(
            "a1",
            json!({"Name":"a","EndpointSpec":{"Ports":[{"Protocol":"tcp","TargetPort":80,"PublishedPort":8080,"PublishMode":"ingress"}]}}),
        ),
        service(
            "b1",
            json!({"Name":"b","EndpointSpec":{"Ports":[{"Protocol":"tcp","TargetPort":80,"PublishedPort":9090,"PublishMode":"host"}]}}),
        ),
    ];
    let ingress = |p: u32| {
        ports(json!([{"Protocol":"tcp","TargetPort":80,"PublishedPort":p,"PublishMode":"ingress"}]))
    };
    let host = |p: u32| {
        ports(json!([{"Protocol":"tcp","TargetPort":80,"PublishedPort":p,"PublishMode":"host"}]))
    };
    assert_eq!(
        check_port_conflicts(&ingress(8080), "", &others)
            .unwrap_err()
            .to_string(),
        "port '8080' is already in use by service 'a' (a1) as an ingress port"
    );
    assert_eq!(
        check_port_conflicts(&host(8080), "", &others)
            .unwrap_err()
            .to_string(),
        "port '8080' is already in use by service 'a' (a1) as an ingress port"
    );
    assert_eq!(
        check_port_conflicts(&ingress(9090), "", &others)
            .unwrap_err()
            .to_string(),
        "port '9090' is already in use by service 'b' (b1) as a host-published port"
    );
    check_port_conflicts(&host(9090), "", &others).unwrap();
    check_port_conflicts(&ingress(8080), "a1", &others).unwrap();
    check_port_conflicts(&ingress(7070), "", &others).unwrap();
    check_port_conflicts(&spec(base()), "", &others).unwrap();
    let udp = ports(
        json!([{"Protocol":"udp","TargetPort":80,"PublishedPort":8080,"PublishMode":"ingress"}]),
    );
    check_port_conflicts(&udp, "", &others).unwrap();
    // Allocated ports in the Endpoint count as well as the spec's.
    let mut allocated = service("c1", json!({"Name":"c"}));
    allocated.endpoint.ports = vec![crate::model::PortConfig {
        protocol: "tcp".into(),
        target_port: 80,
        published_port: 30000,
        publish_mode: "ingress".into(),
        ..Default::default()
    }];
    assert_eq!(
        check_port_conflicts(&ingress(30000), "", [&allocated])
            .unwrap_err()
            .to_string(),
        "port '30000' is already in use by service 'c' (c1) as an ingress port"
    );
}

#[test]
fn references_exist() {
    let mut v = base();
    let file = json!({"Name":"t","UID":"0","GID":"0","Mode":292});
    v["TaskTemplate"]["ContainerSpec"]["Secrets"] = json!([
        {"File":file,"SecretID":"s1","SecretName":"one"},
        {"File":{"Name":"u","UID":"0","GID":"0","Mode":292},"SecretID":"s2","SecretName":"two"},
        {"File":{"Name":"v","UID":"0","GID":"0","Mode":292},"SecretID":"s3","SecretName":"three"}]);
    v["TaskTemplate"]["ContainerSpec"]["Configs"] =
        json!([{"File":file,"ConfigID":"c1","ConfigName":"conf"}]);
    let s = spec(v);
    let all = |id: &str| {
        Some(
            match id {
                "s1" => "one",
                "s2" => "two",
                "s3" => "three",
                _ => "conf",
            }
            .to_string(),
        )
    };
    check_secret_references(&s, all).unwrap();
    check_config_references(&s, all).unwrap();
    let some = |id: &str| (id == "s1").then(|| "one".to_string());
    assert_eq!(
        check_secret_references(&s, some).unwrap_err().to_string(),
        "secrets not found: two, three"
    );
    let renamed = |id: &str| {
        Some(
            if id == "s2" {
                "zwei"
            } else {
                all(id).unwrap().leak()
            }
            .to_string(),
        )
    };
    assert_eq!(
        check_secret_references(&s, renamed)
            .unwrap_err()
            .to_string(),
        "secret not found: two"
    );
    assert_eq!(
        check_config_references(&s, |_| None)
            .unwrap_err()
            .to_string(),
        "config not found: conf"
    );
}
