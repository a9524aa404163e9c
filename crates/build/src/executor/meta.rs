//! Metadata instructions (ENV, LABEL, ARG, EXPOSE, VOLUME, USER, WORKDIR,
//! STOPSIGNAL, SHELL, CMD, ENTRYPOINT, HEALTHCHECK, ONBUILD, MAINTAINER):
//! each is a config change recorded as an image without a layer.

use dockerfile::{Env, Instruction, expand_words};
use image::HealthConfig;

use super::history::{command_argv, go_plain, go_quoted, json_list};
use super::state::StageState;
use super::{Executor, expand};
use crate::backend::Backend;
use crate::error::{BuildError, Result};

impl<B: Backend> Executor<B> {
    pub(super) async fn meta_step(
        &mut self,
        st: &mut StageState,
        inst: &Instruction,
        original: &str,
        meta: &Env,
    ) -> Result<()> {
        let esc = self.build.escape;
        let env = st.scope();
        match inst {
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
                            None => meta.get(k).map(String::from),
                        },
                    };
                    if self.build.opts.build_args.contains_key(k) {
                        self.consumed.lock().insert(k.clone());
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
                for p in expand_words(text, &env, esc).map_err(BuildError::from)? {
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
                        list.extend(expand_words(p, &env, esc).map_err(BuildError::from)?);
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
                self.commit_meta_by(st, format!(" MAINTAINER {m}"), Some(m.clone()))
                    .await
            }
            Instruction::From { .. }
            | Instruction::Run { .. }
            | Instruction::Copy(_)
            | Instruction::Add(_) => Err(BuildError::new(format!(
                "not a metadata instruction: {original}"
            ))),
        }
    }
}

/// `80`, `80/udp`, `8000-8002` → Docker's `port/proto` keys.
pub(super) fn expand_port(p: &str) -> Result<Vec<String>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_expand_as_docker() {
        assert_eq!(expand_port("80").unwrap(), vec!["80/tcp"]);
        assert_eq!(expand_port("53/UDP").unwrap(), vec!["53/udp"]);
        assert_eq!(
            expand_port("8000-8002").unwrap(),
            vec!["8000/tcp", "8001/tcp", "8002/tcp"]
        );
        assert_eq!(
            expand_port("9-8").unwrap_err().message,
            "Invalid containerPort: 9-8"
        );
        assert_eq!(
            expand_port("x/tcp").unwrap_err().message,
            "Invalid containerPort: x"
        );
    }
}
