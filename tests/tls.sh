#!/bin/sh
# libmm.so.1 reaches its thread-local data through TLS descriptors
# (-mtls-dialect=gnu2), not through calls to __tls_get_addr: readelf -r
# must show R_X86_64_TLSDESC relocations and none of the traditional
# dialect's R_X86_64_DTPMOD64, and __tls_get_addr must not be among its
# dynamic symbols.  Skips (exit 77) on other CPUs than x86_64 and when
# configure found the compiler does not accept the flag.
# top_builddir, READELF, host_cpu and TLS_DIALECT_CFLAGS come from the test
# harness (AM_TESTS_ENVIRONMENT).
set -eu

top_builddir=${top_builddir:-.}
READELF=${READELF:-readelf}
lib=$top_builddir/lib/.libs/libmm.so.1

skip() {
	echo "SKIP: $*"
	exit 77
}

case ${host_cpu:-unknown} in
x86_64) ;;
*) skip "TLS descriptors are checked on x86_64 only (host CPU: ${host_cpu:-unknown})" ;;
esac
case " ${TLS_DIALECT_CFLAGS:-} " in
*" -mtls-dialect=gnu2 "*) ;;
*) skip "configure found that the compiler does not accept -mtls-dialect=gnu2" ;;
esac
test -f "$lib" || skip "$lib not built (--disable-shared?)"
command -v "$READELF" >/dev/null 2>&1 || { echo "FAIL: $READELF not found"; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/libmm-tls.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
"$READELF" -rW "$lib" >"$tmp/relocs"
"$READELF" --dyn-syms -W "$lib" >"$tmp/syms"

failures=0
n=$(grep -c 'R_X86_64_TLSDESC' "$tmp/relocs" || :)
if test "$n" -gt 0; then
	echo "ok: $n R_X86_64_TLSDESC relocation(s)"
else
	echo "FAIL: no R_X86_64_TLSDESC relocation in $lib"
	failures=$((failures + 1))
fi
if grep 'R_X86_64_DTPMOD64' "$tmp/relocs"; then
	echo "FAIL: $lib has relocations of the traditional TLS dialect"
	failures=$((failures + 1))
else
	echo "ok: no R_X86_64_DTPMOD64 relocation"
fi
if grep '__tls_get_addr' "$tmp/syms"; then
	echo "FAIL: $lib calls __tls_get_addr"
	failures=$((failures + 1))
else
	echo "ok: no reference to __tls_get_addr"
fi
test "$failures" -eq 0
