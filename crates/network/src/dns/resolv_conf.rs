use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};

/// glibc reads at most this many `nameserver` lines (MAXNS); later ones are
/// never consulted by the host either.
const MAX_NAMESERVERS: usize = 3;

/// The host's resolvers for a DNS server running in the host network
/// namespace (as the per-network servers do): every `nameserver` of
/// `resolv_conf`, loopback ones included since the host can reach them
/// (e.g. systemd-resolved's 127.0.0.53). With no usable `nameserver` line
/// glibc asks the local host, and so does this.
pub fn upstream_resolvers(resolv_conf: &str) -> Vec<SocketAddr> {
    let found = nameservers(resolv_conf, true);
    if found.is_empty() {
        return vec![SocketAddr::from(([127, 0, 0, 1], 53))];
    }
    found
}

/// The resolvers usable from inside a container's own network namespace:
/// loopback ones are skipped because there they would point at the
/// container itself.
pub fn container_resolvers(resolv_conf: &str) -> Vec<SocketAddr> {
    nameservers(resolv_conf, false)
}

fn nameservers(resolv_conf: &str, keep_loopback: bool) -> Vec<SocketAddr> {
    resolv_conf
        .lines()
        .filter_map(nameserver_value)
        .filter_map(parse_addr)
        .filter(|a| keep_loopback || !a.ip().is_loopback())
        .take(MAX_NAMESERVERS)
        .collect()
}

fn nameserver_value(line: &str) -> Option<&str> {
    let mut words = line.split_whitespace();
    if words.next()? != "nameserver" {
        return None;
    }
    words.next()
}

fn parse_addr(value: &str) -> Option<SocketAddr> {
    if let Ok(ip) = value.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, 53));
    }
    // Link-local IPv6 resolvers come with a zone: `fe80::1%eth0` or `%2`.
    let (ip, zone) = value.split_once('%')?;
    let ip: Ipv6Addr = ip.parse().ok()?;
    let scope = zone.parse::<u32>().ok().or_else(|| if_index(zone))?;
    Some(SocketAddr::V6(SocketAddrV6::new(ip, 53, 0, scope)))
}

fn if_index(name: &str) -> Option<u32> {
    nix::net::if_::if_nametoindex(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    const CONF: &str = "\
# generated
; another comment
search example.com
nameserver 127.0.0.53
options edns0 trust-ad
nameserver\t192.0.2.1   # trailing comment
  nameserver 2001:db8::1
nameserver 192.0.2.9
";

    #[test]
    fn host_resolvers_keep_loopback_and_stop_at_three() {
        assert_eq!(
            upstream_resolvers(CONF),
            vec![
                addr("127.0.0.53:53"),
                addr("192.0.2.1:53"),
                addr("[2001:db8::1]:53")
            ]
        );
    }

    #[test]
    fn container_resolvers_skip_loopback() {
        assert_eq!(
            container_resolvers(CONF),
            vec![
                addr("192.0.2.1:53"),
                addr("[2001:db8::1]:53"),
                addr("192.0.2.9:53")
            ]
        );
        assert!(container_resolvers("nameserver ::1\nnameserver 127.0.0.1\n").is_empty());
    }

    #[test]
    fn no_nameserver_line_means_the_local_host() {
        assert_eq!(
            upstream_resolvers("search lan\n"),
            vec![addr("127.0.0.1:53")]
        );
        assert_eq!(upstream_resolvers(""), vec![addr("127.0.0.1:53")]);
        assert!(container_resolvers("").is_empty());
    }

    #[test]
    fn garbage_nameservers_are_skipped() {
        assert_eq!(
            upstream_resolvers("nameserver not-an-ip\nnameserver\n"),
            vec![addr("127.0.0.1:53")]
        );
        assert_eq!(
            upstream_resolvers("#nameserver 192.0.2.7\nnameserver 192.0.2.8"),
            vec![addr("192.0.2.8:53")]
        );
    }

    #[test]
    fn zoned_link_local_resolvers() {
        let got = upstream_resolvers("nameserver fe80::1%7\nnameserver fe80::2%lo\n");
        let want_lo = if_index("lo").expect("lo exists");
        assert_eq!(
            got,
            vec![
                SocketAddr::V6(SocketAddrV6::new("fe80::1".parse().unwrap(), 53, 0, 7)),
                SocketAddr::V6(SocketAddrV6::new(
                    "fe80::2".parse().unwrap(),
                    53,
                    0,
                    want_lo
                )),
            ]
        );
        assert!(container_resolvers("nameserver fe80::1%no-such-if0\n").is_empty());
    }
}
