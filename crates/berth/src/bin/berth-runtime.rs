//! `berth-runtime …`: the built-in runtime's CLI (runc's command line), the
//! same code as `berth runtime …` in a binary of its own. The shim runs it
//! for every operation on a container (create, start, delete, exec, …): a
//! short-lived process that should not map in, fault in and relocate the
//! whole of berth each time.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(runtime::runtime_main(&args));
}
