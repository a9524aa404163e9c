use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use super::*;

/// A rootfs with busybox-style symlinks: /bin/busybox plus applets linking to it.
fn rootfs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for d in ["bin", "usr/bin", "sbin", "etc", "opt/tool"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let busybox = root.join("bin/busybox");
    std::fs::write(&busybox, b"#!fake\n").unwrap();
    std::fs::set_permissions(&busybox, std::fs::Permissions::from_mode(0o755)).unwrap();
    symlink("busybox", root.join("bin/sh")).unwrap();
    symlink("../../bin/busybox", root.join("usr/bin/env")).unwrap();
    // Absolute target: must resolve inside the rootfs, not on the host.
    symlink("/bin/busybox", root.join("sbin/abs")).unwrap();
    // Escape attempts land back inside the rootfs.
    symlink("/../../../../bin/busybox", root.join("sbin/escape")).unwrap();
    std::fs::write(root.join("etc/passwd"), b"root:x:0:0\n").unwrap();
    std::fs::set_permissions(
        root.join("etc/passwd"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    symlink("/etc/passwd", root.join("bin/noexec")).unwrap();
    symlink("/nowhere", root.join("bin/dangling")).unwrap();
    symlink("loop2", root.join("bin/loop1")).unwrap();
    symlink("loop1", root.join("bin/loop2")).unwrap();
    dir
}

fn path_env() -> Vec<String> {
    vec!["PATH=/usr/local/bin:/usr/bin:/bin:/sbin".into()]
}

#[test]
fn finds_busybox_applets_through_symlinks() {
    let dir = rootfs();
    let root = dir.path();
    assert_eq!(
        resolve_executable(root, "sh", &path_env()).unwrap(),
        root.join("bin/busybox")
    );
    assert_eq!(
        resolve_executable(root, "env", &path_env()).unwrap(),
        root.join("bin/busybox")
    );
    assert_eq!(
        resolve_executable(root, "abs", &path_env()).unwrap(),
        root.join("bin/busybox")
    );
    assert_eq!(
        resolve_executable(root, "/sbin/escape", &[]).unwrap(),
        root.join("bin/busybox")
    );
    check_executable(root, "/bin/sh", &[]).unwrap();
}

#[test]
fn absolute_symlink_never_resolves_on_the_host() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("bin")).unwrap();
    // /bin/sh exists on the host, but not in this rootfs.
    symlink("/bin/sh", dir.path().join("bin/host-sh")).unwrap();
    assert!(Path::new("/bin/sh").exists());
    assert!(matches!(
        check_executable(dir.path(), "/bin/host-sh", &[]),
        Err(RuntimeError::NoSuchFile(_))
    ));
}

#[test]
fn missing_bare_name_is_not_found_in_path() {
    let dir = rootfs();
    let err = check_executable(dir.path(), "foo", &path_env()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "exec: \"foo\": executable file not found in $PATH"
    );
    assert_eq!(err.exit_code(), Some(127));
    // Dangling and looping links are not executables either.
    assert!(check_executable(dir.path(), "dangling", &path_env()).is_err());
    assert!(check_executable(dir.path(), "loop1", &path_env()).is_err());
}

#[test]
fn missing_path_is_no_such_file() {
    let dir = rootfs();
    let err = check_executable(dir.path(), "/x", &path_env()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "exec: \"/x\": stat /x: no such file or directory"
    );
    assert_eq!(err.exit_code(), Some(127));
    assert!(matches!(
        check_executable(dir.path(), "/bin/dangling", &[]),
        Err(RuntimeError::NoSuchFile(_))
    ));
}

#[test]
fn not_executable_or_directory_is_permission_denied() {
    let dir = rootfs();
    for p in ["/etc/passwd", "/etc", "/bin/noexec"] {
        let err = check_executable(dir.path(), p, &[]).unwrap_err();
        assert!(err.to_string().contains("permission denied"), "{p}: {err}");
        assert_eq!(err.exit_code(), Some(126));
    }
    // In PATH lookups a non-executable match is skipped, as Go's LookPath does.
    assert!(matches!(
        check_executable(dir.path(), "noexec", &path_env()),
        Err(RuntimeError::ExecutableNotFound(_))
    ));
}

#[test]
fn path_comes_from_env_with_a_default() {
    let dir = rootfs();
    // PATH without /bin: sh is not found.
    assert!(check_executable(dir.path(), "sh", &["PATH=/opt/tool".into()]).is_err());
    // No PATH at all: Docker's default applies.
    check_executable(dir.path(), "sh", &[]).unwrap();
}

#[test]
fn classify_recovers_typed_errors_from_wrapped_text() {
    for err in [
        RuntimeError::ExecutableNotFound("foo".into()),
        RuntimeError::NoSuchFile("/x".into()),
        RuntimeError::PermissionDenied("/etc".into()),
    ] {
        let wrapped =
            format!("failed to run container process: error in executing process : {err}");
        let back = classify(&wrapped).unwrap();
        assert_eq!(back.to_string(), err.to_string());
    }
    assert!(classify("something else").is_none());
}

/// A walk through a climbing link ("..") is refused by the kernel with
/// EAGAIN whenever a rename anywhere on the host races it; the open retries
/// instead of reporting the directory missing (docker cp through such a link
/// failed now and then on a busy host).
#[test]
fn open_dir_in_root_survives_concurrent_renames() {
    let dir = rootfs();
    let root = dir.path().to_path_buf();
    std::fs::create_dir_all(root.join("tmp/target")).unwrap();
    symlink("../../../../tmp", root.join("up")).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let renamer = {
        let stop = stop.clone();
        let scratch = tempfile::tempdir().unwrap();
        std::thread::spawn(move || {
            let (a, b) = (scratch.path().join("a"), scratch.path().join("b"));
            std::fs::write(&a, b"").unwrap();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::fs::rename(&a, &b).unwrap();
                std::fs::rename(&b, &a).unwrap();
            }
        })
    };
    let mut failures = 0;
    for _ in 0..20_000 {
        if open_dir_in_root(&root, Path::new("/up/target")).is_err() {
            failures += 1;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    renamer.join().unwrap();
    assert_eq!(failures, 0, "opens through ../ failed under renames");
}
