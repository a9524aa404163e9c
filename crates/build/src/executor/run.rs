//! RUN steps: the argv (heredoc scripts included), the step container with
//! the stage's env, user, workdir, mounts and network, its output streamed
//! as Docker's builder streams it, and the container removed afterwards
//! (always when the step fails).

use dockerfile::{Command, Heredoc};
use engine::StdStream;
use engine::model::{Config, CreateRequest, HostConfig};

use super::history::{command_argv, run_created_by};
use super::state::StageState;
use super::{Executor, expand};
use crate::backend::Backend;
use crate::cache;
use crate::error::{BuildError, Result};

/// What RUN executes: `RUN <<EOF` runs the body (under its `#!` line when
/// it has one), other heredocs are appended for the shell to read.
pub(super) fn run_argv(command: &Command, heredocs: &[Heredoc], shell: &[String]) -> Vec<String> {
    match (command, heredocs.first()) {
        (Command::Shell(s), Some(h))
            if s.split_whitespace().count() == 1 && s.trim_start().starts_with("<<") =>
        {
            if let Some(rest) = h.content.strip_prefix("#!") {
                let interp: Vec<String> = rest
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
        _ => command_argv(command, shell),
    }
}

/// `RUN --network` over the build's `--network`; "default" is no choice.
fn network_mode(step: Option<&str>, build: Option<&str>) -> String {
    step.filter(|n| !n.is_empty() && *n != "default")
        .or(build)
        .filter(|n| !n.is_empty() && *n != "default")
        .unwrap_or_default()
        .to_string()
}

impl<B: Backend> Executor<B> {
    pub(super) async fn run_step(
        &mut self,
        st: &mut StageState,
        command: &Command,
        heredocs: &[Heredoc],
        network: Option<&str>,
        mounts: &[String],
    ) -> Result<()> {
        let argv = run_argv(command, heredocs, &st.shell());
        let arg_env = st.arg_env();
        let created_by = run_created_by(&argv, &arg_env);
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
        let opts = &self.build.opts;
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
                network_mode: network_mode(network, opts.network_mode.as_deref()),
                binds: (!binds.is_empty()).then_some(binds),
                extra_hosts: (!opts.extra_hosts.is_empty()).then(|| opts.extra_hosts.clone()),
                ..Default::default()
            },
            networking_config: None,
        };
        let cid = self.backend.create_container(req).await?;
        let result = self.run_container(&cid, &argv).await;
        drop(guards);
        if let Err(e) = result {
            // berth leaves no dangling containers: a failed step's goes too,
            // unless the client asked to keep intermediate containers
            // (`rm=false` without `forcerm`), where dockerd keeps it as well.
            if self.build.opts.rm || self.build.opts.force_rm {
                self.remove_container(&cid).await;
            }
            return Err(e);
        }
        let recorded = self
            .record(st, &key, created_by, None, Some(cid.clone()))
            .await;
        let id = match recorded {
            Ok(id) => id,
            Err(e) => {
                self.remove_container(&cid).await;
                return Err(e);
            }
        };
        if self.build.opts.rm || self.build.opts.force_rm {
            self.out
                .line(format!(
                    "Removing intermediate container {}\n",
                    image::short_id(&cid)
                ))
                .await?;
            self.remove_container(&cid).await;
        }
        self.out
            .line(format!(" ---> {}\n", image::short_id(&id)))
            .await
    }

    async fn remove_container(&self, cid: &str) {
        if let Err(e) = self.backend.remove_container(cid).await {
            tracing::warn!(container = %cid, "removing build container: {e}");
        }
    }

    /// Starts the step container, streams its output (stderr in red, as
    /// Docker) and fails with Docker's message on a non-zero exit; kills
    /// it when the client goes away.
    async fn run_container(&self, cid: &str, argv: &[String]) -> Result<()> {
        self.out
            .line(format!(" ---> Running in {}\n", image::short_id(cid)))
            .await?;
        let mut rx = self.backend.start_attached(cid).await?;
        loop {
            let chunk = tokio::select! {
                chunk = rx.recv() => chunk,
                _ = self.out.tx.closed() => {
                    self.backend.kill(cid).await;
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
        let code = self.backend.wait(cid).await?;
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heredoc(name: &str, content: &str) -> Heredoc {
        Heredoc {
            name: name.into(),
            content: content.into(),
            expand: true,
            chomp: false,
        }
    }

    fn sh() -> Vec<String> {
        vec!["/bin/sh".into(), "-c".into()]
    }

    #[test]
    fn heredoc_body_is_the_script() {
        let argv = run_argv(
            &Command::Shell("<<EOF".into()),
            &[heredoc("EOF", "echo a\necho b\n")],
            &sh(),
        );
        assert_eq!(argv, vec!["/bin/sh", "-c", "echo a\necho b\n"]);
        let argv = run_argv(
            &Command::Shell("<<EOF".into()),
            &[heredoc("EOF", "#!/usr/bin/env python3\nprint(1)\n")],
            &sh(),
        );
        assert_eq!(
            argv,
            vec![
                "/usr/bin/env",
                "python3",
                "-c",
                "#!/usr/bin/env python3\nprint(1)\n"
            ]
        );
    }

    #[test]
    fn other_heredocs_are_read_by_the_shell() {
        let argv = run_argv(
            &Command::Shell("cat <<EOF > /f".into()),
            &[heredoc("EOF", "hi\n")],
            &sh(),
        );
        assert_eq!(argv, vec!["/bin/sh", "-c", "cat <<EOF > /f\nhi\nEOF\n"]);
        let argv = run_argv(&Command::Exec(vec!["true".into()]), &[], &sh());
        assert_eq!(argv, vec!["true"]);
    }

    #[test]
    fn step_network_beats_build_network() {
        assert_eq!(network_mode(Some("none"), Some("host")), "none");
        assert_eq!(network_mode(Some("default"), Some("host")), "host");
        assert_eq!(network_mode(None, Some("default")), "");
        assert_eq!(network_mode(Some(""), None), "");
    }
}
