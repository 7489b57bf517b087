/*
 * Process start: the random secret behind block cookies, the default heap
 * as the environment asks for it, and the fork handlers.
 *
 * Lock order, everywhere: the secure mode's held_lock (secure.c), then
 * heaps_lock (heap.c), then heap locks (list
 * order), then the shards' lock, then the program-break lock, then the
 * pagemap's leaf lock, then the set of freed large blocks.  The fork
 * handlers take them all in that order before fork() and release them in
 * both processes after, so the child starts with every heap consistent and
 * unlocked, whatever the parent's other threads were doing.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "mm_internal.h"
#include "out.h"

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
int mmi_default_ready;
static uintptr_t secret;

/* The default heap lives here: no allocation is needed to start. */
static union {
	struct mm_heap heap;
	unsigned char bytes[MMI_HEAP_BYTES(MMI_FL_MAX)];
} default_storage __attribute__((aligned(64)));
struct mm_heap *const mmi_default_heap_ptr = &default_storage.heap;

static uintptr_t mix(uintptr_t x)
{
	x ^= x >> 33;
	x *= (uintptr_t)0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= (uintptr_t)0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return x;
}

uintptr_t mmi_secret(void)
{
	uintptr_t s = __atomic_load_n(&secret, __ATOMIC_ACQUIRE);

	if (MMI_UNLIKELY(!s)) {
		struct timespec ts;
		if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			s = mix((uintptr_t)&ts ^ (uintptr_t)ts.tv_nsec ^
				((uintptr_t)getpid() << 32) ^ (uintptr_t)ts.tv_sec);
		}
		s |= 1;	/* never 0: 0 means "not yet" */
		__atomic_store_n(&secret, s, __ATOMIC_RELEASE);
	}
	return s;
}

/* A new secret word each call: the process secret, stepped and mixed. */
uintptr_t mmi_random_word(void)
{
	static uintptr_t step;
	uintptr_t n = __atomic_add_fetch(&step, 1, __ATOMIC_RELAXED);

	return mix(mmi_secret() + n * (uintptr_t)0x9e3779b97f4a7c15ull);
}

/*
 * fork().  With other threads running, any lock may be held at the fork:
 * take them all first, so the child inherits consistent heaps.  glibc runs
 * these handlers before it locks its list of stdio streams, yet stdio may
 * allocate with that list locked (a flush giving a stream its buffer); once
 * libmm is the process's malloc that order would deadlock, so the drop-in
 * takes the stdio list lock first, as glibc's own malloc in effect does.
 * A single-threaded process takes nothing: no other thread can hold a lock,
 * and a signal handler that forks inside malloc must not wait for itself.
 */
extern char __libc_single_threaded __attribute__((weak));
#ifdef MMI_TEST_HOOKS
struct mmi_test_hooks mmi_test;
#endif

#ifdef MMI_DROPIN
extern void _IO_list_lock(void) __attribute__((weak));
extern void _IO_list_unlock(void) __attribute__((weak));
#endif
static int fork_locked;

static void lock_everything(void)
{
	struct mm_heap *h;
	size_t cursor = 0;

	mmi_secure_lock();
	mmi_heaps_lock();
	while ((h = mmi_heaps_next(&cursor)))
		mmi_lock(h);
	mmi_shards_lock();
	mmi_brk_lock();
	mmi_pagemap_lock();
	mmi_large_lock();
}

static void unlock_everything(void)
{
	mmi_large_unlock();
	mmi_pagemap_unlock();
	struct mm_heap *h;
	size_t cursor = 0;

	mmi_brk_unlock();
	mmi_shards_unlock();
	while ((h = mmi_heaps_next(&cursor)))
		mmi_unlock(h);
	mmi_heaps_unlock();
	mmi_secure_unlock();
}

static void fork_prepare(void)
{
	fork_locked = !(&__libc_single_threaded && __libc_single_threaded);
	if (!fork_locked)
		return;
#ifdef MMI_DROPIN
	if (_IO_list_lock)
		_IO_list_lock();
#endif
	lock_everything();
}

static void fork_parent(void)
{
	if (!fork_locked)
		return;
	unlock_everything();
#ifdef MMI_DROPIN
	if (_IO_list_unlock)
		_IO_list_unlock();
#endif
}

/* The child is the thread that forked, so it owns every lock it unlocks;
 * glibc has already reset its stdio list lock here. */
static void fork_child(void)
{
	if (!fork_locked)
		return;
	/* the other threads' shards have no thread here: abandoned, they
	 * go to the child's new threads, rebuilt from their state bytes */
	mmi_thread_after_fork_child();
	unlock_everything();
}

/*
 * Where the default heap takes memory from.  The program break is only safe
 * when nothing else moves it, that is when libmm is the process's malloc;
 * LIBMM_SOURCE=mmap or brk overrides, and LIBMM_CACHE=0 turns the
 * per-thread cache off.  getenv() allocates nothing.
 */
static int env_is(const char *name, const char *value)
{
	const char *s = getenv(name);

	return s && !strcmp(s, value);
}

static unsigned default_flags(void)
{
	if (env_is("LIBMM_SOURCE", "mmap"))
		return MM_SOURCE_MMAP;
	if (env_is("LIBMM_SOURCE", "brk"))
		return MM_SOURCE_BRK;
#ifdef MMI_DROPIN
	return MM_SOURCE_BRK;
#else
	return MM_SOURCE_MMAP;
#endif
}

size_t mmi_decay_default_ms = MMI_DEFAULT_DECAY_MS;

/* LIBMM_DECAY_MS: a number of milliseconds (0: unmap at once). */
static void decay_from_env(void)
{
	const char *s = getenv("LIBMM_DECAY_MS");
	char *end;
	unsigned long v;

	if (!s || !*s)
		return;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (!errno && !*end && v <= 3600000)
		mmi_decay_default_ms = v;
}

/* LIBMM_SECURE=1 turns the secure mode on, 0 off; configure
 * --enable-secure makes it the default.  Set before the first block. */
static void secure_from_env(void)
{
	const char *s = getenv("LIBMM_SECURE");

#ifdef MMI_SECURE_DEFAULT
	mmi_secure_set("1");
#endif
	if (s && *s)
		mmi_secure_set(s);
}

struct mm_heap *mmi_default_heap_init(void)
{
	struct mm_heap *h = &default_storage.heap;

	pthread_mutex_lock(&init_lock);
	if (!__atomic_load_n(&mmi_default_ready, __ATOMIC_ACQUIRE)) {
		int saved = errno;

		decay_from_env();
		secure_from_env();
		errno = saved;
		mmi_heap_init(h, default_flags(), MMI_FL_MAX);
		if (!env_is("LIBMM_CACHE", "0"))
			h->flags |= MMI_SLAB_FLAG;
		/* the first table is static: nothing can fail here (and
		 * heap_arg knows the default heap by its address anyway) */
		(void)mmi_heaps_add(h);
		__atomic_store_n(&mmi_default_ready, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&init_lock);
	return h;
}


static int stats_fd = -1;	/* LIBMM_STATS: where the report goes */

static int env_on(const char *name)
{
	const char *s = getenv(name);

	return s && *s && strcmp(s, "0") != 0;
}

/*
 * LIBMM_DUMP=path: the default heap's dump written to path at exit;
 * with LIBMM_DUMP_SIGNAL=USR2 (or USR1, SIGUSR2, a number) also whenever
 * that signal comes (introspect.c: mmi_dump_to_path, which only tries
 * the locks there).  The path is copied at start: the program may change
 * its environment later, and the handler must not call getenv.
 */
static char dump_path[4096];

static void complain(const char *var, const char *value, const char *why)
{
	struct out o = { .fd = 2 };

	out_str(&o, "libmm: ");
	out_str(&o, var);
	out_char(&o, '=');
	out_str(&o, value);
	out_str(&o, why);
	out_flush(&o);
}

/* The signal LIBMM_DUMP_SIGNAL names, or 0. */
static int dump_signal(const char *s)
{
	char *end;
	long v;

	if (!strncmp(s, "SIG", 3))
		s += 3;
	if (!strcmp(s, "USR1"))
		return SIGUSR1;
	if (!strcmp(s, "USR2"))
		return SIGUSR2;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > SIGRTMAX || v == SIGKILL || v == SIGSTOP)
		return 0;
	return (int)v;
}

static void dump_on_signal(int sig)
{
	int saved = errno;

	(void)sig;
	MMI_TOOL_ENTER();
	mmi_dump_to_path(mmi_default_heap_ptr, dump_path, 1);
	MMI_TOOL_LEAVE();
	errno = saved;
}

static void dump_from_env(void)
{
	const char *path = getenv("LIBMM_DUMP"), *sig = getenv("LIBMM_DUMP_SIGNAL");
	struct sigaction sa;
	int signo;

	if (!path || !*path)
		return;
	if (strlen(path) >= sizeof dump_path) {
		complain("LIBMM_DUMP", "...", ": path too long; no dump\n");
		return;
	}
	strcpy(dump_path, path);
	if (!sig || !*sig)
		return;
	if (!(signo = dump_signal(sig))) {
		complain("LIBMM_DUMP_SIGNAL", sig, ": not a signal; no dump on a signal\n");
		return;
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = dump_on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(signo, &sa, NULL);
}

/* Registered from a constructor, never from inside an allocation: glibc's
 * pthread_atfork may itself allocate. */
__attribute__((constructor)) static void libmm_init(void)
{
	struct mm_heap *h = mmi_default_heap();
	int saved = errno;

	mmi_thread_init();
	pthread_atfork(fork_prepare, fork_parent, fork_child);
	if (env_on("LIBMM_VERBOSE"))
		mmi_print_options(h, 2);
	if (env_on("LIBMM_STATS"))
		stats_fd = fcntl(2, F_DUPFD_CLOEXEC, 3);
	dump_from_env();
	errno = saved;
}

/* LIBMM_STATS=1: the default heap's statistics on stderr at exit, through
 * a copy of fd 2 made at start, since many programs close stderr before
 * they exit. */
__attribute__((destructor)) static void libmm_fini(void)
{
	/* the exiting thread's freed blocks held back: written to since? */
	if (mmi_secure_mode && mmi_thread.state == MMI_THREAD_ACTIVE) {
		MMI_TOOL_ENTER();
		mmi_secure_check_quarantine(mmi_thread.shard);
		MMI_TOOL_LEAVE();
	}
	if (mmi_secure_mode) {
		MMI_TOOL_ENTER();
		mmi_secure_check_held();
		MMI_TOOL_LEAVE();
	}
	MMI_TOOL_ENTER();
	if (stats_fd >= 0)
		mmi_print_stats(mmi_default_heap(), stats_fd);
	if (dump_path[0])
		mmi_dump_to_path(mmi_default_heap(), dump_path, 0);
	MMI_TOOL_LEAVE();
}
