/*
 * pair: the tightest loops there are, for instruction counts.  bench/run
 * runs each under callgrind with N and 2N iterations; the difference of
 * the two counts, divided by N, is the cost of one malloc/free pair with
 * start-up and exit cancelled out.
 *
 *   pair ITERATIONS SIZE [ping-pong|pinned|live]
 *
 *   ping-pong  malloc(SIZE) then free it, N times: one block, so a page
 *              that holds only it empties on every free (an allocator
 *              that retires empty pages pays for it here)
 *   pinned     the same with one more block of SIZE kept live throughout,
 *              so its page never empties
 *   live       1000 live blocks of random sizes 8..512; each iteration
 *              frees a random one and allocates a new random size in its
 *              place (SIZE is ignored); the random numbers cost the same
 *              few instructions under every allocator
 *
 * Pointers go through a volatile variable so that the compiler cannot drop
 * a pair; one byte is written and read back.
 */
#include <string.h>

#include "bench.h"

static void *volatile sink;

static unsigned char *touch(unsigned char *p, long i)
{
	p[0] = (unsigned char)i;
	sink = p;
	if (((unsigned char *)sink)[0] != (unsigned char)i)
		bench_fail("pair: block %p corrupted", (void *)p);
	return sink;
}

#define LIVE 1000

static void live_loop(long n)
{
	static unsigned char *v[LIVE];
	uint64_t rs = 0x9e3779b97f4a7c15ull;
	long i;

	for (i = 0; i < LIVE; i++)
		v[i] = touch(bench_malloc(8 + bench_rand(&rs) % 505), i);
	for (i = 0; i < n; i++) {
		uint64_t r = bench_rand(&rs);
		unsigned k = (unsigned)(r % LIVE);
		free(v[k]);
		v[k] = malloc(8 + (size_t)(r >> 32) % 505);
		if (!v[k])
			bench_fail("pair: malloc returned NULL");
		touch(v[k], i);
	}
	for (i = 0; i < LIVE; i++)
		free(v[i]);
}

int main(int argc, char **argv)
{
	static const char usage[] = "ITERATIONS SIZE [ping-pong|pinned|live]";
	long n = bench_arg(argc, argv, 1, 1000000, usage), i;
	size_t size = (size_t)bench_arg(argc, argv, 2, 16, usage);
	const char *mode = argc > 3 ? argv[3] : "ping-pong";
	void *keep = NULL;

	if (!strcmp(mode, "live")) {
		live_loop(n);
		printf("pair: %ld replacements in 1000 live blocks: ok\n", n);
		return 0;
	}
	if (!strcmp(mode, "pinned"))
		keep = bench_malloc(size);
	else if (strcmp(mode, "ping-pong"))
		bench_fail("pair: unknown mode %s (usage: pair %s)", mode, usage);
	/* One warm-up pair, so that both runs start from a set-up heap. */
	free(bench_malloc(size));
	for (i = 0; i < n; i++) {
		unsigned char *p = malloc(size);
		if (!p)
			bench_fail("pair: malloc(%zu) returned NULL", size);
		free(touch(p, i));
	}
	free(keep);
	printf("pair: %ld pairs of %zu bytes (%s): ok\n", n, size, mode);
	return 0;
}
