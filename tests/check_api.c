/*
 * check_api: the public API on the default heap, row by row of the
 * semantics table in DESIGN.md.  Every block handed out is written with a
 * pattern and read back; alignment, usable size and non-overlap are checked
 * on everything that is allocated.
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
#define MiB ((size_t)1024 * 1024)

/* Sizes the compiler must not see as constants (it would warn about
 * requests beyond PTRDIFF_MAX and might fold the calls away). */
static volatile size_t v_size_max = SIZE_MAX;
static volatile size_t v_ptrdiff_max = PTRDIFF_MAX;

/* --- small helpers ------------------------------------------------------ */

/* xorshift64*: a seeded, reproducible sequence. */
/* Hide where p came from, so that the compiler's object-size tracking
 * (alloc_size, _FORTIFY_SOURCE) allows writing all mm_usable_size bytes. */
static void *launder(void *p)
{
	void *volatile v = p;
	return v;
}

struct span {
	uintptr_t addr;
	size_t len;
};

static int span_cmp(const void *a, const void *b)
{
	const struct span *x = a, *y = b;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* Sort the spans by address and fail when two neighbours share a byte. */
static void assert_spans_disjoint(struct span *s, size_t n)
{
	qsort(s, n, sizeof *s, span_cmp);
	for (size_t i = 1; i < n; i++)
		ck_assert_msg(tu_disjoint((void *)s[i - 1].addr, s[i - 1].len,
					  (void *)s[i].addr, s[i].len),
			      "blocks %p+%zu and %p+%zu overlap",
			      (void *)s[i - 1].addr, s[i - 1].len,
			      (void *)s[i].addr, s[i].len);
}

/* A block as the walk reports it. */
/* Index of the walk entry at addr, or -1. */
static long blist_find(const struct blist *l, const void *addr)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].addr == addr)
			return (long)i;
	return -1;
}

static void get_stats(mm_heap_t *h, mm_stats_t *st)
{
	memset(st, 0, sizeof *st);
	ck_assert_int_eq(mm_heap_stats(h, st, sizeof *st), 0);
}

/* --- alignment, usable size, patterns, non-overlap ---------------------- */

START_TEST(test_align_small_sizes)
{
	enum { N = 5001 };
	void **p = calloc(N, sizeof *p);
	struct span *s = calloc(N, sizeof *s);
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(s);

	for (size_t n = 0; n < N; n++) {
		p[n] = mm_malloc(n);
		ck_assert_msg(p[n] != NULL, "mm_malloc(%zu) failed", n);
		ck_assert_msg(tu_aligned(p[n], 16), "mm_malloc(%zu) = %p", n,
			      p[n]);
		size_t u = mm_usable_size(p[n]);
		ck_assert_msg(u >= n, "usable %zu < %zu", u, n);
		tu_fill(p[n], n, (unsigned)n);
		s[n].addr = (uintptr_t)p[n];
		s[n].len = u;
	}
	for (size_t n = 0; n < N; n++)
		ck_assert_msg(tu_check(p[n], n, (unsigned)n),
			      "pattern of block %zu (%p) damaged", n, p[n]);
	assert_spans_disjoint(s, N);
	for (size_t n = 0; n < N; n++)
		mm_free(p[n]);
	ck_assert_int_eq(mm_heap_check(NULL), 0);
	free(p);
	free(s);
}
END_TEST

START_TEST(test_align_large_sizes)
{
	static const size_t sizes[] = {
		128 * KiB - 17, 128 * KiB - 16, 128 * KiB - 1, 128 * KiB,
		128 * KiB + 1, 256 * KiB + 5, 1 * MiB, 3 * MiB + 7, 8 * MiB,
	};
	enum { N = sizeof sizes / sizeof sizes[0] };
	void *p[N];
	struct span s[N];

	for (size_t i = 0; i < N; i++) {
		p[i] = mm_malloc(sizes[i]);
		ck_assert_msg(p[i] != NULL, "mm_malloc(%zu) failed", sizes[i]);
		ck_assert_msg(tu_aligned(p[i], 16), "mm_malloc(%zu) = %p",
			      sizes[i], p[i]);
		ck_assert_uint_ge(mm_usable_size(p[i]), sizes[i]);
		tu_fill(p[i], sizes[i], (unsigned)i + 100);
		s[i].addr = (uintptr_t)p[i];
		s[i].len = mm_usable_size(p[i]);
	}
	for (size_t i = 0; i < N; i++)
		ck_assert_msg(tu_check(p[i], sizes[i], (unsigned)i + 100),
			      "pattern of %zu-byte block damaged", sizes[i]);
	assert_spans_disjoint(s, N);
	for (size_t i = 0; i < N; i++)
		mm_free(p[i]);
	ck_assert_int_eq(mm_heap_check(NULL), 0);
}
END_TEST

START_TEST(test_malloc_zero)
{
	enum { N = 32 };
	void *p[N];
	struct span s[N];

	for (int i = 0; i < N; i++) {
		p[i] = mm_malloc(0);
		ck_assert_ptr_nonnull(p[i]);
		ck_assert(tu_aligned(p[i], 16));
		for (int j = 0; j < i; j++)
			ck_assert_ptr_ne(p[i], p[j]);
		s[i].addr = (uintptr_t)p[i];
		s[i].len = mm_usable_size(p[i]);
		/* whatever the usable size says may be written */
		tu_fill(launder(p[i]), s[i].len, (unsigned)i);
	}
	for (int i = 0; i < N; i++)
		ck_assert(tu_check(launder(p[i]), mm_usable_size(p[i]), (unsigned)i));
	/* the usable sizes must not overlap either (>=1 byte each so that
	 * distinct zero-length spans still count as distinct addresses) */
	for (int i = 0; i < N; i++)
		if (s[i].len == 0)
			s[i].len = 1;
	assert_spans_disjoint(s, N);
	for (int i = 0; i < N; i++)
		mm_free(p[i]);
	ck_assert_int_eq(mm_heap_check(NULL), 0);
}
END_TEST

START_TEST(test_usable_size)
{
	static const size_t sizes[] = { 0, 1, 15, 16, 17, 31, 32, 33, 100,
					1000, 4095, 4096, 4097, 65536,
					200000 };
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		void *p = mm_malloc(sizes[i]);
		ck_assert_ptr_nonnull(p);
		size_t u = mm_usable_size(p);
		ck_assert_msg(u >= sizes[i], "usable %zu < %zu", u, sizes[i]);
		/* every usable byte is the caller's */
		tu_fill(launder(p), u, (unsigned)i + 7);
		ck_assert(tu_check(launder(p), u, (unsigned)i + 7));
		ck_assert_uint_eq(mm_usable_size(p), u);
		mm_free(p);
	}
	ck_assert_uint_eq(mm_usable_size(NULL), 0);
}
END_TEST

static size_t random_size(void)
{
	unsigned r = (unsigned)rng_below(100);
	if (r < 70)
		return 1 + rng_below(256);
	if (r < 95)
		return 257 + rng_below(4096 - 256);
	if (r < 99)
		return 4097 + rng_below(64 * KiB);
	return 128 * KiB + rng_below(200 * KiB);
}

/* 500 live blocks of random sizes, churned with free/malloc, realloc and
 * calloc; every touch checks the pattern, and every so often all blocks are
 * checked and sorted to prove that neighbours do not overlap. */
START_TEST(test_random_live_blocks)
{
	enum { SLOTS = 500, OPS = 2500 };
	void **p = calloc(SLOTS, sizeof *p);
	size_t *len = calloc(SLOTS, sizeof *len);
	unsigned *seed = calloc(SLOTS, sizeof *seed);
	struct span *s = calloc(SLOTS, sizeof *s);
	ck_assert(p && len && seed && s);

	rng_seed(20260101);
	for (size_t i = 0; i < SLOTS; i++) {
		len[i] = random_size();
		seed[i] = (unsigned)i;
		p[i] = mm_malloc(len[i]);
		ck_assert_ptr_nonnull(p[i]);
		ck_assert(tu_aligned(p[i], 16));
		tu_fill(p[i], len[i], seed[i]);
	}
	for (unsigned op = 0; op < OPS; op++) {
		size_t i = rng_below(SLOTS);
		size_t n = random_size();
		unsigned kind = (unsigned)rng_below(3);

		ck_assert_msg(tu_check(p[i], len[i], seed[i]),
			      "op %u: block %p (%zu bytes) damaged", op, p[i],
			      len[i]);
		if (kind == 0) {
			mm_free(p[i]);
			p[i] = mm_malloc(n);
		} else if (kind == 1) {
			void *q = mm_realloc(p[i], n);
			ck_assert_ptr_nonnull(q);
			ck_assert(tu_check(q, len[i] < n ? len[i] : n, seed[i]));
			p[i] = q;
		} else {
			mm_free(p[i]);
			p[i] = mm_calloc(1, n);
			ck_assert_ptr_nonnull(p[i]);
			ck_assert_msg(tu_is_zero(p[i], n),
				      "calloc(1, %zu) not zeroed", n);
		}
		ck_assert_ptr_nonnull(p[i]);
		ck_assert(tu_aligned(p[i], 16));
		ck_assert_uint_ge(mm_usable_size(p[i]), n);
		len[i] = n;
		seed[i] = op + SLOTS;
		tu_fill(p[i], n, seed[i]);

		if (op % 1000 == 999 || op == OPS - 1) {
			for (size_t j = 0; j < SLOTS; j++) {
				ck_assert(tu_check(p[j], len[j], seed[j]));
				s[j].addr = (uintptr_t)p[j];
				s[j].len = mm_usable_size(p[j]);
			}
			assert_spans_disjoint(s, SLOTS);
		}
	}
	ck_assert_int_eq(mm_heap_check(NULL), 0);
	for (size_t i = 0; i < SLOTS; i++)
		mm_free(p[i]);
	ck_assert_int_eq(mm_heap_check(NULL), 0);
	free(p);
	free(len);
	free(seed);
	free(s);
}
END_TEST

/* --- calloc --------------------------------------------------------------- */

START_TEST(test_calloc_zeroes)
{
	static const size_t dims[][2] = {
		{ 0, 0 }, { 1, 0 }, { 0, 1 }, { 1, 1 }, { 3, 5 }, { 16, 1 },
		{ 1, 100 }, { 10, 100 }, { 4096, 1 }, { 7, 1111 },
	};
	for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
		size_t n = dims[i][0] * dims[i][1];
		void *p = mm_calloc(dims[i][0], dims[i][1]);
		ck_assert_ptr_nonnull(p);
		ck_assert(tu_aligned(p, 16));
		ck_assert_uint_ge(mm_usable_size(p), n);
		ck_assert(tu_is_zero(p, n));
		tu_fill(p, n, (unsigned)i);
		ck_assert(tu_check(p, n, (unsigned)i));
		mm_free(p);
	}
}
END_TEST

/* Memory that was dirty when freed must come back zeroed from calloc. */
START_TEST(test_calloc_dirty_reuse)
{
	static const size_t sizes[] = { 1, 16, 100, 1000, 5000, 60000,
					200000 };
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		size_t n = sizes[i];
		for (int round = 0; round < 3; round++) {
			void *p = mm_malloc(n);
			ck_assert_ptr_nonnull(p);
			memset(launder(p), 0xff, mm_usable_size(p));
			mm_free(p);
			void *q = mm_calloc(1, n);
			ck_assert_ptr_nonnull(q);
			ck_assert_msg(tu_is_zero(q, n),
				      "calloc(1, %zu) after free not zero", n);
			memset(q, 0xff, n);
			mm_free(q);
			q = mm_calloc(n, 1);
			ck_assert_ptr_nonnull(q);
			ck_assert_msg(tu_is_zero(q, n),
				      "calloc(%zu, 1) after free not zero", n);
			mm_free(q);
		}
	}

	/* On a first-fit heap the freed block is certainly the one reused:
	 * it is the lowest free address, so calloc must scrub it. */
	mm_heap_t *h = mm_heap_create(MM_FIT_FIRST);
	ck_assert_ptr_nonnull(h);
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		size_t n = sizes[i];
		void *p = mm_heap_malloc(h, n);
		ck_assert_ptr_nonnull(p);
		memset(p, 0xff, n);
		mm_heap_free(h, p);
		void *q = mm_heap_calloc(h, 1, n);
		ck_assert_ptr_nonnull(q);
		if (n < 64 * KiB) /* below the mmap threshold */
			ck_assert_ptr_eq(q, p);
		ck_assert_msg(tu_is_zero(q, n), "heap calloc(1, %zu) dirty", n);
		mm_heap_free(h, q);
	}
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_heap_destroy(h);
}
END_TEST

START_TEST(test_calloc_large)
{
	static const size_t dims[][2] = {
		{ 1, 1 * MiB }, { 1024, 1024 }, { 3, 100000 }, { 128 * KiB, 1 },
		{ 1, 5 * MiB + 3 },
	};
	for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
		size_t n = dims[i][0] * dims[i][1];
		void *p = mm_calloc(dims[i][0], dims[i][1]);
		ck_assert_ptr_nonnull(p);
		ck_assert(tu_aligned(p, 16));
		ck_assert_uint_ge(mm_usable_size(p), n);
		ck_assert(tu_is_zero(p, n));
		tu_fill(p, n, (unsigned)i);
		ck_assert(tu_check(p, n, (unsigned)i));
		mm_free(p);
	}
}
END_TEST

START_TEST(test_calloc_overflow)
{
	const size_t big = v_size_max;
	const size_t dims[][2] = {
		{ big / 2 + 1, 2 }, { 2, big / 2 + 1 }, { big, big },
		{ (size_t)1 << (sizeof(size_t) * 4), (size_t)1 << (sizeof(size_t) * 4) },
		{ big / 16 + 1, 16 }, { big, 2 },
	};
	mm_stats_t before, after;
	void *keep = mm_malloc(64);
	ck_assert_ptr_nonnull(keep);
	tu_fill(keep, 64, 42);

	get_stats(NULL, &before);
	for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
		errno = 0;
		void *p = mm_calloc(dims[i][0], dims[i][1]);
		ck_assert_msg(p == NULL, "calloc(%zu, %zu) = %p", dims[i][0],
			      dims[i][1], p);
		ck_assert_int_eq(errno, ENOMEM);
	}
	get_stats(NULL, &after);
	ck_assert_uint_eq(after.in_use_blocks, before.in_use_blocks);
	ck_assert_uint_eq(after.in_use_bytes, before.in_use_bytes);

	mm_heap_t *h = mm_heap_create(0);
	ck_assert_ptr_nonnull(h);
	errno = 0;
	ck_assert_ptr_null(mm_heap_calloc(h, big / 2 + 1, 4));
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_heap_destroy(h);

	ck_assert(tu_check(keep, 64, 42));
	mm_free(keep);
}
END_TEST

/* --- sizes that cannot be served --------------------------------------- */

START_TEST(test_malloc_too_large)
{
	const size_t sizes[] = {
		v_size_max, v_size_max - 8, v_size_max - 15, v_size_max - 16,
		v_size_max - 4095, v_ptrdiff_max + 1, v_ptrdiff_max,
	};
	mm_stats_t before, after;
	void *keep = mm_malloc(100);
	ck_assert_ptr_nonnull(keep);
	tu_fill(keep, 100, 9);

	get_stats(NULL, &before);
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		errno = 0;
		void *p = mm_malloc(sizes[i]);
		ck_assert_msg(p == NULL, "mm_malloc(%zu) = %p", sizes[i], p);
		ck_assert_msg(errno == ENOMEM, "mm_malloc(%zu): errno %d",
			      sizes[i], errno);
		errno = 0;
		p = mm_aligned_alloc(64, sizes[i]);
		ck_assert_ptr_null(p);
		ck_assert_int_eq(errno, ENOMEM);
	}
	get_stats(NULL, &after);
	ck_assert_uint_eq(after.in_use_blocks, before.in_use_blocks);
	ck_assert_uint_eq(after.in_use_bytes, before.in_use_bytes);
	ck_assert_int_eq(mm_heap_check(NULL), 0);
	ck_assert(tu_check(keep, 100, 9));
	mm_free(keep);
}
END_TEST

/* Out of memory in a heap: NULL + ENOMEM and the heap stays consistent. */
START_TEST(test_heap_oom_consistent)
{
	mm_heap_t *h = mm_heap_create(0);
	ck_assert_ptr_nonnull(h);
	void *a = mm_heap_malloc(h, 1000);
	void *b = mm_heap_malloc(h, 300000);
	ck_assert(a && b);
	tu_fill(a, 1000, 1);
	tu_fill(b, 300000, 2);
	const size_t sizes[] = { v_size_max, v_ptrdiff_max + 1,
				 v_size_max - 8 };
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		errno = 0;
		ck_assert_ptr_null(mm_heap_malloc(h, sizes[i]));
		ck_assert_int_eq(errno, ENOMEM);
		errno = 0;
		ck_assert_ptr_null(mm_heap_aligned_alloc(h, 4096, sizes[i]));
		ck_assert_int_eq(errno, ENOMEM);
		ck_assert_int_eq(mm_heap_check(h), 0);
	}
	ck_assert(tu_check(a, 1000, 1));
	ck_assert(tu_check(b, 300000, 2));
	mm_heap_free(h, a);
	mm_heap_free(h, b);
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_heap_destroy(h);
}
END_TEST

/* --- realloc -------------------------------------------------------------- */

START_TEST(test_realloc_null_is_malloc)
{
	static const size_t sizes[] = { 1, 100, 5000, 200000 };
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		void *p = mm_realloc(NULL, sizes[i]);
		ck_assert_ptr_nonnull(p);
		ck_assert(tu_aligned(p, 16));
		ck_assert_uint_ge(mm_usable_size(p), sizes[i]);
		tu_fill(p, sizes[i], (unsigned)i);
		ck_assert(tu_check(p, sizes[i], (unsigned)i));
		mm_free(p);
	}
	/* mm_realloc(NULL, 0) is mm_malloc(0): a unique, freeable pointer */
	void *a = mm_realloc(NULL, 0);
	void *b = mm_realloc(NULL, 0);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_ne(a, b);
	mm_free(a);
	mm_free(b);

	void *c = mm_reallocarray(NULL, 10, 16);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_ge(mm_usable_size(c), 160);
	tu_fill(c, 160, 3);
	ck_assert(tu_check(c, 160, 3));
	mm_free(c);
}
END_TEST

START_TEST(test_realloc_zero_frees)
{
	/* On an explicit heap the walk shows that the block is gone. */
	struct blist l;
	blist_init(&l, 256);
	mm_heap_t *h = mm_heap_create(MM_FIT_FIRST);
	ck_assert_ptr_nonnull(h);
	void *keep = mm_heap_malloc(h, 48);
	void *p = mm_heap_malloc(h, 100);
	ck_assert(keep && p);
	tu_fill(keep, 48, 1);
	tu_fill(p, 100, 2);
	void *r = mm_heap_realloc(h, p, 0);
	ck_assert_ptr_null(r);
	walk_collect(h, &l);
	for (size_t i = 0; i < l.n; i++)
		ck_assert_msg(!(l.v[i].in_use && l.v[i].addr == p),
			      "block %p still in use after realloc(p, 0)", p);
	mm_stats_t st;
	get_stats(h, &st);
	ck_assert_uint_eq(st.in_use_blocks, 1);

	/* mm_realloc goes to the heap that owns the block */
	p = mm_heap_malloc(h, 300);
	ck_assert_ptr_nonnull(p);
	tu_fill(p, 300, 3);
	r = mm_realloc(p, 0);
	ck_assert_ptr_null(r);
	get_stats(h, &st);
	ck_assert_uint_eq(st.in_use_blocks, 1);
	ck_assert(tu_check(keep, 48, 1));
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_heap_destroy(h);
	blist_fini(&l);

	/* default heap: the free is counted */
	mm_stats_t s0, s1;
	p = mm_malloc(200);
	ck_assert_ptr_nonnull(p);
	tu_fill(p, 200, 4);
	get_stats(NULL, &s0);
	r = mm_realloc(p, 0);
	ck_assert_ptr_null(r);
	get_stats(NULL, &s1);
	ck_assert_uint_ge(s1.free_count, s0.free_count + 1);
	ck_assert_uint_lt(s1.in_use_bytes, s0.in_use_bytes);
}
END_TEST

START_TEST(test_realloc_keeps_contents)
{
	static const size_t moves[][2] = {
		{ 100, 200 },		/* small -> small */
		{ 16, 5000 },
		{ 100, 300000 },	/* small -> large */
		{ 5000, 200000 },
		{ 200000, 1 * MiB },	/* large -> large */
		{ 300000, 100 },	/* large -> small */
		{ 1 * MiB, 140 * KiB },
		{ 1000, 1000 },
	};
	for (size_t i = 0; i < sizeof moves / sizeof moves[0]; i++) {
		size_t from = moves[i][0], to = moves[i][1];
		size_t keep = from < to ? from : to;
		void *p = mm_malloc(from);
		ck_assert_ptr_nonnull(p);
		tu_fill(p, from, (unsigned)i + 11);
		void *q = mm_realloc(p, to);
		ck_assert_msg(q != NULL, "realloc %zu -> %zu failed", from, to);
		ck_assert(tu_aligned(q, 16));
		ck_assert_uint_ge(mm_usable_size(q), to);
		ck_assert_msg(tu_check(q, keep, (unsigned)i + 11),
			      "realloc %zu -> %zu lost contents", from, to);
		tu_fill(q, to, (unsigned)i + 12);
		ck_assert(tu_check(q, to, (unsigned)i + 12));
		mm_free(q);
	}
	ck_assert_int_eq(mm_heap_check(NULL), 0);
}
END_TEST

START_TEST(test_realloc_shrink_in_place)
{
	static const size_t moves[][2] = {
		{ 1000, 100 }, { 5000, 16 }, { 4096, 4000 }, { 100, 1 },
		{ 64 * KiB, 32 * KiB }, { 2000, 1999 },
	};
	for (size_t i = 0; i < sizeof moves / sizeof moves[0]; i++) {
		size_t from = moves[i][0], to = moves[i][1];
		void *p = mm_malloc(from);
		ck_assert_ptr_nonnull(p);
		tu_fill(p, from, (unsigned)i);
		void *q = mm_realloc(p, to);
		ck_assert_msg(q == p, "shrink %zu -> %zu moved %p to %p", from,
			      to, p, q);
		ck_assert(tu_check(q, to, (unsigned)i));
		ck_assert_uint_ge(mm_usable_size(q), to);
		mm_free(q);
	}

	/* the same on an explicit heap, with a neighbour that must survive */
	mm_heap_t *h = mm_heap_create(MM_FIT_FIRST);
	ck_assert_ptr_nonnull(h);
	void *a = mm_heap_malloc(h, 4096);
	void *b = mm_heap_malloc(h, 64);
	ck_assert(a && b);
	tu_fill(a, 4096, 5);
	tu_fill(b, 64, 6);
	void *q = mm_heap_realloc(h, a, 100);
	ck_assert_ptr_eq(q, a);
	ck_assert(tu_check(a, 100, 5));
	ck_assert(tu_check(b, 64, 6));
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_heap_destroy(h);
}
END_TEST

/* Grow in place when the next block is free: explicit first-fit heap so
 * that a and b are neighbours. */
START_TEST(test_realloc_grow_in_place)
{
	struct blist l;
	blist_init(&l, 256);

	/* next block is a free hole of its own (a guard keeps it apart) */
	mm_heap_t *h = mm_heap_create(MM_FIT_FIRST);
	ck_assert_ptr_nonnull(h);
	void *a = mm_heap_malloc(h, 256);
	void *b = mm_heap_malloc(h, 256);
	void *g = mm_heap_malloc(h, 16);
	ck_assert(a && b && g);
	tu_fill(a, 256, 1);
	tu_fill(g, 16, 3);
	walk_collect(h, &l);
	long ia = blist_find(&l, a), ib = blist_find(&l, b),
	     ig = blist_find(&l, g);
	ck_assert_msg(ia >= 0 && ib == ia + 1 && ig == ib + 1,
		      "first-fit blocks not consecutive: %ld %ld %ld", ia, ib,
		      ig);
	size_t ua = l.v[ia].size;
	mm_heap_free(h, b);
	walk_collect(h, &l);
	ib = blist_find(&l, b);
	ck_assert_msg(ib >= 0 && !l.v[ib].in_use, "hole at b not in the walk");
	size_t ub = l.v[ib].size;
	void *q = mm_heap_realloc(h, a, ua + ub);
	ck_assert_ptr_eq(q, a);
	ck_assert(tu_check(q, 256, 1));
	ck_assert_uint_ge(mm_usable_size(q), ua + ub);
	tu_fill(q, ua + ub, 4);
	ck_assert(tu_check(q, ua + ub, 4));
	ck_assert(tu_check(g, 16, 3));
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_heap_destroy(h);

	/* next block is the free rest of the region */
	h = mm_heap_create(MM_FIT_FIRST);
	ck_assert_ptr_nonnull(h);
	a = mm_heap_malloc(h, 256);
	ck_assert_ptr_nonnull(a);
	tu_fill(a, 256, 7);
	q = mm_heap_realloc(h, a, 4000);
	ck_assert_ptr_eq(q, a);
	ck_assert(tu_check(q, 256, 7));
	tu_fill(q, 4000, 8);
	ck_assert(tu_check(q, 4000, 8));
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_heap_destroy(h);

	/* next block in use: the block must move, contents and all */
	h = mm_heap_create(MM_FIT_FIRST);
	ck_assert_ptr_nonnull(h);
	a = mm_heap_malloc(h, 256);
	b = mm_heap_malloc(h, 256);
	ck_assert(a && b);
	tu_fill(a, 256, 9);
	tu_fill(b, 256, 10);
	q = mm_heap_realloc(h, a, 1000);
	ck_assert_ptr_nonnull(q);
	ck_assert_ptr_ne(q, a);
	ck_assert(tu_check(q, 256, 9));
	ck_assert(tu_check(b, 256, 10));
	walk_collect(h, &l);
	for (size_t i = 0; i < l.n; i++)
		ck_assert_msg(!(l.v[i].in_use && l.v[i].addr == a),
			      "old block %p still in use after the move", a);
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_heap_destroy(h);
	blist_fini(&l);
}
END_TEST

/* A buffer grown a little at a time grows in place with slack, so that
 * most calls find room in the block (a quarter more than asked, where the
 * next block is free); a small shrink keeps the slack, a big one gives it
 * back.  A fixed pool gives no slack. */
struct size_probe {
	const void *block;
	size_t size;
};

static int probe_size(void *block, size_t size, int in_use, void *arg)
{
	struct size_probe *pr = arg;

	if (in_use && block == pr->block)
		pr->size = size;
	return 0;
}

/* The usable size of p in h, read through the walk (pools too). */
static size_t usable_in(mm_heap_t *h, const void *p)
{
	struct size_probe pr = { p, 0 };

	ck_assert_int_eq(mm_heap_walk(h, probe_size, &pr), 0);
	ck_assert_uint_gt(pr.size, 0);
	return pr.size;
}

static size_t grow_by_steps(mm_heap_t *h, unsigned char **pp, size_t from, size_t to)
{
	unsigned char *p = *pp;
	size_t changes = 0, usable = usable_in(h, p);

	for (size_t n = from + 16; n <= to; n += 16) {
		unsigned char *q = mm_heap_realloc(h, p, n);
		ck_assert_ptr_eq(q, p);	/* room above: never moves */
		for (size_t i = n - 16; i < n; i++)
			q[i] = (unsigned char)(i * 7);
		if (usable_in(h, q) != usable) {
			usable = usable_in(h, q);
			changes++;
		}
		ck_assert_uint_ge(usable, n);
	}
	for (size_t i = from; i < to; i++)
		ck_assert_uint_eq(p[i], (unsigned char)(i * 7));
	*pp = p;
	return changes;
}

START_TEST(test_realloc_growth_amortised)
{
	mm_heap_t *h = mm_heap_create(MM_FIT_FIRST);
	ck_assert_ptr_nonnull(h);
	unsigned char *p = mm_heap_malloc(h, 20000);
	ck_assert_ptr_nonnull(p);
	tu_fill(p, 20000, 1);
	/* 2500 calls from 20000 to 60000 bytes: a few growths of the block */
	ck_assert_uint_le(grow_by_steps(h, &p, 20000, 60000), 8);
	ck_assert(tu_check(p, 20000, 1));
	size_t usable = mm_usable_size(p);
	ck_assert_ptr_eq(mm_heap_realloc(h, p, usable - usable / 8), p);
	ck_assert_uint_eq(mm_usable_size(p), usable);
	ck_assert_ptr_eq(mm_heap_realloc(h, p, 10000), p);
	ck_assert_uint_lt(mm_usable_size(p), 12000);
	ck_assert(tu_check(p, 10000, 1));
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_heap_destroy(h);

	/* a pool's bytes are the caller's: each block exactly its size */
	static unsigned char buf[256 * 1024];
	h = mm_heap_create_in(buf, sizeof buf, 0);
	ck_assert_ptr_nonnull(h);
	p = mm_heap_malloc(h, 1000);
	ck_assert_ptr_nonnull(p);
	tu_fill(p, 1000, 2);
	ck_assert_uint_gt(grow_by_steps(h, &p, 1000, 3000), 100);
	ck_assert_uint_lt(usable_in(h, p), 3000 + 32);
	ck_assert(tu_check(p, 1000, 2));
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_heap_destroy(h);
}
END_TEST

START_TEST(test_realloc_failure_keeps_old)
{
	static const size_t olds[] = { 1, 100, 5000, 300000 };
	const size_t bad[] = { v_size_max, v_size_max - 8, v_ptrdiff_max + 1 };

	for (size_t i = 0; i < sizeof olds / sizeof olds[0]; i++) {
		void *p = mm_malloc(olds[i]);
		ck_assert_ptr_nonnull(p);
		tu_fill(p, olds[i], (unsigned)i + 20);
		size_t u = mm_usable_size(p);
		for (size_t j = 0; j < sizeof bad / sizeof bad[0]; j++) {
			errno = 0;
			void *q = mm_realloc(p, bad[j]);
			ck_assert_msg(q == NULL, "realloc(%p, %zu) = %p", p,
				      bad[j], q);
			ck_assert_int_eq(errno, ENOMEM);
			ck_assert(tu_check(p, olds[i], (unsigned)i + 20));
			ck_assert_uint_eq(mm_usable_size(p), u);
		}
		/* still owned: it can still be used, grown and freed */
		void *q = mm_realloc(p, olds[i] + 1000);
		ck_assert_ptr_nonnull(q);
		ck_assert(tu_check(q, olds[i], (unsigned)i + 20));
		mm_free(q);
	}

	mm_heap_t *h = mm_heap_create(MM_FIT_FIRST);
	ck_assert_ptr_nonnull(h);
	void *p = mm_heap_malloc(h, 500);
	ck_assert_ptr_nonnull(p);
	tu_fill(p, 500, 77);
	errno = 0;
	void *q = mm_heap_realloc(h, p, v_size_max);
	ck_assert_ptr_null(q);
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert(tu_check(p, 500, 77));
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_heap_free(h, p);
	mm_heap_destroy(h);
}
END_TEST

START_TEST(test_reallocarray)
{
	void *p = mm_reallocarray(NULL, 10, 16);
	ck_assert_ptr_nonnull(p);
	ck_assert(tu_aligned(p, 16));
	tu_fill(p, 160, 1);
	void *q = mm_reallocarray(p, 100, 16);
	ck_assert_ptr_nonnull(q);
	ck_assert_uint_ge(mm_usable_size(q), 1600);
	ck_assert(tu_check(q, 160, 1));
	tu_fill(q, 1600, 2);
	p = q;

	const size_t big = v_size_max;
	const size_t dims[][2] = {
		{ big / 2 + 1, 2 }, { 2, big / 2 + 1 }, { big, big },
		{ big / 16 + 1, 16 },
	};
	for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++) {
		errno = 0;
		q = mm_reallocarray(p, dims[i][0], dims[i][1]);
		ck_assert_msg(q == NULL, "reallocarray(p, %zu, %zu) = %p",
			      dims[i][0], dims[i][1], q);
		ck_assert_int_eq(errno, ENOMEM);
		ck_assert(tu_check(p, 1600, 2));
	}
	q = mm_reallocarray(p, 5, 10);	/* shrink */
	ck_assert_ptr_nonnull(q);
	ck_assert(tu_check(q, 50, 2));
	mm_free(q);
}
END_TEST

/* --- aligned allocation --------------------------------------------------- */

START_TEST(test_aligned_alloc)
{
	static const size_t sizes[] = { 1, 17, 100, 1000, 5000, 200000 };
	enum { NS = sizeof sizes / sizeof sizes[0] };

	for (unsigned shift = 0; shift <= 22; shift++) {
		size_t a = (size_t)1 << shift;
		void *p[NS];
		struct span s[NS];
		for (size_t i = 0; i < NS; i++) {
			p[i] = mm_aligned_alloc(a, sizes[i]);
			ck_assert_msg(p[i] != NULL,
				      "aligned_alloc(%zu, %zu) failed", a,
				      sizes[i]);
			ck_assert_msg(tu_aligned(p[i], a) && tu_aligned(p[i], 16),
				      "aligned_alloc(%zu, %zu) = %p", a,
				      sizes[i], p[i]);
			ck_assert_uint_ge(mm_usable_size(p[i]), sizes[i]);
			tu_fill(p[i], sizes[i], shift * 16 + (unsigned)i);
			s[i].addr = (uintptr_t)p[i];
			s[i].len = mm_usable_size(p[i]);
		}
		for (size_t i = 0; i < NS; i++)
			ck_assert(tu_check(p[i], sizes[i],
					   shift * 16 + (unsigned)i));
		assert_spans_disjoint(s, NS);
		for (size_t i = 0; i < NS; i++)
			mm_free(p[i]);
	}
	ck_assert_int_eq(mm_heap_check(NULL), 0);

	/* the same on an explicit heap */
	mm_heap_t *h = mm_heap_create(0);
	ck_assert_ptr_nonnull(h);
	for (unsigned shift = 0; shift <= 16; shift++) {
		size_t a = (size_t)1 << shift;
		void *p = mm_heap_aligned_alloc(h, a, 300);
		ck_assert_ptr_nonnull(p);
		ck_assert(tu_aligned(p, a) && tu_aligned(p, 16));
		tu_fill(p, 300, shift);
		ck_assert(tu_check(p, 300, shift));
		mm_heap_free(h, p);
	}
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_heap_destroy(h);
}
END_TEST

START_TEST(test_aligned_alloc_huge_alignment)
{
	size_t a = (size_t)1 << 27;
	void *p = mm_aligned_alloc(a, 1000);
	ck_assert_ptr_nonnull(p);
	ck_assert(tu_aligned(p, a));
	ck_assert_uint_ge(mm_usable_size(p), 1000);
	tu_fill(p, 1000, 27);
	ck_assert(tu_check(p, 1000, 27));
	mm_free(p);
	ck_assert_int_eq(mm_heap_check(NULL), 0);
}
END_TEST

START_TEST(test_aligned_alloc_einval)
{
	const size_t bad[] = { 0, 3, 5, 6, 24, 48, 1000, (1u << 20) + 1,
			       v_size_max };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		errno = 0;
		void *p = mm_aligned_alloc(bad[i], 64);
		ck_assert_msg(p == NULL, "aligned_alloc(%zu, 64) = %p", bad[i],
			      p);
		ck_assert_msg(errno == EINVAL, "aligned_alloc(%zu): errno %d",
			      bad[i], errno);
	}
	mm_heap_t *h = mm_heap_create(0);
	ck_assert_ptr_nonnull(h);
	errno = 0;
	ck_assert_ptr_null(mm_heap_aligned_alloc(h, 24, 10));
	ck_assert_int_eq(errno, EINVAL);
	mm_heap_destroy(h);
}
END_TEST

START_TEST(test_posix_memalign)
{
	static const size_t sizes[] = { 1, 100, 5000, 200000 };
	for (size_t a = sizeof(void *); a <= ((size_t)1 << 20); a *= 2) {
		for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
			void *p = (void *)0x1;
			int rc = mm_posix_memalign(&p, a, sizes[i]);
			ck_assert_msg(rc == 0, "posix_memalign(%zu, %zu) = %d",
				      a, sizes[i], rc);
			ck_assert_ptr_nonnull(p);
			ck_assert(p != (void *)0x1);
			ck_assert(tu_aligned(p, a) && tu_aligned(p, 16));
			ck_assert_uint_ge(mm_usable_size(p), sizes[i]);
			tu_fill(p, sizes[i], (unsigned)(a + i));
			ck_assert(tu_check(p, sizes[i], (unsigned)(a + i)));
			mm_free(p);
		}
	}
}
END_TEST

START_TEST(test_posix_memalign_einval)
{
	void *const sentinel = (void *)0x5e5e5e50;
	size_t bad[] = { 0, 1, 2, 4, 3, 24, 48, 1000, 100000 };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		/* 1, 2 and 4 are powers of two but not multiples of
		 * sizeof(void *) on LP64 */
		if (bad[i] && (bad[i] & (bad[i] - 1)) == 0 &&
		    bad[i] % sizeof(void *) == 0)
			continue;
		void *p = sentinel;
		int rc = mm_posix_memalign(&p, bad[i], 64);
		ck_assert_msg(rc == EINVAL, "posix_memalign(%zu) = %d", bad[i],
			      rc);
		ck_assert_ptr_eq(p, sentinel);
	}
}
END_TEST

START_TEST(test_posix_memalign_enomem)
{
	void *const sentinel = (void *)0x5e5e5e50;
	const size_t sizes[] = { v_size_max, v_size_max - 8,
				 v_ptrdiff_max + 1 };
	const size_t aligns[] = { sizeof(void *), 64, 4096 };
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		for (size_t j = 0; j < sizeof aligns / sizeof aligns[0]; j++) {
			void *p = sentinel;
			int rc = mm_posix_memalign(&p, aligns[j], sizes[i]);
			ck_assert_msg(rc == ENOMEM,
				      "posix_memalign(%zu, %zu) = %d",
				      aligns[j], sizes[i], rc);
			ck_assert_ptr_eq(p, sentinel);
		}
	}
}
END_TEST

/*
 * errno after mm_posix_memalign: ENOMEM when memory ran out, as glibc's
 * posix_memalign leaves it (programs written against glibc read it);
 * untouched when the alignment is refused.  *memptr untouched either way.
 */
START_TEST(test_posix_memalign_errno)
{
	void *const sentinel = (void *)0x5e5e5e50;
	const int errno_sentinel = 1234;
	const size_t half = v_size_max / 2;
	const size_t bad[] = { 24, 0 };
	void *p = sentinel;
	int rc, e;

	errno = errno_sentinel;
	rc = mm_posix_memalign(&p, 64, half);
	e = errno;
	ck_assert_int_eq(rc, ENOMEM);
	ck_assert_msg(e == ENOMEM, "errno %d after running out, not ENOMEM", e);
	ck_assert_ptr_eq(p, sentinel);

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		p = sentinel;
		errno = errno_sentinel;
		rc = mm_posix_memalign(&p, bad[i], 64);
		e = errno;
		ck_assert_int_eq(rc, EINVAL);
		ck_assert_msg(e == errno_sentinel,
			      "posix_memalign(, %zu, 64) changed errno to %d",
			      bad[i], e);
		ck_assert_ptr_eq(p, sentinel);
	}

	/* a success after the failures leaves errno alone and works */
	errno = errno_sentinel;
	ck_assert_int_eq(mm_posix_memalign(&p, 64, 100), 0);
	ck_assert_int_eq(errno, errno_sentinel);
	ck_assert(tu_aligned(p, 64));
	tu_fill(p, 100, 77);
	ck_assert(tu_check(p, 100, 77));
	mm_free(p);
	ck_assert_int_eq(mm_heap_check(NULL), 0);
}
END_TEST

/* --- odds and ends -------------------------------------------------------- */

START_TEST(test_free_null)
{
	mm_free(NULL);
	mm_heap_free(NULL, NULL);
	mm_heap_t *h = mm_heap_create(0);
	ck_assert_ptr_nonnull(h);
	mm_heap_free(h, NULL);
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_heap_destroy(h);
	void *p = mm_malloc(10);
	ck_assert_ptr_nonnull(p);
	tu_fill(p, 10, 1);
	ck_assert(tu_check(p, 10, 1));
	mm_free(p);
	ck_assert_int_eq(mm_heap_check(NULL), 0);
}
END_TEST

START_TEST(test_usable_size_null)
{
	ck_assert_uint_eq(mm_usable_size(NULL), 0);
}
END_TEST

START_TEST(test_default_heap)
{
	mm_heap_t *d = mm_default_heap();
	ck_assert_ptr_nonnull(d);
	ck_assert_ptr_eq(mm_default_heap(), d);

	/* heap NULL and the default heap are the heap behind mm_malloc */
	void *a = mm_heap_malloc(NULL, 123);
	void *b = mm_heap_malloc(d, 321);
	void *c = mm_malloc(77);
	ck_assert(a && b && c);
	tu_fill(a, 123, 1);
	tu_fill(b, 321, 2);
	tu_fill(c, 77, 3);

	struct blist l;
	blist_init(&l, 1 << 16);
	walk_collect(NULL, &l);
	long ia = blist_find(&l, a), ib = blist_find(&l, b),
	     ic = blist_find(&l, c);
	ck_assert(ia >= 0 && ib >= 0 && ic >= 0);
	ck_assert(l.v[ia].in_use && l.v[ib].in_use && l.v[ic].in_use);
	ck_assert_uint_ge(l.v[ia].size, 123);
	walk_collect(d, &l);
	ck_assert(blist_find(&l, c) >= 0);
	blist_fini(&l);

	ck_assert_int_eq(mm_heap_check(NULL), 0);
	ck_assert_int_eq(mm_heap_check(d), 0);

	/* the default heap cannot be destroyed, NULL is ignored */
	mm_heap_destroy(NULL);
	errno = 0;
	mm_heap_destroy(d);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert(tu_check(a, 123, 1));
	ck_assert(tu_check(b, 321, 2));
	ck_assert(tu_check(c, 77, 3));

	mm_free(a);		/* from mm_heap_malloc(NULL, ...) */
	mm_heap_free(NULL, b);	/* from mm_heap_malloc(d, ...) */
	mm_heap_free(d, c);	/* from mm_malloc */
	void *e = mm_malloc(50);
	ck_assert_ptr_nonnull(e);
	tu_fill(e, 50, 4);
	ck_assert(tu_check(e, 50, 4));
	mm_free(e);
	ck_assert_int_eq(mm_heap_check(d), 0);
}
END_TEST

START_TEST(test_version)
{
	ck_assert_ptr_nonnull(mm_version());
	ck_assert_str_eq(mm_version(), LIBMM_VERSION_STRING);
	ck_assert_int_eq(mm_version_number(), LIBMM_VERSION_NUMBER);
	ck_assert_int_eq(LIBMM_VERSION_NUMBER,
			 LIBMM_VERSION_MAJOR * 10000 +
				 LIBMM_VERSION_MINOR * 100 +
				 LIBMM_VERSION_PATCH);
	char buf[32];
	snprintf(buf, sizeof buf, "%d.%d.%d", LIBMM_VERSION_MAJOR,
		 LIBMM_VERSION_MINOR, LIBMM_VERSION_PATCH);
	ck_assert_str_eq(mm_version(), buf);
}
END_TEST

/* --- statistics ----------------------------------------------------------- */

START_TEST(test_stats_default)
{
	enum { N = 10, SZ = 1000 };
	mm_stats_t s0, s1, s2, sd;
	void *p[N];

	get_stats(NULL, &s0);
	for (int i = 0; i < N; i++) {
		p[i] = mm_malloc(SZ);
		ck_assert_ptr_nonnull(p[i]);
		tu_fill(p[i], SZ, (unsigned)i);
	}
	get_stats(NULL, &s1);
	ck_assert_uint_ge(s1.in_use_bytes, s0.in_use_bytes + N * SZ);
	ck_assert_uint_ge(s1.alloc_count, s0.alloc_count + N);
	ck_assert_uint_ge(s1.peak_in_use_bytes, s1.in_use_bytes);
	ck_assert_uint_ge(s1.os_bytes, s1.in_use_bytes);
	ck_assert_uint_ge(s1.peak_os_bytes, s1.os_bytes);

	/* NULL and the default heap are the same heap */
	get_stats(mm_default_heap(), &sd);
	ck_assert_uint_eq(sd.in_use_bytes, s1.in_use_bytes);
	ck_assert_uint_eq(sd.alloc_count, s1.alloc_count);
	ck_assert_uint_eq(sd.free_count, s1.free_count);
	ck_assert_uint_eq(sd.os_bytes, s1.os_bytes);

	for (int i = 0; i < N; i++) {
		ck_assert(tu_check(p[i], SZ, (unsigned)i));
		mm_free(p[i]);
	}
	get_stats(NULL, &s2);
	ck_assert_uint_ge(s2.free_count, s1.free_count + N);
	ck_assert_uint_le(s2.in_use_bytes + N * SZ, s1.in_use_bytes);
	ck_assert_uint_ge(s2.peak_in_use_bytes, s1.in_use_bytes);

	/* a large block is counted too */
	void *big = mm_malloc(512 * KiB);
	ck_assert_ptr_nonnull(big);
	tu_fill(big, 512 * KiB, 5);
	get_stats(NULL, &s1);
	ck_assert_uint_ge(s1.in_use_bytes, s2.in_use_bytes + 512 * KiB);
	ck_assert_uint_ge(s1.os_bytes, 512 * KiB);
	ck_assert(tu_check(big, 512 * KiB, 5));
	mm_free(big);
}
END_TEST

START_TEST(test_stats_args)
{
	mm_stats_t st;

	errno = 0;
	ck_assert_int_eq(mm_heap_stats(NULL, NULL, sizeof st), -1);
	ck_assert_int_eq(errno, EINVAL);
	mm_heap_t *h = mm_heap_create(0);
	ck_assert_ptr_nonnull(h);
	errno = 0;
	ck_assert_int_eq(mm_heap_stats(h, NULL, sizeof st), -1);
	ck_assert_int_eq(errno, EINVAL);

	/* an older caller's smaller struct: only its prefix is written */
	void *p = mm_heap_malloc(h, 100);
	ck_assert_ptr_nonnull(p);
	tu_fill(p, 100, 1);
	memset(&st, 0xab, sizeof st);
	size_t part = offsetof(struct mm_stats, in_use_bytes);
	ck_assert_int_eq(mm_heap_stats(h, &st, part), 0);
	ck_assert_uint_gt(st.os_bytes, 0);
	ck_assert_uint_ne(st.os_bytes, (size_t)0xabababababababab);
	unsigned char *rest = (unsigned char *)&st + part;
	for (size_t i = 0; i < sizeof st - part; i++)
		ck_assert_msg(rest[i] == 0xab,
			      "byte %zu beyond stats_size %zu written",
			      part + i, part);

	get_stats(h, &st);
	ck_assert_uint_eq(st.in_use_blocks, 1);
	ck_assert_uint_ge(st.in_use_bytes, 100);
	ck_assert_uint_eq(st.alloc_count, 1);
	ck_assert_uint_eq(st.free_count, 0);
	mm_heap_free(h, p);
	get_stats(h, &st);
	ck_assert_uint_eq(st.in_use_blocks, 0);
	ck_assert_uint_eq(st.in_use_bytes, 0);
	ck_assert_uint_eq(st.free_count, 1);
	mm_heap_destroy(h);
}
END_TEST

/* mm_free, mm_realloc and mm_usable_size route a block of an explicit heap
 * to its heap. */
START_TEST(test_free_routes_to_heap)
{
	mm_heap_t *h = mm_heap_create(0);
	ck_assert_ptr_nonnull(h);
	void *small = mm_heap_malloc(h, 100);
	void *large = mm_heap_malloc(h, 300000);
	void *mid = mm_heap_malloc(h, 2000);
	ck_assert(small && large && mid);
	tu_fill(small, 100, 1);
	tu_fill(large, 300000, 2);
	tu_fill(mid, 2000, 3);
	ck_assert_uint_ge(mm_usable_size(small), 100);
	ck_assert_uint_ge(mm_usable_size(large), 300000);

	mm_stats_t st;
	get_stats(h, &st);
	ck_assert_uint_eq(st.in_use_blocks, 3);

	mm_free(small);
	mm_free(large);
	get_stats(h, &st);
	ck_assert_uint_eq(st.in_use_blocks, 1);
	ck_assert_uint_ge(st.free_count, 2);

	/* realloc keeps the block in its heap */
	void *q = mm_realloc(mid, 6000);
	ck_assert_ptr_nonnull(q);
	ck_assert(tu_check(q, 2000, 3));
	struct blist l;
	blist_init(&l, 256);
	walk_collect(h, &l);
	long iq = blist_find(&l, q);
	ck_assert_msg(iq >= 0 && l.v[iq].in_use,
		      "realloc'd block %p not in its heap", q);
	ck_assert_uint_ge(l.v[iq].size, 6000);
	size_t used = 0;
	for (size_t i = 0; i < l.n; i++)
		used += l.v[i].in_use != 0;
	ck_assert_uint_eq(used, 1);
	blist_fini(&l);

	mm_free(q);
	get_stats(h, &st);
	ck_assert_uint_eq(st.in_use_blocks, 0);
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_heap_destroy(h);
}
END_TEST

static Suite *api_suite(void)
{
	Suite *s = suite_create("api");
	TCase *tc;

	tc = tcase_create("malloc");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_align_small_sizes);
	tcase_add_test(tc, test_align_large_sizes);
	tcase_add_test(tc, test_malloc_zero);
	tcase_add_test(tc, test_usable_size);
	tcase_add_test(tc, test_random_live_blocks);
	tcase_add_test(tc, test_malloc_too_large);
	tcase_add_test(tc, test_heap_oom_consistent);
	suite_add_tcase(s, tc);

	tc = tcase_create("calloc");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_calloc_zeroes);
	tcase_add_test(tc, test_calloc_dirty_reuse);
	tcase_add_test(tc, test_calloc_large);
	tcase_add_test(tc, test_calloc_overflow);
	suite_add_tcase(s, tc);

	tc = tcase_create("realloc");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_realloc_null_is_malloc);
	tcase_add_test(tc, test_realloc_zero_frees);
	tcase_add_test(tc, test_realloc_keeps_contents);
	tcase_add_test(tc, test_realloc_shrink_in_place);
	tcase_add_test(tc, test_realloc_grow_in_place);
	tcase_add_test(tc, test_realloc_growth_amortised);
	tcase_add_test(tc, test_realloc_failure_keeps_old);
	tcase_add_test(tc, test_reallocarray);
	suite_add_tcase(s, tc);

	tc = tcase_create("aligned");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_aligned_alloc);
	tcase_add_test(tc, test_aligned_alloc_huge_alignment);
	tcase_add_test(tc, test_aligned_alloc_einval);
	tcase_add_test(tc, test_posix_memalign);
	tcase_add_test(tc, test_posix_memalign_einval);
	tcase_add_test(tc, test_posix_memalign_enomem);
	tcase_add_test(tc, test_posix_memalign_errno);
	suite_add_tcase(s, tc);

	tc = tcase_create("misc");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_free_null);
	tcase_add_test(tc, test_usable_size_null);
	tcase_add_test(tc, test_default_heap);
	tcase_add_test(tc, test_version);
	tcase_add_test(tc, test_stats_default);
	tcase_add_test(tc, test_stats_args);
	tcase_add_test(tc, test_free_routes_to_heap);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(api_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
