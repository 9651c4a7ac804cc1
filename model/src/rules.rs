//! The rules an endpoint step applies, each with a stable id and the section that states it.
//!
//! Every step of [`crate::endpoint`] reports exactly one rule: the decisive one. Counterexamples
//! from the checker and verdicts from the oracle name rules from this list, never from a
//! second copy of the rule text.

use serde::Serialize;

macro_rules! rules {
    ($( $(#[$doc:meta])* $name:ident => ($id:literal, $section:literal, $accepts:literal, $what:literal), )*) => {
        /// A rule of the teardown state machine.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize)]
        #[serde(into = "&'static str")]
        pub enum Rule {
            $( $(#[$doc])* $name, )*
        }

        impl Rule {
            /// Every rule, in declaration order.
            pub const ALL: &'static [Rule] = &[$(Rule::$name,)*];

            /// The stable id, e.g. `time-wait-fin-reacked`.
            pub const fn id(self) -> &'static str {
                match self { $( Rule::$name => $id, )* }
            }

            /// Where the rule is stated, e.g. `RFC 9293 §3.10.7.4`.
            pub const fn section(self) -> &'static str {
                match self { $( Rule::$name => $section, )* }
            }

            /// One sentence: what the rule does.
            pub const fn summary(self) -> &'static str {
                match self { $( Rule::$name => $what, )* }
            }

            /// Whether an arriving segment handled by this rule was *accepted*: it passed the
            /// sequence-number (and PAWS) checks and was processed as part of the connection
            /// (or, for a SYN, opened one). Rejections, answers from CLOSED/LISTEN, challenge
            /// ACKs and ignored RSTs are not acceptance.
            pub const fn accepts_segment(self) -> bool {
                match self { $( Rule::$name => $accepts, )* }
            }

            /// Whether the rule only answers a segment it rejected with an ACK.
            pub const fn answers_rejected_segment(self) -> bool {
                matches!(
                    self,
                    Rule::SeqUnacceptableAck
                        | Rule::PawsReject
                        | Rule::AckOfUnsentData
                        | Rule::RstChallengeAck
                        | Rule::SynChallengeAck
                        | Rule::DataOutOfOrder
                        | Rule::TimeWaitFinReacked
                )
            }

            /// Whether a stack may leave the segment this rule sends unsent: answers to
            /// segments it rejected, which RFC 5961 §7 and RFC 5681 §4.2 ("SHOULD") let it
            /// rate-limit or skip (Linux `tcp_invalid_ratelimit`, the challenge-ACK limit),
            /// and window updates. Every other segment a rule sends is owed.
            pub const fn response_optional(self) -> bool {
                // TIME-WAIT's re-ACK answers a rejected segment too, but it is the one answer
                // TIME-WAIT exists for.
                (self.answers_rejected_segment() && !matches!(self, Rule::TimeWaitFinReacked))
                    || matches!(self, Rule::AckWindowUpdate | Rule::AckPartial | Rule::KeepAlive)
            }

            /// The rule with this id.
            pub fn from_id(id: &str) -> Option<Rule> {
                Rule::ALL.iter().copied().find(|r| r.id() == id)
            }
        }
    };
}

rules! {
    // ---- application calls (RFC 9293 §3.10.1-§3.10.5)
    /// OPEN (active): send SYN, enter SYN-SENT.
    AppConnect => ("app-connect", "RFC 9293 §3.10.1", false, "active OPEN: send SYN, enter SYN-SENT"),
    /// OPEN from TIME-WAIT on an outgoing connection (Linux tcp_tw_reuse): the TIME-WAIT TCB is replaced.
    AppConnectReuseTimeWait => ("app-connect-reuse-time-wait", "Linux tcp_tw_reuse; RFC 6191", false, "active OPEN reuses the 4-tuple of a TIME-WAIT TCB (ISN above the old SND.NXT, TS.Recent kept)"),
    /// SEND: one data segment.
    AppSend => ("app-send", "RFC 9293 §3.10.2", false, "SEND: transmit a data segment"),
    /// CLOSE or shutdown(SHUT_WR) in ESTABLISHED / SYN-RECEIVED: send FIN, enter FIN-WAIT-1.
    AppCloseFinWait1 => ("app-close-send-fin", "RFC 9293 §3.10.4", false, "CLOSE in ESTABLISHED: send FIN, enter FIN-WAIT-1"),
    /// CLOSE in CLOSE-WAIT: send FIN, enter LAST-ACK.
    AppCloseLastAck => ("app-close-last-ack", "RFC 9293 §3.10.4", false, "CLOSE in CLOSE-WAIT: send FIN, enter LAST-ACK"),
    /// CLOSE in SYN-SENT: delete the TCB.
    AppCloseSynSent => ("app-close-syn-sent", "RFC 9293 §3.10.4", false, "CLOSE in SYN-SENT: delete the TCB"),
    /// close() with received data unread: RST (half-duplex close).
    AppCloseUnreadReset => ("app-close-unread-data-reset", "RFC 9293 §3.6.1 SHLD-3; RFC 2525 §2.17", false, "CLOSE with received data unread: send RST, enter CLOSED"),
    /// ABORT in a state with a peer to tell: send RST.
    AppAbortReset => ("app-abort-reset", "RFC 9293 §3.10.5", false, "ABORT (SO_LINGER 0): send RST, enter CLOSED, no TIME-WAIT"),
    /// ABORT in CLOSING / LAST-ACK / TIME-WAIT: delete the TCB, no RST.
    AppAbortQuiet => ("app-abort-quiet", "RFC 9293 §3.10.5", false, "ABORT in CLOSING, LAST-ACK or TIME-WAIT: delete the TCB without RST"),

    // ---- CLOSED, LISTEN, SYN-SENT (RFC 9293 §3.10.7.1-§3.10.7.3)
    /// CLOSED answers a non-RST segment with RST.
    ClosedReset => ("closed-reset", "RFC 9293 §3.10.7.1", false, "CLOSED: a segment without RST is answered with RST"),
    /// CLOSED drops an RST.
    ClosedRstDropped => ("closed-rst-dropped", "RFC 9293 §3.10.7.1", false, "CLOSED: an arriving RST is discarded"),
    /// LISTEN accepts a SYN: SYN-RECEIVED, send SYN-ACK.
    ListenSynAccepted => ("listen-syn-accepted", "RFC 9293 §3.10.7.2", true, "LISTEN: a SYN creates a connection in SYN-RECEIVED and is answered with SYN-ACK"),
    /// LISTEN answers an ACK-bearing segment with RST.
    ListenAckReset => ("listen-ack-reset", "RFC 9293 §3.10.7.2", false, "LISTEN: a segment with ACK is answered with <SEQ=SEG.ACK><CTL=RST>"),
    /// LISTEN ignores RST and anything else.
    ListenDropped => ("listen-dropped", "RFC 9293 §3.10.7.2", false, "LISTEN: an RST, or a segment without SYN or ACK, is dropped"),
    /// SYN-SENT receives an acceptable SYN-ACK: ESTABLISHED.
    SynSentEstablished => ("syn-sent-established", "RFC 9293 §3.10.7.3", true, "SYN-SENT: an acceptable SYN-ACK establishes the connection"),
    /// SYN-SENT receives an unacceptable ACK: RST.
    SynSentBadAckReset => ("syn-sent-bad-ack-reset", "RFC 9293 §3.10.7.3", false, "SYN-SENT: an ACK outside ISS < SEG.ACK =< SND.NXT is answered with <SEQ=SEG.ACK><CTL=RST>"),
    /// SYN-SENT receives an acceptable RST: connection refused.
    SynSentReset => ("syn-sent-reset", "RFC 9293 §3.10.7.3", true, "SYN-SENT: an RST acknowledging the SYN refuses the connection"),
    /// SYN-SENT drops anything else.
    SynSentDropped => ("syn-sent-dropped", "RFC 9293 §3.10.7.3", false, "SYN-SENT: a segment with neither SYN nor an acceptable ACK or RST is dropped"),

    // ---- synchronized states, first check: sequence number (RFC 9293 §3.10.7.4)
    /// Unacceptable segment: send `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>`, drop.
    SeqUnacceptableAck => ("seq-unacceptable-ack", "RFC 9293 §3.10.7.4 (first check)", false, "an unacceptable segment is answered with <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> and dropped"),
    /// Unacceptable RST: drop silently.
    SeqUnacceptableRstDropped => ("seq-unacceptable-rst-dropped", "RFC 9293 §3.10.7.4 (first check)", false, "an RST outside the window is dropped silently"),
    /// PAWS: TSval older than TS.Recent: ACK, drop.
    PawsReject => ("paws-reject", "RFC 7323 §5.3", false, "a segment whose TSval is older than TS.Recent is answered with ACK and dropped (PAWS)"),
    /// TIME-WAIT: a retransmitted FIN is ACKed again and the 2MSL timer restarted.
    TimeWaitFinReacked => ("time-wait-fin-reacked", "RFC 9293 §3.10.7.4 (fifth and eighth checks)", true, "TIME-WAIT: a retransmitted FIN is acknowledged again and the 2MSL timeout restarted"),
    /// TIME-WAIT that does not answer a retransmitted FIN (unsafe: U5).
    TimeWaitFinIgnored => ("time-wait-fin-ignored", "deviation from RFC 9293 §3.10.7.4", false, "TIME-WAIT drops a retransmitted FIN without acknowledging it"),

    // ---- second check: RST
    /// RST closes the connection (in window per RFC 793, or exact per RFC 5961).
    RstResets => ("rst-resets-connection", "RFC 9293 §3.10.7.4 (second check)", true, "an acceptable RST resets the connection: CLOSED (LISTEN for a passive SYN-RECEIVED)"),
    /// RST accepted in TIME-WAIT: TIME-WAIT assassination.
    RstClosesTimeWait => ("rst-closes-time-wait", "RFC 9293 §3.10.7.4 (second check); RFC 1337 hazard", true, "TIME-WAIT: an acceptable RST deletes the TCB early (TIME-WAIT assassination)"),
    /// RST ignored in TIME-WAIT (RFC 1337 fix F1).
    RstIgnoredInTimeWait => ("rst-ignored-in-time-wait", "RFC 1337 §3 (F1)", false, "TIME-WAIT: an RST is ignored so TIME-WAIT runs its full length"),
    /// In-window RST not at RCV.NXT: challenge ACK.
    RstChallengeAck => ("rst-challenge-ack", "RFC 5961 §3.2", false, "an in-window RST not exactly at RCV.NXT is answered with a challenge ACK"),

    // ---- fourth check: SYN
    /// SYN in a synchronized state: challenge ACK.
    SynChallengeAck => ("syn-challenge-ack", "RFC 5961 §4.2", false, "a SYN in a synchronized state is answered with a challenge ACK"),
    /// SYN in window in a synchronized state (RFC 793): RST, CLOSED.
    SynInWindowReset => ("syn-in-window-reset", "RFC 9293 §3.10.7.4 (fourth check, without RFC 5961)", true, "an in-window SYN in a synchronized state resets the connection"),
    /// SYN reopens the connection from TIME-WAIT.
    SynReopensTimeWait => ("syn-reopens-time-wait", "RFC 9293 §3.6.1 MAY-2; RFC 6191", true, "TIME-WAIT: a SYN with a newer sequence number or timestamp opens a new incarnation (ISN above the old SND.NXT)"),
    /// Old SYN in TIME-WAIT: dropped silently (FreeBSD, RFC 6191 A.4/B.3).
    SynInTimeWaitDropped => ("syn-in-time-wait-dropped", "RFC 6191 §2 (A.4, B.3)", false, "TIME-WAIT: a SYN that is not newer is dropped silently"),

    // ---- fifth check: ACK
    /// ACK bit off: drop.
    AckBitOffDropped => ("ack-bit-off-dropped", "RFC 9293 §3.10.7.4 (fifth check)", false, "a segment without ACK is dropped"),
    /// SYN-RECEIVED: the ACK of our SYN establishes the connection.
    SynReceivedEstablished => ("syn-received-established", "RFC 9293 §3.10.7.4 (fifth check)", true, "SYN-RECEIVED: the ACK of our SYN enters ESTABLISHED"),
    /// SYN-RECEIVED: unacceptable ACK answered with RST.
    SynReceivedBadAckReset => ("syn-received-bad-ack-reset", "RFC 9293 §3.10.7.4 (fifth check)", false, "SYN-RECEIVED: an unacceptable ACK is answered with <SEQ=SEG.ACK><CTL=RST>"),
    /// ACK of data not yet sent: ACK, drop.
    AckOfUnsentData => ("ack-of-unsent-data", "RFC 9293 §3.10.7.4 (fifth check)", false, "an ACK of something not yet sent is answered with ACK and dropped"),
    /// FIN-WAIT-1: our FIN acknowledged, enter FIN-WAIT-2.
    FinWait1FinAcked => ("fin-wait-1-fin-acked", "RFC 9293 §3.10.7.4 (fifth check)", true, "FIN-WAIT-1: our FIN is acknowledged, enter FIN-WAIT-2"),
    /// CLOSING: our FIN acknowledged, enter TIME-WAIT.
    ClosingFinAcked => ("closing-fin-acked", "RFC 9293 §3.10.7.4 (fifth check)", true, "CLOSING: our FIN is acknowledged, enter TIME-WAIT"),
    /// LAST-ACK: our FIN acknowledged, delete the TCB.
    LastAckFinAcked => ("last-ack-fin-acked", "RFC 9293 §3.10.7.4 (fifth check)", true, "LAST-ACK: our FIN is acknowledged, enter CLOSED"),
    /// A new ACK advances SND.UNA.
    AckAdvances => ("ack-advances", "RFC 9293 §3.10.7.4 (fifth check)", true, "an ACK of new data advances SND.UNA"),
    /// An acceptable segment that changes nothing (duplicate ACK).
    AckDuplicate => ("ack-duplicate", "RFC 9293 §3.10.7.4 (fifth check)", true, "a duplicate ACK (SEG.ACK =< SND.UNA) is ignored"),
    /// TIME-WAIT: an acceptable segment other than a retransmitted FIN.
    TimeWaitSegmentIgnored => ("time-wait-segment-ignored", "RFC 9293 §3.10.7.4 (fifth check)", true, "TIME-WAIT: an acceptable segment that is not a retransmitted FIN is ignored"),

    // ---- seventh check: text
    /// Data delivered in order, acknowledged.
    DataDelivered => ("data-delivered", "RFC 9293 §3.10.7.4 (seventh check)", true, "in-order data is delivered to the user and acknowledged"),
    /// In-window data that is not next in order: acknowledged, dropped (no reassembly queue).
    DataOutOfOrder => ("data-out-of-order", "RFC 9293 §3.10.7.4 (seventh check)", true, "in-window data or FIN beyond RCV.NXT is acknowledged and dropped (the model keeps no reassembly queue)"),
    /// Data after the peer's FIN: ignored.
    DataAfterFinIgnored => ("data-after-fin-ignored", "RFC 9293 §3.10.7.4 (seventh check)", true, "data in CLOSE-WAIT, CLOSING, LAST-ACK or TIME-WAIT is ignored: the peer already sent FIN"),
    /// Data after our close(): RST (half-duplex close).
    DataAfterCloseReset => ("data-after-close-reset", "RFC 9293 §3.6.1 SHLD-3", true, "new data after close() (half-duplex close) is answered with RST"),

    // ---- eighth check: FIN
    /// ESTABLISHED receives FIN: CLOSE-WAIT.
    FinEntersCloseWait => ("fin-enters-close-wait", "RFC 9293 §3.10.7.4 (eighth check)", true, "FIN in ESTABLISHED: acknowledge it, enter CLOSE-WAIT"),
    /// FIN-WAIT-1 receives FIN, ours not yet acknowledged: CLOSING.
    FinEntersClosing => ("fin-enters-closing", "RFC 9293 §3.10.7.4 (eighth check)", true, "FIN in FIN-WAIT-1 with our FIN unacknowledged: simultaneous close, enter CLOSING"),
    /// FIN-WAIT-1 receives FIN+ACK of our FIN: TIME-WAIT directly.
    FinWait1EntersTimeWait => ("fin-wait-1-enters-time-wait", "RFC 9293 §3.10.7.4 (eighth check); §3.3.2 note 2", true, "FIN in FIN-WAIT-1 that also acknowledges our FIN: enter TIME-WAIT directly"),
    /// FIN-WAIT-2 receives FIN: TIME-WAIT.
    FinWait2EntersTimeWait => ("fin-wait-2-enters-time-wait", "RFC 9293 §3.10.7.4 (eighth check)", true, "FIN in FIN-WAIT-2: acknowledge it, enter TIME-WAIT"),

    // ---- segments sent without a new event (RFC 9293 §3.8.6.2.2)
    /// A pure ACK that repeats SND.NXT and RCV.NXT: a window update.
    AckWindowUpdate => ("ack-window-update", "RFC 9293 §3.8.6.2.2; RFC 1122 4.2.3.3", false, "an ACK carrying nothing new (<SEQ=SND.NXT><ACK=RCV.NXT>) is sent to update the window"),
    /// A keep-alive probe on an idle connection.
    KeepAlive => ("keep-alive", "RFC 9293 §3.8.4; RFC 1122 4.2.3.6", false, "a keep-alive on an idle connection: <SEQ=SND.NXT-1><ACK=RCV.NXT><CTL=ACK>, with or without one garbage octet"),
    /// A pure ACK acknowledging less than RCV.NXT: part of what arrived.
    AckPartial => ("ack-partial", "RFC 9293 §3.8.6.3; RFC 1122 4.2.3.2", false, "an ACK acknowledges part of what arrived (<SEQ=SND.NXT><ACK=n>, n =< RCV.NXT): a cumulative ACK may lag, and a receiver may keep only what fits its window"),

    // ---- timers (RFC 9293 §3.10.8, RFC 6298)
    /// Retransmission timeout: retransmit the oldest unacknowledged segment.
    RtoRetransmit => ("rto-retransmit", "RFC 9293 §3.8.1; RFC 6298 §5", false, "retransmission timeout: resend the oldest unacknowledged segment and back off"),
    /// A stack that does not retransmit FINs lets the timer back off without resending.
    RtoFinNotRetransmitted => ("rto-fin-not-retransmitted", "deviation from RFC 9293 §3.6", false, "retransmission timeout with only a FIN outstanding: the FIN is not resent (no FIN retransmission)"),
    /// Retransmissions exhausted: abort.
    RtoGiveUp => ("rto-give-up", "RFC 9293 §3.10.8 (user timeout)", false, "retransmissions exhausted: the connection is aborted"),
    /// TIME-WAIT timer expired: CLOSED.
    TimeWaitExpired => ("time-wait-expired", "RFC 9293 §3.10.8", false, "the 2MSL timeout expires: delete the TCB, enter CLOSED"),
    /// FIN-WAIT-2 timer expired (Linux tcp_fin_timeout): CLOSED.
    FinWait2Timeout => ("fin-wait-2-timeout", "Linux tcp_fin_timeout (not in RFC 9293)", false, "FIN-WAIT-2 timeout expires: delete the TCB without waiting for the peer's FIN"),
}

impl From<Rule> for &'static str {
    fn from(r: Rule) -> &'static str {
        r.id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_round_trip() {
        let mut ids: Vec<_> = Rule::ALL.iter().map(|r| r.id()).collect();
        ids.sort_unstable();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n, "duplicate rule ids");
        for r in Rule::ALL {
            assert_eq!(Rule::from_id(r.id()), Some(*r));
            assert!(!r.section().is_empty() && !r.summary().is_empty());
        }
    }
}
