//! Docker's syslog driver: each line one message, in the format
//! `syslog-format` names (dockerd's default is the local-socket "unix"
//! format), sent over udp, tcp, a unix stream or datagram socket, or the
//! host's `/dev/log` when no address is given. stdout lines have severity
//! info, stderr lines err. Messages end with a newline, which is also the
//! framing over a stream, as in dockerd's srslog; over `tcp+tls` the
//! rfc5424 formats are octet-counted instead (RFC 5425), as dockerd's.

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::time::Duration;

use chrono::{DateTime, Local};
use serde::{Deserialize, Serialize};

use super::Message;
use super::queue::{Deliver, Encode};
use super::tls::{self, TlsFiles, TlsStream};
use crate::shim::StdStream;

const SEND_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_SOCKETS: &[&str] = &["/dev/log", "/var/run/syslog", "/var/run/log"];

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyslogFormat {
    /// `<PRI>Mmm dd hh:mm:ss TAG[PID]: MSG`
    #[default]
    Unix,
    /// `<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG`
    Rfc3164,
    /// `<PRI>1 TIMESTAMP HOST TAG PID TAG - MSG`
    Rfc5424,
    /// rfc5424 with microseconds in the timestamp.
    Rfc5424Micro,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyslogSpec {
    /// `udp://host:port`, `tcp://…`, `unix:///path`, `unixgram:///path`,
    /// or empty for the host's syslog socket; checked by the daemon.
    pub address: String,
    /// 0..=23.
    pub facility: u8,
    #[serde(default)]
    pub format: SyslogFormat,
    /// The rendered `tag` option.
    pub tag: String,
    pub hostname: String,
    /// The `syslog-tls-*` files, for `tcp+tls`.
    #[serde(default)]
    pub tls: TlsFiles,
}

/// Where the messages go, parsed from `syslog-address`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyslogTransport {
    Udp(String),
    Tcp(String),
    /// `tcp+tls://host:port`.
    TcpTls(String),
    Unix(String),
    Unixgram(String),
    /// The host's socket (`/dev/log`…), datagram or stream.
    Local,
}

impl SyslogTransport {
    /// Parses an address the daemon accepted (`None`: not one).
    pub fn parse(address: &str) -> Option<Self> {
        if address.is_empty() {
            return Some(SyslogTransport::Local);
        }
        let (scheme, rest) = address.split_once("://")?;
        let with_port = |hostport: &str| {
            let hostport = hostport.trim_end_matches('/');
            let has_port = match hostport.strip_prefix('[') {
                Some(v6) => v6.contains("]:"),
                None => hostport.contains(':'),
            };
            match has_port {
                true => hostport.to_string(),
                false => format!("{hostport}:514"),
            }
        };
        Some(match scheme {
            "udp" => SyslogTransport::Udp(with_port(rest)),
            "tcp" => SyslogTransport::Tcp(with_port(rest)),
            "tcp+tls" => SyslogTransport::TcpTls(with_port(rest)),
            "unix" => SyslogTransport::Unix(rest.to_string()),
            "unixgram" => SyslogTransport::Unixgram(rest.to_string()),
            _ => return None,
        })
    }
}

pub struct Syslog {
    spec: SyslogSpec,
    pid: u32,
    /// RFC 5425's `LEN SP MSG` framing (rfc5424 formats over tcp+tls).
    octet_counted: bool,
    /// The host's offset, looked up once: chrono's Local asks the system
    /// for every conversion, which costs more than the rest of a line.
    offset: chrono::FixedOffset,
}

impl Syslog {
    pub fn new(spec: SyslogSpec) -> Self {
        let octet_counted = matches!(
            SyslogTransport::parse(&spec.address),
            Some(SyslogTransport::TcpTls(_))
        ) && matches!(
            spec.format,
            SyslogFormat::Rfc5424 | SyslogFormat::Rfc5424Micro
        );
        Self {
            spec,
            octet_counted,
            pid: std::process::id(),
            offset: *Local::now().offset(),
        }
    }

    /// The encoder (for the copy loop) and the sender (for the delivery thread).
    pub fn split(spec: SyslogSpec) -> (Box<dyn Encode>, Box<dyn Deliver>) {
        let transport = SyslogTransport::parse(&spec.address).unwrap_or(SyslogTransport::Local);
        let tls = spec.tls.clone();
        let conn = Conn::new(transport).with_tls(tls);
        (Box::new(Syslog::new(spec)), Box::new(conn))
    }

    fn format(&self, msg: &Message<'_>, now: DateTime<chrono::FixedOffset>, out: &mut Vec<u8>) {
        let severity = match msg.stream {
            StdStream::Stdout => 6,
            StdStream::Stderr => 3,
        };
        let pri = u32::from(self.spec.facility) * 8 + severity;
        let (tag, host, pid) = (&self.spec.tag, &self.spec.hostname, self.pid);
        let stamp = || {
            use chrono::{Datelike, Timelike};
            const MONTHS: [&str; 12] = [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ];
            format!(
                "{} {:>2} {:02}:{:02}:{:02}",
                MONTHS[now.month0() as usize],
                now.day(),
                now.hour(),
                now.minute(),
                now.second()
            )
        };
        let _ = match self.spec.format {
            SyslogFormat::Unix => write!(out, "<{pri}>{} {tag}[{pid}]: ", stamp()),
            SyslogFormat::Rfc3164 => write!(out, "<{pri}>{} {host} {tag}[{pid}]: ", stamp()),
            SyslogFormat::Rfc5424 | SyslogFormat::Rfc5424Micro => {
                let precision = match self.spec.format {
                    SyslogFormat::Rfc5424 => chrono::SecondsFormat::Secs,
                    _ => chrono::SecondsFormat::Micros,
                };
                let ts = now.to_rfc3339_opts(precision, true);
                write!(out, "<{pri}>1 {ts} {host} {tag} {pid} {tag} - ")
            }
        };
        out.extend_from_slice(msg.text());
        out.push(b'\n');
    }
}

impl Encode for Syslog {
    fn encode(&mut self, msg: &Message<'_>, out: &mut Vec<u8>) {
        let start = out.len();
        self.format(msg, msg.time.with_timezone(&self.offset), out);
        if self.octet_counted {
            // The count covers the newline too: srslog frames the message it ends with one.
            let count = format!("{} ", out.len() - start);
            out.splice(start..start, count.into_bytes());
        }
    }
}

enum Socket {
    Udp(UdpSocket),
    Tcp(TcpStream),
    Tls(Box<TlsStream>),
    Unix(UnixStream),
    Unixgram(UnixDatagram),
}

struct Conn {
    transport: SyslogTransport,
    tls: TlsFiles,
    socket: Option<Socket>,
}

impl Conn {
    fn new(transport: SyslogTransport) -> Self {
        Self {
            transport,
            tls: TlsFiles::default(),
            socket: None,
        }
    }

    fn with_tls(mut self, tls: TlsFiles) -> Self {
        self.tls = tls;
        self
    }

    fn dial(&self) -> std::io::Result<Socket> {
        let resolve = |hostport: &str| {
            hostport
                .to_socket_addrs()?
                .next()
                .ok_or_else(|| std::io::Error::other(format!("no address for {hostport}")))
        };
        Ok(match &self.transport {
            SyslogTransport::Udp(a) => {
                let to = resolve(a)?;
                let bind = if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
                let s = UdpSocket::bind(bind)?;
                s.connect(to)?;
                Socket::Udp(s)
            }
            SyslogTransport::Tcp(a) => {
                let s = TcpStream::connect_timeout(&resolve(a)?, SEND_TIMEOUT)?;
                s.set_write_timeout(Some(SEND_TIMEOUT))?;
                Socket::Tcp(s)
            }
            SyslogTransport::TcpTls(a) => {
                let config = tls::client_config(&self.tls)?;
                let s = TcpStream::connect_timeout(&resolve(a)?, SEND_TIMEOUT)?;
                s.set_write_timeout(Some(SEND_TIMEOUT))?;
                s.set_read_timeout(Some(SEND_TIMEOUT))?;
                let host = a.rsplit_once(':').map_or(a.as_str(), |(h, _)| h);
                Socket::Tls(Box::new(tls::connect(config, host, s)?))
            }
            SyslogTransport::Unix(p) => {
                let s = UnixStream::connect(p)?;
                s.set_write_timeout(Some(SEND_TIMEOUT))?;
                Socket::Unix(s)
            }
            SyslogTransport::Unixgram(p) => unixgram(p)?,
            SyslogTransport::Local => {
                let mut last = std::io::Error::other("no syslog socket");
                for p in DEFAULT_SOCKETS {
                    if let Ok(s) = unixgram(p) {
                        return Ok(s);
                    }
                    match UnixStream::connect(p) {
                        Ok(s) => return Ok(Socket::Unix(s)),
                        Err(e) => last = e,
                    }
                }
                return Err(last);
            }
        })
    }
}

/// Connects as the driver would, and hangs up: dockerd dials its syslog
/// server when the container starts, so a certificate it refuses fails the
/// start; the shim's sender dials on its first line, too late to say so.
pub fn probe(spec: &SyslogSpec) -> std::io::Result<()> {
    let transport = SyslogTransport::parse(&spec.address).unwrap_or(SyslogTransport::Local);
    Conn::new(transport)
        .with_tls(spec.tls.clone())
        .dial()
        .map(drop)
}

fn unixgram(path: &str) -> std::io::Result<Socket> {
    let s = UnixDatagram::unbound()?;
    s.connect(path)?;
    s.set_write_timeout(Some(SEND_TIMEOUT))?;
    Ok(Socket::Unixgram(s))
}

impl Deliver for Conn {
    fn deliver(&mut self, data: &[u8]) -> std::io::Result<()> {
        if self.socket.is_none() {
            self.socket = Some(self.dial()?);
        }
        match self.socket.as_mut() {
            Some(Socket::Udp(s)) => s.send(data).map(drop),
            Some(Socket::Unixgram(s)) => s.send(data).map(drop),
            Some(Socket::Tcp(s)) => s.write_all(data),
            Some(Socket::Tls(s)) => tls::write_all(s, data),
            Some(Socket::Unix(s)) => s.write_all(data),
            None => Ok(()),
        }
    }

    fn disconnect(&mut self) {
        self.socket = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn spec(format: SyslogFormat) -> SyslogSpec {
        SyslogSpec {
            address: String::new(),
            facility: 16, // local0
            format,
            tag: "web/abc".into(),
            hostname: "host1".into(),
            tls: TlsFiles::default(),
        }
    }

    fn formatted(format: SyslogFormat, stream: StdStream) -> String {
        let mut s = Syslog::new(spec(format));
        s.pid = 42;
        let now = chrono::FixedOffset::east_opt(0)
            .unwrap()
            .with_ymd_and_hms(2026, 3, 5, 7, 8, 9)
            .unwrap()
            + chrono::Duration::microseconds(123456);
        let mut out = Vec::new();
        let msg = Message {
            stream,
            time: chrono::Utc::now(),
            line: b"hello world\n",
            partial: None,
        };
        s.offset = chrono::FixedOffset::east_opt(0).unwrap();
        s.format(&msg, now, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn formats_are_dockerds() {
        assert_eq!(
            formatted(SyslogFormat::Unix, StdStream::Stdout),
            "<134>Mar  5 07:08:09 web/abc[42]: hello world\n"
        );
        assert_eq!(
            formatted(SyslogFormat::Rfc3164, StdStream::Stderr),
            "<131>Mar  5 07:08:09 host1 web/abc[42]: hello world\n"
        );
        assert_eq!(
            formatted(SyslogFormat::Rfc5424, StdStream::Stdout),
            "<134>1 2026-03-05T07:08:09Z host1 web/abc 42 web/abc - hello world\n"
        );
        assert_eq!(
            formatted(SyslogFormat::Rfc5424Micro, StdStream::Stdout),
            "<134>1 2026-03-05T07:08:09.123456Z host1 web/abc 42 web/abc - hello world\n"
        );
    }

    #[test]
    fn rfc5424_over_tls_is_octet_counted() {
        let mut s = Syslog::new(SyslogSpec {
            address: "tcp+tls://127.0.0.1:6514".into(),
            ..spec(SyslogFormat::Rfc5424)
        });
        s.pid = 42;
        s.offset = chrono::FixedOffset::east_opt(0).unwrap();
        let msg = Message {
            stream: StdStream::Stdout,
            time: chrono::DateTime::from_timestamp(0, 0).unwrap(),
            line: b"hi\n",
            partial: None,
        };
        let mut out = b"before".to_vec();
        s.encode(&msg, &mut out);
        let body = "<134>1 1970-01-01T00:00:00Z host1 web/abc 42 web/abc - hi\n";
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("before{} {body}", body.len())
        );
        // Other formats keep the newline framing, over tls too.
        let mut s = Syslog::new(SyslogSpec {
            address: "tcp+tls://127.0.0.1:6514".into(),
            ..spec(SyslogFormat::Rfc3164)
        });
        let mut out = Vec::new();
        s.encode(&msg, &mut out);
        assert!(out.starts_with(b"<134>"));
    }

    #[test]
    fn addresses_parse_with_the_default_port() {
        use SyslogTransport::*;
        assert_eq!(SyslogTransport::parse(""), Some(Local));
        assert_eq!(
            SyslogTransport::parse("udp://127.0.0.1"),
            Some(Udp("127.0.0.1:514".into()))
        );
        assert_eq!(
            SyslogTransport::parse("tcp://localhost:1514"),
            Some(Tcp("localhost:1514".into()))
        );
        assert_eq!(
            SyslogTransport::parse("tcp://[::1]"),
            Some(Tcp("[::1]:514".into()))
        );
        assert_eq!(
            SyslogTransport::parse("tcp://[::1]:99"),
            Some(Tcp("[::1]:99".into()))
        );
        assert_eq!(
            SyslogTransport::parse("unixgram:///run/s.sock"),
            Some(Unixgram("/run/s.sock".into()))
        );
        assert_eq!(SyslogTransport::parse("http://x"), None);
    }

    #[test]
    fn delivers_over_a_unix_datagram_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.sock");
        let server = UnixDatagram::bind(&path).unwrap();
        let mut c = Conn::new(SyslogTransport::Unixgram(path.to_str().unwrap().into()));
        c.deliver(b"<14>one\n").unwrap();
        let mut buf = [0u8; 64];
        let n = server.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"<14>one\n");
    }
}
