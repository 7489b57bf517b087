/*
 * dump: LIBMM_DUMP and LIBMM_DUMP_SIGNAL seen from a program with libmm as
 * its malloc (built linked and plain, like every drop-in test; run by
 * tests/dropin/dump.sh, which sets the variables).
 *
 *   dump exit      allocates blocks of three engines (a slab slot, a
 *                  medium block, a large one) and keeps them to the end;
 *                  prints "pid N" and "kept ADDR SIZE" for each, and
 *                  exits: the driver reads the dump written at exit.
 *   dump signal F  the same blocks, then raise(SIGUSR2): the dump in F
 *                  must list each block in use.  Then a thread allocates
 *                  and frees in a loop while the main thread sends it the
 *                  signal, so that the handler often interrupts a thread
 *                  inside malloc; after each, F holds a whole dump or the
 *                  "busy" line, and nothing hangs (alarm()).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "dropin.h"

static const size_t sizes[] = { 40, 3000, 300000 };
#define NKEPT (sizeof sizes / sizeof sizes[0])
static void *kept[NKEPT];

static volatile int stop;

static void *churn(void *arg)
{
	void *p[64] = { 0 };
	unsigned i = 0;

	(void)arg;
	while (!stop) {
		free(p[i % 64]);
		p[i % 64] = malloc(16 + (i * 37) % 5000);
		i++;
	}
	for (i = 0; i < 64; i++)
		free(p[i]);
	return NULL;
}

/* The file's text, or NULL. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text;
	long len;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	text = malloc((size_t)len + 1);
	if (text && fread(text, 1, (size_t)len, f) != (size_t)len) {
		free(text);
		text = NULL;
	}
	if (text)
		text[len] = '\0';
	fclose(f);
	return text;
}

/* 0 when text is a whole dump listing each kept block in use. */
static int check_dump(const char *text, int want_kept)
{
	char needle[64];

	if (strncmp(text, "libmm heap 0x", 13) || !strstr(text, "\nin use: ") ||
	    text[strlen(text) - 1] != '\n')
		return -1;
	for (size_t i = 0; want_kept && i < NKEPT; i++) {
		const char *hit;

		snprintf(needle, sizeof needle, "addr = %p, size = ", kept[i]);
		if (!(hit = strstr(text, needle)) || !strstr(hit, ", is_free=0, ") ||
		    strchr(hit, '\n') < strstr(hit, ", is_free=0, ")) {
			fprintf(stderr, "dump: block %p not in the dump in use\n", kept[i]);
			return -1;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct timespec wait = { 0, 250 * 1000 * 1000 };	/* more than the handler's tries */
	unsigned dumps = 0, busy = 0;
	pthread_t t;
	char *text;

	if (argc < 2 || (strcmp(argv[1], "exit") && (strcmp(argv[1], "signal") || argc != 3))) {
		fprintf(stderr, "usage: dump exit | dump signal FILE\n");
		return 2;
	}
	if (dropin_load() != 0) {
		fprintf(stderr, "dump: libmm's functions not found: is the drop-in loaded?\n");
		return 1;
	}
	alarm(60);
	for (size_t i = 0; i < NKEPT; i++) {
		kept[i] = malloc(sizes[i]);
		if (!kept[i] || !dropin_owns(kept[i])) {
			fprintf(stderr, "dump: malloc(%zu) is not libmm's\n", sizes[i]);
			return 1;
		}
		memset(kept[i], 0x5a, sizes[i]);
	}
	printf("pid %ld\n", (long)getpid());
	for (size_t i = 0; i < NKEPT; i++)
		printf("kept %p %zu\n", kept[i], sizes[i]);
	fflush(stdout);
	if (!strcmp(argv[1], "exit"))
		return 0;

	raise(SIGUSR2);		/* handled in this thread, before raise returns */
	if (!(text = slurp(argv[2])) || check_dump(text, 1)) {
		fprintf(stderr, "dump: no whole dump in %s after the signal:\n%s\n", argv[2],
			text ? text : "(no file)");
		return 1;
	}
	free(text);

	if (pthread_create(&t, NULL, churn, NULL)) {
		fprintf(stderr, "dump: pthread_create failed\n");
		return 1;
	}
	for (int i = 0; i < 12; i++) {
		pthread_kill(t, SIGUSR2);
		nanosleep(&wait, NULL);
		text = slurp(argv[2]);
		if (text && strstr(text, "libmm dump: heap 0x") == text &&
		    strstr(text, " busy: its lock was held throughout; no dump\n")) {
			busy++;
		} else if (text && !check_dump(text, 0)) {
			dumps++;
		} else {
			fprintf(stderr, "dump: signal %d: neither a dump nor busy:\n%s\n", i,
				text ? text : "(no file)");
			return 1;
		}
		free(text);
	}
	stop = 1;
	pthread_join(t, NULL);
	printf("signals to a thread in malloc: %u dumps, %u busy\n", dumps, busy);
	for (size_t i = 0; i < NKEPT; i++)
		free(kept[i]);
	return 0;
}
