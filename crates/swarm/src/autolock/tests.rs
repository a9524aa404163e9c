use std::sync::Arc;
use std::time::Duration;

use kvstore::MemoryStore;
use zeroize::Zeroizing;

use super::*;
use crate::keeper::KeyKeeper;
use crate::local::{LocalState, ManagerKeys, Private};
use crate::manager::SwarmRecord;
use crate::manager::{Manager, Rotation};
use crate::store::{ClusterStore, Kind};

#[test]
fn keys_read_and_print_as_swarmkit_writes_them() {
    let key = UnlockKey::generate().unwrap();
    let human = key.to_human();
    assert!(human.starts_with("SWMKEY-1-"), "{}", *human);
    // 32 bytes in unpadded base64.
    assert_eq!(human.len(), "SWMKEY-1-".len() + 43);
    assert_eq!(UnlockKey::parse(&human).unwrap(), key);
    assert_ne!(UnlockKey::generate().unwrap(), key);
    assert_eq!(format!("{key:?}"), "UnlockKey(<redacted>)");
    for bad in ["", "SWMKEY-2-abc", "SWMKEY-1-!!!", &format!("{}=", *human)] {
        assert!(
            matches!(UnlockKey::parse(bad), Err(LockError::MalformedKey)),
            "{bad}"
        );
    }
    // Well formed, of another length: a wrong key (401), as for dockerd.
    assert!(matches!(
        UnlockKey::parse("SWMKEY-1-AAAA"),
        Err(LockError::WrongKey)
    ));
}

#[test]
fn wrapped_data_opens_only_with_its_key_and_label() {
    let key = UnlockKey::generate().unwrap();
    let text = wrap(&key, "node-key", b"-----BEGIN PRIVATE KEY-----").unwrap();
    assert!(is_wrapped(&text));
    assert!(!text.contains("PRIVATE"));
    assert_eq!(
        unwrap(&key, "node-key", &text).unwrap().as_slice(),
        b"-----BEGIN PRIVATE KEY-----"
    );
    let other = UnlockKey::generate().unwrap();
    assert!(matches!(
        unwrap(&other, "node-key", &text),
        Err(LockError::WrongKey)
    ));
    assert!(matches!(
        unwrap(&key, "data-key", &text),
        Err(LockError::WrongKey)
    ));
    assert!(matches!(
        unwrap(&key, "node-key", "plain"),
        Err(LockError::Corrupt(_))
    ));
    // The wrapping key is derived, not the unlock key itself.
    let direct = DataKey::from_bytes(key.0.clone());
    let sealed = text.strip_prefix(FILE_TAG).unwrap().trim_end();
    assert!(direct.open("node-key", sealed).is_err());
}

#[test]
fn the_store_keeps_the_key_sealed_with_the_data_key() {
    let data_key = DataKey::generate().unwrap();
    let key = UnlockKey::generate().unwrap();
    let sealed = key.seal(&data_key).unwrap();
    assert!(!sealed.contains(key.to_human().trim_start_matches("SWMKEY-1-")));
    assert_eq!(UnlockKey::open_sealed(&data_key, &sealed).unwrap(), key);
    let other = DataKey::generate().unwrap();
    assert!(UnlockKey::open_sealed(&other, &sealed).is_err());
}

/// A one-manager cluster in memory: its record, its files, its keeper.
async fn cluster(root: &std::path::Path) -> (Manager, Arc<KeyKeeper>, LocalState, ManagerKeys) {
    let store = ClusterStore::new(Arc::new(MemoryStore::new()), "c1");
    let keys = ManagerKeys {
        node_key: Zeroizing::new("node key".into()),
        data_key: DataKey::generate().unwrap(),
        member_key: Zeroizing::new("member key".into()),
    };
    let mut swarm = cluster::model::Swarm::default();
    swarm.cluster.spec = cluster::model::SwarmSpec::with_defaults();
    let record = SwarmRecord::new(swarm, "ca key", &keys.data_key).unwrap();
    store
        .create(Kind::Swarm, "cluster", None, &record)
        .await
        .unwrap();
    let local = LocalState::new(root);
    local.save_data_key(&keys.data_key, None).unwrap();
    local
        .write_private(Private::NodeKey, &keys.node_key, None)
        .unwrap();
    local
        .write_private(Private::MemberKey, &keys.member_key, None)
        .unwrap();
    let manager = Manager::new(store.clone(), "n1".into(), keys.data_key.clone());
    let keeper = Arc::new(KeyKeeper::new(local.clone(), store, keys.clone(), None));
    (manager, keeper, local, keys)
}

async fn update(m: &Manager, autolock: bool, rotate: bool) {
    let swarm = m.swarm().await.unwrap();
    let mut spec = swarm.cluster.spec.clone();
    spec.encryption_config.auto_lock_managers = autolock;
    let rotation = Rotation {
        unlock_key: rotate,
        ..Default::default()
    };
    m.update_swarm(swarm.cluster.meta.version.index as i64, spec, rotation)
        .await
        .unwrap();
}

async fn current(m: &Manager) -> Option<UnlockKey> {
    let key = m.unlock_key().await.unwrap();
    (!key.is_empty()).then(|| UnlockKey::parse(&key).unwrap())
}

#[tokio::test]
async fn the_keeper_follows_the_cluster_key_on_off_and_rotated() {
    let root = tempfile::tempdir().unwrap();
    let (m, keeper, local, keys) = cluster(root.path()).await;
    assert_eq!(*m.unlock_key().await.unwrap(), "");
    keeper.sync().await.unwrap();
    assert!(!local.is_locked().unwrap());

    // On: a key, and the files wrapped with it.
    update(&m, true, false).await;
    let a = current(&m).await.unwrap();
    let rec = m.swarm_record().await.unwrap();
    let stored = serde_json::to_string(&rec).unwrap();
    assert!(!stored.contains(a.to_human().trim_start_matches("SWMKEY-1-")));
    assert!(!stored.contains("ca key"));
    assert_eq!(*rec.ca_key(&keys.data_key).unwrap(), "ca key");
    keeper.sync().await.unwrap();
    assert!(local.is_locked().unwrap());
    local.open_manager_keys(Some(&a)).unwrap();

    // An update that rotates nothing keeps the key.
    update(&m, true, false).await;
    assert_eq!(current(&m).await.unwrap(), a);

    // Rotated: the old key opens nothing any more.
    update(&m, true, true).await;
    let b = current(&m).await.unwrap();
    assert_ne!(a, b);
    keeper.sync().await.unwrap();
    assert!(matches!(
        local.open_manager_keys(Some(&a)),
        Err(LockError::WrongKey)
    ));
    local.open_manager_keys(Some(&b)).unwrap();

    // Off: no key, plain files; a rotation asked while off does nothing.
    update(&m, false, false).await;
    assert!(current(&m).await.is_none());
    keeper.sync().await.unwrap();
    assert!(!local.is_locked().unwrap());
    local.open_manager_keys(None).unwrap();
    update(&m, false, true).await;
    assert!(current(&m).await.is_none());
}

#[tokio::test]
async fn a_running_keeper_follows_changes_made_elsewhere() {
    let root = tempfile::tempdir().unwrap();
    let (m, keeper, local, _) = cluster(root.path()).await;
    let task = keeper.clone().spawn();
    update(&m, true, false).await;
    let key = current(&m).await.unwrap();
    let mut wrapped = false;
    for _ in 0..100 {
        if local.is_locked().unwrap() && local.open_manager_keys(Some(&key)).is_ok() {
            wrapped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    task.abort();
    assert!(wrapped, "the keeper wraps the files with the new key");
}
