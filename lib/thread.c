/*
 * Each thread's shards (shard.c): that of the default heap found through
 * one thread-local record, set up on the thread's first small allocation,
 * and abandoned -- one push, no lock, nothing flushed -- when the thread
 * exits, for the next new thread to adopt.  Shards of other heaps
 * (MM_FIT_GOOD heaps on mmap) are noted in a few slots of the same record
 * and abandoned the same way; a slot whose heap was destroyed (or whose
 * address now belongs to a newer heap: the generation tells) is dropped
 * without being read through, the destroyed heap's shards being gone.
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

/* A note's shard is given up, if its heap still lives: under shards_lock,
 * so that a heap being destroyed (out of the live set first) cannot free
 * the shard meanwhile. */
static void note_drop(struct mmi_heap_note *n)
{
	if (!n->heap)
		return;
	mmi_shards_lock();
	if (mmi_heaps_live(n->heap) && n->heap->gen == n->gen)
		mmi_shard_abandon(n->shard);
	mmi_shards_unlock();
	n->heap = NULL;
	n->shard = NULL;
}

static void thread_exit(void *arg)
{
	struct mmi_thread *t = arg;
	struct mmi_shard *s = t->shard;

	t->state = MMI_THREAD_GONE;
	t->fast = &mmi_shard_none;
	t->shard = NULL;
	MMI_TOOL_ENTER();
	if (mmi_secure_mode)
		mmi_secure_check_quarantine(s);
	if (s)
		mmi_shard_abandon(s);
	for (unsigned i = 0; i < MMI_THREAD_HEAPS; i++)
		note_drop(&t->notes[i]);
	MMI_TOOL_LEAVE();
}

struct mmi_shard *mmi_thread_heap_shard(struct mm_heap *h, int make)
{
	struct mmi_thread *t = &mmi_thread;
	struct mmi_heap_note *n = NULL;
	struct mmi_shard *s;

	for (unsigned i = 0; i < MMI_THREAD_HEAPS; i++)
		if (t->notes[i].heap == h && t->notes[i].gen == h->gen)
			return t->notes[i].shard;
	/* the exit handler is registered with the default heap's shard */
	if (!make || (t->state != MMI_THREAD_ACTIVE && !mmi_thread_start(mmi_default_heap())))
		return NULL;
	for (unsigned i = 0; i < MMI_THREAD_HEAPS && !n; i++)
		if (!t->notes[i].heap)
			n = &t->notes[i];
	if (!n) {
		n = &t->notes[t->next_note];
		t->next_note = (unsigned char)((t->next_note + 1) % MMI_THREAD_HEAPS);
		note_drop(n);
	}
	s = mmi_shard_acquire(h);
	if (s) {
		n->heap = h;
		n->gen = h->gen;
		n->shard = s;
	}
	return s;
}

/* In the child of fork, the forking thread keeps its own shards; every
 * other shard that had a thread is abandoned (shards_lock is held across
 * the fork: no adoption was half done). */
void mmi_thread_after_fork_child(void)
{
	struct mm_heap *h;
	size_t cursor = 0;

	while ((h = mmi_heaps_next(&cursor)))
		if (h->flags & MMI_SLAB_FLAG)
			mmi_shards_after_fork_child(h, mmi_thread_shard_if_any(h));
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
	/* the secure mode's checks are on the general path only */
	t->fast = mmi_secure_mode ? &mmi_shard_none : t->shard;
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
