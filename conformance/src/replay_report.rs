//! Reports of `teardown replay`: human text, JSON, JUnit XML, and the exit status.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::oracle::{ConnectionVerdict, IncarnationVerdict, Inconclusive, LadderRow, Verdict};
use crate::replay::FileVerdicts;
use teardown_model::rules::Rule;

/// What makes `replay` exit with status 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailOn {
    /// Any VIOLATION.
    Violation,
    /// Any VIOLATION or INCONCLUSIVE.
    Inconclusive,
    /// Nothing (only unreadable input, status 2).
    Never,
}

/// 2 if any input was unreadable (even in part), else 1 for what `fail_on` names, else 0.
pub fn exit_status(files: &[FileVerdicts], fail_on: FailOn) -> u8 {
    if files.iter().any(|f| f.ingest.error.is_some()) {
        return 2;
    }
    let count = |v| files.iter().map(|f| f.count(v)).sum::<usize>();
    let fail = match fail_on {
        FailOn::Violation => count(Verdict::Violation) > 0,
        FailOn::Inconclusive => count(Verdict::Violation) + count(Verdict::Inconclusive) > 0,
        FailOn::Never => false,
    };
    u8::from(fail)
}

#[derive(Serialize)]
struct JsonReport<'a> {
    files: &'a [FileVerdicts],
    summary: Summary,
}

/// JSON: one object per file with its connections and their incarnations' verdicts.
pub fn to_json(files: &[FileVerdicts]) -> serde_json::Result<String> {
    serde_json::to_string_pretty(&JsonReport {
        files,
        summary: summarize(files),
    })
}

/// [`to_json`], written to `w` as it is serialised (and a final newline) rather than built
/// as one string: on a capture of a hundred thousand connections the report is hundreds of
/// megabytes.
pub fn write_json(files: &[FileVerdicts], mut w: impl std::io::Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(
        &mut w,
        &JsonReport {
            files,
            summary: summarize(files),
        },
    )?;
    w.write_all(b"\n")?;
    w.flush()
}

/// [`to_human`], written to `w` one file's report at a time.
pub fn write_human(files: &[FileVerdicts], mut w: impl std::io::Write) -> std::io::Result<()> {
    human_pieces(files, usize::MAX, |piece| w.write_all(piece.as_bytes()))?;
    w.flush()
}

/// [`to_junit`], written to `w` one file's test suite at a time.
pub fn write_junit(files: &[FileVerdicts], mut w: impl std::io::Write) -> std::io::Result<()> {
    junit_pieces(files, |piece| w.write_all(piece.as_bytes()))?;
    w.flush()
}

/// Counts over every incarnation of every file.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// Per verdict.
    pub verdicts: BTreeMap<&'static str, usize>,
    /// Per classification.
    pub classifications: BTreeMap<&'static str, usize>,
    /// Per violated rule.
    pub rules: BTreeMap<&'static str, usize>,
    /// Per inconclusive reason.
    pub inconclusive: BTreeMap<&'static str, usize>,
    /// Per hazard.
    pub hazards: BTreeMap<&'static str, usize>,
    /// What the verdicts suggest about the descriptions replayed against (a different
    /// `--stack`), one sentence each; absent when there is nothing to suggest.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<String>,
}

/// Reuses inside TIME-WAIT that timestamps made safe (RFC 6191), judged VIOLATION
/// `time-wait-expired` against a Linux description that does not reuse TIME-WAIT: what Linux
/// does with `net.ipv4.tcp_tw_reuse=1`, and for a socket bound before `connect()` whatever
/// the sysctl (`tcp_twsk_unique`, called without a TIME-WAIT pointer) — neither shows in a
/// SYN's fingerprint.
fn tw_reuse_hint(files: &[FileVerdicts]) -> Option<String> {
    let mut safe = 0usize;
    for c in files.iter().flat_map(|f| &f.connections) {
        for i in &c.incarnations {
            let Some(v) = &i.violation else { continue };
            if v.rule != Rule::TimeWaitExpired.id() {
                continue;
            }
            let safe_reuse = i.reuse.as_ref().is_some_and(|r| {
                r.judgment == teardown_model::hazards::ReuseJudgment::SafeByTimestamps
            });
            // Only where every such violation is a timestamp-safe reuse by a host judged
            // as stock Linux would the other description explain them all.
            if !safe_reuse || !c.stacks.iter().all(|s| s == "linux") {
                return None;
            }
            safe += 1;
        }
    }
    (safe > 0).then(|| {
        format!(
            "{safe} time-wait-expired violation(s) are reuses of a 4-tuple inside TIME-WAIT that newer timestamps made safe (RFC 6191), as Linux reuses with net.ipv4.tcp_tw_reuse=1 or for a socket bound to its port before connect(); if the host did that, replay with --stack tw-reuse-with-timestamps"
        )
    })
}

/// The summary table's counts.
pub fn summarize(files: &[FileVerdicts]) -> Summary {
    let mut s = Summary::default();
    for i in files
        .iter()
        .flat_map(|f| &f.connections)
        .flat_map(|c| &c.incarnations)
    {
        *s.verdicts.entry(i.verdict.name()).or_default() += 1;
        *s.classifications
            .entry(i.classification.name())
            .or_default() += 1;
        if let Some(v) = &i.violation {
            *s.rules.entry(v.rule).or_default() += 1;
        }
        if let Some(r) = i.inconclusive {
            *s.inconclusive.entry(r.describe()).or_default() += 1;
        }
        for h in &i.hazards {
            *s.hazards.entry(h.hazard).or_default() += 1;
        }
    }
    s.hints.extend(tw_reuse_hint(files));
    s
}

/// Human text: per file, per connection, verdict first; ladders for violations and hazards;
/// a summary table at the end.
pub fn to_human(files: &[FileVerdicts]) -> String {
    to_human_limited(files, usize::MAX)
}

/// [`to_human`] showing at most `max_connections` connections per file (the summary table
/// still counts them all), for captures of thousands of connections.
pub fn to_human_limited(files: &[FileVerdicts], max_connections: usize) -> String {
    let mut o = String::new();
    let _ = human_pieces(files, max_connections, |piece| {
        o.push_str(piece);
        Ok(())
    });
    o
}

/// The human report in pieces, a file's report then the summary, each handed to `put`.
fn human_pieces(
    files: &[FileVerdicts],
    max_connections: usize,
    mut put: impl FnMut(&str) -> std::io::Result<()>,
) -> std::io::Result<()> {
    for f in files {
        let mut o = String::new();
        file_human(&mut o, f, max_connections);
        put(&o)?;
    }
    put(&summary_human(files))
}

/// The summary table of the human report.
fn summary_human(files: &[FileVerdicts]) -> String {
    let mut o = String::new();
    let s = summarize(files);
    let _ = writeln!(o, "summary");
    let table = |o: &mut String, title: &str, m: &BTreeMap<&'static str, usize>| {
        if m.is_empty() {
            return;
        }
        let _ = writeln!(o, "  {title}");
        for (k, n) in m {
            let _ = writeln!(o, "    {n:>6}  {k}");
        }
    };
    table(&mut o, "verdicts", &s.verdicts);
    table(&mut o, "classifications", &s.classifications);
    table(&mut o, "violated rules", &s.rules);
    table(&mut o, "inconclusive", &s.inconclusive);
    table(&mut o, "hazards", &s.hazards);
    if !s.hints.is_empty() {
        let _ = writeln!(o, "  hints");
        for h in &s.hints {
            let _ = writeln!(o, "    {h}");
        }
    }
    o
}

fn file_human(o: &mut String, f: &FileVerdicts, max_connections: usize) {
    let ing = &f.ingest;
    let _ = writeln!(
        o,
        "{}: {} packets, {} TCP segments, {} connections ({})",
        ing.path,
        ing.packets,
        ing.tcp_segments,
        f.connections.len(),
        ing.format.as_deref().unwrap_or("unrecognised format")
    );
    if let Some(e) = &ing.error {
        let _ = writeln!(
            o,
            "  UNREADABLE from here on: {e} (verdicts below cover the frames before it)"
        );
    }
    for sk in &ing.skipped {
        let _ = writeln!(o, "  skipped {} frames: {}", sk.frames, sk.reason);
    }
    if let Some(e) = &f.evictions {
        let _ = writeln!(
            o,
            "  LIMIT --max-connections {} reached at frame {}: {} connections let go, {} of them still open (INCONCLUSIVE, evicted)",
            e.limit, e.first_frame, e.connections, e.open
        );
    }
    for (ci, c) in f.connections.iter().enumerate() {
        if ci == max_connections {
            let _ = writeln!(
                o,
                "  ... {} more connections, counted in the summary",
                f.connections.len() - ci
            );
            break;
        }
        connection_human(o, c);
        if let Some(picks) = f.stack_picks.get(ci) {
            for (side, p) in ["client", "server"].iter().zip(picks) {
                if let Some(p) = p {
                    let _ = writeln!(o, "    stack auto: {side} {} ({})", p.stack, p.reason);
                }
            }
        }
    }
    o.push('\n');
}

fn connection_human(o: &mut String, c: &ConnectionVerdict) {
    let stacks = if c.stacks[0] == c.stacks[1] {
        c.stacks[0].clone()
    } else {
        format!("client {}, server {}", c.stacks[0], c.stacks[1])
    };
    let _ = writeln!(
        o,
        "  {} -> {}  stack {stacks}, vantage {} ({}), timestamps {}",
        c.client,
        c.server,
        c.vantage.name(),
        c.vantage_reason,
        if c.timestamps { "on" } else { "off" }
    );
    for i in &c.incarnations {
        incarnation_human(o, i);
    }
}

fn incarnation_human(o: &mut String, i: &IncarnationVerdict) {
    let tw = i
        .time_wait_held_by
        .map_or_else(String::new, |s| format!(", TIME-WAIT held by {s}"));
    let _ = writeln!(
        o,
        "    #{} {:<12} {}{tw}",
        i.incarnation,
        i.verdict.name(),
        i.classification.name()
    );
    if let Some(v) = &i.violation {
        let _ = writeln!(o, "       rule {} ({})", v.rule, v.section);
        let _ = writeln!(o, "       {}", v.explanation);
    }
    if let Some(r) = i.inconclusive {
        let _ = writeln!(o, "       {}", r.describe());
    }
    if i.started_mid_stream {
        let _ = writeln!(o, "       replayed from a state inferred mid-stream");
    }
    if let Some(r) = &i.reuse {
        let _ = writeln!(
            o,
            "       reuse of the 4-tuple at frame {} ({} TIME-WAIT{}): {}",
            r.frame,
            if r.inside_time_wait {
                "inside"
            } else {
                "after"
            },
            r.time_wait_side
                .map_or_else(String::new, |s| format!(" of the {s}")),
            r.judgment.id()
        );
    }
    for h in &i.hazards {
        let _ = writeln!(
            o,
            "       hazard {} at frame {} ({}): {}",
            h.hazard, h.frame, h.section, h.summary
        );
    }
    // Said once: the inconclusive reason may already be the bound.
    if i.hypothesis_bound_hit && i.inconclusive != Some(Inconclusive::HypothesisBound) {
        let _ = writeln!(
            o,
            "       the hypothesis bound was hit: the stories assuming the most losses were dropped (--max-hypotheses)"
        );
    }
    if i.verdict == Verdict::Violation || !i.hazards.is_empty() {
        ladder(o, &i.ladder);
    }
}

/// A compact ladder: client on the left, server on the right, one arrow per frame.
fn ladder(o: &mut String, rows: &[LadderRow]) {
    let _ = writeln!(
        o,
        "       {:>6} {:>9}  {:<15} {:^34} {:<15}",
        "frame", "time s", "client", "", "server"
    );
    for r in rows {
        let label = format!(
            "{} {}:{}{}",
            r.flags,
            r.seq,
            r.ack,
            if r.len > 0 {
                format!(" len {}", r.len)
            } else {
                String::new()
            }
        );
        let arrow = if r.from == "client" {
            format!("{label:-<31}->")
        } else {
            format!("<-{label:->31}")
        };
        let _ = writeln!(
            o,
            "       {:>6} {:>9.6}  {:<15} {:^34} {:<15}",
            r.frame, r.time_s, r.states[0], arrow, r.states[1]
        );
    }
}

pub(crate) fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// JUnit XML: a test suite per file, a test case per incarnation; violations are failures,
/// inconclusive verdicts are skipped test cases with the reason.
pub fn to_junit(files: &[FileVerdicts]) -> String {
    let mut o = String::new();
    let _ = junit_pieces(files, |piece| {
        o.push_str(piece);
        Ok(())
    });
    o
}

/// The JUnit report in pieces, the head, a file's test suite each, the tail, each handed to
/// `put`.
fn junit_pieces(
    files: &[FileVerdicts],
    mut put: impl FnMut(&str) -> std::io::Result<()>,
) -> std::io::Result<()> {
    put(JUNIT_HEAD)?;
    for f in files {
        let mut o = String::new();
        junit_suite(&mut o, f);
        put(&o)?;
    }
    put(JUNIT_TAIL)
}

const JUNIT_HEAD: &str =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"teardown replay\">\n";
const JUNIT_TAIL: &str = "</testsuites>\n";

/// One file's `<testsuite>`.
fn junit_suite(o: &mut String, f: &FileVerdicts) {
    let cases: Vec<(&ConnectionVerdict, &IncarnationVerdict)> = f
        .connections
        .iter()
        .flat_map(|c| c.incarnations.iter().map(move |i| (c, i)))
        .collect();
    let failures = f.count(Verdict::Violation);
    let skipped = f.count(Verdict::Inconclusive);
    let errors = usize::from(f.ingest.error.is_some());
    let _ = writeln!(
        o,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\">",
        xml_escape(&f.ingest.path),
        cases.len() + errors
    );
    if let Some(e) = &f.ingest.error {
        let _ = writeln!(
            o,
            "    <testcase name=\"read capture\"><error message=\"{}\"/></testcase>",
            xml_escape(&e.to_string())
        );
    }
    for (c, i) in cases {
        let name = format!("{} -> {} #{}", c.client, c.server, i.incarnation);
        let _ = write!(
            o,
            "    <testcase name=\"{}\" classname=\"{}\">",
            xml_escape(&name),
            xml_escape(i.classification.name())
        );
        match i.verdict {
            Verdict::Violation => {
                if let Some(v) = &i.violation {
                    let _ = write!(
                        o,
                        "<failure message=\"{} ({})\" type=\"{}\">{}</failure>",
                        xml_escape(v.rule),
                        xml_escape(v.section),
                        xml_escape(v.rule),
                        xml_escape(&v.explanation)
                    );
                }
            }
            Verdict::Inconclusive => {
                let why = i.inconclusive.map_or("inconclusive", |r| r.describe());
                let _ = write!(o, "<skipped message=\"{}\"/>", xml_escape(why));
            }
            Verdict::Conforming => {}
        }
        o.push_str("</testcase>\n");
    }
    o.push_str("  </testsuite>\n");
}
