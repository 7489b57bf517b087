#!/bin/sh
# AddressSanitizer sees libmm's blocks (an ASan build: configure
# --enable-sanitizers): tests/tools makes one bug a run, on each heap
# kind, and ASan must stop it as "use-after-poison" with the stack of the
# bad access -- the stack that allocated the block it cannot give, since
# the poison is libmm's, not ASan's allocator's.  A run without bugs must
# finish.  Skips (77) in a build without ASan.  SANITIZER_FLAGS and
# top_builddir come from the harness (AM_TESTS_ENVIRONMENT).
set -u

case " ${SANITIZER_FLAGS:-} " in
*-fsanitize=address*) ;;
*) echo "SKIP: not an ASan build (configure --enable-sanitizers)"; exit 77 ;;
esac
top_builddir=${top_builddir:-.}
prog=$top_builddir/tests/tools
failures=0
unset LIBMM_SECURE LIBMM_CACHE 2>/dev/null || :
ASAN_OPTIONS=detect_leaks=0
export ASAN_OPTIONS

run() {
	what="$*"
	out=$("$prog" "$@" 2>&1)
	rc=$?
	echo "== tools $what: status $rc"
	echo "$out"
}
fail() {
	echo "FAIL (tools $what): $*"
	failures=$((failures + 1))
}
expect() {
	printf '%s\n' "$out" | grep -F -e "$1" >/dev/null || fail "no \"$1\" in the report"
}

# one byte past the request, in the slack of its block: a slab slot, a
# medium block, a large mapping (a request that fills its block exactly,
# as 32 or 20000 do, has no slack to poison under ASan)
for kind in default pool first; do
	for size in 24 20001 300000; do
		test $kind = pool && test $size = 300000 && continue
		run overflow $kind $size
		test "$rc" != 0 || fail "exit status 0"
		expect "ERROR: AddressSanitizer: use-after-poison"
		expect "WRITE of size 1"
		expect " in poke "
	done
done

# a read after free, past the first 8 bytes (where libmm links the freed
# block: not poisoned)
for kind in default pool first; do
	for size in 24 5000; do
		run uaf $kind $size 8
		test "$rc" != 0 || fail "exit status 0"
		expect "ERROR: AddressSanitizer: use-after-poison"
		expect "READ of size 1"
		expect " in peek "
	done
done

run clean
test "$rc" = 0 || fail "exit status $rc for a program without bugs"

test $failures = 0 || { echo "$failures failure(s)"; exit 1; }
echo "ASan stopped every bug"
