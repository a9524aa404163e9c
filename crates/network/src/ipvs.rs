//! IPVS (the kernel's LVS) through its generic netlink family, the
//! interface ipvsadm and dockerd's libnetwork speak: services keyed by a
//! firewall mark, each with its real servers ("destinations").
//!
//! Only what balancing needs is here: list, add and remove fwmark
//! services and their destinations in the calling thread's network
//! namespace, and [`sync`], which makes the services in one range of marks
//! exactly a wanted set while leaving every other IPVS user's alone.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::ops::Range;

use netlink_packet_core::{
    DecodeError, DefaultNla, Emitable, NLA_F_NESTED, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
    NetlinkMessage, NetlinkPayload, Nla, NlaBuffer, NlasIterator, Parseable, ParseableParametrized,
    emit_u16, emit_u32, parse_string, parse_u16, parse_u16_be, parse_u32,
};
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::{GenlFamily, GenlHeader, GenlMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_GENERIC};

use crate::error::{NetError, Result, io_err};

// From <linux/ip_vs.h>.
const IPVS_GENL_NAME: &str = "IPVS";
const IPVS_GENL_VERSION: u8 = 1;
const CMD_NEW_SERVICE: u8 = 1;
const CMD_DEL_SERVICE: u8 = 3;
const CMD_GET_SERVICE: u8 = 4;
const CMD_NEW_DEST: u8 = 5;
const CMD_DEL_DEST: u8 = 7;
const CMD_GET_DEST: u8 = 8;
const ATTR_SERVICE: u16 = 1;
const ATTR_DEST: u16 = 2;
const SVC_AF: u16 = 1;
const SVC_FWMARK: u16 = 5;
const SVC_SCHED_NAME: u16 = 6;
const SVC_FLAGS: u16 = 7;
const SVC_TIMEOUT: u16 = 8;
const SVC_NETMASK: u16 = 9;
const DEST_ADDR: u16 = 1;
const DEST_PORT: u16 = 2;
const DEST_FWD_METHOD: u16 = 3;
const DEST_WEIGHT: u16 = 4;
const DEST_U_THRESH: u16 = 5;
const DEST_L_THRESH: u16 = 6;
const DEST_ADDR_FAMILY: u16 = 11;
/// IP_VS_CONN_F_MASQ: NAT, the only method that works for clients on the
/// balancing host itself and for backends behind a bridge or an overlay.
const FWD_MASQ: u32 = 0;
const AF_INET: u16 = libc::AF_INET as u16;

/// A real server of a service: where a balanced connection goes. Port 0
/// keeps the port the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dest {
    pub addr: Ipv4Addr,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum SvcAttr {
    Af(u16),
    Fwmark(u32),
    Scheduler(String),
    /// `struct ip_vs_flags { flags, mask }`.
    Flags(u32, u32),
    Timeout(u32),
    Netmask(u32),
    Other(DefaultNla),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum DestAttr {
    Addr(Ipv4Addr),
    /// Network byte order on the wire.
    Port(u16),
    FwdMethod(u32),
    Weight(u32),
    UpperThreshold(u32),
    LowerThreshold(u32),
    AddrFamily(u16),
    Other(DefaultNla),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum CmdAttr {
    Service(Vec<SvcAttr>),
    Dest(Vec<DestAttr>),
    Other(DefaultNla),
}

/// One IPVS request or answer.
#[derive(Debug, Clone, PartialEq, Eq)]
struct IpvsMessage {
    cmd: u8,
    attrs: Vec<CmdAttr>,
}

impl Nla for SvcAttr {
    fn value_len(&self) -> usize {
        match self {
            SvcAttr::Af(_) => 2,
            SvcAttr::Fwmark(_) | SvcAttr::Timeout(_) | SvcAttr::Netmask(_) => 4,
            SvcAttr::Scheduler(s) => s.len() + 1,
            SvcAttr::Flags(..) => 8,
            SvcAttr::Other(n) => n.value_len(),
        }
    }
    fn kind(&self) -> u16 {
        match self {
            SvcAttr::Af(_) => SVC_AF,
            SvcAttr::Fwmark(_) => SVC_FWMARK,
            SvcAttr::Scheduler(_) => SVC_SCHED_NAME,
            SvcAttr::Flags(..) => SVC_FLAGS,
            SvcAttr::Timeout(_) => SVC_TIMEOUT,
            SvcAttr::Netmask(_) => SVC_NETMASK,
            SvcAttr::Other(n) => n.kind(),
        }
    }
    fn emit_value(&self, buf: &mut [u8]) {
        match self {
            SvcAttr::Af(v) => emit_u16(buf, *v).expect("sized by value_len"),
            SvcAttr::Fwmark(v) | SvcAttr::Timeout(v) | SvcAttr::Netmask(v) => {
                emit_u32(buf, *v).expect("sized by value_len")
            }
            SvcAttr::Scheduler(s) => {
                buf[..s.len()].copy_from_slice(s.as_bytes());
                buf[s.len()] = 0;
            }
            SvcAttr::Flags(flags, mask) => {
                emit_u32(&mut buf[..4], *flags).expect("sized by value_len");
                emit_u32(&mut buf[4..8], *mask).expect("sized by value_len");
            }
            SvcAttr::Other(n) => n.emit_value(buf),
        }
    }
}

impl Nla for DestAttr {
    fn value_len(&self) -> usize {
        match self {
            // An in6_addr-sized field whatever the family.
            DestAttr::Addr(_) => 16,
            DestAttr::Port(_) | DestAttr::AddrFamily(_) => 2,
            DestAttr::FwdMethod(_)
            | DestAttr::Weight(_)
            | DestAttr::UpperThreshold(_)
            | DestAttr::LowerThreshold(_) => 4,
            DestAttr::Other(n) => n.value_len(),
        }
    }
    fn kind(&self) -> u16 {
        match self {
            DestAttr::Addr(_) => DEST_ADDR,
            DestAttr::Port(_) => DEST_PORT,
            DestAttr::FwdMethod(_) => DEST_FWD_METHOD,
            DestAttr::Weight(_) => DEST_WEIGHT,
            DestAttr::UpperThreshold(_) => DEST_U_THRESH,
            DestAttr::LowerThreshold(_) => DEST_L_THRESH,
            DestAttr::AddrFamily(_) => DEST_ADDR_FAMILY,
            DestAttr::Other(n) => n.kind(),
        }
    }
    fn emit_value(&self, buf: &mut [u8]) {
        match self {
            DestAttr::Addr(a) => {
                buf[..16].fill(0);
                buf[..4].copy_from_slice(&a.octets());
            }
            DestAttr::Port(p) => buf[..2].copy_from_slice(&p.to_be_bytes()),
            DestAttr::AddrFamily(v) => emit_u16(buf, *v).expect("sized by value_len"),
            DestAttr::FwdMethod(v)
            | DestAttr::Weight(v)
            | DestAttr::UpperThreshold(v)
            | DestAttr::LowerThreshold(v) => emit_u32(buf, *v).expect("sized by value_len"),
            DestAttr::Other(n) => n.emit_value(buf),
        }
    }
}

impl Nla for CmdAttr {
    fn value_len(&self) -> usize {
        match self {
            CmdAttr::Service(a) => a.as_slice().buffer_len(),
            CmdAttr::Dest(a) => a.as_slice().buffer_len(),
            CmdAttr::Other(n) => n.value_len(),
        }
    }
    fn kind(&self) -> u16 {
        match self {
            CmdAttr::Service(_) => ATTR_SERVICE | NLA_F_NESTED,
            CmdAttr::Dest(_) => ATTR_DEST | NLA_F_NESTED,
            CmdAttr::Other(n) => n.kind(),
        }
    }
    fn emit_value(&self, buf: &mut [u8]) {
        match self {
            CmdAttr::Service(a) => a.as_slice().emit(buf),
            CmdAttr::Dest(a) => a.as_slice().emit(buf),
            CmdAttr::Other(n) => n.emit_value(buf),
        }
    }
}

fn parse_svc(nla: &NlaBuffer<&[u8]>) -> std::result::Result<SvcAttr, DecodeError> {
    let v = nla.value();
    Ok(match nla.kind() {
        SVC_AF => SvcAttr::Af(parse_u16(v)?),
        SVC_FWMARK => SvcAttr::Fwmark(parse_u32(v)?),
        SVC_SCHED_NAME => SvcAttr::Scheduler(parse_string(v)?),
        _ => SvcAttr::Other(DefaultNla::parse(nla)?),
    })
}

fn parse_dest(nla: &NlaBuffer<&[u8]>) -> std::result::Result<DestAttr, DecodeError> {
    let v = nla.value();
    Ok(match nla.kind() {
        DEST_ADDR if v.len() >= 4 => DestAttr::Addr(Ipv4Addr::new(v[0], v[1], v[2], v[3])),
        DEST_PORT => DestAttr::Port(parse_u16_be(v)?),
        DEST_ADDR_FAMILY => DestAttr::AddrFamily(parse_u16(v)?),
        _ => DestAttr::Other(DefaultNla::parse(nla)?),
    })
}

fn parse_nested<T>(
    value: &[u8],
    one: fn(&NlaBuffer<&[u8]>) -> std::result::Result<T, DecodeError>,
) -> std::result::Result<Vec<T>, DecodeError> {
    NlasIterator::new(value).map(|nla| one(&nla?)).collect()
}

impl GenlFamily for IpvsMessage {
    fn family_name() -> &'static str {
        IPVS_GENL_NAME
    }
    fn command(&self) -> u8 {
        self.cmd
    }
    fn version(&self) -> u8 {
        IPVS_GENL_VERSION
    }
}

impl Emitable for IpvsMessage {
    fn buffer_len(&self) -> usize {
        self.attrs.as_slice().buffer_len()
    }
    fn emit(&self, buf: &mut [u8]) {
        self.attrs.as_slice().emit(buf)
    }
}

impl ParseableParametrized<[u8], GenlHeader> for IpvsMessage {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> std::result::Result<Self, DecodeError> {
        let mut attrs = Vec::new();
        for nla in NlasIterator::new(buf) {
            let nla = nla?;
            attrs.push(match nla.kind() {
                ATTR_SERVICE => CmdAttr::Service(parse_nested(nla.value(), parse_svc)?),
                ATTR_DEST => CmdAttr::Dest(parse_nested(nla.value(), parse_dest)?),
                _ => CmdAttr::Other(DefaultNla::parse(&nla)?),
            });
        }
        Ok(IpvsMessage {
            cmd: header.cmd,
            attrs,
        })
    }
}

/// The attributes naming the IPv4 service of `fwmark`.
fn service_key(fwmark: u32) -> Vec<SvcAttr> {
    vec![SvcAttr::Af(AF_INET), SvcAttr::Fwmark(fwmark)]
}

/// A new round-robin service: the kernel wants every field of a full entry.
fn new_service(fwmark: u32) -> Vec<SvcAttr> {
    let mut attrs = service_key(fwmark);
    attrs.extend([
        SvcAttr::Scheduler("rr".into()),
        SvcAttr::Flags(0, 0),
        SvcAttr::Timeout(0),
        SvcAttr::Netmask(u32::MAX),
    ]);
    attrs
}

fn dest_key(dest: Dest) -> Vec<DestAttr> {
    vec![
        DestAttr::Addr(dest.addr),
        DestAttr::Port(dest.port),
        DestAttr::AddrFamily(AF_INET),
    ]
}

fn new_dest(dest: Dest) -> Vec<DestAttr> {
    let mut attrs = dest_key(dest);
    attrs.extend([
        DestAttr::FwdMethod(FWD_MASQ),
        DestAttr::Weight(1),
        DestAttr::UpperThreshold(0),
        DestAttr::LowerThreshold(0),
    ]);
    attrs
}

/// IPVS of one network namespace: the one the calling thread was in when
/// it was opened (a netlink socket stays with its namespace).
pub struct Ipvs {
    socket: Socket,
    family: u16,
    seq: u32,
}

impl Ipvs {
    /// Opens IPVS in the calling thread's network namespace; an error
    /// names the missing kernel module when the family is not there.
    pub fn open() -> Result<Self> {
        let mut socket =
            Socket::new(NETLINK_GENERIC).map_err(io_err("open a generic netlink socket"))?;
        socket
            .bind_auto()
            .map_err(io_err("bind a generic netlink socket"))?;
        socket
            .connect(&SocketAddr::new(0, 0))
            .map_err(io_err("connect a generic netlink socket"))?;
        let mut ipvs = Ipvs {
            socket,
            family: 0,
            seq: 0,
        };
        ipvs.family = ipvs.resolve_family()?;
        Ok(ipvs)
    }

    fn resolve_family(&mut self) -> Result<u16> {
        let mut msg = GenlMessage::from_payload(GenlCtrl {
            cmd: GenlCtrlCmd::GetFamily,
            nlas: vec![GenlCtrlAttrs::FamilyName(IPVS_GENL_NAME.into())],
        });
        msg.finalize();
        let answers = match self.exchange::<GenlCtrl>(msg, NLM_F_REQUEST | NLM_F_ACK) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                return Err(NetError::KernelLacks {
                    what: "service VIPs over IPVS".into(),
                    feature: "IPVS",
                    reason: "no generic netlink family IPVS: the ip_vs module is not loaded".into(),
                    hint: "; load ip_vs, or balance with nftables".into(),
                });
            }
            other => other.map_err(io_err("look up the IPVS netlink family"))?,
        };
        answers
            .iter()
            .flat_map(|m| m.payload.nlas.iter())
            .find_map(|a| match a {
                GenlCtrlAttrs::FamilyId(id) => Some(*id),
                _ => None,
            })
            .ok_or_else(|| NetError::Io {
                op: "look up the IPVS netlink family".into(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, "no family id"),
            })
    }

    /// Sends `msg` and collects its answers until the kernel's ack, error or
    /// end of dump.
    fn exchange<F>(
        &mut self,
        msg: GenlMessage<F>,
        flags: u16,
    ) -> std::io::Result<Vec<GenlMessage<F>>>
    where
        F: GenlFamily + Emitable + ParseableParametrized<[u8], GenlHeader> + std::fmt::Debug,
    {
        self.seq = self.seq.wrapping_add(1);
        let mut nl = NetlinkMessage::from(msg);
        nl.header.flags = flags;
        nl.header.sequence_number = self.seq;
        nl.finalize();
        let mut buf = vec![0u8; nl.buffer_len()];
        nl.serialize(&mut buf);
        self.socket.send(&buf, 0)?;
        let mut answers = Vec::new();
        loop {
            let (data, _) = self.socket.recv_from_full()?;
            let mut offset = 0;
            while offset < data.len() {
                let msg = NetlinkMessage::<GenlMessage<F>>::deserialize(&data[offset..])
                    .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
                let len = msg.header.length as usize;
                match msg.payload {
                    NetlinkPayload::InnerMessage(m) => answers.push(m),
                    NetlinkPayload::Done(_) => return Ok(answers),
                    // The ack (no code) ends a request; a code is the errno.
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(answers),
                            Some(code) => Err(std::io::Error::from_raw_os_error(-code.get())),
                        };
                    }
                    _ => {}
                }
                if len == 0 {
                    break;
                }
                offset += len;
            }
        }
    }

    fn request(
        &mut self,
        what: &str,
        cmd: u8,
        attrs: Vec<CmdAttr>,
        dump: bool,
    ) -> Result<Vec<IpvsMessage>> {
        let msg = GenlMessage::new(
            GenlHeader {
                cmd,
                version: IPVS_GENL_VERSION,
            },
            IpvsMessage { cmd, attrs },
            self.family,
        );
        let flags = if dump {
            NLM_F_REQUEST | NLM_F_DUMP
        } else {
            NLM_F_REQUEST | NLM_F_ACK
        };
        Ok(self
            .exchange(msg, flags)
            .map_err(io_err(format!("IPVS: {what}")))?
            .into_iter()
            .map(|m| m.payload)
            .collect())
    }

    /// The marks of this namespace's IPv4 fwmark services.
    pub fn fwmark_services(&mut self) -> Result<Vec<u32>> {
        let answers = self.request("list services", CMD_GET_SERVICE, Vec::new(), true)?;
        let mut marks = Vec::new();
        for m in answers {
            for a in m.attrs {
                if let CmdAttr::Service(svc) = a {
                    let ipv4 = svc.contains(&SvcAttr::Af(AF_INET));
                    let mark = svc.iter().find_map(|s| match s {
                        SvcAttr::Fwmark(f) if *f != 0 => Some(*f),
                        _ => None,
                    });
                    if let (true, Some(mark)) = (ipv4, mark) {
                        marks.push(mark);
                    }
                }
            }
        }
        marks.sort_unstable();
        Ok(marks)
    }

    pub fn add_service(&mut self, fwmark: u32) -> Result<()> {
        let attrs = vec![CmdAttr::Service(new_service(fwmark))];
        self.request(
            &format!("add service {fwmark:#x}"),
            CMD_NEW_SERVICE,
            attrs,
            false,
        )
        .map(drop)
    }

    pub fn remove_service(&mut self, fwmark: u32) -> Result<()> {
        let attrs = vec![CmdAttr::Service(service_key(fwmark))];
        self.request(
            &format!("remove service {fwmark:#x}"),
            CMD_DEL_SERVICE,
            attrs,
            false,
        )
        .map(drop)
    }

    /// The destinations of the service of `fwmark`, ascending.
    pub fn dests(&mut self, fwmark: u32) -> Result<Vec<Dest>> {
        let attrs = vec![CmdAttr::Service(service_key(fwmark))];
        let mut dests = Vec::new();
        for m in self.request(
            &format!("list destinations of {fwmark:#x}"),
            CMD_GET_DEST,
            attrs,
            true,
        )? {
            for a in m.attrs {
                if let CmdAttr::Dest(d) = a {
                    let addr = d.iter().find_map(|x| match x {
                        DestAttr::Addr(a) => Some(*a),
                        _ => None,
                    });
                    let port = d.iter().find_map(|x| match x {
                        DestAttr::Port(p) => Some(*p),
                        _ => None,
                    });
                    if let Some(addr) = addr {
                        dests.push(Dest {
                            addr,
                            port: port.unwrap_or(0),
                        });
                    }
                }
            }
        }
        dests.sort_unstable();
        Ok(dests)
    }

    pub fn add_dest(&mut self, fwmark: u32, dest: Dest) -> Result<()> {
        let attrs = vec![
            CmdAttr::Service(service_key(fwmark)),
            CmdAttr::Dest(new_dest(dest)),
        ];
        let what = format!("add {}:{} to {fwmark:#x}", dest.addr, dest.port);
        self.request(&what, CMD_NEW_DEST, attrs, false).map(drop)
    }

    pub fn remove_dest(&mut self, fwmark: u32, dest: Dest) -> Result<()> {
        let attrs = vec![
            CmdAttr::Service(service_key(fwmark)),
            CmdAttr::Dest(dest_key(dest)),
        ];
        let what = format!("remove {}:{} from {fwmark:#x}", dest.addr, dest.port);
        self.request(&what, CMD_DEL_DEST, attrs, false).map(drop)
    }
}

/// Makes the fwmark services whose marks fall in `range` exactly `wanted`
/// (mark → destinations), changing only what differs: a backend that stays
/// keeps its connections, and services outside the range (another user's)
/// are never touched.
pub fn sync(ipvs: &mut Ipvs, range: Range<u32>, wanted: &BTreeMap<u32, Vec<Dest>>) -> Result<()> {
    add_and_update(ipvs, range.clone(), wanted)?;
    for mark in ipvs
        .fwmark_services()?
        .into_iter()
        .filter(|m| range.contains(m) && !wanted.contains_key(m))
    {
        ipvs.remove_service(mark)?;
    }
    Ok(())
}

/// The first half of [`sync`]: services `wanted` has are made as it has
/// them; the others in `range` stay (still marked by rules not yet
/// replaced).
pub fn add_and_update(
    ipvs: &mut Ipvs,
    range: Range<u32>,
    wanted: &BTreeMap<u32, Vec<Dest>>,
) -> Result<()> {
    let present: Vec<u32> = ipvs
        .fwmark_services()?
        .into_iter()
        .filter(|m| range.contains(m))
        .collect();
    for (&mark, dests) in wanted {
        if !range.contains(&mark) {
            return Err(NetError::InvalidConfig(format!(
                "IPVS: mark {mark:#x} is outside {:#x}..{:#x}",
                range.start, range.end
            )));
        }
        let current = if present.contains(&mark) {
            ipvs.dests(mark)?
        } else {
            ipvs.add_service(mark)?;
            Vec::new()
        };
        for d in dests.iter().filter(|d| !current.contains(d)) {
            ipvs.add_dest(mark, *d)?;
        }
        for d in current.iter().filter(|d| !dests.contains(d)) {
            ipvs.remove_dest(mark, *d)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(msg: &IpvsMessage) -> IpvsMessage {
        let mut buf = vec![0u8; msg.buffer_len()];
        msg.emit(&mut buf);
        IpvsMessage::parse_with_param(
            &buf,
            GenlHeader {
                cmd: msg.cmd,
                version: IPVS_GENL_VERSION,
            },
        )
        .unwrap()
    }

    #[test]
    fn a_new_service_carries_every_field_of_a_full_entry_as_the_kernel_lays_them_out() {
        let msg = IpvsMessage {
            cmd: CMD_NEW_SERVICE,
            attrs: vec![CmdAttr::Service(new_service(0x0b00_0001))],
        };
        let mut buf = vec![0u8; msg.buffer_len()];
        msg.emit(&mut buf);
        // One nested IPVS_CMD_ATTR_SERVICE holding af, fwmark, sched_name,
        // flags, timeout and netmask: 4 + (6→8) + 8 + (7→8) + 12 + 8 + 8 bytes.
        assert_eq!(buf.len(), 4 + 8 + 8 + 8 + 12 + 8 + 8);
        assert_eq!(
            u16::from_ne_bytes([buf[2], buf[3]]),
            ATTR_SERVICE | NLA_F_NESTED
        );
        assert_eq!(&buf[4..10], &[6, 0, SVC_AF as u8, 0, AF_INET as u8, 0]);
        assert_eq!(&buf[12..16], &[8, 0, SVC_FWMARK as u8, 0]);
        assert_eq!(&buf[16..20], &0x0b00_0001u32.to_ne_bytes());
        assert_eq!(&buf[24..27], b"rr\0");
        let back = roundtrip(&msg);
        let CmdAttr::Service(attrs) = &back.attrs[0] else {
            panic!("{back:?}")
        };
        assert!(attrs.contains(&SvcAttr::Fwmark(0x0b00_0001)));
        assert!(attrs.contains(&SvcAttr::Scheduler("rr".into())));
    }

    #[test]
    fn a_destination_sends_its_port_in_network_order_and_its_address_in_an_in6_field() {
        let dest = Dest {
            addr: Ipv4Addr::new(10, 0, 1, 7),
            port: 8080,
        };
        let msg = IpvsMessage {
            cmd: CMD_NEW_DEST,
            attrs: vec![
                CmdAttr::Service(service_key(7)),
                CmdAttr::Dest(new_dest(dest)),
            ],
        };
        let mut buf = vec![0u8; msg.buffer_len()];
        msg.emit(&mut buf);
        let dest_at = 4 + 8 + 8;
        assert_eq!(
            u16::from_ne_bytes([buf[dest_at + 2], buf[dest_at + 3]]),
            ATTR_DEST | NLA_F_NESTED
        );
        let addr = dest_at + 4;
        assert_eq!(&buf[addr..addr + 4], &[20, 0, DEST_ADDR as u8, 0]);
        assert_eq!(&buf[addr + 4..addr + 8], &[10, 0, 1, 7]);
        assert!(buf[addr + 8..addr + 20].iter().all(|b| *b == 0));
        let port = addr + 20;
        assert_eq!(&buf[port + 4..port + 6], &8080u16.to_be_bytes());
        let back = roundtrip(&msg);
        let CmdAttr::Dest(attrs) = &back.attrs[1] else {
            panic!("{back:?}")
        };
        assert!(attrs.contains(&DestAttr::Addr(dest.addr)));
        assert!(attrs.contains(&DestAttr::Port(8080)));
    }
}
