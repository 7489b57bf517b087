/*
 * The boundary-tag engine: blocks in regions, split on allocation, merged
 * on free.  It holds every block that neither slab pages (shard.c) nor a
 * mapping of its own (large.c) take.
 *
 * Block layout (every address and size a multiple of 16):
 *
 *   in use:  | head: size|flags | cookie | payload ...                    |
 *   free:    | head: size|flags | prev   | next | ...          | size    |
 *            ^ block            ^ +8     ^ +16 (payload)        ^ last 8 bytes
 *
 *   size     bytes from this header to the next block's header; >= 32
 *   FREE     the block is free and in the heap's free index
 *   PREV_FREE the block below is free, so its size sits just below our head
 *   LARGE    the block is alone in a mapping of its own (large.c)
 *   cookie   mmi_cookie() of the address and size under the heap's secret
 *            keys: tells a block start that this heap handed out from
 *            anything else a caller may pass in, and a header whose size
 *            was overwritten from a valid one
 *
 * A region (mm_internal.h) holds a region header, then blocks from
 * region->first, then an end marker: a 16-byte header of size 0 that is
 * never free.  Invariants, all checked by mmi_check_locked() in introspect.c:
 *
 *   1. The blocks of a region tile [first, end marker) exactly.
 *   2. No two neighbouring blocks are both free: free merges at once.
 *   3. A block's PREV_FREE flag equals its lower neighbour's FREE flag (the
 *      first block of a region has it clear).
 *   4. A free block ends with a copy of its size.
 *   5. An in-use block holds its cookie.
 *   6. The free index holds exactly the free blocks, each once, in the list
 *      its policy puts it in (fit_*.c).
 *   7. The counters (in use, free, blocks) agree with the blocks.
 *
 * Allocation takes the low end of a free block and gives the rest back to
 * the index when it can hold a block of its own; an aligned request first
 * cuts a free block below the aligned address.  Everything that changes
 * blocks runs under the heap's lock (none for MM_HEAP_NOLOCK heaps).
 *
 * Nothing a caller can write is trusted: before a free block is unlinked
 * or merged, its size must keep it inside its arena, its footer must
 * match, and its list neighbours must point back at it (fit_*.c); a
 * block's size is covered by its cookie.  Anything else is "heap
 * corruption", reported after the lock is released.
 */
#include <errno.h>
#include <string.h>

#include "mm_internal.h"

static size_t round_up(size_t n, size_t to)
{
	return (n + to - 1) & ~(to - 1);
}

/* The block size serving a request of n bytes (n below MMI_BSIZE_MAX). */
static size_t request_bsize(size_t n)
{
	if (n <= MMI_MIN_BLOCK - MMI_HDR)
		return MMI_MIN_BLOCK;
	return round_up(n + MMI_HDR, MMI_ALIGN);
}

static int is_pool(const struct mm_heap *h)
{
	return (h->flags & MMI_POOL_FLAG) != 0;
}

static struct mmi_block *carve_aligned(struct mm_heap *h, struct mmi_block *b, size_t align);

const struct mmi_fit *const mmi_fits[MMI_FIT_IDS] = {
	[MMI_FIT_ID_GOOD] = &mmi_fit_good,
	[MMI_FIT_ID_BEST] = &mmi_fit_best,
	[MMI_FIT_ID_FIRST] = &mmi_fit_first,
};

static int goes_large(const struct mm_heap *h, size_t bsize)
{
	return h->mmap_threshold && bsize >= h->mmap_threshold && !is_pool(h);
}

/* --- The free index, with the counters kept beside it --------------------- */

static void index_insert(struct mm_heap *h, struct mmi_block *b)
{
	h->st.free_blocks++;
	h->st.free_bytes += mmi_bsize(b) - MMI_HDR;
	MMI_TOOL_OWN(b, sizeof *b);	/* the fit links b (ASan: see tool.h) */
	mmi_fit_of(h)->insert(h, b);
}

/*
 * The free block b of arena r looks like one: FREE, a size that keeps it
 * inside r, its size again in its footer.  Read before b is unlinked or
 * merged; the list links are checked by the fit's remove.
 */
static void check_free_block_locked(struct mm_heap *h, struct mmi_region *r,
	struct mmi_block *b)
{
	size_t head = mmi_head_load(b), size = head & ~(size_t)MMI_FLAGS;
	uintptr_t a = (uintptr_t)b;

	if (!(head & MMI_FREE) || (head & MMI_LARGE) || size < MMI_MIN_BLOCK ||
	    a < (uintptr_t)r->first || size > (uintptr_t)mmi_end_marker(r) - a ||
	    ((size_t *)(a + size))[-1] != size)
		mmi_corrupt_locked(h, mmi_payload(b));
}

static void index_remove(struct mm_heap *h, struct mmi_region *r, struct mmi_block *b)
{
	check_free_block_locked(h, r, b);
	h->st.free_blocks--;
	h->st.free_bytes -= mmi_bsize(b) - MMI_HDR;
	mmi_fit_of(h)->remove(h, b);
}

static void set_used(struct mm_heap *h, struct mmi_block *b, size_t size, size_t flags)
{
	mmi_head_store(b, size | flags);
	mmi_cookie_store(b, mmi_cookie(h, b, size, MMI_TAG_USED));
}

/*
 * A header swallowed by a merge keeps a mark, so that freeing it again is
 * reported as the double free it is (mmi_diagnose_block) and never taken for a
 * live block.
 */
static void mark_merged(struct mm_heap *h, struct mmi_block *b)
{
	mmi_head_store(b, mmi_head_load(b) | MMI_FREE);
	mmi_cookie_store(b, mmi_merged_cookie(h, b));
}

/*
 * Turn the used-or-detached block b of arena r into a free one, merging it
 * with free neighbours, and put the result in the index.  Returns the
 * merged block.  b's own size is trusted (its cookie covered it); the
 * neighbours' headers are checked before they are merged.
 */
static struct mmi_block *block_release(struct mm_heap *h, struct mmi_region *r,
	struct mmi_block *b)
{
	size_t size = mmi_bsize(b);
	struct mmi_block *next = mmi_after(b);

	if ((uintptr_t)next > (uintptr_t)mmi_end_marker(r))
		mmi_corrupt_locked(h, mmi_payload(b));
	if (mmi_head_load(next) & MMI_FREE) {
		index_remove(h, r, next);
		size += mmi_bsize(next);
		mark_merged(h, next);
	}
	if (mmi_head_load(b) & MMI_PREV_FREE) {
		size_t psize = ((size_t *)b)[-1];
		struct mmi_block *prev;

		if (psize < MMI_MIN_BLOCK || (psize & (MMI_ALIGN - 1)) ||
		    psize > (uintptr_t)b - (uintptr_t)r->first)
			mmi_corrupt_locked(h, mmi_payload(b));
		prev = mmi_before(b);
		if (mmi_bsize(prev) != psize)
			mmi_corrupt_locked(h, mmi_payload(prev));
		index_remove(h, r, prev);
		size += psize;
		mark_merged(h, b);
		b = prev;
	}
	mmi_head_store(b, size | MMI_FREE);
	mmi_set_footer(b);
	MMI_ASSERT(!(mmi_head_load(mmi_after(b)) & MMI_FREE));	/* merged: no free neighbour */
	mmi_set_prev_free(mmi_after(b), 1);
	index_insert(h, b);
	return b;
}

/*
 * Make the free block b (already out of the index) an in-use block of bsize
 * bytes; a remainder that can hold a block goes back to the index.
 */
static void take(struct mm_heap *h, struct mmi_block *b, size_t bsize)
{
	size_t size = mmi_bsize(b);
	size_t prev_flag = b->head & MMI_PREV_FREE;

	MMI_ASSERT(size >= bsize && bsize >= MMI_MIN_BLOCK && !(bsize & (MMI_ALIGN - 1)));
	if (size - bsize >= MMI_MIN_BLOCK) {
		struct mmi_block *rest = (struct mmi_block *)((char *)b + bsize);
		mmi_head_store(rest, (size - bsize) | MMI_FREE);
		mmi_set_footer(rest);
		mmi_set_prev_free(mmi_after(rest), 1);
		index_insert(h, rest);
		size = bsize;
	} else {
		mmi_set_prev_free((struct mmi_block *)((char *)b + size), 0);
	}
	set_used(h, b, size, prev_flag);
}

/* Cut the in-use block b of arena r down to bsize bytes, freeing the tail
 * if it can hold a block.  Returns the freed (merged) tail or NULL. */
static struct mmi_block *shrink_used(struct mm_heap *h, struct mmi_region *r,
	struct mmi_block *b, size_t bsize)
{
	size_t size = mmi_bsize(b);
	struct mmi_block *tail;

	if (size - bsize < MMI_MIN_BLOCK) {
		set_used(h, b, size, mmi_head_load(b) & MMI_PREV_FREE);
		return NULL;
	}
	tail = (struct mmi_block *)((char *)b + bsize);
	mmi_head_store(tail, size - bsize);
	set_used(h, b, bsize, mmi_head_load(b) & MMI_PREV_FREE);
	return block_release(h, r, tail);
}

/* --- Regions ------------------------------------------------------------- */

static void link_arena(struct mm_heap *h, struct mmi_region *r)
{
	struct mmi_region **at = &h->arenas, *prev = NULL;

	while (*at && (*at)->start < r->start) {
		prev = *at;
		at = &(*at)->next;
	}
	r->next = *at;
	r->prev = prev;
	if (*at)
		(*at)->prev = r;
	*at = r;
}

static void unlink_region(struct mmi_region **list, struct mmi_region *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		*list = r->next;
	if (r->next)
		r->next->prev = r->prev;
}

static void write_end_marker(struct mm_heap *h, struct mmi_region *r, size_t flags)
{
	set_used(h, mmi_end_marker(r), 0, flags);
}

/* Lay out [start, start+len) as a region holding one free block; NULL
 * (nothing changed) when the pagemap cannot take it. */
static struct mmi_region *new_arena(struct mm_heap *h, uintptr_t start, size_t len,
	unsigned kind)
{
	struct mmi_region *r = (struct mmi_region *)start;
	struct mmi_block *b;

	if (kind != MMI_REGION_POOL && mmi_pagemap_reserve(start, start + len) != 0)
		return NULL;
	memset(r, 0, sizeof *r);
	r->start = start;
	r->end = start + len;
	r->heap = h;
	r->kind = kind;
	r->first = (struct mmi_block *)(start + MMI_REGION_HDR);
	b = r->first;
	b->head = (len - MMI_REGION_HDR - MMI_HDR) | MMI_FREE;
	mmi_set_footer(b);
	write_end_marker(h, r, MMI_PREV_FREE);
	if (kind != MMI_REGION_POOL)
		mmi_pagemap_set(r->start, r->end, r);
	link_arena(h, r);
	h->st.regions++;
	mmi_count_os(h, (long)len);
	index_insert(h, b);
	return r;
}

/* Give the wholly free region r back to the OS. */
static void drop_arena(struct mm_heap *h, struct mmi_region *r)
{
	size_t len = r->end - r->start;

	index_remove(h, r, r->first);
	unlink_region(&h->arenas, r);
	h->st.regions--;
	mmi_count_os(h, -(long)len);
	mmi_pagemap_set(r->start, r->end, NULL);
	if (r->kind == MMI_REGION_MMAP) {
		mmi_os_unmap((void *)r->start, len);
	} else if (!mmi_brk_shrink(r->end, len)) {
		/* Someone moved the break past us: the span stays ours in
		 * name only; at least its pages go back. */
		mmi_os_discard(r->start, r->end);
	}
}

static int wholly_free(struct mmi_region *r)
{
	return (r->first->head & MMI_FREE) && mmi_after(r->first) == mmi_end_marker(r);
}

static struct mmi_region *last_brk_arena(struct mm_heap *h)
{
	struct mmi_region *r, *last = NULL;

	for (r = h->arenas; r; r = r->next)
		if (r->kind == MMI_REGION_BRK)
			last = r;
	return last;
}

/* Extend the heap from the program break; 0 on success. */
static int grow_brk(struct mm_heap *h, size_t len)
{
	struct mmi_region *last = last_brk_arena(h);
	int contiguous = 0;
	uintptr_t base = mmi_brk_extend(last ? last->end : 0, len, &contiguous);

	if (!base)
		return -1;
	if (last && contiguous) {
		/* The old end marker becomes the header of the new span. */
		struct mmi_block *b = mmi_end_marker(last);
		size_t flags = b->head & MMI_PREV_FREE;
		uintptr_t old_end = last->end;

		if (mmi_pagemap_reserve(old_end, old_end + len) != 0) {
			mmi_brk_shrink(old_end + len, len);
			return -1;
		}
		mmi_region_set_end(last, old_end + len);
		mmi_pagemap_resize(last, old_end, last->end);
		write_end_marker(h, last, 0);
		mmi_head_store(b, len | flags);
		block_release(h, last, b);
		mmi_count_os(h, (long)len);
		return 0;
	}
	if (!new_arena(h, base, len, MMI_REGION_BRK)) {
		/* the pagemap cannot take it: the span goes back (or at
		 * least its pages, if something moved the break since) */
		if (!mmi_brk_shrink(base + len, len))
			mmi_os_discard(base, base + len);
		return -1;
	}
	return 0;
}

/* Add at least enough memory for a block of bsize bytes; 0 on success. */
static int grow(struct mm_heap *h, size_t bsize)
{
	size_t page = mmi_page_size();
	size_t need = round_up(bsize + MMI_REGION_HDR + MMI_HDR, page);
	size_t len = need > h->grow_size ? need : round_up(h->grow_size, page);
	void *m;

	if (is_pool(h))
		return -1;
	if ((h->flags & MM_SOURCE_BRK) && grow_brk(h, len) == 0)
		return 0;
	m = mmi_os_map_aligned(len, MMI_GRANULE);
	if (!m) {
		len = need;
		m = mmi_map_reclaiming(len, MMI_GRANULE);
	}
	if (!m)
		return -1;
	if (!new_arena(h, (uintptr_t)m, len, MMI_REGION_MMAP)) {
		mmi_os_unmap(m, len);
		return -1;
	}
	if (h->grow_size < MMI_GROW_MAX)
		h->grow_size *= 2;
	return 0;
}

static struct mmi_block *find_or_grow(struct mm_heap *h, size_t bsize)
{
	struct mmi_block *b = mmi_fit_of(h)->find(h, bsize);

	if (!b && grow(h, bsize) == 0)
		b = mmi_fit_of(h)->find(h, bsize);
	return b;
}

/*
 * Give back part of the free block b, the last of brk region r, by lowering
 * the break; keep pad bytes of it.  The region itself stays, with b's
 * header in its first page: a pointer into it is still known, so a second
 * free of a block given back this way says "double free", not "invalid
 * pointer".  A pad larger than the region keeps everything.  1 if the
 * break went down.
 */
static int brk_trim(struct mm_heap *h, struct mmi_region *r, struct mmi_block *b, size_t pad)
{
	uintptr_t keep_end, min_end = (uintptr_t)b + MMI_MIN_BLOCK + MMI_HDR;
	size_t cut;

	if (pad >= r->end - min_end)
		return 0;
	keep_end = round_up(min_end + pad, mmi_page_size());
	if (keep_end >= r->end)
		return 0;
	cut = r->end - keep_end;
	/* out of the index while b's footer is still mapped; the cut
	 * granules out of the pagemap before another heap can take them */
	index_remove(h, r, b);
	mmi_pagemap_resize(r, r->end, keep_end);
	if (!mmi_brk_shrink(r->end, cut)) {
		mmi_pagemap_set(keep_end, r->end, r);
		index_insert(h, b);
		return 0;
	}
	mmi_region_set_end(r, keep_end);
	mmi_head_store(b, (keep_end - MMI_HDR - (uintptr_t)b) | MMI_FREE);
	mmi_set_footer(b);
	write_end_marker(h, r, MMI_PREV_FREE);
	index_insert(h, b);
	mmi_count_os(h, -(long)cut);
	return 1;
}

/* Freed spans smaller than this keep their pages. */
#define DISCARD_MIN ((size_t)64 * 1024)

/* Return the pages of the free block b past its first keep bytes (0: all
 * of them), never those of its header, links and footer. */
static void discard_free_above(struct mmi_block *b, size_t keep)
{
	size_t used = MMI_HDR + 2 * sizeof(void *);
	uintptr_t lo = (uintptr_t)b + (keep > used ? keep : used);
	uintptr_t hi = (uintptr_t)mmi_after(b) - sizeof(size_t);

	if (lo < hi)
		mmi_os_discard(lo, hi);
}

static int other_idle_arena(struct mm_heap *h, struct mmi_region *r)
{
	struct mmi_region *q;

	for (q = h->arenas; q; q = q->next)
		if (q != r && q->kind == MMI_REGION_MMAP && wholly_free(q))
			return 1;
	return 0;
}

/*
 * After freeing freed_len bytes that merged into the free block b of r:
 * a wholly free mapping goes back (but one small one is kept, so that a
 * program allocating and freeing one block makes no system call), a
 * large free top of the break lowers it, and a large freed span gives its
 * pages back.
 */
static void after_release(struct mm_heap *h, struct mmi_region *r, struct mmi_block *b,
	size_t freed_len)
{
	if (r->kind == MMI_REGION_POOL)
		return;
	if (r->kind == MMI_REGION_MMAP && wholly_free(r) &&
	    (r->end - r->start > MMI_IDLE_KEEP_MAX || other_idle_arena(h, r))) {
		drop_arena(h, r);
		return;
	}
	/* the break keeps trim_threshold bytes free at its top, so that a
	 * program freeing and allocating the same block near the top makes
	 * no system call; more than that goes once it has stayed free for
	 * the decay interval (decay_locked), so that a program whose
	 * heap swells and shrinks in phases does not fault it in each time
	 * (threshold 0 or decay 0: the seed's shrink at once) */
	if (r->kind == MMI_REGION_BRK && mmi_after(b) == mmi_end_marker(r) &&
	    mmi_bsize(b) >= h->trim_threshold) {
		if (!h->trim_threshold || !h->decay_ms) {
			if (brk_trim(h, r, b, h->trim_threshold))
				return;
		} else if (!h->top_free_since) {
			h->top_free_since = mmi_now_ms();
		}
	}
	/* a large freed span gives its pages back after the decay interval
	 * (decay 0: at once), all but the first trim_threshold bytes of each
	 * free block (where the next request of that size will land):
	 * freeing and allocating big blocks in turn does not fault their
	 * pages in each time */
	if (freed_len >= DISCARD_MIN && mmi_bsize(b) >= h->trim_threshold) {
		if (!h->decay_ms)
			discard_free_above(b, h->trim_threshold);
		else if (!h->discard_since)
			h->discard_since = mmi_now_ms();
	}
}

/* --- Finding and checking a caller's block --------------------------------- */

struct mmi_region *mmi_arena_of(const struct mm_heap *h, const void *p)
{
	uintptr_t a = (uintptr_t)p;
	struct mmi_region *r;

	if (a & (MMI_ALIGN - 1))
		return NULL;
	if (is_pool(h))
		r = h->arenas;
	else if (!(r = mmi_region_of(a)) || r->heap != h ||
		 (r->kind != MMI_REGION_MMAP && r->kind != MMI_REGION_BRK))
		return NULL;
	if (a < (uintptr_t)r->first || a >= (uintptr_t)mmi_end_marker(r))
		return NULL;
	return r;
}

void mmi_check_link_locked(struct mm_heap *h, struct mmi_block *b, struct mmi_block *link)
{
	if (!mmi_arena_of(h, link))
		mmi_corrupt_locked(h, mmi_payload(b));
}

/* The arena holding the free block b that the index handed out. */
static struct mmi_region *arena_of_free_or_die(struct mm_heap *h, struct mmi_block *b)
{
	struct mmi_region *r = mmi_arena_of(h, b);

	if (!r)
		mmi_corrupt_locked(h, mmi_payload(b));
	return r;
}

/*
 * The region holding block p.  With h given, p must belong to h; with h
 * NULL, to any heap that takes memory from the OS.  Dies on anything else.
 */
static struct mmi_region *region_of_or_die(struct mm_heap *h, const void *p, enum mmi_op op)
{
	uintptr_t a = (uintptr_t)p;
	struct mmi_region *r;

	if (a & (MMI_ALIGN - 1)) {
		int inside = mmi_region_of(a) ||
			     (h && is_pool(h) && a > h->arenas->start && a < h->arenas->end);
		mmi_fatal(inside ? "pointer into the middle of a block" : "invalid pointer", p);
	}
	if (h && is_pool(h)) {
		r = h->arenas;
		if (a >= (uintptr_t)r->first + MMI_HDR && a < r->end)
			return r;
	}
	r = mmi_region_of(a);
	if (r) {
		if (h && r->heap != h)
			mmi_fatal("pointer from another heap", p);
		return r;
	}
	if (mmi_large_was_freed(p))
		mmi_fatal(mmi_misuse_by("double free", op), p);
	mmi_fatal("invalid pointer", p);
}

/* The in-use block at p in arena r; with the lock held.  Anything else
 * ends the process, after the lock is released. */
static struct mmi_block *used_block_or_die_locked(struct mm_heap *h, struct mmi_region *r,
	const void *p, enum mmi_op op)
{
	struct mmi_block *b = mmi_block_of(p);
	uintptr_t a = (uintptr_t)b;

	if (a < (uintptr_t)r->first || a >= (uintptr_t)mmi_end_marker(r) ||
	    (mmi_head_load(b) & (MMI_FREE | MMI_LARGE)) ||
	    mmi_cookie_load(b) != mmi_used_cookie(h, b))
		mmi_die_bad_block(h, r, p, 1, op);
	return b;
}

/* --- Allocation ------------------------------------------------------------ */

int mmi_pool_init(struct mm_heap *h, uintptr_t lo, uintptr_t hi)
{
	if (hi <= lo || hi - lo < MMI_REGION_HDR + MMI_MIN_BLOCK + MMI_HDR)
		return -1;
	h->flags |= MMI_POOL_FLAG;
	h->mmap_threshold = 0;
	new_arena(h, lo, hi - lo, MMI_REGION_POOL);
	return 0;
}

/* Take the free block b, which the index handed out, for bsize bytes;
 * with align above 16, from the first suitably aligned address in it. */
static void take_found(struct mm_heap *h, struct mmi_block **bp, size_t bsize, size_t align)
{
	struct mmi_block *b = *bp;

	index_remove(h, arena_of_free_or_die(h, b), b);
	if (align > MMI_ALIGN)
		b = carve_aligned(h, b, align);
	take(h, b, bsize);
	mmi_count_use(h, (long)(mmi_bsize(b) - MMI_HDR), 1);
	h->st.alloc_count++;
	*bp = b;
}

/* With the lock, on a slow path, once the decay interval has passed:
 * the break's top, free beyond trim_threshold since then, goes down to
 * trim_threshold; the free blocks of DISCARD_MIN and more give back their
 * pages past their first trim_threshold bytes (a walk of the regions'
 * blocks: at most once an interval, and only after a large free). */
static void decay_locked(struct mm_heap *h)
{
	uint64_t now;
	struct mmi_region *r;
	struct mmi_block *b;

	if (!h->top_free_since && !h->discard_since)
		return;
	now = mmi_now_ms();
	if (h->discard_since && now - h->discard_since >= h->decay_ms) {
		h->discard_since = 0;
		for (r = h->arenas; r; r = r->next) {
			struct mmi_block *end = mmi_end_marker(r);

			for (b = r->first; b < end; b = mmi_after(b))
				if ((mmi_head_load(b) & MMI_FREE) && mmi_bsize(b) >= DISCARD_MIN &&
				    mmi_bsize(b) >= h->trim_threshold)
					discard_free_above(b, h->trim_threshold);
		}
	}
	if (!h->top_free_since || now - h->top_free_since < h->decay_ms)
		return;
	h->top_free_since = 0;
	r = last_brk_arena(h);
	if (!r || !(mmi_head_load(mmi_end_marker(r)) & MMI_PREV_FREE))
		return;
	b = mmi_before(mmi_end_marker(r));
	check_free_block_locked(h, r, b);
	if (mmi_bsize(b) >= h->trim_threshold)
		brk_trim(h, r, b, h->trim_threshold);
}

/* A block of bsize bytes aligned to align, from a free block of at least
 * need bytes (found or grown) under the heap's lock; NULL and ENOMEM. */
static void *take_or_enomem(struct mm_heap *h, size_t need, size_t bsize, size_t align)
{
	struct mmi_block *b;

	/* a slow path: what was kept for the decay interval may go now */
	mmi_large_cache_purge(0);
	mmi_lock(h);
	decay_locked(h);
	b = find_or_grow(h, need);
	if (b)
		take_found(h, &b, bsize, align);
	mmi_unlock(h);
	if (!b) {
		errno = ENOMEM;
		return NULL;
	}
	return mmi_payload(b);
}

/* *fresh is set when the block comes straight from the kernel, zeroed. */
static void *alloc(struct mm_heap *h, size_t size, int *fresh)
{
	size_t bsize;

	*fresh = 0;
	if ((h->flags & MMI_SLAB_FLAG) && size <= MMI_SLAB_MAX_BSIZE) {
		struct mmi_shard *s = mmi_thread_shard(h);
		/* the secure mode's slots are drawn at random (slab.c):
		 * never the fast pop */
		void *p = !s ? NULL : MMI_UNLIKELY(mmi_secure_mode) ? mmi_shard_alloc_scattered(s, size)
								    : mmi_shard_alloc(s, size);
		if (MMI_LIKELY(p != NULL))
			return p;
		/* no shard now, or no memory for a segment: the block engine */
	}
	if (size >= MMI_BSIZE_MAX) {
		errno = ENOMEM;
		return NULL;
	}
	bsize = request_bsize(size);
	if (goes_large(h, bsize))
		return mmi_large_alloc(h, size, MMI_ALIGN, fresh);
	return take_or_enomem(h, bsize, bsize, MMI_ALIGN);
}

/* Whether h's calls go through the secure mode's checks (secure.c): every
 * heap but pools when it is on.  h NULL: the block's own heap, which is
 * no pool (a pool's blocks are freed through their heap). */
static int secure(const struct mm_heap *h)
{
	return MMI_UNLIKELY(mmi_secure_mode) && !(h && is_pool(h));
}

void *mmi_alloc(struct mm_heap *h, size_t size)
{
	int fresh;

	if (secure(h))
		return mmi_secure_alloc(h, size, MMI_ALIGN, 0);
	return alloc(h, size, &fresh);
}

void *mmi_calloc(struct mm_heap *h, size_t nmemb, size_t size)
{
	size_t total;
	int fresh;
	void *p;

	if (__builtin_mul_overflow(nmemb, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	if (secure(h))
		return mmi_secure_alloc(h, total, MMI_ALIGN, 1);
	p = alloc(h, total, &fresh);
	if (p && !fresh)
		memset(p, 0, total);
	return p;
}

/* Cut a free block below the first address in b aligned to align, leaving
 * room for a whole free block there; returns the block that starts at it. */
static struct mmi_block *carve_aligned(struct mm_heap *h, struct mmi_block *b, size_t align)
{
	uintptr_t pay = (uintptr_t)mmi_payload(b);
	uintptr_t at = (pay + align - 1) & ~(uintptr_t)(align - 1);
	struct mmi_block *nb;
	size_t gap;

	if (at == pay)
		return b;
	if (at - pay < MMI_MIN_BLOCK)
		at += align;
	gap = at - pay;
	nb = mmi_block_of((void *)at);
	mmi_head_store(nb, (mmi_bsize(b) - gap) | MMI_PREV_FREE);
	mmi_head_store(b, gap | MMI_FREE);
	mmi_set_footer(b);
	index_insert(h, b);
	return nb;
}

static void *aligned(struct mm_heap *h, size_t align, size_t size)
{
	size_t bsize;
	int fresh;

	if (align <= MMI_ALIGN)
		return alloc(h, size, &fresh);
	if (size >= MMI_BSIZE_MAX || align >= MMI_BSIZE_MAX / 2) {
		errno = ENOMEM;
		return NULL;
	}
	bsize = request_bsize(size);
	if (goes_large(h, bsize + align))
		return mmi_large_alloc(h, size, align, &fresh);
	return take_or_enomem(h, bsize + align + MMI_MIN_BLOCK, bsize, align);
}

void *mmi_aligned(struct mm_heap *h, size_t align, size_t size)
{
	if (secure(h))
		return mmi_secure_alloc(h, size, align, 0);
	return aligned(h, align, size);
}

void *mmi_engine_alloc(struct mm_heap *h, size_t align, size_t size)
{
	return aligned(h, align, size);
}

/* Free the in-use block b, whose region is r (not counted as a call). */
static void free_locked(struct mm_heap *h, struct mmi_region *r, struct mmi_block *b)
{
	size_t size = mmi_bsize(b);

	mmi_count_use(h, -(long)(size - MMI_HDR), -1);
	b = block_release(h, r, b);
	after_release(h, r, b, size);
}

/* The slab slot p of segment r must be in use: the verdict's message,
 * or NULL when it is. */
static const char *slab_misuse(enum mmi_slab_verdict v)
{
	switch (v) {
	case MMI_SLAB_OK:
		return NULL;
	case MMI_SLAB_DOUBLE_FREE:
		return "double free";
	case MMI_SLAB_MIDDLE:
		return "pointer into the middle of a block";
	default:
		return "invalid pointer";
	}
}

/* The block size of the in-use slab slot p, or death with the reason. */
static size_t slab_used_size_or_die(struct mmi_region *r, const void *p, enum mmi_op op)
{
	struct mmi_segment *seg = (struct mmi_segment *)r;
	struct mmi_slab_page *pg = mmi_slab_page_of(seg, p);
	const char *why = slab_misuse(mmi_slab_verdict(pg, p));

	if (why)
		mmi_fatal(mmi_misuse_by(why, op), p);
	return pg->bsize;
}

void mmi_free(struct mm_heap *h, void *p)
{
	if (secure(h))
		mmi_secure_free(h, p);
	else
		mmi_engine_free(h, p);
}

void mmi_engine_free(struct mm_heap *h, void *p)
{
	struct mmi_region *r = region_of_or_die(h, p, MMI_OP_FREE);

	h = r->heap;
	if (r->kind == MMI_REGION_SEGMENT) {
		const char *why = slab_misuse(mmi_shard_free(mmi_thread_shard_if_any(h),
							     (struct mmi_segment *)r, p));
		if (why)
			mmi_fatal(why, p);
		return;
	}
	if (r->kind == MMI_REGION_LARGE) {
		mmi_large_free(h, r, p);
		return;
	}
	mmi_lock(h);
	free_locked(h, r, used_block_or_die_locked(h, r, p, MMI_OP_FREE));
	h->st.free_count++;
	mmi_unlock(h);
}

void *mmi_realloc(struct mm_heap *h, void *p, size_t size)
{
	if (secure(h))
		return mmi_secure_realloc(h, p, size);
	return mmi_engine_realloc(h, p, size);
}

void *mmi_engine_realloc(struct mm_heap *h, void *p, size_t size)
{
	struct mmi_region *r;
	struct mmi_block *b, *next;
	size_t bsize, have;
	void *q;

	if (!p)
		return mmi_alloc(h ? h : mmi_default_heap(), size);
	if (size == 0) {
		mmi_free(h, p);
		return NULL;
	}
	r = region_of_or_die(h, p, MMI_OP_REALLOC);
	h = r->heap;
	if (r->kind == MMI_REGION_SEGMENT) {
		/* a slot keeps its size: it stays while the request fits */
		have = slab_used_size_or_die(r, p, MMI_OP_REALLOC);
		if (size <= have)
			return p;
		q = mmi_alloc(h, size);
		if (!q)
			return NULL;
		MMI_TOOL_OWN(q, have);
		memcpy(q, p, have);
		MMI_TOOL_MOVED(h, p, have);
		mmi_free(h, p);
		return q;
	}
	if (r->kind == MMI_REGION_LARGE)
		return mmi_large_realloc(h, r, p, size);
	mmi_lock(h);
	b = used_block_or_die_locked(h, r, p, MMI_OP_REALLOC);
	have = mmi_bsize(b);
	if (size >= MMI_BSIZE_MAX) {
		mmi_unlock(h);
		errno = ENOMEM;
		return NULL;
	}
	bsize = request_bsize(size);
	if (bsize <= have) {
		struct mmi_block *tail;

		/* slack left by a growth (below) stays for the next one */
		if (!is_pool(h) && bsize > have - have / 4) {
			mmi_unlock(h);
			return p;
		}
		tail = shrink_used(h, r, b, bsize);
		if (tail) {
			mmi_count_use(h, -(long)(have - bsize), 0);
			after_release(h, r, tail, have - bsize);
		}
		mmi_unlock(h);
		return p;
	}
	next = mmi_after(b);
	if (!goes_large(h, bsize) && (mmi_head_load(next) & MMI_FREE) &&
	    have + mmi_bsize(next) >= bsize) {
		/* grow into the free block above, by a quarter more than asked
		 * where it has room: a buffer grown a little at a time comes
		 * back here once per quarter, not once per call */
		size_t room = have + mmi_bsize(next), want = bsize;

		if (!is_pool(h))
			want = round_up(bsize + bsize / 4, MMI_ALIGN);
		if (want > room)
			want = room;
		index_remove(h, r, next);
		mmi_head_store(b, mmi_head_load(b) + mmi_bsize(next));
		mmi_set_prev_free(mmi_after(b), 0);
		shrink_used(h, r, b, want);
		mmi_count_use(h, (long)(mmi_bsize(b) - have), 0);
		mmi_unlock(h);
		return p;
	}
	mmi_unlock(h);
	q = mmi_alloc(h, size);
	if (!q)
		return NULL;
	MMI_TOOL_OWN(q, have - MMI_HDR);
	memcpy(q, p, have - MMI_HDR);
	MMI_TOOL_MOVED(h, p, have - MMI_HDR);
	mmi_free(h, p);
	return q;
}

size_t mmi_engine_usable(struct mm_heap *h, const void *p, enum mmi_op op,
	struct mmi_region **where)
{
	struct mmi_region *r = region_of_or_die(h, p, op);
	struct mmi_block *b;
	size_t n;

	*where = r;
	h = r->heap;
	if (r->kind == MMI_REGION_SEGMENT)
		return slab_used_size_or_die(r, p, op);
	if (r->kind == MMI_REGION_LARGE) {
		mmi_large_validate(r, p, op);
		return mmi_bsize(mmi_block_of(p)) - MMI_HDR;
	}
	mmi_lock(h);
	b = used_block_or_die_locked(h, r, p, op);
	n = mmi_bsize(b) - MMI_HDR;
	mmi_unlock(h);
	return n;
}

size_t mmi_usable_for(struct mm_heap *h, const void *p, enum mmi_op op)
{
	struct mmi_region *r;

	if (secure(h))
		return mmi_secure_usable(h, p, op);
	return mmi_engine_usable(h, p, op, &r);
}

size_t mmi_usable(struct mm_heap *h, const void *p)
{
	return mmi_usable_for(h, p, MMI_OP_SIZE);
}

/* --- Giving memory back ---------------------------------------------------- */

/* Release what is free in h, keeping *pad bytes of it; 1 if anything went. */
int mmi_trim_locked(struct mm_heap *h, size_t *pad)
{
	struct mmi_region *r, *next;
	int released = 0;

	if (is_pool(h))
		return 0;
	for (r = h->arenas; r; r = next) {
		struct mmi_block *b, *end = mmi_end_marker(r);
		size_t len = r->end - r->start;

		next = r->next;
		if (wholly_free(r)) {
			if (*pad >= len) {
				*pad -= len;
				discard_free_above(r->first, 0);
				continue;
			}
			if (r->kind == MMI_REGION_MMAP ||
			    brk_trim(h, r, r->first, 0)) {
				if (r->kind == MMI_REGION_MMAP)
					drop_arena(h, r);
				released = 1;
				continue;
			}
		}
		for (b = r->first; b < end; b = mmi_after(b)) {
			if (!(b->head & MMI_FREE))
				continue;
			if (r->kind == MMI_REGION_BRK && mmi_after(b) == end &&
			    brk_trim(h, r, b, *pad)) {
				*pad = 0;
				released = 1;
				break;
			}
			if (mmi_bsize(b) >= 2 * mmi_page_size() + MMI_MIN_BLOCK) {
				discard_free_above(b, 0);
				released = 1;
			}
		}
	}
	return released;
}
