#!/bin/sh
# mmview (tools/mmview.c) on the dump of examples/frag_pool, a pool
# fragmented on purpose:
#   - the SVG is well-formed (xmllint --noout) and renders (rsvg-convert
#     to PNG);
#   - it has one block rectangle per block line of the dump, and the
#     rectangles' sizes, the SVG's totals (data- attributes) and its
#     figures are the dump's: bytes in use and free summed from the block
#     lines, the largest free block, and the same as the dump's own
#     summary line;
#   - standard input works as a file does; a dump without band lines
#     (older libmm) draws the same blocks; a broken block line and an
#     input without a dump fail.
# xmllint (libxml2-utils) and rsvg-convert (librsvg2-bin) are needed: the
# test skips without them, except under CI (CI set), where it fails.
set -eu

top_builddir=${top_builddir:-.}
mmview=$top_builddir/tools/mmview
example=$top_builddir/examples/frag_pool
failures=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

for tool in xmllint rsvg-convert; do
	if ! command -v $tool >/dev/null 2>&1; then
		if test -n "${CI:-}"; then
			echo "FAIL: $tool is not installed (apt-get install libxml2-utils librsvg2-bin)"
			exit 1
		fi
		echo "SKIP: $tool is not installed (apt-get install libxml2-utils librsvg2-bin)"
		exit 77
	fi
done
test -x "$mmview" || { echo "FAIL: $mmview not built"; exit 1; }
test -x "$example" || { echo "FAIL: $example not built"; exit 1; }

scratch=$(mktemp -d "${TMPDIR:-/tmp}/libmm-mmview.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
trap 'exit 1' HUP INT TERM

"$example" >"$scratch/dump.txt"
"$mmview" -t "frag_pool" "$scratch/dump.txt" >"$scratch/heap.svg"

if xmllint --noout "$scratch/heap.svg"; then
	pass "xmllint: well-formed"
else
	fail "xmllint --noout"
fi
if rsvg-convert -o "$scratch/heap.png" "$scratch/heap.svg" &&
    test "$(head -c 8 "$scratch/heap.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a; then
	pass "rsvg-convert: $(wc -c <"$scratch/heap.png") bytes of PNG"
else
	fail "rsvg-convert did not make a PNG"
fi

# sums STATE FILE: count, bytes and largest of the block lines (state u:
# is_free=0, f: is_free=1) of a dump, or of the rectangles of an SVG.
dump_sums() {
	awk -F'[=,]' -v want="$1" '/^addr = / {
		st = ($6 == 0) ? "u" : "f"
		if (st == want) { n++; s += $4; if ($4 + 0 > m) m = $4 + 0 }
	} END { printf "%d %d %d\n", n, s, m }' "$2"
}
svg_sums() {
	sed -n 's/.*<rect class="\([a-z]\)" [^>]*data-size="\([0-9]*\)".*/\1 \2/p' "$2" |
	awk -v want="$1" '{ st = ($1 == "u") ? "u" : "f"
		if (st == want) { n++; s += $2; if ($2 + 0 > m) m = $2 + 0 } }
		END { printf "%d %d %d\n", n, s, m }'
}
attr() { sed -n "s/^<svg .* $1=\"\\([0-9]*\\)\".*/\\1/p" "$scratch/heap.svg"; }

lines=$(grep -c '^addr = ' "$scratch/dump.txt")
rects=$(grep -c '<rect [^>]*data-size=' "$scratch/heap.svg")
if test "$lines" -gt 100 && test "$lines" = "$rects" && test "$(attr data-blocks)" = "$lines"; then
	pass "$rects block rectangles for $lines block lines"
else
	fail "$lines block lines, $rects rectangles, data-blocks $(attr data-blocks)"
fi
for st in u f; do
	d=$(dump_sums $st "$scratch/dump.txt")
	s=$(svg_sums $st "$scratch/heap.svg")
	if test "$d" = "$s"; then
		pass "state $st: count, bytes, largest $d in the dump and the SVG"
	else
		fail "state $st: dump $d, SVG $s"
	fi
done

# The totals against the dump's own summary line (exact for a pool).
set -- $(sed -n 's/^in use: \([0-9]*\) blocks, \([0-9]*\) bytes; free: \([0-9]*\) blocks, \([0-9]*\) bytes; largest free \([0-9]*\);.*/\1 \2 \3 \4 \5/p' "$scratch/dump.txt")
if test $# -eq 5 && test "$(attr data-in-use-bytes)" = "$2" &&
    test "$(attr data-free-bytes)" = "$4" && test "$(attr data-largest-free)" = "$5" &&
    test "$(($1 + $3))" = "$rects"; then
	pass "SVG totals = the dump's summary: $2 bytes in use, $4 free, largest $5"
else
	fail "SVG totals ($(attr data-in-use-bytes) $(attr data-free-bytes) $(attr data-largest-free)) vs the summary line ($*)"
fi
# The figure: 1 - largest / free to four places, by integers.
frag=$(awk -v l="$5" -v f="$4" 'BEGIN { printf "%d", ((f - l) * 10000 + int(f / 2)) / f }')
frag=$(printf '%d.%04d' $((frag / 10000)) $((frag % 10000)))
if grep -q "fragmentation: 1 - largest free / free = $frag<" "$scratch/heap.svg" &&
    grep -q "in use: $1 blocks, $2 bytes<" "$scratch/heap.svg" &&
    grep -q "largest free block: $5 bytes<" "$scratch/heap.svg"; then
	pass "figures drawn: fragmentation $frag"
else
	fail "figures: no 'fragmentation ... = $frag' or totals text in the SVG"
fi
if grep -q '<text class="legend"[^>]*>in use<' "$scratch/heap.svg" &&
    grep -q '<text class="legend"[^>]*>free<' "$scratch/heap.svg" &&
    test "$(grep -c '<text class="band"[^>]*>region 0x' "$scratch/heap.svg")" = \
	"$(grep -c '^region 0x' "$scratch/dump.txt")"; then
	pass "a legend, and a band per region"
else
	fail "no legend, or not a band per region"
fi

# Standard input; a dump without band lines; broken input.
if "$mmview" -t "frag_pool" <"$scratch/dump.txt" | cmp -s - "$scratch/heap.svg"; then
	pass "standard input: the same picture"
else
	fail "standard input gives another picture"
fi
grep -v '^region \|^mapping \|^segment \|^page ' "$scratch/dump.txt" >"$scratch/old.txt"
if "$mmview" "$scratch/old.txt" >"$scratch/old.svg" && xmllint --noout "$scratch/old.svg" &&
    test "$(grep -c '<rect [^>]*data-size=' "$scratch/old.svg")" = "$lines"; then
	pass "a dump without band lines: $lines rectangles"
else
	fail "a dump without band lines"
fi
sed '5s/size = /size = x/' "$scratch/dump.txt" >"$scratch/bad.txt"
if "$mmview" "$scratch/bad.txt" >/dev/null 2>"$scratch/err"; then
	fail "a broken block line was accepted"
elif grep -q 'bad.txt:5: not a block line' "$scratch/err"; then
	pass "a broken block line: $(cat "$scratch/err")"
else
	fail "a broken block line: $(cat "$scratch/err")"
fi
if echo "hello" | "$mmview" >/dev/null 2>&1; then
	fail "an input without a dump was accepted"
else
	pass "an input without a dump fails"
fi

if test $failures -ne 0; then
	echo "$failures check(s) failed"
	exit 1
fi
exit 0
