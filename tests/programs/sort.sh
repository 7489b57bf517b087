#!/bin/sh
# GNU sort on the drop-in: a generated file of LIBMM_SORT_MB megabytes
# (default 50; LIBMM_BIG=1 makes it 400), sorted whole in memory, then by
# a numeric key with two threads and a small buffer (-S 8M: an external
# merge through temporary files).  The sorted outputs' checksums must be
# the same without and with libmm-malloc.so.1 preloaded.  sort closes
# standard error before it exits (gnulib's close_stdout), so libmm's
# LIBMM_STATS line cannot appear: the proof is LIBMM_VERBOSE's line.
set -eu
. "$srcdir/tests/programs/common.sh"

mb=${LIBMM_SORT_MB:-50}
test "${LIBMM_BIG:-0}" = 1 && mb=${LIBMM_SORT_MB:-400}

if test "${1:-}" = --scenario; then
	cd "$2"
	export LC_ALL=C TMPDIR="$2"
	sort -o sorted1 "$input"
	cksum <sorted1
	sort -S 8M -t, -k3,3n -k1,1 --parallel=2 -o sorted2 "$input"
	cksum <sorted2
	uniq -c sorted1 | sort -rn -k1,1 -k2 | head -n 5
	rm -f sorted1 sorted2
	exit 0
fi

require_cmd sort coreutils
require_cmd awk mawk
find_dropin
new_scratch

# Lines like "kqzjxa...,1234,987654,tail": an eighth of the file from an
# LCG of our own (exact in awk's doubles, so every run writes the same
# file), the rest from it with the letters rotated by tr (much faster).
input=$scratch/input
export input
awk -v bytes=$((mb * 1024 * 1024 / 8)) 'BEGIN {
	x = 12345; n = 0
	while (n < bytes) {
		x = (x * 69069 + 1) % 4294967296
		len = 6 + x % 20; s = ""
		for (i = 0; i < len; i++) {
			x = (x * 69069 + 1) % 4294967296
			s = s sprintf("%c", 97 + int(x / 65536) % 26)
		}
		line = sprintf("%s,%d,%d,%s", s, x % 1000, int(x / 7) % 1000000, substr(s, 1, x % 5))
		print line
		n += length(line) + 1
	}
}' >"$scratch/part"
abc=abcdefghijklmnopqrstuvwxyz
cat "$scratch/part" >"$input"
for r in 3 6 9 12 15 18 21; do
	rot=$(echo "$abc" | cut -c$((r + 1))-)$(echo "$abc" | cut -c1-$r)
	tr "$abc" "$rot" <"$scratch/part"
done >>"$input"
rm -f "$scratch/part"
echo "input: $(wc -l <"$input") lines, $(($(wc -c <"$input") / 1024 / 1024)) MB"
proof=loaded
run_twice
sed 's/^/  /' "$scratch/dropin.out"
