//! Full replay of plausible TCP traffic under every built-in description and vantage
//! choice: no panic, no hang, and every connection gets a verdict per incarnation with its
//! reason.
//!
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run replay`.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| common::replay_case(data));
