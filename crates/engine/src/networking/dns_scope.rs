//! Name lookups per asking container: a container on several user networks
//! resolves the names of all of them, whichever network's server it asks
//! (its resolv.conf names only one), as Docker's per-container resolver does.

use parking_lot::RwLock;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use network::dns::{DnsRecords, NameSource};

/// Client address -> the name tables of every user network its container is on.
#[derive(Debug, Default)]
pub struct DnsDirectory {
    by_client: RwLock<HashMap<IpAddr, Vec<Arc<DnsRecords>>>>,
}

impl DnsDirectory {
    /// Every address of one container now sees `tables`.
    pub fn set(&self, addresses: &[IpAddr], tables: &[Arc<DnsRecords>]) {
        let mut map = self.by_client.write();
        for ip in addresses {
            map.insert(*ip, tables.to_vec());
        }
    }

    pub fn forget(&self, ip: IpAddr) {
        self.by_client.write().remove(&ip);
    }

    pub(crate) fn tables(&self, client: IpAddr) -> Vec<Arc<DnsRecords>> {
        self.by_client
            .read()
            .get(&client)
            .cloned()
            .unwrap_or_default()
    }
}

/// What one network's server answers: its own names first, then those of
/// the asker's other networks.
#[derive(Debug)]
pub struct ScopedNames {
    pub own: Arc<DnsRecords>,
    pub directory: Arc<DnsDirectory>,
}

impl NameSource for ScopedNames {
    fn lookup(&self, client: IpAddr, name: &str) -> Option<Vec<IpAddr>> {
        self.own.lookup(name).or_else(|| {
            self.directory
                .tables(client)
                .iter()
                .find_map(|t| t.lookup(name))
        })
    }

    fn lookup_ptr(&self, client: IpAddr, ip: IpAddr) -> Option<String> {
        self.own.lookup_ptr(ip).or_else(|| {
            self.directory
                .tables(client)
                .iter()
                .find_map(|t| t.lookup_ptr(ip))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn askers_see_the_names_of_all_their_networks_only() {
        let front = Arc::new(DnsRecords::new());
        let back = Arc::new(DnsRecords::new());
        let db: IpAddr = "10.0.2.5".parse().unwrap();
        back.add("db", db);
        let dir = Arc::new(DnsDirectory::default());
        let api_front: IpAddr = "10.0.1.3".parse().unwrap();
        let api_back: IpAddr = "10.0.2.3".parse().unwrap();
        dir.set(&[api_front, api_back], &[front.clone(), back.clone()]);
        let served_by_front = ScopedNames {
            own: front,
            directory: dir.clone(),
        };
        assert_eq!(served_by_front.lookup(api_front, "db"), Some(vec![db]));
        let stranger: IpAddr = "10.0.1.9".parse().unwrap();
        assert_eq!(served_by_front.lookup(stranger, "db"), None);
        dir.forget(api_front);
        assert_eq!(served_by_front.lookup(api_front, "db"), None);
    }
}
