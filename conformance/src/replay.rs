//! `teardown replay`: one capture file streamed through ingestion and the oracle.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use serde::Serialize;
use teardown_model::builtins::builtins;
use teardown_model::stack::StackDescription;

use crate::capture::{CaptureError, CaptureErrorKind, ErrorUnit};
use crate::connections::ConnectionKey;
use crate::ingest::{FileSummary, ingest};
use crate::observation::Observation;
use crate::oracle::{ConnectionReplay, ConnectionVerdict, VantageChoice, Verdict};

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

struct Live {
    replay: ConnectionReplay,
    picks: [Option<StackPick>; 2],
}

/// Replays one capture from `input`.
pub fn replay<R: Read>(path: &str, input: R, opts: &ReplayOptions) -> FileVerdicts {
    let mut live: Vec<Live> = Vec::new();
    let mut last_ts = i64::MIN;
    // Looked up per connection: built once per file, not once per lookup.
    let catalogue = builtins();
    let builtin = |name: &str| {
        catalogue
            .iter()
            .find(|b| b.stack.name == name)
            .map(|b| b.stack.clone())
    };
    let summary = ingest(path, input, |obs, placement| {
        last_ts = last_ts.max(obs.timestamp_ns);
        if placement.connection == live.len() {
            let (key, _) = ConnectionKey::of(obs.src, obs.dst);
            let (stacks, picks) = stacks_for(obs, &opts.stack, &builtin);
            live.push(Live {
                replay: ConnectionReplay::new(key, stacks, opts.vantage),
                picks,
            });
        }
        if let Some(l) = live.get_mut(placement.connection) {
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
        }
    });
    let auto = matches!(opts.stack, StackChoice::Auto { .. });
    let mut picks = Vec::new();
    let connections = live
        .into_iter()
        .map(|l| {
            if auto {
                picks.push(l.picks);
            }
            // Silence until the capture stopped running is evidence too.
            l.replay
                .finish(last_ts.max(summary.running_until_ns.unwrap_or(i64::MIN)))
        })
        .collect();
    FileVerdicts {
        ingest: file_report(summary),
        connections,
        stack_picks: picks,
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

/// Replays one capture file; an unopenable file is a report with an error.
pub fn replay_path(path: &Path, opts: &ReplayOptions) -> FileVerdicts {
    let label = path.display().to_string();
    match File::open(path) {
        Ok(f) => replay(&label, BufReader::with_capacity(1 << 16, f), opts),
        Err(e) => {
            let mut v = replay(&label, std::io::empty(), opts);
            v.ingest.error = Some(CaptureError {
                offset: 0,
                unit: ErrorUnit::File,
                kind: CaptureErrorKind::Io {
                    detail: e.to_string(),
                },
            });
            v
        }
    }
}
