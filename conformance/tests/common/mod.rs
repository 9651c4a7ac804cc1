//! What the integration tests share.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use teardown_conformance::report::looks_like_capture;

/// Whether the external tool `name` can be run (`name version_flag` succeeds). Where it
/// cannot, the calling test says so visibly on standard error and is to return early —
/// unless `TEARDOWN_REQUIRE_TOOLS=1` (set by `.ci/run` after installing the tools), where
/// a missing tool fails the test instead.
#[allow(dead_code)] // not every test binary that includes this module needs every helper
pub fn tool_available(name: &str, version_flag: &str, test: &str) -> bool {
    let ok = Command::new(name)
        .arg(version_flag)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var("TEARDOWN_REQUIRE_TOOLS").as_deref() == Ok("1") {
            panic!("{test}: `{name}` is required (TEARDOWN_REQUIRE_TOOLS=1) but cannot be run");
        }
        eprintln!("SKIPPED {test}: `{name}` is not installed");
    }
    ok
}

/// The repository's `traces/` folder.
#[allow(dead_code)]
pub fn traces_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../traces")
}

/// Captures under `dir`, sorted, so that snapshots come out in a stable order. `bench/`
/// directories hold the on-demand benchmark capture, which is not committed.
#[allow(dead_code)]
pub fn captures(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .expect("traces/ is readable")
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "bench") {
                continue;
            }
            captures(&p, out);
        } else if looks_like_capture(&p) {
            out.push(p);
        }
    }
}

/// `p` relative to `traces/`, with forward slashes.
#[allow(dead_code)]
pub fn relative(p: &Path) -> String {
    p.strip_prefix(traces_dir())
        .unwrap_or(p)
        .to_string_lossy()
        .replace('\\', "/")
}

/// One pcap of segments between many client endpoints and one server (198.51.100.2:80), in
/// the given order: one file's header, each segment's record.
#[allow(dead_code)]
pub fn pcap_of(
    segments: &[(
        std::net::SocketAddr,
        teardown_conformance::writer::CapturedSegment,
    )],
) -> Vec<u8> {
    let server: std::net::SocketAddr = "198.51.100.2:80".parse().expect("address");
    let mut out = Vec::new();
    for (client, s) in segments {
        let mut one = Vec::new();
        teardown_conformance::writer::write_pcap(
            &mut one,
            *client,
            server,
            std::slice::from_ref(s),
        )
        .expect("written");
        out.extend_from_slice(&one[if out.is_empty() { 0 } else { 24 }..]);
    }
    out
}
