//! Users' stack files end to end: the examples under `examples/stacks/` with the verdicts
//! `check` gives (snapshots), `--stack FILE` on every subcommand, `stack show`/`list`, JUnit
//! output of `check`, and invalid files rejected with file, line and column (exit 2).

use std::path::Path;
use std::process::{Command, Output};

use teardown_conformance::check_report::{self, Timings};
use teardown_conformance::stacks;
use teardown_model::builtins::builtin;
use teardown_model::check::{CheckOptions, check, expectations};
use teardown_model::stack_file::parse;
use teardown_model::system::{TeardownModel, TickTimers};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
}

fn teardown(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_teardown"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run teardown")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn checked(path: &str) -> teardown_model::check::CheckReport {
    let loaded =
        stacks::load(&root().join(path).to_string_lossy()).unwrap_or_else(|e| panic!("{e}"));
    let b = &loaded.spec;
    let m = TeardownModel::new(b.stack.clone(), b.bounds).expect("valid");
    check(
        &m,
        Some(&expectations(&b.expect, &b.witnesses)),
        CheckOptions {
            threads: 2,
            max_states: None,
        },
    )
}

/// The Zephyr-like example: a 250 ms TIME-WAIT on a LAN with MSL 2 s. Every verdict is the
/// one its [expect] states, and the snapshot keeps the counterexamples.
#[test]
fn zephyr_like_example_verdicts() {
    let r = checked("examples/stacks/zephyr-like.toml");
    assert!(
        r.as_expected(),
        "{}",
        check_report::human(&r, Timings::Redact)
    );
    insta::assert_snapshot!(
        "example-zephyr-like",
        check_report::human(&r, Timings::Redact)
    );
}

/// The smoltcp example, written from scratch (no `extends`): the built-in smoltcp but for
/// the two knobs its comment names, and the verdicts its [expect] states.
#[test]
fn smoltcp_example_verdicts_and_its_difference_from_the_builtin() {
    let text = std::fs::read_to_string(root().join("examples/stacks/smoltcp.toml")).unwrap();
    let example = parse("smoltcp.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    assert!(example.extends.is_empty());
    let builtin = builtin("smoltcp").unwrap();
    let mut s = example.spec.stack.clone();
    assert_eq!(s.timers.rto_ms, 700);
    assert!(s.behaviour.time_wait_reuse && !s.behaviour.timestamps);
    s.name = builtin.stack.name.clone();
    s.summary = builtin.stack.summary.clone();
    s.timers.rto_ms = builtin.stack.timers.rto_ms;
    s.behaviour.time_wait_reuse = false;
    assert_eq!(s, builtin.stack);
    assert_eq!(example.spec.bounds, builtin.bounds);
    // Both RTOs are one tick of 2.5 s.
    assert_eq!(
        TickTimers::convert(&example.spec.stack, 2500).unwrap().rto,
        TickTimers::convert(&builtin.stack, 2500).unwrap().rto
    );
    let r = checked("examples/stacks/smoltcp.toml");
    assert!(
        r.as_expected(),
        "{}",
        check_report::human(&r, Timings::Redact)
    );
    insta::assert_snapshot!("example-smoltcp", check_report::human(&r, Timings::Redact));
}

#[test]
fn check_junit_has_a_case_per_property_and_failures_with_counterexamples() {
    let out = teardown(&[
        "check",
        "--stack",
        "examples/stacks/zephyr-like.toml",
        "--format",
        "junit",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let xml = text(&out.stdout);
    well_formed(&xml);
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites"));
    assert_eq!(xml.matches("<testcase ").count(), 15);
    assert!(
        xml.contains("<testsuite name=\"zephyr-like\" tests=\"15\" failures=\"0\" errors=\"0\"")
    );
    assert!(xml.contains("name=\"final-ack-recovered: final ACK is always recovered\" classname=\"zephyr-like.always\""));
    // Expected counterexamples are passes that carry the counterexample.
    assert!(xml.contains("<system-out>    shortest counterexample ("));
    // The rounding of the RTO is said on standard error, not in the report.
    assert!(
        text(&out.stderr).contains("warning: examples/stacks/zephyr-like.toml: timers.rto = 200ms")
    );

    // The same stack with its [expect] removed: six failures, each with its counterexample,
    // and exit status 1.
    let dir = tempdir();
    let no_expect = dir.join("zephyr-no-expect.toml");
    let t = std::fs::read_to_string(root().join("examples/stacks/zephyr-like.toml")).unwrap();
    let cut = t.find("[expect]").unwrap();
    std::fs::write(&no_expect, &t[..cut]).unwrap();
    let out = teardown(&[
        "check",
        "--stack",
        &no_expect.to_string_lossy(),
        "--format",
        "junit",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let xml = text(&out.stdout);
    well_formed(&xml);
    assert_eq!(
        xml.matches("<failure message=\"VIOLATED (expected holds)\"")
            .count(),
        6
    );
    assert!(xml.contains("type=\"VIOLATED\">    shortest counterexample ("));

    // A search cut short: every undecided verdict an <error>, counted as such.
    let out = teardown(&[
        "check",
        "--stack",
        "rfc9293+rfc1337",
        "--max-states",
        "2000",
        "--format",
        "junit",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let xml = text(&out.stdout);
    well_formed(&xml);
    let errors = xml.matches("<error ").count();
    let failures = xml.matches("<failure ").count();
    assert!(errors > 0);
    assert!(
        xml.contains(&format!("failures=\"{failures}\" errors=\"{errors}\">")),
        "{xml}"
    );
}

/// Counterexamples and stack names go into the report escaped: it reads back as XML.
fn well_formed(xml: &str) {
    if let Err(e) = roxmltree::Document::parse(xml) {
        panic!("the JUnit report is not well-formed XML: {e}\n{xml}");
    }
}

fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("teardown-stack-files-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn every_subcommand_takes_a_stack_file() {
    let f = "examples/stacks/zephyr-like.toml";
    let out = teardown(&[
        "graph",
        "--stack",
        f,
        "--losses",
        "0",
        "--incarnations",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("states"));
    let out = teardown(&[
        "envelope", "--stack", f, "--msl", "2", "--losses", "0", "--dups", "0", "--tick", "250ms",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let capture = "traces/smoltcp/captures/close-3way.client.pcap";
    let out = teardown(&["replay", "--stack", "examples/stacks/smoltcp.toml", capture]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("stack smoltcp-0.12"),
        "{}",
        text(&out.stdout)
    );
    let out = teardown(&[
        "timewait",
        "--stack",
        "examples/stacks/smoltcp.toml",
        capture,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // The file's TIME-WAIT and port range, not a built-in's.
    let report = text(&out.stdout);
    assert!(
        report.contains("client stack smoltcp-0.12: [host] ephemeral_ports"),
        "{report}"
    );
    assert!(report.contains("49152-65535"), "{report}");
}

#[test]
fn stack_show_prints_a_file_that_reads_back_and_list_names_every_builtin() {
    let out = teardown(&["stack", "show", "examples/stacks/zephyr-like.toml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        shown.contains("time_wait = \"250ms\"                     # 1 tick"),
        "{shown}"
    );
    assert!(
        shown.contains("msl = \"2s\"                              # 8 ticks"),
        "{shown}"
    );
    assert!(shown.contains("# timers.rto = 200ms is 0.800 ticks of 250ms: rounded up"));
    let renamed = shown.replace("name = \"zephyr-like\"", "name = \"zephyr-like-shown\"");
    let back = parse("shown.toml", &renamed).unwrap_or_else(|e| panic!("{e}"));
    let orig = stacks::load(
        &root()
            .join("examples/stacks/zephyr-like.toml")
            .to_string_lossy(),
    )
    .unwrap();
    assert_eq!(back.spec.stack.timers, orig.spec.stack.timers);
    assert_eq!(back.spec.stack.behaviour, orig.spec.stack.behaviour);
    assert_eq!(back.spec.bounds, orig.spec.bounds);

    let out = teardown(&["stack", "show", "linux", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["origin"], "built-in linux");
    assert_eq!(v["ticks"]["time_wait"], 4);
    // Choices are spelled as in the stack file, so that one can be copied to the other.
    let behaviour = &v["spec"]["stack"]["behaviour"];
    assert_eq!(behaviour["isn"], "above-old");
    assert_eq!(behaviour["syn_check"], "challenge-ack");
    assert_eq!(behaviour["syn_in_time_wait"], "reopen-if-newer");
    assert_eq!(v["spec"]["expect"][0][1], "holds");

    let out = teardown(&["stack", "list"]);
    let list = text(&out.stdout);
    for name in teardown_model::builtins::builtin_names() {
        assert!(
            list.lines().any(|l| l.starts_with(&format!("{name} "))),
            "{name}"
        );
    }
}

#[test]
fn invalid_stack_files_exit_2_with_file_line_and_column() {
    let dir = tempdir();
    let cases = [
        (
            "typo.toml",
            "schema = 1\nname = \"x\"\nextends = \"linux\"\n[timers]\ntime_wiat = \"1s\"\n",
            "typo.toml:5:1: unknown field `time_wiat`",
        ),
        (
            "unit.toml",
            "schema = 1\nname = \"x\"\nextends = \"linux\"\n[timers]\nmsl = 30\n",
            "unit.toml:5:7: a duration needs a unit",
        ),
        (
            "msl0.toml",
            "schema = 1\nname = \"x\"\nextends = \"linux\"\n[timers]\nmsl = \"0s\"\n",
            "msl0.toml:5:7: timers.msl",
        ),
        (
            "reuse.toml",
            "schema = 1\nname = \"x\"\nextends = \"linux\"\n[behaviour]\ntime_wait_reuse = true\n",
            "reuse.toml:5:19: time_wait_reuse = true: say whether timestamps are on",
        ),
    ];
    for (file, body, expected) in cases {
        let path = dir.join(file);
        std::fs::write(&path, body).unwrap();
        let p = path.to_string_lossy().into_owned();
        for args in [
            vec!["check", "--stack", &p],
            vec!["stack", "show", &p],
            vec![
                "replay",
                "--stack",
                &p,
                "traces/smoltcp/captures/close-3way.client.pcap",
            ],
        ] {
            let out = teardown(&args);
            assert_eq!(out.status.code(), Some(2), "{args:?}");
            let err = text(&out.stderr);
            assert!(err.contains(expected), "{args:?}: {err}");
            assert!(out.stdout.is_empty(), "{args:?}");
        }
    }
    // A refused tick is refused before any rounding of it is described.
    let out = teardown(&[
        "check",
        "--stack",
        "examples/stacks/zephyr-like.toml",
        "--tick",
        "1s",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(!err.contains("warning"), "{err}");
    assert!(err.contains("use a tick between 32 ms (MSL 2000 ms in at most 64 ticks) and 250 ms (TIME-WAIT at least one tick)"), "{err}");
    // A tick the file inherits that cannot represent its TIME-WAIT: refused where ticks
    // are used, with the position; `--tick` overrides it; replay never uses ticks.
    let tick = dir.join("tick.toml");
    std::fs::write(
        &tick,
        "schema = 1\nname = \"x\"\nextends = \"linux\"\n[timers]\ntime_wait = \"1s\"\n",
    )
    .unwrap();
    let t = tick.to_string_lossy().into_owned();
    let out = teardown(&["check", "--stack", &t]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("tick.toml:5:13: x: TIME-WAIT is 1000 ms, shorter than one tick of 15000 ms"),
        "{err}"
    );
    let out = teardown(&[
        "graph",
        "--stack",
        &t,
        "--tick",
        "1s",
        "--losses",
        "0",
        "--incarnations",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let capture = "traces/smoltcp/captures/close-3way.client.pcap";
    let out = teardown(&["replay", "--stack", &t, capture]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = teardown(&["check", "--stack", "no-such-stack"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unknown stack `no-such-stack`; built-ins: rfc9293,"));
}
