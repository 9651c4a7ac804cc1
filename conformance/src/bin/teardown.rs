//! `teardown`: the command line. It parses arguments, calls `teardown-model` and
//! `teardown-conformance`, and prints. No TCP rule and no checking logic lives here.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use teardown_conformance::check_report::{self, Timings};
use teardown_conformance::graph_report;
use teardown_model::builtins::{builtin, builtin_names};
use teardown_model::check::{CheckOptions, check, expectations};
use teardown_model::graph::{self, DEFAULT_MAX_STATES, enumerate};
use teardown_model::stack::parse_duration_ms;
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

Exit status: 0 when every verdict is the expected one, 1 when any differs (for a stack
without expectations: any violated property), 2 on bad usage.";

const REPLAY_LONG_ABOUT: &str = "\
Replay pcap/pcapng captures through the model and judge each connection's teardown.

Examples:
  teardown replay capture.pcap
  teardown replay --stack linux --format json traces/linux/
  teardown replay --connections traces/third-party/   # connections and incarnations only

Exit status: 2 if any input was unreadable or on bad usage, 1 on violations, else 0.";

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
}

/// Arguments of `teardown check`.
#[derive(Args, Debug)]
struct CheckArgs {
    /// Built-in stack description to check (repeatable).
    #[arg(long = "stack", value_name = "NAME")]
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
}

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
    /// Stack description to judge against, or `auto`.
    #[arg(long, default_value = "auto")]
    stack: String,
    /// List connections and incarnations only, without verdicts.
    #[arg(long)]
    connections: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReplayFormat::Human)]
    format: ReplayFormat,
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
    /// Built-in stack description.
    #[arg(long, value_name = "NAME")]
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

/// Says plainly that a subcommand does not exist yet, rather than pretending to work.
fn not_implemented(what: &str, issue: &str) -> u8 {
    eprintln!("teardown {what}: not implemented yet (tracked by the issue \"{issue}\")");
    2
}

/// `teardown replay --connections`: ingestion only, no verdicts.
fn replay_connections(args: &ReplayArgs) -> u8 {
    use teardown_conformance::report;
    let summaries = report::summarize_inputs(&args.inputs);
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
    print!("{text}");
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
        let Some(b) = builtin(name) else {
            return usage_error(&format!(
                "check: unknown stack `{name}`; built-ins: {}",
                builtin_names().join(", ")
            ));
        };
        let bounds = match args.bounds.apply(b.bounds) {
            Ok(x) => x,
            Err(e) => return usage_error(&e),
        };
        let model = match TeardownModel::new(b.stack.clone(), bounds) {
            Ok(m) => m,
            Err(e) => return usage_error(&format!("check: {e}")),
        };
        let expected = expectations(&b.expect, &b.witnesses);
        let opts = CheckOptions {
            threads: args.threads,
            max_states: args.max_states,
        };
        let report = check(&model, Some(&expected), opts);
        if args.format == CheckFormat::Human {
            print!("{}", check_report::human(&report, Timings::Show));
            println!();
        }
        reports.push(report);
    }
    match args.format {
        CheckFormat::Human if reports.len() > 1 => {
            print!("{}", check_report::table(&reports, Timings::Show))
        }
        CheckFormat::Human => {}
        CheckFormat::Json => println!("{}", check_report::json(&reports, Timings::Show)),
    }
    u8::from(!reports.iter().all(|r| r.as_expected()))
}

fn run_graph(args: &GraphArgs) -> u8 {
    let Some(b) = builtin(&args.stack) else {
        return usage_error(&format!(
            "graph: unknown stack `{}`; built-ins: {}",
            args.stack,
            builtin_names().join(", ")
        ));
    };
    let bounds = match args.bounds.apply(graph::default_bounds(b.bounds.tick_ms)) {
        Ok(x) => x,
        Err(e) => return usage_error(&e),
    };
    let model = match TeardownModel::new(b.stack.clone(), bounds) {
        Ok(m) => m,
        Err(e) => return usage_error(&format!("graph: {e}")),
    };
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
        GraphFormat::Summary => print!("{}", graph_report::summary(&graph.summary(&model))),
        GraphFormat::Dot => print!("{}", graph.to_dot(&model)),
        GraphFormat::Json => println!("{}", graph_report::json(&graph.to_data(&model))),
        GraphFormat::Svg => match graph_report::svg(&graph.to_dot(&model)) {
            Ok(svg) => print!("{svg}"),
            Err(e) => {
                eprintln!("teardown graph: {e}");
                return 2;
            }
        },
    }
    0
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Check(args) => run_check(&args),
        Command::Replay(args) if args.connections => replay_connections(&args),
        Command::Replay(_) => not_implemented("replay", "The oracle"),
        Command::Graph(args) => run_graph(&args),
    };
    ExitCode::from(code)
}
