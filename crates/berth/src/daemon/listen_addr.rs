//! `HOST:PORT` flags of the daemon's side listeners (`--metrics-addr`,
//! `--ui-addr`): parsed as dockerd parses them, bound at start.

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};

use anyhow::{Context, bail};

/// `127.0.0.1:9323`, `[::1]:9323`, `localhost:9323`, `:80` (every
/// address); empty: none.
pub fn parse(flag: &str, addr: Option<&str>) -> anyhow::Result<Option<SocketAddr>> {
    let Some(addr) = addr.map(str::trim).filter(|a| !a.is_empty()) else {
        return Ok(None);
    };
    let addr = match addr.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => addr.to_string(),
    };
    let addr = addr.as_str();
    if let Ok(a) = addr.parse::<SocketAddr>() {
        return Ok(Some(a));
    }
    if !addr.contains(':') {
        bail!("{flag} {addr:?}: expected HOST:PORT, e.g. 127.0.0.1:9323");
    }
    let resolved = addr
        .to_socket_addrs()
        .with_context(|| format!("{flag} {addr:?}: expected HOST:PORT"))?
        .next()
        .with_context(|| format!("{flag} {addr:?}: no address"))?;
    Ok(Some(resolved))
}

/// Binds now, so a taken port stops the daemon at start rather than
/// failing in the background.
pub fn bind(flag: &str, addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(addr).with_context(|| format!("{flag} {addr}: listening"))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}
