//! Each distinct seccomp profile compiled once. libseccomp turns the rules
//! into a BPF program inside `seccomp_load`, in every container's init,
//! every time: for Docker's default profile (three architectures) that is
//! about two thirds of the ~11 ms libseccomp costs per container, the
//! largest single part of a container's start. libcontainer 0.7 builds and
//! loads the filter in one call with no hook for a ready program, so
//! `berth-runtime` and `berth-shim` (whose forked child creates containers)
//! interpose libseccomp's `seccomp_load` symbol ([`interpose_seccomp`]: their
//! own definition wins over the shared library's) and land here:
//!
//! - before libcontainer forks the container, [`prepare`] finds the program
//!   of the container's profile in the cache, or compiles it in a throwaway
//!   child that runs libcontainer's own filter set-up with `seccomp_load`
//!   exporting the program instead of loading it, and keeps it in memory;
//! - in the container's init (after pivot_root: nothing is read from a
//!   path there) [`load`] installs that program with the flags the filter
//!   context asks for, as libseccomp's own load would.
//!
//! With a program prepared, `seccomp_rule_add_array` (interposed too) adds
//! nothing: the rules libcontainer would build into the context (a third
//! of the cost) are never compiled. The key is the profile's JSON, libseccomp's version and the kernel API level
//! libseccomp detected: the same inputs make the same program. Profiles
//! with notify actions (a listener fd) take libseccomp's own path.

use std::ffi::{c_int, c_void};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use libcontainer::oci_spec::runtime::LinuxSeccomp;
use libseccomp_sys::scmp_filter_attr;
use sha2::{Digest, Sha256};

/// libseccomp's `struct scmp_arg_cmp`, for the interposed functions' signatures.
pub type ArgCmp = libseccomp_sys::scmp_arg_cmp;

/// Bumped when what is cached or how it is keyed changes.
const FORMAT: &str = "berth-seccomp-bpf-2";
/// The kernel's limit for one classic BPF filter (BPF_MAXINSNS).
const MAX_INSNS: usize = 4096;
/// One `struct sock_filter`.
const INSN: usize = 8;

/// Set by a binary whose `seccomp_load` symbol calls [`load`]; without it
/// nothing here runs (libseccomp's own load would really load a filter in
/// the capture child).
static INTERPOSED: AtomicBool = AtomicBool::new(false);
/// The program the next `seccomp_load` installs instead of compiling.
static PROGRAM: OnceLock<Vec<u8>> = OnceLock::new();
/// In the capture child: the file `seccomp_load` exports the program to.
static CAPTURE_FD: AtomicI32 = AtomicI32::new(-1);
static CAPTURED: AtomicBool = AtomicBool::new(false);

/// Declares that this binary's `seccomp_load` symbol is [`load`].
pub fn interposed() {
    INTERPOSED.store(true, Ordering::SeqCst);
}

/// Defines the binary's `seccomp_load` and `seccomp_rule_add_array`. A
/// definition in the executable wins over the shared library's, so
/// libcontainer's calls land in [`load`] and [`rule_add_array`]. Expand it
/// once at a binary's top level, and call [`interposed`] first in `main`.
#[macro_export]
macro_rules! interpose_seccomp {
    () => {
        /// libseccomp's `seccomp_load`, interposed: a profile is compiled
        /// once per profile instead of once per container.
        ///
        /// # Safety
        /// libseccomp's contract: `ctx` is a filter context it made.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn seccomp_load(ctx: *mut ::std::ffi::c_void) -> ::std::ffi::c_int {
            // SAFETY: the caller's ctx, passed on unchanged.
            unsafe { $crate::seccomp_cache::load(ctx) }
        }

        /// libseccomp's `seccomp_rule_add_array`, interposed: with a
        /// compiled program ready for the container, the rules need not be
        /// built.
        ///
        /// # Safety
        /// libseccomp's contract for the function.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn seccomp_rule_add_array(
            ctx: *mut ::std::ffi::c_void,
            action: u32,
            syscall: ::std::ffi::c_int,
            arg_cnt: ::std::ffi::c_uint,
            args: *const $crate::seccomp_cache::ArgCmp,
        ) -> ::std::ffi::c_int {
            // SAFETY: the caller's arguments, passed on unchanged.
            unsafe { $crate::seccomp_cache::rule_add_array(ctx, action, syscall, arg_cnt, args) }
        }
    };
}

/// Readies the compiled program of `profile` (from `cache_dir`, or compiled
/// into it) for the container's init to load. Best effort: on any failure
/// the init compiles the profile itself, as before.
pub(crate) fn prepare(profile: Option<&LinuxSeccomp>, cache_dir: &Path) {
    let Some(profile) = profile else { return };
    if !INTERPOSED.load(Ordering::SeqCst) || libcontainer::seccomp::is_notify(profile) {
        return;
    }
    let Some(key) = key(profile) else { return };
    let path = cache_dir.join(format!("{key}.bpf"));
    let program = match read_program(&path) {
        Some(p) => p,
        None => match compile(profile, cache_dir, &path) {
            Ok(p) => p,
            Err(e) => {
                warn(&format!("seccomp cache: {e}"));
                return;
            }
        },
    };
    let _ = PROGRAM.set(program);
}

fn key(profile: &LinuxSeccomp) -> Option<String> {
    let json = serde_json::to_vec(profile).ok()?;
    // SAFETY: seccomp_version returns a pointer to libseccomp's static
    // version struct (never null in 2.5), read only.
    let v = unsafe { &*libseccomp_sys::seccomp_version() };
    // SAFETY: a plain query of libseccomp's detected kernel API level.
    let api = unsafe { libseccomp_sys::seccomp_api_get() };
    let mut h = Sha256::new();
    h.update(FORMAT);
    h.update(format!("\0{}.{}.{}\0{api}\0", v.major, v.minor, v.micro));
    h.update(&json);
    Some(hex::encode(h.finalize()))
}

/// A cached program, if whole: a non-empty multiple of one instruction,
/// within the kernel's limit.
fn read_program(path: &Path) -> Option<Vec<u8>> {
    let f = std::fs::File::open(path).ok()?;
    let mut buf = Vec::new();
    f.take((MAX_INSNS * INSN + 1) as u64)
        .read_to_end(&mut buf)
        .ok()?;
    (!buf.is_empty() && buf.len() % INSN == 0 && buf.len() <= MAX_INSNS * INSN).then_some(buf)
}

/// Runs libcontainer's filter set-up in a child whose `seccomp_load`
/// exports the program into a temporary file, then moves it into place.
/// The child is thrown away: whatever went wrong there, this process never
/// gets a filter.
fn compile(profile: &LinuxSeccomp, dir: &Path, path: &Path) -> Result<Vec<u8>, String> {
    crate::private::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let tmp: PathBuf = dir.join(format!(".tmp-{}", std::process::id()));
    let file = crate::private::open_truncate(&tmp)
        .map_err(|e| format!("create {}: {e}", tmp.display()))?;
    // SAFETY: berth-runtime is single-threaded here (libcontainer has not
    // started anything yet); the child only builds the filter, writes the
    // file and leaves with _exit.
    let child = match unsafe { nix::unistd::fork() } {
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(format!("fork: {e}"));
        }
        Ok(nix::unistd::ForkResult::Child) => {
            CAPTURE_FD.store(file.as_raw_fd(), Ordering::SeqCst);
            let ok = libcontainer::seccomp::initialize_seccomp(profile).is_ok()
                && CAPTURED.load(Ordering::SeqCst)
                && file.sync_all().is_ok();
            // SAFETY: leaves the forked child without running the parent's
            // atexit handlers or destructors.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) }
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => child,
    };
    drop(file);
    let status = nix::sys::wait::waitpid(child, None);
    let result = match status {
        Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) => read_program(&tmp)
            .ok_or_else(|| "the compiled program is not whole".to_string())
            .and_then(|p| {
                std::fs::rename(&tmp, path)
                    .map(|()| p)
                    .map_err(|e| format!("rename into {}: {e}", path.display()))
            }),
        other => Err(format!("compiling the profile failed: {other:?}")),
    };
    let _ = std::fs::remove_file(&tmp);
    result
}

/// No logging framework in the runtime CLI: a line on stderr, which the
/// shim keeps in the container's shim.log.
fn warn(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// What the interposed `seccomp_load(ctx)` does: export (capture child),
/// install the prepared program, or libseccomp's own load.
///
/// # Safety
/// `ctx` must be a filter context libseccomp made (what libseccomp's
/// callers pass to `seccomp_load`).
pub unsafe fn load(ctx: *mut c_void) -> c_int {
    let fd = CAPTURE_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        // SAFETY: ctx is libseccomp's (caller's contract); 2 is libseccomp's
        // binary-tree layout.
        let rc = unsafe {
            libseccomp_sys::seccomp_attr_set(ctx, scmp_filter_attr::SCMP_FLTATR_CTL_OPTIMIZE, 2)
        };
        if rc != 0 {
            return rc;
        }
        // SAFETY: ctx is libseccomp's (caller's contract); fd is the open
        // temporary file of the capture child.
        let rc = unsafe { libseccomp_sys::seccomp_export_bpf(ctx, fd) };
        CAPTURED.store(rc == 0, Ordering::SeqCst);
        return rc;
    }
    match PROGRAM.get() {
        // SAFETY: as above.
        Some(program) => unsafe { install(ctx, program) },
        // SAFETY: as above.
        None => unsafe { real_load(ctx) },
    }
}

/// What the interposed `seccomp_rule_add_array` does: nothing when a
/// prepared program will be installed instead (outside the capture child),
/// else libseccomp's own.
///
/// # Safety
/// libseccomp's contract for `seccomp_rule_add_array`.
pub unsafe fn rule_add_array(
    ctx: *mut c_void,
    action: u32,
    syscall: c_int,
    arg_cnt: std::ffi::c_uint,
    args: *const ArgCmp,
) -> c_int {
    if PROGRAM.get().is_some() && CAPTURE_FD.load(Ordering::SeqCst) < 0 {
        return 0;
    }
    type Add =
        unsafe extern "C" fn(*mut c_void, u32, c_int, std::ffi::c_uint, *const ArgCmp) -> c_int;
    // SAFETY: the next definition of the symbol is libseccomp's, of this
    // signature.
    match unsafe { next::<Add>(c"seccomp_rule_add_array") } {
        // SAFETY: the caller's arguments, passed on unchanged.
        Some(real) => unsafe { real(ctx, action, syscall, arg_cnt, args) },
        None => -libc::ENOSYS,
    }
}

/// libseccomp's own `seccomp_load`, the next definition after ours.
unsafe fn real_load(ctx: *mut c_void) -> c_int {
    type Load = unsafe extern "C" fn(*mut c_void) -> c_int;
    // SAFETY: the next definition of the symbol is libseccomp's, of this
    // signature.
    match unsafe { next::<Load>(c"seccomp_load") } {
        // SAFETY: ctx is libseccomp's (caller's contract).
        Some(real) => unsafe { real(ctx) },
        None => -libc::ENOSYS,
    }
}

/// The definition of `name` after ours (libseccomp's), as a function `F`.
///
/// # Safety
/// `F` must be the symbol's C signature.
unsafe fn next<F: Copy>(name: &std::ffi::CStr) -> Option<F> {
    // SAFETY: looks up a symbol of the already loaded libseccomp; no file
    // is opened (this may run after pivot_root).
    let sym = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) };
    if sym.is_null() {
        return None;
    }
    // SAFETY: F is a function pointer type of the symbol's signature
    // (caller's contract), the size of a data pointer.
    Some(unsafe { std::mem::transmute_copy::<*mut c_void, F>(&sym) })
}

/// Installs `program` as libseccomp's load would install the program of
/// `ctx`: no_new_privs if the context asks for it, then
/// seccomp(SET_MODE_FILTER) with the context's TSYNC, LOG and SPEC_ALLOW
/// flags. Returns 0 or a negative errno, as libseccomp.
unsafe fn install(ctx: *mut c_void, program: &[u8]) -> c_int {
    let attr = |a: scmp_filter_attr| -> Result<bool, c_int> {
        let mut v: u32 = 0;
        // SAFETY: ctx is libseccomp's; v is a valid u32 out-parameter.
        let rc = unsafe { libseccomp_sys::seccomp_attr_get(ctx, a, &mut v) };
        if rc < 0 { Err(rc) } else { Ok(v != 0) }
    };
    let (nnp, tsync, log, ssb) = match (
        attr(scmp_filter_attr::SCMP_FLTATR_CTL_NNP),
        attr(scmp_filter_attr::SCMP_FLTATR_CTL_TSYNC),
        attr(scmp_filter_attr::SCMP_FLTATR_CTL_LOG),
        attr(scmp_filter_attr::SCMP_FLTATR_CTL_SSB),
    ) {
        (Ok(a), Ok(b), Ok(c), Ok(d)) => (a, b, c, d),
        (Err(rc), ..) | (_, Err(rc), ..) | (_, _, Err(rc), _) | (.., Err(rc)) => return rc,
    };
    if nnp {
        // SAFETY: sets this thread's no_new_privs bit; no pointers.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return -errno();
        }
    }
    let mut flags: libc::c_ulong = 0;
    if tsync {
        flags |= libc::SECCOMP_FILTER_FLAG_TSYNC;
    }
    if log {
        flags |= libc::SECCOMP_FILTER_FLAG_LOG;
    }
    if ssb {
        flags |= libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW;
    }
    let prog = libc::sock_fprog {
        len: (program.len() / INSN) as u16,
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: prog points at `program`, a whole number of sock_filter
    // instructions (checked when read) that outlives the call; the kernel
    // copies and verifies it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &prog as *const libc::sock_fprog,
        )
    };
    match rc {
        0 => 0,
        // TSYNC: the id of a thread that could not be synchronised.
        r if r > 0 => -libc::ESRCH,
        _ => -errno(),
    }
}

fn errno() -> c_int {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EINVAL)
}
