//! # teardown-model
//!
//! A formal model of TCP connection teardown, and the one implementation of its rules.
//!
//! - [`endpoint`]: the TCB and the pure transition functions (RFC 9293 §3.10), generic over
//!   the sequence-number space ([`seq`]) and time, each step naming the [`rules::Rule`] it
//!   applied.
//! - [`stack`]: the description of a stack's teardown knobs; [`stack_file`]: stack
//!   description files (TOML, schema 1), read with errors that give line and column;
//!   [`builtins`]: the built-in descriptions (rfc9293, linux, freebsd, …, and the unsafe
//!   variants), each such a file embedded in the crate, with their expected verdicts.
//! - [`system`]: the checked system (a hand-written `stateright::Model`): two endpoints, a
//!   lossy, reordering, duplicating network with segment lifetimes, discrete time, ghost
//!   state, properties and witnesses.
//! - [`check`]: running the checker, shortest counterexamples, verdicts.
//! - [`envelope`]: the smallest TIME-WAIT for which each purpose of TIME-WAIT holds, over a
//!   grid of MSL, RTO, losses and duplications.
//! - [`hazards`]: what the model knows to be unsafe in a run, as predicates over rules.
//! - [`graph`]: the exact reachable state graph, its summary and fingerprint, DOT and JSON,
//!   for regression snapshots.
//! - [`ladder`]: ladder (sequence) diagrams as SVG, for counterexamples, the Explorer and
//!   replayed connections.
//!
//! No I/O happens in this crate.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod builtins;
pub mod check;
pub mod endpoint;
pub mod envelope;
pub mod graph;
pub mod hazards;
pub mod ladder;
pub mod rules;
pub mod segment;
pub mod seq;
pub mod stack;
pub mod stack_file;
pub mod system;
