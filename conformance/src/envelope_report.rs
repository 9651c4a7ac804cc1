//! Output of `teardown envelope`: a table for people, CSV and JSON for tools, and an SVG
//! chart.

use std::fmt::Write as _;

use plotters::prelude::*;
use teardown_model::envelope::{Bound, Envelope, Method, PointResult, Variant};

fn cell(b: &Bound, tick_ms: u64) -> String {
    let star = if b.non_monotone.is_empty() { "" } else { "*" };
    match b.ticks {
        Some(t) => format!("{t}{star} ({})", seconds(u64::from(t) * tick_ms)),
        None => format!(">{}{star}", b.limit),
    }
}

fn seconds(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.3} s", ms as f64 / 1000.0)
    }
}

/// How a bound compares with the rule of thumb 2×MSL.
fn against_2msl(b: &Bound, msl: u16) -> &'static str {
    match b.ticks {
        None => "not within the limit",
        Some(t) if t > 2 * msl => "2×MSL NOT enough",
        Some(t) if t == 2 * msl => "2×MSL exactly",
        Some(_) => "2×MSL enough",
    }
}

/// The table, the findings, and (with `traces`) every counterexample.
pub fn human(env: &Envelope, traces: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "envelope of {} — tick {}; delays {}, incarnations {}, data {}",
        env.stack,
        seconds(env.tick_ms),
        env.delays,
        env.incarnations,
        env.data
    );
    let _ = writeln!(
        out,
        "smallest TIME-WAIT in ticks (seconds) for which the property holds; >N: not even at N;\n\
         * the verdict is not monotone below the bound (see findings); m: how each bound was found, b = bisected, s = scanned\n"
    );
    let row = |c: [&str; 10]| {
        format!(
            "{:>4} {:>4} {:>6} {:>4}  {:<10} {:>22} {:<18} {:>22} {:<18} {}",
            c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9]
        )
    };
    let header = [
        "MSL",
        "RTO",
        "losses",
        "dups",
        "variant",
        "final ACK recovered",
        "",
        "old seg. not accepted",
        "",
        "m",
    ];
    let _ = writeln!(out, "{}", row(header).trim_end());
    let letter = |m: Method| match m {
        Method::Bisect => 'b',
        Method::Scan => 's',
    };
    for p in &env.points {
        let m = format!(
            "{}/{}",
            letter(p.final_ack.method),
            letter(p.old_segment.method)
        );
        let line = row([
            &p.msl.to_string(),
            &p.rto.to_string(),
            &p.losses.to_string(),
            &p.dups.to_string(),
            &p.variant.label(),
            &cell(&p.final_ack, env.tick_ms),
            against_2msl(&p.final_ack, p.msl),
            &cell(&p.old_segment, env.tick_ms),
            against_2msl(&p.old_segment, p.msl),
            &m,
        ]);
        let _ = writeln!(out, "{line}");
    }
    let findings = findings(env);
    let _ = writeln!(out, "\nfindings:");
    if findings.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for f in findings {
        let _ = writeln!(out, "  - {f}");
    }
    let checks: usize = env.points.iter().map(|p| p.checks).sum();
    let _ = writeln!(
        out,
        "\n{} points × variants, {checks} model checks",
        env.points.len()
    );
    if traces {
        let _ = writeln!(out, "\ncounterexamples one tick below each bound:");
        for p in &env.points {
            for (name, b) in [
                ("final ACK recovered", &p.final_ack),
                ("old segment not accepted", &p.old_segment),
            ] {
                if let Some(cx) = &b.counterexample {
                    let _ = writeln!(
                        out,
                        "\n  MSL {} RTO {} losses {} dups {} {} — {name} fails with TIME-WAIT {}:",
                        p.msl,
                        p.rto,
                        p.losses,
                        p.dups,
                        p.variant.label(),
                        cx.time_wait
                    );
                    for s in &cx.steps {
                        let _ = writeln!(
                            out,
                            "    t{:<3} {:<12} {:<12} {}{}",
                            s.tick,
                            s.states[0],
                            s.states[1],
                            s.event,
                            s.rule.map(|r| format!("  [{r}]")).unwrap_or_default()
                        );
                    }
                }
            }
        }
    }
    out
}

/// Plain-words findings: where 2×MSL is not enough, how the bound grows with losses, and
/// every non-monotone point.
pub fn findings(env: &Envelope) -> Vec<String> {
    let mut f = Vec::new();
    for p in &env.points {
        for (name, b) in [
            ("final ACK recovered", &p.final_ack),
            ("old segment not accepted", &p.old_segment),
        ] {
            if !b.non_monotone.is_empty() {
                f.push(format!(
                    "not monotone: {name} at MSL {} RTO {} losses {} dups {} {} holds at TIME-WAIT {:?} but fails at longer lengths",
                    p.msl,
                    p.rto,
                    p.losses,
                    p.dups,
                    p.variant.label(),
                    b.non_monotone
                ));
            }
        }
    }
    let beyond: Vec<&PointResult> = env
        .points
        .iter()
        .filter(|p| p.final_ack.ticks.is_none_or(|t| t > 2 * p.msl))
        .collect();
    if let Some(p) = beyond.first() {
        f.push(format!(
            "2×MSL is not enough to recover the final ACK at {} of {} points, first at MSL {} RTO {} losses {} dups {} {} (needs {})",
            beyond.len(),
            env.points.len(),
            p.msl,
            p.rto,
            p.losses,
            p.dups,
            p.variant.label(),
            cell(&p.final_ack, env.tick_ms)
        ));
    }
    let old_beyond = env
        .points
        .iter()
        .filter(|p| p.old_segment.ticks.is_none_or(|t| t > 2 * p.msl))
        .count();
    if old_beyond > 0 {
        f.push(format!(
            "2×MSL is not enough to keep old segments out at {old_beyond} of {} points",
            env.points.len()
        ));
    }
    // Growth with losses, per (MSL, RTO, dups, variant).
    let mut seen = std::collections::BTreeSet::new();
    for p in &env.points {
        let key = (p.msl, p.rto, p.dups, p.variant);
        if !seen.insert(key) {
            continue;
        }
        let series: Vec<String> = env
            .points
            .iter()
            .filter(|q| (q.msl, q.rto, q.dups, q.variant) == key)
            .map(|q| {
                q.final_ack
                    .ticks
                    .map_or(format!(">{}", q.final_ack.limit), |t| t.to_string())
            })
            .collect();
        if series.len() > 1 && series.windows(2).any(|w| w[0] != w[1]) {
            f.push(format!(
                "final-ACK bound over losses {}..{} at MSL {} RTO {} dups {} {}: {}",
                env.grid.losses.start(),
                env.grid.losses.end(),
                p.msl,
                p.rto,
                p.dups,
                p.variant.label(),
                series.join(" → ")
            ));
        }
    }
    f
}

/// One row per point and variant.
pub fn csv(env: &Envelope) -> String {
    let mut out = String::from(
        "stack,tick_ms,msl,rto,losses,dups,timestamps,rfc1337,final_ack_ticks,final_ack_seconds,final_ack_method,final_ack_non_monotone,old_segment_ticks,old_segment_seconds,old_segment_method,old_segment_non_monotone,limit\n",
    );
    let opt = |t: Option<u16>| t.map(|t| t.to_string()).unwrap_or_default();
    let secs = |t: Option<f64>| t.map(|t| format!("{t}")).unwrap_or_default();
    let method = |m: Method| match m {
        Method::Bisect => "bisect",
        Method::Scan => "scan",
    };
    let nm = |v: &[u16]| {
        v.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    for p in &env.points {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            env.stack,
            env.tick_ms,
            p.msl,
            p.rto,
            p.losses,
            p.dups,
            p.variant.timestamps,
            p.variant.rfc1337,
            opt(p.final_ack.ticks),
            secs(p.final_ack.seconds),
            method(p.final_ack.method),
            nm(&p.final_ack.non_monotone),
            opt(p.old_segment.ticks),
            secs(p.old_segment.seconds),
            method(p.old_segment.method),
            nm(&p.old_segment.non_monotone),
            p.final_ack.limit
        );
    }
    out
}

/// The whole envelope as pretty JSON (with every counterexample).
pub fn json(env: &Envelope) -> String {
    serde_json::to_string_pretty(env).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

const COLOURS: [RGBColor; 4] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x94, 0x67, 0xbd),
];

/// The envelope as an SVG chart: on the left the final-ACK bound against the loss budget,
/// on the right the old-segment bound against the MSL, one line per variant (at the
/// grid's smallest RTO and largest duplication budget), with 2×MSL drawn for comparison.
/// A bound beyond the limit is drawn at the limit, hollow.
pub fn plot_svg(env: &Envelope) -> String {
    crate::charts::ensure_font();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1100, 480)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let (left, right) = root.split_horizontally(550);
        let rto = *env.grid.rto.start();
        let dups = *env.grid.dups.end();
        let msl0 = *env.grid.msl.start();
        let y_max = env
            .points
            .iter()
            .map(|p| p.final_ack.limit)
            .max()
            .unwrap_or(1)
            .max(2 * *env.grid.msl.end())
            + 1;
        let value = |b: &Bound| b.ticks.unwrap_or(b.limit);
        // Left: final ACK over losses, at the first MSL.
        let losses = (*env.grid.losses.start(), *env.grid.losses.end());
        if let Ok(mut chart) = ChartBuilder::on(&left)
            .caption(
                format!("final ACK recovered — MSL {msl0}, RTO {rto}, dups {dups}"),
                ("sans-serif", 16),
            )
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(44)
            .build_cartesian_2d(
                (i32::from(losses.0) - 1)..(i32::from(losses.1) + 1),
                0i32..i32::from(y_max),
            )
        {
            let _ = chart
                .configure_mesh()
                .x_desc("losses tolerated")
                .y_desc("smallest TIME-WAIT (ticks)")
                .draw();
            let two_msl = i32::from(2 * msl0);
            let _ = chart
                .draw_series(LineSeries::new(
                    [
                        (i32::from(losses.0) - 1, two_msl),
                        (i32::from(losses.1) + 1, two_msl),
                    ],
                    BLACK.mix(0.5),
                ))
                .map(|s| {
                    s.label("2×MSL")
                        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK))
                });
            for (i, v) in Variant::ALL.iter().enumerate() {
                let pts: Vec<&PointResult> = env
                    .points
                    .iter()
                    .filter(|p| p.msl == msl0 && p.rto == rto && p.dups == dups && p.variant == *v)
                    .collect();
                let c = COLOURS[i];
                let line: Vec<(i32, i32)> = pts
                    .iter()
                    .map(|p| (i32::from(p.losses), i32::from(value(&p.final_ack))))
                    .collect();
                let _ = chart
                    .draw_series(LineSeries::new(line.clone(), c.stroke_width(2)))
                    .map(|s| {
                        s.label(v.label())
                            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], c))
                    });
                let _ = chart.draw_series(pts.iter().map(|p| {
                    let xy = (i32::from(p.losses), i32::from(value(&p.final_ack)));
                    let style = if p.final_ack.ticks.is_some() {
                        c.filled()
                    } else {
                        c.stroke_width(1)
                    };
                    Circle::new(xy, 4, style)
                }));
            }
            let _ = chart
                .configure_series_labels()
                .border_style(BLACK)
                .background_style(WHITE.mix(0.8))
                .draw();
        }
        // Right: old segment over MSL, at the smallest loss budget.
        let msl = (*env.grid.msl.start(), *env.grid.msl.end());
        let l0 = *env.grid.losses.start();
        if let Ok(mut chart) = ChartBuilder::on(&right)
            .caption(
                format!("old segment not accepted — RTO {rto}, losses {l0}, dups {dups}"),
                ("sans-serif", 16),
            )
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(44)
            .build_cartesian_2d(
                (i32::from(msl.0) - 1)..(i32::from(msl.1) + 1),
                0i32..i32::from(y_max),
            )
        {
            let _ = chart
                .configure_mesh()
                .x_desc("MSL (ticks)")
                .y_desc("smallest TIME-WAIT (ticks)")
                .draw();
            let _ = chart
                .draw_series(LineSeries::new(
                    (msl.0..=msl.1).map(|m| (i32::from(m), i32::from(2 * m))),
                    BLACK.mix(0.5),
                ))
                .map(|s| {
                    s.label("2×MSL")
                        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK))
                });
            for (i, v) in Variant::ALL.iter().enumerate() {
                let pts: Vec<&PointResult> = env
                    .points
                    .iter()
                    .filter(|p| p.rto == rto && p.losses == l0 && p.dups == dups && p.variant == *v)
                    .collect();
                let c = COLOURS[i];
                let line: Vec<(i32, i32)> = pts
                    .iter()
                    .map(|p| (i32::from(p.msl), i32::from(value(&p.old_segment))))
                    .collect();
                let _ = chart
                    .draw_series(LineSeries::new(line, c.stroke_width(2)))
                    .map(|s| {
                        s.label(v.label())
                            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], c))
                    });
                let _ = chart.draw_series(pts.iter().map(|p| {
                    let xy = (i32::from(p.msl), i32::from(value(&p.old_segment)));
                    let style = if p.old_segment.ticks.is_some() {
                        c.filled()
                    } else {
                        c.stroke_width(1)
                    };
                    Circle::new(xy, 4, style)
                }));
            }
            let _ = chart
                .configure_series_labels()
                .border_style(BLACK)
                .background_style(WHITE.mix(0.8))
                .draw();
        }
        let _ = root.present();
    }
    svg
}
