#!/bin/sh
# A walk of the default heap whose callback calls printf for the first
# time in the program (stdio then allocates stdout's buffer from inside
# the callback) and malloc/free, with libmm as malloc: linked with the
# drop-in and under LD_PRELOAD (tests/dropin/walk_stdio.c).  It must
# finish (a deadlock dies of SIGALRM or the time limit) and print one line
# per block reported, then the summary.
set -eu
. "$srcdir/tests/dropin/common.sh"
require_dropin
require_prog walk_stdio
require_prog walk_stdio_linked

limit=30
for way in linked LD_PRELOAD; do
	status=0
	if test $way = linked; then
		bounded "$tdir/walk_stdio_linked" >"$scratch/out" 2>"$scratch/err" || status=$?
	else
		preload "$tdir/walk_stdio" >"$scratch/out" 2>"$scratch/err" || status=$?
	fi
	if test "$status" -ne 0; then
		fail "walk_stdio ($way): status $status (142, 124 or 137: deadlock)"
		sed 's/^/  | /' "$scratch/err"
		continue
	fi
	summary=$(tail -n 1 "$scratch/out")
	n=$(printf '%s\n' "$summary" |
		sed -n 's/^walk-stdio: \([0-9]*\) blocks reported, 40 of 40 live blocks once$/\1/p')
	lines=$(grep -c '^block 0x[0-9a-f]* [0-9]* [01]$' "$scratch/out" || :)
	total=$(wc -l <"$scratch/out")
	if test -z "$n"; then
		fail "walk_stdio ($way): summary line wrong: $summary"
	elif test "$lines" -ne "$n" || test "$total" -ne $((n + 1)); then
		fail "walk_stdio ($way): $n blocks reported, but $lines block lines of $total"
	elif test "$(head -n 1 "$scratch/out" | cut -c1-6)" != "block "; then
		fail "walk_stdio ($way): the first line is not a block line"
	elif test -s "$scratch/err"; then
		fail "walk_stdio ($way): something on standard error:"
		sed 's/^/  | /' "$scratch/err"
	else
		pass "walk_stdio ($way): $summary"
	fi
done
finish
