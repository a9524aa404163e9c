//! Test harness: every test runs its "host" side inside a namespace it
//! creates, so bridges, veths, sysctls and firewall tables never touch the
//! real host, and deleting the namespaces removes all of it even when the
//! test panics.

#![allow(dead_code)]

use std::future::Future;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A named network namespace (`ip netns add`), deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(name: &str) -> Netns {
        assert!(name.len() <= 40);
        // A leftover from an aborted earlier run would make `add` fail.
        let _ = Command::new("ip").args(["netns", "del", name]).output();
        sh("ip", &["netns", "add", name]);
        Netns {
            name: name.to_string(),
        }
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// `ip netns exec <ns> <args>`.
    pub fn exec(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .output()
            .expect("run ip netns exec")
    }

    /// `ip -n <ns> <args>` stdout, asserting success.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut a = vec!["-n", self.name.as_str()];
        a.extend_from_slice(args);
        sh("ip", &a)
    }

    /// Interfaces of the namespace, by name.
    pub fn links(&self) -> Vec<String> {
        self.ip(&["-o", "link", "show"])
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap().to_string())
            .collect()
    }

    pub fn ping(&self, target: Ipv4Addr) -> bool {
        self.exec(&["busybox", "ping", "-c1", "-W2", &target.to_string()])
            .status
            .success()
    }

    /// Runs `f` on a thread that has entered this namespace.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let ns = std::fs::File::open(self.path()).expect("open netns");
        std::thread::scope(|s| {
            s.spawn(move || {
                nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
                f()
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// Runs an async test body on a current-thread runtime whose thread
    /// lives in this namespace; everything the library does from there
    /// (netlink sockets, nft/iptables children, /proc/sys writes) applies
    /// to this namespace.
    pub fn block_on<F, Fut>(&self, f: F)
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = ()>,
    {
        self.run(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(f())
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

pub fn sh(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What a firewall backend left, as text to search: the output of each
/// listing command (e.g. `nft list ruleset`).
pub fn ruleset(listing: &[&[&str]]) -> String {
    listing
        .iter()
        .map(|cmd| sh(cmd[0], &cmd[1..]))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// A TCP server inside a namespace that greets every client with
/// `greeting`; stopped and joined on drop so the namespace can go away.
pub struct Listener {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    pub fn start(ns: &Netns, port: u16, greeting: &'static str) -> Listener {
        Self::start_with(ns, port, move |_| greeting.to_string())
    }

    /// Answers each client with `reply(client address)`.
    pub fn start_with(
        ns: &Netns,
        port: u16,
        reply: impl Fn(SocketAddr) -> String + Send + 'static,
    ) -> Listener {
        let nsfile = std::fs::File::open(ns.path()).expect("open netns");
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            nix::sched::setns(&nsfile, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            let l = TcpListener::bind(("0.0.0.0", port)).expect("bind listener");
            l.set_nonblocking(true).unwrap();
            ready_tx.send(()).unwrap();
            while !stop2.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((mut s, peer)) => {
                        let _ = s.write_all(reply(peer).as_bytes());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        ready_rx.recv().expect("listener ready");
        Listener {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Connects and reads the greeting; the error kind tells refused from
/// timed out.
pub fn fetch(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    let mut buf = String::new();
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut chunk = [0u8; 64];
    while Instant::now() < deadline {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.push_str(&String::from_utf8_lossy(&chunk[..n])),
            // A signal to the test process (a child's exit) interrupts the
            // read; the greeting is still on its way.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(buf)
}

/// Answers UDP datagrams on `port` inside `ns` with "echo:<payload>" until
/// dropped.
pub struct UdpEcho(Listener);

impl UdpEcho {
    pub fn start(ns: &Netns, port: u16) -> UdpEcho {
        let nsfile = std::fs::File::open(ns.path()).expect("open netns");
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            nix::sched::setns(&nsfile, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            let sock = std::net::UdpSocket::bind(("0.0.0.0", port)).expect("bind udp");
            sock.set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            ready_tx.send(()).unwrap();
            let mut buf = [0u8; 512];
            while !stop2.load(Ordering::Relaxed) {
                if let Ok((n, peer)) = sock.recv_from(&mut buf) {
                    let mut reply = b"echo:".to_vec();
                    reply.extend_from_slice(&buf[..n]);
                    let _ = sock.send_to(&reply, peer);
                }
            }
        });
        ready_rx.recv().expect("udp echo ready");
        UdpEcho(Listener {
            stop,
            thread: Some(thread),
        })
    }
}

/// Sends `payload` to `addr` and returns the answer, or None on timeout.
pub fn udp_ask(addr: SocketAddr, payload: &str) -> Option<String> {
    let sock = std::net::UdpSocket::bind(("0.0.0.0", 0)).ok()?;
    sock.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    sock.send_to(payload.as_bytes(), addr).ok()?;
    let mut buf = [0u8; 512];
    let (n, _) = sock.recv_from(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}
