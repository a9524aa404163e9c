//! The cluster object: its spec (orchestration, raft, dispatcher, CA, task
//! defaults, encryption) and the join tokens `docker swarm inspect` shows.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::common::{Annotations, Driver, Meta, TlsInfo, is_zero_i64, is_zero_u64};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ClusterInfo {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(flatten)]
    pub meta: Meta,
    pub spec: SwarmSpec,
    #[serde(rename = "TLSInfo")]
    pub tls_info: TlsInfo,
    pub root_rotation_in_progress: bool,
    pub default_addr_pool: Vec<String>,
    pub subnet_size: u32,
    pub data_path_port: u32,
}

/// `GET /swarm`: the cluster plus its join tokens.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Swarm {
    #[serde(flatten)]
    pub cluster: ClusterInfo,
    pub join_tokens: JoinTokens,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct JoinTokens {
    pub worker: String,
    pub manager: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SwarmSpec {
    #[serde(flatten)]
    pub annotations: Annotations,
    pub orchestration: OrchestrationConfig,
    pub raft: RaftConfig,
    pub dispatcher: DispatcherConfig,
    #[serde(rename = "CAConfig")]
    pub ca_config: CaConfig,
    pub task_defaults: TaskDefaults,
    pub encryption_config: EncryptionConfig,
}

impl SwarmSpec {
    /// The defaults `docker swarm init` gets from swarmkit.
    pub fn with_defaults() -> Self {
        SwarmSpec {
            annotations: Annotations {
                name: "default".into(),
                ..Default::default()
            },
            orchestration: OrchestrationConfig {
                task_history_retention_limit: Some(5),
            },
            raft: RaftConfig {
                snapshot_interval: 10_000,
                keep_old_snapshots: Some(0),
                log_entries_for_slow_followers: 500,
                election_tick: 10,
                heartbeat_tick: 1,
            },
            dispatcher: DispatcherConfig {
                heartbeat_period: 5_000_000_000,
            },
            ca_config: CaConfig {
                node_cert_expiry: 90 * 24 * 3600 * 1_000_000_000,
                ..Default::default()
            },
            task_defaults: TaskDefaults::default(),
            encryption_config: EncryptionConfig::default(),
        }
    }

    /// Tasks kept per slot (or per node for global services); negative
    /// means keep everything.
    pub fn task_history_retention_limit(&self) -> i64 {
        self.orchestration.task_history_retention_limit.unwrap_or(5)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct OrchestrationConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_history_retention_limit: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RaftConfig {
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub snapshot_interval: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_old_snapshots: Option<u64>,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub log_entries_for_slow_followers: u64,
    pub election_tick: i64,
    pub heartbeat_tick: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DispatcherConfig {
    /// Nanoseconds.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub heartbeat_period: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CaConfig {
    /// Nanoseconds.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub node_cert_expiry: i64,
    #[serde(rename = "ExternalCAs", skip_serializing_if = "Vec::is_empty")]
    pub external_cas: Vec<ExternalCa>,
    #[serde(rename = "SigningCACert", skip_serializing_if = "String::is_empty")]
    pub signing_ca_cert: String,
    #[serde(rename = "SigningCAKey", skip_serializing_if = "String::is_empty")]
    pub signing_ca_key: String,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub force_rotate: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExternalCa {
    pub protocol: String,
    #[serde(rename = "URL")]
    pub url: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
    #[serde(rename = "CACert")]
    pub ca_cert: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskDefaults {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_driver: Option<Driver>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EncryptionConfig {
    pub auto_lock_managers: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swarm_inspect_shape_round_trips() {
        let json = r#"{"ID":"q6n3d2m3l1xxkcz4p7c8e5w2z","Version":{"Index":10},"CreatedAt":"2026-12-03T22:48:59.9Z",
        "UpdatedAt":"2026-12-03T22:49:00.2Z","Spec":{"Name":"default","Labels":{},"Orchestration":{"TaskHistoryRetentionLimit":5},
        "Raft":{"SnapshotInterval":10000,"KeepOldSnapshots":0,"LogEntriesForSlowFollowers":500,"ElectionTick":10,"HeartbeatTick":1},
        "Dispatcher":{"HeartbeatPeriod":5000000000},"CAConfig":{"NodeCertExpiry":7776000000000000},"TaskDefaults":{},
        "EncryptionConfig":{"AutoLockManagers":false}},"TLSInfo":{"TrustRoot":"-----BEGIN CERTIFICATE-----\n"},
        "RootRotationInProgress":false,"DefaultAddrPool":["10.0.0.0/8"],"SubnetSize":24,"DataPathPort":4789,
        "JoinTokens":{"Worker":"SWMTKN-1-abc-def","Manager":"SWMTKN-1-abc-ghi"}}"#;
        let s: Swarm = serde_json::from_str(json).unwrap();
        assert_eq!(s.cluster.spec, SwarmSpec::with_defaults());
        let orig: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_value(&s).unwrap(), orig);
    }

    #[test]
    fn retention_default() {
        assert_eq!(SwarmSpec::default().task_history_retention_limit(), 5);
        let mut s = SwarmSpec::default();
        s.orchestration.task_history_retention_limit = Some(-1);
        assert_eq!(s.task_history_retention_limit(), -1);
    }
}
