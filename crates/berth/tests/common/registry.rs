//! Registries for the distribution tests: a `berth registry` process, a
//! Debian `docker-registry` process, and a tiny token server for Bearer auth.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::wait_for;

pub fn free_addr() -> String {
    format!("127.0.0.1:{}", super::prometheus::free_port())
}

/// A registry process on a free loopback port, stopped on drop.
pub struct RegistryProcess {
    child: Child,
    pub addr: String,
    pub root: tempfile::TempDir,
}

impl RegistryProcess {
    /// `berth registry serve` with `extra` flags.
    pub fn berth(extra: &[&str]) -> RegistryProcess {
        let root = tempfile::tempdir().unwrap();
        let addr = free_addr();
        let child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(["registry", "serve", "--addr", &addr, "--root"])
            .arg(root.path().join("store"))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Self::wait_up(child, addr, root)
    }

    /// Debian's `docker-registry` (distribution 2.8) with a filesystem root.
    pub fn docker_registry() -> RegistryProcess {
        let root = tempfile::tempdir().unwrap();
        let addr = free_addr();
        let config = root.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
                root.path().join("store").display()
            ),
        )
        .unwrap();
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Self::wait_up(child, addr, root)
    }

    fn wait_up(child: Child, addr: String, root: tempfile::TempDir) -> RegistryProcess {
        let reg = RegistryProcess { child, addr, root };
        let up = wait_for(Duration::from_secs(10), || {
            TcpStream::connect(&reg.addr).ok()
        });
        assert!(up.is_some(), "registry did not start on {}", reg.addr);
        reg
    }
}

impl Drop for RegistryProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A token server in the shape of Docker's token spec: it checks Basic
/// credentials of one user and issues HS256 JWTs granting the requested
/// scopes, signed with a key it shares with the registry.
pub struct TokenServer {
    pub realm: String,
    pub issued: Arc<AtomicUsize>,
    pub refused: Arc<AtomicUsize>,
    addr: String,
}

pub const TOKEN_ISSUER: &str = "e2e-token-server";
pub const TOKEN_SERVICE: &str = "e2e-registry";

impl RegistryProcess {
    /// A `berth registry` that takes bearer tokens from a token server for
    /// `user`/`password` started here, sharing `key` (written into `dir`).
    pub fn berth_behind_tokens(
        dir: &std::path::Path,
        user: &str,
        password: &str,
        key: &[u8],
    ) -> (TokenServer, RegistryProcess) {
        let key_file = dir.join("token.key");
        std::fs::write(&key_file, key).unwrap();
        let tokens = TokenServer::start(user, password, key);
        let reg = RegistryProcess::berth(&[
            "--auth-token-realm",
            &tokens.realm,
            "--auth-token-service",
            TOKEN_SERVICE,
            "--auth-token-issuer",
            TOKEN_ISSUER,
            "--auth-token-key",
            key_file.to_str().unwrap(),
        ]);
        (tokens, reg)
    }
}

impl TokenServer {
    pub fn start(user: &str, password: &str, key: &[u8]) -> TokenServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let issued = Arc::new(AtomicUsize::new(0));
        let refused = Arc::new(AtomicUsize::new(0));
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        );
        let key = key.to_vec();
        let (i, r) = (issued.clone(), refused.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                // A stop request (see Drop) ends the server.
                if !serve_token(conn, &expected, &key, &i, &r) {
                    break;
                }
            }
        });
        TokenServer {
            realm: format!("http://{addr}/token"),
            issued,
            refused,
            addr,
        }
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        if let Ok(mut s) = TcpStream::connect(&self.addr) {
            let _ = s.write_all(b"GET /stop HTTP/1.1\r\n\r\n");
        }
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(v) => out.push(v),
                    Err(_) => out.extend_from_slice(&b[i..i + 3]),
                }
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Serves one request; false when asked to stop.
fn serve_token(
    conn: TcpStream,
    expected: &str,
    key: &[u8],
    issued: &AtomicUsize,
    refused: &AtomicUsize,
) -> bool {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return true;
    }
    let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
    if target == "/stop" {
        return false;
    }
    let mut authorization = String::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("authorization")
        {
            authorization = v.trim().to_string();
        }
    }
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    let mut scopes = Vec::new();
    let mut service = String::new();
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "scope" => scopes.push(percent_decode(v)),
            "service" => service = percent_decode(v),
            _ => {}
        }
    }
    let mut conn = conn;
    if authorization != expected || service != TOKEN_SERVICE {
        refused.fetch_add(1, Ordering::SeqCst);
        let body = r#"{"details":"incorrect username or password"}"#;
        let _ = write!(
            conn,
            "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        return true;
    }
    // `repository:NAME:a,b` (names have no colons; a port-qualified one
    // would, so split the actions off the end).
    let access: Vec<serde_json::Value> = scopes
        .iter()
        .filter_map(|s| {
            let (rest, actions) = s.rsplit_once(':')?;
            let (kind, name) = rest.split_once(':')?;
            Some(serde_json::json!({
                "type": kind, "name": name,
                "actions": actions.split(',').collect::<Vec<_>>(),
            }))
        })
        .collect();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "iss": TOKEN_ISSUER, "aud": TOKEN_SERVICE, "sub": "alice",
        "iat": now, "nbf": now, "exp": now + 300, "access": access,
    });
    let token = mint(key, &claims);
    issued.fetch_add(1, Ordering::SeqCst);
    let body =
        serde_json::json!({ "token": token, "access_token": token, "expires_in": 300 }).to_string();
    let _ = write!(
        conn,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    true
}

pub fn mint(key: &[u8], claims: &serde_json::Value) -> String {
    let e = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let signed = format!(
        "{}.{}",
        e(br#"{"alg":"HS256","typ":"JWT"}"#),
        e(claims.to_string().as_bytes())
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(signed.as_bytes());
    format!("{signed}.{}", e(&mac.finalize().into_bytes()))
}

pub fn write_htpasswd(dir: &Path, user: &str, password: &str) -> std::path::PathBuf {
    let path = dir.join("htpasswd");
    let hash = bcrypt::hash(password, 4).unwrap();
    std::fs::write(&path, format!("{user}:{hash}\n")).unwrap();
    path
}
