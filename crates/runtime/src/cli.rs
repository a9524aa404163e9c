//! `berth runtime`: the built-in runtime (libcontainer) behind runc's command
//! line, for the shim. The shim stays resident for a container's whole life,
//! so it must not carry libcontainer's work in its pages: it runs this CLI
//! for an operation, as containerd's shim runs runc, and the binary (with
//! libcontainer in it) only lives for the length of one. Create and start
//! are the exceptions (see [`crate::backend::open_cli`]).
//!
//! The subset the shim uses: `--root R --log L --log-format json` then
//! `create --bundle B --pid-file F [--console-socket S] ID`, `start ID`,
//! `pause ID`, `resume ID`, `update --resources FILE ID`, `ps --format json
//! ID`, `delete [--force] ID`, `exec --process P --detach --pid-file F
//! [--console-socket S] ID`. Errors go to the log as runc writes them
//! (`{"level":"error","msg":…}`), never to stderr, which a created
//! container's process shares.

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;

use crate::backend::{self, Io, RuntimeKind};
use crate::error::RuntimeError;

#[derive(Debug, Default, PartialEq)]
struct Args {
    root: Option<PathBuf>,
    log: Option<PathBuf>,
    verb: String,
    bundle: Option<PathBuf>,
    pid_file: Option<PathBuf>,
    console_socket: Option<PathBuf>,
    resources: Option<PathBuf>,
    process: Option<PathBuf>,
    id: String,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut out = Args::default();
    let mut it = args.iter();
    let value = |flag: &str, it: &mut std::slice::Iter<String>| {
        it.next()
            .map(PathBuf::from)
            .ok_or_else(|| format!("{flag} needs a value"))
    };
    let mut positional = Vec::new();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--root" => out.root = Some(value(a, &mut it)?),
            "--log" => out.log = Some(value(a, &mut it)?),
            "--bundle" | "-b" => out.bundle = Some(value(a, &mut it)?),
            "--pid-file" => out.pid_file = Some(value(a, &mut it)?),
            "--console-socket" => out.console_socket = Some(value(a, &mut it)?),
            "--resources" | "-r" => out.resources = Some(value(a, &mut it)?),
            "--process" | "-p" => out.process = Some(value(a, &mut it)?),
            "--log-format" | "--format" | "-f" => {
                let v = value(a, &mut it)?;
                if v != Path::new("json") {
                    return Err(format!("{a} {}: only json", v.display()));
                }
            }
            "--force" | "--detach" | "-d" => {}
            f if f.starts_with('-') => return Err(format!("unknown flag {f}")),
            p => positional.push(p.to_string()),
        }
    }
    match positional.as_slice() {
        [verb, id] => {
            out.verb = verb.clone();
            out.id = id.clone();
            Ok(out)
        }
        _ => Err(format!(
            "usage: berth runtime [--root R] [--log L] VERB [flags] ID (got {positional:?})"
        )),
    }
}

/// Entry point; returns the exit code.
pub(crate) fn main(args: &[String]) -> i32 {
    let parsed = match parse(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("berth runtime: {e}");
            return 2;
        }
    };
    match run(&parsed) {
        Ok(()) => 0,
        Err(e) => {
            log_error(parsed.log.as_deref(), &e.into_runtime_words());
            1
        }
    }
}

fn log_error(log: Option<&Path>, msg: &str) {
    let line = serde_json::json!({
        "level": "error",
        "msg": msg,
        "time": chrono::Utc::now().to_rfc3339(),
    });
    let written = log.is_some_and(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .and_then(|mut f| writeln!(f, "{line}"))
            .is_ok()
    });
    if !written {
        eprintln!("berth runtime: {msg}");
    }
}

/// Our own stdin/stdout/stderr, which the caller set up as the process's.
fn own_stdio() -> Result<Io, RuntimeError> {
    let dup = |fd: std::os::fd::BorrowedFd<'_>| -> Result<OwnedFd, RuntimeError> {
        fd.try_clone_to_owned()
            .map_err(|e| RuntimeError::io("duplicate stdio", e))
    };
    Ok(Io {
        stdin: Some(dup(std::io::stdin().as_fd())?),
        stdout: Some(dup(std::io::stdout().as_fd())?),
        stderr: Some(dup(std::io::stderr().as_fd())?),
        console_socket: None,
    })
}

fn process_io(a: &Args) -> Result<Io, RuntimeError> {
    match &a.console_socket {
        Some(s) => Ok(Io {
            console_socket: Some(s.clone()),
            ..Io::default()
        }),
        None => own_stdio(),
    }
}

fn write_pid_file(path: Option<&Path>, pid: nix::unistd::Pid) -> Result<(), RuntimeError> {
    let Some(path) = path else { return Ok(()) };
    crate::private::write(path, pid.as_raw().to_string().as_bytes())
        .map_err(|e| RuntimeError::io(format!("write {}", path.display()), e))
}

fn required<'a>(v: &'a Option<PathBuf>, flag: &str) -> Result<&'a Path, RuntimeError> {
    v.as_deref()
        .ok_or_else(|| RuntimeError::InvalidConfig(format!("{flag} is required")))
}

fn run(a: &Args) -> Result<(), RuntimeError> {
    let root = required(&a.root, "--root")?;
    // The built-in backend keeps no state of its own in the shim's directory.
    let mut b = backend::open(&RuntimeKind::Builtin, &a.id, root, root);
    match a.verb.as_str() {
        "create" => {
            let bundle = required(&a.bundle, "--bundle")?;
            let pid = b.create(bundle, process_io(a)?)?;
            write_pid_file(a.pid_file.as_deref(), pid)
        }
        "exec" => {
            let process = required(&a.process, "--process")?;
            let pid = b.exec(process, process_io(a)?)?;
            write_pid_file(a.pid_file.as_deref(), pid)
        }
        "start" => b.start(),
        "pause" => b.pause(),
        "resume" => b.resume(),
        "update" => {
            let file = required(&a.resources, "--resources")?;
            let body = std::fs::read(file)
                .map_err(|e| RuntimeError::io(format!("read {}", file.display()), e))?;
            let resources: LinuxResources = serde_json::from_slice(&body)
                .map_err(|e| RuntimeError::InvalidConfig(format!("{}: {e}", file.display())))?;
            b.update(&resources)
        }
        "ps" => {
            let pids = b.pids()?;
            let body =
                serde_json::to_vec(&pids).map_err(|e| RuntimeError::Protocol(e.to_string()))?;
            std::io::stdout()
                .write_all(&body)
                .map_err(|e| RuntimeError::io("write pids", e))
        }
        "delete" => b.delete(),
        other => Err(RuntimeError::InvalidConfig(format!(
            "unknown command {other:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn runc_command_lines_parse() {
        let a = parse(&args(
            "--root /r --log /l --log-format json create --bundle /b --pid-file /p --console-socket /s c1",
        ))
        .unwrap();
        assert_eq!(a.verb, "create");
        assert_eq!(a.id, "c1");
        assert_eq!(a.bundle.as_deref(), Some(Path::new("/b")));
        assert_eq!(a.console_socket.as_deref(), Some(Path::new("/s")));
        let a = parse(&args("--root /r ps --format json c1")).unwrap();
        assert_eq!((a.verb.as_str(), a.id.as_str()), ("ps", "c1"));
        assert!(parse(&args("--root /r delete --force c1")).is_ok());
        assert!(parse(&args("--root /r --frobnicate start c1")).is_err());
        assert!(parse(&args("--root /r ps --format table c1")).is_err());
        assert!(parse(&args("--root /r start")).is_err());
    }
}
