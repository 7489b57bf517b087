/*
 * The front end: a per-thread cache of small free blocks of the default
 * heap, so that most malloc/free pairs take no lock at all.
 *
 * A cached block is, to the heap, still in use: it keeps its header and its
 * place, and only its cookie changes (to mmi_cached_cookie), which is what
 * tells a second free of it for the double free it is.  Its first payload
 * word links it to the next cached block, masked (mmi_cache_link) and
 * checked on every pop, so a write after free is caught, not obeyed.  Each thread keeps a
 * list per block size up to MMI_CACHE_MAX_BSIZE; a list that fills up gives
 * half of itself back under one lock.  A thread's cache is returned whole
 * when the thread exits, and before mm_trim and before any look inside the
 * heap (walk, check, print, statistics) made by that thread, so that a
 * single-threaded program sees exact figures.  Blocks in other threads'
 * caches count as in use.
 *
 * The fast paths are inline in mm_internal.h.  The cache is reached
 * through thread-local storage in the initial-exec
 * model in the drop-in (no allocation on first touch), and is set up lazily:
 * a thread registers it with a pthread key for its exit; while doing so (the
 * key machinery may call malloc) and after the thread's teardown, the heap
 * is used directly.
 */
#include <pthread.h>

#include "mm_internal.h"

#define BINS MMI_CACHE_BINS

__thread struct mmi_tcache mmi_tcache MMI_TLS;
static pthread_key_t exit_key;
static int key_ready;

/* Give the first n blocks of list i back to the heap h. */
static void give_back(struct mm_heap *h, struct mmi_tcache *t, unsigned i, unsigned n)
{
	size_t bsize = (size_t)(i + 2) * MMI_ALIGN;
	struct mmi_block *b = t->bin[i];

	mmi_lock(h);
	while (n-- && b) {
		struct mmi_block *next;

		if (mmi_cookie_load(b) != mmi_cached_cookie(h, b, bsize))
			mmi_corrupt_locked(h, mmi_payload(b));
		next = mmi_cache_link(h, b, b->next_free);
		if (next && !mmi_arena_of(h, next))
			mmi_corrupt_locked(h, mmi_payload(b));
		mmi_cookie_store(b, mmi_cookie(h, b, bsize, MMI_TAG_USED));
		mmi_free_block_locked(h, b);
		t->count[i]--;
		b = next;
	}
	t->bin[i] = b;
	h->st.alloc_count += t->allocs;
	h->st.free_count += t->frees;
	t->allocs = t->frees = 0;
	mmi_unlock(h);
}

static void flush(struct mmi_tcache *t)
{
	struct mm_heap *h = mmi_default_heap();

	for (unsigned i = 0; i < BINS; i++)
		if (t->bin[i])
			give_back(h, t, i, t->count[i]);
	if (t->allocs || t->frees) {
		mmi_lock(h);
		h->st.alloc_count += t->allocs;
		h->st.free_count += t->frees;
		t->allocs = t->frees = 0;
		mmi_unlock(h);
	}
}

static void thread_exit(void *arg)
{
	struct mmi_tcache *t = arg;

	flush(t);
	t->state = MMI_CACHE_GONE;
}

struct mmi_tcache *mmi_cache_start(void)
{
	struct mmi_tcache *t = &mmi_tcache;

	if (t->state != MMI_CACHE_UNSET || !__atomic_load_n(&key_ready, __ATOMIC_ACQUIRE))
		return NULL;
	t->state = MMI_CACHE_ENTERING;
	if (pthread_setspecific(exit_key, t) != 0) {
		t->state = MMI_CACHE_GONE;
		return NULL;
	}
	t->state = MMI_CACHE_ACTIVE;
	return t;
}

/* List i is full: half of it goes back to the heap. */
void mmi_cache_overflow(struct mm_heap *h, struct mmi_tcache *t, unsigned i)
{
	give_back(h, t, i, t->count[i] / 2);
}

void mmi_cache_init(void)
{
	if (pthread_key_create(&exit_key, thread_exit) == 0)
		__atomic_store_n(&key_ready, 1, __ATOMIC_RELEASE);
}

void mmi_cache_flush(struct mm_heap *h)
{
	struct mmi_tcache *t = &mmi_tcache;

	if ((h->flags & MMI_CACHE_FLAG) && t->state == MMI_CACHE_ACTIVE)
		flush(t);
}
