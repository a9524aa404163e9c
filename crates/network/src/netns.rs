//! Network namespaces the daemon owns ("sandboxes"): created before the
//! container's process so its interfaces exist from its first instruction,
//! and pinned by a bind mount so they outlive a daemon restart.

use std::net::Ipv4Addr;
use std::path::Path;

use ipnet::Ipv4Net;
use netlink_packet_route::route::{RouteAddress, RouteAttribute};

use std::os::fd::AsRawFd;

use crate::error::{NetError, Result, io_err, nl_err};
use crate::netlink;

/// Creates a new network namespace pinned at `path` (which must not exist)
/// with its loopback up.
pub async fn create_netns(path: &Path) -> Result<()> {
    let target = path.to_path_buf();
    let (tx, rx) = tokio::sync::oneshot::channel();
    // unshare() changes only the calling thread, so a throwaway thread does
    // it and pins the namespace; the daemon's threads never move.
    std::thread::Builder::new()
        .name("berth-mknetns".into())
        .spawn(move || {
            let result = (|| {
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&target)
                    .map_err(io_err(format!("create {}", target.display())))?;
                let pin = || -> nix::Result<()> {
                    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)?;
                    nix::mount::mount(
                        Some("/proc/thread-self/ns/net"),
                        &target,
                        None::<&str>,
                        nix::mount::MsFlags::MS_BIND,
                        None::<&str>,
                    )
                };
                pin().map_err(|e| {
                    let _ = std::fs::remove_file(&target);
                    NetError::Io {
                        op: format!("pin network namespace at {}", target.display()),
                        source: e.into(),
                    }
                })?;
                loopback_up().map_err(|e| {
                    let _ = remove_netns(&target);
                    io_err("set lo up in the new namespace")(e)
                })
            })();
            let _ = tx.send(result);
        })
        .map_err(io_err("spawn netns thread"))?;
    rx.await.unwrap_or_else(|_| {
        Err(NetError::Io {
            op: "netns thread".into(),
            source: std::io::Error::other("thread panicked"),
        })
    })
}

/// Sets `lo` up in the calling thread's network namespace. One ioctl on a
/// throwaway socket: a netlink connection (and the runtime to drive it)
/// cost ~10 ms per container start, for a single flag.
fn loopback_up() -> std::io::Result<()> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};
    let fd = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // SAFETY: a zeroed ifreq (a plain C struct) whose name is the
    // NUL-terminated "lo"; SIOCGIFFLAGS fills in its flags, which are then
    // read from the union, and SIOCSIFFLAGS only reads it. `ifr` outlives
    // both calls and `fd` is an open socket. (nix wraps neither ioctl.)
    unsafe {
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (dst, src) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        if libc::ioctl(fd.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(fd.as_raw_fd(), libc::SIOCSIFFLAGS, &ifr) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Unpins and deletes a namespace made by [`create_netns`]; the kernel frees
/// it (and the veths inside) once no process uses it. Missing is fine.
pub fn remove_netns(path: &Path) -> Result<()> {
    match nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => {
            return Err(NetError::Io {
                op: format!("unmount {}", path.display()),
                source: e.into(),
            });
        }
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(io_err(format!("remove {}", path.display()))(e))
        }
        _ => Ok(()),
    }
}

/// IPv4 destinations routed on this host (its own subnets, VPNs, other
/// container engines' bridges), so new networks can avoid them as Docker does.
pub async fn host_routes() -> Result<Vec<Ipv4Net>> {
    use futures_util::TryStreamExt;
    let h = netlink::connect()?;
    let msgs: Vec<_> = h
        .route()
        .get(rtnetlink::RouteMessageBuilder::<Ipv4Addr>::new().build())
        .execute()
        .try_collect()
        .await
        .map_err(nl_err("list routes"))?;
    Ok(msgs
        .into_iter()
        .filter(|m| m.header.destination_prefix_length > 0)
        .filter_map(|m| {
            let prefix = m.header.destination_prefix_length;
            m.attributes.iter().find_map(|a| match a {
                RouteAttribute::Destination(RouteAddress::Inet(ip)) => {
                    Ipv4Net::new(*ip, prefix).ok().map(|n| n.trunc())
                }
                _ => None,
            })
        })
        .filter(|n| !n.network().is_loopback())
        .collect())
}
