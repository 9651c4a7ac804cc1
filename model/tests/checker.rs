//! The checker's discoveries: every cell of the expected-verdict table, every witness, the
//! shortness of counterexamples, and the acyclicity `eventually` relies on.

use std::collections::{HashMap, HashSet};

use stateright::{Checker, Model};
use teardown_model::builtins::{builtin, builtin_names};
use teardown_model::check::{CheckOptions, Outcome, check, expectations, shortest_discovery};
use teardown_model::system::{
    Bounds, P_FINAL_ACK, P_OLD_ACCEPTED, SystemState, TeardownModel, W_NEW_INCARNATION,
};

fn model(name: &str) -> TeardownModel {
    let b = builtin(name).expect("a built-in");
    TeardownModel::new(b.stack, b.bounds).expect("valid bounds")
}

/// Checks one built-in and asserts every declared verdict and witness.
fn assert_expected(name: &str) {
    let b = builtin(name).expect("a built-in");
    let m = TeardownModel::new(b.stack.clone(), b.bounds).expect("valid bounds");
    let e = expectations(&b.expect, &b.witnesses);
    let r = check(
        &m,
        Some(&e),
        CheckOptions {
            threads: 2,
            max_states: None,
        },
    );
    for v in &r.verdicts {
        assert!(
            !v.unexpected(),
            "{name}: `{}` is {:?}, expected {:?}",
            v.name,
            v.outcome,
            v.expected
        );
        if v.outcome == Outcome::Violated {
            let t = v
                .trace
                .as_ref()
                .expect("a violation comes with a counterexample");
            assert!(
                !t.is_empty(),
                "{name}: empty counterexample for `{}`",
                v.name
            );
        }
    }
    // Every declared cell was judged.
    for (p, _) in &b.expect {
        assert!(
            r.verdicts
                .iter()
                .any(|v| v.name == *p && v.expected.is_some())
        );
    }
}

macro_rules! verdict_tests {
    ($($fn_name:ident => $stack:literal,)*) => {
        $(
            #[test]
            fn $fn_name() {
                assert_expected($stack);
            }
        )*

        #[test]
        fn every_builtin_has_a_verdict_test() {
            let tested: HashSet<&str> = [$($stack,)*].into_iter().collect();
            for n in builtin_names() {
                assert!(tested.contains(n.as_str()), "no verdict test for built-in `{n}`");
            }
        }
    };
}

verdict_tests! {
    verdicts_rfc9293 => "rfc9293",
    verdicts_rfc9293_rfc1337 => "rfc9293+rfc1337",
    verdicts_linux => "linux",
    verdicts_freebsd => "freebsd",
    verdicts_macos => "macos",
    verdicts_windows => "windows",
    verdicts_smoltcp => "smoltcp",
    verdicts_no_time_wait => "no-time-wait",
    verdicts_short_time_wait => "short-time-wait",
    verdicts_time_wait_accepts_rst => "time-wait-accepts-rst",
    verdicts_no_fin_retransmit => "no-fin-retransmit",
    verdicts_no_time_wait_restart => "no-time-wait-restart",
    verdicts_tw_reuse_without_timestamps => "tw-reuse-without-timestamps",
    verdicts_tw_reuse_with_timestamps => "tw-reuse-with-timestamps",
    verdicts_isn_not_above_old => "isn-not-above-old",
    verdicts_abort_then_reopen => "abort-then-reopen",
}

/// Every witness is found by at least one built-in: no property holds only because the
/// scenario it guards cannot happen.
#[test]
fn every_witness_is_required_somewhere() {
    let required: HashSet<&str> = teardown_model::builtins::builtins()
        .iter()
        .flat_map(|b| b.witnesses.clone())
        .collect();
    for w in teardown_model::system::WITNESSES {
        assert!(
            required.contains(w),
            "witness `{w}` is required by no built-in"
        );
    }
}

/// Every property holds somewhere and is violated somewhere, by the declared table.
#[test]
fn every_property_both_holds_and_fails_somewhere() {
    let all = teardown_model::builtins::builtins();
    for p in teardown_model::system::PROPERTIES {
        let cells: Vec<_> = all
            .iter()
            .flat_map(|b| b.expect.iter().filter(|(n, _)| *n == p).map(|(_, e)| *e))
            .collect();
        assert!(
            cells.contains(&teardown_model::builtins::Expect::Holds),
            "{p} holds nowhere"
        );
        assert!(
            cells.contains(&teardown_model::builtins::Expect::Violated),
            "{p} fails nowhere"
        );
    }
}

/// The counterexample from our breadth-first search is shortest: a depth-bounded
/// exhaustive search one step shallower finds no violation, and one exactly as deep does.
#[test]
fn counterexamples_are_shortest() {
    for (stack, prop) in [
        ("no-time-wait", P_FINAL_ACK),
        ("time-wait-accepts-rst", P_OLD_ACCEPTED),
        ("no-fin-retransmit", P_FINAL_ACK),
        ("tw-reuse-without-timestamps", P_OLD_ACCEPTED),
    ] {
        let m = model(stack);
        let (_, path) = shortest_discovery(&m, prop).expect("a counterexample");
        let len = path.len();
        // stateright counts the initial state as depth 1 and skips states at depth >= d.
        let shallow = m
            .clone()
            .checker()
            .target_max_depth(len + 1)
            .spawn_bfs()
            .join();
        assert!(
            shallow.discovery(prop).is_none(),
            "{stack}: `{prop}` violated within {} steps, shorter than {len}",
            len - 1
        );
        let deep = m
            .clone()
            .checker()
            .target_max_depth(len + 2)
            .spawn_bfs()
            .join();
        assert!(
            deep.discovery(prop).is_some(),
            "{stack}: no violation within {len} steps"
        );
    }
}

/// The graph is acyclic, which is what makes stateright's `eventually` sound here
/// (stateright-notes §1.2): an exact enumeration with a depth-first cycle search.
#[test]
fn state_graphs_are_acyclic() {
    for stack in [
        "rfc9293+rfc1337",
        "linux",
        "smoltcp",
        "tw-reuse-without-timestamps",
    ] {
        let m = model(stack);
        if let Some(c) = find_cycle(&m) {
            panic!("{stack}: the state graph has a cycle through {c:?}");
        }
    }
}

fn find_cycle(m: &TeardownModel) -> Option<SystemState> {
    // 0 = on the DFS stack, 1 = done.
    let mut color: HashMap<SystemState, u8> = HashMap::new();
    let mut actions = Vec::new();
    for init in m.init_states() {
        let mut stack: Vec<(SystemState, Vec<SystemState>)> = Vec::new();
        let succ = |s: &SystemState, actions: &mut Vec<_>| {
            actions.clear();
            m.actions(s, actions);
            actions
                .iter()
                .filter_map(|a| m.next_state(s, *a))
                .collect::<Vec<_>>()
        };
        color.insert(init.clone(), 0);
        let first = succ(&init, &mut actions);
        stack.push((init, first));
        while let Some((s, mut next)) = stack.pop() {
            match next.pop() {
                None => {
                    color.insert(s, 1);
                }
                Some(n) => {
                    stack.push((s, next));
                    match color.get(&n) {
                        Some(0) => return Some(n),
                        Some(_) => {}
                        None => {
                            color.insert(n.clone(), 0);
                            let ns = succ(&n, &mut actions);
                            stack.push((n, ns));
                        }
                    }
                }
            }
        }
    }
    None
}

/// Unique-state counts do not depend on the number of threads.
#[test]
fn unique_states_do_not_depend_on_threads() {
    let m = model("rfc9293+rfc1337");
    let one = m
        .clone()
        .checker()
        .threads(1)
        .spawn_dfs()
        .join()
        .unique_state_count();
    let two = m
        .clone()
        .checker()
        .threads(2)
        .spawn_dfs()
        .join()
        .unique_state_count();
    assert_eq!(one, two);
}

/// A witness that needs a second incarnation is not found with one.
#[test]
fn bounds_matter_one_incarnation_never_reopens() {
    let b = builtin("rfc9293+rfc1337").expect("built-in");
    let bounds = Bounds {
        incarnations: 1,
        ..b.bounds
    };
    let m = TeardownModel::new(b.stack, bounds).expect("valid");
    let r = check(&m, None, CheckOptions::default());
    let v = r
        .verdicts
        .iter()
        .find(|v| v.name == W_NEW_INCARNATION)
        .expect("witness");
    assert_eq!(v.outcome, Outcome::NotFound);
}

/// Absurd configurations are refused before exploration, with a message.
#[test]
fn absurd_configurations_are_rejected() {
    let b = builtin("linux").expect("built-in");
    let bad = [
        Bounds {
            tick_ms: 0,
            ..b.bounds
        },
        Bounds {
            tick_ms: 1,
            ..b.bounds
        }, // MSL of 30 000 ticks
        Bounds {
            incarnations: 0,
            ..b.bounds
        },
        Bounds {
            losses: 200,
            ..b.bounds
        },
    ];
    for bounds in bad {
        let e = TeardownModel::new(b.stack.clone(), bounds).expect_err("refused");
        assert!(!e.0.is_empty());
    }
    let mut no_msl = b.stack.clone();
    no_msl.timers.msl_ms = 0;
    assert!(TeardownModel::new(no_msl, b.bounds).is_err());
}

/// `--max-states` cuts the search by generated states (stateright's count): a cut search
/// says so — no property "holds" on a part of the graph.
#[test]
fn a_search_cut_at_max_states_is_reported_and_judges_nothing() {
    let b = builtin("rfc9293+rfc1337").unwrap();
    let model = TeardownModel::new(b.stack.clone(), b.bounds).unwrap();
    let e = expectations(&b.expect, &b.witnesses);
    let r = check(
        &model,
        Some(&e),
        CheckOptions {
            threads: 1,
            max_states: Some(2_000),
        },
    );
    assert!(r.truncated, "unique {} generated {}", r.unique, r.generated);
    assert!(!r.as_expected());
    assert!(
        r.verdicts
            .iter()
            .filter(|v| v.kind == teardown_model::check::Kind::Always)
            .all(|v| v.outcome == Outcome::Unknown),
        "{:?}",
        r.verdicts
    );
}
