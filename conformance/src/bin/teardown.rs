//! `teardown`: the command line. It parses arguments, calls `teardown-model` and
//! `teardown-conformance`, and prints. No TCP rule and no checking logic lives here.

// The argument docs are clap's `--help` text, where `DIR/<stack>/<property>.svg` is meant
// literally: rustdoc would read the placeholders as HTML tags.
#![allow(rustdoc::invalid_html_tags)]

use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// mimalloc: replay allocates and frees small hypothesis sets for every segment.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use teardown_conformance::artifacts::export_discoveries;
use teardown_conformance::check_report::{self, Timings};
use teardown_conformance::stacks::{self, LoadedStack};
use teardown_conformance::{envelope_report, graph_report};
use teardown_model::builtins::builtin_names;
use teardown_model::check::{CheckOptions, check, expectations};
use teardown_model::graph::{self, DEFAULT_MAX_STATES, enumerate};
use teardown_model::stack::{IsnPolicy, parse_duration_ms};
use teardown_model::system::{Bounds, TeardownModel};

/// A formal model of TCP connection teardown, model-checked with stateright,
/// and the same model used as an oracle for real packet captures.
#[derive(Parser, Debug)]
#[command(name = "teardown", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Model-check stack descriptions: prove the teardown properties or find counterexamples.
    #[command(long_about = CHECK_LONG_ABOUT)]
    Check(CheckArgs),
    /// Replay pcap/pcapng captures through the model and judge each connection's teardown.
    #[command(long_about = REPLAY_LONG_ABOUT)]
    Replay(ReplayArgs),
    /// Export the explored state graph of a configuration (summary, DOT, JSON).
    #[command(long_about = GRAPH_LONG_ABOUT)]
    Graph(GraphArgs),
    /// The safety envelope: the shortest TIME-WAIT for which each of its purposes holds.
    #[command(long_about = ENVELOPE_LONG_ABOUT)]
    Envelope(EnvelopeArgs),
    /// TIME-WAIT pressure from captures: sockets in TIME-WAIT over time, port exhaustion,
    /// and which remedy is safe.
    #[command(long_about = TIMEWAIT_LONG_ABOUT)]
    Timewait(TimewaitArgs),
    /// Serve stateright's Explorer web UI to walk a stack's state space step by step.
    #[command(long_about = EXPLORE_LONG_ABOUT)]
    Explore(ExploreArgs),
    /// Stack descriptions: list the built-ins, or show one (or a stack file) fully resolved.
    #[command(subcommand, long_about = STACK_LONG_ABOUT)]
    Stack(StackCommand),
}

const STACK_LONG_ABOUT: &str = "\
Stack descriptions: the built-ins, and your own as a TOML file.

Wherever a command takes --stack NAME it also takes --stack FILE: a stack description file
(schema 1, documented in docs/stack-files.md) that may `extends = \"linux\"` (any built-in)
and override what differs. `show` prints the fully resolved description as a stack file of
its own, with every duration in ticks and how it was rounded.

Examples:
  teardown stack list
  teardown stack show linux
  teardown stack show examples/stacks/zephyr-like.toml
  teardown stack show my-stack.toml --format json

Exit status: 0, or 2 when the stack file is invalid (the error gives file, line and
column) or on bad usage.";

/// `teardown stack …`.
#[derive(Subcommand, Debug)]
enum StackCommand {
    /// List the built-in stack descriptions.
    List,
    /// Print a built-in or a stack file fully resolved (as a stack file, or JSON).
    Show(StackShowArgs),
}

/// Output format of `stack show`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum StackFormat {
    Toml,
    Json,
}

/// Arguments of `teardown stack show`.
#[derive(Args, Debug)]
struct StackShowArgs {
    /// A built-in name or the path of a stack file.
    #[arg(value_name = "NAME|FILE")]
    stack: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = StackFormat::Toml)]
    format: StackFormat,
}

const TIMEWAIT_LONG_ABOUT: &str = "\
TIME-WAIT pressure from captures: how close each host is to running out of ports because of
TIME-WAIT, and which remedy is safe.

Every connection is replayed through the model (as `teardown replay` does); the TIME-WAIT
intervals are the model's own — entered by the rule that entered it, restarted by re-ACKed
FINs, ended by the 2MSL timer, an RST or a reopening SYN. Per (holder address, peer
address, service port): the count of sockets in TIME-WAIT over time, its peak and when, the
client's ephemeral port range (the client stack's default, or --port-range), peak
utilisation, the sustainable rate (ports / TIME-WAIT length: 28,232 / 60 s = 470 new
connections/s per destination on Linux) and, at the observed rate, the time to exhaustion.
Then findings in plain words and recommendations, each with the `teardown check` that shows
whether it is safe.

Examples:
  teardown timewait client.pcap
  teardown timewait --port-range 1024-65535 --format csv captures/
  teardown timewait --plot timewait.svg client.pcap        # or .png

Exit status: 2 if any input was unreadable (even in part; after reporting what was
readable) or on bad usage, else 0.";

/// `--format` of `timewait`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum TimewaitFormat {
    Human,
    Json,
    Csv,
}

/// Arguments of `teardown timewait`.
#[derive(Args, Debug)]
struct TimewaitArgs {
    /// Capture files or directories (pcap, pcapng, gzip-compressed).
    #[arg(value_name = "FILE|DIR", required = true)]
    inputs: Vec<PathBuf>,
    /// Stack description whose TIME-WAIT rules time the intervals (a built-in name or a
    /// stack file), or `auto`: per endpoint from its SYN's fingerprint.
    #[arg(long, value_name = "NAME|FILE|auto", default_value = "auto")]
    stack: String,
    /// The client's ephemeral port range, LO-HI (default: the client stack's).
    #[arg(long, value_name = "LO-HI", value_parser = parse_port_range)]
    port_range: Option<(u16, u16)>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TimewaitFormat::Human)]
    format: TimewaitFormat,
    /// Also draw the TIME-WAIT count over time of the top pairs, as SVG or PNG (by extension).
    #[arg(long, value_name = "FILE.svg|FILE.png")]
    plot: Option<PathBuf>,
    #[command(flatten)]
    limits: LimitArgs,
    /// Threads (default: one per core): files replayed at once, and with fewer files than
    /// threads, the connections of each file shared among the threads left. The report
    /// does not depend on it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=256))]
    jobs: Option<u64>,
}

/// What replay may hold, for `replay` and `timewait`.
#[derive(Args, Debug)]
struct LimitArgs {
    /// Connections replayed at once; beyond it the least recently active are let go
    /// (closed ones first; an open one ends INCONCLUSIVE, `evicted`), counted in the report.
    #[arg(long, value_name = "N", default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    max_connections: u64,
    /// Hypotheses kept per connection after each segment; beyond it those assuming the
    /// fewest losses are kept and the verdict says the bound was hit.
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=4096))]
    max_hypotheses: u64,
}

impl LimitArgs {
    fn limits(&self) -> teardown_conformance::replay::Limits {
        teardown_conformance::replay::Limits {
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
            max_hypotheses: usize::try_from(self.max_hypotheses).unwrap_or(usize::MAX),
        }
    }
}

/// `LO-HI`, 1 <= LO <= HI <= 65535.
fn parse_port_range(s: &str) -> Result<(u16, u16), String> {
    let (lo, hi) = s
        .split_once('-')
        .ok_or_else(|| format!("`{s}`: expected LO-HI, e.g. 32768-60999"))?;
    let port = |v: &str| {
        v.trim()
            .parse::<u16>()
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| format!("`{v}`: a port is 1 to 65535"))
    };
    let (lo, hi) = (port(lo)?, port(hi)?);
    if lo > hi {
        return Err(format!("`{s}`: LO must not exceed HI"));
    }
    Ok((lo, hi))
}

const ENVELOPE_LONG_ABOUT: &str = "\
The safety envelope: the shortest TIME-WAIT for which each of its purposes holds.

For every point of a grid of MSL and RTO (in ticks), losses and duplications, and for each
of four variants of the stack (timestamps/PAWS on and off, RFC 1337 on and off), finds
the smallest TIME-WAIT length (ticks, and seconds for the tick) for which
  final ACK is always recovered                   (RFC 9293 §3.6)
  old segment never accepted by a new incarnation (RFC 9293 §3.6.1, RFC 1337)
holds, with a shortest counterexample one tick below. Bisects where the verdict is
monotone in the length (only the timer ends TIME-WAIT), scans every length elsewhere and
reports lengths where it is not monotone.

Examples:
  teardown envelope                                     # rfc9293, the default grid
  teardown envelope --stack linux --losses 0..3 --rto 1..2 --plot envelope.svg
  teardown envelope --msl 1..4 --losses 1 --dups 0 --format csv
  teardown envelope --stack freebsd --format json | jq '.points[0].final_ack'

Exit status: 0 when the search completed, 2 on bad usage.";

/// Output format of `envelope`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum EnvelopeFormat {
    Human,
    Json,
    Csv,
}

/// Arguments of `teardown envelope`.
#[derive(Args, Debug)]
struct EnvelopeArgs {
    /// Stack whose other knobs every point uses: a built-in name or a stack file.
    #[arg(long, value_name = "NAME|FILE", default_value = "rfc9293")]
    stack: String,
    /// MSL range in ticks, e.g. 1..4 or 2.
    #[arg(long, value_name = "A..B", default_value = "2", value_parser = parse_range_u16)]
    msl: RangeInclusive<u16>,
    /// Initial RTO range in ticks.
    #[arg(long, value_name = "A..B", default_value = "1..2", value_parser = parse_range_u16)]
    rto: RangeInclusive<u16>,
    /// Loss budgets.
    #[arg(long, value_name = "A..B", default_value = "0..2", value_parser = parse_range_u8)]
    losses: RangeInclusive<u8>,
    /// Duplication budgets.
    #[arg(long, value_name = "A..B", default_value = "0..1", value_parser = parse_range_u8)]
    dups: RangeInclusive<u8>,
    /// Delay budget (late and reordered segments; old segments need 1).
    #[arg(long, value_name = "N", default_value_t = 1)]
    delays: u8,
    /// Incarnations of the 4-tuple (old segments need 2).
    #[arg(long, value_name = "N", default_value_t = 2)]
    incarnations: u8,
    /// Data segments each side sends before closing.
    #[arg(long, value_name = "N", default_value_t = 0)]
    data: u8,
    /// Real duration of one tick, for the seconds column (default: the stack's tick).
    #[arg(long, value_name = "DURATION")]
    tick: Option<String>,
    /// ISN of a new incarnation: `above-old` (clock-driven, RFC 9293 §3.4.1; Linux on
    /// TIME-WAIT reuse) or `arbitrary` (may land in the old sequence space); default: the
    /// stack's. Above the old space no old segment is acceptable whatever TIME-WAIT lasts.
    #[arg(long, value_enum, value_name = "POLICY")]
    isn: Option<IsnArg>,
    /// Longest TIME-WAIT tried, in ticks (default per point: 2·MSL + the RTO backoff series
    /// the losses can force + 1).
    #[arg(long, value_name = "TICKS")]
    max_time_wait: Option<u16>,
    /// Scan every length even where bisection is sound.
    #[arg(long)]
    scan_all: bool,
    /// Print each counterexample in the human format (JSON always has them).
    #[arg(long)]
    traces: bool,
    /// Worker threads.
    #[arg(long, value_name = "N", default_value_t = 2)]
    threads: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = EnvelopeFormat::Human)]
    format: EnvelopeFormat,
    /// Also draw the envelope as an SVG chart to this file.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
}

/// `--isn` of `envelope`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum IsnArg {
    AboveOld,
    Arbitrary,
}

/// Parses `A..B`, `A..=B` or `A` into an inclusive range.
fn parse_range<T: std::str::FromStr + PartialOrd + Copy>(
    text: &str,
) -> Result<RangeInclusive<T>, String> {
    let num = |t: &str| {
        t.trim()
            .parse::<T>()
            .map_err(|_| format!("`{t}` is not a number in range"))
    };
    let (a, b) = match text.split_once("..") {
        Some((a, b)) => (num(a)?, num(b.strip_prefix('=').unwrap_or(b))?),
        None => {
            let v = num(text)?;
            (v, v)
        }
    };
    if a > b {
        return Err(format!("`{text}`: the range is empty (A must be ≤ B)"));
    }
    Ok(a..=b)
}

fn parse_range_u16(text: &str) -> Result<RangeInclusive<u16>, String> {
    parse_range(text)
}

fn parse_range_u8(text: &str) -> Result<RangeInclusive<u8>, String> {
    parse_range(text)
}

const CHECK_LONG_ABOUT: &str = "\
Model-check stack descriptions: prove the teardown properties or find counterexamples.

Explores every execution of two endpoints closing a connection (and reopening the same
4-tuple) under loss, reordering and duplication within the checking bounds, and reports
per property: holds, VIOLATED (with a shortest counterexample), witness found or not found.

Examples:
  teardown check --all                      # every built-in stack, verdict table
  teardown check --stack linux              # one stack, with its default bounds
  teardown check --stack short-time-wait --losses 0 --dups 1
  teardown check --stack rfc9293+rfc1337 --format json
  teardown check --stack my-stack.toml --format junit > check.xml   # your own stack

A stack file (docs/stack-files.md) may state what the checker must find in [expect]; a
property it does not list must hold.

Exit status: 0 when every verdict is the expected one, 1 when any differs (for a stack
without expectations: any violated property), 2 on bad usage or an invalid stack file.";

const REPLAY_LONG_ABOUT: &str = "\
Replay pcap/pcapng captures through the model and judge each connection's teardown.

Examples:
  teardown replay capture.pcap
  teardown replay --stack linux --format json traces/linux/
  teardown replay --stack my-stack.toml --format junit captures/ > replay.xml
  teardown replay --connections traces/third-party/   # connections and incarnations only

Each connection incarnation is replayed through the model's endpoint rules, keeping every
hypothesis the capture cannot rule out (losses on either side of the capture point,
application calls, timers), and judged CONFORMING, VIOLATION (with the rule, frames and RFC
section) or INCONCLUSIVE (with the reason); hazards are listed beside the verdict.

Exit status: 2 if any input was unreadable (even in part; after reporting what was
readable) or on bad usage; else 1 for what --fail-on names (default: violations); else 0.";

const GRAPH_LONG_ABOUT: &str = "\
Export the explored state graph of a configuration (summary, DOT, JSON, SVG).

Enumerates every reachable state exactly (full states, no fingerprints) breadth-first, with
small default bounds of its own (losses 1, dups 0, delays 1, incarnations 2, data 1) so
that every built-in can be enumerated; the bound flags of `check` override them.

  summary  unique states, edges, initial and terminal states, breadth-first depth, states
           per (client state, server state) pair, edges per action kind, states violating
           each property, and a fingerprint of the graph independent of exploration order
  dot      Graphviz: states with both endpoint states and the segments in flight, edges
           with the action and the rule applied, violating states filled red
  json     nodes and edges with stable ids (breadth-first discovery order)
  svg      the DOT laid out by Graphviz `dot` (must be installed)

Examples:
  teardown graph --stack rfc9293 --format summary
  teardown graph --stack no-time-wait --losses 0 --incarnations 1 --format dot > graph.dot
  teardown graph --stack linux --format json | jq '.summary.states_per_pair'
  teardown graph --stack rfc9293 --losses 0 --incarnations 1 --format svg > graph.svg";

/// Output format of `check`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum CheckFormat {
    Human,
    Json,
    Junit,
}

/// Arguments of `teardown check`.
#[derive(Args, Debug)]
struct CheckArgs {
    /// Stack to check: a built-in name or a stack file (repeatable).
    #[arg(long = "stack", value_name = "NAME|FILE")]
    stacks: Vec<String>,
    /// Check every built-in stack and print the verdict table.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    bounds: BoundArgs,
    /// Worker threads for the exhaustive search.
    #[arg(long, value_name = "N", default_value_t = 2)]
    threads: usize,
    /// Stop with an error if more unique states than this are found.
    #[arg(long, value_name = "N")]
    max_states: Option<usize>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CheckFormat::Human)]
    format: CheckFormat,
    /// Write every counterexample and witness as a capture at each host:
    /// DIR/<stack>/<property>.{client,server}.pcapng (a comment per packet says what the
    /// model did; interface statistics say how long the capture ran).
    #[arg(long, value_name = "DIR")]
    emit_pcap: Option<PathBuf>,
    /// Write every counterexample and witness as an SVG ladder diagram:
    /// DIR/<stack>/<property>.svg.
    #[arg(long, value_name = "DIR")]
    diagram: Option<PathBuf>,
    /// Emitted captures use IPv6 (documentation prefix 2001:db8::/32) instead of IPv4.
    #[arg(long)]
    ipv6: bool,
}

/// Arguments of `teardown explore`.
#[derive(Args, Debug)]
struct ExploreArgs {
    /// Stack to explore: a built-in name or a stack file.
    #[arg(long, value_name = "NAME|FILE")]
    stack: String,
    #[command(flatten)]
    bounds: BoundArgs,
    /// Address to serve on (loopback by default: the Explorer has no authentication).
    #[arg(long, default_value = "127.0.0.1:3000")]
    addr: String,
}

const EXPLORE_LONG_ABOUT: &str = "\
Serve stateright's Explorer for a stack: walk the state space step by step in a browser.

Each step shows the action (which application call, which segment the network delivers,
drops, duplicates or delays, which timer fires), the rule the endpoint applied with its RFC
section, the segment sent and both endpoint states; the path so far is drawn as a ladder
diagram. The checker runs in the background and lists every property with its discovery.

Examples:
  teardown explore --stack no-time-wait           # then open http://127.0.0.1:3000
  teardown explore --stack linux --losses 0 --addr 127.0.0.1:8080

Serves until interrupted (Ctrl-C). Exit status 2 on bad usage or if the address cannot be
bound.";

/// Checking bounds, shared by every subcommand that explores the model.
#[derive(Args, Debug)]
struct BoundArgs {
    /// Loss budget: segments the network may drop in one execution.
    #[arg(long, value_name = "N")]
    losses: Option<u8>,
    /// Duplication budget: segments the network may duplicate in one execution.
    #[arg(long, value_name = "N")]
    dups: Option<u8>,
    /// Delay budget: segments the network may hold back across a tick (reordering, late
    /// arrival up to MSL) in one execution.
    #[arg(long, value_name = "N")]
    delays: Option<u8>,
    /// Incarnations of the 4-tuple to explore (at least 2 for old-segment properties).
    #[arg(long, value_name = "N")]
    incarnations: Option<u8>,
    /// Data segments each side sends before closing.
    #[arg(long, value_name = "N")]
    data: Option<u8>,
    /// Real duration of one model tick, e.g. 500ms, 1s.
    #[arg(long, value_name = "DURATION")]
    tick: Option<String>,
}

/// Output format of `replay`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ReplayFormat {
    Human,
    Json,
    Junit,
}

/// Arguments of `teardown replay`.
#[derive(Args, Debug)]
struct ReplayArgs {
    /// Capture files or directories (pcap, pcapng, gzip-compressed).
    #[arg(value_name = "FILE|DIR", required = true)]
    inputs: Vec<PathBuf>,
    /// Stack description to judge against (a built-in name or a stack file), or `auto`:
    /// per endpoint from its SYN's fingerprint (initial TTL, window, timestamps), printed
    /// with the reason.
    #[arg(long, value_name = "NAME|FILE|auto", default_value = "auto")]
    stack: String,
    /// Where the capture was taken: `auto` infers it per connection from TTL / hop limit.
    #[arg(long, value_enum, default_value_t = VantageArg::Auto)]
    vantage: VantageArg,
    /// What makes the exit status 1.
    #[arg(long, value_enum, default_value_t = FailOnArg::Violation)]
    fail_on: FailOnArg,
    /// List connections and incarnations only, without verdicts.
    #[arg(long)]
    connections: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReplayFormat::Human)]
    format: ReplayFormat,
    /// Write a ladder diagram (SVG) of every incarnation that is not plainly CONFORMING
    /// (violation, inconclusive, or a hazard): DIR/<file>/<client>-<server>.<n>.svg.
    #[arg(long, value_name = "DIR")]
    diagram: Option<PathBuf>,
    /// With --diagram: every incarnation, conforming ones too.
    #[arg(long, requires = "diagram")]
    diagram_all: bool,
    #[command(flatten)]
    limits: LimitArgs,
    /// Threads (default: one per core): files replayed at once, and with fewer files than
    /// threads, the connections of each file shared among the threads left. The report
    /// does not depend on it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=256))]
    jobs: Option<u64>,
}

/// The capture files under the inputs; says how many files under directories were passed
/// over as not being captures.
fn inputs(command: &str, given: &[PathBuf]) -> Vec<PathBuf> {
    let (files, skipped) = teardown_conformance::report::expand_inputs_counting(given);
    if skipped > 0 {
        eprintln!(
            "teardown {command}: {skipped} file(s) under the directories given are not captures (by their first bytes) and were not read"
        );
    }
    files
}

/// `--jobs`, or one per core.
fn jobs(arg: Option<u64>) -> usize {
    arg.and_then(|n| usize::try_from(n).ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// `--vantage`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum VantageArg {
    Auto,
    Client,
    Server,
    Middle,
}

/// `--fail-on`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum FailOnArg {
    Violation,
    Inconclusive,
    Never,
}

/// Output format of `graph`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum GraphFormat {
    Summary,
    Dot,
    Json,
    Svg,
}

/// Arguments of `teardown graph`.
#[derive(Args, Debug)]
struct GraphArgs {
    /// Stack: a built-in name or a stack file.
    #[arg(long, value_name = "NAME|FILE")]
    stack: String,
    /// Bounds; unset ones take `graph`'s small defaults (losses 1, dups 0, delays 1,
    /// incarnations 2, data 1, the stack's tick), not `check`'s.
    #[command(flatten)]
    bounds: BoundArgs,
    /// Stop with an error if the graph has more states than this.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_STATES)]
    max_states: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Summary)]
    format: GraphFormat,
}

/// `teardown replay`: every connection of every capture judged by the oracle.
fn run_replay(args: &ReplayArgs) -> u8 {
    use teardown_conformance::oracle::VantageChoice;
    use teardown_conformance::replay::{ReplayOptions, StackChoice, replay_paths_into};
    use teardown_conformance::replay_report::{self, FailOn, Rendered, RenderedFile};
    let stack = match stack_choice(&args.stack) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let opts = ReplayOptions {
        stack,
        vantage: match args.vantage {
            VantageArg::Auto => VantageChoice::Auto,
            VantageArg::Client => VantageChoice::Client,
            VantageArg::Server => VantageChoice::Server,
            VantageArg::Middle => VantageChoice::Middle,
        },
        every_ladder: args.diagram_all,
        threads: 1,
        limits: args.limits.limits(),
    };
    let format = match args.format {
        ReplayFormat::Human => replay_report::Format::Human,
        ReplayFormat::Json => replay_report::Format::Json,
        ReplayFormat::Junit => replay_report::Format::Junit,
    };
    let auto = matches!(opts.stack, StackChoice::Auto { .. });
    // Each connection's report is rendered as its replay settles, not kept: memory follows
    // the connections replayed at once (--max-connections), not all the capture held.
    let mut files: Vec<RenderedFile> = replay_paths_into(
        &inputs("replay", &args.inputs),
        &opts,
        jobs(args.jobs),
        |path| {
            let r = Rendered::new(format, auto, &path.display().to_string());
            match &args.diagram {
                Some(dir) => r.with_diagrams(dir, args.diagram_all),
                None => r,
            }
        },
    )
    .into_iter()
    .map(|(outcome, rendered)| RenderedFile { outcome, rendered })
    .collect();
    // A reader that went away (`| head`) is not an error.
    let out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    if let Err(e) = replay_report::write_rendered(format, &mut files, out)
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("teardown replay: cannot write the report: {e}");
        return 2;
    }
    if let Some(dir) = &args.diagram {
        let mut written = 0;
        for f in &files {
            match f.rendered.diagrams() {
                Ok(n) => written += n,
                Err(e) => {
                    eprintln!("teardown replay: cannot write diagrams: {e}");
                    return 2;
                }
            }
        }
        eprintln!(
            "teardown replay: {written} ladder diagram(s) in {}",
            dir.display()
        );
    }
    replay_report::exit_status_rendered(
        &files,
        match args.fail_on {
            FailOnArg::Violation => FailOn::Violation,
            FailOnArg::Inconclusive => FailOn::Inconclusive,
            FailOnArg::Never => FailOn::Never,
        },
    )
}

/// `--stack NAME|FILE|auto` of `replay` and `timewait`.
fn stack_choice(name: &str) -> Result<teardown_conformance::replay::StackChoice, u8> {
    use teardown_conformance::replay::StackChoice;
    let lookup = if name == "auto" { "rfc9293" } else { name };
    // Replay runs the rules at full scale: a file's tick is of no concern here.
    let loaded =
        stacks::load_with(lookup, stacks::Validate::KnobsOnly).map_err(|e| usage_error(&e))?;
    Ok(if name == "auto" {
        StackChoice::Auto {
            fallback: loaded.spec.stack,
        }
    } else {
        StackChoice::Named(loaded.spec.stack)
    })
}

/// `--stack NAME|FILE`, or the exit status of the error it printed; a file is checked at
/// `--tick` when given (it overrides the file's tick), else at its own.
fn load_stack(arg: &str, tick: Option<&str>) -> Result<LoadedStack, u8> {
    let validate = match tick.map(parse_duration_ms) {
        Some(Ok(ms)) => stacks::Validate::AtTick(ms),
        // A malformed --tick is reported where the flags are applied.
        Some(Err(_)) => stacks::Validate::KnobsOnly,
        None => stacks::Validate::AtFileTick,
    };
    stacks::load_with(arg, validate).map_err(|e| usage_error(&e))
}

/// Says on standard error how a stack file's timers became ticks.
fn warn_ticks(command: &str, stack: &LoadedStack, tick_ms: u64) {
    for w in stack.tick_warnings(tick_ms) {
        eprintln!("teardown {command}: warning: {w}");
    }
}

fn run_stack(cmd: &StackCommand) -> u8 {
    use teardown_model::stack_file::{embedded_names, to_toml};
    match cmd {
        StackCommand::List => {
            let mut out = String::new();
            for name in embedded_names() {
                if let Ok(s) = stacks::load(name) {
                    let extends = s
                        .extends
                        .first()
                        .map_or(String::new(), |e| format!(" (extends {e})"));
                    out.push_str(&format!("{name:<28} {}{extends}\n", s.spec.stack.summary));
                }
            }
            emit(&out);
            0
        }
        StackCommand::Show(args) => {
            let loaded = match load_stack(&args.stack, None) {
                Ok(l) => l,
                Err(code) => return code,
            };
            match args.format {
                StackFormat::Toml => emit(&to_toml(&loaded.spec, &loaded.extends)),
                StackFormat::Json => {
                    let ticks = teardown_model::system::TickTimers::convert(
                        &loaded.spec.stack,
                        loaded.spec.bounds.tick_ms,
                    )
                    .ok();
                    let value = serde_json::json!({
                        "origin": loaded.origin(),
                        "extends": loaded.extends,
                        "spec": loaded.spec,
                        "ticks": ticks,
                        "rounding": teardown_model::stack_file::tick_rounding(
                            &loaded.spec.stack,
                            loaded.spec.bounds.tick_ms,
                        ),
                    });
                    match serde_json::to_string_pretty(&value) {
                        Ok(j) => emit(&(j + "\n")),
                        Err(e) => {
                            eprintln!("teardown stack: {e}");
                            return 2;
                        }
                    }
                }
            }
            0
        }
    }
}

fn run_timewait(args: &TimewaitArgs) -> u8 {
    use teardown_conformance::oracle::VantageChoice;
    use teardown_conformance::replay::{ReplayOptions, replay_paths_into};
    use teardown_conformance::timewait::{self, TimeWaitOptions};
    let plot_kind = match &args.plot {
        None => None,
        Some(p) => match p.extension().and_then(|e| e.to_str()) {
            Some("svg") => Some("svg"),
            Some("png") => Some("png"),
            _ => {
                return usage_error(&format!(
                    "--plot {}: the file name must end in .svg or .png",
                    p.display()
                ));
            }
        },
    };
    let opts = ReplayOptions {
        stack: match stack_choice(&args.stack) {
            Ok(s) => s,
            Err(code) => return code,
        },
        vantage: VantageChoice::Auto,
        every_ladder: false,
        threads: 1,
        limits: args.limits.limits(),
    };
    // Counted as connections settle: the analysis holds counts and intervals, not verdicts.
    let mut analysis = timewait::TimeWaitAnalysis::default();
    for (outcome, file) in replay_paths_into(
        &inputs("timewait", &args.inputs),
        &opts,
        jobs(args.jobs),
        |_| timewait::TimeWaitAnalysis::default(),
    ) {
        analysis.add_outcome(&outcome, file);
    }
    let report = analysis.report(&TimeWaitOptions {
        port_range: args.port_range,
        stack: match &opts.stack {
            teardown_conformance::replay::StackChoice::Named(s) => Some(s.clone()),
            teardown_conformance::replay::StackChoice::Auto { .. } => None,
        },
    });
    let text = match args.format {
        TimewaitFormat::Human => timewait::to_human(&report),
        TimewaitFormat::Csv => timewait::to_csv(&report),
        TimewaitFormat::Json => match timewait::to_json(&report) {
            Ok(json) => json + "\n",
            Err(e) => {
                eprintln!("teardown timewait: {e}");
                return 2;
            }
        },
    };
    emit(&text);
    if let (Some(path), Some(kind)) = (&args.plot, plot_kind) {
        let written = if kind == "svg" {
            timewait::plot_svg(&report)
                .and_then(|svg| std::fs::write(path, svg).map_err(|e| e.to_string()))
        } else {
            timewait::plot_png(&report, path)
        };
        match written {
            Ok(()) => eprintln!("teardown timewait: chart written to {}", path.display()),
            Err(e) => {
                eprintln!("teardown timewait: no chart at {}: {e}", path.display());
                return 2;
            }
        }
    }
    u8::from(!report.unreadable.is_empty()) * 2
}

/// `teardown replay --connections`: ingestion only, no verdicts.
fn replay_connections(args: &ReplayArgs) -> u8 {
    use teardown_conformance::report;
    let summaries: Vec<_> = inputs("replay", &args.inputs)
        .iter()
        .map(|p| teardown_conformance::ingest::ingest_path(p))
        .collect();
    let text = match args.format {
        ReplayFormat::Human => report::to_human_all(&summaries),
        ReplayFormat::Json => match report::to_json(&summaries) {
            Ok(json) => json + "\n",
            Err(e) => {
                eprintln!("teardown replay: {e}");
                return 2;
            }
        },
        ReplayFormat::Junit => {
            eprintln!(
                "teardown replay: --format junit needs verdicts, which --connections does not give"
            );
            return 2;
        }
    };
    emit(&text);
    report::exit_status(&summaries)
}

/// Bad usage: say what is wrong and exit with status 2.
fn usage_error(msg: &str) -> u8 {
    eprintln!("teardown: {msg}");
    2
}

impl BoundArgs {
    /// The built-in's default bounds with the flags applied.
    fn apply(&self, mut b: Bounds) -> Result<Bounds, String> {
        if let Some(v) = self.losses {
            b.losses = v;
        }
        if let Some(v) = self.dups {
            b.dups = v;
        }
        if let Some(v) = self.delays {
            b.delays = v;
        }
        if let Some(v) = self.incarnations {
            b.incarnations = v;
        }
        if let Some(v) = self.data {
            b.data = v;
        }
        if let Some(t) = &self.tick {
            b.tick_ms = parse_duration_ms(t).map_err(|e| format!("--tick {e}"))?;
        }
        Ok(b)
    }
}

fn run_check(args: &CheckArgs) -> u8 {
    let names: Vec<String> = if args.all {
        builtin_names()
    } else if args.stacks.is_empty() {
        return usage_error(
            "check: name a stack with --stack NAME, or use --all (see `teardown check --help`)",
        );
    } else {
        args.stacks.clone()
    };
    if args.threads == 0 || args.threads > 256 {
        return usage_error("check: --threads must be between 1 and 256");
    }
    let mut reports = Vec::new();
    for name in &names {
        let loaded = match load_stack(name, args.bounds.tick.as_deref()) {
            Ok(l) => l,
            Err(code) => return code,
        };
        let b = &loaded.spec;
        let bounds = match args.bounds.apply(b.bounds) {
            Ok(x) => x,
            Err(e) => return usage_error(&e),
        };
        let model = match TeardownModel::new(b.stack.clone(), bounds) {
            Ok(m) => m,
            Err(e) => return usage_error(&format!("check: {e}")),
        };
        // Only once the tick is accepted: a refused one needs no account of its roundings.
        warn_ticks("check", &loaded, bounds.tick_ms);
        let expected = expectations(&b.expect, &b.witnesses);
        let opts = CheckOptions {
            threads: args.threads,
            max_states: args.max_states,
        };
        let report = check(&model, Some(&expected), opts);
        if args.format == CheckFormat::Human {
            emit(&(check_report::human(&report, Timings::Show) + "\n"));
        }
        if args.emit_pcap.is_some() || args.diagram.is_some() {
            match export_discoveries(
                &model,
                &report,
                args.emit_pcap.as_deref(),
                args.diagram.as_deref(),
                args.ipv6,
            ) {
                Ok(done) => {
                    for e in &done {
                        for f in &e.files {
                            eprintln!("teardown check: {} {}: {}", e.kind, e.property, f.display());
                        }
                    }
                }
                Err(e) => {
                    eprintln!("teardown check: cannot write: {e}");
                    return 2;
                }
            }
        }
        reports.push(report);
    }
    match args.format {
        CheckFormat::Human if reports.len() > 1 => {
            emit(&check_report::table(&reports, Timings::Show))
        }
        CheckFormat::Human => {}
        CheckFormat::Json => emit(&(check_report::json(&reports, Timings::Show) + "\n")),
        CheckFormat::Junit => emit(&check_report::junit(&reports, Timings::Show)),
    }
    u8::from(!reports.iter().all(|r| r.as_expected()))
}

fn run_explore(args: &ExploreArgs) -> u8 {
    use stateright::Model;
    use std::net::ToSocketAddrs;
    let loaded = match load_stack(&args.stack, args.bounds.tick.as_deref()) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let b = &loaded.spec;
    let bounds = match args.bounds.apply(b.bounds) {
        Ok(x) => x,
        Err(e) => return usage_error(&e),
    };
    let model = match TeardownModel::new(b.stack.clone(), bounds) {
        Ok(m) => m,
        Err(e) => return usage_error(&format!("explore: {e}")),
    };
    // Only once the tick is accepted: a refused one needs no account of its roundings.
    warn_ticks("explore", &loaded, bounds.tick_ms);
    let addr = match args.addr.to_socket_addrs().map(|mut a| a.next()) {
        Ok(Some(a)) => a,
        _ => return usage_error(&format!("explore: `{}` is not an address", args.addr)),
    };
    // stateright panics when it cannot bind: find out first, and say so.
    if let Err(e) = std::net::TcpListener::bind(addr) {
        eprintln!("teardown explore: cannot listen on {addr}: {e}");
        return 2;
    }
    eprintln!(
        "teardown explore: {} on http://{addr}/ (Ctrl-C to stop)",
        args.stack
    );
    // Serves until the process is stopped; the checker explores on demand.
    model.checker().serve(addr);
    0
}

fn run_graph(args: &GraphArgs) -> u8 {
    let loaded = match load_stack(&args.stack, args.bounds.tick.as_deref()) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let b = &loaded.spec;
    let bounds = match args.bounds.apply(graph::default_bounds(b.bounds.tick_ms)) {
        Ok(x) => x,
        Err(e) => return usage_error(&e),
    };
    let model = match TeardownModel::new(b.stack.clone(), bounds) {
        Ok(m) => m,
        Err(e) => return usage_error(&format!("graph: {e}")),
    };
    // Only once the tick is accepted: a refused one needs no account of its roundings.
    warn_ticks("graph", &loaded, bounds.tick_ms);
    if args.format == GraphFormat::Svg && !graph_report::dot_available() {
        eprintln!("teardown graph: {}", graph_report::DOT_MISSING);
        return 2;
    }
    let graph = match enumerate(&model, args.max_states) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("teardown graph: stack {}: {e}", args.stack);
            return 1;
        }
    };
    match args.format {
        GraphFormat::Summary => emit(&graph_report::summary(&graph.summary(&model))),
        GraphFormat::Dot => emit(&graph.to_dot(&model)),
        GraphFormat::Json => emit(&(graph_report::json(&graph.to_data(&model)) + "\n")),
        GraphFormat::Svg => match graph_report::svg(&graph.to_dot(&model)) {
            Ok(svg) => emit(&svg),
            Err(e) => {
                eprintln!("teardown graph: {e}");
                return 2;
            }
        },
    }
    0
}

fn run_envelope(args: &EnvelopeArgs) -> u8 {
    use teardown_model::envelope::{EnvelopeOptions, Grid, envelope, validate};
    let loaded = match load_stack(&args.stack, args.tick.as_deref()) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let tick_ms = match &args.tick {
        Some(t) => match parse_duration_ms(t) {
            Ok(ms) => ms,
            Err(e) => return usage_error(&format!("envelope: --tick {e}")),
        },
        None => loaded.spec.bounds.tick_ms,
    };
    if args.threads == 0 || args.threads > 64 {
        return usage_error("envelope: --threads must be between 1 and 64");
    }
    let grid = Grid {
        msl: args.msl.clone(),
        rto: args.rto.clone(),
        losses: args.losses.clone(),
        dups: args.dups.clone(),
    };
    let mut stack = loaded.spec.stack.clone();
    match args.isn {
        Some(IsnArg::AboveOld) => stack.behaviour.isn = IsnPolicy::AboveOld,
        Some(IsnArg::Arbitrary) => stack.behaviour.isn = IsnPolicy::Arbitrary,
        None => {}
    }
    let opts = EnvelopeOptions {
        stack,
        tick_ms,
        delays: args.delays,
        incarnations: args.incarnations,
        data: args.data,
        max_time_wait: args.max_time_wait,
        scan_all: args.scan_all,
        threads: args.threads,
    };
    if let Err(e) = validate(&grid, &opts) {
        return usage_error(&format!("envelope: {e}"));
    }
    // Only once the grid and tick are accepted: a refused one needs no account of roundings.
    for w in loaded.envelope_tick_warnings(&opts) {
        eprintln!("teardown envelope: warning: {w}");
    }
    let env = match envelope(&grid, &opts) {
        Ok(e) => e,
        Err(e) => return usage_error(&format!("envelope: {e}")),
    };
    match args.format {
        EnvelopeFormat::Human => emit(&envelope_report::human(&env, args.traces)),
        EnvelopeFormat::Json => emit(&(envelope_report::json(&env) + "\n")),
        EnvelopeFormat::Csv => emit(&envelope_report::csv(&env)),
    }
    if let Some(path) = &args.plot {
        let svg = envelope_report::plot_svg(&env);
        if let Err(e) = std::fs::write(path, svg) {
            eprintln!("teardown envelope: cannot write {}: {e}", path.display());
            return 2;
        }
        eprintln!("teardown envelope: chart written to {}", path.display());
    }
    0
}

/// Writes a report to standard output; a closed pipe (`| head`) ends the output quietly.
fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Check(args) => run_check(&args),
        Command::Replay(args) if args.connections => replay_connections(&args),
        Command::Replay(args) => run_replay(&args),
        Command::Graph(args) => run_graph(&args),
        Command::Envelope(args) => run_envelope(&args),
        Command::Timewait(args) => run_timewait(&args),
        Command::Explore(args) => run_explore(&args),
        Command::Stack(cmd) => run_stack(&cmd),
    };
    ExitCode::from(code)
}
