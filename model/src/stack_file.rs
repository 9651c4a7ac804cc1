//! Stack description files: one TOML file per stack, schema 1.
//!
//! The built-ins are such files (`model/stacks/*.toml`, embedded with `include_str!`), so
//! the library, its tests and the binary read one source of truth, and a user's file is
//! read by exactly the code that reads them. The schema, every key and its allowed range
//! are documented in `docs/stack-files.md`; in short:
//!
//! ```toml
//! schema = 1                     # required: the version of this format
//! name = "my-stack"              # required
//! extends = "rfc9293+rfc1337"    # optional: any built-in; keys below override it
//! summary = "one line"
//!
//! [timers]                       # durations are strings with a unit: 250ms, 2s, 1m, 1h
//! msl = "30s"
//! time_wait = "250ms"            # or "none": no TIME-WAIT at all
//! rto = "200ms"
//! max_retries = 3
//! fin_wait_2 = "none"            # or a duration
//!
//! [behaviour]                    # see stack::Behaviour for each knob's RFC section
//! timestamps = false
//! isn = "arbitrary"              # or "above-old"
//!
//! [events]                       # application calls the checker explores
//! abort = false
//!
//! [bounds]                       # checking bounds and the tick
//! tick = "250ms"
//!
//! [expect]                       # optional: what `check` must find (else all hold)
//! old-segment-never-accepted = "violated"
//! witnesses = ["lost-final-ack-recovered"]
//! ```
//!
//! Nothing is defaulted silently: a file without `extends` sets every knob; a file with
//! it inherits the rest from the named built-in (expectations excepted: they belong to the
//! stack that states them). Every error carries the file, line and column, and the range
//! or values allowed. No I/O happens here: callers read the file and pass its text.

use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use crate::builtins::Expect;
use crate::stack::{
    AppEvents, Behaviour, IsnPolicy, RstCheck, StackDescription, SynCheck, SynInTimeWait,
    TimeWaitRst, Timers, parse_duration_ms,
};
use crate::system::{
    Bounds, ConfigError, MAX_BOUNDS, MAX_RETRIES, PROPERTIES, TeardownModel, TickTimers, WITNESSES,
    property_by_id, property_id,
};

/// The schema version this crate reads and writes.
pub const SCHEMA: i64 = 1;

/// A stack description with its checking bounds and what the checker must find.
#[derive(Clone, Debug, serde::Serialize)]
pub struct StackSpec {
    /// The description.
    pub stack: StackDescription,
    /// Default checking bounds.
    pub bounds: Bounds,
    /// Expected verdict per property (name, verdict), in [`crate::system::PROPERTIES`]
    /// order; a property not listed is expected to hold.
    pub expect: Vec<(&'static str, Expect)>,
    /// Witnesses the checker must find.
    pub witnesses: Vec<&'static str>,
}

/// A stack file read and resolved.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// The fully resolved description, bounds and expectations.
    pub spec: StackSpec,
    /// The built-ins it extends, nearest first.
    pub extends: Vec<String>,
}

/// An error in a stack file: what, where, and what is allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackFileError {
    /// The file as the user named it.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
    /// What is wrong and what is allowed.
    pub message: String,
    /// The offending line of the file, for display.
    pub source_line: String,
}

impl fmt::Display for StackFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )?;
        if !self.source_line.is_empty() {
            let gutter = self.line.to_string().len();
            // The caret's indent repeats the line's tabs, so that it lands under the column
            // whatever width the terminal gives a tab.
            let indent: String = self
                .source_line
                .chars()
                .take(self.column.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            write!(
                f,
                "\n{:gutter$} |\n{} | {}\n{:gutter$} | {indent}^",
                "", self.line, self.source_line, ""
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for StackFileError {}

fn error_at(file: &str, text: &str, span: Option<Range<usize>>, message: String) -> StackFileError {
    let offset = span.map_or(0, |s| s.start.min(text.len()));
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    let source_line = text[line_start..]
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    StackFileError {
        file: file.to_string(),
        line,
        column,
        message,
        source_line,
    }
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A duration as written: a string with a unit, or `none` where a timer may be absent.
#[derive(Debug)]
struct DurationText(String);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = DurationText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration with a unit, e.g. \"60s\" or \"250ms\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DurationText, E> {
                Ok(DurationText(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<DurationText, E> {
                Err(E::custom(format!(
                    "a duration needs a unit: write \"{v}s\" or \"{v}ms\", not {v}"
                )))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<DurationText, E> {
                self.visit_i64(v as i64)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<DurationText, E> {
                Err(E::custom(format!(
                    "a duration needs a unit: write \"{v}s\", not {v}"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct RawFile {
    schema: Option<Spanned<i64>>,
    name: Option<Spanned<String>>,
    extends: Option<Spanned<String>>,
    summary: Option<Spanned<String>>,
    timers: Option<Spanned<RawTimers>>,
    behaviour: Option<Spanned<RawBehaviour>>,
    events: Option<Spanned<RawEvents>>,
    host: Option<Spanned<RawHost>>,
    bounds: Option<Spanned<RawBounds>>,
    expect: Option<Spanned<RawExpect>>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct RawTimers {
    msl: Option<Spanned<DurationText>>,
    time_wait: Option<Spanned<DurationText>>,
    rto: Option<Spanned<DurationText>>,
    max_retries: Option<Spanned<i64>>,
    fin_wait_2: Option<Spanned<DurationText>>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct RawBehaviour {
    fin_retransmit: Option<Spanned<bool>>,
    time_wait_restart: Option<Spanned<bool>>,
    time_wait_acks_fin: Option<Spanned<bool>>,
    rst_check: Option<Spanned<RstCheck>>,
    time_wait_rst: Option<Spanned<TimeWaitRst>>,
    syn_check: Option<Spanned<SynCheck>>,
    syn_in_time_wait: Option<Spanned<SynInTimeWait>>,
    timestamps: Option<Spanned<bool>>,
    time_wait_reuse: Option<Spanned<bool>>,
    isn: Option<Spanned<IsnPolicy>>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct RawEvents {
    abort: Option<Spanned<bool>>,
    close_unread: Option<Spanned<bool>>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct RawHost {
    ephemeral_ports: Option<Spanned<String>>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct RawBounds {
    losses: Option<Spanned<i64>>,
    dups: Option<Spanned<i64>>,
    delays: Option<Spanned<i64>>,
    incarnations: Option<Spanned<i64>>,
    data: Option<Spanned<i64>>,
    tick: Option<Spanned<DurationText>>,
}

#[derive(Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum ExpectText {
    Holds,
    Violated,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawExpect {
    final_ack_recovered: Option<ExpectText>,
    old_segment_never_accepted: Option<ExpectText>,
    old_segment_never_delivered: Option<ExpectText>,
    close_delivers_data: Option<ExpectText>,
    no_ack_loop: Option<ExpectText>,
    both_reach_closed: Option<ExpectText>,
    witnesses: Option<Vec<Spanned<String>>>,
}

/// Where the knobs that tick conversion and validation judge were set in this file, so
/// an error points at the line that caused it.
#[derive(Default)]
struct Spans {
    file: Option<Range<usize>>,
    extends: Option<Range<usize>>,
    msl: Option<Range<usize>>,
    time_wait: Option<Range<usize>>,
    rto: Option<Range<usize>>,
    fin_wait_2: Option<Range<usize>>,
    max_retries: Option<Range<usize>>,
    tick: Option<Range<usize>>,
    bounds: Option<Range<usize>>,
}

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    fn err(&self, span: Option<Range<usize>>, message: impl Into<String>) -> StackFileError {
        error_at(self.file, self.text, span, message.into())
    }
}

/// The built-in stack files, in table order: (name, file text).
const EMBEDDED: [(&str, &str); 16] = [
    ("rfc9293", include_str!("../stacks/rfc9293.toml")),
    (
        "rfc9293+rfc1337",
        include_str!("../stacks/rfc9293+rfc1337.toml"),
    ),
    ("linux", include_str!("../stacks/linux.toml")),
    ("freebsd", include_str!("../stacks/freebsd.toml")),
    ("macos", include_str!("../stacks/macos.toml")),
    ("windows", include_str!("../stacks/windows.toml")),
    ("smoltcp", include_str!("../stacks/smoltcp.toml")),
    ("no-time-wait", include_str!("../stacks/no-time-wait.toml")),
    (
        "short-time-wait",
        include_str!("../stacks/short-time-wait.toml"),
    ),
    (
        "time-wait-accepts-rst",
        include_str!("../stacks/time-wait-accepts-rst.toml"),
    ),
    (
        "no-fin-retransmit",
        include_str!("../stacks/no-fin-retransmit.toml"),
    ),
    (
        "no-time-wait-restart",
        include_str!("../stacks/no-time-wait-restart.toml"),
    ),
    (
        "tw-reuse-without-timestamps",
        include_str!("../stacks/tw-reuse-without-timestamps.toml"),
    ),
    (
        "tw-reuse-with-timestamps",
        include_str!("../stacks/tw-reuse-with-timestamps.toml"),
    ),
    (
        "isn-not-above-old",
        include_str!("../stacks/isn-not-above-old.toml"),
    ),
    (
        "abort-then-reopen",
        include_str!("../stacks/abort-then-reopen.toml"),
    ),
];

/// The names of the built-in stack files, in table order.
pub fn embedded_names() -> impl Iterator<Item = &'static str> {
    EMBEDDED.iter().map(|(n, _)| *n)
}

/// The text of a built-in's stack file.
pub fn embedded_text(name: &str) -> Option<&'static str> {
    EMBEDDED.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Reads a user's stack file. `file` names it in errors (the path as given).
pub fn parse(file: &str, text: &str) -> Result<Resolved, StackFileError> {
    parse_with(file, text, Validate::AtFileTick)
}

/// How far [`parse_with`] checks a description against the checker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validate {
    /// Timers and bounds as the checker would take them with the file's own tick.
    AtFileTick,
    /// The same with another tick (`--tick`, which overrides the file's).
    AtTick(u64),
    /// The knobs alone, for commands that run at full scale and never use ticks
    /// (`replay`, `timewait`).
    KnobsOnly,
}

/// Reads a user's stack file, checking it as far as `validate` says.
pub fn parse_with(file: &str, text: &str, validate: Validate) -> Result<Resolved, StackFileError> {
    parse_at_depth(file, text, false, 0, validate)
}

/// Reads a built-in's embedded file.
pub fn parse_embedded(name: &str) -> Option<Result<Resolved, StackFileError>> {
    let text = embedded_text(name)?;
    Some(parse_at_depth(
        &format!("<built-in {name}>"),
        text,
        true,
        0,
        Validate::AtFileTick,
    ))
}

fn parse_at_depth(
    file: &str,
    text: &str,
    embedded: bool,
    depth: usize,
    validation: Validate,
) -> Result<Resolved, StackFileError> {
    let cx = Ctx { file, text };
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let message = e.message().trim_end().to_string();
        cx.err(e.span(), message)
    })?;
    let mut spans = Spans {
        file: Some(0..0),
        ..Spans::default()
    };

    match &raw.schema {
        None => {
            return Err(cx.err(
                None,
                format!("missing `schema = {SCHEMA}`: the version of the stack-file format this file is written for"),
            ));
        }
        Some(s) if *s.get_ref() != SCHEMA => {
            return Err(cx.err(
                Some(s.span()),
                format!(
                    "schema {} is not known to this teardown, which reads schema {SCHEMA}",
                    s.get_ref()
                ),
            ));
        }
        Some(_) => {}
    }
    let Some(name) = &raw.name else {
        return Err(cx.err(None, "missing `name = \"…\"`: what reports call this stack"));
    };
    let name_text = name.get_ref().trim();
    if name_text.is_empty()
        || name_text.len() > 64
        || !name_text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-_.".contains(c))
    {
        return Err(cx.err(
            Some(name.span()),
            "a name is 1 to 64 characters of letters, digits and + - _ .",
        ));
    }
    if !embedded && embedded_text(name_text).is_some() {
        return Err(cx.err(
            Some(name.span()),
            format!(
                "`{name_text}` is a built-in's name; name your stack differently (use `extends = \"{name_text}\"` to start from it)"
            ),
        ));
    }

    let (mut spec, extends) = match &raw.extends {
        Some(base) => {
            spans.extends = Some(base.span());
            let base_name = base.get_ref().as_str();
            if depth > EMBEDDED.len() {
                return Err(cx.err(Some(base.span()), "`extends` goes round in a circle"));
            }
            let Some(text) = embedded_text(base_name) else {
                return Err(cx.err(
                    Some(base.span()),
                    format!(
                        "`extends` names a built-in; `{base_name}` is none of: {}",
                        embedded_names().collect::<Vec<_>>().join(", ")
                    ),
                ));
            };
            let parent = parse_at_depth(
                &format!("<built-in {base_name}>"),
                text,
                true,
                depth + 1,
                Validate::AtFileTick,
            )?;
            let mut chain = vec![base_name.to_string()];
            chain.extend(parent.extends);
            (parent.spec, chain)
        }
        None => {
            let missing = missing_knobs(&raw);
            if !missing.is_empty() {
                return Err(cx.err(
                    None,
                    format!(
                        "a file without `extends` sets every knob; missing: {} (or start from a built-in with `extends = \"rfc9293+rfc1337\"`)",
                        missing.join(", ")
                    ),
                ));
            }
            (blank_spec(), Vec::new())
        }
    };
    spec.stack.name = name_text.to_string();
    spec.stack.summary = match &raw.summary {
        Some(s) => s.get_ref().trim().to_string(),
        None if extends.is_empty() => String::new(),
        None => format!("{} with changes", extends[0]),
    };
    // Expectations belong to the stack that states them: a changed knob may change any
    // verdict, so nothing is inherited.
    spec.expect.clear();
    spec.witnesses.clear();

    if let Some(t) = &raw.timers {
        apply_timers(&cx, t.get_ref(), &mut spec.stack.timers, &mut spans)?;
    }
    if let Some(b) = &raw.behaviour {
        apply_behaviour(&cx, b.get_ref(), &mut spec.stack.behaviour)?;
    }
    if let Some(e) = &raw.events {
        let e = e.get_ref();
        set(&mut spec.stack.events.abort, &e.abort);
        set(&mut spec.stack.events.close_unread, &e.close_unread);
    }
    if let Some(h) = raw
        .host
        .as_ref()
        .and_then(|h| h.get_ref().ephemeral_ports.as_ref())
    {
        spec.stack.ephemeral_ports = port_range(&cx, h)?;
    }
    if let Some(b) = &raw.bounds {
        spans.bounds = Some(b.span());
        apply_bounds(&cx, b.get_ref(), &mut spec.bounds, &mut spans)?;
    }
    if let Some(e) = &raw.expect {
        apply_expect(&cx, e.get_ref(), &mut spec)?;
    }
    match validation {
        Validate::AtFileTick => validate(&cx, &spec, spec.bounds, &spans)?,
        Validate::AtTick(tick_ms) => validate(
            &cx,
            &spec,
            Bounds {
                tick_ms,
                ..spec.bounds
            },
            &spans,
        )?,
        Validate::KnobsOnly => {}
    }
    Ok(Resolved { spec, extends })
}

fn set<T: Copy>(slot: &mut T, value: &Option<Spanned<T>>) {
    if let Some(v) = value {
        *slot = *v.get_ref();
    }
}

fn missing_knobs(raw: &RawFile) -> Vec<&'static str> {
    let mut missing = Vec::new();
    let empty_t = RawTimers::default();
    let t = raw.timers.as_ref().map_or(&empty_t, |t| t.get_ref());
    for (key, present) in [
        ("timers.msl", t.msl.is_some()),
        ("timers.time_wait", t.time_wait.is_some()),
        ("timers.rto", t.rto.is_some()),
        ("timers.max_retries", t.max_retries.is_some()),
        ("timers.fin_wait_2", t.fin_wait_2.is_some()),
    ] {
        if !present {
            missing.push(key);
        }
    }
    let empty_b = RawBehaviour::default();
    let b = raw.behaviour.as_ref().map_or(&empty_b, |b| b.get_ref());
    for (key, present) in [
        ("behaviour.fin_retransmit", b.fin_retransmit.is_some()),
        ("behaviour.time_wait_restart", b.time_wait_restart.is_some()),
        (
            "behaviour.time_wait_acks_fin",
            b.time_wait_acks_fin.is_some(),
        ),
        ("behaviour.rst_check", b.rst_check.is_some()),
        ("behaviour.time_wait_rst", b.time_wait_rst.is_some()),
        ("behaviour.syn_check", b.syn_check.is_some()),
        ("behaviour.syn_in_time_wait", b.syn_in_time_wait.is_some()),
        ("behaviour.timestamps", b.timestamps.is_some()),
        ("behaviour.time_wait_reuse", b.time_wait_reuse.is_some()),
        ("behaviour.isn", b.isn.is_some()),
    ] {
        if !present {
            missing.push(key);
        }
    }
    let empty_e = RawEvents::default();
    let e = raw.events.as_ref().map_or(&empty_e, |e| e.get_ref());
    for (key, present) in [
        ("events.abort", e.abort.is_some()),
        ("events.close_unread", e.close_unread.is_some()),
    ] {
        if !present {
            missing.push(key);
        }
    }
    let empty_h = RawHost::default();
    let h = raw.host.as_ref().map_or(&empty_h, |h| h.get_ref());
    if h.ephemeral_ports.is_none() {
        missing.push("host.ephemeral_ports");
    }
    let empty_n = RawBounds::default();
    let n = raw.bounds.as_ref().map_or(&empty_n, |n| n.get_ref());
    for (key, present) in [
        ("bounds.losses", n.losses.is_some()),
        ("bounds.dups", n.dups.is_some()),
        ("bounds.delays", n.delays.is_some()),
        ("bounds.incarnations", n.incarnations.is_some()),
        ("bounds.data", n.data.is_some()),
        ("bounds.tick", n.tick.is_some()),
    ] {
        if !present {
            missing.push(key);
        }
    }
    missing
}

/// Placeholder values a file without `extends` overwrites entirely (`missing_knobs`
/// guarantees it sets every one).
fn blank_spec() -> StackSpec {
    StackSpec {
        stack: StackDescription {
            name: String::new(),
            summary: String::new(),
            timers: Timers {
                msl_ms: 0,
                time_wait_ms: None,
                rto_ms: 0,
                max_retries: 0,
                fin_wait_2_ms: None,
            },
            behaviour: Behaviour {
                fin_retransmit: false,
                time_wait_restart: false,
                time_wait_acks_fin: false,
                rst_check: RstCheck::InWindow,
                time_wait_rst: TimeWaitRst::Closes,
                syn_check: SynCheck::InWindowReset,
                syn_in_time_wait: SynInTimeWait::AsSynchronized,
                timestamps: false,
                time_wait_reuse: false,
                isn: IsnPolicy::AboveOld,
            },
            events: AppEvents {
                abort: false,
                close_unread: false,
            },
            ephemeral_ports: (0, 0),
        },
        bounds: Bounds {
            losses: 0,
            dups: 0,
            delays: 0,
            incarnations: 0,
            data: 0,
            tick_ms: 0,
        },
        expect: Vec::new(),
        witnesses: Vec::new(),
    }
}

fn duration(
    cx: &Ctx<'_>,
    key: &str,
    value: &Spanned<DurationText>,
    may_be_none: bool,
) -> Result<Option<u64>, StackFileError> {
    let text = value.get_ref().0.trim();
    if text == "none" {
        return if may_be_none {
            Ok(None)
        } else {
            Err(cx.err(
                Some(value.span()),
                format!("{key} cannot be \"none\": give a duration such as \"1s\""),
            ))
        };
    }
    parse_duration_ms(text).map(Some).map_err(|e| {
        let hint = if may_be_none { " (or \"none\")" } else { "" };
        cx.err(Some(value.span()), format!("{key}: {e}{hint}"))
    })
}

fn apply_timers(
    cx: &Ctx<'_>,
    t: &RawTimers,
    timers: &mut Timers,
    spans: &mut Spans,
) -> Result<(), StackFileError> {
    if let Some(v) = &t.msl {
        spans.msl = Some(v.span());
        timers.msl_ms = duration(cx, "timers.msl", v, false)?.unwrap_or_default();
    }
    if let Some(v) = &t.time_wait {
        spans.time_wait = Some(v.span());
        timers.time_wait_ms = duration(cx, "timers.time_wait", v, true)?;
    }
    if let Some(v) = &t.rto {
        spans.rto = Some(v.span());
        timers.rto_ms = duration(cx, "timers.rto", v, false)?.unwrap_or_default();
    }
    if let Some(v) = &t.fin_wait_2 {
        spans.fin_wait_2 = Some(v.span());
        timers.fin_wait_2_ms = duration(cx, "timers.fin_wait_2", v, true)?;
    }
    if let Some(v) = &t.max_retries {
        spans.max_retries = Some(v.span());
        timers.max_retries = small_int(cx, "timers.max_retries", v, 0, MAX_RETRIES)?;
    }
    Ok(())
}

/// `"LO-HI"`, 1 ≤ LO ≤ HI ≤ 65535.
fn port_range(cx: &Ctx<'_>, v: &Spanned<String>) -> Result<(u16, u16), StackFileError> {
    let bad = || {
        cx.err(
            Some(v.span()),
            format!(
                "host.ephemeral_ports = \"{}\": write \"LO-HI\" with 1 <= LO <= HI <= 65535, e.g. \"32768-60999\"",
                v.get_ref()
            ),
        )
    };
    let (lo, hi) = v.get_ref().split_once('-').ok_or_else(bad)?;
    let port = |p: &str| p.trim().parse::<u16>().ok().filter(|&p| p > 0);
    match (port(lo), port(hi)) {
        (Some(lo), Some(hi)) if lo <= hi => Ok((lo, hi)),
        _ => Err(bad()),
    }
}

fn small_int(
    cx: &Ctx<'_>,
    key: &str,
    v: &Spanned<i64>,
    lo: u8,
    hi: u8,
) -> Result<u8, StackFileError> {
    let n = *v.get_ref();
    if n < i64::from(lo) || n > i64::from(hi) {
        return Err(cx.err(
            Some(v.span()),
            format!("{key} = {n} is out of range: {lo} to {hi}"),
        ));
    }
    Ok(n as u8)
}

fn apply_behaviour(
    cx: &Ctx<'_>,
    b: &RawBehaviour,
    out: &mut Behaviour,
) -> Result<(), StackFileError> {
    set(&mut out.fin_retransmit, &b.fin_retransmit);
    set(&mut out.time_wait_restart, &b.time_wait_restart);
    set(&mut out.time_wait_acks_fin, &b.time_wait_acks_fin);
    set(&mut out.rst_check, &b.rst_check);
    set(&mut out.time_wait_rst, &b.time_wait_rst);
    set(&mut out.syn_check, &b.syn_check);
    set(&mut out.syn_in_time_wait, &b.syn_in_time_wait);
    set(&mut out.timestamps, &b.timestamps);
    set(&mut out.time_wait_reuse, &b.time_wait_reuse);
    set(&mut out.isn, &b.isn);
    // Whether reusing a TIME-WAIT 4-tuple is safe turns on PAWS alone (RFC 6191 §2; notes
    // U9): a file that turns reuse on says which case it means rather than inheriting it.
    if let Some(reuse) = b.time_wait_reuse.as_ref().filter(|r| *r.get_ref())
        && b.timestamps.is_none()
    {
        return Err(cx.err(
            Some(reuse.span()),
            "time_wait_reuse = true: say whether timestamps are on in this file — `timestamps = true` (reuse protected by PAWS, RFC 6191) or `timestamps = false` (Linux tcp_tw_reuse without timestamps: old segments reach the new incarnation)",
        ));
    }
    Ok(())
}

fn apply_bounds(
    cx: &Ctx<'_>,
    b: &RawBounds,
    out: &mut Bounds,
    spans: &mut Spans,
) -> Result<(), StackFileError> {
    let m = MAX_BOUNDS;
    if let Some(v) = &b.losses {
        out.losses = small_int(cx, "bounds.losses", v, 0, m.losses)?;
    }
    if let Some(v) = &b.dups {
        out.dups = small_int(cx, "bounds.dups", v, 0, m.dups)?;
    }
    if let Some(v) = &b.delays {
        out.delays = small_int(cx, "bounds.delays", v, 0, m.delays)?;
    }
    if let Some(v) = &b.incarnations {
        out.incarnations = small_int(cx, "bounds.incarnations", v, 1, m.incarnations)?;
    }
    if let Some(v) = &b.data {
        out.data = small_int(cx, "bounds.data", v, 0, m.data)?;
    }
    if let Some(v) = &b.tick {
        spans.tick = Some(v.span());
        let ms = duration(cx, "bounds.tick", v, false)?.unwrap_or_default();
        if ms > m.tick_ms {
            return Err(cx.err(
                Some(v.span()),
                format!(
                    "bounds.tick is {}: at most {}",
                    format_duration_ms(ms),
                    format_duration_ms(m.tick_ms)
                ),
            ));
        }
        out.tick_ms = ms;
    }
    Ok(())
}

fn apply_expect(cx: &Ctx<'_>, e: &RawExpect, spec: &mut StackSpec) -> Result<(), StackFileError> {
    let given = [
        e.final_ack_recovered,
        e.old_segment_never_accepted,
        e.old_segment_never_delivered,
        e.close_delivers_data,
        e.no_ack_loop,
        e.both_reach_closed,
    ];
    for (name, v) in PROPERTIES.iter().zip(given) {
        if let Some(v) = v {
            let expect = match v {
                ExpectText::Holds => Expect::Holds,
                ExpectText::Violated => Expect::Violated,
            };
            spec.expect.push((name, expect));
        }
    }
    for w in e.witnesses.iter().flatten() {
        let id = w.get_ref().as_str();
        match property_by_id(id).filter(|n| WITNESSES.contains(n)) {
            Some(name) if !spec.witnesses.contains(&name) => spec.witnesses.push(name),
            Some(_) => {
                return Err(cx.err(Some(w.span()), format!("witness `{id}` listed twice")));
            }
            None => {
                let known: Vec<&str> = WITNESSES.iter().map(|n| property_id(n)).collect();
                return Err(cx.err(
                    Some(w.span()),
                    format!("unknown witness `{id}`; witnesses: {}", known.join(", ")),
                ));
            }
        }
    }
    // Report order, whatever order the file lists them in.
    spec.witnesses
        .sort_by_key(|w| WITNESSES.iter().position(|x| x == w));
    Ok(())
}

/// The checker's own validation, with the error pointed at the key that caused it.
fn validate(
    cx: &Ctx<'_>,
    spec: &StackSpec,
    bounds: Bounds,
    spans: &Spans,
) -> Result<(), StackFileError> {
    let Err(ConfigError(message)) = TeardownModel::new(spec.stack.clone(), bounds) else {
        return Ok(());
    };
    // The knob this file set that the message is about (its first clause; the advice
    // after the `;` names other timers), else the tick, else `extends`.
    let head = message.split(';').next().unwrap_or(&message);
    let about = |what: &str| head.contains(what);
    let span = [
        (about("TIME-WAIT"), &spans.time_wait),
        (about("FIN-WAIT-2"), &spans.fin_wait_2),
        (about("MSL"), &spans.msl),
        (about("RTO"), &spans.rto),
        (about("retries"), &spans.max_retries),
        (about("tick"), &spans.tick),
        (about("bounds"), &spans.bounds),
        (true, &spans.tick),
        (true, &spans.extends),
        (true, &spans.file),
    ]
    .into_iter()
    .find_map(|(relevant, s)| s.clone().filter(|_| relevant));
    Err(cx.err(span, message))
}

/// Writes a duration in the largest unit that divides it: `4m`, `30s`, `250ms`.
pub fn format_duration_ms(ms: u64) -> String {
    match ms {
        0 => "0ms".into(),
        ms if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
        ms => format!("{ms}ms"),
    }
}

/// How each timer becomes ticks, for every timer that is not a whole number of ticks:
/// the rounding and why it goes that way.
pub fn tick_rounding(stack: &StackDescription, tick_ms: u64) -> Vec<String> {
    let t = &stack.timers;
    let tick = format_duration_ms(tick_ms);
    let mut notes = Vec::new();
    for (key, ms, up) in [
        ("timers.msl", Some(t.msl_ms), true),
        ("timers.time_wait", t.time_wait_ms, false),
        ("timers.rto", Some(t.rto_ms), true),
        ("timers.fin_wait_2", t.fin_wait_2_ms, false),
    ] {
        let Some(ms) = ms.filter(|&ms| tick_ms > 0 && ms % tick_ms != 0) else {
            continue;
        };
        let ticks = if up {
            ms.div_ceil(tick_ms)
        } else {
            ms / tick_ms
        };
        let why = if up {
            "up: a longer MSL or RTO can only make hazards easier to find"
        } else {
            "down: a shorter timer can only make hazards easier to find"
        };
        let factor = (ticks * tick_ms) as f64 / ms as f64;
        // Rounding by more than a quarter can make a counterexample that the real timer
        // would not allow (an RTO of 300 ms checked as 1 s lets backed-off FINs outlast a
        // 2 s TIME-WAIT): say so, with the way to tell.
        let caveat = if !(0.75..=1.25).contains(&factor) {
            format!(
                "; checked at {factor:.2}x its length — confirm a counterexample that turns on it at a tick that divides {}",
                format_duration_ms(ms)
            )
        } else {
            String::new()
        };
        notes.push(format!(
            "{key} = {} is {:.3} ticks of {tick}: rounded {why} — {ticks} tick{} ({}){caveat}",
            format_duration_ms(ms),
            ms as f64 / tick_ms as f64,
            if ticks == 1 { "" } else { "s" },
            format_duration_ms(ticks * tick_ms),
        ));
    }
    notes
}

/// The fully resolved description as a stack file of schema 1 without `extends`: what
/// `teardown stack show` prints, and a file `parse` reads back to the same description.
pub fn to_toml(spec: &StackSpec, extends: &[String]) -> String {
    let s = &spec.stack;
    let t = &s.timers;
    let b = &s.behaviour;
    let n = &spec.bounds;
    // The toml crate writes strings with every escape TOML needs (control characters
    // included), so that the output reads back.
    let q = |v: &str| toml::Value::String(v.to_string()).to_string();
    let opt = |ms: Option<u64>| q(&ms.map_or("none".into(), format_duration_ms));
    let ticks = TickTimers::convert(s, n.tick_ms).ok();
    let in_ticks = |ticks: Option<u16>| match ticks {
        Some(k) => format!("# {k} tick{}", if k == 1 { "" } else { "s" }),
        None => String::new(),
    };
    let kebab = |v: &dyn fmt::Debug| {
        let d = format!("{v:?}");
        let mut out = String::new();
        for (i, c) in d.chars().enumerate() {
            if c.is_ascii_uppercase() {
                if i > 0 {
                    out.push('-');
                }
                out.push(c.to_ascii_lowercase());
            } else {
                out.push(c);
            }
        }
        q(&out)
    };
    let mut o = String::new();
    use fmt::Write as _;
    let _ = writeln!(o, "# The stack `{}`, fully resolved", s.name);
    if !extends.is_empty() {
        let _ = writeln!(o, "# (from {})", extends.join(" <- "));
    }
    let _ = writeln!(o, "schema = {SCHEMA}");
    let _ = writeln!(o, "name = {}", q(&s.name));
    let _ = writeln!(o, "summary = {}", q(&s.summary));
    let _ = writeln!(o, "\n[timers]");
    let _ = writeln!(
        o,
        "{:<40}{}",
        format!("msl = {}", q(&format_duration_ms(t.msl_ms))),
        in_ticks(ticks.map(|k| k.msl))
    );
    let _ = writeln!(
        o,
        "{:<40}{}",
        format!("time_wait = {}", opt(t.time_wait_ms)),
        in_ticks(ticks.and_then(|k| k.time_wait))
    );
    let _ = writeln!(
        o,
        "{:<40}{}",
        format!("rto = {}", q(&format_duration_ms(t.rto_ms))),
        in_ticks(ticks.map(|k| k.rto))
    );
    let _ = writeln!(o, "max_retries = {}", t.max_retries);
    let _ = writeln!(
        o,
        "{:<40}{}",
        format!("fin_wait_2 = {}", opt(t.fin_wait_2_ms)),
        in_ticks(ticks.and_then(|k| k.fin_wait_2))
    );
    let _ = writeln!(o, "\n[behaviour]");
    let _ = writeln!(o, "fin_retransmit = {}", b.fin_retransmit);
    let _ = writeln!(o, "time_wait_restart = {}", b.time_wait_restart);
    let _ = writeln!(o, "time_wait_acks_fin = {}", b.time_wait_acks_fin);
    let _ = writeln!(o, "rst_check = {}", kebab(&b.rst_check));
    let _ = writeln!(o, "time_wait_rst = {}", kebab(&b.time_wait_rst));
    let _ = writeln!(o, "syn_check = {}", kebab(&b.syn_check));
    let _ = writeln!(o, "syn_in_time_wait = {}", kebab(&b.syn_in_time_wait));
    let _ = writeln!(o, "timestamps = {}", b.timestamps);
    let _ = writeln!(o, "time_wait_reuse = {}", b.time_wait_reuse);
    let _ = writeln!(o, "isn = {}", kebab(&b.isn));
    let _ = writeln!(o, "\n[events]");
    let _ = writeln!(o, "abort = {}", s.events.abort);
    let _ = writeln!(o, "close_unread = {}", s.events.close_unread);
    let _ = writeln!(o, "\n[host]");
    let _ = writeln!(
        o,
        "ephemeral_ports = \"{}-{}\"",
        s.ephemeral_ports.0, s.ephemeral_ports.1
    );
    let _ = writeln!(o, "\n[bounds]");
    let _ = writeln!(o, "losses = {}", n.losses);
    let _ = writeln!(o, "dups = {}", n.dups);
    let _ = writeln!(o, "delays = {}", n.delays);
    let _ = writeln!(o, "incarnations = {}", n.incarnations);
    let _ = writeln!(o, "data = {}", n.data);
    let _ = writeln!(o, "tick = {}", q(&format_duration_ms(n.tick_ms)));
    if !spec.expect.is_empty() || !spec.witnesses.is_empty() {
        let _ = writeln!(o, "\n[expect]");
        for (name, e) in &spec.expect {
            let v = match e {
                Expect::Holds => "holds",
                Expect::Violated => "violated",
            };
            let _ = writeln!(o, "{} = \"{v}\"", property_id(name));
        }
        let ws: Vec<String> = spec.witnesses.iter().map(|w| q(property_id(w))).collect();
        let _ = writeln!(o, "witnesses = [{}]", ws.join(", "));
    }
    for note in tick_rounding(s, n.tick_ms) {
        let _ = writeln!(o, "# {note}");
    }
    o.lines().map(|l| l.trim_end().to_string() + "\n").collect()
}
