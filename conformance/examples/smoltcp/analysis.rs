//! What a pair of captures shows: the segments (read back with this crate's own capture
//! reader, so the files are known to ingest), the per-vantage facts of the truth files'
//! `observed` block, and the classification of the close, derived from the packets of
//! both vantages (a segment the sender's capture has and the receiver's lacks was lost on
//! the link).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::Serialize;
use teardown_conformance::decode::TcpFlags;
use teardown_conformance::ingest::ingest;

/// One TCP segment of a capture.
#[derive(Clone, Debug)]
pub struct Seg {
    /// Frame number, 1-based as in Wireshark.
    pub frame: u64,
    /// Capture time, µs since the Unix epoch.
    pub t_us: i64,
    /// Sent by the client.
    pub from_client: bool,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// TCP flags.
    pub flags: TcpFlags,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Payload length.
    pub len: u32,
    /// Incarnation of the 4-tuple, as this crate's connection tracker numbers them.
    pub inc: usize,
}

impl Seg {
    fn has_ack(&self) -> bool {
        self.flags.ack()
    }

    fn pure_ack(&self) -> bool {
        self.has_ack()
            && self.len == 0
            && !self.flags.syn()
            && !self.flags.fin()
            && !self.flags.rst()
    }

    /// The acknowledgment number that covers this segment's FIN.
    fn fin_next(&self) -> u32 {
        self.seq.wrapping_add(self.len).wrapping_add(1)
    }

    fn side(&self) -> &'static str {
        if self.from_client { "client" } else { "server" }
    }

    /// What identifies a transmission across the two vantages.
    fn key(&self) -> (bool, u16, u32, u32, u32) {
        (self.from_client, self.flags.0, self.seq, self.ack, self.len)
    }
}

/// RFC 9293 sequence comparison: `a` at or after `b`.
fn seq_ge(a: u32, b: u32) -> bool {
    a.wrapping_sub(b) < 0x8000_0000
}

/// A decoded capture.
#[derive(Clone, Debug)]
pub struct Capture {
    /// Frames in the file.
    pub packets: u64,
    /// Its TCP segments, in file order.
    pub segs: Vec<Seg>,
}

/// Reads a capture with this crate's reader; every frame must be a TCP segment between
/// `client` and the server, on one 4-tuple.
pub fn decode(name: &str, bytes: &[u8], client: SocketAddr) -> Result<Capture, String> {
    let mut segs = Vec::new();
    let mut strangers = 0;
    let summary = ingest(name, bytes, |o, place| {
        if o.src != client && o.dst != client {
            strangers += 1;
        }
        segs.push(Seg {
            frame: o.frame,
            t_us: o.timestamp_ns / 1000,
            from_client: o.src == client,
            sport: o.src.port(),
            dport: o.dst.port(),
            flags: o.flags,
            seq: o.seq,
            ack: o.ack,
            len: o.payload_len,
            inc: place.incarnation,
        });
    });
    if let Some(e) = summary.error {
        return Err(format!("{name}: {e}"));
    }
    if summary.skipped_total() != 0 || strangers != 0 || summary.connection_count != 1 {
        return Err(format!(
            "{name}: {} frames skipped, {strangers} segments not from/to {client}, {} 4-tuples",
            summary.skipped_total(),
            summary.connection_count
        ));
    }
    Ok(Capture {
        packets: summary.packets,
        segs,
    })
}

/// The truth files' one-line-per-segment form (the Linux truth files' format): frame,
/// time since the first segment, direction, ports, flags, seq, ack, payload length.
pub fn segment_lines(segs: &[Seg]) -> Vec<String> {
    let t0 = segs.first().map_or(0, |s| s.t_us);
    segs.iter()
        .map(|s| {
            let dt = s.t_us - t0;
            let flags = s.flags.to_string();
            format!(
                "{} +{}.{:06} {} {}>{} [{}] seq {} ack {} len {}",
                s.frame,
                dt / 1_000_000,
                dt % 1_000_000,
                if s.from_client { "C>S" } else { "S>C" },
                s.sport,
                s.dport,
                if flags.is_empty() { "none" } else { &flags },
                s.seq,
                s.ack,
                s.len
            )
        })
        .collect()
}

/// A count per side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Counts {
    /// From the client.
    pub client: usize,
    /// From the server.
    pub server: usize,
}

/// Facts about the close of one incarnation at one vantage (the Linux truth files'
/// `observed` keys, computed the same way as traces/linux/scenarios.py `Inc.shape`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Shape {
    /// Sender of the first FIN, if any.
    pub first_fin: Option<&'static str>,
    /// FIN segments per sender (retransmissions and duplicates included).
    pub fin_count: Counts,
    /// RST segments per sender.
    pub rst_count: Counts,
    /// Sender of the first RST.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rst_from: Option<&'static str>,
    /// Neither FIN acknowledges the other.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub simultaneous: Option<bool>,
    /// The peer sent a pure ACK of the first FIN before its own FIN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_acked_fin_separately: Option<bool>,
    /// The peer's FIN is what acknowledged the first FIN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_fin_piggybacks_ack: Option<bool>,
    /// Bytes the peer sent between the first FIN and its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_data_after_fin: Option<u64>,
    /// Pure ACKs of the peer's FIN from the first closer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_acks: Option<usize>,
    /// Seconds between the first FIN and the peer's first FIN at this vantage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_fin_delay: Option<f64>,
}

/// The first FIN from each side, and the first closer.
struct Fins<'a> {
    closer_is_client: bool,
    first: &'a Seg,
    peer: Option<&'a Seg>,
}

fn fins<'a>(segs: &[&'a Seg]) -> Option<Fins<'a>> {
    let first = *segs.iter().find(|s| s.flags.fin())?;
    let peer = segs
        .iter()
        .find(|s| s.flags.fin() && s.from_client != first.from_client)
        .copied();
    Some(Fins {
        closer_is_client: first.from_client,
        first,
        peer,
    })
}

/// The facts of one incarnation's segments at one vantage.
pub fn shape(segs: &[&Seg]) -> Shape {
    let count = |pred: &dyn Fn(&Seg) -> bool| Counts {
        client: segs.iter().filter(|s| s.from_client && pred(s)).count(),
        server: segs.iter().filter(|s| !s.from_client && pred(s)).count(),
    };
    let mut out = Shape {
        first_fin: None,
        fin_count: count(&|s| s.flags.fin()),
        rst_count: count(&|s| s.flags.rst()),
        rst_from: segs.iter().find(|s| s.flags.rst()).map(|s| s.side()),
        simultaneous: None,
        peer_acked_fin_separately: None,
        peer_fin_piggybacks_ack: None,
        peer_data_after_fin: None,
        final_acks: None,
        peer_fin_delay: None,
    };
    let Some(f) = fins(segs) else {
        return out;
    };
    out.first_fin = Some(f.first.side());
    let Some(fb) = f.peer else {
        return out;
    };
    let fa = f.first;
    let a = f.closer_is_client;
    let separate = segs.iter().any(|s| {
        s.from_client != a && s.pure_ack() && seq_ge(s.ack, fa.fin_next()) && s.frame < fb.frame
    });
    // As traces/linux/scenarios.py: neither FIN acknowledges the other.
    let peer_acks_first = fb.has_ack() && seq_ge(fb.ack, fa.fin_next());
    let first_acks_peer = seq_ge(fa.ack, fb.fin_next());
    out.simultaneous = Some(!(peer_acks_first || first_acks_peer));
    out.peer_acked_fin_separately = Some(separate);
    out.peer_fin_piggybacks_ack = Some(peer_acks_first && !separate);
    out.peer_data_after_fin = Some(
        segs.iter()
            .filter(|s| s.from_client != a && s.frame > fa.frame && s.frame < fb.frame)
            .map(|s| u64::from(s.len))
            .sum(),
    );
    out.final_acks = Some(
        segs.iter()
            .filter(|s| s.from_client == a && s.pure_ack() && seq_ge(s.ack, fb.fin_next()))
            .count(),
    );
    out.peer_fin_delay = Some((fb.t_us - fa.t_us) as f64 / 1e6);
    out
}

/// The `observed` block of a truth file: the first incarnation's facts, how many
/// incarnations the 4-tuple had, and the facts of the later ones.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Observed {
    /// First incarnation.
    #[serde(flatten)]
    pub first: Shape,
    /// Incarnations of the 4-tuple (this crate's connection tracker).
    pub incarnations: usize,
    /// The later incarnations, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub later_incarnations: Vec<Shape>,
}

fn incarnation(c: &Capture, k: usize) -> Vec<&Seg> {
    c.segs.iter().filter(|s| s.inc == k).collect()
}

fn incarnations(c: &Capture) -> usize {
    c.segs.iter().map(|s| s.inc + 1).max().unwrap_or(0)
}

/// The facts of one vantage's capture.
pub fn observe(c: &Capture) -> Observed {
    let n = incarnations(c);
    Observed {
        first: shape(&incarnation(c, 0)),
        incarnations: n,
        later_incarnations: (1..n).map(|k| shape(&incarnation(c, k))).collect(),
    }
}

/// Segments the sender's capture has more often than the receiver's: lost on the link.
fn lost(client: &Capture, server: &Capture) -> Vec<Seg> {
    let mut out = Vec::new();
    for (sender, receiver, from_client) in [(client, server, true), (server, client, false)] {
        let mut arrived: BTreeMap<_, usize> = BTreeMap::new();
        for s in receiver
            .segs
            .iter()
            .filter(|s| s.from_client == from_client)
        {
            *arrived.entry(s.key()).or_default() += 1;
        }
        for s in sender.segs.iter().filter(|s| s.from_client == from_client) {
            match arrived.get_mut(&s.key()) {
                Some(n) if *n > 0 => *n -= 1,
                _ => out.push(s.clone()),
            }
        }
    }
    out
}

/// How the connection ended, in the classification vocabulary of traces/linux, derived
/// from the two vantages' captures of one scenario. `time_wait_us` is the stack's TIME-WAIT
/// length: a new incarnation that started sooner after the holder's last ACK is a reuse
/// inside TIME-WAIT.
pub fn classify(
    client: &Capture,
    server: &Capture,
    time_wait_us: i64,
) -> Result<&'static str, String> {
    let at = |client_side: bool| if client_side { client } else { server };
    let c0 = incarnation(client, 0);
    let lost = lost(client, server);
    let Some(f) = fins(&c0) else {
        let rst = c0.iter().any(|s| s.flags.rst()) || server.segs.iter().any(|s| s.flags.rst());
        return if rst {
            Ok("RST abort")
        } else {
            Err("no FIN and no RST in the first incarnation".into())
        };
    };
    let closer = f.closer_is_client;
    // At the first closer's own vantage: everything it sent, everything that reached it.
    let own = incarnation(at(closer), 0);
    let own_fins = fins(&own).ok_or("the closer's capture lacks its FIN")?;
    let peer_fin = own_fins.peer;
    let final_ack = peer_fin.and_then(|fb| {
        own.iter()
            .rev()
            .find(|s| s.from_client == closer && s.pure_ack() && seq_ge(s.ack, fb.fin_next()))
            .copied()
    });
    let first_rst = own.iter().find(|s| s.flags.rst()).copied();

    // An RST from the peer reaching the closer after its final ACK ended its TIME-WAIT.
    if let (Some(ack), Some(rst)) = (final_ack, first_rst)
        && rst.from_client != closer
        && rst.frame > ack.frame
    {
        return Ok("TIME-WAIT ended by RST");
    }
    let n = incarnations(client).max(incarnations(server));
    if n >= 2 {
        // TIME-WAIT holder: the closer (both for crossing FINs; measured at the closer).
        let ack = final_ack.ok_or("a reused 4-tuple whose first close has no final ACK")?;
        let later = incarnation(at(closer), 1);
        let first_synack = later
            .iter()
            .position(|s| s.flags.syn() && s.has_ack())
            .ok_or("the new incarnation has no SYN+ACK at the closer's vantage")?;
        let syn = later[..first_synack]
            .iter()
            .rev()
            .find(|s| s.flags.syn() && !s.has_ack())
            .ok_or("the new incarnation has no SYN before its SYN+ACK")?;
        return Ok(if syn.t_us - ack.t_us < time_wait_us {
            "reuse of the 4-tuple (inside TIME-WAIT)"
        } else {
            "reuse of the 4-tuple (after TIME-WAIT)"
        });
    }
    if let Some(rst) = first_rst {
        if rst.from_client != closer {
            return Ok("FIN then RST");
        }
        // The closer reset: in answer to data the peer sent after its FIN, or on its own
        // (or to the peer's late FIN) while waiting in FIN-WAIT-2.
        let fin_acked = own.iter().any(|s| {
            s.from_client != closer
                && s.has_ack()
                && seq_ge(s.ack, own_fins.first.fin_next())
                && s.frame < rst.frame
        });
        let data_before_rst = own.iter().any(|s| {
            s.from_client != closer
                && s.len > 0
                && s.frame > own_fins.first.frame
                && s.frame < rst.frame
        });
        return Ok(if fin_acked && !data_before_rst {
            "FIN-WAIT-2 timeout"
        } else {
            "FIN then RST"
        });
    }
    let fb = peer_fin.ok_or("only one side sent a FIN and nobody reset")?;
    let s = shape(&own);
    if s.simultaneous == Some(true) {
        return Ok("simultaneous");
    }
    if lost.iter().any(|s| s.flags.fin()) {
        return Ok("lost FIN recovered");
    }
    if lost
        .iter()
        .any(|s| s.from_client == closer && s.pure_ack() && s.ack == fb.fin_next())
    {
        return Ok("lost final ACK recovered");
    }
    if s.peer_data_after_fin.unwrap_or(0) > 0 {
        return Ok("half-close with data");
    }
    Ok(if s.peer_fin_piggybacks_ack == Some(true) {
        "3-way (FIN+ACK)"
    } else {
        "4-way"
    })
}
