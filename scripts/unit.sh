#!/usr/bin/env bash
# Runs the unit tests (go test -race over the packages given) and, if they
# fail, ends with a summary: the first line of every message the failing
# tests logged, then the FAIL lines. CI keeps only the tail of the output,
# where a failed ensemble test's node logs would otherwise bury the error
# that failed it.
set -uo pipefail
GO=${GO:-go}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

"$GO" test -race -count=1 -timeout 25m "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
if ((rc != 0)); then
	echo
	echo "=== failure summary (go test exited $rc): messages of the failing tests, first lines, last 60 ==="
	# go test prints a test's output only when it fails; each t.Log/t.Error
	# message starts with an indented "file.go:line: ". Node logs a test
	# dumps are indented further and start with a time, so they stay out.
	grep -E '^( {4})+[A-Za-z0-9_.-]+\.go:[0-9]+: |^WARNING: DATA RACE|^panic: ' "$log" | cut -c1-400 | tail -n 60
	echo "=== failing tests and packages ==="
	grep -E '^\s*--- FAIL|^FAIL' "$log"
fi
exit "$rc"
