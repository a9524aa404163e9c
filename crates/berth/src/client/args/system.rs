//! Flags of the daemon-wide verbs: events, df and system prune.

use super::{ListFlags, PruneArgs};
use clap::Args;

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Show all events created since timestamp
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    pub until: Option<String>,
    #[command(flatten)]
    pub list: ListFlags,
}

#[derive(Args, Debug)]
pub struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// Format output using a custom template
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Args, Debug)]
#[command(mut_arg("filter", |a| a.help(r#"Provide filter values (e.g. "label=<key>=<value>")"#)))]
pub struct SystemPruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    pub volumes: bool,
    #[command(flatten)]
    pub prune: PruneArgs,
}

/// `berth audit`.
#[derive(Args, Debug)]
pub struct AuditArgs {
    /// Output: table or json
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Exit with this status when an item warns (default 0)
    #[arg(long, default_value_t = 0)]
    pub exit_code: i32,
}
