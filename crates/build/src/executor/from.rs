//! Where a stage or a `--from` starts: earlier stages by name or index,
//! local images, pulls, and the ONBUILD triggers of a FROM image.

use dockerfile::{Env, Instruction, Step};

use super::layer::LayerGuard;
use super::state::StageState;
use super::{Executor, expand};
use crate::backend::Backend;
use crate::error::{BuildError, Result};

impl<B: Backend> Executor<B> {
    /// The earlier stage `name` (lower-cased) names, if any.
    fn stage_named(&self, lower: &str) -> Option<usize> {
        self.build
            .stage_names
            .iter()
            .take(self.stages.len())
            .position(|n| n.as_deref() == Some(lower))
    }

    /// The earlier stage a `--from`/`from=` names, by name or by index.
    fn stage_by_name_or_index(&self, from: &str) -> Option<usize> {
        let by_index = from
            .parse::<usize>()
            .ok()
            .filter(|i| *i < self.stages.len());
        self.stage_named(&from.to_ascii_lowercase()).or(by_index)
    }

    /// Finds (or pulls) an image by name; Docker's pull error if it cannot.
    pub(super) async fn image_by_name(&self, name: &str, always_pull: bool) -> Result<String> {
        if !always_pull && let Ok(img) = self.backend.image(name) {
            return Ok(img.id);
        }
        let reference =
            image::reference::parse(name).map_err(|e| BuildError::new(e.to_string()))?;
        let platform = self.build.opts.platform.clone().filter(|p| !p.is_empty());
        match self.backend.pull(&reference, platform).await {
            Ok(id) => Ok(id),
            // A local image that exists beats a failed refresh (`--pull`).
            Err(_) if always_pull && self.backend.image(name).is_ok() => {
                Ok(self.backend.image(name)?.id)
            }
            Err(e) => Err(e),
        }
    }

    /// The FROM step: the stage's base (an earlier stage, scratch or an
    /// image) and the base's ONBUILD triggers, run now.
    pub(super) async fn stage_start(&mut self, step: &Step, meta: &Env) -> Result<StageState> {
        self.announce(step).await?;
        let Instruction::From { image, .. } = &step.instruction else {
            return Err(BuildError::new("stage without FROM"));
        };
        let name = expand(image, meta, self.build.escape)?;
        let lower = name.to_ascii_lowercase();
        let image = if let Some(i) = self.stage_named(&lower) {
            self.stages[i].clone()
        } else if lower == "scratch" {
            None
        } else {
            Some(self.image_by_name(&name, self.build.opts.pull).await?)
        };
        let mut st = StageState {
            image,
            ..Default::default()
        };
        if let Some(id) = &st.image {
            st.config = self.backend.image(id)?.config;
            self.out
                .line(format!(" ---> {}\n", image::short_id(id)))
                .await?;
        }
        // As dockerd's classic builder: every stage (scratch too) starts with
        // the default PATH when its base has none, so `ENV PATH=/x:$PATH` and
        // RUN in an imported rootfs find /usr/bin, and the image carries it.
        let env = st.config.env.get_or_insert_with(Vec::new);
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.push(format!("PATH={}", runtime::spec::DEFAULT_PATH));
        }
        let triggers = st.config.on_build.take().unwrap_or_default();
        if !triggers.is_empty() {
            self.out
                .line(format!(
                    "# Executing {} build trigger{}\n",
                    triggers.len(),
                    if triggers.len() == 1 { "" } else { "s" }
                ))
                .await?;
            for t in triggers {
                let node = dockerfile::parse(&t)
                    .ok()
                    .and_then(|p| p.nodes.into_iter().next())
                    .ok_or_else(|| BuildError::new(format!("invalid ONBUILD trigger: {t}")))?;
                let inst = dockerfile::instructions::instruction(&node, self.build.escape)
                    .map_err(|e| BuildError::new(e.to_string()))?;
                Box::pin(self.dispatch(&mut st, &inst, &node.original, meta)).await?;
            }
        }
        Ok(st)
    }

    /// The image id a `from=` names (for cache keys).
    pub(super) fn stage_or_image_id(&self, from: &str) -> Option<String> {
        match self.stage_by_name_or_index(from) {
            Some(i) => self.stages[i].clone(),
            None => self.backend.image(from).ok().map(|i| i.id),
        }
    }

    /// Where COPY --from reads: a stage's result or an image, mounted on a
    /// throwaway writable layer (removed by the returned guard); `None`
    /// for an empty scratch stage.
    pub(super) async fn source_root(&self, from: &str) -> Result<Option<LayerGuard<B>>> {
        let image =
            match self.stage_by_name_or_index(from) {
                Some(i) => self.stages[i].clone(),
                None => Some(self.image_by_name(from, false).await.map_err(|e| {
                    BuildError::new(format!("invalid from flag value {from}: {e}"))
                })?),
            };
        let Some(image) = image else {
            return Ok(None);
        };
        LayerGuard::mount(&self.backend, &image).map(Some)
    }
}
