//! The files Docker bind-mounts over /etc/hostname, /etc/hosts and /etc/resolv.conf.

use std::fs;

use crate::model::ContainerRecord;

pub fn write_all(record: &ContainerRecord) -> std::io::Result<()> {
    let host_net = record.host_config.network_mode == "host";
    let hostname = &record.config.hostname;
    fs::write(&record.hostname_path, format!("{hostname}\n"))?;
    let mut hosts = if host_net {
        fs::read_to_string("/etc/hosts").unwrap_or_default()
    } else {
        format!(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
             fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n\
             ff02::2\tip6-allrouters\n127.0.1.1\t{hostname}\n"
        )
    };
    for entry in record.host_config.extra_hosts.iter().flatten() {
        // "name:ip" (the ip may itself contain ':' for IPv6).
        if let Some((name, ip)) = entry.split_once(':') {
            hosts.push_str(&format!("{ip}\t{name}\n"));
        }
    }
    fs::write(&record.hosts_path, hosts)?;
    let host_resolv = fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let resolv = if host_net {
        host_resolv
    } else {
        container_resolv_conf(
            &host_resolv,
            record.host_config.dns.as_deref().unwrap_or(&[]),
        )
    };
    let resolv = with_search_and_options(
        resolv,
        record.host_config.dns_search.as_deref().unwrap_or(&[]),
        record.host_config.dns_options.as_deref().unwrap_or(&[]),
    );
    fs::write(&record.resolv_conf_path, resolv)
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

    #[test]
    fn reachable_resolvers_are_kept() {
        let out = container_resolv_conf("nameserver 10.0.0.1\n", &[]);
        assert_eq!(out, "nameserver 10.0.0.1\n");
    }
}
