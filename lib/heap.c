/*
 * Heap objects (mm_heap_t): setting a heap up, giving all its memory back
 * when it is destroyed, and the set of every live heap, which is also the
 * list that mm_trim and the fork handlers (init.c) go through.  The public
 * mm_heap_create, mm_heap_create_in and mm_heap_destroy (api.c) check
 * their arguments and build on these.
 */
#include <stdint.h>
#include <string.h>

#include "mm_internal.h"

static pthread_mutex_t heaps_lock = PTHREAD_MUTEX_INITIALIZER;

/* --- Setting up and tearing down -------------------------------------------- */

/* A heap at h with fl_count first-level lists, one fit policy and one
 * source (the defaults unless flags name them), and no memory yet. */
void mmi_heap_init(struct mm_heap *h, unsigned flags, unsigned fl_count)
{
	static uint64_t last_gen;

	memset(h, 0, MMI_HEAP_BYTES(fl_count));
	h->gen = __atomic_add_fetch(&last_gen, 1, __ATOMIC_RELAXED);
	h->magic = MMI_HEAP_MAGIC ^ (uintptr_t)h;
	h->cookie_key = mmi_random_word();
	h->cookie_mul = mmi_random_word() | 1;
	if (!(flags & (MM_FIT_FIRST | MM_FIT_BEST)))
		flags |= MM_FIT_GOOD;
	if (!(flags & MM_SOURCE_BRK))
		flags |= MM_SOURCE_MMAP;
	h->flags = flags;
	h->fl_count = fl_count;
	h->fit_id = (flags & MM_FIT_FIRST) ? MMI_FIT_ID_FIRST :
		    (flags & MM_FIT_BEST) ? MMI_FIT_ID_BEST : MMI_FIT_ID_GOOD;
	if (!(flags & MM_HEAP_NOLOCK))
		pthread_mutex_init(&h->lock, NULL);
	h->mmap_threshold = MMI_DEFAULT_MMAP_THRESHOLD;
	h->trim_threshold = MMI_DEFAULT_TRIM_THRESHOLD;
	h->decay_ms = mmi_decay_default_ms;
	h->grow_size = MMI_GROW_MIN;
	mmi_tool_heap_new(h);
}

/* Everything goes back at once (mm_heap_destroy). */
void mmi_release_all(struct mm_heap *h)
{
	struct mmi_region *r, *next;

	if (h->flags & MMI_SLAB_FLAG)
		mmi_slabs_release(h);
	for (r = h->larges; r; r = next) {
		next = r->next;
		mmi_pagemap_set(r->start, r->end, NULL);
		mmi_large_unmap(r);
	}
	h->larges = NULL;
	/* from the top down, so brk spans can lower the break in turn */
	for (r = h->arenas; r && r->next; r = r->next)
		;
	for (; r; r = next) {
		size_t len = r->end - r->start;

		next = r->prev;
		if (r->kind == MMI_REGION_POOL)
			continue;
		mmi_pagemap_set(r->start, r->end, NULL);
		if (r->kind == MMI_REGION_MMAP)
			mmi_os_unmap((void *)r->start, len);
		else if (!mmi_brk_shrink(r->end, len))
			mmi_os_discard(r->start, r->end);
	}
	h->arenas = NULL;
	memset(&h->st, 0, sizeof h->st);
}

/* --- The set of live heaps -------------------------------------------------- */

/* Whether this thread holds heaps_lock: a fatal error found under it
 * releases it before abort() (mmi_heaps_unlock_if_held). */
static __thread int holds_heaps_lock MMI_TLS;
/*
 * The set of live heaps, for heap_arg() in api.c: a handle is trusted, and
 * read, only once the set says it is a live heap, so that a destroyed heap
 * whose mapping is gone, or any address at all, ends in "invalid heap"
 * instead of a fault.  Every mm_heap_* call looks its handle up, pools'
 * real-time users included, so a lookup takes no lock, never reads the
 * handle, and costs a hash and a probe or two.
 *
 * An open-addressed table with linear probing.  A slot holds SET_EMPTY
 * (ends a probe), SET_TOMB (a removed heap: probes go on past it) or the
 * address of a live heap, each written with one atomic store.  Writers
 * (mmi_heaps_add, _remove, _forget_in) hold heaps_lock; an insertion takes
 * the first tombstone or empty slot of its probe path.  When live heaps
 * would pass half the slots, a table twice the size is built in a fresh
 * mapping and published with a release store.  Old tables are never
 * unmapped: a reader still probing one reads mapped memory, and doubling
 * keeps the sum of the old ones below the size of the current one.  When
 * tombstones clog a table (heaps and tombstones past three quarters of the
 * slots) it is rehashed in place, which moves entries.
 *
 * A hit is always a heap that was live during the probe: slots only ever
 * hold live heaps' addresses.  A miss could be false while a writer moves
 * entries or switches tables, so writers bracket every change with a
 * sequence count (odd while writing), and a miss counts only when the count
 * was even and unchanged across the probe; otherwise the lookup starts
 * again.  Only a bad handle, a fatal error, ever takes that path.
 */
#define SET_EMPTY ((uintptr_t)0)
#define SET_TOMB ((uintptr_t)1)	/* heaps are 16-aligned: never 1 */
#define SET_FIRST_SLOTS 64u

struct heapset {
	size_t mask;		/* slots - 1; slots a power of two */
	unsigned shift;		/* 64 - log2(slots), for the hash */
	size_t live, used;	/* heaps; heaps + tombstones */
	uintptr_t slot[];
};

/* The first table needs no mapping: the default heap starts without one. */
static union {
	struct heapset t;
	unsigned char bytes[sizeof(struct heapset) + SET_FIRST_SLOTS * sizeof(uintptr_t)];
} set_first = { .t = { .mask = SET_FIRST_SLOTS - 1, .shift = 64 - 6 } };

/* What readers load, together in one line. */
static struct {
	unsigned seq;
	struct heapset *table;
} set __attribute__((aligned(64))) = { 0, &set_first.t };

static size_t set_home(const struct heapset *t, uintptr_t key)
{
	return (size_t)(((uint64_t)key * 0x9e3779b97f4a7c15ull) >> t->shift);
}

/* 1 when key is in t; 0 when a probe of t did not find it. */
static int set_probe(const struct heapset *t, uintptr_t key)
{
	size_t i = set_home(t, key);

	for (size_t n = 0; n <= t->mask; n++, i = (i + 1) & t->mask) {
		uintptr_t v = __atomic_load_n(&t->slot[i], __ATOMIC_RELAXED);
		if (v == key)
			return 1;
		if (v == SET_EMPTY)
			return 0;
	}
	return 0;
}

int mmi_heaps_live(const struct mm_heap *h)
{
	for (;;) {
		unsigned seq = __atomic_load_n(&set.seq, __ATOMIC_ACQUIRE);
		const struct heapset *t = __atomic_load_n(&set.table, __ATOMIC_ACQUIRE);

		if (MMI_LIKELY(set_probe(t, (uintptr_t)h)))
			return 1;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (!(seq & 1) && __atomic_load_n(&set.seq, __ATOMIC_RELAXED) == seq)
			return 0;
	}
}

/* Writers, under heaps_lock: every change between these two. */
static void set_begin(void)
{
	__atomic_store_n(&set.seq, set.seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void set_end(void)
{
	__atomic_store_n(&set.seq, set.seq + 1, __ATOMIC_RELEASE);
}

static void set_store(struct heapset *t, size_t i, uintptr_t v)
{
	__atomic_store_n(&t->slot[i], v, __ATOMIC_RELAXED);
}

/* The slot holding key, or -1. */
static long set_find(const struct heapset *t, uintptr_t key)
{
	size_t i = set_home(t, key);

	for (size_t n = 0; n <= t->mask; n++, i = (i + 1) & t->mask) {
		if (t->slot[i] == key)
			return (long)i;
		if (t->slot[i] == SET_EMPTY)
			return -1;
	}
	return -1;
}

/* Tombstones out; every entry moved to where a fresh insertion would put
 * it.  Going once round from an empty slot, each entry's probe path only
 * crosses slots that were settled before it. */
static void set_rehash(struct heapset *t)
{
	size_t i, start = 0;

	for (i = 0; i <= t->mask; i++)
		if (t->slot[i] == SET_TOMB)
			set_store(t, i, SET_EMPTY);
	while (t->slot[start] != SET_EMPTY)
		start++;
	for (size_t n = 1; n <= t->mask; n++) {
		uintptr_t key;
		size_t j;

		i = (start + n) & t->mask;
		key = t->slot[i];
		if (key == SET_EMPTY)
			continue;
		for (j = set_home(t, key); j != i && t->slot[j] != SET_EMPTY;
		     j = (j + 1) & t->mask)
			;
		if (j != i) {
			set_store(t, j, key);
			set_store(t, i, SET_EMPTY);
		}
	}
	t->used = t->live;
}

static void set_put(struct heapset *t, uintptr_t key)
{
	size_t i = set_home(t, key);
	long tomb = -1;

	for (size_t n = 0; n <= t->mask; n++, i = (i + 1) & t->mask) {
		if (t->slot[i] == key)
			return;
		if (t->slot[i] == SET_TOMB && tomb < 0)
			tomb = (long)i;
		if (t->slot[i] == SET_EMPTY)
			break;
	}
	if (tomb >= 0) {
		i = (size_t)tomb;
	} else {
		t->used++;
	}
	set_store(t, i, key);
	t->live++;
}

/* A table twice the size of t holding t's heaps, or NULL. */
static struct heapset *set_grow(const struct heapset *t)
{
	size_t slots = 2 * (t->mask + 1), log2 = 0, len;
	struct heapset *nt;

	while (((size_t)1 << log2) < slots)
		log2++;
	len = sizeof *nt + slots * sizeof(uintptr_t);
	len = (len + mmi_page_size() - 1) & ~(mmi_page_size() - 1);
	nt = mmi_os_map(len);	/* zeroed: every slot SET_EMPTY */
	if (!nt)
		return NULL;
	nt->mask = slots - 1;
	nt->shift = (unsigned)(64 - log2);
	for (size_t i = 0; i <= t->mask; i++)
		if (t->slot[i] != SET_EMPTY && t->slot[i] != SET_TOMB)
			set_put(nt, t->slot[i]);
	return nt;
}

/* Under heaps_lock: 0, or -1 when no slot can be had. */
static int set_insert(struct mm_heap *h)
{
	struct heapset *t = set.table;
	size_t slots = t->mask + 1;
	int ret = 0;

	set_begin();
	if (2 * (t->live + 1) > slots) {
		struct heapset *nt = set_grow(t);
		if (nt) {
			__atomic_store_n(&set.table, nt, __ATOMIC_RELEASE);
			t = nt;
			slots = t->mask + 1;
		} else if (4 * (t->live + 1) > 3 * slots) {
			ret = -1;
		}
	}
	if (ret == 0) {
		if (4 * (t->used + 1) > 3 * slots)
			set_rehash(t);
		set_put(t, (uintptr_t)h);
	}
	set_end();
	return ret;
}

static void set_remove(struct mm_heap *h)
{
	struct heapset *t = set.table;
	long i = set_find(t, (uintptr_t)h);

	if (i < 0)
		return;
	set_begin();
	set_store(t, (size_t)i, SET_TOMB);
	t->live--;
	set_end();
}

void mmi_heaps_lock(void)
{
	pthread_mutex_lock(&heaps_lock);
	holds_heaps_lock = 1;
}

void mmi_heaps_unlock(void)
{
	holds_heaps_lock = 0;
	pthread_mutex_unlock(&heaps_lock);
}

void mmi_heaps_unlock_if_held(void)
{
	if (holds_heaps_lock)
		mmi_heaps_unlock();
}

/*
 * The live heaps one by one, under heaps_lock (which keeps the set still):
 * start with *cursor 0; NULL at the end.  The set is the only list of
 * heaps: nothing links heaps through their own structures, which for a
 * pool lie in the caller's buffer, where an overflow could rewrite the
 * links and turn an unlink into a write anywhere.
 */
struct mm_heap *mmi_heaps_next(size_t *cursor)
{
	const struct heapset *t = set.table;

	while (*cursor <= t->mask) {
		uintptr_t v = t->slot[(*cursor)++];
		if (v != SET_EMPTY && v != SET_TOMB)
			return (struct mm_heap *)v;
	}
	return NULL;
}

int mmi_heaps_add(struct mm_heap *h)
{
	pthread_mutex_lock(&heaps_lock);
	if (set_insert(h) != 0) {
		pthread_mutex_unlock(&heaps_lock);
		return -1;
	}
	pthread_mutex_unlock(&heaps_lock);
	return 0;
}

void mmi_heaps_remove(struct mm_heap *h)
{
	pthread_mutex_lock(&heaps_lock);
	set_remove(h);
	pthread_mutex_unlock(&heaps_lock);
}

/* A new pool is being laid over [lo, hi): a pool that lived there before
 * and was never destroyed is gone now, and must leave the set first.
 * Its structure may hold anything by now: only its address is used. */
void mmi_heaps_forget_in(uintptr_t lo, uintptr_t hi)
{
	struct mm_heap *h;
	size_t cursor = 0;

	pthread_mutex_lock(&heaps_lock);
	while ((h = mmi_heaps_next(&cursor)))
		if ((uintptr_t)h >= lo && (uintptr_t)h < hi) {
			set_remove(h);
			mmi_tool_heap_gone(h, 0, 0);
		}
	pthread_mutex_unlock(&heaps_lock);
}

/* --- Every heap ------------------------------------------------------------- */

/* mm_trim() and malloc_trim(): what every heap can give back; 1 if anything
 * went. */
int mmi_trim_all(size_t pad)
{
	struct mm_heap *h;
	size_t cursor = 0;
	int released = 0;

	(void)mmi_default_heap();	/* started, so in the set */
	mmi_heaps_lock();
	while ((h = mmi_heaps_next(&cursor))) {
		/* slab pages: this thread's and those no thread owns */
		if (h->flags & MMI_SLAB_FLAG)
			released |= mmi_slabs_trim(h);
		/* pools have nothing to give back; a NOLOCK heap is only ever
		 * touched by its owner */
		if (h->flags & (MMI_POOL_FLAG | MM_HEAP_NOLOCK))
			continue;
		mmi_lock(h);
		released |= mmi_trim_locked(h, &pad);
		mmi_unlock(h);
	}
	mmi_heaps_unlock();
	released |= mmi_large_cache_purge(1);
	return released;
}
