//! Output of `teardown graph`: the summary as text, JSON, and SVG through Graphviz.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};

use teardown_model::graph::{GraphData, GraphSummary};

/// What to say when SVG is asked for and Graphviz is missing.
pub const DOT_MISSING: &str = "--format svg needs Graphviz's `dot` on the PATH \
(Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz); \
or use --format dot and lay it out elsewhere";

/// Whether Graphviz's `dot` can be run.
pub fn dot_available() -> bool {
    Command::new("dot")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Lays out DOT text as SVG with Graphviz's `dot`.
pub fn svg(dot: &str) -> Result<String, String> {
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run Graphviz `dot` ({e}): {DOT_MISSING}"))?;
    // Write from another thread: `dot` may start writing before it has read everything.
    let mut stdin = child.stdin.take().ok_or("no stdin for `dot`")?;
    let input = dot.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child
        .wait_with_output()
        .map_err(|e| format!("Graphviz `dot` failed: {e}"))?;
    writer
        .join()
        .map_err(|_| "writing to `dot` panicked".to_string())?
        .map_err(|e| format!("writing to Graphviz `dot`: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "Graphviz `dot` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| format!("`dot` wrote invalid UTF-8: {e}"))
}

/// The summary as text: what a reviewer reads in a snapshot diff.
pub fn summary(g: &GraphSummary) -> String {
    let mut out = String::new();
    let (b, t) = (&g.bounds, &g.ticks);
    let _ = writeln!(out, "stack {}", g.stack);
    let _ = writeln!(
        out,
        "  bounds: losses {}, dups {}, delays {}, incarnations {}, data {}, tick {} ms (MSL {} ticks, TIME-WAIT {}, RTO {}, FIN-WAIT-2 {})",
        b.losses,
        b.dups,
        b.delays,
        b.incarnations,
        b.data,
        b.tick_ms,
        t.msl,
        t.time_wait.map_or("none".into(), |x| x.to_string()),
        t.rto,
        t.fin_wait_2.map_or("none".into(), |x| x.to_string()),
    );
    let _ = writeln!(
        out,
        "  states {} ({} initial, {} terminal), edges {}, depth {} (breadth-first)",
        g.states, g.initial, g.terminal, g.edges, g.depth
    );
    let _ = writeln!(out, "  fingerprint sha256:{}", g.fingerprint);
    let _ = writeln!(out, "  edges per action:");
    for (kind, n) in &g.edges_per_action {
        let _ = writeln!(out, "    {kind:<22} {n:>9}");
    }
    let m = &g.states_per_pair;
    let _ = writeln!(
        out,
        "  states per endpoint-state pair (rows: client, columns: server):"
    );
    let width = m.servers.iter().map(|s| s.len()).max().unwrap_or(0).max(7);
    let _ = write!(out, "    {:<13}", "");
    for s in &m.servers {
        let _ = write!(out, " {s:>width$}");
    }
    let _ = writeln!(out);
    for (c, row) in m.clients.iter().zip(&m.counts) {
        let _ = write!(out, "    {c:<13}");
        for n in row {
            if *n == 0 {
                let _ = write!(out, " {:>width$}", ".");
            } else {
                let _ = write!(out, " {n:>width$}");
            }
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "  states violating:");
    for (p, n) in &g.violating_states {
        let _ = writeln!(out, "    {p:<62} {n:>9}");
    }
    let _ = writeln!(out, "  states showing a witness:");
    for (w, n) in &g.witness_states {
        let _ = writeln!(out, "    {w:<62} {n:>9}");
    }
    out
}

/// The whole graph as pretty JSON.
pub fn json(g: &GraphData) -> String {
    serde_json::to_string_pretty(g).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}
