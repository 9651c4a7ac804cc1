//! Reading and decoding never panic: arbitrary bytes, arbitrary bytes behind each magic
//! number, and valid captures with random byte mutations and cuts. Reading is also
//! deterministic, and a damaged file never reports more frames than were delivered.

use std::path::Path;

use proptest::prelude::*;
use teardown_conformance::capture::{LinkType, Record, read_capture};
use teardown_conformance::decode::decode_frame;
use teardown_conformance::ingest::{FileSummary, ingest};

fn trace(rel: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../traces/third-party")
            .join(rel),
    )
    .expect("trace is readable")
}

/// Small valid captures of different formats and link types.
fn originals() -> Vec<Vec<u8>> {
    [
        "zeek/testing/btest/Traces/tcp/fin_retransmission.pcap",
        "pcap-parser/assets/err-buffertoosmall.pcapng",
        "PcapPlusPlus/Tests/Pcap++Test/PcapExamples/nanosecs_big_endian.pcap",
        "zeek/testing/btest/Traces/nflog-http.pcap",
        "arkime/tests/pcap/gtp-iphone.pcap",
        "tcpdump/tests/arcnet-rfc1051-arp-icmp-http.pcap",
    ]
    .iter()
    .map(|p| trace(p))
    .collect()
}

fn read(bytes: &[u8]) -> FileSummary {
    ingest("prop", bytes, |_, _| {})
}

const MAGICS: [[u8; 4]; 7] = [
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0x4d, 0x3c, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
    [0x34, 0xcd, 0xb2, 0xa1],
    [0x0a, 0x0d, 0x0d, 0x0a],
    [0x1f, 0x8b, 0x08, 0x00],
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let s = read(&bytes);
        prop_assert_eq!(&s, &read(&bytes));
    }

    #[test]
    fn arbitrary_bytes_behind_a_magic_never_panic(
        magic in 0..MAGICS.len(),
        body in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let mut bytes = MAGICS[magic].to_vec();
        bytes.extend_from_slice(&body);
        let _ = read(&bytes);
    }

    #[test]
    fn mutated_captures_never_panic(
        which in 0..6usize,
        mutations in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16),
        cut in any::<prop::sample::Index>(),
        do_cut in any::<bool>(),
    ) {
        let mut bytes = originals().swap_remove(which);
        for (at, value) in mutations {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if do_cut {
            let keep = cut.index(bytes.len() + 1);
            bytes.truncate(keep);
        }
        let mut delivered = 0u64;
        // Every record, packet or not, is a frame.
        let outcome = read_capture(&bytes[..], |_: &Record<'_>| delivered += 1);
        prop_assert_eq!(outcome.frames, delivered);
        let _ = read(&bytes);
    }

    #[test]
    fn decoding_arbitrary_frames_never_panics(
        link in prop::sample::select(vec![0u32, 1, 10, 12, 14, 101, 108, 113, 129, 228, 229, 239, 276, 274]),
        data in proptest::collection::vec(any::<u8>(), 0..256),
        extra in 0u32..2000,
    ) {
        let _ = decode_frame(LinkType(link), &data, data.len() as u32 + extra);
    }
}
