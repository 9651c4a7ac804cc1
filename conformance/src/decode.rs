//! Decoding a captured frame down to its TCP header.
//!
//! Link layers: Ethernet (802.1Q/802.1ad/QinQ VLAN tags, MPLS label stacks, 802.3 with
//! LLC/SNAP), Linux cooked SLL and SLL2, raw IP (101, 228, 229, and the historical 12/14),
//! BSD NULL and OpenBSD LOOP, NFLOG, FDDI, ARCNET_LINUX; GTP-U tunnels (UDP port 2152) are
//! entered and the innermost IP header is the one observed. Ethernet, VLAN, IP and TCP are
//! decoded with etherparse, SLL/SLL2/NULL/NFLOG with pcap-parser's `data` helpers; MPLS,
//! GTP-U, FDDI and ARCnet headers are small and decoded here.
//!
//! A frame that does not carry a TCP header is not an error: it is skipped with a
//! [`SkipReason`] that is counted and reported, never dropped silently.

use std::fmt;
use std::net::IpAddr;

use etherparse::{
    Ethernet2HeaderSlice, IpNumber, LaxIpSlice, SingleVlanHeaderSlice, TcpSlice, UdpHeaderSlice,
};
use pcap_parser::data::{
    PacketData, get_packetdata_linux_sll, get_packetdata_linux_sll2, get_packetdata_nflog,
    get_packetdata_null,
};
use serde::Serialize;

use crate::capture::LinkType;

/// The UDP port of GTP-U (3GPP TS 29.281 §4.4.2).
pub const GTPU_PORT: u16 = 2152;

/// Tunnels and tags nested deeper than this are refused, so that crafted input cannot
/// recurse without bound.
const MAX_NESTING: u8 = 8;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86DD;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88A8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
const ETHERTYPE_MPLS: u16 = 0x8847;
const ETHERTYPE_MPLS_MULTICAST: u16 = 0x8848;

/// IP version of the (innermost) IP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum IpVersion {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

/// The TCP header flags (RFC 9293 §3.1, plus NS of RFC 3540), as the low 9 bits of
/// header bytes 12–13.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(transparent)]
pub struct TcpFlags(pub u16);

impl TcpFlags {
    /// No more data from sender.
    pub const FIN: u16 = 0x001;
    /// Synchronize sequence numbers.
    pub const SYN: u16 = 0x002;
    /// Reset the connection.
    pub const RST: u16 = 0x004;
    /// Push function.
    pub const PSH: u16 = 0x008;
    /// Acknowledgment field is significant.
    pub const ACK: u16 = 0x010;
    /// Urgent pointer field is significant.
    pub const URG: u16 = 0x020;
    /// ECN-Echo.
    pub const ECE: u16 = 0x040;
    /// Congestion window reduced.
    pub const CWR: u16 = 0x080;
    /// ECN nonce (historic).
    pub const NS: u16 = 0x100;

    /// FIN is set.
    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    /// SYN is set.
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    /// RST is set.
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    /// ACK is set.
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
}

impl fmt::Display for TcpFlags {
    /// tcpdump-style letters: `S`, `F`, `R`, `P`, `.` for ACK, `U`, `E`, `W`, `N`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let letters = [
            (Self::SYN, 'S'),
            (Self::FIN, 'F'),
            (Self::RST, 'R'),
            (Self::PSH, 'P'),
            (Self::URG, 'U'),
            (Self::ECE, 'E'),
            (Self::CWR, 'W'),
            (Self::NS, 'N'),
            (Self::ACK, '.'),
        ];
        for (bit, c) in letters {
            if self.0 & bit != 0 {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// The TCP timestamps option (RFC 7323 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct TcpTimestamps {
    /// TSval.
    pub tsval: u32,
    /// TSecr.
    pub tsecr: u32,
}

/// A TCP header and the IP facts around it, decoded from one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpSegment {
    /// Version of the innermost IP header.
    pub ip_version: IpVersion,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Flags.
    pub flags: TcpFlags,
    /// Window field (unscaled).
    pub window: u16,
    /// Payload length from the IP length fields: the true length even when the capture
    /// kept fewer bytes.
    pub payload_len: u32,
    /// The capture kept fewer bytes of the IP packet than its length fields say.
    pub ip_truncated: bool,
    /// The timestamps option, when present and captured.
    pub timestamps: Option<TcpTimestamps>,
    /// The TCP header's options were cut by the snapshot length (so options may be missing).
    pub options_truncated: bool,
    /// Inside a GTP-U tunnel.
    pub tunnelled: bool,
}

/// Why a frame yields no TCP segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// No decoder for this link type.
    UnsupportedLinkType(LinkType),
    /// A link-layer frame whose payload is not IP (ARP, LLDP, …), by EtherType or
    /// protocol number of the link.
    NotIp(u16),
    /// An 802.2 LLC frame without SNAP (spanning tree, NetBIOS, …), by its DSAP.
    Llc(u8),
    /// A tunnel or label stack whose payload is not IP.
    NotIpInside(&'static str),
    /// An IP packet carrying something other than TCP (and not a GTP-U tunnel).
    NotTcp(u8),
    /// A GTP-U message that carries no user packet (echo, error indication, …).
    GtpSignalling(u8),
    /// An IP fragment: the TCP header, if any, is not in this frame alone.
    IpFragment,
    /// The capture ends inside a header before the TCP header's fixed 20 bytes.
    Truncated(&'static str),
    /// A header that contradicts itself.
    Malformed(&'static str),
    /// A record that carries no packet at all (pcapng systemd journal entry).
    NotAPacket(&'static str),
    /// Tunnels nested beyond any plausible depth.
    TooDeep,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::UnsupportedLinkType(l) => write!(f, "unsupported link type {l}"),
            SkipReason::NotIp(t) => write!(f, "not IP (link protocol 0x{t:04x})"),
            SkipReason::Llc(dsap) => write!(f, "not IP (802.2 LLC, DSAP 0x{dsap:02x})"),
            SkipReason::NotIpInside(what) => write!(f, "not IP inside {what}"),
            SkipReason::NotTcp(p) => write!(f, "not TCP (IP protocol {p}{})", ip_proto_name(*p)),
            SkipReason::GtpSignalling(t) => {
                write!(f, "GTP-U message type {t} without user packet")
            }
            SkipReason::IpFragment => write!(f, "IP fragment"),
            SkipReason::Truncated(what) => write!(f, "truncated in {what}"),
            SkipReason::Malformed(what) => write!(f, "malformed {what}"),
            SkipReason::NotAPacket(what) => write!(f, "not a packet ({what})"),
            SkipReason::TooDeep => write!(f, "encapsulation nested too deep"),
        }
    }
}

fn ip_proto_name(p: u8) -> &'static str {
    match p {
        1 => ", ICMP",
        2 => ", IGMP",
        6 => ", TCP",
        17 => ", UDP",
        47 => ", GRE",
        50 => ", ESP",
        58 => ", ICMPv6",
        89 => ", OSPF",
        103 => ", PIM",
        112 => ", VRRP",
        132 => ", SCTP",
        _ => "",
    }
}

type Decoded = Result<TcpSegment, SkipReason>;

/// Where in the layering the decoder is.
#[derive(Clone, Copy)]
struct Cx {
    /// Nesting of tags and tunnels so far.
    depth: u8,
    /// Bytes the packet had on the wire beyond those captured (all at the end).
    uncaptured: usize,
}

impl Cx {
    fn deeper(self) -> Self {
        Cx {
            depth: self.depth.saturating_add(1),
            ..self
        }
    }
}

/// Decodes one frame of the given link type down to its (innermost) TCP header.
/// `original_len` is the frame's length on the wire: the IP length fields are believed up
/// to it (a snapshot length cuts packets, but a length field beyond the wire is bogus, and
/// Wireshark then uses the wire length too).
pub fn decode_frame(link_type: LinkType, data: &[u8], original_len: u32) -> Decoded {
    let cx = Cx {
        depth: 0,
        uncaptured: (original_len as usize).saturating_sub(data.len()),
    };
    match link_type {
        LinkType::ETHERNET => ethernet(data, cx),
        LinkType::NULL | LinkType::LOOP => loopback(link_type, data, cx),
        LinkType::RAW | LinkType::RAW_BSD | LinkType::RAW_OPENBSD => ip_any(data, cx),
        LinkType::IPV4 => ip_any(data, cx),
        LinkType::IPV6 => ip_any(data, cx),
        LinkType::LINUX_SLL => match get_packetdata_linux_sll(data, data.len()) {
            Some(p) => packet_data(p, cx),
            None => Err(SkipReason::Truncated("Linux cooked header")),
        },
        LinkType::LINUX_SLL2 => match get_packetdata_linux_sll2(data, data.len()) {
            Some(p) => packet_data(p, cx),
            None => Err(SkipReason::Truncated("Linux cooked v2 header")),
        },
        LinkType::NFLOG => match get_packetdata_nflog(data, data.len()) {
            Some(PacketData::L3(0, _)) => Err(SkipReason::Malformed("NFLOG address family")),
            Some(p) => packet_data(p, cx),
            None => Err(SkipReason::Malformed("NFLOG TLVs (no payload attribute)")),
        },
        LinkType::FDDI => fddi(data, cx),
        LinkType::ARCNET_LINUX => arcnet_linux(data, cx),
        other => Err(SkipReason::UnsupportedLinkType(other)),
    }
}

fn packet_data(p: PacketData<'_>, cx: Cx) -> Decoded {
    match p {
        PacketData::L2(d) => ethernet(d, cx),
        PacketData::L3(ethertype, d) => ether_type(ethertype, d, cx),
        PacketData::L4(proto, _) => Err(SkipReason::NotTcp(proto)),
        PacketData::Unsupported(_) => Err(SkipReason::Malformed("link header")),
    }
}

/// BSD NULL carries the address family in the capturing host's byte order, OpenBSD LOOP in
/// network order. AF_INET is 2 everywhere; AF_INET6 is 24, 28 or 30 on the BSDs and macOS,
/// 10 on Linux, 23 on Windows.
fn loopback(link_type: LinkType, data: &[u8], cx: Cx) -> Decoded {
    let family = if link_type == LinkType::NULL {
        match get_packetdata_null(data, data.len()) {
            Some(PacketData::L3(ethertype, payload)) if ethertype != 0 => {
                return ether_type(ethertype, payload, cx);
            }
            _ => {
                // pcap-parser reads the family little-endian; a big-endian host wrote it the
                // other way round.
                let b: [u8; 4] = data
                    .get(..4)
                    .and_then(|s| s.try_into().ok())
                    .ok_or(SkipReason::Truncated("loopback header"))?;
                u32::from_be_bytes(b)
            }
        }
    } else {
        let b: [u8; 4] = data
            .get(..4)
            .and_then(|s| s.try_into().ok())
            .ok_or(SkipReason::Truncated("loopback header"))?;
        u32::from_be_bytes(b)
    };
    let payload = data.get(4..).unwrap_or_default();
    match family {
        2 => ether_type(ETHERTYPE_IPV4, payload, cx),
        10 | 23 | 24 | 28 | 30 => ether_type(ETHERTYPE_IPV6, payload, cx),
        other => Err(SkipReason::NotIp(other as u16)),
    }
}

fn ethernet(data: &[u8], cx: Cx) -> Decoded {
    let eth = Ethernet2HeaderSlice::from_slice(data)
        .map_err(|_| SkipReason::Truncated("Ethernet header"))?;
    let payload = data.get(eth.slice().len()..).unwrap_or_default();
    let et = eth.ether_type().0;
    if et <= 1500 {
        // An 802.3 length field: the payload starts with an 802.2 LLC header.
        return llc(payload, cx);
    }
    ether_type(et, payload, cx)
}

/// 802.2 LLC with a SNAP header (AA AA 03, OUI, EtherType) carries IP; plain LLC does not.
fn llc(data: &[u8], cx: Cx) -> Decoded {
    match data {
        [0xAA, 0xAA, 0x03, _, _, _, hi, lo, rest @ ..] => {
            ether_type(u16::from_be_bytes([*hi, *lo]), rest, cx)
        }
        [dsap, _, _, ..] => Err(SkipReason::Llc(*dsap)),
        _ => Err(SkipReason::Truncated("802.2 LLC header")),
    }
}

fn ether_type(et: u16, data: &[u8], cx: Cx) -> Decoded {
    if cx.depth > MAX_NESTING {
        return Err(SkipReason::TooDeep);
    }
    match et {
        ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => ip_any(data, cx),
        ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD => {
            let vlan = SingleVlanHeaderSlice::from_slice(data)
                .map_err(|_| SkipReason::Truncated("802.1Q tag"))?;
            let inner = vlan.ether_type().0;
            let payload = data.get(vlan.slice().len()..).unwrap_or_default();
            if inner <= 1500 {
                return llc(payload, cx.deeper());
            }
            ether_type(inner, payload, cx.deeper())
        }
        ETHERTYPE_MPLS | ETHERTYPE_MPLS_MULTICAST => mpls(data, cx.deeper()),
        other => Err(SkipReason::NotIp(other)),
    }
}

/// MPLS (RFC 3032 §2.1): 4-byte label stack entries up to the one with the bottom-of-stack
/// bit; the payload is identified by its first nibble, as Wireshark does by default:
/// 4 and 6 are IP, 0 is a pseudowire control word followed by Ethernet (RFC 4448 §3).
fn mpls(data: &[u8], cx: Cx) -> Decoded {
    let mut rest = data;
    loop {
        let [_, _, third, _, tail @ ..] = rest else {
            return Err(SkipReason::Truncated("MPLS label stack"));
        };
        rest = tail;
        if third & 0x01 != 0 {
            break;
        }
    }
    match rest.first().map(|b| b >> 4) {
        Some(4) | Some(6) => ip_any(rest, cx),
        Some(0) => ethernet(rest.get(4..).unwrap_or_default(), cx.deeper()),
        Some(_) => Err(SkipReason::NotIpInside("MPLS")),
        None => Err(SkipReason::Truncated("MPLS payload")),
    }
}

/// FDDI (LINKTYPE_FDDI): frame control (1), destination (6), source (6), then 802.2 LLC.
fn fddi(data: &[u8], cx: Cx) -> Decoded {
    let llc_part = data.get(13..).ok_or(SkipReason::Truncated("FDDI header"))?;
    llc(llc_part, cx)
}

/// ARCnet with the Linux header (LINKTYPE_ARCNET_LINUX): source (1), destination (1),
/// offset (2), protocol id (1). RFC 1051 encapsulation (ids 0xF0 IP, 0xF1 ARP) follows
/// directly; RFC 1201 encapsulation (0xD4 IP, 0xD5 ARP, 0xD6 RARP, 0xC4 IPv6 of RFC 2497)
/// adds a split flag (1) and a sequence number (2), and an exception packet (split flag
/// 0xFF) repeats protocol id and split flag after two padding bytes.
fn arcnet_linux(data: &[u8], cx: Cx) -> Decoded {
    let &proto = data.get(4).ok_or(SkipReason::Truncated("ARCnet header"))?;
    let header_len = match proto {
        0xF0 | 0xF1 => 5,
        0xD4 | 0xD5 | 0xD6 | 0xC4 => {
            let &split = data.get(5).ok_or(SkipReason::Truncated("ARCnet header"))?;
            if split == 0xFF { 12 } else { 8 }
        }
        other => return Err(SkipReason::NotIp(u16::from(other))),
    };
    let payload = data
        .get(header_len..)
        .ok_or(SkipReason::Truncated("ARCnet header"))?;
    match proto {
        0xF0 | 0xD4 => ether_type(ETHERTYPE_IPV4, payload, cx),
        0xC4 => ether_type(ETHERTYPE_IPV6, payload, cx),
        other => Err(SkipReason::NotIp(u16::from(other))),
    }
}

/// An IP packet of either version (the version nibble decides).
fn ip_any(data: &[u8], cx: Cx) -> Decoded {
    if cx.depth > MAX_NESTING {
        return Err(SkipReason::TooDeep);
    }
    let (ip, ext_error) = LaxIpSlice::from_slice(data).map_err(|e| {
        use etherparse::err::ip::LaxHeaderSliceError;
        match e {
            LaxHeaderSliceError::Len(_) => SkipReason::Truncated("IP header"),
            LaxHeaderSliceError::Content(_) => SkipReason::Malformed("IP header"),
        }
    })?;
    if ext_error.is_some() {
        return Err(SkipReason::Malformed("IPv6 extension header"));
    }
    let payload = ip.payload();
    if payload.fragmented {
        return Err(SkipReason::IpFragment);
    }
    // Where the IP payload starts within `data`, to get the declared payload length from
    // the header even when the capture cut the packet short.
    let payload_start = (payload.payload.as_ptr() as usize).saturating_sub(data.as_ptr() as usize);
    let (ip_version, ttl, declared_end) = match &ip {
        LaxIpSlice::Ipv4(v4) => {
            let h = v4.header();
            (IpVersion::V4, h.ttl(), usize::from(h.total_len()))
        }
        LaxIpSlice::Ipv6(v6) => {
            let h = v6.header();
            (
                IpVersion::V6,
                h.hop_limit(),
                40 + usize::from(h.payload_length()),
            )
        }
    };
    // The capture cut the packet: believe the length fields, but not beyond the wire.
    let on_wire_end = data.len().saturating_add(cx.uncaptured);
    let ip_payload_len = if payload.incomplete {
        declared_end.min(on_wire_end).saturating_sub(payload_start)
    } else {
        payload.payload.len()
    };
    let src = ip.source_addr();
    let dst = ip.destination_addr();
    match payload.ip_number {
        IpNumber::TCP => tcp(
            payload.payload,
            ip_payload_len,
            TcpContext {
                ip_version,
                src,
                dst,
                ttl,
                ip_truncated: payload.incomplete && cx.uncaptured > 0,
            },
        ),
        IpNumber::UDP => udp(payload.payload, cx),
        other => Err(SkipReason::NotTcp(other.0)),
    }
}

fn udp(data: &[u8], cx: Cx) -> Decoded {
    let h = UdpHeaderSlice::from_slice(data).map_err(|_| SkipReason::Truncated("UDP header"))?;
    if h.source_port() == GTPU_PORT || h.destination_port() == GTPU_PORT {
        gtpu(data.get(8..).unwrap_or_default(), cx.deeper())
    } else {
        Err(SkipReason::NotTcp(17))
    }
}

/// GTP-U (3GPP TS 29.281 §5.1): flags (version 1, PT 1, E/S/PN), message type, length,
/// TEID; when any of E, S, PN is set, a sequence number (2), N-PDU number (1) and next
/// extension header type (1) follow, then extension headers, each with its length in
/// 4-byte units first and the next type last. A G-PDU (type 255) carries a user packet.
fn gtpu(data: &[u8], cx: Cx) -> Decoded {
    let [flags, msg_type, _, _, _, _, _, _, ..] = *data else {
        return Err(SkipReason::Truncated("GTP-U header"));
    };
    if flags >> 5 != 1 || flags & 0x10 == 0 {
        return Err(SkipReason::Malformed("GTP-U header (not version 1 GTP)"));
    }
    if msg_type != 0xFF {
        return Err(SkipReason::GtpSignalling(msg_type));
    }
    let mut offset = 8;
    if flags & 0x07 != 0 {
        let &next = data.get(11).ok_or(SkipReason::Truncated("GTP-U header"))?;
        offset = 12;
        let mut next_type = next;
        while next_type != 0 {
            let &units = data
                .get(offset)
                .ok_or(SkipReason::Truncated("GTP-U extension header"))?;
            if units == 0 {
                return Err(SkipReason::Malformed("GTP-U extension header (length 0)"));
            }
            let len = usize::from(units) * 4;
            let &n = data
                .get(offset + len - 1)
                .ok_or(SkipReason::Truncated("GTP-U extension header"))?;
            next_type = n;
            offset += len;
        }
    }
    let inner = data.get(offset..).unwrap_or_default();
    match inner.first().map(|b| b >> 4) {
        Some(4) | Some(6) => ip_any(inner, cx.deeper()).map(|mut s| {
            s.tunnelled = true;
            s
        }),
        Some(_) => Err(SkipReason::NotIpInside("GTP-U")),
        None => Err(SkipReason::Truncated("GTP-U payload")),
    }
}

#[derive(Clone, Copy)]
struct TcpContext {
    ip_version: IpVersion,
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    ip_truncated: bool,
}

/// Finds the timestamps option (kind 8, length 10) in a TCP option list (RFC 9293
/// §3.1: kinds 0 and 1 are single bytes, every other option has a length byte). Unknown
/// kinds are stepped over by their length, as Wireshark does; a length that cannot be
/// right ends the walk.
fn timestamps_in(options: &[u8]) -> Option<TcpTimestamps> {
    let mut rest = options;
    loop {
        match rest {
            [] | [0, ..] => return None,
            [1, tail @ ..] => rest = tail,
            [8, 10, a, b, c, d, e, f, g, h, ..] => {
                return Some(TcpTimestamps {
                    tsval: u32::from_be_bytes([*a, *b, *c, *d]),
                    tsecr: u32::from_be_bytes([*e, *f, *g, *h]),
                });
            }
            [_, len, ..] if *len >= 2 => rest = rest.get(usize::from(*len)..)?,
            _ => return None,
        }
    }
}

/// The TCP header; `segment_len` is the TCP header plus payload as the IP header declares.
fn tcp(data: &[u8], segment_len: usize, ctx: TcpContext) -> Decoded {
    let (header, options_truncated) = match TcpSlice::from_slice(data) {
        Ok(t) => (t.header_slice(), false),
        Err(_) => {
            // etherparse wants the options whole; a snapshot length that cuts them still
            // leaves the fixed header, which is all the connection tracking needs.
            let fixed = data.get(..20).ok_or(SkipReason::Truncated("TCP header"))?;
            if fixed.get(12).is_some_and(|b| b >> 4 < 5) {
                return Err(SkipReason::Malformed("TCP header (data offset below 5)"));
            }
            (data, true)
        }
    };
    let byte = |i: usize| header.get(i).copied().unwrap_or(0);
    let be16 = |i: usize| u16::from_be_bytes([byte(i), byte(i + 1)]);
    let be32 = |i: usize| u32::from_be_bytes([byte(i), byte(i + 1), byte(i + 2), byte(i + 3)]);
    let header_len = usize::from(byte(12) >> 4) * 4;
    let options = header
        .get(20..header_len.min(header.len()))
        .unwrap_or_default();
    let payload_len = segment_len.saturating_sub(header_len);
    Ok(TcpSegment {
        ip_version: ctx.ip_version,
        src: ctx.src,
        dst: ctx.dst,
        ttl: ctx.ttl,
        src_port: be16(0),
        dst_port: be16(2),
        seq: be32(4),
        ack: be32(8),
        flags: TcpFlags(be16(12) & 0x01FF),
        window: be16(14),
        payload_len: u32::try_from(payload_len).unwrap_or(u32::MAX),
        ip_truncated: ctx.ip_truncated,
        timestamps: timestamps_in(options),
        options_truncated,
        tunnelled: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IPv4 + TCP SYN from 10.0.0.1:1234 to 10.0.0.2:80 with a timestamps option, seq 100.
    fn ipv4_syn() -> Vec<u8> {
        let mut ip = vec![
            0x45, 0, 0, 52, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let tcp = [
            0x04, 0xD2, 0x00, 0x50, 0, 0, 0, 100, 0, 0, 0, 0, 0x80, 0x02, 0xFF, 0xFF, 0, 0, 0,
            0, // options: NOP NOP TS(7, 0) — 12 bytes
            1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 0,
        ];
        ip.extend_from_slice(&tcp);
        ip
    }

    /// Decodes a frame that was captured whole.
    fn full(link_type: LinkType, data: &[u8]) -> Decoded {
        decode_frame(link_type, data, data.len() as u32)
    }

    fn expect_syn(d: Decoded) -> TcpSegment {
        let s = d.expect("decodes");
        assert_eq!(s.src, IpAddr::from([10, 0, 0, 1]));
        assert_eq!(s.dst, IpAddr::from([10, 0, 0, 2]));
        assert_eq!((s.src_port, s.dst_port, s.seq), (1234, 80, 100));
        assert!(s.flags.syn() && !s.flags.ack());
        assert_eq!(s.timestamps, Some(TcpTimestamps { tsval: 7, tsecr: 0 }));
        assert_eq!(s.payload_len, 0);
        assert_eq!(s.ttl, 64);
        s
    }

    #[test]
    fn raw_ipv4() {
        expect_syn(full(LinkType::IPV4, &ipv4_syn()));
        expect_syn(full(LinkType::RAW, &ipv4_syn()));
    }

    #[test]
    fn ethernet_with_two_vlan_tags() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x88, 0xA8, 0, 10, 0x81, 0x00, 0, 20, 0x08, 0x00]);
        f.extend_from_slice(&ipv4_syn());
        expect_syn(full(LinkType::ETHERNET, &f));
    }

    #[test]
    fn mpls_label_stack() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x88, 0x47]);
        // Two labels, the second with the bottom-of-stack bit.
        f.extend_from_slice(&[0x00, 0x01, 0xD0, 0xFF, 0x00, 0x01, 0xD1, 0xFF]);
        f.extend_from_slice(&ipv4_syn());
        expect_syn(full(LinkType::ETHERNET, &f));
        // A stack that never reaches the bottom is truncated, not a panic.
        let cut = [0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x88, 0x47, 0, 1, 0xD0];
        assert_eq!(
            full(LinkType::ETHERNET, &cut),
            Err(SkipReason::Truncated("MPLS label stack"))
        );
    }

    #[test]
    fn gtpu_tunnel_with_extension_header() {
        // Outer IPv4/UDP to port 2152, GTP-U with E flag and one 4-byte extension header.
        let inner = ipv4_syn();
        let mut gtp = vec![0x34, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x85];
        gtp.extend_from_slice(&[1, 0, 0, 0]); // ext: length 1 unit, next type 0
        gtp.extend_from_slice(&inner);
        let udp_len = 8 + gtp.len();
        let mut udp = vec![0x08, 0x68, 0x08, 0x68];
        udp.extend_from_slice(&(udp_len as u16).to_be_bytes());
        udp.extend_from_slice(&[0, 0]);
        udp.extend_from_slice(&gtp);
        let total = 20 + udp.len();
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 1, 0x40, 0, 60, 17, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
        ];
        ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        ip.extend_from_slice(&udp);
        let s = expect_syn(full(LinkType::RAW, &ip));
        assert_eq!(s.ttl, 64, "the innermost IP header is observed");
        // An echo request is signalling, not a user packet.
        let mut echo = ip.clone();
        echo[20 + 8 + 1] = 1;
        assert_eq!(
            full(LinkType::RAW, &echo),
            Err(SkipReason::GtpSignalling(1))
        );
    }

    #[test]
    fn fddi_with_snap() {
        let mut f = vec![0x50];
        f.extend_from_slice(&[0u8; 12]);
        f.extend_from_slice(&[0xAA, 0xAA, 0x03, 0, 0, 0, 0x08, 0x00]);
        f.extend_from_slice(&ipv4_syn());
        expect_syn(full(LinkType::FDDI, &f));
    }

    #[test]
    fn arcnet_rfc1051_and_rfc1201() {
        let mut f = vec![0xBE, 0x50, 0xAB, 0x08, 0xF0];
        f.extend_from_slice(&ipv4_syn());
        expect_syn(full(LinkType::ARCNET_LINUX, &f));
        let mut g = vec![0xBE, 0x50, 0xAB, 0x08, 0xD4, 0x00, 0x00, 0x01];
        g.extend_from_slice(&ipv4_syn());
        expect_syn(full(LinkType::ARCNET_LINUX, &g));
        let arp = [0xBE, 0x50, 0xAB, 0x08, 0xF1, 0, 1];
        assert_eq!(
            full(LinkType::ARCNET_LINUX, &arp),
            Err(SkipReason::NotIp(0xF1))
        );
    }

    #[test]
    fn loopback_either_byte_order() {
        let mut le = vec![2, 0, 0, 0];
        le.extend_from_slice(&ipv4_syn());
        expect_syn(full(LinkType::NULL, &le));
        let mut be = vec![0, 0, 0, 2];
        be.extend_from_slice(&ipv4_syn());
        expect_syn(full(LinkType::NULL, &be));
        expect_syn(full(LinkType::LOOP, &be));
    }

    #[test]
    fn snaplen_cut_keeps_true_payload_length() {
        let mut p = ipv4_syn();
        // Claim 100 payload bytes in the IP total length, but capture none of them.
        let total = p.len() + 100;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        let s = decode_frame(LinkType::RAW, &p, total as u32).expect("decodes");
        assert_eq!(s.payload_len, 100);
        assert!(s.ip_truncated);
        // Cut inside the options: the fixed header still decodes, timestamps are lost.
        let cut = &p[..20 + 24];
        let s = decode_frame(LinkType::RAW, cut, total as u32).expect("decodes");
        assert!(s.options_truncated);
        assert_eq!(s.timestamps, None);
        assert_eq!(s.payload_len, 100);
        // Cut inside the fixed header: skipped.
        assert_eq!(
            decode_frame(LinkType::RAW, &p[..30], total as u32),
            Err(SkipReason::Truncated("TCP header"))
        );
        // A whole frame whose IP length claims more than the wire carried: the length
        // field is bogus and the wire length wins, as in Wireshark.
        let s = full(LinkType::RAW, &p).expect("decodes");
        assert_eq!(s.payload_len, 0);
        assert!(!s.ip_truncated);
    }

    #[test]
    fn unknown_options_are_stepped_over() {
        // MSS, an unknown kind 106 of length 2, then timestamps.
        let opts = [2, 4, 5, 0xB4, 106, 2, 8, 10, 0, 0, 0, 9, 0, 0, 0, 3];
        assert_eq!(
            timestamps_in(&opts),
            Some(TcpTimestamps { tsval: 9, tsecr: 3 })
        );
        assert_eq!(timestamps_in(&[2, 0, 8, 10]), None);
        assert_eq!(timestamps_in(&[8, 10, 1]), None);
    }

    #[test]
    fn unknown_link_type_is_named() {
        assert_eq!(
            full(LinkType(274), &[1, 2, 3]),
            Err(SkipReason::UnsupportedLinkType(LinkType(274)))
        );
        assert_eq!(
            SkipReason::UnsupportedLinkType(LinkType(274)).to_string(),
            "unsupported link type ETHERNET_MPACKET (274)"
        );
    }

    #[test]
    fn flags_display() {
        assert_eq!(TcpFlags(TcpFlags::SYN | TcpFlags::ACK).to_string(), "S.");
        assert_eq!(TcpFlags(TcpFlags::FIN | TcpFlags::ACK).to_string(), "F.");
    }
}
