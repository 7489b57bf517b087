/*
 * pair: the tightest loop there is, malloc of one size and free of the same
 * block, N times.  bench/run runs it under callgrind with N and 2N
 * iterations; the difference of the two instruction counts, divided by N,
 * is the cost of one malloc/free pair with start-up and exit cancelled out.
 *
 *   pair ITERATIONS SIZE
 *
 * The pointer goes through a volatile variable so that the compiler cannot
 * drop the pair; one byte is written and read back.
 */
#include "bench.h"

static void *volatile sink;

int main(int argc, char **argv)
{
	static const char usage[] = "ITERATIONS SIZE";
	long n = bench_arg(argc, argv, 1, 1000000, usage), i;
	size_t size = (size_t)bench_arg(argc, argv, 2, 16, usage);
	unsigned char *p;

	/* One warm-up pair, so that both runs start from a set-up heap. */
	free(bench_malloc(size));
	for (i = 0; i < n; i++) {
		p = malloc(size);
		if (!p)
			bench_fail("pair: malloc(%zu) returned NULL", size);
		p[0] = (unsigned char)i;
		sink = p;
		if (((unsigned char *)sink)[0] != (unsigned char)i)
			bench_fail("pair: block %p corrupted", (void *)p);
		free(sink);
	}
	return 0;
}
