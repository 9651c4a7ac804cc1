//! Random runs of one endpoint: application calls, arriving segments with random flags and
//! sequence numbers near the TCB's own, and timer expiries after random time advances,
//! applied to [`Tcb::established`] at both scales (the checker's `u8`/`u16`, replay's
//! `u32`/`u64`) under several built-in stacks. No step panics, and after every step:
//!
//! - SND.UNA =< SND.NXT in sequence space;
//! - the state change is an edge of the RFC 9293 state diagram (`EDGES` below), and the rule
//!   reported is one that labels that edge;
//! - the rule belongs to the kind of event (application call, segment, timer);
//! - timers agree with the state, the client never LISTENs and the server never ends up
//!   CLOSED, and SND.UNA / SND.NXT / RCV.NXT never move backwards within a connection;
//! - every segment sent without RST has SND.UNA =< SEG.SEQ =< SND.NXT and, with ACK,
//!   acknowledges exactly RCV.NXT.

use std::collections::BTreeSet;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use teardown_model::builtins::builtin;
use teardown_model::endpoint::{AppCall, Config, Role, State, Step, Tcb, Time, TimerKind};
use teardown_model::rules::Rule;
use teardown_model::segment::{Flags, Ghost, Segment};
use teardown_model::seq::SeqNum;
use teardown_model::stack::StackDescription;
use teardown_model::system::{ISN_GAP, TickTimers, WINDOW};

/// The stacks the runs use: the RFC read literally and with RFC 1337, real stacks, and
/// variants that change which edges exist (no TIME-WAIT, no FIN retransmission, TIME-WAIT
/// reuse, abort); plus, as the last, `rfc9293+rfc1337` with a TIME-WAIT that does not
/// acknowledge a retransmitted FIN (U5), which no built-in has.
const STACKS: [&str; 10] = [
    "rfc9293",
    "rfc9293+rfc1337",
    "linux",
    "freebsd",
    "smoltcp",
    "no-time-wait",
    "no-fin-retransmit",
    "tw-reuse-with-timestamps",
    "abort-then-reopen",
    "rfc9293+rfc1337",
];

/// The stack description and the built-in's tick length.
fn stack(i: usize) -> (StackDescription, u64) {
    let b = builtin(STACKS[i]).expect("built-in");
    let mut s = b.stack;
    if i == STACKS.len() - 1 {
        s.behaviour.time_wait_acks_fin = false;
    }
    (s, b.bounds.tick_ms)
}

/// Nanoseconds per millisecond.
const MS: u64 = 1_000_000;

// ------------------------------------------------------------------------- configurations

/// The checker's scale: timers in ticks of the built-in's default tick, its window and gap.
fn small_config(i: usize) -> Config<u16> {
    let (s, tick_ms) = stack(i);
    let t = TickTimers::convert(&s, tick_ms).expect("ticks");
    Config {
        behaviour: s.behaviour,
        events: s.events,
        time_wait: t.time_wait,
        rto: t.rto,
        max_retries: s.timers.max_retries,
        fin_wait_2: t.fin_wait_2,
        window: WINDOW,
        isn_gap: ISN_GAP,
    }
}

/// Replay's scale: timers in nanoseconds, a 64 KiB window, Linux's ISN gap.
fn full_config(i: usize) -> Config<u64> {
    let (s, _) = stack(i);
    Config {
        behaviour: s.behaviour,
        events: s.events,
        time_wait: s.timers.time_wait_ms.map(|ms| ms * MS),
        rto: s.timers.rto_ms * MS,
        max_retries: s.timers.max_retries,
        fin_wait_2: s.timers.fin_wait_2_ms.map(|ms| ms * MS),
        window: 65_535,
        isn_gap: 65_537,
    }
}

// ------------------------------------------------------------------------- the state diagram

use State::{
    CloseWait, Closed, Closing, Established, FinWait1, FinWait2, LastAck, Listen, SynReceived,
    SynSent, TimeWait,
};

/// Where an edge leads.
#[derive(Clone, Copy, Debug)]
enum To {
    /// The state does not change.
    Same,
    /// This state.
    S(State),
    /// The connection TCB is deleted: CLOSED, or LISTEN for the server (RFC 9293 §3.3.2
    /// note 3: "a transition to LISTEN or CLOSED").
    Gone,
}

/// Allowed steps: from any of these states, to there, labelled by one of these rules.
struct Edge {
    from: &'static [State],
    to: To,
    rules: &'static [Rule],
}

const SYNCHRONIZED: &[State] = &[
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
];

const fn edge(from: &'static [State], to: To, rules: &'static [Rule]) -> Edge {
    Edge { from, to, rules }
}

/// The RFC 9293 state diagram, edge by edge, with the rules that may label each.
const EDGES: &[Edge] = &[
    // ---- Figure 5.
    edge(&[Closed], To::S(SynSent), &[Rule::AppConnect]), // active OPEN / snd SYN
    edge(&[Listen], To::S(SynReceived), &[Rule::ListenSynAccepted]), // rcv SYN / snd SYN,ACK
    edge(&[SynSent], To::S(Established), &[Rule::SynSentEstablished]), // rcv SYN,ACK / snd ACK
    edge(&[SynSent], To::Gone, &[Rule::AppCloseSynSent]), // CLOSE / delete TCB
    // rcv ACK of SYN (the segment that carries it may carry data too, in order or not)
    edge(
        &[SynReceived],
        To::S(Established),
        &[
            Rule::SynReceivedEstablished,
            Rule::DataDelivered,
            Rule::DataOutOfOrder,
        ],
    ),
    edge(&[SynReceived], To::S(FinWait1), &[Rule::AppCloseFinWait1]), // CLOSE / snd FIN
    edge(&[Established], To::S(FinWait1), &[Rule::AppCloseFinWait1]), // CLOSE / snd FIN
    edge(
        &[Established],
        To::S(CloseWait),
        &[Rule::FinEntersCloseWait],
    ), // rcv FIN / snd ACK
    // rcv ACK of FIN (with data in the same segment, in order or not)
    edge(
        &[FinWait1],
        To::S(FinWait2),
        &[
            Rule::FinWait1FinAcked,
            Rule::DataDelivered,
            Rule::DataOutOfOrder,
        ],
    ),
    edge(&[FinWait1], To::S(Closing), &[Rule::FinEntersClosing]), // rcv FIN / snd ACK
    edge(
        &[FinWait2],
        To::S(TimeWait),
        &[Rule::FinWait2EntersTimeWait],
    ), // rcv FIN / snd ACK
    edge(&[Closing], To::S(TimeWait), &[Rule::ClosingFinAcked]),  // rcv ACK of FIN
    edge(&[CloseWait], To::S(LastAck), &[Rule::AppCloseLastAck]), // CLOSE / snd FIN
    edge(&[LastAck], To::Gone, &[Rule::LastAckFinAcked]),         // rcv ACK of FIN
    edge(&[TimeWait], To::Gone, &[Rule::TimeWaitExpired]),        // timeout = 2MSL
    // ---- §3.10.7.4 eighth check: SYN-RECEIVED receiving FIN enters CLOSE-WAIT.
    edge(
        &[SynReceived],
        To::S(CloseWait),
        &[Rule::FinEntersCloseWait],
    ),
    // ---- §3.3.2 note 2: FIN-WAIT-1 --rcv FIN, ACK of our FIN--> TIME-WAIT.
    edge(
        &[FinWait1],
        To::S(TimeWait),
        &[Rule::FinWait1EntersTimeWait],
    ),
    // ---- note 3: receipt of an RST leads to CLOSED or LISTEN.
    edge(
        &[
            SynReceived,
            Established,
            FinWait1,
            FinWait2,
            CloseWait,
            Closing,
            LastAck,
        ],
        To::Gone,
        &[Rule::RstResets],
    ),
    edge(&[TimeWait], To::Gone, &[Rule::RstClosesTimeWait]),
    edge(&[SynSent], To::Gone, &[Rule::SynSentReset]),
    // ---- note 3: sending an RST (ABORT §3.10.5, RFC 793 SYN in window, SHLD-3); ABORT
    // without RST where the peer has already closed.
    edge(
        &[SynReceived, Established, FinWait1, FinWait2, CloseWait],
        To::Gone,
        &[Rule::AppAbortReset],
    ),
    edge(
        &[Closing, LastAck, TimeWait],
        To::Gone,
        &[Rule::AppAbortQuiet],
    ),
    edge(
        &[Established, CloseWait],
        To::Gone,
        &[Rule::AppCloseUnreadReset],
    ),
    edge(
        &[FinWait1, FinWait2],
        To::Gone,
        &[Rule::DataAfterCloseReset],
    ),
    edge(SYNCHRONIZED, To::Gone, &[Rule::SynInWindowReset]),
    // ---- timeouts (§3.10.8): user timeout; Linux's FIN-WAIT-2 timeout.
    edge(
        &[
            SynSent,
            SynReceived,
            Established,
            FinWait1,
            CloseWait,
            Closing,
            LastAck,
        ],
        To::Gone,
        &[Rule::RtoGiveUp],
    ),
    edge(&[FinWait2], To::Gone, &[Rule::FinWait2Timeout]),
    // ---- TIME-WAIT reopened by a SYN (§3.6.1 MAY-2), reused by connect (tcp_tw_reuse).
    edge(&[TimeWait], To::S(SynReceived), &[Rule::SynReopensTimeWait]),
    edge(
        &[TimeWait],
        To::S(SynSent),
        &[Rule::AppConnectReuseTimeWait],
    ),
    // ---- no state change.
    edge(
        &[Closed],
        To::Same,
        &[Rule::ClosedReset, Rule::ClosedRstDropped],
    ),
    edge(
        &[Listen],
        To::Same,
        &[Rule::ListenAckReset, Rule::ListenDropped],
    ),
    edge(
        &[SynSent],
        To::Same,
        &[
            Rule::SynSentBadAckReset,
            Rule::SynSentDropped,
            Rule::RtoRetransmit,
        ],
    ),
    edge(
        &[SynReceived],
        To::Same,
        &[Rule::SynReceivedBadAckReset, Rule::RtoRetransmit],
    ),
    edge(
        SYNCHRONIZED,
        To::Same,
        &[
            Rule::SeqUnacceptableAck,
            Rule::SeqUnacceptableRstDropped,
            Rule::PawsReject,
            Rule::RstChallengeAck,
            Rule::SynChallengeAck,
            Rule::AckBitOffDropped,
            Rule::AckOfUnsentData,
        ],
    ),
    edge(
        &[Established, FinWait1, FinWait2, CloseWait, Closing, LastAck],
        To::Same,
        &[Rule::AckDuplicate, Rule::AckAdvances, Rule::AckWindowUpdate],
    ),
    edge(
        &[
            Established,
            FinWait1,
            FinWait2,
            CloseWait,
            Closing,
            LastAck,
            TimeWait,
        ],
        To::Same,
        &[Rule::AckPartial],
    ),
    edge(&[Established, CloseWait], To::Same, &[Rule::KeepAlive]),
    edge(
        &[Established, FinWait1, FinWait2],
        To::Same,
        &[Rule::DataDelivered, Rule::DataOutOfOrder],
    ),
    edge(
        &[CloseWait, LastAck],
        To::Same,
        &[Rule::DataAfterFinIgnored],
    ),
    edge(
        &[TimeWait],
        To::Same,
        &[
            Rule::TimeWaitFinReacked,
            Rule::TimeWaitFinIgnored,
            Rule::RstIgnoredInTimeWait,
            Rule::SynInTimeWaitDropped,
            Rule::TimeWaitSegmentIgnored,
        ],
    ),
    edge(&[Established, CloseWait], To::Same, &[Rule::AppSend]),
    edge(
        &[Established, FinWait1, CloseWait, Closing, LastAck],
        To::Same,
        &[Rule::RtoRetransmit],
    ),
    edge(
        &[FinWait1, Closing, LastAck],
        To::Same,
        &[Rule::RtoFinNotRetransmitted],
    ),
];

/// A stack without TIME-WAIT (U2) deletes the TCB where the diagram enters TIME-WAIT.
const EDGES_WITHOUT_TIME_WAIT: &[Edge] = &[
    edge(&[FinWait1], To::Gone, &[Rule::FinWait1EntersTimeWait]),
    edge(&[FinWait2], To::Gone, &[Rule::FinWait2EntersTimeWait]),
    edge(&[Closing], To::Gone, &[Rule::ClosingFinAcked]),
];

fn gone(role: Role) -> State {
    match role {
        Role::Client => Closed,
        Role::Server => Listen,
    }
}

fn edge_allowed(from: State, to: State, role: Role, rule: Rule, time_wait: bool) -> bool {
    let extra: &[Edge] = if time_wait {
        &[]
    } else {
        EDGES_WITHOUT_TIME_WAIT
    };
    EDGES.iter().chain(extra).any(|e| {
        e.from.contains(&from)
            && e.rules.contains(&rule)
            && match e.to {
                To::Same => to == from,
                To::S(s) => to == s,
                To::Gone => to == gone(role),
            }
    })
}

const APP_RULES: &[Rule] = &[
    Rule::AppConnect,
    Rule::AppConnectReuseTimeWait,
    Rule::AppSend,
    Rule::AppCloseFinWait1,
    Rule::AppCloseLastAck,
    Rule::AppCloseSynSent,
    Rule::AppCloseUnreadReset,
    Rule::AppAbortReset,
    Rule::AppAbortQuiet,
];

/// Segments an endpoint sends without an event: they change nothing.
const UNPROMPTED_RULES: &[Rule] = &[Rule::AckWindowUpdate, Rule::AckPartial, Rule::KeepAlive];

const TIMER_RULES: &[Rule] = &[
    Rule::RtoRetransmit,
    Rule::RtoFinNotRetransmitted,
    Rule::RtoGiveUp,
    Rule::TimeWaitExpired,
    Rule::FinWait2Timeout,
];

/// Every rule labels at least one edge, so the table leaves none out.
#[test]
fn every_rule_labels_an_edge() {
    for r in Rule::ALL {
        assert!(
            EDGES
                .iter()
                .chain(EDGES_WITHOUT_TIME_WAIT)
                .any(|e| e.rules.contains(r)),
            "{r:?} labels no edge of the table"
        );
    }
}

// ------------------------------------------------------------------------- events

/// An offset from one of the TCB's sequence numbers.
#[derive(Clone, Copy, Debug)]
enum Off {
    /// A few numbers either side.
    Near(i32),
    /// Around the left (`false`) or right (`true`) edge of the window: ∓RCV.WND + d.
    Edge(bool, i32),
    /// Anywhere in the space.
    Raw(u32),
}

#[derive(Clone, Copy, Debug)]
enum AckBase {
    SndNxt,
    SndUna,
    Iss,
}

#[derive(Clone, Copy, Debug)]
enum Ts {
    /// TS.Recent plus this.
    Recent(i8),
    Raw(u32),
}

#[derive(Clone, Copy, Debug)]
enum Call {
    /// Connect with the `pick`th ISN candidate.
    Connect(usize),
    /// Connect with an arbitrary ISN.
    ConnectRaw(u32),
    Send(u32),
    Close,
    Shutdown,
    CloseUnread,
    Abort,
}

#[derive(Clone, Copy, Debug)]
enum Ev {
    App(Call),
    /// A well-behaved peer's next segment: `<SEQ=RCV.NXT><ACK=SND.NXT or SND.UNA><CTL=ACK>`,
    /// with data and/or FIN; or, with `again` once its FIN has arrived, a retransmission of
    /// its FIN with the last `len` octets.
    Peer {
        ack_all: bool,
        fin: bool,
        len: u32,
        again: bool,
    },
    Arrive {
        syn: bool,
        ack_bit: bool,
        fin: bool,
        rst: bool,
        seq: Off,
        ack_base: AckBase,
        ack: Off,
        len: u32,
        ts: Option<Ts>,
        incarnation: u8,
        pick: usize,
    },
    /// The endpoint sends something on no event: a window update, an ACK of part of what
    /// arrived (`back` octets short of RCV.NXT), or a keep-alive.
    Unprompted {
        what: u8,
        back: u32,
    },
    /// Time passes by `units` (ticks, or ticks of the stack's tick length plus `jitter` ns)
    /// or, with `to_deadline`, up to the running timer; a due timer fires.
    Tick {
        to_deadline: bool,
        units: u32,
        jitter: u32,
    },
}

fn off() -> impl Strategy<Value = Off> {
    prop_oneof![
        4 => Just(Off::Near(0)),
        4 => (-4i32..=4).prop_map(Off::Near),
        2 => (any::<bool>(), -2i32..=2).prop_map(|(r, d)| Off::Edge(r, d)),
        1 => any::<u32>().prop_map(Off::Raw),
    ]
}

fn event(max_len: u32) -> impl Strategy<Value = Ev> {
    let call = prop_oneof![
        2 => (0usize..2).prop_map(Call::Connect),
        1 => any::<u32>().prop_map(Call::ConnectRaw),
        3 => (1..=max_len).prop_map(Call::Send),
        2 => Just(Call::Close),
        2 => Just(Call::Shutdown),
        1 => Just(Call::CloseUnread),
        1 => Just(Call::Abort),
    ];
    let ack_base = prop_oneof![
        4 => Just(AckBase::SndNxt),
        3 => Just(AckBase::SndUna),
        1 => Just(AckBase::Iss),
    ];
    let ts = prop_oneof![
        2 => Just(None),
        3 => (-2i8..=2).prop_map(|d| Some(Ts::Recent(d))),
        1 => any::<u32>().prop_map(|v| Some(Ts::Raw(v))),
    ];
    let arrive = (
        (
            proptest::bool::weighted(0.15),
            proptest::bool::weighted(0.85),
            proptest::bool::weighted(0.3),
            proptest::bool::weighted(0.15),
        ),
        off(),
        ack_base,
        off(),
        prop_oneof![3 => Just(0u32), 2 => 1..=max_len],
        ts,
        0u8..=3,
        0usize..2,
    )
        .prop_map(
            |((syn, ack_bit, fin, rst), seq, ack_base, ack, len, ts, incarnation, pick)| {
                Ev::Arrive {
                    syn,
                    ack_bit,
                    fin,
                    rst,
                    seq,
                    ack_base,
                    ack,
                    len,
                    ts,
                    incarnation,
                    pick,
                }
            },
        );
    let tick = (proptest::bool::weighted(0.4), 0u32..=40, any::<u32>()).prop_map(
        |(to_deadline, units, jitter)| Ev::Tick {
            to_deadline,
            units,
            jitter,
        },
    );
    let peer = (
        proptest::bool::weighted(0.7),
        any::<bool>(),
        prop_oneof![2 => Just(0u32), 1 => 1..=max_len],
        proptest::bool::weighted(0.3),
    )
        .prop_map(|(ack_all, fin, len, again)| Ev::Peer {
            ack_all,
            fin,
            len,
            again,
        });
    let unprompted = (0u8..3, 0u32..4).prop_map(|(what, back)| Ev::Unprompted { what, back });
    prop_oneof![3 => call.prop_map(Ev::App), 3 => peer, 5 => arrive, 2 => tick, 1 => unprompted]
}

fn at<S: SeqNum>(base: S, off: Off, window: u32) -> S {
    match off {
        Off::Near(d) => base.plus(d as u32),
        Off::Edge(false, d) => base.plus(d.wrapping_sub(window as i32) as u32),
        Off::Edge(true, d) => base.plus(window).plus(d as u32),
        Off::Raw(r) => S::from_raw(r),
    }
}

// ------------------------------------------------------------------------- one run

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Unprompted,
    App,
    Segment,
    Timer,
}

/// Applies `events` to an established TCB, checking every step; adds the rules applied to
/// `seen`.
#[allow(clippy::too_many_arguments)]
fn run<S: SeqNum, T: Time>(
    cfg: &Config<T>,
    role: Role,
    iss: S,
    irs: S,
    t0: T,
    duration: impl Fn(u32, u32) -> T,
    events: &[Ev],
    seen: &mut BTreeSet<Rule>,
) -> Result<(), TestCaseError> {
    let mut tcb = Tcb::established(role, iss, irs, cfg);
    let mut now = t0;
    for (i, ev) in events.iter().enumerate() {
        if let Ev::Tick {
            to_deadline,
            units,
            jitter,
        } = *ev
        {
            now = match (to_deadline, tcb.timer) {
                (true, Some(d)) => now.max(d),
                _ => now.plus(duration(units, jitter)),
            };
        }
        let eval = |tcb: &Tcb<S, T>| -> Result<(Kind, Option<Step<S, T>>), TestCaseError> {
            Ok(match *ev {
                Ev::App(call) => {
                    let call = match call {
                        Call::Connect(pick) => {
                            let (c, n) = tcb.isn_candidates(cfg);
                            AppCall::Connect { iss: c[pick % n] }
                        }
                        Call::ConnectRaw(r) => AppCall::Connect {
                            iss: S::from_raw(r),
                        },
                        Call::Send(len) => AppCall::Send { len },
                        Call::Close => AppCall::Close,
                        Call::Shutdown => AppCall::Shutdown,
                        Call::CloseUnread => AppCall::CloseUnread,
                        Call::Abort => AppCall::Abort,
                    };
                    let step = tcb.on_app(call, now, cfg);
                    if let (Some(s), AppCall::Send { len }) = (&step, call) {
                        prop_assert_eq!(s.out.map(|o| o.len), Some(len));
                    }
                    (Kind::App, step)
                }
                Ev::Peer {
                    ack_all,
                    fin,
                    len,
                    again,
                } => {
                    let again = again && tcb.state.peer_fin_received();
                    let mut flags = Flags::ACK;
                    if fin || again {
                        flags = flags | Flags::FIN;
                    }
                    let seg = Segment {
                        flags,
                        seq: if again {
                            tcb.rcv_nxt.plus((len + 1).wrapping_neg())
                        } else {
                            tcb.rcv_nxt
                        },
                        ack: if ack_all { tcb.snd_nxt } else { tcb.snd_una },
                        len,
                        tsval: tcb.ts_recent.map(|r| r.wrapping_add(1)),
                        ghost: Ghost {
                            incarnation: tcb.incarnation,
                            answers_fin: false,
                        },
                    };
                    let (c, _) = tcb.isn_candidates(cfg);
                    (Kind::Segment, Some(tcb.on_segment(&seg, now, cfg, c[0])))
                }
                Ev::Arrive {
                    syn,
                    ack_bit,
                    fin,
                    rst,
                    seq,
                    ack_base,
                    ack,
                    len,
                    ts,
                    incarnation,
                    pick,
                } => {
                    let mut flags = Flags::empty();
                    for (on, f) in [
                        (syn, Flags::SYN),
                        (ack_bit, Flags::ACK),
                        (fin, Flags::FIN),
                        (rst, Flags::RST),
                    ] {
                        if on {
                            flags = flags | f;
                        }
                    }
                    let base = match ack_base {
                        AckBase::SndNxt => tcb.snd_nxt,
                        AckBase::SndUna => tcb.snd_una,
                        AckBase::Iss => tcb.iss,
                    };
                    let seg = Segment {
                        flags,
                        seq: at(tcb.rcv_nxt, seq, cfg.window),
                        ack: at(base, ack, cfg.window),
                        len,
                        tsval: ts.map(|ts| match ts {
                            Ts::Recent(d) => tcb.ts_recent.unwrap_or(0).wrapping_add(d as u32),
                            Ts::Raw(v) => v,
                        }),
                        ghost: Ghost {
                            incarnation,
                            answers_fin: false,
                        },
                    };
                    let (c, n) = tcb.isn_candidates(cfg);
                    (
                        Kind::Segment,
                        Some(tcb.on_segment(&seg, now, cfg, c[pick % n])),
                    )
                }
                Ev::Unprompted { what, back } => {
                    let step = match what {
                        0 => tcb.on_window_update(cfg),
                        1 => tcb.on_partial_ack(
                            tcb.rcv_nxt.plus(back.wrapping_neg()),
                            tcb.rcv_nxt.plus((back + 2).wrapping_neg()),
                            cfg,
                        ),
                        _ => tcb.on_keep_alive(back % 2 == 1, cfg),
                    };
                    if let Some(s) = &step {
                        prop_assert_eq!(s.tcb, *tcb, "an unprompted segment changes nothing");
                        prop_assert!(s.out.is_some_and(|o| o.flags == Flags::ACK));
                    }
                    (Kind::Unprompted, step)
                }
                Ev::Tick { .. } => {
                    let step = tcb.on_timer(now, cfg);
                    prop_assert_eq!(
                        step.is_some(),
                        tcb.timer_due(now),
                        "a timer fires exactly when due"
                    );
                    (Kind::Timer, step)
                }
            })
        };
        let (kind, step) = eval(&tcb)?;
        // Replay merges hypotheses by `Tcb::canonical`: the representative must take the
        // same step, and stay the representative of where the original goes.
        let (_, twin) = eval(&tcb.canonical())?;
        prop_assert_eq!(
            twin.map(|s| (s.rule, s.out, s.tcb.canonical())),
            step.map(|s| (s.rule, s.out, s.tcb.canonical())),
            "event {}: the canonical TCB {:?} behaves like {:?}",
            i,
            tcb.canonical(),
            tcb
        );
        if let Some(step) = step {
            check_step(&tcb, &step, kind, cfg)
                .map_err(|e| TestCaseError::fail(format!("event {i} {ev:?}: {e}")))?;
            seen.insert(step.rule);
            tcb = step.tcb;
        }
    }
    Ok(())
}

/// Everything that must hold of one step from `pre`.
fn check_step<S: SeqNum, T: Time>(
    pre: &Tcb<S, T>,
    step: &Step<S, T>,
    kind: Kind,
    cfg: &Config<T>,
) -> Result<(), String> {
    let post = &step.tcb;
    let rule = step.rule;
    let what = || {
        format!(
            "{:?} -> {:?} by {} ({:?} -> {:?}, sent {:?})",
            pre.state,
            post.state,
            rule.id(),
            pre,
            post,
            step.out
        )
    };
    let fail = |why: &str| Err(format!("{why}: {}", what()));

    if !post.snd_una.at_or_before(post.snd_nxt) {
        return fail("SND.UNA after SND.NXT");
    }
    if !edge_allowed(
        pre.state,
        post.state,
        post.role,
        rule,
        cfg.time_wait.is_some(),
    ) {
        return fail("not an edge of the state diagram, or not labelled by this rule");
    }
    let rule_kind = if APP_RULES.contains(&rule) {
        Kind::App
    } else if UNPROMPTED_RULES.contains(&rule) {
        Kind::Unprompted
    } else if TIMER_RULES.contains(&rule) {
        Kind::Timer
    } else {
        Kind::Segment
    };
    if rule_kind != kind {
        return fail(&format!(
            "a {rule_kind:?} rule reported for a {kind:?} event"
        ));
    }
    if post.role != pre.role {
        return fail("the role changed");
    }
    if post.state == State::Listen && post.role == Role::Client {
        return fail("a client in LISTEN");
    }
    if post.state == State::Closed && post.role == Role::Server {
        return fail("a server in CLOSED");
    }

    // Timers agree with the state.
    match post.state {
        Closed | Listen if post.timer.is_some() => return fail("a timer without a TCB"),
        TimeWait if post.timer_kind() != Some(TimerKind::TimeWait) => {
            return fail("TIME-WAIT without its timer");
        }
        SynSent | SynReceived | Established | FinWait1 | CloseWait | Closing | LastAck
            if post.timer.is_some() != (post.snd_una != post.snd_nxt) =>
        {
            return fail("the retransmission timer runs iff something is unacknowledged");
        }
        _ => {}
    }
    if let Some(deadline) = pre.timer
        && kind == Kind::Timer
        && post.timer.is_some_and(|d| d <= deadline)
    {
        return fail("a fired timer was not moved on");
    }

    // Sequence numbers move forward within one connection.
    let same_connection = pre.state.is_synchronized()
        && post.state.is_synchronized()
        && rule != Rule::SynReopensTimeWait;
    if same_connection
        && !(pre.snd_una.at_or_before(post.snd_una)
            && pre.snd_nxt.at_or_before(post.snd_nxt)
            && pre.rcv_nxt.at_or_before(post.rcv_nxt))
    {
        return fail("a sequence variable moved backwards");
    }
    match rule {
        Rule::AckDuplicate if post.snd_una != pre.snd_una => {
            return fail("a duplicate ACK advanced SND.UNA");
        }
        Rule::AckAdvances if !post.snd_una.after(pre.snd_una) => {
            return fail("ack-advances without SND.UNA advancing");
        }
        _ => {}
    }

    // What is sent.
    if let Some(out) = step.out
        && !out.has(Flags::RST)
    {
        // A keep-alive is the one segment below SND.UNA: SND.NXT-1, so the peer answers it.
        let keep_alive = rule == Rule::KeepAlive
            && out.seq.plus(1) == post.snd_nxt
            && post.snd_una == post.snd_nxt;
        let in_range = post.snd_una.at_or_before(out.seq) && out.seq.at_or_before(post.snd_nxt);
        if !in_range && !keep_alive {
            return fail("a segment sent outside SND.UNA..=SND.NXT");
        }
        // A partial ACK acknowledges less than RCV.NXT, never more.
        let partial = rule == Rule::AckPartial && out.ack.before(post.rcv_nxt);
        if out.has(Flags::ACK) && out.ack != post.rcv_nxt && !partial {
            return fail("an ACK that does not acknowledge RCV.NXT");
        }
        if out.tsval.is_some() != cfg.behaviour.timestamps {
            return fail("TSval present iff timestamps are on");
        }
    }
    Ok(())
}

// ------------------------------------------------------------------------- the properties

fn role(server: bool) -> Role {
    if server { Role::Server } else { Role::Client }
}

/// One run at the checker's scale: 256 sequence numbers (wrap-around within reach), ticks.
fn small_run(
    (stack, server, iss, irs, events): &(usize, bool, u8, u8, Vec<Ev>),
    seen: &mut BTreeSet<Rule>,
) -> Result<(), TestCaseError> {
    let cfg = small_config(*stack);
    let duration = |units: u32, _| units as u16;
    run(
        &cfg,
        role(*server),
        *iss,
        *irs,
        0u16,
        duration,
        events,
        seen,
    )
}

/// One run at replay's scale: 32-bit sequence numbers, nanoseconds.
fn full_run(
    (stack, server, iss, irs, events): &(usize, bool, u32, u32, Vec<Ev>),
    seen: &mut BTreeSet<Rule>,
) -> Result<(), TestCaseError> {
    let cfg = full_config(*stack);
    let tick_ns = stack_tick_ns(*stack);
    let t0 = 1_700_000_000 * 1_000 * MS; // a wall-clock time in ns
    let duration = |units: u32, jitter: u32| u64::from(units) * tick_ns + u64::from(jitter);
    run(&cfg, role(*server), *iss, *irs, t0, duration, events, seen)
}

fn stack_tick_ns(i: usize) -> u64 {
    stack(i).1 * MS
}

/// Runs of up to 40 events (at most 40 x 3 octets sent: SND.NXT - SND.UNA stays below half
/// the small space, where "before" is still meaningful).
fn small_runs() -> impl Strategy<Value = (usize, bool, u8, u8, Vec<Ev>)> {
    (
        0..STACKS.len(),
        any::<bool>(),
        any::<u8>(),
        any::<u8>(),
        vec(event(3), 1..40),
    )
}

fn full_runs() -> impl Strategy<Value = (usize, bool, u32, u32, Vec<Ev>)> {
    (
        0..STACKS.len(),
        any::<bool>(),
        any::<u32>(),
        any::<u32>(),
        vec(event(1460), 1..40),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn small_scale_runs_follow_the_state_diagram(r in small_runs()) {
        small_run(&r, &mut BTreeSet::new())?;
    }

    #[test]
    fn full_scale_runs_follow_the_state_diagram(r in full_runs()) {
        full_run(&r, &mut BTreeSet::new())?;
    }
}

/// The runs are not vacuous: a fixed sample of them applies every rule, at both scales (so
/// every rule's steps are checked against the table above).
#[test]
fn runs_apply_every_rule() {
    fn sample<V: std::fmt::Debug>(
        strategy: impl Strategy<Value = V>,
        run: impl Fn(&V, &mut BTreeSet<Rule>) -> Result<(), TestCaseError>,
    ) -> BTreeSet<Rule> {
        let mut runner = TestRunner::deterministic();
        let mut seen = BTreeSet::new();
        for _ in 0..8_000 {
            let v = strategy.new_tree(&mut runner).expect("a value").current();
            if let Err(e) = run(&v, &mut seen) {
                panic!("{e} in {v:?}");
            }
        }
        seen
    }
    for (scale, seen) in [
        ("small", sample(small_runs(), small_run)),
        ("full", sample(full_runs(), full_run)),
    ] {
        let missing: Vec<&str> = Rule::ALL
            .iter()
            .filter(|r| !seen.contains(r))
            .map(|r| r.id())
            .collect();
        assert!(
            missing.is_empty(),
            "{scale} scale: never applied: {missing:?}"
        );
    }
}
