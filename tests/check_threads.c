/*
 * check_threads: every function is thread safe on the default heap and on
 * locked heaps.
 *
 * Worker threads never call Check (it is not thread safe); they count what
 * went wrong in a shared record and the test thread asserts on it after
 * joining.  Every block carries a pattern derived from a per-thread seed and
 * is verified before it is freed or reallocated, so two threads handed
 * overlapping memory, or a block changed behind its owner's back, show up as
 * a damaged pattern.
 *
 * Loop tests run over four heap kinds: the default heap through mm_malloc
 * and friends, mm_heap_create(0), MM_FIT_FIRST and MM_FIT_BEST.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libmm.h"
#include "testutil.h"

#define NTHREADS 6
#define KIB ((size_t)1024)

/* --- failures reported by workers --------------------------------------- */

static atomic_uint n_errors;
static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;
static char first_error[256];

static void fail_at(const char *what, unsigned tid, size_t size)
{
	if (atomic_fetch_add(&n_errors, 1) == 0) {
		pthread_mutex_lock(&err_lock);
		snprintf(first_error, sizeof first_error,
			"thread %u: %s (size %zu)", tid, what, size);
		pthread_mutex_unlock(&err_lock);
	}
}

static void reset_errors(void)
{
	atomic_store(&n_errors, 0);
	first_error[0] = '\0';
}

static void assert_no_errors(void)
{
	unsigned n = atomic_load(&n_errors);

	ck_assert_msg(n == 0, "%u errors in worker threads, first: %s", n,
		first_error);
}

/* --- random numbers, one generator per thread --------------------------- */

static uint64_t rnd(uint64_t *s)
{
	/* xorshift64* */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static uint64_t seed_for(unsigned tid, unsigned salt)
{
	return 0x9e3779b97f4a7c15ull * (tid + 1) + salt * 0x1000193ull + 1;
}

/*
 * Mostly small sizes, log-uniform 16 B..2 KiB; one in ten up to 64 KiB; one
 * in a hundred from the 128 KiB mmap threshold up.  Small enough on average
 * that filling and checking every byte stays cheap under valgrind.
 */
static size_t random_size(uint64_t *s)
{
	uint64_t r = rnd(s);
	unsigned kind = (unsigned)(r % 100);

	r >>= 8;
	if (kind < 1)
		return 128 * KIB - 64 + (size_t)(r % (128 * KIB));
	if (kind < 10) {
		size_t lo = 1 * KIB;
		return lo + (size_t)(r % (64 * KIB - lo + 1));
	}
	unsigned shift = 4 + (unsigned)(r % 7);	/* 16 B .. 2 KiB */
	size_t base = (size_t)1 << shift;
	return base + (size_t)((r >> 4) % base);
}

/* --- heap kinds --------------------------------------------------------- */

enum { K_DEFAULT, K_GOOD, K_FIRST, K_BEST, NKINDS };

static const unsigned kind_flags[NKINDS] = {
	0, 0, MM_FIT_FIRST, MM_FIT_BEST
};
static const char *const kind_name[NKINDS] = {
	"default heap", "mm_heap_create(0)", "MM_FIT_FIRST", "MM_FIT_BEST"
};

/* NULL for the default heap, which is then used through mm_malloc & co. */
static mm_heap_t *open_heap(int kind)
{
	if (kind == K_DEFAULT)
		return NULL;
	mm_heap_t *h = mm_heap_create(kind_flags[kind]);
	ck_assert_msg(h != NULL, "mm_heap_create(%s) failed", kind_name[kind]);
	return h;
}

static void *h_malloc(mm_heap_t *h, size_t n)
{
	return h ? mm_heap_malloc(h, n) : mm_malloc(n);
}

static void *h_calloc(mm_heap_t *h, size_t m, size_t n)
{
	return h ? mm_heap_calloc(h, m, n) : mm_calloc(m, n);
}

static void *h_aligned(mm_heap_t *h, size_t a, size_t n)
{
	return h ? mm_heap_aligned_alloc(h, a, n) : mm_aligned_alloc(a, n);
}

static void *h_realloc(mm_heap_t *h, void *p, size_t n)
{
	return h ? mm_heap_realloc(h, p, n) : mm_realloc(p, n);
}

static void h_free(mm_heap_t *h, void *p)
{
	if (h)
		mm_heap_free(h, p);
	else
		mm_free(p);
}

static size_t in_use_blocks(mm_heap_t *h)
{
	mm_stats_t st;

	memset(&st, 0, sizeof st);
	ck_assert_int_eq(mm_heap_stats(h, &st, sizeof st), 0);
	return st.in_use_blocks;
}

/* What a test records before starting threads on a heap. */
struct heap_test {
	int kind;
	mm_heap_t *heap;
	size_t blocks_before;
};

static void heap_test_begin(struct heap_test *t, int kind)
{
	reset_errors();
	t->kind = kind;
	t->heap = open_heap(kind);
	t->blocks_before = in_use_blocks(t->heap);
	if (t->heap)
		ck_assert_uint_eq(t->blocks_before, 0);
}

/* After joining: no worker errors, heap consistent, no block left over. */
static void heap_test_end(struct heap_test *t)
{
	assert_no_errors();
	ck_assert_msg(mm_heap_check(t->heap) == 0, "%s corrupt after threads",
		kind_name[t->kind]);
	ck_assert_uint_eq(in_use_blocks(t->heap), t->blocks_before);
	if (t->heap)
		mm_heap_destroy(t->heap);
}

static void start_threads(pthread_t *th, unsigned n, void *(*fn)(void *),
	void *args, size_t arg_size)
{
	for (unsigned i = 0; i < n; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, fn,
			(char *)args + i * arg_size), 0);
}

static void join_threads(pthread_t *th, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
}

/* --- 1. random allocations, each thread on its own blocks ---------------- */

#define SLOTS 32

struct slot {
	void *p;
	size_t size;
	unsigned seed;
};

struct worker {
	mm_heap_t *heap;
	unsigned tid;
	unsigned ops;
	unsigned salt;
};

/* Allocate into an empty slot with malloc, calloc or aligned_alloc. */
static void slot_alloc(struct worker *w, uint64_t *rs, struct slot *s,
	unsigned seed)
{
	size_t size = random_size(rs);
	unsigned how = (unsigned)(rnd(rs) % 8);
	void *p;

	if (how == 0) {
		size_t m = 1 + size / 64;
		p = h_calloc(w->heap, m, 64);
		size = m * 64;
		if (p && !tu_is_zero(p, size))
			fail_at("calloc memory not zero", w->tid, size);
	} else if (how == 1) {
		size_t a = (size_t)16 << (rnd(rs) % 9);	/* 16 .. 4096 */
		p = h_aligned(w->heap, a, size);
		if (p && !tu_aligned(p, a))
			fail_at("aligned_alloc misaligned", w->tid, a);
	} else {
		p = h_malloc(w->heap, size);
	}
	if (p == NULL) {
		fail_at("allocation failed", w->tid, size);
		return;
	}
	if (!tu_aligned(p, 16))
		fail_at("block not 16-aligned", w->tid, size);
	if (mm_usable_size(p) < size)
		fail_at("usable size below request", w->tid, size);
	tu_fill(p, size, seed);
	s->p = p;
	s->size = size;
	s->seed = seed;
}

/* Grow or shrink a slot's block; the common prefix must survive. */
static void slot_realloc(struct worker *w, uint64_t *rs, struct slot *s,
	unsigned seed)
{
	size_t size = random_size(rs);
	void *q = h_realloc(w->heap, s->p, size);

	if (q == NULL) {
		fail_at("realloc failed", w->tid, size);
		return;		/* the old block is still the slot's */
	}
	size_t keep = size < s->size ? size : s->size;
	if (!tu_check(q, keep, s->seed))
		fail_at("realloc lost contents", w->tid, size);
	if (!tu_aligned(q, 16))
		fail_at("realloc result not 16-aligned", w->tid, size);
	tu_fill(q, size, seed);
	s->p = q;
	s->size = size;
	s->seed = seed;
}

static void slot_release(struct worker *w, struct slot *s)
{
	if (!tu_check(s->p, s->size, s->seed))
		fail_at("pattern damaged", w->tid, s->size);
	h_free(w->heap, s->p);
	s->p = NULL;
}

static void *random_worker(void *arg)
{
	struct worker *w = arg;
	struct slot slots[SLOTS];
	uint64_t rs = seed_for(w->tid, w->salt);

	memset(slots, 0, sizeof slots);
	for (unsigned op = 0; op < w->ops; op++) {
		struct slot *s = &slots[rnd(&rs) % SLOTS];
		unsigned seed = w->tid * 1000003u + op;

		if (s->p == NULL) {
			slot_alloc(w, &rs, s, seed);
			continue;
		}
		if (!tu_check(s->p, s->size, s->seed))
			fail_at("pattern damaged", w->tid, s->size);
		if (rnd(&rs) % 3 == 0)
			slot_realloc(w, &rs, s, seed);
		else
			slot_release(w, s);
	}
	for (unsigned i = 0; i < SLOTS; i++)
		if (slots[i].p)
			slot_release(w, &slots[i]);
	return NULL;
}

static void run_random_workers(mm_heap_t *h, unsigned n, unsigned ops,
	unsigned salt)
{
	pthread_t th[NTHREADS];
	struct worker w[NTHREADS];

	for (unsigned i = 0; i < n; i++)
		w[i] = (struct worker){ .heap = h, .tid = i, .ops = ops,
			.salt = salt };
	start_threads(th, n, random_worker, w, sizeof w[0]);
	join_threads(th, n);
}

START_TEST(test_random_ops)
{
	struct heap_test t;

	heap_test_begin(&t, _i);
	run_random_workers(t.heap, NTHREADS, 1500, 1);
	heap_test_end(&t);
}
END_TEST

/* --- 2. blocks freed by a thread that did not allocate them -------------- */

#define NPRODUCERS 3
#define NCONSUMERS 3
#define PER_PRODUCER 800
#define QCAP 64

struct item {
	void *p;
	size_t size;
	unsigned seed;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t not_empty, not_full;
	struct item q[QCAP];
	unsigned head, count;
} queue = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.not_empty = PTHREAD_COND_INITIALIZER,
	.not_full = PTHREAD_COND_INITIALIZER,
};

static atomic_uint consumed;

static void q_push(struct item it)
{
	pthread_mutex_lock(&queue.lock);
	while (queue.count == QCAP)
		pthread_cond_wait(&queue.not_full, &queue.lock);
	queue.q[(queue.head + queue.count) % QCAP] = it;
	queue.count++;
	pthread_cond_signal(&queue.not_empty);
	pthread_mutex_unlock(&queue.lock);
}

static struct item q_pop(void)
{
	pthread_mutex_lock(&queue.lock);
	while (queue.count == 0)
		pthread_cond_wait(&queue.not_empty, &queue.lock);
	struct item it = queue.q[queue.head];
	queue.head = (queue.head + 1) % QCAP;
	queue.count--;
	pthread_cond_signal(&queue.not_full);
	pthread_mutex_unlock(&queue.lock);
	return it;
}

static void *producer(void *arg)
{
	struct worker *w = arg;
	uint64_t rs = seed_for(w->tid, 2);

	for (unsigned i = 0; i < w->ops; i++) {
		struct item it = { .size = random_size(&rs),
			.seed = w->tid * 7919u + i * 31u };

		it.p = h_malloc(w->heap, it.size);
		if (it.p == NULL) {
			fail_at("producer allocation failed", w->tid, it.size);
			continue;
		}
		tu_fill(it.p, it.size, it.seed);
		q_push(it);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct worker *w = arg;
	uint64_t rs = seed_for(w->tid, 3);

	for (;;) {
		struct item it = q_pop();

		if (it.p == NULL)	/* end of stream */
			return NULL;
		if (!tu_check(it.p, it.size, it.seed))
			fail_at("consumer found the pattern damaged", w->tid,
				it.size);
		unsigned how = (unsigned)(rnd(&rs) % 4);
		if (how == 0) {
			/* Reallocate someone else's block, then free it. */
			size_t n = random_size(&rs);
			void *q = h_realloc(w->heap, it.p, n);
			if (q == NULL) {
				fail_at("consumer realloc failed", w->tid, n);
			} else {
				size_t keep = n < it.size ? n : it.size;
				if (!tu_check(q, keep, it.seed))
					fail_at("realloc in consumer lost "
						"contents", w->tid, n);
				tu_fill(q, n, it.seed + 1);
				it.p = q;
			}
		}
		/* mm_free finds the owning heap of an explicit heap's block. */
		if (how == 1 || w->heap == NULL)
			mm_free(it.p);
		else
			mm_heap_free(w->heap, it.p);
		atomic_fetch_add(&consumed, 1);
	}
}

START_TEST(test_cross_thread_free)
{
	struct heap_test t;
	pthread_t pt[NPRODUCERS], ct[NCONSUMERS];
	struct worker pw[NPRODUCERS], cw[NCONSUMERS];

	heap_test_begin(&t, _i);
	atomic_store(&consumed, 0);
	queue.head = queue.count = 0;
	for (unsigned i = 0; i < NPRODUCERS; i++)
		pw[i] = (struct worker){ .heap = t.heap, .tid = i,
			.ops = PER_PRODUCER };
	for (unsigned i = 0; i < NCONSUMERS; i++)
		cw[i] = (struct worker){ .heap = t.heap, .tid = 100 + i };
	start_threads(ct, NCONSUMERS, consumer, cw, sizeof cw[0]);
	start_threads(pt, NPRODUCERS, producer, pw, sizeof pw[0]);
	join_threads(pt, NPRODUCERS);
	for (unsigned i = 0; i < NCONSUMERS; i++)
		q_push((struct item){ .p = NULL });
	join_threads(ct, NCONSUMERS);

	ck_assert_uint_eq(atomic_load(&consumed), NPRODUCERS * PER_PRODUCER);
	ck_assert_uint_eq(queue.count, 0);
	heap_test_end(&t);
}
END_TEST

/* --- 3. mm_realloc under contention, on blocks shared between threads ---- */

#define SHARED 48

static struct shared_slot {
	pthread_mutex_t lock;	/* guards the slot, not the heap */
	void *p;
	size_t size;
	unsigned seed;
} shared[SHARED];

static void *realloc_worker(void *arg)
{
	struct worker *w = arg;
	uint64_t rs = seed_for(w->tid, 4);

	for (unsigned op = 0; op < w->ops; op++) {
		struct shared_slot *s = &shared[rnd(&rs) % SHARED];
		int grow = rnd(&rs) % 4 == 0;
		size_t n = random_size(&rs);
		unsigned seed = w->tid * 65537u + op;

		pthread_mutex_lock(&s->lock);
		/* Some blocks double until past the mmap threshold. */
		if (grow)
			n = s->size * 2 + 1;
		if (n > 512 * KIB)
			n = 16 + n % 256;
		if (!tu_check(s->p, s->size, s->seed))
			fail_at("shared block damaged", w->tid, s->size);
		void *q = h_realloc(w->heap, s->p, n);
		if (q == NULL) {
			fail_at("realloc failed", w->tid, n);
		} else {
			size_t keep = n < s->size ? n : s->size;
			if (!tu_check(q, keep, s->seed))
				fail_at("realloc lost contents", w->tid, n);
			if (!tu_aligned(q, 16))
				fail_at("realloc misaligned", w->tid, n);
			tu_fill(q, n, seed);
			s->p = q;
			s->size = n;
			s->seed = seed;
		}
		pthread_mutex_unlock(&s->lock);
	}
	return NULL;
}

START_TEST(test_realloc_contention)
{
	struct heap_test t;
	pthread_t th[NTHREADS];
	struct worker w[NTHREADS];

	heap_test_begin(&t, _i);
	for (unsigned i = 0; i < SHARED; i++) {
		pthread_mutex_init(&shared[i].lock, NULL);
		shared[i].size = 16 + i * 40;
		shared[i].seed = 5000 + i;
		shared[i].p = h_malloc(t.heap, shared[i].size);
		ck_assert_ptr_nonnull(shared[i].p);
		tu_fill(shared[i].p, shared[i].size, shared[i].seed);
	}
	for (unsigned i = 0; i < NTHREADS; i++)
		w[i] = (struct worker){ .heap = t.heap, .tid = i, .ops = 1000 };
	start_threads(th, NTHREADS, realloc_worker, w, sizeof w[0]);
	join_threads(th, NTHREADS);

	for (unsigned i = 0; i < SHARED; i++) {
		ck_assert_msg(tu_check(shared[i].p, shared[i].size,
			shared[i].seed), "shared block %u damaged", i);
		/* Shrink to nothing: mm_realloc(p, 0) frees. */
		void *z = h_realloc(t.heap, shared[i].p, 0);
		ck_assert_ptr_null(z);
		shared[i].p = NULL;
		pthread_mutex_destroy(&shared[i].lock);
	}
	heap_test_end(&t);
}
END_TEST

/* --- 4. introspection while other threads allocate ----------------------- */

/*
 * A side thread runs alongside the workers.  It completes one round before
 * the workers are started (so the count cannot come out 0 just because the
 * scheduler ran it late) and keeps going until they have finished.
 */
static atomic_int workers_done;
static atomic_uint side_rounds;

static void wait_first_round(void)
{
	while (atomic_load(&side_rounds) == 0)
		sched_yield();
}

/* Between two rounds of a side thread: under valgrind, whose threads run
 * one at a time, a thread that takes a heap's locks again at once can
 * starve the workers for minutes (one CI run took 478 s for this file). */
static void side_pause(void)
{
	struct timespec ts = { 0, 50000 };	/* 50 us */

	nanosleep(&ts, NULL);
}

struct inspector {
	mm_heap_t *heap;
	unsigned check_failures, walk_failures, stats_failures;
};

static int count_block(void *block, size_t size, int in_use, void *arg)
{
	size_t *n = arg;

	(void)size;
	(void)in_use;
	if (block == NULL || !tu_aligned(block, 16))
		return 1;
	(*n)++;
	return 0;
}

static void *inspector_thread(void *arg)
{
	struct inspector *in = arg;

	do {
		size_t n = 0;
		mm_stats_t st;

		if (mm_heap_check(in->heap) != 0)
			in->check_failures++;
		if (mm_heap_walk(in->heap, count_block, &n) != 0)
			in->walk_failures++;
		if (mm_heap_stats(in->heap, &st, sizeof st) != 0
		    || st.in_use_bytes > st.peak_in_use_bytes
		    || st.os_bytes > st.peak_os_bytes)
			in->stats_failures++;
		atomic_fetch_add(&side_rounds, 1);
		side_pause();
	} while (!atomic_load(&workers_done));
	return NULL;
}

START_TEST(test_check_during_ops)
{
	struct heap_test t;
	pthread_t it;
	struct inspector in = { 0 };

	heap_test_begin(&t, _i);
	in.heap = t.heap;
	atomic_store(&workers_done, 0);
	atomic_store(&side_rounds, 0);
	ck_assert_int_eq(pthread_create(&it, NULL, inspector_thread, &in), 0);
	wait_first_round();
	run_random_workers(t.heap, NTHREADS - 2, 800, 5);
	atomic_store(&workers_done, 1);
	ck_assert_int_eq(pthread_join(it, NULL), 0);

	unsigned rounds = atomic_load(&side_rounds);
	ck_assert_msg(in.check_failures == 0,
		"mm_heap_check failed %u of %u times under load",
		in.check_failures, rounds);
	ck_assert_uint_eq(in.walk_failures, 0);
	ck_assert_uint_eq(in.stats_failures, 0);
	heap_test_end(&t);
}
END_TEST

/* --- 5. mm_trim while other threads use the memory ----------------------- */

static void *trim_thread(void *arg)
{
	(void)arg;
	do {
		int r = mm_trim(0);
		if (r != 0 && r != 1)
			fail_at("mm_trim returned neither 0 nor 1", 99,
				(size_t)r);
		atomic_fetch_add(&side_rounds, 1);
		side_pause();
	} while (!atomic_load(&workers_done));
	return NULL;
}

START_TEST(test_trim_during_ops)
{
	struct heap_test t;
	pthread_t tt;

	heap_test_begin(&t, _i);
	atomic_store(&workers_done, 0);
	atomic_store(&side_rounds, 0);
	ck_assert_int_eq(pthread_create(&tt, NULL, trim_thread, NULL), 0);
	wait_first_round();
	run_random_workers(t.heap, NTHREADS - 2, 800, 6);
	atomic_store(&workers_done, 1);
	ck_assert_int_eq(pthread_join(tt, NULL), 0);
	heap_test_end(&t);
}
END_TEST

/* --- 6. heaps created and destroyed while others allocate --------------- */

static void *heap_churn_worker(void *arg)
{
	struct worker *w = arg;
	uint64_t rs = seed_for(w->tid, 7);
	void *v[24];
	size_t sz[24];

	for (unsigned round = 0; round < w->ops; round++) {
		mm_heap_t *h = mm_heap_create(kind_flags[1 + round % 3]);
		if (h == NULL) {
			fail_at("mm_heap_create failed", w->tid, round);
			continue;
		}
		for (unsigned i = 0; i < 24; i++) {
			sz[i] = random_size(&rs);
			v[i] = mm_heap_malloc(h, sz[i]);
			if (v[i] == NULL) {
				fail_at("allocation in new heap failed",
					w->tid, sz[i]);
				sz[i] = 0;
				continue;
			}
			tu_fill(v[i], sz[i], round * 24 + i);
		}
		/* Half freed through mm_free, which must find heap h among
		 * heaps that other threads are creating and destroying. */
		for (unsigned i = 0; i < 24; i += 2) {
			if (v[i] && !tu_check(v[i], sz[i], round * 24 + i))
				fail_at("block in churned heap damaged",
					w->tid, sz[i]);
			mm_free(v[i]);
		}
		for (unsigned i = 1; i < 24; i += 2)
			if (v[i] && !tu_check(v[i], sz[i], round * 24 + i))
				fail_at("block in churned heap damaged",
					w->tid, sz[i]);
		if (mm_heap_check(h) != 0)
			fail_at("churned heap corrupt", w->tid, round);
		mm_heap_destroy(h);	/* with the odd blocks still live */
	}
	return NULL;
}

START_TEST(test_heap_churn)
{
	enum { CHURNERS = 3, USERS = 3 };
	pthread_t ct[CHURNERS], ut[USERS];
	struct worker cw[CHURNERS], uw[USERS];
	size_t before = in_use_blocks(NULL);

	reset_errors();
	for (unsigned i = 0; i < CHURNERS; i++)
		cw[i] = (struct worker){ .tid = 200 + i, .ops = 60 };
	for (unsigned i = 0; i < USERS; i++)
		uw[i] = (struct worker){ .heap = NULL, .tid = 300 + i,
			.ops = 1000, .salt = 8 };
	start_threads(ct, CHURNERS, heap_churn_worker, cw, sizeof cw[0]);
	start_threads(ut, USERS, random_worker, uw, sizeof uw[0]);
	join_threads(ct, CHURNERS);
	join_threads(ut, USERS);

	assert_no_errors();
	ck_assert_int_eq(mm_heap_check(NULL), 0);
	ck_assert_uint_eq(in_use_blocks(NULL), before);
}
END_TEST

/*
 * A break heap grows and shrinks by whole mebibytes (mmap threshold 0: the
 * big blocks stay in the heap) while other threads free, reallocate and
 * ask the size of small live blocks in the same region.  Each move of the
 * region's end must look like one change to their lock-free lookups: in
 * db23739 a lookup between the two halves of a move said "invalid
 * pointer".  Bounded: a fixed number of rounds.  The window was a few
 * instructions wide, so this stress run catches it only now and then on a
 * quiet machine; tests/check_pagemap stops a writer inside a growth and
 * catches it every time.
 */
struct moving {
	mm_heap_t *heap;
	atomic_int stop;
};

static void *small_user(void *arg)
{
	struct moving *m = arg;
	void *mine[16];
	unsigned tid = 7;

	for (int i = 0; i < 16; i++) {
		mine[i] = mm_heap_malloc(m->heap, 48);
		if (!mine[i]) {
			fail_at("malloc(48)", tid, 48);
			return NULL;
		}
		tu_fill(mine[i], 48, (unsigned)i);
	}
	for (unsigned round = 0; !atomic_load(&m->stop); round++) {
		int i = (int)(round % 16);
		/* mostly lookups: the race is in them */
		if (round % 8) {
			if (mm_usable_size(mine[i]) < 48)
				fail_at("usable size wrong", tid, 48);
			continue;
		}
		if (mm_usable_size(mine[i]) < 48 || !tu_check(mine[i], 48, (unsigned)i)) {
			fail_at("block changed or size wrong", tid, 48);
			break;
		}
		mm_heap_free(m->heap, mine[i]);
		mine[i] = mm_heap_malloc(m->heap, 48);
		if (!mine[i]) {
			fail_at("malloc(48)", tid, 48);
			break;
		}
		tu_fill(mine[i], 48, (unsigned)i);
	}
	for (int i = 0; i < 16; i++)
		if (mine[i])
			mm_heap_free(m->heap, mine[i]);
	return NULL;
}

START_TEST(test_break_moves_under_lookups)
{
	struct moving m = { 0 };
	pthread_t t[2];

	reset_errors();
	m.heap = mm_heap_create(MM_SOURCE_BRK);
	ck_assert_ptr_nonnull(m.heap);
	ck_assert_int_eq(mm_heap_set_option(m.heap, MM_OPT_MMAP_THRESHOLD, 0), 0);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, small_user, &m), 0);
	for (int round = 0; round < 400; round++) {
		void *big = mm_heap_malloc(m.heap, (size_t)(1 + round % 3) * 1024 * KIB);
		ck_assert_ptr_nonnull(big);
		tu_fill(big, 256, (unsigned)round);
		ck_assert(tu_check(big, 256, (unsigned)round));
		mm_heap_free(m.heap, big);
	}
	atomic_store(&m.stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	assert_no_errors();
	ck_assert_int_eq(mm_heap_check(m.heap), 0);
	mm_heap_destroy(m.heap);
}
END_TEST

/* --- 7. the set of live heaps, growing and churning under lookups -------- */

/*
 * Every mm_heap_* call looks its handle up in libmm's set of live heaps,
 * without a lock, while other threads add and remove heaps.  Churners
 * create batches of heaps and pools at once (so the set grows while it is
 * read, from its first table to several times that), use and verify them,
 * and destroy them in a shuffled order (tombstones, reuse, rehashing).
 * Meanwhile users create a heap and a pool of their own and allocate from
 * them non-stop: a lookup that lost a live heap would abort the process.
 * At the end every heap is destroyed, and the last handles destroyed must
 * each be refused with exactly "libmm: fatal: invalid heap 0x<addr>".
 */
#define SET_CHURNERS 3
#define SET_USERS 3
#define SET_BATCH 48
#define SET_ROUNDS 24
#define SET_POOL_LEN (16 * KIB)
#define SET_DEAD_KEEP 16

static atomic_int set_churn_done;

struct set_churner {
	unsigned tid;
	unsigned char *pool_mem;	/* SET_BATCH / 2 pools' buffers */
	mm_heap_t *dead[SET_DEAD_KEEP];	/* its last destroyed mmap heaps */
	unsigned ndead;
};

static void *set_churn_worker(void *arg)
{
	struct set_churner *c = arg;
	uint64_t rs = seed_for(c->tid, 9);
	mm_heap_t *h[SET_BATCH];
	void *p[SET_BATCH];
	size_t sz[SET_BATCH];
	unsigned order[SET_BATCH];

	for (unsigned round = 0; round < SET_ROUNDS; round++) {
		for (unsigned i = 0; i < SET_BATCH; i++) {
			if (i % 2)
				h[i] = mm_heap_create_in(c->pool_mem + (i / 2) *
					SET_POOL_LEN, SET_POOL_LEN, 0);
			else
				h[i] = mm_heap_create(kind_flags[1 + i / 2 % 3]);
			p[i] = NULL;
			if (h[i] == NULL) {
				fail_at("heap creation failed", c->tid, i);
				continue;
			}
			sz[i] = 16 + (size_t)(rnd(&rs) % 2000);
			p[i] = mm_heap_malloc(h[i], sz[i]);
			if (p[i] == NULL) {
				fail_at("allocation in new heap failed",
					c->tid, sz[i]);
				continue;
			}
			tu_fill(p[i], sz[i], round * SET_BATCH + i);
		}
		for (unsigned i = 0; i < SET_BATCH; i++) {
			if (!h[i])
				continue;
			if (p[i] && !tu_check(p[i], sz[i], round * SET_BATCH + i))
				fail_at("block in new heap damaged", c->tid, i);
			if (mm_heap_check(h[i]) != 0)
				fail_at("new heap corrupt", c->tid, i);
			order[i] = i;
		}
		for (unsigned i = SET_BATCH - 1; i > 0; i--) {
			unsigned j = (unsigned)(rnd(&rs) % (i + 1)), t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
		for (unsigned k = 0; k < SET_BATCH; k++) {
			unsigned i = order[k];
			if (!h[i])
				continue;
			if (k % 2 && p[i])
				mm_heap_free(h[i], p[i]);
			mm_heap_destroy(h[i]);
			if (i % 2 == 0)
				c->dead[c->ndead++ % SET_DEAD_KEEP] = h[i];
		}
	}
	return NULL;
}

struct set_user {
	unsigned tid;
	unsigned char pool_mem[64 * KIB];
	mm_heap_t *heap, *pool;
	unsigned rounds;
};

/* Small blocks in a pool, each checked before it goes. */
static void pool_round(struct set_user *u, uint64_t *rs, unsigned round)
{
	void *v[32];
	size_t sz[32];

	for (unsigned i = 0; i < 32; i++) {
		sz[i] = 1 + (size_t)(rnd(rs) % 700);
		v[i] = mm_heap_malloc(u->pool, sz[i]);
		if (v[i] == NULL) {
			fail_at("pool allocation failed", u->tid, sz[i]);
			continue;
		}
		tu_fill(v[i], sz[i], round * 32 + i);
	}
	for (unsigned i = 0; i < 32; i++) {
		if (!v[i])
			continue;
		if (!tu_check(v[i], sz[i], round * 32 + i))
			fail_at("pool block damaged", u->tid, sz[i]);
		mm_heap_free(u->pool, v[i]);
	}
}

static void *set_user_worker(void *arg)
{
	struct set_user *u = arg;
	uint64_t rs = seed_for(u->tid, 10);

	u->heap = mm_heap_create(0);
	u->pool = mm_heap_create_in(u->pool_mem, sizeof u->pool_mem, MM_FIT_BEST);
	if (!u->heap || !u->pool) {
		fail_at("user heap creation failed", u->tid, 0);
		return NULL;
	}
	do {
		struct worker w = { .heap = u->heap, .tid = u->tid, .ops = 200,
			.salt = 10 + u->rounds };
		random_worker(&w);
		pool_round(u, &rs, u->rounds);
		u->rounds++;
	} while (!atomic_load(&set_churn_done) || u->rounds < 4);
	return NULL;
}

/* A child calls mm_heap_malloc(h) and must die of SIGABRT after exactly
 * "libmm: fatal: invalid heap <h>\n" on stderr; NULL or what went wrong. */
static const char *refused_as_invalid(mm_heap_t *h, char *got, size_t cap)
{
	char want[64];
	size_t len = 0;
	int fds[2], st;

	snprintf(want, sizeof want, "libmm: fatal: invalid heap %p\n", (void *)h);
	got[0] = '\0';
	if (pipe(fds) != 0)
		return "pipe failed";
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0)
		return "fork failed";
	if (pid == 0) {
		struct rlimit none = { 0, 0 };
		setrlimit(RLIMIT_CORE, &none);
		close(fds[0]);
		dup2(fds[1], STDERR_FILENO);
		signal(SIGALRM, SIG_DFL);
		alarm(10);
		mm_heap_t *volatile hv = h;
		void *volatile r = mm_heap_malloc(hv, 16);
		(void)r;
		_exit(121);
	}
	close(fds[1]);
	for (;;) {
		ssize_t n = read(fds[0], got + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == cap - 1)
			break;
	}
	got[len] = '\0';
	close(fds[0]);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return "waitpid failed";
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGABRT)
		return WIFSIGNALED(st) ? "killed by another signal than SIGABRT"
				       : "not killed by a signal";
	if (strcmp(got, want) != 0)
		return "not exactly the one line expected";
	return NULL;
}

START_TEST(test_heap_set_churn)
{
	pthread_t ct[SET_CHURNERS], ut[SET_USERS];
	struct set_churner cw[SET_CHURNERS];
	struct set_user *uw = calloc(SET_USERS, sizeof *uw);
	mm_heap_t *dead[SET_CHURNERS * SET_DEAD_KEEP + SET_USERS];
	unsigned ndead = 0;
	char got[256];

	ck_assert_ptr_nonnull(uw);
	reset_errors();
	atomic_store(&set_churn_done, 0);
	for (unsigned i = 0; i < SET_CHURNERS; i++) {
		cw[i] = (struct set_churner){ .tid = 400 + i };
		cw[i].pool_mem = malloc(SET_BATCH / 2 * SET_POOL_LEN);
		ck_assert_ptr_nonnull(cw[i].pool_mem);
	}
	for (unsigned i = 0; i < SET_USERS; i++)
		uw[i].tid = 500 + i;
	start_threads(ut, SET_USERS, set_user_worker, uw, sizeof uw[0]);
	start_threads(ct, SET_CHURNERS, set_churn_worker, cw, sizeof cw[0]);
	join_threads(ct, SET_CHURNERS);
	atomic_store(&set_churn_done, 1);
	join_threads(ut, SET_USERS);
	assert_no_errors();

	for (unsigned i = 0; i < SET_USERS; i++) {
		ck_assert_uint_ge(uw[i].rounds, 4);
		ck_assert_int_eq(mm_heap_check(uw[i].heap), 0);
		ck_assert_int_eq(mm_heap_check(uw[i].pool), 0);
		ck_assert_uint_eq(in_use_blocks(uw[i].heap), 0);
		ck_assert_uint_eq(in_use_blocks(uw[i].pool), 0);
		mm_heap_destroy(uw[i].pool);
		mm_heap_destroy(uw[i].heap);
		dead[ndead++] = uw[i].heap;
	}
	for (unsigned i = 0; i < SET_CHURNERS; i++) {
		unsigned n = cw[i].ndead < SET_DEAD_KEEP ? cw[i].ndead : SET_DEAD_KEEP;
		ck_assert_uint_eq(cw[i].ndead, SET_ROUNDS * SET_BATCH / 2);
		for (unsigned j = 0; j < n; j++)
			dead[ndead++] = cw[i].dead[j];
		free(cw[i].pool_mem);
	}

	/* every heap is gone now: each handle is refused, none faults */
	for (unsigned i = 0; i < ndead; i++) {
		const char *why = refused_as_invalid(dead[i], got, sizeof got);
		ck_assert_msg(why == NULL, "destroyed heap %p: %s; stderr: \"%s\"",
			      (void *)dead[i], why, got);
	}

	/* and the set still takes and finds new heaps */
	mm_heap_t *h = mm_heap_create(0);
	ck_assert_ptr_nonnull(h);
	void *p = mm_heap_malloc(h, 1000);
	ck_assert_ptr_nonnull(p);
	tu_fill(p, 1000, 3);
	ck_assert(tu_check(p, 1000, 3));
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_heap_destroy(h);
	free(uw);
}
END_TEST

static Suite *threads_suite(void)
{
	Suite *s = suite_create("threads");
	TCase *tc;

	tc = tcase_create("own blocks");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_random_ops, 0, NKINDS);
	suite_add_tcase(s, tc);

	tc = tcase_create("cross-thread");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_cross_thread_free, 0, NKINDS);
	tcase_add_loop_test(tc, test_realloc_contention, 0, NKINDS);
	suite_add_tcase(s, tc);

	tc = tcase_create("alongside");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_check_during_ops, 0, NKINDS);
	tcase_add_loop_test(tc, test_trim_during_ops, 0, NKINDS);
	tcase_add_test(tc, test_heap_churn);
	tcase_add_test(tc, test_break_moves_under_lookups);
	tcase_add_test(tc, test_heap_set_churn);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(threads_suite());

	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
