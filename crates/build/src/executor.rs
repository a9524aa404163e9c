//! Runs the stages: one image per step, RUN as a container, COPY/ADD into a
//! temporary writable layer, everything else as a config change. Output
//! mirrors Docker's classic builder line for line.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use dockerfile::{
    Command, CopyArgs, Dockerfile, Env, Instruction, Step, expand_vars, expand_word, expand_words,
};
use engine::model::{Config, CreateRequest, HostConfig};
use engine::{Engine, StdStream, WaitCondition};
use image::derive::{DeriveOptions, derive};
use image::{ContainerConfigSpec, HealthConfig};
use tokio::sync::mpsc;

use crate::cache::{self, CacheIndex};
use crate::context::new_id;
use crate::copy::{self, CopyMeta, Source};
use crate::error::{BuildError, Result};
use crate::{Build, Progress};

const NOP: &str = "/bin/sh -c #(nop) ";

struct Out {
    tx: mpsc::Sender<Progress>,
    quiet: bool,
    /// `q`: what would have been shown, sent only if the build fails (as dockerd).
    held: std::sync::Mutex<Vec<String>>,
}

impl Out {
    async fn send(&self, p: Progress) -> Result<()> {
        self.tx
            .send(p)
            .await
            .map_err(|_| BuildError::new("build cancelled: the client went away"))
    }

    async fn line(&self, s: impl Into<String>) -> Result<()> {
        if self.quiet {
            self.held
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(s.into());
            return Ok(());
        }
        self.send(Progress::Stream(s.into())).await
    }

    async fn release_held(&self) {
        let held = std::mem::take(&mut *self.held.lock().unwrap_or_else(|e| e.into_inner()));
        for s in held {
            let _ = self.tx.send(Progress::Stream(s)).await;
        }
    }
}

fn short(id: &str) -> String {
    image::short_id(id)
}

/// A stage being built.
#[derive(Default)]
struct StageState {
    image: Option<String>,
    config: ContainerConfigSpec,
    /// ARGs in scope, with their values.
    args: Vec<(String, String)>,
    /// CMD was set in this stage (ENTRYPOINT then keeps it).
    cmd_set: bool,
}

impl StageState {
    fn scope(&self) -> Env {
        let mut env = Env::new();
        for (k, v) in &self.args {
            env.set(k, v);
        }
        for kv in self.config.env.iter().flatten() {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            env.set(k, v);
        }
        env
    }

    fn workdir(&self) -> PathBuf {
        if self.config.working_dir.is_empty() {
            PathBuf::from("/")
        } else {
            PathBuf::from(&self.config.working_dir)
        }
    }

    fn shell(&self) -> Vec<String> {
        self.config
            .shell
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }

    /// `KEY=value` of the ARGs that ENV does not shadow (passed to RUN).
    fn arg_env(&self) -> Vec<String> {
        let env = self.config.env.clone().unwrap_or_default();
        self.args
            .iter()
            .filter(|(k, _)| !env.iter().any(|e| e.split('=').next() == Some(k.as_str())))
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }
}

struct Executor {
    engine: Arc<Engine>,
    build: Arc<BuildShared>,
    out: Arc<Out>,
    cache: Arc<CacheIndex>,
    /// Result image of every earlier stage, by index (`None`: still running
    /// in parallel; a stage only starts once the stages it names are done).
    stages: Vec<Option<String>>,
    consumed: Arc<std::sync::Mutex<BTreeSet<String>>>,
    step_no: usize,
    total: usize,
    /// Set when another stage failed: stop at the next step.
    cancelled: Arc<std::sync::atomic::AtomicBool>,
}

/// The parts of [`Build`] the steps need.
struct BuildShared {
    opts: crate::BuildOptions,
    ctx_root: PathBuf,
    escape: char,
    stage_names: Vec<Option<String>>,
    /// With `--cache-from`: the only images a cached step may reuse (those
    /// images and their ancestors), as the classic builder has it.
    cache_sources: Option<std::collections::HashSet<String>>,
}

/// The images named by `--cache-from` and every image they derive from.
fn cache_sources(engine: &Engine, refs: &[String]) -> Option<std::collections::HashSet<String>> {
    if refs.is_empty() {
        return None;
    }
    let mut ids = std::collections::HashSet::new();
    for r in refs {
        let mut next = engine.images.get(r).ok().map(|i| i.id);
        while let Some(id) = next.take() {
            if !ids.insert(id.clone()) {
                break;
            }
            next = engine
                .images
                .get(&id)
                .ok()
                .map(|i| i.parent)
                .filter(|p| !p.is_empty());
        }
    }
    Some(ids)
}

fn expand(word: &str, env: &Env, escape: char) -> Result<String> {
    expand_word(word, env, escape).map_err(BuildError::new)
}

fn command_argv(cmd: &Command, shell: &[String]) -> Vec<String> {
    match cmd {
        Command::Exec(v) => v.clone(),
        Command::Shell(s) => shell.iter().cloned().chain([s.clone()]).collect(),
    }
}

/// A word that expands to exactly `s` (quotes, escapes and `$` neutralised).
fn literal(s: &str, escape: char) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c == escape || matches!(c, '"' | '\'' | '$') {
            out.push(escape);
        }
        out.push(c);
    }
    out
}

/// Go's `%q` of a string slice, as Docker writes CMD/ENTRYPOINT in history.
fn go_quoted(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", items.join(" "))
}

/// Go's `%v` of a string slice (SHELL, VOLUME in history).
fn go_plain(v: &[String]) -> String {
    format!("[{}]", v.join(" "))
}

fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

pub async fn run(build: Build, tx: mpsc::Sender<Progress>) -> Result<String> {
    let out = Arc::new(Out {
        tx,
        quiet: build.opts.quiet,
        held: Default::default(),
    });
    let result = run_stages(build, out.clone()).await;
    if result.is_err() {
        out.release_held().await;
    }
    result
}

/// The stages a stage needs finished first: those its FROM, COPY --from
/// and RUN --mount from= name (all earlier ones when a name uses a variable).
fn stage_deps(df: &Dockerfile, i: usize) -> Vec<usize> {
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

async fn run_stages(build: Build, out: Arc<Out>) -> Result<String> {
    let Build {
        engine,
        opts,
        ctx,
        dockerfile,
        target,
        tags,
    } = build;
    let labels: Vec<(String, String)> = opts
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let total = dockerfile.step_count(target) + labels.len();
    let shared = Arc::new(BuildShared {
        opts: opts.clone(),
        ctx_root: ctx.root().to_path_buf(),
        escape: dockerfile.escape,
        stage_names: dockerfile.stages.iter().map(|s| s.name.clone()).collect(),
        cache_sources: cache_sources(&engine, &opts.cache_from),
    });
    let consumed = Arc::new(std::sync::Mutex::new(BTreeSet::new()));
    let cancelled = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let cache = Arc::new(CacheIndex::new(&engine.cfg.data_root));
    let executor = |out: Arc<Out>, stages: Vec<Option<String>>, step_no: usize| Executor {
        engine: engine.clone(),
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
            consumed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(k.clone());
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
                    Some(tx) if parallel => Arc::new(Out {
                        tx,
                        quiet: false,
                        held: Default::default(),
                    }),
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
                cancelled.store(true, std::sync::atomic::Ordering::SeqCst);
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
    let consumed = consumed.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let unused: Vec<&String> = opts
        .build_args
        .keys()
        .filter(|k| !consumed.contains(*k))
        .collect();
    if !unused.is_empty() {
        let names: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
        ex.out
            .line(format!(
                "[Warning] One or more build-args [{}] were not consumed\n",
                names.join(" ")
            ))
            .await?;
    }
    // dockerd's quiet mode sends the id as the only message, without aux.
    if opts.quiet {
        ex.out.send(Progress::Stream(format!("{id}\n"))).await?;
    } else {
        ex.out.send(Progress::Aux(id.clone())).await?;
    }
    ex.out
        .line(format!("Successfully built {}\n", short(&id)))
        .await?;
    for t in &tags {
        let t = match t.tag() {
            Some(_) => t.clone(),
            None => t.with_tag("latest")?,
        };
        engine.images.tag(&id, &t)?;
        engine.image_event("tag", &id, Some(&t.full()));
        ex.out
            .line(format!("Successfully tagged {}\n", t.familiar()))
            .await?;
    }
    drop(ctx);
    Ok(id)
}

impl Executor {
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
        if self.cancelled.load(std::sync::atomic::Ordering::SeqCst) {
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

    /// Finds (or pulls) an image by name; Docker's pull error if it cannot.
    async fn image_by_name(&self, name: &str, always_pull: bool) -> Result<String> {
        if !always_pull && let Ok(img) = self.engine.images.get(name) {
            return Ok(img.id);
        }
        let reference =
            image::reference::parse(name).map_err(|e| BuildError::new(e.to_string()))?;
        let engine = self.engine.clone();
        let full = reference.full();
        let insecure = {
            let domain = reference.domain().to_string();
            let host = domain
                .rsplit_once(':')
                .map(|(h, _)| h.to_string())
                .unwrap_or(domain.clone());
            host == "localhost"
                || host.starts_with("127.")
                || engine
                    .cfg
                    .insecure_registries
                    .iter()
                    .any(|r| *r == domain || *r == host)
        };
        let platform = self.build.opts.platform.clone().filter(|p| !p.is_empty());
        let pulled = tokio::task::spawn_blocking(move || {
            let opts = image::distribution::PullOptions {
                platform,
                auth: None,
                insecure,
                progress: None,
            };
            image::distribution::pull(&engine.images, &full, &opts)
        })
        .await
        .map_err(|e| BuildError::new(e.to_string()))?;
        match pulled {
            Ok(r) => {
                self.engine.image_event("pull", &r.id, Some(&r.reference));
                Ok(r.id)
            }
            // A local image that exists beats a failed refresh (`--pull`).
            Err(_) if always_pull && self.engine.images.get(name).is_ok() => {
                Ok(self.engine.images.get(name)?.id)
            }
            Err(e) => Err(BuildError::new(e.to_string())),
        }
    }

    async fn stage_start(&mut self, step: &Step, meta: &Env) -> Result<StageState> {
        self.announce(step).await?;
        let Instruction::From { image, .. } = &step.instruction else {
            return Err(BuildError::new("stage without FROM"));
        };
        let name = expand(image, meta, self.build.escape)?;
        let lower = name.to_ascii_lowercase();
        let mut st = StageState::default();
        let previous = self
            .build
            .stage_names
            .iter()
            .take(self.stages.len())
            .position(|n| n.as_deref() == Some(lower.as_str()));
        st.image = if let Some(i) = previous {
            self.stages[i].clone()
        } else if lower == "scratch" {
            None
        } else {
            Some(self.image_by_name(&name, self.build.opts.pull).await?)
        };
        if let Some(id) = &st.image {
            st.config = self.engine.images.get(id)?.config.config;
            self.out.line(format!(" ---> {}\n", short(id))).await?;
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

    /// The empty image a scratch stage builds its first layer on (no history).
    async fn empty_base(&self, st: &StageState) -> Result<String> {
        let engine = self.engine.clone();
        let config = st.config.clone();
        tokio::task::spawn_blocking(move || {
            derive(
                &engine.images,
                None,
                DeriveOptions {
                    config,
                    ..Default::default()
                },
            )
        })
        .await
        .map_err(|e| BuildError::new(e.to_string()))?
        .map_err(BuildError::from)
    }

    async fn cached(&self, st: &mut StageState, key: &str) -> Result<bool> {
        if self.build.opts.no_cache {
            return Ok(false);
        }
        let Some(id) = self.cache.get(key) else {
            return Ok(false);
        };
        let Ok(img) = self.engine.images.get(&id) else {
            return Ok(false);
        };
        if let Some(allowed) = &self.build.cache_sources
            && !allowed.contains(&img.id)
        {
            return Ok(false);
        }
        st.image = Some(img.id.clone());
        st.config = img.config.config;
        self.out.line(" ---> Using cache\n").await?;
        self.out.line(format!(" ---> {}\n", short(&img.id))).await?;
        Ok(true)
    }

    async fn record(
        &self,
        st: &mut StageState,
        key: &str,
        created_by: String,
        layer_from: Option<String>,
    ) -> Result<String> {
        let engine = self.engine.clone();
        let parent = st.image.clone();
        let opts = DeriveOptions {
            config: st.config.clone(),
            created_by,
            author: None,
            layer_from,
        };
        let id =
            tokio::task::spawn_blocking(move || derive(&engine.images, parent.as_deref(), opts))
                .await
                .map_err(|e| BuildError::new(e.to_string()))??;
        if let Err(e) = self.cache.put(key, &id) {
            tracing::warn!("build cache index: {e}");
        }
        st.image = Some(id.clone());
        Ok(id)
    }

    /// A config-only step.
    async fn commit_meta(&self, st: &mut StageState, text: String) -> Result<()> {
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
        let id = self.record(st, &key, created_by, None).await?;
        self.out.line(format!(" ---> {}\n", short(&id))).await
    }

    async fn dispatch(
        &mut self,
        st: &mut StageState,
        inst: &Instruction,
        original: &str,
        _meta: &Env,
    ) -> Result<()> {
        let esc = self.build.escape;
        let env = st.scope();
        match inst {
            Instruction::From { .. } => Err(BuildError::new("FROM inside a stage")),
            Instruction::Env(pairs) => {
                let mut list = st.config.env.clone().unwrap_or_default();
                let mut shown = Vec::new();
                let mut scope = env.clone();
                for (k, v) in pairs {
                    let k = expand(k, &scope, esc)?;
                    let v = expand(v, &scope, esc)?;
                    scope.set(&k, &v);
                    list.retain(|e| e.split('=').next() != Some(k.as_str()));
                    list.push(format!("{k}={v}"));
                    shown.push(format!("{k}={v}"));
                }
                st.config.env = Some(list);
                self.commit_meta(st, format!(" ENV {}", shown.join(" ")))
                    .await
            }
            Instruction::Label(pairs) => {
                let mut labels = st.config.labels.clone().unwrap_or_default();
                let mut shown = Vec::new();
                for (k, v) in pairs {
                    let k = expand(k, &env, esc)?;
                    let v = expand(v, &env, esc)?;
                    shown.push(format!("{k}={v}"));
                    labels.insert(k, v);
                }
                st.config.labels = Some(labels);
                self.commit_meta(st, format!(" LABEL {}", shown.join(" ")))
                    .await
            }
            Instruction::Arg(defs) => {
                for (k, default) in defs {
                    let value = match self.build.opts.build_args.get(k) {
                        Some(Some(v)) => Some(v.clone()),
                        _ => match default {
                            Some(d) => Some(expand(d, &st.scope(), esc)?),
                            None => _meta.get(k).map(String::from),
                        },
                    };
                    if self.build.opts.build_args.contains_key(k) {
                        self.consumed
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(k.clone());
                    }
                    st.args.retain(|(n, _)| n != k);
                    if let Some(v) = value {
                        st.args.push((k.clone(), v));
                    }
                }
                let text = original
                    .split_once(char::is_whitespace)
                    .map(|(_, r)| r.trim())
                    .unwrap_or("");
                self.commit_meta(st, format!(" ARG {text}")).await
            }
            Instruction::Expose(text) => {
                let mut ports = st.config.exposed_ports.clone().unwrap_or_default();
                let mut shown = Vec::new();
                for p in expand_words(text, &env, esc).map_err(BuildError::new)? {
                    for port in expand_port(&p)? {
                        shown.push(port.clone());
                        ports.insert(port, Default::default());
                    }
                }
                st.config.exposed_ports = Some(ports);
                self.commit_meta(st, format!(" EXPOSE {}", shown.join(" ")))
                    .await
            }
            Instruction::Volume { paths, json } => {
                let mut vols = st.config.volumes.clone().unwrap_or_default();
                let mut list = Vec::new();
                for p in paths {
                    if *json {
                        list.push(expand(p, &env, esc)?);
                    } else {
                        list.extend(expand_words(p, &env, esc).map_err(BuildError::new)?);
                    }
                }
                for p in &list {
                    if p.trim().is_empty() {
                        return Err(BuildError::new(
                            "VOLUME specified can not be an empty string",
                        ));
                    }
                    vols.insert(p.clone(), Default::default());
                }
                st.config.volumes = Some(vols);
                self.commit_meta(st, format!(" VOLUME {}", go_plain(&list)))
                    .await
            }
            Instruction::User(u) => {
                st.config.user = expand(u, &env, esc)?;
                let text = format!(" USER {}", st.config.user);
                self.commit_meta(st, text).await
            }
            Instruction::Workdir(w) => {
                let w = expand(w, &env, esc)?;
                let joined = st.workdir().join(&w);
                st.config.working_dir = dockerfile::ignore::clean_path(&joined.to_string_lossy());
                let text = format!("WORKDIR {}", st.config.working_dir);
                self.commit_meta(st, text).await
            }
            Instruction::StopSignal(s) => {
                let s = expand(s, &env, esc)?;
                st.config.stop_signal = Some(s.clone());
                self.commit_meta(st, format!(" STOPSIGNAL [{s}]")).await
            }
            Instruction::Shell(v) => {
                st.config.shell = Some(v.clone());
                self.commit_meta(st, format!(" SHELL {}", go_plain(v)))
                    .await
            }
            Instruction::Cmd(c) => {
                let argv = command_argv(c, &st.shell());
                st.config.cmd = Some(argv.clone());
                st.cmd_set = true;
                self.commit_meta(st, format!(" CMD {}", go_quoted(&argv)))
                    .await
            }
            Instruction::Entrypoint(c) => {
                let argv = command_argv(c, &st.shell());
                st.config.entrypoint = Some(argv.clone());
                // Docker: a new ENTRYPOINT drops a CMD inherited from the base image.
                if !st.cmd_set {
                    st.config.cmd = None;
                }
                self.commit_meta(st, format!(" ENTRYPOINT {}", go_quoted(&argv)))
                    .await
            }
            Instruction::Healthcheck(h) => {
                st.config.healthcheck = Some(match h {
                    None => HealthConfig {
                        test: Some(vec!["NONE".into()]),
                        ..Default::default()
                    },
                    Some(h) => HealthConfig {
                        test: Some(h.test.clone()),
                        interval: h.interval,
                        timeout: h.timeout,
                        start_period: h.start_period,
                        start_interval: h.start_interval,
                        retries: h.retries,
                    },
                });
                let test = st
                    .config
                    .healthcheck
                    .as_ref()
                    .and_then(|h| h.test.clone())
                    .unwrap_or_default();
                self.commit_meta(st, format!(" HEALTHCHECK &{{{}}}", json_list(&test)))
                    .await
            }
            Instruction::Onbuild(t) => {
                let mut list = st.config.on_build.clone().unwrap_or_default();
                list.push(t.clone());
                st.config.on_build = Some(list);
                self.commit_meta(st, format!(" ONBUILD {t}")).await
            }
            Instruction::Maintainer(m) => {
                let m = m.clone();
                let created_by = format!("{NOP} MAINTAINER {m}");
                let key = cache::key(st.image.as_deref(), &created_by, "");
                if self.cached(st, &key).await? {
                    return Ok(());
                }
                let engine = self.engine.clone();
                let parent = st.image.clone();
                let opts = DeriveOptions {
                    config: st.config.clone(),
                    created_by,
                    author: Some(m),
                    layer_from: None,
                };
                let id = tokio::task::spawn_blocking(move || {
                    derive(&engine.images, parent.as_deref(), opts)
                })
                .await
                .map_err(|e| BuildError::new(e.to_string()))??;
                let _ = self.cache.put(&key, &id);
                st.image = Some(id.clone());
                self.out.line(format!(" ---> {}\n", short(&id))).await
            }
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
        }
    }

    async fn base_for_layer(&self, st: &mut StageState) -> Result<String> {
        match &st.image {
            Some(id) => Ok(id.clone()),
            None => {
                let id = self.empty_base(st).await?;
                st.image = Some(id.clone());
                Ok(id)
            }
        }
    }

    async fn run_step(
        &mut self,
        st: &mut StageState,
        command: &Command,
        heredocs: &[dockerfile::Heredoc],
        network: Option<&str>,
        mounts: &[String],
    ) -> Result<()> {
        let shell = st.shell();
        let argv = match (command, heredocs.first()) {
            // `RUN <<EOF`: the body is the script.
            (Command::Shell(s), Some(h))
                if s.split_whitespace().count() == 1 && s.trim_start().starts_with("<<") =>
            {
                if h.content.starts_with("#!") {
                    let interp: Vec<String> = h.content[2..]
                        .lines()
                        .next()
                        .unwrap_or("")
                        .split_whitespace()
                        .map(String::from)
                        .collect();
                    interp
                        .into_iter()
                        .chain(["-c".to_string(), h.content.clone()])
                        .collect()
                } else {
                    shell.iter().cloned().chain([h.content.clone()]).collect()
                }
            }
            // Heredocs elsewhere in the line: the shell reads them.
            (Command::Shell(s), Some(_)) => {
                let mut script = s.clone();
                for h in heredocs {
                    script.push('\n');
                    script.push_str(&h.content);
                    script.push_str(&h.name);
                }
                script.push('\n');
                shell.iter().cloned().chain([script]).collect()
            }
            _ => command_argv(command, &shell),
        };
        let arg_env = st.arg_env();
        let created_by = if arg_env.is_empty() {
            argv.join(" ")
        } else {
            format!(
                "|{} {} {}",
                arg_env.len(),
                arg_env.join(" "),
                argv.join(" ")
            )
        };
        let env = st.scope();
        let mut guards = Vec::new();
        let mut binds = Vec::new();
        let mut mount_key = String::new();
        for spec in mounts {
            let spec = expand(spec, &env, self.build.escape)?;
            let (bind, guard, key) = self.run_mount(&spec).await?;
            binds.push(bind);
            guards.extend(guard);
            mount_key.push_str(&key);
            mount_key.push('\n');
        }
        let key = cache::key(st.image.as_deref(), &created_by, &mount_key);
        if self.cached(st, &key).await? {
            return Ok(());
        }
        let base = self.base_for_layer(st).await?;
        let mut env = st.config.env.clone().unwrap_or_default();
        env.extend(arg_env);
        let network_mode = network
            .filter(|n| !n.is_empty() && *n != "default")
            .map(String::from)
            .or_else(|| self.build.opts.network_mode.clone())
            .filter(|n| !n.is_empty() && n != "default")
            .unwrap_or_default();
        let req = CreateRequest {
            config: Config {
                image: base.clone(),
                cmd: Some(argv.clone()),
                entrypoint: Some(vec![String::new()]),
                env: Some(env),
                user: st.config.user.clone(),
                working_dir: st.config.working_dir.clone(),
                attach_stdout: true,
                attach_stderr: true,
                ..Default::default()
            },
            host_config: HostConfig {
                network_mode,
                binds: (!binds.is_empty()).then_some(binds),
                extra_hosts: (!self.build.opts.extra_hosts.is_empty())
                    .then(|| self.build.opts.extra_hosts.clone()),
                ..Default::default()
            },
            networking_config: None,
        };
        let created = self.engine.create_container(None, req).await?;
        let cid = created.id;
        let result = self.run_container(&cid, &argv).await;
        drop(guards);
        let force_rm = self.build.opts.force_rm;
        let remove = |engine: Arc<Engine>, cid: String| async move {
            if let Err(e) = engine.remove(&cid, true, true).await {
                tracing::warn!(container = %cid, "removing build container: {e}");
            }
        };
        if let Err(e) = result {
            // The issue asks for no dangling containers: failed steps' go too.
            remove(self.engine.clone(), cid).await;
            return Err(e);
        }
        let recorded = self.record(st, &key, created_by, Some(cid.clone())).await;
        let id = match recorded {
            Ok(id) => id,
            Err(e) => {
                remove(self.engine.clone(), cid).await;
                return Err(e);
            }
        };
        if self.build.opts.rm || force_rm {
            self.out
                .line(format!("Removing intermediate container {}\n", short(&cid)))
                .await?;
            remove(self.engine.clone(), cid).await;
        }
        self.out.line(format!(" ---> {}\n", short(&id))).await
    }

    async fn run_container(&self, cid: &str, argv: &[String]) -> Result<()> {
        self.out
            .line(format!(" ---> Running in {}\n", short(cid)))
            .await?;
        let (_c, mut rx) = self.engine.attach(cid, true, true)?;
        self.engine.start(cid).await?;
        loop {
            let chunk = tokio::select! {
                chunk = rx.recv() => chunk,
                _ = self.out.tx.closed() => {
                    let _ = self.engine.kill(cid, None).await;
                    return Err(BuildError::new("build cancelled: the client went away"));
                }
            };
            let Some(chunk) = chunk else { break };
            let text = String::from_utf8_lossy(&chunk.data).into_owned();
            let text = match chunk.stream {
                StdStream::Stderr => format!("\u{1b}[91m{text}\u{1b}[0m"),
                _ => text,
            };
            self.out.line(text).await?;
        }
        let code = self.engine.wait(cid, WaitCondition::NotRunning).await?;
        if code != 0 {
            return Err(BuildError {
                message: format!(
                    "The command '{}' returned a non-zero code: {code}",
                    argv.join(" ")
                ),
                code: Some(code),
                bad_request: false,
            });
        }
        Ok(())
    }

    /// `RUN --mount=...`: a bind for the container, the layer it reads
    /// from (kept until the step ends) and what it adds to the cache key.
    /// `type=cache` dirs persist under the data root across builds.
    async fn run_mount(&self, spec: &str) -> Result<(String, Option<LayerGuard>, String)> {
        let mut kind = "bind".to_string();
        let mut target = None;
        let mut source = String::new();
        let mut from = None;
        let mut id = None;
        let mut rw = false;
        for part in spec.split(',') {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            match k {
                "type" => kind = v.to_string(),
                "target" | "dst" | "destination" => target = Some(v.to_string()),
                "source" | "src" => source = v.to_string(),
                "from" => from = Some(v.to_string()),
                "id" => id = Some(v.to_string()),
                "rw" | "readwrite" => rw = v.is_empty() || v == "true",
                "ro" | "readonly" => rw = !(v.is_empty() || v == "true"),
                // Accepted, with the defaults buildkit applies.
                "sharing" | "mode" | "uid" | "gid" | "required" => {}
                other => {
                    return Err(BuildError::new(format!(
                        "unexpected key '{other}' in '{part}'"
                    )));
                }
            }
        }
        let target = target
            .filter(|t| !t.is_empty())
            .ok_or_else(|| BuildError::new(format!("mount target is required: {spec}")))?;
        match kind.as_str() {
            "cache" => {
                let name = id.unwrap_or_else(|| target.clone());
                let hash = cache::key(None, &name, "cache-mount");
                let dir = self
                    .engine
                    .cfg
                    .data_root
                    .join("build/mounts")
                    .join(&hash[..24]);
                // build/mounts 0700; the cache dir itself is the mount's
                // root inside RUN steps, so 0755 as BuildKit makes it.
                if let Some(parent) = dir.parent() {
                    engine::perms::create_dir_private(parent)?;
                }
                use std::os::unix::fs::DirBuilderExt as _;
                match std::fs::DirBuilder::new()
                    .mode(engine::perms::CONTAINER_DIR)
                    .create(&dir)
                {
                    Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e.into()),
                    _ => {}
                }
                Ok((
                    format!("{}:{target}", dir.display()),
                    None,
                    format!("cache {name} {target}"),
                ))
            }
            "bind" => {
                let (root, guard, origin) = match &from {
                    Some(f) => {
                        let guard = self.source_root(f).await?;
                        let root = guard.as_ref().map(|g| g.merged.clone()).ok_or_else(|| {
                            BuildError::new(format!("cannot mount from empty stage {f}"))
                        })?;
                        let origin = self.stage_or_image_id(f).await.unwrap_or_default();
                        (root, guard, origin)
                    }
                    None => (self.build.ctx_root.clone(), None, "context".to_string()),
                };
                let rel = dockerfile::ignore::clean_path(source.trim_start_matches('/'));
                if rel == ".." || rel.starts_with("../") {
                    return Err(BuildError::new(format!(
                        "source {source} is outside the build context"
                    )));
                }
                let host =
                    runtime::exe::resolve_in_root(&root, &std::path::Path::new("/").join(&rel))
                        .filter(|p| p.exists())
                        .ok_or_else(|| {
                            BuildError::new(format!(
                                "failed to compute cache key: \"/{rel}\": not found"
                            ))
                        })?;
                let mut key = format!("bind {origin} {rel} {target} {rw}");
                if from.is_none() {
                    let srcs = copy::resolve_sources(&root, std::slice::from_ref(&rel))?;
                    key.push_str(&copy::hash_sources(&srcs)?);
                }
                let mode = if rw { "" } else { ":ro" };
                Ok((format!("{}:{target}{mode}", host.display()), guard, key))
            }
            other => Err(BuildError::new(format!(
                "RUN --mount type {other} is not supported by this builder"
            ))),
        }
    }

    /// The image id a `from=` names (for cache keys).
    async fn stage_or_image_id(&self, from: &str) -> Option<String> {
        let lower = from.to_ascii_lowercase();
        let by_name = self
            .build
            .stage_names
            .iter()
            .take(self.stages.len())
            .position(|n| n.as_deref() == Some(lower.as_str()));
        let by_index = from
            .parse::<usize>()
            .ok()
            .filter(|i| *i < self.stages.len());
        match by_name.or(by_index) {
            Some(i) => self.stages[i].clone(),
            None => self.engine.images.get(from).ok().map(|i| i.id),
        }
    }

    /// Where COPY --from reads: a stage's result or an image, mounted on a
    /// throwaway writable layer (removed by the returned guard).
    async fn source_root(&self, from: &str) -> Result<Option<LayerGuard>> {
        let lower = from.to_ascii_lowercase();
        let by_name = self
            .build
            .stage_names
            .iter()
            .take(self.stages.len())
            .position(|n| n.as_deref() == Some(lower.as_str()));
        let by_index = from
            .parse::<usize>()
            .ok()
            .filter(|i| *i < self.stages.len());
        let image =
            match by_name.or(by_index) {
                Some(i) => self.stages[i].clone(),
                None => Some(self.image_by_name(from, false).await.map_err(|e| {
                    BuildError::new(format!("invalid from flag value {from}: {e}"))
                })?),
            };
        let Some(image) = image else {
            return Ok(None);
        };
        LayerGuard::mount(&self.engine, &image).map(Some)
    }

    async fn copy_step(&mut self, st: &mut StageState, args: &CopyArgs, add: bool) -> Result<()> {
        let what = if add { "ADD" } else { "COPY" };
        let fail = |e: BuildError| BuildError {
            message: format!("{what} failed: {}", e.message),
            ..e
        };
        let esc = self.build.escape;
        let env = st.scope();
        let mut patterns = Vec::new();
        let mut heredocs = Vec::new();
        let mut urls = Vec::new();
        let mut git_urls = Vec::new();
        for s in &args.sources {
            if let Some(name) = s.strip_prefix("<<")
                && let Some(h) = args.heredocs.iter().find(|h| h.name == name)
            {
                let body = if h.expand {
                    expand_vars(&h.content, &env, esc).map_err(BuildError::new)?
                } else {
                    h.content.clone()
                };
                heredocs.push((h.name.clone(), body));
                continue;
            }
            let word = expand(s, &env, esc)?;
            if add && copy::is_git_url(&word) {
                git_urls.push(word);
                continue;
            }
            if add && (word.starts_with("http://") || word.starts_with("https://")) {
                urls.push(word);
                continue;
            }
            patterns.push(word);
        }
        let dest_raw = expand(&args.dest, &env, esc)?;
        let dest_dir_syntax =
            dest_raw.ends_with('/') || dest_raw == "." || dest_raw.ends_with("/.");
        let dest = dockerfile::ignore::clean_path(&st.workdir().join(&dest_raw).to_string_lossy());
        let dest = PathBuf::from(dest);
        let from = match &args.from {
            Some(f) => Some(expand(f, &env, esc)?),
            None => None,
        };
        let guard = match &from {
            Some(f) => self.source_root(f).await?,
            None => None,
        };
        let src_root = match (&from, &guard) {
            (Some(_), Some(g)) => g.merged.clone(),
            // --from a scratch stage with nothing in it.
            (Some(_), None) => PathBuf::from("/nonexistent-empty-stage"),
            (None, _) => self.build.ctx_root.clone(),
        };
        let mut sources: Vec<Source> = {
            let root = src_root.clone();
            let patterns = patterns.clone();
            tokio::task::spawn_blocking(move || copy::resolve_sources(&root, &patterns))
                .await
                .map_err(|e| BuildError::new(e.to_string()))?
                .map_err(fail)?
        };
        // ADD <url>: fetched by the daemon into a temp dir (removed on drop),
        // then copied like a file (never unpacked, mode 0600, as Docker).
        let downloads = tempfile::Builder::new()
            .prefix("dl-")
            .tempdir_in(self.engine.cfg.data_root.join("build"))?;
        let mut remote = Vec::new();
        for url in &urls {
            let dir = downloads.path().to_path_buf();
            let u = url.clone();
            let src = tokio::task::spawn_blocking(move || copy::download(&u, &dir))
                .await
                .map_err(|e| BuildError::new(e.to_string()))?
                .map_err(fail)?;
            remote.push(src.host.clone());
            sources.push(src);
        }
        for (i, url) in git_urls.iter().enumerate() {
            let dir = downloads.path().join(format!("git{i}"));
            std::fs::create_dir_all(&dir)?;
            let u = url.clone();
            let src = tokio::task::spawn_blocking(move || copy::git_clone(&u, &dir))
                .await
                .map_err(|e| BuildError::new(e.to_string()))?
                .map_err(fail)?;
            remote.push(src.host.clone());
            sources.push(src);
        }
        if sources.len() + heredocs.len() > 1 && !dest_dir_syntax {
            return Err(fail(BuildError::new(format!(
                "When using {what} with more than one source file, the destination must be a directory and end with a /"
            ))));
        }
        let hash = {
            let s = sources.clone();
            tokio::task::spawn_blocking(move || copy::hash_sources(&s))
                .await
                .map_err(|e| BuildError::new(e.to_string()))??
        };
        let desc = match (sources.as_slice(), heredocs.len()) {
            ([one], 0) if one.is_dir => "dir",
            ([_], 0) => "file",
            ([], 1) => "file",
            _ => "multi",
        };
        let created_by = format!("{NOP}{what} {desc}:{hash} in {} ", dest.display());
        let extra = format!(
            "{:?}|{:?}|{:?}|{}",
            args.chown,
            args.chmod,
            heredocs,
            from.as_deref().unwrap_or("")
        );
        let key = cache::key(st.image.as_deref(), &created_by, &extra);
        if self.cached(st, &key).await? {
            return Ok(());
        }
        let chmod = match &args.chmod {
            Some(m) if !m.is_empty() => Some(
                u32::from_str_radix(m, 8)
                    .map_err(|_| fail(BuildError::new(format!("invalid chmod parameter: {m}"))))?,
            ),
            _ => None,
        };
        let base = self.base_for_layer(st).await?;
        let layer = LayerGuard::mount(&self.engine, &base)?;
        let chown = match &args.chown {
            Some(c) if !c.is_empty() => Some(expand(c, &env, esc)?),
            _ => None,
        };
        let root = layer.merged.clone();
        let dest2 = dest.clone();
        let work = tokio::task::spawn_blocking(move || -> Result<()> {
            let (uid, gid) = match &chown {
                Some(c) => {
                    let u = image::passwd::resolve_user(&root, c).map_err(|e| {
                        BuildError::new(format!(
                            "unable to convert uid/gid chown string to host mapping: {e}"
                        ))
                    })?;
                    (u.uid, u.gid)
                }
                None => (0, 0),
            };
            let meta = CopyMeta { uid, gid, chmod };
            let existing_dir =
                runtime::exe::resolve_in_root(&root, &dest2).is_some_and(|p| p.is_dir());
            let dest_is_dir = dest_dir_syntax || existing_dir;
            for s in &sources {
                if add
                    && !s.is_dir
                    && !remote.contains(&s.host)
                    && let Some(gzip) = copy::archive_kind(&s.host)
                {
                    copy::extract_archive(&root, &s.host, &dest2, gzip)?;
                    continue;
                }
                copy::copy_source(&root, s, &dest2, dest_is_dir, meta)?;
            }
            for (name, body) in &heredocs {
                let target = if dest_is_dir {
                    dest2.join(name)
                } else {
                    dest2.clone()
                };
                copy::write_file(&root, &target, body.as_bytes(), meta)?;
            }
            Ok(())
        })
        .await
        .map_err(|e| BuildError::new(e.to_string()))?;
        work.map_err(fail)?;
        drop(guard);
        let _ = self.engine.images.unmount_rw_layer(&layer.id);
        let id = self
            .record(st, &key, created_by, Some(layer.id.clone()))
            .await?;
        drop(layer);
        self.out.line(format!(" ---> {}\n", short(&id))).await
    }
}

/// A throwaway writable layer on an image, mounted; removed on drop.
struct LayerGuard {
    engine: Arc<Engine>,
    id: String,
    merged: PathBuf,
}

impl LayerGuard {
    fn mount(engine: &Arc<Engine>, image: &str) -> Result<LayerGuard> {
        let id = format!("build-{}", &new_id()[..32]);
        let merged = engine.images.mount_rw_layer(&id, image)?;
        Ok(LayerGuard {
            engine: engine.clone(),
            id,
            merged,
        })
    }
}

impl Drop for LayerGuard {
    fn drop(&mut self) {
        if let Err(e) = self.engine.images.remove_rw_layer(&self.id) {
            tracing::warn!(layer = %self.id, "removing build layer: {e}");
        }
    }
}

/// `80`, `80/udp`, `8000-8002` → Docker's `port/proto` keys.
fn expand_port(p: &str) -> Result<Vec<String>> {
    let (ports, proto) = match p.split_once('/') {
        Some((a, b)) => (a, b.to_ascii_lowercase()),
        None => (p, "tcp".to_string()),
    };
    let bad = || BuildError::new(format!("Invalid containerPort: {ports}"));
    let parse = |s: &str| s.parse::<u16>().map_err(|_| bad());
    let (lo, hi) = match ports.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => {
            let n = parse(ports)?;
            (n, n)
        }
    };
    if hi < lo {
        return Err(bad());
    }
    Ok((lo..=hi).map(|n| format!("{n}/{proto}")).collect())
}
