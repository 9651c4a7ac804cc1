//! TCP segments as the teardown rules see them, plus ghost fields that only properties read.

use std::fmt;

use serde::Serialize;

use crate::seq::SeqNum;

/// The control bits the teardown rules act on (RFC 9293 §3.1). URG, PSH and ECN bits play
/// no part in teardown and are not represented.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize)]
pub struct Flags(u8);

impl Flags {
    /// Synchronize sequence numbers.
    pub const SYN: Flags = Flags(0x01);
    /// The acknowledgment field is significant.
    pub const ACK: Flags = Flags(0x02);
    /// No more data from sender.
    pub const FIN: Flags = Flags(0x04);
    /// Reset the connection.
    pub const RST: Flags = Flags(0x08);

    /// No flag set.
    pub const fn empty() -> Flags {
        Flags(0)
    }

    /// Whether every bit of `other` is set in `self`.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// The raw bits (SYN=1, ACK=2, FIN=4, RST=8).
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Flags from TCP header bits (FIN=0x01, SYN=0x02, RST=0x04, ACK=0x10).
    pub const fn from_tcp_header(bits: u8) -> Flags {
        let mut f = 0;
        if bits & 0x02 != 0 {
            f |= Flags::SYN.0;
        }
        if bits & 0x10 != 0 {
            f |= Flags::ACK.0;
        }
        if bits & 0x01 != 0 {
            f |= Flags::FIN.0;
        }
        if bits & 0x04 != 0 {
            f |= Flags::RST.0;
        }
        Flags(f)
    }
}

impl std::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Flags {
    /// tcpdump's notation: `S`, `F`, `R`, `.` for ACK, e.g. `F.` for FIN+ACK; `none` for
    /// none of them. Static, so that reports can keep one per captured frame for free.
    pub fn tcpdump(self) -> &'static str {
        const NAMES: [&str; 16] = [
            "none", "S", "F", "SF", "R", "SR", "FR", "SFR", ".", "S.", "F.", "SF.", "R.", "SR.",
            "FR.", "SFR.",
        ];
        let index = usize::from(self.contains(Flags::SYN))
            | usize::from(self.contains(Flags::FIN)) << 1
            | usize::from(self.contains(Flags::RST)) << 2
            | usize::from(self.contains(Flags::ACK)) << 3;
        NAMES[index]
    }
}

impl fmt::Display for Flags {
    /// tcpdump's notation: `S`, `F`, `R`, `.` for ACK, e.g. `F.` for FIN+ACK.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tcpdump())
    }
}

/// Fields the protocol never reads; only properties and reports do.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default, Serialize)]
pub struct Ghost {
    /// The incarnation of the 4-tuple this segment belongs to, by causality: a segment sent
    /// on the endpoint's own initiative (application call, timer) carries the sender's
    /// incarnation; a reply to an arriving segment carries the newer of the two. So the
    /// TIME-WAIT TCB's answer to a new incarnation's SYN belongs to the new incarnation,
    /// while a duplicate of its final ACK stays old.
    pub incarnation: u8,
    /// An RST sent in answer to a segment that carried a FIN: the "peer meets RST for a FIN
    /// it retransmits" outcome that TIME-WAIT exists to prevent (RFC 9293 §3.10.7.1).
    pub answers_fin: bool,
}

/// A TCP segment: what the teardown rules read from a header, plus ghost fields.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize)]
pub struct Segment<S: SeqNum> {
    /// Control bits.
    pub flags: Flags,
    /// SEG.SEQ.
    pub seq: S,
    /// SEG.ACK (meaningful only with ACK).
    pub ack: S,
    /// Payload octets (SYN and FIN are not counted here; see [`Segment::seg_len`]).
    pub len: u32,
    /// TSval of the timestamps option (RFC 7323), if present.
    pub tsval: Option<u32>,
    /// Ghost fields.
    pub ghost: Ghost,
}

impl<S: SeqNum> Segment<S> {
    /// Whether the segment carries every flag in `f`.
    pub fn has(&self, f: Flags) -> bool {
        self.flags.contains(f)
    }

    /// SEG.LEN: payload plus one for SYN and one for FIN (RFC 9293 §3.4).
    pub fn seg_len(&self) -> u32 {
        self.len + u32::from(self.has(Flags::SYN)) + u32::from(self.has(Flags::FIN))
    }

    /// The sequence number just after this segment.
    pub fn end(&self) -> S {
        self.seq.plus(self.seg_len())
    }
}

/// Whether a segment `age` old may still be delivered on a network whose maximum segment
/// lifetime is `msl`: "segments … are assumed to have a maximum lifetime" (RFC 9293 §3.4.2,
/// the premise of TIME-WAIT's 2×MSL, §3.6.1). The checker's network never lets a segment
/// in flight age to MSL ([`crate::system`]'s tick); replay drops the segments its stories
/// keep in flight, and the emissions it still expects to see, once they are this old.
pub fn within_lifetime<T: Ord>(age: T, msl: T) -> bool {
    age < msl
}
