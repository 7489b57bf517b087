/*
 * check_shard: per-thread shards of slab pages (lib/shard.c), the next
 * layer of Engine v2, tested directly through the test build of the
 * library.  Not yet behind mm_malloc.
 *
 * Allocation across pages and segments with contents verified, frees from
 * the owner and from other threads, abandon and adopt (with blocks live,
 * frees pending, and a free list torn the way a fork in the middle of a
 * malloc leaves it), the abandoned stack under a forced interleaving, and
 * trim giving pages and segments back, and pages emptied in one class
 * taken by another.
 */
#define _GNU_SOURCE
#include <check.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libmm.h"
#include "mm_internal.h"
#include "testutil.h"

/* A heap of its own for the shards of each test: only its shard fields
 * are used. */
static struct mm_heap *new_heap(void)
{
	mm_heap_t *h = mm_heap_create(0);

	ck_assert_ptr_nonnull(h);
	return h;
}

static struct mmi_segment *seg_of(void *p)
{
	struct mmi_region *r = mmi_region_of((uintptr_t)p);

	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(r->kind, MMI_REGION_SEGMENT);
	return (struct mmi_segment *)r;
}

static size_t size_for(unsigned i)
{
	return 1 + (i * 37u) % MMI_SLAB_MAX_BSIZE;
}

START_TEST(test_alloc_many_pages_and_segments)
{
	struct mm_heap *h = new_heap();
	struct mmi_shard *s = mmi_shard_acquire(h);
	enum { N = 20000 };
	static unsigned char *v[N];
	size_t bytes = 0;

	ck_assert_ptr_nonnull(s);
	for (unsigned i = 0; i < N; i++) {
		size_t n = size_for(i);
		v[i] = mmi_shard_alloc(s, n);
		ck_assert_ptr_nonnull(v[i]);
		ck_assert(tu_aligned(v[i], 16));
		struct mmi_slab_page *pg = mmi_slab_page_of(seg_of(v[i]), v[i]);
		ck_assert_uint_ge(pg->bsize, n);
		ck_assert_ptr_eq(pg->shard, s);
		tu_fill(v[i], n, i);
		bytes += pg->bsize;
	}
	ck_assert_uint_gt(bytes, MMI_SEGMENT);	/* more than one segment */
	ck_assert_ptr_nonnull(s->segments);
	ck_assert_ptr_nonnull(s->segments->next);
	for (unsigned i = 0; i < N; i++)
		ck_assert_msg(tu_check(v[i], size_for(i), i), "block %u damaged", i);
	for (unsigned i = 0; i < N; i += 2)
		ck_assert_int_eq(mmi_shard_free(s, seg_of(v[i]), v[i]), MMI_SLAB_OK);
	ck_assert_int_eq(mmi_shard_free(s, seg_of(v[0]), v[0]), MMI_SLAB_DOUBLE_FREE);
	for (unsigned i = 1; i < N; i += 2)
		ck_assert(tu_check(v[i], size_for(i), i));
	/* freed slots are reused before new pages are carved */
	for (unsigned i = 0; i < N; i += 2) {
		v[i] = mmi_shard_alloc(s, size_for(i));
		ck_assert_ptr_nonnull(v[i]);
		tu_fill(v[i], size_for(i), i);
	}
	for (unsigned i = 0; i < N; i++) {
		ck_assert(tu_check(v[i], size_for(i), i));
		ck_assert_int_eq(mmi_shard_free(s, seg_of(v[i]), v[i]), MMI_SLAB_OK);
	}
	mmi_shards_lock();
	ck_assert_int_eq(mmi_shard_trim(s), 1);
	mmi_shards_unlock();
	ck_assert_ptr_null(s->segments);
	ck_assert_ptr_null(mmi_region_of((uintptr_t)v[0]));
	mm_heap_destroy(h);
}
END_TEST

/* Pages that have emptied in one class are taken by another, with their
 * memory, before fresh pages are (buffers that grow through the classes). */
START_TEST(test_empty_pages_change_class)
{
	struct mm_heap *h = new_heap();
	struct mmi_shard *s = mmi_shard_acquire(h);
	enum { PAGES = 32, NA = PAGES * (MMI_SLAB_PAGE / 1024), NB = 2 * PAGES * (MMI_SLAB_PAGE / 2048) };
	static unsigned char *a[NA], *b[NB];
	uintptr_t area[PAGES];
	size_t nareas = 0, reused = 0;

	ck_assert_ptr_nonnull(s);
	for (unsigned i = 0; i < NA; i++) {
		a[i] = mmi_shard_alloc(s, 1024);
		ck_assert_ptr_nonnull(a[i]);
		tu_fill(a[i], 1024, i);
		struct mmi_slab_page *pg = mmi_slab_page_of(seg_of(a[i]), a[i]);
		if (!nareas || area[nareas - 1] != pg->area) {
			ck_assert_uint_lt(nareas, PAGES);
			area[nareas++] = pg->area;
		}
	}
	ck_assert_uint_eq(nareas, PAGES);
	for (unsigned i = 0; i < NA; i++) {
		ck_assert(tu_check(a[i], 1024, i));
		ck_assert_int_eq(mmi_shard_free(s, seg_of(a[i]), a[i]), MMI_SLAB_OK);
	}
	/* twice as many pages of another class: the empty ones are found,
	 * parked and taken, not left in their class beside fresh pages */
	for (unsigned i = 0; i < NB; i++) {
		b[i] = mmi_shard_alloc(s, 2048);
		ck_assert_ptr_nonnull(b[i]);
		tu_fill(b[i], 2048, i);
	}
	for (size_t k = 0; k < PAGES; k++) {
		for (unsigned i = 0; i < NB; i++)
			if (mmi_slab_page_of(seg_of(b[i]), b[i])->area == area[k]) {
				reused++;
				break;
			}
	}
	ck_assert_uint_ge(reused, PAGES / 2);
	/* a page given another class reads its new slots only: an old
	 * pointer in the middle of a 2 KiB slot is no block */
	for (unsigned i = 0; i < NA; i++) {
		struct mmi_slab_page *pg = mmi_slab_page_of(seg_of(a[i]), a[i]);
		if (pg->bsize == 2048 && ((uintptr_t)a[i] - pg->area) % 2048) {
			ck_assert_int_eq(mmi_slab_verdict(pg, a[i]), MMI_SLAB_MIDDLE);
			break;
		}
	}
	for (unsigned i = 0; i < NB; i++) {
		ck_assert_msg(tu_check(b[i], 2048, i), "block %u damaged", i);
		ck_assert_int_eq(mmi_shard_free(s, seg_of(b[i]), b[i]), MMI_SLAB_OK);
	}
	mmi_shards_lock();
	ck_assert_int_eq(mmi_shard_trim(s), 1);
	mmi_shards_unlock();
	ck_assert_ptr_null(s->segments);
	mm_heap_destroy(h);
}
END_TEST

/* Blocks of one shard freed by other threads come back to the owner. */
struct freer {
	struct mmi_shard *mine;		/* the freeing thread's own shard */
	void **v;
	size_t n;
	long bad;
};

static void *free_remotely(void *arg)
{
	struct freer *f = arg;

	for (size_t i = 0; i < f->n; i++) {
		if (!tu_check(f->v[i], 48, (unsigned)(uintptr_t)f->v[i]))
			f->bad++;
		if (mmi_shard_free(f->mine, seg_of(f->v[i]), f->v[i]) != MMI_SLAB_OK)
			f->bad++;
	}
	return NULL;
}

START_TEST(test_remote_frees_return_to_owner)
{
	struct mm_heap *h = new_heap();
	struct mmi_shard *owner = mmi_shard_acquire(h), *other = mmi_shard_acquire(h);
	enum { N = 3000 };
	static void *v[N];
	pthread_t t[2];
	struct freer f[2];

	ck_assert_ptr_nonnull(owner);
	ck_assert_ptr_nonnull(other);
	ck_assert_ptr_ne(owner, other);
	for (size_t i = 0; i < N; i++) {
		v[i] = mmi_shard_alloc(owner, 48);
		ck_assert_ptr_nonnull(v[i]);
		tu_fill(v[i], 48, (unsigned)(uintptr_t)v[i]);
	}
	f[0] = (struct freer){ other, v, N / 2, 0 };
	f[1] = (struct freer){ NULL, v + N / 2, N - N / 2, 0 };	/* a thread without a shard */
	for (int k = 0; k < 2; k++)
		ck_assert_int_eq(pthread_create(&t[k], NULL, free_remotely, &f[k]), 0);
	for (int k = 0; k < 2; k++) {
		pthread_join(t[k], NULL);
		ck_assert_int_eq(f[k].bad, 0);
	}
	/* every slot is REMOTE now; the owner collects them as it allocates:
	 * no new page is needed for N more blocks */
	struct mmi_segment *segs_before = owner->segments;
	for (size_t i = 0; i < N; i++) {
		void *p = mmi_shard_alloc(owner, 48);
		ck_assert_ptr_nonnull(p);
		struct mmi_slab_page *pg = mmi_slab_page_of(seg_of(p), p);
		ck_assert_uint_eq(pg->state[mmi_slab_granule(p)], MMI_SLOT_USED);
	}
	ck_assert_ptr_eq(owner->segments, segs_before);
	ck_assert_ptr_null(other->segments);
	mm_heap_destroy(h);
}
END_TEST

/* --- abandon and adopt ------------------------------------------------------ */

struct exiting {
	struct mm_heap *h;
	void *kept[64];
	void *freed_remote;
};

/* A thread that allocates, frees some, keeps some live, and exits,
 * abandoning its shard. */
static void *short_life(void *arg)
{
	struct exiting *e = arg;
	struct mmi_shard *s = mmi_shard_acquire(e->h);
	void *gone[64];

	for (int i = 0; i < 64; i++) {
		e->kept[i] = mmi_shard_alloc(s, 100);
		gone[i] = mmi_shard_alloc(s, 100);
		tu_fill(e->kept[i], 100, (unsigned)i);
	}
	for (int i = 0; i < 64; i++)
		mmi_shard_free(s, seg_of(gone[i]), gone[i]);
	mmi_shard_abandon(s);
	return s;
}

START_TEST(test_abandon_then_adopt)
{
	struct mm_heap *h = new_heap();
	struct exiting e = { .h = h };
	pthread_t t;
	void *ret;

	ck_assert_int_eq(pthread_create(&t, NULL, short_life, &e), 0);
	pthread_join(t, &ret);
	struct mmi_shard *dead = ret;
	ck_assert_int_eq(dead->abandoned, 1);
	ck_assert_ptr_eq(h->abandoned, dead);

	/* a free into the abandoned shard's page: remote, and kept */
	ck_assert_int_eq(mmi_shard_free(NULL, seg_of(e.kept[0]), e.kept[0]), MMI_SLAB_OK);

	/* the next thread adopts it whole */
	struct mmi_shard *s = mmi_shard_acquire(h);
	ck_assert_ptr_eq(s, dead);
	ck_assert_int_eq(s->abandoned, 0);
	ck_assert_ptr_null(h->abandoned);
	for (int i = 1; i < 64; i++) {
		ck_assert(tu_check(e.kept[i], 100, (unsigned)i));
		/* the old owner's blocks are the adopter's own now */
		ck_assert_int_eq(mmi_shard_free(s, seg_of(e.kept[i]), e.kept[i]), MMI_SLAB_OK);
	}
	ck_assert_int_eq(mmi_shard_free(s, seg_of(e.kept[1]), e.kept[1]), MMI_SLAB_DOUBLE_FREE);
	/* 128 slots were carved; all are free again, none handed out twice */
	void *seen[128];
	for (int i = 0; i < 128; i++) {
		seen[i] = mmi_shard_alloc(s, 100);
		for (int j = 0; j < i; j++)
			ck_assert_ptr_ne(seen[i], seen[j]);
	}
	struct mmi_slab_page *pg = mmi_slab_page_of(seg_of(seen[0]), seen[0]);
	ck_assert_uint_eq(pg->carved, 128);	/* no new slot was needed */
	mm_heap_destroy(h);
}
END_TEST

/* A shard abandoned in the middle of a malloc (a slot off the free list,
 * its state still FREE), as a fork leaves another thread's shard: the
 * adopter rebuilds from the state bytes and loses nothing. */
START_TEST(test_adopt_torn_free_list)
{
	struct mm_heap *h = new_heap();
	struct mmi_shard *s = mmi_shard_acquire(h);
	void *a = mmi_shard_alloc(s, 64), *b = mmi_shard_alloc(s, 64), *c = mmi_shard_alloc(s, 64);
	struct mmi_segment *seg = seg_of(a);
	struct mmi_slab_page *pg = mmi_slab_page_of(seg, a);

	ck_assert_int_eq(mmi_shard_free(s, seg, a), MMI_SLAB_OK);
	ck_assert_int_eq(mmi_shard_free(s, seg, b), MMI_SLAB_OK);
	/* torn: the list head moved past b, b's state not yet USED */
	pg->free_head = MMI_SLAB_LIST_END;
	mmi_shard_abandon(s);
	ck_assert_ptr_eq(mmi_shard_acquire(h), s);
	ck_assert_uint_eq(mmi_slab_page_used(pg), 1);	/* only c */
	void *x = mmi_shard_alloc(s, 64), *y = mmi_shard_alloc(s, 64);
	ck_assert((x == a && y == b) || (x == b && y == a));
	ck_assert_int_eq(mmi_shard_free(s, seg, c), MMI_SLAB_OK);
	mm_heap_destroy(h);
}
END_TEST

/* Two threads abandon at once; one stops after reading the stack head. */
static sem_t reached, release;
static atomic_int block_once;

static void hold_abandoner(void)
{
	if (atomic_exchange(&block_once, 0)) {
		sem_post(&reached);
		sem_wait(&release);
	}
}

static void *abandon_thread(void *arg)
{
	mmi_shard_abandon(arg);
	return NULL;
}

START_TEST(test_abandon_push_interleaving)
{
	struct mm_heap *h = new_heap();
	struct mmi_shard *a = mmi_shard_acquire(h), *b = mmi_shard_acquire(h);
	pthread_t ta, tb;

	sem_init(&reached, 0, 0);
	sem_init(&release, 0, 0);
	mmi_test.shard_abandon_push = hold_abandoner;
	atomic_store(&block_once, 1);
	ck_assert_int_eq(pthread_create(&ta, NULL, abandon_thread, a), 0);
	sem_wait(&reached);			/* a read the empty head */
	ck_assert_int_eq(pthread_create(&tb, NULL, abandon_thread, b), 0);
	pthread_join(tb, NULL);			/* b pushed */
	sem_post(&release);
	pthread_join(ta, NULL);			/* a retried on top of b */
	mmi_test.shard_abandon_push = NULL;
	struct mmi_shard *x = mmi_shard_acquire(h), *y = mmi_shard_acquire(h);
	ck_assert((x == a && y == b) || (x == b && y == a));
	ck_assert_ptr_null(h->abandoned);
	mm_heap_destroy(h);
}
END_TEST

/* Heaps of good fit on mmap keep small blocks in per-thread shards as the
 * default heap does: the calling thread's shard of the heap owns the
 * page, another thread gets a shard of its own, and the other heap kinds
 * keep their blocks out of segments. */
static void *other_thread_alloc(void *arg)
{
	mm_heap_t *h = arg;
	void *p = mm_heap_malloc(h, 48);

	ck_assert_ptr_nonnull(p);
	ck_assert(mmi_segmap_has((uintptr_t)p));
	ck_assert_ptr_eq(mmi_slab_page_of(seg_of(p), p)->shard, mmi_thread_heap_shard(h, 0));
	return p;
}

START_TEST(test_good_heap_uses_shards)
{
	static _Alignas(16) unsigned char buf[64 * 1024];
	mm_heap_t *h = mm_heap_create(0), *first = mm_heap_create(MM_FIT_FIRST);
	mm_heap_t *best = mm_heap_create(MM_FIT_BEST), *pool = mm_heap_create_in(buf, sizeof buf, 0);
	pthread_t t;
	void *theirs;

	ck_assert(h && first && best && pool);
	ck_assert_ptr_null(mmi_thread_heap_shard(h, 0));
	void *p = mm_heap_malloc(h, 48), *q = mm_heap_malloc(h, MMI_SLAB_MAX_BSIZE);
	ck_assert(p && q);
	struct mmi_shard *mine = mmi_thread_heap_shard(h, 0);
	ck_assert_ptr_nonnull(mine);
	ck_assert_ptr_ne(mine, mmi_thread.shard);	/* not the default heap's */
	ck_assert_ptr_eq(mine->heap, h);
	ck_assert_ptr_eq(mmi_slab_page_of(seg_of(p), p)->shard, mine);
	ck_assert_ptr_eq(mmi_slab_page_of(seg_of(q), q)->shard, mine);
	ck_assert_ptr_eq(seg_of(p)->region.heap, h);
	ck_assert_int_eq(pthread_create(&t, NULL, other_thread_alloc, h), 0);
	ck_assert_int_eq(pthread_join(t, &theirs), 0);
	ck_assert_ptr_ne(mmi_slab_page_of(seg_of(theirs), theirs)->shard, mine);
	mm_heap_free(h, theirs);		/* remote: its thread has exited */
	/* the other kinds: boundary tags, no segment */
	void *f = mm_heap_malloc(first, 48), *b = mm_heap_malloc(best, 48), *o = mm_heap_malloc(pool, 48);
	ck_assert(f && b && o);
	ck_assert(!mmi_segmap_has((uintptr_t)f) && !mmi_segmap_has((uintptr_t)b) &&
		  !mmi_segmap_has((uintptr_t)o));
	mm_free(p);
	mm_heap_free(h, q);
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_stats_t st;
	ck_assert_int_eq(mm_heap_stats(h, &st, sizeof st), 0);
	ck_assert_uint_eq(st.in_use_blocks, 0);
	ck_assert_uint_eq(st.alloc_count, 3);
	ck_assert_uint_eq(st.free_count, 3);
	uintptr_t seg = (uintptr_t)seg_of(p);
	mm_heap_destroy(h);
	ck_assert(!mmi_segmap_has(seg));	/* its segments went with it */
	mm_heap_destroy(first);
	mm_heap_destroy(best);
	mm_heap_destroy(pool);
}
END_TEST

/* A destroyed heap's note in a thread is never read through, even when a
 * new heap takes the same address. */
START_TEST(test_note_outlives_heap)
{
	for (int round = 0; round < 8; round++) {
		mm_heap_t *h = mm_heap_create(0);
		ck_assert_ptr_nonnull(h);
		void *p = mm_heap_malloc(h, 100);
		ck_assert_ptr_nonnull(p);
		struct mmi_shard *s = mmi_thread_heap_shard(h, 0);
		ck_assert_ptr_nonnull(s);
		mm_heap_destroy(h);		/* p, s and its segment gone */
		mm_heap_t *h2 = mm_heap_create(0);
		ck_assert_ptr_nonnull(h2);
		ck_assert_ptr_null(mmi_thread_heap_shard(h2, 0));	/* same address or not */
		void *q = mm_heap_malloc(h2, 100);
		ck_assert_ptr_nonnull(q);
		ck_assert_ptr_eq(mmi_slab_page_of(seg_of(q), q)->shard, mmi_thread_heap_shard(h2, 0));
		mm_heap_free(h2, q);
		ck_assert_int_eq(mm_heap_check(h2), 0);
		mm_heap_destroy(h2);
	}
}
END_TEST

/* A thread using more heaps than it has notes gives the oldest note's shard
 * up: blocks of that shard stay good, and are freed (remotely, onto the
 * abandoned shard) and reused later. */
START_TEST(test_more_heaps_than_notes)
{
	enum { NH = MMI_THREAD_HEAPS + 3, NB = 50 };
	mm_heap_t *h[NH];
	unsigned char *v[NH][NB];

	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < NH; i++) {
			if (round == 0)
				ck_assert_ptr_nonnull(h[i] = mm_heap_create(0));
			for (int k = 0; k < NB; k++) {
				size_t n = 16 + (size_t)(i * 7 + k * 13) % 900;
				v[i][k] = mm_heap_malloc(h[i], n);
				ck_assert_ptr_nonnull(v[i][k]);
				tu_fill(v[i][k], n, (unsigned)(round * 1000 + i * NB + k));
			}
		}
		for (int i = 0; i < NH; i++) {
			for (int k = 0; k < NB; k++) {
				size_t n = 16 + (size_t)(i * 7 + k * 13) % 900;
				ck_assert(tu_check(v[i][k], n, (unsigned)(round * 1000 + i * NB + k)));
				mm_heap_free(h[i], v[i][k]);
			}
			ck_assert_int_eq(mm_heap_check(h[i]), 0);
		}
	}
	for (int i = 0; i < NH; i++) {
		mm_stats_t st;
		ck_assert_int_eq(mm_heap_stats(h[i], &st, sizeof st), 0);
		ck_assert_uint_eq(st.in_use_blocks, 0);
		ck_assert_uint_eq(st.alloc_count, 3 * NB);
		mm_heap_destroy(h[i]);
	}
}
END_TEST

/* A thread that exits after the heap it used was destroyed. */
static sem_t used, destroyed;

static void *user_then_exit(void *arg)
{
	mm_heap_t *h = arg;
	void *p = mm_heap_malloc(h, 32);

	ck_assert_ptr_nonnull(p);
	sem_post(&used);
	sem_wait(&destroyed);
	return NULL;	/* its note of h is stale now */
}

START_TEST(test_thread_exit_after_destroy)
{
	pthread_t t;
	mm_heap_t *h = mm_heap_create(0);

	ck_assert_ptr_nonnull(h);
	sem_init(&used, 0, 0);
	sem_init(&destroyed, 0, 0);
	ck_assert_int_eq(pthread_create(&t, NULL, user_then_exit, h), 0);
	sem_wait(&used);
	mm_heap_destroy(h);
	mm_heap_t *h2 = mm_heap_create(0);	/* perhaps at h's address */
	ck_assert_ptr_nonnull(h2);
	sem_post(&destroyed);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_int_eq(mm_heap_check(h2), 0);
	void *p = mm_heap_malloc(h2, 32);
	ck_assert_ptr_nonnull(p);
	mm_heap_free(h2, p);
	mm_heap_destroy(h2);
}
END_TEST

static Suite *shard_suite(void)
{
	Suite *s = suite_create("shard");
	TCase *tc = tcase_create("shards");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_alloc_many_pages_and_segments);
	tcase_add_test(tc, test_empty_pages_change_class);
	tcase_add_test(tc, test_remote_frees_return_to_owner);
	tcase_add_test(tc, test_abandon_then_adopt);
	tcase_add_test(tc, test_adopt_torn_free_list);
	tcase_add_test(tc, test_abandon_push_interleaving);
	tcase_add_test(tc, test_good_heap_uses_shards);
	tcase_add_test(tc, test_note_outlives_heap);
	tcase_add_test(tc, test_more_heaps_than_notes);
	tcase_add_test(tc, test_thread_exit_after_destroy);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(shard_suite());

	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
