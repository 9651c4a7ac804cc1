//! Reading, decoding and connection tracking of arbitrary bytes as a capture: no input may
//! panic, hang or grow memory beyond its size.
//!
//! `cargo fuzz run ingest` (nightly), or `RUSTC_BOOTSTRAP=1 cargo fuzz run ingest`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use teardown_conformance::capture::LinkType;
use teardown_conformance::decode::decode_frame;
use teardown_conformance::ingest::ingest;

fuzz_target!(|data: &[u8]| {
    // The whole pipeline, as `teardown replay --connections` runs it.
    let summary = ingest("fuzz", data, |_, _| {});
    // Bytes after the first one as a single frame of the link type it names: reaches the
    // link-layer decoders without needing a valid file around them.
    if let Some((&link, frame)) = data.split_first() {
        let link_types = [0, 1, 10, 12, 14, 101, 108, 113, 129, 228, 229, 239, 276];
        let link_type = LinkType(link_types[usize::from(link) % link_types.len()]);
        let _ = decode_frame(link_type, frame, frame.len() as u32 + u32::from(link));
    }
    let _ = summary;
});
