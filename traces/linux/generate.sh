#!/usr/bin/env bash
# Regenerate the Linux kernel TCP teardown captures in traces/linux/captures/.
#
#   sudo traces/linux/generate.sh                 # every committed scenario
#   sudo traces/linux/generate.sh close-4way ...  # only the named scenarios
#   sudo traces/linux/generate.sh --list          # list scenario names
#   traces/linux/generate.sh --verify             # no root: captures/ still match their truth
#   sudo traces/linux/generate.sh bench [N]       # on demand, NOT committed: >= 1 M packet
#                                                 # benchmark capture in traces/linux/bench/
#
# Needs root, network namespaces and veth pairs. No traffic leaves the machine: three
# namespaces (td-client, td-router, td-server) are created per scenario and deleted
# again (also on error or Ctrl-C, via the trap below).
#
# Topology (documentation prefixes, fixed MAC addresses):
#
#   td-client eth0 ---- c0 td-router s0 ---- eth0 td-server
#   192.0.2.2/24      192.0.2.1  198.51.100.1      198.51.100.2/24
#   2001:db8:1::2/64  2001:db8:1::1  2001:db8:2::1  2001:db8:2::2/64
#
# tcpdump runs on td-client/eth0 (client vantage) and td-server/eth0 (server vantage);
# impairments (nftables drop-once, dup) live in td-router, between the two vantages.
#
# Tools (Debian packages): tcpdump nftables iproute2 ethtool tshark (for dumpcap) python3.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NS_CLIENT=td-client
NS_ROUTER=td-router
NS_SERVER=td-server

topology_down() {
    local ns
    for ns in "$NS_CLIENT" "$NS_ROUTER" "$NS_SERVER"; do
        if [ -e "/var/run/netns/$ns" ]; then
            # kill anything still running inside (only our own namespaces)
            local pids
            pids="$(ip netns pids "$ns" 2>/dev/null || true)"
            # shellcheck disable=SC2086 # one pid per word
            if [ -n "$pids" ]; then kill $pids 2>/dev/null || true; fi
            ip netns del "$ns" 2>/dev/null || true
        fi
    done
}

topology_up() {
    topology_down
    ip netns add "$NS_CLIENT"
    ip netns add "$NS_ROUTER"
    ip netns add "$NS_SERVER"
    ip link add eth0 netns "$NS_CLIENT" address 02:00:00:00:01:02 type veth \
        peer name c0 netns "$NS_ROUTER" address 02:00:00:00:01:01
    ip link add eth0 netns "$NS_SERVER" address 02:00:00:00:02:02 type veth \
        peer name s0 netns "$NS_ROUTER" address 02:00:00:00:02:01
    local ns
    for ns in "$NS_CLIENT" "$NS_ROUTER" "$NS_SERVER"; do
        ip -n "$ns" link set lo up
        # no router solicitations / DAD noise on the links
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
    done
    ip -n "$NS_CLIENT" addr add 192.0.2.2/24 dev eth0
    ip -n "$NS_CLIENT" addr add 2001:db8:1::2/64 dev eth0 nodad
    ip -n "$NS_ROUTER" addr add 192.0.2.1/24 dev c0
    ip -n "$NS_ROUTER" addr add 2001:db8:1::1/64 dev c0 nodad
    ip -n "$NS_ROUTER" addr add 198.51.100.1/24 dev s0
    ip -n "$NS_ROUTER" addr add 2001:db8:2::1/64 dev s0 nodad
    ip -n "$NS_SERVER" addr add 198.51.100.2/24 dev eth0
    ip -n "$NS_SERVER" addr add 2001:db8:2::2/64 dev eth0 nodad
    ip -n "$NS_CLIENT" link set eth0 up
    ip -n "$NS_SERVER" link set eth0 up
    ip -n "$NS_ROUTER" link set c0 up
    ip -n "$NS_ROUTER" link set s0 up
    # what tcpdump sees is what is on the wire: no TSO/GSO/GRO super-packets
    local pair
    for pair in "$NS_CLIENT:eth0" "$NS_SERVER:eth0" "$NS_ROUTER:c0" "$NS_ROUTER:s0"; do
        ip netns exec "${pair%%:*}" ethtool -K "${pair##*:}" tso off gso off gro off >/dev/null 2>&1 || true
    done
    ip -n "$NS_CLIENT" route add default via 192.0.2.1
    ip -n "$NS_CLIENT" -6 route add default via 2001:db8:1::1
    ip -n "$NS_SERVER" route add default via 198.51.100.1
    ip -n "$NS_SERVER" -6 route add default via 2001:db8:2::1
    ip netns exec "$NS_ROUTER" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
    # static neighbours: no ARP/ND exchange inside the captures
    ip -n "$NS_CLIENT" neigh replace 192.0.2.1 lladdr 02:00:00:00:01:01 dev eth0 nud permanent
    ip -n "$NS_CLIENT" neigh replace 2001:db8:1::1 lladdr 02:00:00:00:01:01 dev eth0 nud permanent
    ip -n "$NS_ROUTER" neigh replace 192.0.2.2 lladdr 02:00:00:00:01:02 dev c0 nud permanent
    ip -n "$NS_ROUTER" neigh replace 2001:db8:1::2 lladdr 02:00:00:00:01:02 dev c0 nud permanent
    ip -n "$NS_ROUTER" neigh replace 198.51.100.2 lladdr 02:00:00:00:02:02 dev s0 nud permanent
    ip -n "$NS_ROUTER" neigh replace 2001:db8:2::2 lladdr 02:00:00:00:02:02 dev s0 nud permanent
    ip -n "$NS_SERVER" neigh replace 198.51.100.1 lladdr 02:00:00:00:02:01 dev eth0 nud permanent
    ip -n "$NS_SERVER" neigh replace 2001:db8:2::1 lladdr 02:00:00:00:02:01 dev eth0 nud permanent
    # an empty impairment table in the router; scenarios add rules to it
    ip netns exec "$NS_ROUTER" nft -f - <<'EOF'
table inet impair {
    chain impfwd { type filter hook forward priority 0; policy accept; }
}
table ip impair4 {
    chain imppost { type filter hook postrouting priority 0; policy accept; }
}
EOF
}

# Internal entry points used by scenarios.py (one fresh topology per scenario).
case "${1:-}" in
    _up) topology_up; exit 0 ;;
    _down) topology_down; exit 0 ;;
esac

# No root needed: re-check the committed captures against their truth files.
if [ "${1:-}" = "--verify" ]; then
    exec python3 "$HERE/scenarios.py" --generator "$HERE/generate.sh" --verify
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "generate.sh: needs root (network namespaces, tcpdump, nftables)" >&2
    exit 1
fi
missing=()
for tool in ip nft tcpdump ethtool dumpcap ss python3; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ "${#missing[@]}" -ne 0 ]; then
    echo "generate.sh: missing tools: ${missing[*]}" >&2
    echo "  DEBIAN_FRONTEND=noninteractive apt-get install -y tcpdump nftables iproute2 ethtool tshark python3" >&2
    exit 1
fi

trap topology_down EXIT INT TERM
# /usr/bin/python3 on purpose: the system interpreter, no virtualenv needed (stdlib only)
PY=/usr/bin/python3
[ -x "$PY" ] || PY="$(command -v python3)"
"$PY" "$HERE/scenarios.py" --generator "$HERE/generate.sh" "$@"
