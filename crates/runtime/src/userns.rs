//! User namespaces for remapped containers (`--userns-remap`).
//!
//! A remapped container's user namespace is made by the daemon, not by the
//! runtime, for two reasons. The network namespace the daemon prepares
//! (veths, addresses, routes) must be owned by that user namespace, or the
//! container cannot mount its own `/sys`. And libcontainer, asked to make a
//! user namespace itself, switches to systemd's cgroup manager, which berth
//! does not use. So a short-lived child process creates both namespaces at
//! once, the daemon writes the id maps and pins them by bind mounts, and the
//! runtime is told to join the pinned user namespace by path.

use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, Pid, fork, pipe2};
use serde::{Deserialize, Serialize};

use crate::error::RuntimeError;

/// One contiguous range: ids `container_id..container_id+size` inside are
/// `host_id..host_id+size` outside (a line of `/proc/<pid>/uid_map`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdRange {
    pub container_id: u32,
    pub host_id: u32,
    pub size: u32,
}

/// The uid and gid maps of remapped containers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMappings {
    pub uids: Vec<IdRange>,
    pub gids: Vec<IdRange>,
}

fn to_host(ranges: &[IdRange], id: u32) -> Option<u32> {
    ranges
        .iter()
        .find(|r| id >= r.container_id && id - r.container_id < r.size)
        .map(|r| r.host_id + (id - r.container_id))
}

fn to_container(ranges: &[IdRange], id: u32) -> Option<u32> {
    ranges
        .iter()
        .find(|r| id >= r.host_id && id - r.host_id < r.size)
        .map(|r| r.container_id + (id - r.host_id))
}

/// What a process inside sees for an id that has no mapping (the kernel's
/// overflow id).
pub const OVERFLOW_ID: u32 = 65534;

impl IdMappings {
    pub fn uid_to_host(&self, uid: u32) -> Option<u32> {
        to_host(&self.uids, uid)
    }
    pub fn gid_to_host(&self, gid: u32) -> Option<u32> {
        to_host(&self.gids, gid)
    }
    pub fn uid_to_container(&self, uid: u32) -> Option<u32> {
        to_container(&self.uids, uid)
    }
    pub fn gid_to_container(&self, gid: u32) -> Option<u32> {
        to_container(&self.gids, gid)
    }

    /// The host ids of the container's root: the owner of what the daemon
    /// makes for a remapped container (its writable layer, volumes, name files).
    pub fn root(&self) -> Result<(u32, u32), RuntimeError> {
        match (self.uid_to_host(0), self.gid_to_host(0)) {
            (Some(u), Some(g)) => Ok((u, g)),
            _ => Err(RuntimeError::InvalidConfig(
                "the user namespace maps no root (uid and gid 0)".into(),
            )),
        }
    }

    /// A host-side owner as the container sees it (unmapped ids show as the
    /// overflow id, as the kernel shows them).
    pub fn owner_to_container(&self, uid: u32, gid: u32) -> (u32, u32) {
        (
            self.uid_to_container(uid).unwrap_or(OVERFLOW_ID),
            self.gid_to_container(gid).unwrap_or(OVERFLOW_ID),
        )
    }

    fn map_text(ranges: &[IdRange]) -> String {
        ranges
            .iter()
            .map(|r| format!("{} {} {}\n", r.container_id, r.host_id, r.size))
            .collect()
    }
}

/// Makes a user namespace with `maps` pinned at `user_pin` and, with
/// `net_pin`, a network namespace it owns (loopback up) pinned there. Neither
/// pin may exist. On error nothing is left.
pub fn create_pinned(
    maps: &IdMappings,
    user_pin: &Path,
    net_pin: Option<&Path>,
) -> Result<(), RuntimeError> {
    let mut pins = Pins::default();
    for p in std::iter::once(user_pin).chain(net_pin) {
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(p)
            .map_err(|e| RuntimeError::io(format!("create {}", p.display()), e))?;
        pins.0.push(p.to_path_buf());
    }
    let holder = Holder::spawn(net_pin.is_some())?;
    let pid = holder.pid.as_raw();
    let write_map = |file: &str, text: String| {
        let path = format!("/proc/{pid}/{file}");
        fs::write(&path, text).map_err(|e| RuntimeError::io(format!("write {path}"), e))
    };
    write_map("uid_map", IdMappings::map_text(&maps.uids))?;
    write_map("gid_map", IdMappings::map_text(&maps.gids))?;
    let pin = |kind: &str, target: &Path| {
        mount(
            Some(format!("/proc/{pid}/ns/{kind}").as_str()),
            target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| {
            RuntimeError::io(
                format!("pin {kind} namespace at {}", target.display()),
                e.into(),
            )
        })
    };
    pin("user", user_pin)?;
    if let Some(net) = net_pin {
        pin("net", net)?;
    }
    holder.finish()?;
    pins.0.clear();
    Ok(())
}

/// Unpins a namespace pinned by [`create_pinned`]; absent is fine.
pub fn remove_pin(path: &Path) -> Result<(), RuntimeError> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => {
            return Err(RuntimeError::io(
                format!("unmount {}", path.display()),
                e.into(),
            ));
        }
    }
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(RuntimeError::io(format!("remove {}", path.display()), e)),
    }
}

/// Pin files made so far, removed unless the creation went through.
#[derive(Default)]
struct Pins(Vec<std::path::PathBuf>);

impl Drop for Pins {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = remove_pin(p);
        }
    }
}

/// A child that unshared the namespaces and waits until told to exit.
struct Holder {
    pid: Pid,
    go: Option<OwnedFd>,
}

impl Holder {
    fn spawn(with_net: bool) -> Result<Holder, RuntimeError> {
        let pipe_err = |e: nix::errno::Errno| RuntimeError::io("pipe", e.into());
        let (ready_r, ready_w) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(pipe_err)?;
        let (go_r, go_w) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(pipe_err)?;
        let flags = libc::CLONE_NEWUSER | if with_net { libc::CLONE_NEWNET } else { 0 };
        let lo = LoopbackRequest::new();
        // SAFETY: the daemon is multi-threaded, so the child may only make
        // async-signal-safe calls: it uses raw syscalls on memory prepared
        // before the fork (no allocation, no locks) and leaves with _exit.
        match unsafe { fork() } {
            // SAFETY: raw syscalls on descriptors and buffers made before
            // the fork; the child never returns into Rust code.
            Ok(ForkResult::Child) => unsafe {
                let ok = libc::unshare(flags) == 0 && (!with_net || lo.bring_up());
                let byte = [u8::from(ok)];
                libc::write(ready_w.as_raw_fd(), byte.as_ptr().cast(), 1);
                let mut buf = [0u8; 1];
                libc::read(go_r.as_raw_fd(), buf.as_mut_ptr().cast(), 1);
                libc::_exit(0);
            },
            Ok(ForkResult::Parent { child }) => {
                drop(ready_w);
                drop(go_r);
                let mut holder = Holder {
                    pid: child,
                    go: Some(go_w),
                };
                let mut byte = [0u8; 1];
                let mut ready = std::fs::File::from(ready_r);
                let got = ready.read(&mut byte).unwrap_or(0);
                if got != 1 || byte[0] != 1 {
                    holder.go = None;
                    let _ = waitpid(child, None);
                    return Err(RuntimeError::io(
                        "create a user namespace",
                        std::io::Error::other(
                            "the kernel refused unshare(CLONE_NEWUSER); user namespaces may be disabled (user.max_user_namespaces)",
                        ),
                    ));
                }
                Ok(holder)
            }
            Err(e) => Err(RuntimeError::io("fork", e.into())),
        }
    }

    /// Lets the child exit and reaps it.
    fn finish(mut self) -> Result<(), RuntimeError> {
        if let Some(go) = self.go.take() {
            let mut f = std::fs::File::from(go);
            let _ = f.write_all(&[1]);
        }
        waitpid(self.pid, None)
            .map_err(|e| RuntimeError::io("wait for namespace holder", e.into()))?;
        Ok(())
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        if self.go.take().is_some() {
            let _ = kill(self.pid, Signal::SIGKILL);
            let _ = waitpid(self.pid, None);
        }
    }
}

/// `ifreq` for `lo`, built before the fork so the child allocates nothing.
struct LoopbackRequest {
    ifr: libc::ifreq,
}

impl LoopbackRequest {
    fn new() -> Self {
        // SAFETY: ifreq is a plain C struct; all-zero is a valid value.
        let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
        for (d, s) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
            *d = *s as libc::c_char;
        }
        LoopbackRequest { ifr }
    }

    /// Sets `lo` up in the calling process's network namespace.
    ///
    /// # Safety
    /// Only raw syscalls on `self`'s memory: callable after fork.
    unsafe fn bring_up(mut self) -> bool {
        // SAFETY: a fresh socket and the ifreq owned by `self`, valid for
        // both ioctls; the socket is closed before returning.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
            if fd < 0 {
                return false;
            }
            let ok = libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut self.ifr) == 0 && {
                self.ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
                libc::ioctl(fd, libc::SIOCSIFFLAGS, &self.ifr) == 0
            };
            libc::close(fd);
            ok
        }
    }
}

/// Parses `/etc/subuid`-style text: the ranges of `names` (a user's name and
/// its numeric id, either may be listed), in file order; a range listed
/// twice counts once (the kernel refuses overlapping maps).
pub fn sub_ranges(text: &str, names: &[&str]) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for r in text
        .lines()
        .filter_map(|l| {
            let mut f = l.trim().split(':');
            let (who, start, count) = (f.next()?, f.next()?, f.next()?);
            if !names.contains(&who) {
                return None;
            }
            Some((start.parse().ok()?, count.parse().ok()?))
        })
        .filter(|&(_, count)| count > 0)
    {
        if !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

/// Docker's rule: the subordinate ranges, in order, map container ids from 0
/// up, one after another.
pub fn ranges_from_sub(sub: &[(u32, u32)]) -> Vec<IdRange> {
    let mut next = 0u32;
    sub.iter()
        .map(|&(host, size)| {
            let r = IdRange {
                container_id: next,
                host_id: host,
                size,
            };
            next = next.saturating_add(size);
            r
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maps() -> IdMappings {
        IdMappings {
            uids: ranges_from_sub(&[(100000, 65536)]),
            gids: ranges_from_sub(&[(200000, 1000), (300000, 64536)]),
        }
    }

    #[test]
    fn maps_both_ways() {
        let m = maps();
        assert_eq!(m.uid_to_host(0), Some(100000));
        assert_eq!(m.uid_to_host(65535), Some(165535));
        assert_eq!(m.uid_to_host(65536), None);
        assert_eq!(m.uid_to_container(100005), Some(5));
        assert_eq!(m.uid_to_container(0), None);
        assert_eq!(m.gid_to_host(1000), Some(300000));
        assert_eq!(m.gid_to_container(300001), Some(1001));
        assert_eq!(m.root().unwrap(), (100000, 200000));
        assert_eq!(m.owner_to_container(0, 0), (OVERFLOW_ID, OVERFLOW_ID));
        assert_eq!(
            IdMappings::map_text(&m.gids),
            "0 200000 1000\n1000 300000 64536\n"
        );
    }

    #[test]
    fn subordinate_file() {
        let text = "alice:100000:65536\n1001:300000:10\nbob:165536:65536\nbad\nalice:x:1\nalice:5:0\nalice:100000:65536\n";
        assert_eq!(
            sub_ranges(text, &["alice", "1001"]),
            vec![(100000, 65536), (300000, 10)]
        );
        assert!(sub_ranges(text, &["carol"]).is_empty());
    }

    #[test]
    fn no_root_mapping_is_an_error() {
        let m = IdMappings {
            uids: vec![IdRange {
                container_id: 1,
                host_id: 100000,
                size: 10,
            }],
            gids: ranges_from_sub(&[(100000, 10)]),
        };
        assert!(m.root().is_err());
    }
}
