#!/bin/sh
# tests/check_secure again, in the secure mode with zero on free
# (LIBMM_SECURE=zero): the same checks, on zeros instead of 0xdf, and
# freed blocks of every engine zeroed.
LIBMM_SECURE=zero
export LIBMM_SECURE
exec "${top_builddir:-.}/tests/check_secure"
