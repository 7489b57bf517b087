#!/bin/sh
# Every entry point starts libmm on first use, whichever the process calls
# first: for each of malloc, calloc, realloc(NULL, n), reallocarray,
# aligned_alloc(16384, n), posix_memalign(, 65536, n), memalign, valloc,
# pvalloc, free(NULL) and malloc_usable_size(NULL), a fresh process whose
# first allocation call is that one (tests/dropin/first_call.c):
#   - from main() and from a constructor(101), linked with the drop-in;
#   - the same under LD_PRELOAD;
#   - from the constructor of a library preloaded after the drop-in
#     (tests/dropin/libfirstcall.so), which the dynamic loader runs before
#     libmm's own constructor: with LIBMM_VERBOSE=1 the library's line
#     must come before libmm's options line on standard error.
set -eu
. "$srcdir/tests/dropin/common.sh"
require_dropin
require_prog first_call
require_prog first_call_linked
module=$tdir/.libs/libfirstcall.so
test -f "$module" || skip "$module not built"

entries="malloc calloc realloc reallocarray aligned_alloc posix_memalign
memalign valloc pvalloc free malloc_usable_size"
limit=20
n=0
for e in $entries; do
	if bounded "$tdir/first_call_linked" "$e" >/dev/null; then n=$((n + 1)); else
		fail "$e first, from main, linked (status $?)"; fi
	if DROPIN_CTOR=$e bounded "$tdir/first_call_linked" >/dev/null; then n=$((n + 1)); else
		fail "$e first, from a constructor, linked (status $?)"; fi
	if preload "$tdir/first_call" "$e" >/dev/null; then n=$((n + 1)); else
		fail "$e first, from main, LD_PRELOAD (status $?)"; fi
	if DROPIN_CTOR=$e preload "$tdir/first_call" >/dev/null; then n=$((n + 1)); else
		fail "$e first, from a constructor, LD_PRELOAD (status $?)"; fi

	# before libmm's constructor
	out=$scratch/module.err
	if bounded env LD_PRELOAD="$DROPIN $module" DROPIN_MODULE_FIRST=$e \
	    LIBMM_VERBOSE=1 "$tdir/first_call" malloc >/dev/null 2>"$out"; then
		call=$(grep -n "^first-call module: calling $e\$" "$out" | cut -d: -f1)
		okl=$(grep -n '^first-call module: ok$' "$out" | cut -d: -f1)
		opts=$(grep -n '^libmm [0-9.]*: default heap ' "$out" | cut -d: -f1)
		if test -n "$call" && test -n "$okl" && test -n "$opts" &&
		    test "$call" -lt "$opts" && test "$okl" -lt "$opts"; then
			n=$((n + 1))
		else
			fail "$e first, before libmm's constructor: standard error was:"
			sed 's/^/  | /' "$out"
		fi
	else
		fail "$e first, before libmm's constructor (status $?):"
		sed 's/^/  | /' "$out"
	fi
done
pass "$n first calls worked"
finish
