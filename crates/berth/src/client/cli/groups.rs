//! The management commands (`container`, `image`, `system`) and the verbs
//! they share with the top level, each declared once.

use super::super::args::*;
use super::super::connect::Client;
use super::super::{CmdResult, archive, build, containers, images, system};
use clap::Subcommand;

/// Container verbs spelled the same at the top level and under `container`.
#[derive(Subcommand, Debug)]
pub enum ContainerVerb {
    /// Create and run a new container from an image
    // Boxed: docker's long flag list would make every command as large.
    #[command(override_usage = "berth run [OPTIONS] IMAGE [COMMAND] [ARG...]")]
    Run(Box<RunArgs>),
    /// Create a new container
    #[command(override_usage = "berth create [OPTIONS] IMAGE [COMMAND] [ARG...]")]
    Create(Box<RunArgs>),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Execute a command in a running container
    #[command(override_usage = "berth exec [OPTIONS] CONTAINER COMMAND [ARG...]")]
    Exec(ExecArgs),
    /// Block until containers stop, then print their exit codes
    Wait(Containers),
    /// Pause all processes within one or more containers
    Pause(Containers),
    /// Unpause all processes within one or more containers
    Unpause(Containers),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(DiffArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
}

impl ContainerVerb {
    pub async fn run(self, client: &Client) -> CmdResult {
        match self {
            ContainerVerb::Run(a) => containers::run(client, *a).await,
            ContainerVerb::Create(a) => containers::create_cmd(client, *a).await,
            ContainerVerb::Start(a) => containers::start(client, a).await,
            ContainerVerb::Stop(a) => containers::stop(client, a, false).await,
            ContainerVerb::Kill(a) => containers::kill(client, a).await,
            ContainerVerb::Restart(a) => containers::stop(client, a, true).await,
            ContainerVerb::Logs(a) => containers::logs(client, a).await,
            ContainerVerb::Exec(a) => containers::exec(client, a).await,
            ContainerVerb::Wait(a) => containers::wait(client, a).await,
            ContainerVerb::Pause(a) => containers::pause(client, a, "pause").await,
            ContainerVerb::Unpause(a) => containers::pause(client, a, "unpause").await,
            ContainerVerb::Update(a) => containers::update(client, a).await,
            ContainerVerb::Rename(a) => containers::rename(client, a).await,
            ContainerVerb::Attach(a) => containers::attach(client, a).await,
            ContainerVerb::Top(a) => containers::top(client, a).await,
            ContainerVerb::Stats(a) => containers::stats(client, a).await,
            ContainerVerb::Port(a) => containers::port(client, a).await,
            ContainerVerb::Cp(a) => archive::cp(client, a).await,
            ContainerVerb::Diff(a) => containers::diff(client, a).await,
            ContainerVerb::Commit(a) => images::commit(client, a).await,
            ContainerVerb::Export(a) => archive::export(client, a).await,
        }
    }
}

/// `berth container ...`.
#[derive(Subcommand, Debug)]
pub enum ContainerCmd {
    #[command(flatten)]
    Verb(ContainerVerb),
    /// Remove one or more containers
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// List containers
    #[command(aliases = ["list", "ps"])]
    Ls(PsArgs),
    /// Display detailed information on one or more containers
    Inspect(InspectArgs),
    /// Remove all stopped containers
    Prune(PruneArgs),
}

impl ContainerCmd {
    pub async fn run(self, client: &Client) -> CmdResult {
        match self {
            ContainerCmd::Verb(v) => v.run(client).await,
            ContainerCmd::Rm(a) => containers::rm(client, a).await,
            ContainerCmd::Ls(a) => containers::ps(client, a).await,
            ContainerCmd::Inspect(a) => containers::inspect(client, of_kind(a, "container")).await,
            ContainerCmd::Prune(a) => containers::prune(client, a).await,
        }
    }
}

/// Image verbs spelled the same at the top level and under `image`.
#[derive(Subcommand, Debug)]
pub enum ImageVerb {
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Build an image from a Dockerfile
    Build(BuildArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
}

impl ImageVerb {
    pub async fn run(self, client: &Client) -> CmdResult {
        match self {
            ImageVerb::Tag(a) => images::tag(client, a).await,
            ImageVerb::Import(a) => images::import(client, a).await,
            ImageVerb::Pull(a) => images::pull(client, &a.image, a.quiet).await,
            ImageVerb::Build(a) => build::build(client, a).await,
            ImageVerb::History(a) => images::history(client, a).await,
            ImageVerb::Save(a) => archive::save(client, a).await,
            ImageVerb::Load(a) => archive::load(client, a).await,
        }
    }
}

/// `berth image ...`.
#[derive(Subcommand, Debug)]
pub enum ImageCmd {
    #[command(flatten)]
    Verb(ImageVerb),
    /// List images
    #[command(alias = "list")]
    Ls(ImagesArgs),
    /// Display detailed information on one or more images
    Inspect(InspectArgs),
    /// Remove one or more images
    #[command(alias = "remove")]
    Rm(RmiArgs),
    /// Remove unused images
    Prune(ImagePruneArgs),
}

impl ImageCmd {
    pub async fn run(self, client: &Client) -> CmdResult {
        match self {
            ImageCmd::Verb(v) => v.run(client).await,
            ImageCmd::Ls(a) => images::images(client, a).await,
            ImageCmd::Inspect(a) => containers::inspect(client, of_kind(a, "image")).await,
            ImageCmd::Rm(a) => images::rmi(client, a).await,
            ImageCmd::Prune(a) => images::prune(client, a).await,
        }
    }
}

/// Daemon-wide verbs spelled the same at the top level and under `system`.
#[derive(Subcommand, Debug)]
pub enum SystemVerb {
    /// Get real time events from the server
    Events(EventsArgs),
    /// Display system-wide information
    Info(FormatOnly),
}

impl SystemVerb {
    pub async fn run(self, client: &Client) -> CmdResult {
        match self {
            SystemVerb::Events(a) => system::events(client, a).await,
            SystemVerb::Info(a) => system::info(client, a).await,
        }
    }
}

/// `berth system ...`.
#[derive(Subcommand, Debug)]
pub enum SystemCmd {
    #[command(flatten)]
    Verb(SystemVerb),
    /// Show docker disk usage
    Df(DfArgs),
    /// Remove unused data
    Prune(SystemPruneArgs),
    /// Proxy the stdio stream to the daemon connection (what `-H ssh://` runs remotely)
    #[command(name = "dial-stdio")]
    DialStdio,
}

impl SystemCmd {
    pub async fn run(self, client: &Client) -> CmdResult {
        match self {
            SystemCmd::Verb(v) => v.run(client).await,
            SystemCmd::Df(a) => system::df(client, a).await,
            SystemCmd::Prune(a) => system::prune(client, a).await,
            SystemCmd::DialStdio => system::dial_stdio(client).await,
        }
    }
}

/// `container inspect` and `image inspect` are `inspect` narrowed to their
/// object type, unless `--type` says otherwise.
fn of_kind(mut a: InspectArgs, kind: &str) -> InspectArgs {
    a.kind.get_or_insert_with(|| kind.into());
    a
}
