/*
 * latency: the time of every single operation of a mixed malloc / free /
 * realloc workload, reported as percentiles (p50, p99, p99.99) and the
 * maximum, for one allocator at a time:
 *
 *   latency malloc       LIVE OPS [POOL_BYTES [ROUNDS]]
 *       malloc/free/realloc: whatever allocator LD_PRELOAD gives
 *   latency default      LIVE OPS [POOL_BYTES [ROUNDS]]
 *       libmm's default heap (mm_malloc, mm_free, mm_realloc)
 *   latency pool-good|pool-first|pool-best LIVE OPS [POOL_BYTES [ROUNDS]]
 *       a pool (mm_heap_create_in) of POOL_BYTES (default 64 MiB) with
 *       that fit policy
 *
 * LIVE slots are kept; each operation picks one at random: an empty slot
 * gets a block (16 bytes to 4 KiB, small sizes likelier), a full one is
 * freed, or one time in four resized to a new size.  OPS / 4 operations
 * run first untimed (the allocator's start-up, first faults), then OPS
 * timed ones.  A pool's buffer is mapped and written through before the
 * pool is made, as a real-time program would (mlock aside): what is timed
 * is the allocator, not the kernel's first touch.
 *
 * Each operation is timed alone with the time-stamp counter (rdtsc,
 * ordered by lfence; clock_gettime elsewhere), calibrated against
 * CLOCK_MONOTONIC; the samples live in a mapping of their own, so the
 * allocator under test never holds them.  Every block is filled and
 * checked before it is freed (outside the timed region).
 *
 * The whole workload runs ROUNDS times (default 3) from the same seed,
 * and each operation keeps the least of its times: a timer interrupt or
 * another process lands on one round's operation, not on the same one
 * every round, while an operation the allocator makes slow is slow every
 * time.  The percentiles are of those least times; "worst seen" is the
 * longest single sample of any round, the machine's share included.
 *
 * Output, one line:  config live ops pool_bytes p50 p99 p99.99 max
 * worst_seen failures faults (nanoseconds; failures: requests answered
 * NULL in a round, which a pool too small for the live set gives;
 * faults: page faults, minor and major, during a round's timed
 * operations -- the kernel's part).

 * Unlike the other benchmark programs this one links libmm, for its pools
 * and its default heap; its malloc is still whichever LD_PRELOAD says.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#include "libmm.h"
#include "bench.h"

static const char usage[] =
	"malloc|default|pool-good|pool-first|pool-best LIVE OPS [POOL_BYTES [ROUNDS]]";

enum api { API_MALLOC, API_DEFAULT, API_POOL };

static enum api api;
static mm_heap_t *pool;

static void *do_malloc(size_t n)
{
	switch (api) {
	case API_MALLOC: return malloc(n);
	case API_DEFAULT: return mm_malloc(n);
	default: return mm_heap_malloc(pool, n);
	}
}

static void *do_realloc(void *p, size_t n)
{
	switch (api) {
	case API_MALLOC: return realloc(p, n);
	case API_DEFAULT: return mm_realloc(p, n);
	default: return mm_heap_realloc(pool, p, n);
	}
}

static void do_free(void *p)
{
	switch (api) {
	case API_MALLOC: free(p); break;
	case API_DEFAULT: mm_free(p); break;
	default: mm_heap_free(pool, p); break;
	}
}

/* --- The clock ---------------------------------------------------------- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#if defined(__x86_64__) || defined(__i386__)
static inline uint64_t ticks(void)
{
	uint64_t t;

	_mm_lfence();	/* earlier work done before the read */
	t = __rdtsc();
	_mm_lfence();	/* and later work not begun */
	return t;
}
#else
static inline uint64_t ticks(void)
{
	return now_ns();
}
#endif

/* Nanoseconds a tick, from 50 ms of both clocks. */
static double ns_per_tick(void)
{
	uint64_t t0 = ticks(), n0 = now_ns(), n1;

	do
		n1 = now_ns();
	while (n1 - n0 < 50000000u);
	return (double)(n1 - n0) / (double)(ticks() - t0);
}

/* --- The workload --------------------------------------------------------- */

struct slot {
	void *p;
	size_t n;
	uint64_t tag;
};

/* 16 B to 4 KiB, each power of two as likely: small blocks dominate. */
static size_t pick_size(uint64_t *rng)
{
	unsigned shift = 4 + (unsigned)(bench_rand(rng) % 8);	/* 16 .. 2048 */

	return bench_range(rng, (size_t)1 << shift, (size_t)2 << shift);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static size_t live, ops;
static struct slot *slots;
static uint32_t *best;		/* each timed operation's least time, ns */
static uint32_t worst_seen;	/* the longest single sample of any round */
static uint64_t failures;
static long faults;
static double scale;

/* One round of the workload, from the same seed every time: operation k
 * of every round is the same call with the same size on the same slot (a
 * pool starts afresh each round, so it also gets the same answer). */
static void round_once(void)
{
	uint64_t rng = 42;
	struct rusage ru0, ru1;

	memset(slots, 0, live * sizeof *slots);
	getrusage(RUSAGE_SELF, &ru0);
	for (size_t k = 0; k < ops / 4 + ops; k++) {
		struct slot *s = &slots[bench_rand(&rng) % live];
		int resize = bench_rand(&rng) % 4 == 0;
		size_t n = pick_size(&rng);
		uint64_t t0, t1;
		void *q;

		if (k == ops / 4)
			getrusage(RUSAGE_SELF, &ru0);
		if (s->p && !bench_check(s->p, s->n, s->tag))
			bench_fail("block %p of %zu bytes damaged", s->p, s->n);
		if (!s->p) {
			t0 = ticks();
			q = do_malloc(n);
			t1 = ticks();
		} else if (resize) {
			uint64_t first;

			t0 = ticks();
			q = do_realloc(s->p, n);
			t1 = ticks();
			if (q && s->n >= 8 && n >= 8 && (memcpy(&first, q, 8), first != s->tag))
				bench_fail("realloc lost the contents of %p", s->p);
		} else {
			t0 = ticks();
			do_free(s->p);
			t1 = ticks();
			q = NULL;
		}
		if (k >= ops / 4) {
			double ns = (double)(t1 - t0) * scale;
			uint32_t t = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
			uint32_t *b = &best[k - ops / 4];

			if (t < *b)
				*b = t;
			if (t > worst_seen)
				worst_seen = t;
		}
		if (!q && (!s->p || resize)) {
			failures++;	/* a failed realloc keeps the block as it was */
			continue;
		}
		s->p = q;
		s->n = q ? n : 0;
		if (q) {
			s->tag = bench_tag((uint64_t)(uintptr_t)q, n, k);
			bench_fill(q, n, s->tag);
		}
	}
	getrusage(RUSAGE_SELF, &ru1);
	faults += (ru1.ru_minflt - ru0.ru_minflt) + (ru1.ru_majflt - ru0.ru_majflt);
	for (size_t i = 0; i < live; i++)
		if (slots[i].p) {
			if (!bench_check(slots[i].p, slots[i].n, slots[i].tag))
				bench_fail("block %p damaged at the end", slots[i].p);
			do_free(slots[i].p);
		}
}

int main(int argc, char **argv)
{
	const char *config = argc > 1 ? argv[1] : "";
	size_t pool_bytes = (size_t)bench_arg(argc, argv, 4, 64 << 20, usage);
	long rounds = bench_arg(argc, argv, 5, 3, usage);
	unsigned fit = 0;
	void *buf = NULL;

	live = (size_t)bench_arg(argc, argv, 2, 1000, usage);
	ops = (size_t)bench_arg(argc, argv, 3, 200000, usage);
	if (!strcmp(config, "malloc"))
		api = API_MALLOC;
	else if (!strcmp(config, "default"))
		api = API_DEFAULT;
	else if (!strcmp(config, "pool-good"))
		api = API_POOL, fit = MM_FIT_GOOD;
	else if (!strcmp(config, "pool-first"))
		api = API_POOL, fit = MM_FIT_FIRST;
	else if (!strcmp(config, "pool-best"))
		api = API_POOL, fit = MM_FIT_BEST;
	else {
		fprintf(stderr, "usage: %s %s\n", argv[0], usage);
		return 64;
	}
	if (api == API_POOL) {
		buf = mmap(NULL, pool_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (buf == MAP_FAILED)
			bench_fail("cannot map a pool of %zu bytes", pool_bytes);
		memset(buf, 0, pool_bytes);	/* every page faulted in now */
	}
	/* the harness's own memory comes from the kernel, not the allocator */
	slots = mmap(NULL, live * sizeof *slots, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	best = mmap(NULL, ops * sizeof *best, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (slots == MAP_FAILED || best == MAP_FAILED)
		bench_fail("cannot map the harness's arrays");
	memset(best, 0xff, ops * sizeof *best);
	scale = ns_per_tick();
	for (long r = 0; r < rounds; r++) {
		if (api == API_POOL) {
			pool = mm_heap_create_in(buf, pool_bytes, fit);
			if (!pool)
				bench_fail("mm_heap_create_in of %zu bytes failed", pool_bytes);
		}
		round_once();
		if (api == API_POOL)
			mm_heap_destroy(pool);
	}
	qsort(best, ops, sizeof *best, cmp_u32);
	printf("%s\t%zu\t%zu\t%zu\t%u\t%u\t%u\t%u\t%u\t%llu\t%ld\n", config, live, ops,
	       api == API_POOL ? pool_bytes : 0,
	       best[ops / 2], best[ops - 1 - ops / 100], best[ops - 1 - ops / 10000], best[ops - 1],
	       worst_seen, (unsigned long long)(failures / (uint64_t)rounds), faults / rounds);
	return 0;
}
