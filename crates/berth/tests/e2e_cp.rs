//! `docker cp` both ways, through the archive API.

mod common;

use common::{Daemon, assert_fails_with, code};

#[test]
fn copies_files_and_directories_out_of_running_and_stopped_containers() {
    let d = Daemon::shared();
    let name = d.name("cp-out");
    d.docker_ok(&[
        "run", "-d", "--name", &name, "busybox", "sh", "-c",
        "mkdir -p /data/sub && echo one > /data/a && echo two > /data/sub/b && ln -s a /data/link && sleep 100",
    ]);
    let out = common::host_dir(&d, "cp-out-host");
    let ok = common::wait_for(std::time::Duration::from_secs(10), || {
        (code(&d.docker(&["exec", &name, "sh", "-c", "test -L /data/link"])) == 0).then_some(())
    });
    assert!(ok.is_some());
    d.docker_ok(&["cp", &format!("{name}:/data"), out.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(out.join("data/a")).unwrap(),
        "one\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("data/sub/b")).unwrap(),
        "two\n"
    );
    assert_eq!(
        std::fs::read_link(out.join("data/link")).unwrap().to_str(),
        Some("a")
    );
    d.docker_ok(&[
        "cp",
        &format!("{name}:/etc/passwd"),
        out.join("pw").to_str().unwrap(),
    ]);
    assert!(
        std::fs::read_to_string(out.join("pw"))
            .unwrap()
            .starts_with("root:")
    );
    // Stopped containers work too.
    d.docker_ok(&["stop", "-t", "0", &name]);
    d.docker_ok(&[
        "cp",
        &format!("{name}:/data/a"),
        out.join("a-stopped").to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string(out.join("a-stopped")).unwrap(),
        "one\n"
    );
    assert_fails_with(
        &d.docker(&["cp", &format!("{name}:/no/such"), out.to_str().unwrap()]),
        "",
    );
    d.docker_ok(&["rm", &name]);
}

#[test]
fn copies_into_a_container_keeping_or_setting_owners() {
    let d = Daemon::shared();
    let name = d.name("cp-in");
    d.docker_ok(&["run", "-d", "--name", &name, "busybox", "sleep", "100"]);
    let src = common::host_dir(&d, "cp-in-host");
    std::fs::create_dir_all(src.join("tree/inner")).unwrap();
    std::fs::write(src.join("tree/inner/f.txt"), "payload\n").unwrap();
    std::os::unix::fs::chown(src.join("tree/inner/f.txt"), Some(1234), Some(1234)).unwrap();
    d.docker_ok(&[
        "cp",
        src.join("tree").to_str().unwrap(),
        &format!("{name}:/tmp/"),
    ]);
    assert_eq!(
        d.docker_ok(&["exec", &name, "cat", "/tmp/tree/inner/f.txt"]),
        "payload"
    );
    let owner = d.docker_ok(&[
        "exec",
        &name,
        "sh",
        "-c",
        "ls -ln /tmp/tree/inner/f.txt | awk '{print $3\":\"$4}'",
    ]);
    // As dockerd: without -a the archive's owners stay ...
    assert_eq!(owner, "1234:1234");
    // ... also with -a when the container has no configured user.
    d.docker_ok(&[
        "cp",
        "-a",
        src.join("tree/inner/f.txt").to_str().unwrap(),
        &format!("{name}:/tmp/kept.txt"),
    ]);
    let owner = d.docker_ok(&[
        "exec",
        &name,
        "sh",
        "-c",
        "ls -ln /tmp/kept.txt | awk '{print $3\":\"$4}'",
    ]);
    assert_eq!(owner, "1234:1234");
    assert_fails_with(
        &d.docker(&[
            "cp",
            src.join("tree").to_str().unwrap(),
            &format!("{name}:/no/such/dir/"),
        ]),
        "",
    );
    d.docker_ok(&["rm", "-f", &name]);
}

/// A symlink in the container pointing at the host's /etc must not lead a copy
/// out of the container.
#[test]
fn container_symlinks_cannot_reach_the_host() {
    let d = Daemon::shared();
    let name = d.name("cp-escape");
    let marker = d.tmp().join(d.name("marker-dir"));
    std::fs::create_dir_all(&marker).unwrap();
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        &format!("ln -s {} /escape && sleep 100", marker.display()),
    ]);
    let src = common::host_dir(&d, "cp-escape-src");
    std::fs::write(src.join("evil.txt"), "x").unwrap();
    let ok = common::wait_for(std::time::Duration::from_secs(10), || {
        (code(&d.docker(&["exec", &name, "sh", "-c", "test -L /escape"])) == 0).then_some(())
    });
    assert!(ok.is_some());
    let o = d.docker(&[
        "cp",
        src.join("evil.txt").to_str().unwrap(),
        &format!("{name}:/escape/"),
    ]);
    assert!(
        !marker.join("evil.txt").exists(),
        "cp wrote through a container symlink onto the host"
    );
    let _ = o;
    d.docker_ok(&["rm", "-f", &name]);
}
