/*
 * libmm internals shared by the files of lib/.  Nothing here is installed.
 *
 * Every function and object declared here is hidden (the library is built
 * with -fvisibility=hidden and a version script), and every name carries the
 * prefix mmi_ so that it can never be taken for, or interposed as, a public
 * mm_* symbol.  The block layout and its invariants are written down at the
 * top of block.c; mmi_check_locked() in introspect.c verifies each of them.
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

#include "tool.h"	/* memcheck and ASan: see there */

/*
 * Test hooks: only in the test build of the library (lib/libmm-test.la,
 * -DMMI_TEST_HOOKS), which the white-box suites link statically.  A hook
 * lets a test stop a thread at the one point where a race would hurt; a
 * count tells the test which path ran.  Release builds have neither.
 */
#ifdef MMI_TEST_HOOKS
struct mmi_test_hooks {
	void (*pagemap_set)(void);	/* between two granules' entries */
	void (*slab_remote_push)(void);	/* a remote free read the list head */
	void (*shard_abandon_push)(void);	/* an abandoning thread read the stack head */
	int fail_pagemap_reserve;	/* the pagemap refuses new spans */
};
MMI_HIDDEN extern struct mmi_test_hooks mmi_test;
#define MMI_TEST_HOOK(name) do { if (mmi_test.name) mmi_test.name(); } while (0)
#define MMI_TEST_FAIL(name) __atomic_load_n(&mmi_test.fail_##name, __ATOMIC_RELAXED)
#else
#define MMI_TEST_HOOK(name) ((void)0)
#define MMI_TEST_FAIL(name) 0
#endif

/*
 * MMI_MEASURE_UNCHECKED (make CPPFLAGS=-DMMI_MEASURE_UNCHECKED: for
 * measuring only, never shipped) drops the slab pages' misuse and
 * corruption checks, so that their cost can be read off callgrind's
 * counts.  Such a build cannot tell misuse.
 */
#ifdef MMI_MEASURE_UNCHECKED
#define MMI_CHECK(c) (0 && (c))
#else
#define MMI_CHECK(c) (c)
#endif

/*
 * Whether the state byte states[g] is the constant v.  On x86-64 one
 * cmpb against memory: gcc folds a plain read into the compare but not
 * an atomic load, which costs the free fast path a load into a register
 * (and the register).  The asm reads the byte once, as a relaxed load
 * does (a remote freer may change a USED byte at the same time: either
 * value is judged right); base and index go in as registers so that the
 * address is not computed apart (the "m" operand only tells the compiler
 * that the page's state bytes are read).  Elsewhere, and under ThreadSanitizer, which must
 * see every load, the atomic load itself.
 */
#if defined(__SANITIZE_THREAD__)
#define MMI_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MMI_TSAN 1
#endif
#endif
#if defined(__x86_64__) && defined(__GCC_ASM_FLAG_OUTPUTS__) && !defined(MMI_TSAN)
#define mmi_state_is(states, g, v) __extension__ ({				\
	const unsigned char *mmi_s_ = (states);					\
	uintptr_t mmi_g_ = (g);							\
	int mmi_eq_;								\
	__asm__("cmpb %[want], (%[s],%[g])" : "=@cce"(mmi_eq_)			\
		: [s] "r"(mmi_s_), [g] "r"(mmi_g_), [want] "i"(v),		\
		  "m"(*(const unsigned char (*)[MMI_SLAB_GRANULES])mmi_s_));	\
	mmi_eq_; })
#else
#define mmi_state_is(states, g, v) (__atomic_load_n(&(states)[g], __ATOMIC_RELAXED) == (v))
#endif

/* The secure mode (secure.c): 0, off; set once, before the first block. */
MMI_HIDDEN extern int mmi_secure_mode;

/*
 * Internal assertions: on with configure --enable-debug (MMI_DEBUG), off
 * in release builds.  A broken invariant is reported where it breaks.
 */
#ifdef MMI_DEBUG
MMI_HIDDEN _Noreturn void mmi_assert_fail(const char *what, const char *file, int line);
#define MMI_ASSERT(c) ((c) ? (void)0 : mmi_assert_fail(#c, __FILE__, __LINE__))
#else
#define MMI_ASSERT(c) ((void)0)
#endif

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
		uintptr_t cookie;		/* in use: mmi_cookie() of address and size */
		struct mmi_block *prev_free;	/* free: the index's links */
	};
	struct mmi_block *next_free;	/* free blocks only: first payload word */
};

/* Relaxed atomic: see mmi_head_load() below (a plain mov on every target). */
static inline size_t mmi_bsize(const struct mmi_block *b)
{
	return __atomic_load_n(&b->head, __ATOMIC_RELAXED) & ~(size_t)MMI_FLAGS;
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
	MMI_TOOL_OWN((size_t *)mmi_after(b) - 1, sizeof(size_t));
	((size_t *)mmi_after(b))[-1] = mmi_bsize(b);
}
static inline struct mmi_block *mmi_before(struct mmi_block *b)
{
	return (struct mmi_block *)((char *)b - ((size_t *)b)[-1]);
}

/* Neighbours flip a block's PREV_FREE flag under the heap lock while its
 * owner may read the header without it (the cache's free path), so those
 * words are read and written with relaxed atomics. */
static inline size_t mmi_head_load(const struct mmi_block *b)
{
	return __atomic_load_n(&b->head, __ATOMIC_RELAXED);
}
static inline void mmi_head_store(struct mmi_block *b, size_t head)
{
	MMI_TOOL_OWN(&b->head, sizeof b->head);
	__atomic_store_n(&b->head, head, __ATOMIC_RELAXED);
}
static inline void mmi_set_prev_free(struct mmi_block *b, int on)
{
	size_t head = mmi_head_load(b);

	mmi_head_store(b, on ? head | MMI_PREV_FREE : head & ~(size_t)MMI_PREV_FREE);
}
static inline uintptr_t mmi_cookie_load(const struct mmi_block *b)
{
	return __atomic_load_n(&b->cookie, __ATOMIC_RELAXED);
}
static inline void mmi_cookie_store(struct mmi_block *b, uintptr_t cookie)
{
	MMI_TOOL_OWN(&b->cookie, sizeof b->cookie);
	__atomic_store_n(&b->cookie, cookie, __ATOMIC_RELAXED);
}

/* --- Regions: spans of memory a heap carves blocks from ----------------- */

enum mmi_region_kind {
	MMI_REGION_MMAP = 1,	/* an anonymous mapping of blocks */
	MMI_REGION_BRK,		/* a span of the program break */
	MMI_REGION_POOL,	/* the caller's buffer */
	MMI_REGION_LARGE,	/* a mapping holding exactly one block */
	MMI_REGION_SEGMENT,	/* a segment of slab pages (segment.c) */
};

/* Lives at the start of its span.  [start, end) is all of the span; blocks
 * run from first up to the end marker (a 16-byte header of size 0) at
 * end - 16, except for a large region, whose only block reaches end. */
/* The call a pointer was handed to, for naming its misuse. */
enum mmi_op { MMI_OP_FREE, MMI_OP_REALLOC, MMI_OP_SIZE };

struct mmi_region {
	uintptr_t start, end;		/* end: see mmi_region_set_end() */
	struct mm_heap *heap;
	struct mmi_region *next, *prev;	/* the heap's arenas or larges */
	struct mmi_block *first;
	uint16_t kind;
	uint16_t guarded;	/* large, secure mode: the OS page after end is
				 * PROT_NONE, part of the mapping (large.c) */
	unsigned origin;	/* large: its kernel area (see large.c) */
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
	/* 1 when b, which looks free, is linked into the index where its
	 * size puts it (its neighbours on the list point back at it) */
	int (*linked)(struct mm_heap *h, struct mmi_block *b);
	size_t (*largest)(struct mm_heap *h);
};

MMI_HIDDEN extern const struct mmi_fit mmi_fit_good, mmi_fit_best, mmi_fit_first;
/* A heap names its policy by index into this read-only table. */
enum { MMI_FIT_ID_GOOD, MMI_FIT_ID_BEST, MMI_FIT_ID_FIRST, MMI_FIT_IDS };
MMI_HIDDEN extern const struct mmi_fit *const mmi_fits[MMI_FIT_IDS];

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
	uintptr_t cookie_key;	/* secrets of mmi_cookie(), set at creation */
	uintptr_t cookie_mul;	/* odd */
	unsigned flags;		/* normalised: one fit, one source */
	unsigned fl_count;	/* first-level lists this heap has */
	unsigned fit_id;	/* index into mmi_fits: no function pointer in
				 * memory an overflow can reach (a pool's heap
				 * lives in the caller's buffer) */
	unsigned pad_;
	pthread_mutex_t lock;
	unsigned long changes;		/* bumped by mmi_unlock(): see there */
	struct mmi_region *arenas;	/* in address order */
	struct mmi_region *larges;	/* newest first: descending seq */
	uint64_t large_seq;
	uint64_t gen;			/* never the same for two heaps: a thread's
				 * note of its shard of a heap names both */
	struct mmi_shard *shards;	/* every shard (shard.c); under its lock */
	struct mmi_shard *abandoned;	/* atomic stack: shards without a thread */		/* the last seq given to a large region */
	size_t mmap_threshold, trim_threshold, grow_size;
	size_t decay_ms;		/* how long freed large mappings are kept */
	uint64_t top_free_since;	/* under lock: when the break's top first had
					 * more than trim_threshold free (ms), 0: not */
	uint64_t discard_since;		/* under lock: when a large span was first
					 * freed and its pages kept (ms), 0: none */
	size_t self_bytes;		/* mapping holding this struct, 0 if none */
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
/* ... and: small blocks live in slab pages of per-thread shards (the
 * default heap, and heaps of MM_FIT_GOOD on mmap; shard.c) */
#define MMI_SLAB_FLAG 0x20000u

#define MMI_HEAP_MAGIC ((uintptr_t)0x6c69626d6d686570ull)
#define MMI_HEAP_BYTES(fl) (sizeof(struct mm_heap) + \
	(size_t)(fl) * MMI_SL_COUNT * sizeof(struct mmi_block *))

#define MMI_DEFAULT_MMAP_THRESHOLD ((size_t)128 * 1024)
#define MMI_DEFAULT_TRIM_THRESHOLD ((size_t)128 * 1024)
/* Freed large mappings are kept this long for reuse (LIBMM_DECAY_MS) */
#define MMI_DEFAULT_DECAY_MS ((size_t)250)
MMI_HIDDEN extern size_t mmi_decay_default_ms;	/* init.c */
#define MMI_GROW_MIN ((size_t)256 * 1024)
#define MMI_GROW_MAX ((size_t)32 * 1024 * 1024)
#define MMI_IDLE_KEEP_MAX ((size_t)1024 * 1024)	/* largest wholly free mapping kept */

/*
 * The check word of a block header: a keyed multiply-xorshift of the
 * header's address, its size and a tag saying what the block is.  The keys
 * are secret and per heap; the mix is not linear in them, so one leaked
 * header and its address do not give them away, and a header whose size
 * was overwritten no longer matches.
 */
enum {
	MMI_TAG_USED = 1,	/* handed out */
	MMI_TAG_MERGED = 3,	/* swallowed by a merge (block.c); size 0 */
};
static inline uintptr_t mmi_cookie(const struct mm_heap *h, const struct mmi_block *b,
	size_t size, unsigned tag)
{
	uintptr_t x = ((uintptr_t)b ^ h->cookie_key) ^ ((uintptr_t)size << 16) ^ tag;

	x *= h->cookie_mul;
	x ^= x >> 29;
	x *= h->cookie_mul;
	return x ^ (x >> 32);
}
static inline uintptr_t mmi_used_cookie(const struct mm_heap *h, const struct mmi_block *b)
{
	return mmi_cookie(h, b, mmi_bsize(b), MMI_TAG_USED);
}
static inline uintptr_t mmi_merged_cookie(const struct mm_heap *h, const struct mmi_block *b)
{
	return mmi_cookie(h, b, 0, MMI_TAG_MERGED);
}


/* MMI_HIDDEN below: fatal.c.  Dies unless fit_id is one of ours. */
MMI_HIDDEN _Noreturn void mmi_corrupt_locked(struct mm_heap *h, const void *addr);
static inline const struct mmi_fit *mmi_fit_of(struct mm_heap *h)
{
	if (MMI_UNLIKELY(h->fit_id >= MMI_FIT_IDS))
		mmi_corrupt_locked(h, h);
	return mmi_fits[h->fit_id];
}

static inline int mmi_is_pool(const struct mm_heap *h)
{
	return h->arenas && h->arenas->kind == MMI_REGION_POOL;
}
static inline void mmi_lock(struct mm_heap *h)
{
	if (!(h->flags & MM_HEAP_NOLOCK))
		pthread_mutex_lock(&h->lock);
}
/* 0 when taken, as pthread_mutex_trylock (a NOLOCK heap: always) */
static inline int mmi_trylock(struct mm_heap *h)
{
	return (h->flags & MM_HEAP_NOLOCK) ? 0 : pthread_mutex_trylock(&h->lock);
}
/*
 * Every change to a heap's blocks, regions or larges happens between
 * mmi_lock() and mmi_unlock(), and mmi_unlock() counts it in h->changes
 * (under the lock, or by the NOLOCK heap's only user): mm_heap_walk, which
 * lets go of the heap between batches, trusts its saved place only while
 * the count is unchanged.  Counting every unlock, not just the changing
 * ones, keeps block.c and large.c free of bookkeeping; a walk that finds
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

/* block.c: the engine.  *_locked functions expect the heap lock held. */
MMI_HIDDEN void *mmi_alloc(struct mm_heap *h, size_t size);
MMI_HIDDEN void *mmi_calloc(struct mm_heap *h, size_t nmemb, size_t size);
MMI_HIDDEN void *mmi_aligned(struct mm_heap *h, size_t align, size_t size);
MMI_HIDDEN void *mmi_realloc(struct mm_heap *h, void *p, size_t size);
MMI_HIDDEN void mmi_free(struct mm_heap *h, void *p);
MMI_HIDDEN size_t mmi_usable(struct mm_heap *h, const void *p);
/* The same, for a block handed to op (death with the misuse named). */
MMI_HIDDEN size_t mmi_usable_for(struct mm_heap *h, const void *p, enum mmi_op op);
/* The engine itself, under the secure mode's checks (secure.c): a block
 * (align 16: any); free; the usable size of a live block (death with the
 * misuse named for op otherwise), *slab set for a slab slot. */
MMI_HIDDEN void *mmi_engine_alloc(struct mm_heap *h, size_t align, size_t size);
MMI_HIDDEN void mmi_engine_free(struct mm_heap *h, void *p);
/* p live and its size checked: moves go through mmi_alloc and mmi_free. */
MMI_HIDDEN void *mmi_engine_realloc(struct mm_heap *h, void *p, size_t size);
/* The usable size of the live block p (misuse named as op's); *where: its
 * region, whose kind tells the engine and whose heap is p's. */
MMI_HIDDEN size_t mmi_engine_usable(struct mm_heap *h, const void *p, enum mmi_op op,
	struct mmi_region **where);
MMI_HIDDEN int mmi_trim_locked(struct mm_heap *h, size_t *pad);
MMI_HIDDEN int mmi_pool_init(struct mm_heap *h, uintptr_t lo, uintptr_t hi);

/* The arena of h holding the block header at p, read without touching p;
 * NULL when p is no 16-aligned address inside one. */
MMI_HIDDEN struct mmi_region *mmi_arena_of(const struct mm_heap *h, const void *p);
/* Dies (heap corruption, lock released) unless the free-list neighbour
 * link of b points at a block of h whose back link is b. */
MMI_HIDDEN void mmi_check_link_locked(struct mm_heap *h, struct mmi_block *b,
	struct mmi_block *link);

/* large.c: blocks with a mapping of their own */
/* *fresh: set when the block's memory comes straight from the kernel
 * (zeroed), cleared when it is a kept mapping taken over. */
MMI_HIDDEN void *mmi_large_alloc(struct mm_heap *h, size_t size, size_t align, int *fresh);
MMI_HIDDEN void mmi_large_free(struct mm_heap *h, struct mmi_region *r, void *p);
MMI_HIDDEN void *mmi_large_realloc(struct mm_heap *h, struct mmi_region *r,
	void *p, size_t size);
MMI_HIDDEN void mmi_large_validate(struct mmi_region *r, const void *p, enum mmi_op op);
/* The whole mapping of the large region r: its guard page too. */
MMI_HIDDEN void mmi_large_unmap(struct mmi_region *r);
MMI_HIDDEN void mmi_large_note_freed(const void *p);
MMI_HIDDEN int mmi_large_was_freed(const void *p);
/* Freed mappings kept for reuse: those whose time is up (all: every one)
 * are unmapped; 1 if any was.  Called on slow paths and by mm_trim. */
MMI_HIDDEN int mmi_large_cache_purge(int all);
MMI_HIDDEN size_t mmi_large_cache_bytes(void);	/* for tests and statistics */
/* mmi_os_map_aligned, which, when the system refuses (an address-space
 * limit), empties the cache and asks again.  Not under freed_lock. */
MMI_HIDDEN void *mmi_map_reclaiming(size_t len, size_t align);
MMI_HIDDEN void mmi_large_lock(void);	/* fork: the freed set and the cache */
MMI_HIDDEN void mmi_large_unlock(void);

/* os.c: memory from the OS */
MMI_HIDDEN size_t mmi_page_size(void);
MMI_HIDDEN void *mmi_os_map(size_t len);
MMI_HIDDEN void *mmi_os_map_aligned(size_t len, size_t align);
/* [p, p + len) (pages) can no longer be read or written: 0, or -1. */
MMI_HIDDEN int mmi_os_guard(void *p, size_t len);
MMI_HIDDEN void mmi_os_unmap(void *p, size_t len);
MMI_HIDDEN void mmi_os_discard(uintptr_t lo, uintptr_t hi);
MMI_HIDDEN uintptr_t mmi_brk_extend(uintptr_t expect_end, size_t len, int *contiguous);
MMI_HIDDEN int mmi_brk_shrink(uintptr_t end, size_t len);
MMI_HIDDEN void mmi_brk_lock(void);
MMI_HIDDEN void mmi_brk_unlock(void);

/* pagemap.c: which OS region holds an address (pools are not listed) */
#define MMI_ADDR_BITS 47		/* user addresses on the 64-bit targets */
#define MMI_GRANULE_SHIFT 16
#define MMI_GRANULE ((size_t)1 << MMI_GRANULE_SHIFT)	/* regions start on one */
MMI_HIDDEN extern struct mmi_region **mmi_pagemap_l1[(size_t)1 << (MMI_ADDR_BITS - 30)];
/* Leaves for [start, end); -1 (nothing else changed) when the OS refuses. */
MMI_HIDDEN int mmi_pagemap_reserve(uintptr_t start, uintptr_t end);
/* The granules of [start, end) map to r (NULL: to nobody); reserved first. */
MMI_HIDDEN void mmi_pagemap_set(uintptr_t start, uintptr_t end, struct mmi_region *r);
MMI_HIDDEN void mmi_pagemap_lock(void);	/* fork: the leaf lock */
MMI_HIDDEN void mmi_pagemap_unlock(void);

/* The region owning addr's granule, or NULL: any address, never faults. */
static inline struct mmi_region *mmi_pagemap_find(uintptr_t addr)
{
	struct mmi_region **leaf;

	if (MMI_UNLIKELY(addr >> MMI_ADDR_BITS))
		return NULL;
	leaf = __atomic_load_n(&mmi_pagemap_l1[addr >> 30], __ATOMIC_ACQUIRE);
	if (!leaf)
		return NULL;
	return __atomic_load_n(&leaf[(addr >> MMI_GRANULE_SHIFT) & ((1u << (30 - MMI_GRANULE_SHIFT)) - 1)],
			       __ATOMIC_ACQUIRE);
}

/* The region whose span [start, end) holds addr, or NULL. */
static inline struct mmi_region *mmi_region_of(uintptr_t addr)
{
	struct mmi_region *r = mmi_pagemap_find(addr);

	return r && addr >= r->start && addr < __atomic_load_n(&r->end, __ATOMIC_RELAXED) ? r : NULL;
}

/* A published region's end moves (a break span growing or shrinking)
 * under its heap's lock, while mmi_region_of() reads it without one. */
static inline void mmi_region_set_end(struct mmi_region *r, uintptr_t end)
{
	__atomic_store_n(&r->end, end, __ATOMIC_RELAXED);
}

static inline uintptr_t mmi_granule_up(uintptr_t a)
{
	return (a + MMI_GRANULE - 1) & ~(uintptr_t)(MMI_GRANULE - 1);
}

/* A region's span changed from [start, old_end) to [start, new_end):
 * the granules it gained map to it, those it lost to nobody. */
static inline void mmi_pagemap_resize(struct mmi_region *r, uintptr_t old_end, uintptr_t new_end)
{
	if (new_end > old_end)
		mmi_pagemap_set(old_end, new_end, r);
	else if (mmi_granule_up(new_end) < old_end)
		mmi_pagemap_set(mmi_granule_up(new_end), old_end, NULL);
}

/* --- Segments and slab pages (segment.c, slab.c) -------------------------
 *
 * Engine v2's small blocks: a segment is an aligned 4 MiB mapping whose
 * first pages hold its metadata -- the segment header, one descriptor per
 * 64 KiB slab page, and the state bytes of every page -- and whose other
 * pages each hold slots of one size class, with no header per block.
 *
 *   | header | descriptors | state bytes (4 KiB a page) | page | page | ...
 *   ^ segment (4 MiB aligned)                            ^ MMI_SLAB_FIRST_PAGE
 *
 * A page has a state byte per 16-byte granule; the byte of the granule
 * where a slot starts is the slot's state, every other byte stays UNUSED.
 * So the state of a pointer follows from its address alone (granule =
 * offset in the page / 16), with no division, and a pointer that is not
 * a slot start finds UNUSED.  A slot's state byte is the truth about it;
 * free lists are a cache of the states.  UNUSED: never handed out (past
 * the page's carved slots, or reset when the page was given a class).
 * USED: handed out.  FREE: on the page's local free list.  REMOTE: freed
 * by a thread other than the page's owner, on the page's atomic remote
 * list until the owner collects it.  A byte, not a bit, so that the owner
 * and a remote freer never write the same word.
 */
#define MMI_SEGMENT_SHIFT 22
#define MMI_SEGMENT ((size_t)1 << MMI_SEGMENT_SHIFT)		/* 4 MiB */
#define MMI_SLAB_PAGE_SHIFT 16
#define MMI_SLAB_PAGE ((size_t)1 << MMI_SLAB_PAGE_SHIFT)	/* 64 KiB */
#define MMI_SLAB_PAGES (MMI_SEGMENT / MMI_SLAB_PAGE)		/* 64 */
#define MMI_SLAB_GRANULES (MMI_SLAB_PAGE / MMI_ALIGN)		/* 4096 state bytes a page */
#define MMI_SLAB_MAX_SLOTS MMI_SLAB_GRANULES
#define MMI_SLAB_LIST_END MMI_SLAB_GRANULES			/* a free list's end */
/* Classes: 16-byte steps to 128, then 4 per doubling (160, 192, 224, 256,
 * 320, ...) up to 4 KiB; above, the sizes that fill a 64 KiB page with k
 * slots (k = 15 .. 4), about 8 per doubling: 4368, 4672, ... 13104, 16384
 * (slab.c). */
#define MMI_SLAB_MAX_SHIFT 14
#define MMI_SLAB_MAX_BSIZE ((size_t)1 << MMI_SLAB_MAX_SHIFT)
#define MMI_SLAB_POW2_CLASSES 28	/* those up to 4096 */
#define MMI_SLAB_CLASSES 40

/* QUARANTINE: freed by the program, held back from reuse by the secure
 * mode (secure.c); free to the program, in use to the page.  Each shard
 * holds back the last MMI_QUARANTINE slots its thread freed. */
#define MMI_QUARANTINE 256
/* FREE is the largest state: mmi_state_take_free depends on it. */
enum { MMI_SLOT_UNUSED, MMI_SLOT_USED, MMI_SLOT_REMOTE, MMI_SLOT_QUARANTINE, MMI_SLOT_FREE };

/*
 * The owner takes the FREE slot whose state byte is states[g]: FREE ->
 * USED and 1; any other state stays as it was, and 0.  On x86-64 one
 * subb where the byte lies, whose flags tell what it was (only FREE is
 * above FREE - USED): the check costs the fast pop a branch, not a load
 * and a compare.  The subtraction is not atomic.  Nobody but the owner
 * writes a FREE byte, so only a byte that was not FREE -- a free list
 * led astray, about to be reported as heap corruption -- can lose a
 * remote freer's compare-and-swap meanwhile.
 */
#if defined(__x86_64__) && defined(__GCC_ASM_FLAG_OUTPUTS__) && !defined(MMI_TSAN)
static inline int mmi_state_take_free(unsigned char *states, uintptr_t g)
{
	int was_free;

	__asm__("subb %[d], (%[s],%[g])"
		: "=@cca"(was_free), "+m"(*(unsigned char (*)[MMI_SLAB_GRANULES])states)
		: [s] "r"(states), [g] "r"(g), [d] "i"(MMI_SLOT_FREE - MMI_SLOT_USED));
	if (MMI_UNLIKELY(!was_free))
		__atomic_fetch_add(&states[g], MMI_SLOT_FREE - MMI_SLOT_USED, __ATOMIC_RELAXED);
	return was_free;
}
#else
static inline int mmi_state_take_free(unsigned char *states, uintptr_t g)
{
	if (__atomic_load_n(&states[g], __ATOMIC_RELAXED) != MMI_SLOT_FREE)
		return 0;
	__atomic_store_n(&states[g], MMI_SLOT_USED, __ATOMIC_RELAXED);
	return 1;
}
#endif

struct mmi_shard;

/*
 * A slab page's descriptor.  The owner (the shard that carves and
 * allocates from the page) reads and writes every field but remote
 * without a lock; other threads only push onto remote (compare-and-swap)
 * and change a USED state byte to REMOTE (compare-and-swap on the byte).
 * The fast paths read only the first line; descriptors are 128 bytes
 * apart so that finding one from an address is a shift and a mask.
 */
struct mmi_slab_page {
	uint16_t free_head;		/* owner: the granule of the first free slot,
					 * MMI_SLAB_LIST_END when none; each free
					 * slot's first word links to the next */
	uint16_t pad0_;
	uint16_t nslots;		/* slots the page holds */
	uint16_t carved;		/* slots [0, carved) were ever handed out;
					 * atomic: walkers read it */
	uint32_t bsize;			/* set last when the page gets its class, 0
					 * when it has none: see mmi_slab_page_ready */
	uint8_t cls;
	uint8_t in_use;			/* 0: the page is free in its segment */
	uint8_t resident;		/* free, and its memory not yet given back:
					 * taken first; discarded idle_since + decay */
	uint8_t pad_;
	uintptr_t area;			/* slot 0: the page's first byte */
	uintptr_t link_key;		/* masks the links of the free list */
	unsigned char *state;		/* MMI_SLAB_GRANULES state bytes, in the metadata */
	struct mmi_shard *shard;	/* owner; atomic (abandon/adopt) */
	/* -- slow paths only below -- */
	void *remote;			/* atomic: frees from other threads */
	struct mmi_slab_page *next, *prev;	/* owner: its queue */
	uint32_t limit;			/* nslots * bsize: offsets below are slots */
	uint32_t recip;			/* ceil(2^32 / bsize): slot = off * recip >> 32 */
	uint32_t idle_since;		/* owner: when a sweep first found the page
					 * empty, or when it was parked (coarse ms,
					 * low bits); 0: in use */
} __attribute__((aligned(128)));

struct mmi_segment {
	struct mmi_region region;	/* kind MMI_REGION_SEGMENT: the pagemap's entry */
	uintptr_t link_key;		/* masks remote-list links; pages copy it */
	unsigned free_pages;		/* owner: pages not given a class */
	unsigned pad_;
	struct mmi_shard *shard;	/* the owner, whose pages these are */
	struct mmi_segment *next;	/* owner: the shard's segments */
	struct mmi_slab_page pages[MMI_SLAB_PAGES];
};

#define MMI_SLAB_STATES_OFFSET \
	((sizeof(struct mmi_segment) + MMI_ALIGN - 1) & ~(size_t)(MMI_ALIGN - 1))
#define MMI_SLAB_META_BYTES (MMI_SLAB_STATES_OFFSET + MMI_SLAB_PAGES * MMI_SLAB_GRANULES)
#define MMI_SLAB_FIRST_PAGE ((MMI_SLAB_META_BYTES + MMI_SLAB_PAGE - 1) / MMI_SLAB_PAGE)

/*
 * Which 4 MiB-aligned spans are segments: a byte per span of the 47-bit
 * address space (32 MiB of .bss, touched only where segments are), set
 * when a segment is mapped and cleared before it is unmapped.  The fast
 * free's one shift and one load: any pointer -- stack, global, garbage --
 * is answered without a fault (pagemap.c).
 */
#define MMI_SEGMAP_ENTRIES ((size_t)1 << (MMI_ADDR_BITS - MMI_SEGMENT_SHIFT))
MMI_HIDDEN extern uint8_t mmi_segmap[MMI_SEGMAP_ENTRIES];
static inline int mmi_segmap_has(uintptr_t a)
{
	return (a >> MMI_SEGMENT_SHIFT) < MMI_SEGMAP_ENTRIES &&
	       __atomic_load_n(&mmi_segmap[a >> MMI_SEGMENT_SHIFT], __ATOMIC_RELAXED);
}
/*
 * For free's fast path: a >> 4, the number of a's 16-byte granule, with
 * a's low four bits rotated on top.  A pointer off a granule then indexes
 * past the segment map and fails the bounds test it needs anyway (the
 * alignment check costs the rotation, 1 instruction), and its granule in
 * the page is the low bits, with no shift of its own.  (Measuring the
 * checks' cost, the plain shift.)
 */
static inline uintptr_t mmi_granule_rotated(uintptr_t a)
{
	if (!MMI_CHECK(1))
		return a >> 4;
	return (a >> 4) | (a << (sizeof a * 8 - 4));
}
/* mmi_segmap_has for a pointer given by mmi_granule_rotated(), false also
 * when it is not 16-aligned. */
static inline int mmi_segmap_has_rotated(uintptr_t r)
{
	uintptr_t i = r >> (MMI_SEGMENT_SHIFT - 4);

	return i < MMI_SEGMAP_ENTRIES && __atomic_load_n(&mmi_segmap[i], __ATOMIC_RELAXED);
}

/* For walkers (other threads, under shards_lock): the page's block size,
 * 0 when the page has no class; after a non-zero answer the page's other
 * fixed fields (area, nslots, cls, shard) can be read. */
static inline size_t mmi_slab_page_ready(const struct mmi_slab_page *page)
{
	return __atomic_load_n(&page->bsize, __ATOMIC_ACQUIRE);
}

static inline struct mmi_segment *mmi_segment_of(const void *p)
{
	return (struct mmi_segment *)((uintptr_t)p & ~(uintptr_t)(MMI_SEGMENT - 1));
}
static inline struct mmi_slab_page *mmi_slab_page_of(struct mmi_segment *seg, const void *p)
{
	/* &seg->pages[(p >> 16) % 64], as one shift and one mask */
	_Static_assert(sizeof(struct mmi_slab_page) == 128, "descriptors are 128 bytes apart");
	return (struct mmi_slab_page *)((char *)seg->pages +
		(((uintptr_t)p >> (MMI_SLAB_PAGE_SHIFT - 7)) & ((MMI_SLAB_PAGES - 1) << 7)));
}
/* The granule of p in its page: the index of its state byte. */
static inline unsigned mmi_slab_granule(const void *p)
{
	return (unsigned)(((uintptr_t)p & (MMI_SLAB_PAGE - 1)) / MMI_ALIGN);
}
/* The state byte of slot k of page. */
static inline unsigned char *mmi_slab_slot_state(const struct mmi_slab_page *page, size_t k)
{
	return &page->state[k * page->bsize / MMI_ALIGN];
}

/* segment.c */
MMI_HIDDEN struct mmi_segment *mmi_segment_alloc(struct mm_heap *h);	/* NULL: no memory */
/* Bytes at the end of every slab page that hold no slot: in the secure
 * mode, a guard page (PROT_NONE) set when the segment is made; else 0. */
MMI_HIDDEN size_t mmi_slab_guard_bytes(void);
MMI_HIDDEN void mmi_segment_free(struct mmi_segment *seg);
MMI_HIDDEN struct mmi_slab_page *mmi_segment_page_take(struct mmi_segment *seg);
MMI_HIDDEN void mmi_segment_page_return(struct mmi_segment *seg, struct mmi_slab_page *page);
/* As page_return, its memory kept resident for the next page taken; now
 * is when (coarse ms), for the decay that discards it. */
MMI_HIDDEN void mmi_segment_page_park(struct mmi_segment *seg, struct mmi_slab_page *page,
	uint64_t now);
/* now (coarse ms) as a page's idle_since: its low bits, never 0. */
static inline uint32_t mmi_idle_stamp(uint64_t now)
{
	return (uint32_t)now ? (uint32_t)now : 1;
}

/* slab.c */
MMI_HIDDEN extern const uint16_t mmi_slab_class_bsize[];
/* Small sizes in 16-byte steps: step (size + 15) / 16. */
#define MMI_SLAB_STEPS (MMI_SLAB_MAX_BSIZE / 16 + 1)
static inline size_t mmi_slab_step(size_t size)
{
	return (size + 15) >> 4;
}
/* The smallest class that holds size (<= MMI_SLAB_MAX_BSIZE): off the fast
 * path, which goes from the step to the page directly. */
static inline unsigned mmi_slab_class(size_t size)
{
	unsigned b, c;

	if (size <= 128)
		return size ? (unsigned)((size - 1) >> 4) : 0;
	if (size <= 4096) {
		b = 63u - (unsigned)__builtin_clzll((unsigned long long)(size - 1));	/* 7..11 */
		return 8 + (b - 7) * 4 + (unsigned)(((size - 1) >> (b - 2)) & 3);
	}
	for (c = MMI_SLAB_POW2_CLASSES; mmi_slab_class_bsize[c] < size; c++)
		;
	return c;
}
MMI_HIDDEN void mmi_slab_page_init(struct mmi_segment *seg, struct mmi_slab_page *page,
	unsigned cls, struct mmi_shard *owner);
MMI_HIDDEN void *mmi_slab_carve(struct mmi_slab_page *page);
/* The secure mode's mmi_slab_alloc: a slot drawn at random (slab.c). */
MMI_HIDDEN void *mmi_slab_alloc_scattered(struct mmi_slab_page *page);
/* Slots of page in use (USED or REMOTE), counted from the state bytes:
 * the fast paths keep no count. */
MMI_HIDDEN size_t mmi_slab_page_used(const struct mmi_slab_page *page);
/* The secure mode's quarantine: the USED slot p becomes QUARANTINE (any
 * thread; the verdict of a free otherwise), and later USED again, by the
 * thread that held it, just before it is freed for real. */
MMI_HIDDEN enum mmi_slab_verdict mmi_slab_hold(struct mmi_slab_page *page, void *p);
MMI_HIDDEN void mmi_slab_unhold(struct mmi_slab_page *page, void *p);
/* Whether no slot of page is in use (stops at the first that is). */
MMI_HIDDEN int mmi_slab_page_empty(const struct mmi_slab_page *page);
MMI_HIDDEN _Noreturn __attribute__((cold)) void mmi_slab_corrupt(const void *slot);
/* A page with no slot and no class: the direct page of every class of a
 * shard that has none yet, so that the fast path needs no NULL test. */
MMI_HIDDEN extern struct mmi_slab_page mmi_slab_page_none;

/*
 * Free-list links: a free slot's first word holds the granule of the next
 * free slot (MMI_SLAB_LIST_END: none), masked with the page's secret.  A
 * write after free cannot aim malloc at an address of its choosing:
 * anything but a granule of the same page decodes to a number out of
 * range, which is heap corruption; a granule that is no FREE slot is
 * caught by its state byte when it is popped.
 */
static inline void mmi_slab_link_store(const struct mmi_slab_page *page, void *slot, unsigned next)
{
	MMI_TOOL_OWN(slot, sizeof(uintptr_t));
	__atomic_store_n((uintptr_t *)slot, (uintptr_t)next ^ page->link_key, __ATOMIC_RELAXED);
}
/* The first slot of page's free list for its owner -- a pop and a state
 * store -- or NULL, with nothing changed, when the list is empty or its
 * head is not sound (a link out of range, a slot that is not FREE). */
static inline void *mmi_slab_try_pop(struct mmi_slab_page *page)
{
	unsigned g = page->free_head;
	void *slot;
	uintptr_t next;

	if (MMI_UNLIKELY(g == MMI_SLAB_LIST_END))
		return NULL;
	slot = (void *)(page->area + (uintptr_t)g * MMI_ALIGN);
	next = __atomic_load_n((const uintptr_t *)slot, __ATOMIC_RELAXED) ^ page->link_key;
	if (MMI_UNLIKELY(MMI_CHECK(next > MMI_SLAB_LIST_END)))
		return NULL;
	page->free_head = (uint16_t)next;
	if (!MMI_CHECK(1)) {
		__atomic_store_n(&page->state[g], MMI_SLOT_USED, __ATOMIC_RELAXED);
	} else if (MMI_UNLIKELY(!mmi_state_take_free(page->state, g))) {
		page->free_head = (uint16_t)g;	/* as it was */
		return NULL;
	}
	if (!slot)
		__builtin_unreachable();	/* lets callers drop a NULL test */
	return slot;
}
/* The same, where a list that is not empty but not sound is heap
 * corruption. */
static inline void *mmi_slab_pop(struct mmi_slab_page *page)
{
	void *p = mmi_slab_try_pop(page);

	if (MMI_UNLIKELY(!p && page->free_head != MMI_SLAB_LIST_END))
		mmi_slab_corrupt((void *)(page->area + (uintptr_t)page->free_head * MMI_ALIGN));
	return p;
}
/* A slot of page for its owner, or NULL when the page is full (its remote
 * frees not yet collected). */
static inline void *mmi_slab_alloc(struct mmi_slab_page *page)
{
	if (MMI_UNLIKELY(mmi_secure_mode))
		return mmi_slab_alloc_scattered(page);
	if (page->free_head == MMI_SLAB_LIST_END)
		return mmi_slab_carve(page);
	return mmi_slab_pop(page);
}
/* The slot index of p in page; -1 when p is no slot start (in the middle of
 * one, or outside the carved slots). */
static inline long mmi_slab_index(const struct mmi_slab_page *page, const void *p)
{
	uintptr_t off = (uintptr_t)p - page->area;
	uint32_t idx;

	if (off >= page->limit)
		return -1;
	idx = (uint32_t)(((uint64_t)off * page->recip) >> 32);
	return off == (uintptr_t)idx * page->bsize ? (long)idx : -1;
}
enum mmi_slab_verdict {
	MMI_SLAB_OK,
	MMI_SLAB_DOUBLE_FREE,		/* FREE or REMOTE already */
	MMI_SLAB_INVALID,		/* never handed out, or no slab page */
	MMI_SLAB_MIDDLE,		/* inside a slot, not at its start */
};
/* What freeing p, which lies in page, would be.  A page without a class
 * has limit 0 or only UNUSED states: invalid either way. */
static inline enum mmi_slab_verdict mmi_slab_classify(const struct mmi_slab_page *page,
	const void *p)
{
	unsigned char st;

	if (!MMI_CHECK(1))
		return MMI_SLAB_OK;	/* measuring the checks' cost only */
	if ((uintptr_t)p % MMI_ALIGN == 0) {
		st = __atomic_load_n(&page->state[mmi_slab_granule(p)], __ATOMIC_RELAXED);
		if (MMI_LIKELY(st == MMI_SLOT_USED))
			return MMI_SLAB_OK;	/* only slot starts are ever USED */
		if (st != MMI_SLOT_UNUSED)
			return MMI_SLAB_DOUBLE_FREE;
	}
	/* UNUSED or misaligned: never handed out, or inside a slot */
	if ((uintptr_t)p - page->area < page->limit && mmi_slab_index(page, p) < 0)
		return MMI_SLAB_MIDDLE;
	return MMI_SLAB_INVALID;
}

/* The slot at p, whose state is already FREE, goes onto page's local free
 * list. */
static inline void mmi_slab_local_push(struct mmi_slab_page *page, void *p)
{
	mmi_slab_link_store(page, p, page->free_head);
	page->free_head = (uint16_t)mmi_slab_granule(p);
}

/* The fast path's free of p, a 16-aligned address of page's whose
 * granule there is g: 1 when it was an in-use slot start and is freed, 0
 * (nothing changed) otherwise. */
static inline int mmi_slab_try_free_granule(struct mmi_slab_page *page, void *p, uintptr_t g)
{
	MMI_ASSERT(g == mmi_slab_granule(p));
	if (MMI_CHECK(!mmi_state_is(page->state, g, MMI_SLOT_USED)))
		return 0;
	__atomic_store_n(&page->state[g], MMI_SLOT_FREE, __ATOMIC_RELAXED);
	mmi_slab_link_store(page, p, page->free_head);
	page->free_head = (uint16_t)g;
	return 1;
}

/* The owner frees p: state USED -> FREE, push; or the verdict. */
static inline enum mmi_slab_verdict mmi_slab_free_local(struct mmi_slab_page *page, void *p)
{
	enum mmi_slab_verdict v = mmi_slab_classify(page, p);

	if (v != MMI_SLAB_OK)
		return v;
	__atomic_store_n(&page->state[mmi_slab_granule(p)], MMI_SLOT_FREE, __ATOMIC_RELAXED);
	mmi_slab_local_push(page, p);
	return MMI_SLAB_OK;
}
MMI_HIDDEN enum mmi_slab_verdict mmi_slab_free_remote(struct mmi_segment *seg,
	struct mmi_slab_page *page, void *p);
MMI_HIDDEN unsigned mmi_slab_collect(struct mmi_segment *seg, struct mmi_slab_page *page);
MMI_HIDDEN void mmi_slab_rebuild(struct mmi_segment *seg, struct mmi_slab_page *page);
/* MMI_SLAB_OK when p is an in-use slot of page (nothing changes). */
MMI_HIDDEN enum mmi_slab_verdict mmi_slab_verdict(const struct mmi_slab_page *page, const void *p);

/* shard.c: one thread's part of a heap's slab pages.
 *
 * Fields marked "owner" are read and written by the shard's thread only,
 * without a lock; abandoned and next_abandoned change with atomics;
 * next_shard is written once, under shards_lock, before the shard is
 * published. */
struct mmi_shard {
	struct mm_heap *heap;				/* fixed */
	struct mmi_slab_page *direct[MMI_SLAB_STEPS];	/* owner: by (size + 15) / 16, the
							 * page of its class with free
							 * slots, or &mmi_slab_page_none */
	uint64_t allocs;				/* owner: slots handed out; frees
							 * are allocs minus what is in use */
	struct mmi_slab_page *queue[MMI_SLAB_CLASSES];	/* owner: every page of the class */
	struct mmi_segment *segments;			/* owner: where its pages come from */
	struct mmi_shard *next_shard;			/* all shards of the heap */
	struct mmi_shard *next_abandoned;		/* the heap's abandoned stack */
	int abandoned;					/* atomic: no thread owns it */
	uint64_t next_sweep;				/* owner: when empty pages are
							 * looked for again (ms) */
	unsigned queued;				/* owner: pages in the queues */
	unsigned quarantine_next;			/* owner: the oldest entry */
	void *quarantine[MMI_QUARANTINE];		/* owner: secure mode's freed
							 * slots held back, FIFO */
	uint64_t scatter_rng;				/* owner: secure mode's slot
							 * choice (slab.c); 0: unseeded */
	unsigned fresh_since_park;			/* owner: pages taken since
							 * empty ones were last parked */
};
/* The shard of a thread that has none: no page, every request goes on. */
MMI_HIDDEN extern struct mmi_shard mmi_shard_none;
MMI_HIDDEN struct mmi_shard *mmi_shard_acquire(struct mm_heap *h);	/* adopt or make; NULL: no memory */
MMI_HIDDEN void mmi_shard_abandon(struct mmi_shard *s);
MMI_HIDDEN void *mmi_shard_alloc_slow(struct mmi_shard *s, size_t size);

/* A counter of the owner's, which statistics read from other threads:
 * one instruction where a plain add is a single-copy atomic store. */
static inline void mmi_shard_count(uint64_t *c)
{
#if defined(__x86_64__)
	__asm__("addq $1, %0" : "+m"(*c));
#else
	__atomic_store_n(c, *c + 1, __ATOMIC_RELAXED);
#endif
}

/* p lies in seg, a segment of s's heap.  Local when s owns the page, else
 * remote (s may be NULL: a thread without a shard). */
static inline enum mmi_slab_verdict mmi_shard_free(struct mmi_shard *s, struct mmi_segment *seg,
	void *p)
{
	struct mmi_slab_page *pg = mmi_slab_page_of(seg, p);

	if (s && __atomic_load_n(&pg->shard, __ATOMIC_RELAXED) == s)
		return mmi_slab_free_local(pg, p);
	return mmi_slab_free_remote(seg, pg, p);
}

/* A slot of at least size bytes (size <= MMI_SLAB_MAX_BSIZE) from s's
 * pages, or NULL when no memory can be had (or s is mmi_shard_none).  The
 * fast path: the class, the direct page, a pop. */
static inline void *mmi_shard_alloc(struct mmi_shard *s, size_t size)
{
	void *p = mmi_slab_try_pop(s->direct[mmi_slab_step(size)]);

	if (MMI_LIKELY(p != NULL)) {
		mmi_shard_count(&s->allocs);
		return p;
	}
	return mmi_shard_alloc_slow(s, size);
}
/* The secure mode's mmi_shard_alloc: a slot drawn at random (slab.c). */
MMI_HIDDEN void *mmi_shard_alloc_scattered(struct mmi_shard *s, size_t size);
MMI_HIDDEN int mmi_shard_trim(struct mmi_shard *s);
MMI_HIDDEN uint64_t mmi_now_ms(void);	/* the coarse monotonic clock (large.c) */
MMI_HIDDEN void mmi_shards_lock(void);	/* adoption, trim, and every look inside */
MMI_HIDDEN void mmi_shards_unlock(void);
MMI_HIDDEN int mmi_shards_trylock(void);	/* 0 when taken */
MMI_HIDDEN void mmi_shards_after_fork_child(struct mm_heap *h, struct mmi_shard *mine);
/* A heap being destroyed (no longer in the live set): its shards and
 * segments go, under shards_lock. */
MMI_HIDDEN void mmi_slabs_release(struct mm_heap *h);

/* Looking inside the slab pages of every shard of h (shard.c); each takes
 * shards_lock, so no segment goes away meanwhile.  Figures are exact when
 * no other thread allocates or frees at the same time. */
struct mmi_slab_tally {
	size_t used_blocks, used_bytes, free_blocks, free_bytes, largest_free;
	size_t segments;
	uint64_t allocs, frees;
};
MMI_HIDDEN void mmi_slabs_tally(struct mm_heap *h, struct mmi_slab_tally *t);
/* Visits up to limit slots (0: all) handed out at some point -- in use,
 * or free -- with addresses above *cursor, in address order; *cursor is
 * left at the last one visited, UINTPTR_MAX when there are no more. */
MMI_HIDDEN int mmi_slabs_visit(struct mm_heap *h, uintptr_t *cursor, size_t limit,
	mm_visit_fn visit, void *arg);
MMI_HIDDEN int mmi_slabs_check(struct mm_heap *h);	/* 0, or -1: corrupt */
MMI_HIDDEN int mmi_slabs_trim(struct mm_heap *h);	/* 1 if anything went back */

/* thread.c: each thread's shards.  The default heap's is set up on the
 * thread's first small allocation; while that is under way (registering
 * the thread's exit may allocate) and after the thread's teardown began,
 * the thread has none and its small requests go to the block engine.
 * Shards of other heaps are noted in a few slots, by heap and generation
 * (a destroyed heap's slot is never read through); a thread using more
 * heaps than slots gives up (abandons) the shard of the oldest note. */
enum { MMI_THREAD_UNSET, MMI_THREAD_ENTERING, MMI_THREAD_ACTIVE, MMI_THREAD_GONE };
#define MMI_THREAD_HEAPS 4
struct mmi_heap_note {
	struct mm_heap *heap;
	uint64_t gen;
	struct mmi_shard *shard;
};
struct mmi_thread {
	struct mmi_shard *fast;		/* what the fast paths read: the shard when
					 * ACTIVE, else &mmi_shard_none */
	struct mmi_shard *shard;	/* the shard when ACTIVE, else NULL */
	unsigned char state;
	unsigned char next_note;	/* the slot to reuse when all are taken */
	struct mmi_heap_note notes[MMI_THREAD_HEAPS];	/* other heaps' shards */
};
MMI_HIDDEN extern __thread struct mmi_thread mmi_thread MMI_TLS;
MMI_HIDDEN extern struct mm_heap *const mmi_default_heap_ptr;	/* init.c */
MMI_HIDDEN void mmi_thread_init(void);
MMI_HIDDEN struct mmi_shard *mmi_thread_start(struct mm_heap *h);
/* The calling thread's shard of h, another heap than the default; made
 * if make is set and there is none.  NULL: none (now). */
MMI_HIDDEN struct mmi_shard *mmi_thread_heap_shard(struct mm_heap *h, int make);
/* fork child: every shard of another thread is abandoned (thread.c) */
MMI_HIDDEN void mmi_thread_after_fork_child(void);

/* The calling thread's shard of h, starting it if need be; NULL when the
 * thread cannot have one now. */
static inline struct mmi_shard *mmi_thread_shard(struct mm_heap *h)
{
	struct mmi_thread *t = &mmi_thread;

	if (MMI_LIKELY(h == mmi_default_heap_ptr))
		return MMI_LIKELY(t->state == MMI_THREAD_ACTIVE) ? t->shard : mmi_thread_start(h);
	return mmi_thread_heap_shard(h, 1);
}
/* ... or only if it has one already. */
static inline struct mmi_shard *mmi_thread_shard_if_any(struct mm_heap *h)
{
	struct mmi_thread *t = &mmi_thread;

	if (MMI_LIKELY(h == mmi_default_heap_ptr))
		return t->state == MMI_THREAD_ACTIVE ? t->shard : NULL;
	return mmi_thread_heap_shard(h, 0);
}

/* init.c: the default heap, the process secret, fork handlers */
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
MMI_HIDDEN uintptr_t mmi_random_word(void);	/* for per-heap keys */

/* heap.c: heap objects and the set of live heaps */
MMI_HIDDEN void mmi_heap_init(struct mm_heap *h, unsigned flags, unsigned fl_count);
MMI_HIDDEN void mmi_release_all(struct mm_heap *h);
MMI_HIDDEN int mmi_trim_all(size_t pad);	/* mm_trim(), malloc_trim() */
MMI_HIDDEN int mmi_heaps_add(struct mm_heap *h);	/* 0, or -1: no room */
MMI_HIDDEN void mmi_heaps_remove(struct mm_heap *h);
MMI_HIDDEN void mmi_heaps_forget_in(uintptr_t lo, uintptr_t hi);
MMI_HIDDEN void mmi_heaps_lock(void);
MMI_HIDDEN void mmi_heaps_unlock(void);
MMI_HIDDEN void mmi_heaps_unlock_if_held(void);	/* on the way to abort() */
MMI_HIDDEN struct mm_heap *mmi_heaps_next(size_t *cursor);	/* under heaps_lock */
/* 1 when h is a live heap; never reads *h, takes no lock */
MMI_HIDDEN int mmi_heaps_live(const struct mm_heap *h);

/* secure.c: the secure mode (mmi_secure_mode, above) */
/* From LIBMM_SECURE: "0" off, "zero" on with zero on free, else on. */
MMI_HIDDEN void mmi_secure_set(const char *how);
#define MMI_SECURE_TAIL 16u		/* canary bytes and the size word */
#define MMI_FREED_BYTE 0xdf		/* a freed slot's bytes past its link */
MMI_HIDDEN void *mmi_secure_alloc(struct mm_heap *h, size_t size, size_t align, int zero);
MMI_HIDDEN void mmi_secure_free(struct mm_heap *h, void *p);
MMI_HIDDEN void *mmi_secure_realloc(struct mm_heap *h, void *p, size_t size);
MMI_HIDDEN size_t mmi_secure_usable(struct mm_heap *h, const void *p, enum mmi_op op);
MMI_HIDDEN void mmi_secure_fill_freed(void *slot, size_t bsize);
/* Death with "write after free" if a slot s holds back was written to. */
MMI_HIDDEN void mmi_secure_check_quarantine(struct mmi_shard *s);
/* The same for the medium blocks held back (at exit). */
MMI_HIDDEN void mmi_secure_check_held(void);
/* h is being destroyed: the medium blocks of h held back are forgotten. */
MMI_HIDDEN void mmi_secure_forget_heap(struct mm_heap *h);
/* The lock of the medium blocks held back: the outermost (fork). */
MMI_HIDDEN void mmi_secure_lock(void);
MMI_HIDDEN void mmi_secure_unlock(void);

/* fatal.c: the one-line fatal messages */
MMI_HIDDEN _Noreturn void mmi_fatal(const char *what, const void *addr);
/* What a block already freed is called by the call that was handed it:
 * "double free" for free, "realloc of a freed block", ... (what itself
 * for any other fault). */
MMI_HIDDEN const char *mmi_misuse_by(const char *what, enum mmi_op op);
/* p is no in-use block of r: say what it is and die.  With locked set the
 * caller holds h's lock, which is released before the report, so that a
 * SIGABRT handler that allocates does not deadlock. */
MMI_HIDDEN _Noreturn void mmi_die_bad_block(struct mm_heap *h, struct mmi_region *r,
	const void *p, int locked, enum mmi_op op);
MMI_HIDDEN const char *mmi_diagnose_block(struct mm_heap *h, struct mmi_region *r,
	const void *p);

/* introspect.c: walk, check, print */
MMI_HIDDEN int mmi_walk_locked(struct mm_heap *h, mm_visit_fn visit, void *arg);
MMI_HIDDEN int mmi_walk(struct mm_heap *h, mm_visit_fn visit, void *arg);	/* unlocked */
MMI_HIDDEN int mmi_check_locked(struct mm_heap *h);
MMI_HIDDEN void mmi_print_locked(struct mm_heap *h, int fd);
MMI_HIDDEN void mmi_print_stats(struct mm_heap *h, int fd);
MMI_HIDDEN void mmi_print_options(struct mm_heap *h, int fd);
/* h's dump into the file at path (LIBMM_DUMP); from_signal: locks only
 * tried, "busy" written if they stay taken.  0, or -1 (no file, busy). */
MMI_HIDDEN int mmi_dump_to_path(struct mm_heap *h, const char *path, int from_signal);
MMI_HIDDEN int mmi_in_arenas(const struct mm_heap *h, const void *p, size_t len);

/* introspect.c: statistics */
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
