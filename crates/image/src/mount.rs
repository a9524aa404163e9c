//! overlayfs mounts for container rootfs and the mount table check that makes
//! mounting idempotent.

use std::fs;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};

use crate::error::{ImageError, IoContext};

/// Whether `target` is a mount point in this mount namespace.
pub fn is_mounted(target: &Path) -> Result<bool, ImageError> {
    match is_mount_root(target) {
        Some(answer) => Ok(answer),
        None => in_mount_table(target),
    }
}

/// statx's STATX_ATTR_MOUNT_ROOT (Linux 5.8): one system call, where
/// reading the mount table cost about 0.4 ms of CPU per container start and
/// grows with the mounts. `None` when the kernel does not report it (or the
/// path cannot be asked about), for the mount table to answer.
fn is_mount_root(target: &Path) -> Option<bool> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(target.as_os_str().as_bytes()).ok()?;
    // SAFETY: an all-zero statx is a valid value of the plain C struct.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a NUL-terminated string and `stx` a live, writable
    // statx, both outliving the call.
    let rc = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW | libc::AT_NO_AUTOMOUNT,
            0,
            &mut stx,
        )
    };
    if rc != 0 {
        return match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::ENOENT | libc::ENOTDIR) => Some(false),
            _ => None,
        };
    }
    let bit = libc::STATX_ATTR_MOUNT_ROOT as u64;
    (stx.stx_attributes_mask & bit != 0).then_some(stx.stx_attributes & bit != 0)
}

fn in_mount_table(target: &Path) -> Result<bool, ImageError> {
    let table = fs::read_to_string("/proc/self/mountinfo").ctx(|| "read mountinfo".into())?;
    Ok(table.lines().any(|line| {
        line.split(' ')
            .nth(4)
            .is_some_and(|mp| Path::new(&unescape(mp)) == target)
    }))
}

/// mountinfo escapes space, tab, newline and backslash as octal `\NNN`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Mounts an overlay; `lowers` are listed top-first as overlayfs wants them.
pub fn mount_overlay(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> Result<(), ImageError> {
    let mut all: Vec<&Path> = lowers.iter().map(|p| p.as_path()).collect();
    all.extend([upper, work]);
    for p in &all {
        // These characters separate overlay options and cannot be escaped in them.
        if p.to_string_lossy().contains([',', ':']) {
            return Err(ImageError::io(
                format!("overlay path {} contains ',' or ':'", p.display()),
                std::io::Error::from(std::io::ErrorKind::InvalidInput),
            ));
        }
    }
    let lower = lowers
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(":");
    let data = format!(
        "lowerdir={lower},upperdir={},workdir={}",
        upper.display(),
        work.display()
    );
    // mount(2) copies at most one page of options.
    if data.len() >= 4096 {
        return mount_overlay_layer_by_layer(lowers, upper, work, target);
    }
    mount(
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::empty(),
        Some(data.as_str()),
    )
    .ctx(|| format!("mount overlay on {}", target.display()))
}

const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;

/// An overlay whose options do not fit mount(2)'s page (an image of more
/// layers than ~40 at the usual data-root paths; Docker's limit is 128):
/// built in a filesystem context, one `lowerdir+` per layer (Linux 6.8), top
/// layer first as in `lowerdir=`, then moved onto `target`.
fn mount_overlay_layer_by_layer(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> Result<(), ImageError> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let failed = |what: &str| {
        ImageError::io(
            format!(
                "mount overlay of {} layers on {}: {what}",
                lowers.len(),
                target.display()
            ),
            std::io::Error::last_os_error(),
        )
    };
    // SAFETY: fsopen with a NUL-terminated name; the descriptor is owned at once.
    let fs = unsafe { libc::syscall(libc::SYS_fsopen, c"overlay".as_ptr(), FSOPEN_CLOEXEC) };
    if fs < 0 {
        return Err(failed("fsopen"));
    }
    // SAFETY: fsopen returned a new descriptor that nothing else owns.
    let fs = unsafe { OwnedFd::from_raw_fd(fs as i32) };
    let set = |key: &std::ffi::CStr, value: &std::ffi::CStr| {
        // SAFETY: key and value are NUL-terminated strings outliving the call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                fs.as_raw_fd(),
                FSCONFIG_SET_STRING,
                key.as_ptr(),
                value.as_ptr(),
                0,
            )
        };
        if rc < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(())
        }
    };
    for lower in lowers {
        if let Err(e) = set(c"lowerdir+", &c_path(lower)?) {
            if e.raw_os_error() == Some(libc::EINVAL) && lower == &lowers[0] {
                return Err(ImageError::NotImplemented(format!(
                    "overlay mount options for {} layers exceed one page, and this kernel \
                     takes no layers one by one (lowerdir+, Linux 6.8)",
                    lowers.len()
                )));
            }
            return Err(ImageError::io(
                format!("overlay layer {}", lower.display()),
                e,
            ));
        }
    }
    for (key, dir) in [(c"upperdir", upper), (c"workdir", work)] {
        set(key, &c_path(dir)?)
            .map_err(|e| ImageError::io(format!("overlay {}", dir.display()), e))?;
    }
    // SAFETY: a command without key or value on our context descriptor.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    if rc < 0 {
        return Err(failed("create"));
    }
    // SAFETY: fsmount of our configured context; the descriptor is owned at once.
    let mnt = unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, 0) };
    if mnt < 0 {
        return Err(failed("fsmount"));
    }
    // SAFETY: fsmount returned a new descriptor that nothing else owns.
    let mnt = unsafe { OwnedFd::from_raw_fd(mnt as i32) };
    let to = c_path(target)?;
    // SAFETY: move_mount of our detached mount (empty path: the descriptor
    // itself) onto a NUL-terminated target path.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mnt.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if rc < 0 {
        return Err(failed("move_mount"));
    }
    Ok(())
}

/// `p` as the C string a system call takes.
fn c_path(p: &Path) -> Result<std::ffi::CString, ImageError> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(|_| {
        ImageError::io(
            format!("path {} contains NUL", p.display()),
            std::io::Error::from(std::io::ErrorKind::InvalidInput),
        )
    })
}

/// `struct mount_attr` of mount_setattr(2).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// Binds `source` (not its submounts) at `target` as an idmapped mount: a
/// file owned by id N on disk shows as the id that N maps to in `userns`.
/// Overlayfs accepts such mounts as lower layers (Linux 5.19), which is how
/// a remapped container sees its image's files owned as in the image
/// without a chowned copy of any layer.
pub fn bind_idmapped(
    source: &Path,
    target: &Path,
    userns: std::os::fd::BorrowedFd<'_>,
) -> Result<(), ImageError> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let (src, dst) = (c_path(source)?, c_path(target)?);
    let empty = c"";
    // SAFETY: plain syscalls on NUL-terminated strings that outlive them;
    // the returned descriptor is owned at once.
    let tree = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            src.as_ptr(),
            OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint,
        )
    };
    if tree < 0 {
        return Err(ImageError::io(
            format!("open_tree {}", source.display()),
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: open_tree returned a new descriptor that nothing else owns.
    let tree = unsafe { OwnedFd::from_raw_fd(tree as i32) };
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    // SAFETY: `attr` is a live mount_attr of the size passed.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc < 0 {
        let e = std::io::Error::last_os_error();
        if matches!(
            e.raw_os_error(),
            Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EPERM)
        ) {
            return Err(ImageError::NotImplemented(format!(
                "idmapped mounts of {} (needed by --userns-remap): this kernel or filesystem refuses them ({e})",
                source.display()
            )));
        }
        return Err(ImageError::io(format!("idmap {}", source.display()), e));
    }
    // SAFETY: as above; `tree` stays open for the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_FDCWD,
            dst.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if rc < 0 {
        return Err(ImageError::io(
            format!("move idmapped mount to {}", target.display()),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Detaches the mount (lazy, so a process still holding a cwd inside does not
/// block container removal); not mounted is fine.
pub fn unmount(target: &Path) -> Result<(), ImageError> {
    if !is_mounted(target)? {
        return Ok(());
    }
    umount2(target, MntFlags::MNT_DETACH).ctx(|| format!("unmount {}", target.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_octal() {
        assert_eq!(unescape(r"/a\040b\134c"), r"/a b\c");
        assert_eq!(unescape(r"/plain"), "/plain");
        assert_eq!(unescape(r"/x\04"), r"/x\04");
    }

    #[test]
    fn root_is_mounted() {
        assert!(is_mounted(Path::new("/")).unwrap());
        assert!(in_mount_table(Path::new("/")).unwrap());
    }

    /// The statx answer and the mount table's agree on a mount point, the
    /// directory holding it and a missing path.
    #[test]
    fn statx_and_the_mount_table_agree() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("m");
        fs::create_dir(&m).unwrap();
        mount(
            Some("tmpfs"),
            &m,
            Some("tmpfs"),
            MsFlags::empty(),
            None::<&str>,
        )
        .unwrap();
        let answers = [&m, dir.path(), &dir.path().join("missing")]
            .map(|p| (is_mount_root(p), in_mount_table(p).unwrap()));
        umount2(&m, MntFlags::MNT_DETACH).unwrap();
        assert_eq!(
            answers,
            [
                (Some(true), true),
                (Some(false), false),
                (Some(false), false)
            ]
        );
        assert!(!is_mounted(&m).unwrap());
    }
}
