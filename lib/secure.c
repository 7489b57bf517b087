/*
 * The secure mode (LIBMM_SECURE=1, or configure --enable-secure): checks
 * that cost memory and time on every call, for programs that would rather
 * die than run on with a damaged heap.  Off by default; chosen once, when
 * the default heap is made, for every heap but pools.
 *
 * Every block gets a tail of at least MMI_SECURE_TAIL bytes beyond what
 * was asked: an 8-byte canary right after the requested end, and a word
 * holding the requested size at the block's end, both masked with the
 * process secret and the block's address.
 * free, realloc and mm_usable_size read the size back and check the
 * canary: a write of even one byte past the request ("heap overflow"), or
 * over the size word, is found there.  mm_usable_size returns the size
 * asked for, so that a program writing up to it stays within bounds.
 *
 * A small block (a slab slot) that is freed is filled with
 * MMI_FREED_BYTE but for its first word (the free list's masked link, which
 * the default mode checks already), and the fill is checked when the slot
 * is handed out again: a write into a freed block ("write after free")
 * is found at the next malloc of its size.  New slots are filled when
 * carved (slab.c), so every slot handed out is checked the same way.
 * A freed slot is not reused at once: each thread's shard holds back the
 * last MMI_QUARANTINE slots it freed (state QUARANTINE: a second free of
 * one is a double free), and frees the oldest for real as a new one
 * comes in, so a dangling pointer does not meet a new block at once.
 * A held slot is filled whole, and checked whole when it leaves, when its
 * thread exits and when the program does: a write into it is found then.
 * A freed medium block (the boundary-tag engine's, between the slabs
 * and the mappings of its own) is filled whole and held back the same
 * way, in one process-wide FIFO of at most MEDIUM_HELD blocks and
 * MEDIUM_HELD_BYTES: freeing, reallocating or measuring one of them
 * is named as the misuse it is, and a write into it is found when it
 * leaves or at exit.  A large block needs none of this: in this mode its
 * mapping goes back to the kernel when it is freed (large.c), and any
 * access through a dangling pointer faults.
 * LIBMM_SECURE=zero fills with zeros instead, and zeroes large blocks
 * too when they are freed (zero on free).
 *
 * The fast paths (fastpath.h) never run: a thread's fast shard stays
 * mmi_shard_none, so every call comes through the general functions of
 * block.c, which hand secure heaps' calls to the functions below.  The
 * default mode pays one test of mmi_secure_mode on its slow paths.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "mm_internal.h"

int mmi_secure_mode;

/* LIBMM_SECURE=zero: freed memory is zeroed (no secret outlives its
 * block), and a freed small block's zeros are what is checked. */
static int zero_on_free;

void mmi_secure_set(const char *how)
{
	mmi_secure_mode = strcmp(how, "0") != 0;
	zero_on_free = strcmp(how, "zero") == 0;
}

static unsigned char freed_byte(void)
{
	return zero_on_free ? 0 : MMI_FREED_BYTE;
}

/* The canary of block p: the secret and the address, so that no one
 * constant written over it goes unnoticed; never a zero byte (a string's
 * terminator written one past the end changes it). */
static uint64_t canary_of(const void *p)
{
	return (mmi_secret() ^ ((uintptr_t)p * 0x9e3779b97f4a7c15u)) | 0x0101010101010101u;
}

static uintptr_t size_key(const void *p)
{
	return mmi_secret() ^ ((uintptr_t)p >> 4) * 0xbf58476d1ce4e5b9u;
}

/*
 * Seal block p (usable bytes, asked for n): the canary in the 8 bytes
 * right after the request, where any write running past it lands first,
 * and the size word in the last 8 bytes (MMI_SECURE_TAIL leaves room for
 * both; the bytes between, if any, are slack).
 */
static void seal(void *p, size_t usable, size_t n)
{
	unsigned char *b = p;
	uint64_t canary = canary_of(p);
	uintptr_t word = (uintptr_t)n ^ size_key(p);

	memcpy(b + n, &canary, sizeof canary);
	memcpy(b + usable - sizeof word, &word, sizeof word);
}

/* The size block p was asked for, after checking its seal; death with
 * "heap overflow" when a write went past it. */
static size_t unseal(const void *p, size_t usable)
{
	const unsigned char *b = p;
	uint64_t canary;
	uintptr_t word;
	size_t n;

	memcpy(&word, b + usable - sizeof word, sizeof word);
	n = (size_t)(word ^ size_key(p));
	if (usable < MMI_SECURE_TAIL || n > usable - MMI_SECURE_TAIL)
		mmi_fatal("heap overflow", p);
	memcpy(&canary, b + n, sizeof canary);
	if (canary != canary_of(p))
		mmi_fatal("heap overflow", p);
	return n;
}

void mmi_secure_fill_freed(void *slot, size_t bsize)
{
	memset((char *)slot + sizeof(uintptr_t), freed_byte(), bsize - sizeof(uintptr_t));
}

/* Bytes [from, bsize) of a slot must hold the fill it was given when
 * freed or carved (compared a chunk at a time against a buffer of it). */
static void check_fill_from(const void *slot, size_t from, size_t bsize)
{
	static const unsigned char pattern[1024] = { [0 ... 1023] = MMI_FREED_BYTE };
	static const unsigned char zeros[1024];
	const unsigned char *fill = zero_on_free ? zeros : pattern;
	const unsigned char *b = (const unsigned char *)slot + from;
	size_t left = bsize - from;

	while (left) {
		size_t k = left < sizeof pattern ? left : sizeof pattern;
		if (memcmp(b, fill, k) != 0)
			mmi_fatal("write after free", slot);
		b += k;
		left -= k;
	}
}

/* A slot handed out: past its first word (a free list's link). */
static void check_freed_fill(const void *slot, size_t bsize)
{
	check_fill_from(slot, sizeof(uintptr_t), bsize);
}

void *mmi_secure_alloc(struct mm_heap *h, size_t size, size_t align, int zero)
{
	struct mmi_region *r;
	size_t usable;
	void *p;

	if (size > SIZE_MAX - MMI_SECURE_TAIL) {
		errno = ENOMEM;
		return NULL;
	}
	p = mmi_engine_alloc(h, align, size + MMI_SECURE_TAIL);
	if (!p)
		return NULL;
	usable = mmi_engine_usable(h, p, MMI_OP_SIZE, &r);
	if (r->kind == MMI_REGION_SEGMENT)
		check_freed_fill(p, usable);
	if (zero)
		memset(p, 0, size);
	seal(p, usable, size);
	return p;
}

static struct mmi_slab_page *page_of_slot(const void *p)
{
	return mmi_slab_page_of(mmi_segment_of(p), p);
}

/* The freed slot p of h goes into the calling thread's quarantine (its
 * shard of h), whose oldest slot is freed for real; 0 when the thread has
 * no shard of h (p is freed at once then). */
static int quarantine(struct mm_heap *h, void *p)
{
	struct mmi_shard *s = mmi_thread_shard(h);
	enum mmi_slab_verdict v;
	void *old;

	if (!s || s == &mmi_shard_none)
		return 0;
	v = mmi_slab_hold(page_of_slot(p), p);
	if (v != MMI_SLAB_OK)	/* freed by another thread meanwhile */
		mmi_fatal(v == MMI_SLAB_DOUBLE_FREE ? "double free" : "invalid pointer", p);
	old = s->quarantine[s->quarantine_next];
	s->quarantine[s->quarantine_next] = p;
	s->quarantine_next = (s->quarantine_next + 1) % MMI_QUARANTINE;
	if (old) {
		/* whole: no link was ever written into a held slot */
		check_fill_from(old, 0, page_of_slot(old)->bsize);
		mmi_slab_unhold(page_of_slot(old), old);
		mmi_engine_free(h, old);
	}
	return 1;
}

/*
 * Medium blocks held back.  held_lock is the outermost of libmm's locks:
 * a block leaving is checked and freed under it (a heap cannot be
 * destroyed under a release in flight), and nothing takes it while
 * holding another lock.
 */
#define MEDIUM_HELD 64
#define MEDIUM_HELD_BYTES ((size_t)4 << 20)

struct held {
	void *p;
	struct mm_heap *heap;
	size_t usable;
};

static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;
static struct held held[MEDIUM_HELD];	/* under held_lock: a ring, oldest at held_first */
static size_t held_first, held_count, held_bytes;

void mmi_secure_lock(void)
{
	pthread_mutex_lock(&held_lock);
}

void mmi_secure_unlock(void)
{
	pthread_mutex_unlock(&held_lock);
}

static struct held *held_at(size_t i)
{
	return &held[(held_first + i) % MEDIUM_HELD];
}

/* Whether p is held back; under held_lock. */
static int held_find(const void *p)
{
	for (size_t i = 0; i < held_count; i++)
		if (held_at(i)->p == p)
			return 1;
	return 0;
}

/* p may be a held medium block: a second free of it is a double free, a
 * realloc of it a realloc of a freed block, and so on. */
static void not_held_or_die(const void *p, enum mmi_op op)
{
	int found;

	if (!__atomic_load_n(&held_count, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&held_lock);
	found = held_find(p);
	pthread_mutex_unlock(&held_lock);
	if (found)
		mmi_fatal(mmi_misuse_by("double free", op), p);
}

/* The oldest held block leaves: checked whole, freed for real.  Under
 * held_lock. */
static void held_release_oldest(void)
{
	struct held e = *held_at(0);

	held_first = (held_first + 1) % MEDIUM_HELD;
	__atomic_store_n(&held_count, held_count - 1, __ATOMIC_RELAXED);
	held_bytes -= e.usable;
	check_fill_from(e.p, 0, e.usable);
	mmi_engine_free(e.heap, e.p);
}

/* A block of the boundary-tag engine: neither a slab slot nor a mapping
 * of its own; the kind held back in held[]. */
static int is_medium(const struct mmi_region *r)
{
	return r->kind != MMI_REGION_SEGMENT && r->kind != MMI_REGION_LARGE;
}

/* mmi_engine_usable, and for a medium block the check that it is not
 * held back (its fill would otherwise read as a heap overflow). */
static size_t live_usable(struct mm_heap *h, const void *p, enum mmi_op op,
	struct mmi_region **r)
{
	size_t usable = mmi_engine_usable(h, p, op, r);

	if (is_medium(*r))
		not_held_or_die(p, op);
	return usable;
}

/* The freed medium block p of h, filled, is held back; the oldest leave
 * while there are too many. */
static void hold_medium(struct mm_heap *h, void *p, size_t usable)
{
	pthread_mutex_lock(&held_lock);
	while (held_count && (held_count == MEDIUM_HELD || held_bytes + usable > MEDIUM_HELD_BYTES))
		held_release_oldest();
	*held_at(held_count) = (struct held){ p, h, usable };
	__atomic_store_n(&held_count, held_count + 1, __ATOMIC_RELAXED);
	held_bytes += usable;
	pthread_mutex_unlock(&held_lock);
}

void mmi_secure_forget_heap(struct mm_heap *h)
{
	size_t kept = 0;

	pthread_mutex_lock(&held_lock);
	for (size_t i = 0; i < held_count; i++) {
		struct held e = *held_at(i);

		if (e.heap == h)
			held_bytes -= e.usable;	/* its memory goes with the heap */
		else
			*held_at(kept++) = e;
	}
	__atomic_store_n(&held_count, kept, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&held_lock);
}

void mmi_secure_check_held(void)
{
	pthread_mutex_lock(&held_lock);
	for (size_t i = 0; i < held_count; i++)
		check_fill_from(held_at(i)->p, 0, held_at(i)->usable);
	pthread_mutex_unlock(&held_lock);
}

void mmi_secure_check_quarantine(struct mmi_shard *s)
{
	for (size_t i = 0; s && i < MMI_QUARANTINE; i++) {
		const void *p = s->quarantine[i];
		if (p)
			check_fill_from(p, 0, page_of_slot(p)->bsize);
	}
}

void mmi_secure_free(struct mm_heap *h, void *p)
{
	struct mmi_region *r;
	size_t usable = live_usable(h, p, MMI_OP_FREE, &r);

	(void)unseal(p, usable);
	if (r->kind == MMI_REGION_SEGMENT) {
		memset(p, freed_byte(), usable);	/* the first word too: held, no link */
		if (quarantine(r->heap, p))
			return;
	} else if (is_medium(r)) {
		memset(p, freed_byte(), usable);
		hold_medium(r->heap, p, usable);
		return;
	} else if (zero_on_free) {
		memset(p, 0, usable);
	}
	mmi_engine_free(h, p);
}

size_t mmi_secure_usable(struct mm_heap *h, const void *p, enum mmi_op op)
{
	struct mmi_region *r;

	return unseal(p, live_usable(h, p, op, &r));
}

void *mmi_secure_realloc(struct mm_heap *h, void *p, size_t size)
{
	struct mmi_region *r;
	size_t usable;
	void *q;

	if (!p)
		return mmi_secure_alloc(h ? h : mmi_default_heap(), size, MMI_ALIGN, 0);
	usable = live_usable(h, p, MMI_OP_REALLOC, &r);
	h = r->heap;
	(void)unseal(p, usable);	/* an overflow is found before anything moves */
	if (size == 0) {
		mmi_secure_free(h, p);
		return NULL;
	}
	/* in place while the block holds it with its tail (the bytes given
	 * up become canary) */
	if (size <= usable - MMI_SECURE_TAIL) {
		seal(p, usable, size);
		return p;
	}
	/* grown by the engine (in place, or moved through mmi_alloc and
	 * mmi_free, which are this file's again), then sealed anew */
	if (size > SIZE_MAX - MMI_SECURE_TAIL) {
		errno = ENOMEM;
		return NULL;
	}
	q = mmi_engine_realloc(h, p, size + MMI_SECURE_TAIL);
	if (!q)
		return NULL;	/* p untouched, its seal too */
	seal(q, mmi_engine_usable(h, q, MMI_OP_SIZE, &r), size);
	return q;
}
