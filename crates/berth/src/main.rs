//! `berth`: one binary for the client, the daemon, the per-container shim and
//! (later) the registry.

mod client;
mod daemon;
mod registry;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // Internal roles first: they must not pay for clap or tokio start-up.
    if let Some(code) = runtime::dispatch(&args) {
        std::process::exit(code);
    }
    let code = match args.get(1).map(String::as_str) {
        Some("daemon") => daemon::main(&args[2..]),
        Some("registry") => registry::main(&args[2..]),
        _ => client::main(args),
    };
    std::process::exit(code);
}
