/*
 * Which region holds an address, in O(1), for any address at all.
 *
 * mm_free() receives nothing but a pointer, and must neither trust nor
 * touch it before it knows the pointer lies in memory libmm took from the
 * OS.  The pagemap answers that with two loads and no lock: one entry per
 * 64 KiB granule of the 47-bit user address space, each the region that
 * owns the granule or NULL.
 *
 *   level 1: 2^17 pointers, one per GiB, in .bss (untouched pages cost
 *            nothing); NULL when libmm never mapped anything in that GiB
 *   level 2: a leaf of 2^14 entries per GiB, mapped on first use and never
 *            unmapped, so a reader can never fault on a stale leaf
 *
 * A whole table would be 2 GiB of address space; a flat map of pointers
 * at the granularity of 4 MiB segments would still reserve 256 MiB, which
 * a program running under an address-space limit (RLIMIT_AS) would pay
 * for.  The small-block fast path needs less: only whether a 4 MiB span
 * is a slab segment, whose header then lies at its start.  That is the
 * segment map, a byte per span (32 MiB of .bss), beside the pagemap.
 *
 * Invariants:
 *   1. Every region libmm maps (arenas, program-break spans, large blocks;
 *      not pools, which live in the caller's buffer) starts on a granule
 *      boundary, so no two regions share a granule.
 *   2. The granules from a region's start to its end (rounded up to a
 *      granule) map to it while it exists, and to NULL once it is gone.
 *      The tail of its last granule may hold memory that is not libmm's:
 *      lookups that care compare with the region's bounds
 *      (mmi_region_of).
 *   3. Entries change only with release stores; a region's header is
 *      written before its entries are.  A region that grows or shrinks
 *      changes only the entries of the granules it gains or loses: the
 *      granules of live blocks never change, so no reader ever sees a live
 *      block's region missing.
 *
 * Writers: leaves are made under leaf_lock (mmi_pagemap_reserve, which
 * can fail: the caller then fails the allocation with ENOMEM before
 * committing anything); entries are written by whoever maps or unmaps the
 * region, under that heap's lock or with the region private to it.
 */
#include "mm_internal.h"

#define L1_SHIFT 30
#define L1_COUNT ((size_t)1 << (MMI_ADDR_BITS - L1_SHIFT))
#define L2_COUNT ((size_t)1 << (L1_SHIFT - MMI_GRANULE_SHIFT))

struct mmi_region **mmi_pagemap_l1[L1_COUNT];	/* leaves: see mm_internal.h */
/* 1 where a 4 MiB span is a segment (segment.c writes it): the fast free's
 * whole ownership test.  Untouched parts of it stay the kernel's zero page. */
uint8_t mmi_segmap[MMI_SEGMAP_ENTRIES];
static pthread_mutex_t leaf_lock = PTHREAD_MUTEX_INITIALIZER;

void mmi_pagemap_lock(void)
{
	pthread_mutex_lock(&leaf_lock);
}

void mmi_pagemap_unlock(void)
{
	pthread_mutex_unlock(&leaf_lock);
}

static uintptr_t granule_up(uintptr_t a)
{
	return (a + MMI_GRANULE - 1) & ~(uintptr_t)(MMI_GRANULE - 1);
}

int mmi_pagemap_reserve(uintptr_t start, uintptr_t end)
{
	int ret = 0;

	if (end > (uintptr_t)1 << MMI_ADDR_BITS || start >= end || MMI_TEST_FAIL(pagemap_reserve))
		return -1;
	/* mostly the leaves are there already: no lock for that */
	if (__atomic_load_n(&mmi_pagemap_l1[start >> L1_SHIFT], __ATOMIC_ACQUIRE) &&
	    __atomic_load_n(&mmi_pagemap_l1[(end - 1) >> L1_SHIFT], __ATOMIC_ACQUIRE) &&
	    (end - 1) >> L1_SHIFT <= (start >> L1_SHIFT) + 1)
		return 0;
	pthread_mutex_lock(&leaf_lock);
	for (uintptr_t i = start >> L1_SHIFT; i <= (end - 1) >> L1_SHIFT; i++) {
		struct mmi_region **leaf;

		if (__atomic_load_n(&mmi_pagemap_l1[i], __ATOMIC_RELAXED))
			continue;
		leaf = mmi_os_map(L2_COUNT * sizeof *leaf);
		if (!leaf) {
			ret = -1;
			break;
		}
		/* a fresh mapping reads as zeroes: every entry NULL */
		__atomic_store_n(&mmi_pagemap_l1[i], leaf, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&leaf_lock);
	return ret;
}

void mmi_pagemap_set(uintptr_t start, uintptr_t end, struct mmi_region *r)
{
	for (uintptr_t a = start & ~(uintptr_t)(MMI_GRANULE - 1); a < granule_up(end);
	     a += MMI_GRANULE) {
		struct mmi_region **leaf =
			__atomic_load_n(&mmi_pagemap_l1[a >> L1_SHIFT], __ATOMIC_ACQUIRE);

		MMI_ASSERT(leaf != NULL);
		__atomic_store_n(&leaf[(a >> MMI_GRANULE_SHIFT) & (L2_COUNT - 1)], r,
				 __ATOMIC_RELEASE);
		MMI_TEST_HOOK(pagemap_set);	/* between two granules' stores */
	}
}
