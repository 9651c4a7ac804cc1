//! Prints every TCP segment of a capture, one per line, tab-separated:
//! frame, epoch ns, interface, src, dst, flags, seq, ack, payload length, truncated,
//! window, TSval, TSecr, TTL. For comparing with `tshark -T fields` by hand.
//!
//! `cargo run --example segments -- FILE`

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::process::ExitCode;

use teardown_conformance::ingest::ingest;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: segments FILE");
        return ExitCode::from(2);
    };
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::from(2);
        }
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    let summary = ingest(&path, BufReader::new(file), |o, _| {
        let (tsval, tsecr) = o
            .timestamps
            .map(|t| (t.tsval.to_string(), t.tsecr.to_string()))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            o.frame,
            o.timestamp_ns,
            o.interface,
            o.src,
            o.dst,
            o.flags,
            o.seq,
            o.ack,
            o.payload_len,
            u8::from(o.truncated),
            o.window,
            tsval,
            tsecr,
            o.ttl
        );
    });
    let _ = out.flush();
    if let Some(e) = summary.error {
        eprintln!("{path}: {e}");
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}
