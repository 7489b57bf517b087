/*
 * cases: the fourteen classic heap misuses, one per run, named by argv[1],
 * through the C allocation functions under the drop-in (built linked with
 * libmm-malloc and plain, for LD_PRELOAD, like every drop-in test); run by
 * tests/dropin/cases.sh.
 *
 * The cases, as hardened allocators count them: double free of a small, a
 * small after other work, a medium and a large block; free of a pointer
 * into a small and into a large block; free of a stack and of a wild
 * pointer; realloc of a freed block; a 1-byte overflow past the requested
 * size and one past the usable size; an 8-byte overflow over the next
 * block's metadata; a use-after-free write of the first word (metadata)
 * and one of the data.
 *
 * Before the misuse the program prints on standard output the line libmm
 * must answer with, "libmm: fatal: <fault> 0x<addr>", from the real
 * address; the driver requires death by SIGABRT and exactly that line on
 * standard error.  A misuse that goes unnoticed ends the program with
 * status 3, so that the driver can tell "not caught" from a crash.
 *
 * Built with -fno-builtin and without optimisation, every pointer through
 * a volatile: the compiler can neither see nor drop a misuse.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "dropin.h"

#define KIB ((size_t)1024)

static void *volatile sink;

static void expect(const char *fault, const void *addr)
{
	printf("libmm: fatal: %s 0x%lx\n", fault, (unsigned long)(uintptr_t)addr);
	fflush(stdout);
}

static unsigned char *filled(size_t n)
{
	unsigned char *p = malloc(n);

	if (!p) {
		perror("malloc");
		exit(2);
	}
	memset(p, 0x5c, n);
	return p;
}

/* Two blocks of size side by side, the second free: b starts where a's
 * usable bytes end, and its first word is now its free-list link; the
 * default mode finds the damage when the list is next used.  In the secure
 * mode no block ends where its usable size does (a canary follows): then
 * one block, whose canary finds the damage when it is freed. */
static unsigned char *overflowed_block(size_t size)
{
	for (int tries = 0; tries < 1000; tries++) {
		unsigned char *x = filled(size), *y = filled(size);

		if (y == x + malloc_usable_size(x)) {
			free(y);
			expect("heap corruption at", y);
			return x;
		}
		/* both kept: the next pair comes from further on */
	}
	unsigned char *x = filled(size);
	expect("heap overflow", x);
	return x;
}

static void double_free(size_t size)
{
	unsigned char *volatile p = filled(size);

	expect("double free", p);
	free(p);
	free(p);
}

static void run(const char *what)
{
	unsigned char local[64];
	unsigned char *volatile p;

	memset(local, 1, sizeof local);
	if (!strcmp(what, "double-free-small")) {
		double_free(16);
	} else if (!strcmp(what, "double-free-small-delayed")) {
		unsigned char *volatile q;
		p = filled(16);
		q = filled(16);
		expect("double free", p);
		free(p);
		free(q);
		sink = filled(100);	/* other work in between */
		free(p);
	} else if (!strcmp(what, "double-free-medium")) {
		double_free(64 * KIB);
	} else if (!strcmp(what, "double-free-large")) {
		double_free(1024 * KIB);
	} else if (!strcmp(what, "free-interior-small")) {
		p = filled(64) + 32;
		expect("pointer into the middle of a block", p);
		free(p);
	} else if (!strcmp(what, "free-interior-large")) {
		p = filled(1024 * KIB) + 8 * KIB;
		expect("pointer into the middle of a block", p);
		free(p);
	} else if (!strcmp(what, "free-stack")) {
		p = local + 16;
		expect("invalid pointer", p);
		free(p);
	} else if (!strcmp(what, "free-wild")) {
		p = (unsigned char *)(uintptr_t)0x5a5a5a5a5a50;
		expect("invalid pointer", p);
		free(p);
	} else if (!strcmp(what, "realloc-freed")) {
		p = filled(100);
		expect("realloc of a freed block", p);
		free(p);
		sink = realloc(p, 200);
	} else if (!strcmp(what, "overflow-requested")) {
		p = filled(20);		/* usable 32: within it, past the request */
		expect("heap overflow", p);
		p[20] ^= 0xff;		/* whatever was there changes */
		free(p);
	} else if (!strcmp(what, "overflow-usable")) {
		p = overflowed_block(32);
		p[malloc_usable_size(p)] ^= 0xff;
		free(p);
		sink = filled(32);
		sink = filled(32);
		sink = filled(32);
	} else if (!strcmp(what, "overflow-metadata")) {
		p = overflowed_block(32);
		memset(p + malloc_usable_size(p), 0x41, 8);
		free(p);
		sink = filled(32);
		sink = filled(32);
		sink = filled(32);
	} else if (!strcmp(what, "uaf-write-metadata")) {
		p = filled(48);
		expect("heap corruption at", p);	/* the link, by default */
		expect("write after free", p);		/* a held block, secure */
		free(p);
		memset(p, 0x41, 8);
		sink = filled(48);
		sink = filled(48);
	} else if (!strcmp(what, "uaf-write-data")) {
		p = filled(64);
		expect("write after free", p);
		free(p);
		p[40] = 0x41;
		sink = filled(64);
		sink = filled(64);
	} else {
		fprintf(stderr, "cases: no case %s\n", what);
		exit(64);
	}
}

int main(int argc, char **argv)
{
	static const struct rlimit no_core = { 0, 0 };

	setrlimit(RLIMIT_CORE, &no_core);
	if (argc != 2) {
		fprintf(stderr, "usage: cases NAME\n");
		return 64;
	}
	if (dropin_load() != 0) {
		fprintf(stderr, "cases: libmm's functions are not in the process\n");
		return 2;
	}
	run(argv[1]);
	return 3;	/* not caught */
}
