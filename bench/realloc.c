/*
 * realloc: buffers growing by realloc, the way strings and vectors grow.
 * BUFFERS buffers are grown side by side, a few bytes at a time in turn,
 * until each holds FINAL bytes; the growth of neighbours gets in each
 * other's way, so an allocator cannot always grow in place.  Even buffers
 * call realloc on every append (a naive string builder), odd ones double
 * their capacity when it runs out (a vector).  At the end every byte of
 * every buffer is checked, then all are freed; ROUNDS times.
 *
 *   realloc BUFFERS FINAL ROUNDS [SEED]
 */
#include "bench.h"

struct buf {
	unsigned char *p;
	size_t len, cap;
};

static unsigned char byte_at(long b, long round, size_t i)
{
	return (unsigned char)((size_t)b * 131 + (size_t)round * 7 + i * 13 + (i >> 8));
}

int main(int argc, char **argv)
{
	static const char usage[] = "BUFFERS FINAL ROUNDS [SEED]";
	long nbufs = bench_arg(argc, argv, 1, 100, usage);
	size_t final = (size_t)bench_arg(argc, argv, 2, 65536, usage);
	long rounds = bench_arg(argc, argv, 3, 10, usage);
	uint64_t rng = (uint64_t)bench_arg(argc, argv, 4, 3, usage);
	unsigned long reallocs = 0;
	struct buf *bufs;
	long r, b, growing;
	size_t step, need, i;

	bufs = calloc((size_t)nbufs, sizeof *bufs);
	if (!bufs)
		bench_fail("realloc: out of memory");
	for (r = 0; r < rounds; r++) {
		do {
			growing = 0;
			for (b = 0; b < nbufs; b++) {
				struct buf *x = &bufs[b];

				if (x->len >= final)
					continue;
				growing++;
				step = bench_range(&rng, 1, 64);
				if (step > final - x->len)
					step = final - x->len;
				need = x->len + step;
				if (need > x->cap) {
					size_t cap = b & 1 ? (x->cap ? 2 * x->cap : 16) : need;
					unsigned char *p;

					while (cap < need)
						cap *= 2;
					p = realloc(x->p, cap);
					if (!p)
						bench_fail("realloc(%zu) returned NULL", cap);
					x->p = p;
					x->cap = cap;
					reallocs++;
				}
				for (i = x->len; i < need; i++)
					x->p[i] = byte_at(b, r, i);
				x->len = need;
			}
		} while (growing);
		for (b = 0; b < nbufs; b++) {
			struct buf *x = &bufs[b];

			for (i = 0; i < x->len; i++)
				if (x->p[i] != byte_at(b, r, i))
					bench_fail("realloc: buffer %ld byte %zu is wrong", b, i);
			free(x->p);
			x->p = NULL;
			x->len = x->cap = 0;
		}
	}
	printf("realloc: %ld buffers to %zu bytes, %ld rounds, %lu reallocs: ok\n",
	       nbufs, final, rounds, reallocs);
	free(bufs);
	return 0;
}
