//! `docker rmi`: Docker's rules for untagging, deleting and refusing while
//! containers use an image.

use super::ImageStore;
use super::index::{is_id_prefix, refs_of, resolve};
use crate::error::ImageError;
use crate::fsutil::short_id;
use crate::reference;

/// How containers use an image, for Docker's delete rules: a stopped
/// container's image can be removed with force, a running one's never.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageUse {
    Unused,
    Stopped,
    Running,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteItem {
    Untagged(String),
    Deleted(String),
}

impl ImageStore {
    /// `docker rmi` with Docker's untag/delete/conflict rules.
    pub fn remove(
        &self,
        name_or_id: &str,
        force: bool,
        in_use: &dyn Fn(&str) -> ImageUse,
    ) -> Result<Vec<DeleteItem>, ImageError> {
        let mut st = self.write_state();
        let id = resolve(&st, name_or_id)?;
        let short = short_id(&id);
        let usage = in_use(&id);
        let used = usage != ImageUse::Unused;
        let mut records = Vec::new();

        let quiet = if !is_id_prefix(&id, name_or_id) {
            // A name was given: untag it first. Only the last name of an image a
            // container uses needs force (it would leave the image dangling).
            if used && !force && refs_of(&st, &id).len() <= 1 {
                return Err(ImageError::Conflict(format!(
                    "conflict: unable to remove repository reference \"{name_or_id}\" (must force) - \
                     a container is using its referenced image {short}"
                )));
            }
            let r = reference::parse(name_or_id)?;
            st.refs.remove(&r.full());
            records.push(DeleteItem::Untagged(r.familiar()));
            if r.digest().is_none() {
                // Digest references of a repository go with its last tag.
                let name = r.name();
                let keep_digests = refs_of(&st, &id)
                    .iter()
                    .any(|k| k.digest().is_none() && k.name() == name);
                if !keep_digests {
                    for k in refs_of(&st, &id) {
                        if k.digest().is_some() && k.name() == name {
                            st.refs.remove(&k.full());
                            records.push(DeleteItem::Untagged(k.familiar()));
                        }
                    }
                }
            }
            if !refs_of(&st, &id).is_empty() {
                self.save_refs(&st)?;
                return Ok(records);
            }
            true
        } else {
            // Checked before anything changes: the state is edited in place.
            if usage == ImageUse::Running {
                return Err(ImageError::Conflict(format!(
                    "conflict: unable to delete {short} (cannot be forced) - image is being used by a running container"
                )));
            }
            let refs = refs_of(&st, &id);
            let tags = refs.iter().filter(|r| r.digest().is_none()).count();
            let single_repo = refs.windows(2).all(|w| w[0].name() == w[1].name());
            if tags <= 1 && single_repo {
                if used && !force {
                    return Err(ImageError::Conflict(format!(
                        "conflict: unable to delete {short} (must be forced) - image is being used by a container"
                    )));
                }
                for r in refs {
                    st.refs.remove(&r.full());
                    records.push(DeleteItem::Untagged(r.familiar()));
                }
            }
            false
        };

        if usage == ImageUse::Running {
            // Asked by name, even forced: a running container keeps its
            // image, and the untag was all there was to do (as dockerd).
            self.save_refs(&st)?;
            return Ok(records);
        }
        if !force {
            let conflict = if used {
                Some(format!(
                    "conflict: unable to delete {short} (must be forced) - image is being used by a container"
                ))
            } else if !refs_of(&st, &id).is_empty() {
                Some(format!(
                    "conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories"
                ))
            } else {
                None
            };
            if let Some(msg) = conflict {
                if quiet {
                    // The untag was the request; the image just stays (dangling).
                    self.save_refs(&st)?;
                    return Ok(records);
                }
                return Err(ImageError::Conflict(msg));
            }
        }
        for r in refs_of(&st, &id) {
            st.refs.remove(&r.full());
            records.push(DeleteItem::Untagged(r.familiar()));
        }
        self.save_refs(&st)?;
        self.delete_image(&mut st, &id, &mut records)?;
        Ok(records)
    }
}
