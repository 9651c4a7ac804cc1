//! The loop between checker and oracle: every counterexample `teardown check --emit-pcap`
//! writes for the two claims of the mission (the final ACK is recovered; old segments never
//! reach a new incarnation) is a capture that `teardown replay` flags — VIOLATION of a rule
//! under the safe description `rfc9293+rfc1337`, and the matching hazard under the unsafe
//! stack that produced it. Where tshark is installed it reads every such file without a
//! warning.

mod common;

use std::collections::BTreeSet;

use teardown_conformance::artifacts::{
    Host, PathCapture, capture_of_path, endpoints, write_path_pcapng,
};
use teardown_conformance::oracle::{IncarnationVerdict, VantageChoice, Verdict};
use teardown_conformance::replay::{ReplayOptions, StackChoice, replay};
use teardown_conformance::writer::write_pcap;
use teardown_model::builtins::{Expect, builtin, builtins};
use teardown_model::check::{ActionPath, shortest_discovery};
use teardown_model::system::{P_FINAL_ACK, P_OLD_ACCEPTED, TeardownModel};

const SAFE: &str = "rfc9293+rfc1337";

/// What replay said of one capture.
#[derive(Debug)]
struct Judged {
    verdicts: Vec<Verdict>,
    rules: BTreeSet<&'static str>,
    hazards: BTreeSet<&'static str>,
    text: String,
}

fn judge(pcap: &[u8], stack: &str) -> Judged {
    let opts = ReplayOptions {
        stack: StackChoice::Named(builtin(stack).expect("built-in").stack),
        vantage: VantageChoice::Auto,
        every_ladder: false,
        threads: 1,
        limits: Default::default(),
    };
    let v = replay("counterexample", pcap, &opts);
    assert!(v.ingest.error.is_none(), "{:?}", v.ingest.error);
    let incs: Vec<&IncarnationVerdict> = v
        .connections
        .iter()
        .flat_map(|c| c.incarnations.iter())
        .collect();
    let mut text = String::new();
    for i in &incs {
        text.push_str(&format!(
            "  inc {} {} {:?} {:?} hazards {:?}\n",
            i.incarnation,
            i.verdict.name(),
            i.violation.as_ref().map(|v| (v.rule, &v.frames)),
            i.inconclusive,
            i.hazards
                .iter()
                .map(|h| (h.hazard, h.frame))
                .collect::<Vec<_>>()
        ));
    }
    Judged {
        verdicts: incs.iter().map(|i| i.verdict).collect(),
        rules: incs
            .iter()
            .filter_map(|i| i.violation.as_ref().map(|v| v.rule))
            .collect(),
        hazards: incs
            .iter()
            .flat_map(|i| i.hazards.iter().map(|h| h.hazard))
            .collect(),
        text,
    }
}

fn pcap_of(model: &TeardownModel, path: &ActionPath, host: Host) -> Vec<u8> {
    let mut out = Vec::new();
    write_path_pcapng(&mut out, model, path, host, false).expect("written");
    out
}

/// What replay must say of each built-in that breaks a mission claim, at one host or the
/// other: the rule `rfc9293+rfc1337` finds broken (`None` where it cannot, with the reason
/// in [`GAPS`]), and the hazards listed under the built-in's own description.
const LOOP: &[(&str, Option<&str>, &[&str])] = &[
    (
        "smoltcp",
        Some("time-wait-expired"),
        &["time-wait-assassinated"],
    ),
    (
        "no-time-wait",
        Some("time-wait-fin-reacked"),
        &["fin-answered-by-rst"],
    ),
    (
        "short-time-wait",
        Some("time-wait-fin-reacked"),
        &["fin-answered-by-rst"],
    ),
    (
        "time-wait-accepts-rst",
        Some("time-wait-expired"),
        &["time-wait-assassinated"],
    ),
    ("no-fin-retransmit", Some("rto-retransmit"), &[]),
    (
        "no-time-wait-restart",
        Some("time-wait-fin-reacked"),
        &["fin-answered-by-rst"],
    ),
    (
        "tw-reuse-without-timestamps",
        Some("time-wait-expired"),
        &["reuse-in-time-wait-without-paws", "fin-answered-by-rst"],
    ),
    (
        "tw-reuse-with-timestamps",
        Some("time-wait-expired"),
        &["reuse-in-time-wait-with-paws", "fin-answered-by-rst"],
    ),
    (
        "isn-not-above-old",
        Some("syn-in-window-reset"),
        &["reuse-in-time-wait-without-paws"],
    ),
    ("abort-then-reopen", None, &["abort-then-reuse"]),
];

/// Where the loop is open, and why. A test below keeps each gap as described, so that
/// closing one fails it and updates this list.
const GAPS: &[(&str, &str)] = &[(
    "abort-then-reopen",
    "the unsafe act is the application's (SO_LINGER 0, then connect() again at once), which \
         no stack description forbids; replay lists abort-then-reuse under every description",
)];

/// The built-ins that break a mission claim, and the claim.
fn headlines() -> Vec<(String, &'static str)> {
    builtins()
        .into_iter()
        .filter_map(|b| {
            let broken = [P_FINAL_ACK, P_OLD_ACCEPTED].into_iter().find(|p| {
                b.expect
                    .iter()
                    .any(|(n, e)| n == p && *e == Expect::Violated)
            })?;
            Some((b.stack.name.clone(), broken))
        })
        .collect()
}

/// The headline counterexample of `stack`: its model and the path the checker found.
fn counterexample(stack: &str, property: &str) -> (TeardownModel, ActionPath) {
    let b = builtin(stack).expect("built-in");
    let model = TeardownModel::new(b.stack.clone(), b.bounds).expect("valid");
    let path = shortest_discovery(&model, property).expect("a counterexample");
    (model, path)
}

/// The headline counterexample of `stack` as captures at the client and the server.
fn counterexample_pcaps(stack: &str, property: &str) -> [Vec<u8>; 2] {
    let (model, path) = counterexample(stack, property);
    [
        pcap_of(&model, &path, Host::Client),
        pcap_of(&model, &path, Host::Server),
    ]
}

#[test]
fn every_unsafe_builtin_is_in_the_loop_table() {
    let mut names: Vec<String> = headlines().into_iter().map(|(n, _)| n).collect();
    let mut table: Vec<String> = LOOP.iter().map(|(n, ..)| n.to_string()).collect();
    names.sort();
    table.sort();
    assert_eq!(names, table);
    for (stack, rule, _) in LOOP {
        assert_eq!(
            rule.is_none(),
            GAPS.iter().any(|(g, _)| g == stack),
            "{stack}: a missing rule needs its reason in GAPS, and only then"
        );
    }
}

#[test]
fn replay_flags_each_counterexample_under_the_safe_stack_and_lists_its_hazard_under_its_own() {
    let mut failures = Vec::new();
    for (stack, property) in headlines() {
        let &(_, rule, hazards) = LOOP.iter().find(|(n, ..)| *n == stack).expect("in LOOP");
        let pcaps = counterexample_pcaps(&stack, property);
        let own: Vec<Judged> = pcaps.iter().map(|p| judge(p, &stack)).collect();
        let safe: Vec<Judged> = pcaps.iter().map(|p| judge(p, SAFE)).collect();
        let context = format!(
            "{stack} / {property}\nunder {stack}:\n{}{}under {SAFE}:\n{}{}",
            own[0].text, own[1].text, safe[0].text, safe[1].text
        );
        // Closure: the stack's own behaviour never violates its own description.
        if own.iter().any(|j| j.verdicts.contains(&Verdict::Violation)) {
            failures.push(format!(
                "judged VIOLATION under its own description\n{context}"
            ));
        }
        let listed: BTreeSet<&str> = own.iter().flat_map(|j| j.hazards.iter().copied()).collect();
        for h in hazards {
            if !listed.contains(h) {
                failures.push(format!("hazard {h} not listed\n{context}"));
            }
        }
        let broken: BTreeSet<&str> = safe.iter().flat_map(|j| j.rules.iter().copied()).collect();
        match rule {
            Some(r) if !broken.contains(r) => {
                failures.push(format!("rule {r} not flagged under {SAFE}\n{context}"))
            }
            // A gap that closed: move it out of GAPS and name the rule.
            None if !broken.is_empty() => failures.push(format!(
                "{SAFE} now flags {broken:?}: update LOOP and GAPS\n{context}"
            )),
            _ => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn emitted_captures_open_in_tshark_with_valid_checksums() {
    if !common::tool_available("tshark", "--version", "emitted_captures_open_in_tshark") {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("counterexample_loop");
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (stack, property) in headlines() {
        let (model, path) = counterexample(&stack, property);
        for host in [Host::Client, Host::Server] {
            let file = dir.join(format!("{stack}.{}.pcapng", host.name()));
            std::fs::write(&file, pcap_of(&model, &path, host)).expect("written");
            let frames = path_capture(&model, &path, host).segments.len();
            // Every frame decodes as TCP, and none has a bad IP or TCP checksum.
            let out = std::process::Command::new("tshark")
                .args([
                    "-o",
                    "ip.check_checksum:TRUE",
                    "-o",
                    "tcp.check_checksum:TRUE",
                ])
                .args([
                    "-T",
                    "fields",
                    "-e",
                    "frame.number",
                    "-e",
                    "ip.checksum.status",
                ])
                .args(["-e", "tcp.checksum.status", "-r"])
                .arg(&file)
                .output()
                .expect("tshark runs");
            let stderr = String::from_utf8_lossy(&out.stderr);
            let complaints: Vec<&str> = stderr
                .lines()
                .filter(|l| !l.starts_with("Running as user \"root\""))
                .collect();
            assert!(out.status.success(), "{}: {stderr}", file.display());
            assert!(complaints.is_empty(), "{}: {complaints:?}", file.display());
            let rows: Vec<Vec<String>> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|l| l.split('\t').map(str::to_string).collect())
                .collect();
            assert_eq!(rows.len(), frames, "{}", file.display());
            for r in &rows {
                // Status 1 is "Good", 2 "Bad".
                assert_eq!(&r[1..], ["1", "1"], "{}: frame {}", file.display(), r[0]);
            }
        }
    }
}

/// The segments `host` sees along `path`, timed by the model's tick.
fn path_capture(model: &TeardownModel, path: &ActionPath, host: Host) -> PathCapture {
    let tick_ns = model.bounds.tick_ms * 1_000_000;
    capture_of_path(model, path, host, tick_ns)
}

#[test]
fn the_gaps_are_as_described() {
    for (stack, _) in GAPS {
        let property = headlines()
            .into_iter()
            .find(|(n, _)| n == stack)
            .map(|(_, p)| p)
            .expect("a headline");
        let pcaps = counterexample_pcaps(stack, property);
        let safe: Vec<Judged> = pcaps.iter().map(|p| judge(p, SAFE)).collect();
        assert!(
            safe.iter()
                .all(|j| !j.verdicts.contains(&Verdict::Violation)),
            "{stack}: {SAFE} now flags it; close the gap in LOOP and GAPS"
        );
    }
}

/// A FIN never retransmitted is silence after the last frame: evidence only where the
/// capture says how long it ran on. The pcapng export records that in its interface
/// statistics (isb_endtime); the same frames as a plain pcap, which cannot, leave the
/// verdict open rather than guess.
#[test]
fn a_fin_never_retransmitted_is_flagged_only_where_the_capture_shows_the_silence() {
    let (model, path) = counterexample("no-fin-retransmit", P_FINAL_ACK);
    let (client, server) = endpoints(false);
    for host in [Host::Client, Host::Server] {
        let with_end = judge(&pcap_of(&model, &path, host), SAFE);
        let capture = path_capture(&model, &path, host);
        let mut plain = Vec::new();
        write_pcap(&mut plain, client, server, &capture.segments).expect("written");
        let without_end = judge(&plain, SAFE);
        if host == Host::Client {
            // The client is the one that owes the retransmission.
            assert!(
                with_end.rules.contains("rto-retransmit"),
                "{}",
                with_end.text
            );
        }
        assert!(
            !without_end.verdicts.contains(&Verdict::Violation),
            "{}",
            without_end.text
        );
        assert!(
            without_end.verdicts.contains(&Verdict::Inconclusive),
            "{}",
            without_end.text
        );
    }
}
