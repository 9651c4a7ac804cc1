//! Connection tracking of plausible TCP traffic: four 4-tuples interleaved, any flags,
//! sequence moves, time steps (backwards too). Every segment is placed, in a connection and
//! an incarnation that exist, and the summary agrees with the placements.
//!
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run connections`.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| common::track_case(data));
