#!/bin/sh
# dlclose() of libmm must be harmless.  Both shared libraries keep a
# thread-exit destructor (the per-thread cache's pthread key) that cannot
# be unregistered, so they are linked with -z nodelete:
#   - readelf -d of lib/.libs/libmm.so.1 and libmm-malloc.so.1 must show
#     the NODELETE flag (FLAGS_1);
#   - tests/dlclose (linked without libmm) dlopen()s each library, uses
#     it from a second thread, dlclose()s it and lets the thread exit:
#     it must not crash, and the library must still be loaded.
# srcdir, top_builddir and READELF come from the test harness
# (AM_TESTS_ENVIRONMENT); the paths work out of tree.
set -eu

top_builddir=${top_builddir:-.}
READELF=${READELF:-readelf}
abs_top_builddir=$(cd "$top_builddir" && pwd)
libdir=$abs_top_builddir/lib/.libs
prog=$abs_top_builddir/tests/dlclose
failures=0

fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

test -f "$libdir/libmm.so.1" || { echo "SKIP: $libdir/libmm.so.1 not built (--disable-shared?)"; exit 77; }
test -x "$prog" || { echo "SKIP: $prog not built"; exit 77; }

# The LIBMM_* variables of whoever runs make check: the cache must be on.
unset LIBMM_CACHE LIBMM_STATS LIBMM_VERBOSE LIBMM_SOURCE 2>/dev/null || :

for lib in libmm.so.1 libmm-malloc.so.1; do
	so=$libdir/$lib
	if ! test -f "$so"; then
		fail "$so not built"
		continue
	fi
	if ! command -v "$READELF" >/dev/null 2>&1; then
		fail "$READELF not found: cannot read the dynamic section of $lib"
	elif "$READELF" -d "$so" | grep 'FLAGS_1' | grep -q 'NODELETE'; then
		echo "ok: $lib has FLAGS_1 NODELETE"
	else
		fail "$lib is not linked with -z nodelete (readelf -d: $("$READELF" -d "$so" | grep FLAGS || echo 'no FLAGS_1'))"
	fi
	# A crash is reported by the shell running this script; a hang ends
	# after a minute.
	rc=0
	if command -v timeout >/dev/null 2>&1; then
		timeout -k 5 60 "$prog" "$so" || rc=$?
	else
		"$prog" "$so" || rc=$?
	fi
	test "$rc" -eq 0 || fail "tests/dlclose $lib: exit status $rc"
done

if test "$failures" -ne 0; then
	echo "$failures check(s) failed"
	exit 1
fi
exit 0
