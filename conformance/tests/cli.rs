//! The command line cannot break silently: help, version, every subcommand's help,
//! and the exit status of bad usage, run against the built `teardown` binary.

use std::process::{Command, Output};

fn teardown(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_teardown"))
        .args(args)
        .output()
        .expect("the teardown binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn help_lists_every_subcommand() {
    let out = teardown(&["--help"]);
    assert!(out.status.success());
    let text = stdout(&out);
    for sub in [
        "check", "replay", "graph", "envelope", "timewait", "explore", "stack",
    ] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(sub)),
            "--help does not list `{sub}`:\n{text}"
        );
    }
}

#[test]
fn version_names_the_crate_version() {
    let out = teardown(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        stdout(&out).trim(),
        format!("teardown {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn every_subcommand_has_help_with_examples() {
    for sub in [
        "check", "replay", "graph", "envelope", "timewait", "explore", "stack",
    ] {
        let out = teardown(&[sub, "--help"]);
        assert!(out.status.success(), "`{sub} --help` failed");
        let text = stdout(&out);
        assert!(
            text.contains("Examples:"),
            "`{sub} --help` has no examples:\n{text}"
        );
        assert!(text.contains(&format!("teardown {sub}")), "{text}");
    }
}

#[test]
fn unknown_flag_is_bad_usage_with_status_2() {
    let out = teardown(&["check", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--no-such-flag"));
}

#[test]
fn unknown_subcommand_is_bad_usage_with_status_2() {
    let out = teardown(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn check_of_the_safe_reference_meets_every_expectation() {
    let out = teardown(&["check", "--stack", "rfc9293+rfc1337", "--threads", "1"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("final ACK is always recovered"), "{text}");
    assert!(!text.contains("EXPECTED"), "{text}");
}

#[test]
fn check_of_an_unsafe_stack_prints_a_counterexample_and_still_exits_0() {
    // The violation is the expected verdict of no-time-wait: exit 0, with the trace.
    let out = teardown(&["check", "--stack", "no-time-wait"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("shortest counterexample"), "{text}");
    assert!(text.contains("closed-reset"), "{text}");
}

#[test]
fn check_exits_1_when_a_verdict_differs_from_the_expectation() {
    // With one incarnation the required witness "a new incarnation is established" and
    // the expected violations of reuse cannot be found.
    let out = teardown(&[
        "check",
        "--stack",
        "tw-reuse-without-timestamps",
        "--incarnations",
        "1",
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("(EXPECTED found)"), "{text}");
    assert!(text.contains("(EXPECTED VIOLATED)"), "{text}");
}

#[test]
fn check_json_is_an_array_of_reports() {
    let out = teardown(&["check", "--stack", "linux", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    let r = &v[0];
    assert_eq!(r["stack"], "linux");
    assert!(r["unique"].as_u64().unwrap_or(0) > 1000);
    assert_eq!(r["as_expected"], true);
    assert!(r["verdicts"].as_array().is_some_and(|a| a.len() >= 6));
}

#[test]
fn check_rejects_bad_usage_with_status_2() {
    for args in [
        vec!["check"],
        vec!["check", "--stack", "no-such-stack"],
        vec!["check", "--stack", "linux", "--tick", "0s"],
        vec!["check", "--stack", "linux", "--tick", "1ms"],
        vec!["check", "--stack", "linux", "--losses", "99"],
        vec!["check", "--stack", "linux", "--threads", "0"],
    ] {
        let out = teardown(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}: no message");
    }
}

#[test]
fn timewait_rejects_bad_usage_with_status_2() {
    let burst = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../traces/linux/captures/burst.client.pcap"
    );
    for args in [
        vec!["timewait"],
        vec!["timewait", "--port-range", "60999-32768", burst],
        vec!["timewait", "--port-range", "0-10", burst],
        vec!["timewait", "--port-range", "1024", burst],
        vec!["timewait", "--stack", "no-such-stack", burst],
        vec!["timewait", "--plot", "chart.gif", burst],
    ] {
        let out = teardown(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}: no message");
    }
}

#[test]
fn timewait_csv_has_one_row_per_pair() {
    let burst = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../traces/linux/captures/burst.client.pcap"
    );
    let out = teardown(&[
        "timewait",
        "--format",
        "csv",
        "--port-range",
        "1024-65535",
        burst,
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(
        rows[1].starts_with("client,192.0.2.2,198.51.100.2,5001,linux,2000,2000,60.000,2000,"),
        "{text}"
    );
    assert!(rows[1].contains(",1024,65535,64512,"), "{text}");
}

#[test]
fn check_emits_captures_and_diagrams_that_replay_closes_the_loop_on() {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli_emit");
    let _ = std::fs::remove_dir_all(&dir);
    let d = dir.to_str().expect("utf-8 path");
    let out = teardown(&[
        "check",
        "--stack",
        "no-time-wait",
        "--emit-pcap",
        d,
        "--diagram",
        d,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let stem = dir
        .join("no-time-wait")
        .join("final-ack-is-always-recovered");
    let svg = std::fs::read_to_string(stem.with_extension("svg")).expect("the ladder");
    assert!(svg.contains("no-time-wait: final ACK is always recovered — counterexample"));
    assert!(
        svg.contains("fill=\"#fdecea\""),
        "the breaking step is highlighted"
    );
    // Witnesses are written too.
    assert!(
        dir.join("no-time-wait")
            .join("simultaneous-close-through-closing.server.pcapng")
            .exists()
    );
    let client = stem.with_extension("client.pcapng");
    let client = client.to_str().expect("utf-8 path");
    // Under a stack that forbids it: a violation (exit 1), the rule named.
    let out = teardown(&["replay", "--stack", "rfc9293+rfc1337", client]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("rule time-wait-fin-reacked"),
        "{}",
        stdout(&out)
    );
    // Under the stack itself: conforming, with the hazard listed, and its diagram.
    let diagrams = dir.join("replayed");
    let out = teardown(&[
        "replay",
        "--stack",
        "no-time-wait",
        "--diagram",
        diagrams.to_str().expect("utf-8 path"),
        client,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("hazard fin-answered-by-rst"),
        "{}",
        stdout(&out)
    );
    let svg = std::fs::read_to_string(
        diagrams
            .join("final-ack-is-always-recovered.client.pcapng")
            .join("192-0-2-1-40000-198-51-100-1-5001.0.svg"),
    )
    .expect("the replay's ladder");
    assert!(svg.contains("hazard fin-answered-by-rst"), "{svg}");
}

#[test]
fn replay_diagram_all_needs_diagram() {
    let out = teardown(&["replay", "--diagram-all", "x.pcap"]);
    assert_eq!(out.status.code(), Some(2));
}

/// A reader that stops early (`| head`, `| grep -m1`) ends the output quietly: no panic
/// on the closed pipe, whichever subcommand wrote it.
#[test]
fn a_closed_pipe_ends_the_output_without_a_panic() {
    use std::io::Read;
    use std::process::Stdio;
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    for args in [
        &["replay", "--connections", "traces/linux/captures"][..],
        &["replay", "traces/smoltcp/captures"][..],
        &["graph", "--stack", "rfc9293", "--format", "dot"][..],
        &["stack", "show", "linux"][..],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_teardown"))
            .args(args)
            .current_dir(root)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut first = [0u8; 1];
        child
            .stdout
            .take()
            .expect("stdout")
            .read_exact(&mut first)
            .expect("some output");
        // The read end is dropped here: the rest of the output meets a closed pipe.
        let out = child.wait_with_output().expect("wait");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// A directory without a single capture is an input that could not be judged, not an
/// empty success: exit 2, said per directory, for replay and for --connections.
#[test]
fn a_directory_without_captures_is_unreadable_not_empty() {
    let dir = std::env::temp_dir().join(format!("teardown-no-captures-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "not a capture").unwrap();
    let d = dir.to_string_lossy().into_owned();
    for args in [vec!["replay", &d], vec!["replay", "--connections", &d]] {
        let out = teardown(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stdout(&out).contains("a directory with no capture files in it"),
            "{args:?}"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("1 file(s) under the directories given are not captures"),
            "{err}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
