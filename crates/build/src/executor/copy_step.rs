//! COPY and ADD as steps: sources (context, `--from` stage or image,
//! heredocs, URLs, git repositories) resolved and hashed for the cache key,
//! then copied into a writable layer on the stage's image by [`crate::copy`].

use std::path::PathBuf;

use dockerfile::{CopyArgs, expand_vars};

use super::history::copy_created_by;
use super::layer::LayerGuard;
use super::state::StageState;
use super::{Executor, expand, joined};
use crate::backend::Backend;
use crate::cache;
use crate::copy::{self, CopyMeta, Source};
use crate::error::{BuildError, Result};

impl<B: Backend> Executor<B> {
    pub(super) async fn copy_step(
        &mut self,
        st: &mut StageState,
        args: &CopyArgs,
        add: bool,
    ) -> Result<()> {
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
                    expand_vars(&h.content, &env, esc).map_err(BuildError::from)?
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
            joined(
                tokio::task::spawn_blocking(move || copy::resolve_sources(&root, &patterns)).await,
            )?
            .map_err(fail)?
        };
        // ADD <url>: fetched by the daemon into a temp dir (removed on drop),
        // then copied like a file (never unpacked, mode 0600, as Docker).
        let downloads = tempfile::Builder::new()
            .prefix("dl-")
            .tempdir_in(self.backend.data_root().join("build"))?;
        let mut remote = Vec::new();
        for url in &urls {
            let dir = downloads.path().to_path_buf();
            let u = url.clone();
            let src = joined(tokio::task::spawn_blocking(move || copy::download(&u, &dir)).await)?
                .map_err(fail)?;
            remote.push(src.host.clone());
            sources.push(src);
        }
        for (i, url) in git_urls.iter().enumerate() {
            let dir = downloads.path().join(format!("git{i}"));
            std::fs::create_dir_all(&dir)?;
            let u = url.clone();
            let src = joined(tokio::task::spawn_blocking(move || copy::git_clone(&u, &dir)).await)?
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
            joined(tokio::task::spawn_blocking(move || copy::hash_sources(&s)).await)??
        };
        let desc = match (sources.as_slice(), heredocs.len()) {
            ([one], 0) if one.is_dir => "dir",
            ([_], 0) => "file",
            ([], 1) => "file",
            _ => "multi",
        };
        let created_by = copy_created_by(what, desc, &hash, &dest.display().to_string());
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
        let layer = LayerGuard::mount(&self.backend, &base)?;
        let chown = match &args.chown {
            Some(c) if !c.is_empty() => Some(expand(c, &env, esc)?),
            _ => None,
        };
        let root = layer.merged.clone();
        let dest2 = dest.clone();
        let work = joined(
            tokio::task::spawn_blocking(move || -> Result<()> {
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
            .await,
        )?;
        work.map_err(fail)?;
        drop(guard);
        let _ = self.backend.unmount_layer(&layer.id);
        let id = self
            .record(st, &key, created_by, None, Some(layer.id.clone()))
            .await?;
        drop(layer);
        self.out
            .line(format!(" ---> {}\n", image::short_id(&id)))
            .await
    }
}
