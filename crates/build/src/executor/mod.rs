//! Runs a parsed Dockerfile: one image per step, RUN as a container,
//! COPY/ADD into a temporary writable layer, everything else as a config
//! change; output mirrors Docker's classic builder line for line. This
//! file holds the per-stage executor and its dispatch; the subjects live in
//! the submodules.

mod commit;
mod copy_step;
mod from;
mod history;
mod layer;
mod meta;
mod mounts;
mod out;
mod run;
mod stages;
mod state;
#[cfg(test)]
mod tests;

use parking_lot::Mutex;
use std::collections::{BTreeSet, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use dockerfile::{Dockerfile, Env, Instruction, Step, expand_word};
use image::Reference;
use tokio::sync::mpsc;

use crate::backend::Backend;
use crate::cache::CacheIndex;
use crate::error::{BuildError, Result};
use crate::{BuildOptions, Progress};

use history::literal;
use out::Out;
use state::StageState;

/// What to build: the checked request.
pub(crate) struct Plan {
    pub(crate) opts: BuildOptions,
    /// The unpacked context (kept by the caller until the build ends).
    pub(crate) ctx_root: PathBuf,
    pub(crate) dockerfile: Dockerfile,
    /// Index of the last stage to build.
    pub(crate) target: usize,
    pub(crate) tags: Vec<Reference>,
}

/// Builds `plan` on `backend`, streaming progress to `tx`; the image id.
pub(crate) async fn run<B: Backend>(
    backend: Arc<B>,
    plan: Plan,
    tx: mpsc::Sender<Progress>,
) -> Result<String> {
    let out = Arc::new(Out::new(tx, plan.opts.quiet));
    let result = stages::run_stages(backend, plan, out.clone()).await;
    if result.is_err() {
        out.release_held().await;
    }
    result
}

/// The parts of the build every stage's steps need.
struct BuildShared {
    opts: BuildOptions,
    ctx_root: PathBuf,
    escape: char,
    stage_names: Vec<Option<String>>,
    /// With `--cache-from`: the only images a cached step may reuse (those
    /// images and their ancestors), as the classic builder has it.
    cache_sources: Option<HashSet<String>>,
}

/// Builds one stage.
struct Executor<B: Backend> {
    backend: Arc<B>,
    build: Arc<BuildShared>,
    out: Arc<Out>,
    cache: Arc<CacheIndex>,
    /// Result image of every earlier stage, by index (`None`: still running
    /// in parallel; a stage only starts once the stages it names are done).
    stages: Vec<Option<String>>,
    consumed: Arc<Mutex<BTreeSet<String>>>,
    step_no: usize,
    total: usize,
    /// Set when another stage failed: stop at the next step.
    cancelled: Arc<AtomicBool>,
}

fn expand(word: &str, env: &Env, escape: char) -> Result<String> {
    expand_word(word, env, escape).map_err(BuildError::from)
}

/// A blocking task's result, its panic as a build error.
fn joined<T>(r: std::result::Result<T, tokio::task::JoinError>) -> Result<T> {
    r.map_err(|e| BuildError::new(e.to_string()))
}

impl<B: Backend> Executor<B> {
    /// One stage, FROM to its last step (and the `--label` steps when it
    /// is the target); its image id.
    async fn build_stage(
        &mut self,
        stage: &dockerfile::Stage,
        meta: &Env,
        labels: &[(String, String)],
        escape: char,
    ) -> Result<String> {
        let mut st = self.stage_start(&stage.from, meta).await?;
        for step in &stage.steps {
            self.announce(step).await?;
            self.dispatch(&mut st, &step.instruction, &step.original, meta)
                .await?;
        }
        // Docker appends one LABEL step per `--label`, in key order.
        for (k, v) in labels {
            let step = Step {
                line: 0,
                original: format!("LABEL {k}={v}"),
                instruction: Instruction::Label(vec![(literal(k, escape), literal(v, escape))]),
            };
            self.announce(&step).await?;
            self.dispatch(&mut st, &step.instruction, &step.original, meta)
                .await?;
        }
        match st.image.clone() {
            Some(id) => Ok(id),
            None => self.empty_base(&st).await,
        }
    }

    async fn announce(&mut self, step: &Step) -> Result<()> {
        if self.cancelled.load(Ordering::SeqCst) {
            return Err(BuildError::new("build cancelled: another stage failed"));
        }
        self.step_no += 1;
        self.out
            .line(format!(
                "Step {}/{} : {}\n",
                self.step_no, self.total, step.original
            ))
            .await
    }

    async fn dispatch(
        &mut self,
        st: &mut StageState,
        inst: &Instruction,
        original: &str,
        meta: &Env,
    ) -> Result<()> {
        match inst {
            Instruction::From { .. } => Err(BuildError::new("FROM inside a stage")),
            Instruction::Run {
                command,
                heredocs,
                network,
                mounts,
            } => {
                self.run_step(st, command, heredocs, network.as_deref(), mounts)
                    .await
            }
            Instruction::Copy(args) => self.copy_step(st, args, false).await,
            Instruction::Add(args) => self.copy_step(st, args, true).await,
            _ => self.meta_step(st, inst, original, meta).await,
        }
    }
}
