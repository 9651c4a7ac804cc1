//! Counterexamples and witnesses as files engineers open in the tools they already use:
//! captures (Wireshark, tshark, `teardown replay`) and ladder diagrams (any browser).
//!
//! A checker path is written as the capture a host would have taken: at the client's host
//! or at the server's. The host's own segments appear when it sends them — including those
//! the network then loses — and the peer's when they arrive (TTL one lower: they crossed a
//! router, which is how `teardown replay` tells the vantage point). Sequence numbers are the
//! model's, moved from its 8-bit space to 32 bits around fixed ISNs (differences within
//! ±127 are kept, so every comparison the model made still holds); time is the model's
//! ticks at the description's tick length, with steps inside one tick a millisecond apart.
//!
//! The checker starts from an established connection; the capture starts with the
//! three-way handshake that established it (RFC 9293 §3.5), a few milliseconds before the
//! first step, so that a replay knows both ISNs and every segment's place instead of
//! inferring them mid-stream.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use teardown_model::check::ActionPath;
use teardown_model::segment::Segment;
use teardown_model::system::{Action, CLIENT, SERVER, Seq, TeardownModel, side_name};

use crate::writer::{CapturedSegment, WriteError, write_pcapng};

/// Where the capture of a path is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host {
    /// On the client's host.
    Client,
    /// On the server's host.
    Server,
}

impl Host {
    /// `client` or `server`.
    pub fn name(self) -> &'static str {
        match self {
            Host::Client => "client",
            Host::Server => "server",
        }
    }

    fn side(self) -> usize {
        match self {
            Host::Client => CLIENT,
            Host::Server => SERVER,
        }
    }
}

/// When the first step of every exported path happens: 2025-01-01T00:00:00Z (the
/// handshake that precedes it is a few [`STEP_NS`] earlier).
pub const EPOCH_NS: u64 = 1_735_689_600_000_000_000;
/// Time between steps within one tick.
pub const STEP_NS: u64 = 1_000_000;
/// The client's ISN of the first incarnation, in the 32-bit space.
pub const CLIENT_ISN: u32 = 1_000_000_000;
/// The server's.
pub const SERVER_ISN: u32 = 3_000_000_000;
/// TSval of the model's clock value 0 (the model counts its clock from 0).
pub const TSVAL_BASE: u32 = 100_000;

/// The endpoints of exported captures: documentation addresses (RFC 5737, RFC 3849).
pub fn endpoints(ipv6: bool) -> (SocketAddr, SocketAddr) {
    if ipv6 {
        (
            SocketAddr::new(
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
                40000,
            ),
            SocketAddr::new(
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2)),
                5001,
            ),
        )
    } else {
        (
            SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 40000),
            SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)), 5001),
        )
    }
}

/// What a capture at one host shows of a checker path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathCapture {
    /// The segments, in capture order.
    pub segments: Vec<CapturedSegment>,
    /// Per segment, what the model did: the rule that sent it or that its arrival applied,
    /// and whether the network then lost it (pcapng packet comments).
    pub comments: Vec<String>,
    /// When the path ends: the capture ran at least until then, silent or not.
    pub end_ns: u64,
}

/// The capture at `host` of `path`, at `tick_ns` per tick.
pub fn capture_of_path(
    model: &TeardownModel,
    path: &ActionPath,
    host: Host,
    tick_ns: u64,
) -> PathCapture {
    let (mut s, actions) = (path.0.clone(), &path.1);
    let at = host.side();
    // Each side's sequence numbers are moved relative to its first ISN.
    let first_isn = [s.ends[CLIENT].iss, s.ends[SERVER].iss];
    let base = [CLIENT_ISN, SERVER_ISN];
    let widen = |side: usize, v: Seq| {
        let off = v.wrapping_sub(first_isn[side]) as i8;
        base[side].wrapping_add_signed(i32::from(off))
    };
    let to_wire = |seg: &Segment<Seq>, from: usize| Segment {
        flags: seg.flags,
        seq: widen(from, seg.seq),
        ack: if seg.has(teardown_model::segment::Flags::ACK) {
            widen(1 - from, seg.ack)
        } else {
            0
        },
        len: seg.len,
        tsval: seg.tsval.map(|v| TSVAL_BASE.wrapping_add(v)),
        ghost: seg.ghost,
    };
    let segments = handshake(host, model.cfg.behaviour.timestamps);
    let comments = vec![
        "three-way handshake (RFC 9293 §3.5) leading to the checker's initial state"
            .to_string();
        segments.len()
    ];
    let mut out = PathCapture {
        segments,
        comments,
        end_ns: EPOCH_NS,
    };
    // Segments this host sent that are still on the wire, with their place in `out`.
    let mut on_wire: Vec<(Segment<Seq>, usize)> = Vec::new();
    let (mut tick, mut step) = (0u64, 0u64);
    let who = side_name(at);
    for &a in actions {
        let Some(t) = model.transition(&s, a) else {
            break;
        };
        if a == Action::Tick {
            tick += 1;
            out.end_ns = out.end_ns.max(EPOCH_NS + tick * tick_ns + step * STEP_NS);
            s = t.state;
            continue;
        }
        // Steps count on across ticks: a timer the model fires k ticks after it was set
        // then fires k ticks and a few milliseconds later in the capture, never earlier —
        // the model's "within tick t" becomes a real time no timer can have run short of.
        step += 1;
        let time_ns = EPOCH_NS + tick * tick_ns + step * STEP_NS;
        out.end_ns = out.end_ns.max(time_ns + STEP_NS / 2);
        let rule = |r: Option<teardown_model::rules::Rule>| {
            r.map_or(String::new(), |r| format!("{} ({})", r.id(), r.section()))
        };
        match (a, t.segment) {
            // A network copy shows when it arrives, like the original: the sender sent one.
            (Action::Deliver(..), Some(f)) if usize::from(f.to) == at => {
                let from = 1 - usize::from(f.to);
                out.segments.push(CapturedSegment {
                    time_ns,
                    from_client: from == CLIENT,
                    segment: to_wire(&f.seg, from),
                    ttl: 63,
                });
                out.comments.push(format!(
                    "arrives at the {who}, which applies {}",
                    rule(t.rule)
                ));
            }
            // Lost after this host sent it: the capture saw it leave.
            (Action::Drop(_), Some(f)) if 1 - usize::from(f.to) == at => {
                if let Some(k) = on_wire.iter().position(|&(seg, _)| seg == f.seg) {
                    let (_, i) = on_wire.remove(k);
                    out.comments[i].push_str("; the network loses it after this capture point");
                }
            }
            _ => {}
        }
        if let (Some(seg), Some(side)) = (t.sent, t.side)
            && side == at
        {
            on_wire.push((seg, out.segments.len()));
            out.segments.push(CapturedSegment {
                time_ns: time_ns + STEP_NS / 2,
                from_client: side == CLIENT,
                segment: to_wire(&seg, side),
                ttl: 64,
            });
            out.comments
                .push(format!("the {who} sends it: {}", rule(t.rule)));
        }
        s = t.state;
    }
    out
}

/// The three-way handshake (RFC 9293 §3.5) that leads to the checker's initial state:
/// both sides ESTABLISHED at ISN + 1, and with timestamps each having seen the other's
/// TSval 1 (RFC 7323 §4.3: what `Tcb::established` records as TS.Recent).
fn handshake(host: Host, timestamps: bool) -> Vec<CapturedSegment> {
    use teardown_model::segment::{Flags, Ghost};
    let tsval = timestamps.then_some(TSVAL_BASE + 1);
    let seg = |flags, seq, ack| Segment {
        flags,
        seq,
        ack,
        len: 0,
        tsval,
        ghost: Ghost::default(),
    };
    let syn = seg(Flags::SYN, CLIENT_ISN, 0);
    let syn_ack = seg(
        Flags::SYN | Flags::ACK,
        SERVER_ISN,
        CLIENT_ISN.wrapping_add(1),
    );
    let ack = seg(
        Flags::ACK,
        CLIENT_ISN.wrapping_add(1),
        SERVER_ISN.wrapping_add(1),
    );
    let at = host.side();
    [(syn, CLIENT), (syn_ack, SERVER), (ack, CLIENT)]
        .into_iter()
        .zip(1u64..)
        .map(|((segment, from), k)| CapturedSegment {
            time_ns: EPOCH_NS - (4 - k) * STEP_NS,
            from_client: from == CLIENT,
            segment,
            // Sent by this host, or crossed a router to reach it.
            ttl: if from == at { 64 } else { 63 },
        })
        .collect()
}

/// Writes the capture of `path` at `host` as a pcapng: nanosecond timestamps, a comment
/// per packet saying what the model did, and interface statistics saying the capture ran
/// until the path's last step — so that a segment a stack never sent (a FIN never
/// retransmitted) is silence the capture shows.
pub fn write_path_pcapng<W: Write>(
    out: W,
    model: &TeardownModel,
    path: &ActionPath,
    host: Host,
    ipv6: bool,
) -> Result<(), WriteError> {
    let (client, server) = endpoints(ipv6);
    let c = capture_of_path(model, path, host, model.bounds.tick_ms * 1_000_000);
    write_pcapng(
        out,
        client,
        server,
        &c.segments,
        &c.comments,
        Some(c.end_ns),
    )
}

/// A file-name-safe form of a property's name: `final ACK is always recovered` →
/// `final-ack-is-always-recovered`.
pub fn slug(name: &str) -> String {
    let mut s = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.ends_with('-') {
            s.push('-');
        }
    }
    s.trim_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_file_names() {
        assert_eq!(
            slug("final ACK is always recovered"),
            "final-ack-is-always-recovered"
        );
        assert_eq!(
            slug("old segment never accepted by a new incarnation (RFC 1337)"),
            "old-segment-never-accepted-by-a-new-incarnation-rfc-1337"
        );
    }
}

/// What `teardown check --emit-pcap/--diagram` wrote for one stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exported {
    /// The property.
    pub property: &'static str,
    /// `counterexample` or `witness`.
    pub kind: &'static str,
    /// Files written.
    pub files: Vec<std::path::PathBuf>,
}

/// Writes every counterexample and witness of `report` — the shortest path to it — as a
/// capture at each host (`pcap_dir/<stack>/<property>.<host>.pcapng`) and as a ladder
/// diagram (`diagram_dir/<stack>/<property>.svg`).
pub fn export_discoveries(
    model: &TeardownModel,
    report: &teardown_model::check::CheckReport,
    pcap_dir: Option<&std::path::Path>,
    diagram_dir: Option<&std::path::Path>,
    ipv6: bool,
) -> Result<Vec<Exported>, String> {
    use teardown_model::check::{Outcome, ladder, shortest_discoveries};
    let wanted: Vec<(&'static str, &'static str)> = report
        .verdicts
        .iter()
        .filter_map(|v| match v.outcome {
            Outcome::Violated => Some((v.name, "counterexample")),
            Outcome::Found => Some((v.name, "witness")),
            _ => None,
        })
        .collect();
    let names: Vec<&str> = wanted.iter().map(|(n, _)| *n).collect();
    let paths = shortest_discoveries(model, &names);
    let stack = slug(&model.stack.name);
    let mut out = Vec::new();
    for (name, kind) in wanted {
        let Some(path) = paths.get(name) else {
            continue;
        };
        let mut files = Vec::new();
        if let Some(dir) = pcap_dir {
            let dir = dir.join(&stack);
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            for host in [Host::Client, Host::Server] {
                let file = dir.join(format!("{}.{}.pcapng", slug(name), host.name()));
                let f =
                    std::fs::File::create(&file).map_err(|e| format!("{}: {e}", file.display()))?;
                write_path_pcapng(std::io::BufWriter::new(f), model, path, host, ipv6)
                    .map_err(|e| format!("{}: {e}", file.display()))?;
                files.push(file);
            }
        }
        if let Some(dir) = diagram_dir {
            let dir = dir.join(&stack);
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let b = &model.bounds;
            let l = ladder(
                model,
                path,
                format!("{}: {name} — {kind}", model.stack.name),
                format!(
                    "losses {}, dups {}, delays {}, incarnations {}, data {}; one tick = {} ms",
                    b.losses, b.dups, b.delays, b.incarnations, b.data, b.tick_ms
                ),
                kind == "counterexample",
            );
            let file = dir.join(format!("{}.svg", slug(name)));
            std::fs::write(&file, teardown_model::ladder::to_svg(&l))
                .map_err(|e| format!("{}: {e}", file.display()))?;
            files.push(file);
        }
        out.push(Exported {
            property: name,
            kind,
            files,
        });
    }
    Ok(out)
}

/// One replayed incarnation as a ladder diagram: a row per captured frame (the last
/// [`crate::oracle::LADDER_FRAMES`] of it) with the states the replay holds after it, the
/// arrow of the segment seen, the frame and its time on the left, the violated rule and
/// every hazard written at their frames, the violating frames in red.
pub fn replay_ladder(
    file: &str,
    c: &crate::oracle::ConnectionVerdict,
    i: &crate::oracle::IncarnationVerdict,
) -> teardown_model::ladder::Ladder {
    use teardown_model::ladder::{Ladder, LadderStep, Message, MessageEnd};
    let violating: &[u64] = i.violation.as_ref().map_or(&[], |v| &v.frames);
    let mut l = Ladder {
        title: match &i.violation {
            Some(v) => format!("VIOLATION of {} ({})", v.rule, v.section),
            None => format!(
                "{}{}",
                i.verdict.name(),
                i.inconclusive
                    .map_or(String::new(), |why| format!(": {}", why.describe()))
            ),
        },
        subtitle: format!(
            "{file}, incarnation #{}; stack {} / {}, vantage {}; {}{}",
            i.incarnation,
            c.stacks[0],
            c.stacks[1],
            format!("{:?}", c.vantage).to_lowercase(),
            i.classification.name(),
            match i.ladder.first() {
                Some(r) if i.ladder.len() == crate::oracle::LADDER_FRAMES => {
                    format!("; the last {} frames, from #{}", i.ladder.len(), r.frame)
                }
                _ => String::new(),
            }
        ),
        lifelines: [
            format!("client {}", c.client),
            format!("server {}", c.server),
        ],
        ..Ladder::default()
    };
    for (row, r) in i.ladder.iter().enumerate() {
        let from = usize::from(r.from != "client");
        let mut label = format!("{} {}", r.flags, r.seq);
        if r.flags.contains('.') {
            label.push_str(&format!(":{}", r.ack));
        }
        if r.len > 0 {
            label.push_str(&format!(" len {}", r.len));
        }
        let highlight = violating.contains(&r.frame);
        let mut note: Vec<String> = i
            .hazards
            .iter()
            .filter(|h| h.frame == r.frame)
            .map(|h| format!("hazard {}", h.hazard))
            .collect();
        if highlight && let Some(v) = &i.violation {
            note.insert(0, format!("breaks {}", v.rule));
        }
        // A capture shows when a segment passed its vantage point: drawn across at once.
        l.messages.push(Message {
            from,
            sent_row: row,
            end: MessageEnd::Arrived(row),
            label,
            highlight,
        });
        l.rows.push(LadderStep {
            time: format!("#{} {:.6} s", r.frame, r.time_s),
            states: r.states.map(str::to_string),
            note: note.join("; "),
            // A broken rule is the sender's; a hazard befalls the endpoint the segment
            // reaches (the TIME-WAIT it ends or reuses, the LAST-ACK it resets).
            actor: (!note.is_empty()).then_some(if highlight { from } else { 1 - from }),
            highlight,
        });
    }
    l
}

/// Writes `replay --diagram DIR`: `DIR/<file>/<client>-<server>.<incarnation>.svg` for every
/// incarnation that is not plainly CONFORMING (a violation, inconclusive, or with a
/// hazard), or for all of them with `all`.
pub fn write_replay_diagrams(
    dir: &std::path::Path,
    files: &[crate::replay::FileVerdicts],
    all: bool,
) -> Result<usize, String> {
    let mut written = 0;
    for f in files {
        let (sub, name) = replay_diagram_dir(dir, &f.ingest.path);
        for c in &f.connections {
            written += write_incarnation_diagrams(&sub, &name, c, all)?;
        }
    }
    Ok(written)
}

/// The folder under `dir` for the diagrams of the capture `path`, and the capture's name:
/// the capture's own name where it is a safe file name, as `replay` prints it.
pub fn replay_diagram_dir(dir: &std::path::Path, path: &str) -> (std::path::PathBuf, String) {
    let name = std::path::Path::new(path)
        .file_name()
        .map_or_else(|| path.to_string(), |n| n.to_string_lossy().into_owned());
    let safe = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        && !name.starts_with('.');
    let sub = dir.join(if safe { name.clone() } else { slug(&name) });
    (sub, name)
}

/// Writes the diagrams of connection `c`'s incarnations into `sub` (see
/// [`write_replay_diagrams`]); how many.
pub fn write_incarnation_diagrams(
    sub: &std::path::Path,
    name: &str,
    c: &crate::oracle::ConnectionVerdict,
    all: bool,
) -> Result<usize, String> {
    use crate::oracle::Verdict;
    let mut written = 0;
    for i in &c.incarnations {
        if !all && i.verdict == Verdict::Conforming && i.hazards.is_empty() {
            continue;
        }
        std::fs::create_dir_all(sub).map_err(|e| format!("{}: {e}", sub.display()))?;
        let file = sub.join(format!(
            "{}-{}.{}.svg",
            slug(&c.client.to_string()),
            slug(&c.server.to_string()),
            i.incarnation
        ));
        let svg = teardown_model::ladder::to_svg(&replay_ladder(name, c, i));
        std::fs::write(&file, svg).map_err(|e| format!("{}: {e}", file.display()))?;
        written += 1;
    }
    Ok(written)
}
