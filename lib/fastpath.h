/*
 * The small malloc and free of the default heap, inline: what runs for
 * almost every call a program makes (Engine v2's fast path).
 *
 *   malloc: thread record, class from a table, the shard's direct page,
 *           pop its free list (a masked slot index, range-checked), the
 *           slot's state byte FREE -> USED.
 *   free:   pagemap (two loads), segment and page by arithmetic, the page
 *           is this thread's, slot index by a reciprocal multiply with no
 *           remainder, state USED -> FREE, push.
 *
 * Budget: about 40 instructions for a malloc/free pair, checks included
 * (`make bench`'s callgrind table: "ping-pong 32 B"; 220 before this file,
 * by way of the general functions).  Anything unusual -- no shard yet, an
 * empty list, another thread's page, a block that is not a USED slot, a
 * link out of range -- falls through to the general path (mmi_alloc,
 * mmi_free), which either serves it or names the misuse.  Nothing here
 * takes a lock, and nothing here can fail in a way the general path would
 * not report the same way.
 *
 * MMI_MEASURE_UNCHECKED (make CPPFLAGS=-DMMI_MEASURE_UNCHECKED, for
 * measuring only, never shipped) drops the checks -- the link range, the
 * state tests, the remainder test -- so that their cost can be read off
 * callgrind's counts: a build without them cannot tell misuse.
 */
#ifdef MMI_MEASURE_UNCHECKED
#define MMI_FAST_CHECK(c) 1
#else
#define MMI_FAST_CHECK(c) (c)
#endif
#ifndef LIBMM_FASTPATH_H
#define LIBMM_FASTPATH_H

#include "mm_internal.h"

/* The class of sizes 0..1024 by (size + 15) / 16. */
MMI_HIDDEN extern const uint8_t mmi_slab_class_by16[MMI_SLAB_MAX_BSIZE / 16 + 1];

static inline void *mmi_fast_malloc(size_t size)
{
	struct mmi_thread *t = &mmi_thread;

	if (MMI_LIKELY(size <= MMI_SLAB_MAX_BSIZE && t->state == MMI_THREAD_ACTIVE)) {
		struct mmi_shard *s = t->shard;
		struct mmi_slab_page *pg = s->direct[mmi_slab_class_by16[(size + 15) >> 4]];

		if (MMI_LIKELY(pg != NULL && pg->free_head != 0)) {
			struct mmi_segment *seg = mmi_segment_of(pg);
			unsigned idx = pg->free_head - 1u;
			void *slot = (void *)(pg->area + (size_t)idx * pg->bsize);
			uintptr_t next = __atomic_load_n((uintptr_t *)slot, __ATOMIC_RELAXED) ^
					 mmi_slab_link_mask(seg, slot);

			if (MMI_LIKELY(MMI_FAST_CHECK(next <= pg->nslots &&
				       __atomic_load_n(&pg->state[idx], __ATOMIC_RELAXED) ==
					       MMI_SLOT_FREE))) {
				pg->free_head = (uint16_t)next;
				__atomic_store_n(&pg->state[idx], MMI_SLOT_USED, __ATOMIC_RELAXED);
				pg->used++;
				mmi_shard_count(&s->allocs);
				return slot;
			}
		}
	}
	return mmi_alloc(mmi_default_heap(), size);
}

/* p is not NULL. */
static inline void mmi_fast_free(void *p)
{
	uintptr_t a = (uintptr_t)p;
	struct mmi_thread *t = &mmi_thread;
	struct mmi_region *r = mmi_pagemap_find(a);

	if (MMI_LIKELY(r != NULL && r->kind == MMI_REGION_SEGMENT &&
		       t->state == MMI_THREAD_ACTIVE)) {
		struct mmi_segment *seg = (struct mmi_segment *)r;
		struct mmi_slab_page *pg = mmi_slab_page_of(seg, p);
		uintptr_t off = a - pg->area;
		uint32_t idx = (uint32_t)(((uint64_t)off * pg->recip) >> 32);

		if (MMI_LIKELY(__atomic_load_n(&pg->shard, __ATOMIC_RELAXED) == t->shard &&
			       MMI_FAST_CHECK(off < pg->limit && off == (uintptr_t)idx * pg->bsize &&
					      __atomic_load_n(&pg->state[idx], __ATOMIC_RELAXED) ==
						      MMI_SLOT_USED))) {
			__atomic_store_n(&pg->state[idx], MMI_SLOT_FREE, __ATOMIC_RELAXED);
			mmi_slab_link_store(seg, p, pg->free_head);
			pg->free_head = (uint16_t)(idx + 1);
			pg->used--;
			mmi_shard_count(&t->shard->frees);
			return;
		}
	}
	mmi_free(NULL, p);
}

#endif
