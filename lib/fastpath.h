/*
 * The small malloc and free of the default heap, inline: what runs for
 * almost every call a program makes (Engine v2's fast path).
 *
 *   malloc: the thread's shard (one TLS load; a thread without one reads
 *           mmi_shard_none, whose pages are all empty), class from a
 *           table, the direct page, pop its free list (a masked granule,
 *           range-checked), the slot's state byte FREE -> USED (one
 *           subtraction whose flags say whether it was FREE).
 *   free:   the pointer rotated right by 4 (its granule number below,
 *           its low bits on top), the segment map (one shift, one load:
 *           is this a 16-aligned address in a 4 MiB span that is a
 *           segment?), segment and page by masking, the page is this
 *           thread's, the state byte of the pointer's granule is USED
 *           (compared in memory: so it is a slot start, handed out and
 *           not freed), state -> FREE, push.
 *
 * Budget: malloc 24 instructions, free 30, ret included, checks included
 * (x86-64, gcc 12 -O2, in libmm-malloc.so).  The checks are 5 of the 54:
 * the link's range 2, the popped slot's state 1 (a branch on the flags of
 * the subtraction that takes it), the pointer's alignment 0 (the rotation
 * stands in for the shift that finds the granule) and its state 2.
 * `make bench`'s callgrind table, "pinned 32 B", counts the pair with its
 * loop: 70, against 66 for -DMMI_MEASURE_UNCHECKED (whose free gcc gives
 * a register copy more; bench/RESULTS.md).
 * Anything unusual -- no shard yet, an empty list, another thread's page,
 * a block that is not a USED slot, a link out of range -- falls through
 * to the general path (mmi_alloc, mmi_free), which either serves it or
 * names the misuse.  Nothing here takes a lock, and nothing here can fail
 * in a way the general path would not report the same way.
 *
 * The checks are those of the general functions it inlines
 * (mmi_shard_alloc, mmi_slab_alloc, mmi_slab_try_free_granule,
 * mmi_slab_classify); to measure what they cost, build with
 * -DMMI_MEASURE_UNCHECKED (see mm_internal.h; never shipped).
 */
#ifndef LIBMM_FASTPATH_H
#define LIBMM_FASTPATH_H

#include "mm_internal.h"

/* Everything mmi_fast_malloc does not serve itself (thread.c).  Out of
 * line and tail-called: calling the shard's slow path and then the block
 * engine from here would cost the fast path a saved register (3
 * instructions a malloc). */
MMI_HIDDEN void *mmi_fast_malloc_slow(size_t size);

static inline __attribute__((always_inline)) void *mmi_fast_malloc(size_t size)
{
	if (MMI_LIKELY(size <= MMI_SLAB_MAX_BSIZE)) {
		struct mmi_shard *s = mmi_thread.fast;
		void *p = mmi_slab_try_pop(s->direct[mmi_slab_step(size)]);

		if (MMI_LIKELY(p != NULL)) {
			mmi_shard_count(&s->allocs);
			return p;
		}
	}
	return mmi_fast_malloc_slow(size);
}

/* A slot of this thread's own pages is freed here; NULL (no segment at
 * address 0), a remote free, a larger block and every misuse (to be
 * named) go to mmi_free. */
static inline __attribute__((always_inline)) void mmi_fast_free(void *p)
{
	uintptr_t r = mmi_granule_rotated((uintptr_t)p);

	if (MMI_LIKELY(mmi_segmap_has_rotated(r))) {
		struct mmi_slab_page *pg = mmi_slab_page_of(mmi_segment_of(p), p);

		if (MMI_LIKELY(__atomic_load_n(&pg->shard, __ATOMIC_RELAXED) == mmi_thread.fast &&
			       mmi_slab_try_free_granule(pg, p, r % MMI_SLAB_GRANULES)))
			return;
	}
	if (p)
		mmi_free(NULL, p);
}

#endif
