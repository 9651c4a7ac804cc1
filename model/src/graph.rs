//! The explored state graph, enumerated exactly, for regression snapshots.
//!
//! stateright keeps 64-bit fingerprints of the states it has seen and no edges, so it
//! cannot export what it explored. This module walks the same [`Model::actions`] and
//! [`TeardownModel::transition`] breadth-first and keeps every *full* state as a key, so
//! the graph is exact (no fingerprint can merge two states) and every edge knows the rule
//! the endpoint applied. It is meant for configurations small enough to hold in memory;
//! `max_states` turns a runaway configuration into an error rather than an exhausted
//! machine.
//!
//! Ids are breadth-first discovery order, so they are stable for a given model (the
//! actions are enumerated in a fixed order and the search is single-threaded). The
//! [`GraphSummary::fingerprint`] does not even depend on that order: it hashes the sorted
//! canonical encodings of states and edges, so it changes exactly when the reachable graph
//! does.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use serde::Serialize;
use sha2::{Digest, Sha256};
use stateright::{Expectation, Model};

use crate::endpoint::State;
use crate::rules::Rule;
use crate::system::{
    Action, AppAction, Bounds, CLIENT, InFlight, SERVER, SystemState, TeardownModel, TickTimers,
    side_name,
};

/// Default limit of [`enumerate`]: enough for every built-in at `graph`'s default bounds
/// and at `check`'s, small enough to stay within a few GiB.
pub const DEFAULT_MAX_STATES: usize = 2_000_000;

/// `teardown graph`'s own default bounds, smaller than `check`'s so that every built-in
/// enumerates in about a second and its summary stays a readable snapshot: one loss and
/// one delay (so reordering, late segments and a second incarnation are in the graph), no
/// duplication, one data segment each way, and the stack's own tick.
pub fn default_bounds(tick_ms: u64) -> Bounds {
    Bounds {
        losses: 1,
        dups: 0,
        delays: 1,
        incarnations: 2,
        data: 1,
        tick_ms,
    }
}

/// An edge of the state graph: one action taken in one state.
#[derive(Clone, Copy, Debug)]
pub struct GraphEdge {
    /// Id of the source state.
    pub from: u32,
    /// Id of the target state.
    pub to: u32,
    /// The action, as the model enumerates it (indices refer to the source state's
    /// network, which is part of the state).
    pub action: Action,
    /// The rule the stepping endpoint applied, if an endpoint stepped.
    pub rule: Option<Rule>,
}

/// The whole reachable graph of one configuration.
#[derive(Clone, Debug)]
pub struct StateGraph {
    /// Every reachable state, by id (breadth-first discovery order; the initial states
    /// first).
    pub states: Vec<SystemState>,
    /// Breadth-first depth of each state: the length of a shortest path to it.
    pub depth: Vec<u32>,
    /// Every edge, grouped by source state in id order.
    pub edges: Vec<GraphEdge>,
    /// Number of initial states (ids `0..initial`).
    pub initial: usize,
}

/// The configuration has more reachable states than allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TooManyStates {
    /// The limit.
    pub limit: usize,
}

impl std::fmt::Display for TooManyStates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "more than {} reachable states: lower the bounds (--losses, --dups, --delays, \
             --incarnations, --data) or raise --max-states",
            self.limit
        )
    }
}

impl std::error::Error for TooManyStates {}

/// Enumerates every state reachable from the model's initial states, breadth-first, with
/// full states as keys. Fails once more than `max_states` states have been found.
pub fn enumerate(model: &TeardownModel, max_states: usize) -> Result<StateGraph, TooManyStates> {
    let mut ids: HashMap<SystemState, u32> = HashMap::new();
    let mut states: Vec<SystemState> = Vec::new();
    let mut depth: Vec<u32> = Vec::new();
    let too_many = TooManyStates { limit: max_states };
    for s in model.init_states() {
        if !ids.contains_key(&s) {
            if states.len() >= max_states {
                return Err(too_many);
            }
            ids.insert(s.clone(), states.len() as u32);
            states.push(s);
            depth.push(0);
        }
    }
    let initial = states.len();
    let mut edges = Vec::new();
    let mut actions = Vec::new();
    // `states` doubles as the queue: ids are handed out in the order states are reached.
    let mut next = 0;
    while next < states.len() {
        let from = next as u32;
        let s = states[next].clone();
        next += 1;
        actions.clear();
        model.actions(&s, &mut actions);
        for &action in &actions {
            let Some(t) = model.transition(&s, action) else {
                continue;
            };
            let to = match ids.get(&t.state) {
                Some(&id) => id,
                None => {
                    if states.len() >= max_states {
                        return Err(too_many);
                    }
                    let id = states.len() as u32;
                    ids.insert(t.state.clone(), id);
                    states.push(t.state);
                    depth.push(depth[from as usize] + 1);
                    id
                }
            };
            edges.push(GraphEdge {
                from,
                to,
                action,
                rule: t.rule,
            });
        }
    }
    Ok(StateGraph {
        states,
        depth,
        edges,
        initial,
    })
}

/// What a reviewer compares between two versions of the model: sizes, shape, and a
/// fingerprint of the whole graph.
#[derive(Clone, Debug, Serialize)]
pub struct GraphSummary {
    /// Stack name.
    pub stack: String,
    /// Bounds used.
    pub bounds: Bounds,
    /// Timers in ticks.
    pub ticks: TickTimers,
    /// Unique states.
    pub states: usize,
    /// Edges (one per enabled action of each state).
    pub edges: usize,
    /// Initial states.
    pub initial: usize,
    /// States without successors.
    pub terminal: usize,
    /// The greatest breadth-first depth.
    pub depth: u32,
    /// Edges per kind of action (`deliver`, `drop`, `tick`, `app close`, …).
    pub edges_per_action: BTreeMap<String, usize>,
    /// States per pair of endpoint states.
    pub states_per_pair: PairMatrix,
    /// Per safety property, the states that violate it.
    pub violating_states: BTreeMap<String, usize>,
    /// Per witness, the states in which its scenario is seen.
    pub witness_states: BTreeMap<String, usize>,
    /// SHA-256 over the sorted canonical encodings of states and edges: independent of
    /// exploration order and thread count; changes exactly when the graph does.
    pub fingerprint: String,
}

/// How many states have each pair of endpoint states: a matrix over the client states
/// (rows) and server states (columns) that occur, in the order of RFC 9293's diagram.
#[derive(Clone, Debug, Serialize)]
pub struct PairMatrix {
    /// Client states, the rows.
    pub clients: Vec<&'static str>,
    /// Server states, the columns.
    pub servers: Vec<&'static str>,
    /// `counts[row][column]`.
    pub counts: Vec<Vec<usize>>,
}

/// An action's kind, without the indices that refer into the state.
pub fn action_kind(a: &Action) -> String {
    match a {
        Action::App(side, app) => {
            let what = match app {
                AppAction::Connect { .. } => "connect",
                AppAction::Send => "send",
                AppAction::Close => "close",
                AppAction::Shutdown => "shutdown",
                AppAction::CloseUnread => "close-unread",
                AppAction::Abort => "abort",
            };
            format!("{} {what}", side_name(*side))
        }
        Action::Deliver(..) => "deliver".into(),
        Action::Drop(_) => "drop".into(),
        Action::Duplicate(_) => "duplicate".into(),
        Action::Delay(_) => "delay".into(),
        Action::Timeout(side) => format!("{} timeout", side_name(*side)),
        Action::Tick => "tick".into(),
    }
}

/// The canonical encoding of a state: every field, in declaration order.
fn canonical(s: &SystemState) -> String {
    format!("{s:?}")
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl StateGraph {
    /// Ids of the states without successors.
    pub fn terminal_states(&self) -> Vec<u32> {
        let mut has_successor = vec![false; self.states.len()];
        for e in &self.edges {
            has_successor[e.from as usize] = true;
        }
        (0..self.states.len() as u32)
            .filter(|&i| !has_successor[i as usize])
            .collect()
    }

    /// Names of the safety (`always`) properties state `id` violates.
    pub fn violations(&self, model: &TeardownModel, id: u32) -> Vec<&'static str> {
        let s = &self.states[id as usize];
        model
            .properties()
            .into_iter()
            .filter(|p| p.expectation == Expectation::Always && !(p.condition)(model, s))
            .map(|p| p.name)
            .collect()
    }

    /// Names of the witnesses (`sometimes` properties) whose scenario state `id` shows.
    pub fn witnesses(&self, model: &TeardownModel, id: u32) -> Vec<&'static str> {
        let s = &self.states[id as usize];
        model
            .properties()
            .into_iter()
            .filter(|p| p.expectation == Expectation::Sometimes && (p.condition)(model, s))
            .map(|p| p.name)
            .collect()
    }

    /// The order-independent fingerprint: SHA-256 over the sorted digests of the states'
    /// canonical encodings, then over the sorted digests of the edges, each encoded as
    /// (source digest, action, rule, target digest).
    pub fn fingerprint(&self) -> String {
        let state_digests: Vec<[u8; 32]> = self
            .states
            .iter()
            .map(|s| digest(canonical(s).as_bytes()))
            .collect();
        let mut sorted_states = state_digests.clone();
        sorted_states.sort_unstable();
        let mut edge_digests: Vec<[u8; 32]> = self
            .edges
            .iter()
            .map(|e| {
                let mut h = Sha256::new();
                h.update(state_digests[e.from as usize]);
                h.update(format!("{:?} {:?}", e.action, e.rule.map(Rule::id)));
                h.update(state_digests[e.to as usize]);
                h.finalize().into()
            })
            .collect();
        edge_digests.sort_unstable();
        let mut h = Sha256::new();
        h.update((sorted_states.len() as u64).to_le_bytes());
        for d in &sorted_states {
            h.update(d);
        }
        h.update((edge_digests.len() as u64).to_le_bytes());
        for d in &edge_digests {
            h.update(d);
        }
        let out: [u8; 32] = h.finalize().into();
        out.iter().fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }

    /// The summary a snapshot keeps.
    pub fn summary(&self, model: &TeardownModel) -> GraphSummary {
        let mut edges_per_action = BTreeMap::new();
        for e in &self.edges {
            *edges_per_action.entry(action_kind(&e.action)).or_insert(0) += 1;
        }
        let mut pairs: BTreeMap<(State, State), usize> = BTreeMap::new();
        for s in &self.states {
            *pairs
                .entry((s.ends[CLIENT].state, s.ends[SERVER].state))
                .or_insert(0) += 1;
        }
        let mut clients: Vec<State> = pairs.keys().map(|p| p.0).collect();
        let mut servers: Vec<State> = pairs.keys().map(|p| p.1).collect();
        for v in [&mut clients, &mut servers] {
            v.sort_unstable();
            v.dedup();
        }
        let states_per_pair = PairMatrix {
            counts: clients
                .iter()
                .map(|c| {
                    servers
                        .iter()
                        .map(|s| pairs.get(&(*c, *s)).copied().unwrap_or(0))
                        .collect()
                })
                .collect(),
            clients: clients.iter().map(|c| c.rfc_name()).collect(),
            servers: servers.iter().map(|s| s.rfc_name()).collect(),
        };
        let mut violating_states = BTreeMap::new();
        let mut witness_states = BTreeMap::new();
        for p in model.properties() {
            match p.expectation {
                Expectation::Always => {
                    let n = self
                        .states
                        .iter()
                        .filter(|s| !(p.condition)(model, s))
                        .count();
                    violating_states.insert(p.name.to_string(), n);
                }
                Expectation::Sometimes => {
                    let n = self
                        .states
                        .iter()
                        .filter(|s| (p.condition)(model, s))
                        .count();
                    witness_states.insert(p.name.to_string(), n);
                }
                Expectation::Eventually => {}
            }
        }
        GraphSummary {
            stack: model.stack.name.clone(),
            bounds: model.bounds,
            ticks: model.ticks,
            states: self.states.len(),
            edges: self.edges.len(),
            initial: self.initial,
            terminal: self.terminal_states().len(),
            depth: self.depth.iter().copied().max().unwrap_or(0),
            edges_per_action,
            states_per_pair,
            violating_states,
            witness_states,
            fingerprint: self.fingerprint(),
        }
    }

    /// The graph as Graphviz DOT: each state labelled with both endpoint states, the
    /// budgets left and the segments in flight; each edge with the action and the rule
    /// applied. States that violate a safety property are filled red and name it; states
    /// that show a witness are outlined green; initial states are drawn double.
    pub fn to_dot(&self, model: &TeardownModel) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "digraph \"teardown {}\" {{\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n  edge [fontname=\"monospace\", fontsize=9];",
            dot_escape(&model.stack.name)
        );
        for (id, s) in self.states.iter().enumerate() {
            let id = id as u32;
            let violated = self.violations(model, id);
            let witnessed = self.witnesses(model, id);
            let mut label = state_label(s);
            for v in &violated {
                let _ = write!(label, "\\nVIOLATES: {}", dot_escape(v));
            }
            for w in &witnessed {
                let _ = write!(label, "\\nwitness: {}", dot_escape(w));
            }
            let mut attrs = format!("label=\"s{id} d{}\\n{label}\"", self.depth[id as usize]);
            if !violated.is_empty() {
                attrs.push_str(", style=filled, fillcolor=\"#f4a3a3\", color=red");
            } else if !witnessed.is_empty() {
                attrs.push_str(", color=\"#1a8a1a\", penwidth=2");
            }
            if (id as usize) < self.initial {
                attrs.push_str(", peripheries=2");
            }
            let _ = writeln!(out, "  s{id} [{attrs}];");
        }
        for e in &self.edges {
            let label = edge_label(&self.states[e.from as usize], e);
            let _ = writeln!(
                out,
                "  s{} -> s{} [label=\"{}\"];",
                e.from,
                e.to,
                dot_escape(&label)
            );
        }
        out.push_str("}\n");
        out
    }

    /// The graph as plain data with stable ids, for JSON.
    pub fn to_data(&self, model: &TeardownModel) -> GraphData {
        let nodes = self
            .states
            .iter()
            .enumerate()
            .map(|(id, s)| {
                let id32 = id as u32;
                GraphNode {
                    id: id32,
                    depth: self.depth[id],
                    client: s.ends[CLIENT].state.rfc_name(),
                    server: s.ends[SERVER].state.rfc_name(),
                    in_flight: s.network.iter().map(in_flight_text).collect(),
                    losses_left: s.losses_left,
                    dups_left: s.dups_left,
                    delays_left: s.delays_left,
                    violates: self.violations(model, id32),
                    witnesses: self.witnesses(model, id32),
                    canonical: canonical(s),
                }
            })
            .collect();
        let edges = self
            .edges
            .iter()
            .map(|e| GraphEdgeData {
                from: e.from,
                to: e.to,
                action: edge_label(&self.states[e.from as usize], e),
                kind: action_kind(&e.action),
                rule: e.rule.map(Rule::id),
                section: e.rule.map(Rule::section),
            })
            .collect();
        GraphData {
            summary: self.summary(model),
            nodes,
            edges,
        }
    }
}

/// The graph as plain data (the `json` format).
#[derive(Clone, Debug, Serialize)]
pub struct GraphData {
    /// The summary.
    pub summary: GraphSummary,
    /// States, by id.
    pub nodes: Vec<GraphNode>,
    /// Edges, grouped by source.
    pub edges: Vec<GraphEdgeData>,
}

/// A state, for JSON.
#[derive(Clone, Debug, Serialize)]
pub struct GraphNode {
    /// Stable id (breadth-first discovery order).
    pub id: u32,
    /// Breadth-first depth.
    pub depth: u32,
    /// The client's RFC state name.
    pub client: &'static str,
    /// The server's RFC state name.
    pub server: &'static str,
    /// Segments in flight, one line each.
    pub in_flight: Vec<String>,
    /// Loss budget left.
    pub losses_left: u8,
    /// Duplication budget left.
    pub dups_left: u8,
    /// Delay budget left.
    pub delays_left: u8,
    /// Safety properties this state violates.
    pub violates: Vec<&'static str>,
    /// Witnesses whose scenario this state shows.
    pub witnesses: Vec<&'static str>,
    /// The complete state, as the fingerprint encodes it.
    pub canonical: String,
}

/// An edge, for JSON.
#[derive(Clone, Debug, Serialize)]
pub struct GraphEdgeData {
    /// Source id.
    pub from: u32,
    /// Target id.
    pub to: u32,
    /// The action, with the segment it concerns.
    pub action: String,
    /// The action's kind.
    pub kind: String,
    /// Id of the rule applied, if an endpoint stepped.
    pub rule: Option<&'static str>,
    /// The RFC section of that rule.
    pub section: Option<&'static str>,
}

/// One segment in flight in the model's own numbers (absolute; the first incarnation's
/// ISNs are [`crate::system::CLIENT_ISS`] and [`crate::system::SERVER_ISS`]).
fn in_flight_text(f: &InFlight) -> String {
    let from = 1 - usize::from(f.to);
    let mut s = format!(
        "{}→{} {} seq={}",
        side_name(from),
        side_name(usize::from(f.to)),
        f.seg.flags,
        f.seg.seq
    );
    if f.seg.has(crate::segment::Flags::ACK) {
        let _ = write!(s, " ack={}", f.seg.ack);
    }
    if f.seg.len > 0 {
        let _ = write!(s, " len={}", f.seg.len);
    }
    if let Some(ts) = f.seg.tsval {
        let _ = write!(s, " TSval={ts}");
    }
    let _ = write!(s, " inc={} age={}", f.seg.ghost.incarnation, f.age);
    if f.late {
        s.push_str(" late");
    }
    s
}

fn state_label(s: &SystemState) -> String {
    let mut label = format!(
        "{} / {}",
        s.ends[CLIENT].state.rfc_name(),
        s.ends[SERVER].state.rfc_name()
    );
    for side in [CLIENT, SERVER] {
        let e = &s.ends[side];
        if let Some(t) = e.timer {
            let _ = write!(
                label,
                "\\n{} {} timer in {t}",
                side_name(side),
                e.timer_kind().map_or("?".into(), |k| format!("{k:?}"))
            );
        }
    }
    for f in &s.network {
        let _ = write!(label, "\\n{}", dot_escape(&in_flight_text(f)));
    }
    let _ = write!(
        label,
        "\\nleft: loss {} dup {} delay {}",
        s.losses_left, s.dups_left, s.delays_left
    );
    label
}

fn edge_label(from: &SystemState, e: &GraphEdge) -> String {
    let seg = |i: usize| from.network.get(i).map(in_flight_text).unwrap_or_default();
    let what = match e.action {
        Action::Deliver(i, alt) => {
            format!("deliver {}{}", seg(i), if alt { " (2nd ISN)" } else { "" })
        }
        Action::Drop(i) => format!("drop {}", seg(i)),
        Action::Duplicate(i) => format!("duplicate {}", seg(i)),
        Action::Delay(i) => format!("delay {}", seg(i)),
        Action::App(_, AppAction::Connect { alt: true }) => {
            format!("{} (2nd ISN)", action_kind(&e.action))
        }
        a => action_kind(&a),
    };
    match e.rule {
        Some(r) => format!("{what} [{}]", r.id()),
        None => what,
    }
}

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}
