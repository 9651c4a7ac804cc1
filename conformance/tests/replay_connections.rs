//! `teardown replay --connections`: human and JSON listings, directories, and exit status 2
//! for unreadable input after everything readable was printed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn teardown(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_teardown"))
        .args(args)
        .output()
        .expect("the teardown binary runs")
}

fn third_party(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../traces/third-party")
        .join(rel)
}

const GTP: &str = "arkime/tests/pcap/gtp-iphone.pcap";

#[test]
fn human_listing_shows_incarnations_and_close_patterns() {
    let f = third_party(GTP);
    let out = teardown(&["replay", "--connections", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("link types: LINUX_SLL (113): 106 frames"),
        "{text}"
    );
    assert!(text.contains("connections 1, incarnations 4"), "{text}");
    assert!(text.contains("#4 frames 95-106"), "{text}");
    assert!(text.contains("close FIN/FIN, new after close"), "{text}");
}

#[test]
fn json_listing_parses_and_directories_are_walked_in_order() {
    let dir = third_party("zeek/testing/btest/Traces/tcp");
    let out = teardown(&[
        "replay",
        "--connections",
        "--format",
        "json",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let files = v.as_array().expect("one summary per file");
    let names: Vec<&str> = files.iter().map(|f| f["path"].as_str().unwrap()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert_eq!(files.len(), 11);
    let fin = files
        .iter()
        .find(|f| {
            f["path"]
                .as_str()
                .unwrap()
                .ends_with("fin_retransmission.pcap")
        })
        .unwrap();
    assert_eq!(
        fin["connections"][0]["incarnations"][0]["close"],
        "fin_then_rst"
    );
}

#[test]
fn damaged_input_prints_what_was_readable_then_exits_2() {
    let bytes = std::fs::read(third_party(GTP)).unwrap();
    let dir = std::env::temp_dir().join(format!("teardown-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cut = dir.join("cut.pcap");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let good = third_party("zeek/testing/btest/Traces/tcp/single-rst.pcap");
    let out = teardown(&[
        "replay",
        "--connections",
        cut.to_str().unwrap(),
        good.to_str().unwrap(),
    ]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("UNREADABLE: byte "), "{text}");
    assert!(text.contains("declares"), "{text}");
    assert!(text.contains("single-rst.pcap"), "{text}");
    assert!(text.contains("connections 1, incarnations"), "{text}");
}

#[test]
fn replay_without_connections_gives_verdicts() {
    let f = third_party(GTP);
    let out = teardown(&["replay", f.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("summary"), "{text}");
    assert!(
        ["CONFORMING", "VIOLATION", "INCONCLUSIVE"]
            .iter()
            .any(|v| text.contains(v)),
        "{text}"
    );
}
