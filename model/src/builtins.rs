//! The built-in stack descriptions, their default checking bounds and their expected
//! verdicts.
//!
//! Each built-in is a stack file, `model/stacks/<name>.toml`, embedded in the crate and read
//! by [`crate::stack_file`] like any user's file: the file says what the stack stands for,
//! cites the sysctl, source line or RFC section behind every knob, and states its expected
//! verdicts. Those are written from the literature and from reasoning *before* running the
//! checker, and are never flipped to match its output; `model/VERDICTS.md` gives the
//! reasoning for every cell and records where the checker disagreed and why.

use std::sync::OnceLock;

use serde::Serialize;

pub use crate::stack_file::StackSpec;
use crate::stack_file::{embedded_names, parse_embedded};

/// An expected verdict for a safety or liveness property (`holds`, `violated`: as stack
/// files spell it).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expect {
    /// The property holds within the bounds.
    Holds,
    /// The checker finds a counterexample.
    Violated,
}

/// A built-in: description, default bounds, expected verdicts.
pub type Builtin = StackSpec;

/// Every built-in description with its default bounds and expected verdicts, read from the
/// stack files embedded in this crate (`model/stacks/*.toml`), in table order.
pub fn builtins() -> Vec<Builtin> {
    all().to_vec()
}

/// The built-ins, read once.
fn all() -> &'static [Builtin] {
    static ALL: OnceLock<Vec<Builtin>> = OnceLock::new();
    ALL.get_or_init(|| {
        embedded_names()
            .map(|name| match parse_embedded(name) {
                Some(Ok(resolved)) => resolved.spec,
                // The embedded files are part of this crate and every one is read by its
                // tests: an error here is a bug in the crate, not in anyone's input.
                Some(Err(e)) => panic!("built-in stack file {name} is invalid: {e}"),
                None => unreachable!("embedded_names lists only embedded files"),
            })
            .collect()
    })
}

/// The built-in with this name.
pub fn builtin(name: &str) -> Option<Builtin> {
    all().iter().find(|b| b.stack.name == name).cloned()
}

/// The names of every built-in, in table order.
pub fn builtin_names() -> Vec<String> {
    embedded_names().map(str::to_string).collect()
}
