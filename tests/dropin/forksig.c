/*
 * forksig: fork() from a signal handler that interrupts malloc, free and
 * realloc, in a single-threaded process.  An interval timer fires SIGALRM
 * every 5 milliseconds; the handler forks and the child _exit(0)s at
 * once.  libmm must neither deadlock (the fork handlers must not wait for a
 * lock the interrupted call holds) nor lose a block.
 *
 * A separate program, not a Check test: only a process that never had a
 * second thread is single-threaded to glibc (and so to libmm's fork
 * handlers); a Check runner under CK_FORK=no may have had threads.
 *
 * Runs for about argv[1] seconds (default 2).  Built linked with
 * libmm-malloc and plain, for LD_PRELOAD; tests/dropin/fork-signal.sh runs
 * both under a time limit.  Exit 0 when every block kept its contents,
 * the heap checks out and every child exited 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "dropin.h"

#define SLOTS 256

/* Large blocks are checked at both ends only: touching every byte after
 * each fork (copy on write) would leave little time for anything else. */
static void fill(void *p, size_t n, unsigned seed)
{
	if (n <= 1024) {
		tu_fill(p, n, seed);
		return;
	}
	tu_fill(p, 512, seed);
	tu_fill((char *)p + n - 512, 512, seed + 1);
}

static int check(const void *p, size_t n, unsigned seed)
{
	if (n <= 1024)
		return tu_check(p, n, seed);
	return tu_check(p, 512, seed) && tu_check((const char *)p + n - 512, 512, seed + 1);
}

static volatile sig_atomic_t forks, fork_failures;

static void on_alarm(int sig)
{
	int saved = errno;
	pid_t pid = fork();

	(void)sig;
	if (pid == 0)
		_exit(0);
	if (pid < 0)
		fork_failures++;
	else
		forks++;
	errno = saved;
}

/* Reaps the children that have exited; counts the ones that failed. */
static unsigned reap(int block)
{
	unsigned bad = 0;
	int st;
	pid_t pid;

	while ((pid = waitpid(-1, &st, block ? 0 : WNOHANG)) > 0 || (pid < 0 && errno == EINTR))
		if (pid > 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
			bad++;
	return bad;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static struct { void *p; size_t n; unsigned seed; } s[SLOTS];
	double seconds = argc > 1 ? atof(argv[1]) : 2.0, end;
	struct itimerval it = { { 0, 5000 }, { 0, 5000 } }, off = { { 0, 0 }, { 0, 0 } };
	struct sigaction sa;
	uint64_t rs = 0xfeedfacecafebeefull;
	unsigned long ops = 0, bad_children = 0;
	unsigned errors = 0;

	if (dropin_load() != 0) {
		fprintf(stderr, "forksig: libmm's functions are not in the process\n");
		return 2;
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);

	end = now() + seconds;
	while (now() < end) {
		for (unsigned k = 0; k < 20; k++, ops++) {
			unsigned i;
			uint64_t x = rs;

			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			rs = x;
			i = (unsigned)(x % SLOTS);
			if (s[i].p && (x >> 20) % 3 == 0) {
				size_t n = (size_t)((x >> 24) % 5000) + 1;
				void *q = realloc(s[i].p, n);
				if (!q) {
					errors++;
					continue;
				}
				size_t keep = n < s[i].n ? n : s[i].n;
				if (!tu_check(q, keep < 512 ? keep : 512, s[i].seed))
					errors++;
				s[i].p = q;
				s[i].n = n;
				fill(q, n, s[i].seed);
			} else if (s[i].p) {
				if (!check(s[i].p, s[i].n, s[i].seed))
					errors++;
				free(s[i].p);
				s[i].p = NULL;
			} else {
				s[i].n = (x >> 32) % 32 == 0 ? 140000 + (size_t)((x >> 40) % 10000)
							     : (size_t)((x >> 32) % 1000) + 1;
				s[i].seed = (unsigned)(x >> 8);
				s[i].p = (x >> 36) % 2 ? malloc(s[i].n) : calloc(1, s[i].n);
				if (!s[i].p) {
					errors++;
					continue;
				}
				fill(s[i].p, s[i].n, s[i].seed);
			}
		}
		bad_children += reap(0);
	}
	setitimer(ITIMER_REAL, &off, NULL);
	bad_children += reap(1);

	for (unsigned i = 0; i < SLOTS; i++)
		if (s[i].p) {
			if (!check(s[i].p, s[i].n, s[i].seed))
				errors++;
			free(s[i].p);
		}
	if (dropin.heap_check(NULL) != 0) {
		fprintf(stderr, "forksig: mm_heap_check(NULL) failed\n");
		errors++;
	}
	printf("forksig (%s): %lu operations, %d forks from the handler, %lu "
	       "children failed, %d forks failed, %u errors\n", DROPIN_MODE, ops,
	       (int)forks, bad_children, (int)fork_failures, errors);
	if (forks < 20) {
		fprintf(stderr, "forksig: only %d forks: the timer did not fire\n", (int)forks);
		return 1;
	}
	return errors || bad_children ? 1 : 0;
}
