//! The runtime's side of a container terminal.
//!
//! libcontainer creates the pty inside the container (after pivot_root, from
//! the container's own devpts) and sends the master over a unix "console
//! socket" with SCM_RIGHTS, as runc does. [`ConsoleSocket`] is the listening
//! end we hand to libcontainer; [`Pty`] serves the master it sends back.

use std::io::{self, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A listening unix socket for libcontainer's `with_console_socket`; the
/// socket file is removed when this is dropped.
pub(crate) struct ConsoleSocket {
    listener: std::os::unix::net::UnixListener,
    path: PathBuf,
}

impl ConsoleSocket {
    pub fn bind(dir: &Path, name: &str) -> io::Result<Self> {
        let path = dir.join(name);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        // libcontainer connects through a symlink, so only our bind needs a short address.
        let address = crate::shim::socket_path(dir, name)?;
        let listener = std::os::unix::net::UnixListener::bind(&address.path)?;
        crate::private::restrict(&address.path)?;
        listener.set_nonblocking(true)?;
        Ok(Self { listener, path })
    }

    /// The real path, for libcontainer.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pty master libcontainer sent. By the time its builder returns,
    /// the container process has already sent it, so `timeout` only guards
    /// against a libcontainer that never connected.
    pub fn receive_master(&self, timeout: Duration) -> io::Result<OwnedFd> {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        let mut pfd = [PollFd::new(self.listener.as_fd(), PollFlags::POLLIN)];
        let n = poll(
            &mut pfd,
            PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX),
        )?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no terminal arrived on the console socket",
            ));
        }
        let (conn, _) = self.listener.accept()?;
        conn.set_nonblocking(false)?;
        conn.set_read_timeout(Some(timeout))?;
        receive_fd(conn.as_raw_fd())
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn receive_fd(sock: RawFd) -> io::Result<OwnedFd> {
    // libcontainer sends the name of the pty ("/dev/ptmx") as payload.
    let mut name = [0u8; 256];
    let mut iov = [IoSliceMut::new(&mut name)];
    let mut cmsg = nix::cmsg_space!([RawFd; 4]);
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC)?;
    let mut received = Vec::new();
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: the kernel just installed these fds in our table; we own them.
            received.extend(
                fds.into_iter()
                    .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
            );
        }
    }
    let mut fds = received.into_iter();
    let master = fds.next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "console socket message carried no file descriptor",
        )
    })?;
    Ok(master)
}

nix::ioctl_write_ptr_bad!(tiocswinsz, libc::TIOCSWINSZ, libc::winsize);

/// TIOCSWINSZ: the kernel sends SIGWINCH to the terminal's foreground group.
pub(crate) fn set_size(fd: RawFd, height: u16, width: u16) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: height,
        ws_col: width,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ only reads one winsize through the pointer, and `ws`
    // outlives the call.
    unsafe { tiocswinsz(fd, &ws) }?;
    Ok(())
}

/// A pty master in non-blocking mode, driven by tokio. Reading and writing
/// go through [`PtyReader`] and [`PtyWriter`], which share it.
pub(crate) struct Pty {
    fd: AsyncFd<OwnedFd>,
}

impl Pty {
    pub fn new(master: OwnedFd) -> io::Result<Arc<Self>> {
        let raw = master.as_raw_fd();
        use nix::fcntl::{FcntlArg, OFlag, fcntl};
        let flags = OFlag::from_bits_retain(fcntl(raw, FcntlArg::F_GETFL)?);
        fcntl(raw, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
        // SAFETY: an OwnedFd stays open and the same for as long as the AsyncFd owns it.
        let fd = unsafe { AsyncFd::register(master) }?;
        Ok(Arc::new(Self { fd }))
    }

    pub fn resize(&self, height: u16, width: u16) -> io::Result<()> {
        set_size(self.fd.get_ref().as_raw_fd(), height, width)
    }

    pub fn reader(self: &Arc<Self>) -> PtyReader {
        PtyReader(self.clone())
    }

    pub fn writer(self: &Arc<Self>) -> PtyWriter {
        PtyWriter(self.clone())
    }

    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            let result = guard.try_io(|fd| {
                nix::unistd::read(fd.get_ref().as_raw_fd(), unfilled).map_err(io::Error::from)
            });
            match result {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // Every slave fd is closed: the terminal's end of file.
                Ok(Err(e)) if e.raw_os_error() == Some(libc::EIO) => return Poll::Ready(Ok(())),
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_write(&self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.fd.poll_write_ready(cx))?;
            let result =
                guard.try_io(|fd| nix::unistd::write(fd.get_ref(), data).map_err(io::Error::from));
            match result {
                Ok(r) => return Poll::Ready(r),
                Err(_would_block) => continue,
            }
        }
    }
}

/// Output of the terminal; EIO (no slave left) reads as end of file.
pub(crate) struct PtyReader(Arc<Pty>);

/// Input of the terminal. Shutting it down does nothing: a terminal has no
/// half-close, a program sees end of file only when it reads ^D.
pub(crate) struct PtyWriter(Arc<Pty>);

impl AsyncRead for PtyReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.0.poll_read(cx, buf)
    }
}

impl AsyncWrite for PtyWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0.poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    nix::ioctl_read_bad!(tiocgwinsz, libc::TIOCGWINSZ, libc::winsize);

    fn winsize(fd: RawFd) -> (u16, u16) {
        let mut ws = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ writes one winsize into `ws`, which outlives the call.
        unsafe { tiocgwinsz(fd, &mut ws) }.unwrap();
        (ws.ws_row, ws.ws_col)
    }

    /// The SCM_RIGHTS round trip libcontainer performs, done by hand on a host pty.
    #[tokio::test]
    async fn master_arrives_over_the_console_socket_and_serves_io() {
        let dir = tempfile::tempdir().unwrap();
        let console = ConsoleSocket::bind(dir.path(), "console.sock").unwrap();
        let pair = nix::pty::openpty(None, None).unwrap();
        {
            let client = std::os::unix::net::UnixStream::connect(console.path()).unwrap();
            let fds = [pair.master.as_raw_fd()];
            let iov = [std::io::IoSlice::new(b"/dev/ptmx")];
            nix::sys::socket::sendmsg::<()>(
                client.as_raw_fd(),
                &iov,
                &[nix::sys::socket::ControlMessage::ScmRights(&fds)],
                MsgFlags::empty(),
                None,
            )
            .unwrap();
        }
        let master = console.receive_master(Duration::from_secs(5)).unwrap();
        drop(pair.master);
        let pty = Pty::new(master).unwrap();

        pty.resize(33, 101).unwrap();
        assert_eq!(winsize(pair.slave.as_raw_fd()), (33, 101));

        pty.writer().write_all(b"hi\n").await.unwrap();
        let mut got = [0u8; 3];
        let mut slave = std::fs::File::from(pair.slave.try_clone().unwrap());
        std::io::Read::read_exact(&mut slave, &mut got).unwrap();
        assert_eq!(&got, b"hi\n");

        std::io::Write::write_all(&mut slave, b"out\n").unwrap();
        drop(slave);
        drop(pair.slave);
        let mut out = Vec::new();
        pty.reader().read_to_end(&mut out).await.unwrap();
        // The line discipline turns \n into \r\n; the echo of our input comes first.
        assert_eq!(out, b"hi\r\nout\r\n");

        let path = console.path().to_path_buf();
        drop(console);
        assert!(!path.exists());
    }

    #[test]
    fn nothing_sent_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let console = ConsoleSocket::bind(dir.path(), "c.sock").unwrap();
        let err = console
            .receive_master(Duration::from_millis(50))
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }
}
