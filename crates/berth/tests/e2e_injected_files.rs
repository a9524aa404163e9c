//! A swarm task's secrets and configs in its container
//! (`Engine::create_container_with_files`): seen read-only at their
//! targets with their owner and mode, kept on a tmpfs of the container's
//! own and never on disk, gone with the container.
//!
//! The operation has no API endpoint (the swarm agent calls the engine
//! in-process), so these tests open an `Engine` themselves, as root, on
//! private roots laid out as a test daemon's. They live in berth's tests
//! rather than the engine's because the engine starts every container's
//! shim by re-executing the berth binary, which only this crate's tests
//! can name (`CARGO_BIN_EXE_berth`).

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use engine::model::CreateRequest;
use engine::{Engine, EngineConfig, EngineError, InjectedFile, LogOptions, WaitCondition};

const TIMEOUT: Duration = Duration::from_secs(60);

/// An engine on `/tmp/be2e-<unique>/{root,exec}`; dropping it removes all
/// it left, as dropping a test daemon does.
struct TestEngine {
    engine: Arc<Engine>,
    unique: String,
}

impl TestEngine {
    async fn open() -> TestEngine {
        common::sweep_stale_once();
        let unique = common::unique_suffix();
        let tmp = tmp_dir(&unique);
        std::fs::create_dir_all(&tmp).expect("create the test's tmp dir");
        let engine = open_engine(&unique).await;
        let tar = tmp.join("rootfs.tar");
        common::rootfs::write_busybox_rootfs(&tar).expect("build the busybox rootfs tar");
        let opts = image::ImportOptions {
            reference: Some(image::reference::parse("busybox:latest").expect("reference")),
            changes: vec![r#"CMD ["sh"]"#.into()],
            ..Default::default()
        };
        let file = std::fs::File::open(&tar).expect("open the rootfs tar");
        engine.import_image(file, opts).expect("import busybox");
        TestEngine { engine, unique }
    }

    fn data_root(&self) -> PathBuf {
        tmp_dir(&self.unique).join("root")
    }

    fn state_dir(&self, id: &str) -> PathBuf {
        tmp_dir(&self.unique).join("exec/containers").join(id)
    }

    fn files_dir(&self, id: &str) -> PathBuf {
        self.state_dir(id).join("files")
    }
}

impl Drop for TestEngine {
    fn drop(&mut self) {
        common::cleanup_private_roots(&self.unique);
    }
}

fn tmp_dir(unique: &str) -> PathBuf {
    PathBuf::from(format!("/tmp/be2e-{unique}"))
}

/// The settings a test daemon gets (`--bridge none`, no firewall, names
/// of its own), so parallel tests never touch each other's state.
async fn open_engine(unique: &str) -> Arc<Engine> {
    let tmp = tmp_dir(unique);
    let tag = common::net_tag(unique);
    let cfg = EngineConfig {
        data_root: tmp.join("root"),
        exec_root: tmp.join("exec"),
        cgroup_parent: format!("/berth-test-{unique}"),
        exe: PathBuf::from(env!("CARGO_BIN_EXE_berth")),
        init_path: None,
        insecure_registries: Vec::new(),
        registry_mirrors: Vec::new(),
        network: engine::networking::NetOptions {
            default_bridge: None,
            bridge_prefix: format!("b{tag}-"),
            firewall: "none".into(),
            nft_table: format!("berth_{tag}"),
            ..Default::default()
        },
        exec_root_group: None,
        runtimes: Default::default(),
        log_defaults: Default::default(),
        userns_remap: None,
    };
    Engine::open(cfg).await.expect("open the engine")
}

fn request(script: &str) -> CreateRequest {
    serde_json::from_value(serde_json::json!({
        "Image": "busybox",
        "Cmd": ["sh", "-c", script],
        "HostConfig": {"NetworkMode": "none"},
    }))
    .expect("create request")
}

fn file(target: &str, data: &[u8], uid: u32, gid: u32, mode: u32) -> InjectedFile {
    InjectedFile {
        target: target.into(),
        data: data.to_vec(),
        uid,
        gid,
        mode,
    }
}

/// Starts the container, waits for its exit and returns its whole output.
async fn run(engine: &Arc<Engine>, id: &str) -> String {
    engine.start(id).await.expect("start");
    tokio::time::timeout(TIMEOUT, engine.wait(id, WaitCondition::NotRunning))
        .await
        .expect("the container exits in time")
        .expect("wait");
    let opts = LogOptions {
        stdout: true,
        stderr: true,
        ..Default::default()
    };
    let mut lines = engine.logs(id, opts).expect("logs");
    let mut out = String::new();
    while let Some(line) = tokio::time::timeout(TIMEOUT, lines.recv())
        .await
        .expect("logs in time")
    {
        out.push_str(&String::from_utf8_lossy(&line.data));
    }
    out
}

/// Mount points of this (the engine's) mount namespace, with their type.
fn mounts() -> Vec<(String, String)> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    info.lines()
        .filter_map(|l| {
            let point = l.split(' ').nth(4)?;
            let fstype = l.split(" - ").nth(1)?.split(' ').next()?;
            Some((point.to_string(), fstype.to_string()))
        })
        .collect()
}

fn mount_options(point: &Path) -> Option<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let point = point.to_str()?;
    info.lines()
        .find(|l| l.split(' ').nth(4) == Some(point))
        .and_then(|l| l.split(' ').nth(5).map(str::to_string))
}

fn is_mounted(point: &Path) -> bool {
    let point = point.to_string_lossy();
    mounts().iter().any(|(p, _)| *p == point)
}

/// Every regular file below `dir` that contains `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if meta.is_file() {
            let mut data = Vec::new();
            if std::fs::File::open(&path)
                .and_then(|mut f| f.read_to_end(&mut data))
                .is_ok()
                && data.windows(needle.len()).any(|w| w == needle)
            {
                found.push(path);
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_and_configs_are_read_only_files_that_never_touch_the_disk() {
    let t = TestEngine::open().await;
    let secret = format!("s3cr3t-{}", t.unique);
    // The container shows a digest: its log is on disk.
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(secret.as_bytes()));
    let script = "busybox sha256sum /run/secrets/s1; busybox stat -c 'owner %u:%g mode %a' /run/secrets/s1; \
        cat /etc/app/app.conf; echo; busybox stat -c 'owner %u:%g mode %a' /etc/app/app.conf; \
        if echo x >> /run/secrets/s1; then echo WROTE; else echo REFUSED; fi; \
        if busybox chmod 777 /run/secrets/s1; then echo CHMODDED; fi";
    let files = vec![
        file("/run/secrets/s1", secret.as_bytes(), 1000, 2000, 0o440),
        file("/etc/app/app.conf", b"level=debug", 0, 0, 0o444),
    ];
    let created = t
        .engine
        .create_container_with_files(Some("withfiles"), request(script), files)
        .await
        .expect("create with files");
    let id = created.id;

    // The tmpfs: private, small, nothing executable or special on it.
    let dir = t.files_dir(&id);
    assert!(
        mounts()
            .iter()
            .any(|(p, ty)| *p == dir.to_string_lossy() && ty == "tmpfs"),
        "no tmpfs at {}",
        dir.display()
    );
    let opts = mount_options(&dir).expect("mount options");
    for flag in ["nosuid", "nodev", "noexec"] {
        assert!(opts.split(',').any(|o| o == flag), "{flag} missing: {opts}");
    }
    assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o7777, 0o700);

    let out = run(&t.engine, &id).await;
    assert!(
        out.contains(&format!("{digest}  /run/secrets/s1\n")),
        "{out}"
    );
    assert!(out.contains("owner 1000:2000 mode 440"), "{out}");
    assert!(out.contains("level=debug\nowner 0:0 mode 444"), "{out}");
    assert!(out.contains("REFUSED"), "{out}");
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(!out.contains("WROTE") && !out.contains("CHMODDED"), "{out}");

    // The record keeps where the files go, the data root never their data.
    let config = std::fs::read_to_string(
        t.data_root()
            .join("containers")
            .join(&id)
            .join("config.json"),
    )
    .expect("config.json");
    assert!(config.contains("/run/secrets/s1"), "{config}");
    let leaks = files_containing(&t.data_root(), secret.as_bytes());
    assert!(leaks.is_empty(), "secret data on disk: {leaks:?}");

    // The files outlive a run: a second start sees them again.
    let out = run(&t.engine, &id).await;
    assert_eq!(out.matches(&digest).count(), 2, "{out}");

    // A process still holding a file does not keep `rm` from unmounting.
    let held = std::fs::File::open(dir.join("0")).expect("open a file on the tmpfs");
    t.engine.remove(&id, true, false).await.expect("remove");
    drop(held);
    assert!(!is_mounted(&dir), "the tmpfs is still mounted");
    assert!(!t.state_dir(&id).exists(), "the state dir is left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_targets_create_nothing() {
    let t = TestEngine::open().await;
    for bad in [
        "",
        "run/secrets/s1",
        "/run/secrets/../../etc/shadow",
        "/run/secrets/",
    ] {
        let files = vec![
            file("/run/secrets/ok", b"fine", 0, 0, 0o400),
            file(bad, b"data", 0, 0, 0o400),
        ];
        let err = t
            .engine
            .create_container_with_files(Some("bad"), request("true"), files)
            .await
            .expect_err(bad);
        assert!(
            matches!(err, EngineError::InvalidParameter(_)),
            "{bad:?}: {err}"
        );
        assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
    }
    assert!(t.engine.containers().is_empty());
    let exec = tmp_dir(&t.unique).join("exec/containers");
    assert_eq!(std::fs::read_dir(&exec).unwrap().count(), 0);
    let data = t.data_root().join("containers");
    assert_eq!(std::fs::read_dir(&data).unwrap().count(), 0);
    // The name was never taken.
    let made = t
        .engine
        .create_container(Some("bad"), request("true"))
        .await
        .expect("the plain create still works");
    assert!(!t.state_dir(&made.id).exists());
    t.engine
        .remove(&made.id, true, false)
        .await
        .expect("remove");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_whose_files_are_gone_does_not_start_and_is_removed() {
    let t = TestEngine::open().await;
    let files = vec![file("/run/secrets/s1", b"gone-soon", 0, 0, 0o400)];
    let id = t
        .engine
        .create_container_with_files(None, request("cat /run/secrets/s1"), files)
        .await
        .expect("create with files")
        .id;
    // What a reboot does to a tmpfs.
    nix::mount::umount2(&t.files_dir(&id), nix::mount::MntFlags::MNT_DETACH)
        .expect("unmount the tmpfs");
    let err = t.engine.start(&id).await.expect_err("start without files");
    assert_eq!(
        err.to_string(),
        format!(
            "the secret and config files of container {id} are gone (the host restarted?): remove it and create it again"
        )
    );
    t.engine.remove(&id, false, false).await.expect("remove");
    assert!(!t.state_dir(&id).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_removes_the_tmpfs_of_a_create_that_crashed() {
    let t = TestEngine::open().await;
    let files = vec![file("/run/secrets/s1", b"crash", 0, 0, 0o400)];
    let id = t
        .engine
        .create_container_with_files(None, request("true"), files)
        .await
        .expect("create with files")
        .id;
    assert!(is_mounted(&t.files_dir(&id)));
    // As if the daemon died before the container's config landed.
    std::fs::remove_file(
        t.data_root()
            .join("containers")
            .join(&id)
            .join("config.json"),
    )
    .expect("remove config.json");
    let reopened = open_engine(&t.unique).await;
    assert!(reopened.container(&id).is_err());
    assert!(
        !is_mounted(&t.files_dir(&id)),
        "the tmpfs survived start-up"
    );
    assert!(!t.state_dir(&id).exists());
}
