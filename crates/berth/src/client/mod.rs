//! The `berth` command-line client: docker's syntax over the Docker Engine API.
//!
//! Typed calls go through a small hyper client (`connect`) rather than a full
//! SDK: inspect and `--format` must see the daemon's JSON exactly as sent
//! (key order, unknown fields), which typed models would drop.

/// `println!` that ends the process quietly when stdout is closed, as a Go
/// program does on SIGPIPE (`berth ps | head`), instead of panicking.
macro_rules! outln {
    () => { $crate::client::write_out("\n") };
    ($($t:tt)*) => { $crate::client::write_out(&format!("{}\n", format_args!($($t)*))) };
}
macro_rules! out {
    ($($t:tt)*) => { $crate::client::write_out(&format!($($t)*)) };
}

mod archive;
mod args;
mod build;
mod cli;
mod connect;
mod containers;
mod format;
mod images;
mod networks;
mod opts;
mod prompt;
mod run_opts;
mod stream;
mod system;
mod volumes;

use clap::Parser;
use cli::{Cli, Cmd};
use connect::Client;

/// Exit status of a failed command, with its message already printed or not.
#[derive(Debug)]
pub struct Failure {
    pub code: i32,
    pub message: Option<String>,
}

impl Failure {
    pub fn new(code: i32, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: Some(message.into()),
        }
    }
}

impl From<connect::ClientError> for Failure {
    fn from(e: connect::ClientError) -> Failure {
        Failure::new(1, e.to_string())
    }
}

pub fn write_out(s: &str) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    if let Err(e) = o.write_all(s.as_bytes()).and_then(|_| o.flush())
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(141);
    }
}

pub type CmdResult = Result<i32, Failure>;

pub fn main(args: Vec<String>) -> i32 {
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            use clap::error::{ContextKind, ErrorKind};
            if e.kind() == ErrorKind::UnknownArgument
                && let Some(arg) = e.get(ContextKind::InvalidArg)
            {
                // docker's wording, so scripts matching it keep working.
                let arg = arg.to_string();
                let what = match arg.strip_prefix('-') {
                    Some(short) if !short.starts_with('-') => format!(
                        "unknown shorthand flag: '{}' in {arg}",
                        short.chars().next().unwrap_or('?')
                    ),
                    _ => format!("unknown flag: {}", arg.split('=').next().unwrap_or(&arg)),
                };
                eprintln!("{}", usage_error(&command_path(&args), &what));
                return 125;
            }
            let _ = e.print();
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => 0,
                // docker reports flag errors with status 125.
                _ => 125,
            };
        }
    };
    if cli.version {
        outln!("berth version {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    let Some(cmd) = cli.cmd else {
        use clap::CommandFactory;
        let _ = Cli::command().print_help();
        return 0;
    };
    let host = connect::resolve_host(cli.host.as_deref());
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth: cannot start runtime: {e}");
            return 1;
        }
    };
    let result = rt.block_on(async move {
        let mut client = Client::new(&host)?;
        // As docker: a failed ping leaves the default version, and the
        // command itself reports the connection error with its own status.
        let _ = client.negotiate().await;
        dispatch(client, cmd.flatten()).await
    });
    let code = match result {
        Ok(code) => code,
        Err(f) => {
            if let Some(m) = f.message {
                eprintln!("{m}");
            }
            f.code
        }
    };
    // Pending stdin readers must not keep the process alive.
    rt.shutdown_background();
    code
}

/// docker's report of a command-line mistake.
pub fn usage_error(path: &str, what: &str) -> String {
    format!(
        "{what}\n\n{}\n\nRun 'berth {path}--help' for more information",
        usage(path)
    )
}

/// docker's "Usage:  berth ps [OPTIONS]" line for a command path.
fn usage(path: &str) -> String {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    for word in path.split_whitespace() {
        let Some(sub) = cmd.find_subcommand(word).cloned() else {
            break;
        };
        cmd = sub.bin_name(format!("berth {}", path.trim()));
    }
    let u = cmd.render_usage().to_string();
    format!("Usage:  {}", u.trim_start_matches("Usage:").trim())
}

/// The verb (and group) a command line names, for usage hints: "ps ",
/// "container ls ", or "" when there is none.
fn command_path(args: &[String]) -> String {
    let mut it = args.iter().skip(1);
    let mut path = String::new();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-H" | "--host" | "-l" | "--log-level" | "--config" => {
                it.next();
            }
            s if s.starts_with('-') => {}
            verb => {
                path.push_str(verb);
                path.push(' ');
                if matches!(verb, "container" | "image" | "system" | "volume")
                    && let Some(sub) = it.next().filter(|s| !s.starts_with('-'))
                {
                    path.push_str(sub);
                    path.push(' ');
                }
                break;
            }
        }
    }
    path
}

async fn dispatch(client: Client, cmd: Cmd) -> CmdResult {
    match cmd {
        Cmd::Run(a) => containers::run(&client, a).await,
        Cmd::Create(a) => containers::create_cmd(&client, a).await,
        Cmd::Start(a) => containers::start(&client, a).await,
        Cmd::Stop(a) => containers::stop(&client, a, false).await,
        Cmd::Restart(a) => containers::stop(&client, a, true).await,
        Cmd::Kill(a) => containers::kill(&client, a).await,
        Cmd::Rm(a) => containers::rm(&client, a).await,
        Cmd::Ps(a) => containers::ps(&client, a).await,
        Cmd::Logs(a) => containers::logs(&client, a).await,
        Cmd::Inspect(a) => containers::inspect(&client, a).await,
        Cmd::Exec(a) => containers::exec(&client, a).await,
        Cmd::Wait(a) => containers::wait(&client, a).await,
        Cmd::Events(a) => system::events(&client, a).await,
        Cmd::Version(a) => system::version(&client, a).await,
        Cmd::Info(a) => system::info(&client, a).await,
        Cmd::Images(a) => images::images(&client, a).await,
        Cmd::Rmi(a) => images::rmi(&client, a).await,
        Cmd::Tag(a) => images::tag(&client, a).await,
        Cmd::Import(a) => images::import(&client, a).await,
        Cmd::Pull(a) => images::pull(&client, &a.image, a.quiet).await,
        Cmd::Pause(a) => containers::pause(&client, a, "pause").await,
        Cmd::Unpause(a) => containers::pause(&client, a, "unpause").await,
        Cmd::Update(a) => containers::update(&client, a).await,
        Cmd::Rename(a) => containers::rename(&client, a).await,
        Cmd::Attach(a) => containers::attach(&client, a).await,
        Cmd::Top(a) => containers::top(&client, a).await,
        Cmd::Stats(a) => containers::stats(&client, a).await,
        Cmd::Port(a) => containers::port(&client, a).await,
        Cmd::Diff(a) => containers::diff(&client, a).await,
        Cmd::ContainerPrune(a) => containers::prune(&client, a).await,
        Cmd::Cp(a) => archive::cp(&client, a).await,
        Cmd::Export(a) => archive::export(&client, a).await,
        Cmd::Save(a) => archive::save(&client, a).await,
        Cmd::Load(a) => archive::load(&client, a).await,
        Cmd::Commit(a) => images::commit(&client, a).await,
        Cmd::History(a) => images::history(&client, a).await,
        Cmd::ImagePrune(a) => images::prune(&client, a).await,
        Cmd::Volume(a) => volumes::volume(&client, a).await,
        Cmd::Network(a) => networks::network(&client, a).await,
        Cmd::SystemDf(a) => system::df(&client, a).await,
        Cmd::SystemPrune(a) => system::prune(&client, a).await,
        Cmd::Build(a) => build::build(&client, a).await,
        Cmd::Container(_) | Cmd::Image(_) | Cmd::System(_) => {
            unreachable!("flatten() maps group commands to verbs")
        }
    }
}
