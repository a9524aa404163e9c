//! `RUN --mount=...`: parsing the spec (pure) and turning it into a bind
//! for the step container, the layer it reads from and what it adds to the
//! step's cache key. `type=cache` dirs persist under the data root across
//! builds.

use std::path::Path;

use super::Executor;
use super::layer::LayerGuard;
use crate::backend::Backend;
use crate::cache;
use crate::copy;
use crate::error::{BuildError, Result};

/// A parsed `--mount` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MountSpec {
    /// `bind` (the default) or `cache`; anything else is refused later.
    pub(super) kind: String,
    pub(super) target: String,
    pub(super) source: String,
    pub(super) from: Option<String>,
    pub(super) id: Option<String>,
    pub(super) rw: bool,
}

impl MountSpec {
    /// Parses `type=cache,target=/x,...` with BuildKit's keys and messages.
    pub(super) fn parse(spec: &str) -> Result<MountSpec> {
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
        Ok(MountSpec {
            kind,
            target,
            source,
            from,
            id,
            rw,
        })
    }
}

/// What a mount gives the step: the `host:target[:ro]` bind, the layer
/// it reads from (kept until the step ends) and its cache-key part.
pub(super) type ResolvedMount<B> = (String, Option<LayerGuard<B>>, String);

impl<B: Backend> Executor<B> {
    pub(super) async fn run_mount(&self, spec: &str) -> Result<ResolvedMount<B>> {
        let m = MountSpec::parse(spec)?;
        let target = &m.target;
        match m.kind.as_str() {
            "cache" => {
                let name = m.id.clone().unwrap_or_else(|| target.clone());
                let dir = self.cache_mount_dir(&name)?;
                Ok((
                    format!("{}:{target}", dir.display()),
                    None,
                    format!("cache {name} {target}"),
                ))
            }
            "bind" => {
                let (root, guard, origin) = match &m.from {
                    Some(f) => {
                        let guard = self.source_root(f).await?;
                        let root = guard.as_ref().map(|g| g.merged.clone()).ok_or_else(|| {
                            BuildError::new(format!("cannot mount from empty stage {f}"))
                        })?;
                        let origin = self.stage_or_image_id(f).unwrap_or_default();
                        (root, guard, origin)
                    }
                    None => (self.build.ctx_root.clone(), None, "context".to_string()),
                };
                let source = &m.source;
                let rel = dockerfile::ignore::clean_path(source.trim_start_matches('/'));
                if rel == ".." || rel.starts_with("../") {
                    return Err(BuildError::new(format!(
                        "source {source} is outside the build context"
                    )));
                }
                let host = runtime::exe::resolve_in_root(&root, &Path::new("/").join(&rel))
                    .filter(|p| p.exists())
                    .ok_or_else(|| {
                        BuildError::new(format!(
                            "failed to compute cache key: \"/{rel}\": not found"
                        ))
                    })?;
                let rw = m.rw;
                let mut key = format!("bind {origin} {rel} {target} {rw}");
                if m.from.is_none() {
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

    /// The persistent dir of cache mount `name`.
    fn cache_mount_dir(&self, name: &str) -> Result<std::path::PathBuf> {
        let hash = cache::key(None, name, "cache-mount");
        let dir = self
            .backend
            .data_root()
            .join("build/mounts")
            .join(&hash[..24]);
        // build/mounts 0700; the cache dir itself is the mount's root inside
        // RUN steps, so 0755 as BuildKit makes it.
        if let Some(parent) = dir.parent() {
            engine::perms::create_dir_private(parent)?;
        }
        use std::os::unix::fs::DirBuilderExt as _;
        match std::fs::DirBuilder::new()
            .mode(engine::perms::CONTAINER_DIR)
            .create(&dir)
        {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(e.into()),
            _ => Ok(dir),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_to_a_read_only_bind() {
        let m = MountSpec::parse("target=/src,source=app").unwrap();
        assert_eq!(
            m,
            MountSpec {
                kind: "bind".into(),
                target: "/src".into(),
                source: "app".into(),
                from: None,
                id: None,
                rw: false,
            }
        );
    }

    #[test]
    fn keys_and_aliases() {
        let m = MountSpec::parse("type=cache,id=go,dst=/root/.cache,sharing=locked,rw").unwrap();
        assert_eq!(m.kind, "cache");
        assert_eq!(m.id.as_deref(), Some("go"));
        assert_eq!(m.target, "/root/.cache");
        assert!(m.rw);
        let m = MountSpec::parse("type=bind,from=build,src=/out,destination=/in,readonly=false")
            .unwrap();
        assert_eq!(m.from.as_deref(), Some("build"));
        assert_eq!(m.source, "/out");
        assert!(m.rw);
        assert!(!MountSpec::parse("target=/x,rw,ro").unwrap().rw);
    }

    #[test]
    fn errors_match_buildkit() {
        assert_eq!(
            MountSpec::parse("type=cache").unwrap_err().message,
            "mount target is required: type=cache"
        );
        assert_eq!(
            MountSpec::parse("target=/x,size=1").unwrap_err().message,
            "unexpected key 'size' in 'size=1'"
        );
    }
}
