/*
 * Fragmentation, made on purpose and drawn: fill a 64 KiB pool with
 * blocks of mixed sizes, free every other one, and the pool has plenty of
 * free bytes but no room for one block a quarter of that size -- the free
 * bytes are scattered in holes between blocks still in use.  The program
 * shows it with the pool's statistics, then prints the pool's dump on
 * standard output, which mmview(1) draws:
 *
 *   ./frag_pool | mmview -t "a fragmented pool" > frag_pool.svg
 *
 * Build against an installed libmm:
 *   cc frag_pool.c $(pkg-config --cflags --libs libmm)
 */
#include <libmm.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MAX_BLOCKS 1024

static _Alignas(16) unsigned char arena[64 * 1024];
static void *blocks[MAX_BLOCKS];

/* Sizes that do not tile evenly, as a program's records would. */
static const size_t sizes[] = { 48, 200, 96, 720, 32, 1500, 160, 400 };

int main(void)
{
	mm_heap_t *pool = mm_heap_create_in(arena, sizeof arena, MM_FIT_FIRST);
	mm_stats_t st;
	size_t want;
	int n = 0, freed = 0;

	if (!pool) {
		perror("mm_heap_create_in");
		return 1;
	}
	/* Fill it: a pool never grows, so this ends with ENOMEM. */
	while (n < MAX_BLOCKS) {
		size_t size = sizes[n % (sizeof sizes / sizeof sizes[0])];
		void *p = mm_heap_malloc(pool, size);

		if (!p)
			break;
		memset(p, n & 0xff, size);
		blocks[n++] = p;
	}
	/* Free every other block: holes everywhere, each between two
	 * blocks still in use, so no two can merge. */
	for (int i = 0; i < n; i++) {
		if (i % 2 == 0) {
			mm_heap_free(pool, blocks[i]);
			blocks[i] = NULL;
			freed++;
		}
	}
	if (mm_heap_stats(pool, &st, sizeof st) != 0 || mm_heap_check(pool) != 0) {
		fprintf(stderr, "frag_pool: the pool is not consistent\n");
		return 1;
	}
	printf("frag_pool: %d blocks in a %zu-byte pool, %d freed: %zu bytes in use, "
	       "%zu free in %zu blocks, largest free %zu\n",
	       n, sizeof arena, freed, st.in_use_bytes, st.free_bytes, st.free_blocks,
	       st.largest_free);

	/* A quarter of the free bytes is more than any hole holds. */
	want = st.free_bytes / 4;
	errno = 0;
	if (want <= st.largest_free || mm_heap_malloc(pool, want) != NULL || errno != ENOMEM) {
		fprintf(stderr, "frag_pool: expected no room for %zu bytes\n", want);
		return 1;
	}
	printf("frag_pool: no room for %zu bytes, with %zu free: fragmentation %.4f "
	       "(1 - largest free / free)\n", want, st.free_bytes,
	       1.0 - (double)st.largest_free / (double)st.free_bytes);

	/* The dump goes straight to the file descriptor: flush first. */
	fflush(stdout);
	mm_heap_print(pool, STDOUT_FILENO);

	for (int i = 0; i < n; i++)
		if (blocks[i])
			mm_heap_free(pool, blocks[i]);
	if (mm_heap_check(pool) != 0) {
		fprintf(stderr, "frag_pool: the pool is not consistent at the end\n");
		return 1;
	}
	mm_heap_destroy(pool);
	return 0;
}
