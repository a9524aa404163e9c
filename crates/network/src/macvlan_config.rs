//! What a macvlan or ipvlan network is, as data: the driver options
//! (`-o parent/macvlan_mode/ipvlan_mode/ipvlan_flag`) read with dockerd's
//! checks and messages, and where the parent link came from. The links
//! themselves are made in the macvlan module; a network's config refers to
//! this module only, so the two do not import each other.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::endpoint::validate_ifname;
use crate::error::{NetError, Result};

pub const DRIVER_MACVLAN: &str = "macvlan";
pub const DRIVER_IPVLAN: &str = "ipvlan";
/// Docker's option keys (`-o parent=eth0 -o macvlan_mode=bridge`).
pub const OPT_PARENT: &str = "parent";
pub const OPT_MACVLAN_MODE: &str = "macvlan_mode";
pub const OPT_IPVLAN_MODE: &str = "ipvlan_mode";
pub const OPT_IPVLAN_FLAG: &str = "ipvlan_flag";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MacvlanMode {
    Bridge,
    Private,
    Vepa,
    Passthru,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpvlanMode {
    L2,
    L3,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpvlanFlag {
    Bridge,
    Private,
    Vepa,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "driver", rename_all = "lowercase")]
pub enum MacvlanKind {
    Macvlan { mode: MacvlanMode },
    Ipvlan { mode: IpvlanMode, flag: IpvlanFlag },
}

impl MacvlanKind {
    pub fn driver(&self) -> &'static str {
        match self {
            MacvlanKind::Macvlan { .. } => DRIVER_MACVLAN,
            MacvlanKind::Ipvlan { .. } => DRIVER_IPVLAN,
        }
    }

    /// dockerd's dummy parents are `dm-<id12>` and `di-<id12>`; its
    /// "parent in use" message names the other network that way too.
    pub fn dummy_name(&self, network_id: &str) -> String {
        let prefix = match self {
            MacvlanKind::Macvlan { .. } => "dm-",
            MacvlanKind::Ipvlan { .. } => "di-",
        };
        let short: String = network_id.chars().take(12).collect();
        format!("{prefix}{short}")
    }

    /// Each endpoint's own MAC: macvlan only (ipvlan ports use the parent's).
    pub fn has_own_mac(&self) -> bool {
        matches!(self, MacvlanKind::Macvlan { .. })
    }
}

/// Where the parent link came from: berth deletes only what it made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParentOrigin {
    /// The administrator's (or one found under the dummy's name): kept.
    #[default]
    Existing,
    /// An 802.1q sub-interface made for `-o parent=IFACE.VID`.
    Vlan,
    /// The dummy of a network without a parent.
    Dummy,
}

/// The driver part of a macvlan or ipvlan network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MacvlanConfig {
    #[serde(flatten)]
    pub kind: MacvlanKind,
    pub parent: String,
    #[serde(default)]
    pub origin: ParentOrigin,
}

pub(crate) fn refused(msg: String) -> NetError {
    NetError::Refused(msg)
}

impl MacvlanConfig {
    /// Reads `-o parent/macvlan_mode/ipvlan_mode/ipvlan_flag` with dockerd's
    /// checks and messages. Answers the config and whether the network is
    /// internal: `--internal` keeps the parent and drops the default route;
    /// no parent means a dummy one, and internal too (dockerd 20.10 sets
    /// Internal then, as nothing leaves through a dummy).
    pub fn from_options(
        driver: &str,
        network_id: &str,
        options: &BTreeMap<String, String>,
        internal: bool,
    ) -> Result<(MacvlanConfig, bool)> {
        let opt = |k: &str| options.get(k).map(String::as_str).unwrap_or_default();
        let kind = match driver {
            DRIVER_MACVLAN => MacvlanKind::Macvlan {
                mode: match opt(OPT_MACVLAN_MODE) {
                    "" | "bridge" => MacvlanMode::Bridge,
                    "private" => MacvlanMode::Private,
                    "vepa" => MacvlanMode::Vepa,
                    "passthru" => MacvlanMode::Passthru,
                    other => {
                        return Err(refused(format!(
                            "requested macvlan mode '{other}' is not valid, 'bridge' mode is the macvlan driver default"
                        )));
                    }
                },
            },
            DRIVER_IPVLAN => MacvlanKind::Ipvlan {
                mode: match opt(OPT_IPVLAN_MODE) {
                    "" | "l2" => IpvlanMode::L2,
                    "l3" => IpvlanMode::L3,
                    other => {
                        return Err(refused(format!(
                            "requested ipvlan mode '{other}' is not valid, 'l2' mode is the ipvlan driver default"
                        )));
                    }
                },
                flag: match opt(OPT_IPVLAN_FLAG) {
                    "" | "bridge" => IpvlanFlag::Bridge,
                    "private" => IpvlanFlag::Private,
                    "vepa" => IpvlanFlag::Vepa,
                    other => {
                        return Err(refused(format!(
                            "requested ipvlan flag '{other}' is not valid, 'bridge' is the ipvlan driver default"
                        )));
                    }
                },
            },
            other => {
                return Err(NetError::InvalidConfig(format!(
                    "driver {other:?} has no parent link"
                )));
            }
        };
        let parent = opt(OPT_PARENT);
        if parent == "lo" {
            return Err(refused(format!(
                "loopback interface is not a valid {driver} parent link"
            )));
        }
        let (parent, origin, internal) = if parent.is_empty() {
            (kind.dummy_name(network_id), ParentOrigin::Dummy, true)
        } else {
            validate_ifname(parent)?;
            (parent.to_string(), ParentOrigin::Existing, internal)
        };
        let cfg = MacvlanConfig {
            kind,
            parent,
            origin,
        };
        Ok((cfg, internal))
    }
}

/// dockerd's reading of `eth0.10`, with its messages.
pub(crate) fn parse_vlan(name: &str) -> Result<(&str, i64)> {
    let Some((base, vid)) = name.split_once('.') else {
        return Err(refused(format!(
            "invalid subinterface vlan name {name}, example formatting is eth0.10"
        )));
    };
    if vid.contains('.') {
        return Err(refused(format!(
            "required interface name format is: name.vlan_id, ex. eth0.10 for vlan 10, instead received: {name}"
        )));
    }
    vid.parse().map(|vid| (base, vid)).map_err(|_| {
        refused(format!(
            "unable to parse a valid vlan id from: {vid} (ex. eth0.10 for vlan 10)"
        ))
    })
}

/// The 12 bits of an 802.1q tag, 0 and 4095 reserved.
pub(crate) fn check_vlan_id(vid: i64) -> Result<u16> {
    u16::try_from(vid)
        .ok()
        .filter(|v| (1..=4094).contains(v))
        .ok_or_else(|| refused(format!("vlan id must be between 1-4094, received: {vid}")))
}
