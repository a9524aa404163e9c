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
    /// List the app's releases: image, rev, when, and what made each (a push, a config change, a rollback…)
    Releases { name: String },
    /// Run a previous release's image and config again as a new release, without a rebuild (default: the one before the current)
    Rollback {
        name: String,
        /// The release: 3 or v3
        release: Option<String>,
    },
    /// Replace the app's containers with new ones of the current release
    Restart { name: String },
    /// Show the app's environment
    Config { name: String },
    /// Set environment variables (KEY=VALUE ...) and restart with them
    #[command(name = "config:set")]
    ConfigSet {
        name: String,
        #[arg(required = true)]
        pairs: Vec<String>,
    },
    /// Unset environment variables and restart without them
    #[command(name = "config:unset")]
    ConfigUnset {
        name: String,
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// Route more host names to the app
    #[command(name = "domains:add")]
    DomainsAdd {
        name: String,
        #[arg(required = true)]
        domains: Vec<String>,
    },
    /// Stop routing host names to the app
    #[command(name = "domains:remove")]
    DomainsRemove {
        name: String,
        #[arg(required = true)]
        domains: Vec<String>,
    },
    /// Set containers per process type (web=3 worker=1) and restart with them
    #[command(name = "ps:scale")]
    PsScale {
        name: String,
        #[arg(required = true)]
        scale: Vec<String>,
    },
    /// Set the registry an app's image is pushed to for the nodes of a
    /// swarm to pull (HOST[:PORT][/PATH]; "" unsets it), and the account
    /// its pushes and pulls use there
    #[command(name = "registry:set")]
    RegistrySet {
        name: String,
        registry: String,
        /// Log in to the registry as USER (checked at once, as docker login)
        #[arg(short = 'u', long, requires = "password_stdin")]
        username: Option<String>,
        /// Take the password from stdin
        #[arg(long, requires = "username")]
        password_stdin: bool,
    },
    /// Show the logs of the current release's containers
    Logs {
        name: String,
        /// Follow every container's output
        #[arg(short = 'f', long)]
        follow: bool,
    },
}
