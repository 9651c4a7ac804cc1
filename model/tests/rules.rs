//! One test per [`Rule`]: a concrete TCB at full scale (32-bit sequence numbers, time in
//! nanoseconds), in the state the rule speaks of, configured from a built-in stack
//! description; one event; and what RFC 9293 (or the RFC the rule cites) says must follow:
//! the rule reported, the next state, the exact segment sent and the timers.
//!
//! Every test is listed in `COVERED` at the end, and `every_rule_has_a_test` fails for a
//! rule without one.

use teardown_model::builtins::builtin;
use teardown_model::endpoint::{AppCall, Config, Role, State, Step, Tcb, TimerKind};
use teardown_model::rules::Rule;
use teardown_model::segment::{Flags, Ghost, Segment};
use teardown_model::stack::{Behaviour, StackDescription};

type Tcb32 = Tcb<u32, u64>;
type Step32 = Step<u32, u64>;

/// Nanoseconds per millisecond and per second.
const MS: u64 = 1_000_000;
const SEC: u64 = 1_000 * MS;
/// When the tests start: an hour into a capture.
const T0: u64 = 3_600 * SEC;
/// Our ISS, close to 2^32 so that SND.NXT wraps through 0 as we send.
const ISS: u32 = u32::MAX - 5;
/// The peer's ISS, above 2^31 so that comparisons must be modular.
const IRS: u32 = 3_000_000_000;
/// The ISN our endpoint uses when a segment opens a new incarnation (not used by most rules).
const NEW_ISS: u32 = 777_000;
/// RCV.WND offered by every endpoint.
const WINDOW: u32 = 65_535;
/// How far above the old SND.NXT a new incarnation's ISN lies (Linux: 65535 + 2).
const ISN_GAP: u32 = 65_537;

const SYN: Flags = Flags::SYN;
const ACK: Flags = Flags::ACK;
const FIN: Flags = Flags::FIN;
const RST: Flags = Flags::RST;

// ------------------------------------------------------------------------- configuration

/// The built-in stack description `name`.
fn stack(name: &str) -> StackDescription {
    builtin(name)
        .unwrap_or_else(|| panic!("no built-in stack `{name}`"))
        .stack
}

/// A stack description at full scale: its timers converted from milliseconds to nanoseconds.
fn config_of(s: &StackDescription) -> Config<u64> {
    Config {
        behaviour: s.behaviour,
        events: s.events,
        time_wait: s.timers.time_wait_ms.map(|ms| ms * MS),
        rto: s.timers.rto_ms * MS,
        max_retries: s.timers.max_retries,
        fin_wait_2: s.timers.fin_wait_2_ms.map(|ms| ms * MS),
        window: WINDOW,
        isn_gap: ISN_GAP,
    }
}

fn config(name: &str) -> Config<u64> {
    config_of(&stack(name))
}

/// A built-in with one behaviour knob changed.
fn config_with(name: &str, f: impl FnOnce(&mut Behaviour)) -> Config<u64> {
    let mut c = config(name);
    f(&mut c.behaviour);
    c
}

// ------------------------------------------------------------------------- segments

fn seg(flags: Flags, seq: u32, ack: u32, len: u32) -> Segment<u32> {
    Segment {
        flags,
        seq,
        ack,
        len,
        tsval: None,
        ghost: Ghost::default(),
    }
}

fn with_ts(mut s: Segment<u32>, tsval: u32) -> Segment<u32> {
    s.tsval = Some(tsval);
    s
}

/// The peer's pure ACK of everything we sent: `<SEQ=RCV.NXT><ACK=SND.NXT><CTL=ACK>`.
fn ack_of_all(t: &Tcb32) -> Segment<u32> {
    seg(ACK, t.rcv_nxt, t.snd_nxt, 0)
}

/// The peer's FIN, next in order, acknowledging everything we sent.
fn fin_acking_all(t: &Tcb32) -> Segment<u32> {
    seg(FIN | ACK, t.rcv_nxt, t.snd_nxt, 0)
}

/// Asserts the segment sent, field by field (`ack` is 0 where the ACK bit is off).
#[track_caller]
fn assert_sent(out: Option<Segment<u32>>, flags: Flags, seq: u32, ack: u32, len: u32) {
    let s = out.expect("a segment is sent");
    assert_eq!(
        (s.flags, s.seq, s.ack, s.len),
        (flags, seq, ack, len),
        "sent {s:?}"
    );
}

#[track_caller]
fn assert_nothing_sent(step: &Step32) {
    assert_eq!(step.out, None, "nothing is sent");
}

// ------------------------------------------------------------------------- driving a TCB

/// An application call that must be possible; asserts the rule and the next state.
#[track_caller]
fn app(t: &Tcb32, call: AppCall<u32>, now: u64, c: &Config<u64>, rule: Rule, to: State) -> Step32 {
    let step = t
        .on_app(call, now, c)
        .unwrap_or_else(|| panic!("{call:?} is not possible in {:?}", t.state));
    assert_eq!(
        (step.rule, step.tcb.state),
        (rule, to),
        "{call:?} in {:?}",
        t.state
    );
    step
}

/// A segment arrives; asserts the rule and the next state.
#[track_caller]
fn arrive(t: &Tcb32, s: Segment<u32>, now: u64, c: &Config<u64>, rule: Rule, to: State) -> Step32 {
    let step = t.on_segment(&s, now, c, NEW_ISS);
    assert_eq!(
        (step.rule, step.tcb.state),
        (rule, to),
        "{s:?} in {:?}",
        t.state
    );
    step
}

/// The running timer fires at `now`; asserts the rule and the next state.
#[track_caller]
fn fire(t: &Tcb32, now: u64, c: &Config<u64>, rule: Rule, to: State) -> Step32 {
    let step = t
        .on_timer(now, c)
        .unwrap_or_else(|| panic!("no timer due at {now} in {:?}: {:?}", t.state, t.timer));
    assert_eq!(
        (step.rule, step.tcb.state),
        (rule, to),
        "timer in {:?}",
        t.state
    );
    step
}

/// What a deleted connection TCB leaves behind: CLOSED, or LISTEN for the server's socket.
fn gone(role: Role) -> State {
    match role {
        Role::Client => State::Closed,
        Role::Server => State::Listen,
    }
}

fn established(role: Role, c: &Config<u64>) -> Tcb32 {
    Tcb::established(role, ISS, IRS, c)
}

/// ESTABLISHED with `len` octets sent at T0 and not yet acknowledged.
fn established_with_data(role: Role, c: &Config<u64>, len: u32) -> Tcb32 {
    let t = established(role, c);
    app(
        &t,
        AppCall::Send { len },
        T0,
        c,
        Rule::AppSend,
        State::Established,
    )
    .tcb
}

/// No TCB (the client's side of the 4-tuple), remembering the last sequence numbers.
fn closed(c: &Config<u64>) -> Tcb32 {
    Tcb {
        state: State::Closed,
        timer: None,
        ..established(Role::Client, c)
    }
}

/// The server's listening socket.
fn listen(c: &Config<u64>) -> Tcb32 {
    Tcb {
        state: State::Listen,
        timer: None,
        ..established(Role::Server, c)
    }
}

/// SYN-SENT after an active OPEN with ISS `NEW_ISS` at T0.
fn syn_sent(c: &Config<u64>) -> Tcb32 {
    let call = AppCall::Connect { iss: NEW_ISS };
    app(&closed(c), call, T0, c, Rule::AppConnect, State::SynSent).tcb
}

/// The peer's ISS in the handshakes below.
const PEER_ISS: u32 = 123_456;

/// SYN-RECEIVED after LISTEN got `<SEQ=PEER_ISS><CTL=SYN>` at T0 (our ISS: `NEW_ISS`).
fn syn_received(c: &Config<u64>) -> Tcb32 {
    let syn = seg(SYN, PEER_ISS, 0, 0);
    arrive(
        &listen(c),
        syn,
        T0,
        c,
        Rule::ListenSynAccepted,
        State::SynReceived,
    )
    .tcb
}

/// FIN-WAIT-1 after `call` (close or shutdown) in ESTABLISHED at T0.
fn fin_wait_1(role: Role, c: &Config<u64>, call: AppCall<u32>) -> Tcb32 {
    let t = established(role, c);
    app(&t, call, T0, c, Rule::AppCloseFinWait1, State::FinWait1).tcb
}

/// FIN-WAIT-2: FIN-WAIT-1 whose FIN the peer acknowledged at T0.
fn fin_wait_2(role: Role, c: &Config<u64>, call: AppCall<u32>) -> Tcb32 {
    let t = fin_wait_1(role, c, call);
    arrive(
        &t,
        ack_of_all(&t),
        T0,
        c,
        Rule::FinWait1FinAcked,
        State::FinWait2,
    )
    .tcb
}

/// TIME-WAIT entered at T0 through FIN-WAIT-2 (after shutdown()).
fn time_wait(role: Role, c: &Config<u64>) -> Tcb32 {
    let t = fin_wait_2(role, c, AppCall::Shutdown);
    let step = arrive(
        &t,
        fin_acking_all(&t),
        T0,
        c,
        Rule::FinWait2EntersTimeWait,
        State::TimeWait,
    );
    assert_eq!(step.tcb.timer, Some(T0 + c.time_wait.expect("TIME-WAIT")));
    step.tcb
}

/// CLOSE-WAIT: the peer's FIN arrived in ESTABLISHED at T0.
fn close_wait(role: Role, c: &Config<u64>) -> Tcb32 {
    let t = established(role, c);
    arrive(
        &t,
        fin_acking_all(&t),
        T0,
        c,
        Rule::FinEntersCloseWait,
        State::CloseWait,
    )
    .tcb
}

/// LAST-ACK: close() in CLOSE-WAIT at T0.
fn last_ack(role: Role, c: &Config<u64>) -> Tcb32 {
    let t = close_wait(role, c);
    app(
        &t,
        AppCall::Close,
        T0,
        c,
        Rule::AppCloseLastAck,
        State::LastAck,
    )
    .tcb
}

/// CLOSING: simultaneous close, the peer's FIN crossed ours (it acknowledges nothing new).
fn closing(role: Role, c: &Config<u64>) -> Tcb32 {
    let t = fin_wait_1(role, c, AppCall::Shutdown);
    let fin = seg(FIN | ACK, t.rcv_nxt, t.snd_una, 0);
    arrive(&t, fin, T0, c, Rule::FinEntersClosing, State::Closing).tcb
}

// ========================================================================= application calls

/// RFC 9293 §3.10.1: active OPEN sends `<SEQ=ISS><CTL=SYN>`, sets SND.UNA=ISS,
/// SND.NXT=ISS+1 and enters SYN-SENT, with the retransmission timer running.
#[test]
fn app_connect() {
    let c = config("rfc9293");
    let t = closed(&c);
    let call = AppCall::Connect { iss: NEW_ISS };
    let step = app(&t, call, T0, &c, Rule::AppConnect, State::SynSent);
    assert_sent(step.out, SYN, NEW_ISS, 0, 0);
    let n = step.tcb;
    assert_eq!(
        (n.iss, n.snd_una, n.snd_nxt),
        (NEW_ISS, NEW_ISS, NEW_ISS + 1)
    );
    assert_eq!(n.timer, Some(T0 + SEC), "RTO of 1 s armed for the SYN");
    assert_eq!(n.timer_kind(), Some(TimerKind::Retransmit));
    assert_eq!(n.incarnation, t.incarnation + 1, "a new incarnation");
    // OPEN is not a call an ESTABLISHED connection takes, and without tcp_tw_reuse a
    // TIME-WAIT TCB keeps its 4-tuple.
    assert_eq!(established(Role::Client, &c).on_app(call, T0, &c), None);
    assert_eq!(time_wait(Role::Client, &c).on_app(call, T0, &c), None);
}

/// Linux tcp_tw_reuse, RFC 6191: an outgoing connect() replaces a TIME-WAIT TCB; the new
/// ISN lies above the old SND.NXT and TS.Recent is kept, so PAWS protects the new
/// incarnation from the old one's segments.
#[test]
fn app_connect_reuse_time_wait() {
    let c = config("tw-reuse-with-timestamps");
    let t = fin_wait_2(Role::Client, &c, AppCall::Shutdown);
    let fin = with_ts(fin_acking_all(&t), 5_000);
    let tw = arrive(
        &t,
        fin,
        T0,
        &c,
        Rule::FinWait2EntersTimeWait,
        State::TimeWait,
    )
    .tcb;
    assert_eq!(tw.ts_recent, Some(5_000));
    let ([iss, _], _) = tw.isn_candidates(&c);
    assert_eq!(iss, tw.snd_nxt.wrapping_add(ISN_GAP));
    let now = T0 + SEC;
    let step = app(
        &tw,
        AppCall::Connect { iss },
        now,
        &c,
        Rule::AppConnectReuseTimeWait,
        State::SynSent,
    );
    assert_sent(step.out, SYN, iss, 0, 0);
    let n = step.tcb;
    assert_eq!((n.snd_una, n.snd_nxt), (iss, iss.wrapping_add(1)));
    assert_eq!(n.ts_recent, Some(5_000), "TS.Recent survives the reuse");
    assert_eq!(step.out.and_then(|s| s.tsval), Some(tw.ts_clock + 1));
    assert_eq!(n.timer, Some(now + SEC));
    // Near miss: Linux's default (tcp_tw_reuse off for non-loopback) refuses.
    let linux = config("linux");
    let tw = time_wait(Role::Client, &linux);
    assert_eq!(tw.on_app(AppCall::Connect { iss }, now, &linux), None);
}

/// RFC 9293 §3.10.2: SEND in ESTABLISHED or CLOSE-WAIT transmits
/// `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>` with the data and advances SND.NXT; RFC 6298 §5.1
/// starts the retransmission timer. After our FIN, SEND is an error.
#[test]
fn app_send() {
    let c = config("rfc9293");
    for t in [established(Role::Client, &c), close_wait(Role::Client, &c)] {
        let step = app(
            &t,
            AppCall::Send { len: 100 },
            T0,
            &c,
            Rule::AppSend,
            t.state,
        );
        assert_sent(step.out, ACK, t.snd_nxt, t.rcv_nxt, 100);
        // ISS is 2^32 - 6: SND.NXT wraps.
        assert_eq!(step.tcb.snd_nxt, t.snd_nxt.wrapping_add(100));
        assert!(step.tcb.snd_nxt < t.snd_nxt, "wrapped through 0");
        assert_eq!(step.tcb.snd_una, t.snd_una);
        assert_eq!(step.tcb.timer, Some(T0 + SEC));
    }
    let fw1 = fin_wait_1(Role::Client, &c, AppCall::Shutdown);
    assert_eq!(fw1.on_app(AppCall::Send { len: 1 }, T0, &c), None);
}

/// RFC 9293 §3.10.4: CLOSE (or shutdown(SHUT_WR)) in ESTABLISHED or SYN-RECEIVED sends
/// `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=FIN,ACK>` and enters FIN-WAIT-1; the FIN takes one
/// sequence number and is retransmitted until acknowledged.
#[test]
fn app_close_send_fin() {
    let c = config("rfc9293");
    let t = established(Role::Client, &c);
    for call in [AppCall::Close, AppCall::Shutdown] {
        let step = app(&t, call, T0, &c, Rule::AppCloseFinWait1, State::FinWait1);
        assert_sent(step.out, FIN | ACK, t.snd_nxt, t.rcv_nxt, 0);
        assert_eq!(step.tcb.snd_nxt, t.snd_nxt.wrapping_add(1));
        assert_eq!(step.tcb.snd_una, t.snd_una);
        assert_eq!(step.tcb.timer, Some(T0 + SEC));
        // close() also shuts the read side (half-duplex close, §3.6.1 MAY-1).
        assert_eq!(step.tcb.read_closed, call == AppCall::Close);
    }
    let sr = syn_received(&c);
    let step = app(
        &sr,
        AppCall::Close,
        T0 + 1,
        &c,
        Rule::AppCloseFinWait1,
        State::FinWait1,
    );
    assert_sent(step.out, FIN | ACK, NEW_ISS + 1, PEER_ISS + 1, 0);
    assert_eq!(
        step.tcb.timer, sr.timer,
        "the SYN-ACK's timer keeps running"
    );
}

/// RFC 9293 §3.10.4: CLOSE in CLOSE-WAIT sends the FIN `<SEQ=SND.NXT><ACK=RCV.NXT>
/// <CTL=FIN,ACK>` and enters LAST-ACK.
#[test]
fn app_close_last_ack() {
    let c = config("rfc9293");
    let t = close_wait(Role::Server, &c);
    let now = T0 + 5 * SEC;
    let step = app(
        &t,
        AppCall::Close,
        now,
        &c,
        Rule::AppCloseLastAck,
        State::LastAck,
    );
    assert_sent(step.out, FIN | ACK, t.snd_nxt, t.rcv_nxt, 0);
    assert_eq!(t.rcv_nxt, IRS.wrapping_add(2), "the peer's FIN was counted");
    assert_eq!(step.tcb.snd_nxt, t.snd_nxt.wrapping_add(1));
    assert_eq!(step.tcb.timer, Some(now + SEC));
}

/// RFC 9293 §3.10.4 (and §3.10.5 for ABORT): CLOSE in SYN-SENT deletes the TCB; no
/// segment is sent (the peer has no connection yet).
#[test]
fn app_close_syn_sent() {
    let c = config("rfc9293");
    let t = syn_sent(&c);
    for call in [AppCall::Close, AppCall::Abort] {
        let step = app(&t, call, T0 + 1, &c, Rule::AppCloseSynSent, State::Closed);
        assert_nothing_sent(&step);
        assert_eq!(step.tcb.timer, None, "no retransmission of the SYN");
    }
}

/// RFC 9293 §3.6.1 SHLD-3, RFC 2525 §2.17: close() with received data unread sends an
/// RST to show that data was lost, and deletes the TCB (no FIN, no TIME-WAIT). The RST
/// carries SEQ=SND.NXT so that an RFC 5961 peer accepts it exactly at its RCV.NXT.
#[test]
fn app_close_unread_data_reset() {
    let c = config("linux");
    for role in [Role::Client, Role::Server] {
        for t in [established(role, &c), close_wait(role, &c)] {
            let step = app(
                &t,
                AppCall::CloseUnread,
                T0 + 1,
                &c,
                Rule::AppCloseUnreadReset,
                gone(role),
            );
            assert_sent(step.out, RST | ACK, t.snd_nxt, t.rcv_nxt, 0);
            assert_eq!(step.tcb.timer, None);
        }
    }
}

/// RFC 9293 §3.10.5: ABORT in SYN-RECEIVED, ESTABLISHED, FIN-WAIT-1, FIN-WAIT-2 or
/// CLOSE-WAIT sends `<SEQ=SND.NXT><CTL=RST>` and enters CLOSED (no TIME-WAIT).
#[test]
fn app_abort_reset() {
    let c = config("abort-then-reopen");
    let cases = [
        syn_received(&c),
        established(Role::Server, &c),
        fin_wait_1(Role::Server, &c, AppCall::Close),
        fin_wait_2(Role::Server, &c, AppCall::Shutdown),
        close_wait(Role::Server, &c),
    ];
    for t in cases {
        let step = app(
            &t,
            AppCall::Abort,
            T0 + 1,
            &c,
            Rule::AppAbortReset,
            State::Listen,
        );
        assert_sent(step.out, RST, t.snd_nxt, 0, 0);
        assert_eq!(step.tcb.timer, None, "from {:?}", t.state);
    }
}

/// RFC 9293 §3.10.5: ABORT in CLOSING, LAST-ACK or TIME-WAIT responds "ok" and deletes the
/// TCB without sending an RST.
#[test]
fn app_abort_quiet() {
    let c = config("abort-then-reopen");
    let cases = [
        closing(Role::Client, &c),
        last_ack(Role::Client, &c),
        time_wait(Role::Client, &c),
    ];
    for t in cases {
        let step = app(
            &t,
            AppCall::Abort,
            T0 + 1,
            &c,
            Rule::AppAbortQuiet,
            State::Closed,
        );
        assert_nothing_sent(&step);
        assert_eq!(step.tcb.timer, None, "from {:?}", t.state);
    }
}

// ========================================================================= CLOSED, LISTEN, SYN-SENT

/// RFC 9293 §3.10.7.1: CLOSED answers a segment without RST with `<SEQ=SEG.ACK><CTL=RST>`
/// if it has ACK, else `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>` (SYN and FIN count in
/// SEG.LEN). This is the RST a peer meets when its retransmitted FIN outlives TIME-WAIT.
#[test]
fn closed_reset() {
    let c = config("rfc9293");
    let t = closed(&c);
    let fin = seg(FIN | ACK, 1_000, 2_000, 0);
    let step = arrive(&t, fin, T0, &c, Rule::ClosedReset, State::Closed);
    assert_sent(step.out, RST, 2_000, 0, 0);
    assert!(step.out.is_some_and(|s| s.ghost.answers_fin));
    let syn = seg(SYN, u32::MAX, 0, 0);
    let step = arrive(&t, syn, T0, &c, Rule::ClosedReset, State::Closed);
    assert_sent(step.out, RST | ACK, 0, 0, 0); // SEG.SEQ + 1 wraps to 0
    let data_fin = seg(FIN, 5_000, 0, 10);
    let step = arrive(&t, data_fin, T0, &c, Rule::ClosedReset, State::Closed);
    assert_sent(step.out, RST | ACK, 0, 5_011, 0);
    assert_eq!(step.tcb, t, "CLOSED stays CLOSED, nothing remembered");
}

/// RFC 9293 §3.10.7.1: in CLOSED "an incoming segment containing a RST is discarded".
#[test]
fn closed_rst_dropped() {
    let c = config("rfc9293");
    let t = closed(&c);
    for flags in [RST, RST | ACK] {
        let step = arrive(
            &t,
            seg(flags, 1_000, 2_000, 0),
            T0,
            &c,
            Rule::ClosedRstDropped,
            State::Closed,
        );
        assert_nothing_sent(&step);
        assert_eq!(step.tcb, t);
    }
}

/// RFC 9293 §3.10.7.2: a SYN in LISTEN sets RCV.NXT=SEG.SEQ+1, SND.NXT=ISS+1, SND.UNA=ISS,
/// sends `<SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>` and enters SYN-RECEIVED.
#[test]
fn listen_syn_accepted() {
    let c = config("linux");
    let t = listen(&c);
    let syn = with_ts(seg(SYN, u32::MAX, 0, 0), 42);
    let step = t.on_segment(&syn, T0, &c, NEW_ISS);
    assert_eq!(
        (step.rule, step.tcb.state),
        (Rule::ListenSynAccepted, State::SynReceived)
    );
    assert_sent(step.out, SYN | ACK, NEW_ISS, 0, 0); // RCV.NXT = 2^32 - 1 + 1 = 0
    let n = step.tcb;
    assert_eq!(
        (n.iss, n.snd_una, n.snd_nxt, n.rcv_nxt),
        (NEW_ISS, NEW_ISS, NEW_ISS + 1, 0)
    );
    assert_eq!(n.timer, Some(T0 + SEC), "the SYN-ACK is retransmitted");
    assert_eq!(
        n.ts_recent,
        Some(42),
        "TS.Recent from the SYN (RFC 7323 §4.3)"
    );
    assert!(step.rule.accepts_segment());
}

/// RFC 9293 §3.10.7.2: in LISTEN "any acknowledgment is bad if it arrives on a connection
/// still in the LISTEN state": answer `<SEQ=SEG.ACK><CTL=RST>`. The ACK check comes before
/// the SYN check, so a SYN-ACK is reset too.
#[test]
fn listen_ack_reset() {
    let c = config("rfc9293");
    let t = listen(&c);
    for flags in [ACK, FIN | ACK, SYN | ACK] {
        let step = arrive(
            &t,
            seg(flags, 1_000, 9_999, 0),
            T0,
            &c,
            Rule::ListenAckReset,
            State::Listen,
        );
        assert_sent(step.out, RST, 9_999, 0, 0);
        assert_eq!(step.tcb, t);
    }
}

/// RFC 9293 §3.10.7.2: in LISTEN an RST is ignored, and a segment with none of SYN, ACK,
/// RST is dropped ("you are unlikely to get here").
#[test]
fn listen_dropped() {
    let c = config("rfc9293");
    let t = listen(&c);
    for flags in [RST, RST | ACK, FIN, Flags::empty()] {
        let step = arrive(
            &t,
            seg(flags, 1_000, 2_000, 5),
            T0,
            &c,
            Rule::ListenDropped,
            State::Listen,
        );
        assert_nothing_sent(&step);
        assert_eq!(step.tcb, t);
    }
}

/// RFC 9293 §3.10.7.3: in SYN-SENT a SYN with an acceptable ACK (ISS < SEG.ACK =< SND.NXT)
/// sets RCV.NXT=SEG.SEQ+1, SND.UNA=SEG.ACK, enters ESTABLISHED and sends
/// `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>`; nothing left to retransmit.
#[test]
fn syn_sent_established() {
    let c = config("rfc9293");
    let t = syn_sent(&c);
    let synack = seg(SYN | ACK, PEER_ISS, NEW_ISS + 1, 0);
    let step = arrive(
        &t,
        synack,
        T0 + 1,
        &c,
        Rule::SynSentEstablished,
        State::Established,
    );
    assert_sent(step.out, ACK, NEW_ISS + 1, PEER_ISS + 1, 0);
    let n = step.tcb;
    assert_eq!(
        (n.snd_una, n.snd_nxt, n.rcv_nxt),
        (NEW_ISS + 1, NEW_ISS + 1, PEER_ISS + 1)
    );
    assert_eq!(n.timer, None);
}

/// RFC 9293 §3.10.7.3: in SYN-SENT an ACK with SEG.ACK =< ISS or SEG.ACK > SND.NXT is
/// answered with `<SEQ=SEG.ACK><CTL=RST>` (unless it carries RST) and dropped.
#[test]
fn syn_sent_bad_ack_reset() {
    let c = config("rfc9293");
    let t = syn_sent(&c);
    for bad in [NEW_ISS, NEW_ISS + 2, NEW_ISS - 1000] {
        let step = arrive(
            &t,
            seg(SYN | ACK, PEER_ISS, bad, 0),
            T0 + 1,
            &c,
            Rule::SynSentBadAckReset,
            State::SynSent,
        );
        assert_sent(step.out, RST, bad, 0, 0);
        assert_eq!(step.tcb, t, "the connection attempt goes on");
    }
    // Near miss: with RST set the bad segment is only dropped.
    let step = arrive(
        &t,
        seg(RST | ACK, PEER_ISS, NEW_ISS + 2, 0),
        T0 + 1,
        &c,
        Rule::SynSentDropped,
        State::SynSent,
    );
    assert_nothing_sent(&step);
}

/// RFC 9293 §3.10.7.3: in SYN-SENT an RST whose ACK acknowledges our SYN refuses the
/// connection: CLOSED, nothing sent.
#[test]
fn syn_sent_reset() {
    let c = config("rfc9293");
    let t = syn_sent(&c);
    let step = arrive(
        &t,
        seg(RST | ACK, 0, NEW_ISS + 1, 0),
        T0 + 1,
        &c,
        Rule::SynSentReset,
        State::Closed,
    );
    assert_nothing_sent(&step);
    assert_eq!(step.tcb.timer, None);
}

/// RFC 9293 §3.10.7.3: in SYN-SENT an RST without ACK is dropped, an RST with an
/// unacceptable ACK is dropped, and a segment with neither SYN nor RST is dropped.
#[test]
fn syn_sent_dropped() {
    let c = config("rfc9293");
    let t = syn_sent(&c);
    let cases = [
        seg(RST, PEER_ISS, 0, 0),
        seg(RST | ACK, PEER_ISS, NEW_ISS, 0),
        seg(ACK, PEER_ISS, NEW_ISS + 1, 0),
        seg(FIN | ACK, PEER_ISS, NEW_ISS + 1, 0),
        seg(Flags::empty(), PEER_ISS, 0, 10),
    ];
    for s in cases {
        let step = arrive(&t, s, T0 + 1, &c, Rule::SynSentDropped, State::SynSent);
        assert_nothing_sent(&step);
        assert_eq!(step.tcb, t, "{s:?} changes nothing");
    }
}

// ========================================================================= first check

/// RFC 9293 §3.10.7.4 first check: a segment outside the receive window (Table 6) is
/// answered with `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>` and dropped.
#[test]
fn seq_unacceptable_ack() {
    let c = config("rfc9293");
    let t = established_with_data(Role::Client, &c, 10);
    let rcv = t.rcv_nxt;
    let cases = [
        seg(ACK, rcv.wrapping_add(WINDOW), t.snd_nxt, 0), // just right of the window
        seg(ACK, rcv.wrapping_sub(1), t.snd_nxt, 0),      // just left
        seg(ACK, rcv.wrapping_sub(100), t.snd_nxt, 50),   // old data, entirely left
        seg(FIN | ACK, rcv.wrapping_sub(1), t.snd_nxt, 0), // old FIN
    ];
    for s in cases {
        let step = arrive(&t, s, T0 + 1, &c, Rule::SeqUnacceptableAck, t.state);
        assert_sent(step.out, ACK, t.snd_nxt, rcv, 0);
        assert_eq!(step.tcb, t, "{s:?} is dropped: SND.UNA not advanced");
    }
    // Near misses: the last sequence number of the window is acceptable, and so is data
    // that starts left of the window but ends inside it.
    let edge = seg(ACK, rcv.wrapping_add(WINDOW - 1), t.snd_una, 0);
    arrive(&t, edge, T0 + 1, &c, Rule::AckDuplicate, t.state);
    let overlap = seg(ACK, rcv.wrapping_sub(5), t.snd_una, 6);
    let step = t.on_segment(&overlap, T0 + 1, &c, NEW_ISS);
    assert_ne!(step.rule, Rule::SeqUnacceptableAck);
}

/// RFC 9293 §3.10.7.4 first check: an unacceptable segment with RST is dropped silently
/// (RFC 5961 §3.2 1), too), in any synchronized state including TIME-WAIT.
#[test]
fn seq_unacceptable_rst_dropped() {
    for name in ["rfc9293", "linux"] {
        let c = config(name);
        for t in [established(Role::Client, &c), time_wait(Role::Client, &c)] {
            for seq in [
                t.rcv_nxt.wrapping_sub(1),
                t.rcv_nxt.wrapping_add(WINDOW),
                t.rcv_nxt.wrapping_add(1 << 31),
            ] {
                let step = arrive(
                    &t,
                    seg(RST, seq, 0, 0),
                    T0 + 1,
                    &c,
                    Rule::SeqUnacceptableRstDropped,
                    t.state,
                );
                assert_nothing_sent(&step);
                assert_eq!(step.tcb, t, "{name}: RST at {seq} in {:?}", t.state);
            }
        }
    }
}

/// RFC 7323 §5.3 R1: a non-RST segment whose TSval is older than TS.Recent is
/// unacceptable: answered with `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>` and dropped.
/// An RST is exempt from PAWS.
#[test]
fn paws_reject() {
    let c = config("linux");
    let t = established(Role::Client, &c);
    let probe = with_ts(ack_of_all(&t), 1_000);
    let t = arrive(&t, probe, T0, &c, Rule::AckDuplicate, State::Established).tcb;
    assert_eq!(t.ts_recent, Some(1_000));
    let old = with_ts(seg(ACK, t.rcv_nxt, t.snd_nxt, 10), 999);
    let step = arrive(&t, old, T0 + 1, &c, Rule::PawsReject, State::Established);
    assert_sent(step.out, ACK, t.snd_nxt, t.rcv_nxt, 0);
    assert_eq!(step.out.and_then(|s| s.tsval), Some(t.ts_clock));
    assert_eq!(step.tcb, t, "the data is not delivered");
    assert!(!step.rule.accepts_segment());
    // Near misses: the same segment with TSval = TS.Recent is delivered; an old RST is
    // still judged by its sequence number.
    let same = with_ts(seg(ACK, t.rcv_nxt, t.snd_nxt, 10), 1_000);
    arrive(
        &t,
        same,
        T0 + 1,
        &c,
        Rule::DataDelivered,
        State::Established,
    );
    let rst = with_ts(seg(RST, t.rcv_nxt, 0, 0), 999);
    arrive(&t, rst, T0 + 1, &c, Rule::RstResets, State::Closed);
}

/// RFC 9293 §3.10.7.4 fifth and eighth checks (TIME-WAIT): "The only thing that can arrive
/// in this state is a retransmission of the remote FIN. Acknowledge it, and restart the
/// 2 MSL timeout." The ACK is `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>`; the timer is restarted
/// to now + 2MSL.
#[test]
fn time_wait_fin_reacked() {
    let c = config("rfc9293+rfc1337");
    let tw = time_wait(Role::Client, &c);
    let now = T0 + 100 * SEC;
    let cases = [
        seg(FIN | ACK, tw.rcv_nxt.wrapping_sub(1), tw.snd_nxt, 0),
        // A retransmission that carries the last data with the FIN.
        seg(FIN | ACK, tw.rcv_nxt.wrapping_sub(11), tw.snd_nxt, 10),
    ];
    for fin in cases {
        let step = arrive(&tw, fin, now, &c, Rule::TimeWaitFinReacked, State::TimeWait);
        assert_sent(step.out, ACK, tw.snd_nxt, tw.rcv_nxt, 0);
        assert_eq!(step.tcb.timer, Some(now + 240 * SEC), "2MSL from now");
        assert_eq!(step.tcb.rcv_nxt, tw.rcv_nxt);
    }
    // Near miss: RFC 9293 read literally (no restart) still ACKs, by the first check, but
    // leaves the timer where it was.
    let lit = config("rfc9293");
    let tw = time_wait(Role::Client, &lit);
    let fin = seg(FIN | ACK, tw.rcv_nxt.wrapping_sub(1), tw.snd_nxt, 0);
    let step = arrive(
        &tw,
        fin,
        now,
        &lit,
        Rule::SeqUnacceptableAck,
        State::TimeWait,
    );
    assert_sent(step.out, ACK, tw.snd_nxt, tw.rcv_nxt, 0);
    assert_eq!(step.tcb.timer, Some(T0 + 240 * SEC));
}

/// Deviation from RFC 9293 §3.10.7.4 (U5, pre-#46407 Zephyr): TIME-WAIT drops a
/// retransmitted FIN without acknowledging it (and without touching the timer).
#[test]
fn time_wait_fin_ignored() {
    let c = config_with("rfc9293+rfc1337", |b| b.time_wait_acks_fin = false);
    let tw = time_wait(Role::Client, &c);
    let fin = seg(FIN | ACK, tw.rcv_nxt.wrapping_sub(1), tw.snd_nxt, 0);
    let step = arrive(
        &tw,
        fin,
        T0 + 100 * SEC,
        &c,
        Rule::TimeWaitFinIgnored,
        State::TimeWait,
    );
    assert_nothing_sent(&step);
    assert_eq!(step.tcb, tw);
}

// ========================================================================= second check: RST

/// RFC 9293 §3.10.7.4 second check: an acceptable RST in ESTABLISHED, FIN-WAIT-1/2,
/// CLOSE-WAIT, CLOSING or LAST-ACK enters CLOSED (LISTEN for a passive SYN-RECEIVED).
/// Acceptable is "in the window" for RFC 793 and "exactly RCV.NXT" for RFC 5961 §3.2.
#[test]
fn rst_resets_connection() {
    let rfc = config("rfc9293");
    let linux = config("linux");
    for role in [Role::Client, Role::Server] {
        let states = |c: &Config<u64>| {
            [
                established(role, c),
                fin_wait_1(role, c, AppCall::Close),
                fin_wait_2(role, c, AppCall::Shutdown),
                close_wait(role, c),
                closing(role, c),
                last_ack(role, c),
            ]
        };
        for t in states(&rfc) {
            let rst = seg(RST, t.rcv_nxt.wrapping_add(1_000), 0, 0);
            let step = arrive(&t, rst, T0 + 1, &rfc, Rule::RstResets, gone(role));
            assert_nothing_sent(&step);
            assert_eq!(step.tcb.timer, None);
        }
        for t in states(&linux) {
            let rst = seg(RST, t.rcv_nxt, 0, 0);
            let step = arrive(&t, rst, T0 + 1, &linux, Rule::RstResets, gone(role));
            assert_nothing_sent(&step);
            // Near miss: RFC 5961 answers the in-window RST that is not at RCV.NXT with a
            // challenge ACK instead.
            let near = seg(RST, t.rcv_nxt.wrapping_add(1_000), 0, 0);
            arrive(&t, near, T0 + 1, &linux, Rule::RstChallengeAck, t.state);
        }
    }
    // SYN-RECEIVED from a passive OPEN returns to LISTEN.
    let sr = syn_received(&rfc);
    let rst = seg(RST, PEER_ISS + 1, 0, 0);
    arrive(&sr, rst, T0 + 1, &rfc, Rule::RstResets, State::Listen);
}

/// RFC 9293 §3.10.7.4 second check (TIME-WAIT: "enter the CLOSED state, delete the TCB");
/// RFC 1337 calls this TIME-WAIT assassination. Linux with tcp_rfc1337=0 does it for an RST
/// at RCV.NXT.
#[test]
fn rst_closes_time_wait() {
    let c = config("linux");
    let tw = time_wait(Role::Client, &c);
    let step = arrive(
        &tw,
        seg(RST, tw.rcv_nxt, 0, 0),
        T0 + SEC,
        &c,
        Rule::RstClosesTimeWait,
        State::Closed,
    );
    assert_nothing_sent(&step);
    assert_eq!(step.tcb.timer, None, "TIME-WAIT cut short");
    assert!(T0 + SEC < tw.timer.expect("TIME-WAIT timer"));
    // Near miss: the RFC 1337 stack keeps TIME-WAIT.
    let safe = config("rfc9293+rfc1337");
    let tw = time_wait(Role::Client, &safe);
    let rst = seg(RST, tw.rcv_nxt, 0, 0);
    arrive(
        &tw,
        rst,
        T0 + SEC,
        &safe,
        Rule::RstIgnoredInTimeWait,
        State::TimeWait,
    );
}

/// RFC 1337 §3 fix F1: RST segments are ignored in TIME-WAIT, which runs its full length
/// (FreeBSD tcp_twcheck, Linux tcp_rfc1337=1).
#[test]
fn rst_ignored_in_time_wait() {
    for (name, offset) in [("rfc9293+rfc1337", 1_000), ("freebsd", 0)] {
        let c = config(name);
        let tw = time_wait(Role::Client, &c);
        let rst = seg(RST, tw.rcv_nxt.wrapping_add(offset), 0, 0);
        let step = arrive(
            &tw,
            rst,
            T0 + SEC,
            &c,
            Rule::RstIgnoredInTimeWait,
            State::TimeWait,
        );
        assert_nothing_sent(&step);
        assert_eq!(step.tcb.timer, tw.timer, "{name}: the timer is untouched");
    }
}

/// RFC 5961 §3.2 (RFC 9293 §3.10.7.4 second check, 3)): an RST in the window but not at
/// RCV.NXT is answered with the challenge ACK `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>` and
/// dropped.
#[test]
fn rst_challenge_ack() {
    let c = config("linux");
    let t = established_with_data(Role::Client, &c, 10);
    for seq in [
        t.rcv_nxt.wrapping_add(1),
        t.rcv_nxt.wrapping_add(WINDOW - 1),
    ] {
        let step = arrive(
            &t,
            seg(RST, seq, 0, 0),
            T0 + 1,
            &c,
            Rule::RstChallengeAck,
            State::Established,
        );
        assert_sent(step.out, ACK, t.snd_nxt, t.rcv_nxt, 0);
        assert_eq!(step.tcb, t);
    }
    // Near misses: exactly RCV.NXT resets; just outside the window is dropped silently.
    let at = seg(RST, t.rcv_nxt, 0, 0);
    arrive(&t, at, T0 + 1, &c, Rule::RstResets, State::Closed);
    let out = seg(RST, t.rcv_nxt.wrapping_add(WINDOW), 0, 0);
    arrive(
        &t,
        out,
        T0 + 1,
        &c,
        Rule::SeqUnacceptableRstDropped,
        State::Established,
    );
}

// ========================================================================= fourth check: SYN

/// RFC 5961 §4.2 (RFC 9293 §3.10.7.4 fourth check): a SYN in a synchronized state is
/// answered with the challenge ACK `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>` and dropped.
#[test]
fn syn_challenge_ack() {
    let c = config("linux");
    let cases = [
        established(Role::Server, &c),
        fin_wait_2(Role::Server, &c, AppCall::Shutdown),
        close_wait(Role::Server, &c),
        last_ack(Role::Server, &c),
    ];
    for t in cases {
        let syn = seg(SYN, t.rcv_nxt, 0, 0);
        let step = arrive(&t, syn, T0 + 1, &c, Rule::SynChallengeAck, t.state);
        assert_sent(step.out, ACK, t.snd_nxt, t.rcv_nxt, 0);
        assert_eq!(step.tcb, t);
    }
    // In TIME-WAIT a SYN-ACK is not a connection request: challenge ACK as well.
    let tw = time_wait(Role::Server, &c);
    let synack = seg(SYN | ACK, tw.rcv_nxt, tw.snd_nxt, 0);
    let step = arrive(
        &tw,
        synack,
        T0 + 1,
        &c,
        Rule::SynChallengeAck,
        State::TimeWait,
    );
    assert_sent(step.out, ACK, tw.snd_nxt, tw.rcv_nxt, 0);
}

/// RFC 9293 §3.10.7.4 fourth check, RFC 793 behaviour: an in-window SYN in a synchronized
/// state is an error: send a reset and enter CLOSED. The RFC does not spell the reset out;
/// the model sends the ABORT form of §3.10.5, `<SEQ=SND.NXT><CTL=RST>`, which the peer
/// accepts. A SYN outside the window gets the ACK of the first check instead.
#[test]
fn syn_in_window_reset() {
    let c = config("rfc9293");
    let cases = [
        established(Role::Client, &c),
        fin_wait_1(Role::Client, &c, AppCall::Close),
        close_wait(Role::Client, &c),
        time_wait(Role::Client, &c),
    ];
    for t in cases {
        let syn = seg(SYN, t.rcv_nxt.wrapping_add(10), 0, 0);
        let step = arrive(&t, syn, T0 + 1, &c, Rule::SynInWindowReset, State::Closed);
        assert_sent(step.out, RST, t.snd_nxt, 0, 0);
        assert_eq!(step.tcb.timer, None);
        // Near miss: out of the window.
        let far = seg(SYN, t.rcv_nxt.wrapping_add(WINDOW), 0, 0);
        let step = arrive(&t, far, T0 + 1, &c, Rule::SeqUnacceptableAck, t.state);
        assert_sent(step.out, ACK, t.snd_nxt, t.rcv_nxt, 0);
    }
}

/// RFC 9293 §3.6.1 MAY-2, RFC 6191: a SYN with a sequence number above RCV.NXT (or a newer
/// TSval) reopens the connection from TIME-WAIT into SYN-RECEIVED, with an ISN above the
/// largest sequence number used by the old incarnation; the SYN-ACK is
/// `<SEQ=ISS><ACK=SEG.SEQ+1><CTL=SYN,ACK>`.
#[test]
fn syn_reopens_time_wait() {
    let c = config("linux");
    let tw = time_wait(Role::Server, &c);
    let ([iss, _], n) = tw.isn_candidates(&c);
    assert_eq!(n, 1);
    assert!(iss.wrapping_sub(tw.snd_nxt) == ISN_GAP && iss != tw.snd_nxt);
    let now = T0 + 10 * SEC;
    let mut syn = with_ts(seg(SYN, tw.rcv_nxt.wrapping_add(100_000), 0, 0), 9);
    syn.ghost.incarnation = 2;
    let step = tw.on_segment(&syn, now, &c, iss);
    assert_eq!(
        (step.rule, step.tcb.state),
        (Rule::SynReopensTimeWait, State::SynReceived)
    );
    assert_sent(step.out, SYN | ACK, iss, syn.seq.wrapping_add(1), 0);
    let n = step.tcb;
    assert_eq!(
        (n.iss, n.snd_una, n.snd_nxt, n.rcv_nxt),
        (iss, iss, iss.wrapping_add(1), syn.seq.wrapping_add(1))
    );
    assert_eq!(n.timer, Some(now + SEC), "SYN-ACK retransmission, not 2MSL");
    assert_eq!(n.incarnation, 2);
    assert_eq!(n.ts_recent, Some(9));
    // An older sequence number with a newer TSval reopens too (RFC 6191 A.1).
    let tw_ts = Tcb {
        ts_recent: Some(500),
        ..tw
    };
    let newer_ts = with_ts(seg(SYN, tw.rcv_nxt.wrapping_sub(5), 0, 0), 501);
    let step = tw_ts.on_segment(&newer_ts, now, &c, iss);
    assert_eq!(step.rule, Rule::SynReopensTimeWait);
    // Near miss: neither newer: dropped.
    let old = with_ts(seg(SYN, tw.rcv_nxt, 0, 0), 500);
    let step = tw_ts.on_segment(&old, now, &c, iss);
    assert_eq!(
        (step.rule, step.tcb.state),
        (Rule::SynInTimeWaitDropped, State::TimeWait)
    );
}

/// RFC 6191 §2 (A.4, B.3), FreeBSD tcp_twcheck: a SYN in TIME-WAIT that is not newer
/// (SEG.SEQ =< RCV.NXT, no newer TSval) is dropped silently; TIME-WAIT goes on.
#[test]
fn syn_in_time_wait_dropped() {
    let c = config("freebsd");
    let tw = time_wait(Role::Server, &c);
    for seq in [
        tw.rcv_nxt,
        tw.rcv_nxt.wrapping_sub(1),
        tw.rcv_nxt.wrapping_sub(1 << 30),
    ] {
        let step = arrive(
            &tw,
            seg(SYN, seq, 0, 0),
            T0 + SEC,
            &c,
            Rule::SynInTimeWaitDropped,
            State::TimeWait,
        );
        assert_nothing_sent(&step);
        assert_eq!(step.tcb, tw);
    }
}

// ========================================================================= fifth check: ACK

/// RFC 9293 §3.10.7.4 fifth check: "if the ACK bit is off, drop the segment and return",
/// even if it carries in-order data or a FIN.
#[test]
fn ack_bit_off_dropped() {
    let c = config("rfc9293");
    let t = established(Role::Client, &c);
    for flags in [Flags::empty(), FIN] {
        let step = arrive(
            &t,
            seg(flags, t.rcv_nxt, 0, 10),
            T0 + 1,
            &c,
            Rule::AckBitOffDropped,
            State::Established,
        );
        assert_nothing_sent(&step);
        assert_eq!(step.tcb, t);
    }
}

/// RFC 9293 §3.10.7.4 fifth check, SYN-RECEIVED: if SND.UNA < SEG.ACK =< SND.NXT, enter
/// ESTABLISHED; our SYN is acknowledged, nothing left to retransmit.
#[test]
fn syn_received_established() {
    let c = config("rfc9293");
    let sr = syn_received(&c);
    let ack = seg(ACK, PEER_ISS + 1, NEW_ISS + 1, 0);
    let step = arrive(
        &sr,
        ack,
        T0 + 1,
        &c,
        Rule::SynReceivedEstablished,
        State::Established,
    );
    assert_nothing_sent(&step);
    assert_eq!(step.tcb.snd_una, NEW_ISS + 1);
    assert_eq!(step.tcb.timer, None);
}

/// RFC 9293 §3.10.7.4 fifth check, SYN-RECEIVED: an unacceptable ACK is answered with
/// `<SEQ=SEG.ACK><CTL=RST>`; the connection stays in SYN-RECEIVED.
#[test]
fn syn_received_bad_ack_reset() {
    let c = config("rfc9293");
    let sr = syn_received(&c);
    for bad in [NEW_ISS, NEW_ISS + 2, NEW_ISS.wrapping_sub(1 << 20)] {
        let step = arrive(
            &sr,
            seg(ACK, PEER_ISS + 1, bad, 0),
            T0 + 1,
            &c,
            Rule::SynReceivedBadAckReset,
            State::SynReceived,
        );
        assert_sent(step.out, RST, bad, 0, 0);
        assert_eq!(step.tcb, sr);
    }
}

/// RFC 9293 §3.10.7.4 fifth check: "If the ACK acks something not yet sent (SEG.ACK >
/// SND.NXT), then send an ACK, drop the segment, and return" — its data is not delivered.
#[test]
fn ack_of_unsent_data() {
    let c = config("rfc9293");
    let t = established_with_data(Role::Client, &c, 10);
    let s = seg(ACK, t.rcv_nxt, t.snd_nxt.wrapping_add(1), 10);
    let step = arrive(&t, s, T0 + 1, &c, Rule::AckOfUnsentData, State::Established);
    assert_sent(step.out, ACK, t.snd_nxt, t.rcv_nxt, 0);
    assert_eq!(step.tcb, t);
    // Also in the teardown states, e.g. FIN-WAIT-2 and TIME-WAIT.
    for t in [
        fin_wait_2(Role::Client, &c, AppCall::Shutdown),
        time_wait(Role::Client, &c),
    ] {
        let s = seg(ACK, t.rcv_nxt, t.snd_nxt.wrapping_add(5), 0);
        let step = arrive(&t, s, T0 + 1, &c, Rule::AckOfUnsentData, t.state);
        assert_sent(step.out, ACK, t.snd_nxt, t.rcv_nxt, 0);
        assert_eq!(step.tcb, t);
    }
}

/// RFC 9293 §3.10.7.4 fifth check, FIN-WAIT-1: "if the FIN segment is now acknowledged,
/// then enter FIN-WAIT-2". Linux starts tcp_fin_timeout only for an orphan (after close(),
/// not shutdown()).
#[test]
fn fin_wait_1_fin_acked() {
    let c = config("linux");
    let now = T0 + 100 * MS;
    for (call, timer) in [
        (AppCall::Close, Some(now + 60 * SEC)),
        (AppCall::Shutdown, None),
    ] {
        let t = fin_wait_1(Role::Client, &c, call);
        let step = arrive(
            &t,
            ack_of_all(&t),
            now,
            &c,
            Rule::FinWait1FinAcked,
            State::FinWait2,
        );
        assert_nothing_sent(&step);
        assert_eq!(step.tcb.snd_una, t.snd_nxt);
        assert_eq!(step.tcb.timer, timer, "after {call:?}");
    }
    let rfc = config("rfc9293");
    let t = fin_wait_1(Role::Client, &rfc, AppCall::Close);
    let step = arrive(
        &t,
        ack_of_all(&t),
        now,
        &rfc,
        Rule::FinWait1FinAcked,
        State::FinWait2,
    );
    assert_eq!(step.tcb.timer, None, "RFC 9293 has no FIN-WAIT-2 timeout");
    // Near miss: data acknowledged, the FIN not yet.
    let t = established_with_data(Role::Client, &rfc, 10);
    let t = app(
        &t,
        AppCall::Close,
        T0,
        &rfc,
        Rule::AppCloseFinWait1,
        State::FinWait1,
    )
    .tcb;
    let partial = seg(ACK, t.rcv_nxt, t.snd_nxt.wrapping_sub(1), 0);
    arrive(&t, partial, now, &rfc, Rule::AckAdvances, State::FinWait1);
}

/// RFC 9293 §3.10.7.4 fifth check, CLOSING: "if the ACK acknowledges our FIN, then enter
/// the TIME-WAIT state, otherwise ignore the segment"; the 2MSL timer starts.
#[test]
fn closing_fin_acked() {
    let c = config("rfc9293+rfc1337");
    let t = closing(Role::Client, &c);
    let now = T0 + 200 * MS;
    let step = arrive(
        &t,
        ack_of_all(&t),
        now,
        &c,
        Rule::ClosingFinAcked,
        State::TimeWait,
    );
    assert_nothing_sent(&step);
    assert_eq!(step.tcb.timer, Some(now + 240 * SEC));
    assert_eq!(step.tcb.timer_kind(), Some(TimerKind::TimeWait));
    // Near miss: an ACK that does not cover our FIN is ignored.
    let dup = seg(ACK, t.rcv_nxt, t.snd_una, 0);
    let step = arrive(&t, dup, now, &c, Rule::AckDuplicate, State::Closing);
    assert_eq!(step.tcb, t);
    // Near miss: data before our FIN outstanding; an ACK of the data but not the FIN
    // advances SND.UNA (ESTABLISHED processing) and leaves CLOSING waiting.
    let t = established_with_data(Role::Client, &c, 10);
    let t = app(
        &t,
        AppCall::Shutdown,
        T0,
        &c,
        Rule::AppCloseFinWait1,
        State::FinWait1,
    )
    .tcb;
    let fin = seg(FIN | ACK, t.rcv_nxt, t.snd_una, 0);
    let t = arrive(&t, fin, T0, &c, Rule::FinEntersClosing, State::Closing).tcb;
    let data_acked = seg(ACK, t.rcv_nxt, t.snd_nxt.wrapping_sub(1), 0);
    let step = arrive(&t, data_acked, now, &c, Rule::AckAdvances, State::Closing);
    assert_eq!(step.tcb.snd_una, t.snd_nxt.wrapping_sub(1));
    assert_eq!(step.tcb.timer, Some(now + SEC), "the FIN is still timed");
}

/// RFC 9293 §3.10.7.4 fifth check, LAST-ACK: "If our FIN is now acknowledged, delete the
/// TCB, enter the CLOSED state, and return" (the server's side returns to LISTEN).
#[test]
fn last_ack_fin_acked() {
    let c = config("rfc9293");
    for role in [Role::Client, Role::Server] {
        let t = last_ack(role, &c);
        let step = arrive(
            &t,
            ack_of_all(&t),
            T0 + 1,
            &c,
            Rule::LastAckFinAcked,
            gone(role),
        );
        assert_nothing_sent(&step);
        assert_eq!(step.tcb.timer, None);
        // Near miss: a duplicate ACK leaves LAST-ACK waiting.
        let dup = seg(ACK, t.rcv_nxt, t.snd_una, 0);
        arrive(&t, dup, T0 + 1, &c, Rule::AckDuplicate, State::LastAck);
    }
}

/// RFC 9293 §3.10.7.4 fifth check: if SND.UNA < SEG.ACK =< SND.NXT, set SND.UNA <- SEG.ACK;
/// RFC 6298 §5.3 restarts the retransmission timer while data is outstanding, §5.2 stops
/// it when everything is acknowledged.
#[test]
fn ack_advances() {
    let c = config("rfc9293");
    let t = established_with_data(Role::Client, &c, 100);
    let now = T0 + 500 * MS;
    let part = seg(ACK, t.rcv_nxt, t.snd_una.wrapping_add(40), 0);
    let step = arrive(&t, part, now, &c, Rule::AckAdvances, State::Established);
    assert_nothing_sent(&step);
    assert_eq!(step.tcb.snd_una, t.snd_una.wrapping_add(40));
    assert_eq!(step.tcb.timer, Some(now + SEC), "restarted");
    let later = now + 100 * MS;
    let all = ack_of_all(&step.tcb);
    let step = arrive(
        &step.tcb,
        all,
        later,
        &c,
        Rule::AckAdvances,
        State::Established,
    );
    assert_eq!(step.tcb.snd_una, t.snd_nxt);
    assert_eq!(step.tcb.timer, None, "stopped");
}

/// RFC 9293 §3.10.7.4 fifth check: "If the ACK is a duplicate (SEG.ACK =< SND.UNA), it can
/// be ignored."
#[test]
fn ack_duplicate() {
    let c = config("rfc9293");
    let t = established_with_data(Role::Client, &c, 100);
    for ack in [t.snd_una, t.snd_una.wrapping_sub(10)] {
        let step = arrive(
            &t,
            seg(ACK, t.rcv_nxt, ack, 0),
            T0 + 1,
            &c,
            Rule::AckDuplicate,
            State::Established,
        );
        assert_nothing_sent(&step);
        assert_eq!(step.tcb, t, "timer and SND.UNA untouched");
    }
}

/// RFC 9293 §3.10.7.4 fifth check (TIME-WAIT): only a retransmitted FIN is expected; any
/// other acceptable segment (here a pure ACK at RCV.NXT) is ignored: no answer, and the
/// 2MSL timer is not restarted.
#[test]
fn time_wait_segment_ignored() {
    let c = config("rfc9293+rfc1337");
    let tw = time_wait(Role::Client, &c);
    let step = arrive(
        &tw,
        ack_of_all(&tw),
        T0 + SEC,
        &c,
        Rule::TimeWaitSegmentIgnored,
        State::TimeWait,
    );
    assert_nothing_sent(&step);
    assert_eq!(step.tcb, tw);
}

// ========================================================================= seventh check: text

/// RFC 9293 §3.10.7.4 seventh check: in ESTABLISHED, FIN-WAIT-1 and FIN-WAIT-2 in-order
/// data is delivered, RCV.NXT advances over it, and `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>`
/// is sent. After shutdown() (half-close, §3.6.1) FIN-WAIT-2 still receives.
#[test]
fn data_delivered() {
    let c = config("rfc9293");
    let cases = [
        established(Role::Server, &c),
        fin_wait_1(Role::Server, &c, AppCall::Shutdown),
        fin_wait_2(Role::Server, &c, AppCall::Shutdown),
    ];
    for t in cases {
        let data = seg(ACK, t.rcv_nxt, t.snd_una, 100);
        let step = arrive(&t, data, T0 + 1, &c, Rule::DataDelivered, t.state);
        assert_eq!(step.tcb.rcv_nxt, t.rcv_nxt.wrapping_add(100));
        assert_sent(step.out, ACK, t.snd_nxt, t.rcv_nxt.wrapping_add(100), 0);
    }
}

/// RFC 9293 §3.10.7.4 seventh check: in-window data (or a FIN) beyond RCV.NXT is not
/// delivered; the model keeps no reassembly queue (SHLD-31 not taken) and answers with
/// `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>`, which tells the peer what is missing.
#[test]
fn data_out_of_order() {
    let c = config("rfc9293");
    let t = established(Role::Client, &c);
    let cases = [
        seg(ACK, t.rcv_nxt.wrapping_add(10), t.snd_nxt, 5),
        seg(FIN | ACK, t.rcv_nxt.wrapping_add(10), t.snd_nxt, 0),
    ];
    for s in cases {
        let step = arrive(&t, s, T0 + 1, &c, Rule::DataOutOfOrder, State::Established);
        assert_sent(step.out, ACK, t.snd_nxt, t.rcv_nxt, 0);
        assert_eq!(step.tcb, t, "{s:?}: nothing delivered, no CLOSE-WAIT");
    }
}

/// RFC 9293 §3.10.7.4 seventh check, CLOSE-WAIT, CLOSING, LAST-ACK, TIME-WAIT: "This
/// should not occur since a FIN has been received from the remote side. Ignore the
/// segment text."
#[test]
fn data_after_fin_ignored() {
    let c = config("rfc9293");
    // (CLOSING and TIME-WAIT ignore such a segment already at the fifth check.)
    for t in [close_wait(Role::Client, &c), last_ack(Role::Client, &c)] {
        let data = seg(ACK, t.rcv_nxt, t.snd_una, 10);
        let step = arrive(&t, data, T0 + 1, &c, Rule::DataAfterFinIgnored, t.state);
        assert_nothing_sent(&step);
        assert_eq!(step.tcb, t);
    }
}

/// RFC 9293 §3.6.1 SHLD-3: with a half-duplex close, "if new data is received after CLOSE
/// is called, its TCP implementation SHOULD send a RST to show that data was lost" (Linux
/// tcp_rcv_state_process): `<SEQ=SND.NXT><CTL=RST>`, and the TCB is deleted.
#[test]
fn data_after_close_reset() {
    let c = config("linux");
    for t in [
        fin_wait_1(Role::Client, &c, AppCall::Close),
        fin_wait_2(Role::Client, &c, AppCall::Close),
    ] {
        let data = seg(ACK, t.rcv_nxt, t.snd_una, 10);
        let step = arrive(
            &t,
            data,
            T0 + 1,
            &c,
            Rule::DataAfterCloseReset,
            State::Closed,
        );
        assert_sent(step.out, RST, t.snd_nxt, 0, 0);
        assert_eq!(step.tcb.timer, None);
    }
    // Near miss: after shutdown() the same data is delivered (half-close).
    let t = fin_wait_2(Role::Client, &c, AppCall::Shutdown);
    let data = seg(ACK, t.rcv_nxt, t.snd_una, 10);
    arrive(&t, data, T0 + 1, &c, Rule::DataDelivered, State::FinWait2);
}

// ========================================================================= eighth check: FIN

/// RFC 9293 §3.10.7.4 eighth check, ESTABLISHED: advance RCV.NXT over the FIN, send
/// `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>`, enter CLOSE-WAIT. Data before the FIN in the
/// same segment is delivered first.
#[test]
fn fin_enters_close_wait() {
    let c = config("rfc9293");
    let t = established(Role::Server, &c);
    for len in [0, 20] {
        let fin = seg(FIN | ACK, t.rcv_nxt, t.snd_nxt, len);
        let step = arrive(
            &t,
            fin,
            T0 + 1,
            &c,
            Rule::FinEntersCloseWait,
            State::CloseWait,
        );
        let rcv = t.rcv_nxt.wrapping_add(len + 1);
        assert_eq!(step.tcb.rcv_nxt, rcv);
        assert_sent(step.out, ACK, t.snd_nxt, rcv, 0);
        assert_eq!(step.tcb.timer, None);
    }
}

/// RFC 9293 §3.10.7.4 eighth check, FIN-WAIT-1: if our FIN is not yet acknowledged,
/// enter CLOSING (simultaneous close, §3.6 case 3) and ACK the peer's FIN; our FIN stays
/// on the retransmission timer.
#[test]
fn fin_enters_closing() {
    let c = config("rfc9293");
    let t = fin_wait_1(Role::Client, &c, AppCall::Close);
    let fin = seg(FIN | ACK, t.rcv_nxt, t.snd_una, 0);
    let step = arrive(&t, fin, T0 + 1, &c, Rule::FinEntersClosing, State::Closing);
    assert_sent(step.out, ACK, t.snd_nxt, t.rcv_nxt.wrapping_add(1), 0);
    assert_eq!(step.tcb.timer, t.timer);
    assert_eq!(step.tcb.timer_kind(), Some(TimerKind::Retransmit));
}

/// RFC 9293 §3.10.7.4 eighth check, FIN-WAIT-1 ("If our FIN has been ACKed (perhaps in
/// this segment), then enter TIME-WAIT, start the time-wait timer") and §3.3.2 note 2:
/// a FIN+ACK of our FIN goes straight to TIME-WAIT, answered with
/// `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>`.
#[test]
fn fin_wait_1_enters_time_wait() {
    let c = config("linux");
    let t = fin_wait_1(Role::Client, &c, AppCall::Close);
    let now = T0 + 50 * MS;
    let step = arrive(
        &t,
        fin_acking_all(&t),
        now,
        &c,
        Rule::FinWait1EntersTimeWait,
        State::TimeWait,
    );
    assert_sent(step.out, ACK, t.snd_nxt, t.rcv_nxt.wrapping_add(1), 0);
    assert_eq!(step.tcb.timer, Some(now + 60 * SEC));
    assert_eq!(step.tcb.snd_una, t.snd_nxt);
}

/// RFC 9293 §3.10.7.4 eighth check, FIN-WAIT-2: "Enter the TIME-WAIT state. Start the
/// time-wait timer, turn off the other timers", and ACK the FIN. A stack without TIME-WAIT
/// (U2) deletes the TCB instead.
#[test]
fn fin_wait_2_enters_time_wait() {
    let c = config("linux");
    let t = fin_wait_2(Role::Client, &c, AppCall::Close);
    assert_eq!(t.timer_kind(), Some(TimerKind::FinWait2));
    let now = T0 + 30 * SEC;
    let step = arrive(
        &t,
        fin_acking_all(&t),
        now,
        &c,
        Rule::FinWait2EntersTimeWait,
        State::TimeWait,
    );
    assert_sent(step.out, ACK, t.snd_nxt, t.rcv_nxt.wrapping_add(1), 0);
    assert_eq!(
        step.tcb.timer,
        Some(now + 60 * SEC),
        "FIN-WAIT-2 timer replaced"
    );
    // U2: no TIME-WAIT.
    let none = config("no-time-wait");
    let t = fin_wait_2(Role::Client, &none, AppCall::Shutdown);
    let step = arrive(
        &t,
        fin_acking_all(&t),
        now,
        &none,
        Rule::FinWait2EntersTimeWait,
        State::Closed,
    );
    assert_sent(step.out, ACK, t.snd_nxt, t.rcv_nxt.wrapping_add(1), 0);
    assert_eq!(step.tcb.timer, None);
}

// ========================================================================= timers

/// RFC 9293 §3.8.1, RFC 6298 §5.4-5.6: when the retransmission timer expires, retransmit
/// the earliest unacknowledged segment (here: everything from SND.UNA, data and FIN as one
/// segment) and back the timer off (RTO doubled).
#[test]
fn rto_retransmit() {
    let c = config("rfc9293");
    let t = established_with_data(Role::Client, &c, 100);
    let t = app(
        &t,
        AppCall::Close,
        T0 + 10 * MS,
        &c,
        Rule::AppCloseFinWait1,
        State::FinWait1,
    )
    .tcb;
    let due = T0 + SEC;
    assert_eq!(t.timer, Some(due), "armed by the first SEND");
    assert_eq!(t.on_timer(due - 1, &c), None, "not due yet");
    let step = fire(&t, due, &c, Rule::RtoRetransmit, State::FinWait1);
    assert_sent(step.out, FIN | ACK, t.snd_una, t.rcv_nxt, 100);
    assert_eq!(step.tcb.timer, Some(due + 2 * SEC));
    assert_eq!(step.tcb.retries, 1);
    // SYN-SENT resends `<SEQ=ISS><CTL=SYN>`, SYN-RECEIVED the SYN-ACK.
    let ss = syn_sent(&c);
    let step = fire(&ss, T0 + SEC, &c, Rule::RtoRetransmit, State::SynSent);
    assert_sent(step.out, SYN, NEW_ISS, 0, 0);
    let sr = syn_received(&c);
    let step = fire(&sr, T0 + SEC, &c, Rule::RtoRetransmit, State::SynReceived);
    assert_sent(step.out, SYN | ACK, NEW_ISS, PEER_ISS + 1, 0);
}

/// Deviation from RFC 9293 §3.6 ("retransmitted until acknowledged"): a stack that never
/// resends a lone FIN lets the timer back off without sending; data before the FIN is
/// still resent, without the FIN bit.
#[test]
fn rto_fin_not_retransmitted() {
    let c = config("no-fin-retransmit");
    let t = fin_wait_1(Role::Client, &c, AppCall::Close);
    let due = T0 + SEC;
    let step = fire(&t, due, &c, Rule::RtoFinNotRetransmitted, State::FinWait1);
    assert_nothing_sent(&step);
    assert_eq!(step.tcb.retries, 1);
    assert_eq!(step.tcb.timer, Some(due + 2 * SEC));
    // Near miss: data outstanding before the FIN.
    let t = established_with_data(Role::Client, &c, 10);
    let t = app(
        &t,
        AppCall::Close,
        T0,
        &c,
        Rule::AppCloseFinWait1,
        State::FinWait1,
    )
    .tcb;
    let step = fire(&t, due, &c, Rule::RtoRetransmit, State::FinWait1);
    assert_sent(step.out, ACK, t.snd_una, t.rcv_nxt, 10);
}

/// RFC 9293 §3.10.8 (user timeout; R2 of §3.8.3): after the last retransmission the
/// connection is aborted: CLOSED, nothing sent.
#[test]
fn rto_give_up() {
    let c = config("rfc9293");
    assert_eq!(c.max_retries, 3);
    let mut t = last_ack(Role::Client, &c);
    let mut due = T0 + SEC;
    for k in 1..=3u32 {
        let step = fire(&t, due, &c, Rule::RtoRetransmit, State::LastAck);
        assert_sent(step.out, FIN | ACK, t.snd_una, t.rcv_nxt, 0);
        let next = due + (SEC << k);
        assert_eq!(
            step.tcb.timer,
            Some(next),
            "backoff after retransmission {k}"
        );
        t = step.tcb;
        due = next;
    }
    let step = fire(&t, due, &c, Rule::RtoGiveUp, State::Closed);
    assert_nothing_sent(&step);
    assert_eq!(step.tcb.timer, None);
}

/// RFC 9293 §3.10.8: "If the time-wait timeout expires on a connection, delete the TCB,
/// enter the CLOSED state, and return" — exactly 2MSL after it started.
#[test]
fn time_wait_expired() {
    let c = config("rfc9293");
    for role in [Role::Client, Role::Server] {
        let tw = time_wait(role, &c);
        let due = T0 + 240 * SEC;
        assert_eq!(tw.on_timer(due - 1, &c), None, "not a nanosecond early");
        let step = fire(&tw, due, &c, Rule::TimeWaitExpired, gone(role));
        assert_nothing_sent(&step);
        assert_eq!(step.tcb.timer, None);
    }
}

/// Linux tcp_fin_timeout (not in RFC 9293): an orphaned FIN-WAIT-2 (after close()) is
/// deleted when the timeout expires; after shutdown() it waits for the peer's FIN forever.
#[test]
fn fin_wait_2_timeout() {
    let c = config("linux");
    let t = fin_wait_2(Role::Client, &c, AppCall::Close);
    let due = T0 + 60 * SEC;
    assert_eq!(t.timer, Some(due));
    assert_eq!(t.on_timer(due - 1, &c), None);
    let step = fire(&t, due, &c, Rule::FinWait2Timeout, State::Closed);
    assert_nothing_sent(&step);
    assert_eq!(step.tcb.timer, None);
    let open = fin_wait_2(Role::Client, &c, AppCall::Shutdown);
    assert_eq!(open.on_timer(u64::MAX, &c), None);
}

// ========================================================================= coverage

macro_rules! covered {
    ($($test:ident => $rule:ident,)*) => {
        /// Every rule this file tests, with its test.
        const COVERED: &[(Rule, &str, fn())] = &[$((Rule::$rule, stringify!($test), $test),)*];
    };
}

covered! {
    app_connect => AppConnect,
    app_connect_reuse_time_wait => AppConnectReuseTimeWait,
    app_send => AppSend,
    app_close_send_fin => AppCloseFinWait1,
    app_close_last_ack => AppCloseLastAck,
    app_close_syn_sent => AppCloseSynSent,
    app_close_unread_data_reset => AppCloseUnreadReset,
    app_abort_reset => AppAbortReset,
    app_abort_quiet => AppAbortQuiet,
    closed_reset => ClosedReset,
    closed_rst_dropped => ClosedRstDropped,
    listen_syn_accepted => ListenSynAccepted,
    listen_ack_reset => ListenAckReset,
    listen_dropped => ListenDropped,
    syn_sent_established => SynSentEstablished,
    syn_sent_bad_ack_reset => SynSentBadAckReset,
    syn_sent_reset => SynSentReset,
    syn_sent_dropped => SynSentDropped,
    seq_unacceptable_ack => SeqUnacceptableAck,
    seq_unacceptable_rst_dropped => SeqUnacceptableRstDropped,
    paws_reject => PawsReject,
    time_wait_fin_reacked => TimeWaitFinReacked,
    time_wait_fin_ignored => TimeWaitFinIgnored,
    rst_resets_connection => RstResets,
    rst_closes_time_wait => RstClosesTimeWait,
    rst_ignored_in_time_wait => RstIgnoredInTimeWait,
    rst_challenge_ack => RstChallengeAck,
    syn_challenge_ack => SynChallengeAck,
    syn_in_window_reset => SynInWindowReset,
    syn_reopens_time_wait => SynReopensTimeWait,
    syn_in_time_wait_dropped => SynInTimeWaitDropped,
    ack_bit_off_dropped => AckBitOffDropped,
    syn_received_established => SynReceivedEstablished,
    syn_received_bad_ack_reset => SynReceivedBadAckReset,
    ack_of_unsent_data => AckOfUnsentData,
    fin_wait_1_fin_acked => FinWait1FinAcked,
    closing_fin_acked => ClosingFinAcked,
    last_ack_fin_acked => LastAckFinAcked,
    ack_advances => AckAdvances,
    ack_duplicate => AckDuplicate,
    time_wait_segment_ignored => TimeWaitSegmentIgnored,
    data_delivered => DataDelivered,
    data_out_of_order => DataOutOfOrder,
    data_after_fin_ignored => DataAfterFinIgnored,
    data_after_close_reset => DataAfterCloseReset,
    fin_enters_close_wait => FinEntersCloseWait,
    fin_enters_closing => FinEntersClosing,
    fin_wait_1_enters_time_wait => FinWait1EntersTimeWait,
    fin_wait_2_enters_time_wait => FinWait2EntersTimeWait,
    ack_window_update => AckWindowUpdate,
    ack_partial => AckPartial,
    keep_alive => KeepAlive,
    rto_retransmit => RtoRetransmit,
    rto_fin_not_retransmitted => RtoFinNotRetransmitted,
    rto_give_up => RtoGiveUp,
    time_wait_expired => TimeWaitExpired,
    fin_wait_2_timeout => FinWait2Timeout,
}

/// RFC 9293 §3.8.6.2.2: a window update is `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>` and
/// changes nothing; TIME-WAIT and the unsynchronised states never send one.
#[test]
fn ack_window_update() {
    let c = config("rfc9293");
    let t = established_with_data(Role::Client, &c, 100);
    let step = t
        .on_window_update(&c)
        .expect("ESTABLISHED may update its window");
    assert_eq!(step.rule, Rule::AckWindowUpdate);
    assert_sent(step.out, ACK, t.snd_nxt, t.rcv_nxt, 0);
    assert_eq!(step.tcb, t, "nothing changes");
    let tw = time_wait(Role::Client, &c);
    assert_eq!(tw.on_window_update(&c), None, "TIME-WAIT only answers");
    assert_eq!(syn_sent(&c).on_window_update(&c), None);
}

/// RFC 9293 §3.8.6.3: an ACK may acknowledge part of what arrived, never more than
/// RCV.NXT, never less than what was acknowledged before; nothing changes.
#[test]
fn ack_partial() {
    let c = config("rfc9293");
    let t = established_with_data(Role::Client, &c, 100);
    let floor = t.rcv_nxt.wrapping_sub(50);
    let part = t.rcv_nxt.wrapping_sub(20);
    let step = t
        .on_partial_ack(part, floor, &c)
        .expect("part of what arrived");
    assert_eq!(step.rule, Rule::AckPartial);
    assert_sent(step.out, ACK, t.snd_nxt, part, 0);
    assert_eq!(step.tcb, t, "nothing changes");
    assert_eq!(
        t.on_partial_ack(t.rcv_nxt.wrapping_add(1), floor, &c),
        None,
        "beyond RCV.NXT"
    );
    assert_eq!(
        t.on_partial_ack(t.rcv_nxt, floor, &c),
        None,
        "all of it is not partial"
    );
    assert_eq!(
        t.on_partial_ack(floor.wrapping_sub(1), floor, &c),
        None,
        "backwards"
    );
    assert_eq!(syn_sent(&c).on_partial_ack(part, floor, &c), None);
}

/// RFC 9293 §3.8.4: a keep-alive is `<SEQ=SND.NXT-1>` with zero or one octet, only when
/// nothing is unacknowledged; the peer answers it as an old segment.
#[test]
fn keep_alive() {
    let c = config("rfc9293");
    let t = established_with_data(Role::Client, &c, 100);
    assert_eq!(t.on_keep_alive(false, &c), None, "data outstanding");
    let idle = arrive(
        &t,
        seg(ACK, t.rcv_nxt, t.snd_nxt, 0),
        T0 + 1,
        &c,
        Rule::AckAdvances,
        State::Established,
    )
    .tcb;
    for octet in [false, true] {
        let step = idle
            .on_keep_alive(octet, &c)
            .expect("idle ESTABLISHED probes");
        assert_eq!(step.rule, Rule::KeepAlive);
        assert_sent(
            step.out,
            ACK,
            idle.snd_nxt.wrapping_sub(1),
            idle.rcv_nxt,
            u32::from(octet),
        );
        assert_eq!(step.tcb, idle, "nothing changes");
    }
    assert_eq!(time_wait(Role::Client, &c).on_keep_alive(false, &c), None);
}

/// Every rule of `Rule::ALL` has exactly one test here, named after its id: a new rule
/// without a test fails this.
#[test]
fn every_rule_has_a_test() {
    let missing: Vec<&str> = Rule::ALL
        .iter()
        .filter(|r| !COVERED.iter().any(|(c, ..)| c == *r))
        .map(|r| r.id())
        .collect();
    assert!(
        missing.is_empty(),
        "rules without a test in rules.rs: {missing:?}"
    );
    for (rule, test, _) in COVERED {
        assert_eq!(
            *test,
            rule.id().replace('-', "_"),
            "the test of {rule:?} is named after its id"
        );
        let n = COVERED.iter().filter(|(r, ..)| r == rule).count();
        assert_eq!(n, 1, "{rule:?} listed {n} times");
    }
    assert_eq!(COVERED.len(), Rule::ALL.len());
}
