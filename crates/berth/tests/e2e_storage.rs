//! Bind mounts, tmpfs, named and anonymous volumes through the real docker CLI.

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
