//! `teardown timewait`: from captures, how close each host is to running out of 4-tuples
//! because of TIME-WAIT, and which remedy is safe.
//!
//! Nothing here times a TIME-WAIT: every interval is the oracle's
//! ([`IncarnationVerdict::time_wait`]), i.e. the model's TIME-WAIT rules replayed over the
//! capture — entry by the rule that entered it, restarts by re-ACKed FINs, early ends by RST
//! or by a SYN that reopened the 4-tuple. This module only counts them over time.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use serde::Serialize;
use teardown_model::builtins::builtin;
use teardown_model::hazards::Hazard;
use teardown_model::stack::StackDescription;

use crate::oracle::{ConnectionVerdict, IncarnationVerdict, TimeWaitEnd};
use crate::replay::{FileOutcome, FileVerdicts, Picks, VerdictSink};

/// RFC 6335 §6: the dynamic ports, for a host whose stack has no description.
const DYNAMIC_PORTS: (u16, u16) = (49152, 65535);

/// Options of `teardown timewait`.
#[derive(Clone, Debug, Default)]
pub struct TimeWaitOptions {
    /// The client's ephemeral port range; `None`: the client stack's (its description's
    /// `[host] ephemeral_ports`).
    pub port_range: Option<(u16, u16)>,
    /// The description `--stack` named, built-in or file; `None` with `auto`, where each
    /// host's stack is the built-in its fingerprint picked.
    pub stack: Option<StackDescription>,
}

impl TimeWaitOptions {
    /// The description of the stack called `name` in the replay's verdicts.
    fn describe(&self, name: &str) -> Option<StackDescription> {
        match &self.stack {
            Some(s) if s.name == name => Some(s.clone()),
            _ => builtin(name).map(|b| b.stack),
        }
    }
}

/// TIME-WAIT pressure of one (holder, peer, service port).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PairPressure {
    /// The endpoint holding the TIME-WAITs.
    pub holder: IpAddr,
    /// Its role: `client` or `server`.
    pub holder_role: &'static str,
    /// The other endpoint.
    pub peer: IpAddr,
    /// The server's port (the service).
    pub service_port: u16,
    /// The holder's stack description, whose TIME-WAIT rules timed the intervals.
    pub stack: String,
    /// Incarnations between the client and the service (all of them, TIME-WAIT or not).
    pub connections: usize,
    /// TIME-WAITs this side held.
    pub time_waits: usize,
    /// The description's TIME-WAIT length, in seconds.
    pub time_wait_s: f64,
    /// Most TIME-WAITs at once.
    pub peak: usize,
    /// When the peak was first reached (capture clock, ns since the Unix epoch).
    pub peak_at_ns: i64,
    /// The client's ephemeral port range.
    pub port_range: (u16, u16),
    /// Where the range comes from.
    pub port_range_source: String,
    /// Ports in the range: the 4-tuples the client can use towards this service.
    pub ports: u32,
    /// `peak` as a share of `ports`, in percent.
    pub peak_utilisation_pct: f64,
    /// Connections per second this range sustains: ports ÷ TIME-WAIT length.
    pub sustainable_rate_per_s: f64,
    /// Connections per second observed (first to last opening), with two or more.
    pub observed_rate_per_s: Option<f64>,
    /// At the observed rate, seconds until every port is in TIME-WAIT; `None`: never.
    pub exhaustion_after_s: Option<f64>,
    /// Connections that carried one request or none.
    pub single_request: usize,
    /// Connections with timestamps (RFC 7323) negotiated.
    pub with_timestamps: usize,
    /// TIME-WAITs ended early by RST (RFC 1337 assassination).
    pub ended_by_rst: usize,
    /// TIME-WAITs ended by a new incarnation of the 4-tuple.
    pub reopened: usize,
    /// Reuse inside TIME-WAIT protected by PAWS (RFC 6191).
    pub reuse_with_paws: usize,
    /// Reuse inside TIME-WAIT without PAWS protection.
    pub reuse_without_paws: usize,
    /// The count over time: (time ns, TIME-WAITs from then on), one point per change.
    pub series: Vec<(i64, usize)>,
}

impl PairPressure {
    /// TIME-WAITs held at `t_ns`.
    pub fn count_at(&self, t_ns: i64) -> usize {
        match self.series.partition_point(|&(t, _)| t <= t_ns) {
            0 => 0,
            i => self.series[i - 1].1,
        }
    }
}

/// A remedy, and the check that shows whether it is safe.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Recommendation {
    /// What to do, in plain words.
    pub advice: String,
    /// The model check that shows it safe or not.
    pub check: String,
}

/// What could not be read.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Unreadable {
    /// The file.
    pub path: String,
    /// What went wrong, and where.
    pub error: String,
}

/// Connections replay let go in one file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FileEvictions {
    /// The file.
    pub path: String,
    /// What was let go.
    #[serde(flatten)]
    pub evictions: crate::replay::Evictions,
}

/// The report of `teardown timewait`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TimeWaitReport {
    /// Files read.
    pub files: Vec<String>,
    /// Files, or parts of them, that could not be read (the rest is analysed).
    pub unreadable: Vec<Unreadable>,
    /// Files where replay reached `--max-connections` and let connections go (each one's
    /// TIME-WAIT, if it had reached one, is still counted; an open one's never came).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evictions: Vec<FileEvictions>,
    /// Connections (incarnations) seen.
    pub connections: usize,
    /// Per (holder, peer, service port), most TIME-WAITs at once first.
    pub pairs: Vec<PairPressure>,
    /// What the captures show, in plain words.
    pub findings: Vec<String>,
    /// What to do about it.
    pub recommendations: Vec<Recommendation>,
}

#[derive(Default)]
struct Acc {
    stack: String,
    client_stack: String,
    /// Whose stacks those are: (file, connection), the last in order of first appearance
    /// (what does not depend on the order replay settled connections in).
    stacks_of: Option<(usize, usize)>,
    connections: usize,
    openings: Vec<i64>,
    spans: Vec<(i64, i64)>,
    single_request: usize,
    with_timestamps: usize,
    ended_by_rst: usize,
    reopened: usize,
    reuse_with_paws: usize,
    reuse_without_paws: usize,
}

type Key = (&'static str, IpAddr, IpAddr, u16);

/// Builds the report from the oracle's verdicts.
pub fn analyse(files: &[FileVerdicts], opts: &TimeWaitOptions) -> TimeWaitReport {
    let mut all = TimeWaitAnalysis::default();
    for f in files {
        let mut one = TimeWaitAnalysis::default();
        for (index, c) in f.connections.iter().enumerate() {
            one.add(index, c, true);
        }
        all.add_file(&f.ingest.path, f.ingest.error.as_ref(), f.evictions, one);
    }
    all.report(opts)
}

/// The counts behind a [`TimeWaitReport`], fed one connection at a time as replay settles
/// it (a [`VerdictSink`] per file), so that `teardown timewait` holds counts and
/// TIME-WAIT intervals, not every connection's verdict. The report does not depend on the
/// order connections settled in.
#[derive(Default)]
pub struct TimeWaitAnalysis {
    pairs: BTreeMap<Key, Acc>,
    connections: usize,
    files: Vec<String>,
    unreadable: Vec<Unreadable>,
    evictions: Vec<FileEvictions>,
}

impl VerdictSink for TimeWaitAnalysis {
    fn settled(&mut self, index: usize, c: ConnectionVerdict, _: Picks, first: bool) {
        self.add(index, &c, first);
    }
}

impl TimeWaitAnalysis {
    /// Counts connection `index`'s incarnations (`first`: its first replay; see
    /// [`VerdictSink::settled`]).
    fn add(&mut self, index: usize, c: &ConnectionVerdict, first: bool) {
        let (client, server) = (c.client.ip(), c.server.ip());
        let port = c.server.port();
        for inc in &c.incarnations {
            self.connections += 1;
            // Both rows count every incarnation; a row is kept if its side held TIME-WAIT.
            for (role, holder, peer, side) in
                [("client", client, server, 0), ("server", server, client, 1)]
            {
                let acc = self.pairs.entry((role, holder, peer, port)).or_default();
                // A later replay of a returning 4-tuple is reported under its first.
                if first && acc.stacks_of.is_none_or(|(_, i)| i <= index) {
                    acc.stack.clone_from(&c.stacks[side]);
                    acc.client_stack.clone_from(&c.stacks[0]);
                    acc.stacks_of = Some((0, index));
                }
                count_incarnation(acc, inc, role, c.timestamps);
            }
        }
    }

    /// Adds the analysis of the next file, `path`, with the error that stopped reading it
    /// and the connections replay let go.
    fn add_file(
        &mut self,
        path: &str,
        error: Option<&crate::capture::CaptureError>,
        evictions: Option<crate::replay::Evictions>,
        file: TimeWaitAnalysis,
    ) {
        let k = self.files.len();
        self.files.push(path.to_string());
        if let Some(e) = error {
            self.unreadable.push(Unreadable {
                path: path.to_string(),
                error: e.to_string(),
            });
        }
        if let Some(evictions) = evictions {
            self.evictions.push(FileEvictions {
                path: path.to_string(),
                evictions,
            });
        }
        self.connections += file.connections;
        for (key, a) in file.pairs {
            let acc = self.pairs.entry(key).or_default();
            let of = a.stacks_of.map(|(_, i)| (k, i));
            if of.is_some() && acc.stacks_of <= of {
                acc.stack = a.stack;
                acc.client_stack = a.client_stack;
                acc.stacks_of = of;
            }
            acc.connections += a.connections;
            acc.openings.extend(a.openings);
            acc.spans.extend(a.spans);
            acc.single_request += a.single_request;
            acc.with_timestamps += a.with_timestamps;
            acc.ended_by_rst += a.ended_by_rst;
            acc.reopened += a.reopened;
            acc.reuse_with_paws += a.reuse_with_paws;
            acc.reuse_without_paws += a.reuse_without_paws;
        }
    }

    /// Adds the analysis of the next file (`file`, fed by its replay, whose `outcome` says
    /// what was read and what was let go).
    pub fn add_outcome(&mut self, outcome: &FileOutcome, file: TimeWaitAnalysis) {
        self.add_file(
            &outcome.ingest.path,
            outcome.ingest.error.as_ref(),
            outcome.evictions,
            file,
        );
    }

    /// The report.
    pub fn report(self, opts: &TimeWaitOptions) -> TimeWaitReport {
        let mut rows: Vec<PairPressure> = self
            .pairs
            .into_iter()
            .filter(|(_, a)| !a.spans.is_empty())
            .map(|((role, holder, peer, port), a)| pressure(role, holder, peer, port, a, opts))
            .collect();
        rows.sort_by(|a, b| b.peak.cmp(&a.peak).then(b.time_waits.cmp(&a.time_waits)));
        let findings = findings(&rows, self.connections);
        let recommendations = recommendations(&rows);
        TimeWaitReport {
            files: self.files,
            unreadable: self.unreadable,
            evictions: self.evictions,
            connections: self.connections,
            pairs: rows,
            findings,
            recommendations,
        }
    }
}

fn count_incarnation(acc: &mut Acc, inc: &IncarnationVerdict, role: &str, timestamps: bool) {
    acc.connections += 1;
    acc.openings.push(inc.start_ns);
    acc.single_request += usize::from(inc.requests <= 1);
    acc.with_timestamps += usize::from(timestamps);
    for s in inc.time_wait.iter().filter(|s| s.holder == role) {
        acc.spans.push((s.from_ns, s.until_ns));
        match s.end {
            TimeWaitEnd::Rst { .. } => acc.ended_by_rst += 1,
            TimeWaitEnd::Reopened { .. } => acc.reopened += 1,
            TimeWaitEnd::Timer => {}
        }
    }
    // Reuse inside TIME-WAIT counts where the TIME-WAIT was: the holder's row.
    let reused_side = inc.reuse.as_ref().and_then(|r| r.time_wait_side);
    if reused_side.unwrap_or("client") != role {
        return;
    }
    for h in &inc.hazards {
        if h.hazard == Hazard::ReuseInTimeWaitWithPaws.id() {
            acc.reuse_with_paws += 1;
        } else if h.hazard == Hazard::ReuseInTimeWaitWithoutPaws.id() {
            acc.reuse_without_paws += 1;
        }
    }
}

fn pressure(
    role: &'static str,
    holder: IpAddr,
    peer: IpAddr,
    port: u16,
    mut a: Acc,
    opts: &TimeWaitOptions,
) -> PairPressure {
    // Sweep: ends before starts at the same instant (a reopened TIME-WAIT hands over).
    let mut events: Vec<(i64, i32)> = a
        .spans
        .iter()
        .flat_map(|&(from, until)| [(from, 1), (until, -1)])
        .collect();
    events.sort_unstable();
    let mut series: Vec<(i64, usize)> = Vec::new();
    let (mut now, mut peak, mut peak_at) = (0i64, 0usize, 0i64);
    for (t, d) in events {
        now += i64::from(d);
        let n = usize::try_from(now).unwrap_or(0);
        match series.last_mut() {
            Some(last) if last.0 == t => last.1 = n,
            _ => series.push((t, n)),
        }
        if n > peak {
            (peak, peak_at) = (n, t);
        }
    }
    let time_wait_s = opts
        .describe(&a.stack)
        .and_then(|s| s.timers.time_wait_ms)
        .map_or(0.0, |ms| ms as f64 / 1000.0);
    let (range, source) = match opts.port_range {
        Some(r) => (r, "--port-range".to_string()),
        None => match opts.describe(&a.client_stack) {
            Some(s) => (
                s.ephemeral_ports,
                format!("client stack {}: [host] ephemeral_ports", a.client_stack),
            ),
            None => (
                DYNAMIC_PORTS,
                format!(
                    "RFC 6335 §6 dynamic ports (client stack {} has no description)",
                    a.client_stack
                ),
            ),
        },
    };
    let ports = u32::from(range.1.saturating_sub(range.0)) + 1;
    a.openings.sort_unstable();
    let observed = match (a.openings.first(), a.openings.last()) {
        (Some(&first), Some(&last)) if a.openings.len() >= 2 && last > first => {
            Some((a.openings.len() - 1) as f64 / ((last - first) as f64 / 1e9))
        }
        _ => None,
    };
    let sustainable = if time_wait_s > 0.0 {
        f64::from(ports) / time_wait_s
    } else {
        f64::INFINITY
    };
    // Each connection takes a port for its TIME-WAIT; while ports ÷ rate is shorter than
    // TIME-WAIT, none comes back before the range is used up.
    let exhaustion = observed
        .filter(|&r| r > sustainable)
        .map(|r| f64::from(ports) / r);
    PairPressure {
        holder,
        holder_role: role,
        peer,
        service_port: port,
        stack: a.stack,
        connections: a.connections,
        time_waits: a.spans.len(),
        time_wait_s,
        peak,
        peak_at_ns: peak_at,
        port_range: range,
        port_range_source: source,
        ports,
        peak_utilisation_pct: 100.0 * peak as f64 / f64::from(ports),
        sustainable_rate_per_s: sustainable,
        observed_rate_per_s: observed,
        exhaustion_after_s: exhaustion,
        single_request: a.single_request,
        with_timestamps: a.with_timestamps,
        ended_by_rst: a.ended_by_rst,
        reopened: a.reopened,
        reuse_with_paws: a.reuse_with_paws,
        reuse_without_paws: a.reuse_without_paws,
        series,
    }
}

fn findings(rows: &[PairPressure], connections: usize) -> Vec<String> {
    let mut out = Vec::new();
    if rows.is_empty() {
        out.push(format!(
            "no TIME-WAIT in {connections} connection(s): nobody closed gracefully first, or the captures end before any close"
        ));
        return out;
    }
    for r in rows {
        out.push(if r.holder_role == "server" {
            format!(
                "service {}:{} (client {}): the server closes first in {} of {} connections, so TIME-WAIT piles up on the server (its memory and tcp_max_tw_buckets, not the client's ports)",
                r.holder, r.service_port, r.peer, r.time_waits, r.connections
            )
        } else {
            format!(
                "client {} towards {}:{}: the client closes first in {} of {} connections, so TIME-WAIT piles up on the client",
                r.holder, r.peer, r.service_port, r.time_waits, r.connections
            )
        });
        out.push(format!(
            "peak {} TIME-WAIT at once ({:.1} % of {} ports); {} sustains {:.0} connections/s to one service with {:.0} s of TIME-WAIT{}",
            r.peak,
            r.peak_utilisation_pct,
            r.ports,
            r.stack,
            r.sustainable_rate_per_s,
            r.time_wait_s,
            match (r.observed_rate_per_s, r.exhaustion_after_s) {
                (Some(rate), Some(t)) => format!(
                    "; at the observed {rate:.1}/s every port is in TIME-WAIT after {t:.0} s"
                ),
                (Some(rate), None) => format!("; the observed {rate:.1}/s never exhausts them"),
                _ => String::new(),
            }
        ));
        if r.single_request > 0 {
            out.push(format!(
                "{} of {} connections carried a single request each",
                r.single_request, r.connections
            ));
        }
        out.push(if r.with_timestamps == r.connections {
            "timestamps negotiated on every connection: tcp_tw_reuse would be safe for outgoing connections (PAWS, RFC 7323 §5; RFC 6191)".to_string()
        } else if r.with_timestamps == 0 {
            "timestamps not negotiated: tcp_tw_reuse would not be protected by PAWS; old segments could reach a new incarnation".to_string()
        } else {
            format!(
                "timestamps negotiated on {} of {} connections: tcp_tw_reuse is safe only for those",
                r.with_timestamps, r.connections
            )
        });
        if r.reuse_with_paws > 0 {
            out.push(format!(
                "reuse inside TIME-WAIT observed {} time(s), protected by PAWS",
                r.reuse_with_paws
            ));
        }
        if r.reuse_without_paws > 0 {
            out.push(format!(
                "reuse inside TIME-WAIT observed {} time(s), NOT protected by PAWS (RFC 1122 4.2.2.13, RFC 6191)",
                r.reuse_without_paws
            ));
        }
        if r.ended_by_rst > 0 {
            out.push(format!(
                "{} TIME-WAIT(s) ended early by RST: TIME-WAIT assassination (RFC 1337)",
                r.ended_by_rst
            ));
        }
        if r.reopened > 0 {
            out.push(format!(
                "{} TIME-WAIT(s) ended by a new SYN on the same 4-tuple",
                r.reopened
            ));
        }
    }
    // Facts of the client and the service appear once, not once per holder.
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|f| seen.insert(f.clone()));
    out
}

fn recommendations(rows: &[PairPressure]) -> Vec<Recommendation> {
    let mut out = Vec::new();
    let Some(top) = rows.first() else {
        return out;
    };
    let stack = top.stack.as_str();
    if rows
        .iter()
        .any(|r| r.single_request * 2 >= r.connections && r.connections > 1)
    {
        out.push(Recommendation {
            advice: "reuse connections: HTTP/1.1 keep-alive or HTTP/2 multiplexing turns many short connections, each leaving a TIME-WAIT, into a few long ones; TIME-WAIT itself keeps its guarantees".to_string(),
            check: format!("teardown check --stack {stack}"),
        });
    }
    if rows.iter().any(|r| r.holder_role == "client") {
        if rows.iter().all(|r| r.with_timestamps == r.connections) {
            out.push(Recommendation {
                advice: "Linux: net.ipv4.tcp_tw_reuse=1 lets outgoing connections reuse a TIME-WAIT 4-tuple; safe here because every connection negotiated timestamps (PAWS rejects the old incarnation's segments)".to_string(),
                check: "teardown check --stack tw-reuse-with-timestamps".to_string(),
            });
        }
        out.push(Recommendation {
            advice: "never enable tcp_tw_reuse without timestamps: old segments can be accepted by the new incarnation".to_string(),
            check: "teardown check --stack tw-reuse-without-timestamps".to_string(),
        });
        out.push(Recommendation {
            advice: "widen the ephemeral port range (net.ipv4.ip_local_port_range) or spread connections over more destination addresses or ports: each (address, port) pair has its own range".to_string(),
            check: format!("teardown check --stack {stack}"),
        });
    }
    out.push(Recommendation {
        advice: "never use SO_LINGER {1, 0} (abortive close) to avoid TIME-WAIT: it throws away what TIME-WAIT guarantees — a lost final ACK is answered with RST and old segments may reach the next incarnation".to_string(),
        check: "teardown check --stack no-time-wait".to_string(),
    });
    out
}

fn secs(ns: i64) -> String {
    format!("{:.3}", ns as f64 / 1e9)
}

/// A capture timestamp as RFC 3339 UTC with milliseconds (before 1970: seconds).
pub fn utc(ns: i64) -> String {
    match u64::try_from(ns) {
        Ok(ns) => humantime::format_rfc3339_millis(
            std::time::UNIX_EPOCH + std::time::Duration::from_nanos(ns),
        )
        .to_string(),
        Err(_) => format!("{} s", secs(ns)),
    }
}

/// Human text: the table, the findings, the recommendations.
pub fn to_human(r: &TimeWaitReport) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "TIME-WAIT pressure: {} file(s), {} connection(s), {} holder/service pair(s)",
        r.files.len(),
        r.connections,
        r.pairs.len()
    );
    for e in &r.evictions {
        let _ = writeln!(
            o,
            "  LIMIT --max-connections {} reached in {} at frame {}: {} connections let go, {} of them still open",
            e.evictions.limit,
            e.path,
            e.evictions.first_frame,
            e.evictions.connections,
            e.evictions.open
        );
    }
    for u in &r.unreadable {
        let _ = writeln!(o, "  unreadable: {}: {}", u.path, u.error);
    }
    if !r.pairs.is_empty() {
        let _ = writeln!(
            o,
            "\n{:<7} {:<40} {:<40} {:>5} {:>6} {:>6} {:>6} {:>7} {:>11} {:>9} {:>9} {:>10}",
            "holder",
            "address",
            "peer",
            "port",
            "conns",
            "TW",
            "peak",
            "util %",
            "ports",
            "rate/s",
            "max/s",
            "exhausted"
        );
        for p in &r.pairs {
            let _ = writeln!(
                o,
                "{:<7} {:<40} {:<40} {:>5} {:>6} {:>6} {:>6} {:>7.2} {:>11} {:>9} {:>9.1} {:>10}",
                p.holder_role,
                p.holder.to_string(),
                p.peer.to_string(),
                p.service_port,
                p.connections,
                p.time_waits,
                p.peak,
                p.peak_utilisation_pct,
                format!("{}-{}", p.port_range.0, p.port_range.1),
                p.observed_rate_per_s
                    .map_or("-".to_string(), |v| format!("{v:.1}")),
                p.sustainable_rate_per_s,
                p.exhaustion_after_s
                    .map_or("never".to_string(), |v| format!("{v:.0} s")),
            );
            let _ = writeln!(
                o,
                "        peak at {}; stack {}, TIME-WAIT {:.0} s; ports: {}",
                utc(p.peak_at_ns),
                p.stack,
                p.time_wait_s,
                p.port_range_source
            );
        }
    }
    let _ = writeln!(o, "\nFindings:");
    for f in &r.findings {
        let _ = writeln!(o, "  - {f}");
    }
    if !r.recommendations.is_empty() {
        let _ = writeln!(o, "\nRecommendations:");
        for rec in &r.recommendations {
            let _ = writeln!(o, "  - {}\n      check: {}", rec.advice, rec.check);
        }
    }
    o
}

/// JSON: the whole report (series included).
pub fn to_json(r: &TimeWaitReport) -> serde_json::Result<String> {
    serde_json::to_string_pretty(r)
}

/// CSV: one row per pair (no series).
pub fn to_csv(r: &TimeWaitReport) -> String {
    let mut o = String::from(
        "holder_role,holder,peer,service_port,stack,connections,time_waits,time_wait_s,peak,peak_at_s,port_lo,port_hi,ports,peak_utilisation_pct,observed_rate_per_s,sustainable_rate_per_s,exhaustion_after_s,single_request,with_timestamps,ended_by_rst,reopened,reuse_with_paws,reuse_without_paws\n",
    );
    for p in &r.pairs {
        let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.3}"));
        let _ = writeln!(
            o,
            "{},{},{},{},{},{},{},{:.3},{},{},{},{},{},{:.3},{},{:.3},{},{},{},{},{},{},{}",
            p.holder_role,
            p.holder,
            p.peer,
            p.service_port,
            p.stack,
            p.connections,
            p.time_waits,
            p.time_wait_s,
            p.peak,
            secs(p.peak_at_ns),
            p.port_range.0,
            p.port_range.1,
            p.ports,
            p.peak_utilisation_pct,
            opt(p.observed_rate_per_s),
            p.sustainable_rate_per_s,
            opt(p.exhaustion_after_s),
            p.single_request,
            p.with_timestamps,
            p.ended_by_rst,
            p.reopened,
            p.reuse_with_paws,
            p.reuse_without_paws
        );
    }
    o
}

/// Pairs drawn in the chart: the ones with the highest peaks.
pub const PLOT_PAIRS: usize = 5;

const PALETTE: [plotters::style::RGBColor; PLOT_PAIRS] = [
    plotters::style::RGBColor(0x1f, 0x77, 0xb4),
    plotters::style::RGBColor(0xd6, 0x27, 0x28),
    plotters::style::RGBColor(0x2c, 0xa0, 0x2c),
    plotters::style::RGBColor(0x94, 0x67, 0xbd),
    plotters::style::RGBColor(0xff, 0x7f, 0x0e),
];

fn draw<DB: plotters::prelude::DrawingBackend>(
    r: &TimeWaitReport,
    root: plotters::drawing::DrawingArea<DB, plotters::coord::Shift>,
) -> Result<(), String> {
    use plotters::prelude::*;
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let top = &r.pairs[..r.pairs.len().min(PLOT_PAIRS)];
    let t0 = top
        .iter()
        .filter_map(|p| p.series.first().map(|s| s.0))
        .min()
        .unwrap_or(0);
    let t1 = top
        .iter()
        .filter_map(|p| p.series.last().map(|s| s.0))
        .max()
        .unwrap_or(t0);
    let x_max = ((t1 - t0) as f64 / 1e9).max(1.0) * 1.02;
    let y_max = (top.iter().map(|p| p.peak).max().unwrap_or(1) as f64 * 1.1).max(1.0);
    let mut chart = ChartBuilder::on(&root)
        .caption("sockets in TIME-WAIT over time", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(format!("seconds after the first TIME-WAIT ({})", utc(t0)))
        .y_desc("TIME-WAIT sockets")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(err)?;
    for (p, color) in top.iter().zip(PALETTE) {
        // A step function: hold each count until the next change.
        let mut pts = Vec::with_capacity(2 * p.series.len());
        let mut prev = 0.0;
        for &(t, n) in &p.series {
            let x = (t - t0) as f64 / 1e9;
            pts.push((x, prev));
            pts.push((x, n as f64));
            prev = n as f64;
        }
        let label = format!(
            "{} {} → {}:{} (peak {}, {:.1} % of {} ports)",
            p.holder_role,
            p.holder,
            p.peer,
            p.service_port,
            p.peak,
            p.peak_utilisation_pct,
            p.ports
        );
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

/// Size of the chart in pixels.
pub const PLOT_SIZE: (u32, u32) = (1000, 520);

/// The chart as SVG text.
pub fn plot_svg(r: &TimeWaitReport) -> Result<String, String> {
    use plotters::prelude::*;
    if r.pairs.is_empty() {
        return Err("no TIME-WAIT to plot".to_string());
    }
    crate::charts::ensure_font();
    let mut svg = String::new();
    draw(
        r,
        SVGBackend::with_string(&mut svg, PLOT_SIZE).into_drawing_area(),
    )?;
    Ok(svg)
}

/// The chart as a PNG file at `path`.
pub fn plot_png(r: &TimeWaitReport, path: &std::path::Path) -> Result<(), String> {
    use plotters::prelude::*;
    if r.pairs.is_empty() {
        return Err("no TIME-WAIT to plot".to_string());
    }
    crate::charts::ensure_font();
    draw(r, BitMapBackend::new(path, PLOT_SIZE).into_drawing_area())
}
