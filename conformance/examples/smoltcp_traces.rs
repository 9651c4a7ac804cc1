//! Writes `traces/smoltcp/captures/`: smoltcp teardowns over an impaired in-memory link,
//! a pcap at each interface and a ground-truth file per pcap, bit for bit the same on
//! every run (the `smoltcp_traces` test checks that the committed files are).
//!
//! `cargo run --release -p teardown-conformance --example smoltcp_traces -- traces/smoltcp/captures`
//!
//! After writing, every truth file is checked against the captures beside it, and the
//! README table rows are printed.

#![forbid(unsafe_code)]

#[path = "smoltcp/mod.rs"]
mod traces;

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: smoltcp_traces DIR   (normally traces/smoltcp/captures)");
        return ExitCode::from(2);
    };
    let artifacts = match traces::generate() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("generation failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = fs::create_dir_all(&dir) {
        eprintln!("{}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    for a in &artifacts {
        if let Err(e) = fs::write(dir.join(&a.name), &a.bytes) {
            eprintln!("{}: {e}", a.name);
            return ExitCode::FAILURE;
        }
    }
    match traces::verify(&dir) {
        Ok(n) => eprintln!(
            "wrote {} files; {n} truth files agree with their captures",
            artifacts.len()
        ),
        Err(e) => {
            eprintln!("verification failed: {e}");
            return ExitCode::FAILURE;
        }
    }
    match traces::table(&dir) {
        Ok(rows) => rows.iter().for_each(|r| println!("{r}")),
        Err(e) => {
            eprintln!("table: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
