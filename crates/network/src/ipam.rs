//! Per-network IPv4 address allocation with crash-safe persistence, plus
//! subnet selection for networks created without an explicit subnet.

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::config::NetworkConfig;
use crate::error::{NetError, Result, io_err};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct IpamState {
    subnet: Ipv4Net,
    allocated: BTreeSet<Ipv4Addr>,
    /// Last address handed out: allocation continues after it so a freed
    /// address is not reused at once (stale ARP entries, DNS caches).
    last: Option<Ipv4Addr>,
}

/// Address allocator of one network; every change is on disk before the
/// call returns.
#[derive(Debug)]
pub struct Ipam {
    path: PathBuf,
    subnet: Ipv4Net,
    gateway: Ipv4Addr,
    range: Ipv4Net,
    state: IpamState,
}

impl Ipam {
    /// Opens (or creates) the allocator of `config` whose state lives in
    /// `<state_dir>/<network id>.json`.
    pub fn open(state_dir: &Path, config: &NetworkConfig) -> Result<Self> {
        config.validate()?;
        // 0700 / 0600: the daemon's state, no other user's business.
        std::os::unix::fs::DirBuilderExt::mode(fs::DirBuilder::new().recursive(true), 0o700)
            .create(state_dir)
            .map_err(io_err(format!("create {}", state_dir.display())))?;
        let path = state_dir.join(format!("{}.json", config.id));
        let state = match fs::read(&path) {
            Ok(bytes) => {
                let state: IpamState =
                    serde_json::from_slice(&bytes).map_err(|e| NetError::CorruptState {
                        path: path.clone(),
                        reason: e.to_string(),
                    })?;
                if state.subnet != config.subnet {
                    return Err(NetError::CorruptState {
                        path,
                        reason: format!(
                            "state is for subnet {} but the network has {}",
                            state.subnet, config.subnet
                        ),
                    });
                }
                state
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => IpamState {
                subnet: config.subnet,
                allocated: BTreeSet::new(),
                last: None,
            },
            Err(e) => return Err(io_err(format!("read {}", path.display()))(e)),
        };
        Ok(Ipam {
            path,
            subnet: config.subnet,
            gateway: config.gateway,
            range: config.ip_range.unwrap_or(config.subnet),
            state,
        })
    }

    pub fn subnet(&self) -> Ipv4Net {
        self.subnet
    }

    pub fn gateway(&self) -> Ipv4Addr {
        self.gateway
    }

    /// Addresses currently handed out, in order.
    pub fn allocated(&self) -> Vec<Ipv4Addr> {
        self.state.allocated.iter().copied().collect()
    }

    fn is_reserved(&self, ip: Ipv4Addr) -> bool {
        ip == self.gateway || ip == self.subnet.network() || ip == self.subnet.broadcast()
    }

    /// Hands out `preferred` if given (it may lie outside `ip_range` but not
    /// outside the subnet, as in Docker), else the next free address of the
    /// range after the last one handed out, wrapping around.
    pub fn allocate(&mut self, preferred: Option<Ipv4Addr>) -> Result<Ipv4Addr> {
        let ip = match preferred {
            Some(ip) => {
                if !self.subnet.contains(&ip) {
                    return Err(NetError::OutOfSubnet {
                        ip,
                        subnet: self.subnet,
                    });
                }
                if self.is_reserved(ip) {
                    return Err(NetError::AddressReserved(ip));
                }
                if self.state.allocated.contains(&ip) {
                    return Err(NetError::AddressInUse(ip));
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

    fn next_free(&self) -> Result<Ipv4Addr> {
        let first = u32::from(self.range.network());
        let last = u32::from(self.range.broadcast());
        let size = u64::from(last - first) + 1;
        let start = match self.state.last {
            Some(ip) if self.range.contains(&ip) => u32::from(ip) - first + 1,
            _ => 0,
        };
        for step in 0..size {
            let offset = ((u64::from(start) + step) % size) as u32;
            let ip = Ipv4Addr::from(first + offset);
            if !self.is_reserved(ip) && !self.state.allocated.contains(&ip) {
                return Ok(ip);
            }
        }
        Err(NetError::Exhausted(self.range))
    }

    /// Returns `ip` to the pool; releasing an address that is not allocated
    /// is a no-op so a retried container removal does not fail.
    pub fn release(&mut self, ip: Ipv4Addr) -> Result<()> {
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
        write_atomic(&self.path, &bytes)
    }
}

/// temp file + fsync + rename + fsync(dir): after a crash the file holds
/// either the old or the new state, never a torn mix.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("state")
    ));
    let op = || format!("write {}", path.display());
    let mut f = std::os::unix::fs::OpenOptionsExt::mode(
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true),
        0o600,
    )
    .open(&tmp)
    .map_err(io_err(op()))?;
    f.write_all(bytes).map_err(io_err(op()))?;
    f.sync_all().map_err(io_err(op()))?;
    drop(f);
    fs::rename(&tmp, path).map_err(io_err(op()))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(op()))?;
    Ok(())
}

/// Fails if `subnet` shares any address with one of `existing`
/// (`(network name, subnet)` pairs).
pub fn check_overlap<'a>(
    subnet: Ipv4Net,
    existing: impl IntoIterator<Item = (&'a str, Ipv4Net)>,
) -> Result<()> {
    for (name, other) in existing {
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
