//! rename, diff, prune and system df through the real docker CLI.

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
