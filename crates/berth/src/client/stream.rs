//! Docker's stdio streams: the multiplexed frame format (8-byte header
//! `[stream, 0, 0, 0, size u32 BE]`), hijacked attach/exec copying and signal
//! forwarding for foreground containers.

use super::connect::{Client, Io};
use hyper::Method;
use nix::sys::termios::{self, Termios};
use std::io::Write;
use std::os::fd::BorrowedFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Push parser for the multiplexed stream: chunks may split frames anywhere.
#[derive(Default)]
pub struct Demux {
    buf: Vec<u8>,
}

pub enum Target {
    Stdout,
    Stderr,
}

impl Demux {
    /// Feeds bytes and hands each complete frame's payload to `sink`.
    pub fn feed(&mut self, chunk: &[u8], sink: &mut dyn FnMut(Target, &[u8])) {
        self.buf.extend_from_slice(chunk);
        let mut pos = 0;
        while self.buf.len() - pos >= 8 {
            let h = &self.buf[pos..pos + 8];
            let size = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
            if self.buf.len() - pos - 8 < size {
                break;
            }
            let target = if h[0] == 2 || h[0] == 3 {
                Target::Stderr
            } else {
                Target::Stdout
            };
            sink(target, &self.buf[pos + 8..pos + 8 + size]);
            pos += 8 + size;
        }
        self.buf.drain(..pos);
    }
}

/// Writes to the process's own stdout/stderr, flushing per frame so
/// interleaving stays as the container produced it.
pub fn write_std(target: Target, data: &[u8]) {
    let r = match target {
        Target::Stdout => {
            let mut o = std::io::stdout().lock();
            o.write_all(data).and_then(|_| o.flush())
        }
        Target::Stderr => {
            let mut e = std::io::stderr().lock();
            e.write_all(data).and_then(|_| e.flush())
        }
    };
    if let Err(e) = r
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        std::process::exit(141);
    }
}

/// Copies a hijacked connection: our stdin to it (when `stdin`), its output
/// to our stdout/stderr (raw when `tty`). Returns when the output ends,
/// telling whether our stdin had reached its end by then.
pub async fn pump(io: Box<dyn Io>, stdin: bool, tty: bool) -> bool {
    let (mut rd, mut wr) = tokio::io::split(io);
    let stdin_done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done = stdin_done.clone();
    let input = if stdin {
        Some(tokio::spawn(async move {
            let mut si = tokio::io::stdin();
            let _ = tokio::io::copy(&mut si, &mut wr).await;
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            // Half-close tells the daemon stdin ended (StdinOnce semantics).
            let _ = wr.shutdown().await;
        }))
    } else {
        None
    };
    let mut demux = Demux::default();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match rd.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if tty {
                    write_std(Target::Stdout, &buf[..n]);
                } else {
                    demux.feed(&buf[..n], &mut write_std);
                }
            }
        }
    }
    if let Some(t) = input {
        t.abort();
    }
    stdin_done.load(std::sync::atomic::Ordering::SeqCst)
}

/// docker's `--sig-proxy`: signals the client receives go to the container.
pub fn proxy_signals(client: Client, id: String) -> tokio::task::JoinHandle<()> {
    use tokio::signal::unix::{SignalKind, signal};
    tokio::spawn(async move {
        let kinds = [
            (SignalKind::interrupt(), "SIGINT"),
            (SignalKind::terminate(), "SIGTERM"),
            (SignalKind::hangup(), "SIGHUP"),
            (SignalKind::quit(), "SIGQUIT"),
            (SignalKind::user_defined1(), "SIGUSR1"),
            (SignalKind::user_defined2(), "SIGUSR2"),
        ];
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for (kind, name) in kinds {
            let Ok(mut s) = signal(kind) else { continue };
            let tx = tx.clone();
            tokio::spawn(async move {
                while s.recv().await.is_some() {
                    if tx.send(name).is_err() {
                        break;
                    }
                }
            });
        }
        while let Some(name) = rx.recv().await {
            let path = format!("/containers/{id}/kill?signal={name}");
            let _ = client.call(Method::POST, &path, None).await;
        }
    })
}

pub fn is_terminal(fd: i32) -> bool {
    nix::unistd::isatty(fd).unwrap_or(false)
}

/// Puts a terminal in raw mode for a `-it` session and restores it on drop,
/// so keystrokes (Ctrl-C included) reach the container's pty untouched.
pub struct RawTerminal {
    fd: BorrowedFd<'static>,
    saved: Termios,
}

impl RawTerminal {
    /// `fd` is one of the standard descriptors (0, 1, 2).
    pub fn enable(fd: i32) -> Option<RawTerminal> {
        if !is_terminal(fd) {
            return None;
        }
        // SAFETY: the standard descriptors stay open for the whole process
        // (nothing in the client closes them), so the borrow cannot dangle.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let saved = termios::tcgetattr(fd).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        // Output processing stays on (cfmakeraw clears it), so what the
        // client itself prints while raw still starts at column 0.
        raw.output_flags |= termios::OutputFlags::OPOST;
        termios::tcsetattr(fd, termios::SetArg::TCSANOW, &raw).ok()?;
        Some(RawTerminal { fd, saved })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(self.fd, termios::SetArg::TCSANOW, &self.saved);
    }
}

nix::ioctl_read_bad!(tiocgwinsz, libc::TIOCGWINSZ, libc::winsize);

/// Rows and columns of the terminal on `fd`.
fn term_size(fd: i32) -> Option<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into `ws`, which outlives the call.
    let r = unsafe { tiocgwinsz(fd, &mut ws) };
    (r.is_ok() && ws.ws_row > 0).then_some((ws.ws_row, ws.ws_col))
}

/// Sends our terminal's size to `{prefix}/resize` now and on every SIGWINCH.
pub fn follow_resize(client: Client, prefix: String) -> Option<tokio::task::JoinHandle<()>> {
    if !is_terminal(1) {
        return None;
    }
    Some(tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let mut winch = signal(SignalKind::window_change()).ok();
        loop {
            if let Some((h, w)) = term_size(1) {
                let _ = client
                    .call(Method::POST, &format!("{prefix}/resize?h={h}&w={w}"), None)
                    .await;
            }
            match winch.as_mut() {
                Some(s) => {
                    if s.recv().await.is_none() {
                        break;
                    }
                }
                None => break,
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demux_handles_split_frames() {
        let mut frames = Vec::new();
        frames.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 3]);
        frames.extend_from_slice(b"out");
        frames.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 3]);
        frames.extend_from_slice(b"err");
        let mut d = Demux::default();
        let mut got = Vec::new();
        for b in frames.chunks(5) {
            d.feed(b, &mut |t, data| {
                got.push((matches!(t, Target::Stderr), data.to_vec()));
            });
        }
        assert_eq!(got, vec![(false, b"out".to_vec()), (true, b"err".to_vec())]);
    }
}
