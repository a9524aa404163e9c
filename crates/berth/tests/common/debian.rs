//! The Debian 12 corpus: a debootstrap'd minbase rootfs made (or reused from
//! the host cache) by scripts/debian-corpus.sh and imported into a test daemon
//! as `debian:bookworm`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use super::{Daemon, assert_success, run_with_timeout, stdout};

/// The tag the corpus's base image gets in a daemon.
pub const IMAGE: &str = "debian:bookworm";

/// A cold cache runs debootstrap and fetches the corpus's packages.
const BOOTSTRAP_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// Builds that install packages from the image's apt cache (or the network).
pub const BUILD_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// The cached rootfs tarball, made on first use in this process.
pub fn tarball() -> PathBuf {
    static TARBALL: OnceLock<PathBuf> = OnceLock::new();
    TARBALL
        .get_or_init(|| {
            let script =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/debian-corpus.sh");
            let out = run_with_timeout(
                Command::new(&script),
                None,
                BOOTSTRAP_TIMEOUT,
                &script.display().to_string(),
            );
            assert_success(&out, "scripts/debian-corpus.sh");
            let path = stdout(&out).lines().last().unwrap_or_default().to_string();
            assert!(!path.is_empty(), "scripts/debian-corpus.sh printed no path");
            PathBuf::from(path)
        })
        .clone()
}

/// Imports the corpus into `d` as [`IMAGE`], as a user would make a base image.
pub fn import(d: &Daemon) {
    let tar = tarball();
    let mut cmd = d.docker_command(&[
        "import".as_ref(),
        "--change".as_ref(),
        r#"CMD ["bash"]"#.as_ref(),
        tar.as_os_str(),
        IMAGE.as_ref(),
    ]);
    cmd.env("DOCKER_BUILDKIT", "0");
    let out = run_with_timeout(cmd, None, BUILD_TIMEOUT, "docker import debian");
    assert_success(&out, "docker import <debian rootfs>");
}

/// `docker build` (classic builder) of `dir` with a timeout fit for apt.
pub fn build(d: &Daemon, dir: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["build"];
    all.extend_from_slice(args);
    let dir = dir.to_str().expect("utf-8 context path");
    all.push(dir);
    let mut cmd = d.docker_command(&all);
    cmd.env("DOCKER_BUILDKIT", "0");
    run_with_timeout(
        cmd,
        None,
        BUILD_TIMEOUT,
        &format!("docker {}", all.join(" ")),
    )
}
