//! The busybox root filesystem every e2e test runs in, made from the host's
//! static /bin/busybox so no registry is needed.

use std::fs::File;
use std::io;
use std::path::Path;

/// Applets the tests call; each is a symlink to /bin/busybox.
pub const APPLETS: &[&str] = &[
    "sh", "echo", "cat", "ls", "sleep", "id", "hostname", "env", "pwd", "true", "false", "wc",
    "head", "tail", "kill", "ps", "top", "whoami", "grep", "ip", "wget", "nslookup", "ping",
    "httpd", "mkdir", "seq", "nc", "timeout", "readlink",
];

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n\
app:x:1000:1000:app:/home/app:/bin/sh\n";

const GROUP: &str = "root:x:0:\n\
nogroup:x:65534:\n\
app:x:1000:\n\
extra:x:2000:app\n";

/// Writes an uncompressed rootfs tar to `dest`.
pub fn write_busybox_rootfs(dest: &Path) -> io::Result<()> {
    let mut b = tar::Builder::new(File::create(dest)?);
    append_busybox_rootfs(&mut b)?;
    b.into_inner()?.sync_all()
}

/// Appends the busybox rootfs's entries to `b`, for tests that add their own.
pub fn append_busybox_rootfs<W: io::Write>(b: &mut tar::Builder<W>) -> io::Result<()> {
    for dir in [
        "bin", "etc", "tmp", "proc", "sys", "dev", "root", "home", "home/app",
    ] {
        let mode = if dir == "tmp" { 0o1777 } else { 0o755 };
        let mut h = header(tar::EntryType::Directory, mode);
        b.append_data(&mut h, dir, io::empty())?;
    }
    let busybox = std::fs::read("/bin/busybox")?;
    let mut h = header(tar::EntryType::Regular, 0o755);
    h.set_size(busybox.len() as u64);
    b.append_data(&mut h, "bin/busybox", busybox.as_slice())?;
    for applet in APPLETS {
        let mut h = header(tar::EntryType::Symlink, 0o777);
        b.append_link(&mut h, format!("bin/{applet}"), "busybox")?;
    }
    for (path, text) in [("etc/passwd", PASSWD), ("etc/group", GROUP)] {
        let mut h = header(tar::EntryType::Regular, 0o644);
        h.set_size(text.len() as u64);
        b.append_data(&mut h, path, text.as_bytes())?;
    }
    Ok(())
}

fn header(kind: tar::EntryType, mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_size(0);
    h
}
