/*
 * MM_FIT_FIRST, the teaching allocator's policy: one list of free blocks in
 * address order, and the first block on it that fits.  Finding the place
 * to insert is linear in the free blocks, as the policy's lowest-address
 * promise requires; the physical neighbours above are tried first, since
 * the next free block is usually close.
 */
#include "mm_internal.h"

#define NEIGHBOURS_TRIED 16

static void link_before(struct mm_heap *h, struct mmi_block *b, struct mmi_block *at,
	struct mmi_block *prev)
{
	b->next_free = at;
	b->prev_free = prev;
	if (at)
		at->prev_free = b;
	if (prev)
		prev->next_free = b;
	else
		h->addr_list = b;
}

MMI_NO_ASAN static int first_linked(struct mm_heap *h, struct mmi_block *b)
{
	struct mmi_block *prev = b->prev_free, *next = b->next_free;

	if (next && (!mmi_arena_of(h, next) || next->prev_free != b || next <= b))
		return 0;
	if (prev)
		return mmi_arena_of(h, prev) && prev->next_free == b && prev < b;
	return h->addr_list == b;
}

static void first_insert(struct mm_heap *h, struct mmi_block *b)
{
	struct mmi_region *r = mmi_arena_of(h, b);
	struct mmi_block *at = mmi_after(b), *prev = NULL;

	if (!r)
		mmi_corrupt_locked(h, mmi_payload(b));
	/* a free block just above is b's successor in the list; the walk
	 * stays inside b's arena whatever the headers say */
	for (int i = 0; i < NEIGHBOURS_TRIED && at < mmi_end_marker(r); i++) {
		size_t size = mmi_bsize(at);
		if (size < MMI_MIN_BLOCK || size > (uintptr_t)mmi_end_marker(r) - (uintptr_t)at)
			mmi_corrupt_locked(h, mmi_payload(at));
		if (at->head & MMI_FREE) {
			if (!first_linked(h, at))
				mmi_corrupt_locked(h, mmi_payload(at));
			link_before(h, b, at, at->prev_free);
			return;
		}
		at = mmi_after(at);
	}
	for (at = h->addr_list; at && at < b; at = at->next_free) {
		if (at->next_free)
			mmi_check_link_locked(h, at, at->next_free);
		prev = at;
	}
	link_before(h, b, at, prev);
}

static void first_remove(struct mm_heap *h, struct mmi_block *b)
{
	struct mmi_block *prev = b->prev_free, *next = b->next_free;

	if (!first_linked(h, b))
		mmi_corrupt_locked(h, mmi_payload(b));
	if (next)
		next->prev_free = prev;
	if (prev)
		prev->next_free = next;
	else
		h->addr_list = next;
}

static struct mmi_block *first_find(struct mm_heap *h, size_t bsize)
{
	struct mmi_block *b;

	for (b = h->addr_list; b; b = b->next_free) {
		if (mmi_bsize(b) >= bsize)
			return b;
		if (b->next_free)
			mmi_check_link_locked(h, b, b->next_free);
	}
	return NULL;
}

static size_t first_largest(struct mm_heap *h)
{
	size_t most = 0;

	for (struct mmi_block *b = h->addr_list; b; b = b->next_free) {
		if (mmi_bsize(b) > most)
			most = mmi_bsize(b);
		if (b->next_free)
			mmi_check_link_locked(h, b, b->next_free);
	}
	return most;
}

static int first_check(struct mm_heap *h, size_t nfree)
{
	struct mmi_block *b, *prev = NULL;
	size_t seen = 0;

	for (b = h->addr_list; b; prev = b, b = b->next_free)
		if (++seen > nfree || !mmi_arena_of(h, b) || !mmi_in_arenas(h, b, MMI_MIN_BLOCK) ||
		    !(b->head & MMI_FREE) || b->prev_free != prev ||
		    (prev && prev >= b))
			return -1;
	return seen == nfree && !h->fl_bitmap ? 0 : -1;
}

const struct mmi_fit mmi_fit_first = {
	"first fit", first_insert, first_remove, first_find, first_check, first_linked,
	first_largest,
};
