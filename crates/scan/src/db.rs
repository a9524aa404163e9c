//! The OSV database under `<data-root>/scan/db`: every record once in
//! `records-<gen>.jsonl` (the fields a match needs), and
//! `index-<gen>.json` mapping "ecosystem\tpackage" to the byte spans of the
//! records naming it, so a scan reads only its packages' records.
//! `current.json` names the generation in use; an import writes the next
//! generation's files (temp file, fsync, rename) before switching it, so a
//! crash leaves the previous database whole.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::error::{IoContext, ScanError};
use crate::osv::{Range, Record};
use crate::severity::Severity;
use crate::version::Ecosystem;

const CURRENT: &str = "current.json";
/// An OSV record larger than this is not one (osv.dev's largest are ~1 MB).
const MAX_RECORD: u64 = 32 << 20;

/// Imports are serialised: each builds on the generation before it.
static IMPORT: Mutex<()> = Mutex::new(());

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Meta {
    pub generation: u64,
    /// RFC 3339.
    pub imported_at: String,
    pub records: usize,
    /// Records per OSV ecosystem ("Debian:12": 1234).
    pub ecosystems: BTreeMap<String, usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredRecord {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
    pub title: String,
    pub affected: Vec<StoredAffected>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredAffected {
    pub ecosystem: String,
    /// As the ecosystem normalises it (PEP 503 for PyPI).
    pub name: String,
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<Range>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ImportSummary {
    /// Records read from the source and kept.
    pub imported: usize,
    /// Withdrawn records: dropped, and removed if an earlier import had them.
    pub withdrawn: usize,
    /// One line per file skipped, naming it and why.
    pub warnings: Vec<String>,
    /// Records in the database after the import.
    pub total: usize,
    pub generation: u64,
    pub imported_at: String,
}

fn key(ecosystem: &str, name: &str) -> String {
    format!("{ecosystem}\t{name}")
}

fn stored(r: &Record) -> StoredRecord {
    let affected = r
        .affected
        .iter()
        .filter_map(|a| {
            let p = a.package.as_ref()?;
            let name = match Ecosystem::from_osv(&p.ecosystem) {
                Some(e) => e.normalize_name(&p.name),
                None => p.name.clone(),
            };
            Some(StoredAffected {
                ecosystem: p.ecosystem.clone(),
                name,
                severity: r.severity_of(a),
                ranges: a.ranges.clone(),
                versions: a.versions.clone(),
            })
        })
        .collect();
    StoredRecord {
        id: r.id.clone(),
        modified: r.modified.clone(),
        title: r.title(),
        affected,
    }
}

/// What one source file held: records, or why it was skipped.
fn parse_file(name: &str, bytes: &[u8], out: &mut Vec<Record>, warnings: &mut Vec<String>) {
    let value: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            warnings.push(format!("skipped {name}: not JSON: {e}"));
            return;
        }
    };
    let items = match value {
        serde_json::Value::Array(a) => a,
        v => vec![v],
    };
    for (i, item) in items.into_iter().enumerate() {
        match serde_json::from_value::<Record>(item) {
            Ok(r) if r.id.trim().is_empty() => {
                warnings.push(format!("skipped {name}: record {i} has an empty id"))
            }
            Ok(r) => out.push(r),
            Err(e) => warnings.push(format!("skipped {name}: not an OSV record: {e}")),
        }
    }
}

fn read_dir_sources(
    dir: &Path,
    out: &mut Vec<Record>,
    warnings: &mut Vec<String>,
) -> Result<(), ScanError> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut entries: Vec<PathBuf> = fs::read_dir(&d)
            .ctx(|| format!("read {}", d.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for p in entries {
            let meta = fs::symlink_metadata(&p).ctx(|| format!("stat {}", p.display()))?;
            if meta.is_dir() {
                stack.push(p);
            } else if meta.is_file() && p.extension().is_some_and(|e| e == "json") {
                if meta.len() > MAX_RECORD {
                    warnings.push(format!(
                        "skipped {}: larger than {MAX_RECORD} bytes",
                        p.display()
                    ));
                    continue;
                }
                match fs::read(&p) {
                    Ok(b) => parse_file(&p.display().to_string(), &b, out, warnings),
                    Err(e) => warnings.push(format!("skipped {}: {e}", p.display())),
                }
            }
        }
    }
    Ok(())
}

fn read_zip_sources(
    path: &Path,
    out: &mut Vec<Record>,
    warnings: &mut Vec<String>,
) -> Result<(), ScanError> {
    let file = File::open(path).ctx(|| format!("open {}", path.display()))?;
    let mut zip = zip::ZipArchive::new(io::BufReader::new(file))
        .map_err(|e| ScanError::Zip(path.to_path_buf(), e.to_string()))?;
    let mut buf = Vec::new();
    for i in 0..zip.len() {
        let mut entry = match zip.by_index(i) {
            Ok(e) => e,
            Err(e) => {
                warnings.push(format!("skipped entry {i} of {}: {e}", path.display()));
                continue;
            }
        };
        // The entry's own name: the archive may be a spooled upload.
        let name = entry.name().to_string();
        if !entry.is_file() || !entry.name().ends_with(".json") {
            continue;
        }
        if entry.size() > MAX_RECORD {
            warnings.push(format!("skipped {name}: larger than {MAX_RECORD} bytes"));
            continue;
        }
        buf.clear();
        match entry.read_to_end(&mut buf) {
            Ok(_) => parse_file(&name, &buf, out, warnings),
            Err(e) => warnings.push(format!("skipped {name}: {e}")),
        }
    }
    Ok(())
}

fn read_tar_sources(
    path: &Path,
    out: &mut Vec<Record>,
    warnings: &mut Vec<String>,
) -> Result<(), ScanError> {
    let file = File::open(path).ctx(|| format!("open {}", path.display()))?;
    let mut archive = tar::Archive::new(io::BufReader::new(file));
    let entries = archive
        .entries()
        .ctx(|| format!("read {}", path.display()))?;
    let mut buf = Vec::new();
    for entry in entries {
        let mut entry = match entry {
            Ok(e) => e,
            Err(e) => {
                warnings.push(format!("stopped at a damaged archive entry: {e}"));
                break;
            }
        };
        let name = entry
            .path()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        if !entry.header().entry_type().is_file() || !name.ends_with(".json") {
            continue;
        }
        if entry.size() > MAX_RECORD {
            warnings.push(format!("skipped {name}: larger than {MAX_RECORD} bytes"));
            continue;
        }
        buf.clear();
        match entry.read_to_end(&mut buf) {
            Ok(_) => parse_file(&name, &buf, out, warnings),
            Err(e) => warnings.push(format!("skipped {name}: {e}")),
        }
    }
    Ok(())
}

/// The kinds of source an import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Dir,
    Zip,
    Tar,
    Json,
}

impl SourceKind {
    /// By what the path is: a directory, or a file's extension.
    pub fn of(path: &Path) -> Option<SourceKind> {
        if path.is_dir() {
            return Some(SourceKind::Dir);
        }
        match path.extension()?.to_str()? {
            "zip" => Some(SourceKind::Zip),
            "tar" => Some(SourceKind::Tar),
            "json" => Some(SourceKind::Json),
            _ => None,
        }
    }
}

/// The database directory and the generation in use.
#[derive(Debug, Clone)]
pub struct DbDir {
    dir: PathBuf,
}

impl DbDir {
    pub fn new(dir: PathBuf) -> Self {
        DbDir { dir }
    }

    fn records_path(&self, generation: u64) -> PathBuf {
        self.dir.join(format!("records-{generation}.jsonl"))
    }

    fn index_path(&self, generation: u64) -> PathBuf {
        self.dir.join(format!("index-{generation}.json"))
    }

    /// None before the first import.
    pub fn meta(&self) -> Result<Option<Meta>, ScanError> {
        let p = self.dir.join(CURRENT);
        match fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| ScanError::DamagedDatabase(format!("{}: {e}", p.display()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ScanError::io(format!("read {}", p.display()), e)),
        }
    }

    /// Merges the records of `source` (a directory of .json files or a .zip)
    /// into the database: a record replaces an earlier one of the same id; a
    /// withdrawn one removes it.
    pub fn import(&self, source: &Path) -> Result<ImportSummary, ScanError> {
        let _one = IMPORT.lock();
        let mut summary = ImportSummary::default();
        let mut records = Vec::new();
        fs::metadata(source).ctx(|| format!("stat {}", source.display()))?;
        match SourceKind::of(source) {
            Some(SourceKind::Dir) => read_dir_sources(source, &mut records, &mut summary.warnings)?,
            Some(SourceKind::Zip) => read_zip_sources(source, &mut records, &mut summary.warnings)?,
            Some(SourceKind::Tar) => read_tar_sources(source, &mut records, &mut summary.warnings)?,
            Some(SourceKind::Json) => {
                let b = fs::read(source).ctx(|| format!("read {}", source.display()))?;
                let name = source
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                parse_file(&name, &b, &mut records, &mut summary.warnings);
            }
            None => return Err(ScanError::BadSource(source.to_path_buf())),
        }
        for w in &summary.warnings {
            tracing::warn!("scan db import: {w}");
        }
        fs::create_dir_all(&self.dir).ctx(|| format!("create {}", self.dir.display()))?;
        let old = self.meta()?;
        let mut all: BTreeMap<String, StoredRecord> = BTreeMap::new();
        if let Some(m) = &old {
            let data = fs::read(self.records_path(m.generation))
                .ctx(|| format!("read {}", self.records_path(m.generation).display()))?;
            for (n, line) in data.split(|b| *b == b'\n').enumerate() {
                if line.is_empty() {
                    continue;
                }
                match serde_json::from_slice::<StoredRecord>(line) {
                    Ok(r) => {
                        all.insert(r.id.clone(), r);
                    }
                    Err(e) => tracing::warn!(
                        "scan db: dropped damaged stored record at line {}: {e}",
                        n + 1
                    ),
                }
            }
        }
        for r in &records {
            if r.withdrawn.is_some() {
                summary.withdrawn += 1;
                all.remove(&r.id);
            } else {
                summary.imported += 1;
                all.insert(r.id.clone(), stored(r));
            }
        }
        let generation = old.as_ref().map_or(1, |m| m.generation + 1);
        let mut data = Vec::new();
        let mut index: BTreeMap<String, Vec<(u64, u32)>> = BTreeMap::new();
        let mut ecosystems: BTreeMap<String, usize> = BTreeMap::new();
        for r in all.values() {
            let start = data.len() as u64;
            serde_json::to_writer(&mut data, r)
                .map_err(|e| ScanError::InvalidArgument(e.to_string()))?;
            let len = (data.len() as u64 - start) as u32;
            data.push(b'\n');
            let mut keys: Vec<String> = r
                .affected
                .iter()
                .map(|a| key(&a.ecosystem, &a.name))
                .collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                index.entry(k).or_default().push((start, len));
            }
            let mut ecos: Vec<&str> = r.affected.iter().map(|a| a.ecosystem.as_str()).collect();
            ecos.sort();
            ecos.dedup();
            for e in ecos {
                *ecosystems.entry(e.to_string()).or_default() += 1;
            }
        }
        let records_path = self.records_path(generation);
        cas::write_atomic(&records_path, &data)
            .ctx(|| format!("write {}", records_path.display()))?;
        let index_path = self.index_path(generation);
        let index_bytes =
            serde_json::to_vec(&index).map_err(|e| ScanError::InvalidArgument(e.to_string()))?;
        cas::write_atomic(&index_path, &index_bytes)
            .ctx(|| format!("write {}", index_path.display()))?;
        let new_meta = Meta {
            generation,
            imported_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            records: all.len(),
            ecosystems,
        };
        let current = self.dir.join(CURRENT);
        cas::write_json_atomic(&current, &new_meta)
            .ctx(|| format!("write {}", current.display()))?;
        if let Some(m) = old {
            // Readers that opened the old generation keep their descriptors.
            let _ = fs::remove_file(self.records_path(m.generation));
            let _ = fs::remove_file(self.index_path(m.generation));
        }
        summary.total = new_meta.records;
        summary.generation = generation;
        summary.imported_at = new_meta.imported_at;
        Ok(summary)
    }

    /// The database in use, ready for lookups.
    pub fn open(&self) -> Result<Db, ScanError> {
        let meta = self.meta()?.ok_or(ScanError::NoDatabase)?;
        let index_path = self.index_path(meta.generation);
        let index: HashMap<String, Vec<(u64, u32)>> = serde_json::from_slice(
            &fs::read(&index_path).ctx(|| format!("read {}", index_path.display()))?,
        )
        .map_err(|e| ScanError::DamagedDatabase(format!("{}: {e}", index_path.display())))?;
        let records_path = self.records_path(meta.generation);
        let records =
            File::open(&records_path).ctx(|| format!("open {}", records_path.display()))?;
        Ok(Db {
            meta,
            index,
            records,
        })
    }
}

#[derive(Debug)]
pub struct Db {
    pub meta: Meta,
    index: HashMap<String, Vec<(u64, u32)>>,
    records: File,
}

/// Whether a record's ecosystem is the one a target looks up: the same, or
/// one of its streams (Red Hat names them `Red Hat:enterprise_linux:9::appstream`
/// under the release `Red Hat:enterprise_linux:9`).
pub fn ecosystem_covers(target: &str, record: &str) -> bool {
    record
        .strip_prefix(target)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(':'))
}

impl Db {
    /// The ecosystems of the database that `target` covers (see [`ecosystem_covers`]).
    pub fn ecosystems_under<'a>(&'a self, target: &'a str) -> impl Iterator<Item = &'a str> {
        self.meta
            .ecosystems
            .keys()
            .map(String::as_str)
            .filter(move |e| ecosystem_covers(target, e))
    }

    /// The records naming `name` in `ecosystem` (exact OSV ecosystem string).
    pub fn lookup(&self, ecosystem: &str, name: &str) -> Result<Vec<StoredRecord>, ScanError> {
        let Some(spans) = self.index.get(&key(ecosystem, name)) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::with_capacity(spans.len());
        let mut buf = Vec::new();
        for (off, len) in spans {
            buf.resize(*len as usize, 0);
            self.records
                .read_exact_at(&mut buf, *off)
                .ctx(|| format!("read vulnerability record at {off}"))?;
            match serde_json::from_slice(&buf) {
                Ok(r) => out.push(r),
                Err(e) => tracing::warn!("scan db: damaged record at byte {off}: {e}"),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, body: &str) {
        fs::write(dir.join(name), body).unwrap();
    }

    #[test]
    fn import_merges_withdraws_and_skips_bad_files() {
        let src = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        let db = DbDir::new(root.path().join("db"));
        write(
            src.path(),
            "a.json",
            r#"{"id":"A-1","summary":"first","affected":[{"package":{"ecosystem":"PyPI","name":"Foo_Bar"},"versions":["1.0"]}]}"#,
        );
        write(src.path(), "bad.json", "{not json");
        write(src.path(), "noid.json", r#"{"summary":"x"}"#);
        let s = db.import(src.path()).unwrap();
        assert_eq!((s.imported, s.total, s.generation), (1, 1, 1));
        assert_eq!(s.warnings.len(), 2, "{:?}", s.warnings);
        assert!(s.warnings.iter().any(|w| w.contains("bad.json")));
        let found = db.open().unwrap().lookup("PyPI", "foo-bar").unwrap();
        assert_eq!(found[0].title, "first");

        let src2 = tempfile::tempdir().unwrap();
        write(
            src2.path(),
            "b.json",
            r#"{"id":"B-1","affected":[{"package":{"ecosystem":"npm","name":"x"},"versions":["1.0.0"]}]}"#,
        );
        write(
            src2.path(),
            "a.json",
            r#"{"id":"A-1","withdrawn":"2024-01-01T00:00:00Z","affected":[]}"#,
        );
        let s = db.import(src2.path()).unwrap();
        assert_eq!(
            (s.imported, s.withdrawn, s.total, s.generation),
            (1, 1, 1, 2)
        );
        let d = db.open().unwrap();
        assert!(d.lookup("PyPI", "foo-bar").unwrap().is_empty());
        assert_eq!(d.lookup("npm", "x").unwrap().len(), 1);
        assert!(
            !root.path().join("db/records-1.jsonl").exists(),
            "old generation removed"
        );
    }

    #[test]
    fn zip_sources() {
        let src = tempfile::tempdir().unwrap();
        let zpath = src.path().join("all.zip");
        let mut z = zip::ZipWriter::new(File::create(&zpath).unwrap());
        z.start_file::<_, ()>("GHSA-1.json", zip::write::FileOptions::default())
            .unwrap();
        io::Write::write_all(&mut z, br#"{"id":"GHSA-1","affected":[{"package":{"ecosystem":"crates.io","name":"smallvec"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.6.1"}]}]}]}"#).unwrap();
        z.finish().unwrap();
        let root = tempfile::tempdir().unwrap();
        let db = DbDir::new(root.path().join("db"));
        assert_eq!(db.import(&zpath).unwrap().imported, 1);
        assert_eq!(
            db.open()
                .unwrap()
                .lookup("crates.io", "smallvec")
                .unwrap()
                .len(),
            1
        );
    }
}
