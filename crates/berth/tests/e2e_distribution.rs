//! push/pull through a `berth registry` on loopback, save/load, commit, export.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Daemon, assert_fails_with, wait_for};

/// A `berth registry` on a free loopback port, stopped on drop.
struct Registry {
    child: Child,
    addr: String,
    _root: tempfile::TempDir,
}

impl Registry {
    fn start() -> Registry {
        let root = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(["registry", "serve", "--addr", &addr, "--root"])
            .arg(root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let up = wait_for(Duration::from_secs(10), || {
            std::net::TcpStream::connect(&addr).ok()
        });
        assert!(up.is_some(), "registry did not start on {addr}");
        Registry {
            child,
            addr,
            _root: root,
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn push_then_pull_into_another_daemon_keeps_the_image() {
    let reg = Registry::start();
    let a = Daemon::shared();
    let b = Daemon::start();
    let target = format!("{}/e2e/bb:v1", reg.addr);
    let id_a = a.docker_ok(&["image", "inspect", "-f", "{{.Id}}", "busybox"]);
    a.docker_ok(&["tag", "busybox", &target]);
    let pushed = a.docker_ok(&["push", &target]);
    assert!(pushed.contains("digest: sha256:"), "{pushed}");

    // B starts from nothing of this image.
    b.docker_ok(&["rmi", "busybox", "e2e-busybox"]);
    let pulled = b.docker_ok(&["pull", &target]);
    assert!(
        pulled.contains("Downloaded newer image") || pulled.contains("Pull complete"),
        "{pulled}"
    );
    assert_eq!(
        b.docker_ok(&["image", "inspect", "-f", "{{.Id}}", &target]),
        id_a
    );
    let digests = b.docker_ok(&["image", "inspect", "-f", "{{json .RepoDigests}}", &target]);
    assert!(digests.contains("@sha256:"), "{digests}");
    assert_eq!(
        b.docker_ok(&["run", "--rm", &target, "echo", "pulled"]),
        "pulled"
    );

    // `run` of a missing image pulls it.
    let v2 = format!("{}/e2e/bb:v2", reg.addr);
    a.docker_ok(&["tag", "busybox", &v2]);
    a.docker_ok(&["push", &v2]);
    assert_eq!(b.docker_ok(&["run", "--rm", &v2, "echo", "auto"]), "auto");
    a.docker_ok(&["rmi", &target, &v2]);

    assert_fails_with(
        &b.docker(&["pull", &format!("{}/e2e/none:v1", reg.addr)]),
        "",
    );
}

#[test]
fn save_and_load_round_trip() {
    let a = Daemon::shared();
    let b = Daemon::start();
    let file = a.tmp().join(a.name("saved")).with_extension("tar");
    a.docker_ok(&["save", "-o", file.to_str().unwrap(), "busybox:latest"]);
    let id = a.docker_ok(&["image", "inspect", "-f", "{{.Id}}", "busybox"]);
    b.docker_ok(&["rmi", "busybox", "e2e-busybox"]);
    let loaded = b.docker_ok(&["load", "-i", file.to_str().unwrap()]);
    assert!(loaded.contains("Loaded image: busybox:latest"), "{loaded}");
    assert_eq!(
        b.docker_ok(&["image", "inspect", "-f", "{{.Id}}", "busybox"]),
        id
    );
    assert_eq!(
        b.docker_ok(&["run", "--rm", "busybox", "echo", "loaded"]),
        "loaded"
    );
    // A truncated archive is refused and loads nothing new.
    let bad = a.tmp().join(a.name("bad")).with_extension("tar");
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&bad, &bytes[..bytes.len() / 3]).unwrap();
    let before = b.docker_ok(&["images", "-q"]);
    assert_fails_with(&b.docker(&["load", "-i", bad.to_str().unwrap()]), "");
    assert_eq!(b.docker_ok(&["images", "-q"]), before);
}

#[test]
fn commit_and_export_a_container() {
    let d = Daemon::shared();
    let name = d.name("commit-src");
    let image = format!("{}:v1", d.name("committed"));
    d.docker_ok(&[
        "run",
        "--name",
        &name,
        "-e",
        "KEPT=yes",
        "busybox",
        "sh",
        "-c",
        "echo made > /made.txt; rm /etc/group",
    ]);
    d.docker_ok(&[
        "commit",
        "-m",
        "a change",
        "-c",
        "CMD [\"cat\", \"/made.txt\"]",
        &name,
        &image,
    ]);
    assert_eq!(d.docker_ok(&["run", "--rm", &image]), "made");
    // As dockerd: the new image's parent is the container's image.
    assert_eq!(
        d.docker_ok(&["image", "inspect", "-f", "{{.Parent}}", &image]),
        d.docker_ok(&["image", "inspect", "-f", "{{.Id}}", "busybox"])
    );
    assert_eq!(
        d.docker_ok(&[
            "run",
            "--rm",
            &image,
            "sh",
            "-c",
            "test -e /etc/group || echo gone"
        ]),
        "gone"
    );
    assert_eq!(
        d.docker_ok(&["run", "--rm", &image, "sh", "-c", "echo $KEPT"]),
        "yes"
    );
    let history = d.docker_ok(&["history", "--format", "{{.Comment}}", &image]);
    assert!(
        history.lines().next().unwrap_or("").contains("a change"),
        "{history}"
    );

    let out = d.tmp().join(d.name("export")).with_extension("tar");
    d.docker_ok(&["export", "-o", out.to_str().unwrap(), &name]);
    let listing = Command::new("tar").arg("-tf").arg(&out).output().unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(
        listing
            .lines()
            .any(|l| l.trim_start_matches("./") == "made.txt"),
        "{listing}"
    );
    assert!(
        !listing
            .lines()
            .any(|l| l.trim_start_matches("./") == "etc/group"),
        "deleted file exported"
    );
    d.docker_ok(&["rm", &name]);
    d.docker_ok(&["rmi", &image]);
}
