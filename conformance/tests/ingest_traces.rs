//! Every capture under `traces/` is read without panic and its summary is snapshotted
//! (one snapshot per file, named by its path); the third-party corpus also agrees with the
//! tshark figures of its catalogue (packets, TCP packets by IP version, truncated,
//! timestamps backwards, streams and reuse, FINs from both or one side, RSTs), except where
//! `traces/third-party/INGEST-NOTES.md` explains why the catalogue is wrong.

mod common;

use common::{captures, relative, traces_dir};
use std::fs;
use std::path::Path;

use teardown_conformance::ingest::{FileSummary, ingest_path};
use teardown_conformance::report::to_human_limited;

fn summary(p: &Path) -> FileSummary {
    let mut s = ingest_path(p);
    s.path = relative(p);
    s
}

#[test]
fn every_trace_is_read_and_snapshotted() {
    let mut files = Vec::new();
    captures(&traces_dir(), &mut files);
    assert!(
        files.len() >= 84,
        "expected the 84 third-party captures at least, found {}",
        files.len()
    );
    for f in &files {
        let s = summary(f);
        let name = relative(f).replace('/', "__");
        // Bursts of thousands of connections are summarised by their counts and close
        // patterns; the first connections still show their incarnations.
        insta::assert_snapshot!(name, to_human_limited(&s, 40));
    }
}

/// Numbers where ours and the catalogue's tshark figures differ, and ours are right
/// (see INGEST-NOTES.md): (file, field, ours, catalogue).
const KNOWN_DIFFERENCES: [(&str, &str, u64, u64); 2] = [
    (
        "suricata-verify/tests/tcp-split-handshake-02-5whs/split-handshake-5whs.pcap",
        "incarnations",
        1,
        2,
    ),
    (
        "suricata-verify/tests/tcp-split-handshake-02-5whs/split-handshake-5whs.pcap",
        "reuse",
        0,
        1,
    ),
];

#[test]
fn third_party_agrees_with_the_catalogue() {
    let dir = traces_dir().join("third-party");
    let text = fs::read_to_string(dir.join("catalog.json")).expect("catalog.json");
    let catalog: serde_json::Value = serde_json::from_str(&text).expect("catalog.json parses");
    let entries = catalog.as_array().expect("catalog.json is an array");
    assert_eq!(entries.len(), 84);
    let mut differences = Vec::new();
    for e in entries {
        let path = e["corpus_path"].as_str().expect("corpus_path");
        let s = summary(&dir.join(path));
        assert_eq!(s.error, None, "{path}");
        // FIN and RST bookkeeping, counted per incarnation as the catalogue counts per stream.
        let incarnations = s.connections.iter().flat_map(|c| &c.incarnations);
        let (mut fin_both, mut fin_one, mut with_rst) = (0u64, 0u64, 0u64);
        for i in incarnations {
            match i.first_fin_frame.iter().flatten().count() {
                2 => fin_both += 1,
                1 => fin_one += 1,
                _ => {}
            }
            with_rst += u64::from(i.first_rst_frame.is_some());
        }
        let ours = [
            ("packets", s.packets),
            ("tcp_packets", s.tcp_segments),
            ("ipv4_tcp_pkts", s.ipv4_segments),
            ("ipv6_tcp_pkts", s.ipv6_segments),
            ("truncated_tcp_pkts", s.truncated_segments),
            ("timestamp_steps_backwards", s.timestamps_backwards),
            // tshark's streams are our incarnations: it splits a 4-tuple where it sees a
            // new one.
            ("incarnations", s.incarnation_count as u64),
            ("reuse", (s.incarnation_count - s.connection_count) as u64),
            ("fin_both_sides", fin_both),
            ("fin_one_side_only", fin_one),
            ("conns_with_rst", with_rst),
        ];
        for (field, value) in ours {
            let key = match field {
                "incarnations" => "tcp_connections",
                "reuse" => "tuple_reuse_new_incarnations",
                k => k,
            };
            let theirs = e[key].as_u64().expect("catalogue number");
            if value != theirs {
                differences.push((path.to_string(), field, value, theirs));
            }
        }
    }
    let expected: Vec<(String, &str, u64, u64)> = KNOWN_DIFFERENCES
        .iter()
        .map(|&(p, f, o, t)| (p.to_string(), f, o, t))
        .collect();
    assert_eq!(differences, expected);
}
