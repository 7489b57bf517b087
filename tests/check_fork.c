/*
 * check_fork: a child of fork() can allocate at once, even if another thread
 * of the parent was inside libmm (holding a heap lock) at the moment of the
 * fork.
 *
 * Threads hammer the default heap and an explicit heap while the test forks
 * repeatedly.  Each child arms alarm() before anything else, so a child
 * stuck on a lock that was held across fork dies of SIGALRM and the test
 * fails instead of hanging.
 * A child reports the first step that went wrong as its exit status.
 *
 * Neither the hammer threads nor the children ever call Check: threads count
 * their errors, children use _exit(), and the test thread asserts.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libmm.h"
#include "testutil.h"

#define NHAMMER 3
#define NFORKS 20
#define CHILD_ALARM 10		/* seconds a child may live */
#define KIB ((size_t)1024)

/* --- threads that allocate while the test forks -------------------------- */

static mm_heap_t *g_heap;	/* the explicit heap every thread also uses */
static atomic_int stop;
static atomic_uint thread_errors;
static atomic_ulong thread_ops[NHAMMER + 1];

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* 16 B .. 4 KiB mostly, some up to 64 KiB, a few large (own mapping). */
static size_t pick_size(uint64_t *s)
{
	uint64_t r = rnd(s);
	unsigned kind = (unsigned)(r % 50);

	r >>= 8;
	if (kind == 0)
		return 160 * KIB + (size_t)(r % (96 * KIB));
	if (kind < 5)
		return 4 * KIB + (size_t)(r % (60 * KIB));
	return 16 + (size_t)(r % (4 * KIB));
}

struct hblock {
	void *p;
	size_t size;
	unsigned seed;
	mm_heap_t *heap;	/* NULL: the default heap */
};

static void hblock_free(struct hblock *b)
{
	if (!tu_check(b->p, b->size, b->seed))
		atomic_fetch_add(&thread_errors, 1);
	if (b->heap)
		mm_heap_free(b->heap, b->p);
	else
		mm_free(b->p);
	b->p = NULL;
}

static void *hammer(void *arg)
{
	unsigned tid = (unsigned)(uintptr_t)arg;
	uint64_t rs = 0x51ed27ull * (tid + 1) + 17;
	struct hblock b[16];

	memset(b, 0, sizeof b);
	for (unsigned op = 0; !atomic_load(&stop); op++) {
		struct hblock *x = &b[rnd(&rs) % 16];

		atomic_fetch_add(&thread_ops[tid], 1);
		if (x->p) {
			hblock_free(x);
		} else {
			x->size = pick_size(&rs);
			x->seed = tid * 100003u + op;
			x->heap = (rnd(&rs) & 1) ? g_heap : NULL;
			x->p = x->heap ? mm_heap_malloc(x->heap, x->size)
				       : mm_malloc(x->size);
			if (x->p == NULL) {
				atomic_fetch_add(&thread_errors, 1);
				continue;
			}
			tu_fill(x->p, x->size, x->seed);
		}
	}
	for (unsigned i = 0; i < 16; i++)
		if (b[i].p)
			hblock_free(&b[i]);
	return NULL;
}

/* Creates and destroys heaps, so that fork meets the list of heaps busy. */
static void *churn(void *arg)
{
	unsigned tid = (unsigned)(uintptr_t)arg;
	static const unsigned flags[3] = { 0, MM_FIT_FIRST, MM_FIT_BEST };

	for (unsigned round = 0; !atomic_load(&stop); round++) {
		mm_heap_t *h = mm_heap_create(flags[round % 3]);
		void *v[8];

		atomic_fetch_add(&thread_ops[tid], 1);
		if (h == NULL) {
			atomic_fetch_add(&thread_errors, 1);
			continue;
		}
		for (unsigned i = 0; i < 8; i++) {
			v[i] = mm_heap_malloc(h, 64 + i * 200);
			if (v[i] == NULL)
				atomic_fetch_add(&thread_errors, 1);
			else
				tu_fill(v[i], 64 + i * 200, round + i);
		}
		for (unsigned i = 0; i < 8; i += 2)
			if (v[i]) {
				if (!tu_check(v[i], 64 + i * 200, round + i))
					atomic_fetch_add(&thread_errors, 1);
				mm_free(v[i]);
			}
		mm_heap_destroy(h);
	}
	return NULL;
}

static pthread_t threads[NHAMMER + 1];
static unsigned nthreads;

static void start_threads(int with_churn)
{
	/* Under CK_FORK=no a failed test leaves its threads running. */
	if (nthreads) {
		atomic_store(&stop, 1);
		for (unsigned i = 0; i < nthreads; i++)
			pthread_join(threads[i], NULL);
	}
	atomic_store(&stop, 0);
	atomic_store(&thread_errors, 0);
	g_heap = mm_heap_create(0);
	ck_assert_ptr_nonnull(g_heap);
	nthreads = NHAMMER + (with_churn ? 1 : 0);
	for (unsigned i = 0; i < nthreads; i++) {
		atomic_store(&thread_ops[i], 0);
		ck_assert_int_eq(pthread_create(&threads[i], NULL,
			i < NHAMMER ? hammer : churn, (void *)(uintptr_t)i), 0);
	}
	/* Forks should meet threads that are really running. */
	for (unsigned i = 0; i < nthreads; i++)
		while (atomic_load(&thread_ops[i]) < 20)
			sched_yield();
}

static void stop_threads(void)
{
	atomic_store(&stop, 1);
	for (unsigned i = 0; i < nthreads; i++)
		ck_assert_int_eq(pthread_join(threads[i], NULL), 0);
	nthreads = 0;
	ck_assert_uint_eq(atomic_load(&thread_errors), 0);
	ck_assert_int_eq(mm_heap_check(g_heap), 0);
	ck_assert_int_eq(mm_heap_check(NULL), 0);

	mm_stats_t st;
	ck_assert_int_eq(mm_heap_stats(g_heap, &st, sizeof st), 0);
	ck_assert_uint_eq(st.in_use_blocks, 0);
	mm_heap_destroy(g_heap);
	g_heap = NULL;
}

/* --- what a child does ---------------------------------------------------- */

/* Blocks the parent allocates just before each fork. */
struct prefork {
	void *small, *large, *mine;	/* default heap, default large, g_heap */
};

#define PRE_SMALL 3000
#define PRE_LARGE (300 * KIB)
#define PRE_MINE 500

static void prefork_alloc(struct prefork *pf, unsigned seed)
{
	pf->small = mm_malloc(PRE_SMALL);
	pf->large = mm_malloc(PRE_LARGE);
	pf->mine = mm_heap_malloc(g_heap, PRE_MINE);
	ck_assert_ptr_nonnull(pf->small);
	ck_assert_ptr_nonnull(pf->large);
	ck_assert_ptr_nonnull(pf->mine);
	tu_fill(pf->small, PRE_SMALL, seed);
	tu_fill(pf->large, PRE_LARGE, seed + 1);
	tu_fill(pf->mine, PRE_MINE, seed + 2);
}

/* In the parent, after the child is gone: its frees changed nothing here. */
static void prefork_check_free(struct prefork *pf, unsigned seed)
{
	ck_assert_msg(tu_check(pf->small, PRE_SMALL, seed),
		"parent's small block changed by the child");
	ck_assert_msg(tu_check(pf->large, PRE_LARGE, seed + 1),
		"parent's large block changed by the child");
	ck_assert_msg(tu_check(pf->mine, PRE_MINE, seed + 2),
		"parent's g_heap block changed by the child");
	mm_free(pf->small);
	mm_free(pf->large);
	mm_heap_free(g_heap, pf->mine);
}

static void *child_thread(void *arg)
{
	uintptr_t bad = 0;

	(void)arg;
	for (unsigned i = 0; i < 100; i++) {
		size_t n = 16 + (i * 97u) % 3000;
		void *p = mm_malloc(n);
		void *q = mm_heap_malloc(g_heap, n);

		if (p == NULL || q == NULL) {
			bad++;
			mm_free(p);
			mm_heap_free(g_heap, q);
			continue;
		}
		tu_fill(p, n, i);
		tu_fill(q, n, i + 1);
		if (!tu_check(p, n, i) || !tu_check(q, n, i + 1))
			bad++;
		mm_free(p);
		mm_heap_free(g_heap, q);
	}
	return (void *)bad;
}

/*
 * Exit codes of a child: 0 all well, otherwise the failing step.  A child
 * killed by SIGALRM was stuck (most likely on a lock held across fork).
 */
enum {
	C_MALLOC = 2, C_PRE_SMALL, C_PRE_LARGE, C_PRE_MINE, C_HEAP_ALLOC,
	C_THREAD_START, C_THREAD_WORK, C_CHECK_DEFAULT, C_CHECK_HEAP,
	C_NEW_HEAP, C_TRIM, C_LAST
};

static const char *const child_step[C_LAST] = {
	[C_MALLOC] = "mm_malloc right after fork",
	[C_PRE_SMALL] = "pre-fork small block",
	[C_PRE_LARGE] = "pre-fork large block",
	[C_PRE_MINE] = "pre-fork block of the explicit heap",
	[C_HEAP_ALLOC] = "allocation from the explicit heap",
	[C_THREAD_START] = "pthread_create in the child",
	[C_THREAD_WORK] = "allocation in a thread of the child",
	[C_CHECK_DEFAULT] = "mm_heap_check(NULL)",
	[C_CHECK_HEAP] = "mm_heap_check(explicit heap)",
	[C_NEW_HEAP] = "a new heap in the child",
	[C_TRIM] = "mm_trim in the child",
};

static int child_work(struct prefork *pf, unsigned seed)
{
	/* First thing: anything that blocks now is a lock left held. */
	void *p = mm_malloc(200);
	if (p == NULL)
		return C_MALLOC;
	tu_fill(p, 200, 7);
	if (!tu_check(p, 200, 7))
		return C_MALLOC;
	mm_free(p);

	/* Blocks from before the fork: intact, and freeable here.  The child
	 * scribbles on them first; the parent checks its copies later. */
	if (!tu_check(pf->small, PRE_SMALL, seed))
		return C_PRE_SMALL;
	tu_fill(pf->small, PRE_SMALL, seed + 100);
	mm_free(pf->small);
	if (!tu_check(pf->large, PRE_LARGE, seed + 1))
		return C_PRE_LARGE;
	tu_fill(pf->large, PRE_LARGE, seed + 101);
	mm_free(pf->large);
	if (!tu_check(pf->mine, PRE_MINE, seed + 2))
		return C_PRE_MINE;
	tu_fill(pf->mine, PRE_MINE, seed + 102);
	mm_heap_free(g_heap, pf->mine);

	void *q = mm_heap_malloc(g_heap, 1000);
	if (q == NULL)
		return C_HEAP_ALLOC;
	tu_fill(q, 1000, 9);
	if (!tu_check(q, 1000, 9))
		return C_HEAP_ALLOC;
	mm_heap_free(g_heap, q);

	pthread_t t;
	void *bad = NULL;
	if (pthread_create(&t, NULL, child_thread, NULL) != 0)
		return C_THREAD_START;
	if (pthread_join(t, &bad) != 0 || bad != NULL)
		return C_THREAD_WORK;

	if (mm_heap_check(NULL) != 0)
		return C_CHECK_DEFAULT;
	if (mm_heap_check(g_heap) != 0)
		return C_CHECK_HEAP;

	mm_heap_t *h = mm_heap_create(0);
	if (h == NULL)
		return C_NEW_HEAP;
	void *r = mm_heap_malloc(h, 5000);
	if (r == NULL)
		return C_NEW_HEAP;
	tu_fill(r, 5000, 11);
	if (!tu_check(r, 5000, 11) || mm_heap_check(h) != 0)
		return C_NEW_HEAP;
	mm_heap_destroy(h);

	int tr = mm_trim(0);
	if (tr != 0 && tr != 1)
		return C_TRIM;
	return 0;
}

/* --- the parent's side ----------------------------------------------------- */

/*
 * In a new child: die of SIGALRM after secs seconds.  Check installs its
 * own SIGALRM handler (for its timeouts), which the child inherits, so the
 * default action is restored first.
 */
static void arm_alarm(unsigned secs)
{
	sigset_t set;

	signal(SIGALRM, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, SIGALRM);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	alarm(secs);
}

/*
 * 0 when the child has been reaped, -1 if waitpid failed.  Blocking is safe:
 * every child arms alarm() first, so a stuck child dies of SIGALRM.
 */
static int wait_child(pid_t pid, int *status)
{
	for (;;) {
		pid_t r = waitpid(pid, status, 0);
		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

/* "" when the child exited 0, otherwise what happened to it. */
static const char *child_verdict(int waited, int status, char *buf,
	size_t len)
{
	if (waited != 0)
		snprintf(buf, len, "could not be waited for: %s",
			strerror(errno));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d%s", WTERMSIG(status),
			WTERMSIG(status) == SIGALRM ? " (alarm: deadlock?)"
						   : "");
	else if (!WIFEXITED(status))
		snprintf(buf, len, "status %#x", (unsigned)status);
	else if (WEXITSTATUS(status) == 0)
		buf[0] = '\0';
	else if (WEXITSTATUS(status) < C_LAST
		 && child_step[WEXITSTATUS(status)])
		snprintf(buf, len, "failed: %s",
			child_step[WEXITSTATUS(status)]);
	else
		snprintf(buf, len, "exited %d", WEXITSTATUS(status));
	return buf;
}

/* One fork: the child works and exits; "" or what went wrong. */
static const char *fork_once(unsigned seed, char *buf, size_t len)
{
	struct prefork pf;
	int status = 0;

	prefork_alloc(&pf, seed);
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(buf, len, "fork: %s", strerror(errno));
		return buf;
	}
	if (pid == 0) {
		arm_alarm(CHILD_ALARM);
		_exit(child_work(&pf, seed));
	}
	int waited = wait_child(pid, &status);
	prefork_check_free(&pf, seed);
	return child_verdict(waited, status, buf, len);
}

static void fork_many(unsigned n)
{
	char why[128];

	for (unsigned i = 0; i < n; i++) {
		const char *v = fork_once(1000 + i * 10, why, sizeof why);
		ck_assert_msg(v[0] == '\0', "fork %u: child %s", i, v);
	}
}

START_TEST(test_fork_while_threads_allocate)
{
	start_threads(0);
	fork_many(NFORKS);
	stop_threads();
}
END_TEST

START_TEST(test_fork_while_heaps_come_and_go)
{
	start_threads(1);
	fork_many(NFORKS / 2);
	stop_threads();
}
END_TEST

/*
 * The child of a fork forks again while a thread of its own allocates: the
 * fork handlers must leave the child's locks usable for the next fork.
 */
static atomic_int child_stop;

static void *child_hammer(void *arg)
{
	uint64_t rs = 99;
	uintptr_t bad = 0;

	(void)arg;
	while (!atomic_load(&child_stop)) {
		size_t n = pick_size(&rs);
		void *p = mm_malloc(n);
		if (p == NULL) {
			bad++;
			continue;
		}
		tu_fill(p, n, (unsigned)n);
		if (!tu_check(p, n, (unsigned)n))
			bad++;
		mm_free(p);
	}
	return (void *)bad;
}

/* Exit code: 0, a C_* step of its own, 99 or 100 + a grandchild's step. */
static int middle_child(unsigned seed)
{
	pthread_t t;
	void *bad = NULL;
	char why[128];
	int rc = 0;

	atomic_store(&child_stop, 0);
	if (pthread_create(&t, NULL, child_hammer, NULL) != 0)
		return C_THREAD_START;
	for (unsigned i = 0; i < 3 && rc == 0; i++) {
		struct prefork pf;

		pf.small = mm_malloc(PRE_SMALL);
		pf.large = mm_malloc(PRE_LARGE);
		pf.mine = mm_heap_malloc(g_heap, PRE_MINE);
		if (!pf.small || !pf.large || !pf.mine)
			return C_MALLOC;
		tu_fill(pf.small, PRE_SMALL, seed + i * 10);
		tu_fill(pf.large, PRE_LARGE, seed + i * 10 + 1);
		tu_fill(pf.mine, PRE_MINE, seed + i * 10 + 2);

		pid_t pid = fork();
		if (pid < 0)
			return 99;
		if (pid == 0) {
			arm_alarm(CHILD_ALARM);
			_exit(child_work(&pf, seed + i * 10));
		}
		int status = 0;
		int waited = wait_child(pid, &status);
		if (child_verdict(waited, status, why, sizeof why)[0]) {
			/* 100 + the grandchild's step, 99 if it hung or
			 * was killed */
			rc = waited == 0 && WIFEXITED(status)
				? 100 + WEXITSTATUS(status) : 99;
		}
		mm_free(pf.small);
		mm_free(pf.large);
		mm_heap_free(g_heap, pf.mine);
	}
	atomic_store(&child_stop, 1);
	if (pthread_join(t, &bad) != 0 || bad != NULL)
		return C_THREAD_WORK;
	if (rc == 0 && (mm_heap_check(NULL) != 0 || mm_heap_check(g_heap) != 0))
		return C_CHECK_DEFAULT;
	return rc;
}

START_TEST(test_fork_nested)
{
	char why[128];

	start_threads(0);
	for (unsigned i = 0; i < 2; i++) {
		int status = 0;
		pid_t pid = fork();

		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			arm_alarm(3 * CHILD_ALARM);
			_exit(middle_child(5000 + i * 100));
		}
		int waited = wait_child(pid, &status);
		const char *v = child_verdict(waited, status, why, sizeof why);
		if (v[0] == '\0')
			continue;
		if (waited == 0 && WIFEXITED(status)
		    && WEXITSTATUS(status) >= 99) {
			int gc = WEXITSTATUS(status) - 100;
			ck_abort_msg("round %u: grandchild %s", i,
				gc > 0 && gc < C_LAST && child_step[gc]
				? child_step[gc]
				: "hung, was killed or could not be forked");
		}
		ck_abort_msg("round %u: child %s", i, v);
	}
	stop_threads();
}
END_TEST

/* fork() called from a thread other than the main one. */
struct forker {
	unsigned failures;
	char first[160];
};

static void *forker_thread(void *arg)
{
	struct forker *f = arg;
	char why[128];

	for (unsigned i = 0; i < NFORKS / 3; i++) {
		struct prefork pf;
		unsigned seed = 7000 + i * 10;
		int status = 0;

		pf.small = mm_malloc(PRE_SMALL);
		pf.large = mm_malloc(PRE_LARGE);
		pf.mine = mm_heap_malloc(g_heap, PRE_MINE);
		if (!pf.small || !pf.large || !pf.mine) {
			f->failures++;
			snprintf(f->first, sizeof f->first, "allocation");
			break;
		}
		tu_fill(pf.small, PRE_SMALL, seed);
		tu_fill(pf.large, PRE_LARGE, seed + 1);
		tu_fill(pf.mine, PRE_MINE, seed + 2);
		pid_t pid = fork();
		if (pid == 0) {
			arm_alarm(CHILD_ALARM);
			_exit(child_work(&pf, seed));
		}
		const char *v = "could not fork";
		if (pid > 0) {
			int waited = wait_child(pid, &status);
			v = child_verdict(waited, status, why, sizeof why);
		}
		if (v[0] && f->failures++ == 0)
			snprintf(f->first, sizeof f->first, "fork %u: %s", i,
				v);
		if (!tu_check(pf.small, PRE_SMALL, seed)
		    || !tu_check(pf.large, PRE_LARGE, seed + 1)
		    || !tu_check(pf.mine, PRE_MINE, seed + 2)) {
			if (f->failures++ == 0)
				snprintf(f->first, sizeof f->first,
					"fork %u: parent's blocks changed", i);
		}
		mm_free(pf.small);
		mm_free(pf.large);
		mm_heap_free(g_heap, pf.mine);
	}
	return NULL;
}

START_TEST(test_fork_from_thread)
{
	pthread_t t;
	struct forker f = { 0, "" };

	start_threads(1);
	ck_assert_int_eq(pthread_create(&t, NULL, forker_thread, &f), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_msg(f.failures == 0, "%u failures, first: %s", f.failures,
		f.first);
	stop_threads();
}
END_TEST

static Suite *fork_suite(void)
{
	Suite *s = suite_create("fork");
	TCase *tc = tcase_create("fork under load");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_fork_while_threads_allocate);
	tcase_add_test(tc, test_fork_while_heaps_come_and_go);
	tcase_add_test(tc, test_fork_nested);
	tcase_add_test(tc, test_fork_from_thread);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(fork_suite());

	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
