//! `berth app …` and the apps' git hook (`berth app-receive`).

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum AppCmd {
    /// Create an app: a git repository to push to and its domains
    Create {
        name: String,
        /// A host name routed to the app's web processes (repeatable; default NAME.localhost)
        #[arg(long = "domain")]
        domains: Vec<String>,
    },
    /// List the apps
    #[command(alias = "list")]
    Ls,
    /// Show an app's git remote, domains, release and processes
    Info { name: String },
    /// Remove an app, its containers and its repository
    #[command(alias = "remove")]
    Rm { name: String },
}
