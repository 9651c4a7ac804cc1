//! The built-in stack descriptions, their default checking bounds and their expected
//! verdicts.
//!
//! Expected verdicts are written from the literature and from reasoning *before* running
//! the checker, and are never flipped to match its output; `model/VERDICTS.md` gives the
//! reasoning for every cell and records where the checker disagreed and why.

use serde::Serialize;

use crate::stack::{
    AppEvents, Behaviour, IsnPolicy, RstCheck, StackDescription, SynCheck, SynInTimeWait,
    TimeWaitRst, Timers,
};
use crate::system::{
    Bounds, P_BOTH_CLOSED, P_DATA, P_FINAL_ACK, P_NO_ACK_LOOP, P_OLD_ACCEPTED, P_OLD_DELIVERED,
};
use crate::system::{
    W_ASSASSINATED, W_FW1_TW, W_HALF_CLOSE, W_LOST_FINAL_ACK, W_NEW_INCARNATION, W_OLD_DUP_WINDOW,
    W_PAWS, W_SIMULTANEOUS, W_TW_RESTART,
};

/// An expected verdict for a safety or liveness property.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
pub enum Expect {
    /// The property holds within the bounds.
    Holds,
    /// The checker finds a counterexample.
    Violated,
}

/// A built-in: description, default bounds, expected verdicts.
#[derive(Clone, Debug, Serialize)]
pub struct Builtin {
    /// The description.
    pub stack: StackDescription,
    /// Default checking bounds.
    pub bounds: Bounds,
    /// Expected verdict per property (name, verdict), in [`crate::system::PROPERTIES`] order.
    pub expect: Vec<(&'static str, Expect)>,
    /// Witnesses this stack must find.
    pub witnesses: Vec<&'static str>,
}

const SEC: u64 = 1000;

/// RFC 9293 read literally: TIME-WAIT 2×MSL with MSL = 2 min, RFC 793 RST and SYN checks,
/// a retransmitted FIN in TIME-WAIT ACKed by the window check (§3.10.7.4 first check) and so
/// *not* restarting the timer, RST accepted in TIME-WAIT (§3.10.7.4 second check), SYN in
/// TIME-WAIT not reopening (MAY-2 not taken), no timestamps, clock-driven ISN (§3.4.1).
fn rfc9293() -> StackDescription {
    StackDescription {
        name: "rfc9293".into(),
        summary: "RFC 9293 literally: 2xMSL TIME-WAIT (MSL 2 min), no restart on a retransmitted FIN (first check), RST closes TIME-WAIT, RFC 793 RST/SYN checks".into(),
        timers: Timers {
            msl_ms: 120 * SEC,
            time_wait_ms: Some(240 * SEC),
            rto_ms: SEC,
            max_retries: 3,
            fin_wait_2_ms: None,
        },
        behaviour: Behaviour {
            fin_retransmit: true,
            time_wait_restart: false,
            time_wait_acks_fin: true,
            rst_check: RstCheck::InWindow,
            time_wait_rst: TimeWaitRst::Closes,
            syn_check: SynCheck::InWindowReset,
            syn_in_time_wait: SynInTimeWait::AsSynchronized,
            timestamps: false,
            time_wait_reuse: false,
            isn: IsnPolicy::AboveOld,
        },
        events: AppEvents {
            abort: false,
            close_unread: false,
        },
    }
}

fn variant(
    base: StackDescription,
    name: &str,
    summary: &str,
    f: impl FnOnce(&mut StackDescription),
) -> StackDescription {
    let mut s = base;
    s.name = name.into();
    s.summary = summary.into();
    f(&mut s);
    s
}

/// The safe reference: RFC 9293 with the intent of the fifth/eighth checks (restart 2MSL on
/// a retransmitted FIN) and RFC 1337 fix F1 (ignore RST in TIME-WAIT).
fn rfc9293_rfc1337() -> StackDescription {
    variant(
        rfc9293(),
        "rfc9293+rfc1337",
        "RFC 9293 with TIME-WAIT restarted by a retransmitted FIN (§3.10.7.4 fifth/eighth checks) and RST ignored in TIME-WAIT (RFC 1337 F1)",
        |s| {
            s.behaviour.time_wait_restart = true;
            s.behaviour.time_wait_rst = TimeWaitRst::Ignored;
        },
    )
}

fn linux() -> StackDescription {
    StackDescription {
        name: "linux".into(),
        summary: "Linux 6.12 defaults: TIME-WAIT 60 s (TCP_TIMEWAIT_LEN), tcp_rfc1337=0, RFC 5961, SYN reopens TIME-WAIT (tcp_minisocks.c:234-243), timestamps, tcp_tw_reuse=2 (loopback only: off here), tcp_fin_timeout 60 s".into(),
        timers: Timers {
            msl_ms: 30 * SEC,
            time_wait_ms: Some(60 * SEC),
            rto_ms: SEC,
            max_retries: 3,
            fin_wait_2_ms: Some(60 * SEC),
        },
        behaviour: Behaviour {
            fin_retransmit: true,
            time_wait_restart: true,
            time_wait_acks_fin: true,
            rst_check: RstCheck::Exact,
            time_wait_rst: TimeWaitRst::Closes,
            syn_check: SynCheck::ChallengeAck,
            syn_in_time_wait: SynInTimeWait::ReopenIfNewer,
            timestamps: true,
            time_wait_reuse: false,
            isn: IsnPolicy::AboveOld,
        },
        events: AppEvents {
            abort: false,
            close_unread: false,
        },
    }
}

fn freebsd() -> StackDescription {
    variant(
        linux(),
        "freebsd",
        "FreeBSD: net.inet.tcp.msl 30 s (TIME-WAIT 60 s), RST dropped in TIME-WAIT (tcp_twcheck, RFC 1337), SYN with seq > RCV.NXT reopens (no timestamp test), RFC 5961, no FIN-WAIT-2 timeout for a socket still open, clock-driven ISN without TIME-WAIT memory",
        |s| {
            s.behaviour.time_wait_rst = TimeWaitRst::Ignored;
            s.timers.fin_wait_2_ms = None;
        },
    )
}

fn macos() -> StackDescription {
    variant(
        linux(),
        "macos",
        "macOS (XNU): net.inet.tcp.msl 15 s (TIME-WAIT 30 s), 4.4BSD-Lite RST handling closes TIME-WAIT [R: unverified for current XNU], SYN with seq > RCV.NXT reopens, timestamps",
        |s| {
            s.timers.msl_ms = 15 * SEC;
            s.timers.time_wait_ms = Some(30 * SEC);
            s.timers.fin_wait_2_ms = None;
        },
    )
}

fn windows() -> StackDescription {
    variant(
        rfc9293(),
        "windows",
        "Windows: TcpTimedWaitDelay 240 s (MSL 120 s), timestamps off by default, restart on retransmitted FIN; RST in TIME-WAIT accepted and SYN in TIME-WAIT reopening are [R: unverified]",
        |s| {
            s.behaviour.time_wait_restart = true;
            s.behaviour.rst_check = RstCheck::Exact;
            s.behaviour.syn_check = SynCheck::ChallengeAck;
            s.behaviour.syn_in_time_wait = SynInTimeWait::ReopenIfNewer;
        },
    )
}

fn smoltcp() -> StackDescription {
    variant(
        rfc9293(),
        "smoltcp",
        "smoltcp: TIME-WAIT 10 s (so MSL 5 s assumed), random ISN, RST in window closes any state, no timestamps by default, no SYN reopening",
        |s| {
            s.timers.msl_ms = 5 * SEC;
            s.timers.time_wait_ms = Some(10 * SEC);
            s.behaviour.time_wait_restart = true;
            s.behaviour.isn = IsnPolicy::Arbitrary;
        },
    )
}

/// Every built-in description with its default bounds and expected verdicts.
pub fn builtins() -> Vec<Builtin> {
    use Expect::{Holds as H, Violated as V};
    // (losses, duplications, delays): one of each impairment, enough for every hazard the
    // literature describes for these stacks; variants that need more say so.
    const STD: (u8, u8, u8) = (1, 1, 1);
    let bounds = |stack: &StackDescription, (losses, dups, delays): (u8, u8, u8)| Bounds {
        losses,
        dups,
        delays,
        incarnations: 2,
        data: 1,
        // Two ticks per MSL: fine enough to separate MSL, 2×MSL and RTO, coarse enough to
        // keep the state space in seconds.
        tick_ms: stack.timers.msl_ms / 2,
    };
    let all_w = |extra: &[&'static str]| {
        let mut w = vec![
            W_LOST_FINAL_ACK,
            W_SIMULTANEOUS,
            W_FW1_TW,
            W_HALF_CLOSE,
            W_NEW_INCARNATION,
            W_OLD_DUP_WINDOW,
        ];
        w.extend_from_slice(extra);
        w
    };
    let mk = |stack: StackDescription,
              budget: (u8, u8, u8),
              v: [Expect; 6],
              witnesses: Vec<&'static str>| Builtin {
        bounds: bounds(&stack, budget),
        stack,
        expect: vec![
            (P_FINAL_ACK, v[0]),
            (P_OLD_ACCEPTED, v[1]),
            (P_OLD_DELIVERED, v[2]),
            (P_DATA, v[3]),
            (P_NO_ACK_LOOP, v[4]),
            (P_BOTH_CLOSED, v[5]),
        ],
        witnesses,
    };
    // The unsafe variants let the new ISN land inside the old sequence space (a sender that
    // outruns the ISN clock, a random or zero ISN): without that no old segment can pass
    // the sequence check, and the hazards they stand for could not show.
    let safe = variant(rfc9293_rfc1337(), "", "", |s| {
        s.behaviour.isn = IsnPolicy::Arbitrary
    });
    let linux_fast = variant(linux(), "", "", |s| s.behaviour.isn = IsnPolicy::Arbitrary);
    vec![
        mk(rfc9293(), STD, [H, H, V, H, H, H], all_w(&[W_ASSASSINATED])),
        mk(
            rfc9293_rfc1337(),
            STD,
            [H, H, H, H, H, H],
            all_w(&[W_TW_RESTART]),
        ),
        mk(
            linux(),
            STD,
            [H, H, V, H, H, H],
            all_w(&[W_TW_RESTART, W_PAWS, W_ASSASSINATED]),
        ),
        mk(
            freebsd(),
            STD,
            [H, H, V, H, H, H],
            all_w(&[W_TW_RESTART, W_PAWS]),
        ),
        mk(
            macos(),
            STD,
            [H, H, V, H, H, H],
            all_w(&[W_TW_RESTART, W_PAWS, W_ASSASSINATED]),
        ),
        mk(
            windows(),
            STD,
            [H, H, V, H, H, H],
            all_w(&[W_TW_RESTART, W_ASSASSINATED]),
        ),
        mk(
            smoltcp(),
            STD,
            [H, V, V, V, V, V],
            all_w(&[W_TW_RESTART, W_ASSASSINATED]),
        ),
        mk(
            variant(
                safe.clone(),
                "no-time-wait",
                "U2: no TIME-WAIT at all (tcp_max_tw_buckets overflow, FreeBSD nolocaltimewait, Zephyr delay 0)",
                |s| {
                    s.timers.time_wait_ms = None;
                },
            ),
            STD,
            [V, V, V, V, V, V],
            vec![
                W_SIMULTANEOUS,
                W_HALF_CLOSE,
                W_NEW_INCARNATION,
                W_OLD_DUP_WINDOW,
            ],
        ),
        mk(
            variant(
                safe.clone(),
                "short-time-wait",
                "U1: TIME-WAIT = MSL instead of 2xMSL (tricep 2 s, Zephyr 250 ms, macOS msl=1000)",
                |s| {
                    s.timers.time_wait_ms = Some(s.timers.msl_ms);
                },
            ),
            (1, 0, 2),
            [V, V, V, V, V, V],
            all_w(&[W_TW_RESTART]),
        ),
        mk(
            variant(
                safe.clone(),
                "time-wait-accepts-rst",
                "U3: RST accepted in TIME-WAIT (RFC 9293 literal, Linux tcp_rfc1337=0) without timestamps: TIME-WAIT assassination (RFC 1337)",
                |s| {
                    s.behaviour.time_wait_rst = TimeWaitRst::Closes;
                },
            ),
            STD,
            [H, V, V, V, V, V],
            all_w(&[W_TW_RESTART, W_ASSASSINATED]),
        ),
        mk(
            variant(
                safe.clone(),
                "no-fin-retransmit",
                "a FIN is sent once and never retransmitted; the close is abandoned at the retransmission timeout",
                |s| {
                    s.behaviour.fin_retransmit = false;
                },
            ),
            STD,
            [V, V, V, H, V, V],
            vec![
                W_SIMULTANEOUS,
                W_FW1_TW,
                W_HALF_CLOSE,
                W_NEW_INCARNATION,
                W_OLD_DUP_WINDOW,
            ],
        ),
        mk(
            variant(
                safe.clone(),
                "no-time-wait-restart",
                "U4: TIME-WAIT not restarted by a retransmitted FIN (tricep #104); checked with two losses",
                |s| {
                    s.behaviour.time_wait_restart = false;
                },
            ),
            (2, 0, 1),
            [V, H, H, H, H, V],
            all_w(&[]),
        ),
        mk(
            variant(
                linux_fast.clone(),
                "tw-reuse-without-timestamps",
                "U9: Linux tcp_tw_reuse=1 with timestamps off (or bind() before connect): an outgoing connect reuses a TIME-WAIT 4-tuple at once",
                |s| {
                    s.behaviour.time_wait_reuse = true;
                    s.behaviour.timestamps = false;
                },
            ),
            STD,
            [V, V, V, V, V, V],
            all_w(&[W_TW_RESTART]),
        ),
        mk(
            variant(
                linux_fast.clone(),
                "tw-reuse-with-timestamps",
                "Linux tcp_tw_reuse=1 with timestamps: reuse of a TIME-WAIT 4-tuple protected by PAWS (RFC 6191)",
                |s| {
                    s.behaviour.time_wait_reuse = true;
                },
            ),
            STD,
            [V, H, V, H, H, H],
            all_w(&[W_TW_RESTART, W_PAWS]),
        ),
        mk(
            variant(
                linux_fast,
                "isn-not-above-old",
                "U7: SYN reopens TIME-WAIT but the new ISN is not above the old SND.NXT (ISN=0 or pure-random ISN), no timestamps",
                |s| {
                    s.behaviour.isn = IsnPolicy::Arbitrary;
                    s.behaviour.timestamps = false;
                },
            ),
            STD,
            [H, V, V, V, V, V],
            all_w(&[W_TW_RESTART]),
        ),
        mk(
            variant(
                safe,
                "abort-then-reopen",
                "SO_LINGER 0 close (RST, no TIME-WAIT) and an immediate reopen of the same 4-tuple",
                |s| {
                    s.events.abort = true;
                },
            ),
            (1, 0, 1),
            [H, V, V, V, V, V],
            vec![
                W_LOST_FINAL_ACK,
                W_SIMULTANEOUS,
                W_FW1_TW,
                W_NEW_INCARNATION,
                W_OLD_DUP_WINDOW,
                W_TW_RESTART,
            ],
        ),
    ]
}

/// The built-in with this name.
pub fn builtin(name: &str) -> Option<Builtin> {
    builtins().into_iter().find(|b| b.stack.name == name)
}

/// The names of every built-in, in table order.
pub fn builtin_names() -> Vec<String> {
    builtins().into_iter().map(|b| b.stack.name).collect()
}
