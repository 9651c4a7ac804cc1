//! `teardown graph` and the regression snapshots of the explored state graphs: the
//! summary of every built-in at `graph`'s default bounds, the full DOT of two tiny
//! configurations, and the verdict table of `teardown check --all` (timings redacted).
//!
//! A change to a rule in `teardown-model` that changes what is reachable shows up here as
//! a snapshot diff; CONTRIBUTING.md says how to read it.

mod common;

use std::process::{Command, Output};

use teardown_conformance::check_report::{self, Timings};
use teardown_conformance::graph_report;
use teardown_model::builtins::{builtin, builtin_names};
use teardown_model::check::{CheckOptions, check, expectations};
use teardown_model::graph::{DEFAULT_MAX_STATES, default_bounds, enumerate};
use teardown_model::system::{Bounds, TeardownModel};

fn teardown(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_teardown"))
        .args(args)
        .output()
        .expect("the teardown binary runs")
}

fn model(name: &str, bounds: impl Fn(Bounds) -> Bounds) -> TeardownModel {
    let b = builtin(name).expect("built-in");
    TeardownModel::new(b.stack, bounds(default_bounds(b.bounds.tick_ms))).expect("valid")
}

/// The configurations small enough to read as a picture: one connection closed without
/// impairments, and the same with one loss (lost FIN or final ACK and their recovery).
fn tiny(losses: u8) -> impl Fn(Bounds) -> Bounds {
    move |b| Bounds {
        losses,
        delays: 0,
        incarnations: 1,
        data: 0,
        ..b
    }
}

#[test]
fn summary_of_every_builtin() {
    for name in builtin_names() {
        let m = model(&name, |b| b);
        let g = enumerate(&m, DEFAULT_MAX_STATES).expect("small enough");
        let text = graph_report::summary(&g.summary(&m));
        insta::assert_snapshot!(format!("summary-{}", name.replace('+', "-")), text);
    }
}

#[test]
fn dot_of_a_clean_close() {
    let m = model("rfc9293+rfc1337", tiny(0));
    let g = enumerate(&m, 1_000).expect("tiny");
    insta::assert_snapshot!("dot-rfc9293-rfc1337-no-loss", g.to_dot(&m));
}

#[test]
fn dot_of_a_close_with_one_loss() {
    let m = model("rfc9293+rfc1337", tiny(1));
    let g = enumerate(&m, 1_000).expect("tiny");
    insta::assert_snapshot!("dot-rfc9293-rfc1337-one-loss", g.to_dot(&m));
}

/// What `teardown check --all` prints at the end, for every built-in at its default
/// bounds: the verdict of every property. Each cell is also asserted against the
/// built-in's expectations by `model/tests/checker.rs`; the snapshot makes a change of
/// state count or verdict visible in review.
#[test]
fn verdict_table_of_check_all() {
    let reports: Vec<_> = builtin_names()
        .iter()
        .map(|name| {
            let b = builtin(name).expect("built-in");
            let m = TeardownModel::new(b.stack.clone(), b.bounds).expect("valid");
            let e = expectations(&b.expect, &b.witnesses);
            check(
                &m,
                Some(&e),
                CheckOptions {
                    threads: 2,
                    max_states: None,
                },
            )
        })
        .collect();
    insta::assert_snapshot!(
        "check-all-table",
        check_report::table(&reports, Timings::Redact)
    );
}

#[test]
fn graph_summary_runs_with_its_defaults() {
    let out = teardown(&["graph", "--stack", "rfc9293", "--format", "summary"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("stack rfc9293\n"), "{text}");
    assert!(text.contains("fingerprint sha256:"));
    assert!(text.contains("states per endpoint-state pair"));
}

#[test]
fn graph_json_has_every_node_and_edge() {
    let out = teardown(&[
        "graph",
        "--stack",
        "linux",
        "--losses",
        "1",
        "--delays",
        "0",
        "--incarnations",
        "1",
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let nodes = v["nodes"].as_array().expect("nodes");
    let edges = v["edges"].as_array().expect("edges");
    assert_eq!(nodes.len() as u64, v["summary"]["states"].as_u64().unwrap());
    assert_eq!(edges.len() as u64, v["summary"]["edges"].as_u64().unwrap());
    for (i, n) in nodes.iter().enumerate() {
        assert_eq!(n["id"].as_u64(), Some(i as u64), "ids are positions");
    }
    for e in edges {
        assert!(e["to"].as_u64().unwrap() < nodes.len() as u64);
        assert!(e["kind"].is_string() && e["action"].is_string());
    }
    assert!(edges.iter().any(|e| e["rule"] == "time-wait-expired"));
}

#[test]
fn graph_over_the_limit_says_so() {
    let out = teardown(&["graph", "--stack", "rfc9293", "--max-states", "50"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("more than 50 reachable states"), "{err}");
}

#[test]
fn graph_bad_usage_exits_2() {
    for args in [
        &["graph", "--stack", "no-such-stack"][..],
        &["graph", "--stack", "rfc9293", "--losses", "200"][..],
        &["graph", "--stack", "rfc9293", "--format", "png"][..],
    ] {
        let out = teardown(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(!out.stderr.is_empty(), "{args:?} says why");
    }
}

/// The DOT is valid Graphviz: `dot` lays it out as SVG, through `--format svg` too.
#[test]
fn graph_svg_through_graphviz() {
    if !common::tool_available("dot", "-V", "graph_svg_through_graphviz") {
        let out = teardown(&["graph", "--stack", "rfc9293", "--format", "svg"]);
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("apt-get install graphviz"));
        return;
    }
    let out = teardown(&[
        "graph",
        "--stack",
        "rfc9293+rfc1337",
        "--losses",
        "1",
        "--delays",
        "0",
        "--incarnations",
        "1",
        "--data",
        "0",
        "--format",
        "svg",
    ]);
    assert!(out.status.success(), "{out:?}");
    let svg = String::from_utf8_lossy(&out.stdout);
    assert!(svg.contains("<svg"), "{svg}");
    assert!(svg.contains("TIME&#45;WAIT") || svg.contains("TIME-WAIT"));
}
