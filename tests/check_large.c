/*
 * check_large: blocks with a mapping of their own, and the cache that keeps
 * freed mappings for a decay interval (lib/large.c), tested through the
 * test build of the library (lib/libmm-test.la) so that the cache's size
 * can be read.
 *
 * A freed mapping is taken over by the next request it fits, pages and
 * all (no new mapping, no page faults); a smaller request leaves the spare
 * tail kept, or a smaller one grows with its pages; the interval (MM_OPT_DECAY_MS) ends with the mapping
 * unmapped on the next slow path; 0 unmaps at once; mm_trim empties the
 * cache.  Whether an address is mapped is asked of the kernel (mincore).
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libmm.h"
#include "mm_internal.h"
#include "testutil.h"

#define MIB ((size_t)1 << 20)

static int mapped(const void *p)
{
	unsigned char v;
	uintptr_t page = (uintptr_t)p & ~(uintptr_t)(sysconf(_SC_PAGESIZE) - 1);

	if (mincore((void *)page, 1, &v) == 0)
		return 1;
	ck_assert_int_eq(errno, ENOMEM);
	return 0;
}

static long minor_faults(void)
{
	struct rusage ru;

	ck_assert_int_eq(getrusage(RUSAGE_SELF, &ru), 0);
	return ru.ru_minflt;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* A heap whose freed mappings are kept decay_ms, with the cache empty. */
static mm_heap_t *heap_with_decay(size_t decay_ms)
{
	mm_heap_t *h = mm_heap_create(0);

	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(mm_heap_set_option(h, MM_OPT_DECAY_MS, decay_ms), 0);
	mm_trim(0);
	ck_assert_uint_eq(mmi_large_cache_bytes(), 0);
	return h;
}

START_TEST(test_freed_mapping_reused)
{
	mm_heap_t *h = heap_with_decay(60000);
	unsigned char *p = mm_heap_malloc(h, MIB);

	ck_assert_ptr_nonnull(p);
	tu_fill(p, MIB, 1);
	mm_heap_free(h, p);
	ck_assert_uint_ge(mmi_large_cache_bytes(), MIB);
	ck_assert(mapped(p));		/* kept, not unmapped */

	unsigned char *q = mm_heap_malloc(h, MIB);
	ck_assert_ptr_eq(q, p);		/* the same mapping, taken over */
	ck_assert_uint_eq(mmi_large_cache_bytes(), 0);
	long before = minor_faults();
	tu_fill(q, MIB, 2);		/* its pages are there already */
	ck_assert_int_lt(minor_faults() - before, 16);
	ck_assert(tu_check(q, MIB, 2));
	ck_assert_uint_ge(mm_usable_size(q), MIB);
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_heap_free(h, q);
	mm_heap_destroy(h);
	mm_trim(0);
}
END_TEST

/* The smallest kept mapping that fits is taken; its spare tail beyond a
 * granule stays kept, pages and all, for the next request it fits. */
START_TEST(test_smaller_request_keeps_tail)
{
	mm_heap_t *h = heap_with_decay(60000);
	unsigned char *big = mm_heap_malloc(h, 4 * MIB), *mid = mm_heap_malloc(h, 2 * MIB);

	ck_assert(big && mid);
	tu_fill(mid, 2 * MIB, 4);
	mm_heap_free(h, big);
	mm_heap_free(h, mid);
	size_t kept = mmi_large_cache_bytes();
	ck_assert_uint_ge(kept, 6 * MIB);

	unsigned char *p = mm_heap_malloc(h, MIB + 100);
	ck_assert_ptr_eq(p, mid);	/* 2 MiB fits better than 4 */
	ck_assert_uint_ge(mm_usable_size(p), MIB + 100);
	ck_assert_uint_lt(mm_usable_size(p), MIB + 2 * 65536);
	/* only what the block took left the cache: the tail is kept */
	ck_assert_uint_gt(mmi_large_cache_bytes(), kept - MIB - 2 * 65536);
	ck_assert(mapped(mid + 2 * MIB - 4096));
	ck_assert(mapped(big + 4 * MIB - 1));	/* the other stays kept */
	tu_fill(p, MIB + 100, 3);

	/* the tail (under 1 MiB) is the smallest fit for the next request,
	 * and its pages are there: no faults to fill it */
	unsigned char *q = mm_heap_malloc(h, 600 * 1024);
	ck_assert_ptr_nonnull(q);
	ck_assert(q > p + MIB && q < mid + 2 * MIB);
	long before = minor_faults();
	tu_fill(q, 600 * 1024, 5);
	ck_assert_int_lt(minor_faults() - before, 16);
	ck_assert(tu_check(p, MIB + 100, 3));
	ck_assert(tu_check(q, 600 * 1024, 5));
	ck_assert_int_eq(mm_heap_check(h), 0);

	/* freed side by side again, the two pieces of one mapping join into
	 * one kept range that a 2 MiB request takes whole */
	mm_heap_free(h, q);
	mm_heap_free(h, p);
	unsigned char *r = mm_heap_malloc(h, 2 * MIB - 65536);
	ck_assert_ptr_eq(r, mid);
	tu_fill(r, 2 * MIB - 65536, 6);
	ck_assert(tu_check(r, 2 * MIB - 65536, 6));
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_heap_free(h, r);
	mm_heap_destroy(h);
	mm_trim(0);
}
END_TEST

/* Two mappings made apart are never joined in the cache, even side by
 * side: they may be two areas to the kernel, and mremap refuses a range
 * across areas (a realloc of the joined block would fail). */
START_TEST(test_separate_mappings_stay_apart)
{
	/* blocks whose mappings are exactly 1 MiB, a whole number of granules */
	const size_t n = MIB - MMI_REGION_HDR - MMI_HDR;
	mm_heap_t *h = heap_with_decay(60000);
	unsigned char *a = NULL, *b = NULL, *held[16];
	size_t nheld = 0;

	/* two blocks whose mappings touch (the kernel places new mappings
	 * next to each other; hold on to any that do not) */
	a = mm_heap_malloc(h, n);
	ck_assert_ptr_nonnull(a);
	for (;;) {
		b = mm_heap_malloc(h, n);
		ck_assert_ptr_nonnull(b);
		if (b + MIB == a || a + MIB == b)
			break;
		ck_assert_uint_lt(nheld, 16);
		held[nheld++] = a;
		a = b;
	}
	mm_heap_free(h, a);
	mm_heap_free(h, b);
	ck_assert_uint_eq(mmi_large_cache_bytes(), 2 * MIB);

	/* a request only the two together would fit takes one of them and
	 * grows it; the other stays kept */
	unsigned char *c = mm_heap_malloc(h, 2 * MIB - 65536);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(mmi_large_cache_bytes(), MIB);
	tu_fill(c, 2 * MIB - 65536, 7);
	unsigned char *d = mm_heap_realloc(h, c, 3 * MIB);
	ck_assert_ptr_nonnull(d);
	ck_assert(tu_check(d, 2 * MIB - 65536, 7));
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_heap_free(h, d);
	while (nheld)
		mm_heap_free(h, held[--nheld]);
	mm_heap_destroy(h);
	mm_trim(0);
}
END_TEST

/* No kept mapping is big enough: the largest grows, its pages kept. */
START_TEST(test_kept_mapping_grows)
{
	mm_heap_t *h = heap_with_decay(60000);
	unsigned char *p = mm_heap_malloc(h, MIB);

	ck_assert_ptr_nonnull(p);
	tu_fill(p, MIB, 4);
	mm_heap_free(h, p);
	unsigned char *q = mm_heap_malloc(h, 3 * MIB);
	ck_assert_ptr_nonnull(q);
	ck_assert_uint_eq(mmi_large_cache_bytes(), 0);	/* taken, grown */
	ck_assert_uint_eq((uintptr_t)q & (MMI_GRANULE - 1), MMI_REGION_HDR + MMI_HDR);
	/* the old pages came along, contents and all (where the mapping went
	 * need not be where it was; a sanitizer's shadow of it may fault) */
	ck_assert(tu_check(q, MIB, 4));
	tu_fill(q, 3 * MIB, 6);
	ck_assert(tu_check(q, 3 * MIB, 6));
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_heap_free(h, q);
	mm_heap_destroy(h);
	mm_trim(0);
}
END_TEST

/* Past the interval, the next slow path unmaps what was kept. */
START_TEST(test_decay_unmaps)
{
	mm_heap_t *h = heap_with_decay(50);
	unsigned char *p = mm_heap_malloc(h, MIB);

	ck_assert_ptr_nonnull(p);
	memset(p, 1, MIB);
	mm_heap_free(h, p);
	ck_assert(mapped(p));
	sleep_ms(150);
	ck_assert(mapped(p));		/* nothing runs in the background */
	void *m = mm_heap_malloc(h, 20000);	/* a medium block: a slow path */
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(mmi_large_cache_bytes(), 0);
	ck_assert(!mapped(p));
	mm_heap_free(h, m);
	mm_heap_destroy(h);
}
END_TEST

START_TEST(test_decay_zero_unmaps_at_once)
{
	mm_heap_t *h = heap_with_decay(0);
	unsigned char *p = mm_heap_malloc(h, MIB);

	ck_assert_ptr_nonnull(p);
	mm_heap_free(h, p);
	ck_assert_uint_eq(mmi_large_cache_bytes(), 0);
	ck_assert(!mapped(p));
	mm_heap_destroy(h);
}
END_TEST

START_TEST(test_trim_empties_cache)
{
	mm_heap_t *h = heap_with_decay(60000);
	void *a = mm_heap_malloc(h, MIB), *b = mm_heap_malloc(h, 3 * MIB);

	ck_assert(a && b);
	mm_heap_free(h, a);
	mm_heap_free(h, b);
	ck_assert_uint_ge(mmi_large_cache_bytes(), 4 * MIB);
	ck_assert_int_eq(mm_trim(0), 1);
	ck_assert_uint_eq(mmi_large_cache_bytes(), 0);
	ck_assert(!mapped(a) && !mapped(b));
	mm_heap_destroy(h);
}
END_TEST

/* The cache is bounded: freeing more than it holds unmaps the oldest. */
START_TEST(test_cache_bounded)
{
	mm_heap_t *h = heap_with_decay(60000);
	enum { N = 40 };
	void *v[N];

	for (int i = 0; i < N; i++)
		ck_assert_ptr_nonnull(v[i] = mm_heap_malloc(h, 8 * MIB));
	for (int i = 0; i < N; i++)
		mm_heap_free(h, v[i]);
	ck_assert_uint_le(mmi_large_cache_bytes(), 128 * MIB);
	ck_assert_uint_ge(mmi_large_cache_bytes(), 64 * MIB);
	ck_assert(mapped(v[N - 1]));	/* the newest is kept */
	mm_trim(0);
	mm_heap_destroy(h);
}
END_TEST

/* Under an address-space limit, mappings kept for reuse give way to a new
 * region or segment the kernel would otherwise refuse (in a child: the
 * limit stays there). */
static void limited_child(void)
{
	enum { N = 12 };
	mm_heap_t *h = heap_with_decay(60000);
	void *v[N];
	struct rlimit rl;
	unsigned long vsize = 0, rss;
	FILE *f;

	for (int i = 0; i < N; i++)
		if (!(v[i] = mm_heap_malloc(h, 8 * MIB)))
			_exit(2);
	for (int i = 0; i < N; i++)
		mm_heap_free(h, v[i]);
	if (mmi_large_cache_bytes() < 64 * MIB)
		_exit(3);
	f = fopen("/proc/self/statm", "r");
	if (!f || fscanf(f, "%lu %lu", &vsize, &rss) != 2)
		_exit(4);
	fclose(f);
	rl.rlim_cur = rl.rlim_max = vsize * (unsigned long)sysconf(_SC_PAGESIZE) + 4 * MIB;
	if (setrlimit(RLIMIT_AS, &rl) != 0)
		_exit(5);
	/* a new 4 MiB segment (mapped 8 MiB to align it) for small blocks of
	 * a new heap, and new regions for medium blocks */
	mm_heap_t *h2 = mm_heap_create(0);
	if (!h2)
		_exit(6);
	void *small = mm_heap_malloc(h2, 64), *medium[20];
	if (!small)
		_exit(7);
	if (!mmi_segmap_has((uintptr_t)small))
		_exit(10);	/* served, but not from a segment of its own */
	for (int i = 0; i < 20; i++)
		if (!(medium[i] = mm_heap_malloc(h2, 100000)))
			_exit(8);
	if (mmi_large_cache_bytes() != 0 || mm_heap_check(h2) != 0)
		_exit(9);
	_exit(0);
}

START_TEST(test_cache_gives_way_under_limit)
{
	int status;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		limited_child();
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		"the child failed at step %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	mm_trim(0);
}
END_TEST

/* Options: MM_OPT_DECAY_MS is accepted on every kind of heap. */
START_TEST(test_decay_option)
{
	static _Alignas(16) unsigned char buf[64 * 1024];
	mm_heap_t *pool = mm_heap_create_in(buf, sizeof buf, 0);

	ck_assert_ptr_nonnull(pool);
	ck_assert_int_eq(mm_heap_set_option(NULL, MM_OPT_DECAY_MS, 1000), 0);
	ck_assert_int_eq(mm_heap_set_option(pool, MM_OPT_DECAY_MS, 0), 0);
	ck_assert_int_eq(mm_heap_set_option(NULL, 99, 0), -1);
	ck_assert_int_eq(errno, EINVAL);
	mm_heap_destroy(pool);
}
END_TEST

static Suite *large_suite(void)
{
	Suite *s = suite_create("large");
	TCase *tc = tcase_create("cache");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_freed_mapping_reused);
	tcase_add_test(tc, test_smaller_request_keeps_tail);
	tcase_add_test(tc, test_separate_mappings_stay_apart);
	tcase_add_test(tc, test_kept_mapping_grows);
	tcase_add_test(tc, test_decay_unmaps);
	tcase_add_test(tc, test_decay_zero_unmaps_at_once);
	tcase_add_test(tc, test_trim_empties_cache);
	tcase_add_test(tc, test_cache_bounded);
	tcase_add_test(tc, test_decay_option);
	tcase_add_test(tc, test_cache_gives_way_under_limit);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(large_suite());

	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
