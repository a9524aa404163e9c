//! The builder's dispatch logic against the recording fake backend: what
//! each instruction asks for, the cache, stages, scoping and cleanup. No
//! root needed: RUN steps are scripted, layers are plain directories.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use dockerfile::parse_dockerfile;
use image::ContainerConfigSpec;
use tokio::sync::mpsc;

use super::{Plan, run};
use crate::backend::Backend;
use crate::backend::fake::{Call, FakeBackend};
use crate::error::{BuildError, Result};
use crate::{BuildOptions, Progress};

struct Built {
    result: Result<String>,
    output: String,
}

impl Built {
    fn id(&self) -> String {
        match &self.result {
            Ok(id) => id.clone(),
            Err(e) => panic!("build failed: {e}\n{}", self.output),
        }
    }

    fn err(&self) -> BuildError {
        self.result.clone().expect_err("the build should fail")
    }
}

/// A fake backend and an empty build context.
struct Fixture {
    fake: Arc<FakeBackend>,
    ctx: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            fake: FakeBackend::new(),
            ctx: tempfile::tempdir().unwrap(),
        }
    }

    /// With a local image `base`.
    fn with_base() -> Self {
        let fx = Fixture::new();
        fx.fake.add_image("base", ContainerConfigSpec::default());
        fx
    }

    fn ctx(&self) -> &Path {
        self.ctx.path()
    }

    async fn build(&self, text: &str, opts: BuildOptions) -> Built {
        build(&self.fake, self.ctx(), text, opts).await
    }

    async fn build_default(&self, text: &str) -> Built {
        self.build(text, BuildOptions::default()).await
    }
}

async fn build(fake: &Arc<FakeBackend>, ctx: &Path, text: &str, opts: BuildOptions) -> Built {
    let dockerfile = parse_dockerfile(text).expect("Dockerfile");
    let target = dockerfile
        .target_index(opts.target.as_deref())
        .expect("target");
    let tags = opts
        .tags
        .iter()
        .map(|t| image::reference::parse(t).expect("tag"))
        .collect();
    let plan = Plan {
        opts,
        ctx_root: ctx.to_path_buf(),
        dockerfile,
        target,
        tags,
    };
    let (tx, mut rx) = mpsc::channel(16);
    let collect = tokio::spawn(async move {
        let mut output = String::new();
        while let Some(p) = rx.recv().await {
            match p {
                Progress::Stream(s) => output.push_str(&s),
                Progress::Aux(id) => output.push_str(&format!("aux {id}\n")),
            }
        }
        output
    });
    let result = run(fake.clone(), plan, tx).await;
    let output = collect.await.expect("collector");
    Built { result, output }
}

fn creates(calls: &[Call]) -> Vec<(String, Vec<String>, Vec<String>)> {
    calls
        .iter()
        .filter_map(|c| match c {
            Call::Create { image, cmd, env } => Some((image.clone(), cmd.clone(), env.clone())),
            _ => None,
        })
        .collect()
}

/// `--chown` to whoever runs the tests (the owner of the context they
/// made), so copies need no root.
fn me(ctx: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(ctx).unwrap();
    format!("{}:{}", m.uid(), m.gid())
}

/// A base without PATH (an imported rootfs) gets dockerd's default at FROM,
/// so `$PATH` expands to it.
#[tokio::test]
async fn a_stage_without_path_starts_with_the_default_one() {
    let fx = Fixture::with_base();
    let b = fx
        .build_default("FROM base\nENV PATH=/opt/bin:$PATH\n")
        .await;
    let env = fx.fake.fake_image(&b.id()).config.env.unwrap();
    assert_eq!(
        env,
        vec![format!("PATH=/opt/bin:{}", runtime::spec::DEFAULT_PATH)]
    );
}

#[tokio::test]
async fn metadata_instructions_change_only_the_config() {
    let fx = Fixture::with_base();
    let fake = &fx.fake;
    let b = fx
        .build_default(
            "FROM base\nENV A=1 B=$A\nLABEL l=$B\nWORKDIR /app\nWORKDIR sub\nUSER nobody\n\
         EXPOSE 80 53/udp\nVOLUME /data\nSTOPSIGNAL SIGINT\nSHELL [\"/bin/bash\", \"-c\"]\n\
         CMD echo hi\nENTRYPOINT [\"/init\"]\nHEALTHCHECK NONE\nMAINTAINER me\n",
        )
        .await;
    let id = b.id();
    let cfg = fake.fake_image(&id).config;
    let path = format!("PATH={}", runtime::spec::DEFAULT_PATH);
    assert_eq!(cfg.env, Some(vec![path, "A=1".into(), "B=1".into()]));
    assert_eq!(cfg.labels.unwrap()["l"], "1");
    assert_eq!(cfg.working_dir, "/app/sub");
    assert_eq!(cfg.user, "nobody");
    let ports: Vec<String> = cfg.exposed_ports.unwrap().into_keys().collect();
    assert_eq!(ports, vec!["53/udp", "80/tcp"]);
    assert!(cfg.volumes.unwrap().contains_key("/data"));
    assert_eq!(cfg.stop_signal.as_deref(), Some("SIGINT"));
    // CMD was set in this stage, so ENTRYPOINT keeps it; the shell is SHELL's.
    assert_eq!(
        cfg.cmd,
        Some(vec!["/bin/bash".into(), "-c".into(), "echo hi".into()])
    );
    assert_eq!(cfg.entrypoint, Some(vec!["/init".into()]));
    assert_eq!(cfg.healthcheck.unwrap().test, Some(vec!["NONE".into()]));
    assert_eq!(fake.fake_image(&id).author.as_deref(), Some("me"));
    let history = fake.history(&id);
    assert_eq!(
        history[1..],
        [
            "/bin/sh -c #(nop)  ENV A=1 B=1",
            "/bin/sh -c #(nop)  LABEL l=1",
            "/bin/sh -c #(nop) WORKDIR /app",
            "/bin/sh -c #(nop) WORKDIR /app/sub",
            "/bin/sh -c #(nop)  USER nobody",
            "/bin/sh -c #(nop)  EXPOSE 80/tcp 53/udp",
            "/bin/sh -c #(nop)  VOLUME [/data]",
            "/bin/sh -c #(nop)  STOPSIGNAL [SIGINT]",
            "/bin/sh -c #(nop)  SHELL [/bin/bash -c]",
            "/bin/sh -c #(nop)  CMD [\"/bin/bash\" \"-c\" \"echo hi\"]",
            "/bin/sh -c #(nop)  ENTRYPOINT [\"/init\"]",
            "/bin/sh -c #(nop)  HEALTHCHECK &{[\"NONE\"]}",
            "/bin/sh -c #(nop)  MAINTAINER me",
        ]
    );
    let calls = fake.calls();
    assert!(creates(&calls).is_empty(), "no containers for metadata");
    assert!(calls.iter().all(|c| !matches!(
        c,
        Call::Commit {
            layer_from: Some(_),
            ..
        }
    )));
    assert!(b.output.starts_with("Step 1/14 : FROM base\n ---> "));
    assert!(
        b.output
            .ends_with(&format!("Successfully built {}\n", image::short_id(&id)))
    );
}

#[tokio::test]
async fn entrypoint_drops_an_inherited_cmd() {
    let fx = Fixture::new();
    let fake = &fx.fake;
    fake.add_image(
        "base",
        ContainerConfigSpec {
            cmd: Some(vec!["sh".into()]),
            ..Default::default()
        },
    );
    let id = fx
        .build_default("FROM base\nENTRYPOINT [\"/x\"]\n")
        .await
        .id();
    assert_eq!(fake.fake_image(&id).config.cmd, None);
}

#[tokio::test]
async fn run_is_a_container_committed_then_removed() {
    let fx = Fixture::with_base();
    let fake = &fx.fake;
    let base_id = fake.image("base").unwrap().id;
    fake.on_run("make", "built it\n", 0);
    let b = fx.build_default("FROM base\nENV P=/bin\nRUN make\n").await;
    let id = b.id();
    let calls = fake.calls();
    let c = creates(&calls);
    assert_eq!(c.len(), 1);
    assert_ne!(c[0].0, base_id, "RUN runs on the ENV step's image");
    assert_eq!(c[0].1, vec!["/bin/sh", "-c", "make"]);
    let path = format!("PATH={}", runtime::spec::DEFAULT_PATH);
    assert_eq!(c[0].2, vec![path, "P=/bin".to_string()]);
    assert!(b.output.contains(" ---> Running in "));
    assert!(b.output.contains("built it\n"));
    assert!(b.output.contains("Removing intermediate container "));
    assert!(calls.iter().any(|c| matches!(
        c,
        Call::Commit {
            layer_from: Some(_),
            created_by,
            ..
        } if created_by == "/bin/sh -c make"
    )));
    assert_eq!(fake.live_containers(), 0);
    assert_eq!(fake.fake_image(&id).created_by, "/bin/sh -c make");
}

#[tokio::test]
async fn rm_false_keeps_the_step_container() {
    let fx = Fixture::with_base();
    let fake = &fx.fake;
    let opts = BuildOptions {
        rm: false,
        ..Default::default()
    };
    let b = fx.build("FROM base\nRUN true\n", opts).await;
    b.id();
    assert!(!b.output.contains("Removing intermediate container"));
    assert_eq!(fake.live_containers(), 1);
}

#[tokio::test]
async fn rm_false_keeps_a_failed_step_container_unless_forced() {
    for (force_rm, kept) in [(false, 1), (true, 0)] {
        let fx = Fixture::with_base();
        fx.fake.on_run("false", "", 1);
        let opts = BuildOptions {
            rm: false,
            force_rm,
            ..Default::default()
        };
        fx.build("FROM base\nRUN false\n", opts).await.err();
        assert_eq!(fx.fake.live_containers(), kept, "force_rm={force_rm}");
    }
}

#[tokio::test]
async fn a_second_build_uses_the_cache_unless_told_not_to() {
    let fx = Fixture::with_base();
    let fake = &fx.fake;
    std::fs::write(fx.ctx().join("f"), "one").unwrap();
    let text = format!(
        "FROM base\nENV A=1\nRUN make\nCOPY --chown={} f /f\n",
        me(fx.ctx())
    );
    let first = fx.build_default(&text).await;
    let id = first.id();
    assert!(!first.output.contains("Using cache"));
    fake.clear_calls();
    let second = fx.build_default(&text).await;
    assert_eq!(second.id(), id);
    assert_eq!(second.output.matches(" ---> Using cache\n").count(), 3);
    assert!(fake.calls().is_empty(), "a cached build asks for nothing");

    // Changed content misses from the COPY on.
    std::fs::write(fx.ctx().join("f"), "two").unwrap();
    let third = fx.build_default(&text).await;
    assert_ne!(third.id(), id);
    assert_eq!(third.output.matches(" ---> Using cache\n").count(), 2);

    fake.clear_calls();
    let opts = BuildOptions {
        no_cache: true,
        ..Default::default()
    };
    let fresh = fx.build(&text, opts).await;
    fresh.id();
    assert!(!fresh.output.contains("Using cache"));
    assert_eq!(creates(&fake.calls()).len(), 1);
}

#[tokio::test]
async fn cache_from_limits_what_the_cache_may_reuse() {
    let fx = Fixture::with_base();
    let text = "FROM base\nRUN make\n";
    fx.build_default(text).await.id();
    let opts = BuildOptions {
        cache_from: vec!["base".into()],
        ..Default::default()
    };
    let b = fx.build(text, opts).await;
    b.id();
    assert!(!b.output.contains("Using cache"));
}

#[tokio::test]
async fn copy_from_reads_the_named_stage() {
    let fx = Fixture::with_base();
    let fake = &fx.fake;
    let other = fake.add_image("other", ContainerConfigSpec::default());
    std::fs::write(fx.ctx().join("a.txt"), "from the context").unwrap();
    let me = me(fx.ctx());
    let text = format!(
        "FROM base AS build\nCOPY --chown={me} a.txt /out/a.txt\n\
         FROM other AS unrelated\n\
         FROM base\nCOPY --from=BUILD --chown={me} /out/a.txt /a.txt\n"
    );
    let b = fx.build_default(&text).await;
    let id = b.id();
    let tree = fake.fake_image(&id).tree;
    assert_eq!(
        std::fs::read_to_string(tree.join("a.txt")).unwrap(),
        "from the context"
    );
    // The --from source is a layer on stage 0's result, not on `other`.
    let calls = fake.calls();
    let mounted: Vec<&String> = calls
        .iter()
        .filter_map(|c| match c {
            Call::MountLayer { image, .. } => Some(image),
            _ => None,
        })
        .collect();
    assert_eq!(mounted.len(), 3, "two COPY targets and one --from source");
    assert!(!mounted.contains(&&other));
    let source = mounted[1];
    assert!(
        fake.fake_image(source)
            .created_by
            .contains(" in /out/a.txt")
    );
    assert_eq!(fake.live_layers(), 0, "every layer removed");
}

#[tokio::test]
async fn target_stops_at_the_named_stage() {
    let fx = Fixture::with_base();
    let fake = &fx.fake;
    let opts = BuildOptions {
        target: Some("middle".into()),
        ..Default::default()
    };
    let b = fx
        .build(
            "FROM base AS first\nENV S=1\nFROM base AS middle\nENV S=2\nFROM base\nRUN never\n",
            opts,
        )
        .await;
    let id = b.id();
    assert_eq!(
        fake.fake_image(&id).config.env,
        Some(vec![
            format!("PATH={}", runtime::spec::DEFAULT_PATH),
            "S=2".to_string()
        ])
    );
    assert!(b.output.contains("Step 4/4 : ENV S=2\n"));
    assert!(!b.output.contains("never"));
    assert!(creates(&fake.calls()).is_empty());
}

#[tokio::test]
async fn a_failing_run_leaves_no_containers_or_layers() {
    let fx = Fixture::with_base();
    let fake = &fx.fake;
    fake.on_run("false", "oops\n", 3);
    let b = fx.build_default("FROM base AS src\nFROM base\nRUN --mount=type=bind,from=src,target=/m false\nRUN after\n")
    .await;
    let e = b.err();
    assert_eq!(
        e.message,
        "The command '/bin/sh -c false' returned a non-zero code: 3"
    );
    assert_eq!(e.code, Some(3));
    assert!(!b.output.contains("after"));
    let calls = fake.calls();
    assert_eq!(creates(&calls).len(), 1);
    assert!(calls.iter().any(|c| matches!(c, Call::RemoveContainer(_))));
    assert_eq!(fake.live_containers(), 0);
    assert_eq!(fake.live_layers(), 0, "the mount's layer is gone too");
}

#[tokio::test]
async fn args_and_env_are_scoped_as_docker_scopes_them() {
    let fx = Fixture::new();
    let fake = &fx.fake;
    fake.add_image("base:1", ContainerConfigSpec::default());
    let opts = BuildOptions {
        build_args: BTreeMap::from([
            ("OVER".to_string(), Some("given".to_string())),
            ("UNUSED".to_string(), Some("x".to_string())),
        ]),
        ..Default::default()
    };
    let b = fx
        .build(
            "ARG TAG=1\nARG OVER=default\nFROM base:$TAG\n\
         RUN echo no-meta-args-here\n\
         ARG TAG\nARG OVER\nARG LOCAL=l\nENV LOCAL=env\nRUN echo $TAG\n\
         FROM base:$TAG\nRUN echo second\n",
            opts,
        )
        .await;
    b.id();
    let c = creates(&fake.calls());
    assert_eq!(c.len(), 3);
    // Meta ARGs reach FROM only, until the stage declares them again.
    let path = format!("PATH={}", runtime::spec::DEFAULT_PATH);
    assert_eq!(c[0].2, vec![path.clone()]);
    assert_eq!(c[1].2, vec![&path, "LOCAL=env", "TAG=1", "OVER=given"]);
    assert_eq!(
        fake.history(&b.id()).len(),
        2,
        "the second stage starts again from base:1"
    );
    assert_eq!(c[2].2, vec![path]);
    assert!(
        b.output
            .contains("[Warning] One or more build-args [UNUSED] were not consumed\n")
    );
    // The ARGs a RUN sees are in its history, so they key the cache.
    assert!(fake.calls().iter().any(|call| matches!(
        call,
        Call::Commit { created_by, .. }
            if created_by == "|2 TAG=1 OVER=given /bin/sh -c echo $TAG"
    )));
}

#[tokio::test]
async fn onbuild_triggers_run_in_the_child_build() {
    let fx = Fixture::new();
    let fake = &fx.fake;
    fake.add_image(
        "parent",
        ContainerConfigSpec {
            on_build: Some(vec!["LABEL from=trigger".into(), "RUN make".into()]),
            ..Default::default()
        },
    );
    let b = fx.build_default("FROM parent\n").await;
    let id = b.id();
    assert!(b.output.contains("# Executing 2 build triggers\n"));
    let cfg = fake.fake_image(&id).config;
    assert_eq!(cfg.labels.unwrap()["from"], "trigger");
    assert_eq!(cfg.on_build, None, "triggers do not pass on");
    assert_eq!(creates(&fake.calls()).len(), 1);
}

#[tokio::test]
async fn missing_images_are_pulled_and_results_tagged() {
    let fx = Fixture::new();
    let fake = &fx.fake;
    fake.add_remote("remote:1", ContainerConfigSpec::default());
    let opts = BuildOptions {
        tags: vec!["mine".into()],
        ..Default::default()
    };
    let b = fx.build("FROM remote:1\nENV A=1\n", opts).await;
    let id = b.id();
    let calls = fake.calls();
    assert_eq!(calls[0], Call::Pull("remote:1".into()));
    assert!(calls.contains(&Call::Tag(id.clone(), "mine:latest".into())));
    assert!(b.output.ends_with("Successfully tagged mine:latest\n"));

    let b = fx.build_default("FROM nowhere\n").await;
    assert_eq!(
        b.err().message,
        "pull access denied for nowhere:latest, repository does not exist"
    );
}

#[tokio::test]
async fn independent_stages_run_in_parallel_and_print_in_order() {
    let fx = Fixture::with_base();
    let fake = &fx.fake;
    // Each RUN waits for the other: the build ends only if both run at once.
    fake.rendezvous("meet", 2);
    let b = fx
        .build_default("FROM base AS a\nRUN meet a\nFROM base AS b\nRUN meet b\n")
        .await;
    b.id();
    let steps: Vec<&str> = b
        .output
        .lines()
        .filter(|l| l.starts_with("Step "))
        .collect();
    assert_eq!(
        steps,
        vec![
            "Step 1/4 : FROM base AS a",
            "Step 2/4 : RUN meet a",
            "Step 3/4 : FROM base AS b",
            "Step 4/4 : RUN meet b",
        ]
    );
    assert_eq!(b.output.matches("met\n").count(), 2);
}

#[tokio::test]
async fn quiet_builds_print_only_the_id_and_release_held_output_on_failure() {
    let fx = Fixture::with_base();
    let fake = &fx.fake;
    let quiet = || BuildOptions {
        quiet: true,
        ..Default::default()
    };
    let b = fx.build("FROM base\nENV A=1\n", quiet()).await;
    assert_eq!(b.output, format!("{}\n", b.id()));
    fake.on_run("false", "", 1);
    let b = fx.build("FROM base\nRUN false\n", quiet()).await;
    b.err();
    assert!(b.output.starts_with("Step 1/2 : FROM base\n"));
}
