//! Round trips of bodies shaped like the docker CLI's own requests (read
//! from docker/cli's `service create`/`update` conversion: `Init` always
//! sent, `DNSConfig` and `Placement` always present, empty `Limits` and
//! `Reservations`, durations in nanoseconds) and of dockerd's answers.

use serde_json::Value;

use super::*;

fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(
    json: &str,
) -> T {
    let parsed: T = serde_json::from_str(json).unwrap();
    let original: Value = serde_json::from_str(json).unwrap();
    let again = serde_json::to_value(&parsed).unwrap();
    assert_eq!(again, original, "re-serialized differs");
    // The textual form keeps Go's field order too.
    assert_eq!(
        serde_json::to_string(&parsed).unwrap(),
        serde_json::to_string(&original).unwrap()
    );
    parsed
}

#[test]
fn cli_minimal_replicated() {
    // docker service create --name web --replicas 3 -p 8080:80 --no-resolve-image nginx
    let spec: ServiceSpec = round_trip(
        r#"{"Name":"web","Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"nginx","Init":false,"DNSConfig":{}},
        "Resources":{"Limits":{},"Reservations":{}},"Placement":{},"ForceUpdate":0},"Mode":{"Replicated":{"Replicas":3}},
        "EndpointSpec":{"Mode":"vip","Ports":[{"Protocol":"tcp","TargetPort":80,"PublishedPort":8080,"PublishMode":"ingress"}]}}"#,
    );
    assert_eq!(spec.mode.kind(), ModeKind::Replicated { replicas: 3 });
    assert_eq!(
        spec.task_template.container_spec.as_ref().unwrap().init,
        Some(false)
    );
}

#[test]
fn cli_replicas_flag_absent() {
    // Without --replicas the CLI sends an empty Replicated object.
    let spec: ServiceSpec = round_trip(
        r#"{"Name":"one","Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"busybox:latest@sha256:9ae97d36d26566ff84e8893c64a6dc4fe8ca6d1144bf5b87b2b85a32def253c7",
        "Args":["sleep","1d"],"Init":false,"DNSConfig":{}},"Resources":{"Limits":{},"Reservations":{}},
        "Placement":{"Platforms":[{"Architecture":"amd64","OS":"linux"},{"Architecture":"arm64","OS":"linux"}]},"ForceUpdate":0},
        "Mode":{"Replicated":{}},"EndpointSpec":{"Mode":"vip"}}"#,
    );
    assert_eq!(spec.mode.kind(), ModeKind::Replicated { replicas: 1 });
    assert_eq!(
        spec.task_template
            .placement
            .as_ref()
            .unwrap()
            .platforms
            .len(),
        2
    );
}

#[test]
fn cli_everything() {
    // docker service create with mounts, secrets, configs, health check,
    // resources, restart/update/rollback flags, placement, log driver,
    // host-mode ports, ulimits, sysctls and capabilities.
    let spec: ServiceSpec = round_trip(
        r#"{"Name":"api","Labels":{"team":"core"},"TaskTemplate":{"ContainerSpec":{"Image":"example/api:1.2",
        "Labels":{"c":"1"},"Command":["/bin/api"],"Args":["--port","80"],"Hostname":"{{.Service.Name}}-{{.Task.Slot}}",
        "Env":["A=1","B=2"],"Dir":"/srv","User":"1000:1000","Groups":["wheel"],
        "Privileges":{"CredentialSpec":null,"SELinuxContext":null,"NoNewPrivileges":false},
        "Init":true,"StopSignal":"SIGTERM","TTY":true,"ReadOnly":true,
        "Mounts":[{"Type":"volume","Source":"data","Target":"/data","VolumeOptions":{"Labels":{"x":"y"},"DriverConfig":{"Name":"local","Options":{"o":"bind"}}}},
        {"Type":"bind","Source":"/etc/hosts","Target":"/h","ReadOnly":true,"BindOptions":{"Propagation":"rprivate"}},
        {"Type":"tmpfs","Target":"/tmp","TmpfsOptions":{"SizeBytes":1048576,"Mode":448}}],
        "StopGracePeriod":20000000000,
        "Healthcheck":{"Test":["CMD-SHELL","curl -f localhost"],"Interval":30000000000,"Timeout":5000000000,"StartPeriod":1000000000,"Retries":3},
        "Hosts":["10.0.0.1 db"],"DNSConfig":{"Nameservers":["8.8.8.8"],"Search":["example.org"],"Options":["ndots:2"]},
        "Secrets":[{"File":{"Name":"db","UID":"0","GID":"0","Mode":292},"SecretID":"s1d","SecretName":"db_pass"}],
        "Configs":[{"File":{"Name":"/etc/app.conf","UID":"0","GID":"0","Mode":292},"ConfigID":"c1d","ConfigName":"app.conf"}],
        "Isolation":"default","Sysctls":{"net.core.somaxconn":"1024"},"CapabilityAdd":["CAP_NET_ADMIN"],
        "CapabilityDrop":["CAP_MKNOD"],"Ulimits":[{"Name":"nofile","Hard":2048,"Soft":1024}],"OomScoreAdj":100},
        "Resources":{"Limits":{"NanoCPUs":1500000000,"MemoryBytes":536870912,"Pids":100},
        "Reservations":{"NanoCPUs":250000000,"MemoryBytes":134217728,"GenericResources":[{"DiscreteResourceSpec":{"Kind":"gpu","Value":1}}]}},
        "RestartPolicy":{"Condition":"on-failure","Delay":3000000000,"MaxAttempts":4,"Window":60000000000},
        "Placement":{"Constraints":["node.role==worker","node.labels.zone!=c"],"Preferences":[{"Spread":{"SpreadDescriptor":"node.labels.zone"}}],"MaxReplicas":2},
        "Networks":[{"Target":"n1234","Aliases":["api"]}],"LogDriver":{"Name":"json-file","Options":{"max-size":"10m"}},"ForceUpdate":0},
        "Mode":{"Replicated":{"Replicas":6}},
        "UpdateConfig":{"Parallelism":2,"Delay":10000000000,"FailureAction":"rollback","Monitor":15000000000,"MaxFailureRatio":0.25,"Order":"start-first"},
        "RollbackConfig":{"Parallelism":1,"FailureAction":"pause","Monitor":5000000000,"MaxFailureRatio":0,"Order":"stop-first"},
        "EndpointSpec":{"Mode":"vip","Ports":[{"Protocol":"udp","TargetPort":53,"PublishedPort":5353,"PublishMode":"host"}]}}"#,
    );
    let c = spec.task_template.container_spec.as_ref().unwrap();
    assert_eq!(c.mounts[2].tmpfs_options.as_ref().unwrap().mode, 0o700);
    assert_eq!(c.secrets[0].file.as_ref().unwrap().mode, 0o444);
    assert_eq!(spec.update_config.as_ref().unwrap().max_failure_ratio, 0.25);
    assert_eq!(
        spec.task_template
            .restart_policy
            .as_ref()
            .unwrap()
            .max_attempts,
        Some(4)
    );
}

#[test]
fn cli_global_and_jobs() {
    let g: ServiceSpec = round_trip(
        r#"{"Name":"agent","Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"agent","Init":false,"DNSConfig":{}},
        "Resources":{"Limits":{},"Reservations":{}},"Placement":{"Constraints":["node.platform.os==linux"]},"ForceUpdate":0},
        "Mode":{"Global":{}},"EndpointSpec":{"Mode":"dnsrr"}}"#,
    );
    assert_eq!(g.mode.kind(), ModeKind::Global);
    let j: ServiceSpec = round_trip(
        r#"{"Name":"migrate","Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"migrate","Init":false,"DNSConfig":{}},
        "Resources":{"Limits":{},"Reservations":{}},"RestartPolicy":{"Condition":"on-failure","Delay":5000000000,"MaxAttempts":0},
        "Placement":{},"ForceUpdate":0},"Mode":{"ReplicatedJob":{"MaxConcurrent":2,"TotalCompletions":10}},"EndpointSpec":{"Mode":"vip"}}"#,
    );
    assert_eq!(
        j.mode.kind(),
        ModeKind::ReplicatedJob {
            max_concurrent: 2,
            total_completions: 10
        }
    );
    let gj: ServiceSpec = round_trip(
        r#"{"Name":"prune","Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"docker","Init":false,"DNSConfig":{}},
        "Resources":{"Limits":{},"Reservations":{}},"Placement":{},"ForceUpdate":0},"Mode":{"GlobalJob":{}},"EndpointSpec":{"Mode":"vip"}}"#,
    );
    assert_eq!(gj.mode.kind(), ModeKind::GlobalJob);
}

#[test]
fn docker_py_style_body() {
    // docker-py omits most optional parts and sends Networks at the top.
    let spec: ServiceSpec = round_trip(
        r#"{"Name":"py","Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"busybox","Command":["true"]},"ForceUpdate":0},
        "Mode":{"Replicated":{"Replicas":1}},"Networks":[{"Target":"overlay1"}]}"#,
    );
    assert_eq!(spec.networks[0].target, "overlay1");
}

#[test]
fn dockerd_service_inspect() {
    let svc: Service = round_trip(
        r#"{"ID":"kz1t4q9y0ykq7m3n0m2bh6t1r","Version":{"Index":35},"CreatedAt":"2026-12-03T22:50:11.123456789Z",
        "UpdatedAt":"2026-12-03T22:55:02.5Z","Spec":{"Name":"web","Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"nginx:2",
        "Init":false,"StopGracePeriod":10000000000,"DNSConfig":{},"Isolation":"default"},"Resources":{"Limits":{},"Reservations":{}},
        "RestartPolicy":{"Condition":"any","Delay":5000000000,"MaxAttempts":0},"Placement":{},"ForceUpdate":0,"Runtime":"container"},
        "Mode":{"Replicated":{"Replicas":3}},"UpdateConfig":{"Parallelism":1,"FailureAction":"pause","Monitor":5000000000,
        "MaxFailureRatio":0,"Order":"stop-first"},"RollbackConfig":{"Parallelism":1,"FailureAction":"pause","Monitor":5000000000,
        "MaxFailureRatio":0,"Order":"stop-first"},"EndpointSpec":{"Mode":"vip","Ports":[{"Protocol":"tcp","TargetPort":80,
        "PublishedPort":8080,"PublishMode":"ingress"}]}},"PreviousSpec":{"Name":"web","Labels":{},"TaskTemplate":{"ContainerSpec":
        {"Image":"nginx:1","Init":false,"DNSConfig":{},"Isolation":"default"},"Resources":{"Limits":{},"Reservations":{}},
        "Placement":{},"ForceUpdate":0,"Runtime":"container"},"Mode":{"Replicated":{"Replicas":3}},"EndpointSpec":{"Mode":"vip"}},
        "Endpoint":{"Spec":{"Mode":"vip","Ports":[{"Protocol":"tcp","TargetPort":80,"PublishedPort":8080,"PublishMode":"ingress"}]},
        "Ports":[{"Protocol":"tcp","TargetPort":80,"PublishedPort":8080,"PublishMode":"ingress"}],
        "VirtualIPs":[{"NetworkID":"ing","Addr":"10.0.0.5/24"}]},"UpdateStatus":{"State":"completed",
        "StartedAt":"2026-12-03T22:54:40.1Z","CompletedAt":"2026-12-03T22:55:02.5Z","Message":"update completed"},
        "ServiceStatus":{"RunningTasks":3,"DesiredTasks":3,"CompletedTasks":0}}"#,
    );
    assert_eq!(
        svc.update_status.as_ref().unwrap().state,
        Some(UpdateState::Completed)
    );
    assert_eq!(svc.endpoint.virtual_ips[0].addr, "10.0.0.5/24");
}

#[test]
fn dockerd_job_service_inspect() {
    let svc: Service = round_trip(
        r#"{"ID":"j1","Version":{"Index":40},"CreatedAt":"2026-12-03T22:50:11Z","UpdatedAt":"2026-12-03T22:50:11Z",
        "Spec":{"Name":"migrate","Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"m"},"ForceUpdate":1},
        "Mode":{"ReplicatedJob":{"MaxConcurrent":1,"TotalCompletions":1}}},"Endpoint":{"Spec":{}},
        "JobStatus":{"JobIteration":{"Index":39},"LastExecution":"2026-12-03T22:50:11Z"}}"#,
    );
    assert_eq!(svc.job_status.as_ref().unwrap().job_iteration.index, 39);
}

#[test]
fn node_update_body() {
    // docker node update --availability drain --label-add zone=a n1
    let spec: NodeSpec =
        round_trip(r#"{"Labels":{"zone":"a"},"Role":"worker","Availability":"drain"}"#);
    assert_eq!(spec.availability, "drain");
}

#[test]
fn swarm_update_body() {
    // docker swarm update --task-history-limit 10 --dispatcher-heartbeat 2s --autolock
    let spec: SwarmSpec = round_trip(
        r#"{"Name":"default","Labels":{},"Orchestration":{"TaskHistoryRetentionLimit":10},"Raft":{"SnapshotInterval":10000,
        "KeepOldSnapshots":0,"LogEntriesForSlowFollowers":500,"ElectionTick":10,"HeartbeatTick":1},
        "Dispatcher":{"HeartbeatPeriod":2000000000},"CAConfig":{"NodeCertExpiry":7776000000000000},"TaskDefaults":{},
        "EncryptionConfig":{"AutoLockManagers":true}}"#,
    );
    assert!(spec.encryption_config.auto_lock_managers);
    assert_eq!(spec.task_history_retention_limit(), 10);
}
