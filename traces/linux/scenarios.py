#!/usr/bin/env python3
"""Drive real Linux kernel TCP teardowns between network namespaces and record them.

Run through generate.sh (which checks root and tools and cleans up namespaces). Every
scenario gets a fresh topology (td-client / td-router / td-server), its sysctls, two
tcpdumps (client vantage: td-client eth0; server vantage: td-server eth0), the socket
calls below (real close / shutdown / SO_LINGER in the kernel), and then a check: the
capture is decoded again (pcapread.py) and the facts the ground truth claims are
asserted on it. A scenario whose timing did not produce the behaviour is re-run; a
ground-truth file is only written for captures that passed their check.
"""
import argparse
import contextlib
import ctypes
import datetime
import errno
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pcapread as pr  # noqa: E402
from pcapread import ACK, FIN, RST, SYN, seq_ge  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CAPDIR = os.path.join(HERE, "captures")
WORK = "/tmp/teardown-linux-work"
NS_C, NS_R, NS_S = "td-client", "td-router", "td-server"
ADDR = {
    4: {"client": "192.0.2.2", "server": "198.51.100.2"},
    6: {"client": "2001:db8:1::2", "server": "2001:db8:2::2"},
}
SERVER_PORT = 5001
SNAPLEN = 128
GENERATOR = None  # set from --generator

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL("libc.so.6", use_errno=True)


class ScenarioFailed(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise ScenarioFailed(msg)


# ---------------------------------------------------------------- namespaces, tools

@contextlib.contextmanager
def netns(name):
    """Switch the calling thread into a named network namespace for the block.
    Sockets created inside stay in that namespace."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
        yield
    finally:
        _libc.setns(home, CLONE_NEWNET)
        os.close(home)
        os.close(target)


def run(*cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, **kw)


def nsrun(ns, *cmd, **kw):
    return run("ip", "netns", "exec", ns, *cmd, **kw)


def sysctl_set(ns, **kv):
    for k, v in kv.items():
        nsrun(ns, "sysctl", "-qw", f"net.ipv4.{k}={v}")


SYSCTLS = ["tcp_timestamps", "tcp_tw_reuse", "tcp_tw_reuse_delay", "tcp_fin_timeout",
           "tcp_rfc1337", "tcp_sack", "tcp_max_tw_buckets", "ip_local_port_range",
           "tcp_recovery", "tcp_early_retrans"]


def sysctl_snapshot(ns):
    out = {}
    for k in SYSCTLS:
        r = nsrun(ns, "sysctl", "-n", f"net.ipv4.{k}", capture_output=True, text=True, check=False)
        if r.returncode == 0:
            v = " ".join(r.stdout.split())
            out[f"net.ipv4.{k}"] = int(v) if v.lstrip("-").isdigit() else v
    return out


def nft(*rule):
    nsrun(NS_R, "nft", *rule)


def nft_ruleset():
    return nsrun(NS_R, "nft", "list", "ruleset", capture_output=True, text=True).stdout


def tw_count(ns):
    r = nsrun(ns, "ss", "-Htan", "state", "time-wait", capture_output=True, text=True)
    return len([ln for ln in r.stdout.splitlines() if ln.strip()])


def ss_state(ns):
    return nsrun(ns, "ss", "-Htan", capture_output=True, text=True).stdout.strip().splitlines()


# ---------------------------------------------------------------- captures

class Capture:
    def __init__(self, ns, iface, path, tool="tcpdump", snaplen=SNAPLEN, nano=False):
        self.path = path
        if tool == "tcpdump":
            cmd = ["tcpdump", "--immediate-mode", "-i", iface, "-s", str(snaplen), "-U", "-Z", "root", "-n", "-w", path]
            if nano:
                cmd[1:1] = ["--time-stamp-precision=nano"]
            cmd.append("tcp")
            ready = "listening on"
        else:  # dumpcap writes pcapng natively
            cmd = ["dumpcap", "-i", iface, "-s", str(snaplen), "-f", "tcp", "-w", path]
            ready = "Capturing on"
        self.p = subprocess.Popen(["ip", "netns", "exec", ns] + cmd, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
        buf = ""
        deadline = time.time() + 10
        while ready not in buf:
            line = self.p.stderr.readline()
            if not line and self.p.poll() is not None:
                raise RuntimeError(f"{tool} failed: {buf}")
            buf += line
            check(time.time() < deadline, f"{tool} did not start")
        time.sleep(0.1)

    def stop(self):
        self.p.send_signal(signal.SIGINT)
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


# ---------------------------------------------------------------- sockets

class Net:
    """Socket helpers for one scenario run; fam is 4 or 6."""

    def __init__(self, fam):
        self.fam = fam
        self.af = socket.AF_INET if fam == 4 else socket.AF_INET6
        self.caddr = ADDR[fam]["client"]
        self.saddr = ADDR[fam]["server"]

    def listen(self, port=SERVER_PORT):
        with netns(NS_S):
            s = socket.socket(self.af, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((self.saddr, port))
            s.listen(128)
        return s

    def client_socket(self, bind_port=None, reuseaddr=False):
        with netns(NS_C):
            c = socket.socket(self.af, socket.SOCK_STREAM)
            if reuseaddr:
                c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if bind_port is not None:
                c.bind((self.caddr, bind_port))
        return c

    def connect(self, c, port=SERVER_PORT):
        c.settimeout(10)
        c.connect((self.saddr, port))
        return c


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            raise ScenarioFailed(f"EOF after {len(buf)} of {n} bytes")
        buf += d
    return buf


def recv_eof(s, timeout=10):
    s.settimeout(timeout)
    total = 0
    while True:
        d = s.recv(65536)
        if not d:
            return total
        total += len(d)


REQ = b"GET /teardown HTTP/1.0\r\n\r\n"
RESP = b"HTTP/1.0 200 OK\r\n\r\n" + b"x" * 181  # 200 bytes


def exchange(net, bind_port=None, reuseaddr=False, listener=None):
    """Connect, one request and one response. Returns (listener, client, server)."""
    L = listener or net.listen()
    c = net.client_socket(bind_port, reuseaddr)
    net.connect(c)
    L.settimeout(10)
    s, _ = L.accept()
    c.sendall(REQ)
    recv_exact(s, len(REQ))
    s.sendall(RESP)
    recv_exact(c, len(RESP))
    return L, c, s


def set_linger0(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


# ---------------------------------------------------------------- analysis

class View:
    """One vantage's segments of one 4-tuple, split into incarnations (at client SYNs)."""

    def __init__(self, segs, caddr, saddr, cport=None):
        self.caddr, self.saddr = caddr, saddr
        segs = [s for s in segs if {s.src, s.dst} == {caddr, saddr}]
        if cport is not None:
            segs = [s for s in segs if cport in (s.sport, s.dport)]
        self.all = segs
        self.incs = []
        for s in segs:
            if s.has(SYN) and not s.has(ACK) and s.src == caddr:
                if not self.incs or any(x.has(FIN) or x.has(RST) for x in self.incs[-1]):
                    self.incs.append([])
            if not self.incs:
                self.incs.append([])
            self.incs[-1].append(s)

    def side(self, s):
        return "client" if s.src == self.caddr else "server"


class Inc:
    def __init__(self, view, k=0):
        check(len(view.incs) > k, f"incarnation {k} missing (have {len(view.incs)})")
        self.v = view
        self.segs = view.incs[k]

    def by(self, side):
        return [s for s in self.segs if self.v.side(s) == side]

    def fins(self, side):
        return [s for s in self.by(side) if s.has(FIN)]

    def rsts(self, side):
        return [s for s in self.by(side) if s.has(RST)]

    def first_fin(self, side):
        f = self.fins(side)
        return f[0] if f else None

    def first_closer(self):
        fs = [s for s in self.segs if s.has(FIN)]
        return self.v.side(fs[0]) if fs else None

    def acks_of(self, side, fin):
        """Segments from side whose ACK covers the FIN segment fin."""
        return [s for s in self.by(side) if s.has(ACK) and seq_ge(s.ack, fin.fin_next)]

    def pure_acks_of(self, side, fin):
        return [s for s in self.acks_of(side, fin) if not s.has(FIN) and not s.has(RST) and s.plen == 0]

    def shape(self):
        """Facts about the close; used by the scenario checks."""
        a = self.first_closer()
        f = {"first_fin": a}
        if a is None:
            return f
        b = "server" if a == "client" else "client"
        fa, fb = self.first_fin(a), self.first_fin(b)
        f["fin_count"] = {a: len(self.fins(a)), b: len(self.fins(b))}
        f["rst_count"] = {a: len(self.rsts(a)), b: len(self.rsts(b))}
        if fb is not None:
            f["simultaneous"] = not seq_ge(fb.ack, fa.fin_next) and not seq_ge(fa.ack, fb.fin_next)
            sep = [s for s in self.pure_acks_of(b, fa) if s.n < fb.n]
            f["peer_acked_fin_separately"] = bool(sep)
            f["peer_fin_piggybacks_ack"] = fb.has(ACK) and seq_ge(fb.ack, fa.fin_next) and not sep
            f["peer_data_after_fin"] = sum(s.plen for s in self.by(b) if s.n > fa.n and s.n < fb.n)
            f["final_acks"] = len(self.pure_acks_of(a, fb))
            f["peer_fin_delay"] = round(fb.t - fa.t, 6)
        return f


def summarize(segs, caddr, t0=None):
    if not segs:
        return []
    t0 = segs[0].t if t0 is None else t0
    out = []
    for s in segs:
        d = "C>S" if s.src == caddr else "S>C"
        ts = f" TS {s.tsval}:{s.tsecr}" if s.tsval is not None else ""
        out.append(f"{s.n} +{s.t - t0:.6f} {d} {s.sport}>{s.dport} [{s.flagstr()}] "
                   f"seq {s.seq} ack {s.ack} len {s.plen}{ts}")
    return out


# ---------------------------------------------------------------- scenarios

SCENARIOS = {}


def scenario(name, **meta):
    def deco(fn):
        meta["fn"] = fn
        meta["name"] = name
        SCENARIOS[name] = meta
        return fn
    return deco


class Ctx:
    """What a scenario run knows: the Net, notes for the truth file, outcomes."""

    def __init__(self, fam):
        self.net = Net(fam)
        self.outcome = {}
        self.impairment_result = None
        self.cport = None


def close_4way_client(ctx):
    L, c, s = exchange(ctx.net)
    ctx.cport = c.getsockname()[1]
    c.close()
    check(recv_eof(s) == 0, "server got data instead of EOF")
    time.sleep(0.5)  # longer than the delayed-ACK timer: the ACK of the FIN goes alone
    s.close()
    time.sleep(0.3)
    ctx.outcome["client_time_wait_sockets_after"] = tw_count(NS_C)
    ctx.outcome["server_time_wait_sockets_after"] = tw_count(NS_S)
    L.close()


def check_4way(v, closer="client"):
    sh = Inc(v).shape()
    check(sh["first_fin"] == closer, f"first FIN from {sh['first_fin']}")
    check(not sh["simultaneous"], "FINs crossed")
    check(sh["peer_acked_fin_separately"], "peer did not ACK the FIN separately")
    check(sh["peer_data_after_fin"] == 0, "peer sent data after FIN")
    check(sum(sh["rst_count"].values()) == 0, "RST seen")
    check(all(n == 1 for n in sh["fin_count"].values()), f"FIN counts {sh['fin_count']}")
    check(sh["final_acks"] == 1, f"final ACKs {sh['final_acks']}")
    return sh


BASIC = dict(fn=None)


@scenario("close-4way", classification="4-way", closed_first="client", tw="client",
          impairment=None, desc="client close() after the response; server close() 0.5 s after "
          "reading EOF: FIN, ACK, FIN, ACK as four segments")
def s_close_4way(ctx):
    close_4way_client(ctx)


s_close_4way.check = lambda v, vant, ctx: check_4way(v)


@scenario("close-4way-ipv6", classification="4-way", closed_first="client", tw="client",
          impairment=None, family=6, desc="close-4way over IPv6")
def s_close_4way_v6(ctx):
    close_4way_client(ctx)


s_close_4way_v6.check = lambda v, vant, ctx: check_4way(v)


@scenario("close-4way-pcapng", classification="4-way", closed_first="client", tw="client",
          impairment=None, tool="dumpcap", ext="pcapng", snaplen=262144,
          desc="close-4way written as pcapng by dumpcap (full snaplen)")
def s_close_4way_ng(ctx):
    close_4way_client(ctx)


s_close_4way_ng.check = lambda v, vant, ctx: check_4way(v)


@scenario("close-4way-nanosecond", classification="4-way", closed_first="client", tw="client",
          impairment=None, nano=True, snaplen=262144,
          desc="close-4way as pcap with nanosecond timestamps (magic a1b23c4d), full snaplen")
def s_close_4way_ns(ctx):
    close_4way_client(ctx)


s_close_4way_ns.check = lambda v, vant, ctx: check_4way(v)


@scenario("close-3way", classification="3-way (FIN+ACK)", closed_first="client", tw="client",
          impairment=None, desc="client close(); server close() as soon as recv() returns EOF, "
          "so its FIN carries the (delayed) ACK of the client's FIN")
def s_close_3way(ctx):
    L, c, s = exchange(ctx.net)
    c.close()
    recv_eof(s)
    s.close()
    time.sleep(0.3)
    L.close()


def _check_3way(v, vant, ctx):
    sh = Inc(v).shape()
    check(sh["first_fin"] == "client", "first FIN not from client")
    check(not sh["simultaneous"], "crossed")
    check(sh["peer_fin_piggybacks_ack"], "server FIN did not carry the ACK of the client FIN")
    check(sum(sh["rst_count"].values()) == 0, "RST")
    check(sh["final_acks"] == 1, "final ACK")
    return sh


s_close_3way.check = _check_3way


@scenario("close-server-first", classification="4-way", closed_first="server", tw="server",
          impairment=None, desc="server close() right after sending the response; client "
          "reads EOF and close()s 0.5 s later")
def s_server_first(ctx):
    L = ctx.net.listen()
    c = ctx.net.client_socket()
    ctx.net.connect(c)
    s, _ = L.accept()
    c.sendall(REQ)
    recv_exact(s, len(REQ))
    s.sendall(RESP)
    s.close()
    recv_exact(c, len(RESP))
    recv_eof(c)
    time.sleep(0.5)
    c.close()
    time.sleep(0.3)
    ctx.outcome["server_time_wait_sockets_after"] = tw_count(NS_S)
    L.close()


s_server_first.check = lambda v, vant, ctx: check_4way(v, closer="server")


@scenario("close-server-first-3way", classification="3-way (FIN+ACK)", closed_first="server",
          tw="server", impairment=None,
          desc="server close() right after sending the response; the client close()s as soon "
          "as recv() returns EOF, so its FIN carries the delayed ACK of the server's FIN")
def s_server_first_3way(ctx):
    L = ctx.net.listen()
    c = ctx.net.client_socket()
    ctx.net.connect(c)
    s, _ = L.accept()
    c.sendall(REQ)
    recv_exact(s, len(REQ))
    s.sendall(RESP)
    s.close()
    recv_exact(c, len(RESP))
    recv_eof(c)
    c.close()
    time.sleep(0.3)
    L.close()


def _check_server_3way(v, vant, ctx):
    sh = Inc(v).shape()
    check(sh["first_fin"] == "server", "first FIN not from server")
    check(not sh["simultaneous"], "crossed")
    check(sh["peer_fin_piggybacks_ack"], "client FIN did not carry the ACK of the server FIN")
    check(sum(sh["rst_count"].values()) == 0, "RST")
    check(sh["final_acks"] == 1, "final ACK")
    return sh


s_server_first_3way.check = _check_server_3way


@scenario("data-fin-piggyback", classification="4-way", closed_first="server", tw="server",
          impairment=None,
          desc="the server corks the socket (TCP_CORK), writes the 200-byte response and "
          "close()s: the FIN rides on the last data segment ([FP.] with 200 bytes); the "
          "client reads EOF and close()s 0.5 s later")
def s_data_fin(ctx):
    L = ctx.net.listen()
    c = ctx.net.client_socket()
    ctx.net.connect(c)
    s, _ = L.accept()
    c.sendall(REQ)
    recv_exact(s, len(REQ))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
    s.sendall(RESP)
    s.close()
    recv_exact(c, len(RESP))
    recv_eof(c)
    time.sleep(0.5)
    c.close()
    time.sleep(0.3)
    L.close()


def _check_data_fin(v, vant, ctx):
    inc = Inc(v)
    sh = check_4way(v, closer="server")
    fin = inc.first_fin("server")
    check(fin.plen == len(RESP), f"server FIN carries {fin.plen} bytes of data")
    sh["fin_carries_data"] = fin.plen
    return sh


s_data_fin.check = _check_data_fin


@scenario("simultaneous", classification="simultaneous", closed_first="both", tw="both",
          impairment=None, retries=100,
          desc="both applications call shutdown(SHUT_WR) at the same instant (two processes "
          "pinned to different CPUs, busy-waiting on a shared deadline); re-run until the "
          "FINs cross (neither FIN acknowledges the other)")
def s_simultaneous(ctx):
    L, c, s = exchange(ctx.net)
    time.sleep(0.3)  # let every ACK settle
    deadline = time.monotonic_ns() + 100_000_000
    pid = os.fork()
    if pid == 0:
        try:
            os.sched_setaffinity(0, {1})
            while time.monotonic_ns() < deadline:
                pass
            s.shutdown(socket.SHUT_WR)
        finally:
            os._exit(0)
    try:
        os.sched_setaffinity(0, {0})
        while time.monotonic_ns() < deadline:
            pass
        c.shutdown(socket.SHUT_WR)
    finally:
        os.sched_setaffinity(0, set(range(os.cpu_count())))
    os.waitpid(pid, 0)
    recv_eof(c)
    recv_eof(s)
    time.sleep(0.3)
    ctx.outcome["client_time_wait_sockets_after"] = tw_count(NS_C)
    ctx.outcome["server_time_wait_sockets_after"] = tw_count(NS_S)
    c.close()
    s.close()
    L.close()


def _check_simul(v, vant, ctx):
    sh = Inc(v).shape()
    check(sh.get("simultaneous"), "FINs did not cross")
    check(sum(sh["rst_count"].values()) == 0, "RST")
    return sh


s_simultaneous.check = _check_simul


@scenario("simultaneous-ipv6", classification="simultaneous", closed_first="both", tw="both",
          impairment=None, retries=100, family=6, desc="simultaneous over IPv6")
def s_simultaneous_v6(ctx):
    s_simultaneous(ctx)


s_simultaneous_v6.check = _check_simul


@scenario("half-close-data", classification="half-close with data", closed_first="client",
          tw="client", impairment=None,
          desc="client sends the request and shutdown(SHUT_WR); the server reads to EOF, then "
          "sends 3 x 1000 bytes and close()s; the client reads everything, then close()s")
def s_half_close(ctx):
    L = ctx.net.listen()
    c = ctx.net.client_socket()
    ctx.net.connect(c)
    s, _ = L.accept()
    c.sendall(REQ)
    c.shutdown(socket.SHUT_WR)
    check(recv_eof(s) == len(REQ), "request")
    time.sleep(0.3)
    for _ in range(3):
        s.sendall(b"d" * 1000)
        time.sleep(0.05)
    s.close()
    check(recv_eof(c) == 3000, "response")
    c.close()
    time.sleep(0.3)
    L.close()


def _check_half(v, vant, ctx):
    sh = Inc(v).shape()
    check(sh["first_fin"] == "client", "first FIN")
    check(sh["peer_data_after_fin"] == 3000, f"data after FIN {sh['peer_data_after_fin']}")
    check(sum(sh["rst_count"].values()) == 0, "RST")
    check(sh["final_acks"] >= 1, "final ACK")
    return sh


s_half_close.check = _check_half


@scenario("lost-final-ack", classification="lost final ACK recovered", closed_first="client",
          tw="client", impairment="router drops the client's final ACK (the first pure ACK "
          "client->server after the server's FIN) once: nftables forward rule "
          "'iifname c0 tcp flags == ack quota until 100 bytes drop', added after the "
          "server ACKed the client's FIN and before the server close()s",
          desc="4-way close whose final ACK is lost; the server retransmits its FIN, the "
          "client (in TIME-WAIT) ACKs it again")
def s_lost_final_ack(ctx):
    L, c, s = exchange(ctx.net)
    c.close()
    recv_eof(s)
    time.sleep(0.5)
    nft("add", "rule", "inet", "impair", "impfwd", "iifname", "c0", "tcp", "flags", "==", "ack",
        "quota", "until", "100", "bytes", "counter", "drop")
    s.close()
    time.sleep(2.0)
    ctx.impairment_result = nft_ruleset()
    ctx.outcome["client_time_wait_sockets_after"] = tw_count(NS_C)
    L.close()


def _check_lost_final_ack(v, vant, ctx):
    inc = Inc(v)
    sh = inc.shape()
    check(sh["first_fin"] == "client", "first FIN")
    check(sh["fin_count"]["server"] >= 2, "server FIN not retransmitted")
    fs = inc.fins("server")
    check(all(f.seq == fs[0].seq for f in fs), "server FINs differ")
    check(sum(sh["rst_count"].values()) == 0, "RST")
    fb = inc.first_fin("server")
    acks = inc.pure_acks_of("client", fb)
    if vant == "client":
        check(len(acks) == 2, f"client final ACKs {len(acks)}")
        check(acks[0].n < fs[1].n < acks[1].n, "order ACK, FIN rexmit, ACK")
    else:
        check(len(acks) == 1 and acks[0].n > fs[1].n, "server sees one ACK after the rexmit")
    check("packets 1 " in ctx.impairment_result, "nft did not drop exactly one packet")
    return sh


s_lost_final_ack.check = _check_lost_final_ack


@scenario("lost-final-ack-ipv6", classification="lost final ACK recovered", closed_first="client",
          tw="client", family=6, impairment=SCENARIOS["lost-final-ack"]["impairment"],
          desc="lost-final-ack over IPv6 (the same inet-family nftables rule)")
def s_lost_final_ack_v6(ctx):
    s_lost_final_ack(ctx)


s_lost_final_ack_v6.check = _check_lost_final_ack


@scenario("lost-fin", classification="lost FIN recovered", closed_first="client", tw="client",
          impairment="router drops the client's first FIN once: nftables forward rule "
          "'iifname c0 tcp flags & fin == fin quota until 100 bytes drop'",
          desc="client close(); its FIN is lost and retransmitted; server close()s 0.5 s "
          "after EOF")
def s_lost_fin(ctx):
    nft("add", "rule", "inet", "impair", "impfwd", "iifname", "c0", "tcp", "flags", "&", "fin",
        "==", "fin", "quota", "until", "100", "bytes", "counter", "drop")
    L, c, s = exchange(ctx.net)
    c.close()
    recv_eof(s)
    time.sleep(0.5)
    s.close()
    time.sleep(0.3)
    ctx.impairment_result = nft_ruleset()
    L.close()


def _check_lost_fin(v, vant, ctx):
    inc = Inc(v)
    sh = inc.shape()
    check(sh["first_fin"] == "client", "first FIN")
    fa = inc.fins("client")
    if vant == "client":
        check(len(fa) == 2 and fa[0].seq == fa[1].seq, "client FIN sent twice")
        check(not inc.acks_of("server", fa[0]) or inc.acks_of("server", fa[0])[0].n > fa[1].n,
              "first FIN was acked")
    else:
        check(len(fa) == 1, "server sees one FIN")
    check(sh["peer_acked_fin_separately"], "4-way after recovery")
    check(sum(sh["rst_count"].values()) == 0, "RST")
    check("packets 1 " in ctx.impairment_result, "nft did not drop exactly one packet")
    return sh


s_lost_fin.check = _check_lost_fin


@scenario("lost-second-fin", classification="lost FIN recovered", closed_first="client",
          tw="client", impairment="router drops the server's FIN (the second FIN of the close) "
          "once: nftables forward rule 'iifname s0 tcp flags & fin == fin quota until 100 bytes "
          "drop', added before the server close()s",
          desc="client close(); the server close()s 0.5 s after EOF and its FIN is lost; the "
          "server retransmits it. At the server vantage this looks exactly like lost-final-ack "
          "(FIN, no ACK, FIN again, ACK); only the client vantage tells them apart")
def s_lost_second_fin(ctx):
    L, c, s = exchange(ctx.net)
    c.close()
    recv_eof(s)
    time.sleep(0.5)
    nft("add", "rule", "inet", "impair", "impfwd", "iifname", "s0", "tcp", "flags", "&", "fin",
        "==", "fin", "quota", "until", "100", "bytes", "counter", "drop")
    s.close()
    time.sleep(2.0)
    ctx.impairment_result = nft_ruleset()
    L.close()


def _check_lost_second_fin(v, vant, ctx):
    inc = Inc(v)
    sh = inc.shape()
    check(sh["first_fin"] == "client", "first FIN")
    check(sh["peer_acked_fin_separately"], "4-way")
    fs = inc.fins("server")
    acks = inc.pure_acks_of("client", fs[0])
    if vant == "server":
        check(len(fs) == 2 and fs[0].seq == fs[1].seq, "server FIN sent twice")
        check(len(acks) == 1 and acks[0].n > fs[1].n, "one ACK, after the retransmission")
    else:
        check(len(fs) == 1 and len(acks) == 1, "client sees one FIN and ACKs it once")
    check(sum(sh["rst_count"].values()) == 0, "RST")
    check("packets 1 " in ctx.impairment_result, "nft did not drop exactly one packet")
    return sh


s_lost_second_fin.check = _check_lost_second_fin


@scenario("linger0-abort", classification="RST abort", closed_first="client", tw="none",
          impairment=None, desc="client sets SO_LINGER {on, 0} and close()s: RST, no FIN")
def s_linger0(ctx):
    L, c, s = exchange(ctx.net)
    set_linger0(c)
    c.close()
    time.sleep(0.2)
    try:
        s.recv(10)
        ctx.outcome["server_recv"] = "returned"
    except ConnectionResetError:
        ctx.outcome["server_recv"] = "ECONNRESET"
    s.close()
    time.sleep(0.2)
    L.close()


def _check_rst_abort(v, vant, ctx):
    inc = Inc(v)
    check(not [x for x in inc.segs if x.has(FIN)], "FIN seen")
    r = inc.rsts("client")
    check(len(r) == 1, "one RST from the client")
    check(not inc.rsts("server"), "RST from server")
    return {"rst_from": "client", "fins": 0}


s_linger0.check = _check_rst_abort


@scenario("linger0-abort-server", classification="RST abort", closed_first="server", tw="none",
          impairment=None, desc="after the response the server sets SO_LINGER {on, 0} and "
          "close()s: RST from the server, no FIN; the client's recv() gets ECONNRESET")
def s_linger0_server(ctx):
    L, c, s = exchange(ctx.net)
    set_linger0(s)
    s.close()
    time.sleep(0.2)
    try:
        c.recv(10)
        ctx.outcome["client_recv"] = "returned"
    except ConnectionResetError:
        ctx.outcome["client_recv"] = "ECONNRESET"
    c.close()
    time.sleep(0.2)
    L.close()


def _check_rst_abort_server(v, vant, ctx):
    inc = Inc(v)
    check(not [x for x in inc.segs if x.has(FIN)], "FIN seen")
    check(len(inc.rsts("server")) == 1, "one RST from the server")
    check(not inc.rsts("client"), "RST from client")
    return {"rst_from": "server", "fins": 0}


s_linger0_server.check = _check_rst_abort_server


@scenario("close-unread-rst", classification="RST abort", closed_first="client", tw="none",
          impairment=None, desc="the server sends 500 bytes the client never reads; client "
          "close() with unread data in its receive queue sends RST instead of FIN")
def s_unread(ctx):
    L, c, s = exchange(ctx.net)
    s.sendall(b"u" * 500)
    time.sleep(0.3)
    c.close()
    time.sleep(0.2)
    try:
        s.recv(10)
        ctx.outcome["server_recv"] = "returned"
    except ConnectionResetError:
        ctx.outcome["server_recv"] = "ECONNRESET"
    s.close()
    L.close()


s_unread.check = _check_rst_abort


@scenario("fin-then-rst", classification="FIN then RST", closed_first="client", tw="none",
          impairment=None, desc="client sends the request and close()s at once (FIN); the "
          "server answers 0.3 s later; the orphaned client socket answers the data with RST")
def s_fin_then_rst(ctx):
    L = ctx.net.listen()
    c = ctx.net.client_socket()
    ctx.net.connect(c)
    s, _ = L.accept()
    c.sendall(REQ)
    c.close()
    check(recv_eof(s) == len(REQ), "request")
    time.sleep(0.3)
    s.sendall(RESP)
    time.sleep(0.3)
    try:
        s.send(b"more")
        s.send(b"more")
        ctx.outcome["server_second_send"] = "ok"
    except (BrokenPipeError, ConnectionResetError) as e:
        ctx.outcome["server_second_send"] = errno.errorcode.get(e.errno, str(e.errno))
    s.close()
    time.sleep(0.2)
    L.close()


def _check_fin_then_rst(v, vant, ctx):
    inc = Inc(v)
    fa = inc.first_fin("client")
    check(fa is not None, "client FIN")
    data = [x for x in inc.by("server") if x.plen > 0 and x.n > fa.n]
    check(data, "server data after the FIN")
    r = inc.rsts("client")
    check(r and r[0].n > data[0].n, "client RST after the data")
    check(not inc.fins("server"), "server FIN before RST")
    return {"first_fin": "client", "rst_from": "client"}


s_fin_then_rst.check = _check_fin_then_rst


@scenario("fin-wait-2-timeout", classification="FIN-WAIT-2 timeout", closed_first="client",
          tw="none", impairment=None, sysctl_client={"tcp_fin_timeout": 2},
          desc="client tcp_fin_timeout=2; client close(); the server stays in CLOSE-WAIT for "
          "4 s, then close()s; its late FIN meets RST (the client's orphaned FIN-WAIT-2 "
          "socket is gone)")
def s_fw2(ctx):
    L, c, s = exchange(ctx.net)
    c.close()
    recv_eof(s)
    time.sleep(1.0)
    ctx.outcome["client_sockets_at_1s"] = ss_state(NS_C)
    time.sleep(3.0)
    ctx.outcome["client_sockets_at_4s"] = ss_state(NS_C)
    s.close()
    time.sleep(0.3)
    L.close()


def _check_fw2(v, vant, ctx):
    inc = Inc(v)
    sh = inc.shape()
    check(sh["first_fin"] == "client", "first FIN")
    check(sh["peer_acked_fin_separately"], "FIN acked")
    fb = inc.first_fin("server")
    check(fb is not None and sh["peer_fin_delay"] > 2.0, "late server FIN")
    r = inc.rsts("client")
    check(len(r) == 1 and r[0].n > fb.n, "client RST answers the late FIN")
    check(sh["final_acks"] == 0, "no final ACK")
    return sh


s_fw2.check = _check_fw2


def no_tw_run(ctx, drop_final_ack, orphan):
    """Client closes first with tcp_max_tw_buckets=0: the kernel cannot keep a TIME-WAIT
    (or orphaned FIN-WAIT-2) socket and closes it at once."""
    L, c, s = exchange(ctx.net)
    if orphan:
        c.close()
    else:
        c.shutdown(socket.SHUT_WR)
    recv_eof(s)
    time.sleep(0.5)
    if drop_final_ack:
        nft("add", "rule", "inet", "impair", "impfwd", "iifname", "c0", "tcp", "flags", "==",
            "ack", "quota", "until", "100", "bytes", "counter", "drop")
    ctx.outcome["client_sockets_before_server_close"] = ss_state(NS_C)
    s.close()
    if not orphan:
        check(recv_eof(c) == 0, "client EOF")
        time.sleep(0.1)
        ctx.outcome["client_sockets_after_server_fin"] = ss_state(NS_C)
        c.close()
    time.sleep(1.5)
    ctx.outcome["client_time_wait_sockets_after"] = tw_count(NS_C)
    ctx.impairment_result = nft_ruleset() if drop_final_ack else None
    L.close()


@scenario("no-timewait-4way", classification="4-way", closed_first="client", tw="none",
          impairment=None, sysctl_client={"tcp_max_tw_buckets": 0},
          desc="client tcp_max_tw_buckets=0; client shutdown(SHUT_WR), server close() 0.5 s "
          "after EOF, client close() on EOF: an ordinary 4-way close on the wire, but the "
          "client's kernel keeps no TIME-WAIT socket ('time wait bucket table overflow')")
def s_no_tw(ctx):
    no_tw_run(ctx, False, False)


def _check_no_tw(v, vant, ctx):
    sh = check_4way(v)
    check(ctx.outcome["client_time_wait_sockets_after"] == 0, "no TIME-WAIT socket")
    return sh


s_no_tw.check = _check_no_tw


@scenario("no-timewait-lost-final-ack", classification="FIN then RST", closed_first="client",
          tw="none", sysctl_client={"tcp_max_tw_buckets": 0},
          impairment=SCENARIOS["lost-final-ack"]["impairment"],
          desc="the hazard TIME-WAIT exists for: client tcp_max_tw_buckets=0 (no TIME-WAIT "
          "socket), the client's final ACK is lost, the server's retransmitted FIN finds no "
          "connection and meets RST; the server's close ends in an error instead of cleanly")
def s_no_tw_lost(ctx):
    no_tw_run(ctx, True, False)


def _check_no_tw_lost(v, vant, ctx):
    inc = Inc(v)
    sh = inc.shape()
    check(sh["first_fin"] == "client", "first FIN")
    check(sh["peer_acked_fin_separately"], "FIN acked separately")
    fs = inc.fins("server")
    check(len(fs) == 2 and fs[0].seq == fs[1].seq, "server FIN retransmitted once")
    r = inc.rsts("client")
    check(len(r) == 1 and r[0].n > fs[1].n and r[0].seq == fs[1].ack, "client RST answers the "
          "retransmitted FIN")
    acks = inc.pure_acks_of("client", fs[0])
    check(len(acks) == (1 if vant == "client" else 0), f"final ACKs {len(acks)}")
    check("packets 1 " in ctx.impairment_result, "nft did not drop exactly one packet")
    check(ctx.outcome["client_time_wait_sockets_after"] == 0, "no TIME-WAIT socket")
    return sh


s_no_tw_lost.check = _check_no_tw_lost


@scenario("no-timewait-orphan-fin-wait-2", classification="FIN then RST", closed_first="client",
          tw="none", impairment=None, sysctl_client={"tcp_max_tw_buckets": 0},
          desc="client tcp_max_tw_buckets=0 and a plain close(): the orphaned FIN-WAIT-2 state "
          "also needs a TIME-WAIT bucket, so the client's kernel drops the connection as soon "
          "as its FIN is ACKed; the server's FIN 0.5 s later meets RST")
def s_no_tw_orphan(ctx):
    no_tw_run(ctx, False, True)


def _check_no_tw_orphan(v, vant, ctx):
    inc = Inc(v)
    sh = inc.shape()
    check(sh["first_fin"] == "client", "first FIN")
    check(sh["peer_acked_fin_separately"], "FIN acked separately")
    fb = inc.first_fin("server")
    r = inc.rsts("client")
    check(fb is not None and len(r) == 1 and r[0].n > fb.n, "client RST answers the server FIN")
    check(sh["final_acks"] == 0, "no final ACK")
    return sh


s_no_tw_orphan.check = _check_no_tw_orphan


@scenario("dup-teardown", classification="4-way", closed_first="client", tw="client",
          impairment="router duplicates every FIN in both directions: nftables postrouting "
          "'tcp flags & fin == fin dup to <receiver> device <oif>' (the copy arrives right "
          "after the original)",
          desc="close-4way with duplicated FINs; the receiver of each duplicate ACKs it again")
def s_dup(ctx):
    nft("add", "rule", "ip", "impair4", "imppost", "oifname", "s0", "tcp", "flags", "&", "fin",
        "==", "fin", "counter", "dup", "to", ADDR[4]["server"], "device", "s0")
    nft("add", "rule", "ip", "impair4", "imppost", "oifname", "c0", "tcp", "flags", "&", "fin",
        "==", "fin", "counter", "dup", "to", ADDR[4]["client"], "device", "c0")
    close_4way_client(ctx)
    ctx.impairment_result = nft_ruleset()


def _check_dup(v, vant, ctx):
    inc = Inc(v)
    sh = inc.shape()
    check(sh["first_fin"] == "client", "first FIN")
    check(sh["peer_acked_fin_separately"], "4-way")
    check(sum(sh["rst_count"].values()) == 0, "RST")
    recv = "server" if vant == "server" else "client"
    sent = "client" if recv == "server" else "server"
    fr = inc.fins(sent)
    check(len(fr) == 2 and (fr[0].seq, fr[0].ack, fr[0].tsval) == (fr[1].seq, fr[1].ack, fr[1].tsval),
          f"{recv} vantage should see the {sent} FIN twice, identical")
    check(len(inc.fins(recv)) == 1, "own FIN once")
    return sh


s_dup.check = _check_dup


def tw_reuse_run(ctx, port, wait, bind):
    """Incarnation 1 from client port `port`, 4-way close with the client in TIME-WAIT,
    wait, then connect again from the same port. bind=True: explicit bind() with
    SO_REUSEADDR; bind=False: plain connect() with ip_local_port_range set to the single
    port (the scenario's sysctls), so the kernel's own port choice must reuse the 4-tuple."""
    if bind:
        L, c, s = exchange(ctx.net, bind_port=port, reuseaddr=True)
    else:
        L, c, s = exchange(ctx.net)
    check(c.getsockname()[1] == port, f"client port {c.getsockname()[1]}")
    ctx.cport = port
    c.close()
    recv_eof(s)
    time.sleep(0.5)
    s.close()
    time.sleep(wait)
    ctx.outcome["client_time_wait_sockets_before_reconnect"] = tw_count(NS_C)
    attempts = []
    if bind:
        c2 = ctx.net.client_socket()
        try:
            c2.bind((ctx.net.caddr, port))
            attempts.append({"bind": "no SO_REUSEADDR", "bind_result": "ok"})
        except OSError as e:
            attempts.append({"bind": "no SO_REUSEADDR", "bind_result": errno.errorcode[e.errno]})
        c2.close()
        c2 = ctx.net.client_socket(port, reuseaddr=True)
        att = {"bind": "SO_REUSEADDR", "bind_result": "ok"}
    else:
        c2 = ctx.net.client_socket()
        att = {"bind": "none (ephemeral port from the one-port range)"}
    try:
        ctx.net.connect(c2)
        att["connect_result"] = "ok"
        att["client_port"] = c2.getsockname()[1]
    except OSError as e:
        att["connect_result"] = errno.errorcode.get(e.errno, str(e.errno))
    attempts.append(att)
    ctx.outcome["reconnect_from_same_port"] = attempts
    if att["connect_result"] == "ok":
        s2, _ = L.accept()
        c2.sendall(REQ)
        recv_exact(s2, len(REQ))
        s2.sendall(RESP)
        recv_exact(c2, len(RESP))
        c2.close()
        recv_eof(s2)
        time.sleep(0.5)
        s2.close()
    else:
        c2.close()
    time.sleep(0.3)
    L.close()
    return att["connect_result"] == "ok"


def _check_reuse(v, vant, ctx, expect_reuse, tw_side="client", min_gap=0.0, max_gap=60.0):
    inc = Inc(v)
    sh = inc.shape()
    closer = "client" if tw_side == "client" else "server"
    check(sh["first_fin"] == closer, f"first FIN from {sh['first_fin']}")
    check(sh.get("final_acks", 0) >= 1, "final ACK")
    if not expect_reuse:
        check(len(v.incs) == 1, f"{len(v.incs)} incarnations, expected 1 (refused)")
        sh["incarnations"] = 1
        return sh
    check(len(v.incs) == 2, f"{len(v.incs)} incarnations, expected 2")
    syn2 = v.incs[1][0]
    last_fin = max(x.t for x in inc.segs if x.has(FIN))
    gap = syn2.t - last_fin
    check(min_gap <= gap < max_gap, f"SYN {gap:.3f}s after the FIN exchange")
    check(any(x.has(SYN) and x.has(ACK) for x in v.incs[1]), "SYN-ACK")
    sh2 = Inc(v, 1).shape()
    check(sh2.get("final_acks", 0) >= 1, "second incarnation closes")
    sh["incarnations"] = 2
    sh["second_syn_after_first_close_s"] = round(gap, 6)
    sh["second_incarnation"] = sh2
    return sh


for _reuse, _ts in ((1, 1), (0, 1), (1, 0), (0, 0)):
    def _mk(reuse=_reuse, ts=_ts):
        ok = reuse == 1 and ts == 1

        @scenario(f"tw-reuse{reuse}-ts{ts}",
                  classification="reuse of the 4-tuple (inside TIME-WAIT)" if ok else "4-way",
                  closed_first="client", tw="client", impairment=None,
                  sysctl_client={"tcp_tw_reuse": reuse, "tcp_timestamps": ts,
                                 "ip_local_port_range": "40000 40000"},
                  sysctl_server={"tcp_timestamps": ts},
                  desc="the client's ephemeral range is the single port 40000; plain connect(), "
                  "4-way close (client TIME-WAIT), 1.5 s later a second plain connect(): "
                  + ("tcp_tw_reuse=1 with timestamps: the kernel reuses the TIME-WAIT 4-tuple"
                     if ok else "refused (EADDRNOTAVAIL: no free port), only the first "
                     "connection is on the wire"))
        def fn(ctx):
            tw_reuse_run(ctx, 40000, 1.5, bind=False)

        fn.check = lambda v, vant, ctx: _check_reuse(v, vant, ctx, ok)
    _mk()

for _ts in (1, 0):
    def _mk3(ts=_ts):
        ok = ts == 1

        @scenario(f"tw-bind-reuseaddr-ts{ts}",
                  classification="reuse of the 4-tuple (inside TIME-WAIT)" if ok else "4-way",
                  closed_first="client", tw="client", impairment=None,
                  sysctl_client={"tcp_tw_reuse": 0, "tcp_timestamps": ts},
                  sysctl_server={"tcp_timestamps": ts},
                  desc="explicit bind() with SO_REUSEADDR to client port 40005 before connect(), "
                  "4-way close (client TIME-WAIT), 1.5 s later a new socket binds the same port "
                  "(without SO_REUSEADDR: EADDRINUSE; with it: ok) and connect()s; tcp_tw_reuse=0. "
                  + ("With timestamps the kernel reuses the TIME-WAIT 4-tuple anyway: for an "
                     "explicitly bound port tcp_twsk_unique() is called without twp and only "
                     "needs a recorded peer timestamp, tcp_tw_reuse is not consulted"
                     if ok else "Without timestamps connect() is refused (EADDRNOTAVAIL)"))
        def fn(ctx):
            tw_reuse_run(ctx, 40005, 1.5, bind=True)

        fn.check = lambda v, vant, ctx: _check_reuse(v, vant, ctx, ok)
    _mk3()


@scenario("tw-reuse-after-timewait", classification="reuse of the 4-tuple (after TIME-WAIT)",
          closed_first="client", tw="client", impairment=None,
          sysctl_client={"tcp_tw_reuse": 0, "ip_local_port_range": "40001 40001"},
          desc="the client's ephemeral range is the single port 40001; 4-way close (client "
          "TIME-WAIT), 62 s later (TIME-WAIT is 60 s) a plain connect() gets the same port; "
          "tcp_tw_reuse=0")
def s_after_tw(ctx):
    tw_reuse_run(ctx, 40001, 62.0, bind=False)


s_after_tw.check = lambda v, vant, ctx: _check_reuse(v, vant, ctx, True, min_gap=60.0, max_gap=1e9)


@scenario("explicit-bind", classification="4-way", closed_first="client", tw="client",
          impairment=None, desc="client bind()s port 40002 (no SO_REUSEADDR) before connect(); "
          "then close-4way")
def s_bind(ctx):
    L, c, s = exchange(ctx.net, bind_port=40002)
    ctx.cport = 40002
    c.close()
    recv_eof(s)
    time.sleep(0.5)
    s.close()
    time.sleep(0.3)
    L.close()


s_bind.check = lambda v, vant, ctx: check_4way(v)


def syn_to_server_tw(ctx):
    L = ctx.net.listen()
    c = ctx.net.client_socket(40003)
    ctx.net.connect(c)
    s, _ = L.accept()
    c.sendall(REQ)
    recv_exact(s, len(REQ))
    s.sendall(RESP)
    s.close()
    recv_exact(c, len(RESP))
    recv_eof(c)
    time.sleep(0.5)
    c.close()
    time.sleep(0.5)
    ctx.outcome["server_time_wait_sockets_before_reconnect"] = tw_count(NS_S)
    c2 = ctx.net.client_socket(40003)  # client side is CLOSED: no SO_REUSEADDR needed
    att = {}
    try:
        ctx.net.connect(c2)
        att["connect_result"] = "ok"
    except OSError as e:
        att["connect_result"] = errno.errorcode.get(e.errno, str(e.errno))
    ctx.outcome["reconnect_from_same_port"] = att
    if att["connect_result"] == "ok":
        s2, _ = L.accept()
        c2.sendall(REQ)
        recv_exact(s2, len(REQ))
        s2.sendall(RESP)
        recv_exact(c2, len(RESP))
        c2.close()
        recv_eof(s2)
        time.sleep(0.5)
        s2.close()
    time.sleep(0.3)
    L.close()


for _ts in (1, 0):
    def _mk2(ts=_ts):
        @scenario(f"syn-to-server-timewait-ts{ts}",
                  classification="reuse of the 4-tuple (inside TIME-WAIT)", closed_first="server",
                  tw="server", impairment=None,
                  sysctl_client={"tcp_timestamps": ts}, sysctl_server={"tcp_timestamps": ts},
                  desc=f"server closes first (server TIME-WAIT); 0.5 s later the client connects "
                  f"again from the same port 40003; the SYN reaches the server's TIME-WAIT "
                  f"socket and is accepted (tcp_timestamps={ts})")
        def fn(ctx):
            syn_to_server_tw(ctx)

        fn.check = lambda v, vant, ctx: _check_reuse(v, vant, ctx, True, tw_side="server")
    _mk2()


def tw_rst_run(ctx, port):
    L, c, s = exchange(ctx.net)
    check(c.getsockname()[1] == port, "client port")
    ctx.cport = port
    c.close()
    recv_eof(s)
    time.sleep(0.5)
    s.close()
    time.sleep(0.3)
    # a delayed duplicate of the client's final ACK: the router sends a byte-identical copy
    # of the frame the server already received (taken from the server-side capture) out of
    # s0 again. The server socket is CLOSED by now, so the server's kernel answers it with
    # RST seq = the ACK's ack number = the client's RCV.NXT, which reaches the client's
    # TIME-WAIT socket. (An nftables 'dup' copy arrives back-to-back with the original and
    # the server's backlog coalesces the two, so the copy has to come later.)
    segs = pr.read(ctx.server_capture)
    fin = [x for x in segs if x.src == ctx.net.saddr and x.has(FIN)][0]
    final = [x for x in segs if x.src == ctx.net.caddr and x.has(ACK) and x.ack == fin.fin_next
             and x.plen == 0 and not x.has(FIN)][-1]
    with netns(NS_R):
        ps = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        ps.bind(("s0", 0))
    ps.send(final.raw)
    ps.close()
    ctx.outcome["replayed"] = {"copy_of_server_vantage_frame": final.n, "bytes": len(final.raw),
                               "sent_s_after_original": round(time.time() - final.t, 3)}
    time.sleep(0.5)
    n = tw_count(NS_C)
    ctx.outcome["client_time_wait_sockets_after_rst"] = n
    time.sleep(0.5)
    # a plain connect() (one-port ephemeral range, tcp_tw_reuse=0) can only get the port
    # back if the TIME-WAIT socket is gone
    c2 = ctx.net.client_socket()
    att = {"bind": "none (ephemeral port from the one-port range)"}
    try:
        ctx.net.connect(c2)
        att["connect_result"] = "ok"
        s2, _ = L.accept()
        c2.sendall(REQ)
        recv_exact(s2, len(REQ))
        s2.sendall(RESP)
        recv_exact(c2, len(RESP))
        c2.close()
        recv_eof(s2)
        time.sleep(0.5)
        s2.close()
    except OSError as e:
        att["connect_result"] = errno.errorcode.get(e.errno, str(e.errno))
        c2.close()
    ctx.outcome["reconnect_from_same_port"] = att
    time.sleep(0.3)
    L.close()


def _check_tw_rst(v, vant, ctx, killed):
    inc = Inc(v)
    sh = inc.shape()
    check(sh["first_fin"] == "client", "first FIN")
    fb = inc.first_fin("server")
    r = inc.rsts("server")
    check(len(r) == 1 and r[0].n > fb.n and not r[0].has(ACK) and r[0].seq == fb.fin_next,
          "server RST with seq = client RCV.NXT after the close")
    acks = inc.pure_acks_of("client", fb)
    if vant == "server":
        check(len(acks) == 2, "the server sees the final ACK and its duplicate")
    else:
        check(len(acks) == 1, "the client sent one final ACK")
    sh["rst_seq_equals_client_rcv_nxt"] = True
    n = ctx.outcome["client_time_wait_sockets_after_rst"]
    if killed:
        check(n == 0, f"client TIME-WAIT sockets after RST: {n}")
        check(len(v.incs) == 2, "reconnect from the same port happened")
    else:
        check(n == 1, f"client TIME-WAIT sockets after RST: {n}")
        check(len(v.incs) == 1, "reconnect refused")
    sh["incarnations"] = len(v.incs)
    return sh


@scenario("tw-rst-rfc1337-0", classification="TIME-WAIT ended by RST", closed_first="client",
          tw="client (ended early by the RST)", sysctl_client={"tcp_rfc1337": 0, "tcp_tw_reuse": 0, "ip_local_port_range": "40004 40004"},
          impairment="0.3 s after the close the router re-sends a byte-identical copy of the "
          "client's final ACK to the server (AF_PACKET on router s0: a delayed duplicate); the "
          "closed server's kernel answers it with RST seq=client RCV.NXT, no ACK bit",
          desc="client TIME-WAIT (port 40004) receives an in-window RST provoked by a duplicate "
          "of its own final ACK; with tcp_rfc1337=0 the kernel kills the TIME-WAIT socket; "
          "proof on the wire: 1 s later a plain connect() with the one-port ephemeral range "
          "40004 and tcp_tw_reuse=0 gets the same 4-tuple")
def s_tw_rst0(ctx):
    tw_rst_run(ctx, 40004)


s_tw_rst0.check = lambda v, vant, ctx: _check_tw_rst(v, vant, ctx, True)


@scenario("tw-rst-rfc1337-1", classification="4-way", closed_first="client", tw="client",
          sysctl_client={"tcp_rfc1337": 1, "tcp_tw_reuse": 0, "ip_local_port_range": "40004 40004"},
          impairment=SCENARIOS["tw-rst-rfc1337-0"]["impairment"],
          desc="as tw-rst-rfc1337-0 with tcp_rfc1337=1: the RST is ignored, TIME-WAIT "
          "survives (ss shows it) and the plain reconnect from the one-port range is "
          "refused (EADDRNOTAVAIL), so the capture holds one connection followed by the ignored RST")
def s_tw_rst1(ctx):
    tw_rst_run(ctx, 40004)


s_tw_rst1.check = lambda v, vant, ctx: _check_tw_rst(v, vant, ctx, False)


class Holder(threading.Thread):
    """Delay one frame in the router without netem: an nftables forward rule drops the
    first frame of the chosen IP length arriving on `iif` (quota trick), and this thread,
    which sees the same frame on an AF_PACKET socket before netfilter does, sends it on
    out of `oif` `delay` seconds later with the router's MAC addresses and TTL - 1 (what
    forwarding would have done)."""

    MACS = {"c0": ("02:00:00:00:01:01", "02:00:00:00:01:02"),
            "s0": ("02:00:00:00:02:01", "02:00:00:00:02:02")}

    def __init__(self, iif, oif, ip_len, delay):
        super().__init__(daemon=True)
        self.iif, self.oif, self.ip_len, self.delay = iif, oif, ip_len, delay
        with netns(NS_R):
            self.rx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
            self.rx.bind((iif, 0))
            self.tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
            self.tx.bind((oif, 0))
        self.rx.settimeout(0.2)
        self.stop = threading.Event()
        self.held = None
        nft("add", "rule", "inet", "impair", "impfwd", "iifname", iif, "ip", "length",
            str(ip_len), "quota", "until", str(ip_len + 1), "bytes", "counter", "drop")

    def run(self):
        while not self.stop.is_set():
            try:
                fr, addr = self.rx.recvfrom(65535)
            except socket.timeout:
                continue
            if addr[2] == socket.PACKET_OUTGOING or len(fr) < 34:
                continue
            if struct.unpack("!H", fr[16:18])[0] != self.ip_len:
                continue
            t0 = time.time()
            ip = bytearray(fr[14:])
            ip[8] -= 1
            ip[10:12] = b"\0\0"
            ip[10:12] = struct.pack("!H", ip_checksum(bytes(ip[:(ip[0] & 15) * 4])))
            src, dst = self.MACS[self.oif]
            eth = bytes.fromhex(dst.replace(":", "")) + bytes.fromhex(src.replace(":", "")) + b"\x08\x00"
            time.sleep(self.delay)
            self.tx.send(eth + bytes(ip))
            self.held = {"ip_length": self.ip_len, "held_s": round(time.time() - t0, 6),
                         "from": self.iif, "to": self.oif}
            break
        self.rx.close()
        self.tx.close()


def ip_checksum(h):
    s = sum(struct.unpack(f"!{len(h) // 2}H", h))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


REORDER_IMPAIRMENT = ("router holds the server's last data segment (100 bytes, IP length 152) "
                      "for 50 ms: nftables forward rule drops it once ('iifname s0 ip length 152 "
                      "quota until 153 bytes drop') and a helper on an AF_PACKET socket forwards "
                      "that same frame 50 ms later (TTL - 1, router MACs), so the server's FIN "
                      "overtakes it")


def reorder_run(ctx):
    L, c, s = exchange(ctx.net)
    h = Holder("s0", "c0", 20 + 32 + 100, 0.05)
    h.start()
    s.sendall(b"z" * 100)
    s.close()
    check(recv_eof(c) == 100, "last data")
    time.sleep(0.5)
    c.close()
    time.sleep(0.3)
    h.stop.set()
    h.join()
    ctx.impairment_result = nft_ruleset()
    ctx.outcome["held"] = h.held
    L.close()


def _check_reorder(v, vant, ctx, clean):
    inc = Inc(v)
    sh = inc.shape()
    check(ctx.outcome.get("held"), "the helper held no frame")
    check("packets 1 " in ctx.impairment_result, "nft did not drop exactly one frame")
    check(sh["first_fin"] == "server", "first FIN")
    fin = inc.first_fin("server")
    last = [x for x in inc.by("server") if x.plen == 100]
    sh["last_data_copies"] = len(last)
    if clean:
        check(len(last) == 1, "one copy of the last data segment (no retransmission)")
    else:
        check(len(last) in (1, 2), "last data segment once or twice")
    check(sh["peer_acked_fin_separately"] and sh["final_acks"] == 1, "4-way")
    check(sum(sh["rst_count"].values()) == 0, "RST")
    if vant == "client":
        check(last[0].n > fin.n, "the FIN arrived before the data")
        dup = [x for x in inc.by("client") if fin.n < x.n < last[0].n and x.plen == 0]
        check(dup and not seq_ge(dup[0].ack, fin.seq), "duplicate ACK for the hole")
    else:
        check(last[0].n < fin.n, "the server sent the data before the FIN")
    sh["reordered_at_this_vantage"] = vant == "client"
    return sh


@scenario("reorder-teardown", classification="4-way", closed_first="server", tw="server",
          impairment=REORDER_IMPAIRMENT, retries=8,
          desc="the server sends 100 bytes and close()s at once; the FIN reaches the client "
          "before the data (the client answers with a duplicate ACK carrying SACK of the FIN); "
          "default sysctls, so the server's RACK/SACK recovery usually retransmits the hole "
          "before the held original arrives, which then comes in as a duplicate; the client "
          "reads EOF and close()s 0.5 s later")
def s_reorder(ctx):
    reorder_run(ctx)


s_reorder.check = lambda v, vant, ctx: _check_reorder(v, vant, ctx, False)




# ---------------------------------------------------------------- burst and bench

def serve_forever(L, stop):
    """Accept loop: read the request, answer, close when the client has closed."""
    L.settimeout(0.5)
    conns = []
    while not stop.is_set():
        try:
            s, _ = L.accept()
        except socket.timeout:
            continue
        try:
            s.settimeout(5)
            recv_exact(s, len(REQ))
            s.sendall(RESP)
            recv_eof(s)
        except OSError:
            pass
        s.close()
    return conns


def burst(ctx, n, sample_secs, csv_path, ports=(SERVER_PORT,), rate=None, bind_base=None):
    stop = threading.Event()
    listeners = [ctx.net.listen(p) for p in ports]
    threads = [threading.Thread(target=serve_forever, args=(L, stop), daemon=True) for L in listeners]
    for t in threads:
        t.start()
    samples = []
    sampling = threading.Event()

    def sampler():
        t_end = time.time() + sample_secs
        while time.time() < t_end and not sampling.is_set():
            samples.append((time.time(), tw_count(NS_C)))
            time.sleep(0.5)

    st = threading.Thread(target=sampler, daemon=True)
    st.start()
    t0 = time.time()
    errors = 0
    for i in range(n):
        if rate:
            pause = t0 + i / rate - time.time()
            if pause > 0:
                time.sleep(pause)
        try:
            c = ctx.net.client_socket(bind_base + i if bind_base else None)
            ctx.net.connect(c, ports[i % len(ports)])
            c.sendall(REQ)
            recv_exact(c, len(RESP))
            c.close()
        except OSError:
            errors += 1
    t1 = time.time()
    ctx.outcome.update({"connections": n, "connect_errors": errors,
                        "connections_per_second": round(n / (t1 - t0), 1)})
    st.join()
    stop.set()
    for t in threads:
        t.join()
    for L in listeners:
        L.close()
    if csv_path:
        with open(csv_path, "w") as f:
            f.write("time,count\n")
            for t, k in samples:
                f.write(f"{t:.3f},{k}\n")
        ctx.outcome["time_wait_peak"] = max(k for _, k in samples)
        ctx.outcome["time_wait_samples"] = len(samples)


BURST_N = 2000


@scenario("burst", classification="3-way (FIN+ACK)", closed_first="client", tw="client",
          impairment=None, snaplen=96, burst=True,
          desc=f"{BURST_N} short connections paced at 100 per second over 20 s, client ports "
          f"20000-{20000 + BURST_N - 1} in order (explicit bind), (request, "
          "response, client close(), server close() on EOF); the client's TIME-WAIT count is "
          "sampled about every 0.5 s for 90 s with 'ss -tan state time-wait' into "
          "burst.timewait.csv (columns: unix time, count): it ramps up for 20 s, holds, and "
          "drains 60 s after each close")
def s_burst(ctx):
    burst(ctx, BURST_N, 90.0, os.path.join(WORK, "burst.timewait.csv"), rate=100, bind_base=20000)


def _check_burst(v, vant, ctx):
    conns = {}
    for x in v.all:
        cp = x.sport if x.src == v.caddr else x.dport
        conns.setdefault(cp, []).append(x)
    n_inc = 0
    closes = {"3-way (FIN+ACK)": 0, "4-way": 0, "other": 0}
    for cp, segs in conns.items():
        vv = View(segs, v.caddr, v.saddr)
        for k in range(len(vv.incs)):
            n_inc += 1
            sh = Inc(vv, k).shape()
            if sh.get("first_fin") != "client" or sum(sh.get("rst_count", {1: 1}).values()):
                closes["other"] += 1
            elif sh.get("peer_fin_piggybacks_ack"):
                closes["3-way (FIN+ACK)"] += 1
            elif sh.get("peer_acked_fin_separately"):
                closes["4-way"] += 1
            else:
                closes["other"] += 1
    check(n_inc == BURST_N, f"{n_inc} connections in the capture")
    check(closes["other"] == 0, f"closes {closes}")
    check(ctx.outcome["time_wait_peak"] >= BURST_N * 0.9, "TIME-WAIT peak")
    return {"connections": n_inc, "closes": closes, "packets": len(v.all)}


s_burst.check = _check_burst


def bench(n, outdir):
    """On demand: >= 1 M packets of short-lived connections, client vantage, snaplen 96."""
    os.makedirs(outdir, exist_ok=True)
    topology("up")
    try:
        sysctl_set(NS_C, ip_local_port_range="1024 65535", tcp_tw_reuse=1)
        path = os.path.join(outdir, "bench.client.pcap")
        cap = Capture(NS_C, "eth0", path, snaplen=96)
        ctx = Ctx(4)
        burst(ctx, n, 0.0, None, ports=tuple(range(SERVER_PORT, SERVER_PORT + 8)))
        time.sleep(0.5)
        cap.stop()
        npk = pr.count(path)
        info = {"file": "bench.client.pcap", "kernel": os.uname().release, "vantage": "client",
                "snaplen": 96, "packets": npk, "bytes": os.path.getsize(path),
                "server_ports": [SERVER_PORT, SERVER_PORT + 7], "outcome": ctx.outcome,
                "sysctls": {"client": sysctl_snapshot(NS_C), "server": sysctl_snapshot(NS_S)},
                "what": "short-lived connections (connect, 26-byte request, 200-byte response, "
                        "client close, server close on EOF) through the real stack, one after "
                        "another, spread over 8 server ports"}
        with open(os.path.join(outdir, "bench.json"), "w") as f:
            json.dump(info, f, indent=2)
        print(f"bench: {path}: {info['bytes']} bytes, {npk} packets, {ctx.outcome}")
        check(n < 100_000 or npk >= 1_000_000, f"only {npk} packets")
    finally:
        topology("down")


# ---------------------------------------------------------------- driver

def fixed_port(name):
    return 41000 + zlib.crc32(name.encode()) % 9000


def topology(what):
    run("bash", GENERATOR, f"_{what}")


def run_scenario(name, keep_going):
    meta = SCENARIOS[name]
    fam = meta.get("family", 4)
    ext = meta.get("ext", "pcap")
    retries = meta.get("retries", 5)
    last = None
    for attempt in range(1, retries + 1):
        shutil.rmtree(WORK, ignore_errors=True)
        os.makedirs(WORK)
        topology("up")
        try:
            if "ip_local_port_range" not in meta.get("sysctl_client", {}) and not meta.get("burst"):
                # one connection per scenario: pin its ephemeral port (the kernel still picks
                # it, from a one-port range) so that regenerating gives the same 4-tuples
                p = fixed_port(name)
                sysctl_set(NS_C, ip_local_port_range=f"{p} {p}")
            for ns, key in ((NS_C, "sysctl_client"), (NS_S, "sysctl_server")):
                for k, val in meta.get(key, {}).items():
                    sysctl_set(ns, **{k: val})
            caps = {}
            for vant, ns in (("client", NS_C), ("server", NS_S)):
                caps[vant] = Capture(ns, "eth0", os.path.join(WORK, f"{name}.{vant}.{ext}"),
                                     tool=meta.get("tool", "tcpdump"),
                                     snaplen=meta.get("snaplen", SNAPLEN), nano=meta.get("nano", False))
            ctx = Ctx(fam)
            ctx.server_capture = caps["server"].path
            started = datetime.datetime.now(datetime.timezone.utc)
            meta["fn"](ctx)
            time.sleep(1.2 if meta.get("tool") == "dumpcap" else 0.3)
            for cap in caps.values():
                cap.stop()
            sysctls = {"client": sysctl_snapshot(NS_C), "server": sysctl_snapshot(NS_S)}
            results = {}
            for vant, cap in caps.items():
                segs = pr.read(cap.path)
                view = View(segs, ctx.net.caddr, ctx.net.saddr, ctx.cport)
                results[vant] = (meta["fn"].check(view, vant, ctx), view, segs)
        except ScenarioFailed as e:
            last = e
            print(f"  {name}: attempt {attempt}: not shown ({e}); re-running", flush=True)
            continue
        finally:
            topology("down")
        # passed at both vantages: publish
        os.makedirs(CAPDIR, exist_ok=True)
        for vant, (facts, view, segs) in results.items():
            base = f"{name}.{vant}"
            shutil.copy(os.path.join(WORK, f"{base}.{ext}"), os.path.join(CAPDIR, f"{base}.{ext}"))
            os.chmod(os.path.join(CAPDIR, f"{base}.{ext}"), 0o644)
            truth = {
                "file": f"{base}.{ext}",
                "scenario": name,
                "description": meta["desc"],
                "stack": "linux",
                "kernel": os.uname().release,
                "generated_utc": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "attempt": attempt,
                "vantage": vant,
                "capture_point": "td-client eth0 (between client and router)" if vant == "client"
                else "td-server eth0 (between router and server)",
                "format": {"pcap": "pcap, microsecond", "pcapng": "pcapng (dumpcap), nanosecond if_tsresol"}[ext]
                if not meta.get("nano") else "pcap, nanosecond",
                "snaplen": meta.get("snaplen", SNAPLEN),
                "client": {"addr": ctx.net.caddr, "port": ctx.cport if not meta.get("burst") else f"20000-{20000 + BURST_N - 1}"},
                "server": {"addr": ctx.net.saddr, "port": SERVER_PORT},
                "ip_version": fam,
                "closed_first": meta["closed_first"],
                "impairment": meta["impairment"] or "none",
                "router_rules_after": [ln.strip() for ln in (ctx.impairment_result or "").splitlines()
                                       if "counter" in ln or "dup" in ln or "drop" in ln],
                "sysctls": sysctls,
                "classification": meta["classification"],
                "time_wait_held_by": meta["tw"],
                "outcome": ctx.outcome,
                "observed": facts,
                "packets": len(segs),
            }
            if not meta.get("burst"):
                truth["segments"] = summarize(view.all, ctx.net.caddr)
            if not truth["client"]["port"]:
                ports = {s.sport for s in view.all if s.src == ctx.net.caddr}
                truth["client"]["port"] = sorted(ports)[0] if len(ports) == 1 else sorted(ports)
            with open(os.path.join(CAPDIR, f"{base}.truth.json"), "w") as f:
                json.dump(truth, f, indent=2, default=str)
                f.write("\n")
        if meta.get("burst"):
            shutil.copy(os.path.join(WORK, "burst.timewait.csv"), os.path.join(CAPDIR, "burst.timewait.csv"))
        print(f"  {name}: ok (attempt {attempt})", flush=True)
        return True
    msg = f"{name}: behaviour not shown after {retries} attempts: {last}"
    if keep_going:
        print("  FAILED " + msg, flush=True)
        return False
    raise SystemExit(msg)


SHORT_IMPAIRMENT = {
    "lost-final-ack": "router drops the final ACK once (nft quota)",
    "lost-final-ack-ipv6": "router drops the final ACK once (nft quota)",
    "lost-fin": "router drops the first FIN once (nft quota)",
    "lost-second-fin": "router drops the server's FIN once (nft quota)",
    "no-timewait-lost-final-ack": "router drops the final ACK once (nft quota)",
    "dup-teardown": "router duplicates every FIN (nft dup)",
    "reorder-teardown": "router holds the last data segment 50 ms; the FIN overtakes it",
    "tw-rst-rfc1337-0": "router replays the final ACK 0.3 s later; the server answers RST",
    "tw-rst-rfc1337-1": "router replays the final ACK 0.3 s later; the server answers RST",
}
TABLE_BEGIN = "<!-- BEGIN generated table: scenarios.py --table -->"
TABLE_END = "<!-- END generated table -->"


def write_table():
    """Rewrite the capture table in README.md from the truth files present."""
    rows = ["| file | vantage | scenario | classification | TIME-WAIT held by | impairment | sysctls set |",
            "|---|---|---|---|---|---|---|"]
    present = set(os.listdir(CAPDIR)) if os.path.isdir(CAPDIR) else set()
    for name, meta in SCENARIOS.items():
        for vant in ("client", "server"):
            tf = f"{name}.{vant}.truth.json"
            if tf not in present:
                continue
            with open(os.path.join(CAPDIR, tf)) as f:
                t = json.load(f)
            sc = []
            for side, key in (("client", "sysctl_client"), ("server", "sysctl_server")):
                for k, val in meta.get(key, {}).items():
                    sc.append(f"{side} {k}={val}")
            rows.append(f"| `captures/{t['file']}` | {vant} | {name} | {t['classification']} | "
                        f"{t['time_wait_held_by']} | {SHORT_IMPAIRMENT.get(name, 'none')} | "
                        f"{'; '.join(sc) or 'defaults'} |")
    readme = os.path.join(HERE, "README.md")
    text = open(readme).read()
    a, b = text.index(TABLE_BEGIN), text.index(TABLE_END)
    text = text[:a] + TABLE_BEGIN + "\n" + "\n".join(rows) + "\n" + text[b:]
    with open(readme, "w") as f:
        f.write(text)


def verify():
    """No root needed: every committed capture still matches its truth file (packet count,
    addresses, the per-segment summary and the classification vocabulary)."""
    terms = {"4-way", "3-way (FIN+ACK)", "simultaneous", "half-close with data", "RST abort",
             "FIN then RST", "FIN-WAIT-2 timeout", "lost final ACK recovered",
             "lost FIN recovered", "reuse of the 4-tuple (inside TIME-WAIT)",
             "reuse of the 4-tuple (after TIME-WAIT)", "TIME-WAIT ended by RST"}
    bad = 0
    n = 0
    for tf in sorted(os.listdir(CAPDIR)):
        if not tf.endswith(".truth.json"):
            continue
        n += 1
        with open(os.path.join(CAPDIR, tf)) as f:
            t = json.load(f)
        problems = []
        segs = pr.read(os.path.join(CAPDIR, t["file"]))
        if len(segs) != t["packets"]:
            problems.append(f"{len(segs)} packets, truth says {t['packets']}")
        if t["classification"] not in terms:
            problems.append(f"classification {t['classification']!r}")
        caddr, saddr = t["client"]["addr"], t["server"]["addr"]
        if any({x.src, x.dst} != {caddr, saddr} for x in segs):
            problems.append("a segment between other addresses")
        if "segments" in t:
            view = View(segs, caddr, saddr)
            if summarize(view.all, caddr) != t["segments"]:
                problems.append("segment summary differs")
        print(f"{'ok ' if not problems else 'BAD'} {t['file']} {'; '.join(problems)}")
        bad += bool(problems)
    print(f"{n} truth files, {bad} bad")
    return bad == 0


def main():
    global GENERATOR
    ap = argparse.ArgumentParser()
    ap.add_argument("--generator", required=True)
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--keep-going", action="store_true")
    ap.add_argument("--table", action="store_true", help="only rewrite the README table")
    ap.add_argument("--verify", action="store_true", help="check captures/ against the truth files")
    ap.add_argument("names", nargs="*")
    a = ap.parse_args()
    GENERATOR = a.generator
    if a.list:
        for k, m in SCENARIOS.items():
            print(f"{k:28} {m['classification']}")
        return
    if a.table:
        write_table()
        return
    if a.verify:
        raise SystemExit(0 if verify() else 1)
    if a.names[:1] == ["bench"]:
        n = int(a.names[1]) if len(a.names) > 1 else 120_000
        bench(n, os.path.join(HERE, "bench"))
        return
    names = a.names or list(SCENARIOS)
    for n in names:
        if n not in SCENARIOS:
            raise SystemExit(f"unknown scenario {n}; try --list")
    failed = [n for n in names if not run_scenario(n, a.keep_going)]
    write_table()
    if failed:
        raise SystemExit(f"failed: {failed}")


if __name__ == "__main__":
    main()
