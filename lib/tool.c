/*
 * The public functions while memcheck or ASan watches (tool.h): the
 * engine's block, then the tool told which bytes of it the caller owns.
 *
 * A block is described to the tool at the size asked for; the rest of
 * its usable bytes is off limits, so a write one byte past the request
 * is reported wherever the size class leaves slack.  Under memcheck each
 * request also gets MMI_TOOL_RZ more bytes, so that there is always
 * slack, and the block header is off limits as well.  mm_usable_size()
 * hands the caller its usable bytes, which become the block's size.  The
 * size asked for is not stored: it is where the tool's off-limits bytes
 * begin, which the tool tells.  realloc is the engine's, in place or not;
 * where it moves a block, MMI_TOOL_MOVED frees the old one for the tool
 * before the engine does (no other thread can have it yet).
 *
 * memcheck: each heap is a memcheck memory pool (anchored at the heap),
 * so that destroying a heap drops its blocks at once.  ASan: a freed
 * block is poisoned whole, unless the secure mode, which checks freed
 * slots by reading them, is on.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "mm_internal.h"

#ifdef MMI_TOOLS

#ifdef MMI_VALGRIND
#define MMI_TOOL_RZ 16u
#else
#define MMI_TOOL_RZ 0u
#endif

/* The region of p, read as the engine reads it: a region header may lie
 * where a freed block was (memcheck: off limits). */
static struct mmi_region *region_of(const void *p, struct mm_heap **heap)
{
	struct mmi_region *r;

	MMI_TOOL_ENTER();
	r = mmi_region_of((uintptr_t)p);
	if (r && heap)
		*heap = r->heap;
	MMI_TOOL_LEAVE();
	return r;
}

/* The heap that holds p: its region's (pools have none in the pagemap,
 * and are named by the caller), or h, or the default heap. */
static struct mm_heap *home_of(struct mm_heap *h, const void *p)
{
	struct mm_heap *heap;

	if (region_of(p, &heap))
		return heap;
	return h ? h : mmi_default_heap();
}

#ifdef MMI_VALGRIND
/* Whether p's block has a header right below it (every block but a slab
 * slot, whose neighbour below is another slot). */
static int has_header(const void *p)
{
	struct mmi_region *r = region_of(p, NULL);
	int kind;

	if (!r)
		return 1;
	MMI_TOOL_ENTER();
	kind = (int)r->kind;
	MMI_TOOL_LEAVE();
	return kind != MMI_REGION_SEGMENT;
}
#endif

/* The size the caller asked for: where the off-limits bytes of its
 * usable ones begin. */
static size_t asked_size(const void *p, size_t usable)
{
	uintptr_t bad;

#ifdef MMI_VALGRIND
	MMI_TOOL_ENTER();	/* a probe: no report */
	bad = VALGRIND_CHECK_MEM_IS_ADDRESSABLE(p, usable);
	MMI_TOOL_LEAVE();
#else
	bad = (uintptr_t)__asan_region_is_poisoned((void *)(uintptr_t)p, usable);
#endif
	return bad ? bad - (uintptr_t)p : usable;
}

/* p, of usable bytes, goes to the caller, who asked for size. */
static void hand_out(struct mm_heap *h, void *p, size_t size, size_t usable)
{
#ifdef MMI_VALGRIND
	VALGRIND_MEMPOOL_ALLOC(home_of(h, p), p, size);
	VALGRIND_MAKE_MEM_NOACCESS((char *)p + size, usable - size);
	if (has_header(p))
		VALGRIND_MAKE_MEM_NOACCESS((char *)p - MMI_HDR, MMI_HDR);
#else
	(void)h;
	__asan_unpoison_memory_region(p, size);
	__asan_poison_memory_region((char *)p + size, usable - size);
#endif
}

void *mmi_tool_alloc(struct mm_heap *h, size_t align, size_t size)
{
	struct mm_heap *heap = h ? h : mmi_default_heap();
	size_t usable = 0;
	void *p;

	if (size > SIZE_MAX - MMI_TOOL_RZ) {
		errno = ENOMEM;
		return NULL;
	}
	MMI_TOOL_ENTER();
	p = mmi_aligned(heap, align > MMI_ALIGN ? align : MMI_ALIGN, size + MMI_TOOL_RZ);
	if (p)
		usable = mmi_usable(heap, p);
	MMI_TOOL_LEAVE();
	if (p)
		hand_out(heap, p, size, usable);
	return p;
}

void *mmi_tool_calloc(struct mm_heap *h, size_t nmemb, size_t size)
{
	size_t total;
	void *p;

	if (__builtin_mul_overflow(nmemb, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	p = mmi_tool_alloc(h, 0, total);
	if (p)
		memset(p, 0, total);
	return p;
}

void mmi_tool_free(struct mm_heap *h, void *p)
{
	if (!p)
		return;
#ifdef MMI_VALGRIND
	/* memcheck names a bad pointer here, and libmm does below */
	VALGRIND_MEMPOOL_FREE(home_of(h, p), p);
#else
	if (!mmi_secure_mode)
		__asan_poison_memory_region(p, mmi_usable_for(h, p, MMI_OP_FREE));
#endif
	MMI_TOOL_ENTER();
	mmi_free(h, p);
	MMI_TOOL_LEAVE();
}

void *mmi_tool_realloc(struct mm_heap *h, void *p, size_t size)
{
	struct mm_heap *home;
	size_t usable, asked, usable_q = 0;
	void *q;

	if (!p)
		return mmi_tool_alloc(h, 0, size);
	if (size == 0) {
		mmi_tool_free(h, p);
		return NULL;
	}
	if (size > SIZE_MAX - MMI_TOOL_RZ) {
		errno = ENOMEM;
		return NULL;
	}
	MMI_TOOL_ENTER();
	usable = mmi_usable_for(h, p, MMI_OP_REALLOC);	/* dies on misuse */
	MMI_TOOL_LEAVE();
	home = home_of(h, p);
	asked = asked_size(p, usable - MMI_TOOL_RZ);
#ifdef MMI_ASAN
	/* the engine may copy the whole block, or merge into it */
	__asan_unpoison_memory_region(p, usable);
#endif
	MMI_TOOL_ENTER();
	q = mmi_realloc(h, p, size + MMI_TOOL_RZ);
	if (q)
		usable_q = mmi_usable(home, q);
	MMI_TOOL_LEAVE();
	if (!q) {
#ifdef MMI_ASAN
		__asan_poison_memory_region((char *)p + asked, usable - asked);
#endif
		return NULL;
	}
#ifdef MMI_VALGRIND
	if (q == p) {
		VALGRIND_MEMPOOL_CHANGE(home, p, p, size);
		if (size > asked)
			VALGRIND_MAKE_MEM_UNDEFINED((char *)p + asked, size - asked);
	} else {
		/* the old block went with MMI_TOOL_MOVED; what was copied
		 * counts as defined (its exact state is lost) */
		VALGRIND_MEMPOOL_ALLOC(home, q, size);
		VALGRIND_MAKE_MEM_DEFINED(q, asked < size ? asked : size);
	}
	VALGRIND_MAKE_MEM_NOACCESS((char *)q + size, usable_q - size);
	if (has_header(q))
		VALGRIND_MAKE_MEM_NOACCESS((char *)q - MMI_HDR, MMI_HDR);
#else
	hand_out(home, q, size, usable_q);
#endif
	return q;
}

size_t mmi_tool_usable(struct mm_heap *h, const void *p)
{
	size_t usable, asked;

	MMI_TOOL_ENTER();
	usable = mmi_usable(h, p) - MMI_TOOL_RZ;
	MMI_TOOL_LEAVE();
	asked = asked_size(p, usable);
	if (asked < usable) {
#ifdef MMI_VALGRIND
		VALGRIND_MAKE_MEM_UNDEFINED((const char *)p + asked, usable - asked);
		VALGRIND_MEMPOOL_CHANGE(home_of(h, p), p, p, usable);
#else
		__asan_unpoison_memory_region((const char *)p + asked, usable - asked);
#endif
	}
	return usable;
}

void mmi_tool_heap_new(struct mm_heap *h)
{
#ifdef MMI_VALGRIND
	if (RUNNING_ON_VALGRIND)
		VALGRIND_CREATE_MEMPOOL(h, MMI_TOOL_RZ, 0);	/* reports say "N bytes after" */
#else
	(void)h;
#endif
}

void mmi_tool_heap_gone(struct mm_heap *h, uintptr_t lo, uintptr_t hi)
{
#ifdef MMI_VALGRIND
	if (RUNNING_ON_VALGRIND && VALGRIND_MEMPOOL_EXISTS(h))
		VALGRIND_DESTROY_MEMPOOL(h);
	if (hi > lo)
		VALGRIND_MAKE_MEM_UNDEFINED(lo, hi - lo);
#else
	(void)h;
	if (hi > lo)
		__asan_unpoison_memory_region((void *)lo, hi - lo);
#endif
}

#else
/* ISO C wants something in a translation unit */
typedef int mmi_tool_none;
#endif
