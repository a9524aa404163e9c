//! Where the filesystem puts new directories.
//!
//! Every container lifecycle creates a tree (its directory, its writable
//! layer, the runtime's state) and removes it again. ext4 puts a new
//! directory's files in its parent's block group, so by default every
//! container's tree lands in the one group that holds `containers/`. ext4
//! without a journal (this project's CI machines run one) also refuses to
//! reuse an inode freed in the last minute (six when its inode table block
//! is still dirty) and steps over such inodes one by one, looking each up
//! in the buffer cache: at 50 lifecycles a second that scan was a quarter of
//! the whole machine's CPU. Marked as the top of independent hierarchies,
//! a directory's subdirectories go where the Orlov allocator finds room, as
//! the children of `/` do, and no group collects the churn.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// `FS_TOPDIR_FL` (`chattr +T`), from linux/fs.h; the libc crate lacks it.
const FS_TOPDIR_FL: libc::c_int = 0x0002_0000;

/// Marks `dir` so that the filesystem spreads its subdirectories over the
/// disk. Returns whether the mark is set: filesystems without the hint
/// (tmpfs, xfs, btrfs, overlayfs) answer `false` and nothing changes.
pub fn spread_subdirs(dir: &Path) -> io::Result<bool> {
    let file = File::open(dir)?;
    let fd = file.as_raw_fd();
    let mut flags: libc::c_int = 0;
    // SAFETY: both ioctls read or write one int through a pointer to a
    // live local (the kernel's FS_IOC_*FLAGS take an int, whatever their
    // _IOR size says), on a descriptor this function owns.
    if unsafe { libc::ioctl(fd, libc::FS_IOC_GETFLAGS, &mut flags) } < 0 {
        return unsupported(io::Error::last_os_error());
    }
    if flags & FS_TOPDIR_FL != 0 {
        return Ok(true);
    }
    flags |= FS_TOPDIR_FL;
    // SAFETY: as above.
    if unsafe { libc::ioctl(fd, libc::FS_IOC_SETFLAGS, &flags) } < 0 {
        return unsupported(io::Error::last_os_error());
    }
    Ok(true)
}

fn unsupported(err: io::Error) -> io::Result<bool> {
    match err.raw_os_error() {
        Some(libc::ENOTTY | libc::EOPNOTSUPP | libc::EINVAL | libc::ENOSYS) => Ok(false),
        _ => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flag is read back where the filesystem takes it, and a second
    /// call changes nothing; a filesystem without the hint says so.
    #[test]
    fn marks_a_directory_once() {
        let dir = tempfile::tempdir().unwrap();
        let first = spread_subdirs(dir.path()).unwrap();
        assert_eq!(spread_subdirs(dir.path()).unwrap(), first);
        let file = File::open(dir.path()).unwrap();
        let mut flags: libc::c_int = 0;
        // SAFETY: as in spread_subdirs.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags) };
        if first {
            assert_eq!(rc, 0);
            assert_ne!(flags & FS_TOPDIR_FL, 0, "FS_TOPDIR_FL not set");
        } else {
            assert!(rc < 0 || flags & FS_TOPDIR_FL == 0);
        }
    }

    #[test]
    fn a_missing_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(spread_subdirs(&dir.path().join("nope")).is_err());
    }
}
