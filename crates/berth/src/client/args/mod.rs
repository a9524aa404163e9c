//! The flags of every verb, one struct per verb, filed by the objects they act
//! on. Flag sets that several verbs share live here and are flattened into
//! them, so a flag's spelling and help are declared once.

mod apps;
mod container;
mod image;
mod network;
mod router;
mod run;
mod scan;
mod system;
mod volume;

pub use apps::*;
pub use container::*;
pub use image::*;
pub use network::*;
pub use router::*;
pub use run::*;
pub use scan::*;
pub use system::*;
pub use volume::*;

use clap::Args;

/// Resource limits `run`/`create` set and `update` changes on a live
/// container: one declaration, so the two verbs cannot drift apart.
#[derive(Args, Debug, Clone, Default)]
pub struct Resources {
    /// Memory limit
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<f64>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
}

/// The process a container or exec runs: its environment, directory and user.
#[derive(Args, Debug, Clone, Default)]
pub struct ProcessFlags {
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
}

/// `-f/--filter` and `--format` of the listing verbs (ps, images, events,
/// volume ls, network ls). Verbs whose docker help gives a filter example
/// override the help text with `mut_arg`.
#[derive(Args, Debug, Default)]
pub struct ListFlags {
    /// Filter output based on conditions provided
    #[arg(short = 'f', long)]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
}

/// `container prune` and `network prune`, and the part of every other prune
/// verb that asks before deleting and narrows what goes.
#[derive(Args, Debug, Default)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long)]
    pub filter: Vec<String>,
}

/// `-f/--format` alone: version and info.
#[derive(Args, Debug, Default)]
pub struct FormatOnly {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}

/// `volume inspect`, `network inspect` and the core of `inspect`.
#[derive(Args, Debug)]
pub struct InspectNames {
    /// Format output using a custom template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// Verbs that take nothing but one or more containers (pause, unpause, wait).
#[derive(Args, Debug)]
pub struct Containers {
    #[arg(required = true)]
    pub containers: Vec<String>,
}
