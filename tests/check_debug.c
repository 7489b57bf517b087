/*
 * check_debug: the introspection layer.  mm_heap_walk reports exactly the
 * blocks that exist and agrees with mm_heap_stats; mm_heap_check passes on
 * healthy heaps and catches a smashed header; mm_heap_print and
 * mm_print_mem_list print one line per walked block in the seed's shape.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libmm.h>

#include "testutil.h"
#include "walkutil.h"

#define KiB ((size_t)1024)

/* --- helpers -------------------------------------------------------------- */

/* Walk h into l in the walk's own order. */
static int blk_cmp(const void *a, const void *b)
{
	const struct blk *x = a, *y = b;
	uintptr_t p = (uintptr_t)x->addr, q = (uintptr_t)y->addr;
	return p < q ? -1 : p > q;
}

static void get_stats(mm_heap_t *h, mm_stats_t *st)
{
	memset(st, 0, sizeof *st);
	ck_assert_int_eq(mm_heap_stats(h, st, sizeof *st), 0);
}

/* Room for every block of h, and some. */
static size_t walk_room(mm_heap_t *h)
{
	mm_stats_t st;
	get_stats(h, &st);
	return st.in_use_blocks + st.free_blocks + 256;
}

/* The invariants every set of statistics satisfies. */
static void assert_stats_sane(const mm_stats_t *st)
{
	ck_assert_uint_le(st->in_use_bytes + st->free_bytes, st->os_bytes);
	ck_assert_uint_ge(st->peak_os_bytes, st->os_bytes);
	ck_assert_uint_ge(st->peak_in_use_bytes, st->in_use_bytes);
	ck_assert_uint_le(st->largest_free, st->free_bytes);
	ck_assert_uint_le(st->mapped_blocks, st->in_use_blocks);
	ck_assert_uint_le(st->mapped_bytes, st->os_bytes);
	if (st->free_blocks == 0) {
		ck_assert_uint_eq(st->free_bytes, 0);
		ck_assert_uint_eq(st->largest_free, 0);
	} else {
		ck_assert_uint_gt(st->largest_free, 0);
	}
	if (st->in_use_blocks == 0)
		ck_assert_uint_eq(st->in_use_bytes, 0);
	if (st->mapped_blocks == 0)
		ck_assert_uint_eq(st->mapped_bytes, 0);
}

/* Compare a walk with the statistics of the same quiescent heap. */
static void assert_walk_matches_stats(mm_heap_t *h, const struct blist *l)
{
	mm_stats_t st;
	size_t used = 0, nfree = 0, ubytes = 0, fbytes = 0, largest = 0;

	get_stats(h, &st);
	for (size_t i = 0; i < l->n; i++) {
		if (l->v[i].in_use) {
			used++;
			ubytes += l->v[i].size;
		} else {
			nfree++;
			fbytes += l->v[i].size;
			if (l->v[i].size > largest)
				largest = l->v[i].size;
		}
	}
	ck_assert_uint_eq(st.in_use_blocks, used);
	ck_assert_uint_eq(st.free_blocks, nfree);
	ck_assert_uint_eq(st.in_use_bytes, ubytes);
	ck_assert_uint_eq(st.free_bytes, fbytes);
	ck_assert_uint_eq(st.largest_free, largest);
	assert_stats_sane(&st);
}

/* The heaps the walk tests run on. */
enum { K_MMAP, K_POOL, K_DEFAULT, K_COUNT };

struct theap {
	mm_heap_t *h;		/* NULL: the default heap */
	unsigned char *buf;
	size_t len;
};

static void theap_open(struct theap *t, int kind)
{
	memset(t, 0, sizeof *t);
	if (kind == K_MMAP) {
		t->h = mm_heap_create(0);
		ck_assert_ptr_nonnull(t->h);
	} else if (kind == K_POOL) {
		t->len = 512 * KiB;
		t->buf = malloc(t->len);
		ck_assert_ptr_nonnull(t->buf);
		t->h = mm_heap_create_in(t->buf, t->len, MM_FIT_FIRST);
		ck_assert_ptr_nonnull(t->h);
	}
}

static void theap_close(struct theap *t)
{
	if (t->h)
		mm_heap_destroy(t->h);
	free(t->buf);
}

/* --- walk ----------------------------------------------------------------- */

START_TEST(test_walk_matches_blocks)
{
	enum { N = 60 };
	struct theap t;
	struct blist l;
	void *p[N + 1];
	size_t len[N + 1];
	int live[N + 1];
	int n = N;

	theap_open(&t, _i);
	rng_seed(31337 + (uint64_t)_i);
	for (int i = 0; i < N; i++) {
		len[i] = 1 + rng_below(3000);
		p[i] = mm_heap_malloc(t.h, len[i]);
		ck_assert_ptr_nonnull(p[i]);
		tu_fill(p[i], len[i], (unsigned)i);
		live[i] = 1;
	}
	if (_i != K_POOL) {	/* and one with its own mapping */
		len[n] = 200 * KiB;
		p[n] = mm_heap_malloc(t.h, len[n]);
		ck_assert_ptr_nonnull(p[n]);
		tu_fill(p[n], len[n], (unsigned)n);
		live[n] = 1;
		n++;
	}
	for (int i = 0; i < N; i += 3) {
		mm_heap_free(t.h, p[i]);
		live[i] = 0;
	}

	blist_init(&l, walk_room(t.h));
	walk_collect(t.h, &l);
	size_t used = 0;
	for (size_t j = 0; j < l.n; j++)
		used += l.v[j].in_use != 0;
	for (int i = 0; i < n; i++) {
		int seen = 0;
		for (size_t j = 0; j < l.n; j++) {
			if (l.v[j].addr != p[i] || !l.v[j].in_use)
				continue;
			seen++;
			ck_assert_msg(l.v[j].size >= len[i],
				      "walk size %zu < requested %zu",
				      l.v[j].size, len[i]);
			if (t.buf)
				ck_assert(l.v[j].size <= t.len);
			else	/* mm_usable_size is defined off pools */
				ck_assert_uint_eq(l.v[j].size,
						  mm_usable_size(p[i]));
		}
		if (live[i])
			ck_assert_msg(seen == 1, "live block %p walked %d "
				      "times", p[i], seen);
		else
			ck_assert_msg(seen == 0, "freed block %p walked as "
				      "in use", p[i]);
		if (live[i])
			ck_assert(tu_check(p[i], len[i], (unsigned)i));
	}
	if (_i != K_DEFAULT) {
		size_t nlive = 0;
		for (int i = 0; i < n; i++)
			nlive += (size_t)live[i];
		ck_assert_uint_eq(used, nlive);
	}

	/* aligned, non-overlapping, inside a pool's buffer */
	qsort(l.v, l.n, sizeof *l.v, blk_cmp);
	for (size_t j = 0; j < l.n; j++) {
		ck_assert(tu_aligned(l.v[j].addr, 16));
		if (j)
			ck_assert_msg(tu_disjoint(l.v[j - 1].addr,
						  l.v[j - 1].size,
						  l.v[j].addr, l.v[j].size),
				      "walked %p+%zu overlaps %p+%zu",
				      l.v[j - 1].addr, l.v[j - 1].size,
				      l.v[j].addr, l.v[j].size);
		if (t.buf)
			ck_assert((unsigned char *)l.v[j].addr >= t.buf &&
				  (unsigned char *)l.v[j].addr + l.v[j].size <=
					  t.buf + t.len);
	}
	/* freed neighbours merged: a pool has no two free blocks in a row */
	if (t.buf)
		for (size_t j = 1; j < l.n; j++)
			ck_assert(l.v[j - 1].in_use || l.v[j].in_use);

	walk_collect(t.h, &l);
	assert_walk_matches_stats(t.h, &l);

	for (int i = 0; i < n; i++)
		if (live[i])
			mm_heap_free(t.h, p[i]);
	walk_collect(t.h, &l);
	assert_walk_matches_stats(t.h, &l);
	if (_i != K_DEFAULT)
		for (size_t j = 0; j < l.n; j++)
			ck_assert(!l.v[j].in_use);
	blist_fini(&l);
	theap_close(&t);
}
END_TEST

struct stopper {
	int calls;
	int stop_at;	/* stop on this call (1-based); 0: never */
	int ret;
};

static int stop_cb(void *block, size_t size, int in_use, void *arg)
{
	struct stopper *s = arg;
	(void)block;
	(void)size;
	(void)in_use;
	s->calls++;
	return s->calls == s->stop_at ? s->ret : 0;
}

START_TEST(test_walk_stops)
{
	mm_heap_t *h = mm_heap_create(MM_FIT_FIRST);
	void *p[6];
	ck_assert_ptr_nonnull(h);
	for (int i = 0; i < 6; i++) {
		p[i] = mm_heap_malloc(h, 100 + (size_t)i * 10);
		ck_assert_ptr_nonnull(p[i]);
		tu_fill(p[i], 100 + (size_t)i * 10, (unsigned)i);
	}
	mm_heap_free(h, p[2]);

	mm_stats_t st;
	get_stats(h, &st);
	int total = (int)(st.in_use_blocks + st.free_blocks);
	ck_assert_int_ge(total, 6);

	struct stopper s = { 0, 3, 7 };
	ck_assert_int_eq(mm_heap_walk(h, stop_cb, &s), 7);
	ck_assert_int_eq(s.calls, 3);

	s = (struct stopper){ 0, 1, -5 };
	ck_assert_int_eq(mm_heap_walk(h, stop_cb, &s), -5);
	ck_assert_int_eq(s.calls, 1);

	s = (struct stopper){ 0, total, 1 };
	ck_assert_int_eq(mm_heap_walk(h, stop_cb, &s), 1);
	ck_assert_int_eq(s.calls, total);

	s = (struct stopper){ 0, 0, 0 };
	ck_assert_int_eq(mm_heap_walk(h, stop_cb, &s), 0);
	ck_assert_int_eq(s.calls, total);

	/* a stopped walk leaves the heap usable (its lock released) */
	void *q = mm_heap_malloc(h, 500);
	ck_assert_ptr_nonnull(q);
	tu_fill(q, 500, 9);
	ck_assert(tu_check(q, 500, 9));
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_heap_free(h, q);
	for (int i = 0; i < 6; i++) {
		if (i == 2)
			continue;
		ck_assert(tu_check(p[i], 100 + (size_t)i * 10, (unsigned)i));
		mm_heap_free(h, p[i]);
	}
	mm_heap_destroy(h);

	/* the same on the default heap */
	void *d = mm_malloc(64);
	ck_assert_ptr_nonnull(d);
	tu_fill(d, 64, 1);
	s = (struct stopper){ 0, 1, 42 };
	ck_assert_int_eq(mm_heap_walk(NULL, stop_cb, &s), 42);
	ck_assert_int_eq(s.calls, 1);
	ck_assert(tu_check(d, 64, 1));
	mm_free(d);
}
END_TEST

START_TEST(test_walk_null_fn)
{
	mm_heap_t *h = mm_heap_create(0);
	ck_assert_ptr_nonnull(h);
	void *p = mm_heap_malloc(h, 10);
	ck_assert_ptr_nonnull(p);
	tu_fill(p, 10, 1);
	errno = 0;
	ck_assert_int_eq(mm_heap_walk(h, NULL, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(mm_heap_walk(NULL, NULL, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert(tu_check(p, 10, 1));
	mm_heap_free(h, p);
	mm_heap_destroy(h);
}
END_TEST

/* --- walk callbacks that use the heap they walk ----------------------------- */

/*
 * mm_heap_walk calls back without the heap's lock, in batches, so a
 * callback may allocate from and free to the heap it walks.  A block that
 * stays allocated throughout must be reported exactly once, whatever the
 * callback does; blocks made or freed meanwhile may or may not be, but no
 * block twice.  Each test runs under alarm(): a walk that still held the
 * lock would deadlock, and SIGALRM then fails the test instead of hanging.
 */
#define WALK_ALARM 10

/* alarm() with the default action: a deadlocked walk dies of SIGALRM
 * (not of Check's own handler, which a forked test inherits). */
static void (*walk_saved_alrm)(int);

static void walk_deadline(void)
{
	walk_saved_alrm = signal(SIGALRM, SIG_DFL);
	alarm(WALK_ALARM);
}

static void walk_deadline_off(void)
{
	alarm(0);
	signal(SIGALRM, walk_saved_alrm);
}

/* A block the test made before the walk. */
struct tracked {
	void *p;
	size_t size;
	unsigned seed;
	int victim;	/* freed by the test (before or during the walk) */
	int freed;
	int seen;	/* times the walk reported it in use */
};

struct changer {
	mm_heap_t *h;		/* NULL: the default heap */
	struct tracked *t;	/* sorted by address */
	size_t nt;
	struct blist reports;	/* every report, in order */
	void **made;		/* blocks the callback allocated */
	size_t *made_size;
	size_t nmade, made_cap;
	void *prev;		/* test (a): the callback's last block */
	size_t prev_size;
	size_t next_victim;	/* test (b): index into t, going down */
	int large_ok;		/* the heap serves large blocks */
	unsigned calls;
	unsigned problems;
	char problem[160];
};

static void changer_problem(struct changer *c, const char *what, const void *p)
{
	if (c->problems++ == 0)
		snprintf(c->problem, sizeof c->problem, "%s (%p)", what, p);
}

static void *w_malloc(mm_heap_t *h, size_t n)
{
	return h ? mm_heap_malloc(h, n) : mm_malloc(n);
}

static void w_free(mm_heap_t *h, void *p)
{
	if (h)
		mm_heap_free(h, p);
	else
		mm_free(p);
}

static int tracked_cmp(const void *a, const void *b)
{
	uintptr_t p = (uintptr_t)((const struct tracked *)a)->p;
	uintptr_t q = (uintptr_t)((const struct tracked *)b)->p;
	return p < q ? -1 : p > q;
}

/* nt blocks of 16..max_small bytes, one in ten large when the heap
 * serves large blocks; patterned, sorted by address. */
static struct tracked *make_tracked(mm_heap_t *h, size_t nt, size_t max_small,
	int large_ok, unsigned salt)
{
	struct tracked *t = calloc(nt, sizeof *t);

	ck_assert_ptr_nonnull(t);
	rng_seed(7000 + salt);
	for (size_t i = 0; i < nt; i++) {
		t[i].size = large_ok && i % 10 == 5
			? 150 * KiB + rng_below(150 * KiB)
			: 16 + rng_below(max_small - 15);
		t[i].p = w_malloc(h, t[i].size);
		ck_assert_ptr_nonnull(t[i].p);
		t[i].seed = salt * 1000 + (unsigned)i;
		tu_fill(t[i].p, t[i].size, t[i].seed);
	}
	qsort(t, nt, sizeof *t, tracked_cmp);
	return t;
}

static void changer_init(struct changer *c, mm_heap_t *h, struct tracked *t,
	size_t nt, size_t made_cap)
{
	memset(c, 0, sizeof *c);
	c->h = h;
	c->t = t;
	c->nt = nt;
	blist_init(&c->reports, 4 * nt + 4 * made_cap + 256);
	c->made = calloc(made_cap, sizeof *c->made);
	c->made_size = calloc(made_cap, sizeof *c->made_size);
	ck_assert(c->made && c->made_size);
	c->made_cap = made_cap;
}

/* Record a report; a block made by the callback must hold its pattern. */
static void changer_record(struct changer *c, void *block, size_t size, int in_use)
{
	c->calls++;
	collect_cb(block, size, in_use, &c->reports);
}

static void changer_make(struct changer *c, size_t n)
{
	void *q;

	if (c->nmade == c->made_cap)
		return;
	q = w_malloc(c->h, n);
	if (!q) {
		changer_problem(c, "allocation in the callback failed", NULL);
		return;
	}
	tu_fill(q, n, 900000 + (unsigned)c->nmade);
	c->made[c->nmade] = q;
	c->made_size[c->nmade++] = n;
}

/*
 * The checks after a walk: every tracked block that was not a victim was
 * reported in use exactly once, with at least its size, and holds its
 * pattern; no address was reported twice; the heap is consistent.  Then
 * everything is freed.
 */
static void changer_finish(struct changer *c)
{
	struct blk *v = c->reports.v;
	size_t n = c->reports.n, untouched = 0;

	ck_assert_msg(c->problems == 0, "%u problems in the callback, first: %s",
		      c->problems, c->problem);
	ck_assert_msg(n <= c->reports.cap, "%zu reports, room for %zu", n,
		      c->reports.cap);
	ck_assert_uint_eq(c->calls, n);
	for (size_t i = 0; i < c->nt; i++) {
		struct tracked *t = &c->t[i];
		int seen = 0;

		if (t->victim)
			continue;
		untouched++;
		for (size_t j = 0; j < n; j++) {
			if (v[j].addr != t->p)
				continue;
			ck_assert_msg(v[j].in_use, "live block %p reported free",
				      t->p);
			ck_assert_uint_ge(v[j].size, t->size);
			seen++;
		}
		ck_assert_msg(seen == 1, "block %p (%zu bytes), live all along, "
			      "reported %d times", t->p, t->size, seen);
		ck_assert_msg(tu_check(t->p, t->size, t->seed),
			      "block %p changed", t->p);
	}
	ck_assert_uint_gt(untouched, 0);
	qsort(v, n, sizeof *v, blk_cmp);
	for (size_t j = 1; j < n; j++)
		ck_assert_msg(v[j].addr != v[j - 1].addr,
			      "block %p reported twice", v[j].addr);
	ck_assert_int_eq(mm_heap_check(c->h), 0);

	for (size_t i = 0; i < c->nmade; i++) {
		ck_assert(tu_check(c->made[i], c->made_size[i],
				   900000 + (unsigned)i));
		w_free(c->h, c->made[i]);
	}
	for (size_t i = 0; i < c->nt; i++)
		if (!c->t[i].freed)
			w_free(c->h, c->t[i].p);
	ck_assert_int_eq(mm_heap_check(c->h), 0);
	free(c->made);
	free(c->made_size);
	blist_fini(&c->reports);
}

/* (a) Each call allocates a block from the walked heap and frees the one
 * the previous call allocated. */
static int alloc_free_cb(void *block, size_t size, int in_use, void *arg)
{
	struct changer *c = arg;
	size_t n = 1 + (c->calls * 37) % 1500;
	void *q = w_malloc(c->h, n);

	changer_record(c, block, size, in_use);
	if (!q) {
		changer_problem(c, "allocation in the callback failed", NULL);
		return 0;
	}
	tu_fill(q, n, c->calls);
	if (c->prev) {
		if (!tu_check(c->prev, c->prev_size, c->calls - 1))
			changer_problem(c, "callback's block changed", c->prev);
		w_free(c->h, c->prev);
	}
	c->prev = q;
	c->prev_size = n;
	return 0;
}

START_TEST(test_walk_callback_allocates)
{
	enum { N = 150 };
	struct theap th;
	struct changer c;
	struct tracked *t;

	theap_open(&th, _i);
	t = make_tracked(th.h, N, 3000, _i != K_POOL, 1 + (unsigned)_i);
	for (size_t i = 0; i < N; i += 4) {	/* holes before the walk */
		t[i].victim = t[i].freed = 1;
		w_free(th.h, t[i].p);
	}
	changer_init(&c, th.h, t, N, 1);

	walk_deadline();
	ck_assert_int_eq(mm_heap_walk(th.h, alloc_free_cb, &c), 0);
	walk_deadline_off();

	ck_assert_uint_ge(c.calls, N - N / 4);
	ck_assert_ptr_nonnull(c.prev);
	ck_assert(tu_check(c.prev, c.prev_size, c.calls));
	w_free(th.h, c.prev);
	changer_finish(&c);
	free(t);
	theap_close(&th);
}
END_TEST

/*
 * (b) Several batches, and the heap changing between them: from the first
 * call on, the callback frees two tracked "victims" a call, from the
 * highest address down (most of them long before the walk gets there,
 * some merging with free neighbours), and allocates a block every call and
 * a large one every tenth.  Heap kinds: good fit, first fit, a pool, and a
 * NOLOCK heap (no lock to drop, but changed by the callback all the same).
 */
enum { KC_GOOD, KC_FIRST, KC_POOL, KC_NOLOCK, KC_COUNT };

static int changing_cb(void *block, size_t size, int in_use, void *arg)
{
	struct changer *c = arg;

	changer_record(c, block, size, in_use);
	for (int k = 0; k < 2 && c->next_victim > 0; ) {
		struct tracked *t = &c->t[--c->next_victim];
		if (!t->victim)
			continue;
		if (!tu_check(t->p, t->size, t->seed))
			changer_problem(c, "victim changed before its free", t->p);
		w_free(c->h, t->p);
		t->freed = 1;
		k++;
	}
	changer_make(c, 16 + (c->calls * 53) % 600);
	if (c->large_ok && c->calls % 10 == 0)
		changer_make(c, 200 * KiB);
	return 0;
}

START_TEST(test_walk_heap_changes)
{
	enum { N = 300 };
	static const unsigned flags[KC_COUNT] = {
		0, MM_FIT_FIRST, MM_FIT_FIRST, MM_HEAP_NOLOCK
	};
	size_t len = 1024 * KiB;
	unsigned char *buf = NULL;
	mm_heap_t *h;
	struct changer c;
	struct tracked *t;

	if (_i == KC_POOL) {
		buf = malloc(len);
		ck_assert_ptr_nonnull(buf);
		h = mm_heap_create_in(buf, len, flags[_i]);
	} else {
		h = mm_heap_create(flags[_i]);
	}
	ck_assert_ptr_nonnull(h);
	t = make_tracked(h, N, 600, _i != KC_POOL, 10 + (unsigned)_i);
	for (size_t i = 0; i < N; i++)
		t[i].victim = i % 3 == 1;
	changer_init(&c, h, t, N, 2 * N);
	c.large_ok = _i != KC_POOL;
	c.next_victim = N;

	walk_deadline();
	ck_assert_int_eq(mm_heap_walk(h, changing_cb, &c), 0);
	walk_deadline_off();

	/* more than three batches, and every victim freed by the end */
	ck_assert_uint_gt(c.calls, 200);
	for (size_t i = 0; i < N; i++)
		if (t[i].victim)
			ck_assert_msg(t[i].freed, "victim %zu not freed", i);
	changer_finish(&c);
	free(t);
	mm_stats_t st;
	get_stats(h, &st);
	ck_assert_uint_eq(st.in_use_blocks, 0);
	mm_heap_destroy(h);
	free(buf);
}
END_TEST

/*
 * The block a walk would resume at is gone.  Blocks of 64 bytes lie side
 * by side in a first-fit pool; when told about one of them, X, the
 * callback frees X and the block after it, Y (they merge), allocates one
 * block over both and fills it, so Y's header is overwritten.  Every third
 * block is an X, for each of three offsets: whatever the batch size, some
 * batch ends on an X, and the walk must find its place again by address,
 * not from the dead header.  Then the same for large blocks: the callback
 * allocates between batches and frees some not yet reported.
 */
struct reuse {
	struct changer c;
	unsigned offset;
};

static struct tracked *tracked_at(struct changer *c, const void *p)
{
	struct tracked key = { .p = (void *)p };

	return bsearch(&key, c->t, c->nt, sizeof *c->t, tracked_cmp);
}

static int reuse_cb(void *block, size_t size, int in_use, void *arg)
{
	struct reuse *r = arg;
	struct changer *c = &r->c;
	struct tracked *x = tracked_at(c, block);

	changer_record(c, block, size, in_use);
	if (!x || (size_t)(x - c->t) % 3 != r->offset || x + 1 >= c->t + c->nt ||
	    x->freed || x[1].freed)
		return 0;
	w_free(c->h, x->p);
	w_free(c->h, x[1].p);
	x->freed = x[1].freed = 1;
	changer_make(c, 2 * 64 + 16);	/* X and Y, one block again */
	if (c->nmade && c->made[c->nmade - 1] != x->p)
		changer_problem(c, "first fit did not reuse the merged block",
				c->made[c->nmade - 1]);
	return 0;
}

static int large_changing_cb(void *block, size_t size, int in_use, void *arg)
{
	struct changer *c = arg;

	changer_record(c, block, size, in_use);
	changer_make(c, 100);
	if (c->calls % 7 == 0)
		while (c->next_victim < c->nt) {
			struct tracked *t = &c->t[c->next_victim++];
			if (t->victim) {
				w_free(c->h, t->p);
				t->freed = 1;
				break;
			}
		}
	if (c->calls % 10 == 0)
		changer_make(c, 200 * KiB);
	return 0;
}

START_TEST(test_walk_resume_point_reused)
{
	enum { N = 200, NL = 100 };
	size_t len = 64 * KiB;
	unsigned char *buf = malloc(len);

	ck_assert_ptr_nonnull(buf);
	for (unsigned off = 0; off < 3; off++) {
		mm_heap_t *h = mm_heap_create_in(buf, len, MM_FIT_FIRST);
		struct tracked *t = calloc(N, sizeof *t);
		struct reuse r;

		ck_assert(h && t);
		for (size_t i = 0; i < N; i++) {
			t[i].size = 64;
			t[i].p = mm_heap_malloc(h, 64);
			ck_assert_ptr_nonnull(t[i].p);
			if (i)	/* side by side, in address order */
				ck_assert_ptr_eq(t[i].p, (char *)t[i - 1].p + 80);
			t[i].seed = 3000 + (unsigned)i;
			tu_fill(t[i].p, 64, t[i].seed);
			t[i].victim = i % 3 == off || (i && (i - 1) % 3 == off);
		}
		changer_init(&r.c, h, t, N, N);
		r.offset = off;
		walk_deadline();
		ck_assert_int_eq(mm_heap_walk(h, reuse_cb, &r), 0);
		walk_deadline_off();
		ck_assert_uint_ge(r.c.nmade, N / 3 - 1);
		changer_finish(&r.c);
		mm_heap_destroy(h);
		free(t);
	}
	free(buf);

	/* large blocks only: the walk is in its second part at once */
	mm_heap_t *h = mm_heap_create(0);
	struct changer c;
	struct tracked *t = calloc(NL, sizeof *t);

	ck_assert(h && t);
	for (size_t i = 0; i < NL; i++) {
		t[i].size = 130 * KiB + i * 16;
		t[i].p = mm_heap_malloc(h, t[i].size);
		ck_assert_ptr_nonnull(t[i].p);
		t[i].seed = 4000 + (unsigned)i;
		tu_fill(t[i].p, t[i].size, t[i].seed);
		t[i].victim = i % 4 == 1;
	}
	qsort(t, NL, sizeof *t, tracked_cmp);
	changer_init(&c, h, t, NL, 2 * NL);
	walk_deadline();
	ck_assert_int_eq(mm_heap_walk(h, large_changing_cb, &c), 0);
	walk_deadline_off();
	ck_assert_uint_gt(c.calls, 64);
	changer_finish(&c);
	mm_heap_destroy(h);
	free(t);
}
END_TEST

/*
 * (c) The stop value, from any batch: the walk returns the first non-zero
 * value and makes no call after it.  The callback also asks the heap
 * about each block (mm_usable_size takes the heap's lock).
 */
struct usable_stopper {
	unsigned calls, stop_at;
	int ret;
	unsigned mismatches;
};

static int usable_stop_cb(void *block, size_t size, int in_use, void *arg)
{
	struct usable_stopper *s = arg;

	s->calls++;
	if (in_use && mm_usable_size(block) != size)
		s->mismatches++;
	return s->calls == s->stop_at ? s->ret : 0;
}

START_TEST(test_walk_stops_in_later_batch)
{
	enum { N = 200 };
	mm_heap_t *h = mm_heap_create(0);
	void *p[N];
	struct usable_stopper s;

	ck_assert_ptr_nonnull(h);
	for (unsigned i = 0; i < N; i++) {
		p[i] = mm_heap_malloc(h, 20 + (size_t)i * 7);
		ck_assert_ptr_nonnull(p[i]);
		tu_fill(p[i], 20 + (size_t)i * 7, i);
	}
	p[N - 1] = mm_heap_realloc(h, p[N - 1], 300 * KiB);	/* a large one */
	ck_assert_ptr_nonnull(p[N - 1]);
	for (unsigned i = 0; i < N; i += 5) {
		mm_heap_free(h, p[i]);
		p[i] = NULL;
	}

	walk_deadline();
	s = (struct usable_stopper){ 0, 0, 0, 0 };
	ck_assert_int_eq(mm_heap_walk(h, usable_stop_cb, &s), 0);
	unsigned total = s.calls;
	ck_assert_uint_eq(s.mismatches, 0);
	ck_assert_uint_gt(total, 150);

	const unsigned stops[] = { 1, 63, 64, 65, 130, 150, total };
	for (size_t k = 0; k < sizeof stops / sizeof stops[0]; k++) {
		s = (struct usable_stopper){ 0, stops[k], 1000 + (int)k, 0 };
		ck_assert_int_eq(mm_heap_walk(h, usable_stop_cb, &s),
				 1000 + (int)k);
		ck_assert_uint_eq(s.calls, stops[k]);
		ck_assert_uint_eq(s.mismatches, 0);
	}
	s = (struct usable_stopper){ 0, total, -3, 0 };
	ck_assert_int_eq(mm_heap_walk(h, usable_stop_cb, &s), -3);
	ck_assert_uint_eq(s.calls, total);
	walk_deadline_off();

	/* the heap is usable after a stopped walk: its lock is free */
	ck_assert_int_eq(mm_heap_check(h), 0);
	for (unsigned i = 0; i < N - 1; i++)
		if (p[i]) {
			ck_assert(tu_check(p[i], 20 + (size_t)i * 7, i));
			mm_heap_free(h, p[i]);
		}
	ck_assert(tu_check(p[N - 1], 20 + (size_t)(N - 1) * 7, N - 1));
	mm_heap_free(h, p[N - 1]);
	mm_heap_destroy(h);
}
END_TEST

/* --- check ------------------------------------------------------------------ */

START_TEST(test_check_healthy)
{
	enum { SLOTS = 100, OPS = 2000 };
	mm_heap_t *heaps[3];
	size_t len = 512 * KiB;
	unsigned char *buf = malloc(len);

	ck_assert_ptr_nonnull(buf);
	heaps[0] = mm_heap_create(0);
	heaps[1] = mm_heap_create_in(buf, len, MM_FIT_BEST);
	heaps[2] = NULL;	/* the default heap */
	ck_assert(heaps[0] && heaps[1]);

	for (int k = 0; k < 3; k++) {
		mm_heap_t *h = heaps[k];
		void *p[SLOTS] = { 0 };
		size_t n[SLOTS] = { 0 };
		unsigned seed[SLOTS] = { 0 };
		ck_assert_int_eq(mm_heap_check(h), 0);
		rng_seed(5 + (uint64_t)k);
		for (unsigned op = 0; op < OPS; op++) {
			size_t i = rng_below(SLOTS);
			if (p[i]) {
				ck_assert(tu_check(p[i], n[i], seed[i]));
				mm_heap_free(h, p[i]);
				p[i] = NULL;
			} else {
				n[i] = rng_below(20)
					? 1 + rng_below(2000)
					: 1 + rng_below(k == 1 ? 20000
							       : 300000);
				p[i] = mm_heap_malloc(h, n[i]);
				ck_assert_ptr_nonnull(p[i]);
				seed[i] = op;
				tu_fill(p[i], n[i], op);
			}
			if (op % 100 == 0)
				ck_assert_int_eq(mm_heap_check(h), 0);
		}
		ck_assert_int_eq(mm_heap_check(h), 0);
		for (size_t i = 0; i < SLOTS; i++) {
			if (p[i])
				ck_assert(tu_check(p[i], n[i], seed[i]));
			mm_heap_free(h, p[i]);
		}
		ck_assert_int_eq(mm_heap_check(h), 0);
	}
	mm_heap_destroy(heaps[0]);
	mm_heap_destroy(heaps[1]);
	free(buf);
}
END_TEST

/* Smash the 16 bytes before a block (its header) with 0xA5: the check must
 * say -1.  The damage is undone before the pool is destroyed; the smashed
 * block itself is never freed. */
static void corrupt_case(unsigned char *buf, size_t len, int free_victim)
{
	mm_heap_t *h = mm_heap_create_in(buf, len, MM_FIT_FIRST);
	ck_assert_ptr_nonnull(h);
	void *a = mm_heap_malloc(h, 200);
	void *b = mm_heap_malloc(h, 200);
	void *c = mm_heap_malloc(h, 200);
	ck_assert(a && b && c);
	tu_fill(a, 200, 1);
	tu_fill(b, 200, 2);
	tu_fill(c, 200, 3);
	if (free_victim)	/* smash a free block's header instead */
		mm_heap_free(h, b);
	ck_assert_int_eq(mm_heap_check(h), 0);

	/* through a volatile, so that the compiler's object-size tracking
	 * (and _FORTIFY_SOURCE) do not object to writing before b */
	volatile uintptr_t at = (uintptr_t)b - 16;
	unsigned char saved[16];
	unsigned char *hdr = (unsigned char *)at;
	memcpy(saved, hdr, 16);
	memset(hdr, 0xA5, 16);
	ck_assert_msg(mm_heap_check(h) == -1,
		      "header of %s block %p smashed, check still passes",
		      free_victim ? "a free" : "an allocated", b);
	/* check itself neither repairs nor worsens anything */
	ck_assert_int_eq(mm_heap_check(h), -1);
	ck_assert(tu_check(a, 200, 1));
	ck_assert(tu_check(c, 200, 3));

	memcpy(hdr, saved, 16);
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_heap_destroy(h);
}

START_TEST(test_check_corrupt)
{
	/* buffers of their own: never reused for anything else */
	static unsigned char buf1[64 * KiB] __attribute__((aligned(16)));
	static unsigned char buf2[64 * KiB] __attribute__((aligned(16)));
	corrupt_case(buf1, sizeof buf1, 0);
	corrupt_case(buf2, sizeof buf2, 1);
}
END_TEST

/* --- print ------------------------------------------------------------------ */

struct pline {
	uintptr_t addr;
	size_t size;
	int is_free;
	uintptr_t next;
};

/* Parse the block lines ("addr = 0x..., size = N, is_free=F, next=0x...")
 * out of text; other lines (header, summary) are skipped. */
static size_t parse_print(char *text, struct pline *out, size_t cap)
{
	size_t n = 0;
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *at = strstr(line, "addr = ");
		struct pline pl;
		if (!at)
			continue;
		int got = sscanf(at,
				 "addr = 0x%" SCNxPTR ", size = %zu, "
				 "is_free=%d, next=0x%" SCNxPTR,
				 &pl.addr, &pl.size, &pl.is_free, &pl.next);
		ck_assert_msg(got == 4, "malformed block line: %s", line);
		ck_assert_msg(pl.is_free == 0 || pl.is_free == 1,
			      "is_free=%d in: %s", pl.is_free, line);
		ck_assert_msg(n < cap, "more block lines than blocks");
		out[n++] = pl;
	}
	return n;
}

/* Everything written to fd since the start, as a string. */
static char *slurp(int fd)
{
	off_t end = lseek(fd, 0, SEEK_END);
	ck_assert_int_ge(end, 0);
	char *text = malloc((size_t)end + 1);
	ck_assert_ptr_nonnull(text);
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	size_t got = 0;
	while (got < (size_t)end) {
		ssize_t r = read(fd, text + got, (size_t)end - got);
		ck_assert_int_gt(r, 0);
		got += (size_t)r;
	}
	text[got] = '\0';
	return text;
}

/* Print heap h, compare line by line with its walk.  When strict, the
 * lines form one chain: each next is the following line's addr, the last
 * one's is 0x0. */
static void check_print(mm_heap_t *h, int strict)
{
	struct blist l;
	FILE *f = tmpfile();
	ck_assert_ptr_nonnull(f);
	blist_init(&l, walk_room(h));
	struct pline *pl = calloc(l.cap, sizeof *pl);
	ck_assert_ptr_nonnull(pl);

	walk_collect(h, &l);
	mm_heap_print(h, fileno(f));
	char *text = slurp(fileno(f));
	size_t n = parse_print(text, pl, l.cap);

	ck_assert_msg(n == l.n, "%zu block lines, %zu walked blocks", n, l.n);
	for (size_t i = 0; i < n; i++) {
		ck_assert_msg(pl[i].addr == (uintptr_t)l.v[i].addr,
			      "line %zu: addr %#" PRIxPTR ", walk %p", i,
			      pl[i].addr, l.v[i].addr);
		ck_assert_msg(pl[i].size == l.v[i].size,
			      "line %zu: size %zu, walk %zu", i, pl[i].size,
			      l.v[i].size);
		ck_assert_int_eq(pl[i].is_free, !l.v[i].in_use);
		if (strict)
			ck_assert_msg(pl[i].next == (i + 1 < n ? pl[i + 1].addr
							       : 0),
				      "line %zu: next %#" PRIxPTR, i,
				      pl[i].next);
	}
	if (n)
		ck_assert_msg(pl[n - 1].next == 0, "last next %#" PRIxPTR,
			      pl[n - 1].next);
	free(text);
	free(pl);
	blist_fini(&l);
	fclose(f);
}

START_TEST(test_print_pool)
{
	size_t len = 64 * KiB;
	unsigned char *buf = malloc(len);
	void *p[8];
	ck_assert_ptr_nonnull(buf);
	mm_heap_t *h = mm_heap_create_in(buf, len, MM_FIT_FIRST);
	ck_assert_ptr_nonnull(h);

	check_print(h, 1);	/* one free block */
	for (int i = 0; i < 8; i++) {
		p[i] = mm_heap_malloc(h, 50 + (size_t)i * 100);
		ck_assert_ptr_nonnull(p[i]);
		tu_fill(p[i], 50 + (size_t)i * 100, (unsigned)i);
	}
	mm_heap_free(h, p[1]);
	mm_heap_free(h, p[4]);
	check_print(h, 1);
	for (int i = 0; i < 8; i++) {
		if (i == 1 || i == 4)
			continue;
		ck_assert(tu_check(p[i], 50 + (size_t)i * 100, (unsigned)i));
	}
	/* full: no free block at all */
	while (mm_heap_malloc(h, 16) != NULL)
		;
	check_print(h, 1);
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_heap_destroy(h);
	free(buf);
}
END_TEST

START_TEST(test_print_heap)
{
	mm_heap_t *h = mm_heap_create(MM_FIT_FIRST);
	void *p[10];
	ck_assert_ptr_nonnull(h);
	for (int i = 0; i < 10; i++) {
		p[i] = mm_heap_malloc(h, 30 + (size_t)i * 70);
		ck_assert_ptr_nonnull(p[i]);
		tu_fill(p[i], 30 + (size_t)i * 70, (unsigned)i);
	}
	mm_heap_free(h, p[3]);
	mm_heap_free(h, p[7]);
	mm_stats_t st;
	get_stats(h, &st);
	/* a chain across regions is not defined; one region is the norm for
	 * a few small blocks */
	check_print(h, st.regions == 1);
	for (int i = 0; i < 10; i++)
		if (i != 3 && i != 7)
			mm_heap_free(h, p[i]);
	check_print(h, 0);
	mm_heap_destroy(h);
}
END_TEST

START_TEST(test_print_mem_list)
{
	struct blist l;
	void *p = mm_malloc(777);
	ck_assert_ptr_nonnull(p);
	tu_fill(p, 777, 7);

	FILE *f = tmpfile();
	ck_assert_ptr_nonnull(f);
	blist_init(&l, walk_room(NULL));
	struct pline *pl = calloc(l.cap, sizeof *pl);
	ck_assert_ptr_nonnull(pl);

	/* nothing touches the default heap between the walk and the print */
	walk_collect(NULL, &l);
	fflush(stdout);
	int saved = dup(1);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_eq(dup2(fileno(f), 1), 1);
	mm_print_mem_list();
	fflush(stdout);
	ck_assert_int_eq(dup2(saved, 1), 1);
	close(saved);

	char *text = slurp(fileno(f));
	size_t n = parse_print(text, pl, l.cap);
	ck_assert_msg(n >= 1, "no block lines from mm_print_mem_list");
	ck_assert_uint_eq(n, l.n);
	int found = 0;
	for (size_t i = 0; i < n; i++) {
		ck_assert_msg(pl[i].addr == (uintptr_t)l.v[i].addr,
			      "line %zu: addr %#" PRIxPTR ", walk %p", i,
			      pl[i].addr, l.v[i].addr);
		ck_assert_uint_eq(pl[i].size, l.v[i].size);
		ck_assert_int_eq(pl[i].is_free, !l.v[i].in_use);
		/* within a region the chain holds; 0x0 ends a region */
		ck_assert_msg(pl[i].next == 0 ||
			      (i + 1 < n && pl[i].next == pl[i + 1].addr),
			      "line %zu: next %#" PRIxPTR, i, pl[i].next);
		if (pl[i].addr == (uintptr_t)p) {
			found++;
			ck_assert_int_eq(pl[i].is_free, 0);
			ck_assert_uint_ge(pl[i].size, 777);
		}
	}
	ck_assert_msg(found == 1, "block %p printed %d times", p, found);
	ck_assert_msg(pl[n - 1].next == 0, "last next %#" PRIxPTR,
		      pl[n - 1].next);
	ck_assert(tu_check(p, 777, 7));
	mm_free(p);
	free(text);
	free(pl);
	blist_fini(&l);
	fclose(f);
}
END_TEST

/* --- stats ------------------------------------------------------------------ */

START_TEST(test_stats_consistent)
{
	mm_stats_t st, st2;

	/* a fresh OS heap: exact counts */
	mm_heap_t *h = mm_heap_create(0);
	ck_assert_ptr_nonnull(h);
	get_stats(h, &st);
	assert_stats_sane(&st);
	ck_assert_uint_eq(st.in_use_blocks, 0);
	ck_assert_uint_eq(st.alloc_count, 0);
	ck_assert_uint_eq(st.free_count, 0);

	void *p[20];
	for (int i = 0; i < 20; i++) {
		p[i] = mm_heap_malloc(h, 1000);
		ck_assert_ptr_nonnull(p[i]);
		tu_fill(p[i], 1000, (unsigned)i);
	}
	void *big = mm_heap_malloc(h, 400 * KiB);
	ck_assert_ptr_nonnull(big);
	tu_fill(big, 400 * KiB, 99);
	get_stats(h, &st);
	assert_stats_sane(&st);
	ck_assert_uint_eq(st.in_use_blocks, 21);
	ck_assert_uint_ge(st.in_use_bytes, 20 * 1000 + 400 * KiB);
	ck_assert_uint_eq(st.alloc_count, 21);
	ck_assert_uint_eq(st.mapped_blocks, 1);
	ck_assert_uint_ge(st.mapped_bytes, 400 * KiB);
	ck_assert_uint_ge(st.os_bytes, 20 * 1000 + 400 * KiB);
	ck_assert_uint_ge(st.regions, 1);

	mm_heap_free(h, big);
	for (int i = 0; i < 20; i += 2)
		mm_heap_free(h, p[i]);
	get_stats(h, &st2);
	assert_stats_sane(&st2);
	ck_assert_uint_eq(st2.in_use_blocks, 10);
	ck_assert_uint_eq(st2.free_count, 11);
	ck_assert_uint_eq(st2.alloc_count - st2.free_count, st2.in_use_blocks);
	ck_assert_uint_eq(st2.mapped_blocks, 0);
	ck_assert_uint_eq(st2.mapped_bytes, 0);
	ck_assert_uint_ge(st2.peak_in_use_bytes, st.in_use_bytes);
	ck_assert_uint_ge(st2.peak_os_bytes, st.os_bytes);
	ck_assert_uint_le(st2.in_use_bytes + 400 * KiB, st.in_use_bytes);
	ck_assert_uint_gt(st2.free_bytes, 0);
	for (int i = 1; i < 20; i += 2) {
		ck_assert(tu_check(p[i], 1000, (unsigned)i));
		mm_heap_free(h, p[i]);
	}
	get_stats(h, &st2);
	assert_stats_sane(&st2);
	ck_assert_uint_eq(st2.in_use_blocks, 0);
	ck_assert_uint_eq(st2.in_use_bytes, 0);
	ck_assert_uint_ge(st2.peak_in_use_bytes, 20 * 1000 + 400 * KiB);
	mm_heap_destroy(h);

	/* a pool: the buffer is all it ever holds */
	size_t len = 256 * KiB;
	unsigned char *buf = malloc(len);
	ck_assert_ptr_nonnull(buf);
	h = mm_heap_create_in(buf, len, 0);
	ck_assert_ptr_nonnull(h);
	get_stats(h, &st);
	assert_stats_sane(&st);
	ck_assert_uint_gt(st.os_bytes, 0);
	ck_assert_uint_le(st.os_bytes, len);
	ck_assert_uint_eq(st.free_blocks, 1);
	ck_assert_uint_eq(st.largest_free, st.free_bytes);
	void *q = mm_heap_malloc(h, 100 * KiB);
	ck_assert_ptr_nonnull(q);
	tu_fill(q, 100 * KiB, 5);
	get_stats(h, &st2);
	assert_stats_sane(&st2);
	ck_assert_uint_eq(st2.os_bytes, st.os_bytes);
	ck_assert_uint_eq(st2.mapped_blocks, 0);
	ck_assert_uint_ge(st2.in_use_bytes, 100 * KiB);
	ck_assert_uint_le(st2.free_bytes + 100 * KiB, st.free_bytes);
	ck_assert(tu_check(q, 100 * KiB, 5));
	mm_heap_free(h, q);
	mm_heap_destroy(h);
	free(buf);

	/* the default heap, whatever state it is in */
	get_stats(NULL, &st);
	assert_stats_sane(&st);
	void *d = mm_malloc(5000);
	ck_assert_ptr_nonnull(d);
	tu_fill(d, 5000, 3);
	get_stats(NULL, &st2);
	assert_stats_sane(&st2);
	ck_assert_uint_ge(st2.alloc_count, st.alloc_count + 1);
	ck_assert_uint_ge(st2.in_use_bytes, st.in_use_bytes + 5000);
	ck_assert_uint_ge(st2.peak_in_use_bytes, st2.in_use_bytes);
	ck_assert(tu_check(d, 5000, 3));
	mm_free(d);
	get_stats(NULL, &st);
	assert_stats_sane(&st);
}
END_TEST

static Suite *debug_suite(void)
{
	Suite *s = suite_create("debug");
	TCase *tc;

	tc = tcase_create("walk");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_walk_matches_blocks, 0, K_COUNT);
	tcase_add_test(tc, test_walk_stops);
	tcase_add_test(tc, test_walk_null_fn);
	tcase_add_loop_test(tc, test_walk_callback_allocates, 0, K_COUNT);
	tcase_add_loop_test(tc, test_walk_heap_changes, 0, KC_COUNT);
	tcase_add_test(tc, test_walk_resume_point_reused);
	tcase_add_test(tc, test_walk_stops_in_later_batch);
	suite_add_tcase(s, tc);

	tc = tcase_create("check");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_check_healthy);
	tcase_add_test(tc, test_check_corrupt);
	suite_add_tcase(s, tc);

	tc = tcase_create("print");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_print_pool);
	tcase_add_test(tc, test_print_heap);
	tcase_add_test(tc, test_print_mem_list);
	suite_add_tcase(s, tc);

	tc = tcase_create("stats");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_stats_consistent);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(debug_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
