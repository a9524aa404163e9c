//! The state a stage carries from step to step: its image so far, the
//! config being built, the ARGs in scope.

use std::path::PathBuf;

use dockerfile::Env;
use image::ContainerConfigSpec;

/// A stage being built.
#[derive(Default)]
pub(super) struct StageState {
    pub(super) image: Option<String>,
    pub(super) config: ContainerConfigSpec,
    /// ARGs in scope, with their values.
    pub(super) args: Vec<(String, String)>,
    /// CMD was set in this stage (ENTRYPOINT then keeps it).
    pub(super) cmd_set: bool,
}

impl StageState {
    /// What `$VAR` sees: ARGs, then ENV over them.
    pub(super) fn scope(&self) -> Env {
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

    pub(super) fn workdir(&self) -> PathBuf {
        if self.config.working_dir.is_empty() {
            PathBuf::from("/")
        } else {
            PathBuf::from(&self.config.working_dir)
        }
    }

    pub(super) fn shell(&self) -> Vec<String> {
        self.config
            .shell
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }

    /// `KEY=value` of the ARGs that ENV does not shadow (passed to RUN).
    pub(super) fn arg_env(&self) -> Vec<String> {
        let env = self.config.env.clone().unwrap_or_default();
        self.args
            .iter()
            .filter(|(k, _)| !env.iter().any(|e| e.split('=').next() == Some(k.as_str())))
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_shadows_args_in_scope_and_in_run_env() {
        let mut st = StageState {
            args: vec![("A".into(), "arg".into()), ("B".into(), "b".into())],
            ..Default::default()
        };
        st.config.env = Some(vec!["A=env".into()]);
        let scope = st.scope();
        assert_eq!(scope.get("A"), Some("env"));
        assert_eq!(scope.get("B"), Some("b"));
        assert_eq!(st.arg_env(), vec!["B=b"]);
    }

    #[test]
    fn defaults_for_workdir_and_shell() {
        let mut st = StageState::default();
        assert_eq!(st.workdir(), PathBuf::from("/"));
        assert_eq!(st.shell(), vec!["/bin/sh", "-c"]);
        st.config.shell = Some(Vec::new());
        assert_eq!(st.shell(), vec!["/bin/sh", "-c"]);
        st.config.working_dir = "/app".into();
        assert_eq!(st.workdir(), PathBuf::from("/app"));
    }
}
