//! `-H` addresses the daemon serves: unix sockets, TCP ports (TLS unless the
//! operator opts out) and sockets systemd passes (`fd://`).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// One `-H` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Unix(PathBuf),
    Tcp(String),
    /// `fd://` (every socket systemd passed) or `fd://N` (descriptor N).
    Fd(Option<RawFd>),
}

/// dockerd's ports when `-H tcp://ADDR` names none.
const PLAIN_PORT: u16 = 2375;
const TLS_PORT: u16 = 2376;

pub fn parse(host: &str, tls: bool) -> anyhow::Result<Host> {
    let (scheme, rest) = host.split_once("://").unwrap_or(("tcp", host));
    match scheme {
        "unix" if !rest.is_empty() => Ok(Host::Unix(PathBuf::from(rest))),
        "tcp" => {
            let rest = rest.trim_end_matches('/');
            if rest.contains('/') {
                bail!("invalid -H {host:?}: a TCP address has no path (tcp://HOST:PORT)");
            }
            let port = if tls { TLS_PORT } else { PLAIN_PORT };
            let addr = match rest {
                "" => format!("127.0.0.1:{port}"),
                r if r.starts_with(':') => format!("127.0.0.1{r}"),
                // `[::1]` or a name without a port.
                r if r.ends_with(']') || !r.contains(':') => format!("{r}:{port}"),
                r => r.to_string(),
            };
            Ok(Host::Tcp(addr))
        }
        "fd" if rest.is_empty() => Ok(Host::Fd(None)),
        "fd" => match rest.parse::<RawFd>() {
            Ok(n) if n >= 3 => Ok(Host::Fd(Some(n))),
            _ => bail!(
                "invalid -H {host:?}: expected fd:// or fd://N (N ≥ 3, a descriptor systemd passed)"
            ),
        },
        "ssh" => bail!(
            "invalid -H {host:?}: ssh:// is for clients; the daemon listens on unix://, tcp:// or fd://, and `berth system dial-stdio` serves ssh clients"
        ),
        _ => bail!("invalid -H {host:?}: expected unix:///path, tcp://HOST:PORT or fd://"),
    }
}

/// A socket ready to serve, before the runtime exists.
pub enum Bound {
    Unix(std::os::unix::net::UnixListener),
    Tcp(std::net::TcpListener),
}

impl Bound {
    pub fn describe(&self) -> String {
        match self {
            Bound::Unix(l) => match l
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(Path::to_path_buf))
            {
                Some(p) => format!("unix://{}", p.display()),
                None => "an unnamed unix socket".into(),
            },
            Bound::Tcp(l) => match l.local_addr() {
                Ok(a) => format!("tcp://{a}"),
                Err(_) => "a TCP socket".into(),
            },
        }
    }
}

pub fn bind_tcp(addr: &str) -> anyhow::Result<std::net::TcpListener> {
    let l =
        std::net::TcpListener::bind(addr).with_context(|| format!("listening on tcp://{addr}"))?;
    l.set_nonblocking(true)?;
    Ok(l)
}

/// The sockets systemd passed this process (`LISTEN_PID`, `LISTEN_FDS`:
/// descriptors 3 onwards), taken once: later calls get none.
pub fn activated() -> anyhow::Result<Vec<(RawFd, OwnedFd)>> {
    static TAKEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let for_us = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok())
        == Some(std::process::id());
    let count = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.trim().parse::<RawFd>().ok())
        .unwrap_or(0);
    if !for_us || count <= 0 || TAKEN.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return Ok(Vec::new());
    }
    let mut fds = Vec::new();
    for raw in 3..3 + count {
        // SAFETY: systemd hands descriptors 3..3+LISTEN_FDS to this process
        // and nothing else in it owns them; TAKEN makes this the only
        // place that ever wraps them, once.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // The shims this daemon starts must not inherit the API sockets.
        nix::fcntl::fcntl(
            fd.as_raw_fd(),
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        )
        .with_context(|| format!("fd://{raw}: not an open descriptor"))?;
        fds.push((raw, fd));
    }
    Ok(fds)
}

/// A passed descriptor as a listener of its kind.
pub fn adopt(raw: RawFd, fd: OwnedFd) -> anyhow::Result<Bound> {
    use nix::sys::socket::{AddressFamily, SockaddrLike, SockaddrStorage, getsockname};
    let addr: SockaddrStorage =
        getsockname(raw).with_context(|| format!("fd://{raw}: not a socket"))?;
    let bound = match addr.family() {
        Some(AddressFamily::Unix) => {
            let l = std::os::unix::net::UnixListener::from(fd);
            l.set_nonblocking(true)?;
            Bound::Unix(l)
        }
        Some(AddressFamily::Inet | AddressFamily::Inet6) => {
            let l = std::net::TcpListener::from(fd);
            l.set_nonblocking(true)?;
            Bound::Tcp(l)
        }
        other => bail!("fd://{raw}: a {other:?} socket; berth serves unix and TCP stream sockets"),
    };
    Ok(bound)
}

/// The passed sockets an `fd://` host names.
pub fn select_activated(
    fds: &mut Vec<(RawFd, OwnedFd)>,
    which: Option<RawFd>,
    passed: usize,
) -> anyhow::Result<Vec<(RawFd, OwnedFd)>> {
    if passed == 0 {
        bail!(
            "-H fd://: systemd passed no sockets (LISTEN_FDS unset or meant for another process); start berth through its socket unit (contrib/systemd/berth.socket)"
        );
    }
    match which {
        None => Ok(std::mem::take(fds)),
        Some(n) => match fds.iter().position(|(raw, _)| *raw == n) {
            Some(i) => Ok(vec![fds.remove(i)]),
            None if n < 3 + passed as RawFd => bail!("-H fd://{n}: named by more than one -H"),
            None => bail!(
                "-H fd://{n}: systemd passed descriptors 3 to {} only",
                2 + passed
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_parse_as_dockerd_reads_them() {
        assert_eq!(
            parse("unix:///run/b.sock", false).unwrap(),
            Host::Unix("/run/b.sock".into())
        );
        assert_eq!(
            parse("tcp://0.0.0.0:2376", true).unwrap(),
            Host::Tcp("0.0.0.0:2376".into())
        );
        assert_eq!(
            parse("tcp://", true).unwrap(),
            Host::Tcp("127.0.0.1:2376".into())
        );
        assert_eq!(
            parse("tcp://:99", false).unwrap(),
            Host::Tcp("127.0.0.1:99".into())
        );
        assert_eq!(
            parse("tcp://[::1]", false).unwrap(),
            Host::Tcp("[::1]:2375".into())
        );
        assert_eq!(
            parse("10.0.0.1:7", false).unwrap(),
            Host::Tcp("10.0.0.1:7".into())
        );
        assert_eq!(parse("fd://", false).unwrap(), Host::Fd(None));
        assert_eq!(parse("fd://4", false).unwrap(), Host::Fd(Some(4)));
        assert!(parse("fd://1", false).is_err());
        assert!(parse("unix://", false).is_err());
        let e = parse("ssh://root@h", false).unwrap_err();
        assert!(e.to_string().contains("dial-stdio"), "{e}");
        assert!(parse("http://h", false).is_err());
    }

    #[test]
    fn fd_hosts_name_passed_descriptors() {
        let e = select_activated(&mut Vec::new(), None, 0).unwrap_err();
        assert!(e.to_string().contains("berth.socket"), "{e}");
        let e = select_activated(&mut Vec::new(), Some(9), 2).unwrap_err();
        assert!(e.to_string().contains("3 to 4"), "{e}");
    }
}
