//! Writing model segments as a capture: real Ethernet/IPv4/IPv6/TCP frames with correct
//! lengths and checksums, in a nanosecond pcap or pcapng that any tool reads (tcpdump,
//! Wireshark, and `teardown replay`); the pcapng also carries a comment per packet and
//! how long the capture ran. Tests render the model's own executions with it; the artifacts
//! issue exposes it on the command line.

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};

use etherparse::{PacketBuilder, TcpOptionElement};
use teardown_model::segment::{Flags, Segment};

/// pcap magic for nanosecond timestamps.
const PCAP_MAGIC_NS: u32 = 0xa1b2_3c4d;
/// LINKTYPE_ETHERNET.
const LINKTYPE_ETHERNET: u32 = 1;
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
    let mut header = Vec::with_capacity(24);
    header.extend_from_slice(&PCAP_MAGIC_NS.to_le_bytes());
    header.extend_from_slice(&2u16.to_le_bytes());
    header.extend_from_slice(&4u16.to_le_bytes());
    header.extend_from_slice(&0i32.to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    header.extend_from_slice(&65_535u32.to_le_bytes());
    header.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    let mut frames = Frames::new(client, server)?;
    out.write_all(&header)?;
    for c in segments {
        let frame = frames.build(c)?;
        let n =
            u32::try_from(frame.len()).map_err(|_| WriteError::TooLong { len: c.segment.len })?;
        let secs = u32::try_from(c.time_ns / 1_000_000_000).unwrap_or(u32::MAX);
        let nanos = (c.time_ns % 1_000_000_000) as u32;
        let mut rec = Vec::with_capacity(16);
        rec.extend_from_slice(&secs.to_le_bytes());
        rec.extend_from_slice(&nanos.to_le_bytes());
        rec.extend_from_slice(&n.to_le_bytes());
        rec.extend_from_slice(&n.to_le_bytes());
        out.write_all(&rec)?;
        out.write_all(frame)?;
    }
    Ok(())
}

/// pcapng block types (pcapng §4).
const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 1;
const ISB: u32 = 5;
const EPB: u32 = 6;

/// One pcapng option: code, length, value padded to 32 bits.
fn option(buf: &mut Vec<u8>, code: u16, value: &[u8]) {
    // Option values are at most 65535 octets; comments longer than that are cut.
    let value = &value[..value.len().min(usize::from(u16::MAX) & !3)];
    buf.extend_from_slice(&code.to_le_bytes());
    buf.extend_from_slice(&(value.len() as u16).to_le_bytes());
    buf.extend_from_slice(value);
    buf.resize(buf.len().next_multiple_of(4), 0);
}

/// A whole block: type, total length, body (padded), options ending in `opt_endofopt`,
/// total length again.
fn block<W: Write>(out: &mut W, kind: u32, body: &[u8], options: &[u8]) -> io::Result<()> {
    let mut b = Vec::with_capacity(12 + body.len() + options.len() + 8);
    b.extend_from_slice(&kind.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(body);
    b.resize(b.len().next_multiple_of(4), 0);
    if !options.is_empty() {
        b.extend_from_slice(options);
        b.extend_from_slice(&[0, 0, 0, 0]);
    }
    let total = (b.len() + 4) as u32;
    b[4..8].copy_from_slice(&total.to_le_bytes());
    b.extend_from_slice(&total.to_le_bytes());
    out.write_all(&b)
}

/// A pcapng timestamp at nanosecond resolution: high then low 32 bits.
fn ts(time_ns: u64) -> [u8; 8] {
    let mut t = [0u8; 8];
    t[..4].copy_from_slice(&((time_ns >> 32) as u32).to_le_bytes());
    t[4..].copy_from_slice(&(time_ns as u32).to_le_bytes());
    t
}

/// Writes `segments` as a pcapng: one Ethernet interface at nanosecond resolution, each
/// packet with its comment where `comments` has a non-empty one (Wireshark shows them as
/// packet comments), and, with `running_until_ns`, interface statistics saying the capture
/// ran until then (`isb_starttime`, `isb_endtime`): silence after the last packet is then
/// something the capture shows, not something it could not see.
pub fn write_pcapng<W: Write>(
    mut out: W,
    client: SocketAddr,
    server: SocketAddr,
    segments: &[CapturedSegment],
    comments: &[String],
    running_until_ns: Option<u64>,
) -> Result<(), WriteError> {
    let mut frames = Frames::new(client, server)?;
    let mut shb = Vec::with_capacity(16);
    shb.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    let mut opts = Vec::new();
    option(
        &mut opts,
        4, // shb_userappl
        format!("teardown {}", env!("CARGO_PKG_VERSION")).as_bytes(),
    );
    block(&mut out, SHB, &shb, &opts)?;
    let mut idb = Vec::with_capacity(8);
    idb.extend_from_slice(&(LINKTYPE_ETHERNET as u16).to_le_bytes());
    idb.extend_from_slice(&0u16.to_le_bytes());
    idb.extend_from_slice(&0u32.to_le_bytes());
    let mut opts = Vec::new();
    option(&mut opts, 9, &[9]); // if_tsresol: 10^-9 s
    block(&mut out, IDB, &idb, &opts)?;
    for (k, c) in segments.iter().enumerate() {
        let frame = frames.build(c)?;
        let n =
            u32::try_from(frame.len()).map_err(|_| WriteError::TooLong { len: c.segment.len })?;
        let mut epb = Vec::with_capacity(20 + frame.len());
        epb.extend_from_slice(&0u32.to_le_bytes());
        epb.extend_from_slice(&ts(c.time_ns));
        epb.extend_from_slice(&n.to_le_bytes());
        epb.extend_from_slice(&n.to_le_bytes());
        epb.extend_from_slice(frame);
        let mut opts = Vec::new();
        if let Some(comment) = comments.get(k).filter(|c| !c.is_empty()) {
            option(&mut opts, 1, comment.as_bytes()); // opt_comment
        }
        block(&mut out, EPB, &epb, &opts)?;
    }
    if let Some(end) = running_until_ns {
        let start = segments.first().map_or(end, |c| c.time_ns.min(end));
        let mut isb = Vec::with_capacity(12);
        isb.extend_from_slice(&0u32.to_le_bytes());
        isb.extend_from_slice(&ts(end));
        let mut opts = Vec::new();
        option(&mut opts, 2, &ts(start)); // isb_starttime
        option(&mut opts, 3, &ts(end)); // isb_endtime
        block(&mut out, ISB, &isb, &opts)?;
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
