//! Image commands: images, rmi, tag, import, pull, commit, history and prune.

use super::args::{CommitArgs, HistoryArgs, ImagePruneArgs};
use super::args::{ImagesArgs, ImportArgs, RmiArgs, TagArgs};
use super::connect::{Client, next_chunk, q, reader_body};
use super::containers::print_rows;
use super::format::{self, Val};
use super::{CmdResult, Failure, opts, prompt};
use hyper::Method;
use serde_json::Value;

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// docker's rows for one image: one per tag, `<none>` for dangling ones.
fn image_rows(img: &Value, a: &ImagesArgs) -> Vec<Val> {
    let id_full = img
        .get("Id")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let id = if a.no_trunc {
        id_full.clone()
    } else {
        id_full
            .trim_start_matches("sha256:")
            .chars()
            .take(12)
            .collect()
    };
    let created = img.get("Created").and_then(Value::as_i64).unwrap_or(0);
    let size = img.get("Size").and_then(Value::as_i64).unwrap_or(0) as f64;
    let vsize = img
        .get("VirtualSize")
        .and_then(Value::as_i64)
        .map(|v| v as f64)
        .unwrap_or(size);
    let na_or = |k: &str| match img.get(k).and_then(Value::as_i64) {
        Some(n) if n >= 0 && k == "Containers" => n.to_string(),
        Some(n) if n >= 0 => format::human_size(n as f64, 3),
        _ => "N/A".to_string(),
    };
    let strs = |k: &str| -> Vec<String> {
        img.get(k)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let tags: Vec<String> = strs("RepoTags")
        .into_iter()
        .filter(|t| t != "<none>:<none>")
        .collect();
    let digests: Vec<String> = strs("RepoDigests")
        .into_iter()
        .filter(|d| d != "<none>@<none>")
        .collect();
    let digest_of = |repo: &str| {
        digests
            .iter()
            .find_map(|d| {
                d.split_once('@')
                    .filter(|(r, _)| *r == repo)
                    .map(|(_, d)| d.to_string())
            })
            .unwrap_or_else(|| "<none>".into())
    };
    let mut pairs: Vec<(String, String, String)> = Vec::new();
    for t in &tags {
        let (repo, tag) = opts::split_tag(t);
        pairs.push((
            repo.to_string(),
            tag.unwrap_or("<none>").to_string(),
            digest_of(repo),
        ));
    }
    for d in &digests {
        if let Some((repo, dg)) = d.split_once('@')
            && !pairs.iter().any(|(r, _, _)| r == repo)
        {
            pairs.push((repo.to_string(), "<none>".into(), dg.to_string()));
        }
    }
    if pairs.is_empty() {
        pairs.push(("<none>".into(), "<none>".into(), "<none>".into()));
    }
    pairs
        .into_iter()
        .map(|(repo, tag, digest)| {
            Val::Obj(vec![
                ("Containers".into(), Val::Str(na_or("Containers"))),
                ("CreatedAt".into(), Val::Str(format::go_time(created))),
                (
                    "CreatedSince".into(),
                    Val::Str(format!(
                        "{} ago",
                        format::human_duration(now_secs() - created)
                    )),
                ),
                ("Digest".into(), Val::Str(digest)),
                ("ID".into(), Val::Str(id.clone())),
                ("Repository".into(), Val::Str(repo)),
                ("SharedSize".into(), Val::Str(na_or("SharedSize"))),
                ("Size".into(), Val::Str(format::human_size(size, 3))),
                ("Tag".into(), Val::Str(tag)),
                ("UniqueSize".into(), Val::Str(na_or("UniqueSize"))),
                ("VirtualSize".into(), Val::Str(format::human_size(vsize, 4))),
            ])
        })
        .collect()
}

pub async fn images(client: &Client, a: ImagesArgs) -> CmdResult {
    let mut filters = a.list.filter.clone();
    if let Some(r) = &a.reference {
        filters.push(format!("reference={r}"));
    }
    let mut query = Vec::new();
    if a.all {
        query.push("all=1".to_string());
    }
    if let Some(f) = opts::filters_json(&filters).map_err(|e| Failure::new(125, e))? {
        query.push(format!("filters={}", q(&f)));
    }
    let list = client
        .get_json(&format!("/images/json?{}", query.join("&")))
        .await?;
    let rows: Vec<Val> = list
        .as_array()
        .map(|l| l.iter().flat_map(|i| image_rows(i, &a)).collect())
        .unwrap_or_default();
    let fmt = if a.quiet {
        "{{.ID}}".to_string()
    } else {
        match a.list.format.as_deref() {
            None | Some("") | Some("table") => {
                if a.digests {
                    "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}".into()
                } else {
                    "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}".into()
                }
            }
            Some("json") => "{{json .}}".to_string(),
            Some(f) => f.to_string(),
        }
    };
    let hdr = Val::Obj(
        [
            ("Containers", "CONTAINERS"),
            ("CreatedAt", "CREATED AT"),
            ("CreatedSince", "CREATED"),
            ("Digest", "DIGEST"),
            ("ID", "IMAGE ID"),
            ("Repository", "REPOSITORY"),
            ("SharedSize", "SHARED SIZE"),
            ("Size", "SIZE"),
            ("Tag", "TAG"),
            ("UniqueSize", "UNIQUE SIZE"),
            ("VirtualSize", "VIRTUAL SIZE"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), Val::str(*v)))
        .collect(),
    );
    print_rows(&fmt, &rows, &hdr)
}

pub async fn rmi(client: &Client, a: RmiArgs) -> CmdResult {
    let mut code = 0;
    for i in &a.images {
        let path = format!(
            "/images/{}?force={}&noprune={}",
            q(i),
            a.force as u8,
            a.no_prune as u8
        );
        match client.call(Method::DELETE, &path, None).await {
            Ok(b) => {
                let items: Vec<Value> = serde_json::from_slice(&b).unwrap_or_default();
                for it in items {
                    if let Some(u) = it.get("Untagged").and_then(Value::as_str) {
                        outln!("Untagged: {u}");
                    }
                    if let Some(d) = it.get("Deleted").and_then(Value::as_str) {
                        outln!("Deleted: {d}");
                    }
                }
            }
            Err(e) => {
                eprintln!("{e}");
                code = 1;
            }
        }
    }
    Ok(code)
}

pub async fn tag(client: &Client, a: TagArgs) -> CmdResult {
    let (name, tag) = opts::split_tag(&a.target);
    let path = format!(
        "/images/{}/tag?repo={}&tag={}",
        q(&a.source),
        q(&opts::normalize_name(name)),
        q(tag.unwrap_or("latest"))
    );
    client.call(Method::POST, &path, None).await?;
    Ok(0)
}

/// Prints a JSON message stream (pull/import progress) and fails on its
/// `error` entries, as docker's jsonmessage display does.
async fn show_progress(
    resp: hyper::Response<hyper::body::Incoming>,
    to_stderr: bool,
    quiet: bool,
) -> Result<(), Failure> {
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::new();
    let mut failure = None;
    let mut handle = |v: Value| {
        if let Some(e) = v.get("error").and_then(Value::as_str) {
            failure = Some(e.to_string());
            return;
        }
        if quiet {
            return;
        }
        let status = v.get("status").and_then(Value::as_str).unwrap_or("");
        let line = match v.get("id").and_then(Value::as_str) {
            Some(id) => format!("{id}: {status}"),
            None => status.to_string(),
        };
        if !line.is_empty() {
            if to_stderr {
                eprintln!("{line}");
            } else {
                outln!("{line}");
            }
        }
    };
    while let Some(chunk) = next_chunk(&mut body).await? {
        buf.extend_from_slice(&chunk);
        let mut de = serde_json::Deserializer::from_slice(&buf).into_iter::<Value>();
        let mut consumed = 0;
        while let Some(Ok(v)) = de.next() {
            consumed = de.byte_offset();
            handle(v);
        }
        buf.drain(..consumed);
    }
    match failure {
        Some(e) => Err(Failure::new(1, e)),
        None => Ok(()),
    }
}

/// POST /images/create?fromImage=...; an error message on failure.
pub async fn pull_image(client: &Client, image: &str, to_stderr: bool) -> Result<(), String> {
    let (name, tag) = opts::split_tag(image);
    let mut path = format!("/images/create?fromImage={}", q(name));
    if !image.contains('@') {
        path.push_str(&format!("&tag={}", q(tag.unwrap_or("latest"))));
    }
    let resp = client
        .request(Method::POST, &path, super::connect::empty(), None)
        .await
        .map_err(|e| e.to_string())?;
    show_progress(resp, to_stderr, false).await.map_err(|f| {
        format!(
            "Error response from daemon: {}",
            f.message.unwrap_or_default()
        )
    })
}

pub async fn pull(client: &Client, image: &str, quiet: bool) -> CmdResult {
    let (name, tag) = opts::split_tag(image);
    let mut path = format!("/images/create?fromImage={}", q(name));
    if !image.contains('@') {
        path.push_str(&format!("&tag={}", q(tag.unwrap_or("latest"))));
    }
    let resp = client
        .request(Method::POST, &path, super::connect::empty(), None)
        .await?;
    show_progress(resp, false, quiet).await?;
    if quiet {
        outln!("{}", opts::normalize_name(&opts::familiar_tagged(image)));
    }
    Ok(0)
}

pub async fn import(client: &Client, a: ImportArgs) -> CmdResult {
    let mut path = String::from("/images/create?fromSrc=");
    let is_url = a.source.starts_with("http://") || a.source.starts_with("https://");
    path.push_str(&q(if is_url { &a.source } else { "-" }));
    path.push_str(&format!(
        "&repo={}&tag=",
        q(a.reference.as_deref().unwrap_or(""))
    ));
    path.push_str(&format!(
        "&message={}",
        q(a.message.as_deref().unwrap_or(""))
    ));
    if let Some(p) = &a.platform {
        path.push_str(&format!("&platform={}", q(p)));
    }
    for c in &a.change {
        path.push_str(&format!("&changes={}", q(c)));
    }
    let body = if is_url {
        super::connect::empty()
    } else if a.source == "-" {
        reader_body(tokio::io::stdin())
    } else {
        let f = tokio::fs::File::open(&a.source)
            .await
            .map_err(|e| Failure::new(1, format!("open {}: {}", a.source, e)))?;
        reader_body(f)
    };
    let resp = client
        .request(Method::POST, &path, body, Some("application/x-tar"))
        .await?;
    show_progress(resp, false, false).await?;
    Ok(0)
}

pub async fn commit(client: &Client, a: CommitArgs) -> CmdResult {
    let mut query = vec![format!("container={}", q(&a.container))];
    if let Some(r) = a.reference.as_deref().filter(|r| !r.is_empty()) {
        let (name, tag) = opts::split_tag(r);
        query.push(format!("repo={}", q(&opts::normalize_name(name))));
        if let Some(t) = tag {
            query.push(format!("tag={}", q(t)));
        }
    }
    if let Some(m) = &a.message {
        query.push(format!("comment={}", q(m)));
    }
    if let Some(au) = &a.author {
        query.push(format!("author={}", q(au)));
    }
    if !a.pause {
        query.push("pause=0".into());
    }
    for c in &a.change {
        query.push(format!("changes={}", q(c)));
    }
    let v = client
        .post_json(&format!("/commit?{}", query.join("&")), None)
        .await?;
    outln!("{}", v.get("Id").and_then(Value::as_str).unwrap_or(""));
    Ok(0)
}

pub async fn history(client: &Client, a: HistoryArgs) -> CmdResult {
    let list = client
        .get_json(&format!("/images/{}/history", q(&a.image)))
        .await?;
    let rows: Vec<Val> = list
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            let id = h.get("Id").and_then(Value::as_str).unwrap_or("");
            let id = if id.is_empty() || id == "<missing>" {
                "<missing>".to_string()
            } else if a.no_trunc {
                id.to_string()
            } else {
                id.trim_start_matches("sha256:").chars().take(12).collect()
            };
            let created = h.get("Created").and_then(Value::as_i64).unwrap_or(0);
            let size = h.get("Size").and_then(Value::as_i64).unwrap_or(0);
            let by = h
                .get("CreatedBy")
                .and_then(Value::as_str)
                .unwrap_or("")
                .replace('\t', " ");
            let by = if a.no_trunc {
                by
            } else {
                format::ellipsis(&by, 45)
            };
            let created_at = chrono::DateTime::from_timestamp(created, 0)
                .map(|t| {
                    t.with_timezone(&chrono::Local)
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                })
                .unwrap_or_default();
            let (since, size_s) = if a.human {
                (
                    format!("{} ago", format::human_duration(now_secs() - created)),
                    format::human_size(size as f64, 3),
                )
            } else {
                (created_at.clone(), size.to_string())
            };
            Val::Obj(vec![
                (
                    "Comment".into(),
                    Val::str(h.get("Comment").and_then(Value::as_str).unwrap_or("")),
                ),
                ("CreatedAt".into(), Val::Str(created_at)),
                ("CreatedBy".into(), Val::Str(by)),
                ("CreatedSince".into(), Val::Str(since)),
                ("ID".into(), Val::Str(id)),
                ("Size".into(), Val::Str(size_s)),
            ])
        })
        .collect();
    let fmt = if a.quiet {
        "{{.ID}}".to_string()
    } else {
        match a.format.as_deref() {
            None | Some("") | Some("table") => {
                "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}".into()
            }
            Some("json") => "{{json .}}".into(),
            Some(f) => f.to_string(),
        }
    };
    let hdr = Val::Obj(
        [
            ("Comment", "COMMENT"),
            ("CreatedAt", "CREATED AT"),
            ("CreatedBy", "CREATED BY"),
            (
                "CreatedSince",
                if a.human { "CREATED" } else { "CREATED AT" },
            ),
            ("ID", "IMAGE"),
            ("Size", "SIZE"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), Val::str(*v)))
        .collect(),
    );
    print_rows(&fmt, &rows, &hdr)
}

pub async fn prune(client: &Client, a: ImagePruneArgs) -> CmdResult {
    let warning = if a.all {
        "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue?"
    } else {
        "WARNING! This will remove all dangling images.\nAre you sure you want to continue?"
    };
    if !a.prune.force && !prompt::confirm(warning) {
        return Err(prompt::cancelled("image prune"));
    }
    let (reclaimed, text) = prune_images(client, a.all, &a.prune.filter).await?;
    if !text.is_empty() {
        outln!("{text}");
    }
    prompt::print_reclaimed(reclaimed);
    Ok(0)
}

/// POST /images/prune: the space reclaimed and docker's report text.
pub async fn prune_images(
    client: &Client,
    all: bool,
    filters: &[String],
) -> Result<(u64, String), Failure> {
    let mut f = filters.to_vec();
    f.push(format!("dangling={}", !all));
    let fj = opts::filters_json(&f).map_err(|e| Failure::new(125, e))?;
    let path = format!("/images/prune?filters={}", q(&fj.unwrap_or_default()));
    let v = client.post_json(&path, None).await?;
    let mut text = String::new();
    let deleted = v
        .get("ImagesDeleted")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !deleted.is_empty() {
        text.push_str("Deleted Images:\n");
        for d in &deleted {
            if let Some(u) = d.get("Untagged").and_then(Value::as_str) {
                text.push_str(&format!("untagged: {u}\n"));
            }
            if let Some(x) = d.get("Deleted").and_then(Value::as_str) {
                text.push_str(&format!("deleted: {x}\n"));
            }
        }
    }
    Ok((
        v.get("SpaceReclaimed").and_then(Value::as_u64).unwrap_or(0),
        text,
    ))
}
