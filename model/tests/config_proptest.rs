//! Configurations from users: random stack descriptions and bounds within the documented
//! ranges never panic the checker (it builds, explores a capped state space and reports),
//! and absurd ones — MSL or RTO 0, a TIME-WAIT shorter than a tick, timers that overflow
//! the tick budget, bounds beyond `MAX_BOUNDS` — are refused with an error that names the
//! value, before any exploration.

use proptest::prelude::*;
use stateright::Model;
use teardown_model::builtins::builtins;
use teardown_model::check::{CheckOptions, check};
use teardown_model::stack::StackDescription;
use teardown_model::system::{Bounds, MAX_BOUNDS, TeardownModel};

/// Knobs mixed from the built-ins (every value each enum takes in some built-in, in any
/// combination), with the timers in ticks of `tick_ms` that the checker accepts: MSL 1–8
/// ticks, TIME-WAIT and FIN-WAIT-2 1–32 ticks or none, an RTO from a tenth of a tick to 4.
fn mixed_stack() -> impl Strategy<Value = (StackDescription, u64)> {
    let n = builtins().len();
    (
        prop::array::uniform12(0..n),
        1_000u64..=600_000,
        (1u64..=8, prop::option::of(1u64..=32), 1u64..=40),
        (0u8..=15, prop::option::of(1u64..=32)),
    )
        .prop_map(|(pick, tick, (msl, tw, rto_tenths), (retries, fw2))| {
            let all = builtins();
            let from = |i: usize| &all[pick[i]].stack;
            let mut s = from(0).clone();
            s.name = "random".into();
            let b = &mut s.behaviour;
            b.fin_retransmit = from(1).behaviour.fin_retransmit;
            b.time_wait_restart = from(2).behaviour.time_wait_restart;
            b.time_wait_acks_fin = from(3).behaviour.time_wait_acks_fin;
            b.rst_check = from(4).behaviour.rst_check;
            b.time_wait_rst = from(5).behaviour.time_wait_rst;
            b.syn_check = from(6).behaviour.syn_check;
            b.syn_in_time_wait = from(7).behaviour.syn_in_time_wait;
            b.timestamps = from(8).behaviour.timestamps;
            b.time_wait_reuse = from(9).behaviour.time_wait_reuse;
            b.isn = from(10).behaviour.isn;
            s.events = from(11).events;
            s.timers.msl_ms = msl * tick;
            s.timers.time_wait_ms = tw.map(|k| k * tick);
            s.timers.rto_ms = (rto_tenths * tick).div_ceil(10);
            s.timers.max_retries = retries;
            s.timers.fin_wait_2_ms = fw2.map(|k| k * tick);
            (s, tick)
        })
}

/// Small bounds: each case explores up to a cap.
fn small_bounds() -> impl Strategy<Value = Bounds> {
    (0u8..=1, 0u8..=1, 0u8..=1, 1u8..=2, 0u8..=1).prop_map(
        |(losses, dups, delays, incarnations, data)| Bounds {
            losses,
            dups,
            delays,
            incarnations,
            data,
            tick_ms: 0,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x7ea2_c0f1),
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_description_in_range_is_checked_never_a_panic(
        (stack, tick_ms) in mixed_stack(),
        bounds in small_bounds(),
    ) {
        let bounds = Bounds { tick_ms, ..bounds };
        let model = TeardownModel::new(stack.clone(), bounds);
        prop_assert!(model.is_ok(), "{model:?} for {:?} at tick {tick_ms} ms", stack.timers);
        let model = model.expect("accepted");
        let report = check(&model, None, CheckOptions { threads: 1, max_states: Some(5_000) });
        prop_assert!(report.unique > 0);
        prop_assert_eq!(report.verdicts.len(), model.properties().len());
    }
}

fn base() -> (StackDescription, Bounds) {
    let b = builtins().into_iter().next().expect("a built-in");
    (b.stack, b.bounds)
}

/// Refused before exploration, with an error naming the value.
fn refused(stack: StackDescription, bounds: Bounds, says: &str) {
    match TeardownModel::new(stack, bounds) {
        Ok(_) => panic!("accepted; expected an error saying {says:?}"),
        Err(e) => assert!(e.0.contains(says), "{:?} does not say {says:?}", e.0),
    }
}

#[test]
fn absurd_descriptions_are_refused_with_the_value_named() {
    let (stack, bounds) = base();
    let mut s = stack.clone();
    s.timers.msl_ms = 0;
    refused(s, bounds, "MSL must be longer than 0");
    let mut s = stack.clone();
    s.timers.rto_ms = 0;
    refused(s, bounds, "RTO must be longer than 0");
    let mut s = stack.clone();
    s.timers.time_wait_ms = Some(bounds.tick_ms - 1);
    refused(s, bounds, "shorter than one tick");
    let mut s = stack.clone();
    s.timers.fin_wait_2_ms = Some(1);
    refused(
        s,
        bounds,
        "FIN-WAIT-2 timeout is 1 ms, shorter than one tick",
    );
    // Values that would overflow any tick arithmetic are timers too long to explore.
    let mut s = stack.clone();
    s.timers.msl_ms = u64::MAX;
    refused(s, bounds, "MSL is");
    let mut s = stack.clone();
    s.timers.time_wait_ms = Some(u64::MAX);
    refused(s, bounds, "TIME-WAIT is");
    let mut s = stack.clone();
    s.timers.rto_ms = u64::MAX;
    refused(s, bounds, "RTO is");
}

#[test]
fn absurd_bounds_are_refused_with_the_limit_named() {
    let (stack, bounds) = base();
    refused(
        stack.clone(),
        Bounds {
            tick_ms: 0,
            ..bounds
        },
        "longer than 0 ms",
    );
    refused(
        stack.clone(),
        Bounds {
            tick_ms: MAX_BOUNDS.tick_ms + 1,
            ..bounds
        },
        "the tick must be at most",
    );
    refused(
        stack.clone(),
        Bounds {
            incarnations: 0,
            ..bounds
        },
        "incarnations must be at least 1",
    );
    for over in [
        Bounds {
            losses: MAX_BOUNDS.losses + 1,
            ..bounds
        },
        Bounds {
            dups: u8::MAX,
            ..bounds
        },
        Bounds {
            delays: MAX_BOUNDS.delays + 1,
            ..bounds
        },
        Bounds {
            data: MAX_BOUNDS.data + 1,
            ..bounds
        },
        Bounds {
            incarnations: MAX_BOUNDS.incarnations + 1,
            ..bounds
        },
    ] {
        refused(stack.clone(), over, "bounds out of range");
    }
}
