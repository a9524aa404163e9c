//! `docker build` with the classic builder (DOCKER_BUILDKIT=0): every
//! instruction, multi-stage and --target, .dockerignore, the cache, build
//! args, and Docker's errors. The base image is the harness's busybox.

// A test's unwrap states an expectation (clippy allows it only inside #[test] fns).
#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::Path;
use std::process::Output;

use common::{
    CLI_TIMEOUT, Daemon, assert_success, code, host_dir, run_with_timeout, stderr, stdout,
};

use common::context_dir as context;

fn build(d: &Daemon, dir: &Path, args: &[&str]) -> Output {
    let mut all = vec!["build"];
    all.extend_from_slice(args);
    let dir = dir.to_str().unwrap();
    all.push(dir);
    let mut cmd = d.docker_command(&all);
    cmd.env("DOCKER_BUILDKIT", "0");
    run_with_timeout(cmd, None, CLI_TIMEOUT, &format!("docker {}", all.join(" ")))
}

fn build_ok(d: &Daemon, dir: &Path, args: &[&str]) -> String {
    let out = build(d, dir, args);
    assert_success(&out, &format!("docker build {args:?}"));
    stdout(&out)
}

fn inspect(d: &Daemon, image: &str, fmt: &str) -> String {
    d.docker_ok(&["image", "inspect", "-f", fmt, image])
}

/// Containers left behind by builds (the tests give theirs no names).
fn containers_of(d: &Daemon, image_id: &str) -> Vec<String> {
    let all = d.docker_ok(&["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Image}}"]);
    all.lines()
        .filter(|l| l.contains(&image_id[7..19]))
        .map(String::from)
        .collect()
}

#[test]
fn every_instruction_configures_the_image() {
    let d = Daemon::shared();
    let tag = format!("{}:v1", d.name("b-all"));
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(6);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    tar.append_data(&mut h, "unpacked/hello.txt", &b"hello\n"[..])
        .unwrap();
    let dir = context(
        &d,
        &[
            (
                "Dockerfile",
                r#"FROM busybox
MAINTAINER someone
LABEL org.example.a="one" b=two
ENV GREETING=hello PLACE="the world"
ENV LEGACY value with spaces
ARG SUFFIX=!
WORKDIR /app
WORKDIR sub
RUN echo "$GREETING, $PLACE$SUFFIX" > /app/sub/msg && \
    echo built
COPY --chown=1000:1000 data.txt ./data.txt
COPY dir/ /copied/
ADD archive.tar /opt/
EXPOSE 8080 53/udp
VOLUME ["/data"]
USER app
STOPSIGNAL SIGINT
HEALTHCHECK --interval=30s --timeout=5s --retries=2 CMD ["true"]
ONBUILD RUN echo triggered
SHELL ["/bin/sh", "-c"]
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /app/sub/msg"]
"#,
            ),
            ("data.txt", "data\n"),
            ("dir/a", "a\n"),
            ("dir/nested/b", "b\n"),
        ],
    );
    fs::write(dir.join("archive.tar"), tar.into_inner().unwrap()).unwrap();
    let out = build_ok(&d, &dir, &["-t", &tag]);
    assert!(out.contains("Step 1/21 : FROM busybox"), "{out}");
    assert!(out.contains("\nbuilt\n"), "RUN output is streamed:\n{out}");
    assert!(out.contains(&format!("Successfully tagged {tag}")), "{out}");

    assert_eq!(inspect(&d, &tag, "{{.Author}}"), "someone");
    assert_eq!(
        inspect(&d, &tag, "{{json .Config.Labels}}"),
        r#"{"b":"two","org.example.a":"one"}"#
    );
    let env = inspect(&d, &tag, "{{json .Config.Env}}");
    for want in [
        "GREETING=hello",
        "PLACE=the world",
        "LEGACY=value with spaces",
    ] {
        assert!(env.contains(want), "{want} in {env}");
    }
    assert!(
        !env.contains("SUFFIX"),
        "ARG values stay out of the image: {env}"
    );
    assert_eq!(inspect(&d, &tag, "{{.Config.WorkingDir}}"), "/app/sub");
    assert_eq!(inspect(&d, &tag, "{{.Config.User}}"), "app");
    assert_eq!(
        inspect(&d, &tag, "{{json .Config.ExposedPorts}}"),
        r#"{"53/udp":{},"8080/tcp":{}}"#
    );
    assert_eq!(
        inspect(&d, &tag, "{{json .Config.Volumes}}"),
        r#"{"/data":{}}"#
    );
    assert_eq!(inspect(&d, &tag, "{{.Config.StopSignal}}"), "SIGINT");
    assert_eq!(
        inspect(&d, &tag, "{{json .Config.Healthcheck}}"),
        r#"{"Test":["CMD","true"],"Interval":30000000000,"Timeout":5000000000,"Retries":2}"#
    );
    assert_eq!(
        inspect(&d, &tag, "{{json .Config.OnBuild}}"),
        r#"["RUN echo triggered"]"#
    );
    assert_eq!(
        inspect(&d, &tag, "{{json .Config.Entrypoint}}"),
        r#"["/bin/sh","-c"]"#
    );
    assert_eq!(
        inspect(&d, &tag, "{{json .Config.Cmd}}"),
        r#"["cat /app/sub/msg"]"#
    );

    // The image runs with that config.
    assert_eq!(d.docker_ok(&["run", "--rm", &tag]), "hello, the world!");
    let checks = d.docker_ok(&[
        "run",
        "--rm",
        &tag,
        "id -u; pwd; cat data.txt; ls -ln data.txt; cat /copied/a /copied/nested/b /opt/unpacked/hello.txt",
    ]);
    let lines: Vec<&str> = checks.lines().collect();
    assert_eq!(lines[0], "1000");
    assert_eq!(lines[1], "/app/sub");
    assert_eq!(lines[2], "data");
    assert!(
        lines[3].starts_with("-rw-r--r--") && lines[3].contains(" 1000 "),
        "{checks}"
    );
    assert_eq!(&lines[4..], ["a", "b", "hello"]);

    // History: one entry per step, newest first, with Docker's created-by text.
    let history = d.docker_ok(&["history", "--no-trunc", "--format", "{{.CreatedBy}}", &tag]);
    assert!(
        history.contains("ENV GREETING=hello PLACE=the world"),
        "{history}"
    );
    assert!(history.contains("echo built"), "{history}");
    assert!(history.lines().count() >= 20, "{history}");

    // ONBUILD triggers run in a child build.
    let child = context(&d, &[("Dockerfile", &format!("FROM {tag}\nUSER root\n"))]);
    let out = build_ok(&d, &child, &[]);
    assert!(out.contains("triggered"), "{out}");
}

#[test]
fn multi_stage_with_target_and_copy_from() {
    let d = Daemon::shared();
    let tag = d.name("b-multi");
    let dir = context(
        &d,
        &[(
            "Dockerfile",
            "FROM busybox AS base\nRUN echo base > /base\n\
             FROM busybox AS tool\nRUN echo tool > /tool\n\
             FROM busybox AS final\nCOPY --from=base /base /from-base\nCOPY --from=1 /tool /from-tool\n\
             RUN cat /from-base /from-tool\n\
             FROM busybox AS never\nRUN echo never-built\n",
        )],
    );
    let out = build_ok(&d, &dir, &["--target", "final", "-t", &tag]);
    assert!(out.contains("Step 1/8 : FROM busybox AS base"), "{out}");
    assert!(
        !out.contains("never-built"),
        "stages after the target are skipped:\n{out}"
    );
    assert_eq!(
        d.docker_ok(&["run", "--rm", &tag, "cat", "/from-base", "/from-tool"]),
        "base\ntool"
    );
    let bad = build(&d, &dir, &["--target", "nope"]);
    assert_ne!(code(&bad), 0);
    assert!(
        stderr(&bad).contains("failed to reach build target nope in Dockerfile"),
        "{}",
        stderr(&bad)
    );
}

/// An image of 71 layers (Docker allows 128) builds and runs: more lower
/// layers than one page of overlay mount options can name at a data
/// root's paths.
#[test]
fn an_image_of_many_layers_builds_and_runs() {
    let d = Daemon::shared();
    let tag = d.name("b-layers");
    let mut dockerfile = String::from("FROM busybox\n");
    let names: Vec<String> = (1..=70).map(|i| format!("f{i}")).collect();
    for n in &names {
        dockerfile.push_str(&format!("COPY {n} /layers/{n}\n"));
    }
    let contents: Vec<String> = names.iter().map(|n| format!("{n}\n")).collect();
    let mut files: Vec<(&str, &str)> = names
        .iter()
        .zip(&contents)
        .map(|(n, c)| (n.as_str(), c.as_str()))
        .collect();
    files.push(("Dockerfile", &dockerfile));
    let dir = context(&d, &files);
    build_ok(&d, &dir, &["-t", &tag]);
    let layers = inspect(&d, &tag, "{{len .RootFS.Layers}}");
    assert_eq!(layers, "71");
    let seen = d.docker_ok(&[
        "run",
        "--rm",
        &tag,
        "sh",
        "-c",
        "cat /layers/f1 /layers/f70; ls /layers | wc -l",
    ]);
    assert_eq!(seen, "f1\nf70\n70");
    d.docker_ok(&["rmi", &tag]);
}

#[test]
fn dockerignore_excludes_with_exceptions() {
    let d = Daemon::shared();
    let tag = d.name("b-ignore");
    let dir = context(
        &d,
        &[
            ("Dockerfile", "FROM busybox\nCOPY . /ctx/\n"),
            (".dockerignore", "*.log\n!keep.log\nsecret\n**/tmp\n"),
            ("a.log", "x"),
            ("keep.log", "x"),
            ("secret/key", "x"),
            ("src/main.txt", "x"),
            ("src/tmp/junk", "x"),
        ],
    );
    build_ok(&d, &dir, &["-t", &tag]);
    let listing = d.docker_ok(&["run", "--rm", &tag, "sh", "-c", "cd /ctx && ls -a . src"]);
    assert!(listing.contains("keep.log"), "{listing}");
    assert!(listing.contains("main.txt"), "{listing}");
    for gone in ["a.log", "secret", "tmp"] {
        assert!(
            !listing.contains(gone),
            "{gone} should be excluded:\n{listing}"
        );
    }
}

#[test]
fn cache_hits_then_misses_after_a_source_change() {
    let d = Daemon::shared();
    let tag = d.name("b-cache");
    let dir = context(
        &d,
        &[
            (
                "Dockerfile",
                "FROM busybox\nENV A=1\nRUN echo first > /first\nCOPY src.txt /src.txt\nRUN cat /src.txt\nCMD [\"sh\"]\n",
            ),
            ("src.txt", "v1\n"),
        ],
    );
    let cold = build_ok(&d, &dir, &["-t", &tag]);
    let first = inspect(&d, &tag, "{{.Id}}");
    // Intermediate step images are hidden from `docker images`, shown with -a.
    let step_ids: Vec<&str> = cold
        .lines()
        .filter_map(|l| l.strip_prefix(" ---> "))
        .filter(|l| l.len() == 12 && l.chars().all(|c| c.is_ascii_hexdigit()))
        .collect();
    let intermediate = step_ids[step_ids.len() - 2];
    assert!(
        !d.docker_ok(&["images", "-q"]).contains(intermediate),
        "{cold}"
    );
    assert!(
        d.docker_ok(&["images", "-a", "-q"]).contains(intermediate),
        "{cold}"
    );
    let again = build_ok(&d, &dir, &["-t", &tag]);
    assert_eq!(again.matches("Using cache").count(), 5, "{again}");
    assert_eq!(inspect(&d, &tag, "{{.Id}}"), first);

    fs::write(dir.join("src.txt"), "v2\n").unwrap();
    let changed = build_ok(&d, &dir, &["-t", &tag]);
    assert_eq!(
        changed.matches("Using cache").count(),
        2,
        "ENV and the first RUN stay cached:\n{changed}"
    );
    assert!(changed.contains("v2"), "{changed}");
    assert_ne!(inspect(&d, &tag, "{{.Id}}"), first);

    let fresh = build_ok(&d, &dir, &["--no-cache", "-t", &tag]);
    assert!(!fresh.contains("Using cache"), "{fresh}");

    let quiet = build_ok(&d, &dir, &["-q", "-t", &tag]);
    assert_eq!(quiet.trim(), inspect(&d, &tag, "{{.Id}}"));
}

#[test]
fn build_args_and_arg_scoping() {
    let d = Daemon::shared();
    let tag = d.name("b-args");
    let dir = context(
        &d,
        &[(
            "Dockerfile",
            "ARG BASE=busybox\nARG META=meta-default\nFROM ${BASE}\n\
             RUN echo \"meta=[$META]\"\nARG META\nARG OTHER=default\n\
             RUN echo \"meta=[$META] other=[$OTHER]\" > /args\n",
        )],
    );
    let out = build_ok(
        &d,
        &dir,
        &[
            "--build-arg",
            "OTHER=given",
            "--build-arg",
            "UNUSED=1",
            "-t",
            &tag,
        ],
    );
    assert!(
        out.contains("meta=[]"),
        "meta ARGs are not in scope before re-declaration:\n{out}"
    );
    assert!(
        out.contains("[Warning] One or more build-args [UNUSED] were not consumed"),
        "{out}"
    );
    assert_eq!(
        d.docker_ok(&["run", "--rm", &tag, "cat", "/args"]),
        "meta=[meta-default] other=[given]"
    );
    let env = inspect(&d, &tag, "{{json .Config.Env}}");
    assert!(!env.contains("OTHER"), "{env}");
    let history = d.docker_ok(&["history", "--no-trunc", "--format", "{{.CreatedBy}}", &tag]);
    assert!(
        history.contains("|2 META=meta-default OTHER=given /bin/sh -c"),
        "{history}"
    );
}

#[test]
fn failing_run_reports_the_code_and_leaves_no_containers() {
    let d = Daemon::shared();
    let dir = context(
        &d,
        &[(
            "Dockerfile",
            "FROM busybox\nRUN echo before-failing; exit 3\n",
        )],
    );
    let busybox = inspect(&d, "busybox", "{{.Id}}");
    let out = build(&d, &dir, &["--force-rm"]);
    assert_eq!(code(&out), 3, "stderr: {}", stderr(&out));
    assert!(stdout(&out).contains("before-failing"), "{}", stdout(&out));
    assert!(
        stderr(&out).contains(
            "The command '/bin/sh -c echo before-failing; exit 3' returned a non-zero code: 3"
        ),
        "{}",
        stderr(&out)
    );
    // dockerd 20.10 removes a --force-rm container after it reports the
    // error, and under parallel load sometimes not within seconds; berth
    // removes it before reporting, so the check is exact (and berth-only).
    if d.is_berth() {
        assert!(containers_of(&d, &busybox).is_empty());
    }
    if d.is_berth() {
        // berth removes the failed step's container even without --force-rm.
        let out = build(&d, &dir, &[]);
        assert_eq!(code(&out), 3);
        assert!(containers_of(&d, &busybox).is_empty());
    }
}

#[test]
fn bad_dockerfiles_and_sources_fail_with_dockers_messages() {
    let d = Daemon::shared();
    let cases = [
        (
            "FROM busybox\nFOO bar\n",
            "dockerfile parse error line 2: unknown instruction: FOO",
        ),
        (
            "FROM busybox\nCOPY missing.txt /x\n",
            "COPY failed: file not found in build context or excluded by .dockerignore: stat missing.txt: file does not exist",
        ),
        (
            "FROM busybox\nCOPY ../outside /x\n",
            "COPY failed: forbidden path outside the build context: ../outside ()",
        ),
        (
            "FROM busybox\nCOPY --chown=1:1\n",
            "COPY requires at least two arguments",
        ),
        (
            "FROM busybox\nEXPOSE notaport\n",
            "Invalid containerPort: notaport",
        ),
        ("", "cannot be empty"),
    ];
    for (text, want) in cases {
        let dir = context(&d, &[("Dockerfile", text)]);
        let out = build(&d, &dir, &[]);
        assert_ne!(code(&out), 0, "{text}");
        assert!(
            stderr(&out).contains(want),
            "{text:?}: want {want:?} in {}",
            stderr(&out)
        );
    }
    let dir = context(
        &d,
        &[("Dockerfile", "FROM localhost:1/berth-no-such-image\n")],
    );
    let out = build(&d, &dir, &[]);
    assert_ne!(code(&out), 0, "FROM an image nobody has");
}

#[test]
fn dockerfile_outside_the_context() {
    let d = Daemon::shared();
    let tag = d.name("b-outside");
    let dir = context(&d, &[("in.txt", "inside\n")]);
    let other = host_dir(&d, "df");
    fs::write(other.join("Build.file"), "FROM busybox\nCOPY in.txt /\n").unwrap();
    let file = other.join("Build.file");
    build_ok(&d, &dir, &["-f", file.to_str().unwrap(), "-t", &tag]);
    assert_eq!(
        d.docker_ok(&["run", "--rm", &tag, "cat", "/in.txt"]),
        "inside"
    );
}

#[test]
fn heredocs_scratch_and_labels() {
    let d = Daemon::shared();
    if !d.is_berth() {
        // dockerd 20.10's classic builder predates heredocs.
        return;
    }
    let tag = d.name("b-heredoc");
    let dir = context(
        &d,
        &[(
            "Dockerfile",
            "FROM busybox\nENV WHO=berth\nRUN <<EOF\necho from-heredoc\necho \"$WHO\" > /who\nEOF\n\
             COPY --chmod=0600 <<-'END' /etc/motd\n\tliteral $WHO\n\tEND\n\
             COPY <<END /expanded\nhi $WHO\nEND\n\
             FROM scratch\nCOPY --from=0 /who /expanded /etc/motd /\n",
        )],
    );
    let out = build_ok(&d, &dir, &["--label", "built.by=e2e", "-t", &tag]);
    assert!(out.contains("from-heredoc"), "{out}");
    assert_eq!(
        inspect(&d, &tag, "{{index .Config.Labels \"built.by\"}}"),
        "e2e"
    );
    // The scratch image has only the three files: export it to check.
    let cid = d.docker_ok(&["create", &tag, "none"]);
    let exported = d.docker(&["export", &cid]);
    assert_success(&exported, "docker export");
    d.docker_ok(&["rm", &cid]);
    let mut names = Vec::new();
    let mut files = std::collections::BTreeMap::new();
    let mut ar = tar::Archive::new(exported.stdout.as_slice());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        let mut text = String::new();
        if name == "motd" {
            assert_eq!(e.header().mode().unwrap() & 0o777, 0o600, "COPY --chmod");
        }
        if e.header().entry_type().is_file() {
            std::io::Read::read_to_string(&mut e, &mut text).unwrap();
            files.insert(name.clone(), text);
        }
        names.push(name);
    }
    assert_eq!(
        files.get("who").map(String::as_str),
        Some("berth\n"),
        "{names:?}"
    );
    assert_eq!(
        files.get("motd").map(String::as_str),
        Some("literal $WHO\n"),
        "{names:?}"
    );
    assert_eq!(
        files.get("expanded").map(String::as_str),
        Some("hi berth\n"),
        "{names:?}"
    );
}

/// Runs the berth client against the daemon under test.
fn berth(d: &Daemon, args: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.args(args)
        .env("BERTH_HOST", d.host())
        .env_remove("DOCKER_HOST");
    run_with_timeout(cmd, None, CLI_TIMEOUT, &format!("berth {}", args.join(" ")))
}

#[test]
fn berth_build_subcommand() {
    let d = Daemon::shared();
    let tag = d.name("b-cli");
    let dir = context(
        &d,
        &[
            (
                "Dockerfile",
                "FROM busybox\nARG WHO\nCOPY keep.txt /\nRUN echo \"hi $WHO\" > /hi\n",
            ),
            (".dockerignore", "ignored.txt\n"),
            ("keep.txt", "kept\n"),
            ("ignored.txt", "x\n"),
        ],
    );
    let ctx = dir.to_str().unwrap();
    let out = berth(
        &d,
        &[
            "build",
            "-t",
            &tag,
            "--build-arg",
            "WHO=cli",
            "--label",
            "via=berth",
            ctx,
        ],
    );
    assert_success(&out, "berth build");
    assert!(stdout(&out).contains("Step 4/5 : RUN"), "{}", stdout(&out));
    assert_eq!(
        d.docker_ok(&["run", "--rm", &tag, "cat", "/hi", "/keep.txt"]),
        "hi cli\nkept"
    );
    assert_eq!(
        inspect(&d, &tag, "{{index .Config.Labels \"via\"}}"),
        "berth"
    );

    // -q prints only the id; a cached rebuild gives the same one.
    let out = berth(
        &d,
        &[
            "build",
            "-q",
            "-t",
            &tag,
            "--build-arg",
            "WHO=cli",
            "--label",
            "via=berth",
            ctx,
        ],
    );
    assert_success(&out, "berth build -q");
    assert_eq!(stdout(&out).trim(), inspect(&d, &tag, "{{.Id}}"));

    // -f outside the context, and a failing RUN's exit code.
    let other = host_dir(&d, "df-cli");
    fs::write(other.join("Failing"), "FROM busybox\nRUN exit 7\n").unwrap();
    let file = other.join("Failing");
    let out = berth(&d, &["build", "-f", file.to_str().unwrap(), ctx]);
    assert_eq!(code(&out), 7, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("The command '/bin/sh -c exit 7' returned a non-zero code: 7"),
        "{}",
        stderr(&out)
    );

    let out = berth(&d, &["build", "--target", "nope", ctx]);
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains("failed to reach build target nope in Dockerfile"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn failed_steps_leave_no_containers_layers_or_contexts() {
    if common::Kind::from_env() != common::Kind::Berth {
        return; // looks into berth's data root
    }
    // A daemon of its own: no other test's build is in flight.
    let d = Daemon::start();
    let cases = [
        (
            "FROM busybox\nRUN echo partial > /p; exit 5\n",
            "returned a non-zero code: 5",
        ),
        (
            "FROM busybox\nCOPY --chown=nosuchuser f /f\n",
            "COPY failed",
        ),
        ("FROM busybox\nRUN true\nCOPY missing /x\n", "COPY failed"),
    ];
    for (text, want) in cases {
        let dir = context(&d, &[("Dockerfile", text), ("f", "x")]);
        let out = build(&d, &dir, &[]);
        assert_ne!(code(&out), 0, "{text}");
        assert!(stderr(&out).contains(want), "{text}: {}", stderr(&out));
    }
    assert_eq!(d.docker_ok(&["ps", "-aq"]), "", "no build containers left");
    let rw: Vec<_> = fs::read_dir(d.data_root().join("snapshots/rw"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(rw.is_empty(), "writable layers left: {rw:?}");
    let contexts: Vec<_> = fs::read_dir(d.data_root().join("build"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("ctx-"))
        .collect();
    assert!(contexts.is_empty(), "contexts left: {contexts:?}");
}

#[test]
fn run_mounts_cache_and_bind_from_stage() {
    let d = Daemon::shared();
    if !d.is_berth() {
        return; // RUN --mount needs BuildKit on dockerd
    }
    let tag = d.name("b-mount");
    let id = d.name("cacheid");
    let dir = context(
        &d,
        &[
            (
                "Dockerfile",
                &format!(
                    "FROM busybox AS deps\nRUN mkdir /out && echo dep > /out/dep\n\
                     FROM busybox\n\
                     RUN --mount=type=cache,id={id},target=/cache echo x >> /cache/count && wc -l < /cache/count > /count\n\
                     RUN --mount=type=bind,from=deps,source=/out,target=/deps cat /deps/dep > /got\n\
                     RUN --mount=type=bind,source=sub,target=/ctx cat /ctx/f > /got-ctx\n"
                ),
            ),
            ("sub/f", "from-context\n"),
        ],
    );
    build_ok(&d, &dir, &["-t", &tag]);
    let out = d.docker_ok(&[
        "run",
        "--rm",
        &tag,
        "sh",
        "-c",
        "cat /count /got /got-ctx; [ -e /cache/count ] || [ -e /deps/dep ] || [ -e /ctx/f ] && echo leaked || echo clean",
    ]);
    assert_eq!(
        out, "1\ndep\nfrom-context\nclean",
        "mounted content stays out of the image"
    );
    // The cache dir outlives the build; --no-cache reruns the step on it.
    build_ok(&d, &dir, &["--no-cache", "-t", &tag]);
    assert_eq!(d.docker_ok(&["run", "--rm", &tag, "cat", "/count"]), "2");
    // A changed bind source invalidates the step that mounts it.
    fs::write(dir.join("sub/f"), "changed\n").unwrap();
    let out = build_ok(&d, &dir, &["-t", &tag]);
    assert_eq!(
        out.matches("Using cache").count(),
        3,
        "only the last RUN reruns:\n{out}"
    );
    assert_eq!(
        d.docker_ok(&["run", "--rm", &tag, "cat", "/got-ctx"]),
        "changed"
    );
}

/// A tiny HTTP server on 127.0.0.1 serving `body` at `/files/remote.txt`
/// and 404 elsewhere, for ADD <url> (the daemon fetches it from the host).
fn serve_http(body: &'static str) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let ok = String::from_utf8_lossy(&req).starts_with("GET /files/remote.txt ");
            let (status, text) = if ok {
                ("200 OK", body)
            } else {
                ("404 Not Found", "no\n")
            };
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    port
}

#[test]
fn add_from_url() {
    let d = Daemon::shared();
    let port = serve_http("hello from url\n");
    let tag = d.name("b-url");
    let dir = context(
        &d,
        &[(
            "Dockerfile",
            &format!(
                "FROM busybox\nADD http://127.0.0.1:{port}/files/remote.txt /dl/\n\
                 ADD http://127.0.0.1:{port}/files/remote.txt /renamed.txt\n"
            ),
        )],
    );
    build_ok(&d, &dir, &["-t", &tag]);
    let out = d.docker_ok(&[
        "run",
        "--rm",
        &tag,
        "sh",
        "-c",
        "cat /dl/remote.txt /renamed.txt; ls -l /renamed.txt",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..2], ["hello from url", "hello from url"]);
    assert!(lines[2].starts_with("-rw-------"), "{out}");

    let bad = context(
        &d,
        &[(
            "Dockerfile",
            &format!("FROM busybox\nADD http://127.0.0.1:{port}/nope /x\n"),
        )],
    );
    let out = build(&d, &bad, &[]);
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("404"), "{}", stderr(&out));
}

#[test]
fn independent_stages_build_in_parallel_and_print_in_order() {
    let d = Daemon::shared();
    if !d.is_berth() {
        return; // dockerd's classic builder runs stages one by one
    }
    let tag = d.name("b-par");
    // Each stage's RUN announces itself in a cache mount both share and
    // waits (up to 30 s) for the other's: built one after the other, the
    // first would give up and fail the build. No wall-clock bound needed.
    let rendezvous = |me: &str, other: &str| {
        format!(
            "RUN --mount=type=cache,id={tag},target=/sync touch /sync/{me} && \\\n\
             for i in $(seq 300); do [ -e /sync/{other} ] && break; sleep 0.1; done && \\\n\
             [ -e /sync/{other} ] && echo {me} > /{me}\n"
        )
    };
    let dockerfile = format!(
        "FROM busybox AS one\n{}FROM busybox AS two\n{}\
         FROM busybox\nCOPY --from=one /one /one\nCOPY --from=two /two /two\n",
        rendezvous("one", "two"),
        rendezvous("two", "one"),
    );
    let dir = context(&d, &[("Dockerfile", &dockerfile)]);
    let out = build_ok(&d, &dir, &["--no-cache", "-t", &tag]);
    let steps: Vec<usize> = out
        .lines()
        .filter_map(|l| l.strip_prefix("Step ")?.split('/').next()?.parse().ok())
        .collect();
    assert_eq!(steps, (1..=7).collect::<Vec<_>>(), "{out}");
    assert_eq!(
        d.docker_ok(&["run", "--rm", &tag, "cat", "/one", "/two"]),
        "one\ntwo"
    );
}

/// `--add-host` reaches the /etc/hosts of RUN steps.
#[test]
fn add_host_reaches_run_steps() {
    let d = Daemon::shared();
    let dir = context(
        &d,
        &[(
            "Dockerfile",
            "FROM busybox\nRUN grep -w hello.world.test /etc/hosts | grep -q '^127.0.0.2'\n",
        )],
    );
    let out = build(
        &d,
        &dir,
        &["--add-host", "hello.world.test:127.0.0.2", "-q"],
    );
    assert_success(&out, "build with --add-host");
}

/// `--cache-from`: only the named images' steps are reused.
#[test]
fn cache_from_limits_the_cache_to_the_named_images() {
    let d = Daemon::shared();
    let tag = d.name("cachefrom").to_lowercase();
    let dir = context(
        &d,
        &[(
            "Dockerfile",
            &format!("FROM busybox\nENV FOO={tag}\nRUN echo {tag} > /baz\n"),
        )],
    );
    build_ok(&d, &dir, &["-t", &format!("{tag}:one")]);
    let hits = |out: &str| out.matches("Using cache").count();
    let out = build_ok(
        &d,
        &dir,
        &[
            "-t",
            &format!("{tag}:two"),
            "--cache-from",
            &format!("{tag}:one"),
        ],
    );
    assert_eq!(hits(&out), 2, "{out}");
    let out = build_ok(
        &d,
        &dir,
        &["-t", &format!("{tag}:three"), "--cache-from", "nosuchtag"],
    );
    assert_eq!(hits(&out), 0, "{out}");
    assert!(inspect(&d, &format!("{tag}:three"), "{{.Config.Env}}").contains(&tag));
    d.docker_ok(&[
        "rmi",
        &format!("{tag}:one"),
        &format!("{tag}:two"),
        &format!("{tag}:three"),
    ]);
}

/// `ADD git://…#ref:dir`: the daemon clones the ref and copies the directory's
/// contents, without `.git`. The repository is served by `git daemon` on loopback.
#[test]
fn add_from_a_git_repository() {
    let d = Daemon::shared();
    let repo_root = common::host_dir(&d, "gitsrv");
    let work = repo_root.join("work");
    std::fs::create_dir_all(work.join("sub")).unwrap();
    std::fs::write(work.join("sub/f.txt"), "from git\n").unwrap();
    std::fs::write(work.join("top.txt"), "top\n").unwrap();
    let git = |args: &[&str], cwd: &Path| {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(cwd)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@e")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@e")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["init", "-q", "-b", "main"], &work);
    git(&["add", "."], &work);
    git(&["commit", "-q", "-m", "one"], &work);
    git(&["clone", "-q", "--bare", "work", "repo.git"], &repo_root);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _server = Kill(
        std::process::Command::new("git")
            .args([
                "daemon",
                "--reuseaddr",
                "--export-all",
                "--listen=127.0.0.1",
                &format!("--port={port}"),
                &format!("--base-path={}", repo_root.display()),
            ])
            .arg(&repo_root)
            .spawn()
            .unwrap(),
    );
    common::wait_for(std::time::Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    })
    .expect("git daemon listens");
    let dir = context(
        &d,
        &[(
            "Dockerfile",
            &format!(
                "FROM busybox\nADD git://127.0.0.1:{port}/repo.git#main:sub /app/\nRUN cat /app/f.txt && test ! -e /app/.git && test ! -e /app/top.txt\n"
            ),
        )],
    );
    let out = build_ok(&d, &dir, &[]);
    assert!(out.contains("from git"), "{out}");
    let dir = context(
        &d,
        &[(
            "Dockerfile",
            &format!("FROM busybox\nADD git://127.0.0.1:{port}/repo.git#nosuchref /app/\n"),
        )],
    );
    let out = build(&d, &dir, &[]);
    assert!(!out.status.success());
    assert!(
        stdout(&out).contains("failed to clone") || stderr(&out).contains("failed to clone"),
        "{}",
        stderr(&out)
    );
}

/// `POST /build/prune` (docker-py's `prune_builds`, `docker builder prune`):
/// the step cache is forgotten, so the next build runs its steps again;
/// tagged results stay.
#[test]
fn build_cache_prune_forgets_the_steps_and_keeps_tagged_images() {
    // Its own daemon: a prune forgets every step cache, which the cache
    // tests running beside it on the shared daemon rely on.
    let d = Daemon::start();
    if !d.is_berth() {
        return; // dockerd's answer depends on BuildKit's cache, not the classic one
    }
    let tag = d.name("b-prune");
    let dir = context(
        &d,
        &[(
            "Dockerfile",
            "FROM busybox\nRUN echo one > /one\nRUN echo two > /two\n",
        )],
    );
    build_ok(&d, &dir, &["-t", &tag]);
    let again = build_ok(&d, &dir, &["-t", &tag]);
    assert!(again.contains("Using cache"), "{again}");
    let resp = d.request("POST", "/build/prune", None);
    assert_eq!(resp.status, 200, "{}", String::from_utf8_lossy(&resp.body));
    let body: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert!(body["SpaceReclaimed"].is_u64(), "{body}");
    let after = build_ok(&d, &dir, &["-t", &tag]);
    assert!(
        !after.contains("Using cache"),
        "the cache survived the prune:\n{after}"
    );
    d.docker_ok(&["image", "inspect", &tag]);
    let resp = d.request(
        "POST",
        "/build/prune?filters=%7B%22until%22%3A%5B%221h%22%5D%7D",
        None,
    );
    assert_eq!(resp.status, 501);
}
