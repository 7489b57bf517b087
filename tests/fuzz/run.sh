#!/bin/sh
# Runs tests/fuzz/mm_fuzz for FUZZ_TIME seconds on each heap kind named on
# the command line, FUZZ_JOBS kinds at a time, and reports each run.  A
# kind is default, good, first, best, nolock or pool, run in the library's
# default mode (LIBMM_SECURE=0), or one of them after secure- (secure-good),
# run in its secure mode (LIBMM_SECURE=1: the library reads it when it
# starts, so it is set here, not by the fuzzer).  Used
# by make fuzz and make fuzz-smoke (tests/fuzz/fuzz.am), which set:
#
#   FUZZER      the fuzzer program
#   SEEDS       the checked-in seed corpus (tests/fuzz/corpus)
#   WORK        where each kind keeps its corpus, log and findings:
#               WORK/<kind>/corpus, WORK/<kind>/log, WORK/<kind>/crash-*
#   FUZZ_TIME   seconds per kind
#   FUZZ_JOBS   kinds run at once
#   FUZZ_ARGS   more libFuzzer options, if any
#
# Each kind starts from the seeds plus what earlier runs in WORK found
# (make clean forgets those); findings of earlier runs move to
# WORK/<kind>/earlier/.  Exits 1 if any run found something: the saved
# input is named with the command that replays it.
set -u

: "${FUZZER:?}" "${SEEDS:?}" "${WORK:?}" "${FUZZ_TIME:=300}" "${FUZZ_JOBS:=2}" "${FUZZ_ARGS:=}"
if test $# -eq 0; then
	set -- default good first best nolock pool \
		secure-default secure-good secure-first secure-best secure-nolock secure-pool
fi
# libFuzzer takes -max_total_time=0 for "no limit".
case $FUZZ_TIME$FUZZ_JOBS in
*[!0-9]*) echo "fuzz: FUZZ_TIME and FUZZ_JOBS must be numbers" >&2; exit 2 ;;
esac
if test "$FUZZ_TIME" -lt 1 || test "$FUZZ_JOBS" -lt 1; then
	echo "fuzz: FUZZ_TIME and FUZZ_JOBS must be at least 1" >&2
	exit 2
fi

# LIBMM_SECURE for a kind: 1 for secure-*, else 0 (the default mode, even
# in a build configured with --enable-secure).
secure_of() {
	case $1 in
	secure-*) echo 1 ;;
	*) echo 0 ;;
	esac
}

run_kind() {
	kind=$1
	dir=$WORK/$kind
	mkdir -p "$dir/corpus" || return 1
	cp "$SEEDS"/* "$dir/corpus/" 2>/dev/null
	chmod -R u+w "$dir/corpus"
	rm -f "$dir/status"
	for f in "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-*; do
		test -f "$f" || continue
		mkdir -p "$dir/earlier" && mv "$f" "$dir/earlier/"
	done
	# -timeout: an input that runs a minute is a hang; the memory limit
	# leaves room for two fuzzers on a small machine.
	# shellcheck disable=SC2086 # FUZZ_ARGS is a list of options
	LIBMM_SECURE=$(secure_of "$kind") MM_FUZZ_KIND=$kind "$FUZZER" -max_total_time="$FUZZ_TIME" -timeout=60 \
		-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$dir/" \
		$FUZZ_ARGS "$dir/corpus" >"$dir/log" 2>&1
	echo $? >"$dir/status"
}

report_kind() {
	kind=$1
	dir=$WORK/$kind
	status=$(cat "$dir/status" 2>/dev/null || echo 127)
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log")
	cov=$(sed -n 's/.*\(cov: [0-9]*\) \(ft: [0-9]*\) \(corp: [^ ]*\).*/\1 \2 \3/p' "$dir/log" | tail -n 1)
	if test "$status" = 0; then
		printf 'PASS: fuzz %-14s %s runs, %s exec/s, %s\n' "$kind" "${runs:-?}" "${rate:-?}" "$cov"
		return 0
	fi
	printf 'FAIL: fuzz %-14s exit status %s after %s runs\n' "$kind" "$status" "${runs:-?}"
	grep -E '^mm_fuzz: |^libmm: |^SUMMARY: |ERROR: ' "$dir/log" | sed 's/^/  | /'
	for f in "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-*; do
		test -f "$f" || continue
		echo "  saved input: $f"
		echo "  replay it:   LIBMM_SECURE=$(secure_of "$kind") MM_FUZZ_KIND=$kind MM_FUZZ_TRACE=1 $FUZZER $f"
	done
	echo "  full log:    $dir/log"
	return 1
}

echo "fuzz: $FUZZER, $FUZZ_TIME s per heap kind, $FUZZ_JOBS at a time: $*"
start=$(date +%s)
pending=$*
while test -n "$pending"; do
	batch=
	n=0
	for kind in $pending; do
		test "$n" -lt "$FUZZ_JOBS" || break
		batch="$batch $kind"
		n=$((n + 1))
	done
	rest=
	n=0
	for kind in $pending; do
		n=$((n + 1))
		test "$n" -le "$FUZZ_JOBS" || rest="$rest $kind"
	done
	pending=$rest
	for kind in $batch; do
		run_kind "$kind" &
	done
	wait
done

failed=0
for kind in "$@"; do
	report_kind "$kind" || failed=$((failed + 1))
done
echo "fuzz: $# run(s) in $(($(date +%s) - start)) s, $failed failed"
test "$failed" -eq 0
