#!/bin/sh
# The dynamic symbols libmm.so defines must be exactly the functions that
# include/libmm.h marks MM_EXPORT, each with the version LIBMM_1.0 (the
# node in lib/libmm.map).  A symbol leaked, lost or left unversioned fails.
# Run by make check (srcdir, top_builddir and NM come from the harness).
set -eu

srcdir=${srcdir:-.}
top_builddir=${top_builddir:-.}
NM=${NM:-nm}
lib=$top_builddir/lib/.libs/libmm.so

if ! test -f "$lib"; then
	echo "SKIP: $lib not built (--disable-shared?)"
	exit 77
fi

tmp=${TMPDIR:-/tmp}/libmm-exports.$$
trap 'rm -f "$tmp".*' EXIT INT TERM

# Expected: every MM_EXPORT function of the public header.
sed -n 's/^MM_EXPORT.*[ *]\(mm_[A-Za-z0-9_]*\)(.*/\1@@LIBMM_1.0/p' \
	"$srcdir/include/libmm.h" | LC_ALL=C sort >"$tmp.expected"

# Actual: defined dynamic symbols, except the version node's own absolute
# symbol (LIBMM_1.0, type A).  nm shows versions as name@@VERSION.
$NM -D --defined-only "$lib" | awk '$2 != "A" { print $3 }' |
	LC_ALL=C sort >"$tmp.actual"

if ! test -s "$tmp.expected"; then
	echo "FAIL: no MM_EXPORT declarations found in include/libmm.h"
	exit 1
fi

if cmp -s "$tmp.expected" "$tmp.actual"; then
	echo "PASS: $(wc -l <"$tmp.actual") symbols, all LIBMM_1.0"
	exit 0
fi
echo "FAIL: exported symbols differ from include/libmm.h"
echo "(- expected only, + exported only)"
diff -u "$tmp.expected" "$tmp.actual" | sed -n '/^[-+][^-+]/p'
exit 1
