//! Per-network address allocation (IPv4 and IPv6) with crash-safe
//! persistence, plus subnet selection for networks created without an
//! explicit subnet.

use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::config::{Ipv6Config, NetworkConfig};
use crate::error::{NetError, Result, io_err};

/// An address family the allocator works in. Addresses are handled as
/// integers, so one allocator serves both families.
pub trait Family:
    Copy + Ord + fmt::Debug + fmt::Display + Serialize + DeserializeOwned + Into<IpAddr>
{
    type Net: Copy + Eq + fmt::Debug + fmt::Display + Serialize + DeserializeOwned + Into<IpNet>;
    /// IPv4's last address is the broadcast address; IPv6 has none.
    const HAS_BROADCAST: bool;
    fn to_bits(self) -> u128;
    fn from_bits(bits: u128) -> Self;
    fn first(net: &Self::Net) -> Self;
    fn last(net: &Self::Net) -> Self;
    fn contains(net: &Self::Net, ip: &Self) -> bool;
}

impl Family for Ipv4Addr {
    type Net = Ipv4Net;
    const HAS_BROADCAST: bool = true;
    fn to_bits(self) -> u128 {
        u128::from(u32::from(self))
    }
    fn from_bits(bits: u128) -> Self {
        Ipv4Addr::from(bits as u32)
    }
    fn first(net: &Ipv4Net) -> Self {
        net.network()
    }
    fn last(net: &Ipv4Net) -> Self {
        net.broadcast()
    }
    fn contains(net: &Ipv4Net, ip: &Self) -> bool {
        net.contains(ip)
    }
}

impl Family for Ipv6Addr {
    type Net = Ipv6Net;
    const HAS_BROADCAST: bool = false;
    fn to_bits(self) -> u128 {
        u128::from(self)
    }
    fn from_bits(bits: u128) -> Self {
        Ipv6Addr::from(bits)
    }
    fn first(net: &Ipv6Net) -> Self {
        net.network()
    }
    fn last(net: &Ipv6Net) -> Self {
        net.broadcast()
    }
    fn contains(net: &Ipv6Net, ip: &Self) -> bool {
        net.contains(ip)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(bound = "")]
struct IpamState<A: Family> {
    subnet: A::Net,
    allocated: BTreeSet<A>,
    /// Last address handed out: allocation continues after it so a freed
    /// address is not reused at once (stale ARP entries, DNS caches).
    last: Option<A>,
}

/// Address allocator of one network and family; every change is on disk
/// before the call returns. `Ipam` is IPv4's, `Ipam<Ipv6Addr>` IPv6's.
#[derive(Debug)]
pub struct Ipam<A: Family = Ipv4Addr> {
    path: PathBuf,
    subnet: A::Net,
    gateway: A,
    range: A::Net,
    state: IpamState<A>,
}

impl Ipam<Ipv4Addr> {
    /// Opens (or creates) the IPv4 allocator of `config` whose state lives
    /// in `<state_dir>/<network id>.json`.
    pub fn open(state_dir: &Path, config: &NetworkConfig) -> Result<Self> {
        config.validate()?;
        let path = state_dir.join(format!("{}.json", config.id));
        let range = config.ip_range.unwrap_or(config.subnet);
        Self::open_at(state_dir, path, config.subnet, config.gateway, range)
    }
}

impl Ipam<Ipv6Addr> {
    /// Opens (or creates) the IPv6 allocator of network `id`, in
    /// `<state_dir>/<network id>.v6.json`.
    pub fn open_v6(state_dir: &Path, id: &str, config: &Ipv6Config) -> Result<Self> {
        let path = state_dir.join(format!("{id}.v6.json"));
        let range = config.ip_range.unwrap_or(config.subnet);
        Self::open_at(state_dir, path, config.subnet, config.gateway, range)
    }
}

impl<A: Family> Ipam<A> {
    fn open_at(
        state_dir: &Path,
        path: PathBuf,
        subnet: A::Net,
        gateway: A,
        range: A::Net,
    ) -> Result<Self> {
        // 0700 / 0600: the daemon's state, no other user's business.
        std::os::unix::fs::DirBuilderExt::mode(fs::DirBuilder::new().recursive(true), 0o700)
            .create(state_dir)
            .map_err(io_err(format!("create {}", state_dir.display())))?;
        let state = match fs::read(&path) {
            Ok(bytes) => {
                let state: IpamState<A> =
                    serde_json::from_slice(&bytes).map_err(|e| NetError::CorruptState {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                if state.subnet != subnet {
                    return Err(NetError::CorruptState {
                        path,
                        reason: format!(
                            "state is for subnet {} but the network has {subnet}",
                            state.subnet
                        ),
                    });
                }
                state
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => IpamState {
                subnet,
                allocated: BTreeSet::new(),
                last: None,
            },
            Err(e) => return Err(io_err(format!("read {}", path.display()))(e)),
        };
        Ok(Ipam {
            path,
            subnet,
            gateway,
            range,
            state,
        })
    }

    pub fn subnet(&self) -> A::Net {
        self.subnet
    }

    pub fn gateway(&self) -> A {
        self.gateway
    }

    /// Addresses currently handed out, in order.
    pub fn allocated(&self) -> Vec<A> {
        self.state.allocated.iter().copied().collect()
    }

    fn is_reserved(&self, ip: A) -> bool {
        ip == self.gateway
            || ip == A::first(&self.subnet)
            || (A::HAS_BROADCAST && ip == A::last(&self.subnet))
    }

    /// Hands out `preferred` if given (it may lie outside `ip_range` but not
    /// outside the subnet, as in Docker), else the next free address of the
    /// range after the last one handed out, wrapping around.
    pub fn allocate(&mut self, preferred: Option<A>) -> Result<A> {
        let ip = match preferred {
            Some(ip) => {
                if !A::contains(&self.subnet, &ip) {
                    return Err(NetError::OutOfSubnet {
                        ip: ip.into(),
                        subnet: self.subnet.into(),
                    });
                }
                if self.is_reserved(ip) {
                    return Err(NetError::AddressReserved(ip.into()));
                }
                if self.state.allocated.contains(&ip) {
                    return Err(NetError::AddressInUse(ip.into()));
                }
                ip
            }
            None => self.next_free()?,
        };
        self.state.allocated.insert(ip);
        if preferred.is_none() {
            self.state.last = Some(ip);
        }
        if let Err(e) = self.save() {
            self.state.allocated.remove(&ip);
            return Err(e);
        }
        Ok(ip)
    }

    fn next_free(&self) -> Result<A> {
        let first = A::first(&self.range).to_bits();
        let last = A::last(&self.range).to_bits();
        // A ::/0 range has 2^128 addresses: one more than u128 holds.
        let size = (last - first).checked_add(1);
        let start = match self.state.last {
            Some(ip) if A::contains(&self.range, &ip) => ip.to_bits() - first + 1,
            _ => 0,
        };
        // Among allocated + 3 (gateway, network, broadcast) + 1 consecutive
        // candidates one is free, so a huge IPv6 range costs no more than a
        // small one.
        let bound = (self.state.allocated.len() as u128 + 4).min(size.unwrap_or(u128::MAX));
        for step in 0..bound {
            let offset = match size {
                Some(size) => (start % size + step) % size,
                None => start.wrapping_add(step),
            };
            let ip = A::from_bits(first + offset);
            if !self.is_reserved(ip) && !self.state.allocated.contains(&ip) {
                return Ok(ip);
            }
        }
        Err(NetError::Exhausted(self.range.into()))
    }

    /// Returns `ip` to the pool; releasing an address that is not allocated
    /// is a no-op so a retried container removal does not fail.
    pub fn release(&mut self, ip: A) -> Result<()> {
        if self.state.allocated.remove(&ip)
            && let Err(e) = self.save()
        {
            self.state.allocated.insert(ip);
            return Err(e);
        }
        Ok(())
    }

    /// Deletes the state file, for `network rm`.
    pub fn destroy(self) -> Result<()> {
        match fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(io_err(format!("remove {}", self.path.display()))(e))
            }
            _ => Ok(()),
        }
    }

    fn save(&self) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(&self.state).expect("IPAM state serializes");
        cas::write_atomic(&self.path, &bytes)
            .map_err(io_err(format!("write {}", self.path.display())))
    }
}

/// Fails if `subnet` shares any address with one of `existing`
/// (`(network name, subnet)` pairs); subnets of the other family never do.
pub fn check_overlap<'a, N: Into<IpNet>>(
    subnet: N,
    existing: impl IntoIterator<Item = (&'a str, N)>,
) -> Result<()> {
    let subnet: IpNet = subnet.into();
    for (name, other) in existing {
        let other: IpNet = other.into();
        if subnet.contains(&other.network()) || other.contains(&subnet.network()) {
            return Err(NetError::Overlap {
                subnet,
                other: name.to_string(),
                other_subnet: other,
            });
        }
    }
    Ok(())
}

/// A range that subnets of `size` bits are carved from, like dockerd's
/// `default-address-pools` entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressPool {
    pub base: Ipv4Net,
    pub size: u8,
}

/// Docker's defaults: 172.17-31.x.x/16 first, then /20s of 192.168.0.0/16.
pub fn default_pools() -> Vec<AddressPool> {
    let p = |base: &str, size| AddressPool {
        base: base.parse().expect("valid pool"),
        size,
    };
    vec![
        p("172.17.0.0/16", 16),
        p("172.18.0.0/15", 16),
        p("172.20.0.0/14", 16),
        p("172.24.0.0/13", 16),
        p("192.168.0.0/16", 20),
    ]
}

/// The first subnet of the pools that overlaps none of `in_use`.
pub fn allocate_subnet(pools: &[AddressPool], in_use: &[Ipv4Net]) -> Result<Ipv4Net> {
    for pool in pools {
        let Ok(subnets) = pool.base.subnets(pool.size) else {
            continue;
        };
        for candidate in subnets {
            let named = in_use.iter().map(|n| ("", *n));
            if check_overlap(candidate, named).is_ok() {
                return Ok(candidate);
            }
        }
    }
    Err(NetError::PoolExhausted)
}
