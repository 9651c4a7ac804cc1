#!/usr/bin/env bash
# A fuzz campaign over the three targets, one after another on one core:
#
#   conformance/fuzz/campaign.sh [RUNS] [SECONDS]     # defaults: 10000000 runs, 3600 s cap
#
# Each target runs until RUNS executions or SECONDS, whichever comes first. Corpora live in
# $FUZZ_WORK (default /tmp/teardown-fuzz), seeded for `ingest` with every capture under
# traces/ up to 1 MB. Crashes land in conformance/fuzz/artifacts/<target>/; each one found
# becomes a regression test (conformance/tests/fuzz_regressions.rs) before it is fixed.
#
# Built without a sanitizer (-s none): teardown has no `unsafe`, so AddressSanitizer would
# only slow the search (by 10x here); libFuzzer still catches panics, overflows (debug
# assertions are on), hangs (-timeout) and memory growth (-rss_limit_mb, -malloc_limit_mb).
set -euo pipefail
cd "$(dirname "$0")"
RUNS=${1:-10000000}
SECONDS_CAP=${2:-3600}
WORK=${FUZZ_WORK:-/tmp/teardown-fuzz}
mkdir -p "$WORK"/{ingest,connections,replay} "$WORK/seed-ingest"
find ../../traces -type f \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.cap' -o -name '*.gz' \) \
    -size -1M -exec cp -n {} "$WORK/seed-ingest/" \; 2>/dev/null || true
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O -a -s none
for target in ingest connections replay; do
    seeds=()
    [ "$target" = ingest ] && seeds=("$WORK/seed-ingest")
    echo "::: $target: up to $RUNS runs or $SECONDS_CAP s"
    cargo fuzz run -O -a -s none "$target" "$WORK/$target" "${seeds[@]}" -- \
        -runs="$RUNS" -max_total_time="$SECONDS_CAP" -max_len=65536 -timeout=10 \
        -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 2>&1 |
        grep -E '^(#[0-9]+ +DONE|Done|stat::|==[0-9]+==|.*panicked|SUMMARY|artifact_prefix|Test unit written)'
done
