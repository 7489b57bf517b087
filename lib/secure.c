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
 * LIBMM_SECURE=zero fills with zeros instead, and zeroes medium and large
 * blocks too when they are freed (zero on free).
 *
 * The fast paths (fastpath.h) never run: a thread's fast shard stays
 * mmi_shard_none, so every call comes through the general functions of
 * block.c, which hand secure heaps' calls to the functions below.  The
 * default mode pays one test of mmi_secure_mode on its slow paths.
 */
#include <errno.h>
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
	size_t usable;
	int slab;
	void *p;

	if (size > SIZE_MAX - MMI_SECURE_TAIL) {
		errno = ENOMEM;
		return NULL;
	}
	p = mmi_engine_alloc(h, align, size + MMI_SECURE_TAIL);
	if (!p)
		return NULL;
	usable = mmi_engine_usable(h, p, MMI_OP_SIZE, &slab);
	if (slab)
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

/* The freed slot p goes into the calling thread's quarantine (its shard
 * of p's heap), whose oldest slot is freed for real; 0 when the thread
 * has no shard of that heap (p is freed at once then). */
static int quarantine(void *p)
{
	struct mm_heap *h = mmi_heap_of(p);
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
	int slab;
	size_t usable = mmi_engine_usable(h, p, MMI_OP_FREE, &slab);

	(void)unseal(p, usable);
	if (slab) {
		memset(p, freed_byte(), usable);	/* the first word too: held, no link */
		if (quarantine(p))
			return;
	} else if (zero_on_free) {
		memset(p, 0, usable);
	}
	mmi_engine_free(h, p);
}

size_t mmi_secure_usable(struct mm_heap *h, const void *p, enum mmi_op op)
{
	int slab;

	return unseal(p, mmi_engine_usable(h, p, op, &slab));
}

void *mmi_secure_realloc(struct mm_heap *h, void *p, size_t size)
{
	size_t usable;
	int slab;
	void *q;

	if (!p)
		return mmi_secure_alloc(h ? h : mmi_default_heap(), size, MMI_ALIGN, 0);
	usable = mmi_engine_usable(h, p, MMI_OP_REALLOC, &slab);
	h = mmi_heap_of(p);
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
	seal(q, mmi_engine_usable(h, q, MMI_OP_SIZE, &slab), size);
	return q;
}
