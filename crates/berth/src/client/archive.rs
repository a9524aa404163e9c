//! Tar streams between the daemon and the local filesystem: cp (both
//! directions, with docker's rules for naming the copy), export, save, load.

use super::args::{CpArgs, ExportArgs, LoadArgs, SaveArgs};
use super::connect::{Client, empty, next_chunk, q, reader_body};
use super::{CmdResult, Failure, stream};
use hyper::Method;
use serde_json::Value;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// Go's os.ModeDir and os.ModeSymlink bits in the daemon's path stat.
const MODE_DIR: u64 = 1 << 31;
const MODE_SYMLINK: u64 = 1 << 27;

/// `CONTAINER:PATH` or a local path, as docker's `splitCpArg`.
fn split_cp_arg(arg: &str) -> (Option<&str>, &str) {
    if arg.starts_with('/') {
        return (None, arg);
    }
    match arg.split_once(':') {
        Some((c, p)) if !c.starts_with('.') && !c.is_empty() => (Some(c), p),
        _ => (None, arg),
    }
}

pub async fn cp(client: &Client, a: CpArgs) -> CmdResult {
    let (src_c, src) = split_cp_arg(&a.source);
    let (dst_c, dst) = split_cp_arg(&a.dest);
    match (src_c, dst_c) {
        (Some(_), Some(_)) => Err(Failure::new(
            1,
            "copying between containers is not supported",
        )),
        (None, None) => Err(Failure::new(
            1,
            "must specify at least one container source",
        )),
        (Some(c), None) => copy_from(client, &a, c, src, dst).await,
        (None, Some(c)) => copy_to(client, &a, src, c, dst).await,
    }
}

/// The daemon's stat of a container path (`None` when it does not exist).
async fn stat_path(client: &Client, c: &str, path: &str) -> Result<Option<Value>, Failure> {
    let resp = client
        .raw(
            Method::HEAD,
            &format!("/containers/{}/archive?path={}", q(c), q(path)),
            empty(),
            None,
            None,
        )
        .await?;
    match resp.status().as_u16() {
        404 => {
            // A missing container is an error; a missing path is an answer.
            client
                .get_json(&format!("/containers/{}/json", q(c)))
                .await?;
            Ok(None)
        }
        s if s >= 400 => Err(Failure::new(
            1,
            format!("Error response from daemon: status {s} for {c}:{path}"),
        )),
        _ => {
            use base64::Engine as _;
            let h = resp
                .headers()
                .get("X-Docker-Container-Path-Stat")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let raw = base64::engine::general_purpose::STANDARD
                .decode(h)
                .unwrap_or_default();
            Ok(Some(serde_json::from_slice(&raw).unwrap_or(Value::Null)))
        }
    }
}

fn stat_mode(s: &Value) -> u64 {
    s.get("mode").and_then(Value::as_u64).unwrap_or(0)
}

fn base_name(p: &str) -> String {
    Path::new(p.trim_end_matches('/'))
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/".into())
}

fn join_container(dir: &str, rel: &str) -> String {
    if rel.starts_with('/') {
        rel.to_string()
    } else {
        let d = Path::new(dir).parent().unwrap_or(Path::new("/"));
        d.join(rel).to_string_lossy().into_owned()
    }
}

/// How the first path component of the archive's entries becomes local.
#[derive(Clone)]
enum Rebase {
    Keep,
    Rename(String),
    Contents,
}

fn rebased(path: &Path, how: &Rebase) -> Option<PathBuf> {
    // A leading "." is the top entry itself (`docker cp c:/dir/. ...`).
    let comps: Vec<Component> = path.components().collect();
    if comps.iter().any(|c| {
        matches!(
            c,
            Component::ParentDir | Component::RootDir | Component::Prefix(_)
        )
    }) {
        return None;
    }
    let (first, rest) = comps.split_first()?;
    let mut out = PathBuf::new();
    match how {
        Rebase::Keep => out.push(first.as_os_str()),
        Rebase::Rename(n) => out.push(n),
        // Contents of a directory: entries may or may not carry a "." top.
        Rebase::Contents if matches!(first, Component::CurDir) => {}
        Rebase::Contents => out.push(first.as_os_str()),
    }
    for c in rest {
        out.push(c.as_os_str());
    }
    Some(out)
}

/// Unpacks a tar stream into `dir`, renaming entries by `how`.
fn unpack(reader: impl Read, dir: &Path, how: &Rebase) -> std::io::Result<()> {
    let mut ar = tar::Archive::new(reader);
    ar.set_preserve_permissions(true);
    ar.set_preserve_mtime(true);
    ar.set_overwrite(true);
    for entry in ar.entries()? {
        let mut e = entry?;
        let path = e.path()?.into_owned();
        let Some(rel) = rebased(&path, how) else {
            continue;
        };
        let target = dir.join(&rel);
        if rel.as_os_str().is_empty() {
            // The copied directory itself in a contents copy: it is `dir`.
            continue;
        }
        if let Some(p) = target.parent() {
            std::fs::create_dir_all(p)?;
        }
        if e.header().entry_type() == tar::EntryType::Link {
            let link = e.link_name()?.map(|l| l.into_owned()).unwrap_or_default();
            if let Some(l) = rebased(&link, how) {
                let _ = std::fs::remove_file(&target);
                std::fs::hard_link(dir.join(l), &target)?;
            }
            continue;
        }
        if e.header().entry_type().is_dir() && target.is_dir() {
            continue;
        }
        if !e.header().entry_type().is_dir()
            && let Ok(m) = std::fs::symlink_metadata(&target)
            && !m.is_dir()
        {
            std::fs::remove_file(&target)?;
        }
        e.unpack(&target)?;
    }
    Ok(())
}

/// A reader that counts what passes through it, for docker's size report.
struct Counting<R> {
    inner: R,
    n: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
}

fn report(quiet: bool, bytes: u64, to: &str) {
    if !quiet && stream::is_terminal(2) {
        eprintln!(
            "Successfully copied {} to {to}",
            super::format::human_size(bytes as f64, 3)
        );
    }
}

async fn copy_from(client: &Client, a: &CpArgs, c: &str, src: &str, dst: &str) -> CmdResult {
    let mut src_path = src.to_string();
    let mut rename_to = None;
    if a.follow_link
        && let Some(st) = stat_path(client, c, src).await?
        && stat_mode(&st) & MODE_SYMLINK != 0
    {
        let target = st.get("linkTarget").and_then(Value::as_str).unwrap_or("");
        rename_to = Some(base_name(src));
        src_path = join_container(src, target);
    }
    let resp = client
        .request(
            Method::GET,
            &format!("/containers/{}/archive?path={}", q(c), q(&src_path)),
            empty(),
            None,
        )
        .await?;
    if dst == "-" {
        let mut body = resp.into_body();
        while let Some(chunk) = next_chunk(&mut body).await? {
            stream::write_std(stream::Target::Stdout, &chunk);
        }
        return Ok(0);
    }
    let src_stat = resp
        .headers()
        .get("X-Docker-Container-Path-Stat")
        .and_then(|v| v.to_str().ok())
        .and_then(|h| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.decode(h).ok()
        })
        .and_then(|raw| serde_json::from_slice::<Value>(&raw).ok())
        .unwrap_or(Value::Null);
    let src_is_dir = stat_mode(&src_stat) & MODE_DIR != 0;
    let dst_path = PathBuf::from(dst);
    let (dir, how) = match std::fs::metadata(&dst_path) {
        Ok(m) if m.is_dir() => {
            let how = if src_is_dir && (src.ends_with("/.") || src == ".") {
                Rebase::Contents
            } else {
                match &rename_to {
                    Some(n) => Rebase::Rename(n.clone()),
                    None => Rebase::Keep,
                }
            };
            (dst_path.clone(), how)
        }
        Ok(_) if src_is_dir => {
            return Err(Failure::new(1, "cannot copy directory"));
        }
        Ok(_) => (parent_of(&dst_path), Rebase::Rename(base_name(dst))),
        Err(_) => {
            if dst.ends_with('/') && !src_is_dir {
                return Err(Failure::new(1, "no such directory"));
            }
            let parent = parent_of(&dst_path);
            if !parent.is_dir() {
                return Err(Failure::new(
                    1,
                    format!("lstat {}: no such file or directory", parent.display()),
                ));
            }
            if src_is_dir && (src.ends_with("/.") || src == ".") {
                std::fs::create_dir(&dst_path)
                    .map_err(|e| Failure::new(1, format!("mkdir {dst}: {e}")))?;
                (dst_path.clone(), Rebase::Contents)
            } else {
                (parent, Rebase::Rename(base_name(dst)))
            }
        }
    };
    let count = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let reader = tokio_util::io::StreamReader::new(
        http_body_util::BodyDataStream::new(resp.into_body()).map_err_io(),
    );
    let bridge = tokio_util::io::SyncIoBridge::new(reader);
    let counted = Counting {
        inner: bridge,
        n: count.clone(),
    };
    tokio::task::spawn_blocking(move || unpack(counted, &dir, &how))
        .await
        .map_err(|e| Failure::new(1, e.to_string()))?
        .map_err(|e| Failure::new(1, format!("Error: {e}")))?;
    report(
        a.quiet,
        count.load(std::sync::atomic::Ordering::Relaxed),
        dst,
    );
    Ok(0)
}

fn parent_of(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Maps a hyper body stream's errors into io errors for `StreamReader`.
trait MapErrIo {
    type Out;
    fn map_err_io(self) -> Self::Out;
}

impl<S> MapErrIo for S
where
    S: futures_util::Stream<Item = Result<bytes::Bytes, hyper::Error>>,
{
    type Out = futures_util::stream::MapErr<S, fn(hyper::Error) -> std::io::Error>;
    fn map_err_io(self) -> Self::Out {
        use futures_util::TryStreamExt;
        self.map_err(std::io::Error::other as fn(hyper::Error) -> std::io::Error)
    }
}

/// Writes a local path into a tar stream with its top entry named `name`
/// (or its contents at the top when `name` is None).
fn pack(w: impl std::io::Write, src: &Path, name: Option<&str>) -> std::io::Result<()> {
    let mut b = tar::Builder::new(w);
    b.follow_symlinks(false);
    let meta = std::fs::symlink_metadata(src)?;
    match name {
        Some(n) if meta.is_dir() => b.append_dir_all(n, src)?,
        None => b.append_dir_all(".", src)?,
        Some(n) => b.append_path_with_name(src, n)?,
    }
    b.into_inner()?.flush()
}

async fn copy_to(client: &Client, a: &CpArgs, src: &str, c: &str, dst: &str) -> CmdResult {
    let mut dst_path = dst.to_string();
    let mut dst_stat = stat_path(client, c, dst).await?;
    if let Some(st) = &dst_stat
        && stat_mode(st) & MODE_SYMLINK != 0
    {
        let target = st.get("linkTarget").and_then(Value::as_str).unwrap_or("");
        dst_path = join_container(dst, target);
        dst_stat = stat_path(client, c, &dst_path).await?;
    }
    let dst_is_dir = dst_stat
        .as_ref()
        .is_some_and(|s| stat_mode(s) & MODE_DIR != 0);
    let count = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (put_dir, body) = if src == "-" {
        if !dst_is_dir {
            return Err(Failure::new(
                1,
                format!("destination \"{c}:{dst}\" must be a directory"),
            ));
        }
        (dst_path.clone(), reader_body(tokio::io::stdin()))
    } else {
        let mut local = PathBuf::from(src);
        let meta = std::fs::symlink_metadata(&local)
            .map_err(|e| Failure::new(1, format!("lstat {src}: {}", io_text(&e))))?;
        if a.follow_link && meta.file_type().is_symlink() {
            local = std::fs::canonicalize(&local)
                .map_err(|e| Failure::new(1, format!("{src}: {}", io_text(&e))))?;
        }
        let src_is_dir = (a.follow_link || !meta.file_type().is_symlink())
            && std::fs::metadata(&local)
                .map(|m| m.is_dir())
                .unwrap_or(false);
        let contents = src_is_dir && (src.ends_with("/.") || src == ".");
        let (put_dir, name) = if dst_is_dir {
            (
                dst_path.clone(),
                if contents { None } else { Some(base_name(src)) },
            )
        } else {
            if dst_stat.is_some() && src_is_dir {
                return Err(Failure::new(1, "cannot copy directory"));
            }
            if dst_stat.is_none() && dst.ends_with('/') && !src_is_dir {
                return Err(Failure::new(1, "no such directory"));
            }
            let parent = Path::new(dst_path.trim_end_matches('/'))
                .parent()
                .map(|p| p.to_string_lossy().into_owned())
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "/".into());
            (parent, Some(base_name(dst)))
        };
        let (tx, rx) = tokio::io::duplex(256 * 1024);
        let bridge = tokio_util::io::SyncIoBridge::new(tx);
        let counter = count.clone();
        tokio::task::spawn_blocking(move || {
            let w = CountingWrite {
                inner: bridge,
                n: counter,
            };
            if let Err(e) = pack(w, &local, name.as_deref()) {
                eprintln!("berth: {e}");
            }
        });
        (put_dir, reader_body(rx))
    };
    let path = format!(
        "/containers/{}/archive?path={}&noOverwriteDirNonDir=true&copyUIDGID={}",
        q(c),
        q(&put_dir),
        a.archive
    );
    client
        .request(Method::PUT, &path, body, Some("application/x-tar"))
        .await?;
    report(
        a.quiet,
        count.load(std::sync::atomic::Ordering::Relaxed),
        &format!("{c}:{dst}"),
    );
    Ok(0)
}

struct CountingWrite<W> {
    inner: W,
    n: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl<W: std::io::Write> std::io::Write for CountingWrite<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n
            .fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn io_text(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        _ => e.to_string(),
    }
}

/// Streams a GET response to `-o FILE` (through a temporary file renamed at
/// the end, so a failure leaves no half file) or to stdout.
async fn download(client: &Client, path: &str, output: Option<&str>) -> CmdResult {
    use tokio::io::AsyncWriteExt;
    if output.is_none() && stream::is_terminal(1) {
        return Err(Failure::new(
            1,
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ));
    }
    let resp = client.request(Method::GET, path, empty(), None).await?;
    let mut body = resp.into_body();
    match output {
        None => {
            while let Some(chunk) = next_chunk(&mut body).await? {
                stream::write_std(stream::Target::Stdout, &chunk);
            }
        }
        Some(out) => {
            let tmp = format!("{out}.berth-tmp-{}", std::process::id());
            let fail = |e: std::io::Error| Failure::new(1, format!("failed to save: {e}"));
            let mut f = tokio::fs::File::create(&tmp).await.map_err(fail)?;
            let r: Result<(), Failure> = async {
                while let Some(chunk) = next_chunk(&mut body).await? {
                    f.write_all(&chunk).await.map_err(fail)?;
                }
                f.flush().await.map_err(fail)?;
                Ok(())
            }
            .await;
            if let Err(e) = r {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(e);
            }
            tokio::fs::rename(&tmp, out).await.map_err(fail)?;
        }
    }
    Ok(0)
}

pub async fn export(client: &Client, a: ExportArgs) -> CmdResult {
    download(
        client,
        &format!("/containers/{}/export", q(&a.container)),
        a.output.as_deref(),
    )
    .await
}

pub async fn save(client: &Client, a: SaveArgs) -> CmdResult {
    let names: Vec<String> = a.images.iter().map(|n| format!("names={}", q(n))).collect();
    download(
        client,
        &format!("/images/get?{}", names.join("&")),
        a.output.as_deref(),
    )
    .await
}

pub async fn load(client: &Client, a: LoadArgs) -> CmdResult {
    let body = match &a.input {
        Some(f) => {
            let file = tokio::fs::File::open(f)
                .await
                .map_err(|e| Failure::new(1, format!("open {f}: {}", io_text(&e))))?;
            reader_body(file)
        }
        None => {
            if stream::is_terminal(0) {
                return Err(Failure::new(
                    1,
                    "requested load from stdin, but stdin is empty",
                ));
            }
            reader_body(tokio::io::stdin())
        }
    };
    let quiet = a.quiet || !stream::is_terminal(1);
    let resp = client
        .request(
            Method::POST,
            &format!("/images/load?quiet={}", quiet as u8),
            body,
            Some("application/x-tar"),
        )
        .await?;
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::new();
    let mut failure = None;
    while let Some(chunk) = next_chunk(&mut body).await? {
        buf.extend_from_slice(&chunk);
        let mut de = serde_json::Deserializer::from_slice(&buf).into_iter::<Value>();
        let mut consumed = 0;
        while let Some(Ok(v)) = de.next() {
            consumed = de.byte_offset();
            if let Some(e) = v.get("error").and_then(Value::as_str) {
                failure = Some(e.to_string());
            } else if let Some(s) = v.get("stream").and_then(Value::as_str) {
                out!("{s}");
            } else if let Some(s) = v.get("status").and_then(Value::as_str) {
                match v.get("id").and_then(Value::as_str) {
                    Some(id) => outln!("{id}: {s}"),
                    None => outln!("{s}"),
                }
            }
        }
        buf.drain(..consumed);
    }
    match failure {
        Some(e) => Err(Failure::new(1, e)),
        None => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cp_args_split_like_docker() {
        assert_eq!(split_cp_arg("c:/etc"), (Some("c"), "/etc"));
        assert_eq!(split_cp_arg("/a:b"), (None, "/a:b"));
        assert_eq!(split_cp_arg("./a:b"), (None, "./a:b"));
        assert_eq!(split_cp_arg("-"), (None, "-"));
    }

    #[test]
    fn rebase_renames_the_top_entry() {
        let p = Path::new("etc/hosts");
        assert_eq!(rebased(p, &Rebase::Keep).unwrap(), Path::new("etc/hosts"));
        assert_eq!(
            rebased(p, &Rebase::Rename("x".into())).unwrap(),
            Path::new("x/hosts")
        );
        assert_eq!(
            rebased(Path::new("./a"), &Rebase::Contents).unwrap(),
            Path::new("a")
        );
        assert_eq!(rebased(p, &Rebase::Contents).unwrap(), p);
        assert!(rebased(Path::new("../x"), &Rebase::Keep).is_none());
        assert_eq!(
            rebased(Path::new("./sub/b"), &Rebase::Rename("d".into())).unwrap(),
            Path::new("d/sub/b")
        );
    }
}
