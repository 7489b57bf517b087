#!/bin/sh
# The drop-in's dynamic symbols: exactly the C and POSIX allocation
# functions, unversioned (only an unversioned definition takes the place
# of glibc's malloc@GLIBC_2.2.5), plus every mm_* function of <libmm.h>
# under LIBMM_1.0; no C++ operator new/delete (libstdc++'s operators call
# our malloc); no call from the library to a name it defines itself
# through the PLT or GOT (another object could interpose it); and the
# static archive defines the same C functions.
set -eu
. "$srcdir/tests/dropin/common.sh"
require_dropin any

expected="aligned_alloc calloc free free_aligned_sized free_sized malloc
malloc_trim malloc_usable_size memalign posix_memalign pvalloc realloc
reallocarray valloc"
printf '%s\n' $expected | LC_ALL=C sort >"$scratch/c.expected"

$NM -D --defined-only "$DROPIN" >"$scratch/nm"

# Unversioned definitions, and their types: all functions (T).
awk '$2 != "A" && $NF !~ /@/ { print $NF }' "$scratch/nm" | LC_ALL=C sort >"$scratch/c.actual"
if cmp -s "$scratch/c.expected" "$scratch/c.actual"; then
	pass "the $(wc -l <"$scratch/c.actual") C functions, unversioned"
else
	fail "unversioned symbols differ (- expected only, + exported only):"
	diff -u "$scratch/c.expected" "$scratch/c.actual" | sed -n '/^[-+][^-+]/p'
fi
notfunc=$(awk '$2 != "A" && $NF !~ /@/ && $2 != "T" { print $NF " (" $2 ")" }' "$scratch/nm")
test -z "$notfunc" && pass "each is a function" || fail "not plain functions: $notfunc"

# mm_* functions: those of the header, each name@@LIBMM_1.0.
sed -n 's/^MM_EXPORT.*[ *]\(mm_[A-Za-z0-9_]*\)(.*/\1@@LIBMM_1.0/p' \
	"$srcdir/include/libmm.h" | LC_ALL=C sort >"$scratch/mm.expected"
awk '$2 != "A" && $NF ~ /@/ { print $NF }' "$scratch/nm" | LC_ALL=C sort >"$scratch/mm.actual"
if test -s "$scratch/mm.expected" && cmp -s "$scratch/mm.expected" "$scratch/mm.actual"; then
	pass "the $(wc -l <"$scratch/mm.actual") mm_* functions of <libmm.h>, all LIBMM_1.0"
else
	fail "versioned symbols differ from <libmm.h> (- expected only, + exported only):"
	diff -u "$scratch/mm.expected" "$scratch/mm.actual" | sed -n '/^[-+][^-+]/p'
fi

# No operator new or delete: libstdc++'s own call malloc and free.
cxx=$(awk '$NF ~ /^_Z(nw|na|dl|da)/ { print $NF }' "$scratch/nm")
test -z "$cxx" && pass "no C++ operator new/delete" || fail "C++ operators exported: $cxx"

# Every call inside the library goes to a hidden function: no relocation
# against a symbol the library itself defines.
if command -v readelf >/dev/null 2>&1; then
	awk '{ n = $NF; sub(/@.*/, "", n); print n }' "$scratch/nm" | LC_ALL=C sort -u >"$scratch/defined"
	readelf -rW "$DROPIN" | awk '/R_X86_64_|R_AARCH64_|R_386_|R_ARM_|R_PPC|R_RISCV|R_390/ && NF >= 5 { n = $5; sub(/@.*/, "", n); print n }' |
		LC_ALL=C sort -u >"$scratch/relocated"
	self=$(LC_ALL=C comm -12 "$scratch/defined" "$scratch/relocated" | tr '\n' ' ')
	test -z "$self" && pass "no interposable call to its own names" ||
		fail "the library reaches its own exported names through the PLT/GOT: $self"
fi

# The static archive, where it is built: the same C functions, global.
archive=$(dirname "$DROPIN")/libmm-malloc.a
if test -f "$archive"; then
	$NM --defined-only "$archive" 2>/dev/null | awk '$2 == "T" { print $3 }' |
		LC_ALL=C sort -u >"$scratch/a.actual"
	missing=$(LC_ALL=C comm -23 "$scratch/c.expected" "$scratch/a.actual" | tr '\n' ' ')
	test -z "$missing" && pass "libmm-malloc.a defines them too" ||
		fail "libmm-malloc.a lacks: $missing"
fi
finish
