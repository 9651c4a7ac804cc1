//! `teardown timewait` against what the kernel itself reported: the Linux burst capture
//! was recorded while `ss -tan state time-wait` counted the client's TIME-WAIT sockets
//! every half second (traces/linux/captures/burst.timewait.csv).

mod common;

use std::path::Path;

use common::traces_dir;
use teardown_conformance::oracle::VantageChoice;
use teardown_conformance::replay::{FileVerdicts, ReplayOptions, StackChoice, replay_path};
use teardown_conformance::timewait::{self, TimeWaitOptions, TimeWaitReport};
use teardown_model::builtins::builtin;

const NS: f64 = 1e9;

fn replay(relative: &str) -> FileVerdicts {
    let fallback = builtin("rfc9293").expect("rfc9293 is built in").stack;
    let opts = ReplayOptions {
        stack: StackChoice::Auto { fallback },
        vantage: VantageChoice::Auto,
        every_ladder: false,
        threads: 1,
        limits: Default::default(),
    };
    replay_path(&traces_dir().join(relative), &opts)
}

fn report(relative: &str) -> TimeWaitReport {
    timewait::analyse(&[replay(relative)], &TimeWaitOptions::default())
}

/// (unix time ns, TIME-WAIT sockets) as `ss` counted them.
fn ss_samples() -> Vec<(i64, usize)> {
    let path = traces_dir().join("linux/captures/burst.timewait.csv");
    let text = std::fs::read_to_string(&path).expect("burst.timewait.csv is committed");
    text.lines()
        .skip(1)
        .map(|l| {
            let (t, n) = l.split_once(',').expect("time,count");
            let t: f64 = t.parse().expect("a unix time");
            ((t * NS).round() as i64, n.parse().expect("a count"))
        })
        .collect()
}

/// How late Linux may really release a TIME-WAIT socket: its timer sits in the timer
/// wheel, which rounds a 60 s timeout up to the granularity of its level (kernel/time/
/// timer.c: at HZ=1000, level 4 covers 32.8 s to 262 s in steps of 4096 jiffies).
const LINUX_TIMER_SLACK_NS: i64 = 4_096_000_000;
/// How long one `ss` run takes to walk the sockets after its timestamp was taken.
const SAMPLE_SKEW_NS: i64 = 50_000_000;

#[test]
fn burst_time_wait_counts_match_what_ss_recorded() {
    let v = replay("linux/captures/burst.client.pcap");
    let spans: Vec<(i64, i64)> = v
        .connections
        .iter()
        .flat_map(|c| &c.incarnations)
        .flat_map(|i| &i.time_wait)
        .map(|s| (s.from_ns, s.until_ns))
        .collect();
    assert_eq!(spans.len(), 2000, "every connection leaves one TIME-WAIT");
    let report = timewait::analyse(std::slice::from_ref(&v), &TimeWaitOptions::default());
    let row = &report.pairs[0];
    let in_tw = |t: i64, slack: i64| {
        spans
            .iter()
            .filter(|&&(from, until)| from <= t && t < until + slack)
            .count()
    };
    let samples = ss_samples();
    assert!(samples.len() > 150, "the CSV covers the whole burst");
    let last_release = spans.iter().map(|s| s.1).min().expect("spans");
    let mut exact = 0;
    for &(t, ss) in &samples {
        // The model's TIME-WAITs, as of a moment within the sample's skew, with the
        // kernel's timer slack allowed at the end of each.
        let lo = in_tw(t - SAMPLE_SKEW_NS, 0);
        let hi = in_tw(t + SAMPLE_SKEW_NS, LINUX_TIMER_SLACK_NS);
        assert!(
            lo <= ss && ss <= hi,
            "at {:.3} s ss counted {ss} TIME-WAIT sockets; the replay says {lo} to {hi}",
            t as f64 / NS
        );
        // The report's own series agrees with the spans it was built from.
        assert_eq!(row.count_at(t), in_tw(t, 0));
        if t < last_release {
            // Before the first release there is no slack to allow: the ramp and the hold
            // must agree within the sampling skew alone.
            assert!(ss.abs_diff(in_tw(t, 0)) <= 2, "at {t}: ss {ss}");
            exact += 1;
        }
    }
    assert!(
        exact > 100,
        "most samples fall before the first release: {exact}"
    );
    assert_eq!(row.peak, 2000);
    assert_eq!(row.holder_role, "client");
    assert_eq!(row.ports, 28232);
    assert_eq!(row.time_wait_s, 60.0);
    assert!((row.sustainable_rate_per_s - 470.53).abs() < 0.01);
    let rate = row.observed_rate_per_s.expect("2000 openings");
    assert!((rate - 100.0).abs() < 1.0, "paced at 100/s: {rate}");
    assert_eq!(row.exhaustion_after_s, None, "100/s is below 470/s");
    assert_eq!(row.single_request, 2000);
}

#[test]
fn burst_report_is_stable() {
    let r = report("linux/captures/burst.client.pcap");
    insta::assert_snapshot!("timewait-burst-human", timewait::to_human(&r));
    insta::assert_snapshot!("timewait-burst-csv", timewait::to_csv(&r));
}

#[test]
fn a_narrow_port_range_is_exhausted_at_the_observed_rate() {
    let opts = TimeWaitOptions {
        port_range: Some((40000, 40999)),
        stack: None,
    };
    let r = timewait::analyse(&[replay("linux/captures/burst.client.pcap")], &opts);
    let row = &r.pairs[0];
    assert_eq!(row.ports, 1000);
    // 1000 ports / 60 s sustain 16.7 connections/s; at 100/s they last 10 s.
    assert!((row.sustainable_rate_per_s - 16.67).abs() < 0.01);
    let t = row.exhaustion_after_s.expect("100/s exceeds 16.7/s");
    assert!((t - 10.0).abs() < 0.2, "{t}");
    assert!(
        row.peak_utilisation_pct > 100.0,
        "the capture had more than the range"
    );
    assert!(
        r.findings
            .iter()
            .any(|f| f.contains("every port is in TIME-WAIT after 10 s")),
        "{:?}",
        r.findings
    );
}

#[test]
fn the_server_closing_first_holds_the_time_wait() {
    let r = report("linux/captures/close-server-first.client.pcap");
    assert_eq!(r.pairs.len(), 1);
    assert_eq!(r.pairs[0].holder_role, "server");
    assert!(
        r.findings
            .iter()
            .any(|f| f.contains("the server closes first in 1 of 1 connections")),
        "{:?}",
        r.findings
    );
}

#[test]
fn an_rst_that_ends_time_wait_is_counted_as_assassination() {
    let r = report("linux/captures/tw-rst-rfc1337-0.client.pcap");
    let row = &r.pairs[0];
    assert_eq!((row.holder_role, row.ended_by_rst), ("client", 1));
    assert!(
        r.findings
            .iter()
            .any(|f| f.contains("TIME-WAIT assassination"))
    );
}

#[test]
fn a_syn_that_reopens_time_wait_ends_it_and_is_judged_by_paws() {
    let r = report("linux/captures/syn-to-server-timewait-ts1.client.pcap");
    let server = r
        .pairs
        .iter()
        .find(|p| p.holder_role == "server")
        .expect("the server held TIME-WAIT");
    assert_eq!((server.reopened, server.reuse_with_paws), (1, 1));
    assert!(
        r.findings
            .iter()
            .any(|f| f.contains("reuse inside TIME-WAIT observed 1 time(s), protected by PAWS"))
    );
}

/// A reopening the description forbids — the client ran `tcp_tw_reuse=1`, `linux` (picked by
/// `auto`) has the default — is still a TIME-WAIT ended by a new SYN and a reuse PAWS
/// protected, and the reopened incarnation's own TIME-WAIT counts: replay goes on past the
/// violation as the stack did. (Stopped at it, this report saw one TIME-WAIT and no reuse.)
#[test]
fn a_reopening_the_description_forbids_still_counts_as_reuse_and_time_wait() {
    let r = report("linux/captures/tw-reuse1-ts1.client.pcap");
    let client = r
        .pairs
        .iter()
        .find(|p| p.holder_role == "client")
        .expect("the client held TIME-WAIT");
    assert_eq!(
        (
            client.connections,
            client.time_waits,
            client.reopened,
            client.reuse_with_paws
        ),
        (2, 2, 1, 1)
    );
    assert!(
        r.findings
            .iter()
            .any(|f| f.contains("reuse inside TIME-WAIT observed 1 time(s), protected by PAWS"))
    );
}

#[test]
fn without_timestamps_tw_reuse_is_not_recommended() {
    let r = report("linux/captures/tw-reuse1-ts0.client.pcap");
    assert!(
        r.findings
            .iter()
            .any(|f| f.contains("would not be protected by PAWS"))
    );
    assert!(
        !r.recommendations
            .iter()
            .any(|x| x.check.contains("tw-reuse-with-timestamps")),
        "{:?}",
        r.recommendations
    );
    let r = report("linux/captures/burst.client.pcap");
    assert!(
        r.recommendations
            .iter()
            .any(|x| x.check == "teardown check --stack tw-reuse-with-timestamps")
    );
}

#[test]
fn the_chart_draws_every_top_pair_as_svg_and_png() {
    let r = report("linux/captures/burst.client.pcap");
    let svg = timewait::plot_svg(&r).expect("an SVG");
    assert!(svg.contains("sockets in TIME-WAIT over time"), "caption");
    assert!(svg.contains("client 192.0.2.2"), "legend");
    assert!(svg.contains("<polyline"), "a series");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let png = dir.join("timewait-burst.png");
    timewait::plot_png(&r, &png).expect("a PNG");
    let bytes = std::fs::read(&png).expect("written");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "PNG magic");
    assert!(
        bytes.len() > 10_000,
        "more than a blank image: {}",
        bytes.len()
    );
    let empty = report("linux/captures/linger0-abort.client.pcap");
    assert!(empty.pairs.is_empty());
    assert!(
        timewait::plot_svg(&empty).is_err(),
        "nothing to plot is an error"
    );
}

/// Feeds settled connections both to the collector `replay` uses and to the analysis.
struct Both(
    teardown_conformance::replay::Collect,
    timewait::TimeWaitAnalysis,
);

impl teardown_conformance::replay::VerdictSink for Both {
    fn settled(
        &mut self,
        index: usize,
        verdict: teardown_conformance::oracle::ConnectionVerdict,
        picks: teardown_conformance::replay::Picks,
        first: bool,
    ) {
        self.1.settled(index, verdict.clone(), picks.clone(), first);
        self.0.settled(index, verdict, picks, first);
    }
}

/// `teardown timewait` counts connections as replay settles them, per file, several files
/// at once: the report is the one of all the verdicts kept whole — whatever the order the
/// connections settled in, files replayed in parallel, a limit letting connections go.
#[test]
fn the_analysis_fed_as_connections_settle_is_the_analysis_of_the_whole() {
    use teardown_conformance::replay::{Limits, replay_paths_into};
    use timewait::TimeWaitAnalysis;
    // The smoltcp scenarios (reuse, RST in TIME-WAIT, both sides holding it) and the Linux
    // burst of 2000 connections.
    let mut paths = vec![traces_dir().join("linux/captures/burst.client.pcap")];
    common::captures(&traces_dir().join("smoltcp"), &mut paths);
    assert!(paths.len() > 50, "{}", paths.len());
    for max_connections in [Limits::default().max_connections, 3] {
        let opts = ReplayOptions {
            stack: StackChoice::Auto {
                fallback: builtin("rfc9293").expect("built in").stack,
            },
            vantage: VantageChoice::Auto,
            every_ladder: false,
            threads: 1,
            limits: Limits {
                max_connections,
                ..Limits::default()
            },
        };
        let mut kept = Vec::new();
        let mut fed = TimeWaitAnalysis::default();
        for (outcome, Both(collected, analysis)) in replay_paths_into(&paths, &opts, 2, |_| {
            Both(Default::default(), TimeWaitAnalysis::default())
        }) {
            fed.add_outcome(&outcome, analysis);
            kept.push(collected.into_verdicts(outcome, &opts));
        }
        let whole = timewait::analyse(&kept, &TimeWaitOptions::default());
        let fed = fed.report(&TimeWaitOptions::default());
        assert_eq!(
            timewait::to_json(&fed).expect("json"),
            timewait::to_json(&whole).expect("json")
        );
        assert!(
            whole.connections >= 2000 && whole.pairs.len() > 1,
            "{whole:?}"
        );
        // The small limit is hit, and said.
        assert_eq!(
            !whole.evictions.is_empty(),
            max_connections == 3,
            "{:?}",
            whole.evictions
        );
        let text = timewait::to_human(&fed);
        assert_eq!(
            text.contains("LIMIT --max-connections 3 reached in"),
            max_connections == 3,
            "{text}"
        );
    }
}
