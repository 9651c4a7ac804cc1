//! One observed TCP segment: what the capture saw, where and when.

use std::net::SocketAddr;

use serde::Serialize;

use crate::capture::Frame;
use crate::decode::{IpVersion, TcpFlags, TcpSegment, TcpTimestamps};

/// A TCP segment as the capture saw it, with the frame it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Observation {
    /// Wireshark's frame number (1-based, across all interfaces).
    pub frame: u64,
    /// Capture time, nanoseconds since the Unix epoch. Kept in file order even when it
    /// goes backwards.
    pub timestamp_ns: i64,
    /// pcapng section of the frame, 0-based.
    pub section: u32,
    /// Interface within that section, as Wireshark's `frame.interface_id`.
    pub interface: u32,
    /// IP version of the innermost IP header.
    pub ip_version: IpVersion,
    /// Sender address and port.
    pub src: SocketAddr,
    /// Receiver address and port.
    pub dst: SocketAddr,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// TCP flags.
    pub flags: TcpFlags,
    /// Payload length from the IP length fields, true even when the capture is cut.
    pub payload_len: u32,
    /// The capture kept fewer bytes than the frame had on the wire (snapshot length).
    pub truncated: bool,
    /// Window field (unscaled).
    pub window: u16,
    /// TSval/TSecr of the timestamps option.
    pub timestamps: Option<TcpTimestamps>,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// Carried in a GTP-U tunnel.
    pub tunnelled: bool,
}

impl Observation {
    /// Combines a frame and the TCP segment decoded from it.
    pub fn new(frame: &Frame<'_>, segment: &TcpSegment) -> Self {
        Observation {
            frame: frame.number,
            timestamp_ns: frame.timestamp_ns,
            section: frame.section,
            interface: frame.interface,
            ip_version: segment.ip_version,
            src: SocketAddr::new(segment.src, segment.src_port),
            dst: SocketAddr::new(segment.dst, segment.dst_port),
            seq: segment.seq,
            ack: segment.ack,
            flags: segment.flags,
            payload_len: segment.payload_len,
            truncated: (frame.data.len() as u64) < u64::from(frame.original_len),
            window: segment.window,
            timestamps: segment.timestamps,
            ttl: segment.ttl,
            tunnelled: segment.tunnelled,
        }
    }
}
