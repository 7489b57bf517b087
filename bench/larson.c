/*
 * larson: a server simulation in the manner of Larson and Krishnan's
 * benchmark.  Every worker owns an area of slots holding live blocks and
 * keeps replacing a random slot's block with a new one of random size.
 * Workers live for one epoch only; in the next epoch fresh threads take
 * over the areas rotated by one, so most frees happen in a thread other
 * than the one (now gone) that allocated the block: the pattern of a
 * server whose connections migrate between short-lived worker threads.
 *
 *   larson THREADS SLOTS EPOCHS OPS MIN MAX [SEED]
 *
 * THREADS workers each epoch, SLOTS blocks per area, OPS replacements per
 * worker and epoch, sizes uniform in [MIN, MAX].  Every block carries a
 * pattern that is checked before it is freed.
 */
#include <pthread.h>

#include "bench.h"

struct slot {
	void *p;
	size_t size;
	uint64_t tag;
};

struct area {
	struct slot *slots;
	uint64_t rng;
	unsigned long serial;
};

struct worker {
	pthread_t tid;
	struct area *area;
};

static long nslots, nops;
static size_t min_size, max_size;

static void put(struct area *a, long i)
{
	struct slot *s = &a->slots[i];

	s->size = bench_range(&a->rng, min_size, max_size);
	s->tag = bench_tag((uint64_t)(uintptr_t)a, (uint64_t)i, a->serial++);
	s->p = bench_malloc(s->size);
	bench_fill(s->p, s->size, s->tag);
}

static void take(struct area *a, long i)
{
	struct slot *s = &a->slots[i];

	if (!bench_check(s->p, s->size, s->tag))
		bench_fail("larson: block %p (slot %ld, %zu bytes) corrupted",
			   s->p, i, s->size);
	free(s->p);
	s->p = NULL;
}

static void *work(void *arg)
{
	struct area *a = ((struct worker *)arg)->area;
	long n, i;

	for (n = 0; n < nops; n++) {
		i = (long)(bench_rand(&a->rng) % (uint64_t)nslots);
		take(a, i);
		put(a, i);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	static const char usage[] = "THREADS SLOTS EPOCHS OPS MIN MAX [SEED]";
	long nthreads = bench_arg(argc, argv, 1, 2, usage);
	long epochs, t, e, i;
	struct area *areas;
	struct worker *w;
	uint64_t seed;

	nslots = bench_arg(argc, argv, 2, 1000, usage);
	epochs = bench_arg(argc, argv, 3, 10, usage);
	nops = bench_arg(argc, argv, 4, 100000, usage);
	min_size = (size_t)bench_arg(argc, argv, 5, 8, usage);
	max_size = (size_t)bench_arg(argc, argv, 6, 1000, usage);
	seed = (uint64_t)bench_arg(argc, argv, 7, 42, usage);
	if (max_size < min_size)
		bench_fail("larson: MAX < MIN");

	areas = calloc((size_t)nthreads, sizeof *areas);
	w = calloc((size_t)nthreads, sizeof *w);
	if (!areas || !w)
		bench_fail("larson: out of memory");
	/* The main thread fills every area: the first frees are remote too. */
	for (t = 0; t < nthreads; t++) {
		areas[t].slots = calloc((size_t)nslots, sizeof(struct slot));
		if (!areas[t].slots)
			bench_fail("larson: out of memory");
		areas[t].rng = seed + (uint64_t)t;
		for (i = 0; i < nslots; i++)
			put(&areas[t], i);
	}
	for (e = 0; e < epochs; e++) {
		for (t = 0; t < nthreads; t++) {
			w[t].area = &areas[(t + e) % nthreads];
			bench_thread(&w[t].tid, work, &w[t]);
		}
		for (t = 0; t < nthreads; t++)
			pthread_join(w[t].tid, NULL);
	}
	for (t = 0; t < nthreads; t++) {
		for (i = 0; i < nslots; i++)
			take(&areas[t], i);
		free(areas[t].slots);
	}
	printf("larson: %ld threads, %ld epochs, %ld replacements: ok\n",
	       nthreads, epochs, nthreads * epochs * nops);
	free(areas);
	free(w);
	return 0;
}
