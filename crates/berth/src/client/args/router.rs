//! `berth router …`.

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum RouterCmd {
    /// List the HTTP router's routes, their backends, and refused labels
    #[command(alias = "list")]
    Ls {
        /// Output: table or json
        #[arg(long, default_value = "table")]
        format: String,
    },
}
