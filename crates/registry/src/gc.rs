//! Offline mark-and-sweep of blobs no manifest references.
//!
//! It refuses to run while a server holds the root's lock: an upload that
//! finished between mark and sweep would otherwise lose its blob before the
//! manifest that references it arrives.

use crate::error::RegistryError;
use crate::store::Store;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

#[derive(Debug, Default, Clone, PartialEq)]
pub struct GcReport {
    /// Digests of the blobs removed (or that would be, on a dry run).
    pub deleted: Vec<String>,
    pub bytes_freed: u64,
    pub kept: usize,
    /// Repository layer links dropped because their blob is gone.
    pub links_removed: usize,
    /// Upload sessions untouched for longer than [`STALE_UPLOAD`] removed.
    pub uploads_removed: usize,
}

/// No server runs during gc, but a client may resume an upload after a
/// restart; a day without a write is taken as abandoned.
pub const STALE_UPLOAD: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Every manifest revision of every repository is a root, tagged or not
/// (untagged manifests are still pullable by digest).
fn mark(store: &Store) -> Result<BTreeSet<String>, RegistryError> {
    let mut marked = BTreeSet::new();
    for repo in store.catalog()? {
        for rev in store.list_revisions(&repo)? {
            marked.insert(rev.clone());
            let path = store.blob_path(&rev);
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let Ok(doc) = serde_json::from_slice::<Value>(&bytes) else {
                continue;
            };
            let mut refs: Vec<&Value> = Vec::new();
            refs.extend(doc.get("config"));
            for key in ["layers", "manifests", "blobs"] {
                if let Some(a) = doc.get(key).and_then(Value::as_array) {
                    refs.extend(a.iter());
                }
            }
            for d in refs {
                if let Some(digest) = d.get("digest").and_then(Value::as_str) {
                    marked.insert(digest.to_string());
                }
            }
        }
    }
    Ok(marked)
}

pub fn gc(root: &Path, dry_run: bool) -> Result<GcReport, RegistryError> {
    if !root.join("blobs").is_dir() {
        return Err(RegistryError::Corrupt(format!(
            "{} is not a registry root (no blobs/)",
            root.display()
        )));
    }
    let store = Store::open(root)?;
    let _lock = store.lock()?;
    let marked = mark(&store)?;
    let mut report = GcReport::default();
    for blob in store.list_blobs()? {
        if marked.contains(&blob) {
            report.kept += 1;
            continue;
        }
        report.bytes_freed += store.blob_size(&blob).unwrap_or(0);
        if !dry_run {
            store.delete_blob(&blob)?;
        }
        report.deleted.push(blob);
    }
    if !dry_run {
        let now = std::time::SystemTime::now();
        for id in store.list_uploads()? {
            let modified = std::fs::metadata(store.upload_data_path(&id))
                .and_then(|m| m.modified())
                .ok();
            let age = modified.and_then(|m| now.duration_since(m).ok());
            if age.is_none_or(|a| a > STALE_UPLOAD) {
                store.remove_upload(&id)?;
                report.uploads_removed += 1;
            }
        }
        for repo in store.catalog()? {
            for link in store.list_layer_links(&repo)? {
                if store.blob_size(&link).is_none() {
                    store.unlink_layer(&repo, &link)?;
                    report.links_removed += 1;
                }
            }
        }
    }
    Ok(report)
}
