/*
 * The one-line fatal messages: misuse or damage found, "libmm: fatal:
 * <what> <address>" on stderr, then abort().  Also what a bad pointer
 * passed to free or realloc really is (double free, the middle of a block,
 * corruption), and the internal assertions of --enable-debug builds.  A
 * message goes out through a buffer on the stack (out.h): the process may
 * be in the middle of malloc, with a heap lock held.
 */
#include <stdlib.h>
#include <string.h>

#include "mm_internal.h"
#include "out.h"

void mmi_fatal(const char *what, const void *addr)
{
	struct out o = { .fd = 2 };

	out_str(&o, "libmm: fatal: ");
	out_str(&o, what);
	out_char(&o, ' ');
	out_hex(&o, (uintptr_t)addr);
	out_char(&o, '\n');
	out_flush(&o);
	abort();
}

#ifdef MMI_DEBUG
/* MMI_ASSERT: an internal invariant broke (a libmm bug, or memory damaged
 * beyond what the checks name).  No lock is released: this is a bug
 * report, not a recoverable error. */
void mmi_assert_fail(const char *what, const char *file, int line)
{
	struct out o = { .fd = 2 };

	out_str(&o, "libmm: assertion failed: ");
	out_str(&o, what);
	out_str(&o, " at ");
	out_str(&o, file);
	out_char(&o, ':');
	out_dec(&o, (size_t)line);
	out_char(&o, '\n');
	out_flush(&o);
	abort();
}
#endif

/* The heap h is damaged at addr, found while its lock was held: release
 * the lock first, so that a SIGABRT handler that allocates (a logger,
 * backtrace_symbols) can still run, then report and abort. */
void mmi_corrupt_locked(struct mm_heap *h, const void *addr)
{
	mmi_unlock(h);
	mmi_heaps_unlock_if_held();
	mmi_fatal("heap corruption at", addr);
}

/* 1 when the free-looking block b of arena r really is a free block in
 * the index: footer, neighbours and list links agree.  A header forged by
 * an overflow fails this and is reported as corruption, not double free. */
MMI_NO_ASAN static int genuinely_free(struct mm_heap *h, struct mmi_region *r, struct mmi_block *b)
{
	size_t size = mmi_bsize(b);
	struct mmi_block *next;

	if (size < MMI_MIN_BLOCK || size > (uintptr_t)mmi_end_marker(r) - (uintptr_t)b)
		return 0;
	next = mmi_after(b);
	if (((size_t *)next)[-1] != size || !(next->head & MMI_PREV_FREE))
		return 0;
	return mmi_fit_of(h)->linked(h, b);
}

/*
 * p passed the region lookup but is not an in-use block start of region r:
 * what is it?  Walks r; this is the slow path of a program that is about
 * to die, so thoroughness beats speed.  The caller holds h's lock (or the
 * region cannot change under it: a large block).
 */
MMI_NO_ASAN const char *mmi_diagnose_block(struct mm_heap *h, struct mmi_region *r, const void *p)
{
	uintptr_t a = (uintptr_t)p;
	uintptr_t limit = r->kind == MMI_REGION_LARGE ? r->end : (uintptr_t)mmi_end_marker(r);
	struct mmi_block *b = r->first;

	if (a < (uintptr_t)b + MMI_HDR)
		return "invalid pointer";
	while ((uintptr_t)b < limit) {
		size_t size = mmi_bsize(b);

		if (size < MMI_MIN_BLOCK || size > limit - (uintptr_t)b)
			return "heap corruption at";
		if (a == (uintptr_t)mmi_payload(b)) {
			if ((b->head & MMI_FREE) && genuinely_free(h, r, b))
				return "double free";
			return "heap corruption at";
		}
		if (a > (uintptr_t)b && a < (uintptr_t)b + size) {
			struct mmi_block *stale = mmi_block_of(p);
			if ((b->head & MMI_FREE) && stale->cookie == mmi_merged_cookie(h, stale))
				return "double free";
			return "pointer into the middle of a block";
		}
		b = mmi_after(b);
	}
	return "invalid pointer";
}

const char *mmi_misuse_by(const char *what, enum mmi_op op)
{
	if (strcmp(what, "double free") != 0)
		return what;
	switch (op) {
	case MMI_OP_REALLOC:
		return "realloc of a freed block";
	case MMI_OP_SIZE:
		return "usable size of a freed block";
	default:
		return what;
	}
}

void mmi_die_bad_block(struct mm_heap *h, struct mmi_region *r, const void *p, int locked,
	enum mmi_op op)
{
	const char *what = mmi_misuse_by(mmi_diagnose_block(h, r, p), op);

	if (locked)
		mmi_unlock(h);
	mmi_fatal(what, p);
}
