//! Finished scans, one file per image id, valid for one database generation.

use std::fs;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{IoContext, ScanError};
use crate::report::Report;

/// What a scan reads and how: raised when that changes (Go binaries were
/// added in 2), so results of an older berth are scans to redo.
const SCANNER: u32 = 2;

#[derive(Serialize, Deserialize)]
struct Entry {
    /// Absent (0) in entries of the first version.
    #[serde(default)]
    scanner: u32,
    generation: u64,
    report: Report,
}

#[derive(Debug)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    pub fn new(dir: PathBuf) -> Self {
        Cache { dir }
    }

    fn path(&self, image_id: &str) -> PathBuf {
        let hex: String = image_id
            .rsplit(':')
            .next()
            .unwrap_or(image_id)
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        self.dir.join(format!("{hex}.json"))
    }

    /// A damaged or stale entry is a miss.
    pub fn get(&self, image_id: &str, generation: u64) -> Option<Report> {
        let bytes = fs::read(self.path(image_id)).ok()?;
        let e: Entry = serde_json::from_slice(&bytes).ok()?;
        (e.scanner == SCANNER && e.generation == generation).then_some(e.report)
    }

    pub fn put(&self, image_id: &str, report: &Report) -> Result<(), ScanError> {
        fs::create_dir_all(&self.dir).ctx(|| format!("create {}", self.dir.display()))?;
        let p = self.path(image_id);
        let e = Entry {
            scanner: SCANNER,
            generation: report.db_generation,
            report: report.clone(),
        };
        cas::write_json_atomic(&p, &e).ctx(|| format!("write {}", p.display()))
    }
}
