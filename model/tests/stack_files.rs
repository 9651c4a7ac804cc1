//! Stack description files: the built-ins read from their embedded files, a user's short
//! file resolves against a built-in, and every kind of mistake is rejected with the line
//! and column that caused it and what is allowed.

use teardown_model::builtins::{Expect, builtin, builtin_names, builtins};
use teardown_model::stack::{IsnPolicy, TimeWaitRst};
use teardown_model::stack_file::{
    StackFileError, embedded_names, embedded_text, parse, tick_rounding, to_toml,
};
use teardown_model::system::{
    P_OLD_ACCEPTED, PROPERTIES, PROPERTY_IDS, TeardownModel, W_LOST_FINAL_ACK, WITNESSES,
};

fn err(text: &str) -> StackFileError {
    match parse("my.toml", text) {
        Ok(r) => panic!("accepted: {:?}", r.spec.stack),
        Err(e) => e,
    }
}

/// Asserts the error is at `line:column` and mentions every one of `words`.
fn assert_err(text: &str, line: usize, column: usize, words: &[&str]) {
    let e = err(text);
    assert_eq!(
        (e.line, e.column),
        (line, column),
        "position of: {e}\n(text:\n{text})"
    );
    for w in words {
        assert!(e.message.contains(w), "`{w}` not in: {e}");
    }
    // The rendered error shows the file, the position and the offending line.
    let shown = e.to_string();
    assert!(
        shown.starts_with(&format!("my.toml:{line}:{column}: ")),
        "{shown}"
    );
}

const ZEPHYR_LIKE: &str = r#"schema = 1
name = "zephyr-like"
extends = "rfc9293+rfc1337"
[timers]
msl = "2s"
time_wait = "250ms"
rto = "200ms"
[behaviour]
isn = "arbitrary"
[bounds]
tick = "250ms"
"#;

#[test]
fn every_builtin_is_an_embedded_file_that_resolves_and_checks() {
    let names: Vec<&str> = embedded_names().collect();
    assert_eq!(names.len(), builtins().len());
    assert_eq!(builtin_names(), names);
    for b in builtins() {
        assert!(embedded_text(&b.stack.name).is_some());
        // A built-in states every property's verdict: the table in VERDICTS.md has no
        // blank cells.
        let stated: Vec<&str> = b.expect.iter().map(|(n, _)| *n).collect();
        assert_eq!(stated, PROPERTIES, "{}", b.stack.name);
        assert!(!b.witnesses.is_empty(), "{}", b.stack.name);
        TeardownModel::new(b.stack.clone(), b.bounds)
            .unwrap_or_else(|e| panic!("{}: {e}", b.stack.name));
    }
    // Inheritance: freebsd is linux with two knobs changed and linux's bounds.
    let (linux, freebsd) = (builtin("linux").unwrap(), builtin("freebsd").unwrap());
    assert_eq!(freebsd.stack.timers.msl_ms, linux.stack.timers.msl_ms);
    assert_eq!(freebsd.stack.timers.fin_wait_2_ms, None);
    assert_eq!(freebsd.stack.behaviour.time_wait_rst, TimeWaitRst::Ignored);
    assert_eq!(freebsd.bounds, linux.bounds);
}

#[test]
fn property_ids_are_unique_and_cover_every_property_and_witness() {
    let mut ids: Vec<&str> = PROPERTY_IDS.iter().map(|(i, _)| *i).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), PROPERTIES.len() + WITNESSES.len());
    for n in PROPERTIES.iter().chain(WITNESSES.iter()) {
        assert!(PROPERTY_IDS.iter().any(|(_, m)| m == n), "{n}");
    }
}

#[test]
fn a_ten_line_file_extends_a_builtin_and_overrides_what_it_names() {
    let r = parse("zephyr-like.toml", ZEPHYR_LIKE).unwrap_or_else(|e| panic!("{e}"));
    let base = builtin("rfc9293+rfc1337").unwrap();
    let s = &r.spec.stack;
    assert_eq!(s.name, "zephyr-like");
    assert_eq!(r.extends, vec!["rfc9293+rfc1337", "rfc9293"]);
    assert_eq!(s.timers.msl_ms, 2000);
    assert_eq!(s.timers.time_wait_ms, Some(250));
    assert_eq!(s.timers.rto_ms, 200);
    assert_eq!(s.behaviour.isn, IsnPolicy::Arbitrary);
    // Everything not named is the base's.
    assert_eq!(
        s.behaviour.time_wait_rst,
        base.stack.behaviour.time_wait_rst
    );
    assert_eq!(s.timers.max_retries, base.stack.timers.max_retries);
    assert_eq!(r.spec.bounds.losses, base.bounds.losses);
    assert_eq!(r.spec.bounds.tick_ms, 250);
    // Expectations are not inherited: none stated, so every property must hold.
    assert!(r.spec.expect.is_empty() && r.spec.witnesses.is_empty());
    // RTO 200 ms in ticks of 250 ms is rounded up, and the rounding is said.
    let notes = tick_rounding(s, r.spec.bounds.tick_ms);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].starts_with("timers.rto = 200ms is 0.800 ticks of 250ms: rounded up"));
    assert!(!notes[0].contains("confirm"), "within a quarter: {notes:?}");
    // Rounded to 3.33 times its length: the note says a counterexample may turn on it.
    let coarse = tick_rounding(s, 1000);
    let rto = coarse.iter().find(|n| n.starts_with("timers.rto")).unwrap();
    assert!(rto.contains("checked at 5.00x its length — confirm a counterexample that turns on it at a tick that divides 200ms"), "{rto}");
}

#[test]
fn expectations_in_a_file_are_read_by_id() {
    let text = format!(
        "{ZEPHYR_LIKE}[expect]\nold-segment-never-accepted = \"violated\"\nwitnesses = [\"lost-final-ack-recovered\"]\n"
    );
    let r = parse("z.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.spec.expect, vec![(P_OLD_ACCEPTED, Expect::Violated)]);
    assert_eq!(r.spec.witnesses, vec![W_LOST_FINAL_ACK]);
}

#[test]
fn resolved_descriptions_print_as_files_that_read_back_the_same() {
    for b in builtins()
        .into_iter()
        .chain([parse("z.toml", ZEPHYR_LIKE).unwrap().spec])
    {
        let name = format!("{}-copy", b.stack.name);
        let text = to_toml(&b, &[]).replacen(
            &format!("name = \"{}\"", b.stack.name),
            &format!("name = \"{name}\""),
            1,
        );
        let back = parse("shown.toml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let mut again = back.spec;
        again.stack.name = b.stack.name.clone();
        assert_eq!(again.stack, b.stack, "{text}");
        assert_eq!(again.bounds, b.bounds);
        assert_eq!(again.expect, b.expect);
        assert_eq!(again.witnesses, b.witnesses);
        assert!(back.extends.is_empty());
    }
}

#[test]
fn a_summary_with_control_characters_shows_as_a_file_that_reads_back() {
    let text = ZEPHYR_LIKE.replacen(
        "schema = 1\n",
        "schema = 1\nsummary = \"tab\\there, quote \\\" and \\u0001 too\"\n",
        1,
    );
    let r = parse("z.toml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(r.spec.stack.summary, "tab\there, quote \" and \u{1} too");
    let shown = to_toml(&r.spec, &r.extends).replace("name = \"zephyr-like\"", "name = \"z2\"");
    let back = parse("shown.toml", &shown).unwrap_or_else(|e| panic!("{e}\n{shown}"));
    assert_eq!(back.spec.stack.summary, r.spec.stack.summary);
}

#[test]
fn syntax_errors_unknown_keys_and_wrong_types_point_at_the_key() {
    assert_err(
        "schema = 1\nname = \"x\"\nextends = \"linux\n",
        3,
        17,
        &["expected `\""],
    );
    assert_err(
        "schema = 1\nname = \"x\"\nextends = \"linux\"\n[timers]\ntime_wiat = \"1s\"\n",
        5,
        1,
        &["unknown field `time_wiat`", "time_wait"],
    );
    assert_err(
        "schema = 1\nname = \"x\"\nextends = \"linux\"\ncolour = \"blue\"\n",
        4,
        1,
        &["unknown field `colour`"],
    );
    assert_err(
        "schema = 1\nname = \"x\"\nextends = \"linux\"\n[behaviour]\ntimestamps = \"yes\"\n",
        5,
        14,
        &["invalid type", "bool"],
    );
    assert_err(
        "schema = 1\nname = \"x\"\nextends = \"linux\"\n[behaviour]\nrst_check = \"strict\"\n",
        5,
        13,
        &["unknown variant `strict`", "in-window", "exact"],
    );
    assert_err(
        "schema = 1\nname = \"x\"\nextends = \"linux\"\n[expect]\nfinal-ack-recovered = \"maybe\"\n",
        5,
        23,
        &["unknown variant `maybe`", "holds", "violated"],
    );
    assert_err(
        "schema = 1\nname = \"x\"\nextends = \"linux\"\n[expect]\nwitnesses = [\"paws\"]\n",
        5,
        14,
        &["unknown witness `paws`", "old-segment-rejected-by-paws"],
    );
}

/// The caret under the offending column repeats the line's tabs before it, so that it lands
/// under the column whatever width the terminal gives a tab.
#[test]
fn the_caret_lands_under_the_column_on_lines_indented_with_tabs() {
    let e = err(
        "schema = 1\nname = \"x\"\nextends = \"linux\"\n[behaviour]\n\t\trst_check = \"strict\"\n",
    );
    assert_eq!((e.line, e.column), (5, 15), "{e}");
    let shown = e.to_string();
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(
        lines.get(2),
        Some(&"5 | \t\trst_check = \"strict\""),
        "{shown}"
    );
    assert_eq!(lines.get(3), Some(&"  | \t\t            ^"), "{shown}");
    // Without tabs, spaces alone.
    let e = err("schema = 1\nname = \"x\"\nextends = \"linux\"\ncolour = \"blue\"\n");
    assert!(e.to_string().ends_with("  | ^"), "{e}");
}

#[test]
fn durations_need_units_and_sane_values() {
    let with = |timers: &str| {
        format!("schema = 1\nname = \"x\"\nextends = \"linux\"\n[timers]\n{timers}\n")
    };
    assert_err(&with("time_wait = 60"), 5, 13, &["needs a unit", "\"60s\""]);
    assert_err(&with("msl = \"0s\""), 5, 7, &["timers.msl", "out of range"]);
    assert_err(&with("msl = \"none\""), 5, 7, &["cannot be \"none\""]);
    assert_err(&with("rto = \"3 fortnights\""), 5, 7, &["unknown unit"]);
    assert_err(
        &with("max_retries = 300"),
        5,
        15,
        &["out of range: 0 to 15"],
    );
    assert_err(&with("max_retries = -1"), 5, 15, &["out of range"]);
    let host = |h: &str| format!("schema = 1\nname = \"x\"\nextends = \"linux\"\n[host]\n{h}\n");
    assert_err(
        &host("ephemeral_ports = \"60999-32768\""),
        5,
        19,
        &["LO-HI", "1 <= LO <= HI <= 65535"],
    );
    assert_err(&host("ephemeral_ports = \"0-100\""), 5, 19, &["LO-HI"]);
    assert_err(&host("ephemeral_ports = 32768"), 5, 19, &["invalid type"]);
    let bounds =
        |b: &str| format!("schema = 1\nname = \"x\"\nextends = \"linux\"\n[bounds]\n{b}\n");
    assert_err(
        &bounds("losses = 7"),
        5,
        10,
        &["bounds.losses = 7", "0 to 6"],
    );
    assert_err(&bounds("incarnations = 0"), 5, 16, &["1 to 4"]);
    assert_err(&bounds("tick = \"2h\""), 5, 8, &["at most 1h"]);
}

#[test]
fn schema_name_and_extends_are_checked_first() {
    assert_err(
        "name = \"x\"\nextends = \"linux\"\n",
        1,
        1,
        &["missing `schema = 1`"],
    );
    assert_err(
        "schema = 2\nname = \"x\"\n",
        1,
        10,
        &["schema 2 is not known", "schema 1"],
    );
    assert_err(
        "schema = 1\nextends = \"linux\"\n",
        1,
        1,
        &["missing `name"],
    );
    assert_err(
        "schema = 1\nname = \"my stack\"\n",
        2,
        8,
        &["letters, digits"],
    );
    assert_err(
        "schema = 1\nname = \"linux\"\nextends = \"linux\"\n",
        2,
        8,
        &["built-in's name"],
    );
    assert_err(
        "schema = 1\nname = \"x\"\nextends = \"lunix\"\n",
        3,
        11,
        &["`lunix` is none of", "linux", "rfc9293+rfc1337"],
    );
    assert_err(
        "schema = 1\nname = \"x\"\n[timers]\nmsl = \"1s\"\n",
        1,
        1,
        &[
            "without `extends` sets every knob",
            "timers.time_wait",
            "bounds.tick",
        ],
    );
}

#[test]
fn contradictions_and_ticks_that_cannot_represent_the_timers_are_refused() {
    // TIME-WAIT shorter than the inherited tick of 1 min: at the TIME-WAIT line, with the
    // ticks that would do.
    assert_err(
        "schema = 1\nname = \"x\"\nextends = \"rfc9293+rfc1337\"\n[timers]\nmsl = \"2s\"\ntime_wait = \"250ms\"\n",
        6,
        13,
        &[
            "TIME-WAIT is 250 ms, shorter than one tick",
            "use a tick between 32 ms (MSL 2000 ms in at most 64 ticks) and 250 ms (TIME-WAIT at least one tick)",
        ],
    );
    // No tick fits MSL 2 min and TIME-WAIT 250 ms: said, with what to change.
    assert_err(
        "schema = 1\nname = \"x\"\nextends = \"rfc9293+rfc1337\"\n[timers]\ntime_wait = \"250ms\"\n[bounds]\ntick = \"250ms\"\n",
        7,
        8,
        &["480 ticks", "no tick fits", "shorten MSL"],
    );
    // A FIN-WAIT-2 shorter than the tick: at the FIN-WAIT-2 line, though the advice names
    // TIME-WAIT too.
    assert_err(
        "schema = 1\nname = \"x\"\nextends = \"linux\"\n[timers]\ntime_wait = \"60s\"\nfin_wait_2 = \"100ms\"\n",
        6,
        14,
        &["the FIN-WAIT-2 timeout is 100 ms"],
    );
    // Reuse of TIME-WAIT 4-tuples without saying whether PAWS protects it.
    assert_err(
        "schema = 1\nname = \"x\"\nextends = \"linux\"\n[behaviour]\ntime_wait_reuse = true\n",
        5,
        19,
        &["say whether timestamps are on", "RFC 6191"],
    );
}

#[test]
fn nothing_panics_on_mangled_files() {
    // Every prefix of every built-in file and of a user file: an error or a description,
    // never a panic.
    let texts: Vec<String> = embedded_names()
        .map(|n| {
            embedded_text(n)
                .unwrap()
                .replace(&format!("name = \"{n}\""), "name = \"u\"")
        })
        .chain([ZEPHYR_LIKE.to_string()])
        .collect();
    for t in &texts {
        for cut in (0..t.len()).filter(|&i| t.is_char_boundary(i)) {
            let _ = parse("cut.toml", &t[..cut]);
        }
    }
}
