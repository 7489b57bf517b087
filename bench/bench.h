/*
 * Shared helpers of the benchmark programs: argument parsing, a small
 * deterministic random generator, and the fill patterns every program
 * writes into its blocks and checks before it frees them.
 *
 * The programs call plain malloc/free: the allocator under test is chosen
 * by LD_PRELOAD (bench/run), so they never link libmm.  A benchmark that
 * finds a corrupted block prints what it found and exits with status 2;
 * bench/run counts that as a failure, never a slow run.
 */
#ifndef BENCH_H
#define BENCH_H

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BENCH_PAGE 4096

static void bench_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void bench_fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("bench: FAILED: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/*
 * The i-th command-line argument as a positive integer, or def when it is
 * absent; anything else that is not a plain number is a usage error.
 */
static long bench_arg(int argc, char **argv, int i, long def, const char *usage)
{
	char *end;
	long v;

	if (i >= argc)
		return def;
	v = strtol(argv[i], &end, 10);
	if (end == argv[i] || *end != '\0' || v <= 0) {
		fprintf(stderr, "usage: %s %s\n", argv[0], usage);
		exit(64);
	}
	return v;
}

/* splitmix64: fast, good enough, and the same sequence on every run. */
static inline uint64_t bench_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static inline size_t bench_range(uint64_t *state, size_t lo, size_t hi)
{
	return lo + (size_t)(bench_rand(state) % (hi - lo + 1));
}

/* A tag that depends on every value the owner of a block remembers. */
static inline uint64_t bench_tag(uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t s = a * 0x100000001b3ULL ^ b * 0x9e3779b97f4a7c15ULL ^ c;

	return bench_rand(&s) | 1;
}

/*
 * The pattern: the tag in the first word, its complement in the last, and
 * tag + offset in one word of every further page, so that a block is
 * really touched (and counted in the resident set) without the writes
 * costing more than the allocation.  Blocks under 8 bytes get the tag's
 * low bytes.
 */
static inline void bench_fill(void *ptr, size_t n, uint64_t tag)
{
	unsigned char *p = ptr;
	uint64_t w;
	size_t off;

	if (n < 8) {
		for (off = 0; off < n; off++)
			p[off] = (unsigned char)(tag >> (8 * off));
		return;
	}
	memcpy(p, &tag, 8);
	for (off = BENCH_PAGE; off + 16 <= n; off += BENCH_PAGE) {
		w = tag + off;
		memcpy(p + off, &w, 8);
	}
	if (n >= 16) {
		w = ~tag;
		memcpy(p + n - 8, &w, 8);
	}
}

static inline int bench_check(const void *ptr, size_t n, uint64_t tag)
{
	const unsigned char *p = ptr;
	uint64_t w;
	size_t off;

	if (n < 8) {
		for (off = 0; off < n; off++)
			if (p[off] != (unsigned char)(tag >> (8 * off)))
				return 0;
		return 1;
	}
	memcpy(&w, p, 8);
	if (w != tag)
		return 0;
	for (off = BENCH_PAGE; off + 16 <= n; off += BENCH_PAGE) {
		memcpy(&w, p + off, 8);
		if (w != tag + off)
			return 0;
	}
	if (n >= 16) {
		memcpy(&w, p + n - 8, 8);
		if (w != ~tag)
			return 0;
	}
	return 1;
}

/*
 * Start a thread, or end the run.  EAGAIN (a process or thread limit of a
 * busy machine) is the environment's fault, not the allocator's: exit
 * status 75 (EX_TEMPFAIL) tells bench/run to try that run again.
 */
static inline void bench_thread(pthread_t *tid, void *(*fn)(void *), void *arg)
{
	int err = pthread_create(tid, NULL, fn, arg);

	if (err == EAGAIN) {
		fprintf(stderr, "bench: pthread_create: %s (try again)\n", strerror(err));
		exit(75);
	}
	if (err)
		bench_fail("pthread_create: %s", strerror(err));
}

/* Allocate, or end the run: a benchmark has no use for a NULL. */
static inline void *bench_malloc(size_t n)
{
	void *p = malloc(n);

	if (!p)
		bench_fail("malloc(%zu) returned NULL", n);
	return p;
}

#endif
