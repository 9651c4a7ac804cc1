//! Grouping observed segments into connections (by 4-tuple) and incarnations.
//!
//! This is bookkeeping from header fields, not TCP processing: which segments belong
//! together, who sent the first SYN, FIN and RST, and where a 4-tuple starts a new
//! sequence space. Whether any of it was *allowed* is the oracle's question, answered by
//! the model's rules.

use std::collections::HashMap;
use std::net::SocketAddr;

use serde::Serialize;

use crate::observation::Observation;

/// A SYN with a new initial sequence number opens a new incarnation, even without a
/// captured close, when the 4-tuple was silent this long: no stack keeps an idle
/// half-open handshake or a closed connection's state for ten minutes (the longest
/// TIME-WAIT in use is 4 minutes, 2×MSL with the RFC 9293 MSL of 2 minutes).
pub const SILENCE_SPLIT_NS: i64 = 600 * 1_000_000_000;

/// The canonical 4-tuple: the two endpoints in a fixed order (`a` < `b`), so that both
/// directions of a connection share one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ConnectionKey {
    /// The lower endpoint (address, then port).
    pub a: SocketAddr,
    /// The higher endpoint.
    pub b: SocketAddr,
}

impl ConnectionKey {
    /// The key of the connection a segment from `src` to `dst` belongs to, and whether
    /// `src` is endpoint `a`. Endpoints are ordered by address (IPv4 as IPv4-mapped IPv6),
    /// then port.
    pub fn of(src: SocketAddr, dst: SocketAddr) -> (Self, bool) {
        let (_, from_a) = PackedKey::of(&src, &dst);
        if from_a {
            (ConnectionKey { a: src, b: dst }, true)
        } else {
            (ConnectionKey { a: dst, b: src }, false)
        }
    }
}

/// How the capture shows an incarnation ending, from the FIN and RST flags alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClosePattern {
    /// Both sides sent FIN and no RST was seen.
    FinFin,
    /// At least one FIN, then an RST.
    FinThenRst,
    /// An RST with no FIN before it.
    RstOnly,
    /// Exactly one side sent FIN, and no RST was seen.
    OneSidedFin,
    /// Neither FIN nor RST was seen.
    None,
}

impl std::fmt::Display for ClosePattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ClosePattern::FinFin => "FIN/FIN",
            ClosePattern::FinThenRst => "FIN then RST",
            ClosePattern::RstOnly => "RST only",
            ClosePattern::OneSidedFin => "one-sided FIN",
            ClosePattern::None => "none",
        })
    }
}

/// Why an incarnation starts where it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IncarnationStart {
    /// The first segment of the 4-tuple in the capture.
    First,
    /// A SYN with a new ISN after the previous incarnation had sent FIN or RST.
    AfterClose,
    /// A SYN with a new ISN after the 4-tuple was silent for [`SILENCE_SPLIT_NS`].
    AfterSilence,
    /// A SYN with a new ISN from a side that had sent nothing but SYNs: the earlier
    /// attempt was abandoned and this is a new connection attempt.
    NewAttempt,
}

/// One incarnation of a 4-tuple: one sequence space from SYN (or mid-stream) to the end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IncarnationSummary {
    /// Why the incarnation starts here.
    pub start: IncarnationStart,
    /// First frame of the incarnation.
    pub first_frame: u64,
    /// Last frame of the incarnation.
    pub last_frame: u64,
    /// Timestamp of the first frame, ns.
    pub first_timestamp_ns: i64,
    /// Timestamp of the last frame, ns.
    pub last_timestamp_ns: i64,
    /// Segments observed.
    pub segments: u64,
    /// The side that sent the first SYN (or the receiver of the first SYN+ACK when the
    /// SYN was not captured); unknown when the capture starts mid-stream.
    pub initiator: Option<SocketAddr>,
    /// The first segment is neither SYN nor SYN+ACK.
    pub started_mid_stream: bool,
    /// The side that closed first: the sender of the first FIN, or without any FIN, of the
    /// first RST.
    pub first_closer: Option<SocketAddr>,
    /// Frame of the first FIN sent by each side (`a`, `b` of the key).
    pub first_fin_frame: [Option<u64>; 2],
    /// Frame of the first RST (from either side).
    pub first_rst_frame: Option<u64>,
    /// Sender of the first RST.
    pub first_rst_from: Option<SocketAddr>,
    /// Frame of the last RST.
    pub last_rst_frame: Option<u64>,
    /// The close pattern.
    pub close: ClosePattern,
}

/// A 4-tuple and its incarnations, in capture order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConnectionSummary {
    /// The 4-tuple.
    pub key: ConnectionKey,
    /// Incarnations in capture order.
    pub incarnations: Vec<IncarnationSummary>,
}

/// Where a segment was filed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Index of the connection, in order of first appearance.
    pub connection: usize,
    /// Index of the incarnation within the connection.
    pub incarnation: usize,
    /// The segment was sent by endpoint `a` of the key.
    pub from_a: bool,
}

/// The incarnation being tracked, compact (sides as `a`/`b` flags, absent frames as 0,
/// frames being 1-based) because every segment touches it: expanded into an
/// [`IncarnationSummary`] only at the end.
#[derive(Clone, Copy, Debug)]
struct Live {
    start: IncarnationStart,
    started_mid_stream: bool,
    /// A FIN or RST was seen.
    closing: bool,
    /// Each side (`a`, `b`) sent a segment without SYN.
    sent_non_syn: [bool; 2],
    /// Each side completed its part of the handshake: it ACKed the peer's SYN.
    acked_peer_syn: [bool; 2],
    /// Sender of the first SYN (`true` for `a`), or receiver of the first SYN+ACK.
    initiator: Option<bool>,
    /// Sender of the first FIN.
    first_fin_from: Option<bool>,
    /// Sender of the first RST.
    first_rst_from: Option<bool>,
    /// ISN of each side, from its SYN.
    isn: [Option<u32>; 2],
    first_frame: u64,
    last_frame: u64,
    first_timestamp_ns: i64,
    last_timestamp_ns: i64,
    segments: u64,
    /// First FIN of each side; 0 when none.
    first_fin_frame: [u64; 2],
    /// First and last RST; 0 when none.
    first_rst_frame: u64,
    last_rst_frame: u64,
}

/// One 4-tuple as every segment sees it: the incarnation being tracked, and how many came
/// before it.
#[derive(Clone, Debug)]
struct Tracked {
    current: Live,
    /// Number of finished incarnations (the index of `current`).
    earlier: usize,
}

/// What a tracker with history keeps of one 4-tuple besides: its key and its finished
/// incarnations, for the listing of [`ConnectionTracker::into_connections`].
#[derive(Clone, Debug)]
struct History {
    key: ConnectionKey,
    finished: Vec<Live>,
}

/// The 4-tuple as five machine words: compared inline and hashed with five multiplies,
/// which makes the connection table, the hot path of ingestion, a third cheaper than with
/// `SocketAddr` keys and SipHash. Both addresses are stored as IPv6 (IPv4 mapped); the last
/// word holds both ports and which addresses really are IPv6, so that IPv4 and
/// IPv4-mapped IPv6 stay apart.
#[derive(Clone, Copy, Eq)]
struct PackedKey([u64; 5]);

impl std::hash::Hash for PackedKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        for word in self.0 {
            state.write_u64(word);
        }
    }
}

impl PartialEq for PackedKey {
    fn eq(&self, other: &Self) -> bool {
        // Branch-free, and not a call to `bcmp` as the derived comparison of arrays is.
        let [a0, a1, a2, a3, a4] = self.0;
        let [b0, b1, b2, b3, b4] = other.0;
        ((a0 ^ b0) | (a1 ^ b1) | (a2 ^ b2) | (a3 ^ b3) | (a4 ^ b4)) == 0
    }
}

/// One endpoint as the packed key stores it: address bits (IPv4 mapped), port, IPv6 or not.
fn packed_endpoint(addr: &SocketAddr) -> (u128, u16, bool) {
    match addr.ip() {
        std::net::IpAddr::V4(v4) => (u128::from(v4.to_ipv6_mapped()), addr.port(), false),
        std::net::IpAddr::V6(v6) => (u128::from(v6), addr.port(), true),
    }
}

impl PackedKey {
    /// The key of a segment from `src` to `dst`, and whether `src` is the lower endpoint
    /// (endpoint `a` of [`ConnectionKey`]); the order is by address bits, then port.
    fn of(src: &SocketAddr, dst: &SocketAddr) -> (Self, bool) {
        let s = packed_endpoint(src);
        let d = packed_endpoint(dst);
        let from_a = (s.0, s.1) <= (d.0, d.1);
        let (a, b) = if from_a { (s, d) } else { (d, s) };
        let family = u64::from(a.2) | (u64::from(b.2) << 1);
        let words = [
            (a.0 >> 64) as u64,
            a.0 as u64,
            (b.0 >> 64) as u64,
            b.0 as u64,
            (u64::from(a.1) << 32) | (u64::from(b.1) << 16) | family,
        ];
        (PackedKey(words), from_a)
    }
}

/// A multiply-fold hasher for [`PackedKey`] (the folded 128-bit product of foldhash and
/// wyhash), keyed per tracker from the standard library's random state, so that a crafted
/// capture cannot aim at collisions it does not know the key of.
#[derive(Clone, Copy)]
struct KeyHasher {
    state: u64,
}

impl std::hash::Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            if let Some(dst) = word.get_mut(..chunk.len()) {
                dst.copy_from_slice(chunk);
            }
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, word: u64) {
        let product = u128::from(self.state ^ word) * u128::from(0x9E37_79B9_7F4A_7C15u64);
        self.state = (product as u64) ^ ((product >> 64) as u64);
    }

    fn finish(&self) -> u64 {
        // The fold alone leaves the low bits, which pick the bucket, poorly mixed for keys
        // differing only in a port (a quarter of the buckets used); MurmurHash3's fmix64
        // finalizer spreads them.
        let mut h = self.state;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

#[derive(Clone)]
struct KeyHasherBuilder {
    seed: u64,
}

impl Default for KeyHasherBuilder {
    fn default() -> Self {
        use std::hash::BuildHasher;
        KeyHasherBuilder {
            seed: std::collections::hash_map::RandomState::new().hash_one(0x7ea2_d0c0u64) | 1,
        }
    }
}

impl std::hash::BuildHasher for KeyHasherBuilder {
    type Hasher = KeyHasher;
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher { state: self.seed }
    }
}

/// Groups observations into connections and incarnations, streaming.
#[derive(Default)]
pub struct ConnectionTracker {
    index: HashMap<PackedKey, usize, KeyHasherBuilder>,
    connections: Vec<Tracked>,
    /// Per connection, unless made [`ConnectionTracker::without_history`].
    history: Vec<History>,
    /// Finished incarnations are counted, not kept, nor keys.
    no_history: bool,
    /// The connection of the previous segment: segments come in bursts of one connection,
    /// and a five-word comparison is cheaper than a table probe.
    last: Option<(PackedKey, usize)>,
}

impl std::fmt::Debug for ConnectionTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionTracker")
            .field("connections", &self.connections.len())
            .finish()
    }
}

fn side(from_a: bool) -> usize {
    if from_a { 0 } else { 1 }
}

impl ConnectionTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty tracker that places segments as [`ConnectionTracker::new`]'s does but keeps
    /// no summary of finished incarnations, for a caller (replay) that judges them itself:
    /// a 4-tuple reused thousands of times then costs no more than one used once.
    pub fn without_history() -> Self {
        ConnectionTracker {
            no_history: true,
            ..Self::default()
        }
    }

    /// Made by [`ConnectionTracker::without_history`].
    pub fn keeps_no_history(&self) -> bool {
        self.no_history
    }

    /// Incarnations placed so far, over all connections.
    pub fn incarnation_count(&self) -> usize {
        self.connections.iter().map(|t| t.earlier + 1).sum()
    }

    /// Files one segment; returns where it went.
    pub fn observe(&mut self, obs: &Observation) -> Placement {
        let (packed, from_a) = PackedKey::of(&obs.src, &obs.dst);
        let s = side(from_a);
        let cached = self.last.filter(|(k, _)| *k == packed).map(|(_, i)| i);
        let connection = match cached.or_else(|| self.index.get(&packed).copied()) {
            Some(i) => i,
            None => {
                let i = self.connections.len();
                self.index.insert(packed, i);
                if !self.no_history {
                    let (a, b) = if from_a {
                        (obs.src, obs.dst)
                    } else {
                        (obs.dst, obs.src)
                    };
                    self.history.push(History {
                        key: ConnectionKey { a, b },
                        finished: Vec::new(),
                    });
                }
                self.connections.push(Tracked {
                    current: new_incarnation(IncarnationStart::First, obs),
                    earlier: 0,
                });
                i
            }
        };
        self.last = Some((packed, connection));
        let Some(tracked) = self.connections.get_mut(connection) else {
            // Unreachable by construction; an empty placement is better than a panic.
            return Placement {
                connection,
                incarnation: 0,
                from_a,
            };
        };
        if let Some(start) = split_cause(&tracked.current, obs, s) {
            let done = std::mem::replace(&mut tracked.current, new_incarnation(start, obs));
            if let Some(h) = self.history.get_mut(connection) {
                h.finished.push(done);
            }
            tracked.earlier += 1;
        }
        record(&mut tracked.current, obs, s);
        Placement {
            connection,
            incarnation: tracked.earlier,
            from_a,
        }
    }

    /// The 4-tuple of a connection, by its index in order of first appearance.
    pub fn key(&self, connection: usize) -> Option<ConnectionKey> {
        self.history.get(connection).map(|h| h.key)
    }

    /// Number of connections (distinct 4-tuples).
    pub fn len(&self) -> usize {
        self.connections.len()
    }

    /// No segment was observed.
    pub fn is_empty(&self) -> bool {
        self.connections.is_empty()
    }

    /// Consumes the tracker, returning the connections in order of first appearance (none
    /// from a tracker [`ConnectionTracker::without_history`]).
    pub fn into_connections(self) -> Vec<ConnectionSummary> {
        self.connections
            .into_iter()
            .zip(self.history)
            .map(|(t, h)| {
                let key = h.key;
                let incarnations = h
                    .finished
                    .iter()
                    .chain(std::iter::once(&t.current))
                    .map(|live| summarize(live, &key))
                    .collect();
                ConnectionSummary { key, incarnations }
            })
            .collect()
    }
}

fn new_incarnation(start: IncarnationStart, obs: &Observation) -> Live {
    Live {
        start,
        started_mid_stream: !obs.flags.syn(),
        closing: false,
        acked_peer_syn: [false; 2],
        sent_non_syn: [false, false],
        initiator: None,
        first_fin_from: None,
        first_rst_from: None,
        isn: [None, None],
        first_frame: obs.frame,
        last_frame: obs.frame,
        first_timestamp_ns: obs.timestamp_ns,
        last_timestamp_ns: obs.timestamp_ns,
        segments: 0,
        first_fin_frame: [0, 0],
        first_rst_frame: 0,
        last_rst_frame: 0,
    }
}

fn summarize(live: &Live, key: &ConnectionKey) -> IncarnationSummary {
    let endpoint = |is_a: bool| if is_a { key.a } else { key.b };
    let frame = |f: u64| (f != 0).then_some(f);
    let [fa, fb] = live.first_fin_frame;
    IncarnationSummary {
        start: live.start,
        first_frame: live.first_frame,
        last_frame: live.last_frame,
        first_timestamp_ns: live.first_timestamp_ns,
        last_timestamp_ns: live.last_timestamp_ns,
        segments: live.segments,
        initiator: live.initiator.map(endpoint),
        started_mid_stream: live.started_mid_stream,
        first_closer: live.first_fin_from.or(live.first_rst_from).map(endpoint),
        first_fin_frame: [frame(fa), frame(fb)],
        first_rst_frame: frame(live.first_rst_frame),
        first_rst_from: live.first_rst_from.map(endpoint),
        last_rst_frame: frame(live.last_rst_frame),
        close: close_pattern(live),
    }
}

/// Whether `obs`, sent by side `s`, opens a new sequence space on this 4-tuple.
///
/// Only a SYN can, and only one with a new ISN: a SYN repeating its side's ISN is a
/// retransmission and stays. A pure SYN with a new ISN starts a new incarnation once the
/// old one has seen FIN or RST, after long silence, or when its sender had sent nothing
/// but SYNs (it abandoned that attempt and connects anew). A SYN+ACK does so only when its
/// sender had already sent a different ISN and it does not answer the current SYN of the
/// peer (the new incarnation's SYN was not captured). Anywhere else (a SYN inside a live,
/// answered connection, as in the IDS-evasion captures) it is a segment of that
/// connection, for the oracle to judge.
fn split_cause(live: &Live, obs: &Observation, s: usize) -> Option<IncarnationStart> {
    if !obs.flags.syn() {
        return None;
    }
    let own_isn = live.isn.get(s).copied().flatten();
    let peer_isn = live.isn.get(1 - s).copied().flatten();
    let only_syns_sent = !live.sent_non_syn.get(s).copied().unwrap_or(true);
    // The same ISN again is a retransmission — unless its sender got past the handshake
    // and the connection has since closed or been reset: then it is a new connection whose
    // ISN generator happened to repeat (the hazard RFC 6191 and RFC 9293 §3.4.1 are about).
    let reopened =
        live.closing && live.acked_peer_syn.get(s).copied().unwrap_or(false) && !obs.flags.ack();
    if own_isn == Some(obs.seq) && !reopened {
        return None;
    }
    if obs.flags.ack() {
        let answers_peer = peer_isn.is_some_and(|isn| obs.ack == isn.wrapping_add(1));
        if own_isn.is_none() || answers_peer {
            return None;
        }
    }
    let silent = obs.timestamp_ns.saturating_sub(live.last_timestamp_ns) >= SILENCE_SPLIT_NS;
    if live.closing {
        Some(IncarnationStart::AfterClose)
    } else if silent {
        Some(IncarnationStart::AfterSilence)
    } else if !obs.flags.ack() && own_isn.is_some() && only_syns_sent {
        Some(IncarnationStart::NewAttempt)
    } else {
        None
    }
}

fn record(live: &mut Live, obs: &Observation, s: usize) {
    let from_a = s == 0;
    live.segments += 1;
    live.last_frame = obs.frame;
    live.last_timestamp_ns = obs.timestamp_ns;
    let flags = obs.flags;
    if !flags.syn()
        && let Some(sent) = live.sent_non_syn.get_mut(s)
    {
        *sent = true;
    }
    if !flags.syn()
        && flags.ack()
        && let Some(peer) = live.isn.get(1 - s).copied().flatten()
        && obs.ack.wrapping_sub(peer) as i32 > 0
        && let Some(acked) = live.acked_peer_syn.get_mut(s)
    {
        *acked = true;
    }
    if flags.syn() {
        if let Some(isn) = live.isn.get_mut(s) {
            isn.get_or_insert(obs.seq);
        }
        if live.initiator.is_none() && !live.started_mid_stream {
            // A SYN+ACK's sender is the responder: the initiator is the other side.
            live.initiator = Some(if flags.ack() { !from_a } else { from_a });
        }
    }
    if flags.fin() {
        if let Some(f) = live.first_fin_frame.get_mut(s)
            && *f == 0
        {
            *f = obs.frame;
        }
        live.first_fin_from.get_or_insert(from_a);
    }
    if flags.rst() {
        if live.first_rst_frame == 0 {
            live.first_rst_frame = obs.frame;
            live.first_rst_from = Some(from_a);
        }
        live.last_rst_frame = obs.frame;
    }
    live.closing |= flags.fin() || flags.rst();
}

/// The close pattern is about how the incarnation ended: an RST before any FIN (say, the
/// answer to a stale ACK during the handshake) does not make a later FIN/FIN close an RST
/// close.
fn close_pattern(live: &Live) -> ClosePattern {
    let [fa, fb] = live.first_fin_frame;
    let first_fin = [fa, fb].into_iter().filter(|&f| f != 0).min();
    let rst_after_fin = match first_fin {
        Some(fin) => live.last_rst_frame != 0 && live.last_rst_frame >= fin,
        None => false,
    };
    match (fa != 0, fb != 0) {
        _ if rst_after_fin => ClosePattern::FinThenRst,
        (true, true) => ClosePattern::FinFin,
        (true, false) | (false, true) => ClosePattern::OneSidedFin,
        (false, false) if live.last_rst_frame != 0 => ClosePattern::RstOnly,
        (false, false) => ClosePattern::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{IpVersion, TcpFlags};

    const A: &str = "10.0.0.1:40000";
    const B: &str = "10.0.0.2:80";

    fn seg(frame: u64, t_s: i64, from_a: bool, flags: u16, seq: u32) -> Observation {
        let (a, b): (SocketAddr, SocketAddr) = (A.parse().unwrap(), B.parse().unwrap());
        let (src, dst) = if from_a { (a, b) } else { (b, a) };
        Observation {
            frame,
            timestamp_ns: t_s * 1_000_000_000,
            section: 0,
            interface: 0,
            ip_version: IpVersion::V4,
            src,
            dst,
            seq,
            ack: 0,
            flags: TcpFlags(flags),
            payload_len: 0,
            truncated: false,
            window: 0,
            timestamps: None,
            ttl: 64,
            tunnelled: false,
        }
    }

    const S: u16 = TcpFlags::SYN;
    const SA: u16 = TcpFlags::SYN | TcpFlags::ACK;
    const AK: u16 = TcpFlags::ACK;
    const FA: u16 = TcpFlags::FIN | TcpFlags::ACK;
    const R: u16 = TcpFlags::RST;

    fn run(segs: &[Observation]) -> Vec<ConnectionSummary> {
        let mut t = ConnectionTracker::new();
        for s in segs {
            t.observe(s);
        }
        t.into_connections()
    }

    #[test]
    fn four_way_close_then_reuse_with_new_isn() {
        let c = run(&[
            seg(1, 0, true, S, 100),
            seg(2, 0, false, SA, 500),
            seg(3, 0, true, AK, 101),
            seg(4, 1, true, FA, 101),
            seg(5, 1, false, AK, 501),
            seg(6, 1, false, FA, 501),
            seg(7, 1, true, AK, 102),
            seg(8, 30, true, S, 90),
            seg(9, 30, false, SA, 900),
        ]);
        assert_eq!(c.len(), 1);
        let incs = &c[0].incarnations;
        assert_eq!(incs.len(), 2);
        assert_eq!(incs[0].close, ClosePattern::FinFin);
        assert_eq!((incs[0].first_frame, incs[0].last_frame), (1, 7));
        assert_eq!(incs[0].initiator, Some(A.parse().unwrap()));
        assert_eq!(incs[0].first_closer, Some(A.parse().unwrap()));
        assert_eq!(incs[1].start, IncarnationStart::AfterClose);
        assert_eq!(incs[1].first_frame, 8);
        assert_eq!(incs[1].close, ClosePattern::None);
    }

    #[test]
    fn syn_retransmission_is_not_a_new_incarnation() {
        let c = run(&[
            seg(1, 0, true, S, 100),
            seg(2, 1, true, S, 100),
            seg(3, 3, true, S, 100),
            seg(4, 3, false, R | AK, 0),
            seg(5, 4, true, S, 100),
            // A SYN+ACK answering the (same) SYN belongs to it, RST or not.
            seg(6, 4, false, SA, 700),
        ]);
        assert_eq!(c[0].incarnations.len(), 1);
        assert_eq!(c[0].incarnations[0].close, ClosePattern::RstOnly);
    }

    #[test]
    fn same_isn_after_an_established_connection_was_reset_is_a_new_incarnation() {
        // What abort-then-reopen's counterexample looks like: SO_LINGER 0, then connect()
        // again at once with an ISN generator that repeats itself.
        let c = run(&[
            seg(1, 0, true, S, 100),
            seg(2, 0, false, SA, 500),
            Observation {
                ack: 501,
                ..seg(3, 0, true, AK, 101)
            },
            seg(4, 1, true, R, 101),
            seg(5, 1, true, S, 100),
            seg(6, 1, false, SA, 500),
        ]);
        assert_eq!(c[0].incarnations.len(), 2);
        assert_eq!(c[0].incarnations[1].start, IncarnationStart::AfterClose);
        assert_eq!(c[0].incarnations[1].first_frame, 5);
    }

    #[test]
    fn new_attempt_after_abandoned_syn() {
        let c = run(&[seg(1, 0, true, S, 100), seg(2, 3, true, S, 7000)]);
        assert_eq!(c[0].incarnations.len(), 2);
        assert_eq!(c[0].incarnations[1].start, IncarnationStart::NewAttempt);
        // Even when the peer answered, as long as the SYN's sender never completed.
        let c = run(&[
            seg(1, 0, true, S, 100),
            seg(2, 0, false, SA, 500),
            seg(3, 1, true, S, 7000),
        ]);
        assert_eq!(c[0].incarnations.len(), 2);
    }

    #[test]
    fn syn_inside_a_live_connection_stays() {
        let c = run(&[
            seg(1, 0, true, S, 100),
            seg(2, 0, false, SA, 500),
            seg(3, 0, true, AK, 101),
            seg(4, 1, true, S, 12345),
        ]);
        assert_eq!(c[0].incarnations.len(), 1);
    }

    #[test]
    fn mid_stream_start_and_long_silence() {
        let c = run(&[
            seg(1, 0, false, AK, 500),
            seg(2, 0, true, AK, 100),
            seg(3, 700, true, S, 9),
        ]);
        let incs = &c[0].incarnations;
        assert!(incs[0].started_mid_stream);
        assert_eq!(incs[0].initiator, None);
        assert_eq!(incs[1].start, IncarnationStart::AfterSilence);
    }

    #[test]
    fn close_patterns() {
        let one = run(&[seg(1, 0, true, FA, 1)]);
        assert_eq!(one[0].incarnations[0].close, ClosePattern::OneSidedFin);
        let fr = run(&[seg(1, 0, true, FA, 1), seg(2, 0, false, R, 1)]);
        assert_eq!(fr[0].incarnations[0].close, ClosePattern::FinThenRst);
        assert_eq!(
            fr[0].incarnations[0].first_rst_from,
            Some(B.parse().unwrap())
        );
        // An RST during the handshake, then a FIN/FIN close: the close is FIN/FIN.
        let late = run(&[
            seg(1, 0, true, S, 1),
            seg(2, 0, true, R, 5),
            seg(3, 3, true, S, 1),
            seg(4, 3, false, SA, 9),
            seg(5, 4, true, FA, 2),
            seg(6, 4, false, FA, 10),
        ]);
        assert_eq!(late[0].incarnations.len(), 1);
        assert_eq!(late[0].incarnations[0].close, ClosePattern::FinFin);
        assert_eq!(
            late[0].incarnations[0].first_closer,
            Some(A.parse().unwrap())
        );
    }

    #[test]
    fn both_directions_share_a_key() {
        let a: SocketAddr = A.parse().unwrap();
        let b: SocketAddr = B.parse().unwrap();
        assert_eq!(ConnectionKey::of(a, b).0, ConnectionKey::of(b, a).0);
        assert!(ConnectionKey::of(a, b).1 != ConnectionKey::of(b, a).1);
    }
}
