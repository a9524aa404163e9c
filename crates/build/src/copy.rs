//! COPY/ADD file work: resolving sources (globs, symlinks, context escapes),
//! hashing them for the cache, and copying them into a mounted rootfs with
//! Docker's directory rules. Every destination path is resolved inside the
//! rootfs, so symlinks in the image cannot send writes outside it.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt, symlink};
use std::path::{Component, Path, PathBuf};

use dockerfile::ignore::{clean_path, glob_match, has_glob};
use nix::sys::stat::{Mode, SFlag, mknod};
use sha2::{Digest, Sha256};

use crate::error::{BuildError, Result};

/// One resolved source.
#[derive(Debug, Clone)]
pub struct Source {
    /// Host path (inside the context or a mounted image rootfs).
    pub host: PathBuf,
    /// Its path relative to the source root, for names and hashes.
    pub rel: String,
    pub is_dir: bool,
}

fn walk_rel(dir: &Path, rel: &str, out: &mut Vec<(String, PathBuf)>) -> io::Result<()> {
    let mut names: Vec<_> = fs::read_dir(dir)?.collect::<io::Result<Vec<_>>>()?;
    names.sort_by_key(|e| e.file_name());
    for e in names {
        let name = e.file_name().to_string_lossy().into_owned();
        let r = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let p = e.path();
        out.push((r.clone(), p.clone()));
        if e.file_type()?.is_dir() {
            walk_rel(&p, &r, out)?;
        }
    }
    Ok(())
}

/// Resolves COPY sources against `root` (the context, or another stage's or
/// image's rootfs). Error texts are Docker's, without the `COPY failed: ` prefix.
pub fn resolve_sources(root: &Path, patterns: &[String]) -> Result<Vec<Source>> {
    let mut out = Vec::new();
    for pattern in patterns {
        let rel = clean_path(pattern.trim_start_matches('/'));
        if rel == ".." || rel.starts_with("../") {
            return Err(BuildError::new(format!(
                "forbidden path outside the build context: {pattern} ()"
            )));
        }
        if has_glob(&rel) {
            let mut all = Vec::new();
            walk_rel(root, "", &mut all)?;
            let mut matched_dirs: Vec<String> = Vec::new();
            let before = out.len();
            for (r, host) in all {
                // A matched directory is copied whole; skip what is below it.
                if matched_dirs.iter().any(|d| r.starts_with(&format!("{d}/"))) {
                    continue;
                }
                if glob_match(&rel, &r) {
                    let is_dir = fs::metadata(&host).is_ok_and(|m| m.is_dir());
                    if is_dir {
                        matched_dirs.push(r.clone());
                    }
                    out.push(Source {
                        host,
                        rel: r,
                        is_dir,
                    });
                }
            }
            if out.len() == before {
                return Err(BuildError::new("no source files were specified"));
            }
            continue;
        }
        let inside = Path::new("/").join(&rel);
        let host = runtime::exe::resolve_in_root(root, &inside)
            .filter(|h| fs::metadata(h).is_ok())
            .ok_or_else(|| {
                BuildError::new(format!(
                    "file not found in build context or excluded by .dockerignore: stat {pattern}: file does not exist"
                ))
            })?;
        let is_dir = fs::metadata(&host)?.is_dir();
        out.push(Source {
            host,
            rel: if rel == "." { String::new() } else { rel },
            is_dir,
        });
    }
    Ok(out)
}

fn hash_file(h: &mut Sha256, path: &Path) -> io::Result<()> {
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        h.update(&buf[..n]);
    }
}

fn hash_entry(h: &mut Sha256, rel: &str, host: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(host)?;
    h.update(rel.as_bytes());
    h.update([0]);
    h.update(format!("{:o}\0", meta.mode()).as_bytes());
    hash_content(h, host, &meta)?;
    h.update([0]);
    Ok(())
}

/// A node's content for the cache key. Device nodes and fifos in another
/// stage's rootfs are keyed by their numbers and never opened: opening one
/// would reach the host's device (the daemon is not in a device cgroup) or
/// block on a fifo with no writer.
fn hash_content(h: &mut Sha256, host: &Path, meta: &fs::Metadata) -> io::Result<()> {
    let ft = meta.file_type();
    if ft.is_symlink() {
        h.update(fs::read_link(host)?.as_os_str().as_bytes());
    } else if ft.is_file() {
        h.update(meta.len().to_le_bytes());
        hash_file(h, host)?;
    } else if is_special(&ft) {
        h.update(meta.rdev().to_le_bytes());
    }
    Ok(())
}

fn is_special(ft: &fs::FileType) -> bool {
    ft.is_char_device() || ft.is_block_device() || ft.is_fifo()
}

/// Content and metadata hash of the sources (names, modes, bytes, link
/// targets; not mtimes, which a fresh checkout changes).
pub fn hash_sources(sources: &[Source]) -> Result<String> {
    let mut h = Sha256::new();
    for s in sources {
        let meta = fs::metadata(&s.host)?;
        if meta.is_dir() {
            hash_entry(&mut h, &s.rel, &s.host)?;
            let mut all = Vec::new();
            walk_rel(&s.host, "", &mut all)?;
            for (r, host) in all {
                hash_entry(&mut h, &format!("{}/{r}", s.rel), &host)?;
            }
        } else {
            h.update(s.rel.as_bytes());
            h.update([0]);
            h.update(format!("{:o}\0", meta.mode()).as_bytes());
            hash_content(&mut h, &s.host, &meta)?;
        }
    }
    Ok(hex::encode(h.finalize()))
}

/// Ownership and mode applied to what is copied.
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyMeta {
    pub uid: u32,
    pub gid: u32,
    pub chmod: Option<u32>,
}

/// Host path of the container path `path` inside `root`, following symlinks
/// the way the container would (never leaving `root`).
fn in_root(root: &Path, path: &Path) -> Result<PathBuf> {
    runtime::exe::resolve_in_root(root, path).ok_or_else(|| {
        BuildError::new(format!(
            "failed to resolve {} in the image: a parent is not a directory",
            path.display()
        ))
    })
}

/// `mkdir -p` inside the rootfs; new directories get `meta`'s owner.
pub fn mkdir_p(root: &Path, path: &Path, meta: CopyMeta) -> Result<PathBuf> {
    let mut inside = PathBuf::from("/");
    let mut host = root.to_path_buf();
    for c in path.components() {
        let Component::Normal(name) = c else { continue };
        inside.push(name);
        host = in_root(root, &inside)?;
        match fs::metadata(&host) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(BuildError::new(format!(
                    "mkdir {}: not a directory",
                    inside.display()
                )));
            }
            Err(_) => {
                fs::create_dir(&host)?;
                fs::set_permissions(&host, fs::Permissions::from_mode(0o755))?;
                std::os::unix::fs::lchown(&host, Some(meta.uid), Some(meta.gid))?;
            }
        }
    }
    Ok(host)
}

/// Best effort: a copy whose times could not be kept is still a copy.
fn set_times(dst: &Path, src_meta: &fs::Metadata) {
    use nix::sys::stat::{UtimensatFlags, utimensat};
    use nix::sys::time::TimeSpec;
    let _ = utimensat(
        None,
        dst,
        &TimeSpec::new(src_meta.atime(), src_meta.atime_nsec()),
        &TimeSpec::new(src_meta.mtime(), src_meta.mtime_nsec()),
        UtimensatFlags::NoFollowSymlink,
    );
}

/// Removes whatever is at `host` unless it is a directory (kept when `keep_dir`).
fn clear(host: &Path, keep_dir: bool) -> io::Result<()> {
    match fs::symlink_metadata(host) {
        Ok(m) if m.is_dir() && keep_dir => Ok(()),
        Ok(m) if m.is_dir() => fs::remove_dir_all(host),
        Ok(_) => fs::remove_file(host),
        Err(_) => Ok(()),
    }
}

/// Copies one entry from `src` (host) to the container path `dst`.
fn copy_entry(root: &Path, src: &Path, dst: &Path, meta: CopyMeta) -> Result<()> {
    let m = fs::symlink_metadata(src)?;
    let parent = dst.parent().unwrap_or(Path::new("/"));
    let name = dst
        .file_name()
        .ok_or_else(|| BuildError::new("cannot copy to /"))?;
    let host = in_root(root, parent)?.join(name);
    let ft = m.file_type();
    if ft.is_dir() {
        // An existing directory, or a symlink to one, is merged into.
        let target = match fs::metadata(&host) {
            Ok(t) if t.is_dir() => in_root(root, dst)?,
            _ => {
                clear(&host, false)?;
                fs::create_dir(&host)?;
                host.clone()
            }
        };
        let mode = meta.chmod.unwrap_or(m.mode() & 0o7777);
        fs::set_permissions(&target, fs::Permissions::from_mode(mode))?;
        std::os::unix::fs::lchown(&target, Some(meta.uid), Some(meta.gid))?;
        copy_children(root, src, dst, meta)?;
        set_times(&target, &m);
    } else if ft.is_symlink() {
        clear(&host, false)?;
        symlink(fs::read_link(src)?, &host)?;
        std::os::unix::fs::lchown(&host, Some(meta.uid), Some(meta.gid))?;
        set_times(&host, &m);
    } else if ft.is_file() {
        clear(&host, false)?;
        fs::copy(src, &host)?;
        let mode = meta.chmod.unwrap_or(m.mode() & 0o7777);
        std::os::unix::fs::lchown(&host, Some(meta.uid), Some(meta.gid))?;
        fs::set_permissions(&host, fs::Permissions::from_mode(mode))?;
        set_times(&host, &m);
    } else if is_special(&ft) {
        // As BuildKit copies them from another stage or image: the same
        // node (type, numbers, mode); sockets are not copied.
        clear(&host, false)?;
        let kind = if ft.is_char_device() {
            SFlag::S_IFCHR
        } else if ft.is_block_device() {
            SFlag::S_IFBLK
        } else {
            SFlag::S_IFIFO
        };
        let mode = meta.chmod.unwrap_or(m.mode() & 0o7777);
        mknod(&host, kind, Mode::from_bits_truncate(mode), m.rdev()).map_err(io::Error::from)?;
        std::os::unix::fs::lchown(&host, Some(meta.uid), Some(meta.gid))?;
        // mknod applies the umask; chown clears set-id bits.
        fs::set_permissions(&host, fs::Permissions::from_mode(mode))?;
        set_times(&host, &m);
    }
    Ok(())
}

fn copy_children(root: &Path, src: &Path, dst: &Path, meta: CopyMeta) -> Result<()> {
    let mut names: Vec<_> = fs::read_dir(src)?.collect::<io::Result<Vec<_>>>()?;
    names.sort_by_key(|e| e.file_name());
    for e in names {
        copy_entry(root, &e.path(), &dst.join(e.file_name()), meta)?;
    }
    Ok(())
}

/// Docker's rules: a directory source copies its contents; a file lands
/// inside `dest` when `dest` is (or is written as) a directory.
pub fn copy_source(
    root: &Path,
    src: &Source,
    dest: &Path,
    dest_is_dir: bool,
    meta: CopyMeta,
) -> Result<()> {
    if src.is_dir {
        let host = mkdir_p(root, dest, meta)?;
        if let Some(mode) = meta.chmod {
            fs::set_permissions(&host, fs::Permissions::from_mode(mode))?;
        }
        return copy_children(root, &src.host, dest, meta);
    }
    let target = if dest_is_dir {
        mkdir_p(root, dest, meta)?;
        let name = src
            .host
            .file_name()
            .ok_or_else(|| BuildError::new("bad source name"))?;
        dest.join(name)
    } else {
        if let Some(p) = dest.parent() {
            mkdir_p(root, p, meta)?;
        }
        dest.to_path_buf()
    };
    copy_entry(root, &src.host, &target, meta)
}

/// Writes a heredoc's body as a file.
pub fn write_file(root: &Path, dest: &Path, content: &[u8], meta: CopyMeta) -> Result<()> {
    if let Some(p) = dest.parent() {
        mkdir_p(root, p, meta)?;
    }
    let parent = dest.parent().unwrap_or(Path::new("/"));
    let name = dest
        .file_name()
        .ok_or_else(|| BuildError::new("cannot copy to /"))?;
    let host = in_root(root, parent)?.join(name);
    clear(&host, false)?;
    fs::write(&host, content)?;
    std::os::unix::fs::lchown(&host, Some(meta.uid), Some(meta.gid))?;
    fs::set_permissions(
        &host,
        fs::Permissions::from_mode(meta.chmod.unwrap_or(0o644)),
    )?;
    Ok(())
}

/// `ADD <url>`: fetches the URL into `dir` under its last path segment.
pub fn download(url: &str, dir: &Path) -> Result<Source> {
    let name = url
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .rsplit('/')
        .find(|s| !s.is_empty() && !s.contains(':'))
        .unwrap_or("download")
        .to_string();
    let mut resp = reqwest::blocking::get(url)
        .map_err(|e| BuildError::new(format!("failed to GET {url}: {e}")))?;
    if !resp.status().is_success() {
        return Err(BuildError::new(format!(
            "failed to GET {url} with status {}",
            resp.status()
        )));
    }
    let host = dir.join(&name);
    let mut f = File::create(&host)?;
    resp.copy_to(&mut f)
        .map_err(|e| BuildError::new(format!("failed to GET {url}: {e}")))?;
    fs::set_permissions(&host, fs::Permissions::from_mode(0o600))?;
    Ok(Source {
        host,
        rel: name,
        is_dir: false,
    })
}

/// Docker's test for a git source of ADD: `git://`, `git@` and
/// `github.com/` prefixes, or an http(s) URL whose path ends in `.git`
/// (a `#ref[:dir]` fragment aside).
pub fn is_git_url(s: &str) -> bool {
    let base = s.split('#').next().unwrap_or(s);
    s.starts_with("git://")
        || s.starts_with("git@")
        || s.starts_with("github.com/")
        || ((base.starts_with("http://") || base.starts_with("https://")) && base.ends_with(".git"))
}

/// `ADD <git url>[#ref[:dir]] <dest>`: a clone of the ref (branch, tag or
/// commit; the default branch without one) under `dir`, without its `.git`,
/// as a directory source (its contents are copied, as Docker's builder does).
pub fn git_clone(url: &str, dir: &Path) -> Result<Source> {
    let (remote, fragment) = url.split_once('#').unwrap_or((url, ""));
    let (reference, subdir) = fragment.split_once(':').unwrap_or((fragment, ""));
    let remote = match remote.strip_prefix("github.com/") {
        Some(rest) => format!("https://github.com/{rest}"),
        None => remote.to_string(),
    };
    let checkout = dir.join("git");
    let git = |args: &[&str], cwd: &Path| -> Result<()> {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(cwd)
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| {
                BuildError::new(format!(
                    "ADD from git needs the git program on the daemon's host (apt-get install git): {e}"
                ))
            })?;
        if out.status.success() {
            return Ok(());
        }
        Err(BuildError::new(format!(
            "failed to clone {url}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    };
    let target = checkout.to_string_lossy().into_owned();
    let mut shallow = vec!["clone", "--quiet", "--recurse-submodules", "--depth", "1"];
    if !reference.is_empty() {
        shallow.extend(["--branch", reference]);
    }
    shallow.extend(["--", remote.as_str(), target.as_str()]);
    if let Err(e) = git(&shallow, dir) {
        if reference.is_empty() {
            return Err(e);
        }
        // A commit id is no branch: the whole history, then that commit.
        let _ = fs::remove_dir_all(&checkout);
        git(
            &["clone", "--quiet", "--", remote.as_str(), target.as_str()],
            dir,
        )?;
        git(&["checkout", "--quiet", reference], &checkout)?;
        git(
            &["submodule", "update", "--init", "--recursive", "--quiet"],
            &checkout,
        )?;
    }
    fs::remove_dir_all(checkout.join(".git"))?;
    let sub = dockerfile::ignore::clean_path(subdir);
    let host = if sub.is_empty() || sub == "." {
        checkout
    } else {
        // Resolved inside the clone: a link in it cannot point the copy elsewhere.
        runtime::exe::resolve_in_root(&checkout, &Path::new("/").join(&sub))
            .filter(|p| p.is_dir())
            .ok_or_else(|| {
                BuildError::new(format!("{url}: no directory {subdir} in the repository"))
            })?
    };
    Ok(Source {
        host,
        rel: String::new(),
        is_dir: true,
    })
}

/// What compression an ADD source archive uses, if it is a tar archive.
pub fn archive_kind(path: &Path) -> Option<bool> {
    let mut head = [0u8; 512];
    let mut f = File::open(path).ok()?;
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(_) => return None,
        }
    }
    if n >= 2 && head[0] == 0x1f && head[1] == 0x8b {
        return Some(true);
    }
    (n >= 262 && &head[257..262] == b"ustar").then_some(false)
}

/// ADD of a local tar: unpacked (safely) into the destination directory.
pub fn extract_archive(root: &Path, src: &Path, dest: &Path, gzip: bool) -> Result<()> {
    let host = mkdir_p(root, dest, CopyMeta::default())?;
    let f = io::BufReader::new(File::open(src)?);
    // Devices and fifos in an ADDed archive are data, recreated as dockerd does.
    let opts = image::unpack::UnpackOptions {
        allow_devices: true,
        whiteouts: image::unpack::WhiteoutMode::Skip,
    };
    let r = if gzip {
        image::unpack::unpack(flate2::read::GzDecoder::new(f), &host, &opts)
    } else {
        image::unpack::unpack(f, &host, &opts)
    };
    r.map(|_| ())
        .map_err(|e| BuildError::new(format!("failed to extract {}: {e}", src.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_copied_to_a_symlink_itself() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("old");
        fs::write(&old, "x").unwrap();
        let stamp = nix::sys::time::TimeSpec::new(1_000_000_000, 123);
        nix::sys::stat::utimensat(
            None,
            &old,
            &stamp,
            &stamp,
            nix::sys::stat::UtimensatFlags::FollowSymlink,
        )
        .unwrap();
        let src = fs::symlink_metadata(&old).unwrap();
        let target = dir.path().join("target");
        fs::write(&target, "y").unwrap();
        let link = dir.path().join("link");
        symlink(&target, &link).unwrap();
        set_times(&link, &src);
        let got = fs::symlink_metadata(&link).unwrap();
        assert_eq!((got.mtime(), got.mtime_nsec()), (1_000_000_000, 123));
        assert_eq!((got.atime(), got.atime_nsec()), (1_000_000_000, 123));
        let untouched = fs::metadata(&target).unwrap();
        assert_ne!(untouched.mtime(), 1_000_000_000);
    }

    #[test]
    fn sources_globs_and_escapes() {
        let ctx = tempfile::tempdir().unwrap();
        let r = ctx.path();
        fs::write(r.join("a.txt"), "a").unwrap();
        fs::write(r.join("b.txt"), "b").unwrap();
        fs::create_dir(r.join("d")).unwrap();
        fs::write(r.join("d/c.txt"), "c").unwrap();
        symlink("/etc/passwd", r.join("abs-link")).unwrap();
        let s = resolve_sources(r, &["*.txt".into()]).unwrap();
        assert_eq!(
            s.iter().map(|s| s.rel.as_str()).collect::<Vec<_>>(),
            vec!["a.txt", "b.txt"]
        );
        let err = resolve_sources(r, &["../x".into()]).unwrap_err();
        assert_eq!(
            err.message,
            "forbidden path outside the build context: ../x ()"
        );
        let err = resolve_sources(r, &["missing".into()]).unwrap_err();
        assert_eq!(
            err.message,
            "file not found in build context or excluded by .dockerignore: stat missing: file does not exist"
        );
        assert_eq!(
            resolve_sources(r, &["*.nope".into()]).unwrap_err().message,
            "no source files were specified"
        );
        // An absolute symlink resolves inside the context, not on the host.
        assert!(resolve_sources(r, &["abs-link".into()]).is_err());
        let h1 = hash_sources(&resolve_sources(r, &[".".into()]).unwrap()).unwrap();
        fs::write(r.join("d/c.txt"), "changed").unwrap();
        let h2 = hash_sources(&resolve_sources(r, &[".".into()]).unwrap()).unwrap();
        assert_ne!(h1, h2);
    }

    #[test]
    fn copy_rules_and_symlink_safety() {
        let ctx = tempfile::tempdir().unwrap();
        let rootfs = tempfile::tempdir().unwrap();
        let (c, root) = (ctx.path(), rootfs.path());
        fs::write(c.join("f"), "file").unwrap();
        fs::create_dir(c.join("dir")).unwrap();
        fs::write(c.join("dir/inner"), "inner").unwrap();
        fs::create_dir(root.join("existing")).unwrap();
        // A symlink in the image pointing at the host's / must not be written through.
        let outside = tempfile::tempdir().unwrap();
        symlink(outside.path(), root.join("evil")).unwrap();
        let meta = CopyMeta {
            uid: 0,
            gid: 0,
            chmod: None,
        };
        let src = resolve_sources(c, &["f".into()]).unwrap();
        copy_source(root, &src[0], Path::new("/existing"), true, meta).unwrap();
        assert_eq!(fs::read_to_string(root.join("existing/f")).unwrap(), "file");
        copy_source(root, &src[0], Path::new("/new/name"), false, meta).unwrap();
        assert_eq!(fs::read_to_string(root.join("new/name")).unwrap(), "file");
        let dir = resolve_sources(c, &["dir".into()]).unwrap();
        copy_source(
            root,
            &dir[0],
            Path::new("/app"),
            false,
            CopyMeta {
                chmod: Some(0o700),
                ..meta
            },
        )
        .unwrap();
        assert_eq!(fs::read_to_string(root.join("app/inner")).unwrap(), "inner");
        assert_eq!(
            fs::metadata(root.join("app/inner")).unwrap().mode() & 0o777,
            0o700
        );
        // Either refused or written inside the rootfs; never outside.
        let _ = copy_source(root, &src[0], Path::new("/evil/x"), false, meta);
        assert!(!outside.path().join("x").exists());
    }
}
