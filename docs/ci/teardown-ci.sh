#!/usr/bin/env bash
# The CI job of docs/ci.md, runnable on your machine:
#
#   docs/ci/teardown-ci.sh STACK_FILE CAPTURES_DIR REPORTS_DIR
#
# Checks the stack description, replays the captures against it, and leaves the reports
# (JUnit XML, the resolved description, ladder diagrams of what was not plainly
# conforming) in REPORTS_DIR. Exits non-zero when a verdict differs from the stack file's
# [expect], when a capture shows a violation, or when an input is unreadable.
# TEARDOWN names the binary (default: `teardown` on PATH).
# conformance/tests/ci_job.rs runs this script and checks docs/ci.md runs the same commands.
set -uo pipefail
TEARDOWN=${TEARDOWN:-teardown}
STACK=$1
CAPTURES=$2
REPORTS=$3
mkdir -p "$REPORTS"
status=0
# --- the job's commands (docs/ci.md repeats them verbatim) ---
"$TEARDOWN" stack show "$STACK" > "$REPORTS/stack.toml" || exit 2
"$TEARDOWN" check --stack "$STACK" --format junit > "$REPORTS/check.xml" || status=1
"$TEARDOWN" replay --stack "$STACK" --format junit --diagram "$REPORTS/diagrams" "$CAPTURES" > "$REPORTS/replay.xml" || status=1
# --- end ---
exit $status
