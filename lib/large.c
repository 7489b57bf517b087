/*
 * Large blocks: a request at or above the heap's mmap threshold gets a
 * mapping of its own, laid out as a region holding exactly one block:
 *
 *   | region header | (padding for alignment) | block header | payload ... |
 *   ^ start (page)                            ^ first        ^ aligned     ^ end (page)
 *
 * Freeing unmaps it at once.  The last few freed addresses are remembered so
 * that freeing one again is reported as the double free it is, not as an
 * unknown pointer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "mm_internal.h"

#define FREED_RING 64
static uintptr_t freed_ring[FREED_RING];
static unsigned freed_next;

void mmi_large_note_freed(const void *p)
{
	unsigned i = __atomic_fetch_add(&freed_next, 1, __ATOMIC_RELAXED);

	__atomic_store_n(&freed_ring[i % FREED_RING], (uintptr_t)p, __ATOMIC_RELAXED);
}

int mmi_large_was_freed(const void *p)
{
	for (unsigned i = 0; i < FREED_RING; i++)
		if (__atomic_load_n(&freed_ring[i], __ATOMIC_RELAXED) == (uintptr_t)p)
			return 1;
	return 0;
}

static uintptr_t page_down(uintptr_t a)
{
	return a & ~(uintptr_t)(mmi_page_size() - 1);
}

static uintptr_t page_up(uintptr_t a)
{
	return page_down(a + mmi_page_size() - 1);
}

static size_t usable_of(const struct mmi_region *r)
{
	return r->end - (uintptr_t)r->first - MMI_HDR;
}

/* Fill in the region header and block of a mapping [start, end). */
static void *settle(struct mm_heap *h, uintptr_t start, uintptr_t end, uintptr_t payload)
{
	struct mmi_region *r = (struct mmi_region *)start;
	struct mmi_block *b = mmi_block_of((void *)payload);

	memset(r, 0, sizeof *r);
	r->start = start;
	r->end = end;
	r->heap = h;
	r->kind = MMI_REGION_LARGE;
	r->first = b;
	b->head = (end - (uintptr_t)b) | MMI_LARGE;
	b->cookie = (uintptr_t)b ^ h->cookie_key;
	return r;
}

static void link_large(struct mm_heap *h, struct mmi_region *r)
{
	r->seq = ++h->large_seq;	/* the list stays in descending seq */
	r->prev = NULL;
	r->next = h->larges;
	if (h->larges)
		h->larges->prev = r;
	h->larges = r;
	h->st.mapped_blocks++;
	h->st.mapped_bytes += usable_of(r);
	mmi_count_use(h, (long)usable_of(r), 1);
	mmi_count_os(h, (long)(r->end - r->start));
}

static void unlink_large(struct mm_heap *h, struct mmi_region *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		h->larges = r->next;
	if (r->next)
		r->next->prev = r->prev;
	h->st.mapped_blocks--;
	h->st.mapped_bytes -= usable_of(r);
	mmi_count_use(h, -(long)usable_of(r), -1);
	mmi_count_os(h, -(long)(r->end - r->start));
}

void *mmi_large_alloc(struct mm_heap *h, size_t size, size_t align)
{
	size_t front = MMI_REGION_HDR + MMI_HDR;
	size_t len;
	uintptr_t m, payload, start, end;
	struct mmi_region *r;

	if (align < MMI_ALIGN)
		align = MMI_ALIGN;
	if (size > SIZE_MAX - front - align - mmi_page_size()) {
		errno = ENOMEM;
		return NULL;
	}
	len = page_up(size + front + (align > MMI_ALIGN ? align : 0));
	m = (uintptr_t)mmi_os_map(len);
	if (!m) {
		errno = ENOMEM;
		return NULL;
	}
	payload = (m + front + align - 1) & ~(uintptr_t)(align - 1);
	start = page_down(payload - front);
	end = page_up(payload + (size ? size : 1));
	/* an over-sized mapping made for alignment loses its spare pages */
	if (start > m)
		mmi_os_unmap((void *)m, start - m);
	if (end < m + len)
		mmi_os_unmap((void *)end, m + len - end);
	r = settle(h, start, end, payload);
	mmi_registry_add(r);
	mmi_lock(h);
	link_large(h, r);
	h->st.alloc_count++;
	mmi_unlock(h);
	return (void *)payload;
}

void mmi_large_validate(struct mmi_region *r, const void *p)
{
	struct mmi_block *b = mmi_block_of(p);

	if (b != r->first || !(b->head & MMI_LARGE) ||
	    b->cookie != ((uintptr_t)b ^ r->heap->cookie_key))
		mmi_bad_block(r->heap, r, p);
}

void mmi_large_free(struct mm_heap *h, struct mmi_region *r, void *p)
{
	mmi_large_validate(r, p);
	mmi_lock(h);
	unlink_large(h, r);
	h->st.free_count++;
	mmi_unlock(h);
	mmi_registry_remove(r);
	mmi_large_note_freed(p);
	mmi_os_unmap((void *)r->start, r->end - r->start);
}

void *mmi_large_realloc(struct mm_heap *h, struct mmi_region *r, void *p, size_t size)
{
	size_t have, len, old_len;
	uintptr_t old_start;
	void *q, *m;

	mmi_large_validate(r, p);
	have = usable_of(r);
	if (size <= have && size >= have / 2)
		return p;	/* shrinking by less than half: keep the mapping */
	if (size >= MMI_BSIZE_MAX) {
		errno = ENOMEM;
		return NULL;
	}
	/* Small again, or aligned beyond 16 (mremap keeps only page
	 * alignment): move to a fresh block the usual way. */
	if (size < h->mmap_threshold || r->first != (struct mmi_block *)(r->start + MMI_REGION_HDR)) {
		q = mmi_alloc(h, size);
		if (!q)
			return NULL;
		memcpy(q, p, size < have ? size : have);
		mmi_large_free(h, r, p);
		return q;
	}
	old_start = r->start;
	old_len = r->end - r->start;
	len = page_up(size + MMI_REGION_HDR + MMI_HDR);
	mmi_lock(h);
	unlink_large(h, r);
	mmi_registry_remove(r);
	m = mremap((void *)old_start, old_len, len, MREMAP_MAYMOVE);
	if (m == MAP_FAILED) {
		mmi_registry_add(r);
		link_large(h, r);
		mmi_unlock(h);
		errno = ENOMEM;
		return NULL;
	}
	r = settle(h, (uintptr_t)m, (uintptr_t)m + len, (uintptr_t)m + MMI_REGION_HDR + MMI_HDR);
	mmi_registry_add(r);
	link_large(h, r);
	mmi_unlock(h);
	return mmi_payload(r->first);
}
