/*
 * alloc-test: random sizes over a live set, in the manner of the alloc-test
 * benchmark.  Each thread keeps SLOTS live blocks and, OPS times, frees the
 * block in a random slot and allocates a new one there.  Sizes follow a
 * skewed distribution like a typical program's: most are small, some are
 * medium, a few are large:
 *
 *   75%  8 .. 128 bytes      20%  129 .. 2048      5%  2049 .. MAX
 *
 *   alloc-test THREADS SLOTS OPS MAX [SEED]
 *
 * Every block is checked before it is freed.
 */
#include <pthread.h>

#include "bench.h"

static long nslots, nops;
static size_t max_size;
static uint64_t seed;

struct slot {
	void *p;
	size_t size;
	uint64_t tag;
};

static size_t pick_size(uint64_t *rng)
{
	unsigned r = (unsigned)(bench_rand(rng) % 100);

	if (r < 75 || max_size <= 128)
		return bench_range(rng, 8, 128 < max_size ? 128 : max_size);
	if (r < 95 || max_size <= 2048)
		return bench_range(rng, 129, 2048 < max_size ? 2048 : max_size);
	return bench_range(rng, 2049, max_size);
}

static void *work(void *arg)
{
	uint64_t id = (uint64_t)(uintptr_t)arg, rng = seed * 7919 + id;
	struct slot *slots = calloc((size_t)nslots, sizeof *slots), *s;
	long n, i;

	if (!slots)
		bench_fail("alloc-test: out of memory");
	for (n = 0; n < nops + nslots; n++) {
		/* First fill every slot in order, then replace at random. */
		i = n < nslots ? n : (long)(bench_rand(&rng) % (uint64_t)nslots);
		s = &slots[i];
		if (s->p) {
			if (!bench_check(s->p, s->size, s->tag))
				bench_fail("alloc-test: block %p (%zu bytes) corrupted",
					   s->p, s->size);
			free(s->p);
		}
		s->size = pick_size(&rng);
		s->tag = bench_tag(id, (uint64_t)n, s->size);
		s->p = bench_malloc(s->size);
		bench_fill(s->p, s->size, s->tag);
	}
	for (i = 0; i < nslots; i++) {
		s = &slots[i];
		if (!bench_check(s->p, s->size, s->tag))
			bench_fail("alloc-test: block %p (%zu bytes) corrupted",
				   s->p, s->size);
		free(s->p);
	}
	free(slots);
	return NULL;
}

int main(int argc, char **argv)
{
	static const char usage[] = "THREADS SLOTS OPS MAX [SEED]";
	long nthreads = bench_arg(argc, argv, 1, 1, usage), t;
	pthread_t *tid;

	nslots = bench_arg(argc, argv, 2, 10000, usage);
	nops = bench_arg(argc, argv, 3, 1000000, usage);
	max_size = (size_t)bench_arg(argc, argv, 4, 16384, usage);
	seed = (uint64_t)bench_arg(argc, argv, 5, 1, usage);
	if (max_size < 8)
		bench_fail("alloc-test: MAX must be at least 8");

	tid = calloc((size_t)nthreads, sizeof *tid);
	if (!tid)
		bench_fail("alloc-test: out of memory");
	/* One thread is the main thread: a single-threaded program. */
	if (nthreads == 1)
		work(NULL);
	for (t = 0; nthreads > 1 && t < nthreads; t++)
		bench_thread(&tid[t], work, (void *)(uintptr_t)t);
	for (t = 0; nthreads > 1 && t < nthreads; t++)
		pthread_join(tid[t], NULL);
	printf("alloc-test: %ld threads x %ld replacements over %ld live blocks: ok\n",
	       nthreads, nops, nslots);
	free(tid);
	return 0;
}
