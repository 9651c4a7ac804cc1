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
    for sub in ["check", "replay", "graph"] {
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
    for sub in ["check", "replay", "graph"] {
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
