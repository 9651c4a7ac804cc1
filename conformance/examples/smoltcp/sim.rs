//! The simulated world: two smoltcp interfaces (client and server) joined by an impaired
//! in-memory link, a clock that only this driver advances, and a pcap capture at each
//! interface.
//!
//! Nothing here reads the wall clock or an unseeded random source: the clock starts at
//! [`EPOCH_SECS`] and moves only to the next event (a segment's arrival, a smoltcp timer,
//! a deadline of the scenario script), ISNs come from each interface's fixed
//! `random_seed`, and impairments are explicit rules ("drop the first FIN from the
//! client"), so every run produces the same bytes.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::rc::Rc;

use smoltcp::iface::{Config, Interface, PollIngressSingleResult, SocketHandle, SocketSet};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium, PcapMode, PcapSink, PcapWriter};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    HardwareAddress, IpAddress, IpCidr, Ipv4Address, Ipv4Packet, Ipv6Address, Ipv6Packet, TcpPacket,
};

/// The simulated clock starts here: 2026-01-01T00:00:00Z, in seconds since the Unix epoch.
/// pcap timestamps are this plus the simulated time.
pub const EPOCH_SECS: i64 = 1_767_225_600;
/// One-way delay of the link in each direction. Larger than zero so that the two vantages
/// see a segment at different times and FINs sent at the same instant cross.
pub const ONE_WAY: Duration = Duration::from_millis(1);
/// Gap between a segment and its duplicate, so that the capture orders them visibly.
pub const DUP_GAP: Duration = Duration::from_micros(100);
/// The server's listening port (the Linux captures use the same).
pub const SERVER_PORT: u16 = 5001;
/// Buffer size of every socket, each direction: larger than any scenario's data, so the
/// window never closes and segment shapes depend only on the teardown.
const SOCKET_BUFFER: usize = 8192;
/// A scenario that has not finished after this much simulated time is a bug in it.
const TIME_LIMIT: Duration = Duration::from_secs(120);

/// Which end of the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The connecting end.
    Client,
    /// The listening end.
    Server,
}

impl Side {
    fn idx(self) -> usize {
        match self {
            Side::Client => 0,
            Side::Server => 1,
        }
    }

    /// The other end.
    pub fn peer(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }

    /// `client` or `server`, as the truth files spell it.
    pub fn name(self) -> &'static str {
        match self {
            Side::Client => "client",
            Side::Server => "server",
        }
    }
}

/// IP version of a scenario, with the addresses of the Linux captures' topology (documentation
/// prefixes; the link plays the router between the two subnets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// IPv4: client 192.0.2.2, server 198.51.100.2.
    V4,
    /// IPv6: client 2001:db8:1::2, server 2001:db8:2::2.
    V6,
}

impl Family {
    /// (address, prefix length, gateway) of one side.
    fn addressing(self, side: Side) -> (IpAddress, u8, IpAddress) {
        match (self, side) {
            (Family::V4, Side::Client) => (v4(192, 0, 2, 2), 24, v4(192, 0, 2, 1)),
            (Family::V4, Side::Server) => (v4(198, 51, 100, 2), 24, v4(198, 51, 100, 1)),
            (Family::V6, Side::Client) => (v6(1, 2), 64, v6(1, 1)),
            (Family::V6, Side::Server) => (v6(2, 2), 64, v6(2, 1)),
        }
    }

    /// The address of one side.
    pub fn addr(self, side: Side) -> IpAddr {
        IpAddr::from(self.addressing(side).0)
    }

    /// 4 or 6.
    pub fn version(self) -> u8 {
        match self {
            Family::V4 => 4,
            Family::V6 => 6,
        }
    }
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddress {
    IpAddress::Ipv4(Ipv4Address::new(a, b, c, d))
}

fn v6(subnet: u16, host: u16) -> IpAddress {
    IpAddress::Ipv6(Ipv6Address::new(0x2001, 0xdb8, subnet, 0, 0, 0, 0, host))
}

/// Which segments an impairment rule applies to (as the sender transmitted them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Match {
    /// Any segment with FIN.
    Fin,
    /// A pure ACK (no data, SYN, FIN or RST) that acknowledges a FIN the other side sent:
    /// the final ACK of a close.
    AckOfPeerFin,
    /// Any segment carrying data.
    Data,
}

/// What an impairment rule does to a matching segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// It never arrives.
    Drop,
    /// It arrives, and a copy arrives [`DUP_GAP`] later.
    Duplicate,
    /// It arrives this much later than it would have.
    Hold(Duration),
    /// It arrives, and a byte-identical copy arrives this much later (a delayed duplicate).
    ReplayLater(Duration),
}

/// An explicit impairment: apply `action` to the `nth` (1-based) segment from `from` that
/// matches `what`, or to every such segment when `nth` is `None`.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    /// Sender of the segments the rule looks at.
    pub from: Side,
    /// Which of its segments.
    pub what: Match,
    /// Which occurrence (1-based); `None` for all.
    pub nth: Option<u32>,
    /// What happens to it.
    pub action: Action,
    seen: u32,
}

impl Rule {
    /// A rule that has not seen any segment yet.
    pub fn new(from: Side, what: Match, nth: Option<u32>, action: Action) -> Rule {
        Rule {
            from,
            what,
            nth,
            action,
            seen: 0,
        }
    }
}

/// The TCP header fields the link looks at.
#[derive(Clone, Copy, Debug)]
struct SegInfo {
    syn: bool,
    fin: bool,
    rst: bool,
    ack: Option<u32>,
    seq: u32,
    len: usize,
}

impl SegInfo {
    fn parse(ip: &[u8]) -> SegInfo {
        let from_tcp = |tcp: &[u8]| {
            let t = TcpPacket::new_checked(tcp).expect("smoltcp sent a valid TCP header");
            SegInfo {
                syn: t.syn(),
                fin: t.fin(),
                rst: t.rst(),
                ack: t.ack().then(|| t.ack_number().0 as u32),
                seq: t.seq_number().0 as u32,
                len: t.payload().len(),
            }
        };
        match ip.first().map(|b| b >> 4) {
            Some(4) => from_tcp(Ipv4Packet::new_checked(ip).expect("IPv4").payload()),
            Some(6) => from_tcp(Ipv6Packet::new_checked(ip).expect("IPv6").payload()),
            _ => panic!("smoltcp sent a packet that is neither IPv4 nor IPv6"),
        }
    }

    fn describe(&self) -> String {
        let mut flags = String::new();
        for (on, c) in [(self.syn, 'S'), (self.fin, 'F'), (self.rst, 'R')] {
            if on {
                flags.push(c);
            }
        }
        if self.ack.is_some() {
            flags.push('.');
        }
        format!(
            "[{flags}] seq {} ack {} len {}",
            self.seq,
            self.ack.unwrap_or(0),
            self.len
        )
    }
}

/// The in-memory device under each interface: what the link delivered, what smoltcp sent.
#[derive(Default)]
struct Port {
    rx: VecDeque<Vec<u8>>,
    tx: Vec<Vec<u8>>,
}

struct PortRx(Vec<u8>);
struct PortTx<'a>(&'a mut Vec<Vec<u8>>);

impl phy::RxToken for PortRx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for PortTx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0; len];
        let r = f(&mut buf);
        self.0.push(buf);
        r
    }
}

impl Device for Port {
    type RxToken<'a> = PortRx;
    type TxToken<'a> = PortTx<'a>;

    fn receive(&mut self, _: Instant) -> Option<(PortRx, PortTx<'_>)> {
        let frame = self.rx.pop_front()?;
        Some((PortRx(frame), PortTx(&mut self.tx)))
    }

    fn transmit(&mut self, _: Instant) -> Option<PortTx<'_>> {
        Some(PortTx(&mut self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        // Raw IP: no ARP/NDP in the captures (the Linux captures use static neighbours for
        // the same reason), and smoltcp's PcapWriter then writes LINKTYPE_RAW.
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = 1500;
        caps
    }
}

/// smoltcp's `PcapSink` writes its header fields in native byte order; this one writes
/// them little-endian so the files are the same bytes on every machine.
struct LeSink(Rc<RefCell<Vec<u8>>>);

impl PcapSink for LeSink {
    fn write(&mut self, data: &[u8]) {
        self.0.borrow_mut().extend_from_slice(data);
    }

    fn write_u16(&mut self, value: u16) {
        self.write(&value.to_le_bytes());
    }

    fn write_u32(&mut self, value: u32) {
        self.write(&value.to_le_bytes());
    }
}

/// One endpoint: a smoltcp interface, its device wrapped in smoltcp's `PcapWriter` (this
/// is the vantage point: everything the interface sent and received), its sockets.
struct Host {
    iface: Interface,
    dev: PcapWriter<Port, LeSink>,
    sockets: SocketSet<'static>,
    capture: Rc<RefCell<Vec<u8>>>,
    /// Sockets whose states are logged, with the state last seen.
    tracked: Vec<(SocketHandle, tcp::State)>,
    addr: IpAddress,
}

impl Host {
    fn new(family: Family, side: Side, seed: u64, now: Instant) -> Host {
        let capture = Rc::new(RefCell::new(Vec::new()));
        let mut dev = PcapWriter::new(Port::default(), LeSink(Rc::clone(&capture)), PcapMode::Both);
        let mut config = Config::new(HardwareAddress::Ip);
        // Fixed seed: smoltcp draws ISNs (tcp::Socket::random_seq_no) from this generator.
        config.random_seed = seed;
        let mut iface = Interface::new(config, &mut dev, now);
        let (addr, prefix, gateway) = family.addressing(side);
        iface.update_ip_addrs(|a| a.push(IpCidr::new(addr, prefix)).expect("one address"));
        match gateway {
            IpAddress::Ipv4(g) => iface.routes_mut().add_default_ipv4_route(g),
            IpAddress::Ipv6(g) => iface.routes_mut().add_default_ipv6_route(g),
        }
        .expect("one route");
        Host {
            iface,
            dev,
            sockets: SocketSet::new(Vec::new()),
            capture,
            tracked: Vec::new(),
            addr,
        }
    }
}

/// A segment on the link.
struct InFlight {
    at: Instant,
    order: u64,
    to: Side,
    bytes: Vec<u8>,
}

/// Why a socket's state changed, as far as the driver can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// A call of the scenario's application (connect, close, abort).
    Application,
    /// A segment arrived.
    Segment,
    /// An RST arrived.
    Rst,
    /// smoltcp's own timers while transmitting (TIME-WAIT expiry, user timeout).
    Timer,
}

/// One change of a socket's state.
#[derive(Clone, Debug)]
pub struct StateChange {
    /// Simulated time since the start, µs.
    pub at_us: i64,
    /// Index of the socket among its host's sockets (in order of creation).
    pub socket: usize,
    /// The new state.
    pub state: tcp::State,
    /// What caused it.
    pub cause: Cause,
}

/// The simulation of one scenario.
pub struct Sim {
    now: Instant,
    start: Instant,
    family: Family,
    hosts: [Host; 2],
    wire: Vec<InFlight>,
    order: u64,
    rules: Vec<Rule>,
    /// FIN sequence numbers (+1) each side has sent, for [`Match::AckOfPeerFin`].
    fin_next: [Vec<u32>; 2],
    pending_egress: bool,
    /// What the impairment rules did, one line each.
    pub impairment_log: Vec<String>,
    /// State changes of every tracked socket, per side.
    pub states: [Vec<StateChange>; 2],
}

impl Sim {
    /// A fresh world for `family`, with the interfaces' random seeds.
    pub fn new(family: Family, seeds: [u64; 2]) -> Sim {
        let start = Instant::from_secs(EPOCH_SECS);
        Sim {
            now: start,
            start,
            family,
            hosts: [
                Host::new(family, Side::Client, seeds[0], start),
                Host::new(family, Side::Server, seeds[1], start),
            ],
            wire: Vec::new(),
            order: 0,
            rules: Vec::new(),
            fin_next: [Vec::new(), Vec::new()],
            pending_egress: false,
            impairment_log: Vec::new(),
            states: [Vec::new(), Vec::new()],
        }
    }

    /// Adds an impairment rule to the link.
    pub fn impair(&mut self, rule: Rule) {
        self.rules.push(rule);
    }

    /// Simulated time since the start, µs.
    pub fn elapsed_us(&self) -> i64 {
        (self.now - self.start).total_micros() as i64
    }

    /// A new TCP socket on one side, tracked in the state log.
    pub fn socket(&mut self, side: Side) -> SocketHandle {
        let host = &mut self.hosts[side.idx()];
        let socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; SOCKET_BUFFER]),
            tcp::SocketBuffer::new(vec![0; SOCKET_BUFFER]),
        );
        let h = host.sockets.add(socket);
        host.tracked.push((h, tcp::State::Closed));
        h
    }

    /// A new server socket listening on [`SERVER_PORT`].
    pub fn listen(&mut self) -> SocketHandle {
        let h = self.socket(Side::Server);
        self.tcp_mut(Side::Server, h)
            .listen(SERVER_PORT)
            .expect("listen");
        h
    }

    /// Connects a (new or closed) client socket from `port` to the server.
    pub fn connect(&mut self, h: SocketHandle, port: u16) {
        let server = self.hosts[Side::Server.idx()].addr;
        let host = &mut self.hosts[Side::Client.idx()];
        host.sockets
            .get_mut::<tcp::Socket>(h)
            .connect(host.iface.context(), (server, SERVER_PORT), port)
            .expect("connect");
    }

    /// A socket, to look at.
    pub fn tcp(&self, side: Side, h: SocketHandle) -> &tcp::Socket<'static> {
        self.hosts[side.idx()].sockets.get::<tcp::Socket>(h)
    }

    /// A socket, to call.
    pub fn tcp_mut(&mut self, side: Side, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.hosts[side.idx()].sockets.get_mut::<tcp::Socket>(h)
    }

    /// The state of a socket.
    pub fn state(&self, side: Side, h: SocketHandle) -> tcp::State {
        self.tcp(side, h).state()
    }

    /// Queues all of `data` for sending (the buffers are large enough).
    pub fn send(&mut self, side: Side, h: SocketHandle, data: &[u8]) {
        let n = self.tcp_mut(side, h).send_slice(data).expect("send");
        assert_eq!(n, data.len(), "send buffer too small");
    }

    /// Reads everything received so far; returns how much.
    pub fn recv_all(&mut self, side: Side, h: SocketHandle) -> usize {
        let mut buf = [0u8; SOCKET_BUFFER];
        self.tcp_mut(side, h).recv_slice(&mut buf).unwrap_or(0)
    }

    /// Runs until `done` holds, checking it after every delivery (before the stacks
    /// transmit, so a script can react the way an application woken by the arrival
    /// would) and after every transmission. `deadline` is an extra event time for
    /// predicates that wait for a moment rather than for a segment.
    pub fn run_until(
        &mut self,
        what: &str,
        deadline: Option<Instant>,
        done: impl Fn(&Sim) -> bool,
    ) {
        // Whatever the script called since the last run shows up as an application cause.
        self.observe(Cause::Application);
        let mut same_instant = 0u32;
        loop {
            if self.pending_egress {
                self.egress();
                self.pending_egress = false;
            }
            if done(self) {
                return;
            }
            let next = self
                .next_event(deadline)
                .unwrap_or_else(|| panic!("waiting for {what}: nothing more can happen"));
            assert!(
                next < self.start + TIME_LIMIT,
                "waiting for {what}: not reached within {TIME_LIMIT}"
            );
            if next == self.now {
                same_instant += 1;
                assert!(
                    same_instant < 1000,
                    "waiting for {what}: stuck at one instant"
                );
            } else {
                same_instant = 0;
            }
            self.now = next;
            self.deliver();
            self.pending_egress = true;
            if done(self) {
                return;
            }
        }
    }

    /// Runs for `d` of simulated time.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until("time to pass", Some(until), move |s| s.now >= until);
    }

    /// Runs until every socket is closed or listening and nothing is on the link:
    /// the end of a scenario (TIME-WAIT included).
    pub fn run_until_quiet(&mut self) {
        self.run_until("all sockets closed", None, |s| {
            s.wire.is_empty()
                && s.hosts.iter().all(|h| {
                    h.tracked.iter().all(|&(x, _)| {
                        matches!(
                            h.sockets.get::<tcp::Socket>(x).state(),
                            tcp::State::Closed | tcp::State::Listen
                        )
                    })
                })
        });
        if self.pending_egress {
            self.egress();
            self.pending_egress = false;
        }
        assert!(self.wire.is_empty(), "a last segment is still on the link");
    }

    /// The capture at one side's interface (pcap bytes).
    pub fn capture(&self, side: Side) -> Vec<u8> {
        self.hosts[side.idx()].capture.borrow().clone()
    }

    /// The address and port family of this run.
    pub fn family(&self) -> Family {
        self.family
    }

    fn next_event(&mut self, deadline: Option<Instant>) -> Option<Instant> {
        let now = self.now;
        let wire = self.wire.iter().map(|p| p.at).min();
        let timers = self
            .hosts
            .iter_mut()
            .filter_map(|h| h.iface.poll_at(now, &h.sockets))
            .min();
        [wire, timers, deadline.filter(|d| *d >= now)]
            .into_iter()
            .flatten()
            .min()
            // smoltcp says "now" as the instant 0
            .map(|t| t.max(now))
    }

    /// Hands every segment due by now to its interface, in the order sent, and lets the
    /// interfaces process them (replies smoltcp makes while processing go out at once).
    fn deliver(&mut self) {
        let now = self.now;
        let mut due: Vec<InFlight> = Vec::new();
        let mut i = 0;
        while i < self.wire.len() {
            if self.wire[i].at <= now {
                due.push(self.wire.swap_remove(i));
            } else {
                i += 1;
            }
        }
        due.sort_by_key(|p| (p.at, p.order));
        let mut rst_to = [false; 2];
        for p in due {
            rst_to[p.to.idx()] |= SegInfo::parse(&p.bytes).rst;
            self.hosts[p.to.idx()].dev.get_mut().rx.push_back(p.bytes);
        }
        for side in [Side::Client, Side::Server] {
            let h = &mut self.hosts[side.idx()];
            while h.iface.poll_ingress_single(now, &mut h.dev, &mut h.sockets)
                != PollIngressSingleResult::None
            {}
            self.route(side);
            let cause = if rst_to[side.idx()] {
                Cause::Rst
            } else {
                Cause::Segment
            };
            self.observe_side(side, cause);
        }
    }

    fn egress(&mut self) {
        let now = self.now;
        for side in [Side::Client, Side::Server] {
            let h = &mut self.hosts[side.idx()];
            h.iface.poll_egress(now, &mut h.dev, &mut h.sockets);
            self.route(side);
            self.observe_side(side, Cause::Timer);
        }
    }

    /// Takes what one side transmitted, applies the impairment rules, forwards it as a
    /// router would (TTL or hop limit minus one) and puts it on the link.
    fn route(&mut self, from: Side) {
        let sent = std::mem::take(&mut self.hosts[from.idx()].dev.get_mut().tx);
        for mut bytes in sent {
            let seg = SegInfo::parse(&bytes);
            let pure_ack = seg.len == 0 && !seg.syn && !seg.fin && !seg.rst;
            let acks_peer_fin = seg
                .ack
                .is_some_and(|a| self.fin_next[from.peer().idx()].contains(&a));
            if seg.fin {
                self.fin_next[from.idx()].push(seg.seq.wrapping_add(seg.len as u32 + 1));
            }
            let mut action = None;
            for rule in self.rules.iter_mut().filter(|r| r.from == from) {
                let hit = match rule.what {
                    Match::Fin => seg.fin,
                    Match::AckOfPeerFin => pure_ack && acks_peer_fin,
                    Match::Data => seg.len > 0,
                };
                if hit {
                    rule.seen += 1;
                    if rule.nth.is_none_or(|n| n == rule.seen) && action.is_none() {
                        action = Some(rule.action);
                    }
                }
            }
            forward(&mut bytes);
            let base = self.now + ONE_WAY;
            let to = from.peer();
            if let Some(action) = action {
                let what = match action {
                    Action::Drop => "dropped".to_string(),
                    Action::Duplicate => format!("duplicated (copy {DUP_GAP} later)"),
                    Action::Hold(d) => format!("held back {d}"),
                    Action::ReplayLater(d) => format!("replayed a copy {d} later"),
                };
                let mut line = String::new();
                let t = self.elapsed_us();
                let _ = write!(
                    line,
                    "+{}.{:06} {}>{} {}: {what}",
                    t / 1_000_000,
                    t % 1_000_000,
                    from.name(),
                    to.name(),
                    seg.describe()
                );
                self.impairment_log.push(line);
            }
            match action {
                None => self.put(base, to, bytes),
                Some(Action::Drop) => {}
                Some(Action::Duplicate) => {
                    self.put(base, to, bytes.clone());
                    self.put(base + DUP_GAP, to, bytes);
                }
                Some(Action::Hold(d)) => self.put(base + d, to, bytes),
                Some(Action::ReplayLater(d)) => {
                    self.put(base, to, bytes.clone());
                    self.put(base + d, to, bytes);
                }
            }
        }
    }

    fn put(&mut self, at: Instant, to: Side, bytes: Vec<u8>) {
        self.order += 1;
        self.wire.push(InFlight {
            at,
            order: self.order,
            to,
            bytes,
        });
    }

    fn observe(&mut self, cause: Cause) {
        self.observe_side(Side::Client, cause);
        self.observe_side(Side::Server, cause);
    }

    fn observe_side(&mut self, side: Side, cause: Cause) {
        let at_us = self.elapsed_us();
        let h = &mut self.hosts[side.idx()];
        for (i, (handle, last)) in h.tracked.iter_mut().enumerate() {
            let state = h.sockets.get::<tcp::Socket>(*handle).state();
            if state != *last {
                *last = state;
                self.states[side.idx()].push(StateChange {
                    at_us,
                    socket: i,
                    state,
                    cause,
                });
            }
        }
    }
}

/// What a router does to a forwarded IP packet: TTL (hop limit) minus one, and for IPv4
/// the header checksum redone. The TCP checksum does not cover either.
fn forward(bytes: &mut [u8]) {
    match bytes[0] >> 4 {
        4 => {
            let mut p = Ipv4Packet::new_unchecked(bytes);
            p.set_hop_limit(p.hop_limit() - 1);
            p.fill_checksum();
        }
        _ => {
            let mut p = Ipv6Packet::new_unchecked(bytes);
            p.set_hop_limit(p.hop_limit() - 1);
        }
    }
}
