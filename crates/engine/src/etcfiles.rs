//! The files Docker bind-mounts over /etc/hostname, /etc/hosts and /etc/resolv.conf.

use std::fs;

use std::net::Ipv4Addr;

use crate::model::ContainerRecord;
use crate::networking::NetworkState;

/// Written in place (same inode) with mode 0644 whatever the daemon's umask:
/// every user of the container reads them; their directory (0700) keeps
/// other host users out. A start rewrites what the create wrote, mostly to
/// the same bytes: those are left alone, and new bytes overwrite the old
/// before the file is cut to their length, so the file keeps its block
/// instead of freeing it (a synchronous discard on a `discard` mount) and
/// allocating another.
fn write_visible(path: &std::path::Path, data: impl AsRef<[u8]>) -> std::io::Result<()> {
    use std::io::{Read, Write};
    use std::os::unix::fs::OpenOptionsExt;
    let data = data.as_ref();
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(crate::perms::CONTAINER_FILE)
        .open(path)?;
    let mut old = Vec::with_capacity(data.len() + 1);
    (&mut file)
        .take(data.len() as u64 + 1)
        .read_to_end(&mut old)?;
    if old == data {
        return Ok(());
    }
    std::io::Seek::rewind(&mut file)?;
    file.write_all(data)?;
    if old.len() > data.len() {
        file.set_len(data.len() as u64)?;
    }
    Ok(())
}

/// At create: the files before any network is attached.
pub fn write_all(record: &ContainerRecord) -> std::io::Result<()> {
    let hostname = &record.config.hostname;
    write_visible(&record.hostname_path, format!("{hostname}\n"))?;
    write_network(record, &NetworkState::default(), None, None, &[])
}

/// /etc/hosts and /etc/resolv.conf for the container's endpoints. Written
/// in place (same inode): they are bind-mounted into running containers,
/// which `network connect` must update.
pub fn write_network(
    record: &ContainerRecord,
    net: &NetworkState,
    dns_server: Option<Ipv4Addr>,
    host_gateway: Option<Ipv4Addr>,
    links: &[String],
) -> std::io::Result<()> {
    let host_net = record.host_config.network_mode == "host";
    let hostname = &record.config.hostname;
    let mut hosts = if host_net {
        fs::read_to_string("/etc/hosts").unwrap_or_default()
    } else {
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n\
         ff02::2\tip6-allrouters\n"
            .to_string()
    };
    for entry in record.host_config.extra_hosts.iter().flatten() {
        // "name:ip" (the ip may itself contain ':' for IPv6).
        if let Some((name, ip)) = entry.split_once(':') {
            let ip = match (ip, host_gateway) {
                ("host-gateway", Some(gw)) => gw.to_string(),
                ("host-gateway", None) => continue,
                _ => ip.to_string(),
            };
            hosts.push_str(&format!("{ip}\t{name}\n"));
        }
    }
    if !host_net {
        let names = if record.config.domainname.is_empty() {
            hostname.clone()
        } else {
            format!("{hostname}.{} {hostname}", record.config.domainname)
        };
        // dockerd lists each IPv4 address, then each IPv6 one.
        let mut ips: Vec<std::net::IpAddr> = net.endpoints.values().map(|e| e.ip.into()).collect();
        ips.extend(
            net.endpoints
                .values()
                .filter_map(|e| e.ip6)
                .map(std::net::IpAddr::V6),
        );
        ips.dedup();
        if ips.is_empty() {
            hosts.push_str(&format!("127.0.1.1\t{names}\n"));
        }
        for ip in ips {
            hosts.push_str(&format!("{ip}\t{names}\n"));
        }
    }
    for line in links {
        hosts.push_str(line);
        hosts.push('\n');
    }
    write_visible(&record.hosts_path, hosts)?;
    let host_resolv = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let dns = record.host_config.dns.as_deref().unwrap_or(&[]);
    let resolv = match dns_server {
        _ if host_net => host_resolv,
        // The embedded server answers container names and forwards the rest
        // to the host's resolvers; --dns servers come after it.
        Some(server) => {
            let mut servers = vec![server.to_string()];
            // The resolver in the container forwards to the --dns servers
            // itself, so (as dockerd) they are not listed beside it.
            if !server.is_loopback() {
                servers.extend(dns.iter().cloned());
            }
            let kept: String = host_resolv
                .lines()
                .filter(|l| !l.trim_start().starts_with("nameserver"))
                .map(|l| format!("{l}\n"))
                .collect();
            kept + &servers
                .iter()
                .map(|s| format!("nameserver {s}\n"))
                .collect::<String>()
        }
        None => container_resolv_conf(&host_resolv, dns),
    };
    let resolv = with_search_and_options(
        resolv,
        record.host_config.dns_search.as_deref().unwrap_or(&[]),
        record.host_config.dns_options.as_deref().unwrap_or(&[]),
    );
    write_visible(&record.resolv_conf_path, resolv)
}

/// `--dns-search` and `--dns-option` replace the host's lines of that kind.
fn with_search_and_options(resolv: String, search: &[String], options: &[String]) -> String {
    let replaced = |line: &str| {
        let line = line.trim_start();
        (!search.is_empty() && (line.starts_with("search") || line.starts_with("domain")))
            || (!options.is_empty() && line.starts_with("options"))
    };
    let mut out: String = resolv
        .lines()
        .filter(|l| !replaced(l))
        .map(|l| format!("{l}\n"))
        .collect();
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    out
}

/// A private network namespace cannot reach the host's loopback resolvers, so
/// Docker drops them and falls back to public resolvers when none remain.
fn container_resolv_conf(host: &str, dns: &[String]) -> String {
    let mut out = String::new();
    let mut nameservers = 0;
    for line in host.lines() {
        let trimmed = line.trim();
        if let Some(ns) = trimmed.strip_prefix("nameserver") {
            let ns = ns.trim();
            if !dns.is_empty() || ns.starts_with("127.") || ns == "::1" {
                continue;
            }
            nameservers += 1;
        }
        out.push_str(line);
        out.push('\n');
    }
    for ns in dns {
        out.push_str(&format!("nameserver {ns}\n"));
        nameservers += 1;
    }
    if nameservers == 0 {
        out.push_str("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_resolvers_are_replaced() {
        let out = container_resolv_conf("search lan\nnameserver 127.0.0.53\n", &[]);
        assert!(out.contains("search lan"));
        assert!(!out.contains("127.0.0.53"));
        assert!(out.contains("nameserver 8.8.8.8"));
    }

    #[test]
    fn explicit_dns_wins() {
        let out = container_resolv_conf("nameserver 10.0.0.1\n", &["1.1.1.1".into()]);
        assert!(!out.contains("10.0.0.1"));
        assert!(out.contains("nameserver 1.1.1.1"));
    }

    #[test]
    fn search_and_options_replace_the_hosts() {
        let out = with_search_and_options(
            "search lan\noptions ndots:1\nnameserver 10.0.0.1\n".into(),
            &["example.com".into()],
            &["ndots:3".into()],
        );
        assert_eq!(
            out,
            "nameserver 10.0.0.1\nsearch example.com\noptions ndots:3\n"
        );
        let same = with_search_and_options("search lan\n".into(), &[], &[]);
        assert_eq!(same, "search lan\n");
    }

    /// Rewrites keep the inode (the file is bind-mounted into a running
    /// container), leave identical bytes untouched, and cut a longer
    /// old content to the new length.
    #[test]
    fn rewrites_stay_in_place() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts");
        write_visible(&path, "127.0.0.1\tlocalhost\n10.0.0.2\tweb\n").unwrap();
        let meta = fs::metadata(&path).unwrap();
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000))
            .unwrap();
        write_visible(&path, "127.0.0.1\tlocalhost\n10.0.0.2\tweb\n").unwrap();
        assert_eq!(fs::metadata(&path).unwrap().mtime(), 1_000_000, "rewritten");
        write_visible(&path, "127.0.0.1\tlocalhost\n").unwrap();
        let after = fs::metadata(&path).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "127.0.0.1\tlocalhost\n");
        assert_eq!(after.ino(), meta.ino());
        assert_ne!(after.mtime(), 1_000_000);
        write_visible(&path, "127.0.0.1\tlocalhost\n10.0.0.3\tdb\n").unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "127.0.0.1\tlocalhost\n10.0.0.3\tdb\n"
        );
        assert_eq!(fs::metadata(&path).unwrap().ino(), meta.ino());
    }

    #[test]
    fn reachable_resolvers_are_kept() {
        let out = container_resolv_conf("nameserver 10.0.0.1\n", &[]);
        assert_eq!(out, "nameserver 10.0.0.1\n");
    }
}
