//! The checked system: two endpoints, a lossy, reordering, duplicating network with segment
//! lifetimes, discrete time, and the properties — a hand-written [`stateright::Model`].
//!
//! Why not stateright's actor framework: it erases timer durations and never ages messages
//! (stateright-notes §0.2), so neither MSL nor TIME-WAIT length could be expressed.
//!
//! Time: every deadline and every segment age is kept *relative to now*, so two states that
//! differ only in the absolute clock are one state. `Tick` ages every segment and counts
//! every timer down by one; it is not enabled while a timer is due, while a segment is one
//! tick from its maximum lifetime (it must be delivered or dropped first, and dropping it
//! spends the loss budget: expiry is not free loss), or while the client may reconnect.
//!
//! Termination (why `eventually` is sound here, see stateright-notes §1.2): the graph is
//! acyclic. Every transition either spends a budget (loss, duplication, retransmissions,
//! incarnations), moves an endpoint forward in its state order, moves a sequence number
//! forward, consumes a segment, or is a tick, and a tick is enabled only while something
//! is pending that a tick brings closer (a timer, a segment's age). A test enumerates every
//! built-in's graph and checks that it has no cycle.

use std::fmt::Write as _;

use serde::Serialize;
use stateright::{Model, Property};

use crate::endpoint::{AppCall, Config, Role, State, Step, Tcb};
use crate::rules::Rule;
use crate::segment::{Flags, Segment, within_lifetime};
use crate::stack::StackDescription;

/// Sequence numbers in the checker: 256 of them, so wrap-around is explored.
pub type Seq = u8;
/// Time in the checker: ticks, relative to now.
pub type Ticks = u16;
/// An endpoint in the checker.
pub type Endpoint = Tcb<Seq, Ticks>;

/// The client's side of the 4-tuple.
pub const CLIENT: usize = 0;
/// The server's side of the 4-tuple.
pub const SERVER: usize = 1;

/// Name of a side, for reports.
pub fn side_name(side: usize) -> &'static str {
    if side == CLIENT { "client" } else { "server" }
}

/// Checking bounds: separate from the stack description.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
pub struct Bounds {
    /// Segments the network may drop in one execution.
    pub losses: u8,
    /// Segments the network may duplicate in one execution.
    pub dups: u8,
    /// Segments the network may hold in flight across a tick (delay, up to MSL) in one
    /// execution; the others arrive within the tick they were sent (in any order).
    pub delays: u8,
    /// Incarnations of the 4-tuple (the client reopens it up to this many times).
    pub incarnations: u8,
    /// Data segments each application writes per incarnation.
    pub data: u8,
    /// Real duration of one tick, in milliseconds.
    pub tick_ms: u64,
}

/// The largest values the checker accepts for each bound; beyond them the state space is
/// far out of reach on any machine.
pub const MAX_BOUNDS: Bounds = Bounds {
    losses: 6,
    dups: 6,
    delays: 6,
    incarnations: 4,
    data: 4,
    tick_ms: 3_600_000,
};

/// The most retransmissions of one segment the checker explores (RFC 9293 §3.8.3 R2:
/// a few minutes of backoff; Linux `tcp_retries2` is 15).
pub const MAX_RETRIES: u8 = 15;

/// Timer lengths in ticks, converted conservatively from the description.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
pub struct TickTimers {
    /// Maximum segment lifetime (rounded up: longer-lived segments make hazards easier to find).
    pub msl: Ticks,
    /// TIME-WAIT (rounded down, at least one tick if the stack has TIME-WAIT).
    pub time_wait: Option<Ticks>,
    /// Initial RTO (rounded up).
    pub rto: Ticks,
    /// FIN-WAIT-2 timeout (rounded down, at least one tick).
    pub fin_wait_2: Option<Ticks>,
}

/// Why a description and bounds cannot be checked.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// The largest timer length in ticks the checker accepts.
pub const MAX_TICKS: u64 = 64;

impl TickTimers {
    /// Converts the description's timers to ticks of `tick_ms`, rounding in the direction
    /// that can only make hazards easier to find: MSL and RTO up, TIME-WAIT and FIN-WAIT-2
    /// down.
    pub fn convert(stack: &StackDescription, tick_ms: u64) -> Result<TickTimers, ConfigError> {
        if tick_ms == 0 {
            return Err(ConfigError("the tick must be longer than 0 ms".into()));
        }
        let t = &stack.timers;
        if t.msl_ms == 0 {
            return Err(ConfigError(format!(
                "{}: MSL must be longer than 0 ms",
                stack.name
            )));
        }
        if t.rto_ms == 0 {
            return Err(ConfigError(format!(
                "{}: RTO must be longer than 0 ms",
                stack.name
            )));
        }
        // A timer shorter than one tick cannot be rounded down without vanishing (no
        // TIME-WAIT at all is another stack), nor up without hiding the hazard it is
        // checked for: refused, with the tick that would represent it.
        for (what, ms) in [
            ("TIME-WAIT", t.time_wait_ms),
            ("the FIN-WAIT-2 timeout", t.fin_wait_2_ms),
        ] {
            if let Some(ms) = ms.filter(|&ms| ms < tick_ms) {
                return Err(ConfigError(format!(
                    "{}: {what} is {ms} ms, shorter than one tick of {tick_ms} ms; {}",
                    stack.name,
                    Self::tick_advice(stack)
                )));
            }
        }
        let up = |ms: u64| ms.div_ceil(tick_ms);
        let down = |ms: u64| ms / tick_ms;
        let check = |what: &str, ticks: u64| -> Result<Ticks, ConfigError> {
            if ticks > MAX_TICKS {
                Err(ConfigError(format!(
                    "{}: {what} is {ticks} ticks of {tick_ms} ms; at most {MAX_TICKS} can be explored (every tick of every timer is a state of its own); {}",
                    stack.name,
                    Self::tick_advice(stack)
                )))
            } else {
                Ok(ticks as Ticks)
            }
        };
        Ok(TickTimers {
            msl: check("MSL", up(t.msl_ms))?,
            time_wait: t
                .time_wait_ms
                .map(|ms| check("TIME-WAIT", down(ms)))
                .transpose()?,
            rto: check("RTO", up(t.rto_ms))?,
            fin_wait_2: t
                .fin_wait_2_ms
                .map(|ms| check("FIN-WAIT-2", down(ms)))
                .transpose()?,
        })
    }
}

impl TickTimers {
    /// Which ticks can represent the description: at most as long as the shortest timer
    /// rounded down (TIME-WAIT, FIN-WAIT-2), at least a 64th of the longest one.
    fn tick_advice(stack: &StackDescription) -> String {
        let t = &stack.timers;
        let named = [
            ("MSL", Some(t.msl_ms)),
            ("TIME-WAIT", t.time_wait_ms),
            ("RTO", Some(t.rto_ms)),
            ("FIN-WAIT-2", t.fin_wait_2_ms),
        ];
        let (long_name, longest) = named
            .iter()
            .filter_map(|(n, ms)| ms.map(|ms| (*n, ms)))
            .max_by_key(|(_, ms)| *ms)
            .unwrap_or(("MSL", t.msl_ms));
        let lo = longest.div_ceil(MAX_TICKS).max(1);
        let shortest = named[1..]
            .iter()
            .step_by(2)
            .filter_map(|(n, ms)| ms.map(|ms| (*n, ms)))
            .min_by_key(|(_, ms)| *ms);
        match shortest {
            Some((short_name, hi)) if hi >= lo => format!(
                "use a tick between {lo} ms ({long_name} {longest} ms in at most {MAX_TICKS} ticks) and {hi} ms ({short_name} at least one tick); one that divides every timer is checked without rounding"
            ),
            Some((short_name, hi)) => format!(
                "no tick fits: {long_name} ({longest} ms) is more than {MAX_TICKS} times {short_name} ({hi} ms), which must be at least one tick — shorten {long_name}{} or lengthen {short_name}",
                if long_name == "MSL" {
                    " (the MSL of the network the stack runs on: a LAN's is seconds)"
                } else {
                    ""
                }
            ),
            None => format!(
                "use a tick of at least {lo} ms ({long_name} {longest} ms in at most {MAX_TICKS} ticks)"
            ),
        }
    }
}

/// A segment in flight.
///
/// The network keeps, first, the *prompt* segments of the current tick in one FIFO per
/// direction (the order they were sent), then the *late* ones, sorted: a late segment was
/// delayed (spending the delay budget), may be overtaken and delivered at any time, and ages
/// with every tick until MSL. So reordering and delay are impairments budgeted like loss,
/// and the checker does not pay for every interleaving of a well-behaved path.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct InFlight {
    /// Delayed: out of its direction's FIFO.
    pub late: bool,
    /// The side it travels to.
    pub to: u8,
    /// Ticks since it was sent.
    pub age: u8,
    /// The segment.
    pub seg: Segment<Seq>,
}

/// What each side's application has done in its current incarnation.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct App {
    /// Data segments written.
    pub written: u8,
    /// close()/shutdown()/abort called.
    pub closed: bool,
    /// Octets delivered to this application, in order, this incarnation (ghost).
    pub delivered: u8,
    /// Data segments written in the previous incarnation (ghost: a late FIN of that
    /// incarnation is judged against it).
    pub written_before: u8,
}

/// Sticky ghost flags: something a property forbids happened.
pub mod flag {
    /// An RST sent in answer to a FIN reset the side in LAST-ACK or CLOSING.
    pub const FIN_ANSWERED_BY_RST: u8 = 1 << 0;
    /// A side gave up retransmitting its FIN.
    pub const GAVE_UP_ON_FIN: u8 = 1 << 1;
    /// A segment of an older incarnation was accepted by a newer one.
    pub const OLD_ACCEPTED: u8 = 1 << 2;
    /// A segment of an older incarnation reached a synchronized newer one.
    pub const OLD_DELIVERED: u8 = 1 << 3;
    /// A FIN was accepted without all the data written before it.
    pub const DATA_LOST: u8 = 1 << 4;
    /// The network dropped a segment carrying a FIN. Final-ACK recovery is a claim about
    /// lost ACKs: with the FIN retransmissions themselves lost, no TIME-WAIT length short
    /// of the whole backoff series helps, and restarting TIME-WAIT cannot matter.
    pub const FIN_DROPPED: u8 = 1 << 5;
}

/// Scenarios the `sometimes` witnesses look for; set by the step that shows them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
pub enum Witness {
    /// The LAST-ACK side's retransmitted FIN was acknowledged from TIME-WAIT after a loss.
    LostFinalAckRecovered,
    /// A FIN-WAIT-1 endpoint received the peer's FIN: CLOSING.
    SimultaneousClose,
    /// FIN-WAIT-1 went straight to TIME-WAIT on a FIN that acknowledged ours.
    FinWait1ToTimeWait,
    /// Data delivered to an endpoint that had already sent its FIN (half-close).
    DataAfterPeerFin,
    /// TIME-WAIT was restarted by a retransmitted FIN.
    TimeWaitRestarted,
    /// A second (or later) incarnation was established.
    NewIncarnationEstablished,
    /// A duplicate of the current incarnation's data or FIN was rejected by the window.
    OldDuplicateRejectedByWindow,
    /// A segment of an older incarnation was rejected by PAWS.
    OldSegmentRejectedByPaws,
    /// An RST ended TIME-WAIT early.
    TimeWaitAssassinated,
}

/// A transition of the checked system, as reports show it.
#[derive(Clone, Debug)]
pub struct Transition {
    /// The state after the transition.
    pub state: SystemState,
    /// The endpoint that stepped, if one did.
    pub side: Option<usize>,
    /// The rule it applied.
    pub rule: Option<Rule>,
    /// The segment delivered, dropped or duplicated.
    pub segment: Option<InFlight>,
    /// The segment the endpoint sent.
    pub sent: Option<Segment<Seq>>,
}

impl SystemState {
    /// Whether the segment at `i` can be delivered, dropped, duplicated or delayed now: it
    /// is late, or the head of its direction's FIFO.
    pub fn movable(&self, i: usize) -> bool {
        match self.network.get(i) {
            None => false,
            Some(f) if f.late => true,
            Some(f) => !self.network[..i].iter().any(|g| !g.late && g.to == f.to),
        }
    }

    /// A prompt segment joins the end of its direction's FIFO (FIFOs of direction 0 first).
    fn send(&mut self, f: InFlight) {
        let at = self
            .network
            .iter()
            .position(|g| g.late || g.to > f.to)
            .unwrap_or(self.network.len());
        self.network.insert(at, f);
    }

    /// A late segment joins the sorted late part.
    fn insert_late(&mut self, f: InFlight) {
        let at = self.network.partition_point(|g| !g.late || *g < f);
        self.network.insert(at, f);
    }
}

/// A state of the checked system.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SystemState {
    /// The two endpoints, client then server.
    pub ends: [Endpoint; 2],
    /// The two applications.
    pub apps: [App; 2],
    /// Segments in flight, sorted (a multiset: reordering is free).
    pub network: Vec<InFlight>,
    /// Losses left.
    pub losses_left: u8,
    /// Duplications left.
    pub dups_left: u8,
    /// Delays left.
    pub delays_left: u8,
    /// Sticky violation flags (see [`flag`]).
    pub flags: u8,
    /// The witness the last step showed, if any.
    pub witness: Option<Witness>,
    /// Consecutive steps that only answered a rejected segment with an ACK (ghost). An
    /// exchange of such answers that never ends is RFC 1337's hazard H2 (two ends in
    /// permanent disagreement); counting it keeps the state graph acyclic.
    pub ack_exchange: u8,
}

/// The fields of a state, hashed as `derive(Hash)` would hash them.
#[derive(Hash)]
struct StateFields<'a> {
    ends: &'a [Endpoint; 2],
    apps: &'a [App; 2],
    network: &'a [InFlight],
    losses_left: u8,
    dups_left: u8,
    delays_left: u8,
    flags: u8,
    witness: Option<Witness>,
    ack_exchange: u8,
}

/// A hasher that only collects the byte stream it is fed.
struct ByteStream(Vec<u8>);

impl std::hash::Hasher for ByteStream {
    fn write(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
    fn finish(&self) -> u64 {
        0
    }
}

impl std::hash::Hash for SystemState {
    /// The checker hashes every generated state (stateright's aHash fingerprints, its
    /// visited set, and our own SipHash-keyed maps in the shortest-path searches), and
    /// `derive(Hash)` would feed each hasher field by field: a quarter of the checker's
    /// time went to per-write overhead. The same byte stream `derive(Hash)` produces is
    /// collected in a reused buffer and fed as one slice: equal states still hash equal
    /// (the stream is the derived one, test `model/tests/fingerprint.rs`), the values
    /// differ from the derived ones for hashers that fold in slice lengths (aHash), and
    /// the checker is about a quarter faster.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        thread_local! {
            static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let fields = StateFields {
            ends: &self.ends,
            apps: &self.apps,
            network: &self.network,
            losses_left: self.losses_left,
            dups_left: self.dups_left,
            delays_left: self.delays_left,
            flags: self.flags,
            witness: self.witness,
            ack_exchange: self.ack_exchange,
        };
        BUF.with(|buf| {
            let mut stream = ByteStream(std::mem::take(&mut *buf.borrow_mut()));
            stream.0.clear();
            fields.hash(&mut stream);
            state.write(&stream.0);
            *buf.borrow_mut() = stream.0;
        });
    }
}

/// What an application does.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
pub enum AppAction {
    /// Open the 4-tuple again; `alt` picks the second ISN candidate.
    Connect {
        /// Second ISN candidate.
        alt: bool,
    },
    /// Write one data segment.
    Send,
    /// close().
    Close,
    /// shutdown(SHUT_WR).
    Shutdown,
    /// close() with data unread.
    CloseUnread,
    /// SO_LINGER 0 close.
    Abort,
}

/// A transition of the checked system.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
pub enum Action {
    /// A side's application acts.
    App(usize, AppAction),
    /// The segment at this index of the network arrives; `alt` picks the second ISN
    /// candidate if the segment opens a connection.
    Deliver(usize, bool),
    /// The network drops the segment at this index.
    Drop(usize),
    /// The network duplicates the segment at this index.
    Duplicate(usize),
    /// The network delays the prompt segment at this index: it leaves its FIFO, may be
    /// overtaken, and ages with ticks.
    Delay(usize),
    /// A side's due timer fires.
    Timeout(usize),
    /// One tick passes.
    Tick,
}

/// The checked system for one stack description and one set of bounds.
#[derive(Clone, Debug)]
pub struct TeardownModel {
    /// The stack description.
    pub stack: StackDescription,
    /// Checking bounds.
    pub bounds: Bounds,
    /// Timers in ticks.
    pub ticks: TickTimers,
    /// The endpoint configuration in ticks.
    pub cfg: Config<Ticks>,
}

/// The data segment length in the checker.
const DATA_LEN: u32 = 1;
/// The receive window in the checker.
pub const WINDOW: u32 = 8;
/// How far above the old SND.NXT a new ISN lies in the checker's 256-number space.
pub const ISN_GAP: u32 = 64;
/// Initial ISNs of the first incarnation.
pub const CLIENT_ISS: Seq = 10;
/// Initial ISN of the server in the first incarnation.
pub const SERVER_ISS: Seq = 100;

impl TeardownModel {
    /// The checked system, or why these bounds and this description cannot be checked.
    pub fn new(stack: StackDescription, bounds: Bounds) -> Result<Self, ConfigError> {
        let m = MAX_BOUNDS;
        if bounds.losses > m.losses
            || bounds.dups > m.dups
            || bounds.delays > m.delays
            || bounds.data > m.data
            || bounds.incarnations > m.incarnations
        {
            return Err(ConfigError(format!(
                "bounds out of range: losses ≤ {}, dups ≤ {}, delays ≤ {}, data ≤ {}, incarnations ≤ {}",
                m.losses, m.dups, m.delays, m.data, m.incarnations
            )));
        }
        if stack.timers.max_retries > MAX_RETRIES {
            return Err(ConfigError(format!(
                "{}: max_retries is {}; at most {MAX_RETRIES} retransmissions can be explored",
                stack.name, stack.timers.max_retries
            )));
        }
        if bounds.incarnations == 0 {
            return Err(ConfigError("incarnations must be at least 1".into()));
        }
        if bounds.tick_ms > m.tick_ms {
            return Err(ConfigError(format!(
                "the tick must be at most {} ms",
                m.tick_ms
            )));
        }
        let ticks = TickTimers::convert(&stack, bounds.tick_ms)?;
        if u32::from(ticks.msl) >= 255 {
            return Err(ConfigError("MSL too long in ticks".into()));
        }
        let cfg = Config {
            behaviour: stack.behaviour,
            events: stack.events,
            time_wait: ticks.time_wait,
            rto: ticks.rto,
            max_retries: stack.timers.max_retries,
            fin_wait_2: ticks.fin_wait_2,
            window: WINDOW,
            isn_gap: ISN_GAP,
        };
        Ok(TeardownModel {
            stack,
            bounds,
            ticks,
            cfg,
        })
    }

    fn client_may_connect(&self, s: &SystemState) -> bool {
        let c = &s.ends[CLIENT];
        c.state == State::Closed && c.incarnation < self.bounds.incarnations
    }

    /// Applies an endpoint step to the system: the new TCB, the segment sent, the ghost
    /// bookkeeping for properties and witnesses.
    fn apply(
        &self,
        s: &mut SystemState,
        side: usize,
        step: Step<Seq, Ticks>,
        arrived: Option<&Segment<Seq>>,
    ) {
        let pre = s.ends[side];
        let post = step.tcb;
        let peer = 1 - side;
        let rule = step.rule;
        s.witness = None;
        s.ack_exchange = if arrived.is_some() && rule.answers_rejected_segment() {
            s.ack_exchange.saturating_add(1)
        } else {
            0
        };

        if let Some(seg) = arrived {
            let newest = s.ends[CLIENT].incarnation.max(s.ends[SERVER].incarnation);
            let opens = matches!(rule, Rule::ListenSynAccepted | Rule::SynReopensTimeWait);
            let old = seg.ghost.incarnation < pre.incarnation;
            if rule.accepts_segment()
                && (seg.ghost.incarnation < post.incarnation
                    || (opens && seg.ghost.incarnation < newest))
            {
                s.flags |= flag::OLD_ACCEPTED;
            }
            if old && pre.state.is_synchronized() {
                s.flags |= flag::OLD_DELIVERED;
            }
            if crate::hazards::Hazard::of_arrival(pre.state, seg, rule)
                == Some(crate::hazards::Hazard::FinAnsweredByRst)
            {
                s.flags |= flag::FIN_ANSWERED_BY_RST;
            }
            // Octets delivered in order: RCV.NXT's advance, less the FIN.
            if pre.state.is_synchronized() && post.state.is_synchronized() && !opens {
                let fin = u32::from(matches!(
                    rule,
                    Rule::FinEntersCloseWait
                        | Rule::FinEntersClosing
                        | Rule::FinWait1EntersTimeWait
                        | Rule::FinWait2EntersTimeWait
                ));
                let adv = post.rcv_nxt.wrapping_sub(pre.rcv_nxt) as u32;
                // Octets of an older incarnation are not the peer's data: they count as lost.
                let data = if seg.ghost.incarnation == post.incarnation {
                    adv.saturating_sub(fin) as u8
                } else {
                    0
                };
                s.apps[side].delivered = s.apps[side].delivered.saturating_add(data);
                if data > 0 && matches!(pre.state, State::FinWait1 | State::FinWait2) {
                    s.witness = Some(Witness::DataAfterPeerFin);
                }
            }
            if matches!(
                rule,
                Rule::FinEntersCloseWait
                    | Rule::FinEntersClosing
                    | Rule::FinWait1EntersTimeWait
                    | Rule::FinWait2EntersTimeWait
            ) && {
                let peer_inc = s.ends[peer].incarnation;
                let written = if seg.ghost.incarnation == peer_inc {
                    s.apps[peer].written
                } else if seg.ghost.incarnation + 1 == peer_inc {
                    s.apps[peer].written_before
                } else {
                    0
                };
                u32::from(s.apps[side].delivered) != u32::from(written) * DATA_LEN
            } {
                s.flags |= flag::DATA_LOST;
            }
            if rule == Rule::SeqUnacceptableAck
                && !old
                && (seg.len > 0 || seg.has(Flags::FIN))
                && pre.state != State::TimeWait
            {
                s.witness = Some(Witness::OldDuplicateRejectedByWindow);
            }
            if rule == Rule::PawsReject && old {
                s.witness = Some(Witness::OldSegmentRejectedByPaws);
            }
            if rule == Rule::LastAckFinAcked
                && pre.retries > 0
                && s.ends[peer].state == State::TimeWait
                && s.losses_left < self.bounds.losses
            {
                s.witness = Some(Witness::LostFinalAckRecovered);
            }
        }
        match rule {
            Rule::RtoGiveUp if pre.state.fin_outstanding() => s.flags |= flag::GAVE_UP_ON_FIN,
            Rule::FinEntersClosing => s.witness = Some(Witness::SimultaneousClose),
            Rule::FinWait1EntersTimeWait if self.cfg.time_wait.is_some() => {
                s.witness = Some(Witness::FinWait1ToTimeWait)
            }
            Rule::TimeWaitFinReacked => s.witness = Some(Witness::TimeWaitRestarted),
            Rule::RstClosesTimeWait => s.witness = Some(Witness::TimeWaitAssassinated),
            Rule::SynSentEstablished | Rule::SynReceivedEstablished if post.incarnation >= 2 => {
                s.witness = Some(Witness::NewIncarnationEstablished)
            }
            _ => {}
        }
        // A new incarnation starts with a fresh application.
        if matches!(
            rule,
            Rule::AppConnect
                | Rule::AppConnectReuseTimeWait
                | Rule::ListenSynAccepted
                | Rule::SynReopensTimeWait
        ) {
            s.apps[side] = App {
                written_before: s.apps[side].written,
                ..App::default()
            };
        }
        s.ends[side] = post;
        if let Some(out) = step.out {
            s.send(InFlight {
                late: false,
                to: peer as u8,
                age: 0,
                seg: out,
            });
        }
    }

    /// One transition, with what reports need: the rule applied and the segments involved.
    pub fn transition(&self, last: &SystemState, action: Action) -> Option<Transition> {
        let mut s = last.clone();
        let mut t = Transition {
            state: last.clone(),
            side: None,
            rule: None,
            segment: None,
            sent: None,
        };
        match action {
            Action::App(side, a) => {
                let e = &s.ends[side];
                let call = match a {
                    AppAction::Connect { alt } => {
                        let (c, n) = e.isn_candidates(&self.cfg);
                        if alt && n < 2 {
                            return None;
                        }
                        AppCall::Connect {
                            iss: c[usize::from(alt)],
                        }
                    }
                    AppAction::Send => AppCall::Send { len: DATA_LEN },
                    AppAction::Close => AppCall::Close,
                    AppAction::Shutdown => AppCall::Shutdown,
                    AppAction::CloseUnread => AppCall::CloseUnread,
                    AppAction::Abort => AppCall::Abort,
                };
                let step = e.on_app(call, 0, &self.cfg)?;
                (t.side, t.rule, t.sent) = (Some(side), Some(step.rule), step.out);
                self.apply(&mut s, side, step, None);
                match a {
                    AppAction::Send => s.apps[side].written += 1,
                    AppAction::Connect { .. } => {}
                    _ => s.apps[side].closed = true,
                }
            }
            Action::Deliver(i, alt) => {
                if !s.movable(i) {
                    return None;
                }
                let f = s.network.remove(i);
                let to = usize::from(f.to);
                let e = s.ends[to];
                let (c, n) = e.isn_candidates(&self.cfg);
                if alt && n < 2 {
                    return None;
                }
                let step = e.on_segment(&f.seg, 0, &self.cfg, c[usize::from(alt)]);
                if alt
                    && !matches!(
                        step.rule,
                        Rule::ListenSynAccepted | Rule::SynReopensTimeWait
                    )
                {
                    return None;
                }
                (t.side, t.rule, t.segment, t.sent) =
                    (Some(to), Some(step.rule), Some(f), step.out);
                self.apply(&mut s, to, step, Some(&f.seg));
            }
            Action::Drop(i) => {
                if !s.movable(i) {
                    return None;
                }
                s.losses_left = s.losses_left.checked_sub(1)?;
                let f = s.network.remove(i);
                if f.seg.has(Flags::FIN) {
                    s.flags |= flag::FIN_DROPPED;
                }
                t.segment = Some(f);
                s.witness = None;
                s.ack_exchange = 0;
            }
            Action::Duplicate(i) => {
                if !s.movable(i) {
                    return None;
                }
                s.dups_left = s.dups_left.checked_sub(1)?;
                let f = *s.network.get(i)?;
                // The copy travels right behind the original.
                s.network.insert(i, f);
                t.segment = Some(f);
                s.witness = None;
                s.ack_exchange = 0;
            }
            Action::Timeout(side) => {
                let step = s.ends[side].on_timer(0, &self.cfg)?;
                (t.side, t.rule, t.sent) = (Some(side), Some(step.rule), step.out);
                self.apply(&mut s, side, step, None);
            }
            Action::Delay(i) => {
                if !s.movable(i) || s.network.get(i)?.late {
                    return None;
                }
                s.delays_left = s.delays_left.checked_sub(1)?;
                let mut f = s.network.remove(i);
                f.late = true;
                t.segment = Some(f);
                s.insert_late(f);
                s.witness = None;
            }
            Action::Tick => {
                if s.network.iter().any(|f| !f.late) {
                    return None;
                }
                for f in &mut s.network {
                    f.age += 1;
                }
                for e in &mut s.ends {
                    if let Some(d) = e.timer.as_mut() {
                        *d = d.saturating_sub(1);
                    }
                }
                s.witness = None;
                s.ack_exchange = 0;
            }
        }
        t.state = s;
        Some(t)
    }

    fn tick_enabled(&self, s: &SystemState) -> bool {
        let pending = s.network.iter().any(|_| true) || s.ends.iter().any(|e| e.timer.is_some());
        pending
            && !s.ends.iter().any(|e| e.timer_due(0))
            && !s
                .network
                .iter()
                .any(|f| !within_lifetime(u16::from(f.age) + 1, self.ticks.msl))
            && !self.client_may_connect(s)
            && s.network.iter().all(|f| f.late)
    }

    /// Every property: safety invariants, the liveness property, and the witnesses.
    pub fn all_properties() -> Vec<Property<Self>> {
        vec![
            Property::always(P_FINAL_ACK, |_, s: &SystemState| {
                s.flags & flag::FIN_DROPPED != 0
                    || s.flags & (flag::FIN_ANSWERED_BY_RST | flag::GAVE_UP_ON_FIN) == 0
            }),
            Property::always(P_OLD_ACCEPTED, |_, s: &SystemState| {
                s.flags & flag::OLD_ACCEPTED == 0
            }),
            Property::always(P_OLD_DELIVERED, |_, s: &SystemState| {
                s.flags & flag::OLD_DELIVERED == 0
            }),
            Property::always(P_DATA, |_, s: &SystemState| s.flags & flag::DATA_LOST == 0),
            Property::always(P_NO_ACK_LOOP, |_, s: &SystemState| {
                s.ack_exchange < ACK_EXCHANGE_LIMIT
            }),
            Property::eventually(P_BOTH_CLOSED, |m: &TeardownModel, s: &SystemState| {
                let last = m.bounds.incarnations;
                let closed = |e: &Endpoint| matches!(e.state, State::Closed | State::Listen);
                let open = |e: &Endpoint| e.state == State::Established && e.incarnation >= last;
                s.ends[CLIENT].incarnation >= last
                    && (s.ends.iter().all(closed) || (last > 1 && s.ends.iter().all(open)))
            }),
            Property::sometimes(W_LOST_FINAL_ACK, |_, s: &SystemState| {
                s.witness == Some(Witness::LostFinalAckRecovered)
            }),
            Property::sometimes(W_SIMULTANEOUS, |_, s: &SystemState| {
                s.witness == Some(Witness::SimultaneousClose)
            }),
            Property::sometimes(W_FW1_TW, |_, s: &SystemState| {
                s.witness == Some(Witness::FinWait1ToTimeWait)
            }),
            Property::sometimes(W_HALF_CLOSE, |_, s: &SystemState| {
                s.witness == Some(Witness::DataAfterPeerFin)
            }),
            Property::sometimes(W_TW_RESTART, |_, s: &SystemState| {
                s.witness == Some(Witness::TimeWaitRestarted)
            }),
            Property::sometimes(W_NEW_INCARNATION, |_, s: &SystemState| {
                s.witness == Some(Witness::NewIncarnationEstablished)
            }),
            Property::sometimes(W_OLD_DUP_WINDOW, |_, s: &SystemState| {
                s.witness == Some(Witness::OldDuplicateRejectedByWindow)
            }),
            Property::sometimes(W_PAWS, |_, s: &SystemState| {
                s.witness == Some(Witness::OldSegmentRejectedByPaws)
            }),
            Property::sometimes(W_ASSASSINATED, |_, s: &SystemState| {
                s.witness == Some(Witness::TimeWaitAssassinated)
            }),
        ]
    }
}

/// Property: the side in LAST-ACK (or CLOSING) never meets an RST answering its FIN and
/// never gives up on its FIN — a lost final ACK is always recovered within TIME-WAIT.
pub const P_FINAL_ACK: &str = "final ACK is always recovered";
/// Property: no segment of an older incarnation is accepted by a newer one.
pub const P_OLD_ACCEPTED: &str = "old segment never accepted by a new incarnation";
/// Property: no segment of an older incarnation even reaches a synchronized newer one.
pub const P_OLD_DELIVERED: &str = "old segment never delivered to a new incarnation";
/// Property: a FIN is accepted only after every octet written before it was delivered.
pub const P_DATA: &str = "graceful close delivers all data written before close";
/// Property: two endpoints never answer each other's rejected segments with ACKs without
/// end (RFC 1337 H2: "an infinite ACK loop").
pub const P_NO_ACK_LOOP: &str = "no endless exchange of ACKs (RFC 1337 H2)";
/// Consecutive answers to rejected segments that count as an endless exchange. In a finite
/// execution each answer needs a segment that some budget or event produced; a dozen in a
/// row, with nothing else happening, only a loop produces.
pub const ACK_EXCHANGE_LIMIT: u8 = 12;
/// Property: every maximal execution completes every teardown: both endpoints end CLOSED,
/// or, when several incarnations are checked, both ESTABLISHED in the last one (which only
/// opens).
pub const P_BOTH_CLOSED: &str = "both endpoints reach CLOSED";
/// Witness: a lost final ACK recovered by a retransmitted FIN.
pub const W_LOST_FINAL_ACK: &str = "lost final ACK recovered by a retransmitted FIN";
/// Witness: simultaneous close through CLOSING.
pub const W_SIMULTANEOUS: &str = "simultaneous close through CLOSING";
/// Witness: FIN-WAIT-1 straight to TIME-WAIT.
pub const W_FW1_TW: &str = "FIN-WAIT-1 straight to TIME-WAIT on FIN+ACK";
/// Witness: half-close.
pub const W_HALF_CLOSE: &str = "data delivered after the receiver's own FIN (half-close)";
/// Witness: TIME-WAIT restarted.
pub const W_TW_RESTART: &str = "TIME-WAIT restarted by a retransmitted FIN";
/// Witness: new incarnation.
pub const W_NEW_INCARNATION: &str = "a new incarnation is established";
/// Witness: old duplicate rejected by the window.
pub const W_OLD_DUP_WINDOW: &str = "a duplicate of the same incarnation is rejected by the window";
/// Witness: PAWS.
pub const W_PAWS: &str = "an old segment reaches the new incarnation and PAWS rejects it";
/// Witness: assassination.
pub const W_ASSASSINATED: &str = "TIME-WAIT ended early by an RST";

/// The safety and liveness properties, in report order.
pub const PROPERTIES: [&str; 6] = [
    P_FINAL_ACK,
    P_OLD_ACCEPTED,
    P_OLD_DELIVERED,
    P_DATA,
    P_NO_ACK_LOOP,
    P_BOTH_CLOSED,
];
/// The witnesses, in report order.
pub const WITNESSES: [&str; 9] = [
    W_LOST_FINAL_ACK,
    W_SIMULTANEOUS,
    W_FW1_TW,
    W_HALF_CLOSE,
    W_TW_RESTART,
    W_NEW_INCARNATION,
    W_OLD_DUP_WINDOW,
    W_PAWS,
    W_ASSASSINATED,
];

/// Stable short ids of the properties and witnesses, as stack files, JUnit reports and
/// JSON name them: `(id, name)`, properties first, in report order.
pub const PROPERTY_IDS: [(&str, &str); 15] = [
    ("final-ack-recovered", P_FINAL_ACK),
    ("old-segment-never-accepted", P_OLD_ACCEPTED),
    ("old-segment-never-delivered", P_OLD_DELIVERED),
    ("close-delivers-data", P_DATA),
    ("no-ack-loop", P_NO_ACK_LOOP),
    ("both-reach-closed", P_BOTH_CLOSED),
    ("lost-final-ack-recovered", W_LOST_FINAL_ACK),
    ("simultaneous-close", W_SIMULTANEOUS),
    ("fin-wait-1-to-time-wait", W_FW1_TW),
    ("half-close", W_HALF_CLOSE),
    ("time-wait-restarted", W_TW_RESTART),
    ("new-incarnation", W_NEW_INCARNATION),
    ("duplicate-rejected-by-window", W_OLD_DUP_WINDOW),
    ("old-segment-rejected-by-paws", W_PAWS),
    ("time-wait-assassinated", W_ASSASSINATED),
];

/// The stable id of a property or witness name (the name itself if it has none).
pub fn property_id(name: &'static str) -> &'static str {
    PROPERTY_IDS
        .iter()
        .find(|(_, n)| *n == name)
        .map_or(name, |(id, _)| id)
}

/// The property or witness name with this stable id.
pub fn property_by_id(id: &str) -> Option<&'static str> {
    PROPERTY_IDS.iter().find(|(i, _)| *i == id).map(|(_, n)| *n)
}

impl Model for TeardownModel {
    type State = SystemState;
    type Action = Action;

    fn init_states(&self) -> Vec<SystemState> {
        let client = Tcb::established(Role::Client, CLIENT_ISS, SERVER_ISS, &self.cfg);
        let server = Tcb::established(Role::Server, SERVER_ISS, CLIENT_ISS, &self.cfg);
        vec![SystemState {
            ends: [client, server],
            apps: [App::default(); 2],
            network: Vec::new(),
            losses_left: self.bounds.losses,
            dups_left: self.bounds.dups,
            delays_left: self.bounds.delays,
            flags: 0,
            witness: None,
            ack_exchange: 0,
        }]
    }

    fn actions(&self, s: &SystemState, actions: &mut Vec<Action>) {
        if s.ack_exchange >= ACK_EXCHANGE_LIMIT {
            return; // an endless ACK exchange: the property reports it; nothing follows
        }
        let ev = self.cfg.events;
        for side in [CLIENT, SERVER] {
            let e = &s.ends[side];
            let app = &s.apps[side];
            if e.timer_due(0) {
                actions.push(Action::Timeout(side));
            }
            // The last of several incarnations only opens: it exists to meet what the
            // earlier ones left in the network; its own teardown would be a repeat.
            if self.bounds.incarnations > 1 && e.incarnation >= self.bounds.incarnations {
                continue;
            }
            let can_write = matches!(e.state, State::Established | State::CloseWait);
            if can_write && app.written < self.bounds.data && !app.closed {
                actions.push(Action::App(side, AppAction::Send));
            }
            let done_writing = app.written >= self.bounds.data;
            if !app.closed
                && done_writing
                && matches!(e.state, State::Established | State::CloseWait)
            {
                actions.push(Action::App(side, AppAction::Shutdown));
                if ev.close_unread {
                    actions.push(Action::App(side, AppAction::Close));
                }
                if ev.abort {
                    actions.push(Action::App(side, AppAction::Abort));
                }
                if ev.close_unread && app.delivered > 0 {
                    actions.push(Action::App(side, AppAction::CloseUnread));
                }
            }
        }
        let c = &s.ends[CLIENT];
        let reuse = c.state == State::TimeWait && self.cfg.behaviour.time_wait_reuse;
        if (self.client_may_connect(s) || reuse) && c.incarnation < self.bounds.incarnations {
            let (_, n) = c.isn_candidates(&self.cfg);
            actions.push(Action::App(CLIENT, AppAction::Connect { alt: false }));
            if n > 1 {
                actions.push(Action::App(CLIENT, AppAction::Connect { alt: true }));
            }
        }
        for (i, f) in s.network.iter().enumerate() {
            if !s.movable(i) || (i > 0 && f.late && s.network[i - 1] == *f) {
                continue; // behind its FIFO's head, or an identical copy: same successors
            }
            actions.push(Action::Deliver(i, false));
            let (_, n) = s.ends[usize::from(f.to)].isn_candidates(&self.cfg);
            if n > 1 && f.seg.has(Flags::SYN) && !f.seg.has(Flags::ACK) {
                actions.push(Action::Deliver(i, true));
            }
            if s.losses_left > 0 {
                actions.push(Action::Drop(i));
            }
            if s.dups_left > 0 {
                actions.push(Action::Duplicate(i));
            }
            if s.delays_left > 0 && !f.late {
                actions.push(Action::Delay(i));
            }
        }
        if self.tick_enabled(s) {
            actions.push(Action::Tick);
        }
    }

    fn next_state(&self, last: &SystemState, action: Action) -> Option<SystemState> {
        self.transition(last, action).map(|t| t.state)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        Self::all_properties()
    }

    fn format_action(&self, action: &Action) -> String {
        match *action {
            Action::App(side, app) => {
                format!("{} {}", side_name(side), crate::check::app_call_name(app))
            }
            Action::Deliver(i, alt) => format!(
                "network delivers segment #{i}{}",
                if alt { " (second ISN candidate)" } else { "" }
            ),
            Action::Drop(i) => format!("network drops segment #{i}"),
            Action::Duplicate(i) => format!("network duplicates segment #{i}"),
            Action::Delay(i) => format!("network delays segment #{i}"),
            Action::Timeout(side) => format!("{} timer fires", side_name(side)),
            Action::Tick => "one tick passes".to_string(),
        }
    }

    fn format_step(&self, last: &SystemState, action: Action) -> Option<String> {
        let t = self.transition(last, action)?;
        let mut out = self.format_action(&action);
        if let Some(f) = t.segment {
            let from = 1 - usize::from(f.to);
            let _ = write!(
                out,
                ": {}",
                describe_segment(
                    &f.seg,
                    from,
                    last.ends[usize::from(f.to)].iss,
                    last.ends[from].iss
                )
            );
        }
        if let (Some(side), Some(rule)) = (t.side, t.rule) {
            let _ = write!(
                out,
                "\n{} applies {} ({}): {}",
                side_name(side),
                rule.id(),
                rule.section(),
                rule.summary()
            );
        }
        if let (Some(seg), Some(side)) = (t.sent, t.side) {
            let to = 1 - side;
            let _ = write!(
                out,
                "\nsends {}",
                describe_segment(&seg, side, t.state.ends[to].iss, t.state.ends[side].iss)
            );
        }
        let _ = write!(
            out,
            "\nclient {}, server {}",
            t.state.ends[CLIENT].state.rfc_name(),
            t.state.ends[SERVER].state.rfc_name()
        );
        Some(out)
    }

    /// The path as a ladder diagram, for the Explorer's path view.
    fn as_svg(&self, path: stateright::Path<SystemState, Action>) -> Option<String> {
        let steps = path.into_vec();
        let initial = steps.first()?.0.clone();
        let actions: Vec<Action> = steps.iter().filter_map(|(_, a)| *a).collect();
        let title = format!("{}: the path so far", self.stack.name);
        let subtitle = format!("{} steps", actions.len());
        let ladder = crate::check::ladder(self, &(initial, actions), title, subtitle, false);
        Some(crate::ladder::to_svg(&ladder))
    }
}

/// One line describing a segment relative to the ISNs of its incarnation.
pub fn describe_segment(seg: &Segment<Seq>, from: usize, to_iss: Seq, from_iss: Seq) -> String {
    let mut s = format!(
        "{} {} seq={} ",
        side_name(from),
        seg.flags,
        seg.seq.wrapping_sub(from_iss)
    );
    if seg.has(Flags::ACK) {
        let _ = write!(s, "ack={} ", seg.ack.wrapping_sub(to_iss));
    }
    if seg.len > 0 {
        let _ = write!(s, "len={} ", seg.len);
    }
    if let Some(ts) = seg.tsval {
        let _ = write!(s, "TSval={ts} ");
    }
    let _ = write!(s, "inc={}", seg.ghost.incarnation);
    s
}
