//! traces/smoltcp/ regenerates bit for bit: every capture and truth file is made again in
//! memory by the generator the `smoltcp_traces` example runs, and must equal the committed
//! file byte for byte; the directory holds nothing else. Each committed truth file must
//! also agree with the captures (packet count, segment lines, `observed`, and the
//! classification re-derived from both vantages' packets).

#![forbid(unsafe_code)]

#[path = "../examples/smoltcp/mod.rs"]
mod traces;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../traces/smoltcp/captures")
}

const REGENERATE: &str = "regenerate with: cargo run --release -p teardown-conformance --example smoltcp_traces -- traces/smoltcp/captures";

#[test]
fn committed_captures_regenerate_bit_for_bit() {
    let artifacts = traces::generate().expect("generation");
    let dir = captures_dir();
    let mut differ = Vec::new();
    for a in &artifacts {
        match fs::read(dir.join(&a.name)) {
            Ok(bytes) if bytes == a.bytes => {}
            Ok(_) => differ.push(format!("{} differs", a.name)),
            Err(e) => differ.push(format!("{}: {e}", a.name)),
        }
    }
    assert!(differ.is_empty(), "{}\n{REGENERATE}", differ.join("\n"));
    let made: BTreeSet<&str> = artifacts.iter().map(|a| a.name.as_str()).collect();
    let extra: Vec<String> = fs::read_dir(&dir)
        .expect("traces/smoltcp/captures")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| !made.contains(n.as_str()))
        .collect();
    assert!(extra.is_empty(), "not made by the generator: {extra:?}");
}

#[test]
fn generation_is_deterministic_within_a_run() {
    // Two runs in one process: no state (random, clock) leaks from one to the next.
    let a = traces::generate().expect("generation");
    let b = traces::generate().expect("generation");
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.name, y.name);
        assert!(x.bytes == y.bytes, "{} differs between two runs", x.name);
    }
}

#[test]
fn truth_files_agree_with_their_captures() {
    let n = traces::verify(&captures_dir()).unwrap_or_else(|e| panic!("{e}"));
    let pcaps = fs::read_dir(captures_dir())
        .expect("traces/smoltcp/captures")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".pcap"))
        })
        .count();
    assert_eq!(n, pcaps, "a truth file per capture");
    assert_eq!(
        traces::table(&captures_dir()).expect("table").len(),
        pcaps,
        "a README row per capture"
    );
}
