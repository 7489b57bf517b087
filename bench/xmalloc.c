/*
 * xmalloc: producers and consumers, in the manner of the xmalloc-test
 * benchmark.  Producer threads allocate blocks and pass them, in batches
 * through a bounded queue, to consumer threads that check and free them:
 * every free is remote, and memory flows one way between threads, which
 * an allocator with per-thread pools must send back or lose.
 *
 *   xmalloc PAIRS OBJECTS BATCH MIN MAX
 *
 * PAIRS producers and as many consumers; each producer makes OBJECTS blocks
 * with sizes uniform in [MIN, MAX], BATCH to a batch.  The consumers count
 * what they free; the total must come out exactly.
 */
#include <pthread.h>

#include "bench.h"

#define QUEUE_MAX 64	/* batches in flight, to bound the live set */

struct item {
	void *p;
	size_t size;
	uint64_t tag;
};

struct batch {
	struct batch *next;
	long n;
	struct item items[];	/* allocated by the producer, too */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_empty = PTHREAD_COND_INITIALIZER;
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER;
static struct batch *head, *tail;
static long queued, producers_left;

static long nobjects, batch_size;
static size_t min_size, max_size;

static void push(struct batch *b)
{
	pthread_mutex_lock(&lock);
	while (queued >= QUEUE_MAX)
		pthread_cond_wait(&not_full, &lock);
	b->next = NULL;
	if (tail)
		tail->next = b;
	else
		head = b;
	tail = b;
	queued++;
	pthread_cond_signal(&not_empty);
	pthread_mutex_unlock(&lock);
}

/* NULL once the queue is empty and every producer has finished. */
static struct batch *pop(void)
{
	struct batch *b;

	pthread_mutex_lock(&lock);
	while (!head && producers_left > 0)
		pthread_cond_wait(&not_empty, &lock);
	b = head;
	if (b) {
		head = b->next;
		if (!head)
			tail = NULL;
		queued--;
		pthread_cond_signal(&not_full);
	}
	pthread_mutex_unlock(&lock);
	return b;
}

static void *produce(void *arg)
{
	uint64_t id = (uint64_t)(uintptr_t)arg;
	uint64_t rng = 1000 + id;
	long made = 0, n, i;
	struct batch *b;

	while (made < nobjects) {
		n = nobjects - made < batch_size ? nobjects - made : batch_size;
		b = bench_malloc(sizeof *b + (size_t)n * sizeof(struct item));
		b->n = n;
		for (i = 0; i < n; i++) {
			struct item *it = &b->items[i];

			it->size = bench_range(&rng, min_size, max_size);
			it->tag = bench_tag(id, (uint64_t)(made + i), it->size);
			it->p = bench_malloc(it->size);
			bench_fill(it->p, it->size, it->tag);
		}
		made += n;
		push(b);
	}
	pthread_mutex_lock(&lock);
	if (--producers_left == 0)
		pthread_cond_broadcast(&not_empty);
	pthread_mutex_unlock(&lock);
	return NULL;
}

static void *consume(void *arg)
{
	long *freed = arg, i;
	struct batch *b;

	while ((b = pop()) != NULL) {
		for (i = 0; i < b->n; i++) {
			struct item *it = &b->items[i];

			if (!bench_check(it->p, it->size, it->tag))
				bench_fail("xmalloc: block %p (%zu bytes) corrupted",
					   it->p, it->size);
			free(it->p);
		}
		*freed += b->n;
		free(b);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	static const char usage[] = "PAIRS OBJECTS BATCH MIN MAX";
	long pairs = bench_arg(argc, argv, 1, 2, usage);
	pthread_t *tid;
	long *freed, total = 0, t;

	nobjects = bench_arg(argc, argv, 2, 1000000, usage);
	batch_size = bench_arg(argc, argv, 3, 100, usage);
	min_size = (size_t)bench_arg(argc, argv, 4, 8, usage);
	max_size = (size_t)bench_arg(argc, argv, 5, 256, usage);
	if (max_size < min_size)
		bench_fail("xmalloc: MAX < MIN");

	tid = calloc((size_t)(2 * pairs), sizeof *tid);
	freed = calloc((size_t)pairs, sizeof *freed);
	if (!tid || !freed)
		bench_fail("xmalloc: out of memory");
	producers_left = pairs;
	for (t = 0; t < pairs; t++) {
		bench_thread(&tid[t], produce, (void *)(uintptr_t)t);
		bench_thread(&tid[pairs + t], consume, &freed[t]);
	}
	for (t = 0; t < 2 * pairs; t++)
		pthread_join(tid[t], NULL);
	for (t = 0; t < pairs; t++)
		total += freed[t];
	if (total != pairs * nobjects)
		bench_fail("xmalloc: %ld blocks freed, %ld made", total, pairs * nobjects);
	printf("xmalloc: %ld producers, %ld blocks passed and freed: ok\n", pairs, total);
	free(tid);
	free(freed);
	return 0;
}
