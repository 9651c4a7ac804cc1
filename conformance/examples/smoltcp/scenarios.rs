//! The scenarios: what each application does and which impairment the link applies.
//!
//! Every script starts the same way as the Linux captures (client connects to port 5001,
//! sends a 26-byte request, the server answers 200 bytes) and then tears down. A script
//! acts when [`Sim::run_until`] returns, which is right after segments were delivered and
//! before the stacks transmit: so "close as soon as EOF is seen" lets the FIN carry the
//! ACK (smoltcp sends the ACK of a bare FIN at once otherwise), and waiting
//! ([`Sim::run_for`]) gives the 4-segment close.

use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::State;
use smoltcp::time::Duration;

use super::sim::{Action, Family, Match, Rule, Side, Sim};

const C: Side = Side::Client;
const S: Side = Side::Server;
/// The client's request (26 bytes, like the Linux captures').
const REQUEST: &[u8] = b"GET /teardown HTTP/1.0\r\n\r\n";
/// The server's answer, in bytes.
const REPLY: usize = 200;
/// How long an application waits after EOF before it closes, in the 4-segment closes.
const LINGER: Duration = Duration::from_millis(200);

/// One scenario of `traces/smoltcp/`.
pub struct Scenario {
    /// File name stem.
    pub name: &'static str,
    /// What the applications and the link do.
    pub description: &'static str,
    /// IP version.
    pub family: Family,
    /// The client's port (fixed, so the 4-tuple is part of the scenario).
    pub port: u16,
    /// `client`, `server` or `both`: whose application closed (or aborted) first.
    pub closed_first: &'static str,
    /// The impairment in words; the truth file adds what it actually did.
    pub impairment: &'static str,
    /// The expected classification; generation fails unless the captures show it.
    pub classification: &'static str,
    /// The applications.
    pub script: fn(&mut Sim, u16),
}

/// The peer's FIN has arrived (the application would read EOF).
fn eof(sim: &Sim, side: Side, h: SocketHandle) -> bool {
    matches!(
        sim.state(side, h),
        State::CloseWait | State::LastAck | State::Closing | State::TimeWait
    )
}

/// Listens, connects from `port`, runs the handshake to the end on both sides.
fn open(sim: &mut Sim, port: u16) -> (SocketHandle, SocketHandle) {
    let s = sim.listen();
    let c = sim.socket(C);
    sim.connect(c, port);
    established(sim, c, s);
    (c, s)
}

fn established(sim: &mut Sim, c: SocketHandle, s: SocketHandle) {
    sim.run_until("the handshake", None, |x| {
        x.state(C, c) == State::Established && x.state(S, s) == State::Established
    });
}

/// Request and reply; returns when the client has read the reply, before its stack
/// transmits again.
fn exchange(sim: &mut Sim, c: SocketHandle, s: SocketHandle, reply: usize) {
    request(sim, c, s);
    sim.send(S, s, &vec![b'x'; reply]);
    sim.run_until("the reply", None, |x| x.tcp(C, c).recv_queue() >= reply);
    sim.recv_all(C, c);
}

/// The request, read by the server.
fn request(sim: &mut Sim, c: SocketHandle, s: SocketHandle) {
    sim.send(C, c, REQUEST);
    sim.run_until("the request", None, |x| {
        x.tcp(S, s).recv_queue() >= REQUEST.len()
    });
    sim.recv_all(S, s);
}

/// `first` closes now; the other side closes `linger` after it sees EOF (at once when
/// `linger` is zero: its FIN then carries the ACK).
fn close_after(sim: &mut Sim, first: (Side, SocketHandle), other: SocketHandle, linger: Duration) {
    let (side, h) = first;
    sim.tcp_mut(side, h).close();
    let peer = side.peer();
    sim.run_until("EOF", None, |x| eof(x, peer, other));
    if linger != Duration::ZERO {
        sim.run_for(linger);
    }
    sim.tcp_mut(peer, other).close();
}

fn close_4way(sim: &mut Sim, port: u16) {
    let (c, s) = open(sim, port);
    exchange(sim, c, s, REPLY);
    close_after(sim, (C, c), s, LINGER);
    sim.run_until_quiet();
}

fn close_3way(sim: &mut Sim, port: u16) {
    let (c, s) = open(sim, port);
    exchange(sim, c, s, REPLY);
    close_after(sim, (C, c), s, Duration::ZERO);
    sim.run_until_quiet();
}

/// The server closes 100 ms after its reply (long after the client's delayed ACK).
fn server_first(sim: &mut Sim, port: u16, linger: Duration) {
    let (c, s) = open(sim, port);
    exchange(sim, c, s, REPLY);
    sim.run_for(Duration::from_millis(100));
    close_after(sim, (S, s), c, linger);
    sim.run_until_quiet();
}

fn close_server_first(sim: &mut Sim, port: u16) {
    server_first(sim, port, LINGER);
}

fn close_server_first_3way(sim: &mut Sim, port: u16) {
    server_first(sim, port, Duration::ZERO);
}

fn data_fin_piggyback(sim: &mut Sim, port: u16) {
    let (c, s) = open(sim, port);
    request(sim, c, s);
    // Reply and close before the stack transmits: the FIN rides on the data segment.
    sim.send(S, s, &[b'x'; REPLY]);
    sim.tcp_mut(S, s).close();
    sim.run_until("EOF after the reply", None, |x| eof(x, C, c));
    assert_eq!(sim.recv_all(C, c), REPLY);
    sim.run_for(LINGER);
    sim.tcp_mut(C, c).close();
    sim.run_until_quiet();
}

fn simultaneous(sim: &mut Sim, port: u16) {
    let (c, s) = open(sim, port);
    exchange(sim, c, s, REPLY);
    sim.run_for(Duration::from_millis(100));
    // Both at the same instant: each FIN leaves before the other arrives (1 ms link).
    sim.tcp_mut(C, c).close();
    sim.tcp_mut(S, s).close();
    sim.run_until_quiet();
}

fn half_close_data(sim: &mut Sim, port: u16) {
    let (c, s) = open(sim, port);
    sim.send(C, c, REQUEST);
    sim.tcp_mut(C, c).close();
    sim.run_until("request and EOF", None, |x| eof(x, S, s));
    assert_eq!(sim.recv_all(S, s), REQUEST.len());
    // Three writes of 1000 bytes into the half-open connection, then close 100 ms later.
    for _ in 0..3 {
        sim.send(S, s, &[b'y'; 1000]);
    }
    sim.run_for(Duration::from_millis(100));
    sim.tcp_mut(S, s).close();
    sim.run_until("EOF at the client", None, |x| eof(x, C, c));
    assert_eq!(sim.recv_all(C, c), 3000);
    sim.run_until_quiet();
}

fn lost_final_ack(sim: &mut Sim, port: u16) {
    sim.impair(Rule::new(C, Match::AckOfPeerFin, Some(1), Action::Drop));
    close_4way(sim, port);
}

fn lost_fin(sim: &mut Sim, port: u16) {
    sim.impair(Rule::new(C, Match::Fin, Some(1), Action::Drop));
    close_4way(sim, port);
}

fn lost_second_fin(sim: &mut Sim, port: u16) {
    sim.impair(Rule::new(S, Match::Fin, Some(1), Action::Drop));
    close_4way(sim, port);
}

fn abort(sim: &mut Sim, port: u16, side: Side) {
    let (c, s) = open(sim, port);
    exchange(sim, c, s, REPLY);
    sim.run_for(Duration::from_millis(100));
    let h = if side == C { c } else { s };
    sim.tcp_mut(side, h).abort();
    sim.run_until_quiet();
}

fn abort_client(sim: &mut Sim, port: u16) {
    abort(sim, port, C);
}

fn abort_server(sim: &mut Sim, port: u16) {
    abort(sim, port, S);
}

fn close_unread(sim: &mut Sim, port: u16) {
    let (c, s) = open(sim, port);
    request(sim, c, s);
    sim.send(S, s, &[b'z'; 500]);
    sim.run_until("the unread data", None, |x| x.tcp(C, c).recv_queue() >= 500);
    sim.run_for(Duration::from_millis(100));
    // close() with 500 unread bytes: Linux sends RST here, smoltcp a FIN.
    close_after(sim, (C, c), s, LINGER);
    sim.run_until_quiet();
}

fn fin_then_rst(sim: &mut Sim, port: u16) {
    let (c, s) = open(sim, port);
    sim.send(C, c, REQUEST);
    sim.tcp_mut(C, c).close();
    sim.run_until("request and EOF", None, |x| eof(x, S, s));
    sim.recv_all(S, s);
    sim.run_for(Duration::from_millis(300));
    sim.send(S, s, &[b'x'; REPLY]);
    // The client has closed and wants nothing more: on the data it aborts, before its
    // stack could ACK it (smoltcp has no orphan sockets that answer data with RST).
    sim.run_until("data after the FIN", None, |x| x.tcp(C, c).recv_queue() > 0);
    sim.tcp_mut(C, c).abort();
    sim.run_until_quiet();
}

fn fin_wait_2_timeout(sim: &mut Sim, port: u16) {
    let (c, s) = open(sim, port);
    exchange(sim, c, s, REPLY);
    // smoltcp has no FIN-WAIT-2 timer; its per-socket timeout (no segment from the peer
    // for this long) is the nearest thing, and it aborts with RST.
    sim.tcp_mut(C, c).set_timeout(Some(Duration::from_secs(2)));
    sim.tcp_mut(C, c).close();
    sim.run_until("EOF", None, |x| eof(x, S, s));
    sim.run_for(Duration::from_secs(4));
    sim.tcp_mut(S, s).close();
    sim.run_until_quiet();
}

fn dup_teardown(sim: &mut Sim, port: u16) {
    sim.impair(Rule::new(C, Match::Fin, None, Action::Duplicate));
    sim.impair(Rule::new(S, Match::Fin, None, Action::Duplicate));
    close_4way(sim, port);
}

fn dup_client_fin(sim: &mut Sim, port: u16) {
    sim.impair(Rule::new(C, Match::Fin, None, Action::Duplicate));
    close_4way(sim, port);
}

fn reorder_teardown(sim: &mut Sim, port: u16) {
    sim.impair(Rule::new(
        S,
        Match::Data,
        Some(1),
        Action::Hold(Duration::from_millis(50)),
    ));
    let (c, s) = open(sim, port);
    request(sim, c, s);
    sim.send(S, s, &[b'x'; REPLY]);
    // Close 1 ms after the reply left, so the FIN is a segment of its own.
    sim.run_for(Duration::from_millis(1));
    sim.tcp_mut(S, s).close();
    sim.run_until("the held reply", None, |x| {
        x.tcp(C, c).recv_queue() >= REPLY
    });
    sim.recv_all(C, c);
    sim.run_until("EOF", None, |x| eof(x, C, c));
    sim.run_for(LINGER);
    sim.tcp_mut(C, c).close();
    sim.run_until_quiet();
}

/// A second connection from the same client socket and port, to a second listening
/// socket the server opened when the first connection was accepted (smoltcp's
/// listening socket becomes the connection; an accept loop listens anew).
fn second_connection(sim: &mut Sim, c: SocketHandle, listener: SocketHandle, port: u16) {
    sim.connect(c, port);
    established(sim, c, listener);
    exchange(sim, c, listener, REPLY);
    close_after(sim, (C, c), listener, LINGER);
    sim.run_until_quiet();
}

fn tw_reuse_after_timewait(sim: &mut Sim, port: u16) {
    let (c, s) = open(sim, port);
    let next = sim.listen();
    exchange(sim, c, s, REPLY);
    close_after(sim, (C, c), s, LINGER);
    sim.run_until("TIME-WAIT", None, |x| x.state(C, c) == State::TimeWait);
    sim.run_until("the end of TIME-WAIT", None, |x| {
        x.state(C, c) == State::Closed
    });
    sim.run_for(Duration::from_millis(500));
    second_connection(sim, c, next, port);
}

fn tw_abort_reuse(sim: &mut Sim, port: u16) {
    let (c, s) = open(sim, port);
    let next = sim.listen();
    exchange(sim, c, s, REPLY);
    close_after(sim, (C, c), s, LINGER);
    sim.run_until("TIME-WAIT", None, |x| x.state(C, c) == State::TimeWait);
    sim.run_for(Duration::from_secs(1));
    // smoltcp's documented way to reuse a socket at once (tcp::Socket::close docs):
    // abort(), which in TIME-WAIT sends an RST.
    sim.tcp_mut(C, c).abort();
    sim.run_for(Duration::from_secs(1));
    second_connection(sim, c, next, port);
}

fn tw_connect_reuse(sim: &mut Sim, port: u16) {
    let (c, s) = open(sim, port);
    let next = sim.listen();
    exchange(sim, c, s, REPLY);
    close_after(sim, (C, c), s, LINGER);
    sim.run_until("TIME-WAIT", None, |x| x.state(C, c) == State::TimeWait);
    sim.run_for(Duration::from_secs(1));
    // connect() is allowed in TIME-WAIT: tcp::Socket::is_open() is false there, so
    // connect() resets the socket and sends a SYN; nothing goes to the peer before it.
    second_connection(sim, c, next, port);
}

fn syn_to_server_timewait(sim: &mut Sim, port: u16) {
    let (c, s) = open(sim, port);
    let next = sim.listen();
    exchange(sim, c, s, REPLY);
    sim.run_for(Duration::from_millis(100));
    close_after(sim, (S, s), c, LINGER);
    sim.run_until("the server's TIME-WAIT", None, |x| {
        x.state(S, s) == State::TimeWait && x.state(C, c) == State::Closed
    });
    sim.run_for(Duration::from_secs(1));
    // The TIME-WAIT socket was created before the new listener, so smoltcp offers it the
    // SYN first (iface/interface/tcp.rs: first socket that accepts); it drops it.
    second_connection(sim, c, next, port);
}

fn tw_rst(sim: &mut Sim, port: u16) {
    sim.impair(Rule::new(
        C,
        Match::AckOfPeerFin,
        Some(1),
        Action::ReplayLater(Duration::from_millis(300)),
    ));
    let (c, s) = open(sim, port);
    let next = sim.listen();
    exchange(sim, c, s, REPLY);
    close_after(sim, (C, c), s, LINGER);
    sim.run_until("TIME-WAIT", None, |x| x.state(C, c) == State::TimeWait);
    sim.run_until("the RST", None, |x| x.state(C, c) == State::Closed);
    sim.run_for(Duration::from_secs(1));
    second_connection(sim, c, next, port);
}

/// Every scenario, in the order of the README table.
pub const ALL: &[Scenario] = &[
    Scenario {
        name: "close-4way",
        description: "client close() right after reading the reply; the server close()s 0.2 s after it sees EOF: FIN, ACK, FIN, ACK",
        family: Family::V4,
        port: 40101,
        closed_first: "client",
        impairment: "none",
        classification: "4-way",
        script: close_4way,
    },
    Scenario {
        name: "close-4way-ipv6",
        description: "close-4way over IPv6",
        family: Family::V6,
        port: 40102,
        closed_first: "client",
        impairment: "none",
        classification: "4-way",
        script: close_4way,
    },
    Scenario {
        name: "close-3way",
        description: "client close(); the server close()s as soon as it sees EOF, before its stack transmits, so its FIN carries the ACK of the client's FIN",
        family: Family::V4,
        port: 40103,
        closed_first: "client",
        impairment: "none",
        classification: "3-way (FIN+ACK)",
        script: close_3way,
    },
    Scenario {
        name: "close-server-first",
        description: "the server close()s 0.1 s after its reply; the client close()s 0.2 s after it sees EOF",
        family: Family::V4,
        port: 40104,
        closed_first: "server",
        impairment: "none",
        classification: "4-way",
        script: close_server_first,
    },
    Scenario {
        name: "close-server-first-3way",
        description: "the server close()s 0.1 s after its reply; the client close()s as soon as it sees EOF (FIN+ACK)",
        family: Family::V4,
        port: 40105,
        closed_first: "server",
        impairment: "none",
        classification: "3-way (FIN+ACK)",
        script: close_server_first_3way,
    },
    Scenario {
        name: "data-fin-piggyback",
        description: "the server writes its reply and close()s at once: the FIN rides on the data segment; the client close()s 0.2 s after EOF",
        family: Family::V4,
        port: 40106,
        closed_first: "server",
        impairment: "none",
        classification: "4-way",
        script: data_fin_piggyback,
    },
    Scenario {
        name: "simultaneous",
        description: "both applications close() at the same instant 0.1 s after the exchange; the FINs cross on the 1 ms link (CLOSING on both sides)",
        family: Family::V4,
        port: 40107,
        closed_first: "both",
        impairment: "none",
        classification: "simultaneous",
        script: simultaneous,
    },
    Scenario {
        name: "simultaneous-ipv6",
        description: "simultaneous over IPv6",
        family: Family::V6,
        port: 40108,
        closed_first: "both",
        impairment: "none",
        classification: "simultaneous",
        script: simultaneous,
    },
    Scenario {
        name: "half-close-data",
        description: "the client sends the request and close()s at once; the server reads to EOF, writes 3 x 1000 bytes, close()s 0.1 s later; the client reads everything",
        family: Family::V4,
        port: 40109,
        closed_first: "client",
        impairment: "none",
        classification: "half-close with data",
        script: half_close_data,
    },
    Scenario {
        name: "lost-final-ack",
        description: "close-4way whose final ACK is lost; the server retransmits its FIN, the client (in TIME-WAIT) ACKs it again and restarts TIME-WAIT",
        family: Family::V4,
        port: 40110,
        closed_first: "client",
        impairment: "the link drops the client's first pure ACK of the server's FIN",
        classification: "lost final ACK recovered",
        script: lost_final_ack,
    },
    Scenario {
        name: "lost-final-ack-ipv6",
        description: "lost-final-ack over IPv6",
        family: Family::V6,
        port: 40111,
        closed_first: "client",
        impairment: "the link drops the client's first pure ACK of the server's FIN",
        classification: "lost final ACK recovered",
        script: lost_final_ack,
    },
    Scenario {
        name: "lost-fin",
        description: "close-4way whose first FIN (the client's) is lost and retransmitted",
        family: Family::V4,
        port: 40112,
        closed_first: "client",
        impairment: "the link drops the client's first FIN",
        classification: "lost FIN recovered",
        script: lost_fin,
    },
    Scenario {
        name: "lost-second-fin",
        description: "close-4way whose second FIN (the server's) is lost and retransmitted",
        family: Family::V4,
        port: 40113,
        closed_first: "client",
        impairment: "the link drops the server's first FIN",
        classification: "lost FIN recovered",
        script: lost_second_fin,
    },
    Scenario {
        name: "abort",
        description: "the client abort()s 0.1 s after the exchange (smoltcp's SO_LINGER-0 equivalent): one RST+ACK",
        family: Family::V4,
        port: 40114,
        closed_first: "client",
        impairment: "none",
        classification: "RST abort",
        script: abort_client,
    },
    Scenario {
        name: "abort-server",
        description: "the server abort()s 0.1 s after the exchange: one RST+ACK",
        family: Family::V4,
        port: 40115,
        closed_first: "server",
        impairment: "none",
        classification: "RST abort",
        script: abort_server,
    },
    Scenario {
        name: "close-unread",
        description: "the server sends 500 bytes the client never reads; the client close()s with them unread (Linux sends RST here; smoltcp sends FIN); the server close()s 0.2 s after EOF",
        family: Family::V4,
        port: 40116,
        closed_first: "client",
        impairment: "none",
        classification: "4-way",
        script: close_unread,
    },
    Scenario {
        name: "fin-then-rst",
        description: "the client sends the request and close()s at once; the server answers 0.3 s later; the client application, done with the connection, abort()s when the data arrives: RST",
        family: Family::V4,
        port: 40117,
        closed_first: "client",
        impairment: "none",
        classification: "FIN then RST",
        script: fin_then_rst,
    },
    Scenario {
        name: "fin-wait-2-timeout",
        description: "the client sets a 2 s socket timeout (set_timeout) and close()s; the server stays in CLOSE-WAIT; 2 s after the ACK of its FIN the client's timeout aborts FIN-WAIT-2 with RST+ACK, which resets the server (its close() 4 s after EOF finds the socket already closed)",
        family: Family::V4,
        port: 40118,
        closed_first: "client",
        impairment: "none",
        classification: "FIN-WAIT-2 timeout",
        script: fin_wait_2_timeout,
    },
    Scenario {
        name: "dup-client-fin",
        description: "close-4way with the client's FIN duplicated; the server (CLOSE-WAIT) answers the copy with a second ACK",
        family: Family::V4,
        port: 40125,
        closed_first: "client",
        impairment: "the link duplicates the client's FIN (the copy 100 us after the original)",
        classification: "4-way",
        script: dup_client_fin,
    },
    Scenario {
        name: "dup-teardown",
        description: "close-4way with every FIN duplicated; the client (TIME-WAIT) ACKs the copy of the server's FIN, that ACK reaches the server after it closed (LAST-ACK ended with the first ACK), the server's interface answers RST, and the RST ends the client's TIME-WAIT",
        family: Family::V4,
        port: 40119,
        closed_first: "client",
        impairment: "the link duplicates every FIN in both directions (the copy 100 us after the original)",
        classification: "TIME-WAIT ended by RST",
        script: dup_teardown,
    },
    Scenario {
        name: "reorder-teardown",
        description: "the server sends its 200-byte reply and close()s 1 ms later; the FIN overtakes the held reply; the client close()s 0.2 s after EOF",
        family: Family::V4,
        port: 40120,
        closed_first: "server",
        impairment: "the link holds the server's first data segment (the reply) back 50 ms",
        classification: "4-way",
        script: reorder_teardown,
    },
    Scenario {
        name: "tw-reuse-after-timewait",
        description: "close-4way (client TIME-WAIT); 0.5 s after TIME-WAIT ends the same client socket connects again from the same port to the server's second listening socket",
        family: Family::V4,
        port: 40121,
        closed_first: "client",
        impairment: "none",
        classification: "reuse of the 4-tuple (after TIME-WAIT)",
        script: tw_reuse_after_timewait,
    },
    Scenario {
        name: "tw-abort-reuse",
        description: "close-4way; 1 s into TIME-WAIT the client abort()s the socket to reuse it (RST from TIME-WAIT) and 1 s later connects again from the same port",
        family: Family::V4,
        port: 40122,
        closed_first: "client",
        impairment: "none",
        classification: "reuse of the 4-tuple (inside TIME-WAIT)",
        script: tw_abort_reuse,
    },
    Scenario {
        name: "tw-connect-reuse",
        description: "close-4way; 1 s into TIME-WAIT the client calls connect() on the same socket from the same port, which smoltcp allows (is_open() is false in TIME-WAIT): TIME-WAIT ends silently and a SYN goes out",
        family: Family::V4,
        port: 40126,
        closed_first: "client",
        impairment: "none",
        classification: "reuse of the 4-tuple (inside TIME-WAIT)",
        script: tw_connect_reuse,
    },
    Scenario {
        name: "syn-to-server-timewait",
        description: "the server closes first and holds TIME-WAIT; 1 s later the client connects again from the same port; the TIME-WAIT socket silently drops the SYNs until it expires, then the server's second listening socket accepts a retransmitted SYN",
        family: Family::V4,
        port: 40123,
        closed_first: "server",
        impairment: "none",
        classification: "reuse of the 4-tuple (after TIME-WAIT)",
        script: syn_to_server_timewait,
    },
    Scenario {
        name: "tw-rst",
        description: "close-4way; a delayed duplicate of the client's final ACK reaches the closed server, whose interface answers RST; the RST is in the client's window and ends its TIME-WAIT; 1 s later the client connects again from the same port",
        family: Family::V4,
        port: 40124,
        closed_first: "client",
        impairment: "the link delivers the client's final ACK and a copy of it 300 ms later",
        classification: "TIME-WAIT ended by RST",
        script: tw_rst,
    },
];
