#!/bin/sh
# LIBMM_DUMP and LIBMM_DUMP_SIGNAL, linked and under LD_PRELOAD
# (tests/dropin/dump.c):
#   LIBMM_DUMP=F         at exit F holds the default heap's dump, with the
#                        blocks the program kept, in use, and mmview draws
#                        it with one rectangle per block line and the
#                        dump's byte totals;
#   %p in F              becomes the process id;
#   LIBMM_DUMP_SIGNAL    USR2 writes the dump at once (checked by the
#                        program), also when the signal interrupts a
#                        thread inside malloc: a whole dump or the "busy"
#                        line, never a hang; a bad value is reported and
#                        ignored;
#   a file that cannot be created is reported on standard error.
set -eu
. "$srcdir/tests/dropin/common.sh"
require_dropin
require_prog dump
require_prog dump_linked
limit=60
mmview=$abs_top_builddir/tools/mmview
test -x "$mmview" || skip "$mmview not built"
clean="-u LIBMM_DUMP -u LIBMM_DUMP_SIGNAL -u LIBMM_CACHE"

# run WAY ARGS...: the program, linked or preloaded, output in $scratch/out
# and $scratch/err; extra VAR=VALUE words go first in ARGS.
run() {
	way=$1
	shift
	vars=
	while case ${1:-} in *=*) true ;; *) false ;; esac; do
		vars="$vars $1"
		shift
	done
	if test "$way" = linked; then
		# shellcheck disable=SC2086
		bounded env $clean $vars "$tdir/dump_linked" "$@" >"$scratch/out" 2>"$scratch/err"
	else
		# shellcheck disable=SC2086
		preload env $clean $vars "$tdir/dump" "$@" >"$scratch/out" 2>"$scratch/err"
	fi
}

show() {
	for f in "$@"; do
		echo "  $f:"
		head -n 20 "$f" | sed 's/^/  | /'
	done
}

# check_dump FILE [any]: a whole dump, each kept block listed in use
# (with any: freed by then, as the signal run does before it exits).
check_dump() {
	head -n 1 "$1" | grep -q '^libmm heap 0x[0-9a-f]*: ' || return 1
	tail -n 1 "$1" | grep -q '^in use: [0-9]* blocks, [0-9]* bytes; free: ' || return 1
	test "${2:-}" = any && return 0
	while read -r word addr size; do
		test "$word" = kept || continue
		grep -q "^addr = $addr, size = [0-9]*, is_free=0, " "$1" || {
			echo "  block $addr ($size bytes) not in the dump in use"
			return 1
		}
	done <"$scratch/out"
}

# check_picture DUMP: mmview draws it, well-formed, one rectangle per
# block line, the totals of the block lines.
check_picture() {
	"$mmview" "$1" >"$scratch/heap.svg" || return 1
	if command -v xmllint >/dev/null 2>&1; then
		xmllint --noout "$scratch/heap.svg" || return 1
	fi
	lines=$(grep -c '^addr = ' "$1")
	rects=$(grep -c '<rect [^>]*data-size=' "$scratch/heap.svg")
	used=$(awk -F'[=,]' '/^addr = / && $6 == 0 { s += $4 } END { print s + 0 }' "$1")
	svg_used=$(sed -n 's/^<svg .* data-in-use-bytes="\([0-9]*\)".*/\1/p' "$scratch/heap.svg")
	test "$lines" -gt 0 && test "$lines" = "$rects" && test "$used" = "$svg_used" || {
		echo "  $lines block lines, $rects rectangles; $used bytes in use, SVG says $svg_used"
		return 1
	}
}

for way in linked LD_PRELOAD; do
	dump=$scratch/exit.txt
	rm -f "$dump"
	if run $way LIBMM_DUMP="$dump" exit && check_dump "$dump"; then
		pass "LIBMM_DUMP ($way): $(grep -c '^addr = ' "$dump") block lines, $(grep -c '^page ' "$dump") slab pages, kept blocks in use"
	else
		fail "LIBMM_DUMP ($way): no dump at exit with the kept blocks:"; show "$scratch/err" "$dump"
	fi
	if test -f "$dump" && check_picture "$dump"; then
		pass "mmview of it ($way): $rects rectangles, $svg_used bytes in use"
	else
		fail "mmview of the exit dump ($way)"
	fi

	rm -f "$scratch"/pid.*
	if run $way LIBMM_DUMP="$scratch/pid.%p" exit &&
	    pid=$(sed -n 's/^pid //p' "$scratch/out") && check_dump "$scratch/pid.$pid"; then
		pass "LIBMM_DUMP with %p ($way): pid.$pid"
	else
		fail "LIBMM_DUMP=pid.%p ($way): no file pid.<pid>:"; ls "$scratch"; show "$scratch/err"
	fi

	for cache in 1 0; do
		sig=$scratch/sig.txt
		rm -f "$sig"
		if run $way LIBMM_DUMP="$sig" LIBMM_DUMP_SIGNAL=USR2 LIBMM_CACHE=$cache signal "$sig" &&
		    check_dump "$sig" any; then
			pass "LIBMM_DUMP_SIGNAL=USR2, LIBMM_CACHE=$cache ($way): $(tail -n 1 "$scratch/out")"
		else
			fail "LIBMM_DUMP_SIGNAL=USR2, LIBMM_CACHE=$cache ($way):"; show "$scratch/out" "$scratch/err"
		fi
	done

	if run $way LIBMM_DUMP="$scratch/no/such/dir/%p" exit &&
	    grep -q "^libmm: LIBMM_DUMP=$scratch/no/such/dir/%p: cannot create the file; no dump\$" "$scratch/err"; then
		pass "LIBMM_DUMP in a missing directory ($way): reported, exit status 0"
	else
		fail "LIBMM_DUMP in a missing directory ($way):"; show "$scratch/err"
	fi

	if run $way LIBMM_DUMP="$scratch/bad.txt" LIBMM_DUMP_SIGNAL=NOPE exit &&
	    grep -q '^libmm: LIBMM_DUMP_SIGNAL=NOPE: not a signal; no dump on a signal$' "$scratch/err" &&
	    check_dump "$scratch/bad.txt"; then
		pass "LIBMM_DUMP_SIGNAL=NOPE ($way): reported, ignored, dump at exit still"
	else
		fail "LIBMM_DUMP_SIGNAL=NOPE ($way):"; show "$scratch/err"
	fi
done

# Any program's heap: sort(1) under LD_PRELOAD.
if seq 1 20000 | preload env $clean LIBMM_DUMP="$scratch/sort.txt" sort -r >/dev/null &&
    check_dump "$scratch/sort.txt" any && check_picture "$scratch/sort.txt"; then
	pass "LIBMM_DUMP of sort(1): $rects blocks drawn, $svg_used bytes in use"
else
	fail "LIBMM_DUMP of sort(1):"; show "$scratch/sort.txt"
fi
finish
