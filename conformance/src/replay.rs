//! `teardown replay`: one capture file streamed through ingestion and the oracle.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::mpsc;

use serde::Serialize;
use teardown_model::builtins::builtins;
use teardown_model::stack::StackDescription;

use crate::capture::{CaptureError, CaptureErrorKind, ErrorUnit};
use crate::connections::{ConnectionKey, Placement};
use crate::ingest::{FileSummary, ingest_streaming};
use crate::observation::Observation;
use crate::oracle::{ConnectionReplay, ConnectionVerdict, Inconclusive, VantageChoice, Verdict};

/// Which stack description each endpoint is judged against.
#[derive(Clone, Debug)]
pub enum StackChoice {
    /// Per endpoint, from its SYN's fingerprint; `fallback` where there is none.
    Auto {
        /// The description for endpoints without a fingerprint.
        fallback: StackDescription,
    },
    /// One description for every endpoint.
    Named(StackDescription),
}

/// Options of a replay.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// Stack descriptions.
    pub stack: StackChoice,
    /// Capture point.
    pub vantage: VantageChoice,
    /// Keep the ladder of every incarnation, not only of those that are not plainly
    /// CONFORMING (`--diagram-all`; see [`ConnectionReplay::keep_every_ladder`]).
    pub every_ladder: bool,
    /// Resource limits.
    pub limits: Limits,
    /// Threads that replay one file, its connections shared among them (0 or 1: the
    /// reading thread alone). The verdicts and the report do not depend on it.
    pub threads: usize,
}

/// What replay may hold, so that hostile captures (a SYN flood of millions of 4-tuples,
/// segments no story explains) cannot exhaust memory or time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Connections replayed at once (`--max-connections`). Beyond it the least recently
    /// active are let go, closed ones first: a closed one keeps its verdict, an open one
    /// ends INCONCLUSIVE (`evicted`). Each costs a few KiB while replayed.
    pub max_connections: usize,
    /// Hypotheses kept per connection (`--max-hypotheses`); see
    /// [`ConnectionReplay::set_max_hypotheses`].
    pub max_hypotheses: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 200_000,
            max_hypotheses: crate::oracle::MAX_HYPOTHESES,
        }
    }
}

/// Connections replay let go at `--max-connections`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Evictions {
    /// The limit.
    pub limit: usize,
    /// Connections let go.
    pub connections: u64,
    /// Of those, connections still open (their incarnation is INCONCLUSIVE, `evicted`).
    pub open: u64,
    /// The frame at which the limit was first reached.
    pub first_frame: u64,
}

/// Why `--stack auto` picked a description for an endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StackPick {
    /// The description.
    pub stack: String,
    /// Why.
    pub reason: String,
}

/// Picks a description from a SYN or SYN-ACK: the initial TTL tells the family (64: Unix,
/// 128: Windows, 255: others), the window and the timestamps option narrow it.
pub fn fingerprint(obs: &Observation) -> StackPick {
    let ttl = obs.ttl;
    let initial = match ttl {
        0..=64 => 64,
        65..=128 => 128,
        _ => 255,
    };
    let ts = obs.timestamps.is_some();
    let (stack, why) = match (initial, obs.window, ts) {
        (128, _, _) => ("windows", "initial TTL 128"),
        (64, 65535, true) => (
            "macos",
            "initial TTL 64, window 65535 with timestamps (XNU; FreeBSD looks the same)",
        ),
        (64, _, true) => (
            "linux",
            "initial TTL 64, window other than 65535, timestamps",
        ),
        (64, _, false) => (
            "linux",
            "initial TTL 64 without timestamps (Linux with tcp_timestamps=0, or an embedded stack)",
        ),
        _ => (
            "rfc9293",
            "initial TTL 255: no built-in fingerprint, RFC 9293 assumed",
        ),
    };
    StackPick {
        stack: stack.to_string(),
        reason: format!("{why}; TTL {ttl}, window {}", obs.window),
    }
}

/// The verdicts of one capture file.
#[derive(Clone, Debug, Serialize)]
pub struct FileVerdicts {
    /// Ingestion's account of the file (frames, skips, damage).
    #[serde(flatten)]
    pub ingest: FileReport,
    /// One entry per connection, in order of first appearance.
    pub connections: Vec<ConnectionVerdict>,
    /// Per connection, what `--stack auto` picked for client and server (empty otherwise).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stack_picks: Vec<[Option<StackPick>; 2]>,
    /// Connections let go at `--max-connections`, if the limit was reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evictions: Option<Evictions>,
}

/// What ingestion says of the file, without its connection list (the verdicts replace it).
#[derive(Clone, Debug, Serialize)]
pub struct FileReport {
    /// The file.
    pub path: String,
    /// Container format.
    pub format: Option<String>,
    /// Frames read.
    pub packets: u64,
    /// TCP segments.
    pub tcp_segments: u64,
    /// Frames without a TCP segment, by reason.
    pub skipped: Vec<crate::ingest::SkipCount>,
    /// Damage that stopped reading: the verdicts cover the frames before it.
    pub error: Option<CaptureError>,
}

impl FileVerdicts {
    /// Incarnations with this verdict.
    pub fn count(&self, v: Verdict) -> usize {
        self.connections
            .iter()
            .flat_map(|c| &c.incarnations)
            .filter(|i| i.verdict == v)
            .count()
    }
}

/// A connection being replayed.
struct Live {
    replay: ConnectionReplay,
    picks: [Option<StackPick>; 2],
    /// Timestamp of its latest segment.
    last_ns: i64,
    /// See [`ConnectionReplay::quiet_horizon_ns`].
    horizon_ns: i64,
}

/// How often, in capture time, replay looks for connections that fell silent.
const SWEEP_INTERVAL_NS: i64 = 10_000_000_000;

/// Replay's clock: the latest capture time seen (timestamps may go backwards), and when the
/// next sweep for silent connections is due. One clock for both drivers, so that one thread
/// and several sweep at the same segments — their verdicts depend on it.
struct SweepClock {
    now: i64,
    next_sweep: i64,
}

impl SweepClock {
    fn new() -> Self {
        SweepClock {
            now: i64::MIN,
            next_sweep: i64::MIN,
        }
    }

    /// Advances to a segment stamped `ts`; whether a sweep is due now, before it is placed
    /// (it may be the first after a silence that ends its own connection's replay).
    fn advance(&mut self, ts: i64) -> bool {
        self.now = self.now.max(ts);
        let due = self.now >= self.next_sweep;
        if due {
            self.next_sweep = self.now.saturating_add(SWEEP_INTERVAL_NS);
        }
        due
    }

    /// When replay ends: the last segment, or the end of the capture if it ran on (silence
    /// until then is evidence too).
    fn end(&self, running_until_ns: Option<i64>) -> i64 {
        self.now.max(running_until_ns.unwrap_or(i64::MIN))
    }
}

/// Where a replay hands each connection as it settles: its replay ended (the capture did,
/// it was closed and silent past its quiet horizon, or it was let go at
/// `--max-connections`), so nothing of it stays in memory that the sink does not keep.
/// [`replay`] collects them; a report renderer can write them out instead
/// (`replay_report::Rendered`), which bounds the memory of a capture with millions of
/// connections by `--max-connections`.
pub trait VerdictSink {
    /// Connection `index` (order of first appearance) settled with `verdict`. `first`: its
    /// first replay, with what `--stack auto` picked; otherwise a later replay of a 4-tuple
    /// that came back, whose incarnations follow those already given (its `client` and
    /// `server` are the first replay's; its incarnations already judged are INCONCLUSIVE,
    /// resumed).
    fn settled(&mut self, index: usize, verdict: ConnectionVerdict, picks: Picks, first: bool);
}

/// What `--stack auto` picked for client and server.
pub type Picks = [Option<StackPick>; 2];

/// Collects settled connections into a [`FileVerdicts`]' list, in order of first appearance:
/// the sink of [`replay`].
#[derive(Debug, Default)]
pub struct Collect {
    connections: Vec<Option<(ConnectionVerdict, Picks)>>,
}

impl Collect {
    /// The verdicts of the replay `outcome` came from, run with `opts`.
    pub fn into_verdicts(self, outcome: FileOutcome, opts: &ReplayOptions) -> FileVerdicts {
        let auto = matches!(opts.stack, StackChoice::Auto { .. });
        let mut picks = Vec::new();
        let connections = self
            .connections
            .into_iter()
            .flatten()
            .map(|(verdict, p)| {
                if auto {
                    picks.push(p);
                }
                verdict
            })
            .collect();
        FileVerdicts {
            ingest: outcome.ingest,
            connections,
            stack_picks: picks,
            evictions: outcome.evictions,
        }
    }
}

impl VerdictSink for Collect {
    fn settled(&mut self, index: usize, verdict: ConnectionVerdict, picks: Picks, first: bool) {
        if index >= self.connections.len() {
            self.connections.resize_with(index + 1, || None);
        }
        let Some(slot) = self.connections.get_mut(index) else {
            return;
        };
        match slot {
            Some((prev, _)) if !first => prev.incarnations.extend(verdict.incarnations),
            _ => *slot = Some((verdict, picks)),
        }
    }
}

/// What replay remembers of a 4-tuple once its replay settled, should the 4-tuple come back.
#[derive(Clone, Copy)]
struct Settled {
    /// The last incarnation judged.
    judged: Option<u32>,
    /// Its last replay was cut short by eviction.
    evicted: bool,
    /// The client is endpoint `a` of the key.
    client_is_a: bool,
}

/// The outcome of one file's replay besides its connections, which went to the sink.
#[derive(Clone, Debug)]
pub struct FileOutcome {
    /// Ingestion's account of the file.
    pub ingest: FileReport,
    /// Connections (distinct 4-tuples) handed to the sink.
    pub connections: usize,
    /// Connections let go at `--max-connections`, if the limit was reached.
    pub evictions: Option<Evictions>,
}

/// Why a replay ended before the capture did.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// The capture ended, or the connection was closed and silent past its horizon.
    Settled,
    /// Let go at `--max-connections`; `open`: before its close completed.
    Evicted { open: bool },
}

/// Replays one capture from `input`.
///
/// A closed connection ([`ConnectionReplay::closed`]) silent for its quiet horizon
/// ([`ConnectionReplay::quiet_horizon_ns`]) is finished there and then, as of that horizon, so that memory follows the connections
/// alive in the capture rather than every connection it ever held. Should its 4-tuple come
/// back, the new segments are replayed afresh and their incarnations appended to its
/// verdict.
pub fn replay<R: Read>(path: &str, input: R, opts: &ReplayOptions) -> FileVerdicts {
    let mut sink = Collect::default();
    let outcome = replay_into(path, input, opts, &mut sink);
    sink.into_verdicts(outcome, opts)
}

/// [`replay`], handing each connection to `sink` as it settles instead of collecting them.
/// With `opts.threads` above 1, connections are replayed by that many threads besides the
/// reading one — connection `c` (order of first appearance) by thread `c` modulo their
/// number — and the sink sees the same connections, verdicts and outcome as with one: the
/// reading thread decides the sweeps of silent connections in capture order, and at
/// `--max-connections` waits for every thread before it chooses what to let go.
pub fn replay_into<R: Read>(
    path: &str,
    input: R,
    opts: &ReplayOptions,
    sink: &mut dyn VerdictSink,
) -> FileOutcome {
    if opts.threads > 1 {
        return replay_in_threads(path, input, opts, sink);
    }
    let max_live = opts.limits.max_connections.max(1);
    let mut shard = Shard::new(opts, 0, 1);
    let mut clock = SweepClock::new();
    let mut evictions: Option<Evictions> = None;
    let summary = ingest_streaming(path, input, |obs, placement| {
        if clock.advance(obs.timestamp_ns) {
            shard.sweep(clock.now, sink);
        }
        if !shard.is_live(placement.connection) && shard.live_ids.len() >= max_live {
            let chosen = to_evict(shard.candidates(), &mut evictions, max_live, obs.frame);
            shard.evict(&chosen, clock.now, sink);
        }
        shard.place(obs, placement);
    });
    let connections = shard.finish(clock.end(summary.running_until_ns), sink);
    FileOutcome {
        connections,
        ingest: file_report(summary),
        evictions,
    }
}

/// Which connections to let go so that a new one fits: an eighth of those replayed (at
/// least one), closed ones first (their verdict stands), then open ones, least recently
/// active first. An eighth at a time, so that the sort is paid once per many new
/// connections. `candidates`: (open, last segment's time, connection) of each replayed.
/// Counted in `evictions` (begun at `frame` the first time the `limit` is reached).
fn to_evict(
    mut candidates: Vec<(bool, i64, usize)>,
    evictions: &mut Option<Evictions>,
    limit: usize,
    frame: u64,
) -> Vec<(bool, usize)> {
    candidates.sort_unstable();
    let n = (candidates.len() / 8).max(1);
    let chosen: Vec<(bool, usize)> = candidates
        .iter()
        .take(n)
        .map(|&(open, _, c)| (open, c))
        .collect();
    let e = evictions.get_or_insert(Evictions {
        limit,
        connections: 0,
        open: 0,
        first_frame: frame,
    });
    e.connections += chosen.len() as u64;
    e.open += chosen.iter().filter(|(open, _)| *open).count() as u64;
    chosen
}

/// The connections one thread replays: all of a file's, or, with `threads` above 1, those
/// whose index (order of first appearance) is `part` modulo `parts`.
struct Shard<'o> {
    opts: &'o ReplayOptions,
    part: usize,
    parts: usize,
    /// Looked up per connection: built once per file, not once per lookup.
    catalogue: Vec<teardown_model::builtins::Builtin>,
    /// Per connection of this shard (connection index divided by `parts`): being
    /// replayed, or settled.
    live: Vec<Option<Box<Live>>>,
    finished: Vec<Option<Settled>>,
    /// Connections (their index in the file) being replayed.
    live_ids: Vec<usize>,
}

impl<'o> Shard<'o> {
    fn new(opts: &'o ReplayOptions, part: usize, parts: usize) -> Self {
        Shard {
            opts,
            part,
            parts,
            catalogue: builtins(),
            live: Vec::new(),
            finished: Vec::new(),
            live_ids: Vec::new(),
        }
    }

    fn slot(&self, c: usize) -> usize {
        c / self.parts
    }

    fn is_live(&self, c: usize) -> bool {
        self.live.get(self.slot(c)).is_some_and(|l| l.is_some())
    }

    /// Settles the closed connections silent past their quiet horizon at `now`.
    fn sweep(&mut self, now: i64, sink: &mut dyn VerdictSink) {
        let parts = self.parts;
        let (live, finished) = (&mut self.live, &mut self.finished);
        self.live_ids.retain(|&c| {
            let s = c / parts;
            let quiet_until = live
                .get(s)
                .and_then(|l| l.as_ref())
                .filter(|l| l.replay.closed())
                .map(|l| l.last_ns.saturating_add(l.horizon_ns));
            match quiet_until {
                Some(until) if until < now => {
                    if let (Some(l), Some(f)) = (live[s].take(), finished.get_mut(s)) {
                        settle(sink, c, f, *l, until, Ending::Settled);
                    }
                    false
                }
                _ => true,
            }
        });
    }

    /// (open, last segment's time, connection) of each connection being replayed.
    fn candidates(&self) -> Vec<(bool, i64, usize)> {
        self.live_ids
            .iter()
            .filter_map(|&c| {
                let l = self.live.get(self.slot(c))?.as_ref()?;
                Some((!l.replay.closed(), l.last_ns, c))
            })
            .collect()
    }

    /// Lets the `chosen` connections go at `now` (see [`to_evict`]).
    fn evict(&mut self, chosen: &[(bool, usize)], now: i64, sink: &mut dyn VerdictSink) {
        for &(open, c) in chosen {
            let s = self.slot(c);
            if let (Some(l), Some(f)) = (
                self.live.get_mut(s).and_then(Option::take),
                self.finished.get_mut(s),
            ) {
                let until = now.max(l.last_ns);
                settle(sink, c, f, *l, until, Ending::Evicted { open });
            }
        }
        let (live, parts) = (&self.live, self.parts);
        self.live_ids
            .retain(|&c| live.get(c / parts).is_some_and(Option::is_some));
    }

    /// Replays `obs`, starting its connection's replay if it has none.
    fn place(&mut self, obs: &Observation, placement: Placement) {
        let c = placement.connection;
        let s = self.slot(c);
        if s >= self.live.len() {
            self.live.resize_with(s + 1, || None);
            self.finished.resize_with(s + 1, || None);
        }
        let opts = self.opts;
        let catalogue = &self.catalogue;
        let builtin = |name: &str| {
            catalogue
                .iter()
                .find(|b| b.stack.name == name)
                .map(|b| b.stack.clone())
        };
        let Some(slot) = self.live.get_mut(s) else {
            return;
        };
        let live_ids = &mut self.live_ids;
        let l = slot.get_or_insert_with(|| {
            let (key, _) = ConnectionKey::of(obs.src, obs.dst);
            let (stacks, picks) = stacks_for(obs, &opts.stack, &builtin);
            let mut replay = ConnectionReplay::new(key, stacks, opts.vantage);
            if opts.every_ladder {
                replay.keep_every_ladder();
            }
            replay.set_max_hypotheses(opts.limits.max_hypotheses);
            let horizon_ns = i64::try_from(replay.quiet_horizon_ns()).unwrap_or(i64::MAX);
            live_ids.push(c);
            Box::new(Live {
                replay,
                picks,
                last_ns: obs.timestamp_ns,
                horizon_ns,
            })
        });
        if matches!(opts.stack, StackChoice::Auto { .. })
            && obs.flags.syn()
            && obs.flags.ack()
            && l.picks[1].is_none()
        {
            let pick = fingerprint(obs);
            if let Some(desc) = builtin(&pick.stack) {
                l.replay.set_stack(placement.from_a, desc);
            }
            l.picks[1] = Some(pick);
        }
        l.replay
            .observe(obs, placement.from_a, placement.incarnation);
        l.last_ns = l.last_ns.max(obs.timestamp_ns);
    }

    /// Settles every connection still replayed as of `end` (a closed one as of its quiet
    /// horizon, if that comes first). Returns the connections this shard handed to the
    /// sink.
    fn finish(self, end: i64, sink: &mut dyn VerdictSink) -> usize {
        let Shard {
            part,
            parts,
            live,
            mut finished,
            ..
        } = self;
        for (s, (slot, f)) in live.into_iter().zip(finished.iter_mut()).enumerate() {
            if let Some(l) = slot {
                let until = if l.replay.closed() {
                    end.min(l.last_ns.saturating_add(l.horizon_ns))
                } else {
                    end
                };
                settle(sink, s * parts + part, f, *l, until, Ending::Settled);
            }
        }
        finished.iter().flatten().count()
    }
}

/// What the reading thread sends a replaying thread, in the order of the capture.
enum ToShard {
    /// A segment of one of its connections.
    Segment(Observation, Placement),
    /// Look for connections silent past their horizon at `now`: the `n`-th sweep.
    Sweep { now: i64, n: u32 },
    /// Say which connections are being replayed, once everything sent before is done.
    Sync,
    /// Let these connections go as of `now` (`--max-connections`).
    Evict {
        chosen: Vec<(bool, usize)>,
        now: i64,
    },
    /// The capture ended; settle everything as of this time.
    End(i64),
}

/// What a replaying thread sends back.
enum FromShard {
    /// A connection settled; `sweep`: by the `n`-th sweep.
    Settled {
        index: usize,
        verdict: Box<ConnectionVerdict>,
        picks: Picks,
        first: bool,
        sweep: Option<u32>,
    },
    /// The connections being replayed ([`Shard::candidates`]).
    Synced(Vec<(bool, i64, usize)>),
    /// The capture ended: this many connections went to the sink.
    Done(usize),
    /// The thread panicked (a bug): the reading thread panics with it rather than wait.
    Panicked(Box<dyn std::any::Any + Send>),
}

/// Segments sent to a replaying thread at once.
const BATCH: usize = 512;

/// The sink of a replaying thread: what settles goes back to the reading thread.
struct Forward<'a> {
    to: &'a mpsc::Sender<FromShard>,
    sweep: Option<u32>,
}

impl VerdictSink for Forward<'_> {
    fn settled(&mut self, index: usize, verdict: ConnectionVerdict, picks: Picks, first: bool) {
        // The reading thread outlives every replaying one (a scope): sending cannot fail
        // while it listens, and once it has stopped nothing more is wanted.
        let _ = self.to.send(FromShard::Settled {
            index,
            verdict: Box::new(verdict),
            picks,
            first,
            sweep: self.sweep,
        });
    }
}

/// A replaying thread: the connections of `part`, in the order the reading thread sends
/// their segments and its instructions ([`shard_loop`]). A panic (a bug) is sent back, so
/// that the reading thread does not wait for this one for ever.
fn run_shard(
    opts: &ReplayOptions,
    part: usize,
    parts: usize,
    from: mpsc::Receiver<Vec<ToShard>>,
    to: mpsc::Sender<FromShard>,
) {
    let replayed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        shard_loop(opts, part, parts, from, &to)
    }));
    if let Err(panic) = replayed {
        let _ = to.send(FromShard::Panicked(panic));
    }
}

/// What [`run_shard`] does until the capture ends or the reading thread stops sending.
fn shard_loop(
    opts: &ReplayOptions,
    part: usize,
    parts: usize,
    from: mpsc::Receiver<Vec<ToShard>>,
    to: &mpsc::Sender<FromShard>,
) {
    let mut shard = Shard::new(opts, part, parts);
    let mut out = Forward { to, sweep: None };
    for batch in from {
        for m in batch {
            match m {
                ToShard::Segment(obs, placement) => shard.place(&obs, placement),
                ToShard::Sweep { now, n } => {
                    out.sweep = Some(n);
                    shard.sweep(now, &mut out);
                    out.sweep = None;
                }
                ToShard::Sync => {
                    let _ = to.send(FromShard::Synced(shard.candidates()));
                }
                ToShard::Evict { chosen, now } => {
                    shard.evict(&chosen, now, &mut out);
                }
                ToShard::End(end) => {
                    let connections = shard.finish(end, &mut out);
                    let _ = to.send(FromShard::Done(connections));
                    return;
                }
            }
        }
    }
}

/// The reading thread's side of [`replay_in_threads`]: batches for each replaying thread,
/// and which connections it knows to be replayed.
struct Dispatch {
    to: Vec<mpsc::SyncSender<Vec<ToShard>>>,
    batches: Vec<Vec<ToShard>>,
    back: mpsc::Receiver<FromShard>,
    /// Per connection: being replayed, as far as this thread knows. `false` is exact;
    /// `true` may be a connection a sweep settled whose settlement has not come back yet.
    live: Vec<bool>,
    /// Per connection: sweeps sent before its latest segment. A connection the `n`-th
    /// sweep settled was not replayed after it only if `n` is above this.
    epoch: Vec<u32>,
    /// Connections `live` says are replayed: at least those that are.
    count: usize,
    sweeps: u32,
    /// Connections handed to the sink by threads that finished.
    connections: usize,
    done: usize,
}

impl Dispatch {
    fn new(to: Vec<mpsc::SyncSender<Vec<ToShard>>>, back: mpsc::Receiver<FromShard>) -> Self {
        Dispatch {
            batches: to.iter().map(|_| Vec::with_capacity(BATCH)).collect(),
            to,
            back,
            live: Vec::new(),
            epoch: Vec::new(),
            count: 0,
            sweeps: 0,
            connections: 0,
            done: 0,
        }
    }

    fn send(&mut self, part: usize, m: ToShard) {
        let Some(batch) = self.batches.get_mut(part) else {
            return;
        };
        batch.push(m);
        if batch.len() >= BATCH {
            self.flush(part);
        }
    }

    fn flush(&mut self, part: usize) {
        if let (Some(batch), Some(to)) = (self.batches.get_mut(part), self.to.get(part))
            && !batch.is_empty()
        {
            let full = std::mem::replace(batch, Vec::with_capacity(BATCH));
            // A thread that stopped (it panicked) is reported when the scope joins it.
            let _ = to.send(full);
        }
    }

    fn flush_all(&mut self) {
        for part in 0..self.to.len() {
            self.flush(part);
        }
    }

    /// Hands what came back to `sink`, waiting for a message if `wait`; returns a
    /// [`FromShard::Synced`] list, if that is what came.
    fn receive(
        &mut self,
        sink: &mut dyn VerdictSink,
        wait: bool,
    ) -> Option<Option<Vec<(bool, i64, usize)>>> {
        let m = if wait {
            self.back.recv().ok()?
        } else {
            self.back.try_recv().ok()?
        };
        match m {
            FromShard::Settled {
                index,
                verdict,
                picks,
                first,
                sweep,
            } => {
                if let Some(n) = sweep
                    && n > self.epoch.get(index).copied().unwrap_or(0)
                    && let Some(live) = self.live.get_mut(index)
                    && *live
                {
                    *live = false;
                    self.count = self.count.saturating_sub(1);
                }
                sink.settled(index, *verdict, picks, first);
                Some(None)
            }
            FromShard::Synced(list) => Some(Some(list)),
            FromShard::Done(n) => {
                self.connections += n;
                self.done += 1;
                Some(None)
            }
            // Waiting for the thread would wait forever; leaving, this thread drops what
            // the others wait on, and they end too.
            FromShard::Panicked(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Waits until every replaying thread has done all it was sent, and returns the
    /// connections being replayed; `live` and `count` are then exact.
    fn sync(&mut self, sink: &mut dyn VerdictSink) -> Vec<(bool, i64, usize)> {
        for part in 0..self.to.len() {
            self.send(part, ToShard::Sync);
        }
        self.flush_all();
        let mut all = Vec::new();
        let mut replies = 0;
        while replies < self.to.len() {
            match self.receive(sink, true) {
                Some(Some(list)) => {
                    all.extend(list);
                    replies += 1;
                }
                Some(None) => {}
                // Every thread stopped (one panicked): the scope reports it.
                None => break,
            }
        }
        self.count = all.len();
        all
    }
}

/// [`replay_into`] on `opts.threads` threads besides the reading one: connection `c` (order
/// of first appearance) is replayed by thread `c` modulo the threads, each connection's
/// segments in capture order, and what settles comes back to be handed to `sink`.
///
/// The verdicts are those of one thread: each connection's replay sees the same segments;
/// sweeps for silent connections happen at the same points of the capture (the reading
/// thread decides them and sends them in order); and where `--max-connections` may let
/// connections go, the reading thread first waits for every thread to catch up, so that it
/// chooses among the same connections, in the same states, as one thread would. That wait
/// is needed only at the limit: below it, nothing to choose.
fn replay_in_threads<R: Read>(
    path: &str,
    input: R,
    opts: &ReplayOptions,
    sink: &mut dyn VerdictSink,
) -> FileOutcome {
    let parts = opts.threads.max(1);
    let max_live = opts.limits.max_connections.max(1);
    std::thread::scope(|scope| {
        let (back_tx, back) = mpsc::channel();
        let mut to = Vec::with_capacity(parts);
        for part in 0..parts {
            let (tx, rx) = mpsc::sync_channel(8);
            let back_tx = back_tx.clone();
            scope.spawn(move || run_shard(opts, part, parts, rx, back_tx));
            to.push(tx);
        }
        drop(back_tx);
        let mut d = Dispatch::new(to, back);
        let mut clock = SweepClock::new();
        let mut evictions: Option<Evictions> = None;
        let summary = ingest_streaming(path, input, |obs, placement| {
            if clock.advance(obs.timestamp_ns) {
                d.sweeps += 1;
                for part in 0..parts {
                    d.send(
                        part,
                        ToShard::Sweep {
                            now: clock.now,
                            n: d.sweeps,
                        },
                    );
                }
            }
            let c = placement.connection;
            if c >= d.live.len() {
                d.live.resize(c + 1, false);
                d.epoch.resize(c + 1, 0);
            }
            // One thread lets connections go when a connection not being replayed comes
            // and as many as the limit are. `live` is exact where it says no. Where it says
            // yes of a connection a sweep settled, fewer than the limit are replayed: the
            // sweep left fewer, and a new connection that came since, with as many, made
            // this thread wait (below) and so learn of the settlement.
            if d.count >= max_live && !d.live[c] {
                let replayed = d.sync(sink);
                if !d.live[c] && replayed.len() >= max_live {
                    let chosen = to_evict(replayed, &mut evictions, max_live, obs.frame);
                    let mut of_part: Vec<Vec<(bool, usize)>> = vec![Vec::new(); parts];
                    for &(open, cc) in &chosen {
                        if let Some(live) = d.live.get_mut(cc) {
                            *live = false;
                        }
                        d.count = d.count.saturating_sub(1);
                        of_part[cc % parts].push((open, cc));
                    }
                    for (part, chosen) in of_part.into_iter().enumerate() {
                        if !chosen.is_empty() {
                            d.send(
                                part,
                                ToShard::Evict {
                                    chosen,
                                    now: clock.now,
                                },
                            );
                        }
                    }
                }
            }
            if !d.live[c] {
                d.live[c] = true;
                d.count += 1;
            }
            d.epoch[c] = d.sweeps;
            d.send(c % parts, ToShard::Segment(*obs, placement));
            while d.receive(sink, false).is_some() {}
        });
        let end = clock.end(summary.running_until_ns);
        for part in 0..parts {
            d.send(part, ToShard::End(end));
        }
        d.flush_all();
        while d.done < parts && d.receive(sink, true).is_some() {}
        FileOutcome {
            connections: d.connections,
            ingest: file_report(summary),
            evictions,
        }
    })
}

/// Finishes `l` as of `until` and hands its verdict to `sink`: the first replay of the
/// 4-tuple makes it, a later one (after the connection fell silent or was evicted) adds its
/// incarnations; more of one already judged is marked as such.
fn settle(
    sink: &mut dyn VerdictSink,
    index: usize,
    f: &mut Option<Settled>,
    l: Live,
    until: i64,
    ending: Ending,
) {
    let mut verdict = l.replay.finish(until);
    if ending == (Ending::Evicted { open: true })
        && let Some(i) = verdict.incarnations.last_mut()
        && i.verdict != Verdict::Violation
    {
        i.verdict = Verdict::Inconclusive;
        i.inconclusive = Some(Inconclusive::Evicted);
    }
    let evicted = matches!(ending, Ending::Evicted { .. });
    let last = verdict
        .incarnations
        .last()
        .and_then(|i| u32::try_from(i.incarnation).ok());
    match f {
        None => {
            *f = Some(Settled {
                judged: last,
                evicted,
                client_is_a: verdict.client == verdict.key.a,
            });
            sink.settled(index, verdict, l.picks, true);
        }
        Some(prev) => {
            // A new incarnation (a SYN after the gap) stands on its own.
            let why = if prev.evicted {
                Inconclusive::ResumedAfterEviction
            } else {
                Inconclusive::ResumedAfterSilence
            };
            for i in &mut verdict.incarnations {
                if prev
                    .judged
                    .is_some_and(|j| u32::try_from(i.incarnation).is_ok_and(|n| n <= j))
                    && i.verdict != Verdict::Violation
                {
                    i.verdict = Verdict::Inconclusive;
                    i.inconclusive = Some(why);
                }
            }
            // Reported under the 4-tuple's first replay, whose client and server it keeps.
            let (a, b) = (verdict.key.a, verdict.key.b);
            (verdict.client, verdict.server) = if prev.client_is_a { (a, b) } else { (b, a) };
            prev.evicted = evicted;
            prev.judged = last.or(prev.judged);
            sink.settled(index, verdict, l.picks, false);
        }
    }
}

fn file_report(s: FileSummary) -> FileReport {
    FileReport {
        path: s.path,
        format: s.format,
        packets: s.packets,
        tcp_segments: s.tcp_segments,
        skipped: s.skipped,
        error: s.error,
    }
}

fn stacks_for(
    obs: &Observation,
    choice: &StackChoice,
    builtin: &dyn Fn(&str) -> Option<StackDescription>,
) -> ([StackDescription; 2], [Option<StackPick>; 2]) {
    match choice {
        StackChoice::Named(d) => ([d.clone(), d.clone()], [None, None]),
        StackChoice::Auto { fallback } => {
            let (pick, desc) = if obs.flags.syn() && !obs.flags.ack() {
                let p = fingerprint(obs);
                let d = builtin(&p.stack);
                (p, d)
            } else {
                (
                    StackPick {
                        stack: fallback.name.clone(),
                        reason: format!(
                            "no SYN captured: no fingerprint, {} assumed",
                            fallback.name
                        ),
                    },
                    None,
                )
            };
            let desc = desc.unwrap_or_else(|| fallback.clone());
            ([desc.clone(), desc], [Some(pick), None])
        }
    }
}

/// Replays several capture files, up to `jobs` at once (one per core; with fewer files
/// than `jobs`, each file's connections are shared among the threads left, see
/// [`ReplayOptions::threads`]); a file's verdicts never depend on the others or on `jobs`.
/// The reports come back in the order of `paths`.
pub fn replay_paths(
    paths: &[std::path::PathBuf],
    opts: &ReplayOptions,
    jobs: usize,
) -> Vec<FileVerdicts> {
    let opts = &with_threads_left(opts, paths.len(), jobs);
    each_path(paths, jobs, |p| replay_path(p, opts))
}

/// [`replay_paths`] with each file's verdicts handed to a sink of its own as they settle,
/// made by `sink` for the file (its path as given); the sinks come back with the outcomes.
pub fn replay_paths_into<S: VerdictSink + Send>(
    paths: &[std::path::PathBuf],
    opts: &ReplayOptions,
    jobs: usize,
    sink: impl Fn(&Path) -> S + Sync,
) -> Vec<(FileOutcome, S)> {
    let opts = &with_threads_left(opts, paths.len(), jobs);
    each_path(paths, jobs, |p| {
        let mut s = sink(p);
        let outcome = replay_path_into(p, opts, &mut s);
        (outcome, s)
    })
}

/// `opts` with the threads that `jobs` leaves over once each of `files` has one shared
/// among each file's connections (see [`ReplayOptions::threads`]).
fn with_threads_left(opts: &ReplayOptions, files: usize, jobs: usize) -> ReplayOptions {
    let per_file = if files > 0 && files < jobs {
        jobs / files
    } else {
        1
    };
    ReplayOptions {
        threads: opts.threads.max(per_file),
        ..opts.clone()
    }
}

fn each_path<T: Send>(
    paths: &[std::path::PathBuf],
    jobs: usize,
    one: impl Fn(&Path) -> T + Sync,
) -> Vec<T> {
    use rayon::prelude::*;
    if jobs <= 1 || paths.len() <= 1 {
        return paths.iter().map(|p| one(p)).collect();
    }
    match rayon::ThreadPoolBuilder::new().num_threads(jobs).build() {
        Ok(pool) => pool.install(|| paths.par_iter().map(|p| one(p)).collect()),
        // No threads to be had: one file after another gives the same reports.
        Err(_) => paths.iter().map(|p| one(p)).collect(),
    }
}

/// Replays one capture file; an unopenable file is a report with an error.
pub fn replay_path(path: &Path, opts: &ReplayOptions) -> FileVerdicts {
    let mut sink = Collect::default();
    let outcome = replay_path_into(path, opts, &mut sink);
    sink.into_verdicts(outcome, opts)
}

/// [`replay_path`] handing each connection to `sink` as it settles.
pub fn replay_path_into(
    path: &Path,
    opts: &ReplayOptions,
    sink: &mut dyn VerdictSink,
) -> FileOutcome {
    let label = path.display().to_string();
    if path.is_dir() {
        let mut o = replay_into(&label, std::io::empty(), opts, sink);
        o.ingest.error = Some(crate::report::no_captures_error());
        return o;
    }
    match File::open(path) {
        Ok(f) => replay_into(&label, BufReader::with_capacity(1 << 16, f), opts, sink),
        Err(e) => {
            let mut o = replay_into(&label, std::io::empty(), opts, sink);
            o.ingest.error = Some(CaptureError {
                offset: 0,
                unit: ErrorUnit::File,
                kind: CaptureErrorKind::Io {
                    detail: e.to_string(),
                },
            });
            o
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counted(usize);

    impl VerdictSink for Counted {
        fn settled(&mut self, _: usize, _: ConnectionVerdict, _: Picks, _: bool) {
            self.0 += 1;
        }
    }

    fn settled(index: usize, sweep: Option<u32>) -> FromShard {
        let rfc = builtins()
            .into_iter()
            .find(|b| b.stack.name == "rfc9293")
            .expect("built-in")
            .stack;
        let (key, _) = ConnectionKey::of(
            "192.0.2.1:1000".parse().expect("address"),
            "192.0.2.2:80".parse().expect("address"),
        );
        let verdict = ConnectionReplay::new(key, [rfc.clone(), rfc], VantageChoice::Auto).finish(0);
        FromShard::Settled {
            index,
            verdict: Box::new(verdict),
            picks: [None, None],
            first: true,
            sweep,
        }
    }

    /// The reading thread learns of a connection a sweep settled from the thread that
    /// replays it, possibly after it sent that thread more of the connection: then the
    /// connection is being replayed again and must still count.
    #[test]
    fn a_sweep_settlement_counts_only_for_a_connection_not_replayed_since() {
        let (tx, back) = mpsc::channel();
        let mut d = Dispatch {
            // Connection 0 was last sent before sweep 2, connection 1 after it, connection
            // 2 before it but let go at the limit since.
            live: vec![true, true, false],
            epoch: vec![1, 2, 1],
            count: 2,
            sweeps: 2,
            ..Dispatch::new(Vec::new(), back)
        };
        for m in [settled(0, Some(2)), settled(1, Some(2)), settled(2, None)] {
            tx.send(m).expect("sent");
        }
        let mut sink = Counted(0);
        while d.receive(&mut sink, false).is_some() {}
        assert_eq!(sink.0, 3, "every settlement reaches the sink");
        assert_eq!(d.live, [false, true, false]);
        assert_eq!(d.count, 1);
    }

    /// A replaying thread that panics (a bug) makes the reading thread panic with it, not
    /// wait for it for ever.
    #[test]
    fn a_panic_in_a_replaying_thread_reaches_the_reading_thread() {
        let (tx, back) = mpsc::channel();
        let mut d = Dispatch::new(Vec::new(), back);
        tx.send(FromShard::Panicked(Box::new("replay bug")))
            .expect("sent");
        let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            d.receive(&mut Counted(0), true)
        }));
        let panic = waited.expect_err("the panic is passed on");
        assert_eq!(panic.downcast_ref::<&str>(), Some(&"replay bug"));
    }

    #[test]
    fn threads_left_by_the_files_share_each_files_connections() {
        let opts = ReplayOptions {
            stack: StackChoice::Named(builtins().remove(0).stack),
            vantage: VantageChoice::Auto,
            every_ladder: false,
            threads: 1,
            limits: Limits::default(),
        };
        assert_eq!(with_threads_left(&opts, 1, 4).threads, 4);
        assert_eq!(with_threads_left(&opts, 2, 4).threads, 2);
        assert_eq!(with_threads_left(&opts, 3, 4).threads, 1);
        assert_eq!(with_threads_left(&opts, 9, 4).threads, 1);
        assert_eq!(with_threads_left(&opts, 0, 4).threads, 1);
        let asked = ReplayOptions { threads: 3, ..opts };
        assert_eq!(with_threads_left(&asked, 5, 2).threads, 3);
    }
}
