/*
 * large: big blocks allocated and freed in a loop, in the manner of the
 * malloc-large benchmark: a live set of SLOTS blocks of MIN..MAX bytes;
 * ROUNDS times, a random slot's block is freed and a new one of a random
 * size takes its place.  Each block is touched once a page (bench_fill),
 * so an allocator that gives every freed block back to the system and maps
 * the next one afresh pays the page faults; every block is checked before
 * it is freed.
 *
 *   large ROUNDS SLOTS MIN MAX [SEED]
 */
#include "bench.h"

static const char usage[] = "large ROUNDS SLOTS MIN MAX [SEED]";

int main(int argc, char **argv)
{
	long rounds = (long)bench_arg(argc, argv, 1, 500, usage);
	long nslots = (long)bench_arg(argc, argv, 2, 4, usage);
	size_t lo = (size_t)bench_arg(argc, argv, 3, 5 << 20, usage);
	size_t hi = (size_t)bench_arg(argc, argv, 4, 25 << 20, usage);
	uint64_t rng = (uint64_t)bench_arg(argc, argv, 5, 42, usage);
	void **p;
	size_t *size;
	uint64_t *tag;

	if (nslots < 1 || lo < 1 || hi < lo)
		bench_fail("%s", usage);
	p = calloc((size_t)nslots, sizeof *p);
	size = calloc((size_t)nslots, sizeof *size);
	tag = calloc((size_t)nslots, sizeof *tag);
	if (!p || !size || !tag)
		bench_fail("large: no memory for the slots");
	for (long r = 0; r < rounds + nslots; r++) {
		long i = r < nslots ? r : (long)(bench_rand(&rng) % (uint64_t)nslots);

		if (p[i]) {
			if (!bench_check(p[i], size[i], tag[i]))
				bench_fail("large: block %p of %zu bytes corrupted", p[i], size[i]);
			free(p[i]);
		}
		size[i] = bench_range(&rng, lo, hi);
		tag[i] = bench_tag((uint64_t)r, (uint64_t)i, size[i]);
		p[i] = bench_malloc(size[i]);
		bench_fill(p[i], size[i], tag[i]);
	}
	for (long i = 0; i < nslots; i++) {
		if (!bench_check(p[i], size[i], tag[i]))
			bench_fail("large: block %p of %zu bytes corrupted", p[i], size[i]);
		free(p[i]);
	}
	printf("large: %ld rounds, %ld live blocks of %zu..%zu bytes: ok\n", rounds, nslots, lo, hi);
	free(p);
	free(size);
	free(tag);
	return 0;
}
