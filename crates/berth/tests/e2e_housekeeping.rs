//! rename, diff, prune and system df through the real docker CLI.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use common::{Daemon, assert_fails_with, code};

#[test]
fn rename_keeps_the_container_and_refuses_taken_names() {
    let d = Daemon::shared();
    let a = d.name("rn-a");
    let b = d.name("rn-b");
    let taken = d.name("rn-taken");
    let id = d.docker_ok(&["create", "--name", &a, "busybox", "true"]);
    d.docker_ok(&["create", "--name", &taken, "busybox", "true"]);
    d.docker_ok(&["rename", &a, &b]);
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.Name}} {{.Id}}", &b]),
        format!("/{b} {id}")
    );
    assert_fails_with(&d.docker(&["inspect", &a]), "No such");
    assert_fails_with(&d.docker(&["rename", &b, &taken]), "already in use");
    d.docker_ok(&["rm", &b, &taken]);
}

#[test]
fn diff_lists_added_changed_and_deleted_paths() {
    let d = Daemon::shared();
    let name = d.name("diff");
    d.docker_ok(&[
        "run",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "echo new > /added; echo more >> /etc/passwd; rm /etc/group",
    ]);
    let diff = d.docker_ok(&["diff", &name]);
    let lines: Vec<&str> = diff.lines().collect();
    for want in ["A /added", "C /etc", "C /etc/passwd", "D /etc/group"] {
        assert!(lines.contains(&want), "{want} missing from:\n{diff}");
    }
    d.docker_ok(&["rm", &name]);
    // What the runtime mounts (name files, /dev, /proc, volumes) is not a change.
    let name = d.name("diff-only");
    d.docker_ok(&[
        "run",
        "--name",
        &name,
        "-v",
        "/vol",
        "busybox",
        "sh",
        "-c",
        "echo > /test",
    ]);
    assert_eq!(d.docker_ok(&["diff", &name]), "A /test");
    d.docker_ok(&["rm", "-v", &name]);
}

#[test]
fn container_prune_removes_only_stopped_matching_containers() {
    let d = Daemon::shared();
    let tag = d.name("prune-set");
    let label = format!("set={tag}");
    let stopped: Vec<String> = (0..2)
        .map(|i| {
            let n = d.name(&format!("pruned{i}"));
            d.docker_ok(&["run", "--name", &n, "-l", &label, "busybox", "true"]);
            n
        })
        .collect();
    let running = d.name("pr-running");
    d.docker_ok(&[
        "run", "-d", "--name", &running, "-l", &label, "busybox", "sleep", "100",
    ]);
    let out = d.docker_ok(&[
        "container",
        "prune",
        "-f",
        "--filter",
        &format!("label={label}"),
    ]);
    assert!(out.contains("Total reclaimed space"), "{out}");
    for n in &stopped {
        assert_ne!(
            code(&d.docker(&["inspect", n])),
            0,
            "{n} survived the prune"
        );
    }
    d.docker_ok(&["inspect", &running]);
    d.docker_ok(&["rm", "-f", &running]);
}

#[test]
fn image_prune_removes_dangling_images() {
    let d = Daemon::shared();
    // An untagged import is dangling.
    let tar = d.rootfs_tar();
    let id = d.docker_ok(&["import", tar.to_str().unwrap()]);
    let id = id.trim_start_matches("sha256:").to_string();
    let dangling = d.docker_ok(&["images", "-q", "--filter", "dangling=true"]);
    assert!(dangling.lines().any(|l| id.starts_with(l)), "{dangling}");
    d.docker_ok(&["image", "prune", "-f"]);
    assert_fails_with(&d.docker(&["image", "inspect", &id]), "No such image");
    d.docker_ok(&["image", "inspect", "busybox:latest"]);
}

#[test]
fn system_df_reports_usage() {
    let d = Daemon::shared();
    let out = d.docker_ok(&["system", "df"]);
    assert!(out.starts_with("TYPE"), "{out}");
    for row in ["Images", "Containers", "Local Volumes"] {
        assert!(out.contains(row), "{row} missing:\n{out}");
    }
}

/// Image prune decides "unused" and removes under the same lock a create
/// holds from resolving its image until the container exists: whichever
/// wins, a container that was created still has its image.
#[test]
fn image_prune_racing_a_create_never_leaves_a_container_without_its_image() {
    let d = Daemon::shared();
    let tar = d.rootfs_tar();
    let tar = tar.to_str().unwrap().to_string();
    let label = d.name("race");
    let filters = format!(r#"{{"label":["{label}=1"],"dangling":["false"]}}"#);
    let prune_path = format!("/images/prune?filters={}", urlencode(&filters));
    let (mut created, mut pruned) = (0, 0);
    for round in 0..12 {
        // Tagged, so the dangling-image prune of another test leaves it be.
        let tag = format!("{label}:r{round}");
        let id = d.docker_ok(&[
            "import",
            "--change",
            &format!("LABEL {label}=1"),
            &tar,
            &tag,
        ]);
        let body = format!(r#"{{"Image":"{id}","Cmd":["true"]}}"#);
        let (create, prune) = std::thread::scope(|s| {
            let c = s.spawn(|| {
                d.request(
                    "POST",
                    "/containers/create",
                    Some(("application/json", body.as_bytes())),
                )
            });
            let p = s.spawn(|| d.request("POST", &prune_path, None));
            (c.join().unwrap(), p.join().unwrap())
        });
        assert_eq!(
            prune.status,
            200,
            "{}",
            String::from_utf8_lossy(&prune.body)
        );
        let image_there = d.request("GET", &format!("/images/{id}/json"), None).status == 200;
        match create.status {
            201 => {
                created += 1;
                assert!(
                    image_there,
                    "a container was created on an image prune removed"
                );
                let cid: serde_json::Value = serde_json::from_slice(&create.body).unwrap();
                d.docker_ok(&["rm", cid["Id"].as_str().unwrap()]);
                d.docker_ok(&["rmi", &tag]);
            }
            404 => {
                pruned += 1;
                assert!(!image_there, "create said no such image, yet it is there");
            }
            other => panic!("create: {other} {}", String::from_utf8_lossy(&create.body)),
        }
    }
    assert_eq!(created + pruned, 12);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
