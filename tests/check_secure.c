/*
 * check_secure: the secure mode (lib/secure.c), switched on with
 * LIBMM_SECURE=1 (main runs itself again with it: libmm reads it when it
 * loads).
 *
 * The API keeps its contract (contents, alignment, errno, realloc's
 * rules), mm_usable_size gives the size asked for, a write of one byte
 * past it is found when the block is freed, reallocated or measured
 * ("heap overflow"), a freed small block is held back from reuse and a
 * write into it is found when it leaves ("write after free"), blocks of
 * every engine
 * (slab, medium, large, aligned) and of other heaps are sealed, a pool is
 * left as it is, and threads free each other's blocks.  Large blocks and
 * slab pages end at guard pages, and slots come in no set order.  The misuses run
 * in a forked child whose one line of stderr and SIGABRT are checked.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libmm.h"
#include "testutil.h"

#define KIB ((size_t)1024)

static const size_t sizes[] = { 1, 20, 100, 1000, 5000, 16000, 40 * KIB, 300 * KIB, 2048 * KIB };
#define NSIZES (sizeof sizes / sizeof sizes[0])

/* act(p) in a child (no core file, stderr to err_fd unless it is -1,
 * killed after 10 s); its pid.  A child that survives act exits 121. */
static pid_t run_child(void (*act)(unsigned char *), unsigned char *p, int err_fd)
{
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct rlimit none = { 0, 0 };

		setrlimit(RLIMIT_CORE, &none);
		if (err_fd >= 0)
			dup2(err_fd, STDERR_FILENO);
		signal(SIGSEGV, SIG_DFL);
		signal(SIGALRM, SIG_DFL);
		alarm(10);
		act(p);
		_exit(121);
	}
	return pid;
}

/* Run act(p) in a child: it must die by SIGABRT after exactly the line
 * "libmm: fatal: <what> 0x<p>\n". */
static void expect_death(void (*act)(unsigned char *), unsigned char *p, const char *what)
{
	char want[160], got[512] = "";
	int fds[2], status;
	size_t len = 0;
	ssize_t n;

	snprintf(want, sizeof want, "libmm: fatal: %s 0x%lx\n", what, (unsigned long)(uintptr_t)p);
	ck_assert_int_eq(pipe(fds), 0);
	pid_t pid = run_child(act, p, fds[1]);
	close(fds[1]);
	while (len < sizeof got - 1 && (n = read(fds[0], got + len, sizeof got - 1 - len)) > 0)
		len += (size_t)n;
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
		      "%s: child status 0x%x, stderr \"%s\"", what, status, got);
	ck_assert_msg(strcmp(got, want) == 0, "stderr \"%s\", expected \"%s\"", got, want);
}

static void free_it(unsigned char *p)
{
	mm_free(p);
}

static void realloc_it(unsigned char *p)
{
	void *volatile q = mm_realloc(p, 3 * 1024 * 1024);
	(void)q;
}

static void measure_it(unsigned char *p)
{
	volatile size_t n = mm_usable_size(p);
	(void)n;
}

START_TEST(test_contract_kept)
{
	for (size_t i = 0; i < NSIZES; i++) {
		unsigned char *p = mm_malloc(sizes[i]);
		ck_assert_ptr_nonnull(p);
		ck_assert(tu_aligned(p, 16));
		ck_assert_uint_eq(mm_usable_size(p), sizes[i]);
		tu_fill(p, sizes[i], (unsigned)i);
		/* grow (in place or moved), then shrink in place */
		unsigned char *q = mm_realloc(p, 2 * sizes[i] + 10);
		ck_assert_ptr_nonnull(q);
		ck_assert(tu_check(q, sizes[i], (unsigned)i));
		ck_assert_uint_eq(mm_usable_size(q), 2 * sizes[i] + 10);
		tu_fill(q, 2 * sizes[i] + 10, (unsigned)i + 1);
		p = mm_realloc(q, sizes[i]);
		ck_assert_ptr_eq(p, q);
		ck_assert_uint_eq(mm_usable_size(p), sizes[i]);
		ck_assert(tu_check(p, sizes[i], (unsigned)i + 1));
		mm_free(p);

		unsigned char *z = mm_calloc(sizes[i], 1);
		ck_assert_ptr_nonnull(z);
		unsigned char any = 0;
		for (size_t k = 0; k < sizes[i]; k++)
			any |= z[k];
		ck_assert_uint_eq(any, 0);
		mm_free(z);

		unsigned char *a = mm_aligned_alloc(4096, sizes[i]);
		ck_assert_ptr_nonnull(a);
		ck_assert(tu_aligned(a, 4096));
		ck_assert_uint_eq(mm_usable_size(a), sizes[i]);
		tu_fill(a, sizes[i], 3);
		ck_assert(tu_check(a, sizes[i], 3));
		mm_free(a);
	}
	volatile size_t huge = SIZE_MAX - 8;	/* past the tail's room */
	errno = 0;
	ck_assert_ptr_null(mm_malloc(huge));
	ck_assert_int_eq(errno, ENOMEM);
	ck_assert_ptr_null(mm_realloc(mm_malloc(10), 0));
	ck_assert_int_eq(mm_heap_check(NULL), 0);
}
END_TEST

/* One byte past the request, in every engine: found by free, realloc and
 * mm_usable_size. */
START_TEST(test_overflow_found)
{
	for (size_t i = 0; i < NSIZES; i++) {
		unsigned char *p = mm_malloc(sizes[i]);
		ck_assert_ptr_nonnull(p);
		p[sizes[i]] ^= 0x5a;
		expect_death(free_it, p, "heap overflow");
		expect_death(realloc_it, p, "heap overflow");
		expect_death(measure_it, p, "heap overflow");
		p[sizes[i]] ^= 0x5a;	/* repaired: the parent frees it */
		mm_free(p);
	}
}
END_TEST

/* p is freed among count other blocks of size and written to at offset
 * at while it is held back; the write is to be found when p leaves (the
 * others freed after it push it out). */
static void write_while_held(unsigned char *p, size_t size, int count, size_t at)
{
	static void *more[400];

	for (int i = 0; i < count; i++)
		more[i] = mm_malloc(size);
	mm_free(p);
	p[at] = 1;
	for (int i = 0; i < count; i++)
		mm_free(more[i]);
}

/* A small block leaves the thread's quarantine of 256. */
static void write_then_free_more(unsigned char *p)
{
	write_while_held(p, 100, 400, 50);
}

START_TEST(test_write_after_free_found)
{
	unsigned char *p = mm_malloc(100);

	ck_assert_ptr_nonnull(p);
	expect_death(write_then_free_more, p, "write after free");
	mm_free(p);
}
END_TEST

/* A freed block is not handed out again at once, and freeing it again
 * while it is held back is a double free. */
START_TEST(test_quarantine_delays_reuse)
{
	unsigned char *p = mm_malloc(64), *q[100];

	ck_assert_ptr_nonnull(p);
	mm_free(p);
	for (int i = 0; i < 100; i++) {
		q[i] = mm_malloc(64);
		ck_assert_ptr_nonnull(q[i]);
		ck_assert_ptr_ne(q[i], p);
	}
	expect_death(free_it, p, "double free");
	for (int i = 0; i < 100; i++)
		mm_free(q[i]);
	ck_assert_int_eq(mm_heap_check(NULL), 0);
}
END_TEST

static void double_free(unsigned char *p)
{
	mm_free(p);
	mm_free(p);
}

START_TEST(test_misuse_still_named)
{
	for (size_t i = 0; i < NSIZES; i++) {
		unsigned char *p = mm_malloc(sizes[i]);
		ck_assert_ptr_nonnull(p);
		expect_death(double_free, p, "double free");
		mm_free(p);
	}
}
END_TEST

/* Explicit heaps are sealed too; a pool is not (its bytes are the
 * caller's): a pool block's usable size is what the pool gives. */
START_TEST(test_heaps_and_pools)
{
	mm_heap_t *h = mm_heap_create(MM_FIT_BEST);
	ck_assert_ptr_nonnull(h);
	unsigned char *p = mm_heap_malloc(h, 1000);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(mm_usable_size(p), 1000);
	tu_fill(p, 1000, 9);
	p = mm_heap_realloc(h, p, 5000);
	ck_assert(tu_check(p, 1000, 9));
	mm_heap_free(h, p);
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_heap_destroy(h);

	static _Alignas(16) unsigned char buf[64 * KIB];
	h = mm_heap_create_in(buf, sizeof buf, 0);
	ck_assert_ptr_nonnull(h);
	void *v[64];
	size_t n = 0;
	while (n < 64 && (v[n] = mm_heap_malloc(h, 1000)) != NULL)
		n++;
	/* no tail: as many 1000-byte blocks as without the secure mode */
	ck_assert_uint_ge(n, 60);
	while (n)
		mm_heap_free(h, v[--n]);
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_heap_destroy(h);
}
END_TEST

/* Medium blocks are held back too, process-wide (64 blocks, 4 MiB): a
 * write into one is found when it leaves, and every call given one is
 * named as a misuse. */
static void write_then_free_medium(unsigned char *p)
{
	write_while_held(p, 20000, 100, 9000);
}

static void free_then(unsigned char *p, void (*then)(unsigned char *))
{
	mm_free(p);
	then(p);
}

static void free_free(unsigned char *p)
{
	free_then(p, free_it);
}

static void free_realloc(unsigned char *p)
{
	free_then(p, realloc_it);
}

static void free_measure(unsigned char *p)
{
	free_then(p, measure_it);
}

START_TEST(test_medium_blocks_held)
{
	unsigned char *p = mm_malloc(40 * KIB), *q[40];

	ck_assert_ptr_nonnull(p);
	expect_death(write_then_free_medium, p, "write after free");
	expect_death(free_free, p, "double free");
	expect_death(free_realloc, p, "realloc of a freed block");
	expect_death(free_measure, p, "usable size of a freed block");
	/* not handed out again while held */
	mm_free(p);
	for (int i = 0; i < 40; i++) {
		q[i] = mm_malloc(40 * KIB);
		ck_assert_ptr_nonnull(q[i]);
		ck_assert_ptr_ne(q[i], p);
		tu_fill(q[i], 40 * KIB, (unsigned)i);
	}
	for (int i = 0; i < 40; i++) {
		ck_assert(tu_check(q[i], 40 * KIB, (unsigned)i));
		mm_free(q[i]);
	}
	ck_assert_int_eq(mm_heap_check(NULL), 0);
}
END_TEST

/* A heap destroyed with blocks held back: they are forgotten, not freed
 * later into memory that is gone. */
START_TEST(test_destroy_with_held_blocks)
{
	mm_heap_t *h = mm_heap_create(MM_FIT_GOOD);
	void *v[10];

	ck_assert_ptr_nonnull(h);
	for (int i = 0; i < 10; i++) {
		v[i] = mm_heap_malloc(h, 30000);
		ck_assert_ptr_nonnull(v[i]);
	}
	for (int i = 0; i < 10; i++)
		mm_heap_free(h, v[i]);
	mm_heap_destroy(h);
	/* push everything held out: nothing of h may be touched */
	for (int i = 0; i < 200; i++) {
		void *p = mm_malloc(30000);
		ck_assert_ptr_nonnull(p);
		mm_free(p);
	}
	ck_assert_int_eq(mm_heap_check(NULL), 0);
}
END_TEST

/* The permissions /proc/self/maps gives the page at a ("---p" for a
 * guard), or "" when nothing is mapped there. */
static const char *perms_at(uintptr_t a)
{
	static char perms[8];
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");

	ck_assert_ptr_nonnull(f);
	perms[0] = 0;
	while (fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		char pr[8];

		if (sscanf(line, "%lx-%lx %7s", &lo, &hi, pr) == 3 && lo <= a && a < hi) {
			strcpy(perms, pr);
			break;
		}
	}
	fclose(f);
	return perms;
}

static uintptr_t page_up(uintptr_t a)
{
	uintptr_t ps = (uintptr_t)sysconf(_SC_PAGESIZE);

	return (a + ps - 1) & ~(ps - 1);
}

static volatile uintptr_t fault_at;

static void write_at_fault(unsigned char *p)
{
	(void)p;
	*(volatile unsigned char *)fault_at = 1;
}

/* Run act(p) in a child: it must die by SIGSEGV (a guard page), having
 * written nothing to stderr. */
static void expect_fault(void (*act)(unsigned char *), unsigned char *p)
{
	int status;
	pid_t pid = run_child(act, p, -1);

	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV, "child status 0x%x", status);
}

/* A large block ends at a guard page: the first page boundary past its
 * request and tail (16 bytes) cannot be read or written. */
START_TEST(test_guard_after_large)
{
	static const size_t lsizes[] = { 300 * KIB, 300 * KIB + 4000, 2048 * KIB + 1 };

	for (size_t i = 0; i < 3; i++) {
		unsigned char *p = mm_malloc(lsizes[i]);
		uintptr_t guard = page_up((uintptr_t)p + lsizes[i] + 16);

		ck_assert_ptr_nonnull(p);
		memset(p, 0x11, lsizes[i]);
		ck_assert_str_eq(perms_at(guard), "---p");
		ck_assert_str_eq(perms_at(guard - 1), "rw-p");
		fault_at = guard;
		expect_fault(write_at_fault, p);
		/* realloc moves it to a block with a guard of its own */
		p = mm_realloc(p, lsizes[i] * 2);
		ck_assert_ptr_nonnull(p);
		ck_assert(p[lsizes[i] - 1] == 0x11);
		ck_assert_str_eq(perms_at(page_up((uintptr_t)p + lsizes[i] * 2 + 16)), "---p");
		mm_free(p);
	}
}
END_TEST

/* Every 64 KiB slab page ends with a guard page: the last slot of a page
 * is followed by memory that faults. */
START_TEST(test_guard_after_slab_pages)
{
	static const size_t ssizes[] = { 8, 100, 1000, 4000, 12000 };
	uintptr_t ps = (uintptr_t)sysconf(_SC_PAGESIZE);

	for (size_t i = 0; i < 5; i++) {
		unsigned char *p = mm_malloc(ssizes[i]);
		uintptr_t guard = ((uintptr_t)p | (64 * KIB - 1)) + 1 - ps;

		ck_assert_ptr_nonnull(p);
		ck_assert_uint_lt((uintptr_t)p + ssizes[i] + 16, guard + 1);
		ck_assert_str_eq(perms_at(guard), "---p");
		ck_assert_str_eq(perms_at(guard - 1), "rw-p");
		fault_at = guard;
		expect_fault(write_at_fault, p);
		mm_free(p);
	}
}
END_TEST

/* Slots are handed out in no set order: the slot numbers of 60 blocks
 * of one size, on a fresh page, do not follow those of another size (a
 * fixed carving order would give both the same sequence), nor run in
 * address order. */
static void slot_sequence(size_t size, size_t bsize, unsigned *seq, unsigned char **v)
{
	for (int i = 0; i < 60; i++) {
		v[i] = mm_malloc(size);
		ck_assert_ptr_nonnull(v[i]);
		tu_fill(v[i], size, (unsigned)i);
		seq[i] = (unsigned)(((uintptr_t)v[i] & (64 * KIB - 1)) / bsize);
	}
}

START_TEST(test_slots_scattered)
{
	static unsigned char *a[60], *b[60];
	unsigned sa[60], sb[60];
	int same = 0, in_order = 0;

	/* 128- and 224-byte slots with the tail: fresh pages of the same
	 * carving steps, in this test's own process */
	slot_sequence(100, 128, sa, a);
	slot_sequence(200, 224, sb, b);
	for (int i = 0; i < 60; i++) {
		same += sa[i] == sb[i];
		in_order += i && a[i] == a[i - 1] + 128;
	}
	ck_assert_msg(same < 30, "%d of 60 slots in the same order in two classes", same);
	ck_assert_msg(in_order < 30, "%d of 59 blocks right after the one before", in_order);
	for (int i = 0; i < 60; i++) {
		ck_assert(tu_check(a[i], 100, (unsigned)i));
		ck_assert(tu_check(b[i], 200, (unsigned)i));
		mm_free(a[i]);
		mm_free(b[i]);
	}
	ck_assert_int_eq(mm_heap_check(NULL), 0);
}
END_TEST

static void *alloc_many(void *arg)
{
	void **v = arg;

	for (int i = 0; i < 1000; i++) {
		v[i] = mm_malloc(16 + (size_t)i % 300);
		if (v[i])
			tu_fill(v[i], 16 + (size_t)i % 300, (unsigned)i);
	}
	return NULL;
}

/* Blocks made by one thread, checked and freed by another. */
START_TEST(test_cross_thread_frees)
{
	static void *v[1000];
	pthread_t t;

	ck_assert_int_eq(pthread_create(&t, NULL, alloc_many, v), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	for (int i = 0; i < 1000; i++) {
		ck_assert_ptr_nonnull(v[i]);
		ck_assert(tu_check(v[i], 16 + (size_t)i % 300, (unsigned)i));
		mm_free(v[i]);
	}
	ck_assert_int_eq(mm_heap_check(NULL), 0);
}
END_TEST

/* LIBMM_SECURE=zero (tests/secure-zero.sh): what a block held is gone
 * once it is freed, in every engine.  (Reading freed memory is what a
 * test of the allocator may do: it stays mapped here.) */
START_TEST(test_zero_on_free)
{
	const char *mode = getenv("LIBMM_SECURE");
	static const size_t zsizes[] = { 100, 5000, 64 * KIB };

	if (strcmp(mode, "zero") != 0)
		return;		/* the filling with 0xdf is tested above */
	for (size_t i = 0; i < 3; i++) {
		volatile unsigned char *p = mm_malloc(zsizes[i]);
		ck_assert(p != NULL);
		memset((void *)p, 0xff, zsizes[i]);
		mm_free((void *)p);
		/* the free block's own words (links, boundary tags) aside */
		unsigned char any = 0;
		for (size_t k = 64; k < zsizes[i] - 64; k++)
			any |= p[k];
		ck_assert_msg(any == 0, "freed block of %zu bytes not zeroed", zsizes[i]);
	}
}
END_TEST

static Suite *secure_suite(void)
{
	Suite *s = suite_create("secure");
	TCase *tc = tcase_create("secure");

	tcase_add_test(tc, test_contract_kept);
	tcase_add_test(tc, test_overflow_found);
	tcase_add_test(tc, test_write_after_free_found);
	tcase_add_test(tc, test_quarantine_delays_reuse);
	tcase_add_test(tc, test_zero_on_free);
	tcase_add_test(tc, test_misuse_still_named);
	tcase_add_test(tc, test_heaps_and_pools);
	tcase_add_test(tc, test_cross_thread_frees);
	tcase_add_test(tc, test_guard_after_large);
	tcase_add_test(tc, test_guard_after_slab_pages);
	tcase_add_test(tc, test_slots_scattered);
	tcase_add_test(tc, test_medium_blocks_held);
	tcase_add_test(tc, test_destroy_with_held_blocks);
	suite_add_tcase(s, tc);
	return s;
}

int main(int argc, char **argv)
{
	/* libmm chooses the mode when it loads, from the environment: run
	 * again with it set */
	const char *mode = getenv("LIBMM_SECURE");

	(void)argc;
	if (!mode || (strcmp(mode, "1") != 0 && strcmp(mode, "zero") != 0)) {
		setenv("LIBMM_SECURE", "1", 1);
		execv(argv[0], argv);
		perror("check_secure: execv");
		return EXIT_FAILURE;
	}
	SRunner *sr = srunner_create(secure_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
