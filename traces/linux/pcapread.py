"""Minimal pcap / pcapng reader and TCP decoder (stdlib only) used to check every
capture against the ground truth it is published with. Ethernet, IPv4, IPv6 (no
extension headers), TCP with the timestamp option."""
import ipaddress
import struct
from dataclasses import dataclass
from typing import Optional

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


@dataclass
class Seg:
    n: int  # frame number, 1-based like Wireshark
    t: float
    src: str
    sport: int
    dst: str
    dport: int
    flags: int
    seq: int
    ack: int
    plen: int
    tsval: Optional[int]
    tsecr: Optional[int]
    raw: bytes = b""

    def has(self, f):
        return bool(self.flags & f)

    def flagstr(self):
        s = "".join(c for f, c in ((SYN, "S"), (FIN, "F"), (RST, "R"), (PSH, "P")) if self.flags & f)
        if self.flags & ACK:
            s += "."
        return s or "none"

    @property
    def fin_next(self):
        """The ack number that acknowledges this segment's FIN."""
        return (self.seq + self.plen + 1) & 0xFFFFFFFF


def seq_ge(a, b):
    return ((a - b) & 0xFFFFFFFF) < 0x80000000


def _frames(data):
    magic = data[:4]
    if magic == b"\x0a\x0d\x0d\x0a":
        yield from _pcapng_frames(data)
        return
    m = struct.unpack("<I", magic)[0]
    if m in (0xA1B2C3D4, 0xA1B23C4D):
        e = "<"
    else:
        e = ">"
        m = struct.unpack(">I", magic)[0]
    nano = m == 0xA1B23C4D
    linktype = struct.unpack(e + "I", data[20:24])[0]
    assert linktype == 1, f"linktype {linktype}"
    off = 24
    div = 1e9 if nano else 1e6
    while off + 16 <= len(data):
        s, frac, incl, _orig = struct.unpack(e + "IIII", data[off:off + 16])
        off += 16
        yield s + frac / div, data[off:off + incl]
        off += incl


def _pcapng_frames(data):
    off = 0
    e = "<"
    tsres = {}
    nif = 0
    while off + 12 <= len(data):
        btype = struct.unpack(e + "I", data[off:off + 4])[0]
        if btype == 0x0A0D0D0A:
            bom = data[off + 8:off + 12]
            e = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
            nif = 0
            tsres = {}
        blen = struct.unpack(e + "I", data[off + 4:off + 8])[0]
        body = data[off + 8:off + blen - 4]
        if btype == 1:  # IDB
            linktype = struct.unpack(e + "H", body[:2])[0]
            assert linktype == 1, f"linktype {linktype}"
            res = 1e6
            o = 8
            while o + 4 <= len(body):
                code, ln = struct.unpack(e + "HH", body[o:o + 4])
                if code == 0:
                    break
                if code == 9:
                    v = body[o + 4]
                    res = 2 ** (v & 0x7F) if v & 0x80 else 10 ** v
                o += 4 + ((ln + 3) & ~3)
            tsres[nif] = res
            nif += 1
        elif btype == 6:  # EPB
            ifid, hi, lo, incl, _orig = struct.unpack(e + "IIIII", body[:20])
            ts = ((hi << 32) | lo) / tsres.get(ifid, 1e6)
            yield ts, body[20:20 + incl]
        off += blen


def count(path):
    with open(path, "rb") as f:
        return sum(1 for _ in _frames(f.read()))


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    segs = []
    for i, (t, fr) in enumerate(_frames(data), 1):
        et = struct.unpack("!H", fr[12:14])[0]
        p = fr[14:]
        if et == 0x0800:
            ihl = (p[0] & 15) * 4
            if p[9] != 6:
                continue
            tot = struct.unpack("!H", p[2:4])[0]
            src = str(ipaddress.IPv4Address(p[12:16]))
            dst = str(ipaddress.IPv4Address(p[16:20]))
            tcp = p[ihl:]
            tcplen = tot - ihl
        elif et == 0x86DD:
            if p[6] != 6:
                continue
            tcplen = struct.unpack("!H", p[4:6])[0]
            src = str(ipaddress.IPv6Address(p[8:24]))
            dst = str(ipaddress.IPv6Address(p[24:40]))
            tcp = p[40:]
        else:
            continue
        sport, dport, seq, ack, offf, flags = struct.unpack("!HHIIBB", tcp[:14])
        doff = (offf >> 4) * 4
        tsval = tsecr = None
        opts = tcp[20:doff]
        o = 0
        while o < len(opts):
            k = opts[o]
            if k == 0:
                break
            if k == 1:
                o += 1
                continue
            if o + 1 >= len(opts):
                break
            ln = opts[o + 1]
            if k == 8 and ln == 10 and o + 10 <= len(opts):
                tsval, tsecr = struct.unpack("!II", opts[o + 2:o + 10])
            if ln < 2:
                break
            o += ln
        segs.append(Seg(i, t, src, sport, dst, dport, flags, seq, ack, tcplen - doff, tsval, tsecr, fr))
    return segs
