/*
 * misuse: one misuse of the C allocation functions, named by argv[1], for
 * tests/dropin/misuse.sh to run under the drop-in (built linked with
 * libmm-malloc and plain, for LD_PRELOAD, like every drop-in test).
 *
 * Before the misuse the program prints on standard output every line libmm
 * may answer with (usually exactly one, "libmm: fatal: <fault> 0x<addr>"),
 * computed from the real address; the driver then requires death by
 * SIGABRT and a standard error that is exactly one of those lines.
 * "ok-<name>" actions are the controls: the same calls, used correctly,
 * must exit 0 and print nothing on standard error.
 *
 * The pointers go through volatile variables and the program is built with
 * -fno-builtin, so the compiler can neither see nor drop the misuse.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "dropin.h"

static _Alignas(16) unsigned char global_array[256];

static void expect(const char *fault, const void *addr)
{
	printf("libmm: fatal: %s 0x%lx\n", fault, (unsigned long)(uintptr_t)addr);
}

static void *filled(size_t n)
{
	void *p = malloc(n);

	if (!p) {
		perror("malloc");
		exit(2);
	}
	memset(p, 0x5c, n);
	return p;
}

int main(int argc, char **argv)
{
	static const struct rlimit no_core = { 0, 0 };
	const char *what = argc > 1 ? argv[1] : "";
	_Alignas(16) unsigned char local[64];
	void *volatile p = NULL;
	void *volatile r;
	size_t volatile n;

	setrlimit(RLIMIT_CORE, &no_core);
	if (dropin_load() != 0) {
		fprintf(stderr, "misuse: libmm's functions are not in the process\n");
		return 2;
	}
	memset(local, 1, sizeof local);

	/* The expected lines go out before the first free of a double free:
	 * printf's buffer must not take the freed block's place in between. */
	if (!strcmp(what, "free-one")) {
		p = (void *)1;
		expect("invalid pointer", p);
	} else if (!strcmp(what, "free-stack")) {
		p = local;
		expect("invalid pointer", p);
	} else if (!strcmp(what, "free-global")) {
		p = global_array;
		expect("invalid pointer", p);
	} else if (!strcmp(what, "double-free")) {
		p = filled(40);
		expect("double free", p);
		fflush(stdout);
		free(p);
	} else if (!strcmp(what, "double-free-large")) {
		p = filled(1 << 20);
		expect("double free", p);
		fflush(stdout);
		free(p);
	} else if (!strcmp(what, "double-free-aligned")) {
		p = aligned_alloc(4096, 5000);
		expect("double free", p);
		fflush(stdout);
		free(p);
	} else if (!strcmp(what, "free-middle")) {
		p = (char *)filled(128) + 32;
		expect("pointer into the middle of a block", p);
	} else if (!strcmp(what, "free-misaligned")) {
		p = (char *)filled(128) + 1;
		expect("invalid pointer", p);
		expect("pointer into the middle of a block", p);
	} else if (!strcmp(what, "realloc-one")) {
		p = (void *)1;
		expect("invalid pointer", p);
		fflush(stdout);
		r = realloc(p, 100);
		(void)r;
		return 0;
	} else if (!strcmp(what, "realloc-freed")) {
		p = filled(64);
		expect("realloc of a freed block", p);
		fflush(stdout);
		free(p);
		r = realloc(p, 200);
		(void)r;
		return 0;
	} else if (!strcmp(what, "usable-size-stack")) {
		p = local;
		expect("invalid pointer", p);
		fflush(stdout);
		n = malloc_usable_size(p);
		(void)n;
		return 0;
	} else if (!strcmp(what, "ok-free")) {
		/* the control: the same calls, correctly */
		p = filled(40);
		free(p);
		p = filled(1 << 20);
		free(p);
		p = aligned_alloc(4096, 5000);
		free(p);
		p = realloc(NULL, 64);
		p = realloc(p, 200);
		n = malloc_usable_size(p);
		free(p);
		return n >= 200 ? 0 : 1;
	} else {
		fprintf(stderr, "misuse: unknown action \"%s\"\n", what);
		return 2;
	}
	fflush(stdout);
	free(p);
	return 0;	/* the misuse went unnoticed: the driver fails */
}
