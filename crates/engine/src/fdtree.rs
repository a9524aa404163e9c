//! Trees inside a container walked through directory descriptors, one
//! component at a time with `O_NOFOLLOW`, never by path: a process in the
//! container can swap any directory of the tree for a symlink while we walk
//! it (the CVE-2018-15664 pattern), and a path walk would then follow the
//! link out to the host. Here a swapped directory fails its own open, and
//! nothing outside the directory we started from is ever reached.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use nix::dir::Dir;
use nix::fcntl::{AtFlags, OFlag, openat, readlinkat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, fstatat};
use nix::unistd::{Gid, Uid, fchownat};

fn io(e: nix::Error) -> std::io::Error {
    std::io::Error::from_raw_os_error(e as i32)
}

fn open_at(dir: BorrowedFd<'_>, name: &OsStr, flags: OFlag) -> std::io::Result<OwnedFd> {
    let fd = openat(
        Some(dir.as_raw_fd()),
        name,
        flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(io)?;
    // SAFETY: openat just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Opens directory `name` of `dir`; fails on anything else, links included.
pub(crate) fn open_dir(dir: BorrowedFd<'_>, name: &OsStr) -> std::io::Result<OwnedFd> {
    open_at(dir, name, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
}

/// lstat of entry `name` of `dir`.
pub(crate) fn stat_at(dir: BorrowedFd<'_>, name: &OsStr) -> std::io::Result<FileStat> {
    fstatat(Some(dir.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW).map_err(io)
}

pub(crate) fn kind(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits())
}

/// The names in a directory (without `.` and `..`), sorted.
pub(crate) fn entries(dir: BorrowedFd<'_>) -> std::io::Result<Vec<OsString>> {
    // Dir takes (and closes) the descriptor it reads: a duplicate, so ours
    // stays open.
    let dup = dir.try_clone_to_owned()?;
    let mut d = Dir::from_fd(dup.into_raw_fd()).map_err(io)?;
    let mut names: Vec<OsString> = d
        .iter()
        .filter_map(Result::ok)
        .map(|e| OsStr::from_bytes(e.file_name().to_bytes()).to_os_string())
        .filter(|n| n != "." && n != "..")
        .collect();
    names.sort();
    Ok(names)
}

/// How owners on disk are written into an archive or onto disk from one:
/// the identity, or a remapped container's host ids to its own and back.
pub(crate) type Owners<'a> = &'a dyn Fn(u32, u32) -> (u32, u32);

/// Owners as they are.
#[cfg(test)]
pub(crate) fn same_owners(uid: u32, gid: u32) -> (u32, u32) {
    (uid, gid)
}

/// Appends entry `name` of directory `dir`, and all below it when it is a
/// directory, as `as_name` (a directory's own entry gets a trailing `/`).
/// An empty `name` is `dir` itself.
pub(crate) fn append<W: Write>(
    builder: &mut tar::Builder<W>,
    dir: BorrowedFd<'_>,
    name: &OsStr,
    as_name: &str,
    owners: Owners<'_>,
) -> std::io::Result<()> {
    if name.is_empty() {
        let st = fstat(dir.as_raw_fd()).map_err(io)?;
        return append_dir(builder, dir, &st, as_name, owners);
    }
    let st = fstatat(Some(dir.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW).map_err(io)?;
    let k = kind(&st);
    if k == SFlag::S_IFDIR {
        let sub = open_at(dir, name, OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
        let st = fstat(sub.as_raw_fd()).map_err(io)?;
        return append_dir(builder, sub.as_fd(), &st, as_name, owners);
    }
    let mut h = header(&st, owners);
    if k == SFlag::S_IFREG {
        // The header comes from the file we opened, not from the name:
        // whatever the name points at by now is not what we read.
        let file = std::fs::File::from(open_at(dir, name, OFlag::O_RDONLY | OFlag::O_NONBLOCK)?);
        let st = fstat(file.as_raw_fd()).map_err(io)?;
        if kind(&st) != SFlag::S_IFREG {
            return Err(std::io::Error::other(format!(
                "{as_name} changed while it was archived"
            )));
        }
        h = header(&st, owners);
        return put(builder, &mut h, as_name, file);
    }
    if k == SFlag::S_IFLNK {
        let target = readlinkat(Some(dir.as_raw_fd()), name).map_err(io)?;
        h.set_link_name_literal(target.as_bytes())?;
    }
    if k == SFlag::S_IFSOCK {
        // Sockets are not archived (tar has no type for them), as dockerd.
        return Ok(());
    }
    put(builder, &mut h, as_name, std::io::empty())
}

fn append_dir<W: Write>(
    builder: &mut tar::Builder<W>,
    dir: BorrowedFd<'_>,
    st: &FileStat,
    as_name: &str,
    owners: Owners<'_>,
) -> std::io::Result<()> {
    let mut h = header(st, owners);
    let own = if as_name.ends_with('/') {
        as_name.to_string()
    } else {
        format!("{as_name}/")
    };
    put(builder, &mut h, &own, std::io::empty())?;
    for child in entries(dir)? {
        let child_name = format!("{own}{}", child.to_string_lossy());
        append(builder, dir, &child, &child_name, owners)?;
    }
    Ok(())
}

fn header(st: &FileStat, owners: Owners<'_>) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_mode(st.st_mode & 0o7777);
    let (uid, gid) = owners(st.st_uid, st.st_gid);
    h.set_uid(u64::from(uid));
    h.set_gid(u64::from(gid));
    h.set_mtime(u64::try_from(st.st_mtime).unwrap_or(0));
    h.set_size(0);
    let k = kind(st);
    let entry = if k == SFlag::S_IFDIR {
        tar::EntryType::Directory
    } else if k == SFlag::S_IFLNK {
        tar::EntryType::Symlink
    } else if k == SFlag::S_IFCHR {
        tar::EntryType::Char
    } else if k == SFlag::S_IFBLK {
        tar::EntryType::Block
    } else if k == SFlag::S_IFIFO {
        tar::EntryType::Fifo
    } else {
        h.set_size(u64::try_from(st.st_size).unwrap_or(0));
        tar::EntryType::Regular
    };
    h.set_entry_type(entry);
    if matches!(entry, tar::EntryType::Char | tar::EntryType::Block) {
        let _ = h.set_device_major(nix::sys::stat::major(st.st_rdev) as u32);
        let _ = h.set_device_minor(nix::sys::stat::minor(st.st_rdev) as u32);
    }
    h
}

/// Writes one entry. Names under 100 bytes go in the header as they are
/// (the crate's setters would drop a leading `./`, which dockerd's archives
/// of `dir/.` keep); longer ones through the crate's GNU long names.
fn put<W: Write>(
    builder: &mut tar::Builder<W>,
    h: &mut tar::Header,
    name: &str,
    data: impl std::io::Read,
) -> std::io::Result<()> {
    if name.len() < 100 {
        let field = &mut h.as_old_mut().name;
        field.fill(0);
        field[..name.len()].copy_from_slice(name.as_bytes());
        h.set_cksum();
        builder.append(h, data)
    } else {
        builder.append_data(h, name, data)
    }
}

/// `chown -R --no-dereference` of entry `name` of `dir`, walked the same way.
pub(crate) fn chown(dir: BorrowedFd<'_>, name: &OsStr, uid: u32, gid: u32) -> std::io::Result<()> {
    rechown(dir, name, &|_, _| (uid, gid), false)
}

/// Gives every entry from `name` down the owner `owners` makes of its own
/// (a remapped container's host ids for the ids an archive named); set-id
/// bits, which chown clears, are put back.
pub(crate) fn map_owners(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    owners: Owners<'_>,
) -> std::io::Result<()> {
    rechown(dir, name, owners, true)
}

fn rechown(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    owners: Owners<'_>,
    keep_setid: bool,
) -> std::io::Result<()> {
    let st = fstatat(Some(dir.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW).map_err(io)?;
    let (uid, gid) = owners(st.st_uid, st.st_gid);
    fchownat(
        Some(dir.as_raw_fd()),
        name,
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(io)?;
    let k = kind(&st);
    if keep_setid && k == SFlag::S_IFREG && st.st_mode & 0o6000 != 0 {
        nix::sys::stat::fchmodat(
            Some(dir.as_raw_fd()),
            name,
            nix::sys::stat::Mode::from_bits_truncate(st.st_mode & 0o7777),
            nix::sys::stat::FchmodatFlags::NoFollowSymlink,
        )
        .map_err(io)?;
    }
    if k != SFlag::S_IFDIR {
        return Ok(());
    }
    let sub = open_at(dir, name, OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
    for child in entries(sub.as_fd())? {
        rechown(sub.as_fd(), &child, owners, keep_setid)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn names(tar_bytes: &[u8]) -> Vec<(String, tar::EntryType)> {
        let mut a = tar::Archive::new(tar_bytes);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let raw = e.path_bytes().into_owned();
                (String::from_utf8(raw).unwrap(), e.header().entry_type())
            })
            .collect()
    }

    #[test]
    fn a_tree_is_archived_without_following_its_links() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "host").unwrap();
        let root = tempfile::tempdir().unwrap();
        let d = root.path().join("d");
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(d.join("sub/f"), "data").unwrap();
        symlink(outside.path(), d.join("out")).unwrap();
        let top = std::fs::File::open(root.path()).unwrap();
        let mut b = tar::Builder::new(Vec::new());
        append(&mut b, top.as_fd(), OsStr::new("d"), "d", &same_owners).unwrap();
        let bytes = b.into_inner().unwrap();
        assert_eq!(
            names(&bytes),
            [
                ("d/".to_string(), tar::EntryType::Directory),
                ("d/out".to_string(), tar::EntryType::Symlink),
                ("d/sub/".to_string(), tar::EntryType::Directory),
                ("d/sub/f".to_string(), tar::EntryType::Regular),
            ]
        );
        assert!(!String::from_utf8_lossy(&bytes).contains("host"));
        // The dot form, from the directory itself.
        let dfd = std::fs::File::open(&d).unwrap();
        let mut b = tar::Builder::new(Vec::new());
        append(&mut b, dfd.as_fd(), OsStr::new(""), ".", &same_owners).unwrap();
        let n = names(&b.into_inner().unwrap());
        assert_eq!(n[0].0, "./");
        assert_eq!(n[3].0, "./sub/f");
    }

    #[test]
    fn a_directory_swapped_for_a_link_is_not_followed() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "host").unwrap();
        let root = tempfile::tempdir().unwrap();
        symlink(outside.path(), root.path().join("sub")).unwrap();
        let top = std::fs::File::open(root.path()).unwrap();
        // As if `sub` had been a directory when its parent was listed.
        assert!(open_at(top.as_fd(), OsStr::new("sub"), OFlag::O_DIRECTORY).is_err());
        chown(top.as_fd(), OsStr::new("sub"), 4242, 4242).unwrap();
        use std::os::unix::fs::MetadataExt;
        let secret = std::fs::metadata(outside.path().join("secret")).unwrap();
        assert_ne!(secret.uid(), 4242, "chown went through the link");
    }
}
