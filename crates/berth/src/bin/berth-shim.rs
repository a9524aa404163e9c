//! `berth-shim <state-dir>`: the per-container monitor. The same code as
//! `berth shim`, in a binary of its own so that each running container pays
//! for the shim's pages only, not for the whole of berth (every page of a
//! binary that a process touches counts in its RSS, and a position-independent
//! binary's relocated data is private to each process).

// The shim's forked child creates the container with libcontainer.
runtime::interpose_seccomp!();

fn main() {
    runtime::seccomp_cache::interposed();
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(runtime::shim_main(&args));
}
