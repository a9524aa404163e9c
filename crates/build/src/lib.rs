//! The Dockerfile builder (Docker's classic builder, `POST /build`), on top
//! of the engine (RUN steps are real containers) and the image store (every
//! step is an image; metadata steps change only the config).
//!
//! It is its own crate rather than an engine module because it sits above
//! both the engine and the image store and owns state of its own (the cache
//! index), as the design's layering has it; the engine does not need it.
//!
//! [`Build::prepare`] unpacks the context and parses the Dockerfile (errors
//! there are the request's fault: HTTP 400 before any output);
//! [`Build::run`] executes it, sending Docker's progress lines.

mod backend;
mod cache;
pub mod context;
pub mod copy;
mod error;
mod executor;

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;

use dockerfile::parse_dockerfile;
use engine::Engine;

pub use context::Context;
pub use error::{BuildError, Result};

/// What `POST /build` asks for (moby's swagger names in comments).
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// `dockerfile`: path inside the context.
    pub dockerfile: String,
    /// `t`: tags for the result.
    pub tags: Vec<String>,
    /// `buildargs`: a `null` value means "take it from the daemon's env" in
    /// Docker; we treat it as unset.
    pub build_args: BTreeMap<String, Option<String>>,
    /// `labels`
    pub labels: BTreeMap<String, String>,
    /// `target`
    pub target: Option<String>,
    /// `nocache`
    pub no_cache: bool,
    /// `rm`: remove intermediate containers after a successful step (default true).
    pub rm: bool,
    /// `forcerm`: always remove them.
    pub force_rm: bool,
    /// `q`: only the image id.
    pub quiet: bool,
    /// `pull`: refresh FROM images from their registry.
    pub pull: bool,
    /// `networkmode` of RUN containers.
    pub network_mode: Option<String>,
    /// `platform` (accepted; only the host's is built).
    pub platform: Option<String>,
    /// `extrahosts`: "name:ip" entries for the /etc/hosts of RUN containers.
    pub extra_hosts: Vec<String>,
    /// `cachefrom`: images whose build steps may be reused; when given, no
    /// other cached step is.
    pub cache_from: Vec<String>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            dockerfile: "Dockerfile".into(),
            tags: Vec::new(),
            build_args: BTreeMap::new(),
            labels: BTreeMap::new(),
            target: None,
            no_cache: false,
            rm: true,
            force_rm: false,
            quiet: false,
            pull: false,
            network_mode: None,
            platform: None,
            extra_hosts: Vec::new(),
            cache_from: Vec::new(),
        }
    }
}

/// One progress message, as the API streams it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// `{"stream": "..."}`
    Stream(String),
    /// `{"aux": {"ID": "sha256:..."}}`
    Aux(String),
}

/// A build whose context is unpacked and whose Dockerfile parsed.
pub struct Build {
    engine: Arc<Engine>,
    ctx: Context,
    plan: executor::Plan,
}

impl Build {
    /// Unpacks the context (blocking: call it on a blocking thread) and
    /// checks everything that can be checked before running.
    pub fn prepare(engine: Arc<Engine>, opts: BuildOptions, context: impl Read) -> Result<Build> {
        engine.metrics().build_triggered();
        let mut tags = Vec::new();
        for t in &opts.tags {
            let r =
                image::reference::parse(t).map_err(|e| BuildError::bad_request(e.to_string()))?;
            if r.digest().is_some() {
                return Err(BuildError::bad_request(format!(
                    "invalid reference format: {t}"
                )));
            }
            tags.push(r);
        }
        let ctx = Context::unpack(&engine.config().data_root.join("build"), context)?;
        let name = if opts.dockerfile.is_empty() {
            "Dockerfile".to_string()
        } else {
            opts.dockerfile.clone()
        };
        let text = ctx.read_dockerfile(&name)?;
        let dockerfile = parse_dockerfile(&text).map_err(|e| match e {
            dockerfile::ParseError::Plain(m) if m == "the Dockerfile cannot be empty" => {
                engine.metrics().build_failed("dockerfile_empty_error");
                BuildError::bad_request(format!("the Dockerfile ({name}) cannot be empty"))
            }
            other => {
                engine.metrics().build_failed("dockerfile_syntax_error");
                BuildError::bad_request(other.to_string())
            }
        })?;
        let target = dockerfile
            .target_index(opts.target.as_deref())
            .map_err(|e| BuildError::bad_request(e.to_string()))?;
        ctx.apply_dockerignore()?;
        let plan = executor::Plan {
            opts,
            ctx_root: ctx.root().to_path_buf(),
            dockerfile,
            target,
            tags,
        };
        Ok(Build { engine, ctx, plan })
    }

    /// Runs every stage up to the target; returns the image id.
    pub async fn run(self, out: tokio::sync::mpsc::Sender<Progress>) -> Result<String> {
        let Build { engine, ctx, plan } = self;
        let metrics = engine.metrics().clone();
        let backend = Arc::new(backend::EngineBackend::new(engine));
        let client = out.clone();
        let timer = metrics.build_action("build");
        let result = timer.observe(executor::run(backend, plan, out).await);
        if result.is_err() {
            // A client that went away cancelled the build.
            metrics.build_failed(if client.is_closed() {
                "build_canceled"
            } else {
                "unknown"
            });
        }
        drop(client);
        // The context goes only once no step reads it.
        drop(ctx);
        result
    }
}

/// What a build-cache prune removed.
#[derive(Debug, Clone, Default)]
pub struct CachePrune {
    /// The step images that went with the cache (ids).
    pub deleted: Vec<String>,
    pub reclaimed: u64,
}

/// `POST /build/prune`: forgets every cached step, so later builds run each
/// step again, and removes the step images only the cache kept (untagged
/// and used by no container; tagged results stay).
pub async fn prune_cache(engine: &Engine) -> engine::Result<CachePrune> {
    let index = cache::CacheIndex::new(&engine.config().data_root);
    let images = index.images();
    index
        .clear()
        .map_err(|e| engine::EngineError::internal("clearing the build cache", e))?;
    let (items, reclaimed) = engine
        .prune_images(true, |img| images.contains(&img.id))
        .await?;
    let deleted = items
        .into_iter()
        .filter_map(|item| match item {
            image::DeleteItem::Deleted(id) => Some(id),
            image::DeleteItem::Untagged(_) => None,
        })
        .collect();
    Ok(CachePrune { deleted, reclaimed })
}
