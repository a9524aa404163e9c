//! `berth build`: docker's classic `docker build` over `POST /build`. The
//! context directory goes as a tar, minus what `.dockerignore` excludes (the
//! daemon applies it too); a Dockerfile outside the context rides along
//! under a generated name, as the docker CLI does it.

use std::path::{Path, PathBuf};

use dockerfile::IgnoreMatcher;
use hyper::Method;
use serde_json::Value;

use super::args::BuildArgs;
use super::connect::{Client, next_chunk, q};
use super::{CmdResult, Failure};

fn walk(
    root: &Path,
    rel: &str,
    m: &IgnoreMatcher,
    out: &mut tar::Builder<Vec<u8>>,
) -> std::io::Result<()> {
    let dir = if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    };
    let mut names: Vec<_> = std::fs::read_dir(&dir)?.collect::<std::io::Result<Vec<_>>>()?;
    names.sort_by_key(|e| e.file_name());
    for e in names {
        let name = e.file_name().to_string_lossy().into_owned();
        let r = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let keep = r == "Dockerfile" || r == ".dockerignore";
        let ft = e.file_type()?;
        if !keep && m.excluded(&r) && !(ft.is_dir() && m.has_exceptions()) {
            continue;
        }
        if ft.is_dir() {
            out.append_dir(&r, e.path())?;
            walk(root, &r, m, out)?;
        } else if !keep && m.excluded(&r) {
            continue;
        } else {
            out.append_path_with_name(e.path(), &r)?;
        }
    }
    Ok(())
}

/// Owner and time of the entries we make up.
fn stamp(h: &mut tar::Header) {
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(chrono::Utc::now().timestamp().max(0) as u64);
}

/// The context tar and the `dockerfile` parameter that names the Dockerfile in it.
fn context_tar(dir: &Path, file: Option<&Path>) -> std::io::Result<(Vec<u8>, String)> {
    let ignore_text = std::fs::read_to_string(dir.join(".dockerignore")).unwrap_or_default();
    let matcher = IgnoreMatcher::parse(&ignore_text).map_err(std::io::Error::other)?;
    let mut out = tar::Builder::new(Vec::new());
    out.follow_symlinks(false);
    walk(dir, "", &matcher, &mut out)?;
    let default = dir.join("Dockerfile");
    let file = file.map(Path::to_path_buf).unwrap_or(default);
    let abs_dir = std::fs::canonicalize(dir)?;
    let abs_file = std::fs::canonicalize(&file).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("Cannot locate specified Dockerfile: {}", file.display()),
        )
    })?;
    let name = match abs_file.strip_prefix(&abs_dir) {
        Ok(rel) => rel.to_string_lossy().into_owned(),
        Err(_) => {
            // Outside the context: add it and hide it (and .dockerignore)
            // from COPY with .dockerignore lines, as the docker CLI does.
            use rand::Rng;
            let n: u64 = rand::rng().random();
            let name = format!(".dockerfile.{n:016x}");
            let text = std::fs::read(&abs_file)?;
            let mut h = tar::Header::new_gnu();
            h.set_size(text.len() as u64);
            h.set_mode(0o600);
            stamp(&mut h);
            out.append_data(&mut h, &name, text.as_slice())?;
            let ignore = format!("{ignore_text}\n.dockerignore\n{name}\n");
            let mut h = tar::Header::new_gnu();
            h.set_size(ignore.len() as u64);
            h.set_mode(0o600);
            stamp(&mut h);
            out.append_data(&mut h, ".dockerignore", ignore.as_bytes())?;
            name
        }
    };
    Ok((out.into_inner()?, name))
}

fn query(a: &BuildArgs, dockerfile: &str) -> String {
    let mut p = format!("/build?dockerfile={}", q(dockerfile));
    for t in &a.tag {
        p.push_str(&format!("&t={}", q(t)));
    }
    let mut args = serde_json::Map::new();
    for kv in &a.build_arg {
        match kv.split_once('=') {
            Some((k, v)) => args.insert(k.into(), Value::String(v.into())),
            // `--build-arg NAME` takes the value from our environment.
            None => args.insert(
                kv.clone(),
                std::env::var(kv).map(Value::String).unwrap_or(Value::Null),
            ),
        };
    }
    if !args.is_empty() {
        p.push_str(&format!(
            "&buildargs={}",
            q(&Value::Object(args).to_string())
        ));
    }
    let labels: serde_json::Map<String, Value> = a
        .label
        .iter()
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_string(), Value::String(v.to_string()))
        })
        .collect();
    if !labels.is_empty() {
        p.push_str(&format!(
            "&labels={}",
            q(&Value::Object(labels).to_string())
        ));
    }
    if let Some(t) = &a.target {
        p.push_str(&format!("&target={}", q(t)));
    }
    for (flag, on) in [
        ("nocache", a.no_cache),
        ("q", a.quiet),
        ("forcerm", a.force_rm),
        ("pull", a.pull),
    ] {
        if on {
            p.push_str(&format!("&{flag}=1"));
        }
    }
    p.push_str(if a.rm { "&rm=1" } else { "&rm=0" });
    if let Some(n) = &a.network {
        p.push_str(&format!("&networkmode={}", q(n)));
    }
    if let Some(pl) = &a.platform {
        p.push_str(&format!("&platform={}", q(pl)));
    }
    if !a.cache_from.is_empty() {
        let refs: Vec<Value> = a.cache_from.iter().cloned().map(Value::String).collect();
        p.push_str(&format!(
            "&cachefrom={}",
            q(&Value::Array(refs).to_string())
        ));
    }
    if !a.add_host.is_empty() {
        p.push_str(&format!("&extrahosts={}", q(&a.add_host.join(","))));
    }
    p
}

pub async fn build(client: &Client, a: BuildArgs) -> CmdResult {
    let dir = PathBuf::from(&a.path);
    let file = a.file.as_ref().map(|f| {
        let p = PathBuf::from(f);
        // docker: a relative -f is relative to the current directory.
        if p.is_absolute() {
            p
        } else {
            std::env::current_dir().unwrap_or_default().join(p)
        }
    });
    let (tar, dockerfile) = tokio::task::spawn_blocking(move || context_tar(&dir, file.as_deref()))
        .await
        .map_err(|e| Failure::new(1, e.to_string()))?
        .map_err(|e| Failure::new(1, format!("unable to prepare context: {e}")))?;
    let resp = client
        .request(
            Method::POST,
            &query(&a, &dockerfile),
            super::connect::full(tar),
            Some("application/x-tar"),
        )
        .await?;
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::new();
    let mut id = None;
    let mut failure = None;
    let mut quiet_text = String::new();
    while let Some(chunk) = next_chunk(&mut body).await? {
        buf.extend_from_slice(&chunk);
        let mut de = serde_json::Deserializer::from_slice(&buf).into_iter::<Value>();
        let mut consumed = 0;
        while let Some(Ok(v)) = de.next() {
            consumed = de.byte_offset();
            if let Some(e) = v.get("error").and_then(Value::as_str) {
                let code = v
                    .pointer("/errorDetail/code")
                    .and_then(Value::as_i64)
                    .filter(|c| *c != 0)
                    .unwrap_or(1);
                failure = Some(Failure::new(code as i32, e));
            } else if let Some(i) = v.pointer("/aux/ID").and_then(Value::as_str) {
                id = Some(i.to_string());
            } else if let Some(s) = v.get("stream").and_then(Value::as_str) {
                // In quiet mode the daemon sends only the id, or on failure
                // the output it held back.
                if a.quiet {
                    quiet_text.push_str(s);
                } else {
                    out!("{s}");
                }
            }
        }
        buf.drain(..consumed);
    }
    if let Some(f) = failure {
        if a.quiet {
            eprint!("{quiet_text}");
        }
        return Err(f);
    }
    if a.quiet {
        match id {
            Some(id) => outln!("{id}"),
            None => out!("{quiet_text}"),
        }
    }
    Ok(0)
}
