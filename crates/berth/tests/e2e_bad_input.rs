//! Hostile or malformed input: bad JSON bodies, wrong types, unknown names,
//! and tars that try to write outside the image.
//!
//! dockerd 20.10 (Debian's) answers 500 for undecodable JSON, bad filters and
//! bad query numbers; moby 23+ answers 400 and so must berth (the issue asks
//! for 400). Against dockerd those cases accept either.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{Daemon, http::Response, unique_suffix};

const JSON: &str = "application/json";

fn create(d: &Daemon, body: &[u8]) -> Response {
    d.request("POST", "/v1.41/containers/create", Some((JSON, body)))
}

/// A client error with Docker's `{"message": "..."}` body.
fn assert_bad_request(d: &Daemon, resp: &Response, what: &str) {
    let ok = if d.is_berth() {
        resp.status == 400
    } else {
        matches!(resp.status, 400 | 500)
    };
    assert!(ok, "{what}: status {} body {}", resp.status, resp.text());
    assert_eq!(
        resp.header("Content-Type").map(|c| c.starts_with(JSON)),
        Some(true),
        "{what}: error is not JSON"
    );
    let msg = resp.json()["message"].as_str().map(String::from);
    assert!(
        msg.is_some_and(|m| !m.is_empty()),
        "{what}: no message in {}",
        resp.text()
    );
}

#[test]
fn malformed_json_create_is_a_bad_request() {
    let d = Daemon::shared();
    for (body, what) in [
        (&b"{bad"[..], "truncated object"),
        (b"", "empty body"),
        (b"[1,2]", "array instead of object"),
        (b"\xff\xfe", "not UTF-8"),
    ] {
        assert_bad_request(&d, &create(&d, body), what);
    }
}

#[test]
fn wrong_types_are_a_bad_request() {
    let d = Daemon::shared();
    for (body, what) in [
        (r#"{"Image":123}"#, "Image as number"),
        (r#"{"Image":"busybox","Env":5}"#, "Env as number"),
        (r#"{"Image":"busybox","Env":[1,2]}"#, "Env items as numbers"),
        (r#"{"Image":"busybox","Labels":["a"]}"#, "Labels as array"),
        (
            r#"{"Image":"busybox","HostConfig":{"Memory":"lots"}}"#,
            "Memory as string",
        ),
    ] {
        // Named, so we can check that the refusal left nothing behind.
        let name = d.name("wrongtype");
        let resp = d.request(
            "POST",
            &format!("/v1.41/containers/create?name={name}"),
            Some((JSON, body.as_bytes())),
        );
        assert_bad_request(&d, &resp, what);
        let after = d.request("GET", &format!("/v1.41/containers/{name}/json"), None);
        assert_eq!(after.status, 404, "{what}: container was created anyway");
    }
}

#[test]
fn bad_names_signals_and_queries() {
    let d = Daemon::shared();
    let body = br#"{"Image":"busybox","Cmd":["true"]}"#;
    let resp = d.request(
        "POST",
        "/v1.41/containers/create?name=bad%20name!",
        Some((JSON, body)),
    );
    assert_eq!(resp.status, 400, "{}", resp.text());
    assert!(
        resp.json()["message"]
            .as_str()
            .unwrap()
            .contains("Invalid container name")
    );

    let resp = create(&d, br#"{"Image":"no-such-image-e2e:nope"}"#);
    assert_eq!(resp.status, 404, "{}", resp.text());
    assert!(
        resp.json()["message"]
            .as_str()
            .unwrap()
            .contains("No such image")
    );

    let resp = d.request("POST", "/v1.41/containers/no-such-e2e/start", None);
    assert_eq!(resp.status, 404);

    let name = d.name("badsig");
    d.docker_ok(&["run", "-d", "--name", &name, "busybox", "sleep", "60"]);
    let resp = d.request(
        "POST",
        &format!("/v1.41/containers/{name}/kill?signal=NOTASIG"),
        None,
    );
    assert_eq!(resp.status, 400, "{}", resp.text());
    assert!(resp.json()["message"].as_str().unwrap().contains("NOTASIG"));
    // The refused kill did nothing.
    assert_eq!(
        d.docker_ok(&["inspect", "-f", "{{.State.Running}}", &name]),
        "true"
    );
    let resp = d.request(
        "POST",
        &format!("/v1.41/containers/{name}/stop?t=abc"),
        None,
    );
    assert_bad_request(&d, &resp, "stop?t=abc");
    let resp = d.request("GET", "/v1.41/containers/json?filters=notjson", None);
    assert_bad_request(&d, &resp, "filters=notjson");
    d.docker_ok(&["rm", "-f", &name]);
}

/// One tar entry with its name written raw, bypassing the tar crate's
/// refusal to build `..` or absolute paths.
enum Entry<'a> {
    File(&'a str),
    Symlink(&'a str, &'a str),
}

fn raw_header(name: &str, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_old();
    let field = &mut h.as_old_mut().name;
    assert!(name.len() < field.len());
    field[..name.len()].copy_from_slice(name.as_bytes());
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_size(size);
    h
}

fn hostile_tar(dest: &Path, entries: &[Entry]) {
    let mut b = tar::Builder::new(std::fs::File::create(dest).unwrap());
    let body = b"evil\n";
    let mut h = raw_header("harmless", tar::EntryType::Regular, body.len() as u64);
    h.set_cksum();
    b.append(&h, &body[..]).unwrap();
    for e in entries {
        match e {
            Entry::File(name) => {
                let mut h = raw_header(name, tar::EntryType::Regular, body.len() as u64);
                h.set_cksum();
                b.append(&h, &body[..]).unwrap();
            }
            Entry::Symlink(name, target) => {
                let mut h = raw_header(name, tar::EntryType::Symlink, 0);
                let link = &mut h.as_old_mut().linkname;
                link[..target.len()].copy_from_slice(target.as_bytes());
                h.set_cksum();
                b.append(&h, std::io::empty()).unwrap();
            }
        }
    }
    b.into_inner().unwrap();
}

fn all_image_ids(d: &Daemon) -> Vec<String> {
    let mut ids: Vec<String> = d
        .docker_ok(&["images", "-a", "-q", "--no-trunc"])
        .lines()
        .map(String::from)
        .collect();
    ids.sort();
    ids
}

/// Outside targets, removed on drop.
struct Outside(Vec<PathBuf>);

impl Drop for Outside {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_dir_all(p);
            let _ = std::fs::remove_file(p);
        }
    }
}

#[test]
fn hostile_tars_cannot_escape_on_import() {
    let d = Daemon::shared();
    let tag = unique_suffix();
    let dotdot = PathBuf::from(format!("/tmp/be2e-escape-{tag}-dotdot"));
    let absolute = PathBuf::from(format!("/tmp/be2e-escape-{tag}-abs"));
    let symdir = PathBuf::from(format!("/tmp/be2e-escape-{tag}-dir"));
    let _outside = Outside(vec![dotdot.clone(), absolute.clone(), symdir.clone()]);
    std::fs::create_dir(&symdir).unwrap();

    let dotdot_name = format!("../../../../../../../../..{}", dotdot.display());
    let abs_name = absolute.display().to_string();
    let sym_target = symdir.display().to_string();
    let cases: Vec<(&str, Vec<Entry>)> = vec![
        ("dotdot", vec![Entry::File(&dotdot_name)]),
        ("absolute", vec![Entry::File(&abs_name)]),
        (
            "symlink",
            vec![Entry::Symlink("l", &sym_target), Entry::File("l/x")],
        ),
    ];
    for (what, entries) in cases {
        let before = all_image_ids(&d);
        let tar = d.tmp().join(format!("hostile-{what}-{tag}.tar"));
        hostile_tar(&tar, &entries);
        let image = format!("hostile-{what}-{tag}:x");
        let out = d.docker(&["import", tar.to_str().unwrap(), &image]);

        assert!(!dotdot.exists(), "{what}: wrote {}", dotdot.display());
        assert!(!absolute.exists(), "{what}: wrote {}", absolute.display());
        let leaked: Vec<_> = std::fs::read_dir(&symdir).unwrap().collect();
        assert!(leaked.is_empty(), "{what}: wrote through the symlink");

        // dockerd 20.10 disagrees with the issue for `..` and absolute names:
        // it confines them into the rootfs and imports the image. Only the
        // symlink case fails there. berth must refuse all three.
        let must_refuse = d.is_berth() || what == "symlink";
        if must_refuse {
            assert!(
                !out.status.success(),
                "{what}: import succeeded: {}",
                String::from_utf8_lossy(&out.stdout)
            );
            assert!(!out.stderr.is_empty(), "{what}: refusal without a message");
            assert!(
                !d.docker(&["image", "inspect", &image]).status.success(),
                "{what}: image was tagged"
            );
            assert_eq!(all_image_ids(&d), before, "{what}: a new image appeared");
        }
    }
}

fn container_count(d: &Daemon) -> usize {
    d.docker_ok(&["ps", "-aq"]).lines().count()
}

/// Values dockerd takes and then fails on at start (or never): refused at
/// create with a 400 in Docker's shape, and nothing is stored.
#[test]
fn invalid_settings_are_refused_at_create() {
    let d = Daemon::start();
    let cases = [
        (
            r#"{"Image":"busybox","HostConfig":{"CpuShares":-5}}"#,
            "negative CpuShares",
        ),
        (
            r#"{"Image":"busybox","ExposedPorts":{"99999/tcp":{}}}"#,
            "port out of range",
        ),
        (
            r#"{"Image":"busybox","ExposedPorts":{"abc/tcp":{}}}"#,
            "port not a number",
        ),
        (
            r#"{"Image":"busybox","ExposedPorts":{"80/xyz":{}}}"#,
            "unknown protocol",
        ),
        (
            r#"{"Image":"busybox","ExposedPorts":{"-1/tcp":{}}}"#,
            "negative port",
        ),
        (
            r#"{"Image":"busybox","HostConfig":{"Mounts":[{"Type":"tmpfs","Target":"/x","TmpfsOptions":{"SizeBytes":-1}}]}}"#,
            "negative tmpfs size",
        ),
        (
            r#"{"Image":"busybox","HostConfig":{"Mounts":[{"Type":"bogus","Target":"/x"}]}}"#,
            "unknown mount type",
        ),
    ];
    for (body, what) in cases {
        let before = container_count(&d);
        let r = create(&d, body.as_bytes());
        if !d.is_berth() && r.status == 201 {
            // dockerd 20.10 takes all but the mount type.
            let id = r.json()["Id"].as_str().unwrap().to_string();
            d.docker_ok(&["rm", "-f", &id]);
            continue;
        }
        assert_eq!(r.status, 400, "{what}: {}", r.text());
        assert_bad_request(&d, &r, what);
        assert_eq!(
            container_count(&d),
            before,
            "{what}: a container was stored"
        );
    }
    let r = create(
        &d,
        br#"{"Image":"busybox","HostConfig":{"Mounts":[{"Type":"bogus","Target":"/x"}]}}"#,
    );
    assert_eq!(
        r.json()["message"],
        "invalid mount config for type \"bogus\": mount type unknown"
    );
}

/// Fields the daemon does not know are ignored, as dockerd ignores them
/// (clients newer than the daemon send them).
#[test]
fn unknown_fields_are_ignored() {
    let d = Daemon::shared();
    let r = create(
        &d,
        br#"{"Image":"busybox","Cmd":["true"],"NoSuchField":1,"HostConfig":{"Nope":{"a":1},"FutureKnob":true}}"#,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["Id"].as_str().unwrap().to_string();
    d.docker_ok(&["rm", &id]);
}

#[test]
fn oversized_bodies_bad_filters_and_names() {
    let d = Daemon::shared();
    // Over the body limit: still Docker's error shape.
    let big = vec![b'a'; 20 << 20];
    let r = d.request("POST", "/v1.41/containers/create", Some((JSON, &big)));
    assert!(
        matches!(r.status, 400 | 413 | 500),
        "{} {}",
        r.status,
        r.text()
    );
    assert!(
        r.json()["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        r.text()
    );

    let r = d.request(
        "GET",
        "/v1.41/images/json?filters=%7B%22dangling%22%3A%5B%22maybe%22%5D%7D",
        None,
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["message"], "Invalid filter 'dangling=[maybe]'");

    // A 300-character volume name: a client error (dockerd 20.10: a 500 from mkdir).
    let name = "a".repeat(300);
    let body = serde_json::json!({ "Name": name }).to_string();
    let r = d.request(
        "POST",
        "/v1.41/volumes/create",
        Some((JSON, body.as_bytes())),
    );
    if d.is_berth() {
        assert_eq!(r.status, 400, "{}", r.text());
    }
    assert!(r.json()["message"].as_str().is_some());
    assert!(!d.docker_ok(&["volume", "ls", "-q"]).contains(&name));

    // Null for optional fields, and a name with a space, as dockerd takes them.
    let net = format!("my net {}", unique_suffix());
    let body = serde_json::json!({
        "Name": net, "Driver": null, "IPAM": null, "Options": null, "Internal": null,
        "Labels": null, "CheckDuplicate": null, "Attachable": null,
    })
    .to_string();
    let r = d.request(
        "POST",
        "/v1.41/networks/create",
        Some((JSON, body.as_bytes())),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        d.docker_ok(&["network", "inspect", "-f", "{{.Name}}", &net]),
        net
    );
    d.docker_ok(&["network", "rm", &net]);
}
