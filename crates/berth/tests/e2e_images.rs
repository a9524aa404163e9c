//! Image import, listing, inspection, tagging and removal through the CLI.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use common::{Daemon, assert_fails_with, assert_success, stdout};

#[test]
fn import_from_file_applies_changes() {
    let d = Daemon::shared();
    let tar = d.rootfs_tar();
    let image = format!("{}:v1", d.name("imp-file"));
    let id = d.docker_ok(&[
        "import",
        "--change",
        "ENV FOO=bar",
        "--change",
        "WORKDIR /tmp",
        "--change",
        r#"ENTRYPOINT ["/bin/sh", "-c"]"#,
        "--change",
        "USER app",
        "--change",
        r#"CMD ["echo from-cmd"]"#,
        tar.to_str().unwrap(),
        &image,
    ]);
    assert!(id.starts_with("sha256:"), "import printed {id:?}");

    let inspect = |fmt: &str| d.docker_ok(&["image", "inspect", "-f", fmt, &image]);
    assert_eq!(inspect("{{.Id}}"), id);
    assert!(inspect("{{json .Config.Env}}").contains("\"FOO=bar\""));
    assert_eq!(inspect("{{.Config.WorkingDir}}"), "/tmp");
    assert_eq!(
        inspect("{{json .Config.Entrypoint}}"),
        r#"["/bin/sh","-c"]"#
    );
    assert_eq!(inspect("{{json .Config.Cmd}}"), r#"["echo from-cmd"]"#);
    assert_eq!(inspect("{{.Config.User}}"), "app");

    // The settings take effect in containers, not only in inspect.
    assert_eq!(d.docker_ok(&["run", "--rm", &image]), "from-cmd");
    let out = d.docker_ok(&["run", "--rm", &image, "whoami; pwd; echo $FOO"]);
    assert_eq!(out, "app\n/tmp\nbar");
}

#[test]
fn import_from_stdin() {
    let d = Daemon::shared();
    let tar = std::fs::read(d.rootfs_tar()).unwrap();
    let image = format!("{}:latest", d.name("imp-stdin"));
    let out = d.docker_stdin(&["import", "--change", r#"CMD ["sh"]"#, "-", &image], &tar);
    assert_success(&out, "docker import -");
    let id = stdout(&out).trim().to_string();
    assert!(id.starts_with("sha256:"), "{id}");
    let listed = d.docker_ok(&[
        "images",
        "--no-trunc",
        "--format",
        "{{.Repository}}:{{.Tag}} {{.ID}}",
    ]);
    assert!(listed.contains(&format!("{image} {id}")), "{listed}");
    assert_eq!(d.docker_ok(&["run", "--rm", &image, "echo", "ok"]), "ok");
}

#[test]
fn images_lists_both_busybox_tags_with_one_id() {
    let d = Daemon::shared();
    let listed = d.docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    let id_of = |name: &str| {
        listed
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing from:\n{listed}"))
            .to_string()
    };
    assert_eq!(id_of("busybox:latest"), id_of("e2e-busybox:latest"));
    let quiet = d.docker_ok(&["images", "-q", "busybox"]);
    assert_eq!(quiet, id_of("busybox:latest"));
}

#[test]
fn image_inspect_shape() {
    let d = Daemon::shared();
    let json = d.docker_ok(&["image", "inspect", "busybox:latest"]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("inspect is JSON");
    let img = &v.as_array().expect("inspect returns an array")[0];
    assert!(img["Id"].as_str().unwrap().starts_with("sha256:"));
    let tags: Vec<&str> = img["RepoTags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t.as_str())
        .collect();
    assert!(tags.contains(&"busybox:latest"), "{tags:?}");
    assert!(tags.contains(&"e2e-busybox:latest"), "{tags:?}");
    assert_eq!(img["Os"], "linux");
    assert_eq!(img["Architecture"], "amd64");
    assert_eq!(img["RootFS"]["Type"], "layers");
    assert_eq!(img["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    // The layer holds a static busybox (>1 MB).
    assert!(img["Size"].as_u64().unwrap() > 1_000_000, "{}", img["Size"]);
    assert_eq!(img["Config"]["Cmd"], serde_json::json!(["sh"]));
    assert!(img["Created"].as_str().is_some_and(|c| c.contains('T')));
}

#[test]
fn tag_adds_a_name_and_rmi_of_a_tag_only_untags() {
    let d = Daemon::shared();
    let tag = format!("{}:t1", d.name("tagged"));
    d.docker_ok(&["tag", "busybox:latest", &tag]);
    let base = d.docker_ok(&["image", "inspect", "-f", "{{.Id}}", "busybox:latest"]);
    assert_eq!(
        d.docker_ok(&["image", "inspect", "-f", "{{.Id}}", &tag]),
        base
    );
    let tags = d.docker_ok(&["image", "inspect", "-f", "{{json .RepoTags}}", "busybox"]);
    assert!(tags.contains(&tag), "{tags}");

    let out = d.docker_ok(&["rmi", &tag]);
    assert!(out.contains(&format!("Untagged: {tag}")), "{out}");
    assert_fails_with(&d.docker(&["image", "inspect", &tag]), "No such image");
    assert_eq!(
        d.docker_ok(&["image", "inspect", "-f", "{{.Id}}", "busybox:latest"]),
        base
    );
}

#[test]
fn rmi_is_refused_while_a_container_uses_the_image() {
    let d = Daemon::shared();
    let tar = d.rootfs_tar();
    let name = d.name("inuse");
    let image = format!("{name}:v1");
    // A unique ENV gives a unique image id, so no other tag shares it.
    let env = format!("ENV UNIQUE={name}");
    let id = d.docker_ok(&["import", "--change", &env, tar.to_str().unwrap(), &image]);
    let container = d.name("inuse-ctr");
    d.docker_ok(&["create", "--name", &container, &image, "true"]);

    assert_fails_with(&d.docker(&["rmi", &image]), "conflict");
    let resp = d.request("DELETE", &format!("/v1.41/images/{image}"), None);
    assert_eq!(resp.status, 409, "{}", resp.text());
    assert!(
        resp.json()["message"]
            .as_str()
            .unwrap()
            .contains("conflict")
    );
    assert_eq!(
        d.docker_ok(&["image", "inspect", "-f", "{{.Id}}", &image]),
        id
    );

    let out = d.docker(&["rmi", "-f", &image]);
    assert_success(&out, "docker rmi -f");
    assert!(stdout(&out).contains(&format!("Untagged: {image}")));
    assert_fails_with(&d.docker(&["image", "inspect", &image]), "No such image");
    d.docker_ok(&["rm", "-f", &container]);
}

#[test]
fn rmi_of_unknown_image_says_no_such_image() {
    let d = Daemon::shared();
    let out = d.docker(&["rmi", "no-such-image-e2e:nope"]);
    assert_fails_with(&out, "No such image");
    let resp = d.request("DELETE", "/v1.41/images/no-such-image-e2e:nope", None);
    assert_eq!(resp.status, 404);
    assert!(
        resp.json()["message"]
            .as_str()
            .unwrap()
            .contains("No such image")
    );
}

/// As dockerd: a running container's image cannot be deleted by id even with
/// force, but `rmi -f` of its last name untags it and keeps the image.
#[test]
fn rmi_force_with_a_running_container_and_reference_filters() {
    let d = Daemon::shared();
    let tar = d.rootfs_tar();
    let name = d.name("running-img");
    let image = format!("{name}:v1");
    let env = format!("ENV UNIQUE={name}");
    let id = d.docker_ok(&["import", "--change", &env, tar.to_str().unwrap(), &image]);
    let listed = d.docker_ok(&[
        "images",
        "--filter",
        &format!("reference={}*", &name[..8]),
        "--format",
        "{{.Repository}}:{{.Tag}}",
    ]);
    assert!(listed.lines().any(|l| l == image), "{listed}");
    let none = d.docker_ok(&["images", "--filter", "reference=no-such-repo-*", "-q"]);
    assert_eq!(none, "");
    let container = d.name("running-img-ctr");
    d.docker_ok(&["run", "-d", "--name", &container, &image, "sleep", "100"]);
    assert_fails_with(
        &d.docker(&["rmi", "-f", &id]),
        "(cannot be forced) - image is being used by running container",
    );
    let out = d.docker_ok(&["rmi", "-f", &image]);
    assert!(out.contains(&format!("Untagged: {image}")), "{out}");
    assert_eq!(d.docker_ok(&["image", "inspect", "-f", "{{.Id}}", &id]), id);
    d.docker_ok(&["rm", "-f", &container]);
    d.docker_ok(&["rmi", &id]);
}
