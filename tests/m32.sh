#!/bin/sh
# libmm needs a 64-bit target: configure with a 32-bit compiler
# (CC="gcc -m32") must stop with the message saying so, instead of
# building a library whose size limits do not fit a 32-bit size_t.
# Skips (exit 77) when gcc -m32 cannot build a program (on Debian: no
# gcc-multilib).  configure runs from a copy of the few files it needs in
# a scratch directory: the source tree may itself be configured (automake
# then refuses a second, out-of-tree configure) or read-only (distcheck).
# It stops right after the compiler checks, so this takes a few seconds.
set -eu

srcdir=${srcdir:-.}
abs_srcdir=$(cd "$srcdir" && pwd)
cc_m32="gcc -m32"

skip() {
	echo "SKIP: $*"
	exit 77
}

test -f "$abs_srcdir/configure" || skip "$abs_srcdir/configure not generated"
command -v gcc >/dev/null 2>&1 || skip "no gcc"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/libmm-m32.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

printf 'int main(void) { return 0; }\n' >"$tmp/probe.c"
$cc_m32 -o "$tmp/probe" "$tmp/probe.c" >/dev/null 2>&1 ||
	skip "$cc_m32 cannot build a program (Debian: install gcc-multilib)"

# configure, its auxiliary scripts and the file AC_CONFIG_SRCDIR names;
# -p keeps configure older than what it creates ("build environment is
# sane").
mkdir "$tmp/src" "$tmp/src/include"
cp -p "$abs_srcdir/configure" "$tmp/src/"
cp -pR "$abs_srcdir/build-aux" "$tmp/src/"
cp -p "$abs_srcdir/include/libmm.h" "$tmp/src/include/"

# A kernel without 32-bit support (no IA32 emulation: some VMs) cannot run
# what gcc -m32 builds, and configure would stop at "cannot run C compiled
# programs" before its size check.  Say then that it cross-compiles: the
# size of a pointer is found by compiling alone.
host=
"$tmp/probe" >/dev/null 2>&1 || host=--host=i686-pc-linux-gnu

rc=0
(cd "$tmp/src" && CONFIG_SITE=/dev/null ./configure CC="$cc_m32" $host \
	>"$tmp/out" 2>&1) || rc=$?
if test "$rc" -eq 0; then
	echo "FAIL: configure CC=\"$cc_m32\" succeeded; it must refuse a 32-bit target"
	sed 's/^/  | /' "$tmp/out" | tail -n 20
	exit 1
fi
if grep 'error: libmm needs a 64-bit target, pointers of 8 bytes' "$tmp/out"; then
	echo "ok: configure CC=\"$cc_m32\" failed (exit status $rc) with that message"
	exit 0
fi
echo "FAIL: configure CC=\"$cc_m32\" failed (exit status $rc) without saying libmm needs a 64-bit target:"
sed 's/^/  | /' "$tmp/out" | tail -n 20
exit 1
