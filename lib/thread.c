/*
 * Each thread's shard of the default heap (shard.c): found through one
 * thread-local record, set up on the thread's first small allocation, and
 * abandoned -- one push, no lock, nothing flushed -- when the thread exits,
 * for the next new thread to adopt.
 *
 * The record is thread-local storage in the initial-exec model in the
 * drop-in (no allocation on first touch) and TLS descriptors in libmm.so.
 * Registering the exit handler (a pthread key with a destructor) may call
 * malloc: while it is under way the thread is ENTERING and its requests go
 * to the block engine; so do those made after its teardown began (GONE),
 * for instance by other libraries' thread-local destructors.
 */
#include <pthread.h>

#include "fastpath.h"

__thread struct mmi_thread mmi_thread MMI_TLS = { .fast = &mmi_shard_none };
static pthread_key_t exit_key;
static int key_ready;

static void thread_exit(void *arg)
{
	struct mmi_thread *t = arg;
	struct mmi_shard *s = t->shard;

	t->state = MMI_THREAD_GONE;
	t->fast = &mmi_shard_none;
	t->shard = NULL;
	if (s)
		mmi_shard_abandon(s);
}

struct mmi_shard *mmi_thread_start(struct mm_heap *h)
{
	struct mmi_thread *t = &mmi_thread;

	if (t->state != MMI_THREAD_UNSET || !__atomic_load_n(&key_ready, __ATOMIC_ACQUIRE))
		return NULL;
	t->state = MMI_THREAD_ENTERING;
	if (pthread_setspecific(exit_key, t) != 0) {
		t->state = MMI_THREAD_GONE;
		return NULL;
	}
	t->shard = mmi_shard_acquire(h);
	if (!t->shard) {
		/* no memory for one now: try again next time */
		t->state = MMI_THREAD_UNSET;
		return NULL;
	}
	t->state = MMI_THREAD_ACTIVE;
	t->fast = t->shard;
	return t->shard;
}

void mmi_thread_init(void)
{
	if (pthread_key_create(&exit_key, thread_exit) == 0)
		__atomic_store_n(&key_ready, 1, __ATOMIC_RELEASE);
}

/* The fast malloc (fastpath.h) found no free slot on the direct page, or
 * the size is not small, or the thread has no shard yet. */
void *mmi_fast_malloc_slow(size_t size)
{
	if (size <= MMI_SLAB_MAX_BSIZE) {
		void *p = mmi_shard_alloc_slow(mmi_thread.fast, size);
		if (p)
			return p;
	}
	return mmi_alloc(mmi_default_heap(), size);
}
