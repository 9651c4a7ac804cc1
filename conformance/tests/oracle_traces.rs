//! The oracle on every capture under `traces/`: its expected report is an insta snapshot
//! (one per file; the only place verdicts of the corpus are snapshotted), and the Linux and
//! smoltcp captures agree with their ground truth (`*.truth.json`): the classification of
//! the teardown and which side held TIME-WAIT, from both vantage points.

mod common;

use common::{captures, relative, traces_dir};
use std::fs;
use std::path::Path;

use teardown_conformance::oracle::{ConnectionVerdict, VantageChoice};
use teardown_conformance::replay::{FileVerdicts, ReplayOptions, StackChoice, replay_path};
use teardown_conformance::replay_report::to_human_limited;
use teardown_model::builtins::builtin;

/// The description a folder's captures are judged against: the stack that made them, with
/// its built-in defaults; third-party captures by fingerprint.
fn options_for(rel: &str) -> ReplayOptions {
    let named = |n: &str| StackChoice::Named(builtin(n).expect("built-in").stack);
    let stack = match rel.split('/').next() {
        Some("linux") => named("linux"),
        Some("smoltcp") => named("smoltcp"),
        _ => StackChoice::Auto {
            fallback: builtin("rfc9293").expect("built-in").stack,
        },
    };
    ReplayOptions {
        stack,
        vantage: VantageChoice::Auto,
        every_ladder: false,
        threads: 1,
        limits: Default::default(),
    }
}

fn verdicts(p: &Path) -> FileVerdicts {
    let rel = relative(p);
    let mut v = replay_path(p, &options_for(&rel));
    v.ingest.path = rel;
    v
}

#[test]
fn every_trace_has_its_expected_report() {
    let mut files = Vec::new();
    captures(&traces_dir(), &mut files);
    assert!(
        files.len() >= 84 + 52,
        "found only {} captures",
        files.len()
    );
    for f in &files {
        let v = verdicts(f);
        let name = relative(f).replace('/', "__");
        insta::assert_snapshot!(name, to_human_limited(std::slice::from_ref(&v), 20));
    }
}

/// The connection a ground-truth file speaks of: the one on the scenario's server port
/// (bursts: every one of them).
fn judged(v: &FileVerdicts, server_port: u16) -> Vec<&ConnectionVerdict> {
    v.connections
        .iter()
        .filter(|c| c.server.port() == server_port)
        .collect()
}

/// Captures where the oracle's classification or TIME-WAIT holder differs from the ground
/// truth, and why (traces/README.md, "Oracle verdicts"). The test fails on any other
/// disagreement, and on an entry here that no longer disagrees.
const KNOWN: &[(&str, &str)] = &[
    // The trace changed a sysctl the built-in `linux` description (defaults) does not have:
    // the oracle judges the capture against the description, and says VIOLATION.
    (
        "linux/captures/fin-wait-2-timeout.client.pcap",
        "description: tcp_fin_timeout=2",
    ),
    (
        "linux/captures/fin-wait-2-timeout.server.pcap",
        "description: tcp_fin_timeout=2",
    ),
    (
        "linux/captures/no-timewait-4way.client.pcap",
        "description: tcp_max_tw_buckets=0",
    ),
    (
        "linux/captures/no-timewait-4way.server.pcap",
        "description: tcp_max_tw_buckets=0",
    ),
    (
        "linux/captures/no-timewait-lost-final-ack.client.pcap",
        "description: tcp_max_tw_buckets=0",
    ),
    (
        "linux/captures/no-timewait-orphan-fin-wait-2.client.pcap",
        "description: tcp_max_tw_buckets=0",
    ),
    (
        "linux/captures/tw-rst-rfc1337-1.client.pcap",
        "description: tcp_rfc1337=1",
    ),
    (
        "linux/captures/tw-rst-rfc1337-1.server.pcap",
        "description: tcp_rfc1337=1",
    ),
    (
        "smoltcp/captures/fin-wait-2-timeout.client.pcap",
        "description: smoltcp set_timeout is not a FIN-WAIT-2 timer of the description",
    ),
    (
        "smoltcp/captures/fin-wait-2-timeout.server.pcap",
        "description: smoltcp set_timeout is not a FIN-WAIT-2 timer of the description",
    ),
    (
        "smoltcp/captures/tw-abort-reuse.server.pcap",
        "description: smoltcp's abort() in TIME-WAIT sends RST",
    ),
    // smoltcp dropped the FIN that overtook the data (no out-of-order FIN in its
    // assembler) and the server retransmitted it: the capture shows a FIN resent, which the
    // oracle calls a recovered FIN; the generator's truth calls the close 4-way.
    (
        "smoltcp/captures/reorder-teardown.client.pcap",
        "truth: a FIN resent after the receiver dropped it",
    ),
    (
        "smoltcp/captures/reorder-teardown.server.pcap",
        "truth: a FIN resent after the receiver dropped it",
    ),
    (
        "smoltcp/captures/lost-fin.server.pcap",
        "unobservable at this vantage",
    ),
    // What was lost lies on the far side of the capture point: the capture shows one FIN
    // arriving (late), or a FIN retransmitted with nothing to say which copy was lost.
    (
        "linux/captures/lost-fin.server.pcap",
        "unobservable at this vantage",
    ),
    (
        "linux/captures/lost-second-fin.client.pcap",
        "unobservable at this vantage",
    ),
    (
        "linux/captures/lost-second-fin.server.pcap",
        "unobservable at this vantage",
    ),
    (
        "smoltcp/captures/lost-second-fin.client.pcap",
        "unobservable at this vantage",
    ),
    (
        "smoltcp/captures/lost-second-fin.server.pcap",
        "unobservable at this vantage",
    ),
];

#[test]
fn linux_and_smoltcp_agree_with_their_ground_truth() {
    let mut checked = 0;
    let mut wrong = Vec::new();
    for stack in ["linux", "smoltcp"] {
        let dir = traces_dir().join(stack).join("captures");
        let mut files = Vec::new();
        captures(&dir, &mut files);
        for f in files {
            let stem = f.file_stem().expect("file name").to_string_lossy();
            let truth_path = f.with_file_name(format!("{stem}.truth.json"));
            let Ok(text) = fs::read_to_string(&truth_path) else {
                continue;
            };
            let truth: serde_json::Value = serde_json::from_str(&text).expect("truth is JSON");
            let class = truth["classification"].as_str().expect("classification");
            // "client (ended early by the RST)": the side is the first word.
            let held = truth["time_wait_held_by"]
                .as_str()
                .expect("time_wait_held_by")
                .split(' ')
                .next()
                .unwrap_or("none");
            let port = truth["server"]["port"].as_u64().expect("server port") as u16;
            let v = verdicts(&f);
            for c in judged(&v, port) {
                checked += 1;
                let first = &c.incarnations[0];
                let ours_class = match class {
                    // Reuse scenarios are about the second incarnation's opening.
                    "reuse of the 4-tuple (inside TIME-WAIT)"
                    | "reuse of the 4-tuple (after TIME-WAIT)" => {
                        let inside = class.contains("inside");
                        match c.incarnations.get(1).and_then(|i| i.reuse.as_ref()) {
                            Some(r) if r.inside_time_wait == inside => class.to_string(),
                            Some(r) => format!("reuse (inside TIME-WAIT: {})", r.inside_time_wait),
                            None => "no reuse found".to_string(),
                        }
                    }
                    _ => first.classification.name().to_string(),
                };
                let ours_held = first.time_wait_held_by.unwrap_or("none");
                let rel = relative(&f);
                let known = KNOWN.iter().any(|(k, _)| *k == rel);
                let differs = ours_class != class || ours_held != held;
                if differs != known {
                    wrong.push(format!(
                        "{rel}: truth {class:?} held by {held}, oracle {ours_class:?} held by {ours_held}{}",
                        if known { " (listed in KNOWN, but agrees now)" } else { "" }
                    ));
                }
            }
        }
    }
    assert!(checked >= 2000 + 150, "only {checked} connections checked");
    assert!(
        wrong.is_empty(),
        "{} disagreements:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// The summary's hint to replay against `tw-reuse-with-timestamps` is given where Linux
/// reused a 4-tuple inside TIME-WAIT under timestamps (tcp_tw_reuse=1, or a port bound
/// before connect()), and following it leaves nothing to flag; a capture without such a reuse
/// gets no hint.
#[test]
fn the_tw_reuse_hint_is_given_where_following_it_explains_every_violation() {
    use teardown_conformance::oracle::Verdict;
    use teardown_conformance::replay_report::summarize;
    let dir = traces_dir().join("linux/captures");
    for name in [
        "tw-reuse1-ts1.client.pcap",
        "tw-bind-reuseaddr-ts1.server.pcap",
    ] {
        let p = dir.join(name);
        let as_linux = verdicts(&p);
        assert!(as_linux.count(Verdict::Violation) > 0, "{name}");
        let hints = summarize(std::slice::from_ref(&as_linux)).hints;
        assert_eq!(hints.len(), 1, "{name}: {hints:?}");
        assert!(
            hints[0].contains("--stack tw-reuse-with-timestamps"),
            "{name}"
        );
        let followed = replay_path(
            &p,
            &ReplayOptions {
                stack: StackChoice::Named(
                    builtin("tw-reuse-with-timestamps").expect("built-in").stack,
                ),
                ..options_for("linux/")
            },
        );
        assert_eq!(followed.count(Verdict::Violation), 0, "{name}");
        assert_eq!(followed.count(Verdict::Inconclusive), 0, "{name}");
        assert!(summarize(&[followed]).hints.is_empty(), "{name}");
    }
    let plain = verdicts(&dir.join("tw-bind-reuseaddr-ts0.client.pcap"));
    assert!(summarize(&[plain]).hints.is_empty());
}
