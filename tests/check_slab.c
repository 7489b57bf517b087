/*
 * check_slab: segments and slab pages, the small-block layer of Engine v2
 * (lib/segment.c, lib/slab.c), tested directly through the test build of
 * the library (lib/libmm-test.la).  Not yet behind mm_malloc: these tests
 * are its contract before it is.
 *
 * Size classes, the slot index computed by multiplication (every offset of
 * every class), carving and the state byte of each slot, local and remote
 * frees with their verdicts (double free, middle of a slot, never handed
 * out), masked links, the remote list's push/collect protocol with one
 * interleaving forced through a test hook, and producers freeing remotely
 * while the owner collects.
 */
#define _GNU_SOURCE
#include <check.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libmm.h"
#include "fastpath.h"
#include "testutil.h"

static struct mmi_segment *new_segment(void)
{
	struct mmi_segment *seg = mmi_segment_alloc(mm_default_heap());

	ck_assert_ptr_nonnull(seg);
	ck_assert_uint_eq((uintptr_t)seg & (MMI_SEGMENT - 1), 0);
	return seg;
}

static struct mmi_slab_page *new_page(struct mmi_segment *seg, unsigned cls)
{
	struct mmi_slab_page *page = mmi_segment_page_take(seg);

	ck_assert_ptr_nonnull(page);
	mmi_slab_page_init(seg, page, cls, NULL);
	return page;
}

/* --- classes and slot arithmetic ----------------------------------------- */

START_TEST(test_classes)
{
	for (unsigned c = 0; c < MMI_SLAB_CLASSES; c++) {
		ck_assert_uint_eq(mmi_slab_class_bsize[c] % 16, 0);
		if (c)
			ck_assert_uint_gt(mmi_slab_class_bsize[c], mmi_slab_class_bsize[c - 1]);
	}
	ck_assert_uint_eq(mmi_slab_class_bsize[MMI_SLAB_CLASSES - 1], MMI_SLAB_MAX_BSIZE);
	for (size_t size = 0; size <= MMI_SLAB_MAX_BSIZE; size++) {
		unsigned c = mmi_slab_class(size);
		ck_assert_msg(c < MMI_SLAB_CLASSES, "size %zu: class %u", size, c);
		ck_assert_msg(mmi_slab_class_bsize[c] >= size, "size %zu: class %u too small", size, c);
		/* the smallest class that fits */
		ck_assert_msg(c == 0 || mmi_slab_class_bsize[c - 1] < size,
			"size %zu: class %u is not the smallest", size, c);
	}
}
END_TEST

START_TEST(test_slot_index_every_offset)
{
	struct mmi_segment *seg = new_segment();

	for (unsigned c = 0; c < MMI_SLAB_CLASSES; c++) {
		struct mmi_slab_page *page = new_page(seg, c);
		size_t bsize = mmi_slab_class_bsize[c];

		ck_assert_uint_eq(page->nslots, MMI_SLAB_PAGE / bsize);
		ck_assert_uint_eq(page->area & (MMI_SLAB_PAGE - 1), 0);
		ck_assert_ptr_eq(mmi_slab_page_of(seg, (void *)page->area), page);
		for (size_t off = 0; off < MMI_SLAB_PAGE; off++) {
			long want = off % bsize == 0 && off / bsize < page->nslots ?
				    (long)(off / bsize) : -1;
			long got = mmi_slab_index(page, (void *)(page->area + off));
			if (got != want)
				ck_abort_msg("class %u (%zu bytes), offset %zu: index %ld, not %ld",
					c, bsize, off, got, want);
		}
		ck_assert_int_eq(mmi_slab_index(page, (void *)(page->area - 16)), -1);
	}
	mmi_segment_free(seg);
}
END_TEST

START_TEST(test_segment_in_pagemap)
{
	struct mmi_segment *seg = new_segment();
	uintptr_t base = (uintptr_t)seg;

	ck_assert_ptr_eq(mmi_region_of(base), &seg->region);
	ck_assert_ptr_eq(mmi_region_of(base + MMI_SEGMENT - 1), &seg->region);
	ck_assert_int_eq(seg->region.kind, MMI_REGION_SEGMENT);
	/* metadata stays clear of every page that can hold slots */
	ck_assert_uint_le(MMI_SLAB_META_BYTES, MMI_SLAB_FIRST_PAGE * MMI_SLAB_PAGE);
	unsigned n = 0;
	struct mmi_slab_page *page;
	while ((page = mmi_segment_page_take(seg))) {
		ck_assert_uint_ge((size_t)(page - seg->pages), MMI_SLAB_FIRST_PAGE);
		n++;
	}
	ck_assert_uint_eq(n, MMI_SLAB_PAGES - MMI_SLAB_FIRST_PAGE);
	mmi_segment_free(seg);
	ck_assert_ptr_null(mmi_pagemap_find(base));
	ck_assert_ptr_null(mmi_pagemap_find(base + MMI_SEGMENT - 1));
}
END_TEST

/* --- carving, states, local frees ----------------------------------------- */

START_TEST(test_carve_free_reuse)
{
	struct mmi_segment *seg = new_segment();

	for (unsigned c = 0; c < MMI_SLAB_CLASSES; c += 3) {
		struct mmi_slab_page *page = new_page(seg, c);
		size_t bsize = page->bsize, n = page->nslots;
		unsigned char **slot = calloc(n, sizeof *slot);

		ck_assert_ptr_nonnull(slot);
		for (size_t i = 0; i < n; i++) {
			slot[i] = mmi_slab_alloc(page);
			ck_assert_ptr_nonnull(slot[i]);
			ck_assert(tu_aligned(slot[i], 16));
			ck_assert_ptr_eq(slot[i], (void *)(page->area + i * bsize));
			ck_assert_uint_eq(*mmi_slab_slot_state(page, i), MMI_SLOT_USED);
			tu_fill(slot[i], bsize, (unsigned)i);
		}
		ck_assert_ptr_null(mmi_slab_alloc(page));	/* full */
		ck_assert_uint_eq(mmi_slab_page_used(page), n);
		/* free the odd slots, then misuse */
		for (size_t i = 1; i < n; i += 2) {
			ck_assert(tu_check(slot[i], bsize, (unsigned)i));
			ck_assert_int_eq(mmi_slab_free_local(page, slot[i]), MMI_SLAB_OK);
			ck_assert_uint_eq(*mmi_slab_slot_state(page, i), MMI_SLOT_FREE);
		}
		ck_assert_int_eq(mmi_slab_free_local(page, slot[1]), MMI_SLAB_DOUBLE_FREE);
		ck_assert_int_eq(mmi_slab_free_remote(seg, page, slot[1]), MMI_SLAB_DOUBLE_FREE);
		ck_assert_int_eq(mmi_slab_free_local(page, slot[0] + 8), MMI_SLAB_MIDDLE);
		if (bsize > 16)
			ck_assert_int_eq(mmi_slab_free_local(page, slot[0] + 16), MMI_SLAB_MIDDLE);
		ck_assert_int_eq(mmi_slab_free_local(page, slot[0] + bsize - 1), MMI_SLAB_MIDDLE);
		ck_assert_uint_eq(mmi_slab_page_used(page), n - n / 2);
		/* the even slots were untouched by all that */
		for (size_t i = 0; i < n; i += 2)
			ck_assert(tu_check(slot[i], bsize, (unsigned)i));
		/* reuse: exactly the freed slots come back */
		for (size_t k = 0; k < n / 2; k++) {
			unsigned char *p = mmi_slab_alloc(page);
			long idx = mmi_slab_index(page, p);
			ck_assert_int_ge(idx, 0);
			ck_assert_uint_eq((size_t)idx % 2, 1);
			ck_assert_uint_eq(*mmi_slab_slot_state(page, idx), MMI_SLOT_USED);
		}
		ck_assert_ptr_null(mmi_slab_alloc(page));
		free(slot);
	}
	mmi_segment_free(seg);
}
END_TEST

/* The state bytes are per 16-byte granule: with every slot of a page
 * handed out, exactly the granules where slots start read USED, and a
 * free at any offset is OK at a slot start, MIDDLE inside a slot and
 * INVALID past the last slot -- the verdicts the fast free relies on. */
START_TEST(test_granule_states_every_offset)
{
	struct mmi_segment *seg = new_segment();

	for (unsigned c = 0; c < MMI_SLAB_CLASSES; c++) {
		struct mmi_slab_page *page = new_page(seg, c);
		size_t bsize = page->bsize, n = page->nslots;

		for (size_t i = 0; i < n; i++)
			ck_assert_ptr_nonnull(mmi_slab_alloc(page));
		for (size_t off = 0; off < MMI_SLAB_PAGE; off++) {
			const void *p = (const void *)(page->area + off);
			int start = off % bsize == 0 && off / bsize < n;
			enum mmi_slab_verdict want = start ? MMI_SLAB_OK :
				off < n * bsize ? MMI_SLAB_MIDDLE : MMI_SLAB_INVALID;

			if (off % 16 == 0 && page->state[off / 16] != (start ? MMI_SLOT_USED : MMI_SLOT_UNUSED))
				ck_abort_msg("class %u, offset %zu: state %u", c, off, page->state[off / 16]);
			if (mmi_slab_verdict(page, p) != want)
				ck_abort_msg("class %u, offset %zu: verdict %d, not %d", c, off,
					mmi_slab_verdict(page, p), want);
		}
		/* the page goes back clean: no granule keeps a state */
		for (size_t i = 0; i < n; i++)
			ck_assert_int_eq(mmi_slab_free_local(page, (void *)(page->area + i * bsize)),
				MMI_SLAB_OK);
		mmi_segment_page_return(seg, page);
		for (size_t g = 0; g < MMI_SLAB_GRANULES; g++)
			ck_assert_uint_eq(page->state[g], MMI_SLOT_UNUSED);
	}
	mmi_segment_free(seg);
}
END_TEST

/* The segment map answers for any address without faulting: a segment's
 * whole span while it exists, nothing once it is gone, and no stack,
 * global, null or non-canonical address. */
START_TEST(test_segmap_any_address)
{
	static char global;
	char local;
	struct mmi_segment *seg = new_segment();
	uintptr_t base = (uintptr_t)seg;

	ck_assert(mmi_segmap_has(base));
	ck_assert(mmi_segmap_has(base + MMI_SEGMENT / 2));
	ck_assert(mmi_segmap_has(base + MMI_SEGMENT - 1));
	ck_assert(!mmi_segmap_has((uintptr_t)&global));
	ck_assert(!mmi_segmap_has((uintptr_t)&local));
	ck_assert(!mmi_segmap_has(0));
	ck_assert(!mmi_segmap_has((uintptr_t)1 << MMI_ADDR_BITS));
	ck_assert(!mmi_segmap_has(UINTPTR_MAX));
	ck_assert(!mmi_segmap_has(UINTPTR_MAX - MMI_SEGMENT + 1));
	mmi_segment_free(seg);
	ck_assert(!mmi_segmap_has(base));
	ck_assert(!mmi_segmap_has(base + MMI_SEGMENT - 1));
}
END_TEST

START_TEST(test_never_handed_out_is_invalid)
{
	struct mmi_segment *seg = new_segment();
	struct mmi_slab_page *page = new_page(seg, 3);	/* 64 bytes */
	void *a = mmi_slab_alloc(page);

	ck_assert_ptr_nonnull(a);
	/* slot 1 was never carved */
	ck_assert_int_eq(mmi_slab_free_local(page, (char *)a + 64), MMI_SLAB_INVALID);
	ck_assert_int_eq(mmi_slab_free_remote(seg, page, (char *)a + 64), MMI_SLAB_INVALID);
	/* a page that was never given a class */
	struct mmi_slab_page *blank = mmi_segment_page_take(seg);
	ck_assert_ptr_nonnull(blank);
	blank->in_use = 0;
	ck_assert_int_eq(mmi_slab_free_local(blank,
		(char *)seg + (size_t)(blank - seg->pages) * MMI_SLAB_PAGE), MMI_SLAB_INVALID);
	ck_assert_int_eq(mmi_slab_free_local(page, a), MMI_SLAB_OK);
	ck_assert_uint_eq(mmi_slab_page_used(page), 0);
	mmi_segment_page_return(seg, page);
	ck_assert_uint_eq(*mmi_slab_slot_state(page, 0), MMI_SLOT_UNUSED);
	mmi_segment_free(seg);
}
END_TEST

/* A write after free over a free slot's link: the next allocation but one
 * would return the written address.  It must die instead, naming the slot. */
static void poison_child(struct mmi_slab_page *page, void *target)
{
	void *a = mmi_slab_alloc(page);
	mmi_slab_alloc(page);
	mmi_slab_free_local(page, a);
	*(void *volatile *)a = target;		/* the bug */
	void *volatile x = mmi_slab_alloc(page);
	void *volatile y = mmi_slab_alloc(page);
	(void)x;
	(void)y;
	_exit(0);
}

/* The fast paths' state-byte primitives (one instruction each on
 * x86-64): every state is judged on its own, next to bytes in other
 * states, and a take that fails leaves the byte as it was. */
START_TEST(test_state_primitives)
{
	static const unsigned char all[] = { MMI_SLOT_UNUSED, MMI_SLOT_USED, MMI_SLOT_REMOTE,
					     MMI_SLOT_QUARANTINE, MMI_SLOT_FREE };
	enum { N = sizeof all };
	static unsigned char states[MMI_SLAB_GRANULES];

	for (size_t i = 0; i < N; i++) {
		for (uintptr_t g = 0; g < MMI_SLAB_GRANULES; g++)
			states[g] = all[(g + i) % N];
		for (uintptr_t g = 0; g < MMI_SLAB_GRANULES; g++) {
			unsigned char was = states[g];

			ck_assert_int_eq(mmi_state_is(states, g, MMI_SLOT_USED), was == MMI_SLOT_USED);
			ck_assert_int_eq(mmi_state_is(states, g, MMI_SLOT_FREE), was == MMI_SLOT_FREE);
			ck_assert_int_eq(mmi_state_take_free(states, g), was == MMI_SLOT_FREE);
			ck_assert_uint_eq(states[g], was == MMI_SLOT_FREE ? MMI_SLOT_USED : was);
			/* the neighbours are untouched */
			if (g > 0)
				ck_assert_uint_ne(states[g - 1], MMI_SLOT_FREE);
			if (g + 1 < MMI_SLAB_GRANULES)
				ck_assert_uint_eq(states[g + 1], all[(g + 1 + i) % N]);
		}
	}
	/* FREE is the largest state: the take's one test relies on it */
	for (size_t i = 0; i < N; i++)
		ck_assert_uint_le(all[i], MMI_SLOT_FREE);
}
END_TEST

START_TEST(test_poisoned_link_is_corruption)
{
	static char target[64];
	struct mmi_segment *seg = new_segment();
	struct mmi_slab_page *page = new_page(seg, 1);
	int fds[2], status;
	char buf[256] = "";

	ck_assert_int_eq(pipe(fds), 0);
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct rlimit none = { 0, 0 };
		setrlimit(RLIMIT_CORE, &none);
		dup2(fds[1], 2);
		poison_child(page, target);
	}
	close(fds[1]);
	ssize_t n = read(fds[0], buf, sizeof buf - 1);
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
		"the poisoned link was followed (status %#x)", status);
	buf[n > 0 ? n : 0] = '\0';
	char want[128];
	snprintf(want, sizeof want, "libmm: fatal: heap corruption at %p\n", (void *)page->area);
	ck_assert_str_eq(buf, want);
	mmi_segment_free(seg);
}
END_TEST

/* --- remote frees ----------------------------------------------------------- */

struct remote_job {
	struct mmi_segment *seg;
	struct mmi_slab_page *page;
	void *p;
	int verdict;
};

static sem_t hook_reached, hook_release;
static atomic_int hook_block_next;

/* The remote push read the list head: hold it there once. */
static void hold_pusher(void)
{
	if (atomic_exchange(&hook_block_next, 0)) {
		sem_post(&hook_reached);
		sem_wait(&hook_release);
	}
}

static void *remote_free_thread(void *arg)
{
	struct remote_job *j = arg;

	j->verdict = mmi_slab_free_remote(j->seg, j->page, j->p);
	return NULL;
}

/*
 * Pusher A reads the head and stops; B pushes meanwhile, so A's
 * compare-and-swap fails and must retry with B at the head.  Then the owner
 * collects both.  And: A stops, B pushes, the owner collects everything
 * (head back to NULL), A's compare-and-swap then succeeds against NULL.
 * No free may be lost or applied twice.
 */
START_TEST(test_remote_push_interleavings)
{
	struct mmi_segment *seg = new_segment();
	struct mmi_slab_page *page = new_page(seg, 2);
	pthread_t ta, tb;

	sem_init(&hook_reached, 0, 0);
	sem_init(&hook_release, 0, 0);
	mmi_test.slab_remote_push = hold_pusher;
	for (int variant = 0; variant < 2; variant++) {
		void *a = mmi_slab_alloc(page), *b = mmi_slab_alloc(page);
		struct remote_job ja = { seg, page, a, -1 }, jb = { seg, page, b, -1 };

		ck_assert_ptr_nonnull(a);
		ck_assert_ptr_nonnull(b);
		atomic_store(&hook_block_next, 1);
		ck_assert_int_eq(pthread_create(&ta, NULL, remote_free_thread, &ja), 0);
		sem_wait(&hook_reached);		/* A holds the old head */
		ck_assert_int_eq(pthread_create(&tb, NULL, remote_free_thread, &jb), 0);
		pthread_join(tb, NULL);			/* B pushed */
		ck_assert_int_eq(jb.verdict, MMI_SLAB_OK);
		unsigned got = 0;
		if (variant == 1)
			got += mmi_slab_collect(seg, page);	/* takes B: head NULL again */
		sem_post(&hook_release);
		pthread_join(ta, NULL);
		ck_assert_int_eq(ja.verdict, MMI_SLAB_OK);
		got += mmi_slab_collect(seg, page);
		ck_assert_uint_eq(got, 2);
		ck_assert_uint_eq(page->state[mmi_slab_granule(a)], MMI_SLOT_FREE);
		ck_assert_uint_eq(page->state[mmi_slab_granule(b)], MMI_SLOT_FREE);
		ck_assert_uint_eq(mmi_slab_page_used(page), 0);
		ck_assert_uint_eq(mmi_slab_collect(seg, page), 0);
		/* both are on the local list now, once each */
		void *x = mmi_slab_alloc(page), *y = mmi_slab_alloc(page);
		ck_assert((x == a && y == b) || (x == b && y == a));
		mmi_slab_free_local(page, x);
		mmi_slab_free_local(page, y);
	}
	mmi_test.slab_remote_push = NULL;
	mmi_segment_free(seg);
}
END_TEST

/* Producers free remotely while the owner collects and reallocates. */
#define PRODUCERS 3
#define ROUNDS 40

struct producer {
	struct mmi_segment *seg;
	struct mmi_slab_page *page;
	void **slots;
	size_t first, n;
	unsigned round;
	long bad;
};

static void *producer_thread(void *arg)
{
	struct producer *pr = arg;

	for (size_t i = pr->first; i < pr->first + pr->n; i++) {
		if (!tu_check(pr->slots[i], pr->page->bsize, pr->round * 7919u + (unsigned)i))
			pr->bad++;
		if (mmi_slab_free_remote(pr->seg, pr->page, pr->slots[i]) != MMI_SLAB_OK)
			pr->bad++;
	}
	return NULL;
}

START_TEST(test_remote_producers)
{
	struct mmi_segment *seg = new_segment();
	struct mmi_slab_page *page = new_page(seg, 4);	/* 80 bytes */
	size_t n = page->nslots;
	void **slots = calloc(n, sizeof *slots);

	ck_assert_ptr_nonnull(slots);
	for (unsigned round = 0; round < ROUNDS; round++) {
		struct producer pr[PRODUCERS];
		pthread_t t[PRODUCERS];
		size_t per = n / PRODUCERS;
		unsigned collected = 0;

		for (size_t i = 0; i < n; i++) {
			slots[i] = mmi_slab_alloc(page);
			ck_assert_ptr_nonnull(slots[i]);
			tu_fill(slots[i], page->bsize, round * 7919u + (unsigned)i);
		}
		for (int k = 0; k < PRODUCERS; k++) {
			pr[k] = (struct producer){ seg, page, slots, k * per,
				k == PRODUCERS - 1 ? n - k * per : per, round, 0 };
			ck_assert_int_eq(pthread_create(&t[k], NULL, producer_thread, &pr[k]), 0);
		}
		/* the owner collects while they free */
		while (collected < n / 2)
			collected += mmi_slab_collect(seg, page);
		for (int k = 0; k < PRODUCERS; k++) {
			pthread_join(t[k], NULL);
			ck_assert_int_eq(pr[k].bad, 0);
		}
		collected += mmi_slab_collect(seg, page);
		ck_assert_uint_eq(collected, n);
		ck_assert_uint_eq(mmi_slab_page_used(page), 0);
		for (size_t i = 0; i < n; i++)
			ck_assert_uint_eq(*mmi_slab_slot_state(page, i), MMI_SLOT_FREE);
	}
	free(slots);
	mmi_segment_free(seg);
}
END_TEST

/* Two threads free the same block at once: exactly one wins. */
struct racer {
	struct mmi_segment *seg;
	struct mmi_slab_page *page;
	void **slots;
	size_t n;
	pthread_barrier_t *go;
	long ok, doubles;
};

static void *racer_thread(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->go);
	for (size_t i = 0; i < r->n; i++) {
		int v = mmi_slab_free_remote(r->seg, r->page, r->slots[i]);
		if (v == MMI_SLAB_OK)
			r->ok++;
		else if (v == MMI_SLAB_DOUBLE_FREE)
			r->doubles++;
	}
	return NULL;
}

START_TEST(test_racing_double_free)
{
	struct mmi_segment *seg = new_segment();
	struct mmi_slab_page *page = new_page(seg, 0);	/* 16 bytes: 4096 slots */
	size_t n = page->nslots;
	void **slots = calloc(n, sizeof *slots);
	pthread_barrier_t go;
	struct racer r[2];
	pthread_t t[2];

	ck_assert_ptr_nonnull(slots);
	for (size_t i = 0; i < n; i++)
		slots[i] = mmi_slab_alloc(page);
	pthread_barrier_init(&go, NULL, 2);
	for (int k = 0; k < 2; k++) {
		r[k] = (struct racer){ seg, page, slots, n, &go, 0, 0 };
		ck_assert_int_eq(pthread_create(&t[k], NULL, racer_thread, &r[k]), 0);
	}
	for (int k = 0; k < 2; k++)
		pthread_join(t[k], NULL);
	ck_assert_uint_eq(r[0].ok + r[1].ok, n);
	ck_assert_uint_eq(r[0].doubles + r[1].doubles, n);
	ck_assert_uint_eq(mmi_slab_collect(seg, page), n);
	ck_assert_uint_eq(mmi_slab_page_used(page), 0);
	pthread_barrier_destroy(&go);
	free(slots);
	mmi_segment_free(seg);
}
END_TEST

static Suite *slab_suite(void)
{
	Suite *s = suite_create("slab");
	TCase *tc = tcase_create("pages");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_classes);
	tcase_add_test(tc, test_slot_index_every_offset);
	tcase_add_test(tc, test_segment_in_pagemap);
	tcase_add_test(tc, test_carve_free_reuse);
	tcase_add_test(tc, test_never_handed_out_is_invalid);
	tcase_add_test(tc, test_poisoned_link_is_corruption);
	tcase_add_test(tc, test_state_primitives);
	tcase_add_test(tc, test_granule_states_every_offset);
	tcase_add_test(tc, test_segmap_any_address);
	suite_add_tcase(s, tc);

	tc = tcase_create("remote frees");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_remote_push_interleavings);
	tcase_add_test(tc, test_remote_producers);
	tcase_add_test(tc, test_racing_double_free);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(slab_suite());

	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
