/*
 * check_pagemap: the map from any address to the region owning it, read
 * without a lock by every free, realloc and malloc_usable_size.
 *
 * White-box: this suite links the test build of the library
 * (lib/libmm-test.la, -DMMI_TEST_HOOKS) and calls the pagemap directly.
 * Its hooks stop a writer between two entries of a region that is growing
 * -- where a lock-free reader of db23739's region table could find a live
 * region missing -- and make the pagemap refuse new spans, so that every
 * path that maps memory must unwind and fail with ENOMEM.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libmm.h"
#include "mm_internal.h"
#include "testutil.h"

#define KIB ((size_t)1024)
#define MIB (KIB * KIB)

static int global_int;

/* --- any address, never a fault ------------------------------------------ */

START_TEST(test_any_address)
{
	int local = 0;
	void *libc_block = malloc(100);	/* glibc's, not libmm's */
	const uintptr_t addrs[] = {
		0, 1, 4096, (uintptr_t)&local, (uintptr_t)&global_int,
		(uintptr_t)libc_block, (uintptr_t)test_any_address,
		((uintptr_t)1 << 47) - 1, (uintptr_t)1 << 47, (uintptr_t)1 << 63,
		0xffff800000000000ull, 0xffffffffff600000ull, UINTPTR_MAX,
		0x0000555555554000ull, 0x00007ffff7a00000ull,
	};

	for (size_t i = 0; i < sizeof addrs / sizeof addrs[0]; i++) {
		ck_assert_msg(mmi_pagemap_find(addrs[i]) == NULL,
			"pagemap claims %#lx", (unsigned long)addrs[i]);
		ck_assert_ptr_null(mmi_region_of(addrs[i]));
	}
	free(libc_block);
}
END_TEST

/* Every byte of a live block, and of its region, maps to the region. */
START_TEST(test_blocks_map_to_their_region)
{
	mm_heap_t *h = mm_heap_create(0);
	const size_t sizes[] = { 1, 100, 5000, 100 * KIB, 300 * KIB, 5 * MIB };

	ck_assert_ptr_nonnull(h);
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		unsigned char *p = mm_heap_malloc(h, sizes[i]);
		ck_assert_ptr_nonnull(p);
		struct mmi_region *r = mmi_region_of((uintptr_t)p);
		ck_assert_ptr_nonnull(r);
		ck_assert_ptr_eq(r->heap, h);
		ck_assert_uint_eq(r->start & (MMI_GRANULE - 1), 0);
		for (size_t off = 0; off < sizes[i]; off += 4093)
			ck_assert_ptr_eq(mmi_region_of((uintptr_t)p + off), r);
		ck_assert_ptr_eq(mmi_region_of((uintptr_t)p + sizes[i] - 1), r);
		ck_assert_ptr_eq(mmi_pagemap_find(r->start), r);
		ck_assert_ptr_eq(mmi_pagemap_find(r->end - 1), r);
		/* past the end of the region, in its last granule: not r's */
		if ((r->end & (MMI_GRANULE - 1)) != 0)
			ck_assert_ptr_null(mmi_region_of(r->end));
		if (sizes[i] >= 128 * KIB) {
			uintptr_t start = r->start, end = r->end;
			mm_heap_free(h, p);
			/* a large block's mapping is gone, and so are its entries */
			ck_assert_ptr_null(mmi_pagemap_find(start));
			ck_assert_ptr_null(mmi_pagemap_find(end - 1));
		}
	}
	mm_heap_destroy(h);
}
END_TEST

/* Entries set and cleared directly, in a GiB nothing else uses. */
START_TEST(test_set_and_clear)
{
	const uintptr_t base = (uintptr_t)0x6ff0 << 32;	/* far from the heap and mmap areas */
	struct mmi_region fake = { .start = base, .end = base + 3 * MMI_GRANULE + 4096 };

	ck_assert_ptr_null(mmi_pagemap_find(base));
	ck_assert_int_eq(mmi_pagemap_reserve(fake.start, fake.end), 0);
	ck_assert_ptr_null(mmi_pagemap_find(base));
	mmi_pagemap_set(fake.start, fake.end, &fake);
	ck_assert_ptr_eq(mmi_pagemap_find(base), &fake);
	ck_assert_ptr_eq(mmi_pagemap_find(fake.end - 1), &fake);
	/* the rest of the last granule maps too, but is outside the span */
	ck_assert_ptr_eq(mmi_pagemap_find(fake.end), &fake);
	ck_assert_ptr_null(mmi_region_of(fake.end));
	ck_assert_ptr_null(mmi_pagemap_find(base + 4 * MMI_GRANULE));
	ck_assert_ptr_null(mmi_pagemap_find(base - 1));
	/* shrink by two granules, grow by one */
	mmi_pagemap_resize(&fake, fake.end, base + MMI_GRANULE + 16);
	fake.end = base + MMI_GRANULE + 16;
	ck_assert_ptr_eq(mmi_pagemap_find(base + MMI_GRANULE), &fake);
	ck_assert_ptr_null(mmi_pagemap_find(base + 2 * MMI_GRANULE));
	mmi_pagemap_resize(&fake, fake.end, base + 3 * MMI_GRANULE);
	fake.end = base + 3 * MMI_GRANULE;
	ck_assert_ptr_eq(mmi_pagemap_find(base + 2 * MMI_GRANULE), &fake);
	ck_assert_ptr_null(mmi_pagemap_find(base + 3 * MMI_GRANULE));
	mmi_pagemap_set(fake.start, fake.end, NULL);
	for (uintptr_t a = base; a < base + 4 * MMI_GRANULE; a += 4096)
		ck_assert_ptr_null(mmi_pagemap_find(a));
	/* a span past the user address space is refused */
	ck_assert_int_eq(mmi_pagemap_reserve(((uintptr_t)1 << 47) - 4096,
					     ((uintptr_t)1 << 47) + 4096), -1);
}
END_TEST

/* --- a writer stopped between two entries --------------------------------- */

static atomic_int hook_armed;
static atomic_uint hook_calls;

static void slow_writer(void)
{
	if (!atomic_load(&hook_armed))
		return;
	atomic_fetch_add(&hook_calls, 1);
	struct timespec ts = { 0, 1000 * 1000 };	/* 1 ms */
	nanosleep(&ts, NULL);
}

struct reader {
	void *p;
	size_t usable;
	atomic_int stop;
	atomic_ulong lookups, wrong;
};

static void *read_loop(void *arg)
{
	struct reader *r = arg;

	while (!atomic_load(&r->stop)) {
		if (mm_usable_size(r->p) != r->usable)
			atomic_fetch_add(&r->wrong, 1);
		atomic_fetch_add(&r->lookups, 1);
	}
	return NULL;
}

/*
 * A break heap grows and shrinks (its region gains and loses granules)
 * while another thread asks for the usable size of a live block in that
 * region.  Every change of an entry stops for 1 ms: the reader must never
 * miss the region (libmm: fatal: invalid pointer, as the two-step move of
 * db23739's region table did).
 */
START_TEST(test_growth_never_hides_live_blocks)
{
	mm_heap_t *h = mm_heap_create(MM_SOURCE_BRK);
	struct reader r = { 0 };
	pthread_t t;

	ck_assert_ptr_nonnull(h);
	/* no mappings of their own: big blocks grow the heap's region */
	ck_assert_int_eq(mm_heap_set_option(h, MM_OPT_MMAP_THRESHOLD, 0), 0);
	r.p = mm_heap_malloc(h, 48);
	ck_assert_ptr_nonnull(r.p);
	r.usable = mm_usable_size(r.p);
	struct mmi_region *home = mmi_region_of((uintptr_t)r.p);
	ck_assert_ptr_nonnull(home);

	mmi_test.pagemap_set = slow_writer;
	atomic_store(&hook_calls, 0);
	ck_assert_int_eq(pthread_create(&t, NULL, read_loop, &r), 0);
	/* the reader is at work before the first change: on a loaded
	 * machine it could otherwise start after the last one */
	while (atomic_load(&r.lookups) == 0)
		sched_yield();
	atomic_store(&hook_armed, 1);
	for (int i = 0; i < 10; i++) {
		void *big = mm_heap_malloc(h, MIB);
		ck_assert_ptr_nonnull(big);
		tu_fill(big, 4096, (unsigned)i);
		ck_assert(tu_check(big, 4096, (unsigned)i));
		mm_heap_free(h, big);
	}
	atomic_store(&hook_armed, 0);
	atomic_store(&r.stop, 1);
	pthread_join(t, NULL);
	mmi_test.pagemap_set = NULL;

	ck_assert_uint_eq(atomic_load(&r.wrong), 0);
	ck_assert_uint_gt(atomic_load(&r.lookups), 0);
	ck_assert_uint_gt(atomic_load(&hook_calls), 0);
	ck_assert_ptr_eq(mmi_region_of((uintptr_t)r.p), home);
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_heap_free(h, r.p);
	mm_heap_destroy(h);
}
END_TEST

/* Threads map and unmap large blocks (entries set and cleared all the
 * time) while each checks that its own live blocks stay found. */
static void *map_unmap_loop(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	void *keep[8];
	long bad = 0;

	for (int i = 0; i < 8; i++) {
		keep[i] = mm_malloc(200 * KIB);
		if (!keep[i])
			return (void *)1;
		tu_fill(keep[i], 64, seed + (unsigned)i);
	}
	for (int round = 0; round < 300; round++) {
		void *tmp = mm_malloc((size_t)(130 + round % 7 * 50) * KIB);
		if (!tmp)
			return (void *)1;
		for (int i = 0; i < 8; i++)
			if (!mmi_region_of((uintptr_t)keep[i]) ||
			    mm_usable_size(keep[i]) < 200 * KIB)
				bad++;
		mm_free(tmp);
	}
	for (int i = 0; i < 8; i++) {
		if (!tu_check(keep[i], 64, seed + (unsigned)i))
			bad++;
		mm_free(keep[i]);
	}
	return (void *)bad;
}

START_TEST(test_concurrent_map_unmap)
{
	pthread_t t[4];

	for (uintptr_t i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, map_unmap_loop, (void *)(i * 100)), 0);
	for (int i = 0; i < 4; i++) {
		void *ret;
		pthread_join(t[i], &ret);
		ck_assert_ptr_null(ret);
	}
	ck_assert_int_eq(mm_heap_check(NULL), 0);
}
END_TEST

/* --- the pagemap refuses: ENOMEM, nothing committed ----------------------- */

START_TEST(test_refused_span_is_enomem)
{
	mm_heap_t *mm = mm_heap_create(0), *brk = mm_heap_create(MM_SOURCE_BRK);
	void *live = mm_heap_malloc(brk, 100);
	void *big;

	ck_assert_ptr_nonnull(mm);
	ck_assert_ptr_nonnull(brk);
	ck_assert_ptr_nonnull(live);
	tu_fill(live, 100, 7);
	mm_stats_t before;
	ck_assert_int_eq(mm_heap_stats(brk, &before, sizeof before), 0);

	__atomic_store_n(&mmi_test.fail_pagemap_reserve, 1, __ATOMIC_RELAXED);
	errno = 0;
	ck_assert_ptr_null(mm_heap_malloc(mm, 100));	/* a first arena */
	ck_assert_int_eq(errno, ENOMEM);
	errno = 0;
	ck_assert_ptr_null(mm_heap_malloc(mm, 2 * MIB));	/* a large block */
	ck_assert_int_eq(errno, ENOMEM);
	errno = 0;
	ck_assert_ptr_null(mm_heap_malloc(brk, 8 * MIB));	/* the break must grow */
	ck_assert_int_eq(errno, ENOMEM);
	void *q = mm_heap_malloc(brk, 200 * KIB);	/* a large block to remap */
	ck_assert_ptr_null(q);
	__atomic_store_n(&mmi_test.fail_pagemap_reserve, 0, __ATOMIC_RELAXED);

	mm_stats_t after;
	ck_assert_int_eq(mm_heap_stats(brk, &after, sizeof after), 0);
	ck_assert_uint_eq(after.os_bytes, before.os_bytes);
	ck_assert_uint_eq(after.in_use_blocks, before.in_use_blocks);
	ck_assert_int_eq(mm_heap_check(mm), 0);
	ck_assert_int_eq(mm_heap_check(brk), 0);
	ck_assert(tu_check(live, 100, 7));

	/* a large block that cannot move keeps its contents */
	big = mm_heap_malloc(mm, 300 * KIB);
	ck_assert_ptr_nonnull(big);
	tu_fill(big, 300 * KIB, 9);
	__atomic_store_n(&mmi_test.fail_pagemap_reserve, 1, __ATOMIC_RELAXED);
	errno = 0;
	void *moved = mm_heap_realloc(mm, big, 64 * MIB);
	int err = errno;
	__atomic_store_n(&mmi_test.fail_pagemap_reserve, 0, __ATOMIC_RELAXED);
	ck_assert_ptr_null(moved);
	ck_assert_int_eq(err, ENOMEM);
	ck_assert(tu_check(big, 300 * KIB, 9));
	ck_assert_int_eq(mm_heap_check(mm), 0);

	/* and everything works again */
	moved = mm_heap_realloc(mm, big, 64 * MIB);
	ck_assert_ptr_nonnull(moved);
	ck_assert(tu_check(moved, 300 * KIB, 9));
	mm_heap_free(mm, moved);
	void *p = mm_heap_malloc(brk, 8 * MIB);
	ck_assert_ptr_nonnull(p);
	mm_heap_free(brk, p);
	ck_assert_int_eq(mm_heap_check(brk), 0);
	mm_heap_free(brk, live);
	mm_heap_destroy(brk);
	mm_heap_destroy(mm);
}
END_TEST

static Suite *pagemap_suite(void)
{
	Suite *s = suite_create("pagemap");
	TCase *tc = tcase_create("lookups");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_any_address);
	tcase_add_test(tc, test_blocks_map_to_their_region);
	tcase_add_test(tc, test_set_and_clear);
	suite_add_tcase(s, tc);

	tc = tcase_create("readers and writers");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_growth_never_hides_live_blocks);
	tcase_add_test(tc, test_concurrent_map_unmap);
	tcase_add_test(tc, test_refused_span_is_enomem);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pagemap_suite());

	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
