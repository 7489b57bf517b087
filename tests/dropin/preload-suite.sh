#!/bin/sh
# The Check suite check_dropin again, as a program linked with libc only
# and run with LD_PRELOAD=libmm-malloc.so.1 (tests/dropin/check_dropin is
# the same suite linked with the drop-in), then its "semantics" case with
# LIBMM_SOURCE=mmap.  The suite itself first proves that malloc is
# libmm's, through dlsym(RTLD_DEFAULT, "mm_heap_stats").
set -eu
. "$srcdir/tests/dropin/common.sh"
require_dropin
test -x "$tdir/check_dropin_plain" || skip "Check not found by configure: no check_dropin_plain"

# Without the drop-in the suite must refuse to run, not pass on glibc.
if env -u LD_PRELOAD "$tdir/check_dropin_plain" >"$scratch/out" 2>&1; then
	fail "check_dropin_plain passed without the drop-in preloaded"
else
	pass "without the drop-in the suite refuses: $(tail -n 1 "$scratch/out")"
fi

limit=${CK_DEFAULT_TIMEOUT:-120}
limit=$((limit * 3))
if preload "$tdir/check_dropin_plain"; then
	pass "check_dropin_plain under LD_PRELOAD"
else
	fail "check_dropin_plain under LD_PRELOAD (status $?)"
fi

# The semantics again with the default heap on mmap instead of the
# program break.
if LIBMM_SOURCE=mmap CK_RUN_CASE=semantics preload "$tdir/check_dropin_plain"; then
	pass "check_dropin_plain's semantics with LIBMM_SOURCE=mmap"
else
	fail "check_dropin_plain's semantics with LIBMM_SOURCE=mmap (status $?)"
fi
finish
