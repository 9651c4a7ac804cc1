//! The endpoint: a TCB and the pure transition functions of TCP teardown.
//!
//! This is the one implementation of the TCP teardown rules in the project. The checker
//! explores it on a small sequence space with ticks; the oracle replays captures through it
//! on the full 32-bit space with nanoseconds. Each function takes the endpoint, one event
//! (an application call, an arriving segment, a timer expiry) and the stack's
//! configuration, and returns the next endpoint, at most one segment sent, and the
//! [`Rule`] applied. Segment arrival follows the processing order of RFC 9293 §3.10.7.4:
//! sequence number, RST, SYN, ACK, text, FIN.

use std::fmt::Debug;
use std::hash::Hash;

use serde::Serialize;

use crate::rules::Rule;
use crate::segment::{Flags, Ghost, Segment};
use crate::seq::SeqNum;
use crate::stack::{
    AppEvents, Behaviour, IsnPolicy, RstCheck, SynCheck, SynInTimeWait, TimeWaitRst,
};

/// A point in time or a duration at the scale of the caller: ticks in the checker (which
/// keeps every deadline relative to "now"), nanoseconds in replay.
pub trait Time: Copy + Ord + Hash + Debug + Default + Send + Sync + 'static {
    /// `self + d`, saturating.
    fn plus(self, d: Self) -> Self;
    /// `self * 2^k`, saturating: exponential retransmission backoff (RFC 6298 §5.5).
    fn backed_off(self, k: u8) -> Self;
}

impl Time for u16 {
    fn plus(self, d: Self) -> Self {
        self.saturating_add(d)
    }
    fn backed_off(self, k: u8) -> Self {
        self.saturating_mul(1u16.checked_shl(u32::from(k)).unwrap_or(u16::MAX))
    }
}

impl Time for u64 {
    fn plus(self, d: Self) -> Self {
        self.saturating_add(d)
    }
    fn backed_off(self, k: u8) -> Self {
        self.saturating_mul(1u64.checked_shl(u32::from(k)).unwrap_or(u64::MAX))
    }
}

/// Connection states (RFC 9293 §3.3.2). CLOSED is the absence of a TCB; LISTEN stands for
/// the server's listening socket, to which the server's side of the 4-tuple returns when its
/// connection TCB is deleted.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize)]
pub enum State {
    /// No TCB.
    Closed,
    /// Waiting for a connection request (server side with no connection TCB).
    Listen,
    /// SYN sent, waiting for a matching SYN-ACK.
    SynSent,
    /// SYN received and SYN-ACK sent, waiting for its ACK.
    SynReceived,
    /// Open connection.
    Established,
    /// Our FIN sent, waiting for its ACK or the peer's FIN.
    FinWait1,
    /// Our FIN acknowledged, waiting for the peer's FIN.
    FinWait2,
    /// Peer's FIN received, waiting for the local user to close.
    CloseWait,
    /// Both FINs sent, ours not yet acknowledged (simultaneous close).
    Closing,
    /// Peer's FIN received and ours sent, waiting for the ACK of ours.
    LastAck,
    /// Both FINs exchanged and acknowledged; waiting 2MSL.
    TimeWait,
}

impl State {
    /// The RFC's name, e.g. `FIN-WAIT-2`.
    pub const fn rfc_name(self) -> &'static str {
        match self {
            State::Closed => "CLOSED",
            State::Listen => "LISTEN",
            State::SynSent => "SYN-SENT",
            State::SynReceived => "SYN-RECEIVED",
            State::Established => "ESTABLISHED",
            State::FinWait1 => "FIN-WAIT-1",
            State::FinWait2 => "FIN-WAIT-2",
            State::CloseWait => "CLOSE-WAIT",
            State::Closing => "CLOSING",
            State::LastAck => "LAST-ACK",
            State::TimeWait => "TIME-WAIT",
        }
    }

    /// Every state, in declaration order.
    pub const ALL: [State; 11] = [
        State::Closed,
        State::Listen,
        State::SynSent,
        State::SynReceived,
        State::Established,
        State::FinWait1,
        State::FinWait2,
        State::CloseWait,
        State::Closing,
        State::LastAck,
        State::TimeWait,
    ];

    /// Synchronized states (RFC 9293 §3.5.2 group 3): a connection exists in them.
    pub const fn is_synchronized(self) -> bool {
        !matches!(self, State::Closed | State::Listen | State::SynSent)
    }

    /// States in which our FIN has been sent and is not yet acknowledged.
    pub const fn fin_outstanding(self) -> bool {
        matches!(self, State::FinWait1 | State::Closing | State::LastAck)
    }

    /// States in which the peer's FIN has been received.
    pub const fn peer_fin_received(self) -> bool {
        matches!(
            self,
            State::CloseWait | State::Closing | State::LastAck | State::TimeWait
        )
    }
}

/// Which side of the 4-tuple an endpoint is.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize)]
pub enum Role {
    /// Opens connections (active OPEN); reopens the 4-tuple.
    Client,
    /// Listens; its side of the 4-tuple returns to LISTEN when a connection TCB is deleted.
    Server,
}

/// The stack's configuration at one scale: behaviour knobs plus timer lengths in `T`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Config<T: Time> {
    /// Behaviour knobs.
    pub behaviour: Behaviour,
    /// Application calls that occur.
    pub events: AppEvents,
    /// TIME-WAIT length; `None` skips TIME-WAIT.
    pub time_wait: Option<T>,
    /// Initial retransmission timeout.
    pub rto: T,
    /// Retransmissions before giving up.
    pub max_retries: u8,
    /// FIN-WAIT-2 timeout; `None`: none.
    pub fin_wait_2: Option<T>,
    /// The receive window every endpoint offers (RCV.WND), in sequence numbers.
    pub window: u32,
    /// How far above the old SND.NXT a new incarnation's ISN lies (Linux: 65537).
    pub isn_gap: u32,
}

/// Nanoseconds per millisecond, for the replay scale.
const NS_PER_MS: u64 = 1_000_000;

/// The longest an acknowledgment may be delayed: "the delay MUST be less than 0.5 seconds"
/// (RFC 9293 §3.8.6.3, from RFC 1122 4.2.3.2). An endpoint owes the ACKs its steps emit,
/// but may fold them into a later segment whose acknowledgment covers them.
pub const MAX_ACK_DELAY_NS: u64 = 500 * NS_PER_MS;

/// The longest one retransmission timeout can run on any stack: Linux caps it at
/// `TCP_RTO_MAX` = 120 s (FreeBSD and macOS at 64 s, Windows at 60 s; RFC 6298 (2.5) lets the
/// cap be no lower than 60 s), and its timer wheel fires a timeout that long up to 4.096 s
/// late (kernel/time/timer.c: at HZ=1000, level 4 covers 32.8 s to 262 s in steps of 4096
/// jiffies). A captured host whose retransmission timer — by the description's RTO, which
/// the real RTT may stretch — came due this much before a later moment must have fired it by then.
pub const MAX_RTO_NS: u64 = 120_000 * NS_PER_MS + 4_096 * NS_PER_MS;

impl Config<u64> {
    /// The description at the replay scale: nanoseconds, a receive window wide enough for
    /// any real capture (the window is not what teardown replay judges), and the stack's own
    /// timers. `timestamps` is what the connection negotiated (RFC 7323 §3.2), which a
    /// capture shows and a description cannot know.
    pub fn replay(stack: &crate::stack::StackDescription, timestamps: bool) -> Self {
        let ns = |ms: u64| ms.saturating_mul(NS_PER_MS);
        let mut behaviour = stack.behaviour;
        behaviour.timestamps = timestamps;
        Config {
            behaviour,
            events: stack.events,
            time_wait: stack.timers.time_wait_ms.map(ns),
            rto: ns(stack.timers.rto_ms),
            max_retries: stack.timers.max_retries,
            fin_wait_2: stack.timers.fin_wait_2_ms.map(ns),
            window: 1 << 30,
            isn_gap: 1,
        }
    }
}

/// An application call (RFC 9293 §3.9.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize)]
pub enum AppCall<S: SeqNum> {
    /// Active OPEN with this ISN (see [`Tcb::isn_candidates`]).
    Connect {
        /// Initial send sequence number.
        iss: S,
    },
    /// SEND one data segment of `len` octets.
    Send {
        /// Payload octets.
        len: u32,
    },
    /// close(): FIN, and the read side is closed too (half-duplex close, RFC 9293 §3.6.1).
    Close,
    /// shutdown(SHUT_WR): FIN, the read side stays open (half-close).
    Shutdown,
    /// close() with received data unread: RST (RFC 2525 §2.17).
    CloseUnread,
    /// ABORT (SO_LINGER {1, 0}).
    Abort,
}

/// The TCB of one endpoint of the 4-tuple, kept across incarnations: when the connection
/// TCB is deleted the state becomes CLOSED or LISTEN but the last sequence numbers stay,
/// standing for what the host remembers (its ISN clock, RFC 9293 §3.4.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize)]
pub struct Tcb<S: SeqNum, T: Time> {
    /// Connection state.
    pub state: State,
    /// Client or server.
    pub role: Role,
    /// ISS: our initial sequence number.
    pub iss: S,
    /// SND.UNA: oldest unacknowledged sequence number.
    pub snd_una: S,
    /// SND.NXT: next sequence number to send.
    pub snd_nxt: S,
    /// RCV.NXT: next sequence number expected.
    pub rcv_nxt: S,
    /// The application called close() rather than shutdown(): new data is answered with RST.
    pub read_closed: bool,
    /// The running timer's deadline. Its kind follows from the state: TIME-WAIT in
    /// TIME-WAIT, FIN-WAIT-2 in FIN-WAIT-2, retransmission otherwise.
    pub timer: Option<T>,
    /// Retransmissions of the oldest unacknowledged segment so far.
    pub retries: u8,
    /// Our timestamp clock (TSval), if timestamps are on.
    pub ts_clock: u32,
    /// TS.Recent (RFC 7323 §4.3): the newest TSval accepted from the peer.
    pub ts_recent: Option<u32>,
    /// Ghost: the incarnation this TCB belongs to.
    pub incarnation: u8,
}

/// The kind of the running timer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
pub enum TimerKind {
    /// Retransmission timeout (RFC 6298).
    Retransmit,
    /// 2MSL (RFC 9293 §3.6.1).
    TimeWait,
    /// FIN-WAIT-2 timeout (Linux tcp_fin_timeout).
    FinWait2,
}

/// The result of one step: the next TCB, at most one segment sent, and the rule applied.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Step<S: SeqNum, T: Time> {
    /// The endpoint after the step.
    pub tcb: Tcb<S, T>,
    /// The segment sent, if any.
    pub out: Option<Segment<S>>,
    /// The rule applied.
    pub rule: Rule,
}

impl<S: SeqNum, T: Time> Tcb<S, T> {
    /// An endpoint of an established connection (the starting point of the checker's first
    /// incarnation): ISN exchanged, nothing in flight.
    pub fn established(role: Role, iss: S, irs: S, cfg: &Config<T>) -> Self {
        let ts = cfg.behaviour.timestamps;
        Tcb {
            state: State::Established,
            role,
            iss,
            snd_una: iss.plus(1),
            snd_nxt: iss.plus(1),
            rcv_nxt: irs.plus(1),
            read_closed: false,
            timer: None,
            retries: 0,
            ts_clock: u32::from(ts),
            ts_recent: if ts { Some(1) } else { None },
            incarnation: 1,
        }
    }

    /// An endpoint with no connection yet: CLOSED for a client, LISTEN for a server. Replay
    /// starts here when a capture shows the 4-tuple's opening SYN.
    pub fn idle(role: Role, cfg: &Config<T>) -> Self {
        let ts = cfg.behaviour.timestamps;
        Tcb {
            state: match role {
                Role::Client => State::Closed,
                Role::Server => State::Listen,
            },
            role,
            iss: S::default(),
            snd_una: S::default(),
            snd_nxt: S::default(),
            rcv_nxt: S::default(),
            read_closed: false,
            timer: None,
            retries: 0,
            ts_clock: u32::from(ts),
            ts_recent: None,
            incarnation: 0,
        }
    }

    /// An endpoint of a connection already open before the capture began, synchronised from
    /// the first segments each way (RFC 9293 §3.4: SND.UNA =< SND.NXT, RCV.NXT is what the
    /// peer acknowledged last). The ISS lies before anything seen.
    pub fn mid_stream(role: Role, snd_una: S, snd_nxt: S, rcv_nxt: S, cfg: &Config<T>) -> Self {
        let mut t = Tcb::idle(role, cfg);
        t.state = State::Established;
        t.iss = snd_una.plus(u32::MAX);
        t.snd_una = snd_una;
        t.snd_nxt = snd_nxt;
        t.rcv_nxt = rcv_nxt;
        t.incarnation = 1;
        t
    }

    /// The same TCB had it chosen `iss` as its initial sequence number when it last opened.
    /// Replay learns a passive opener's ISS only from its SYN-ACK, after the step that chose
    /// it; ISS enters nothing but ISS, SND.UNA and SND.NXT until that SYN-ACK is sent.
    pub fn with_iss(&self, iss: S) -> Self {
        let shift = iss.raw().wrapping_sub(self.iss.raw());
        let mut t = *self;
        t.iss = iss;
        t.snd_una = self.snd_una.plus(shift);
        t.snd_nxt = self.snd_nxt.plus(shift);
        t
    }

    /// The representative of the TCBs that behave exactly like this one from now on: fields
    /// no future rule can read are reset. Whether the application called close() or
    /// shutdown() is read only in FIN-WAIT-1 and FIN-WAIT-2 — new data after close() is
    /// answered with RST (RFC 9293 §3.6.1 SHLD-3) and only an orphan's FIN-WAIT-2 is timed
    /// (Linux `tcp_fin_timeout`) — and no state outside them leads back into them. Replay
    /// merges hypotheses by it, so that two stories differing only in a call that can no
    /// longer matter count once.
    pub fn canonical(&self) -> Self {
        let mut t = *self;
        if !matches!(t.state, State::FinWait1 | State::FinWait2) {
            t.read_closed = false;
        }
        t
    }

    /// The kind of the running timer, if one runs.
    pub fn timer_kind(&self) -> Option<TimerKind> {
        self.timer.map(|_| match self.state {
            State::TimeWait => TimerKind::TimeWait,
            State::FinWait2 => TimerKind::FinWait2,
            _ => TimerKind::Retransmit,
        })
    }

    /// Whether the timer is due at `now`.
    pub fn timer_due(&self, now: T) -> bool {
        self.timer.is_some_and(|d| d <= now)
    }

    /// The ISNs this host may choose for a new incarnation of the 4-tuple, first the one
    /// above the old sequence space. See [`IsnPolicy`].
    pub fn isn_candidates(&self, cfg: &Config<T>) -> ([S; 2], usize) {
        let above = self.snd_nxt.plus(cfg.isn_gap);
        match cfg.behaviour.isn {
            IsnPolicy::Arbitrary if self.iss != above => ([above, self.iss], 2),
            _ => ([above, above], 1),
        }
    }

    /// The state a deleted connection TCB leaves behind.
    fn deleted_state(&self) -> State {
        match self.role {
            Role::Client => State::Closed,
            Role::Server => State::Listen,
        }
    }

    fn delete(mut self) -> Self {
        self.state = self.deleted_state();
        self.timer = None;
        self.retries = 0;
        self
    }

    fn tsval(&self, cfg: &Config<T>) -> Option<u32> {
        cfg.behaviour.timestamps.then_some(self.ts_clock)
    }

    fn segment(
        &self,
        cfg: &Config<T>,
        flags: Flags,
        seq: S,
        ack: S,
        len: u32,
        inc: u8,
    ) -> Segment<S> {
        Segment {
            flags,
            seq,
            ack,
            len,
            tsval: self.tsval(cfg),
            ghost: Ghost {
                incarnation: inc,
                answers_fin: false,
            },
        }
    }

    /// `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>`, the acknowledgment of RFC 9293 §3.10.7.4.
    fn ack_now(&self, cfg: &Config<T>, inc: u8) -> Segment<S> {
        self.segment(cfg, Flags::ACK, self.snd_nxt, self.rcv_nxt, 0, inc)
    }

    fn step(self, out: Option<Segment<S>>, rule: Rule) -> Step<S, T> {
        Step {
            tcb: self,
            out,
            rule,
        }
    }

    fn arm_retransmit(&mut self, now: T, cfg: &Config<T>) {
        if self.timer.is_none() {
            self.retries = 0;
            self.timer = Some(now.plus(cfg.rto));
        }
    }

    fn enter_time_wait(&mut self, now: T, cfg: &Config<T>) {
        match cfg.time_wait {
            Some(len) => {
                self.state = State::TimeWait;
                self.timer = Some(now.plus(len));
                self.retries = 0;
            }
            // A stack without TIME-WAIT deletes the TCB at once (U2 in the notes: bucket
            // overflow, FreeBSD nolocaltimewait, Zephyr with a delay of 0).
            None => *self = self.delete(),
        }
    }

    // ------------------------------------------------------------------ application calls

    /// An application call. `None` when the call is not possible in this state.
    pub fn on_app(&self, call: AppCall<S>, now: T, cfg: &Config<T>) -> Option<Step<S, T>> {
        let mut t = *self;
        let inc = self.incarnation;
        match (call, self.state) {
            (AppCall::Connect { iss }, State::Closed)
            | (AppCall::Connect { iss }, State::TimeWait) => {
                let reuse = self.state == State::TimeWait;
                if reuse && !cfg.behaviour.time_wait_reuse {
                    return None;
                }
                t.state = State::SynSent;
                t.iss = iss;
                t.snd_una = iss;
                t.snd_nxt = iss.plus(1);
                t.read_closed = false;
                t.timer = None;
                t.arm_retransmit(now, cfg);
                // The timestamp clock has ticked since the last incarnation; Linux's reuse
                // additionally keeps TS.Recent of the TIME-WAIT socket (tcp_ipv4.c:184-190).
                t.ts_clock = self.ts_clock.wrapping_add(1);
                if !reuse {
                    t.ts_recent = None;
                }
                t.incarnation = self.incarnation.saturating_add(1);
                let mut syn = t.segment(cfg, Flags::SYN, iss, S::default(), 0, t.incarnation);
                syn.ack = S::default();
                let rule = if reuse {
                    Rule::AppConnectReuseTimeWait
                } else {
                    Rule::AppConnect
                };
                Some(t.step(Some(syn), rule))
            }
            (AppCall::Send { len }, State::Established | State::CloseWait) => {
                let seg = t.segment(cfg, Flags::ACK, t.snd_nxt, t.rcv_nxt, len, inc);
                t.snd_nxt = t.snd_nxt.plus(len);
                t.arm_retransmit(now, cfg);
                Some(t.step(Some(seg), Rule::AppSend))
            }
            (
                AppCall::Close | AppCall::Shutdown,
                State::Established | State::SynReceived | State::CloseWait,
            ) => {
                // RFC 9293 §3.10.4: FIN after all queued data; FIN-WAIT-1, or LAST-ACK from
                // CLOSE-WAIT. close() also shuts the read side (MAY-1 half-duplex close).
                let fin = t.segment(cfg, Flags::FIN | Flags::ACK, t.snd_nxt, t.rcv_nxt, 0, inc);
                t.snd_nxt = t.snd_nxt.plus(1);
                t.read_closed = call == AppCall::Close;
                t.arm_retransmit(now, cfg);
                let rule = if self.state == State::CloseWait {
                    t.state = State::LastAck;
                    Rule::AppCloseLastAck
                } else {
                    t.state = State::FinWait1;
                    Rule::AppCloseFinWait1
                };
                Some(t.step(Some(fin), rule))
            }
            (AppCall::Close | AppCall::Abort, State::SynSent) => {
                Some(t.delete().step(None, Rule::AppCloseSynSent))
            }
            (AppCall::CloseUnread, State::Established | State::CloseWait) => {
                // RFC 2525 §2.17 / RFC 9293 SHLD-3: data would be lost, so say so with RST.
                let rst = t.segment(cfg, Flags::RST | Flags::ACK, t.snd_nxt, t.rcv_nxt, 0, inc);
                Some(t.delete().step(Some(rst), Rule::AppCloseUnreadReset))
            }
            (
                AppCall::Abort,
                State::SynReceived
                | State::Established
                | State::FinWait1
                | State::FinWait2
                | State::CloseWait,
            ) => {
                // RFC 9293 §3.10.5: <SEQ=SND.NXT><CTL=RST>.
                let rst = t.segment(cfg, Flags::RST, t.snd_nxt, S::default(), 0, inc);
                Some(t.delete().step(Some(rst), Rule::AppAbortReset))
            }
            (AppCall::Abort, State::Closing | State::LastAck | State::TimeWait) => {
                Some(t.delete().step(None, Rule::AppAbortQuiet))
            }
            _ => None,
        }
    }

    /// A window update: `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>` sent when the receive window
    /// opens (RFC 9293 §3.8.6.2.2, RFC 1122 4.2.3.3), which the model does not track but a
    /// capture shows. Only states that still receive send one: TIME-WAIT answers only what
    /// arrives, and SYN-RECEIVED has not had its SYN acknowledged.
    pub fn on_window_update(&self, cfg: &Config<T>) -> Option<Step<S, T>> {
        match self.state {
            State::Established
            | State::FinWait1
            | State::FinWait2
            | State::CloseWait
            | State::Closing
            | State::LastAck => {
                let ack = self.ack_now(cfg, self.incarnation);
                Some(self.step(Some(ack), Rule::AckWindowUpdate))
            }
            _ => None,
        }
    }

    /// A keep-alive probe (RFC 9293 §3.8.4, RFC 1122 4.2.3.6): `<SEQ=SND.NXT-1>`, with one
    /// garbage octet if `octet`, sent only when nothing is unacknowledged, in a state that
    /// still sends (ESTABLISHED, CLOSE-WAIT). The peer finds it old and answers with an ACK.
    pub fn on_keep_alive(&self, octet: bool, cfg: &Config<T>) -> Option<Step<S, T>> {
        let idle = self.snd_una == self.snd_nxt;
        if !idle || !matches!(self.state, State::Established | State::CloseWait) {
            return None;
        }
        let mut seg = self.ack_now(cfg, self.incarnation);
        seg.seq = self.snd_nxt.plus(u32::MAX);
        seg.len = u32::from(octet);
        Some(self.step(Some(seg), Rule::KeepAlive))
    }

    /// An ACK of part of what arrived: `<SEQ=SND.NXT><ACK=ack><CTL=ACK>` with `ack` at or
    /// before RCV.NXT and at or after `floor` (what was acknowledged before: ACKs do not
    /// go backwards). Nothing changes: the data stays received. Stacks do this when they
    /// acknowledge a segment's data before its FIN, or keep only the part of a segment that
    /// fits their receive window (RFC 9293 §3.10.7.4 trims a segment to the window), which
    /// the model does not track.
    pub fn on_partial_ack(&self, ack: S, floor: S, cfg: &Config<T>) -> Option<Step<S, T>> {
        let open = matches!(
            self.state,
            State::Established
                | State::FinWait1
                | State::FinWait2
                | State::CloseWait
                | State::Closing
                | State::LastAck
                | State::TimeWait
        );
        if !open || ack.after(self.rcv_nxt) || ack.before(floor) || ack == self.rcv_nxt {
            return None;
        }
        let mut seg = self.ack_now(cfg, self.incarnation);
        seg.ack = ack;
        Some(self.step(Some(seg), Rule::AckPartial))
    }

    // ------------------------------------------------------------------ timers

    /// The running timer fires at `now`. `None` when no timer is due.
    pub fn on_timer(&self, now: T, cfg: &Config<T>) -> Option<Step<S, T>> {
        if !self.timer_due(now) {
            return None;
        }
        let mut t = *self;
        match self.timer_kind()? {
            TimerKind::TimeWait => Some(t.delete().step(None, Rule::TimeWaitExpired)),
            TimerKind::FinWait2 => Some(t.delete().step(None, Rule::FinWait2Timeout)),
            TimerKind::Retransmit => {
                let fin_pending = self.state.fin_outstanding();
                if t.retries >= cfg.max_retries {
                    return Some(t.delete().step(None, Rule::RtoGiveUp));
                }
                // A stack that never retransmits its FIN still resends data before it, but a
                // lone FIN is left to the user timeout: the timer backs off silently.
                let only_fin = fin_pending && self.snd_una.plus(1) == self.snd_nxt;
                if only_fin && !cfg.behaviour.fin_retransmit {
                    t.retries += 1;
                    t.timer = Some(now.plus(cfg.rto.backed_off(t.retries)));
                    return Some(t.step(None, Rule::RtoFinNotRetransmitted));
                }
                let fin_outstanding = fin_pending;
                let fin_pending = fin_pending && cfg.behaviour.fin_retransmit;
                // Resend everything unacknowledged as one segment (go-back-N from SND.UNA).
                let syn = self.snd_una == self.iss;
                let unacked = self.snd_nxt.distance(self.snd_una).max(0) as u32;
                let ctl = u32::from(syn) + u32::from(fin_outstanding);
                let mut flags = if self.state == State::SynSent {
                    Flags::SYN
                } else {
                    Flags::ACK
                };
                if syn {
                    flags = flags | Flags::SYN;
                }
                if fin_pending {
                    flags = flags | Flags::FIN;
                }
                let ack = if self.state == State::SynSent {
                    S::default()
                } else {
                    self.rcv_nxt
                };
                let seg = t.segment(
                    cfg,
                    flags,
                    self.snd_una,
                    ack,
                    unacked.saturating_sub(ctl),
                    self.incarnation,
                );
                t.retries += 1;
                t.timer = Some(now.plus(cfg.rto.backed_off(t.retries)));
                Some(t.step(Some(seg), Rule::RtoRetransmit))
            }
        }
    }

    // ------------------------------------------------------------------ segment arrival

    /// A segment arrives at `now`. `iss` is the ISN used if the segment opens a new
    /// incarnation (LISTEN, or a SYN reopening TIME-WAIT); see [`Tcb::isn_candidates`].
    pub fn on_segment(&self, seg: &Segment<S>, now: T, cfg: &Config<T>, iss: S) -> Step<S, T> {
        // A reply belongs to the newer of the two incarnations (see `Ghost::incarnation`).
        let inc = self.incarnation.max(seg.ghost.incarnation);
        match self.state {
            State::Closed => self.closed(seg, inc),
            State::Listen => self.listen(seg, now, cfg, iss, inc),
            State::SynSent => self.syn_sent(seg, now, cfg, inc),
            _ => self.synchronized(seg, now, cfg, iss, inc),
        }
    }

    /// RFC 9293 §3.10.7.1: CLOSED answers every non-RST segment with RST.
    fn closed(&self, seg: &Segment<S>, inc: u8) -> Step<S, T> {
        if seg.has(Flags::RST) {
            return self.step(None, Rule::ClosedRstDropped);
        }
        let rst = Self::reset_for(seg, inc);
        self.step(Some(rst), Rule::ClosedReset)
    }

    /// The RST answering `seg` from an endpoint without a TCB for it (RFC 9293 §3.10.7.1):
    /// `<SEQ=SEG.ACK><CTL=RST>` if ACK is set, else `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`.
    fn reset_for(seg: &Segment<S>, inc: u8) -> Segment<S> {
        let (flags, seq, ack) = if seg.has(Flags::ACK) {
            (Flags::RST, seg.ack, S::default())
        } else {
            (Flags::RST | Flags::ACK, S::default(), seg.end())
        };
        Segment {
            flags,
            seq,
            ack,
            len: 0,
            tsval: None,
            ghost: Ghost {
                incarnation: inc,
                answers_fin: seg.has(Flags::FIN),
            },
        }
    }

    /// RFC 9293 §3.10.7.2.
    fn listen(&self, seg: &Segment<S>, now: T, cfg: &Config<T>, iss: S, inc: u8) -> Step<S, T> {
        if seg.has(Flags::RST) {
            return self.step(None, Rule::ListenDropped);
        }
        if seg.has(Flags::ACK) {
            return self.step(Some(Self::reset_for(seg, inc)), Rule::ListenAckReset);
        }
        if seg.has(Flags::SYN) {
            return self.open_passive(seg, now, cfg, iss, inc, Rule::ListenSynAccepted);
        }
        self.step(None, Rule::ListenDropped)
    }

    /// A SYN creates a connection in SYN-RECEIVED, answered with `<SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>`.
    fn open_passive(
        &self,
        seg: &Segment<S>,
        now: T,
        cfg: &Config<T>,
        iss: S,
        inc: u8,
        rule: Rule,
    ) -> Step<S, T> {
        let mut t = *self;
        t.state = State::SynReceived;
        t.iss = iss;
        t.snd_una = iss;
        t.snd_nxt = iss.plus(1);
        t.rcv_nxt = seg.seq.plus(1);
        t.read_closed = false;
        t.timer = None;
        t.arm_retransmit(now, cfg);
        t.ts_clock = self.ts_clock.wrapping_add(1);
        t.ts_recent = if cfg.behaviour.timestamps {
            seg.tsval
        } else {
            None
        };
        t.incarnation = inc;
        let synack = t.segment(cfg, Flags::SYN | Flags::ACK, iss, t.rcv_nxt, 0, inc);
        t.step(Some(synack), rule)
    }

    /// RFC 9293 §3.10.7.3.
    fn syn_sent(&self, seg: &Segment<S>, now: T, cfg: &Config<T>, inc: u8) -> Step<S, T> {
        let mut t = *self;
        let ack_ok =
            seg.has(Flags::ACK) && seg.ack.after(self.iss) && seg.ack.at_or_before(self.snd_nxt);
        if seg.has(Flags::ACK) && !ack_ok {
            if seg.has(Flags::RST) {
                return t.step(None, Rule::SynSentDropped);
            }
            return t.step(Some(Self::reset_for(seg, inc)), Rule::SynSentBadAckReset);
        }
        if seg.has(Flags::RST) {
            if ack_ok {
                return t.delete().step(None, Rule::SynSentReset);
            }
            return t.step(None, Rule::SynSentDropped);
        }
        if seg.has(Flags::SYN) && ack_ok {
            t.snd_una = seg.ack;
            t.rcv_nxt = seg.seq.plus(1);
            t.state = State::Established;
            t.timer = None;
            t.retries = 0;
            if t.snd_una != t.snd_nxt {
                t.arm_retransmit(now, cfg);
            }
            if cfg.behaviour.timestamps {
                t.ts_recent = seg.tsval;
            }
            let ack = t.ack_now(cfg, inc);
            return t.step(Some(ack), Rule::SynSentEstablished);
        }
        t.step(None, Rule::SynSentDropped)
    }

    /// RFC 9293 §3.3 Table 5 (and §3.10.7.4 Table 6): is the segment acceptable?
    fn acceptable(&self, seg: &Segment<S>, cfg: &Config<T>) -> bool {
        let wnd = i64::from(cfg.window);
        let start = seg.seq.distance(self.rcv_nxt);
        let in_window = |d: i64| (0..wnd).contains(&d);
        match (seg.seg_len(), wnd) {
            (0, 0) => start == 0,
            (0, _) => in_window(start),
            (_, 0) => false,
            (len, _) => in_window(start) || in_window(start + i64::from(len) - 1),
        }
    }

    /// PAWS (RFC 7323 §5.3 R1): a non-RST segment whose TSval is older than TS.Recent.
    fn paws_rejects(&self, seg: &Segment<S>, cfg: &Config<T>) -> bool {
        if !cfg.behaviour.timestamps || seg.has(Flags::RST) {
            return false;
        }
        match (seg.tsval, self.ts_recent) {
            (Some(v), Some(recent)) => (v.wrapping_sub(recent) as i32) < 0,
            _ => false,
        }
    }

    /// A retransmission of the peer's FIN we already acknowledged: it ends at RCV.NXT.
    fn is_retransmitted_fin(&self, seg: &Segment<S>) -> bool {
        seg.has(Flags::FIN) && self.state.peer_fin_received() && seg.end() == self.rcv_nxt
    }

    /// RFC 9293 §3.10.7.4: the synchronized states.
    fn synchronized(
        &self,
        seg: &Segment<S>,
        now: T,
        cfg: &Config<T>,
        iss: S,
        inc: u8,
    ) -> Step<S, T> {
        let b = &cfg.behaviour;
        let mut t = *self;

        // SYN in TIME-WAIT, RFC 9293 §3.6.1 MAY-2 / RFC 6191: handled before the window check,
        // as Linux (tcp_timewait_state_process) and FreeBSD (tcp_twcheck) do.
        if self.state == State::TimeWait
            && b.syn_in_time_wait == SynInTimeWait::ReopenIfNewer
            && seg.has(Flags::SYN)
            && !seg.has(Flags::ACK)
            && !seg.has(Flags::RST)
        {
            let newer_seq = seg.seq.after(self.rcv_nxt);
            let newer_ts = match (b.timestamps, seg.tsval, self.ts_recent) {
                (true, Some(v), Some(recent)) => (v.wrapping_sub(recent) as i32) > 0,
                _ => false,
            };
            if newer_seq || newer_ts {
                return self.open_passive(seg, now, cfg, iss, inc, Rule::SynReopensTimeWait);
            }
            return t.step(None, Rule::SynInTimeWaitDropped);
        }

        // First check: sequence number (with PAWS, RFC 7323 §5.3, before it).
        let paws = self.paws_rejects(seg, cfg);
        if paws || !self.acceptable(seg, cfg) {
            if seg.has(Flags::RST) {
                return t.step(None, Rule::SeqUnacceptableRstDropped);
            }
            if self.state == State::TimeWait && !paws && self.is_retransmitted_fin(seg) {
                // The peer did not get our final ACK: acknowledge again and, as the intent of
                // the fifth and eighth checks says, restart the 2MSL timeout.
                if !b.time_wait_acks_fin {
                    return t.step(None, Rule::TimeWaitFinIgnored);
                }
                if b.time_wait_restart {
                    t.timer = cfg.time_wait.map(|len| now.plus(len));
                    let ack = t.ack_now(cfg, inc);
                    return t.step(Some(ack), Rule::TimeWaitFinReacked);
                }
            }
            let ack = t.ack_now(cfg, inc);
            let rule = if paws {
                Rule::PawsReject
            } else {
                Rule::SeqUnacceptableAck
            };
            return t.step(Some(ack), rule);
        }
        if let (true, Some(v)) = (b.timestamps, seg.tsval) {
            t.ts_recent = Some(
                t.ts_recent
                    .map_or(v, |r| if (v.wrapping_sub(r) as i32) > 0 { v } else { r }),
            );
        }

        // Second check: RST.
        if seg.has(Flags::RST) {
            if b.rst_check == RstCheck::Exact && seg.seq != self.rcv_nxt {
                let ack = t.ack_now(cfg, inc);
                return t.step(Some(ack), Rule::RstChallengeAck);
            }
            if self.state == State::TimeWait {
                return match b.time_wait_rst {
                    TimeWaitRst::Closes => t.delete().step(None, Rule::RstClosesTimeWait),
                    TimeWaitRst::Ignored => t.step(None, Rule::RstIgnoredInTimeWait),
                };
            }
            return t.delete().step(None, Rule::RstResets);
        }

        // Fourth check: SYN.
        if seg.has(Flags::SYN) {
            return match b.syn_check {
                SynCheck::ChallengeAck => {
                    let ack = t.ack_now(cfg, inc);
                    t.step(Some(ack), Rule::SynChallengeAck)
                }
                SynCheck::InWindowReset => {
                    let rst = t.segment(cfg, Flags::RST, t.snd_nxt, S::default(), 0, inc);
                    t.delete().step(Some(rst), Rule::SynInWindowReset)
                }
            };
        }

        // Fifth check: ACK.
        if !seg.has(Flags::ACK) {
            return t.step(None, Rule::AckBitOffDropped);
        }
        let mut rule = Rule::AckDuplicate;
        if self.state == State::SynReceived {
            if seg.ack.after(self.snd_una) && seg.ack.at_or_before(self.snd_nxt) {
                t.state = State::Established;
                rule = Rule::SynReceivedEstablished;
            } else {
                let rst = Self::reset_for(seg, inc);
                return t.step(Some(rst), Rule::SynReceivedBadAckReset);
            }
        }
        if seg.ack.after(t.snd_nxt) {
            let ack = t.ack_now(cfg, inc);
            return t.step(Some(ack), Rule::AckOfUnsentData);
        }
        if seg.ack.after(t.snd_una) {
            t.snd_una = seg.ack;
            t.retries = 0;
            t.timer = None;
            if t.snd_una != t.snd_nxt {
                t.arm_retransmit(now, cfg);
            }
            if rule == Rule::AckDuplicate {
                rule = Rule::AckAdvances;
            }
        }
        let our_fin_acked = t.snd_una == t.snd_nxt;
        match t.state {
            State::FinWait1 if our_fin_acked => {
                t.state = State::FinWait2;
                // Linux applies tcp_fin_timeout to orphaned sockets only (ip-sysctl.rst
                // 455-465): after close(), not after shutdown(), whose owner still reads.
                t.timer = if t.read_closed {
                    cfg.fin_wait_2.map(|len| now.plus(len))
                } else {
                    None
                };
                rule = Rule::FinWait1FinAcked;
            }
            State::Closing => {
                if !our_fin_acked {
                    // "Otherwise, ignore the segment" — after the ESTABLISHED processing,
                    // which may have advanced SND.UNA over data before our FIN.
                    return t.step(None, rule);
                }
                t.enter_time_wait(now, cfg);
                return t.step(None, Rule::ClosingFinAcked);
            }
            State::LastAck if our_fin_acked => {
                return t.delete().step(None, Rule::LastAckFinAcked);
            }
            State::TimeWait => {
                return t.step(None, Rule::TimeWaitSegmentIgnored);
            }
            _ => {}
        }

        // Seventh check: text.
        let mut out = None;
        if seg.len > 0 {
            match t.state {
                State::Established | State::FinWait1 | State::FinWait2 => {
                    if t.read_closed && t.state != State::Established {
                        // RFC 9293 §3.6.1 SHLD-3: data after close() would be lost; say so.
                        let rst = t.segment(cfg, Flags::RST, t.snd_nxt, S::default(), 0, inc);
                        return t.delete().step(Some(rst), Rule::DataAfterCloseReset);
                    }
                    // "If a segment's contents straddle the boundary between old and new,
                    // only the new parts are processed" (RFC 9293 §3.10.7.4, first check):
                    // an acceptable segment starting before RCV.NXT delivers what follows it.
                    let old = t.rcv_nxt.distance(seg.seq);
                    if old < 0 {
                        let ack = t.ack_now(cfg, inc);
                        return t.step(Some(ack), Rule::DataOutOfOrder);
                    }
                    t.rcv_nxt = seg.seq.plus(seg.len);
                    rule = Rule::DataDelivered;
                    out = Some(t.ack_now(cfg, inc));
                }
                _ => return t.step(None, Rule::DataAfterFinIgnored),
            }
        }

        // Eighth check: FIN.
        if seg.has(Flags::FIN) && !t.state.peer_fin_received() {
            if seg.seq.plus(seg.len) != t.rcv_nxt {
                // A FIN beyond RCV.NXT: data before it is missing.
                let ack = t.ack_now(cfg, inc);
                return t.step(Some(ack), Rule::DataOutOfOrder);
            }
            t.rcv_nxt = t.rcv_nxt.plus(1);
            rule = match t.state {
                State::Established => {
                    t.state = State::CloseWait;
                    Rule::FinEntersCloseWait
                }
                State::FinWait1 if t.snd_una == t.snd_nxt => {
                    t.enter_time_wait(now, cfg);
                    Rule::FinWait1EntersTimeWait
                }
                State::FinWait1 => {
                    t.state = State::Closing;
                    Rule::FinEntersClosing
                }
                // The fifth check already moved FIN-WAIT-1 to FIN-WAIT-2 if this very segment
                // acknowledged our FIN: then it is the FIN-WAIT-1 -> TIME-WAIT edge of note 2.
                State::FinWait2 if self.state == State::FinWait1 => {
                    t.enter_time_wait(now, cfg);
                    Rule::FinWait1EntersTimeWait
                }
                State::FinWait2 => {
                    t.enter_time_wait(now, cfg);
                    Rule::FinWait2EntersTimeWait
                }
                _ => rule,
            };
            out = Some(t.ack_now(cfg, inc));
        }
        t.step(out, rule)
    }
}
