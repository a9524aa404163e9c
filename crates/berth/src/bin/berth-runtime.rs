//! `berth-runtime …`: the built-in runtime's CLI (runc's command line), the
//! same code as `berth runtime …` in a binary of its own. The shim runs it
//! for the operations it does not do itself (exec, pause, update, ps, a
//! forced delete): a short-lived process that should not map in, fault in
//! and relocate the whole of berth each time.

runtime::interpose_seccomp!();

fn main() {
    runtime::seccomp_cache::interposed();
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(runtime::runtime_main(&args));
}
