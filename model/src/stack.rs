//! Stack descriptions: one type for every knob a TCP stack varies on in teardown.
//!
//! Built-in descriptions (`rfc9293`, `linux`, `freebsd`, …) and the deliberately unsafe
//! variants are values of the same type; each documents the RFC section, sysctl or source
//! line it stands for (see `../shared/reference/tcp-teardown-notes.md`).

use serde::{Deserialize, Serialize};

/// How an RST is judged in the synchronized states (RFC 9293 §3.10.7.4, second check).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RstCheck {
    /// RFC 793: any RST inside the receive window resets the connection.
    InWindow,
    /// RFC 5961 §3.2: only an RST exactly at RCV.NXT resets; other in-window RSTs get a
    /// challenge ACK.
    Exact,
}

/// What an acceptable RST does to TIME-WAIT.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimeWaitRst {
    /// RFC 9293 literal, Linux `tcp_rfc1337=0`: the RST deletes the TCB (assassination).
    Closes,
    /// RFC 1337 fix F1, FreeBSD, Linux `tcp_rfc1337=1`: ignored.
    Ignored,
}

/// What a SYN arriving in a synchronized state does (RFC 9293 §3.10.7.4, fourth check).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SynCheck {
    /// RFC 793: an in-window SYN resets the connection; out of window it gets an ACK.
    InWindowReset,
    /// RFC 5961 §4: challenge ACK whatever the sequence number.
    ChallengeAck,
}

/// What a SYN arriving in TIME-WAIT does.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SynInTimeWait {
    /// As in any synchronized state ([`SynCheck`]): TIME-WAIT is never reopened.
    AsSynchronized,
    /// RFC 9293 §3.6.1 MAY-2 / RFC 6191 / Linux / FreeBSD: a SYN whose sequence number is
    /// above RCV.NXT (or, with timestamps, whose TSval is newer) opens a new incarnation
    /// with an ISN above the old SND.NXT; an older SYN is dropped silently.
    ReopenIfNewer,
}

/// How a host picks the ISN of a new incarnation of the same 4-tuple.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IsnPolicy {
    /// Above every sequence number the host used on the 4-tuple. This is what the
    /// clock-driven ISN of RFC 9293 §3.4.1 gives under the RFC's own assumption that the
    /// 4 µs clock outruns the data (below about 1 Gbit/s, §1.5 of the notes), what Linux does
    /// explicitly when it replaces a TIME-WAIT socket (`tw_snd_nxt + 65537`), and RFC 1122
    /// 4.2.2.13 condition (1).
    AboveOld,
    /// Either the previous incarnation's ISN or one above the old space: a random ISN, an
    /// ISN of 0, or a clock outrun by a fast sender may land inside the old sequence space
    /// (RFC 1337 H1/H2, notes §2.4 and U7). The checker explores both.
    Arbitrary,
}

/// Which application calls occur (what the checker's applications may do).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
pub struct AppEvents {
    /// close() with SO_LINGER {1, 0}: RST, no TIME-WAIT (RFC 9293 §3.10.5).
    pub abort: bool,
    /// close() that shuts the read side while the peer may still send (half-duplex close,
    /// RFC 9293 §3.6.1 MAY-1), and close() with received data unread (RFC 2525 §2.17): both
    /// end in RST. Without it, applications close gracefully — shutdown(SHUT_WR), then read
    /// to the end — which is the only close the other properties speak of.
    pub close_unread: bool,
}

/// Timer values in real units (milliseconds).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
pub struct Timers {
    /// Maximum segment lifetime the network is assumed to honour.
    pub msl_ms: u64,
    /// TIME-WAIT length; `None`: the stack skips TIME-WAIT (goes straight to CLOSED).
    pub time_wait_ms: Option<u64>,
    /// Initial retransmission timeout (RFC 6298: 1 s).
    pub rto_ms: u64,
    /// Retransmissions before giving up (RFC 9293 §3.8.3 R2, Linux `tcp_orphan_retries`).
    pub max_retries: u8,
    /// FIN-WAIT-2 timeout (Linux `tcp_fin_timeout`); `None`: wait for the peer's FIN forever.
    pub fin_wait_2_ms: Option<u64>,
}

/// Every knob a stack varies on in teardown.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
pub struct Behaviour {
    /// Retransmit an unacknowledged FIN (RFC 9293 §3.6 "retransmitted until acknowledged").
    pub fin_retransmit: bool,
    /// Restart the 2MSL timer when a retransmitted FIN arrives in TIME-WAIT.
    pub time_wait_restart: bool,
    /// Acknowledge a retransmitted FIN in TIME-WAIT (false: U5, pre-#46407 Zephyr).
    pub time_wait_acks_fin: bool,
    /// RST acceptance in synchronized states.
    pub rst_check: RstCheck,
    /// RST in TIME-WAIT.
    pub time_wait_rst: TimeWaitRst,
    /// SYN in synchronized states.
    pub syn_check: SynCheck,
    /// SYN in TIME-WAIT.
    pub syn_in_time_wait: SynInTimeWait,
    /// Timestamps (RFC 7323) negotiated, with PAWS; the timestamp clock ticks between
    /// incarnations, so PAWS protects across them (RFC 6191).
    pub timestamps: bool,
    /// An outgoing connect() may reuse the 4-tuple of a TIME-WAIT TCB (Linux `tcp_tw_reuse`).
    pub time_wait_reuse: bool,
    /// ISN choice for a new incarnation.
    pub isn: IsnPolicy,
}

/// A named stack description.
#[derive(Clone, PartialEq, Debug, Serialize)]
pub struct StackDescription {
    /// Name, e.g. `linux`.
    pub name: String,
    /// One line: what it stands for and where that is written.
    pub summary: String,
    /// Timer values.
    pub timers: Timers,
    /// Behaviour knobs.
    pub behaviour: Behaviour,
    /// Application calls that occur.
    pub events: AppEvents,
    /// The ephemeral port range a client on this stack draws from, inclusive: what its
    /// TIME-WAIT sockets use up (`teardown timewait`). Not part of the checked model.
    pub ephemeral_ports: (u16, u16),
}

/// Parses a duration such as `500ms`, `1s`, `2.5s`, `2m`, `1h` into milliseconds.
pub fn parse_duration_ms(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("`{text}`: a duration needs a unit (ms, s, m, h)"))?;
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{text}`: `{num}` is not a number"))?;
    let factor = match unit.trim() {
        "ms" => 1.0,
        "s" => 1000.0,
        "m" | "min" => 60_000.0,
        "h" => 3_600_000.0,
        u => return Err(format!("`{text}`: unknown unit `{u}` (use ms, s, m or h)")),
    };
    let ms = value * factor;
    if !ms.is_finite() || !(1.0..=1e12).contains(&ms) {
        return Err(format!("`{text}`: out of range (1 ms to about 30 years)"));
    }
    // Rounding to a whole millisecond would go one way for every knob, where the
    // conversion to ticks rounds each in the direction that makes hazards easier to find.
    if (ms - ms.round()).abs() > 1e-6 {
        return Err(format!(
            "`{text}`: finer than a millisecond (write whole milliseconds, e.g. \"{}ms\")",
            ms.floor() as u64
        ));
    }
    Ok(ms.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_reject_nonsense() {
        assert_eq!(parse_duration_ms("500ms"), Ok(500));
        assert_eq!(parse_duration_ms("2.5s"), Ok(2500));
        assert_eq!(parse_duration_ms("2m"), Ok(120_000));
        assert!(parse_duration_ms("5").is_err());
        assert!(parse_duration_ms("0s").is_err());
        assert!(parse_duration_ms("-1s").is_err());
        assert!(parse_duration_ms("1e99h").is_err());
        assert!(parse_duration_ms("3 fortnights").is_err());
        assert!(parse_duration_ms("1.0004s").is_err());
        assert_eq!(parse_duration_ms("1.1s"), Ok(1100));
        assert_eq!(parse_duration_ms("300 ms"), Ok(300));
    }
}
