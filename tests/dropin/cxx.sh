#!/bin/sh
# C++ on the drop-in (tests/dropin/newdelete.cc): containers, strings,
# exceptions, aligned new, thread_local destructors; a failing new throws
# std::bad_alloc; libstdc++'s operator new (not libmm, which defines none)
# calls libmm's malloc.  Compiled here, at test time, with $CXX (default
# c++) when there is one, linked with the drop-in and plain for
# LD_PRELOAD; skipped without a C++ compiler.
set -eu
. "$srcdir/tests/dropin/common.sh"
require_dropin

cxx=${CXX:-c++}
command -v "${cxx%% *}" >/dev/null 2>&1 || skip "no C++ compiler ($cxx)"
echo 'int main() { return 0; }' >"$scratch/probe.cc"
$cxx -std=c++17 -o "$scratch/probe" "$scratch/probe.cc" >/dev/null 2>&1 ||
	skip "$cxx cannot build a C++17 program"
# GCC may delete a new/delete pair it can see: not here.
extra=
if $cxx -std=c++17 -fno-allocation-dce -o "$scratch/probe" "$scratch/probe.cc" >/dev/null 2>&1; then
	extra=-fno-allocation-dce
fi

libdir=$(dirname "$DROPIN")
flags="-std=c++17 -O1 -Wall -Wextra -fno-builtin $extra -pthread
-I$srcdir/include -I$srcdir/tests -I$srcdir/tests/dropin"
src=$srcdir/tests/dropin/newdelete.cc

if ! $cxx $flags -o "$scratch/newdelete" "$src" -ldl; then
	fail "compiling newdelete.cc"
	finish
fi
# libmm-malloc before libstdc++ and libc in the search order: ours wins.
if ! $cxx $flags -DDROPIN_LINKED -o "$scratch/newdelete_linked" "$src" \
    -L"$libdir" -lmm-malloc -Wl,-rpath,"$libdir" -ldl; then
	fail "compiling newdelete.cc linked with libmm-malloc"
	finish
fi

limit=60
if bounded "$scratch/newdelete_linked"; then
	pass "C++ linked with the drop-in"
else
	fail "C++ linked with the drop-in (status $?)"
fi
if preload "$scratch/newdelete"; then
	pass "C++ under LD_PRELOAD"
else
	fail "C++ under LD_PRELOAD (status $?)"
fi
finish
