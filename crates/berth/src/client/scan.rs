//! `berth scan`: asks the daemon to scan an image against its OSV database
//! (`POST /berth/v1/images/{name}/scan`) and renders the report; `berth scan
//! db import` uploads OSV records to it.

use std::path::Path;

use hyper::Method;
use scan::Report;
use scan::db::SourceKind;
use serde_json::Value;

use super::args::{ScanArgs, ScanCmd, ScanDbCmd};
use super::connect::{Client, q, read_all, reader_body};
use super::{CmdResult, Failure};

pub async fn scan(client: &Client, a: ScanArgs) -> CmdResult {
    match a.cmd {
        Some(ScanCmd::Db(ScanDbCmd::Import { path })) => import(client, &path).await,
        Some(ScanCmd::Db(ScanDbCmd::Status)) => status(client).await,
        None => scan_image(client, a).await,
    }
}

async fn scan_image(client: &Client, a: ScanArgs) -> CmdResult {
    if !matches!(a.format.as_str(), "table" | "json" | "sarif") {
        return Err(Failure::new(
            1,
            format!("invalid --format {:?}: table, json or sarif", a.format),
        ));
    }
    let image = a.image.unwrap_or_default();
    let mut path = format!("/berth/v1/images/{image}/scan?");
    if let Some(s) = &a.severity {
        scan::report::parse_severities(s)
            .map_err(|e| Failure::new(1, format!("invalid --severity: {e}")))?;
        path.push_str(&format!("severity={}&", q(s)));
    }
    if a.ignore_unfixed {
        path.push_str("ignore-unfixed=1");
    }
    let body = client.call(Method::POST, &path, None).await?;
    let report: Report = serde_json::from_slice(&body)
        .map_err(|e| Failure::new(1, format!("bad scan report from daemon: {e}")))?;
    for w in &report.warnings {
        eprintln!("WARN: {w}");
    }
    let text = match a.format.as_str() {
        "json" => serde_json::to_string_pretty(&report),
        "sarif" => serde_json::to_string_pretty(&report.to_sarif()),
        _ => Ok(report.to_table()),
    }
    .map_err(|e| Failure::new(1, e.to_string()))?;
    outln!("{}", text.trim_end());
    Ok(if report.findings() > 0 {
        a.exit_code
    } else {
        0
    })
}

/// A directory is sent as a tar of its .json files (spooled to a temporary
/// file first, so the upload has a plain file behind it).
async fn import(client: &Client, path: &Path) -> CmdResult {
    let kind = SourceKind::of(path).ok_or_else(|| {
        Failure::new(
            1,
            format!(
                "{}: not a directory of OSV .json files, a .zip, a .tar or a .json",
                path.display()
            ),
        )
    })?;
    let (file, ctype, _spool) = match kind {
        SourceKind::Dir => {
            let dir = path.to_path_buf();
            let spool = tokio::task::spawn_blocking(move || tar_json_files(&dir))
                .await
                .map_err(|e| Failure::new(1, e.to_string()))??;
            let f = tokio::fs::File::open(spool.path())
                .await
                .map_err(|e| Failure::new(1, format!("open spooled tar: {e}")))?;
            (f, "application/x-tar", Some(spool))
        }
        other => {
            let f = tokio::fs::File::open(path)
                .await
                .map_err(|e| Failure::new(1, format!("open {}: {e}", path.display())))?;
            let ctype = match other {
                SourceKind::Zip => "application/zip",
                SourceKind::Tar => "application/x-tar",
                _ => "application/json",
            };
            (f, ctype, None)
        }
    };
    let resp = client
        .request(
            Method::POST,
            "/berth/v1/scan/db/import",
            reader_body(file),
            Some(ctype),
        )
        .await?;
    let body = read_all(resp).await?;
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| Failure::new(1, format!("bad answer from daemon: {e}")))?;
    for w in v["warnings"].as_array().into_iter().flatten() {
        eprintln!("WARN: {}", w.as_str().unwrap_or_default());
    }
    outln!(
        "Imported {} records ({} withdrawn, {} files skipped); database generation {} has {} records, imported {}",
        v["imported"],
        v["withdrawn"],
        v["warnings"].as_array().map_or(0, Vec::len),
        v["generation"],
        v["total"],
        v["imported_at"].as_str().unwrap_or_default()
    );
    Ok(0)
}

fn tar_json_files(dir: &Path) -> Result<tempfile::NamedTempFile, Failure> {
    let fail = |e: std::io::Error| Failure::new(1, format!("tar {}: {e}", dir.display()));
    let spool = tempfile::Builder::new()
        .prefix("berth-osv-")
        .suffix(".tar")
        .tempfile()
        .map_err(fail)?;
    let mut b = tar::Builder::new(std::io::BufWriter::new(spool.as_file()));
    b.follow_symlinks(false);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(fail)? {
            let p = e.map_err(fail)?.path();
            let meta = std::fs::symlink_metadata(&p).map_err(fail)?;
            if meta.is_dir() {
                stack.push(p);
            } else if meta.is_file() && p.extension().is_some_and(|x| x == "json") {
                let rel = p.strip_prefix(dir).unwrap_or(&p);
                b.append_path_with_name(&p, rel).map_err(fail)?;
            }
        }
    }
    b.into_inner()
        .map_err(fail)?
        .into_inner()
        .map_err(|e| fail(e.into_error()))?;
    Ok(spool)
}

async fn status(client: &Client) -> CmdResult {
    let v = client.get_json("/berth/v1/scan/db").await?;
    if v.is_null() {
        outln!("No vulnerability database: import one with `berth scan db import PATH`");
        return Ok(1);
    }
    outln!(
        "Generation {}, imported {}, {} records",
        v["generation"],
        v["imported_at"].as_str().unwrap_or_default(),
        v["records"]
    );
    for (eco, n) in v["ecosystems"].as_object().into_iter().flatten() {
        outln!("  {eco}: {n}");
    }
    Ok(0)
}
