#!/bin/sh
# memcheck sees libmm's blocks (configure --enable-valgrind): tests/tools
# makes one bug a run, on each heap kind and engine (slab slot, medium
# block, large mapping, pool), and memcheck must name it with the stack
# that allocated or freed the block; a run without bugs must be clean,
# leak check included (a destroyed heap's blocks are not leaks).  Also
# the drop-in under LD_PRELOAD, with valgrind's own malloc kept out
# (--soname-synonyms=somalloc=NONE).  Skips (77) in a build without the
# option or without valgrind.  VALGRIND, VALGRIND_REQUESTS and
# top_builddir come from the harness (AM_TESTS_ENVIRONMENT).
set -u

test "${VALGRIND_REQUESTS:-no}" = yes || { echo "SKIP: built without --enable-valgrind"; exit 77; }
test -n "${VALGRIND:-}" || { echo "SKIP: valgrind not found by configure"; exit 77; }
top_builddir=${top_builddir:-.}
prog=$top_builddir/tests/tools
dropin=$top_builddir/lib/.libs/libmm-malloc.so.1
failures=0
unset LIBMM_SECURE LIBMM_CACHE 2>/dev/null || :

# check ARGS...: run tools ARGS under memcheck; then each "expect TEXT"
# (fixed string) must be in the report, "after TEXT" in the lines after
# the last expect's line (the stack of the block).
run() {
	what="$*"
	out=$($VALGRIND -q --error-exitcode=99 "$@" 2>&1)
	rc=$?
	echo "== tools $what: status $rc"
	echo "$out"
	last=
}
fail() {
	echo "FAIL (tools $what): $*"
	failures=$((failures + 1))
}
status() {
	test "$rc" = "$1" || fail "exit status $rc, not $1"
}
expect() {
	printf '%s\n' "$out" | grep -F -e "$1" >/dev/null || fail "no \"$1\" in the report"
	last=$1
}
after() {
	printf '%s\n' "$out" | sed -n "\\|$last|,\$p" | grep -F -e "$1" >/dev/null ||
		fail "no \"$1\" after \"$last\""
}

# one byte past: a slab slot of exactly its class, a medium block, a
# large mapping; the default heap, a pool, a first-fit heap
for kind in default pool first; do
	case $kind in default) fn=mm_malloc ;; *) fn=mm_heap_malloc ;; esac
	for size in 32 24 20000 300000; do
		test $kind = pool && test $size = 300000 && continue
		run $prog overflow $kind $size
		status 99
		expect "Invalid write of size 1"
		expect "0 bytes after a block of size $(printf %s $size | sed 's/\(.\)\(...\)$/\1,\2/') client-defined"
		after " $fn ("
		after " main ("
	done
done

# a read after free
for kind in default pool first; do
	case $kind in default) fn=mm_free ;; *) fn=mm_heap_free ;; esac
	for size in 24 5000; do
		run $prog uaf $kind $size
		status 99
		expect "Invalid read of size 1"
		expect "0 bytes inside a block of size $(printf %s $size | sed 's/\(.\)\(...\)$/\1,\2/') free'd"
		after " $fn ("
		expect "Block was alloc'd at"
		after " main ("
	done
done

# no bug: nothing reported, no leak
run --leak-check=full --errors-for-leak-kinds=all $prog clean
status 0
test -z "$out" || fail "a report for a program without bugs"

# the drop-in, when memcheck leaves malloc to it
if test -f "$dropin"; then
	LD_PRELOAD=$dropin
	export LD_PRELOAD
	run --soname-synonyms=somalloc=NONE $prog dropin 32
	unset LD_PRELOAD
	status 99
	expect "0 bytes after a block of size 32 client-defined"
	after " malloc ("
fi

test $failures = 0 || { echo "$failures failure(s)"; exit 1; }
echo "memcheck named every bug"
