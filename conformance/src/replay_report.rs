//! Reports of `teardown replay`: human text, JSON, JUnit XML, and the exit status.
//!
//! A report is made of pieces: per file a head (which needs the file's counts), one piece
//! per connection, a tail; then the summary. [`to_human`], [`to_json`] and [`to_junit`]
//! render verdicts collected in memory ([`crate::replay::replay`]). [`Rendered`] instead
//! renders each connection into a temporary file as replay settles it, and
//! [`write_rendered`] writes the report from there: the same bytes, in a memory that does
//! not grow with the connections of the capture (a SYN flood of millions of 4-tuples).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use serde::Serialize;

use crate::oracle::{ConnectionVerdict, IncarnationVerdict, Inconclusive, LadderRow, Verdict};
use crate::replay::{Evictions, FileOutcome, FileReport, FileVerdicts, Picks, VerdictSink};
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

/// The format of a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Text for people: verdict first, ladders for violations and hazards, a summary table.
    Human,
    /// JSON with stable field names (`verdict`, `rule`, `frames`, `hazards`, …).
    Json,
    /// JUnit XML: a test case per incarnation, violations as failures.
    Junit,
}

/// 2 if any input was unreadable (even in part), else 1 for what `fail_on` names, else 0.
pub fn exit_status(files: &[FileVerdicts], fail_on: FailOn) -> u8 {
    let tallies: Vec<Tally> = files.iter().map(Tally::of).collect();
    status(
        files.iter().any(|f| f.ingest.error.is_some()),
        &tallies,
        fail_on,
    )
}

/// [`exit_status`] of a report rendered as replay went.
pub fn exit_status_rendered(files: &[RenderedFile], fail_on: FailOn) -> u8 {
    status(
        files.iter().any(|f| f.outcome.ingest.error.is_some()),
        files.iter().map(|f| &f.rendered.tally),
        fail_on,
    )
}

fn status<'a>(
    unreadable: bool,
    tallies: impl IntoIterator<Item = &'a Tally>,
    fail_on: FailOn,
) -> u8 {
    if unreadable {
        return 2;
    }
    let (violations, inconclusive) = tallies
        .into_iter()
        .fold((0, 0), |(v, i), t| (v + t.violations, i + t.inconclusive));
    let fail = match fail_on {
        FailOn::Violation => violations > 0,
        FailOn::Inconclusive => violations + inconclusive > 0,
        FailOn::Never => false,
    };
    u8::from(fail)
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

/// One file's counts, kept as its connections are rendered: a file's head (connections,
/// test cases, failures) and the summary table need them before or after the connections,
/// not while.
#[derive(Clone, Debug, Default)]
struct Tally {
    connections: usize,
    incarnations: usize,
    violations: usize,
    inconclusive: usize,
    /// The summary's counts (no hints).
    summary: Summary,
    /// Time-wait-expired violations that are timestamp-safe reuses by stock Linux.
    tw_reuse_safe: usize,
    /// A time-wait-expired violation that is not.
    tw_reuse_other: bool,
}

impl Tally {
    /// The tally of verdicts collected in memory.
    fn of(f: &FileVerdicts) -> Tally {
        let mut t = Tally {
            connections: f.connections.len(),
            ..Tally::default()
        };
        for c in &f.connections {
            t.add(&c.incarnations, both_linux(c));
        }
        t
    }

    /// Counts `incarnations` of a connection; `linux`: both its ends were judged as stock
    /// Linux.
    fn add(&mut self, incarnations: &[IncarnationVerdict], linux: bool) {
        let s = &mut self.summary;
        for i in incarnations {
            self.incarnations += 1;
            self.violations += usize::from(i.verdict == Verdict::Violation);
            self.inconclusive += usize::from(i.verdict == Verdict::Inconclusive);
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
            if let Some(v) = &i.violation
                && v.rule == Rule::TimeWaitExpired.id()
            {
                let safe_reuse = i.reuse.as_ref().is_some_and(|r| {
                    r.judgment == teardown_model::hazards::ReuseJudgment::SafeByTimestamps
                });
                if safe_reuse && linux {
                    self.tw_reuse_safe += 1;
                } else {
                    self.tw_reuse_other = true;
                }
            }
        }
    }

    /// The summary over several files' tallies.
    fn summary<'a>(tallies: impl IntoIterator<Item = &'a Tally>) -> Summary {
        let mut s = Summary::default();
        let (mut safe, mut other) = (0, false);
        for t in tallies {
            let merge = |into: &mut BTreeMap<&'static str, usize>,
                         from: &BTreeMap<&'static str, usize>| {
                for (k, n) in from {
                    *into.entry(k).or_default() += n;
                }
            };
            merge(&mut s.verdicts, &t.summary.verdicts);
            merge(&mut s.classifications, &t.summary.classifications);
            merge(&mut s.rules, &t.summary.rules);
            merge(&mut s.inconclusive, &t.summary.inconclusive);
            merge(&mut s.hazards, &t.summary.hazards);
            safe += t.tw_reuse_safe;
            other |= t.tw_reuse_other;
        }
        s.hints.extend(tw_reuse_hint(safe, other));
        s
    }
}

fn both_linux(c: &ConnectionVerdict) -> bool {
    c.stacks.iter().all(|s| s == "linux")
}

/// Reuses inside TIME-WAIT that timestamps made safe (RFC 6191), judged VIOLATION
/// `time-wait-expired` against a Linux description that does not reuse TIME-WAIT: what Linux
/// does with `net.ipv4.tcp_tw_reuse=1`, and for a socket bound before `connect()` whatever
/// the sysctl (`tcp_twsk_unique`, called without a TIME-WAIT pointer) — neither shows in a
/// SYN's fingerprint.
/// Only where every such violation is a timestamp-safe reuse by a host judged as stock Linux
/// (`safe` of them, none `other`) would the other description explain them all.
fn tw_reuse_hint(safe: usize, other: bool) -> Option<String> {
    (safe > 0 && !other).then(|| {
        format!(
            "{safe} time-wait-expired violation(s) are reuses of a 4-tuple inside TIME-WAIT that newer timestamps made safe (RFC 6191), as Linux reuses with net.ipv4.tcp_tw_reuse=1 or for a socket bound to its port before connect(); if the host did that, replay with --stack tw-reuse-with-timestamps"
        )
    })
}

/// The summary table's counts.
pub fn summarize(files: &[FileVerdicts]) -> Summary {
    let tallies: Vec<Tally> = files.iter().map(Tally::of).collect();
    Tally::summary(&tallies)
}

// ------------------------------------------------------------------------------ human

/// Human text: per file, per connection, verdict first; ladders for violations and hazards;
/// a summary table at the end.
pub fn to_human(files: &[FileVerdicts]) -> String {
    to_human_limited(files, usize::MAX)
}

/// [`to_human`] showing at most `max_connections` connections per file (the summary table
/// still counts them all), for captures of thousands of connections.
pub fn to_human_limited(files: &[FileVerdicts], max_connections: usize) -> String {
    let mut o = String::new();
    let tallies: Vec<Tally> = files.iter().map(Tally::of).collect();
    for (f, t) in files.iter().zip(&tallies) {
        human_file_head(&mut o, &f.ingest, f.evictions.as_ref(), t);
        for (ci, c) in f.connections.iter().enumerate() {
            if ci == max_connections {
                let _ = writeln!(
                    o,
                    "  ... {} more connections, counted in the summary",
                    f.connections.len() - ci
                );
                break;
            }
            connection_human(&mut o, c);
            for i in &c.incarnations {
                incarnation_human(&mut o, i);
            }
            if let Some(picks) = f.stack_picks.get(ci) {
                picks_human(&mut o, picks);
            }
        }
        o.push('\n');
    }
    o.push_str(&summary_human(&Tally::summary(&tallies)));
    o
}

/// A file's first lines: what was read, what stopped reading, what was skipped, limits hit.
fn human_file_head(o: &mut String, ing: &FileReport, evictions: Option<&Evictions>, t: &Tally) {
    let _ = writeln!(
        o,
        "{}: {} packets, {} TCP segments, {} connections ({})",
        ing.path,
        ing.packets,
        ing.tcp_segments,
        t.connections,
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
    if let Some(e) = evictions {
        let _ = writeln!(
            o,
            "  LIMIT --max-connections {} reached at frame {}: {} connections let go, {} of them still open (INCONCLUSIVE, evicted)",
            e.limit, e.first_frame, e.connections, e.open
        );
    }
}

/// What `--stack auto` picked, per side.
fn picks_human(o: &mut String, picks: &Picks) {
    for (side, p) in ["client", "server"].iter().zip(picks) {
        if let Some(p) = p {
            let _ = writeln!(o, "    stack auto: {side} {} ({})", p.stack, p.reason);
        }
    }
}

/// The summary table of the human report.
fn summary_human(s: &Summary) -> String {
    let mut o = String::new();
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

/// A connection's first line.
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

// ------------------------------------------------------------------------------ JSON

#[derive(Serialize)]
struct JsonReport<'a> {
    files: &'a [FileVerdicts],
    summary: Summary,
}

/// JSON: one object per file with its connections and their incarnations' verdicts.
///
/// Assembled piece by piece exactly as `serde_json`'s pretty printer prints the whole list
/// of [`FileVerdicts`] and its [`Summary`] ([`to_json_by_serde`]; a test holds the two
/// equal), so that a report rendered as connections settle ([`Rendered`]) is the same.
pub fn to_json(files: &[FileVerdicts]) -> serde_json::Result<String> {
    let tallies: Vec<Tally> = files.iter().map(Tally::of).collect();
    let mut o = String::new();
    json_head(&mut o, files.is_empty());
    for (k, f) in files.iter().enumerate() {
        json_file_head(&mut o, k, &f.ingest)?;
        for (ci, c) in f.connections.iter().enumerate() {
            o.push_str(json_separator(ci, 4));
            json_connection_head(&mut o, c)?;
            json_incarnations(&mut o, &c.incarnations, 0)?;
            json_connection_tail(&mut o, c.incarnations.len());
        }
        json_connections_end(&mut o, f.connections.len());
        if !f.stack_picks.is_empty() {
            o.push_str(JSON_PICKS_HEAD);
            for (ci, p) in f.stack_picks.iter().enumerate() {
                o.push_str(json_separator(ci, 4));
                json_nested(&mut o, p, 4)?;
            }
            o.push_str(JSON_LIST_END_3);
        }
        json_file_tail(&mut o, f.evictions.as_ref())?;
    }
    json_tail(&mut o, files.is_empty(), &Tally::summary(&tallies))?;
    Ok(o)
}

/// The JSON report serialised by `serde_json` in one piece: what [`to_json`] equals.
pub fn to_json_by_serde(files: &[FileVerdicts]) -> serde_json::Result<String> {
    serde_json::to_string_pretty(&JsonReport {
        files,
        summary: summarize(files),
    })
}

/// Appends `value` pretty-printed as a field's value or a list's element at nesting
/// `depth` (two spaces each), as `serde_json`'s pretty printer prints it inside the whole.
fn json_nested<T: Serialize + ?Sized>(
    o: &mut String,
    value: &T,
    depth: usize,
) -> serde_json::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    // A JSON string holds no raw newline: every one in `text` is the printer's own.
    let mut lines = text.split('\n');
    if let Some(first) = lines.next() {
        o.push_str(first);
    }
    for line in lines {
        o.push('\n');
        for _ in 0..depth {
            o.push_str("  ");
        }
        o.push_str(line);
    }
    Ok(())
}

/// What precedes element `position` of a list whose elements stand at `depth`.
fn json_separator(position: usize, depth: usize) -> &'static str {
    const FIRST: [&str; 7] = [
        "\n",
        "\n  ",
        "\n    ",
        "\n      ",
        "\n        ",
        "\n          ",
        "\n            ",
    ];
    const NEXT: [&str; 7] = [
        ",\n",
        ",\n  ",
        ",\n    ",
        ",\n      ",
        ",\n        ",
        ",\n          ",
        ",\n            ",
    ];
    let table = if position == 0 { &FIRST } else { &NEXT };
    table.get(depth).copied().unwrap_or("\n")
}

const JSON_PICKS_HEAD: &str = ",\n      \"stack_picks\": [";
const JSON_LIST_END_3: &str = "\n      ]";

fn json_head(o: &mut String, no_files: bool) {
    o.push_str(if no_files {
        "{\n  \"files\": []"
    } else {
        "{\n  \"files\": ["
    });
}

/// File `position`'s object up to its connection list's opening bracket.
fn json_file_head(o: &mut String, position: usize, ingest: &FileReport) -> serde_json::Result<()> {
    o.push_str(json_separator(position, 2));
    let mut head = String::new();
    json_nested(&mut head, ingest, 2)?;
    // Reopened: the connections and what follows them are fields of the same object.
    if let Some(open) = head.strip_suffix("\n    }") {
        o.push_str(open);
    }
    o.push_str(",\n      \"connections\": [");
    Ok(())
}

/// Closes a file's connection list of `count`.
fn json_connections_end(o: &mut String, count: usize) {
    o.push_str(if count == 0 { "]" } else { JSON_LIST_END_3 });
}

/// A connection object up to and with `"incarnations": `.
fn json_connection_head(o: &mut String, c: &ConnectionVerdict) -> serde_json::Result<()> {
    let head = ConnectionVerdict {
        incarnations: Vec::new(),
        ..c.clone()
    };
    let mut text = String::new();
    json_nested(&mut text, &head, 4)?;
    if let Some(open) = text.strip_suffix("[]\n        }") {
        o.push_str(open);
    }
    Ok(())
}

/// Incarnation objects of a connection's list, `before` of them already written.
fn json_incarnations(
    o: &mut String,
    incarnations: &[IncarnationVerdict],
    before: usize,
) -> serde_json::Result<()> {
    for (k, i) in incarnations.iter().enumerate() {
        if before + k == 0 {
            o.push('[');
        }
        o.push_str(json_separator(before + k, 6));
        json_nested(o, i, 6)?;
    }
    Ok(())
}

/// Closes a connection object's incarnation list (of `count`) and the object.
fn json_connection_tail(o: &mut String, count: usize) {
    o.push_str(if count == 0 { "[]" } else { "\n          ]" });
    o.push_str("\n        }");
}

/// A file object's `evictions` and its closing brace.
fn json_file_tail(o: &mut String, evictions: Option<&Evictions>) -> serde_json::Result<()> {
    if let Some(e) = evictions {
        o.push_str(",\n      \"evictions\": ");
        json_nested(o, e, 3)?;
    }
    o.push_str("\n    }");
    Ok(())
}

/// Closes the file list, writes the summary and closes the report.
fn json_tail(o: &mut String, no_files: bool, summary: &Summary) -> serde_json::Result<()> {
    if !no_files {
        o.push_str("\n  ]");
    }
    o.push_str(",\n  \"summary\": ");
    json_nested(o, summary, 1)?;
    o.push_str("\n}");
    Ok(())
}

// ------------------------------------------------------------------------------ JUnit

pub(crate) fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// JUnit XML: a test suite per file, a test case per incarnation; violations are failures,
/// inconclusive verdicts are skipped test cases with the reason. A case's class is its
/// capture (the path as given), so that a connection keeps its identity from one CI run to
/// the next and the same 4-tuple in two captures (a client's and a server's) are two
/// cases; what the human report says of the incarnation — classification, TIME-WAIT
/// holder, hazards, the ladder of a violation — is its `system-out`.
pub fn to_junit(files: &[FileVerdicts]) -> String {
    let mut o = String::from(JUNIT_HEAD);
    for f in files {
        junit_suite_head(&mut o, &f.ingest, &Tally::of(f));
        for c in &f.connections {
            junit_cases(&mut o, &f.ingest.path, c, &c.incarnations);
        }
        o.push_str(JUNIT_SUITE_TAIL);
    }
    o.push_str(JUNIT_TAIL);
    o
}

const JUNIT_HEAD: &str =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"teardown replay\">\n";
const JUNIT_SUITE_TAIL: &str = "  </testsuite>\n";
const JUNIT_TAIL: &str = "</testsuites>\n";

/// A file's `<testsuite>` opening, and a test case in error if the file was unreadable.
fn junit_suite_head(o: &mut String, ing: &FileReport, t: &Tally) {
    let errors = usize::from(ing.error.is_some());
    let _ = writeln!(
        o,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{errors}\" skipped=\"{}\">",
        xml_escape(&ing.path),
        t.incarnations + errors,
        t.violations,
        t.inconclusive
    );
    if let Some(e) = &ing.error {
        let _ = writeln!(
            o,
            "    <testcase name=\"read capture\" classname=\"{}\"><error message=\"{}\"/></testcase>",
            xml_escape(&ing.path),
            xml_escape(&e.to_string())
        );
    }
}

/// One test case per incarnation of connection `c`, captured in `path`.
fn junit_cases(
    o: &mut String,
    path: &str,
    c: &ConnectionVerdict,
    incarnations: &[IncarnationVerdict],
) {
    let mut told = String::new();
    for i in incarnations {
        let name = format!("{} -> {} #{}", c.client, c.server, i.incarnation);
        let _ = write!(
            o,
            "    <testcase name=\"{}\" classname=\"{}\">",
            xml_escape(&name),
            xml_escape(path)
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
        told.clear();
        incarnation_human(&mut told, i);
        let _ = write!(o, "<system-out>{}</system-out>", xml_escape(&told));
        o.push_str("</testcase>\n");
    }
}

// ------------------------------------------------------------------------------ rendered as replay goes

/// Bytes of rendered connections held in memory before they go to a temporary file.
pub const SPILL_IN_MEMORY: usize = 16 << 20;

/// Bytes of rendered pieces gathered before one write to the spill.
const PENDING: usize = 1 << 16;

/// Where a connection's pieces lie in the spill: its head and first incarnations, then
/// its stack picks; incarnations of later replays of the 4-tuple are in `more`.
#[derive(Clone, Copy, Debug)]
struct Entry {
    offset: u64,
    main: u32,
    picks: u32,
    /// Incarnations rendered so far.
    incarnations: u32,
    /// Both ends judged as stock Linux (for the summary's hint).
    linux: bool,
}

/// A replay's report rendered connection by connection as replay settles them (a
/// [`VerdictSink`]): each connection's piece goes to a temporary file (kept in memory up to
/// a size, [`SPILL_IN_MEMORY`] by default), with its place and its counts; what stays in
/// memory is 32 bytes per connection. [`write_rendered`] writes the report from it in the
/// order of first appearance, the same bytes [`to_human`], [`to_json`] or [`to_junit`]
/// would have made of the whole.
pub struct Rendered {
    format: Format,
    /// `--stack auto`: the report lists what was picked.
    auto: bool,
    /// The capture, as the report names it (JUnit's class of its cases).
    path: String,
    spill: tempfile::SpooledTempFile,
    /// Rendered, not yet in `spill`.
    pending: Vec<u8>,
    /// Bytes rendered, pending ones included.
    spilled: u64,
    entries: Vec<Option<Entry>>,
    more: HashMap<usize, Vec<(u64, u32)>>,
    tally: Tally,
    piece: String,
    /// The first failure to render or spill: the report cannot be written.
    failure: Option<std::io::Error>,
    diagrams: Option<Diagrams>,
}

/// `--diagram DIR` of one capture, written as connections settle.
struct Diagrams {
    dir: PathBuf,
    name: String,
    all: bool,
    written: usize,
    failure: Option<String>,
}

impl std::fmt::Debug for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rendered")
            .field("format", &self.format)
            .field("connections", &self.tally.connections)
            .field("spilled", &self.spilled)
            .finish()
    }
}

impl Rendered {
    /// The report of the capture `path` (as the report names it) in `format`; `auto`: the
    /// stacks were picked per endpoint (`--stack auto`).
    pub fn new(format: Format, auto: bool, path: &str) -> Self {
        Self::with_memory(format, auto, path, SPILL_IN_MEMORY)
    }

    /// [`Rendered::new`] keeping at most `bytes` of rendered connections in memory before
    /// it moves them to a temporary file (0: straight to the file).
    pub fn with_memory(format: Format, auto: bool, path: &str, bytes: usize) -> Self {
        Rendered {
            format,
            auto,
            path: path.to_owned(),
            spill: tempfile::SpooledTempFile::new(bytes),
            pending: Vec::new(),
            spilled: 0,
            entries: Vec::new(),
            more: HashMap::new(),
            tally: Tally::default(),
            piece: String::new(),
            failure: None,
            diagrams: None,
        }
    }

    /// Also writes the ladder diagrams of the capture under `dir` as its connections
    /// settle, as [`crate::artifacts::write_replay_diagrams`] would.
    pub fn with_diagrams(mut self, dir: &std::path::Path, all: bool) -> Self {
        let (dir, name) = crate::artifacts::replay_diagram_dir(dir, &self.path);
        self.diagrams = Some(Diagrams {
            dir,
            name,
            all,
            written: 0,
            failure: None,
        });
        self
    }

    /// Diagrams written, or why writing them stopped.
    pub fn diagrams(&self) -> Result<usize, String> {
        match &self.diagrams {
            Some(Diagrams {
                failure: Some(e), ..
            }) => Err(e.clone()),
            Some(d) => Ok(d.written),
            None => Ok(0),
        }
    }

    /// Bytes written to the spill.
    pub fn spilled(&self) -> u64 {
        self.spilled
    }

    /// Writes what is pending to the spill if it holds `at_least` bytes: once the spill is a
    /// file, each write is a system call, and pieces are a few hundred bytes.
    fn flush_pending(&mut self, at_least: usize) -> std::io::Result<()> {
        if self.pending.len() >= at_least && !self.pending.is_empty() {
            self.spill.write_all(&self.pending).map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!(
                        "its temporary file in {} (TMPDIR moves it): {e}",
                        std::env::temp_dir().display()
                    ),
                )
            })?;
            self.pending.clear();
        }
        Ok(())
    }

    /// Appends the piece just rendered to the spill; its offset and length.
    fn spill_piece(&mut self) -> Option<(u64, u32)> {
        let offset = self.spilled;
        let written = u32::try_from(self.piece.len())
            .map_err(|_| std::io::Error::other("a connection's report exceeds 4 GiB"))
            .and_then(|len| {
                self.pending.extend_from_slice(self.piece.as_bytes());
                self.flush_pending(PENDING).map(|()| len)
            });
        match written {
            Ok(len) => {
                self.spilled += u64::from(len);
                Some((offset, len))
            }
            Err(e) => {
                self.failure.get_or_insert(e);
                None
            }
        }
    }

    /// Renders incarnations of `c` (`before` of its incarnations already rendered).
    fn render_incarnations(
        &mut self,
        c: &ConnectionVerdict,
        incarnations: &[IncarnationVerdict],
        before: usize,
    ) -> serde_json::Result<()> {
        match self.format {
            Format::Human => {
                for i in incarnations {
                    incarnation_human(&mut self.piece, i);
                }
            }
            Format::Json => json_incarnations(&mut self.piece, incarnations, before)?,
            Format::Junit => junit_cases(&mut self.piece, &self.path, c, incarnations),
        }
        Ok(())
    }

    fn render_first(&mut self, c: &ConnectionVerdict, picks: &Picks) -> serde_json::Result<usize> {
        self.piece.clear();
        match self.format {
            Format::Human => connection_human(&mut self.piece, c),
            Format::Json => json_connection_head(&mut self.piece, c)?,
            Format::Junit => {}
        }
        self.render_incarnations(c, &c.incarnations, 0)?;
        let main = self.piece.len();
        if self.auto {
            match self.format {
                Format::Human => picks_human(&mut self.piece, picks),
                Format::Json => json_nested(&mut self.piece, picks, 4)?,
                Format::Junit => {}
            }
        }
        Ok(main)
    }

    fn draw(&mut self, c: &ConnectionVerdict) {
        if let Some(d) = &mut self.diagrams
            && d.failure.is_none()
        {
            match crate::artifacts::write_incarnation_diagrams(&d.dir, &d.name, c, d.all) {
                Ok(n) => d.written += n,
                Err(e) => d.failure = Some(e),
            }
        }
    }
}

impl VerdictSink for Rendered {
    fn settled(&mut self, index: usize, verdict: ConnectionVerdict, picks: Picks, first: bool) {
        self.draw(&verdict);
        if first {
            let linux = both_linux(&verdict);
            self.tally.connections += 1;
            self.tally.add(&verdict.incarnations, linux);
            let main = match self.render_first(&verdict, &picks) {
                Ok(main) => main,
                Err(e) => {
                    self.failure.get_or_insert(e.into());
                    return;
                }
            };
            let Some((offset, len)) = self.spill_piece() else {
                return;
            };
            if index >= self.entries.len() {
                self.entries.resize(index + 1, None);
            }
            let main = u32::try_from(main).unwrap_or(len);
            if let Some(slot) = self.entries.get_mut(index) {
                *slot = Some(Entry {
                    offset,
                    main,
                    picks: len - main,
                    incarnations: u32::try_from(verdict.incarnations.len()).unwrap_or(u32::MAX),
                    linux,
                });
            }
        } else {
            let Some(Some(entry)) = self.entries.get(index).copied() else {
                self.failure.get_or_insert(std::io::Error::other(format!(
                    "connection {index} continued before it was first reported"
                )));
                return;
            };
            self.tally.add(&verdict.incarnations, entry.linux);
            self.piece.clear();
            if let Err(e) = self.render_incarnations(
                &verdict,
                &verdict.incarnations,
                entry.incarnations as usize,
            ) {
                self.failure.get_or_insert(e.into());
                return;
            }
            let Some(place) = self.spill_piece() else {
                return;
            };
            self.more.entry(index).or_default().push(place);
            if let Some(Some(e)) = self.entries.get_mut(index) {
                e.incarnations = e
                    .incarnations
                    .saturating_add(u32::try_from(verdict.incarnations.len()).unwrap_or(u32::MAX));
            }
        }
    }
}

/// One capture's replay with its report rendered as it went.
#[derive(Debug)]
pub struct RenderedFile {
    /// The replay's outcome besides its connections.
    pub outcome: FileOutcome,
    /// The connections' report.
    pub rendered: Rendered,
}

/// Reads pieces back from a spill through a few windows of it kept in memory. Pieces are
/// read in order of first appearance and were written in order of settling: mostly the
/// same, but a 4-tuple that came back has its later pieces far from its first, so reading
/// runs along two or three places of the spill at once; one window each keeps every read
/// from seeking.
struct Pieces<'a> {
    spill: &'a mut tempfile::SpooledTempFile,
    /// Windows: where each starts, its bytes, when it was last used.
    windows: Vec<(u64, Vec<u8>, u64)>,
    uses: u64,
}

/// Bytes per window.
const WINDOW: usize = 1 << 16;
/// Windows kept.
const WINDOWS: usize = 4;

impl<'a> Pieces<'a> {
    fn new(spill: &'a mut tempfile::SpooledTempFile) -> Self {
        Pieces {
            spill,
            windows: Vec::with_capacity(WINDOWS),
            uses: 0,
        }
    }

    /// Copies `len` bytes at `offset` to `w`.
    fn copy(&mut self, offset: u64, len: u32, w: &mut impl Write) -> std::io::Result<()> {
        let len = len as usize;
        self.uses += 1;
        let uses = self.uses;
        let within = |(start, bytes, _): &(u64, Vec<u8>, u64)| {
            offset >= *start && offset + len as u64 <= *start + bytes.len() as u64
        };
        let k = match self.windows.iter().position(within) {
            Some(k) => k,
            None => {
                let mut bytes = Vec::with_capacity(len.max(WINDOW));
                self.spill.seek(SeekFrom::Start(offset))?;
                (&mut *self.spill)
                    .take(len.max(WINDOW) as u64)
                    .read_to_end(&mut bytes)?;
                if bytes.len() < len {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the report's temporary file is shorter than written",
                    ));
                }
                let window = (offset, bytes, uses);
                if self.windows.len() < WINDOWS {
                    self.windows.push(window);
                    self.windows.len() - 1
                } else {
                    let oldest = (0..self.windows.len())
                        .min_by_key(|&k| self.windows.get(k).map_or(0, |w| w.2))
                        .unwrap_or(0);
                    if let Some(slot) = self.windows.get_mut(oldest) {
                        *slot = window;
                    }
                    oldest
                }
            }
        };
        let Some((start, bytes, used)) = self.windows.get_mut(k) else {
            return Ok(());
        };
        *used = uses;
        let from = usize::try_from(offset - *start).unwrap_or(usize::MAX);
        match bytes.get(from..from.saturating_add(len)) {
            Some(piece) => w.write_all(piece),
            None => Err(std::io::Error::other("a piece outside its window")),
        }
    }
}

/// Writes the report of `files` (rendered in `format`) to `w`: per file its head, each
/// connection's pieces in order of first appearance, its tail; then the summary.
pub fn write_rendered(
    format: Format,
    files: &mut [RenderedFile],
    mut w: impl Write,
) -> std::io::Result<()> {
    for f in files.iter_mut() {
        if let Some(e) = f.rendered.failure.take() {
            return Err(std::io::Error::new(
                e.kind(),
                format!("{}: rendering the report: {e}", f.outcome.ingest.path),
            ));
        }
        if f.rendered.format != format {
            return Err(std::io::Error::other("files rendered in different formats"));
        }
    }
    let summary = Tally::summary(files.iter().map(|f| &f.rendered.tally));
    let mut o = String::new();
    match format {
        Format::Human => {}
        Format::Json => json_head(&mut o, files.is_empty()),
        Format::Junit => o.push_str(JUNIT_HEAD),
    }
    for (k, f) in files.iter_mut().enumerate() {
        let ing = &f.outcome.ingest;
        let r = &mut f.rendered;
        match format {
            Format::Human => human_file_head(&mut o, ing, f.outcome.evictions.as_ref(), &r.tally),
            Format::Json => json_file_head(&mut o, k, ing).map_err(std::io::Error::other)?,
            Format::Junit => junit_suite_head(&mut o, ing, &r.tally),
        }
        w.write_all(o.as_bytes())?;
        o.clear();
        r.flush_pending(0)?;
        let entries = std::mem::take(&mut r.entries);
        let more = std::mem::take(&mut r.more);
        let mut pieces = Pieces::new(&mut r.spill);
        let settled = entries
            .iter()
            .enumerate()
            .filter_map(|(index, e)| Some((index, (*e)?)));
        for (position, (index, e)) in settled.enumerate() {
            if format == Format::Json {
                w.write_all(json_separator(position, 4).as_bytes())?;
            }
            pieces.copy(e.offset, e.main, &mut w)?;
            for &(offset, len) in more.get(&index).into_iter().flatten() {
                pieces.copy(offset, len, &mut w)?;
            }
            match format {
                Format::Human => pieces.copy(e.offset + u64::from(e.main), e.picks, &mut w)?,
                Format::Json => {
                    json_connection_tail(&mut o, e.incarnations as usize);
                    w.write_all(o.as_bytes())?;
                    o.clear();
                }
                Format::Junit => {}
            }
        }
        match format {
            Format::Human => o.push('\n'),
            Format::Json => {
                json_connections_end(&mut o, r.tally.connections);
                if r.auto && r.tally.connections > 0 {
                    o.push_str(JSON_PICKS_HEAD);
                    w.write_all(o.as_bytes())?;
                    o.clear();
                    for (ci, e) in entries.iter().flatten().enumerate() {
                        w.write_all(json_separator(ci, 4).as_bytes())?;
                        pieces.copy(e.offset + u64::from(e.main), e.picks, &mut w)?;
                    }
                    o.push_str(JSON_LIST_END_3);
                }
                json_file_tail(&mut o, f.outcome.evictions.as_ref())
                    .map_err(std::io::Error::other)?;
            }
            Format::Junit => o.push_str(JUNIT_SUITE_TAIL),
        }
        w.write_all(o.as_bytes())?;
        o.clear();
    }
    match format {
        Format::Human => o.push_str(&summary_human(&summary)),
        Format::Json => {
            json_tail(&mut o, files.is_empty(), &summary).map_err(std::io::Error::other)?;
            o.push('\n');
        }
        Format::Junit => o.push_str(JUNIT_TAIL),
    }
    w.write_all(o.as_bytes())?;
    w.flush()
}
