use parking_lot::RwLock;
use std::collections::HashMap;
use std::net::IpAddr;

/// Length of the short container ID that Docker makes resolvable.
pub const SHORT_ID_LEN: usize = 12;

/// The names one network's DNS server answers for itself.
///
/// Thread-safe; the engine mutates it while the server reads it. Names are
/// case-insensitive and a trailing dot is ignored, so `Web.`, `web` and
/// `WEB` are the same name. Several addresses may share a name (an alias
/// used by several containers): all are returned, in insertion order.
#[derive(Debug, Default)]
pub struct DnsRecords {
    domain: Option<String>,
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    names: HashMap<String, Vec<IpAddr>>,
    /// Only primary names (container names) answer reverse lookups, as with
    /// Docker: aliases are shared and would make PTR ambiguous.
    reverse: HashMap<IpAddr, Vec<String>>,
    /// Names a cluster defines on an overlay network (services, their
    /// tasks, aliases), replaced as a whole on every change; the local
    /// containers' own names come first.
    cluster: HashMap<String, Vec<IpAddr>>,
}

impl DnsRecords {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that also answer `<name>.<domain>` (Docker answers
    /// `<container>.<network name>`), and whose PTR answers carry it.
    pub fn with_domain(domain: &str) -> Self {
        let domain = normalize(domain);
        Self {
            domain: (!domain.is_empty()).then_some(domain),
            inner: RwLock::default(),
        }
    }

    pub fn domain(&self) -> Option<&str> {
        self.domain.as_deref()
    }

    /// A container's own name: resolvable and used for reverse lookups.
    pub fn add(&self, name: &str, ip: IpAddr) {
        let name = normalize(name);
        if name.is_empty() {
            return;
        }
        let mut inner = self.write();
        push_unique(inner.names.entry(name.clone()).or_default(), ip);
        push_unique(inner.reverse.entry(ip).or_default(), name);
    }

    /// A network alias (or the short ID): resolvable, never a PTR answer.
    pub fn add_alias(&self, alias: &str, ip: IpAddr) {
        let alias = normalize(alias);
        if alias.is_empty() {
            return;
        }
        push_unique(self.write().names.entry(alias).or_default(), ip);
    }

    /// Everything Docker makes resolvable for a container on a network: its
    /// name, its short ID and its aliases.
    pub fn add_container(&self, name: &str, id: &str, aliases: &[String], ip: IpAddr) {
        self.add(name.trim_start_matches('/'), ip);
        let short: String = id.chars().take(SHORT_ID_LEN).collect();
        self.add_alias(&short, ip);
        for alias in aliases {
            self.add_alias(alias, ip);
        }
    }

    /// Drops one name (primary or alias) for one address, e.g. on rename.
    pub fn remove(&self, name: &str, ip: IpAddr) {
        let name = normalize(name);
        let mut inner = self.write();
        if let Some(ips) = inner.names.get_mut(&name) {
            ips.retain(|i| *i != ip);
            if ips.is_empty() {
                inner.names.remove(&name);
            }
        }
        if let Some(names) = inner.reverse.get_mut(&ip) {
            names.retain(|n| *n != name);
            if names.is_empty() {
                inner.reverse.remove(&ip);
            }
        }
    }

    /// Forgets every name of an address (container disconnected or gone).
    pub fn remove_ip(&self, ip: IpAddr) {
        let mut inner = self.write();
        inner.names.retain(|_, ips| {
            ips.retain(|i| *i != ip);
            !ips.is_empty()
        });
        inner.reverse.remove(&ip);
    }

    /// Replaces the names the cluster defines (see [`Inner::cluster`]).
    pub fn set_cluster_names(&self, names: impl IntoIterator<Item = (String, Vec<IpAddr>)>) {
        let cluster = names
            .into_iter()
            .map(|(n, ips)| (normalize(&n), ips))
            .filter(|(n, _)| !n.is_empty())
            .collect();
        self.write().cluster = cluster;
    }

    /// The addresses of a name, or `None` when this network does not know
    /// it (and the query should go upstream).
    pub fn lookup(&self, name: &str) -> Option<Vec<IpAddr>> {
        let name = normalize(name);
        let inner = self.read();
        let find = |n: &str| inner.names.get(n).or_else(|| inner.cluster.get(n)).cloned();
        if let Some(ips) = find(&name) {
            return Some(ips);
        }
        let short = self.strip_domain(&name)?;
        find(short)
    }

    /// The fully qualified name for a reverse lookup of `ip`.
    pub fn lookup_ptr(&self, ip: IpAddr) -> Option<String> {
        let inner = self.read();
        let name = inner.reverse.get(&ip)?.first()?;
        Some(match &self.domain {
            Some(d) => format!("{name}.{d}."),
            None => format!("{name}."),
        })
    }

    pub fn is_empty(&self) -> bool {
        let inner = self.read();
        inner.names.is_empty() && inner.cluster.is_empty()
    }

    fn strip_domain<'a>(&self, name: &'a str) -> Option<&'a str> {
        let domain = self.domain.as_deref()?;
        let short = name.strip_suffix(domain)?.strip_suffix('.')?;
        (!short.is_empty()).then_some(short)
    }

    // A poisoned lock only means a writer panicked between two plain map
    // operations; the maps are still usable, so serving goes on.
    fn read(&self) -> parking_lot::RwLockReadGuard<'_, Inner> {
        self.inner.read()
    }

    fn write(&self) -> parking_lot::RwLockWriteGuard<'_, Inner> {
        self.inner.write()
    }
}

fn normalize(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, item: T) {
    if !v.contains(&item) {
        v.push(item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn names_are_case_insensitive_and_ignore_the_trailing_dot() {
        let r = DnsRecords::new();
        r.add("Web", ip("10.1.0.2"));
        for q in ["web", "WEB", "web.", "wEb."] {
            assert_eq!(r.lookup(q), Some(vec![ip("10.1.0.2")]), "{q}");
        }
        assert_eq!(r.lookup("db"), None);
    }

    #[test]
    fn aliases_resolve_but_do_not_answer_ptr() {
        let r = DnsRecords::new();
        r.add_alias("cache", ip("10.1.0.3"));
        assert_eq!(r.lookup("cache"), Some(vec![ip("10.1.0.3")]));
        assert_eq!(r.lookup_ptr(ip("10.1.0.3")), None);
        r.add("redis", ip("10.1.0.3"));
        assert_eq!(r.lookup_ptr(ip("10.1.0.3")).as_deref(), Some("redis."));
    }

    #[test]
    fn shared_alias_returns_every_address_once() {
        let r = DnsRecords::new();
        r.add_alias("api", ip("10.1.0.2"));
        r.add_alias("api", ip("10.1.0.3"));
        r.add_alias("API", ip("10.1.0.2"));
        assert_eq!(r.lookup("api"), Some(vec![ip("10.1.0.2"), ip("10.1.0.3")]));
    }

    #[test]
    fn container_gets_name_short_id_and_aliases() {
        let r = DnsRecords::new();
        let id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        r.add_container("/web", id, &["front".into()], ip("10.1.0.2"));
        for q in ["web", "0123456789ab", "front"] {
            assert_eq!(r.lookup(q), Some(vec![ip("10.1.0.2")]), "{q}");
        }
        assert_eq!(r.lookup("0123456789abc"), None);
        assert_eq!(r.lookup(id), None);
    }

    #[test]
    fn remove_ip_forgets_every_name_of_that_address_only() {
        let r = DnsRecords::new();
        r.add("web", ip("10.1.0.2"));
        r.add_alias("api", ip("10.1.0.2"));
        r.add_alias("api", ip("10.1.0.3"));
        r.add("db", ip("10.1.0.3"));
        r.remove_ip(ip("10.1.0.2"));
        assert_eq!(r.lookup("web"), None);
        assert_eq!(r.lookup("api"), Some(vec![ip("10.1.0.3")]));
        assert_eq!(r.lookup_ptr(ip("10.1.0.2")), None);
        assert_eq!(r.lookup_ptr(ip("10.1.0.3")).as_deref(), Some("db."));
        r.remove_ip(ip("10.1.0.3"));
        assert!(r.is_empty());
    }

    #[test]
    fn remove_one_name_keeps_the_others() {
        let r = DnsRecords::new();
        r.add("old", ip("10.1.0.2"));
        r.add("new", ip("10.1.0.2"));
        r.remove("OLD.", ip("10.1.0.2"));
        assert_eq!(r.lookup("old"), None);
        assert_eq!(r.lookup_ptr(ip("10.1.0.2")).as_deref(), Some("new."));
    }

    #[test]
    fn domain_suffix_resolves_and_names_ptr() {
        let r = DnsRecords::with_domain("MyNet");
        r.add("web", ip("10.1.0.2"));
        assert_eq!(r.lookup("web.mynet."), Some(vec![ip("10.1.0.2")]));
        assert_eq!(r.lookup("WEB.MYNET"), Some(vec![ip("10.1.0.2")]));
        assert_eq!(r.lookup("mynet"), None);
        assert_eq!(r.lookup("web.othernet"), None);
        assert_eq!(r.lookup("xweb.mynet"), None);
        assert_eq!(r.lookup_ptr(ip("10.1.0.2")).as_deref(), Some("web.mynet."));
    }

    #[test]
    fn empty_names_are_ignored() {
        let r = DnsRecords::new();
        r.add("", ip("10.1.0.2"));
        r.add_alias(" . ", ip("10.1.0.2"));
        assert!(r.is_empty());
    }
}
