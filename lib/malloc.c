/*
 * The drop-in: the C and POSIX allocation functions on libmm's default heap,
 * built into libmm-malloc.so for LD_PRELOAD or linking.  The behaviour
 * follows glibc's wherever programs can observe it: errno, realloc(p, 0)
 * freeing, memalign rounding a non-power-of-two alignment up, pvalloc
 * rounding to pages, free() keeping errno.
 *
 * Nothing here may reach the names it defines: the library is built with
 * -fno-builtin, and everything goes to the hidden mmi_* layer.  Every entry
 * point starts the default heap on first use, whichever is called first and
 * however early (before constructors, from the dynamic loader, from TLS
 * set-up); starting it needs no allocation.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fastpath.h"

#define EXPORT __attribute__((visibility("default")))

/* This library's declarations; <stdlib.h> and <malloc.h> have some. */
EXPORT void *memalign(size_t alignment, size_t size);
EXPORT void *valloc(size_t size);
EXPORT void *pvalloc(size_t size);
EXPORT size_t malloc_usable_size(void *ptr);
EXPORT void free_sized(void *ptr, size_t size);
EXPORT void free_aligned_sized(void *ptr, size_t alignment, size_t size);
EXPORT int malloc_trim(size_t pad);

static int is_pow2(size_t n)
{
	return n && !(n & (n - 1));
}

/* MMI_TOOL_ON(): a memory tool watches (tool.h); 0 in default builds. */
EXPORT void *malloc(size_t size)
{
	if (MMI_TOOL_ON())
		return mmi_tool_alloc(NULL, 0, size);
	return mmi_fast_malloc(size);
}

/* inline: free stays the fast path itself, no jump to a shared copy */
static inline __attribute__((always_inline)) void release(void *ptr)
{
	if (MMI_TOOL_ON()) {
		mmi_tool_free(NULL, ptr);
		return;
	}
	mmi_fast_free(ptr);
}

EXPORT void free(void *ptr)
{
	release(ptr);
}

EXPORT void *calloc(size_t nmemb, size_t size)
{
	if (MMI_TOOL_ON())
		return mmi_tool_calloc(NULL, nmemb, size);
	return mmi_calloc(mmi_default_heap(), nmemb, size);
}

static void *resize(void *ptr, size_t size)
{
	if (MMI_TOOL_ON())
		return mmi_tool_realloc(NULL, ptr, size);
	return mmi_realloc(ptr ? NULL : mmi_default_heap(), ptr, size);
}

/* The aligned functions' block. */
static void *aligned(size_t alignment, size_t size)
{
	if (MMI_TOOL_ON())
		return mmi_tool_alloc(NULL, alignment, size);
	return mmi_aligned(mmi_default_heap(), alignment, size);
}

EXPORT void *realloc(void *ptr, size_t size)
{
	return resize(ptr, size);
}

EXPORT void *reallocarray(void *ptr, size_t nmemb, size_t size)
{
	size_t total;

	if (__builtin_mul_overflow(nmemb, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return resize(ptr, total);
}

EXPORT int posix_memalign(void **memptr, size_t alignment, size_t size)
{
	int saved = errno;
	void *p;

	if (!is_pow2(alignment) || alignment % sizeof(void *))
		return EINVAL;	/* errno untouched */
	p = aligned(alignment, size);
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

EXPORT void *aligned_alloc(size_t alignment, size_t size)
{
	if (!is_pow2(alignment)) {
		errno = EINVAL;
		return NULL;
	}
	return aligned(alignment, size);
}

/* glibc's memalign: an alignment that is not a power of two is rounded up
 * to one; one beyond the largest power of two is EINVAL. */
EXPORT void *memalign(size_t alignment, size_t size)
{
	if (alignment > SIZE_MAX / 2 + 1) {
		errno = EINVAL;
		return NULL;
	}
	if (!is_pow2(alignment)) {
		size_t a = 1;
		while (a < alignment)
			a <<= 1;
		alignment = a;
	}
	return aligned(alignment, size);
}

EXPORT void *valloc(size_t size)
{
	return aligned(mmi_page_size(), size);
}

EXPORT void *pvalloc(size_t size)
{
	size_t ps = mmi_page_size();

	if (size > SIZE_MAX - ps) {
		errno = ENOMEM;
		return NULL;
	}
	size = size ? (size + ps - 1) & ~(ps - 1) : ps;
	return aligned(ps, size);
}

EXPORT size_t malloc_usable_size(void *ptr)
{
	if (MMI_TOOL_ON())
		return ptr ? mmi_tool_usable(NULL, ptr) : 0;
	return ptr ? mmi_usable(NULL, ptr) : 0;
}

/* C23: the size and alignment are promises we do not need. */
EXPORT void free_sized(void *ptr, size_t size)
{
	(void)size;
	release(ptr);
}

EXPORT void free_aligned_sized(void *ptr, size_t alignment, size_t size)
{
	(void)alignment;
	(void)size;
	release(ptr);
}

EXPORT int malloc_trim(size_t pad)
{
	int ret;

	MMI_TOOL_ENTER();
	ret = mmi_trim_all(pad);
	MMI_TOOL_LEAVE();
	return ret;
}
