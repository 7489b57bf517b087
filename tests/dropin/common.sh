# Shared part of the drop-in drivers (tests/dropin/*.sh), sourced by each.
#
# make check runs every test from the top build directory, with srcdir
# and top_builddir in the environment.  The drop-in is
# $top_builddir/lib/.libs/libmm-malloc.so.1 (an absolute path, since
# LD_PRELOAD is also seen by programs running in other directories);
# LIBMM_DROPIN overrides it, e.g. to test an installed copy.

srcdir=${srcdir:-.}
top_builddir=${top_builddir:-.}
abs_top_builddir=$(cd "$top_builddir" && pwd)
NM=${NM:-nm}
DROPIN=${LIBMM_DROPIN:-$abs_top_builddir/lib/.libs/libmm-malloc.so.1}
tdir=$abs_top_builddir/tests/dropin
failures=0

# No core files from the programs that abort on purpose.
ulimit -c 0 2>/dev/null || :

skip() {
	echo "SKIP: $*"
	exit 77
}

fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

pass() {
	echo "ok: $*"
}

# Exit with the verdict of everything checked so far.
finish() {
	if test "$failures" -ne 0; then
		echo "$failures check(s) failed"
		exit 1
	fi
	exit 0
}

# The drop-in must exist, and must not be a sanitizer build: ASan and TSan
# insist on being the first library and on owning malloc themselves.  (require_dropin
# any: a sanitizer build will do, for tests that only read the file.)
require_dropin() {
	test -f "$DROPIN" || skip "$DROPIN not built (--disable-shared?)"
	test "${1:-}" = any && return 0
	if $NM -D "$DROPIN" 2>/dev/null | grep -q '__asan_\|__ubsan_\|__tsan_'; then
		skip "sanitizer build: ASan or TSan replaces malloc, the drop-in cannot be tested"
	fi
}

# A program of tests/dropin/, which make check has built.
require_prog() {
	test -x "$tdir/$1" || skip "$tdir/$1 not built"
}

# bounded CMD...: runs CMD with a time limit of $limit seconds (default
# 60) when timeout(1) is there; a hung program fails with status 124 or
# 137 instead of hanging make check.
limit=60
bounded() {
	if command -v timeout >/dev/null 2>&1; then
		timeout -k 5 "$limit" "$@"
	else
		"$@"
	fi
}

# preload CMD...: the same with the drop-in preloaded into CMD.
preload() {
	bounded env LD_PRELOAD="$DROPIN" "$@"
}

# err_to FILE CMD...: CMD with a time limit and its standard error in
# FILE.  CMD is exec'd by a shell that redirected first, so that a death
# by a signal is reported ("Aborted") by the shell running the script, in
# the log, not in FILE.
err_to() {
	file=$1
	shift
	if command -v timeout >/dev/null 2>&1; then
		set -- timeout -k 5 "$limit" "$@"
	fi
	sh -c 'exec 2>"$0"; exec "$@"' "$file" "$@"
}

# A scratch directory, removed on exit.
scratch=$(mktemp -d "${TMPDIR:-/tmp}/libmm-dropin.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
trap 'exit 1' HUP INT TERM
