//! Full replay of plausible TCP traffic under every built-in description and vantage
//! choice: no panic, no hang, and every connection gets a verdict per incarnation with its
//! reason.
//!
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run replay`.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use teardown_conformance::oracle::{VantageChoice, Verdict};
use teardown_conformance::replay::{Limits, ReplayOptions, StackChoice, replay};
use teardown_model::builtins::builtins;

fuzz_target!(|data: &[u8]| {
    let [choice, limits, rest @ ..] = data else {
        return;
    };
    let (choice, limits) = (*choice, *limits);
    let (pcap, segments) = common::capture(rest);
    if segments == 0 {
        return;
    }
    let all = builtins();
    let stack = if choice & 0x80 != 0 {
        StackChoice::Auto {
            fallback: all[0].stack.clone(),
        }
    } else {
        StackChoice::Named(all[usize::from(choice & 0x0f) % all.len()].stack.clone())
    };
    let vantage = [
        VantageChoice::Auto,
        VantageChoice::Client,
        VantageChoice::Server,
        VantageChoice::Middle,
    ][usize::from(choice >> 5 & 3)];
    let opts = ReplayOptions {
        stack,
        vantage,
        every_ladder: choice & 0x10 != 0,
        // Small limits half the time, so that eviction and the hypothesis bound are hit.
        limits: if limits & 0x80 != 0 {
            Limits {
                max_connections: usize::from(limits & 3) + 1,
                max_hypotheses: usize::from(limits >> 2 & 0x1f) + 1,
            }
        } else {
            Limits::default()
        },
    };
    let v = replay("fuzz", &pcap[..], &opts);
    assert_eq!(v.ingest.error, None);
    if let Some(e) = v.evictions {
        assert!(e.open <= e.connections && e.connections > 0, "{e:?}");
    }
    for c in &v.connections {
        assert!(!c.incarnations.is_empty());
        for i in &c.incarnations {
            assert_eq!(i.violation.is_some(), i.verdict == Verdict::Violation, "{i:?}");
            assert_eq!(i.inconclusive.is_some(), i.verdict == Verdict::Inconclusive, "{i:?}");
        }
    }
});
