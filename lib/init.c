/*
 * Process-wide state: the random secret behind block cookies, the default
 * heap, the list of every heap, and the fork handlers.
 *
 * Lock order, everywhere: heaps_lock, then heap locks (list order), then
 * the program-break lock, then the region table's lock.  The fork handlers
 * take them all in that order before fork() and release them in both
 * processes after, so the child starts with every heap consistent and
 * unlocked, whatever the parent's other threads were doing.
 */
#include <stdint.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "mm_internal.h"

static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t heaps_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mm_heap *heaps;
static int default_ready;
static uintptr_t secret;

/* The default heap lives here: no allocation is needed to start. */
static union {
	struct mm_heap heap;
	unsigned char bytes[MMI_HEAP_BYTES(MMI_FL_MAX)];
} default_storage __attribute__((aligned(64)));

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

void mmi_heaps_lock(void)
{
	pthread_mutex_lock(&heaps_lock);
}

void mmi_heaps_unlock(void)
{
	pthread_mutex_unlock(&heaps_lock);
}

struct mm_heap *mmi_heaps_first(void)
{
	return heaps;
}

void mmi_heaps_add(struct mm_heap *h)
{
	pthread_mutex_lock(&heaps_lock);
	h->prev_heap = NULL;
	h->next_heap = heaps;
	if (heaps)
		heaps->prev_heap = h;
	heaps = h;
	pthread_mutex_unlock(&heaps_lock);
}

static void unlink_heap(struct mm_heap *h)
{
	if (h->prev_heap)
		h->prev_heap->next_heap = h->next_heap;
	else
		heaps = h->next_heap;
	if (h->next_heap)
		h->next_heap->prev_heap = h->prev_heap;
}

void mmi_heaps_remove(struct mm_heap *h)
{
	pthread_mutex_lock(&heaps_lock);
	unlink_heap(h);
	pthread_mutex_unlock(&heaps_lock);
}

/* A new pool is being laid over [lo, hi): a pool that lived there before
 * and was never destroyed is gone now, and must leave the list first. */
void mmi_heaps_forget_in(uintptr_t lo, uintptr_t hi)
{
	pthread_mutex_lock(&heaps_lock);
	for (struct mm_heap *h = heaps, *next; h; h = next) {
		next = h->next_heap;
		if ((uintptr_t)h >= lo && (uintptr_t)h < hi)
			unlink_heap(h);
	}
	pthread_mutex_unlock(&heaps_lock);
}

static void fork_prepare(void)
{
	pthread_mutex_lock(&heaps_lock);
	for (struct mm_heap *h = heaps; h; h = h->next_heap)
		mmi_lock(h);
	mmi_brk_lock();
	mmi_registry_lock();
}

static void fork_release(void)
{
	mmi_registry_unlock();
	mmi_brk_unlock();
	for (struct mm_heap *h = heaps; h; h = h->next_heap)
		mmi_unlock(h);
	pthread_mutex_unlock(&heaps_lock);
}

static struct mm_heap *init_default(void)
{
	struct mm_heap *h = &default_storage.heap;

	pthread_mutex_lock(&init_lock);
	if (!__atomic_load_n(&default_ready, __ATOMIC_ACQUIRE)) {
		mmi_heap_init(h, 0, MMI_FL_MAX);
		mmi_heaps_add(h);
		__atomic_store_n(&default_ready, 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&init_lock);
	return h;
}

struct mm_heap *mmi_default_heap(void)
{
	if (MMI_LIKELY(__atomic_load_n(&default_ready, __ATOMIC_ACQUIRE)))
		return &default_storage.heap;
	return init_default();
}

/* Registered from a constructor, never from inside an allocation: glibc's
 * pthread_atfork may itself allocate. */
__attribute__((constructor)) static void libmm_init(void)
{
	mmi_default_heap();
	pthread_atfork(fork_prepare, fork_release, fork_release);
}
