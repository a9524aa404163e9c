//! `berth registry serve --scan`: every pushed image manifest is scanned
//! from the registry's own blobs (its layers' tar streams, as a daemon scans
//! its content store), and results are served two ways:
//!
//! - `GET /berth/v1/scans/<digest>`: berth's report (as `berth scan --format json`);
//! - Harbor's pluggable scanner API v1.1: `GET /api/v1/metadata`,
//!   `POST /api/v1/scan` (202 and an id), `GET /api/v1/scan/{id}/report`
//!   (`application/vnd.security.vulnerability.report; version=1.1`).
//!
//! The database is `<root>/scan/db` (`berth registry scan-db-import`); a
//! report is cached per manifest digest until the database changes. Only
//! this registry's artifacts are scanned: Harbor's `registry.url` is not
//! dialled.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cas::ContentStore as _;
use parking_lot::Mutex;
use scan::layers::BlobFiles;
use scan::{Report, Scanner, Severity};
use serde_json::{Value, json};

use crate::error::{ApiError, Code};
use crate::http::{AppState, Shared};

pub const HARBOR_REPORT: &str = "application/vnd.security.vulnerability.report; version=1.1";
const HARBOR_METADATA: &str = "application/vnd.scanner.adapter.metadata+json; version=1.0";
const HARBOR_SCAN_RESPONSE: &str =
    "application/vnd.scanner.adapter.scan.response+json; version=1.0";
const IMAGE_MANIFESTS: [&str; 2] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

#[derive(Debug, Clone)]
enum Job {
    Running,
    Done,
    Failed(String),
}

#[derive(Debug, Clone)]
struct Artifact {
    repository: String,
    mime_type: String,
    job: Job,
}

#[derive(Debug)]
pub struct Scanning {
    scanner: Scanner,
    /// By manifest digest.
    artifacts: Mutex<HashMap<String, Artifact>>,
}

fn not_found(msg: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, Code::Unsupported, msg)
}

fn bad_request(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, Code::Unsupported, msg)
}

/// The layers of an image manifest in the store, bottom first.
fn layers_of(state: &AppState, digest: &str) -> Result<BlobFiles, String> {
    let bytes = state
        .store
        .blobs()
        .read(digest)
        .map_err(|e| format!("manifest {digest}: {e}"))?;
    let doc: Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("manifest {digest}: {e}"))?;
    if doc.get("manifests").is_some() {
        return Err(format!(
            "not implemented: scanning image index {digest}; scan each platform's manifest"
        ));
    }
    let mut out = Vec::new();
    for l in doc["layers"].as_array().into_iter().flatten() {
        let d = l["digest"]
            .as_str()
            .ok_or_else(|| format!("manifest {digest}: a layer has no digest"))?;
        let path = state.store.blob_path(d);
        if !path.is_file() {
            return Err(format!("layer {d} of {digest} is not in the registry"));
        }
        out.push((d.to_string(), path));
    }
    Ok(BlobFiles(out))
}

impl Scanning {
    pub fn new(root: &Path) -> Self {
        Scanning {
            scanner: Scanner::new(root),
            artifacts: Mutex::new(HashMap::new()),
        }
    }

    fn scan_now(&self, state: &AppState, repository: &str, digest: &str) -> Result<Report, String> {
        let layers = layers_of(state, digest)?;
        self.scanner
            .scan(&format!("{repository}@{digest}"), digest, &layers)
            .map_err(|e| e.to_string())
    }

    /// Scans in the background (a push does not wait for it).
    pub fn queue(self: &Arc<Self>, state: Shared, repository: &str, digest: &str, mime_type: &str) {
        {
            let mut a = self.artifacts.lock();
            if let Some(x) = a.get(digest)
                && matches!(x.job, Job::Running)
            {
                return;
            }
            a.insert(
                digest.to_string(),
                Artifact {
                    repository: repository.to_string(),
                    mime_type: mime_type.to_string(),
                    job: Job::Running,
                },
            );
        }
        let me = self.clone();
        let (repository, digest) = (repository.to_string(), digest.to_string());
        tokio::task::spawn_blocking(move || {
            let job = match me.scan_now(&state, &repository, &digest) {
                Ok(_) => Job::Done,
                Err(e) => {
                    tracing::warn!("registry scan of {repository}@{digest}: {e}");
                    Job::Failed(e)
                }
            };
            if let Some(a) = me.artifacts.lock().get_mut(&digest) {
                a.job = job;
            }
        });
    }

    /// The report of a digest: Ok(None) while it is being made. A report
    /// made against an older database is made again.
    fn report(
        self: &Arc<Self>,
        state: &Shared,
        digest: &str,
    ) -> Result<Option<(Artifact, Report)>, ApiError> {
        let Some(art) = self.artifacts.lock().get(digest).cloned() else {
            return Err(not_found("no scan of this digest"));
        };
        match &art.job {
            Job::Running => Ok(None),
            Job::Failed(e) => Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                Code::Unsupported,
                e.clone(),
            )),
            Job::Done => {
                let generation = self
                    .scanner
                    .db()
                    .meta()
                    .ok()
                    .flatten()
                    .map(|m| m.generation);
                let cached = generation
                    .and_then(|g| scan::cache::Cache::new(self.scanner_cache_dir()).get(digest, g));
                match cached {
                    Some(r) => Ok(Some((art, r))),
                    None => {
                        self.queue(state.clone(), &art.repository, digest, &art.mime_type);
                        Ok(None)
                    }
                }
            }
        }
    }

    fn scanner_cache_dir(&self) -> std::path::PathBuf {
        self.scanner.cache_dir()
    }

    pub async fn handle(
        self: &Arc<Self>,
        state: Shared,
        req: Request,
    ) -> Result<Response, ApiError> {
        let path = req.uri().path().to_string();
        let method = req.method().clone();
        if let Some(digest) = path.strip_prefix("/berth/v1/scans/") {
            if method != Method::GET {
                return Err(bad_request("GET only"));
            }
            return Ok(match self.report(&state, digest)? {
                None => (
                    StatusCode::ACCEPTED,
                    axum::Json(json!({"status": "running"})),
                )
                    .into_response(),
                Some((_, r)) => axum::Json(r).into_response(),
            });
        }
        match (method, path.as_str()) {
            (Method::GET, "/api/v1/metadata") => Ok(self.metadata()),
            (Method::POST, "/api/v1/scan") => self.harbor_scan(state, req).await,
            (Method::GET, p) if p.starts_with("/api/v1/scan/") && p.ends_with("/report") => {
                let id = &p["/api/v1/scan/".len()..p.len() - "/report".len()];
                self.harbor_report(&state, id)
            }
            _ => Err(not_found("no such endpoint")),
        }
    }

    fn metadata(&self) -> Response {
        let updated = self
            .scanner
            .db()
            .meta()
            .ok()
            .flatten()
            .map(|m| m.imported_at)
            .unwrap_or_default();
        let body = json!({
            "scanner": {"name": "berth", "vendor": "berth", "version": env!("CARGO_PKG_VERSION")},
            "capabilities": [{
                "consumes_mime_types": IMAGE_MANIFESTS,
                "produces_mime_types": [HARBOR_REPORT],
            }],
            "properties": {
                "harbor.scanner-adapter/scanner-type": "os-package-vulnerability",
                "harbor.scanner-adapter/vulnerability-database-updated-at": updated,
            },
        });
        ([(header::CONTENT_TYPE, HARBOR_METADATA)], body.to_string()).into_response()
    }

    async fn harbor_scan(
        self: &Arc<Self>,
        state: Shared,
        req: Request,
    ) -> Result<Response, ApiError> {
        let body = axum::body::to_bytes(req.into_body(), 1 << 20)
            .await
            .map_err(|e| bad_request(e.to_string()))?;
        let v: Value =
            serde_json::from_slice(&body).map_err(|e| bad_request(format!("invalid JSON: {e}")))?;
        let repository = v["artifact"]["repository"].as_str().unwrap_or_default();
        let digest = v["artifact"]["digest"].as_str().unwrap_or_default();
        if repository.is_empty() || digest.is_empty() {
            return Err(bad_request(
                "artifact.repository and artifact.digest are required",
            ));
        }
        let mime = v["artifact"]["mime_type"]
            .as_str()
            .unwrap_or(IMAGE_MANIFESTS[0])
            .to_string();
        let known = state
            .store
            .revision(repository, digest)
            .map_err(|e| bad_request(e.to_string()))?
            .is_some();
        if !known {
            return Err(bad_request(format!(
                "{repository}@{digest} is not in this registry (scanning other registries is not implemented)"
            )));
        }
        self.queue(state, repository, digest, &mime);
        let id = digest.to_string();
        Ok((
            StatusCode::ACCEPTED,
            [(header::CONTENT_TYPE, HARBOR_SCAN_RESPONSE)],
            json!({ "id": id }).to_string(),
        )
            .into_response())
    }

    fn harbor_report(self: &Arc<Self>, state: &Shared, id: &str) -> Result<Response, ApiError> {
        let Some((art, report)) = self.report(state, id)? else {
            // Harbor's "not ready yet": ask again later.
            return Ok(Response::builder()
                .status(StatusCode::FOUND)
                .header("Refresh-After", "2")
                .body(Body::empty())
                .unwrap_or_else(|_| StatusCode::FOUND.into_response()));
        };
        Ok((
            [(header::CONTENT_TYPE, HARBOR_REPORT)],
            harbor_report(&art, id, &report).to_string(),
        )
            .into_response())
    }
}

fn harbor_severity(s: Severity) -> &'static str {
    match s {
        Severity::Unknown => "Unknown",
        Severity::Low => "Low",
        Severity::Medium => "Medium",
        Severity::High => "High",
        Severity::Critical => "Critical",
    }
}

fn harbor_report(art: &Artifact, digest: &str, r: &Report) -> Value {
    let findings: Vec<&scan::Finding> = r.results.iter().flat_map(|t| &t.vulnerabilities).collect();
    let worst = findings.iter().map(|f| f.severity).max();
    let vulns: Vec<Value> = findings
        .iter()
        .map(|f| {
            json!({
                "id": f.vulnerability_id,
                "package": f.pkg_name,
                "version": f.installed_version,
                "fix_version": f.fixed_version,
                "severity": harbor_severity(f.severity),
                "description": f.title,
                "links": [format!("https://osv.dev/vulnerability/{}", f.vulnerability_id)],
            })
        })
        .collect();
    json!({
        "generated_at": chrono_now(),
        "artifact": {"repository": art.repository, "digest": digest, "mime_type": art.mime_type},
        "scanner": {"name": "berth", "vendor": "berth", "version": env!("CARGO_PKG_VERSION")},
        "severity": worst.map_or("None", harbor_severity),
        "vulnerabilities": vulns,
    })
}

fn chrono_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    scan::rfc3339(secs)
}
