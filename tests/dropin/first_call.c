/*
 * first_call: the first allocation call a process makes goes through one
 * given entry point, and must start libmm by itself.
 *
 *   first_call ENTRY                 the first call is made in main()
 *   DROPIN_CTOR=ENTRY first_call     ... in a constructor(101) of the program
 *
 * Built as a program twice (linked with libmm-malloc, and plain for
 * LD_PRELOAD) and, with DROPIN_MODULE, as tests/dropin/libfirstcall.so: a
 * library whose constructor makes the call named by DROPIN_MODULE_FIRST.
 * tests/dropin/first-call.sh preloads it after libmm-malloc.so.1, so the
 * dynamic loader runs its constructor before libmm's own: the call reaches
 * libmm before libmm's constructor has run.  The constructor writes a line
 * on standard error just before the call; with LIBMM_VERBOSE=1 the driver
 * checks that the line comes before libmm's options line.
 *
 * Nothing that could allocate runs before the call: the entry is chosen
 * with strcmp, from argv or getenv.  Afterwards the block is checked
 * (alignment, contents, zeroes for calloc) and found in a walk of libmm's
 * default heap, and a few more calls must work.  Exit 0 when all is well.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "dropin.h"

struct first {
	const char *entry;
	void *p;		/* what the call returned (NULL for free, ...) */
	size_t size, align;
	int zeroed, ran;
};

static struct first first;

/* The call itself.  Returns 0, or -1 for an unknown entry name. */
static int call_first(const char *entry)
{
	struct first *f = &first;
	void *p = NULL;

	f->entry = entry;
	f->size = 1000;
	f->align = 16;
	if (!strcmp(entry, "malloc")) {
		p = malloc(1000);
	} else if (!strcmp(entry, "calloc")) {
		p = calloc(10, 100);
		f->zeroed = 1;
	} else if (!strcmp(entry, "realloc")) {
		p = realloc(NULL, 1000);
	} else if (!strcmp(entry, "reallocarray")) {
		p = reallocarray(NULL, 10, 100);
	} else if (!strcmp(entry, "aligned_alloc")) {
		p = aligned_alloc(16384, 1000);
		f->align = 16384;
	} else if (!strcmp(entry, "posix_memalign")) {
		if (posix_memalign(&p, 65536, 1000) != 0)
			p = NULL;
		f->align = 65536;
	} else if (!strcmp(entry, "memalign")) {
		p = memalign(4096, 1000);
		f->align = 4096;
	} else if (!strcmp(entry, "valloc")) {
		p = valloc(1000);
		f->align = (size_t)sysconf(_SC_PAGESIZE);
	} else if (!strcmp(entry, "pvalloc")) {
		p = pvalloc(1000);
		f->align = (size_t)sysconf(_SC_PAGESIZE);
		f->size = f->align;	/* pvalloc gives whole pages */
	} else if (!strcmp(entry, "free")) {
		free(NULL);
		f->size = 0;
	} else if (!strcmp(entry, "malloc_usable_size")) {
		f->size = malloc_usable_size(NULL);	/* must be 0 */
	} else {
		return -1;
	}
	f->p = p;
	f->ran = 1;
	return 0;
}

static int fail(const char *where, const char *what)
{
	fprintf(stderr, "first_call (%s, %s first, from %s): %s\n", DROPIN_MODE,
		first.entry ? first.entry : "?", where, what);
	return 1;
}

/* Everything that must hold after the first call.  0 when it does. */
static int verify(const char *where)
{
	struct first *f = &first;
	void *more[8];

	if (!f->ran)
		return fail(where, "the first call was not made");
	if (!strcmp(f->entry, "free") || !strcmp(f->entry, "malloc_usable_size")) {
		if (f->size != 0)
			return fail(where, "malloc_usable_size(NULL) is not 0");
	} else {
		if (!f->p)
			return fail(where, "the first allocation returned NULL");
		if (!tu_aligned(f->p, f->align))
			return fail(where, "the first block is not aligned as asked");
		if (f->zeroed && !tu_is_zero(f->p, f->size))
			return fail(where, "calloc's first block is not zeroed");
		if (malloc_usable_size(f->p) < f->size)
			return fail(where, "the first block is smaller than asked");
		tu_fill(f->p, f->size, 1);
	}
	if (dropin_load() != 0)
		return fail(where, "libmm's mm_* functions are not in the process");
	if (f->p && !dropin_owns(f->p))
		return fail(where, "the first block is not in libmm's default heap");
	for (unsigned i = 0; i < 8; i++) {
		more[i] = malloc(100 * i + 1);
		if (!more[i] || !dropin_owns(more[i]))
			return fail(where, "a later malloc() is not libmm's");
		tu_fill(more[i], 100 * i + 1, i);
	}
	if (f->p && !tu_check(f->p, f->size, 1))
		return fail(where, "the first block lost its contents");
	for (unsigned i = 0; i < 8; i++) {
		if (!tu_check(more[i], 100 * i + 1, i))
			return fail(where, "a later block lost its contents");
		free(more[i]);
	}
	free(f->p);
	if (dropin.heap_check(NULL) != 0)
		return fail(where, "mm_heap_check(NULL) failed");
	return 0;
}

#ifdef DROPIN_MODULE

/* A library preloaded after libmm-malloc.so.1: its constructor runs before
 * libmm's. */
static void say(const char *s)
{
	ssize_t r = write(2, s, strlen(s));
	(void)r;
}

__attribute__((constructor(101))) static void module_first(void)
{
	const char *entry = getenv("DROPIN_MODULE_FIRST");

	if (!entry)
		return;
	say("first-call module: calling ");
	say(entry);
	say("\n");
	if (call_first(entry) != 0) {
		say("first-call module: unknown entry point\n");
		_exit(2);
	}
	if (verify("a library constructor") != 0)
		_exit(1);
	say("first-call module: ok\n");
}

#else

static int ctor_result = -1;

__attribute__((constructor(101))) static void program_first(void)
{
	const char *entry = getenv("DROPIN_CTOR");

	if (!entry)
		return;
	if (call_first(entry) != 0) {
		fprintf(stderr, "first_call: unknown entry point \"%s\"\n", entry);
		_exit(2);
	}
	ctor_result = verify("constructor(101)");
}

int main(int argc, char **argv)
{
	if (first.ran) {
		if (ctor_result == 0)
			printf("first_call (%s): %s first, from constructor(101): ok\n",
			       DROPIN_MODE, first.entry);
		return ctor_result == 0 ? 0 : 1;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: %s ENTRY, or DROPIN_CTOR=ENTRY %s\n", argv[0], argv[0]);
		return 2;
	}
	if (call_first(argv[1]) != 0) {
		fprintf(stderr, "first_call: unknown entry point \"%s\"\n", argv[1]);
		return 2;
	}
	if (verify("main") != 0)
		return 1;
	printf("first_call (%s): %s first, from main: ok\n", DROPIN_MODE, first.entry);
	return 0;
}

#endif
