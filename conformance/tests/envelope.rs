//! `teardown envelope`: its default run as a snapshot (a model change that moves a bound
//! shows up in review), the three formats, the chart, the roundings it warns of, and bad usage.

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

/// The envelope sets MSL, RTO and the TIME-WAIT tried from its grid, in whole ticks: of a
/// stack file's roundings it says only those of the timers it leaves to the stack (the
/// FIN-WAIT-2 timeout), on standard error, and not those of timers it does not use.
#[test]
fn envelope_warns_of_the_roundings_it_keeps_and_only_those() {
    let dir = std::env::temp_dir().join(format!("teardown-envelope-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("odd-timers.toml");
    std::fs::write(
        &path,
        "schema = 1\nname = \"odd-timers\"\nextends = \"linux\"\n\
         [timers]\nmsl = \"2300ms\"\nrto = \"700ms\"\nfin_wait_2 = \"2500ms\"\n\
         [bounds]\ntick = \"1s\"\n",
    )
    .unwrap();
    let p = path.to_string_lossy().into_owned();
    // The file's own roundings, all of them, as `stack show` describes them.
    let shown = ok(&["stack", "show", &p]);
    for key in ["timers.msl", "timers.rto", "timers.fin_wait_2"] {
        assert!(shown.contains(&format!("# {key} = ")), "{key}: {shown}");
    }
    let out = teardown(&[
        "envelope", "--stack", &p, "--msl", "2", "--rto", "1", "--losses", "0", "--dups", "0",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains(&format!(
            "teardown envelope: warning: {p}: timers.fin_wait_2 = 2500ms is 2.500 ticks of 1s: rounded down"
        )),
        "{err}"
    );
    for unused in ["timers.msl", "timers.rto", "timers.time_wait"] {
        assert!(!err.contains(unused), "{unused}: {err}");
    }
    // A built-in at its own tick has none; a refused grid gets no account of roundings.
    let out = teardown(&[
        "envelope", "--msl", "2", "--rto", "1", "--losses", "0", "--dups", "0",
    ]);
    assert!(!String::from_utf8(out.stderr).unwrap().contains("warning"));
    let out = teardown(&["envelope", "--stack", &p, "--msl", "0..2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!String::from_utf8(out.stderr).unwrap().contains("warning"));
    std::fs::remove_dir_all(&dir).ok();
}
