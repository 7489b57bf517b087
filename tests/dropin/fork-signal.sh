#!/bin/sh
# fork() from a SIGALRM handler interrupting malloc/free/realloc, in a
# single-threaded process (tests/dropin/forksig.c), linked with the
# drop-in and under LD_PRELOAD.  A deadlock is caught by the time limit.
set -eu
. "$srcdir/tests/dropin/common.sh"
require_dropin
require_prog forksig
require_prog forksig_linked

limit=30
if bounded "$tdir/forksig_linked" 2; then
	pass "forksig linked with the drop-in"
else
	fail "forksig linked with the drop-in (status $?; 124 or 137: deadlock)"
fi
if preload "$tdir/forksig" 2; then
	pass "forksig under LD_PRELOAD"
else
	fail "forksig under LD_PRELOAD (status $?; 124 or 137: deadlock)"
fi
finish
