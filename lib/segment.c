/*
 * Segments: aligned 4 MiB mappings that hold slab pages (mm_internal.h,
 * "Segments and slab pages").  A segment starts with its metadata -- the
 * header, a descriptor per page, the state bytes of every page -- so that
 * no metadata sits among user data, and so that the segment, the page and
 * the state of any slot follow from an address by arithmetic alone:
 *
 *   segment = p & ~(4 MiB - 1)
 *   page    = segment->pages[(p >> 16) & 63]
 *   state   = page->state[(p & (64 KiB - 1)) / 16]
 *   slot    = (p - page->area) * page->recip >> 32   (slow paths only)
 *
 * The segment's header begins with a region (kind MMI_REGION_SEGMENT),
 * which is what the pagemap maps its granules to; the segment map
 * (mmi_segmap) has a byte per 4 MiB span, so a free() of any pointer
 * finds out in one load whether it lies in a segment.  The metadata
 * pages are touched only where used: a page of 1 KiB slots touches 63
 * state bytes, not 4096.
 *
 * Who writes what: the segment header and the page list are written by the
 * segment's owner (a shard, later; the caller now) only.
 *
 * In the secure mode the last OS page of every slab page is a guard
 * (PROT_NONE), so that a write running off a page's last slot faults
 * before it reaches the next page's slots.  It costs a kernel area
 * (VMA) per guard: vm.max_map_count (65530 by default) bounds a secure
 * program to about 500 segments (2 GiB of small blocks); a guard the
 * kernel refuses is left out, the page still keeps its room free.
 */
#include <string.h>

#include "mm_internal.h"

_Static_assert(MMI_SLAB_FIRST_PAGE < MMI_SLAB_PAGES, "segment metadata too big");

size_t mmi_slab_guard_bytes(void)
{
	/* a page of slots keeps at least three quarters of its room */
	return mmi_secure_mode && mmi_page_size() <= MMI_SLAB_PAGE / 4 ? mmi_page_size() : 0;
}

struct mmi_segment *mmi_segment_alloc(struct mm_heap *h)
{
	uintptr_t base = (uintptr_t)mmi_map_reclaiming(MMI_SEGMENT, MMI_SEGMENT);
	struct mmi_segment *seg = (struct mmi_segment *)base;

	if (!seg)
		return NULL;
	if (mmi_pagemap_reserve(base, base + MMI_SEGMENT) != 0) {
		mmi_os_unmap(seg, MMI_SEGMENT);
		return NULL;
	}
	/* a fresh mapping is zeroed: every state byte UNUSED, every page free */
	seg->region.start = base;
	seg->region.end = base + MMI_SEGMENT;
	seg->region.heap = h;
	seg->region.kind = MMI_REGION_SEGMENT;
	seg->link_key = mmi_random_word();
	seg->free_pages = (unsigned)(MMI_SLAB_PAGES - MMI_SLAB_FIRST_PAGE);
	for (size_t i = 0; i < MMI_SLAB_PAGES; i++)
		seg->pages[i].state = (unsigned char *)base + MMI_SLAB_STATES_OFFSET +
				      i * MMI_SLAB_MAX_SLOTS;
	if (mmi_slab_guard_bytes())
		for (size_t i = MMI_SLAB_FIRST_PAGE; i < MMI_SLAB_PAGES; i++)
			(void)mmi_os_guard((void *)(base + (i + 1) * MMI_SLAB_PAGE - mmi_slab_guard_bytes()),
					   mmi_slab_guard_bytes());
	mmi_pagemap_set(base, base + MMI_SEGMENT, &seg->region);
	__atomic_store_n(&mmi_segmap[base >> MMI_SEGMENT_SHIFT], 1, __ATOMIC_RELEASE);
	return seg;
}

void mmi_segment_free(struct mmi_segment *seg)
{
	uintptr_t base = (uintptr_t)seg;

	/* out of both maps before the kernel can hand the span to anyone */
	__atomic_store_n(&mmi_segmap[base >> MMI_SEGMENT_SHIFT], 0, __ATOMIC_RELEASE);
	mmi_pagemap_set(base, base + MMI_SEGMENT, NULL);
	mmi_os_unmap(seg, MMI_SEGMENT);
}

/* A page without a class -- one whose memory is still there first (no
 * fault to use it), else the lowest -- or NULL when all are taken. */
struct mmi_slab_page *mmi_segment_page_take(struct mmi_segment *seg)
{
	struct mmi_slab_page *pg = NULL;

	if (!seg->free_pages)
		return NULL;
	for (size_t i = MMI_SLAB_FIRST_PAGE; i < MMI_SLAB_PAGES; i++)
		if (!seg->pages[i].in_use) {
			if (!pg)
				pg = &seg->pages[i];
			if (seg->pages[i].resident) {
				pg = &seg->pages[i];
				break;
			}
		}
	MMI_ASSERT(pg);
	pg->in_use = 1;
	pg->resident = 0;
	seg->free_pages--;
	return pg;
}

/* An empty page goes back: its slots' states are UNUSED again, and its
 * memory may be given to a page of another class. */
void mmi_segment_page_return(struct mmi_segment *seg, struct mmi_slab_page *page)
{
	size_t granules = (size_t)page->carved * page->bsize / MMI_ALIGN;

	MMI_ASSERT(page->in_use && mmi_slab_page_used(page) == 0);
	__atomic_store_n(&page->bsize, 0, __ATOMIC_RELEASE);	/* walkers: no class */
	memset(page->state, MMI_SLOT_UNUSED, granules);
	page->in_use = 0;
	page->resident = 0;
	page->free_head = MMI_SLAB_LIST_END;
	__atomic_store_n(&page->remote, NULL, __ATOMIC_RELAXED);
	seg->free_pages++;
}

void mmi_segment_page_park(struct mmi_segment *seg, struct mmi_slab_page *page, uint64_t now)
{
	mmi_segment_page_return(seg, page);
	page->resident = 1;
	page->idle_since = mmi_idle_stamp(now);
}
