//! The headers a proxy adds (`X-Forwarded-*`, RFC 7239 `Forwarded`) and the
//! hop-by-hop ones it must not pass on (RFC 9110 §7.6.1).

use std::net::IpAddr;

use hyper::HeaderMap;
use hyper::header::{self, HeaderName, HeaderValue};

// Names as values: a `&str` name is parsed again on every use, and a proxy
// uses these on every request.
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    KEEP_ALIVE,
    PROXY_CONNECTION,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// Removes hop-by-hop headers and those `Connection` names. An upgrade keeps
/// `Connection: upgrade` and `Upgrade`: the backend must see the request.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    if headers.contains_key(header::CONNECTION) {
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
            .collect();
        for n in named {
            if !(upgrade && n == header::UPGRADE) {
                headers.remove(n);
            }
        }
    }
    for n in &HOP_BY_HOP {
        headers.remove(n);
    }
    if upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(header::UPGRADE);
    }
}

/// Appends the client to `X-Forwarded-For` and `Forwarded`, and sets
/// `X-Forwarded-Proto`/`-Host` to what this hop saw.
pub fn add(headers: &mut HeaderMap, client: IpAddr, proto: &'static str, host: &str) {
    let prior = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let (xff, forwarded) = values(
        prior(&X_FORWARDED_FOR),
        prior(&header::FORWARDED),
        client,
        proto,
        host,
    );
    for (name, value) in [(X_FORWARDED_FOR, xff), (header::FORWARDED, forwarded)] {
        if let Ok(v) = HeaderValue::try_from(value) {
            headers.insert(name, v);
        }
    }
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(proto));
    if let Ok(v) = HeaderValue::from_str(host) {
        headers.insert(X_FORWARDED_HOST, v);
    }
}

/// `X-Forwarded-For` and `Forwarded` with this hop's client appended to
/// the first values the request came with (`prior_xff`, `prior_forwarded`).
pub fn values(
    prior_xff: Option<&str>,
    prior_forwarded: Option<&str>,
    client: IpAddr,
    proto: &str,
    host: &str,
) -> (String, String) {
    let ip = client.to_string();
    let xff = match prior_xff {
        Some(prior) if !prior.trim().is_empty() => format!("{prior}, {ip}"),
        _ => ip.clone(),
    };
    let mut element = String::with_capacity(ip.len() + host.len() + 32);
    element.push_str("for=");
    match client {
        IpAddr::V4(_) => element.push_str(&ip),
        IpAddr::V6(_) => {
            element.push_str("\"[");
            element.push_str(&ip);
            element.push_str("]\"");
        }
    }
    element.push_str(";proto=");
    element.push_str(proto);
    if !host.is_empty() {
        element.push_str(";host=");
        element.push_str(&quote_if_needed(host));
    }
    let forwarded = match prior_forwarded {
        Some(prior) if !prior.trim().is_empty() => format!("{prior}, {element}"),
        _ => element,
    };
    (xff, forwarded)
}

/// RFC 7239 values are tokens or quoted strings; `host:port` needs quotes.
fn quote_if_needed(v: &str) -> String {
    if v.chars()
        .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
    {
        v.to_string()
    } else {
        format!("\"{}\"", v.replace(['"', '\\'], ""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_hop_sets_everything() {
        let mut h = HeaderMap::new();
        add(&mut h, "192.0.2.7".parse().unwrap(), "http", "app.test");
        assert_eq!(h["x-forwarded-for"], "192.0.2.7");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "app.test");
        assert_eq!(h["forwarded"], "for=192.0.2.7;proto=http;host=app.test");
    }

    #[test]
    fn later_hops_append_and_ipv6_and_ports_are_quoted() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.1"));
        h.insert("forwarded", HeaderValue::from_static("for=203.0.113.1"));
        add(
            &mut h,
            "2001:db8::1".parse().unwrap(),
            "https",
            "app.test:8443",
        );
        assert_eq!(h["x-forwarded-for"], "203.0.113.1, 2001:db8::1");
        assert_eq!(
            h["forwarded"],
            "for=203.0.113.1, for=\"[2001:db8::1]\";proto=https;host=\"app.test:8443\""
        );
    }

    #[test]
    fn hop_by_hop_headers_go_and_upgrades_keep_theirs() {
        let mut h = HeaderMap::new();
        h.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-private"),
        );
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("upgrade", HeaderValue::from_static("websocket"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        let mut up = h.clone();
        strip_hop_by_hop(&mut h, false);
        assert!(h.get("x-private").is_none() && h.get("keep-alive").is_none());
        assert!(h.get("connection").is_none() && h.get("upgrade").is_none());
        assert_eq!(h["x-kept"], "1");
        up.insert("connection", HeaderValue::from_static("Upgrade"));
        strip_hop_by_hop(&mut up, true);
        assert_eq!(up["connection"], "upgrade");
        assert_eq!(up["upgrade"], "websocket");
    }
}
