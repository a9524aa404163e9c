//! The image index: which images the store holds (their parsed manifest and
//! config, kept in memory) and the names pointing at them, and the lookups
//! every other operation starts from (name, id or id prefix → image).

use std::collections::{BTreeMap, HashMap};

use chrono::DateTime;
use serde::{Deserialize, Serialize};

use super::ImageStore;
use crate::config::{ImageConfigFile, ImageManifest};
use crate::error::ImageError;
use crate::fsutil::digest_hex;
use crate::reference::{self, Reference, is_lower_hex};

/// `sha256:<hex>` of the image config.
pub type ImageId = String;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSummary {
    pub id: ImageId,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    /// Unix seconds.
    pub created: i64,
    pub size: u64,
    pub labels: BTreeMap<String, String>,
    /// The build parent's id, or empty.
    pub parent: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub id: ImageId,
    pub repo_tags: Vec<String>,
    pub repo_digests: Vec<String>,
    pub config: ImageConfigFile,
    pub manifest_digest: String,
    pub size: u64,
    /// Unix seconds.
    pub created: i64,
    /// Layer diff ids, bottom first (same as `config.rootfs.diff_ids`).
    pub diff_ids: Vec<String>,
    /// Layer chain ids, bottom first.
    pub chain_ids: Vec<String>,
    /// The image a build step or commit derived this one from, or empty.
    pub parent: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(super) struct RefEntry {
    pub(super) manifest: String,
    pub(super) image: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(super) struct ImageEntry {
    pub(super) manifest: String,
    /// The image a build step derived this one from (Docker's `Parent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) parent: Option<String>,
}

/// An image's parsed blobs, kept in memory for list/get.
#[derive(Debug, Clone)]
pub(super) struct Loaded {
    pub(super) manifest_digest: String,
    pub(super) manifest: ImageManifest,
    pub(super) config: ImageConfigFile,
    pub(super) chain_ids: Vec<String>,
    pub(super) size: u64,
}

#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) refs: BTreeMap<String, RefEntry>,
    pub(super) images: BTreeMap<String, ImageEntry>,
    pub(super) loaded: HashMap<String, Loaded>,
}

impl ImageStore {
    pub fn list(&self) -> Result<Vec<ImageSummary>, ImageError> {
        let st = self.read_state();
        let mut out: Vec<ImageSummary> = st
            .loaded
            .iter()
            .map(|(id, l)| {
                let (repo_tags, repo_digests) = names_of(&st, id);
                ImageSummary {
                    id: id.clone(),
                    repo_tags,
                    repo_digests,
                    created: parse_created(l.config.created.as_deref()),
                    size: l.size,
                    labels: l.config.config.labels.clone().unwrap_or_default(),
                    parent: st
                        .images
                        .get(id)
                        .and_then(|e| e.parent.clone())
                        .unwrap_or_default(),
                }
            })
            .collect();
        out.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Records that a build step derived `id` from `parent`.
    pub fn set_parent(&self, id: &str, parent: &str) -> Result<(), ImageError> {
        let mut st = self.write_state();
        let id = resolve(&st, id)?;
        let parent = resolve(&st, parent)?;
        if let Some(e) = st.images.get_mut(&id) {
            e.parent = Some(parent);
        }
        self.save_images(&st)
    }

    pub fn get(&self, name_or_id: &str) -> Result<Image, ImageError> {
        let st = self.read_state();
        let id = resolve(&st, name_or_id)?;
        Ok(image_of(&st, &id))
    }

    /// Points `target` at the image (moving it if it named another image).
    pub fn tag(&self, name_or_id: &str, target: &Reference) -> Result<(), ImageError> {
        if target.digest().is_some() {
            return Err(ImageError::InvalidReference(
                "refusing to create a tag with a digest reference".into(),
            ));
        }
        let target = match target.tag() {
            Some(_) => target.clone(),
            None => target.with_tag(reference::DEFAULT_TAG)?,
        };
        let mut st = self.write_state();
        let id = resolve(&st, name_or_id)?;
        let manifest = st.images[&id].manifest.clone();
        st.refs.insert(
            target.full(),
            RefEntry {
                manifest,
                image: id,
            },
        );
        self.save_refs(&st)
    }

    /// Points `reference` (a tag or a digest reference) at an existing image.
    pub(crate) fn add_reference(&self, id: &str, reference: &Reference) -> Result<(), ImageError> {
        let mut st = self.write_state();
        let id = resolve(&st, id)?;
        let manifest = st.images[&id].manifest.clone();
        st.refs.insert(
            reference.full(),
            RefEntry {
                manifest,
                image: id,
            },
        );
        self.save_refs(&st)
    }
}

pub(super) fn parse_created(s: Option<&str>) -> i64 {
    s.and_then(|c| DateTime::parse_from_rfc3339(c).ok())
        .map(|d| d.timestamp())
        .unwrap_or(0)
}

pub(super) fn is_id_prefix(id: &str, s: &str) -> bool {
    !s.is_empty() && (id.starts_with(s) || digest_hex(id).starts_with(s))
}

/// References naming the image, parsed.
pub(super) fn refs_of(st: &State, id: &str) -> Vec<Reference> {
    st.refs
        .iter()
        .filter(|(_, e)| e.image == id)
        .filter_map(|(k, _)| reference::parse_named(k).ok())
        .collect()
}

pub(super) fn names_of(st: &State, id: &str) -> (Vec<String>, Vec<String>) {
    let mut tags = Vec::new();
    let mut digests = Vec::new();
    for r in refs_of(st, id) {
        match r.digest() {
            Some(d) => digests.push(format!("{}@{d}", r.familiar_name())),
            None => tags.push(r.familiar()),
        }
    }
    (tags, digests)
}

pub(super) fn image_of(st: &State, id: &str) -> Image {
    let l = &st.loaded[id];
    let (repo_tags, repo_digests) = names_of(st, id);
    Image {
        id: id.to_string(),
        repo_tags,
        repo_digests,
        config: l.config.clone(),
        manifest_digest: l.manifest_digest.clone(),
        size: l.size,
        created: parse_created(l.config.created.as_deref()),
        diff_ids: l.config.rootfs.diff_ids.clone(),
        chain_ids: l.chain_ids.clone(),
        parent: st
            .images
            .get(id)
            .and_then(|e| e.parent.clone())
            .unwrap_or_default(),
    }
}

/// The references.json key that `r` names: `name:tag@digest` is the
/// digest's (the tag only says what it was), as Docker reads it; swarm
/// services pin their images so (`docker service create` resolves the
/// tag's digest), and a pull records the digest reference alone.
fn lookup_key(r: &Reference) -> String {
    match (r.tag(), r.digest()) {
        (Some(_), Some(d)) => r.with_digest(d).map_or_else(|_| r.full(), |p| p.full()),
        _ => r.full(),
    }
}

/// Name, `sha256:` id, full hex id or unique id prefix → image id. Names win
/// over id prefixes, as in Docker.
pub(super) fn resolve(st: &State, s: &str) -> Result<String, ImageError> {
    if let Some(hex) = s.strip_prefix("sha256:") {
        if !hex.is_empty() && hex.len() <= 64 && is_lower_hex(hex) {
            return by_prefix(st, hex, s);
        }
        return Err(ImageError::NotFound(s.to_string()));
    }
    let parsed = reference::parse(s);
    if let Ok(r) = &parsed
        && let Some(e) = st.refs.get(&lookup_key(r))
        && st.loaded.contains_key(&e.image)
    {
        return Ok(e.image.clone());
    }
    if !s.is_empty() && s.len() <= 64 && is_lower_hex(s) {
        match by_prefix(st, s, s) {
            Err(ImageError::NotFound(_)) => {}
            other => return other,
        }
    }
    Err(ImageError::NotFound(match parsed {
        Ok(r) => r.familiar(),
        Err(_) => s.to_string(),
    }))
}

pub(super) fn by_prefix(st: &State, hex: &str, shown: &str) -> Result<String, ImageError> {
    let mut hits = st
        .loaded
        .keys()
        .filter(|id| digest_hex(id).starts_with(hex));
    match (hits.next(), hits.next()) {
        (Some(id), None) => Ok(id.clone()),
        (Some(_), Some(_)) => Err(ImageError::Ambiguous(shown.to_string())),
        (None, _) => Err(ImageError::NotFound(shown.to_string())),
    }
}

#[cfg(test)]
mod lookup_tests {
    use super::*;

    #[test]
    fn a_tag_beside_a_digest_names_the_digest() {
        let d = format!("sha256:{}", "a".repeat(64));
        let r = reference::parse(&format!("reg.test:5000/a/b:v1@{d}")).unwrap();
        assert_eq!(lookup_key(&r), format!("reg.test:5000/a/b@{d}"));
        let r = reference::parse(&format!("reg.test:5000/a/b@{d}")).unwrap();
        assert_eq!(lookup_key(&r), format!("reg.test:5000/a/b@{d}"));
        let r = reference::parse("busybox").unwrap();
        assert_eq!(lookup_key(&r), "docker.io/library/busybox:latest");
    }
}
