//! The production runtime: one `berth shim` per container and `berth
//! shim-exec` per exec, exactly as `runtime::shim` and `runtime::exec` run them.

use std::path::Path;
use std::sync::Arc;

use runtime::config::ContainerConfig;
use runtime::exec::{ExecConfig, ExecLaunch};
use runtime::shim::{Attached, ExitStatus, ShimClient, ShimInfo, ShimLaunch};
use runtime::{Limits, Stats};

use super::{BoxFuture, ContainerRuntime, ExecProcess, Resizer, RtResult, Task};

pub(crate) struct ShimRuntime;

impl ContainerRuntime for ShimRuntime {
    fn create<'a>(
        &'a self,
        launch: &'a ShimLaunch,
        config: &'a ContainerConfig,
    ) -> BoxFuture<'a, RtResult<ShimInfo>> {
        Box::pin(runtime::shim::create(launch, config))
    }

    fn connect<'a>(&'a self, state_dir: &'a Path) -> BoxFuture<'a, RtResult<Arc<dyn Task>>> {
        Box::pin(async move {
            let client = ShimClient::connect(state_dir).await?;
            Ok(Arc::new(client) as Arc<dyn Task>)
        })
    }

    fn exit_record(&self, state_dir: &Path) -> Option<ExitStatus> {
        runtime::shim::read_exit_status(state_dir)
    }

    fn exec<'a>(
        &'a self,
        launch: &'a ExecLaunch,
        config: &'a ExecConfig,
        console_size: Option<(u16, u16)>,
    ) -> BoxFuture<'a, RtResult<ExecProcess>> {
        Box::pin(async move {
            let p = runtime::exec::spawn_with_console_size(launch, config, console_size).await?;
            let mut waiter = p.waiter;
            let resizer = p
                .resizer
                .map(|r| -> Resizer { Arc::new(move |h, w| r.resize(h, w)) });
            Ok(ExecProcess {
                pid: p.pid,
                stdin: p.stdin.map(|s| Box::new(s) as super::ExecStdin),
                stdout: Box::new(p.stdout),
                stderr: Box::new(p.stderr),
                exit: Box::pin(async move { waiter.wait().await }),
                resizer,
            })
        })
    }

    fn signal_exec(&self, pid: u32, signal: i32) {
        let Ok(sig) = nix::sys::signal::Signal::try_from(signal) else {
            return;
        };
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), sig);
    }
}

impl Task for ShimClient {
    fn attach(&self, stdin: bool) -> BoxFuture<'_, RtResult<Attached>> {
        Box::pin(ShimClient::attach(self, stdin))
    }
    fn start(&self) -> BoxFuture<'_, RtResult<()>> {
        Box::pin(ShimClient::start(self))
    }
    fn kill(&self, signal: i32) -> BoxFuture<'_, RtResult<()>> {
        Box::pin(ShimClient::kill(self, signal))
    }
    fn wait(&self) -> BoxFuture<'_, RtResult<ExitStatus>> {
        Box::pin(ShimClient::wait(self))
    }
    fn resize(&self, height: u16, width: u16) -> BoxFuture<'_, RtResult<()>> {
        Box::pin(ShimClient::resize(self, height, width))
    }
    fn pause(&self) -> BoxFuture<'_, RtResult<()>> {
        Box::pin(ShimClient::pause(self))
    }
    fn resume(&self) -> BoxFuture<'_, RtResult<()>> {
        Box::pin(ShimClient::resume(self))
    }
    fn update<'a>(&'a self, limits: &'a Limits) -> BoxFuture<'a, RtResult<()>> {
        Box::pin(ShimClient::update(self, limits))
    }
    fn stats(&self) -> BoxFuture<'_, RtResult<Stats>> {
        Box::pin(ShimClient::stats(self))
    }
    fn pids(&self) -> BoxFuture<'_, RtResult<Vec<u32>>> {
        Box::pin(ShimClient::pids(self))
    }
}
