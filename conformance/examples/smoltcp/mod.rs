//! Generator of `traces/smoltcp/`: real smoltcp TCP stacks, driven in-process over an
//! impaired in-memory link, captured at both interfaces, with a ground-truth file per
//! capture. Shared by the `smoltcp_traces` example (writes the files) and the
//! `smoltcp_traces` test (regenerates them in memory and compares them byte for byte).
//!
//! Deterministic by construction: simulated time, fixed random seeds, explicit impairment
//! rules, little-endian pcap written through smoltcp's `PcapWriter`, JSON with a fixed key
//! order. See traces/smoltcp/README.md.

mod analysis;
mod scenarios;
mod sim;

use std::fs;
use std::net::SocketAddr;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;
use smoltcp::socket::tcp::State;

use analysis::{Capture, Observed, classify, decode, observe, segment_lines};
use scenarios::{ALL, Scenario};
use sim::{Cause, EPOCH_SECS, SERVER_PORT, Side, Sim};

/// The smoltcp release the captures come from (pinned in the workspace Cargo.toml).
pub const SMOLTCP_VERSION: &str = "0.12.0";
/// smoltcp's TIME-WAIT length: `CLOSE_DELAY` (10 000 ms) in src/socket/tcp.rs, a private
/// constant. The classification uses it to tell a reuse inside TIME-WAIT from one after
/// it; the truth files record the length each TIME-WAIT actually lasted.
pub const TIME_WAIT_US: i64 = 10_000_000;
/// Every classification a truth file may carry (the vocabulary of traces/linux).
pub const CLASSIFICATIONS: [&str; 12] = [
    "4-way",
    "3-way (FIN+ACK)",
    "simultaneous",
    "half-close with data",
    "RST abort",
    "FIN then RST",
    "FIN-WAIT-2 timeout",
    "lost final ACK recovered",
    "lost FIN recovered",
    "reuse of the 4-tuple (inside TIME-WAIT)",
    "reuse of the 4-tuple (after TIME-WAIT)",
    "TIME-WAIT ended by RST",
];

/// One generated file.
pub struct Artifact {
    /// File name inside `traces/smoltcp/captures/`.
    pub name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// An address and port.
#[derive(Serialize)]
struct Endpoint {
    addr: String,
    port: u16,
}

/// The interfaces' random seeds (smoltcp draws ISNs from them).
#[derive(Serialize)]
struct Seeds {
    client: u64,
    server: u64,
}

/// One stretch of TIME-WAIT, from the socket states smoltcp reported.
#[derive(Serialize)]
struct TimeWait {
    #[serde(skip)]
    entered_us: i64,
    side: &'static str,
    socket: usize,
    entered: String,
    left: String,
    held_s: f64,
    ended_by: &'static str,
}

/// Socket states over time, per side.
#[derive(Serialize)]
struct States {
    client: Vec<String>,
    server: Vec<String>,
}

/// A ground-truth file (same keys as traces/linux where they apply).
#[derive(Serialize)]
struct Truth {
    file: String,
    scenario: &'static str,
    description: &'static str,
    stack: &'static str,
    smoltcp: &'static str,
    generator: &'static str,
    simulated_start_utc: &'static str,
    vantage: &'static str,
    capture_point: &'static str,
    format: &'static str,
    link_type: &'static str,
    snaplen: u32,
    client: Endpoint,
    server: Endpoint,
    ip_version: u8,
    closed_first: &'static str,
    impairment: &'static str,
    impairment_log: Vec<String>,
    link: &'static str,
    random_seed: Seeds,
    classification: &'static str,
    time_wait_held_by: &'static str,
    time_wait: Vec<TimeWait>,
    socket_states: States,
    observed: Observed,
    packets: u64,
    segments: Vec<String>,
}

/// FNV-1a: a fixed, dependency-free way to give every scenario its own seeds (and so its
/// own ISNs) from its name.
fn seed(name: &str, salt: u8) -> u64 {
    name.bytes()
        .chain([salt])
        .fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
}

fn seconds(us: i64) -> String {
    format!("+{}.{:06}", us / 1_000_000, us % 1_000_000)
}

fn cause_name(c: Cause) -> &'static str {
    match c {
        Cause::Application => "application",
        Cause::Segment => "segment received",
        Cause::Rst => "RST received",
        Cause::Timer => "timer",
    }
}

fn client_addr(sim: &Sim, port: u16) -> SocketAddr {
    SocketAddr::new(sim.family().addr(Side::Client), port)
}

/// Stretches of TIME-WAIT in the state log.
fn time_waits(sim: &Sim) -> Vec<TimeWait> {
    let mut out = Vec::new();
    for side in [Side::Client, Side::Server] {
        let log = &sim.states[side as usize];
        for (i, ch) in log.iter().enumerate() {
            if ch.state != State::TimeWait {
                continue;
            }
            let end = log[i + 1..]
                .iter()
                .find(|x| x.socket == ch.socket)
                .expect("every scenario runs until TIME-WAIT is over");
            out.push(TimeWait {
                entered_us: ch.at_us,
                side: side.name(),
                socket: ch.socket,
                entered: seconds(ch.at_us),
                left: seconds(end.at_us),
                held_s: (end.at_us - ch.at_us) as f64 / 1e6,
                ended_by: match (end.cause, end.state) {
                    (Cause::Timer, _) => "timer",
                    (Cause::Rst, _) => "RST received",
                    (Cause::Application, State::SynSent) => "application connect()",
                    (Cause::Application, _) => "application abort()",
                    (Cause::Segment, _) => "segment received",
                },
            });
        }
    }
    out
}

/// Which sides held TIME-WAIT after the first incarnation's close.
fn held_by(waits: &[TimeWait], client: &Capture) -> &'static str {
    let second_start = client
        .segs
        .iter()
        .find(|s| s.inc > 0)
        .map_or(i64::MAX, |s| s.t_us - EPOCH_SECS * 1_000_000);
    let held = |side: &str| {
        waits
            .iter()
            .any(|w| w.side == side && w.entered_us < second_start)
    };
    match (held("client"), held("server")) {
        (true, true) => "both",
        (true, false) => "client",
        (false, true) => "server",
        (false, false) => "none",
    }
}

/// Runs one scenario and returns its two captures and two truth files.
fn run(sc: &Scenario) -> Result<Vec<Artifact>, String> {
    let seeds = [seed(sc.name, b'c'), seed(sc.name, b's')];
    let mut sim = Sim::new(sc.family, seeds);
    (sc.script)(&mut sim, sc.port);
    let client = client_addr(&sim, sc.port);
    let pcaps = [sim.capture(Side::Client), sim.capture(Side::Server)];
    let caps = [
        decode(sc.name, &pcaps[0], client)?,
        decode(sc.name, &pcaps[1], client)?,
    ];
    let derived = classify(&caps[0], &caps[1], TIME_WAIT_US)?;
    if derived != sc.classification {
        return Err(format!(
            "{}: the captures show {derived:?}, the scenario means {:?}\nclient vantage:\n{}\nserver vantage:\n{}",
            sc.name,
            sc.classification,
            segment_lines(&caps[0].segs).join("\n"),
            segment_lines(&caps[1].segs).join("\n")
        ));
    }
    let waits = time_waits(&sim);
    let held = held_by(&waits, &caps[0]);
    let mut out = Vec::new();
    for (k, side) in [Side::Client, Side::Server].into_iter().enumerate() {
        let file = format!("{}.{}.pcap", sc.name, side.name());
        let observed = observe(&caps[k]);
        check_closed_first(sc.name, sc.closed_first, &observed)?;
        let states = |s: Side| {
            sim.states[s as usize]
                .iter()
                .map(|c| {
                    format!(
                        "{} #{} {} ({})",
                        seconds(c.at_us),
                        c.socket,
                        c.state,
                        cause_name(c.cause)
                    )
                })
                .collect()
        };
        let truth = Truth {
            file: file.clone(),
            scenario: sc.name,
            description: sc.description,
            stack: "smoltcp",
            smoltcp: SMOLTCP_VERSION,
            generator: "cargo run --release -p teardown-conformance --example smoltcp_traces -- traces/smoltcp/captures",
            simulated_start_utc: "2026-01-01T00:00:00Z",
            vantage: side.name(),
            capture_point: match side {
                Side::Client => {
                    "smoltcp PcapWriter on the client interface (before the impaired link)"
                }
                Side::Server => {
                    "smoltcp PcapWriter on the server interface (after the impaired link)"
                }
            },
            format: "pcap, microsecond, little-endian",
            link_type: "RAW (101), IP packets without link-layer header",
            snaplen: 65535,
            client: Endpoint {
                addr: client.ip().to_string(),
                port: sc.port,
            },
            server: Endpoint {
                addr: sim.family().addr(Side::Server).to_string(),
                port: SERVER_PORT,
            },
            ip_version: sim.family().version(),
            closed_first: sc.closed_first,
            impairment: sc.impairment,
            impairment_log: sim.impairment_log.clone(),
            link: "in memory, 1 ms each way, forwarded like a router (TTL / hop limit - 1); MTU 1500",
            random_seed: Seeds {
                client: seeds[0],
                server: seeds[1],
            },
            classification: sc.classification,
            time_wait_held_by: held,
            time_wait: time_waits(&sim),
            socket_states: States {
                client: states(Side::Client),
                server: states(Side::Server),
            },
            observed,
            packets: caps[k].packets,
            segments: segment_lines(&caps[k].segs),
        };
        let mut json = serde_json::to_string_pretty(&truth).map_err(|e| e.to_string())?;
        json.push('\n');
        out.push(Artifact {
            name: file,
            bytes: pcaps[k].clone(),
        });
        out.push(Artifact {
            name: format!("{}.{}.truth.json", sc.name, side.name()),
            bytes: json.into_bytes(),
        });
    }
    Ok(out)
}

/// The side that closed (or aborted) first must be the one the capture shows.
fn check_closed_first(name: &str, closed_first: &str, o: &Observed) -> Result<(), String> {
    let shown = match (o.first.simultaneous, o.first.first_fin, o.first.rst_from) {
        (Some(true), _, _) => "both",
        (_, Some(side), _) | (_, None, Some(side)) => side,
        (_, None, None) => "nobody",
    };
    if shown == closed_first {
        Ok(())
    } else {
        Err(format!(
            "{name}: closed_first is {closed_first}, the capture shows {shown}"
        ))
    }
}

/// Every capture and truth file of `traces/smoltcp/captures/`, in a fixed order.
pub fn generate() -> Result<Vec<Artifact>, String> {
    let mut out = Vec::new();
    for sc in ALL {
        out.extend(run(sc)?);
    }
    Ok(out)
}

/// Markdown rows for the README table, from the truth files in `dir`: file, scenario,
/// vantage, classification, TIME-WAIT (who held it, how long, what ended it), impairment.
pub fn table(dir: &Path) -> Result<Vec<String>, String> {
    let mut rows = Vec::new();
    for sc in ALL {
        for v in ["client", "server"] {
            let name = format!("{}.{v}.truth.json", sc.name);
            let bytes = fs::read(dir.join(&name)).map_err(|e| format!("{name}: {e}"))?;
            let t: Value = serde_json::from_slice(&bytes).map_err(|e| format!("{name}: {e}"))?;
            let waits: Vec<String> = t["time_wait"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|w| {
                            format!(
                                "{} {} s ({})",
                                w["side"].as_str().unwrap_or("?"),
                                w["held_s"],
                                w["ended_by"].as_str().unwrap_or("?")
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            rows.push(format!(
                "| `captures/{}.{v}.pcap` | {} | {v} | {} | {} | {} |",
                sc.name,
                sc.name,
                sc.classification,
                if waits.is_empty() {
                    "none".to_string()
                } else {
                    waits.join("; ")
                },
                sc.impairment
            ));
        }
    }
    Ok(rows)
}

fn field<'a>(t: &'a Value, key: &str, file: &str) -> Result<&'a Value, String> {
    t.get(key).ok_or_else(|| format!("{file}: no {key:?}"))
}

/// Checks every truth file in `dir` against the captures beside it: packet count,
/// segment lines and `observed` re-derived from the capture, the classification
/// re-derived from both vantages' captures, the vocabulary. Returns how many were checked.
pub fn verify(dir: &Path) -> Result<usize, String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".truth.json"))
        .collect();
    names.sort();
    let read = |name: &str| fs::read(dir.join(name)).map_err(|e| format!("{name}: {e}"));
    for name in &names {
        let t: Value = serde_json::from_slice(&read(name)?).map_err(|e| format!("{name}: {e}"))?;
        let file = field(&t, "file", name)?.as_str().ok_or("file")?;
        let vantage = field(&t, "vantage", name)?.as_str().ok_or("vantage")?;
        let scenario = field(&t, "scenario", name)?.as_str().ok_or("scenario")?;
        let addr: std::net::IpAddr = field(&t, "client", name)?["addr"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| format!("{name}: client.addr"))?;
        let port = field(&t, "client", name)?["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| format!("{name}: client.port"))?;
        let client = SocketAddr::new(addr, port);
        let c = decode(file, &read(&format!("{scenario}.client.pcap"))?, client)?;
        let s = decode(file, &read(&format!("{scenario}.server.pcap"))?, client)?;
        let own = if vantage == "client" { &c } else { &s };
        let mut problems = Vec::new();
        if field(&t, "packets", name)? != &Value::from(own.packets) {
            problems.push(format!("{} packets in the capture", own.packets));
        }
        let lines = serde_json::to_value(segment_lines(&own.segs)).map_err(|e| e.to_string())?;
        if field(&t, "segments", name)? != &lines {
            problems.push("the segment lines differ from the capture".to_string());
        }
        let observed = serde_json::to_value(observe(own)).map_err(|e| e.to_string())?;
        if field(&t, "observed", name)? != &observed {
            problems.push(format!("the capture shows observed = {observed}"));
        }
        let class = field(&t, "classification", name)?.as_str().unwrap_or("");
        if !CLASSIFICATIONS.contains(&class) {
            problems.push(format!("{class:?} is not in the vocabulary"));
        }
        let derived = classify(&c, &s, TIME_WAIT_US)?;
        if derived != class {
            problems.push(format!("the captures show {derived:?}, not {class:?}"));
        }
        let closed_first = field(&t, "closed_first", name)?.as_str().unwrap_or("");
        let o = observe(own);
        if let Err(e) = check_closed_first(name, closed_first, &o) {
            problems.push(e);
        }
        if !problems.is_empty() {
            return Err(format!("{name}: {}", problems.join("; ")));
        }
    }
    Ok(names.len())
}
