//! The envelope search: bisection agrees with a scan of every length where it is used,
//! each bound is exact (holds at it, fails one tick below with a counterexample), and the
//! bounds move the way the protocol says they must.

use teardown_model::builtins::builtin;
use teardown_model::check::{CheckOptions, check};
use teardown_model::envelope::{
    Envelope, EnvelopeOptions, Grid, Method, PointResult, Variant, envelope, model_at,
};
use teardown_model::stack::IsnPolicy;
use teardown_model::system::{P_FINAL_ACK, P_OLD_ACCEPTED};

fn options(stack: &str, scan_all: bool, threads: usize) -> EnvelopeOptions {
    let b = builtin(stack).expect("built-in");
    EnvelopeOptions {
        stack: b.stack,
        tick_ms: b.bounds.tick_ms,
        delays: 1,
        incarnations: 2,
        data: 0,
        max_time_wait: None,
        scan_all,
        threads,
    }
}

fn grid(msl: u16, rto: std::ops::RangeInclusive<u16>, losses: u8) -> Grid {
    Grid {
        msl: msl..=msl,
        rto,
        losses: 0..=losses,
        dups: 0..=0,
    }
}

fn point(env: &Envelope, rto: u16, losses: u8, v: Variant) -> &PointResult {
    env.points
        .iter()
        .find(|p| p.rto == rto && p.losses == losses && p.variant == v)
        .expect("point")
}

const TS_1337: Variant = Variant {
    timestamps: true,
    rfc1337: true,
};
const NO_TS_1337: Variant = Variant {
    timestamps: false,
    rfc1337: true,
};
const NO_TS_NO_1337: Variant = Variant {
    timestamps: false,
    rfc1337: false,
};

/// Where the search bisects final-ACK recovery (only the timer ends TIME-WAIT), a scan of
/// every length finds the same bound and no length below it at which the property holds:
/// the monotonicity argument of the module documentation, tested. The old-segment property
/// is always scanned, and this grid shows why.
#[test]
fn bisection_agrees_with_a_full_scan() {
    let mut opts = options("rfc9293", false, 2);
    opts.stack.behaviour.isn = IsnPolicy::Arbitrary; // so the old-segment bound is not trivial
    let g = Grid {
        msl: 1..=3,
        rto: 1..=2,
        losses: 0..=2,
        dups: 0..=0,
    };
    let bisected = envelope(&g, &opts).expect("valid");
    opts.scan_all = true;
    let scanned = envelope(&g, &opts).expect("valid");
    let mut compared = 0;
    let mut non_monotone_old = 0;
    for (b, s) in bisected.points.iter().zip(&scanned.points) {
        assert_eq!(
            (b.msl, b.rto, b.losses, b.dups, b.variant),
            (s.msl, s.rto, s.losses, s.dups, s.variant)
        );
        assert_eq!(s.final_ack.method, Method::Scan);
        if b.final_ack.method == Method::Bisect {
            compared += 1;
            assert_eq!(b.final_ack.ticks, s.final_ack.ticks, "{b:?}");
            assert!(
                s.final_ack.non_monotone.is_empty(),
                "not monotone where bisected: {s:?}"
            );
        }
        assert_eq!(b.old_segment.method, Method::Scan, "never bisected");
        assert_eq!(b.old_segment.ticks, s.old_segment.ticks);
        if !s.old_segment.non_monotone.is_empty() {
            non_monotone_old += 1;
        }
    }
    assert!(compared >= 24, "bisection was used at {compared} points");
    // Why the old-segment property is never bisected: the grid has points where it is not
    // monotone (see the envelope module's documentation for the execution).
    assert!(non_monotone_old > 0);
}

/// Each bound is exact: the property holds at it and fails one tick below, where the
/// counterexample was found.
#[test]
fn bounds_are_exact() {
    let opts = options("rfc9293", false, 2);
    let env = envelope(&grid(2, 1..=2, 2), &opts).expect("valid");
    for p in &env.points {
        for (name, b) in [
            (P_FINAL_ACK, &p.final_ack),
            (P_OLD_ACCEPTED, &p.old_segment),
        ] {
            let holds = |l: u16| {
                let m =
                    model_at(&opts, p.msl, p.rto, p.losses, p.dups, p.variant, l).expect("valid");
                let r = check(&m, None, CheckOptions::default());
                !r.verdicts.iter().any(|v| {
                    v.name == name && v.outcome == teardown_model::check::Outcome::Violated
                })
            };
            let t = b.ticks.expect("a bound within the limit");
            assert!(holds(t), "{name} fails at its bound {t}: {p:?}");
            if t > 1 {
                assert!(!holds(t - 1), "{name} holds below its bound {t}: {p:?}");
                let cx = b
                    .counterexample
                    .as_ref()
                    .expect("a counterexample below the bound");
                assert_eq!(cx.time_wait, t - 1);
                assert!(!cx.steps.is_empty());
            } else {
                assert!(b.counterexample.is_none());
            }
        }
    }
}

/// Without TIME-WAIT restart (RFC 9293 literally) the TIME-WAIT holder must outlast the
/// peer's whole backoff series; the bound grows with every loss tolerated and with the RTO.
/// Restarting TIME-WAIT on a retransmitted FIN (Linux, RFC 9293 §3.10.7.4 "restart the
/// 2 MSL timeout") only needs to outlast one interval, so with two losses it needs less.
#[test]
fn final_ack_bound_grows_with_losses_and_restart_lowers_it() {
    let env = envelope(&grid(2, 1..=2, 2), &options("rfc9293", false, 2)).expect("valid");
    for rto in [1, 2] {
        let b: Vec<u16> = (0..=2)
            .map(|l| {
                point(&env, rto, l, NO_TS_1337)
                    .final_ack
                    .ticks
                    .expect("bound")
            })
            .collect();
        assert!(b[0] <= b[1] && b[1] < b[2], "rto {rto}: {b:?}");
    }
    assert!(
        point(&env, 2, 2, NO_TS_1337).final_ack.ticks
            > point(&env, 1, 2, NO_TS_1337).final_ack.ticks,
        "a longer RTO needs a longer TIME-WAIT"
    );
    let mut restart = options("rfc9293", false, 2);
    restart.stack.behaviour.time_wait_restart = true;
    let with_restart = envelope(&grid(2, 2..=2, 2), &restart).expect("valid");
    assert!(
        point(&with_restart, 2, 2, NO_TS_1337).final_ack.ticks
            < point(&env, 2, 2, NO_TS_1337).final_ack.ticks,
        "restart lowers the bound"
    );
}

/// With an ISN that may land in the old sequence space, TIME-WAIT is what keeps old
/// segments out; RFC 1337 off lets an RST end it early, and then no length is enough
/// (the search reports no bound), while timestamps/PAWS lower the bound.
#[test]
fn old_segment_bound_needs_time_wait_unless_paws() {
    let mut opts = options("rfc9293", false, 2);
    opts.stack.behaviour.isn = IsnPolicy::Arbitrary;
    let env = envelope(&grid(3, 1..=1, 0), &opts).expect("valid");
    let p = point(&env, 1, 0, NO_TS_1337);
    assert!(p.old_segment.ticks.expect("bound") > 1);
    assert_eq!(point(&env, 1, 0, NO_TS_NO_1337).old_segment.ticks, None);
    assert!(point(&env, 1, 0, TS_1337).old_segment.ticks < p.old_segment.ticks);
    // An ISN above the old space needs no TIME-WAIT at all for this purpose.
    let above = envelope(&grid(3, 1..=1, 0), &options("rfc9293", false, 2)).expect("valid");
    assert_eq!(point(&above, 1, 0, NO_TS_1337).old_segment.ticks, Some(1));
}

/// The result does not depend on the number of worker threads.
#[test]
fn result_does_not_depend_on_threads() {
    let g = grid(2, 1..=2, 1);
    let a = envelope(&g, &options("linux", false, 1)).expect("valid");
    let b = envelope(&g, &options("linux", false, 2)).expect("valid");
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
}

/// Absurd grids are refused with a reason before any search.
#[test]
fn absurd_grids_are_refused() {
    let opts = options("rfc9293", false, 1);
    let bad = [
        Grid {
            msl: 0..=2,
            ..grid(2, 1..=1, 0)
        },
        Grid {
            msl: 1..=40,
            ..grid(2, 1..=1, 0)
        },
        Grid {
            rto: 0..=1,
            ..grid(2, 1..=1, 0)
        },
        Grid {
            losses: 0..=9,
            ..grid(2, 1..=1, 0)
        },
        Grid {
            msl: 1..=16,
            rto: 1..=16,
            losses: 0..=3,
            dups: 0..=1,
        },
    ];
    for g in bad {
        let e = envelope(&g, &opts).expect_err("refused");
        assert!(!e.to_string().is_empty());
    }
    let mut zero_tw = opts.clone();
    zero_tw.max_time_wait = Some(0);
    assert!(envelope(&grid(2, 1..=1, 0), &zero_tw).is_err());
}
