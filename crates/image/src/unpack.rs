//! Unpacking a layer tar into an empty snapshot directory. This is a security
//! boundary: every file is created relative to a directory fd reached from the
//! snapshot root one component at a time with O_NOFOLLOW, so no entry can
//! write through a symlink or outside the root, whatever the paths say.

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{
    FchmodatFlags, FileStat, Mode, SFlag, UtimensatFlags, fchmod, fchmodat, fstatat, futimens,
    mkdirat, mknodat, utimensat,
};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, UnlinkatFlags, fchown, fchownat, linkat, symlinkat, unlinkat};
use tar::EntryType;

use crate::error::ImageError;

const WHITEOUT_PREFIX: &str = ".wh.";
const WHITEOUT_META_PREFIX: &str = ".wh..wh.";
const WHITEOUT_OPAQUE: &str = ".wh..wh..opq";
const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";
const PAX_XATTR_PREFIX: &str = "SCHILY.xattr.";

/// What to do with OCI whiteout entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhiteoutMode {
    /// Bottom layer: there is nothing below to hide, so whiteouts are dropped.
    Skip,
    /// Upper layer for overlayfs: `.wh.x` → char 0/0 `x`, `.wh..wh..opq` →
    /// `trusted.overlay.opaque=y` on the directory.
    Overlay,
}

#[derive(Debug, Clone, Copy)]
pub struct UnpackOptions {
    /// Char/block devices and fifos: data in image layers and `docker cp`
    /// (the device cgroup, not the archive, keeps containers off host
    /// devices); refused only where they make no sense (a build context).
    pub allow_devices: bool,
    pub whiteouts: WhiteoutMode,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct UnpackStats {
    /// Bytes of regular file content (hardlinks counted once), Docker's layer size.
    pub size: u64,
    pub entries: u64,
    /// Whiteout entries taken in `Overlay` mode (none in `Skip` mode): a
    /// layer without any unpacks the same in either mode.
    pub whiteouts: u64,
}

/// Writes a regular file's content into the file the unpacker created;
/// returns the bytes written. The default copies; `docker load` also
/// unpacks each layer file as it passes (see `crate::stage`).
pub trait FileSink {
    fn fill(&mut self, data: &mut dyn Read, size: u64, file: &mut File) -> io::Result<u64>;
}

/// Copies in chunks of up to 256 KiB: `io::copy`'s 8 KiB made a 1 MB
/// file 128 reads and 128 writes, a tenth of a `docker cp` into a container.
#[derive(Default)]
struct Copy {
    buf: Vec<u8>,
}

impl FileSink for Copy {
    fn fill(&mut self, data: &mut dyn Read, size: u64, file: &mut File) -> io::Result<u64> {
        use std::io::Write;
        let want = usize::try_from(size)
            .unwrap_or(usize::MAX)
            .clamp(1, 256 << 10);
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        let mut n = 0u64;
        loop {
            let got = match data.read(&mut self.buf[..want]) {
                Ok(0) => return Ok(n),
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            file.write_all(&self.buf[..got])?;
            n += got as u64;
        }
    }
}

/// Unpacks `reader` into `dest`, which must be an existing directory that
/// nobody else writes to. On error `dest` holds a partial tree; the caller
/// discards it.
pub fn unpack<R: Read>(
    reader: R,
    dest: &Path,
    opts: &UnpackOptions,
) -> Result<UnpackStats, ImageError> {
    unpack_into(reader, open_dir_path(dest)?, opts)
}

/// Like [`unpack`], into an already opened directory (one the caller reached
/// safely, e.g. inside a container's root).
pub fn unpack_into<R: Read>(
    reader: R,
    root: OwnedFd,
    opts: &UnpackOptions,
) -> Result<UnpackStats, ImageError> {
    unpack_into_with(reader, root, opts, &mut Copy::default())
}

/// Like [`unpack`], for a tree that is made durable once whole (a layer's
/// snapshot, see `fsutil::sync_tree`): the disk starts writing each file
/// out as soon as it is complete, so the final fsyncs find little to wait for.
pub(crate) fn unpack_durable<R: Read>(
    reader: R,
    dest: &Path,
    opts: &UnpackOptions,
) -> Result<UnpackStats, ImageError> {
    unpack_into_with(
        reader,
        open_dir_path(dest)?,
        opts,
        &mut Writeback(Copy::default()),
    )
}

/// [`Copy`], then the file's writeback started.
struct Writeback(Copy);

impl FileSink for Writeback {
    fn fill(&mut self, data: &mut dyn Read, size: u64, file: &mut File) -> io::Result<u64> {
        let n = self.0.fill(data, size, file)?;
        crate::ingest::start_writeback(file);
        Ok(n)
    }
}

/// Like [`unpack`], with `sink` writing the content of regular files.
pub fn unpack_with<R: Read>(
    reader: R,
    dest: &Path,
    opts: &UnpackOptions,
    sink: &mut dyn FileSink,
) -> Result<UnpackStats, ImageError> {
    unpack_into_with(reader, open_dir_path(dest)?, opts, sink)
}

fn unpack_into_with<R: Read>(
    reader: R,
    root: OwnedFd,
    opts: &UnpackOptions,
    sink: &mut dyn FileSink,
) -> Result<UnpackStats, ImageError> {
    run(reader, root, opts, sink, None)
}

/// The extended attributes of each directory entry of an archive, by path
/// (the root's under the empty path).
pub(crate) type DirEntries = std::collections::HashMap<Vec<OsString>, Xattrs>;

/// Extended attributes as an archive carries them: name and value.
pub(crate) type Xattrs = Vec<(String, Vec<u8>)>;

/// Like [`unpack_into`], also naming the directories the archive itself
/// carries (as opposed to parents made on the way): a staged unpack gives
/// only those their metadata when it merges them into existing ones.
pub(crate) fn unpack_into_naming_dirs<R: Read>(
    reader: R,
    root: OwnedFd,
    opts: &UnpackOptions,
) -> Result<(UnpackStats, DirEntries), ImageError> {
    let mut named = DirEntries::new();
    let stats = run(reader, root, opts, &mut Copy::default(), Some(&mut named))?;
    Ok((stats, named))
}

fn run<R: Read>(
    reader: R,
    root: OwnedFd,
    opts: &UnpackOptions,
    sink: &mut dyn FileSink,
    named_dirs: Option<&mut DirEntries>,
) -> Result<UnpackStats, ImageError> {
    let mut u = Unpacker {
        root,
        opts: *opts,
        dirs: Vec::new(),
        cache: None,
        stats: UnpackStats::default(),
        sink,
        named_dirs,
    };
    let mut archive = tar::Archive::new(reader);
    let entries = archive.entries().map_err(archive_err)?;
    for entry in entries {
        let mut entry = entry.map_err(archive_err)?;
        u.entry(&mut entry)?;
        u.stats.entries += 1;
    }
    u.finish_dirs()?;
    Ok(u.stats)
}

/// Format and decoding errors are the client's fault (400); others are ours.
pub(crate) fn archive_err(e: io::Error) -> ImageError {
    match e.kind() {
        io::ErrorKind::Other
        | io::ErrorKind::InvalidData
        | io::ErrorKind::InvalidInput
        | io::ErrorKind::UnexpectedEof => ImageError::InvalidArchive(e.to_string()),
        _ => ImageError::io("read archive", e),
    }
}

pub(crate) fn hostile(path: &str, why: &str) -> ImageError {
    ImageError::InvalidArchive(format!("{path}: {why}"))
}

/// Lexically cleans an archive path into components below the root.
/// Accepts `x` and `./x`; rejects absolute paths and `..` that climbs out.
fn clean_path(raw: &[u8]) -> Result<Vec<OsString>, String> {
    if raw.first() == Some(&b'/') {
        return Err("absolute path".into());
    }
    if raw.contains(&0) {
        return Err("NUL byte in path".into());
    }
    let mut out: Vec<OsString> = Vec::new();
    for c in raw.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() {
                    return Err("path climbs out of the root".into());
                }
            }
            c => out.push(OsStr::from_bytes(c).to_os_string()),
        }
    }
    Ok(out)
}

/// A symlink's target is data: "../../../etc/passwd" is stored as Docker
/// stores it, and resolves inside the container's root at run time. Only a
/// target the kernel cannot store is refused.
fn symlink_target_ok(target: &[u8]) -> bool {
    !target.is_empty() && !target.contains(&0)
}

pub(crate) fn display(comps: &[OsString]) -> String {
    let v: Vec<_> = comps.iter().map(|c| c.to_string_lossy()).collect();
    format!("/{}", v.join("/"))
}

pub(crate) fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: `fd` was just returned by a successful open and is owned by no one else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn open_dir_path(p: &Path) -> Result<OwnedFd, ImageError> {
    let fd = nix::fcntl::open(
        p,
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
        Mode::empty(),
    )
    .map_err(|e| ImageError::io(format!("open {}", p.display()), e.into()))?;
    Ok(owned(fd))
}

pub(crate) fn errno_io(what: String, e: Errno) -> ImageError {
    ImageError::io(what, io::Error::from(e))
}

struct Unpacker<'a> {
    root: OwnedFd,
    opts: UnpackOptions,
    /// Directory metadata applied last, because creating children changes mtimes.
    dirs: Vec<(Vec<OsString>, i64)>,
    /// Parent directory of the previous entry (archives are mostly grouped by directory).
    cache: Option<(Vec<OsString>, OwnedFd)>,
    stats: UnpackStats,
    sink: &'a mut dyn FileSink,
    named_dirs: Option<&'a mut DirEntries>,
}

impl Unpacker<'_> {
    /// Opens the directory `comps` below the root without following any
    /// symlink; `create` makes missing directories (0755, as Docker does).
    fn walk(&self, comps: &[OsString], create: bool, entry: &str) -> Result<OwnedFd, ImageError> {
        let flags = OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
        let mut cur = owned(
            openat(Some(self.root.as_raw_fd()), ".", flags, Mode::empty())
                .map_err(|e| errno_io("open snapshot root".into(), e))?,
        );
        for c in comps {
            let next = match openat(Some(cur.as_raw_fd()), c.as_os_str(), flags, Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) if create => {
                    match mkdirat(
                        Some(cur.as_raw_fd()),
                        c.as_os_str(),
                        Mode::from_bits_truncate(0o755),
                    ) {
                        Ok(()) | Err(Errno::EEXIST) => {}
                        Err(e) => return Err(errno_io(format!("mkdir for {entry}"), e)),
                    }
                    openat(Some(cur.as_raw_fd()), c.as_os_str(), flags, Mode::empty())
                        .map_err(|e| walk_err(entry, e))?
                }
                Err(e) => return Err(walk_err(entry, e)),
            };
            cur = owned(next);
        }
        Ok(cur)
    }

    fn parent(&mut self, comps: &[OsString], entry: &str) -> Result<RawFd, ImageError> {
        let hit = matches!(&self.cache, Some((c, _)) if c.as_slice() == comps);
        if !hit {
            let fd = self.walk(comps, true, entry)?;
            self.cache = Some((comps.to_vec(), fd));
        }
        Ok(self.cache.as_ref().expect("cached").1.as_raw_fd())
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), ImageError> {
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let comps = clean_path(&raw).map_err(|why| hostile(&shown, &why))?;
        let header = entry.header().clone();
        let kind = header.entry_type();
        let mtime = header.mtime().unwrap_or(0) as i64;
        let uid = header.uid().map_err(archive_err)? as u32;
        let gid = header.gid().map_err(archive_err)? as u32;
        let mode = header.mode().map_err(archive_err)? & 0o7777;
        let xattrs = pax_xattrs(entry)?;

        let Some((name, parent_comps)) = comps.split_last() else {
            // "./": the root directory itself.
            if kind.is_dir() {
                let root = self.root.as_raw_fd();
                fchown(root, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)))
                    .map_err(|e| errno_io("chown root".into(), e))?;
                fchmod(root, Mode::from_bits_truncate(mode))
                    .map_err(|e| errno_io("chmod root".into(), e))?;
                self.dirs.push((Vec::new(), mtime));
                if let Some(named) = self.named_dirs.as_deref_mut() {
                    named.insert(Vec::new(), xattrs);
                }
                return Ok(());
            }
            return Err(hostile(&shown, "non-directory entry for the root"));
        };
        let name_str = name.to_string_lossy();
        if name_str.starts_with(WHITEOUT_PREFIX) {
            return self.whiteout(parent_comps, &name_str, &shown);
        }

        let parent = self.parent(parent_comps, &shown)?;
        let existing = match fstatat(Some(parent), name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => Some(st),
            Err(Errno::ENOENT) => None,
            Err(e) => return Err(errno_io(format!("stat {shown}"), e)),
        };
        // A later entry for the same path replaces the earlier one, except that
        // directories merge.
        if let Some(st) = existing {
            let is_dir = st.st_mode & libc::S_IFMT == libc::S_IFDIR;
            if !(is_dir && kind.is_dir()) {
                self.remove_existing(parent, name, &st, &shown)?;
            }
        }
        let parent = self.parent(parent_comps, &shown)?;
        let ids = (Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)));
        let times = |s: i64| (TimeSpec::new(s, 0), TimeSpec::new(s, 0));

        match kind {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let fd = openat(
                    Some(parent),
                    name.as_os_str(),
                    OFlag::O_WRONLY
                        | OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o600),
                )
                .map_err(|e| errno_io(format!("create {shown}"), e))?;
                let mut file = File::from(owned(fd));
                let size = header.size().map_err(archive_err)?;
                let n = self
                    .sink
                    .fill(entry, size, &mut file)
                    .map_err(archive_err)?;
                self.stats.size += n;
                let fd = file.as_raw_fd();
                // chown before chmod: chown clears set-id bits.
                fchown(fd, ids.0, ids.1).map_err(|e| errno_io(format!("chown {shown}"), e))?;
                fchmod(fd, Mode::from_bits_truncate(mode))
                    .map_err(|e| errno_io(format!("chmod {shown}"), e))?;
                for (k, v) in &xattrs {
                    set_xattr_fd(fd, k, v, &shown)?;
                }
                let (a, m) = times(mtime);
                futimens(fd, &a, &m).map_err(|e| errno_io(format!("utimes {shown}"), e))?;
            }
            EntryType::Directory => {
                if existing.is_none() {
                    mkdirat(
                        Some(parent),
                        name.as_os_str(),
                        Mode::from_bits_truncate(0o700),
                    )
                    .map_err(|e| errno_io(format!("mkdir {shown}"), e))?;
                }
                let dir = self.walk(&comps, false, &shown)?;
                let fd = dir.as_raw_fd();
                fchown(fd, ids.0, ids.1).map_err(|e| errno_io(format!("chown {shown}"), e))?;
                fchmod(fd, Mode::from_bits_truncate(mode))
                    .map_err(|e| errno_io(format!("chmod {shown}"), e))?;
                for (k, v) in &xattrs {
                    set_xattr_fd(fd, k, v, &shown)?;
                }
                self.dirs.push((comps.clone(), mtime));
                if let Some(named) = self.named_dirs.as_deref_mut() {
                    named.insert(comps.clone(), xattrs);
                }
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| hostile(&shown, "symlink without target"))?
                    .into_owned();
                if !symlink_target_ok(&target) {
                    return Err(hostile(&shown, "symlink target is empty or has a NUL byte"));
                }
                symlinkat(OsStr::from_bytes(&target), Some(parent), name.as_os_str())
                    .map_err(|e| errno_io(format!("symlink {shown}"), e))?;
                fchownat(
                    Some(parent),
                    name.as_os_str(),
                    ids.0,
                    ids.1,
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(|e| errno_io(format!("lchown {shown}"), e))?;
                let (a, m) = times(mtime);
                utimensat(
                    Some(parent),
                    name.as_os_str(),
                    &a,
                    &m,
                    UtimensatFlags::NoFollowSymlink,
                )
                .map_err(|e| errno_io(format!("utimes {shown}"), e))?;
            }
            EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| hostile(&shown, "hardlink without target"))?
                    .into_owned();
                let tcomps = clean_path(&target)
                    .map_err(|why| hostile(&shown, &format!("hardlink target: {why}")))?;
                let Some((tname, tparent)) = tcomps.split_last() else {
                    return Err(hostile(&shown, "hardlink to the root"));
                };
                let tdir = self.walk(tparent, false, &shown)?;
                match fstatat(
                    Some(tdir.as_raw_fd()),
                    tname.as_os_str(),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                ) {
                    Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {
                        return Err(hostile(&shown, "hardlink to a directory"));
                    }
                    Ok(_) => {}
                    Err(_) => return Err(hostile(&shown, "hardlink target not in archive")),
                }
                // No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself.
                linkat(
                    Some(tdir.as_raw_fd()),
                    tname.as_os_str(),
                    Some(parent),
                    name.as_os_str(),
                    AtFlags::empty(),
                )
                .map_err(|e| errno_io(format!("link {shown}"), e))?;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                if !self.opts.allow_devices {
                    return Err(hostile(&shown, "device or fifo entries are not allowed"));
                }
                let (sflag, dev) = match kind {
                    EntryType::Fifo => (SFlag::S_IFIFO, 0),
                    t => {
                        let major = header.device_major().ok().flatten().unwrap_or(0);
                        let minor = header.device_minor().ok().flatten().unwrap_or(0);
                        let f = if t == EntryType::Char {
                            SFlag::S_IFCHR
                        } else {
                            SFlag::S_IFBLK
                        };
                        (f, libc::makedev(major, minor))
                    }
                };
                mknodat(
                    Some(parent),
                    name.as_os_str(),
                    sflag,
                    Mode::from_bits_truncate(mode),
                    dev,
                )
                .map_err(|e| errno_io(format!("mknod {shown}"), e))?;
                fchownat(
                    Some(parent),
                    name.as_os_str(),
                    ids.0,
                    ids.1,
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(|e| errno_io(format!("chown {shown}"), e))?;
                // mknod applied the daemon's umask and chown cleared set-id
                // bits; the node we just made is no symlink, so chmod by name
                // changes the inode without opening the device.
                fchmodat(
                    Some(parent),
                    name.as_os_str(),
                    Mode::from_bits_truncate(mode),
                    FchmodatFlags::FollowSymlink,
                )
                .map_err(|e| errno_io(format!("chmod {shown}"), e))?;
                let (a, m) = times(mtime);
                utimensat(
                    Some(parent),
                    name.as_os_str(),
                    &a,
                    &m,
                    UtimensatFlags::NoFollowSymlink,
                )
                .map_err(|e| errno_io(format!("utimes {shown}"), e))?;
            }
            EntryType::XGlobalHeader => {}
            other => {
                return Err(hostile(
                    &shown,
                    &format!("unsupported entry type {other:?}"),
                ));
            }
        }
        Ok(())
    }

    fn whiteout(
        &mut self,
        parent_comps: &[OsString],
        name: &str,
        shown: &str,
    ) -> Result<(), ImageError> {
        if self.opts.whiteouts == WhiteoutMode::Skip {
            return Ok(());
        }
        // Every one, meta too: even those make their parents here.
        self.stats.whiteouts += 1;
        let parent = self.parent(parent_comps, shown)?;
        if name == WHITEOUT_OPAQUE {
            let dir = self.walk(parent_comps, false, shown)?;
            return set_xattr_fd(dir.as_raw_fd(), OVERLAY_OPAQUE_XATTR, b"y", shown);
        }
        if name.starts_with(WHITEOUT_META_PREFIX) {
            // aufs bookkeeping (e.g. .wh..wh.plnk); meaningless for overlay.
            return Ok(());
        }
        let target = OsString::from(&name[WHITEOUT_PREFIX.len()..]);
        if target.is_empty() || target == "." || target == ".." {
            return Err(hostile(shown, "invalid whiteout"));
        }
        if let Ok(st) = fstatat(
            Some(parent),
            target.as_os_str(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            self.remove_existing(parent, &target, &st, shown)?;
        }
        let parent = self.parent(parent_comps, shown)?;
        mknodat(
            Some(parent),
            target.as_os_str(),
            SFlag::S_IFCHR,
            Mode::empty(),
            libc::makedev(0, 0),
        )
        .map_err(|e| errno_io(format!("whiteout {shown}"), e))
    }

    fn remove_existing(
        &mut self,
        parent: RawFd,
        name: &OsStr,
        st: &FileStat,
        shown: &str,
    ) -> Result<(), ImageError> {
        if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            // The cached fd is `parent` itself, which stays valid: only a
            // child of it goes away.
            let dir = owned(
                openat(
                    Some(parent),
                    name,
                    OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
                    Mode::empty(),
                )
                .map_err(|e| errno_io(format!("open {shown}"), e))?,
            );
            remove_dir_contents(dir.as_raw_fd())
                .map_err(|e| errno_io(format!("remove {shown}"), e))?;
            unlinkat(Some(parent), name, UnlinkatFlags::RemoveDir)
        } else {
            unlinkat(Some(parent), name, UnlinkatFlags::NoRemoveDir)
        }
        .map_err(|e| errno_io(format!("replace {shown}"), e))
    }

    fn finish_dirs(&mut self) -> Result<(), ImageError> {
        self.cache = None;
        let dirs = std::mem::take(&mut self.dirs);
        for (comps, mtime) in dirs.iter().rev() {
            let shown = display(comps);
            // The directory may have been replaced by a later entry.
            let Ok(dir) = self.walk(comps, false, &shown) else {
                continue;
            };
            let t = TimeSpec::new(*mtime, 0);
            futimens(dir.as_raw_fd(), &t, &t)
                .map_err(|e| errno_io(format!("utimes {shown}"), e))?;
        }
        Ok(())
    }
}

fn walk_err(entry: &str, e: Errno) -> ImageError {
    match e {
        Errno::ELOOP | Errno::ENOTDIR => hostile(
            entry,
            "parent path passes through a symlink or non-directory",
        ),
        Errno::ENOENT => hostile(entry, "parent directory not in archive"),
        e => errno_io(format!("open parent of {entry}"), e),
    }
}

/// Recursive removal relative to a directory fd (never follows symlinks).
pub(crate) fn remove_dir_contents(dirfd: RawFd) -> Result<(), Errno> {
    let mut dir = nix::dir::Dir::from_fd(nix::unistd::dup(dirfd)?)?;
    let mut names = Vec::new();
    for e in dir.iter() {
        let e = e?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push((e.file_name().to_owned(), e.file_type()));
        }
    }
    for (n, t) in names {
        let is_dir = match t {
            Some(nix::dir::Type::Directory) => true,
            Some(_) => false,
            None => {
                let st = fstatat(Some(dirfd), n.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW)?;
                st.st_mode & libc::S_IFMT == libc::S_IFDIR
            }
        };
        if is_dir {
            let sub = owned(openat(
                Some(dirfd),
                n.as_c_str(),
                OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW,
                Mode::empty(),
            )?);
            remove_dir_contents(sub.as_raw_fd())?;
            unlinkat(Some(dirfd), n.as_c_str(), UnlinkatFlags::RemoveDir)?;
        } else {
            unlinkat(Some(dirfd), n.as_c_str(), UnlinkatFlags::NoRemoveDir)?;
        }
    }
    Ok(())
}

/// Extended attributes carried in PAX headers; overlay's own attributes are
/// dropped because an archive must not steer overlayfs lookups.
fn pax_xattrs<R: Read>(
    entry: &mut tar::Entry<'_, R>,
) -> Result<Vec<(String, Vec<u8>)>, ImageError> {
    let mut out = Vec::new();
    if let Some(exts) = entry.pax_extensions().map_err(archive_err)? {
        for ext in exts {
            let ext = ext.map_err(archive_err)?;
            let Ok(key) = ext.key() else { continue };
            if let Some(name) = key.strip_prefix(PAX_XATTR_PREFIX)
                && !name.starts_with("trusted.overlay.")
            {
                out.push((name.to_string(), ext.value_bytes().to_vec()));
            }
        }
    }
    Ok(out)
}

pub(crate) fn set_xattr_fd(
    fd: RawFd,
    name: &str,
    value: &[u8],
    shown: &str,
) -> Result<(), ImageError> {
    let cname = CString::new(name).map_err(|_| hostile(shown, "NUL in xattr name"))?;
    // SAFETY: valid fd, NUL-terminated name, value pointer/length from a slice.
    let rc = unsafe { libc::fsetxattr(fd, cname.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        // Filesystems without xattr support lose the attribute, as with Docker.
        Some(libc::ENOTSUP) => Ok(()),
        _ => Err(ImageError::io(format!("setxattr {name} on {shown}"), err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_paths() {
        let ok = |s: &str| clean_path(s.as_bytes()).unwrap();
        assert_eq!(ok("a/b"), vec!["a", "b"]);
        assert_eq!(ok("./a//b/"), vec!["a", "b"]);
        assert_eq!(ok("a/../b"), vec!["b"]);
        assert!(ok("./").is_empty());
        assert!(clean_path(b"/etc/passwd").is_err());
        assert!(clean_path(b"../x").is_err());
        assert!(clean_path(b"a/../../x").is_err());
    }

    #[test]
    fn symlink_targets() {
        // Targets are data: climbing ones resolve inside the root at run time.
        assert!(symlink_target_ok(b"busybox"));
        assert!(symlink_target_ok(b"/bin/busybox"));
        assert!(symlink_target_ok(b"../../../etc/passwd"));
        assert!(symlink_target_ok(b".."));
        assert!(!symlink_target_ok(b""));
        assert!(!symlink_target_ok(b"a\0b"));
    }
}

#[cfg(test)]
mod node_tests {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};

    use super::*;

    fn node(kind: EntryType, name: &str, mode: u32, owner: (u64, u64), dev: (u32, u32)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(owner.0);
        h.set_gid(owner.1);
        h.set_mtime(1_700_000_000);
        h.set_size(0);
        h.set_device_major(dev.0).unwrap();
        h.set_device_minor(dev.1).unwrap();
        b.append_data(&mut h, name, io::empty()).unwrap();
        b.into_inner().unwrap()
    }

    fn opts(allow_devices: bool) -> UnpackOptions {
        UnpackOptions {
            allow_devices,
            whiteouts: WhiteoutMode::Skip,
        }
    }

    /// As dockerd as root: type, numbers, full mode (whatever the umask),
    /// owner and mtime of each node, which is never opened.
    #[test]
    fn devices_and_fifos_keep_numbers_mode_owner_and_mtime() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: mknod of devices needs root");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (EntryType::Char, "null", 0o666, (0, 0), (1, 3)),
            (EntryType::Block, "loop0", 0o4660, (0, 6), (7, 0)),
            (EntryType::Fifo, "fifo", 0o640, (1000, 1000), (0, 0)),
        ];
        for (kind, name, mode, owner, dev) in cases {
            unpack(
                &node(kind, name, mode, owner, dev)[..],
                dir.path(),
                &opts(true),
            )
            .unwrap();
            let m = std::fs::symlink_metadata(dir.path().join(name)).unwrap();
            let ft = m.file_type();
            let right_type = match kind {
                EntryType::Char => ft.is_char_device(),
                EntryType::Block => ft.is_block_device(),
                _ => ft.is_fifo(),
            };
            assert!(right_type, "{name}: {ft:?}");
            assert_eq!(m.mode() & 0o7777, mode, "{name}");
            assert_eq!((m.uid() as u64, m.gid() as u64), owner, "{name}");
            assert_eq!(
                (libc::major(m.rdev()), libc::minor(m.rdev())),
                dev,
                "{name}"
            );
            assert_eq!(m.mtime(), 1_700_000_000, "{name}");
        }
    }

    #[test]
    fn devices_are_refused_where_not_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let tar = node(EntryType::Block, "sda", 0o660, (0, 0), (8, 0));
        let err = unpack(&tar[..], dir.path(), &opts(false)).unwrap_err();
        assert!(
            err.to_string()
                .contains("device or fifo entries are not allowed"),
            "{err}"
        );
        assert!(std::fs::symlink_metadata(dir.path().join("sda")).is_err());
    }
}
