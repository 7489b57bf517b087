#!/bin/sh
# The fourteen classic heap misuses (tests/dropin/cases.c), each run linked
# with the drop-in and under LD_PRELOAD, in the default mode (LIBMM_SECURE=0)
# and in the secure mode (LIBMM_SECURE=1, and =zero: freed memory zeroed).  A case libmm catches must end
# the process by SIGABRT after exactly the line the program announced on
# standard output, "libmm: fatal: <fault> 0x<address>".  The secure mode
# catches all fourteen.  The default mode catches twelve: a 1-byte
# overflow that stays within the block's usable size and a use-after-free
# write of the data are left to the secure mode, so by default those two
# must run to the end unnoticed (status 3, nothing on standard error):
# when that changes, this test says so.
set -eu
. "$srcdir/tests/dropin/common.sh"
require_dropin
require_prog cases
require_prog cases_linked

caught="double-free-small double-free-small-delayed double-free-medium
double-free-large free-interior-small free-interior-large free-stack
free-wild realloc-freed overflow-usable overflow-metadata
uaf-write-metadata"
secure_only="overflow-requested uaf-write-data"
limit=20

# check WAY STATUS CASE: a caught case's outcome in $scratch/out, err.
check() {
	way=$1 status=$2 case=$3
	if test "$status" -ne 134; then
		fail "$case ($way): status $status, not 134 (SIGABRT)"
	elif test "$(wc -l <"$scratch/err")" -ne 1; then
		fail "$case ($way): not exactly one line on standard error"
	elif ! grep -qxF -f "$scratch/err" "$scratch/out"; then
		fail "$case ($way): unexpected message"
	else
		pass "$case ($way): $(cat "$scratch/err")"
		return 0
	fi
	echo "  expected:"; sed 's/^/  | /' "$scratch/out"
	echo "  standard error:"; sed 's/^/  | /' "$scratch/err"
}

# not_caught WAY STATUS CASE
not_caught() {
	way=$1 status=$2 case=$3
	if test "$status" -eq 3 && ! test -s "$scratch/err"; then
		pass "$case ($way): not caught in the default mode (secure mode only)"
	else
		fail "$case ($way): status $status, standard error:"
		sed 's/^/  | /' "$scratch/err"
	fi
}

for secure in 0 1 zero; do
	for case in $caught $secure_only; do
		verdict=check
		case "$secure: $secure_only " in 0:*" $case "*) verdict=not_caught ;; esac
		status=0
		err_to "$scratch/err" env LIBMM_SECURE=$secure "$tdir/cases_linked" "$case" \
			>"$scratch/out" || status=$?
		$verdict "linked, secure=$secure" "$status" "$case"
		status=0
		err_to "$scratch/err" env LIBMM_SECURE=$secure LD_PRELOAD="$DROPIN" \
			"$tdir/cases" "$case" >"$scratch/out" || status=$?
		$verdict "LD_PRELOAD, secure=$secure" "$status" "$case"
	done
done
finish
