//! Writing model segments as a capture: real Ethernet/IPv4/IPv6/TCP frames with correct
//! lengths and checksums, in a nanosecond pcap that any tool reads (tcpdump, Wireshark,
//! and `teardown replay`). Tests render the model's own executions with it; the artifacts
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
    if client.is_ipv4() != server.is_ipv4() {
        return Err(WriteError::MixedVersions { client, server });
    }
    let mut header = Vec::with_capacity(24);
    header.extend_from_slice(&PCAP_MAGIC_NS.to_le_bytes());
    header.extend_from_slice(&2u16.to_le_bytes());
    header.extend_from_slice(&4u16.to_le_bytes());
    header.extend_from_slice(&0i32.to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    header.extend_from_slice(&65_535u32.to_le_bytes());
    header.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    out.write_all(&header)?;
    let mut last_tsval: [Option<u32>; 2] = [None, None];
    let mut frame = Vec::with_capacity(2048);
    for c in segments {
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
                last_tsval[1 - side].unwrap_or(0)
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
            last_tsval[side] = Some(tsval);
        }
        frame.clear();
        tcp.write(&mut frame, &payload)
            .map_err(|e| WriteError::Build(e.to_string()))?;
        let secs = u32::try_from(c.time_ns / 1_000_000_000).unwrap_or(u32::MAX);
        let nanos = (c.time_ns % 1_000_000_000) as u32;
        let n = u32::try_from(frame.len()).map_err(|_| WriteError::TooLong { len: s.len })?;
        let mut rec = Vec::with_capacity(16);
        rec.extend_from_slice(&secs.to_le_bytes());
        rec.extend_from_slice(&nanos.to_le_bytes());
        rec.extend_from_slice(&n.to_le_bytes());
        rec.extend_from_slice(&n.to_le_bytes());
        out.write_all(&rec)?;
        out.write_all(&frame)?;
    }
    Ok(())
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
