//! Printing ingestion results: human text and JSON; choosing the inputs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::capture::{CaptureError, CaptureErrorKind, ErrorUnit};
use crate::connections::{ConnectionSummary, IncarnationStart};
use crate::ingest::{FileSummary, ingest_path};

/// Exit status when any input was unreadable, even in part. It outranks every other status.
pub const EXIT_UNREADABLE: u8 = 2;

/// File name endings that mark a capture even when its magic number is damaged.
const CAPTURE_EXTENSIONS: [&str; 6] = ["pcap", "pcapng", "cap", "ntar", "gz", "dmp"];

/// Whether a file found while walking a directory is a capture to read: its magic number
/// says so (pcap, pcapng or gzip, whatever its name), or its name does. READMEs and
/// ground-truth files beside the captures are left alone.
pub fn looks_like_capture(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    let n = fs::File::open(path)
        .and_then(|mut f| {
            let mut filled = 0;
            while filled < magic.len() {
                let k = f.read(magic.get_mut(filled..).unwrap_or_default())?;
                if k == 0 {
                    break;
                }
                filled += k;
            }
            Ok(filled)
        })
        .unwrap_or(0);
    let head = magic.get(..n).unwrap_or_default();
    let by_magic = head.starts_with(&[0x1f, 0x8b])
        || matches!(
            head,
            [0xd4, 0xc3, 0xb2, 0xa1]
                | [0xa1, 0xb2, 0xc3, 0xd4]
                | [0x4d, 0x3c, 0xb2, 0xa1]
                | [0xa1, 0xb2, 0x3c, 0x4d]
                | [0x34, 0xcd, 0xb2, 0xa1]
                | [0x0a, 0x0d, 0x0d, 0x0a]
        );
    let by_name = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| CAPTURE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
    by_magic || by_name
}

/// Expands the command-line inputs: files as given, directories walked recursively in
/// sorted order keeping the files that [`looks_like_capture`]. Paths that cannot be read
/// are kept, so that their error is reported, and so is a directory without a single
/// capture (reading it then says so): nothing given is dropped without a word.
pub fn expand_inputs(inputs: &[PathBuf]) -> Vec<PathBuf> {
    expand_inputs_counting(inputs).0
}

/// [`expand_inputs`], and how many files under the directories were not captures (README
/// files, truth JSON, …): the command line says how many it passed over.
pub fn expand_inputs_counting(inputs: &[PathBuf]) -> (Vec<PathBuf>, usize) {
    let mut out = Vec::new();
    let mut skipped = 0;
    for input in inputs {
        if input.is_dir() {
            let before = out.len();
            walk(input, &mut out, &mut skipped);
            if out.len() == before {
                out.push(input.clone());
            }
        } else {
            out.push(input.clone());
        }
    }
    (out, skipped)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, skipped: &mut usize) {
    let Ok(entries) = fs::read_dir(dir) else {
        out.push(dir.to_path_buf());
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            walk(&p, out, skipped);
        } else if looks_like_capture(&p) {
            out.push(p);
        } else {
            *skipped += 1;
        }
    }
}

/// The error of an input that is a directory holding no capture.
pub fn no_captures_error() -> CaptureError {
    CaptureError {
        offset: 0,
        unit: ErrorUnit::File,
        kind: CaptureErrorKind::Io {
            detail: "a directory with no capture files in it".into(),
        },
    }
}

/// Summarises every input (see [`expand_inputs`]).
pub fn summarize_inputs(inputs: &[PathBuf]) -> Vec<FileSummary> {
    expand_inputs(inputs)
        .iter()
        .map(|p| ingest_path(p))
        .collect()
}

/// The exit status for a set of summaries: [`EXIT_UNREADABLE`] if any had damage, else 0.
pub fn exit_status(summaries: &[FileSummary]) -> u8 {
    if summaries.iter().any(|s| s.error.is_some()) {
        EXIT_UNREADABLE
    } else {
        0
    }
}

/// JSON for tools: an array with one summary per file.
pub fn to_json(summaries: &[FileSummary]) -> io::Result<String> {
    serde_json::to_string_pretty(summaries).map_err(io::Error::other)
}

/// Human text for one file's summary, listing every connection.
pub fn to_human(s: &FileSummary) -> String {
    to_human_limited(s, usize::MAX)
}

/// Human text for one file's summary, listing at most `max_connections` connections (the
/// counts and close patterns always cover all of them).
pub fn to_human_limited(s: &FileSummary, max_connections: usize) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{}", s.path);
    let format = s.format.as_deref().unwrap_or("unrecognised");
    let link_types = if s.link_types.is_empty() {
        "none".to_string()
    } else {
        s.link_types
            .iter()
            .map(|l| format!("{} ({}): {} frames", l.name, l.link_type.0, l.frames))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(
        o,
        "  format {format}, {} section(s), {} interface(s); link types: {link_types}",
        s.sections, s.interfaces
    );
    let _ = writeln!(
        o,
        "  packets {}, TCP segments {} (IPv4 {}, IPv6 {}, truncated {}, in GTP-U {}), skipped {}, timestamps backwards {}",
        s.packets,
        s.tcp_segments,
        s.ipv4_segments,
        s.ipv6_segments,
        s.truncated_segments,
        s.tunnelled_segments,
        s.skipped_total(),
        s.timestamps_backwards
    );
    for skip in &s.skipped {
        let _ = writeln!(o, "    skipped {}: {}", skip.reason, skip.frames);
    }
    let _ = writeln!(
        o,
        "  connections {}, incarnations {}",
        s.connection_count, s.incarnation_count
    );
    let mut patterns: BTreeMap<String, usize> = BTreeMap::new();
    for inc in s.connections.iter().flat_map(|c| &c.incarnations) {
        *patterns.entry(inc.close.to_string()).or_default() += 1;
    }
    if !patterns.is_empty() {
        let list: Vec<String> = patterns.iter().map(|(p, n)| format!("{p} {n}")).collect();
        let _ = writeln!(o, "  close patterns: {}", list.join(", "));
    }
    for c in s.connections.iter().take(max_connections) {
        write_connection(&mut o, c);
    }
    if s.connections.len() > max_connections {
        let _ = writeln!(
            o,
            "    … {} more connections",
            s.connections.len() - max_connections
        );
    }
    if let Some(e) = &s.error {
        let _ = writeln!(o, "  UNREADABLE: {e}");
    }
    o
}

fn write_connection(o: &mut String, c: &ConnectionSummary) {
    let _ = writeln!(o, "    {} <-> {}", c.key.a, c.key.b);
    for (i, inc) in c.incarnations.iter().enumerate() {
        let start = match inc.start {
            IncarnationStart::First => "",
            IncarnationStart::AfterClose => ", new after close",
            IncarnationStart::AfterSilence => ", new after silence",
            IncarnationStart::NewAttempt => ", new attempt (new ISN after SYN only)",
        };
        let opened = match (inc.initiator, inc.started_mid_stream) {
            (_, true) => "started mid-stream".to_string(),
            (Some(a), false) => format!("opened by {a}"),
            (None, false) => "opened by ?".to_string(),
        };
        let closer = inc
            .first_closer
            .map(|a| format!(", first close by {a}"))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "      #{} frames {}-{}, {} segments, {opened}{closer}, close {}{start}",
            i + 1,
            inc.first_frame,
            inc.last_frame,
            inc.segments,
            inc.close
        );
    }
}

/// Human text for several files, separated by blank lines.
pub fn to_human_all(summaries: &[FileSummary]) -> String {
    summaries
        .iter()
        .map(to_human)
        .collect::<Vec<_>>()
        .join("\n")
}
