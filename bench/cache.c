/*
 * cache: false sharing caused by the allocator, in the manner of the
 * cache-thrash and cache-scratch benchmarks of the Hoard papers.
 *
 *   cache thrash|scratch THREADS ITERATIONS SIZE WRITES
 *
 * Each thread, ITERATIONS times, allocates a SIZE-byte block, writes every
 * byte of it WRITES times, checks it and frees it.  Threads share nothing,
 * so any slowdown with more threads comes from blocks of different threads
 * sharing a cache line:
 *
 *   thrash   (active false sharing) the allocator itself hands threads
 *            neighbouring blocks;
 *   scratch  (passive false sharing) the main thread allocates one small
 *            block per thread, side by side, and each thread starts by
 *            freeing its block; an allocator that reuses that block in the
 *            freeing thread has planted false sharing.
 */
#include <pthread.h>

#include "bench.h"

static long iterations, writes;
static size_t obj_size;

struct arg {
	pthread_t tid;
	unsigned char *initial;	/* scratch: the block to free first */
};

static void *work(void *p)
{
	struct arg *a = p;
	volatile unsigned char *obj;
	long it, w;
	size_t j;

	free(a->initial);
	for (it = 0; it < iterations; it++) {
		obj = bench_malloc(obj_size);
		for (j = 0; j < obj_size; j++)
			obj[j] = (unsigned char)j;
		for (w = 0; w < writes; w++)
			for (j = 0; j < obj_size; j++)
				obj[j]++;
		for (j = 0; j < obj_size; j++)
			if (obj[j] != (unsigned char)(j + (size_t)writes))
				bench_fail("cache: block %p byte %zu is %u",
					   (void *)obj, j, obj[j]);
		free((void *)obj);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	static const char usage[] = "thrash|scratch THREADS ITERATIONS SIZE WRITES";
	long nthreads, t;
	struct arg *args;
	int scratch;

	if (argc < 2 || (strcmp(argv[1], "thrash") && strcmp(argv[1], "scratch"))) {
		fprintf(stderr, "usage: %s %s\n", argv[0], usage);
		return 64;
	}
	scratch = !strcmp(argv[1], "scratch");
	nthreads = bench_arg(argc, argv, 2, 2, usage);
	iterations = bench_arg(argc, argv, 3, 1000, usage);
	obj_size = (size_t)bench_arg(argc, argv, 4, 8, usage);
	writes = bench_arg(argc, argv, 5, 1000, usage);

	args = calloc((size_t)nthreads, sizeof *args);
	if (!args)
		bench_fail("cache: out of memory");
	for (t = 0; t < nthreads; t++)
		if (scratch)
			args[t].initial = bench_malloc(obj_size);
	for (t = 0; t < nthreads; t++)
		bench_thread(&args[t].tid, work, &args[t]);
	for (t = 0; t < nthreads; t++)
		pthread_join(args[t].tid, NULL);
	printf("cache-%s: %ld threads x %ld blocks of %zu bytes: ok\n",
	       argv[1], nthreads, iterations, obj_size);
	free(args);
	return 0;
}
