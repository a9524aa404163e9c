//! Shared helpers: archives built in the test, and a data root that cleans
//! its mounts even when the test fails.
#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

pub const MTIME: u64 = 1_600_000_000;

/// A temporary data root; on drop it lazily unmounts everything below it.
pub struct DataRoot {
    pub dir: tempfile::TempDir,
}

impl DataRoot {
    pub fn new() -> Self {
        DataRoot {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }
    pub fn path(&self) -> PathBuf {
        fs::canonicalize(self.dir.path()).unwrap()
    }
    /// Blob digests, snapshot dirs (not rw) and references currently stored.
    pub fn inventory(&self) -> (Vec<String>, Vec<String>, String) {
        // Removed trees leave their names at once; their files go in the
        // background. Whatever is left after that is a leftover.
        cas::reaper::flush();
        let root = self.path();
        let names = |p: PathBuf| -> Vec<String> {
            let mut v: Vec<String> = fs::read_dir(p)
                .map(|it| {
                    it.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            v.sort();
            v
        };
        let blobs = names(root.join("content/blobs/sha256"));
        let snaps = names(root.join("snapshots"))
            .into_iter()
            .filter(|n| n != "rw")
            .collect();
        let refs = fs::read_to_string(root.join("images/references.json")).unwrap_or_default();
        (blobs, snaps, refs)
    }
}

impl Drop for DataRoot {
    fn drop(&mut self) {
        let root = self.path();
        let table = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut mounts: Vec<PathBuf> = table
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .map(PathBuf::from)
            .filter(|m| m.starts_with(&root))
            .collect();
        mounts.reverse();
        for m in mounts {
            let _ = nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

pub fn count_mounts(path: &Path) -> usize {
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.split(' ').nth(4) == Some(path.to_str().unwrap()))
        .count()
}

/// Appends an entry with raw name/link bytes (the tar crate's safe setters
/// refuse the hostile paths we need).
pub fn raw_entry<W: Write>(
    b: &mut tar::Builder<W>,
    name: &str,
    kind: EntryType,
    link: &str,
    mode: u32,
    data: &[u8],
) {
    let mut h = Header::new_old();
    {
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        old.linkname[..link.len()].copy_from_slice(link.as_bytes());
    }
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(MTIME);
    h.set_size(data.len() as u64);
    h.set_cksum();
    b.append(&h, data).unwrap();
}

pub fn dir(b: &mut tar::Builder<Vec<u8>>, name: &str, mode: u32) {
    raw_entry(b, name, EntryType::Directory, "", mode, b"");
}

pub fn file(b: &mut tar::Builder<Vec<u8>>, name: &str, mode: u32, data: &[u8]) {
    raw_entry(b, name, EntryType::Regular, "", mode, data);
}

pub fn symlink(b: &mut tar::Builder<Vec<u8>>, name: &str, target: &str) {
    raw_entry(b, name, EntryType::Symlink, target, 0o777, b"");
}

pub fn hardlink(b: &mut tar::Builder<Vec<u8>>, name: &str, target: &str) {
    raw_entry(b, name, EntryType::Link, target, 0o644, b"");
}

pub const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n";
pub const GROUP: &str = "root:x:0:\nuser:x:1000:\nstaff:x:50:user\n";

/// A minimal busybox rootfs: the static busybox, applet symlinks, a hardlink,
/// /etc/passwd and /etc/group, a file owned by 1000:1000.
pub fn busybox_tar() -> Vec<u8> {
    let busybox = fs::read("/bin/busybox").expect("busybox-static at /bin/busybox");
    let mut b = tar::Builder::new(Vec::new());
    dir(&mut b, "./", 0o755);
    dir(&mut b, "./bin/", 0o755);
    file(&mut b, "./bin/busybox", 0o755, &busybox);
    for applet in ["sh", "ls", "cat", "echo", "id"] {
        symlink(&mut b, &format!("./bin/{applet}"), "busybox");
    }
    hardlink(&mut b, "./bin/busybox.hard", "./bin/busybox");
    dir(&mut b, "./etc/", 0o755);
    file(&mut b, "./etc/passwd", 0o644, PASSWD.as_bytes());
    file(&mut b, "./etc/group", 0o644, GROUP.as_bytes());
    dir(&mut b, "./tmp/", 0o1777);
    dir(&mut b, "./home/", 0o755);
    let mut h = Header::new_gnu();
    h.set_path("home/user/owned.txt").unwrap();
    h.set_entry_type(EntryType::Regular);
    h.set_mode(0o640);
    h.set_uid(1000);
    h.set_gid(1000);
    h.set_mtime(MTIME);
    h.set_size(5);
    h.set_cksum();
    b.append(&h, &b"owned"[..]).unwrap();
    b.into_inner().unwrap()
}

/// A one-file archive whose content makes its diff id unique.
pub fn tiny_tar(content: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    file(&mut b, "hello.txt", 0o644, content.as_bytes());
    b.into_inner().unwrap()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}
