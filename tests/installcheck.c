/*
 * A user's program, built against an installed libmm the way its README
 * says (cc prog.c $(pkg-config --cflags --libs libmm)), dynamically and
 * statically.  make installcheck builds and runs it against the installed
 * tree; so does the Debian autopkgtest, against the installed packages.
 * It needs nothing but <libmm.h> and the C library.  Exit status 0 and one
 * line on stdout when everything holds; otherwise a line naming what did
 * not, and exit status 1.
 *
 * Copyright (c) 2026 The libmm developers.  MIT licence, see COPYING.
 */
#include <libmm.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define NBLOCKS 200

static int failures;

#define EXPECT(cond)                                                   \
	do {                                                           \
		if (!(cond)) {                                         \
			fprintf(stderr, "installcheck: %s:%d: %s\n",   \
				__FILE__, __LINE__, #cond);            \
			failures++;                                    \
		}                                                      \
	} while (0)

static unsigned char pattern(size_t block, size_t i)
{
	return (unsigned char)(block * 31 + i * 7 + 1);
}

static int aligned16(const void *p)
{
	return ((uintptr_t)p & 15) == 0;
}

/* The default heap: blocks of many sizes, each filled and read back. */
static void default_heap(void)
{
	unsigned char *blocks[NBLOCKS];
	size_t sizes[NBLOCKS];
	size_t b, i;
	volatile size_t huge = SIZE_MAX / 2;

	for (b = 0; b < NBLOCKS; b++) {
		sizes[b] = 1 + (b * 37) % 3000;
		blocks[b] = mm_malloc(sizes[b]);
		EXPECT(blocks[b] != NULL);
		if (!blocks[b])
			return;
		EXPECT(aligned16(blocks[b]));
		EXPECT(mm_usable_size(blocks[b]) >= sizes[b]);
		for (i = 0; i < sizes[b]; i++)
			blocks[b][i] = pattern(b, i);
	}
	/* Free every other block, grow the rest, then check every byte. */
	for (b = 0; b < NBLOCKS; b += 2) {
		mm_free(blocks[b]);
		blocks[b] = NULL;
	}
	for (b = 1; b < NBLOCKS; b += 2) {
		unsigned char *p = mm_realloc(blocks[b], sizes[b] * 2);
		EXPECT(p != NULL);
		if (!p)
			continue;
		blocks[b] = p;
		for (i = 0; i < sizes[b]; i++)
			if (p[i] != pattern(b, i)) {
				EXPECT(p[i] == pattern(b, i));
				break;
			}
	}
	for (b = 0; b < NBLOCKS; b++)
		mm_free(blocks[b]);

	/* Overflow is refused, with errno (volatile: GCC would reject a
	   constant overflow at compile time). */
	errno = 0;
	EXPECT(mm_calloc(huge, 4) == NULL && errno == ENOMEM);
	EXPECT(mm_heap_check(NULL) == 0);
}

/* A fixed pool in a static buffer: zeroed blocks, then destroyed whole. */
static void pool(void)
{
	static unsigned char buf[1 << 16];
	mm_heap_t *heap = mm_heap_create_in(buf, sizeof buf, MM_FIT_FIRST);
	int *v;
	size_t i;

	EXPECT(heap != NULL);
	if (!heap)
		return;
	v = mm_heap_calloc(heap, 1000, sizeof *v);
	EXPECT(v != NULL);
	if (v) {
		EXPECT((unsigned char *)v >= buf && (unsigned char *)v < buf + sizeof buf);
		for (i = 0; i < 1000; i++)
			EXPECT(v[i] == 0);
		v[999] = 42;
	}
	EXPECT(mm_heap_check(heap) == 0);
	mm_heap_destroy(heap);
}

int main(void)
{
	EXPECT(strcmp(mm_version(), LIBMM_VERSION_STRING) == 0);
	EXPECT(mm_version_number() == LIBMM_VERSION_NUMBER);
	default_heap();
	pool();
	if (failures) {
		fprintf(stderr, "installcheck: %d checks failed\n", failures);
		return 1;
	}
	printf("installcheck: libmm %s (headers %s) ok\n", mm_version(),
	       LIBMM_VERSION_STRING);
	return 0;
}
