//! Ingestion benchmark: read, decode and track connections of one capture, single-threaded,
//! and print packets/s, MB/s and peak RSS; with `--tshark`, also time
//! `tshark -r FILE -q -z conv,tcp` on the same file in the same run (three times) and print
//! the ratio of the medians. Medians, because this machine is a VM whose neighbours move
//! single runs by ±20 %; the best run is printed beside it.
//!
//! ```text
//! cargo run --release --example ingest_bench -- FILE [--repeat N] [--tshark]
//! ```
//!
//! Peak RSS is the process's high-water mark (`VmHWM` in /proc/self/status, Linux only),
//! so it covers the largest of the repeated runs: it should depend on the number of live
//! connections, not on the size of the file.

use std::fs::File;
use std::io::BufReader;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use teardown_conformance::ingest::ingest;

/// The allocator of the `teardown` binary, so that the numbers are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn time_tshark(path: &str) -> Option<Duration> {
    let start = Instant::now();
    let status = Command::new("tshark")
        .args(["-r", path, "-q", "-z", "conv,tcp"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    status.success().then(|| start.elapsed())
}

/// Sorts `times` and returns the middle one (the lower of the two middles).
fn median(times: &mut [Duration]) -> Option<Duration> {
    times.sort();
    times.get(times.len().saturating_sub(1) / 2).copied()
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut path = None;
    let mut repeat = 3u32;
    let mut tshark = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--repeat" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) if n > 0 => repeat = n,
                _ => {
                    eprintln!("--repeat needs a positive number");
                    return ExitCode::from(2);
                }
            },
            "--tshark" => tshark = true,
            _ => path = Some(a),
        }
    }
    let Some(path) = path else {
        eprintln!("usage: ingest_bench FILE [--repeat N] [--tshark]");
        return ExitCode::from(2);
    };
    let size = match std::fs::metadata(&path) {
        Ok(m) => m.len(),
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::from(2);
        }
    };
    let mut times: Vec<Duration> = Vec::new();
    let mut packets = 0;
    for run in 1..=repeat {
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("{path}: {e}");
                return ExitCode::from(2);
            }
        };
        let start = Instant::now();
        let mut segments = 0u64;
        let summary = ingest(&path, BufReader::with_capacity(1 << 16, file), |_, _| {
            segments += 1;
        });
        let elapsed = start.elapsed();
        if let Some(e) = &summary.error {
            eprintln!("{path}: {e}");
        }
        packets = summary.packets;
        println!(
            "run {run}: {:.3} s, {} packets, {} TCP segments, {} connections, {} incarnations",
            elapsed.as_secs_f64(),
            summary.packets,
            segments,
            summary.connection_count,
            summary.incarnation_count
        );
        times.push(elapsed);
    }
    let (Some(mid), Some(best)) = (median(&mut times), times.first().copied()) else {
        return ExitCode::from(2);
    };
    let rate = |d: Duration| packets as f64 / d.as_secs_f64().max(1e-9);
    let pps = rate(mid);
    println!(
        "ingest (median of {repeat}): {pps:.0} packets/s, {:.1} MB/s (best run {:.0} packets/s), peak RSS {} KiB",
        size as f64 / 1e6 / mid.as_secs_f64().max(1e-9),
        rate(best),
        peak_rss_kib().map_or("unknown".to_string(), |k| k.to_string())
    );
    if tshark {
        let mut runs: Vec<Duration> = (0..3).filter_map(|_| time_tshark(&path)).collect();
        match median(&mut runs) {
            Some(t) => {
                let tpps = rate(t);
                println!(
                    "tshark -q -z conv,tcp (median of {}): {:.3} s, {tpps:.0} packets/s; ingest is {:.1}x faster",
                    runs.len(),
                    t.as_secs_f64(),
                    pps / tpps
                );
            }
            None => println!("tshark: not installed or failed"),
        }
    }
    ExitCode::SUCCESS
}
