#!/usr/bin/env bash
# bench/run.sh — teardown against the tools people would otherwise use, side by side, in
# one run on this machine, with medians of RUNS runs and the ratios:
#
#   bench/run.sh                 # everything (about 15 minutes on 2 cores)
#   RUNS=3 PARTS=model bench/run.sh
#
# PARTS: any of model spin ingest captures flood (default: all five).
#   model     teardown check per built-in stack at 1 and 2 threads: unique states, states/s,
#             exploration time, and time-to-verdict (wall, counterexamples included).
#   spin      bench/spin/run.sh: the Promela port checked by Spin at its best settings,
#             verdicts and state counts compared with teardown's (bench/spin/README.md).
#   ingest    ingestion alone (read, decode, connection tracking; no report), in process:
#             conformance/examples/ingest_bench.rs with --tshark, the ratio of the medians.
#   captures  the Linux benchmark capture (traces/linux/bench/bench.client.pcap; generated
#             with `sudo bash traces/linux/generate.sh bench` when missing — it needs root,
#             tcpdump, nftables, ethtool): ingestion and full replay against tshark, tcptrace,
#             tcpdump and cat, packets/s, MB/s, peak RSS, at two sizes (the first half and
#             all of it) and across two files with --jobs 1 and 2.
#   flood     a SYN flood of 100 k and of 1 M distinct 4-tuples (conformance/examples/flood.rs)
#             replayed under --max-connections 10000: time and peak RSS, and what memory each
#             further connection costs (the limit bounds the replays; the report is rendered
#             into a temporary file as connections settle).
# Every result line is also appended to bench/results.tsv (git-ignored) with the date.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUNS=${RUNS:-5}
PARTS=${PARTS:-model spin ingest captures flood}
T=target/release/teardown
CAP=traces/linux/bench/bench.client.pcap
WORK=$(mktemp -d "${TMPDIR:-/tmp}/teardown-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
OUT=bench/results.tsv
STAMP=$(date -u +%Y-%m-%dT%H:%M:%SZ)

has() { command -v "$1" >/dev/null 2>&1; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "nan"; exit} m=int((NR+1)/2); if (NR%2) print a[m]; else printf "%.4f\n", (a[m]+a[m+1])/2}'; }
record() { printf '%s\t%s\n' "$STAMP" "$*" >> "$OUT"; }

# Runs "$@" RUNS times; sets SECS (median wall seconds) and RSS_MB (median peak RSS).
measure() {
    local i secs=() rss=()
    local start end
    for ((i = 0; i < RUNS; i++)); do
        # Wall time to the nanosecond from the shell (/usr/bin/time's is to 10 ms, too
        # coarse for `cat`), peak RSS from /usr/bin/time.
        start=$(date +%s.%N)
        /usr/bin/time -f '%M' -o "$WORK/time" "$@" > /dev/null 2>"$WORK/stderr"
        end=$(date +%s.%N)
        secs+=("$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.4f", b - a}')")
        rss+=("$(tail -1 "$WORK/time")")
    done
    SECS=$(printf '%s\n' "${secs[@]}" | median)
    RSS_MB=$(printf '%s\n' "${rss[@]}" | median | awk '{printf "%.0f", $1/1024}')
}

echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg); RUNS=$RUNS"
[ -x /usr/bin/time ] || { echo "bench: /usr/bin/time is needed (Debian package time)" >&2; exit 2; }
cargo build --release --quiet -p teardown-conformance || exit 2

if [[ " $PARTS " == *" model "* ]]; then
    echo
    echo "== model checking: teardown check per built-in (median of $RUNS)"
    printf '%-28s %7s %10s %9s %9s %12s %9s %9s\n' stack threads unique explore_s wall_s states/s '2t/1t' verdicts
    for stack in $($T stack list | awk '{print $1}'); do
        declare -A explore=()
        for threads in 1 2; do
            secs=() walls=()
            for ((i = 0; i < RUNS; i++)); do
                start=$(date +%s.%N)
                $T check --stack "$stack" --threads "$threads" --format json > "$WORK/check.json"
                rc=$?
                end=$(date +%s.%N)
                walls+=("$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.4f", b - a}')")
                secs+=("$(sed -n 's/.*"elapsed_seconds": *\([0-9.eE+-]*\).*/\1/p' "$WORK/check.json" | head -1)")
            done
            unique=$(sed -n 's/.*"unique": *\([0-9]*\).*/\1/p' "$WORK/check.json" | head -1)
            e=$(printf '%s\n' "${secs[@]}" | median)
            w=$(printf '%s\n' "${walls[@]}" | median)
            explore[$threads]=$e
            speed=$(awk -v u="$unique" -v s="$e" 'BEGIN {printf "%.0f", u / s}')
            scale=""
            [ "$threads" = 2 ] && scale=$(awk -v a="${explore[1]}" -v b="$e" 'BEGIN {printf "%.2f", a / b}')
            verdicts=$([ "$rc" = 0 ] && echo "as expected" || echo "DIFFER (rc $rc)")
            printf '%-28s %7s %10s %9.3f %9.3f %12s %9s %9s\n' "$stack" "$threads" "$unique" "$e" "$w" "$speed" "$scale" "$verdicts"
            record "check	$stack	threads=$threads	unique=$unique	explore_s=$e	wall_s=$w	states_per_s=$speed	rc=$rc"
        done
        unset explore
    done
fi

if [[ " $PARTS " == *" spin "* ]]; then
    echo
    echo "== Spin on the Promela port (bench/spin/run.sh; median of $RUNS)"
    if has spin && has gcc; then
        RUNS=$RUNS SWEEP=0 FIRST=0 TEARDOWN=$T bash bench/spin/run.sh > "$WORK/spin.log" 2>&1
        rc=$?
        grep -E '^== |states stored|teardown --threads|pan elapsed|verdicts as expected|agree|DISAGREE|MISMATCH' "$WORK/spin.log" | sed 's/^/  /'
        [ "$rc" = 0 ] || { echo "  bench/spin/run.sh exited $rc; log:"; sed 's/^/    /' "$WORK/spin.log" | tail -20; }
        grep -E 'teardown/spin' "$WORK/spin.log" | while read -r l; do record "spin	$l"; done
    else
        echo "  SKIPPED: spin and gcc are needed (apt-get install spin gcc)"
    fi
fi

if [[ " $PARTS " == *" ingest "* || " $PARTS " == *" captures "* ]] && [ ! -f "$CAP" ]; then
    echo
    echo "== $CAP missing: generating it (sudo bash traces/linux/generate.sh bench)"
    sudo bash traces/linux/generate.sh bench > "$WORK/gen.log" 2>&1 || { echo "  SKIPPED ingest and captures: could not generate it:"; tail -5 "$WORK/gen.log" | sed 's/^/    /'; PARTS=${PARTS/ingest/}; PARTS=${PARTS/captures/}; }
fi

if [[ " $PARTS " == *" ingest "* ]]; then
    echo
    echo "== ingestion in process (conformance/examples/ingest_bench.rs, median of $RUNS)"
    cargo build --release --quiet -p teardown-conformance --example ingest_bench || exit 2
    tflag=""; has tshark && tflag=--tshark
    target/release/examples/ingest_bench "$CAP" --repeat "$RUNS" $tflag 2>&1 | grep -vE '^run [0-9]+:' | sed 's/^/  /' | tee "$WORK/ingest.log"
    while read -r l; do record "ingest	$l"; done < "$WORK/ingest.log"
fi

if [[ " $PARTS " == *" captures "* ]]; then
    echo
    echo "== captures, as the command line runs them (median of $RUNS; peak RSS median)"
    has tshark || echo "  note: tshark missing (apt-get install tshark): its rows are skipped"
    has tcptrace || echo "  note: tcptrace missing (apt-get install tcptrace): its rows are skipped"
    has tcpdump || echo "  note: tcpdump missing (apt-get install tcpdump): its rows and the two-size rows are skipped"
    total=$($T replay --connections --format json "$CAP" | grep -m1 '"packets"' | tr -dc '0-9')
    half="$WORK/half.pcap"
    rest="$WORK/rest.pcap"
    if has tcpdump; then
        tcpdump -r "$CAP" -c $((total / 2)) -w "$half" 2>/dev/null
        # The second half as a file of its own (editcap, from tshark's package): the
        # two-file --jobs rows replay both halves.
        editcap -r "$CAP" "$rest" "$((total / 2 + 1))-$total" 2>/dev/null || cp "$half" "$rest"
    fi
    printf '  %-44s %10s %9s %12s %8s %8s %10s\n' tool packets seconds packets/s MB/s RSS_MB vs_teardown
    declare -A pps=()
    row() { # name file packets bytes cmd...
        local name=$1 file=$2 pk=$3 by=$4; shift 4
        measure "$@"
        local p m
        p=$(awk -v n="$pk" -v s="$SECS" 'BEGIN {printf "%.0f", n / s}')
        m=$(awk -v n="$by" -v s="$SECS" 'BEGIN {printf "%.1f", n / s / 1e6}')
        pps[$name]=$p
        printf '  %-44s %10s %9.3f %12s %8s %8s %10s\n' "$name" "$pk" "$SECS" "$p" "$m" "$RSS_MB" "${RATIO:-}"
        record "capture	$name	packets=$pk	seconds=$SECS	pps=$p	MBps=$m	rss_mb=$RSS_MB"
    }
    bytes=$(stat -c %s "$CAP")
    RATIO="" row "cat > /dev/null (the I/O limit)" "$CAP" "$total" "$bytes" cat "$CAP"
    RATIO="" row "teardown replay --connections (ingestion)" "$CAP" "$total" "$bytes" $T replay --connections "$CAP"
    RATIO="" row "teardown replay (full replay, 1 file)" "$CAP" "$total" "$bytes" $T replay --format json "$CAP"
    ingest=${pps["teardown replay --connections (ingestion)"]}
    full=${pps["teardown replay (full replay, 1 file)"]}
    ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1fx", a / b}'; }
    if has tshark; then
        RATIO="" row "tshark -q -z conv,tcp" "$CAP" "$total" "$bytes" tshark -r "$CAP" -q -z conv,tcp
        t=${pps["tshark -q -z conv,tcp"]}
        echo "    replay --connections / tshark: $(ratio "$ingest" "$t") (process start and the report of 100 k connections included; ingestion alone is above); replay / tshark: $(ratio "$full" "$t") (target 20x)"
        record "ratio	ingest/tshark=$(ratio "$ingest" "$t")	replay/tshark=$(ratio "$full" "$t")"
    fi
    if has tcptrace; then
        RATIO="" row "tcptrace -n" "$CAP" "$total" "$bytes" tcptrace -n "$CAP"
        t=${pps["tcptrace -n"]}
        echo "    replay / tcptrace: $(ratio "$full" "$t") (target 3x)"
        record "ratio	replay/tcptrace=$(ratio "$full" "$t")"
    fi
    if has tcpdump; then
        RATIO="" row "tcpdump -nn -r > /dev/null" "$CAP" "$total" "$bytes" tcpdump -nn -r "$CAP"
        hp=$((total / 2)); hb=$(stat -c %s "$half")
        echo "  peak RSS as the capture grows (half, then all of it):"
        RATIO="" row "teardown replay --connections, first half" "$half" "$hp" "$hb" $T replay --connections "$half"
        RATIO="" row "teardown replay, first half" "$half" "$hp" "$hb" $T replay --format json "$half"
        echo "  two files (the two halves) across the cores:"
        rb=$(stat -c %s "$rest")
        RATIO="" row "teardown replay --jobs 1, two files" "$half" "$total" "$((hb + rb))" $T replay --jobs 1 --format json "$half" "$rest"
        RATIO="" row "teardown replay --jobs 2, two files" "$half" "$total" "$((hb + rb))" $T replay --jobs 2 --format json "$half" "$rest"
        j1=${pps["teardown replay --jobs 1, two files"]}; j2=${pps["teardown replay --jobs 2, two files"]}
        echo "    scaling 1 -> 2 jobs: $(ratio "$j2" "$j1")"
        record "ratio	jobs2/jobs1=$(ratio "$j2" "$j1")"
    fi
fi
if [[ " $PARTS " == *" flood "* ]]; then
    echo
    echo "== SYN flood: teardown replay --max-connections 10000 (median of $RUNS; peak RSS median)"
    cargo build --release --quiet -p teardown-conformance --example flood || exit 2
    declare -A flood_rss
    for n in 100000 1000000; do
        target/release/examples/flood "$n" "$WORK/flood-$n.pcap" || exit 2
        measure $T replay --max-connections 10000 "$WORK/flood-$n.pcap"
        flood_rss[$n]=$RSS_MB
        printf '  %8d SYNs, %8d 4-tuples: %8.2f s, peak RSS %5d MB\n' "$n" "$n" "$SECS" "$RSS_MB"
        record "flood	syns=$n	secs=$SECS	rss_mb=$RSS_MB"
        rm -f "$WORK/flood-$n.pcap"
    done
    per=$(awk -v a="${flood_rss[100000]}" -v b="${flood_rss[1000000]}" 'BEGIN {printf "%.0f", (b - a) * 1048576 / 900000}')
    echo "    each further connection: about $per bytes (the 4-tuple table and the report's index)"
    record "flood	bytes_per_connection=$per"
fi
echo
echo "results appended to $OUT"
