/*
 * The small malloc and free of the default heap, inline: what runs for
 * almost every call a program makes (Engine v2's fast path).
 *
 *   malloc: thread record, class from a table, the shard's direct page,
 *           pop its free list (a masked slot index, range-checked), the
 *           slot's state byte FREE -> USED (mmi_shard_alloc).
 *   free:   pagemap (two loads), segment and page by arithmetic, the page
 *           is this thread's, slot index by a reciprocal multiply with no
 *           remainder, state USED -> FREE, push (mmi_shard_free).
 *
 * Budget: about 40 instructions for a malloc/free pair, checks included
 * (`make bench`'s callgrind table: "ping-pong 32 B": 132 with the loop,
 * 220 before this file).  Anything unusual -- no shard yet, an
 * empty list, another thread's page, a block that is not a USED slot, a
 * link out of range -- falls through to the general path (mmi_alloc,
 * mmi_free), which either serves it or names the misuse.  Nothing here
 * takes a lock, and nothing here can fail in a way the general path would
 * not report the same way.

 *
 * The checks are those of the general functions it inlines
 * (mmi_shard_alloc, mmi_slab_alloc, mmi_shard_free, mmi_slab_classify);
 * to measure what they cost, build with -DMMI_MEASURE_UNCHECKED (see
 * mm_internal.h; never shipped).
 */
#ifndef LIBMM_FASTPATH_H
#define LIBMM_FASTPATH_H

#include "mm_internal.h"

static inline void *mmi_fast_malloc(size_t size)
{
	struct mmi_thread *t = &mmi_thread;

	if (MMI_LIKELY(size <= MMI_SLAB_MAX_BSIZE && t->state == MMI_THREAD_ACTIVE)) {
		void *p = mmi_shard_alloc(t->shard, size);
		if (MMI_LIKELY(p != NULL))
			return p;
	}
	return mmi_alloc(mmi_default_heap(), size);
}

/* p is not NULL.  A slot of this thread's own pages is freed here; a
 * remote free, a larger block and every misuse (to be named) go to
 * mmi_free. */
static inline void mmi_fast_free(void *p)
{
	struct mmi_region *r = mmi_pagemap_find((uintptr_t)p);

	if (MMI_LIKELY(r != NULL && r->kind == MMI_REGION_SEGMENT)) {
		struct mmi_segment *seg = (struct mmi_segment *)r;
		struct mmi_slab_page *pg = mmi_slab_page_of(seg, p);
		struct mmi_shard *s = mmi_thread_shard_if_any();

		if (MMI_LIKELY(__atomic_load_n(&pg->shard, __ATOMIC_RELAXED) == s &&
			       mmi_slab_free_local(seg, pg, p) == MMI_SLAB_OK)) {
			mmi_shard_count(&s->frees);
			return;
		}
	}
	mmi_free(NULL, p);
}

#endif
