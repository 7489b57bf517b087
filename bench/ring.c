/*
 * ring: the allocation pattern of the SmartHeap benchmark sh6bench (the
 * one where version 1 of libmm had its worst footprint), written anew.
 * Each thread keeps a ring of SLOTS pointers and walks the sizes in
 * waves: a base size grows by half again from 1 to MAX, and from each
 * base the size halves down to 1; small sizes come many times (250 below
 * 100 bytes, 50 below 1000, 10 below 10000, else once).  Every block goes
 * into the next slot of the ring.  When the ring is full it is emptied
 * but for a window of a fifth of it, which survives one more turn: the
 * part below the window is freed in the order it was allocated, the part
 * above in reverse.  So long-lived survivors sit among short-lived blocks
 * of every size, and freed space must serve the next wave's other sizes.
 *
 *   ring THREADS WAVES SLOTS MAX [SEED]
 *
 * Every block is filled with a tag and checked before it is freed.
 */
#include "bench.h"

static long waves;
static size_t nslots, max_size;
static uint64_t seed;

struct slot {
	void *p;
	size_t size;
	uint64_t tag;
};

static unsigned repeats(size_t size)
{
	unsigned n = size < 10000 ? 10 : 1;

	if (size < 1000)
		n *= 5;
	if (size < 100)
		n *= 5;
	return n;
}

static void drop(struct slot *s)
{
	if (!bench_check(s->p, s->size, s->tag))
		bench_fail("ring: block %p of %zu bytes corrupted", s->p, s->size);
	free(s->p);
	s->p = NULL;
}

static void *worker(void *arg)
{
	struct slot *ring = calloc(nslots, sizeof *ring);
	size_t at = 0, keep_lo = nslots, keep_hi = nslots;
	uint64_t n = 0, id = (uint64_t)(uintptr_t)arg;

	if (!ring)
		bench_fail("ring: no memory for the ring");
	for (long w = 0; w < waves; w++)
		for (size_t base = 1; base < max_size; base = base * 3 / 2 + 1)
			for (size_t size = base; size; size /= 2)
				for (unsigned k = repeats(size); k; k--) {
					struct slot *s = &ring[at];

					s->size = size;
					s->tag = bench_tag(id, n++, seed);
					s->p = bench_malloc(size);
					bench_fill(s->p, size, s->tag);
					if (++at == keep_lo)
						at = keep_hi;
					if (at < nslots)
						continue;
					/* full: a new window survives, the rest goes */
					keep_lo = keep_hi < nslots ? keep_hi : 0;
					keep_hi = keep_lo + nslots / 5;
					if (keep_hi > nslots)
						keep_hi = nslots;
					for (at = 0; at < keep_lo; at++)
						drop(&ring[at]);
					for (at = nslots; at > keep_hi; at--)
						drop(&ring[at - 1]);
					at = keep_lo ? 0 : keep_hi;
				}
	for (size_t i = 0; i < nslots; i++)
		if (ring[i].p)
			drop(&ring[i]);
	free(ring);
	return NULL;
}

int main(int argc, char **argv)
{
	static const char usage[] = "THREADS WAVES SLOTS MAX [SEED]";
	long nthreads = bench_arg(argc, argv, 1, 2, usage);
	pthread_t *tid;

	waves = bench_arg(argc, argv, 2, 20, usage);
	nslots = (size_t)bench_arg(argc, argv, 3, 20000, usage);
	max_size = (size_t)bench_arg(argc, argv, 4, 1000, usage);
	seed = (uint64_t)bench_arg(argc, argv, 5, 7, usage);
	if (nslots < 5)
		bench_fail("ring: SLOTS must be at least 5");
	tid = calloc((size_t)nthreads, sizeof *tid);
	if (!tid)
		bench_fail("ring: out of memory");
	for (long t = 0; t < nthreads; t++)
		bench_thread(&tid[t], worker, (void *)(uintptr_t)(t + 1));
	for (long t = 0; t < nthreads; t++)
		pthread_join(tid[t], NULL);
	printf("ring: %ld threads, %ld waves, %zu slots, sizes 1..%zu: ok\n",
	       nthreads, waves, nslots, max_size);
	free(tid);
	return 0;
}
