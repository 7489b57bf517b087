/*
 * check_fit: the fit policies of explicit heaps, in pools and in heaps that
 * take memory from the OS.  A fixed layout of holes separated by guard
 * blocks shows exactly which hole first fit and best fit pick; a seeded
 * random workload keeps every policy consistent; invalid flag sets are
 * refused; the program-break source and unlocked heaps work.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libmm.h>

#include "testutil.h"
#include "walkutil.h"

#define KiB ((size_t)1024)

/* --- helpers -------------------------------------------------------------- */

static int blk_cmp(const void *a, const void *b)
{
	const struct blk *x = a, *y = b;
	uintptr_t p = (uintptr_t)x->addr, q = (uintptr_t)y->addr;
	return p < q ? -1 : p > q;
}

/* Walk h into l, sorted by address; the walked blocks must be 16-aligned
 * and must not overlap one another. */
static void walk_sorted(mm_heap_t *h, struct blist *l)
{
	walk_collect(h, l);
	qsort(l->v, l->n, sizeof *l->v, blk_cmp);
	for (size_t i = 0; i < l->n; i++) {
		ck_assert_msg(tu_aligned(l->v[i].addr, 16),
			      "walked block %p misaligned", l->v[i].addr);
		if (i)
			ck_assert_msg(tu_disjoint(l->v[i - 1].addr,
						  l->v[i - 1].size,
						  l->v[i].addr, l->v[i].size),
				      "walked blocks %p+%zu and %p+%zu overlap",
				      l->v[i - 1].addr, l->v[i - 1].size,
				      l->v[i].addr, l->v[i].size);
	}
}

static const struct blk *blist_find(const struct blist *l, const void *addr)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].addr == addr)
			return &l->v[i];
	return NULL;
}

/* The heaps under test: a policy, in a pool or with memory from the OS. */
struct kind {
	const char *name;
	unsigned flags;
	int pool;
};

static const struct kind kinds[] = {
	{ "first/pool", MM_FIT_FIRST, 1 },
	{ "best/pool", MM_FIT_BEST, 1 },
	{ "good/pool", MM_FIT_GOOD, 1 },
	{ "first/mmap", MM_FIT_FIRST | MM_SOURCE_MMAP, 0 },
	{ "best/mmap", MM_FIT_BEST | MM_SOURCE_MMAP, 0 },
	{ "good/mmap", MM_FIT_GOOD | MM_SOURCE_MMAP, 0 },
};
#define NKINDS ((int)(sizeof kinds / sizeof kinds[0]))

struct theap {
	mm_heap_t *h;
	unsigned char *buf;	/* the pool's buffer, from libc; or NULL */
	size_t len;
};

static void theap_open(struct theap *t, const struct kind *k, size_t pool_len)
{
	memset(t, 0, sizeof *t);
	if (k->pool) {
		t->len = pool_len;
		t->buf = malloc(pool_len);
		ck_assert_ptr_nonnull(t->buf);
		t->h = mm_heap_create_in(t->buf, t->len, k->flags);
	} else {
		t->h = mm_heap_create(k->flags);
	}
	ck_assert_msg(t->h != NULL, "%s: heap not created (errno %d)",
		      k->name, errno);
}

static void theap_close(struct theap *t)
{
	mm_heap_destroy(t->h);
	free(t->buf);
	t->h = NULL;
	t->buf = NULL;
}

/* A pool's blocks must lie inside its buffer. */
static void assert_inside(const struct theap *t, const void *p, size_t n)
{
	if (!t->buf)
		return;
	uintptr_t a = (uintptr_t)p, lo = (uintptr_t)t->buf;
	ck_assert_msg(a >= lo && a + n <= lo + t->len,
		      "%p+%zu outside the pool [%p, %p)", p, n, (void *)t->buf,
		      (void *)(t->buf + t->len));
}

/* --- the hole layout ---------------------------------------------------- */

/*
 *   g0 | A (2048) | g1 | B (512) | g2 | C (1024) | g3 | rest of the heap
 *
 * The guards (16 bytes) stay allocated, so when A, B and C are freed they
 * stay three separate holes: the lowest one is the largest, the middle one
 * the smallest.
 */
enum { SZ_A = 2048, SZ_B = 512, SZ_C = 1024, SZ_G = 16 };

struct layout {
	void *g[4];
	void *A, *B, *C;
	size_t uA, uB, uC;
	void *tail;		/* the free block after g3, if any */
	size_t utail;
};

static void check_guards(const struct layout *L)
{
	for (int i = 0; i < 4; i++)
		ck_assert_msg(tu_check(L->g[i], SZ_G, 100u + (unsigned)i),
			      "guard %d damaged", i);
}

static void build_layout(const struct theap *t, struct layout *L,
			 struct blist *l)
{
	mm_heap_t *h = t->h;
	memset(L, 0, sizeof *L);
	L->g[0] = mm_heap_malloc(h, SZ_G);
	L->A = mm_heap_malloc(h, SZ_A);
	L->g[1] = mm_heap_malloc(h, SZ_G);
	L->B = mm_heap_malloc(h, SZ_B);
	L->g[2] = mm_heap_malloc(h, SZ_G);
	L->C = mm_heap_malloc(h, SZ_C);
	L->g[3] = mm_heap_malloc(h, SZ_G);
	for (int i = 0; i < 4; i++) {
		ck_assert_ptr_nonnull(L->g[i]);
		tu_fill(L->g[i], SZ_G, 100u + (unsigned)i);
		assert_inside(t, L->g[i], SZ_G);
	}
	ck_assert(L->A && L->B && L->C);
	tu_fill(L->A, SZ_A, 1);
	tu_fill(L->B, SZ_B, 2);
	tu_fill(L->C, SZ_C, 3);
	assert_inside(t, L->A, SZ_A);
	assert_inside(t, L->B, SZ_B);
	assert_inside(t, L->C, SZ_C);

	/* A fresh heap serves from the low end of its one free block, so the
	 * blocks come out in ascending address order. */
	uintptr_t order[7] = {
		(uintptr_t)L->g[0], (uintptr_t)L->A, (uintptr_t)L->g[1],
		(uintptr_t)L->B, (uintptr_t)L->g[2], (uintptr_t)L->C,
		(uintptr_t)L->g[3],
	};
	for (int i = 1; i < 7; i++)
		ck_assert_msg(order[i - 1] < order[i],
			      "fresh heap did not allocate upwards (%d)", i);

	ck_assert(tu_check(L->A, SZ_A, 1));
	ck_assert(tu_check(L->B, SZ_B, 2));
	ck_assert(tu_check(L->C, SZ_C, 3));
	mm_heap_free(h, L->A);
	mm_heap_free(h, L->B);
	mm_heap_free(h, L->C);
	check_guards(L);
	ck_assert_int_eq(mm_heap_check(h), 0);

	walk_sorted(h, l);
	const struct blk *a = blist_find(l, L->A), *b = blist_find(l, L->B),
			 *c = blist_find(l, L->C);
	ck_assert_msg(a && b && c, "holes not in the walk");
	ck_assert(!a->in_use && !b->in_use && !c->in_use);
	ck_assert_uint_ge(a->size, SZ_A);
	ck_assert_uint_ge(b->size, SZ_B);
	ck_assert_uint_ge(c->size, SZ_C);
	/* guards keep the holes apart: each is smaller than A's hole + B's */
	ck_assert_uint_lt(a->size, SZ_A + SZ_B);
	ck_assert_uint_lt(b->size, SZ_C);
	ck_assert_uint_lt(c->size, SZ_A);
	L->uA = a->size;
	L->uB = b->size;
	L->uC = c->size;
	for (size_t i = 0; i < l->n; i++)
		if ((uintptr_t)l->v[i].addr > (uintptr_t)L->g[3] &&
		    !l->v[i].in_use && !L->tail) {
			L->tail = l->v[i].addr;
			L->utail = l->v[i].size;
		}
	ck_assert_msg(L->tail != NULL, "no free space after the layout");
	ck_assert_msg(L->utail > L->uA, "free space after the layout small");
}

/* The hole a request should land in, by policy. */
enum hole { H_A, H_B, H_C, H_TAIL, H_ANY };

static void *hole_addr(const struct layout *L, enum hole w)
{
	switch (w) {
	case H_A: return L->A;
	case H_B: return L->B;
	case H_C: return L->C;
	case H_TAIL: return L->tail;
	default: return NULL;
	}
}

/* One request on a fresh layout: it must land at the start of hole
 * `want` (any of the holes for H_ANY), the hole is split from its low end,
 * the guards survive, the pattern round-trips. */
static void one_request(const struct kind *k, struct theap *t, size_t req,
			enum hole want)
{
	struct layout L;
	struct blist l;
	blist_init(&l, 4096);
	theap_open(t, k, 256 * KiB);
	build_layout(t, &L, &l);

	void *p = mm_heap_malloc(t->h, req);
	ck_assert_msg(p != NULL, "%s: malloc(%zu) failed", k->name, req);
	if (want == H_ANY) {
		/* taken from the low end of some free block */
		int found = 0;
		for (size_t i = 0; i < l.n; i++)
			if (l.v[i].addr == p && !l.v[i].in_use &&
			    l.v[i].size >= req)
				found = 1;
		ck_assert_msg(found, "%s: malloc(%zu) = %p is not the start "
			      "of a free block that fits", k->name, req, p);
	} else {
		ck_assert_msg(p == hole_addr(&L, want),
			      "%s: malloc(%zu) = %p, expected %p "
			      "(A %p/%zu B %p/%zu C %p/%zu tail %p)",
			      k->name, req, p, hole_addr(&L, want), L.A, L.uA,
			      L.B, L.uB, L.C, L.uC, L.tail);
	}
	assert_inside(t, p, req);
	tu_fill(p, req, 55);
	check_guards(&L);
	ck_assert(tu_check(p, req, 55));

	walk_sorted(t->h, &l);
	const struct blk *b = blist_find(&l, p);
	ck_assert(b && b->in_use && b->size >= req);
	ck_assert_int_eq(mm_heap_check(t->h), 0);

	/* first fit takes the rest of A next, at a higher address in A */
	if ((k->flags & MM_FIT_FIRST) && want == H_A && req + 64 < L.uA) {
		void *q = mm_heap_malloc(t->h, 16);
		ck_assert_ptr_nonnull(q);
		ck_assert_msg((uintptr_t)q > (uintptr_t)p &&
			      (uintptr_t)q < (uintptr_t)L.g[1],
			      "first fit: rest of A not used (%p)", q);
		tu_fill(q, 16, 56);
		ck_assert(tu_check(p, req, 55));
		check_guards(&L);
	}
	theap_close(t);
	blist_fini(&l);
}

START_TEST(test_first_fit_takes_lowest)
{
	const struct kind *k = &kinds[_i];	/* first/pool, first/mmap */
	struct theap t;
	ck_assert(k->flags & MM_FIT_FIRST);
	/* fits A, B, C: the lowest, A, although B is the tightest */
	one_request(k, &t, 256, H_A);
	/* fits A and C */
	one_request(k, &t, 800, H_A);
	/* fits A only (and the tail) */
	one_request(k, &t, 1500, H_A);
	/* fits B exactly: still A */
	one_request(k, &t, SZ_B, H_A);
}
END_TEST

START_TEST(test_best_fit_takes_smallest)
{
	const struct kind *k = &kinds[_i];	/* best/pool, best/mmap */
	struct theap t;
	ck_assert(k->flags & MM_FIT_BEST);
	/* fits A, B, C: B is the smallest, though above A */
	one_request(k, &t, 256, H_B);
	one_request(k, &t, SZ_B, H_B);
	/* fits A and C: C, the highest hole */
	one_request(k, &t, 800, H_C);
	one_request(k, &t, SZ_C, H_C);
	/* fits A only (and the tail, which is bigger) */
	one_request(k, &t, 1500, H_A);
}
END_TEST

/* Two holes of nearly the same size (an implementation may well keep them
 * in one size class): the lower X is the larger.  A request fitting both
 * goes to X under first fit, to the smaller Y under best fit. */
START_TEST(test_close_sizes)
{
	const struct kind *k = &kinds[_i];
	enum { SZ_X = 1120, SZ_Y = 1088, REQ = 1050 };
	struct theap t;
	struct blist l;
	void *g[3], *x, *y;

	blist_init(&l, 4096);
	theap_open(&t, k, 256 * KiB);
	g[0] = mm_heap_malloc(t.h, SZ_G);
	x = mm_heap_malloc(t.h, SZ_X);
	g[1] = mm_heap_malloc(t.h, SZ_G);
	y = mm_heap_malloc(t.h, SZ_Y);
	g[2] = mm_heap_malloc(t.h, SZ_G);
	ck_assert(g[0] && g[1] && g[2] && x && y);
	ck_assert((uintptr_t)x < (uintptr_t)y);
	for (int i = 0; i < 3; i++)
		tu_fill(g[i], SZ_G, 200u + (unsigned)i);
	mm_heap_free(t.h, x);
	mm_heap_free(t.h, y);
	walk_sorted(t.h, &l);
	const struct blk *bx = blist_find(&l, x), *by = blist_find(&l, y);
	ck_assert(bx && by && !bx->in_use && !by->in_use);
	ck_assert_uint_gt(bx->size, by->size);
	ck_assert_uint_ge(by->size, REQ);

	void *p = mm_heap_malloc(t.h, REQ);
	void *want = (k->flags & MM_FIT_BEST) ? y : x;
	ck_assert_msg(p == want, "%s: malloc(%d) = %p, expected %p (X %p/%zu, "
		      "Y %p/%zu)", k->name, REQ, p, want, x, bx->size, y,
		      by->size);
	tu_fill(p, REQ, 7);
	for (int i = 0; i < 3; i++)
		ck_assert(tu_check(g[i], SZ_G, 200u + (unsigned)i));
	ck_assert(tu_check(p, REQ, 7));
	ck_assert_int_eq(mm_heap_check(t.h), 0);
	theap_close(&t);
	blist_fini(&l);
}
END_TEST

START_TEST(test_good_fit_serves)
{
	const struct kind *k = &kinds[_i];	/* good/pool, good/mmap */
	struct theap t;
	one_request(k, &t, 256, H_ANY);
	one_request(k, &t, 800, H_ANY);
	one_request(k, &t, 1500, H_ANY);
	one_request(k, &t, 16, H_ANY);
}
END_TEST

/* A request that fits none of the holes goes to the free space above them,
 * under every policy. */
START_TEST(test_too_big_for_holes)
{
	const struct kind *k = &kinds[_i];
	struct theap t;
	struct layout L;
	struct blist l;
	blist_init(&l, 4096);
	theap_open(&t, k, 256 * KiB);
	build_layout(&t, &L, &l);
	size_t req = L.uA + 1;
	void *p = mm_heap_malloc(t.h, req);
	ck_assert_ptr_nonnull(p);
	ck_assert_msg(p == L.tail, "%s: malloc(%zu) = %p, tail at %p", k->name,
		      req, p, L.tail);
	tu_fill(p, req, 9);
	check_guards(&L);
	ck_assert(tu_check(p, req, 9));
	ck_assert_int_eq(mm_heap_check(t.h), 0);
	theap_close(&t);
	blist_fini(&l);
}
END_TEST

/* Many blocks of mixed sizes under each policy: all served, all aligned,
 * contents intact, nothing overlapping. */
START_TEST(test_mixed_blocks)
{
	enum { N = 300 };
	const struct kind *k = &kinds[_i];
	struct theap t;
	void *p[N];
	size_t len[N];
	struct blist l;

	blist_init(&l, 8192);
	theap_open(&t, k, 1024 * KiB);
	rng_seed(77 + (uint64_t)_i);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < N; i++) {
			if (round && (i % 2))
				continue;	/* odd ones kept from round 0 */
			len[i] = 1 + rng_below(i % 10 ? 300 : 3000);
			p[i] = mm_heap_malloc(t.h, len[i]);
			ck_assert_msg(p[i] != NULL, "%s: malloc(%zu) failed",
				      k->name, len[i]);
			ck_assert(tu_aligned(p[i], 16));
			assert_inside(&t, p[i], len[i]);
			tu_fill(p[i], len[i], (unsigned)(i + round * N));
		}
		for (int i = 0; i < N; i++) {
			unsigned seed = (unsigned)i +
				(unsigned)((i % 2) ? 0 : round * N);
			ck_assert_msg(tu_check(p[i], len[i], seed),
				      "%s: block %d damaged", k->name, i);
		}
		walk_sorted(t.h, &l);	/* checks non-overlap */
		size_t used = 0;
		for (size_t j = 0; j < l.n; j++)
			used += l.v[j].in_use != 0;
		ck_assert_uint_eq(used, N);
		for (int i = 0; i < N; i++) {
			const struct blk *b = blist_find(&l, p[i]);
			ck_assert_msg(b && b->in_use && b->size >= len[i],
				      "%s: block %p not walked as in use",
				      k->name, p[i]);
		}
		ck_assert_int_eq(mm_heap_check(t.h), 0);
		for (int i = 0; i < N; i += 2)
			mm_heap_free(t.h, p[i]);
	}
	for (int i = 1; i < N; i += 2)
		mm_heap_free(t.h, p[i]);
	walk_sorted(t.h, &l);
	for (size_t j = 0; j < l.n; j++)
		ck_assert(!l.v[j].in_use);
	if (t.buf)	/* a pool is one span: all merged back together */
		ck_assert_uint_eq(l.n, 1);
	ck_assert_int_eq(mm_heap_check(t.h), 0);
	theap_close(&t);
	blist_fini(&l);
}
END_TEST

/* A seeded random workload of malloc, calloc, realloc, aligned_alloc and
 * free; the heap check must pass throughout. */
START_TEST(test_random_workload)
{
	enum { SLOTS = 150, OPS = 1500 };
	const struct kind *k = &kinds[_i];
	struct theap t;
	void *p[SLOTS] = { 0 };
	size_t len[SLOTS] = { 0 };
	unsigned seed[SLOTS] = { 0 };
	struct blist l;

	blist_init(&l, 8192);
	theap_open(&t, k, 1024 * KiB);
	rng_seed(4242 + (uint64_t)_i);
	for (unsigned op = 0; op < OPS; op++) {
		size_t i = rng_below(SLOTS);
		unsigned r = (unsigned)rng_below(100);
		size_t n = r < 80 ? 1 + rng_below(512)
			 : r < 97 ? 513 + rng_below(16 * KiB)
			 : t.buf ? 1 + rng_below(64 * KiB)
				 : 130 * KiB + rng_below(100 * KiB);
		unsigned kind = (unsigned)rng_below(5);
		void *q;

		if (p[i])
			ck_assert_msg(tu_check(p[i], len[i], seed[i]),
				      "%s op %u: block %p damaged", k->name, op,
				      p[i]);
		if (p[i] && kind == 0) {
			mm_heap_free(t.h, p[i]);
			p[i] = NULL;
			continue;
		}
		errno = 0;
		if (kind == 1 && p[i]) {
			q = mm_heap_realloc(t.h, p[i], n);
			if (q) {
				size_t keep = len[i] < n ? len[i] : n;
				ck_assert(tu_check(q, keep, seed[i]));
				p[i] = NULL;
			} else {
				/* only a pool may run out; the old block
				 * stays */
				ck_assert(t.buf && errno == ENOMEM);
				ck_assert(tu_check(p[i], len[i], seed[i]));
				continue;
			}
		} else {
			if (p[i])
				mm_heap_free(t.h, p[i]);
			p[i] = NULL;
			if (kind == 2) {
				q = mm_heap_calloc(t.h, 1, n);
				if (q)
					ck_assert_msg(tu_is_zero(q, n),
						      "%s: calloc not zero",
						      k->name);
			} else if (kind == 3) {
				size_t a = (size_t)16 << rng_below(9);
				q = mm_heap_aligned_alloc(t.h, a, n);
				if (q)
					ck_assert_msg(tu_aligned(q, a),
						      "%s: %p not aligned "
						      "to %zu", k->name, q, a);
			} else {
				q = mm_heap_malloc(t.h, n);
			}
			if (!q) {
				ck_assert_msg(t.buf && errno == ENOMEM,
					      "%s: allocation of %zu failed "
					      "(errno %d)", k->name, n, errno);
				continue;
			}
		}
		ck_assert(tu_aligned(q, 16));
		assert_inside(&t, q, n);
		p[i] = q;
		len[i] = n;
		seed[i] = op;
		tu_fill(q, n, op);
		if (op % 100 == 0)
			ck_assert_int_eq(mm_heap_check(t.h), 0);
	}
	ck_assert_int_eq(mm_heap_check(t.h), 0);

	/* everything still live is in the walk, in use, big enough */
	walk_sorted(t.h, &l);
	for (size_t i = 0; i < SLOTS; i++) {
		if (!p[i])
			continue;
		ck_assert(tu_check(p[i], len[i], seed[i]));
		const struct blk *b = blist_find(&l, p[i]);
		ck_assert_msg(b && b->in_use && b->size >= len[i],
			      "%s: live block %p not walked", k->name, p[i]);
	}
	for (size_t i = 0; i < SLOTS; i++)
		mm_heap_free(t.h, p[i]);
	ck_assert_int_eq(mm_heap_check(t.h), 0);
	walk_sorted(t.h, &l);
	for (size_t j = 0; j < l.n; j++)
		ck_assert(!l.v[j].in_use);
	if (t.buf)
		ck_assert_uint_eq(l.n, 1);
	theap_close(&t);
	blist_fini(&l);
}
END_TEST

/* --- flags ---------------------------------------------------------------- */

START_TEST(test_invalid_flags)
{
	static const unsigned bad[] = {
		MM_FIT_FIRST | MM_FIT_BEST,
		MM_FIT_FIRST | MM_FIT_GOOD,
		MM_FIT_BEST | MM_FIT_GOOD,
		MM_FIT_FIRST | MM_FIT_BEST | MM_FIT_GOOD,
		MM_SOURCE_MMAP | MM_SOURCE_BRK,
		MM_SOURCE_MMAP | MM_SOURCE_BRK | MM_FIT_FIRST,
		0x80000000u,
		0x80000000u | MM_FIT_FIRST,
		0x0008u, 0x0040u, 0x0080u, 0x0200u,
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		errno = 0;
		mm_heap_t *h = mm_heap_create(bad[i]);
		ck_assert_msg(h == NULL, "mm_heap_create(%#x) = %p", bad[i],
			      (void *)h);
		ck_assert_msg(errno == EINVAL,
			      "mm_heap_create(%#x): errno %d", bad[i], errno);
	}
	/* the same fit checks for pools */
	static unsigned char buf[64 * 1024] __attribute__((aligned(16)));
	static const unsigned badpool[] = {
		MM_FIT_FIRST | MM_FIT_BEST, MM_FIT_BEST | MM_FIT_GOOD,
		0x80000000u, 0x0008u,
	};
	for (size_t i = 0; i < sizeof badpool / sizeof badpool[0]; i++) {
		errno = 0;
		mm_heap_t *h = mm_heap_create_in(buf, sizeof buf, badpool[i]);
		ck_assert_msg(h == NULL, "mm_heap_create_in(%#x) = %p",
			      badpool[i], (void *)h);
		ck_assert_int_eq(errno, EINVAL);
	}
	/* and the valid single choices are accepted */
	static const unsigned good[] = {
		0, MM_FIT_GOOD, MM_FIT_FIRST, MM_FIT_BEST, MM_SOURCE_MMAP,
		MM_SOURCE_BRK, MM_HEAP_NOLOCK,
		MM_FIT_BEST | MM_SOURCE_MMAP | MM_HEAP_NOLOCK,
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
		mm_heap_t *h = mm_heap_create(good[i]);
		ck_assert_msg(h != NULL, "mm_heap_create(%#x) failed", good[i]);
		void *p = mm_heap_malloc(h, 100);
		ck_assert_ptr_nonnull(p);
		tu_fill(p, 100, good[i]);
		ck_assert(tu_check(p, 100, good[i]));
		mm_heap_free(h, p);
		mm_heap_destroy(h);
	}
}
END_TEST

/* A little of everything on heap h; all contents verified. */
static void exercise(mm_heap_t *h, const char *what)
{
	enum { N = 64 };
	void *p[N];
	size_t len[N];

	for (int i = 0; i < N; i++) {
		len[i] = i == N - 1 ? 300 * KiB : (size_t)(1 + i * 97);
		p[i] = mm_heap_malloc(h, len[i]);
		ck_assert_msg(p[i] != NULL, "%s: malloc(%zu)", what, len[i]);
		ck_assert(tu_aligned(p[i], 16));
		tu_fill(p[i], len[i], (unsigned)i);
	}
	for (int i = 0; i < N; i++)
		ck_assert_msg(tu_check(p[i], len[i], (unsigned)i),
			      "%s: block %d damaged", what, i);
	ck_assert_int_eq(mm_heap_check(h), 0);
	for (int i = 0; i < N; i += 2) {
		mm_heap_free(h, p[i]);
		p[i] = NULL;
	}
	for (int i = 1; i < N; i += 2) {
		void *q = mm_heap_realloc(h, p[i], len[i] * 2 + 10);
		ck_assert_ptr_nonnull(q);
		ck_assert(tu_check(q, len[i], (unsigned)i));
		p[i] = q;
		len[i] = len[i] * 2 + 10;
		tu_fill(q, len[i], (unsigned)i + 1000);
	}
	void *z = mm_heap_calloc(h, 100, 10);
	ck_assert_ptr_nonnull(z);
	ck_assert(tu_is_zero(z, 1000));
	void *a = mm_heap_aligned_alloc(h, 256, 700);
	ck_assert_ptr_nonnull(a);
	ck_assert(tu_aligned(a, 256));
	tu_fill(a, 700, 3);
	for (int i = 1; i < N; i += 2)
		ck_assert(tu_check(p[i], len[i], (unsigned)i + 1000));
	ck_assert(tu_check(a, 700, 3));
	ck_assert_int_eq(mm_heap_check(h), 0);
	for (int i = 1; i < N; i += 2)
		mm_heap_free(h, p[i]);
	mm_heap_free(h, z);
	mm_heap_free(h, a);
	ck_assert_int_eq(mm_heap_check(h), 0);

	mm_stats_t st;
	ck_assert_int_eq(mm_heap_stats(h, &st, sizeof st), 0);
	ck_assert_uint_eq(st.in_use_blocks, 0);
	ck_assert_uint_eq(st.in_use_bytes, 0);
}

START_TEST(test_brk_heap)
{
	static const unsigned flags[] = {
		MM_SOURCE_BRK, MM_SOURCE_BRK | MM_FIT_FIRST,
		MM_SOURCE_BRK | MM_FIT_BEST | MM_HEAP_NOLOCK,
	};
	for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
		mm_heap_t *h = mm_heap_create(flags[i]);
		ck_assert_msg(h != NULL, "brk heap %#x not created", flags[i]);
		exercise(h, "brk");
		mm_heap_destroy(h);
	}
}
END_TEST

START_TEST(test_nolock_heap)
{
	static const unsigned flags[] = {
		MM_HEAP_NOLOCK, MM_HEAP_NOLOCK | MM_FIT_FIRST,
		MM_HEAP_NOLOCK | MM_FIT_BEST, MM_HEAP_NOLOCK | MM_SOURCE_MMAP,
	};
	for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
		mm_heap_t *h = mm_heap_create(flags[i]);
		ck_assert_msg(h != NULL, "nolock heap %#x not created",
			      flags[i]);
		exercise(h, "nolock");
		mm_heap_destroy(h);
	}
	/* an unlocked pool, big enough for exercise()'s growing blocks */
	size_t len = 2048 * KiB;
	unsigned char *buf = malloc(len);
	ck_assert_ptr_nonnull(buf);
	mm_heap_t *h = mm_heap_create_in(buf, len, MM_HEAP_NOLOCK);
	ck_assert_ptr_nonnull(h);
	exercise(h, "nolock pool");
	mm_heap_destroy(h);
	free(buf);
}
END_TEST

static Suite *fit_suite(void)
{
	Suite *s = suite_create("fit");
	TCase *tc;

	/* kinds[]: 0 first/pool, 1 best/pool, 2 good/pool, 3 first/mmap,
	 * 4 best/mmap, 5 good/mmap */
	tc = tcase_create("first");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_first_fit_takes_lowest, 0, 1);
	tcase_add_loop_test(tc, test_first_fit_takes_lowest, 3, 4);
	suite_add_tcase(s, tc);

	tc = tcase_create("best");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_best_fit_takes_smallest, 1, 2);
	tcase_add_loop_test(tc, test_best_fit_takes_smallest, 4, 5);
	tcase_add_loop_test(tc, test_close_sizes, 0, 2);	/* first, best */
	tcase_add_loop_test(tc, test_close_sizes, 3, 5);
	suite_add_tcase(s, tc);

	/* good/mmap keeps blocks up to 16 KiB in per-thread slab pages, not
	 * in holes (check_shard, check_threads): its layout tests are the
	 * pool's */
	tc = tcase_create("good");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_good_fit_serves, 2, 3);
	suite_add_tcase(s, tc);

	tc = tcase_create("all-policies");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_too_big_for_holes, 0, 5);
	tcase_add_loop_test(tc, test_mixed_blocks, 0, NKINDS);
	tcase_add_loop_test(tc, test_random_workload, 0, NKINDS);
	suite_add_tcase(s, tc);

	tc = tcase_create("flags");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_invalid_flags);
	tcase_add_test(tc, test_brk_heap);
	tcase_add_test(tc, test_nolock_heap);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(fit_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
