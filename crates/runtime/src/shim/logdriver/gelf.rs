//! Docker's gelf driver: each line a GELF 1.1 message (JSON) with the
//! container's fields as `_` extras; over udp compressed (gzip by default,
//! zlib or none) and cut into GELF chunks when over one datagram, over tcp
//! plain and ended by a NUL byte, as Graylog reads them.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Message;
use super::queue::{Deliver, Encode};
use crate::shim::StdStream;

/// go-gelf's datagram size, header included.
const CHUNK_SIZE: usize = 1420;
const CHUNK_HEADER: usize = 12;
const MAX_CHUNKS: usize = 128;
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GelfCompression {
    #[default]
    Gzip,
    Zlib,
    None,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GelfSpec {
    /// `udp://host:port` or `tcp://host:port`, checked by the daemon.
    pub address: String,
    #[serde(default)]
    pub compression: GelfCompression,
    /// -1 (the library's default) to 9.
    #[serde(default = "default_level")]
    pub level: i32,
    pub hostname: String,
    /// `_container_id`, `_tag`, … and the `labels`/`env` attributes.
    #[serde(default)]
    pub extra: BTreeMap<String, String>,
}

fn default_level() -> i32 {
    -1
}

impl GelfSpec {
    fn tcp(&self) -> bool {
        self.address.starts_with("tcp://")
    }

    fn hostport(&self) -> &str {
        self.address
            .split_once("://")
            .map_or(self.address.as_str(), |(_, r)| r)
            .trim_end_matches('/')
    }
}

pub struct Gelf {
    spec: GelfSpec,
    json: Vec<u8>,
}

impl Gelf {
    /// The encoder (for the copy loop) and the sender (for the delivery thread).
    pub fn split(spec: GelfSpec) -> (Box<dyn Encode>, Box<dyn Deliver>) {
        let conn = Conn {
            hostport: spec.hostport().to_string(),
            tcp: spec.tcp(),
            socket: None,
        };
        (
            Box::new(Gelf {
                spec,
                json: Vec::new(),
            }),
            Box::new(conn),
        )
    }

    fn json(&mut self, msg: &Message<'_>) {
        let mut obj = serde_json::Map::new();
        obj.insert("version".into(), "1.1".into());
        obj.insert("host".into(), self.spec.hostname.clone().into());
        obj.insert(
            "short_message".into(),
            String::from_utf8_lossy(msg.text()).into_owned().into(),
        );
        let millis = msg.time.timestamp_millis();
        obj.insert("timestamp".into(), (millis as f64 / 1000.0).into());
        let level = match msg.stream {
            StdStream::Stdout => 6,
            StdStream::Stderr => 3,
        };
        obj.insert("level".into(), level.into());
        for (k, v) in &self.spec.extra {
            obj.insert(k.clone(), v.clone().into());
        }
        if let Some(p) = &msg.partial {
            obj.insert("_partial_message".into(), true.into());
            obj.insert("_partial_id".into(), p.id.clone().into());
            obj.insert("_partial_ordinal".into(), p.ordinal.into());
            obj.insert("_partial_last".into(), p.last.into());
        }
        self.json.clear();
        let _ = serde_json::to_writer(&mut self.json, &obj);
    }
}

impl Encode for Gelf {
    fn encode(&mut self, msg: &Message<'_>, out: &mut Vec<u8>) {
        self.json(msg);
        if self.spec.tcp() {
            out.extend_from_slice(&self.json);
            out.push(0);
            return;
        }
        let level = match self.spec.level {
            l if (0..=9).contains(&l) => flate2::Compression::new(l as u32),
            _ => flate2::Compression::default(),
        };
        match self.spec.compression {
            GelfCompression::None => out.extend_from_slice(&self.json),
            GelfCompression::Gzip => {
                let mut e = flate2::write::GzEncoder::new(out, level);
                let _ = e.write_all(&self.json);
                let _ = e.finish();
            }
            GelfCompression::Zlib => {
                let mut e = flate2::write::ZlibEncoder::new(out, level);
                let _ = e.write_all(&self.json);
                let _ = e.finish();
            }
        }
    }
}

enum Socket {
    Udp(UdpSocket),
    Tcp(TcpStream),
}

struct Conn {
    hostport: String,
    tcp: bool,
    socket: Option<Socket>,
}

impl Conn {
    fn dial(&self) -> std::io::Result<Socket> {
        let to =
            self.hostport.to_socket_addrs()?.next().ok_or_else(|| {
                std::io::Error::other(format!("no address for {}", self.hostport))
            })?;
        if self.tcp {
            let s = TcpStream::connect_timeout(&to, SEND_TIMEOUT)?;
            s.set_write_timeout(Some(SEND_TIMEOUT))?;
            return Ok(Socket::Tcp(s));
        }
        let s = UdpSocket::bind(if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" })?;
        s.connect(to)?;
        Ok(Socket::Udp(s))
    }
}

/// The datagrams of one message: itself when it fits, else GELF chunks
/// (magic, message id, sequence number and count, data).
pub fn chunks(data: &[u8], id: [u8; 8]) -> std::io::Result<Vec<Vec<u8>>> {
    if data.len() <= CHUNK_SIZE {
        return Ok(vec![data.to_vec()]);
    }
    let per = CHUNK_SIZE - CHUNK_HEADER;
    let count = data.len().div_ceil(per);
    if count > MAX_CHUNKS {
        return Err(std::io::Error::other(format!(
            "gelf: message of {} bytes is too large for {MAX_CHUNKS} chunks",
            data.len()
        )));
    }
    Ok(data
        .chunks(per)
        .enumerate()
        .map(|(i, part)| {
            let mut c = Vec::with_capacity(CHUNK_HEADER + part.len());
            c.extend_from_slice(&[0x1e, 0x0f]);
            c.extend_from_slice(&id);
            c.push(i as u8);
            c.push(count as u8);
            c.extend_from_slice(part);
            c
        })
        .collect())
}

fn message_id() -> [u8; 8] {
    use std::hash::BuildHasher;
    let t = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    std::collections::hash_map::RandomState::new()
        .hash_one(t)
        .to_le_bytes()
}

impl Deliver for Conn {
    fn deliver(&mut self, data: &[u8]) -> std::io::Result<()> {
        if self.socket.is_none() {
            self.socket = Some(self.dial()?);
        }
        match self.socket.as_mut() {
            Some(Socket::Tcp(s)) => s.write_all(data),
            Some(Socket::Udp(s)) => {
                for c in chunks(data, message_id())? {
                    s.send(&c)?;
                }
                Ok(())
            }
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
    use std::io::Read;

    fn spec(address: &str, compression: GelfCompression) -> GelfSpec {
        GelfSpec {
            address: address.into(),
            compression,
            level: -1,
            hostname: "h".into(),
            extra: [("_tag".to_string(), "t".to_string())].into(),
        }
    }

    fn msg(line: &[u8]) -> Message<'_> {
        Message {
            stream: StdStream::Stderr,
            time: chrono::DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap(),
            line,
            partial: None,
        }
    }

    #[test]
    fn udp_messages_are_compressed_json_with_the_extras() {
        fn gunzip(d: &[u8]) -> String {
            let mut s = String::new();
            flate2::read::GzDecoder::new(d)
                .read_to_string(&mut s)
                .unwrap();
            s
        }
        fn unzlib(d: &[u8]) -> String {
            let mut s = String::new();
            flate2::read::ZlibDecoder::new(d)
                .read_to_string(&mut s)
                .unwrap();
            s
        }
        fn plain(d: &[u8]) -> String {
            String::from_utf8(d.to_vec()).unwrap()
        }
        type Decode = fn(&[u8]) -> String;
        let cases: [(GelfCompression, Decode); 3] = [
            (GelfCompression::Gzip, gunzip),
            (GelfCompression::Zlib, unzlib),
            (GelfCompression::None, plain),
        ];
        for (c, decode) in cases {
            let (mut enc, _) = Gelf::split(spec("udp://127.0.0.1:1", c));
            let mut out = Vec::new();
            enc.encode(&msg(b"boom\n"), &mut out);
            let v: serde_json::Value = serde_json::from_str(&decode(&out)).unwrap();
            assert_eq!(v["version"], "1.1");
            assert_eq!(v["short_message"], "boom");
            assert_eq!(v["level"], 3);
            assert_eq!(v["timestamp"], 1_700_000_000.123);
            assert_eq!(v["_tag"], "t");
            assert_eq!(v["host"], "h");
        }
        let (mut enc, _) = Gelf::split(spec("tcp://127.0.0.1:1", GelfCompression::Gzip));
        let mut out = Vec::new();
        enc.encode(&msg(b"plain\n"), &mut out);
        assert_eq!(out.last(), Some(&0));
        let v: serde_json::Value = serde_json::from_slice(&out[..out.len() - 1]).unwrap();
        assert_eq!(v["short_message"], "plain");
    }

    #[test]
    fn big_messages_are_chunked_as_graylog_reassembles_them() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        let parts = chunks(&data, [1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        assert_eq!(parts.len(), 5000usize.div_ceil(CHUNK_SIZE - CHUNK_HEADER));
        let mut whole = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            assert!(p.len() <= CHUNK_SIZE);
            assert_eq!(&p[..2], &[0x1e, 0x0f]);
            assert_eq!(&p[2..10], &[1, 2, 3, 4, 5, 6, 7, 8]);
            assert_eq!((p[10] as usize, p[11] as usize), (i, parts.len()));
            whole.extend_from_slice(&p[12..]);
        }
        assert_eq!(whole, data);
        assert_eq!(chunks(b"small", [0; 8]).unwrap(), vec![b"small".to_vec()]);
        assert!(chunks(&vec![0; CHUNK_SIZE * 130], [0; 8]).is_err());
    }
}
