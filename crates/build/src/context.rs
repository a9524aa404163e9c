//! The build context: the client's tar unpacked (through the image crate's
//! safe unpacker: no `..`, absolute paths or symlink escapes) into a private
//! directory under the data root, minus what `.dockerignore` excludes.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use dockerfile::IgnoreMatcher;
use dockerfile::ignore::clean_path;
use image::unpack::{UnpackOptions, WhiteoutMode, unpack};

use crate::error::{BuildError, Result};

/// Zero bytes after the end of the stream: the docker CLI, when it adds a
/// Dockerfile from outside the context, ends the tar without padding its
/// last entry or writing the end-of-archive blocks (dockerd copes).
struct PadEof<R> {
    inner: R,
    pad_left: usize,
    eof: bool,
}

impl<R: Read> Read for PadEof<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !self.eof {
            let n = self.inner.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            self.eof = true;
        }
        let n = buf.len().min(self.pad_left);
        buf[..n].fill(0);
        self.pad_left -= n;
        Ok(n)
    }
}

/// The unpacked context; removed on drop.
#[derive(Debug)]
pub struct Context {
    root: PathBuf,
}

impl Drop for Context {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

fn random_hex(n: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
        .collect()
}

pub(crate) fn new_id() -> String {
    random_hex(64)
}

impl Context {
    /// Streams `reader` (a tar, optionally gzip-compressed) into a new
    /// directory under `dir`.
    pub fn unpack(dir: &Path, reader: impl Read) -> Result<Context> {
        // build/ and each context 0700: the client's files, modes as sent
        // (COPY keeps them), behind a directory only root traverses.
        engine::perms::create_dir_private(dir)?;
        let root = dir.join(format!("ctx-{}", random_hex(16)));
        {
            use std::os::unix::fs::DirBuilderExt;
            fs::DirBuilder::new()
                .mode(engine::perms::PRIVATE_DIR)
                .create(&root)?;
        }
        let ctx = Context { root };
        let mut reader = BufReader::new(PadEof {
            inner: reader,
            pad_left: 1536,
            eof: false,
        });
        let gzip = reader.fill_buf()?.starts_with(&[0x1f, 0x8b]);
        let opts = UnpackOptions {
            allow_devices: false,
            whiteouts: WhiteoutMode::Skip,
        };
        let result = if gzip {
            unpack(flate2::read::GzDecoder::new(reader), &ctx.root, &opts)
        } else {
            unpack(reader, &ctx.root, &opts)
        };
        result.map_err(|e| {
            BuildError::bad_request(format!("failed to read the build context: {e}"))
        })?;
        Ok(ctx)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Reads the Dockerfile named by the `dockerfile` parameter (a path in
    /// the context; the docker CLI puts a Dockerfile from outside the
    /// context into the tar under a generated name).
    pub fn read_dockerfile(&self, name: &str) -> Result<String> {
        let name = if name.is_empty() { "Dockerfile" } else { name };
        let rel = clean_path(name.trim_start_matches('/'));
        let missing =
            || BuildError::bad_request(format!("Cannot locate specified Dockerfile: {name}"));
        if rel == ".." || rel.starts_with("../") {
            return Err(missing());
        }
        let path = runtime::exe::resolve_in_root(&self.root, &Path::new("/").join(&rel))
            .ok_or_else(missing)?;
        if !path.is_file() {
            return Err(missing());
        }
        let bytes = fs::read(&path)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Applies `.dockerignore`; the Dockerfile and .dockerignore themselves
    /// go too when listed (Docker drops them from the context likewise).
    pub fn apply_dockerignore(&self) -> Result<Vec<String>> {
        let path = self.root.join(".dockerignore");
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(_) => return Ok(Vec::new()),
        };
        let matcher = IgnoreMatcher::parse(&text)
            .map_err(|e| BuildError::bad_request(format!("failed to parse .dockerignore: {e}")))?;
        if matcher.is_empty() {
            return Ok(Vec::new());
        }
        prune(&self.root, "", &matcher)?;
        Ok(matcher.patterns())
    }
}

fn prune(dir: &Path, rel: &str, m: &IgnoreMatcher) -> Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let child_rel = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let path = entry.path();
        let is_dir = entry.file_type()?.is_dir();
        if m.excluded(&child_rel) {
            if is_dir && m.has_exceptions() {
                // Something below may be re-included by a `!` pattern.
                prune(&path, &child_rel, m)?;
                if fs::read_dir(&path)?.next().is_none() {
                    fs::remove_dir(&path)?;
                }
            } else if is_dir {
                fs::remove_dir_all(&path)?;
            } else {
                fs::remove_file(&path)?;
            }
        } else if is_dir {
            prune(&path, &child_rel, m)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, text) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(text.len() as u64);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, name, text.as_bytes()).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn unpack_ignore_and_dockerfile() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tar_of(&[
            ("Dockerfile", "FROM scratch\n"),
            (".dockerignore", "*.log\nsub\n!sub/keep\n"),
            ("a.log", "x"),
            ("b.txt", "x"),
            ("sub/drop", "x"),
            ("sub/keep", "x"),
            ("sub/deeper/f", "x"),
        ]);
        let ctx = Context::unpack(tmp.path(), data.as_slice()).unwrap();
        ctx.apply_dockerignore().unwrap();
        let r = ctx.root();
        assert!(!r.join("a.log").exists());
        assert!(r.join("b.txt").exists());
        assert!(!r.join("sub/drop").exists());
        assert!(!r.join("sub/deeper").exists());
        assert!(r.join("sub/keep").exists());
        assert_eq!(ctx.read_dockerfile("Dockerfile").unwrap(), "FROM scratch\n");
        assert_eq!(
            ctx.read_dockerfile("../x").unwrap_err().message,
            "Cannot locate specified Dockerfile: ../x"
        );
        let root = r.to_path_buf();
        drop(ctx);
        assert!(!root.exists());
    }

    #[test]
    fn tolerates_an_unpadded_last_entry() {
        let tmp = tempfile::tempdir().unwrap();
        let mut data = tar_of(&[("Dockerfile", "FROM scratch\n"), (".dockerignore", "x\n")]);
        // Header + 2 bytes of the last entry, then nothing (as the docker CLI sends).
        let last_header = 512 * 2;
        data.truncate(last_header + 512 + 2);
        let ctx = Context::unpack(tmp.path(), data.as_slice()).unwrap();
        assert_eq!(ctx.read_dockerfile("Dockerfile").unwrap(), "FROM scratch\n");
        assert_eq!(fs::read(ctx.root().join(".dockerignore")).unwrap(), b"x\n");
    }

    #[test]
    fn rejects_escaping_entries() {
        let tmp = tempfile::tempdir().unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_mode(0o777);
        b.append_link(&mut h, "link", "/").unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        b.append_data(&mut h, "link/escaped", &b"x"[..]).unwrap();
        let data = b.into_inner().unwrap();
        let _ = Context::unpack(tmp.path(), data.as_slice());
        assert!(!Path::new("/escaped").exists());
    }
}
