//! Writing model segments as a capture: real Ethernet/IPv4/IPv6/TCP frames with correct
//! lengths and checksums, in a nanosecond pcap or pcapng that any tool reads (tcpdump,
//! Wireshark, and `teardown replay`); the pcapng also carries a comment per packet and
//! how long the capture ran. Tests render the model's own executions with it; the artifacts
//! issue exposes it on the command line.

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};

use std::borrow::Cow;

use etherparse::{PacketBuilder, TcpOptionElement};
use pcap_parser::pcapng::{
    EnhancedPacketBlock, InterfaceDescriptionBlock, InterfaceStatisticsBlock, OptionCode,
    PcapNGOption, SectionHeaderBlock,
};
use pcap_parser::{LegacyPcapBlock, Linktype, PcapHeader, ToVec};
use teardown_model::segment::{Flags, Segment};

/// pcap magic for nanosecond timestamps.
const PCAP_MAGIC_NS: u32 = 0xa1b2_3c4d;
/// Receive window written in every segment (the model does not track windows).
const WINDOW: u16 = 64_240;

/// One segment to write: when, who sent it, what, and with which TTL (hop limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapturedSegment {
    /// Nanoseconds since the Unix epoch.
    pub time_ns: u64,
    /// Sent by the client (else by the server).
    pub from_client: bool,
    /// The segment (32-bit scale).
    pub segment: Segment<u32>,
    /// IPv4 TTL or IPv6 hop limit as captured: 64 at the sender's host, lower past routers.
    pub ttl: u8,
}

/// Why a capture could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The client and the server are not both IPv4 or both IPv6.
    #[error("client {client} and server {server} are not of the same IP version")]
    MixedVersions {
        /// The client.
        client: SocketAddr,
        /// The server.
        server: SocketAddr,
    },
    /// A segment's payload does not fit one IP packet.
    #[error("a segment of {len} octets does not fit one IP packet")]
    TooLong {
        /// Payload length.
        len: u32,
    },
    /// Building a frame failed.
    #[error("building a frame: {0}")]
    Build(String),
    /// Writing failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Writes `segments` between `client` and `server` as a pcap (nanosecond resolution,
/// Ethernet). TSecr echoes the last TSval seen from the other side, as RFC 7323 §3.2 has it.
pub fn write_pcap<W: Write>(
    mut out: W,
    client: SocketAddr,
    server: SocketAddr,
    segments: &[CapturedSegment],
) -> Result<(), WriteError> {
    let header = PcapHeader {
        magic_number: PCAP_MAGIC_NS,
        snaplen: 65_535,
        network: Linktype::ETHERNET,
        ..PcapHeader::new()
    };
    let mut frames = Frames::new(client, server)?;
    out.write_all(&header.to_vec_raw().map_err(serialize)?)?;
    for c in segments {
        let frame = frames.build(c)?;
        let n =
            u32::try_from(frame.len()).map_err(|_| WriteError::TooLong { len: c.segment.len })?;
        let record = LegacyPcapBlock {
            ts_sec: u32::try_from(c.time_ns / 1_000_000_000).unwrap_or(u32::MAX),
            // Nanoseconds: the header's magic says so.
            ts_usec: (c.time_ns % 1_000_000_000) as u32,
            caplen: n,
            origlen: n,
            data: frame,
        };
        out.write_all(&record.to_vec_raw().map_err(serialize)?)?;
    }
    Ok(())
}

/// pcap-parser's serializer failed (cookie-factory's `GenError`, which it does not
/// re-export): it writes into a growing vector, so this is not expected to happen.
fn serialize(e: impl std::fmt::Debug) -> WriteError {
    WriteError::Build(format!("serializing: {e:?}"))
}

/// A pcapng option (pcapng §3.5); pcap-parser pads its value to 32 bits.
fn option(code: u16, value: &[u8]) -> PcapNGOption<'_> {
    // Option values are at most 65535 octets; comments longer than that are cut.
    let value = &value[..value.len().min(usize::from(u16::MAX) & !3)];
    PcapNGOption {
        code: OptionCode(code),
        len: value.len() as u16,
        value: Cow::Borrowed(value),
    }
}

/// A pcapng timestamp at nanosecond resolution: high and low 32 bits.
fn ts(time_ns: u64) -> (u32, u32) {
    ((time_ns >> 32) as u32, time_ns as u32)
}

/// [`ts`] as an option value (isb_starttime, isb_endtime): high then low, little-endian.
fn ts_bytes(time_ns: u64) -> [u8; 8] {
    let (high, low) = ts(time_ns);
    let mut t = [0u8; 8];
    t[..4].copy_from_slice(&high.to_le_bytes());
    t[4..].copy_from_slice(&low.to_le_bytes());
    t
}

/// Writes `segments` as a pcapng: one Ethernet interface at nanosecond resolution, each
/// packet with its comment where `comments` has a non-empty one (Wireshark shows them as
/// packet comments), and, with `running_until_ns`, interface statistics saying the capture
/// ran until then (`isb_starttime`, `isb_endtime`): silence after the last packet is then
/// something the capture shows, not something it could not see.
///
/// The blocks are pcap-parser's, serialized by it (`ToVec::to_vec` fills in the block
/// types, lengths and padding).
pub fn write_pcapng<W: Write>(
    mut out: W,
    client: SocketAddr,
    server: SocketAddr,
    segments: &[CapturedSegment],
    comments: &[String],
    running_until_ns: Option<u64>,
) -> Result<(), WriteError> {
    let mut frames = Frames::new(client, server)?;
    let application = format!("teardown {}", env!("CARGO_PKG_VERSION"));
    let mut shb = SectionHeaderBlock {
        block_type: 0,
        block_len1: 0,
        bom: 0,
        major_version: 1,
        minor_version: 0,
        // Unknown: the section is written as it goes.
        section_len: -1,
        options: vec![option(4, application.as_bytes())], // shb_userappl
        block_len2: 0,
    };
    out.write_all(&shb.to_vec().map_err(serialize)?)?;
    let mut idb = InterfaceDescriptionBlock {
        block_type: 0,
        block_len1: 0,
        linktype: Linktype::ETHERNET,
        reserved: 0,
        snaplen: 0,
        options: Vec::new(),
        block_len2: 0,
        // if_tsresol: 10^-9 s.
        if_tsresol: 9,
        if_tsoffset: 0,
    };
    out.write_all(&idb.to_vec().map_err(serialize)?)?;
    for (k, c) in segments.iter().enumerate() {
        let frame = frames.build(c)?;
        let n =
            u32::try_from(frame.len()).map_err(|_| WriteError::TooLong { len: c.segment.len })?;
        let (ts_high, ts_low) = ts(c.time_ns);
        let comment = comments.get(k).filter(|c| !c.is_empty());
        let mut epb = EnhancedPacketBlock {
            block_type: 0,
            block_len1: 0,
            if_id: 0,
            ts_high,
            ts_low,
            caplen: n,
            origlen: n,
            data: frame,
            // opt_comment
            options: comment
                .map(|c| option(1, c.as_bytes()))
                .into_iter()
                .collect(),
            block_len2: 0,
        };
        out.write_all(&epb.to_vec().map_err(serialize)?)?;
    }
    if let Some(end) = running_until_ns {
        let start = segments.first().map_or(end, |c| c.time_ns.min(end));
        let (start, end_bytes) = (ts_bytes(start), ts_bytes(end));
        let (ts_high, ts_low) = ts(end);
        let mut isb = InterfaceStatisticsBlock {
            block_type: 0,
            block_len1: 0,
            if_id: 0,
            ts_high,
            ts_low,
            // isb_starttime, isb_endtime
            options: vec![option(2, &start), option(3, &end_bytes)],
            block_len2: 0,
        };
        out.write_all(&isb.to_vec().map_err(serialize)?)?;
    }
    Ok(())
}

/// Builds Ethernet frames for one connection, carrying TSecr from one frame to the next.
struct Frames {
    client: SocketAddr,
    server: SocketAddr,
    last_tsval: [Option<u32>; 2],
    frame: Vec<u8>,
}

impl Frames {
    fn new(client: SocketAddr, server: SocketAddr) -> Result<Self, WriteError> {
        if client.is_ipv4() != server.is_ipv4() {
            return Err(WriteError::MixedVersions { client, server });
        }
        Ok(Frames {
            client,
            server,
            last_tsval: [None, None],
            frame: Vec::with_capacity(2048),
        })
    }

    fn build(&mut self, c: &CapturedSegment) -> Result<&[u8], WriteError> {
        let (client, server) = (self.client, self.server);
        let side = usize::from(!c.from_client);
        let (src, dst) = if c.from_client {
            (client, server)
        } else {
            (server, client)
        };
        let s = &c.segment;
        let len = usize::try_from(s.len).map_err(|_| WriteError::TooLong { len: s.len })?;
        if len > 65_000 {
            return Err(WriteError::TooLong { len: s.len });
        }
        let payload = vec![0u8; len];
        let macs = if c.from_client {
            ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        } else {
            ([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1])
        };
        let eth = PacketBuilder::ethernet2(macs.0, macs.1);
        let ip = match (src.ip(), dst.ip()) {
            (IpAddr::V4(a), IpAddr::V4(b)) => eth.ipv4(a.octets(), b.octets(), c.ttl),
            (IpAddr::V6(a), IpAddr::V6(b)) => eth.ipv6(a.octets(), b.octets(), c.ttl),
            _ => return Err(WriteError::MixedVersions { client, server }),
        };
        let mut tcp = ip.tcp(src.port(), dst.port(), s.seq, WINDOW);
        if s.has(Flags::ACK) {
            tcp = tcp.ack(s.ack);
        }
        if s.has(Flags::SYN) {
            tcp = tcp.syn();
        }
        if s.has(Flags::FIN) {
            tcp = tcp.fin();
        }
        if s.has(Flags::RST) {
            tcp = tcp.rst();
        }
        if let Some(tsval) = s.tsval {
            let tsecr = if s.has(Flags::ACK) {
                self.last_tsval[1 - side].unwrap_or(0)
            } else {
                0
            };
            tcp = tcp
                .options(&[
                    TcpOptionElement::Noop,
                    TcpOptionElement::Noop,
                    TcpOptionElement::Timestamp(tsval, tsecr),
                ])
                .map_err(|e| WriteError::Build(e.to_string()))?;
            self.last_tsval[side] = Some(tsval);
        }
        self.frame.clear();
        tcp.write(&mut self.frame, &payload)
            .map_err(|e| WriteError::Build(e.to_string()))?;
        Ok(&self.frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::ingest;
    use teardown_model::segment::Ghost;

    fn seg(flags: Flags, seq: u32, ack: u32, len: u32, tsval: Option<u32>) -> Segment<u32> {
        Segment {
            flags,
            seq,
            ack,
            len,
            tsval,
            ghost: Ghost::default(),
        }
    }

    #[test]
    fn written_captures_read_back_segment_for_segment() {
        for (c, s) in [
            ("192.0.2.2:40000", "198.51.100.2:80"),
            ("[2001:db8::2]:40000", "[2001:db8::1]:80"),
        ] {
            let client: SocketAddr = c.parse().unwrap();
            let server: SocketAddr = s.parse().unwrap();
            let segments = [
                (true, seg(Flags::SYN, 100, 0, 0, Some(7))),
                (false, seg(Flags::SYN | Flags::ACK, 500, 101, 0, Some(9))),
                (true, seg(Flags::ACK, 101, 501, 10, Some(8))),
                (true, seg(Flags::FIN | Flags::ACK, 111, 501, 0, None)),
                (false, seg(Flags::RST, 501, 0, 0, None)),
            ]
            .map(|(from_client, segment)| CapturedSegment {
                time_ns: 1_700_000_000_000_000_000,
                from_client,
                segment,
                ttl: 64,
            });
            let mut buf = Vec::new();
            write_pcap(&mut buf, client, server, &segments).unwrap();
            let mut seen = Vec::new();
            let summary = ingest("written", &buf[..], |obs, _| seen.push(*obs));
            assert_eq!(summary.error, None);
            assert_eq!(seen.len(), segments.len());
            for (o, w) in seen.iter().zip(&segments) {
                let s = &w.segment;
                assert_eq!(Flags::from_tcp_header(o.flags.0 as u8), s.flags);
                assert_eq!((o.seq, o.payload_len), (s.seq, s.len));
                if s.has(Flags::ACK) {
                    assert_eq!(o.ack, s.ack);
                }
                assert_eq!(o.timestamps.map(|t| t.tsval), s.tsval);
                assert_eq!(o.src, if w.from_client { client } else { server });
                assert_eq!(o.timestamp_ns, 1_700_000_000_000_000_000);
            }
            // TSecr echoes the peer's last TSval.
            assert_eq!(seen[2].timestamps.map(|t| t.tsecr), Some(9));
        }
    }

    #[test]
    fn pcapng_carries_comments_and_the_end_of_the_capture() {
        let client: SocketAddr = "192.0.2.2:40000".parse().unwrap();
        let server: SocketAddr = "198.51.100.2:80".parse().unwrap();
        let t0 = 1_700_000_000_000_000_000u64;
        let segments = [
            (true, seg(Flags::FIN | Flags::ACK, 111, 501, 0, None)),
            (false, seg(Flags::ACK, 501, 112, 0, None)),
        ]
        .map(|(from_client, segment)| CapturedSegment {
            time_ns: t0,
            from_client,
            segment,
            ttl: 64,
        });
        let comments = ["client closes".to_string(), String::new()];
        let mut buf = Vec::new();
        let end = t0 + 900_000_000_000;
        write_pcapng(&mut buf, client, server, &segments, &comments, Some(end)).unwrap();
        assert_eq!(buf.len() % 4, 0);
        let mut seen = Vec::new();
        let summary = ingest("written", &buf[..], |obs, _| seen.push(*obs));
        assert_eq!(summary.error, None);
        assert_eq!(summary.format.as_deref(), Some("pcapng"));
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[1].timestamp_ns, t0 as i64);
        assert_eq!(summary.running_until_ns, Some(end as i64));
        // The comment is in the file, padded to 32 bits.
        assert!(buf.windows(13).any(|w| w == b"client closes"));
    }

    #[test]
    fn mixed_ip_versions_are_an_error() {
        let err = write_pcap(
            Vec::new(),
            "192.0.2.2:1".parse().unwrap(),
            "[2001:db8::1]:2".parse().unwrap(),
            &[],
        );
        assert!(matches!(err, Err(WriteError::MixedVersions { .. })));
    }
}
