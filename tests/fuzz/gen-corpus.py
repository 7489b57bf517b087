#!/usr/bin/env python3
"""Write the seed inputs of tests/fuzz/corpus for mm_fuzz.

The seeds are checked in; run this only after changing the input layout
described at the top of mm_fuzz.c (and keep the two in step):

    python3 tests/fuzz/gen-corpus.py tests/fuzz/corpus

Each heap kind gets a few short programs: one that touches every
operation, one of large and medium blocks, one that fills and empties
(slab pages, a small pool), one of resizing and one of other threads and
other heaps.
"""
import os
import struct
import sys

KINDS = ["default", "good", "first", "best", "nolock", "pool"]

(MALLOC, OTHERS, CALLOC, REALLOC, ALIGNED, FREE, FREE_MANY, BURST, CHECK,
 WALK, STATS, TRIM, OPTION, MISC) = (0, 1, 2, 3, 5, 6, 8, 9, 10, 11, 12, 13,
                                     14, 15)


def op(code, variant=0):
    return bytes([code | (variant << 4)])


def u8(n):
    return bytes([n & 0xff])


def u16(n):
    return struct.pack("<H", n & 0xffff)


def u24(n):
    return struct.pack("<I", n & 0xffffff)[:3]


def size(n):
    """A request of exactly n bytes, in the narrowest class that holds it."""
    if n < 256:
        return u8(0) + u8(n)
    if n <= 16384:
        return u8(3) + u16(n)
    if n <= 1 << 18:
        return u8(5) + u24(n)
    if n <= 1 << 20:
        return u8(5 | 8) + u24(n)
    return u8(7) + u24(n - (1 << 20))


def edge(index, delta=0):
    """The index-th size of edge_size[], plus delta (-16..16)."""
    return u8(6 | (index << 3)) + u8(delta + 16)


def header(kind, variant=0, pool_offset=0, pool_len=1 << 20):
    h = u8(KINDS.index(kind)) + u8(variant)
    if kind == "pool":
        h += u8(pool_offset) + u16((pool_len - 2048) // 64)
    return h


def malloc(n, v=0):
    return op(MALLOC, v) + size(n)


def realloc(slot, mode, arg=b"", v=0):
    return op(REALLOC, v) + u8(slot) + u8(mode) + arg


def threads(kind, variant):
    """Frees and allocations in other threads, side heaps made and
    destroyed beside the input's heap; the heap destroyed full at the end
    (variant bit 7)."""
    return (header(kind, variant | 0x80, pool_len=1 << 20)
            + malloc(40) + malloc(40) + malloc(5000) + malloc(200000)
            + op(OTHERS, 0) + u8(0) + u8(0) + size(0)         # free, remote
            + op(OTHERS, 1) + u8(0) + u8(7) + size(96)        # 8 allocated
            + op(OTHERS, 9) + u8(0) + u8(3) + size(20000)     # mm_malloc
            + op(OTHERS, 8) + u8(2) + u8(0) + size(0)         # mm_free
            + op(FREE) + u8(3)
            + op(OTHERS, 1) + u8(0) + u8(2) + size(64)
            + op(OTHERS, 2) + u8(5) + u8(3) + size(300)       # 6 side heaps
            + op(OTHERS, 7) + u8(2) + u8(2) + size(150000)    # freed first
            + op(STATS) + op(WALK) + op(CHECK))


def every_op(kind, variant):
    """Each operation once or twice, in an order that makes them bite."""
    return (header(kind, variant, pool_offset=3, pool_len=256 * 1024)
            + malloc(0) + malloc(24, 1) + malloc(100) + malloc(3000)
            + op(CALLOC, 2) + size(640)
            + op(ALIGNED) + u8(6) + size(200)
            + op(ALIGNED, 1) + u8(12) + size(5000)
            + op(ALIGNED, 2) + u8(16) + size(70000)
            + realloc(1, 0, u16(500))
            + realloc(2, 1, u8(4))
            + realloc(3, 3, size(20000), v=1)
            + realloc(4, 3, size(9000), v=2)
            + op(FREE) + u8(0)
            + op(MISC) + u8(1)
            + op(CHECK) + op(WALK) + op(WALK, 1)
            + op(STATS) + op(STATS, 1) + u8(40)
            + op(OPTION, 0) + u8(4)
            + op(OPTION, 1) + u8(3)
            + op(OPTION, 2) + u8(0)
            + op(OPTION, 3) + u8(2)
            + op(MISC, 1) + u16(7) + u8(1)
            + op(MISC, 3) + u16(0) + u8(5)
            + op(MISC, 5) + u16(1) + u8(2)
            + op(MISC, 7) + u16(2) + u8(0)
            + op(MISC, 9) + u16(3) + u8(1)
            + op(MISC, 11) + u16(0) + u8(0)
            + op(MISC, 13) + u16(0) + u8(0)
            + op(MISC, 15) + u16(0) + u8(0)
            + op(MISC, 15) + u16(0) + u8(1)
            + op(MISC, 15) + u16(0) + u8(4)
            + op(ALIGNED) + u8(0xe3) + size(3000)
            + realloc(0, 2)
            + op(TRIM) + u8(0)
            + op(FREE_MANY) + u8(0) + u8(1)
            + op(CHECK))


def large(kind, variant):
    """Medium and large blocks: mappings of their own, the decay cache,
    in-place growth, the mmap threshold moved."""
    return (header(kind, variant, pool_len=4 << 20)
            + malloc(200000) + malloc(1 << 20) + malloc(3 << 20)
            + op(MALLOC) + edge(24, -1) + op(MALLOC) + edge(25, 0) + op(MALLOC) + edge(26, 1)
            + op(FREE) + u8(1)
            + malloc(900000)
            + realloc(0, 0, u16(4000))
            + realloc(0, 0, u16(4000))
            + realloc(1, 1, u8(7))
            + op(OPTION, 0) + u8(8)
            + malloc(300000)
            + op(OPTION, 2) + u8(1)
            + op(FREE) + u8(2) + op(FREE) + u8(0)
            + op(TRIM) + u8(3)
            + malloc(2 << 20)
            + op(STATS) + op(WALK) + op(CHECK))


def churn(kind, variant):
    """Bursts of one size, then frees of every other block: full slab
    pages and pool, then holes."""
    return (header(kind, variant, pool_offset=9, pool_len=16384)
            + op(BURST) + u8(31) + size(48)
            + op(BURST) + u8(20) + size(1000)
            + op(BURST) + u8(8) + size(16384)
            + op(FREE_MANY) + u8(0) + u8(1)
            + op(CHECK)
            + op(BURST) + u8(15) + size(32)
            + op(FREE_MANY) + u8(3) + u8(2)
            + op(STATS) + op(WALK)
            + op(FREE_MANY) + u8(0) + u8(0)
            + op(TRIM) + u8(0) + op(CHECK))


def resize(kind, variant):
    """One buffer grown a little at a time through every size range, then
    shrunk, beside a neighbour that comes and goes."""
    body = malloc(10) + malloc(16)
    for step in range(24):
        body += realloc(0, 0, u16(1000 + step * 150), v=step % 4)
        if step % 6 == 5:
            body += op(FREE) + u8(1) + malloc(16 * step)
    body += realloc(0, 3, size(150000)) + realloc(0, 3, size(70000))
    body += realloc(0, 1, u8(8)) + realloc(0, 1, u8(1))
    return header(kind, variant, pool_len=512 * 1024) + body + op(CHECK)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "corpus"
    os.makedirs(out, exist_ok=True)
    # The variant byte: for good, first and best bit 0 is the program
    # break; for nolock and pool the low two bits are the fit policy and
    # bit 2 the break (nolock) or no lock (pool).
    variants = {"default": [0], "good": [0, 1], "first": [0, 1],
                "best": [0, 1], "nolock": [0, 5], "pool": [1, 6]}
    for kind in KINDS:
        for v in variants[kind]:
            for name, make in (("ops", every_op), ("large", large),
                               ("churn", churn), ("resize", resize),
                               ("threads", threads)):
                path = os.path.join(out, "%s-%d-%s" % (kind, v, name))
                with open(path, "wb") as f:
                    f.write(make(kind, v))


if __name__ == "__main__":
    main()
