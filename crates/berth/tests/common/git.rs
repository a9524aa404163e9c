//! Real `git` for the apps' tests: a repository of a small busybox httpd
//! app, committed version by version, pushed as a developer pushes.

use std::path::Path;
use std::process::{Command, Output};

/// `git ARGS` in `dir`, with a committer identity of its own.
pub fn git(dir: &Path, args: &[&str]) -> Output {
    Command::new("git")
        .args([
            "-c",
            "user.name=berth test",
            "-c",
            "user.email=test@berth.test",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// `git ARGS` in `dir`, which must succeed.
pub fn git_ok(dir: &Path, args: &[&str]) {
    let out = git(dir, args);
    assert!(
        out.status.success(),
        "git {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Commits a busybox httpd app serving `page` (and the given extra files).
pub fn commit_version(dir: &Path, page: &str, extra: &[(&str, &str)]) {
    std::fs::write(
        dir.join("Dockerfile"),
        format!(
            "FROM busybox\nRUN mkdir -p /www && echo {page} > /www/index.html\n\
             CMD [\"httpd\", \"-f\", \"-p\", \"80\", \"-h\", \"/www\"]\n"
        ),
    )
    .unwrap();
    for (name, text) in extra {
        std::fs::write(dir.join(name), text).unwrap();
    }
    git_ok(dir, &["add", "-A"]);
    git_ok(dir, &["commit", "-q", "-m", page]);
}
