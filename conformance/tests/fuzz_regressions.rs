//! Inputs the fuzz campaigns found (`conformance/fuzz/campaign.sh`), each run exactly as its
//! target ran it: the targets' bodies are `conformance/fuzz/fuzz_targets/common/mod.rs`,
//! included here. A finding becomes a file under `tests/fuzz/` and a test below before it
//! is fixed.

#[path = "../fuzz/fuzz_targets/common/mod.rs"]
mod common;

/// Found by the `replay` target: a reopening SYN that carried data (TCP Fast Open, which
/// the model does not have: INCONCLUSIVE `unsupported`) and reused a 4-tuple inside the
/// server's TIME-WAIT without timestamps or a higher ISN (VIOLATION `reuse-without-paws`).
/// The incarnation was reported as a violation that also carried an inconclusive reason.
#[test]
fn a_violation_on_an_incarnation_with_unsupported_features_is_a_violation_alone() {
    let input = include_bytes!("fuzz/replay-violation-with-unsupported-syn-data");
    common::replay_case(input);
    // The same traffic tracks cleanly too.
    common::track_case(&input[2..]);
}
