/*
 * Process-wide state: the random secret behind block cookies, the default
 * heap, the list and the set of every heap, and the fork handlers.
 *
 * Lock order, everywhere: heaps_lock, then heap locks (list order), then
 * the shards' lock, then the program-break lock, then the pagemap's leaf lock, then the set of
 * freed large blocks.  The fork handlers
 * take them all in that order before fork() and release them in both
 * processes after, so the child starts with every heap consistent and
 * unlocked, whatever the parent's other threads were doing.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "mm_internal.h"

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t heaps_lock = PTHREAD_MUTEX_INITIALIZER;
int mmi_default_ready;
static uintptr_t secret;

/* The default heap lives here: no allocation is needed to start. */
static union {
	struct mm_heap heap;
	unsigned char bytes[MMI_HEAP_BYTES(MMI_FL_MAX)];
} default_storage __attribute__((aligned(64)));
struct mm_heap *const mmi_default_heap_ptr = &default_storage.heap;

static uintptr_t mix(uintptr_t x)
{
	x ^= x >> 33;
	x *= (uintptr_t)0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= (uintptr_t)0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

uintptr_t mmi_secret(void)
{
	uintptr_t s = __atomic_load_n(&secret, __ATOMIC_ACQUIRE);

	if (MMI_UNLIKELY(!s)) {
		struct timespec ts;
		if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			s = mix((uintptr_t)&ts ^ (uintptr_t)ts.tv_nsec ^
				((uintptr_t)getpid() << 32) ^ (uintptr_t)ts.tv_sec);
		}
		s |= 1;	/* never 0: 0 means "not yet" */
		__atomic_store_n(&secret, s, __ATOMIC_RELEASE);
	}
	return s;
}

/* A new secret word each call: the process secret, stepped and mixed. */
uintptr_t mmi_random_word(void)
{
	static uintptr_t step;
	uintptr_t n = __atomic_add_fetch(&step, 1, __ATOMIC_RELAXED);

	return mix(mmi_secret() + n * (uintptr_t)0x9e3779b97f4a7c15ull);
}

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
		if ((uintptr_t)h >= lo && (uintptr_t)h < hi)
			set_remove(h);
	pthread_mutex_unlock(&heaps_lock);
}

/*
 * fork().  With other threads running, any lock may be held at the fork:
 * take them all first, so the child inherits consistent heaps.  glibc runs
 * these handlers before it locks its list of stdio streams, yet stdio may
 * allocate with that list locked (a flush giving a stream its buffer); once
 * libmm is the process's malloc that order would deadlock, so the drop-in
 * takes the stdio list lock first, as glibc's own malloc in effect does.
 * A single-threaded process takes nothing: no other thread can hold a lock,
 * and a signal handler that forks inside malloc must not wait for itself.
 */
extern char __libc_single_threaded __attribute__((weak));
#ifdef MMI_TEST_HOOKS
struct mmi_test_hooks mmi_test;
#endif

#ifdef MMI_DROPIN
extern void _IO_list_lock(void) __attribute__((weak));
extern void _IO_list_unlock(void) __attribute__((weak));
#endif
static int fork_locked;

static void lock_everything(void)
{
	struct mm_heap *h;
	size_t cursor = 0;

	pthread_mutex_lock(&heaps_lock);
	while ((h = mmi_heaps_next(&cursor)))
		mmi_lock(h);
	mmi_shards_lock();
	mmi_brk_lock();
	mmi_pagemap_lock();
	mmi_large_lock();
}

static void unlock_everything(void)
{
	mmi_large_unlock();
	mmi_pagemap_unlock();
	struct mm_heap *h;
	size_t cursor = 0;

	mmi_brk_unlock();
	mmi_shards_unlock();
	while ((h = mmi_heaps_next(&cursor)))
		mmi_unlock(h);
	pthread_mutex_unlock(&heaps_lock);
}

static void fork_prepare(void)
{
	fork_locked = !(&__libc_single_threaded && __libc_single_threaded);
	if (!fork_locked)
		return;
#ifdef MMI_DROPIN
	if (_IO_list_lock)
		_IO_list_lock();
#endif
	lock_everything();
}

static void fork_parent(void)
{
	if (!fork_locked)
		return;
	unlock_everything();
#ifdef MMI_DROPIN
	if (_IO_list_unlock)
		_IO_list_unlock();
#endif
}

/* The child is the thread that forked, so it owns every lock it unlocks;
 * glibc has already reset its stdio list lock here. */
static void fork_child(void)
{
	if (!fork_locked)
		return;
	/* the other threads' shards have no thread here: abandoned, they
	 * go to the child's new threads, rebuilt from their state bytes */
	mmi_shards_after_fork_child(mmi_default_heap_ptr, mmi_thread_shard_if_any());
	unlock_everything();
}

/*
 * Where the default heap takes memory from.  The program break is only safe
 * when nothing else moves it, that is when libmm is the process's malloc;
 * LIBMM_SOURCE=mmap or brk overrides, and LIBMM_CACHE=0 turns the
 * per-thread cache off.  getenv() allocates nothing.
 */
static int env_is(const char *name, const char *value)
{
	const char *s = getenv(name);

	return s && !strcmp(s, value);
}

static unsigned default_flags(void)
{
	if (env_is("LIBMM_SOURCE", "mmap"))
		return MM_SOURCE_MMAP;
	if (env_is("LIBMM_SOURCE", "brk"))
		return MM_SOURCE_BRK;
#ifdef MMI_DROPIN
	return MM_SOURCE_BRK;
#else
	return MM_SOURCE_MMAP;
#endif
}

struct mm_heap *mmi_default_heap_init(void)
{
	struct mm_heap *h = &default_storage.heap;

	pthread_mutex_lock(&init_lock);
	if (!__atomic_load_n(&mmi_default_ready, __ATOMIC_ACQUIRE)) {
		mmi_heap_init(h, default_flags(), MMI_FL_MAX);
		if (!env_is("LIBMM_CACHE", "0"))
			h->flags |= MMI_SLAB_FLAG;
		/* the first table is static: nothing can fail here (and
		 * heap_arg knows the default heap by its address anyway) */
		(void)mmi_heaps_add(h);
		__atomic_store_n(&mmi_default_ready, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&init_lock);
	return h;
}


static int stats_fd = -1;	/* LIBMM_STATS: where the report goes */

static int env_on(const char *name)
{
	const char *s = getenv(name);

	return s && *s && strcmp(s, "0") != 0;
}

/* Registered from a constructor, never from inside an allocation: glibc's
 * pthread_atfork may itself allocate. */
__attribute__((constructor)) static void libmm_init(void)
{
	struct mm_heap *h = mmi_default_heap();

	mmi_thread_init();
	pthread_atfork(fork_prepare, fork_parent, fork_child);
	if (env_on("LIBMM_VERBOSE"))
		mmi_print_options(h, 2);
	if (env_on("LIBMM_STATS"))
		stats_fd = fcntl(2, F_DUPFD_CLOEXEC, 3);
}

/* LIBMM_STATS=1: the default heap's statistics on stderr at exit, through
 * a copy of fd 2 made at start, since many programs close stderr before
 * they exit. */
__attribute__((destructor)) static void libmm_fini(void)
{
	if (stats_fd >= 0)
		mmi_print_stats(mmi_default_heap(), stats_fd);
}
