/*
 * check_dropin: the C and POSIX allocation functions of libmm-malloc.so
 * behave as programs expect of a malloc (glibc's, where the standards leave
 * room), and really are libmm's.
 *
 * Built twice from this file (see dropin.am):
 *  - tests/dropin/check_dropin, linked with lib/libmm-malloc.la;
 *  - tests/dropin/check_dropin_plain, linked with libc only, which
 *    tests/dropin/preload-suite.sh runs with LD_PRELOAD=libmm-malloc.so.1.
 * dropin.h hides the difference.  main() first proves that malloc is
 * libmm's (its statistics and a heap walk see malloc's blocks) and stops
 * with a failure otherwise, so no test here can pass on glibc's malloc.
 *
 * Built with -fno-builtin: GCC would otherwise delete malloc/free pairs,
 * fold known results and warn about the deliberately huge requests.  The
 * huge sizes go through volatile variables as well.
 *
 * Tests that limit resources or block the program break do their work in
 * a child process of their own (child_run), so nothing leaks into the next
 * test even under CK_FORK=no.  Every fork is waited for with a deadline
 * and the fork tests run under alarm(), so a deadlock is a failure, not a
 * hang.  fork() from a signal handler is tests/dropin/forksig.c: it needs
 * a process that never had a second thread.
 */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <locale.h>
#include <malloc.h>
#include <netdb.h>
#include <pthread.h>
#include <regex.h>
#include <search.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <threads.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "dropin.h"

#define KIB ((size_t)1024)
#define MIB (KIB * KIB)

/* glibc runs C++-style thread_local destructors registered here. */
extern int __cxa_thread_atexit_impl(void (*dtor)(void *), void *obj, void *dso);
extern void *__dso_handle;

/* Alignments that are not powers of two, out of the compiler's sight:
 * clang rejects them at compile time when it can see them. */
static volatile size_t not_pow2 = 24, zero_align = 0;

static size_t page(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* --- Child processes with a deadline ---------------------------------------- */

/* In a child: a failed check reports itself and ends the process, from any
 * thread. */
#define CHILD_CHECK(cond) do { \
		if (!(cond)) { \
			fprintf(stderr, "%s:%d: check failed in child: %s\n", \
				__FILE__, __LINE__, #cond); \
			_exit(3); \
		} \
	} while (0)

/* Waits up to seconds for pid; kills it and returns -1 if it is still
 * running then. */
static int wait_bounded(pid_t pid, unsigned seconds)
{
	struct timespec tick = { 0, 5 * 1000 * 1000 };
	unsigned long waited_ms = 0;
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return st;
		if (r < 0 && errno != EINTR)
			return -2;
		if (waited_ms >= seconds * 1000ul) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -1;
		}
		nanosleep(&tick, NULL);
		waited_ms += 5;
	}
}

static void describe_status(char *buf, size_t len, int st)
{
	if (st == -1)
		snprintf(buf, len, "did not finish in time (deadlock?) and was killed");
	else if (st == -2)
		snprintf(buf, len, "could not be waited for: %s", strerror(errno));
	else if (WIFEXITED(st))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "was killed by signal %d (%s)", WTERMSIG(st),
			 strsignal(WTERMSIG(st)));
	else
		snprintf(buf, len, "ended with wait status %#x", st);
}

/* Runs fn in a child process, which SIGALRM ends after seconds; the child
 * must exit with status 0. */
static void child_run(const char *what, int (*fn)(void), unsigned seconds)
{
	char desc[128];
	pid_t pid;
	int st;

	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		signal(SIGALRM, SIG_DFL);
		alarm(seconds);
		_exit(fn());
	}
	st = wait_bounded(pid, seconds + 10);
	describe_status(desc, sizeof desc, st);
	ck_assert_msg(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "%s: the child %s", what, desc);
}

/* --- Is it ours? -------------------------------------------------------------- */

START_TEST(test_malloc_reaches_libmm)
{
	void *p[64];
	mm_stats_t before = dropin_stats(), after;

	for (unsigned i = 0; i < 64; i++) {
		/* every size class, and large blocks with their own mapping */
		size_t n = i < 60 ? 1 + i * 97 : (200 + i) * KIB;
		p[i] = malloc(n);
		ck_assert_ptr_nonnull(p[i]);
		tu_fill(p[i], n, i);
		ck_assert_msg(dropin_owns(p[i]), "malloc(%zu) is not libmm's", n);
		ck_assert_uint_ge(malloc_usable_size(p[i]), n);
		ck_assert_uint_eq(malloc_usable_size(p[i]), dropin.usable_size(p[i]));
	}
	after = dropin_stats();
	ck_assert_uint_ge(after.alloc_count, before.alloc_count + 64);
	ck_assert_uint_eq(after.in_use_blocks, before.in_use_blocks + 64);
	ck_assert_uint_ge(after.in_use_bytes, before.in_use_bytes + 4 * 200 * KIB);
	for (unsigned i = 0; i < 64; i++) {
		size_t n = i < 60 ? 1 + i * 97 : (200 + i) * KIB;
		ck_assert(tu_check(p[i], n, i));
		free(p[i]);
	}
	after = dropin_stats();
	ck_assert_uint_eq(after.in_use_blocks, before.in_use_blocks);
	ck_assert_uint_ge(after.free_count, before.free_count + 64);
	ck_assert_int_eq(dropin.heap_check(NULL), 0);
}
END_TEST

/* One heap: mm_malloc's blocks go to free() and malloc's to mm_free(). */
START_TEST(test_mixed_with_mm_api)
{
	void *a = dropin.mm_malloc_fn(5000), *b = malloc(5000);

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert(tu_disjoint(a, 5000, b, 5000));
	tu_fill(a, 5000, 1);
	tu_fill(b, 5000, 2);
	ck_assert(tu_check(a, 5000, 1));
	ck_assert(tu_check(b, 5000, 2));
	free(a);
	dropin.mm_free_fn(b);
	ck_assert_int_eq(dropin.heap_check(NULL), 0);
}
END_TEST

/* mm_print_mem_list() lists, on standard output, the blocks of malloc(). */
START_TEST(test_print_mem_list_sees_malloc)
{
	char path[] = "/tmp/libmm-dropin-list.XXXXXX";
	char needle[64], *text, *hit, *eol;
	void *p = malloc(1234), *q = malloc(300 * KIB);
	int fd = mkstemp(path), saved;
	struct stat sb;

	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(q);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	fflush(stdout);
	saved = dup(1);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_eq(dup2(fd, 1), 1);
	dropin.print_mem_list();
	fflush(stdout);
	ck_assert_int_eq(dup2(saved, 1), 1);
	close(saved);

	ck_assert_int_eq(fstat(fd, &sb), 0);
	ck_assert_int_gt(sb.st_size, 0);
	text = malloc((size_t)sb.st_size + 1);
	ck_assert_ptr_nonnull(text);
	ck_assert_int_eq(pread(fd, text, (size_t)sb.st_size, 0), sb.st_size);
	text[sb.st_size] = '\0';
	close(fd);

	ck_assert_msg(strncmp(text, "libmm heap 0x", 13) == 0,
		      "the list does not start with its heap line: %.80s", text);
	for (int i = 0; i < 2; i++) {
		void *x = i ? q : p;
		snprintf(needle, sizeof needle, "addr = 0x%lx, size = ",
			 (unsigned long)(uintptr_t)x);
		hit = strstr(text, needle);
		ck_assert_msg(hit != NULL, "block %p of malloc() is not in "
			      "mm_print_mem_list()'s output", x);
		eol = strchr(hit, '\n');
		ck_assert_ptr_nonnull(eol);
		*eol = '\0';
		ck_assert_msg(strstr(hit, ", is_free=0, ") != NULL,
			      "block %p listed as free: %s", x, hit);
		*eol = '\n';
	}
	ck_assert_ptr_nonnull(strstr(text, "\nin use: "));
	free(text);
	free(p);
	free(q);
}
END_TEST

/* --- The semantics programs rely on ----------------------------------------- */

START_TEST(test_alignment_16)
{
	void *p[64];

	for (size_t n = 0; n <= 2048; n++) {
		void *a = malloc(n), *c = calloc(1, n);
		ck_assert_msg(a && tu_aligned(a, 16), "malloc(%zu) = %p", n, a);
		ck_assert_msg(c && tu_aligned(c, 16), "calloc(1, %zu) = %p", n, c);
		a = realloc(a, n + 7);
		ck_assert_msg(a && tu_aligned(a, 16), "realloc(, %zu) = %p", n + 7, a);
		free(a);
		free(c);
	}
	/* small alignments still give 16 */
	for (unsigned i = 0; i < 64; i++) {
		size_t al = (size_t)1 << (i % 4);	/* 1, 2, 4, 8 */
		p[i] = i & 1 ? memalign(al, 1 + i) : aligned_alloc(al, 1 + i);
		ck_assert_msg(p[i] && tu_aligned(p[i], 16), "alignment %zu: %p", al, p[i]);
	}
	for (unsigned i = 0; i < 64; i++)
		free(p[i]);
	ck_assert_int_eq(posix_memalign(&p[0], sizeof(void *), 1), 0);
	ck_assert(tu_aligned(p[0], 16));
	free(p[0]);
}
END_TEST

START_TEST(test_malloc0_unique)
{
	enum { N = 512 };
	void **v = calloc(N, sizeof *v), *q;

	ck_assert_ptr_nonnull(v);
	for (unsigned i = 0; i < N; i++) {
		v[i] = malloc(0);
		ck_assert_ptr_nonnull(v[i]);
		ck_assert(tu_aligned(v[i], 16));
		ck_assert(dropin_owns(v[i]));
		for (unsigned j = 0; j < i; j++)
			if (v[i] == v[j])
				ck_abort_msg("malloc(0) returned %p twice", v[i]);
	}
	for (unsigned i = 0; i < N; i++)
		free(v[i]);
	free(v);

	/* the other ways of asking for nothing, as glibc answers them */
	q = realloc(NULL, 0);
	ck_assert_ptr_nonnull(q);
	free(q);
	q = calloc(0, 0);
	ck_assert_ptr_nonnull(q);
	free(q);
	q = calloc(0, 1000);
	ck_assert_ptr_nonnull(q);
	free(q);
	q = aligned_alloc(64, 0);
	ck_assert_ptr_nonnull(q);
	ck_assert(tu_aligned(q, 64));
	free(q);
	q = NULL;
	ck_assert_int_eq(posix_memalign(&q, 64, 0), 0);
	ck_assert_ptr_nonnull(q);
	free(q);
}
END_TEST

/* realloc(p, 0) frees p and returns NULL (glibc's behaviour). */
START_TEST(test_realloc_zero_frees)
{
	static const size_t sizes[] = { 1, 100, 5000, 300 * 1024 };

	for (unsigned i = 0; i < sizeof sizes / sizeof *sizes; i++) {
		void *p = malloc(sizes[i]), *r;
		mm_stats_t before, after;

		ck_assert_ptr_nonnull(p);
		before = dropin_stats();
		r = realloc(p, 0);
		after = dropin_stats();
		ck_assert_ptr_null(r);
		ck_assert_uint_eq(after.in_use_blocks, before.in_use_blocks - 1);
		ck_assert_uint_ge(after.free_count, before.free_count + 1);
		ck_assert(!dropin_owns(p));

		p = malloc(sizes[i]);
		ck_assert_ptr_nonnull(p);
		before = dropin_stats();
		r = reallocarray(p, 0, 16);
		after = dropin_stats();
		ck_assert_ptr_null(r);
		ck_assert_uint_eq(after.in_use_blocks, before.in_use_blocks - 1);
	}
	ck_assert_int_eq(dropin.heap_check(NULL), 0);
}
END_TEST

/* Asking for the size a block already has keeps the block; so does
 * shrinking a little; shrinking a lot and growing keep the contents. */
START_TEST(test_realloc_usable_size)
{
	static const size_t sizes[] = { 1, 24, 100, 1000, 5000, 70000, 200000, 1 << 20 };

	for (unsigned i = 0; i < sizeof sizes / sizeof *sizes; i++) {
		char *p = malloc(sizes[i]), *q;
		size_t u;

		ck_assert_ptr_nonnull(p);
		u = malloc_usable_size(p);
		ck_assert_uint_ge(u, sizes[i]);
		tu_fill(p, u, i);
		q = realloc(p, u);
		ck_assert_msg(q == p, "realloc(p, malloc_usable_size(p) = %zu) moved "
			      "the block of %zu bytes", u, sizes[i]);
		ck_assert(tu_check(q, u, i));
		/* shrinking by less than half stays in place */
		q = realloc(p, u / 2 + u / 4);
		ck_assert_ptr_eq(q, p);
		ck_assert(tu_check(q, u / 2 + u / 4, i));
		/* by more, it may move (libmm moves a large block that became
		 * small back into the heap) */
		p = realloc(q, sizes[i] / 4 + 1);
		ck_assert_ptr_nonnull(p);
		ck_assert(tu_check(p, sizes[i] / 4 + 1, i));
		q = realloc(p, sizes[i] * 3 + 100);
		ck_assert_ptr_nonnull(q);
		ck_assert(tu_check(q, sizes[i] / 4 + 1, i));
		ck_assert(dropin_owns(q));
		free(q);
	}
}
END_TEST

START_TEST(test_calloc_zeroes_reused_memory)
{
	static const size_t sizes[] = { 16, 100, 1000, 4096, 20000, 100000, 300000 };
	enum { N = sizeof sizes / sizeof *sizes };
	void *p[N];

	for (int round = 0; round < 4; round++) {
		for (unsigned i = 0; i < N; i++) {
			p[i] = malloc(sizes[i]);
			ck_assert_ptr_nonnull(p[i]);
			memset(p[i], 0xa5, malloc_usable_size(p[i]));
		}
		for (unsigned i = 0; i < N; i++)
			free(p[i]);
		for (unsigned i = 0; i < N; i++) {
			p[i] = calloc(1, sizes[i]);
			ck_assert_ptr_nonnull(p[i]);
			ck_assert_msg(tu_is_zero(p[i], sizes[i]),
				      "calloc(1, %zu) is not zeroed", sizes[i]);
			memset(p[i], 0x5a, sizes[i]);
		}
		for (unsigned i = 0; i < N; i++)
			free(p[i]);
	}
}
END_TEST

/* free() keeps errno, whatever it has to do: a small block, a mapped one,
 * an aligned one, memory given back at the top of the break. */
START_TEST(test_free_keeps_errno)
{
	static const size_t sizes[] = { 0, 1, 100, 1000, 65536, 200 * 1024, 4 << 20 };
	void (*fsized)(void *, size_t);
	void (*faligned)(void *, size_t, size_t);
	void *v[40], *sym;

	for (unsigned i = 0; i < sizeof sizes / sizeof *sizes; i++) {
		void *p = malloc(sizes[i]);
		ck_assert_ptr_nonnull(p);
		errno = 1234;
		free(p);
		ck_assert_msg(errno == 1234, "free of a %zu-byte block set errno to %d",
			      sizes[i], errno);
	}
	errno = 4321;
	free(NULL);
	ck_assert_int_eq(errno, 4321);

	v[0] = aligned_alloc(4096, 100);
	v[1] = aligned_alloc(MIB, 10);
	v[2] = valloc(10000);
	v[3] = pvalloc(10000);
	v[4] = memalign(64, 300 * KIB);
	for (unsigned i = 0; i < 5; i++) {
		ck_assert_ptr_nonnull(v[i]);
		errno = 555 + (int)i;
		free(v[i]);
		ck_assert_int_eq(errno, 555 + (int)i);
	}

	/* 40 x 64 KiB from the heap, freed from the top: the heap gives the
	 * end of its break or mapping back to the system on the way */
	for (unsigned i = 0; i < 40; i++) {
		v[i] = malloc(64 * KIB);
		ck_assert_ptr_nonnull(v[i]);
	}
	for (unsigned i = 40; i-- > 0;) {
		errno = 777;
		free(v[i]);
		ck_assert_int_eq(errno, 777);
	}

	/* C23's sized frees, where the drop-in has them */
	sym = dlsym(RTLD_DEFAULT, "free_sized");
	ck_assert_ptr_nonnull(sym);
	memcpy(&fsized, &sym, sizeof sym);
	sym = dlsym(RTLD_DEFAULT, "free_aligned_sized");
	ck_assert_ptr_nonnull(sym);
	memcpy(&faligned, &sym, sizeof sym);
	v[0] = malloc(333);
	v[1] = aligned_alloc(256, 512);
	ck_assert_ptr_nonnull(v[0]);
	ck_assert_ptr_nonnull(v[1]);
	errno = 99;
	fsized(v[0], 333);
	faligned(v[1], 256, 512);
	fsized(NULL, 0);
	ck_assert_int_eq(errno, 99);
	ck_assert_int_eq(dropin.heap_check(NULL), 0);
}
END_TEST

/* --- Too large: NULL and ENOMEM from every entry point ------------------- */

static volatile size_t huge_sizes[] = {
	(size_t)PTRDIFF_MAX + 1, SIZE_MAX, SIZE_MAX - 15, SIZE_MAX - 4096,
	SIZE_MAX / 2 + 4096, (size_t)PTRDIFF_MAX, (size_t)PTRDIFF_MAX - 4096,
	(size_t)1 << 62, (size_t)1 << 48,
};
#define N_HUGE (sizeof huge_sizes / sizeof *huge_sizes)

/* errno is read at once: a Check assertion may call malloc, free and
 * system calls itself. */
#define EXPECT_ENOMEM(call, n) do { \
		errno = 0; \
		void *r_ = (call); \
		int e_ = errno; \
		ck_assert_msg(r_ == NULL, "%s with size %#zx succeeded", #call, (size_t)(n)); \
		ck_assert_msg(e_ == ENOMEM, "%s with size %#zx: errno %d, not ENOMEM", \
			      #call, (size_t)(n), e_); \
	} while (0)

#define EXPECT_NULL(call, want) do { \
		errno = 0; \
		void *r_ = (call); \
		int e_ = errno; \
		ck_assert_msg(r_ == NULL, "%s succeeded", #call); \
		ck_assert_msg(e_ == (want), "%s: errno %d, not %d", #call, e_, (want)); \
	} while (0)

START_TEST(test_oversize_enomem)
{
	char *keep = malloc(100);
	volatile size_t half = SIZE_MAX / 2 + 1, two = 2;
	volatile size_t big48 = (size_t)1 << 48, big33 = (size_t)1 << 33;
	mm_stats_t before, after;

	ck_assert_ptr_nonnull(keep);
	tu_fill(keep, 100, 7);
	before = dropin_stats();
	for (unsigned i = 0; i < N_HUGE; i++) {
		size_t n = huge_sizes[i];
		void *q = (void *)keep;
		int err, e;

		EXPECT_ENOMEM(malloc(n), n);
		EXPECT_ENOMEM(calloc(n, 1), n);
		EXPECT_ENOMEM(calloc(1, n), n);
		EXPECT_ENOMEM(realloc(NULL, n), n);
		EXPECT_ENOMEM(realloc(keep, n), n);
		EXPECT_ENOMEM(reallocarray(NULL, n, 1), n);
		EXPECT_ENOMEM(reallocarray(keep, 1, n), n);
		EXPECT_ENOMEM(aligned_alloc(16, n), n);
		EXPECT_ENOMEM(aligned_alloc(4096, n), n);
		EXPECT_ENOMEM(aligned_alloc(MIB, n), n);
		EXPECT_ENOMEM(memalign(64, n), n);
		EXPECT_ENOMEM(memalign(not_pow2, n), n);
		EXPECT_ENOMEM(valloc(n), n);
		EXPECT_ENOMEM(pvalloc(n), n);
		errno = 42;
		err = posix_memalign(&q, 64, n);
		e = errno;
		ck_assert_msg(err == ENOMEM, "posix_memalign(, 64, %#zx) = %d", n, err);
		ck_assert_ptr_eq(q, keep);
		/* out of memory: ENOMEM in errno too, as glibc leaves it */
		ck_assert_int_eq(e, ENOMEM);
		/* the failed reallocs left the block alone */
		ck_assert(tu_check(keep, 100, 7));
		ck_assert(dropin_owns(keep));
	}
	/* nmemb * size overflowing */
	EXPECT_ENOMEM(calloc(half, two), SIZE_MAX);
	EXPECT_ENOMEM(calloc(65536, big48), SIZE_MAX);
	EXPECT_ENOMEM(reallocarray(NULL, half, two), SIZE_MAX);
	EXPECT_ENOMEM(reallocarray(keep, big33, big33), SIZE_MAX);
	ck_assert(tu_check(keep, 100, 7));

	after = dropin_stats();
	ck_assert_uint_eq(after.in_use_blocks, before.in_use_blocks);
	ck_assert_uint_eq(after.in_use_bytes, before.in_use_bytes);
	ck_assert_int_eq(dropin.heap_check(NULL), 0);
	free(keep);
}
END_TEST

/* glibc's memalign rounds an alignment that is not a power of two up to
 * one; aligned_alloc and posix_memalign refuse it. */
START_TEST(test_memalign_rounding)
{
	static const size_t want[][2] = {
		{ 24, 32 }, { 3, 16 }, { 48, 64 }, { 100, 128 }, { 4097, 8192 },
		{ 65535, 65536 }, { 3 * MIB, 4 * MIB },
	};
	void *v[32], *q = (void *)&q;
	volatile size_t bad = SIZE_MAX;
	int r[3], e;

	for (unsigned i = 0; i < sizeof want / sizeof *want; i++) {
		/* 32 live blocks: one of them lands on the larger boundary
		 * by luck with probability 2^-32 at most */
		for (unsigned j = 0; j < 32; j++) {
			v[j] = memalign(want[i][0], 40 + j);
			ck_assert_msg(v[j] && tu_aligned(v[j], want[i][1]),
				      "memalign(%zu, %u) = %p, not %zu-aligned",
				      want[i][0], 40 + j, v[j], want[i][1]);
			tu_fill(v[j], 40 + j, j);
		}
		for (unsigned j = 0; j < 32; j++) {
			ck_assert(tu_check(v[j], 40 + j, j));
			free(v[j]);
		}
	}
	EXPECT_NULL(memalign(bad, 100), EINVAL);
	EXPECT_NULL(memalign(bad / 2 + 2, 100), EINVAL);
	EXPECT_NULL(aligned_alloc(not_pow2, 100), EINVAL);
	EXPECT_NULL(aligned_alloc(zero_align, 100), EINVAL);
	/* posix_memalign returns the error and leaves errno alone */
	errno = 11;
	r[0] = posix_memalign(&q, 24, 100);
	r[1] = posix_memalign(&q, 0, 100);
	r[2] = posix_memalign(&q, sizeof(void *) / 2, 100);
	e = errno;
	for (unsigned i = 0; i < 3; i++)
		ck_assert_int_eq(r[i], EINVAL);
	ck_assert_ptr_eq(q, (void *)&q);
	ck_assert_int_eq(e, 11);
}
END_TEST

/* Alignments 2^4 .. 2^27 honoured by every aligned entry point, with the
 * contents surviving a write, a read and a realloc. */
START_TEST(test_large_alignments)
{
	for (unsigned k = 4; k <= 27; k++) {
		size_t al = (size_t)1 << k;
		size_t sizes[2] = { 1, (al < 4 * MIB ? al : 4 * MIB) + 1 };

		for (unsigned how = 0; how < 3; how++)
			for (unsigned s = 0; s < 2; s++) {
				size_t n = sizes[s];
				void *p = NULL, *q;
				unsigned seed = k * 7 + how * 3 + s;

				if (how == 0)
					p = aligned_alloc(al, n);
				else if (how == 1)
					ck_assert_int_eq(posix_memalign(&p, al, n), 0);
				else
					p = memalign(al, n);
				ck_assert_msg(p && tu_aligned(p, al), "alignment 2^%u, "
					      "size %zu, way %u: %p", k, n, how, p);
				ck_assert_uint_ge(malloc_usable_size(p), n);
				ck_assert(dropin_owns(p));
				tu_fill(p, n, seed);
				ck_assert(tu_check(p, n, seed));
				q = realloc(p, n * 2 + 64);
				ck_assert_ptr_nonnull(q);
				ck_assert_msg(tu_check(q, n, seed), "realloc lost the "
					      "contents of a 2^%u-aligned block", k);
				free(q);
			}
	}
	ck_assert_int_eq(dropin.heap_check(NULL), 0);
}
END_TEST

START_TEST(test_valloc_pvalloc)
{
	size_t ps = page();
	static const size_t sizes[] = { 0, 1, 100, 4095, 4096, 4097, 10000, 300000 };
	volatile size_t huge = SIZE_MAX;

	for (unsigned i = 0; i < sizeof sizes / sizeof *sizes; i++) {
		size_t n = sizes[i], rounded = n ? (n + ps - 1) / ps * ps : ps;
		char *v = valloc(n), *p = pvalloc(n);

		ck_assert_msg(v && tu_aligned(v, ps), "valloc(%zu) = %p", n, (void *)v);
		ck_assert_msg(p && tu_aligned(p, ps), "pvalloc(%zu) = %p", n, (void *)p);
		ck_assert_uint_ge(malloc_usable_size(v), n);
		ck_assert_msg(malloc_usable_size(p) >= rounded, "pvalloc(%zu): "
			      "usable %zu, not whole pages", n, malloc_usable_size(p));
		ck_assert(dropin_owns(v));
		ck_assert(dropin_owns(p));
		/* pvalloc's caller may use every byte of the pages */
		tu_fill(p, rounded, i);
		tu_fill(v, n, i + 100);
		ck_assert(tu_check(p, rounded, i));
		ck_assert(tu_check(v, n, i + 100));
		free(v);
		free(p);
	}
	EXPECT_NULL(pvalloc(huge), ENOMEM);
	EXPECT_NULL(pvalloc(huge - ps + 2), ENOMEM);
	EXPECT_NULL(valloc(huge), ENOMEM);
	ck_assert_uint_eq(malloc_usable_size(NULL), 0);
	ck_assert_int_eq(dropin.heap_check(NULL), 0);
}
END_TEST

/* --- The program break moved by someone else --------------------------------- */

struct live {
	void *p;
	size_t n;
	unsigned seed;
};

/* The program calls sbrk() between allocations: libmm must neither hand
 * out nor give back the pages the program took. */
START_TEST(test_foreign_sbrk)
{
	enum { N = 600, NBRK = 40 };
	struct live *b = calloc(N, sizeof *b);
	unsigned char *mine[NBRK];
	size_t ps = page();
	unsigned nbrk = 0;
	uint64_t rs = 0x9e3779b97f4a7c15ull;

	ck_assert_ptr_nonnull(b);
	for (unsigned i = 0; i < N; i++) {
		b[i].n = rnd(&rs) % 3 ? rnd(&rs) % 3000 + 1 : rnd(&rs) % (100 * KIB) + 1;
		b[i].seed = i;
		b[i].p = malloc(b[i].n);
		ck_assert_ptr_nonnull(b[i].p);
		tu_fill(b[i].p, b[i].n, i);
		if (i % 15 == 7 && nbrk < NBRK) {
			void *top = sbrk((intptr_t)ps);
			ck_assert_msg(top != (void *)-1, "sbrk(%zu): %s", ps, strerror(errno));
			mine[nbrk] = top;
			memset(mine[nbrk], 0x40 + (int)nbrk, ps);
			nbrk++;
		}
		if (i % 3 == 2) {	/* free an earlier one */
			unsigned j = (unsigned)(rnd(&rs) % i);
			if (b[j].p) {
				ck_assert(tu_check(b[j].p, b[j].n, b[j].seed));
				free(b[j].p);
				b[j].p = NULL;
			}
		}
	}
	for (unsigned i = 0; i < N; i++) {
		if (!b[i].p)
			continue;
		ck_assert_msg(tu_check(b[i].p, b[i].n, b[i].seed),
			      "block %u lost its contents", i);
		for (unsigned k = 0; k < nbrk; k++)
			if (!tu_disjoint(b[i].p, b[i].n, mine[k], ps))
				ck_abort_msg("block %p overlaps the program's sbrk page %p",
					     b[i].p, (void *)mine[k]);
		b[i].p = realloc(b[i].p, b[i].n + 5000);
		ck_assert_ptr_nonnull(b[i].p);
		ck_assert(tu_check(b[i].p, b[i].n, b[i].seed));
	}
	for (unsigned i = 0; i < N; i++)
		free(b[i].p);
	free(b);
	malloc_trim(0);
	for (unsigned k = 0; k < nbrk; k++)
		for (size_t j = 0; j < ps; j++)
			if (mine[k][j] != 0x40 + k)
				ck_abort_msg("the program's sbrk page %p was overwritten",
					     (void *)mine[k]);
	ck_assert_int_eq(dropin.heap_check(NULL), 0);
}
END_TEST

/* 64 MiB in pieces small enough for the heap, which then has to grow. */
static int allocate_and_verify(void)
{
	enum { N = 4096 };
	static void *v[N];
	size_t n = 16 * KIB;

	for (unsigned i = 0; i < N; i++) {
		v[i] = malloc(n);
		CHILD_CHECK(v[i] != NULL);
		tu_fill(v[i], n, i);
	}
	for (unsigned i = 0; i < N; i++) {
		CHILD_CHECK(tu_check(v[i], n, i));
		CHILD_CHECK(dropin_owns(v[i]));
	}
	for (unsigned i = 0; i < N; i += 2)
		free(v[i]);
	for (unsigned i = 0; i < N; i += 2) {
		v[i] = malloc(n / 2);
		CHILD_CHECK(v[i] != NULL);
	}
	for (unsigned i = 0; i < N; i++)
		free(v[i]);
	CHILD_CHECK(dropin.heap_check(NULL) == 0);
	return 0;
}

/* A mapping placed just above the break: brk() cannot grow any more, and
 * libmm must take its memory from mmap instead. */
static int brk_blocked_child(void)
{
	size_t ps = page();
	uintptr_t top = ((uintptr_t)sbrk(0) + ps - 1) & ~(uintptr_t)(ps - 1);
	void *guard = mmap((void *)top, ps, PROT_NONE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	CHILD_CHECK(guard == (void *)top);
	CHILD_CHECK(sbrk((intptr_t)(2 * ps)) == (void *)-1);
	allocate_and_verify();
	CHILD_CHECK((uintptr_t)sbrk(0) <= top);
	return 0;
}

START_TEST(test_brk_blocked_by_mapping)
{
	child_run("brk blocked by a mapping", brk_blocked_child, 60);
}
END_TEST

/* RLIMIT_DATA's soft limit at 0 makes brk() fail; Linux still allows
 * private mappings up to the hard limit then (its "workaround for
 * valgrind"), so libmm must fall back to mmap. */
static int brk_rlimit_child(void)
{
	struct rlimit rl;

	CHILD_CHECK(getrlimit(RLIMIT_DATA, &rl) == 0);
	rl.rlim_cur = 0;
	CHILD_CHECK(setrlimit(RLIMIT_DATA, &rl) == 0);
	CHILD_CHECK(sbrk((intptr_t)(64 * page())) == (void *)-1);
	return allocate_and_verify();
}

START_TEST(test_brk_fails_rlimit_data)
{
	child_run("brk failing under RLIMIT_DATA", brk_rlimit_child, 60);
}
END_TEST

/* --- fork ------------------------------------------------------------------------ */

static atomic_int stop_flag;
static atomic_uint errors;
static atomic_ulong hammer_ops;

static void *hammer(void *arg)
{
	uint64_t rs = 0x2545f4914f6cdd1dull + (uintptr_t)arg * 7919;
	struct live b[32];

	memset(b, 0, sizeof b);
	while (!atomic_load(&stop_flag)) {
		struct live *x = &b[rnd(&rs) % 32];

		atomic_fetch_add(&hammer_ops, 1);
		if (x->p) {
			if (!tu_check(x->p, x->n, x->seed))
				atomic_fetch_add(&errors, 1);
			free(x->p);
			x->p = NULL;
			continue;
		}
		switch (rnd(&rs) % 8) {
		case 0:
			x->n = 128 * KIB + rnd(&rs) % (200 * KIB);
			x->p = malloc(x->n);
			break;
		case 1:
			x->n = rnd(&rs) % 5000 + 1;
			x->p = aligned_alloc(256, x->n);
			break;
		case 2:
			x->n = rnd(&rs) % 2000 + 1;
			x->p = calloc(1, x->n);
			break;
		default:
			x->n = rnd(&rs) % 600 + 1;
			x->p = malloc(x->n);
			break;
		}
		if (!x->p) {
			atomic_fetch_add(&errors, 1);
			continue;
		}
		x->seed = (unsigned)rnd(&rs);
		tu_fill(x->p, x->n, x->seed);
	}
	for (unsigned i = 0; i < 32; i++)
		free(b[i].p);
	return NULL;
}

static void *child_thread(void *arg)
{
	for (unsigned i = 0; i < 2000; i++) {
		size_t n = (i * 37 + (uintptr_t)arg) % 3000 + 1;
		void *p = malloc(n);
		if (!p)
			return (void *)1;
		tu_fill(p, n, i);
		if (!tu_check(p, n, i))
			return (void *)1;
		free(p);
	}
	return NULL;
}

#define PRE_N 4
static const size_t pre_sizes[PRE_N] = { 24, 3000, 64 * 1024, 300 * 1024 };

/* A child of a multi-threaded parent: allocate at once, free what the
 * parent allocated before the fork, start threads of its own. */
static void forked_child(void **pre, unsigned seed)
{
	pthread_t t[2];
	void *ret;

	signal(SIGALRM, SIG_DFL);
	alarm(20);
	void *p = malloc(100);
	CHILD_CHECK(p != NULL);
	for (unsigned i = 0; i < PRE_N; i++) {
		CHILD_CHECK(tu_check(pre[i], pre_sizes[i], seed + i));
		free(pre[i]);
	}
	for (unsigned i = 0; i < 500; i++) {
		void *q = malloc(i * 11 + 1);
		CHILD_CHECK(q != NULL);
		free(q);
	}
	for (unsigned i = 0; i < 2; i++)
		CHILD_CHECK(pthread_create(&t[i], NULL, child_thread, (void *)(uintptr_t)i) == 0);
	for (unsigned i = 0; i < 2; i++) {
		CHILD_CHECK(pthread_join(t[i], &ret) == 0);
		CHILD_CHECK(ret == NULL);
	}
	free(p);
	CHILD_CHECK(dropin.heap_check(NULL) == 0);
	_exit(0);
}

START_TEST(test_fork_threaded_parent)
{
	enum { NT = 4, FORKS = 20 };
	pthread_t t[NT];
	char desc[128];

	signal(SIGALRM, SIG_DFL);
	alarm(100);
	atomic_store(&stop_flag, 0);
	atomic_store(&errors, 0);
	atomic_store(&hammer_ops, 0);
	for (unsigned i = 0; i < NT; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, hammer, (void *)(uintptr_t)i), 0);
	while (atomic_load(&hammer_ops) < 1000)
		sched_yield();
	for (unsigned f = 0; f < FORKS; f++) {
		void *pre[PRE_N];
		unsigned seed = f * 10;
		pid_t pid;
		int st;

		for (unsigned i = 0; i < PRE_N; i++) {
			pre[i] = malloc(pre_sizes[i]);
			ck_assert_ptr_nonnull(pre[i]);
			tu_fill(pre[i], pre_sizes[i], seed + i);
		}
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0)
			forked_child(pre, seed);
		st = wait_bounded(pid, 30);
		describe_status(desc, sizeof desc, st);
		ck_assert_msg(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
			      "fork %u: the child %s", f, desc);
		for (unsigned i = 0; i < PRE_N; i++) {
			ck_assert(tu_check(pre[i], pre_sizes[i], seed + i));
			free(pre[i]);
		}
	}
	atomic_store(&stop_flag, 1);
	for (unsigned i = 0; i < NT; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	alarm(0);
	ck_assert_uint_eq(atomic_load(&errors), 0);
	ck_assert_int_eq(dropin.heap_check(NULL), 0);
}
END_TEST

/* stdio allocates with its own locks held; fork must still not deadlock. */
static void *stdio_loop(void *arg)
{
	unsigned kind = (unsigned)(uintptr_t)arg;
	char *buf = NULL;
	size_t len = 0;

	for (unsigned i = 0; !atomic_load(&stop_flag); i++) {
		FILE *f;

		atomic_fetch_add(&hammer_ops, 1);
		switch (kind % 3) {
		case 0:
			f = fopen("/dev/null", "w");
			if (!f) {
				atomic_fetch_add(&errors, 1);
				break;
			}
			fprintf(f, "%u %s %0200u\n", i, "line", i);
			fflush(f);
			fclose(f);
			break;
		case 1:
			f = tmpfile();
			if (!f) {
				atomic_fetch_add(&errors, 1);
				break;
			}
			for (unsigned j = 0; j < 50; j++)
				fprintf(f, "%u:%u\n", i, j);
			fflush(f);
			rewind(f);
			if (getc(f) == EOF)
				atomic_fetch_add(&errors, 1);
			fclose(f);
			break;
		default:
			f = open_memstream(&buf, &len);
			if (!f) {
				atomic_fetch_add(&errors, 1);
				break;
			}
			for (unsigned j = 0; j < 100; j++)
				fprintf(f, "%u-%u;", i, j);
			fclose(f);
			if (len == 0)
				atomic_fetch_add(&errors, 1);
			free(buf);
			buf = NULL;
			break;
		}
	}
	return NULL;
}

START_TEST(test_fork_vs_stdio)
{
	enum { NT = 3, FORKS = 200 };
	pthread_t t[NT];
	char desc[128];

	signal(SIGALRM, SIG_DFL);
	alarm(100);
	atomic_store(&stop_flag, 0);
	atomic_store(&errors, 0);
	atomic_store(&hammer_ops, 0);
	for (unsigned i = 0; i < NT; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, stdio_loop, (void *)(uintptr_t)i), 0);
	while (atomic_load(&hammer_ops) < 100)
		sched_yield();
	for (unsigned f = 0; f < FORKS; f++) {
		pid_t pid;
		int st;

		fflush(stdout);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			if (f % 2)
				_exit(0);
			/* every other child uses malloc and stdio first */
			signal(SIGALRM, SIG_DFL);
			alarm(10);
			void *p = malloc(1000);
			FILE *fp = fopen("/dev/null", "w");
			CHILD_CHECK(p && fp);
			fprintf(fp, "child %u\n", f);
			fclose(fp);
			free(p);
			_exit(0);
		}
		st = wait_bounded(pid, 20);
		describe_status(desc, sizeof desc, st);
		ck_assert_msg(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
			      "fork %u: the child %s", f, desc);
	}
	atomic_store(&stop_flag, 1);
	for (unsigned i = 0; i < NT; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	alarm(0);
	ck_assert_uint_eq(atomic_load(&errors), 0);
	ck_assert_int_eq(dropin.heap_check(NULL), 0);
}
END_TEST

/* --- Threads coming and going ----------------------------------------------------- */

#define SL_ROUNDS 40
#define SL_THREADS 8
#define SL_BLOCKS 64
#define SL_LEFT 16

static struct live sl_left[SL_ROUNDS][SL_THREADS][SL_LEFT];
static void *sl_from_main[SL_ROUNDS][SL_THREADS];

struct sl_arg {
	unsigned round, id;
};

/* Allocate, free most, leave some for the main thread, and free a block
 * the main thread allocated. */
static void *short_lived(void *arg)
{
	struct sl_arg *a = arg;
	struct live b[SL_BLOCKS];
	uint64_t rs = 0x1234567ull + a->round * 1000003u + a->id;
	unsigned left = 0;

	for (unsigned i = 0; i < SL_BLOCKS; i++) {
		b[i].n = i % 16 == 5 ? 150 * KIB + rnd(&rs) % KIB : rnd(&rs) % 4000 + 1;
		b[i].seed = (unsigned)rnd(&rs);
		b[i].p = malloc(b[i].n);
		if (!b[i].p) {
			atomic_fetch_add(&errors, 1);
			return NULL;
		}
		tu_fill(b[i].p, b[i].n, b[i].seed);
	}
	for (unsigned i = 0; i < SL_BLOCKS; i++) {
		if (!tu_check(b[i].p, b[i].n, b[i].seed))
			atomic_fetch_add(&errors, 1);
		if (i % 4 == 0 && left < SL_LEFT)
			sl_left[a->round][a->id][left++] = b[i];
		else
			free(b[i].p);
	}
	if (!tu_check(sl_from_main[a->round][a->id], 500, a->id))
		atomic_fetch_add(&errors, 1);
	free(sl_from_main[a->round][a->id]);
	return NULL;
}

START_TEST(test_short_lived_threads)
{
	struct sl_arg args[SL_THREADS];
	pthread_t t[SL_THREADS];

	atomic_store(&errors, 0);
	memset(sl_left, 0, sizeof sl_left);
	for (unsigned r = 0; r < SL_ROUNDS; r++) {
		for (unsigned i = 0; i < SL_THREADS; i++) {
			sl_from_main[r][i] = malloc(500);
			ck_assert_ptr_nonnull(sl_from_main[r][i]);
			tu_fill(sl_from_main[r][i], 500, i);
			args[i].round = r;
			args[i].id = i;
			ck_assert_int_eq(pthread_create(&t[i], NULL, short_lived, &args[i]), 0);
		}
		for (unsigned i = 0; i < SL_THREADS; i++)
			ck_assert_int_eq(pthread_join(t[i], NULL), 0);
		/* the dead threads' blocks, freed by the main thread */
		for (unsigned i = 0; i < SL_THREADS; i++)
			for (unsigned j = 0; j < SL_LEFT; j++) {
				struct live *x = &sl_left[r][i][j];
				ck_assert_ptr_nonnull(x->p);
				ck_assert(tu_check(x->p, x->n, x->seed));
				free(x->p);
				x->p = NULL;
			}
	}
	ck_assert_uint_eq(atomic_load(&errors), 0);
	ck_assert_int_eq(dropin.heap_check(NULL), 0);
}
END_TEST

/* Destructors that allocate while the thread is being torn down: pthread
 * keys (re-armed, so they run in later rounds, after every other key's
 * destructor, libmm's own included), C11 tss, and thread_local-style
 * destructors registered as C++ does. */
#define DT_THREADS 16
#define DT_ROUNDS PTHREAD_DESTRUCTOR_ITERATIONS

struct kval {
	unsigned id, round;
	char fill[200];
};

static pthread_key_t dt_key;
static tss_t dt_tss;
static atomic_uint key_calls, tss_calls, cxa_calls;
static struct live dt_left[3][2 * DT_THREADS];
static atomic_uint dt_nleft[3];
static __thread void *tls_block;

static void churn_some(unsigned seed)
{
	for (unsigned i = 0; i < 20; i++) {
		size_t n = i == 7 ? 200 * KIB : (size_t)(i * 97 + seed % 50 + 1);
		void *p = malloc(n);
		if (!p) {
			atomic_fetch_add(&errors, 1);
			continue;
		}
		tu_fill(p, n, seed + i);
		if (!tu_check(p, n, seed + i))
			atomic_fetch_add(&errors, 1);
		free(p);
	}
}

static void leave_block(unsigned kind, unsigned seed)
{
	unsigned slot = atomic_fetch_add(&dt_nleft[kind], 1);
	struct live *x = &dt_left[kind][slot];

	x->n = 300 + seed % 100;
	x->seed = seed;
	x->p = malloc(x->n);
	if (!x->p) {
		atomic_fetch_add(&errors, 1);
		return;
	}
	tu_fill(x->p, x->n, seed);
}

static void key_dtor(void *v)
{
	struct kval *k = v;

	atomic_fetch_add(&key_calls, 1);
	if (!tu_check(k->fill, sizeof k->fill, k->id))
		atomic_fetch_add(&errors, 1);
	churn_some(k->id * 31 + k->round);
	if (++k->round < DT_ROUNDS) {
		/* again in the next round, later than this one */
		k = realloc(k, sizeof *k + k->round * 1000);
		if (!k || pthread_setspecific(dt_key, k) != 0)
			atomic_fetch_add(&errors, 1);
		return;
	}
	leave_block(0, k->id);
	free(k);
}

static void tss_dtor(void *v)
{
	atomic_fetch_add(&tss_calls, 1);
	churn_some(77);
	leave_block(1, (unsigned)(uintptr_t)((struct kval *)v)->id + 1000);
	free(v);
}

static void cxa_dtor(void *v)
{
	atomic_fetch_add(&cxa_calls, 1);
	churn_some(99);
	if (!tu_check(tls_block, 1000, 5))
		atomic_fetch_add(&errors, 1);
	free(tls_block);
	tls_block = NULL;
	leave_block(2, ((struct kval *)v)->id + 2000);
	free(v);
}

static void thread_with_destructors(unsigned id)
{
	struct kval *a = malloc(sizeof *a), *b = malloc(sizeof *b), *c = malloc(sizeof *c);

	if (!a || !b || !c) {
		atomic_fetch_add(&errors, 1);
		return;
	}
	a->id = b->id = c->id = id;
	a->round = 0;
	tu_fill(a->fill, sizeof a->fill, id);
	tls_block = malloc(1000);
	if (!tls_block) {
		atomic_fetch_add(&errors, 1);
		return;
	}
	tu_fill(tls_block, 1000, 5);
	if (pthread_setspecific(dt_key, a) != 0 || tss_set(dt_tss, b) != thrd_success ||
	    __cxa_thread_atexit_impl(cxa_dtor, c, &__dso_handle) != 0)
		atomic_fetch_add(&errors, 1);
	churn_some(id);
}

static void *posix_thread(void *arg)
{
	thread_with_destructors((unsigned)(uintptr_t)arg);
	return NULL;
}

static int c11_thread(void *arg)
{
	thread_with_destructors((unsigned)(uintptr_t)arg);
	return 0;
}

START_TEST(test_thread_destructors)
{
	pthread_t pt[DT_THREADS];
	thrd_t ct[DT_THREADS];
	void *warm = malloc(10);	/* libmm's own keys come first */

	free(warm);
	atomic_store(&errors, 0);
	atomic_store(&key_calls, 0);
	atomic_store(&tss_calls, 0);
	atomic_store(&cxa_calls, 0);
	for (unsigned k = 0; k < 3; k++)
		atomic_store(&dt_nleft[k], 0);
	ck_assert_int_eq(pthread_key_create(&dt_key, key_dtor), 0);
	ck_assert_int_eq(tss_create(&dt_tss, tss_dtor), thrd_success);

	for (unsigned i = 0; i < DT_THREADS; i++) {
		ck_assert_int_eq(pthread_create(&pt[i], NULL, posix_thread,
			(void *)(uintptr_t)i), 0);
		ck_assert_int_eq(thrd_create(&ct[i], c11_thread,
			(void *)(uintptr_t)(DT_THREADS + i)), thrd_success);
	}
	for (unsigned i = 0; i < DT_THREADS; i++) {
		ck_assert_int_eq(pthread_join(pt[i], NULL), 0);
		ck_assert_int_eq(thrd_join(ct[i], NULL), thrd_success);
	}
	ck_assert_uint_eq(atomic_load(&errors), 0);
	ck_assert_uint_eq(atomic_load(&key_calls), 2 * DT_THREADS * DT_ROUNDS);
	ck_assert_uint_eq(atomic_load(&tss_calls), 2 * DT_THREADS);
	ck_assert_uint_eq(atomic_load(&cxa_calls), 2 * DT_THREADS);
	for (unsigned k = 0; k < 3; k++) {
		ck_assert_uint_eq(atomic_load(&dt_nleft[k]), 2 * DT_THREADS);
		for (unsigned i = 0; i < 2 * DT_THREADS; i++) {
			struct live *x = &dt_left[k][i];
			ck_assert_ptr_nonnull(x->p);
			ck_assert(dropin_owns(x->p));
			ck_assert(tu_check(x->p, x->n, x->seed));
			free(x->p);
		}
	}
	pthread_key_delete(dt_key);
	tss_delete(dt_tss);
	ck_assert_int_eq(dropin.heap_check(NULL), 0);
}
END_TEST

/* Out of address space (RLIMIT_AS) in several threads at once: NULL and
 * ENOMEM, the blocks already held intact, and everything works again once
 * the limit is lifted.  In a child, so the limit stays there. */
#define AS_THREADS 4
static pthread_barrier_t as_barrier;

static void *as_thread(void *arg)
{
	static const size_t sizes[] = { 100, 1000, 40 * KIB, 300 * KIB, 2 * MIB };
	unsigned id = (unsigned)(uintptr_t)arg, nfail = 0, n = 0;
	void **head = NULL;

	pthread_barrier_wait(&as_barrier);
	for (unsigned i = 0; nfail < 50 && i < 2000000; i++) {
		size_t sz = sizes[(i + id) % 5];
		void **p = malloc(sz);

		if (!p) {
			CHILD_CHECK(errno == ENOMEM);
			nfail++;
			continue;
		}
		p[0] = head;
		p[1] = (void *)(uintptr_t)(sz ^ id);
		head = p;
		n++;
	}
	CHILD_CHECK(nfail > 0);
	CHILD_CHECK(n > 0);
	/* the other entry points fail as cleanly */
	for (unsigned i = 0; i < 20; i++) {
		void *q = NULL;
		int err;

		errno = 0;
		q = calloc(1, 8 * MIB);
		CHILD_CHECK(q == NULL ? errno == ENOMEM : 1);
		free(q);
		errno = 0;
		q = aligned_alloc(MIB, 8 * MIB);
		CHILD_CHECK(q == NULL ? errno == ENOMEM : 1);
		free(q);
		q = NULL;
		err = posix_memalign(&q, 4096, 8 * MIB);
		CHILD_CHECK(err == 0 || err == ENOMEM);
		free(q);
		errno = 0;
		q = realloc(head, 16 * MIB);
		CHILD_CHECK(q == NULL ? errno == ENOMEM : 1);
		if (q)
			head = q;
	}
	/* everything still there */
	while (head) {
		void **next = head[0];
		size_t sz = (uintptr_t)head[1] ^ id;
		CHILD_CHECK(sz == 100 || sz == 1000 || sz == 40 * KIB ||
			    sz == 300 * KIB || sz == 2 * MIB);
		free(head);
		head = next;
	}
	return NULL;
}

static int rlimit_as_child(void)
{
	pthread_t t[AS_THREADS];
	struct rlimit old, rl;
	unsigned long vsize = 0, rss;
	FILE *f;

	CHILD_CHECK(pthread_barrier_init(&as_barrier, NULL, AS_THREADS + 1) == 0);
	for (unsigned i = 0; i < AS_THREADS; i++)
		CHILD_CHECK(pthread_create(&t[i], NULL, as_thread, (void *)(uintptr_t)i) == 0);
	f = fopen("/proc/self/statm", "r");
	CHILD_CHECK(f != NULL);
	CHILD_CHECK(fscanf(f, "%lu %lu", &vsize, &rss) == 2);
	fclose(f);
	CHILD_CHECK(getrlimit(RLIMIT_AS, &old) == 0);
	rl = old;
	rl.rlim_cur = vsize * page() + 64 * MIB;
	CHILD_CHECK(setrlimit(RLIMIT_AS, &rl) == 0);
	pthread_barrier_wait(&as_barrier);
	for (unsigned i = 0; i < AS_THREADS; i++)
		CHILD_CHECK(pthread_join(t[i], NULL) == 0);
	CHILD_CHECK(dropin.heap_check(NULL) == 0);
	CHILD_CHECK(setrlimit(RLIMIT_AS, &old) == 0);
	void *p = malloc(64 * MIB);
	CHILD_CHECK(p != NULL);
	memset(p, 1, 64 * MIB);
	free(p);
	return 0;
}

START_TEST(test_rlimit_as_threads)
{
	child_run("allocation failure under RLIMIT_AS", rlimit_as_child, 60);
}
END_TEST

/* --- Blocks crossing between libc and the program ---------------------------------- */

static char *owned(char *p, const char *what)
{
	ck_assert_msg(p != NULL, "%s returned NULL", what);
	ck_assert_msg(dropin_owns(p), "%s's block %p is not libmm's", what, (void *)p);
	return p;
}

START_TEST(test_libc_strings)
{
	char long_s[3000], *s, *cwd, *rp;
	int n;

	for (unsigned i = 0; i < sizeof long_s - 1; i++)
		long_s[i] = (char)('a' + i % 26);
	long_s[sizeof long_s - 1] = '\0';
	for (int round = 0; round < 50; round++) {
		s = owned(strdup(long_s), "strdup");
		ck_assert_str_eq(s, long_s);
		free(s);
		s = owned(strndup(long_s, 5 + (size_t)round), "strndup");
		ck_assert_uint_eq(strlen(s), 5 + (size_t)round);
		ck_assert_int_eq(memcmp(s, long_s, 5 + (size_t)round), 0);
		free(s);
		n = asprintf(&s, "%s-%d-%0900d", "drop", round, round);
		ck_assert_int_eq(n, (int)strlen("drop-") + (round > 9 ? 2 : 1) + 1 + 900);
		owned(s, "asprintf");
		ck_assert_uint_eq(strlen(s), (size_t)n);
		free(s);
	}
	cwd = owned(getcwd(NULL, 0), "getcwd(NULL, 0)");
	rp = owned(realpath(".", NULL), "realpath(\".\", NULL)");
	ck_assert_str_eq(cwd, rp);
	free(cwd);
	free(rp);
	ck_assert_int_eq(dropin.heap_check(NULL), 0);
}
END_TEST

START_TEST(test_libc_streams)
{
	FILE *f = tmpfile();
	char *line, *buf = NULL, *vbuf;
	size_t cap, len = 0;
	ssize_t got;
	unsigned i;

	ck_assert_ptr_nonnull(f);
	for (i = 0; i < 300; i++) {
		for (unsigned j = 0; j < i * 50; j++)
			fputc('a' + (int)((i + j) % 26), f);
		fputc('\n', f);
	}
	rewind(f);
	/* our small buffer, which libc grows with realloc and we free */
	cap = 4;
	line = malloc(cap);
	ck_assert_ptr_nonnull(line);
	for (i = 0; (got = getline(&line, &cap, f)) >= 0; i++) {
		ck_assert_int_eq(got, (ssize_t)(i * 50 + 1));
		if (i)
			ck_assert_int_eq(line[i * 50 - 1], 'a' + (int)((i + i * 50 - 1) % 26));
	}
	ck_assert_uint_eq(i, 300);
	owned(line, "getline");
	free(line);
	rewind(f);
	line = NULL;
	cap = 0;
	for (i = 0; getdelim(&line, &cap, 'z', f) >= 0; i++)
		;
	ck_assert_uint_gt(i, 300);
	owned(line, "getdelim");
	free(line);
	fclose(f);

	f = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(f);
	for (i = 0; i < 20000; i++)
		fprintf(f, "%05u", i);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_uint_eq(len, 100000);
	owned(buf, "open_memstream");
	ck_assert_int_eq(memcmp(buf + 5 * 12345, "12345", 5), 0);
	free(buf);

	/* a stream buffer of ours */
	f = tmpfile();
	ck_assert_ptr_nonnull(f);
	vbuf = malloc(65536);
	ck_assert_ptr_nonnull(vbuf);
	ck_assert_int_eq(setvbuf(f, vbuf, _IOFBF, 65536), 0);
	for (i = 0; i < 50000; i++)
		fprintf(f, "%u\n", i);
	rewind(f);
	for (i = 0; i < 50000; i++) {
		unsigned v;
		if (fscanf(f, "%u", &v) != 1 || v != i)
			ck_abort_msg("read back wrong at number %u", i);
	}
	fclose(f);
	free(vbuf);
	ck_assert_int_eq(dropin.heap_check(NULL), 0);
}
END_TEST

START_TEST(test_libc_regex)
{
	mm_stats_t before = dropin_stats(), after;

	for (int round = 0; round < 60; round++) {
		regex_t re;
		regmatch_t m[3];

		if (round == 10)
			before = dropin_stats();
		ck_assert_int_eq(regcomp(&re, "([a-z]+)@([a-z]+(\\.[a-z]+)*)[[:space:]]*$",
					 REG_EXTENDED | REG_ICASE), 0);
		ck_assert_int_eq(regexec(&re, "mail: Drop.In@Example.org  ", 3, m, 0), 0);
		ck_assert_int_eq(m[1].rm_so, 11);
		ck_assert_int_eq(regexec(&re, "nothing here", 0, NULL, 0), REG_NOMATCH);
		regfree(&re);
	}
	after = dropin_stats();
	/* what regcomp took from our malloc, regfree gave back to our free */
	ck_assert_uint_eq(after.in_use_blocks, before.in_use_blocks);
	ck_assert_uint_ge(after.alloc_count, before.alloc_count + 50);
}
END_TEST

START_TEST(test_libc_getaddrinfo)
{
	struct addrinfo hints, *res = NULL;
	int rc;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	for (int round = 0; round < 20; round++) {
		ck_assert_int_eq(getaddrinfo("127.0.0.1", "8080", &hints, &res), 0);
		ck_assert(dropin_owns(res));
		ck_assert_int_eq(res->ai_family, AF_INET);
		freeaddrinfo(res);
	}
	/* through NSS (/etc/hosts): loads modules, allocates more */
	hints.ai_flags = 0;
	for (int round = 0; round < 5; round++) {
		rc = getaddrinfo("localhost", "http", &hints, &res);
		if (rc == EAI_NONAME || rc == EAI_AGAIN || rc == EAI_SERVICE) {
			rc = getaddrinfo("localhost", "80", &hints, &res);
			if (rc == EAI_NONAME || rc == EAI_AGAIN)
				break;	/* no localhost in this sandbox */
		}
		ck_assert_msg(rc == 0, "getaddrinfo(localhost): %s", gai_strerror(rc));
		ck_assert(dropin_owns(res));
		freeaddrinfo(res);
	}
	ck_assert_int_eq(dropin.heap_check(NULL), 0);
}
END_TEST

START_TEST(test_libc_dlerror)
{
	for (int round = 0; round < 50; round++) {
		void *h = dlopen("libmm-no-such-library.so.9", RTLD_NOW);
		const char *e;

		ck_assert_ptr_null(h);
		e = dlerror();
		ck_assert_ptr_nonnull(e);
		ck_assert_ptr_nonnull(strstr(e, "libmm-no-such-library.so.9"));
		ck_assert_ptr_null(dlerror());
		ck_assert_ptr_null(dlsym(RTLD_DEFAULT, "libmm_no_such_symbol"));
		ck_assert_ptr_nonnull(dlerror());
	}
	void *m = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
	ck_assert_msg(m != NULL, "dlopen(libm.so.6): %s", dlerror());
	ck_assert_ptr_nonnull(dlsym(m, "cos"));
	ck_assert_int_eq(dlclose(m), 0);
	ck_assert_int_eq(dropin.heap_check(NULL), 0);
}
END_TEST

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

struct rec {
	uint64_t key;
	char payload[56];
};

static int cmp_rec(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;

	return (x->key > y->key) - (x->key < y->key);
}

START_TEST(test_libc_qsort)
{
	enum { NI = 1 << 20, NR = 200000 };
	uint32_t *v = malloc(NI * sizeof *v);
	struct rec *r = malloc(NR * sizeof *r);
	uint64_t rs = 88172645463325252ull;

	ck_assert_ptr_nonnull(v);
	ck_assert_ptr_nonnull(r);
	for (unsigned i = 0; i < NI; i++)
		v[i] = (uint32_t)rnd(&rs);
	for (unsigned i = 0; i < NR; i++) {
		r[i].key = rnd(&rs) % 100000;
		memset(r[i].payload, (int)(r[i].key & 0x7f), sizeof r[i].payload);
	}
	qsort(v, NI, sizeof *v, cmp_u32);
	qsort(r, NR, sizeof *r, cmp_rec);
	/* (plain loops: a Check assertion per element is slow) */
	for (unsigned i = 1; i < NI; i++)
		if (v[i - 1] > v[i])
			ck_abort_msg("qsort left %u before %u", v[i - 1], v[i]);
	for (unsigned i = 0; i < NR; i++)
		if ((i && r[i - 1].key > r[i].key) ||
		    r[i].payload[55] != (char)(r[i].key & 0x7f))
			ck_abort_msg("qsort mixed up record %u", i);
	free(v);
	free(r);
	ck_assert_int_eq(dropin.heap_check(NULL), 0);
}
END_TEST

static int cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void no_free(void *p)
{
	(void)p;
}

START_TEST(test_libc_misc)
{
	struct dirent **list;
	glob_t g;
	void *root = NULL;
	char *keys[1000];
	int n;

	/* scandir: libc allocates the list and every entry, we free them */
	n = scandir("/", &list, NULL, alphasort);
	ck_assert_int_gt(n, 2);
	ck_assert(dropin_owns(list));
	for (int i = 0; i < n; i++) {
		ck_assert(dropin_owns(list[i]));
		free(list[i]);
	}
	free(list);

	ck_assert_int_eq(glob("/*", 0, NULL, &g), 0);
	ck_assert_uint_gt(g.gl_pathc, 2);
	globfree(&g);

	/* tsearch: libc's nodes; tdestroy hands our keys to our free */
	for (int i = 0; i < 1000; i++) {
		ck_assert_int_ne(asprintf(&keys[i], "key-%04d", (i * 389) % 1000), -1);
		ck_assert_ptr_nonnull(tsearch(keys[i], &root, cmp_str));
	}
	ck_assert_ptr_nonnull(tfind("key-0500", &root, cmp_str));
	tdestroy(root, free);
	root = NULL;
	ck_assert_ptr_nonnull(tsearch("x", &root, cmp_str));
	tdestroy(root, no_free);

	ck_assert_ptr_nonnull(setlocale(LC_ALL, "C.UTF-8"));
	ck_assert_ptr_nonnull(setlocale(LC_ALL, "C"));
	ck_assert_int_eq(dropin.heap_check(NULL), 0);
}
END_TEST

/* --- The suite --------------------------------------------------------------------- */

static Suite *dropin_suite(void)
{
	Suite *s = suite_create("dropin-" DROPIN_MODE);
	TCase *tc;

	tc = tcase_create("ours");
	tcase_add_test(tc, test_malloc_reaches_libmm);
	tcase_add_test(tc, test_mixed_with_mm_api);
	tcase_add_test(tc, test_print_mem_list_sees_malloc);
	suite_add_tcase(s, tc);

	tc = tcase_create("semantics");
	tcase_add_test(tc, test_alignment_16);
	tcase_add_test(tc, test_malloc0_unique);
	tcase_add_test(tc, test_realloc_zero_frees);
	tcase_add_test(tc, test_realloc_usable_size);
	tcase_add_test(tc, test_calloc_zeroes_reused_memory);
	tcase_add_test(tc, test_free_keeps_errno);
	tcase_add_test(tc, test_oversize_enomem);
	tcase_add_test(tc, test_memalign_rounding);
	tcase_add_test(tc, test_large_alignments);
	tcase_add_test(tc, test_valloc_pvalloc);
	suite_add_tcase(s, tc);

	tc = tcase_create("brk");
	tcase_add_test(tc, test_foreign_sbrk);
	tcase_add_test(tc, test_brk_blocked_by_mapping);
	tcase_add_test(tc, test_brk_fails_rlimit_data);
	suite_add_tcase(s, tc);

	tc = tcase_create("fork");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_fork_threaded_parent);
	tcase_add_test(tc, test_fork_vs_stdio);
	suite_add_tcase(s, tc);

	tc = tcase_create("threads");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_short_lived_threads);
	tcase_add_test(tc, test_thread_destructors);
	tcase_add_test(tc, test_rlimit_as_threads);
	suite_add_tcase(s, tc);

	tc = tcase_create("libc");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_libc_strings);
	tcase_add_test(tc, test_libc_streams);
	tcase_add_test(tc, test_libc_regex);
	tcase_add_test(tc, test_libc_getaddrinfo);
	tcase_add_test(tc, test_libc_dlerror);
	tcase_add_test(tc, test_libc_qsort);
	tcase_add_test(tc, test_libc_misc);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	const char *why;
	SRunner *sr;
	int failed;

#ifdef DROPIN_SANITIZER
	puts("SKIP: under AddressSanitizer or ThreadSanitizer, the sanitizer's "
	     "malloc takes the place of the drop-in");
	return 77;
#endif
	why = dropin_malloc_is_ours();
	if (why) {
		fprintf(stderr, "check_dropin (%s): %s\n", DROPIN_MODE, why);
		return EXIT_FAILURE;
	}
	printf("check_dropin (%s): malloc is libmm %s's\n", DROPIN_MODE, dropin.version());
	sr = srunner_create(dropin_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
