//! Bind mounts, tmpfs, named and anonymous volumes through the real docker CLI.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use common::{Daemon, assert_fails_with, code};

/// A host directory private to one test, inside the daemon's temp dir (cleaned with it).
#[test]
fn bind_mounts_read_write_and_read_only() {
    let d = Daemon::shared();
    let dir = common::host_dir(&d, "bind");
    std::fs::write(dir.join("in.txt"), "from host\n").unwrap();
    let spec = format!("{}:/data", dir.display());
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "-v",
        &spec,
        "busybox",
        "sh",
        "-c",
        "cat /data/in.txt; echo from ctr > /data/out.txt",
    ]);
    assert_eq!(out, "from host");
    assert_eq!(
        std::fs::read_to_string(dir.join("out.txt")).unwrap(),
        "from ctr\n"
    );

    let ro = format!("{}:/data:ro", dir.display());
    let o = d.docker(&[
        "run",
        "--rm",
        "-v",
        &ro,
        "busybox",
        "sh",
        "-c",
        "echo x > /data/no.txt",
    ]);
    assert_ne!(code(&o), 0, "write to a read-only bind succeeded");
    assert!(
        common::stderr(&o).contains("Read-only file system"),
        "{}",
        common::stderr(&o)
    );
    assert!(!dir.join("no.txt").exists());

    let mount = format!("type=bind,source={},target=/m,readonly", dir.display());
    assert_eq!(
        d.docker_ok(&[
            "run",
            "--rm",
            "--mount",
            &mount,
            "busybox",
            "cat",
            "/m/in.txt"
        ]),
        "from host"
    );
}

#[test]
fn bind_sources_missing() {
    let d = Daemon::shared();
    let base = common::host_dir(&d, "missing");
    // -v creates a missing host directory ...
    let created = base.join("made/by/v");
    let spec = format!("{}:/data", created.display());
    d.docker_ok(&["run", "--rm", "-v", &spec, "busybox", "true"]);
    assert!(created.is_dir());
    // ... --mount refuses it.
    let mount = format!(
        "type=bind,source={},target=/m",
        base.join("absent").display()
    );
    let o = d.docker(&["run", "--rm", "--mount", &mount, "busybox", "true"]);
    assert_fails_with(&o, "bind source path does not exist");
    assert!(!base.join("absent").exists());
}

#[test]
fn named_volumes_persist_and_are_protected_while_used() {
    let d = Daemon::shared();
    let vol = d.name("vol");
    d.docker_ok(&["volume", "create", "--label", "purpose=e2e", &vol]);
    let spec = format!("{vol}:/data");
    let writer = d.name("writer");
    d.docker_ok(&[
        "run",
        "--name",
        &writer,
        "-v",
        &spec,
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    assert_eq!(
        d.docker_ok(&["run", "--rm", "-v", &spec, "busybox", "cat", "/data/f"]),
        "kept"
    );

    let listed = d.docker_ok(&["volume", "ls", "-q", "--filter", "label=purpose=e2e"]);
    assert!(listed.lines().any(|l| l == vol), "{listed}");
    let mountpoint = d.docker_ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", &vol]);
    assert_eq!(
        std::fs::read_to_string(format!("{mountpoint}/f")).unwrap(),
        "kept\n"
    );
    assert_eq!(
        d.docker_ok(&[
            "volume",
            "inspect",
            "-f",
            "{{.Driver}} {{.Labels.purpose}}",
            &vol
        ]),
        "local e2e"
    );

    // A stopped container still holds the volume.
    let o = d.docker(&["volume", "rm", &vol]);
    assert_fails_with(&o, "volume is in use");
    d.docker_ok(&["rm", &writer]);
    d.docker_ok(&["volume", "rm", &vol]);
    assert_fails_with(&d.docker(&["volume", "inspect", &vol]), "no such volume");
}

#[test]
fn new_volumes_are_seeded_from_the_image() {
    let d = Daemon::shared();
    let vol = d.name("seed");
    let spec = format!("{vol}:/etc");
    d.docker_ok(&["run", "--rm", "-v", &spec, "busybox", "true"]);
    let passwd = d.docker_ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{vol}:/x"),
        "busybox",
        "cat",
        "/x/passwd",
    ]);
    assert!(passwd.starts_with("root:"), "{passwd}");
    // nocopy leaves a new volume empty (the image has /home/app).
    let empty = d.name("nocopy");
    let seeded = d.docker_ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{vol}-home:/home"),
        "busybox",
        "ls",
        "-A",
        "/home",
    ]);
    assert_eq!(seeded, "app");
    let listing = d.docker_ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{empty}:/home:nocopy"),
        "busybox",
        "ls",
        "-A",
        "/home",
    ]);
    assert_eq!(listing, "");
    d.docker_ok(&["volume", "rm", &vol, &empty, &format!("{vol}-home")]);
}

#[test]
fn anonymous_volumes_go_with_rm_v_and_run_rm() {
    let d = Daemon::shared();
    let name = d.name("anon");
    d.docker_ok(&[
        "run",
        "--name",
        &name,
        "-v",
        "/scratch",
        "busybox",
        "sh",
        "-c",
        "echo hi > /scratch/f",
    ]);
    let vol = d.docker_ok(&["inspect", "-f", "{{(index .Mounts 0).Name}}", &name]);
    assert_eq!(vol.len(), 64, "anonymous volume name: {vol}");
    assert_eq!(
        d.docker_ok(&[
            "inspect",
            "-f",
            "{{(index .Mounts 0).Type}} {{(index .Mounts 0).Destination}} {{(index .Mounts 0).RW}}",
            &name
        ]),
        "volume /scratch true"
    );
    d.docker_ok(&["rm", "-v", &name]);
    assert_fails_with(&d.docker(&["volume", "inspect", &vol]), "no such volume");

    // --rm removes the anonymous volume too, but never a named one.
    let named = d.name("keep");
    let short_lived = d.name("rm-anon");
    d.docker_ok(&[
        "run",
        "-d",
        "--rm",
        "--name",
        &short_lived,
        "-v",
        "/tmpdata",
        "-v",
        &format!("{named}:/named"),
        "busybox",
        "sleep",
        "1",
    ]);
    let anon = d.docker_ok(&[
        "inspect",
        "-f",
        "{{range .Mounts}}{{if eq .Destination \"/tmpdata\"}}{{.Name}}{{end}}{{end}}",
        &short_lived,
    ]);
    assert_eq!(anon.len(), 64, "{anon}");
    let gone = common::wait_for(std::time::Duration::from_secs(20), || {
        (code(&d.docker(&["volume", "inspect", &anon])) != 0).then_some(())
    });
    assert!(
        gone.is_some(),
        "anonymous volume {anon} outlived its --rm container"
    );
    d.docker_ok(&["volume", "inspect", &named]);
    d.docker_ok(&["volume", "rm", &named]);
}

#[test]
fn tmpfs_mounts() {
    let d = Daemon::shared();
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--tmpfs",
        "/run/t:size=1m",
        "busybox",
        "sh",
        "-c",
        "grep ' /run/t ' /proc/mounts",
    ]);
    assert!(out.starts_with("tmpfs /run/t tmpfs"), "{out}");
    assert!(
        out.contains("size=1024k") && out.contains("noexec"),
        "{out}"
    );
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--mount",
        "type=tmpfs,destination=/t",
        "busybox",
        "sh",
        "-c",
        "echo ok > /t/f && cat /t/f",
    ]);
    assert_eq!(out, "ok");
}

#[test]
fn bad_mount_specs_are_refused() {
    let d = Daemon::shared();
    let o = d.docker(&[
        "run", "--rm", "-v", "/a:/data", "-v", "/b:/data", "busybox", "true",
    ]);
    assert_fails_with(&o, "Duplicate mount point");
    let o = d.docker(&["volume", "create", "bad/name"]);
    assert_ne!(code(&o), 0);
    let o = d.docker(&["volume", "rm", "never-created-volume"]);
    assert_fails_with(&o, "no such volume");
}

#[test]
fn volume_prune_removes_unused_anonymous_volumes() {
    let d = Daemon::shared();
    let name = d.name("prune");
    // A unique label keeps this prune away from other tests' volumes (dockerd 20.10,
    // API 1.41, prunes named volumes too).
    let label = format!("prunetest={name}");
    let filter = format!("label={label}");
    d.docker_ok(&[
        "create",
        "--name",
        &name,
        "--mount",
        &format!("type=volume,destination=/p,volume-label={label}"),
        "busybox",
        "true",
    ]);
    let vol = d.docker_ok(&["inspect", "-f", "{{(index .Mounts 0).Name}}", &name]);
    // In use by a container: kept.
    d.docker_ok(&["volume", "prune", "-f", "--filter", &filter]);
    d.docker_ok(&["volume", "inspect", &vol]);
    d.docker_ok(&["rm", &name]);
    d.docker_ok(&["volume", "prune", "-f", "--filter", &filter]);
    assert_fails_with(&d.docker(&["volume", "inspect", &vol]), "no such volume");

    // Named volumes: kept since API 1.42, pruned before it.
    let named = d.name("prune-named");
    d.docker_ok(&["volume", "create", "--label", &label, &named]);
    let query = format!(
        "filters=%7B%22label%22%3A%5B%22{}%22%5D%7D",
        label.replace('=', "%3D")
    );
    if d.is_berth() {
        // (dockerd 20.10 stops at API 1.41.)
        let r = d.request("POST", &format!("/v1.44/volumes/prune?{query}"), None);
        assert_eq!(r.status, 200, "{}", r.text());
        d.docker_ok(&["volume", "inspect", &named]);
    }
    let r = d.request("POST", &format!("/v1.41/volumes/prune?{query}"), None);
    assert_eq!(r.json()["VolumesDeleted"], serde_json::json!([named]));
    assert_fails_with(&d.docker(&["volume", "inspect", &named]), "no such volume");
}

#[test]
fn volumes_from_shares_another_containers_volumes_and_binds() {
    let d = Daemon::shared();
    let host = common::host_dir(&d, "vfrom-bind");
    std::fs::write(host.join("f"), "from the host\n").unwrap();
    let donor = d.name("vfrom-donor");
    d.docker_ok(&[
        "run",
        "--name",
        &donor,
        "-v",
        "/anon",
        "-v",
        &format!("{}:/bound:ro", host.display()),
        "busybox",
        "sh",
        "-c",
        "echo in-volume > /anon/f",
    ]);
    // Same volume and bind, same modes; the donor need not run.
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--volumes-from",
        &donor,
        "busybox",
        "sh",
        "-c",
        "cat /anon/f /bound/f; touch /bound/x 2>/dev/null || echo bound-ro",
    ]);
    assert_eq!(out, "in-volume\nfrom the host\nbound-ro");
    // `:ro` makes everything read-only.
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "--volumes-from",
        &format!("{donor}:ro"),
        "busybox",
        "sh",
        "-c",
        "touch /anon/y 2>/dev/null || echo anon-ro",
    ]);
    assert_eq!(out, "anon-ro");
    let sources = |name: &str| {
        d.docker_ok(&[
            "inspect",
            "-f",
            "{{range .Mounts}}{{.Destination}}={{.Source}} {{end}}",
            name,
        ])
    };
    let joiner = d.name("vfrom-joiner");
    d.docker_ok(&[
        "create",
        "--name",
        &joiner,
        "--volumes-from",
        &donor,
        "busybox",
    ]);
    assert_eq!(sources(&joiner), sources(&donor));
    // (Through the API: the docker CLI takes any 404 of create for a missing image.)
    let r = d.request(
        "POST",
        "/v1.41/containers/create",
        Some((
            "application/json",
            br#"{"Image":"busybox","HostConfig":{"VolumesFrom":["no-such-donor"]}}"#,
        )),
    );
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(r.text().contains("No such container"), "{}", r.text());
    // The shared anonymous volume outlives the joiner's `rm -v` while the donor holds it.
    d.docker_ok(&["rm", "-v", &joiner]);
    d.docker_ok(&[
        "run",
        "--rm",
        "--volumes-from",
        &donor,
        "busybox",
        "cat",
        "/anon/f",
    ]);
    d.docker_ok(&["rm", "-v", &donor]);
}

/// As dockerd: `--volume-driver` is kept, and only matters (and fails) when a
/// volume has to be made with it.
#[test]
fn volume_driver_applies_to_new_volumes_only() {
    let d = Daemon::shared();
    let id = d.docker_ok(&["create", "--volume-driver", "foo", "busybox"]);
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.HostConfig.VolumeDriver}}", &id]),
        "foo"
    );
    d.docker_ok(&["rm", &id]);
    let vol = d.name("vdrv");
    // (Through the API: the docker CLI takes any 404 of create for a missing image.)
    let body = serde_json::json!({
        "Image": "busybox", "HostConfig": {"VolumeDriver": "foo", "Binds": [format!("{vol}:/x")]}
    })
    .to_string();
    let r = d.request(
        "POST",
        "/v1.41/containers/create",
        Some(("application/json", body.as_bytes())),
    );
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(
        r.text().contains("plugin \\\"foo\\\" not found"),
        "{}",
        r.text()
    );
    assert_fails_with(&d.docker(&["volume", "inspect", &vol]), "no such volume");
    let id = d.docker_ok(&[
        "create",
        "--volume-driver",
        "local",
        "-v",
        &format!("{vol}:/x"),
        "busybox",
    ]);
    d.docker_ok(&["rm", "-v", &id]);
    d.docker_ok(&["volume", "rm", &vol]);
}

/// Whether something is mounted at `path` in this (the daemon's) mount
/// namespace, and as which filesystem type.
fn mounted_fs(path: &str) -> Option<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    info.lines()
        .filter(|l| l.split(' ').nth(4) == Some(path))
        .filter_map(|l| l.split(" - ").nth(1))
        .filter_map(|rest| rest.split(' ').next().map(String::from))
        .next_back()
}

/// Waits until nothing is mounted at `path` (the unmount follows the exit).
fn wait_unmounted(path: &str) {
    let gone = common::wait_for(std::time::Duration::from_secs(15), || {
        mounted_fs(path).is_none().then_some(())
    });
    assert!(
        gone.is_some(),
        "{path} is still mounted: {:?}",
        mounted_fs(path)
    );
}

fn volume_options(d: &Daemon, vol: &str) -> String {
    d.docker_ok(&["volume", "inspect", "-f", "{{json .Options}}", vol])
}

/// `--opt type=tmpfs`: mounted when the first container starts, shared while
/// any runs, unmounted (its content gone) when the last one stops.
#[test]
fn tmpfs_volume_options_mount_while_containers_use_the_volume() {
    let d = Daemon::shared();
    let vol = d.name("tmpfsvol");
    d.docker_ok(&[
        "volume",
        "create",
        "--opt",
        "type=tmpfs",
        "--opt",
        "device=tmpfs",
        "--opt",
        "o=size=64m",
        &vol,
    ]);
    assert_eq!(
        volume_options(&d, &vol),
        r#"{"device":"tmpfs","o":"size=64m","type":"tmpfs"}"#
    );
    let mountpoint = d.docker_ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", &vol]);
    assert_eq!(mounted_fs(&mountpoint), None, "mounted before any use");

    let spec = format!("{vol}:/data");
    let holder = d.name("tmpfs-holder");
    d.docker_ok(&[
        "run",
        "-d",
        "--name",
        &holder,
        "-v",
        &spec,
        "busybox",
        "sh",
        "-c",
        "echo shared > /data/f && exec sleep 300",
    ]);
    assert_eq!(mounted_fs(&mountpoint).as_deref(), Some("tmpfs"));
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "-v",
        &spec,
        "busybox",
        "sh",
        "-c",
        "for i in $(seq 50); do [ -f /data/f ] && break; sleep 0.1; done; cat /data/f; df -k /data | tail -n 1",
    ]);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("shared"), "{out}");
    let df: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(df.get(1), Some(&"65536"), "a 64 MiB tmpfs: {out}");
    // The holder still runs: the volume stays mounted.
    assert_eq!(mounted_fs(&mountpoint).as_deref(), Some("tmpfs"));

    d.docker_ok(&["stop", "-t", "0", &holder]);
    wait_unmounted(&mountpoint);
    let out = d.docker_ok(&["run", "--rm", "-v", &spec, "busybox", "ls", "-A", "/data"]);
    assert_eq!(out, "", "a new tmpfs after the last user stopped");
    wait_unmounted(&mountpoint);
    d.docker_ok(&["rm", &holder]);
    d.docker_ok(&["volume", "rm", &vol]);
}

/// `--opt type=none --opt o=bind --opt device=DIR`: the host directory is
/// bound while a container uses the volume; removing the volume leaves it.
#[test]
fn bind_volume_options_mount_a_host_directory() {
    let d = Daemon::shared();
    let dir = common::host_dir(&d, "bindvol");
    std::fs::write(dir.join("in.txt"), "from host\n").unwrap();
    let device = format!("device={}", dir.display());
    let vol = d.name("bindvol");
    d.docker_ok(&[
        "volume",
        "create",
        "--opt",
        "type=none",
        "--opt",
        "o=bind",
        "--opt",
        &device,
        &vol,
    ]);
    assert_eq!(
        volume_options(&d, &vol),
        format!(
            r#"{{"device":"{}","o":"bind","type":"none"}}"#,
            dir.display()
        )
    );
    let mountpoint = d.docker_ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", &vol]);
    let spec = format!("{vol}:/data");
    let out = d.docker_ok(&[
        "run",
        "--rm",
        "-v",
        &spec,
        "busybox",
        "sh",
        "-c",
        "cat /data/in.txt; echo from ctr > /data/out.txt",
    ]);
    assert_eq!(out, "from host");
    assert_eq!(
        std::fs::read_to_string(dir.join("out.txt")).unwrap(),
        "from ctr\n"
    );
    wait_unmounted(&mountpoint);
    d.docker_ok(&["volume", "rm", &vol]);
    assert!(dir.join("in.txt").exists() && dir.join("out.txt").exists());

    // o=bind,ro: read-only inside.
    let ro = d.name("bindvol-ro");
    d.docker_ok(&[
        "volume",
        "create",
        "--opt",
        "type=none",
        "--opt",
        "o=bind,ro",
        "--opt",
        &device,
        &ro,
    ]);
    let ro_spec = format!("{ro}:/data");
    let o = d.docker(&[
        "run",
        "--rm",
        "-v",
        &ro_spec,
        "busybox",
        "sh",
        "-c",
        "cat /data/in.txt && echo x > /data/new",
    ]);
    assert_fails_with(&o, "Read-only file system");
    assert!(common::stdout(&o).contains("from host"), "{o:?}");
    assert!(!dir.join("new").exists());
    d.docker_ok(&["volume", "rm", &ro]);

    // A device that does not exist fails the start with the mount's error.
    let missing = d.name("bindvol-missing");
    let gone = format!("device={}/not-there", dir.display());
    d.docker_ok(&[
        "volume",
        "create",
        "--opt",
        "type=none",
        "--opt",
        "o=bind",
        "--opt",
        &gone,
        &missing,
    ]);
    let name = d.name("bindvol-fails");
    let spec = format!("{missing}:/data");
    let o = d.docker(&["run", "--name", &name, "-v", &spec, "busybox", "true"]);
    assert_fails_with(&o, "failed to mount local volume");
    assert_fails_with(&o, "no such file or directory");
    d.docker_ok(&["rm", &name]);
    d.docker_ok(&["volume", "rm", &missing]);

    let o = d.docker(&["volume", "create", "--opt", "type=tmpfs", &d.name("badopt")]);
    assert_fails_with(&o, "missing required option: \"device\"");
    let o = d.docker(&["volume", "create", "--opt", "foo=bar", &d.name("badopt")]);
    assert_fails_with(&o, "invalid option: \"foo\"");
}

/// NFS-style options are accepted and shown; the mount itself is the
/// kernel's. This kernel has no NFS at all (neither client nor server in
/// /proc/filesystems), so the start fails and says why; with an NFS client
/// it fails too, as nothing serves NFS on 127.0.0.1 here.
#[test]
fn nfs_volume_options_are_kept_and_a_failed_mount_fails_the_start() {
    let d = Daemon::shared();
    let vol = d.name("nfsvol");
    d.docker_ok(&[
        "volume",
        "create",
        "--opt",
        "type=nfs",
        "--opt",
        "o=addr=127.0.0.1,rw,soft,timeo=10,retrans=1",
        "--opt",
        "device=:/exports/none",
        &vol,
    ]);
    assert_eq!(
        volume_options(&d, &vol),
        r#"{"device":":/exports/none","o":"addr=127.0.0.1,rw,soft,timeo=10,retrans=1","type":"nfs"}"#
    );
    let mountpoint = d.docker_ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", &vol]);
    let name = d.name("nfs-user");
    let spec = format!("{vol}:/data");
    let o = d.docker(&["run", "--name", &name, "-v", &spec, "busybox", "true"]);
    assert_fails_with(&o, "error while mounting volume");
    assert_fails_with(&o, "failed to mount local volume");
    let filesystems = std::fs::read_to_string("/proc/filesystems").unwrap();
    if !filesystems
        .lines()
        .any(|l| l.trim_start_matches("nodev").trim() == "nfs")
    {
        assert_fails_with(&o, "no such device");
    }
    assert_eq!(mounted_fs(&mountpoint), None);
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.State.Running}}", &name]),
        "false"
    );
    d.docker_ok(&["rm", &name]);
    d.docker_ok(&["volume", "rm", &vol]);
}
