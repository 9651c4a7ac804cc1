#!/usr/bin/env bash
# bench/spin/run.sh — check teardown.pml (the Promela port of teardown's checked system)
# with Spin for rfc9293+rfc1337 and short-time-wait, and print per stack: the verdict per
# property, states stored, transitions, pan's elapsed time (median of RUNS), memory.
#
#   bench/spin/run.sh                       # Spin only
#   TEARDOWN=target/release/teardown bench/spin/run.sh   # also teardown, side by side
#
# Environment: RUNS (default 5) runs per timing; SWEEP=0 skips the table of pan settings;
# FIRST=0 skips the per-property time-to-first-counterexample runs; WORK=DIR keeps the build
# there (default: a fresh temporary directory); SPIN, CC name the tools.
#
# Exit status: 0 when every Spin verdict is the expected one (and agrees with teardown's
# when TEARDOWN is given), 1 when a verdict differs, 2 when spin, gcc or pan fail.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
model="$here/teardown.pml"
runs=${RUNS:-5}
sweep=${SWEEP:-1}
first=${FIRST:-1}
spin=${SPIN:-spin}
cc=${CC:-gcc}
teardown=${TEARDOWN:-}
work=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/teardown-spin.XXXXXX")}
mkdir -p "$work"

# The headline settings (the fastest exact ones in the sweep; README.md explains):
#   spin -o2: keep write-only variables in the state vector. Spin's default hides them, and
#     here that would drop the ghost `witness` (read only by the `sometimes` properties,
#     which teardown checks in the same run and this port does not) — a different graph.
#   -DSAFETY: safety only; -DNOCOMP: store the state vector as is (exact, faster than the
#     default byte-mask compression for this 76-byte vector); partial-order reduction stays
#     on (the default; it cannot reduce anything in a one-process model).
#   -m1000: the search is at most 50 deep; -w22: 4M hash slots for 0.4M states.
#   -c0: do not stop at the first violation: one exhaustive pass judges all five properties,
#     as teardown's one exhaustive pass does.
SPIN_OPTS="-o2"
BEST_CFLAGS="-O2 -DSAFETY -DNOCOMP"
PAN_OPTS="-m1000 -w22"

die() { echo "run.sh: $*" >&2; exit 2; }
command -v "$spin" >/dev/null 2>&1 || die "spin not found (Debian package spin)"
command -v "$cc" >/dev/null 2>&1 || die "$cc not found"
[ -f "$model" ] || die "$model not found"
have_time=0; [ -x /usr/bin/time ] && have_time=1

names=("" "rfc9293+rfc1337" "short-time-wait")
bounds=("" "losses 1, dups 1, delays 1, incarnations 2, data 1; MSL 2 ticks, TIME-WAIT 4, RTO 1"
           "losses 1, dups 0, delays 2, incarnations 2, data 1; MSL 2 ticks, TIME-WAIT 2, RTO 1")
props=("final ACK is always recovered"
       "old segment never accepted by a new incarnation"
       "old segment never delivered to a new incarnation"
       "graceful close delivers all data written before close"
       "no endless exchange of ACKs (RFC 1337 H2)"
       "both endpoints reach CLOSED")
# how pan prints each property's assertion (teardown.pml P1..P5)
asserts=("flags&32" "flags&4)" "flags&8)" "flags&16)" "ackx<")
# builtins.rs expected verdicts (H holds, V violated), the five `always` then `eventually`
expect=("" "HHHHHH" "VVVVVV")

# build DIR STACK "SPIN-FLAGS" "CFLAGS": spin -a, then gcc, in $work/DIR
build() {
    local dir="$work/$1"
    mkdir -p "$dir"
    local t0 t1
    t0=$(date +%s.%N)
    (cd "$dir" && "$spin" $3 -DSTACK="$2" -a "$model" >spin.log 2>&1) \
        || { cat "$dir/spin.log" >&2; die "spin -a failed ($1)"; }
    grep -q "Error" "$dir/spin.log" && { cat "$dir/spin.log" >&2; die "spin -a reported an error ($1)"; }
    [ -s "$dir/pan.c" ] || die "spin -a wrote no pan.c ($1)"
    (cd "$dir" && "$cc" $4 -o pan pan.c >gcc.log 2>&1) \
        || { cat "$dir/gcc.log" >&2; die "$cc failed ($1)"; }
    t1=$(date +%s.%N)
    echo "$t0 $t1" | awk '{printf "%.1f", $2 - $1}' >"$dir/build_seconds"
}

# run DIR PAN-ARGS...: run pan once, output in DIR/out, peak RSS (KB) in DIR/rss
run() {
    local dir="$work/$1"; shift
    if [ "$have_time" = 1 ]; then
        (cd "$dir" && /usr/bin/time -f "%M" -o rss ./pan "$@" >out 2>&1) || true
    else
        (cd "$dir" && ./pan "$@" >out 2>&1) || true
        echo 0 >"$dir/rss"
    fi
    grep -q "states, stored" "$dir/out" || { cat "$dir/out" >&2; die "pan failed ($dir)"; }
    if grep -q "max search depth too small" "$dir/out"; then die "pan: -m too small ($dir)"; fi
}

field() { # FILE WHAT
    case $2 in
    stored) awk '/states, stored/ {print $1; exit}' "$1" ;;
    transitions) awk '/transitions \(=/ {print $1; exit}' "$1" ;;
    elapsed) awk '/pan: elapsed time/ {print $4; exit}' "$1" ;;
    errors) sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$1" | head -1 ;;
    depth) sed -n 's/.*depth reached \([0-9]*\),.*/\1/p' "$1" | head -1 ;;
    vector) sed -n 's/^State-vector \([0-9]*\) byte.*/\1/p' "$1" | head -1 ;;
    memory) awk '/total actual memory usage/ {print $1; exit} /memory usage \(Mbyte\)/ {print $1; exit}' "$1" ;;
    esac
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

# time_runs DIR PAN-ARGS...: RUNS runs; prints "median list" of pan's elapsed seconds
time_runs() {
    local dir=$1; shift
    local ts=() i
    for ((i = 0; i < runs; i++)); do
        run "$dir" "$@"
        ts+=("$(field "$work/$dir/out" elapsed)")
    done
    echo "$(median "${ts[@]}") ${ts[*]}"
}

status=0
spin_verdict=() spin_time=() ref_stored=()

for s in 1 2; do
    name=${names[$s]}
    echo "== $name (teardown.pml -DSTACK=$s): ${bounds[$s]}"

    # 1. one exhaustive pass, all five safety properties (-c0: do not stop at a violation)
    build "s$s" "$s" "$SPIN_OPTS" "$BEST_CFLAGS"
    res=$(time_runs "s$s" $PAN_OPTS -c0)
    read -r med all <<<"$res"
    out="$work/s$s/out"
    stored=$(field "$out" stored)
    echo "   settings: spin $SPIN_OPTS -a; $cc $BEST_CFLAGS; pan $PAN_OPTS -c0  (spin+gcc $(cat "$work/s$s/build_seconds") s)"
    printf '   states stored %s, transitions %s, depth %s, state vector %s bytes, memory %s MB (pan), peak RSS %s MB\n' \
        "$stored" "$(field "$out" transitions)" "$(field "$out" depth)" "$(field "$out" vector)" \
        "$(field "$out" memory)" "$(awk '{printf "%.1f", $1 / 1024}' "$work/s$s/rss")"
    echo "   time to verdict (one exhaustive pass, all five properties): pan elapsed median $med s  [runs:$all]"
    spin_time[$s]=$med
    ref_stored[$s]=$stored

    # 2. liveness: the eventually property as an LTL claim (pan -a, no -DSAFETY)
    build "s$s-live" "$s" "$SPIN_OPTS -DPROPS=0 -DLIVENESS" "-O2"
    run "s$s-live" $PAN_OPTS -a
    live_out="$work/s$s-live/out"
    live_err=$(field "$live_out" errors)
    live_el=$(field "$live_out" elapsed)

    # 3. per property: time to the first counterexample (-c1), one pan per property
    verdicts=""
    violated=$(grep "assertion violated" "$out" | sort -u || true)
    for i in 0 1 2 3 4; do
        if [[ $violated == *"${asserts[$i]}"* ]]; then
            v=V
        else
            v=H
        fi
        verdicts+=$v
        extra=""
        if [ "$first" = 1 ] && [ "$v" = V ]; then
            build "s$s-p$i" "$s" "$SPIN_OPTS -DPROPS=$((1 << i))" "$BEST_CFLAGS"
            res=$(time_runs "s$s-p$i" $PAN_OPTS -c1)
            read -r fmed _ <<<"$res"
            [ "$fmed" = 0 ] && fmed="<0.01"
            extra="  first counterexample: median $fmed s at depth $(sed -n 's/.*(at depth \([0-9]*\)).*/\1/p' "$work/s$s-p$i/out" | head -1)"
        fi
        printf '   %-56s %s%s\n' "${props[$i]}" "$([ $v = H ] && echo holds || echo VIOLATED)" "$extra"
    done
    if [ "$live_err" = 0 ]; then verdicts+=H; lv=holds; else verdicts+=V; lv=VIOLATED; fi
    printf '   %-56s %s  (LTL <>, pan -a: %s states stored, %s s)\n' "${props[5]}" "$lv" \
        "$(field "$live_out" stored)" "$live_el"
    # any other assertion (network capacity) is a failure of the port, not a verdict
    other=$(printf '%s\n' "$violated" | grep -vF -e "${asserts[0]}" -e "${asserts[1]}" \
        -e "${asserts[2]}" -e "${asserts[3]}" -e "${asserts[4]}" | grep . || true)
    if [ -n "$other" ]; then
        printf '%s\n' "$other" | head -3 >&2
        die "a capacity assertion of teardown.pml failed: raise NCAP/LMAX"
    fi
    spin_verdict[$s]=$verdicts
    if [ "$verdicts" = "${expect[$s]}" ]; then
        echo "   verdicts as expected by builtins.rs (${expect[$s]})"
    else
        echo "   VERDICTS DIFFER from builtins.rs: spin $verdicts, expected ${expect[$s]}"
        status=1
    fi

    # 4. teardown itself, side by side
    if [ -n "$teardown" ]; then
        command -v python3 >/dev/null 2>&1 || die "python3 is needed to read teardown's JSON"
        for th in 1 2; do
            ts=()
            for ((r = 0; r < runs; r++)); do
                "$teardown" check --stack "$name" --threads "$th" --format json >"$work/td$s-$th.json" || true
                ts+=("$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["elapsed_seconds"])' "$work/td$s-$th.json")")
            done
            tmed=$(median "${ts[@]}")
            res=$(python3 - "$work/td$s-$th.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))[0]
order = ["final ACK is always recovered", "old segment never accepted by a new incarnation",
         "old segment never delivered to a new incarnation",
         "graceful close delivers all data written before close",
         "no endless exchange of ACKs (RFC 1337 H2)", "both endpoints reach CLOSED"]
by = {v["name"]: v["outcome"] for v in r["verdicts"]}
print(r["unique"], r["generated"], "".join("H" if by[n] == "Holds" else "V" for n in order))
EOF
            )
            read -r tu tg tv <<<"$res"
            printf '   teardown --threads %s: unique %s, generated %s, verdicts %s, elapsed median %.3f s -> teardown/spin %.2f\n' \
                "$th" "$tu" "$tg" "$tv" "$tmed" "$(echo "$tmed ${spin_time[$s]}" | awk '{print $1 / $2}')"
            if [ "$tv" != "$verdicts" ]; then
                echo "   VERDICTS DIFFER: teardown $tv, spin $verdicts"
                status=1
            fi
            if [ "$tu" != "$stored" ]; then
                echo "   note: unique-state counts differ (teardown $tu, spin $stored)"
            fi
        done
    fi
    echo
done

# 5. the settings sweep: which pan settings are fastest, and which are exact
if [ "$sweep" = 1 ]; then
    echo "== pan settings (pan elapsed, median of $runs; 'exact' = stores every state of the graph)"
    variants=(
        "-o2|-O2 -DSAFETY"
        "-o2|-O2 -DSAFETY -DNOCOMP"
        "-o2|-O2 -DSAFETY -DCOLLAPSE"
        "-o2|-O2 -DSAFETY -DHC4"
        "-o2|-O2 -DSAFETY -DNOCOMP -DNOBOUNDCHECK"
        "-o2|-O3 -DSAFETY -DNOCOMP"
        "-o2|-O2 -DSAFETY -DNOCOMP -DNOREDUCE"
        "|-O2 -DSAFETY -DNOCOMP"
    )
    printf '   %-16s %-48s %8s %9s %9s %7s  %s\n' stack "spin | gcc" stored "elapsed s" "memory MB" "RSS MB" ""
    for s in 1 2; do
        n=0
        for v in "${variants[@]}"; do
            n=$((n + 1))
            so=${v%%|*}; cf=${v#*|}
            build "sw$s-$n" "$s" "$so" "$cf"
            res=$(time_runs "sw$s-$n" $PAN_OPTS -c0)
            read -r med _ <<<"$res"
            o="$work/sw$s-$n/out"
            st=$(field "$o" stored)
            note=exact
            [ "$st" = "${ref_stored[$s]}" ] || note="NOT exact ($((ref_stored[s] - st)) states fewer)"
            [ -z "$so" ] && [ "$st" != "${ref_stored[$s]}" ] && note="other graph: write-only witness, ts_clock hidden"
            printf '   %-16s %-48s %8s %9s %9s %7s  %s\n' "${names[$s]}" "spin ${so:--} | $cf" "$st" "$med" \
                "$(field "$o" memory)" "$(awk '{printf "%.1f", $1 / 1024}' "$work/sw$s-$n/rss")" "$note"
        done
    done
    echo
fi

echo "build and outputs in $work"
exit $status
