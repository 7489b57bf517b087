/*
 * Large blocks: a request at or above the heap's mmap threshold gets a
 * mapping of its own, laid out as a region holding exactly one block:
 *
 *   | region header | (padding for alignment) | block header | payload ... |
 *   ^ start (page)                            ^ first        ^ aligned     ^ end (page)
 *
 * Freeing keeps the mapping for the heap's decay interval (MM_OPT_DECAY_MS)
 * in a small cache, where the next large request it fits takes it over
 * with its pages already faulted in; then it is unmapped.  Freed
 * addresses are remembered so that freeing one again is reported as the
 * double free it is, not as an unknown pointer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "mm_internal.h"

/*
 * Freed large blocks: the payload addresses of every large block freed and
 * not handed out again, so that a second free says "double free" however
 * many blocks were freed in between.  An open-addressed set (linear
 * probing, tombstones) under freed_lock, a leaf lock taken on the large
 * paths only, which make system calls anyway.  It holds at most one entry
 * per address the kernel gave us and we gave back, and the kernel reuses
 * addresses; if it cannot grow, it forgets the oldest-placed entries
 * rather than fail an allocation.
 */
#define FREED_EMPTY ((uintptr_t)0)
#define FREED_GONE ((uintptr_t)1)	/* tombstone */
#define FREED_MIN 256

static pthread_mutex_t freed_lock = PTHREAD_MUTEX_INITIALIZER;
static uintptr_t *freed_set;	/* under freed_lock */
static size_t freed_cap, freed_used, freed_live;

void mmi_large_lock(void)
{
	pthread_mutex_lock(&freed_lock);
}

void mmi_large_unlock(void)
{
	pthread_mutex_unlock(&freed_lock);
}

static size_t freed_slot(uintptr_t a, size_t cap)
{
	return (size_t)((a >> 12) * (uintptr_t)0x9e3779b97f4a7c15ull >> 20) & (cap - 1);
}

/* Where a is in the set, or the empty slot ending its probe: cap if full. */
static size_t freed_find(uintptr_t a)
{
	size_t i = freed_slot(a, freed_cap);

	for (size_t n = 0; n < freed_cap; n++, i = (i + 1) & (freed_cap - 1))
		if (freed_set[i] == a || freed_set[i] == FREED_EMPTY)
			return i;
	return freed_cap;
}

static void freed_put(uintptr_t *set, size_t cap, uintptr_t a)
{
	size_t i = freed_slot(a, cap);

	while (set[i] != FREED_EMPTY)
		i = (i + 1) & (cap - 1);
	set[i] = a;
}

/* Room for one more entry; 0 when the set cannot grow. */
static int freed_room(void)
{
	size_t cap = FREED_MIN;
	uintptr_t *set;

	if (freed_set && (freed_used + 1) * 4 <= freed_cap * 3)
		return 1;
	while (cap < (freed_live + 1) * 4)
		cap *= 2;
	set = mmi_os_map(cap * sizeof *set);
	if (!set)
		return 0;
	for (size_t i = 0; i < freed_cap; i++)
		if (freed_set[i] > FREED_GONE)
			freed_put(set, cap, freed_set[i]);
	if (freed_set)
		mmi_os_unmap(freed_set, freed_cap * sizeof *set);
	freed_set = set;
	freed_cap = cap;
	freed_used = freed_live;
	return 1;
}

void mmi_large_note_freed(const void *p)
{
	uintptr_t a = (uintptr_t)p;
	size_t i;

	pthread_mutex_lock(&freed_lock);
	if (freed_room()) {
		i = freed_find(a);
		if (i < freed_cap && freed_set[i] != a) {
			freed_set[i] = a;
			freed_used++;
			freed_live++;
		}
	}
	pthread_mutex_unlock(&freed_lock);
}

/* p is a live large block again: a later free of it is no double free. */
static void note_reused(const void *p)
{
	size_t i;

	pthread_mutex_lock(&freed_lock);
	if (freed_set && (i = freed_find((uintptr_t)p)) < freed_cap &&
	    freed_set[i] == (uintptr_t)p) {
		freed_set[i] = FREED_GONE;
		freed_live--;
	}
	pthread_mutex_unlock(&freed_lock);
}

int mmi_large_was_freed(const void *p)
{
	size_t i;
	int found;

	pthread_mutex_lock(&freed_lock);
	found = freed_set && (i = freed_find((uintptr_t)p)) < freed_cap &&
		freed_set[i] == (uintptr_t)p;
	pthread_mutex_unlock(&freed_lock);
	return found;
}

static uintptr_t page_down(uintptr_t a)
{
	return a & ~(uintptr_t)(mmi_page_size() - 1);
}

static uintptr_t granule_up(uintptr_t a)
{
	return (a + MMI_GRANULE - 1) & ~(uintptr_t)(MMI_GRANULE - 1);
}

static uintptr_t page_up(uintptr_t a)
{
	return page_down(a + mmi_page_size() - 1);
}

/*
 * Freed mappings kept for reuse: a bounded, process-wide set (any heap's
 * request may take any of them), each with the time it expires.  A
 * request takes the smallest that fits and leaves its spare tail kept;
 * expired ones are unmapped on the large paths, every one by mm_trim.
 * A program that frees and allocates the same big sizes in turn maps and
 * faults nothing after the first round; one that stops leaves nothing
 * behind after the interval, once it calls the allocator on a slow path
 * again (a large block, a medium one, a slab page's refill).  Under
 * freed_lock.
 */
#define CACHE_SLOTS 16
#define CACHE_MAX_BYTES ((size_t)128 << 20)	/* all kept mappings together */

struct kept {
	uintptr_t start;	/* on a granule; 0: an empty slot */
	size_t len;
	uint64_t expires;	/* ms on the coarse monotonic clock */
	unsigned origin;	/* the kernel area it lies in (below) */
};

/*
 * mremap works on one kernel area (VMA) and refuses a range across two,
 * and two mappings side by side may stay two areas (one moved by mremap,
 * say).  So every mapping gets an origin number when it is made, and a
 * new one whenever mremap grows or moves it; cutting a mapping (a tail
 * kept apart, a shrink) keeps the number.  Pieces of one origin side by
 * side are then pieces of one area, and only those are joined again in
 * the cache.  (The numbers wrap after 2^32 mappings: a join across areas
 * then makes one later mremap fail, and the request maps afresh or
 * reports ENOMEM; nothing is lost.)
 */
static unsigned origin_counter;

static unsigned new_origin(void)
{
	return __atomic_add_fetch(&origin_counter, 1, __ATOMIC_RELAXED);
}

static struct kept cache[CACHE_SLOTS];	/* under freed_lock */
static size_t cache_bytes;		/* under freed_lock; read racily for stats */

uint64_t mmi_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Slot k's mapping leaves the cache (the caller unmaps or reuses it). */
static struct kept cache_remove(size_t k)
{
	struct kept e = cache[k];

	/* written under freed_lock, read without it (a hint: empty or not) */
	__atomic_store_n(&cache_bytes, cache_bytes - e.len, __ATOMIC_RELAXED);
	cache[k].start = 0;
	return e;
}

/* Mappings out of the cache go back to the system (freed_lock released). */
static void unmap_kept(const struct kept *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		mmi_os_unmap((void *)v[i].start, v[i].len);
}

/* Expired (or all) mappings out of the cache, into out[]; how many. */
static size_t cache_expire_locked(int all, struct kept *out)
{
	uint64_t now = all ? UINT64_MAX : mmi_now_ms();
	size_t n = 0;

	for (size_t k = 0; k < CACHE_SLOTS; k++)
		if (cache[k].start && cache[k].expires <= now)
			out[n++] = cache_remove(k);
	return n;
}

int mmi_large_cache_purge(int all)
{
	struct kept gone[CACHE_SLOTS];
	size_t n;

	if (!__atomic_load_n(&cache_bytes, __ATOMIC_RELAXED))
		return 0;
	pthread_mutex_lock(&freed_lock);
	n = cache_expire_locked(all, gone);
	pthread_mutex_unlock(&freed_lock);
	unmap_kept(gone, n);
	return n > 0;
}

void *mmi_map_reclaiming(size_t len, size_t align)
{
	void *m = mmi_os_map_aligned(len, align);

	/* refused (an address-space limit): what is kept for reuse goes first */
	if (!m && mmi_large_cache_purge(1))
		m = mmi_os_map_aligned(len, align);
	return m;
}

size_t mmi_large_cache_bytes(void)
{
	return __atomic_load_n(&cache_bytes, __ATOMIC_RELAXED);
}

/* Keep [start, start + len) for decay_ms; 0 when it is not kept (the
 * caller unmaps it).  The oldest kept mappings make room. */
static int cache_put_until(uintptr_t start, size_t len, uint64_t expires, unsigned origin)
{
	struct kept gone[CACHE_SLOTS + 1];
	size_t n, slot = CACHE_SLOTS;

	if (len > CACHE_MAX_BYTES / 2)
		return 0;
	pthread_mutex_lock(&freed_lock);
	n = cache_expire_locked(0, gone);
	/* a neighbour of the same area joins it (a tail kept apart and the
	 * block it was cut from, both freed): bigger requests fit again */
	for (size_t k = 0; k < CACHE_SLOTS; k++) {
		struct kept e = cache[k];

		if (!e.start || e.origin != origin || e.len + len > CACHE_MAX_BYTES / 2 ||
		    (e.start + e.len != start && start + len != e.start))
			continue;
		cache_remove(k);
		if (e.start < start)
			start = e.start;
		len += e.len;
		if (e.expires > expires)
			expires = e.expires;
		k = (size_t)-1;		/* the joined range may meet another */
	}
	for (;;) {
		size_t oldest = CACHE_SLOTS;

		slot = CACHE_SLOTS;
		for (size_t k = 0; k < CACHE_SLOTS; k++) {
			if (!cache[k].start)
				slot = k;
			else if (oldest == CACHE_SLOTS || cache[k].expires < cache[oldest].expires)
				oldest = k;
		}
		if (slot < CACHE_SLOTS && cache_bytes + len <= CACHE_MAX_BYTES)
			break;
		gone[n++] = cache_remove(oldest);
	}
	cache[slot] = (struct kept){ start, len, expires, origin };
	__atomic_store_n(&cache_bytes, cache_bytes + len, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&freed_lock);
	unmap_kept(gone, n);
	return 1;
}

static int cache_put(uintptr_t start, size_t len, size_t decay_ms, unsigned origin)
{
	return decay_ms && cache_put_until(start, len, mmi_now_ms() + decay_ms, origin);
}

/* The kept mapping e grown to len bytes with its pages (in place, or
 * moved by the kernel and then onto a granule); its start, or 0 with e
 * unmapped.  Its granules' pagemap entries are NULL throughout. */
static uintptr_t grow_kept(struct kept e, size_t len)
{
	void *m, *target;

	if (mmi_pagemap_reserve(e.start, e.start + len) == 0 &&
	    mremap((void *)e.start, e.len, len, 0) != MAP_FAILED)
		return e.start;
	m = mremap((void *)e.start, e.len, len, MREMAP_MAYMOVE);
	if (m == MAP_FAILED) {
		mmi_os_unmap((void *)e.start, e.len);
		return 0;
	}
	if (((uintptr_t)m & (MMI_GRANULE - 1)) == 0)
		return (uintptr_t)m;
	/* same size, so valgrind follows it (see remap below) */
	target = mmi_os_map_aligned(len, MMI_GRANULE);
	if (!target || mremap(m, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, target) == MAP_FAILED) {
		mmi_os_unmap(m, len);
		if (target)
			mmi_os_unmap(target, len);
		return 0;
	}
	return (uintptr_t)target;
}

/* A kept mapping of at least len bytes (its length in *got), or 0: the
 * smallest that holds len, its spare tail kept apart (or unmapped);
 * else the largest, grown with its pages. */
static uintptr_t cache_take(size_t len, size_t *got, unsigned *origin)
{
	struct kept gone[CACHE_SLOTS], e = { 0, 0, 0, 0 };
	size_t n, best = CACHE_SLOTS, below = CACHE_SLOTS;

	if (!__atomic_load_n(&cache_bytes, __ATOMIC_RELAXED))
		return 0;
	pthread_mutex_lock(&freed_lock);
	n = cache_expire_locked(0, gone);
	for (size_t k = 0; k < CACHE_SLOTS; k++) {
		if (!cache[k].start)
			continue;
		if (cache[k].len >= len && (best == CACHE_SLOTS || cache[k].len < cache[best].len))
			best = k;
		if (cache[k].len < len && (below == CACHE_SLOTS || cache[k].len > cache[below].len))
			below = k;
	}
	if (best < CACHE_SLOTS)
		e = cache_remove(best);
	else if (below < CACHE_SLOTS)
		e = cache_remove(below);
	pthread_mutex_unlock(&freed_lock);
	/* ASan: a freed block's poison goes, whatever is made of it now */
	MMI_TOOL_FRESH(e.start, e.len);
	unmap_kept(gone, n);
	if (!e.start)
		return 0;
	if (e.len < len) {
		*got = len;
		*origin = new_origin();
		return grow_kept(e, len);
	}
	*got = e.len;
	*origin = e.origin;
	/* the spare tail, beyond a granule, stays kept with its pages (it
	 * expires when the whole would have): the next request of that size
	 * faults nothing */
	if (e.len > granule_up(len)) {
		*got = granule_up(len);
		if (!cache_put_until(e.start + *got, e.len - *got, e.expires, e.origin))
			mmi_os_unmap((void *)(e.start + *got), e.len - *got);
	}
	return e.start;
}

static size_t usable_of(const struct mmi_region *r)
{
	return r->end - (uintptr_t)r->first - MMI_HDR;
}

/* Fill in the region header and block of a mapping [start, end). */
static void *settle(struct mm_heap *h, uintptr_t start, uintptr_t end, uintptr_t payload)
{
	struct mmi_region *r = (struct mmi_region *)start;
	struct mmi_block *b = mmi_block_of((void *)payload);

	memset(r, 0, sizeof *r);
	r->start = start;
	r->end = end;
	r->heap = h;
	r->kind = MMI_REGION_LARGE;
	r->first = b;
	b->head = (end - (uintptr_t)b) | MMI_LARGE;
	b->cookie = mmi_used_cookie(h, b);
	return r;
}

static void link_large(struct mm_heap *h, struct mmi_region *r)
{
	r->seq = ++h->large_seq;	/* the list stays in descending seq */
	r->prev = NULL;
	r->next = h->larges;
	if (h->larges)
		h->larges->prev = r;
	h->larges = r;
	h->st.mapped_blocks++;
	h->st.mapped_bytes += usable_of(r);
	mmi_count_use(h, (long)usable_of(r), 1);
	mmi_count_os(h, (long)(r->end - r->start));
}

static void unlink_large(struct mm_heap *h, struct mmi_region *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		h->larges = r->next;
	if (r->next)
		r->next->prev = r->prev;
	h->st.mapped_blocks--;
	h->st.mapped_bytes -= usable_of(r);
	mmi_count_use(h, -(long)usable_of(r), -1);
	mmi_count_os(h, -(long)(r->end - r->start));
}

void *mmi_large_alloc(struct mm_heap *h, size_t size, size_t align, int *fresh)
{
	size_t front = MMI_REGION_HDR + MMI_HDR;
	size_t len, mlen = 0, guard = mmi_secure_mode && !mmi_is_pool(h) ? mmi_page_size() : 0;
	uintptr_t m = 0, payload, start, end;
	struct mmi_region *r;
	unsigned origin = 0;

	if (align < MMI_ALIGN)
		align = MMI_ALIGN;
	if (size > SIZE_MAX - front - align - mmi_page_size()) {
		errno = ENOMEM;
		return NULL;
	}
	len = page_up(size + front + (align > MMI_ALIGN ? align : 0)) + guard;
	/* a kept mapping, of exactly the length the block needs from its
	 * start (a granule) */
	if (align <= MMI_GRANULE && !guard) {
		m = cache_take(page_up((size ? size : 1) + ((front + align - 1) & ~(align - 1))),
			       &mlen, &origin);
	}
	*fresh = !m;
	/* else a new one, on a granule like every region (pagemap.c) */
	if (!m) {
		mlen = len;
		m = (uintptr_t)mmi_map_reclaiming(len, MMI_GRANULE);
		origin = new_origin();
	}
	if (!m) {
		errno = ENOMEM;
		return NULL;
	}
	payload = (m + front + align - 1) & ~(uintptr_t)(align - 1);
	start = (payload - front) & ~(uintptr_t)(MMI_GRANULE - 1);
	/* a kept mapping stays whole: cache_take trimmed it */
	end = *fresh ? page_up(payload + (size ? size : 1)) : m + mlen;
	/* an over-sized mapping made for alignment loses its spare pages */
	if (start > m)
		mmi_os_unmap((void *)m, start - m);
	if (end + guard < m + mlen)
		mmi_os_unmap((void *)(end + guard), m + mlen - end - guard);
	if (mmi_pagemap_reserve(start, end) != 0 || (guard && mmi_os_guard((void *)end, guard) != 0)) {
		mmi_os_unmap((void *)start, end + guard - start);
		errno = ENOMEM;
		return NULL;
	}
	r = settle(h, start, end, payload);
	r->origin = origin;
	r->guarded = guard != 0;
	mmi_pagemap_set(start, end, r);
	note_reused((void *)payload);
	mmi_lock(h);
	link_large(h, r);
	h->st.alloc_count++;
	mmi_unlock(h);
	return (void *)payload;
}

void mmi_large_validate(struct mmi_region *r, const void *p, enum mmi_op op)
{
	struct mmi_block *b = mmi_block_of(p);

	if (b != r->first || !(b->head & MMI_LARGE) ||
	    b->cookie != mmi_used_cookie(r->heap, b))
		mmi_die_bad_block(r->heap, r, p, 0, op);
}

void mmi_large_free(struct mm_heap *h, struct mmi_region *r, void *p)
{
	mmi_large_validate(r, p, MMI_OP_FREE);
	mmi_lock(h);
	unlink_large(h, r);
	h->st.free_count++;
	mmi_unlock(h);
	mmi_pagemap_set(r->start, r->end, NULL);
	mmi_large_note_freed(p);
	if (r->guarded || !cache_put(r->start, r->end - r->start, h->decay_ms, r->origin))
		mmi_large_unmap(r);
}

void mmi_large_unmap(struct mmi_region *r)
{
	mmi_os_unmap((void *)r->start, r->end - r->start + (r->guarded ? mmi_page_size() : 0));
}

/*
 * The mapping of the large region r (unlinked, its caller's) resized to
 * len bytes, in place or moved to a granule boundary (mremap alone picks
 * any page).  Returns the new start, or NULL with r untouched and its
 * pagemap entries intact when the system refuses.  The entries of every
 * granule r gives up are cleared before the kernel can hand its addresses
 * to another thread's new region (whose entries must not be cleared after
 * they are set); the caller sets the entries of the new span once the
 * header is rewritten there.
 */
static void *remap(struct mmi_region *r, size_t len)
{
	uintptr_t start = r->start, old_end = r->end;
	size_t old_len = old_end - start;
	void *m, *target, *moved;

	if (len <= old_len) {
		/* in place; the tail's granules first */
		mmi_pagemap_resize(r, old_end, start + len);
		m = mremap((void *)start, old_len, len, 0);
		if (m == MAP_FAILED) {
			mmi_pagemap_set(start, old_end, r);
			return NULL;
		}
		return m;
	}
	if (mmi_pagemap_reserve(start, start + len) == 0 &&
	    (m = mremap((void *)start, old_len, len, 0)) != MAP_FAILED)
		return m;	/* grown in place: the new pages are ours */
	/* Where it will end: a granule-aligned placeholder, with its leaves. */
	target = mmi_os_map_aligned(len, MMI_GRANULE);
	if (!target)
		return NULL;
	if (mmi_pagemap_reserve((uintptr_t)target, (uintptr_t)target + len) != 0) {
		mmi_os_unmap(target, len);
		return NULL;
	}
	/* Grow where the kernel likes (no copy), then move the grown mapping
	 * whole onto the placeholder.  One mremap that moves onto it and
	 * grows at once would do, but valgrind mistracks that. */
	mmi_pagemap_set(start, old_end, NULL);
	moved = mremap((void *)start, old_len, len, MREMAP_MAYMOVE);
	if (moved == MAP_FAILED) {
		mmi_pagemap_set(start, old_end, r);	/* untouched: still r */
		mmi_os_unmap(target, len);
		return NULL;
	}
	if (((uintptr_t)moved & (MMI_GRANULE - 1)) == 0 &&
	    mmi_pagemap_reserve((uintptr_t)moved, (uintptr_t)moved + len) == 0) {
		mmi_os_unmap(target, len);
		return moved;
	}
	m = mremap(moved, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, target);
	if (m == MAP_FAILED) {
		memcpy(target, moved, len);
		mmi_os_unmap(moved, len);
		m = target;
	}
	return m;
}

void *mmi_large_realloc(struct mm_heap *h, struct mmi_region *r, void *p, size_t size)
{
	size_t have, len;
	uintptr_t old_start;
	unsigned origin;
	void *q, *m;

	mmi_large_validate(r, p, MMI_OP_REALLOC);
	have = usable_of(r);
	if (size <= have && size >= have / 2)
		return p;	/* shrinking by less than half: keep the mapping */
	if (size >= MMI_BSIZE_MAX) {
		errno = ENOMEM;
		return NULL;
	}
	/* Small again, aligned beyond 16 (mremap keeps only page
	 * alignment) or guarded: move to a fresh block the usual way. */
	if (size < h->mmap_threshold || r->guarded ||
	    r->first != (struct mmi_block *)(r->start + MMI_REGION_HDR)) {
		q = mmi_alloc(h, size);
		if (!q)
			return NULL;
		MMI_TOOL_OWN(q, size < have ? size : have);
		memcpy(q, p, size < have ? size : have);
		MMI_TOOL_MOVED(h, p, have);
		mmi_large_free(h, r, p);
		return q;
	}
	old_start = r->start;
	/* a shrink cuts the area; a growth or a move makes it another */
	origin = r->origin;
	len = page_up(size + MMI_REGION_HDR + MMI_HDR);
	if (len > r->end - r->start)
		origin = new_origin();
	/* off the list while its header may move */
	mmi_lock(h);
	unlink_large(h, r);
	mmi_unlock(h);
	m = remap(r, len);
	if (!m) {
		mmi_lock(h);
		link_large(h, r);
		mmi_unlock(h);
		errno = ENOMEM;
		return NULL;
	}
	mmi_lock(h);
	r = settle(h, (uintptr_t)m, (uintptr_t)m + len, (uintptr_t)m + MMI_REGION_HDR + MMI_HDR);
	r->origin = origin;
	mmi_pagemap_set((uintptr_t)m, (uintptr_t)m + len, r);
	link_large(h, r);
	mmi_unlock(h);
	if ((uintptr_t)m != old_start) {
		note_reused(mmi_payload(r->first));
		MMI_TOOL_MOVED(h, p, 0);	/* no poison where nothing is mapped */
	}
	return mmi_payload(r->first);
}
