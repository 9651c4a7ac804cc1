//! The safety envelope: how long TIME-WAIT must really be.
//!
//! "TIME-WAIT = 2×MSL" is a rule of thumb. For each point of a grid of MSL, RTO, losses
//! and duplications (in model ticks), and for each of four variants of the stack — with and
//! without timestamps/PAWS (RFC 7323 §5), with and without RFC 1337's fix (RST ignored in
//! TIME-WAIT) — this module finds the smallest TIME-WAIT length for which
//!
//! - *final ACK is always recovered* holds (the first purpose of TIME-WAIT, RFC 9293
//!   §3.6: a lost final ACK is recovered when the peer retransmits its FIN), and
//! - *old segment never accepted by a new incarnation* holds (the second purpose, RFC 9293
//!   §3.6.1 / RFC 1337),
//!
//! each with a shortest counterexample one tick below the bound.
//!
//! ## When bisection is sound
//!
//! A property can be bisected over the TIME-WAIT length L when it is monotone: if it holds
//! for L it holds for every L' > L. For *final ACK recovered* that is so when the only way
//! out of TIME-WAIT is its timer: the TIME-WAIT holder behaves identically until L ends,
//! and from there it is still in TIME-WAIT for L' where it was already CLOSED for L, so
//! every retransmitted FIN it would have answered with an RST from CLOSED it now
//! acknowledges. When something else can end TIME-WAIT — an RST (RFC 1337 off), a SYN
//! that reopens it (RFC 6191), or a connect() that reuses it (`tcp_tw_reuse`) — the end of
//! TIME-WAIT is no longer L and the argument fails; those variants are scanned at every
//! length.
//!
//! *Old segment never accepted* is not monotone in general, and is always scanned. The
//! model found why: a TIME-WAIT that ends *before* the peer's first FIN retransmission
//! leaves nothing behind, while one that ends just *after* a lost final ACK meets that
//! retransmission in CLOSED and answers it with an RST — an old segment of its own making,
//! which RFC 7323's PAWS does not cover (an RST carries no timestamp) and which can reset
//! the next incarnation (MSL 3, RTO 2, one loss, timestamps on, ISN anywhere: TIME-WAIT 1
//! is safe, 2 is not, 3 is again). Lengths below the bound at which a property holds are
//! reported as non-monotone points. `model/tests/envelope.rs` checks bisection against a
//! full scan on a grid.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use serde::Serialize;
use stateright::{Checker, HasDiscoveries, Model};

use crate::check::{TraceStep, render, shortest_discovery};
use crate::stack::{StackDescription, SynInTimeWait, TimeWaitRst};
use crate::system::{Bounds, ConfigError, MAX_TICKS, P_FINAL_ACK, P_OLD_ACCEPTED, TeardownModel};

/// The grid to explore, in model ticks (MSL, RTO) and budgets (losses, duplications).
#[derive(Clone, Debug, Serialize)]
pub struct Grid {
    /// MSL values, in ticks.
    pub msl: RangeInclusive<u16>,
    /// Initial retransmission timeouts, in ticks.
    pub rto: RangeInclusive<u16>,
    /// Loss budgets.
    pub losses: RangeInclusive<u8>,
    /// Duplication budgets.
    pub dups: RangeInclusive<u8>,
}

/// What the search holds fixed.
#[derive(Clone, Debug)]
pub struct EnvelopeOptions {
    /// The stack whose other knobs (FIN retransmission, TIME-WAIT restart, SYN handling,
    /// ISN policy, …) every point uses.
    pub stack: StackDescription,
    /// Real duration of one tick, for the seconds column.
    pub tick_ms: u64,
    /// Delay budget (reordering and late segments; old segments need at least 1).
    pub delays: u8,
    /// Incarnations (the old-segment property needs at least 2).
    pub incarnations: u8,
    /// Data segments each side sends.
    pub data: u8,
    /// Longest TIME-WAIT tried, in ticks; `None`: derived per point (see [`search_limit`]).
    pub max_time_wait: Option<u16>,
    /// Scan every length even where bisection is sound.
    pub scan_all: bool,
    /// Worker threads (points are searched in parallel; results do not depend on it).
    pub threads: usize,
}

/// One of the four variants every point is searched under.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Serialize)]
pub struct Variant {
    /// Timestamps negotiated, with PAWS (RFC 7323 §5).
    pub timestamps: bool,
    /// RFC 1337's fix F1: an RST in TIME-WAIT is ignored.
    pub rfc1337: bool,
}

impl Variant {
    /// All four, in a fixed order.
    pub const ALL: [Variant; 4] = [
        Variant {
            timestamps: false,
            rfc1337: false,
        },
        Variant {
            timestamps: false,
            rfc1337: true,
        },
        Variant {
            timestamps: true,
            rfc1337: false,
        },
        Variant {
            timestamps: true,
            rfc1337: true,
        },
    ];

    /// A short label, e.g. `ts+ 1337-`.
    pub fn label(self) -> String {
        let sign = |b: bool| if b { '+' } else { '-' };
        format!("ts{} 1337{}", sign(self.timestamps), sign(self.rfc1337))
    }
}

/// How a bound was found.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Binary search (the property is monotone in the TIME-WAIT length here).
    Bisect,
    /// Every length checked.
    Scan,
}

/// The smallest TIME-WAIT for one property at one point.
#[derive(Clone, Debug, Serialize)]
pub struct Bound {
    /// The smallest length L (ticks) such that the property holds at L and, as far as was
    /// checked, at every longer length up to the limit; `None`: it fails even at the limit.
    pub ticks: Option<u16>,
    /// That length in seconds, for the tick given.
    pub seconds: Option<f64>,
    /// The longest length tried.
    pub limit: u16,
    /// How it was found.
    pub method: Method,
    /// Lengths below the bound at which the property nevertheless holds (only a scan can
    /// find them): the verdict is not monotone there.
    pub non_monotone: Vec<u16>,
    /// A shortest counterexample one tick below the bound (at the limit when there is no
    /// bound; none when the property holds at every length tried).
    pub counterexample: Option<Counterexample>,
}

/// A counterexample at one TIME-WAIT length.
#[derive(Clone, Debug, Serialize)]
pub struct Counterexample {
    /// The TIME-WAIT length it was found at.
    pub time_wait: u16,
    /// The steps.
    pub steps: Vec<TraceStep>,
}

/// The result for one point and one variant.
#[derive(Clone, Debug, Serialize)]
pub struct PointResult {
    /// MSL, ticks.
    pub msl: u16,
    /// RTO, ticks.
    pub rto: u16,
    /// Loss budget.
    pub losses: u8,
    /// Duplication budget.
    pub dups: u8,
    /// The variant.
    pub variant: Variant,
    /// Smallest TIME-WAIT for *final ACK is always recovered*.
    pub final_ack: Bound,
    /// Smallest TIME-WAIT for *old segment never accepted by a new incarnation*.
    pub old_segment: Bound,
    /// Model checks run for this point.
    pub checks: usize,
}

/// The whole envelope.
#[derive(Clone, Debug, Serialize)]
pub struct Envelope {
    /// The base stack's name.
    pub stack: String,
    /// Tick length.
    pub tick_ms: u64,
    /// The grid.
    pub grid: Grid,
    /// Fixed budgets.
    pub delays: u8,
    /// Incarnations.
    pub incarnations: u8,
    /// Data segments.
    pub data: u8,
    /// One result per point and variant, in grid order (MSL, RTO, losses, dups, variant).
    pub points: Vec<PointResult>,
}

/// The longest TIME-WAIT tried at a point unless the user sets one: twice the MSL plus the
/// whole retransmission backoff series the loss budget can force (RTO·(2^(losses+1) − 1)),
/// plus one tick, capped at the model's [`MAX_TICKS`]. Beyond it, neither purpose of
/// TIME-WAIT gains anything in the model: every old segment is gone after MSL and the
/// peer has stopped retransmitting.
pub fn search_limit(msl: u16, rto: u16, losses: u8) -> u16 {
    let backoff = u64::from(rto) * ((1u64 << (u32::from(losses) + 1).min(16)) - 1);
    (2 * u64::from(msl) + backoff + 1).min(MAX_TICKS) as u16
}

/// Whether the only way out of TIME-WAIT is its timer, which makes final-ACK recovery
/// monotone in the TIME-WAIT length (see the module documentation).
fn monotone(stack: &StackDescription) -> bool {
    stack.behaviour.time_wait_rst == TimeWaitRst::Ignored
        && stack.behaviour.syn_in_time_wait == SynInTimeWait::AsSynchronized
        && !stack.behaviour.time_wait_reuse
}

/// Validates the grid and options before any search.
pub fn validate(grid: &Grid, opts: &EnvelopeOptions) -> Result<(), ConfigError> {
    let bad = |m: String| Err(ConfigError(m));
    if grid.msl.is_empty() || grid.rto.is_empty() || grid.losses.is_empty() || grid.dups.is_empty()
    {
        return bad("every range must be A..B with A ≤ B".into());
    }
    if *grid.msl.start() == 0 || *grid.rto.start() == 0 {
        return bad("MSL and RTO must be at least 1 tick".into());
    }
    if u64::from(*grid.msl.end()) > MAX_TICKS / 2 || u64::from(*grid.rto.end()) > MAX_TICKS {
        return bad(format!(
            "MSL at most {} ticks, RTO at most {MAX_TICKS}",
            MAX_TICKS / 2
        ));
    }
    let points = grid.msl.clone().count()
        * grid.rto.clone().count()
        * grid.losses.clone().count()
        * grid.dups.clone().count();
    if points > 256 {
        return bad(format!(
            "{points} grid points (× 4 variants); at most 256 — narrow the ranges"
        ));
    }
    if let Some(m) = opts.max_time_wait
        && (m == 0 || u64::from(m) > MAX_TICKS)
    {
        return bad(format!("--max-time-wait must be 1..={MAX_TICKS} ticks"));
    }
    if opts.tick_ms == 0 {
        return bad("the tick must be longer than 0 ms".into());
    }
    // Every budget and the tick are checked by the model itself; try the corners.
    for (losses, dups) in [
        (*grid.losses.start(), *grid.dups.start()),
        (*grid.losses.end(), *grid.dups.end()),
    ] {
        model_at(
            opts,
            *grid.msl.end(),
            *grid.rto.end(),
            losses,
            dups,
            Variant::ALL[0],
            1,
        )?;
    }
    Ok(())
}

/// The description at one point, variant and TIME-WAIT length: the grid's MSL and RTO and
/// the TIME-WAIT tried, in whole ticks; the rest is the stack's.
fn stack_at(
    opts: &EnvelopeOptions,
    msl: u16,
    rto: u16,
    variant: Variant,
    time_wait: u16,
) -> StackDescription {
    let mut stack = opts.stack.clone();
    let tick = opts.tick_ms;
    stack.timers.msl_ms = u64::from(msl) * tick;
    stack.timers.rto_ms = u64::from(rto) * tick;
    stack.timers.time_wait_ms = Some(u64::from(time_wait) * tick);
    stack.behaviour.timestamps = variant.timestamps;
    stack.behaviour.time_wait_rst = if variant.rfc1337 {
        TimeWaitRst::Ignored
    } else {
        TimeWaitRst::Closes
    };
    stack
}

/// How the stack's timers that the envelope does not set become ticks (see
/// [`crate::stack_file::tick_rounding`]): the grid gives MSL, RTO and the TIME-WAIT tried
/// in whole ticks, so only the others — the FIN-WAIT-2 timeout — can be rounded, and the
/// stack's own MSL, RTO and TIME-WAIT, which the envelope does not use, are not described.
pub fn tick_rounding(opts: &EnvelopeOptions) -> Vec<String> {
    crate::stack_file::tick_rounding(&stack_at(opts, 1, 1, Variant::ALL[0], 1), opts.tick_ms)
}

/// The model at one point, variant and TIME-WAIT length. Timers are given in whole ticks,
/// so the model's conservative rounding does not move them.
pub fn model_at(
    opts: &EnvelopeOptions,
    msl: u16,
    rto: u16,
    losses: u8,
    dups: u8,
    variant: Variant,
    time_wait: u16,
) -> Result<TeardownModel, ConfigError> {
    let stack = stack_at(opts, msl, rto, variant, time_wait);
    let tick = opts.tick_ms;
    let bounds = Bounds {
        losses,
        dups,
        delays: opts.delays,
        incarnations: opts.incarnations,
        data: opts.data,
        tick_ms: tick,
    };
    TeardownModel::new(stack, bounds)
}

/// Whether the two properties hold: an exhaustive search that stops once both are
/// violated.
fn verdicts(model: &TeardownModel) -> (bool, bool) {
    let stop = HasDiscoveries::AllOf([P_FINAL_ACK, P_OLD_ACCEPTED].into_iter().collect());
    let checker = model
        .clone()
        .checker()
        .threads(1)
        .finish_when(stop)
        .spawn_dfs()
        .join();
    let d = checker.discoveries();
    (
        !d.contains_key(P_FINAL_ACK),
        !d.contains_key(P_OLD_ACCEPTED),
    )
}

/// Searches one point and variant.
fn search_point(
    opts: &EnvelopeOptions,
    (msl, rto, losses, dups): (u16, u16, u8, u8),
    variant: Variant,
) -> Result<PointResult, ConfigError> {
    let limit = opts
        .max_time_wait
        .unwrap_or_else(|| search_limit(msl, rto, losses));
    let at = |l: u16| model_at(opts, msl, rto, losses, dups, variant, l);
    let mut cache: BTreeMap<u16, (bool, bool)> = BTreeMap::new();
    let mut holds = |l: u16, which: usize| -> Result<bool, ConfigError> {
        if let Some(v) = cache.get(&l) {
            return Ok(if which == 0 { v.0 } else { v.1 });
        }
        let v = verdicts(&at(l)?);
        cache.insert(l, v);
        Ok(if which == 0 { v.0 } else { v.1 })
    };
    let timer_only = monotone(&at(1)?.stack);
    let mut bounds = Vec::new();
    for which in [0, 1] {
        // Only final-ACK recovery is monotone, and only where the timer alone ends
        // TIME-WAIT (see the module documentation).
        let scan = opts.scan_all || which == 1 || !timer_only;
        let (ticks, non_monotone) = if scan {
            let mut ok = Vec::new();
            for l in 1..=limit {
                ok.push(holds(l, which)?);
            }
            // The bound: the start of the final run of lengths at which it holds.
            let tail = ok.iter().rev().take_while(|h| **h).count();
            let ticks = (tail > 0).then(|| limit - tail as u16 + 1);
            let below = ticks.unwrap_or(limit + 1);
            let nm = (1..below).filter(|l| ok[usize::from(*l) - 1]).collect();
            (ticks, nm)
        } else if !holds(limit, which)? {
            (None, Vec::new())
        } else {
            // Invariant: it holds at `hi`; it fails below `lo` (or lo = 1).
            let (mut lo, mut hi) = (1u16, limit);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if holds(mid, which)? {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
            (Some(hi), Vec::new())
        };
        let cx_at = match ticks {
            Some(1) => None,
            Some(t) => Some(t - 1),
            None => Some(limit),
        };
        let name = if which == 0 {
            P_FINAL_ACK
        } else {
            P_OLD_ACCEPTED
        };
        let counterexample = match cx_at {
            Some(l) => {
                let m = at(l)?;
                shortest_discovery(&m, name).map(|path| Counterexample {
                    time_wait: l,
                    steps: render(&m, &path),
                })
            }
            None => None,
        };
        bounds.push(Bound {
            ticks,
            seconds: ticks.map(|t| f64::from(t) * opts.tick_ms as f64 / 1000.0),
            limit,
            method: if scan { Method::Scan } else { Method::Bisect },
            non_monotone,
            counterexample,
        });
    }
    let old_segment = bounds.pop().expect("two bounds");
    let final_ack = bounds.pop().expect("two bounds");
    Ok(PointResult {
        msl,
        rto,
        losses,
        dups,
        variant,
        final_ack,
        old_segment,
        checks: cache.len(),
    })
}

/// Searches every point of the grid under every variant, in parallel over `threads`
/// workers; the result is in grid order whatever the schedule.
pub fn envelope(grid: &Grid, opts: &EnvelopeOptions) -> Result<Envelope, ConfigError> {
    validate(grid, opts)?;
    let mut jobs = Vec::new();
    for msl in grid.msl.clone() {
        for rto in grid.rto.clone() {
            for losses in grid.losses.clone() {
                for dups in grid.dups.clone() {
                    for v in Variant::ALL {
                        jobs.push(((msl, rto, losses, dups), v));
                    }
                }
            }
        }
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: std::sync::Mutex<Vec<Option<Result<PointResult, ConfigError>>>> =
        std::sync::Mutex::new((0..jobs.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..opts.threads.clamp(1, 64) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(&(point, v)) = jobs.get(i) else {
                        break;
                    };
                    let r = search_point(opts, point, v);
                    if let Ok(mut all) = results.lock() {
                        all[i] = Some(r);
                    }
                }
            });
        }
    });
    let results = results
        .into_inner()
        .map_err(|_| ConfigError("a search worker panicked".into()))?;
    let points = results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(ConfigError("a grid point was not searched".into()))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Envelope {
        stack: opts.stack.name.clone(),
        tick_ms: opts.tick_ms,
        grid: grid.clone(),
        delays: opts.delays,
        incarnations: opts.incarnations,
        data: opts.data,
        points,
    })
}
