/*
 * frag: a pattern that fragments the heap, to compare peak resident memory
 * against the bytes the program really holds.  Each round allocates BYTES
 * worth of blocks of one size, then frees all but every KEEP-th of them;
 * the survivors stay until the end.  The size grows from round to round
 * (16, 32, ... 2048 bytes, then again), so the holes a round leaves are
 * too small for the next round's blocks unless the allocator merges free
 * neighbours, and pages pinned by a few survivors cannot be returned.
 *
 *   frag ROUNDS BYTES KEEP [SEED]
 *
 * Prints the peak of live bytes (what a perfect allocator would need,
 * counting this program's own pointer arrays) as peak_live_kib=N;
 * bench/run divides the measured peak RSS by it.  A block's tag and size
 * follow from its round and index, so only pointers are kept; every block
 * is checked before it is freed.
 */
#include "bench.h"

static uint64_t seed;

static size_t base_of(long r)
{
	return (size_t)16 << (r % 8);
}

static uint64_t tag_of(long r, size_t i)
{
	return bench_tag((uint64_t)r, i, seed);
}

static size_t size_of(long r, size_t i)
{
	size_t base = base_of(r);

	return base + (size_t)(tag_of(r, i) % (base / 2 + 1));
}

static void check(void *p, long r, size_t i)
{
	if (!bench_check(p, size_of(r, i), tag_of(r, i)))
		bench_fail("frag: block %p (round %ld, index %zu) corrupted", p, r, i);
}

/* Grow an array of pointers by doubling; its bytes count as live. */
static void **grow(void **a, size_t *max, size_t *live)
{
	size_t n = *max ? 2 * *max : 1024;

	a = realloc(a, n * sizeof *a);
	if (!a)
		bench_fail("frag: out of memory");
	*live += (n - *max) * sizeof *a;
	*max = n;
	return a;
}

int main(int argc, char **argv)
{
	static const char usage[] = "ROUNDS BYTES KEEP [SEED]";
	long rounds = bench_arg(argc, argv, 1, 16, usage);
	size_t bytes = (size_t)bench_arg(argc, argv, 2, 32 << 20, usage);
	size_t keep = (size_t)bench_arg(argc, argv, 3, 16, usage);
	void **cur = NULL, **kept = NULL;
	size_t cur_max = 0, kept_max = 0, nkept = 0, *kept_start;
	size_t live = 0, peak = 0, used, n, i, k;
	long r;

	seed = (uint64_t)bench_arg(argc, argv, 4, 5, usage);
	kept_start = calloc((size_t)rounds + 1, sizeof *kept_start);
	if (!kept_start)
		bench_fail("frag: out of memory");
	for (r = 0; r < rounds; r++) {
		for (n = 0, used = 0; used < bytes; n++) {
			size_t size = size_of(r, n);

			if (n == cur_max)
				cur = grow(cur, &cur_max, &live);
			cur[n] = bench_malloc(size);
			bench_fill(cur[n], size, tag_of(r, n));
			used += size;
			live += size;
		}
		if (live > peak)
			peak = live;
		kept_start[r] = nkept;
		for (i = 0; i < n; i++) {
			check(cur[i], r, i);
			if (i % keep == 0) {
				if (nkept == kept_max)
					kept = grow(kept, &kept_max, &live);
				kept[nkept++] = cur[i];
			} else {
				free(cur[i]);
				live -= size_of(r, i);
			}
		}
	}
	kept_start[rounds] = nkept;
	for (r = 0; r < rounds; r++)
		for (k = kept_start[r]; k < kept_start[r + 1]; k++) {
			check(kept[k], r, (k - kept_start[r]) * keep);
			free(kept[k]);
		}
	free(kept);
	free(cur);
	free(kept_start);
	printf("frag: %ld rounds of %zu bytes, 1 in %zu kept: ok peak_live_kib=%zu\n",
	       rounds, bytes, keep, peak / 1024);
	return 0;
}
