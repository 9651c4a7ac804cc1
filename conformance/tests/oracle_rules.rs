//! The oracle's rules, one small capture each: a capture that breaks the rule and is
//! flagged with its id, and a near miss that must not be. Captures are written with
//! `teardown_conformance::writer` (real Ethernet/IP/TCP frames), replayed from the vantage
//! their TTLs show, and judged against a built-in description.

use std::net::SocketAddr;

use teardown_conformance::oracle::{
    Classification, ConnectionVerdict, IncarnationVerdict, Inconclusive, Vantage, VantageChoice,
    Verdict,
};
use teardown_conformance::replay::{ReplayOptions, StackChoice, replay};
use teardown_conformance::writer::{CapturedSegment, write_pcap};
use teardown_model::builtins::builtin;
use teardown_model::segment::{Flags, Ghost, Segment};

const C_ISN: u32 = 1_000_000;
const S_ISN: u32 = 7_000_000;
const MS: u64 = 1_000_000;
const T0: u64 = 1_750_000_000_000_000_000;

const A: Flags = Flags::ACK;
const F: Flags = Flags::FIN;
const S: Flags = Flags::SYN;
const R: Flags = Flags::RST;

/// A capture being written: segments with sequence numbers relative to the ISNs.
struct Script {
    at_client: bool,
    ts: bool,
    now: u64,
    tsval: [u32; 2],
    isn: [u32; 2],
    segs: Vec<CapturedSegment>,
}

impl Script {
    /// A capture taken at the client's host (`at_client`) or the server's.
    fn new(at_client: bool, ts: bool) -> Self {
        Script {
            at_client,
            ts,
            now: T0,
            tsval: [100, 900],
            isn: [C_ISN, S_ISN],
            segs: Vec::new(),
        }
    }

    fn push(&mut self, from_client: bool, dt_ms: u64, flags: Flags, seq: u32, ack: u32, len: u32) {
        self.now += dt_ms * MS;
        let side = usize::from(!from_client);
        self.tsval[side] += 1 + (dt_ms / 10) as u32;
        let local = from_client == self.at_client;
        self.segs.push(CapturedSegment {
            time_ns: self.now,
            from_client,
            segment: Segment {
                flags,
                seq: self.isn[side].wrapping_add(seq),
                ack: if flags.contains(A) {
                    self.isn[1 - side].wrapping_add(ack)
                } else {
                    0
                },
                len,
                tsval: self.ts.then_some(self.tsval[side]),
                ghost: Ghost::default(),
            },
            ttl: if local { 64 } else { 63 },
        });
    }

    /// A client segment, `dt_ms` after the previous one.
    fn c(&mut self, dt_ms: u64, flags: Flags, seq: u32, ack: u32, len: u32) -> &mut Self {
        self.push(true, dt_ms, flags, seq, ack, len);
        self
    }

    /// A server segment.
    fn s(&mut self, dt_ms: u64, flags: Flags, seq: u32, ack: u32, len: u32) -> &mut Self {
        self.push(false, dt_ms, flags, seq, ack, len);
        self
    }

    /// Handshake, 10 octets each way, then the client closes first and the server follows:
    /// FIN, ACK, FIN, ACK. Afterwards the client is in TIME-WAIT.
    fn four_way(&mut self) -> &mut Self {
        self.four_way_to_server_fin().c(1, A, 12, 12, 0)
    }

    /// [`Script::four_way`] up to the server's FIN: the client's final ACK is not sent
    /// yet (or, seen from the server, lost on the way).
    fn four_way_to_server_fin(&mut self) -> &mut Self {
        self.four_way_to_server_fin_after(0)
    }

    /// [`Script::four_way`], its SYN `gap_ms` after the previous segment.
    fn four_way_after(&mut self, gap_ms: u64) -> &mut Self {
        self.four_way_to_server_fin_after(gap_ms).c(1, A, 12, 12, 0)
    }

    fn four_way_to_server_fin_after(&mut self, gap_ms: u64) -> &mut Self {
        self.established_after(gap_ms)
            .c(5, F | A, 11, 11, 0)
            .s(1, A, 11, 12, 0)
            .s(5, F | A, 11, 12, 0)
    }

    /// Handshake, its SYN `gap_ms` after the previous segment, then 10 octets each way, each
    /// acknowledged: both sides ESTABLISHED with nothing in flight.
    fn established_after(&mut self, gap_ms: u64) -> &mut Self {
        self.c(gap_ms, S, 0, 0, 0)
            .s(1, S | A, 0, 1, 0)
            .c(1, A, 1, 1, 0)
            .c(1, A, 1, 1, 10)
            .s(1, A, 1, 11, 10)
            .c(1, A, 11, 11, 0)
    }

    /// A new incarnation's ISNs.
    fn reopen(&mut self, client_isn: u32, server_isn: u32) -> &mut Self {
        self.isn = [client_isn, server_isn];
        self
    }

    fn judge(&self, stack: &str) -> ConnectionVerdict {
        let client: SocketAddr = "192.0.2.2:40000".parse().unwrap();
        let server: SocketAddr = "198.51.100.2:80".parse().unwrap();
        let mut pcap = Vec::new();
        write_pcap(&mut pcap, client, server, &self.segs).expect("written");
        let opts = ReplayOptions {
            stack: StackChoice::Named(builtin(stack).expect("built-in").stack),
            vantage: VantageChoice::Auto,
            every_ladder: false,
            threads: 1,
            limits: Default::default(),
        };
        let mut v = replay("script", &pcap[..], &opts);
        assert_eq!(v.ingest.error, None);
        assert_eq!(v.connections.len(), 1);
        let c = v.connections.remove(0);
        let want = if self.at_client {
            Vantage::Client
        } else {
            Vantage::Server
        };
        assert_eq!(c.vantage, want, "vantage from TTLs");
        c
    }
}

fn only(c: &ConnectionVerdict) -> &IncarnationVerdict {
    assert_eq!(c.incarnations.len(), 1, "{c:#?}");
    &c.incarnations[0]
}

fn violated(i: &IncarnationVerdict) -> &'static str {
    assert_eq!(i.verdict, Verdict::Violation, "{i:#?}");
    i.violation
        .as_ref()
        .expect("a violation names its rule")
        .rule
}

fn conforming(i: &IncarnationVerdict) {
    assert_eq!(i.verdict, Verdict::Conforming, "{i:#?}");
}

#[test]
fn a_plain_four_way_close_conforms_from_both_hosts() {
    for at_client in [true, false] {
        for stack in ["rfc9293", "linux", "freebsd"] {
            let c = Script::new(at_client, stack != "rfc9293")
                .four_way()
                .judge(stack);
            let i = only(&c);
            conforming(i);
            assert_eq!(i.classification, Classification::FourWay);
            assert_eq!(i.time_wait_held_by, Some("client"));
            assert!(i.hazards.is_empty());
        }
    }
}

/// RFC 9293 §3.10.7.4: TIME-WAIT answers a retransmitted FIN with an ACK. Answering with
/// RST breaks `time-wait-fin-reacked`; the ACK is the near miss.
#[test]
fn time_wait_fin_reacked() {
    let mut bad = Script::new(true, true);
    bad.four_way().s(300, F | A, 11, 12, 0).c(1, R, 12, 0, 0);
    let c = bad.judge("linux");
    assert_eq!(violated(only(&c)), "time-wait-fin-reacked");
    let v = only(&c).violation.as_ref().unwrap();
    assert_eq!(v.frames, vec![12]);
    assert!(v.explanation.contains("TIME-WAIT"), "{}", v.explanation);

    let mut good = Script::new(true, true);
    good.four_way().s(300, F | A, 11, 12, 0).c(1, A, 12, 12, 0);
    let c = good.judge("linux");
    conforming(only(&c));
    assert_eq!(
        only(&c).classification,
        Classification::LostFinalAckRecovered
    );
}

/// The re-ACK is owed: a TIME-WAIT host that stays silent past the ACK delay bound of
/// RFC 9293 §3.8.6.3 (0.5 s) while the peer keeps retransmitting is flagged; from the
/// peer's host the same silence is indistinguishable from loss and is not.
#[test]
fn a_missing_re_ack_in_time_wait_is_flagged_only_where_it_is_visible() {
    let mut silent = Script::new(true, true);
    silent
        .four_way()
        .s(300, F | A, 11, 12, 0)
        .s(1200, F | A, 11, 12, 0)
        .c(1, A, 12, 12, 0);
    assert_eq!(
        violated(only(&silent.judge("linux"))),
        "time-wait-fin-reacked"
    );

    // The client's final ACK and its first re-ACK are lost before the server's host.
    let mut seen_from_server = Script::new(false, true);
    seen_from_server
        .four_way_to_server_fin()
        .s(300, F | A, 11, 12, 0)
        .s(1200, F | A, 11, 12, 0)
        .c(1, A, 12, 12, 0);
    let c = seen_from_server.judge("linux");
    conforming(only(&c));
}

/// TIME-WAIT lasts its 2MSL (60 s on Linux) unless the description reuses it: a client that
/// reconnects 10 s into it breaks `time-wait-expired`; at 61 s it is a new incarnation
/// after TIME-WAIT.
#[test]
fn time_wait_expired() {
    let mut early = Script::new(true, true);
    early
        .four_way()
        .reopen(C_ISN + 100_000, S_ISN + 100_000)
        .c(10_000, S, 0, 0, 0);
    let c = early.judge("linux");
    let second = c.incarnations.last().unwrap();
    assert_eq!(violated(second), "time-wait-expired");
    assert!(
        second
            .violation
            .as_ref()
            .unwrap()
            .explanation
            .contains("into TIME-WAIT")
    );

    let mut late = Script::new(true, true);
    late.four_way().reopen(C_ISN + 100_000, S_ISN + 100_000);
    late.c(61_000, S, 0, 0, 0)
        .s(1, S | A, 0, 1, 0)
        .c(1, A, 1, 1, 0);
    let c = late.judge("linux");
    assert_eq!(c.incarnations.len(), 2);
    conforming(&c.incarnations[0]);
    let second = &c.incarnations[1];
    assert_ne!(second.verdict, Verdict::Violation, "{second:#?}");
    let reuse = second.reuse.as_ref().expect("a reuse of the 4-tuple");
    assert!(!reuse.inside_time_wait);
}

/// Having flagged a reopening inside TIME-WAIT, replay goes on as the stack did (the model's
/// reuse rule for that SYN alone): the new incarnation's close leaves its own TIME-WAIT, and
/// a further reopening is judged against that one — 55 s into it here, though 65 s after the
/// first incarnation's close, past the first TIME-WAIT. Stopped at the first violation,
/// replay would have started the third incarnation from a world without any TIME-WAIT and
/// passed it. The reuse the stack made is listed as a hazard beside the violation.
#[test]
fn a_reopening_inside_time_wait_is_judged_against_the_time_wait_it_reopened() {
    let script = |third_after_ms: u64| {
        let mut s = Script::new(true, true);
        s.four_way()
            .reopen(C_ISN + 100_000, S_ISN + 100_000)
            .four_way_after(10_000)
            .reopen(C_ISN + 200_000, S_ISN + 200_000)
            .four_way_after(third_after_ms);
        s.judge("linux")
    };
    let c = script(55_000);
    assert_eq!(c.incarnations.len(), 3, "{c:#?}");
    conforming(&c.incarnations[0]);
    for (i, into) in [(1, "10.0"), (2, "55.0")] {
        let inc = &c.incarnations[i];
        assert_eq!(violated(inc), "time-wait-expired");
        let why = &inc.violation.as_ref().unwrap().explanation;
        assert!(
            why.contains(into) && why.contains("s into TIME-WAIT"),
            "{why}"
        );
        assert_eq!(inc.time_wait_held_by, Some("client"), "{inc:#?}");
        let hazards: Vec<_> = inc.hazards.iter().map(|h| h.hazard).collect();
        assert_eq!(hazards, ["reuse-in-time-wait-with-paws"]);
    }
    // The near miss: 61 s after the second close, past its TIME-WAIT too.
    let c = script(61_000);
    assert_eq!(c.incarnations.len(), 3, "{c:#?}");
    assert_eq!(violated(&c.incarnations[1]), "time-wait-expired");
    conforming(&c.incarnations[2]);
    assert!(c.incarnations[2].hazards.is_empty(), "{c:#?}");
}

/// RFC 6191: reusing the 4-tuple inside TIME-WAIT without timestamps is safe only with an
/// ISN above the old sequence space (`tw-reuse-without-timestamps` lets connect() reuse it).
#[test]
fn reuse_without_paws() {
    let mut below = Script::new(true, false);
    below
        .four_way()
        .reopen(C_ISN + 5, S_ISN + 100_000)
        .c(1000, S, 0, 0, 0)
        .s(1, S | A, 0, 1, 0);
    let c = below.judge("tw-reuse-without-timestamps");
    let second = c.incarnations.last().unwrap();
    assert_eq!(violated(second), "reuse-without-paws");

    let mut above = Script::new(true, false);
    above
        .four_way()
        .reopen(C_ISN + 100_000, S_ISN + 100_000)
        .c(1000, S, 0, 0, 0)
        .s(1, S | A, 0, 1, 0)
        .c(1, A, 1, 1, 0);
    let c = above.judge("tw-reuse-without-timestamps");
    let second = c.incarnations.last().unwrap();
    assert_ne!(second.verdict, Verdict::Violation, "{second:#?}");
    assert!(
        second
            .hazards
            .iter()
            .any(|h| h.hazard == "reuse-in-time-wait-without-paws"),
        "{second:#?}"
    );
}

/// A description that lets connect() replace TIME-WAIT still lets TIME-WAIT end by its
/// timer: a SYN from below the old sequence space 61 s into Linux's 60 s TIME-WAIT is a
/// connect after expiry (RFC 9293 §3.10.8), not a reuse inside it. (The replay once
/// preferred the replacing connect wherever the description allowed one; smoltcp's
/// `tw-reuse-after-timewait` capture was judged `reuse-without-paws` by it.)
#[test]
fn connect_after_time_wait_expired_is_not_a_reuse_even_where_reuse_is_allowed() {
    let mut late = Script::new(true, false);
    late.four_way()
        .reopen(C_ISN + 5, S_ISN + 100_000)
        .c(61_000, S, 0, 0, 0)
        .s(1, S | A, 0, 1, 0)
        .c(1, A, 1, 1, 0);
    let c = late.judge("tw-reuse-without-timestamps");
    let second = c.incarnations.last().unwrap();
    assert_ne!(second.verdict, Verdict::Violation, "{second:#?}");
    let reuse = second.reuse.as_ref().expect("a reuse of the 4-tuple");
    assert!(!reuse.inside_time_wait, "{reuse:#?}");
    assert!(second.hazards.is_empty(), "{second:#?}");
}

/// The same for a server that closed first, seen at either host: a SYN 61 s into Linux's
/// 60 s TIME-WAIT finds it expired (the listening socket answers), where 30 s in it
/// reopens TIME-WAIT (RFC 6191) and is listed as reuse inside it.
#[test]
fn a_syn_after_the_servers_time_wait_expired_is_not_a_reuse_inside_it() {
    for at_client in [false, true] {
        let run = |gap_ms: u64| {
            let mut sc = Script::new(at_client, false);
            sc.c(0, S, 0, 0, 0)
                .s(1, S | A, 0, 1, 0)
                .c(1, A, 1, 1, 0)
                .c(1, A, 1, 1, 10)
                .s(1, A, 1, 11, 0)
                .s(5, F | A, 1, 11, 0)
                .c(1, A, 11, 2, 0)
                .c(5, F | A, 11, 2, 0)
                .s(1, A, 2, 12, 0)
                .reopen(C_ISN + 100_000, S_ISN + 100_000)
                .c(gap_ms, S, 0, 0, 0)
                .s(1, S | A, 0, 1, 0)
                .c(1, A, 1, 1, 0);
            let c = sc.judge("linux");
            c.incarnations.last().unwrap().clone()
        };
        let late = run(61_000);
        let reuse = late.reuse.as_ref().expect("a reuse of the 4-tuple");
        assert!(!reuse.inside_time_wait, "{late:#?}");
        assert!(late.hazards.is_empty(), "{late:#?}");
        let early = run(30_000);
        assert!(
            early.reuse.as_ref().expect("a reuse").inside_time_wait,
            "{early:#?}"
        );
    }
}

/// RFC 9293 §3.10.2: SEND after CLOSE is an error; data after one's own FIN breaks
/// `app-send`. Data before the FIN is the near miss.
#[test]
fn data_after_fin() {
    let mut bad = Script::new(true, true);
    bad.c(0, S, 0, 0, 0)
        .s(1, S | A, 0, 1, 0)
        .c(1, A, 1, 1, 0)
        .c(1, F | A, 1, 1, 0)
        .c(1, A, 2, 1, 10);
    assert_eq!(violated(only(&bad.judge("linux"))), "app-send");

    let mut good = Script::new(true, true);
    good.c(0, S, 0, 0, 0)
        .s(1, S | A, 0, 1, 0)
        .c(1, A, 1, 1, 0)
        .c(1, A, 1, 1, 10)
        .c(1, F | A, 11, 1, 0)
        .s(1, A, 1, 12, 0)
        .s(1, F | A, 1, 12, 0)
        .c(1, A, 12, 2, 0);
    conforming(only(&good.judge("linux")));
}

/// RFC 9293 §3.10.5: ABORT in TIME-WAIT deletes the TCB without an RST; an RST sent from
/// TIME-WAIT on no segment breaks `app-abort-quiet`.
#[test]
fn rst_from_time_wait() {
    let mut bad = Script::new(true, true);
    bad.four_way().c(2000, R, 12, 0, 0);
    assert_eq!(violated(only(&bad.judge("linux"))), "app-abort-quiet");

    let mut good = Script::new(true, true);
    good.four_way();
    conforming(only(&good.judge("linux")));
}

/// An RST that ends TIME-WAIT: under descriptions that accept it (rfc9293, linux) the
/// client may reconnect at once and the oracle lists the hazard; under those that ignore
/// it (rfc9293+rfc1337, freebsd) TIME-WAIT still runs and the reconnection breaks the rule.
#[test]
fn time_wait_ended_by_rst() {
    let script = || {
        let mut s = Script::new(true, true);
        s.four_way()
            .s(100, R, 12, 0, 0)
            .reopen(C_ISN + 100_000, S_ISN + 100_000)
            .c(1000, S, 0, 0, 0)
            .s(1, S | A, 0, 1, 0)
            .c(1, A, 1, 1, 0);
        s
    };
    for stack in ["rfc9293", "linux"] {
        let c = script().judge(stack);
        assert!(
            c.incarnations
                .iter()
                .all(|i| i.verdict != Verdict::Violation),
            "{stack}: {c:#?}"
        );
        assert!(
            c.incarnations
                .iter()
                .flat_map(|i| &i.hazards)
                .any(|h| h.hazard == "time-wait-assassinated"),
            "{stack}: {c:#?}"
        );
    }
    for stack in ["rfc9293+rfc1337", "freebsd"] {
        let c = script().judge(stack);
        assert!(
            c.incarnations
                .iter()
                .any(|i| i.verdict == Verdict::Violation),
            "{stack}: {c:#?}"
        );
    }
}

/// An ACK of octets the capture never showed is the capture's fault, not the stack's.
#[test]
fn an_ack_of_unseen_data_is_capture_loss() {
    let mut s = Script::new(true, true);
    s.c(0, S, 0, 0, 0)
        .s(1, S | A, 0, 1, 0)
        .c(1, A, 1, 1, 0)
        .c(1, A, 1, 501, 0);
    let i = only(&s.judge("linux")).clone();
    assert_eq!(i.verdict, Verdict::Inconclusive);
    assert_eq!(i.inconclusive, Some(Inconclusive::CaptureLoss));
}

/// A capture that starts mid-stream is replayed from a synchronised state; a close it sees
/// whole conforms, one it does not see is inconclusive.
#[test]
fn mid_stream_captures() {
    let mut whole = Script::new(true, true);
    whole
        .c(0, A, 11, 11, 0)
        .c(5, F | A, 11, 11, 0)
        .s(1, A, 11, 12, 0)
        .s(5, F | A, 11, 12, 0)
        .c(1, A, 12, 12, 0);
    let c = whole.judge("linux");
    let i = only(&c);
    conforming(i);
    assert!(i.started_mid_stream);

    let mut cut = Script::new(true, true);
    cut.c(0, A, 11, 11, 0).s(1, A, 11, 11, 10);
    let c = cut.judge("linux");
    assert_eq!(only(&c).inconclusive, Some(Inconclusive::StartedMidStream));
}

/// A simultaneous close passes through CLOSING on both sides, and both hold TIME-WAIT.
#[test]
fn simultaneous_close() {
    let mut s = Script::new(true, true);
    s.c(0, S, 0, 0, 0)
        .s(1, S | A, 0, 1, 0)
        .c(1, A, 1, 1, 0)
        .c(5, F | A, 1, 1, 0)
        .s(0, F | A, 1, 1, 0)
        .c(1, A, 2, 2, 0)
        .s(0, A, 2, 2, 0);
    let c = s.judge("linux");
    let i = only(&c);
    conforming(i);
    assert_eq!(i.classification, Classification::Simultaneous);
    assert_eq!(i.time_wait_held_by, Some("both"));
}

/// Replay finishes a connection once it has been silent for longer than any timer of its
/// stacks runs, so that memory follows the connections alive in a long capture. A new
/// incarnation of the 4-tuple after that is judged on its own like any other.
#[test]
fn a_four_tuple_back_after_a_long_silence_is_a_new_incarnation_judged_on_its_own() {
    for at_client in [true, false] {
        let mut s = Script::new(at_client, true);
        s.four_way()
            .reopen(C_ISN + 50_000_000, S_ISN + 50_000_000)
            .four_way_after(3_600_000);
        let c = s.judge("linux");
        assert_eq!(c.incarnations.len(), 2, "{c:#?}");
        for (n, i) in c.incarnations.iter().enumerate() {
            assert_eq!(i.incarnation, n);
            conforming(i);
            assert_eq!(i.time_wait_held_by, Some("client"));
            // Plainly CONFORMING: no ladder kept unless every ladder was asked for.
            assert!(i.ladder.is_empty());
        }
        // Outside TIME-WAIT by far: no reuse to judge.
        assert!(c.incarnations[1].hazards.is_empty(), "{c:#?}");
    }
}

/// An open connection may idle for hours: it is never finished early, and what follows the
/// silence is judged with everything before it.
#[test]
fn an_open_connection_idle_for_an_hour_is_judged_whole() {
    let mut s = Script::new(true, true);
    s.established_after(0)
        .c(3_600_000, F | A, 11, 11, 0)
        .s(1, A, 11, 12, 0)
        .s(5, F | A, 11, 12, 0)
        .c(1, A, 12, 12, 0);
    let c = s.judge("linux");
    let i = only(&c);
    conforming(i);
    assert_eq!(i.classification, Classification::FourWay);
}

/// More segments of an incarnation already finished after its silence are not judged
/// against a state replay no longer holds: they are reported apart, as such. (Seen from
/// the server's host, whose LAST-ACK the final ACK ends: every story has both sides done.)
#[test]
fn segments_of_a_closed_incarnation_after_its_silence_are_reported_apart() {
    let mut s = Script::new(false, true);
    s.four_way().c(3_600_000, A, 12, 12, 0);
    let c = s.judge("linux");
    assert_eq!(c.incarnations.len(), 2, "{c:#?}");
    conforming(&c.incarnations[0]);
    let late = &c.incarnations[1];
    assert_eq!(late.incarnation, 0, "the same incarnation, resumed");
    assert_eq!(late.verdict, Verdict::Inconclusive, "{late:#?}");
    assert_eq!(late.inconclusive, Some(Inconclusive::ResumedAfterSilence));
}

/// A segment lives at most MSL in the network (RFC 9293 §3.4.2; the checker's network never
/// lets one age past it): an ACK the server emitted and the capture never showed may turn
/// up late, delayed on its way, but not once it is older than the MSL of the description
/// (Linux: 30 s). Captured at the client, the server's own host unseen.
#[test]
fn an_emission_older_than_msl_cannot_explain_a_late_segment() {
    // The server answers the client's FIN with FIN+ACK; the model's server emits the ACK
    // of the FIN first, which may have been sent apart, delayed, and arrive `late_ms` later.
    let script = |late_ms: u64| {
        let mut s = Script::new(true, true);
        s.established_after(0)
            .c(5, F | A, 11, 11, 0)
            .s(5, F | A, 11, 12, 0)
            .c(1, A, 12, 12, 0)
            .s(late_ms, A, 11, 12, 0);
        s
    };
    conforming(only(&script(29_000).judge("linux")));
    let c = script(31_000).judge("linux");
    let late = only(&c);
    assert_eq!(late.verdict, Verdict::Violation, "{late:#?}");
    let v = late.violation.as_ref().unwrap();
    assert_eq!(v.frames, [10]);
    assert!(
        v.explanation.contains("matches no segment the model emits"),
        "{}",
        v.explanation
    );
    // The description's MSL decides: RFC 9293's is 2 minutes.
    conforming(only(&script(31_000).judge("rfc9293")));
}
