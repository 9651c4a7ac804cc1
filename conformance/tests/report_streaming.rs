//! `teardown replay` renders each connection's report as replay settles it, into a temporary
//! file, so that its memory does not grow with the connections of a capture. These tests
//! hold that report byte-identical to the report of the whole replay kept in memory, in all
//! three formats: over every capture under `traces/` at once, and over synthetic captures
//! with what the renderer must stitch together — connections let go at `--max-connections`
//! and coming back, incarnations resumed after silence, stacks picked per endpoint.

mod common;

use std::net::SocketAddr;

use common::{captures, pcap_of, relative, traces_dir};
use teardown_conformance::oracle::{ConnectionVerdict, Inconclusive, VantageChoice, Verdict};
use teardown_conformance::replay::{
    Collect, FileVerdicts, Limits, Picks, ReplayOptions, StackChoice, VerdictSink, replay,
    replay_into, replay_path_into,
};
use teardown_conformance::replay_report::{
    Format, Rendered, RenderedFile, to_human, to_json, to_json_by_serde, to_junit, write_rendered,
};
use teardown_conformance::writer::CapturedSegment;
use teardown_model::builtins::builtin;
use teardown_model::segment::{Flags, Ghost, Segment};

const FORMATS: [Format; 3] = [Format::Human, Format::Json, Format::Junit];

/// Hands every settled connection to one renderer per format, and to the collector
/// [`replay`] uses.
struct Tee(Vec<Rendered>, Collect);

impl VerdictSink for Tee {
    fn settled(&mut self, index: usize, verdict: ConnectionVerdict, picks: Picks, first: bool) {
        for r in &mut self.0 {
            r.settled(index, verdict.clone(), picks.clone(), first);
        }
        self.1.settled(index, verdict, picks, first);
    }
}

fn tee(auto: bool, path: &str) -> Tee {
    // Nothing kept in memory: every piece goes through the temporary file.
    Tee(
        FORMATS
            .iter()
            .map(|&f| Rendered::with_memory(f, auto, path, 0))
            .collect(),
        Collect::default(),
    )
}

/// The three reports of the whole, as the in-memory renderers make them (JSON as
/// `teardown replay` writes it, with a final newline).
fn whole(files: &[FileVerdicts]) -> [String; 3] {
    let json = to_json(files).expect("serialisable");
    assert_eq!(
        json,
        to_json_by_serde(files).expect("serialisable"),
        "the JSON assembled in pieces is what serde_json prints of the whole"
    );
    [to_human(files), format!("{json}\n"), to_junit(files)]
}

/// The three reports as rendered while replay went, from one `Tee` per file.
fn streamed(files: Vec<(teardown_conformance::replay::FileOutcome, Tee)>) -> [String; 3] {
    let mut per_format: Vec<Vec<RenderedFile>> = FORMATS.iter().map(|_| Vec::new()).collect();
    for (outcome, Tee(rendered, _)) in files {
        for (k, r) in rendered.into_iter().enumerate() {
            per_format[k].push(RenderedFile {
                outcome: outcome.clone(),
                rendered: r,
            });
        }
    }
    let mut out: [String; 3] = Default::default();
    for ((format, mut files), o) in FORMATS.iter().zip(per_format).zip(&mut out) {
        let mut bytes = Vec::new();
        write_rendered(*format, &mut files, &mut bytes).expect("written");
        *o = String::from_utf8(bytes).expect("UTF-8");
    }
    out
}

fn assert_same(whole: &[String; 3], streamed: &[String; 3]) {
    for ((format, w), s) in FORMATS.iter().zip(whole).zip(streamed) {
        if w != s {
            let at = w
                .bytes()
                .zip(s.bytes())
                .position(|(a, b)| a != b)
                .unwrap_or(w.len().min(s.len()));
            let from = at.saturating_sub(200);
            panic!(
                "{format:?} reports differ at byte {at}:\nwhole:    {:?}\nstreamed: {:?}",
                w.get(from..(at + 200).min(w.len())),
                s.get(from..(at + 200).min(s.len()))
            );
        }
    }
}

fn options(stack: StackChoice, max_connections: usize) -> ReplayOptions {
    ReplayOptions {
        stack,
        vantage: VantageChoice::Auto,
        every_ladder: false,
        threads: 1,
        limits: Limits {
            max_connections,
            ..Limits::default()
        },
    }
}

fn auto() -> StackChoice {
    StackChoice::Auto {
        fallback: builtin("rfc9293").expect("built-in").stack,
    }
}

#[test]
fn every_trace_reports_the_same_rendered_as_replay_goes_as_kept_whole() {
    let mut paths = Vec::new();
    captures(&traces_dir(), &mut paths);
    assert!(paths.len() > 100, "found only {} captures", paths.len());
    let opts = options(auto(), Limits::default().max_connections);
    let mut kept = Vec::new();
    let mut going = Vec::new();
    for p in &paths {
        let mut t = tee(true, &relative(p));
        let mut outcome = replay_path_into(p, &opts, &mut t);
        outcome.ingest.path = relative(p);
        let Tee(rendered, collected) = t;
        kept.push(collected.into_verdicts(outcome.clone(), &opts));
        going.push((outcome, Tee(rendered, Collect::default())));
    }
    let reports = whole(&kept);
    assert_same(&reports, &streamed(going));
    junit_holds_every_incarnation_where_it_belongs(&kept, &reports[2]);
    // The degenerate lists too: no file, and a file without connections.
    assert_same(&whole(&[]), &streamed(Vec::new()));
}

/// The JUnit report, read back as XML: a suite per capture; a case per incarnation, whose
/// class is its capture and whose identity (class, name) no other case shares — CI systems
/// key a test's history on it; a failure for each violation, naming its rule; a skipped case
/// for each inconclusive verdict; what the human report says in `system-out`.
fn junit_holds_every_incarnation_where_it_belongs(files: &[FileVerdicts], xml: &str) {
    let doc = roxmltree::Document::parse(xml).expect("the JUnit report is well-formed XML");
    let suites: Vec<_> = doc
        .root_element()
        .children()
        .filter(|n| n.has_tag_name("testsuite"))
        .collect();
    assert_eq!(suites.len(), files.len());
    let mut identities = std::collections::HashSet::new();
    for (suite, file) in suites.iter().zip(files) {
        let path = file.ingest.path.as_str();
        assert_eq!(suite.attribute("name"), Some(path));
        let cases: Vec<_> = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        let incarnations = file.connections.iter().flat_map(|c| {
            c.incarnations.iter().map(move |i| {
                (
                    format!("{} -> {} #{}", c.client, c.server, i.incarnation),
                    i,
                )
            })
        });
        let errors = usize::from(file.ingest.error.is_some());
        assert_eq!(cases.len(), incarnations.clone().count() + errors, "{path}");
        assert_eq!(
            suite.attribute("tests"),
            Some(cases.len().to_string().as_str())
        );
        for (case, (name, i)) in cases.iter().skip(errors).zip(incarnations) {
            assert_eq!(case.attribute("name"), Some(name.as_str()), "{path}");
            assert_eq!(case.attribute("classname"), Some(path), "{path} {name}");
            assert!(
                identities.insert((path.to_owned(), name.clone())),
                "{path} {name} is two test cases"
            );
            let child = |tag: &str| case.children().find(|n| n.has_tag_name(tag));
            match i.verdict {
                Verdict::Violation => {
                    let rule = &i
                        .violation
                        .as_ref()
                        .expect("a violation names its rule")
                        .rule;
                    let failure = child("failure").expect("a violation is a failure");
                    assert_eq!(failure.attribute("type"), Some(*rule), "{path} {name}");
                }
                Verdict::Inconclusive => {
                    assert!(child("skipped").is_some(), "{path} {name}");
                }
                Verdict::Conforming => {
                    assert!(child("failure").is_none() && child("skipped").is_none());
                }
            }
            let told = child("system-out").and_then(|n| n.text()).unwrap_or("");
            assert!(
                told.contains(i.verdict.name()) && told.contains(i.classification.name()),
                "{path} {name}: system-out {told:?}"
            );
            for h in &i.hazards {
                assert!(
                    told.contains(h.hazard),
                    "{path} {name}: {} in {told:?}",
                    h.hazard
                );
            }
        }
    }
}

/// A segment at `ms` milliseconds of client `c`.
fn at(
    ms: u64,
    c: SocketAddr,
    from_client: bool,
    flags: Flags,
    seq: u32,
    ack: u32,
) -> (SocketAddr, CapturedSegment) {
    (
        c,
        CapturedSegment {
            time_ns: 1_750_000_000_000_000_000 + ms * 1_000_000,
            from_client,
            segment: Segment {
                flags,
                seq,
                ack,
                len: 0,
                tsval: None,
                ghost: Ghost::default(),
            },
            ttl: if from_client { 64 } else { 63 },
        },
    )
}

fn client(n: u16) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 1], 20_000 + n))
}

/// Connections that settle and come back: one half-open, let go at the limit by a burst of
/// SYNs, then more of it; one closed, silent for an hour, then a late ACK of it and an hour
/// later a new incarnation.
fn returning() -> Vec<u8> {
    pcap_of(&returning_segments(0))
}

/// [`returning`]'s segments, with `syns` more connection attempts just after the silent
/// connection came back, and then one more segment of it: new connections at the limit
/// right after a sweep settled one that is being replayed again.
fn returning_segments(syns: u16) -> Vec<(SocketAddr, CapturedSegment)> {
    let (a, s, f) = (Flags::ACK, Flags::SYN, Flags::FIN | Flags::ACK);
    let half = client(1);
    let mut segs = vec![at(10, half, true, s, 5_000, 0)];
    for n in 0..40u16 {
        segs.push(at(
            20 + u64::from(n),
            client(100 + n),
            true,
            s,
            77 * u32::from(n),
            0,
        ));
    }
    segs.push(at(100, half, true, a, 5_001, 1));
    let c = client(0);
    segs.extend([
        at(200, c, true, s, 100, 0),
        at(201, c, false, s | a, 900, 101),
        at(202, c, true, a, 101, 901),
        at(203, c, true, f, 101, 901),
        at(204, c, false, f, 901, 102),
        at(205, c, true, a, 102, 902),
    ]);
    let hour = 3_600_000;
    segs.push(at(hour, c, true, a, 102, 902));
    for n in 0..syns {
        segs.push(at(
            hour + 1 + u64::from(n),
            client(200 + n),
            true,
            s,
            13 * u32::from(n),
            0,
        ));
    }
    if syns > 0 {
        // And the connection that came back once more, still being replayed.
        segs.push(at(hour + 2 + u64::from(syns), c, true, a, 102, 902));
    }
    segs.extend([
        at(2 * hour, c, true, s, 70_000, 0),
        at(2 * hour + 1, c, false, s | a, 90_000, 70_001),
        at(2 * hour + 2, c, true, a, 70_001, 90_001),
        at(2 * hour + 3, c, true, f, 70_001, 90_001),
        at(2 * hour + 4, c, false, f, 90_001, 70_002),
        at(2 * hour + 5, c, true, a, 70_002, 90_002),
    ]);
    segs
}

#[test]
fn connections_let_go_or_resumed_report_the_same_rendered_as_replay_goes() {
    let pcap = returning();
    for (stack, is_auto) in [
        (auto(), true),
        (
            StackChoice::Named(builtin("linux").expect("built-in").stack),
            false,
        ),
    ] {
        let opts = options(stack, 8);
        let kept = replay("returning", &pcap[..], &opts);
        let reasons: Vec<_> = kept
            .connections
            .iter()
            .flat_map(|c| &c.incarnations)
            .filter_map(|i| i.inconclusive)
            .collect();
        // What the renderer must stitch is really there.
        assert!(kept.evictions.is_some(), "the limit was hit");
        for why in [
            Inconclusive::ResumedAfterSilence,
            Inconclusive::ResumedAfterEviction,
        ] {
            assert!(reasons.contains(&why), "{why:?} in {reasons:?}");
        }
        let closed = kept
            .connections
            .iter()
            .find(|k| k.client == client(0))
            .expect("reported");
        assert!(closed.incarnations.len() >= 3, "{closed:#?}");
        let mut t = tee(is_auto, "returning");
        let outcome = replay_into("returning", &pcap[..], &opts, &mut t);
        assert_same(&whole(&[kept]), &streamed(vec![(outcome, t)]));
    }
}

/// Replayed by several threads (`--jobs` over fewer files), one file's connections are
/// shared among them: the report is the one of one thread, byte for byte, in all three
/// formats — with connections let go at the limit (the reading thread then waits for every
/// thread to catch up before it chooses), resumed after eviction and after silence (sweeps
/// settle them in the threads while the reading thread goes on).
#[test]
fn several_threads_report_what_one_thread_does() {
    let reports = |pcap: &[u8], opts: &ReplayOptions, auto: bool| {
        let kept = replay("returning", pcap, opts);
        let mut t = tee(auto, "returning");
        let outcome = replay_into("returning", pcap, opts, &mut t);
        (whole(&[kept]), streamed(vec![(outcome, t)]))
    };
    let pcap = pcap_of(&returning_segments(12));
    for (stack, is_auto) in [
        (auto(), true),
        (
            StackChoice::Named(builtin("linux").expect("built-in").stack),
            false,
        ),
    ] {
        for limit in [4, 8, 1000] {
            let one = options(stack.clone(), limit);
            let (whole_one, streamed_one) = reports(&pcap, &one, is_auto);
            assert_same(&whole_one, &streamed_one);
            for threads in [2, 3, 5] {
                let several = ReplayOptions {
                    threads,
                    ..one.clone()
                };
                let (w, s) = reports(&pcap, &several, is_auto);
                assert_same(&whole_one, &w);
                assert_same(&whole_one, &s);
            }
        }
    }
    // Two thousand connections of one file through `replay_paths_into`, as `teardown
    // replay --jobs 2 FILE` runs it, at a limit that lets most go.
    let burst = traces_dir().join("linux/captures/burst.client.pcap");
    let opts = options(auto(), 64);
    let by = |jobs: usize| {
        let files = teardown_conformance::replay::replay_paths_into(
            std::slice::from_ref(&burst),
            &opts,
            jobs,
            |p| tee(true, &p.display().to_string()),
        );
        streamed(files)
    };
    let one = by(1);
    let human = &one[0];
    assert!(
        human.contains("LIMIT --max-connections 64 reached"),
        "{human}"
    );
    assert_same(&one, &by(2));
}
