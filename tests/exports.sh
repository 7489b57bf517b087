#!/bin/sh
# The ABI test.  The dynamic symbols libmm.so defines must be exactly the
# checked-in list tests/libmm.exports (name@@LIBMM_1.0, the default version
# of each name), and that list must name exactly the functions that
# include/libmm.h marks MM_EXPORT and the names lib/libmm.map exports.  So a
# symbol added, leaked, lost, unversioned or moved to another version node
# fails, and so does a header or version script that drifts from the list.
#
# Usage: exports.sh [LIBRARY]
# LIBRARY defaults to the freshly built lib/.libs/libmm.so; make
# installcheck passes the installed libmm.so.1.  srcdir, top_builddir and
# NM come from the test harness.
set -eu

srcdir=${srcdir:-.}
top_builddir=${top_builddir:-.}
NM=${NM:-nm}
lib=${1:-$top_builddir/lib/.libs/libmm.so}
list=$srcdir/tests/libmm.exports

if ! test -f "$lib"; then
	if test $# -gt 0; then
		echo "FAIL: $lib does not exist"
		exit 1
	fi
	echo "SKIP: $lib not built (--disable-shared?)"
	exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/libmm-exports.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

# The checked-in list, without comments and blank lines.
sed -e '/^#/d' -e '/^[[:space:]]*$/d' "$list" | LC_ALL=C sort >"$tmp/list"

# Every MM_EXPORT function of the public header, in the list's form.
sed -n 's/^MM_EXPORT.*[ *]\(mm_[A-Za-z0-9_]*\)(.*/\1@@LIBMM_1.0/p' \
	"$srcdir/include/libmm.h" | LC_ALL=C sort >"$tmp/header"

# The names of the version script's LIBMM_1.0 node (one "name;" a line).
sed -n '/^LIBMM_1\.0[[:space:]]*{/,/^}/s/^[[:space:]]*\(mm_[A-Za-z0-9_]*\);.*/\1@@LIBMM_1.0/p' \
	"$srcdir/lib/libmm.map" | LC_ALL=C sort >"$tmp/map"

# Defined dynamic symbols, except the version node's own absolute symbol
# (LIBMM_1.0, type A).  nm shows the default version as name@@VERSION,
# a hidden one as name@VERSION, and none at all for an unversioned name.
$NM -D --defined-only "$lib" | awk '$2 != "A" { print $NF }' |
	LC_ALL=C sort >"$tmp/actual"

status=0
# compare WHAT-A FILE-A WHAT-B FILE-B
compare() {
	if ! cmp -s "$2" "$4"; then
		echo "FAIL: $1 and $3 differ (- only in $1, + only in $3):"
		diff -u "$2" "$4" | sed -n 's/^\([-+][^-+]\)/  \1/p'
		status=1
	fi
}

if ! test -s "$tmp/list"; then
	echo "FAIL: $list is empty"
	exit 1
fi
compare "tests/libmm.exports" "$tmp/list" "include/libmm.h (MM_EXPORT)" "$tmp/header"
compare "tests/libmm.exports" "$tmp/list" "lib/libmm.map (LIBMM_1.0)" "$tmp/map"
compare "tests/libmm.exports" "$tmp/list" "the dynamic symbols of $lib" "$tmp/actual"

if test $status -eq 0; then
	echo "PASS: $lib exports the $(wc -l <"$tmp/list") symbols of tests/libmm.exports, all at LIBMM_1.0"
fi
exit $status
