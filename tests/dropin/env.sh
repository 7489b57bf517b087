#!/bin/sh
# The drop-in's environment variables, linked and under LD_PRELOAD:
#   LIBMM_STATS=1    one "libmm stats: ..." line on standard error at exit,
#                    counting the program's allocations; none when unset
#                    or 0;
#   LIBMM_VERBOSE=1  the options line "libmm <version>: default heap ..."
#                    first on standard error; none when unset;
#   LIBMM_SOURCE     mmap or brk: the default heap's source, as the
#                    options line reports it (the program break by default
#                    in the drop-in).
set -eu
. "$srcdir/tests/dropin/common.sh"
require_dropin
require_prog first_call
require_prog first_call_linked
limit=20
# whatever the caller of make check has set
clean="-u LIBMM_STATS -u LIBMM_VERBOSE -u LIBMM_SOURCE"

# run WAY [VAR=VALUE...]: first_call malloc with those variables; standard
# error in $scratch/err.
run() {
	way=$1
	shift
	if test "$way" = linked; then
		bounded env $clean "$@" "$tdir/first_call_linked" malloc >/dev/null 2>"$scratch/err"
	else
		preload env $clean "$@" "$tdir/first_call" malloc >/dev/null 2>"$scratch/err"
	fi
}

show() {
	sed 's/^/  | /' "$scratch/err"
}

for way in linked LD_PRELOAD; do
	if run $way LIBMM_STATS=1 &&
	    test "$(grep -c '^libmm stats: ' "$scratch/err")" -eq 1 &&
	    grep -q '^libmm stats: from the OS [1-9][0-9]* bytes.*; allocations [1-9][0-9]*, frees [0-9]*$' "$scratch/err"; then
		pass "LIBMM_STATS=1 ($way): $(cut -c1-60 "$scratch/err")..."
	else
		fail "LIBMM_STATS=1 ($way): no single libmm stats line:"; show
	fi
	for v in 0 ''; do
		if run $way LIBMM_STATS=$v && ! grep -q 'libmm stats' "$scratch/err"; then
			pass "LIBMM_STATS='$v' ($way): no statistics"
		else
			fail "LIBMM_STATS='$v' ($way): statistics printed or failure:"; show
		fi
	done

	if run $way LIBMM_VERBOSE=1 &&
	    head -n 1 "$scratch/err" | grep -q '^libmm [0-9][0-9.]*: default heap [a-z ]*fit, program break, mmap threshold [0-9]*, trim threshold [0-9]*, decay ms 250$'; then
		pass "LIBMM_VERBOSE=1 ($way): $(head -n 1 "$scratch/err")"
	else
		fail "LIBMM_VERBOSE=1 ($way): no options line first:"; show
	fi
	if run $way LIBMM_VERBOSE=1 LIBMM_DECAY_MS=40 &&
	    head -n 1 "$scratch/err" | grep -q ', decay ms 40$'; then
		pass "LIBMM_DECAY_MS=40 ($way): decay ms 40"
	else
		fail "LIBMM_DECAY_MS=40 ($way):"; show
	fi
	if run $way LIBMM_VERBOSE=1 LIBMM_DECAY_MS=junk &&
	    head -n 1 "$scratch/err" | grep -q ', decay ms 250$'; then
		pass "LIBMM_DECAY_MS=junk ($way): the default kept"
	else
		fail "LIBMM_DECAY_MS=junk ($way):"; show
	fi
	if run $way && ! test -s "$scratch/err"; then
		pass "no variables ($way): nothing on standard error"
	else
		fail "no variables ($way): output or failure:"; show
	fi
	for src in mmap brk; do
		want="program break"
		test $src = mmap && want=mmap
		if run $way LIBMM_VERBOSE=1 LIBMM_SOURCE=$src &&
		    head -n 1 "$scratch/err" | grep -q "^libmm [0-9.]*: default heap [a-z ]*fit, $want, "; then
			pass "LIBMM_SOURCE=$src ($way): $want"
		else
			fail "LIBMM_SOURCE=$src ($way):"; show
		fi
	done
done
finish
