/*
 * Helpers of the Check suites that look at a heap through mm_heap_walk:
 * every block walked, collected into an array allocated beforehand (so
 * that collecting changes nothing in the heap it looks at).
 */
#ifndef LIBMM_WALKUTIL_H
#define LIBMM_WALKUTIL_H

#include <check.h>
#include <stdlib.h>

#include <libmm.h>

struct blk {
	void *addr;
	size_t size;
	int in_use;
};

struct blist {
	struct blk *v;
	size_t n, cap;
};

static int collect_cb(void *block, size_t size, int in_use, void *arg)
{
	struct blist *l = arg;
	if (l->n < l->cap) {
		l->v[l->n].addr = block;
		l->v[l->n].size = size;
		l->v[l->n].in_use = in_use;
	}
	l->n++;
	return 0;
}

static void blist_init(struct blist *l, size_t cap)
{
	l->v = calloc(cap, sizeof *l->v);
	ck_assert_ptr_nonnull(l->v);
	l->n = 0;
	l->cap = cap;
}

static void blist_fini(struct blist *l)
{
	free(l->v);
	l->v = NULL;
}

static void walk_collect(mm_heap_t *h, struct blist *l)
{
	l->n = 0;
	ck_assert_int_eq(mm_heap_walk(h, collect_cb, l), 0);
	ck_assert_msg(l->n <= l->cap, "walk saw %zu blocks, room for %zu",
		      l->n, l->cap);
}

#endif
