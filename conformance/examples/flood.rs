//! Writes a SYN flood: `N` SYNs from `N` distinct 4-tuples (clients 10.x.y.z, ports 1024 to
//! 61023), ten microseconds apart, to 192.0.2.1:80, as a raw-IP pcap. For measuring what
//! `teardown replay --max-connections` holds under a flood (`bench/run.sh`, part `flood`).
//!
//! ```text
//! cargo run --release -p teardown-conformance --example flood -- 1000000 flood.pcap
//! ```

use std::io::Write;
use std::process::ExitCode;

/// pcap's raw IP link type (LINKTYPE_RAW).
const LINKTYPE_RAW: u32 = 101;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(n), Some(path)) = (
        args.first().and_then(|n| n.parse::<u32>().ok()),
        args.get(1),
    ) else {
        eprintln!("usage: flood N OUT.pcap   (N SYNs from N distinct 4-tuples)");
        return ExitCode::from(2);
    };
    match write(n, path) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flood: {path}: {e}");
            ExitCode::from(2)
        }
    }
}

fn write(n: u32, path: &str) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    // pcap header: magic (microseconds), version 2.4, zone, sigfigs, snaplen, link type.
    out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
    out.write_all(&2u16.to_le_bytes())?;
    out.write_all(&4u16.to_le_bytes())?;
    out.write_all(&[0; 8])?;
    out.write_all(&65_535u32.to_le_bytes())?;
    out.write_all(&LINKTYPE_RAW.to_le_bytes())?;
    for k in 0..n {
        let host = k / 60_000;
        let src = [10, (host >> 16) as u8, (host >> 8) as u8, host as u8];
        let dst = [192, 0, 2, 1];
        let sport = 1024 + (k % 60_000) as u16;
        let seq = k.wrapping_mul(7919);
        let mut tcp = [0u8; 20];
        tcp[0..2].copy_from_slice(&sport.to_be_bytes());
        tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
        tcp[4..8].copy_from_slice(&seq.to_be_bytes());
        tcp[12] = 5 << 4;
        tcp[13] = 0x02; // SYN
        tcp[14..16].copy_from_slice(&64_240u16.to_be_bytes());
        let mut pseudo = Vec::with_capacity(32);
        pseudo.extend_from_slice(&src);
        pseudo.extend_from_slice(&dst);
        pseudo.extend_from_slice(&[0, 6, 0, 20]);
        pseudo.extend_from_slice(&tcp);
        tcp[16..18].copy_from_slice(&checksum(&pseudo).to_be_bytes());
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&40u16.to_be_bytes());
        ip[4..6].copy_from_slice(&(k as u16).to_be_bytes());
        ip[8] = 64;
        ip[9] = 6;
        ip[12..16].copy_from_slice(&src);
        ip[16..20].copy_from_slice(&dst);
        let sum = checksum(&ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        let micros = u64::from(k) * 10;
        let secs = 1_700_000_000 + (micros / 1_000_000) as u32;
        out.write_all(&secs.to_le_bytes())?;
        out.write_all(&((micros % 1_000_000) as u32).to_le_bytes())?;
        out.write_all(&40u32.to_le_bytes())?;
        out.write_all(&40u32.to_le_bytes())?;
        out.write_all(&ip)?;
        out.write_all(&tcp)?;
    }
    out.flush()
}

/// The Internet checksum (RFC 1071).
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum >> 16) + (sum & 0xffff);
    }
    !(sum as u16)
}
