#!/usr/bin/env python3
"""Compare the reachable state set of teardown.pml with the Rust checker's exact graph.

Usage:
  teardown graph --stack S [bounds] --format json | python3 check_states.py rust - > rust.set
  ./pan ... (built with spin -DDUMP, gcc -DPRINTF) | python3 check_states.py spin - L D Y > spin.set
  (L D Y: the loss, duplication and delay budgets, for the initial state)
  comm -3 rust.set spin.set            # empty when the two sets are equal

Both sides are written in the layout of teardown.pml's `dump()`: the two TCBs (state, iss,
una, nxt, rcv, timer (255 = None), retries, ts_clock, incarnation), the two applications,
the network vector as packed InFlight ints (0 padded to 6), the budgets, flags, witness and
ack_exchange.
"""
import re
import sys

STATES = ["Closed", "Listen", "SynSent", "SynReceived", "Established", "FinWait1",
          "FinWait2", "CloseWait", "Closing", "LastAck", "TimeWait"]
WITNESSES = ["LostFinalAckRecovered", "SimultaneousClose", "FinWait1ToTimeWait",
             "DataAfterPeerFin", "TimeWaitRestarted", "NewIncarnationEstablished",
             "OldDuplicateRejectedByWindow", "OldSegmentRejectedByPaws",
             "TimeWaitAssassinated"]
NCAP = 6

TCB = re.compile(r"Tcb \{ state: (\w+), role: \w+, iss: (\d+), snd_una: (\d+), snd_nxt: (\d+), "
                 r"rcv_nxt: (\d+), read_closed: (\w+), timer: (None|Some\((\d+)\)), retries: (\d+), "
                 r"ts_clock: (\d+), ts_recent: None, incarnation: (\d+) \}")
APP = re.compile(r"App \{ written: (\d+), closed: (\w+), delivered: (\d+), written_before: (\d+) \}")
INF = re.compile(r"InFlight \{ late: (\w+), to: (\d), age: (\d+), seg: Segment \{ flags: ([^,]+), "
                 r"seq: (\d+), ack: (\d+), len: (\d+), tsval: None, ghost: Ghost \{ "
                 r"incarnation: (\d+), answers_fin: (\w+) \} \} \}")
TAIL = re.compile(r"losses_left: (\d+), dups_left: (\d+), delays_left: (\d+), flags: (\d+), "
                  r"witness: (None|Some\((\w+)\)), ack_exchange: (\d+) \}")


def flag_bits(s):
    if s == "none":
        return 0
    return (1 if "S" in s else 0) | (2 if "." in s else 0) | (4 if "F" in s else 0) | (8 if "R" in s else 0)


def rust_line(c):
    out = []
    tcbs = TCB.findall(c)
    assert len(tcbs) == 2, c
    for (st, iss, una, nxt, rcv, rc, timer, t, retries, ts, inc) in tcbs:
        assert rc == "false", "read_closed is not ported"
        out += [STATES.index(st), iss, una, nxt, rcv, 255 if timer == "None" else t, retries, ts, inc]
    for (w, cl, d, wb) in APP.findall(c):
        out += [w, 1 if cl == "true" else 0, d, wb]
    net = []
    for (late, to, age, fl, seq, ack, ln, inc, af) in INF.findall(c):
        net.append((1 if late == "true" else 0) << 30 | int(to) << 29 | int(age) << 26
                   | flag_bits(fl) << 22 | int(seq) << 14 | int(ack) << 6 | int(ln) << 3
                   | int(inc) << 1 | (1 if af == "true" else 0))
    assert c.count("InFlight") == len(net), c
    out += net + [0] * (NCAP - len(net))
    (l, d, y, f, w, wn, ax) = TAIL.search(c).groups()
    out += [l, d, y, f, 0 if w == "None" else WITNESSES.index(wn) + 1, ax]
    return " ".join(str(v) for v in out)


def main():
    kind, path = sys.argv[1], sys.argv[2]
    src = sys.stdin if path == "-" else open(path)
    seen = set()
    if kind == "rust":
        for line in src:
            line = line.strip()
            if line.startswith('"canonical": "'):
                seen.add(rust_line(line[len('"canonical": "'):].rstrip('",')))
    else:
        # dump() runs after each transition, so the initial state (budgets given as
        # arguments) is added here
        losses, dups, delays = sys.argv[3:6]
        seen.add(" ".join(["4 10 11 11 101 255 0 0 1 4 100 101 101 11 255 0 0 1"]
                          + ["0"] * (8 + NCAP) + [losses, dups, delays, "0 0 0"]))
        for line in src:
            line = line.strip()
            if line.startswith("S "):
                seen.add(" ".join(line.split()[1:]))
    for s in sorted(seen):
        print(s)


if __name__ == "__main__":
    main()
