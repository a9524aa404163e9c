//! Stage scheduling: meta ARGs, which stages a stage waits for, independent
//! stages run in parallel with their output still forwarded in Dockerfile
//! order, then the result (unused build-args warning, id, tags).

use parking_lot::Mutex;
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use dockerfile::{Dockerfile, Env, Instruction};
use tokio::sync::mpsc;

use super::out::Out;
use super::{BuildShared, Executor, Plan, expand};
use crate::Progress;
use crate::backend::Backend;
use crate::cache::CacheIndex;
use crate::error::{BuildError, Result};

/// The images named by `--cache-from` and every image they derive from.
fn cache_sources<B: Backend>(backend: &B, refs: &[String]) -> Option<HashSet<String>> {
    if refs.is_empty() {
        return None;
    }
    let mut ids = HashSet::new();
    for r in refs {
        let mut next = backend.image(r).ok().map(|i| i.id);
        while let Some(id) = next.take() {
            if !ids.insert(id.clone()) {
                break;
            }
            next = backend.image(&id).ok().and_then(|i| i.parent);
        }
    }
    Some(ids)
}

/// The stages a stage needs finished first: those its FROM, COPY --from
/// and RUN --mount from= name (all earlier ones when a name uses a variable).
pub(super) fn stage_deps(df: &Dockerfile, i: usize) -> Vec<usize> {
    let names: Vec<Option<String>> = df.stages.iter().map(|s| s.name.clone()).collect();
    let mut deps = BTreeSet::new();
    let mut name = |r: &str| {
        if r.contains('$') {
            deps.extend(0..i);
            return;
        }
        let l = r.to_ascii_lowercase();
        if let Some(j) = names[..i]
            .iter()
            .position(|n| n.as_deref() == Some(l.as_str()))
        {
            deps.insert(j);
        } else if let Ok(j) = r.parse::<usize>()
            && j < i
        {
            deps.insert(j);
        }
    };
    let stage = &df.stages[i];
    if let Instruction::From { image, .. } = &stage.from.instruction {
        name(image);
    }
    for step in &stage.steps {
        match &step.instruction {
            Instruction::Copy(c) | Instruction::Add(c) => {
                if let Some(f) = &c.from {
                    name(f);
                }
            }
            Instruction::Run { mounts, .. } => {
                for m in mounts {
                    for part in m.split(',') {
                        if let Some(f) = part.strip_prefix("from=") {
                            name(f);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    deps.into_iter().collect()
}

/// Forwards the per-stage channels to the client one after another, so
/// stages that run in parallel still print in Dockerfile order.
fn ordered_output(
    tx: mpsc::Sender<Progress>,
    channels: Vec<mpsc::Receiver<Progress>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for mut rx in channels {
            while let Some(p) = rx.recv().await {
                if tx.send(p).await.is_err() {
                    return;
                }
            }
        }
    })
}

pub(super) async fn run_stages<B: Backend>(
    backend: Arc<B>,
    plan: Plan,
    out: Arc<Out>,
) -> Result<String> {
    let Plan {
        opts,
        ctx_root,
        dockerfile,
        target,
        tags,
    } = plan;
    let labels: Vec<(String, String)> = opts
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let total = dockerfile.step_count(target) + labels.len();
    let shared = Arc::new(BuildShared {
        opts: opts.clone(),
        ctx_root,
        escape: dockerfile.escape,
        stage_names: dockerfile.stages.iter().map(|s| s.name.clone()).collect(),
        cache_sources: cache_sources(&*backend, &opts.cache_from),
    });
    let consumed = Arc::new(Mutex::new(BTreeSet::new()));
    let cancelled = Arc::new(AtomicBool::new(false));
    let cache = Arc::new(CacheIndex::new(backend.data_root()));
    let executor = |out: Arc<Out>, stages: Vec<Option<String>>, step_no: usize| Executor {
        backend: backend.clone(),
        build: shared.clone(),
        out,
        cache: cache.clone(),
        stages,
        consumed: consumed.clone(),
        step_no,
        total,
        cancelled: cancelled.clone(),
    };
    let mut ex = executor(out.clone(), Vec::new(), 0);
    // Meta ARGs: defaults, overridden by build args; visible to FROM only.
    let mut meta = Env::new();
    for step in &dockerfile.meta_steps {
        ex.announce(step).await?;
    }
    for (k, default) in &dockerfile.meta_args {
        let value = match opts.build_args.get(k) {
            Some(Some(v)) => Some(v.clone()),
            _ => match default {
                Some(d) => Some(expand(d, &meta, dockerfile.escape)?),
                None => None,
            },
        };
        if opts.build_args.contains_key(k) {
            consumed.lock().insert(k.clone());
        }
        if let Some(v) = value {
            meta.set(k, &v);
        }
    }
    // Independent stages run at once; quiet builds (whose held output is
    // one buffer) run in order.
    let n = target + 1;
    let parallel = !opts.quiet;
    let mut first_step = Vec::with_capacity(n);
    let mut next = dockerfile.meta_steps.len();
    for stage in &dockerfile.stages[..n] {
        first_step.push(next);
        next += stage.steps.len() + 1;
    }
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for _ in 0..n {
        let (t, r) = mpsc::channel(4096);
        senders.push(Some(t));
        receivers.push(r);
    }
    let forward = parallel.then(|| ordered_output(out.tx.clone(), receivers));
    let deps: Vec<Vec<usize>> = (0..n).map(|i| stage_deps(&dockerfile, i)).collect();
    let mut results: Vec<Option<String>> = vec![None; n];
    let mut done = vec![false; n];
    let mut started = vec![false; n];
    let mut error: Option<BuildError> = None;
    let mut running = tokio::task::JoinSet::new();
    loop {
        if error.is_none() {
            for i in 0..n {
                let ready =
                    deps[i].iter().all(|d| done[*d]) && (parallel || (0..i).all(|j| done[j]));
                if started[i] || !ready {
                    continue;
                }
                started[i] = true;
                let stage_out = match senders[i].take() {
                    Some(tx) if parallel => Arc::new(Out::new(tx, false)),
                    _ => out.clone(),
                };
                let mut ex = executor(stage_out, results[..i].to_vec(), first_step[i]);
                let stage = dockerfile.stages[i].clone();
                let meta = meta.clone();
                let labels = if i == target {
                    labels.clone()
                } else {
                    Vec::new()
                };
                let escape = dockerfile.escape;
                running.spawn(async move {
                    let r = ex.build_stage(&stage, &meta, &labels, escape).await;
                    (i, r)
                });
            }
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let (i, r) = joined.map_err(|e| BuildError::new(format!("stage task: {e}")))?;
        match r {
            Ok(image) => {
                results[i] = Some(image);
                done[i] = true;
            }
            Err(e) => {
                cancelled.store(true, Ordering::SeqCst);
                // The first failure is the one Docker would have hit.
                if error.is_none() {
                    error = Some(e);
                }
            }
        }
    }
    drop(senders);
    if let Some(f) = forward {
        let _ = f.await;
    }
    if let Some(e) = error {
        return Err(e);
    }
    let id = results[target]
        .clone()
        .ok_or_else(|| BuildError::new("No image was generated. Is your Dockerfile empty?"))?;
    let consumed = consumed.lock().clone();
    ex.finish(&id, &consumed, &tags).await?;
    Ok(id)
}

impl<B: Backend> Executor<B> {
    /// After the last stage: the unused build-args warning, the id, the tags.
    async fn finish(
        &self,
        id: &str,
        consumed: &BTreeSet<String>,
        tags: &[image::Reference],
    ) -> Result<()> {
        let opts = &self.build.opts;
        let unused: Vec<&str> = opts
            .build_args
            .keys()
            .filter(|k| !consumed.contains(*k))
            .map(|s| s.as_str())
            .collect();
        if !unused.is_empty() {
            self.out
                .line(format!(
                    "[Warning] One or more build-args [{}] were not consumed\n",
                    unused.join(" ")
                ))
                .await?;
        }
        // dockerd's quiet mode sends the id as the only message, without aux.
        if opts.quiet {
            self.out.send(Progress::Stream(format!("{id}\n"))).await?;
        } else {
            self.out.send(Progress::Aux(id.to_string())).await?;
        }
        self.out
            .line(format!("Successfully built {}\n", image::short_id(id)))
            .await?;
        for t in tags {
            let t = match t.tag() {
                Some(_) => t.clone(),
                None => t.with_tag("latest")?,
            };
            self.backend.tag(id, &t)?;
            self.out
                .line(format!("Successfully tagged {}\n", t.familiar()))
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deps_follow_from_copy_and_mount_names() {
        let df = dockerfile::parse_dockerfile(
            "FROM a AS one\nFROM b AS two\nFROM one AS three\nCOPY --from=two /x /x\n\
             FROM c\nRUN --mount=type=bind,from=0,target=/m true\nCOPY --from=$X /y /y\n",
        )
        .unwrap();
        assert_eq!(stage_deps(&df, 0), Vec::<usize>::new());
        assert_eq!(stage_deps(&df, 1), Vec::<usize>::new());
        assert_eq!(stage_deps(&df, 2), vec![0, 1]);
        // A variable could name any earlier stage.
        assert_eq!(stage_deps(&df, 3), vec![0, 1, 2]);
    }
}
