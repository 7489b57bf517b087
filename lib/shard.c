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

void mmi_shards_lock(void)
{
	pthread_mutex_lock(&shards_lock);
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
	for (unsigned c = 0; c < MMI_SLAB_CLASSES; c++) {
		s->direct[c] = NULL;
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
	pthread_mutex_lock(&shards_lock);
	s->next_shard = h->shards;
	__atomic_store_n(&h->shards, s, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&shards_lock);
	return s;
}

/* --- allocation --------------------------------------------------------------- */

static void queue_add(struct mmi_shard *s, struct mmi_slab_page *pg)
{
	pg->prev = NULL;
	pg->next = s->queue[pg->cls];
	if (pg->next)
		pg->next->prev = pg;
	s->queue[pg->cls] = pg;
}

/* A page without a class from one of s's segments, or a new segment. */
static struct mmi_slab_page *page_fresh(struct mmi_shard *s, unsigned cls)
{
	struct mmi_segment *seg;
	struct mmi_slab_page *pg = NULL;

	for (seg = s->segments; seg && !pg; seg = seg->next)
		pg = mmi_segment_page_take(seg);
	if (!pg) {
		seg = mmi_segment_alloc(s->heap);
		if (!seg)
			return NULL;
		seg->shard = s;
		seg->next = s->segments;
		s->segments = seg;
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
	struct mmi_slab_page *pg = s->direct[cls];
	void *p;

	if (pg && mmi_slab_collect(mmi_segment_of(pg), pg) &&
	    (p = mmi_slab_alloc(mmi_segment_of(pg), pg)))
		return p;
	for (pg = s->queue[cls]; pg; pg = pg->next) {
		struct mmi_segment *seg = mmi_segment_of(pg);

		if (pg == s->direct[cls])
			continue;
		mmi_slab_collect(seg, pg);
		if ((p = mmi_slab_alloc(seg, pg))) {
			s->direct[cls] = pg;
			return p;
		}
	}
	pg = page_fresh(s, cls);
	if (!pg)
		return NULL;
	s->direct[cls] = pg;
	return mmi_slab_alloc(mmi_segment_of(pg), pg);
}

void *mmi_shard_alloc(struct mmi_shard *s, size_t size)
{
	unsigned cls = mmi_slab_class(size);
	struct mmi_slab_page *pg = s->direct[cls];
	void *p = pg ? mmi_slab_alloc(mmi_segment_of(pg), pg) : NULL;

	if (!p)
		p = alloc_slow(s, cls);
	if (p)
		s->allocs++;
	return p;
}

/* --- free ------------------------------------------------------------------------ */

/* p lies in seg, a segment of s's heap.  Local when s owns the page, else
 * remote (s may be NULL: a thread without a shard). */
enum mmi_slab_verdict mmi_shard_free(struct mmi_shard *s, struct mmi_segment *seg, void *p)
{
	struct mmi_slab_page *pg = mmi_slab_page_of(seg, p);
	enum mmi_slab_verdict v;

	if (s && __atomic_load_n(&pg->shard, __ATOMIC_RELAXED) == s) {
		v = mmi_slab_free_local(seg, pg, p);
		if (v == MMI_SLAB_OK)
			s->frees++;
		return v;
	}
	return mmi_slab_free_remote(seg, pg, p);
}

/* --- memory back ------------------------------------------------------------------ */

static void queue_remove(struct mmi_shard *s, struct mmi_slab_page *pg)
{
	if (pg->prev)
		pg->prev->next = pg->next;
	else
		s->queue[pg->cls] = pg->next;
	if (pg->next)
		pg->next->prev = pg->prev;
	if (s->direct[pg->cls] == pg)
		s->direct[pg->cls] = NULL;
}

/*
 * Everything s holds empty goes back: pages with no slot in use lose their
 * class and their memory (MADV_DONTNEED), segments with no page in use are
 * unmapped.  1 if anything went.
 */
int mmi_shard_trim(struct mmi_shard *s)
{
	struct mmi_segment **at = &s->segments;
	int released = 0;

	for (unsigned c = 0; c < MMI_SLAB_CLASSES; c++) {
		struct mmi_slab_page *pg = s->queue[c], *next;

		for (; pg; pg = next) {
			struct mmi_segment *seg = mmi_segment_of(pg);

			next = pg->next;
			mmi_slab_collect(seg, pg);
			if (pg->used)
				continue;
			queue_remove(s, pg);
			mmi_os_discard(pg->area, pg->area + MMI_SLAB_PAGE);
			mmi_segment_page_return(seg, pg);
			released = 1;
		}
	}
	while (*at) {
		struct mmi_segment *seg = *at;

		if (seg->free_pages == MMI_SLAB_PAGES - MMI_SLAB_FIRST_PAGE) {
			*at = seg->next;
			mmi_segment_free(seg);
			released = 1;
		} else {
			at = &seg->next;
		}
	}
	return released;
}
