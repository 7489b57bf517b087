/*
 * threads: many short-lived threads, as in a program that starts a thread
 * per task.  Each round starts THREADS threads; each allocates ALLOCS
 * blocks of random size up to MAX, frees half of them itself and hands the
 * other half to the main thread, which checks and frees them after the
 * join.  Costs measured: setting up and tearing down whatever per-thread
 * state the allocator keeps, and frees of blocks whose thread is gone.
 * Memory that a dead thread's cache keeps shows up in the peak RSS.
 *
 *   threads ROUNDS THREADS ALLOCS MAX
 */
#include <pthread.h>

#include "bench.h"

struct job {
	pthread_t tid;
	uint64_t id;
	void **left;		/* the half the main thread frees */
	size_t *sizes;
};

static long nallocs;
static size_t max_size;

static uint64_t tag_of(uint64_t id, long i)
{
	return bench_tag(id, (uint64_t)i, 77);
}

static void *work(void *arg)
{
	struct job *j = arg;
	uint64_t rng = j->id;
	void **p = bench_malloc((size_t)nallocs * sizeof *p);
	long i;

	for (i = 0; i < nallocs; i++) {
		j->sizes[i] = bench_range(&rng, 8, max_size);
		p[i] = bench_malloc(j->sizes[i]);
		bench_fill(p[i], j->sizes[i], tag_of(j->id, i));
	}
	for (i = 0; i < nallocs; i++) {
		if (i & 1) {
			j->left[i / 2] = p[i];
			continue;
		}
		if (!bench_check(p[i], j->sizes[i], tag_of(j->id, i)))
			bench_fail("threads: block %p corrupted", p[i]);
		free(p[i]);
	}
	free(p);
	return NULL;
}

int main(int argc, char **argv)
{
	static const char usage[] = "ROUNDS THREADS ALLOCS MAX";
	long rounds = bench_arg(argc, argv, 1, 1000, usage);
	long nthreads = bench_arg(argc, argv, 2, 4, usage);
	struct job *jobs;
	long r, t, i;

	nallocs = bench_arg(argc, argv, 3, 200, usage);
	max_size = (size_t)bench_arg(argc, argv, 4, 512, usage);
	if (max_size < 8)
		bench_fail("threads: MAX must be at least 8");
	jobs = calloc((size_t)nthreads, sizeof *jobs);
	if (!jobs)
		bench_fail("threads: out of memory");
	for (t = 0; t < nthreads; t++) {
		jobs[t].left = bench_malloc((size_t)(nallocs / 2) * sizeof(void *));
		jobs[t].sizes = bench_malloc((size_t)nallocs * sizeof(size_t));
	}
	for (r = 0; r < rounds; r++) {
		for (t = 0; t < nthreads; t++) {
			jobs[t].id = (uint64_t)(r * nthreads + t + 1);
			bench_thread(&jobs[t].tid, work, &jobs[t]);
		}
		for (t = 0; t < nthreads; t++) {
			pthread_join(jobs[t].tid, NULL);
			for (i = 1; i < nallocs; i += 2) {
				void *p = jobs[t].left[i / 2];

				if (!bench_check(p, jobs[t].sizes[i], tag_of(jobs[t].id, i)))
					bench_fail("threads: block %p corrupted", p);
				free(p);
			}
		}
	}
	for (t = 0; t < nthreads; t++) {
		free(jobs[t].left);
		free(jobs[t].sizes);
	}
	printf("threads: %ld rounds x %ld threads x %ld blocks: ok\n",
	       rounds, nthreads, nallocs);
	free(jobs);
	return 0;
}
