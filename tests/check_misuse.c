/*
 * check_misuse: misuse is detected, named on one line of stderr, and ends
 * the process with abort() -- never silent corruption.
 *
 * Two layers:
 *  - "abort": Check's own signal tests (tcase_add_test_raise_signal with
 *    SIGABRT).  They need Check to fork, so they are only added when it does
 *    (not under CK_FORK=no, e.g. valgrind runs).
 *  - "message": each misuse runs in a child this file forks itself, with
 *    stderr on a pipe; the parent asserts death by SIGABRT and exactly one
 *    line "libmm: fatal: <fault> 0x<hex address>\n", nothing else.  These
 *    work in either mode.  The parent prepares the blocks before forking and
 *    frees them afterwards, so it also checks that its own heap is fine.
 *
 * Pointers reach libmm through volatile variables so that -O2 cannot see
 * the misuse and drop or rearrange it.
 */
#define _GNU_SOURCE
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
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
#define MIB (KIB * KIB)
#define CHILD_ALARM 10

static _Alignas(16) unsigned char global_array[256];
static _Alignas(64) unsigned char fake_heap[4096];	/* zeroes, not a heap */
static _Alignas(16) unsigned char pool_buf[64 * 1024];

/* Aborting children should not litter the build tree with core files. */
static void no_core_dumps(void)
{
	struct rlimit none = { 0, 0 };

	setrlimit(RLIMIT_CORE, &none);
}

/* --- the misuses themselves ------------------------------------------------ */

struct two {
	mm_heap_t *heap;
	void *p;
};

static void act_free(void *arg)
{
	void *volatile p = arg;

	mm_free(p);
}

static void act_free_twice(void *arg)
{
	void *volatile p = arg;

	mm_free(p);
	mm_free(p);
}

/* The size of a freed block of each engine (slab, medium, large). */
static void act_usable_freed(void *arg)
{
	void *volatile p = arg;
	volatile size_t n;

	mm_free(p);
	n = mm_usable_size(p);
	(void)n;
}

static void act_realloc_freed(void *arg)
{
	void *volatile p = arg;

	mm_free(p);
	void *volatile r = mm_realloc(p, 200);
	(void)r;
}

static void act_usable_size(void *arg)
{
	void *volatile p = arg;
	volatile size_t n = mm_usable_size(p);

	(void)n;
}

/* mm_heap_free(t->heap, t->p) */
static void act_heap_free(void *arg)
{
	struct two *volatile t = arg;

	mm_heap_free(t->heap, t->p);
}

static void act_heap_free_twice(void *arg)
{
	struct two *volatile t = arg;

	mm_heap_free(t->heap, t->p);
	mm_heap_free(t->heap, t->p);
}

/* Free a, then b (merged into a's free block), then b again. */
struct three {
	mm_heap_t *heap;
	void *a, *b;
};

static void act_free_merged_twice(void *arg)
{
	struct three *volatile t = arg;

	mm_heap_free(t->heap, t->a);
	mm_heap_free(t->heap, t->b);
	mm_heap_free(t->heap, t->b);
}

/* Free b, then a (which swallows b's free block), then b again. */
static void act_free_swallowed_twice(void *arg)
{
	struct three *volatile t = arg;

	mm_heap_free(t->heap, t->b);
	mm_heap_free(t->heap, t->a);
	mm_heap_free(t->heap, t->b);
}

static void act_heap_malloc(void *arg)
{
	mm_heap_t *volatile h = arg;
	void *volatile r = mm_heap_malloc(h, 16);

	(void)r;
}

/* A call on a heap handle, for the "invalid heap" tests. */
enum heap_op { OP_MALLOC, OP_FREE, OP_WALK, OP_CHECK, OP_DESTROY, OP_COUNT };
static const char *const op_name[OP_COUNT] = {
	"mm_heap_malloc", "mm_heap_free", "mm_heap_walk", "mm_heap_check",
	"mm_heap_destroy"
};

struct heap_call {
	mm_heap_t *heap;
	void *p;		/* for OP_FREE: a block the heap gave */
	int op;
	int destroy_first;	/* destroy the heap, then make the call */
};

static int visit_nothing(void *block, size_t size, int in_use, void *arg)
{
	(void)block;
	(void)size;
	(void)in_use;
	(void)arg;
	return 0;
}

static void act_heap_call(void *arg)
{
	struct heap_call *volatile c = arg;
	mm_heap_t *volatile h = c->heap;

	if (c->destroy_first)
		mm_heap_destroy(h);
	switch (c->op) {
	case OP_MALLOC: {
		void *volatile r = mm_heap_malloc(h, 16);
		(void)r;
		break;
	}
	case OP_FREE:
		mm_heap_free(h, c->p);
		break;
	case OP_WALK:
		mm_heap_walk(h, visit_nothing, NULL);
		break;
	case OP_CHECK:
		mm_heap_check(h);
		break;
	default:
		mm_heap_destroy(h);
		break;
	}
}

/* --- running a misuse in a child and reading what it said ----------------- */

struct outcome {
	int status;		/* from waitpid */
	size_t len;		/* bytes the child wrote to stderr */
	char text[512];		/* the first of them, NUL-terminated */
};

/*
 * Fork; the child sends stderr to a pipe and runs act(arg), which should
 * never return (exit 121 if it does).  The parent collects everything the
 * child wrote and its wait status.
 */
static void run_child(void (*act)(void *), void *arg, struct outcome *o)
{
	int fds[2];

	memset(o, 0, sizeof *o);
	ck_assert_int_eq(pipe(fds), 0);
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		no_core_dumps();
		close(fds[0]);
		if (dup2(fds[1], STDERR_FILENO) < 0)
			_exit(120);
		close(fds[1]);
		/* Check's own SIGALRM handler would otherwise be inherited. */
		signal(SIGALRM, SIG_DFL);
		alarm(CHILD_ALARM);
		act(arg);
		_exit(121);
	}
	close(fds[1]);
	/* Keep the first bytes (text stays NUL-terminated), drain the rest. */
	const size_t cap = sizeof o->text - 1;
	for (;;) {
		char junk[256];
		int keep = o->len < cap;
		ssize_t n = read(fds[0], keep ? o->text + o->len : junk,
			keep ? cap - o->len : sizeof junk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		o->len += (size_t)n;
	}
	close(fds[0]);
	while (waitpid(pid, &o->status, 0) < 0)
		ck_assert_int_eq(errno, EINTR);
}

static const char *const known_faults[] = {
	"double free", "invalid pointer", "pointer into the middle of a block",
	"pointer from another heap", "heap corruption at", "invalid heap",
	NULL
};

/*
 * NULL when o->text is exactly "libmm: fatal: <fault> 0x<hex>\n" with fault
 * one of faults[] and hex the value of addr (any address if check_addr is
 * 0); otherwise what is wrong with it.
 */
static const char *bad_message(const struct outcome *o,
	const char *const *faults, const void *addr, int check_addr)
{
	static const char prefix[] = "libmm: fatal: ";
	const char *t = o->text;

	if (o->len >= sizeof o->text - 1)
		return "far too much output";
	if (strlen(t) != o->len)
		return "a NUL byte in the output";
	if (strncmp(t, prefix, sizeof prefix - 1) != 0)
		return "does not start with \"libmm: fatal: \"";
	t += sizeof prefix - 1;

	const char *fault = NULL;
	for (size_t i = 0; faults[i]; i++) {
		size_t n = strlen(faults[i]);
		if (strncmp(t, faults[i], n) == 0 && strncmp(t + n, " 0x", 3) == 0) {
			fault = faults[i];
			t += n + 3;
			break;
		}
	}
	if (fault == NULL)
		return "not the expected fault, or no \" 0x\" after it";

	uintptr_t v = 0;
	const char *digits = t;
	for (; (*t >= '0' && *t <= '9') || (*t >= 'a' && *t <= 'f'); t++) {
		if (v >> (sizeof v * 8 - 4))
			return "address too long";
		v = v << 4 | (uintptr_t)(*t <= '9' ? *t - '0' : *t - 'a' + 10);
	}
	if (t == digits)
		return "no lowercase hex digits after 0x";
	if (check_addr && v != (uintptr_t)addr)
		return "names another address than the one passed";
	if (t[0] != '\n')
		return "something other than a newline after the address";
	if (t[1] != '\0')
		return "more than one line";
	return NULL;
}

/* Run the misuse; assert SIGABRT and the one-line message. */
static void expect_fatal_at(void (*act)(void *), void *arg,
	const char *const *faults, const void *addr, int check_addr)
{
	struct outcome o;

	run_child(act, arg, &o);
	ck_assert_msg(WIFSIGNALED(o.status) && WTERMSIG(o.status) == SIGABRT,
		"expected SIGABRT for %s %p; child %s %d, stderr: \"%s\"",
		faults[0], addr,
		WIFSIGNALED(o.status) ? "killed by signal" : "exited with",
		WIFSIGNALED(o.status) ? WTERMSIG(o.status)
				      : WEXITSTATUS(o.status), o.text);
	const char *why = bad_message(&o, faults, addr, check_addr);
	ck_assert_msg(why == NULL, "message for %s %p: %s; stderr was: \"%s\"",
		faults[0], addr, why, o.text);
}

static void expect_fatal(void (*act)(void *), void *arg, const char *fault,
	const void *addr)
{
	const char *const faults[] = { fault, NULL };

	expect_fatal_at(act, arg, faults, addr, 1);
}

/*
 * For misuse the semantics do not name exactly: the likelier fault first,
 * the other also accepted.  The address must still be the one passed.
 */
static void expect_fatal2(void (*act)(void *), void *arg, const char *fault,
	const char *alt, const void *addr)
{
	const char *const faults[] = { fault, alt, NULL };

	expect_fatal_at(act, arg, faults, addr, 1);
}

/* A live block of the default heap with a pattern; checked when freed. */
static void *patterned(size_t n, unsigned seed)
{
	void *p = mm_malloc(n);

	ck_assert_ptr_nonnull(p);
	tu_fill(p, n, seed);
	return p;
}

static void free_patterned(void *p, size_t n, unsigned seed)
{
	ck_assert_msg(tu_check(p, n, seed), "parent's block changed");
	mm_free(p);
	ck_assert_int_eq(mm_heap_check(NULL), 0);
}

static mm_heap_t *make_pool(void)
{
	mm_heap_t *pool = mm_heap_create_in(pool_buf, sizeof pool_buf, 0);

	ck_assert_ptr_nonnull(pool);
	return pool;
}

/* --- message tests ---------------------------------------------------------- */

START_TEST(msg_double_free_small)
{
	void *p = patterned(32, 1);

	expect_fatal(act_free_twice, p, "double free", p);
	free_patterned(p, 32, 1);
}
END_TEST

START_TEST(msg_double_free_large)
{
	void *p = patterned(MIB, 2);

	/* the mapping is gone after the first free; libmm remembers it */
	expect_fatal(act_free_twice, p, "double free", p);
	free_patterned(p, MIB, 2);
}
END_TEST

START_TEST(msg_free_stack)
{
	_Alignas(16) unsigned char local[64];

	tu_fill(local, sizeof local, 3);
	expect_fatal(act_free, local, "invalid pointer", local);
	ck_assert(tu_check(local, sizeof local, 3));
}
END_TEST

START_TEST(msg_free_global)
{
	void *p = patterned(256, 40);

	tu_fill(global_array, sizeof global_array, 41);
	expect_fatal(act_free, global_array, "invalid pointer", global_array);
	ck_assert(tu_check(global_array, sizeof global_array, 41));
	free_patterned(p, 256, 40);
}
END_TEST

START_TEST(msg_free_one)
{
	void *p = patterned(256, 42);

	expect_fatal(act_free, (void *)1, "invalid pointer", (void *)1);
	free_patterned(p, 256, 42);
}
END_TEST

START_TEST(msg_free_middle)
{
	char *p = patterned(128, 4);

	expect_fatal(act_free, p + 16, "pointer into the middle of a block",
		p + 16);
	free_patterned(p, 128, 4);
}
END_TEST

START_TEST(msg_free_misaligned)
{
	char *p = patterned(128, 5);

	expect_fatal2(act_free, p + 1, "invalid pointer",
		"pointer into the middle of a block", p + 1);
	free_patterned(p, 128, 5);
}
END_TEST

START_TEST(msg_free_middle_large)
{
	char *p = patterned(MIB, 6);

	expect_fatal2(act_free, p + 4096, "pointer into the middle of a block",
		"invalid pointer", p + 4096);
	free_patterned(p, MIB, 6);
}
END_TEST

START_TEST(msg_realloc_freed)
{
	void *p = patterned(64, 7);

	expect_fatal(act_realloc_freed, p, "realloc of a freed block", p);
	free_patterned(p, 64, 7);
}
END_TEST

START_TEST(msg_freed_block_named_by_the_call)
{
	static const size_t sizes[] = { 64, 64 * KIB, 1 * MIB };

	for (size_t i = 0; i < 3; i++) {
		void *p = patterned(sizes[i], 8);
		expect_fatal(act_usable_freed, p, "usable size of a freed block", p);
		expect_fatal(act_realloc_freed, p, "realloc of a freed block", p);
		free_patterned(p, sizes[i], 8);
	}
}
END_TEST

START_TEST(msg_other_heap)
{
	mm_heap_t *h1 = mm_heap_create(0), *h2 = mm_heap_create(0);

	ck_assert_ptr_nonnull(h1);
	ck_assert_ptr_nonnull(h2);
	void *p = mm_heap_malloc(h1, 64);
	ck_assert_ptr_nonnull(p);
	tu_fill(p, 64, 8);
	struct two t = { h2, p };
	expect_fatal(act_heap_free, &t, "pointer from another heap", p);
	ck_assert(tu_check(p, 64, 8));
	mm_heap_free(h1, p);
	ck_assert_int_eq(mm_heap_check(h1), 0);
	ck_assert_int_eq(mm_heap_check(h2), 0);
	mm_heap_destroy(h1);
	mm_heap_destroy(h2);
}
END_TEST

START_TEST(msg_default_block_to_other_heap)
{
	mm_heap_t *h = mm_heap_create(0);

	ck_assert_ptr_nonnull(h);
	void *p = patterned(64, 9);
	struct two t = { h, p };
	expect_fatal(act_heap_free, &t, "pointer from another heap", p);
	free_patterned(p, 64, 9);
	mm_heap_destroy(h);
}
END_TEST

START_TEST(msg_pool_double_free)
{
	mm_heap_t *pool = make_pool();
	void *p = mm_heap_malloc(pool, 64);

	ck_assert_ptr_nonnull(p);
	tu_fill(p, 64, 10);
	struct two t = { pool, p };
	expect_fatal(act_heap_free_twice, &t, "double free", p);
	ck_assert(tu_check(p, 64, 10));
	mm_heap_free(pool, p);
	ck_assert_int_eq(mm_heap_check(pool), 0);
	mm_heap_destroy(pool);
}
END_TEST

/* A double free whose block has since merged with a free neighbour: its
 * header is no longer a block's, yet it must still be named. */
START_TEST(msg_double_free_after_merge)
{
	mm_heap_t *pool = make_pool();
	void *a = mm_heap_malloc(pool, 100);
	void *b = mm_heap_malloc(pool, 100);
	void *c = mm_heap_malloc(pool, 100);

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_nonnull(c);
	tu_fill(c, 100, 12);
	struct three t = { pool, a, b };
	expect_fatal(act_free_merged_twice, &t, "double free", b);
	expect_fatal(act_free_swallowed_twice, &t, "double free", b);
	ck_assert(tu_check(c, 100, 12));
	mm_heap_free(pool, a);
	mm_heap_free(pool, b);
	mm_heap_free(pool, c);
	ck_assert_int_eq(mm_heap_check(pool), 0);
	mm_heap_destroy(pool);
}
END_TEST

START_TEST(msg_pool_block_to_mm_free)
{
	mm_heap_t *pool = make_pool();
	void *p = mm_heap_malloc(pool, 64);

	ck_assert_ptr_nonnull(p);
	tu_fill(p, 64, 11);
	expect_fatal(act_free, p, "invalid pointer", p);
	expect_fatal(act_usable_size, p, "invalid pointer", p);
	ck_assert(tu_check(p, 64, 11));
	mm_heap_free(pool, p);
	ck_assert_int_eq(mm_heap_check(pool), 0);
	mm_heap_destroy(pool);
}
END_TEST

START_TEST(msg_invalid_heap)
{
	void *p = patterned(256, 43);

	expect_fatal(act_heap_malloc, fake_heap, "invalid heap", fake_heap);
	ck_assert(tu_is_zero(fake_heap, sizeof fake_heap));
	free_patterned(p, 256, 43);
}
END_TEST

/*
 * A heap handle that is no longer a heap: destroyed once already.  The
 * struct of a heap from mm_heap_create is unmapped by then, so the handle
 * must be refused without being read.  Each call in a child of its own;
 * the parent's heap is still live and used after.
 */
START_TEST(msg_heap_destroy_twice)
{
	static const unsigned flags[] = { 0, MM_FIT_FIRST | MM_HEAP_NOLOCK };

	for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
		mm_heap_t *h = mm_heap_create(flags[i]);
		ck_assert_ptr_nonnull(h);
		void *p = mm_heap_malloc(h, 100);
		ck_assert_ptr_nonnull(p);
		tu_fill(p, 100, 50 + (unsigned)i);
		struct heap_call c = { h, NULL, OP_DESTROY, 1 };
		expect_fatal(act_heap_call, &c, "invalid heap", h);
		ck_assert(tu_check(p, 100, 50 + (unsigned)i));
		ck_assert_int_eq(mm_heap_check(h), 0);
		mm_heap_destroy(h);
	}

	/* a pool: its buffer stays, the handle is dead all the same */
	mm_heap_t *pool = make_pool();
	struct heap_call c = { pool, NULL, OP_DESTROY, 1 };
	expect_fatal(act_heap_call, &c, "invalid heap", pool);
	ck_assert_int_eq(mm_heap_check(pool), 0);
	mm_heap_destroy(pool);
}
END_TEST

START_TEST(msg_heap_used_after_destroy)
{
	for (int op = OP_MALLOC; op < OP_DESTROY; op++) {
		mm_heap_t *h = mm_heap_create(0);
		ck_assert_ptr_nonnull(h);
		void *p = mm_heap_malloc(h, 64);
		ck_assert_ptr_nonnull(p);
		tu_fill(p, 64, 60 + (unsigned)op);
		struct heap_call c = { h, p, op, 1 };
		expect_fatal(act_heap_call, &c, "invalid heap", h);
		ck_assert_msg(tu_check(p, 64, 60 + (unsigned)op),
			      "block changed by %s", op_name[op]);
		mm_heap_free(h, p);
		ck_assert_int_eq(mm_heap_check(h), 0);
		mm_heap_destroy(h);
	}
}
END_TEST

/* An address nothing is mapped at: every call names it, none faults. */
START_TEST(msg_heap_unmapped)
{
	mm_heap_t *const bad = (mm_heap_t *)(uintptr_t)0x10000;
	void *keep = patterned(256, 44);

	for (int op = OP_MALLOC; op < OP_COUNT; op++) {
		struct heap_call c = { bad, keep, op, 0 };
		expect_fatal(act_heap_call, &c, "invalid heap", bad);
	}
	free_patterned(keep, 256, 44);
}
END_TEST

/*
 * Handles into memory that is mapped but holds no live heap: a stack array
 * of zeroes; a pool that lived in a stack array, destroyed, with its bytes
 * then put back as they were while it lived (a stale copy: the structure,
 * magic included, looks live, but the heap is gone); and a live pool whose
 * structure the program overwrote.
 */
START_TEST(msg_invalid_heap_stack)
{
	_Alignas(64) unsigned char local[16 * 1024];
	static unsigned char saved[sizeof local];

	memset(local, 0, sizeof local);
	struct heap_call c = { (mm_heap_t *)local, NULL, OP_MALLOC, 0 };
	expect_fatal(act_heap_call, &c, "invalid heap", local);
	ck_assert(tu_is_zero(local, sizeof local));

	mm_heap_t *pool = mm_heap_create_in(local, sizeof local, 0);
	ck_assert_ptr_eq(pool, (mm_heap_t *)local);
	void *p = mm_heap_malloc(pool, 100);
	ck_assert_ptr_nonnull(p);
	tu_unpoison(local, sizeof local);
	memcpy(saved, local, sizeof local);
	mm_heap_destroy(pool);
	memcpy(local, saved, sizeof local);	/* the stale copy */
	for (int op = OP_MALLOC; op < OP_COUNT; op++) {
		c = (struct heap_call){ pool, p, op, 0 };
		expect_fatal(act_heap_call, &c, "invalid heap", pool);
	}

	/* a fresh pool in the same buffer is a live heap again */
	pool = mm_heap_create_in(local, sizeof local, 0);
	ck_assert_ptr_eq(pool, (mm_heap_t *)local);
	void *q = mm_heap_malloc(pool, 100);
	ck_assert_ptr_nonnull(q);
	tu_fill(q, 100, 45);
	memcpy(saved, local, 64);
	memset(local, 0x5a, 64);		/* the overwrite */
	c = (struct heap_call){ pool, NULL, OP_MALLOC, 0 };
	expect_fatal(act_heap_call, &c, "invalid heap", pool);
	memcpy(local, saved, 64);		/* repaired */
	ck_assert(tu_check(q, 100, 45));
	ck_assert_int_eq(mm_heap_check(pool), 0);
	mm_heap_free(pool, q);
	mm_heap_destroy(pool);
}
END_TEST

/*
 * A buffer overflow into the next block's header.  MM_FIT_FIRST in a fresh
 * pool puts two blocks side by side (16-byte headers, 64 usable bytes each):
 * writing 16 bytes past the first one lands on the second's header.
 */
START_TEST(msg_overflow_into_header)
{
	mm_heap_t *pool = mm_heap_create_in(pool_buf, sizeof pool_buf,
		MM_FIT_FIRST);

	ck_assert_ptr_nonnull(pool);
	unsigned char *p = mm_heap_malloc(pool, 64);
	unsigned char *q = mm_heap_malloc(pool, 64);
	ck_assert_ptr_nonnull(p);
	ck_assert_ptr_nonnull(q);
	ck_assert_ptr_eq(q, p + 64 + 16);
	tu_fill(p, 64, 12);
	tu_fill(q, 64, 13);

	/* q's header, reached through a volatile so that the compiler does
	 * not treat the deliberate overflow as a bug in this file */
	unsigned char *volatile hdr_v = q - 16;
	unsigned char *hdr = hdr_v, saved[16];
	memcpy(saved, hdr, sizeof saved);
	memset(hdr, 0xa5, sizeof saved);	/* the overflow */
	ck_assert_int_eq(mm_heap_check(pool), -1);
	struct two t = { pool, q };
	expect_fatal_at(act_heap_free, &t, known_faults, NULL, 0);

	memcpy(hdr, saved, sizeof saved);	/* repaired */
	ck_assert_int_eq(mm_heap_check(pool), 0);
	ck_assert(tu_check(p, 64, 12));
	ck_assert(tu_check(q, 64, 13));
	mm_heap_free(pool, p);
	mm_heap_free(pool, q);
	ck_assert_int_eq(mm_heap_check(pool), 0);
	mm_heap_destroy(pool);
}
END_TEST

/* --- metadata an application bug can reach ---------------------------------
 *
 * Each test damages what libmm keeps beside or inside blocks the way a
 * buffer overflow or a write after free would, in the child only, and
 * asserts that libmm names the damage instead of obeying it.  The header
 * layout these tests write is libmm's (lib/block.c): 16 bytes before the
 * payload, a size word with the free flag in bit 0, then a check word.
 */

#define HDR_SIZE_WORD(p) ((size_t *)((unsigned char *)(p) - 16))
#define HDR_CHECK_WORD(p) ((uintptr_t *)((unsigned char *)(p) - 8))

/* Free p into this thread's cache, write over its first word (a write
 * after free), then allocate twice from the same list: the second malloc
 * would return whatever address the write put there. */
struct poison {
	void *p;
	uintptr_t value;
};

static void act_poison_cache(void *arg)
{
	struct poison *volatile t = arg;
	uintptr_t *volatile first = t->p;

	mm_free(t->p);
	*first = t->value;
	void *volatile a = mm_malloc(40);
	void *volatile b = mm_malloc(40);
	(void)a;
	(void)b;
}

START_TEST(msg_cache_poisoned_with_an_address)
{
	void *p = patterned(40, 50);
	struct poison t = { p, (uintptr_t)global_array };

	expect_fatal(act_poison_cache, &t, "heap corruption at", p);
	free_patterned(p, 40, 50);
}
END_TEST

START_TEST(msg_cache_poisoned_with_garbage)
{
	void *p = patterned(40, 51);
	struct poison t = { p, (uintptr_t)0x4141414141414141ull };

	expect_fatal(act_poison_cache, &t, "heap corruption at", p);
	free_patterned(p, 40, 51);
}
END_TEST

/* A write after free that knows the free list's secret: the link of a
 * freed slot b, which points at a freed a, gives the page's key away
 * (link = granule of a ^ key); the write then points b's link at q, a
 * block in use whose first word the program made look like the list's
 * end.  Every link decodes in range: only q's state byte tells that the
 * list now leads into a live block, which must not be handed out twice. */
struct forged_link {
	unsigned char *a, *b, *q;
};

static uintptr_t granule_of(const void *p)
{
	return ((uintptr_t)p & 0xffff) / 16;
}

static void act_forge_link_to_live_block(void *arg)
{
	struct forged_link *volatile t = arg;
	uintptr_t *volatile bw = (uintptr_t *)t->b, *volatile qw = (uintptr_t *)t->q;
	uintptr_t key;

	mm_free(t->a);
	mm_free(t->b);
	key = *bw ^ granule_of(t->a);
	*bw = granule_of(t->q) ^ key;
	*qw = 0x1000 ^ key;	/* the end of a list (MMI_SLAB_LIST_END) */
	void *volatile m1 = mm_malloc(200);	/* b */
	void *volatile m2 = mm_malloc(200);	/* q again, if nothing looked */
	(void)m1;
	(void)m2;
}

START_TEST(msg_link_forged_with_the_key)
{
	unsigned char *v[8];
	struct forged_link t = { NULL, NULL, NULL };

	/* three blocks of one 64 KiB slab page (200 bytes: 224-byte slots) */
	for (int i = 0; i < 8; i++) {
		v[i] = mm_malloc(200);
		ck_assert_ptr_nonnull(v[i]);
	}
	for (int i = 0; i + 2 < 8 && !t.a; i++)
		if (((uintptr_t)v[i] >> 16) == ((uintptr_t)v[i + 2] >> 16) &&
		    ((uintptr_t)v[i] >> 16) == ((uintptr_t)v[i + 1] >> 16))
			t = (struct forged_link){ v[i], v[i + 1], v[i + 2] };
	ck_assert_ptr_nonnull(t.a);
	expect_fatal(act_forge_link_to_live_block, &t, "heap corruption at", t.q);
	for (int i = 0; i < 8; i++)
		mm_free(v[i]);
}
END_TEST

struct find_block {
	const void *p;
	size_t size;
};

static int find_block_size(void *block, size_t size, int in_use, void *arg)
{
	struct find_block *f = arg;

	(void)in_use;
	if (block != f->p)
		return 0;
	f->size = size;
	return 1;
}

/* mm_usable_size, for a pool's blocks too (which it does not know). */
static size_t usable_in(mm_heap_t *h, const void *p)
{
	struct find_block f = { p, 0 };

	if (!h)
		return mm_usable_size(p);
	ck_assert_int_eq(mm_heap_walk(h, find_block_size, &f), 1);
	return f.size;
}

/* Two neighbouring blocks of a heap of the boundary-tag engine: b
 * follows a.  A good-fit heap on mmap keeps blocks this small in slab
 * pages, which have no header to damage; its pool twin has the boundary
 * tags under test (one at a time: each is destroyed before the next). */
static mm_heap_t *two_neighbours(unsigned flags, size_t n, unsigned char **a,
	unsigned char **b)
{
	static _Alignas(16) unsigned char good_pool[256 * 1024];
	mm_heap_t *h = flags == MM_FIT_GOOD ? mm_heap_create_in(good_pool, sizeof good_pool, flags) :
		       mm_heap_create(flags);

	ck_assert_ptr_nonnull(h);
	*a = mm_heap_malloc(h, n);
	*b = mm_heap_malloc(h, n);
	ck_assert_ptr_nonnull(*a);
	ck_assert_ptr_nonnull(*b);
	ck_assert_ptr_eq(*b, *a + ((n + 16 + 15) & ~(size_t)15));
	tu_fill(*a, n, 52);
	tu_fill(*b, n, 53);
	return h;
}

/* An overflow from a writes b's header as a free block's, then b is
 * freed: a forged header is corruption, not a double free. */
static void act_forge_free_header_then_free(void *arg)
{
	struct two *volatile t = arg;
	size_t *volatile size_word = HDR_SIZE_WORD(t->p);

	*size_word = *size_word | 1;
	mm_heap_free(t->heap, t->p);
}

/*
 * On a fresh heap of each fit policy, with neighbours a and b of n bytes:
 * act damages and frees (victim 0: a, 1: b), and must die naming b's
 * header as corrupt; the parent's heap is then still sound.
 */
static void expect_corruption_on_each_fit(void (*act)(void *), size_t n, int victim)
{
	static const unsigned kinds[] = { MM_FIT_GOOD, MM_FIT_FIRST, MM_FIT_BEST };

	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		unsigned char *a, *b;
		mm_heap_t *h = two_neighbours(kinds[i], n, &a, &b);
		struct two t = { h, victim ? b : a };

		ck_assert_uint_eq(usable_in(h, a), (n + 15) & ~(size_t)15);
		expect_fatal(act, &t, "heap corruption at", b);
		ck_assert(tu_check(b, n, 53));
		mm_heap_free(h, a);
		mm_heap_free(h, b);
		ck_assert_int_eq(mm_heap_check(h), 0);
		mm_heap_destroy(h);
	}
}

START_TEST(msg_forged_free_header)
{
	expect_corruption_on_each_fit(act_forge_free_header_then_free, 24, 1);
}
END_TEST

/* The same on the default heap, with blocks above its slab sizes (16 KiB;
 * slab slots have no header to forge: their state is kept apart from
 * them). */
START_TEST(msg_forged_free_header_default_heap)
{
	void *a = patterned(20000, 54), *b = patterned(20000, 55);
	struct two t = { NULL, b };

	expect_fatal(act_forge_free_header_then_free, &t, "heap corruption at", b);
	free_patterned(a, 20000, 54);
	free_patterned(b, 20000, 55);
}
END_TEST

/* One byte written past a's usable size lands on the low byte of b's size
 * word; then a is freed, which looks at b to merge. */
static void act_overflow_one_byte_then_free(void *arg)
{
	struct two *volatile t = arg;
	unsigned char *volatile a = t->p;

	a[usable_in(t->heap, a)] = 0x41;
	mm_heap_free(t->heap, t->p);
}

START_TEST(msg_overflow_one_byte_into_header)
{
	expect_corruption_on_each_fit(act_overflow_one_byte_then_free, 32, 0);
}
END_TEST

/*
 * A check word that was "address ^ key" gave the key away to anyone who
 * could read one header: two blocks must not share that value, and a
 * header forged from it (a larger size, the check word recomputed the old
 * way) must be refused.
 */
static void act_forge_size_from_leak(void *arg)
{
	struct three *volatile t = arg;
	uintptr_t key = *HDR_CHECK_WORD(t->a) ^ (uintptr_t)HDR_SIZE_WORD(t->a);
	size_t *volatile size_word = HDR_SIZE_WORD(t->b);
	uintptr_t *volatile check_word = HDR_CHECK_WORD(t->b);

	*size_word = (*size_word & 15) | 4096;
	*check_word = (uintptr_t)size_word ^ key;
	mm_heap_free(t->heap, t->b);
}

START_TEST(msg_check_word_is_keyed)
{
	unsigned char *a, *b;
	mm_heap_t *h = two_neighbours(MM_FIT_GOOD, 100, &a, &b);
	uintptr_t leak_a = *HDR_CHECK_WORD(a) ^ (uintptr_t)HDR_SIZE_WORD(a);
	uintptr_t leak_b = *HDR_CHECK_WORD(b) ^ (uintptr_t)HDR_SIZE_WORD(b);
	struct three t = { h, a, b };

	ck_assert_msg(leak_a != leak_b, "header check word minus address is "
		"the same for two blocks: %#lx", (unsigned long)leak_a);
	expect_fatal(act_forge_size_from_leak, &t, "heap corruption at", b);
	mm_heap_free(h, a);
	mm_heap_free(h, b);
	mm_heap_destroy(h);
}
END_TEST

/* Whether a lies in a mapping of the file named path that is not
 * writable (code, read-only data, relocated read-only tables). */
static int in_readonly_mapping_of(uintptr_t a, const char *path)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int found = 0;

	ck_assert_ptr_nonnull(f);
	while (!found && fgets(line, sizeof line, f)) {
		unsigned long lo, hi;
		char perms[8];
		int name_at = 0;

		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &lo, &hi, perms, &name_at) < 3)
			continue;
		line[strcspn(line, "\n")] = '\0';
		if (a >= lo && a < hi && perms[1] != 'w' && name_at &&
		    strcmp(line + name_at, path) == 0)
			found = 1;
	}
	fclose(f);
	return found;
}

/* No word of a pool's control data (inside the caller's buffer, where an
 * underflow of a block can reach it) points at libmm's code or read-only
 * data: no function pointer, and no pointer to a table of them. */
START_TEST(pool_control_has_no_code_pointer)
{
	static _Alignas(16) unsigned char buf[16 * 1024];
	mm_heap_t *pool = mm_heap_create_in(buf, sizeof buf, 0);
	char path[4096];
	Dl_info self;

	ck_assert_ptr_nonnull(pool);
	ck_assert(dladdr((void *)mm_heap_create_in, &self) != 0);
	ck_assert_ptr_nonnull(realpath(self.dli_fname, path));
	ck_assert(in_readonly_mapping_of((uintptr_t)mm_heap_create_in, path));
	unsigned char *first = mm_heap_malloc(pool, 16);
	ck_assert_ptr_nonnull(first);
	for (uintptr_t *w = (uintptr_t *)buf; (unsigned char *)w < first; w++)
		if (*w && in_readonly_mapping_of(*w, path))
			ck_abort_msg("word %td of the pool's control data, %#lx, "
				"points at read-only memory of %s",
				w - (uintptr_t *)buf, (unsigned long)*w, path);
	mm_heap_free(pool, first);
	mm_heap_destroy(pool);
}
END_TEST

/* A break heap's only block, freed twice: the first free empties the
 * heap (the break may go down), the second must still be a double free. */
static void act_brk_only_block_twice(void *arg)
{
	(void)arg;
	mm_heap_t *volatile h = mm_heap_create(MM_SOURCE_BRK);
	void *volatile p = mm_heap_malloc(h, 100);

	mm_heap_free(h, p);
	/* the expected line names p: report it through the exit path */
	mm_heap_free(h, p);
}

START_TEST(msg_double_free_brk_only_block)
{
	expect_fatal_at(act_brk_only_block_twice, NULL,
		(const char *const[]){ "double free", NULL }, NULL, 0);
}
END_TEST

/* A large block freed twice with more than a hundred other large blocks
 * freed in between. */
struct many {
	void *p;
	void **others;
	size_t n;
};

static void act_large_twice_after_many(void *arg)
{
	struct many *volatile t = arg;

	mm_free(t->p);
	for (size_t i = 0; i < t->n; i++)
		mm_free(t->others[i]);
	mm_free(t->p);
}

START_TEST(msg_double_free_large_after_many)
{
	enum { N = 150 };
	static void *others[N];
	void *p = patterned(200 * KIB, 56);

	for (size_t i = 0; i < N; i++) {
		others[i] = mm_malloc(200 * KIB);
		ck_assert_ptr_nonnull(others[i]);
	}
	struct many t = { p, others, N };
	expect_fatal(act_large_twice_after_many, &t, "double free", p);
	for (size_t i = 0; i < N; i++)
		mm_free(others[i]);
	free_patterned(p, 200 * KIB, 56);
}
END_TEST

/* --- a fatal error leaves the heap usable to a SIGABRT handler ------------- */

static mm_heap_t *volatile handler_heap;

static void allocating_abort_handler(int sig)
{
	(void)sig;
	/* what a logger or backtrace_symbols would do */
	void *p = handler_heap ? mm_heap_malloc(handler_heap, 20000) : mm_malloc(20000);
	void *q = mm_malloc(64);
	if (p && q) {
		memset(p, 1, 20000);
		mm_free(q);
		_exit(42);
	}
	_exit(43);
}

static void act_with_allocating_handler(void (*act)(void *), void *arg, mm_heap_t *h)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = allocating_abort_handler;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGABRT, &sa, NULL);
	handler_heap = h;
	act(arg);
}

static void act_double_free_20000_with_handler(void *arg)
{
	act_with_allocating_handler(act_free_twice, arg, NULL);
}

static void act_corrupt_with_handler(void *arg)
{
	struct two *t = arg;

	act_with_allocating_handler(act_forge_free_header_then_free, arg, t->heap);
}

static void expect_handler_exit(void (*act)(void *), void *arg)
{
	struct outcome o;

	run_child(act, arg, &o);
	ck_assert_msg(WIFEXITED(o.status) && WEXITSTATUS(o.status) == 42,
		"the SIGABRT handler could not allocate: child %s %d, stderr: \"%s\"",
		WIFSIGNALED(o.status) ? "killed by signal" : "exited with",
		WIFSIGNALED(o.status) ? WTERMSIG(o.status) : WEXITSTATUS(o.status),
		o.text);
	ck_assert_msg(strncmp(o.text, "libmm: fatal: ", 14) == 0,
		"no libmm message before the handler ran: \"%s\"", o.text);
}

START_TEST(abort_handler_can_allocate)
{
	void *p = patterned(20000, 57);

	expect_handler_exit(act_double_free_20000_with_handler, p);
	free_patterned(p, 20000, 57);

	unsigned char *a, *b;
	mm_heap_t *h = two_neighbours(MM_FIT_GOOD, 24, &a, &b);
	struct two t = { h, b };
	expect_handler_exit(act_corrupt_with_handler, &t);
	mm_heap_destroy(h);
}
END_TEST

/* --- Check's own signal tests (only when Check forks) ----------------------- */

START_TEST(abort_double_free_small)
{
	no_core_dumps();
	act_free_twice(patterned(32, 20));
}
END_TEST

START_TEST(abort_double_free_large)
{
	no_core_dumps();
	act_free_twice(patterned(MIB, 21));
}
END_TEST

START_TEST(abort_free_stack)
{
	_Alignas(16) unsigned char local[64];

	no_core_dumps();
	tu_fill(local, sizeof local, 22);
	act_free(local);
}
END_TEST

START_TEST(abort_free_global)
{
	no_core_dumps();
	act_free(global_array);
}
END_TEST

START_TEST(abort_free_one)
{
	no_core_dumps();
	act_free((void *)1);
}
END_TEST

START_TEST(abort_free_middle)
{
	no_core_dumps();
	act_free((char *)patterned(128, 23) + 16);
}
END_TEST

START_TEST(abort_realloc_freed)
{
	no_core_dumps();
	act_realloc_freed(patterned(64, 24));
}
END_TEST

START_TEST(abort_other_heap)
{
	mm_heap_t *h1 = mm_heap_create(0), *h2 = mm_heap_create(0);

	no_core_dumps();
	ck_assert_ptr_nonnull(h1);
	ck_assert_ptr_nonnull(h2);
	struct two t = { h2, mm_heap_malloc(h1, 64) };
	ck_assert_ptr_nonnull(t.p);
	act_heap_free(&t);
}
END_TEST

START_TEST(abort_pool_double_free)
{
	mm_heap_t *pool = make_pool();

	no_core_dumps();
	struct two t = { pool, mm_heap_malloc(pool, 64) };
	ck_assert_ptr_nonnull(t.p);
	act_heap_free_twice(&t);
}
END_TEST

START_TEST(abort_invalid_heap)
{
	no_core_dumps();
	act_heap_malloc(fake_heap);
}
END_TEST

START_TEST(abort_heap_destroy_twice)
{
	mm_heap_t *h = mm_heap_create(0);

	no_core_dumps();
	ck_assert_ptr_nonnull(h);
	struct heap_call c = { h, NULL, OP_DESTROY, 1 };
	act_heap_call(&c);
}
END_TEST

START_TEST(abort_heap_malloc_after_destroy)
{
	mm_heap_t *h = mm_heap_create(0);

	no_core_dumps();
	ck_assert_ptr_nonnull(h);
	struct heap_call c = { h, NULL, OP_MALLOC, 1 };
	act_heap_call(&c);
}
END_TEST

START_TEST(abort_heap_unmapped)
{
	no_core_dumps();
	act_heap_malloc((void *)(uintptr_t)0x10000);
}
END_TEST

/* --- not fatal -------------------------------------------------------------- */

START_TEST(destroy_default_heap_refused)
{
	void *p = patterned(100, 30);

	errno = 0;
	mm_heap_destroy(mm_default_heap());
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_msg(tu_check(p, 100, 30), "default heap block changed");
	void *q = patterned(5000, 31);
	ck_assert_int_eq(mm_heap_check(NULL), 0);
	free_patterned(q, 5000, 31);
	free_patterned(p, 100, 30);
}
END_TEST

START_TEST(destroy_null_is_nothing)
{
	void *p = patterned(100, 32);

	mm_heap_destroy(NULL);
	ck_assert(tu_check(p, 100, 32));
	mm_heap_t *h = mm_heap_create(0);
	ck_assert_ptr_nonnull(h);
	mm_heap_destroy(NULL);
	void *q = mm_heap_malloc(h, 100);
	ck_assert_ptr_nonnull(q);
	tu_fill(q, 100, 33);
	ck_assert(tu_check(q, 100, 33));
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_heap_destroy(h);
	free_patterned(p, 100, 32);
}
END_TEST

START_TEST(free_null_is_nothing)
{
	void *p = patterned(48, 34);

	mm_free(NULL);
	mm_heap_free(NULL, NULL);
	mm_heap_t *h = mm_heap_create(0);
	ck_assert_ptr_nonnull(h);
	mm_heap_free(h, NULL);
	ck_assert_int_eq(mm_heap_check(h), 0);
	mm_heap_destroy(h);
	free_patterned(p, 48, 34);
}
END_TEST

static Suite *misuse_suite(void)
{
	Suite *s = suite_create("misuse");
	TCase *tc;

	tc = tcase_create("message");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, msg_double_free_small);
	tcase_add_test(tc, msg_double_free_large);
	tcase_add_test(tc, msg_double_free_after_merge);
	tcase_add_test(tc, msg_free_stack);
	tcase_add_test(tc, msg_free_global);
	tcase_add_test(tc, msg_free_one);
	tcase_add_test(tc, msg_free_middle);
	tcase_add_test(tc, msg_free_misaligned);
	tcase_add_test(tc, msg_free_middle_large);
	tcase_add_test(tc, msg_realloc_freed);
	tcase_add_test(tc, msg_freed_block_named_by_the_call);
	tcase_add_test(tc, msg_other_heap);
	tcase_add_test(tc, msg_default_block_to_other_heap);
	tcase_add_test(tc, msg_pool_double_free);
	tcase_add_test(tc, msg_pool_block_to_mm_free);
	tcase_add_test(tc, msg_invalid_heap);
	tcase_add_test(tc, msg_heap_destroy_twice);
	tcase_add_test(tc, msg_heap_used_after_destroy);
	tcase_add_test(tc, msg_heap_unmapped);
	tcase_add_test(tc, msg_invalid_heap_stack);
	tcase_add_test(tc, msg_overflow_into_header);
	suite_add_tcase(s, tc);

	tc = tcase_create("metadata");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, msg_cache_poisoned_with_an_address);
	tcase_add_test(tc, msg_cache_poisoned_with_garbage);
	tcase_add_test(tc, msg_link_forged_with_the_key);
	tcase_add_test(tc, msg_forged_free_header);
	tcase_add_test(tc, msg_forged_free_header_default_heap);
	tcase_add_test(tc, msg_overflow_one_byte_into_header);
	tcase_add_test(tc, msg_check_word_is_keyed);
	tcase_add_test(tc, pool_control_has_no_code_pointer);
	tcase_add_test(tc, msg_double_free_brk_only_block);
	tcase_add_test(tc, msg_double_free_large_after_many);
	tcase_add_test(tc, abort_handler_can_allocate);
	suite_add_tcase(s, tc);

	tc = tcase_create("not fatal");
	tcase_add_test(tc, destroy_default_heap_refused);
	tcase_add_test(tc, destroy_null_is_nothing);
	tcase_add_test(tc, free_null_is_nothing);
	suite_add_tcase(s, tc);
	return s;
}

/* Only for a runner that forks: the abort ends the test's process. */
static TCase *abort_tcase(void)
{
	TCase *tc = tcase_create("abort");

	tcase_set_timeout(tc, 60);
	tcase_add_test_raise_signal(tc, abort_double_free_small, SIGABRT);
	tcase_add_test_raise_signal(tc, abort_double_free_large, SIGABRT);
	tcase_add_test_raise_signal(tc, abort_free_stack, SIGABRT);
	tcase_add_test_raise_signal(tc, abort_free_global, SIGABRT);
	tcase_add_test_raise_signal(tc, abort_free_one, SIGABRT);
	tcase_add_test_raise_signal(tc, abort_free_middle, SIGABRT);
	tcase_add_test_raise_signal(tc, abort_realloc_freed, SIGABRT);
	tcase_add_test_raise_signal(tc, abort_other_heap, SIGABRT);
	tcase_add_test_raise_signal(tc, abort_pool_double_free, SIGABRT);
	tcase_add_test_raise_signal(tc, abort_invalid_heap, SIGABRT);
	tcase_add_test_raise_signal(tc, abort_heap_destroy_twice, SIGABRT);
	tcase_add_test_raise_signal(tc, abort_heap_malloc_after_destroy, SIGABRT);
	tcase_add_test_raise_signal(tc, abort_heap_unmapped, SIGABRT);
	return tc;
}

int main(void)
{
	Suite *s = misuse_suite();
	SRunner *sr = srunner_create(s);

	if (srunner_fork_status(sr) != CK_NOFORK)
		suite_add_tcase(s, abort_tcase());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
