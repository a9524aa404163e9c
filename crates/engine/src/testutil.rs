//! Shared set-up for unit tests that run containers on the fake runtime.

use std::path::PathBuf;
use std::sync::Arc;

use runtime::exec::{ExecConfig, ExecLaunch};
use runtime::shim::ShimLaunch;

use crate::rt::fake::FakeRuntime;
use crate::rt::{ContainerRuntime, Task};

pub(crate) fn launch(state_dir: PathBuf) -> ShimLaunch {
    ShimLaunch {
        exe: "/fake/berth".into(),
        args_prefix: vec!["shim".into()],
        monitor: None,
        runtime_cli: None,
        state_dir,
        runtime_root: "/fake/runtime".into(),
        runtime: runtime::RuntimeKind::Builtin,
        log_path: "/dev/null".into(),
        log: runtime::shim::LogSpec::json_file(None),
    }
}

/// A container created on the fake (as the engine does: create, then connect).
pub(crate) async fn created(rt: &Arc<FakeRuntime>, name: &str) -> (Arc<dyn Task>, PathBuf) {
    let dir = PathBuf::from("/fake/containers").join(name);
    let config = runtime::ContainerConfig::default();
    rt.create(&launch(dir.clone()), &config).await.unwrap();
    (rt.connect(&dir).await.unwrap(), dir)
}

pub(crate) fn exec_config(args: &[&str]) -> ExecConfig {
    ExecConfig {
        container_id: "c".into(),
        args: args.iter().map(|a| a.to_string()).collect(),
        env: Vec::new(),
        cwd: None,
        user: None,
        tty: false,
        open_stdin: false,
    }
}

pub(crate) fn exec_launch() -> ExecLaunch {
    ExecLaunch {
        exe: "/fake/berth".into(),
        args_prefix: vec!["shim-exec".into()],
        state_dir: "/fake/containers/c".into(),
    }
}
