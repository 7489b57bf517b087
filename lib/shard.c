/*
 * Shards: one thread's part of a heap's slab pages (mm_internal.h).
 *
 * A shard owns segments and the pages it carved from them; its thread
 * allocates from them and frees onto them without a lock.  For each size
 * class it keeps a direct page (one with free slots: the fast path) and a
 * queue of all its pages of that class.  A block freed by another thread
 * goes onto its page's remote list (slab.c), collected here when the
 * direct page runs dry.
 *
 * A thread that exits abandons its shard: one push onto the heap's stack
 * of abandoned shards, no lock, nothing flushed.  A new thread adopts an
 * abandoned shard whole (popping under shards_lock: one popper at a time
 * and pushes that only add make the stack free of ABA) and rebuilds each
 * page from its state bytes, so a shard whose thread stopped anywhere --
 * even in the middle of a malloc, as across fork -- is taken over intact.
 * Shards are never freed: there are at most as many as threads ever ran
 * at once.
 */
#include <string.h>

#include "mm_internal.h"

static pthread_mutex_t shards_lock = PTHREAD_MUTEX_INITIALIZER;

struct mmi_shard mmi_shard_none = {
	.direct = { [0 ... MMI_SLAB_STEPS - 1] = &mmi_slab_page_none },
};

/* The direct page is kept under every size step of its class, so that the
 * fast path goes from a size to a page without the class table. */
static void direct_set(struct mmi_shard *s, unsigned cls, struct mmi_slab_page *pg)
{
	unsigned first = cls ? mmi_slab_class_bsize[cls - 1] / 16 + 1 : 0;

	for (unsigned k = first; k <= mmi_slab_class_bsize[cls] / 16u; k++)
		s->direct[k] = pg;
}

static struct mmi_slab_page *direct_get(const struct mmi_shard *s, unsigned cls)
{
	return s->direct[mmi_slab_class_bsize[cls] / 16];
}

static void direct_reset(struct mmi_shard *s)
{
	for (unsigned k = 0; k < MMI_SLAB_STEPS; k++)
		s->direct[k] = &mmi_slab_page_none;
}

void mmi_shards_lock(void)
{
	pthread_mutex_lock(&shards_lock);
}

int mmi_shards_trylock(void)
{
	return pthread_mutex_trylock(&shards_lock);
}

void mmi_shards_unlock(void)
{
	pthread_mutex_unlock(&shards_lock);
}

/* --- abandon and adopt ------------------------------------------------------ */

void mmi_shard_abandon(struct mmi_shard *s)
{
	struct mm_heap *h = s->heap;
	struct mmi_shard *head = __atomic_load_n(&h->abandoned, __ATOMIC_RELAXED);

	__atomic_store_n(&s->abandoned, 1, __ATOMIC_RELAXED);
	do {
		MMI_TEST_HOOK(shard_abandon_push);
		s->next_abandoned = head;
	} while (!__atomic_compare_exchange_n(&h->abandoned, &head, s, 1,
					      __ATOMIC_RELEASE, __ATOMIC_RELAXED));
}

/* Take over s: every page rebuilt from its state bytes, every direct page
 * reconsidered. */
static void shard_take_over(struct mmi_shard *s)
{
	direct_reset(s);
	for (unsigned c = 0; c < MMI_SLAB_CLASSES; c++) {
		for (struct mmi_slab_page *pg = s->queue[c]; pg; pg = pg->next) {
			struct mmi_segment *seg = mmi_segment_of(pg);
			mmi_slab_rebuild(seg, pg);
			mmi_slab_collect(seg, pg);
		}
	}
	__atomic_store_n(&s->abandoned, 0, __ATOMIC_RELAXED);
}

static struct mmi_shard *adopt(struct mm_heap *h)
{
	struct mmi_shard *s, *next;

	pthread_mutex_lock(&shards_lock);
	s = __atomic_load_n(&h->abandoned, __ATOMIC_ACQUIRE);
	do {
		if (!s)
			break;
		next = s->next_abandoned;
	} while (!__atomic_compare_exchange_n(&h->abandoned, &s, next, 1,
					      __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE));
	pthread_mutex_unlock(&shards_lock);
	if (s)
		shard_take_over(s);
	return s;
}

struct mmi_shard *mmi_shard_acquire(struct mm_heap *h)
{
	struct mmi_shard *s = adopt(h);
	size_t len = (sizeof *s + mmi_page_size() - 1) & ~(mmi_page_size() - 1);

	if (s)
		return s;
	s = mmi_os_map(len);	/* zeroed */
	if (!s)
		return NULL;
	s->heap = h;
	direct_reset(s);
	pthread_mutex_lock(&shards_lock);
	s->next_shard = h->shards;
	__atomic_store_n(&h->shards, s, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&shards_lock);
	return s;
}

static void shard_sweep(struct mmi_shard *s);

/* --- allocation --------------------------------------------------------------- */

static void queue_add(struct mmi_shard *s, struct mmi_slab_page *pg)
{
	pg->prev = NULL;
	pg->next = s->queue[pg->cls];
	if (pg->next)
		pg->next->prev = pg;
	s->queue[pg->cls] = pg;
	s->queued++;
}

static void queue_remove(struct mmi_shard *s, struct mmi_slab_page *pg)
{
	if (pg->prev)
		pg->prev->next = pg->next;
	else
		s->queue[pg->cls] = pg->next;
	if (pg->next)
		pg->next->prev = pg->prev;
	if (direct_get(s, pg->cls) == pg)
		direct_set(s, pg->cls, &mmi_slab_page_none);
	s->queued--;
}

/*
 * Pages of other classes that have emptied leave their class before a
 * page is taken fresh, their memory kept (parked), so a program whose
 * blocks move from size to size -- buffers grown by realloc -- reuses
 * them at once instead of holding a page per size it went through until
 * the decay.  A page goes when two passes in a row find it empty (one
 * that empties and fills all the time stays).  Each pass costs a look at
 * every page, so it runs only once pages taken since the last pass reach
 * an eighth of those queued: a constant cost per page taken (a program
 * that allocates and frees one block takes no page).  Beyond the first
 * MMI_PARKED_RESIDENT, the pages found empty lose their memory at once:
 * the footprint does not keep a page for every size a program went
 * through.
 */
#define MMI_PARKED_RESIDENT 16
static void park_empty_pages(struct mmi_shard *s)
{
	unsigned kept = 0;
	uint64_t now;

	if (++s->fresh_since_park < 4 + s->queued / 8)
		return;
	s->fresh_since_park = 0;
	now = mmi_now_ms();
	/* walkers read pages and states under shards_lock */
	mmi_shards_lock();
	for (unsigned c = 0; c < MMI_SLAB_CLASSES; c++) {
		struct mmi_slab_page *pg = s->queue[c], *next;

		for (; pg; pg = next) {
			struct mmi_segment *seg = mmi_segment_of(pg);

			next = pg->next;
			mmi_slab_collect(seg, pg);
			if (!mmi_slab_page_empty(pg)) {
				pg->idle_since = 0;
				continue;
			}
			/* found empty twice: not a page that empties and
			 * fills again all the time */
			if (!pg->idle_since) {
				pg->idle_since = mmi_idle_stamp(now);
				continue;
			}
			queue_remove(s, pg);
			if (kept < MMI_PARKED_RESIDENT) {
				mmi_segment_page_park(seg, pg, now);
				kept++;
				continue;
			}
			mmi_os_discard(pg->area, pg->area + MMI_SLAB_PAGE);
			mmi_segment_page_return(seg, pg);
		}
	}
	mmi_shards_unlock();
}

/* A page without a class from one of s's segments, or a new segment. */
static struct mmi_slab_page *page_fresh(struct mmi_shard *s, unsigned cls)
{
	struct mmi_segment *seg;
	struct mmi_slab_page *pg = NULL;

	park_empty_pages(s);
	for (seg = s->segments; seg && !pg; seg = seg->next)
		pg = mmi_segment_page_take(seg);
	if (!pg) {
		seg = mmi_segment_alloc(s->heap);
		if (!seg)
			return NULL;
		seg->shard = s;
		seg->next = s->segments;
		/* walkers read the list under shards_lock, without the owner */
		__atomic_store_n(&s->segments, seg, __ATOMIC_RELEASE);
		pg = mmi_segment_page_take(seg);
	}
	mmi_slab_page_init(mmi_segment_of(pg), pg, cls, s);
	queue_add(s, pg);
	return pg;
}

/* The direct page of cls ran dry: its remote frees, then another page of
 * the class with room (remote frees collected on the way), then a fresh
 * page.  The empty direct page stays in the queue: a program that frees
 * and allocates one block does not give its page back and take it again. */
static void *alloc_slow(struct mmi_shard *s, unsigned cls)
{
	struct mmi_slab_page *pg = direct_get(s, cls);
	void *p;

	if (pg != &mmi_slab_page_none && mmi_slab_collect(mmi_segment_of(pg), pg) &&
	    (p = mmi_slab_alloc(pg)))
		return p;
	for (pg = s->queue[cls]; pg; pg = pg->next) {
		struct mmi_segment *seg = mmi_segment_of(pg);

		if (pg == direct_get(s, cls))
			continue;
		mmi_slab_collect(seg, pg);
		if ((p = mmi_slab_alloc(pg))) {
			direct_set(s, cls, pg);
			return p;
		}
	}
	pg = page_fresh(s, cls);
	if (!pg)
		return NULL;
	direct_set(s, cls, pg);
	return mmi_slab_alloc(pg);
}

/* The direct page of cls has no free slot on its list (mmi_shard_alloc);
 * NULL for mmi_shard_none. */
void *mmi_shard_alloc_slow(struct mmi_shard *s, size_t size)
{
	unsigned cls = mmi_slab_class(size);
	void *p;

	if (s == &mmi_shard_none)
		return NULL;
	mmi_large_cache_purge(0);	/* a slow path: kept mappings may expire */
	shard_sweep(s);
	/* the fast path gives up on a list whose head is not sound: die here */
	p = mmi_slab_alloc(direct_get(s, cls));	/* none: no slot to carve */

	if (!p)
		p = alloc_slow(s, cls);
	if (p)
		mmi_shard_count(&s->allocs);
	return p;
}

void *mmi_shard_alloc_scattered(struct mmi_shard *s, size_t size)
{
	void *p = mmi_slab_alloc(direct_get(s, mmi_slab_class(size)));	/* scattered */

	if (p) {
		mmi_shard_count(&s->allocs);
		return p;
	}
	return mmi_shard_alloc_slow(s, size);
}

/* --- free ------------------------------------------------------------------------ */

/* --- memory back ------------------------------------------------------------------ */

/* Whether pg, collected and empty, has been so for idle_ms at now. */
static int idle_enough(const struct mmi_slab_page *pg, uint64_t now, uint64_t idle_ms)
{
	return !idle_ms || (pg->idle_since && (uint32_t)((uint32_t)now - pg->idle_since) >= idle_ms);
}

/* Parked pages of s (free, memory kept) idle for idle_ms at now (all of
 * them: 0) lose their memory; 1 if any did.  count_only: only say so. */
static int parked_release(struct mmi_shard *s, uint64_t now, uint64_t idle_ms, int count_only)
{
	int any = 0;

	for (struct mmi_segment *seg = s->segments; seg; seg = seg->next)
		for (size_t i = MMI_SLAB_FIRST_PAGE; i < MMI_SLAB_PAGES; i++) {
			struct mmi_slab_page *pg = &seg->pages[i];

			if (pg->in_use || !pg->resident || !idle_enough(pg, now, idle_ms))
				continue;
			any = 1;
			if (count_only)
				return 1;
			mmi_os_discard(pg->area, pg->area + MMI_SLAB_PAGE);
			pg->resident = 0;
		}
	return any;
}

/*
 * What s holds empty goes back -- all of it (idle_ms 0), or what sweeps
 * found empty idle_ms ago: pages with no slot in use lose their class and
 * their memory (MADV_DONTNEED), as do parked pages idle as long; segments
 * with no page in use are unmapped.
 * 1 if anything went.  Under shards_lock (walkers may be reading the
 * segments), by s's thread or for an abandoned s.  With idle_ms, the
 * owner's sweep has just collected and counted every page: a page it
 * marked idle has no slot in use, and only its owner could change that.
 */
static int shard_release(struct mmi_shard *s, uint64_t now, uint64_t idle_ms)
{
	struct mmi_segment **at = &s->segments;
	int released = 0;

	for (unsigned c = 0; c < MMI_SLAB_CLASSES; c++) {
		struct mmi_slab_page *pg = s->queue[c], *next;

		for (; pg; pg = next) {
			struct mmi_segment *seg = mmi_segment_of(pg);

			next = pg->next;
			if (!idle_ms)
				mmi_slab_collect(seg, pg);
			if (idle_ms ? !idle_enough(pg, now, idle_ms) : !mmi_slab_page_empty(pg))
				continue;
			queue_remove(s, pg);
			mmi_os_discard(pg->area, pg->area + MMI_SLAB_PAGE);
			mmi_segment_page_return(seg, pg);
			released = 1;
		}
	}
	released |= parked_release(s, now, idle_ms, 0);
	while (*at) {
		struct mmi_segment *seg = *at;

		if (seg->free_pages == MMI_SLAB_PAGES - MMI_SLAB_FIRST_PAGE) {
			__atomic_store_n(at, seg->next, __ATOMIC_RELEASE);
			mmi_segment_free(seg);
			released = 1;
		} else {
			at = &seg->next;
		}
	}
	return released;
}

int mmi_shard_trim(struct mmi_shard *s)
{
	return shard_release(s, 0, 0);
}

/*
 * Decay, on the owner's slow path: every half decay interval of the heap,
 * note which pages are empty since when; those empty for the whole
 * interval go back (so a page that empties and fills again within it is
 * never returned and re-initialised), and segments left without a page
 * with them.  Nothing runs in the background: a thread that stops
 * allocating keeps its pages until mm_trim or its next slow path.
 */
static void shard_sweep(struct mmi_shard *s)
{
	uint64_t now = mmi_now_ms(), decay = s->heap->decay_ms;
	uint64_t idle = decay ? decay : 1;	/* 0 would mean "all" below */
	int due = 0;

	if (now < s->next_sweep)
		return;
	s->next_sweep = now + (decay / 2 ? decay / 2 : 1);
	for (unsigned c = 0; c < MMI_SLAB_CLASSES; c++)
		for (struct mmi_slab_page *pg = s->queue[c]; pg; pg = pg->next) {
			mmi_slab_collect(mmi_segment_of(pg), pg);
			if (!mmi_slab_page_empty(pg)) {
				pg->idle_since = 0;
				continue;
			}
			if (!pg->idle_since)
				pg->idle_since = mmi_idle_stamp(now);
			due |= idle_enough(pg, now, idle);
		}
	if (!due)
		due = parked_release(s, now, idle, 1);
	if (due) {
		mmi_shards_lock();
		shard_release(s, now, idle);
		mmi_shards_unlock();
	}
}

/* --- fork ---------------------------------------------------------------------------- */

/* In the child of fork: only the forking thread is left.  Every other
 * shard of h that had a thread is abandoned, to be adopted (and rebuilt
 * from its state bytes) by the child's next new thread.  shards_lock is
 * held across the fork (init.c), so no adoption was half done. */
void mmi_shards_after_fork_child(struct mm_heap *h, struct mmi_shard *mine)
{
	for (struct mmi_shard *s = h->shards; s; s = s->next_shard) {
		int on_stack = 0;

		for (struct mmi_shard *a = h->abandoned; a; a = a->next_abandoned)
			on_stack |= a == s;
		if (s != mine && !on_stack)
			mmi_shard_abandon(s);
	}
}

/* The heap is being destroyed and is out of the live set: nobody may use
 * it any more, and threads that noted a shard of it will find the note
 * stale (thread.c) -- those that check meanwhile wait for shards_lock. */
void mmi_slabs_release(struct mm_heap *h)
{
	size_t len = (sizeof(struct mmi_shard) + mmi_page_size() - 1) & ~(mmi_page_size() - 1);
	struct mmi_shard *s, *next;

	mmi_shards_lock();
	for (s = h->shards; s; s = next) {
		struct mmi_segment *seg, *seg_next;

		next = s->next_shard;
		for (seg = s->segments; seg; seg = seg_next) {
			seg_next = seg->next;
			mmi_segment_free(seg);
		}
		mmi_os_unmap(s, len);
	}
	h->shards = NULL;
	h->abandoned = NULL;
	mmi_shards_unlock();
}

/* --- looking inside ------------------------------------------------------------------ */

/* The segment of h at the lowest address above lo, or NULL (shards_lock). */
static struct mmi_segment *segment_above(struct mm_heap *h, uintptr_t lo)
{
	struct mmi_segment *best = NULL;

	for (struct mmi_shard *s = __atomic_load_n(&h->shards, __ATOMIC_ACQUIRE); s;
	     s = s->next_shard)
		for (struct mmi_segment *seg = __atomic_load_n(&s->segments, __ATOMIC_ACQUIRE);
		     seg; seg = seg->next)
			if ((uintptr_t)seg >= lo && (!best || seg < best))
				best = seg;
	return best;
}

int mmi_slabs_visit(struct mm_heap *h, uintptr_t *cursor, size_t limit,
	mm_visit_fn visit, void *arg)
{
	uintptr_t from = *cursor == 0 ? 0 : *cursor + 1;
	size_t n = 0;
	int ret = 0;

	if (*cursor == UINTPTR_MAX)
		return 0;
	mmi_shards_lock();
	for (struct mmi_segment *seg = segment_above(h, from & ~(uintptr_t)(MMI_SEGMENT - 1));
	     seg; seg = segment_above(h, (uintptr_t)seg + MMI_SEGMENT)) {
		for (size_t i = MMI_SLAB_FIRST_PAGE; i < MMI_SLAB_PAGES; i++) {
			struct mmi_slab_page *pg = &seg->pages[i];
			size_t bsize = mmi_slab_page_ready(pg), carved;

			if (!bsize)
				continue;
			carved = __atomic_load_n(&pg->carved, __ATOMIC_RELAXED);
			for (size_t k = 0; k < carved; k++) {
				uintptr_t slot = pg->area + k * bsize;
				unsigned char st = __atomic_load_n(&pg->state[slot % MMI_SLAB_PAGE / MMI_ALIGN],
								   __ATOMIC_RELAXED);

				if (slot < from || st == MMI_SLOT_UNUSED)
					continue;
				if (limit && n == limit)
					goto out;
				*cursor = slot;
				n++;
				ret = visit((void *)slot, bsize, st == MMI_SLOT_USED, arg);
				if (ret)
					goto out;
			}
		}
	}
	*cursor = UINTPTR_MAX;
out:
	mmi_shards_unlock();
	return ret;
}

void mmi_slabs_tally(struct mm_heap *h, struct mmi_slab_tally *t)
{
	memset(t, 0, sizeof *t);
	mmi_shards_lock();
	for (struct mmi_shard *s = __atomic_load_n(&h->shards, __ATOMIC_ACQUIRE); s;
	     s = s->next_shard) {
		t->allocs += __atomic_load_n(&s->allocs, __ATOMIC_RELAXED);
		for (struct mmi_segment *seg = __atomic_load_n(&s->segments, __ATOMIC_ACQUIRE);
		     seg; seg = seg->next) {
			t->segments++;
			for (size_t i = MMI_SLAB_FIRST_PAGE; i < MMI_SLAB_PAGES; i++) {
				struct mmi_slab_page *pg = &seg->pages[i];
				size_t bsize = mmi_slab_page_ready(pg);
				size_t carved = bsize ? __atomic_load_n(&pg->carved, __ATOMIC_RELAXED) : 0;

				for (size_t k = 0; k < carved; k++) {
					unsigned char st = __atomic_load_n(&pg->state[k * bsize / MMI_ALIGN],
									   __ATOMIC_RELAXED);
					if (st == MMI_SLOT_USED) {
						t->used_blocks++;
						t->used_bytes += bsize;
					} else if (st != MMI_SLOT_UNUSED) {
						t->free_blocks++;
						t->free_bytes += bsize;
						if (bsize > t->largest_free)
							t->largest_free = bsize;
					}
				}
			}
		}
	}
	mmi_shards_unlock();
	/* every slot handed out is in use or was freed, by whichever thread */
	t->frees = t->allocs >= t->used_blocks ? t->allocs - t->used_blocks : 0;
}

/* The page's fixed fields agree with its class and place. */
static int page_sane(struct mmi_segment *seg, struct mmi_slab_page *pg, size_t bsize)
{
	size_t i = (size_t)(pg - seg->pages);

	return pg->cls < MMI_SLAB_CLASSES && mmi_slab_class_bsize[pg->cls] == bsize &&
	       pg->area == (uintptr_t)seg + i * MMI_SLAB_PAGE &&
	       pg->nslots == (MMI_SLAB_PAGE - mmi_slab_guard_bytes()) / bsize && pg->limit == pg->nslots * bsize &&
	       pg->recip == (uint32_t)((((uint64_t)1 << 32) + bsize - 1) / bsize) &&
	       pg->link_key == seg->link_key &&
	       __atomic_load_n(&pg->carved, __ATOMIC_RELAXED) <= pg->nslots &&
	       pg->state == (unsigned char *)seg + MMI_SLAB_STATES_OFFSET + i * MMI_SLAB_MAX_SLOTS;
}

/* Only for a page nobody else changes (the caller's own shard): the free
 * list holds exactly the FREE slots, once each. */
static int page_lists_agree(struct mmi_slab_page *pg)
{
	size_t nfree = 0, onlist = 0;

	for (size_t k = 0; k < pg->carved; k++)
		nfree += __atomic_load_n(mmi_slab_slot_state(pg, k), __ATOMIC_RELAXED) == MMI_SLOT_FREE;
	for (unsigned g = pg->free_head; g != MMI_SLAB_LIST_END; onlist++) {
		const void *slot = (const void *)(pg->area + (size_t)g * MMI_ALIGN);
		uintptr_t v;

		/* a FREE state byte is a slot start below carved (checked) */
		if (onlist >= nfree || g >= MMI_SLAB_GRANULES ||
		    __atomic_load_n(&pg->state[g], __ATOMIC_RELAXED) != MMI_SLOT_FREE)
			return -1;
		v = __atomic_load_n((const uintptr_t *)slot, __ATOMIC_RELAXED) ^ pg->link_key;
		if (v > MMI_SLAB_LIST_END)
			return -1;
		g = (unsigned)v;
	}
	return onlist == nfree ? 0 : -1;
}

/* Every state byte is a state; only slot starts are other than UNUSED, and
 * (quiet: nobody carves meanwhile) only those of carved slots. */
static int page_states_sane(const struct mmi_slab_page *pg, size_t bsize, size_t carved, int quiet)
{
	for (size_t g = 0; g < MMI_SLAB_GRANULES; g++) {
		unsigned char st = __atomic_load_n(&pg->state[g], __ATOMIC_RELAXED);
		size_t off = g * MMI_ALIGN;

		if (st > MMI_SLOT_FREE)
			return -1;
		if (st != MMI_SLOT_UNUSED &&
		    (off % bsize || off / bsize >= pg->nslots || (quiet && off / bsize >= carved)))
			return -1;
	}
	return 0;
}

int mmi_slabs_check(struct mm_heap *h)
{
	struct mmi_shard *mine = mmi_thread_shard_if_any(h);
	int ret = 0;

	mmi_shards_lock();
	for (struct mmi_shard *s = __atomic_load_n(&h->shards, __ATOMIC_ACQUIRE); s && !ret;
	     s = s->next_shard) {
		int quiet = s == mine || __atomic_load_n(&s->abandoned, __ATOMIC_RELAXED);

		if (s->heap != h)
			ret = -1;
		for (struct mmi_segment *seg = __atomic_load_n(&s->segments, __ATOMIC_ACQUIRE);
		     seg && !ret; seg = seg->next) {
			uintptr_t base = (uintptr_t)seg;

			if ((base & (MMI_SEGMENT - 1)) || seg->shard != s ||
			    seg->region.kind != MMI_REGION_SEGMENT || seg->region.heap != h ||
			    seg->region.start != base || seg->region.end != base + MMI_SEGMENT ||
			    mmi_pagemap_find(base) != &seg->region ||
			    mmi_pagemap_find(base + MMI_SEGMENT - 1) != &seg->region) {
				ret = -1;
				break;
			}
			for (size_t i = MMI_SLAB_FIRST_PAGE; i < MMI_SLAB_PAGES && !ret; i++) {
				struct mmi_slab_page *pg = &seg->pages[i];
				size_t bsize = mmi_slab_page_ready(pg), carved;

				if (!bsize)
					continue;
				carved = __atomic_load_n(&pg->carved, __ATOMIC_RELAXED);
				if (!page_sane(seg, pg, bsize) ||
				    __atomic_load_n(&pg->shard, __ATOMIC_RELAXED) != s) {
					ret = -1;
					break;
				}
				/* another thread's page may carve meanwhile */
				ret = page_states_sane(pg, bsize, carved, quiet);
				if (!ret && quiet && s == mine)
					ret = page_lists_agree(pg);
			}
		}
	}
	mmi_shards_unlock();
	return ret;
}

/* mm_trim: the calling thread's shard of h and every abandoned one. */
int mmi_slabs_trim(struct mm_heap *h)
{
	struct mmi_shard *mine = mmi_thread_shard_if_any(h);
	int released = 0;

	mmi_shards_lock();
	if (mine && mine->heap == h)
		released |= mmi_shard_trim(mine);
	/* nobody pops while shards_lock is held: the stack below its head
	 * stays as it is */
	for (struct mmi_shard *a = __atomic_load_n(&h->abandoned, __ATOMIC_ACQUIRE); a;
	     a = a->next_abandoned)
		released |= mmi_shard_trim(a);
	mmi_shards_unlock();
	return released;
}
