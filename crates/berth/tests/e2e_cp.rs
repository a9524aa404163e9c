//! `docker cp` both ways, through the archive API.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

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

/// Links are data: an image may carry relative links that climb above its
/// root (Docker stores them). They resolve inside the container, at run time
/// and for `docker cp` both ways; nothing reaches the host's files.
#[test]
fn links_climbing_out_of_the_root_resolve_inside_it() {
    let d = Daemon::shared();
    let tag = d.name("climb").to_lowercase();
    let dir = common::host_dir(&d, "climb-rootfs");
    let status = std::process::Command::new("tar")
        .args([
            "-xf",
            d.rootfs_tar().to_str().unwrap(),
            "-C",
            dir.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(status.success());
    std::os::unix::fs::symlink("../../../etc/passwd", dir.join("escape")).unwrap();
    std::os::unix::fs::symlink("../../../../tmp", dir.join("up")).unwrap();
    let tar = dir.with_extension("tar");
    let status = std::process::Command::new("tar")
        .args([
            "-cf",
            tar.to_str().unwrap(),
            "-C",
            dir.to_str().unwrap(),
            ".",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    d.docker_ok(&["import", tar.to_str().unwrap(), &tag]);

    // At run time the links resolve inside the container.
    let out = d.docker_ok(&[
        "run",
        "--rm",
        &tag,
        "sh",
        "-c",
        "readlink /escape; head -n 1 /escape",
    ]);
    assert_eq!(out, "../../../etc/passwd\nroot:x:0:0:root:/root:/bin/sh");

    let name = d.name("climb");
    d.docker_ok(&["run", "-d", "--name", &name, &tag, "sleep", "100"]);
    // In: a copy through /up lands in the container's /tmp, not the host's.
    let marker = format!("berth-climb-{}", common::unique_suffix());
    let src = common::host_dir(&d, "climb-src").join(&marker);
    std::fs::write(&src, "inside\n").unwrap();
    d.docker_ok(&["cp", src.to_str().unwrap(), &format!("{name}:/up/")]);
    assert_eq!(
        d.docker_ok(&["exec", &name, "cat", &format!("/tmp/{marker}")]),
        "inside"
    );
    assert!(!std::path::Path::new("/tmp").join(&marker).exists());
    // Out: the link itself, and through it the container's file.
    let out = common::host_dir(&d, "climb-out");
    // (The docker CLI itself refuses to write such a link on the host, so
    // the archive is read as a stream.)
    let tar = d
        .docker_command(&["cp", &format!("{name}:/escape"), "-"])
        .output()
        .unwrap();
    assert!(
        tar.status.success(),
        "{}",
        String::from_utf8_lossy(&tar.stderr)
    );
    let mut archive = tar::Archive::new(&tar.stdout[..]);
    let entry = archive.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(entry.header().entry_type(), tar::EntryType::Symlink);
    assert_eq!(
        entry.link_name().unwrap().unwrap().to_str(),
        Some("../../../etc/passwd")
    );
    d.docker_ok(&[
        "cp",
        &format!("{name}:/up/{marker}"),
        out.join("back").to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string(out.join("back")).unwrap(),
        "inside\n"
    );
    // Stopped, the same paths resolve in the container's filesystem.
    d.docker_ok(&["stop", "-t", "0", &name]);
    d.docker_ok(&[
        "cp",
        &format!("{name}:/up/{marker}"),
        out.join("back2").to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string(out.join("back2")).unwrap(),
        "inside\n"
    );
    d.docker_ok(&["rm", &name]);
    d.docker_ok(&["rmi", &tag]);
}

/// The CVE-2018-15664 pattern: processes in the container swap a directory
/// of the copied tree for a symlink to a host directory, over and over,
/// while `docker cp` runs both ways. Walking by descriptors, the daemon
/// never reads the host's files nor writes or chowns anything there.
#[test]
fn racing_symlink_swaps_against_cp_reach_nothing_on_the_host() {
    use std::os::unix::fs::MetadataExt;
    let d = Daemon::shared();
    let name = d.name("cp-race");
    let host = common::host_dir(&d, "cp-race-host");
    let secret = format!("host-secret-{}", d.name("s"));
    for i in 0..100 {
        std::fs::write(host.join(format!("f{i}")), &secret).unwrap();
    }
    let owners = |dir: &std::path::Path| -> Vec<(String, u32, u32)> {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| {
                let m = e.metadata().unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    m.uid(),
                    m.gid(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let before = owners(&host);
    // The container's user is 1000 (so `cp -a` chowns to it); the swaps run
    // as root through exec.
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &name,
        "-u",
        "1000:1000",
        "busybox",
        "sleep",
        "300",
    ]);
    let h = host.display();
    d.docker_ok(&[
        "exec",
        "-u",
        "0",
        &name,
        "sh",
        "-c",
        "mkdir -p /w/out /w/in/sub && for i in $(seq 0 99); do echo inside > /w/out/f$i; done",
    ]);
    for swap in [
        format!(
            "while :; do mv /w/out /w/out.real; ln -s {h} /w/out; rm /w/out; mv /w/out.real /w/out; done"
        ),
        format!(
            "while :; do mv /w/in/sub /w/in/real; ln -s {h} /w/in/sub; rm /w/in/sub; mv /w/in/real /w/in/sub; done"
        ),
    ] {
        d.docker_ok(&["exec", "-d", "-u", "0", &name, "sh", "-c", &swap]);
    }
    let src = common::host_dir(&d, "cp-race-src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    for i in 0..100 {
        std::fs::write(src.join(format!("sub/f{i}")), "x").unwrap();
    }
    let mut copied_out = 0;
    for _ in 0..60 {
        let out = d.docker(&["cp", &format!("{name}:/w/out"), "-"]);
        if out.status.success() {
            copied_out += 1;
        }
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains(&secret),
            "cp read the host's files"
        );
        let _ = d.docker(&[
            "cp",
            "-a",
            &format!("{}/.", src.display()),
            &format!("{name}:/w/in"),
        ]);
        assert_eq!(owners(&host), before, "cp wrote or chowned on the host");
    }
    assert!(copied_out > 0, "no copy out ever succeeded");
    d.docker_ok(&["rm", "-f", &name]);
}

/// The same race against `docker export`, `docker diff` and `docker commit`,
/// which walk a running container's tree (its merged rootfs, its upper dir):
/// a directory swapped for a symlink to a host directory is taken as the
/// link, never followed into the host's files.
#[test]
fn racing_symlink_swaps_against_export_and_commit_reach_nothing_on_the_host() {
    let d = Daemon::shared();
    let name = d.name("export-race");
    let host = common::host_dir(&d, "export-race-host");
    let secret = format!("host-secret-{}", d.name("s"));
    for i in 0..50 {
        std::fs::write(host.join(format!("f{i}")), &secret).unwrap();
    }
    // A name only the host directory has: `docker diff` must never list it.
    let host_only = format!("host-only-{}", d.name("n"));
    std::fs::write(host.join(&host_only), "x").unwrap();
    d.docker_ok(&["run", "-d", "--name", &name, "busybox", "sleep", "300"]);
    d.docker_ok(&[
        "exec",
        &name,
        "sh",
        "-c",
        "for d in $(seq 0 7); do mkdir -p /w/d$d; for i in $(seq 0 49); do echo inside > /w/d$d/f$i; done; done",
    ]);
    // Eight directories, each swapped with a link to the host directory
    // half of the time: the walk by paths this replaced read the host's
    // files in about one export in six.
    let h = host.display();
    for n in 0..8 {
        d.docker_ok(&[
            "exec",
            "-d",
            &name,
            "sh",
            "-c",
            &format!(
                "while :; do mv /w/d{n} /w/d{n}.real; ln -s {h} /w/d{n}; busybox usleep 2000; rm /w/d{n}; mv /w/d{n}.real /w/d{n}; busybox usleep 2000; done"
            ),
        ]);
    }
    let mut exported = 0;
    for _ in 0..40 {
        let out = d.docker(&["export", &name]);
        if out.status.success() {
            exported += 1;
        }
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains(&secret),
            "export read the host's files"
        );
    }
    assert!(exported > 0, "no export ever succeeded");
    for _ in 0..20 {
        let diff = d.docker(&["diff", &name]);
        assert!(
            !String::from_utf8_lossy(&diff.stdout).contains(&host_only),
            "diff listed the host's files"
        );
    }
    for i in 0..5 {
        let image = format!("{}-c{i}", name.to_lowercase());
        if d.docker(&["commit", &name, &image]).status.success() {
            // What the committed layer holds, read from the image itself.
            let files = d.docker(&[
                "run",
                "--rm",
                "--entrypoint",
                "sh",
                &image,
                "-c",
                "cat /w/*/* 2>/dev/null; true",
            ]);
            assert!(
                !String::from_utf8_lossy(&files.stdout).contains(&secret),
                "commit took the host's files"
            );
            d.docker_ok(&["rmi", &image]);
        }
    }
    d.docker_ok(&["rm", "-f", &name]);
}

/// An upload is judged whole before anything of it is written: a hostile
/// entry or a truncated archive after good entries is a 400, and the good
/// entries before it are not in the container either.
#[test]
fn a_bad_upload_writes_nothing_into_the_container() {
    let d = Daemon::shared();
    let name = d.name("cp-bad");
    d.docker_ok(&["run", "-d", "--name", &name, "busybox", "sleep", "100"]);
    let file = |b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(data.len() as u64);
        // By hand: the tar crate itself refuses to write a "..".
        h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_cksum();
        b.append(&h, data).unwrap();
    };
    let mut hostile = tar::Builder::new(Vec::new());
    file(&mut hostile, "good-before-escape", b"x");
    file(&mut hostile, "../escape", b"x");
    let hostile = hostile.into_inner().unwrap();
    let mut truncated = tar::Builder::new(Vec::new());
    file(&mut truncated, "good-before-cut", b"x");
    file(&mut truncated, "cut", &[7u8; 4096]);
    let mut truncated = truncated.into_inner().unwrap();
    truncated.truncate(512 + 512 + 512 + 1000);
    for (what, body, marker) in [
        ("hostile", hostile, "good-before-escape"),
        ("truncated", truncated, "good-before-cut"),
    ] {
        let resp = d.request(
            "PUT",
            &format!("/containers/{name}/archive?path=/tmp"),
            Some(("application/x-tar", &body)),
        );
        assert_eq!(resp.status, 400, "{what}: {}", resp.text());
        let listing = d.docker_ok(&["exec", &name, "ls", "-a", "/tmp"]);
        assert!(!listing.contains(marker), "{what}: {listing}");
    }
    d.docker_ok(&["rm", "-f", &name]);
}

/// A copy into a read-only root filesystem or read-only volume is refused
/// with dockerd's words and leaves nothing behind; a writable volume under
/// a read-only root takes it.
#[test]
fn read_only_destinations_are_refused_by_name() {
    let d = Daemon::shared();
    let name = d.name("cp-ro");
    let ro_src = common::host_dir(&d, "cp-ro-vol");
    let rw_src = common::host_dir(&d, "cp-rw-vol");
    d.docker_ok(&[
        "run",
        "-d",
        "--read-only",
        "--name",
        &name,
        "-v",
        &format!("{}:/ro:ro", ro_src.display()),
        "-v",
        &format!("{}:/rw", rw_src.display()),
        "busybox",
        "sleep",
        "100",
    ]);
    let src = common::host_dir(&d, "cp-ro-src");
    std::fs::write(src.join("f.txt"), "data").unwrap();
    let f = src.join("f.txt");
    let f = f.to_str().unwrap();
    assert_fails_with(
        &d.docker(&["cp", f, &format!("{name}:/tmp/")]),
        "container rootfs is marked read-only",
    );
    assert_fails_with(
        &d.docker(&["cp", f, &format!("{name}:/ro/")]),
        "mounted volume is marked read-only",
    );
    assert_eq!(std::fs::read_dir(&ro_src).unwrap().count(), 0);
    d.docker_ok(&["cp", f, &format!("{name}:/rw/")]);
    assert_eq!(std::fs::read(rw_src.join("f.txt")).unwrap(), b"data");
    let names: Vec<_> = std::fs::read_dir(&rw_src)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["f.txt"], "no stage left in the volume");
    d.docker_ok(&["rm", "-f", &name]);
}

/// The docker CLI asks (`noOverwriteDirNonDir=true`) that a copy never
/// replace a directory with a file or the reverse: refused in dockerd's
/// words with nothing written; the API's default still replaces.
#[test]
fn a_file_does_not_replace_a_directory_when_the_cli_asks() {
    let d = Daemon::shared();
    let name = d.name("cp-kinds");
    d.docker_ok(&["run", "-d", "--name", &name, "busybox", "sleep", "100"]);
    d.docker_ok(&["exec", &name, "mkdir", "-p", "/w/x/inner"]);
    let src = common::host_dir(&d, "cp-kinds-src");
    std::fs::write(src.join("x"), "a file").unwrap();
    std::fs::write(src.join("y"), "another").unwrap();
    let x = src.join("x");
    assert_fails_with(
        &d.docker(&["cp", x.to_str().unwrap(), &format!("{name}:/w/")]),
        "cannot overwrite directory \"/w/x\" with non-directory \"/w/\"",
    );
    d.docker_ok(&["exec", &name, "sh", "-c", "test -d /w/x/inner"]);
    let mut b = tar::Builder::new(Vec::new());
    b.append_path_with_name(&x, "x").unwrap();
    let body = b.into_inner().unwrap();
    let resp = d.request(
        "PUT",
        &format!("/containers/{name}/archive?path=/w"),
        Some(("application/x-tar", &body)),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(d.docker_ok(&["exec", &name, "cat", "/w/x"]), "a file");
    d.docker_ok(&["rm", "-f", &name]);
}
