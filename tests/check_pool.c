/*
 * check_pool: heaps in a caller's buffer (mm_heap_create_in).  Blocks are
 * split and merged inside the buffer, a full pool says ENOMEM and stays
 * consistent, nothing ever comes from the OS, and every pointer handed out
 * lies inside the buffer.
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

static volatile size_t v_size_max = SIZE_MAX;

/* --- helpers -------------------------------------------------------------- */

static size_t count_in_use(const struct blist *l)
{
	size_t n = 0;
	for (size_t i = 0; i < l->n; i++)
		n += l->v[i].in_use != 0;
	return n;
}

static int inside(const void *buf, size_t len, const void *p, size_t n)
{
	uintptr_t a = (uintptr_t)p, lo = (uintptr_t)buf;
	return a >= lo && a <= lo + len && n <= lo + len - a;
}

#define assert_inside(buf, len, p, n)                                          \
	ck_assert_msg(inside((buf), (len), (p), (n)),                          \
		      "%p+%zu outside the pool [%p, +%zu)", (void *)(p),       \
		      (size_t)(n), (void *)(buf), (size_t)(len))

/* Every walked block (free or not) lies inside the buffer. */
static void assert_walk_inside(mm_heap_t *h, const void *buf, size_t len)
{
	struct blist l;
	blist_init(&l, len / 32 + 16);
	walk_collect(h, &l);
	for (size_t i = 0; i < l.n; i++) {
		assert_inside(buf, len, l.v[i].addr, l.v[i].size);
		ck_assert(tu_aligned(l.v[i].addr, 16));
	}
	blist_fini(&l);
}

static void get_stats(mm_heap_t *h, mm_stats_t *st)
{
	memset(st, 0, sizeof *st);
	ck_assert_int_eq(mm_heap_stats(h, st, sizeof *st), 0);
}

/* No byte from the OS: the pool accounts for at most its buffer. */
static void assert_no_os(mm_heap_t *h, size_t len)
{
	mm_stats_t st;
	get_stats(h, &st);
	ck_assert_uint_gt(st.os_bytes, 0);
	ck_assert_uint_le(st.os_bytes, len);
	ck_assert_uint_le(st.peak_os_bytes, len);
	ck_assert_uint_eq(st.mapped_blocks, 0);
	ck_assert_uint_eq(st.mapped_bytes, 0);
	ck_assert_uint_le(st.in_use_bytes + st.free_bytes, len);
}

static const unsigned fits[] = { MM_FIT_GOOD, MM_FIT_FIRST, MM_FIT_BEST };

/* --- split and merge ------------------------------------------------------ */

/* Fill a 256 KiB pool with 64-byte blocks until it says ENOMEM, free them
 * all in a shuffled order: one free block is left, and it serves 90% of the
 * pool (more than the mmap threshold) in one piece. */
START_TEST(test_fill_then_merge)
{
	const size_t len = 256 * KiB;
	const size_t cap = len / 32 + 1;
	unsigned char *buf = malloc(len);
	void **p = malloc(cap * sizeof *p);
	struct blist l;
	mm_stats_t st;
	size_t n = 0;

	ck_assert(buf && p);
	blist_init(&l, cap);
	mm_heap_t *h = mm_heap_create_in(buf, len, fits[_i]);
	ck_assert_ptr_nonnull(h);

	for (;;) {
		ck_assert_uint_lt(n, cap);
		errno = 0;
		p[n] = mm_heap_malloc(h, 64);
		if (!p[n])
			break;
		assert_inside(buf, len, p[n], 64);
		ck_assert(tu_aligned(p[n], 16));
		tu_fill(p[n], 64, (unsigned)n);
		n++;
	}
	ck_assert_int_eq(errno, ENOMEM);
	/* 64 usable bytes cost 80 with the header: most of the pool is used */
	ck_assert_msg(n >= len / 96, "only %zu blocks of 64 in %zu bytes", n,
		      len);
	ck_assert_msg(n <= len / 80, "%zu blocks of 64 in %zu bytes?", n, len);
	ck_assert_int_eq(mm_heap_check(h), 0);
	errno = 0;
	ck_assert_ptr_null(mm_heap_malloc(h, 64));
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_int_eq(mm_heap_check(h), 0);

	walk_collect(h, &l);
	ck_assert_uint_eq(count_in_use(&l), n);
	get_stats(h, &st);
	ck_assert_uint_eq(st.in_use_blocks, n);
	ck_assert_uint_ge(st.in_use_bytes, n * 64);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(tu_check(p[i], 64, (unsigned)i),
			      "block %zu (%p) damaged", i, p[i]);

	rng_seed(1234 + (uint64_t)_i);
	for (size_t i = n; i > 1; i--) {
		size_t j = rng_below(i);
		void *t = p[i - 1];
		p[i - 1] = p[j];
		p[j] = t;
	}
	for (size_t i = 0; i < n; i++) {
		mm_heap_free(h, p[i]);
		if (i % 512 == 0)
			ck_assert_int_eq(mm_heap_check(h), 0);
	}
	ck_assert_int_eq(mm_heap_check(h), 0);

	walk_collect(h, &l);
	ck_assert_msg(l.n == 1, "%zu blocks after freeing all, want 1", l.n);
	ck_assert_int_eq(l.v[0].in_use, 0);
	assert_inside(buf, len, l.v[0].addr, l.v[0].size);
	get_stats(h, &st);
	ck_assert_uint_eq(st.in_use_blocks, 0);
	ck_assert_uint_eq(st.in_use_bytes, 0);
	ck_assert_uint_eq(st.free_blocks, 1);
	ck_assert_uint_eq(st.free_bytes, l.v[0].size);
	ck_assert_uint_eq(st.largest_free, l.v[0].size);
	ck_assert_uint_ge(st.free_count, n);
	ck_assert_uint_ge(st.alloc_count, n);

	size_t big = len / 10 * 9;
	void *q = mm_heap_malloc(h, big);
	ck_assert_msg(q != NULL, "90%% of the pool not served after merge");
	assert_inside(buf, len, q, big);
	tu_fill(q, big, 99);
	ck_assert(tu_check(q, big, 99));
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_heap_free(h, q);
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_heap_destroy(h);
	blist_fini(&l);
	free(p);
	free(buf);
}
END_TEST

/* --- out of memory -------------------------------------------------------- */

START_TEST(test_oom_keeps_contents)
{
	const size_t len = 64 * KiB;
	unsigned char *buf = malloc(len);
	void *blk[128];
	size_t n = 0;

	ck_assert_ptr_nonnull(buf);
	mm_heap_t *h = mm_heap_create_in(buf, len, fits[_i]);
	ck_assert_ptr_nonnull(h);
	void *a = mm_heap_malloc(h, 1000);
	void *b = mm_heap_malloc(h, 5000);
	ck_assert(a && b);
	tu_fill(a, 1000, 1);
	tu_fill(b, 5000, 2);

	/* requests that can never fit: the control structure is inside */
	const size_t never[] = { len, len * 2, len - 16, 10 * len,
				 v_size_max, v_size_max - 8 };
	for (size_t i = 0; i < sizeof never / sizeof never[0]; i++) {
		errno = 0;
		ck_assert_ptr_null(mm_heap_malloc(h, never[i]));
		ck_assert_int_eq(errno, ENOMEM);
		errno = 0;
		ck_assert_ptr_null(mm_heap_calloc(h, 1, never[i]));
		ck_assert_int_eq(errno, ENOMEM);
		errno = 0;
		ck_assert_ptr_null(mm_heap_aligned_alloc(h, 4096, never[i]));
		ck_assert_int_eq(errno, ENOMEM);
		errno = 0;
		void *q = mm_heap_realloc(h, a, never[i]);
		ck_assert_ptr_null(q);
		ck_assert_int_eq(errno, ENOMEM);
		ck_assert_int_eq(mm_heap_check(h), 0);
		ck_assert(tu_check(a, 1000, 1));
		ck_assert(tu_check(b, 5000, 2));
	}
	errno = 0;
	ck_assert_ptr_null(mm_heap_calloc(h, v_size_max / 2 + 1, 2));
	ck_assert_int_eq(errno, ENOMEM);

	/* fill it up with 1000-byte blocks */
	for (;;) {
		ck_assert_uint_lt(n, sizeof blk / sizeof blk[0]);
		errno = 0;
		blk[n] = mm_heap_malloc(h, 1000);
		if (!blk[n])
			break;
		assert_inside(buf, len, blk[n], 1000);
		tu_fill(blk[n], 1000, 10 + (unsigned)n);
		n++;
	}
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_uint_ge(n, 16);	/* 64 KiB holds far more than 16 */
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_stats_t st;
	get_stats(h, &st);
	/* (a good fit may round a request up to its size class, so allow
	 * some slack, but not a free block twice the request) */
	ck_assert_msg(st.largest_free < 2000,
		      "ENOMEM for 1000 bytes, but largest free is %zu",
		      st.largest_free);
	assert_walk_inside(h, buf, len);
	ck_assert(tu_check(a, 1000, 1));
	ck_assert(tu_check(b, 5000, 2));
	for (size_t i = 0; i < n; i++)
		ck_assert(tu_check(blk[i], 1000, 10 + (unsigned)i));

	/* room again after a free */
	mm_heap_free(h, blk[n / 2]);
	void *c = mm_heap_malloc(h, 1000);
	ck_assert_ptr_nonnull(c);
	assert_inside(buf, len, c, 1000);
	tu_fill(c, 1000, 3);
	blk[n / 2] = c;
	for (size_t i = 0; i < n; i++)
		ck_assert(tu_check(blk[i], 1000,
				   i == n / 2 ? 3 : 10 + (unsigned)i));
	ck_assert(tu_check(a, 1000, 1));
	ck_assert(tu_check(b, 5000, 2));

	for (size_t i = 0; i < n; i++)
		mm_heap_free(h, blk[i]);
	mm_heap_free(h, a);
	mm_heap_free(h, b);
	ck_assert_int_eq(mm_heap_check(h), 0);
	assert_no_os(h, len);
	mm_heap_destroy(h);
	free(buf);
}
END_TEST

/* --- never the OS ---------------------------------------------------------- */

START_TEST(test_never_touches_os)
{
	enum { SLOTS = 64, OPS = 1500 };
	const size_t len = 1024 * KiB;
	unsigned char *buf = malloc(len);
	void *p[SLOTS] = { 0 };
	size_t sz[SLOTS] = { 0 };
	unsigned seed[SLOTS] = { 0 };

	ck_assert_ptr_nonnull(buf);
	mm_heap_t *h = mm_heap_create_in(buf, len, fits[_i]);
	ck_assert_ptr_nonnull(h);
	assert_no_os(h, len);

	rng_seed(99 + (uint64_t)_i);
	for (unsigned op = 0; op < OPS; op++) {
		size_t i = rng_below(SLOTS);
		size_t n = rng_below(10) ? 1 + rng_below(4000)
					 : 1 + rng_below(40 * KiB);
		if (p[i]) {
			ck_assert(tu_check(p[i], sz[i], seed[i]));
			mm_heap_free(h, p[i]);
		}
		errno = 0;
		p[i] = mm_heap_malloc(h, n);
		if (!p[i]) {
			ck_assert_int_eq(errno, ENOMEM);
			continue;
		}
		assert_inside(buf, len, p[i], n);
		ck_assert(tu_aligned(p[i], 16));
		sz[i] = n;
		seed[i] = op;
		tu_fill(p[i], n, op);
	}
	ck_assert_int_eq(mm_heap_check(h), 0);
	assert_walk_inside(h, buf, len);
	assert_no_os(h, len);
	for (size_t i = 0; i < SLOTS; i++) {
		if (p[i])
			ck_assert(tu_check(p[i], sz[i], seed[i]));
		mm_heap_free(h, p[i]);
	}
	ck_assert_int_eq(mm_heap_check(h), 0);
	assert_no_os(h, len);
	mm_heap_destroy(h);
	free(buf);
}
END_TEST

/* Above the mmap threshold a pool still serves from its buffer. */
START_TEST(test_large_from_pool)
{
	const size_t len = 1024 * KiB;
	static const size_t sizes[] = { 128 * KiB, 200 * KiB, 300 * KiB };
	unsigned char *buf = malloc(len);
	void *p[3];
	struct blist l;

	ck_assert_ptr_nonnull(buf);
	blist_init(&l, 64);
	mm_heap_t *h = mm_heap_create_in(buf, len, fits[_i]);
	ck_assert_ptr_nonnull(h);
	for (int i = 0; i < 3; i++) {
		p[i] = mm_heap_malloc(h, sizes[i]);
		ck_assert_ptr_nonnull(p[i]);
		assert_inside(buf, len, p[i], sizes[i]);
		tu_fill(p[i], sizes[i], (unsigned)i);
	}
	void *z = mm_heap_calloc(h, 150, KiB);
	ck_assert_ptr_nonnull(z);
	assert_inside(buf, len, z, 150 * KiB);
	ck_assert(tu_is_zero(z, 150 * KiB));
	void *al = mm_heap_aligned_alloc(h, 4096, 130 * KiB);
	ck_assert_ptr_nonnull(al);
	ck_assert(tu_aligned(al, 4096));
	assert_inside(buf, len, al, 130 * KiB);
	tu_fill(al, 130 * KiB, 7);

	walk_collect(h, &l);
	ck_assert_uint_eq(count_in_use(&l), 5);
	assert_no_os(h, len);
	mm_stats_t st;
	get_stats(h, &st);
	ck_assert_uint_ge(st.in_use_bytes,
			  (128 + 200 + 300 + 150 + 130) * KiB);
	for (int i = 0; i < 3; i++)
		ck_assert(tu_check(p[i], sizes[i], (unsigned)i));
	ck_assert(tu_check(al, 130 * KiB, 7));

	/* a lower threshold is ignored for pools, too */
	for (int i = 0; i < 3; i++)
		mm_heap_free(h, p[i]);
	mm_heap_free(h, z);
	mm_heap_free(h, al);
	(void)mm_heap_set_option(h, MM_OPT_MMAP_THRESHOLD, 4096);
	void *q = mm_heap_malloc(h, 8192);
	ck_assert_ptr_nonnull(q);
	assert_inside(buf, len, q, 8192);
	tu_fill(q, 8192, 8);
	ck_assert(tu_check(q, 8192, 8));
	assert_no_os(h, len);
	mm_heap_free(h, q);
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_heap_destroy(h);
	blist_fini(&l);
	free(buf);
}
END_TEST

/* --- calloc, realloc, aligned in a pool ----------------------------------- */

START_TEST(test_pool_calloc)
{
	const size_t len = 256 * KiB;
	unsigned char *buf = malloc(len);
	ck_assert_ptr_nonnull(buf);
	mm_heap_t *h = mm_heap_create_in(buf, len, fits[_i]);
	ck_assert_ptr_nonnull(h);

	static const size_t sizes[] = { 1, 16, 100, 4000, 50000 };
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		size_t n = sizes[i];
		void *p = mm_heap_malloc(h, n);
		ck_assert_ptr_nonnull(p);
		memset(p, 0xff, n);
		mm_heap_free(h, p);
		void *q = mm_heap_calloc(h, 1, n);
		ck_assert_ptr_nonnull(q);
		assert_inside(buf, len, q, n);
		if (fits[_i] == MM_FIT_FIRST)	/* lowest: the same block */
			ck_assert_ptr_eq(q, p);
		ck_assert_msg(tu_is_zero(q, n), "pool calloc(1, %zu) dirty", n);
		tu_fill(q, n, (unsigned)i);
		ck_assert(tu_check(q, n, (unsigned)i));
		mm_heap_free(h, q);
	}
	void *z = mm_heap_calloc(h, 1000, 100);
	ck_assert_ptr_nonnull(z);
	assert_inside(buf, len, z, 100000);
	ck_assert(tu_is_zero(z, 100000));
	mm_heap_free(h, z);
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_heap_destroy(h);
	free(buf);
}
END_TEST

START_TEST(test_pool_realloc)
{
	const size_t len = 1024 * KiB;
	unsigned char *buf = malloc(len);
	struct blist l;
	ck_assert_ptr_nonnull(buf);
	blist_init(&l, 256);
	mm_heap_t *h = mm_heap_create_in(buf, len, fits[_i]);
	ck_assert_ptr_nonnull(h);

	void *guard = mm_heap_malloc(h, 32);
	void *p = mm_heap_realloc(h, NULL, 100);	/* like malloc */
	ck_assert(guard && p);
	assert_inside(buf, len, p, 100);
	tu_fill(guard, 32, 1);
	tu_fill(p, 100, 2);

	/* grow */
	void *q = mm_heap_realloc(h, p, 5000);
	ck_assert_ptr_nonnull(q);
	assert_inside(buf, len, q, 5000);
	ck_assert(tu_check(q, 100, 2));
	tu_fill(q, 5000, 3);
	/* shrink: same pointer */
	p = mm_heap_realloc(h, q, 50);
	ck_assert_ptr_eq(p, q);
	ck_assert(tu_check(p, 50, 3));
	/* grow well beyond the mmap threshold: still in the buffer */
	q = mm_heap_realloc(h, p, 400 * KiB);
	ck_assert_ptr_nonnull(q);
	assert_inside(buf, len, q, 400 * KiB);
	ck_assert(tu_check(q, 50, 3));
	tu_fill(q, 400 * KiB, 4);
	p = mm_heap_realloc(h, q, 200 * KiB);
	ck_assert_ptr_eq(p, q);
	ck_assert(tu_check(p, 200 * KiB, 4));
	ck_assert(tu_check(guard, 32, 1));
	ck_assert_int_eq(mm_heap_check(h), 0);
	assert_no_os(h, len);

	/* realloc to 0 frees */
	q = mm_heap_realloc(h, p, 0);
	ck_assert_ptr_null(q);
	walk_collect(h, &l);
	ck_assert_uint_eq(count_in_use(&l), 1);
	for (size_t i = 0; i < l.n; i++)
		if (l.v[i].in_use)
			ck_assert_ptr_eq(l.v[i].addr, guard);
	mm_heap_free(h, guard);
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_heap_destroy(h);
	blist_fini(&l);
	free(buf);
}
END_TEST

START_TEST(test_pool_aligned)
{
	const size_t len = 1024 * KiB;
	unsigned char *buf = malloc(len);
	ck_assert_ptr_nonnull(buf);
	mm_heap_t *h = mm_heap_create_in(buf, len, fits[_i]);
	ck_assert_ptr_nonnull(h);

	static const size_t req[][2] = {
		{ 64, 100 }, { 64, 1 }, { 4096, 5000 }, { 4096, 1 },
		{ 4096, 4096 }, { 65536, 10 }, { 32, 33 }, { 256, 256 },
	};
	enum { N = sizeof req / sizeof req[0] };
	void *p[N];
	for (size_t i = 0; i < N; i++) {
		p[i] = mm_heap_aligned_alloc(h, req[i][0], req[i][1]);
		ck_assert_msg(p[i] != NULL, "pool aligned_alloc(%zu, %zu)",
			      req[i][0], req[i][1]);
		ck_assert_msg(tu_aligned(p[i], req[i][0]), "%p not aligned "
			      "to %zu", p[i], req[i][0]);
		assert_inside(buf, len, p[i], req[i][1]);
		tu_fill(p[i], req[i][1], (unsigned)i);
	}
	ck_assert_int_eq(mm_heap_check(h), 0);
	for (size_t i = 0; i < N; i++)
		ck_assert(tu_check(p[i], req[i][1], (unsigned)i));
	assert_walk_inside(h, buf, len);
	for (size_t i = 0; i < N; i++)
		mm_heap_free(h, p[i]);
	ck_assert_int_eq(mm_heap_check(h), 0);

	errno = 0;
	ck_assert_ptr_null(mm_heap_aligned_alloc(h, 3, 10));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(mm_heap_aligned_alloc(h, 64, 2 * len));
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_heap_destroy(h);
	free(buf);
}
END_TEST

/* --- creation --------------------------------------------------------------- */

START_TEST(test_invalid_create)
{
	static unsigned char buf[64 * KiB] __attribute__((aligned(16)));

	errno = 0;
	ck_assert_ptr_null(mm_heap_create_in(NULL, sizeof buf, 0));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(mm_heap_create_in(NULL, 0, 0));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(mm_heap_create_in(buf, 16, 0));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(mm_heap_create_in(buf, 0, 0));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(mm_heap_create_in(buf, 1, 0));
	ck_assert_int_eq(errno, EINVAL);
	static const unsigned bad[] = {
		MM_SOURCE_BRK, MM_SOURCE_MMAP, MM_SOURCE_BRK | MM_FIT_FIRST,
		MM_SOURCE_MMAP | MM_SOURCE_BRK, MM_FIT_FIRST | MM_FIT_BEST,
		0x80000000u,
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		errno = 0;
		mm_heap_t *h = mm_heap_create_in(buf, sizeof buf, bad[i]);
		ck_assert_msg(h == NULL, "create_in(%#x) = %p", bad[i],
			      (void *)h);
		ck_assert_int_eq(errno, EINVAL);
	}

	/* 4096 bytes make a usable pool */
	mm_heap_t *h = mm_heap_create_in(buf, 4096, 0);
	ck_assert_ptr_nonnull(h);
	void *p = mm_heap_malloc(h, 1000);
	ck_assert_ptr_nonnull(p);
	assert_inside(buf, 4096, p, 1000);
	tu_fill(p, 1000, 5);
	ck_assert(tu_check(p, 1000, 5));
	mm_heap_free(h, p);
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_heap_destroy(h);
}
END_TEST

/* After destroy the buffer is the caller's again: scribble over all of it,
 * and a new pool in the same buffer starts empty. */
START_TEST(test_destroy_and_recreate)
{
	static unsigned char buf[256 * KiB] __attribute__((aligned(16)));
	const size_t len = sizeof buf;
	struct blist l;
	void *p[20];

	blist_init(&l, 256);
	for (int round = 0; round < 3; round++) {
		mm_heap_t *h = mm_heap_create_in(buf, len,
						 fits[round % 3]);
		ck_assert_msg(h != NULL, "round %d: create_in failed", round);
		walk_collect(h, &l);
		ck_assert_uint_eq(count_in_use(&l), 0);
		ck_assert_uint_eq(l.n, 1);
		for (int i = 0; i < 20; i++) {
			p[i] = mm_heap_malloc(h, 100 + (size_t)i * 500);
			ck_assert_ptr_nonnull(p[i]);
			assert_inside(buf, len, p[i], 100 + (size_t)i * 500);
			tu_fill(p[i], 100 + (size_t)i * 500,
				(unsigned)(round * 20 + i));
		}
		for (int i = 0; i < 20; i++)
			ck_assert(tu_check(p[i], 100 + (size_t)i * 500,
					   (unsigned)(round * 20 + i)));
		walk_collect(h, &l);
		ck_assert_uint_eq(count_in_use(&l), 20);
		ck_assert_int_eq(mm_heap_check(h), 0);
		/* destroyed with all 20 blocks still allocated */
		mm_heap_destroy(h);
		memset(buf, 0x5a + round, len);
	}
	blist_fini(&l);
}
END_TEST

START_TEST(test_two_pools)
{
	const size_t len = 256 * KiB;
	unsigned char *b1 = malloc(len), *b2 = malloc(len);
	void *p1[100], *p2[50];
	mm_stats_t s1, s2;

	ck_assert(b1 && b2);
	mm_heap_t *h1 = mm_heap_create_in(b1, len, 0);
	mm_heap_t *h2 = mm_heap_create_in(b2, len, MM_FIT_FIRST);
	ck_assert(h1 && h2);
	ck_assert_ptr_ne(h1, h2);
	for (int i = 0; i < 100; i++) {
		size_t n = 10 + (size_t)i * 13;
		p1[i] = mm_heap_malloc(h1, n);
		ck_assert_ptr_nonnull(p1[i]);
		assert_inside(b1, len, p1[i], n);
		tu_fill(p1[i], n, (unsigned)i);
		if (i < 50) {
			p2[i] = mm_heap_malloc(h2, n);
			ck_assert_ptr_nonnull(p2[i]);
			assert_inside(b2, len, p2[i], n);
			tu_fill(p2[i], n, 1000u + (unsigned)i);
		}
	}
	get_stats(h1, &s1);
	get_stats(h2, &s2);
	ck_assert_uint_eq(s1.in_use_blocks, 100);
	ck_assert_uint_eq(s2.in_use_blocks, 50);
	assert_walk_inside(h1, b1, len);
	assert_walk_inside(h2, b2, len);

	for (int i = 0; i < 100; i++) {
		ck_assert(tu_check(p1[i], 10 + (size_t)i * 13, (unsigned)i));
		mm_heap_free(h1, p1[i]);
	}
	ck_assert_int_eq(mm_heap_check(h1), 0);
	mm_heap_destroy(h1);
	memset(b1, 0xee, len);	/* h2 must not care */

	for (int i = 0; i < 50; i++)
		ck_assert(tu_check(p2[i], 10 + (size_t)i * 13,
				   1000u + (unsigned)i));
	void *q = mm_heap_malloc(h2, 3000);
	ck_assert_ptr_nonnull(q);
	assert_inside(b2, len, q, 3000);
	tu_fill(q, 3000, 77);
	ck_assert(tu_check(q, 3000, 77));
	ck_assert_int_eq(mm_heap_check(h2), 0);
	get_stats(h2, &s2);
	ck_assert_uint_eq(s2.in_use_blocks, 51);
	mm_heap_destroy(h2);
	free(b1);
	free(b2);
}
END_TEST

/* A buffer that starts (and ends) off any alignment. */
START_TEST(test_misaligned_buffer)
{
	static const size_t offs[] = { 1, 7, 8, 15 };
	const size_t raw_len = 256 * KiB + 64;
	unsigned char *raw = malloc(raw_len);
	ck_assert_ptr_nonnull(raw);

	for (size_t k = 0; k < sizeof offs / sizeof offs[0]; k++) {
		unsigned char *buf = raw + offs[k];
		size_t len = 256 * KiB - 3 + offs[k];
		mm_heap_t *h = mm_heap_create_in(buf, len, fits[k % 3]);
		ck_assert_msg(h != NULL, "create_in(buf+%zu) failed", offs[k]);
		void *p[40];
		for (int i = 0; i < 40; i++) {
			size_t n = 1 + (size_t)i * 211;
			p[i] = mm_heap_malloc(h, n);
			ck_assert_ptr_nonnull(p[i]);
			ck_assert_msg(tu_aligned(p[i], 16), "%p misaligned",
				      p[i]);
			assert_inside(buf, len, p[i], n);
			tu_fill(p[i], n, (unsigned)i);
		}
		/* fill to the end: the last bytes are within the buffer */
		void *last;
		while ((last = mm_heap_malloc(h, 512)) != NULL) {
			assert_inside(buf, len, last, 512);
			tu_fill(last, 512, 9);
		}
		ck_assert_int_eq(errno, ENOMEM);
		for (int i = 0; i < 40; i++)
			ck_assert(tu_check(p[i], 1 + (size_t)i * 211,
					   (unsigned)i));
		ck_assert_int_eq(mm_heap_check(h), 0);
		assert_walk_inside(h, buf, len);
		assert_no_os(h, len);
		mm_heap_destroy(h);
	}
	free(raw);
}
END_TEST

/* Every pool size from a little under 1 KiB up works the same way: the
 * control structure shrinks with the pool, and what is left serves blocks. */
START_TEST(test_small_pool_sizes)
{
	static unsigned char buf[8 * KiB] __attribute__((aligned(16)));

	for (size_t len = 1024; len <= sizeof buf; len += 16) {
		mm_heap_t *h = mm_heap_create_in(buf, len, fits[len / 16 % 3]);
		ck_assert_msg(h != NULL, "create_in(%zu bytes) failed", len);
		size_t n = 0;
		void *p;
		while ((p = mm_heap_malloc(h, 24)) != NULL) {
			assert_inside(buf, len, p, 24);
			tu_fill(p, 24, (unsigned)n);
			n++;
		}
		ck_assert_int_eq(errno, ENOMEM);
		ck_assert_msg(n >= 1, "a %zu-byte pool served nothing", len);
		ck_assert_int_eq(mm_heap_check(h), 0);
		mm_heap_destroy(h);
	}
}
END_TEST

static Suite *pool_suite(void)
{
	Suite *s = suite_create("pool");
	TCase *tc;
	const int nfits = (int)(sizeof fits / sizeof fits[0]);

	tc = tcase_create("split-merge");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_fill_then_merge, 0, nfits);
	tcase_add_loop_test(tc, test_oom_keeps_contents, 0, nfits);
	suite_add_tcase(s, tc);

	tc = tcase_create("no-os");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_never_touches_os, 0, nfits);
	tcase_add_loop_test(tc, test_large_from_pool, 0, nfits);
	suite_add_tcase(s, tc);

	tc = tcase_create("api-in-pool");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_pool_calloc, 0, nfits);
	tcase_add_loop_test(tc, test_pool_realloc, 0, nfits);
	tcase_add_loop_test(tc, test_pool_aligned, 0, nfits);
	suite_add_tcase(s, tc);

	tc = tcase_create("create");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_invalid_create);
	tcase_add_test(tc, test_destroy_and_recreate);
	tcase_add_test(tc, test_two_pools);
	tcase_add_test(tc, test_misaligned_buffer);
	tcase_add_test(tc, test_small_pool_sizes);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pool_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
