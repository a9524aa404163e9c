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

mod apps;
mod archive;
mod args;
mod audit;
mod build;
mod cli;
mod connect;
mod containers;
mod endpoint;
mod format;
mod images;
mod networks;
mod opts;
mod prompt;
mod router;
mod run_opts;
mod scan;
mod stream;
mod system;
mod volumes;

use clap::Parser;
use cli::Cli;
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
    let choice = endpoint::Choice {
        host: cli.host.clone(),
        context: cli.context.clone(),
        config_dir: cli.config.clone(),
        tls: cli.tls,
        tlsverify: cli.tlsverify,
        tlscacert: cli.tlscacert.clone(),
        tlscert: cli.tlscert.clone(),
        tlskey: cli.tlskey.clone(),
    };
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
        let mut client = Client::from_endpoint(&endpoint::resolve(&choice)?)?;
        // dial-stdio only moves bytes: the client on the far side negotiates.
        if !cmd.is_dial_stdio() {
            // As docker: a failed ping leaves the default version, and the
            // command itself reports the connection error with its own status.
            let _ = client.negotiate().await;
        }
        cmd.run(&client).await
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
            "-H" | "--host" | "-l" | "--log-level" | "--config" | "-c" | "--context"
            | "--tlscacert" | "--tlscert" | "--tlskey" => {
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
