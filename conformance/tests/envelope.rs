//! `teardown envelope`: its default run as a snapshot (a model change that moves a bound
//! shows up in review), the three formats, the chart, and bad usage.

use std::process::{Command, Output};

fn teardown(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_teardown"))
        .args(args)
        .output()
        .expect("the teardown binary runs")
}

fn ok(args: &[&str]) -> String {
    let out = teardown(args);
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8(out.stdout).expect("UTF-8")
}

#[test]
fn default_envelope_of_rfc9293() {
    insta::assert_snapshot!("envelope-rfc9293-default", ok(&["envelope"]));
}

#[test]
fn envelope_with_arbitrary_isn_and_traces() {
    insta::assert_snapshot!(
        "envelope-rfc9293-arbitrary-isn",
        ok(&[
            "envelope",
            "--isn",
            "arbitrary",
            "--msl",
            "3",
            "--rto",
            "2",
            "--losses",
            "1",
            "--dups",
            "0",
            "--traces",
        ])
    );
}

#[test]
fn csv_and_json_agree() {
    let args = [
        "envelope", "--stack", "linux", "--rto", "1", "--losses", "0..1", "--dups", "0",
    ];
    let csv = ok(&[&args[..], &["--format", "csv"]].concat());
    let json: serde_json::Value =
        serde_json::from_str(&ok(&[&args[..], &["--format", "json"]].concat())).expect("JSON");
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    let points = json["points"].as_array().expect("points");
    assert_eq!(rows.len(), points.len());
    assert_eq!(points.len(), 2 * 4, "2 loss budgets × 4 variants");
    for (row, p) in rows.iter().zip(points) {
        let cols: Vec<&str> = row.split(',').collect();
        assert_eq!(cols[0], "linux");
        assert_eq!(cols[4], p["losses"].to_string());
        let ticks = p["final_ack"]["ticks"].as_u64().map(|t| t.to_string());
        assert_eq!(Some(cols[8].to_string()), ticks);
    }
}

#[test]
fn plot_is_an_svg_chart() {
    let dir = std::env::temp_dir().join(format!("teardown-envelope-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("envelope.svg");
    let path = file.to_str().expect("UTF-8 path");
    ok(&[
        "envelope", "--losses", "0..2", "--dups", "0", "--plot", path,
    ]);
    let svg = std::fs::read_to_string(&file).expect("chart written");
    std::fs::remove_dir_all(&dir).ok();
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
    for text in [
        "final ACK recovered",
        "old segment not accepted",
        "2×MSL",
        "ts- 1337+",
        "losses tolerated",
    ] {
        assert!(svg.contains(text), "the chart shows `{text}`");
    }
    assert!(svg.contains("<circle"), "bounds are drawn as points");
}

#[test]
fn bad_usage_exits_2_with_a_reason() {
    for args in [
        &["envelope", "--msl", "0..2"][..],
        &["envelope", "--msl", "3..1"][..],
        &["envelope", "--msl", "1..99"][..],
        &["envelope", "--losses", "x"][..],
        &["envelope", "--stack", "nope"][..],
        &["envelope", "--tick", "0s"][..],
        &["envelope", "--threads", "0"][..],
        &["envelope", "--max-time-wait", "0"][..],
        &[
            "envelope", "--msl", "1..16", "--rto", "1..16", "--losses", "0..3",
        ][..],
    ] {
        let out = teardown(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(!out.stderr.is_empty(), "{args:?} says why");
    }
}
