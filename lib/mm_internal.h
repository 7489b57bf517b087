/*
 * libmm internals shared by the files of lib/.  Nothing here is installed.
 *
 * Every function and object declared here is hidden (the library is built
 * with -fvisibility=hidden and a version script), and every name carries the
 * prefix mmi_ so that it can never be taken for, or interposed as, a public
 * mm_* symbol.  The block layout and its invariants are written down at the
 * top of heap.c; mmi_heap_check() in debug.c verifies each of them.
 */
#ifndef LIBMM_INTERNAL_H
#define LIBMM_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "libmm.h"

#define MMI_HIDDEN __attribute__((visibility("hidden")))
/* Thread-local data: the drop-in must not allocate on a thread's first
 * touch of it, so it uses the initial-exec model. */
#ifdef MMI_DROPIN
#define MMI_TLS __attribute__((tls_model("initial-exec")))
#else
#define MMI_TLS
#endif
#define MMI_LIKELY(x) __builtin_expect(!!(x), 1)
#define MMI_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* --- Blocks -------------------------------------------------------------- */

#define MMI_ALIGN 16u		/* alignof(max_align_t) on every target we build */
#define MMI_HDR 16u		/* bytes before every payload */
#define MMI_MIN_BLOCK 32u	/* header + two free-list links */

/* Flag bits in the low four bits of block.head (sizes are multiples of 16). */
#define MMI_FREE 0x1u		/* this block is free */
#define MMI_PREV_FREE 0x2u	/* the block just below is free: its size is in our word -1 */
#define MMI_LARGE 0x4u		/* this block has a mapping of its own */
#define MMI_FLAGS 0xfu

struct mmi_block {
	size_t head;		/* size | flags */
	union {
		uintptr_t cookie;		/* in use: address ^ heap key */
		struct mmi_block *prev_free;	/* free: the index's links */
	};
	struct mmi_block *next_free;	/* free blocks only: first payload word */
};

static inline size_t mmi_bsize(const struct mmi_block *b)
{
	return b->head & ~(size_t)MMI_FLAGS;
}
static inline struct mmi_block *mmi_after(struct mmi_block *b)
{
	return (struct mmi_block *)((char *)b + mmi_bsize(b));
}
static inline void *mmi_payload(struct mmi_block *b)
{
	return (char *)b + MMI_HDR;
}
static inline struct mmi_block *mmi_block_of(const void *p)
{
	return (struct mmi_block *)((uintptr_t)p - MMI_HDR);
}
/* Free blocks end with a copy of their size, read through the next block. */
static inline void mmi_set_footer(struct mmi_block *b)
{
	((size_t *)mmi_after(b))[-1] = mmi_bsize(b);
}
static inline struct mmi_block *mmi_before(struct mmi_block *b)
{
	return (struct mmi_block *)((char *)b - ((size_t *)b)[-1]);
}

/* What a header holds once a merge has swallowed it (heap.c). */
#define MMI_MERGED_TAG ((uintptr_t)0x6d657267656421ull)
#define mmi_merged_cookie(h, b) ((uintptr_t)(b) ^ (h)->cookie_key ^ MMI_MERGED_TAG)
/* ... and once a thread's cache holds it (cache.c). */
#define MMI_CACHED_TAG ((uintptr_t)0x636163686564ull)
#define mmi_cached_cookie(h, b) ((uintptr_t)(b) ^ (h)->cookie_key ^ MMI_CACHED_TAG)

/* --- Regions: spans of memory a heap carves blocks from ----------------- */

enum mmi_region_kind {
	MMI_REGION_MMAP = 1,	/* an anonymous mapping of blocks */
	MMI_REGION_BRK,		/* a span of the program break */
	MMI_REGION_POOL,	/* the caller's buffer */
	MMI_REGION_LARGE,	/* a mapping holding exactly one block */
};

/* Lives at the start of its span.  [start, end) is all of the span; blocks
 * run from first up to the end marker (a 16-byte header of size 0) at
 * end - 16, except for a large region, whose only block reaches end. */
struct mmi_region {
	uintptr_t start, end;
	struct mm_heap *heap;
	struct mmi_region *next, *prev;	/* the heap's arenas or larges */
	struct mmi_block *first;
	unsigned kind;
	unsigned pad_;
	uint64_t seq;		/* large: the heap's large_seq when linked */
};
#define MMI_REGION_HDR 64u
_Static_assert(sizeof(struct mmi_region) <= MMI_REGION_HDR, "region header too big");

static inline struct mmi_block *mmi_end_marker(const struct mmi_region *r)
{
	return (struct mmi_block *)(r->end - MMI_HDR);
}

/* --- Fit policies: the free-block index ---------------------------------- */

struct mmi_fit {
	const char *name;
	void (*insert)(struct mm_heap *h, struct mmi_block *b);
	void (*remove)(struct mm_heap *h, struct mmi_block *b);
	/* a free block of at least bsize bytes, still in the index, or NULL */
	struct mmi_block *(*find)(struct mm_heap *h, size_t bsize);
	/* 0 when the index holds exactly nfree well-formed free blocks */
	int (*check)(struct mm_heap *h, size_t nfree);
	size_t (*largest)(struct mm_heap *h);
};

MMI_HIDDEN extern const struct mmi_fit mmi_fit_good, mmi_fit_best, mmi_fit_first;

/* Segregated index: first level by power of two, 16 lists per level. */
#define MMI_SL_LOG2 4
#define MMI_SL_COUNT (1u << MMI_SL_LOG2)
#define MMI_FL_MAX 41		/* block sizes below 2^47 */
#define MMI_BSIZE_MAX ((size_t)1 << 46)

MMI_HIDDEN unsigned mmi_fl_count_for(size_t span);

/* --- Heaps --------------------------------------------------------------- */

struct mmi_counters {
	size_t os_bytes, peak_os_bytes;
	size_t in_use_bytes, peak_in_use_bytes;
	size_t free_bytes;
	size_t in_use_blocks, free_blocks;
	size_t mapped_blocks, mapped_bytes;
	size_t regions;
	size_t alloc_count, free_count;
};

struct mm_heap {
	uintptr_t magic;	/* MMI_HEAP_MAGIC ^ its own address */
	uintptr_t cookie_key;	/* in-use block b holds b ^ cookie_key */
	unsigned flags;		/* normalised: one fit, one source */
	unsigned fl_count;	/* first-level lists this heap has */
	const struct mmi_fit *fit;
	pthread_mutex_t lock;
	unsigned long changes;		/* bumped by mmi_unlock(): see there */
	struct mmi_region *arenas;	/* in address order */
	struct mmi_region *larges;	/* newest first: descending seq */
	uint64_t large_seq;		/* the last seq given to a large region */
	size_t mmap_threshold, trim_threshold, grow_size;
	size_t self_bytes;		/* mapping holding this struct, 0 if none */
	struct mm_heap *next_heap, *prev_heap;	/* all heaps, for fork and trim */
	struct mmi_counters st;
	/* free index: first fit keeps an address-ordered list, the others
	 * two levels of segregated lists with their bitmaps */
	struct mmi_block *addr_list;
	uint64_t fl_bitmap;
	uint32_t sl_bitmap[MMI_FL_MAX];
	struct mmi_block *heads[];	/* fl_count * MMI_SL_COUNT */
};

/* internal heap flag, beside the public MM_* ones: lives in a caller's buffer */
#define MMI_POOL_FLAG 0x10000u
/* ... and: small blocks go through the per-thread cache (the default heap) */
#define MMI_CACHE_FLAG 0x20000u
#define MMI_CACHE_MAX_BSIZE ((size_t)1024)

#define MMI_HEAP_MAGIC ((uintptr_t)0x6c69626d6d686570ull)
#define MMI_HEAP_BYTES(fl) (sizeof(struct mm_heap) + \
	(size_t)(fl) * MMI_SL_COUNT * sizeof(struct mmi_block *))

#define MMI_DEFAULT_MMAP_THRESHOLD ((size_t)128 * 1024)
#define MMI_DEFAULT_TRIM_THRESHOLD ((size_t)128 * 1024)
#define MMI_GROW_MIN ((size_t)256 * 1024)
#define MMI_GROW_MAX ((size_t)32 * 1024 * 1024)
#define MMI_IDLE_KEEP_MAX ((size_t)1024 * 1024)	/* largest wholly free mapping kept */

static inline int mmi_is_pool(const struct mm_heap *h)
{
	return h->arenas && h->arenas->kind == MMI_REGION_POOL;
}
static inline void mmi_lock(struct mm_heap *h)
{
	if (!(h->flags & MM_HEAP_NOLOCK))
		pthread_mutex_lock(&h->lock);
}
/*
 * Every change to a heap's blocks, regions or larges happens between
 * mmi_lock() and mmi_unlock(), and mmi_unlock() counts it in h->changes
 * (under the lock, or by the NOLOCK heap's only user): mm_heap_walk, which
 * lets go of the heap between batches, trusts its saved place only while
 * the count is unchanged.  Counting every unlock, not just the changing
 * ones, keeps heap.c and large.c free of bookkeeping; a walk that finds
 * the count moved merely looks its place up again.  A path that only
 * looked may use mmi_unlock_unchanged().
 */
static inline void mmi_unlock(struct mm_heap *h)
{
	h->changes++;
	if (!(h->flags & MM_HEAP_NOLOCK))
		pthread_mutex_unlock(&h->lock);
}
static inline void mmi_unlock_unchanged(struct mm_heap *h)
{
	if (!(h->flags & MM_HEAP_NOLOCK))
		pthread_mutex_unlock(&h->lock);
}

/* heap.c: the engine.  *_locked functions expect the heap lock held. */
MMI_HIDDEN void mmi_heap_init(struct mm_heap *h, unsigned flags, unsigned fl_count);
MMI_HIDDEN void *mmi_alloc(struct mm_heap *h, size_t size);
MMI_HIDDEN void *mmi_calloc(struct mm_heap *h, size_t nmemb, size_t size);
MMI_HIDDEN void *mmi_aligned(struct mm_heap *h, size_t align, size_t size);
MMI_HIDDEN void *mmi_realloc(struct mm_heap *h, void *p, size_t size);
MMI_HIDDEN void mmi_free(struct mm_heap *h, void *p);
MMI_HIDDEN size_t mmi_usable(struct mm_heap *h, const void *p);
MMI_HIDDEN int mmi_trim_locked(struct mm_heap *h, size_t *pad);
MMI_HIDDEN int mmi_trim_all(size_t pad);	/* mm_trim(), in api.c */
MMI_HIDDEN void mmi_release_all(struct mm_heap *h);
MMI_HIDDEN int mmi_pool_init(struct mm_heap *h, uintptr_t lo, uintptr_t hi);

MMI_HIDDEN void mmi_free_block_locked(struct mm_heap *h, struct mmi_block *b);

/* cache.c: per-thread caches of small blocks, for the default heap; the
 * fast paths are here so that malloc and free inline them */
#define MMI_CACHE_BINS (MMI_CACHE_MAX_BSIZE / MMI_ALIGN - 1)	/* 32..1024 */
enum { MMI_CACHE_UNSET, MMI_CACHE_ENTERING, MMI_CACHE_ACTIVE, MMI_CACHE_GONE };
struct mmi_tcache {
	struct mmi_block *bin[MMI_CACHE_BINS];	/* linked through next_free */
	unsigned char count[MMI_CACHE_BINS];
	unsigned char state;
	size_t allocs, frees;		/* served here, not yet told to the heap */
};
MMI_HIDDEN extern __thread struct mmi_tcache mmi_tcache MMI_TLS;
MMI_HIDDEN void mmi_cache_init(void);
MMI_HIDDEN struct mmi_tcache *mmi_cache_start(void);
MMI_HIDDEN void mmi_cache_overflow(struct mm_heap *h, struct mmi_tcache *t, unsigned bin);
MMI_HIDDEN void mmi_cache_flush(struct mm_heap *h);

static inline unsigned mmi_cache_bin(size_t bsize)
{
	return (unsigned)(bsize / MMI_ALIGN) - 2;
}

/* Small blocks are cheap to keep: more of them per list. */
static inline unsigned mmi_cache_limit(unsigned bin)
{
	return bin < 15 ? 32 : 16;
}

static inline struct mmi_tcache *mmi_cache_get(void)
{
	struct mmi_tcache *t = &mmi_tcache;

	return MMI_LIKELY(t->state == MMI_CACHE_ACTIVE) ? t : mmi_cache_start();
}

static inline void *mmi_cache_alloc(struct mm_heap *h, size_t bsize)
{
	struct mmi_tcache *t = mmi_cache_get();
	unsigned i = mmi_cache_bin(bsize);
	struct mmi_block *b;

	if (!t || !(b = t->bin[i]))
		return NULL;
	t->bin[i] = b->next_free;
	t->count[i]--;
	t->allocs++;
	b->cookie = (uintptr_t)b ^ h->cookie_key;
	return mmi_payload(b);
}

static inline int mmi_cache_free(struct mm_heap *h, struct mmi_block *b)
{
	size_t bsize = mmi_bsize(b);
	struct mmi_tcache *t;
	unsigned i;

	if (bsize > MMI_CACHE_MAX_BSIZE || !(t = mmi_cache_get()))
		return 0;
	i = mmi_cache_bin(bsize);
	if (MMI_UNLIKELY(t->count[i] >= mmi_cache_limit(i)))
		mmi_cache_overflow(h, t, i);
	b->cookie = mmi_cached_cookie(h, b);
	b->next_free = t->bin[i];
	t->bin[i] = b;
	t->count[i]++;
	t->frees++;
	return 1;
}

/* large.c: blocks with a mapping of their own */
MMI_HIDDEN void *mmi_large_alloc(struct mm_heap *h, size_t size, size_t align);
MMI_HIDDEN void mmi_large_free(struct mm_heap *h, struct mmi_region *r, void *p);
MMI_HIDDEN void *mmi_large_realloc(struct mm_heap *h, struct mmi_region *r,
	void *p, size_t size);
MMI_HIDDEN void mmi_large_validate(struct mmi_region *r, const void *p);
MMI_HIDDEN void mmi_large_note_freed(const void *p);
MMI_HIDDEN int mmi_large_was_freed(const void *p);

/* source.c: memory from the OS */
MMI_HIDDEN size_t mmi_page_size(void);
MMI_HIDDEN void *mmi_os_map(size_t len);
MMI_HIDDEN void mmi_os_unmap(void *p, size_t len);
MMI_HIDDEN void mmi_os_discard(uintptr_t lo, uintptr_t hi);
MMI_HIDDEN uintptr_t mmi_brk_extend(uintptr_t expect_end, size_t len, int *contiguous);
MMI_HIDDEN int mmi_brk_shrink(uintptr_t end, size_t len);
MMI_HIDDEN void mmi_brk_lock(void);
MMI_HIDDEN void mmi_brk_unlock(void);

/* registry.c: which OS region holds an address (pools are not listed) */
MMI_HIDDEN void mmi_registry_add(struct mmi_region *r);
MMI_HIDDEN void mmi_registry_remove(struct mmi_region *r);
MMI_HIDDEN void mmi_registry_move(struct mmi_region *r, uintptr_t old_start);
MMI_HIDDEN struct mmi_region *mmi_registry_find_slow(uintptr_t addr);
/* Each thread remembers the last span it found, valid while the table's
 * sequence number is unchanged: consecutive frees mostly land in the same
 * region. */
struct mmi_hint {
	unsigned seq;
	uintptr_t start, end;
	struct mmi_region *region;
};
MMI_HIDDEN extern __thread struct mmi_hint mmi_hint MMI_TLS;
MMI_HIDDEN extern unsigned mmi_registry_seq;
static inline struct mmi_region *mmi_registry_find(uintptr_t addr)
{
	struct mmi_hint *h = &mmi_hint;

	if (h->region && h->seq == __atomic_load_n(&mmi_registry_seq, __ATOMIC_ACQUIRE) &&
	    addr - h->start < h->end - h->start)
		return h->region;
	return mmi_registry_find_slow(addr);
}
MMI_HIDDEN void mmi_registry_lock(void);
MMI_HIDDEN void mmi_registry_unlock(void);

/* init.c: the default heap, the list of heaps, fork handlers */
MMI_HIDDEN struct mm_heap *mmi_default_heap_init(void);
MMI_HIDDEN extern int mmi_default_ready;
MMI_HIDDEN extern struct mm_heap *const mmi_default_heap_ptr;
static inline struct mm_heap *mmi_default_heap(void)
{
	if (MMI_LIKELY(__atomic_load_n(&mmi_default_ready, __ATOMIC_ACQUIRE)))
		return mmi_default_heap_ptr;
	return mmi_default_heap_init();
}
MMI_HIDDEN uintptr_t mmi_secret(void);
MMI_HIDDEN int mmi_heaps_add(struct mm_heap *h);	/* 0, or -1: no room */
MMI_HIDDEN void mmi_heaps_remove(struct mm_heap *h);
MMI_HIDDEN void mmi_heaps_forget_in(uintptr_t lo, uintptr_t hi);
MMI_HIDDEN void mmi_heaps_lock(void);
MMI_HIDDEN void mmi_heaps_unlock(void);
MMI_HIDDEN struct mm_heap *mmi_heaps_first(void);
/* 1 when h is a live heap; never reads *h, takes no lock */
MMI_HIDDEN int mmi_heaps_live(const struct mm_heap *h);

/* debug.c: fatal errors, walk, check, print */
MMI_HIDDEN _Noreturn void mmi_fatal(const char *what, const void *addr);
MMI_HIDDEN _Noreturn void mmi_bad_block(struct mm_heap *h, struct mmi_region *r,
	const void *p);
MMI_HIDDEN int mmi_walk_locked(struct mm_heap *h, mm_visit_fn visit, void *arg);
MMI_HIDDEN int mmi_walk(struct mm_heap *h, mm_visit_fn visit, void *arg);	/* unlocked */
MMI_HIDDEN int mmi_check_locked(struct mm_heap *h);
MMI_HIDDEN void mmi_print_locked(struct mm_heap *h, int fd);
MMI_HIDDEN void mmi_print_stats(struct mm_heap *h, int fd);
MMI_HIDDEN void mmi_print_options(struct mm_heap *h, int fd);
MMI_HIDDEN int mmi_in_arenas(const struct mm_heap *h, const void *p, size_t len);

/* stats.c */
MMI_HIDDEN void mmi_stats_locked(struct mm_heap *h, struct mm_stats *out);

static inline void mmi_count_os(struct mm_heap *h, long delta)
{
	h->st.os_bytes += (size_t)delta;
	if (h->st.os_bytes > h->st.peak_os_bytes)
		h->st.peak_os_bytes = h->st.os_bytes;
}
static inline void mmi_count_use(struct mm_heap *h, long bytes, long blocks)
{
	h->st.in_use_bytes += (size_t)bytes;
	h->st.in_use_blocks += (size_t)blocks;
	if (h->st.in_use_bytes > h->st.peak_in_use_bytes)
		h->st.peak_in_use_bytes = h->st.in_use_bytes;
}

#endif
