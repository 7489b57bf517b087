/*
 * The scenario of the teaching allocator libmm grew from, on libmm's
 * default heap: allocate a few blocks, use them, free some, dump the
 * block list, grow one, free the rest.  make check runs it; it exits 0
 * when every block held what was written into it.
 *
 * Build against an installed libmm:
 *   cc seed_scenario.c $(pkg-config --cflags --libs libmm)
 */
#include <libmm.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int failures;

static void expect(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "seed_scenario: FAILED: %s\n", what);
		failures++;
	}
}

/* Every block must be aligned for any object type (16 bytes). */
static int aligned16(const void *p)
{
	return ((uintptr_t)p & 15u) == 0;
}

int main(void)
{
	/* The seed's test: an int array, a string and a struct-sized block. */
	int *numbers = mm_malloc(10 * sizeof *numbers);
	char *text = mm_malloc(64);
	double *pair = mm_malloc(2 * sizeof *pair);

	expect(numbers && text && pair, "mm_malloc returned NULL");
	if (!numbers || !text || !pair)
		return 1;
	expect(aligned16(numbers) && aligned16(text) && aligned16(pair),
	       "blocks are 16-byte aligned");

	for (int i = 0; i < 10; i++)
		numbers[i] = i * i;
	strcpy(text, "hello from libmm");
	pair[0] = 1.5;
	pair[1] = -2.25;

	/* Writing one block must not have touched another. */
	for (int i = 0; i < 10; i++)
		expect(numbers[i] == i * i, "int array kept its values");
	expect(strcmp(text, "hello from libmm") == 0, "string kept");
	expect(pair[0] == 1.5 && pair[1] == -2.25, "doubles kept");

	/* Free the middle block: the seed's dump then shows a free block
	 * between two used ones (libmm may have merged it with free space). */
	mm_free(text);
	text = NULL;
	mm_print_mem_list();

	/* Growing keeps the old contents; the block may move. */
	int *more = mm_realloc(numbers, 1000 * sizeof *more);
	expect(more != NULL, "mm_realloc grew the block");
	if (more) {
		numbers = more;
		for (int i = 0; i < 10; i++)
			expect(numbers[i] == i * i, "mm_realloc kept the contents");
		for (int i = 10; i < 1000; i++)
			numbers[i] = -i;
		expect(numbers[999] == -999, "grown part is usable");
	}

	/* mm_calloc must hand out zeroed memory, even when reusing a block. */
	unsigned char *zeros = mm_calloc(64, 1);
	expect(zeros != NULL, "mm_calloc returned NULL");
	for (int i = 0; zeros && i < 64; i++)
		expect(zeros[i] == 0, "mm_calloc memory is zero");

	mm_free(zeros);
	mm_free(pair);
	mm_free(numbers);
	mm_free(NULL);		/* allowed, does nothing */

	if (failures) {
		fprintf(stderr, "seed_scenario: %d check(s) failed\n", failures);
		return 1;
	}
	printf("seed_scenario: all checks passed\n");
	return 0;
}
