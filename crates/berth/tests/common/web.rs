//! A web server in a container and a client on the host, for tests of
//! published ports.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::Daemon;

/// `httpd` serving a page that names the container, detached.
pub fn web(d: &Daemon, name: &str, extra: &[&str]) {
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(extra);
    let script = format!(
        "mkdir -p /www && echo hello-from-{name} > /www/index.html && exec httpd -f -p 80 -h /www"
    );
    args.extend_from_slice(&["busybox", "sh", "-c", &script]);
    d.docker_ok(&args);
}

/// A plain HTTP GET from the host; the body, or None when nothing answers.
pub fn http_get(addr: &str) -> Option<String> {
    for _ in 0..30 {
        if let Ok(mut s) = TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_secs(2)) {
            s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
            let _ = write!(s, "GET / HTTP/1.0\r\nHost: x\r\n\r\n");
            let mut body = String::new();
            if s.read_to_string(&mut body).is_ok() && body.contains("200") {
                return Some(body);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// One HTTP/1.1 request to 127.0.0.1:`port` with this `Host`, on a fresh
/// connection (an HTTP router's view); the status and body.
pub fn get_host(port: u16, host: &str, path: &str) -> Option<(u16, String)> {
    let head = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    request(port, &head, b"")
}

/// One request to 127.0.0.1:`port` on a fresh connection: `head` (request
/// line and headers, up to the blank line) and `body` as they are; the
/// status and body of the answer, read until the connection closes.
pub fn request(port: u16, head: &str, body: &[u8]) -> Option<(u16, String)> {
    let mut s =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let status = raw.split(' ').nth(1)?.parse().ok()?;
    let body = raw.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}
