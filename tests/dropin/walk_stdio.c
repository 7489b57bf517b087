/*
 * walk_stdio: a walk of libmm's default heap whose callback uses stdio and
 * malloc, with libmm as the process's malloc (built linked with
 * libmm-malloc and plain, for LD_PRELOAD, like every drop-in test; run by
 * tests/dropin/walk-stdio.sh).
 *
 * Nothing is printed before the walk: the callback's first printf is the
 * program's first, so stdio allocates the buffer of stdout from inside the
 * callback, while mm_heap_walk is in the middle of the heap that serves
 * malloc.  The callback also mallocs and frees a string for every block.
 * alarm() turns a deadlock into death by SIGALRM.
 *
 * Output: one line "block <addr> <size> <in_use>" per block reported, then
 * "walk-stdio: <n> blocks reported, <k> of <K> live blocks once".  Exit 0
 * when each of the K blocks allocated before the walk was reported exactly
 * once, in use, with at least its size, and holds its contents.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "dropin.h"

#define NBLOCKS 40

struct mine {
	void *p;
	size_t size;
	int seen;
};

struct walk {
	struct mine m[NBLOCKS];
	size_t reports, bad_size, reported_free;
	int alloc_failed;
};

static void say(const char *s)
{
	ssize_t r = write(2, s, strlen(s));
	(void)r;
}

static int visit(void *block, size_t size, int in_use, void *arg)
{
	struct walk *w = arg;
	char *s;

	w->reports++;
	printf("block %p %zu %d\n", block, size, in_use);
	s = malloc(32 + w->reports % 200);
	if (!s) {
		w->alloc_failed = 1;
		return 0;
	}
	snprintf(s, 32, "%zu", w->reports);
	free(s);
	for (unsigned i = 0; i < NBLOCKS; i++) {
		if (w->m[i].p != block)
			continue;
		w->m[i].seen++;
		if (!in_use)
			w->reported_free++;
		if (size < w->m[i].size)
			w->bad_size++;
	}
	return 0;
}

int main(void)
{
	static struct walk w;
	const char *why = dropin_malloc_is_ours();
	unsigned once = 0;
	int ret;

	if (why) {
		say("walk_stdio: ");
		say(why);
		say("\n");
		return 2;
	}
	for (unsigned i = 0; i < NBLOCKS; i++) {
		w.m[i].size = 24 + (size_t)i * 53;
		w.m[i].p = malloc(w.m[i].size);
		if (!w.m[i].p) {
			say("walk_stdio: malloc failed\n");
			return 2;
		}
		tu_fill(w.m[i].p, w.m[i].size, i);
	}

	signal(SIGALRM, SIG_DFL);
	alarm(10);
	ret = dropin.heap_walk(NULL, visit, &w);
	alarm(0);

	for (unsigned i = 0; i < NBLOCKS; i++) {
		if (w.m[i].seen == 1 && tu_check(w.m[i].p, w.m[i].size, i))
			once++;
		free(w.m[i].p);
	}
	printf("walk-stdio: %zu blocks reported, %u of %u live blocks once\n",
	       w.reports, once, NBLOCKS);
	if (fflush(stdout) != 0)
		return 2;
	if (ret != 0 || w.alloc_failed || w.bad_size || w.reported_free ||
	    once != NBLOCKS) {
		fprintf(stderr, "walk_stdio: walk returned %d, allocation in "
			"the callback %s, %zu short, %zu reported free\n", ret,
			w.alloc_failed ? "failed" : "worked", w.bad_size,
			w.reported_free);
		return 1;
	}
	return 0;
}
