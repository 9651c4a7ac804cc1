//! Ladder (sequence) diagrams as SVG: two lifelines, the endpoint state written at each
//! step, arrows with flags and relative sequence numbers from the row where a segment was
//! sent to the row where it arrived, lost segments ending in a cross, time on the left and
//! the step that matters drawn in red. Used for the checker's counterexamples (`teardown
//! check --diagram`), the Explorer's path view, and replayed connections (`teardown replay
//! --diagram`). Plain SVG 1.1 with generic font families: any browser shows it as is.

use std::fmt::Write as _;

/// One diagram.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ladder {
    /// Heading.
    pub title: String,
    /// Second heading line (stack, bounds, property).
    pub subtitle: String,
    /// Names of the two lifelines, left (client) then right (server).
    pub lifelines: [String; 2],
    /// Steps, top to bottom.
    pub rows: Vec<LadderStep>,
    /// Segments, each drawn from the row that sent it.
    pub messages: Vec<Message>,
}

/// One step: when, what each endpoint's state is after it, and a note.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LadderStep {
    /// Time column (ticks or seconds).
    pub time: String,
    /// State of each endpoint after the step; an empty string draws nothing.
    pub states: [String; 2],
    /// What happened (rule applied, timer, application call).
    pub note: String,
    /// Which endpoint acted, whose state the note is written under (0 left, 1 right);
    /// `None` for the network (loss, duplication, delay), written between the lifelines.
    pub actor: Option<usize>,
    /// The step that breaks the property or the rule: drawn in red.
    pub highlight: bool,
}

/// Where a segment's arrow ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageEnd {
    /// Delivered at this row.
    Arrived(usize),
    /// Dropped by the network at this row: the arrow stops half-way with a cross.
    Lost(usize),
    /// Still in flight when the diagram ends.
    InFlight,
}

/// One segment on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Sender: 0 left, 1 right.
    pub from: usize,
    /// Row at which it was sent.
    pub sent_row: usize,
    /// Where it ends.
    pub end: MessageEnd,
    /// Flags and relative numbers, e.g. `F. 27:201`.
    pub label: String,
    /// Drawn in red.
    pub highlight: bool,
}

const WIDTH: usize = 1040;
const LEFT_X: usize = 330;
const RIGHT_X: usize = 730;
const TOP: usize = 100;
const ROW_H: usize = 38;
const RED: &str = "#c0392b";
const INK: &str = "#222";
const GREY: &str = "#888";
/// A white outline painted under text, so labels stay legible where arrows cross them.
const HALO: &str = r#" stroke="white" stroke-width="3" paint-order="stroke""#;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn row_y(row: usize) -> usize {
    TOP + ROW_H / 2 + row * ROW_H
}

/// The diagram as a standalone SVG document.
pub fn to_svg(l: &Ladder) -> String {
    let rows = l.rows.len().max(1);
    let height = TOP + rows * ROW_H + 40;
    let mut o = String::new();
    let _ = write!(
        o,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">
<defs>
<marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{INK}"/></marker>
<marker id="arrow-red" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{RED}"/></marker>
</defs>
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="24" text-anchor="middle" font-size="16" font-weight="bold">{}</text>
<text x="{}" y="44" text-anchor="middle" fill="#555">{}</text>
"##,
        WIDTH / 2,
        esc(&l.title),
        WIDTH / 2,
        esc(&l.subtitle)
    );
    let bottom = TOP + rows * ROW_H;
    for (x, name) in [(LEFT_X, &l.lifelines[0]), (RIGHT_X, &l.lifelines[1])] {
        let _ = writeln!(
            o,
            r#"<text x="{x}" y="{}" text-anchor="middle" font-weight="bold">{}</text>"#,
            TOP - 22,
            esc(name)
        );
        let _ = writeln!(
            o,
            r#"<line x1="{x}" y1="{}" x2="{x}" y2="{bottom}" stroke="{GREY}" stroke-width="2"/>"#,
            TOP - 12
        );
    }
    let _ = writeln!(
        o,
        r#"<text x="12" y="{}" fill="{GREY}">time</text>"#,
        TOP - 22
    );
    for (i, r) in l.rows.iter().enumerate() {
        let y = row_y(i);
        let color = if r.highlight { RED } else { INK };
        if r.highlight {
            let _ = writeln!(
                o,
                r##"<rect x="4" y="{}" width="{}" height="{ROW_H}" fill="#fdecea"/>"##,
                y - ROW_H / 2,
                WIDTH - 8
            );
        }
        let _ = writeln!(
            o,
            r#"<text x="12" y="{}" fill="{GREY}">{}</text>"#,
            y + 4,
            esc(&r.time)
        );
        // States sit outside the lifelines, where no arrow passes.
        if !r.states[0].is_empty() {
            let _ = writeln!(
                o,
                r#"<text x="{}" y="{}" text-anchor="end" fill="{color}" font-weight="bold">{}</text>"#,
                LEFT_X - 10,
                y + 4,
                esc(&r.states[0])
            );
        }
        if !r.states[1].is_empty() {
            let _ = writeln!(
                o,
                r#"<text x="{}" y="{}" fill="{color}" font-weight="bold">{}</text>"#,
                RIGHT_X + 10,
                y + 4,
                esc(&r.states[1])
            );
        }
        if !r.note.is_empty() {
            // Under the state of the endpoint that acted; the network's own events sit
            // between the lifelines, haloed so that crossing arrows do not hide them.
            let (x, anchor, style) = match r.actor {
                Some(0) => (LEFT_X - 10, "end", ""),
                Some(_) => (RIGHT_X + 10, "start", ""),
                None => ((LEFT_X + RIGHT_X) / 2, "middle", HALO),
            };
            let _ = writeln!(
                o,
                r#"<text x="{x}" y="{}" text-anchor="{anchor}" fill="{color}" font-size="10"{style}>{}</text>"#,
                y + 16,
                esc(&r.note)
            );
        }
    }
    for m in &l.messages {
        let (x1, x2) = if m.from == 0 {
            (LEFT_X, RIGHT_X)
        } else {
            (RIGHT_X, LEFT_X)
        };
        let y1 = row_y(m.sent_row);
        let color = if m.highlight { RED } else { INK };
        let marker = if m.highlight { "arrow-red" } else { "arrow" };
        let (xe, ye, dashed) = match m.end {
            MessageEnd::Arrived(r) => (x2, row_y(r), false),
            MessageEnd::Lost(r) => ((x1 + x2) / 2, row_y(r), false),
            MessageEnd::InFlight => ((x1 + x2) / 2, bottom, true),
        };
        let dash = if dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let head = if matches!(m.end, MessageEnd::Arrived(_)) {
            format!(r#" marker-end="url(#{marker})""#)
        } else {
            String::new()
        };
        let _ = writeln!(
            o,
            r#"<line x1="{x1}" y1="{y1}" x2="{xe}" y2="{ye}" stroke="{color}" stroke-width="1.6"{dash}{head}/>"#
        );
        if let MessageEnd::Lost(_) = m.end {
            let _ = writeln!(
                o,
                r#"<path d="M{},{} L{},{} M{},{} L{},{}" stroke="{RED}" stroke-width="2.5"/>"#,
                xe - 7,
                ye - 7,
                xe + 7,
                ye + 7,
                xe - 7,
                ye + 7,
                xe + 7,
                ye - 7
            );
        }
        // The label sits at the start of the arrow, above it, so that labels of arrows
        // sent at different rows never overlap.
        let lx = if m.from == 0 { x1 + 8 } else { x1 - 8 };
        let anchor = if m.from == 0 { "start" } else { "end" };
        let lost = if matches!(m.end, MessageEnd::Lost(_)) {
            " (lost)"
        } else {
            ""
        };
        let _ = writeln!(
            o,
            r#"<text x="{lx}" y="{}" text-anchor="{anchor}" fill="{color}" font-family="monospace"{HALO}>{}{lost}</text>"#,
            y1 - 5,
            esc(&m.label)
        );
    }
    o.push_str("</svg>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Ladder {
        Ladder {
            title: "no-time-wait: final ACK is always recovered".into(),
            subtitle: "a <counterexample> & its steps".into(),
            lifelines: ["client".into(), "server".into()],
            rows: vec![
                LadderStep {
                    time: "0".into(),
                    states: ["FIN-WAIT-1".into(), "ESTABLISHED".into()],
                    note: "close()".into(),
                    actor: Some(0),
                    highlight: false,
                },
                LadderStep {
                    time: "1".into(),
                    states: ["CLOSED".into(), "LAST-ACK".into()],
                    note: "closed-reset".into(),
                    actor: Some(1),
                    highlight: true,
                },
            ],
            messages: vec![
                Message {
                    from: 0,
                    sent_row: 0,
                    end: MessageEnd::Arrived(1),
                    label: "F. 1:1".into(),
                    highlight: false,
                },
                Message {
                    from: 1,
                    sent_row: 1,
                    end: MessageEnd::Lost(1),
                    label: ". 1:2".into(),
                    highlight: true,
                },
                Message {
                    from: 1,
                    sent_row: 1,
                    end: MessageEnd::InFlight,
                    label: "F. 1:2".into(),
                    highlight: false,
                },
            ],
        }
    }

    #[test]
    fn every_part_of_the_ladder_is_drawn() {
        let svg = to_svg(&sample());
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        // Text is escaped.
        assert!(svg.contains("a &lt;counterexample&gt; &amp; its steps"));
        // States, notes, the highlighted row, arrows, the cross of the lost segment and
        // the dashed arrow of the one still in flight.
        for part in [
            ">FIN-WAIT-1<",
            ">LAST-ACK<",
            ">closed-reset<",
            "fill=\"#fdecea\"",
            "marker-end=\"url(#arrow)\"",
            ">. 1:2 (lost)<",
            "stroke-dasharray",
        ] {
            assert!(svg.contains(part), "{part} missing");
        }
        assert_eq!(
            svg.matches("<line ").count(),
            2 + 3,
            "two lifelines, three arrows"
        );
    }

    #[test]
    fn an_arrow_runs_from_its_sending_row_to_its_arriving_row() {
        let svg = to_svg(&sample());
        let (y0, y1) = (row_y(0), row_y(1));
        assert!(svg.contains(&format!(
            "x1=\"{LEFT_X}\" y1=\"{y0}\" x2=\"{RIGHT_X}\" y2=\"{y1}\""
        )));
    }
}
