//! Container features the corpus does not cover, on captures built here: pcapng with two
//! sections of opposite byte order, interfaces with their own link types and timestamp
//! resolutions and offsets, enhanced, simple and obsolete packet blocks; and a file whose
//! name lies about its format. `tshark -T fields -e frame.number -e frame.interface_id -e
//! frame.time_epoch` shows the same frames, interfaces and times for this file.

use std::net::SocketAddr;

use teardown_conformance::capture::{Record, read_capture};
use teardown_conformance::ingest::{ingest, ingest_path};

/// IPv4 + TCP SYN from 10.0.0.1:1234 to 10.0.0.2:80, seq `seq`.
fn ipv4_syn(seq: u32) -> Vec<u8> {
    let mut p = vec![
        0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 0x04, 0xD2, 0x00,
        0x50,
    ];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0, 0x50, 0x02, 0xFF, 0xFF, 0, 0, 0, 0]);
    p
}

fn ethernet(payload: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    f.extend_from_slice(payload);
    f
}

struct Ng {
    be: bool,
    out: Vec<u8>,
}

impl Ng {
    fn u16(&self, v: u16) -> [u8; 2] {
        if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn u32(&self, v: u32) -> [u8; 4] {
        if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn block(&mut self, block_type: u32, body: &[u8]) {
        let mut body = body.to_vec();
        while !body.len().is_multiple_of(4) {
            body.push(0);
        }
        let len = 12 + body.len() as u32;
        let (t, l) = (self.u32(block_type), self.u32(len));
        self.out.extend_from_slice(&t);
        self.out.extend_from_slice(&l);
        self.out.extend_from_slice(&body);
        self.out.extend_from_slice(&l);
    }
    fn section(&mut self, be: bool) {
        self.be = be;
        let mut body = self.u32(0x1A2B_3C4D).to_vec();
        body.extend_from_slice(&self.u16(1));
        body.extend_from_slice(&self.u16(0));
        body.extend_from_slice(&[0xFF; 8]);
        self.block(0x0A0D_0D0A, &body);
    }
    fn interface(&mut self, link_type: u16, tsresol: Option<u8>, tsoffset_s: Option<i64>) {
        let mut body = self.u16(link_type).to_vec();
        body.extend_from_slice(&self.u16(0));
        body.extend_from_slice(&self.u32(65535));
        if let Some(r) = tsresol {
            body.extend_from_slice(&self.u16(9));
            body.extend_from_slice(&self.u16(1));
            body.extend_from_slice(&[r, 0, 0, 0]);
        }
        if let Some(offset) = tsoffset_s {
            body.extend_from_slice(&self.u16(14));
            body.extend_from_slice(&self.u16(8));
            let b = if self.be {
                offset.to_be_bytes()
            } else {
                offset.to_le_bytes()
            };
            body.extend_from_slice(&b);
        }
        body.extend_from_slice(&[0, 0, 0, 0]);
        self.block(1, &body);
    }
    fn enhanced(&mut self, if_id: u32, ticks: u64, data: &[u8]) {
        let mut body = self.u32(if_id).to_vec();
        body.extend_from_slice(&self.u32((ticks >> 32) as u32));
        body.extend_from_slice(&self.u32(ticks as u32));
        body.extend_from_slice(&self.u32(data.len() as u32));
        body.extend_from_slice(&self.u32(data.len() as u32));
        body.extend_from_slice(data);
        self.block(6, &body);
    }
    fn simple(&mut self, data: &[u8]) {
        let mut body = self.u32(data.len() as u32).to_vec();
        body.extend_from_slice(data);
        self.block(3, &body);
    }
    fn obsolete(&mut self, if_id: u16, ticks: u64, data: &[u8]) {
        let mut body = self.u16(if_id).to_vec();
        body.extend_from_slice(&self.u16(0));
        body.extend_from_slice(&self.u32((ticks >> 32) as u32));
        body.extend_from_slice(&self.u32(ticks as u32));
        body.extend_from_slice(&self.u32(data.len() as u32));
        body.extend_from_slice(&self.u32(data.len() as u32));
        body.extend_from_slice(data);
        self.block(2, &body);
    }
}

fn two_sections() -> Vec<u8> {
    let mut ng = Ng {
        be: false,
        out: Vec::new(),
    };
    ng.section(false);
    ng.interface(1, None, None); // Ethernet, microseconds (the default)
    ng.interface(101, Some(9), None); // raw IP, nanoseconds
    ng.enhanced(1, 1_700_000_000_000_000_123, &ipv4_syn(1));
    ng.enhanced(0, 1_700_000_001_000_000, &ethernet(&ipv4_syn(2)));
    ng.simple(&ethernet(&ipv4_syn(3)));
    ng.obsolete(1, 1_700_000_002_000_000_000, &ipv4_syn(4));
    ng.section(true);
    ng.interface(228, Some(0x80 | 20), Some(10)); // raw IPv4, 2^-20 s, +10 s
    ng.enhanced(0, 3 << 20, &ipv4_syn(5));
    ng.out
}

#[test]
fn pcapng_sections_interfaces_resolutions_and_packet_blocks() {
    let bytes = two_sections();
    let mut frames = Vec::new();
    let outcome = read_capture(&bytes[..], |r| {
        if let Record::Packet(f) = r {
            frames.push((
                f.number,
                f.section,
                f.interface,
                f.link_type.0,
                f.timestamp_ns,
            ));
        }
    });
    assert_eq!(outcome.error, None);
    assert_eq!((outcome.sections, outcome.interfaces), (2, 3));
    assert_eq!(
        frames,
        vec![
            (1, 0, 1, 101, 1_700_000_000_000_000_123),
            (2, 0, 0, 1, 1_700_000_001_000_000_000),
            // A simple packet block has no timestamp (Wireshark shows none).
            (3, 0, 0, 1, 0),
            (4, 0, 1, 101, 1_700_000_002_000_000_000),
            // Interface ids restart in each section, as Wireshark's frame.interface_id.
            (5, 1, 0, 228, 13_000_000_000),
        ]
    );
    let s = ingest("two-sections", &bytes[..], |_, _| {});
    assert_eq!((s.packets, s.tcp_segments), (5, 5));
    let client: SocketAddr = "10.0.0.1:1234".parse().unwrap();
    // Five SYNs, each with a new ISN and nothing but SYNs before: five attempts.
    assert_eq!((s.connection_count, s.incarnation_count), (1, 5));
    assert!(
        s.connections[0]
            .incarnations
            .iter()
            .all(|i| i.initiator == Some(client))
    );
}

#[test]
fn a_file_named_pcap_holding_pcapng_is_read_by_magic() {
    let dir = std::env::temp_dir().join(format!("teardown-formats-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lying = dir.join("really-pcapng.pcap");
    std::fs::write(&lying, two_sections()).unwrap();
    let s = ingest_path(&lying);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(s.error, None);
    assert_eq!(s.format.as_deref(), Some("pcapng"));
    assert_eq!(s.packets, 5);
}

#[test]
fn a_block_larger_than_the_read_buffer_is_read_whole() {
    // 3 MiB of packet in one enhanced packet block: past the 1 MiB streaming buffer, which
    // must grow for it, and well under the 16 MiB plausibility limit.
    let mut big = ethernet(&ipv4_syn(7));
    big.resize(3 << 20, 0);
    let mut ng = Ng {
        be: false,
        out: Vec::new(),
    };
    ng.section(false);
    ng.interface(1, None, None);
    ng.enhanced(0, 1, &ethernet(&ipv4_syn(6)));
    ng.enhanced(0, 2, &big);
    ng.enhanced(0, 3, &ethernet(&ipv4_syn(8)));
    let s = ingest("big-block", &ng.out[..], |_, _| {});
    assert_eq!(s.error, None);
    assert_eq!((s.packets, s.tcp_segments), (3, 3));
}
