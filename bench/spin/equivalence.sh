#!/usr/bin/env bash
# bench/spin/equivalence.sh — show that teardown.pml and teardown's checker explore the
# same graph: the set of reachable states Spin prints (spin -DDUMP, pan -DPRINTF) equals the
# set `teardown graph --format json` enumerates (full states, no fingerprints), state for
# state, for rfc9293+rfc1337, short-time-wait and (as a third check) rfc9293.
#
#   TEARDOWN=target/release/teardown bench/spin/equivalence.sh
#
# Needs python3; streams about 1 GB of JSON per stack. Exit status 0 when every set is equal.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
teardown=${TEARDOWN:?set TEARDOWN to a release teardown binary}
work=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/teardown-spin-eq.XXXXXX")}
status=0
#     STACK name             losses dups delays
for row in "1 rfc9293+rfc1337 1 1 1" "2 short-time-wait 1 0 2" "3 rfc9293 1 1 1"; do
    read -r n name l d y <<<"$row"
    dir="$work/eq$n"; mkdir -p "$dir"
    "$teardown" graph --stack "$name" --losses "$l" --dups "$d" --delays "$y" --format json \
        | python3 "$here/check_states.py" rust - >"$dir/rust.set"
    (cd "$dir" && spin -o2 -DSTACK="$n" -DDUMP -a "$here/teardown.pml" >spin.log \
        && gcc -O2 -DSAFETY -DPRINTF -o pan pan.c)
    (cd "$dir" && ./pan -m1000 -w22 -c0) | python3 "$here/check_states.py" spin - "$l" "$d" "$y" >"$dir/spin.set"
    only_rust=$(comm -23 "$dir/rust.set" "$dir/spin.set" | wc -l)
    only_spin=$(comm -13 "$dir/rust.set" "$dir/spin.set" | wc -l)
    printf '%-16s teardown %7d states, spin %7d states: %d only in teardown, %d only in spin\n' \
        "$name" "$(wc -l <"$dir/rust.set")" "$(wc -l <"$dir/spin.set")" "$only_rust" "$only_spin"
    [ "$only_rust" = 0 ] && [ "$only_spin" = 0 ] || status=1
done
exit $status
