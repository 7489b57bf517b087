#!/bin/sh
# Misuse under the drop-in ends the process with abort() after exactly one
# line on standard error, "libmm: fatal: <fault> 0x<address>", naming the
# address the program passed (tests/dropin/misuse.c prints the lines it
# may get before it misbehaves).  Each misuse runs linked with the drop-in
# and under LD_PRELOAD; "ok-free", the same calls used correctly, must exit
# 0 and say nothing.
set -eu
. "$srcdir/tests/dropin/common.sh"
require_dropin
require_prog misuse
require_prog misuse_linked

actions="free-one free-stack free-global double-free double-free-large
double-free-aligned free-middle free-misaligned realloc-one realloc-freed
usable-size-stack"
limit=20

# check WAY STATUS ACTION: the outcome in $scratch/out and $scratch/err.
check() {
	way=$1 status=$2 action=$3
	if test "$status" -ne 134; then
		fail "$action ($way): status $status, not 134 (SIGABRT)"
	elif test "$(wc -l <"$scratch/err")" -ne 1; then
		fail "$action ($way): not exactly one line on standard error"
	elif ! grep -qxF -f "$scratch/err" "$scratch/out"; then
		fail "$action ($way): unexpected message"
	else
		pass "$action ($way): $(cat "$scratch/err")"
		return 0
	fi
	echo "  expected one of:"; sed 's/^/  | /' "$scratch/out"
	echo "  standard error:"; sed 's/^/  | /' "$scratch/err"
}

for action in $actions; do
	status=0
	err_to "$scratch/err" "$tdir/misuse_linked" "$action" >"$scratch/out" || status=$?
	check linked "$status" "$action"
	status=0
	err_to "$scratch/err" env LD_PRELOAD="$DROPIN" "$tdir/misuse" "$action" \
		>"$scratch/out" || status=$?
	check LD_PRELOAD "$status" "$action"
done

for way in linked LD_PRELOAD; do
	status=0
	if test $way = linked; then
		bounded "$tdir/misuse_linked" ok-free >"$scratch/out" 2>"$scratch/err" || status=$?
	else
		preload "$tdir/misuse" ok-free >"$scratch/out" 2>"$scratch/err" || status=$?
	fi
	if test "$status" -eq 0 && ! test -s "$scratch/err"; then
		pass "ok-free ($way): correct use, no message"
	else
		fail "ok-free ($way): status $status, standard error:"
		sed 's/^/  | /' "$scratch/err"
	fi
done
finish
