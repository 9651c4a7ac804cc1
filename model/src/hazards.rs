//! What the checked model knows to be unsafe in a run, even where a stack's description
//! allows it: the hazards the checker's properties are about, as predicates over the rules
//! a run applied. The oracle lists them beside its verdict; the checker's counterexamples
//! show why each one is a hazard (`teardown check --stack time-wait-accepts-rst`,
//! `tw-reuse-without-ts`, `abort-then-reopen`).

use serde::Serialize;

use crate::endpoint::State;
use crate::rules::Rule;
use crate::segment::{Flags, Segment};
use crate::seq::SeqNum;

/// A hazard: something that happened which TIME-WAIT exists to prevent.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize)]
#[serde(into = "&'static str")]
pub enum Hazard {
    /// An RST ended TIME-WAIT early (RFC 1337 H1–H3): a delayed segment of the old
    /// incarnation can now reach a new one.
    TimeWaitAssassinated,
    /// The 4-tuple was reused while its TIME-WAIT still ran, with timestamps on both
    /// incarnations: PAWS (RFC 7323 §5, RFC 6191) rejects the old incarnation's segments.
    ReuseInTimeWaitWithPaws,
    /// The 4-tuple was reused while its TIME-WAIT still ran, without timestamps: only the
    /// ISN keeps old segments out, and only while it lies above the old sequence space.
    ReuseInTimeWaitWithoutPaws,
    /// A connection aborted with RST (no TIME-WAIT at all, RFC 9293 §3.10.5) and its
    /// 4-tuple reused within the TIME-WAIT it skipped.
    AbortThenReuse,
    /// A segment of an earlier incarnation was accepted by a newer one (the outcome the
    /// checker's "old segment never accepted by a new incarnation" forbids).
    OldSegmentAccepted,
    /// The peer's FIN was answered with RST, which reset it in LAST-ACK or CLOSING: its
    /// close failed because the side that closed first had no TIME-WAIT left to re-ACK
    /// the FIN (skipped, too short, or ended early) — the hazard TIME-WAIT exists to
    /// prevent (RFC 9293 §3.6.1).
    FinAnsweredByRst,
}

impl Hazard {
    /// Every hazard.
    pub const ALL: [Hazard; 6] = [
        Hazard::TimeWaitAssassinated,
        Hazard::ReuseInTimeWaitWithPaws,
        Hazard::ReuseInTimeWaitWithoutPaws,
        Hazard::AbortThenReuse,
        Hazard::OldSegmentAccepted,
        Hazard::FinAnsweredByRst,
    ];

    /// Stable id.
    pub const fn id(self) -> &'static str {
        match self {
            Hazard::TimeWaitAssassinated => "time-wait-assassinated",
            Hazard::ReuseInTimeWaitWithPaws => "reuse-in-time-wait-with-paws",
            Hazard::ReuseInTimeWaitWithoutPaws => "reuse-in-time-wait-without-paws",
            Hazard::AbortThenReuse => "abort-then-reuse",
            Hazard::OldSegmentAccepted => "old-segment-accepted",
            Hazard::FinAnsweredByRst => "fin-answered-by-rst",
        }
    }

    /// Where the hazard is described.
    pub const fn section(self) -> &'static str {
        match self {
            Hazard::TimeWaitAssassinated => "RFC 1337 §2",
            Hazard::ReuseInTimeWaitWithPaws => "RFC 6191 §2; RFC 7323 §5",
            Hazard::ReuseInTimeWaitWithoutPaws => "RFC 1122 4.2.2.13; RFC 6191 §2",
            Hazard::AbortThenReuse => "RFC 9293 §3.10.5; RFC 1337 §2",
            Hazard::OldSegmentAccepted => "RFC 9293 §3.4.1; RFC 1337 §2",
            Hazard::FinAnsweredByRst => "RFC 9293 §3.6.1, §3.10.7.1",
        }
    }

    /// One sentence: why it is a hazard.
    pub const fn summary(self) -> &'static str {
        match self {
            Hazard::TimeWaitAssassinated => {
                "an RST ended TIME-WAIT early; old duplicates may now reach a new incarnation"
            }
            Hazard::ReuseInTimeWaitWithPaws => {
                "the 4-tuple was reused inside TIME-WAIT; timestamps (PAWS) protect the new incarnation"
            }
            Hazard::ReuseInTimeWaitWithoutPaws => {
                "the 4-tuple was reused inside TIME-WAIT without timestamps; only the ISN keeps old segments out"
            }
            Hazard::AbortThenReuse => {
                "an aborted connection's 4-tuple was reused within the TIME-WAIT it skipped"
            }
            Hazard::OldSegmentAccepted => "a segment of an earlier incarnation was accepted",
            Hazard::FinAnsweredByRst => {
                "a FIN was answered with RST, resetting its sender: the final ACK was never recovered"
            }
        }
    }

    /// The hazard a step's rule is, if any. `timestamps`: both incarnations carry
    /// timestamps (for the reuse rules).
    pub const fn of_rule(rule: Rule, timestamps: bool) -> Option<Hazard> {
        match rule {
            Rule::RstClosesTimeWait => Some(Hazard::TimeWaitAssassinated),
            Rule::AppConnectReuseTimeWait | Rule::SynReopensTimeWait => Some(if timestamps {
                Hazard::ReuseInTimeWaitWithPaws
            } else {
                Hazard::ReuseInTimeWaitWithoutPaws
            }),
            _ => None,
        }
    }

    /// The hazard an RST carries toward a peer in `peer`: an RST that answered a FIN (ghost
    /// `answers_fin`: made by the RFC 9293 §3.10.7.1 reset of an endpoint without a TCB —
    /// no TIME-WAIT left to re-ACK it, §3.6.1) while the FIN's sender waits in LAST-ACK or
    /// CLOSING for the final ACK. Unless that ACK, delayed, overtakes it, the RST resets the
    /// peer ([`Hazard::of_arrival`]); either way the close was saved by luck, not by
    /// TIME-WAIT. The oracle uses this where the capture shows the RST leave but not arrive.
    pub fn of_answer<S: SeqNum>(peer: State, rst: &Segment<S>) -> Option<Hazard> {
        (rst.has(Flags::RST)
            && rst.ghost.answers_fin
            && matches!(peer, State::LastAck | State::Closing))
        .then_some(Hazard::FinAnsweredByRst)
    }

    /// The hazard shown by a segment's arrival at an endpoint that was in `pre` and applied
    /// `rule`, if any: an RST that [answered a FIN](Hazard::of_answer) and reset its sender
    /// in LAST-ACK or CLOSING is the failure of final-ACK recovery. The checker's "final
    /// ACK is always recovered" property and the oracle both use this predicate.
    pub fn of_arrival<S: SeqNum>(pre: State, seg: &Segment<S>, rule: Rule) -> Option<Hazard> {
        Hazard::of_answer(pre, seg).filter(|_| rule == Rule::RstResets)
    }

    /// Whether the rule ends a connection without TIME-WAIT by an abort (ours or the
    /// peer's RST), so that reusing the 4-tuple soon after is [`Hazard::AbortThenReuse`].
    pub const fn rule_skips_time_wait(rule: Rule) -> bool {
        matches!(
            rule,
            Rule::AppAbortReset
                | Rule::AppCloseUnreadReset
                | Rule::DataAfterCloseReset
                | Rule::RstResets
        )
    }
}

impl From<Hazard> for &'static str {
    fn from(h: Hazard) -> &'static str {
        h.id()
    }
}

/// The judgment of reusing a 4-tuple whose previous incarnation must still be in TIME-WAIT
/// (RFC 1122 4.2.2.13, RFC 6191 §2): safe when the new incarnation's timestamps are newer
/// than the old one's, or its ISN lies above the old sequence space; otherwise old
/// duplicates can be accepted by the new incarnation.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReuseJudgment {
    /// Newer timestamps: PAWS rejects the old incarnation's segments.
    SafeByTimestamps,
    /// ISN above the old incarnation's final sequence number.
    SafeByIsn,
    /// Neither: reuse without PAWS protection and with an ISN inside the old space.
    Unsafe,
}

impl ReuseJudgment {
    /// Judges a reuse. `old_next`: the first sequence number after everything the opener
    /// sent on the old incarnation (its SND.NXT); `new_isn`: the new SYN's sequence number;
    /// `ts`: the old incarnation's last TSval from the opener and the new SYN's, when both
    /// carry timestamps.
    pub fn judge<S: SeqNum>(old_next: S, new_isn: S, ts: Option<(u32, u32)>) -> ReuseJudgment {
        if let Some((old, new)) = ts
            && (new.wrapping_sub(old) as i32) > 0
        {
            return ReuseJudgment::SafeByTimestamps;
        }
        if new_isn.after(old_next) {
            ReuseJudgment::SafeByIsn
        } else {
            ReuseJudgment::Unsafe
        }
    }

    /// Stable id.
    pub const fn id(self) -> &'static str {
        match self {
            ReuseJudgment::SafeByTimestamps => "safe-reuse-by-timestamps",
            ReuseJudgment::SafeByIsn => "safe-reuse-by-isn",
            ReuseJudgment::Unsafe => "reuse-without-paws",
        }
    }

    /// Where the judgment is stated.
    pub const fn section(self) -> &'static str {
        "RFC 1122 4.2.2.13; RFC 6191 §2"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuse_is_safe_by_timestamps_or_by_isn_and_not_otherwise() {
        assert_eq!(
            ReuseJudgment::judge(1000u32, 10, Some((5, 6))),
            ReuseJudgment::SafeByTimestamps
        );
        assert_eq!(
            ReuseJudgment::judge(1000u32, 2000, Some((6, 5))),
            ReuseJudgment::SafeByIsn
        );
        assert_eq!(
            ReuseJudgment::judge(1000u32, 999, None),
            ReuseJudgment::Unsafe
        );
        // Serial arithmetic: an ISN just past a wrap is still above.
        assert_eq!(
            ReuseJudgment::judge(u32::MAX - 5, 3, None),
            ReuseJudgment::SafeByIsn
        );
    }

    #[test]
    fn hazards_follow_the_rules_that_cause_them() {
        assert_eq!(
            Hazard::of_rule(Rule::RstClosesTimeWait, false),
            Some(Hazard::TimeWaitAssassinated)
        );
        assert_eq!(
            Hazard::of_rule(Rule::SynReopensTimeWait, true),
            Some(Hazard::ReuseInTimeWaitWithPaws)
        );
        assert_eq!(
            Hazard::of_rule(Rule::AppConnectReuseTimeWait, false),
            Some(Hazard::ReuseInTimeWaitWithoutPaws)
        );
        assert_eq!(Hazard::of_rule(Rule::RstIgnoredInTimeWait, false), None);
        let rst = |answers_fin| Segment::<u32> {
            flags: Flags::RST,
            seq: 7,
            ack: 0,
            len: 0,
            tsval: None,
            ghost: crate::segment::Ghost {
                incarnation: 1,
                answers_fin,
            },
        };
        assert_eq!(
            Hazard::of_arrival(State::LastAck, &rst(true), Rule::RstResets),
            Some(Hazard::FinAnsweredByRst)
        );
        // An RST of an abort (not an answer to a FIN), or one reaching a state whose close
        // was not waiting for its FIN to be acknowledged, is not this hazard.
        assert_eq!(
            Hazard::of_arrival(State::LastAck, &rst(false), Rule::RstResets),
            None
        );
        assert_eq!(
            Hazard::of_answer(State::Closing, &rst(true)),
            Some(Hazard::FinAnsweredByRst)
        );
        assert_eq!(Hazard::of_answer(State::Closed, &rst(true)), None);
        assert_eq!(
            Hazard::of_arrival(State::Established, &rst(true), Rule::RstResets),
            None
        );
        assert!(Hazard::rule_skips_time_wait(Rule::AppAbortReset));
        assert!(!Hazard::rule_skips_time_wait(Rule::TimeWaitExpired));
    }
}
