//! The libcontainer workload executor we use for init and exec processes:
//! libcontainer's own exec, preceded by our args[0] check so that a missing
//! binary fails at create time with runc's message instead of libcontainer's.

use std::path::Path;

use libcontainer::oci_spec::runtime::Spec;
use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};

#[derive(Clone)]
pub(crate) struct DockerExecutor;

impl Executor for DockerExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        DefaultExecutor {}.exec(spec)
    }

    /// Runs inside the container, after pivot_root: "/" is the container's
    /// root with all its mounts, so volumes are seen as the process will see them.
    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        let process = spec
            .process()
            .as_ref()
            .ok_or_else(|| ExecutorValidationError::ArgValidationError("no process".into()))?;
        let args = process.args().as_deref().unwrap_or_default();
        let Some(args0) = args.first() else {
            return Err(ExecutorValidationError::ArgValidationError(
                "no command specified".into(),
            ));
        };
        let env = process.env().as_deref().unwrap_or_default();
        crate::exe::check_executable(Path::new("/"), args0, env)
            .map_err(|e| ExecutorValidationError::ArgValidationError(e.to_string()))
    }
}
