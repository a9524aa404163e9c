//! The registry's filesystem layout under its root:
//!
//! ```text
//! blobs/sha256/<hex>                                  content, one copy for all repos
//! repositories/<name>/_layers/sha256/<hex>            link: the repo may serve this blob
//! repositories/<name>/_manifests/revisions/sha256/<hex>  manifest metadata (JSON)
//! repositories/<name>/_manifests/tags/<tag>           digest the tag points at
//! uploads/<uuid>/{repo,data}                          upload sessions
//! registry.lock                                       held by a running server
//! ```
//!
//! Manifest bytes live in `blobs/` too, so a manifest pushed to two repos is
//! stored once.

use crate::error::RegistryError;
use crate::fsio::{self, atomic_write, read_to_string_opt, remove_file_if_exists};
use crate::names;
use cas::{ContentStore as _, FsStore};
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::path::{Path, PathBuf};

/// What the server remembers about a manifest besides its bytes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RevisionMeta {
    pub media_type: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<serde_json::Value>,
}

#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    /// `blobs/sha256/<hex>`, the content store the image store uses too.
    blobs: FsStore,
}

pub use cas::sha256_digest;

fn hex_of(digest: &str) -> &str {
    names::digest_hex(digest).expect("digests are validated before they reach the store")
}

impl Store {
    pub fn open(root: &Path) -> Result<Self, RegistryError> {
        for d in ["repositories", "uploads"] {
            let p = root.join(d);
            crate::fsio::create_dir_all(&p)?;
        }
        Ok(Store {
            root: root.to_path_buf(),
            blobs: FsStore::open(root)?,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Exclusive lock on the root: one server at a time, and no gc under a
    /// running server. Held as long as the returned file is open.
    pub fn lock(&self) -> Result<File, RegistryError> {
        let path = self.root.join("registry.lock");
        let f = crate::fsio::private_options()
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| RegistryError::io(&path, e))?;
        match f.try_lock() {
            Ok(()) => Ok(f),
            Err(fs::TryLockError::WouldBlock) => Err(RegistryError::Locked(self.root.clone())),
            Err(fs::TryLockError::Error(e)) => Err(RegistryError::io(&path, e)),
        }
    }

    // ---- blobs ----

    /// The content store of every repository's blobs and manifests.
    pub fn blobs(&self) -> &FsStore {
        &self.blobs
    }

    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.root.join("blobs/sha256").join(hex_of(digest))
    }

    pub fn blob_size(&self, digest: &str) -> Option<u64> {
        self.blobs.size(digest)
    }

    pub fn list_blobs(&self) -> Result<Vec<String>, RegistryError> {
        Ok(self.blobs.list()?)
    }

    pub fn delete_blob(&self, digest: &str) -> Result<bool, RegistryError> {
        Ok(self.blobs.delete(digest)?)
    }

    /// Stores small content (manifests) directly.
    pub fn put_blob_bytes(&self, data: &[u8]) -> Result<String, RegistryError> {
        Ok(self.blobs.write(data)?.0)
    }

    // ---- repositories ----

    fn repo_dir(&self, name: &str) -> PathBuf {
        self.root.join("repositories").join(name)
    }

    pub fn repo_exists(&self, name: &str) -> bool {
        let d = self.repo_dir(name);
        d.join("_manifests").is_dir() || d.join("_layers").is_dir()
    }

    fn layer_link(&self, name: &str, digest: &str) -> PathBuf {
        self.repo_dir(name)
            .join("_layers/sha256")
            .join(hex_of(digest))
    }

    pub fn link_layer(&self, name: &str, digest: &str) -> Result<(), RegistryError> {
        let p = self.layer_link(name, digest);
        if p.exists() {
            return Ok(());
        }
        atomic_write(&p, digest.as_bytes())
    }

    pub fn unlink_layer(&self, name: &str, digest: &str) -> Result<bool, RegistryError> {
        remove_file_if_exists(&self.layer_link(name, digest))
    }

    pub fn list_layer_links(&self, name: &str) -> Result<Vec<String>, RegistryError> {
        Ok(fsio::list_dir(&self.repo_dir(name).join("_layers/sha256"))?
            .into_iter()
            .map(|h| format!("sha256:{h}"))
            .filter(|d| names::digest_hex(d).is_some())
            .collect())
    }

    pub fn has_layer(&self, name: &str, digest: &str) -> bool {
        self.layer_link(name, digest).exists() && self.blob_path(digest).exists()
    }

    /// A repo may serve a blob it has a layer link for, or one of its
    /// manifests (clients fetch those through the blob endpoint too).
    pub fn repo_blob_size(&self, name: &str, digest: &str) -> Option<u64> {
        if self.layer_link(name, digest).exists() || self.revision_path(name, digest).exists() {
            self.blob_size(digest)
        } else {
            None
        }
    }

    // ---- manifests ----

    fn revision_path(&self, name: &str, digest: &str) -> PathBuf {
        self.repo_dir(name)
            .join("_manifests/revisions/sha256")
            .join(hex_of(digest))
    }

    fn tag_path(&self, name: &str, tag: &str) -> PathBuf {
        self.repo_dir(name).join("_manifests/tags").join(tag)
    }

    pub fn put_revision(
        &self,
        name: &str,
        digest: &str,
        meta: &RevisionMeta,
    ) -> Result<(), RegistryError> {
        let json = serde_json::to_vec(meta).expect("meta serializes");
        atomic_write(&self.revision_path(name, digest), &json)
    }

    pub fn revision(
        &self,
        name: &str,
        digest: &str,
    ) -> Result<Option<RevisionMeta>, RegistryError> {
        let p = self.revision_path(name, digest);
        match read_to_string_opt(&p)? {
            None => Ok(None),
            Some(s) => serde_json::from_str(&s)
                .map(Some)
                .map_err(|e| RegistryError::Corrupt(format!("{}: {e}", p.display()))),
        }
    }

    pub fn list_revisions(&self, name: &str) -> Result<Vec<String>, RegistryError> {
        Ok(
            fsio::list_dir(&self.repo_dir(name).join("_manifests/revisions/sha256"))?
                .into_iter()
                .map(|h| format!("sha256:{h}"))
                .filter(|d| names::digest_hex(d).is_some())
                .collect(),
        )
    }

    /// Removes the revision and every tag that points at it.
    pub fn delete_revision(&self, name: &str, digest: &str) -> Result<bool, RegistryError> {
        if !remove_file_if_exists(&self.revision_path(name, digest))? {
            return Ok(false);
        }
        for tag in self.list_tags(name)? {
            if self.tag(name, &tag)?.as_deref() == Some(digest) {
                self.delete_tag(name, &tag)?;
            }
        }
        Ok(true)
    }

    pub fn set_tag(&self, name: &str, tag: &str, digest: &str) -> Result<(), RegistryError> {
        atomic_write(&self.tag_path(name, tag), digest.as_bytes())
    }

    pub fn tag(&self, name: &str, tag: &str) -> Result<Option<String>, RegistryError> {
        Ok(read_to_string_opt(&self.tag_path(name, tag))?
            .map(|s| s.trim().to_string())
            .filter(|d| names::digest_hex(d).is_some()))
    }

    pub fn delete_tag(&self, name: &str, tag: &str) -> Result<bool, RegistryError> {
        remove_file_if_exists(&self.tag_path(name, tag))
    }

    pub fn list_tags(&self, name: &str) -> Result<Vec<String>, RegistryError> {
        Ok(
            fsio::list_dir(&self.repo_dir(name).join("_manifests/tags"))?
                .into_iter()
                .filter(|t| names::valid_tag(t))
                .collect(),
        )
    }

    /// Every repository name, sorted. A directory is a repository when it
    /// has `_manifests` or `_layers`; names never start with `_`, so those
    /// cannot be mistaken for path components of a nested name.
    pub fn catalog(&self) -> Result<Vec<String>, RegistryError> {
        let mut out = Vec::new();
        let mut stack = vec![String::new()];
        while let Some(prefix) = stack.pop() {
            let dir = self.root.join("repositories").join(&prefix);
            for entry in fsio::list_dir(&dir)? {
                if entry.starts_with('_') || !dir.join(&entry).is_dir() {
                    continue;
                }
                let name = if prefix.is_empty() {
                    entry
                } else {
                    format!("{prefix}/{entry}")
                };
                if !names::valid_name(&name) {
                    continue;
                }
                if self.repo_exists(&name) {
                    out.push(name.clone());
                }
                stack.push(name);
            }
        }
        out.sort();
        Ok(out)
    }

    // ---- uploads ----

    fn upload_dir(&self, id: &str) -> PathBuf {
        assert!(names::valid_upload_id(id));
        self.root.join("uploads").join(id)
    }

    pub fn upload_data_path(&self, id: &str) -> PathBuf {
        self.upload_dir(id).join("data")
    }

    pub fn create_upload(&self, name: &str) -> Result<String, RegistryError> {
        let id = names::new_upload_id();
        let dir = self.upload_dir(&id);
        crate::fsio::create_dir_all(&dir)?;
        atomic_write(&dir.join("repo"), name.as_bytes())?;
        let data = dir.join("data");
        crate::fsio::private_options()
            .create(true)
            .truncate(true)
            .open(&data)
            .map_err(|e| RegistryError::io(&data, e))?;
        Ok(id)
    }

    /// The repository an upload session belongs to, if it exists.
    pub fn upload_repo(&self, id: &str) -> Result<Option<String>, RegistryError> {
        if !names::valid_upload_id(id) {
            return Ok(None);
        }
        read_to_string_opt(&self.upload_dir(id).join("repo"))
    }

    pub fn list_uploads(&self) -> Result<Vec<String>, RegistryError> {
        Ok(fsio::list_dir(&self.root.join("uploads"))?
            .into_iter()
            .filter(|id| names::valid_upload_id(id))
            .collect())
    }

    pub fn remove_upload(&self, id: &str) -> Result<(), RegistryError> {
        let dir = self.upload_dir(id);
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(RegistryError::io(&dir, e)),
        }
    }

    /// Moves verified upload data into the blob store (or drops it when the
    /// blob is already there) and ends the session.
    pub fn commit_upload(&self, id: &str, digest: &str) -> Result<(), RegistryError> {
        self.blobs.adopt(&self.upload_data_path(id), digest)?;
        self.remove_upload(id)
    }
}
