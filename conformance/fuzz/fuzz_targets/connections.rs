//! Connection tracking of plausible TCP traffic: four 4-tuples interleaved, any flags,
//! sequence moves, time steps (backwards too). Every segment is placed, in a connection and
//! an incarnation that exist, and the summary agrees with the placements.
//!
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run connections`.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use teardown_conformance::ingest::ingest;

fuzz_target!(|data: &[u8]| {
    let (pcap, segments) = common::capture(data);
    if segments == 0 {
        return;
    }
    let mut placed = 0usize;
    let mut highest: Vec<usize> = Vec::new();
    let summary = ingest("fuzz", &pcap[..], |_, p| {
        placed += 1;
        if p.connection >= highest.len() {
            assert_eq!(p.connection, highest.len(), "connections numbered in order");
            highest.push(p.incarnation);
        }
        assert!(p.incarnation <= highest[p.connection] + 1, "incarnations in order");
        highest[p.connection] = highest[p.connection].max(p.incarnation);
    });
    assert_eq!(summary.error, None, "the writer's pcap reads cleanly");
    assert_eq!(placed, segments);
    assert_eq!(summary.connection_count, highest.len());
    let incarnations: usize = highest.iter().map(|h| h + 1).sum();
    assert_eq!(summary.incarnation_count, incarnations);
});
