//! Hostile captures: what an attacker or a broken tool can put in a file. None may crash,
//! hang or exhaust memory, and nothing is dropped silently: a SYN flood of many 4-tuples is
//! held to `--max-connections` with every connection still reported; nesting, extension
//! chains and option lists that loop or overrun are skipped with their reason or decoded;
//! snapshot lengths of 0 and 2^32-1, clocks that jump back or by years, and one 4-tuple
//! reused thousands of times are all read and judged.

mod common;

use std::net::SocketAddr;

use common::pcap_of;

use teardown_conformance::capture::LinkType;
use teardown_conformance::decode::{SkipReason, decode_frame};
use teardown_conformance::ingest::ingest;
use teardown_conformance::oracle::{Inconclusive, VantageChoice, Verdict};
use teardown_conformance::replay::{FileVerdicts, Limits, ReplayOptions, StackChoice, replay};
use teardown_conformance::writer::CapturedSegment;
use teardown_model::builtins::builtin;
use teardown_model::segment::{Flags, Ghost, Segment};

const T0: u64 = 1_750_000_000_000_000_000;
const MS: u64 = 1_000_000;

fn options(limits: Limits) -> ReplayOptions {
    ReplayOptions {
        stack: StackChoice::Named(builtin("linux").expect("built-in").stack),
        vantage: VantageChoice::Auto,
        every_ladder: false,
        threads: 1,
        limits,
    }
}

fn seg(
    time_ns: u64,
    from_client: bool,
    flags: Flags,
    seq: u32,
    ack: u32,
    len: u32,
) -> CapturedSegment {
    CapturedSegment {
        time_ns,
        from_client,
        segment: Segment {
            flags,
            seq,
            ack,
            len,
            tsval: None,
            ghost: Ghost::default(),
        },
        ttl: if from_client { 64 } else { 63 },
    }
}

fn client(n: u32) -> SocketAddr {
    let host = n / 60_000;
    let port = 1024 + (n % 60_000) as u16;
    SocketAddr::from(([10, 0, (host >> 8) as u8, host as u8], port))
}

#[test]
fn a_syn_flood_is_held_to_max_connections_and_every_connection_is_still_reported() {
    const FLOOD: u32 = 20_000;
    const LIMIT: usize = 1_000;
    let segments: Vec<_> = (0..FLOOD)
        .map(|n| {
            (
                client(n),
                seg(
                    T0 + u64::from(n) * MS,
                    true,
                    Flags::SYN,
                    n.wrapping_mul(7919),
                    0,
                    0,
                ),
            )
        })
        .collect();
    let pcap = pcap_of(&segments);
    let v = replay(
        "flood",
        &pcap[..],
        &options(Limits {
            max_connections: LIMIT,
            ..Limits::default()
        }),
    );
    assert_eq!(v.ingest.error, None);
    assert_eq!(v.connections.len(), FLOOD as usize, "nothing dropped");
    let e = v.evictions.expect("the limit was reached and reported");
    assert_eq!(e.limit, LIMIT);
    assert_eq!(
        e.first_frame,
        LIMIT as u64 + 1,
        "reached with the first connection past it"
    );
    // Half-open connections are never closed: every one let go is open, and marked so.
    assert_eq!(e.open, e.connections);
    let evicted = incarnations(&v)
        .filter(|i| i.inconclusive == Some(Inconclusive::Evicted))
        .count() as u64;
    assert_eq!(evicted, e.connections);
    assert!(e.connections >= u64::from(FLOOD) - LIMIT as u64, "{e:?}");
    // The rest ended with the capture, open: INCONCLUSIVE for that reason, none judged.
    assert!(incarnations(&v).all(|i| i.verdict == Verdict::Inconclusive));
    let text = teardown_conformance::replay_report::to_human_limited(std::slice::from_ref(&v), 0);
    assert!(
        text.contains("LIMIT --max-connections 1000 reached at frame 1001"),
        "{text}"
    );
}

fn incarnations(
    v: &FileVerdicts,
) -> impl Iterator<Item = &teardown_conformance::oracle::IncarnationVerdict> {
    v.connections.iter().flat_map(|c| c.incarnations.iter())
}

/// Eviction prefers connections whose close completed: their verdicts stand.
#[test]
fn eviction_lets_closed_connections_go_first_with_their_verdicts() {
    let mut segments = Vec::new();
    let mut t = T0;
    // 300 complete connections, then 300 half-open ones, under a limit of 200.
    for n in 0..600u32 {
        let c = client(n);
        let (ci, si) = (n * 1000, 5_000_000 + n * 1000);
        t += MS;
        segments.push((c, seg(t, true, Flags::SYN, ci, 0, 0)));
        if n < 300 {
            for (dt, from_client, flags, seq, ack) in [
                (1, false, Flags::SYN | Flags::ACK, si, ci + 1),
                (1, true, Flags::ACK, ci + 1, si + 1),
                (1, true, Flags::FIN | Flags::ACK, ci + 1, si + 1),
                (1, false, Flags::FIN | Flags::ACK, si + 1, ci + 2),
                (1, true, Flags::ACK, ci + 2, si + 2),
            ] {
                t += dt * MS;
                segments.push((c, seg(t, from_client, flags, seq, ack, 0)));
            }
        }
    }
    let v = replay(
        "mixed",
        &pcap_of(&segments)[..],
        &options(Limits {
            max_connections: 200,
            ..Limits::default()
        }),
    );
    let e = v.evictions.expect("reported");
    assert!(e.connections > 0);
    let closed: Vec<_> = v.connections[..300]
        .iter()
        .flat_map(|c| &c.incarnations)
        .collect();
    assert!(
        closed.iter().all(|i| i.verdict == Verdict::Conforming),
        "closed connections keep their verdicts when let go"
    );
    assert_eq!(
        incarnations(&v)
            .filter(|i| i.inconclusive == Some(Inconclusive::Evicted))
            .count() as u64,
        e.open
    );
}

/// One 4-tuple, opened and closed 2000 times a minute and a second apart (past Linux's
/// TIME-WAIT): 2000 incarnations, each judged.
#[test]
fn a_four_tuple_reused_thousands_of_times() {
    const TIMES: u32 = 2_000;
    let c = client(1);
    let mut segments = Vec::new();
    for n in 0..TIMES {
        let t = T0 + u64::from(n) * 61_000 * MS;
        let (ci, si) = (n.wrapping_mul(200_000), 7_000_000 + n.wrapping_mul(200_000));
        for (k, (from_client, flags, seq, ack)) in [
            (true, Flags::SYN, ci, 0),
            (false, Flags::SYN | Flags::ACK, si, ci + 1),
            (true, Flags::ACK, ci + 1, si + 1),
            (true, Flags::FIN | Flags::ACK, ci + 1, si + 1),
            (false, Flags::FIN | Flags::ACK, si + 1, ci + 2),
            (true, Flags::ACK, ci + 2, si + 2),
        ]
        .into_iter()
        .enumerate()
        {
            segments.push((c, seg(t + k as u64 * MS, from_client, flags, seq, ack, 0)));
        }
    }
    let v = replay(
        "reused",
        &pcap_of(&segments)[..],
        &options(Limits::default()),
    );
    assert_eq!(v.connections.len(), 1);
    let incs = &v.connections[0].incarnations;
    assert_eq!(incs.len(), TIMES as usize);
    assert!(
        incs.iter().all(|i| i.verdict == Verdict::Conforming),
        "{:?}",
        incs.iter().find(|i| i.verdict != Verdict::Conforming)
    );
}

/// A clock that jumps back an hour and forward ten years mid-connection: read in file
/// order, counted, judged without a panic.
#[test]
fn timestamps_that_go_back_or_jump_years() {
    let c = client(2);
    let year = 365 * 24 * 3600 * 1_000 * MS;
    let segments = [
        (c, seg(T0, true, Flags::SYN, 100, 0, 0)),
        (c, seg(T0 + MS, false, Flags::SYN | Flags::ACK, 900, 101, 0)),
        (c, seg(T0 - 3_600_000 * MS, true, Flags::ACK, 101, 901, 0)),
        (
            c,
            seg(T0 + 10 * year, true, Flags::FIN | Flags::ACK, 101, 901, 0),
        ),
        (
            c,
            seg(
                T0 + 10 * year + MS,
                false,
                Flags::FIN | Flags::ACK,
                901,
                102,
                0,
            ),
        ),
        (
            c,
            seg(T0 + 10 * year + 2 * MS, true, Flags::ACK, 102, 902, 0),
        ),
    ];
    let pcap = pcap_of(&segments);
    let s = ingest("clock", &pcap[..], |_, _| {});
    assert_eq!(s.packets, 6);
    assert_eq!(s.timestamps_backwards, 1);
    let v = replay("clock", &pcap[..], &options(Limits::default()));
    assert_eq!(v.connections.len(), 1);
    assert!(!v.connections[0].incarnations.is_empty());
}

/// An IPv4/TCP packet (no link layer) with the given TCP options.
fn ipv4_tcp(options: &[u8]) -> Vec<u8> {
    assert_eq!(options.len() % 4, 0);
    let tcp_len = 20 + options.len();
    let total = 20 + tcp_len;
    let mut p = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        0,
        0x40,
        0,
        64,
        6,
        0,
        0,
        10,
        0,
        0,
        1,
        10,
        0,
        0,
        2,
    ];
    p.extend_from_slice(&[0x04, 0xd2, 0, 80, 0, 0, 0, 100, 0, 0, 0, 0]);
    p.push(((tcp_len / 4) as u8) << 4);
    p.extend_from_slice(&[0x02, 0xff, 0xff, 0, 0, 0, 0]);
    p.extend_from_slice(options);
    p
}

#[test]
fn vlan_tags_nested_a_hundred_deep_are_skipped_as_too_deep() {
    let mut frame = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    for _ in 0..100 {
        frame.extend_from_slice(&[0x81, 0x00, 0x00, 0x01]);
    }
    frame.extend_from_slice(&[0x08, 0x00]);
    frame.extend_from_slice(&ipv4_tcp(&[]));
    let r = decode_frame(LinkType(1), &frame, frame.len() as u32);
    assert_eq!(r.err(), Some(SkipReason::TooDeep));
    // Within the bound, the same packet decodes.
    let mut two = vec![
        2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x88, 0xa8, 0, 1, 0x81, 0, 0, 2, 8, 0,
    ];
    two.extend_from_slice(&ipv4_tcp(&[]));
    assert!(decode_frame(LinkType(1), &two, two.len() as u32).is_ok());
}

#[test]
fn mpls_label_stacks_without_a_bottom_end_as_truncated() {
    let mut frame = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x88, 0x47];
    for _ in 0..10_000 {
        frame.extend_from_slice(&[0, 0, 0x10, 64]); // bottom-of-stack bit never set
    }
    let r = decode_frame(LinkType(1), &frame, frame.len() as u32);
    assert_eq!(r.err(), Some(SkipReason::Truncated("MPLS label stack")));
}

#[test]
fn a_long_ipv6_extension_header_chain_is_decoded_or_named_never_a_panic() {
    const HEADERS: usize = 200;
    let tcp = &ipv4_tcp(&[])[20..];
    let payload_len = HEADERS * 8 + tcp.len();
    let mut p = vec![
        0x60,
        0,
        0,
        0,
        (payload_len >> 8) as u8,
        payload_len as u8,
        0,
        64,
    ];
    p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    for k in 0..HEADERS {
        // Destination options (60), each 8 octets of PadN; the last names TCP (6).
        let next = if k + 1 == HEADERS { 6 } else { 60 };
        p.extend_from_slice(&[next, 0, 1, 4, 0, 0, 0, 0]);
    }
    p.extend_from_slice(tcp);
    match decode_frame(LinkType(101), &p, p.len() as u32) {
        Ok(s) => assert_eq!(s.dst_port, 80),
        Err(reason) => assert!(
            matches!(reason, SkipReason::Malformed(_) | SkipReason::Truncated(_)),
            "{reason:?}"
        ),
    }
}

#[test]
fn tcp_options_that_loop_or_overrun_are_stepped_over() {
    for options in [
        // Length 0 (a naive parser loops forever on it), then padding.
        vec![8, 0, 0, 0, 1, 1, 1, 1],
        // Length 1: shorter than the option's own header.
        vec![3, 1, 1, 1],
        // A timestamps option claiming 40 octets in an 8-octet option space.
        vec![8, 40, 0, 0, 0, 0, 0, 0],
        // Every option space filled with NOPs but no end: fine.
        vec![1; 40],
    ] {
        let p = ipv4_tcp(&options);
        match decode_frame(LinkType(101), &p, p.len() as u32) {
            Ok(s) => {
                assert_eq!(s.dst_port, 80);
                assert_eq!(s.timestamps, None, "{options:?}");
            }
            Err(reason) => assert!(matches!(reason, SkipReason::Malformed(_)), "{reason:?}"),
        }
    }
}

/// Snapshot lengths of 0 and 2^32-1 in the file header: frames are read by their own
/// captured length either way.
#[test]
fn snapshot_lengths_zero_and_maximal() {
    let segments = [(client(3), seg(T0, true, Flags::SYN, 1, 0, 0))];
    let pcap = pcap_of(&segments);
    for snaplen in [0u32, u32::MAX] {
        let mut p = pcap.clone();
        p[16..20].copy_from_slice(&snaplen.to_le_bytes());
        let s = ingest("snaplen", &p[..], |_, _| {});
        assert_eq!(s.error, None, "snaplen {snaplen}");
        assert_eq!((s.packets, s.tcp_segments), (1, 1), "snaplen {snaplen}");
    }
    // A record that captured nothing of its packet: counted, skipped with its reason.
    let mut p = pcap.clone();
    let caplen = u32::from_le_bytes(p[32..36].try_into().expect("4 bytes"));
    p[32..36].copy_from_slice(&0u32.to_le_bytes());
    p.truncate(40);
    let s = ingest("empty record", &p[..], |_, _| {});
    assert_eq!(s.error, None);
    assert_eq!((s.packets, s.tcp_segments), (1, 0));
    assert_eq!(
        s.skipped_total(),
        1,
        "{:?} (original length {caplen})",
        s.skipped
    );
}
