//! The addresses `swarm init`/`join` listen on and advertise, read as
//! dockerd reads them.

use super::*;

/// `--listen-addr`: `host[:port]` or `interface[:port]`, the port
/// defaulting to 2377.
pub(super) fn listen_addr(s: &str) -> Result<SocketAddr> {
    let s = if s.is_empty() { "0.0.0.0:2377" } else { s };
    if let Some(a) = parse_host_port(s) {
        return Ok(a);
    }
    by_interface(s, CLUSTER_PORT)?.ok_or_else(|| {
        SwarmError::invalid(format!(
            "invalid listen address {s:?}: listen address must be an IP address or network interface (with optional port number)"
        ))
    })
}

/// `name[:port]` as the address of interface `name`; `Ok(None)` when no
/// interface has that name.
fn by_interface(s: &str, default_port: u16) -> Result<Option<SocketAddr>> {
    let (name, port) = match s.rsplit_once(':') {
        Some((n, p)) => match p.parse::<u16>() {
            Ok(p) => (n, p),
            Err(_) => return Ok(None),
        },
        None => (s, default_port),
    };
    let addrs = match nix::ifaddrs::getifaddrs() {
        Ok(a) => a,
        Err(e) => return Err(SwarmError::internal(format!("listing addresses: {e}"))),
    };
    let mut found = false;
    let mut ips = Vec::new();
    for a in addrs.filter(|a| a.interface_name == name) {
        found = true;
        let ip = a.address.as_ref().and_then(|s| {
            s.as_sockaddr_in()
                .map(|v4| IpAddr::V4(v4.ip()))
                .or_else(|| s.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
        });
        ips.extend(ip);
    }
    if !found {
        return Ok(None);
    }
    let ip = pick_interface_addr(name, &ips).map_err(SwarmError::invalid)?;
    Ok(Some(SocketAddr::new(ip, port)))
}

/// dockerd's rule for an interface given by name: its one IPv4 address,
/// else its one IPv6 address (link-local ones left out).
fn pick_interface_addr(name: &str, ips: &[IpAddr]) -> std::result::Result<IpAddr, String> {
    let v4: Vec<IpAddr> = ips.iter().copied().filter(IpAddr::is_ipv4).collect();
    let v6: Vec<IpAddr> = ips
        .iter()
        .copied()
        .filter(|ip| matches!(ip, IpAddr::V6(v6) if !v6.is_unicast_link_local()))
        .collect();
    for (family, list) in [("IPv4", &v4), ("IPv6", &v6)] {
        if let [a, b, ..] = list.as_slice() {
            return Err(format!(
                "interface {name} has more than one {family} address ({a} and {b})"
            ));
        }
    }
    v4.first()
        .or(v6.first())
        .copied()
        .ok_or_else(|| format!("interface {name} has no usable IPv4 or IPv6 address"))
}

/// `--advertise-addr`: an address or an interface name (with an optional
/// port), else the listen address when that is a concrete one, else the
/// system's one address as dockerd picks it.
pub(super) async fn advertise_addr(s: &str, listen: SocketAddr) -> Result<SocketAddr> {
    if s.is_empty() {
        if listen.ip().is_unspecified() {
            let ip = system_addr().await.map_err(SwarmError::invalid)?;
            return Ok(SocketAddr::new(ip, listen.port()));
        }
        return Ok(listen);
    }
    let with_port = parse_host_port(s).map(|mut a| {
        if !s.contains(':') || s.ends_with(']') {
            a.set_port(listen.port());
        }
        a
    });
    if let Some(a) = with_port {
        return Ok(a);
    }
    by_interface(s, listen.port())?.ok_or_else(|| {
        SwarmError::invalid(format!(
            "advertise address must be a non-zero IP address or network interface (with optional port number): {s}"
        ))
    })
}

/// dockerd's choice of an address to advertise when none is given: the
/// only global unicast address on an up hardware interface (bridges,
/// veths and the other virtual links are the host's plumbing, not its
/// identity), IPv4 before IPv6 on one interface; several are ambiguous.
pub(super) async fn system_addr() -> std::result::Result<IpAddr, String> {
    // Asked of netlink in this daemon's namespace (sysfs may show another's).
    let devices = network::device_links()
        .await
        .map_err(|e| format!("listing links: {e}"))?;
    let addrs = nix::ifaddrs::getifaddrs().map_err(|e| format!("listing addresses: {e}"))?;
    let mut per_if: Vec<(String, Vec<IpAddr>)> = Vec::new();
    for a in addrs {
        let up = a.flags.contains(nix::net::if_::InterfaceFlags::IFF_UP);
        if !up || !devices.contains(&a.interface_name) {
            continue;
        }
        let Some(ip) = a.address.as_ref().and_then(|s| {
            s.as_sockaddr_in()
                .map(|v4| IpAddr::V4(v4.ip()))
                .or_else(|| s.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
        }) else {
            continue;
        };
        let global = match ip {
            IpAddr::V4(v4) => !(v4.is_loopback() || v4.is_link_local() || v4.is_unspecified()),
            IpAddr::V6(v6) => {
                !(v6.is_loopback() || v6.is_unicast_link_local() || v6.is_unspecified())
            }
        };
        if !global {
            continue;
        }
        match per_if.iter_mut().find(|(n, _)| *n == a.interface_name) {
            Some((_, ips)) => ips.push(ip),
            None => per_if.push((a.interface_name.clone(), vec![ip])),
        }
    }
    pick_system_addr(&per_if)
}

pub(super) fn pick_system_addr(
    per_if: &[(String, Vec<IpAddr>)],
) -> std::result::Result<IpAddr, String> {
    let mut chosen: Option<(&str, IpAddr)> = None;
    for (name, ips) in per_if {
        let v4: Vec<IpAddr> = ips.iter().copied().filter(IpAddr::is_ipv4).collect();
        let v6: Vec<IpAddr> = ips.iter().copied().filter(IpAddr::is_ipv6).collect();
        for family in [&v4, &v6] {
            if let [a, b, ..] = family.as_slice() {
                return Err(format!(
                    "could not choose an IP address to advertise since this system has multiple addresses on interface {name} ({a} and {b})"
                ));
            }
        }
        let Some(ip) = v4.first().or(v6.first()).copied() else {
            continue;
        };
        if let Some((other, prev)) = chosen {
            return Err(format!(
                "could not choose an IP address to advertise since this system has multiple addresses on different interfaces ({prev} on {other} and {ip} on {name})"
            ));
        }
        chosen = Some((name, ip));
    }
    chosen
        .map(|(_, ip)| ip)
        .ok_or_else(|| "could not find the system's IP address".to_string())
}

pub(super) fn parse_host_port(s: &str) -> Option<SocketAddr> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Some(a);
    }
    let ip: IpAddr = s.trim_matches(['[', ']']).parse().ok()?;
    Some(SocketAddr::new(ip, CLUSTER_PORT))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn addresses_as_dockerd_reads_them() {
        assert_eq!(listen_addr("").unwrap().to_string(), "0.0.0.0:2377");
        assert_eq!(
            listen_addr("10.0.0.1:4000").unwrap().to_string(),
            "10.0.0.1:4000"
        );
        assert_eq!(
            listen_addr("10.0.0.1").unwrap().to_string(),
            "10.0.0.1:2377"
        );
        assert!(listen_addr("nosuchif0").is_err());
        let l = listen_addr("").unwrap();
        assert_eq!(
            advertise_addr("127.0.0.1", l).await.unwrap().to_string(),
            "127.0.0.1:2377"
        );
        assert_eq!(
            advertise_addr("10.1.2.3:9", l).await.unwrap().to_string(),
            "10.1.2.3:9"
        );
        assert_eq!(
            advertise_addr("lo", l).await.unwrap().to_string(),
            "127.0.0.1:2377",
            "an interface by name"
        );
        assert_eq!(
            listen_addr("lo:4000").unwrap().to_string(),
            "127.0.0.1:4000"
        );
        assert!(advertise_addr("nosuchif0", l).await.is_err());
        let both =
            |ips: &[&str]| -> Vec<IpAddr> { ips.iter().map(|i| i.parse().unwrap()).collect() };
        assert_eq!(
            pick_interface_addr("eth0", &both(&["fd00::1", "fe80::1", "10.0.0.1"])).unwrap(),
            "10.0.0.1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            pick_interface_addr("eth0", &both(&["10.0.0.1", "10.0.0.2"])).unwrap_err(),
            "interface eth0 has more than one IPv4 address (10.0.0.1 and 10.0.0.2)"
        );
        assert!(
            pick_interface_addr("eth0", &[])
                .unwrap_err()
                .contains("no usable")
        );
        // Nothing given on a wildcard listen address: the system's one address.
        let one =
            |ips: &[&str]| -> Vec<IpAddr> { ips.iter().map(|i| i.parse().unwrap()).collect() };
        assert_eq!(
            pick_system_addr(&[("eth0".into(), one(&["10.1.1.1", "fd00::1"]))]).unwrap(),
            "10.1.1.1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            pick_system_addr(&[]).unwrap_err(),
            "could not find the system's IP address"
        );
        assert!(
            pick_system_addr(&[("eth0".into(), one(&["10.1.1.1", "10.1.1.2"]))])
                .unwrap_err()
                .contains("multiple addresses on interface eth0 (10.1.1.1 and 10.1.1.2)")
        );
        assert!(
            pick_system_addr(&[
                ("eth0".into(), one(&["10.1.1.1"])),
                ("eth1".into(), one(&["10.2.2.2"]))
            ])
            .unwrap_err()
            .contains("(10.1.1.1 on eth0 and 10.2.2.2 on eth1)")
        );
        let concrete = listen_addr("10.0.0.5").unwrap();
        assert_eq!(advertise_addr("", concrete).await.unwrap(), concrete);
    }
}
