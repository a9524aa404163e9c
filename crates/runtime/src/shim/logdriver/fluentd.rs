//! Docker's fluentd driver: each line one event of fluentd's Forward
//! protocol in message mode, `[tag, time, record]` in msgpack, over tcp or
//! a unix socket. The record is dockerd's (`container_id`,
//! `container_name`, `source`, `log`, the attributes, partial metadata);
//! the time whole seconds, or an EventTime with
//! `fluentd-sub-second-precision`.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::Message;
use super::queue::{Deliver, Encode};

const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection idle this long is checked before use: a server that closed
/// it (a restart) would otherwise take the next event into a dead socket.
const IDLE_CHECK: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FluentdSpec {
    /// `host:port` (tcp) or an absolute socket path (unix), parsed by the daemon.
    pub address: String,
    pub unix: bool,
    pub tag: String,
    #[serde(default)]
    pub sub_second: bool,
    /// `container_id`, `container_name` and the attributes.
    #[serde(default)]
    pub record: BTreeMap<String, String>,
}

pub struct Fluentd {
    spec: FluentdSpec,
}

impl Fluentd {
    /// The encoder (for the copy loop) and the sender (for the delivery thread).
    pub fn split(spec: FluentdSpec) -> (Box<dyn Encode>, Box<dyn Deliver>) {
        let conn = Conn {
            address: spec.address.clone(),
            unix: spec.unix,
            socket: None,
            last_sent: None,
        };
        (Box::new(Fluentd { spec }), Box::new(conn))
    }
}

impl Encode for Fluentd {
    fn encode(&mut self, msg: &Message<'_>, out: &mut Vec<u8>) {
        array(out, 3);
        str(out, self.spec.tag.as_bytes());
        let secs = msg.time.timestamp().max(0) as u64;
        if self.spec.sub_second {
            // EventTime: ext type 0, seconds and nanoseconds, big endian.
            out.extend_from_slice(&[0xd7, 0x00]);
            out.extend_from_slice(&(secs as u32).to_be_bytes());
            out.extend_from_slice(&msg.time.timestamp_subsec_nanos().to_be_bytes());
        } else {
            uint(out, secs);
        }
        let partial = msg.partial.as_ref().map(|p| {
            [
                ("partial_message", "true".to_string()),
                ("partial_id", p.id.clone()),
                ("partial_ordinal", p.ordinal.to_string()),
                ("partial_last", p.last.to_string()),
            ]
        });
        let extra = partial.iter().flatten().count();
        map(out, self.spec.record.len() + 2 + extra);
        for (k, v) in &self.spec.record {
            str(out, k.as_bytes());
            str(out, v.as_bytes());
        }
        str(out, b"source");
        str(out, msg.stream.name().as_bytes());
        str(out, b"log");
        str(out, msg.text());
        for (k, v) in partial.iter().flatten() {
            str(out, k.as_bytes());
            str(out, v.as_bytes());
        }
    }
}

fn array(out: &mut Vec<u8>, n: usize) {
    match n {
        0..16 => out.push(0x90 | n as u8),
        16..=0xffff => {
            out.push(0xdc);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        _ => {
            out.push(0xdd);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
    }
}

fn map(out: &mut Vec<u8>, n: usize) {
    match n {
        0..16 => out.push(0x80 | n as u8),
        16..=0xffff => {
            out.push(0xde);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        _ => {
            out.push(0xdf);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
    }
}

/// A msgpack str (fluentd's records hold strings; a line that is not
/// UTF-8 goes as it is, which fluentd accepts too).
fn str(out: &mut Vec<u8>, s: &[u8]) {
    let n = s.len();
    match n {
        0..32 => out.push(0xa0 | n as u8),
        32..=0xff => out.extend_from_slice(&[0xd9, n as u8]),
        0x100..=0xffff => {
            out.push(0xda);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        _ => {
            out.push(0xdb);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
    }
    out.extend_from_slice(s);
}

fn uint(out: &mut Vec<u8>, v: u64) {
    match v {
        0..0x80 => out.push(v as u8),
        0x80..=0xffff_ffff => {
            out.push(0xce);
            out.extend_from_slice(&(v as u32).to_be_bytes());
        }
        _ => {
            out.push(0xcf);
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
}

enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
}

struct Conn {
    address: String,
    unix: bool,
    socket: Option<Socket>,
    last_sent: Option<Instant>,
}

impl Conn {
    fn dial(&self) -> std::io::Result<Socket> {
        if self.unix {
            let s = UnixStream::connect(&self.address)?;
            s.set_write_timeout(Some(SEND_TIMEOUT))?;
            return Ok(Socket::Unix(s));
        }
        let to = self
            .address
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| std::io::Error::other(format!("no address for {}", self.address)))?;
        let s = TcpStream::connect_timeout(&to, SEND_TIMEOUT)?;
        s.set_write_timeout(Some(SEND_TIMEOUT))?;
        s.set_nodelay(true)?;
        Ok(Socket::Tcp(s))
    }
}

/// Whether the server has closed a connection (it never sends otherwise:
/// no acks are asked for).
fn closed_by_peer(s: &Socket) -> bool {
    let mut b = [0u8; 1];
    let flags = nix::sys::socket::MsgFlags::MSG_PEEK | nix::sys::socket::MsgFlags::MSG_DONTWAIT;
    let fd = match s {
        Socket::Tcp(t) => std::os::fd::AsRawFd::as_raw_fd(t),
        Socket::Unix(u) => std::os::fd::AsRawFd::as_raw_fd(u),
    };
    match nix::sys::socket::recv(fd, &mut b, flags) {
        Ok(n) => n == 0,
        Err(e) => e != nix::errno::Errno::EAGAIN,
    }
}

impl Deliver for Conn {
    fn deliver(&mut self, data: &[u8]) -> std::io::Result<()> {
        if self.last_sent.is_some_and(|t| t.elapsed() >= IDLE_CHECK)
            && self.socket.as_ref().is_some_and(closed_by_peer)
        {
            self.socket = None;
        }
        if self.socket.is_none() {
            self.socket = Some(self.dial()?);
        }
        match self.socket.as_mut() {
            Some(Socket::Tcp(s)) => s.write_all(data),
            Some(Socket::Unix(s)) => s.write_all(data),
            None => Ok(()),
        }?;
        self.last_sent = Some(Instant::now());
        Ok(())
    }

    fn disconnect(&mut self) {
        self.socket = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shim::StdStream;
    use crate::shim::logdriver::Partial;

    #[test]
    fn events_are_forward_protocol_messages() {
        let spec = FluentdSpec {
            address: "127.0.0.1:24224".into(),
            unix: false,
            tag: "app".into(),
            sub_second: false,
            record: [("container_id".to_string(), "abc".to_string())].into(),
        };
        let (mut enc, _) = Fluentd::split(spec.clone());
        let time = chrono::DateTime::from_timestamp(1_700_000_000, 5).unwrap();
        let mut out = Vec::new();
        enc.encode(
            &Message {
                stream: StdStream::Stdout,
                time,
                line: b"hi\n",
                partial: None,
            },
            &mut out,
        );
        let mut want = vec![0x93, 0xa3, b'a', b'p', b'p', 0xce];
        want.extend_from_slice(&1_700_000_000u32.to_be_bytes());
        want.push(0x83);
        for s in ["container_id", "abc", "source", "stdout", "log", "hi"] {
            want.push(0xa0 | s.len() as u8);
            want.extend_from_slice(s.as_bytes());
        }
        assert_eq!(out, want);

        let (mut enc, _) = Fluentd::split(FluentdSpec {
            sub_second: true,
            record: BTreeMap::new(),
            ..spec
        });
        let mut out = Vec::new();
        let long = vec![b'x'; 300];
        enc.encode(
            &Message {
                stream: StdStream::Stderr,
                time,
                line: &long,
                partial: Some(Partial {
                    id: "p".into(),
                    ordinal: 1,
                    last: false,
                }),
            },
            &mut out,
        );
        assert_eq!(&out[5..15], &[0xd7, 0, 0x65, 0x53, 0xf1, 0x00, 0, 0, 0, 5]);
        assert_eq!(out[15], 0x86, "source, log and 4 partial fields");
        let at = out
            .windows(3)
            .position(|w| w == [0xda, 0x01, 0x2c])
            .unwrap();
        assert_eq!(&out[at + 3..at + 303], &long[..]);
    }
}
