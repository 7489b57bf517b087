/*
 * Memory from the operating system: anonymous mappings, the program break,
 * and pages handed back with madvise.  Every call keeps errno as it was
 * unless it fails, so that mm_free() never changes errno.
 *
 * The break is shared by everything in the process that calls brk/sbrk
 * (glibc's malloc among them), so it is only ever moved under brk_lock, only
 * lowered when it still ends exactly where we left it, and a heap that finds
 * it moved starts a new span or falls back to mmap.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mm_internal.h"

static pthread_mutex_t brk_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t page_size;

size_t mmi_page_size(void)
{
	size_t ps = __atomic_load_n(&page_size, __ATOMIC_RELAXED);

	if (MMI_UNLIKELY(!ps)) {
		long v = sysconf(_SC_PAGESIZE);
		ps = v > 0 ? (size_t)v : 4096;
		__atomic_store_n(&page_size, ps, __ATOMIC_RELAXED);
	}
	return ps;
}

void *mmi_os_map(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* A mapping of len bytes starting on a multiple of align (a power of two
 * at least the page size): most mappings come aligned already; the others
 * are made larger and trimmed. */
void *mmi_os_map_aligned(size_t len, size_t align)
{
	uintptr_t m, a;
	size_t over;
	void *p = mmi_os_map(len);

	if (!p || ((uintptr_t)p & (align - 1)) == 0)
		return p;
	mmi_os_unmap(p, len);
	if (len > SIZE_MAX - align)
		return NULL;
	over = len + align - mmi_page_size();
	m = (uintptr_t)mmi_os_map(over);
	if (!m)
		return NULL;
	a = (m + align - 1) & ~(uintptr_t)(align - 1);
	if (a > m)
		mmi_os_unmap((void *)m, a - m);
	if (a + len < m + over)
		mmi_os_unmap((void *)(a + len), m + over - (a + len));
	return (void *)a;
}

void mmi_os_unmap(void *p, size_t len)
{
	int saved = errno;

	MMI_TOOL_OWN(p, len);	/* ASan: the next mapping here starts clean */
	munmap(p, len);
	errno = saved;
}

/* Let the kernel take back the whole pages inside [lo, hi); contents read
 * as zero afterwards. */
int mmi_os_guard(void *p, size_t len)
{
	int saved = errno, ret = mprotect(p, len, PROT_NONE);

	errno = saved;
	return ret;
}

void mmi_os_discard(uintptr_t lo, uintptr_t hi)
{
	size_t ps = mmi_page_size();
	int saved = errno;

	lo = (lo + ps - 1) & ~(uintptr_t)(ps - 1);
	hi &= ~(uintptr_t)(ps - 1);
	if (hi > lo)
		madvise((void *)lo, hi - lo, MADV_DONTNEED);
	errno = saved;
}

void mmi_brk_lock(void)
{
	pthread_mutex_lock(&brk_lock);
}

void mmi_brk_unlock(void)
{
	pthread_mutex_unlock(&brk_lock);
}

/*
 * Move the break up by len bytes.  When it still ends at expect_end the new
 * span continues that one (*contiguous = 1); otherwise it starts on the next
 * page boundary.  Returns the start of the new span, 0 on failure.
 */
uintptr_t mmi_brk_extend(uintptr_t expect_end, size_t len, int *contiguous)
{
	uintptr_t cur, start;
	int saved = errno;

	*contiguous = 0;
	if (len > (size_t)INTPTR_MAX / 2)
		return 0;
	pthread_mutex_lock(&brk_lock);
	cur = (uintptr_t)sbrk(0);
	if (cur == (uintptr_t)-1) {
		start = 0;
	} else if (expect_end && cur == expect_end) {
		start = sbrk((intptr_t)len) == (void *)-1 ? 0 : cur;
		*contiguous = start != 0;
	} else {
		/* a new span starts on a granule: no region shares one */
		size_t pad = mmi_granule_up(cur) - cur;
		start = sbrk((intptr_t)(pad + len)) == (void *)-1 ? 0 : cur + pad;
	}
	pthread_mutex_unlock(&brk_lock);
	errno = saved;
	return start;
}

/* Lower the break by len bytes if it still ends at end; len 0 only asks.
 * 1 on success. */
int mmi_brk_shrink(uintptr_t end, size_t len)
{
	int ok, saved = errno;

	pthread_mutex_lock(&brk_lock);
	ok = (uintptr_t)sbrk(0) == end;
	if (ok && len)
		ok = sbrk(-(intptr_t)len) != (void *)-1;
	if (ok)
		MMI_TOOL_OWN(end - len, len);	/* ASan: as munmap */
	pthread_mutex_unlock(&brk_lock);
	errno = saved;
	return ok;
}
