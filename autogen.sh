#!/bin/sh
# Regenerate configure, Makefile.in and the helper scripts from
# configure.ac and Makefile.am.  Needs autoconf, automake, libtool and
# pkg-config (for its m4 macros).
set -e
cd "$(dirname "$0")"
exec autoreconf -fi "$@"
