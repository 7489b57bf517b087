/*
 * check_trim: memory goes back to the operating system.
 *
 * Measured with the resident set size (tu_rss_bytes), which is noisy: every
 * bound here is generous ("fell by at least half of what was allocated"),
 * and each test first asserts that the allocation really did raise the RSS,
 * so a bound cannot pass just because nothing was measured.  Every block is
 * filled with its own pattern, which touches every page and is read back
 * before it is freed (and, for blocks that survive a trim, after it).
 *
 * Assertions are made once per phase, never once per block: a passing
 * ck_assert costs Check a write to its result channel.
 */
#define _GNU_SOURCE
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libmm.h"
#include "testutil.h"

#define MIB ((size_t)1 << 20)
#define SMALL 4096		/* below the mmap threshold */
#define TOTAL (64 * MIB)	/* allocated by each small-block test */
#define NSMALL (TOTAL / SMALL)
#define RUN 64			/* fragmentation: blocks freed per run ... */
#define KEEP_EVERY (RUN + 1)	/* ... then one block kept alive */

static void *blocks[NSMALL];

static mm_stats_t stats_of(mm_heap_t *h)
{
	mm_stats_t st;

	memset(&st, 0, sizeof st);
	ck_assert_int_eq(mm_heap_stats(h, &st, sizeof st), 0);
	return st;
}

/* RSS difference a - b in bytes, 0 when b >= a. */
static size_t rss_drop(size_t a, size_t b)
{
	return a > b ? a - b : 0;
}

/*
 * Allocate n blocks of size bytes from h (NULL: the default heap through
 * mm_malloc) and fill block i with pattern seed+i.  Returns how many of them
 * failed (NULL or misaligned); the failed slots are NULL.
 */
static size_t alloc_fill(mm_heap_t *h, void **v, size_t n, size_t size,
	unsigned seed)
{
	size_t bad = 0;

	for (size_t i = 0; i < n; i++) {
		v[i] = h ? mm_heap_malloc(h, size) : mm_malloc(size);
		if (v[i] == NULL || !tu_aligned(v[i], 16)) {
			bad++;
			continue;
		}
		tu_fill(v[i], size, seed + (unsigned)i);
	}
	return bad;
}

/* How many of the non-NULL blocks lost their pattern. */
static size_t count_damaged(void **v, size_t n, size_t size, unsigned seed)
{
	size_t bad = 0;

	for (size_t i = 0; i < n; i++)
		if (v[i] && !tu_check(v[i], size, seed + (unsigned)i))
			bad++;
	return bad;
}

static void release(mm_heap_t *h, void **v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (h)
			mm_heap_free(h, v[i]);
		else
			mm_free(v[i]);
		v[i] = NULL;
	}
}

/* Assert that filling `allocated` bytes really raised the RSS. */
static void assert_rss_rose(size_t before, size_t after, size_t allocated)
{
	ck_assert_msg(after > before && after - before >= allocated / 4 * 3,
		"RSS rose by only %zu KiB after touching %zu KiB",
		rss_drop(after, before) >> 10, allocated >> 10);
}

/*
 * (1a) A heap of its own, destroyed with every block still live: all of its
 * memory goes back at once.
 */
START_TEST(test_destroy_returns_memory)
{
	size_t rss0 = tu_rss_bytes();
	mm_heap_t *h = mm_heap_create(0);

	ck_assert_ptr_nonnull(h);
	ck_assert_uint_eq(alloc_fill(h, blocks, NSMALL, SMALL, 11), 0);
	size_t peak = tu_rss_bytes();
	assert_rss_rose(rss0, peak, TOTAL);

	mm_stats_t st = stats_of(h);
	ck_assert_uint_ge(st.os_bytes, TOTAL);
	ck_assert_uint_eq(st.in_use_blocks, NSMALL);
	ck_assert_uint_ge(st.in_use_bytes, TOTAL);
	ck_assert_uint_eq(count_damaged(blocks, NSMALL, SMALL, 11), 0);
	ck_assert_int_eq(mm_heap_check(h), 0);

	mm_heap_destroy(h);
	memset(blocks, 0, sizeof blocks);
	size_t after = tu_rss_bytes();
	ck_assert_msg(rss_drop(peak, after) >= TOTAL / 4 * 3,
		"RSS fell by only %zu KiB of %zu KiB on destroy",
		rss_drop(peak, after) >> 10, TOTAL >> 10);
	ck_assert_msg(after <= rss0 + TOTAL / 4,
		"RSS %zu KiB after destroy, %zu KiB before the heap existed",
		after >> 10, rss0 >> 10);
}
END_TEST

/*
 * (1b) The same heap emptied block by block and trimmed: its os_bytes falls
 * and the RSS with it; it is still usable afterwards.
 */
START_TEST(test_heap_free_all_trim)
{
	size_t rss0 = tu_rss_bytes();
	mm_heap_t *h = mm_heap_create(0);

	ck_assert_ptr_nonnull(h);
	ck_assert_uint_eq(alloc_fill(h, blocks, NSMALL, SMALL, 23), 0);
	size_t peak = tu_rss_bytes();
	assert_rss_rose(rss0, peak, TOTAL);
	mm_stats_t full = stats_of(h);
	ck_assert_uint_ge(full.os_bytes, TOTAL);

	ck_assert_uint_eq(count_damaged(blocks, NSMALL, SMALL, 23), 0);
	release(h, blocks, NSMALL);
	size_t freed = tu_rss_bytes();
	int r = mm_trim(0);
	size_t trimmed = tu_rss_bytes();

	ck_assert_msg(r == 0 || r == 1, "mm_trim returned %d", r);
	ck_assert_msg(rss_drop(peak, trimmed) >= TOTAL / 2,
		"RSS fell by only %zu KiB of %zu KiB after free + trim",
		rss_drop(peak, trimmed) >> 10, TOTAL >> 10);
	/* Either trim released it, or the frees already had. */
	ck_assert_msg(r == 1 || rss_drop(peak, freed) >= TOTAL / 2,
		"mm_trim returned 0 but the RSS only fell during it");

	mm_stats_t st = stats_of(h);
	ck_assert_uint_eq(st.in_use_blocks, 0);
	ck_assert_msg(st.os_bytes < full.os_bytes,
		"os_bytes %zu after free + trim, %zu when full",
		st.os_bytes, full.os_bytes);
	ck_assert_int_eq(mm_heap_check(h), 0);

	/* Trimmed memory is still good memory. */
	ck_assert_uint_eq(alloc_fill(h, blocks, 1024, SMALL, 29), 0);
	ck_assert_uint_eq(count_damaged(blocks, 1024, SMALL, 29), 0);
	ck_assert_int_eq(mm_heap_check(h), 0);
	release(h, blocks, 1024);
	mm_heap_destroy(h);
}
END_TEST

/*
 * (2) The default heap, small blocks: freed, then mm_trim(0) gives the
 * memory back; a second trim has nothing (much) left to give.
 */
START_TEST(test_default_heap_trim)
{
	size_t rss0 = tu_rss_bytes();
	mm_stats_t base = stats_of(NULL);

	ck_assert_uint_eq(alloc_fill(NULL, blocks, NSMALL, SMALL, 37), 0);
	size_t peak = tu_rss_bytes();
	assert_rss_rose(rss0, peak, TOTAL);
	mm_stats_t full = stats_of(NULL);
	ck_assert_uint_ge(full.os_bytes, TOTAL);
	ck_assert_uint_eq(full.in_use_blocks, base.in_use_blocks + NSMALL);

	ck_assert_uint_eq(count_damaged(blocks, NSMALL, SMALL, 37), 0);
	release(NULL, blocks, NSMALL);
	size_t freed = tu_rss_bytes();
	int r = mm_trim(0);
	size_t trimmed = tu_rss_bytes();

	ck_assert_msg(r == 0 || r == 1, "mm_trim returned %d", r);
	ck_assert_msg(rss_drop(peak, trimmed) >= TOTAL / 2,
		"RSS fell by only %zu KiB of %zu KiB after free + trim",
		rss_drop(peak, trimmed) >> 10, TOTAL >> 10);
	ck_assert_msg(r == 1 || rss_drop(peak, freed) >= TOTAL / 2,
		"mm_trim returned 0 but the RSS only fell during it");

	int r2 = mm_trim(0);
	ck_assert_msg(r2 == 0 || r2 == 1, "second mm_trim returned %d", r2);

	mm_stats_t st = stats_of(NULL);
	ck_assert_uint_eq(st.in_use_blocks, base.in_use_blocks);
	ck_assert_msg(st.os_bytes < full.os_bytes,
		"os_bytes %zu after free + trim, %zu when full",
		st.os_bytes, full.os_bytes);
	ck_assert_int_eq(mm_heap_check(NULL), 0);

	ck_assert_uint_eq(alloc_fill(NULL, blocks, 1024, SMALL, 41), 0);
	ck_assert_uint_eq(count_damaged(blocks, 1024, SMALL, 41), 0);
	release(NULL, blocks, 1024);
	ck_assert_int_eq(mm_heap_check(NULL), 0);
}
END_TEST

/*
 * (3) Blocks above the mmap threshold have their own mapping and go back on
 * free, without a trim.  Loop index: 0 default heap, 8 MiB blocks; 1 default
 * heap, 256 KiB blocks; 2 a heap of its own, 8 MiB blocks.
 */
#define NLARGE_MAX 192
static void *large[NLARGE_MAX];

START_TEST(test_large_blocks_unmapped)
{
	/* freed mappings are kept for the heap's decay interval, then
	 * unmapped; mm_trim unmaps them at once, and so does freeing with
	 * MM_OPT_DECAY_MS 0 */
	static const struct {
		int own_heap, decay0;
		size_t size, n;
	} cases[] = {
		{ 0, 0, 8 * MIB, 6 },
		{ 0, 0, 256 * 1024, 192 },
		{ 1, 0, 8 * MIB, 6 },
		{ 1, 1, 8 * MIB, 6 },
	};
	size_t size = cases[_i].size, n = cases[_i].n, total = size * n;
	mm_heap_t *h = cases[_i].own_heap ? mm_heap_create(0) : NULL;

	if (cases[_i].own_heap)
		ck_assert_ptr_nonnull(h);
	if (cases[_i].decay0)
		ck_assert_int_eq(mm_heap_set_option(h, MM_OPT_DECAY_MS, 0), 0);
	size_t rss0 = tu_rss_bytes();
	mm_stats_t base = stats_of(h);

	ck_assert_uint_eq(alloc_fill(h, large, n, size, 53), 0);
	size_t peak = tu_rss_bytes();
	assert_rss_rose(rss0, peak, total);

	mm_stats_t st = stats_of(h);
	ck_assert_uint_eq(st.mapped_blocks, base.mapped_blocks + n);
	ck_assert_uint_ge(st.mapped_bytes, base.mapped_bytes + total);
	ck_assert_uint_ge(st.os_bytes, base.os_bytes + total);
	for (size_t i = 0; i + 1 < n; i++)
		if (!tu_disjoint(large[i], size, large[i + 1], size))
			ck_abort_msg("large blocks %zu and %zu overlap", i, i + 1);
	ck_assert_uint_eq(count_damaged(large, n, size, 53), 0);

	release(h, large, n);
	if (!cases[_i].decay0)
		mm_trim(0);
	size_t after = tu_rss_bytes();
	ck_assert_msg(rss_drop(peak, after) >= total / 4 * 3,
		"RSS fell by only %zu KiB of %zu KiB freeing large blocks",
		rss_drop(peak, after) >> 10, total >> 10);

	st = stats_of(h);
	ck_assert_uint_eq(st.mapped_blocks, base.mapped_blocks);
	ck_assert_uint_eq(st.mapped_bytes, base.mapped_bytes);
	ck_assert_msg(st.os_bytes <= base.os_bytes + total / 8,
		"os_bytes %zu after freeing, %zu before allocating",
		st.os_bytes, base.os_bytes);
	if (h) {
		ck_assert_uint_eq(st.mapped_blocks, 0);
		ck_assert_uint_eq(st.in_use_blocks, 0);
	}
	ck_assert_int_eq(mm_heap_check(h), 0);
	if (h)
		mm_heap_destroy(h);
}
END_TEST

/*
 * (4) Fragmentation: runs of RUN consecutive blocks freed, one block kept
 * live between runs.  The freed runs merge into spans of many pages, which
 * mm_trim(0) hands back (MADV_DONTNEED) without touching the live blocks.
 * The trimmed spans are then allocated again and must behave as memory.
 */
START_TEST(test_fragmented_trim)
{
	size_t rss0 = tu_rss_bytes();
	mm_stats_t base = stats_of(NULL);

	ck_assert_uint_eq(alloc_fill(NULL, blocks, NSMALL, SMALL, 61), 0);
	size_t peak = tu_rss_bytes();
	assert_rss_rose(rss0, peak, TOTAL);
	ck_assert_uint_eq(count_damaged(blocks, NSMALL, SMALL, 61), 0);

	size_t nfreed = 0, nlive = 0;
	for (size_t i = 0; i < NSMALL; i++) {
		if (i % KEEP_EVERY == RUN) {
			nlive++;
			continue;
		}
		mm_free(blocks[i]);
		blocks[i] = NULL;
		nfreed++;
	}
	size_t freed_bytes = nfreed * SMALL;
	size_t freed = tu_rss_bytes();
	int r = mm_trim(0);
	size_t trimmed = tu_rss_bytes();

	ck_assert_msg(r == 0 || r == 1, "mm_trim returned %d", r);
	ck_assert_msg(rss_drop(peak, trimmed) >= freed_bytes / 2,
		"RSS fell by only %zu KiB after freeing %zu KiB in runs and "
		"trimming", rss_drop(peak, trimmed) >> 10, freed_bytes >> 10);
	ck_assert_msg(r == 1 || rss_drop(peak, freed) >= freed_bytes / 2,
		"mm_trim returned 0 but the RSS only fell during it");

	/* The live blocks between the runs survived the trim. */
	ck_assert_uint_eq(count_damaged(blocks, NSMALL, SMALL, 61), 0);
	mm_stats_t st = stats_of(NULL);
	ck_assert_uint_eq(st.in_use_blocks, base.in_use_blocks + nlive);
	ck_assert_int_eq(mm_heap_check(NULL), 0);

	/* Allocate into the trimmed holes: new contents, old ones intact. */
	static void *again[NSMALL / 2];
	size_t nagain = NSMALL / 2;
	ck_assert_uint_eq(alloc_fill(NULL, again, nagain, SMALL, 67), 0);
	for (size_t i = 0; i < nagain; i += 97)
		for (size_t j = RUN; j < NSMALL; j += KEEP_EVERY)
			if (!tu_disjoint(again[i], SMALL, blocks[j], SMALL))
				ck_abort_msg("new block %zu overlaps live %zu",
					i, j);
	ck_assert_uint_eq(count_damaged(again, nagain, SMALL, 67), 0);
	ck_assert_uint_eq(count_damaged(blocks, NSMALL, SMALL, 61), 0);
	ck_assert_int_eq(mm_heap_check(NULL), 0);

	release(NULL, again, nagain);
	for (size_t i = RUN; i < NSMALL; i += KEEP_EVERY) {
		mm_free(blocks[i]);
		blocks[i] = NULL;
	}
	st = stats_of(NULL);
	ck_assert_uint_eq(st.in_use_blocks, base.in_use_blocks);
	r = mm_trim(0);
	ck_assert_msg(r == 0 || r == 1, "mm_trim returned %d", r);
	ck_assert_int_eq(mm_heap_check(NULL), 0);
}
END_TEST

/*
 * (5) A heap on the program break.  glibc's malloc shares the break, and
 * under valgrind the break cannot grow and the heap falls back to mmap, so
 * the assertions are about the RSS; the break is only required not to move
 * up during a trim, and if it moved down the trim must say so.
 */
START_TEST(test_brk_heap_trim)
{
	const size_t n = NSMALL / 2, total = n * SMALL;

	(void)tu_rss_bytes();	/* let stdio take its buffer first */
	size_t rss0 = tu_rss_bytes();
	mm_heap_t *h = mm_heap_create(MM_SOURCE_BRK);

	ck_assert_ptr_nonnull(h);
	ck_assert_uint_eq(alloc_fill(h, blocks, n, SMALL, 71), 0);
	size_t peak = tu_rss_bytes();
	assert_rss_rose(rss0, peak, total);
	mm_stats_t full = stats_of(h);
	ck_assert_uint_ge(full.os_bytes, total);
	ck_assert_uint_eq(full.in_use_blocks, n);
	ck_assert_uint_eq(count_damaged(blocks, n, SMALL, 71), 0);

	release(h, blocks, n);
	/* Nothing may call malloc between these three lines. */
	void *brk_freed = sbrk(0);
	int r = mm_trim(0);
	void *brk_trimmed = sbrk(0);
	size_t trimmed = tu_rss_bytes();

	ck_assert_msg(r == 0 || r == 1, "mm_trim returned %d", r);
	ck_assert_msg((uintptr_t)brk_trimmed <= (uintptr_t)brk_freed,
		"the break went up during mm_trim: %p -> %p",
		brk_freed, brk_trimmed);
	if ((uintptr_t)brk_trimmed < (uintptr_t)brk_freed)
		ck_assert_msg(r == 1, "the break went down but mm_trim "
			"returned 0");
	ck_assert_msg(rss_drop(peak, trimmed) >= total / 2,
		"RSS fell by only %zu KiB of %zu KiB after free + trim",
		rss_drop(peak, trimmed) >> 10, total >> 10);

	mm_stats_t st = stats_of(h);
	ck_assert_uint_eq(st.in_use_blocks, 0);
	ck_assert_msg(st.os_bytes <= full.os_bytes,
		"os_bytes grew from %zu to %zu", full.os_bytes, st.os_bytes);
	if ((uintptr_t)brk_trimmed < (uintptr_t)brk_freed)
		ck_assert_msg(st.os_bytes < full.os_bytes, "the break went "
			"down but os_bytes did not (%zu)", st.os_bytes);
	ck_assert_int_eq(mm_heap_check(h), 0);

	/* Still a working heap after the trim. */
	ck_assert_uint_eq(alloc_fill(h, blocks, 1024, SMALL, 73), 0);
	ck_assert_uint_eq(count_damaged(blocks, 1024, SMALL, 73), 0);
	ck_assert_int_eq(mm_heap_check(h), 0);
	release(h, blocks, 1024);
	mm_heap_destroy(h);
	ck_assert_msg(rss_drop(peak, tu_rss_bytes()) >= total / 2,
		"RSS came back after destroying the brk heap");
}
END_TEST

/*
 * (6) A pad larger than the heap keeps everything.  The blocks sit just
 * below the free top of a break heap, where a pad that wrapped around the
 * address space would lower the break below them.
 */
START_TEST(test_trim_huge_pad_keeps_everything)
{
	static const size_t pads[] = { SIZE_MAX - 65535, SIZE_MAX, SIZE_MAX / 2 };
	enum { N = 40 };
	void *v[N];

	for (size_t k = 0; k < sizeof pads / sizeof pads[0]; k++) {
		mm_heap_t *h = mm_heap_create(MM_SOURCE_BRK);

		ck_assert_ptr_nonnull(h);
		/* nothing may call malloc from here to the trim: the break
		 * must stay where this heap left it */
		ck_assert_uint_eq(alloc_fill(h, v, N, 1000, 80 + (unsigned)k), 0);
		void *top = mm_heap_malloc(h, 60 * 1024);
		ck_assert_ptr_nonnull(top);
		mm_heap_free(h, top);
		void *brk_before = sbrk(0);
		mm_trim(pads[k]);
		void *brk_after = sbrk(0);
		ck_assert_msg(brk_after == brk_before, "mm_trim(%#zx) moved the "
			"break from %p to %p", pads[k], brk_before, brk_after);
		ck_assert_uint_eq(count_damaged(v, N, 1000, 80 + (unsigned)k), 0);
		ck_assert_int_eq(mm_heap_check(h), 0);
		/* and the heap goes on working */
		top = mm_heap_malloc(h, 60 * 1024);
		ck_assert_ptr_nonnull(top);
		tu_fill(top, 60 * 1024, 90);
		ck_assert(tu_check(top, 60 * 1024, 90));
		mm_heap_free(h, top);
		release(h, v, N);
		ck_assert_int_eq(mm_heap_check(h), 0);
		mm_heap_destroy(h);
	}
}
END_TEST

/*
 * (5b) The top of the program break: more than the trim threshold free
 * there stays for the decay interval (a program whose heap swells and
 * shrinks in phases does not give it back and fault it in each time),
 * then goes on the next slow path; with decay 0, at once.
 */
static void brk_phase(mm_heap_t *h, size_t decay_ms)
{
	enum { N = 64, SIZE = 32 * 1024 };
	void *v[N];

	ck_assert_int_eq(mm_heap_set_option(h, MM_OPT_DECAY_MS, decay_ms), 0);
	uintptr_t brk0 = (uintptr_t)sbrk(0);
	for (int i = 0; i < N; i++) {
		ck_assert_ptr_nonnull(v[i] = mm_heap_malloc(h, SIZE));
		memset(v[i], i, SIZE);
	}
	uintptr_t brk_full = (uintptr_t)sbrk(0);
	for (int i = N; i-- > 0;)
		mm_heap_free(h, v[i]);
	uintptr_t brk_freed = (uintptr_t)sbrk(0);
	if (brk_full < brk0 + N * SIZE)
		return;	/* this heap got its memory elsewhere (mmap): nothing to see */
	if (decay_ms == 0) {
		ck_assert_msg(brk_freed < brk_full, "decay 0: the break stayed up");
		return;
	}
	ck_assert_msg(brk_freed == brk_full, "the break went down at once");
	void *q = mm_heap_malloc(h, 20000);	/* a slow path within the interval */
	ck_assert_ptr_nonnull(q);
	ck_assert_msg((uintptr_t)sbrk(0) == brk_full, "the break went down within the interval");
	mm_heap_free(h, q);
	usleep(decay_ms * 1000 * 2);
	void *p = mm_heap_malloc(h, 20000);	/* a slow path */
	ck_assert_ptr_nonnull(p);
	ck_assert_msg((uintptr_t)sbrk(0) < brk_full, "the break stayed up after the interval");
	mm_heap_free(h, p);
}

/* Large freed spans inside a region keep their pages for the decay
 * interval, then give them back (all but the first trim threshold of
 * each) on the next slow path; with decay 0, at once. */
static void span_phase(size_t decay_ms)
{
	enum { N = 20, SIZE = 300 * 1024 };
	mm_heap_t *h = mm_heap_create(0);
	void *v[N];

	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(mm_heap_set_option(h, MM_OPT_MMAP_THRESHOLD, 4 * MIB), 0);
	ck_assert_int_eq(mm_heap_set_option(h, MM_OPT_DECAY_MS, decay_ms), 0);
	for (int i = 0; i < N; i++) {
		ck_assert_ptr_nonnull(v[i] = mm_heap_malloc(h, SIZE));
		memset(v[i], i + 1, SIZE);
	}
	size_t full = tu_rss_bytes();
	for (int i = 0; i < N; i += 2)	/* ten spans, none merging */
		mm_heap_free(h, v[i]);
	size_t freed = tu_rss_bytes();
	/* each span gives back what lies past its first 128 KiB: 1.7 MB */
	if (decay_ms == 0) {
		ck_assert_msg(rss_drop(full, freed) >= MIB, "decay 0: only %zu KiB went back",
			rss_drop(full, freed) >> 10);
	} else {
		ck_assert_msg(rss_drop(full, freed) < MIB / 2, "%zu KiB went back at once",
			rss_drop(full, freed) >> 10);
		usleep(decay_ms * 1000 * 2);
		void *p = mm_heap_malloc(h, 20000);	/* a slow path */
		ck_assert_ptr_nonnull(p);
		ck_assert_msg(rss_drop(full, tu_rss_bytes()) >= MIB,
			"only %zu KiB went back after the interval",
			rss_drop(full, tu_rss_bytes()) >> 10);
		mm_heap_free(h, p);
	}
	for (int i = 1; i < N; i += 2) {
		ck_assert(((unsigned char *)v[i])[SIZE - 1] == i + 1);
		mm_heap_free(h, v[i]);
	}
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_heap_destroy(h);
}

START_TEST(test_freed_spans_decay)
{
	(void)tu_rss_bytes();	/* let stdio take its buffer first */
	span_phase(60);
	span_phase(0);
}
END_TEST

START_TEST(test_brk_top_decays)
{
	mm_heap_t *h = mm_heap_create(MM_SOURCE_BRK);

	ck_assert_ptr_nonnull(h);
	brk_phase(h, 60);
	brk_phase(h, 0);
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_heap_destroy(h);
}
END_TEST

/*
 * (6) Decay: a program frees a few hundred MB of small, medium and large
 * blocks and goes on calling the allocator now and then; one decay
 * interval (here 100 ms) later its resident set is back within 10 MB of
 * what it was before (it falls by all but 10 MB of what was freed),
 * without mm_trim -- and with mm_trim at once.
 */
#define MIXED_BYTES (192 * MIB)
static void *mixed[MIXED_BYTES / 64];

/* Allocates MIXED_BYTES in blocks of every engine, a third of the bytes
 * each (small: slab pages; medium: regions; large: own mappings), each
 * page touched; how many blocks. */
static size_t alloc_mixed(void)
{
	size_t n = 0, bytes[3] = { 0, 0, 0 };

	while (bytes[0] + bytes[1] + bytes[2] < MIXED_BYTES) {
		int e = bytes[0] <= bytes[1] && bytes[0] <= bytes[2] ? 0 : bytes[1] <= bytes[2] ? 1 : 2;
		size_t size = e == 0 ? 16 + (n * 104729) % 1000 :
			      e == 1 ? 20000 + (n * 7919) % 80000 : (1 + n % 4) * MIB;
		unsigned char *p = mm_malloc(size);

		ck_assert_ptr_nonnull(p);
		for (size_t off = 0; off < size; off += 4096)
			p[off] = (unsigned char)n;
		p[size - 1] = (unsigned char)n;
		mixed[n++] = p;
		bytes[e] += size;
	}
	return n;
}

/* What a program does between phases: a few blocks of each engine, and
 * enough small ones that a slab page runs dry (a slow path). */
static void keep_calling(void)
{
	void *v[600];

	for (size_t i = 0; i < 600; i++)
		ck_assert_ptr_nonnull(v[i] = mm_malloc(i < 598 ? 200 : i == 598 ? 50000 : 3 * MIB));
	for (size_t i = 0; i < 600; i++)
		mm_free(v[i]);
}

START_TEST(test_decay_returns_memory)
{
	ck_assert_int_eq(mm_heap_set_option(NULL, MM_OPT_DECAY_MS, 100), 0);
	keep_calling();
	mm_trim(0);
	size_t rss0 = tu_rss_bytes();

	size_t n = alloc_mixed();
	size_t peak = tu_rss_bytes();
	assert_rss_rose(rss0, peak, MIXED_BYTES);
	for (size_t i = 0; i < n; i++)
		mm_free(mixed[i]);
	/* 200 ms of a program that still allocates now and then */
	for (int t = 0; t < 20; t++) {
		keep_calling();
		usleep(10000);
	}
	/* measured as the fall from the peak: a sanitizer's shadow of the
	 * freed memory stays resident, and is not libmm's */
	size_t later = tu_rss_bytes();
	ck_assert_msg(rss_drop(peak, later) + 10 * MIB >= MIXED_BYTES,
		"RSS %zu KiB two decay intervals after freeing %zu MiB: only %zu KiB fell",
		later >> 10, MIXED_BYTES >> 20, rss_drop(peak, later) >> 10);

	/* mm_trim gets there at once */
	n = alloc_mixed();
	peak = tu_rss_bytes();
	for (size_t i = 0; i < n; i++)
		mm_free(mixed[i]);
	ck_assert_int_eq(mm_trim(0), 1);
	size_t trimmed = tu_rss_bytes();
	ck_assert_msg(rss_drop(peak, trimmed) + 10 * MIB >= MIXED_BYTES,
		"RSS %zu KiB after free and mm_trim: only %zu KiB fell", trimmed >> 10,
		rss_drop(peak, trimmed) >> 10);
	ck_assert_int_eq(mm_heap_set_option(NULL, MM_OPT_DECAY_MS, 250), 0);
	ck_assert_int_eq(mm_heap_check(NULL), 0);
}
END_TEST

static Suite *trim_suite(void)
{
	Suite *s = suite_create("trim");
	TCase *tc = tcase_create("rss");

	/* 64 MiB filled and checked several times; slow under valgrind. */
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_destroy_returns_memory);
	tcase_add_test(tc, test_heap_free_all_trim);
	tcase_add_test(tc, test_default_heap_trim);
	tcase_add_loop_test(tc, test_large_blocks_unmapped, 0, 4);
	tcase_add_test(tc, test_fragmented_trim);
	tcase_add_test(tc, test_brk_heap_trim);
	tcase_add_test(tc, test_trim_huge_pad_keeps_everything);
	tcase_add_test(tc, test_decay_returns_memory);
	tcase_add_test(tc, test_brk_top_decays);
	tcase_add_test(tc, test_freed_spans_decay);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(trim_suite());

	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
