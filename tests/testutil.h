/*
 * Helpers shared by the Check suites: fill a block with a pattern derived
 * from its address and a seed, verify it later, read the resident set size.
 */
#ifndef LIBMM_TESTUTIL_H
#define LIBMM_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

/* In an ASan build libmm poisons the slack and the freed parts of its
 * blocks (lib/tool.h): a test that reads a heap's raw bytes on purpose
 * lifts the poison first. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define tu_unpoison(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define tu_unpoison(p, n) ((void)(p), (void)(n))
#endif

/* The byte stored at offset i of a block filled with seed. */
static inline unsigned char tu_pattern_byte(unsigned seed, size_t i)
{
	return (unsigned char)((seed * 131u) ^ (i * 7u) ^ (i >> 8));
}

static inline void tu_fill(void *p, size_t n, unsigned seed)
{
	unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		c[i] = tu_pattern_byte(seed, i);
}

/* 1 when the first n bytes of p still hold the pattern of seed. */
static inline int tu_check(const void *p, size_t n, unsigned seed)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		if (c[i] != tu_pattern_byte(seed, i))
			return 0;
	return 1;
}

static inline int tu_is_zero(const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		if (c[i])
			return 0;
	return 1;
}

static inline int tu_aligned(const void *p, size_t a)
{
	return ((uintptr_t)p & (a - 1)) == 0;
}

/* 1 when [a, a+na) and [b, b+nb) share no byte. */
static inline int tu_disjoint(const void *a, size_t na, const void *b, size_t nb)
{
	uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
	return x + na <= y || y + nb <= x;
}

/* Resident set size of this process in bytes, from /proc/self/statm. */
static inline size_t tu_rss_bytes(void)
{
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return 0;
	if (fscanf(f, "%lu %lu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

/* A small seeded PRNG (xorshift64*), so that workloads repeat exactly. */
static uint64_t rng_state __attribute__((unused));

static inline void rng_seed(uint64_t seed)
{
	rng_state = seed ? seed : 0x9e3779b97f4a7c15ull;
}

static inline uint64_t rng_next(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static inline size_t rng_below(size_t n)
{
	return (size_t)(rng_next() % n);
}

#endif
