//! Running the checker: exhaustive exploration with stateright, verdicts per property, and
//! shortest counterexamples.
//!
//! stateright 0.31's BFS no longer reports shortest paths (stateright-notes §0.3), and its
//! DFS never did, so a violation found by the parallel DFS is followed by a breadth-first
//! search of our own over full states (exact, no fingerprints) that stops at the first
//! violating state: its path is a shortest counterexample by construction, and a test checks
//! that no shorter one exists. It keeps 128-bit fingerprints of visited states and full
//! states only for the frontier.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde::Serialize;
use stateright::{Checker, Expectation, HasDiscoveries, Model};

use crate::builtins::Expect;
use crate::endpoint::{State, TimerKind};
use crate::ladder::{Ladder, LadderStep, Message, MessageEnd};
use crate::rules::Rule;
use crate::segment::{Flags, Segment};
use crate::system::{
    Action, AppAction, Bounds, CLIENT, InFlight, SERVER, Seq, SystemState, TeardownModel,
    TickTimers, Transition, side_name,
};

/// How to run the checker.
#[derive(Clone, Copy, Debug)]
pub struct CheckOptions {
    /// Worker threads for the DFS.
    pub threads: usize,
    /// Stop (and report it) once this many unique states were found.
    pub max_states: Option<usize>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            threads: 1,
            max_states: None,
        }
    }
}

/// The kind of a property.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
pub enum Kind {
    /// Invariant.
    Always,
    /// Every maximal execution reaches it.
    Eventually,
    /// Witness: some execution reaches it.
    Sometimes,
}

/// What the checker found for one property.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
pub enum Outcome {
    /// No counterexample in the explored space.
    Holds,
    /// A counterexample exists.
    Violated,
    /// A witness was found.
    Found,
    /// No witness exists in the explored space.
    NotFound,
    /// Exploration stopped at `--max-states` before a verdict.
    Unknown,
}

/// One step of a counterexample, as people read it.
#[derive(Clone, Debug, Serialize)]
pub struct TraceStep {
    /// Ticks elapsed since the start.
    pub tick: u32,
    /// What happened, e.g. `server F. seq=2 ack=2 inc=1 delivered to client`.
    pub event: String,
    /// The rule the endpoint applied, if an endpoint stepped.
    pub rule: Option<&'static str>,
    /// The rule's section.
    pub section: Option<&'static str>,
    /// Client and server states after the step.
    pub states: [&'static str; 2],
    /// Losses and duplications spent so far.
    pub losses: u8,
    /// Duplications spent so far.
    pub dups: u8,
}

/// The verdict for one property.
#[derive(Clone, Debug, Serialize)]
pub struct PropertyVerdict {
    /// The property's stable id (`final-ack-recovered`), as stack files and JUnit name it.
    pub id: &'static str,
    /// The property's name (a sentence).
    pub name: &'static str,
    /// Its kind.
    pub kind: Kind,
    /// What the checker found.
    pub outcome: Outcome,
    /// What the stack's description expected, if it declares it.
    pub expected: Option<Outcome>,
    /// A shortest counterexample (violations) or example (witnesses, when requested).
    pub trace: Option<Vec<TraceStep>>,
}

impl PropertyVerdict {
    /// Whether the outcome differs from the expectation (a violation with no expectation
    /// counts as a difference; a witness found without being required does not).
    pub fn unexpected(&self) -> bool {
        match (self.expected, self.outcome) {
            (Some(e), o) => e != o,
            (None, Outcome::Violated) => true,
            (None, _) => false,
        }
    }
}

/// The result of checking one stack with one set of bounds.
#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    /// Stack name.
    pub stack: String,
    /// Bounds used.
    pub bounds: Bounds,
    /// Timers in ticks.
    pub ticks: TickTimers,
    /// States generated (transitions within the boundary plus initial states).
    pub generated: usize,
    /// Unique states.
    pub unique: usize,
    /// Deepest path the depth-first search followed. With more than one thread it depends
    /// on the schedule, so it is reported beside the timings and redacted with them; the
    /// breadth-first depth, which does not, is `teardown graph`'s.
    #[serde(skip)]
    pub max_dfs_depth: usize,
    /// Wall time of the exploration.
    #[serde(skip)]
    pub elapsed: Duration,
    /// Whether `--max-states` cut the exploration short.
    pub truncated: bool,
    /// Verdicts, safety and liveness first, then witnesses.
    pub verdicts: Vec<PropertyVerdict>,
    /// Expected number of 64-bit fingerprint collisions, n²/2⁶⁵.
    pub collision_probability: f64,
}

impl CheckReport {
    /// Whether every verdict matches its expectation.
    pub fn as_expected(&self) -> bool {
        !self.truncated && self.verdicts.iter().all(|v| !v.unexpected())
    }

    /// Unique states per second.
    pub fn states_per_second(&self) -> f64 {
        self.unique as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Expected outcome per property name, from a built-in's declaration.
pub type Expectations = HashMap<&'static str, Outcome>;

/// Turns a built-in's declared expectations into outcomes per property name.
pub fn expectations(expect: &[(&'static str, Expect)], witnesses: &[&'static str]) -> Expectations {
    let mut m: Expectations = expect
        .iter()
        .map(|(n, e)| {
            let o = match e {
                Expect::Holds => Outcome::Holds,
                Expect::Violated => Outcome::Violated,
            };
            (*n, o)
        })
        .collect();
    for w in witnesses {
        m.insert(*w, Outcome::Found);
    }
    m
}

/// Explores `model` exhaustively and judges every property.
pub fn check(
    model: &TeardownModel,
    expected: Option<&Expectations>,
    opts: CheckOptions,
) -> CheckReport {
    let start = Instant::now();
    // stateright stops once every property has a discovery; a name no property has keeps
    // it going to the end, so the state counts are those of the whole reachable graph
    // whatever the verdicts (and `teardown graph` can be compared with them).
    let explore_everything = HasDiscoveries::AllOf(BTreeSet::from(["(the whole graph)"]));
    let mut builder = model
        .clone()
        .checker()
        .threads(opts.threads.max(1))
        .finish_when(explore_everything);
    if let Some(max) = opts.max_states {
        builder = builder.target_state_count(max);
    }
    let checker = builder.spawn_dfs().join();
    let elapsed = start.elapsed();
    let unique = checker.unique_state_count();
    // stateright's target counts *generated* states (`state_count`), not unique ones:
    // judge the cut by the same count, or a search stopped short passes for complete.
    let truncated = opts.max_states.is_some_and(|m| checker.state_count() >= m);
    let discoveries = checker.discoveries();
    let mut verdicts = Vec::new();
    for p in model.properties() {
        let found = discoveries.contains_key(p.name);
        let (kind, outcome) = match p.expectation {
            Expectation::Always => (
                Kind::Always,
                if found {
                    Outcome::Violated
                } else {
                    Outcome::Holds
                },
            ),
            Expectation::Eventually => (
                Kind::Eventually,
                if found {
                    Outcome::Violated
                } else {
                    Outcome::Holds
                },
            ),
            Expectation::Sometimes => (
                Kind::Sometimes,
                if found {
                    Outcome::Found
                } else {
                    Outcome::NotFound
                },
            ),
        };
        let outcome = if truncated && matches!(outcome, Outcome::Holds | Outcome::NotFound) {
            Outcome::Unknown
        } else {
            outcome
        };
        verdicts.push(PropertyVerdict {
            id: crate::system::property_id(p.name),
            name: p.name,
            kind,
            outcome,
            expected: expected.and_then(|e| e.get(p.name).copied()),
            trace: None,
        });
    }
    let violated: Vec<&str> = verdicts
        .iter()
        .filter(|v| v.outcome == Outcome::Violated)
        .map(|v| v.name)
        .collect();
    let mut paths = shortest_discoveries(model, &violated);
    for v in &mut verdicts {
        v.trace = paths.remove(v.name).map(|path| render(model, &path));
    }
    let n = unique as f64;
    CheckReport {
        stack: model.stack.name.clone(),
        bounds: model.bounds,
        ticks: model.ticks,
        generated: checker.state_count(),
        unique,
        max_dfs_depth: checker.max_depth(),
        elapsed,
        truncated,
        verdicts,
        collision_probability: n * n / 2f64.powi(65),
    }
}

/// A path: the initial state and the actions taken from it.
pub type ActionPath = (SystemState, Vec<Action>);

/// A shortest path to a discovery of the named property: for `always`, to a state that
/// violates it; for `sometimes`, to a state that satisfies it; for `eventually`, to a
/// terminal state reached without satisfying it. Breadth-first search of our own, so the
/// path is shortest by construction.
pub fn shortest_discovery(model: &TeardownModel, name: &str) -> Option<ActionPath> {
    shortest_discoveries(model, &[name]).remove(name)
}

/// Shortest discoveries of several properties. `always` and `sometimes` properties share
/// one breadth-first search, which stops once each has its first (so shortest) hit; each
/// `eventually` property needs a search of its own over the states where it does not yet
/// hold.
pub fn shortest_discoveries(model: &TeardownModel, names: &[&str]) -> HashMap<String, ActionPath> {
    let props = model.properties();
    let mut found = HashMap::new();
    let safety: Vec<_> = props
        .iter()
        .filter(|p| names.contains(&p.name) && p.expectation != Expectation::Eventually)
        .collect();
    if !safety.is_empty() {
        let mut pending: Vec<_> = safety
            .iter()
            .map(|p| (p.name, p.expectation.clone(), p.condition))
            .collect();
        bfs(
            model,
            |_| true,
            |s, _terminal, path_of| {
                pending.retain(|(name, exp, cond)| {
                    let hit = match exp {
                        Expectation::Always => !cond(model, s),
                        _ => cond(model, s),
                    };
                    if hit {
                        found.insert(name.to_string(), path_of());
                    }
                    !hit
                });
                pending.is_empty()
            },
        );
    }
    for p in props
        .iter()
        .filter(|p| names.contains(&p.name) && p.expectation == Expectation::Eventually)
    {
        let cond = p.condition;
        // Search only where the property has not yet been met: past such a state, no
        // path can be a counterexample.
        bfs(
            model,
            |s| !cond(model, s),
            |_, terminal, path_of| {
                if terminal {
                    found.insert(p.name.to_string(), path_of());
                }
                terminal
            },
        );
    }
    found
}

/// A 128-bit fingerprint of a state (two independently keyed SipHash-1-3 digests):
/// collisions are n²/2¹²⁹, negligible where stateright's 64-bit ones are merely small.
fn fingerprint(s: &SystemState) -> u128 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher, Hash, Hasher};
    let mut a = BuildHasherDefault::<DefaultHasher>::default().build_hasher();
    0xa5a5_u16.hash(&mut a);
    s.hash(&mut a);
    let mut b = BuildHasherDefault::<DefaultHasher>::default().build_hasher();
    0x5a5a_u16.hash(&mut b);
    s.hash(&mut b);
    (u128::from(a.finish()) << 64) | u128::from(b.finish())
}

/// Breadth-first search from the initial state over states for which `expand` holds,
/// level by level, keeping only the frontier's full states. `visit(state, terminal, path)`
/// is called once per state in breadth-first order; it returns `true` to stop.
fn bfs(
    model: &TeardownModel,
    expand: impl Fn(&SystemState) -> bool,
    mut visit: impl FnMut(&SystemState, bool, &dyn Fn() -> ActionPath) -> bool,
) {
    let Some(init) = model.init_states().into_iter().next() else {
        return;
    };
    // parents[i]: the index of state i's parent and the action taken from it.
    let mut parents: Vec<Option<(u32, Action)>> = vec![None];
    let mut seen = std::collections::HashSet::from([fingerprint(&init)]);
    let mut frontier = vec![(init.clone(), 0u32)];
    let mut actions = Vec::new();
    while !frontier.is_empty() {
        let mut next = Vec::new();
        for (s, i) in frontier {
            let mut successors = Vec::new();
            let expands = expand(&s);
            if expands {
                actions.clear();
                model.actions(&s, &mut actions);
                for a in actions.iter().copied() {
                    if let Some(n) = model.next_state(&s, a) {
                        successors.push((a, n));
                    }
                }
            }
            let path_of = || {
                let mut path = Vec::new();
                let mut at = i as usize;
                while let Some((p, a)) = parents[at] {
                    path.push(a);
                    at = p as usize;
                }
                path.reverse();
                (init.clone(), path)
            };
            if expands && visit(&s, successors.is_empty(), &path_of) {
                return;
            }
            for (a, n) in successors {
                if seen.insert(fingerprint(&n)) {
                    let j = parents.len() as u32;
                    parents.push(Some((i, a)));
                    next.push((n, j));
                }
            }
        }
        frontier = next;
    }
}

/// Renders a path as a readable message sequence: ticks, sender, flags, seq/ack relative
/// to the ISNs of the segment's incarnation, losses and duplications marked, both endpoint
/// states and the rule applied at each step.
pub fn render(model: &TeardownModel, path: &ActionPath) -> Vec<TraceStep> {
    let (mut s, actions) = (path.0.clone(), &path.1);
    let mut tick = 0u32;
    // ISNs per incarnation, to print sequence numbers relative to them.
    let mut isn: HashMap<(usize, u8), u8> = HashMap::new();
    for side in [CLIENT, SERVER] {
        isn.insert((side, 1), s.ends[side].iss);
    }
    let mut out = Vec::new();
    for &a in actions {
        let Some(t) = model.transition(&s, a) else {
            break;
        };
        for side in [CLIENT, SERVER] {
            let e = &t.state.ends[side];
            isn.entry((side, e.incarnation)).or_insert(e.iss);
        }
        if a == Action::Tick {
            tick += 1;
        }
        let event = describe(&s, &t, a, &isn);
        out.push(TraceStep {
            tick,
            event,
            rule: t.rule.map(Rule::id),
            section: t.rule.map(Rule::section),
            states: [
                t.state.ends[CLIENT].state.rfc_name(),
                t.state.ends[SERVER].state.rfc_name(),
            ],
            losses: model.bounds.losses - t.state.losses_left,
            dups: model.bounds.dups - t.state.dups_left,
        });
        s = t.state;
    }
    out
}

/// A path as a ladder diagram: one row per step but ticks (which advance the time column),
/// the endpoint states after each step, every segment drawn from the step that sent it to
/// the step that delivered or dropped it, the rule applied beside the lifelines. With
/// `highlight_last`, the last step — where a counterexample breaks its property — is red.
pub fn ladder(
    model: &TeardownModel,
    path: &ActionPath,
    title: String,
    subtitle: String,
    highlight_last: bool,
) -> Ladder {
    let (mut s, actions) = (path.0.clone(), &path.1);
    let mut isn: HashMap<(usize, u8), u8> = HashMap::new();
    for side in [CLIENT, SERVER] {
        isn.insert((side, 1), s.ends[side].iss);
    }
    let mut l = Ladder {
        title,
        subtitle,
        lifelines: ["client".to_string(), "server".to_string()],
        ..Ladder::default()
    };
    // Segments on the wire: (sender, segment, message index), oldest first.
    let mut pending: Vec<(usize, Segment<Seq>, usize)> = Vec::new();
    let mut tick = 0u32;
    let steps = actions.iter().filter(|&&a| a != Action::Tick).count();
    for &a in actions {
        let Some(t) = model.transition(&s, a) else {
            break;
        };
        for side in [CLIENT, SERVER] {
            let e = &t.state.ends[side];
            isn.entry((side, e.incarnation)).or_insert(e.iss);
        }
        if a == Action::Tick {
            tick += 1;
            s = t.state;
            continue;
        }
        let row = l.rows.len();
        let last = highlight_last && row + 1 == steps;
        let label = |seg: &Segment<Seq>, from: usize| {
            let inc = seg.ghost.incarnation;
            let base = |side: usize| isn.get(&(side, inc)).copied().unwrap_or_default();
            let mut text = format!("{} {}", seg.flags, seg.seq.wrapping_sub(base(from)));
            if seg.has(Flags::ACK) {
                let _ = write!(text, ":{}", seg.ack.wrapping_sub(base(1 - from)));
            }
            if seg.len > 0 {
                let _ = write!(text, " len {}", seg.len);
            }
            if inc > 1 {
                let _ = write!(text, " (inc {inc})");
            }
            text
        };
        let mut note = match a {
            Action::App(_, app) => app_call_name(app).to_string(),
            Action::Timeout(side) => match s.ends[side].timer_kind() {
                Some(TimerKind::Retransmit) => "retransmission timeout",
                Some(TimerKind::TimeWait) => "2MSL timer expires",
                Some(TimerKind::FinWait2) => "FIN-WAIT-2 timeout",
                None => "timer",
            }
            .to_string(),
            Action::Delay(_) => "network delays a segment".to_string(),
            Action::Duplicate(_) => "network duplicates a segment".to_string(),
            Action::Drop(_) => "network drops a segment".to_string(),
            Action::Deliver(..) | Action::Tick => String::new(),
        };
        if let Some(rule) = t.rule {
            if !note.is_empty() {
                note.push_str(": ");
            }
            note.push_str(rule.id());
        }
        if let Some(f) = t.segment {
            let from = 1 - usize::from(f.to);
            let found = pending
                .iter()
                .position(|&(side, seg, _)| side == from && seg == f.seg);
            match a {
                Action::Deliver(..) | Action::Drop(_) => {
                    if let Some(k) = found {
                        let (_, _, m) = pending.remove(k);
                        l.messages[m].end = if matches!(a, Action::Drop(_)) {
                            MessageEnd::Lost(row)
                        } else {
                            MessageEnd::Arrived(row)
                        };
                        l.messages[m].highlight |= last;
                    }
                }
                Action::Duplicate(_) => {
                    pending.push((from, f.seg, l.messages.len()));
                    l.messages.push(Message {
                        from,
                        sent_row: row,
                        end: MessageEnd::InFlight,
                        label: format!("{} (copy)", label(&f.seg, from)),
                        highlight: false,
                    });
                }
                _ => {}
            }
        }
        if let (Some(seg), Some(side)) = (t.sent, t.side) {
            pending.push((side, seg, l.messages.len()));
            l.messages.push(Message {
                from: side,
                sent_row: row,
                end: MessageEnd::InFlight,
                label: label(&seg, side),
                highlight: last,
            });
        }
        l.rows.push(LadderStep {
            time: format!("tick {tick}"),
            states: [
                t.state.ends[CLIENT].state.rfc_name().to_string(),
                t.state.ends[SERVER].state.rfc_name().to_string(),
            ],
            note,
            actor: match a {
                Action::App(..) | Action::Timeout(_) | Action::Deliver(..) => t.side,
                _ => None,
            },
            highlight: last,
        });
        s = t.state;
    }
    l
}

/// The application call an [`AppAction`] stands for, as a programmer writes it.
pub fn app_call_name(app: AppAction) -> &'static str {
    match app {
        AppAction::Connect { .. } => "connect()",
        AppAction::Send => "send()",
        AppAction::Close => "close()",
        AppAction::Shutdown => "shutdown(SHUT_WR)",
        AppAction::CloseUnread => "close() with data unread",
        AppAction::Abort => "close() with SO_LINGER 0",
    }
}

fn seg_text(f: &InFlight, isn: &HashMap<(usize, u8), u8>) -> String {
    let to = usize::from(f.to);
    let from = 1 - to;
    let inc = f.seg.ghost.incarnation;
    let base = |side: usize| isn.get(&(side, inc)).copied().unwrap_or_default();
    let mut text = format!(
        "{} {} seq={}",
        side_name(from),
        f.seg.flags,
        f.seg.seq.wrapping_sub(base(from))
    );
    if f.seg.has(Flags::ACK) {
        text.push_str(&format!(" ack={}", f.seg.ack.wrapping_sub(base(to))));
    }
    if f.seg.len > 0 {
        text.push_str(&format!(" len={}", f.seg.len));
    }
    if let Some(ts) = f.seg.tsval {
        text.push_str(&format!(" TSval={ts}"));
    }
    text.push_str(&format!(" inc={inc} age={}", f.age));
    text
}

fn describe(
    before: &SystemState,
    t: &Transition,
    a: Action,
    isn: &HashMap<(usize, u8), u8>,
) -> String {
    let sent = |side: Option<usize>| {
        t.sent
            .map(|seg| {
                let f = InFlight {
                    late: false,
                    to: (1 - side.unwrap_or(0)) as u8,
                    age: 0,
                    seg,
                };
                format!("; sends {}", seg_text(&f, isn))
            })
            .unwrap_or_default()
    };
    match a {
        Action::App(side, app) => format!("{} app {:?}{}", side_name(side), app, sent(Some(side))),
        Action::Deliver(..) => {
            let f = t
                .segment
                .as_ref()
                .map(|f| seg_text(f, isn))
                .unwrap_or_default();
            let to = t.side.map(side_name).unwrap_or("?");
            format!("{f} arrives at {to}{}", sent(t.side))
        }
        Action::Drop(_) => format!(
            "LOST: {}",
            t.segment
                .as_ref()
                .map(|f| seg_text(f, isn))
                .unwrap_or_default()
        ),
        Action::Duplicate(_) => format!(
            "DUPLICATED: {}",
            t.segment
                .as_ref()
                .map(|f| seg_text(f, isn))
                .unwrap_or_default()
        ),
        Action::Timeout(side) => {
            let kind = before.ends[side]
                .timer_kind()
                .map(|k| format!("{k:?}"))
                .unwrap_or_default();
            format!("{} {kind} timer fires{}", side_name(side), sent(Some(side)))
        }
        Action::Delay(_) => format!(
            "DELAYED: {}",
            t.segment
                .as_ref()
                .map(|f| seg_text(f, isn))
                .unwrap_or_default()
        ),
        Action::Tick => "tick".to_string(),
    }
}

/// Whether an endpoint state name is one of the teardown states (for summaries).
pub fn is_closed(s: State) -> bool {
    matches!(s, State::Closed | State::Listen)
}
