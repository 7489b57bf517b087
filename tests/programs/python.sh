#!/bin/sh
# CPython on the drop-in: tests/programs/workload.py (dicts, lists,
# strings, JSON round trips, regular expressions, big integers, zlib,
# threads) prints a digest of each part; it runs with CPython's own small
# object allocator and with PYTHONMALLOC=malloc (every object from
# malloc), without and with libmm-malloc.so.1 preloaded, and every run
# must print the same digests.  LIBMM_BIG=1 runs a larger workload.
set -eu
. "$srcdir/tests/programs/common.sh"

# Debian's python3 first: a python3 earlier in PATH may be a wrapper.
python=${PYTHON:-}
if test -z "$python"; then
	if test -x /usr/bin/python3; then python=/usr/bin/python3; else python=python3; fi
fi

if test "${1:-}" = --scenario; then
	scale=1
	test "${LIBMM_BIG:-0}" = 1 && scale=8
	cd "$2"
	PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 \
		"$python" "$srcdir/tests/programs/workload.py" "$scale"
	echo "-- PYTHONMALLOC=malloc"
	PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 PYTHONMALLOC=malloc \
		"$python" "$srcdir/tests/programs/workload.py" "$scale"
	exit 0
fi

require_cmd "$python" python3
find_dropin
new_scratch
echo "python: $("$python" --version 2>&1) ($(command -v "$python"))"
run_twice
sed 's/^/  /' "$scratch/dropin.out"
