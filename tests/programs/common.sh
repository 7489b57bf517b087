# Shared part of the real-program tests (tests/programs/*.sh), sourced by
# each.  A test runs one scenario twice -- once as it is, once with
# libmm-malloc.so.1 preloaded into every process of it -- and requires
# both to succeed with identical output.  The preloaded run also has
# LIBMM_VERBOSE=1 and LIBMM_STATS=1, and the processes' reports on
# standard error must prove that libmm was loaded and allocated.
#
# The scenario is the test script itself, run again as
#   sh SCRIPT --scenario DIR
# under timeout(1), so a hang fails instead of blocking make check.
#
# Environment: top_builddir, srcdir (from make check); LIBMM_DROPIN
# (another drop-in to test); LIBMM_BIG=1 for the large variants;
# LIBMM_PROGRAM_TIMEOUT (seconds a run may take, default 300, or 1800
# with LIBMM_BIG=1); LIBMM_SKIP_PROGRAMS=1 skips them all (CI sets it for
# make distcheck, having run them once already).

srcdir=$(cd "${srcdir:-.}" && pwd)
top_builddir=$(cd "${top_builddir:-.}" && pwd)
NM=${NM:-nm}
export srcdir top_builddir
# this script, by an absolute path
self=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")

skip() {
	echo "SKIP: $*"
	exit 77
}

test "${LIBMM_SKIP_PROGRAMS:-0}" = 1 && skip "LIBMM_SKIP_PROGRAMS=1"

fail() {
	echo "FAIL: $*"
	exit 1
}

# require_cmd PROGRAM PACKAGE: skip unless PROGRAM is installed.
require_cmd() {
	command -v "$1" >/dev/null 2>&1 ||
		skip "$1 is not installed (Debian package: $2)"
}

# The drop-in, as an absolute path: LD_PRELOAD reaches processes that
# run in other directories.
find_dropin() {
	DROPIN=${LIBMM_DROPIN:-$top_builddir/lib/.libs/libmm-malloc.so.1}
	test -f "$DROPIN" || skip "$DROPIN not built (--disable-shared?)"
	if $NM -D "$DROPIN" 2>/dev/null | grep -q '__asan_\|__ubsan_\|__tsan_'; then
		skip "sanitizer build: ASan or TSan replaces malloc, the drop-in cannot be tested"
	fi
}

# run_twice: this script's scenario without and with the drop-in, in
# $scratch/plain and $scratch/dropin; output in $scratch/<mode>.out and
# .err.  Fails unless both exit 0 with the same output and libmm served
# the preloaded run.
run_twice() {
	script=$self
	limit=300
	test "${LIBMM_BIG:-0}" = 1 && limit=1800
	limit=${LIBMM_PROGRAM_TIMEOUT:-$limit}
	to=
	command -v timeout >/dev/null 2>&1 && to="timeout -k 10 $limit"
	for mode in plain dropin; do
		mkdir -p "$scratch/$mode"
		start=$(date +%s)
		status=0
		if test $mode = plain; then
			env -u LD_PRELOAD -u LIBMM_STATS -u LIBMM_VERBOSE \
				$to sh "$script" --scenario "$scratch/$mode" \
				>"$scratch/$mode.out" 2>"$scratch/$mode.err" || status=$?
		else
			env LD_PRELOAD="$DROPIN" LIBMM_STATS=1 LIBMM_VERBOSE=1 \
				$to sh "$script" --scenario "$scratch/$mode" \
				>"$scratch/$mode.out" 2>"$scratch/$mode.err" || status=$?
		fi
		echo "$mode run: exit status $status, $(($(date +%s) - start)) s"
		if test "$status" -ne 0; then
			echo "standard error of the $mode run (last 30 lines, without libmm stats):"
			grep -v '^libmm stats: \|^libmm [0-9.]*: default heap ' "$scratch/$mode.err" |
				tail -n 30 | sed 's/^/  | /'
			test "$status" -eq 124 && fail "the $mode run took more than $limit s"
			fail "the $mode run failed"
		fi
	done
	# The proof: libmm's constructor ran in some process (LIBMM_VERBOSE)
	# and, unless proof=loaded, some process counted allocations at exit
	# (LIBMM_STATS; GNU coreutils close standard error before exiting, so
	# their statistics line is lost and proof=loaded has to do there).
	loaded=$(grep -c '^libmm [0-9.]*: default heap ' "$scratch/dropin.err" || :)
	procs=$(grep -c '^libmm stats: .*allocations [1-9]' "$scratch/dropin.err" || :)
	test "${loaded:-0}" -gt 0 || fail "libmm was not loaded in any process of the preloaded run"
	echo "processes that loaded libmm: $loaded; that reported allocations through it: ${procs:-0}"
	if test "${proof:-stats}" != loaded && test "${procs:-0}" -eq 0; then
		fail "no process of the preloaded run allocated through libmm"
	fi
	if test "${procs:-0}" -gt 0; then
		grep '^libmm stats: ' "$scratch/dropin.err" | sort -t' ' -k6,6n | tail -n 1 |
			sed 's/^/largest: /'
	fi
	if ! cmp -s "$scratch/plain.out" "$scratch/dropin.out"; then
		echo "output differs (- without, + with the drop-in):"
		diff -u "$scratch/plain.out" "$scratch/dropin.out" | head -n 40
		fail "different output under the drop-in"
	fi
	echo "identical output: $(wc -l <"$scratch/dropin.out") lines, $(cksum <"$scratch/dropin.out")"
}

# A scratch directory, removed on exit.
new_scratch() {
	scratch=$(mktemp -d "${TMPDIR:-/tmp}/libmm-programs.XXXXXX")
	trap 'rm -rf "$scratch"' EXIT
	trap 'exit 1' HUP INT TERM
}
