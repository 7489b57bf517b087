/*
 * The segregated free index behind MM_FIT_GOOD and MM_FIT_BEST: two levels
 * of lists, as in TLSF.  The first level splits sizes by power of two, the
 * second splits each power into MMI_SL_COUNT equal steps; below
 * SMALL_LIMIT every 16-byte size has a list of its own.  A bitmap per level
 * says which lists are non-empty, so the next non-empty list is one
 * find-first-set away.
 *
 * Good fit rounds the request up to the next list boundary, so that any
 * block of the list it lands on fits: O(1), wasting at most 1/16.  Only
 * when nothing is found that way does it scan the request's own list.
 * Best fit scans the request's own list, then the first non-empty list
 * above, for the smallest block that fits.
 */
#include "mm_internal.h"

#define SMALL_LIMIT ((size_t)MMI_SL_COUNT * MMI_ALIGN)	/* 256 */
#define SMALL_LOG2 8

static unsigned floor_log2(size_t n)
{
	return (unsigned)(sizeof(size_t) * 8 - 1) - (unsigned)__builtin_clzl(n);
}

static void mapping(size_t size, unsigned *fl, unsigned *sl)
{
	if (size < SMALL_LIMIT) {
		*fl = 0;
		*sl = (unsigned)(size / MMI_ALIGN);
	} else {
		unsigned f = floor_log2(size);
		*fl = f - (SMALL_LOG2 - 1);
		*sl = (unsigned)(size >> (f - MMI_SL_LOG2)) - MMI_SL_COUNT;
	}
}

/* First-level lists a heap spanning at most span bytes needs. */
unsigned mmi_fl_count_for(size_t span)
{
	unsigned fl, sl;

	if (span >= MMI_BSIZE_MAX)
		return MMI_FL_MAX;
	mapping(span, &fl, &sl);
	return fl + 1;
}

static struct mmi_block **head_of(struct mm_heap *h, unsigned fl, unsigned sl)
{
	return &h->heads[fl * MMI_SL_COUNT + sl];
}

static void seg_insert(struct mm_heap *h, struct mmi_block *b)
{
	unsigned fl, sl;
	struct mmi_block **head;

	mapping(mmi_bsize(b), &fl, &sl);
	head = head_of(h, fl, sl);
	b->next_free = *head;
	b->prev_free = NULL;
	if (*head)
		(*head)->prev_free = b;
	*head = b;
	h->fl_bitmap |= (uint64_t)1 << fl;
	h->sl_bitmap[fl] |= 1u << sl;
}

/* 1 when b's list neighbours point back at it (or its list starts at b). */
MMI_NO_ASAN static int seg_linked(struct mm_heap *h, struct mmi_block *b)
{
	unsigned fl, sl;
	struct mmi_block *prev = b->prev_free, *next = b->next_free;

	mapping(mmi_bsize(b), &fl, &sl);
	if (fl >= h->fl_count)
		return 0;
	if (next && (!mmi_arena_of(h, next) || next->prev_free != b))
		return 0;
	if (prev)
		return mmi_arena_of(h, prev) && prev->next_free == b;
	return *head_of(h, fl, sl) == b;
}

/* Unlinks only a block whose links agree: a forged free block cannot turn
 * the unlink into a write to an address of the forger's choosing. */
static void seg_remove(struct mm_heap *h, struct mmi_block *b)
{
	unsigned fl, sl;
	struct mmi_block *prev = b->prev_free, *next = b->next_free;

	if (!seg_linked(h, b))
		mmi_corrupt_locked(h, mmi_payload(b));
	mapping(mmi_bsize(b), &fl, &sl);
	if (next)
		next->prev_free = prev;
	if (prev) {
		prev->next_free = next;
	} else {
		*head_of(h, fl, sl) = next;
		if (!next) {
			h->sl_bitmap[fl] &= ~(1u << sl);
			if (!h->sl_bitmap[fl])
				h->fl_bitmap &= ~((uint64_t)1 << fl);
		}
	}
}

/* The first non-empty list at (fl, sl) or above; 0 if none. */
static int next_nonempty(const struct mm_heap *h, unsigned *fl, unsigned *sl)
{
	uint32_t sl_map;
	uint64_t fl_map;

	if (*fl >= h->fl_count)
		return 0;
	sl_map = *sl < 32 ? h->sl_bitmap[*fl] & (~0u << *sl) : 0;
	if (!sl_map) {
		fl_map = *fl + 1 < 64 ? h->fl_bitmap & (~(uint64_t)0 << (*fl + 1)) : 0;
		if (!fl_map)
			return 0;
		*fl = (unsigned)__builtin_ctzll(fl_map);
		sl_map = h->sl_bitmap[*fl];
	}
	*sl = (unsigned)__builtin_ctz(sl_map);
	return 1;
}

/* The smallest block of at least bsize in one list (first found on ties). */
static struct mmi_block *smallest_in(struct mm_heap *h, struct mmi_block *b, size_t bsize)
{
	struct mmi_block *best = NULL;

	for (; b; b = b->next_free) {
		if (b->next_free)
			mmi_check_link_locked(h, b, b->next_free);
		size_t s = mmi_bsize(b);
		if (s >= bsize && (!best || s < mmi_bsize(best))) {
			best = b;
			if (s == bsize)
				break;
		}
	}
	return best;
}

static struct mmi_block *good_find(struct mm_heap *h, size_t bsize)
{
	size_t rounded = bsize;
	unsigned fl, sl;
	struct mmi_block *b;

	if (bsize >= SMALL_LIMIT)
		rounded += ((size_t)1 << (floor_log2(bsize) - MMI_SL_LOG2)) - 1;
	mapping(rounded, &fl, &sl);
	if (next_nonempty(h, &fl, &sl))
		return *head_of(h, fl, sl);
	/* nothing a list above guarantees: a block of the request's own list
	 * may still fit */
	mapping(bsize, &fl, &sl);
	if (fl >= h->fl_count)
		return NULL;
	for (b = *head_of(h, fl, sl); b; b = b->next_free) {
		if (mmi_bsize(b) >= bsize)
			return b;
		if (b->next_free)
			mmi_check_link_locked(h, b, b->next_free);
	}
	return NULL;
}

static struct mmi_block *best_find(struct mm_heap *h, size_t bsize)
{
	unsigned fl, sl;
	struct mmi_block *b;

	mapping(bsize, &fl, &sl);
	if (fl >= h->fl_count)
		return NULL;
	b = smallest_in(h, *head_of(h, fl, sl), bsize);
	if (b)
		return b;
	if (++sl == MMI_SL_COUNT) {
		sl = 0;
		fl++;
	}
	if (!next_nonempty(h, &fl, &sl))
		return NULL;
	return smallest_in(h, *head_of(h, fl, sl), bsize);
}

static size_t seg_largest(struct mm_heap *h)
{
	unsigned fl;
	size_t most = 0;
	struct mmi_block *b;

	if (!h->fl_bitmap)
		return 0;
	/* the largest block is somewhere in the highest non-empty list */
	fl = 63u - (unsigned)__builtin_clzll(h->fl_bitmap);
	b = *head_of(h, fl, 31u - (unsigned)__builtin_clz(h->sl_bitmap[fl]));
	for (; b; b = b->next_free) {
		if (mmi_bsize(b) > most)
			most = mmi_bsize(b);
		if (b->next_free)
			mmi_check_link_locked(h, b, b->next_free);
	}
	return most;
}

static int seg_check(struct mm_heap *h, size_t nfree)
{
	size_t seen = 0;

	for (unsigned fl = 0; fl < MMI_FL_MAX; fl++) {
		int fl_bit = (h->fl_bitmap >> fl) & 1;
		if (fl >= h->fl_count) {
			if (fl_bit || h->sl_bitmap[fl])
				return -1;
			continue;
		}
		if (fl_bit != (h->sl_bitmap[fl] != 0))
			return -1;
		for (unsigned sl = 0; sl < MMI_SL_COUNT; sl++) {
			struct mmi_block *b = *head_of(h, fl, sl), *prev = NULL;
			int sl_bit = (h->sl_bitmap[fl] >> sl) & 1;

			if (sl_bit != (b != NULL))
				return -1;
			for (; b; prev = b, b = b->next_free) {
				unsigned f, s;
				if (++seen > nfree || !mmi_arena_of(h, b) ||
				    !mmi_in_arenas(h, b, MMI_MIN_BLOCK) ||
				    !(b->head & MMI_FREE) || b->prev_free != prev)
					return -1;
				mapping(mmi_bsize(b), &f, &s);
				if (f != fl || s != sl)
					return -1;
			}
		}
	}
	return seen == nfree ? 0 : -1;
}

const struct mmi_fit mmi_fit_good = {
	"good fit", seg_insert, seg_remove, good_find, seg_check, seg_linked, seg_largest,
};

const struct mmi_fit mmi_fit_best = {
	"best fit", seg_insert, seg_remove, best_find, seg_check, seg_linked, seg_largest,
};
