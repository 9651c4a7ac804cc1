//! Reports of `teardown check`: human text, JSON and JUnit XML. Rendering only; the verdicts come
//! from `teardown_model::check`.

use std::fmt::Write as _;

use serde::Serialize;
use teardown_model::check::{CheckReport, Kind, Outcome, PropertyVerdict};

fn outcome_text(o: Outcome) -> &'static str {
    match o {
        Outcome::Holds => "holds",
        Outcome::Violated => "VIOLATED",
        Outcome::Found => "witness found",
        Outcome::NotFound => "not found",
        Outcome::Unknown => "unknown (state limit hit)",
    }
}

fn short(o: Outcome) -> &'static str {
    match o {
        Outcome::Holds => "holds",
        Outcome::Violated => "VIOLATED",
        Outcome::Found => "found",
        Outcome::NotFound => "not found",
        Outcome::Unknown => "unknown",
    }
}

/// Whether timings are printed (snapshot tests turn them off).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Timings {
    /// Print wall time and states/s.
    Show,
    /// Replace them with `[timing]`.
    Redact,
}

fn trace_text(out: &mut String, v: &PropertyVerdict) {
    let Some(trace) = &v.trace else { return };
    let _ = writeln!(out, "    shortest counterexample ({} steps):", trace.len());
    let _ = writeln!(
        out,
        "    {:>4} {:>4}  {:<13} {:<13} event [rule, section]",
        "step", "tick", "client", "server"
    );
    for (i, st) in trace.iter().enumerate() {
        let rule = match (st.rule, st.section) {
            (Some(r), Some(s)) => format!("  [{r}, {s}]"),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "    {:>4} {:>4}  {:<13} {:<13} {}{}",
            i + 1,
            st.tick,
            st.states[0],
            st.states[1],
            st.event,
            rule
        );
    }
}

/// The human report of one stack.
pub fn human(r: &CheckReport, timings: Timings) -> String {
    let mut out = String::new();
    let b = &r.bounds;
    let t = &r.ticks;
    let _ = writeln!(out, "stack {}", r.stack);
    let _ = writeln!(
        out,
        "  bounds: losses {}, dups {}, delays {}, incarnations {}, data {}, tick {} ms (MSL {} ticks, TIME-WAIT {}, RTO {}, FIN-WAIT-2 {})",
        b.losses,
        b.dups,
        b.delays,
        b.incarnations,
        b.data,
        b.tick_ms,
        t.msl,
        t.time_wait.map_or("none".into(), |x| x.to_string()),
        t.rto,
        t.fin_wait_2.map_or("none".into(), |x| x.to_string()),
    );
    let timing = match timings {
        Timings::Show => format!(
            "{:.2} s, {:.0} unique states/s, DFS depth {}",
            r.elapsed.as_secs_f64(),
            r.states_per_second(),
            r.max_dfs_depth
        ),
        Timings::Redact => "[timing]".to_string(),
    };
    let _ = writeln!(
        out,
        "  explored: {} states generated, {} unique, {}{}",
        r.generated,
        r.unique,
        timing,
        if r.truncated {
            " — STOPPED at --max-states"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "  (\"holds\" is modulo 64-bit fingerprint collisions: n²/2⁶⁵ = {:.1e} expected)",
        r.collision_probability
    );
    for v in &r.verdicts {
        let kind = match v.kind {
            Kind::Always => "always",
            Kind::Eventually => "eventually",
            Kind::Sometimes => "sometimes",
        };
        let exp = match v.expected {
            Some(e) if e == v.outcome => " (as expected)".to_string(),
            Some(e) => format!(" (EXPECTED {})", short(e)),
            None => String::new(),
        };
        let mark = if v.unexpected() { "✗" } else { " " };
        let _ = writeln!(
            out,
            "  {mark} {:<10} {:<62} {}{}",
            kind,
            v.name,
            outcome_text(v.outcome),
            exp
        );
        trace_text(&mut out, v);
    }
    out
}

/// The verdict table of `check --all`: stacks × properties, expected vs observed, a mark
/// where they differ.
pub fn table(reports: &[CheckReport], timings: Timings) -> String {
    let mut out = String::new();
    let Some(first) = reports.first() else {
        return out;
    };
    let names: Vec<&'static str> = first.verdicts.iter().map(|v| v.name).collect();
    let _ = writeln!(
        out,
        "Verdict table (observed; ✗ marks a cell that differs from the expected verdict)"
    );
    let _ = writeln!(out);
    for (i, n) in names.iter().enumerate() {
        let _ = writeln!(out, "  P{:<2} {}", i + 1, n);
    }
    let _ = writeln!(out);
    let _ = write!(out, "{:<28} {:>9}", "stack", "unique");
    if timings == Timings::Show {
        let _ = write!(out, " {:>7}", "secs");
    }
    for i in 0..names.len() {
        let _ = write!(out, " {:>9}", format!("P{}", i + 1));
    }
    let _ = writeln!(out);
    for r in reports {
        let _ = write!(out, "{:<28} {:>9}", r.stack, r.unique);
        if timings == Timings::Show {
            let _ = write!(out, " {:>7.2}", r.elapsed.as_secs_f64());
        }
        for v in &r.verdicts {
            let cell = match v.outcome {
                Outcome::Holds => "holds",
                Outcome::Violated => "VIOL",
                Outcome::Found => "found",
                Outcome::NotFound => "-",
                Outcome::Unknown => "?",
            };
            let mark = if v.unexpected() { "✗" } else { "" };
            let _ = write!(out, " {:>9}", format!("{cell}{mark}"));
        }
        let _ = writeln!(out);
    }
    let bad: usize = reports
        .iter()
        .map(|r| r.verdicts.iter().filter(|v| v.unexpected()).count())
        .sum();
    let _ = writeln!(out);
    if bad == 0 {
        let _ = writeln!(out, "every verdict is the expected one");
    } else {
        let _ = writeln!(out, "{bad} verdict(s) differ from the expected ones (✗)");
    }
    out
}

#[derive(Serialize)]
struct JsonReport<'a> {
    #[serde(flatten)]
    report: &'a CheckReport,
    elapsed_seconds: Option<f64>,
    /// Schedule-dependent with several threads, so shown and redacted with the timings.
    dfs_depth: Option<usize>,
    as_expected: bool,
}

/// The JSON report of several stacks (an array), timings included unless redacted.
pub fn json(reports: &[CheckReport], timings: Timings) -> String {
    let items: Vec<JsonReport<'_>> = reports
        .iter()
        .map(|r| JsonReport {
            report: r,
            elapsed_seconds: (timings == Timings::Show).then_some(r.elapsed.as_secs_f64()),
            dfs_depth: (timings == Timings::Show).then_some(r.max_dfs_depth),
            as_expected: r.as_expected(),
        })
        .collect();
    serde_json::to_string_pretty(&items).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// JUnit XML: a test suite per stack, a test case per property and witness. A verdict that
/// differs from the stack's expectation is a failure carrying the shortest counterexample
/// (or, for a witness that was required, what was not found); an exploration stopped at
/// `--max-states` is an error; a counterexample that was expected is a pass with the
/// counterexample in `system-out`, so CI shows what the stack is known to allow.
pub fn junit(reports: &[CheckReport], timings: Timings) -> String {
    use crate::replay_report::xml_escape;
    // Counted as written below: an undecided verdict is an <error>, a differing one a
    // <failure>.
    let errors = |r: &CheckReport| {
        r.verdicts
            .iter()
            .filter(|v| v.outcome == Outcome::Unknown)
            .count()
    };
    let failures = |r: &CheckReport| {
        r.verdicts
            .iter()
            .filter(|v| v.outcome != Outcome::Unknown && v.unexpected())
            .count()
    };
    let total_tests: usize = reports.iter().map(|r| r.verdicts.len()).sum();
    let total_failures: usize = reports.iter().map(failures).sum();
    let total_errors: usize = reports.iter().map(errors).sum();
    let mut o = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        o,
        "<testsuites name=\"teardown check\" tests=\"{total_tests}\" failures=\"{total_failures}\" errors=\"{total_errors}\">"
    );
    for r in reports {
        let time = match timings {
            Timings::Show => format!(" time=\"{:.3}\"", r.elapsed.as_secs_f64()),
            Timings::Redact => String::new(),
        };
        let _ = writeln!(
            o,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\"{time}>",
            xml_escape(&r.stack),
            r.verdicts.len(),
            failures(r),
            errors(r),
        );
        let b = &r.bounds;
        let _ = writeln!(
            o,
            "    <properties><property name=\"bounds\" value=\"losses {}, dups {}, delays {}, incarnations {}, data {}, tick {} ms\"/><property name=\"unique states\" value=\"{}\"/></properties>",
            b.losses, b.dups, b.delays, b.incarnations, b.data, b.tick_ms, r.unique
        );
        for v in &r.verdicts {
            let kind = match v.kind {
                Kind::Always => "always",
                Kind::Eventually => "eventually",
                Kind::Sometimes => "sometimes",
            };
            let _ = write!(
                o,
                "    <testcase name=\"{}: {}\" classname=\"{}.{kind}\">",
                v.id,
                xml_escape(v.name),
                xml_escape(&r.stack)
            );
            let mut trace = String::new();
            trace_text(&mut trace, v);
            if v.outcome == Outcome::Unknown {
                let _ = write!(
                    o,
                    "<error message=\"exploration stopped at --max-states before a verdict\"/>"
                );
            } else if v.unexpected() {
                let expected = v.expected.map_or("holds", short);
                let _ = write!(
                    o,
                    "<failure message=\"{} (expected {expected})\" type=\"{}\">{}</failure>",
                    short(v.outcome),
                    short(v.outcome),
                    xml_escape(&trace)
                );
            } else if !trace.is_empty() {
                let _ = write!(o, "<system-out>{}</system-out>", xml_escape(&trace));
            }
            o.push_str("</testcase>\n");
        }
        o.push_str("  </testsuite>\n");
    }
    o.push_str("</testsuites>\n");
    o
}
