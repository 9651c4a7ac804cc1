//! A SYN flood's report costs little memory per connection: replay holds at most
//! `--max-connections` connections, and the report `teardown replay` writes is rendered
//! connection by connection into a temporary file as they settle. Alone in its test binary,
//! because it reads the process's peak resident set (`VmHWM`), which other tests running
//! beside it would raise.

mod common;

use std::net::SocketAddr;

use common::pcap_of;

use teardown_conformance::oracle::VantageChoice;
use teardown_conformance::replay::{Limits, ReplayOptions, StackChoice, replay_into};
use teardown_conformance::replay_report::{Format, Rendered, RenderedFile, write_rendered};
use teardown_conformance::writer::CapturedSegment;
use teardown_model::builtins::builtin;
use teardown_model::segment::{Flags, Ghost, Segment};

/// The process's peak resident set so far, in KiB (Linux).
fn peak_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `n` SYNs from distinct 4-tuples a millisecond apart, to one server port.
fn flood(n: u32) -> Vec<u8> {
    let syns: Vec<_> = (0..n)
        .map(|k| {
            let host = k / 60_000;
            let port = 1024 + (k % 60_000) as u16;
            let client = SocketAddr::from(([10, 1, (host >> 8) as u8, host as u8], port));
            let syn = CapturedSegment {
                time_ns: 1_750_000_000_000_000_000 + u64::from(k) * 1_000_000,
                from_client: true,
                segment: Segment {
                    flags: Flags::SYN,
                    seq: k.wrapping_mul(7919),
                    ack: 0,
                    len: 0,
                    tsval: None,
                    ghost: Ghost::default(),
                },
                ttl: 64,
            };
            (client, syn)
        })
        .collect();
    pcap_of(&syns)
}

#[test]
fn a_syn_flood_report_costs_bytes_per_connection_not_kilobytes() {
    const SYNS: u32 = 50_000;
    const LIMIT: usize = 200;
    let pcap = flood(SYNS);
    let Some(before) = peak_kib() else {
        eprintln!(
            "SKIPPED a_syn_flood_report_costs_bytes_per_connection_not_kilobytes: no /proc/self/status"
        );
        return;
    };
    let opts = ReplayOptions {
        stack: StackChoice::Named(builtin("linux").expect("built-in").stack),
        vantage: VantageChoice::Auto,
        every_ladder: false,
        threads: 1,
        limits: Limits {
            max_connections: LIMIT,
            ..Limits::default()
        },
    };
    let mut rendered = Rendered::new(Format::Json, false, "flood");
    let outcome = replay_into("flood", &pcap[..], &opts, &mut rendered);
    let grown = peak_kib().unwrap_or(before).saturating_sub(before);
    // Every connection is still reported, in order.
    let spilled = rendered.spilled();
    let mut files = [RenderedFile { outcome, rendered }];
    let mut sink = CountingSink::default();
    write_rendered(Format::Json, &mut files, &mut sink).expect("written");
    let report = files[0].outcome.clone();
    assert_eq!(report.connections, SYNS as usize, "nothing dropped");
    assert_eq!(
        report.evictions.map(|e| e.connections),
        Some(u64::from(SYNS) - LIMIT as u64)
    );
    assert!(
        sink.bytes > spilled,
        "the report holds every connection's piece"
    );
    let per_connection = grown * 1024 / u64::from(SYNS);
    eprintln!(
        "flood of {SYNS} SYNs at --max-connections {LIMIT}: peak grew {grown} KiB ({per_connection} B per connection), report {} MB",
        sink.bytes >> 20
    );
    // Kept whole, the verdicts cost 1.7 KB per connection (85 MB here); rendered as they
    // settle, what stays is the 4-tuple table and a 32-byte index entry per connection.
    assert!(
        per_connection < 600,
        "{per_connection} bytes per connection: the report is not rendered as replay goes"
    );
}

/// Counts what is written, keeping nothing.
#[derive(Default)]
struct CountingSink {
    bytes: u64,
}

impl std::io::Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
