//! Turning a step into an image: the cache lookup (`---> Using cache`,
//! honouring `--no-cache` and `--cache-from`), recording a new image and
//! its cache entry, and the empty base a scratch stage's first layer needs.

use image::derive::DeriveOptions;

use super::Executor;
use super::history::NOP;
use super::state::StageState;
use crate::backend::Backend;
use crate::cache;
use crate::error::Result;

impl<B: Backend> Executor<B> {
    /// The empty image a scratch stage builds its first layer on (no history).
    pub(super) async fn empty_base(&self, st: &StageState) -> Result<String> {
        let opts = DeriveOptions {
            config: st.config.clone(),
            ..Default::default()
        };
        self.backend.commit(None, opts).await
    }

    /// The image a layer step starts from (an empty one in a scratch stage).
    pub(super) async fn base_for_layer(&self, st: &mut StageState) -> Result<String> {
        match &st.image {
            Some(id) => Ok(id.clone()),
            None => {
                let id = self.empty_base(st).await?;
                st.image = Some(id.clone());
                Ok(id)
            }
        }
    }

    /// Takes the cached image for `key` into `st` when there is one the
    /// build may use, saying so as Docker does.
    pub(super) async fn cached(&self, st: &mut StageState, key: &str) -> Result<bool> {
        if self.build.opts.no_cache {
            return Ok(false);
        }
        let Some(id) = self.cache.get(key) else {
            return Ok(false);
        };
        let Ok(img) = self.backend.image(&id) else {
            return Ok(false);
        };
        if let Some(allowed) = &self.build.cache_sources
            && !allowed.contains(&img.id)
        {
            return Ok(false);
        }
        st.image = Some(img.id.clone());
        st.config = img.config;
        self.out.line(" ---> Using cache\n").await?;
        self.out
            .line(format!(" ---> {}\n", image::short_id(&img.id)))
            .await?;
        Ok(true)
    }

    /// A new image for the step on `st`'s, with `st`'s config, indexed
    /// under `key`; `st` moves on to it.
    pub(super) async fn record(
        &self,
        st: &mut StageState,
        key: &str,
        created_by: String,
        author: Option<String>,
        layer_from: Option<String>,
    ) -> Result<String> {
        let opts = DeriveOptions {
            config: st.config.clone(),
            created_by,
            author,
            layer_from,
        };
        let id = self.backend.commit(st.image.clone(), opts).await?;
        if let Err(e) = self.cache.put(key, &id) {
            tracing::warn!("build cache index: {e}");
        }
        st.image = Some(id.clone());
        Ok(id)
    }

    /// A config-only step (`text` is its history after the `#(nop)`).
    pub(super) async fn commit_meta(&self, st: &mut StageState, text: String) -> Result<()> {
        self.commit_meta_by(st, text, None).await
    }

    /// A config-only step with an author (MAINTAINER).
    pub(super) async fn commit_meta_by(
        &self,
        st: &mut StageState,
        text: String,
        author: Option<String>,
    ) -> Result<()> {
        let created_by = format!("{NOP}{text}");
        let key = cache::key(st.image.as_deref(), &created_by, "");
        let mut probe = StageState {
            image: st.image.clone(),
            ..Default::default()
        };
        if self.cached(&mut probe, &key).await? {
            st.image = probe.image;
            st.config = probe.config;
            return Ok(());
        }
        let id = self.record(st, &key, created_by, author, None).await?;
        self.out
            .line(format!(" ---> {}\n", image::short_id(&id)))
            .await
    }
}
