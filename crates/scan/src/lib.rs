//! Image vulnerability scanning (issue 16): an image's packages are read
//! from its layers without running it ([`inventory`]), looked up in an OSV
//! database kept under the data root ([`db`]), matched with OSV's range
//! rules and each ecosystem's version ordering ([`matcher`], [`version`]),
//! and reported Trivy's way ([`report`]). A scan is cached per image id and
//! database generation ([`cache`]).

pub mod cache;
pub mod db;
pub mod error;
pub mod inventory;
pub mod layers;
pub mod matcher;
pub mod osv;
pub mod report;
pub mod severity;
pub mod version;

use std::path::{Path, PathBuf};

pub use error::ScanError;
pub use report::{Filter, Finding, Report, TargetResult};
pub use severity::Severity;

use crate::db::{Db, DbDir};
use crate::inventory::{Inventory, Tree};
use crate::layers::LayerSource;
use crate::version::Ecosystem;

/// Scans against the database of one data root (`<data-root>/scan`).
#[derive(Debug, Clone)]
pub struct Scanner {
    root: PathBuf,
}

impl Scanner {
    pub fn new(data_root: &Path) -> Self {
        Scanner {
            root: data_root.join("scan"),
        }
    }

    pub fn db(&self) -> DbDir {
        DbDir::new(self.root.join("db"))
    }

    /// Imports an uploaded source (a zip, a tar of .json files, or one
    /// .json), spooled to a temporary file beside the database first.
    pub fn import_stream(
        &self,
        kind: db::SourceKind,
        mut body: impl std::io::Read,
    ) -> Result<db::ImportSummary, ScanError> {
        use crate::error::IoContext;
        let suffix = match kind {
            db::SourceKind::Zip => ".zip",
            db::SourceKind::Tar => ".tar",
            db::SourceKind::Json => ".json",
            db::SourceKind::Dir => {
                return Err(ScanError::InvalidArgument(
                    "a directory cannot be uploaded; send a tar of it".into(),
                ));
            }
        };
        std::fs::create_dir_all(&self.root).ctx(|| format!("create {}", self.root.display()))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".upload-")
            .suffix(suffix)
            .tempfile_in(&self.root)
            .ctx(|| "create upload file".into())?;
        std::io::copy(&mut body, tmp.as_file_mut()).ctx(|| "receive upload".into())?;
        self.import(tmp.path())
    }

    /// Imports `source` into the database; the scans cached against the
    /// previous generation can never be served again, so they go.
    pub fn import(&self, source: &Path) -> Result<db::ImportSummary, ScanError> {
        let summary = self.db().import(source)?;
        if let Ok(entries) = std::fs::read_dir(self.cache_dir()) {
            for e in entries.flatten() {
                let _ = std::fs::remove_file(e.path());
            }
        }
        Ok(summary)
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.root.join("cache")
    }

    fn cache(&self) -> cache::Cache {
        cache::Cache::new(self.cache_dir())
    }

    /// Scans the image whose layers `source` gives (bottom first), or
    /// returns the cached report of the same image id and database.
    pub fn scan(
        &self,
        image: &str,
        image_id: &str,
        source: &dyn LayerSource,
    ) -> Result<Report, ScanError> {
        // A cache hit needs only the generation, not the index.
        let generation = self.db().meta()?.ok_or(ScanError::NoDatabase)?.generation;
        if let Some(mut r) = self.cache().get(image_id, generation) {
            r.image = image.to_string();
            r.cached = true;
            return Ok(r);
        }
        let db = self.db().open()?;
        let mut tree = Tree::default();
        for i in 0..source.count() {
            let name = source.name(i);
            let layer = source.open(i)?;
            tree.apply_layer(&name, layer)?;
        }
        let inv = inventory::inventory(tree);
        let report = match_inventory(image, image_id, &db, inv)?;
        if let Err(e) = self.cache().put(image_id, &report) {
            tracing::warn!("scan cache: {e}");
        }
        Ok(report)
    }
}

/// Unix seconds as RFC 3339 UTC.
pub fn rfc3339(secs: u64) -> String {
    chrono::DateTime::from_timestamp(secs as i64, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Looks every package of `inv` up in `db`.
pub fn match_inventory(
    image: &str,
    image_id: &str,
    db: &Db,
    inv: Inventory,
) -> Result<Report, ScanError> {
    let mut results = Vec::new();
    let mut warnings = inv.warnings;
    for t in inv.targets {
        let mut vulns = Vec::new();
        let eco_name = t.ecosystem.clone().unwrap_or_default();
        let eco = Ecosystem::from_osv(&eco_name);
        match eco {
            None => warnings.push(format!(
                "{}: no vulnerability data for this ecosystem",
                t.target
            )),
            Some(eco) => {
                let streams: Vec<&str> = db.ecosystems_under(&eco_name).collect();
                for p in &t.packages {
                    let name = eco.normalize_name(&p.name);
                    let mut records = Vec::new();
                    for stream in &streams {
                        for rec in db.lookup(stream, &name)? {
                            // A record naming the package in two streams is one finding.
                            if !records.iter().any(|r: &db::StoredRecord| r.id == rec.id) {
                                records.push(rec);
                            }
                        }
                    }
                    for rec in records {
                        let mut best: Option<(matcher::Verdict, Severity)> = None;
                        for a in rec.affected.iter().filter(|a| {
                            db::ecosystem_covers(&eco_name, &a.ecosystem) && a.name == name
                        }) {
                            if let Some(v) =
                                matcher::affects(eco, &a.ranges, &a.versions, &p.version)
                                && best.as_ref().is_none_or(|(b, _)| b.fixed.is_empty())
                            {
                                best = Some((v, a.severity));
                            }
                        }
                        if let Some((v, severity)) = best {
                            vulns.push(Finding {
                                vulnerability_id: rec.id.clone(),
                                pkg_name: p.name.clone(),
                                installed_version: p.version.clone(),
                                fixed_version: v.fixed,
                                severity,
                                title: rec.title.clone(),
                            });
                        }
                    }
                }
            }
        }
        vulns.sort_by(|a, b| {
            (
                &a.pkg_name,
                std::cmp::Reverse(a.severity),
                &a.vulnerability_id,
            )
                .cmp(&(
                    &b.pkg_name,
                    std::cmp::Reverse(b.severity),
                    &b.vulnerability_id,
                ))
        });
        results.push(TargetResult {
            target: t.target,
            kind: t.kind,
            ecosystem: t.ecosystem,
            packages: t.packages.len(),
            vulnerabilities: vulns,
        });
    }
    Ok(Report {
        image: image.to_string(),
        image_id: image_id.to_string(),
        os: inv.os.map(|o| o.display()),
        db_generation: db.meta.generation,
        db_imported_at: db.meta.imported_at.clone(),
        cached: false,
        results,
        warnings,
    })
}
