//! `--userns-remap`: a remapped container's root is an unprivileged range of
//! host ids (read from /proc), cannot write what only host root may write
//! through a bind mount, in its first process or in an exec, before and
//! after a daemon restart; it sees its image's files owned as in the image
//! (no chowned copy of a layer), and `cp`, `export` and `commit` speak the
//! container's ids. `--userns=host` opts out; dockerd's refusals hold.

#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use common::{Daemon, Kind, stderr, stdout};

fn remapped_daemon() -> Daemon {
    Daemon::start_with(
        Kind::from_env(),
        vec!["--userns-remap".into(), "default".into()],
    )
}

/// The first host uid of the `dockremap` range (made by the daemon).
fn subuid_start() -> u32 {
    let text = std::fs::read_to_string("/etc/subuid").unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("dockremap:"))
        .unwrap_or_else(|| panic!("no dockremap range in /etc/subuid:\n{text}"));
    line.split(':').nth(1).unwrap().parse().unwrap()
}

fn proc_uids(pid: &str) -> Vec<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap())
        .collect()
}

/// An image whose `/data` belongs to 1000:1000 and whose `/bin/suid` is
/// setuid root, imported as `owned`.
fn import_owned_image(d: &Daemon) {
    let tar_path = d.tmp().join("owned.tar");
    let mut b = tar::Builder::new(std::fs::File::create(&tar_path).unwrap());
    common::rootfs::append_busybox_rootfs(&mut b).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o750);
    h.set_uid(1000);
    h.set_gid(1000);
    h.set_size(0);
    b.append_data(&mut h, "data", std::io::empty()).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o4755);
    h.set_uid(0);
    h.set_gid(0);
    h.set_size(3);
    b.append_data(&mut h, "bin/suid", &b"#!\n"[..]).unwrap();
    b.into_inner().unwrap().sync_all().unwrap();
    d.docker_ok(&["import", tar_path.to_str().unwrap(), "owned"]);
}

#[test]
fn a_remapped_root_is_unprivileged_on_the_host_in_run_and_exec() {
    let d = remapped_daemon();
    let start = subuid_start();
    // A host directory anyone may enter, with a file only host root may write.
    let host = d.tmp().join("hostdir");
    std::fs::create_dir(&host).unwrap();
    std::fs::set_permissions(&host, std::fs::Permissions::from_mode(0o755)).unwrap();
    let secret = host.join("secret");
    std::fs::write(&secret, "host\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();

    let name = d.name("remapped");
    let mount = format!("{}:/h", host.display());
    d.docker_ok(&[
        "run", "-d", "--name", &name, "-v", &mount, "busybox", "sleep", "300",
    ]);
    let pid = d.docker_ok(&["inspect", "-f", "{{.State.Pid}}", &name]);
    assert_eq!(
        proc_uids(&pid),
        vec![start; 4],
        "the container's init runs as host uid {start}"
    );
    let inside = d.docker_ok(&["exec", &name, "id", "-u"]);
    assert_eq!(inside, "0", "it is root inside");

    let write = d.docker(&["exec", &name, "sh", "-c", "echo evil >> /h/secret"]);
    assert!(!write.status.success(), "an exec wrote a host-root file");
    let create = d.docker(&["exec", &name, "busybox", "touch", "/h/new"]);
    assert!(
        !create.status.success(),
        "an exec created a file in a host-root directory"
    );
    let first = d.docker(&[
        "run",
        "--rm",
        "-v",
        &mount,
        "busybox",
        "sh",
        "-c",
        "echo evil >> /h/secret",
    ]);
    assert!(
        !first.status.success(),
        "a container's first process wrote a host-root file"
    );
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "host\n");
    assert!(!host.join("new").exists());
    // What it can read it still reads, as "nobody" owns it there.
    assert_eq!(d.docker_ok(&["exec", &name, "cat", "/h/secret"]), "host");
    assert_eq!(
        d.docker_ok(&["exec", &name, "busybox", "stat", "-c", "%u", "/h/secret"]),
        "65534"
    );

    // The exec's own process is remapped too, and in the container's cgroup.
    let map = d.docker_ok(&["exec", &name, "cat", "/proc/self/uid_map"]);
    let fields: Vec<&str> = map.split_whitespace().collect();
    assert_eq!(fields, ["0", &start.to_string(), "65536"], "{map}");

    if d.is_berth() {
        // Live restore: the container outlives the daemon and stays remapped.
        d.restart();
        assert_eq!(proc_uids(&pid), vec![start; 4]);
        let again = d.docker(&["exec", &name, "sh", "-c", "echo evil >> /h/secret"]);
        assert!(
            !again.status.success(),
            "an exec after a restart wrote a host-root file"
        );
        assert_eq!(d.docker_ok(&["exec", &name, "id", "-u"]), "0");
    }
    let info = d.docker_ok(&["info", "-f", "{{json .SecurityOptions}}"]);
    assert!(info.contains("name=userns"), "{info}");
}

#[test]
fn image_files_keep_their_owners_and_cp_export_commit_speak_container_ids() {
    let d = remapped_daemon();
    let start = subuid_start();
    import_owned_image(&d);
    let name = d.name("owned");
    d.docker_ok(&["run", "-d", "--name", &name, "owned", "sleep", "300"]);
    let stat =
        |path: &str| d.docker_ok(&["exec", &name, "busybox", "stat", "-c", "%u:%g:%a", path]);
    assert_eq!(stat("/data"), "1000:1000:750");
    assert_eq!(stat("/bin/suid"), "0:0:4755");
    // The image's user 1000 can write its own directory; root its new files.
    d.docker_ok(&[
        "exec",
        "-u",
        "1000:1000",
        &name,
        "busybox",
        "touch",
        "/data/by-app",
    ]);
    d.docker_ok(&["exec", &name, "busybox", "touch", "/root/by-root"]);
    assert_eq!(stat("/data/by-app"), "1000:1000:644");
    assert_eq!(stat("/root/by-root"), "0:0:644");

    // docker cp out: the container's ids.
    let out = d.docker(&["cp", &format!("{name}:/data"), "-"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut entries = tar::Archive::new(out.stdout.as_slice());
    let owners: Vec<(String, u64)> = entries
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.path().unwrap().display().to_string(),
                e.header().uid().unwrap(),
            )
        })
        .collect();
    assert!(
        owners.iter().any(|(p, _)| p.ends_with("by-app")),
        "{owners:?}"
    );
    // dockerd archives the host ids here (101000), unlike its own export;
    // berth archives what the container sees, as export does.
    let want = if d.is_berth() {
        1000
    } else {
        u64::from(start) + 1000
    };
    assert!(owners.iter().all(|(_, uid)| *uid == want), "{owners:?}");

    // docker cp in: the archive's ids are the container's.
    let src = d.tmp().join("cp-in");
    std::fs::write(&src, "x").unwrap();
    nix::unistd::chown(&src, Some(1234.into()), Some(1234.into())).unwrap();
    d.docker_ok(&["cp", src.to_str().unwrap(), &format!("{name}:/data/cp-in")]);
    assert_eq!(stat("/data/cp-in"), "1234:1234:644");

    if d.is_berth() {
        // On disk, the container's own files hold host ids; the image's
        // layer was not copied or chowned.
        let root = d.data_root();
        let upper_owner = |rel: &str| {
            let layers = root.join("snapshots").join("rw");
            let entry = std::fs::read_dir(&layers)
                .unwrap()
                .flatten()
                .find(|e| e.path().join("fs").join(rel).exists())
                .unwrap_or_else(|| panic!("no writable layer holds {rel}"));
            std::fs::symlink_metadata(entry.path().join("fs").join(rel))
                .unwrap()
                .uid()
        };
        assert_eq!(upper_owner("root/by-root"), start);
        assert_eq!(upper_owner("data/cp-in"), start + 1234);
        let layer_data_owners: Vec<u32> = std::fs::read_dir(root.join("snapshots"))
            .unwrap()
            .flatten()
            .map(|e| e.path().join("fs").join("data"))
            .filter(|p| p.exists())
            .map(|p| std::fs::metadata(p).unwrap().uid())
            .collect();
        assert_eq!(
            layer_data_owners,
            vec![1000],
            "the image layer keeps its own ids"
        );
    }

    // export and commit: the container's ids, set-id bits kept.
    let export = d.docker(&["export", &name]);
    assert!(export.status.success(), "{}", stderr(&export));
    let mut found = std::collections::HashMap::new();
    for e in tar::Archive::new(export.stdout.as_slice())
        .entries()
        .unwrap()
    {
        let e = e.unwrap();
        let path = e.path().unwrap().display().to_string();
        let h = e.header();
        found.insert(
            path.trim_end_matches('/').to_string(),
            (
                h.uid().unwrap(),
                h.gid().unwrap(),
                h.mode().unwrap() & 0o7777,
            ),
        );
    }
    assert_eq!(found["data"], (1000, 1000, 0o750), "{found:?}");
    assert_eq!(found["root/by-root"].0, 0);
    assert_eq!(found["bin/suid"], (0, 0, 0o4755));
    let image = format!("{name}-committed");
    d.docker_ok(&["commit", &name, &image]);
    let stat_in = |extra: &[&str]| {
        let mut args = vec!["run", "--rm"];
        args.extend(extra);
        args.extend([
            image.as_str(),
            "busybox",
            "stat",
            "-c",
            "%n %u:%g",
            "/root/by-root",
            "/data/cp-in",
        ]);
        d.docker_ok(&args)
    };
    assert_eq!(stat_in(&[]), "/root/by-root 0:0\n/data/cp-in 1234:1234");
    if d.is_berth() {
        // The layer holds the container's ids, so the image means the same
        // unremapped (dockerd's remapped store keeps host ids in it).
        assert_eq!(
            stat_in(&["--userns=host"]),
            "/root/by-root 0:0\n/data/cp-in 1234:1234"
        );
    }
}

#[test]
fn userns_host_opts_out_and_dockerd_refusals_hold() {
    let d = remapped_daemon();
    let host_map = d.docker_ok(&[
        "run",
        "--rm",
        "--userns=host",
        "busybox",
        "cat",
        "/proc/self/uid_map",
    ]);
    let fields: Vec<&str> = host_map.split_whitespace().collect();
    assert_eq!(fields, ["0", "0", "4294967295"], "{host_map}");
    let name = d.name("hostns");
    d.docker_ok(&["create", "--name", &name, "--userns=host", "busybox"]);
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.HostConfig.UsernsMode}}", &name]),
        "host"
    );
    // Privileged needs the host's user namespace, as in dockerd. (dockerd's
    // runc fails to apply all capabilities on this kernel, remapped or not.)
    if d.is_berth() {
        d.docker_ok(&[
            "run",
            "--rm",
            "--privileged",
            "--userns=host",
            "busybox",
            "true",
        ]);
    }
    for (args, want) in [
        (
            vec!["--privileged"],
            "privileged mode is incompatible with user namespaces",
        ),
        (
            vec!["--network", "host"],
            "cannot share the host's network namespace when user namespaces are enabled",
        ),
        (
            vec!["--pid", "host"],
            "cannot share the host PID namespace when user namespaces are enabled",
        ),
    ] {
        let mut cmd = vec!["run", "--rm"];
        cmd.extend(args.iter().copied());
        cmd.extend(["busybox", "true"]);
        let out = d.docker(&cmd);
        assert!(!out.status.success(), "{args:?} ran");
        assert!(stderr(&out).contains(want), "{args:?}: {}", stderr(&out));
    }
    let bogus = d.docker(&["run", "--rm", "--userns=private", "busybox", "true"]);
    assert!(!bogus.status.success());
    assert!(
        stderr(&bogus).contains("invalid USER mode"),
        "{}",
        stderr(&bogus)
    );
}

#[test]
fn a_bad_remap_user_is_refused_by_name() {
    if Kind::from_env() != Kind::Berth {
        return;
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args([
            "daemon",
            "--userns-remap",
            "no-such-user-here",
            "--data-root",
        ])
        .arg(Path::new("/tmp").join(format!("be2e-userns-{}", common::unique_suffix())))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("no-such-user-here") && err.contains("not found"),
        "{err}\n{}",
        stdout(&out)
    );
}
