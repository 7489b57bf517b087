/*
 * simple: tight malloc/free of fixed sizes, in the manner of glibc's
 * bench-malloc-simple (one thread) and bench-malloc-thread (several).
 * The fast paths, and nothing else: no live set to speak of, no
 * cross-thread frees.
 *
 *   simple THREADS ITERATIONS BATCH SIZE [SIZE...]
 *
 * Each thread, ITERATIONS times and for each SIZE, allocates BATCH blocks
 * of that size and frees them again, in allocation order on even
 * iterations and in reverse on odd ones.  Every block is checked before it
 * is freed.  With THREADS = 1 the work runs in the main thread.
 */
#include <pthread.h>

#include "bench.h"

#define MAX_SIZES 16

static long iterations, batch;
static size_t sizes[MAX_SIZES];
static int nsizes;

static void *work(void *arg)
{
	uint64_t id = (uint64_t)(uintptr_t)arg;
	void **ptrs = calloc((size_t)batch, sizeof *ptrs);
	long it, i, k;
	int s;

	if (!ptrs)
		bench_fail("simple: out of memory");
	for (it = 0; it < iterations; it++) {
		for (s = 0; s < nsizes; s++) {
			for (i = 0; i < batch; i++) {
				ptrs[i] = bench_malloc(sizes[s]);
				bench_fill(ptrs[i], sizes[s], bench_tag(id, (uint64_t)i, sizes[s]));
			}
			for (k = 0; k < batch; k++) {
				i = it & 1 ? batch - 1 - k : k;
				if (!bench_check(ptrs[i], sizes[s], bench_tag(id, (uint64_t)i, sizes[s])))
					bench_fail("simple: block %p (%zu bytes) corrupted",
						   ptrs[i], sizes[s]);
				free(ptrs[i]);
			}
		}
	}
	free(ptrs);
	return NULL;
}

int main(int argc, char **argv)
{
	static const char usage[] = "THREADS ITERATIONS BATCH SIZE [SIZE...]";
	long nthreads = bench_arg(argc, argv, 1, 1, usage), t;
	pthread_t *tid;
	int a;

	iterations = bench_arg(argc, argv, 2, 10000, usage);
	batch = bench_arg(argc, argv, 3, 100, usage);
	for (a = 4; a < argc && nsizes < MAX_SIZES; a++)
		sizes[nsizes++] = (size_t)bench_arg(argc, argv, a, 1, usage);
	if (nsizes == 0)
		sizes[nsizes++] = 64;

	tid = calloc((size_t)nthreads, sizeof *tid);
	if (!tid)
		bench_fail("simple: out of memory");
	if (nthreads == 1)
		work(NULL);
	for (t = 0; nthreads > 1 && t < nthreads; t++)
		bench_thread(&tid[t], work, (void *)(uintptr_t)t);
	for (t = 0; nthreads > 1 && t < nthreads; t++)
		pthread_join(tid[t], NULL);
	printf("simple: %ld threads x %ld iterations x %d sizes x %ld blocks: ok\n",
	       nthreads, iterations, nsizes, batch);
	free(tid);
	return 0;
}
