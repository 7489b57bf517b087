/*
 * Shared by the drop-in tests.  Each test program is built two ways:
 *
 *  - linked with lib/libmm-malloc.la (DROPIN_LINKED defined): the program
 *    calls libmm's mm_* functions directly, and malloc resolves to the
 *    drop-in because libmm-malloc.so comes before libc.so in the search
 *    order;
 *  - linked with libc only, and run under LD_PRELOAD=libmm-malloc.so.1 by
 *    a shell driver: the mm_* functions are found with dlsym, which also
 *    proves the drop-in is really in the process.
 *
 * Either way dropin_load() fills the table below, and dropin_owns(p) tells
 * whether p is an allocated block of libmm's default heap: that is how a
 * test knows that malloc (or libc calling malloc) reached libmm and not
 * glibc's allocator.
 */
#ifndef LIBMM_DROPIN_H
#define LIBMM_DROPIN_H

#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libmm.h"

/* DROPIN_SANITIZER: built with a sanitizer whose runtime replaces malloc
 * itself (ASan, TSan), so the drop-in cannot be what malloc reaches and its
 * tests skip.  GCC names them with macros, clang with __has_feature. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define DROPIN_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define DROPIN_SANITIZER 1
#endif
#endif

struct dropin_api {
	int (*heap_stats)(mm_heap_t *heap, mm_stats_t *stats, size_t size);
	int (*heap_walk)(mm_heap_t *heap, mm_visit_fn visit, void *arg);
	int (*heap_check)(mm_heap_t *heap);
	void (*print_mem_list)(void);
	size_t (*usable_size)(const void *ptr);
	void *(*mm_malloc_fn)(size_t size);
	void (*mm_free_fn)(void *ptr);
	const char *(*version)(void);
};

static struct dropin_api dropin;

#ifdef DROPIN_LINKED
#define DROPIN_MODE "linked"
#define DROPIN_GET(field, name) (dropin.field = name)
#else
#define DROPIN_MODE "preload"
#define DROPIN_GET(field, name) do { \
		void *sym_ = dlsym(RTLD_DEFAULT, #name); \
		memcpy(&dropin.field, &sym_, sizeof sym_); \
	} while (0)
#endif

/* 0 when every mm_* function the tests use was found. */
static inline int dropin_load(void)
{
	if (dropin.heap_stats)
		return 0;
	DROPIN_GET(heap_stats, mm_heap_stats);
	DROPIN_GET(heap_walk, mm_heap_walk);
	DROPIN_GET(heap_check, mm_heap_check);
	DROPIN_GET(print_mem_list, mm_print_mem_list);
	DROPIN_GET(usable_size, mm_usable_size);
	DROPIN_GET(mm_malloc_fn, mm_malloc);
	DROPIN_GET(mm_free_fn, mm_free);
	DROPIN_GET(version, mm_version);
	if (!dropin.heap_stats || !dropin.heap_walk || !dropin.heap_check ||
	    !dropin.print_mem_list || !dropin.usable_size || !dropin.mm_malloc_fn ||
	    !dropin.mm_free_fn || !dropin.version) {
		dropin.heap_stats = NULL;
		return -1;
	}
	return 0;
}

struct dropin_find {
	const void *ptr;
	size_t size;
	int found, in_use;
};

static int dropin_find_visit(void *block, size_t size, int in_use, void *arg)
{
	struct dropin_find *f = (struct dropin_find *)arg;

	if (block != f->ptr)
		return 0;
	f->found = 1;
	f->size = size;
	f->in_use = in_use;
	return 1;
}

/* 1 when p is the start of an allocated block of libmm's default heap. */
static inline int dropin_owns(const void *p)
{
	struct dropin_find f = { p, 0, 0, 0 };

	if (dropin_load() != 0)
		return 0;
	dropin.heap_walk(NULL, dropin_find_visit, &f);
	return f.found && f.in_use;
}

/* The default heap's statistics; aborts the test program on error. */
static inline mm_stats_t dropin_stats(void)
{
	mm_stats_t st;

	memset(&st, 0, sizeof st);
	if (dropin_load() != 0 || dropin.heap_stats(NULL, &st, sizeof st) != 0) {
		fprintf(stderr, "mm_heap_stats(NULL) failed\n");
		abort();
	}
	return st;
}

/*
 * The proof every drop-in test program starts with: malloc must be libmm's.
 * A hundred blocks from malloc() must raise the default heap's allocation
 * count by at least a hundred and each must be found in a walk of it.
 * Returns NULL when that holds, else what went wrong.
 */
static inline const char *dropin_malloc_is_ours(void)
{
	void *p[100];
	mm_stats_t before, after;
	const char *err = NULL;
	unsigned i;

	if (dropin_load() != 0)
		return "the mm_* functions are not in the process "
		       "(is libmm-malloc.so.1 preloaded or linked?)";
	before = dropin_stats();
	for (i = 0; i < 100; i++)
		p[i] = malloc(16 + 40 * i);
	after = dropin_stats();
	if (after.alloc_count < before.alloc_count + 100)
		err = "malloc() did not raise libmm's allocation count";
	for (i = 0; i < 100 && !err; i++)
		if (!dropin_owns(p[i]))
			err = "a block from malloc() is not in libmm's default heap";
	for (i = 0; i < 100; i++)
		free(p[i]);
	return err;
}

#endif
