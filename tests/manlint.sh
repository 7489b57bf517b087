#!/bin/sh
# The man pages: every function include/libmm.h marks MM_EXPORT has
# man/<name>.3, either a real page or a one-line ".so man3/<page>.3" stub,
# and the page it leads to names the function in its NAME section and
# shows it in its SYNOPSIS.  No page is left for a function that is gone.
# Then every real page (not the stubs), mmview(1) too, must be clean under
# `mandoc -Tlint -Wwarning`.  Without mandoc the lint part is skipped
# (exit 77), but only when the other checks passed.
# Run by make check (srcdir comes from the harness).
set -eu

srcdir=${srcdir:-.}
man=$srcdir/man
status=0
fail() { echo "FAIL: $*"; status=1; }

names=$(sed -n 's/^MM_EXPORT.*[ *]\(mm_[A-Za-z0-9_]*\)(.*/\1/p' \
	"$srcdir/include/libmm.h")
if test -z "$names"; then
	echo "FAIL: no MM_EXPORT declarations found in include/libmm.h"
	exit 1
fi

# Sets real to the stub's target, or to the page itself; fails (returns
# 1) for a broken stub.
resolve() {
	real=$1
	if grep -q '^\.so' "$1"; then
		if test "$(wc -l <"$1")" -ne 1; then
			fail "$1: a .so stub must be exactly one line"
		fi
		target=$(sed -n 's|^\.so[[:space:]]*man3/\([^/]*\.3\)[[:space:]]*$|\1|p' "$1")
		if test -z "$target"; then
			fail "$1: stub must read .so man3/<page>.3"
			return 1
		fi
		if ! test -f "$man/$target"; then
			fail "$1: stub points to man3/$target, which does not exist"
			return 1
		fi
		if grep -q '^\.so' "$man/$target"; then
			fail "$1: stub points to man3/$target, which is a stub too"
			return 1
		fi
		real=$man/$target
	fi
}

checked=0
for name in $names; do
	page=$man/$name.3
	if ! test -f "$page"; then
		fail "$name is declared in include/libmm.h but has no man/$name.3"
		continue
	fi
	resolve "$page" || continue
	# The NAME section: ".Nm name" or ".Nm name ," before ".Nd".
	if ! sed -n '/^\.Sh NAME/,/^\.Nd/p' "$real" |
		grep -Eq "^\\.Nm $name( ,)?\$"; then
		fail "$real does not list $name in its NAME section"
	fi
	if ! sed -n '/^\.Sh SYNOPSIS/,/^\.Sh /p' "$real" |
		grep -Eq "^\\.Fn $name( |\$)"; then
		fail "$real does not show $name in its SYNOPSIS"
	fi
	checked=$((checked + 1))
done

# No page for a function the header no longer has.
for page in "$man"/mm_*.3; do
	name=$(basename "$page" .3)
	if ! printf '%s\n' "$names" | grep -qx "$name"; then
		fail "man/$name.3: no function $name in include/libmm.h"
	fi
done

# The real pages: everything that is not a .so stub.
real_pages=$(grep -L '^\.so' "$man"/*.1 "$man"/*.3 "$man"/*.7 || :)
if test -z "$real_pages"; then
	fail "no real man pages in $man"
fi

if test $status -ne 0; then
	exit $status
fi
echo "ok: $checked functions of include/libmm.h, each with its man page"

if ! command -v mandoc >/dev/null 2>&1; then
	echo "SKIP: mandoc is not installed; the pages were not linted"
	exit 77
fi

linted=0
for page in $real_pages; do
	if ! out=$(mandoc -Tlint -Wwarning "$page" 2>&1) || test -n "$out"; then
		fail "mandoc -Tlint -Wwarning $page:"
		printf '%s\n' "$out" | sed 's/^/  /'
	fi
	linted=$((linted + 1))
done

if test $status -eq 0; then
	echo "PASS: $linted pages clean under mandoc -Tlint -Wwarning"
fi
exit $status
