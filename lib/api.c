/*
 * The public mm_* functions: argument checks and errno, then the engine.
 * Internal calls never go through these exported names (another object
 * could interpose them); everything below calls the hidden mmi_* layer.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fastpath.h"

#define FIT_FLAGS (MM_FIT_GOOD | MM_FIT_FIRST | MM_FIT_BEST)
#define SOURCE_FLAGS (MM_SOURCE_MMAP | MM_SOURCE_BRK)
#define KNOWN_FLAGS (FIT_FLAGS | SOURCE_FLAGS | MM_HEAP_NOLOCK)

static int is_pow2(size_t n)
{
	return n && !(n & (n - 1));
}

/* The heap a caller named: NULL means the default heap; anything that is
 * not a live heap is fatal.  The handle is read only once the set of live
 * heaps (heap.c) has it, so a destroyed heap whose memory is gone, or any
 * other address, is reported instead of faulting; the magic then catches a
 * live heap's structure overwritten by the caller. */
static struct mm_heap *heap_arg(mm_heap_t *h)
{
	if (!h || h == mmi_default_heap_ptr)
		return mmi_default_heap();
	if (MMI_UNLIKELY(((uintptr_t)h & (MMI_ALIGN - 1)) || !mmi_heaps_live(h) ||
			 h->magic != (MMI_HEAP_MAGIC ^ (uintptr_t)h)))
		mmi_fatal("invalid heap", h);
	return h;
}

static int flags_ok(unsigned flags)
{
	return !(flags & ~KNOWN_FLAGS) && !((flags & FIT_FLAGS) & ((flags & FIT_FLAGS) - 1)) &&
	       (flags & SOURCE_FLAGS) != SOURCE_FLAGS;
}

/* --- The default heap ------------------------------------------------------ */

/* MMI_TOOL_ON(): a memory tool watches (tool.h); 0 in default builds. */
void *mm_malloc(size_t size)
{
	if (MMI_TOOL_ON())
		return mmi_tool_alloc(NULL, 0, size);
	return mmi_fast_malloc(size);
}

void mm_free(void *ptr)
{
	if (MMI_TOOL_ON()) {
		mmi_tool_free(NULL, ptr);
		return;
	}
	mmi_fast_free(ptr);
}

void *mm_calloc(size_t nmemb, size_t size)
{
	if (MMI_TOOL_ON())
		return mmi_tool_calloc(NULL, nmemb, size);
	return mmi_calloc(mmi_default_heap(), nmemb, size);
}

void *mm_realloc(void *ptr, size_t size)
{
	if (MMI_TOOL_ON())
		return mmi_tool_realloc(NULL, ptr, size);
	return mmi_realloc(NULL, ptr, size);
}

void *mm_reallocarray(void *ptr, size_t nmemb, size_t size)
{
	size_t total;

	if (__builtin_mul_overflow(nmemb, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	if (MMI_TOOL_ON())
		return mmi_tool_realloc(NULL, ptr, total);
	return mmi_realloc(NULL, ptr, total);
}

void *mm_aligned_alloc(size_t alignment, size_t size)
{
	if (!is_pow2(alignment)) {
		errno = EINVAL;
		return NULL;
	}
	if (MMI_TOOL_ON())
		return mmi_tool_alloc(NULL, alignment, size);
	return mmi_aligned(mmi_default_heap(), alignment, size);
}

int mm_posix_memalign(void **memptr, size_t alignment, size_t size)
{
	int saved = errno;
	void *p;

	if (!is_pow2(alignment) || alignment % sizeof(void *))
		return EINVAL;	/* errno untouched */
	if (MMI_TOOL_ON())
		p = mmi_tool_alloc(NULL, alignment, size);
	else
		p = mmi_aligned(mmi_default_heap(), alignment, size);
	if (!p) {
		/* out of memory: ENOMEM stays in errno as well, as glibc's
		 * does (programs such as glibc's own tests read it) */
		errno = ENOMEM;
		return ENOMEM;
	}
	*memptr = p;
	errno = saved;
	return 0;
}

size_t mm_usable_size(const void *ptr)
{
	if (MMI_TOOL_ON())
		return ptr ? mmi_tool_usable(NULL, ptr) : 0;
	return ptr ? mmi_usable(NULL, ptr) : 0;
}

void mm_print_mem_list(void)
{
	struct mm_heap *h = mmi_default_heap();

	/* what the program printed before comes first; stdio is safe here,
	 * before any lock is taken */
	fflush(stdout);
	MMI_TOOL_ENTER();
	mmi_lock(h);
	mmi_print_locked(h, 1);
	mmi_unlock(h);
	MMI_TOOL_LEAVE();
}

/* --- Explicit heaps -------------------------------------------------------- */

mm_heap_t *mm_heap_create(unsigned flags)
{
	size_t ps = mmi_page_size();
	size_t len = (MMI_HEAP_BYTES(MMI_FL_MAX) + ps - 1) & ~(ps - 1);
	struct mm_heap *h;

	if (!flags_ok(flags)) {
		errno = EINVAL;
		return NULL;
	}
	(void)mmi_default_heap();	/* the secure mode is chosen there, first */
	h = mmi_os_map(len);
	if (!h) {
		errno = ENOMEM;
		return NULL;
	}
	mmi_heap_init(h, flags, MMI_FL_MAX);	/* a memcheck pool: mmi_tool_heap_new */
	/* good fit on mmap: small blocks in per-thread slab pages, as the
	 * default heap's (unless LIBMM_CACHE=0 turned those off) */
	if ((h->flags & MM_FIT_GOOD) && (h->flags & MM_SOURCE_MMAP) &&
	    (mmi_default_heap()->flags & MMI_SLAB_FLAG))
		h->flags |= MMI_SLAB_FLAG;
	h->self_bytes = len;
	mmi_count_os(h, (long)len);
	if (mmi_heaps_add(h) != 0) {
		mmi_tool_heap_gone(h, 0, 0);
		if (!(flags & MM_HEAP_NOLOCK))
			pthread_mutex_destroy(&h->lock);
		mmi_os_unmap(h, len);
		errno = ENOMEM;
		return NULL;
	}
	return h;
}

mm_heap_t *mm_heap_create_in(void *buf, size_t len, unsigned flags)
{
	uintptr_t lo = ((uintptr_t)buf + MMI_ALIGN - 1) & ~(uintptr_t)(MMI_ALIGN - 1);
	uintptr_t hi, ctl;
	struct mm_heap *h;
	unsigned fl;

	if (!buf || !flags_ok(flags) || (flags & SOURCE_FLAGS) ||
	    len > UINTPTR_MAX - (uintptr_t)buf || len >= MMI_BSIZE_MAX) {
		errno = EINVAL;
		return NULL;
	}
	hi = ((uintptr_t)buf + len) & ~(uintptr_t)(MMI_ALIGN - 1);
	/* the control structure's size depends on the largest block, which
	 * depends on what the control structure leaves */
	for (fl = 1;; fl++) {
		ctl = lo + ((MMI_HEAP_BYTES(fl) + MMI_ALIGN - 1) & ~(size_t)(MMI_ALIGN - 1));
		if (ctl >= hi || hi <= lo || mmi_fl_count_for(hi - ctl) <= fl)
			break;
	}
	if (hi <= lo || ctl >= hi || hi - ctl < MMI_REGION_HDR + MMI_MIN_BLOCK + MMI_HDR) {
		errno = EINVAL;
		return NULL;
	}
	mmi_heaps_forget_in(lo, hi);	/* and their blocks, for the tools */
	MMI_TOOL_FRESH(lo, hi - lo);	/* all libmm's now, whatever an old pool left */
	h = (struct mm_heap *)lo;
	mmi_heap_init(h, flags, fl);
	MMI_TOOL_ENTER();
	mmi_pool_init(h, ctl, hi);
	MMI_TOOL_LEAVE();
	if (mmi_heaps_add(h) != 0) {
		mmi_tool_heap_gone(h, lo, hi);
		if (!(flags & MM_HEAP_NOLOCK))
			pthread_mutex_destroy(&h->lock);
		h->magic = 0;
		errno = ENOMEM;
		return NULL;
	}
	return h;
}

void mm_heap_destroy(mm_heap_t *heap)
{
	uintptr_t pool_end = 0;
	struct mm_heap *h;
	size_t self_bytes;

	if (!heap)
		return;
	h = heap_arg(heap);
	if (h == mmi_default_heap()) {
		errno = EINVAL;
		return;
	}
	if (mmi_is_pool(h))
		pool_end = h->arenas->end;
	mmi_heaps_remove(h);
	MMI_TOOL_ENTER();
	if (mmi_secure_mode)
		mmi_secure_forget_heap(h);	/* its held-back blocks go with it */
	mmi_release_all(h);
	MMI_TOOL_LEAVE();
	if (!(h->flags & MM_HEAP_NOLOCK))
		pthread_mutex_destroy(&h->lock);
	h->magic = 0;
	self_bytes = h->self_bytes;
	/* its blocks go; a pool's buffer is the caller's again */
	mmi_tool_heap_gone(h, pool_end ? (uintptr_t)h : 0, pool_end);
	if (self_bytes)
		mmi_os_unmap(h, self_bytes);
}

void *mm_heap_malloc(mm_heap_t *heap, size_t size)
{
	if (MMI_TOOL_ON())
		return mmi_tool_alloc(heap_arg(heap), 0, size);
	return mmi_alloc(heap_arg(heap), size);
}

void *mm_heap_calloc(mm_heap_t *heap, size_t nmemb, size_t size)
{
	if (MMI_TOOL_ON())
		return mmi_tool_calloc(heap_arg(heap), nmemb, size);
	return mmi_calloc(heap_arg(heap), nmemb, size);
}

void *mm_heap_realloc(mm_heap_t *heap, void *ptr, size_t size)
{
	if (MMI_TOOL_ON())
		return mmi_tool_realloc(heap_arg(heap), ptr, size);
	return mmi_realloc(heap_arg(heap), ptr, size);
}

void *mm_heap_aligned_alloc(mm_heap_t *heap, size_t alignment, size_t size)
{
	struct mm_heap *h = heap_arg(heap);

	if (!is_pow2(alignment)) {
		errno = EINVAL;
		return NULL;
	}
	if (MMI_TOOL_ON())
		return mmi_tool_alloc(h, alignment, size);
	return mmi_aligned(h, alignment, size);
}

void mm_heap_free(mm_heap_t *heap, void *ptr)
{
	struct mm_heap *h = heap_arg(heap);

	if (MMI_TOOL_ON())
		mmi_tool_free(h, ptr);
	else if (ptr)
		mmi_free(h, ptr);
}

/* --- Introspection --------------------------------------------------------- */

int mm_heap_walk(mm_heap_t *heap, mm_visit_fn visit, void *arg)
{
	struct mm_heap *h = heap_arg(heap);

	int ret;

	if (!visit) {
		errno = EINVAL;
		return -1;
	}
	/* memcheck: the visitor's own faults go unreported too */
	MMI_TOOL_ENTER();
	ret = mmi_walk(h, visit, arg);
	MMI_TOOL_LEAVE();
	return ret;
}

int mm_heap_check(mm_heap_t *heap)
{
	struct mm_heap *h = heap_arg(heap);
	int ret;

	MMI_TOOL_ENTER();
	mmi_lock(h);
	ret = mmi_check_locked(h);
	mmi_unlock(h);
	MMI_TOOL_LEAVE();
	return ret;
}

void mm_heap_print(mm_heap_t *heap, int fd)
{
	struct mm_heap *h = heap_arg(heap);

	MMI_TOOL_ENTER();
	mmi_lock(h);
	mmi_print_locked(h, fd);
	mmi_unlock(h);
	MMI_TOOL_LEAVE();
}

mm_heap_t *mm_default_heap(void)
{
	return mmi_default_heap();
}

int mm_trim(size_t pad)
{
	int ret;

	MMI_TOOL_ENTER();
	ret = mmi_trim_all(pad);
	MMI_TOOL_LEAVE();
	return ret;
}

int mm_heap_set_option(mm_heap_t *heap, int option, size_t value)
{
	struct mm_heap *h = heap_arg(heap);
	int ret = 0;

	mmi_lock(h);
	switch (option) {
	case MM_OPT_MMAP_THRESHOLD:
		if (!(h->flags & MMI_POOL_FLAG))
			h->mmap_threshold = value;
		break;
	case MM_OPT_TRIM_THRESHOLD:
		h->trim_threshold = value;
		break;
	case MM_OPT_DECAY_MS:
		h->decay_ms = value;
		break;
	default:
		ret = -1;
	}
	mmi_unlock(h);
	if (ret)
		errno = EINVAL;
	return ret;
}

int mm_heap_stats(mm_heap_t *heap, mm_stats_t *stats, size_t stats_size)
{
	struct mm_heap *h = heap_arg(heap);
	struct mm_stats st;

	if (!stats) {
		errno = EINVAL;
		return -1;
	}
	MMI_TOOL_ENTER();
	mmi_lock(h);
	mmi_stats_locked(h, &st);
	mmi_unlock(h);
	MMI_TOOL_LEAVE();
	memcpy(stats, &st, stats_size < sizeof st ? stats_size : sizeof st);
	return 0;
}

/* --- Version --------------------------------------------------------------- */

const char *mm_version(void)
{
	return LIBMM_VERSION_STRING;
}

int mm_version_number(void)
{
	return LIBMM_VERSION_NUMBER;
}
