/*
 * A fixed pool: libmm manages a buffer the program owns (here a static
 * 64 KiB array) and never asks the OS for more, which is what an embedded
 * or real-time program wants.  Fill the pool until it says ENOMEM, check
 * that no block overlapped another, give everything back, and verify that
 * the pool is consistent before destroying it.
 *
 * Build against an installed libmm:
 *   cc static_pool.c $(pkg-config --cflags --libs libmm)
 */
#include <libmm.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define BLOCK 100		/* not a multiple of 16, on purpose */
#define MAX_BLOCKS 1024		/* more than 64 KiB can hold */

/* _Alignas is not needed (libmm rounds the start in) but saves bytes. */
static _Alignas(16) unsigned char arena[64 * 1024];
static unsigned char *blocks[MAX_BLOCKS];

int main(void)
{
	int n = 0, bad = 0;

	/* First fit: the seed's policy, lowest address first. */
	mm_heap_t *pool = mm_heap_create_in(arena, sizeof arena, MM_FIT_FIRST);
	if (!pool) {
		perror("mm_heap_create_in");
		return 1;
	}

	/* A pool never grows: allocation ends with NULL and ENOMEM. */
	errno = 0;
	while (n < MAX_BLOCKS) {
		unsigned char *p = mm_heap_malloc(pool, BLOCK);
		if (!p)
			break;
		memset(p, n & 0xff, BLOCK);	/* a value per block */
		blocks[n++] = p;
	}
	if (n == MAX_BLOCKS || errno != ENOMEM) {
		fprintf(stderr, "static_pool: expected ENOMEM after some blocks, "
			"got %d blocks, errno %d\n", n, errno);
		return 1;
	}
	printf("static_pool: %d blocks of %d bytes in a %zu-byte pool\n",
	       n, BLOCK, sizeof arena);

	/* Every block lies inside the buffer and still holds its own value:
	 * an overlap would have overwritten a neighbour's bytes. */
	for (int i = 0; i < n; i++) {
		if (blocks[i] < arena || blocks[i] + BLOCK > arena + sizeof arena)
			bad++;
		for (int j = 0; j < BLOCK; j++)
			if (blocks[i][j] != (unsigned char)(i & 0xff)) {
				bad++;
				break;
			}
	}
	if (bad) {
		fprintf(stderr, "static_pool: %d damaged or stray blocks\n", bad);
		return 1;
	}

	/* Free every other block first, then the rest: the free neighbours
	 * must merge back into one free block. */
	for (int i = 0; i < n; i += 2)
		mm_heap_free(pool, blocks[i]);
	for (int i = 1; i < n; i += 2)
		mm_heap_free(pool, blocks[i]);

	/* Coalescing at work: one block of half the pool fits again. */
	void *big = mm_heap_malloc(pool, sizeof arena / 2);
	if (!big) {
		fprintf(stderr, "static_pool: freed blocks did not merge\n");
		return 1;
	}
	mm_heap_free(pool, big);

	if (mm_heap_check(pool) != 0) {
		fprintf(stderr, "static_pool: mm_heap_check found corruption\n");
		return 1;
	}
	fflush(stdout);		/* mm_heap_print writes to fd 1 directly */
	mm_heap_print(pool, 1);

	/* The buffer is the program's again after this. */
	mm_heap_destroy(pool);
	printf("static_pool: all checks passed\n");
	return 0;
}
