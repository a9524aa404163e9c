//! `berth-runtime …`: the built-in runtime's CLI (runc's command line), the
//! same code as `berth runtime …` in a binary of its own. The shim runs it
//! for every operation on a container (create, start, delete, exec, …): a
//! short-lived process that should not map in, fault in and relocate the
//! whole of berth each time.

fn main() {
    runtime::seccomp_cache::interposed();
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(runtime::runtime_main(&args));
}

/// libseccomp's `seccomp_load`, interposed: a definition in the executable
/// wins over the shared library's, so libcontainer's call lands here and
/// a seccomp profile is compiled once per profile instead of once per
/// container (see `runtime::seccomp_cache`).
///
/// # Safety
/// libseccomp's contract: `ctx` is a filter context it made.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn seccomp_load(ctx: *mut std::ffi::c_void) -> std::ffi::c_int {
    // SAFETY: the caller's ctx, passed on unchanged.
    unsafe { runtime::seccomp_cache::load(ctx) }
}

/// libseccomp's `seccomp_rule_add_array`, interposed: with a compiled
/// program ready for the container, the rules need not be built.
///
/// # Safety
/// libseccomp's contract for the function.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn seccomp_rule_add_array(
    ctx: *mut std::ffi::c_void,
    action: u32,
    syscall: std::ffi::c_int,
    arg_cnt: std::ffi::c_uint,
    args: *const runtime::seccomp_cache::ArgCmp,
) -> std::ffi::c_int {
    // SAFETY: the caller's arguments, passed on unchanged.
    unsafe { runtime::seccomp_cache::rule_add_array(ctx, action, syscall, arg_cnt, args) }
}
