//! Unpacking an upload over a directory that already has content (`docker
//! cp` into a container) in one pass, all or nothing: the archive goes into
//! a private staging directory made inside the destination (so the same
//! filesystem, wherever a volume or bind mount puts it), and only once all
//! of it has been read and found sound is it moved into place, entry by
//! entry, with rename. A hostile or truncated upload leaves the destination
//! as it was, and the archive is never spooled or read twice.
//!
//! The moves give the result an unpack straight over the destination
//! would: a later entry replaces what is there, except that directories
//! merge; a directory the archive names gets the archive's owner, mode,
//! extended attributes and time, while parents made on the way leave an
//! existing directory as it is. Everything is reached from descriptors one
//! component at a time without following symlinks, so a process in the
//! container that swaps paths under us moves nothing outside its tree.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat, renameat};
use nix::sys::stat::{FileStat, Mode, fchmod, fstatat, futimens, mkdirat};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, unlinkat};

use crate::error::ImageError;
use crate::unpack::{
    DirEntries, UnpackOptions, UnpackStats, Xattrs, display, errno_io, hostile, owned,
    remove_dir_contents, set_xattr_fd, unpack_into_naming_dirs,
};

/// Whether an entry may replace one of the other kind (a directory by a
/// non-directory or the reverse): the API's `noOverwriteDirNonDir`, which
/// the docker CLI sets. `dest` names the destination in the refusal.
#[derive(Debug, Clone, Copy)]
pub struct Kinds<'a> {
    pub keep: bool,
    pub dest: &'a str,
}

/// What an upload put into its destination.
#[derive(Debug)]
pub struct Merged {
    pub stats: UnpackStats,
    /// The archive's top-level names, sorted.
    pub tops: Vec<OsString>,
}

/// Unpacks `reader` over the existing directory `dest`; on error `dest` is
/// left as it was (unless the error comes from the filesystem while moving,
/// which a sound archive on a healthy disk never meets). `prepare` sees the
/// staged tree (its directory and top-level names) before it moves: changes
/// made there (owners) touch only what the archive brought.
pub fn unpack_over<R: Read>(
    reader: R,
    dest: &OwnedFd,
    opts: &UnpackOptions,
    kinds: &Kinds<'_>,
    prepare: impl FnOnce(BorrowedFd<'_>, &[OsString]),
) -> Result<Merged, ImageError> {
    let name = OsString::from(format!(".berth-cp-{}", crate::fsutil::unique_name()));
    mkdirat(
        Some(dest.as_raw_fd()),
        name.as_os_str(),
        Mode::from_bits_truncate(0o700),
    )
    .map_err(|e| errno_io("create a staging directory".into(), e))?;
    let staged = open_dir(dest.as_raw_fd(), &name)
        .map_err(|e| errno_io("open the staging directory".into(), e));
    let result = staged.and_then(|stage| {
        let copy = nix::unistd::dup(stage.as_raw_fd())
            .map_err(|e| errno_io("duplicate a descriptor".into(), e))?;
        let (stats, named) = unpack_into_naming_dirs(reader, owned(copy), opts)?;
        let mut tops = names(stage.as_raw_fd())
            .map_err(|e| errno_io("list the staging directory".into(), e))?;
        tops.sort();
        prepare(stage.as_fd(), &tops);
        let root = Vec::new();
        // Taken before the moves, which change the stage's time.
        let root_meta = nix::sys::stat::fstat(stage.as_raw_fd())
            .map_err(|e| errno_io("stat the staging directory".into(), e))?;
        let steps = plan(stage.as_raw_fd(), dest.as_raw_fd(), &root, &named, kinds)?;
        apply(stage.as_raw_fd(), dest.as_raw_fd(), &root, &steps)?;
        if let Some(xattrs) = named.get(&root) {
            set_meta(dest.as_raw_fd(), &root_meta, xattrs, ".")?;
        }
        Ok(Merged { stats, tops })
    });
    // What is left of the stage goes whether or not the upload made it.
    if let Ok(stage) = open_dir(dest.as_raw_fd(), &name) {
        let _ = remove_dir_contents(stage.as_raw_fd());
    }
    let _ = unlinkat(
        Some(dest.as_raw_fd()),
        name.as_os_str(),
        UnlinkatFlags::RemoveDir,
    );
    result
}

/// One staged entry's way into the destination.
#[derive(Debug)]
enum Step {
    /// Renamed in; `clear` first removes what the rename cannot replace (a
    /// directory under a non-directory, or a non-directory under a directory).
    Move { name: OsString, clear: Clear },
    /// Both are directories: the children go in, then the existing one takes
    /// the staged one's metadata if the archive named it.
    Merge {
        name: OsString,
        steps: Vec<Step>,
        meta: Option<(FileStat, Xattrs)>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clear {
    Nothing,
    Entry,
    Tree,
}

fn is_dir(st: &FileStat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

fn open_dir(parent: RawFd, name: &OsStr) -> Result<OwnedFd, Errno> {
    openat(
        Some(parent),
        name,
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        Mode::empty(),
    )
    .map(owned)
}

fn names(dir: RawFd) -> Result<Vec<OsString>, Errno> {
    use std::os::unix::ffi::OsStrExt;
    let mut d = nix::dir::Dir::from_fd(nix::unistd::dup(dir)?)?;
    let mut out = Vec::new();
    for e in d.iter() {
        let n = e?.file_name().to_bytes().to_vec();
        if n != b"." && n != b".." {
            out.push(OsStr::from_bytes(&n).to_os_string());
        }
    }
    Ok(out)
}

/// Decides every move before the first one, reading only: a conflict the
/// archive cannot resolve is refused while the destination is untouched.
fn plan(
    stage: RawFd,
    dest: RawFd,
    at: &[OsString],
    named: &DirEntries,
    kinds: &Kinds<'_>,
) -> Result<Vec<Step>, ImageError> {
    let mut steps = Vec::new();
    for name in names(stage).map_err(|e| errno_io(format!("list {}", display(at)), e))? {
        let mut path = at.to_vec();
        path.push(name.clone());
        let shown = display(&path);
        let staged = fstatat(Some(stage), name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
            .map_err(|e| errno_io(format!("stat {shown}"), e))?;
        let existing = match fstatat(Some(dest), name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => Some(st),
            Err(Errno::ENOENT) => None,
            Err(e) => return Err(errno_io(format!("stat {shown} in the destination"), e)),
        };
        if let Some(old) = &existing
            && kinds.keep
            && is_dir(old) != is_dir(&staged)
        {
            // dockerd's words; the path as the container sees it.
            let full = format!("{}{shown}", kinds.dest.trim_end_matches('/'));
            return Err(ImageError::Conflict(if is_dir(old) {
                format!(
                    "cannot overwrite directory {full:?} with non-directory {:?}",
                    kinds.dest
                )
            } else {
                format!(
                    "cannot overwrite non-directory {full:?} with directory {:?}",
                    kinds.dest
                )
            }));
        }
        let step = match existing {
            None => Step::Move {
                name,
                clear: Clear::Nothing,
            },
            Some(old) if is_dir(&staged) && is_dir(&old) => {
                let s = open_dir(stage, &name).map_err(|e| errno_io(format!("open {shown}"), e))?;
                let d = open_dir(dest, &name)
                    .map_err(|e| errno_io(format!("open {shown} in the destination"), e))?;
                let steps = plan(s.as_raw_fd(), d.as_raw_fd(), &path, named, kinds)?;
                let meta = named.get(&path).map(|x| (staged, x.clone()));
                Step::Merge { name, steps, meta }
            }
            // A directory the archive only made on the way to its entries
            // would have been entered, not replaced, by a direct unpack.
            Some(_) if is_dir(&staged) && !named.contains_key(&path) => {
                return Err(hostile(
                    &shown,
                    "parent path passes through a symlink or non-directory",
                ));
            }
            Some(_) if is_dir(&staged) => Step::Move {
                name,
                clear: Clear::Entry,
            },
            Some(old) if is_dir(&old) => Step::Move {
                name,
                clear: Clear::Tree,
            },
            // rename(2) replaces a non-directory in one step.
            Some(_) => Step::Move {
                name,
                clear: Clear::Nothing,
            },
        };
        steps.push(step);
    }
    Ok(steps)
}

fn apply(stage: RawFd, dest: RawFd, at: &[OsString], steps: &[Step]) -> Result<(), ImageError> {
    for step in steps {
        match step {
            Step::Move { name, clear } => {
                let mut path = at.to_vec();
                path.push(name.clone());
                let shown = display(&path);
                match clear {
                    Clear::Nothing => Ok(()),
                    Clear::Entry => {
                        unlinkat(Some(dest), name.as_os_str(), UnlinkatFlags::NoRemoveDir)
                    }
                    Clear::Tree => open_dir(dest, name).and_then(|d| {
                        remove_dir_contents(d.as_raw_fd())?;
                        unlinkat(Some(dest), name.as_os_str(), UnlinkatFlags::RemoveDir)
                    }),
                }
                .map_err(|e| errno_io(format!("replace {shown}"), e))?;
                renameat(Some(stage), name.as_os_str(), Some(dest), name.as_os_str())
                    .map_err(|e| errno_io(format!("move {shown} into place"), e))?;
            }
            Step::Merge { name, steps, meta } => {
                let mut path = at.to_vec();
                path.push(name.clone());
                let shown = display(&path);
                let s = open_dir(stage, name).map_err(|e| errno_io(format!("open {shown}"), e))?;
                let d = open_dir(dest, name)
                    .map_err(|e| errno_io(format!("open {shown} in the destination"), e))?;
                apply(s.as_raw_fd(), d.as_raw_fd(), &path, steps)?;
                if let Some((st, xattrs)) = meta {
                    set_meta(d.as_raw_fd(), st, xattrs, &shown)?;
                }
            }
        }
    }
    Ok(())
}

/// Gives an existing directory what the archive said of it (as the unpack
/// gave the staged one), after its new children are in: they change its time.
fn set_meta(dir: RawFd, st: &FileStat, xattrs: &Xattrs, shown: &str) -> Result<(), ImageError> {
    // chown before chmod: chown clears set-id bits.
    fchown(
        dir,
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
    )
    .map_err(|e| errno_io(format!("chown {shown}"), e))?;
    fchmod(dir, Mode::from_bits_truncate(st.st_mode & 0o7777))
        .map_err(|e| errno_io(format!("chmod {shown}"), e))?;
    for (k, v) in xattrs {
        set_xattr_fd(dir, k, v, shown)?;
    }
    let t = TimeSpec::new(st.st_mtime, st.st_mtime_nsec);
    futimens(dir, &t, &t).map_err(|e| errno_io(format!("utimes {shown}"), e))
}
