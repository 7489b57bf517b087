/*
 * check_registry: the table that tells which region holds an address,
 * read without a lock by every free, realloc and malloc_usable_size.
 *
 * White-box: this suite links the test build of the library
 * (lib/libmm-test.la, -DMMI_TEST_HOOKS), whose hooks let it hold a writer
 * inside the table's write section for as long as it likes -- the moment a
 * lock-free reader used to find a live region missing -- and count which
 * path the readers took.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libmm.h"
#include "mm_internal.h"
#include "testutil.h"

#define KIB ((size_t)1024)
#define MIB (KIB * KIB)

static int under_valgrind(void)
{
	const char *p = getenv("LD_PRELOAD");

	return p && strstr(p, "vgpreload") != NULL;
}

/* --- a writer that stops inside its write section ------------------------ */

static atomic_int hook_armed;
static atomic_uint hook_calls;

static void slow_writer(void)
{
	if (!atomic_load(&hook_armed))
		return;
	atomic_fetch_add(&hook_calls, 1);
	struct timespec ts = { 0, 2 * 1000 * 1000 };	/* 2 ms */
	nanosleep(&ts, NULL);
}

struct reader {
	void *p;
	size_t usable;
	atomic_int stop;
	atomic_ulong lookups, wrong;
};

static void *read_loop(void *arg)
{
	struct reader *r = arg;

	while (!atomic_load(&r->stop)) {
		if (mm_usable_size(r->p) != r->usable)
			atomic_fetch_add(&r->wrong, 1);
		atomic_fetch_add(&r->lookups, 1);
	}
	return NULL;
}

/*
 * A break heap grows and shrinks (its region's end moves in the table)
 * while another thread asks for the usable size of a live block in that
 * region.  Every move stops for 2 ms after taking the old entry out and
 * before putting the new one in: the reader must neither miss the region
 * (libmm: fatal: invalid pointer, as the two write sections of db23739's
 * move did) nor spin through the writer's time slice -- it must wait.
 */
START_TEST(test_move_is_one_change_for_readers)
{
	mm_heap_t *h = mm_heap_create(MM_SOURCE_BRK);
	struct reader r = { 0 };
	pthread_t t;

	ck_assert_ptr_nonnull(h);
	/* no mappings of their own: big blocks grow the break */
	ck_assert_int_eq(mm_heap_set_option(h, MM_OPT_MMAP_THRESHOLD, 0), 0);
	r.p = mm_heap_malloc(h, 48);
	ck_assert_ptr_nonnull(r.p);
	r.usable = mm_usable_size(r.p);
	int on_brk = (uintptr_t)r.p < (uintptr_t)sbrk(0);

	mmi_test.registry_move = slow_writer;
	mmi_test.registry_waits = 0;
	atomic_store(&hook_calls, 0);
	ck_assert_int_eq(pthread_create(&t, NULL, read_loop, &r), 0);
	atomic_store(&hook_armed, 1);
	for (int i = 0; i < 40; i++) {
		void *big = mm_heap_malloc(h, MIB);
		ck_assert_ptr_nonnull(big);
		tu_fill(big, 4096, (unsigned)i);
		ck_assert(tu_check(big, 4096, (unsigned)i));
		mm_heap_free(h, big);
	}
	atomic_store(&hook_armed, 0);
	atomic_store(&r.stop, 1);
	pthread_join(t, NULL);
	mmi_test.registry_move = NULL;

	ck_assert_uint_eq(atomic_load(&r.wrong), 0);
	ck_assert_uint_gt(atomic_load(&r.lookups), 0);
	ck_assert_uint_gt(atomic_load(&hook_calls), 0);
	if (on_brk) {
		/* the break moved: every move held a reader up */
		ck_assert_uint_gt(__atomic_load_n(&mmi_test.registry_waits, __ATOMIC_RELAXED), 0);
	} else {
		fprintf(stderr, "note: the break could not grow (valgrind?); "
			"the heap used mmap, so no region moved\n");
	}
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_heap_free(h, r.p);
	mm_heap_destroy(h);
}
END_TEST

/* --- the table cannot grow: ENOMEM, not abort ---------------------------- */

static size_t vm_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long pages = 0;

	if (f) {
		if (fscanf(f, "%lu", &pages) != 1)
			pages = 0;
		fclose(f);
	}
	return pages * (size_t)sysconf(_SC_PAGESIZE);
}

static void set_soft_as_limit(rlim_t limit)
{
	struct rlimit rl;

	getrlimit(RLIMIT_AS, &rl);
	rl.rlim_cur = limit;
	setrlimit(RLIMIT_AS, &rl);
}

/*
 * In a child: allocate large blocks (a region each) one by one, each with
 * the address space limited to what the block itself needs, so that when
 * the region table must grow it cannot.  Exit 0 when every failure was
 * NULL + ENOMEM and everything else is intact; 1 on a wrong result.
 */
static int table_growth_child(void)
{
	enum { N = 600 };
	static void *v[N];
	size_t nulls = 0, after_null_ok = 0;
	int last_null = 0;

	for (size_t i = 0; i < N; i++) {
		set_soft_as_limit(vm_bytes() + 136 * KIB);
		errno = 0;
		v[i] = mm_malloc(128 * KIB);
		int err = errno;
		set_soft_as_limit(RLIM_INFINITY);
		if (!v[i]) {
			if (err != ENOMEM)
				return 1;
			nulls++;
			last_null = 1;
			continue;
		}
		if (last_null)
			after_null_ok++;
		last_null = 0;
		tu_fill(v[i], 64, (unsigned)i);
	}
	for (size_t i = 0; i < N; i++)
		if (v[i] && !tu_check(v[i], 64, (unsigned)i))
			return 2;
	if (mm_heap_check(NULL) != 0)
		return 3;
	for (size_t i = 0; i < N; i++)
		mm_free(v[i]);
	if (nulls == 0)
		return 4;	/* the limit never bit: the test proved nothing */
	if (after_null_ok == 0)
		return 5;
	return 0;
}

START_TEST(test_table_growth_failure_is_enomem)
{
	if (under_valgrind())
		return;	/* valgrind keeps its own address-space limits */
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		signal(SIGALRM, SIG_DFL);
		alarm(60);
		_exit(table_growth_child());
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		"child %s %d (exit 1: a failure without ENOMEM, 2: a block "
		"damaged, 3: heap check failed, 4: no allocation failed, "
		"5: nothing worked after a failure)",
		WIFSIGNALED(status) ? "killed by signal" : "exited with",
		WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}
END_TEST

static Suite *registry_suite(void)
{
	Suite *s = suite_create("registry");
	TCase *tc = tcase_create("readers and writers");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_move_is_one_change_for_readers);
	tcase_add_test(tc, test_table_growth_failure_is_enomem);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(registry_suite());

	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
