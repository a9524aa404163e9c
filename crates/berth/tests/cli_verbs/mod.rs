//! The verbs beyond the foundation (pause, update, cp, stats, commit, save,
//! volume, prune, ...): berth's output against docker's on the same daemon,
//! or their observable effect.

use super::*;

/// Same stdout, stderr and status from berth and docker (when installed).
fn same_as_docker(h: &str, args: &[&str]) -> Output {
    let b = berth(h, args);
    let d = docker(h, args);
    {
        assert_eq!(stdout(&b), stdout(&d), "stdout of {args:?}");
        assert_eq!(
            stderr(&b)
                .replace("berth: ", "docker: ")
                .replace("'berth ", "'docker ")
                .replace("Usage:  berth ", "Usage:  docker "),
            stderr(&d),
            "stderr of {args:?}"
        );
        assert_eq!(b.status.code(), d.status.code(), "status of {args:?}");
    }
    b
}

fn inspect(h: &str, fmt: &str, name: &str) -> String {
    ok(&berth(h, &["inspect", "-f", fmt, name]))
        .trim()
        .to_string()
}

fn sleeper(h: &str, names: &mut Names, tag: &str, extra: &[&str]) -> String {
    let n = names.fresh(tag);
    let mut args = vec!["run", "-d", "--name", &n];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[image(h), "sleep", "300"]);
    ok(&berth(h, &args));
    n
}

#[test]
fn pause_unpause_update_and_rename() {
    let Some(h) = host() else { return };
    let mut names = Names::new(&h);
    let n = sleeper(&h, &mut names, "pause", &[]);
    assert_eq!(ok(&berth(&h, &["pause", &n])), format!("{n}\n"));
    assert_eq!(inspect(&h, "{{.State.Status}}", &n), "paused");
    assert_eq!(
        ok(&berth(&h, &["container", "unpause", &n])),
        format!("{n}\n")
    );
    assert_eq!(inspect(&h, "{{.State.Status}}", &n), "running");
    same_as_docker(&h, &["pause", "berth-cli-no-such-container"]);

    same_as_docker(&h, &["update", &n]);
    let out = ok(&berth(
        &h,
        &[
            "update",
            "--memory",
            "64m",
            "--memory-swap",
            "128m",
            "--cpus",
            "0.5",
            "--pids-limit",
            "50",
            "--restart",
            "on-failure:2",
            &n,
        ],
    ));
    assert_eq!(out, format!("{n}\n"));
    assert_eq!(
        inspect(
            &h,
            "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}",
            &n
        ),
        "67108864 134217728 500000000 50 on-failure:2"
    );

    same_as_docker(&h, &["rename", &n, &n]);
    same_as_docker(&h, &["rename", "berth-cli-no-such-container", "x"]);
    let renamed = names.fresh("renamed");
    assert_eq!(ok(&berth(&h, &["rename", &n, &renamed])), "");
    assert_eq!(inspect(&h, "{{.Name}}", &renamed), format!("/{renamed}"));
}

#[test]
fn top_port_diff_and_stats_match_docker() {
    let Some(h) = host() else { return };
    let mut names = Names::new(&h);
    let n = sleeper(&h, &mut names, "top", &[]);
    let top = same_as_docker(&h, &["top", &n, "-o", "pid,comm"]);
    let text = stdout(&top);
    assert!(text.starts_with("PID  "), "{text}");
    assert!(text.contains("sleep"), "{text}");
    // The default columns (C, TIME) tick between calls; the header does not.
    let top = ok(&berth(&h, &["top", &n]));
    assert!(top.starts_with("UID  "), "{top}");
    let d = docker(&h, &["top", &n]);
    {
        assert_eq!(top.lines().next(), stdout(&d).lines().next());
    }

    same_as_docker(&h, &["port", &n]);
    same_as_docker(&h, &["port", &n, "80"]);

    ok(&berth(
        &h,
        &[
            "exec",
            &n,
            "sh",
            "-c",
            "echo x > /tmp/added; echo y > /etc/passwd",
        ],
    ));
    let d = same_as_docker(&h, &["diff", &n]);
    let diff = stdout(&d);
    assert!(diff.contains("A /tmp/added\n"), "{diff}");
    assert!(diff.contains("C /etc/passwd\n"), "{diff}");

    let s = same_as_docker(
        &h,
        &[
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}} {{.ID}} {{.Container}}",
            &n,
        ],
    );
    assert!(stdout(&s).starts_with(&format!("{n} ")), "{}", stdout(&s));
    let s = ok(&berth(&h, &["stats", "--no-stream", &n]));
    let mut lines = s.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("CONTAINER ID   NAME "), "{header}");
    assert!(
        header.ends_with("CPU %     MEM USAGE / LIMIT   MEM %     NET I/O   BLOCK I/O   PIDS"),
        "{header}"
    );
    let row = lines.next().unwrap();
    assert!(
        row.contains(&n) && row.contains('%') && row.contains(" / "),
        "{row}"
    );
}

#[test]
fn attach_forwards_input_and_returns_the_exit_status() {
    let Some(h) = host() else { return };
    let img = image(&h);
    let mut names = Names::new(&h);
    let n = names.fresh("attach");
    ok(&berth(
        &h,
        &[
            "run",
            "-d",
            "-i",
            "--name",
            &n,
            img,
            "sh",
            "-c",
            "read x; echo got $x >&2; exit 7",
        ],
    ));
    let o = berth_stdin(&h, &["attach", "--sig-proxy=false", &n], b"hello\n");
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    assert_eq!(inspect(&h, "{{.State.Status}}", &n), "exited");
    same_as_docker(&h, &["attach", &n]);

    let n2 = names.fresh("attach-out");
    ok(&berth(
        &h,
        &[
            "run",
            "-d",
            "--name",
            &n2,
            img,
            "sh",
            "-c",
            "sleep 1; echo out; echo err >&2; exit 3",
        ],
    ));
    let o = berth(&h, &["attach", "--no-stdin", &n2]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(stdout(&o), "out\n");
    assert_eq!(stderr(&o), "err\n");
}

/// A container tree as `stat` sees it: name, owner, mode, type, size.
fn tree_in(h: &str, c: &str, dir: &str) -> String {
    ok(&berth(
        h,
        &[
            "exec",
            c,
            "sh",
            "-c",
            &format!(
                "cd {dir} && busybox find . -exec busybox stat -c '%n %u:%g %a %F %s' {{}} + | busybox sort"
            ),
        ],
    ))
}

fn local_tree(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    fn walk(base: &Path, d: &Path, out: &mut Vec<(String, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(d).unwrap().map(|e| e.unwrap()).collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            let rel = p.strip_prefix(base).unwrap().display().to_string();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let what = if m.file_type().is_symlink() {
                format!("link {}", std::fs::read_link(&p).unwrap().display())
            } else if m.is_dir() {
                walk(base, &p, out);
                "dir".to_string()
            } else {
                format!("file {}", std::fs::read_to_string(&p).unwrap())
            };
            out.push((rel, what));
        }
    }
    walk(dir, dir, &mut out);
    out
}

#[test]
fn cp_both_directions_matches_docker() {
    let Some(h) = host() else { return };
    let mut names = Names::new(&h);
    let c = sleeper(&h, &mut names, "cp", &[]);
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("f"), "one\n").unwrap();
    std::fs::write(src.join("sub/g"), "two\n").unwrap();
    std::os::unix::fs::symlink("f", src.join("lnk")).unwrap();
    std::os::unix::fs::chown(src.join("f"), Some(1234), Some(1234)).unwrap();
    let s = src.to_str().unwrap();
    let tools: &[&str] = &["b", "d"];
    for t in tools {
        let run = |args: &[&str]| {
            let o = if *t == "b" {
                berth(&h, args)
            } else {
                docker(&h, args)
            };
            ok(&o);
        };
        ok(&berth(
            &h,
            &["exec", &c, "busybox", "mkdir", "-p", &format!("/{t}/in")],
        ));
        run(&["cp", s, &format!("{c}:/{t}/in")]);
        run(&["cp", s, &format!("{c}:/{t}/new")]);
        run(&["cp", &format!("{s}/."), &format!("{c}:/{t}/contents")]);
        run(&["cp", &format!("{s}/f"), &format!("{c}:/{t}/file")]);
        run(&["cp", "-a", &format!("{s}/f"), &format!("{c}:/{t}/archived")]);
        run(&[
            "cp",
            "-L",
            &format!("{s}/lnk"),
            &format!("{c}:/{t}/followed"),
        ]);
        run(&["cp", &format!("{s}/lnk"), &format!("{c}:/{t}/link")]);
    }
    let b = tree_in(&h, &c, "/b");
    assert!(b.contains("./new/sub/g 0:0 644 regular file 4"), "{b}");
    assert!(b.contains("./link 0:0 777 symbolic link"), "{b}");
    {
        assert_eq!(b, tree_in(&h, &c, "/d"), "berth and docker copy in alike");
    }
    // Into a new name at the container's root: the copy goes to "/".
    ok(&berth(
        &h,
        &["cp", &format!("{s}/sub"), &format!("{c}:/copied-to-root")],
    ));
    assert_eq!(
        ok(&berth(&h, &["exec", &c, "cat", "/copied-to-root/g"])),
        "two\n"
    );
    // `cp -a` keeps the owner; a plain copy belongs to the container's root.
    assert_eq!(
        ok(&berth(
            &h,
            &["exec", &c, "busybox", "stat", "-c", "%u", "/b/archived"]
        ))
        .trim(),
        "1234"
    );

    // Out of the container, in each of docker's naming cases.
    let out = tmp.path().join("out");
    for t in tools {
        let dir = out.join(t);
        std::fs::create_dir_all(dir.join("existing")).unwrap();
        let run = |args: &[&str]| {
            let o = if *t == "b" {
                berth(&h, args)
            } else {
                docker(&h, args)
            };
            ok(&o);
        };
        let d = dir.to_str().unwrap();
        run(&["cp", &format!("{c}:/b/new"), &format!("{d}/tree")]);
        run(&["cp", &format!("{c}:/b/new/."), &format!("{d}/contents")]);
        run(&["cp", &format!("{c}:/b/new/f"), &format!("{d}/file")]);
        run(&["cp", &format!("{c}:/b/new/f"), &format!("{d}/existing")]);
        run(&["cp", &format!("{c}:/b/new/lnk"), &format!("{d}/link")]);
        run(&[
            "cp",
            "-L",
            &format!("{c}:/b/new/lnk"),
            &format!("{d}/followed"),
        ]);
    }
    let b = local_tree(&out.join("b"));
    assert!(
        b.contains(&("tree/sub/g".into(), "file two\n".into())),
        "{b:?}"
    );
    assert!(b.contains(&("link".into(), "link f".into())), "{b:?}");
    assert!(
        b.contains(&("followed".into(), "file one\n".into())),
        "{b:?}"
    );
    {
        assert_eq!(b, local_tree(&out.join("d")));
    }

    // `-` is a tar stream on stdout / stdin.
    let o = berth(&h, &["cp", &format!("{c}:/b/new"), "-"]);
    let mut ar = tar::Archive::new(&o.stdout[..]);
    let mut listed: Vec<String> = ar
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    listed.sort();
    assert!(listed.contains(&"new/sub/g".to_string()), "{listed:?}");
    let o = berth_stdin(&h, &["cp", "-", &format!("{c}:/b/in")], &o.stdout);
    ok(&o);
    assert_eq!(
        ok(&berth(&h, &["exec", &c, "cat", "/b/in/new/sub/g"])),
        "two\n"
    );
    same_as_docker(
        &h,
        &[
            "cp",
            &format!("{c}:/no/such/path"),
            tmp.path().to_str().unwrap(),
        ],
    );
    same_as_docker(&h, &["cp", "-", &format!("{c}:/b/file")]);
}

#[test]
fn commit_history_save_load_and_export() {
    let Some(h) = host() else { return };
    let mut names = Names::new(&h);
    let c = sleeper(&h, &mut names, "commit", &[]);
    ok(&berth(
        &h,
        &["exec", &c, "sh", "-c", "echo data > /committed"],
    ));
    let repo = format!("berth-cli-commit-{}", std::process::id());
    let tag = format!("{repo}:v1");
    struct Rmi(String, String);
    impl Drop for Rmi {
        fn drop(&mut self) {
            let _ = berth(&self.0, &["rmi", "-f", &self.1]);
        }
    }
    let _g = Rmi(h.clone(), tag.clone());
    let id = ok(&berth(
        &h,
        &[
            "commit",
            "-a",
            "Ann <a@b>",
            "-m",
            "a message",
            "-c",
            "ENV COMMITTED=1",
            &c,
            &tag,
        ],
    ));
    assert!(id.starts_with("sha256:"), "{id}");
    // The daemon may add a default PATH to the config; the change is ours.
    let meta = ok(&berth(
        &h,
        &[
            "image",
            "inspect",
            "-f",
            "{{.Author}}|{{.Comment}}|{{.Config.Env}}",
            &tag,
        ],
    ));
    assert!(meta.starts_with("Ann <a@b>|a message|["), "{meta}");
    assert!(meta.contains("COMMITTED=1]"), "{meta}");
    for args in [
        vec!["history", "-q", &tag],
        vec!["history", "--no-trunc", "-q", &tag],
        vec![
            "image",
            "history",
            "--format",
            "{{.ID}}|{{.CreatedBy}}|{{.Size}}|{{.Comment}}",
            &tag,
        ],
        vec![
            "history",
            "-H=false",
            "--format",
            "{{.CreatedSince}}|{{.Size}}",
            &tag,
        ],
    ] {
        same_as_docker(&h, &args);
    }
    let hist = ok(&berth(&h, &["history", &tag]));
    assert!(hist.starts_with("IMAGE          CREATED"), "{hist}");
    assert!(hist.contains("a message"), "{hist}");

    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("img.tar");
    ok(&berth(&h, &["save", "-o", file.to_str().unwrap(), &tag]));
    let saved = std::fs::read(&file).unwrap();
    assert!(saved.len() > 1000);
    let streamed = berth(&h, &["image", "save", &tag]);
    assert_eq!(ok(&streamed).len(), String::from_utf8_lossy(&saved).len());
    ok(&berth(&h, &["rmi", &tag]));
    let o = ok(&berth(&h, &["load", "-i", file.to_str().unwrap()]));
    assert_eq!(o, format!("Loaded image: {tag}\n"));
    let d = docker(&h, &["load", "-q", "-i", file.to_str().unwrap()]);
    {
        assert_eq!(o, stdout(&d));
    }
    ok(&berth(&h, &["rmi", &tag]));
    let o = berth_stdin(&h, &["image", "load"], &saved);
    assert_eq!(ok(&o), format!("Loaded image: {tag}\n"));
    let n = names.fresh("from-commit");
    assert_eq!(
        ok(&berth(
            &h,
            &[
                "run",
                "--rm",
                "--name",
                &n,
                &tag,
                "sh",
                "-c",
                "cat /committed; echo $COMMITTED"
            ]
        )),
        "data\n1\n"
    );

    let exported = tmp.path().join("fs.tar");
    ok(&berth(
        &h,
        &["export", "-o", exported.to_str().unwrap(), &c],
    ));
    let mut ar = tar::Archive::new(std::fs::File::open(&exported).unwrap());
    let mut found = false;
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_str() == Some("committed") {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut e, &mut s).unwrap();
            assert_eq!(s, "data\n");
            found = true;
        }
    }
    assert!(found, "export holds the container's files");
    let streamed = berth(&h, &["container", "export", &c]);
    assert!(ok(&streamed).len() > 1000);
}

#[test]
fn volume_commands_match_docker() {
    let Some(h) = host() else { return };
    let v = format!("berth-cli-vol-{}", std::process::id());
    struct RmVol(String, String);
    impl Drop for RmVol {
        fn drop(&mut self) {
            let _ = berth(&self.0, &["volume", "rm", "-f", &self.1]);
        }
    }
    let _g = RmVol(h.clone(), v.clone());
    assert_eq!(
        ok(&berth(&h, &["volume", "create", "--label", "k=v", &v])),
        format!("{v}\n")
    );
    let filter = format!("name={v}");
    let ls = same_as_docker(&h, &["volume", "ls", "--filter", &filter]);
    assert_eq!(
        stdout(&ls),
        format!("DRIVER    VOLUME NAME\nlocal     {v}\n")
    );
    same_as_docker(&h, &["volume", "ls", "-q", "--filter", &filter]);
    same_as_docker(&h, &["volume", "inspect", &v]);
    let i = same_as_docker(
        &h,
        &[
            "volume",
            "inspect",
            "-f",
            "{{.Name}} {{.Driver}} {{.Labels}}",
            &v,
        ],
    );
    assert_eq!(stdout(&i), format!("{v} local map[k:v]\n"));
    same_as_docker(&h, &["volume", "inspect", "berth-cli-no-such-volume"]);
    // The volume in use: a file written through it survives the container.
    let mut names = Names::new(&h);
    let n = names.fresh("vol");
    ok(&berth(
        &h,
        &[
            "run",
            "--name",
            &n,
            "-v",
            &format!("{v}:/data"),
            image(&h),
            "sh",
            "-c",
            "echo kept > /data/f",
        ],
    ));
    let n2 = names.fresh("vol2");
    assert_eq!(
        ok(&berth(
            &h,
            &[
                "run",
                "--rm",
                "--name",
                &n2,
                "--mount",
                &format!("type=volume,src={v},dst=/d,readonly"),
                image(&h),
                "cat",
                "/d/f"
            ]
        )),
        "kept\n"
    );
    ok(&berth(&h, &["rm", &n]));
    assert_eq!(ok(&berth(&h, &["volume", "rm", &v])), format!("{v}\n"));
    same_as_docker(&h, &["volume", "rm", &v]);
    // Without -f the prompt reads stdin; a closed stdin declines.
    same_as_docker(&h, &["volume", "prune"]);
    same_as_docker(
        &h,
        &["volume", "prune", "-f", "--filter", "label=berth-cli-none"],
    );
}

#[test]
fn prune_and_df_match_docker() {
    let Some(h) = host() else { return };
    let img = image(&h);
    let mut names = Names::new(&h);
    let label = format!("berth-cli-prune={}", std::process::id());
    let n = names.fresh("prune");
    ok(&berth(
        &h,
        &["run", "--name", &n, "-l", &label, img, "true"],
    ));
    let id = inspect(&h, "{{.Id}}", &n);
    // A closed stdin declines every prompt: nothing goes.
    for args in [
        vec!["container", "prune"],
        vec!["image", "prune"],
        vec!["image", "prune", "-a"],
        vec!["system", "prune"],
        vec!["system", "prune", "-a", "--volumes", "--filter", "label=x"],
    ] {
        let o = same_as_docker(&h, &args);
        assert!(
            stdout(&o).ends_with("Are you sure you want to continue? [y/N] "),
            "{}",
            stdout(&o)
        );
    }
    assert_eq!(inspect(&h, "{{.Id}}", &n), id);
    let filter = format!("label={label}");
    let o = ok(&berth(
        &h,
        &["container", "prune", "-f", "--filter", &filter],
    ));
    assert_eq!(
        o,
        format!("Deleted Containers:\n{id}\n\nTotal reclaimed space: 0B\n")
    );
    same_as_docker(&h, &["container", "prune", "-f", "--filter", &filter]);

    // A dangling image (a commit without a name) carrying our label.
    let c = sleeper(&h, &mut names, "prune-img", &[]);
    let img_id = ok(&berth(&h, &["commit", "-c", &format!("LABEL {label}"), &c]));
    let o = ok(&berth(&h, &["image", "prune", "-f", "--filter", &filter]));
    assert!(o.starts_with("Deleted Images:\ndeleted: "), "{o}");
    assert!(o.contains(img_id.trim()), "{o} lacks {img_id}");
    assert!(o.contains("\n\nTotal reclaimed space: "), "{o}");
    same_as_docker(&h, &["image", "prune", "-f", "--filter", &filter]);

    let df = same_as_docker(&h, &["system", "df", "--format", "{{.Type}}"]);
    assert_eq!(
        stdout(&df),
        "Images\nContainers\nLocal Volumes\nBuild Cache\n"
    );
    let df = ok(&berth(&h, &["system", "df"]));
    assert!(
        df.starts_with("TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE\nImages   "),
        "{df}"
    );
}

#[test]
fn run_resource_security_and_health_flags() {
    let Some(h) = host() else { return };
    let img = image(&h);
    let mut names = Names::new(&h);
    let n = names.fresh("flags");
    let out = ok(&berth(
        &h,
        &[
            "run",
            "--name",
            &n,
            "--memory",
            "64m",
            "--memory-swap",
            "128m",
            "--memory-reservation",
            "32m",
            "--cpus",
            "0.5",
            "--cpu-shares",
            "512",
            "--cpuset-cpus",
            "0",
            "--pids-limit",
            "100",
            "--ulimit",
            "nofile=100:200",
            "--group-add",
            "1234",
            "--sysctl",
            "net.ipv4.ip_forward=0",
            "--tmpfs",
            "/run:size=1m",
            "--mount",
            "type=tmpfs,target=/t",
            "--read-only",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            "--health-cmd",
            "true",
            "--health-interval",
            "5s",
            "--health-retries",
            "2",
            "--stop-signal",
            "SIGUSR1",
            "--stop-timeout",
            "3",
            "--init",
            "--restart",
            "no",
            img,
            "sh",
            "-c",
            "ulimit -n; id -G; echo > /x 2>/dev/null || echo ro; echo > /t/ok && echo tmpfs",
        ],
    ));
    assert_eq!(out, "100\n0 1234\nro\ntmpfs\n");
    let fmt = "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.MemoryReservation}} {{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}} {{.HostConfig.CpusetCpus}} {{.HostConfig.PidsLimit}} {{.HostConfig.ReadonlyRootfs}} {{.HostConfig.Init}} {{json .HostConfig.Ulimits}} {{.HostConfig.GroupAdd}} {{.HostConfig.Sysctls}} {{.HostConfig.Tmpfs}} {{.HostConfig.CapDrop}} {{.HostConfig.SecurityOpt}} {{json .Config.Healthcheck}} {{.Config.StopSignal}} {{.Config.StopTimeout}}";
    assert_eq!(
        inspect(&h, fmt, &n),
        "67108864 134217728 33554432 500000000 512 0 100 true true [{\"Name\":\"nofile\",\"Hard\":200,\"Soft\":100}] [1234] map[net.ipv4.ip_forward:0] map[/run:size=1m] [ALL] [no-new-privileges] {\"Test\":[\"CMD-SHELL\",\"true\"],\"Interval\":5000000000,\"Retries\":2} SIGUSR1 3"
    );
    // Flag mistakes are reported as docker reports them.
    same_as_docker(
        &h,
        &["run", "--rm", "--ulimit", "nofile=300:200", img, "true"],
    );
    same_as_docker(
        &h,
        &[
            "run",
            "--rm",
            "--no-healthcheck",
            "--health-cmd",
            "x",
            img,
            "true",
        ],
    );
}

#[test]
fn network_commands_match_docker() {
    let Some(h) = host() else { return };
    let net = format!("berth-cli-net-{}", std::process::id());
    struct RmNet(String, String);
    impl Drop for RmNet {
        fn drop(&mut self) {
            let _ = berth(&self.0, &["network", "rm", "-f", &self.1]);
        }
    }
    let _g = RmNet(h.clone(), net.clone());
    let id = ok(&berth(
        &h,
        &[
            "network",
            "create",
            "--subnet",
            "10.254.77.0/24",
            "--label",
            "k=v",
            &net,
        ],
    ));
    assert_eq!(id.trim().len(), 64, "{id}");
    let filter = format!("name={net}");
    let ls = same_as_docker(&h, &["network", "ls", "--filter", &filter]);
    assert!(
        stdout(&ls).starts_with("NETWORK ID     NAME"),
        "{}",
        stdout(&ls)
    );
    assert!(
        stdout(&ls).contains(&format!("{}   {net}", &id[..12])),
        "{}",
        stdout(&ls)
    );
    same_as_docker(
        &h,
        &["network", "ls", "-q", "--no-trunc", "--filter", &filter],
    );
    let i = same_as_docker(
        &h,
        &[
            "network",
            "inspect",
            "-f",
            "{{.Name}} {{.Driver}} {{range .IPAM.Config}}{{.Subnet}}{{end}} {{.Labels}}",
            &net,
        ],
    );
    assert_eq!(
        stdout(&i),
        format!("{net} bridge 10.254.77.0/24 map[k:v]\n")
    );
    same_as_docker(&h, &["network", "inspect", "berth-cli-no-such-network"]);
    // run with --network, --network-alias and --ip; then connect/disconnect.
    let mut names = Names::new(&h);
    let n = names.fresh("netrun");
    ok(&berth(
        &h,
        &[
            "run",
            "-d",
            "--name",
            &n,
            "--network",
            &net,
            "--network-alias",
            "svc",
            "--ip",
            "10.254.77.50",
            "--dns-search",
            "corp.test",
            image(&h),
            "sleep",
            "300",
        ],
    ));
    let fmt = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{.Aliases}}{{end}} {{.HostConfig.DnsSearch}}";
    assert_eq!(inspect(&h, fmt, &n), "10.254.77.50 [svc] [corp.test]");
    let m = sleeper(&h, &mut names, "netjoin", &[]);
    ok(&berth(
        &h,
        &["network", "connect", "--alias", "joined", &net, &m],
    ));
    let nets = inspect(&h, "{{json .NetworkSettings.Networks}}", &m);
    assert!(nets.contains(&format!("\"{net}\"")), "{nets}");
    ok(&berth(&h, &["network", "disconnect", &net, &m]));
    let nets = inspect(&h, "{{json .NetworkSettings.Networks}}", &m);
    assert!(!nets.contains(&format!("\"{net}\"")), "{nets}");
    let busy = same_as_docker(&h, &["network", "rm", &net]);
    assert_eq!(busy.status.code(), Some(1));
    ok(&berth(&h, &["rm", "-f", &n, &m]));
    assert_eq!(ok(&berth(&h, &["network", "rm", &net])), format!("{net}\n"));
}
