//! The command tree: docker's global flags, its top-level verbs and its
//! management commands, and where each command goes.
//!
//! A verb that docker accepts both at the top level and under a management
//! command (`berth run`, `berth container run`) is declared once, in
//! [`groups`], and flattened into both places. Only the verbs whose two forms
//! differ (`ps` / `container ls`, `rmi` / `image rm`, `inspect`, which the
//! groups narrow to one object type) are listed in each.

mod groups;

use super::args::*;
use super::connect::Client;
use super::{CmdResult, apps, audit, containers, images, networks, router, scan, system, volumes};
use clap::{Parser, Subcommand};
use groups::{ContainerCmd, ContainerVerb, ImageCmd, ImageVerb, SystemCmd, SystemVerb};

#[derive(Parser, Debug)]
#[command(
    name = "berth",
    about = "A self-sufficient runtime for containers",
    disable_version_flag = true,
    subcommand_required = false
)]
pub struct Cli {
    /// Daemon socket to connect to: unix://PATH, tcp://HOST:PORT, ssh://[USER@]HOST
    #[arg(short = 'H', long = "host")]
    pub host: Option<String>,
    /// Name of the context to use (docker's context store; overrides DOCKER_HOST)
    #[arg(short = 'c', long)]
    pub context: Option<String>,
    /// Use TLS; implied by --tlsverify
    #[arg(long)]
    pub tls: bool,
    /// Use TLS and verify the daemon's certificate (also $DOCKER_TLS_VERIFY)
    #[arg(long)]
    pub tlsverify: bool,
    /// Trust certs signed only by this CA (default: $DOCKER_CERT_PATH/ca.pem)
    #[arg(long, value_name = "FILE")]
    pub tlscacert: Option<std::path::PathBuf>,
    /// Path to TLS certificate file (default: $DOCKER_CERT_PATH/cert.pem)
    #[arg(long, value_name = "FILE")]
    pub tlscert: Option<std::path::PathBuf>,
    /// Path to TLS key file (default: $DOCKER_CERT_PATH/key.pem)
    #[arg(long, value_name = "FILE")]
    pub tlskey: Option<std::path::PathBuf>,
    /// Enable debug mode
    #[arg(short = 'D', long)]
    pub debug: bool,
    /// Set the logging level (accepted for docker compatibility)
    #[arg(short = 'l', long = "log-level")]
    pub log_level: Option<String>,
    /// Location of client config files (accepted for docker compatibility)
    #[arg(long)]
    pub config: Option<String>,
    /// Print version information and quit
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    #[command(flatten)]
    ContainerVerb(ContainerVerb),
    /// Remove one or more containers
    Rm(RmArgs),
    /// List containers
    Ps(PsArgs),
    /// Return low-level information on Docker objects
    Inspect(InspectArgs),
    #[command(flatten)]
    ImageVerb(ImageVerb),
    /// List images
    Images(ImagesArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
    #[command(flatten)]
    SystemVerb(SystemVerb),
    /// Show the version information
    Version(FormatOnly),
    /// Manage volumes
    #[command(subcommand)]
    Volume(VolumeCmd),
    /// Manage networks
    #[command(subcommand)]
    Network(NetworkCmd),
    /// Manage containers
    #[command(subcommand)]
    Container(ContainerCmd),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCmd),
    /// Manage the daemon
    #[command(subcommand)]
    System(SystemCmd),
    /// Check the daemon and running containers against the CIS Docker Benchmark
    Audit(AuditArgs),
    /// Scan an image for known vulnerabilities (OSV database)
    Scan(ScanArgs),
    /// The HTTP router (routes from containers' berth.http.* labels)
    #[command(subcommand)]
    Router(RouterCmd),
    /// Apps: git push builds and deploys them behind the router
    #[command(subcommand)]
    App(AppCmd),
    /// An app's git pre-receive hook (reads the pushed refs on stdin)
    #[command(name = "app-receive", hide = true)]
    AppReceive { name: String },
}

impl Cmd {
    pub fn is_dial_stdio(&self) -> bool {
        matches!(self, Cmd::System(SystemCmd::DialStdio))
    }

    pub async fn run(self, client: &Client) -> CmdResult {
        match self {
            Cmd::ContainerVerb(v) => v.run(client).await,
            Cmd::Rm(a) => containers::rm(client, a).await,
            Cmd::Ps(a) => containers::ps(client, a).await,
            Cmd::Inspect(a) => containers::inspect(client, a).await,
            Cmd::ImageVerb(v) => v.run(client).await,
            Cmd::Images(a) => images::images(client, a).await,
            Cmd::Rmi(a) => images::rmi(client, a).await,
            Cmd::SystemVerb(v) => v.run(client).await,
            Cmd::Version(a) => system::version(client, a).await,
            Cmd::Volume(c) => volumes::volume(client, c).await,
            Cmd::Network(c) => networks::network(client, c).await,
            Cmd::Container(c) => c.run(client).await,
            Cmd::Image(c) => c.run(client).await,
            Cmd::System(c) => c.run(client).await,
            Cmd::Audit(a) => audit::audit(client, a).await,
            Cmd::Scan(a) => scan::scan(client, a).await,
            Cmd::Router(c) => router::router(client, c).await,
            Cmd::App(c) => apps::app(client, c).await,
            Cmd::AppReceive { name } => apps::receive(client, &name).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Cmd {
        let mut argv = vec!["berth"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv) {
            Ok(cli) => cli.cmd.expect("a command"),
            Err(e) => panic!("{args:?}: {e}"),
        }
    }

    #[test]
    fn scan_takes_an_image_or_the_db_subcommands() {
        match parse(&[
            "scan",
            "--severity",
            "HIGH,CRITICAL",
            "--exit-code",
            "2",
            "db:1",
        ]) {
            Cmd::Scan(a) => {
                assert_eq!(a.image.as_deref(), Some("db:1"));
                assert_eq!(a.severity.as_deref(), Some("HIGH,CRITICAL"));
                assert_eq!(a.exit_code, 2);
                assert!(a.cmd.is_none());
            }
            other => panic!("{other:?}"),
        }
        match parse(&["scan", "db", "import", "/srv/osv"]) {
            Cmd::Scan(ScanArgs {
                cmd: Some(ScanCmd::Db(ScanDbCmd::Import { path })),
                ..
            }) => assert_eq!(path, std::path::Path::new("/srv/osv")),
            other => panic!("{other:?}"),
        }
        let mut argv = vec!["berth", "scan"];
        assert!(
            Cli::try_parse_from(argv.drain(..)).is_err(),
            "an image is required"
        );
    }

    #[test]
    fn tree_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn both_forms_of_a_verb_parse_alike() {
        for args in [
            &["run", "-d", "-m", "64m", "img", "sh"][..],
            &["container", "run", "-d", "-m", "64m", "img", "sh"],
        ] {
            let (Cmd::ContainerVerb(ContainerVerb::Run(a))
            | Cmd::Container(ContainerCmd::Verb(ContainerVerb::Run(a)))) = parse(args)
            else {
                panic!("{args:?} is not run");
            };
            assert!(a.detach);
            assert_eq!(a.resources.memory.as_deref(), Some("64m"));
            assert_eq!(a.args, ["img", "sh"]);
        }
        assert!(matches!(
            parse(&["container", "list"]),
            Cmd::Container(ContainerCmd::Ls(_))
        ));
        assert!(matches!(
            parse(&["image", "remove", "x"]),
            Cmd::Image(ImageCmd::Rm(_))
        ));
        assert!(matches!(
            parse(&["system", "events"]),
            Cmd::System(SystemCmd::Verb(SystemVerb::Events(_)))
        ));
    }

    #[test]
    fn group_only_spellings_stay_in_their_group() {
        for args in [
            &["ls"][..],
            &["list"],
            &["remove", "x"],
            &["df"],
            &["prune"],
        ] {
            let mut argv = vec!["berth"];
            argv.extend_from_slice(args);
            assert!(Cli::try_parse_from(argv).is_err(), "{args:?} parsed");
        }
        assert!(Cli::try_parse_from(["berth", "system", "version"]).is_err());
    }

    #[test]
    fn update_shares_the_resource_flags_of_run() {
        let Cmd::ContainerVerb(ContainerVerb::Update(a)) =
            parse(&["update", "--cpus", "1.5", "--pids-limit", "-1", "c1"])
        else {
            panic!("not update");
        };
        assert_eq!(a.resources.cpus, Some(1.5));
        assert_eq!(a.resources.pids_limit, Some(-1));
        assert_eq!(a.containers, ["c1"]);
    }

    #[test]
    fn filter_help_keeps_each_verbs_example() {
        let mut cmd = Cli::command();
        let help = |cmd: &mut clap::Command, path: &[&str]| {
            let mut c = cmd.clone();
            for p in path {
                c = c.find_subcommand(p).expect("subcommand").clone();
            }
            c.render_help().to_string()
        };
        assert!(help(&mut cmd, &["volume", "ls"]).contains(r#"(e.g. "dangling=true")"#));
        assert!(help(&mut cmd, &["volume", "prune"]).contains(r#"(e.g. "label=<label>")"#));
        assert!(help(&mut cmd, &["system", "prune"]).contains(r#"(e.g. "label=<key>=<value>")"#));
        assert!(help(&mut cmd, &["ps"]).contains("Filter output based on conditions provided"));
    }
}
