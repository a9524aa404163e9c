//! Docker's rules for removing images, kept in the engine rather than the
//! HTTP layer: `rmi` conflicts with the containers that use an image, and
//! prune removes only what no container uses. Both decide and remove under
//! the write side of the engine's image guard, whose read side container
//! creation holds from resolving its image until the container is
//! registered: a create can never lose its image between the check and the
//! removal.

use image::{DeleteItem, ImageSummary, ImageUse};

use crate::{Engine, EngineError, Result};

impl Engine {
    /// `DELETE /images/{name}`: untags or deletes as dockerd does, refusing
    /// with 409 what a container still needs; emits the image events.
    pub async fn remove_image(&self, name: &str, force: bool) -> Result<Vec<DeleteItem>> {
        let _guard = self.image_guard.write().await;
        let img = self.images.get(name)?;
        // By id, a delete conflicts with any container using the image, and
        // a running one blocks even a forced delete. By name, dockerd only
        // untags (even the last name, with force: the image stays, dangling,
        // for the containers that use it); the store decides.
        let by_id = img
            .id
            .trim_start_matches("sha256:")
            .starts_with(name.trim_start_matches("sha256:"));
        if by_id
            && let Some((cid, running)) = self.image_in_use(&img.id)
            && (running || !force)
        {
            let (how, state) = if running {
                ("cannot be forced", "running")
            } else {
                ("must be forced", "stopped")
            };
            return Err(EngineError::Conflict(format!(
                "conflict: unable to delete {name} ({how}) - image is being used by {state} container {}",
                &cid[..12]
            )));
        }
        let items = self.images.remove(name, force, &|id| self.image_use(id))?;
        for item in &items {
            match item {
                DeleteItem::Untagged(r) => self.image_event("untag", &img.id, Some(r)),
                DeleteItem::Deleted(id) => self.image_event("delete", id, None),
            }
        }
        Ok(items)
    }

    /// `POST /images/prune`: dangling images (or, with `dangling_only`
    /// false, every image) that no container uses and `select` accepts.
    /// Answers what went and the bytes reclaimed.
    pub async fn prune_images(
        &self,
        dangling_only: bool,
        select: impl Fn(&ImageSummary) -> bool,
    ) -> Result<(Vec<DeleteItem>, u64)> {
        let _guard = self.image_guard.write().await;
        let mut deleted = Vec::new();
        let mut reclaimed = 0;
        for img in self.images.list()? {
            if (dangling_only && !img.repo_tags.is_empty())
                || self.image_in_use(&img.id).is_some()
                || !select(&img)
            {
                continue;
            }
            // Another prune or rmi may have taken it meanwhile: skip it.
            let Ok(items) = self.images.remove(&img.id, true, &|_| ImageUse::Unused) else {
                continue;
            };
            reclaimed += img.size;
            for item in items {
                if let DeleteItem::Deleted(id) = &item {
                    self.image_event("delete", id, None);
                }
                deleted.push(item);
            }
        }
        Ok((deleted, reclaimed))
    }
}
