//! The exact state-graph enumerator: it agrees with stateright, its summary does not depend
//! on exploration order, and it sees a changed rule.

use teardown_model::builtins::{builtin, builtin_names};
use teardown_model::check::{CheckOptions, check};
use teardown_model::graph::{
    DEFAULT_MAX_STATES, StateGraph, TooManyStates, default_bounds, enumerate,
};
use teardown_model::system::{Bounds, TeardownModel};

fn model(name: &str, bounds: impl Fn(Bounds) -> Bounds) -> TeardownModel {
    let b = builtin(name).expect("built-in");
    TeardownModel::new(b.stack, bounds(default_bounds(b.bounds.tick_ms))).expect("valid")
}

fn graph(m: &TeardownModel) -> StateGraph {
    enumerate(m, DEFAULT_MAX_STATES).expect("small enough")
}

/// stateright's DFS (64-bit fingerprints, one thread) and the exact enumerator (full
/// states) find the same number of unique states for every built-in at `graph`'s default
/// bounds, and stateright generates exactly one state per edge plus the initial ones. A
/// disagreement would mean a fingerprint collision or a difference in what is explored.
#[test]
fn enumerator_agrees_with_stateright_on_every_builtin() {
    for name in builtin_names() {
        let m = model(&name, |b| b);
        let g = graph(&m);
        let r = check(
            &m,
            None,
            CheckOptions {
                threads: 1,
                max_states: None,
            },
        );
        assert_eq!(r.unique, g.states.len(), "{name}: unique states");
        assert_eq!(r.generated, g.edges.len() + g.initial, "{name}: generated");
        assert!(g.states.len() > 1_000, "{name}: the graph is not trivial");
    }
}

/// The same at `check`'s own bounds for the stack the README proves things about.
#[test]
fn enumerator_agrees_with_stateright_at_check_bounds() {
    let b = builtin("rfc9293+rfc1337").expect("built-in");
    let m = TeardownModel::new(b.stack, b.bounds).expect("valid");
    let g = graph(&m);
    let r = check(&m, None, CheckOptions::default());
    assert_eq!(r.unique, g.states.len());
    assert_eq!(r.generated, g.edges.len() + g.initial);
}

/// Breadth-first depth is the length of a shortest path: no edge skips a level, and every
/// state beyond the initial ones has a predecessor one level up.
#[test]
fn depth_is_the_shortest_path_length() {
    let g = graph(&model("rfc9293", |b| b));
    let mut reached_from_above = vec![false; g.states.len()];
    for e in &g.edges {
        let (f, t) = (g.depth[e.from as usize], g.depth[e.to as usize]);
        assert!(
            t <= f + 1,
            "edge {} -> {} skips from depth {f} to {t}",
            e.from,
            e.to
        );
        if t == f + 1 {
            reached_from_above[e.to as usize] = true;
        }
    }
    for (id, d) in g.depth.iter().enumerate() {
        if id < g.initial {
            assert_eq!(*d, 0);
        } else {
            assert!(
                reached_from_above[id],
                "state {id} at depth {d} has no parent"
            );
        }
    }
}

/// Relabelling the states (here: reversing the ids) leaves the fingerprint unchanged,
/// while dropping one edge changes it.
#[test]
fn fingerprint_does_not_depend_on_ids() {
    let g = graph(&model("linux", |b| b));
    let n = g.states.len() as u32;
    let flip = |i: u32| n - 1 - i;
    let mut relabelled = g.clone();
    relabelled.states.reverse();
    relabelled.depth.reverse();
    for e in &mut relabelled.edges {
        e.from = flip(e.from);
        e.to = flip(e.to);
    }
    relabelled.edges.reverse();
    assert_eq!(g.fingerprint(), relabelled.fingerprint());
    let mut fewer = g.clone();
    fewer.edges.pop();
    assert_ne!(g.fingerprint(), fewer.fingerprint());
}

/// Two enumerations give identical summaries, byte for byte.
#[test]
fn summary_is_identical_across_runs() {
    let m = model("rfc9293+rfc1337", |b| b);
    let a = format!("{:?}", graph(&m).summary(&m));
    let b = format!("{:?}", graph(&m).summary(&m));
    assert_eq!(a, b);
}

/// A TIME-WAIT that no longer acknowledges a retransmitted FIN (RFC 9293 §3.10.7.4, the
/// rule `time-wait-fin-reacked` switched off) changes the fingerprint, the edges, and the
/// states of the TIME-WAIT / LAST-ACK pair that a reviewer sees in the matrix.
#[test]
fn a_changed_rule_changes_the_graph() {
    let b = builtin("rfc9293+rfc1337").expect("built-in");
    let bounds = default_bounds(b.bounds.tick_ms);
    let m = TeardownModel::new(b.stack.clone(), bounds).expect("valid");
    let mut changed_stack = b.stack;
    changed_stack.behaviour.time_wait_acks_fin = false;
    let changed = TeardownModel::new(changed_stack, bounds).expect("valid");
    let (s, t) = (graph(&m).summary(&m), graph(&changed).summary(&changed));
    assert_ne!(s.fingerprint, t.fingerprint);
    let pair = |x: &teardown_model::graph::GraphSummary| {
        let m = &x.states_per_pair;
        let r = m
            .clients
            .iter()
            .position(|c| *c == "TIME-WAIT")
            .expect("row");
        let c = m
            .servers
            .iter()
            .position(|c| *c == "LAST-ACK")
            .expect("column");
        m.counts[r][c]
    };
    assert_ne!(pair(&s), pair(&t), "TIME-WAIT / LAST-ACK states");
    assert_eq!(s.violating_states["final ACK is always recovered"], 0);
    assert!(t.violating_states["final ACK is always recovered"] > 0);
}

/// A configuration larger than the limit is an error naming the limit, not an exhausted
/// machine.
#[test]
fn too_many_states_is_an_error() {
    let m = model("rfc9293", |b| b);
    let e = enumerate(&m, 100).expect_err("more than 100 states");
    assert_eq!(e, TooManyStates { limit: 100 });
    assert!(e.to_string().contains("--max-states"));
}

/// DOT fills the states that violate a property and names it; a stack that violates
/// nothing at these bounds has no such state.
#[test]
fn dot_highlights_violating_states() {
    let unsafe_stack = model("no-time-wait", |b| b);
    let g = graph(&unsafe_stack);
    let violating = g
        .summary(&unsafe_stack)
        .violating_states
        .values()
        .sum::<usize>();
    assert!(violating > 0);
    let dot = g.to_dot(&unsafe_stack);
    assert!(dot.starts_with("digraph"));
    assert_eq!(dot.matches("fillcolor=").count(), {
        (0..g.states.len() as u32)
            .filter(|&i| !g.violations(&unsafe_stack, i).is_empty())
            .count()
    });
    assert!(dot.contains("VIOLATES: "));
    let safe = model("rfc9293+rfc1337", |b| b);
    assert!(!graph(&safe).to_dot(&safe).contains("VIOLATES"));
}
