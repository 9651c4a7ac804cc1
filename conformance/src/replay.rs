//! `teardown replay`: one capture file streamed through ingestion and the oracle.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use serde::Serialize;
use teardown_model::builtins::builtins;
use teardown_model::stack::StackDescription;

use crate::capture::{CaptureError, CaptureErrorKind, ErrorUnit};
use crate::connections::ConnectionKey;
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
pub fn replay_into<R: Read>(
    path: &str,
    input: R,
    opts: &ReplayOptions,
    sink: &mut dyn VerdictSink,
) -> FileOutcome {
    // Per connection (index in order of first appearance): being replayed, or settled.
    let mut live: Vec<Option<Box<Live>>> = Vec::new();
    let mut finished: Vec<Option<Settled>> = Vec::new();
    let mut live_ids: Vec<usize> = Vec::new();
    let mut last_ts = i64::MIN;
    let mut next_sweep = i64::MIN;
    let max_live = opts.limits.max_connections.max(1);
    let mut evictions: Option<Evictions> = None;
    // Looked up per connection: built once per file, not once per lookup.
    let catalogue = builtins();
    let builtin = |name: &str| {
        catalogue
            .iter()
            .find(|b| b.stack.name == name)
            .map(|b| b.stack.clone())
    };
    let summary = ingest_streaming(path, input, |obs, placement| {
        last_ts = last_ts.max(obs.timestamp_ns);
        let c = placement.connection;
        if c >= live.len() {
            live.resize_with(c + 1, || None);
            finished.resize_with(c + 1, || None);
        }
        // Before this segment is placed: it may be the first after a silence that ends its
        // own connection's replay.
        if last_ts >= next_sweep {
            next_sweep = last_ts.saturating_add(SWEEP_INTERVAL_NS);
            live_ids.retain(|&c| {
                let quiet_until = live
                    .get(c)
                    .and_then(|s| s.as_ref())
                    .filter(|l| l.replay.closed())
                    .map(|l| l.last_ns.saturating_add(l.horizon_ns));
                match quiet_until {
                    Some(until) if until < last_ts => {
                        if let (Some(l), Some(f)) = (live[c].take(), finished.get_mut(c)) {
                            settle(sink, c, f, *l, until, Ending::Settled);
                        }
                        false
                    }
                    _ => true,
                }
            });
        }
        if live.get(c).is_some_and(|s| s.is_none()) && live_ids.len() >= max_live {
            let e = evictions.get_or_insert(Evictions {
                limit: max_live,
                connections: 0,
                open: 0,
                first_frame: obs.frame,
            });
            evict(sink, &mut live, &mut finished, &mut live_ids, last_ts, e);
        }
        let Some(slot) = live.get_mut(c) else { return };
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
    });
    // Silence until the capture stopped running is evidence too.
    let end = last_ts.max(summary.running_until_ns.unwrap_or(i64::MIN));
    for (c, (slot, f)) in live.into_iter().zip(finished.iter_mut()).enumerate() {
        if let Some(l) = slot {
            let until = if l.replay.closed() {
                end.min(l.last_ns.saturating_add(l.horizon_ns))
            } else {
                end
            };
            settle(sink, c, f, *l, until, Ending::Settled);
        }
    }
    FileOutcome {
        connections: finished.iter().flatten().count(),
        ingest: file_report(summary),
        evictions,
    }
}

/// Lets go of an eighth of the connections replayed (at least one) so that a new one fits:
/// closed ones first (their verdict stands), then open ones, least recently active first.
/// An eighth at a time, so that the sort is paid once per many new connections.
fn evict(
    sink: &mut dyn VerdictSink,
    live: &mut [Option<Box<Live>>],
    finished: &mut [Option<Settled>],
    live_ids: &mut Vec<usize>,
    now: i64,
    e: &mut Evictions,
) {
    let mut order: Vec<(bool, i64, usize)> = live_ids
        .iter()
        .filter_map(|&c| {
            let l = live.get(c)?.as_ref()?;
            Some((!l.replay.closed(), l.last_ns, c))
        })
        .collect();
    order.sort_unstable();
    let n = (order.len() / 8).max(1);
    for &(open, _, c) in order.iter().take(n) {
        if let (Some(l), Some(f)) = (live.get_mut(c).and_then(Option::take), finished.get_mut(c)) {
            let until = now.max(l.last_ns);
            settle(sink, c, f, *l, until, Ending::Evicted { open });
            e.connections += 1;
            e.open += u64::from(open);
        }
    }
    live_ids.retain(|&c| live.get(c).is_some_and(Option::is_some));
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

/// Replays several capture files, up to `jobs` at once (one per core: each file is replayed
/// by one thread, start to end, so a file's verdicts never depend on the others or on
/// `jobs`); the reports come back in the order of `paths`.
pub fn replay_paths(
    paths: &[std::path::PathBuf],
    opts: &ReplayOptions,
    jobs: usize,
) -> Vec<FileVerdicts> {
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
    each_path(paths, jobs, |p| {
        let mut s = sink(p);
        let outcome = replay_path_into(p, opts, &mut s);
        (outcome, s)
    })
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
