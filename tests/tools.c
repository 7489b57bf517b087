/*
 * A buggy program for tests/tools-memcheck.sh and tests/tools-asan.sh:
 * one bug a run, in a block of the heap kind named, which memcheck (with
 * configure --enable-valgrind) or ASan (an ASan build) must report.
 *
 *   tools overflow KIND SIZE   writes one byte past a block of SIZE
 *   tools uaf KIND SIZE [AT]   reads byte AT (0) of a freed block
 *   tools clean                no bug: blocks used up to mm_usable_size,
 *                              realloc, calloc, heaps destroyed full
 *   tools dropin SIZE          malloc(SIZE), one byte written past it (for
 *                              memcheck on libmm-malloc.so: LD_PRELOAD)
 *
 * KIND: default (mm_malloc), pool (mm_heap_create_in on a static buffer),
 * first (mm_heap_create(MM_FIT_FIRST)).  The bad access is made through
 * a volatile pointer in a function of its own, so that it stays.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libmm.h"

static char pool_buf[1 << 20] __attribute__((aligned(16)));

__attribute__((noinline)) static void poke(volatile char *p, size_t at)
{
	p[at] = 'x';
}

__attribute__((noinline)) static int peek(const volatile char *p, size_t at)
{
	return p[at];
}

static mm_heap_t *heap_of_kind(const char *kind)
{
	if (!strcmp(kind, "default"))
		return NULL;
	if (!strcmp(kind, "pool"))
		return mm_heap_create_in(pool_buf, sizeof pool_buf, 0);
	if (!strcmp(kind, "first"))
		return mm_heap_create(MM_FIT_FIRST);
	fprintf(stderr, "tools: unknown heap kind %s\n", kind);
	exit(2);
}

static char *get(mm_heap_t *h, size_t n)
{
	char *p = h ? mm_heap_malloc(h, n) : mm_malloc(n);

	if (!p) {
		perror("tools: malloc");
		exit(2);
	}
	memset(p, 'a', n);
	return p;
}

static void put(mm_heap_t *h, char *p)
{
	if (h)
		mm_heap_free(h, p);
	else
		mm_free(p);
}

/* Every legal use, on every kind: none of it may be reported. */
static int clean(void)
{
	const char *kinds[] = { "default", "pool", "first" };

	for (size_t k = 0; k < 3; k++) {
		mm_heap_t *h = heap_of_kind(kinds[k]);
		const size_t sizes[] = { 1, 24, 32, 100, 1000, 20000, 300000 };
		char *keep[64];
		size_t sz[64];

		for (size_t i = 0; i < 64; i++) {
			sz[i] = sizes[i % 7] / (h && i % 7 == 6 ? 20 : 1);
			keep[i] = get(h, sz[i]);
		}
		for (size_t i = 0; i < 64; i += 2)
			put(h, keep[i]);
		for (size_t i = 1; i < 64; i += 2) {
			size_t grown = sz[i] + sz[i] / 2 + 1;
			char *q = h ? mm_heap_realloc(h, keep[i], grown) : mm_realloc(keep[i], grown);

			if (!q || q[sz[i] - 1] != 'a')
				return 1;
			memset(q, 'c', grown);
			keep[i] = q;
		}
		if (mm_heap_check(h) != 0)
			return 1;
		if (h)
			mm_heap_destroy(h);	/* the odd blocks go with it */
		else
			for (size_t i = 1; i < 64; i += 2)
				mm_free(keep[i]);
	}
	/* up to mm_usable_size is the caller's */
	{
		char *p = get(NULL, 10), *z;
		size_t u = mm_usable_size(p);

		memset(p, 'b', u);
		p = mm_realloc(p, u + 100);
		if (!p || p[u - 1] != 'b')
			return 1;
		z = mm_calloc(10, 10);
		if (!z || z[99] != 0)
			return 1;
		mm_free(z);
		mm_free(p);
	}
	return 0;
}

int main(int argc, char **argv)
{
	mm_heap_t *h;
	size_t n;
	char *p;

	if (argc == 2 && !strcmp(argv[1], "clean"))
		return clean();
	if (argc == 3 && !strcmp(argv[1], "dropin")) {
		n = strtoul(argv[2], NULL, 10);
		p = malloc(n);
		if (!p)
			return 2;
		poke(p, n);
		free(p);
		return 0;
	}
	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: tools overflow|uaf default|pool|first SIZE [AT] | clean | dropin SIZE\n");
		return 2;
	}
	h = heap_of_kind(argv[2]);
	n = strtoul(argv[3], NULL, 10);
	p = get(h, n);
	if (!strcmp(argv[1], "overflow")) {
		char *next = get(h, n);	/* a neighbour to run into */

		poke(p, n);
		put(h, next);
		put(h, p);
	} else if (!strcmp(argv[1], "uaf")) {
		put(h, p);
		printf("%d\n", peek(p, argc == 5 ? strtoul(argv[4], NULL, 10) : 0));
	} else {
		return 2;
	}
	if (h)
		mm_heap_destroy(h);
	return 0;
}
