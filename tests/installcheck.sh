#!/bin/sh
# make installcheck: check libmm as it was installed, under $DESTDIR if
# that is set (as in `make install DESTDIR=/tmp/stage`).
#  - pkg-config finds the installed libmm.pc, with the package's version;
#  - tests/installcheck.c builds with `pkg-config --cflags --libs libmm`
#    against the installed libmm.so and runs, loading that very library;
#  - it builds again with `pkg-config --static` and -static against the
#    installed libmm.a and runs, with no libmm.so in sight;
#  - the installed libmm.so.1 exports exactly tests/libmm.exports
#    (tests/exports.sh), with the soname libmm.so.1;
#  - every function of <libmm.h> has its installed man page, and
#    `man 3 <function>` shows it (when man-db is installed);
#  - the installed mmview draws the dump the installed library writes at
#    exit with LIBMM_DUMP, and has its page mmview(1).
# Called by the installcheck-local rule of Makefile.am, which passes the
# configured directories and tools in the environment.
set -eu

: "${srcdir:?}" "${libdir:?}" "${pkgconfigdir:?}" "${mandir:?}" "${bindir:?}"
: "${PACKAGE_VERSION:?}"
DESTDIR=${DESTDIR:-}
CC=${CC:-cc}
NM=${NM:-nm}
OBJDUMP=${OBJDUMP:-objdump}
PKG_CONFIG=${PKG_CONFIG:-}
CPPFLAGS=${CPPFLAGS:-}
CFLAGS=${CFLAGS:-}
LDFLAGS=${LDFLAGS:-}
SANITIZER_FLAGS=${SANITIZER_FLAGS:-}
tmp=${INSTALLCHECK_TMP:-installcheck.tmp}

say() { echo "installcheck: $*"; }
die() { echo "installcheck: FAIL: $*" >&2; exit 1; }
# Show a command, then run it.
run() { echo "  $*"; "$@"; }

lib=$DESTDIR$libdir
pcdir=$DESTDIR$pkgconfigdir
man=$DESTDIR$mandir

rm -rf "$tmp"
mkdir "$tmp"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

# --- pkg-config ---------------------------------------------------------
test -n "$PKG_CONFIG" || die "pkg-config was not found by configure"
test -f "$pcdir/libmm.pc" || die "$pcdir/libmm.pc is not installed"
PKG_CONFIG_PATH=$pcdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export PKG_CONFIG_PATH
# libmm.pc names the final paths (--prefix); under DESTDIR they are below
# it, which is what pkg-config's sysroot adds to -I and -L.
if test -n "$DESTDIR"; then
	PKG_CONFIG_SYSROOT_DIR=$DESTDIR
	export PKG_CONFIG_SYSROOT_DIR
fi
found=$("$PKG_CONFIG" --variable=pcfiledir libmm) ||
	die "$PKG_CONFIG cannot read libmm.pc"
test "$found" -ef "$pcdir" ||
	die "pkg-config took libmm.pc from $found, not from $pcdir"
version=$("$PKG_CONFIG" --modversion libmm)
test "$version" = "$PACKAGE_VERSION" ||
	die "libmm.pc says version $version, the package is $PACKAGE_VERSION"
cflags=$("$PKG_CONFIG" --cflags libmm)
libs=$("$PKG_CONFIG" --libs libmm)
static_libs=$("$PKG_CONFIG" --static --libs libmm)
say "pkg-config: libmm $version from $pcdir"

# --- linked with the installed libmm.so --------------------------------
if test -f "$lib/libmm.so"; then
	say "dynamic: pkg-config --cflags --libs libmm"
	# shellcheck disable=SC2086 # the flags are lists of words
	run $CC $CPPFLAGS $CFLAGS $cflags \
		"$srcdir/tests/installcheck.c" -o "$tmp/dynamic" \
		$LDFLAGS $libs
	# The program must load the installed library, not some other libmm.
	if command -v ldd >/dev/null 2>&1; then
		loaded=$(LD_LIBRARY_PATH=$lib ldd "$tmp/dynamic" |
			sed -n 's/^[[:space:]]*libmm\.so\.1 => \(.*\) (0x[0-9a-f]*)$/\1/p')
		if test -z "$loaded" || ! test "$loaded" -ef "$lib/libmm.so.1"; then
			die "the program loads '${loaded:-no libmm.so.1}', not $lib/libmm.so.1"
		fi
		say "dynamic: loads $loaded"
	fi
	LD_LIBRARY_PATH=$lib "$tmp/dynamic" || die "the dynamic program failed"

	soname=$(LC_ALL=C "$OBJDUMP" -p "$lib/libmm.so" | awk '$1 == "SONAME" { print $2 }')
	test "$soname" = libmm.so.1 ||
		die "$lib/libmm.so has soname '$soname', not libmm.so.1"
	test -f "$lib/libmm.so.1" || die "$lib/libmm.so.1 is not installed"
	export srcdir NM
	sh "$srcdir/tests/exports.sh" "$lib/libmm.so.1" ||
		die "the installed library's exports are wrong"
else
	say "dynamic: SKIPPED, no $lib/libmm.so (--disable-shared)"
fi

# --- linked statically with the installed libmm.a ----------------------
if ! test -f "$lib/libmm.a"; then
	say "static: SKIPPED, no $lib/libmm.a (--disable-static)"
elif test -n "$SANITIZER_FLAGS"; then
	say "static: SKIPPED, the sanitizers cannot link -static"
else
	say "static: pkg-config --cflags --static --libs libmm, -static"
	# shellcheck disable=SC2086
	run $CC $CPPFLAGS $CFLAGS $cflags -static \
		"$srcdir/tests/installcheck.c" -o "$tmp/static" \
		$LDFLAGS $static_libs
	if LC_ALL=C "$OBJDUMP" -p "$tmp/static" | grep -q 'NEEDED.*libmm'; then
		die "the -static program still needs a libmm.so"
	fi
	env -u LD_LIBRARY_PATH "$tmp/static" || die "the static program failed"
fi

# --- man pages ----------------------------------------------------------
names=$(sed -n 's/^MM_EXPORT.*[ *]\(mm_[A-Za-z0-9_]*\)(.*/\1/p' \
	"$srcdir/include/libmm.h")
test -n "$names" || die "no MM_EXPORT declarations in include/libmm.h"
test -f "$man/man7/libmm.7" || die "$man/man7/libmm.7 is not installed"
for name in $names; do
	test -f "$man/man3/$name.3" || die "$man/man3/$name.3 is not installed"
done
if command -v man >/dev/null 2>&1; then
	# man-db follows the .so stubs from the top of the -M tree.
	for name in $names; do
		MANPAGER=cat MANWIDTH=80 man -M "$man" 3 "$name" 2>"$tmp/man.err" |
			grep -q "$name" ||
			die "man -M $man 3 $name shows no page: $(cat "$tmp/man.err")"
	done
	say "man: man 3 <name> shows a page for each of the $(echo "$names" | wc -l) functions"
else
	say "man: pages installed; man-db is not installed, so not rendered"
fi

# --- mmview ----------------------------------------------------------------
test -x "$DESTDIR$bindir/mmview" || die "$DESTDIR$bindir/mmview is not installed"
test -f "$man/man1/mmview.1" || die "$man/man1/mmview.1 is not installed"
"$DESTDIR$bindir/mmview" -V | grep -qx "mmview $PACKAGE_VERSION" ||
	die "mmview -V does not say mmview $PACKAGE_VERSION"
if test -f "$tmp/dynamic"; then
	LIBMM_DUMP=$tmp/dump.txt LD_LIBRARY_PATH=$lib "$tmp/dynamic" >/dev/null ||
		die "the dynamic program failed with LIBMM_DUMP set"
	"$DESTDIR$bindir/mmview" "$tmp/dump.txt" >"$tmp/heap.svg" ||
		die "mmview failed on the installed library's dump"
	lines=$(grep -c '^addr = ' "$tmp/dump.txt" || :)
	rects=$(grep -c '<rect [^>]*data-size=' "$tmp/heap.svg" || :)
	test "$lines" -gt 0 && test "$lines" = "$rects" ||
		die "mmview: $lines block lines, $rects rectangles"
	say "mmview: $rects rectangles for the $lines blocks of the installed library's dump"
fi

say "PASS"
