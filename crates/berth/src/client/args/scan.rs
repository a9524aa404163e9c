//! `berth scan IMAGE` and `berth scan db …`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// `berth scan`: an image's known vulnerabilities, or the database's upkeep.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ScanArgs {
    #[command(subcommand)]
    pub cmd: Option<ScanCmd>,
    /// Image to scan (name, reference or id)
    #[arg(required = true)]
    pub image: Option<String>,
    /// Output: table, json or sarif
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Severities to report, comma-separated (UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL)
    #[arg(long)]
    pub severity: Option<String>,
    /// Leave out vulnerabilities that have no fix yet
    #[arg(long)]
    pub ignore_unfixed: bool,
    /// Exit with this status when a vulnerability is reported (default 0)
    #[arg(long, default_value_t = 0)]
    pub exit_code: i32,
}

#[derive(Subcommand, Debug)]
pub enum ScanCmd {
    /// Manage the vulnerability database
    #[command(subcommand)]
    Db(ScanDbCmd),
}

#[derive(Subcommand, Debug)]
pub enum ScanDbCmd {
    /// Import OSV records: a directory of .json files, a .zip (osv.dev's all.zip), a .tar or one .json
    Import { path: PathBuf },
    /// Show the database's generation, import date and record counts
    Status,
}
