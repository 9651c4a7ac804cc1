//! Fuzz input as TCP segments: the bytes choose, per segment, one of four 4-tuples, the
//! direction, flags, sequence and acknowledgment moves, payload length, time step and TTL;
//! [`capture`] writes them as a real pcap (valid Ethernet/IP/TCP, checksums) so that the
//! connection tracker and the oracle see plausible traffic, not only decoder rejects.
//!
//! The targets' bodies live here too ([`track_case`], [`replay_case`]), so that
//! `conformance/tests/fuzz_regressions.rs` runs each input the campaigns found exactly as
//! the target did.

use std::net::SocketAddr;

use teardown_conformance::ingest::ingest;
use teardown_conformance::oracle::ConnectionVerdict;
use teardown_conformance::oracle::{VantageChoice, Verdict};
use teardown_conformance::replay::{
    Collect, Limits, Picks, ReplayOptions, StackChoice, VerdictSink, replay, replay_into,
};
use teardown_conformance::replay_report::{
    Format, Rendered, RenderedFile, to_human, to_json, to_junit, write_rendered,
};
use teardown_conformance::writer::{CapturedSegment, write_pcap};
use teardown_model::builtins::builtins;
use teardown_model::segment::{Flags, Ghost, Segment};

/// Bytes per segment in the input.
const STRIDE: usize = 10;

/// The pcap the input describes, and the number of segments in it.
pub fn capture(data: &[u8]) -> (Vec<u8>, usize) {
    let ipv6 = data.first().is_some_and(|b| b & 1 == 1);
    let endpoint = |host: u8, port: u16| -> SocketAddr {
        if ipv6 {
            format!("[2001:db8::{}]:{port}", host + 1)
                .parse()
                .expect("address")
        } else {
            format!("192.0.2.{}:{port}", host + 1)
                .parse()
                .expect("address")
        }
    };
    // Next sequence number of each side of each 4-tuple, from fixed ISNs.
    let mut next = [[0u32; 2]; 4];
    for (i, n) in next.iter_mut().enumerate() {
        *n = [
            1_000_000 * (i as u32 + 1),
            3_000_000_000u32.wrapping_add(i as u32 * 7),
        ];
    }
    let mut now: u64 = 1_700_000_000_000_000_000;
    let mut out = Vec::new();
    let mut segments = 0;
    for chunk in data.get(1..).unwrap_or_default().chunks_exact(STRIDE) {
        let conn = usize::from(chunk[0] & 3);
        let from_client = chunk[0] & 4 == 0;
        let ttl = if chunk[0] & 8 == 0 { 64 } else { 63 };
        let flags = Flags::from_tcp_header(chunk[1]);
        let seq_move = i16::from_le_bytes([chunk[2], chunk[3]]);
        let ack_move = i16::from_le_bytes([chunk[4], chunk[5]]);
        let len = u32::from(chunk[6]);
        // Time steps from microseconds to minutes (TIME-WAIT and RTO bounds lie in between);
        // a step may also go backwards.
        let step = u64::from(u16::from_le_bytes([chunk[7], chunk[8]]));
        let scale = [1_000, 1_000_000, 100_000_000, 10_000_000_000][usize::from(chunk[9] & 3)];
        if chunk[9] & 4 == 0 {
            now = now.saturating_add(step * scale);
        } else {
            now = now.saturating_sub(step * scale / 8);
        }
        let side = usize::from(!from_client);
        let seq = next[conn][side].wrapping_add(seq_move as i32 as u32);
        let ack = next[conn][1 - side].wrapping_add(ack_move as i32 as u32);
        next[conn][side] = seq
            .wrapping_add(len)
            .wrapping_add(u32::from(flags.contains(Flags::SYN)))
            .wrapping_add(u32::from(flags.contains(Flags::FIN)));
        let seg = CapturedSegment {
            time_ns: now,
            from_client,
            segment: Segment {
                flags,
                seq,
                ack: if flags.contains(Flags::ACK) { ack } else { 0 },
                len,
                tsval: (chunk[9] & 8 != 0).then_some((now / 1_000_000) as u32),
                ghost: Ghost::default(),
            },
            ttl,
        };
        let client = endpoint(conn as u8, 40_000 + conn as u16);
        let server = endpoint(9, 80);
        let mut one = Vec::new();
        if write_pcap(&mut one, client, server, &[seg]).is_err() {
            continue;
        }
        // One pcap per segment, so that 4-tuples interleave: keep the first file header.
        let skip = if out.is_empty() { 0 } else { 24 };
        out.extend_from_slice(one.get(skip..).unwrap_or_default());
        segments += 1;
    }
    (out, segments)
}

/// The `connections` target: every segment is placed, in a connection and an incarnation
/// that exist, and the summary agrees with the placements.
#[allow(dead_code)] // the replay target includes this module without using this body
pub fn track_case(data: &[u8]) {
    let (pcap, segments) = capture(data);
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
        assert!(
            p.incarnation <= highest[p.connection] + 1,
            "incarnations in order"
        );
        highest[p.connection] = highest[p.connection].max(p.incarnation);
    });
    assert_eq!(summary.error, None, "the writer's pcap reads cleanly");
    assert_eq!(placed, segments);
    assert_eq!(summary.connection_count, highest.len());
    let incarnations: usize = highest.iter().map(|h| h + 1).sum();
    assert_eq!(summary.incarnation_count, incarnations);
}

/// Hands every settled connection to the in-memory collector and to a renderer per format.
struct Both(Collect, Vec<Rendered>);

impl VerdictSink for Both {
    fn settled(&mut self, index: usize, verdict: ConnectionVerdict, picks: Picks, first: bool) {
        for r in &mut self.1 {
            r.settled(index, verdict.clone(), picks.clone(), first);
        }
        self.0.settled(index, verdict, picks, first);
    }
}

/// The `replay` target: the first byte chooses the description (a built-in, or `auto`),
/// the vantage and whether every ladder is kept; the second, half the time, small limits;
/// the rest is the traffic. Every incarnation's verdict agrees with its reason, the
/// report rendered as connections settle (what `teardown replay` writes) is the report of
/// the verdicts kept whole, in every format, and (bits 5-6 of the second byte) replayed
/// by 2 to 4 threads the verdicts are those of one.
pub fn replay_case(data: &[u8]) {
    let [choice, limits, rest @ ..] = data else {
        return;
    };
    let (choice, limits) = (*choice, *limits);
    let (pcap, segments) = capture(rest);
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
        threads: 1,
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
    let formats = [Format::Human, Format::Json, Format::Junit];
    let auto = matches!(opts.stack, StackChoice::Auto { .. });
    let mut both = Both(
        Collect::default(),
        formats
            .iter()
            .map(|&f| Rendered::new(f, auto, "fuzz"))
            .collect(),
    );
    let outcome = replay_into("fuzz", &pcap[..], &opts, &mut both);
    let Both(collected, rendered) = both;
    let v = collected.into_verdicts(outcome.clone(), &opts);
    let whole = [
        to_human(std::slice::from_ref(&v)),
        format!(
            "{}\n",
            to_json(std::slice::from_ref(&v)).expect("serialisable")
        ),
        to_junit(std::slice::from_ref(&v)),
    ];
    for ((format, r), whole) in formats.into_iter().zip(rendered).zip(whole) {
        let mut files = [RenderedFile {
            outcome: outcome.clone(),
            rendered: r,
        }];
        let mut out = Vec::new();
        write_rendered(format, &mut files, &mut out).expect("rendered");
        assert!(
            out == whole.as_bytes(),
            "{format:?} report rendered as replay went differs"
        );
    }
    // Shared among threads (`--jobs` over one file), the connections get the same verdicts.
    let threads = usize::from(limits >> 5 & 3) + 1;
    if threads > 1 {
        let several = ReplayOptions {
            threads,
            ..opts.clone()
        };
        let w = replay("fuzz", &pcap[..], &several);
        assert!(
            format!("{w:?}") == format!("{v:?}"),
            "replayed by {threads} threads, the verdicts differ"
        );
    }
    assert_eq!(v.ingest.error, None);
    if let Some(e) = v.evictions {
        assert!(e.open <= e.connections && e.connections > 0, "{e:?}");
    }
    for c in &v.connections {
        assert!(!c.incarnations.is_empty());
        for i in &c.incarnations {
            assert_eq!(
                i.violation.is_some(),
                i.verdict == Verdict::Violation,
                "{i:?}"
            );
            assert_eq!(
                i.inconclusive.is_some(),
                i.verdict == Verdict::Inconclusive,
                "{i:?}"
            );
        }
    }
}
