//! Damaged captures, crafted from valid ones: each yields its precise error (what, byte
//! offset, record or block index, what was expected), and the packets before the damage
//! are still read.

use std::io::Write;
use std::path::Path;

use teardown_conformance::capture::{CaptureError, CaptureErrorKind, ErrorUnit};
use teardown_conformance::ingest::{FileSummary, ingest};
use teardown_conformance::report::{EXIT_UNREADABLE, exit_status};

fn trace(rel: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../traces/third-party")
        .join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// 5 records, pcap little-endian µs, Ethernet.
fn pcap() -> Vec<u8> {
    trace("zeek/testing/btest/Traces/tcp/fin_retransmission.pcap")
}

/// 30 blocks: section header, interface description, 27 enhanced packets, statistics.
fn pcapng() -> Vec<u8> {
    trace("pcap-parser/assets/err-buffertoosmall.pcapng")
}

fn read(bytes: &[u8]) -> FileSummary {
    ingest("crafted", bytes, |_, _| {})
}

/// Byte offsets of the pcap records (start of each record header).
fn record_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        offsets.push(at);
        let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        at += 16 + caplen;
    }
    offsets
}

/// Byte offsets of the pcapng blocks.
fn block_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut offsets = Vec::new();
    let mut at = 0;
    while at + 8 <= bytes.len() {
        offsets.push(at);
        at += u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
    }
    offsets
}

fn error(s: &FileSummary) -> &CaptureError {
    s.error.as_ref().expect("an error is reported")
}

#[test]
fn the_valid_originals_read_cleanly() {
    let a = read(&pcap());
    assert_eq!((a.packets, a.tcp_segments, a.error.clone()), (5, 5, None));
    let b = read(&pcapng());
    assert_eq!((b.packets, b.tcp_segments, b.error.clone()), (27, 27, None));
    assert_eq!(block_offsets(&pcapng()).len(), 30);
    assert_eq!(exit_status(&[a, b]), 0);
}

#[test]
fn zero_length_file() {
    let s = read(&[]);
    assert_eq!(
        *error(&s),
        CaptureError {
            offset: 0,
            unit: ErrorUnit::File,
            kind: CaptureErrorKind::Empty
        }
    );
    assert_eq!(s.packets, 0);
    assert_eq!(exit_status(&[s]), EXIT_UNREADABLE);
}

#[test]
fn truncated_global_header() {
    let s = read(&pcap()[..10]);
    assert_eq!(
        *error(&s),
        CaptureError {
            offset: 0,
            unit: ErrorUnit::FileHeader,
            kind: CaptureErrorKind::TruncatedHeader {
                what: "pcap global header",
                have: 10,
                need: 24
            }
        }
    );
    assert_eq!(
        error(&s).to_string(),
        "byte 0 (file header): truncated pcap global header: the file ends after 10 of its 24 bytes"
    );
    // Two bytes of a magic number: truncated, not unknown.
    let t = read(&pcap()[..2]);
    assert!(matches!(
        error(&t).kind,
        CaptureErrorKind::TruncatedHeader {
            what: "magic number",
            have: 2,
            need: 4
        }
    ));
}

#[test]
fn truncated_record_header_keeps_the_records_before() {
    let bytes = pcap();
    let third = record_offsets(&bytes)[2];
    let s = read(&bytes[..third + 9]);
    assert_eq!(
        *error(&s),
        CaptureError {
            offset: third as u64,
            unit: ErrorUnit::Record(3),
            kind: CaptureErrorKind::TruncatedHeader {
                what: "record header",
                have: 9,
                need: 16
            }
        }
    );
    assert_eq!((s.packets, s.tcp_segments, s.connection_count), (2, 2, 1));
}

#[test]
fn record_longer_than_the_file_keeps_the_records_before() {
    let bytes = pcap();
    let fourth = record_offsets(&bytes)[3];
    let caplen = u32::from_le_bytes(bytes[fourth + 8..fourth + 12].try_into().unwrap()) as u64;
    let s = read(&bytes[..fourth + 16 + 5]);
    assert_eq!(
        *error(&s),
        CaptureError {
            offset: fourth as u64,
            unit: ErrorUnit::Record(4),
            kind: CaptureErrorKind::BeyondEndOfFile {
                what: "record",
                declared: 16 + caplen,
                available: 21
            }
        }
    );
    assert_eq!(s.packets, 3);
    // A captured length no record can have is implausible, not merely beyond the end.
    let mut absurd = bytes.clone();
    absurd[fourth + 8..fourth + 12].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
    let s = read(&absurd);
    assert_eq!(
        error(&s).kind,
        CaptureErrorKind::ImplausibleLength {
            what: "record captured",
            declared: 0x7fff_0000,
            limit: 262_144
        }
    );
    assert_eq!(s.packets, 3);
}

#[test]
fn pcapng_block_length_not_a_multiple_of_4() {
    let mut bytes = pcapng();
    let sixth = block_offsets(&bytes)[5];
    let len = u32::from_le_bytes(bytes[sixth + 4..sixth + 8].try_into().unwrap());
    bytes[sixth + 4..sixth + 8].copy_from_slice(&(len + 2).to_le_bytes());
    let s = read(&bytes);
    assert_eq!(
        *error(&s),
        CaptureError {
            offset: sixth as u64,
            unit: ErrorUnit::Block(6),
            kind: CaptureErrorKind::BlockLengthNotMultipleOf4 { declared: len + 2 }
        }
    );
    // Blocks 3, 4 and 5 were packets.
    assert_eq!((s.packets, s.tcp_segments), (3, 3));
}

#[test]
fn pcapng_absurd_block_length() {
    let mut bytes = pcapng();
    let seventh = block_offsets(&bytes)[6];
    bytes[seventh + 4..seventh + 8].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    let s = read(&bytes);
    assert_eq!(
        *error(&s),
        CaptureError {
            offset: seventh as u64,
            unit: ErrorUnit::Block(7),
            kind: CaptureErrorKind::ImplausibleLength {
                what: "block",
                declared: 0xFFFF_FFF0,
                limit: 16 * 1024 * 1024
            }
        }
    );
    assert_eq!(s.packets, 4);
}

#[test]
fn pcapng_block_cut_short_and_lengths_disagreeing() {
    let bytes = pcapng();
    let offsets = block_offsets(&bytes);
    let tenth = offsets[9];
    let s = read(&bytes[..tenth + 40]);
    assert_eq!(error(&s).unit, ErrorUnit::Block(10));
    assert!(matches!(
        error(&s).kind,
        CaptureErrorKind::BeyondEndOfFile {
            what: "block",
            available: 40,
            ..
        }
    ));
    assert_eq!(s.packets, 7);
    let mut mismatch = bytes.clone();
    let end = offsets[10] - 4;
    mismatch[end..end + 4].copy_from_slice(&12345u32.to_le_bytes());
    let s = read(&mismatch);
    assert_eq!(error(&s).unit, ErrorUnit::Block(10));
    assert!(matches!(
        error(&s).kind,
        CaptureErrorKind::BlockLengthMismatch {
            trailing: 12345,
            ..
        }
    ));
    assert_eq!(s.packets, 7);
}

#[test]
fn unknown_magic() {
    let mut bytes = pcap();
    bytes[..4].copy_from_slice(b"GIF8");
    let s = read(&bytes);
    assert_eq!(
        *error(&s),
        CaptureError {
            offset: 0,
            unit: ErrorUnit::File,
            kind: CaptureErrorKind::UnknownMagic {
                magic: "47494638".into()
            }
        }
    );
    assert_eq!(s.packets, 0);
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn gzip_is_read_by_magic_and_a_cut_stream_keeps_what_came_before() {
    let plain = read(&pcapng());
    let zipped = gzip(&pcapng());
    let s = read(&zipped);
    assert_eq!(s.error, None);
    assert_eq!(s.format.as_deref(), Some("gzip pcapng"));
    assert_eq!(
        (s.packets, &s.connections),
        (plain.packets, &plain.connections)
    );
    let cut = read(&zipped[..zipped.len() * 2 / 3]);
    assert!(
        matches!(error(&cut).kind, CaptureErrorKind::Io { .. }),
        "{:?}",
        cut.error
    );
    assert!(cut.packets > 0 && cut.packets < plain.packets);
}
