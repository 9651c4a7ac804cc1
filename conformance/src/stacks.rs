//! `--stack NAME|FILE`: a built-in by name, or a stack description file (TOML, schema 1;
//! see `docs/stack-files.md`) by path. Every subcommand that takes a stack resolves it here,
//! so a user's file is accepted wherever a built-in name is.

use std::path::Path;

use teardown_model::builtins::{builtin, builtin_names};
use teardown_model::envelope::{self, EnvelopeOptions};
pub use teardown_model::stack_file::Validate;
use teardown_model::stack_file::{self, StackSpec};

/// Where a stack came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StackSource {
    /// A built-in, by name.
    Builtin,
    /// A stack file, by the path as given.
    File(String),
}

/// A resolved `--stack` argument.
#[derive(Clone, Debug)]
pub struct LoadedStack {
    /// Description, bounds and expectations.
    pub spec: StackSpec,
    /// Where it came from.
    pub source: StackSource,
    /// The built-ins it extends, nearest first (empty for a built-in's own table entry
    /// that extends nothing, and for files without `extends`).
    pub extends: Vec<String>,
}

impl LoadedStack {
    /// Where it came from, for messages: `built-in linux` or `file my.toml`.
    pub fn origin(&self) -> String {
        match &self.source {
            StackSource::Builtin => format!("built-in {}", self.spec.stack.name),
            StackSource::File(p) => format!("file {p}"),
        }
    }

    /// How the timers become ticks of `tick_ms`, one line per timer that is not a whole
    /// number of ticks: for stacks from a file, and for a built-in checked at another tick
    /// than its own (at its own, the roundings are part of its documented table, which
    /// `teardown stack show` prints).
    pub fn tick_warnings(&self, tick_ms: u64) -> Vec<String> {
        self.rounding_notes(tick_ms, || {
            stack_file::tick_rounding(&self.spec.stack, tick_ms)
        })
    }

    /// [`LoadedStack::tick_warnings`] for `teardown envelope`, whose grid sets MSL, RTO and
    /// TIME-WAIT in whole ticks: only the timers it leaves to the stack (see
    /// [`teardown_model::envelope::tick_rounding`]).
    pub fn envelope_tick_warnings(&self, opts: &EnvelopeOptions) -> Vec<String> {
        self.rounding_notes(opts.tick_ms, || envelope::tick_rounding(opts))
    }

    fn rounding_notes(&self, tick_ms: u64, notes: impl FnOnce() -> Vec<String>) -> Vec<String> {
        let origin = match &self.source {
            StackSource::Builtin if tick_ms == self.spec.bounds.tick_ms => return Vec::new(),
            StackSource::Builtin => format!("built-in {}", self.spec.stack.name),
            StackSource::File(p) => p.clone(),
        };
        notes()
            .into_iter()
            .map(|n| format!("{origin}: {n}"))
            .collect()
    }
}

/// Whether `arg` names a file rather than a built-in: it has a path separator or a `.toml`
/// extension, or such a file exists.
fn looks_like_path(arg: &str) -> bool {
    arg.contains('/')
        || arg.contains(std::path::MAIN_SEPARATOR)
        || arg.ends_with(".toml")
        || Path::new(arg).is_file()
}

/// Resolves `--stack NAME|FILE`, a file checked against the checker with its own tick.
/// The error is the whole message to print: an unknown name with the built-ins, an
/// unreadable file with the reason, or a stack-file error with file, line, column and the
/// offending line.
pub fn load(arg: &str) -> Result<LoadedStack, String> {
    load_with(arg, Validate::AtFileTick)
}

/// [`load`], a file checked as far as `validate` says (`--tick` overrides a file's tick;
/// replay never uses ticks).
pub fn load_with(arg: &str, validate: Validate) -> Result<LoadedStack, String> {
    if let Some(b) = builtin(arg) {
        let extends = stack_file::parse_embedded(arg)
            .and_then(Result::ok)
            .map(|r| r.extends)
            .unwrap_or_default();
        return Ok(LoadedStack {
            spec: b,
            source: StackSource::Builtin,
            extends,
        });
    }
    if !looks_like_path(arg) {
        return Err(format!(
            "unknown stack `{arg}`; built-ins: {}; or the path of a stack file (.toml, see docs/stack-files.md)",
            builtin_names().join(", ")
        ));
    }
    let text = std::fs::read(arg).map_err(|e| format!("cannot read stack file {arg}: {e}"))?;
    let text = String::from_utf8(text).map_err(|e| {
        format!(
            "stack file {arg} is not UTF-8 text (byte {})",
            e.utf8_error().valid_up_to()
        )
    })?;
    let resolved = stack_file::parse_with(arg, &text, validate).map_err(|e| e.to_string())?;
    Ok(LoadedStack {
        spec: resolved.spec,
        source: StackSource::File(arg.to_string()),
        extends: resolved.extends,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_to_builtins_and_paths_to_files() {
        let linux = load("linux").unwrap();
        assert_eq!(linux.source, StackSource::Builtin);
        assert!(linux.extends.is_empty());
        assert_eq!(load("freebsd").unwrap().extends, vec!["linux"]);
        let e = load("lunix").unwrap_err();
        assert!(
            e.contains("unknown stack `lunix`") && e.contains("rfc9293+rfc1337"),
            "{e}"
        );
        // A built-in at its own tick rounds as documented; at another, it says how.
        assert!(linux.tick_warnings(linux.spec.bounds.tick_ms).is_empty());
        let w = linux.tick_warnings(7_000);
        assert!(
            w.iter().any(|l| l
                .starts_with("built-in linux: timers.msl = 30s is 4.286 ticks of 7s: rounded up")),
            "{w:?}"
        );
        let e = load("no/such/stack.toml").unwrap_err();
        assert!(
            e.starts_with("cannot read stack file no/such/stack.toml:"),
            "{e}"
        );
    }
}
