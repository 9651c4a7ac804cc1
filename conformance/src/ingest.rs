//! Ingestion of one capture: read, decode, observe, group into connections, summarise.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use serde::Serialize;

use crate::capture::{CaptureError, CaptureErrorKind, ErrorUnit, LinkType, Record, read_capture};
use crate::connections::{ConnectionSummary, ConnectionTracker, Placement};
use crate::decode::{IpVersion, SkipReason, decode_frame};
use crate::observation::Observation;

/// Frames of one link type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LinkTypeCount {
    /// LINKTYPE_* number.
    pub link_type: LinkType,
    /// tcpdump name.
    pub name: &'static str,
    /// Frames captured with it.
    pub frames: u64,
}

/// Frames skipped for one reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SkipCount {
    /// Why (human-readable, stable).
    pub reason: String,
    /// How many frames.
    pub frames: u64,
}

/// Everything ingestion found in one capture file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileSummary {
    /// The file as named on the command line (or by the caller).
    pub path: String,
    /// Container format, when recognised (`pcap LE us`, `pcapng`, `gzip pcap BE ns`, …).
    pub format: Option<String>,
    /// pcapng sections (1 for pcap).
    pub sections: u32,
    /// Interfaces described (1 for pcap).
    pub interfaces: u32,
    /// Link types of the frames, ascending by number.
    pub link_types: Vec<LinkTypeCount>,
    /// Frames read (Wireshark's frame count up to any damage).
    pub packets: u64,
    /// Frames that yielded a TCP segment.
    pub tcp_segments: u64,
    /// TCP segments over IPv4 (innermost header).
    pub ipv4_segments: u64,
    /// TCP segments over IPv6 (innermost header).
    pub ipv6_segments: u64,
    /// TCP segments the capture cut short (captured < original length).
    pub truncated_segments: u64,
    /// TCP segments inside a GTP-U tunnel.
    pub tunnelled_segments: u64,
    /// Frames without a TCP segment, by reason (sorted by reason).
    pub skipped: Vec<SkipCount>,
    /// Frames whose timestamp is earlier than the previous frame's (kept in file order).
    pub timestamps_backwards: u64,
    /// Distinct 4-tuples.
    pub connection_count: usize,
    /// Incarnations over all 4-tuples.
    pub incarnation_count: usize,
    /// Connections in order of first appearance (none from [`ingest_streaming`]).
    pub connections: Vec<ConnectionSummary>,
    /// Damage that stopped reading; everything above covers the frames before it.
    pub error: Option<CaptureError>,
    /// When the file says the capture was still running, past its last packet (pcapng
    /// interface statistics), ns since the epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running_until_ns: Option<i64>,
}

impl FileSummary {
    /// Frames skipped, over all reasons.
    pub fn skipped_total(&self) -> u64 {
        self.skipped.iter().map(|s| s.frames).sum()
    }
}

/// Reads one capture, calling `on_segment` for every TCP segment with its placement, and
/// returns the summary. Memory grows with the number of connections, not of packets.
pub fn ingest<R: Read>(
    path: &str,
    input: R,
    on_segment: impl FnMut(&Observation, Placement),
) -> FileSummary {
    ingest_with(path, input, ConnectionTracker::new(), on_segment)
}

/// [`ingest`] for a caller that judges the connections itself (replay): the summary counts
/// connections and incarnations but lists none (`connections` is empty), and the tracker
/// keeps no history of finished incarnations, so that memory does not grow with them.
pub fn ingest_streaming<R: Read>(
    path: &str,
    input: R,
    on_segment: impl FnMut(&Observation, Placement),
) -> FileSummary {
    ingest_with(
        path,
        input,
        ConnectionTracker::without_history(),
        on_segment,
    )
}

fn ingest_with<R: Read>(
    path: &str,
    input: R,
    mut tracker: ConnectionTracker,
    mut on_segment: impl FnMut(&Observation, Placement),
) -> FileSummary {
    let listing = !tracker.keeps_no_history();
    // Per frame: a short list searched linearly beats a map (captures have one to a few).
    let mut link_types: Vec<(LinkType, u64)> = Vec::new();
    let mut skipped: BTreeMap<SkipReason, u64> = BTreeMap::new();
    let (mut tcp, mut v4, mut v6, mut truncated, mut tunnelled) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut backwards = 0u64;
    let mut previous_ts: Option<i64> = None;
    let outcome = read_capture(input, |record| match record {
        Record::Packet(frame) => {
            match link_types.iter_mut().find(|(l, _)| *l == frame.link_type) {
                Some((_, n)) => *n += 1,
                None => link_types.push((frame.link_type, 1)),
            }
            if previous_ts.is_some_and(|p| frame.timestamp_ns < p) {
                backwards += 1;
            }
            previous_ts = Some(frame.timestamp_ns);
            match decode_frame(frame.link_type, frame.data, frame.original_len) {
                Ok(segment) => {
                    let obs = Observation::new(frame, &segment);
                    tcp += 1;
                    match obs.ip_version {
                        IpVersion::V4 => v4 += 1,
                        IpVersion::V6 => v6 += 1,
                    }
                    truncated += u64::from(obs.truncated);
                    tunnelled += u64::from(obs.tunnelled);
                    let placement = tracker.observe(&obs);
                    on_segment(&obs, placement);
                }
                Err(reason) => *skipped.entry(reason).or_default() += 1,
            }
        }
        Record::NonPacket { what, .. } => {
            *skipped.entry(SkipReason::NotAPacket(what)).or_default() += 1;
        }
    });
    let (connection_count, incarnation_count) = (tracker.len(), tracker.incarnation_count());
    let connections = if listing {
        tracker.into_connections()
    } else {
        Vec::new()
    };
    link_types.sort();
    FileSummary {
        path: path.to_string(),
        format: outcome.format.as_ref().map(ToString::to_string),
        sections: outcome.sections,
        interfaces: outcome.interfaces,
        link_types: link_types
            .into_iter()
            .map(|(link_type, frames)| LinkTypeCount {
                link_type,
                name: link_type.name(),
                frames,
            })
            .collect(),
        packets: outcome.frames,
        tcp_segments: tcp,
        ipv4_segments: v4,
        ipv6_segments: v6,
        truncated_segments: truncated,
        tunnelled_segments: tunnelled,
        skipped: skipped
            .into_iter()
            .map(|(reason, frames)| SkipCount {
                reason: reason.to_string(),
                frames,
            })
            .collect(),
        timestamps_backwards: backwards,
        connection_count,
        incarnation_count,
        connections,
        error: outcome.error,
        running_until_ns: outcome.running_until_ns,
    }
}

/// Reads and summarises one capture file; an unopenable file is a summary with an error.
pub fn ingest_path(path: &Path) -> FileSummary {
    let label = path.display().to_string();
    if path.is_dir() {
        return ingest_failure(&label, crate::report::no_captures_error());
    }
    match File::open(path) {
        Ok(f) => ingest(&label, BufReader::with_capacity(1 << 16, f), |_, _| {}),
        Err(e) => ingest_failure(
            &label,
            CaptureError {
                offset: 0,
                unit: ErrorUnit::File,
                kind: CaptureErrorKind::Io {
                    detail: e.to_string(),
                },
            },
        ),
    }
}

/// The summary of a file that could not be read at all.
pub fn ingest_failure(path: &str, error: CaptureError) -> FileSummary {
    let mut s = ingest(path, std::io::empty(), |_, _| {});
    s.error = Some(error);
    s
}
